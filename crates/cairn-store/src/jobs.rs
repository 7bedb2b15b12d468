//! Durable ingestion jobs: an upload through any replica is a row in the store until a
//! worker has stored it, so no broker is needed. Workers claim jobs with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL and MySQL/MariaDB (SQLite's `BEGIN IMMEDIATE` already serialises
//! writers); a job whose worker stopped beating is queued again, and running it again is
//! harmless because ingesting the same bytes under the same source is idempotent.

use crate::error::{Result, StoreError};
use crate::sql::{Dialect, Row, params, row, transaction};
use crate::{Store, now};

/// A job's state. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker has it.
    Running,
    /// Stored; `result` says what changed.
    Done,
    /// Gave up; `error` says why (the file could not be ingested, or too many attempts).
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn from_name(s: &str) -> Option<JobStatus> {
        [JobStatus::Queued, JobStatus::Running, JobStatus::Done, JobStatus::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

/// What to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// The file name (its extension picks the format; it names the source `upload:NAME`).
    pub name: String,
    /// The document key, if the caller chose one.
    pub key: Option<String>,
    /// The text encoding, if the caller named one.
    pub encoding: Option<String>,
    /// The file's bytes.
    pub payload: Vec<u8>,
}

/// A claimed job: what a worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job's ID.
    pub id: i64,
    /// Attempts so far, this one included.
    pub attempt: u32,
    /// What to ingest.
    pub request: JobRequest,
}

/// A job as `GET /v1/kbs/{kb}/jobs/{id}` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRecord {
    /// The job's ID.
    pub id: i64,
    /// `ingest`.
    pub kind: String,
    /// The file name.
    pub name: String,
    /// `queued`, `running`, `done` or `failed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: JobStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// The worker running or last running it.
    pub worker: Option<String>,
    /// When done: the outcome as JSON text (what the synchronous upload returns).
    pub result: Option<String>,
    /// When failed: why.
    pub error: Option<String>,
    /// Unix times.
    pub created_at: i64,
    /// When a worker last started it.
    pub started_at: Option<i64>,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// Whether a server rolled the transaction back to break a deadlock or a serialization
/// conflict (InnoDB's 1213, SQLSTATE 40001; PostgreSQL's 40P01): the work can simply run
/// again. Two workers claiming at once on MariaDB meet this under load.
fn is_deadlock(e: &StoreError) -> bool {
    let StoreError::Server { detail, .. } = e else { return false };
    ["1213", "40001", "40P01", "Deadlock"].iter().any(|code| detail.contains(code))
}

/// Runs `f` again (up to 5 times, with a short growing pause) when the server broke a
/// deadlock by rolling it back.
fn retry_on_deadlock<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0u32;
    loop {
        match f() {
            Err(e) if is_deadlock(&e) && attempt < 5 => {
                attempt += 1;
                tracing::info!(attempt, error = %e, "deadlock broken by the server; running the job step again");
                std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
            }
            other => return other,
        }
    }
}

const JOB_COLUMNS: &str =
    "id, kind, name, status, attempts, worker, result, error, created_at, started_at, finished_at";

fn job_row(r: &Row) -> Result<JobRecord> {
    let status = r.text(3)?;
    Ok(JobRecord {
        id: r.int(0)?,
        kind: r.text(1)?,
        name: r.text(2)?,
        status: JobStatus::from_name(&status)
            .ok_or_else(|| StoreError::Corrupt { table: "jobs", detail: format!("status {status:?}") })?,
        attempts: r.u32(4)?,
        worker: r.opt_text(5)?,
        result: r.opt_text(6)?,
        error: r.opt_text(7)?,
        created_at: r.int(8)?,
        started_at: r.opt_int(9)?,
        finished_at: r.opt_int(10)?,
    })
}

/// Attempts after which a job that keeps losing its worker is failed, not retried.
pub const MAX_ATTEMPTS: u32 = 5;

impl Store {
    /// Queues an ingestion job; returns its ID.
    pub fn enqueue(&mut self, request: &JobRequest) -> Result<i64> {
        if request.payload.is_empty() {
            return Err(StoreError::InvalidInput { detail: "the upload is empty".into() });
        }
        self.db_mut().insert_id(
            "INSERT INTO jobs(kind, name, doc_key, encoding, payload, status, attempts, created_at) \
             VALUES ('ingest', ?1, ?2, ?3, ?4, 'queued', 0, ?5)",
            params![
                request.name.as_str(),
                request.key.clone(),
                request.encoding.clone(),
                request.payload.as_slice(),
                now()
            ],
            "id",
        )
    }

    /// Claims the oldest queued job for `worker`, if there is one. First, jobs whose
    /// worker has not beaten for `stale_after_s` seconds are queued again (or failed after
    /// [`MAX_ATTEMPTS`]).
    pub fn claim(&mut self, worker: &str, stale_after_s: i64) -> Result<Option<ClaimedJob>> {
        retry_on_deadlock(|| self.claim_once(worker, stale_after_s))
    }

    fn claim_once(&mut self, worker: &str, stale_after_s: i64) -> Result<Option<ClaimedJob>> {
        let db = self.db_mut();
        let skip_locked = if db.dialect() == Dialect::Sqlite { "" } else { " FOR UPDATE SKIP LOCKED" };
        transaction(db, |tx| {
            let t = now();
            tx.exec(
                "UPDATE jobs SET status = 'failed', error = 'its worker stopped too many times', finished_at = ?1 \
                 WHERE status = 'running' AND heartbeat_at < ?2 AND attempts >= ?3",
                params![t, t - stale_after_s, MAX_ATTEMPTS],
            )?;
            let requeued = tx.exec(
                "UPDATE jobs SET status = 'queued', worker = NULL WHERE status = 'running' AND heartbeat_at < ?1",
                params![t - stale_after_s],
            )?;
            if requeued > 0 {
                tracing::warn!(requeued, "jobs of stopped workers queued again");
            }
            let found = row(
                tx,
                &format!(
                    "SELECT id, attempts, name, doc_key, encoding, payload FROM jobs WHERE status = 'queued' \
                     ORDER BY id LIMIT 1{skip_locked}"
                ),
                &[],
            )?;
            let Some(r) = found else { return Ok(None) };
            let id = r.int(0)?;
            let attempt = r.u32(1)? + 1;
            tx.exec(
                "UPDATE jobs SET status = 'running', attempts = ?2, worker = ?3, started_at = ?4, heartbeat_at = ?4 \
                 WHERE id = ?1",
                params![id, attempt, worker, t],
            )?;
            Ok(Some(ClaimedJob {
                id,
                attempt,
                request: JobRequest {
                    name: r.text(2)?,
                    key: r.opt_text(3)?,
                    encoding: r.opt_text(4)?,
                    payload: r.bytes(5)?,
                },
            }))
        })
    }

    /// Records that `worker` still runs job `id`.
    pub fn heartbeat(&mut self, id: i64, worker: &str) -> Result<()> {
        self.db_mut().exec(
            "UPDATE jobs SET heartbeat_at = ?3 WHERE id = ?1 AND worker = ?2 AND status = 'running'",
            params![id, worker, now()],
        )?;
        Ok(())
    }

    /// Finishes job `id`: `Ok(result JSON)` or `Err(why)`. The payload is dropped.
    pub fn finish(&mut self, id: i64, outcome: std::result::Result<String, String>) -> Result<()> {
        let (status, result, error) = match outcome {
            Ok(result) => (JobStatus::Done, Some(result), None),
            Err(error) => (JobStatus::Failed, None, Some(error)),
        };
        retry_on_deadlock(|| {
            self.db_mut().exec(
                "UPDATE jobs SET status = ?2, result = ?3, error = ?4, finished_at = ?5, payload = ?6 WHERE id = ?1",
                params![id, status.as_str(), result.clone(), error.clone(), now(), &b""[..]],
            )
        })?;
        Ok(())
    }

    /// One job's record.
    pub fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        row(self.db().sql(), &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"), params![id])?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    /// The most recent jobs, newest first.
    pub fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let rows = self
            .db()
            .sql()
            .rows(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"), params![limit])?;
        rows.iter().map(job_row).collect()
    }
}

#[cfg(test)]
mod deadlock_tests {
    use super::*;

    #[test]
    fn a_broken_deadlock_is_retried_and_other_errors_are_not() {
        let mut calls = 0;
        let deadlock = || StoreError::Server {
            backend: "mysql",
            detail: "1213 (40001): Deadlock found when trying to get lock".into(),
        };
        let got = retry_on_deadlock(|| {
            calls += 1;
            if calls < 3 { Err(deadlock()) } else { Ok(calls) }
        });
        assert_eq!(got.unwrap_or(0), 3);
        let mut calls = 0;
        let other = retry_on_deadlock(|| -> Result<()> {
            calls += 1;
            Err(StoreError::InvalidInput { detail: "no".into() })
        });
        assert!(other.is_err());
        assert_eq!(calls, 1, "only a deadlock is retried");
    }
}
