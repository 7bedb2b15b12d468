//! Section numbering: headings such as `1.2.3`, `第一章`, `第十条`, `Article 5`, and the
//! clause references a question makes (`第10条`, `Art. 5`, `section 4.2`).
//!
//! Numbers are normalised so that `第十条` and `第10条` are the same article, and so are
//! `Art. 5` and `Article 5`.

use std::sync::OnceLock;

use cairn_core::{NumberStyle, SectionNumber};
use regex::Regex;

/// Parses a Chinese numeral (`十`, `二十一`, `一百零五`, `两千`) or a run of ASCII or
/// full-width digits.
pub fn parse_cn_number(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit() || ('０'..='９').contains(&c)) {
        let ascii: String = s
            .chars()
            .map(|c| if c.is_ascii_digit() { c } else { char::from(b'0' + (c as u32 - '０' as u32) as u8) })
            .collect();
        return ascii.parse().ok();
    }
    let digit = |c: char| -> Option<u32> {
        Some(match c {
            '零' | '〇' => 0,
            '一' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    };
    let (mut total, mut section, mut current) = (0u32, 0u32, None::<u32>);
    for c in s.chars() {
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            '万' => 10_000,
            _ => {
                current = Some(current.unwrap_or(0).checked_mul(10)?.checked_add(digit(c)?)?);
                continue;
            }
        };
        if unit == 10_000 {
            total = total.checked_add(section.checked_add(current.unwrap_or(0))?.checked_mul(unit)?)?;
            section = 0;
        } else {
            section = section.checked_add(current.unwrap_or(1).checked_mul(unit)?)?;
        }
        current = None;
    }
    total.checked_add(section)?.checked_add(current.unwrap_or(0))
}

/// Parses a Roman numeral (`IV`, `xii`) up to 3999.
pub fn parse_roman(s: &str) -> Option<u32> {
    let value = |c: char| match c.to_ascii_uppercase() {
        'I' => Some(1),
        'V' => Some(5),
        'X' => Some(10),
        'L' => Some(50),
        'C' => Some(100),
        'D' => Some(500),
        'M' => Some(1000),
        _ => None,
    };
    let values: Vec<i64> = s.chars().map(value).collect::<Option<_>>()?;
    let mut total = 0i64;
    for (i, v) in values.iter().enumerate() {
        // A smaller value before a larger one is subtracted (IV = 4).
        if values.get(i + 1).is_some_and(|next| next > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    u32::try_from(total).ok().filter(|n| (1..4000).contains(n))
}

fn number_or_roman(s: &str) -> Option<u32> {
    s.parse().ok().or_else(|| parse_roman(s)).or_else(|| parse_cn_number(s))
}

fn dotted_parts(s: &str) -> Option<Vec<u32>> {
    s.trim_end_matches('.').split('.').map(|p| p.parse().ok()).collect()
}

fn style_of(c: &str) -> NumberStyle {
    match c {
        "编" => NumberStyle::Part,
        "章" => NumberStyle::Chapter,
        "节" => NumberStyle::Section,
        _ => NumberStyle::Article,
    }
}

/// A heading recognised at the start of a line of plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineHeading<'a> {
    /// The heading's number.
    pub number: SectionNumber,
    /// The title after the number (may be empty).
    pub title: &'a str,
    /// Running text that follows the number on the same line (`第一条　为了……` or
    /// `9.1 The Supplier shall …`): it becomes the section's first paragraph.
    pub body: Option<&'a str>,
}

impl LineHeading<'_> {
    /// Nesting rank for plain text: smaller is outer. 编 < 章 < 节 < 条, then dotted
    /// numbers by depth.
    pub fn rank(&self) -> u8 {
        match self.number.style {
            NumberStyle::Part => 1,
            NumberStyle::Chapter => 2,
            NumberStyle::Section => 3,
            NumberStyle::Article => 4,
            NumberStyle::Dotted => 4 + self.number.parts.len().min(8) as u8,
        }
    }
}

struct Patterns {
    cn: Regex,
    article: Regex,
    chapter: Regex,
    section: Regex,
    dotted: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // constant patterns, covered by tests
    P.get_or_init(|| Patterns {
        cn: Regex::new(r"^第\s*([零〇一二两三四五六七八九十百千万0-9０-９]{1,8})\s*(编|章|节|条)[\s\u{3000}]*(.*)$")
            .unwrap(),
        article: Regex::new(r"(?i)^(?:article|art\.)\s*(\d{1,4})[a-z]?\b\s*[.:\-–—]?\s*(.*)$").unwrap(),
        chapter: Regex::new(r"(?i)^(chapter|part)\s+(\d{1,4}|[ivxlcdm]{1,8})\b\s*[.:\-–—]?\s*(.*)$").unwrap(),
        section: Regex::new(r"(?i)^(?:section|§)\s*(\d{1,3}(?:\.\d{1,3}){0,5})\.?\s*[.:\-–—]?\s*(.*)$").unwrap(),
        dotted: Regex::new(r"^(\d{1,3}(?:\.\d{1,3}){0,5})(\.?)[\s\u{3000}]+(\S.*)$").unwrap(),
    })
}

fn looks_like_title(rest: &str) -> bool {
    let rest = rest.trim();
    rest.chars().count() <= 100
        && !rest.ends_with(['.', '。', ';', '；', ':', '：', ',', '，'])
        && !rest.starts_with(|c: char| c.is_ascii_digit() || c.is_lowercase())
}

fn starts_like_clause(rest: &str) -> bool {
    rest.trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || crate::is_han(c) || c == '"' || c == '“' || c == '(')
}

/// Recognises a numbered heading at the start of a line of plain text (or PDF text).
pub fn detect_heading(line: &str) -> Option<LineHeading<'_>> {
    let line = line.trim();
    let p = patterns();
    if let Some(c) = p.cn.captures(line) {
        let n = parse_cn_number(c.get(1)?.as_str())?;
        let style = style_of(c.get(2)?.as_str());
        let rest = c.get(3).map_or("", |m| m.as_str()).trim();
        let number = SectionNumber { style, parts: vec![n] };
        return Some(if style == NumberStyle::Article {
            LineHeading { number, title: "", body: Some(rest).filter(|r| !r.is_empty()) }
        } else {
            LineHeading { number, title: rest, body: None }
        });
    }
    if let Some(c) = p.article.captures(line) {
        let n = c.get(1)?.as_str().parse().ok()?;
        let rest = c.get(2).map_or("", |m| m.as_str()).trim();
        let number = SectionNumber { style: NumberStyle::Article, parts: vec![n] };
        return Some(split_title_body(number, rest));
    }
    if let Some(c) = p.chapter.captures(line) {
        let style =
            if c.get(1)?.as_str().eq_ignore_ascii_case("part") { NumberStyle::Part } else { NumberStyle::Chapter };
        let n = number_or_roman(c.get(2)?.as_str())?;
        let rest = c.get(3).map_or("", |m| m.as_str()).trim();
        if !rest.is_empty() && !looks_like_title(rest) {
            return None;
        }
        return Some(LineHeading { number: SectionNumber { style, parts: vec![n] }, title: rest, body: None });
    }
    if let Some(c) = p.section.captures(line) {
        let parts = dotted_parts(c.get(1)?.as_str())?;
        let rest = c.get(2).map_or("", |m| m.as_str()).trim();
        return Some(split_title_body(SectionNumber { style: NumberStyle::Dotted, parts }, rest));
    }
    if let Some(c) = p.dotted.captures(line) {
        let raw = c.get(1)?.as_str();
        let trailing_dot = !c.get(2).map_or("", |m| m.as_str()).is_empty();
        let parts = dotted_parts(raw)?;
        if parts.len() == 1 && !trailing_dot {
            return None;
        }
        let rest = c.get(3).map_or("", |m| m.as_str()).trim();
        let number = SectionNumber { style: NumberStyle::Dotted, parts };
        if looks_like_title(rest) {
            return Some(LineHeading { number, title: rest, body: None });
        }
        if number.parts.len() >= 2 && starts_like_clause(rest) {
            return Some(LineHeading { number, title: "", body: Some(rest) });
        }
    }
    None
}

fn split_title_body(number: SectionNumber, rest: &str) -> LineHeading<'_> {
    if rest.is_empty() || looks_like_title(rest) {
        LineHeading { number, title: rest, body: None }
    } else {
        LineHeading { number, title: "", body: Some(rest) }
    }
}

/// Strips a leading number from a Markdown or HTML heading's text:
/// `7.12 Simvastatin` → (`Dotted [7, 12]`, `Simvastatin`); `第三章 附则` → (`Chapter [3]`,
/// `附则`).
pub fn heading_number(text: &str) -> Option<(SectionNumber, &str)> {
    let text = text.trim();
    let h = detect_heading(text)?;
    match h.body {
        Some(body) => Some((h.number, body)),
        None => Some((h.number, h.title)),
    }
}

/// Clause or section numbers that a question names, normalised.
pub fn clause_refs(question: &str) -> Vec<SectionNumber> {
    static RE: OnceLock<[Regex; 4]> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // constant patterns, covered by tests
    let [cn, article, chapter, dotted] = RE.get_or_init(|| {
        [
            Regex::new(r"第\s*([零〇一二两三四五六七八九十百千万0-9０-９]{1,8})\s*(编|章|节|条)").unwrap(),
            Regex::new(r"(?i)\b(?:article|art\.?)\s*(\d{1,4})").unwrap(),
            Regex::new(r"(?i)\b(chapter|part)\s+(\d{1,4}|[ivxlcdm]{1,8})\b").unwrap(),
            Regex::new(r"(?i)(?:\b(?:section|sec\.?|clause|paragraph|para\.?)\s*|§\s*|\b)(\d{1,3}(?:\.\d{1,3})+|\d{1,3})\b(\s*[a-z%µμ]+)?").unwrap(),
        ]
    });
    let mut refs = Vec::new();
    let mut push = |n: SectionNumber| {
        if !refs.contains(&n) {
            refs.push(n);
        }
    };
    for c in cn.captures_iter(question) {
        if let (Some(n), Some(kind)) = (c.get(1).and_then(|m| parse_cn_number(m.as_str())), c.get(2)) {
            push(SectionNumber { style: style_of(kind.as_str()), parts: vec![n] });
        }
    }
    for c in article.captures_iter(question) {
        if let Some(n) = c.get(1).and_then(|m| m.as_str().parse().ok()) {
            push(SectionNumber { style: NumberStyle::Article, parts: vec![n] });
        }
    }
    for c in chapter.captures_iter(question) {
        let style = if c[1].eq_ignore_ascii_case("part") { NumberStyle::Part } else { NumberStyle::Chapter };
        if let Some(n) = number_or_roman(&c[2]) {
            push(SectionNumber { style, parts: vec![n] });
        }
    }
    for c in dotted.captures_iter(question) {
        let whole = c.get(0).map_or("", |m| m.as_str());
        let named = whole.chars().next().is_some_and(|ch| ch.is_alphabetic() || ch == '§');
        let raw = &c[1];
        let unit_follows = c.get(2).is_some_and(|m| !m.as_str().trim().eq_ignore_ascii_case("b"));
        // A bare number counts only when dotted (4.2) and not a quantity (2.5 mg).
        let counts = named || (raw.contains('.') && !unit_follows);
        if let Some(parts) = dotted_parts(raw).filter(|parts| counts && (named || parts.len() >= 2)) {
            push(SectionNumber { style: NumberStyle::Dotted, parts });
        }
    }
    refs
}

/// Whether a reference from a question names a heading with `number`. An article
/// reference (`第十条`, `Article 10`) names only articles; a clause or section reference
/// (`clause 9.1`, `section 4.2`) names dotted headings and articles alike.
pub fn ref_matches(reference: &SectionNumber, number: &SectionNumber) -> bool {
    let compatible = match (reference.style, number.style) {
        (a, b) if a == b => true,
        (NumberStyle::Dotted, NumberStyle::Article) => true,
        _ => false,
    };
    compatible && reference.parts == number.parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(style: NumberStyle, parts: &[u32]) -> SectionNumber {
        SectionNumber { style, parts: parts.to_vec() }
    }

    #[test]
    fn chinese_numerals() {
        for (s, n) in [
            ("十", 10),
            ("十一", 11),
            ("二十", 20),
            ("二十一", 21),
            ("一百零五", 105),
            ("两千", 2000),
            ("三百四十五", 345),
            ("10", 10),
            ("１２", 12),
            ("一万零一", 10001),
            ("九", 9),
        ] {
            assert_eq!(parse_cn_number(s), Some(n), "{s}");
        }
        assert_eq!(parse_cn_number("条"), None);
        assert_eq!(parse_cn_number(""), None);
    }

    #[test]
    fn roman_numerals() {
        assert_eq!(parse_roman("IV"), Some(4));
        assert_eq!(parse_roman("xii"), Some(12));
        assert_eq!(parse_roman("MCMXC"), Some(1990));
        assert_eq!(parse_roman("ABC"), None);
    }

    #[test]
    fn chinese_statute_headings() {
        let h = detect_heading("第一章　总则").unwrap();
        assert_eq!((h.number, h.title, h.body), (sn(NumberStyle::Chapter, &[1]), "总则", None));
        let h = detect_heading("第十条　医疗机构应当建立审查制度。").unwrap();
        assert_eq!(h.number, sn(NumberStyle::Article, &[10]));
        assert_eq!(h.body, Some("医疗机构应当建立审查制度。"));
        assert_eq!(detect_heading("第10条 规定").unwrap().number, sn(NumberStyle::Article, &[10]));
        assert_eq!(detect_heading("第二节 审查").unwrap().number.style, NumberStyle::Section);
    }

    #[test]
    fn english_headings() {
        assert_eq!(
            detect_heading("Article 5 Principles relating to processing").unwrap().title,
            "Principles relating to processing"
        );
        assert_eq!(detect_heading("Art. 5").unwrap().number, sn(NumberStyle::Article, &[5]));
        assert_eq!(detect_heading("CHAPTER IV").unwrap().number, sn(NumberStyle::Chapter, &[4]));
        assert_eq!(
            detect_heading("1. DEFINITIONS AND INTERPRETATION").unwrap().title,
            "DEFINITIONS AND INTERPRETATION"
        );
        let clause = detect_heading("9.1 The Supplier shall notify the Buyer.").unwrap();
        assert_eq!(
            (clause.number.parts.clone(), clause.body),
            (vec![9, 1], Some("The Supplier shall notify the Buyer."))
        );
        assert_eq!(detect_heading("1.2.3 Scope").unwrap().number.parts, vec![1, 2, 3]);
    }

    #[test]
    fn prose_is_not_a_heading() {
        for line in [
            "3.5 mg daily is the usual dose.",
            "2024 was a year.",
            "1. Take the tablet with food.",
            "In 2024 the rules changed.",
            "12 tablets",
            "1.1 in lower case continues a sentence",
        ] {
            assert!(detect_heading(line).is_none(), "{line}");
        }
    }

    #[test]
    fn markdown_heading_numbers() {
        assert_eq!(heading_number("7.12 Simvastatin").unwrap(), (sn(NumberStyle::Dotted, &[7, 12]), "Simvastatin"));
        assert_eq!(heading_number("11. 药物代谢基础").unwrap(), (sn(NumberStyle::Dotted, &[11]), "药物代谢基础"));
        assert!(heading_number("Overview").is_none());
    }

    #[test]
    fn question_references() {
        assert_eq!(clause_refs("第十条规定了什么？"), vec![sn(NumberStyle::Article, &[10])]);
        assert_eq!(clause_refs("第10条规定了什么？"), clause_refs("第十条规定了什么？"));
        assert_eq!(clause_refs("What does Art. 5 say?"), clause_refs("What does Article 5 say?"));
        assert_eq!(clause_refs("Quote clause 9.1(b)"), vec![sn(NumberStyle::Dotted, &[9, 1])]);
        assert_eq!(
            clause_refs("see section 4.2 and chapter III"),
            vec![sn(NumberStyle::Chapter, &[3]), sn(NumberStyle::Dotted, &[4, 2])]
        );
        assert!(clause_refs("take 2.5 mg twice").is_empty());
        assert!(clause_refs("in 2024 there were 3 cases").is_empty());
        assert!(ref_matches(&sn(NumberStyle::Article, &[5]), &sn(NumberStyle::Article, &[5])));
        assert!(!ref_matches(&sn(NumberStyle::Chapter, &[5]), &sn(NumberStyle::Article, &[5])));
        assert!(!ref_matches(&sn(NumberStyle::Article, &[10]), &sn(NumberStyle::Dotted, &[10])));
        assert!(ref_matches(&sn(NumberStyle::Dotted, &[9, 1]), &sn(NumberStyle::Dotted, &[9, 1])));
    }
}
