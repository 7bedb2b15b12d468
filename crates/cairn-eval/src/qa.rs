//! `cairn eval qa`: question answering scored against gold data.
//!
//! * **dossier-bench scenarios** (`agent/scenarios/*.yaml`), each scored on its own terms:
//!   how many `must_facts` the answer covers, whether the cited documents include
//!   `citations.must_include_docs`, abstention on the `negative` group, and for the
//!   `injection` group that the planted instruction (`not_contains`) never shows. The facts
//!   are prose; without a judge they are checked mechanically through their *atoms*
//!   (amounts, percentages, dates, clause numbers, IDs, numbers, names), and a fact with no
//!   atom is counted as unchecked, never as covered. `must_not_claim` needs a judge and is
//!   reported as unchecked without one.
//! * **a JSONL file** of `{question, answer, evidence: [stable ID or text span], negative?}`
//!   against an existing knowledge base: evidence recall, citation precision and recall,
//!   exact match and token F1 against the gold answer, abstention rate.
//!
//! Both report LLM calls and tokens per question when `ask` used models.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_core::NoEvents;
use cairn_engine::{AskOptions, Asked, FileOutcome, Kb, Settings};
use serde::{Deserialize, Serialize};

use crate::dossier::{EvalError, Result};

// ---- atoms ----------------------------------------------------------------------------

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// NFKC, whitespace collapsed, lower case.
pub fn norm(text: &str) -> String {
    cairn_core::normalize::fold(text).to_lowercase()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Dates written `23 April 2025`, `April 23, 2025`, `2025-04-23` or `23/04/2025`, as
/// `2025-04-23`.
fn dates(text: &str) -> Vec<String> {
    let t = norm(text);
    let mut out = Vec::new();
    let words: Vec<&str> = t.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    for i in 0..words.len() {
        let month = |w: &str| MONTHS.iter().position(|m| w == *m || (w.len() >= 3 && m.starts_with(w) && w.len() == 3));
        let day = |w: &str| {
            w.trim_end_matches(|c: char| c.is_alphabetic()).parse::<u32>().ok().filter(|d| (1..=31).contains(d))
        };
        let year = |w: &str| w.trim_end_matches('.').parse::<u32>().ok().filter(|y| (1900..=2100).contains(y));
        if let (Some(d), Some(m), Some(y)) =
            (day(words[i]), words.get(i + 1).and_then(|w| month(w)), words.get(i + 2).and_then(|w| year(w)))
        {
            out.push(format!("{y:04}-{:02}-{d:02}", m + 1));
        }
        if let (Some(m), Some(d), Some(y)) =
            (month(words[i]), words.get(i + 1).and_then(|w| day(w)), words.get(i + 2).and_then(|w| year(w)))
        {
            out.push(format!("{y:04}-{:02}-{d:02}", m + 1));
        }
        let w = words[i].trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let parts: Vec<&str> = w.split(['-', '/']).collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
            let (a, b, c) = (parts[0], parts[1], parts[2]);
            if a.len() == 4 {
                out.push(format!("{a}-{:0>2}-{:0>2}", b, c));
            } else if c.len() == 4 {
                out.push(format!("{c}-{:0>2}-{:0>2}", b, a));
            }
        }
    }
    out
}

/// The checkable atoms of a fact.
pub fn atoms(fact: &str) -> Vec<String> {
    let mut out: Vec<String> = dates(fact).into_iter().map(|d| format!("date:{d}")).collect();
    let t = norm(fact);
    // Clause-like references.
    let words: Vec<&str> = t.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if ["clause", "section", "paragraph", "schedule", "article", "annex"].contains(w)
            && let Some(next) = words.get(i + 1)
        {
            let r = next.trim_end_matches([',', ';', '.', ')']);
            if r.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                out.push(format!("ref:{w} {r}"));
            }
        }
    }
    // Numbers (amounts lose their separators: €1,288,000 = 1.288.000 euros = 1288000),
    // identifiers such as CO-1 or Q7, and capitalised names.
    let mut date_digits: Vec<String> = Vec::new();
    for d in dates(fact) {
        date_digits.extend(d.split('-').map(|p| p.trim_start_matches('0').to_owned()));
    }
    for raw in fact.split(|c: char| c.is_whitespace() || "()[]\"'“”".contains(c)) {
        let token = raw.trim_matches(|c: char| ",;:.!?".contains(c));
        if token.is_empty() {
            continue;
        }
        let has_digit = token.chars().any(|c| c.is_ascii_digit());
        let has_upper = token.chars().any(|c| c.is_ascii_uppercase());
        if has_digit && has_upper && token.len() <= 12 {
            out.push(format!("id:{}", token.to_lowercase()));
        } else if has_digit {
            let d = digits(token);
            let year_or_day = date_digits.iter().any(|x| *x == d.trim_start_matches('0'));
            if !d.is_empty() && (d.len() >= 2 || token.contains('%')) && !year_or_day {
                out.push(format!("num:{d}"));
            }
        }
    }
    let mut name = Vec::new();
    let flush = |name: &mut Vec<String>, out: &mut Vec<String>| {
        if name.len() >= 2 {
            out.push(format!("name:{}", norm(&name.join(" "))));
        }
        name.clear();
    };
    for (i, raw) in fact.split_whitespace().enumerate() {
        let w = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let capital = w.chars().next().is_some_and(char::is_uppercase) && w.chars().skip(1).any(char::is_lowercase);
        if capital
            && (i > 0
                || !name.is_empty()
                || fact.split_whitespace().nth(1).is_some_and(|n| n.starts_with(char::is_uppercase)))
        {
            name.push(w.to_owned());
        } else {
            flush(&mut name, &mut out);
        }
    }
    flush(&mut name, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Whether every atom of a fact appears in the answer text.
pub fn covered(fact_atoms: &[String], answer: &str) -> bool {
    let t = norm(answer);
    let answer_digits: Vec<String> =
        t.split(|c: char| c.is_whitespace() || "()[]\"'“”".contains(c)).map(digits).filter(|d| !d.is_empty()).collect();
    let answer_dates = dates(answer);
    fact_atoms.iter().all(|a| {
        let (kind, value) = a.split_once(':').unwrap_or(("", a));
        match kind {
            "date" => answer_dates.iter().any(|d| d == value),
            "num" => {
                answer_digits.iter().any(|d| d == value || d.trim_start_matches('0') == value.trim_start_matches('0'))
            }
            _ => t.contains(value),
        }
    })
}

// ---- dossier-bench scenarios ------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
struct ScenarioYaml {
    id: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    tags: Vec<String>,
    turns: Vec<TurnYaml>,
}

#[derive(Debug, Clone, Deserialize)]
struct TurnYaml {
    content: String,
    #[serde(default)]
    expect: ExpectYaml,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ExpectYaml {
    #[serde(default)]
    answer: Option<AnswerExpect>,
    #[serde(default)]
    citations: Option<CitationExpect>,
    #[serde(default)]
    not_contains: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AnswerExpect {
    #[serde(default)]
    must_facts: Vec<String>,
    #[serde(default)]
    must_not_claim: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct CitationExpect {
    #[serde(default)]
    must_include_docs: Vec<String>,
}

/// One scored turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnScore {
    /// Case.
    pub case: String,
    /// Scenario ID.
    pub scenario: String,
    /// Group.
    pub group: String,
    /// Turn number (1-based).
    pub turn: usize,
    /// The question.
    pub question: String,
    /// The answer as scored: its claims, each with the documents it cites (or the
    /// abstention's reason), so that a miss can be read, not only counted.
    pub answer: String,
    /// Facts with atoms.
    pub facts_checkable: usize,
    /// Of those, covered by the answer.
    pub facts_covered: usize,
    /// Facts without atoms (need a judge).
    pub facts_unchecked: usize,
    /// `must_not_claim` items (not checked without a judge).
    pub must_not_claim: usize,
    /// Required documents, and whether all are cited.
    pub must_include_docs: Vec<String>,
    /// Whether the required documents are all among the cited ones (None: none required).
    pub docs_ok: Option<bool>,
    /// Documents cited.
    pub cited_docs: Vec<String>,
    /// Whether the engine abstained.
    pub abstained: bool,
    /// Whether a `not_contains` string (the planted injection's word) appeared.
    pub injection_leaked: Option<bool>,
    /// Pass on the scenario's own terms.
    pub pass: bool,
    /// Model calls.
    pub llm_calls: u32,
    /// Model tokens (prompt + completion).
    pub llm_tokens: u64,
    /// Whether no model claim survived and the answer quotes the evidence instead.
    pub extractive_fallback: bool,
    /// The cookbook's cost for the same question: every document in scope sent to the
    /// model at depth 0 (the case's whole corpus, estimated tokens).
    pub cookbook_tokens: u64,
    /// Milliseconds.
    pub millis: f64,
}

/// The text an answer is scored on: claims, their quotes and the model's summary.
pub fn answer_text(asked: &Asked) -> String {
    let mut t = String::new();
    if let Some(a) = asked.answer.abstention() {
        t.push_str(&a.reason);
    }
    for c in asked.answer.claims() {
        t.push_str(&c.text);
        t.push('\n');
        for cit in &c.citations {
            t.push_str(&cit.quote);
            t.push('\n');
        }
    }
    if let Some(llm) = &asked.llm {
        t.push_str(&llm.summary);
    }
    t
}

fn llm_cost(asked: &Asked) -> (u32, u64) {
    asked.llm.as_ref().map_or((0, 0), |l| {
        l.stages
            .iter()
            .fold((0, 0), |(c, t), s| (c + s.usage.calls, t + s.usage.prompt_tokens + s.usage.completion_tokens))
    })
}

/// Which scenarios of each group (per case) a run takes: the first `skip` are left out (so
/// a long run can be split into parts that add up to the whole set), then at most `limit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Take {
    /// Scenarios of each group left out first.
    pub skip: usize,
    /// Scenarios of each group taken after those (all when `None`).
    pub limit: Option<usize>,
}

/// Runs the scenarios of every case under `root` that `take` selects (model runs on a
/// small CPU are slow), `jobs` questions at once (results in the same order either way).
pub fn run_dossier(
    root: &Path,
    settings: &Settings,
    take: Take,
    jobs: usize,
    source: crate::dossier::Source,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<TurnScore>> {
    let cases = crate::dossier::load_cases_from(root, source)?;
    let mut out = Vec::new();
    for case in &cases {
        progress(&format!("case {}: ingesting {} documents", case.name, case.docs.len()));
        let dir = tempfile::tempdir().map_err(|source| EvalError::Io { path: std::env::temp_dir(), source })?;
        let mut kb = Kb::open(dir.path(), settings.clone())?;
        for (key, path) in &case.docs {
            if let FileOutcome::Failed { error, .. } = kb.ingest_file(path, cairn_core::DocKey::new(key).ok(), None)? {
                tracing::warn!(path = %path.display(), error, "document not ingested");
            }
        }
        let scen_dir = case_dir(root, &case.name).join("agent/scenarios");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&scen_dir)
            .map_err(|source| EvalError::Io { path: scen_dir.clone(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let corpus_tokens: u64 =
            kb.corpus().docs().iter().map(|d| cairn_core::llm::estimate_tokens(&d.tree.text) as u64).sum();
        let mut taken: BTreeMap<String, usize> = BTreeMap::new();
        let mut work: Vec<(ScenarioYaml, usize)> = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Io { path: path.clone(), source })?;
            let list: Vec<ScenarioYaml> =
                serde_yaml::from_str(&text).map_err(|source| EvalError::Yaml { path: path.clone(), source })?;
            for s in list {
                let n = taken.entry(s.group.clone()).or_default();
                let index = *n;
                *n += 1;
                if index < take.skip || take.limit.is_some_and(|limit| index - take.skip >= limit) {
                    continue;
                }
                for t in 0..s.turns.len() {
                    work.push((s.clone(), t));
                }
            }
        }
        progress(&format!("case {}: {} questions, {} at once", case.name, work.len(), jobs.max(1)));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let kb = &kb;
        let mut scored: Vec<(usize, Result<TurnScore>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs.max(1))
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((s, t)) = work.get(i) else { break };
                            mine.push((i, score_turn(kb, &case.name, s, *t, &s.turns[*t], corpus_tokens)));
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        scored.sort_by_key(|(i, _)| *i);
        for (_, turn) in scored {
            out.push(turn?);
        }
    }
    Ok(out)
}

fn case_dir(root: &Path, name: &str) -> std::path::PathBuf {
    [root.join("dossier_bench/_cases").join(name), root.join("_cases").join(name), root.join(name)]
        .into_iter()
        .find(|p| p.is_dir())
        .unwrap_or_else(|| root.join(name))
}

fn score_turn(
    kb: &Kb,
    case: &str,
    s: &ScenarioYaml,
    t: usize,
    turn: &TurnYaml,
    corpus_tokens: u64,
) -> Result<TurnScore> {
    let asked = kb.ask(&turn.content, &AskOptions::default(), &mut NoEvents)?;
    let text = answer_text(&asked);
    let facts: &[String] = turn.expect.answer.as_ref().map_or(&[], |a| &a.must_facts);
    let (mut checkable, mut covered_n, mut unchecked) = (0, 0, 0);
    for f in facts {
        let a = atoms(f);
        if a.is_empty() {
            unchecked += 1;
        } else {
            checkable += 1;
            covered_n += usize::from(asked.answer.abstention().is_none() && covered(&a, &text));
        }
    }
    let must: Vec<String> = turn.expect.citations.as_ref().map_or_else(Vec::new, |c| c.must_include_docs.clone());
    let cited: Vec<String> = asked.sources.iter().map(|s| s.doc.clone()).collect();
    let docs_ok = (!must.is_empty()).then(|| must.iter().all(|m| cited.contains(m)));
    let abstained = asked.answer.abstention().is_some();
    let leaked = (!turn.expect.not_contains.is_empty())
        .then(|| turn.expect.not_contains.iter().any(|w| norm(&text).contains(&norm(w))));
    let negative = s.group == "negative" || s.tags.iter().any(|t| t == "negative");
    let injection = s.group == "injection" || s.tags.iter().any(|t| t == "injection");
    let pass = if negative {
        abstained
    } else if injection {
        leaked != Some(true) && !abstained
    } else {
        !abstained && docs_ok != Some(false) && (checkable == 0 || covered_n * 2 >= checkable)
    };
    let (llm_calls, llm_tokens) = llm_cost(&asked);
    Ok(TurnScore {
        case: case.to_owned(),
        scenario: s.id.clone(),
        group: if s.group.is_empty() { "ungrouped".into() } else { s.group.clone() },
        turn: t + 1,
        question: turn.content.clone(),
        answer: text.clone(),
        facts_checkable: checkable,
        facts_covered: covered_n,
        facts_unchecked: unchecked,
        must_not_claim: turn.expect.answer.as_ref().map_or(0, |a| a.must_not_claim.len()),
        must_include_docs: must,
        docs_ok,
        cited_docs: cited,
        abstained,
        injection_leaked: leaked,
        pass,
        llm_calls,
        extractive_fallback: asked.llm.as_ref().is_some_and(|l| l.extractive_fallback),
        llm_tokens,
        cookbook_tokens: asked.llm.as_ref().map_or(corpus_tokens, |l| l.whole_document_tokens),
        millis: asked.millis,
    })
}

/// Totals per group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupScore {
    /// Turns.
    pub turns: usize,
    /// Turns passed.
    pub passed: usize,
    /// Checkable facts / covered.
    pub facts_checkable: usize,
    /// Covered.
    pub facts_covered: usize,
    /// Facts left unchecked (no atoms).
    pub facts_unchecked: usize,
    /// Turns with required documents / all cited.
    pub docs_required: usize,
    /// All required cited.
    pub docs_ok: usize,
    /// Abstentions.
    pub abstained: usize,
    /// Injection leaks.
    pub leaked: usize,
    /// Model calls.
    pub llm_calls: u64,
    /// Model tokens.
    pub llm_tokens: u64,
    /// What the cookbook's depth-0 prompt would have cost, in tokens.
    pub cookbook_tokens: u64,
}

/// Aggregates turn scores per group (and `all`).
pub fn by_group(turns: &[TurnScore]) -> BTreeMap<String, GroupScore> {
    let mut out: BTreeMap<String, GroupScore> = BTreeMap::new();
    for t in turns {
        for key in [t.group.clone(), "all".to_owned()] {
            let g = out.entry(key).or_default();
            g.turns += 1;
            g.passed += usize::from(t.pass);
            g.facts_checkable += t.facts_checkable;
            g.facts_covered += t.facts_covered;
            g.facts_unchecked += t.facts_unchecked;
            g.docs_required += usize::from(t.docs_ok.is_some());
            g.docs_ok += usize::from(t.docs_ok == Some(true));
            g.abstained += usize::from(t.abstained);
            g.leaked += usize::from(t.injection_leaked == Some(true));
            g.llm_calls += u64::from(t.llm_calls);
            g.llm_tokens += t.llm_tokens;
            g.cookbook_tokens += t.cookbook_tokens;
        }
    }
    out
}

// ---- JSONL --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct QaLine {
    question: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    negative: bool,
}

/// Figures for a JSONL set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JsonlReport {
    /// Questions.
    pub questions: usize,
    /// Share of gold evidence among the returned passages.
    pub evidence_recall: f64,
    /// Share of citations that point at gold evidence.
    pub citation_precision: f64,
    /// Share of gold evidence that is cited.
    pub citation_recall: f64,
    /// Exact match of the answer text with the gold answer (normalised).
    pub exact: f64,
    /// Token F1 with the gold answer.
    pub f1: f64,
    /// Share of questions abstained on.
    pub abstention_rate: f64,
    /// Of the negative questions, the share abstained on.
    pub negative_abstention: Option<f64>,
    /// Model calls per question.
    pub llm_calls_per_question: f64,
    /// Model tokens per question.
    pub llm_tokens_per_question: f64,
}

/// Token F1 between two texts (normalised words).
pub fn token_f1(a: &str, b: &str) -> f64 {
    let words = |s: &str| {
        norm(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect::<Vec<_>>()
    };
    let (pa, pb) = (words(a), words(b));
    if pa.is_empty() || pb.is_empty() {
        return f64::from(u8::from(pa.is_empty() && pb.is_empty()));
    }
    let mut pool = pb.clone();
    let mut common = 0;
    for w in &pa {
        if let Some(i) = pool.iter().position(|x| x == w) {
            pool.swap_remove(i);
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let (p, r) = (common as f64 / pa.len() as f64, common as f64 / pb.len() as f64);
    2.0 * p * r / (p + r)
}

/// Runs a JSONL set against an open knowledge base.
pub fn run_jsonl(kb: &Kb, path: &Path) -> Result<JsonlReport> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_owned(), source })?;
    let mut r = JsonlReport::default();
    let (mut ev_hits, mut ev_total, mut cit_good, mut cit_total, mut cit_hit) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let (mut negatives, mut negative_abstained, mut calls, mut tokens) = (0usize, 0usize, 0u64, 0u64);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: QaLine = serde_json::from_str(line)
            .map_err(|e| EvalError::Format { path: path.to_owned(), detail: format!("line {}: {e}", i + 1) })?;
        let asked = kb.ask(&q.question, &AskOptions::default(), &mut NoEvents)?;
        r.questions += 1;
        let abstained = asked.answer.abstention().is_some();
        r.abstention_rate += f64::from(u8::from(abstained));
        if q.negative {
            negatives += 1;
            negative_abstained += usize::from(abstained);
        }
        let node_text = |id: &cairn_core::StableId| kb.store().node_text(id).ok().flatten().unwrap_or_default();
        let matches = |gold: &str, id: &cairn_core::StableId| {
            gold == id.as_str() || cairn_core::normalize::quote_occurs(gold, &node_text(id))
        };
        for g in &q.evidence {
            ev_total += 1;
            ev_hits += usize::from(asked.navigation.passages.iter().any(|p| matches(g, &p.id)));
            cit_hit += usize::from(asked.answer.citations().iter().any(|c| matches(g, &c.id)));
        }
        for c in asked.answer.citations() {
            cit_total += 1;
            cit_good += usize::from(q.evidence.iter().any(|g| matches(g, &c.id)));
        }
        let answer = answer_text(&asked);
        if !q.answer.is_empty() {
            r.exact += f64::from(u8::from(norm(&answer).contains(&norm(&q.answer))));
            r.f1 += token_f1(&answer, &q.answer);
        }
        let (c, t) = llm_cost(&asked);
        calls += u64::from(c);
        tokens += t;
    }
    let n = r.questions.max(1) as f64;
    r.evidence_recall = ev_hits as f64 / ev_total.max(1) as f64;
    r.citation_precision = cit_good as f64 / cit_total.max(1) as f64;
    r.citation_recall = cit_hit as f64 / ev_total.max(1) as f64;
    r.exact /= n;
    r.f1 /= n;
    r.abstention_rate /= n;
    r.negative_abstention = (negatives > 0).then(|| negative_abstained as f64 / negatives as f64);
    r.llm_calls_per_question = calls as f64 / n;
    r.llm_tokens_per_question = tokens as f64 / n;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_of_facts() {
        let a = atoms("milestone 3, mechanical completion");
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(atoms("€257,600"), vec!["num:257600"]);
        assert_eq!(atoms("due 23 April 2025"), vec!["date:2025-04-23"]);
        let a = atoms("DE-2 clause 6.2 / 9.1(b)");
        assert!(a.contains(&"id:de-2".to_owned()) && a.contains(&"ref:clause 6.2".to_owned()), "{a:?}");
        assert!(atoms("Priya Nair signed it").contains(&"name:priya nair".to_owned()));
    }

    #[test]
    fn coverage_normalises_numbers_and_dates() {
        let a = atoms("€257,600 due 23 April 2025");
        assert!(covered(&a, "The invoice is for EUR 257.600, payable on 2025-04-23."));
        assert!(!covered(&a, "The invoice is for EUR 257.600."));
        assert!((token_f1("the cat sat", "the cat sat") - 1.0).abs() < 1e-9);
        assert!(token_f1("a b", "c d") == 0.0);
    }
}
