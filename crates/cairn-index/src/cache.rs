//! An in-process result cache that an update invalidates *exactly*: an entry is dropped
//! when an update touches what it returned or could change what it would return.
//!
//! Each entry remembers the node IDs it returned, the analysed terms of its query and,
//! for dense or hybrid results, the query vector and the lowest similarity it kept. When a
//! document changes, the update reports the IDs it removed or replaced and, for every new
//! or edited node, its terms and (when embedded) its vector. An entry is invalid when:
//! * it returned a removed or replaced node (so it would show old text), or
//! * a new node shares a term with its query (BM25 could now rank it), or
//! * a new node's vector is at least as similar to its query vector as its weakest hit
//!   (dense search would now return it).
//!
//! Everything else stays cached. Eviction beyond capacity (a number of entries and a
//! number of bytes, keys included, so that long queries cannot hold the cache's memory
//! hostage) is least-recently-used.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cairn_core::StableId;

/// What a cached result depends on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependencies {
    /// Node IDs in the result.
    pub nodes: HashSet<StableId>,
    /// Analysed query terms.
    pub terms: HashSet<String>,
    /// The query vector (normalised) and the lowest similarity kept, for dense results.
    pub dense: Option<(Vec<f32>, f32)>,
}

/// A new or edited node, as an update reports it to the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchedNode {
    /// Its analysed terms.
    pub terms: Vec<String>,
    /// Its normalised vector, when embedded.
    pub vector: Option<Vec<f32>>,
}

/// What one update touched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Touched {
    /// IDs removed or replaced by edits.
    pub gone: HashSet<StableId>,
    /// Nodes added or edited.
    pub new: Vec<TouchedNode>,
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    deps: Dependencies,
    used: u64,
    bytes: usize,
}

/// Hit and miss counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Entries dropped by invalidation.
    pub invalidated: u64,
}

/// The cache.
#[derive(Debug)]
pub struct QueryCache<V> {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    entries: HashMap<String, Entry<V>>,
    clock: u64,
    stats: CacheStats,
}

impl<V> QueryCache<V> {
    /// A cache holding at most `capacity` entries (and 64 MiB).
    pub fn new(capacity: usize) -> Self {
        QueryCache::with_budget(capacity, 64 << 20)
    }

    /// A cache holding at most `capacity` entries and `max_bytes` bytes.
    pub fn with_budget(capacity: usize, max_bytes: usize) -> Self {
        QueryCache {
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            entries: HashMap::new(),
            clock: 0,
            stats: CacheStats::default(),
        }
    }

    /// The cached value for `key`.
    pub fn get(&mut self, key: &str) -> Option<Arc<V>> {
        self.clock += 1;
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.used = self.clock;
                self.stats.hits += 1;
                Some(Arc::clone(&entry.value))
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Stores `value` under `key`, counting only the key and the dependencies as its
    /// size.
    pub fn insert(&mut self, key: String, value: V, deps: Dependencies) -> Arc<V> {
        self.insert_weighed(key, value, deps, 0)
    }

    /// Stores `value`, which takes `value_bytes`, under `key`. An entry larger than the
    /// whole budget is returned but not kept.
    pub fn insert_weighed(&mut self, key: String, value: V, deps: Dependencies, value_bytes: usize) -> Arc<V> {
        self.clock += 1;
        let value = Arc::new(value);
        let bytes = key.len() + deps_bytes(&deps) + value_bytes + 64;
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.bytes;
        }
        if bytes > self.max_bytes {
            return value;
        }
        while self.entries.len() >= self.capacity || self.bytes + bytes > self.max_bytes {
            let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(old) = self.entries.remove(&oldest) {
                self.bytes -= old.bytes;
            }
        }
        self.bytes += bytes;
        self.entries.insert(key, Entry { value: Arc::clone(&value), deps, used: self.clock, bytes });
        value
    }

    /// Bytes the entries take, as weighed when they were stored.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops exactly the entries `touched` can affect; returns how many.
    pub fn invalidate(&mut self, touched: &Touched) -> usize {
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|_, entry| {
            let keep = !affected(&entry.deps, touched);
            if !keep {
                freed += entry.bytes;
            }
            keep
        });
        self.bytes -= freed;
        let dropped = before - self.entries.len();
        self.stats.invalidated += dropped as u64;
        dropped
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.stats.invalidated += self.entries.len() as u64;
        self.entries.clear();
        self.bytes = 0;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

/// Bytes a cached entry's dependencies take.
fn deps_bytes(deps: &Dependencies) -> usize {
    deps.nodes.len() * 48
        + deps.terms.iter().map(|t| t.len() + 32).sum::<usize>()
        + deps.dense.as_ref().map_or(0, |(v, _)| v.len() * 4)
}

/// Whether `touched` invalidates a result with `deps` (the rule in the module docs).
pub fn affected(deps: &Dependencies, touched: &Touched) -> bool {
    if deps.nodes.iter().any(|id| touched.gone.contains(id)) {
        return true;
    }
    touched.new.iter().any(|node| {
        node.terms.iter().any(|t| deps.terms.contains(t))
            || match (&deps.dense, &node.vector) {
                (Some((query, weakest)), Some(v)) => query.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() >= *weakest,
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::NodeKind;

    #[test]
    fn the_byte_budget_evicts_least_recently_used_and_never_keeps_an_oversized_entry() {
        let mut cache: QueryCache<u32> = QueryCache::with_budget(1000, 4096);
        for i in 0..100 {
            cache.insert_weighed(format!("q{i}"), i, Dependencies::default(), 500);
            assert!(cache.bytes() <= 4096, "{} bytes", cache.bytes());
        }
        assert!(cache.len() < 10, "{} entries", cache.len());
        assert!(cache.get("q99").is_some(), "the newest stays");
        assert!(cache.get("q0").is_none(), "the oldest went");
        // A 1 MiB key is answered but not kept.
        let long = "x".repeat(1 << 20);
        assert_eq!(*cache.insert(long.clone(), 7, Dependencies::default()), 7);
        assert!(cache.get(&long).is_none());
        assert!(cache.bytes() <= 4096);
        cache.clear();
        assert_eq!(cache.bytes(), 0);
    }

    fn id(s: &str) -> StableId {
        StableId::mint(NodeKind::Paragraph, &[s.as_bytes()])
    }

    fn deps(nodes: &[&str], terms: &[&str], dense: Option<(Vec<f32>, f32)>) -> Dependencies {
        Dependencies {
            nodes: nodes.iter().map(|n| id(n)).collect(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
            dense,
        }
    }

    #[test]
    fn invalidates_exactly_what_an_update_touches() {
        let mut cache = QueryCache::new(10);
        cache.insert("warfarin".into(), 1, deps(&["a"], &["warfarin"], None));
        cache.insert("simvastatin".into(), 2, deps(&["b"], &["simvastatin"], None));
        cache.insert("dense".into(), 3, deps(&["c"], &["enzym"], Some((vec![1.0, 0.0], 0.8))));
        // Editing node a (replaced by a new node about digoxin) drops only the warfarin entry.
        let edit = Touched {
            gone: [id("a")].into(),
            new: vec![TouchedNode { terms: vec!["digoxin".into()], vector: Some(vec![0.0, 1.0]) }],
        };
        assert_eq!(cache.invalidate(&edit), 1);
        assert!(cache.get("warfarin").is_none());
        assert_eq!(cache.get("simvastatin").as_deref(), Some(&2));
        // A new node mentioning simvastatin drops that entry.
        let add = Touched {
            gone: HashSet::new(),
            new: vec![TouchedNode { terms: vec!["simvastatin".into()], vector: None }],
        };
        assert_eq!(cache.invalidate(&add), 1);
        // A new vector close to the dense query drops the dense entry; a far one does not.
        let far =
            Touched { gone: HashSet::new(), new: vec![TouchedNode { terms: vec![], vector: Some(vec![0.6, 0.8]) }] };
        assert_eq!(cache.invalidate(&far), 0);
        let near =
            Touched { gone: HashSet::new(), new: vec![TouchedNode { terms: vec![], vector: Some(vec![0.9, 0.43]) }] };
        assert_eq!(cache.invalidate(&near), 1);
        assert!(cache.is_empty());
        assert_eq!(cache.stats().invalidated, 3);
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut cache = QueryCache::new(2);
        cache.insert("a".into(), 1, Dependencies::default());
        cache.insert("b".into(), 2, Dependencies::default());
        assert!(cache.get("a").is_some());
        cache.insert("c".into(), 3, Dependencies::default());
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.stats().hits, 3);
    }
}
