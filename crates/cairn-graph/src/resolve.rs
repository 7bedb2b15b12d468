//! Entity resolution: nodes that name the same thing (an alias, a different case or
//! spelling of punctuation, the Chinese and the English name) are merged into one.

use std::collections::{BTreeMap, HashMap};

use crate::graph::{Graph, Journal};
use crate::value::{NodeId, Value};

/// A name reduced to what identifies it: lower case, letters and digits only (any
/// script), so `St John's Wort`, `st-johns-wort` and `ST JOHNS WORT` agree.
pub fn normalize_name(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn names(props: &BTreeMap<String, Value>, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        match props.get(*k) {
            Some(Value::String(s)) => out.push(normalize_name(s)),
            Some(Value::List(items)) => out.extend(
                items.iter().filter_map(|i| if let Value::String(s) = i { Some(normalize_name(s)) } else { None }),
            ),
            _ => {}
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

fn find(parent: &mut HashMap<NodeId, NodeId>, x: NodeId) -> NodeId {
    let mut root = x;
    while let Some(&p) = parent.get(&root) {
        if p == root {
            break;
        }
        root = p;
    }
    parent.insert(x, root);
    root
}

/// Merges `label` nodes that share a normalised name under any of `keys` (string or
/// list-of-strings properties). The lowest id is kept; relationships move to it; list
/// properties are unioned; the kept node's other properties win and the merged nodes fill
/// the gaps. Returns (kept, merged) groups.
pub fn merge_duplicates(g: &mut Graph, j: &mut Journal, label: &str, keys: &[&str]) -> Vec<(NodeId, Vec<NodeId>)> {
    merge_duplicates_with_evidence(g, j, label, keys).into_iter().map(|m| (m.keep, m.merged)).collect()
}

/// One merge and why: the pairs of nodes that share a name, with that name (normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The node kept.
    pub keep: NodeId,
    /// The nodes merged into it.
    pub merged: Vec<NodeId>,
    /// (a node, another node, the normalised name they share), for each link that joined
    /// the group.
    pub evidence: Vec<(NodeId, NodeId, String)>,
}

/// [`merge_duplicates`], reporting the shared names that joined each group.
pub fn merge_duplicates_with_evidence(g: &mut Graph, j: &mut Journal, label: &str, keys: &[&str]) -> Vec<Merge> {
    let ids: Vec<NodeId> = g.nodes_with_label(label).collect();
    let mut links: Vec<(NodeId, NodeId, String)> = Vec::new();
    let mut parent: HashMap<NodeId, NodeId> = ids.iter().map(|&i| (i, i)).collect();
    let mut owner: HashMap<String, NodeId> = HashMap::new();
    for &id in &ids {
        let Some(node) = g.node(id) else { continue };
        for name in names(&node.props, keys) {
            match owner.get(&name) {
                Some(&other) => {
                    let (a, b) = (find(&mut parent, id), find(&mut parent, other));
                    if a != b {
                        parent.insert(a.max(b), a.min(b));
                        links.push((other, id, name.clone()));
                    }
                }
                None => {
                    owner.insert(name, id);
                }
            }
        }
    }
    let mut groups: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for &id in &ids {
        let root = find(&mut parent, id);
        if root != id {
            groups.entry(root).or_default().push(id);
        }
    }
    for (&keep, merged) in &groups {
        for &dup in merged {
            merge_into(g, j, keep, dup);
        }
    }
    groups
        .into_iter()
        .map(|(keep, merged)| {
            let evidence = links
                .iter()
                .filter(|(a, b, _)| *a == keep || merged.contains(a) || merged.contains(b))
                .cloned()
                .collect();
            Merge { keep, merged, evidence }
        })
        .collect()
}

fn merge_into(g: &mut Graph, j: &mut Journal, keep: NodeId, dup: NodeId) {
    let Some(dup_data) = g.node(dup).cloned() else { return };
    let keep_props = g.node(keep).map(|n| n.props.clone()).unwrap_or_default();
    for (k, v) in &dup_data.props {
        match (keep_props.get(k), v) {
            (None, v) => {
                g.set_node_prop(j, keep, k, v.clone());
            }
            (Some(Value::List(a)), Value::List(b)) => {
                let mut union = a.clone();
                union.extend(b.iter().filter(|x| !a.contains(x)).cloned());
                g.set_node_prop(j, keep, k, Value::List(union));
            }
            (Some(Value::List(a)), Value::String(s)) if !a.contains(v) && keep_props.get("name") != Some(v) => {
                let mut union = a.clone();
                union.push(Value::String(s.clone()));
                g.set_node_prop(j, keep, k, Value::List(union));
            }
            (Some(_), _) => {}
        }
    }
    // The merged node's own name lives on as an alias.
    if let Some(Value::String(name)) = dup_data.props.get("name") {
        let current = g.node(keep).map(|n| n.props.clone()).unwrap_or_default();
        let known = names(&current, &["name", "aliases"]);
        if !known.contains(&normalize_name(name)) {
            let mut aliases = match current.get("aliases") {
                Some(Value::List(a)) => a.clone(),
                _ => Vec::new(),
            };
            aliases.push(Value::String(name.clone()));
            g.set_node_prop(j, keep, "aliases", Value::List(aliases));
        }
    }
    for l in &dup_data.labels {
        g.add_label(j, keep, l);
    }
    let rels: Vec<_> = g.neighbours(dup, true, true).map(|(r, _)| r).collect();
    for r in rels {
        let Some(data) = g.rel(r).cloned() else { continue };
        g.delete_rel(j, r);
        let src = if data.src == dup { keep } else { data.src };
        let dst = if data.dst == dup { keep } else { data.dst };
        let exists = g.neighbours(src, true, false).any(|(other, end)| {
            end == dst && g.rel(other).is_some_and(|o| o.kind == data.kind && o.props == data.props)
        });
        if !exists {
            g.create_rel(j, src, &data.kind, dst, data.props);
        }
    }
    g.delete_node(j, dup);
}
