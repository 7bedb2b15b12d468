//! Write clauses: `CREATE`, `MERGE`, `SET`, `REMOVE`, `DELETE`.
//!
//! Deleted nodes are tombstoned until the statement ends, so `MATCH (n)-[r]-() DELETE n, r`
//! works whichever order the rows come in; a node that still has relationships when the
//! statement ends fails it (`DeleteConnectedNode`) and the journal rolls everything back.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_cypher::ast::{Direction, Expr, Merge, NodePattern, PatternPart, RemoveItem, SetItem};

use super::env::Env;
use super::matcher::new_variables;
use super::{Exec, Table};
use crate::error::{GraphError, Result};
use crate::value::{NodeId, Path, RelId, Value};

fn storable(key: &str, v: Value) -> Result<Value> {
    if v.is_storable() {
        Ok(v)
    } else {
        Err(GraphError::type_error("InvalidPropertyType", format!("property `{key}` cannot hold a {}", v.type_name())))
    }
}

impl Exec<'_> {
    fn eval_props(&self, props: Option<&Expr>, env: &Env<'_>) -> Result<BTreeMap<String, Value>> {
        let Some(props) = props else { return Ok(BTreeMap::new()) };
        match self.eval(props, env)? {
            Value::Map(m) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    if !v.is_null() {
                        let v = storable(&k, v)?;
                        out.insert(k, v);
                    }
                }
                Ok(out)
            }
            Value::Null => Ok(BTreeMap::new()),
            other => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("properties must be a map, got {}", other.type_name()),
            )),
        }
    }

    fn create_node(&mut self, n: &NodePattern, env: &Env<'_>) -> Result<NodeId> {
        let props = self.eval_props(n.props.as_ref(), env)?;
        self.stats.nodes_created += 1;
        self.stats.labels_added += n.labels.len() as u64;
        self.stats.properties_set += props.len() as u64;
        let labels = n.labels.clone();
        let mut journal = std::mem::take(&mut self.journal);
        let id = self.graph_mut("CREATE").map(|g| g.create_node(&mut journal, labels, props));
        self.journal = journal;
        id
    }

    /// Creates the parts for one row; returns the values of `new_vars`.
    fn create_row(
        &mut self,
        parts: &[PatternPart],
        names: &[String],
        row: &[Value],
        new_vars: &[String],
    ) -> Result<Vec<Value>> {
        let mut made: HashMap<String, Value> = HashMap::new();
        for part in parts {
            let lookup = |made: &HashMap<String, Value>, v: &str| -> Option<Value> {
                made.get(v).cloned().or_else(|| names.iter().rposition(|n| n == v).map(|i| row[i].clone()))
            };
            let node_for = |exec: &mut Self, made: &mut HashMap<String, Value>, n: &NodePattern| -> Result<NodeId> {
                if let Some(v) = &n.var
                    && let Some(value) = lookup(made, v)
                {
                    return match value {
                        Value::Node(id) => Ok(id),
                        other => Err(GraphError::type_error(
                            "InvalidArgumentType",
                            format!("`{v}` is {}, not a node", other.type_name()),
                        )),
                    };
                }
                let values: Vec<Value> = new_vars.iter().map(|v| made.get(v).cloned().unwrap_or(Value::Null)).collect();
                let base = Env::new(names, row);
                let env = base.child(new_vars, &values);
                let id = exec.create_node(n, &env)?;
                if let Some(v) = &n.var {
                    made.insert(v.clone(), Value::Node(id));
                }
                Ok(id)
            };
            let mut at = node_for(self, &mut made, &part.element.start)?;
            let (mut nodes, mut rels) = (vec![at], Vec::new());
            for (rel, node) in &part.element.chain {
                let next = node_for(self, &mut made, node)?;
                let values: Vec<Value> = new_vars.iter().map(|v| made.get(v).cloned().unwrap_or(Value::Null)).collect();
                let base = Env::new(names, row);
                let env = base.child(new_vars, &values);
                let props = self.eval_props(rel.props.as_ref(), &env)?;
                let kind = rel.types.first().cloned().unwrap_or_default();
                let (src, dst) = if rel.direction == Direction::Left { (next, at) } else { (at, next) };
                self.stats.relationships_created += 1;
                self.stats.properties_set += props.len() as u64;
                let mut journal = std::mem::take(&mut self.journal);
                let r = self.graph_mut("CREATE").map(|g| g.create_rel(&mut journal, src, &kind, dst, props));
                self.journal = journal;
                let r = r?;
                if let Some(v) = &rel.var {
                    made.insert(v.clone(), Value::Rel(r));
                }
                nodes.push(next);
                rels.push(r);
                at = next;
            }
            if let Some(v) = &part.var {
                made.insert(v.clone(), Value::Path(Box::new(Path { nodes, rels })));
            }
        }
        Ok(new_vars.iter().map(|v| made.remove(v).unwrap_or(Value::Null)).collect())
    }

    pub(crate) fn create(&mut self, parts: &[PatternPart], table: Table) -> Result<Table> {
        let known: HashSet<&str> = table.names.iter().map(String::as_str).collect();
        let new_vars = new_variables(parts, &|v| known.contains(v));
        let mut names = table.names.clone();
        names.extend(new_vars.iter().cloned());
        let mut rows = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            let values = self.create_row(parts, &table.names, row, &new_vars)?;
            let mut r = row.clone();
            r.extend(values);
            rows.push(r);
        }
        Ok(Table { names, rows })
    }

    pub(crate) fn merge(&mut self, m: &Merge, table: Table) -> Result<Table> {
        let parts = std::slice::from_ref(&m.part);
        let null_props = |exec: &Self, props: &Option<Expr>, names: &[String], row: &[Value]| -> Result<bool> {
            let Some(Expr::Map(items)) = props else { return Ok(false) };
            let env = Env::new(names, row);
            for (_, e) in items {
                if exec.eval(e, &env)?.is_null() {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let known: HashSet<&str> = table.names.iter().map(String::as_str).collect();
        let new_vars = new_variables(parts, &|v| known.contains(v));
        let mut names = table.names.clone();
        names.extend(new_vars.iter().cloned());
        let mut rows = Vec::new();
        for row in &table.rows {
            let element = &m.part.element;
            let nodes = std::iter::once(&element.start).chain(element.chain.iter().map(|(_, n)| n));
            for props in nodes.map(|n| &n.props).chain(element.chain.iter().map(|(r, _)| &r.props)) {
                if null_props(self, props, &table.names, row)? {
                    return Err(GraphError::Semantic {
                        code: "MergeReadOwnWrites",
                        message: "MERGE cannot match or create a property whose value is null".into(),
                    });
                }
            }
            let mut found: Vec<Vec<Value>> = Vec::new();
            {
                let env = Env::new(&table.names, row);
                let mut emit = |values: &[Value]| {
                    found.push(values.to_vec());
                    Ok(true)
                };
                self.match_parts(parts, &env, new_vars.clone(), None, &mut emit)?;
            }
            let (created, matches) = if found.is_empty() {
                (true, vec![self.create_row(parts, &table.names, row, &new_vars)?])
            } else {
                (false, found)
            };
            for values in matches {
                let mut r = row.clone();
                r.extend(values);
                for action in m.actions.iter().filter(|a| a.on_create == created) {
                    self.set_row(&action.items, &names, &r)?;
                }
                rows.push(r);
            }
        }
        Ok(Table { names, rows })
    }

    pub(crate) fn set(&mut self, items: &[SetItem], table: Table) -> Result<Table> {
        for row in &table.rows {
            self.set_row(items, &table.names, row)?;
        }
        Ok(table)
    }

    fn set_prop(&mut self, target: &Value, key: &str, value: Value) -> Result<()> {
        let value = storable(key, value)?;
        let mut journal = std::mem::take(&mut self.journal);
        let result = match target {
            Value::Null => Ok(()),
            Value::Node(id) => {
                let id = *id;
                self.node_data(id)?;
                self.graph_mut("SET").map(|g| {
                    g.set_node_prop(&mut journal, id, key, value);
                })
            }
            Value::Rel(id) => {
                let id = *id;
                self.rel_data(id)?;
                self.graph_mut("SET").map(|g| g.set_rel_prop(&mut journal, id, key, value))
            }
            other => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("cannot set a property on {}", other.type_name()),
            )),
        };
        self.journal = journal;
        self.stats.properties_set += u64::from(result.is_ok() && !target.is_null());
        result
    }

    fn props_of(&self, v: &Value) -> Result<Option<BTreeMap<String, Value>>> {
        Ok(match v {
            Value::Null => None,
            Value::Map(m) => Some(m.clone()),
            Value::Node(id) => Some(self.node_data(*id)?.props.clone()),
            Value::Rel(id) => Some(self.rel_data(*id)?.props.clone()),
            other => {
                return Err(GraphError::type_error(
                    "InvalidArgumentType",
                    format!("expected a map of properties, got {}", other.type_name()),
                ));
            }
        })
    }

    fn set_row(&mut self, items: &[SetItem], names: &[String], row: &[Value]) -> Result<()> {
        for item in items {
            let env = Env::new(names, row);
            match item {
                SetItem::Property { target, key, value } => {
                    let t = self.eval(target, &env)?;
                    let v = self.eval(value, &env)?;
                    self.set_prop(&t, key, v)?;
                }
                SetItem::Properties { var, value, merge } => {
                    let target = env.get(var).cloned().unwrap_or(Value::Null);
                    let new = self.eval(value, &env)?;
                    let Some(new) = self.props_of(&new)? else {
                        if !*merge {
                            // `SET n = null` is not allowed; treat as clearing nothing.
                            continue;
                        }
                        continue;
                    };
                    if target.is_null() {
                        continue;
                    }
                    if !*merge {
                        let old = self.props_of(&target)?.unwrap_or_default();
                        for k in old.keys().filter(|k| !new.contains_key(*k)) {
                            self.set_prop(&target, k, Value::Null)?;
                        }
                    }
                    for (k, v) in new {
                        self.set_prop(&target, &k, v)?;
                    }
                }
                SetItem::Labels { var, labels } => {
                    let target = env.get(var).cloned().unwrap_or(Value::Null);
                    self.labels(&target, labels, true)?;
                }
            }
        }
        Ok(())
    }

    fn labels(&mut self, target: &Value, labels: &[String], add: bool) -> Result<()> {
        let id = match target {
            Value::Null => return Ok(()),
            Value::Node(id) => *id,
            other => {
                return Err(GraphError::type_error(
                    "InvalidArgumentType",
                    format!("labels belong to nodes, not {}", other.type_name()),
                ));
            }
        };
        let had = self.node_data(id)?.labels.clone();
        let mut journal = std::mem::take(&mut self.journal);
        let g = self.graph_mut(if add { "SET" } else { "REMOVE" });
        let result = g.map(|g| {
            let mut n = 0;
            for l in labels {
                let present = had.iter().any(|h| h == l);
                if add && !present {
                    g.add_label(&mut journal, id, l);
                    n += 1;
                } else if !add && present {
                    g.remove_label(&mut journal, id, l);
                    n += 1;
                }
            }
            n
        });
        self.journal = journal;
        let n = result?;
        if add {
            self.stats.labels_added += n;
        } else {
            self.stats.labels_removed += n;
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, items: &[RemoveItem], table: Table) -> Result<Table> {
        for row in &table.rows {
            let env = Env::new(&table.names, row);
            for item in items {
                match item {
                    RemoveItem::Property { target, key } => {
                        let t = self.eval(target, &env)?;
                        let has = match &t {
                            Value::Node(id) => self.node_data(*id)?.props.contains_key(key),
                            Value::Rel(id) => self.rel_data(*id)?.props.contains_key(key),
                            _ => false,
                        };
                        if has {
                            self.set_prop(&t, key, Value::Null)?;
                        }
                    }
                    RemoveItem::Labels { var, labels } => {
                        let target = env.get(var).cloned().unwrap_or(Value::Null);
                        self.labels(&target, labels, false)?;
                    }
                }
            }
        }
        Ok(table)
    }

    pub(crate) fn delete(&mut self, detach: bool, exprs: &[Expr], table: Table) -> Result<Table> {
        for row in &table.rows {
            for e in exprs {
                let v = self.eval(e, &Env::new(&table.names, row))?;
                self.delete_value(v, detach)?;
            }
        }
        Ok(table)
    }

    fn delete_value(&mut self, v: Value, detach: bool) -> Result<()> {
        match v {
            Value::Null => Ok(()),
            Value::Rel(id) => self.delete_rel(id),
            Value::Node(id) => {
                if self.is_deleted_node(id) || self.graph().node(id).is_none() {
                    return Ok(());
                }
                if detach {
                    let rels: Vec<RelId> = self
                        .graph()
                        .neighbours(id, true, true)
                        .map(|(r, _)| r)
                        .filter(|r| !self.is_deleted_rel(*r))
                        .collect();
                    for r in rels {
                        self.delete_rel(r)?;
                    }
                }
                self.graph_mut("DELETE")?;
                self.deleted_nodes.insert(id);
                Ok(())
            }
            Value::Path(p) => {
                for r in p.rels {
                    self.delete_rel(r)?;
                }
                for n in p.nodes {
                    self.delete_value(Value::Node(n), detach)?;
                }
                Ok(())
            }
            Value::List(items) => {
                for item in items {
                    self.delete_value(item, detach)?;
                }
                Ok(())
            }
            other => Err(GraphError::type_error("InvalidArgumentType", format!("cannot delete {}", other.type_name()))),
        }
    }

    fn delete_rel(&mut self, id: RelId) -> Result<()> {
        if self.graph().rel(id).is_none() || self.is_deleted_rel(id) {
            return Ok(());
        }
        self.graph_mut("DELETE")?;
        self.deleted_rels.insert(id);
        Ok(())
    }

    /// Removes tombstoned relationships and nodes at the end of a statement.
    pub(crate) fn finish_deletes(&mut self) -> Result<()> {
        let mut pending: Vec<NodeId> = self.deleted_nodes.iter().copied().collect();
        pending.sort();
        for id in &pending {
            if self.graph().neighbours(*id, true, true).any(|(r, _)| !self.is_deleted_rel(r)) {
                return Err(GraphError::DeleteConnectedNode { node: id.0 });
            }
        }
        let mut rels: Vec<RelId> = self.deleted_rels.drain().collect();
        rels.sort();
        self.stats.relationships_deleted += rels.len() as u64;
        let mut journal = std::mem::take(&mut self.journal);
        if let Ok(g) = self.graph_mut("DELETE") {
            for id in &rels {
                g.delete_rel(&mut journal, *id);
            }
            for id in &pending {
                g.delete_node(&mut journal, *id);
            }
        }
        self.journal = journal;
        self.stats.nodes_deleted += pending.len() as u64;
        self.deleted_nodes.clear();
        Ok(())
    }
}
