//! Paragraph vectors in the store (format 5), keyed by the embedding model and a hash of
//! the text embedded. They are derived data, but expensive to derive: a replica that
//! follows another's ingest, a copy, or a machine whose vector files were lost reads them
//! here instead of running the model again.

use std::collections::HashMap;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{Dialect, Value};

/// How many hashes one `IN (…)` lookup names.
const LOOKUP_BATCH: usize = 200;

fn hash_text(hash: u64) -> String {
    format!("{hash:016x}")
}

fn decode(bytes: &[u8], dim: usize) -> Option<Vec<f32>> {
    (bytes.len() == dim * 4)
        .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Store {
    /// The stored vectors of `model` for the given text hashes (those it has).
    pub fn embeddings(&self, model: &str, hashes: &[u64]) -> Result<HashMap<u64, Vec<f32>>> {
        let mut out = HashMap::new();
        let mut guard = self.db();
        let db = guard.sql();
        for batch in hashes.chunks(LOOKUP_BATCH) {
            let marks: Vec<String> = (2..batch.len() + 2).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "SELECT text_hash, dim, vector FROM embeddings WHERE model = ?1 AND text_hash IN ({})",
                marks.join(", ")
            );
            let mut params = vec![Value::from(model)];
            params.extend(batch.iter().map(|h| Value::Text(hash_text(*h))));
            for row in db.rows(&sql, &params)? {
                let hash = u64::from_str_radix(&row.text(0)?, 16)
                    .map_err(|e| StoreError::Corrupt { table: "embeddings", detail: e.to_string() })?;
                let dim = usize::try_from(row.int(1)?).unwrap_or(0);
                match decode(&row.bytes(2)?, dim) {
                    Some(v) => {
                        out.insert(hash, v);
                    }
                    None => {
                        tracing::warn!(model, hash = %hash_text(hash), "stored vector has the wrong length; ignored")
                    }
                }
            }
        }
        Ok(out)
    }

    /// Stores vectors of `model` by text hash, in one transaction; a vector another
    /// process stored first is kept (the same text gives the same vector).
    pub fn put_embeddings(&self, model: &str, items: &[(u64, &[f32])]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "INSERT OR IGNORE INTO embeddings(model, text_hash, dim, vector) VALUES (?1, ?2, ?3, ?4)"
            }
            Dialect::Postgres => {
                "INSERT INTO embeddings(model, text_hash, dim, vector) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
            }
            Dialect::MySql => "INSERT IGNORE INTO embeddings(model, text_hash, dim, vector) VALUES (?1, ?2, ?3, ?4)",
        };
        let mut guard = self.db();
        crate::sql::transaction(guard.sql(), |db| {
            for (hash, v) in items {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                db.exec(
                    sql,
                    &[Value::from(model), Value::Text(hash_text(*hash)), Value::from(v.len()), Value::Bytes(bytes)],
                )?;
            }
            Ok(())
        })
    }

    /// How many vectors the store holds for `model` (all models when `None`).
    pub fn embedding_count(&self, model: Option<&str>) -> Result<usize> {
        let mut guard = self.db();
        let row = match model {
            Some(m) => crate::sql::row(
                guard.sql(),
                "SELECT count(*) FROM embeddings WHERE model = ?1",
                crate::sql::params![m],
            )?,
            None => crate::sql::row(guard.sql(), "SELECT count(*) FROM embeddings", &[])?,
        };
        Ok(row.map_or(Ok(0), |r| r.int(0))?.try_into().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_first_writer_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = [1.0f32, -2.5, 3.25];
        store.put_embeddings("m", &[(7, &a[..]), (u64::MAX, &[0.5, 0.5, 0.5][..])]).unwrap();
        store.put_embeddings("m", &[(7, &[9.0, 9.0, 9.0][..])]).unwrap();
        let got = store.embeddings("m", &[7, 8, u64::MAX]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&7], a.to_vec(), "the first vector stored is kept");
        assert!(store.embeddings("other", &[7]).unwrap().is_empty(), "vectors are per model");
        assert_eq!(store.embedding_count(Some("m")).unwrap(), 2);
    }
}
