//! The dense side of the knowledge base: paragraph vectors in an exact index (the
//! reference, and the source of truth on disk) and an HNSW index (for speed), kept in step
//! with the store incrementally.
//!
//! Files under `KB/vectors/`: `exact.bin`, `hnsw.usearch` and `meta.json` (the model, its
//! dimensions, and the store version of each document the vectors reflect). Every file is
//! written to a temporary name and renamed. On open, the vectors are reconciled with the
//! corpus: vectors of paragraphs that no longer exist are dropped, paragraphs without a
//! vector are embedded, and the HNSW graph is rebuilt from the exact vectors if it does not
//! hold exactly the same keys. That catch-up is idempotent, so a crash between the store's
//! commit and the vector files' update is repaired at the next open and never served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use cairn_core::{EmbedRole, Embedder, NodeKind, StableId};
use cairn_index::fusion::Ranked;
use cairn_index::vector::{ExactIndex, HnswIndex, VectorIndex, VectorKey, normalized};
use cairn_index::{IndexError, Slot};
use cairn_navigate::Corpus;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use cairn_store::Store;

use crate::error::{EngineError, Result};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    model: String,
    dim: usize,
    reflects: BTreeMap<String, u32>,
}

pub(crate) struct Dense {
    embedder: Box<dyn Embedder>,
    exact: ExactIndex,
    hnsw: HnswIndex,
    use_hnsw: bool,
    owner: HashMap<VectorKey, StableId>,
    text_cache: HashMap<u64, Vec<f32>>,
    meta: Meta,
    dir: PathBuf,
}

impl std::fmt::Debug for Dense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dense").field("model", &self.meta.model).field("vectors", &self.exact.len()).finish()
    }
}

fn index_err(e: IndexError) -> EngineError {
    EngineError::Index(e)
}

impl Dense {
    /// Opens the vector files in `kb_dir/vectors` (or starts empty) and catches up with
    /// `corpus`, whose documents are at `versions`.
    pub(crate) fn open(
        kb_dir: &Path,
        embedder: Box<dyn Embedder>,
        use_hnsw: bool,
        store: &Store,
        corpus: &Corpus,
        versions: &BTreeMap<String, u32>,
    ) -> Result<Dense> {
        let dir = kb_dir.join("vectors");
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io { path: dir.clone(), source })?;
        let dim = embedder.dim();
        let meta: Meta = std::fs::read(dir.join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|m: &Meta| m.model == embedder.model() && m.dim == dim)
            .unwrap_or_else(|| Meta { model: embedder.model().to_owned(), dim, reflects: BTreeMap::new() });
        let exact = if meta.reflects.is_empty() {
            ExactIndex::new(dim)
        } else {
            ExactIndex::load(&dir.join("exact.bin"))
                .ok()
                .filter(|e| e.dim() == dim)
                .unwrap_or_else(|| ExactIndex::new(dim))
        };
        let hnsw =
            HnswIndex::load(&dir.join("hnsw.usearch"), dim).or_else(|_| HnswIndex::new(dim)).map_err(index_err)?;
        let mut dense =
            Dense { embedder, exact, hnsw, use_hnsw, owner: HashMap::new(), text_cache: HashMap::new(), meta, dir };
        dense.catch_up(store, corpus, versions)?;
        Ok(dense)
    }

    pub(crate) fn model(&self) -> &str {
        &self.meta.model
    }

    /// Brings the vectors in line with `corpus`; returns how many paragraphs were embedded.
    pub(crate) fn catch_up(
        &mut self,
        store: &Store,
        corpus: &Corpus,
        versions: &BTreeMap<String, u32>,
    ) -> Result<usize> {
        let _span = tracing::info_span!("vectors.catch_up", model = %self.meta.model).entered();
        let mut live: HashMap<VectorKey, (StableId, &str)> = HashMap::new();
        for doc in corpus.docs() {
            for node in doc.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph) {
                live.insert(VectorKey::of(&node.id), (node.id.clone(), node.text.as_str()));
            }
        }
        let stale: Vec<VectorKey> = self.exact.keys().iter().copied().filter(|k| !live.contains_key(k)).collect();
        for key in &stale {
            self.exact.remove(*key).map_err(index_err)?;
        }
        let mut missing: Vec<(VectorKey, &str)> =
            live.iter().filter(|(k, _)| self.exact.get(**k).is_none()).map(|(k, (_, text))| (*k, *text)).collect();
        missing.sort_by_key(|(k, _)| *k);
        let embedded = self.embed_into_exact(store, &missing)?;
        self.owner = live.into_iter().map(|(k, (id, _))| (k, id)).collect();
        // The HNSW graph must hold exactly the exact index's keys.
        let same = self.hnsw.len() == self.exact.len();
        if !same || !stale.is_empty() || embedded > 0 {
            self.rebuild_hnsw()?;
        }
        let changed = !stale.is_empty() || embedded > 0 || self.meta.reflects != *versions;
        self.meta.reflects = versions.clone();
        if changed {
            self.save()?;
        }
        tracing::info!(stale = stale.len(), embedded, vectors = self.exact.len(), "vectors in step with the store");
        Ok(embedded)
    }

    fn rebuild_hnsw(&mut self) -> Result<()> {
        let mut hnsw = HnswIndex::new(self.exact.dim()).map_err(index_err)?;
        if self.use_hnsw {
            for key in self.exact.keys() {
                if let Some(v) = self.exact.get(*key) {
                    hnsw.upsert(*key, v).map_err(index_err)?;
                }
            }
        }
        self.hnsw = hnsw;
        Ok(())
    }

    /// Puts the vectors of `items` into the exact index: from memory, else from the store
    /// (another replica or an earlier run embedded the same text), else from the model,
    /// storing what it embeds. Returns how many texts the model embedded.
    fn embed_into_exact(&mut self, store: &Store, items: &[(VectorKey, &str)]) -> Result<usize> {
        let wanted: Vec<u64> = items
            .iter()
            .map(|(_, text)| xxh3_64(text.as_bytes()))
            .filter(|h| !self.text_cache.contains_key(h))
            .collect();
        if !wanted.is_empty() {
            let stored = store.embeddings(&self.meta.model, &wanted)?;
            let dim = self.exact.dim();
            self.text_cache.extend(stored.into_iter().filter(|(_, v)| v.len() == dim));
        }
        let mut todo: Vec<(VectorKey, &str)> = items
            .iter()
            .filter(|(_, text)| !self.text_cache.contains_key(&xxh3_64(text.as_bytes())))
            .copied()
            .collect();
        todo.dedup_by_key(|(_, text)| xxh3_64(text.as_bytes()));
        for chunk in todo.chunks(64) {
            let texts: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
            let vectors = self.embedder.embed(&texts, EmbedRole::Passage)?;
            let mut fresh = Vec::with_capacity(vectors.len());
            for ((_, text), v) in chunk.iter().zip(vectors) {
                fresh.push((xxh3_64(text.as_bytes()), v));
            }
            let refs: Vec<(u64, &[f32])> = fresh.iter().map(|(h, v)| (*h, v.as_slice())).collect();
            store.put_embeddings(&self.meta.model, &refs)?;
            self.text_cache.extend(fresh);
        }
        for (key, text) in items {
            if let Some(v) = self.text_cache.get(&xxh3_64(text.as_bytes())) {
                self.exact.upsert(*key, v).map_err(index_err)?;
            }
        }
        Ok(todo.len())
    }

    /// Updates one document's vectors after an ingest: embeds only paragraphs without a
    /// vector, drops vectors of paragraphs that are gone. Returns the new paragraphs'
    /// (normalised) vectors, for cache invalidation.
    pub(crate) fn update_document(
        &mut self,
        store: &Store,
        corpus: &Corpus,
        key: &str,
        version: u32,
        previous: &HashSet<StableId>,
    ) -> Result<HashMap<StableId, Vec<f32>>> {
        let Some(entry) = corpus.docs().iter().find(|d| d.tree.key.as_str() == key) else { return Ok(HashMap::new()) };
        let now: HashSet<&StableId> =
            entry.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| &n.id).collect();
        for gone in previous.iter().filter(|id| !now.contains(id)) {
            let k = VectorKey::of(gone);
            self.exact.remove(k).map_err(index_err)?;
            self.hnsw.remove(k).map_err(index_err)?;
            self.owner.remove(&k);
        }
        let new: Vec<(VectorKey, &str, &StableId)> = entry
            .tree
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Paragraph && self.exact.get(VectorKey::of(&n.id)).is_none())
            .map(|n| (VectorKey::of(&n.id), n.text.as_str(), &n.id))
            .collect();
        let items: Vec<(VectorKey, &str)> = new.iter().map(|(k, t, _)| (*k, *t)).collect();
        self.embed_into_exact(store, &items)?;
        let mut vectors = HashMap::new();
        for (k, _, id) in &new {
            if let Some(v) = self.exact.get(*k) {
                if self.use_hnsw {
                    self.hnsw.upsert(*k, v).map_err(index_err)?;
                }
                vectors.insert((*id).clone(), v.to_vec());
            }
            self.owner.insert(*k, (*id).clone());
        }
        self.meta.reflects.insert(key.to_owned(), version);
        self.save()?;
        Ok(vectors)
    }

    /// Forgets a removed document.
    pub(crate) fn remove_document(&mut self, key: &str, ids: &[StableId]) -> Result<()> {
        for id in ids {
            let k = VectorKey::of(id);
            self.exact.remove(k).map_err(index_err)?;
            self.hnsw.remove(k).map_err(index_err)?;
            self.owner.remove(&k);
        }
        self.meta.reflects.remove(key);
        self.save()
    }

    /// The `k` most similar paragraphs, inside `scope` when given (exact search there).
    pub(crate) fn search(
        &self,
        corpus: &Corpus,
        query: &str,
        k: usize,
        scope: Option<&[(Slot, Range<u32>)]>,
    ) -> Result<(Vec<Ranked<StableId>>, Vec<f32>)> {
        let v = self.embedder.embed(&[query], EmbedRole::Query)?.pop().unwrap_or_default();
        let q = normalized(&v, self.exact.dim()).map_err(index_err)?;
        let hits = match scope {
            Some(scope) => {
                let allowed: HashSet<VectorKey> = scope
                    .iter()
                    .filter_map(|(slot, range)| {
                        let d = corpus.doc_of_slot(*slot)?;
                        Some((d, range.clone()))
                    })
                    .flat_map(|(d, range)| {
                        corpus.docs()[d].tree.nodes[range.start as usize..range.end as usize]
                            .iter()
                            .filter(|n| n.kind == NodeKind::Paragraph)
                            .map(|n| VectorKey::of(&n.id))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                self.exact.search_filtered(&q, k, |key| allowed.contains(&key)).map_err(index_err)?
            }
            None if self.use_hnsw => self.hnsw.search(&q, k).map_err(index_err)?,
            None => self.exact.search(&q, k).map_err(index_err)?,
        };
        let ranked = hits
            .into_iter()
            .filter_map(|(key, score)| Some(Ranked { key: self.owner.get(&key)?.clone(), score }))
            .collect();
        Ok((ranked, q))
    }

    fn save(&self) -> Result<()> {
        self.exact.save(&self.dir.join("exact.bin")).map_err(index_err)?;
        self.hnsw.save(&self.dir.join("hnsw.usearch")).map_err(index_err)?;
        let path = self.dir.join("meta.json");
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| EngineError::Io { path: path.clone(), source: e.into() })?;
        std::fs::write(&tmp, bytes).map_err(|source| EngineError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| EngineError::Io { path, source })
    }
}
