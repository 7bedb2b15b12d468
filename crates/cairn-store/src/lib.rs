//! # cairn-store
//!
//! The knowledge base on disk (`--kb DIR`, default `./.cairn`): one SQLite file in WAL
//! mode that is the system of record for documents, their current nodes, every retired
//! stable ID (with its successor, so old citations can be followed), and the navigation
//! chunks planned at ingest time.
//!
//! Every document update is **one transaction** ([`Store::apply`]): a crash at any point
//! (the crash test kills the process with `kill -9` at a failpoint inside the write)
//! leaves the knowledge base exactly as it was before. Updates are incremental: only rows
//! whose content or position changed are written.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let store = cairn_store::Store::open(dir.path()).unwrap();
//! assert!(store.documents().unwrap().is_empty());
//! ```

mod copy;
mod error;
pub mod feedback;
pub mod jobs;
mod read;
mod schema;
#[cfg(feature = "servers")]
pub mod server;
pub mod sql;
mod vectors;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_core::{DocKey, StableId};
use rusqlite::Connection;

pub use crate::copy::CopyReport;
pub use crate::error::{Result, StoreError};
pub use crate::read::{LiveNode, LoadedDocument, Resolved, RetiredNode};
pub use crate::schema::FORMAT_VERSION;
pub use crate::sql::Dialect;
pub use crate::write::{ApplyReport, DocumentUpdate};

/// File name of the database inside the knowledge base directory.
pub const DB_FILE: &str = "kb.sqlite";

/// One stored document's metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DocumentRecord {
    /// Internal row ID.
    pub doc_id: i64,
    /// The document's key.
    pub key: DocKey,
    /// Where it was ingested from.
    pub source: String,
    /// Title.
    pub title: String,
    /// Format name (`txt`, `md`, `html`, `pdf`).
    pub format: String,
    /// Text encoding, for text formats.
    pub encoding: Option<String>,
    /// Hash of the file's bytes.
    pub file_hash: String,
    /// File size.
    pub bytes: u64,
    /// Version, starting at 1 and bumped by every ingest that changed something.
    pub version: u32,
    /// Page count, for paged formats.
    pub pages: Option<u32>,
    /// Unix time of the last update.
    pub updated_at: i64,
    /// Number of live nodes.
    pub nodes: u64,
    /// Tags, for metadata filters.
    pub tags: Vec<String>,
}

/// Why a stable ID stopped being live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireReason {
    /// The node's text was edited; the successor holds the new text.
    Edited,
    /// The node was deleted from its document.
    Removed,
    /// The whole document was removed from the knowledge base.
    DocumentRemoved,
}

impl RetireReason {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RetireReason::Edited => "edited",
            RetireReason::Removed => "removed",
            RetireReason::DocumentRemoved => "document removed",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "edited" => Some(RetireReason::Edited),
            "removed" => Some(RetireReason::Removed),
            "document removed" => Some(RetireReason::DocumentRemoved),
            _ => None,
        }
    }
}

/// Where a knowledge base's system of record lives: parsed from `--store` / `store =`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded default: `kb.sqlite` in this directory (`sqlite:DIR`).
    Sqlite(PathBuf),
    /// A database server: `postgres://…` or `mysql://…` (`mariadb://…` is an alias).
    Server(String),
}

impl StoreUrl {
    /// Parses `sqlite:DIR`, a bare directory, `postgres://…` or `mysql://…`.
    pub fn parse(s: &str) -> Result<StoreUrl> {
        let s = s.trim();
        if let Some(dir) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            return Ok(StoreUrl::Sqlite(PathBuf::from(dir)));
        }
        for scheme in ["postgres://", "postgresql://", "mysql://", "mariadb://"] {
            if s.starts_with(scheme) {
                return Ok(StoreUrl::Server(s.to_owned()));
            }
        }
        if s.contains("://") {
            return Err(StoreError::InvalidInput {
                detail: format!("unknown store URL {s:?} (expected sqlite:DIR, postgres://… or mysql://…)"),
            });
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(s)))
    }
}

/// A position in the store's change log ([`Store::change_mark`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChangeMark {
    /// Changes logged.
    pub changes: i64,
    /// The highest sequence number.
    pub head: i64,
}

/// Wakes a follower when the store changes: on PostgreSQL, a `LISTEN` on the
/// notifications the change log's trigger sends at commit; elsewhere it only waits (the
/// follower polls).
#[derive(Debug)]
pub struct ChangeListener {
    notified: Option<std::sync::mpsc::Receiver<()>>,
}

impl ChangeListener {
    /// Waits until a change is announced or `timeout` passes; returns whether one was.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        match &self.notified {
            Some(rx) => {
                let got = rx.recv_timeout(timeout).is_ok();
                while rx.try_recv().is_ok() {}
                got
            }
            None => {
                std::thread::sleep(timeout);
                false
            }
        }
    }

    /// Whether changes are announced (PostgreSQL), not only polled for.
    pub fn is_notified(&self) -> bool {
        self.notified.is_some()
    }
}

/// The connection of one backend.
#[derive(Debug)]
enum Backend {
    Sqlite(Connection),
    #[cfg(feature = "servers")]
    Server(Box<server::ServerDb>),
}

impl Backend {
    fn sql(&mut self) -> &mut dyn sql::Sql {
        match self {
            Backend::Sqlite(c) => c,
            #[cfg(feature = "servers")]
            Backend::Server(s) => s.as_mut(),
        }
    }
}

/// An open knowledge base.
#[derive(Debug)]
pub struct Store {
    /// Behind a mutex so a store (and a knowledge base) can be shared by reader threads;
    /// writers take `&mut self` and reach it without locking.
    db: Mutex<Backend>,
    dir: PathBuf,
    dialect: Dialect,
}

/// A document's original file, kept for the page view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Where OCRed text sits on its scanned pages (`cairn_ingest::locate`'s layer format).
    pub text_layer: Option<String>,
}

impl Store {
    /// The connection, for readers. A panic while it was held leaves the database
    /// consistent (an open transaction is rolled back by the next `begin`), so a poisoned
    /// lock is still usable.
    fn db(&self) -> std::sync::MutexGuard<'_, Backend> {
        self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection, for writers (exclusive already).
    fn db_mut(&mut self) -> &mut dyn sql::Sql {
        self.db.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).sql()
    }

    /// Opens (creating if needed) the knowledge base in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        schema::init(&mut conn, &path).map_err(|e| {
            let not_a_database = matches!(&e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::NotADatabase);
            if not_a_database { StoreError::NotAKnowledgeBase { path: path.clone() } } else { e }
        })?;
        Ok(Store { db: Mutex::new(Backend::Sqlite(conn)), dir: dir.to_owned(), dialect: Dialect::Sqlite })
    }

    /// Opens the knowledge base `url` names. `dir` holds what stays on this machine (the
    /// vector and keyword indexes, the graph); with a SQLite URL it is the URL's own
    /// directory. A server URL needs the `servers` feature.
    pub fn open_url(url: &StoreUrl, dir: &Path) -> Result<Store> {
        match url {
            StoreUrl::Sqlite(path) => Store::open(path),
            #[cfg(feature = "servers")]
            StoreUrl::Server(url) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
                let mut db = server::ServerDb::connect(url)?;
                server::init(&mut db)?;
                let dialect = sql::Sql::dialect(&db);
                Ok(Store { db: Mutex::new(Backend::Server(Box::new(db))), dir: dir.to_owned(), dialect })
            }
            #[cfg(not(feature = "servers"))]
            StoreUrl::Server(url) => {
                let _ = dir;
                Err(StoreError::InvalidInput {
                    detail: format!(
                        "{} needs a build with the `servers` feature (cargo build --features servers)",
                        url.split("://").next().unwrap_or("this store")
                    ),
                })
            }
        }
    }

    /// The dialect of the backend.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A second connection to the same database, for a part of the knowledge base that
    /// keeps its own tables and transactions (the graph). On SQLite that part lives in its
    /// own file, `sqlite_file` in the knowledge base directory (WAL, so readers never block
    /// the writer); on a server it is the same database as the store's.
    pub fn connect_another(&self, sqlite_file: &str) -> Result<Box<dyn sql::Sql + Send>> {
        match &*self.db() {
            Backend::Sqlite(_) => {
                let path = self.dir.join(sqlite_file);
                let conn = Connection::open(&path)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Box::new(conn))
            }
            #[cfg(feature = "servers")]
            Backend::Server(db) => Ok(Box::new(server::ServerDb::connect(db.url())?)),
        }
    }

    /// A listener that wakes a follower when another process changes this store.
    pub fn change_listener(&self) -> ChangeListener {
        match &*self.db() {
            #[cfg(feature = "servers")]
            Backend::Server(db) if self.dialect == Dialect::Postgres => {
                ChangeListener { notified: Some(server::listen_for_changes(db.url())) }
            }
            _ => ChangeListener { notified: None },
        }
    }

    /// The knowledge base directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All documents, by key.
    pub fn documents(&self) -> Result<Vec<DocumentRecord>> {
        read::documents(self.db().sql(), None)
    }

    /// The document with `key`.
    pub fn document(&self, key: &DocKey) -> Result<Option<DocumentRecord>> {
        Ok(read::documents(self.db().sql(), Some(read::DocFilter::Key(key.as_str())))?.pop())
    }

    /// The document ingested from `source`.
    pub fn document_by_source(&self, source: &str) -> Result<Option<DocumentRecord>> {
        Ok(read::documents(self.db().sql(), Some(read::DocFilter::Source(source)))?.pop())
    }

    /// Loads a document's tree, index terms and chunks.
    pub fn load(&self, key: &DocKey) -> Result<LoadedDocument> {
        read::load(self.db().sql(), key)
    }

    /// The original file of document `key`'s stored version, when it was kept (PDFs).
    pub fn original(&self, key: &DocKey) -> Result<Option<Original>> {
        crate::sql::row(
            self.db().sql(),
            "SELECT o.bytes, o.layer FROM originals o JOIN documents d ON d.doc_id = o.doc_id WHERE d.key = ?1",
            crate::sql::params![key.as_str()],
        )?
        .map(|r| Ok(Original { bytes: r.bytes(0)?, text_layer: r.opt_text(1)? }))
        .transpose()
    }

    /// Every stable ID `key` has ever used (live and retired).
    pub fn id_history(&self, key: &DocKey) -> Result<std::collections::HashSet<StableId>> {
        read::id_history(self.db().sql(), key)
    }

    /// Resolves a stable or display ID to a live node, or to a retired record.
    pub fn resolve(&self, node: &cairn_core::NodeRef) -> Result<Option<Resolved>> {
        read::resolve(self.db().sql(), node)
    }

    /// The text of a live node (paragraphs, sections, documents and sentences).
    pub fn node_text(&self, id: &StableId) -> Result<Option<String>> {
        read::node_text(self.db().sql(), id)
    }

    /// Applies one document update in a single transaction.
    pub fn apply(&mut self, update: DocumentUpdate<'_>) -> Result<ApplyReport> {
        write::apply(self.db_mut(), update)
    }

    /// Replaces a document's tags (logged in the ingest log, so other replicas follow).
    pub fn set_tags(&mut self, key: &DocKey, tags: &[String]) -> Result<()> {
        sql::transaction(self.db_mut(), |tx| {
            let found = sql::row(tx, "SELECT version FROM documents WHERE key = ?1", sql::params![key.as_str()])?;
            let Some(version) = found.map(|r| r.u32(0)).transpose()? else {
                return Err(StoreError::UnknownDocument { key: key.to_string() });
            };
            tx.exec("UPDATE documents SET tags = ?2 WHERE key = ?1", sql::params![key.as_str(), tags.join(" ")])?;
            tx.exec(
                "INSERT INTO ingest_log(doc_key, version, action, added, changed, removed, unchanged, at) \
                 VALUES (?1, ?2, 'tags', 0, 0, 0, 0, ?3)",
                sql::params![key.as_str(), version, now()],
            )?;
            Ok(())
        })
    }

    /// Checks that the store answers (one trivial query): `Unavailable` when a database
    /// server is down.
    pub fn ping(&self) -> Result<()> {
        sql::row(self.db().sql(), "SELECT 1", &[])?;
        Ok(())
    }

    /// Where the store's change log stands: the number of logged changes and the highest
    /// sequence number. Every committed document change (ingest, edit, removal, tags)
    /// moves it, in the same transaction as the change itself; a replica whose applied
    /// mark differs re-reads [`Store::versions`]. The count catches a change that
    /// committed late with a lower sequence number.
    pub fn change_mark(&self) -> Result<ChangeMark> {
        let r = sql::row(self.db().sql(), "SELECT count(*), coalesce(max(seq), 0) FROM ingest_log", &[])?;
        let (changes, head) = match r {
            Some(r) => (r.int(0)?, r.int(1)?),
            None => (0, 0),
        };
        Ok(ChangeMark { changes, head })
    }

    /// Every document's key, version and tags, by key: what a replica compares with what
    /// it holds in memory.
    pub fn versions(&self) -> Result<Vec<(DocKey, u32, Vec<String>)>> {
        let rows = self.db().sql().rows("SELECT key, version, tags FROM documents ORDER BY key", &[])?;
        rows.iter()
            .map(|r| {
                let key = DocKey::new(&r.text(0)?)
                    .map_err(|e| StoreError::Corrupt { table: "documents", detail: e.to_string() })?;
                Ok((key, r.u32(1)?, r.text(2)?.split_whitespace().map(str::to_owned).collect()))
            })
            .collect()
    }

    /// Records a verdict on an answer; returns its row id.
    pub fn record_feedback(&mut self, feedback: &feedback::Feedback) -> Result<i64> {
        feedback::record(self.db_mut(), feedback)
    }

    /// Every recorded verdict, oldest first.
    pub fn feedback(&self) -> Result<Vec<feedback::Feedback>> {
        feedback::all(self.db().sql())
    }

    /// Removes a document, retiring all its IDs, in one transaction.
    pub fn remove(&mut self, key: &DocKey) -> Result<usize> {
        write::remove(self.db_mut(), key)
    }
}

impl cairn_core::NodeLookup for Store {
    fn node_text(&self, id: &StableId) -> Option<std::borrow::Cow<'_, str>> {
        match read::node_text(self.db().sql(), id) {
            Ok(text) => text.map(std::borrow::Cow::Owned),
            Err(e) => {
                tracing::warn!(error = %e, id = %id, "node lookup failed");
                None
            }
        }
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
