//! The navigation seam: candidates, the [`Selector`] trait, the scratchpad and events.
//!
//! The navigator (in `cairn-navigate`) owns the loop: at each level it offers at most N
//! candidate chunks, already scored by a cheap lexical pass, and a [`Selector`] picks
//! which ones to refine. The selector is *pulled*: it receives the whole candidate list
//! and the scratchpad so far, and answers once per level. That shape fits both the
//! lexical selector (which ranks by the evidence it is given) and an LLM router (which
//! reads chunk text through [`ChunkText`] and records its reasoning in the note).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::citation::{Answer, Cited};
use crate::error::{CoreError, Result};
use crate::id::{DocKey, StableId};
use crate::tree::PageRange;

/// Identifies one navigation chunk of one document. Opaque to selectors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId(pub String);

/// One navigation chunk: a run of consecutive sibling nodes (sections or paragraphs) of
/// one document, planned once at ingest time and stored. A chunk's children are planned
/// chunks one level down; a chunk whose only member is a paragraph is a leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Identifier, derived from the document key, level and members.
    pub id: ChunkId,
    /// The enclosing chunk, `None` at the top of a document.
    pub parent: Option<ChunkId>,
    /// Depth in the document's chunk tree (0 = the document's top-level chunks).
    pub level: u32,
    /// The sibling nodes covered, in order.
    pub members: Vec<StableId>,
    /// Approximate size in tokens.
    pub tokens: u32,
    /// A short human label (`pharm:7.1–7.4 Simvastatin … Rosuvastatin`).
    pub label: String,
}

/// How a candidate scored in the lexical pass; shown in the scratchpad.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The total used for ranking.
    pub score: f32,
    /// Lexical relevance: the chunk's best paragraph BM25 plus a share of the chunk's BM25
    /// as one pseudo-document.
    pub bm25: f32,
    /// Bonus for query terms found in the chunk's headings.
    pub heading: f32,
    /// Bonus for a clause or section number the question names.
    pub clause: f32,
    /// Query terms found in the chunk.
    pub matched: Vec<String>,
    /// The section number matched, if any (`10`, `4.2`).
    pub clause_match: Option<String>,
}

/// One chunk offered to a selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The chunk.
    pub chunk: ChunkId,
    /// The document it belongs to.
    pub doc: DocKey,
    /// A short human label (`pharm:7.1–7.4`).
    pub label: String,
    /// Section titles in the chunk, outermost first (truncated).
    pub headings: Vec<String>,
    /// Where the chunk sits: the document's title, then the headings of the sections that
    /// enclose it, outermost first.
    pub context: Vec<String>,
    /// Approximate size in tokens.
    pub tokens: u32,
    /// Whether the chunk is a single paragraph (cannot be refined further).
    pub leaf: bool,
    /// The lexical evidence.
    pub evidence: Evidence,
}

/// Text access for selectors that read chunks (an LLM router). One required method.
pub trait ChunkText {
    /// The chunk's text, cut to roughly `max_tokens`.
    fn chunk_text(&self, chunk: &ChunkId, max_tokens: usize) -> String;
}

/// What a selector is asked at one level.
#[derive(Clone, Copy)]
pub struct SelectRequest<'a> {
    /// The user's question.
    pub question: &'a str,
    /// Navigation level, 0-based.
    pub level: u32,
    /// The candidates (at most N).
    pub candidates: &'a [Candidate],
    /// Decisions so far.
    pub scratchpad: &'a Scratchpad,
    /// Chunk text, for selectors that read.
    pub text: &'a dyn ChunkText,
}

impl std::fmt::Debug for SelectRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectRequest")
            .field("question", &self.question)
            .field("level", &self.level)
            .field("candidates", &self.candidates.len())
            .finish()
    }
}

/// One pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// Index into the request's candidates.
    pub index: usize,
    /// Why it was picked.
    pub reason: String,
}

/// A selector's answer for one level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The picks, best first. Empty means "nothing here is relevant".
    pub picks: Vec<Pick>,
    /// Reasoning to keep in the scratchpad.
    pub note: Option<String>,
}

/// Picks the chunks worth refining. Implementations must only return indices into the
/// request's candidates; the navigator discards anything else and records that it did.
pub trait Selector {
    /// Chooses among `request.candidates`.
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection>;

    /// A name for the scratchpad.
    fn name(&self) -> &str {
        "custom"
    }
}

impl<T: Selector + ?Sized> Selector for &T {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        (**self).select(request)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<T: Selector + ?Sized> Selector for Box<T> {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        (**self).select(request)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<T: Selector + ?Sized> Selector for Arc<T> {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        (**self).select(request)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

/// Adapts a closure into a [`Selector`].
#[derive(Debug, Clone, Copy)]
pub struct SelectFn<F>(pub F);

impl<F: Fn(&SelectRequest<'_>) -> Result<Selection>> Selector for SelectFn<F> {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        (self.0)(request)
    }
}

/// A selector failure, for implementations that call out (an LLM).
pub fn selector_error(selector: &str, message: impl Into<String>, transient: bool) -> CoreError {
    CoreError::Selector { selector: selector.to_owned(), message: message.into(), transient }
}

/// One candidate as the scratchpad remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Considered {
    /// The chunk.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub chunk: ChunkId,
    /// Its label.
    pub label: String,
    /// Its lexical score.
    pub score: f32,
    /// Matched query terms.
    pub matched: Vec<String>,
    /// Whether the selector picked it.
    pub picked: bool,
    /// The selector's reason, for picks.
    pub why: Option<String>,
}

/// One navigation level in the scratchpad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    /// Level, 0-based.
    pub level: u32,
    /// The selector's name.
    pub selector: String,
    /// Candidates that existed before the pre-filter.
    pub available: usize,
    /// Candidates dropped by the lexical pre-filter (ranked below the N offered).
    pub pruned: usize,
    /// What was offered, and what was picked.
    pub considered: Vec<Considered>,
    /// The selector's reasoning, if it gave any.
    pub note: Option<String>,
}

/// Every decision of one navigation, for explanation (the seed's 思考板).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scratchpad {
    /// Analysed query terms.
    pub terms: Vec<String>,
    /// Clause or section numbers the question names.
    pub clauses: Vec<String>,
    /// Levels, in order.
    pub steps: Vec<Step>,
    /// Free-form notes (budgets hit, abstention reasons).
    pub notes: Vec<String>,
}

/// A paragraph that navigation returned as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Passage {
    /// The paragraph's stable ID.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Its display ID, as text (`pharm:7.1.2`).
    pub display: String,
    /// The document's title.
    pub doc_title: String,
    /// The enclosing section's title, if any.
    pub section: Option<String>,
    /// Pages, for paged formats.
    pub pages: Option<PageRange>,
    /// Relevance score.
    pub score: f32,
    /// Query terms found.
    pub matched: Vec<String>,
}

/// Events pushed while answering, so one pipeline can drive a terminal printer, a server
/// stream and an evaluation recorder alike.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A level was decided.
    Step(&'a Step),
    /// The evidence paragraphs were chosen.
    Passages(&'a [Passage]),
    /// The verified answer is ready.
    Answer(&'a Answer<Cited>),
}

/// Receives [`Event`]s. One required method.
pub trait EventSink {
    /// Handles one event.
    fn event(&mut self, event: Event<'_>);
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn event(&mut self, _: Event<'_>) {}
}

impl<F: FnMut(Event<'_>)> EventSink for F {
    fn event(&mut self, event: Event<'_>) {
        self(event)
    }
}
