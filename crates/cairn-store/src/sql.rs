//! The store seam: one small SQL interface that every backend implements, so reads,
//! writes and their one-transaction-per-update rule are written once.
//!
//! Statements are written in SQLite's dialect with numbered parameters (`?1`, `?2`, …) and
//! only portable SQL (no `INSERT OR REPLACE`, no `||`); [`translate`] adapts them to
//! PostgreSQL (`$1`) and MySQL/MariaDB (`?` in order, the `key` column quoted). Values are
//! always bound, never spliced into the text.

use crate::error::{Result, StoreError};

/// The SQL dialects the store speaks. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The name in URLs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }
}

/// A bound value. NULLs carry their type, which PostgreSQL needs for parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A NULL integer.
    NullInt,
    /// A NULL text.
    NullText,
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// Bytes (a blob; MySQL also reports binary-collated text as bytes).
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Option<u32>> for Value {
    fn from(v: Option<u32>) -> Self {
        v.map_or(Value::NullInt, Value::from)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Value::NullText, Value::from)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Value::NullText, Value::Text)
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        v.clone().into()
    }
}

/// Builds a parameter list: `params![a, b, c]`.
#[macro_export]
#[doc(hidden)]
macro_rules! __sql_params {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Value::from($v)),*][..] };
}
pub use crate::__sql_params as params;

/// One result row.
#[derive(Debug, Clone, Default)]
pub struct Row(pub(crate) Vec<Value>);

fn bad_column(i: usize, want: &str, got: &Value) -> StoreError {
    StoreError::Corrupt { table: "row", detail: format!("column {i}: expected {want}, found {got:?}") }
}

impl Row {
    fn get(&self, i: usize) -> Result<&Value> {
        self.0.get(i).ok_or_else(|| StoreError::Corrupt { table: "row", detail: format!("no column {i}") })
    }

    /// A text column.
    pub fn text(&self, i: usize) -> Result<String> {
        match self.get(i)? {
            Value::Text(s) => Ok(s.clone()),
            Value::Bytes(b) => String::from_utf8(b.clone()).map_err(|_| bad_column(i, "UTF-8 text", &Value::NullText)),
            other @ (Value::NullInt | Value::NullText | Value::Int(_)) => Err(bad_column(i, "text", other)),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i)? {
            Value::NullText | Value::NullInt => Ok(None),
            Value::Text(_) | Value::Bytes(_) => self.text(i).map(Some),
            other @ Value::Int(_) => Err(bad_column(i, "text or NULL", other)),
        }
    }

    /// A blob column.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        match self.get(i)? {
            Value::Bytes(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            other @ (Value::NullInt | Value::NullText | Value::Int(_)) => Err(bad_column(i, "bytes", other)),
        }
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            other @ (Value::NullInt | Value::NullText | Value::Text(_) | Value::Bytes(_)) => {
                Err(bad_column(i, "integer", other))
            }
        }
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            Value::Int(v) => Ok(Some(*v)),
            Value::NullText | Value::NullInt => Ok(None),
            other @ (Value::Text(_) | Value::Bytes(_)) => Err(bad_column(i, "integer or NULL", other)),
        }
    }

    /// An integer column that fits a `u32`.
    pub fn u32(&self, i: usize) -> Result<u32> {
        let v = self.int(i)?;
        u32::try_from(v).map_err(|_| bad_column(i, "a 32-bit count", &Value::Int(v)))
    }

    /// A nullable integer column that fits a `u32`.
    pub fn opt_u32(&self, i: usize) -> Result<Option<u32>> {
        self.opt_int(i)?
            .map(|v| u32::try_from(v).map_err(|_| bad_column(i, "a 32-bit count", &Value::Int(v))))
            .transpose()
    }
}

/// What every backend implements: statements, queries and explicit transactions on one
/// connection.
pub trait Sql {
    /// The dialect statements are translated to.
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; returns all its rows.
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs an `INSERT` into a table whose `column` is generated; returns its new value.
    fn insert_id(&mut self, sql: &str, params: &[Value], column: &str) -> Result<i64>;
    /// Starts a transaction (rolling back one a crashed caller left open).
    fn begin(&mut self) -> Result<()>;
    /// Commits it.
    fn commit(&mut self) -> Result<()>;
    /// Rolls it back.
    fn rollback(&mut self) -> Result<()>;
}

/// The first row of a query, if any.
pub fn row(db: &mut dyn Sql, sql: &str, params: &[Value]) -> Result<Option<Row>> {
    Ok(db.rows(sql, params)?.into_iter().next())
}

/// Runs `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
pub fn transaction<T>(db: &mut dyn Sql, f: impl FnOnce(&mut dyn Sql) -> Result<T>) -> Result<T> {
    transaction_with(db, f)
}

/// [`transaction`] for a caller with its own error type (one the store's converts into).
pub fn transaction_with<T, E: From<StoreError> + std::fmt::Display>(
    db: &mut dyn Sql,
    f: impl FnOnce(&mut dyn Sql) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    db.begin()?;
    match f(db) {
        Ok(v) => {
            db.commit()?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = db.rollback() {
                tracing::warn!(error = %rollback, cause = %e, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Adapts a statement written for SQLite (`?N` parameters) to `dialect`, with its
/// parameters in the order the dialect binds them.
#[cfg_attr(not(feature = "servers"), allow(dead_code))]
pub(crate) fn translate(dialect: Dialect, sql: &str, params: &[Value]) -> (String, Vec<Value>) {
    if dialect == Dialect::Sqlite {
        return (sql.to_owned(), params.to_vec());
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut order = Vec::new();
    let mut chars = sql.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
            out.push(c);
            continue;
        }
        if in_string {
            out.push(c);
            continue;
        }
        if c == '?' {
            let mut n = 0usize;
            while let Some(&(_, d)) = chars.peek() {
                let Some(digit) = d.to_digit(10) else { break };
                n = n * 10 + digit as usize;
                chars.next();
            }
            match dialect {
                Dialect::Postgres => out.push_str(&format!("${n}")),
                Dialect::MySql | Dialect::Sqlite => {
                    out.push('?');
                    order.push(n);
                }
            }
            continue;
        }
        // MySQL reserves `key`: quote it where it is a whole word.
        if dialect == Dialect::MySql && sql[i..].starts_with("key") {
            let before = sql[..i].chars().next_back();
            let after = sql[i + 3..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '`');
            if !word(before) && !word(after) {
                out.push_str("`key`");
                chars.next();
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    let params = match dialect {
        Dialect::MySql => order.iter().filter_map(|n| params.get(n.wrapping_sub(1)).cloned()).collect(),
        Dialect::Postgres | Dialect::Sqlite => params.to_vec(),
    };
    (out, params)
}

// --- SQLite ----------------------------------------------------------------------------

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::NullInt | Value::NullText => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl Sql for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::NullText,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Text(v.to_string()),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn insert_id(&mut self, sql: &str, params: &[Value], _column: &str) -> Result<i64> {
        self.exec(sql, params)?;
        Ok(self.last_insert_rowid())
    }

    fn begin(&mut self) -> Result<()> {
        if !self.is_autocommit() {
            self.execute_batch("ROLLBACK")?;
        }
        self.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.is_autocommit() {
            self.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_parameters_and_keeps_their_order() {
        let (sql, p) =
            translate(Dialect::Postgres, "UPDATE t SET a = ?2 WHERE key = ?1 AND b != '?3'", params![1i64, "x"]);
        assert_eq!(sql, "UPDATE t SET a = $2 WHERE key = $1 AND b != '?3'");
        assert_eq!(p, vec![Value::Int(1), Value::Text("x".into())]);
    }

    #[test]
    fn mysql_binds_in_occurrence_order_and_quotes_key() {
        let (sql, p) = translate(
            Dialect::MySql,
            "SELECT d.key, monkey, key_x FROM documents d WHERE d.key = ?2 AND x = ?1 AND y = ?2",
            params![1i64, "k"],
        );
        assert_eq!(sql, "SELECT d.`key`, monkey, key_x FROM documents d WHERE d.`key` = ? AND x = ? AND y = ?");
        assert_eq!(p, vec![Value::Text("k".into()), Value::Int(1), Value::Text("k".into())]);
    }

    #[test]
    fn sqlite_is_unchanged() {
        let (sql, p) = translate(Dialect::Sqlite, "SELECT ?1", params!["a"]);
        assert_eq!((sql.as_str(), p.len()), ("SELECT ?1", 1));
    }
}
