//! A deterministic generated corpus: numbered chapters, sections and paragraphs of
//! pharmacology-flavoured English, about 500 words per page.

/// A tiny deterministic PRNG (xorshift64*), so the corpus is identical on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

const COMMON: &[&str] = &[
    "the",
    "patient",
    "dose",
    "drug",
    "level",
    "plasma",
    "clearance",
    "exposure",
    "risk",
    "should",
    "be",
    "with",
    "of",
    "and",
    "is",
    "in",
    "a",
    "to",
    "for",
    "when",
    "may",
    "increase",
    "decrease",
    "monitor",
    "therapy",
    "treatment",
    "effect",
    "clinical",
    "interaction",
    "enzyme",
    "metabolism",
    "hepatic",
    "renal",
    "adverse",
    "concentration",
    "daily",
    "oral",
    "tablet",
    "week",
    "adjust",
    "reduce",
    "avoid",
    "combination",
    "response",
];
const RARE: &[&str] = &[
    "simvastatin",
    "clarithromycin",
    "warfarin",
    "fluconazole",
    "rifampicin",
    "tacrolimus",
    "cyclosporine",
    "digoxin",
    "amiodarone",
    "midazolam",
    "theophylline",
    "fluvoxamine",
    "clopidogrel",
    "omeprazole",
    "codeine",
    "paroxetine",
    "dabigatran",
    "verapamil",
    "colchicine",
    "sildenafil",
    "linezolid",
    "sertraline",
    "tamoxifen",
    "metformin",
    "cimetidine",
    "repaglinide",
    "gemfibrozil",
    "apixaban",
    "carbamazepine",
    "phenytoin",
    "CYP3A4",
    "CYP2D6",
    "CYP2C9",
    "CYP2C19",
    "CYP1A2",
    "P-glycoprotein",
    "OATP1B1",
    "rhabdomyolysis",
    "bradycardia",
    "hyperkalemia",
    "myopathy",
    "serotonin",
    "bleeding",
    "nephrotoxicity",
    "QT",
    "INR",
    "AUC",
];

/// Words per generated page.
pub const WORDS_PER_PAGE: usize = 500;

fn sentence(rng: &mut Rng, out: &mut String) -> usize {
    let n = 8 + rng.below(14);
    for i in 0..n {
        let word = if rng.below(5) == 0 {
            RARE[rng.below(RARE.len())].to_owned()
        } else if rng.below(12) == 0 {
            format!("term{}", rng.below(40_000))
        } else {
            COMMON[rng.below(COMMON.len())].to_owned()
        };
        if i == 0 {
            let mut c = word.chars();
            if let Some(first) = c.next() {
                out.extend(first.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(&word);
        }
    }
    out.push('.');
    n
}

/// A paragraph of 3–6 sentences; returns its word count.
pub fn paragraph(rng: &mut Rng, out: &mut String) -> usize {
    let mut words = 0;
    for i in 0..3 + rng.below(4) {
        if i > 0 {
            out.push(' ');
        }
        words += sentence(rng, out);
    }
    words
}

/// A Markdown document of about `pages` pages, with chapters of 5 sections.
pub fn document(title: &str, pages: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let target = pages * WORDS_PER_PAGE;
    let mut md = format!("# {title}\n\n");
    let mut words = 0;
    let mut chapter = 0;
    while words < target {
        chapter += 1;
        md.push_str(&format!("## {chapter}. Chapter {chapter} on {}\n\n", RARE[rng.below(RARE.len())]));
        for section in 1..=5 {
            md.push_str(&format!(
                "### {chapter}.{section} {} and {}\n\n",
                RARE[rng.below(RARE.len())],
                RARE[rng.below(RARE.len())]
            ));
            for _ in 0..4 + rng.below(4) {
                words += paragraph(&mut rng, &mut md);
                md.push_str("\n\n");
            }
            if words >= target {
                break;
            }
        }
    }
    md
}

/// Queries drawn from the corpus itself: 2–4 words of a random paragraph (so every query
/// has an answer), with rare words preferred.
pub fn queries(docs: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let paragraphs: Vec<&str> =
        docs.iter().flat_map(|d| d.split("\n\n").filter(|p| !p.starts_with('#') && !p.trim().is_empty())).collect();
    (0..n)
        .map(|_| {
            let p = paragraphs[rng.below(paragraphs.len())];
            let words: Vec<&str> = p.split_whitespace().map(|w| w.trim_end_matches('.')).collect();
            let rare: Vec<&str> =
                words.iter().copied().filter(|w| !COMMON.contains(&w.to_lowercase().as_str())).collect();
            let pool = if rare.len() >= 2 { rare } else { words };
            let k = 2 + rng.below(3);
            (0..k).map(|_| pool[rng.below(pool.len())]).collect::<Vec<_>>().join(" ")
        })
        .collect()
}
