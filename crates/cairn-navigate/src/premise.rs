//! A question's premise checked against the documents.
//!
//! "Why did Pixelforge charge £30,000 for the video?" takes a charge of £30,000 as given.
//! When no document in scope states that amount, quoting passages about Pixelforge would
//! answer a question the documents do not support, so the answer says that no document
//! states it instead. Which amounts a question asserts (not those it supposes or bounds)
//! is [`cairn_text::amounts::premise_amounts`]'s call.

use cairn_core::{Abstention, NumberStyle, SectionNumber};
use cairn_text::amounts::{Amount, premise_amounts};
use cairn_text::numbering::{clause_refs, ref_matches};

use crate::corpus::Corpus;

/// What a question takes as given that the documents in scope do not state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unstated {
    /// Amounts of money the question asserts.
    pub amounts: Vec<Amount>,
    /// Clauses, articles or chapters the question names by number, as it would write them.
    pub clauses: Vec<String>,
}

impl Unstated {
    /// Whether everything the question takes as given is stated.
    pub fn is_empty(&self) -> bool {
        self.amounts.is_empty() && self.clauses.is_empty()
    }
}

/// Checks `question`'s premises (amounts it asserts, clauses it names) against the
/// documents `docs`.
pub fn check(corpus: &Corpus, question: &str, docs: &[usize]) -> Unstated {
    Unstated { amounts: unstated(corpus, question, docs), clauses: missing_clauses(corpus, question, docs) }
}

/// The clauses, articles, chapters or parts that `question` names with a word
/// ("clause 99.9", "Article 45", "第二十四条", "Chapter 3") and that no document in scope
/// numbers as a heading and no paragraph or heading anywhere mentions: a question about a
/// clause that does not exist. A bare number ("what changed in 2.1?") is not a clause the
/// question names.
pub fn missing_clauses(corpus: &Corpus, question: &str, docs: &[usize]) -> Vec<String> {
    let lower = question.to_lowercase();
    let chinese = question.chars().any(cairn_text::is_han);
    clause_refs(question)
        .into_iter()
        .filter(|r| r.style != NumberStyle::Dotted || named_with_a_word(&lower, &r.dotted()))
        .filter(|r| {
            let headed = docs.iter().any(|&d| corpus.docs()[d].numbers.iter().any(|(_, n)| ref_matches(r, n)));
            !headed && !mentioned(corpus, r)
        })
        .map(|r| label(&r, chinese))
        .collect()
}

/// Whether the question writes `dotted` right after a clause word (`clause 9.2`,
/// `section 4`, `para 2.2`, `§ 7`).
fn named_with_a_word(lower: &str, dotted: &str) -> bool {
    ["clause", "section", "sec.", "sec", "paragraph", "para.", "para", "§"].iter().any(|w| {
        lower.match_indices(w).any(|(i, _)| {
            let rest = lower[i + w.len()..].trim_start();
            rest.strip_prefix(dotted).is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_digit()))
        })
    })
}

/// Whether any paragraph or heading of the corpus mentions the reference's number as an
/// index term (`22.4`, the canonical `第24条`, `24` for "Article 24").
fn mentioned(corpus: &Corpus, r: &SectionNumber) -> bool {
    let n = r.dotted();
    let index = corpus.index();
    match r.style {
        NumberStyle::Dotted => index.holds(&n),
        NumberStyle::Article => index.holds(&format!("第{n}条")) || index.holds(&n),
        NumberStyle::Chapter => index.holds(&format!("第{n}章")) || index.holds(&n),
        NumberStyle::Section => index.holds(&format!("第{n}节")) || index.holds(&n),
        NumberStyle::Part => index.holds(&format!("第{n}编")) || index.holds(&n),
    }
}

fn label(r: &SectionNumber, chinese: bool) -> String {
    let n = r.dotted();
    match (r.style, chinese) {
        (NumberStyle::Dotted, _) => format!("clause {n}"),
        (NumberStyle::Article, true) => format!("第{n}条"),
        (NumberStyle::Article, false) => format!("article {n}"),
        (NumberStyle::Chapter, true) => format!("第{n}章"),
        (NumberStyle::Chapter, false) => format!("chapter {n}"),
        (NumberStyle::Section, _) => format!("第{n}节"),
        (NumberStyle::Part, true) => format!("第{n}编"),
        (NumberStyle::Part, false) => format!("part {n}"),
    }
}

/// The amounts `question` asserts that no node of the documents `docs` states.
pub fn unstated(corpus: &Corpus, question: &str, docs: &[usize]) -> Vec<Amount> {
    let mut open = premise_amounts(question);
    for &d in docs {
        if open.is_empty() {
            break;
        }
        open.retain(|a| !corpus.docs()[d].states_amount(a.value));
    }
    open
}

/// The abstention for a question that takes as given what no document states.
pub fn abstention(unstated: &Unstated) -> Abstention {
    let mut missing = Vec::new();
    if !unstated.clauses.is_empty() {
        missing.push(format!("no document has a {}", unstated.clauses.join(" or a ")));
    }
    if !unstated.amounts.is_empty() {
        let amounts: Vec<&str> = unstated.amounts.iter().map(|a| a.text.as_str()).collect();
        missing.push(format!("no document states {}", amounts.join(" or ")));
    }
    Abstention {
        reason: format!(
            "not found in the knowledge base: {}, which the question takes as given",
            missing.join(", and ")
        ),
        signal: None,
        threshold: None,
    }
}
