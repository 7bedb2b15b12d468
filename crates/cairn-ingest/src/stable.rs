//! Stable ID assignment: matching a new version of a document against the previous one.
//!
//! IDs are not a pure hash of a node's bytes, because documents repeat paragraphs. A new
//! node inherits the ID of the old node it matches; only unmatched nodes get fresh IDs.
//!
//! Paragraphs are matched on their folded text, in four passes. The first two also
//! require the heading a paragraph sits under to be equal, so that one paragraph's
//! deletion never hands its ID to an identical paragraph of the next section:
//! 1. the common prefix and suffix of the two sequences, position by position (so one
//!    edit, insertion or deletion never disturbs the alignment of anything else, even
//!    among duplicate paragraphs);
//! 2. a Myers diff of the middle, whose equal runs keep their IDs (under a time budget:
//!    past it the diff gives up on the rest, and pass 3 still matches equal texts);
//! 3. moves: an unmatched new paragraph with the same text as an unmatched old one;
//! 4. edits: between the same matched neighbours, a one-for-one replacement, or else an
//!    unmatched new paragraph similar (character-bigram Dice ≥ 0.5) to an unmatched old one. It gets a **new** ID, and
//!    the old ID records it as its successor.
//!
//! Sections are matched after paragraphs, by the majority of their matched children's old
//! parents, so that a renumbered article (`第十条` → `第十一条`) keeps its ID while an
//! edited heading is reported as changed. A fresh ID is minted from the document key,
//! the node kind, its folded content and an occurrence counter that is bumped until the
//! ID has never been used by this document, so re-ingesting the same bytes into an empty
//! knowledge base always yields the same IDs.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cairn_core::deadline;
use cairn_core::normalize::fold;
use cairn_core::version::{Changes, Previous, PreviousNode};
use cairn_core::{DocKey, DocTree, Node, NodeKind, StableId};
use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};
use xxhash_rust::xxh3::xxh3_64;

use crate::build::Shape;
use crate::error::Result;

/// The content a node is matched on: folded paragraph text, or the folded title.
pub fn match_content(kind: NodeKind, text: &str, title: Option<&str>) -> String {
    match kind {
        NodeKind::Section => fold(title.unwrap_or(text)),
        NodeKind::Document | NodeKind::Paragraph | NodeKind::Sentence => fold(text),
    }
}

/// Longest the diff of pass 2 may run before it settles for a coarser answer.
const DIFF_BUDGET: Duration = Duration::from_secs(2);

/// Assigns stable IDs to `shape`, matching against `previous`. Every pass is linear or
/// bounded (the diff by [`DIFF_BUDGET`]), and the request's deadline is checked as it
/// goes ([`cairn_core::deadline`]).
pub fn assign_ids(key: &DocKey, shape: Shape, previous: Option<&Previous>) -> Result<(DocTree, Changes)> {
    let empty = Previous::default();
    let previous = previous.unwrap_or(&empty);
    let contents: Vec<String> = shape
        .nodes
        .iter()
        .map(|n| match_content(n.kind, &n.text, n.heading.as_ref().map(|h| h.title.as_str())))
        .collect();
    let mut taken: HashSet<StableId> = previous.history.clone();
    taken.extend(previous.nodes.iter().map(|n| n.id.clone()));
    let mut ids: Vec<Option<StableId>> = vec![None; shape.nodes.len()];
    let mut changes = Changes::default();
    let mut successors: Vec<(usize, StableId)> = Vec::new();

    ids[0] = Some(StableId::mint(NodeKind::Document, &[key.as_str().as_bytes()]));

    // Paragraphs.
    let new_paras: Vec<usize> =
        (0..shape.nodes.len()).filter(|&i| shape.nodes[i].kind == NodeKind::Paragraph).collect();
    let old_paras: Vec<usize> =
        (0..previous.nodes.len()).filter(|&j| previous.nodes[j].kind == NodeKind::Paragraph).collect();
    let new_text: Vec<&str> = new_paras.iter().map(|&i| contents[i].as_str()).collect();
    let old_text: Vec<&str> = old_paras.iter().map(|&j| previous.nodes[j].content.as_str()).collect();
    // The heading a paragraph sits under, so that the positional passes do not hand a
    // paragraph's ID to an identical paragraph in the next section.
    let old_by_id: HashMap<&StableId, &PreviousNode> = previous.nodes.iter().map(|n| (&n.id, n)).collect();
    let scope_of =
        |kind: NodeKind, content: &str| if kind == NodeKind::Section { xxh3_64(content.as_bytes()) } else { 0 };
    let new_scope: Vec<u64> = new_paras
        .iter()
        .map(|&i| shape.nodes[i].parent.map_or(0, |p| scope_of(shape.nodes[p as usize].kind, &contents[p as usize])))
        .collect();
    let old_scope: Vec<u64> = old_paras
        .iter()
        .map(|&j| {
            let parent = previous.nodes[j].parent.as_ref().and_then(|p| old_by_id.get(p));
            parent.map_or(0, |p| scope_of(p.kind, &p.content))
        })
        .collect();
    let para_match =
        match_sequences(&Items { text: &old_text, scope: &old_scope }, &Items { text: &new_text, scope: &new_scope })?;
    let mut old_claimed = vec![false; previous.nodes.len()];
    // new node index -> old node index (kept or edited)
    let mut matched_to: HashMap<usize, usize> = HashMap::new();
    for (ni, m) in para_match.iter().enumerate() {
        let i = new_paras[ni];
        match *m {
            Match::Same(oj) => {
                let j = old_paras[oj];
                ids[i] = Some(previous.nodes[j].id.clone());
                old_claimed[j] = true;
                matched_to.insert(i, j);
                changes.unchanged += 1;
            }
            Match::Edited(oj) => {
                let j = old_paras[oj];
                old_claimed[j] = true;
                matched_to.insert(i, j);
                successors.push((i, previous.nodes[j].id.clone()));
            }
            Match::New => {}
        }
    }

    // Sections, children before parents (reverse pre-order).
    let old_index: HashMap<&StableId, usize> = previous.nodes.iter().enumerate().map(|(j, n)| (&n.id, j)).collect();
    let old_parent = |j: usize| previous.nodes[j].parent.as_ref().and_then(|p| old_index.get(p).copied());
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); shape.nodes.len()];
    for (i, n) in shape.nodes.iter().enumerate() {
        if let Some(p) = n.parent {
            children[p as usize].push(i);
        }
    }
    let mut tick = 0u32;
    for i in (1..shape.nodes.len()).rev() {
        deadline::check_every(&mut tick)?;
        if shape.nodes[i].kind != NodeKind::Section {
            continue;
        }
        let mut votes: HashMap<usize, usize> = HashMap::new();
        for &c in &children[i] {
            if let Some(&oj) = matched_to.get(&c)
                && let Some(op) = old_parent(oj)
                && previous.nodes[op].kind == NodeKind::Section
                && !old_claimed[op]
            {
                *votes.entry(op).or_default() += 1;
            }
        }
        let best = votes.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(j, _)| j);
        if let Some(j) = best {
            old_claimed[j] = true;
            matched_to.insert(i, j);
            if previous.nodes[j].content == contents[i] {
                ids[i] = Some(previous.nodes[j].id.clone());
                changes.unchanged += 1;
            } else {
                successors.push((i, previous.nodes[j].id.clone()));
            }
        }
    }
    // Sections with no matched content (empty ones): match on equal titles, in order.
    let mut free_sections: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for (j, n) in previous.nodes.iter().enumerate() {
        if n.kind == NodeKind::Section && !old_claimed[j] {
            free_sections.entry(n.content.as_str()).or_default().push_back(j);
        }
    }
    for i in 1..shape.nodes.len() {
        if shape.nodes[i].kind != NodeKind::Section || matched_to.contains_key(&i) {
            continue;
        }
        let hit = free_sections.get_mut(contents[i].as_str()).and_then(std::collections::VecDeque::pop_front);
        if let Some(j) = hit {
            old_claimed[j] = true;
            matched_to.insert(i, j);
            ids[i] = Some(previous.nodes[j].id.clone());
            changes.unchanged += 1;
        }
    }

    for id in ids.iter().flatten() {
        taken.insert(id.clone());
    }
    // Mint fresh IDs in document order.
    let successor_of: HashMap<usize, StableId> = successors.into_iter().collect();
    for i in 0..shape.nodes.len() {
        if ids[i].is_some() {
            continue;
        }
        let id = mint_fresh(key, shape.nodes[i].kind, &contents[i], &mut taken);
        match successor_of.get(&i) {
            Some(old) => changes.changed.push((old.clone(), id.clone())),
            None => changes.added.push(id.clone()),
        }
        ids[i] = Some(id);
    }
    for (j, node) in previous.nodes.iter().enumerate() {
        if !old_claimed[j] && node.kind != NodeKind::Document {
            changes.removed.push(node.id.clone());
        }
    }

    let mut nodes: Vec<Node> = shape
        .nodes
        .into_iter()
        .zip(ids)
        .map(|(n, id)| Node {
            id: id.unwrap_or_else(|| StableId::mint(n.kind, &[b"unreachable"])),
            kind: n.kind,
            parent: n.parent,
            end: n.end,
            path: n.path,
            heading: n.heading,
            text: n.text,
            span: cairn_core::Span::default(),
            pages: n.pages,
            sentences: n.sentences,
        })
        .collect();
    let text = cairn_core::tree::layout(&mut nodes);
    let tree = DocTree { key: key.clone(), title: shape.title, text, pages: shape.pages, nodes };
    Ok((tree, changes))
}

fn mint_fresh(key: &DocKey, kind: NodeKind, content: &str, taken: &mut HashSet<StableId>) -> StableId {
    let tag: &[u8] = match kind {
        NodeKind::Document => b"d",
        NodeKind::Section => b"s",
        NodeKind::Paragraph | NodeKind::Sentence => b"p",
    };
    let mut k: u32 = 0;
    loop {
        let id = StableId::mint(kind, &[key.as_str().as_bytes(), tag, content.as_bytes(), &k.to_le_bytes()]);
        if taken.insert(id.clone()) {
            return id;
        }
        k += 1;
    }
}

/// How one new item relates to the old sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Same(usize),
    Edited(usize),
    New,
}

/// A sequence of paragraphs to match: each one's folded text, and a hash of the heading
/// it sits under (0 outside any section).
struct Items<'a> {
    text: &'a [&'a str],
    scope: &'a [u64],
}

impl Items<'_> {
    /// Text and heading both equal: what the positional passes (1 and 2) require.
    fn key(&self, k: usize) -> u64 {
        xxh3_64(self.text[k].as_bytes()) ^ self.scope[k].rotate_left(17)
    }
}

/// Matches `new` against `old` (see the module docs for the passes).
fn match_sequences(old_items: &Items<'_>, new_items: &Items<'_>) -> Result<Vec<Match>> {
    let (old, new) = (old_items.text, new_items.text);
    let same = |o: usize, n: usize| old[o] == new[n] && old_items.scope[o] == new_items.scope[n];
    let mut result = vec![Match::New; new.len()];
    let mut old_used = vec![false; old.len()];
    // 1. Common prefix and suffix.
    let prefix = (0..old.len().min(new.len())).take_while(|&k| same(k, k)).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = (0..max_suffix).take_while(|&k| same(old.len() - 1 - k, new.len() - 1 - k)).count();
    for k in 0..prefix {
        result[k] = Match::Same(k);
        old_used[k] = true;
    }
    for k in 0..suffix {
        let (o, n) = (old.len() - 1 - k, new.len() - 1 - k);
        result[n] = Match::Same(o);
        old_used[o] = true;
    }
    // 2. Diff of the middle.
    let (old_mid, new_mid) = (prefix..old.len() - suffix, prefix..new.len() - suffix);
    let old_hashes: Vec<u64> = old_mid.clone().map(|k| old_items.key(k)).collect();
    let new_hashes: Vec<u64> = new_mid.clone().map(|k| new_items.key(k)).collect();
    let budget = Instant::now() + DIFF_BUDGET;
    let until = deadline::current().and_then(|d| d.instant()).map_or(budget, |d| d.min(budget));
    for op in capture_diff_slices_deadline(Algorithm::Myers, &old_hashes, &new_hashes, Some(until)) {
        if let DiffOp::Equal { old_index, new_index, len } = op {
            for k in 0..len {
                let (o, n) = (old_mid.start + old_index + k, new_mid.start + new_index + k);
                result[n] = Match::Same(o);
                old_used[o] = true;
            }
        }
    }
    deadline::check()?;
    // 3. Moves.
    let mut by_text: HashMap<&str, Vec<usize>> = HashMap::new();
    for (o, text) in old.iter().enumerate().rev() {
        if !old_used[o] {
            by_text.entry(text).or_default().push(o);
        }
    }
    for n in 0..new.len() {
        if result[n] == Match::New
            && let Some(o) = by_text.get_mut(new[n]).and_then(Vec::pop)
        {
            result[n] = Match::Same(o);
            old_used[o] = true;
        }
    }
    // 4. Edits, between the same matched neighbours: a one-for-one replacement is an edit
    // whatever the new text; otherwise the most similar old item (Dice >= 0.5) is.
    const MAX_GAP: usize = 64;
    let anchor = |m: &Match| match m {
        Match::Same(o) | Match::Edited(o) => Some(*o),
        Match::New => None,
    };
    // The next anchor after each position, as pass 3 left them: positions after `n` are
    // unchanged when `n` is reached, so one backward pass finds them all, and the last
    // anchor before `n` is carried forward. Linear, whatever the document.
    let mut next_anchor: Vec<Option<(usize, usize)>> = vec![None; new.len() + 1];
    for k in (0..new.len()).rev() {
        next_anchor[k] = anchor(&result[k]).map(|o| (k, o)).or(next_anchor[k + 1]);
    }
    let mut last_anchor: Option<(usize, usize)> = None;
    let mut tick = 0u32;
    for n in 0..new.len() {
        deadline::check_every(&mut tick)?;
        if let Some(o) = anchor(&result[n]) {
            last_anchor = Some((n, o));
            continue;
        }
        let after = next_anchor[n + 1];
        let lo = last_anchor.map_or(0, |(_, o)| o + 1);
        let hi = after.map_or(old.len(), |(_, o)| o);
        if hi <= lo || hi - lo > MAX_GAP {
            continue;
        }
        let free_old: Vec<usize> = (lo..hi).filter(|&o| !old_used[o]).collect();
        // Every position between the two anchors is still unmatched.
        let new_gap = after.map_or(new.len(), |(k, _)| k) - last_anchor.map_or(0, |(k, _)| k + 1);
        let best = if free_old.len() == 1 && new_gap == 1 {
            Some(free_old[0])
        } else {
            free_old
                .iter()
                .map(|&o| (o, similarity(old[o], new[n])))
                .filter(|&(_, s)| s >= 0.5)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(o, _)| o)
        };
        if let Some(o) = best {
            result[n] = Match::Edited(o);
            old_used[o] = true;
            last_anchor = Some((n, o));
        }
    }
    Ok(result)
}

/// Dice coefficient of character bigrams.
fn similarity(a: &str, b: &str) -> f32 {
    fn bigrams(s: &str) -> HashMap<(char, char), i32> {
        let chars: Vec<char> = s.chars().collect();
        let mut map = HashMap::new();
        for w in chars.windows(2) {
            *map.entry((w[0], w[1])).or_insert(0) += 1;
        }
        map
    }
    let (ba, bb) = (bigrams(a), bigrams(b));
    let total: i32 = ba.values().sum::<i32>() + bb.values().sum::<i32>();
    if total == 0 {
        return if a == b { 1.0 } else { 0.0 };
    }
    let common: i32 = ba.iter().map(|(k, v)| (*v).min(*bb.get(k).unwrap_or(&0))).sum();
    2.0 * common as f32 / total as f32
}

/// The previous-version view of a tree, for matching the next version against it.
pub fn previous_of(tree: &DocTree, history: HashSet<StableId>) -> Previous {
    let nodes = tree
        .nodes
        .iter()
        .map(|n| PreviousNode {
            id: n.id.clone(),
            kind: n.kind,
            parent: n.parent.map(|p| tree.nodes[p as usize].id.clone()),
            content: match_content(n.kind, &n.text, n.title()),
        })
        .collect();
    Previous { nodes, history }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_matching_passes() {
        let old = ["a", "b", "c long paragraph text", "d", "a"];
        let new = ["a", "x", "b", "c long paragraph text!", "a", "d"];
        let m = match_sequences(&Items { text: &old, scope: &[0; 5] }, &Items { text: &new, scope: &[0; 6] }).unwrap();
        assert_eq!(m[0], Match::Same(0));
        assert_eq!(m[1], Match::New);
        assert_eq!(m[2], Match::Same(1));
        assert_eq!(m[3], Match::Edited(2));
        assert!(matches!(m[4], Match::Same(4)));
        assert_eq!(m[5], Match::Same(3));
    }

    #[test]
    fn similarity_bounds() {
        assert_eq!(similarity("abc", "abc"), 1.0);
        assert!(similarity("simvastatin is metabolized", "simvastatin is metabolised") > 0.8);
        assert!(similarity("abc", "xyz") < 0.1);
    }
}
