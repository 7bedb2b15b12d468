//! Replicas that converge: each `cairn serve` whose knowledge base lives on a database
//! server keeps its own in-memory indexes and follows the store's change log. Every
//! `follow_every` (200 ms by default) a follower reads the store's change mark (one small
//! query); when it moved, it takes the knowledge base's write lock and applies the change
//! ([`cairn_engine::Kb::follow`]): whole documents, each committed in one transaction, so a
//! half-applied document is never served. `/health` shows each knowledge base's applied
//! position and how far behind the store it is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_engine::Kb;
use cairn_store::ChangeMark;
use serde::Serialize;
use tokio::sync::RwLock;
use utoipa::ToSchema;

/// One knowledge base's replication state, as `/health` reports it.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub(crate) struct Replication {
    /// The knowledge base.
    pub kb: String,
    /// Changes applied to this replica's indexes (the store's change count when applied).
    pub applied_changes: i64,
    /// The highest change-log sequence number applied.
    pub applied_seq: i64,
    /// The store's highest sequence number when last read.
    pub store_seq: i64,
    /// Changes in the store not yet applied here, when last read.
    pub behind: i64,
    /// Milliseconds since the store was last read successfully (`None` before the first).
    pub checked_ms_ago: Option<u64>,
    /// Milliseconds the last change took from being seen to being applied.
    pub last_apply_ms: Option<f64>,
    /// The last error reading or applying the change log, if the latest attempt failed.
    pub error: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) checked_at: Option<Instant>,
}

impl Replication {
    /// The status with its age filled in.
    pub(crate) fn snapshot(&self) -> Replication {
        let mut out = self.clone();
        out.checked_ms_ago = self.checked_at.map(|t| t.elapsed().as_millis() as u64);
        out
    }
}

pub(crate) type Status = Arc<std::sync::Mutex<Replication>>;

/// One follow step, on a blocking thread: read the mark, apply if it moved.
fn step(kb: &RwLock<Kb>, status: &Status) {
    let read = || -> cairn_engine::Result<(ChangeMark, ChangeMark, bool)> {
        let kb = kb.blocking_read();
        Ok((kb.store_mark()?, kb.applied_mark(), kb.graph_behind()?))
    };
    let started = Instant::now();
    let outcome = read().and_then(|(store, applied, graph_behind)| {
        if store == applied && !graph_behind {
            return Ok((store, applied, None));
        }
        let followed = kb.blocking_write().follow()?;
        Ok((store, followed.mark, Some(started.elapsed().as_secs_f64() * 1000.0)))
    });
    let mut s = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match outcome {
        Ok((store, applied, took)) => {
            s.applied_changes = applied.changes;
            s.applied_seq = applied.head;
            s.store_seq = store.head;
            s.behind = (store.changes - applied.changes).max(0);
            s.checked_at = Some(Instant::now());
            if took.is_some() {
                s.last_apply_ms = took;
            }
            if s.error.take().is_some() {
                tracing::info!(kb = %s.kb, "following the store again");
            }
        }
        Err(e) => {
            if s.error.is_none() {
                tracing::warn!(kb = %s.kb, error = %e, "cannot follow the store; retrying");
            }
            s.error = Some(e.to_string());
        }
    }
}

/// Follows the store of `kb`: at once when the store announces a change (PostgreSQL's
/// `LISTEN/NOTIFY`), and at least every `every` (the only way on MySQL/MariaDB, and the
/// fallback while the listener reconnects). Runs on a thread of its own for the life of
/// the process.
pub(crate) fn spawn(kb: Arc<RwLock<Kb>>, status: Status, every: Duration) {
    let spawned = std::thread::Builder::new().name("cairn-follow".into()).spawn(move || {
        let listener = kb.blocking_read().change_listener();
        tracing::info!(notified = listener.is_notified(), "change listener ready");
        loop {
            listener.wait(every);
            let (kb, status) = (kb.clone(), status.clone());
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&kb, &status))).is_err() {
                tracing::warn!("a follow step panicked; the next one retries");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the follower");
    }
}
