//! Keeping the tantivy keyword index in step with the store, and searching it.

use std::collections::{BTreeMap, HashSet};

use cairn_core::{DocTree, NodeKind, StableId};
use cairn_index::keyword::{KeywordDoc, KeywordIndex};
use cairn_navigate::Corpus;
use cairn_text::Analyzer;

use crate::error::Result;

fn docs_for(tree: &DocTree, ids: &HashSet<&StableId>) -> Vec<KeywordDoc> {
    let title = Analyzer.terms(&tree.title);
    tree.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind == NodeKind::Paragraph && ids.contains(&n.id))
        .map(|(i, n)| KeywordDoc {
            id: n.id.to_string(),
            doc: tree.key.to_string(),
            title: title.clone(),
            headings: tree.heading_path(i).iter().flat_map(|h| Analyzer.terms(h)).collect(),
            body: Analyzer.terms(&n.text),
        })
        .collect()
}

/// Brings one document of the index in line with the corpus: deletes paragraph IDs the
/// index has and the corpus does not, adds the ones it lacks. Idempotent.
pub(crate) fn sync_document(index: &mut KeywordIndex, tree: &DocTree, version: u32) -> Result<usize> {
    let indexed = index.ids_of(tree.key.as_str())?;
    let live: HashSet<&StableId> = tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| &n.id).collect();
    let live_strings: HashSet<String> = live.iter().map(|id| id.to_string()).collect();
    let remove: Vec<String> = indexed.iter().filter(|id| !live_strings.contains(*id)).cloned().collect();
    let missing: HashSet<&StableId> = live.into_iter().filter(|id| !indexed.contains(id.as_str())).collect();
    let add = docs_for(tree, &missing);
    let changed = remove.len() + add.len();
    index.update(tree.key.as_str(), version, &remove, &add)?;
    Ok(changed)
}

/// Catches the whole index up with the corpus at `versions` (on open).
pub(crate) fn catch_up(index: &mut KeywordIndex, corpus: &Corpus, versions: &BTreeMap<String, u32>) -> Result<usize> {
    let mut changed = 0;
    let gone: Vec<String> = index.reflects().keys().filter(|k| !versions.contains_key(*k)).cloned().collect();
    for key in gone {
        index.remove_document(&key)?;
    }
    for doc in corpus.docs() {
        let key = doc.tree.key.as_str();
        let version = versions.get(key).copied().unwrap_or(0);
        if index.reflects().get(key) != Some(&version) {
            changed += sync_document(index, &doc.tree, version)?;
        }
    }
    Ok(changed)
}
