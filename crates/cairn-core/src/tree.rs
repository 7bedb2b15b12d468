//! The document tree: document → sections → paragraphs → sentences.
//!
//! Nodes are stored in pre-order in one vector. A node's subtree is the contiguous range
//! `index..node.end`, which lets callers treat any run of sibling subtrees as one span of
//! the vector (navigation chunks rely on this).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{DisplayId, DocKey, NodeKind, StableId};

/// A half-open range of character (Unicode scalar) offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    /// First character.
    pub start: u32,
    /// One past the last character.
    pub end: u32,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// Number of characters covered.
    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The covered part of `text`, in characters.
    pub fn slice<'a>(&self, text: &'a str) -> &'a str {
        let mut indices = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len()));
        let start = indices.nth(self.start as usize).unwrap_or(text.len());
        let end = if self.end > self.start {
            indices.nth((self.end - self.start - 1) as usize).unwrap_or(text.len())
        } else {
            start
        };
        &text[start..end]
    }
}

/// The pages a node spans, 1-based and inclusive. Only paged formats (PDF) have pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageRange {
    /// First page.
    pub first: u32,
    /// Last page.
    pub last: u32,
}

impl fmt::Display for PageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "p. {}", self.first)
        } else {
            write!(f, "pp. {}-{}", self.first, self.last)
        }
    }
}

/// How a document numbers a heading. A closed set: the styles Cairn recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberStyle {
    /// `1.`, `1.2`, `1.2.3`, `Section 4.2`.
    Dotted,
    /// `第一编`, `Part II`.
    Part,
    /// `第一章`, `Chapter 3`.
    Chapter,
    /// `第二节` (the section level of Chinese statutes).
    Section,
    /// `第十条`, `Article 5`, `Art. 5`.
    Article,
}

impl NumberStyle {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStyle::Dotted => "dotted",
            NumberStyle::Part => "part",
            NumberStyle::Chapter => "chapter",
            NumberStyle::Section => "section",
            NumberStyle::Article => "article",
        }
    }
}

/// A heading's own number, normalised: `第十条` and `第10条` both become
/// `Article [10]`; `Art. 5` and `Article 5` both become `Article [5]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionNumber {
    /// The numbering style.
    pub style: NumberStyle,
    /// The number's components (`4.2` → `[4, 2]`).
    pub parts: Vec<u32>,
}

impl SectionNumber {
    /// The last component, which becomes the node's display path component.
    pub fn last(&self) -> Option<u32> {
        self.parts.last().copied()
    }

    /// The dotted form (`4.2`).
    pub fn dotted(&self) -> String {
        self.parts.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
    }
}

/// A section's heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heading {
    /// Its own number, if it has one.
    pub number: Option<SectionNumber>,
    /// The title without the number (may be empty, as for `第十条`).
    pub title: String,
}

/// One node of a document tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Stable identifier.
    pub id: StableId,
    /// Document, section or paragraph (sentences are derived, see [`DocTree::sentences`]).
    pub kind: NodeKind,
    /// Index of the parent node, `None` for the root.
    pub parent: Option<u32>,
    /// One past the last node of this node's subtree.
    pub end: u32,
    /// Display path components (empty for the root).
    pub path: Vec<String>,
    /// The heading, for sections.
    pub heading: Option<Heading>,
    /// Paragraph text; the heading line for sections; the title for the document.
    pub text: String,
    /// Where the node lies in the extracted text. For sections this covers the whole
    /// section, heading included.
    pub span: Span,
    /// The pages the node spans, for paged formats.
    pub pages: Option<PageRange>,
    /// Sentence spans, relative to `text` (paragraphs only).
    pub sentences: Vec<Span>,
}

impl Node {
    /// The section title for sections, else `None`.
    pub fn title(&self) -> Option<&str> {
        self.heading.as_ref().map(|h| h.title.as_str())
    }
}

/// A derived sentence of a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// `paragraph-id.N`.
    pub id: StableId,
    /// 1-based index within the paragraph.
    pub n: u32,
    /// The sentence text.
    pub text: &'a str,
}

/// One document as a tree of nodes in pre-order; `nodes[0]` is the document root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocTree {
    /// The document's key.
    pub key: DocKey,
    /// Title (from metadata, the first heading, or the file name).
    pub title: String,
    /// The text as extracted; node spans index into it.
    pub text: String,
    /// Number of pages, for paged formats.
    pub pages: Option<u32>,
    /// Nodes in pre-order.
    pub nodes: Vec<Node>,
}

impl DocTree {
    /// The display ID of node `index`.
    pub fn display_id(&self, index: usize) -> DisplayId {
        DisplayId { key: self.key.clone(), path: self.nodes[index].path.clone() }
    }

    /// Indices of the direct children of node `index`.
    pub fn children(&self, index: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = index + 1;
        let end = self.nodes[index].end as usize;
        while i < end {
            out.push(i);
            i = self.nodes[i].end as usize;
        }
        out
    }

    /// Indices of all paragraphs, in document order.
    pub fn paragraphs(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].kind == NodeKind::Paragraph)
    }

    /// The sentences of node `index` (empty unless it is a paragraph).
    pub fn sentences(&self, index: usize) -> Vec<Sentence<'_>> {
        sentences_of(&self.nodes[index])
    }

    /// The section directly enclosing node `index`, if its parent is a section.
    pub fn enclosing_section(&self, index: usize) -> Option<&Node> {
        let parent = &self.nodes[self.nodes[index].parent? as usize];
        (parent.kind == NodeKind::Section).then_some(parent)
    }

    /// Titles of the sections enclosing node `index`, outermost first.
    pub fn heading_path(&self, index: usize) -> Vec<&str> {
        let mut titles = Vec::new();
        let mut cur = self.nodes[index].parent;
        while let Some(p) = cur {
            let node = &self.nodes[p as usize];
            if node.kind == NodeKind::Section {
                titles.push(node.text.as_str());
            }
            cur = node.parent;
        }
        titles.reverse();
        titles
    }
}

/// Lays out the extracted text of a tree and sets every node's span: the text is the
/// section headings and paragraphs in pre-order, joined by blank lines; a section's span
/// runs from its heading to the end of its last descendant, and the root's covers all.
///
/// Spans are derived from the tree rather than stored, so an edit to one paragraph never
/// rewrites the spans of the nodes after it.
pub fn layout(nodes: &mut [Node]) -> String {
    let mut text = String::new();
    let mut chars = 0u32;
    for node in nodes.iter_mut() {
        if node.kind == NodeKind::Document {
            node.span = Span::default();
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        let start = chars;
        text.push_str(&node.text);
        chars += node.text.chars().count() as u32;
        node.span = Span::new(start, chars);
    }
    for i in (0..nodes.len()).rev() {
        let end = nodes[i].end as usize;
        let last = nodes[i + 1..end.max(i + 1)].iter().map(|n| n.span.end).max();
        if let Some(last) = last {
            nodes[i].span.end = nodes[i].span.end.max(last);
        }
    }
    text
}

/// The sentences of a paragraph node.
pub fn sentences_of(node: &Node) -> Vec<Sentence<'_>> {
    node.sentences
        .iter()
        .enumerate()
        .map(|(i, span)| {
            let n = i as u32 + 1;
            Sentence { id: StableId::sentence(&node.id, n), n, text: span.slice(&node.text) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_derives_text_and_spans() {
        let node = |kind, parent, end, text: &str| Node {
            id: StableId::mint(kind, &[text.as_bytes()]),
            kind,
            parent,
            end,
            path: Vec::new(),
            heading: None,
            text: text.to_owned(),
            span: Span::default(),
            pages: None,
            sentences: Vec::new(),
        };
        let mut nodes = vec![
            node(NodeKind::Document, None, 4, "Title"),
            node(NodeKind::Section, Some(0), 3, "1. A"),
            node(NodeKind::Paragraph, Some(1), 3, "第一段。"),
            node(NodeKind::Paragraph, Some(0), 4, "Tail."),
        ];
        let text = layout(&mut nodes);
        assert_eq!(text, "1. A\n\n第一段。\n\nTail.");
        assert_eq!(nodes[1].span.slice(&text), "1. A\n\n第一段。");
        assert_eq!(nodes[2].span.slice(&text), "第一段。");
        assert_eq!(nodes[0].span.slice(&text), text);
    }

    #[test]
    fn span_slices_characters_not_bytes() {
        let text = "第十条　用人单位应当。Next.";
        assert_eq!(Span::new(0, 3).slice(text), "第十条");
        assert_eq!(Span::new(4, 11).slice(text), "用人单位应当。");
        assert_eq!(Span::new(11, 16).slice(text), "Next.");
        assert_eq!(Span::new(11, 99).slice(text), "Next.");
        assert_eq!(Span::new(3, 3).slice(text), "");
    }
}
