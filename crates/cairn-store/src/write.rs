//! Writes: one transaction per document update or removal.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::read::encode_sentences;
use crate::sql::{Dialect, Sql, params, row};
use crate::{RetireReason, now};
use cairn_core::version::Changes;
use cairn_core::{Chunk, DocKey, DocTree, Node, StableId, failpoint};

/// Everything needed to store a new version of one document.
pub struct DocumentUpdate<'a> {
    /// Where it came from (canonical path).
    pub source: &'a str,
    /// Format name.
    pub format: &'a str,
    /// Text encoding, for text formats.
    pub encoding: Option<&'a str>,
    /// Hash of the file bytes.
    pub file_hash: &'a str,
    /// File size.
    pub bytes: u64,
    /// The new tree (its key is the document's key).
    pub tree: &'a DocTree,
    /// Changes against the stored version, from ID assignment.
    pub changes: &'a Changes,
    /// The planned navigation chunks.
    pub chunks: &'a [Chunk],
    /// Index terms for a node; called only for nodes whose text is new or changed.
    pub terms: &'a mut dyn FnMut(&Node) -> String,
    /// The stored version this update was computed against (`None`: a new document).
    /// When the store holds another version (another replica wrote the document in the
    /// meantime), the update is refused with [`crate::StoreError::Conflict`] and nothing
    /// changes: stable IDs are only ever assigned against the version they replace.
    pub base_version: Option<u32>,
    /// The original file, kept for a viewer (the page view of PDFs); `None` deletes any
    /// stored one, so stored bytes always belong to the stored version.
    pub original: Option<&'a [u8]>,
    /// Where OCRed text sits on the original's scanned pages (kept with it).
    pub text_layer: Option<&'a str>,
}

impl std::fmt::Debug for DocumentUpdate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentUpdate").field("source", &self.source).field("key", &self.tree.key).finish()
    }
}

/// What an update wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The document's new version.
    pub version: u32,
    /// Node rows inserted.
    pub inserted: usize,
    /// Node rows updated in place (position, display path or whitespace changed).
    pub updated: usize,
    /// Node rows deleted (retired).
    pub deleted: usize,
    /// Chunk rows inserted.
    pub chunks_inserted: usize,
    /// Chunk rows deleted.
    pub chunks_deleted: usize,
}

/// The stored fields that matter for deciding whether a row must be rewritten.
#[derive(PartialEq)]
struct Stored {
    ord: u32,
    end: u32,
    parent: Option<String>,
    path: String,
    text: String,
    pages: (Option<u32>, Option<u32>),
    number: Option<String>,
    title: Option<String>,
}

fn stored_of(tree: &DocTree, i: usize, node: &Node) -> Stored {
    Stored {
        ord: i as u32,
        end: node.end,
        parent: node.parent.map(|p| tree.nodes[p as usize].id.to_string()),
        path: node.path.join("."),
        text: node.text.clone(),
        pages: (node.pages.map(|p| p.first), node.pages.map(|p| p.last)),
        number: node.heading.as_ref().and_then(|h| h.number.as_ref()).map(|n| n.dotted()),
        title: node.heading.as_ref().map(|h| h.title.clone()),
    }
}

/// The document row `key`, locked for this transaction on a server (SQLite's `BEGIN
/// IMMEDIATE` already holds the write lock).
fn document_row(tx: &mut dyn Sql, key: &str) -> Result<Option<(i64, u32)>> {
    let lock = if tx.dialect() == Dialect::Sqlite { "" } else { " FOR UPDATE" };
    row(tx, &format!("SELECT doc_id, version FROM documents WHERE key = ?1{lock}"), params![key])?
        .map(|r| Ok((r.int(0)?, r.u32(1)?)))
        .transpose()
}

/// Records a retired ID (replacing an earlier record of the same ID, which a re-used ID
/// can leave).
#[allow(clippy::too_many_arguments)]
fn retire(
    tx: &mut dyn Sql,
    id: &str,
    doc_key: &str,
    kind: &str,
    text: &str,
    display: String,
    section: Option<String>,
    version: u32,
    reason: RetireReason,
    successor: Option<String>,
) -> Result<()> {
    tx.exec("DELETE FROM retired WHERE stable_id = ?1", params![id])?;
    tx.exec(
        "INSERT INTO retired(stable_id, doc_key, kind, text, display, section, version, reason, successor, \
         retired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![id, doc_key, kind, text, display, section, version, reason.as_str(), successor, now()],
    )?;
    Ok(())
}

pub(crate) fn apply(db: &mut dyn Sql, update: DocumentUpdate<'_>) -> Result<ApplyReport> {
    let tree = update.tree;
    let _span = tracing::info_span!("store.apply", key = %tree.key, nodes = tree.nodes.len()).entered();
    crate::sql::transaction(db, |tx| apply_in(tx, update))
}

fn apply_in(tx: &mut dyn Sql, update: DocumentUpdate<'_>) -> Result<ApplyReport> {
    let tree = update.tree;
    let mut report = ApplyReport::default();
    let existing_doc = document_row(tx, tree.key.as_str())?;
    let stored = existing_doc.map(|(_, v)| v);
    if stored != update.base_version {
        return Err(crate::StoreError::Conflict {
            key: tree.key.to_string(),
            expected: update.base_version,
            found: stored,
        });
    }
    let doc_id = match existing_doc {
        Some((doc_id, version)) => {
            report.version = version + 1;
            tx.exec(
                "UPDATE documents SET source = ?2, title = ?3, format = ?4, encoding = ?5, file_hash = ?6, bytes = ?7, \
                 version = ?8, pages = ?9, updated_at = ?10 WHERE doc_id = ?1",
                params![
                    doc_id,
                    update.source,
                    tree.title.as_str(),
                    update.format,
                    update.encoding,
                    update.file_hash,
                    update.bytes as i64,
                    report.version,
                    tree.pages,
                    now()
                ],
            )?;
            doc_id
        }
        None => {
            report.version = 1;
            tx.insert_id(
                "INSERT INTO documents(key, source, title, format, encoding, file_hash, bytes, version, pages, \
                 updated_at, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, '')",
                params![
                    tree.key.as_str(),
                    update.source,
                    tree.title.as_str(),
                    update.format,
                    update.encoding,
                    update.file_hash,
                    update.bytes as i64,
                    tree.pages,
                    now()
                ],
                "doc_id",
            )?
        }
    };

    tx.exec("DELETE FROM originals WHERE doc_id = ?1", params![doc_id])?;
    if let Some(bytes) = update.original {
        tx.exec(
            "INSERT INTO originals(doc_id, bytes, layer) VALUES (?1, ?2, ?3)",
            params![doc_id, bytes, update.text_layer],
        )?;
    }

    // Current rows of this document.
    let mut old: HashMap<String, (Stored, String)> = HashMap::new();
    for r in tx.rows(
        "SELECT stable_id, ord, end_ord, parent, path, text, page_first, page_last, number, title, kind \
         FROM nodes WHERE doc_id = ?1",
        params![doc_id],
    )? {
        let stored = Stored {
            ord: r.u32(1)?,
            end: r.u32(2)?,
            parent: r.opt_text(3)?,
            path: r.text(4)?,
            text: r.text(5)?,
            pages: (r.opt_u32(6)?, r.opt_u32(7)?),
            number: r.opt_text(8)?,
            title: r.opt_text(9)?,
        };
        old.insert(r.text(0)?, (stored, r.text(10)?));
    }
    let new_ids: HashSet<&str> = tree.nodes.iter().map(|n| n.id.as_str()).collect();
    let successors: HashMap<&str, &StableId> =
        update.changes.changed.iter().map(|(old, new)| (old.as_str(), new)).collect();

    // Retire what is gone. Rows are deleted children-first: keep parents' titles around
    // for the retired records by reading them from `old` first.
    let gone: Vec<&String> = old.keys().filter(|id| !new_ids.contains(id.as_str())).collect();
    for id in &gone {
        let (stored, kind) = &old[*id];
        let section = stored.parent.as_ref().and_then(|p| old.get(p)).map(|(s, _)| s.text.clone());
        let (reason, successor) = match successors.get(id.as_str()) {
            Some(next) => (RetireReason::Edited, Some(next.to_string())),
            None => (RetireReason::Removed, None),
        };
        retire(
            tx,
            id,
            tree.key.as_str(),
            kind,
            &stored.text,
            format!("{}:{}", tree.key, stored.path),
            section,
            report.version,
            reason,
            successor,
        )?;
        tx.exec("DELETE FROM nodes WHERE stable_id = ?1", params![id.as_str()])?;
        report.deleted += 1;
    }

    for (i, node) in tree.nodes.iter().enumerate() {
        let row = stored_of(tree, i, node);
        match old.get(node.id.as_str()) {
            Some((stored, _)) if *stored == row => {}
            Some((stored, _)) => {
                let terms_changed = stored.text != row.text;
                write_node(
                    tx,
                    doc_id,
                    node,
                    &row,
                    if terms_changed { Some((update.terms)(node)) } else { None },
                    false,
                )?;
                report.updated += 1;
            }
            None => {
                write_node(tx, doc_id, node, &row, Some((update.terms)(node)), true)?;
                report.inserted += 1;
            }
        }
        if i == tree.nodes.len() / 2 {
            // Crash tests stop here: some rows of this version are written, not all.
            failpoint::hit("store.apply.mid_write");
        }
    }

    // Chunks: delete the ones no longer planned, insert new ones, refresh positions.
    let old_chunks: HashSet<String> = tx
        .rows("SELECT chunk_id FROM chunks WHERE doc_id = ?1", params![doc_id])?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let new_chunks: HashSet<&str> = update.chunks.iter().map(|c| c.id.0.as_str()).collect();
    for id in old_chunks.iter().filter(|id| !new_chunks.contains(id.as_str())) {
        tx.exec("DELETE FROM chunks WHERE chunk_id = ?1", params![id.as_str()])?;
        report.chunks_deleted += 1;
    }
    for (ord, chunk) in update.chunks.iter().enumerate() {
        if old_chunks.contains(&chunk.id.0) {
            tx.exec("UPDATE chunks SET ord = ?2 WHERE chunk_id = ?1 AND ord != ?2", params![chunk.id.0.as_str(), ord])?;
            continue;
        }
        let members: Vec<&str> = chunk.members.iter().map(StableId::as_str).collect();
        tx.exec(
            "INSERT INTO chunks(chunk_id, doc_id, parent, level, ord, members, tokens, label) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                chunk.id.0.as_str(),
                doc_id,
                chunk.parent.as_ref().map(|p| p.0.as_str()),
                chunk.level,
                ord,
                members.join(" "),
                chunk.tokens,
                chunk.label.as_str()
            ],
        )?;
        report.chunks_inserted += 1;
    }
    let c = update.changes;
    tx.exec(
        "INSERT INTO ingest_log(doc_key, version, action, added, changed, removed, unchanged, at) \
         VALUES (?1, ?2, 'ingest', ?3, ?4, ?5, ?6, ?7)",
        params![
            tree.key.as_str(),
            report.version,
            c.added.len() as i64,
            c.changed.len() as i64,
            c.removed.len() as i64,
            c.unchanged as i64,
            now()
        ],
    )?;
    failpoint::hit("store.apply.before_commit");
    tracing::info!(
        version = report.version,
        inserted = report.inserted,
        updated = report.updated,
        deleted = report.deleted,
        "stored"
    );
    Ok(report)
}

fn write_node(
    tx: &mut dyn Sql,
    doc_id: i64,
    node: &Node,
    row: &Stored,
    terms: Option<String>,
    insert: bool,
) -> Result<()> {
    let style = node.heading.as_ref().and_then(|h| h.number.as_ref()).map(|n| n.style.as_str());
    let sentences = encode_sentences(&node.sentences);
    if insert {
        tx.exec(
            "INSERT INTO nodes(stable_id, doc_id, ord, end_ord, kind, parent, path, number_style, number, title, text, \
             page_first, page_last, sentences, terms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                node.id.as_str(),
                doc_id,
                row.ord,
                row.end,
                node.kind.as_str(),
                &row.parent,
                row.path.as_str(),
                style,
                &row.number,
                &row.title,
                row.text.as_str(),
                row.pages.0,
                row.pages.1,
                sentences.as_str(),
                terms.unwrap_or_default()
            ],
        )?;
    } else {
        tx.exec(
            "UPDATE nodes SET ord = ?2, end_ord = ?3, parent = ?4, path = ?5, number_style = ?6, number = ?7, \
             title = ?8, text = ?9, page_first = ?10, page_last = ?11, sentences = ?12, \
             terms = coalesce(?13, terms) WHERE stable_id = ?1",
            params![
                node.id.as_str(),
                row.ord,
                row.end,
                &row.parent,
                row.path.as_str(),
                style,
                &row.number,
                &row.title,
                row.text.as_str(),
                row.pages.0,
                row.pages.1,
                sentences.as_str(),
                terms
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn remove(db: &mut dyn Sql, key: &DocKey) -> Result<usize> {
    crate::sql::transaction(db, |tx| remove_in(tx, key))
}

fn remove_in(tx: &mut dyn Sql, key: &DocKey) -> Result<usize> {
    let Some((doc_id, version)) = document_row(tx, key.as_str())? else {
        return Err(crate::StoreError::UnknownDocument { key: key.to_string() });
    };
    let nodes = tx.rows("SELECT stable_id, kind, text, path, parent FROM nodes WHERE doc_id = ?1", params![doc_id])?;
    let texts: HashMap<String, String> = nodes.iter().map(|r| Ok((r.text(0)?, r.text(2)?))).collect::<Result<_>>()?;
    for r in &nodes {
        let (id, kind, text, path, parent) = (r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.opt_text(4)?);
        let section = parent.and_then(|p| texts.get(&p).cloned());
        retire(
            tx,
            &id,
            key.as_str(),
            &kind,
            &text,
            format!("{key}:{path}"),
            section,
            version + 1,
            RetireReason::DocumentRemoved,
            None,
        )?;
    }
    tx.exec("DELETE FROM nodes WHERE doc_id = ?1", params![doc_id])?;
    tx.exec("DELETE FROM chunks WHERE doc_id = ?1", params![doc_id])?;
    tx.exec("DELETE FROM documents WHERE doc_id = ?1", params![doc_id])?;
    tx.exec(
        "INSERT INTO ingest_log(doc_key, version, action, added, changed, removed, unchanged, at) \
         VALUES (?1, ?2, 'remove', 0, 0, ?3, 0, ?4)",
        params![key.as_str(), version + 1, nodes.len(), now()],
    )?;
    Ok(nodes.len())
}
