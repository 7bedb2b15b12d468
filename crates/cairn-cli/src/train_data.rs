//! `cairn train data --teacher SPEC`: SFT examples for the answer stage, in the exact
//! prompt format `ask` uses, from a knowledge base, kept only when Cairn's own checks pass.
//!
//! For each sampled paragraph (the gold), the teacher writes a question the paragraph
//! answers; navigation finds the evidence as `ask` would (the gold is added when it missed);
//! the teacher answers with the answer stage's request; and the reply is read and scored by
//! the verifier ([`cairn_navigate::llm::score_answer`]). An example is kept only if every
//! claim survives the support check, every citation is verbatim from an offered sentence,
//! and a claim cites the gold. Each line carries the chat (`"template": "chatml"`, what the
//! served model sees) and, for `cairn train grpo`, the question, evidence and gold.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_core::NodeKind;
use cairn_core::llm::{ChatRequest, Message, Role};
use cairn_engine::{AskOptions, Kb, SelectorKind};
use cairn_navigate::llm::{AnswerOptions, Evidence, answer_prompt, score_answer};
use clap::Args;
use serde_json::json;

/// Options of `cairn train data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The teacher: `local`, `gguf:PATH` or `openai:MODEL` (as for --llm). Not needed
    /// with --from-graph.
    #[arg(long, required_unless_present = "from_graph")]
    pub teacher: Option<String>,
    /// Write examples from the knowledge graph's cited facts instead of a teacher's
    /// questions: each fact, and each two-step mechanism (a drug inhibits or induces the
    /// main enzyme of another), becomes a question with its cited paragraphs as evidence
    /// and claims that cite the sentences stating them. An example is kept only if Cairn's
    /// answer checks accept it, as for a teacher's.
    #[arg(long)]
    pub from_graph: bool,
    /// Output JSONL.
    #[arg(long)]
    pub out: PathBuf,
    /// Examples to keep.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub count: usize,
    /// Paragraphs to try at most (default: 4 per example).
    #[arg(long)]
    pub max_tries: Option<usize>,
    /// Only paragraphs of these documents (repeatable; default: all).
    #[arg(long = "doc")]
    pub docs: Vec<String>,
    /// Seed of the paragraph sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write preference pairs here (`{"prompt","chosen","rejected"}`, for `train
    /// dpo`): each question gets a second, sampled answer, and when exactly one of the two
    /// verifies, the verified one is chosen. A verified second answer also rescues a
    /// question whose first answer failed.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Also write router examples here (`{"prompt","completion"}`): at every navigation
    /// level, the log-probability router's prompt for each candidate it would score, with
    /// ` Yes` for the candidates that contain the gold paragraph and ` No` for the rest.
    #[arg(long)]
    pub router: Option<PathBuf>,
}

/// A selector that knows the answer: it records the router's prompt for each candidate the
/// router would score, labelled by whether the candidate contains the gold paragraph, and
/// descends into the gold's candidates.
struct GoldSelector<'a> {
    corpus: &'a cairn_navigate::Corpus,
    gold_doc: usize,
    gold_node: u32,
    options: cairn_navigate::llm::RouterOptions,
    seen: std::cell::RefCell<Vec<(String, bool)>>,
}

impl GoldSelector<'_> {
    fn contains_gold(&self, c: &cairn_core::navigate::Candidate) -> bool {
        let doc = &self.corpus.docs()[self.gold_doc];
        if c.doc != doc.tree.key {
            return false;
        }
        match doc.chunk_index(&c.chunk) {
            Some(i) => doc.ranges[i].contains(&self.gold_node),
            None => true, // the whole document
        }
    }
}

impl cairn_core::Selector for GoldSelector<'_> {
    fn select(
        &self,
        request: &cairn_core::navigate::SelectRequest<'_>,
    ) -> cairn_core::Result<cairn_core::navigate::Selection> {
        let cards = cairn_navigate::llm::router_cards(request, &self.options);
        let mut seen = self.seen.borrow_mut();
        for i in cairn_navigate::llm::scored_candidates(request, self.options.score_top) {
            let gold = self.contains_gold(&request.candidates[i]);
            seen.push((cairn_navigate::llm::yes_no_prompt(request.question, &cards[i]), gold));
        }
        let picks = (0..request.candidates.len())
            .filter(|&i| self.contains_gold(&request.candidates[i]))
            .map(|index| cairn_core::navigate::Pick { index, reason: "the gold paragraph is here".into() })
            .collect();
        Ok(cairn_core::navigate::Selection { picks, note: None })
    }

    fn name(&self) -> &str {
        "gold"
    }
}

/// A role's name in chat JSONL and the chat template.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// A question the teacher writes about `text`, cleaned; `None` if it wrote none.
fn question_about(teacher: &dyn cairn_core::ChatModel, display: &str, text: &str) -> Result<Option<String>> {
    let request = ChatRequest::new(
        vec![
            Message::system(
                "You write exam questions. Reply with one question only: no answer, no preamble, no quotes.",
            ),
            Message::user(format!(
                "Passage ({display}):\n{text}\n\nWrite one question, in the language of the passage, that this \
                 passage answers and that someone could ask without having seen it."
            )),
        ],
        80,
    );
    let reply = teacher.chat(&request).context("the teacher failed")?.text;
    let line = reply.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let q = line.trim_matches(['"', '“', '”', '「', '」', '*']).trim();
    let q = q.strip_prefix("Question:").or_else(|| q.strip_prefix("问题：")).unwrap_or(q).trim();
    let long_enough = q.chars().filter(|c| c.is_alphanumeric()).count() >= 6;
    Ok((long_enough && q.ends_with(['?', '？'])).then(|| q.to_owned()))
}

/// Runs `cairn train data`.
pub fn run(kb: &Kb, args: &DataArgs, out: &mut dyn Write) -> Result<()> {
    if args.from_graph {
        return from_graph(kb, args, out);
    }
    let spec = args.teacher.as_deref().context("--teacher is needed (or --from-graph)")?;
    let teacher = kb.model(spec).with_context(|| format!("loading the teacher {spec}"))?;
    let corpus = kb.corpus();
    let mut pool: Vec<(usize, usize)> = Vec::new();
    for (d, doc) in corpus.docs().iter().enumerate() {
        if !args.docs.is_empty() && !args.docs.iter().any(|k| k == doc.tree.key.as_str()) {
            continue;
        }
        for (i, node) in doc.tree.nodes.iter().enumerate() {
            let chars = node.text.chars().count();
            if node.kind == NodeKind::Paragraph && (60..=1200).contains(&chars) {
                pool.push((d, i));
            }
        }
    }
    if pool.is_empty() {
        bail!("no paragraphs to write questions about (ingest documents first, or check --doc)");
    }
    // A seeded shuffle (SplitMix64), so a run can be repeated.
    let mut state = args.seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..pool.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        pool.swap(i, j);
    }
    let tries = args.max_tries.unwrap_or(args.count * 4).min(pool.len());
    let settings = kb.settings();
    let options = AnswerOptions {
        max_claims: settings.max_claims.max(1),
        evidence_tokens: settings.answer_budget_tokens,
        ..AnswerOptions::default()
    };
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
    );
    let (mut kept, mut no_question, mut gold_missed, mut unverified) = (0usize, 0usize, 0usize, 0usize);
    let mut pair_count = 0usize;
    let (mut router_count, mut router_yes) = (0usize, 0usize);
    let router_options = cairn_navigate::llm::RouterOptions {
        max_picks: settings.max_picks,
        level_budget_tokens: settings.router_budget_tokens,
        score_top: settings.router_candidates,
        ..cairn_navigate::llm::RouterOptions::default()
    };
    let mut router_file = match &args.router {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut pair_file = match &args.pairs {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut reasons: Vec<String> = Vec::new();
    let started = std::time::Instant::now();
    for &(d, i) in pool.iter().take(tries) {
        if kept >= args.count {
            break;
        }
        let doc = &corpus.docs()[d];
        let node = &doc.tree.nodes[i];
        let gold_display = doc.tree.display_id(i).to_string();
        let Some(question) = question_about(teacher.as_ref(), &gold_display, &node.text)? else {
            no_question += 1;
            continue;
        };
        if let Some(router) = router_file.as_mut() {
            let gold = GoldSelector {
                corpus,
                gold_doc: d,
                gold_node: i as u32,
                options: router_options,
                seen: std::cell::RefCell::new(Vec::new()),
            };
            kb.navigate_with(&question, &AskOptions::default(), &gold)?;
            for (prompt, is_gold) in gold.seen.into_inner() {
                let line = json!({"prompt": prompt, "completion": if is_gold { " Yes" } else { " No" }});
                writeln!(router, "{line}")?;
                router_count += 1;
                router_yes += usize::from(is_gold);
            }
            router.flush()?;
        }
        // Evidence as `ask` finds it without a model.
        let ask = AskOptions { selector: SelectorKind::Auto, ..AskOptions::default() };
        let navigation = kb.navigate_only(&question, &ask)?;
        let mut evidence: Vec<Evidence> = navigation
            .passages
            .iter()
            .filter_map(|p| {
                let (pd, pi) = corpus.locate(&p.id)?;
                let text = corpus.docs()[pd].tree.nodes[pi as usize].text.clone();
                Some(Evidence { id: p.id.clone(), display: p.display.clone(), text })
            })
            .collect();
        if !evidence.iter().any(|e| e.id == node.id) {
            gold_missed += 1;
            evidence.push(Evidence { id: node.id.clone(), display: gold_display.clone(), text: node.text.clone() });
        }
        let prompt = answer_prompt(&question, &evidence, &options);
        let reply = teacher.chat(&prompt.request).context("the teacher failed")?.text;
        let (mut score, mut read) = score_answer(&reply, &question, &evidence, &prompt, &options, &node.id);
        if let Some(pairs) = pair_file.as_mut() {
            // A second answer, sampled: a pair when exactly one of the two verifies.
            let mut sampled = prompt.request.clone();
            sampled.temperature = 0.9;
            sampled.seed = Some(args.seed ^ (kept + unverified + no_question) as u64 ^ 0xA5A5);
            let second = teacher.chat(&sampled).context("the teacher failed")?.text;
            let (score2, read2) = score_answer(&second, &question, &evidence, &prompt, &options, &node.id);
            let turns: Vec<(&str, &str)> =
                prompt.request.messages.iter().map(|m| (role_name(m.role), m.content.as_str())).collect();
            let chat = cairn_train::data::chatml_prompt(&turns);
            let pair = match (score.verified(), score2.verified()) {
                (true, false) => Some((reply.clone(), second.clone())),
                (false, true) => Some((second.clone(), reply.clone())),
                _ => None,
            };
            if let Some((chosen, rejected)) = pair {
                let line = json!({"prompt": chat, "chosen": format!("{}<|im_end|>", chosen.trim()),
                    "rejected": format!("{}<|im_end|>", rejected.trim()), "question": question});
                writeln!(pairs, "{line}")?;
                pairs.flush()?;
                pair_count += 1;
            }
            if !score.verified() && score2.verified() {
                (score, read) = (score2, read2);
            }
        }
        if !score.verified() {
            unverified += 1;
            if reasons.len() < 5 {
                let why = if !score.parsed {
                    "the reply was not JSON".to_owned()
                } else if !score.cites_gold {
                    "no kept claim cites the gold".to_owned()
                } else {
                    read.notes.iter().find(|n| n.starts_with("dropped")).cloned().unwrap_or_else(|| "no claims".into())
                };
                reasons.push(format!("{gold_display}: {question} — {why}"));
            }
            continue;
        }
        // The reply as it should have been: the kept claims, each naming its sentences.
        let claims: Vec<serde_json::Value> = read
            .draft
            .claims()
            .iter()
            .map(|c| {
                let ids: Vec<String> = c
                    .citations
                    .iter()
                    .filter_map(|q| {
                        prompt
                            .sentences
                            .iter()
                            .position(|(e, s)| evidence[*e].id == q.id && *s == q.quote)
                            .map(|k| format!("s{}", k + 1))
                    })
                    .collect();
                json!({"claim": c.text, "sentences": ids})
            })
            .collect();
        let answer = if read.summary.is_empty() {
            read.draft.claims().first().map(|c| c.text.clone()).unwrap_or_default()
        } else {
            read.summary.clone()
        };
        let reply = json!({"answer": answer, "claims": claims});
        let gold = (&node.id, gold_display.as_str());
        let line = example_line(&prompt, &reply, &question, gold, &evidence, &options, teacher.name(), score.reward());
        // Whole lines reach the disk as they are kept: a run stopped part-way (a teacher
        // call takes tens of seconds) leaves valid JSONL behind.
        writeln!(file, "{line}")?;
        file.flush()?;
        kept += 1;
        tracing::info!(kept, gold = %gold_display, "kept a verified example");
    }
    file.flush()?;
    if let (Some(mut pairs), Some(path)) = (pair_file, &args.pairs) {
        pairs.flush()?;
        writeln!(out, "wrote {pair_count} preference pair(s) (verified over unverified) to {}", path.display())?;
    }
    if let (Some(mut router), Some(path)) = (router_file, &args.router) {
        router.flush()?;
        writeln!(
            out,
            "wrote {router_count} router example(s) ({router_yes} Yes, {} No) to {}",
            router_count - router_yes,
            path.display()
        )?;
    }
    let tried = kept + no_question + unverified;
    writeln!(
        out,
        "wrote {kept} verified example(s) to {} from {tried} paragraph(s) in {:.0} s: {no_question} without a usable \
         question, {unverified} whose answer did not verify; navigation missed the gold for {gold_missed} (added)",
        args.out.display(),
        started.elapsed().as_secs_f64()
    )?;
    for r in &reasons {
        writeln!(out, "  refused: {r}")?;
    }
    if kept == 0 {
        bail!("no example verified");
    }
    Ok(())
}

/// One line of `cairn train data`'s output, as GRPO reads it.
#[derive(Debug, serde::Deserialize)]
struct TaskLine {
    messages: Vec<TaskMessage>,
    question: String,
    gold: cairn_core::StableId,
    evidence: Vec<TaskEvidence>,
    answer_options: TaskOptions,
}

#[derive(Debug, serde::Deserialize)]
struct TaskMessage {
    role: String,
    content: String,
}

#[derive(Debug, serde::Deserialize)]
struct TaskEvidence {
    id: cairn_core::StableId,
    display: String,
    text: String,
}

#[derive(Debug, serde::Deserialize)]
struct TaskOptions {
    max_claims: usize,
    evidence_tokens: usize,
}

/// A GRPO task: the prompt as the served model sees it, and what its reply is scored
/// against.
pub struct Task {
    /// The chat-template prompt (system and user messages, then the assistant header).
    pub prompt: String,
    question: String,
    gold: cairn_core::StableId,
    evidence: Vec<Evidence>,
    options: AnswerOptions,
    answer: cairn_navigate::llm::AnswerPrompt,
}

impl Task {
    /// Cairn's verifier on a reply: cites the gold, claims supported, the gold's numbers
    /// stated, not too long ([`cairn_navigate::llm::AnswerScore::reward`]).
    pub fn reward(&self, reply: &str) -> f64 {
        let reply = reply.trim_end_matches("<|im_end|>").trim_end_matches("<|endoftext|>");
        score_answer(reply, &self.question, &self.evidence, &self.answer, &self.options, &self.gold).0.reward()
    }
}

/// Reads `cairn train data` lines as GRPO tasks.
pub fn load_tasks(path: &std::path::Path) -> Result<Vec<Task>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut tasks = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let t: TaskLine = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a `train data` line", path.display(), n + 1))?;
        let turns: Vec<(&str, &str)> = t
            .messages
            .iter()
            .filter(|m| m.role != "assistant")
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect();
        let Some(user) = turns.iter().rev().find(|(role, _)| *role == "user").map(|(_, c)| *c) else {
            bail!("{}:{}: no user message", path.display(), n + 1);
        };
        let evidence: Vec<Evidence> =
            t.evidence.into_iter().map(|e| Evidence { id: e.id, display: e.display, text: e.text }).collect();
        let options = AnswerOptions {
            max_claims: t.answer_options.max_claims,
            evidence_tokens: t.answer_options.evidence_tokens,
            ..AnswerOptions::default()
        };
        let answer = answer_prompt(&t.question, &evidence, &options);
        // The stored prompt must be the one the verifier reads replies against.
        let rebuilt = answer.request.messages.iter().find(|m| m.role == Role::User).map(|m| m.content.as_str());
        if rebuilt != Some(user) {
            bail!("{}:{}: the user message is not the answer prompt for its evidence", path.display(), n + 1);
        }
        tasks.push(Task {
            prompt: cairn_train::data::chatml_prompt(&turns),
            question: t.question,
            gold: t.gold,
            evidence,
            options,
            answer,
        });
    }
    if tasks.is_empty() {
        bail!("{}: no tasks", path.display());
    }
    Ok(tasks)
}

/// One kept answer example: the chat as `ask` sends it with `reply` as the assistant's
/// turn, and what it was made from.
#[allow(clippy::too_many_arguments)]
fn example_line(
    prompt: &cairn_navigate::llm::AnswerPrompt,
    reply: &serde_json::Value,
    question: &str,
    (gold, gold_display): (&cairn_core::StableId, &str),
    evidence: &[Evidence],
    options: &AnswerOptions,
    teacher: &str,
    reward: f64,
) -> serde_json::Value {
    let mut messages: Vec<serde_json::Value> =
        prompt.request.messages.iter().map(|m| json!({"role": role_name(m.role), "content": m.content})).collect();
    messages.push(json!({"role": "assistant", "content": reply.to_string()}));
    json!({
        "template": "chatml",
        "messages": messages,
        "question": question,
        "gold": gold.to_string(),
        "gold_display": gold_display,
        "evidence": evidence.iter().map(|e| json!({"id": e.id.to_string(), "display": e.display, "text": e.text})).collect::<Vec<_>>(),
        "answer_options": {"max_claims": options.max_claims, "evidence_tokens": options.evidence_tokens},
        "teacher": teacher,
        "reward": reward,
    })
}

/// A fact of the graph as the examples use it: its ends' names, its type and main
/// property, and the paragraph and sentence that state it.
struct GraphFact {
    from: String,
    to: String,
    rel: String,
    value: Option<String>,
    paragraph: Evidence,
    quote: String,
}

fn graph_facts(kb: &Kb) -> Vec<GraphFact> {
    use cairn_graph::Value;
    let g = kb.graph().graph();
    let corpus = kb.corpus();
    let name = |n: cairn_graph::NodeId| -> Option<String> {
        let d = g.node(n)?;
        match d.props.get("name").or_else(|| d.props.get("id")) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    for r in g.rel_ids() {
        let Some(rel) = g.rel(r) else { continue };
        let text = |k: &str| match rel.props.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let cite = match rel.props.get("cites") {
            Some(Value::List(l)) => match l.first() {
                Some(Value::String(s)) => s.clone(),
                _ => continue,
            },
            _ => continue,
        };
        let Some(quote) = text("quote") else { continue };
        // Only facts whose source still says them.
        let Some(citation) = kb.recheck_citation(&cite, &quote) else { continue };
        let para = citation.id.split_sentence().map_or(citation.id.clone(), |(p, _)| p);
        let Some((d, i)) = corpus.locate(&para) else { continue };
        let tree = &corpus.docs()[d].tree;
        let paragraph = Evidence {
            id: para.clone(),
            display: tree.display_id(i as usize).to_string(),
            text: tree.nodes[i as usize].text.clone(),
        };
        let value = ["strength", "fraction", "severity"].iter().find_map(|k| text(k)).filter(|v| v != "unspecified");
        let (Some(from), Some(to)) = (name(rel.src), name(rel.dst)) else { continue };
        out.push(GraphFact { from, to, rel: rel.kind.clone(), value, paragraph, quote });
    }
    out
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The question and claim a fact reads as.
fn verbalise(f: &GraphFact) -> Option<(String, String)> {
    let (a, b) = (&f.from, &f.to);
    let v = f.value.as_deref();
    Some(match f.rel.as_str() {
        "INHIBITS" => (
            format!("Does {a} inhibit {b}?"),
            match v {
                Some(s) => format!("{} is a {s} inhibitor of {b}.", capital(a)),
                None => format!("{} inhibits {b}.", capital(a)),
            },
        ),
        "INDUCES" => (
            format!("Does {a} induce {b}?"),
            match v {
                Some(s) => format!("{} is a {s} inducer of {b}.", capital(a)),
                None => format!("{} induces {b}.", capital(a)),
            },
        ),
        "METABOLIZED_BY" => (
            format!("Which enzymes metabolize {a}?"),
            match v {
                Some("major") => format!("{b} accounts for most of the metabolism of {a}."),
                Some("minor") => format!("{b} makes a minor contribution to the metabolism of {a}."),
                _ => format!("{} is metabolized by {b}.", capital(a)),
            },
        ),
        "SUBSTRATE_OF" => (format!("Which transporters carry {a}?"), format!("{} is a substrate of {b}.", capital(a))),
        "INTERACTS_WITH" => (
            format!("Can {a} be taken with {b}?"),
            match v {
                Some("contraindicated") => format!("The combination of {a} and {b} is contraindicated."),
                Some(s) => format!("The combination of {a} and {b} is a {s} interaction."),
                None => return None,
            },
        ),
        _ => return None,
    })
}

/// `cairn train data --from-graph`: answer examples from the graph's cited facts.
fn from_graph(kb: &Kb, args: &DataArgs, out: &mut dyn Write) -> Result<()> {
    let facts = graph_facts(kb);
    if facts.is_empty() {
        bail!("the knowledge graph has no cited facts (`cairn graph load-pharmacology`, or a graph-schema.toml)");
    }
    let settings = kb.settings();
    let options = AnswerOptions {
        max_claims: settings.max_claims.max(2),
        evidence_tokens: settings.answer_budget_tokens,
        ..AnswerOptions::default()
    };
    // Single facts and two-step mechanisms (B inhibits or induces the main enzyme of A),
    // each shuffled (seeded, so a run repeats), then taken in turn.
    type Item<'a> = (String, Vec<(String, &'a GraphFact)>, String);
    let mut singles: Vec<Item<'_>> = Vec::new();
    let mut items: Vec<Item<'_>> = Vec::new();
    for f in &facts {
        if let Some((q, claim)) = verbalise(f) {
            singles.push((q, vec![(claim, f)], String::new()));
        }
    }
    for m in facts.iter().filter(|f| f.rel == "METABOLIZED_BY" && f.value.as_deref() == Some("major")) {
        for p in
            facts.iter().filter(|f| (f.rel == "INHIBITS" || f.rel == "INDUCES") && f.to == m.to && f.from != m.from)
        {
            let (Some((_, c1)), Some((_, c2))) = (verbalise(p), verbalise(m)) else { continue };
            let effect = if p.rel == "INHIBITS" { "raise" } else { "lower" };
            let q = format!("How does {} change {} levels?", p.from, m.from);
            let answer = format!(
                "{} {} {}, the main enzyme that clears {}, so it can {effect} {} levels.",
                capital(&p.from),
                if p.rel == "INHIBITS" { "inhibits" } else { "induces" },
                m.to,
                m.from,
                m.from
            );
            items.push((q, vec![(c1, p), (c2, m)], answer));
        }
    }
    let mut state = args.seed ^ 0x51_7C_C1_B7_27_22_0A_95;
    let mut shuffle = |v: &mut Vec<Item<'_>>| {
        for i in (1..v.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            v.swap(i, (state >> 33) as usize % (i + 1));
        }
    };
    shuffle(&mut singles);
    shuffle(&mut items);
    let paths_list = std::mem::take(&mut items);
    let (mut a, mut b) = (singles.into_iter(), paths_list.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => items.extend(x.into_iter().chain(y)),
        }
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
    );
    let (mut kept, mut refused, mut paths) = (0usize, 0usize, 0usize);
    for (question, parts, answer) in &items {
        if kept >= args.count {
            break;
        }
        let mut evidence: Vec<Evidence> = Vec::new();
        for (_, f) in parts {
            if !evidence.iter().any(|e| e.id == f.paragraph.id) {
                evidence.push(f.paragraph.clone());
            }
        }
        let prompt = answer_prompt(question, &evidence, &options);
        let claims: Option<Vec<serde_json::Value>> = parts
            .iter()
            .map(|(claim, f)| {
                let k = prompt.sentences.iter().position(|(_, s)| cairn_core::normalize::quote_occurs(&f.quote, s))?;
                Some(json!({"claim": claim, "sentences": [format!("s{}", k + 1)]}))
            })
            .collect();
        let Some(claims) = claims else {
            refused += 1;
            continue;
        };
        let answer = if answer.is_empty() { parts[0].0.clone() } else { answer.clone() };
        let assistant = json!({"answer": answer, "claims": claims}).to_string();
        // The same checks as a teacher's answer: every citation an offered sentence, every
        // claim supported by it, the gold paragraph cited, and the summary supported by
        // the cited sentences (else the first claim stands in for it, as for a teacher's).
        let gold = parts[0].1.paragraph.id.clone();
        let (score, read) = score_answer(&assistant, question, &evidence, &prompt, &options, &gold);
        if !score.verified() {
            refused += 1;
            continue;
        }
        let answer = if read.summary.is_empty() { parts[0].0.clone() } else { read.summary.clone() };
        let reply = json!({"answer": answer, "claims": claims});
        let gold = (&gold, parts[0].1.paragraph.display.as_str());
        let line = example_line(&prompt, &reply, question, gold, &evidence, &options, "graph", score.reward());
        writeln!(file, "{line}")?;
        kept += 1;
        paths += usize::from(parts.len() > 1);
    }
    file.flush()?;
    writeln!(
        out,
        "wrote {kept} example(s) from {} cited facts ({paths} two-step mechanisms) to {}; {refused} refused by the answer checks",
        facts.len(),
        args.out.display()
    )?;
    Ok(())
}
