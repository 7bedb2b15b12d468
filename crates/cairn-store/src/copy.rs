//! Moving a knowledge base between stores (`cairn kb copy --from … --to …`): every table
//! row for row, stable IDs, retired IDs, the ingest log and feedback intact, in one
//! transaction on the target; then every document is loaded from both sides and compared.

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{Row, Sql, Value};

/// What a copy moved and checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Documents.
    pub documents: usize,
    /// Live nodes.
    pub nodes: usize,
    /// Navigation chunks.
    pub chunks: usize,
    /// Retired IDs.
    pub retired: usize,
    /// Ingest-log rows.
    pub log: usize,
    /// Feedback verdicts.
    pub feedback: usize,
    /// Stored paragraph vectors.
    pub embeddings: usize,
    /// Original files kept for the page view.
    pub originals: usize,
    /// Documents whose tree, terms, chunks and metadata were compared equal after the copy.
    pub verified: usize,
}

/// Column types, so NULLs are bound with the type the target needs.
#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Int,
    Text,
    Blob,
}
use Ty::{Blob, Int, Text};

const DOCUMENT_COLUMNS: &[(&str, Ty)] = &[
    ("key", Text),
    ("source", Text),
    ("title", Text),
    ("format", Text),
    ("encoding", Text),
    ("file_hash", Text),
    ("bytes", Int),
    ("version", Int),
    ("pages", Int),
    ("updated_at", Int),
    ("tags", Text),
];
const NODE_COLUMNS: &[(&str, Ty)] = &[
    ("doc_id", Int),
    ("stable_id", Text),
    ("ord", Int),
    ("end_ord", Int),
    ("kind", Text),
    ("parent", Text),
    ("path", Text),
    ("number_style", Text),
    ("number", Text),
    ("title", Text),
    ("text", Text),
    ("page_first", Int),
    ("page_last", Int),
    ("sentences", Text),
    ("terms", Text),
];
const CHUNK_COLUMNS: &[(&str, Ty)] = &[
    ("doc_id", Int),
    ("chunk_id", Text),
    ("parent", Text),
    ("level", Int),
    ("ord", Int),
    ("members", Text),
    ("tokens", Int),
    ("label", Text),
];
const RETIRED_COLUMNS: &[(&str, Ty)] = &[
    ("stable_id", Text),
    ("doc_key", Text),
    ("kind", Text),
    ("text", Text),
    ("display", Text),
    ("section", Text),
    ("version", Int),
    ("reason", Text),
    ("successor", Text),
    ("retired_at", Int),
];
const LOG_COLUMNS: &[(&str, Ty)] = &[
    ("doc_key", Text),
    ("version", Int),
    ("action", Text),
    ("added", Int),
    ("changed", Int),
    ("removed", Int),
    ("unchanged", Int),
    ("at", Int),
];
const FEEDBACK_COLUMNS: &[(&str, Ty)] =
    &[("question", Text), ("answer", Text), ("verdict", Text), ("rejected", Text), ("cited", Text), ("at", Int)];

const ORIGINAL_COLUMNS: &[(&str, Ty)] = &[("doc_id", Int), ("bytes", Blob), ("layer", Text)];
const EMBEDDING_COLUMNS: &[(&str, Ty)] = &[("model", Text), ("text_hash", Text), ("dim", Int), ("vector", Blob)];

fn select(columns: &[(&str, Ty)]) -> String {
    columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

fn insert_sql(table: &str, columns: &[(&str, Ty)]) -> String {
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO {table}({}) VALUES ({})", select(columns), marks.join(", "))
}

fn typed(row: &Row, columns: &[(&str, Ty)]) -> Vec<Value> {
    row.0
        .iter()
        .zip(columns)
        .map(|(v, (_, ty))| match (v, ty) {
            (Value::NullInt | Value::NullText, Int) => Value::NullInt,
            (Value::NullInt | Value::NullText, Text | Blob) => Value::NullText,
            (Value::Text(t), Blob) => Value::Bytes(t.clone().into_bytes()),
            // MySQL reports binary-collated text as bytes: store it as text again.
            (Value::Bytes(b), Text) => Value::Text(String::from_utf8_lossy(b).into_owned()),
            (v @ (Value::Int(_) | Value::Text(_) | Value::Bytes(_)), _) => v.clone(),
        })
        .collect()
}

/// Copies one table's rows; `doc_id` (column 0 when `map` is given) is rewritten to the
/// target's ID of the same document.
fn copy_rows(
    src: &mut dyn Sql,
    dst: &mut dyn Sql,
    table: &str,
    columns: &[(&str, Ty)],
    order: &str,
    map: Option<&std::collections::HashMap<i64, i64>>,
) -> Result<usize> {
    let rows = src.rows(&format!("SELECT {} FROM {table} ORDER BY {order}", select(columns)), &[])?;
    let sql = insert_sql(table, columns);
    for row in &rows {
        let mut values = typed(row, columns);
        if let Some(map) = map {
            let old = row.int(0)?;
            let new = map.get(&old).ok_or_else(|| StoreError::Corrupt {
                table: "documents",
                detail: format!("{table} row of unknown document {old}"),
            })?;
            values[0] = Value::Int(*new);
        }
        dst.exec(&sql, &values)?;
    }
    Ok(rows.len())
}

impl Store {
    /// Copies this knowledge base into `dst`, which must be empty, then verifies it.
    pub fn copy_to(&self, dst: &mut Store) -> Result<CopyReport> {
        if !dst.documents()?.is_empty() || !dst.feedback()?.is_empty() {
            return Err(StoreError::InvalidInput { detail: "the target knowledge base is not empty".into() });
        }
        let _span = tracing::info_span!("store.copy", from = self.dialect.name(), to = dst.dialect.name()).entered();
        let mut report = CopyReport::default();
        {
            let mut guard = self.db();
            let src = guard.sql();
            crate::sql::transaction(dst.db_mut(), |dst| {
                let mut ids = std::collections::HashMap::new();
                let docs = src.rows(
                    &format!("SELECT doc_id, {} FROM documents ORDER BY doc_id", select(DOCUMENT_COLUMNS)),
                    &[],
                )?;
                let sql = insert_sql("documents", DOCUMENT_COLUMNS);
                for row in &docs {
                    let values = typed(&Row(row.0[1..].to_vec()), DOCUMENT_COLUMNS);
                    let new = dst.insert_id(&sql, &values, "doc_id")?;
                    ids.insert(row.int(0)?, new);
                }
                report.documents = docs.len();
                report.nodes = copy_rows(src, dst, "nodes", NODE_COLUMNS, "doc_id, ord", Some(&ids))?;
                report.chunks = copy_rows(src, dst, "chunks", CHUNK_COLUMNS, "doc_id, ord", Some(&ids))?;
                report.retired = copy_rows(src, dst, "retired", RETIRED_COLUMNS, "stable_id", None)?;
                report.log = copy_rows(src, dst, "ingest_log", LOG_COLUMNS, "seq", None)?;
                report.feedback = copy_rows(src, dst, "feedback", FEEDBACK_COLUMNS, "id", None)?;
                report.embeddings = copy_rows(src, dst, "embeddings", EMBEDDING_COLUMNS, "model, text_hash", None)?;
                report.originals = copy_rows(src, dst, "originals", ORIGINAL_COLUMNS, "doc_id", Some(&ids))?;
                Ok(())
            })?;
        }
        // Verify: every document as the engine loads it, every retired record, every verdict.
        for record in self.documents()? {
            let a = self.load(&record.key)?;
            let b = dst.load(&record.key)?;
            let same = a.tree == b.tree
                && self.original(&record.key)? == dst.original(&record.key)?
                && a.terms == b.terms
                && a.chunks == b.chunks
                && (a.record.source, a.record.version, a.record.file_hash, a.record.tags, a.record.title)
                    == (b.record.source, b.record.version, b.record.file_hash, b.record.tags, b.record.title);
            if !same {
                return Err(StoreError::Corrupt {
                    table: "documents",
                    detail: format!("`{}` differs after the copy", record.key),
                });
            }
            let retired = |s: &Store| -> Result<Vec<Row>> {
                s.db().sql().rows(
                    &format!("SELECT {} FROM retired WHERE doc_key = ?1 ORDER BY stable_id", select(RETIRED_COLUMNS)),
                    crate::sql::params![record.key.as_str()],
                )
            };
            let (ra, rb) = (retired(self)?, retired(dst)?);
            if ra.iter().map(|r| typed(r, RETIRED_COLUMNS)).ne(rb.iter().map(|r| typed(r, RETIRED_COLUMNS))) {
                return Err(StoreError::Corrupt {
                    table: "retired",
                    detail: format!("retired IDs of `{}` differ after the copy", record.key),
                });
            }
            report.verified += 1;
        }
        let strip = |all: Vec<crate::feedback::Feedback>| {
            all.into_iter().map(|f| (f.question, f.answer, f.verdict, f.cited, f.at)).collect::<Vec<_>>()
        };
        if strip(self.feedback()?) != strip(dst.feedback()?) {
            return Err(StoreError::Corrupt { table: "feedback", detail: "feedback differs after the copy".into() });
        }
        let count = |s: &Store| -> Result<i64> {
            crate::sql::row(s.db().sql(), "SELECT count(*) FROM embeddings", &[])?.map_or(Ok(0), |r| r.int(0))
        };
        if count(dst)? != report.embeddings as i64 {
            return Err(StoreError::Corrupt { table: "embeddings", detail: "vectors differ after the copy".into() });
        }
        tracing::info!(documents = report.documents, nodes = report.nodes, "copied");
        Ok(report)
    }
}
