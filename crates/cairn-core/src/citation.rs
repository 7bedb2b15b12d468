//! Answers, citations and forced citation checking.
//!
//! An answer is built as an [`Answer<Draft>`]. The only way to obtain an
//! [`Answer<Cited>`] (the only kind that can be serialised or rendered) is
//! [`Answer::verify`], which checks every citation against the source text: the cited ID
//! must exist, and the quote must occur in that node once both are folded
//! ([`crate::normalize::fold`]). Text inside the documents cannot influence the verdict:
//! verification is a substring test on folded text, not a model's opinion.

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::id::StableId;
use crate::normalize::quote_occurs;

/// A pointer from a claim to the text that supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Citation {
    /// The cited node (usually a paragraph).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: StableId,
    /// Verbatim text from that node.
    pub quote: String,
}

/// One statement of an answer with the citations that support it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The statement.
    pub text: String,
    /// Its support; never empty in a cited answer.
    pub citations: Vec<Citation>,
}

/// Why the engine declined to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Abstention {
    /// A short, user-facing reason.
    pub reason: String,
    /// The evidence signal that fell below the threshold, if any.
    pub signal: Option<f32>,
    /// The threshold it was compared with.
    pub threshold: Option<f32>,
}

/// Type state: the answer has not been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draft;
/// Type state: every citation was verified against the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cited;

/// An answer: claims with citations, or an abstention.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<S> {
    question: String,
    claims: Vec<Claim>,
    abstention: Option<Abstention>,
    state: PhantomData<S>,
}

/// Read access to node text, for verification. One required method.
///
/// Implemented for maps, `Arc`/`Box`/references and closures, so a test can verify against a
/// lambda.
pub trait NodeLookup {
    /// The full text of node `id`, or `None` when no such node exists.
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>>;
}

impl<S: std::hash::BuildHasher> NodeLookup for HashMap<StableId, String, S> {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        self.get(id).map(|s| Cow::Borrowed(s.as_str()))
    }
}

impl<T: NodeLookup + ?Sized> NodeLookup for &T {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        (**self).node_text(id)
    }
}

impl<T: NodeLookup + ?Sized> NodeLookup for Box<T> {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        (**self).node_text(id)
    }
}

impl<T: NodeLookup + ?Sized> NodeLookup for Arc<T> {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        (**self).node_text(id)
    }
}

/// Adapts a closure into a [`NodeLookup`].
#[derive(Debug, Clone, Copy)]
pub struct LookupFn<F>(pub F);

impl<F: Fn(&StableId) -> Option<String>> NodeLookup for LookupFn<F> {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        (self.0)(id).map(Cow::Owned)
    }
}

/// Why one citation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CitationFault {
    /// No node has the cited ID.
    UnknownId,
    /// The quote does not occur in the cited node.
    QuoteNotFound,
    /// The quote is empty after folding.
    EmptyQuote,
    /// The claim has no citation at all.
    Uncited,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitationFailure {
    /// Index of the claim.
    pub claim: usize,
    /// The offending citation, if the claim had one.
    pub citation: Option<Citation>,
    /// What was wrong.
    pub fault: CitationFault,
}

/// A draft that failed verification, returned whole so a caller can repair it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The unchanged draft.
    pub draft: Answer<Draft>,
    /// Every failed check.
    pub failures: Vec<CitationFailure>,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} citation check(s) failed", self.failures.len())?;
        for failure in &self.failures {
            let id = failure.citation.as_ref().map_or("-", |c| c.id.as_str());
            write!(f, "; claim {} cites {id}: {:?}", failure.claim, failure.fault)?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

impl Answer<Draft> {
    /// A new, empty draft for `question`.
    pub fn draft(question: impl Into<String>) -> Self {
        Answer { question: question.into(), claims: Vec::new(), abstention: None, state: PhantomData }
    }

    /// Adds a claim.
    pub fn claim(mut self, text: impl Into<String>, citations: Vec<Citation>) -> Self {
        self.claims.push(Claim { text: text.into(), citations });
        self
    }

    /// Turns the draft into an abstention; its claims are dropped.
    pub fn abstain(mut self, abstention: Abstention) -> Self {
        self.claims.clear();
        self.abstention = Some(abstention);
        self
    }

    /// Mutable access to the claims, for repair before verification.
    pub fn claims_mut(&mut self) -> &mut Vec<Claim> {
        &mut self.claims
    }

    /// Checks every citation against `nodes`. Succeeds only when every claim has at least
    /// one citation and every citation's ID exists and its quote occurs in that node.
    pub fn verify(self, nodes: &dyn NodeLookup) -> Result<Answer<Cited>, Box<Rejected>> {
        let mut failures = Vec::new();
        for (i, claim) in self.claims.iter().enumerate() {
            if claim.citations.is_empty() {
                failures.push(CitationFailure { claim: i, citation: None, fault: CitationFault::Uncited });
            }
            for citation in &claim.citations {
                if let Some(fault) = check(citation, nodes) {
                    failures.push(CitationFailure { claim: i, citation: Some(citation.clone()), fault });
                }
            }
        }
        if failures.is_empty() {
            Ok(Answer { question: self.question, claims: self.claims, abstention: self.abstention, state: PhantomData })
        } else {
            Err(Box::new(Rejected { draft: self, failures }))
        }
    }
}

fn check(citation: &Citation, nodes: &dyn NodeLookup) -> Option<CitationFault> {
    if crate::normalize::fold(&citation.quote).is_empty() {
        return Some(CitationFault::EmptyQuote);
    }
    match nodes.node_text(&citation.id) {
        None => Some(CitationFault::UnknownId),
        Some(text) if quote_occurs(&citation.quote, &text) => None,
        Some(_) => Some(CitationFault::QuoteNotFound),
    }
}

impl<S> Answer<S> {
    /// The question answered.
    pub fn question(&self) -> &str {
        &self.question
    }

    /// The claims, in order.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// The abstention, when the engine declined to answer.
    pub fn abstention(&self) -> Option<&Abstention> {
        self.abstention.as_ref()
    }

    /// Every citation of every claim, in order, without duplicates.
    pub fn citations(&self) -> Vec<&Citation> {
        let mut seen = std::collections::HashSet::new();
        self.claims.iter().flat_map(|c| &c.citations).filter(|c| seen.insert((&c.id, &c.quote))).collect()
    }
}

impl Serialize for Answer<Cited> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Answer", 3)?;
        s.serialize_field("question", &self.question)?;
        s.serialize_field("claims", &self.claims)?;
        s.serialize_field("abstention", &self.abstention)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeKind;

    fn corpus() -> (HashMap<StableId, String>, StableId) {
        let id = StableId::mint(NodeKind::Paragraph, &[b"pharm", b"1"]);
        let mut map = HashMap::new();
        map.insert(
            id.clone(),
            "Simvastatin is metabolized mainly by CYP3A4. Clarithromycin strongly inhibits CYP3A4.".to_owned(),
        );
        (map, id)
    }

    #[test]
    fn verbatim_quotes_verify() {
        let (map, id) = corpus();
        let quote = "Clarithromycin strongly  inhibits CYP3A4.".to_owned();
        let answer = Answer::draft("q")
            .claim("Clarithromycin inhibits CYP3A4.", vec![Citation { id, quote }])
            .verify(&map)
            .unwrap();
        assert_eq!(answer.claims().len(), 1);
    }

    #[test]
    fn tampered_id_is_rejected() {
        let (map, _) = corpus();
        let forged = StableId::mint(NodeKind::Paragraph, &[b"pharm", b"2"]);
        let citation = Citation { id: forged, quote: "Simvastatin is metabolized".into() };
        let err = Answer::draft("q").claim("x", vec![citation]).verify(&map).unwrap_err();
        assert_eq!(err.failures[0].fault, CitationFault::UnknownId);
    }

    #[test]
    fn tampered_quote_is_rejected() {
        let (map, id) = corpus();
        let citation = Citation { id, quote: "Clarithromycin weakly inhibits CYP3A4.".into() };
        let err = Answer::draft("q").claim("x", vec![citation]).verify(&map).unwrap_err();
        assert_eq!(err.failures[0].fault, CitationFault::QuoteNotFound);
    }

    #[test]
    fn uncited_and_empty_quotes_are_rejected() {
        let (map, id) = corpus();
        let err = Answer::draft("q")
            .claim("bare claim", vec![])
            .claim("empty", vec![Citation { id, quote: " \u{3000} ".into() }])
            .verify(&map)
            .unwrap_err();
        let faults: Vec<_> = err.failures.iter().map(|f| f.fault.clone()).collect();
        assert_eq!(faults, vec![CitationFault::Uncited, CitationFault::EmptyQuote]);
    }

    #[test]
    fn abstentions_verify_and_closures_plug_in() {
        let lookup = LookupFn(|_: &StableId| None);
        let answer = Answer::draft("q")
            .abstain(Abstention { reason: "not found".into(), signal: Some(0.1), threshold: Some(0.3) })
            .verify(&lookup)
            .unwrap();
        assert!(answer.abstention().is_some());
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["abstention"]["reason"], "not found");
    }
}
