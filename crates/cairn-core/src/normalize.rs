//! Text normalisation for citation checking.
//!
//! A quote matches a node when it occurs in the node's text after both are *folded*: NFKC
//! normalisation (full-width forms, ligatures and compatibility characters become their
//! plain forms) followed by whitespace folding (every run of Unicode white space becomes
//! one ASCII space, and the ends are trimmed). Nothing else is forgiven: case, punctuation
//! and word order must match.

use unicode_normalization::UnicodeNormalization;

/// Folds `text` for comparison: NFKC, then every whitespace run becomes a single space,
/// trimmed at both ends.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Whether `quote` occurs in `haystack` once both are folded. An empty quote never matches.
pub fn quote_occurs(quote: &str, haystack: &str) -> bool {
    let quote = fold(quote);
    !quote.is_empty() && fold(haystack).contains(&quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_and_space() {
        assert_eq!(fold("  ＣＹＰ３Ａ４\u{3000}inhibitors\n\tare  strong "), "CYP3A4 inhibitors are strong");
        assert_eq!(fold("第十条　用人单位"), "第十条 用人单位");
    }

    #[test]
    fn quotes_match_only_verbatim_text() {
        let node = "Simvastatin is metabolized by CYP3A4.\nIts exposure rises tenfold.";
        assert!(quote_occurs("metabolized by  CYP3A4. Its exposure", node));
        assert!(!quote_occurs("metabolised by CYP3A4", node));
        assert!(!quote_occurs("   ", node));
        assert!(!quote_occurs("simvastatin is", node));
    }
}
