//! Reads: documents, whole trees, ID resolution.

use std::collections::{HashMap, HashSet};

use cairn_core::{
    Chunk, ChunkId, DisplayId, DocKey, DocTree, Heading, Node, NodeKind, NodeRef, NumberStyle, PageRange,
    SectionNumber, Span, StableId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{Result, StoreError};
use crate::{DocumentRecord, RetireReason};

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

fn doc_row(row: &Row<'_>) -> rusqlite::Result<(DocumentRecord, String)> {
    let key: String = row.get(1)?;
    Ok((
        DocumentRecord {
            doc_id: row.get(0)?,
            key: DocKey::from_file_stem(&key),
            source: row.get(2)?,
            title: row.get(3)?,
            format: row.get(4)?,
            encoding: row.get(5)?,
            file_hash: row.get(6)?,
            bytes: row.get::<_, i64>(7)? as u64,
            version: row.get(8)?,
            pages: row.get(9)?,
            updated_at: row.get(10)?,
            nodes: row.get::<_, i64>(11)? as u64,
            tags: row.get::<_, String>(12)?.split_whitespace().map(str::to_owned).collect(),
        },
        key,
    ))
}

pub(crate) fn documents(conn: &Connection, filter: Option<(&str, &str)>) -> Result<Vec<DocumentRecord>> {
    let sql = match filter {
        Some((column, _)) => format!("SELECT {DOC_COLUMNS} FROM documents d WHERE d.{column} = ?1 ORDER BY d.key"),
        None => format!("SELECT {DOC_COLUMNS} FROM documents d ORDER BY d.key"),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = match filter {
        Some((_, value)) => stmt.query_map(params![value], doc_row)?.collect::<rusqlite::Result<Vec<_>>>()?,
        None => stmt.query_map([], doc_row)?.collect::<rusqlite::Result<Vec<_>>>()?,
    };
    rows.into_iter()
        .map(|(mut record, key)| {
            record.key =
                DocKey::new(&key).map_err(|e| StoreError::Corrupt { table: "documents", detail: e.to_string() })?;
            Ok(record)
        })
        .collect()
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

fn raw_node(row: &Row<'_>) -> rusqlite::Result<RawNode> {
    let first: Option<u32> = row.get(9)?;
    let last: Option<u32> = row.get(10)?;
    Ok(RawNode {
        id: row.get(0)?,
        kind: row.get(1)?,
        parent: row.get(2)?,
        end_ord: row.get(3)?,
        path: row.get(4)?,
        number_style: row.get(5)?,
        number: row.get(6)?,
        title: row.get(7)?,
        text: row.get(8)?,
        pages: first.zip(last).map(|(first, last)| PageRange { first, last }),
        sentences: row.get(11)?,
        terms: row.get(12)?,
    })
}

fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() { Vec::new() } else { path.split('.').map(str::to_owned).collect() }
}

pub(crate) fn load(conn: &Connection, key: &DocKey) -> Result<LoadedDocument> {
    let record = documents(conn, Some(("key", key.as_str())))?
        .pop()
        .ok_or_else(|| StoreError::UnknownDocument { key: key.to_string() })?;
    let mut stmt = conn.prepare_cached(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE doc_id = ?1 ORDER BY ord"))?;
    let raws = stmt.query_map(params![record.doc_id], raw_node)?.collect::<rusqlite::Result<Vec<_>>>()?;
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
    let chunks = load_chunks(conn, record.doc_id)?;
    Ok(LoadedDocument { record, tree, terms, chunks })
}

fn load_chunks(conn: &Connection, doc_id: i64) -> Result<Vec<Chunk>> {
    let mut stmt = conn.prepare_cached(
        "SELECT chunk_id, parent, level, members, tokens, label FROM chunks WHERE doc_id = ?1 ORDER BY ord",
    )?;
    let rows = stmt
        .query_map(params![doc_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
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

pub(crate) fn id_history(conn: &Connection, key: &DocKey) -> Result<HashSet<StableId>> {
    let mut ids = HashSet::new();
    let mut stmt = conn.prepare_cached("SELECT stable_id FROM retired WHERE doc_key = ?1")?;
    for id in stmt.query_map(params![key.as_str()], |r| r.get::<_, String>(0))? {
        ids.insert(parse_id("retired", &id?)?);
    }
    let mut stmt = conn
        .prepare_cached("SELECT n.stable_id FROM nodes n JOIN documents d ON d.doc_id = n.doc_id WHERE d.key = ?1")?;
    for id in stmt.query_map(params![key.as_str()], |r| r.get::<_, String>(0))? {
        ids.insert(parse_id("nodes", &id?)?);
    }
    Ok(ids)
}

pub(crate) fn node_text(conn: &Connection, id: &StableId) -> Result<Option<String>> {
    if let Some((para, n)) = id.split_sentence() {
        let Some(node) = live_by_id(conn, &para)? else { return Ok(None) };
        return Ok(sentence_text(&node.text, &node.sentences, n));
    }
    Ok(conn.query_row("SELECT text FROM nodes WHERE stable_id = ?1", params![id.as_str()], |r| r.get(0)).optional()?)
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

fn live_row(row: &Row<'_>) -> rusqlite::Result<LiveRow> {
    let first: Option<u32> = row.get(5)?;
    let last: Option<u32> = row.get(6)?;
    Ok(LiveRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        parent: row.get(2)?,
        path: row.get(3)?,
        text: row.get(4)?,
        pages: first.zip(last).map(|(first, last)| PageRange { first, last }),
        sentences: row.get(7)?,
        doc_key: row.get(8)?,
        doc_title: row.get(9)?,
    })
}

const LIVE_SQL: &str = "SELECT n.stable_id, n.kind, n.parent, n.path, n.text, n.page_first, n.page_last, n.sentences, \
    d.key, d.title FROM nodes n JOIN documents d ON d.doc_id = n.doc_id";

fn live_by_id(conn: &Connection, id: &StableId) -> Result<Option<LiveRow>> {
    Ok(conn.query_row(&format!("{LIVE_SQL} WHERE n.stable_id = ?1"), params![id.as_str()], live_row).optional()?)
}

fn heading_path(conn: &Connection, mut parent: Option<String>) -> Result<Vec<String>> {
    let mut titles = Vec::new();
    while let Some(p) = parent {
        let (kind, text, next): (String, String, Option<String>) =
            conn.query_row("SELECT kind, text, parent FROM nodes WHERE stable_id = ?1", params![p], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if kind == NodeKind::Section.as_str() {
            titles.push(text);
        }
        parent = next;
    }
    titles.reverse();
    Ok(titles)
}

fn to_live(conn: &Connection, row: LiveRow, sentence: Option<u32>) -> Result<Option<LiveNode>> {
    let kind = NodeKind::from_name(&row.kind).ok_or_else(|| corrupt("nodes", "bad kind"))?;
    let key = DocKey::new(&row.doc_key).map_err(|e| corrupt("documents", e.to_string()))?;
    let mut path = split_path(&row.path);
    let heading_path = heading_path(conn, row.parent.clone())?;
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

pub(crate) fn resolve(conn: &Connection, node: &NodeRef) -> Result<Option<Resolved>> {
    match node {
        NodeRef::Stable(id) => resolve_stable(conn, id),
        NodeRef::Display(display) => resolve_display(conn, display),
    }
}

fn resolve_stable(conn: &Connection, id: &StableId) -> Result<Option<Resolved>> {
    let (base, sentence) = match id.split_sentence() {
        Some((para, n)) => (para, Some(n)),
        None => (id.clone(), None),
    };
    if let Some(row) = live_by_id(conn, &base)? {
        return Ok(to_live(conn, row, sentence)?.map(Resolved::Live));
    }
    Ok(retired(conn, &base)?.map(Resolved::Retired))
}

fn retired(conn: &Connection, id: &StableId) -> Result<Option<RetiredNode>> {
    let row = conn
        .query_row(
            "SELECT doc_key, kind, text, display, section, version, reason, successor FROM retired WHERE stable_id = ?1",
            params![id.as_str()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            },
        )
        .optional()?;
    let Some((doc_key, kind, text, display, section, version, reason, successor)) = row else { return Ok(None) };
    let successor = successor.map(|s| parse_id("retired", &s)).transpose()?;
    // Follow the successor chain (bounded) to the live node, if any.
    let mut current = None;
    let mut next = successor.clone();
    for _ in 0..64 {
        let Some(id) = next.take() else { break };
        if let Some(row) = live_by_id(conn, &id)? {
            current = to_live(conn, row, None)?.map(Box::new);
            break;
        }
        next = conn
            .query_row("SELECT successor FROM retired WHERE stable_id = ?1", params![id.as_str()], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
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

fn resolve_display(conn: &Connection, display: &DisplayId) -> Result<Option<Resolved>> {
    let by_path = |path: &str| -> Result<Option<LiveRow>> {
        Ok(conn
            .query_row(
                &format!("{LIVE_SQL} WHERE d.key = ?1 AND n.path = ?2"),
                params![display.key.as_str(), path],
                live_row,
            )
            .optional()?)
    };
    let path = display.path.join(".");
    if let Some(row) = by_path(&path)? {
        return Ok(to_live(conn, row, None)?.map(Resolved::Live));
    }
    // `2.0` names section 2's preamble: show the section itself.
    if display.path.last().is_some_and(|c| c == "0") {
        let parent = display.path[..display.path.len() - 1].join(".");
        if let Some(row) = by_path(&parent)? {
            return Ok(to_live(conn, row, None)?.map(Resolved::Live));
        }
    }
    // One component more than a paragraph's path names a sentence.
    if let Some((last, head)) = display.path.split_last()
        && let Ok(n) = last.parse::<u32>()
        && let Some(row) = by_path(&head.join("."))?
        && row.kind == NodeKind::Paragraph.as_str()
    {
        return Ok(to_live(conn, row, Some(n))?.map(Resolved::Live));
    }
    Ok(None)
}
