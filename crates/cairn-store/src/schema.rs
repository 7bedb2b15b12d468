//! The on-disk format: one SQLite file, `kb.sqlite`, in WAL mode.
//!
//! The format version lives in `meta.format_version` (and `PRAGMA user_version`).
//! Opening a knowledge base with an older version migrates it in one transaction;
//! a newer version is refused with a clear message.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, StoreError};

/// The format this build writes.
pub const FORMAT_VERSION: u32 = 6;
/// The oldest format this build can migrate from.
pub const OLDEST_MIGRATABLE: u32 = 1;
/// SQLite `application_id` marking a Cairn knowledge base ("CARN").
pub const APPLICATION_ID: i32 = 0x4341_524E;

const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE documents (
    doc_id     INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    source     TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    format     TEXT NOT NULL,
    encoding   TEXT,
    file_hash  TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    pages      INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE TABLE nodes (
    stable_id    TEXT PRIMARY KEY,
    doc_id       INTEGER NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ord          INTEGER NOT NULL,
    end_ord      INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    parent       TEXT,
    path         TEXT NOT NULL,
    number_style TEXT,
    number       TEXT,
    title        TEXT,
    text         TEXT NOT NULL,
    page_first   INTEGER,
    page_last    INTEGER,
    sentences    TEXT NOT NULL,
    terms        TEXT NOT NULL
);
CREATE INDEX nodes_by_doc ON nodes(doc_id, ord);
CREATE TABLE retired (
    stable_id   TEXT PRIMARY KEY,
    doc_key     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    display     TEXT NOT NULL,
    section     TEXT,
    version     INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    successor   TEXT,
    retired_at  INTEGER NOT NULL
);
CREATE INDEX retired_by_doc ON retired(doc_key);
CREATE TABLE chunks (
    chunk_id TEXT PRIMARY KEY,
    doc_id   INTEGER NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    parent   TEXT,
    level    INTEGER NOT NULL,
    ord      INTEGER NOT NULL,
    members  TEXT NOT NULL,
    tokens   INTEGER NOT NULL,
    label    TEXT NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id, ord);
CREATE TABLE ingest_log (
    seq       INTEGER PRIMARY KEY,
    doc_key   TEXT NOT NULL,
    version   INTEGER NOT NULL,
    action    TEXT NOT NULL,
    added     INTEGER NOT NULL,
    changed   INTEGER NOT NULL,
    removed   INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    at        INTEGER NOT NULL
);
";

/// Format 2 adds document tags (space-separated), for metadata filters.
const MIGRATE_1_TO_2: &str = "ALTER TABLE documents ADD COLUMN tags TEXT NOT NULL DEFAULT '';";

/// Format 3 adds people's verdicts on answers, for preference training. `cited` holds the
/// stable IDs the answer cited (space-separated); `rejected` is the other answer of a
/// pairwise verdict.
const MIGRATE_2_TO_3: &str = "
CREATE TABLE feedback (
    id       INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer   TEXT NOT NULL,
    verdict  TEXT NOT NULL CHECK (verdict IN ('up', 'down', 'prefer')),
    rejected TEXT,
    cited    TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL
);
CREATE INDEX feedback_question ON feedback(question);
";

/// Format 4 adds durable ingestion jobs: an upload through any replica is a row here
/// until a worker has stored it (the payload is the file's bytes).
const MIGRATE_3_TO_4: &str = "
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    doc_key     TEXT,
    encoding    TEXT,
    payload     BLOB NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    worker      TEXT,
    result      TEXT,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    heartbeat_at INTEGER
);
CREATE INDEX jobs_by_status ON jobs(status, id);
";

/// Format 5 keeps paragraph vectors in the store, keyed by the embedding model and the
/// hash of the text embedded, so replicas and copies reuse them instead of embedding again.
const MIGRATE_4_TO_5: &str = "
CREATE TABLE embeddings (
    model     TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);
";

/// Format 6 keeps a document's original bytes where a viewer needs them (PDFs: the page
/// view renders the page and highlights where a cited sentence is on it), with the text
/// layer recognised on its scanned pages (`layer`, when OCRed). One row per
/// document, replaced with each version and deleted with it.
const MIGRATE_5_TO_6: &str = "
CREATE TABLE originals (
    doc_id INTEGER PRIMARY KEY REFERENCES documents(doc_id) ON DELETE CASCADE,
    bytes  BLOB NOT NULL,
    layer  TEXT
);
";

/// Prepares a connection: pragmas, then creates or migrates the schema.
pub(crate) fn init(conn: &mut Connection, path: &std::path::Path) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let has_tables: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))?;
    if !has_tables {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V1)?;
        tx.execute_batch(MIGRATE_1_TO_2)?;
        tx.execute_batch(MIGRATE_2_TO_3)?;
        tx.execute_batch(MIGRATE_3_TO_4)?;
        tx.execute_batch(MIGRATE_4_TO_5)?;
        tx.execute_batch(MIGRATE_5_TO_6)?;
        tx.execute("INSERT INTO meta(key, value) VALUES ('format_version', ?1)", params![FORMAT_VERSION.to_string()])?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", FORMAT_VERSION)?;
        tx.commit()?;
        tracing::info!(path = %path.display(), format = FORMAT_VERSION, "created knowledge base");
        return Ok(());
    }
    if app != APPLICATION_ID {
        return Err(StoreError::NotAKnowledgeBase { path: path.to_owned() });
    }
    let found: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'format_version'", [], |r| r.get(0)).optional()?;
    let found: u32 = found.and_then(|v| v.parse().ok()).unwrap_or(0);
    if found > FORMAT_VERSION {
        return Err(StoreError::TooNew { found, supported: FORMAT_VERSION });
    }
    if found < OLDEST_MIGRATABLE {
        return Err(StoreError::TooOld { found, oldest: OLDEST_MIGRATABLE });
    }
    // Migrations, one transaction each, in order.
    let mut version = found;
    while version < FORMAT_VERSION {
        let tx = conn.transaction()?;
        match version {
            1 => tx.execute_batch(MIGRATE_1_TO_2)?,
            2 => tx.execute_batch(MIGRATE_2_TO_3)?,
            3 => tx.execute_batch(MIGRATE_3_TO_4)?,
            4 => tx.execute_batch(MIGRATE_4_TO_5)?,
            5 => tx.execute_batch(MIGRATE_5_TO_6)?,
            other => return Err(StoreError::TooOld { found: other, oldest: OLDEST_MIGRATABLE }),
        }
        version += 1;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'format_version'", params![version.to_string()])?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(path = %path.display(), format = version, "migrated knowledge base");
    }
    Ok(())
}
