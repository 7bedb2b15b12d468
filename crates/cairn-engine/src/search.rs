//! `search`: ranked paragraphs by BM25, dense vectors or both fused, with metadata
//! filters, per-hit explanations and a result cache.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use cairn_core::{DocKey, StableId};
use cairn_index::Slot;
use cairn_index::cache::Dependencies;
use cairn_index::fusion::{self, Input, Part, Ranked, Retriever};
use cairn_text::Analyzer;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::kb::Kb;

/// Which retrievers to use. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 only.
    Bm25,
    /// Dense vectors only (needs an embedding model).
    Dense,
    /// Both, fused; falls back to BM25 (and says so) without an embedding model.
    Hybrid,
}

impl std::str::FromStr for SearchMode {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bm25" => Ok(SearchMode::Bm25),
            "dense" => Ok(SearchMode::Dense),
            "hybrid" => Ok(SearchMode::Hybrid),
            other => Err(EngineError::Setting {
                name: "mode".into(),
                reason: format!("`{other}`: expected bm25, dense or hybrid"),
            }),
        }
    }
}

/// How to fuse. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion with this `k`.
    Rrf(f32),
    /// Weighted min-max-normalised scores.
    Weighted,
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Retrievers.
    pub mode: SearchMode,
    /// Hits wanted.
    pub k: usize,
    /// Only these documents.
    pub docs: Option<Vec<DocKey>>,
    /// Only inside this section (a display ID such as `pharm:7` or `reg:4.24`).
    pub section: Option<String>,
    /// Only documents with all these tags.
    pub tags: Vec<String>,
    /// Rerank the best hits with a model: `None` follows the `rerank` setting, `Some(true)`
    /// reranks with it (or with `local` when it is unset), `Some(false)` never.
    pub rerank: Option<bool>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { mode: SearchMode::Hybrid, k: 10, docs: None, section: None, tags: Vec::new(), rerank: None }
    }
}

/// One ranked paragraph with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// 1-based rank.
    pub rank: usize,
    /// Stable ID.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Display ID.
    pub display: String,
    /// Document key.
    pub doc: String,
    /// Enclosing section heading.
    pub section: Option<String>,
    /// The paragraph.
    pub text: String,
    /// The score the ranking used (BM25, cosine, or fused).
    pub score: f32,
    /// The BM25 retriever's rank and score, if it returned this paragraph.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub bm25: Option<Part>,
    /// The dense retriever's rank and cosine, if it returned this paragraph.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub dense: Option<Part>,
    /// The reranker's Yes−No log-probability margin and the rank before reranking, if it
    /// read this paragraph.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub rerank: Option<RerankPart>,
}

/// What the reranker said about one hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RerankPart {
    /// `log P(Yes) − log P(No)` for "does the passage answer the question?".
    pub margin: f32,
    /// The hit's rank before reranking (1-based).
    pub before: usize,
}

/// A search's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The query.
    pub query: String,
    /// The mode asked for.
    pub mode: SearchMode,
    /// The mode actually used.
    pub used: SearchMode,
    /// Why they differ, if they do.
    pub note: Option<String>,
    /// Hits, best first.
    pub hits: Vec<SearchHit>,
}

/// Node ranges of documents a search may return (`None` in [`Kb::scope`] means all).
pub(crate) type Scope = Vec<(Slot, Range<u32>)>;

/// Fusion weights per query kind learnt for multilingual-e5-small by `cairn eval retrieval
/// --learn-fusion` on development halves only, each kind from the set that has most of its
/// development queries: English keywords from dossier-bench, Chinese questions and keywords
/// from Debian Reference zh→en, English questions from en→zh (the widened grid); the
/// held-out halves are in BENCHMARKS.md.
pub const E5_FUSION_WEIGHTS: &str = "zh-question=1:8, zh-keywords=1:8, en-question=1:16, en-keywords=1:0";

/// How many candidates each retriever contributes before fusion.
const CANDIDATES: usize = 50;

impl Kb {
    /// Searches paragraphs. Results are cached; an update drops exactly the cached
    /// results it can change.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<(std::sync::Arc<SearchResults>, bool)> {
        let key = format!("{query}\u{1f}{:?}", options);
        #[cfg(feature = "servers")]
        if let Some(shared) = self.shared() {
            let mark = self.applied_mark().changes;
            if let Some(hit) = shared.get(&key, mark) {
                return Ok((std::sync::Arc::new(hit), true));
            }
            let (results, deps) = self.search_uncached(query, options)?;
            shared.put(&key, mark, &results, &deps);
            return Ok((std::sync::Arc::new(results), false));
        }
        if let Some(hit) = self.cache_lock().get(&key) {
            return Ok((hit, true));
        }
        let (results, deps) = self.search_uncached(query, options)?;
        let bytes = results.query.len()
            + results.note.as_ref().map_or(0, String::len)
            + results
                .hits
                .iter()
                .map(|h| 160 + h.text.len() + h.display.len() + h.doc.len() + h.section.as_ref().map_or(0, String::len))
                .sum::<usize>();
        Ok((self.cache_lock().insert_weighed(key, results, deps, bytes), false))
    }

    fn search_uncached(&self, query: &str, options: &SearchOptions) -> Result<(SearchResults, Dependencies)> {
        let _span = tracing::info_span!("search", mode = ?options.mode, k = options.k).entered();
        cairn_core::deadline::check()?;
        let scope = self.scope(options)?;
        let terms = Analyzer.terms(query);
        let mut deps = Dependencies { terms: terms.iter().cloned().collect(), ..Dependencies::default() };
        let (used, note) = match (options.mode, self.dense_available()) {
            (SearchMode::Dense, false) => {
                return Err(EngineError::Setting {
                    name: "embedding_model".into(),
                    reason: "dense search needs an embedding model (set embedding_model; see README)".into(),
                });
            }
            (SearchMode::Hybrid, false) => (
                SearchMode::Bm25,
                Some("no embedding model configured: hybrid search fell back to BM25 only".to_owned()),
            ),
            (mode, _) => (mode, None),
        };
        let want = options.k.max(1);
        let bm25: Vec<Ranked<StableId>> = if matches!(used, SearchMode::Bm25 | SearchMode::Hybrid) {
            let limit = if used == SearchMode::Hybrid { CANDIDATES.max(want) } else { want };
            match self.keyword_index() {
                Some(index) => self.tantivy_bm25(index, &terms, limit, scope.as_deref())?,
                None => {
                    let index = self.corpus().index();
                    let q = index.query(&terms);
                    index
                        .top_paragraphs(&q, limit, scope.as_deref())
                        .into_iter()
                        .filter_map(|h| {
                            let d = self.corpus().doc_of_slot(h.slot)?;
                            let id = self.corpus().docs()[d].tree.nodes[h.node as usize].id.clone();
                            Some(Ranked { key: id, score: h.score })
                        })
                        .collect()
                }
            }
        } else {
            Vec::new()
        };
        let dense: Vec<Ranked<StableId>> = if matches!(used, SearchMode::Dense | SearchMode::Hybrid) {
            let limit = if used == SearchMode::Hybrid { CANDIDATES.max(want) } else { want };
            let (hits, query_vector) = self.dense_search(query, limit, scope.as_deref())?;
            let weakest = hits.last().map_or(-1.0, |h| h.score);
            deps.dense = Some((query_vector, weakest));
            hits
        } else {
            Vec::new()
        };
        let fused: Vec<(StableId, f32, Option<Part>, Option<Part>)> = match used {
            SearchMode::Bm25 => single(&bm25, Retriever::Bm25),
            SearchMode::Dense => single(&dense, Retriever::Dense),
            SearchMode::Hybrid => {
                let (bm25_weight, dense_weight) = self.fusion_weights(query);
                let inputs = [
                    Input { retriever: Retriever::Bm25, hits: &bm25, weight: bm25_weight },
                    Input { retriever: Retriever::Dense, hits: &dense, weight: dense_weight },
                ];
                let (fused, k) = match self.fusion() {
                    Fusion::Rrf(k) => (fusion::rrf(&inputs, k), k),
                    Fusion::Weighted => (fusion::weighted(&inputs), 60.0),
                };
                let corpus = self.corpus();
                let fused = fusion::with_documents(fused, &inputs, k, self.settings().doc_fusion, |id| {
                    corpus.locate(id).map(|(d, _)| d)
                });
                fused
                    .into_iter()
                    .map(|f| {
                        let part = |r| f.parts.iter().find(|p| p.retriever == r).copied();
                        (f.key.clone(), f.score, part(Retriever::Bm25), part(Retriever::Dense))
                    })
                    .collect()
            }
        };
        let (fused, margins, note) = match self.rerank_spec(options.rerank) {
            Some(spec) => {
                let (order, margins, usage) = self.rerank_ids(&spec, query, &fused)?;
                let note = note.into_iter().chain([format!(
                    "reranked the best {} by {} ({:.1} s)",
                    margins.len(),
                    usage.model,
                    usage.millis / 1000.0
                )]);
                let fused: Vec<_> = order.into_iter().map(|i| fused[i].clone()).collect();
                (fused, margins, Some(note.collect::<Vec<_>>().join("; ")))
            }
            None => (fused, HashMap::new(), note),
        };
        let hits: Vec<SearchHit> = fused
            .into_iter()
            .take(want)
            .enumerate()
            .filter_map(|(i, (id, score, bm25, dense))| {
                let rerank = margins.get(&id).copied();
                let mut hit = self.hit(i + 1, id, score, bm25, dense)?;
                hit.rerank = rerank;
                Some(hit)
            })
            .collect();
        deps.nodes = hits.iter().map(|h| h.id.clone()).collect();
        Ok((SearchResults { query: query.to_owned(), mode: options.mode, used, note, hits }, deps))
    }

    /// The fusion weights (BM25, dense) for `query`: its kind's, else the global ones. With
    /// multilingual-e5-small and no `fusion_weights` set, the weights learnt for e5
    /// ([`E5_FUSION_WEIGHTS`]) apply.
    pub fn fusion_weights(&self, query: &str) -> (f32, f32) {
        let s = self.settings();
        let text = match s.fusion_weights.trim() {
            "" if self.embedding_model().is_some_and(|m| m.starts_with("multilingual-e5-small")) => E5_FUSION_WEIGHTS,
            text => text,
        };
        crate::query_kind::KindWeights::parse(text)
            .ok()
            .and_then(|w| w.get(crate::QueryKind::of(query)))
            .unwrap_or((s.bm25_weight, s.dense_weight))
    }

    /// The reranking model a search uses, if any.
    pub(crate) fn rerank_spec(&self, wanted: Option<bool>) -> Option<String> {
        match wanted {
            Some(false) => None,
            Some(true) => Some(self.settings().rerank.clone().unwrap_or_else(|| "local".into())),
            None => self.settings().rerank.clone(),
        }
    }

    /// Reranks the best `rerank_top` of `ranked` (ID and first-stage score first in each
    /// item) with the model `spec`: the new order as indices into `ranked` (the unread rest
    /// keeps its order after them), each read ID's margin and rank before, and the usage.
    pub(crate) fn rerank_ids<T>(
        &self,
        spec: &str,
        question: &str,
        ranked: &[(StableId, f32, T, T)],
    ) -> Result<(Vec<usize>, HashMap<StableId, RerankPart>, cairn_navigate::llm::StageUsage)> {
        let s = self.settings();
        let model = self.models.get(spec, s)?;
        let n = s.rerank_top.min(ranked.len());
        let mut read = Vec::with_capacity(n);
        let mut candidates = Vec::with_capacity(n);
        for (i, (id, score, ..)) in ranked[..n].iter().enumerate() {
            let Some((d, node)) = self.corpus().locate(id) else { continue };
            let tree = &self.corpus().docs()[d].tree;
            let section = tree.enclosing_section(node as usize).map(|p| p.text.as_str());
            let context = match section {
                Some(section) => format!("{} › {section}", tree.title),
                None => tree.title.clone(),
            };
            read.push(i);
            candidates.push(crate::rerank::Candidate {
                context,
                text: tree.nodes[node as usize].text.clone(),
                score: *score,
            });
        }
        let (scored, usage) =
            crate::rerank::rerank(model.as_ref(), question, &candidates, s.rerank_tokens, s.rerank_prior)?;
        let mut order: Vec<usize> = scored.iter().map(|x| read[x.index]).collect();
        let margins = scored
            .iter()
            .map(|x| (ranked[read[x.index]].0.clone(), RerankPart { margin: x.margin, before: read[x.index] + 1 }))
            .collect();
        let placed: HashSet<usize> = order.iter().copied().collect();
        order.extend((0..ranked.len()).filter(|i| !placed.contains(i)));
        Ok((order, margins, usage))
    }

    /// BM25 from tantivy: documents filter inside the query, sections after it (with
    /// over-fetching), so results always respect the scope.
    fn tantivy_bm25(
        &self,
        index: &cairn_index::keyword::KeywordIndex,
        terms: &[String],
        limit: usize,
        scope: Option<&[(Slot, Range<u32>)]>,
    ) -> Result<Vec<Ranked<StableId>>> {
        let docs: Option<Vec<String>> = scope.map(|s| {
            s.iter()
                .filter_map(|(slot, _)| self.corpus().doc_of_slot(*slot))
                .map(|d| self.corpus().docs()[d].tree.key.to_string())
                .collect()
        });
        let fetch = if scope.is_some() { limit * 10 } else { limit };
        let hits = index.search(terms, fetch, docs.as_deref())?;
        let inside = |id: &StableId| match scope {
            None => true,
            Some(scope) => self.corpus().locate(id).is_some_and(|(d, node)| {
                let slot = self.corpus().docs()[d].slot;
                scope.iter().any(|(s, r)| *s == slot && r.contains(&node))
            }),
        };
        Ok(hits
            .into_iter()
            .filter_map(|(id, score)| id.parse::<StableId>().ok().map(|id| Ranked { key: id, score }))
            .filter(|r| inside(&r.key))
            .take(limit)
            .collect())
    }

    fn hit(&self, rank: usize, id: StableId, score: f32, bm25: Option<Part>, dense: Option<Part>) -> Option<SearchHit> {
        let (d, i) = self.corpus().locate(&id)?;
        let tree = &self.corpus().docs()[d].tree;
        let node = &tree.nodes[i as usize];
        let section = tree.enclosing_section(i as usize).map(|p| p.text.clone());
        Some(SearchHit {
            rank,
            display: tree.display_id(i as usize).to_string(),
            doc: tree.key.to_string(),
            section,
            text: node.text.clone(),
            score,
            bm25,
            dense,
            rerank: None,
            id,
        })
    }

    /// The node ranges a search may return, or `None` for everything.
    pub(crate) fn scope(&self, options: &SearchOptions) -> Result<Option<Scope>> {
        if options.docs.is_none() && options.section.is_none() && options.tags.is_empty() {
            return Ok(None);
        }
        let mut keys: Vec<DocKey> = match &options.docs {
            Some(keys) => {
                for key in keys {
                    if self.corpus().doc(key).is_none() {
                        return Err(EngineError::UnknownDocument { key: key.to_string() });
                    }
                }
                keys.clone()
            }
            None => self.corpus().docs().iter().map(|d| d.tree.key.clone()).collect(),
        };
        if !options.tags.is_empty() {
            keys.retain(|k| options.tags.iter().all(|t| self.tags_of(k).contains(t)));
        }
        let mut scope = Vec::new();
        match &options.section {
            Some(section) => {
                let display: cairn_core::DisplayId = section.parse()?;
                if !keys.contains(&display.key) {
                    return Ok(Some(Vec::new()));
                }
                let entry = self
                    .corpus()
                    .doc(&display.key)
                    .ok_or_else(|| EngineError::UnknownDocument { key: display.key.to_string() })?;
                let path = display.path;
                let node = entry
                    .tree
                    .nodes
                    .iter()
                    .position(|n| n.path == path)
                    .ok_or_else(|| EngineError::UnknownNode { id: section.clone() })?;
                scope.push((entry.slot, node as u32..entry.tree.nodes[node].end));
            }
            None => {
                let wanted: HashSet<&DocKey> = keys.iter().collect();
                for entry in self.corpus().docs() {
                    if wanted.contains(&entry.tree.key) {
                        scope.push((entry.slot, entry.full_range()));
                    }
                }
            }
        }
        Ok(Some(scope))
    }
}

fn single(list: &[Ranked<StableId>], retriever: Retriever) -> Vec<(StableId, f32, Option<Part>, Option<Part>)> {
    list.iter()
        .enumerate()
        .map(|(i, h)| {
            let part = Some(Part { retriever, rank: i + 1, score: h.score });
            match retriever {
                Retriever::Bm25 => (h.key.clone(), h.score, part, None),
                Retriever::Dense => (h.key.clone(), h.score, None, part),
            }
        })
        .collect()
}
