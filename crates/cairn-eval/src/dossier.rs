//! The dossier-bench adapter.

use std::path::{Path, PathBuf};

use cairn_core::NoEvents;
use cairn_engine::{AskOptions, FileOutcome, Kb, Settings};
use serde::{Deserialize, Serialize};

/// Evaluation errors.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file of the set could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A YAML file did not parse.
    #[error("{path}: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// A file of the set is malformed.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] cairn_engine::EngineError),
    /// A language model failed.
    #[error("language model: {0}")]
    Model(#[from] cairn_core::CoreError),
}

/// Result alias.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// One search query with its expected documents.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchQuery {
    /// The query text.
    pub query: String,
    /// Expected document keys.
    pub expect: Vec<String>,
    /// The set's cut-off.
    pub k: usize,
}

#[derive(Debug, Deserialize)]
struct SearchFile {
    queries: Vec<SearchQuery>,
}

#[derive(Debug, Deserialize)]
struct ScenarioFile {
    id: String,
    group: String,
    #[serde(default)]
    tags: Vec<String>,
    turns: Vec<Turn>,
}

#[derive(Debug, Deserialize)]
struct Turn {
    content: String,
}

/// A QA scenario's first question.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Scenario ID.
    pub id: String,
    /// Group (`qa-grounded`, `negative`, …).
    pub group: String,
    /// The first turn's question.
    pub question: String,
    /// Whether the case does not contain the answer.
    pub negative: bool,
}

/// One case of the set.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case name (folder).
    pub name: String,
    /// Extracted text files, by document key.
    pub docs: Vec<(String, PathBuf)>,
    /// Search queries.
    pub queries: Vec<SearchQuery>,
    /// QA scenarios.
    pub scenarios: Vec<Scenario>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_owned(), source })
}

/// Which files a case's documents are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// The set's own extracted text (`expected/text/KEY.txt`).
    #[default]
    ExtractedText,
    /// The original files (`docs/`: DOCX, XLSX, e-mail, CSV, PDF, …) where Cairn reads
    /// their format; the extracted text for the rest (audio transcripts, photos; scans
    /// without the `ocr` feature).
    Originals,
}

/// Loads every case under `root` (the unpacked wheel, or its `dossier_bench/_cases`), its
/// documents read from the set's extracted text.
pub fn load_cases(root: &Path) -> Result<Vec<Case>> {
    load_cases_from(root, Source::ExtractedText)
}

/// [`load_cases`], with the documents read from `source`.
pub fn load_cases_from(root: &Path, source: Source) -> Result<Vec<Case>> {
    let cases_dir = [root.join("dossier_bench/_cases"), root.join("_cases"), root.to_owned()]
        .into_iter()
        .find(|p| {
            p.is_dir() && p.read_dir().is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join("expected").is_dir())))
        })
        .unwrap_or_else(|| root.to_owned());
    let mut names: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .map_err(|source| EvalError::Io { path: cases_dir.clone(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected/search.yaml").is_file())
        .collect();
    names.sort();
    names.iter().map(|dir| load_case(dir, source)).collect()
}

#[derive(Debug, Deserialize)]
struct Bible {
    #[serde(default)]
    documents: Vec<BibleDoc>,
}

#[derive(Debug, Deserialize)]
struct BibleDoc {
    key: String,
    file: String,
    #[serde(default)]
    format: String,
}

/// The original file of each document key that Cairn reads, from the case's `bible.yaml`.
/// A thread (`format: eml-thread`, file `06_thread.eml`) is shipped as `06_thread_1.eml`,
/// `06_thread_2.eml`, … for the keys `KEY-1`, `KEY-2`, …. Photos and audio are left to the
/// extracted text (Cairn does no image or speech recognition), and so are scanned PDFs in a
/// build without the `ocr` feature.
pub fn originals(dir: &Path) -> Result<std::collections::HashMap<String, PathBuf>> {
    let path = dir.join("bible.yaml");
    let bible: Bible = serde_yaml::from_str(&read(&path)?).map_err(|source| EvalError::Yaml { path, source })?;
    let mut out = std::collections::HashMap::new();
    for d in bible.documents {
        // Scanned PDFs are read when this build does OCR; images and audio never are.
        let scanned_pdf = d.format.contains("scan") && d.file.ends_with(".pdf");
        let ocr = cairn_ingest::IngestOptions::default().ocr;
        if (d.format.contains("scan") && !(scanned_pdf && ocr))
            || d.format.contains("jpg")
            || d.format.contains("png")
            || d.format.contains("webp")
            || d.format.contains("photo")
        {
            continue;
        }
        let file = dir.join("docs").join(&d.file);
        if d.format == "eml-thread" {
            let (stem, ext) = d.file.rsplit_once('.').unwrap_or((&d.file, "eml"));
            for n in 1..100 {
                let part = dir.join("docs").join(format!("{stem}_{n}.{ext}"));
                if !part.is_file() {
                    break;
                }
                out.insert(format!("{}-{n}", d.key), part);
            }
        } else if file.is_file() && cairn_ingest::Format::is_supported_path(&file) {
            out.insert(d.key, file);
        }
    }
    Ok(out)
}

fn load_case(dir: &Path, source: Source) -> Result<Case> {
    let search_path = dir.join("expected/search.yaml");
    let search: SearchFile =
        serde_yaml::from_str(&read(&search_path)?).map_err(|source| EvalError::Yaml { path: search_path, source })?;
    let text_dir = dir.join("expected/text");
    let mut docs: Vec<(String, PathBuf)> = std::fs::read_dir(&text_dir)
        .map_err(|source| EvalError::Io { path: text_dir.clone(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p.clone())))
        .collect();
    if source == Source::Originals {
        let originals = originals(dir)?;
        for (key, path) in &mut docs {
            if let Some(original) = originals.get(key.as_str()) {
                *path = original.clone();
            }
        }
    }
    docs.sort();
    let mut scenarios = Vec::new();
    let scen_dir = dir.join("agent/scenarios");
    if let Ok(entries) = std::fs::read_dir(&scen_dir) {
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
            let list: Vec<ScenarioFile> =
                serde_yaml::from_str(&read(&path)?).map_err(|source| EvalError::Yaml { path: path.clone(), source })?;
            for s in list {
                let Some(first) = s.turns.first() else { continue };
                let negative = s.group == "negative" || s.tags.iter().any(|t| t == "negative");
                scenarios.push(Scenario { id: s.id, group: s.group, question: first.content.clone(), negative });
            }
        }
    }
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("case").to_owned();
    Ok(Case { name, docs, queries: search.queries, scenarios })
}

/// The outcome of one search query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// The query.
    pub query: String,
    /// Expected documents.
    pub expect: Vec<String>,
    /// Documents of the cited sources.
    pub cited: Vec<String>,
    /// Documents of the returned passages.
    pub passages: Vec<String>,
    /// Whether an expected document is among the cited sources.
    pub hit_cited: bool,
    /// Whether an expected document is among the passages.
    pub hit_passages: bool,
    /// Whether Cairn abstained.
    pub abstained: bool,
    /// Milliseconds to answer.
    pub millis: f64,
}

/// One scenario's abstention signal.
#[derive(Debug, Clone, Serialize)]
pub struct AbstentionPoint {
    /// Scenario ID.
    pub id: String,
    /// Whether the case lacks the answer.
    pub negative: bool,
    /// The evidence coverage of the best passage.
    pub signal: f32,
    /// Whether Cairn abstained at the configured threshold.
    pub abstained: bool,
}

/// Results for one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// Case name.
    pub case: String,
    /// Documents ingested.
    pub documents: usize,
    /// Search queries.
    pub queries: Vec<QueryResult>,
    /// QA scenarios' abstention signals.
    pub abstention: Vec<AbstentionPoint>,
}

/// Ingests a case into a fresh temporary knowledge base and runs its queries and
/// scenarios.
pub fn run_case(case: &Case, settings: &Settings) -> Result<CaseReport> {
    let dir = tempfile::tempdir().map_err(|source| EvalError::Io { path: std::env::temp_dir(), source })?;
    let mut kb = Kb::open(dir.path(), settings.clone())?;
    let mut documents = 0;
    for (key, path) in &case.docs {
        let key = cairn_core::DocKey::new(key).ok();
        match kb.ingest_file(path, key, None)? {
            FileOutcome::Stored(_) | FileOutcome::Unchanged { .. } => documents += 1,
            FileOutcome::Failed { .. } => {}
        }
    }
    let mut queries = Vec::new();
    for q in &case.queries {
        let asked = kb.ask(&q.query, &AskOptions::default(), &mut NoEvents)?;
        let cited: Vec<String> = asked.sources.iter().map(|s| s.doc.clone()).collect();
        let passages: Vec<String> =
            asked.navigation.found.iter().map(|f| kb.corpus().docs()[f.doc].tree.key.to_string()).collect();
        queries.push(QueryResult {
            query: q.query.clone(),
            expect: q.expect.clone(),
            hit_cited: q.expect.iter().any(|e| cited.contains(e)),
            hit_passages: q.expect.iter().any(|e| passages.contains(e)),
            cited,
            passages,
            abstained: asked.answer.abstention().is_some(),
            millis: asked.millis,
        });
    }
    let mut abstention = Vec::new();
    for s in &case.scenarios {
        let asked = kb.ask(&s.question, &AskOptions::default(), &mut NoEvents)?;
        let signal = asked.navigation.found.iter().map(|f| f.coverage).fold(0.0f32, f32::max);
        abstention.push(AbstentionPoint {
            id: s.id.clone(),
            negative: s.negative,
            signal,
            abstained: asked.answer.abstention().is_some(),
        });
    }
    Ok(CaseReport { case: case.name.clone(), documents, queries, abstention })
}

/// Abstention quality at one threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Calibration {
    /// The threshold (abstain when the signal is below it).
    pub threshold: f32,
    /// Of the abstentions, the share on negative scenarios.
    pub precision: f32,
    /// Of the negative scenarios, the share abstained on.
    pub recall: f32,
    /// Share of answerable scenarios wrongly abstained on.
    pub false_abstention: f32,
    /// F1 of precision and recall.
    pub f1: f32,
}

/// Sweeps thresholds over the recorded signals; returns every point (0.00 to 1.00 in steps
/// of 0.05).
pub fn calibrate(points: &[AbstentionPoint]) -> Vec<Calibration> {
    let negatives = points.iter().filter(|p| p.negative).count().max(1) as f32;
    let positives = points.iter().filter(|p| !p.negative).count().max(1) as f32;
    (0..=20)
        .map(|i| {
            let threshold = i as f32 * 0.05;
            let abstain = |p: &&AbstentionPoint| p.signal < threshold;
            let tp = points.iter().filter(|p| p.negative).filter(abstain).count() as f32;
            let fp = points.iter().filter(|p| !p.negative).filter(abstain).count() as f32;
            let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
            let recall = tp / negatives;
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            Calibration { threshold, precision, recall, false_abstention: fp / positives, f1 }
        })
        .collect()
}
