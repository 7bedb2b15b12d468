//! `ask` with language models: a router selector for navigation, a generated answer with
//! constrained citations, the deterministic span check (always), and a judge that gets one
//! repair round before the engine abstains. Each stage has its own model, and its tokens,
//! time and cost are accounted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cairn_core::{Abstention, Answer, ChatModel, Draft, EventSink, NodeLookup};
use cairn_llm::{Backend, BackendOptions, GgufOptions, OpenAiConfig};
use cairn_navigate::llm::{
    AnswerOptions, Evidence, LlmSelector, Rewrite, RouterMode, RouterOptions, StageUsage, Verdict,
};
use serde::Serialize;

use crate::error::{EngineError, Result};
use crate::kb::{AskOptions, Kb, SelectorKind};
use crate::settings::Settings;

/// One stage's calls and their price.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// `router`, `answer` or `judge`.
    pub stage: &'static str,
    /// Calls, tokens and time.
    #[serde(flatten)]
    pub usage: StageUsage,
    /// At the configured prices, in USD.
    pub cost_usd: f64,
}

/// What the judge said.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JudgeState {
    /// No judge is configured.
    NotRun,
    /// The judge returned a verdict (after the repair round, if there was one).
    Judged {
        /// The verdict.
        verdict: Verdict,
        /// Whether a repair round ran.
        repaired: bool,
    },
    /// The judge call failed or its reply was unusable: the answer is *not* judged.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The model part of an answer.
#[derive(Debug, Clone, Serialize)]
pub struct LlmReport {
    /// The router's mode.
    pub router_mode: RouterMode,
    /// The question rewritten into the documents' vocabulary, when `rewrite` is on.
    pub rewrite: Option<Rewrite>,
    /// Whether the answer quotes the evidence's best sentences because no model claim
    /// survived the checks.
    pub extractive_fallback: bool,
    /// Per stage.
    pub stages: Vec<StageReport>,
    /// The judge.
    pub judge: JudgeState,
    /// The answer model's one-sentence answer.
    pub summary: String,
    /// Claims or citations dropped, and why (span check, judge).
    pub repairs: Vec<String>,
    /// Tokens of the documents in scope: what the cookbook's approach sends at depth 0.
    pub whole_document_tokens: u64,
    /// The router model's read-only Cypher query for the question, and its rows (or why it
    /// was refused), when the knowledge graph has nodes.
    pub cypher: Option<std::result::Result<crate::graph::CypherAnswer, String>>,
}

/// Opened models, shared between stages that name the same spec.
#[derive(Default)]
pub(crate) struct Models {
    open: Mutex<HashMap<String, Arc<dyn ChatModel>>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Models")
    }
}

impl Models {
    /// The model for `spec`, opened on first use. The lock is held while a model loads, so
    /// concurrent first questions load it once (the others wait); a panic during a load
    /// leaves the map as it was, so a poisoned lock is still usable.
    pub(crate) fn get(&self, spec: &str, settings: &Settings) -> Result<Arc<dyn ChatModel>> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = open.get(spec) {
            return Ok(Arc::clone(b));
        }
        let options = BackendOptions {
            openai: OpenAiConfig {
                api_key: settings.llm_api_key.clone(),
                ..OpenAiConfig::new(settings.llm_base_url.clone(), settings.llm_model.clone())
            },
            gguf: GgufOptions {
                n_ctx: settings.gguf_ctx,
                threads: settings.gguf_threads(),
                contexts: settings.gguf_contexts,
            },
            models_dir: settings.models_dir.clone().into(),
            local_model: (!settings.local_model.is_empty()).then(|| settings.local_model.clone().into()),
        };
        let backend: Arc<dyn ChatModel> = Arc::new(Backend::open(spec, &options)?);
        tracing::info!(spec, model = backend.name(), "language model ready");
        open.insert(spec.to_owned(), Arc::clone(&backend));
        Ok(backend)
    }

    fn register(&self, spec: &str, model: Arc<dyn ChatModel>) {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(spec.to_owned(), model);
    }
}

/// Whether a model (by its name) runs in process; a replay of one counts as one.
fn is_local(name: &str) -> bool {
    name.trim_start_matches("replay:").starts_with("gguf:")
}

/// The router mode a setting asks for; `auto` scores Yes/No log-probabilities on a local
/// model (one shared prefix, a few tokens per candidate, no JSON to get wrong) and makes
/// structured calls to a server.
fn router_mode(setting: &str, model: &str) -> RouterMode {
    match setting {
        "logprob" => RouterMode::LogProb,
        "json" => RouterMode::Json,
        _ if is_local(model) => RouterMode::LogProb,
        _ => RouterMode::Json,
    }
}

fn cost(usage: &StageUsage, price: (f64, f64)) -> f64 {
    (usage.prompt_tokens as f64 * price.0 + usage.completion_tokens as f64 * price.1) / 1e6
}

impl Kb {
    /// Whether `ask` uses language models (a model spec is set).
    pub fn llm_enabled(&self) -> bool {
        let s = self.settings();
        s.llm.is_some() || s.router_llm.is_some() || s.answer_llm.is_some()
    }

    /// Makes `model` the one a spec names (embedders of Cairn plug in their own models;
    /// tests plug in scripted ones).
    pub fn register_model(&self, spec: &str, model: Arc<dyn ChatModel>) {
        self.models.register(spec, model);
    }

    /// The model a spec names, opened once and shared.
    pub fn model(&self, spec: &str) -> Result<Arc<dyn ChatModel>> {
        self.models.get(spec, self.settings())
    }

    fn stage_model(&self, stage: Option<&String>) -> Result<Option<Arc<dyn ChatModel>>> {
        let s = self.settings();
        match stage.or(s.llm.as_ref()) {
            Some(spec) if spec == "off" => Ok(None),
            Some(spec) => self.models.get(spec, s).map(Some),
            None => Ok(None),
        }
    }

    /// Answers with models: router, answerer, judge.
    pub(crate) fn ask_llm(
        &self,
        question: &str,
        options: &AskOptions,
        sink: &mut dyn EventSink,
    ) -> Result<(cairn_navigate::Navigation, Answer<Draft>, LlmReport)> {
        let s = self.settings().clone();
        let lexical_only = || EngineError::Setting { name: "llm".into(), reason: "no model configured".into() };
        // `router_llm = "off"` routes lexically and lets the model only answer (the
        // cheap path for a small local model).
        let router = self.stage_model(s.router_llm.as_ref())?;
        let answerer = self.stage_model(s.answer_llm.as_ref())?.ok_or_else(lexical_only)?;
        // A local model's judge verdicts are close to noise (BENCHMARKS.md); with a local
        // model the judge runs only when asked for by name. The deterministic support check
        // has already run on every claim.
        let judge_model = match self.stage_model(s.judge_llm.as_ref())? {
            Some(judge) if s.judge_llm.is_none() && is_local(judge.name()) => None,
            judge => judge,
        };
        let mode = router_mode(&s.router_mode, router.as_ref().map_or("", |r| r.name()));
        let mut stages = Vec::new();
        let mut repairs = Vec::new();
        // A question in everyday words is first put in the documents' words; navigation
        // runs on both. The rewrite widens the search only: the answer model still sees the
        // question as asked, and answers only from the documents.
        let rewrite = if s.rewrite {
            let model = router.as_ref().unwrap_or(&answerer);
            match cairn_navigate::llm::rewrite(model.as_ref(), question) {
                Ok(r) => {
                    stages.push(StageReport {
                        stage: "rewrite",
                        cost_usd: cost(&r.usage, s.router_price),
                        usage: r.usage.clone(),
                    });
                    Some(r)
                }
                Err(e @ cairn_core::CoreError::Expired(_)) => return Err(e.into()),
                Err(e) => {
                    repairs.push(format!("question not rewritten: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let search_text = rewrite.as_ref().map_or_else(|| question.to_owned(), |r| r.expand(question));
        let (mut navigation, nav_stages) = match &router {
            Some(router) => {
                let selector = LlmSelector::new(
                    router.as_ref(),
                    RouterOptions {
                        max_picks: s.max_picks,
                        level_budget_tokens: s.router_budget_tokens,
                        mode,
                        score_top: s.router_candidates,
                        ..RouterOptions::default()
                    },
                );
                let navigation = self.navigate(&search_text, options, &selector, sink)?;
                let stage = StageReport {
                    stage: "router",
                    cost_usd: cost(&selector.usage(), s.router_price),
                    usage: selector.usage(),
                };
                (navigation, vec![stage])
            }
            None => {
                let lexical = cairn_navigate::LexicalSelector { ratio: 0.5, max_picks: s.max_picks };
                let hybrid =
                    matches!(options.selector, SelectorKind::Auto | SelectorKind::Hybrid) && self.dense_available();
                let navigation = if hybrid {
                    let selector = self.hybrid_selector(&search_text, options, lexical)?;
                    self.navigate(&search_text, options, &selector, sink)?
                } else {
                    self.navigate(&search_text, options, &lexical, sink)?
                };
                (navigation, Vec::new())
            }
        };
        stages.extend(nav_stages);
        if let Some(r) = &rewrite {
            navigation.scratchpad.notes.insert(0, r.note());
        }
        let evidence: Vec<Evidence> = navigation
            .passages
            .iter()
            .filter_map(|p| {
                let (d, i) = self.corpus().locate(&p.id)?;
                let text = self.corpus().docs()[d].tree.nodes[i as usize].text.clone();
                Some(Evidence { id: p.id.clone(), display: p.display.clone(), text })
            })
            .collect();
        let unstated = cairn_navigate::premise::check(self.corpus(), question, &navigation.scope);
        let (mut draft, summary) = if evidence.is_empty() {
            let a = Answer::draft(question).abstain(Abstention {
                reason: "navigation found no evidence".into(),
                signal: None,
                threshold: None,
            });
            (a, String::new())
        } else if !unstated.is_empty() {
            // The question takes as given a figure no document states: no model is asked.
            (Answer::draft(question).abstain(cairn_navigate::premise::abstention(&unstated)), String::new())
        } else {
            let generated = cairn_navigate::llm::generate(
                answerer.as_ref(),
                question,
                &evidence,
                &AnswerOptions {
                    max_claims: s.max_claims.max(1),
                    evidence_tokens: s.answer_budget_tokens,
                    ..AnswerOptions::default()
                },
            )?;
            stages.push(StageReport {
                stage: "answer",
                cost_usd: cost(&generated.usage, s.answer_price),
                usage: generated.usage,
            });
            repairs.extend(generated.notes);
            (generated.draft, generated.summary)
        };
        // When no model claim survives the checks but the evidence clears the extractive
        // abstention threshold, the answer is the evidence's own best sentences (verbatim,
        // cited, verified like any other) rather than nothing; the repairs say so. Not for a
        // question whose premise no document states: that abstention stands.
        let mut extractive_fallback = false;
        if draft.abstention().is_some() && !evidence.is_empty() && unstated.is_empty() {
            let options = cairn_navigate::answer::AnswerOptions {
                max_claims: s.max_claims,
                min_coverage: s.min_coverage,
                ..Default::default()
            };
            let extract = cairn_navigate::answer::extractive(self.corpus(), question, &navigation, &options);
            if extract.abstention().is_none() {
                repairs.push(
                    "no model claim survived the checks; the answer quotes the evidence's best sentences instead"
                        .into(),
                );
                draft = extract;
                extractive_fallback = true;
            }
        }
        span_check(&mut draft, self.store(), &mut repairs);
        let judge = match judge_model {
            None => JudgeState::NotRun,
            Some(_) if draft.abstention().is_some() => JudgeState::NotRun,
            Some(model) => {
                let (state, usage) = self.judge_round(model.as_ref(), &mut draft, &mut repairs);
                stages.push(StageReport { stage: "judge", cost_usd: cost(&usage, s.judge_price), usage });
                state
            }
        };
        let scope_tokens = self
            .corpus()
            .docs()
            .iter()
            .filter(|d| options.docs.as_ref().is_none_or(|keys| keys.contains(&d.tree.key)))
            .map(|d| cairn_core::llm::estimate_tokens(&d.tree.text) as u64)
            .sum();
        // Text-to-Cypher is the router's job; without a router model it is not tried.
        let cypher = router
            .as_ref()
            .filter(|_| self.graph().graph().node_count() > 0)
            .map(|router| self.text_to_cypher(router.as_ref(), question).map_err(|e| e.to_string()));
        let report = LlmReport {
            router_mode: mode,
            rewrite,
            extractive_fallback,
            stages,
            judge,
            summary,
            repairs,
            whole_document_tokens: scope_tokens,
            cypher,
        };
        Ok((navigation, draft, report))
    }

    /// Judge, one repair round (drop the claims it names), judge again, else abstain.
    fn judge_round(
        &self,
        model: &dyn ChatModel,
        draft: &mut Answer<Draft>,
        repairs: &mut Vec<String>,
    ) -> (JudgeState, StageUsage) {
        let started = Instant::now();
        let mut total = StageUsage { model: model.name().to_owned(), ..StageUsage::default() };
        let mut repaired = false;
        for round in 0..2 {
            let claims: Vec<(String, Vec<String>)> = draft
                .claims()
                .iter()
                .map(|c| {
                    (
                        c.text.clone(),
                        c.citations.iter().filter_map(|cit| self.store().node_text(&cit.id).ok().flatten()).collect(),
                    )
                })
                .collect();
            let (verdict, usage) = cairn_navigate::llm::judge(model, draft.question(), &claims);
            total.calls += usage.calls;
            total.prompt_tokens += usage.prompt_tokens;
            total.completion_tokens += usage.completion_tokens;
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => {
                    total.millis = started.elapsed().as_secs_f64() * 1000.0;
                    return (JudgeState::Failed { reason: e.to_string() }, total);
                }
            };
            if verdict.is_accurate {
                total.millis = started.elapsed().as_secs_f64() * 1000.0;
                return (JudgeState::Judged { verdict, repaired }, total);
            }
            if round == 1
                || verdict.unsupported_claims.is_empty()
                || verdict.unsupported_claims.len() >= draft.claims().len()
            {
                repairs.push(format!("the judge found the answer unsupported: {}", verdict.explanation));
                let question = draft.question().to_owned();
                *draft = Answer::draft(question).abstain(Abstention {
                    reason: "the judge could not confirm the answer against its sources".into(),
                    signal: Some(verdict.confidence),
                    threshold: None,
                });
                total.millis = started.elapsed().as_secs_f64() * 1000.0;
                return (JudgeState::Judged { verdict, repaired }, total);
            }
            // Repair: drop the claims the judge named, then ask again.
            let drop: Vec<usize> = verdict.unsupported_claims.iter().map(|n| n - 1).collect();
            let mut i = 0;
            draft.claims_mut().retain(|c| {
                let keep = !drop.contains(&i);
                if !keep {
                    repairs.push(format!("judge repair: dropped {:?}", c.text));
                }
                i += 1;
                keep
            });
            repaired = true;
        }
        total.millis = started.elapsed().as_secs_f64() * 1000.0;
        (JudgeState::Failed { reason: "no verdict".into() }, total)
    }
}

/// The deterministic check, claim by claim: citations whose quote is not in the cited
/// node are dropped, then claims left without a citation; if nothing remains, abstain.
fn span_check(draft: &mut Answer<Draft>, nodes: &dyn NodeLookup, repairs: &mut Vec<String>) {
    if draft.abstention().is_some() {
        return;
    }
    for claim in draft.claims_mut().iter_mut() {
        claim.citations.retain(|c| {
            let ok = nodes.node_text(&c.id).is_some_and(|t| cairn_core::normalize::quote_occurs(&c.quote, &t));
            if !ok {
                repairs.push(format!("span check: dropped the citation {:?} (not in {})", c.quote, c.id));
            }
            ok
        });
    }
    draft.claims_mut().retain(|c| {
        if c.citations.is_empty() {
            repairs.push(format!("span check: dropped the claim {:?} (no verified citation)", c.text));
        }
        !c.citations.is_empty()
    });
    if draft.claims().is_empty() {
        let question = draft.question().to_owned();
        *draft = Answer::draft(question).abstain(Abstention {
            reason: "no claim of the generated answer survived the citation check".into(),
            signal: None,
            threshold: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_routes_local_models_by_log_probability() {
        assert_eq!(router_mode("auto", "gguf:qwen2.5-coder-0.5b-instruct"), RouterMode::LogProb);
        assert_eq!(router_mode("auto", "replay:gguf:gemma-3-270m-q4_k_m"), RouterMode::LogProb);
        assert_eq!(router_mode("auto", "openai:gpt-4o-mini"), RouterMode::Json);
        assert_eq!(router_mode("auto", "replay:openai:gpt-4o-mini"), RouterMode::Json);
        assert_eq!(router_mode("json", "gguf:q"), RouterMode::Json);
        assert_eq!(router_mode("logprob", "openai"), RouterMode::LogProb);
    }
}
