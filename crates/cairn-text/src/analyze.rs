//! Tokenising for lexical search: one analyzer for Chinese and English in the same text.
//!
//! * Runs of Han characters go through jieba's search-mode segmentation (so `相互作用`
//!   also yields `相互` and `作用`), with its HMM for words it does not know.
//! * Other text is split into words of letters and digits; a dot between digits is kept
//!   (`4.2`, `2.5`), so clause numbers and doses survive as single terms. Words are
//!   lower-cased, stop words are dropped, and alphabetic words are stemmed with Snowball
//!   (English).
//!
//! The same analyzer runs at index time and at query time, so the two always agree.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};

const EN_STOP: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "nor",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "tell",
    "say",
    "says",
    "said",
    "please",
    "according",
    "per",
];

const ZH_STOP: &[&str] = &[
    "的", "了", "是", "和", "与", "及", "或", "在", "对", "为", "由", "将", "被", "把", "等", "之", "其", "中", "上",
    "下", "也", "都", "就", "而", "并", "且", "则", "以", "于", "从", "到", "向", "吗", "呢", "吧", "啊", "呀", "什么",
    "哪些", "哪个", "哪", "怎么", "怎样", "如何", "是否", "可以", "能否", "有", "没有", "这", "那", "这些", "那些",
    "一个", "一种", "我", "你", "他", "她", "我们", "你们", "他们", "请", "问", "关于", "根据", "规定", "应当", "哪里",
    "多少", "几", "个", "会", "要", "能", "该",
];

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Whether `c` is a Han ideograph (the scripts that need word segmentation).
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}' | '\u{2A700}'..='\u{2EBEF}')
}

/// Splits text into index terms. Stateless; the segmentation dictionary loads once per
/// process on first use of Chinese text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Analyzer;

impl Analyzer {
    /// Index terms of `text`, in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |t| out.push(t));
        out
    }

    /// Calls `f` with each index term of `text`. A Chinese ordinal reference (`第十条`,
    /// `第10条`, `第三章`) becomes one canonical term with Arabic digits (`第10条`), so
    /// headings and questions match whichever numerals they use.
    pub fn for_each_term(&self, text: &str, mut f: impl FnMut(String)) {
        static ORDINAL: OnceLock<regex::Regex> = OnceLock::new();
        #[allow(clippy::unwrap_used)] // a constant pattern, covered by tests
        let re = ORDINAL.get_or_init(|| {
            regex::Regex::new(r"第\s*([零〇一二两三四五六七八九十百千万0-9０-９]{1,8})\s*(编|章|节|条|款)").unwrap()
        });
        let mut last = 0;
        for c in re.captures_iter(text) {
            let (Some(all), Some(n), Some(kind)) = (c.get(0), c.get(1), c.get(2)) else { continue };
            let Some(number) = crate::numbering::parse_cn_number(n.as_str()) else { continue };
            self.plain(&text[last..all.start()], &mut f);
            f(format!("第{number}{}", kind.as_str()));
            last = all.end();
        }
        self.plain(&text[last..], &mut f);
    }

    fn plain(&self, text: &str, f: &mut impl FnMut(String)) {
        let mut run_start = None;
        let mut run_han = false;
        for (i, c) in text.char_indices() {
            let han = is_han(c);
            match run_start {
                Some(start) if han != run_han => {
                    self.run(&text[start..i], run_han, f);
                    run_start = Some(i);
                    run_han = han;
                }
                Some(_) => {}
                None => {
                    run_start = Some(i);
                    run_han = han;
                }
            }
        }
        if let Some(start) = run_start {
            self.run(&text[start..], run_han, f);
        }
    }

    fn run(&self, run: &str, han: bool, f: &mut impl FnMut(String)) {
        if han {
            for token in jieba().cut_for_search(run, true) {
                let word = token.word;
                if !ZH_STOP.contains(&word) {
                    f(word.to_owned());
                }
            }
        } else {
            for word in latin_words(run) {
                let lower = word.to_lowercase();
                if EN_STOP.contains(&lower.as_str()) {
                    continue;
                }
                if lower.chars().all(char::is_alphabetic) && lower.chars().count() > 3 {
                    f(stemmer().stem(&lower).into_owned());
                } else {
                    f(lower);
                }
            }
        }
    }
}

/// Words of letters and digits; a `.` between two digits stays inside the word.
fn latin_words(text: &str) -> impl Iterator<Item = &str> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in bytes.iter().enumerate() {
        let inner_dot = c == '.'
            && start.is_some()
            && k > 0
            && bytes[k - 1].1.is_ascii_digit()
            && bytes.get(k + 1).is_some_and(|(_, n)| n.is_ascii_digit());
        if c.is_alphanumeric() || inner_dot {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.push(&text[s..i]);
        }
    }
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    words.into_iter()
}

/// Rough token count used for chunk sizes and budgets: one per Latin word and one per Han
/// character (close to what LLM tokenisers give for Chinese).
pub fn approx_tokens(text: &str) -> u32 {
    let mut count = 0u32;
    let mut in_word = false;
    for c in text.chars() {
        if is_han(c) {
            count += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                count += 1;
                in_word = true;
            }
        } else {
            in_word = false;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_stemmed_and_stopped() {
        let terms = Analyzer.terms("Which enzymes metabolize simvastatin? See section 4.2 and CYP3A4.");
        assert_eq!(terms, vec!["enzym", "metabol", "simvastatin", "see", "section", "4.2", "cyp3a4"]);
    }

    #[test]
    fn chinese_is_segmented() {
        let terms = Analyzer.terms("华法林与哪些药物存在相互作用");
        assert!(terms.contains(&"华法林".to_owned()), "{terms:?}");
        assert!(terms.contains(&"相互作用".to_owned()), "{terms:?}");
        assert!(terms.contains(&"作用".to_owned()), "{terms:?}");
        assert!(!terms.contains(&"与".to_owned()));
    }

    #[test]
    fn mixed_scripts_and_numbers() {
        let terms = Analyzer.terms("辛伐他汀经CYP3A4代谢，剂量2.5mg");
        assert!(terms.contains(&"cyp3a4".to_owned()), "{terms:?}");
        assert!(terms.contains(&"2.5mg".to_owned()), "{terms:?}");
    }

    #[test]
    fn chinese_ordinals_are_one_canonical_term() {
        assert!(Analyzer.terms("第十条").contains(&"第10条".to_owned()));
        assert_eq!(Analyzer.terms("第10条"), vec!["第10条"]);
        let q = Analyzer.terms("第二十四条对急诊处方有什么规定");
        assert!(q.contains(&"第24条".to_owned()), "{q:?}");
        assert!(q.contains(&"急诊".to_owned()), "{q:?}");
    }

    #[test]
    fn token_estimate() {
        assert_eq!(approx_tokens("Hello, world 4.2"), 4);
        assert_eq!(approx_tokens("第十条 用人"), 5);
    }
}
