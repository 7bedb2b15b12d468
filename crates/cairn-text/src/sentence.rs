//! Sentence splitting for Chinese and English.
//!
//! Rules, in order:
//! * `。！？；` and their ASCII cousins `!?` end a sentence at once, after absorbing any
//!   closing quotes or brackets and repeated terminators (`?!`, `。”`).
//! * `.` ends a sentence only when followed by white space (or the end of text) and then
//!   something that can start a sentence (not a lower-case letter), and when the word
//!   before it is not an abbreviation (`Dr.`, `e.g.`, `Art.`), a single initial (`J.`),
//!   or a number (`3.` in `pp. 3. 5`). Decimals (`3.5`) and dotted numbers (`4.2.1`)
//!   never split because the dot is not followed by white space.
//! * Line breaks are white space, not boundaries: paragraphs arrive with their lines
//!   already joined.

use cairn_core::Span;

const CLOSERS: &[char] = &['"', '\'', ')', ']', '}', '”', '’', '）', '」', '』', '】', '》', '〉', '〕'];

const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "cf", "fig", "figs", "no", "nos", "art", "arts",
    "sec", "secs", "ch", "chap", "para", "paras", "approx", "ca", "dept", "inc", "ltd", "co", "corp", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "p", "pp", "vol", "vols", "ed", "eds", "al",
    "est", "min", "max", "resp", "incl", "govt", "mt", "ref", "refs", "eq", "tab", "op", "cit", "ibid", "viz",
    "approx", "gen", "col", "lt", "sgt", "rev",
];

/// Splits `text` into sentences, returned as character spans trimmed of white space.
/// Every non-white-space character of `text` lies in exactly one span.
pub fn split_sentences(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        let boundary = match c {
            '。' | '！' | '？' | '；' | '!' | '?' | '…' => Some(absorb(&chars, i + 1)),
            '.' if ends_english_sentence(&chars, i) => Some(absorb(&chars, i + 1)),
            _ => None,
        };
        if let Some(end) = boundary {
            push_trimmed(&chars, start, end, &mut spans);
            start = end;
            i = end;
        } else {
            i += 1;
        }
    }
    push_trimmed(&chars, start, chars.len(), &mut spans);
    spans
}

/// Index after the closers and repeated terminators that follow a terminator.
fn absorb(chars: &[char], mut i: usize) -> usize {
    while i < chars.len()
        && (CLOSERS.contains(&chars[i]) || matches!(chars[i], '。' | '！' | '？' | '!' | '?' | '.' | '…'))
    {
        i += 1;
    }
    i
}

fn ends_english_sentence(chars: &[char], dot: usize) -> bool {
    // The next non-closer character must be white space or the end.
    let after = absorb(chars, dot + 1);
    if after < chars.len() && !chars[after].is_whitespace() {
        return false;
    }
    // What follows the white space must be able to start a sentence.
    if let Some(next) = chars[after..].iter().find(|c| !c.is_whitespace())
        && next.is_lowercase()
    {
        return false;
    }
    // The word before the dot.
    let mut w = dot;
    while w > 0 && (chars[w - 1].is_alphanumeric() || chars[w - 1] == '.') {
        w -= 1;
    }
    let word: String = chars[w..dot].iter().collect::<String>().to_lowercase();
    if word.is_empty() {
        return true;
    }
    if ABBREVIATIONS.contains(&word.trim_start_matches('.')) {
        return false;
    }
    // Dotted abbreviations (e.g., i.e., u.s.) and single initials (J.).
    if word.contains('.') && word.split('.').all(|part| part.chars().count() <= 2) {
        return false;
    }
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next())
        && first.is_alphabetic()
        && chars[dot - 1].is_uppercase()
    {
        return false;
    }
    true
}

fn push_trimmed(chars: &[char], mut start: usize, mut end: usize, out: &mut Vec<Span>) {
    while start < end && chars[start].is_whitespace() {
        start += 1;
    }
    while end > start && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    if start < end {
        out.push(Span::new(start as u32, end as u32));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn split(text: &str) -> Vec<&str> {
        split_sentences(text).iter().map(|s| s.slice(text)).collect()
    }

    #[test]
    fn chinese_terminators() {
        assert_eq!(
            split("辛伐他汀主要经CYP3A4代谢。克拉霉素是强抑制剂！能否合用？不能；应停药。"),
            vec!["辛伐他汀主要经CYP3A4代谢。", "克拉霉素是强抑制剂！", "能否合用？", "不能；", "应停药。"]
        );
        assert_eq!(split("他说：“可以。”然后离开。"), vec!["他说：“可以。”", "然后离开。"]);
    }

    #[test]
    fn english_abbreviations_decimals_and_initials() {
        assert_eq!(
            split("Dr. Smith gave 2.5 mg daily, e.g. with food. J. R. Jones disagreed (see Art. 5). It works."),
            vec!["Dr. Smith gave 2.5 mg daily, e.g. with food.", "J. R. Jones disagreed (see Art. 5).", "It works."]
        );
        assert_eq!(
            split("Section 4.2.1 applies. Is it clear? Yes!"),
            vec!["Section 4.2.1 applies.", "Is it clear?", "Yes!"]
        );
        assert_eq!(split("Doses approx. five times higher. Next."), vec!["Doses approx. five times higher.", "Next."]);
    }

    #[test]
    fn mixed_language_and_quotes() {
        assert_eq!(
            split("The label says \"avoid grapefruit.\" 华法林需监测INR。Done"),
            vec!["The label says \"avoid grapefruit.\"", "华法林需监测INR。", "Done"]
        );
    }

    #[test]
    fn empty_and_blank() {
        assert!(split_sentences("").is_empty());
        assert!(split_sentences(" \n\t　").is_empty());
    }

    proptest! {
        #[test]
        fn spans_cover_every_visible_char_once(text in "[a-zA-Z0-9 .,!?。！？；“”()\n华法林]{0,120}") {
            let spans = split_sentences(&text);
            let chars: Vec<char> = text.chars().collect();
            let mut covered = vec![false; chars.len()];
            let mut last_end = 0;
            for span in &spans {
                prop_assert!(span.start >= last_end, "spans overlap or go backwards");
                prop_assert!(span.start < span.end);
                prop_assert!(!chars[span.start as usize].is_whitespace());
                prop_assert!(!chars[span.end as usize - 1].is_whitespace());
                for c in &mut covered[span.start as usize..span.end as usize] { *c = true; }
                last_end = span.end;
            }
            for (c, cov) in chars.iter().zip(&covered) {
                prop_assert!(*cov || c.is_whitespace(), "visible char {c:?} not covered");
            }
        }

        #[test]
        fn decimals_never_split(a in 0u32..1000, b in 0u32..1000, words in "[a-z ]{0,20}") {
            let text = format!("Take {a}.{b} mg {words}. Then stop.");
            let sentences = split(&text);
            let decimal = format!("{a}.{b}");
            prop_assert!(sentences.iter().any(|s| s.contains(&decimal)));
        }
    }
}
