//! PostgreSQL and MySQL/MariaDB backends (feature `servers`), through sqlx's `Any` driver
//! on a private current-thread tokio runtime: the store's API stays synchronous, and the
//! server crate calls it from blocking tasks as it does SQLite.
//!
//! One connection per open store, behind the store's mutex, like SQLite's. Every
//! statement has a timeout (`CAIRN_STORE_TIMEOUT_MS`, default 10 s), so a stalled server
//! fails a request instead of hanging it.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyTypeInfoKind};
use sqlx::{Connection as _, Row as _, ValueRef as _};

use crate::error::{Result, StoreError};
use crate::sql::{Dialect, Row, Sql, Value, translate};

/// An open connection to a database server.
pub(crate) struct ServerDb {
    rt: tokio::runtime::Runtime,
    conn: Option<sqlx::AnyConnection>,
    url: String,
    dialect: Dialect,
    timeout: Duration,
    in_tx: bool,
}

impl std::fmt::Debug for ServerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDb").field("url", &redact(&self.url)).field("dialect", &self.dialect).finish()
    }
}

/// Starts a thread that listens for `cairn_changes` on a PostgreSQL database and sends
/// one message per notification; it reconnects after a lost connection and ends once the
/// receiver is gone.
pub(crate) fn listen_for_changes(url: &str) -> std::sync::mpsc::Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = url.to_owned();
    let spawned = std::thread::Builder::new().name("cairn-listen".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            loop {
                let connected = async {
                    let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                    listener.listen("cairn_changes").await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match connected.await {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for changes yet; polling meanwhile");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                tracing::debug!(url = %redact(&url), "listening for changes");
                loop {
                    match listener.recv().await {
                        Ok(_) => {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "change listener lost its connection");
                            break;
                        }
                    }
                }
            }
        });
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the change listener; polling only");
    }
    rx
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..s], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn backend_error(dialect: Dialect, e: impl std::fmt::Display) -> StoreError {
    StoreError::Server { backend: dialect.name(), detail: e.to_string() }
}

/// The dialect a URL names, if it names a server.
pub(crate) fn dialect_of(url: &str) -> Option<Dialect> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Dialect::Postgres)
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Some(Dialect::MySql)
    } else {
        None
    }
}

fn timeout() -> Duration {
    let ms = std::env::var("CAIRN_STORE_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    Duration::from_millis(ms)
}

impl ServerDb {
    /// Connects to `url` (`postgres://…` or `mysql://…`).
    pub(crate) fn connect(url: &str) -> Result<ServerDb> {
        sqlx::any::install_default_drivers();
        let dialect = dialect_of(url)
            .ok_or_else(|| StoreError::InvalidInput { detail: format!("not a server URL: {}", redact(url)) })?;
        let url = url.replacen("mariadb://", "mysql://", 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .enable_io()
            .build()
            .map_err(|e| backend_error(dialect, e))?;
        let mut db = ServerDb { rt, conn: None, url, dialect, timeout: timeout(), in_tx: false };
        db.reconnect()?;
        Ok(db)
    }

    /// The URL it connects to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn reconnect(&mut self) -> Result<()> {
        let options: AnyConnectOptions = self.url.parse().map_err(|e| backend_error(self.dialect, e))?;
        let timeout = self.timeout;
        let conn = self
            .rt
            .block_on(async { tokio::time::timeout(timeout, sqlx::AnyConnection::connect_with(&options)).await })
            .map_err(|_| StoreError::Unavailable {
                backend: self.dialect.name(),
                detail: format!("no connection to {} within {timeout:?}", redact(&self.url)),
            })?
            .map_err(|e| StoreError::Unavailable { backend: self.dialect.name(), detail: e.to_string() })?;
        self.conn = Some(conn);
        if self.dialect == Dialect::MySql {
            // ANSI quotes off, strict mode on: fail rather than truncate.
            self.exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'", &[])?;
        }
        Ok(())
    }

    /// Makes sure there is a live connection, reconnecting (outside a transaction) after a
    /// failure.
    fn conn(&mut self) -> Result<()> {
        if self.conn.is_none() {
            if self.in_tx {
                return Err(StoreError::Unavailable {
                    backend: self.dialect.name(),
                    detail: "the connection was lost inside a transaction".into(),
                });
            }
            self.reconnect()?;
        }
        Ok(())
    }

    /// Runs one database future with the timeout; a failed or timed-out call drops the
    /// connection, so the next call reconnects.
    fn run<T>(
        &mut self,
        f: impl for<'c> FnOnce(
            &'c mut sqlx::AnyConnection,
        ) -> std::pin::Pin<Box<dyn Future<Output = sqlx::Result<T>> + Send + 'c>>,
    ) -> Result<T> {
        let (dialect, timeout) = (self.dialect, self.timeout);
        self.conn()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(StoreError::Unavailable { backend: dialect.name(), detail: "no connection".into() });
        };
        let fut = f(conn);
        let out = self.rt.block_on(async { tokio::time::timeout(timeout, fut).await });
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let lost = matches!(
                    e,
                    sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::Protocol(_)
                );
                if lost {
                    self.conn = None;
                    return Err(StoreError::Unavailable { backend: dialect.name(), detail: e.to_string() });
                }
                Err(backend_error(dialect, e))
            }
            Err(_) => {
                self.conn = None;
                Err(StoreError::Unavailable {
                    backend: dialect.name(),
                    detail: format!("no answer within {timeout:?}"),
                })
            }
        }
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    params: &'q [Value],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for p in params {
        q = match p {
            Value::NullInt => q.bind(None::<i64>),
            Value::NullText => q.bind(None::<String>),
            Value::Int(v) => q.bind(*v),
            Value::Text(s) => q.bind(s.as_str()),
            Value::Bytes(b) => q.bind(b.as_slice()),
        };
    }
    q
}

fn decode(row: &sqlx::any::AnyRow) -> std::result::Result<Row, sqlx::Error> {
    let mut values = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            values.push(Value::NullText);
            continue;
        }
        let kind = raw.type_info().kind();
        values.push(match kind {
            AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                Value::Int(row.try_get::<i64, _>(i)?)
            }
            AnyTypeInfoKind::Bool => Value::Int(i64::from(row.try_get::<bool, _>(i)?)),
            AnyTypeInfoKind::Blob => Value::Bytes(row.try_get::<Vec<u8>, _>(i)?),
            AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => Value::Text(row.try_get::<f64, _>(i)?.to_string()),
            AnyTypeInfoKind::Text | AnyTypeInfoKind::Null => Value::Text(row.try_get::<String, _>(i)?),
        });
    }
    Ok(Row(values))
}

impl Sql for ServerDb {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let (sql, params) = translate(self.dialect, sql, params);
        self.run(move |c| {
            Box::pin(async move {
                let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &params);
                Ok(sqlx::Executor::execute(c, q).await?.rows_affected())
            })
        })
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let (sql, params) = translate(self.dialect, sql, params);
        self.run(move |c| {
            Box::pin(async move {
                let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &params);
                let rows = sqlx::Executor::fetch_all(c, q).await?;
                rows.iter().map(decode).collect()
            })
        })
    }

    fn insert_id(&mut self, sql: &str, params: &[Value], column: &str) -> Result<i64> {
        match self.dialect {
            Dialect::Postgres => {
                let rows = self.rows(&format!("{sql} RETURNING {column}"), params)?;
                rows.first()
                    .map_or_else(|| Err(backend_error(self.dialect, "INSERT … RETURNING gave no row")), |r| r.int(0))
            }
            Dialect::MySql | Dialect::Sqlite => {
                let (sql, params) = translate(self.dialect, sql, params);
                let id = self.run(move |c| {
                    Box::pin(async move {
                        let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &params);
                        Ok(sqlx::Executor::execute(c, q).await?.last_insert_id())
                    })
                })?;
                id.ok_or_else(|| backend_error(self.dialect, "the server reported no inserted ID"))
            }
        }
    }

    fn begin(&mut self) -> Result<()> {
        if self.in_tx {
            // A caller that panicked mid-transaction left it open.
            let _ = self.exec("ROLLBACK", &[]);
            self.in_tx = false;
        }
        self.exec("BEGIN", &[])?;
        self.in_tx = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let out = self.exec("COMMIT", &[]);
        self.in_tx = false;
        out.map(|_| ())
    }

    fn rollback(&mut self) -> Result<()> {
        self.in_tx = false;
        if self.conn.is_none() {
            return Ok(()); // the server already rolled it back with the connection
        }
        self.exec("ROLLBACK", &[]).map(|_| ())
    }
}

/// PostgreSQL's tables, format [`crate::FORMAT_VERSION`]. Text compared and ordered
/// bytewise (`COLLATE "C"`), as SQLite does.
const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE documents (
        doc_id BIGSERIAL PRIMARY KEY, key TEXT COLLATE \"C\" NOT NULL UNIQUE,
        source TEXT COLLATE \"C\" NOT NULL UNIQUE, title TEXT NOT NULL, format TEXT NOT NULL, encoding TEXT,
        file_hash TEXT NOT NULL, bytes BIGINT NOT NULL, version BIGINT NOT NULL, pages BIGINT,
        updated_at BIGINT NOT NULL, tags TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE nodes (
        stable_id TEXT COLLATE \"C\" PRIMARY KEY,
        doc_id BIGINT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        ord BIGINT NOT NULL, end_ord BIGINT NOT NULL, kind TEXT NOT NULL, parent TEXT COLLATE \"C\",
        path TEXT COLLATE \"C\" NOT NULL, number_style TEXT, number TEXT, title TEXT, text TEXT NOT NULL,
        page_first BIGINT, page_last BIGINT, sentences TEXT NOT NULL, terms TEXT NOT NULL)",
    "CREATE INDEX nodes_by_doc ON nodes(doc_id, ord)",
    "CREATE TABLE retired (
        stable_id TEXT COLLATE \"C\" PRIMARY KEY, doc_key TEXT COLLATE \"C\" NOT NULL, kind TEXT NOT NULL,
        text TEXT NOT NULL, display TEXT NOT NULL, section TEXT, version BIGINT NOT NULL, reason TEXT NOT NULL,
        successor TEXT COLLATE \"C\", retired_at BIGINT NOT NULL)",
    "CREATE INDEX retired_by_doc ON retired(doc_key)",
    "CREATE TABLE chunks (
        chunk_id TEXT COLLATE \"C\" PRIMARY KEY,
        doc_id BIGINT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        parent TEXT COLLATE \"C\", level BIGINT NOT NULL, ord BIGINT NOT NULL, members TEXT NOT NULL,
        tokens BIGINT NOT NULL, label TEXT NOT NULL)",
    "CREATE INDEX chunks_by_doc ON chunks(doc_id, ord)",
    "CREATE TABLE ingest_log (
        seq BIGSERIAL PRIMARY KEY, doc_key TEXT NOT NULL, version BIGINT NOT NULL, action TEXT NOT NULL,
        added BIGINT NOT NULL, changed BIGINT NOT NULL, removed BIGINT NOT NULL, unchanged BIGINT NOT NULL,
        at BIGINT NOT NULL)",
    "CREATE TABLE feedback (
        id BIGSERIAL PRIMARY KEY, question TEXT NOT NULL, answer TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down', 'prefer')), rejected TEXT,
        cited TEXT NOT NULL DEFAULT '', at BIGINT NOT NULL)",
    "CREATE INDEX feedback_question ON feedback(question)",
    POSTGRES_JOBS,
    "CREATE INDEX jobs_by_status ON jobs(status, id)",
];

/// Format 5 on PostgreSQL: the knowledge graph's tables (which live in a file of their own
/// next to a SQLite store) and paragraph vectors by model and text hash.
const POSTGRES_5: &[&str] = &[
    "CREATE TABLE graph_meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE graph_nodes (id BIGINT PRIMARY KEY, labels TEXT NOT NULL, props TEXT NOT NULL)",
    "CREATE TABLE graph_rels (
        id BIGINT PRIMARY KEY, type TEXT COLLATE \"C\" NOT NULL, src BIGINT NOT NULL, dst BIGINT NOT NULL,
        props TEXT NOT NULL)",
    "CREATE TABLE graph_indexes (
        label TEXT COLLATE \"C\" NOT NULL, key TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (label, key))",
    "CREATE TABLE embeddings (
        model TEXT COLLATE \"C\" NOT NULL, text_hash TEXT COLLATE \"C\" NOT NULL, dim BIGINT NOT NULL,
        vector BYTEA NOT NULL, PRIMARY KEY (model, text_hash))",
    // Replicas wake on a change instead of waiting for their next poll: every change-log
    // row and every graph write notifies `cairn_changes` when its transaction commits.
    "CREATE FUNCTION cairn_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('cairn_changes', TG_TABLE_NAME); RETURN NULL; END $$",
    "CREATE TRIGGER ingest_log_notify AFTER INSERT ON ingest_log
        FOR EACH STATEMENT EXECUTE FUNCTION cairn_notify_change()",
    "CREATE TRIGGER graph_meta_notify AFTER UPDATE ON graph_meta
        FOR EACH STATEMENT EXECUTE FUNCTION cairn_notify_change()",
];

/// Format 5 on MySQL/MariaDB.
const MYSQL_5: &[&str] = &[
    "CREATE TABLE graph_meta (`key` VARCHAR(191) PRIMARY KEY, value LONGTEXT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE graph_nodes (id BIGINT PRIMARY KEY, labels LONGTEXT NOT NULL, props LONGTEXT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE graph_rels (
        id BIGINT PRIMARY KEY, type VARCHAR(191) NOT NULL, src BIGINT NOT NULL, dst BIGINT NOT NULL,
        props LONGTEXT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE graph_indexes (
        label VARCHAR(191) NOT NULL, `key` VARCHAR(191) NOT NULL, PRIMARY KEY (label, `key`))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE embeddings (
        model VARCHAR(191) NOT NULL, text_hash VARCHAR(32) NOT NULL, dim BIGINT NOT NULL,
        vector LONGBLOB NOT NULL, PRIMARY KEY (model, text_hash))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

/// Format 6's originals table (a document's original bytes, for the page view).
const POSTGRES_6: &str = "CREATE TABLE originals (
        doc_id BIGINT PRIMARY KEY REFERENCES documents(doc_id) ON DELETE CASCADE, bytes BYTEA NOT NULL,
        layer TEXT)";

/// Format 6 on MySQL/MariaDB.
const MYSQL_6: &str = "CREATE TABLE originals (
        doc_id BIGINT PRIMARY KEY, bytes LONGBLOB NOT NULL, layer LONGTEXT,
        FOREIGN KEY (doc_id) REFERENCES documents(doc_id) ON DELETE CASCADE)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// The rows format 5 starts with.
const FORMAT_5_ROWS: &[&str] = &[
    "INSERT INTO graph_meta(key, value) VALUES ('format', '1')",
    "INSERT INTO graph_meta(key, value) VALUES ('generation', '0')",
];

/// Format 4's jobs table on PostgreSQL (also the 3 → 4 migration).
const POSTGRES_JOBS: &str = "CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, doc_key TEXT, encoding TEXT,
        payload BYTEA NOT NULL, status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, worker TEXT,
        result TEXT, error TEXT, created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,
        heartbeat_at BIGINT)";

/// Format 4's jobs table on MySQL/MariaDB.
const MYSQL_JOBS: &str = "CREATE TABLE jobs (
        id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(32) NOT NULL, name VARCHAR(255) NOT NULL,
        doc_key VARCHAR(255), encoding VARCHAR(64), payload LONGBLOB NOT NULL, status VARCHAR(16) NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0, worker VARCHAR(255), result LONGTEXT, error LONGTEXT,
        created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT, heartbeat_at BIGINT,
        INDEX jobs_by_status (status, id))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// MySQL/MariaDB's tables (InnoDB, utf8mb4, binary collation so text compares as SQLite's
/// does). Keys are `VARCHAR`s short enough for InnoDB's index limit.
const MYSQL_SCHEMA: &[&str] = &[
    "CREATE TABLE meta (`key` VARCHAR(191) PRIMARY KEY, value LONGTEXT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE documents (
        doc_id BIGINT AUTO_INCREMENT PRIMARY KEY, `key` VARCHAR(255) NOT NULL UNIQUE,
        source VARCHAR(768) NOT NULL UNIQUE, title LONGTEXT NOT NULL, format VARCHAR(32) NOT NULL,
        encoding VARCHAR(64), file_hash VARCHAR(128) NOT NULL, bytes BIGINT NOT NULL, version BIGINT NOT NULL,
        pages BIGINT, updated_at BIGINT NOT NULL, tags LONGTEXT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE nodes (
        stable_id VARCHAR(191) PRIMARY KEY,
        doc_id BIGINT NOT NULL, ord BIGINT NOT NULL, end_ord BIGINT NOT NULL, kind VARCHAR(32) NOT NULL,
        parent VARCHAR(191), path VARCHAR(512) NOT NULL, number_style VARCHAR(32), number VARCHAR(255),
        title LONGTEXT, text LONGTEXT NOT NULL, page_first BIGINT, page_last BIGINT, sentences LONGTEXT NOT NULL,
        terms LONGTEXT NOT NULL, INDEX nodes_by_doc (doc_id, ord), INDEX nodes_by_path (path),
        FOREIGN KEY (doc_id) REFERENCES documents(doc_id) ON DELETE CASCADE)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE retired (
        stable_id VARCHAR(191) PRIMARY KEY, doc_key VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL,
        text LONGTEXT NOT NULL, display LONGTEXT NOT NULL, section LONGTEXT, version BIGINT NOT NULL,
        reason VARCHAR(32) NOT NULL, successor VARCHAR(191), retired_at BIGINT NOT NULL,
        INDEX retired_by_doc (doc_key))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE chunks (
        chunk_id VARCHAR(255) PRIMARY KEY, doc_id BIGINT NOT NULL, parent VARCHAR(255), level BIGINT NOT NULL,
        ord BIGINT NOT NULL, members LONGTEXT NOT NULL, tokens BIGINT NOT NULL, label LONGTEXT NOT NULL,
        INDEX chunks_by_doc (doc_id, ord),
        FOREIGN KEY (doc_id) REFERENCES documents(doc_id) ON DELETE CASCADE)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE ingest_log (
        seq BIGINT AUTO_INCREMENT PRIMARY KEY, doc_key VARCHAR(255) NOT NULL, version BIGINT NOT NULL,
        action VARCHAR(16) NOT NULL, added BIGINT NOT NULL, changed BIGINT NOT NULL, removed BIGINT NOT NULL,
        unchanged BIGINT NOT NULL, at BIGINT NOT NULL)
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE feedback (
        id BIGINT AUTO_INCREMENT PRIMARY KEY, question LONGTEXT NOT NULL, answer LONGTEXT NOT NULL,
        verdict VARCHAR(16) NOT NULL CHECK (verdict IN ('up', 'down', 'prefer')), rejected LONGTEXT,
        cited LONGTEXT NOT NULL, at BIGINT NOT NULL, INDEX feedback_question (question(191)))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    MYSQL_JOBS,
];

/// Creates the tables in an empty database, or checks the format of an existing one.
pub(crate) fn init(db: &mut ServerDb) -> Result<()> {
    let exists = match db.dialect {
        Dialect::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                              AND table_name = 'meta'"
        }
        Dialect::MySql | Dialect::Sqlite => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'meta'"
        }
    };
    let found = crate::sql::row(db, exists, &[])?.map(|r| r.int(0)).transpose()?.unwrap_or(0);
    if found == 0 {
        let schema = match db.dialect {
            Dialect::Postgres => POSTGRES_SCHEMA,
            Dialect::MySql | Dialect::Sqlite => MYSQL_SCHEMA,
        };
        // PostgreSQL creates tables transactionally; MySQL commits each DDL statement, so
        // `meta` is written last: a half-created schema has no format row and is rebuilt.
        let (format_5, format_6) = match db.dialect {
            Dialect::Postgres => (POSTGRES_5, POSTGRES_6),
            Dialect::MySql | Dialect::Sqlite => (MYSQL_5, MYSQL_6),
        };
        crate::sql::transaction(db, |db| {
            for ddl in schema.iter().skip(1).chain(format_5).chain([&format_6]) {
                db.exec(ddl, &[])?;
            }
            for row in FORMAT_5_ROWS {
                db.exec(row, &[])?;
            }
            db.exec(schema[0], &[])?;
            db.exec(
                "INSERT INTO meta(key, value) VALUES ('format_version', ?1)",
                crate::sql::params![crate::FORMAT_VERSION.to_string()],
            )?;
            Ok(())
        })?;
        tracing::info!(url = %redact(&db.url), format = crate::FORMAT_VERSION, "created knowledge base");
        return Ok(());
    }
    let version = crate::sql::row(db, "SELECT value FROM meta WHERE key = 'format_version'", &[])?
        .map(|r| r.text(0))
        .transpose()?
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if version > crate::FORMAT_VERSION {
        return Err(StoreError::TooNew { found: version, supported: crate::FORMAT_VERSION });
    }
    if version < 3 {
        // Server stores start at format 3; older formats exist only in SQLite files.
        return Err(StoreError::TooOld { found: version, oldest: 3 });
    }
    if version == 3 {
        let (jobs, index) = match db.dialect {
            Dialect::Postgres => (POSTGRES_JOBS, Some("CREATE INDEX jobs_by_status ON jobs(status, id)")),
            Dialect::MySql | Dialect::Sqlite => (MYSQL_JOBS, None),
        };
        crate::sql::transaction(db, |db| {
            db.exec(jobs, &[])?;
            if let Some(index) = index {
                db.exec(index, &[])?;
            }
            db.exec("UPDATE meta SET value = '4' WHERE key = 'format_version'", &[])?;
            Ok(())
        })?;
        tracing::info!(url = %redact(&db.url), format = 4, "migrated knowledge base");
    }
    if version <= 4 {
        let tables = match db.dialect {
            Dialect::Postgres => POSTGRES_5,
            Dialect::MySql | Dialect::Sqlite => MYSQL_5,
        };
        crate::sql::transaction(db, |db| {
            for ddl in tables {
                db.exec(ddl, &[])?;
            }
            for row in FORMAT_5_ROWS {
                db.exec(row, &[])?;
            }
            db.exec("UPDATE meta SET value = '5' WHERE key = 'format_version'", &[])?;
            Ok(())
        })?;
        tracing::info!(url = %redact(&db.url), format = 5, "migrated knowledge base");
    }
    if version <= 5 {
        let table = match db.dialect {
            Dialect::Postgres => POSTGRES_6,
            Dialect::MySql | Dialect::Sqlite => MYSQL_6,
        };
        crate::sql::transaction(db, |db| {
            db.exec(table, &[])?;
            db.exec("UPDATE meta SET value = '6' WHERE key = 'format_version'", &[])?;
            Ok(())
        })?;
        tracing::info!(url = %redact(&db.url), format = 6, "migrated knowledge base");
    }
    Ok(())
}

/// Creates the database `name` on the server at `url` (connecting to that URL's own
/// database to do it) and returns the URL of the new one. For tests and `cairn kb copy`.
pub fn create_database(url: &str, name: &str) -> Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::InvalidInput { detail: format!("bad database name {name:?}") });
    }
    let mut db = ServerDb::connect(url)?;
    let ddl = match db.dialect {
        Dialect::Postgres => format!("CREATE DATABASE {name}"),
        Dialect::MySql | Dialect::Sqlite => {
            format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        }
    };
    db.exec(&ddl, &[])?;
    Ok(with_database(url, name))
}

/// Drops the database `name` on the server at `url`, if it exists.
pub fn drop_database(url: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::InvalidInput { detail: format!("bad database name {name:?}") });
    }
    let mut db = ServerDb::connect(url)?;
    if db.dialect == Dialect::Postgres {
        db.exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])?;
    } else {
        db.exec(&format!("DROP DATABASE IF EXISTS {name}"), &[])?;
    }
    Ok(())
}

/// `url` with its database path replaced by `name` (query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let start = base.find("://").map_or(0, |i| i + 3);
    let cut = base[start..].find('/').map_or(base.len(), |i| start + i);
    let mut out = format!("{}/{name}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
