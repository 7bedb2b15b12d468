//! The small part of Gherkin the openCypher TCK uses: features, one optional background,
//! scenarios and scenario outlines (expanded per example row), steps with doc strings
//! and tables.

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    pub text: String,
    pub doc: Option<String>,
    pub table: Vec<Vec<String>>,
}

/// One executable scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `features/clauses/match/Match4.feature`, relative to the TCK root.
    pub file: String,
    /// `[1] Title` (outline placeholders substituted).
    pub name: String,
    /// Example row (1-based) for outlines.
    pub row: Option<usize>,
    pub tags: Vec<String>,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// A stable identifier for allow-lists.
    pub fn id(&self) -> String {
        match self.row {
            Some(r) => format!("{} :: {} #{r}", self.file, self.name),
            None => format!("{} :: {}", self.file, self.name),
        }
    }
}

/// Gherkin cell unescaping: `\|`, `\\`, `\n`; anything else stays.
fn unescape_cell(cell: &str) -> String {
    let mut out = String::new();
    let mut chars = cell.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('|') => {
                    out.push('|');
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                Some('n') => {
                    out.push('\n');
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '|' => {
                cells.push(unescape_cell(cur.trim()));
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    cells
}

struct Template {
    name: String,
    tags: Vec<String>,
    steps: Vec<Step>,
    examples: Option<(Vec<String>, Vec<Vec<String>>)>,
}

/// Parses one feature file into executable scenarios.
pub fn parse(file: &str, text: &str) -> Vec<Scenario> {
    let lines: Vec<&str> = text.lines().collect();
    let mut background: Vec<Step> = Vec::new();
    let mut templates: Vec<Template> = Vec::new();
    let mut in_background = false;
    let mut in_examples = false;
    let mut tags: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let s = lines[i].trim();
        i += 1;
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        if s.starts_with('@') {
            tags.extend(s.split_whitespace().map(str::to_owned));
            continue;
        }
        if s.starts_with("Feature:") {
            continue;
        }
        if s.starts_with("Background:") {
            in_background = true;
            in_examples = false;
            continue;
        }
        if let Some(rest) = s.strip_prefix("Scenario Outline:").or_else(|| s.strip_prefix("Scenario:")) {
            let outline = s.starts_with("Scenario Outline:");
            templates.push(Template {
                name: rest.trim().to_owned(),
                tags: std::mem::take(&mut tags),
                steps: Vec::new(),
                examples: outline.then(|| (Vec::new(), Vec::new())),
            });
            in_background = false;
            in_examples = false;
            continue;
        }
        if s.starts_with("Examples:") {
            in_examples = true;
            tags.clear();
            continue;
        }
        if s.starts_with('|') {
            let row = split_row(s);
            if in_examples {
                if let Some(Template { examples: Some((header, rows)), .. }) = templates.last_mut() {
                    if header.is_empty() {
                        *header = row;
                    } else {
                        rows.push(row);
                    }
                }
            } else {
                let steps =
                    if in_background { &mut background } else { &mut templates.last_mut().expect("scenario").steps };
                if let Some(step) = steps.last_mut() {
                    step.table.push(row);
                }
            }
            continue;
        }
        if s.starts_with("\"\"\"") {
            let mut doc = Vec::new();
            while i < lines.len() && !lines[i].trim().starts_with("\"\"\"") {
                doc.push(lines[i]);
                i += 1;
            }
            i += 1;
            let indent =
                doc.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
            let text = doc
                .iter()
                .map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() })
                .collect::<Vec<_>>()
                .join("\n");
            let steps =
                if in_background { &mut background } else { &mut templates.last_mut().expect("scenario").steps };
            if let Some(step) = steps.last_mut() {
                step.doc = Some(text);
            }
            continue;
        }
        for kw in ["Given ", "When ", "Then ", "And ", "But "] {
            if let Some(rest) = s.strip_prefix(kw) {
                let step = Step { text: rest.trim().to_owned(), doc: None, table: Vec::new() };
                if in_background {
                    background.push(step);
                } else if let Some(t) = templates.last_mut() {
                    t.steps.push(step);
                }
                break;
            }
        }
    }
    let mut out = Vec::new();
    for t in templates {
        let steps: Vec<Step> = background.iter().cloned().chain(t.steps.iter().cloned()).collect();
        match &t.examples {
            None => out.push(Scenario {
                file: file.to_owned(),
                name: t.name.clone(),
                row: None,
                tags: t.tags.clone(),
                steps,
            }),
            Some((header, rows)) => {
                for (r, row) in rows.iter().enumerate() {
                    let sub = |s: &str| {
                        let mut s = s.to_owned();
                        for (h, v) in header.iter().zip(row) {
                            s = s.replace(&format!("<{h}>"), v);
                        }
                        s
                    };
                    let steps = steps
                        .iter()
                        .map(|st| Step {
                            text: sub(&st.text),
                            doc: st.doc.as_deref().map(sub),
                            table: st.table.iter().map(|r| r.iter().map(|c| sub(c)).collect()).collect(),
                        })
                        .collect();
                    out.push(Scenario {
                        file: file.to_owned(),
                        name: sub(&t.name),
                        row: Some(r + 1),
                        tags: t.tags.clone(),
                        steps,
                    });
                }
            }
        }
    }
    out
}
