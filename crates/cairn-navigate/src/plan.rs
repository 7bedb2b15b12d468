//! Chunk planning, once per document at ingest time.
//!
//! The seed's routine splits a document into at most N chunks, lets a selector pick, and
//! refines the picks level by level. Cairn plans that whole tree of chunks when the
//! document is ingested, along the document's own structure:
//!
//! * a level holds the children of one node (the document, a section);
//! * if there are at most N children, each is a chunk;
//! * otherwise sections are grouped by **count** into N runs of consecutive siblings,
//!   and paragraphs are packed greedily by **size** (whole paragraphs, at least
//!   `min_tokens` per chunk, at most N chunks);
//! * a chunk of one section refines into that section's children; a chunk of several
//!   units refines into its units; a chunk of one paragraph is a leaf.
//!
//! Because grouping of sections depends only on their number, editing a paragraph can only
//! re-pack the paragraphs of its own section: every other chunk keeps its ID.

use cairn_core::{Chunk, ChunkId, DocTree, NodeKind};
use cairn_text::approx_tokens;
use xxhash_rust::xxh3::Xxh3;

/// Planning limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Most chunks per level (the seed's 20).
    pub max_chunks: usize,
    /// Minimum size of a packed paragraph chunk at the top level (the cookbook's 500).
    pub min_tokens_top: u32,
    /// Minimum size below the top level (the cookbook's 200).
    pub min_tokens: u32,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { max_chunks: 20, min_tokens_top: 500, min_tokens: 200 }
    }
}

/// Plans the chunk tree of `tree`, in pre-order (parents before children).
pub fn plan_chunks(tree: &DocTree, options: &PlanOptions) -> Vec<Chunk> {
    let tokens: Vec<u32> =
        tree.nodes.iter().map(|n| if n.kind == NodeKind::Document { 0 } else { approx_tokens(&n.text) }).collect();
    let mut subtree = vec![0u32; tree.nodes.len()];
    for i in (0..tree.nodes.len()).rev() {
        subtree[i] = tokens[i] + tree.children(i).iter().map(|&c| subtree[c]).sum::<u32>();
    }
    let mut planner = Planner { tree, options, subtree, out: Vec::new() };
    planner.level(&tree.children(0), None, 0);
    planner.out
}

struct Planner<'a> {
    tree: &'a DocTree,
    options: &'a PlanOptions,
    subtree: Vec<u32>,
    out: Vec<Chunk>,
}

impl Planner<'_> {
    fn level(&mut self, units: &[usize], parent: Option<&ChunkId>, level: u32) {
        for group in self.split(units, level) {
            let chunk = self.chunk(&group, parent, level);
            let id = chunk.id.clone();
            self.out.push(chunk);
            if let [single] = group[..] {
                if self.tree.nodes[single].kind == NodeKind::Section {
                    let children = self.tree.children(single);
                    if !children.is_empty() {
                        self.level(&children, Some(&id), level + 1);
                    }
                }
            } else {
                self.level(&group, Some(&id), level + 1);
            }
        }
    }

    fn split(&self, units: &[usize], level: u32) -> Vec<Vec<usize>> {
        let max = self.options.max_chunks.max(2);
        if units.len() <= max {
            return units.iter().map(|&u| vec![u]).collect();
        }
        let all_sections = units.iter().all(|&u| self.tree.nodes[u].kind == NodeKind::Section);
        if all_sections {
            let per = units.len().div_ceil(max);
            return units.chunks(per).map(<[usize]>::to_vec).collect();
        }
        let min = if level == 0 { self.options.min_tokens_top } else { self.options.min_tokens };
        let total: u32 = units.iter().map(|&u| self.subtree[u]).sum();
        let target = (total / max as u32 + 1).max(min);
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut current = Vec::new();
        let mut size = 0;
        for &u in units {
            current.push(u);
            size += self.subtree[u];
            if size >= target {
                groups.push(std::mem::take(&mut current));
                size = 0;
            }
        }
        if !current.is_empty() {
            groups.push(current);
        }
        while groups.len() > max {
            // Merge the adjacent pair with the smallest combined size.
            let sizes: Vec<u32> = groups.iter().map(|g| g.iter().map(|&u| self.subtree[u]).sum()).collect();
            let k = (0..groups.len() - 1).min_by_key(|&k| sizes[k] + sizes[k + 1]).unwrap_or(0);
            let next = groups.remove(k + 1);
            groups[k].extend(next);
        }
        if groups.len() == 1 {
            // Many units too small together to reach the size target (a PDF of short
            // lines, a sheet of short rows): one group would be `units` again, and `level`
            // would recurse on it for ever. Split by count instead, so every level shrinks.
            let per = units.len().div_ceil(max);
            return units.chunks(per).map(<[usize]>::to_vec).collect();
        }
        groups
    }

    fn chunk(&self, group: &[usize], parent: Option<&ChunkId>, level: u32) -> Chunk {
        let tree = self.tree;
        let mut hasher = Xxh3::new();
        hasher.update(tree.key.as_str().as_bytes());
        hasher.update(&level.to_le_bytes());
        for &u in group {
            hasher.update(tree.nodes[u].id.as_str().as_bytes());
        }
        let id = ChunkId(format!("c{:016x}", hasher.digest()));
        let first = &tree.nodes[group[0]];
        let last = &tree.nodes[group[group.len() - 1]];
        let path = |n: &cairn_core::Node| n.path.join(".");
        let mut label = if group.len() == 1 {
            format!("{}:{}", tree.key, path(first))
        } else {
            format!("{}:{}–{}", tree.key, path(first), path(last))
        };
        if let Some(title) = first.title().filter(|t| !t.is_empty()) {
            let short: String = title.chars().take(40).collect();
            label.push(' ');
            label.push_str(&short);
            if group.len() > 1 {
                label.push_str(" …");
            }
        }
        Chunk {
            id,
            parent: parent.cloned(),
            level,
            members: group.iter().map(|&u| tree.nodes[u].id.clone()).collect(),
            tokens: group.iter().map(|&u| self.subtree[u]).sum(),
            label,
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::DocKey;
    use cairn_ingest::{Format, IngestOptions, ingest_bytes};

    use super::*;

    fn tree(md: &str) -> DocTree {
        ingest_bytes(
            &DocKey::new("d").unwrap(),
            "d.md",
            md.as_bytes(),
            Format::Markdown,
            &IngestOptions::default(),
            None,
        )
        .unwrap()
        .tree
    }

    fn sections(n: usize, paras: usize) -> String {
        let mut md = String::from("# T\n\n");
        for s in 1..=n {
            md.push_str(&format!("## {s}. Section {s}\n\n"));
            for p in 0..paras {
                md.push_str(&format!("Paragraph {p} of section {s} talks about enzymes and drugs at some length.\n\n"));
            }
        }
        md
    }

    #[test]
    fn levels_hold_at_most_n_chunks_and_cover_everything() {
        let t = tree(&sections(45, 30));
        let chunks = plan_chunks(&t, &PlanOptions::default());
        let mut by_parent: std::collections::HashMap<Option<ChunkId>, usize> = Default::default();
        for c in &chunks {
            *by_parent.entry(c.parent.clone()).or_default() += 1;
        }
        assert!(by_parent.values().all(|&n| n <= 20), "{by_parent:?}");
        let top: Vec<&Chunk> = chunks.iter().filter(|c| c.parent.is_none()).collect();
        assert_eq!(top.len(), 15, "45 sections grouped 3 per chunk");
        let leaves = chunks
            .iter()
            .filter(|c| {
                c.members.len() == 1 && t.nodes.iter().any(|n| n.id == c.members[0] && n.kind == NodeKind::Paragraph)
            })
            .count();
        assert_eq!(leaves, 45 * 30, "every paragraph is reachable as a leaf");
    }

    /// Regression: more than `max_chunks` units whose text together is under the size
    /// target (a section and many one-word lines) made one group equal to the level itself,
    /// and planning recursed until the stack overflowed: a stack overflow aborts the whole
    /// process, so one such PDF stopped the server.
    #[test]
    fn many_tiny_units_are_split_by_count_not_recursed_on() {
        let mut md = String::from("# T\n\n");
        for i in 0..300 {
            md.push_str(&format!("Line {i}.\n\n"));
        }
        md.push_str("## 1. A section\n\nText.\n\n");
        let t = tree(&md);
        let chunks = plan_chunks(&t, &PlanOptions::default());
        let mut by_parent: std::collections::HashMap<Option<ChunkId>, usize> = Default::default();
        for c in &chunks {
            *by_parent.entry(c.parent.clone()).or_default() += 1;
        }
        assert!(by_parent.values().all(|&n| n <= 20), "{by_parent:?}");
        let leaves = chunks.iter().filter(|c| c.members.len() == 1).count();
        assert!(leaves >= 300, "{leaves}");
    }

    #[test]
    fn editing_a_paragraph_repacks_only_its_section() {
        let md = sections(30, 25);
        let before = plan_chunks(&tree(&md), &PlanOptions::default());
        let edited = md.replacen(
            "Paragraph 3 of section 7 talks",
            "Paragraph 3 of section 7 now talks at far greater length about",
            1,
        );
        let t2 = ingest_bytes(
            &DocKey::new("d").unwrap(),
            "d.md",
            edited.as_bytes(),
            Format::Markdown,
            &IngestOptions::default(),
            Some(&cairn_ingest::stable::previous_of(&tree(&md), Default::default())),
        )
        .unwrap()
        .tree;
        let after = plan_chunks(&t2, &PlanOptions::default());
        let ids = |c: &[Chunk]| c.iter().map(|c| c.id.clone()).collect::<std::collections::HashSet<_>>();
        let gone: Vec<_> = ids(&before).difference(&ids(&after)).cloned().collect();
        // Only chunks inside section 7 (its paragraph groups and the edited leaf) change.
        let section7 = t2.nodes.iter().position(|n| n.text == "7. Section 7").unwrap();
        let in_section7: std::collections::HashSet<_> =
            t2.nodes[section7..t2.nodes[section7].end as usize].iter().map(|n| n.id.clone()).collect();
        for id in &gone {
            let chunk = before.iter().find(|c| &c.id == id).unwrap();
            let old_section7: Vec<_> =
                tree(&md).nodes.iter().filter(|n| n.text.contains("section 7")).map(|n| n.id.clone()).collect();
            assert!(
                chunk.members.iter().all(|m| in_section7.contains(m) || old_section7.contains(m)),
                "chunk {} outside section 7 changed",
                chunk.label
            );
        }
        assert!(!gone.is_empty());
    }
}
