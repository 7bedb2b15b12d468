//! The one typed settings struct. The CLI fills it in layers (defaults, `cairn.toml`,
//! `CAIRN_*` environment variables, flags); the engine only ever receives it.

use serde::{Deserialize, Serialize};

/// Every tunable of the engine, with its default.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Files over this many megabytes are refused (`max_file_mb`, default 100).
    pub max_file_mb: u64,
    /// Paragraphs over this many tokens are split on sentence boundaries (default 400).
    pub max_paragraph_tokens: u32,
    /// Chunks per navigation level (the seed's 20).
    pub max_chunks: usize,
    /// Navigation levels (the seed's 3).
    pub max_depth: u32,
    /// Picks kept per level (default 3).
    pub max_picks: usize,
    /// Paragraphs returned as evidence (default 5).
    pub max_paragraphs: usize,
    /// Candidates scored per question, across levels (default 400).
    pub max_evaluated: usize,
    /// Sentences quoted in an extractive answer (default 3).
    pub max_claims: usize,
    /// Abstain when the best passage covers less than this share of the question's key
    /// terms (calibrated; see BENCHMARKS.md).
    pub min_coverage: f32,
    /// A local BERT-family embedding model: a Hugging Face folder (config.json,
    /// model.safetensors, tokenizer.json), multilingual-e5-small's E5S1 file (or its
    /// folder), or `local` for the best one fetched into `models_dir` (e5, else MiniLM);
    /// enables dense and hybrid search. Needs the `embed-local` feature.
    pub embedding_model: Option<String>,
    /// Base URL (up to `/v1`) of an OpenAI-compatible embeddings endpoint; an alternative
    /// to `embedding_model` (and the route to Chinese dense retrieval with a multilingual
    /// model).
    pub embedding_endpoint: Option<String>,
    /// Model name sent to the endpoint.
    pub embedding_endpoint_model: String,
    /// Bearer token for the endpoint. The CLI fills it from `OPENAI_API_KEY`; never
    /// written back out.
    #[serde(skip_serializing)]
    pub embedding_api_key: Option<String>,
    /// Vector index: `hnsw` (default) or `exact` (brute force).
    pub vector_index: String,
    /// BM25 engine for `search`: `memory` (default; the segmented in-memory index that
    /// navigation also uses) or `tantivy` (needs the `keyword-tantivy` feature).
    pub keyword_engine: String,
    /// Fusion for hybrid search: `rrf` (default) or `weighted`.
    pub fusion: String,
    /// RRF's k (default 60).
    pub rrf_k: f32,
    /// Weight of BM25 in fusion (default 1).
    pub bm25_weight: f32,
    /// Weight of dense retrieval in fusion (default 0.5; see BENCHMARKS.md).
    pub dense_weight: f32,
    /// Fusion weights per query kind, `KIND=BM25:DENSE` separated by commas (kinds:
    /// zh-question, zh-keywords, en-question, en-keywords); kinds not listed use
    /// `bm25_weight` and `dense_weight`. `cairn eval retrieval --learn-fusion` learns them on
    /// a development split. Default empty.
    pub fusion_weights: String,
    /// Weight of document-level fusion in hybrid search (default 0, off): each retriever's
    /// list is also ranked by document, those rankings are fused, and this times a
    /// paragraph's document score is added to it. `cairn eval retrieval --learn-fusion`
    /// learns it on a development split.
    pub doc_fusion: f32,
    /// Where the system of record lives: empty (default) for `kb.sqlite` in the knowledge
    /// base directory, `sqlite:DIR`, `postgres://…` or `mysql://…` (the `servers` feature).
    /// The directory still holds the local indexes and the graph.
    pub store: String,
    /// The search result cache: empty (default) for the in-process cache, or
    /// `redis://HOST:PORT[/DB]` to share one cache among replicas (feature `servers`).
    pub cache: String,
    /// Seconds a shared (Redis) cache entry lives (default 3600).
    pub cache_ttl_s: u64,
    /// Cached search results kept (default 1024).
    pub cache_entries: usize,
    /// Megabytes the cached search results may take, keys included (default 64).
    pub cache_mb: usize,
    /// The language model for `ask`, as a backend spec: `openai[:MODEL]`, `gguf:PATH`,
    /// `replay:CASSETTE`, `record:CASSETTE=SPEC`. None (the default) answers extractively.
    pub llm: Option<String>,
    /// The router's model (default: `llm`).
    pub router_llm: Option<String>,
    /// The answerer's model (default: `llm`).
    pub answer_llm: Option<String>,
    /// The judge's model (default: `llm`; `off` for none).
    pub judge_llm: Option<String>,
    /// How the router asks: `json` (structured calls), `logprob` (Yes/No
    /// log-probabilities over compact chunk cards, for small models) or `auto` (the
    /// default: `logprob` for a local model, `json` for a server).
    pub router_mode: String,
    /// In log-probability routing, the candidates per level the model scores, the best by
    /// lexical evidence (default 8; each costs one short prompt).
    pub router_candidates: usize,
    /// A model that reranks the best passages of every search and of navigation by its
    /// Yes/No log-probability that the passage answers the question (`local`, `gguf:PATH`,
    /// or another model spec; default none). `cairn search --rerank` turns it on for one
    /// search.
    pub rerank: Option<String>,
    /// Passages the reranker reads (default 20).
    pub rerank_top: usize,
    /// Tokens of each passage the reranker reads, after its title and section (default 80).
    pub rerank_tokens: usize,
    /// Weight of the first stage's relative score beside the model's margin (default 1.0,
    /// the router's rule; 0 ranks by the margin alone).
    pub rerank_prior: f32,
    /// With a model, rewrite the question into the documents' vocabulary (terms, governing
    /// sources, sub-questions) before navigating (default true).
    pub rewrite: bool,
    /// Prompt tokens per navigation level at most.
    pub router_budget_tokens: usize,
    /// Evidence tokens sent to the answerer at most.
    pub answer_budget_tokens: usize,
    /// Base URL of the OpenAI-compatible server (the CLI fills it from `OPENAI_BASE_URL`).
    pub llm_base_url: String,
    /// Default model name on that server.
    pub llm_model: String,
    /// Bearer token for it (the CLI fills it from `OPENAI_API_KEY`; never written out).
    #[serde(skip_serializing)]
    pub llm_api_key: Option<String>,
    /// Context length for local GGUF models.
    pub gguf_ctx: u32,
    /// Compute threads of local GGUF models (default 0: every core).
    pub gguf_threads: u32,
    /// Local generations that may run at once, each in its own context with `gguf_threads`
    /// threads (default 1; `cairn eval qa --jobs N` sets N).
    pub gguf_contexts: u32,
    /// Where `scripts/fetch-models.sh` put the weights, for `llm = "local"` (default
    /// `models`).
    pub models_dir: String,
    /// A GGUF that `llm = "local"` runs instead of the best fetched model: an adapted
    /// model (`cairn train export`) registered in the knowledge base's `cairn.toml`
    /// (default empty: none).
    pub local_model: String,
    /// Prices in USD per million tokens, per stage: prompt, then completion.
    pub router_price: (f64, f64),
    /// See `router_price`.
    pub answer_price: (f64, f64),
    /// See `router_price`.
    pub judge_price: (f64, f64),
}

/// Settings hold API keys: `Debug` prints every field but those, which show only
/// whether they are set.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are never serialised; say whether each is set, not what it is.
        let mut value = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        if let Some(map) = value.as_object_mut() {
            for (name, key) in [("embedding_api_key", &self.embedding_api_key), ("llm_api_key", &self.llm_api_key)] {
                let shown = key.as_ref().map_or(serde_json::Value::Null, |_| "<redacted>".into());
                map.insert(name.to_owned(), shown);
            }
        }
        write!(f, "Settings {value}")
    }
}

impl Settings {
    /// Threads for local GGUF inference: the setting, or every core when it is 0.
    pub fn gguf_threads(&self) -> u32 {
        if self.gguf_threads > 0 {
            return self.gguf_threads;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_file_mb: 100,
            max_paragraph_tokens: 400,
            max_chunks: 20,
            max_depth: 3,
            max_picks: 3,
            max_paragraphs: 5,
            max_evaluated: 400,
            max_claims: 3,
            min_coverage: cairn_navigate::answer::DEFAULT_MIN_COVERAGE,
            embedding_model: None,
            embedding_endpoint: None,
            embedding_endpoint_model: "text-embedding-3-small".into(),
            embedding_api_key: None,
            vector_index: "hnsw".into(),
            keyword_engine: "memory".into(),
            fusion: "rrf".into(),
            rrf_k: 60.0,
            bm25_weight: 1.0,
            dense_weight: 0.5,
            doc_fusion: 0.0,
            store: String::new(),
            cache: String::new(),
            cache_ttl_s: 3600,
            fusion_weights: String::new(),
            cache_entries: 1024,
            cache_mb: 64,
            llm: None,
            router_llm: None,
            answer_llm: None,
            judge_llm: None,
            router_mode: "auto".into(),
            rewrite: true,
            router_candidates: 8,
            rerank: None,
            rerank_top: 20,
            rerank_tokens: 80,
            rerank_prior: 1.0,
            router_budget_tokens: 3000,
            answer_budget_tokens: 2500,
            llm_base_url: "https://api.openai.com/v1".into(),
            llm_model: "gpt-4o-mini".into(),
            llm_api_key: None,
            gguf_ctx: 4096,
            gguf_threads: 0,
            gguf_contexts: 1,
            models_dir: "models".into(),
            local_model: String::new(),
            router_price: (0.0, 0.0),
            answer_price: (0.0, 0.0),
            judge_price: (0.0, 0.0),
        }
    }
}

fn spec(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty() && v != "none")
}

fn price(value: &str) -> Option<(f64, f64)> {
    let (a, b) = value.split_once(',')?;
    let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a >= 0.0 && b >= 0.0).then_some((a, b))
}

impl Settings {
    /// Sets one setting from text (for `CAIRN_*` variables and `--set name=value`).
    pub fn set(&mut self, name: &str, value: &str) -> crate::Result<()> {
        let bad = |reason: &str| crate::EngineError::Setting { name: name.to_owned(), reason: reason.to_owned() };
        fn parse<T: std::str::FromStr>(v: &str) -> Option<T> {
            v.trim().parse().ok()
        }
        match name {
            "max_file_mb" => self.max_file_mb = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_paragraph_tokens" => {
                self.max_paragraph_tokens = parse(value).ok_or_else(|| bad("expected a whole number"))?
            }
            "max_chunks" => self.max_chunks = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_depth" => self.max_depth = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_picks" => self.max_picks = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_paragraphs" => self.max_paragraphs = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_evaluated" => self.max_evaluated = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "max_claims" => self.max_claims = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "min_coverage" => {
                let v: f32 = parse(value).ok_or_else(|| bad("expected a number"))?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad("expected a number between 0 and 1"));
                }
                self.min_coverage = v;
            }
            "embedding_model" => {
                self.embedding_model = Some(value.trim().to_owned()).filter(|v| !v.is_empty() && v != "none")
            }
            "embedding_endpoint" => {
                self.embedding_endpoint = Some(value.trim().to_owned()).filter(|v| !v.is_empty() && v != "none")
            }
            "embedding_endpoint_model" => self.embedding_endpoint_model = value.trim().to_owned(),
            "vector_index" => self.vector_index = value.trim().to_owned(),
            "keyword_engine" => self.keyword_engine = value.trim().to_owned(),
            "fusion" => self.fusion = value.trim().to_owned(),
            "rrf_k" => self.rrf_k = parse(value).ok_or_else(|| bad("expected a number"))?,
            "bm25_weight" => self.bm25_weight = parse(value).ok_or_else(|| bad("expected a number"))?,
            "dense_weight" => self.dense_weight = parse(value).ok_or_else(|| bad("expected a number"))?,
            "fusion_weights" => self.fusion_weights = value.trim().to_owned(),
            "doc_fusion" => self.doc_fusion = parse(value).ok_or_else(|| bad("expected a number"))?,
            "store" => self.store = value.trim().to_owned(),
            "cache" => self.cache = value.trim().to_owned(),
            "cache_ttl_s" => self.cache_ttl_s = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "cache_entries" => self.cache_entries = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "cache_mb" => self.cache_mb = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "llm" => self.llm = spec(value),
            "router_llm" => self.router_llm = spec(value),
            "answer_llm" => self.answer_llm = spec(value),
            "judge_llm" => self.judge_llm = spec(value),
            "router_mode" => self.router_mode = value.trim().to_owned(),
            "router_candidates" => {
                self.router_candidates = parse(value).ok_or_else(|| bad("expected a whole number"))?
            }
            "rerank" => self.rerank = spec(value),
            "rerank_top" => self.rerank_top = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "rerank_tokens" => self.rerank_tokens = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "rerank_prior" => {
                self.rerank_prior = parse(value)
                    .filter(|v: &f32| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| bad("expected a number ≥ 0"))?
            }
            "rewrite" => self.rewrite = parse(value).ok_or_else(|| bad("expected true or false"))?,
            "router_budget_tokens" => {
                self.router_budget_tokens = parse(value).ok_or_else(|| bad("expected a whole number"))?
            }
            "answer_budget_tokens" => {
                self.answer_budget_tokens = parse(value).ok_or_else(|| bad("expected a whole number"))?
            }
            "llm_base_url" => self.llm_base_url = value.trim().to_owned(),
            "llm_model" => self.llm_model = value.trim().to_owned(),
            "gguf_ctx" => self.gguf_ctx = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "gguf_threads" => self.gguf_threads = parse(value).ok_or_else(|| bad("expected a whole number"))?,
            "gguf_contexts" => {
                self.gguf_contexts =
                    parse(value).filter(|n| (1..=64).contains(n)).ok_or_else(|| bad("expected 1 to 64"))?
            }
            "models_dir" => self.models_dir = value.to_owned(),
            "local_model" => self.local_model = value.to_owned(),
            "router_price" => {
                self.router_price =
                    price(value).ok_or_else(|| bad("expected PROMPT,COMPLETION in USD per 1M tokens"))?
            }
            "answer_price" => {
                self.answer_price =
                    price(value).ok_or_else(|| bad("expected PROMPT,COMPLETION in USD per 1M tokens"))?
            }
            "judge_price" => {
                self.judge_price = price(value).ok_or_else(|| bad("expected PROMPT,COMPLETION in USD per 1M tokens"))?
            }
            _ => return Err(bad("unknown setting")),
        }
        self.validate()
    }

    /// Checks ranges.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |name: &str, reason: &str| crate::EngineError::Setting { name: name.into(), reason: reason.into() };
        if self.max_chunks < 2 {
            return Err(bad("max_chunks", "must be at least 2"));
        }
        if self.max_depth == 0
            || self.max_paragraphs == 0
            || self.max_claims == 0
            || self.max_picks == 0
            || self.router_candidates == 0
            || self.rerank_top == 0
            || self.rerank_tokens == 0
        {
            return Err(bad(
                "max_depth/max_paragraphs/max_claims/max_picks/router_candidates/rerank_top/rerank_tokens",
                "must be at least 1",
            ));
        }
        if self.max_file_mb == 0 {
            return Err(bad("max_file_mb", "must be at least 1"));
        }
        if self.embedding_model.is_some() && self.embedding_endpoint.is_some() {
            return Err(bad("embedding_model/embedding_endpoint", "set one, not both"));
        }
        if !matches!(self.vector_index.as_str(), "hnsw" | "exact") {
            return Err(bad("vector_index", "expected hnsw or exact"));
        }
        if !matches!(self.keyword_engine.as_str(), "memory" | "tantivy") {
            return Err(bad("keyword_engine", "expected memory or tantivy"));
        }
        if !matches!(self.fusion.as_str(), "rrf" | "weighted") {
            return Err(bad("fusion", "expected rrf or weighted"));
        }
        if !matches!(self.router_mode.as_str(), "json" | "logprob" | "auto") {
            return Err(bad("router_mode", "expected json, logprob or auto"));
        }
        if self.router_budget_tokens < 200 || self.answer_budget_tokens < 200 {
            return Err(bad("router_budget_tokens/answer_budget_tokens", "must be at least 200"));
        }
        crate::query_kind::KindWeights::parse(&self.fusion_weights).map_err(|e| bad("fusion_weights", &e))?;
        if !(self.cache.is_empty() || self.cache.starts_with("redis://") || self.cache.starts_with("rediss://")) {
            return Err(bad("cache", "expected empty (in-process) or a redis:// URL"));
        }
        if !self.store.is_empty() {
            cairn_store::StoreUrl::parse(&self.store).map_err(|e| bad("store", &e.to_string()))?;
        }
        if !(self.rrf_k > 0.0 && self.bm25_weight >= 0.0 && self.dense_weight >= 0.0 && self.doc_fusion >= 0.0) {
            return Err(bad(
                "rrf_k/bm25_weight/dense_weight/doc_fusion",
                "rrf_k must be positive and weights not negative",
            ));
        }
        Ok(())
    }

    /// The names `set` accepts.
    pub const NAMES: &'static [&'static str] = &[
        "max_file_mb",
        "max_paragraph_tokens",
        "max_chunks",
        "max_depth",
        "max_picks",
        "max_paragraphs",
        "max_evaluated",
        "max_claims",
        "min_coverage",
        "embedding_model",
        "embedding_endpoint",
        "embedding_endpoint_model",
        "vector_index",
        "keyword_engine",
        "fusion",
        "rrf_k",
        "bm25_weight",
        "dense_weight",
        "fusion_weights",
        "doc_fusion",
        "store",
        "cache",
        "cache_ttl_s",
        "cache_entries",
        "cache_mb",
        "llm",
        "router_llm",
        "answer_llm",
        "judge_llm",
        "router_mode",
        "rewrite",
        "router_candidates",
        "rerank",
        "rerank_top",
        "rerank_tokens",
        "rerank_prior",
        "router_budget_tokens",
        "answer_budget_tokens",
        "llm_base_url",
        "llm_model",
        "gguf_ctx",
        "gguf_threads",
        "gguf_contexts",
        "models_dir",
        "local_model",
        "router_price",
        "answer_price",
        "judge_price",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_an_api_key() {
        let settings = Settings { llm_api_key: Some("sk-live-123".into()), ..Settings::default() };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sk-live"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("max_file_mb"), "{shown}");
    }
}
