//! Amounts of money: those a question takes as given, and those a text states.
//!
//! "Why did Pixelforge charge £30,000 for the video?" presupposes a charge of £30,000. An
//! amount counts as such a premise when the question writes it with a currency
//! (`£30,000`, `€45,080`, `$1.5bn`, `20 million GBP`, `30万元`) and asserts it: an amount
//! after a conditional ("what earn-out would be payable if ARR were £5,850,000?") is a
//! hypothesis, and one after a comparison ("invoices over £10,000", "1万元以上") is a filter.
//! Neither is a premise.

use std::sync::OnceLock;

use regex::Regex;

/// An amount of money a question asserts.
#[derive(Debug, Clone, PartialEq)]
pub struct Amount {
    /// As the question writes it.
    pub text: String,
    /// Its value in units of its currency.
    pub value: f64,
}

/// Words that make what follows them hypothetical.
const CONDITIONALS: &[&str] = &["if", "suppose", "supposing", "assume", "assuming", "imagine", "hypothetically"];
const CONDITIONALS_ZH: &[&str] = &["如果", "假如", "假设", "假若", "若"];
/// Words that make an amount after them a bound, not a fact.
const COMPARISONS: &[&str] = &[
    "over",
    "above",
    "exceed",
    "exceeds",
    "exceeded",
    "exceeding",
    "than",
    "under",
    "below",
    "least",
    "most",
    "to",
    "between",
    "within",
    "beyond",
    "upto",
];
const COMPARISONS_ZH: &[&str] = &["超过", "低于", "高于", "不足", "不超过", "不低于", "少于", "多于", "大于", "小于"];
const COMPARISONS_ZH_AFTER: &[&str] = &["以上", "以下", "以内", "以外"];

fn scale(word: &str) -> f64 {
    match word.to_lowercase().as_str() {
        "k" | "thousand" => 1e3,
        "m" | "mn" | "million" => 1e6,
        "bn" | "billion" => 1e9,
        "万" => 1e4,
        "亿" => 1e8,
        _ => 1.0,
    }
}

fn number(digits: &str) -> Option<f64> {
    digits.replace(',', "").parse::<f64>().ok().filter(|v| v.is_finite())
}

#[allow(clippy::unwrap_used)] // constant patterns, covered by tests
fn question_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?ix)
            (?: (?:[£$€¥]|\b(?:GBP|EUR|USD|CNY|RMB)\s?)
                (?P<n1>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
                (?:\s?(?P<s1>million|mn|billion|bn|thousand|k|m)\b)? )
            | (?: (?P<n2>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
                \s?(?:(?P<s2>million|billion|thousand)\s)?
                (?:GBP|EUR|USD|CNY|RMB|pounds|euros|dollars)\b )
            | (?: (?P<n3>\d+(?:\.\d+)?)\s?(?P<s3>万|亿)?元 )",
        )
        .unwrap()
    })
}

#[allow(clippy::unwrap_used)] // a constant pattern, covered by tests
fn text_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)(?P<cur>[£$€¥]\s?)?(?P<n>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:\s?(?P<word>million|billion|thousand|万|亿)|(?P<short>bn|mn|m|k)\b)?",
        )
        .unwrap()
    })
}

/// The amounts of money `question` asserts, in order.
pub fn premise_amounts(question: &str) -> Vec<Amount> {
    let mut out = Vec::new();
    for c in question_pattern().captures_iter(question) {
        let Some(all) = c.get(0) else { continue };
        let (n, s) = match (c.name("n1"), c.name("n2"), c.name("n3")) {
            (Some(n), _, _) => (n, c.name("s1")),
            (_, Some(n), _) => (n, c.name("s2")),
            (_, _, Some(n)) => (n, c.name("s3")),
            _ => continue,
        };
        let Some(value) = number(n.as_str()) else { continue };
        let value = value * s.map_or(1.0, |s| scale(s.as_str()));
        let before = &question[..all.start()];
        let after = &question[all.end()..];
        if hypothetical(before) || bounded(before, after) {
            continue;
        }
        out.push(Amount { text: all.as_str().trim().to_owned(), value });
    }
    out
}

/// Every amount `text` states, with and without a scale word: `£18.5 million` is 18.5 and
/// 18,500,000; `20 m` (metres, or millions without a currency) is only 20.
pub fn stated_amounts(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for c in text_pattern().captures_iter(text) {
        let Some(value) = c.name("n").and_then(|n| number(n.as_str())) else { continue };
        out.push(value);
        if let Some(word) = c.name("word") {
            out.push(value * scale(word.as_str()));
        } else if let (Some(short), Some(_)) = (c.name("short"), c.name("cur")) {
            out.push(value * scale(short.as_str()));
        }
    }
    out
}

/// Whether two amounts are the same figure.
pub fn same_amount(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.005 + 1e-9 * a.abs().max(b.abs())
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

fn hypothetical(before: &str) -> bool {
    words(before).any(|w| CONDITIONALS.contains(&w.as_str())) || CONDITIONALS_ZH.iter().any(|m| before.contains(m))
}

fn bounded(before: &str, after: &str) -> bool {
    let last: Vec<String> = words(before).collect();
    let near = &last[last.len().saturating_sub(2)..];
    near.iter().any(|w| COMPARISONS.contains(&w.as_str()))
        || COMPARISONS_ZH.iter().any(|m| before.trim_end().ends_with(m))
        || COMPARISONS_ZH_AFTER.iter().any(|m| after.trim_start().starts_with(m))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn values(q: &str) -> Vec<f64> {
        premise_amounts(q).into_iter().map(|a| a.value).collect()
    }

    #[test]
    fn currency_amounts_a_question_asserts() {
        assert_eq!(values("Why did Pixelforge charge £30,000 for the video?"), [30_000.0]);
        assert_eq!(values("Why did Castellane pay £20 million for Brightwater?"), [20_000_000.0]);
        assert_eq!(values("So how many weeks does Brisamar's €45,080 claim correspond to?"), [45_080.0]);
        assert_eq!(values("Who approved the $1.5bn facility?"), [1_500_000_000.0]);
        assert_eq!(values("Why was 20 million GBP paid?"), [20_000_000.0]);
        assert_eq!(values("为什么赔偿30万元？"), [300_000.0]);
        assert_eq!(premise_amounts("Why did they pay £30k?")[0].text, "£30k");
    }

    #[test]
    fn hypotheses_filters_and_bare_numbers_are_not_premises() {
        assert!(values("What earn-out would be payable if ARR at the test date were £5,850,000?").is_empty());
        assert!(values("Which invoices are over £10,000?").is_empty());
        assert!(values("List payments of more than €500 and less than €900.").is_empty());
        assert!(values("哪些合同金额在1万元以上？").is_empty());
        assert!(values("如果赔偿30万元，税费是多少？").is_empty());
        assert!(values("What happened on 14 March 2025 under clause 22.4?").is_empty());
    }

    #[test]
    fn amounts_a_text_states() {
        let stated = stated_amounts("Pixelforge, £21,000; price £18.5 million; Planned GBP = 25000; a 20 m span");
        for v in [21_000.0, 18.5, 18_500_000.0, 25_000.0, 20.0] {
            assert!(stated.iter().any(|s| same_amount(*s, v)), "{v} in {stated:?}");
        }
        assert!(!stated.iter().any(|s| same_amount(*s, 20_000_000.0)), "metres are not millions: {stated:?}");
        assert!(stated_amounts("合同价款为30万元").iter().any(|s| same_amount(*s, 300_000.0)));
        assert!(same_amount(0.1 + 0.2, 0.3));
        assert!(!same_amount(30_000.0, 21_000.0));
    }

    proptest! {
        /// Any text parses without a panic, and every premise is a piece of the question.
        #[test]
        fn parsing_never_panics_and_quotes_the_question(q in "\\PC{0,80}") {
            for a in premise_amounts(&q) {
                prop_assert!(q.contains(&a.text));
                prop_assert!(a.value.is_finite());
            }
            let _ = stated_amounts(&q);
        }
    }
}
