//! Reads: documents, whole trees, ID resolution.

use std::collections::{HashMap, HashSet};

use crate::error::{Result, StoreError};
use crate::sql::{Row, Sql, params, row};
use crate::{DocumentRecord, RetireReason};
use cairn_core::{
    Chunk, ChunkId, DisplayId, DocKey, DocTree, Heading, Node, NodeKind, NodeRef, NumberStyle, PageRange,
    SectionNumber, Span, StableId,
};

/// A document as loaded for the in-memory indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDocument {
    /// Metadata.
    pub record: DocumentRecord,
    /// The tree.
    pub tree: DocTree,
    /// Index terms of each node (space-separated), parallel to `tree.nodes`.
    pub terms: Vec<String>,
    /// Navigation chunks in planned order.
    pub chunks: Vec<Chunk>,
}

/// A live node, resolved for display.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveNode {
    /// Stable ID (a sentence ID when a sentence was asked for).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Kind: `document`, `section`, `paragraph` or `sentence`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: NodeKind,
    /// Display ID.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub display: DisplayId,
    /// The node's text (the sentence, for a sentence).
    pub text: String,
    /// The document's title.
    pub doc_title: String,
    /// Titles of the enclosing sections, outermost first.
    pub heading_path: Vec<String>,
    /// Pages, for PDFs.
    pub pages: Option<PageRange>,
    /// For a sentence: the paragraph's text, for context.
    pub context: Option<String>,
}

/// A retired ID, with where its content went.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetiredNode {
    /// The retired ID.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Its document's key.
    pub doc_key: String,
    /// Kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: NodeKind,
    /// The text it had.
    pub text: String,
    /// Its display ID when it was retired.
    pub display: String,
    /// Its section title then.
    pub section: Option<String>,
    /// The document version that retired it.
    pub version: u32,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub reason: RetireReason,
    /// The ID that replaced it, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub successor: Option<StableId>,
    /// The live node at the end of the successor chain, if there is one.
    pub current: Option<Box<LiveNode>>,
}

/// The outcome of resolving an ID.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Resolved {
    /// The ID names a live node.
    Live(LiveNode),
    /// The ID was used once and is now retired.
    Retired(RetiredNode),
}

const DOC_COLUMNS: &str = "d.doc_id, d.key, d.source, d.title, d.format, d.encoding, d.file_hash, d.bytes, d.version, \
    d.pages, d.updated_at, (SELECT count(*) FROM nodes n WHERE n.doc_id = d.doc_id), d.tags";

fn doc_row(row: &Row) -> Result<DocumentRecord> {
    let key = row.text(1)?;
    Ok(DocumentRecord {
        doc_id: row.int(0)?,
        key: DocKey::new(&key).map_err(|e| StoreError::Corrupt { table: "documents", detail: e.to_string() })?,
        source: row.text(2)?,
        title: row.text(3)?,
        format: row.text(4)?,
        encoding: row.opt_text(5)?,
        file_hash: row.text(6)?,
        bytes: row.int(7)? as u64,
        version: row.u32(8)?,
        pages: row.opt_u32(9)?,
        updated_at: row.int(10)?,
        nodes: row.int(11)? as u64,
        tags: row.text(12)?.split_whitespace().map(str::to_owned).collect(),
    })
}

/// The columns documents can be looked up by.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DocFilter<'a> {
    /// By key.
    Key(&'a str),
    /// By source.
    Source(&'a str),
}

pub(crate) fn documents(db: &mut dyn Sql, filter: Option<DocFilter<'_>>) -> Result<Vec<DocumentRecord>> {
    let rows = match filter {
        Some(DocFilter::Key(value)) => {
            db.rows(&format!("SELECT {DOC_COLUMNS} FROM documents d WHERE d.key = ?1 ORDER BY d.key"), params![value])?
        }
        Some(DocFilter::Source(value)) => db.rows(
            &format!("SELECT {DOC_COLUMNS} FROM documents d WHERE d.source = ?1 ORDER BY d.key"),
            params![value],
        )?,
        None => db.rows(&format!("SELECT {DOC_COLUMNS} FROM documents d ORDER BY d.key"), &[])?,
    };
    rows.iter().map(doc_row).collect()
}

fn corrupt(table: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, detail: detail.into() }
}

fn parse_id(table: &'static str, s: &str) -> Result<StableId> {
    s.parse().map_err(|_| corrupt(table, format!("bad stable id {s:?}")))
}

pub(crate) fn encode_sentences(spans: &[Span]) -> String {
    spans.iter().map(|s| format!("{}:{}", s.start, s.end)).collect::<Vec<_>>().join(",")
}

fn decode_sentences(s: &str) -> Result<Vec<Span>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|pair| {
            let (a, b) = pair.split_once(':').ok_or_else(|| corrupt("nodes", "bad sentence span"))?;
            let a = a.parse().map_err(|_| corrupt("nodes", "bad sentence span"))?;
            let b = b.parse().map_err(|_| corrupt("nodes", "bad sentence span"))?;
            Ok(Span::new(a, b))
        })
        .collect()
}

pub(crate) fn style_from_name(name: &str) -> Option<NumberStyle> {
    [NumberStyle::Dotted, NumberStyle::Part, NumberStyle::Chapter, NumberStyle::Section, NumberStyle::Article]
        .into_iter()
        .find(|s| s.as_str() == name)
}

struct RawNode {
    id: String,
    kind: String,
    parent: Option<String>,
    end_ord: u32,
    path: String,
    number_style: Option<String>,
    number: Option<String>,
    title: Option<String>,
    text: String,
    pages: Option<PageRange>,
    sentences: String,
    terms: String,
}

const NODE_COLUMNS: &str = "stable_id, kind, parent, end_ord, path, number_style, number, title, text, page_first, page_last, sentences, terms";

fn raw_node(row: &Row) -> Result<RawNode> {
    let first = row.opt_u32(9)?;
    let last = row.opt_u32(10)?;
    Ok(RawNode {
        id: row.text(0)?,
        kind: row.text(1)?,
        parent: row.opt_text(2)?,
        end_ord: row.u32(3)?,
        path: row.text(4)?,
        number_style: row.opt_text(5)?,
        number: row.opt_text(6)?,
        title: row.opt_text(7)?,
        text: row.text(8)?,
        pages: first.zip(last).map(|(first, last)| PageRange { first, last }),
        sentences: row.text(11)?,
        terms: row.text(12)?,
    })
}

fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() { Vec::new() } else { path.split('.').map(str::to_owned).collect() }
}

pub(crate) fn load(db: &mut dyn Sql, key: &DocKey) -> Result<LoadedDocument> {
    let record = documents(db, Some(DocFilter::Key(key.as_str())))?
        .pop()
        .ok_or_else(|| StoreError::UnknownDocument { key: key.to_string() })?;
    let raws = db
        .rows(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE doc_id = ?1 ORDER BY ord"), params![record.doc_id])?
        .iter()
        .map(raw_node)
        .collect::<Result<Vec<_>>>()?;
    let index: HashMap<&str, u32> = raws.iter().enumerate().map(|(i, r)| (r.id.as_str(), i as u32)).collect();
    let mut nodes = Vec::with_capacity(raws.len());
    let mut terms = Vec::with_capacity(raws.len());
    for raw in &raws {
        let kind = NodeKind::from_name(&raw.kind).ok_or_else(|| corrupt("nodes", format!("bad kind {}", raw.kind)))?;
        let parent = match &raw.parent {
            Some(p) => Some(*index.get(p.as_str()).ok_or_else(|| corrupt("nodes", format!("dangling parent {p}")))?),
            None => None,
        };
        let number = match (&raw.number_style, &raw.number) {
            (Some(style), Some(number)) => Some(SectionNumber {
                style: style_from_name(style).ok_or_else(|| corrupt("nodes", "bad number style"))?,
                parts: number.split('.').filter_map(|p| p.parse().ok()).collect(),
            }),
            _ => None,
        };
        let heading =
            (kind == NodeKind::Section).then(|| Heading { number, title: raw.title.clone().unwrap_or_default() });
        nodes.push(Node {
            id: parse_id("nodes", &raw.id)?,
            kind,
            parent,
            end: raw.end_ord,
            path: split_path(&raw.path),
            heading,
            text: raw.text.clone(),
            span: Span::default(),
            pages: raw.pages,
            sentences: decode_sentences(&raw.sentences)?,
        });
        terms.push(raw.terms.clone());
    }
    let text = cairn_core::tree::layout(&mut nodes);
    let tree = DocTree { key: record.key.clone(), title: record.title.clone(), text, pages: record.pages, nodes };
    let chunks = load_chunks(db, record.doc_id)?;
    Ok(LoadedDocument { record, tree, terms, chunks })
}

fn load_chunks(db: &mut dyn Sql, doc_id: i64) -> Result<Vec<Chunk>> {
    let rows = db
        .rows(
            "SELECT chunk_id, parent, level, members, tokens, label FROM chunks WHERE doc_id = ?1 ORDER BY ord",
            params![doc_id],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.opt_text(1)?, r.u32(2)?, r.text(3)?, r.u32(4)?, r.text(5)?)))
        .collect::<Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, parent, level, members, tokens, label)| {
            Ok(Chunk {
                id: ChunkId(id),
                parent: parent.map(ChunkId),
                level,
                members: members.split(' ').map(|m| parse_id("chunks", m)).collect::<Result<_>>()?,
                tokens,
                label,
            })
        })
        .collect()
}

pub(crate) fn id_history(db: &mut dyn Sql, key: &DocKey) -> Result<HashSet<StableId>> {
    let mut ids = HashSet::new();
    for r in db.rows("SELECT stable_id FROM retired WHERE doc_key = ?1", params![key.as_str()])? {
        ids.insert(parse_id("retired", &r.text(0)?)?);
    }
    for r in db.rows(
        "SELECT n.stable_id FROM nodes n JOIN documents d ON d.doc_id = n.doc_id WHERE d.key = ?1",
        params![key.as_str()],
    )? {
        ids.insert(parse_id("nodes", &r.text(0)?)?);
    }
    Ok(ids)
}

pub(crate) fn node_text(db: &mut dyn Sql, id: &StableId) -> Result<Option<String>> {
    if let Some((para, n)) = id.split_sentence() {
        let Some(node) = live_by_id(db, &para)? else { return Ok(None) };
        return Ok(sentence_text(&node.text, &node.sentences, n));
    }
    row(db, "SELECT text FROM nodes WHERE stable_id = ?1", params![id.as_str()])?.map(|r| r.text(0)).transpose()
}

fn sentence_text(text: &str, sentences: &str, n: u32) -> Option<String> {
    let spans = decode_sentences(sentences).ok()?;
    let span = spans.get(n.checked_sub(1)? as usize)?;
    Some(span.slice(text).to_owned())
}

struct LiveRow {
    id: String,
    kind: String,
    parent: Option<String>,
    path: String,
    text: String,
    pages: Option<PageRange>,
    sentences: String,
    doc_key: String,
    doc_title: String,
}

fn live_row(row: &Row) -> Result<LiveRow> {
    let first = row.opt_u32(5)?;
    let last = row.opt_u32(6)?;
    Ok(LiveRow {
        id: row.text(0)?,
        kind: row.text(1)?,
        parent: row.opt_text(2)?,
        path: row.text(3)?,
        text: row.text(4)?,
        pages: first.zip(last).map(|(first, last)| PageRange { first, last }),
        sentences: row.text(7)?,
        doc_key: row.text(8)?,
        doc_title: row.text(9)?,
    })
}

const LIVE_SQL: &str = "SELECT n.stable_id, n.kind, n.parent, n.path, n.text, n.page_first, n.page_last, n.sentences, \
    d.key, d.title FROM nodes n JOIN documents d ON d.doc_id = n.doc_id";

fn live_by_id(db: &mut dyn Sql, id: &StableId) -> Result<Option<LiveRow>> {
    row(db, &format!("{LIVE_SQL} WHERE n.stable_id = ?1"), params![id.as_str()])?.as_ref().map(live_row).transpose()
}

fn heading_path(db: &mut dyn Sql, mut parent: Option<String>) -> Result<Vec<String>> {
    let mut titles = Vec::new();
    // Bounded: a corrupt parent cycle cannot loop forever.
    for _ in 0..1024 {
        let Some(p) = parent else { break };
        let r = row(db, "SELECT kind, text, parent FROM nodes WHERE stable_id = ?1", params![p.as_str()])?
            .ok_or_else(|| corrupt("nodes", format!("dangling parent {p}")))?;
        let (kind, text, next) = (r.text(0)?, r.text(1)?, r.opt_text(2)?);
        if kind == NodeKind::Section.as_str() {
            titles.push(text);
        }
        parent = next;
    }
    titles.reverse();
    Ok(titles)
}

fn to_live(db: &mut dyn Sql, row: LiveRow, sentence: Option<u32>) -> Result<Option<LiveNode>> {
    let kind = NodeKind::from_name(&row.kind).ok_or_else(|| corrupt("nodes", "bad kind"))?;
    let key = DocKey::new(&row.doc_key).map_err(|e| corrupt("documents", e.to_string()))?;
    let mut path = split_path(&row.path);
    let heading_path = heading_path(db, row.parent.clone())?;
    let id = parse_id("nodes", &row.id)?;
    let Some(n) = sentence else {
        return Ok(Some(LiveNode {
            id,
            kind,
            display: DisplayId { key, path },
            text: row.text,
            doc_title: row.doc_title,
            heading_path,
            pages: row.pages,
            context: None,
        }));
    };
    let Some(text) = sentence_text(&row.text, &row.sentences, n) else { return Ok(None) };
    path.push(n.to_string());
    Ok(Some(LiveNode {
        id: StableId::sentence(&id, n),
        kind: NodeKind::Sentence,
        display: DisplayId { key, path },
        text,
        doc_title: row.doc_title,
        heading_path,
        pages: row.pages,
        context: Some(row.text),
    }))
}

pub(crate) fn resolve(db: &mut dyn Sql, node: &NodeRef) -> Result<Option<Resolved>> {
    match node {
        NodeRef::Stable(id) => resolve_stable(db, id),
        NodeRef::Display(display) => resolve_display(db, display),
    }
}

fn resolve_stable(db: &mut dyn Sql, id: &StableId) -> Result<Option<Resolved>> {
    let (base, sentence) = match id.split_sentence() {
        Some((para, n)) => (para, Some(n)),
        None => (id.clone(), None),
    };
    if let Some(row) = live_by_id(db, &base)? {
        return Ok(to_live(db, row, sentence)?.map(Resolved::Live));
    }
    Ok(retired(db, &base)?.map(Resolved::Retired))
}

fn retired(db: &mut dyn Sql, id: &StableId) -> Result<Option<RetiredNode>> {
    let found = row(
        db,
        "SELECT doc_key, kind, text, display, section, version, reason, successor FROM retired WHERE stable_id = ?1",
        params![id.as_str()],
    )?;
    let Some(r) = found else { return Ok(None) };
    let (doc_key, kind, text, display, section, version, reason, successor) =
        (r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.opt_text(4)?, r.u32(5)?, r.text(6)?, r.opt_text(7)?);
    let successor = successor.map(|s| parse_id("retired", &s)).transpose()?;
    // Follow the successor chain (bounded) to the live node, if any.
    let mut current = None;
    let mut next = successor.clone();
    for _ in 0..64 {
        let Some(id) = next.take() else { break };
        if let Some(row) = live_by_id(db, &id)? {
            current = to_live(db, row, None)?.map(Box::new);
            break;
        }
        next = row(db, "SELECT successor FROM retired WHERE stable_id = ?1", params![id.as_str()])?
            .map(|r| r.opt_text(0))
            .transpose()?
            .flatten()
            .map(|s| parse_id("retired", &s))
            .transpose()?;
    }
    Ok(Some(RetiredNode {
        id: id.clone(),
        doc_key,
        kind: NodeKind::from_name(&kind).ok_or_else(|| corrupt("retired", "bad kind"))?,
        text,
        display,
        section,
        version,
        reason: RetireReason::from_name(&reason).ok_or_else(|| corrupt("retired", "bad reason"))?,
        successor,
        current,
    }))
}

fn resolve_display(db: &mut dyn Sql, display: &DisplayId) -> Result<Option<Resolved>> {
    let by_path = |db: &mut dyn Sql, path: &str| -> Result<Option<LiveRow>> {
        row(db, &format!("{LIVE_SQL} WHERE d.key = ?1 AND n.path = ?2"), params![display.key.as_str(), path])?
            .as_ref()
            .map(live_row)
            .transpose()
    };
    let path = display.path.join(".");
    if let Some(row) = by_path(db, &path)? {
        return Ok(to_live(db, row, None)?.map(Resolved::Live));
    }
    // `2.0` names section 2's preamble: show the section itself.
    if display.path.last().is_some_and(|c| c == "0") {
        let parent = display.path[..display.path.len() - 1].join(".");
        if let Some(row) = by_path(db, &parent)? {
            return Ok(to_live(db, row, None)?.map(Resolved::Live));
        }
    }
    // One component more than a paragraph's path names a sentence.
    if let Some((last, head)) = display.path.split_last()
        && let Ok(n) = last.parse::<u32>()
        && let Some(row) = by_path(db, &head.join("."))?
        && row.kind == NodeKind::Paragraph.as_str()
    {
        return Ok(to_live(db, row, Some(n))?.map(Resolved::Live));
    }
    Ok(None)
}
