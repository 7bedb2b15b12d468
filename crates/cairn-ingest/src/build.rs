//! Blocks into a tree shape: nesting by rank, display paths, pages and sentences.
//! Stable IDs are added afterwards by [`crate::stable`], and the extracted text and spans
//! are laid out by [`cairn_core::tree::layout`].

use cairn_core::{Heading, NodeKind, PageRange, Span};

use cairn_text::{approx_tokens, split_sentences};

use crate::block::{Block, BlockKind, Parsed, Rank};

/// Tuning for tree building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Paragraphs longer than this (in approximate tokens) are split into pieces of whole
    /// sentences, greedily packed, so that no citation unit is a whole page.
    pub max_paragraph_tokens: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { max_paragraph_tokens: 400 }
    }
}

/// A node before it has a stable ID.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeNode {
    /// Kind (document, section or paragraph).
    pub kind: NodeKind,
    /// Parent index.
    pub parent: Option<u32>,
    /// One past the end of the subtree.
    pub end: u32,
    /// Display path components.
    pub path: Vec<String>,
    /// Heading, for sections.
    pub heading: Option<Heading>,
    /// Text (paragraph text, heading line, or title).
    pub text: String,
    /// Pages.
    pub pages: Option<PageRange>,
    /// Sentence spans relative to `text`.
    pub sentences: Vec<Span>,
}

/// A document's tree before stable IDs.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Title.
    pub title: String,
    /// Page count.
    pub pages: Option<u32>,
    /// Nodes in pre-order; `nodes[0]` is the document.
    pub nodes: Vec<ShapeNode>,
}

/// Builds the tree shape of a parsed document. `fallback_title` is used when the
/// document states no title.
pub fn build_shape(parsed: Parsed, fallback_title: &str, options: BuildOptions) -> Shape {
    let title = parsed.title.clone().unwrap_or_else(|| fallback_title.to_owned());
    let outer_rank = parsed
        .blocks
        .iter()
        .filter_map(|b| match b.kind {
            BlockKind::Heading { rank: Rank::Known(r), number: Some(_), .. } => Some(r),
            BlockKind::Heading { .. } | BlockKind::Paragraph | BlockKind::Table(_) => None,
        })
        .min()
        .unwrap_or(1);
    let mut b = Builder { nodes: Vec::new(), stack: Vec::new() };
    b.nodes.push(ShapeNode {
        kind: NodeKind::Document,
        parent: None,
        end: 0,
        path: Vec::new(),
        heading: None,
        text: title.clone(),
        pages: None,
        sentences: Vec::new(),
    });
    b.stack.push((0, 0));
    for block in parsed.blocks {
        match block.kind {
            BlockKind::Heading { rank, ref number, ref title } => {
                let rank = match rank {
                    Rank::Known(r) => r,
                    Rank::Unnumbered => outer_rank,
                };
                let heading = Heading { number: number.clone(), title: title.clone() };
                b.section(rank, heading, &block);
            }
            BlockKind::Paragraph => {
                for piece in split_long(&block.text, options.max_paragraph_tokens) {
                    b.paragraph(piece, block.pages);
                }
            }
            BlockKind::Table(ref table) => b.table(table, block.pages),
        }
    }
    while let Some((idx, _)) = b.stack.pop() {
        b.close(idx);
    }
    assign_paths(&mut b.nodes);
    Shape { title, pages: parsed.pages, nodes: b.nodes }
}

struct Builder {
    nodes: Vec<ShapeNode>,
    /// Open nodes: (index, rank).
    stack: Vec<(usize, u8)>,
}

impl Builder {
    fn parent(&self) -> usize {
        self.stack.last().map_or(0, |&(i, _)| i)
    }

    fn section(&mut self, rank: u8, heading: Heading, block: &Block) {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|&(_, r)| r >= rank) {
            if let Some((idx, _)) = self.stack.pop() {
                self.close(idx);
            }
        }
        self.open_section(rank, heading, block.text.clone(), block.pages);
    }

    /// Pushes a section node under the current parent and opens it at `rank`.
    fn open_section(&mut self, rank: u8, heading: Heading, text: String, pages: Option<PageRange>) -> usize {
        let parent = self.parent() as u32;
        self.nodes.push(ShapeNode {
            kind: NodeKind::Section,
            parent: Some(parent),
            end: 0,
            path: Vec::new(),
            heading: Some(heading),
            text,
            pages,
            sentences: Vec::new(),
        });
        self.stack.push((self.nodes.len() - 1, rank));
        self.nodes.len() - 1
    }

    fn paragraph(&mut self, text: String, pages: Option<PageRange>) {
        let sentences = split_sentences(&text);
        self.paragraph_with(text, sentences, pages);
    }

    fn paragraph_with(&mut self, text: String, sentences: Vec<Span>, pages: Option<PageRange>) {
        let parent = self.parent() as u32;
        self.nodes.push(ShapeNode {
            kind: NodeKind::Paragraph,
            parent: Some(parent),
            end: self.nodes.len() as u32 + 1,
            path: Vec::new(),
            heading: None,
            text,
            pages,
            sentences,
        });
    }

    /// A table: a section under the current one, one single-sentence paragraph per
    /// non-empty row, closed at once so that what follows stays in the enclosing section.
    fn table(&mut self, table: &crate::block::Table, pages: Option<PageRange>) {
        let rows: Vec<String> =
            table.rows.iter().map(|r| r.text(&table.header)).filter(|t| !t.trim().is_empty()).collect();
        if rows.is_empty() && table.preamble.is_empty() {
            return;
        }
        let heading = Heading { number: None, title: table.caption.clone() };
        let idx = self.open_section(u8::MAX, heading, table.caption.clone(), pages);
        for line in &table.preamble {
            self.paragraph(line.clone(), pages);
        }
        for text in rows {
            let whole = vec![Span::new(0, text.chars().count() as u32)];
            self.paragraph_with(text, whole, pages);
        }
        self.stack.pop();
        self.close(idx);
    }

    /// Closes node `idx`: its subtree ends here, and its pages cover its descendants.
    fn close(&mut self, idx: usize) {
        let end = self.nodes.len();
        self.nodes[idx].end = end as u32;
        let first = self.nodes[idx..end].iter().filter_map(|n| n.pages.map(|p| p.first)).min();
        let last = self.nodes[idx..end].iter().filter_map(|n| n.pages.map(|p| p.last)).max();
        let node = &mut self.nodes[idx];
        if let (Some(first), Some(last)) = (first, last) {
            node.pages = Some(PageRange { first, last });
        }
    }
}

/// Splits an over-long paragraph into runs of whole sentences of at most `max_tokens`
/// each (a single longer sentence stays whole).
fn split_long(text: &str, max_tokens: u32) -> Vec<String> {
    if approx_tokens(text) <= max_tokens {
        return vec![text.to_owned()];
    }
    let target = max_tokens * 2 / 3;
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut tokens = 0;
    for span in split_sentences(text) {
        let sentence = span.slice(text);
        let t = approx_tokens(sentence);
        if tokens > 0 && tokens + t > target {
            pieces.push(std::mem::take(&mut current));
            tokens = 0;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(sentence);
        tokens += t;
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Display paths: each node's path is its parent's plus its own component. Sections use
/// their own number where it is unique among their siblings, and their ordinal
/// otherwise; paragraphs use their ordinal. Paragraphs that precede subsections get the
/// preamble component `0` first, so that `2.1` can never mean both subsection 2.1 and
/// paragraph 1 of section 2.
fn assign_paths(nodes: &mut [ShapeNode]) {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(p) = node.parent {
            children[p as usize].push(i);
        }
    }
    for parent in 0..nodes.len() {
        let kids = &children[parent];
        let sections: Vec<usize> = kids.iter().copied().filter(|&k| nodes[k].kind == NodeKind::Section).collect();
        let paragraphs: Vec<usize> = kids.iter().copied().filter(|&k| nodes[k].kind == NodeKind::Paragraph).collect();
        let base = nodes[parent].path.clone();
        let preamble = !sections.is_empty();
        for (n, &k) in paragraphs.iter().enumerate() {
            let mut path = base.clone();
            if preamble {
                path.push("0".to_owned());
            }
            path.push((n + 1).to_string());
            nodes[k].path = path;
        }
        let own: Vec<Option<u32>> = sections
            .iter()
            .map(|&k| nodes[k].heading.as_ref().and_then(|h| h.number.as_ref()).and_then(|n| n.last()))
            .collect();
        let mut used = std::collections::HashSet::new();
        let mut unique = vec![false; sections.len()];
        for (i, n) in own.iter().enumerate() {
            if let Some(n) = n {
                unique[i] = own.iter().filter(|m| *m == &Some(*n)).count() == 1 && *n > 0;
                if unique[i] {
                    used.insert(*n);
                }
            }
        }
        let mut next_free = 1u32;
        for (i, &k) in sections.iter().enumerate() {
            let component = if unique[i] {
                own[i].unwrap_or(0)
            } else {
                let mut candidate = (i as u32 + 1).max(next_free);
                while used.contains(&candidate) {
                    candidate += 1;
                }
                used.insert(candidate);
                next_free = candidate + 1;
                candidate
            };
            let mut path = base.clone();
            path.push(component.to_string());
            nodes[k].path = path;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::parse_text;
    use crate::markdown::parse_markdown;

    fn paths(shape: &Shape) -> Vec<(String, String)> {
        shape.nodes[1..].iter().map(|n| (n.path.join("."), n.text.chars().take(12).collect())).collect()
    }

    #[test]
    fn statute_paths_use_own_numbers() {
        let text =
            "办法\n\n第一章　总则\n\n第一条　目的。\n第二条　适用。\n第十条　其他。\n第二章　附则\n第十一条　施行。\n";
        let shape = build_shape(parse_text(text), "x", BuildOptions::default());
        let got = paths(&shape);
        assert_eq!(
            got,
            vec![
                ("1".into(), "第一章　总则".into()),
                ("1.1".into(), "第一条".into()),
                ("1.1.1".into(), "目的。".into()),
                ("1.2".into(), "第二条".into()),
                ("1.2.1".into(), "适用。".into()),
                ("1.10".into(), "第十条".into()),
                ("1.10.1".into(), "其他。".into()),
                ("2".into(), "第二章　附则".into()),
                ("2.11".into(), "第十一条".into()),
                ("2.11.1".into(), "施行。".into()),
            ]
        );
        assert_eq!(shape.title, "办法");
    }

    #[test]
    fn markdown_preamble_paths() {
        let md = "# T\n\nIntro.\n\n## 2. Enzymes\n\nLead paragraph.\n\n### 2.1 CYP3A4\n\nBody one. Body two.\n\n## Unnumbered\n\nTail.\n";
        let shape = build_shape(parse_markdown(md).unwrap(), "x", BuildOptions::default());
        let got: Vec<String> = paths(&shape).into_iter().map(|(p, t)| format!("{p} {t}")).collect();
        assert_eq!(
            got,
            vec![
                "0.1 Intro.",
                "2 2. Enzymes",
                "2.0.1 Lead paragra",
                "2.1 2.1 CYP3A4",
                "2.1.1 Body one. Bo",
                "3 Unnumbered",
                "3.1 Tail."
            ]
        );
        assert_eq!(shape.nodes[5].sentences.len(), 2);
        assert_eq!(shape.nodes[0].end as usize, shape.nodes.len());
    }

    #[test]
    fn long_paragraphs_are_split_on_sentences() {
        let sentence = "Simvastatin is metabolized by CYP3A4 in the liver and gut wall. ";
        let long = sentence.repeat(60);
        let pieces = split_long(long.trim(), 100);
        assert!(pieces.len() > 5);
        assert!(pieces.iter().all(|p| p.ends_with('.')));
        assert_eq!(pieces.join(" "), long.trim());
    }
}
