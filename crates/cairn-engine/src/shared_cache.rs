//! The search result cache on Redis (`cache = "redis://…"`, feature `servers`), shared by
//! every replica of a knowledge base, with the in-process cache's exact invalidation.
//!
//! Each entry carries the change mark (the store's change count) of the replica that
//! computed it and what it depends on (node IDs, query terms, the dense query vector and
//! its weakest similarity). Each replica that writes publishes a change record (the IDs it
//! retired, the terms and vectors of its new nodes) under the mark after its commit. A
//! replica whose indexes are at mark R accepts an entry computed at mark E only when:
//! * E ≤ R (an entry from a replica that is ahead may show text this one does not have);
//! * every change in (E, R] has been published (the highest published mark is ≥ R) and is
//!   still kept (E is not below the oldest kept record); and
//! * none of those changes touches the entry (the in-process rule, `cache::affected`).
//!
//! So an entry written late by a replica that had not yet applied a change is still
//! refused: validation happens on read, not only by deleting on write. Entries expire after
//! `cache_ttl_s`; Redis's own `maxmemory` (with `allkeys-lru`) caps the memory.
//!
//! When Redis is down or slow (no answer within 250 ms), the cache is bypassed: the search
//! runs as if nothing were cached, a warning is logged once per outage, the `bypassed`
//! counter rises, and after a one-second pause the next call tries Redis again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_index::cache::{Dependencies, Touched, TouchedNode};
use serde::{Deserialize, Serialize};

use crate::kb::SharedCacheStats;
use crate::search::SearchResults;

/// Change records kept in Redis; entries older than the oldest kept one are refused.
const KEEP_CHANGES: isize = 10_000;
/// An entry larger than this is not shared.
const MAX_ENTRY_BYTES: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Entry {
    mark: i64,
    nodes: Vec<String>,
    terms: Vec<String>,
    dense: Option<(Vec<f32>, f32)>,
    value: SearchResults,
}

#[derive(Serialize, Deserialize)]
struct Change {
    mark: i64,
    /// Touches every entry (tags changed: filters may now match differently).
    #[serde(default)]
    all: bool,
    gone: Vec<String>,
    new: Vec<(Vec<String>, Option<Vec<f32>>)>,
}

/// What a lookup reads to validate an older entry: the newest change record (with its
/// mark), the oldest mark still kept, and the change records since the entry.
type Validation = (Vec<(Vec<u8>, f64)>, Option<i64>, Vec<Vec<u8>>);

/// A connection to Redis for one knowledge base.
pub(crate) struct SharedCache {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    prefix: String,
    ttl_s: u64,
    timeout: Duration,
    down_until: Mutex<Option<Instant>>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidated: AtomicU64,
    bypassed: AtomicU64,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache").field("prefix", &self.prefix).finish()
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl SharedCache {
    /// A cache at `url` for the knowledge base named by `namespace` (its store URL or
    /// folder). Does not connect yet.
    pub(crate) fn new(url: &str, namespace: &str, ttl_s: u64) -> crate::Result<SharedCache> {
        let client = redis::Client::open(url).map_err(|e| crate::EngineError::Setting {
            name: "cache".into(),
            reason: format!("not a Redis URL: {e}"),
        })?;
        Ok(SharedCache {
            client,
            conn: Mutex::new(None),
            prefix: format!("cairn:{:016x}:", fnv(namespace)),
            ttl_s: ttl_s.max(1),
            timeout: Duration::from_millis(250),
            down_until: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
        })
    }

    /// The counters.
    pub(crate) fn stats(&self) -> SharedCacheStats {
        SharedCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on the connection, or bypasses (None) when Redis is down or slow.
    fn with<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Option<T> {
        let mut down = self.down_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if down.is_some_and(|t| Instant::now() < t) {
            self.bypassed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut guard = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let connected = self.client.get_connection_with_timeout(self.timeout).and_then(|c| {
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(c)
            });
            match connected {
                Ok(c) => *guard = Some(c),
                Err(e) => return self.outage(&mut down, &e),
            }
        }
        let conn = guard.as_mut()?;
        match f(conn) {
            Ok(v) => {
                if down.take().is_some() {
                    tracing::info!("Redis answers again: the shared cache is back");
                }
                Some(v)
            }
            Err(e) => {
                *guard = None;
                self.outage(&mut down, &e)
            }
        }
    }

    fn outage<T>(&self, down: &mut Option<Instant>, e: &redis::RedisError) -> Option<T> {
        if down.is_none() {
            tracing::warn!(error = %e, "Redis is down or slow: bypassing the shared cache");
        }
        *down = Some(Instant::now() + Duration::from_secs(1));
        self.bypassed.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn entry_key(&self, key: &str) -> String {
        format!("{}e:{:016x}{:016x}", self.prefix, fnv(key), fnv(&format!("{key}\u{1e}")))
    }

    /// The entry for `key` if a replica at change mark `mark` may serve it.
    pub(crate) fn get(&self, key: &str, mark: i64) -> Option<SearchResults> {
        let k = self.entry_key(key);
        let changes = format!("{}changes", self.prefix);
        let floor_key = format!("{}floor", self.prefix);
        let raw: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(&k).query(c))?;
        let Some(entry) = raw.and_then(|r| serde_json::from_slice::<Entry>(&r).ok()) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if entry.mark > mark {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if entry.mark < mark {
            let (head, floor, records): Validation = self.with(|c| {
                redis::pipe()
                    .cmd("ZRANGE")
                    .arg(&changes)
                    .arg(-1)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .cmd("GET")
                    .arg(&floor_key)
                    .cmd("ZRANGEBYSCORE")
                    .arg(&changes)
                    .arg(format!("({}", entry.mark))
                    .arg(mark)
                    .query(c)
            })?;
            let head = head.first().map_or(i64::MIN, |(_, s)| *s as i64);
            let unpublished = head < mark;
            let trimmed = floor.is_some_and(|f| entry.mark < f);
            let deps = Dependencies {
                nodes: entry.nodes.iter().filter_map(|n| n.parse().ok()).collect(),
                terms: entry.terms.iter().cloned().collect(),
                dense: entry.dense.clone(),
            };
            let touched = records.iter().filter_map(|r| serde_json::from_slice::<Change>(r).ok()).any(|change| {
                if change.all {
                    return true;
                }
                let touched = Touched {
                    gone: change.gone.iter().filter_map(|g| g.parse().ok()).collect(),
                    new: change.new.into_iter().map(|(terms, vector)| TouchedNode { terms, vector }).collect(),
                };
                cairn_index::cache::affected(&deps, &touched)
            });
            if touched {
                self.invalidated.fetch_add(1, Ordering::Relaxed);
                let _: Option<()> = self.with(|c| redis::cmd("DEL").arg(&k).query(c));
            }
            if unpublished || trimmed || touched {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.value)
    }

    /// Shares a result computed at change mark `mark`.
    pub(crate) fn put(&self, key: &str, mark: i64, value: &SearchResults, deps: &Dependencies) {
        let entry = Entry {
            mark,
            nodes: deps.nodes.iter().map(ToString::to_string).collect(),
            terms: deps.terms.iter().cloned().collect(),
            dense: deps.dense.clone(),
            value: value.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else { return };
        if bytes.len() > MAX_ENTRY_BYTES {
            return;
        }
        let k = self.entry_key(key);
        let _: Option<()> = self.with(|c| redis::cmd("SET").arg(&k).arg(bytes).arg("EX").arg(self.ttl_s).query(c));
    }

    /// Publishes what a committed change touched, under the store's change mark after it
    /// (`all`: it may change any result).
    pub(crate) fn publish(&self, mark: i64, touched: &Touched, all: bool) {
        let change = Change {
            mark,
            all,
            gone: touched.gone.iter().map(ToString::to_string).collect(),
            new: touched.new.iter().map(|n| (n.terms.clone(), n.vector.clone())).collect(),
        };
        let Ok(bytes) = serde_json::to_vec(&change) else { return };
        let changes = format!("{}changes", self.prefix);
        let floor_key = format!("{}floor", self.prefix);
        let kept: Option<isize> = self.with(|c| {
            let (_, n): ((), isize) =
                redis::pipe().cmd("ZADD").arg(&changes).arg(mark).arg(bytes).cmd("ZCARD").arg(&changes).query(c)?;
            if n > KEEP_CHANGES {
                // Trim the oldest, and refuse entries older than what is kept.
                let _: () = redis::cmd("ZREMRANGEBYRANK").arg(&changes).arg(0).arg(n - KEEP_CHANGES - 1).query(c)?;
                let lowest: Vec<(Vec<u8>, f64)> =
                    redis::cmd("ZRANGE").arg(&changes).arg(0).arg(0).arg("WITHSCORES").query(c)?;
                if let Some((_, score)) = lowest.first() {
                    let _: () = redis::cmd("SET").arg(&floor_key).arg(*score as i64).query(c)?;
                }
            }
            Ok(n)
        });
        tracing::debug!(mark, kept, "published a change to the shared cache");
    }
}
