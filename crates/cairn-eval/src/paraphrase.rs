//! The statute paraphrase set (issue 15): questions about PRC statute articles that do
//! **not** use the article's wording, written by a local instruct model, each with a
//! colloquial first-person variant (a person describing their situation, not naming the
//! law). The gold is the source article.
//!
//! * [`make`] samples articles evenly, asks the model (constrained to a two-field JSON
//!   object) and keeps an item only if neither question repeats the article (no run of
//!   [`MAX_COPIED_RUN`] characters in common, at most [`MAX_BIGRAM_SHARE`] of the
//!   question's character bigrams from the article), neither echoes the instructions, the
//!   colloquial one names no law or article, and the same model, asked whether the article
//!   answers the question, says yes (round-trip consistency, by log-probability). Rejections
//!   are counted by reason. Items alternate between the `dev` and
//!   `test` splits; nothing is tuned on `test`.
//! * [`run`] measures, per variant and split, article recall@1 and @5 of Cairn's flat
//!   BM25 search, of navigation (the passages `ask` navigates to) and of the `bm25s` peer
//!   on the same jieba tokens, and lists misses with their questions.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write as _};
use std::path::Path;

use cairn_core::{ChatModel, ChatRequest, Message, NoEvents};
use cairn_engine::{AskOptions, Settings};
use serde::{Deserialize, Serialize};

use crate::dossier::{EvalError, Result};
use crate::statutes::{Law, StatuteScore, article_of, build_kb, load_laws, peer_score, score, search_rows};

/// A question sharing a run of this many characters with its article repeats it.
pub const MAX_COPIED_RUN: usize = 15;
/// A question with more than this share of its character bigrams in the article repeats it.
pub const MAX_BIGRAM_SHARE: f64 = 0.6;

/// One item of the set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The law's key (`law_id`).
    pub law: String,
    /// The law's name.
    pub law_name: String,
    /// The article number.
    pub article: u32,
    /// A question in other words than the article's.
    pub question: String,
    /// The same as a person would ask it about their own situation.
    pub colloquial: String,
    /// `dev` or `test`.
    pub split: String,
    /// The model that wrote it.
    pub model: String,
}

/// What [`make`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MakeReport {
    /// Articles the model was asked about.
    pub asked: usize,
    /// Items kept.
    pub kept: usize,
    /// Rejections by reason.
    pub rejected: HashMap<String, usize>,
    /// Seconds spent.
    pub seconds: f64,
}

/// Longest run of characters `a` and `b` share.
fn longest_common_run(a: &[char], b: &[char]) -> usize {
    let mut best = 0;
    let mut prev = vec![0usize; b.len() + 1];
    for x in a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            if x == y {
                cur[j + 1] = prev[j] + 1;
                best = best.max(cur[j + 1]);
            }
        }
        prev = cur;
    }
    best
}

fn bigrams(chars: &[char]) -> Vec<(char, char)> {
    chars.windows(2).filter(|w| w.iter().all(|c| c.is_alphanumeric())).map(|w| (w[0], w[1])).collect()
}

/// Why `question` does not count as a paraphrase of `article`, if it does not.
pub fn repeats_wording(question: &str, article: &str) -> Option<String> {
    let q: Vec<char> = question.chars().collect();
    let a: Vec<char> = article.chars().collect();
    let run = longest_common_run(&q, &a);
    if run >= MAX_COPIED_RUN {
        return Some(format!("copies {run} characters of the article"));
    }
    let qb = bigrams(&q);
    let ab: HashSet<(char, char)> = bigrams(&a).into_iter().collect();
    if !qb.is_empty() {
        let share = qb.iter().filter(|b| ab.contains(b)).count() as f64 / qb.len() as f64;
        if share > MAX_BIGRAM_SHARE {
            return Some(format!("{:.0}% of its bigrams are the article's", share * 100.0));
        }
    }
    None
}

/// Whether a colloquial question names a law or an article (it should describe a situation).
pub fn names_the_law(question: &str, law_name: &str) -> bool {
    let short = law_name.trim_start_matches("中华人民共和国");
    if question.contains('《') || question.contains(law_name) || (!short.is_empty() && question.contains(short)) {
        return true;
    }
    let chars: Vec<char> = question.chars().collect();
    chars.windows(2).any(|w| w[1] == '法' && "本该此".contains(w[0])) || names_an_article(question)
}

/// Whether a question names an article by number (`第十二条`, `第52条`): a look-up, not a
/// paraphrase.
pub fn names_an_article(question: &str) -> bool {
    let chars: Vec<char> = question.chars().collect();
    chars
        .iter()
        .enumerate()
        .any(|(i, &c)| c == '第' && chars[i + 1..].iter().take(6).position(|&x| x == '条').is_some_and(|p| p > 0))
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Articles worth asking about: 40–400 characters, not purpose, commencement or repeal
/// clauses.
fn askable(text: &str) -> bool {
    let n = text.chars().count();
    (40..=400).contains(&n) && !["施行", "废止", "制定本法"].iter().any(|w| text.contains(w))
}

/// Dice coefficient of two texts' character bigrams.
pub fn dice(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (a, b) = (bigrams(&a), bigrams(&b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let set: HashSet<&(char, char)> = b.iter().collect();
    2.0 * a.iter().filter(|x| set.contains(x)).count() as f64 / (a.len() + b.len()) as f64
}

/// Writes up to `n` items about articles of `laws` to `out` (JSON lines, appended as they
/// are made, so an interrupted run keeps its items). `on_item` sees each kept item.
pub fn make(
    laws: &[Law],
    model: &dyn ChatModel,
    n: usize,
    out: &Path,
    on_item: &mut dyn FnMut(&Item),
) -> Result<MakeReport> {
    let started = std::time::Instant::now();
    let io = |source| EvalError::Io { path: out.to_owned(), source };
    let mut file = std::fs::File::create(out).map_err(io)?;
    let pool: Vec<(&Law, u32, &str)> = laws
        .iter()
        .flat_map(|l| l.articles.iter().map(move |(_, _, k, t)| (l, *k, t.as_str())))
        .filter(|(_, _, t)| askable(t))
        .collect();
    // Evenly spread over the laws, with eight times as many candidates as items wanted (a
    // small model copies or drifts often), in an
    // order that alternates from both ends so an early stop is still spread.
    let step = (pool.len() / (8 * n).max(1)).max(1);
    let picks: Vec<usize> = (0..pool.len()).step_by(step).collect();
    let mut order = Vec::with_capacity(picks.len());
    let (mut lo, mut hi) = (0, picks.len());
    while lo < hi {
        order.push(picks[lo]);
        lo += 1;
        if lo < hi {
            hi -= 1;
            order.push(picks[hi]);
        }
    }
    let field_schema = |name: &str, max: usize| {
        serde_json::json!({
            "type": "object",
            "properties": {name: {"type": "string", "minLength": 6, "maxLength": max}},
            "required": [name],
            "additionalProperties": false
        })
    };
    // One call per variant, each asked for briefly: a short question cannot copy a clause,
    // and asked together a small model writes the same question twice. Sampled (seeded by
    // the article's place), because greedy decoding copies the article.
    let ask = |prompt: String, name: &str, max: usize, seed: u64| -> Result<String> {
        let mut request = ChatRequest::new(vec![Message::user(prompt)], 120).with_schema(name, field_schema(name, max));
        request.temperature = 0.7;
        request.seed = Some(seed);
        let reply = model.chat(&request)?;
        Ok(serde_json::from_str::<serde_json::Value>(reply.text.trim())
            .ok()
            .and_then(|v| v.get(name).and_then(serde_json::Value::as_str).map(|s| s.trim().to_owned()))
            .unwrap_or_default())
    };
    let mut report = MakeReport::default();
    for &i in &order {
        if report.kept >= n {
            break;
        }
        let (law, article, text) = pool[i];
        report.asked += 1;
        let question = ask(
            format!(
                "法律：{}\n条文：第{article}条　{text}\n\n请用一句简短的中文（不超过30个字）提一个问题，这条条文能回答它。\
                 要用你自己的话改写，不要使用条文中的原句。只回答一个包含 question 字段的 JSON 对象。",
                law.name
            ),
            "question",
            48,
            i as u64,
        )?;
        let colloquial = ask(
            format!(
                "条文：{text}\n\n设想一个普通人在生活中遇到了这条条文所涉及的事情。写出他会怎样向朋友求助：\
                 用第一人称“我”讲述自己的具体处境并提问，口语，不超过50个字，不提任何法律、条文或法律术语的名称。\
                 只回答一个包含 colloquial 字段的 JSON 对象。"
            ),
            "colloquial",
            80,
            i as u64 + 1,
        )?;
        let mut reject = |why: &str| {
            tracing::info!(law = %law.name, article, why, "rejected");
            *report.rejected.entry(why.to_owned()).or_default() += 1;
        };
        if !has_cjk(&question) || !has_cjk(&colloquial) {
            reject("not Chinese");
            continue;
        }
        if let Some(why) = repeats_wording(&question, text).or_else(|| repeats_wording(&colloquial, text)) {
            tracing::info!(question, colloquial, why, "copied wording");
            reject("repeats the article's wording");
            continue;
        }
        if [&question, &colloquial].iter().any(|q| ["条文", "JSON", "客观", "自己的话"].iter().any(|w| q.contains(w)))
        {
            reject("echoes the instructions");
            continue;
        }
        if dice(&question, &colloquial) >= 0.7 {
            reject("the two variants are the same question");
            continue;
        }
        if names_an_article(&question) {
            reject("question names the article by number");
            continue;
        }
        if names_the_law(&colloquial, &law.name) {
            reject("colloquial variant names a law or article");
            continue;
        }
        // Round trip: the same model must judge that the article answers the question
        // (log-probability of 是 over 否), or the question is about something else.
        let check = format!(
            "条文：第{article}条　{text}\n问题：{question}\n这条条文能回答这个问题吗？只回答“是”或“否”。\n回答："
        );
        let yes_no = model.score_choices(&check, &["是".to_owned(), "否".to_owned()])?;
        tracing::info!(question, yes = yes_no.first(), no = yes_no.get(1), "round trip");
        if yes_no.first().copied().unwrap_or(f32::NEG_INFINITY) <= yes_no.get(1).copied().unwrap_or(f32::NEG_INFINITY) {
            reject("the article does not answer it (round trip)");
            continue;
        }
        let item = Item {
            law: law.id.clone(),
            law_name: law.name.clone(),
            article,
            question,
            colloquial,
            split: if report.kept % 2 == 0 { "dev" } else { "test" }.to_owned(),
            model: model.name().to_owned(),
        };
        let line = serde_json::to_string(&item).map_err(|e| io(std::io::Error::other(e)))?;
        writeln!(file, "{line}").map_err(io)?;
        file.flush().map_err(io)?;
        on_item(&item);
        report.kept += 1;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Reads a set written by [`make`].
pub fn load(path: &Path) -> Result<Vec<Item>> {
    let io = |source| EvalError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut items = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(serde_json::from_str(&line).map_err(|e| io(std::io::Error::other(e)))?);
    }
    Ok(items)
}

/// One miss, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The question.
    pub question: String,
    /// Gold `law 第N条`.
    pub gold: String,
    /// What came first instead.
    pub got: String,
}

/// Scores of one variant on one split.
#[derive(Debug, Clone, Serialize)]
pub struct VariantScores {
    /// `question` or `colloquial`.
    pub variant: String,
    /// `dev` or `test`.
    pub split: String,
    /// Per system.
    pub scores: Vec<StatuteScore>,
    /// The first few navigation misses.
    pub misses: Vec<Miss>,
}

/// The report of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct ParaphraseReport {
    /// Laws in the knowledge base.
    pub laws: usize,
    /// Items.
    pub items: usize,
    /// Per variant and split.
    pub results: Vec<VariantScores>,
    /// Median seconds per `ask`.
    pub ask_p50_seconds: f64,
    /// 90th percentile seconds per `ask`.
    pub ask_p90_seconds: f64,
    /// Model stages per `ask`, averaged (empty in lexical mode).
    pub stages: Vec<StageMean>,
}

/// One model stage (rewrite, router, answer, judge), averaged over the `ask`s.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageMean {
    /// The stage.
    pub stage: String,
    /// Calls per `ask`.
    pub calls: f64,
    /// Prompt tokens per `ask`.
    pub prompt_tokens: f64,
    /// Generated tokens per `ask`.
    pub completion_tokens: f64,
    /// Seconds in the model per `ask`.
    pub seconds: f64,
}

/// Ingests all laws of `db` (or, with `others`, the laws the items cite and the first
/// `others` more) with `settings` and measures `items` (both variants, or only `variant`).
pub fn run(
    db: &Path,
    items: &[Item],
    variant: Option<&str>,
    settings: Settings,
    peer_scripts: &[&Path],
    others: Option<usize>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ParaphraseReport> {
    let mut laws = load_laws(db, None)?;
    // A smaller knowledge base: the laws the items cite, plus the first `others` laws.
    if let Some(others) = others {
        let cited: std::collections::HashSet<&str> = items.iter().map(|i| i.law.as_str()).collect();
        let mut kept_others = 0;
        laws.retain(|l| {
            let keep = cited.contains(l.id.as_str()) || kept_others < others;
            if !cited.contains(l.id.as_str()) && keep {
                kept_others += 1;
            }
            keep
        });
    }
    let names: HashMap<&str, &str> = laws.iter().map(|l| (l.id.as_str(), l.name.as_str())).collect();
    let built = build_kb(&laws, settings)?;
    let kb = &built.kb;
    let label = |a: &(String, u32)| format!("{} 第{}条", names.get(a.0.as_str()).copied().unwrap_or(&a.0), a.1);
    let mut results = Vec::new();
    let mut times = Vec::new();
    let mut stages: Vec<StageMean> = Vec::new();
    let variants: Vec<&str> =
        ["question", "colloquial"].into_iter().filter(|v| variant.is_none_or(|x| x == *v)).collect();
    let total = items.len() * variants.len();
    let mut done = 0;
    for variant in variants {
        for split in ["dev", "test"] {
            let chosen: Vec<&Item> = items.iter().filter(|i| i.split == split).collect();
            if chosen.is_empty() {
                continue;
            }
            let queries: Vec<String> = chosen
                .iter()
                .map(|i| if variant == "question" { i.question.clone() } else { i.colloquial.clone() })
                .collect();
            let gold: Vec<(String, u32)> = chosen.iter().map(|i| (i.law.clone(), i.article)).collect();
            let (mut nav, mut misses) = (Vec::new(), Vec::new());
            for (q, g) in queries.iter().zip(&gold) {
                let started = std::time::Instant::now();
                let asked = kb.ask(q, &AskOptions::default(), &mut NoEvents)?;
                times.push(started.elapsed().as_secs_f64());
                for st in asked.llm.iter().flat_map(|l| &l.stages) {
                    let i = match stages.iter().position(|m| m.stage == st.stage) {
                        Some(i) => i,
                        None => {
                            stages.push(StageMean { stage: st.stage.to_owned(), ..StageMean::default() });
                            stages.len() - 1
                        }
                    };
                    let m = &mut stages[i];
                    m.calls += f64::from(st.usage.calls);
                    m.prompt_tokens += st.usage.prompt_tokens as f64;
                    m.completion_tokens += st.usage.completion_tokens as f64;
                    m.seconds += st.usage.millis / 1000.0;
                }
                let found: Vec<(String, u32)> =
                    asked.navigation.passages.iter().filter_map(|p| article_of(kb, &p.id)).collect();
                if found.first() != Some(g) && misses.len() < 5 {
                    misses.push(Miss {
                        question: q.clone(),
                        gold: label(g),
                        got: found.first().map_or_else(|| "(nothing)".to_owned(), label),
                    });
                }
                nav.push(found);
                done += 1;
                progress(done, total);
            }
            let mut scores = search_rows(kb, &queries, &gold)?;
            scores.push(score("cairn navigation", &nav, &gold));
            for script in peer_scripts {
                scores.extend(peer_score(kb, &queries, script, &gold));
            }
            results.push(VariantScores { variant: variant.into(), split: split.into(), scores, misses });
        }
    }
    let asks = times.len().max(1) as f64;
    for m in &mut stages {
        m.calls /= asks;
        m.prompt_tokens /= asks;
        m.completion_tokens /= asks;
        m.seconds /= asks;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times.get(((times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    Ok(ParaphraseReport {
        laws: laws.len(),
        items: items.len(),
        results,
        ask_p50_seconds: pct(0.5),
        ask_p90_seconds: pct(0.9),
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_wording_is_caught_and_paraphrase_passes() {
        let article = "用人单位自用工之日起即与劳动者建立劳动关系。用人单位应当建立职工名册备查。";
        assert!(repeats_wording("用人单位自用工之日起即与劳动者建立劳动关系吗？", article).is_some());
        assert!(repeats_wording("用人单位和劳动者什么时候建立关系？", article).is_none(), "terms are not wording");
        assert!(repeats_wording("公司从什么时候开始和员工形成雇佣上的法律联系？", article).is_none());
        assert!(repeats_wording("", article).is_none());
    }

    #[test]
    fn colloquial_questions_must_not_name_the_law() {
        assert!(names_the_law("按照《劳动合同法》我能要求赔偿吗？", "中华人民共和国劳动合同法"));
        assert!(names_the_law("依据第十条，我该怎么办？", "x"));
        assert!(names_the_law("本法对我适用吗？", "x"));
        assert!(names_the_law("海关的国境卫生检疫法能帮我吗？", "中华人民共和国国境卫生检疫法"));
        assert!(!names_the_law("我上班两个月了老板还没跟我签合同，我该怎么办？", "中华人民共和国劳动合同法"));
        assert!(!names_the_law("第一次去办事，需要带什么？", "x"));
        assert!(names_an_article("刑事诉讼法第52条明确指出哪些行为是不被允许的？"));
        assert!(!names_an_article("哪些行为是不被允许的？"));
    }

    #[test]
    fn the_common_run_is_the_longest() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(longest_common_run(&c("abcdef"), &c("zzcdezz")), 3);
        assert_eq!(longest_common_run(&c(""), &c("abc")), 0);
    }
}
