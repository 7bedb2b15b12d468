//! What kind of query a search gets, for fusion weights per kind: its script (mostly Chinese
//! characters or not) and its form (a question or sentence, or a few keywords). A keyword
//! query ("400A power supply") is where BM25 is strongest; a question in other words than the
//! documents' is where dense retrieval helps; Chinese and English differ again. The weights
//! per kind are learnt on a development split (`cairn eval retrieval --learn-fusion`) and set
//! with `fusion_weights`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A query's script and form. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueryKind {
    /// Chinese, a question or sentence.
    ZhQuestion,
    /// Chinese, keywords.
    ZhKeywords,
    /// Not Chinese (English and other scripts), a question or sentence.
    EnQuestion,
    /// Not Chinese, keywords.
    EnKeywords,
}

impl QueryKind {
    /// Every kind.
    pub const ALL: [QueryKind; 4] =
        [QueryKind::ZhQuestion, QueryKind::ZhKeywords, QueryKind::EnQuestion, QueryKind::EnKeywords];

    /// Classifies a query.
    pub fn of(query: &str) -> QueryKind {
        let letters: Vec<char> = query.chars().filter(|c| c.is_alphanumeric()).collect();
        let han = letters.iter().filter(|c| is_han(**c)).count();
        let zh = han * 10 >= letters.len().max(1) * 3;
        let q = query.trim();
        let asks = q.ends_with('?') || q.ends_with('？');
        let question = if zh {
            const MARKERS: [&str; 14] = [
                "什么",
                "怎么",
                "如何",
                "为什么",
                "吗",
                "呢",
                "是否",
                "能否",
                "可以",
                "哪",
                "谁",
                "多少",
                "我",
                "应当",
            ];
            asks || MARKERS.iter().any(|m| q.contains(m)) || han >= 16
        } else {
            const WORDS: [&str; 16] = [
                "what", "how", "why", "when", "which", "who", "whom", "where", "can", "does", "do", "is", "are",
                "should", "may", "i",
            ];
            let words: Vec<String> = q.split_whitespace().map(|w| w.to_lowercase()).collect();
            asks || words.first().is_some_and(|w| WORDS.contains(&w.as_str())) || words.len() >= 8
        };
        match (zh, question) {
            (true, true) => QueryKind::ZhQuestion,
            (true, false) => QueryKind::ZhKeywords,
            (false, true) => QueryKind::EnQuestion,
            (false, false) => QueryKind::EnKeywords,
        }
    }

    /// The name used in `fusion_weights`.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::ZhQuestion => "zh-question",
            QueryKind::ZhKeywords => "zh-keywords",
            QueryKind::EnQuestion => "en-question",
            QueryKind::EnKeywords => "en-keywords",
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x2ffff)
}

impl fmt::Display for QueryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QueryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QueryKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| format!("unknown query kind {s:?} (zh-question, zh-keywords, en-question, en-keywords)"))
    }
}

/// Fusion weights (BM25, dense) per query kind; kinds not listed use the global weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindWeights(pub Vec<(QueryKind, f32, f32)>);

impl KindWeights {
    /// Parses `zh-question=1:0.5, en-keywords=1:0.25`.
    pub fn parse(text: &str) -> Result<KindWeights, String> {
        let mut out: Vec<(QueryKind, f32, f32)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (kind, weights) = item.split_once('=').ok_or_else(|| format!("{item:?}: expected KIND=BM25:DENSE"))?;
            let kind: QueryKind = kind.parse()?;
            let (b, d) = weights.split_once(':').ok_or_else(|| format!("{item:?}: expected KIND=BM25:DENSE"))?;
            let num = |v: &str| {
                v.trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("{item:?}: weights are numbers ≥ 0"))
            };
            let (b, d) = (num(b)?, num(d)?);
            out.retain(|(k, ..)| *k != kind);
            out.push((kind, b, d));
        }
        Ok(KindWeights(out))
    }

    /// The weights for `kind`, if set.
    pub fn get(&self, kind: QueryKind) -> Option<(f32, f32)> {
        self.0.iter().find(|(k, ..)| *k == kind).map(|(_, b, d)| (*b, *d))
    }
}

impl fmt::Display for KindWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, b, d)| format!("{k}={b}:{d}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_classified_by_script_and_form() {
        assert_eq!(QueryKind::of("400A power supply"), QueryKind::EnKeywords);
        assert_eq!(QueryKind::of("Can simvastatin be taken with clarithromycin?"), QueryKind::EnQuestion);
        assert_eq!(QueryKind::of("how do I restart nginx"), QueryKind::EnQuestion);
        assert_eq!(QueryKind::of("记名提单 转让"), QueryKind::ZhKeywords);
        assert_eq!(QueryKind::of("记名提单是否可以转让？"), QueryKind::ZhQuestion);
        assert_eq!(QueryKind::of("房东在我搬走后扣了押金"), QueryKind::ZhQuestion);
        assert_eq!(QueryKind::of("apt-get 软件包管理"), QueryKind::ZhKeywords);
        assert_eq!(QueryKind::of(""), QueryKind::EnKeywords);
    }

    #[test]
    fn weights_parse_print_and_reject_nonsense() {
        let w = KindWeights::parse("zh-question=1:0.5, en-keywords=1:0.25,zh-question=1:0.75").unwrap();
        assert_eq!(w.get(QueryKind::ZhQuestion), Some((1.0, 0.75)), "the last entry wins");
        assert_eq!(w.get(QueryKind::EnQuestion), None);
        assert_eq!(KindWeights::parse(&w.to_string()).unwrap(), w);
        assert_eq!(KindWeights::parse("").unwrap(), KindWeights::default());
        let e5 = KindWeights::parse(crate::search::E5_FUSION_WEIGHTS).unwrap();
        assert_eq!(e5.0.len(), 4, "the e5 weights cover every kind");
        for bad in ["zh=1:1", "zh-question=1", "zh-question=-1:1", "zh-question=a:1", "en-keywords=1:NaN"] {
            assert!(KindWeights::parse(bad).is_err(), "{bad}");
        }
    }
}
