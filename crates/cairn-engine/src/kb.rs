//! The knowledge base facade: ingest, list, show, remove and ask.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use cairn_core::{Answer, Cited, DocKey, Embedder, EventSink, NodeKind, NodeRef, StableId};
use cairn_index::cache::{QueryCache, Touched, TouchedNode};
use cairn_index::keyword::KeywordIndex;
use cairn_ingest::stable::previous_of;
use cairn_ingest::{BuildOptions, Format, IngestOptions, read_file};
use cairn_navigate::answer::{AnswerOptions, extractive};
use cairn_navigate::plan::{PlanOptions, plan_chunks};
use cairn_navigate::{BoostedSelector, Corpus, LexicalSelector, NavOptions, Navigation, Navigator};
use cairn_store::{DocumentRecord, DocumentUpdate, Resolved, Store};
use cairn_text::Analyzer;
use xxhash_rust::xxh3::xxh3_128;

use crate::dense::Dense;
use crate::error::{EngineError, Result};
use crate::search::{Fusion, SearchResults};
use crate::settings::Settings;

/// What happened to one input file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Same bytes as the stored version: nothing was done.
    Unchanged {
        /// The document's key.
        key: DocKey,
    },
    /// A new version was stored.
    Stored(StoredVersion),
    /// The file could not be ingested; nothing stored was touched.
    Failed {
        /// The file.
        source: String,
        /// Why.
        error: String,
    },
}

/// A stored new version and how it differs from the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The document's key.
    pub key: DocKey,
    /// Its new version number.
    pub version: u32,
    /// Nodes added.
    pub added: usize,
    /// Nodes whose text changed (new stable ID, old one retired with a successor).
    pub changed: usize,
    /// Nodes removed.
    pub removed: usize,
    /// Nodes that kept their ID.
    pub unchanged: usize,
    /// Live nodes now.
    pub nodes: usize,
    /// Node rows written (inserted, updated or deleted).
    pub rows_written: usize,
    /// Pages stored without their text: scanned pages, in a build without the `ocr`
    /// feature. Reported so that a missing page is never a silent gap.
    pub unread_pages: Vec<u32>,
}

/// Where a node's text is on its PDF's pages.
#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    /// The document's key.
    pub key: DocKey,
    /// The node (the live successor, for a retired ID).
    pub id: StableId,
    /// Its text, as located.
    pub text: String,
    /// The pages it was found on, with one box per line; empty when the text could not be
    /// found on its pages.
    pub pages: Vec<cairn_ingest::locate::PageBoxes>,
}

/// Which selector navigation uses. A closed set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SelectorKind {
    /// Hybrid when an embedding model is configured, lexical otherwise (the default).
    #[default]
    Auto,
    /// BM25 with heading and clause boosts.
    Lexical,
    /// Lexical evidence plus hybrid (BM25 + dense) search results as a boost; needs an
    /// embedding model, and falls back to lexical (noting it) without one.
    Hybrid,
}

/// Options for one question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AskOptions {
    /// Only these documents.
    pub docs: Option<Vec<DocKey>>,
    /// The selector.
    pub selector: SelectorKind,
}

/// A verified answer with everything needed to explain it.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The answer; its citations passed checking.
    pub answer: Answer<Cited>,
    /// The navigation (scratchpad, passages).
    pub navigation: Navigation,
    /// Sources of the citations, in citation order.
    pub sources: Vec<Source>,
    /// Facts from the knowledge graph about the entities the question names, each citing
    /// a paragraph checked against the store (empty when nothing in the graph is named).
    pub graph: crate::drug::GraphEvidence,
    /// The language models' part (stages, tokens, cost, judge), when `ask` used them.
    pub llm: Option<crate::llm::LlmReport>,
    /// Wall time of navigation, answering and verification, in milliseconds.
    pub millis: f64,
}

/// Where a citation points, for the sources list.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    /// Stable ID of the cited node.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Display ID.
    pub display: String,
    /// Document key.
    pub doc: String,
    /// Document title.
    pub doc_title: String,
    /// Enclosing section heading.
    pub section: Option<String>,
    /// All enclosing section headings, outermost first.
    pub heading_path: Vec<String>,
    /// Pages.
    pub pages: Option<cairn_core::PageRange>,
}

/// An open knowledge base: the store on disk plus the in-memory corpus navigation reads.
#[derive(Debug)]
pub struct Kb {
    store: Store,
    corpus: Corpus,
    settings: Settings,
    tags: HashMap<DocKey, Vec<String>>,
    dense: Option<Dense>,
    keyword: Option<KeywordIndex>,
    cache: Mutex<QueryCache<SearchResults>>,
    pub(crate) graph: cairn_graph::GraphDb,
    pub(crate) lexicon: Vec<(String, cairn_graph::NodeId)>,
    pub(crate) models: crate::llm::Models,
    /// Documents the store has committed but whose derived indexes (vectors, the
    /// keyword index) failed to follow: the next ingest of the same bytes repairs them
    /// instead of answering `unchanged`, and so does the next open.
    stale: HashSet<DocKey>,
    /// This process's claim on the knowledge base, taken at its first change.
    writer: Option<crate::lock::WriterLock>,
    /// The stored version of each document the in-memory indexes hold.
    versions: HashMap<DocKey, u32>,
    /// The store's change mark this process's indexes reflect ([`Kb::follow`]).
    applied: cairn_store::ChangeMark,
    /// The search cache shared among replicas on Redis (`cache = "redis://…"`).
    #[cfg(feature = "servers")]
    shared: Option<crate::shared_cache::SharedCache>,
}

/// The shared (Redis) search cache's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SharedCacheStats {
    /// Entries served.
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Entries refused because a later change touches them (and deleted).
    pub invalidated: u64,
    /// Calls that skipped Redis because it was down or slow.
    pub bypassed: u64,
}

/// The graph's SQLite file in a knowledge base directory (a server store keeps the graph
/// in its database instead).
pub const GRAPH_FILE: &str = "graph.sqlite";

/// What [`Kb::follow`] applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Followed {
    /// Documents re-read because their stored version moved (new ones included).
    pub updated: usize,
    /// Documents dropped because the store no longer has them.
    pub removed: usize,
    /// Documents whose tags changed.
    pub retagged: usize,
    /// The change mark now applied.
    pub mark: cairn_store::ChangeMark,
    /// Whether the graph was reloaded because another process wrote it.
    pub graph_reloaded: bool,
}

impl Kb {
    /// Opens (or creates) the knowledge base in `dir` and loads it.
    pub fn open(dir: &Path, settings: Settings) -> Result<Kb> {
        let embedder: Option<Box<dyn Embedder>> = match (&settings.embedding_model, &settings.embedding_endpoint) {
            (Some(spec), _) if spec == "local" => {
                let dir = Path::new(&settings.models_dir);
                let path = cairn_embed::local_embedder(dir).ok_or_else(|| {
                    cairn_embed::EmbedError::Config {
                        path: dir.to_owned(),
                        detail: format!(
                            "no local embedding model (looked for {}; run scripts/fetch-models.sh, or point models_dir at its folder)",
                            cairn_embed::LOCAL_EMBEDDERS.join(", ")
                        ),
                    }
                })?;
                Some(Box::new(cairn_embed::BertEmbedder::load(&path)?))
            }
            (Some(path), _) => Some(Box::new(cairn_embed::BertEmbedder::load(Path::new(path))?)),
            (None, Some(url)) => {
                let config = cairn_embed::EndpointConfig {
                    api_key: settings.embedding_api_key.clone(),
                    ..cairn_embed::EndpointConfig::new(url.clone(), settings.embedding_endpoint_model.clone())
                };
                Some(Box::new(cairn_embed::OpenAiEmbedder::connect(config)?))
            }
            (None, None) => None,
        };
        Kb::open_with(dir, settings, embedder)
    }

    /// Opens with an explicit embedder (or none), overriding `embedding_model`.
    pub fn open_with(dir: &Path, settings: Settings, embedder: Option<Box<dyn Embedder>>) -> Result<Kb> {
        settings.validate()?;
        let _span = tracing::info_span!("kb.open", dir = %dir.display()).entered();
        let store = match settings.store.as_str() {
            "" => Store::open(dir)?,
            url => Store::open_url(&cairn_store::StoreUrl::parse(url)?, dir)?,
        };
        // Taken before loading: a change that lands while loading is applied by the
        // first `follow`.
        let applied = store.change_mark()?;
        let mut corpus = Corpus::default();
        let mut tags = HashMap::new();
        let mut versions = BTreeMap::new();
        for record in store.documents()? {
            let loaded = store.load(&record.key)?;
            corpus.upsert(loaded.tree, loaded.chunks, &loaded.terms);
            versions.insert(record.key.to_string(), record.version);
            tags.insert(record.key.clone(), record.tags.clone());
        }
        let dense = match embedder {
            Some(embedder) => {
                Some(Dense::open(dir, embedder, settings.vector_index == "hnsw", &store, &corpus, &versions)?)
            }
            None => None,
        };
        let keyword = if settings.keyword_engine == "tantivy" {
            let mut index = KeywordIndex::open(&dir.join("keyword"))?;
            let changed = crate::keyword::catch_up(&mut index, &corpus, &versions)?;
            tracing::info!(changed, paragraphs = index.len(), "keyword index in step with the store");
            Some(index)
        } else {
            None
        };
        let cache =
            Mutex::new(QueryCache::with_budget(settings.cache_entries, settings.cache_mb.saturating_mul(1 << 20)));
        #[cfg(feature = "servers")]
        let shared = match settings.cache.as_str() {
            "" => None,
            url => {
                let namespace =
                    if settings.store.is_empty() { dir.display().to_string() } else { settings.store.clone() };
                Some(crate::shared_cache::SharedCache::new(url, &namespace, settings.cache_ttl_s)?)
            }
        };
        #[cfg(not(feature = "servers"))]
        if !settings.cache.is_empty() {
            return Err(EngineError::Setting {
                name: "cache".into(),
                reason: "a Redis cache needs a build with the `servers` feature".into(),
            });
        }
        // The graph keeps its own file next to a SQLite store, and its own tables (and
        // connection) in a server store's database, so replicas share it.
        let graph = cairn_graph::GraphDb::open_on(store.connect_another(GRAPH_FILE)?)?;
        let lexicon = crate::graph::build_lexicon(&graph);
        let models = crate::llm::Models::default();
        Ok(Kb {
            store,
            corpus,
            settings,
            tags,
            dense,
            keyword,
            cache,
            graph,
            lexicon,
            models,
            stale: HashSet::new(),
            writer: None,
            versions: versions.into_iter().filter_map(|(k, v)| Some((DocKey::new(&k).ok()?, v))).collect(),
            applied,
            #[cfg(feature = "servers")]
            shared,
        })
    }

    /// The shared (Redis) cache's counters, when one is configured.
    pub fn shared_cache_stats(&self) -> Option<SharedCacheStats> {
        #[cfg(feature = "servers")]
        return self.shared.as_ref().map(crate::shared_cache::SharedCache::stats);
        #[cfg(not(feature = "servers"))]
        None
    }

    /// The shared cache, when configured (always `None` without the `servers` feature).
    #[cfg(feature = "servers")]
    pub(crate) fn shared(&self) -> Option<&crate::shared_cache::SharedCache> {
        self.shared.as_ref()
    }

    /// After a write of this process: bring the indexes' mark up to date (on a server
    /// store other replicas may have written too) and publish what the write touched to
    /// the shared cache.
    fn after_write(&mut self, touched: &Touched, all: bool) -> Result<()> {
        #[cfg(feature = "servers")]
        {
            if self.shared.is_none() && self.store.dialect() == cairn_store::Dialect::Sqlite {
                return Ok(());
            }
            let mark = self.store.change_mark()?;
            self.follow()?;
            if let Some(shared) = &self.shared {
                shared.publish(mark.changes, touched, all);
            }
        }
        #[cfg(not(feature = "servers"))]
        let _ = (touched, all);
        Ok(())
    }

    /// Queues a durable ingestion job (a worker stores it; see `cairn serve --worker`).
    pub fn enqueue(&mut self, request: &cairn_store::jobs::JobRequest) -> Result<i64> {
        Ok(self.store.enqueue(request)?)
    }

    /// Claims the oldest queued job for `worker` (see [`cairn_store::Store::claim`]).
    pub fn claim_job(&mut self, worker: &str, stale_after_s: i64) -> Result<Option<cairn_store::jobs::ClaimedJob>> {
        Ok(self.store.claim(worker, stale_after_s)?)
    }

    /// Records a job's outcome.
    pub fn finish_job(&mut self, id: i64, outcome: std::result::Result<String, String>) -> Result<()> {
        Ok(self.store.finish(id, outcome)?)
    }

    /// One job's record.
    pub fn job(&self, id: i64) -> Result<Option<cairn_store::jobs::JobRecord>> {
        Ok(self.store.job(id)?)
    }

    /// The store's change mark the in-memory indexes reflect.
    pub fn applied_mark(&self) -> cairn_store::ChangeMark {
        self.applied
    }

    /// A listener that wakes a follower when another process changes the store
    /// (PostgreSQL's `LISTEN`; elsewhere it only waits).
    pub fn change_listener(&self) -> cairn_store::ChangeListener {
        self.store.change_listener()
    }

    /// Whether another process wrote the graph since this one loaded it (one small query).
    pub fn graph_behind(&self) -> Result<bool> {
        Ok(self.graph.stored_generation()? != self.graph.generation())
    }

    /// Where the store's change log stands now (one small query).
    pub fn store_mark(&self) -> Result<cairn_store::ChangeMark> {
        Ok(self.store.change_mark()?)
    }

    /// Brings the in-memory indexes (corpus, vectors, keyword index, tags) in line with the
    /// store, for replicas that share a server store: documents whose stored version moved
    /// are re-read whole (each was committed in one transaction, so a half-applied
    /// document is never seen), documents gone from the store are dropped, and cached
    /// results are invalidated precisely. Cheap when nothing changed (one query).
    pub fn follow(&mut self) -> Result<Followed> {
        let graph_reloaded = self.graph.refresh()?;
        if graph_reloaded {
            self.lexicon = crate::graph::build_lexicon(&self.graph);
            self.cache_lock().clear();
        }
        let mark = self.store.change_mark()?;
        let mut report = Followed { mark, graph_reloaded, ..Followed::default() };
        if mark == self.applied {
            return Ok(report);
        }
        let _span = tracing::info_span!("kb.follow", changes = mark.changes, head = mark.head).entered();
        let stored = self.store.versions()?;
        let present: HashSet<&DocKey> = stored.iter().map(|(k, ..)| k).collect();
        let gone: Vec<DocKey> = self.versions.keys().filter(|k| !present.contains(k)).cloned().collect();
        for key in gone {
            self.forget(&key)?;
            report.removed += 1;
        }
        for (key, version, tags) in stored {
            if self.tags.get(&key) != Some(&tags) {
                if self.tags.contains_key(&key) {
                    report.retagged += 1;
                    self.cache_lock().clear();
                }
                self.tags.insert(key.clone(), tags);
            }
            if self.versions.get(&key) == Some(&version) {
                continue;
            }
            let before: HashSet<StableId> =
                self.corpus.doc(&key).map(|d| d.tree.nodes.iter().map(|n| n.id.clone()).collect()).unwrap_or_default();
            let previous_paragraphs: HashSet<StableId> = self.paragraph_ids(&key).collect();
            let loaded = self.store.load(&key)?;
            let version = loaded.record.version;
            self.corpus.upsert(loaded.tree, loaded.chunks, &loaded.terms);
            let vectors = self.follow_store(&key, version, &previous_paragraphs)?;
            let Some(doc) = self.corpus.doc(&key) else { continue };
            let after: HashSet<&StableId> = doc.tree.nodes.iter().map(|n| &n.id).collect();
            let gone: HashSet<StableId> = before.iter().filter(|id| !after.contains(id)).cloned().collect();
            let new = doc
                .tree
                .nodes
                .iter()
                .filter(|n| !before.contains(&n.id))
                .map(|n| TouchedNode { terms: Analyzer.terms(&n.text), vector: vectors.get(&n.id).cloned() })
                .collect();
            self.cache_lock().invalidate(&Touched { gone, new });
            self.versions.insert(key, version);
            report.updated += 1;
        }
        self.applied = mark;
        if report.updated + report.removed + report.retagged > 0 {
            tracing::info!(updated = report.updated, removed = report.removed, "followed the store");
        }
        Ok(report)
    }

    /// Whether dense retrieval is available (an embedding model is loaded).
    pub fn dense_available(&self) -> bool {
        self.dense.is_some()
    }

    /// The embedding model's name, when one is loaded.
    pub fn embedding_model(&self) -> Option<&str> {
        self.dense.as_ref().map(Dense::model)
    }

    pub(crate) fn dense_search(
        &self,
        query: &str,
        k: usize,
        scope: Option<&[(cairn_index::Slot, std::ops::Range<u32>)]>,
    ) -> Result<(Vec<cairn_index::fusion::Ranked<StableId>>, Vec<f32>)> {
        match &self.dense {
            Some(dense) => dense.search(&self.corpus, query, k, scope),
            None => Ok((Vec::new(), Vec::new())),
        }
    }

    /// The tantivy keyword index, when `keyword_engine = "tantivy"`.
    pub(crate) fn keyword_index(&self) -> Option<&KeywordIndex> {
        self.keyword.as_ref()
    }

    pub(crate) fn fusion(&self) -> Fusion {
        if self.settings.fusion == "weighted" { Fusion::Weighted } else { Fusion::Rrf(self.settings.rrf_k) }
    }

    pub(crate) fn cache_lock(&self) -> std::sync::MutexGuard<'_, QueryCache<SearchResults>> {
        // A poisoned cache only means a panic happened mid-update elsewhere; the cache is
        // still a valid map, so keep using it.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cache counters (hits, misses, invalidations).
    pub fn cache_stats(&self) -> cairn_index::cache::CacheStats {
        self.cache_lock().stats()
    }

    /// A document's tags.
    pub fn tags_of(&self, key: &DocKey) -> &[String] {
        self.tags.get(key).map_or(&[], Vec::as_slice)
    }

    /// Replaces a document's tags.
    pub fn set_tags(&mut self, key: &DocKey, tags: Vec<String>) -> Result<()> {
        self.claim_writer()?;
        self.store.set_tags(key, &tags)?;
        self.tags.insert(key.clone(), tags);
        self.cache_lock().clear();
        self.after_write(&Touched::default(), true)?;
        Ok(())
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The in-memory corpus.
    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records a person's verdict on an answer (kept with the IDs it cited).
    pub fn record_feedback(&mut self, feedback: &cairn_store::feedback::Feedback) -> Result<i64> {
        self.claim_writer()?;
        let id = self.store.record_feedback(feedback)?;
        tracing::info!(id, question = %feedback.question, "recorded feedback");
        Ok(id)
    }

    /// Every verdict recorded, oldest first.
    pub fn feedback(&self) -> Result<Vec<cairn_store::feedback::Feedback>> {
        Ok(self.store.feedback()?)
    }

    fn ingest_options(&self, encoding: Option<&str>) -> IngestOptions {
        IngestOptions {
            max_bytes: self.settings.max_file_mb * 1024 * 1024,
            encoding: encoding.map(str::to_owned),
            build: BuildOptions { max_paragraph_tokens: self.settings.max_paragraph_tokens },
            ..IngestOptions::default()
        }
    }

    /// Ingests one file. Errors about the file itself are returned as
    /// [`FileOutcome::Failed`]; only knowledge-base failures are `Err`.
    pub fn ingest_file(&mut self, path: &Path, key: Option<DocKey>, encoding: Option<&str>) -> Result<FileOutcome> {
        let source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()).display().to_string();
        let bytes = match read_file(path, self.settings.max_file_mb * 1024 * 1024) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Ok(FileOutcome::Failed { source, error: e.to_string() }),
            Err(e) => return Ok(FileOutcome::Failed { source, error: e.to_string() }),
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("document").to_owned();
        self.ingest_bytes(&source, &name, &bytes, key, encoding)
    }

    /// Ingests a document held in memory. `source` identifies it across re-ingests.
    pub fn ingest_bytes(
        &mut self,
        source: &str,
        name: &str,
        bytes: &[u8],
        key: Option<DocKey>,
        encoding: Option<&str>,
    ) -> Result<FileOutcome> {
        let _span = tracing::info_span!("ingest", source, bytes = bytes.len()).entered();
        match self.ingest_once(source, name, bytes, key.clone(), encoding) {
            // Another replica wrote this document after our indexes last followed the
            // store: catch up, then assign IDs against the version it stored.
            Err(EngineError::Store(cairn_store::StoreError::Conflict { key: k, expected, found })) => {
                tracing::info!(key = %k, ?expected, ?found, "the document changed meanwhile: following, then retrying");
                self.follow()?;
                self.ingest_once(source, name, bytes, key, encoding)
            }
            other => other,
        }
    }

    fn ingest_once(
        &mut self,
        source: &str,
        name: &str,
        bytes: &[u8],
        key: Option<DocKey>,
        encoding: Option<&str>,
    ) -> Result<FileOutcome> {
        self.claim_writer()?;
        if self.store.dialect() != cairn_store::Dialect::Sqlite {
            // Other replicas write to the same store: start from its current versions, so
            // stable IDs are assigned against the latest stored tree.
            self.follow()?;
        }
        let file_hash = format!("{:032x}", xxh3_128(bytes));
        let existing = self.store.document_by_source(source)?;
        if let Some(doc) = &existing
            && doc.file_hash == file_hash
            && key.as_ref().is_none_or(|k| *k == doc.key)
        {
            if self.stale.contains(&doc.key) {
                self.repair(&doc.key)?;
            }
            return Ok(FileOutcome::Unchanged { key: doc.key.clone() });
        }
        let format = match Format::detect(Path::new(name), &bytes[..bytes.len().min(8)]) {
            Ok(f) => f,
            Err(e) => return Ok(FileOutcome::Failed { source: source.to_owned(), error: e.to_string() }),
        };
        let key = match (&existing, key) {
            (Some(doc), None) => doc.key.clone(),
            (Some(doc), Some(k)) if k != doc.key => {
                // One source is one document: re-keying would orphan the stored IDs.
                return Ok(FileOutcome::Failed {
                    source: source.to_owned(),
                    error: format!(
                        "this source is stored as document `{}`; remove it first to store it as `{k}`",
                        doc.key
                    ),
                });
            }
            (_, Some(k)) => k,
            (None, None) => self.fresh_key(name)?,
        };
        if let Some(other) = self.store.document(&key)?
            && other.source != source
        {
            return Ok(FileOutcome::Failed {
                source: source.to_owned(),
                error: format!("key `{key}` already belongs to {}", other.source),
            });
        }
        // The corpus mirrors the store, so the previous version is read from memory.
        let previous = match self.corpus.doc(&key) {
            Some(doc) => Some(previous_of(&doc.tree, self.store.id_history(&key)?)),
            None => None,
        };
        let options = self.ingest_options(encoding);
        let ingested = match cairn_ingest::ingest_bytes(&key, name, bytes, format, &options, previous.as_ref()) {
            Ok(doc) => doc,
            // Out of time is the request's failure, not the file's.
            Err(cairn_ingest::IngestError::Expired(e)) => return Err(EngineError::Expired(e)),
            Err(e) => return Ok(FileOutcome::Failed { source: source.to_owned(), error: e.to_string() }),
        };
        let plan = PlanOptions { max_chunks: self.settings.max_chunks, ..PlanOptions::default() };
        let chunks = plan_chunks(&ingested.tree, &plan);
        let mut terms = |n: &cairn_core::Node| Analyzer.terms(&n.text).join(" ");
        let report = self.store.apply(DocumentUpdate {
            source,
            format: format.as_str(),
            encoding: ingested.encoding,
            file_hash: &file_hash,
            bytes: bytes.len() as u64,
            tree: &ingested.tree,
            changes: &ingested.changes,
            chunks: &chunks,
            terms: &mut terms,
            base_version: self.versions.get(&key).copied(),
            // A PDF's bytes are kept for the page view (the page rendered, the cited
            // sentence's boxes found on it); other formats have their document view.
            original: (format == Format::Pdf).then_some(bytes),
            text_layer: ingested.text_layer.as_deref(),
        })?;
        // Crash tests stop here: the store has committed, the vector files are not updated.
        cairn_core::failpoint::hit("kb.after_store_commit");
        let previous_paragraphs: HashSet<StableId> = self.paragraph_ids(&key).collect();
        // Refresh the in-memory corpus from what was stored (terms of unchanged nodes are
        // read back, not recomputed).
        let loaded = self.store.load(&key)?;
        self.corpus.upsert(loaded.tree, loaded.chunks, &loaded.terms);
        self.versions.insert(key.clone(), report.version);
        let vectors = match self.follow_store(&key, report.version, &previous_paragraphs) {
            Ok(vectors) => vectors,
            Err(e) => {
                // The store holds the new version; the derived indexes may not. Nothing
                // cached can be trusted, and the document is repaired on the next try.
                tracing::warn!(key = %key, error = %e, "indexes did not follow the store; marked stale");
                self.stale.insert(key.clone());
                self.cache_lock().clear();
                return Err(e);
            }
        };
        let touched = self.invalidate(&ingested, &vectors);
        self.after_write(&touched, false)?;
        self.extract_quietly(&key);
        let c = &ingested.changes;
        Ok(FileOutcome::Stored(StoredVersion {
            key,
            version: report.version,
            added: c.added.len(),
            changed: c.changed.len(),
            removed: c.removed.len(),
            unchanged: c.unchanged,
            nodes: ingested.tree.nodes.len(),
            rows_written: report.inserted + report.updated + report.deleted,
            unread_pages: ingested.unread_pages.clone(),
        }))
    }

    /// Runs the declared graph rules over `key` after a write. The document is stored
    /// whatever happens here: a failure (a schema that no longer parses) is logged and
    /// `cairn graph extract` reports it.
    fn extract_quietly(&mut self, key: &DocKey) {
        match self.extract_after_write(key) {
            Ok(Some(r)) if r.added + r.retired > 0 => {
                tracing::info!(key = %key, added = r.added, retired = r.retired, "graph facts follow the document");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(key = %key, error = %e, "graph rules did not run"),
        }
    }

    /// Brings the vectors and the keyword index in line with the stored version of `key`.
    fn follow_store(
        &mut self,
        key: &DocKey,
        version: u32,
        previous_paragraphs: &HashSet<StableId>,
    ) -> Result<HashMap<StableId, Vec<f32>>> {
        let vectors = match &mut self.dense {
            Some(dense) => {
                dense.update_document(&self.store, &self.corpus, key.as_str(), version, previous_paragraphs)?
            }
            None => HashMap::new(),
        };
        if let (Some(index), Some(doc)) = (&mut self.keyword, self.corpus.doc(key)) {
            crate::keyword::sync_document(index, &doc.tree, version)?;
        }
        Ok(vectors)
    }

    /// Repairs the derived indexes of a document marked stale.
    fn repair(&mut self, key: &DocKey) -> Result<()> {
        let version = self.store.document(key)?.map_or(0, |d| d.version);
        let paragraphs: HashSet<StableId> = self.paragraph_ids(key).collect();
        self.follow_store(key, version, &paragraphs)?;
        self.cache_lock().clear();
        self.stale.remove(key);
        tracing::info!(key = %key, "stale indexes repaired");
        Ok(())
    }

    /// Claims the knowledge base for writing (once; kept until the `Kb` is dropped).
    pub(crate) fn claim_writer(&mut self) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(crate::lock::WriterLock::acquire(self.store.dir())?);
        }
        Ok(())
    }

    /// The stable IDs of a document's paragraphs, as the in-memory corpus has them.
    fn paragraph_ids(&self, key: &DocKey) -> impl Iterator<Item = StableId> + '_ {
        self.corpus
            .doc(key)
            .into_iter()
            .flat_map(|d| d.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| n.id.clone()))
    }

    /// Whether a document's derived indexes are known to lag its stored version.
    pub fn is_stale(&self, key: &DocKey) -> bool {
        self.stale.contains(key)
    }

    /// Drops exactly the cached results this update can change; returns what it touched.
    fn invalidate(&self, ingested: &cairn_ingest::Ingested, vectors: &HashMap<StableId, Vec<f32>>) -> Touched {
        #[cfg(feature = "servers")]
        let shared = self.shared.is_some();
        #[cfg(not(feature = "servers"))]
        let shared = false;
        if self.cache_lock().is_empty() && !shared {
            return Touched::default(); // nothing cached: skip analysing the new text
        }
        let c = &ingested.changes;
        let gone: HashSet<StableId> = c.removed.iter().chain(c.changed.iter().map(|(old, _)| old)).cloned().collect();
        let fresh: HashSet<&StableId> = c.added.iter().chain(c.changed.iter().map(|(_, new)| new)).collect();
        let new = ingested
            .tree
            .nodes
            .iter()
            .filter(|n| fresh.contains(&n.id))
            .map(|n| TouchedNode { terms: Analyzer.terms(&n.text), vector: vectors.get(&n.id).cloned() })
            .collect();
        let touched = Touched { gone, new };
        let dropped = self.cache_lock().invalidate(&touched);
        tracing::debug!(dropped, "cache invalidated");
        touched
    }

    fn fresh_key(&self, name: &str) -> Result<DocKey> {
        let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
        let base = DocKey::from_file_stem(stem);
        let mut key = base.clone();
        let mut n = 2;
        while self.store.document(&key)?.is_some() {
            key = base.with_suffix(n);
            n += 1;
        }
        Ok(key)
    }

    /// All documents.
    pub fn list(&self) -> Result<Vec<DocumentRecord>> {
        Ok(self.store.documents()?)
    }

    /// Resolves a stable or display ID.
    pub fn show(&self, id: &str) -> Result<Resolved> {
        let node: NodeRef = id.parse()?;
        self.store.resolve(&node)?.ok_or_else(|| EngineError::UnknownNode { id: id.to_owned() })
    }

    /// The original file of document `key`, when one is kept (PDFs).
    pub fn original(&self, key: &DocKey) -> Result<cairn_store::Original> {
        self.store.original(key)?.ok_or_else(|| EngineError::NoOriginal { key: key.to_string() })
    }

    /// Where node `id`'s text is on its PDF's pages: the boxes a page view highlights. A
    /// retired ID shows its successor's text, as [`Kb::show`] does.
    pub fn page_boxes(&self, id: &str) -> Result<PageView> {
        let live = match self.show(id)? {
            Resolved::Live(node) => node,
            Resolved::Retired(r) => *r.current.ok_or_else(|| EngineError::UnknownNode { id: id.to_owned() })?,
        };
        let key = live.display.key.clone();
        let Some(pages) = live.pages else { return Err(EngineError::NoOriginal { key: key.to_string() }) };
        let original = self.original(&key)?;
        let timeout = IngestOptions::default().pdf_timeout;
        let found = match cairn_ingest::locate::locate(
            &original.bytes,
            original.text_layer.as_deref(),
            pages,
            &live.text,
            live.context.as_deref(),
            timeout,
        ) {
            Ok(found) => found,
            Err(cairn_ingest::IngestError::Expired(e)) => return Err(EngineError::Expired(e)),
            Err(source) => return Err(EngineError::Ingest { path: key.to_string(), source }),
        };
        Ok(PageView { key, id: live.id, text: live.text, pages: found })
    }

    /// The texts of a live node's direct child paragraphs, in order (a table section's
    /// rows).
    pub fn child_paragraphs(&self, id: &StableId) -> Vec<&str> {
        let Some((d, i)) = self.corpus.locate(id) else { return Vec::new() };
        let tree = &self.corpus.docs()[d].tree;
        let end = tree.nodes[i as usize].end as usize;
        tree.nodes[i as usize + 1..end]
            .iter()
            .filter(|n| n.parent == Some(i) && n.kind == cairn_core::NodeKind::Paragraph)
            .map(|n| n.text.as_str())
            .collect()
    }

    /// The char span of a live node in its document's extracted text, and that text.
    pub fn context(&self, id: &StableId) -> Option<(cairn_core::Span, &str)> {
        let (base, sentence) = match id.split_sentence() {
            Some((p, n)) => (p, Some(n)),
            None => (id.clone(), None),
        };
        let (d, i) = self.corpus.locate(&base)?;
        let tree = &self.corpus.docs()[d].tree;
        let node = &tree.nodes[i as usize];
        let span = match sentence {
            Some(n) => {
                let rel = node.sentences.get(n.checked_sub(1)? as usize)?;
                cairn_core::Span::new(node.span.start + rel.start, node.span.start + rel.end)
            }
            None => node.span,
        };
        Some((span, tree.text.as_str()))
    }

    /// Removes a document; its IDs are retired.
    pub fn remove(&mut self, key: &str) -> Result<usize> {
        self.claim_writer()?;
        let key = DocKey::new(key).map_err(|_| EngineError::UnknownDocument { key: key.to_owned() })?;
        if self.store.document(&key)?.is_none() {
            return Err(EngineError::UnknownDocument { key: key.to_string() });
        }
        let n = self.store.remove(&key)?;
        let touched = self.forget(&key)?;
        self.after_write(&touched, false)?;
        // The rule facts it stated go with it.
        self.extract_quietly(&key);
        Ok(n)
    }

    /// Drops a document the store no longer holds from every in-memory index and from the
    /// cache; returns what that touched.
    fn forget(&mut self, key: &DocKey) -> Result<Touched> {
        let ids: Vec<StableId> = self.paragraph_ids(key).collect();
        self.corpus.remove(key);
        if let Some(dense) = &mut self.dense {
            dense.remove_document(key.as_str(), &ids)?;
        }
        if let Some(index) = &mut self.keyword {
            index.remove_document(key.as_str())?;
        }
        self.tags.remove(key);
        self.versions.remove(key);
        self.stale.remove(key);
        let touched = Touched { gone: ids.into_iter().collect(), new: Vec::new() };
        self.cache_lock().invalidate(&touched);
        Ok(touched)
    }

    /// Answers a question with the selector `options` names, or with the configured
    /// language models when `llm` is set.
    pub fn ask(&self, question: &str, options: &AskOptions, sink: &mut dyn EventSink) -> Result<Asked> {
        cairn_core::deadline::check()?;
        if self.store.dialect() != cairn_store::Dialect::Sqlite {
            // Citations are verified against the store: when a database server is down,
            // fail now (503) rather than abstain on every claim.
            self.store.ping()?;
        }
        if self.llm_enabled() {
            let _span = tracing::info_span!("ask.llm", question).entered();
            let started = Instant::now();
            let (navigation, draft, report) = self.ask_llm(question, options, sink)?;
            return self.finish(question, started, navigation, draft, Some(report), sink);
        }
        let lexical = LexicalSelector { ratio: 0.5, max_picks: self.settings.max_picks };
        match (options.selector, self.dense_available()) {
            (SelectorKind::Hybrid | SelectorKind::Auto, true) => {
                let selector = self.hybrid_selector(question, options, lexical)?;
                self.ask_with(question, options, &selector, sink)
            }
            (SelectorKind::Hybrid, false) => {
                let mut asked = self.ask_with(question, options, &lexical, sink)?;
                asked
                    .navigation
                    .scratchpad
                    .notes
                    .push("no embedding model configured: the hybrid selector fell back to lexical".into());
                Ok(asked)
            }
            (SelectorKind::Lexical | SelectorKind::Auto, _) => self.ask_with(question, options, &lexical, sink),
        }
    }

    /// Navigation only, as `ask` navigates without a language model (lexical, or hybrid
    /// when an embedder is loaded and the selector allows): the evidence `ask` would pass
    /// to an answer model. For building training data.
    pub fn navigate_only(&self, question: &str, options: &AskOptions) -> Result<Navigation> {
        let lexical = LexicalSelector { ratio: 0.5, max_picks: self.settings.max_picks };
        let mut sink = cairn_core::NoEvents;
        match (options.selector, self.dense_available()) {
            (SelectorKind::Hybrid | SelectorKind::Auto, true) => {
                let selector = self.hybrid_selector(question, options, lexical)?;
                self.navigate(question, options, &selector, &mut sink)
            }
            _ => self.navigate(question, options, &lexical, &mut sink),
        }
    }

    /// Navigation with a caller's selector (for training data: a selector that knows the
    /// gold paragraph).
    pub fn navigate_with(
        &self,
        question: &str,
        options: &AskOptions,
        selector: &dyn cairn_core::Selector,
    ) -> Result<Navigation> {
        self.navigate(question, options, selector, &mut cairn_core::NoEvents)
    }

    /// A selector boosted by hybrid search: every chunk (and document) containing one of
    /// the top hybrid hits gains `1/(60 + rank)` per hit.
    pub(crate) fn hybrid_selector(
        &self,
        question: &str,
        options: &AskOptions,
        inner: LexicalSelector,
    ) -> Result<BoostedSelector> {
        let search = crate::SearchOptions {
            k: 20,
            docs: options.docs.clone(),
            rerank: Some(false),
            ..crate::SearchOptions::default()
        };
        let (results, _) = self.search(question, &search)?;
        let mut boost: HashMap<cairn_core::ChunkId, f32> = HashMap::new();
        for hit in &results.hits {
            let Some((d, node)) = self.corpus.locate(&hit.id) else { continue };
            let entry = &self.corpus.docs()[d];
            let gain = 1.0 / (60.0 + hit.rank as f32);
            *boost.entry(cairn_core::ChunkId(format!("doc:{}", entry.tree.key))).or_default() += gain;
            for (c, range) in entry.ranges.iter().enumerate() {
                if range.contains(&node) {
                    *boost.entry(entry.chunks[c].id.clone()).or_default() += gain;
                }
            }
        }
        Ok(BoostedSelector { boost, weight: 0.5, inner, label: "hybrid".into() })
    }

    /// Runs navigation with any selector over the documents `options` allows.
    pub(crate) fn navigate(
        &self,
        question: &str,
        options: &AskOptions,
        selector: &dyn cairn_core::Selector,
        sink: &mut dyn EventSink,
    ) -> Result<Navigation> {
        if let Some(keys) = &options.docs {
            for key in keys {
                if self.corpus.doc(key).is_none() {
                    return Err(EngineError::UnknownDocument { key: key.to_string() });
                }
            }
        }
        let s = &self.settings;
        let nav_options = NavOptions {
            max_chunks: s.max_chunks,
            max_depth: s.max_depth,
            max_picks: s.max_picks,
            max_paragraphs: s.max_paragraphs,
            max_evaluated: s.max_evaluated,
            docs: options.docs.clone(),
        };
        let mut navigation = Navigator::new(&self.corpus, nav_options).navigate(question, selector, sink)?;
        if let Some(spec) = self.rerank_spec(None)
            && navigation.passages.len() > 1
        {
            let ranked: Vec<(StableId, f32, (), ())> =
                navigation.passages.iter().map(|p| (p.id.clone(), p.score, (), ())).collect();
            let (order, margins, usage) = self.rerank_ids(&spec, question, &ranked)?;
            let mut passages: Vec<Option<cairn_core::Passage>> = navigation.passages.drain(..).map(Some).collect();
            navigation.passages = order.into_iter().filter_map(|i| passages[i].take()).collect();
            let shown: Vec<String> = navigation
                .passages
                .iter()
                .filter_map(|p| {
                    margins.get(&p.id).map(|m| format!("{} {:+.2} (was #{})", p.display, m.margin, m.before))
                })
                .collect();
            navigation.scratchpad.notes.push(format!(
                "reranked the best {} paragraphs by {} in {:.1} s: {}",
                margins.len(),
                usage.model,
                usage.millis / 1000.0,
                shown.join(", ")
            ));
        }
        Ok(navigation)
    }

    /// Answers a question with any selector. Every citation is verified against the
    /// knowledge base on disk before the answer is returned.
    pub fn ask_with(
        &self,
        question: &str,
        options: &AskOptions,
        selector: &dyn cairn_core::Selector,
        sink: &mut dyn EventSink,
    ) -> Result<Asked> {
        let _span = tracing::info_span!("ask", question).entered();
        let started = Instant::now();
        let navigation = self.navigate(question, options, selector, sink)?;
        let s = &self.settings;
        let answer_options =
            AnswerOptions { max_claims: s.max_claims, min_coverage: s.min_coverage, ..AnswerOptions::default() };
        let draft = extractive(&self.corpus, question, &navigation, &answer_options);
        self.finish(question, started, navigation, draft, None, sink)
    }

    /// Verifies a draft against the store (the only way to an `Answer<Cited>`), gathers
    /// sources and graph facts.
    fn finish(
        &self,
        question: &str,
        started: Instant,
        navigation: Navigation,
        draft: cairn_core::Answer<cairn_core::Draft>,
        llm: Option<crate::llm::LlmReport>,
        sink: &mut dyn EventSink,
    ) -> Result<Asked> {
        let answer = draft.verify(&self.store).map_err(EngineError::Unverified)?;
        sink.event(cairn_core::Event::Answer(&answer));
        let mut sources: Vec<Source> = Vec::new();
        for citation in answer.citations() {
            if !sources.iter().any(|s| s.id == citation.id)
                && let Some(source) = self.source(&citation.id)
            {
                sources.push(source);
            }
        }
        let graph = self.graph_evidence(question)?;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            millis,
            claims = answer.claims().len(),
            abstained = answer.abstention().is_some(),
            graph_facts = graph.facts.len(),
            llm = llm.is_some(),
            "answered"
        );
        Ok(Asked { answer, navigation, sources, graph, llm, millis })
    }

    fn source(&self, id: &StableId) -> Option<Source> {
        let (d, i) = self.corpus.locate(id)?;
        let tree = &self.corpus.docs()[d].tree;
        let node = &tree.nodes[i as usize];
        let section = tree.enclosing_section(i as usize).map(|p| p.text.clone());
        Some(Source {
            id: id.clone(),
            display: tree.display_id(i as usize).to_string(),
            doc: tree.key.to_string(),
            doc_title: tree.title.clone(),
            section,
            heading_path: tree.heading_path(i as usize).into_iter().map(str::to_owned).collect(),
            pages: node.pages,
        })
    }

    /// The display ID of a live node.
    pub fn display_of(&self, id: &StableId) -> Option<String> {
        // A sentence shows as its paragraph's display ID and its number in it.
        if let Some((para, n)) = id.split_sentence() {
            return self.display_of(&para).map(|d| format!("{d}.{n}"));
        }
        let (d, i) = self.corpus.locate(id)?;
        Some(self.corpus.docs()[d].tree.display_id(i as usize).to_string())
    }
}

/// Expands files and folders (recursively) into the supported files they contain, in a
/// stable order. Unsupported files inside folders are skipped; paths given explicitly are
/// kept so that their error is reported.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out, &mut seen)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Symlinked folders are followed, each real folder once: a link back up the tree is not a
/// loop.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut std::collections::HashSet<PathBuf>) -> std::io::Result<()> {
    if !seen.insert(dir.canonicalize()?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        // Hidden files, and the `~$name.docx` lock files Office writes beside an open
        // document (a few bytes that are not a document), are not documents.
        let hidden =
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with("~$"));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out, seen)?;
        } else if Format::is_supported_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}
