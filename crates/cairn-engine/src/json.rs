//! The JSON form of an answer (`cairn ask --json`), a documented, stable schema
//! (`docs/ASK-JSON.md`). Field names never change within a `schema` version; new
//! fields may be added.

use cairn_core::{Passage, Scratchpad};
use serde::Serialize;

use crate::kb::{Asked, Source};

/// Current schema version.
pub const SCHEMA: u32 = 1;

/// The top-level object.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AskJson<'a> {
    /// Schema version (1).
    pub schema: u32,
    /// The question.
    pub question: &'a str,
    /// `"answered"` or `"abstained"`.
    pub status: &'static str,
    /// The answer text with inline display citations, or the abstention reason.
    pub answer: String,
    /// The claims, each with verified citations.
    pub claims: Vec<ClaimJson<'a>>,
    /// Abstention details, when the engine declined to answer.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<cairn_core::Abstention>))]
    pub abstention: Option<&'a cairn_core::Abstention>,
    /// Where the citations point.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Source>))]
    pub sources: &'a [Source],
    /// The evidence passages navigation returned.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Passage>))]
    pub passages: &'a [Passage],
    /// Every navigation decision.
    #[cfg_attr(feature = "openapi", schema(value_type = Scratchpad))]
    pub scratchpad: &'a Scratchpad,
    /// Knowledge-graph facts about the entities the question names, each with a
    /// citation re-checked against the store (added in schema 1; empty lists when none).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::drug::GraphEvidence))]
    pub graph: &'a crate::drug::GraphEvidence,
    /// The language models' stages, tokens, cost and the judge's verdict (`null` for
    /// extractive answers). `judge.state` is `judged` only when a verdict was returned.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub llm: Option<&'a crate::llm::LlmReport>,
    /// Timing and budget use.
    pub stats: StatsJson,
}

/// One claim.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimJson<'a> {
    /// The statement.
    pub text: &'a str,
    /// Its citations.
    pub citations: Vec<CitationJson<'a>>,
}

/// One citation: the stable ID (what to store), the display ID (what to show) and the
/// verbatim quote. `verified` is always true: unverified answers never leave the engine.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CitationJson<'a> {
    /// Stable ID.
    pub id: &'a str,
    /// Display ID.
    pub display: String,
    /// Verbatim quote.
    pub quote: &'a str,
    /// Always true.
    pub verified: bool,
}

/// Timing and budget use.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsJson {
    /// Milliseconds spent answering.
    pub millis: f64,
    /// Candidates scored.
    pub chunks_evaluated: usize,
    /// Navigation levels run.
    pub levels: usize,
}

/// Renders the answer text with `[display]` citations after each claim.
pub fn answer_text(asked: &Asked, display: impl Fn(&cairn_core::StableId) -> String) -> String {
    if let Some(a) = asked.answer.abstention() {
        return a.reason.clone();
    }
    asked
        .answer
        .claims()
        .iter()
        .map(|c| {
            let refs: Vec<String> = c.citations.iter().map(|cit| format!("[{}]", display(&cit.id))).collect();
            format!("{} {}", c.text, refs.join(""))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the JSON object for an answer.
pub fn ask_json<'a>(asked: &'a Asked, display: &dyn Fn(&cairn_core::StableId) -> String) -> AskJson<'a> {
    let claims = asked
        .answer
        .claims()
        .iter()
        .map(|c| ClaimJson {
            text: &c.text,
            citations: c
                .citations
                .iter()
                .map(|cit| CitationJson {
                    id: cit.id.as_str(),
                    display: display(&cit.id),
                    quote: &cit.quote,
                    verified: true,
                })
                .collect(),
        })
        .collect();
    AskJson {
        schema: SCHEMA,
        question: asked.answer.question(),
        status: if asked.answer.abstention().is_some() { "abstained" } else { "answered" },
        answer: answer_text(asked, display),
        claims,
        abstention: asked.answer.abstention(),
        sources: &asked.sources,
        passages: &asked.navigation.passages,
        scratchpad: &asked.navigation.scratchpad,
        graph: &asked.graph,
        llm: asked.llm.as_ref(),
        stats: StatsJson {
            millis: asked.millis,
            chunks_evaluated: asked.navigation.evaluated,
            levels: asked.navigation.scratchpad.steps.len(),
        },
    }
}
