//! Pattern matching: depth-first expansion along adjacency lists, with
//! relationship uniqueness across the whole `MATCH` (openCypher's *trail* semantics:
//! no relationship is used twice in one match, nodes may repeat).

use std::collections::{HashMap, VecDeque};

use cairn_cypher::ast::{Direction, Expr, NodePattern, PathKind, PatternElement, PatternPart, RelPattern};

use super::Exec;
use super::env::Env;
use super::eval::truth;
use crate::error::{GraphError, Result};
use crate::value::{NodeId, Path, RelId, Value, equals};

/// Receives each complete match (the values of the new variables); returns `false` to stop.
pub(crate) type Emit<'e> = dyn FnMut(&[Value]) -> Result<bool> + 'e;

struct Ctx<'a, 'e> {
    parts: &'a [PatternPart],
    outer: &'a Env<'a>,
    filter: Option<&'a Expr>,
    names: Vec<String>,
    values: Vec<Value>,
    bound: Vec<bool>,
    used: Vec<RelId>,
    paths: Vec<(Vec<NodeId>, Vec<RelId>)>,
    emit: &'a mut Emit<'e>,
    stop: bool,
}

enum Bind {
    Fresh,
    Same,
    Conflict,
}

impl Ctx<'_, '_> {
    fn slot(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        match self.slot(name) {
            Some(i) if self.bound[i] => Some(self.values[i].clone()),
            Some(_) => None,
            None => self.outer.get(name).cloned(),
        }
    }

    fn bind(&mut self, name: &str, value: Value) -> Bind {
        match self.slot(name) {
            Some(i) if self.bound[i] => {
                if equals(&self.values[i], &value) == Some(true) {
                    Bind::Same
                } else {
                    Bind::Conflict
                }
            }
            Some(i) => {
                self.values[i] = value;
                self.bound[i] = true;
                Bind::Fresh
            }
            None => match self.outer.get(name) {
                Some(v) if equals(v, &value) == Some(true) => Bind::Same,
                _ => Bind::Conflict,
            },
        }
    }

    fn unbind(&mut self, name: &str) {
        if let Some(i) = self.slot(name) {
            self.bound[i] = false;
            self.values[i] = Value::Null;
        }
    }
}

fn flip(d: Direction) -> Direction {
    match d {
        Direction::Left => Direction::Right,
        Direction::Right => Direction::Left,
        Direction::Both => Direction::Both,
    }
}

fn reversed(e: &PatternElement) -> PatternElement {
    let mut nodes: Vec<NodePattern> =
        std::iter::once(e.start.clone()).chain(e.chain.iter().map(|(_, n)| n.clone())).collect();
    let mut rels: Vec<RelPattern> = e.chain.iter().map(|(r, _)| r.clone()).collect();
    nodes.reverse();
    rels.reverse();
    let mut it = nodes.into_iter();
    let start = it.next().unwrap_or_default();
    let chain = rels
        .into_iter()
        .map(|mut r| {
            r.direction = flip(r.direction);
            r
        })
        .zip(it)
        .collect();
    PatternElement { start, chain }
}

fn directions(d: Direction) -> (bool, bool) {
    match d {
        Direction::Right => (true, false),
        Direction::Left => (false, true),
        Direction::Both => (true, true),
    }
}

/// Variables a pattern introduces, in order, that `known` does not already hold.
pub(crate) fn new_variables(parts: &[PatternPart], known: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &Option<String>| {
        if let Some(v) = v
            && !known(v)
            && !out.contains(v)
        {
            out.push(v.clone());
        }
    };
    for part in parts {
        add(&part.element.start.var);
        for (rel, node) in &part.element.chain {
            add(&rel.var);
            add(&node.var);
        }
        add(&part.var);
    }
    out
}

impl Exec<'_> {
    /// Matches `parts` under `outer`, binding `new_vars`, and calls `emit` for each match
    /// that passes `filter`.
    pub(crate) fn match_parts(
        &self,
        parts: &[PatternPart],
        outer: &Env<'_>,
        new_vars: Vec<String>,
        filter: Option<&Expr>,
        emit: &mut Emit<'_>,
    ) -> Result<()> {
        let n = new_vars.len();
        let mut ctx = Ctx {
            parts,
            outer,
            filter,
            names: new_vars,
            values: vec![Value::Null; n],
            bound: vec![false; n],
            used: Vec::new(),
            paths: vec![(Vec::new(), Vec::new()); parts.len()],
            emit,
            stop: false,
        };
        self.start_part(&mut ctx, 0)
    }

    /// Whether any match exists (pattern predicates and `EXISTS`).
    pub(crate) fn match_exists(&self, parts: &[PatternPart], filter: Option<&Expr>, env: &Env<'_>) -> Result<bool> {
        let vars = new_variables(parts, &|v| env.get(v).is_some());
        let mut found = false;
        let mut emit = |_: &[Value]| {
            found = true;
            Ok(false)
        };
        self.match_parts(parts, env, vars, filter, &mut emit)?;
        Ok(found)
    }

    pub(crate) fn pattern_exists(
        &self,
        element: &PatternElement,
        filter: Option<&Expr>,
        env: &Env<'_>,
    ) -> Result<bool> {
        let part = PatternPart { var: None, kind: PathKind::All, element: element.clone() };
        self.match_exists(std::slice::from_ref(&part), filter, env)
    }

    pub(crate) fn pattern_comprehension(
        &self,
        var: Option<&str>,
        element: &PatternElement,
        filter: Option<&Expr>,
        map: &Expr,
        env: &Env<'_>,
    ) -> Result<Value> {
        let part = PatternPart { var: var.map(str::to_owned), kind: PathKind::All, element: element.clone() };
        let parts = std::slice::from_ref(&part);
        let vars = new_variables(parts, &|v| env.get(v).is_some());
        let mut out = Vec::new();
        let mut err = None;
        {
            let names = vars.clone();
            let mut emit = |values: &[Value]| {
                match self.eval(map, &env.child(&names, values)) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        err = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            self.match_parts(parts, env, vars, filter, &mut emit)?;
        }
        match err {
            Some(e) => Err(e),
            None => Ok(Value::List(out)),
        }
    }

    pub(crate) fn shortest_expr(&self, part: &PatternPart, env: &Env<'_>) -> Result<Value> {
        let mut part = part.clone();
        part.var = Some("  path".into());
        let parts = std::slice::from_ref(&part);
        let vars = new_variables(parts, &|v| env.get(v).is_some());
        let slot = vars.iter().position(|v| v == "  path");
        let mut found = Vec::new();
        let mut emit = |values: &[Value]| {
            if let Some(i) = slot {
                found.push(values[i].clone());
            }
            Ok(part.kind == PathKind::AllShortest)
        };
        self.match_parts(parts, env, vars, None, &mut emit)?;
        Ok(match part.kind {
            PathKind::AllShortest => Value::List(found),
            PathKind::All | PathKind::Shortest => found.into_iter().next().unwrap_or(Value::Null),
        })
    }

    fn start_part(&self, ctx: &mut Ctx<'_, '_>, i: usize) -> Result<()> {
        if ctx.stop {
            return Ok(());
        }
        if i == ctx.parts.len() {
            if let Some(f) = ctx.filter {
                let env = ctx.outer.child(&ctx.names, &ctx.values);
                if truth(&self.eval(f, &env)?)? != Some(true) {
                    return Ok(());
                }
            }
            if !(ctx.emit)(&ctx.values)? {
                ctx.stop = true;
            }
            return Ok(());
        }
        let part = &ctx.parts[i];
        if part.kind != PathKind::All {
            return self.shortest(ctx, i);
        }
        // Start from the better-anchored end.
        let score = |ctx: &Ctx<'_, '_>, n: &NodePattern| {
            let bound = n.var.as_deref().is_some_and(|v| matches!(ctx.lookup(v), Some(Value::Node(_))));
            u8::from(bound) * 4 + u8::from(n.props.is_some()) * 2 + u8::from(!n.labels.is_empty())
        };
        let last = part.element.chain.last().map(|(_, n)| n);
        let flip = last.is_some_and(|l| score(ctx, l) > score(ctx, &part.element.start));
        let element = if flip { reversed(&part.element) } else { part.element.clone() };
        for id in self.candidates(ctx, &element.start)? {
            if ctx.stop {
                break;
            }
            self.tick()?;
            let Some(fresh) = self.node_bind(ctx, &element.start, id)? else { continue };
            ctx.paths[i].0.push(id);
            self.hop(ctx, i, &element, flip, 0, id)?;
            ctx.paths[i].0.pop();
            if fresh && let Some(v) = &element.start.var {
                ctx.unbind(v);
            }
        }
        Ok(())
    }

    /// Candidate start nodes: a bound node, an index hit, a label scan or every node.
    fn candidates(&self, ctx: &Ctx<'_, '_>, n: &NodePattern) -> Result<Vec<NodeId>> {
        if let Some(v) = &n.var
            && let Some(value) = ctx.lookup(v)
        {
            return Ok(match value {
                Value::Node(id) if !self.is_deleted_node(id) => vec![id],
                _ => Vec::new(),
            });
        }
        let g = self.graph();
        if let Some(Expr::Map(items)) = &n.props {
            for label in &n.labels {
                for (key, expr) in items {
                    if g.indexes().any(|(l, k)| l == label && k == key) {
                        let env = ctx.outer.child(&ctx.names, &ctx.values);
                        let value = self.eval(expr, &env)?;
                        if let Some(ids) = g.lookup(label, key, &value) {
                            return Ok(ids);
                        }
                    }
                }
            }
        }
        if let Some(label) = n.labels.iter().min_by_key(|l| g.label_count(l)) {
            return Ok(g.nodes_with_label(label).filter(|id| !self.is_deleted_node(*id)).collect());
        }
        Ok(g.node_ids().filter(|id| !self.is_deleted_node(*id)).collect())
    }

    /// Checks a node against a node pattern and binds its variable. `None` = no match;
    /// `Some(true)` = the variable was freshly bound (unbind it afterwards).
    fn node_bind(&self, ctx: &mut Ctx<'_, '_>, n: &NodePattern, id: NodeId) -> Result<Option<bool>> {
        if self.is_deleted_node(id) {
            return Ok(None);
        }
        let Some(data) = self.graph().node(id) else { return Ok(None) };
        if !n.labels.iter().all(|l| data.labels.binary_search(l).is_ok()) {
            return Ok(None);
        }
        if let Some(props) = &n.props
            && !self.props_match(ctx, props, &data.props)?
        {
            return Ok(None);
        }
        Ok(match &n.var {
            None => Some(false),
            Some(v) => match ctx.bind(v, Value::Node(id)) {
                Bind::Fresh => Some(true),
                Bind::Same => Some(false),
                Bind::Conflict => None,
            },
        })
    }

    fn props_match(
        &self,
        ctx: &Ctx<'_, '_>,
        props: &Expr,
        have: &std::collections::BTreeMap<String, Value>,
    ) -> Result<bool> {
        let env = ctx.outer.child(&ctx.names, &ctx.values);
        let want = match props {
            Expr::Map(items) => {
                for (k, e) in items {
                    let v = self.eval(e, &env)?;
                    if equals(have.get(k).unwrap_or(&Value::Null), &v) != Some(true) {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            other => self.eval(other, &env)?,
        };
        match want {
            Value::Map(m) => Ok(m.iter().all(|(k, v)| equals(have.get(k).unwrap_or(&Value::Null), v) == Some(true))),
            Value::Null => Ok(true),
            other => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("pattern properties must be a map, got {}", other.type_name()),
            )),
        }
    }

    fn rel_ok(&self, ctx: &Ctx<'_, '_>, r: &RelPattern, id: RelId) -> Result<bool> {
        if ctx.used.contains(&id) || self.is_deleted_rel(id) {
            return Ok(false);
        }
        let Some(data) = self.graph().rel(id) else { return Ok(false) };
        if !r.types.is_empty() && !r.types.contains(&data.kind) {
            return Ok(false);
        }
        match &r.props {
            Some(props) => self.props_match(ctx, props, &data.props),
            None => Ok(true),
        }
    }

    fn finish_part(&self, ctx: &mut Ctx<'_, '_>, i: usize, flipped: bool) -> Result<()> {
        let Some(var) = ctx.parts[i].var.clone() else { return self.start_part(ctx, i + 1) };
        let (mut nodes, mut rels) = ctx.paths[i].clone();
        if flipped {
            nodes.reverse();
            rels.reverse();
        }
        match ctx.bind(&var, Value::Path(Box::new(Path { nodes, rels }))) {
            Bind::Conflict => Ok(()),
            Bind::Same => self.start_part(ctx, i + 1),
            Bind::Fresh => {
                self.start_part(ctx, i + 1)?;
                ctx.unbind(&var);
                Ok(())
            }
        }
    }

    fn hop(
        &self,
        ctx: &mut Ctx<'_, '_>,
        i: usize,
        element: &PatternElement,
        flipped: bool,
        h: usize,
        at: NodeId,
    ) -> Result<()> {
        if h == element.chain.len() {
            return self.finish_part(ctx, i, flipped);
        }
        let (rel, next) = &element.chain[h];
        match rel.length {
            None => {
                let (out, inc) = directions(rel.direction);
                let edges: Vec<(RelId, NodeId)> = self.graph().neighbours(at, out, inc).collect();
                for (r, other) in edges {
                    if ctx.stop {
                        break;
                    }
                    self.tick()?;
                    if !self.rel_ok(ctx, rel, r)? {
                        continue;
                    }
                    let rel_fresh = match &rel.var {
                        None => false,
                        Some(v) => match ctx.bind(v, Value::Rel(r)) {
                            Bind::Fresh => true,
                            Bind::Same => false,
                            Bind::Conflict => continue,
                        },
                    };
                    if let Some(fresh) = self.node_bind(ctx, next, other)? {
                        ctx.used.push(r);
                        ctx.paths[i].0.push(other);
                        ctx.paths[i].1.push(r);
                        self.hop(ctx, i, element, flipped, h + 1, other)?;
                        ctx.paths[i].0.pop();
                        ctx.paths[i].1.pop();
                        ctx.used.pop();
                        if fresh && let Some(v) = &next.var {
                            ctx.unbind(v);
                        }
                    }
                    if rel_fresh && let Some(v) = &rel.var {
                        ctx.unbind(v);
                    }
                }
                Ok(())
            }
            Some(len) => {
                let min = len.min.unwrap_or(1);
                let max = len.max.unwrap_or(u64::MAX);
                let mut trail = Vec::new();
                self.var_hop(ctx, VarHop { i, element, flipped, h, min, max }, at, &mut trail)
            }
        }
    }

    fn var_hop(&self, ctx: &mut Ctx<'_, '_>, v: VarHop<'_>, at: NodeId, trail: &mut Vec<RelId>) -> Result<()> {
        let (rel, next) = &v.element.chain[v.h];
        let depth = trail.len() as u64;
        if depth >= v.min && depth <= v.max {
            let list = Value::List(
                (if v.flipped { trail.iter().rev().copied().collect::<Vec<_>>() } else { trail.clone() })
                    .into_iter()
                    .map(Value::Rel)
                    .collect(),
            );
            let rel_fresh = match &rel.var {
                None => Some(false),
                Some(name) => match ctx.bind(name, list) {
                    Bind::Fresh => Some(true),
                    Bind::Same => Some(false),
                    Bind::Conflict => None,
                },
            };
            if let Some(rel_fresh) = rel_fresh {
                if let Some(fresh) = self.node_bind(ctx, next, at)? {
                    self.hop(ctx, v.i, v.element, v.flipped, v.h + 1, at)?;
                    if fresh && let Some(name) = &next.var {
                        ctx.unbind(name);
                    }
                }
                if rel_fresh && let Some(name) = &rel.var {
                    ctx.unbind(name);
                }
            }
        }
        if depth >= v.max || ctx.stop {
            return Ok(());
        }
        let (out, inc) = directions(rel.direction);
        let edges: Vec<(RelId, NodeId)> = self.graph().neighbours(at, out, inc).collect();
        for (r, other) in edges {
            if ctx.stop {
                break;
            }
            self.tick()?;
            if !self.rel_ok(ctx, rel, r)? {
                continue;
            }
            ctx.used.push(r);
            trail.push(r);
            ctx.paths[v.i].0.push(other);
            ctx.paths[v.i].1.push(r);
            let result = self.var_hop(ctx, v, other, trail);
            ctx.paths[v.i].0.pop();
            ctx.paths[v.i].1.pop();
            trail.pop();
            ctx.used.pop();
            result?;
        }
        Ok(())
    }

    /// `shortestPath` / `allShortestPaths` over a single relationship pattern, by
    /// breadth-first search from each candidate start.
    fn shortest(&self, ctx: &mut Ctx<'_, '_>, i: usize) -> Result<()> {
        let part = &ctx.parts[i];
        let all = part.kind == PathKind::AllShortest;
        let [(rel, end)] = part.element.chain.as_slice() else {
            return Err(GraphError::Semantic {
                code: "InvalidShortestPath",
                message: "shortestPath needs exactly one relationship pattern".into(),
            });
        };
        let (rel, end, start) = (rel.clone(), end.clone(), part.element.start.clone());
        let (min, max) = rel.length.map_or((1, 1), |l| (l.min.unwrap_or(1), l.max.unwrap_or(u64::MAX)));
        for s in self.candidates(ctx, &start)? {
            let Some(s_fresh) = self.node_bind(ctx, &start, s)? else { continue };
            let bound_end = end.var.as_deref().and_then(|v| match ctx.lookup(v) {
                Some(Value::Node(id)) => Some(id),
                _ => None,
            });
            let found = match bound_end {
                // One shortest path between two known ends: search from both sides.
                Some(t) if !all && t != s && min <= 1 => {
                    self.bidirectional(ctx, s, t, &rel, max)?.into_iter().collect()
                }
                _ => self.bfs(ctx, s, &rel, bound_end, (min, max), all)?,
            };
            for (nodes, rels) in found {
                if ctx.stop {
                    break;
                }
                let target = nodes[nodes.len() - 1];
                let Some(e_fresh) = self.node_bind(ctx, &end, target)? else { continue };
                let rel_value = if rel.length.is_some() {
                    Value::List(rels.iter().map(|r| Value::Rel(*r)).collect())
                } else {
                    Value::Rel(rels[0])
                };
                let r_fresh = match &rel.var {
                    None => Some(false),
                    Some(v) => match ctx.bind(v, rel_value) {
                        Bind::Fresh => Some(true),
                        Bind::Same => Some(false),
                        Bind::Conflict => None,
                    },
                };
                if let Some(r_fresh) = r_fresh {
                    ctx.paths[i] = (nodes, rels);
                    self.finish_part(ctx, i, false)?;
                    if r_fresh && let Some(v) = &rel.var {
                        ctx.unbind(v);
                    }
                }
                if e_fresh && let Some(v) = &end.var {
                    ctx.unbind(v);
                }
            }
            if s_fresh && let Some(v) = &start.var {
                ctx.unbind(v);
            }
        }
        Ok(())
    }

    /// One shortest path from `s` to `t` (s ≠ t) within `max` hops, by breadth-first
    /// search from both ends, always growing the smaller frontier.
    fn bidirectional(
        &self,
        ctx: &Ctx<'_, '_>,
        s: NodeId,
        t: NodeId,
        rel: &RelPattern,
        max: u64,
    ) -> Result<Option<(Vec<NodeId>, Vec<RelId>)>> {
        let (out, inc) = directions(rel.direction);
        // Each side maps a node to how it was reached and at what depth.
        type Seen = HashMap<NodeId, (Option<(NodeId, RelId)>, u64)>;
        let mut fwd: Seen = HashMap::from([(s, (None, 0))]);
        let mut bwd: Seen = HashMap::from([(t, (None, 0))]);
        let (mut ff, mut bf) = (vec![s], vec![t]);
        let (mut df, mut db) = (0u64, 0u64);
        while !ff.is_empty() && !bf.is_empty() && df + db < max {
            let forward = ff.len() <= bf.len();
            let (frontier, seen, other, d) =
                if forward { (&mut ff, &mut fwd, &bwd, &mut df) } else { (&mut bf, &mut bwd, &fwd, &mut db) };
            *d += 1;
            let mut next = Vec::new();
            // Every meeting point of this level; the shortest total wins.
            let mut best: Option<(u64, NodeId)> = None;
            for &at in frontier.iter() {
                let edges =
                    if forward { self.graph().neighbours(at, out, inc) } else { self.graph().neighbours(at, inc, out) };
                for (r, n) in edges {
                    self.tick()?;
                    if seen.contains_key(&n) || !self.rel_ok(ctx, rel, r)? {
                        continue;
                    }
                    seen.insert(n, (Some((at, r)), *d));
                    if let Some((_, od)) = other.get(&n) {
                        let total = *d + od;
                        if best.is_none_or(|(b, _)| total < b) {
                            best = Some((total, n));
                        }
                    }
                    next.push(n);
                }
            }
            if let Some((_, m)) = best {
                let (mut nodes, mut rels) = (vec![m], Vec::new());
                let mut at = m;
                while let Some((Some((p, r)), _)) = fwd.get(&at) {
                    nodes.push(*p);
                    rels.push(*r);
                    at = *p;
                }
                nodes.reverse();
                rels.reverse();
                let mut at = m;
                while let Some((Some((p, r)), _)) = bwd.get(&at) {
                    nodes.push(*p);
                    rels.push(*r);
                    at = *p;
                }
                return Ok(Some((nodes, rels)));
            }
            *frontier = next;
        }
        Ok(None)
    }

    /// Shortest paths from `s`: to `target` when given, else to every reachable node.
    fn bfs(
        &self,
        ctx: &Ctx<'_, '_>,
        s: NodeId,
        rel: &RelPattern,
        target: Option<NodeId>,
        (min, max): (u64, u64),
        all: bool,
    ) -> Result<Vec<(Vec<NodeId>, Vec<RelId>)>> {
        let (out, inc) = directions(rel.direction);
        let mut dist: HashMap<NodeId, u64> = HashMap::from([(s, 0)]);
        let mut preds: HashMap<NodeId, Vec<(NodeId, RelId)>> = HashMap::new();
        let mut queue = VecDeque::from([s]);
        while let Some(at) = queue.pop_front() {
            let d = dist[&at];
            if d >= max || target.is_some_and(|t| dist.get(&t).is_some_and(|&td| td <= d)) {
                continue;
            }
            for (r, other) in self.graph().neighbours(at, out, inc) {
                self.tick()?;
                if !self.rel_ok(ctx, rel, r)? {
                    continue;
                }
                match dist.get(&other) {
                    None if other != s => {
                        dist.insert(other, d + 1);
                        preds.insert(other, vec![(at, r)]);
                        queue.push_back(other);
                    }
                    Some(&od) if od == d + 1 && all => preds.entry(other).or_default().push((at, r)),
                    _ => {}
                }
            }
        }
        let mut results = Vec::new();
        let targets: Vec<NodeId> = match target {
            Some(t) => vec![t],
            None => {
                let mut t: Vec<NodeId> = dist.keys().copied().collect();
                t.sort();
                t
            }
        };
        for t in targets {
            let Some(&d) = dist.get(&t) else { continue };
            if d < min || (d == 0 && min > 0) {
                continue;
            }
            let mut paths = vec![(vec![t], Vec::new())];
            for _ in 0..d {
                let mut next = Vec::new();
                for (nodes, rels) in paths {
                    let head = nodes[nodes.len() - 1];
                    for (p, r) in preds.get(&head).into_iter().flatten() {
                        let (mut n2, mut r2): (Vec<NodeId>, Vec<RelId>) = (nodes.clone(), rels.clone());
                        n2.push(*p);
                        r2.push(*r);
                        next.push((n2, r2));
                        if !all {
                            break;
                        }
                    }
                }
                paths = next;
            }
            for (mut nodes, mut rels) in paths {
                nodes.reverse();
                rels.reverse();
                results.push((nodes, rels));
            }
        }
        Ok(results)
    }
}

#[derive(Clone, Copy)]
struct VarHop<'a> {
    i: usize,
    element: &'a PatternElement,
    flipped: bool,
    h: usize,
    min: u64,
    max: u64,
}
