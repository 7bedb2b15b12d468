//! Values as the TCK writes them in result tables, and our results converted to them.

use std::collections::{BTreeMap, BTreeSet};

use cairn_graph::Value;
use cairn_graph::graph::Graph;

/// A value without identities: nodes are labels + properties, relationships type +
/// properties, paths their sequence.
#[derive(Debug, Clone)]
pub enum Tv {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Tv>),
    Map(BTreeMap<String, Tv>),
    Node(BTreeSet<String>, BTreeMap<String, Tv>),
    Rel(String, BTreeMap<String, Tv>),
    /// The first node, then (relationship, forward?, node) hops.
    Path(Box<Tv>, Vec<(Tv, bool, Tv)>),
}

impl Tv {
    /// Equality; with `unordered`, lists compare as multisets.
    pub fn same(&self, other: &Tv, unordered: bool) -> bool {
        match (self, other) {
            (Tv::Null, Tv::Null) => true,
            (Tv::Bool(a), Tv::Bool(b)) => a == b,
            (Tv::Int(a), Tv::Int(b)) => a == b,
            (Tv::Float(a), Tv::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Tv::Str(a), Tv::Str(b)) => a == b,
            (Tv::List(a), Tv::List(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                if !unordered {
                    return a.iter().zip(b).all(|(x, y)| x.same(y, unordered));
                }
                bag_equal(a, b, |x, y| x.same(y, unordered))
            }
            (Tv::Map(a), Tv::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && va.same(vb, unordered))
            }
            (Tv::Node(la, pa), Tv::Node(lb, pb)) => la == lb && same_map(pa, pb),
            (Tv::Rel(ta, pa), Tv::Rel(tb, pb)) => ta == tb && same_map(pa, pb),
            (Tv::Path(sa, ha), Tv::Path(sb, hb)) => {
                sa.same(sb, false)
                    && ha.len() == hb.len()
                    && ha
                        .iter()
                        .zip(hb)
                        .all(|((r1, d1, n1), (r2, d2, n2))| d1 == d2 && r1.same(r2, false) && n1.same(n2, false))
            }
            _ => false,
        }
    }
}

fn same_map(a: &BTreeMap<String, Tv>, b: &BTreeMap<String, Tv>) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && va.same(vb, false))
}

/// Multiset equality under `eq`.
pub fn bag_equal<T>(a: &[T], b: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    'outer: for x in a {
        for (i, y) in b.iter().enumerate() {
            if !used[i] && eq(x, y) {
                used[i] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

/// Converts one of our values.
pub fn from_value(g: &Graph, v: &Value) -> Tv {
    match v {
        Value::Null => Tv::Null,
        Value::Bool(b) => Tv::Bool(*b),
        Value::Int(i) => Tv::Int(*i),
        Value::Float(f) => Tv::Float(*f),
        Value::String(s) => Tv::Str(s.clone()),
        Value::List(items) => Tv::List(items.iter().map(|i| from_value(g, i)).collect()),
        Value::Map(m) => Tv::Map(m.iter().map(|(k, v)| (k.clone(), from_value(g, v))).collect()),
        Value::Node(id) => match g.node(*id) {
            Some(n) => Tv::Node(n.labels.iter().cloned().collect(), props(g, &n.props)),
            None => Tv::Node(BTreeSet::new(), BTreeMap::new()),
        },
        Value::Rel(id) => match g.rel(*id) {
            Some(r) => Tv::Rel(r.kind.clone(), props(g, &r.props)),
            None => Tv::Rel(String::new(), BTreeMap::new()),
        },
        Value::Path(p) => {
            let start = from_value(g, &Value::Node(p.nodes[0]));
            let hops = p
                .rels
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let forward = g.rel(*r).is_some_and(|d| d.src == p.nodes[i]);
                    (from_value(g, &Value::Rel(*r)), forward, from_value(g, &Value::Node(p.nodes[i + 1])))
                })
                .collect();
            Tv::Path(Box::new(start), hops)
        }
    }
}

fn props(g: &Graph, m: &BTreeMap<String, Value>) -> BTreeMap<String, Tv> {
    m.iter().map(|(k, v)| (k.clone(), from_value(g, v))).collect()
}

/// Parses a cell.
pub fn parse(text: &str) -> Result<Tv, String> {
    let mut p = P { s: text.as_bytes(), at: 0 };
    let v = p.value()?;
    p.ws();
    if p.at != p.s.len() {
        return Err(format!("trailing text in {text:?}"));
    }
    Ok(v)
}

struct P<'a> {
    s: &'a [u8],
    at: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) { Ok(()) } else { Err(format!("expected '{}' at {}", c as char, self.at)) }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.at;
        while self.at < self.s.len() && (self.s[self.at].is_ascii_alphanumeric() || b"_$".contains(&self.s[self.at])) {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn rest_starts(&mut self, w: &str) -> bool {
        self.ws();
        self.s[self.at..].starts_with(w.as_bytes())
    }

    fn value(&mut self) -> Result<Tv, String> {
        match self.peek() {
            Some(b'[') => {
                // A relationship `[:T …]` or a list.
                let save = self.at;
                self.at += 1;
                if self.peek() == Some(b':') {
                    self.at = save;
                    return self.rel();
                }
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                Ok(Tv::List(items))
            }
            Some(b'{') => Ok(Tv::Map(self.map()?)),
            Some(b'(') => self.node(),
            Some(b'<') => self.path(),
            Some(b'\'') => self.string(),
            Some(_) if self.rest_starts("null") => {
                self.at += 4;
                Ok(Tv::Null)
            }
            Some(_) if self.rest_starts("true") => {
                self.at += 4;
                Ok(Tv::Bool(true))
            }
            Some(_) if self.rest_starts("false") => {
                self.at += 5;
                Ok(Tv::Bool(false))
            }
            Some(_) if self.rest_starts("NaN") => {
                self.at += 3;
                Ok(Tv::Float(f64::NAN))
            }
            Some(_) => self.number(),
            None => Err("empty value".into()),
        }
    }

    fn number(&mut self) -> Result<Tv, String> {
        self.ws();
        let start = self.at;
        while self.at < self.s.len() && (self.s[self.at].is_ascii_alphanumeric() || b"-+.".contains(&self.s[self.at])) {
            self.at += 1;
        }
        let t = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        if t.contains(['.', 'e', 'E']) && !t.starts_with("0x") {
            t.parse::<f64>().map(Tv::Float).map_err(|e| format!("{t}: {e}"))
        } else if t == "Infinity" || t == "-Infinity" {
            Ok(Tv::Float(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }))
        } else {
            t.parse::<i64>().map(Tv::Int).map_err(|e| format!("{t}: {e}"))
        }
    }

    fn string(&mut self) -> Result<Tv, String> {
        self.expect(b'\'')?;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else { return Err("unterminated string".into()) };
            self.at += 1;
            match c {
                b'\\' if matches!(self.s.get(self.at), Some(b'\'') | Some(b'\\')) => {
                    out.push(self.s[self.at]);
                    self.at += 1;
                }
                b'\'' => return Ok(Tv::Str(String::from_utf8_lossy(&out).into_owned())),
                c => out.push(c),
            }
        }
    }

    fn map(&mut self) -> Result<BTreeMap<String, Tv>, String> {
        self.expect(b'{')?;
        let mut m = BTreeMap::new();
        if self.eat(b'}') {
            return Ok(m);
        }
        loop {
            let k = self.word();
            self.expect(b':')?;
            m.insert(k, self.value()?);
            if self.eat(b'}') {
                return Ok(m);
            }
            self.expect(b',')?;
        }
    }

    fn node(&mut self) -> Result<Tv, String> {
        self.expect(b'(')?;
        let mut labels = BTreeSet::new();
        while self.eat(b':') {
            labels.insert(self.word());
        }
        let props = if self.peek() == Some(b'{') { self.map()? } else { BTreeMap::new() };
        self.expect(b')')?;
        Ok(Tv::Node(labels, props))
    }

    fn rel(&mut self) -> Result<Tv, String> {
        self.expect(b'[')?;
        self.expect(b':')?;
        let t = self.word();
        let props = if self.peek() == Some(b'{') { self.map()? } else { BTreeMap::new() };
        self.expect(b']')?;
        Ok(Tv::Rel(t, props))
    }

    fn path(&mut self) -> Result<Tv, String> {
        self.expect(b'<')?;
        let start = self.node()?;
        let mut hops = Vec::new();
        loop {
            if self.eat(b'>') {
                return Ok(Tv::Path(Box::new(start), hops));
            }
            let backward = self.eat(b'<');
            self.expect(b'-')?;
            let rel = self.rel()?;
            self.expect(b'-')?;
            let forward = !backward && self.eat(b'>');
            let node = self.node()?;
            hops.push((rel, forward, node));
        }
    }
}
