//! The in-memory property graph: nodes with labels and properties, typed directed
//! relationships with properties, adjacency lists in both directions, a label index and
//! optional (label, property) indexes.
//!
//! Every mutation goes through methods that append to a [`Journal`], so a failed query
//! rolls back exactly what it did and a successful one knows which entities to persist.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::value::{Key, NodeId, RelId, Value};

/// A node's data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeData {
    /// Labels, sorted, without duplicates.
    pub labels: Vec<String>,
    /// Properties (never null-valued).
    pub props: BTreeMap<String, Value>,
    /// Outgoing relationships.
    pub out: Vec<RelId>,
    /// Incoming relationships.
    pub inc: Vec<RelId>,
}

/// A relationship's data.
#[derive(Debug, Clone, PartialEq)]
pub struct RelData {
    /// Its type.
    pub kind: String,
    /// Start node.
    pub src: NodeId,
    /// End node.
    pub dst: NodeId,
    /// Properties (never null-valued).
    pub props: BTreeMap<String, Value>,
}

/// One undoable change.
#[derive(Debug, Clone)]
pub enum Change {
    /// A node was created.
    CreatedNode(NodeId),
    /// A relationship was created.
    CreatedRel(RelId),
    /// A node was removed (its data as it was).
    DeletedNode(NodeId, NodeData),
    /// A relationship was removed.
    DeletedRel(RelId, RelData),
    /// A node property changed (old value).
    NodeProp(NodeId, String, Option<Value>),
    /// A relationship property changed (old value).
    RelProp(RelId, String, Option<Value>),
    /// A label was added.
    AddedLabel(NodeId, String),
    /// A label was removed.
    RemovedLabel(NodeId, String),
}

/// The changes of one query, in order.
#[derive(Debug, Default)]
pub struct Journal {
    /// The changes.
    pub changes: Vec<Change>,
}

impl Journal {
    /// The nodes and relationships touched, for persistence.
    pub fn touched(&self) -> (BTreeSet<NodeId>, BTreeSet<RelId>) {
        let (mut nodes, mut rels) = (BTreeSet::new(), BTreeSet::new());
        for c in &self.changes {
            match c {
                Change::CreatedNode(n)
                | Change::DeletedNode(n, _)
                | Change::NodeProp(n, ..)
                | Change::AddedLabel(n, _)
                | Change::RemovedLabel(n, _) => {
                    nodes.insert(*n);
                }
                Change::CreatedRel(r) | Change::DeletedRel(r, _) | Change::RelProp(r, ..) => {
                    rels.insert(*r);
                }
            }
        }
        (nodes, rels)
    }
}

/// What the graph holds, for `cairn graph schema`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Schema {
    /// Node labels.
    pub labels: BTreeMap<String, SchemaEntry>,
    /// Relationship types.
    pub relationships: BTreeMap<String, SchemaEntry>,
    /// (label, property) indexes.
    pub indexes: Vec<(String, String)>,
}

/// One label or relationship type.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SchemaEntry {
    /// How many.
    pub count: usize,
    /// Property keys seen.
    pub keys: BTreeSet<String>,
}

/// The graph.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    nodes: Vec<Option<NodeData>>,
    rels: Vec<Option<RelData>>,
    by_label: HashMap<String, BTreeSet<NodeId>>,
    indexes: HashMap<(String, String), HashMap<Key, BTreeSet<NodeId>>>,
    live_nodes: usize,
    live_rels: usize,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// Live nodes.
    pub fn node_count(&self) -> usize {
        self.live_nodes
    }

    /// Live relationships.
    pub fn rel_count(&self) -> usize {
        self.live_rels
    }

    /// A node's data, if it exists.
    pub fn node(&self, id: NodeId) -> Option<&NodeData> {
        self.nodes.get(id.0 as usize)?.as_ref()
    }

    /// A relationship's data, if it exists.
    pub fn rel(&self, id: RelId) -> Option<&RelData> {
        self.rels.get(id.0 as usize)?.as_ref()
    }

    /// Every live node id, ascending.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().enumerate().filter(|(_, n)| n.is_some()).map(|(i, _)| NodeId(i as u64))
    }

    /// Every live relationship id, ascending.
    pub fn rel_ids(&self) -> impl Iterator<Item = RelId> + '_ {
        self.rels.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(i, _)| RelId(i as u64))
    }

    /// Nodes with a label.
    pub fn nodes_with_label(&self, label: &str) -> impl Iterator<Item = NodeId> + '_ {
        self.by_label.get(label).into_iter().flat_map(|s| s.iter().copied())
    }

    /// How many nodes carry a label.
    pub fn label_count(&self, label: &str) -> usize {
        self.by_label.get(label).map_or(0, BTreeSet::len)
    }

    /// Distinct labels in use.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.by_label.iter().filter(|(_, s)| !s.is_empty()).map(|(l, _)| l.as_str())
    }

    /// Declared (label, property) indexes.
    pub fn indexes(&self) -> impl Iterator<Item = &(String, String)> {
        self.indexes.keys()
    }

    /// Nodes whose `key` property equals `value` under an index on (label, key), or
    /// `None` when no such index exists.
    pub fn lookup(&self, label: &str, key: &str, value: &Value) -> Option<Vec<NodeId>> {
        let index = self.indexes.get(&(label.to_owned(), key.to_owned()))?;
        Some(index.get(&Key(value.clone())).map(|s| s.iter().copied().collect()).unwrap_or_default())
    }

    /// Declares an index on (label, key) and fills it.
    pub fn create_index(&mut self, label: &str, key: &str) {
        let mut index: HashMap<Key, BTreeSet<NodeId>> = HashMap::new();
        for id in self.nodes_with_label(label) {
            if let Some(v) = self.node(id).and_then(|n| n.props.get(key)) {
                index.entry(Key(v.clone())).or_default().insert(id);
            }
        }
        self.indexes.insert((label.to_owned(), key.to_owned()), index);
    }

    fn index_update(&mut self, id: NodeId, labels: &[String], key: &str, old: Option<&Value>, new: Option<&Value>) {
        for label in labels {
            if let Some(index) = self.indexes.get_mut(&(label.clone(), key.to_owned())) {
                if let Some(old) = old
                    && let Some(set) = index.get_mut(&Key(old.clone()))
                {
                    set.remove(&id);
                }
                if let Some(new) = new {
                    index.entry(Key(new.clone())).or_default().insert(id);
                }
            }
        }
    }

    // ---- mutations (journaled) --------------------------------------------------------

    /// Creates a node.
    pub fn create_node(&mut self, j: &mut Journal, labels: Vec<String>, props: BTreeMap<String, Value>) -> NodeId {
        let id = NodeId(self.nodes.len() as u64);
        self.insert_node(id, NodeData { labels: Vec::new(), props: BTreeMap::new(), out: Vec::new(), inc: Vec::new() });
        j.changes.push(Change::CreatedNode(id));
        for l in labels {
            self.add_label(j, id, &l);
        }
        for (k, v) in props {
            self.set_node_prop(j, id, &k, v);
        }
        id
    }

    /// Places a node at `id` (loading and undo).
    pub(crate) fn insert_node(&mut self, id: NodeId, data: NodeData) {
        let i = id.0 as usize;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, None);
        }
        for l in &data.labels {
            self.by_label.entry(l.clone()).or_default().insert(id);
        }
        let labels = data.labels.clone();
        let props: Vec<(String, Value)> = data.props.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if self.nodes[i].is_none() {
            self.live_nodes += 1;
        }
        self.nodes[i] = Some(data);
        for (k, v) in props {
            self.index_update(id, &labels, &k, None, Some(&v));
        }
    }

    /// Places a relationship at `id` (loading and undo).
    pub(crate) fn insert_rel(&mut self, id: RelId, data: RelData) {
        let i = id.0 as usize;
        if self.rels.len() <= i {
            self.rels.resize(i + 1, None);
        }
        if let Some(n) = self.nodes.get_mut(data.src.0 as usize).and_then(Option::as_mut) {
            n.out.push(id);
        }
        if let Some(n) = self.nodes.get_mut(data.dst.0 as usize).and_then(Option::as_mut) {
            n.inc.push(id);
        }
        if self.rels[i].is_none() {
            self.live_rels += 1;
        }
        self.rels[i] = Some(data);
    }

    /// Creates a relationship. Both end nodes must exist.
    pub fn create_rel(
        &mut self,
        j: &mut Journal,
        src: NodeId,
        kind: &str,
        dst: NodeId,
        props: BTreeMap<String, Value>,
    ) -> RelId {
        let id = RelId(self.rels.len() as u64);
        let props = props.into_iter().filter(|(_, v)| !v.is_null()).collect();
        self.insert_rel(id, RelData { kind: kind.to_owned(), src, dst, props });
        j.changes.push(Change::CreatedRel(id));
        id
    }

    /// Sets (or, with null, removes) a node property. Returns whether anything changed.
    pub fn set_node_prop(&mut self, j: &mut Journal, id: NodeId, key: &str, value: Value) -> bool {
        let Some(node) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else { return false };
        let old =
            if value.is_null() { node.props.remove(key) } else { node.props.insert(key.to_owned(), value.clone()) };
        let labels = node.labels.clone();
        let new = if value.is_null() { None } else { Some(&value) };
        self.index_update(id, &labels, key, old.as_ref(), new);
        let changed = old.as_ref() != new;
        j.changes.push(Change::NodeProp(id, key.to_owned(), old));
        changed
    }

    /// Sets (or, with null, removes) a relationship property.
    pub fn set_rel_prop(&mut self, j: &mut Journal, id: RelId, key: &str, value: Value) {
        let Some(rel) = self.rels.get_mut(id.0 as usize).and_then(Option::as_mut) else { return };
        let old = if value.is_null() { rel.props.remove(key) } else { rel.props.insert(key.to_owned(), value) };
        j.changes.push(Change::RelProp(id, key.to_owned(), old));
    }

    /// Adds a label.
    pub fn add_label(&mut self, j: &mut Journal, id: NodeId, label: &str) {
        let Some(node) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else { return };
        let Err(at) = node.labels.binary_search_by(|l| l.as_str().cmp(label)) else { return };
        node.labels.insert(at, label.to_owned());
        let props: Vec<(String, Value)> = node.props.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.by_label.entry(label.to_owned()).or_default().insert(id);
        for (k, v) in props {
            self.index_update(id, &[label.to_owned()], &k, None, Some(&v));
        }
        j.changes.push(Change::AddedLabel(id, label.to_owned()));
    }

    /// Removes a label.
    pub fn remove_label(&mut self, j: &mut Journal, id: NodeId, label: &str) {
        let Some(node) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else { return };
        let Ok(at) = node.labels.binary_search_by(|l| l.as_str().cmp(label)) else { return };
        node.labels.remove(at);
        let props: Vec<(String, Value)> = node.props.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(set) = self.by_label.get_mut(label) {
            set.remove(&id);
        }
        for (k, v) in props {
            self.index_update(id, &[label.to_owned()], &k, Some(&v), None);
        }
        j.changes.push(Change::RemovedLabel(id, label.to_owned()));
    }

    /// Removes a relationship.
    pub fn delete_rel(&mut self, j: &mut Journal, id: RelId) {
        let Some(data) = self.remove_rel(id) else { return };
        j.changes.push(Change::DeletedRel(id, data));
    }

    fn remove_rel(&mut self, id: RelId) -> Option<RelData> {
        let data = self.rels.get_mut(id.0 as usize)?.take()?;
        self.live_rels -= 1;
        if let Some(n) = self.nodes.get_mut(data.src.0 as usize).and_then(Option::as_mut) {
            n.out.retain(|r| *r != id);
        }
        if let Some(n) = self.nodes.get_mut(data.dst.0 as usize).and_then(Option::as_mut) {
            n.inc.retain(|r| *r != id);
        }
        Some(data)
    }

    /// Removes a node, which must have no relationships left.
    pub fn delete_node(&mut self, j: &mut Journal, id: NodeId) {
        let Some(data) = self.remove_node(id) else { return };
        j.changes.push(Change::DeletedNode(id, data));
    }

    fn remove_node(&mut self, id: NodeId) -> Option<NodeData> {
        let data = self.nodes.get_mut(id.0 as usize)?.take()?;
        self.live_nodes -= 1;
        for l in &data.labels {
            if let Some(set) = self.by_label.get_mut(l) {
                set.remove(&id);
            }
        }
        for (k, v) in &data.props {
            self.index_update(id, &data.labels, k, Some(v), None);
        }
        Some(data)
    }

    /// Undoes a journal, newest change first.
    pub fn rollback(&mut self, j: Journal) {
        let mut scratch = Journal::default();
        for change in j.changes.into_iter().rev() {
            match change {
                Change::CreatedNode(id) => {
                    self.remove_node(id);
                    self.truncate();
                }
                Change::CreatedRel(id) => {
                    self.remove_rel(id);
                    self.truncate();
                }
                Change::DeletedNode(id, mut data) => {
                    data.out.clear();
                    data.inc.clear();
                    self.insert_node(id, data);
                }
                Change::DeletedRel(id, data) => self.insert_rel(id, data),
                Change::NodeProp(id, key, old) => {
                    self.set_node_prop(&mut scratch, id, &key, old.unwrap_or(Value::Null));
                }
                Change::RelProp(id, key, old) => self.set_rel_prop(&mut scratch, id, &key, old.unwrap_or(Value::Null)),
                Change::AddedLabel(id, label) => self.remove_label(&mut scratch, id, &label),
                Change::RemovedLabel(id, label) => self.add_label(&mut scratch, id, &label),
            }
        }
    }

    /// Drops trailing empty slots so ids created by a rolled-back query are reused.
    fn truncate(&mut self) {
        while self.nodes.last().is_some_and(Option::is_none) {
            self.nodes.pop();
        }
        while self.rels.last().is_some_and(Option::is_none) {
            self.rels.pop();
        }
    }

    /// Labels, relationship types and property keys in use, with counts.
    pub fn schema(&self) -> Schema {
        let mut schema = Schema::default();
        for n in self.nodes.iter().flatten() {
            for l in &n.labels {
                let e = schema.labels.entry(l.clone()).or_default();
                e.count += 1;
                e.keys.extend(n.props.keys().cloned());
            }
        }
        for r in self.rels.iter().flatten() {
            let e = schema.relationships.entry(r.kind.clone()).or_default();
            e.count += 1;
            e.keys.extend(r.props.keys().cloned());
        }
        schema.indexes = self.indexes.keys().cloned().collect();
        schema.indexes.sort();
        schema
    }

    /// Relationships of a node in the given direction(s): `(rel, other end)`. A self-loop
    /// appears once even when both directions are asked for.
    pub fn neighbours(&self, id: NodeId, out: bool, inc: bool) -> impl Iterator<Item = (RelId, NodeId)> + '_ {
        let node = self.node(id);
        let outs = node.filter(|_| out).into_iter().flat_map(|n| n.out.iter().copied());
        let incs = node.filter(|_| inc).into_iter().flat_map(|n| n.inc.iter().copied());
        outs.map(move |r| (r, self.rel(r).map_or(id, |d| d.dst))).chain(
            incs.filter(move |r| !(out && self.rel(*r).is_some_and(|d| d.src == d.dst)))
                .map(move |r| (r, self.rel(r).map_or(id, |d| d.src))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_everything() {
        let mut g = Graph::new();
        let mut setup = Journal::default();
        let a = g.create_node(&mut setup, vec!["A".into()], [("x".to_owned(), Value::Int(1))].into());
        let b = g.create_node(&mut setup, vec![], BTreeMap::new());
        g.create_rel(&mut setup, a, "T", b, BTreeMap::new());
        g.create_index("A", "x");
        let before = (g.node(a).cloned(), g.node(b).cloned(), g.rel_count());

        let mut j = Journal::default();
        g.set_node_prop(&mut j, a, "x", Value::Int(2));
        g.add_label(&mut j, b, "B");
        let c = g.create_node(&mut j, vec!["A".into()], [("x".to_owned(), Value::Int(1))].into());
        g.create_rel(&mut j, c, "U", a, BTreeMap::new());
        let rels: Vec<RelId> = g.neighbours(b, true, true).map(|(r, _)| r).collect();
        for r in rels {
            g.delete_rel(&mut j, r);
        }
        g.delete_node(&mut j, b);
        assert_eq!(g.lookup("A", "x", &Value::Int(1)), Some(vec![c]));
        g.rollback(j);

        assert_eq!((g.node(a).cloned(), g.node(b).cloned(), g.rel_count()), before);
        assert_eq!(g.node_count(), 2);
        assert!(g.node(c).is_none());
        assert_eq!(g.lookup("A", "x", &Value::Int(1)), Some(vec![a]));
        assert_eq!(g.label_count("B"), 0);
    }

    #[test]
    fn loops_appear_once() {
        let mut g = Graph::new();
        let mut j = Journal::default();
        let a = g.create_node(&mut j, vec![], BTreeMap::new());
        g.create_rel(&mut j, a, "LOOP", a, BTreeMap::new());
        assert_eq!(g.neighbours(a, true, true).count(), 1);
        assert_eq!(g.neighbours(a, true, false).count(), 1);
        assert_eq!(g.neighbours(a, false, true).count(), 1);
    }
}
