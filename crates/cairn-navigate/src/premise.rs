//! A question's premise checked against the documents.
//!
//! "Why did Pixelforge charge £30,000 for the video?" takes a charge of £30,000 as given.
//! When no document in scope states that amount, quoting passages about Pixelforge would
//! answer a question the documents do not support, so the answer says that no document
//! states it instead. Which amounts a question asserts (not those it supposes or bounds)
//! is [`cairn_text::amounts::premise_amounts`]'s call.

use cairn_core::Abstention;
use cairn_text::amounts::{Amount, premise_amounts, same_amount, stated_amounts};

use crate::corpus::Corpus;

/// The amounts `question` asserts that no node of the documents `docs` states.
pub fn unstated(corpus: &Corpus, question: &str, docs: &[usize]) -> Vec<Amount> {
    let mut open = premise_amounts(question);
    for &d in docs {
        if open.is_empty() {
            break;
        }
        let tree = &corpus.docs()[d].tree;
        for text in std::iter::once(&tree.title).chain(tree.nodes.iter().map(|n| &n.text)) {
            if !text.bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            let stated = stated_amounts(text);
            open.retain(|a| !stated.iter().any(|s| same_amount(*s, a.value)));
            if open.is_empty() {
                break;
            }
        }
    }
    open
}

/// The abstention for a question whose asserted amounts no document states.
pub fn abstention(unstated: &[Amount]) -> Abstention {
    let amounts: Vec<&str> = unstated.iter().map(|a| a.text.as_str()).collect();
    Abstention {
        reason: format!(
            "not found in the knowledge base: no document states {}, which the question takes as given",
            amounts.join(" or ")
        ),
        signal: None,
        threshold: None,
    }
}
