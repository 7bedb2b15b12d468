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
//! Everything else stays cached. Eviction beyond capacity is least-recently-used.

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
    entries: HashMap<String, Entry<V>>,
    clock: u64,
    stats: CacheStats,
}

impl<V> QueryCache<V> {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        QueryCache { capacity: capacity.max(1), entries: HashMap::new(), clock: 0, stats: CacheStats::default() }
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

    /// Stores `value` under `key`.
    pub fn insert(&mut self, key: String, value: V, deps: Dependencies) -> Arc<V> {
        self.clock += 1;
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(&key)
            && let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        let value = Arc::new(value);
        self.entries.insert(key, Entry { value: Arc::clone(&value), deps, used: self.clock });
        value
    }

    /// Drops exactly the entries `touched` can affect; returns how many.
    pub fn invalidate(&mut self, touched: &Touched) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, entry| !affected(&entry.deps, touched));
        let dropped = before - self.entries.len();
        self.stats.invalidated += dropped as u64;
        dropped
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.stats.invalidated += self.entries.len() as u64;
        self.entries.clear();
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

fn affected(deps: &Dependencies, touched: &Touched) -> bool {
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
