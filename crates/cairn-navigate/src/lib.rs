//! # cairn-navigate
//!
//! Vectorless hierarchical navigation, the heart of Cairn's QA engine:
//!
//! * [`plan`]: chunk trees planned once per document at ingest time, along the
//!   document's own structure;
//! * [`corpus`]: the in-memory view navigation reads (trees, chunks, lexical index);
//! * [`navigator`]: the level-by-level loop with a scratchpad of every decision;
//! * [`lexical`]: the default [`cairn_core::Selector`]: BM25 with heading and clause
//!   boosts;
//! * [`answer`]: extractive answers bound to `{id, quote}` citations, or an abstention;
//! * [`premise`]: amounts a question takes as given, checked against the documents;
//! * [`llm`]: the same with a language model: a router selector, generated answers with
//!   constrained citations, and a judge.
//!
//! The answer is an [`cairn_core::Answer<cairn_core::Draft>`]; only citation checking
//! (`Answer::verify`) turns it into something that can be shown.
//!
//! ```
//! use cairn_core::{DocKey, NoEvents};
//! use cairn_ingest::{Format, IngestOptions, ingest_bytes};
//! use cairn_navigate::{Corpus, LexicalSelector, NavOptions, Navigator, answer, plan};
//! use cairn_text::Analyzer;
//!
//! let md = "# Handbook\n\n## 1. Statins\n\nSimvastatin is metabolized by CYP3A4.\n\n## 2. Anticoagulants\n\nWarfarin is metabolized by the enzyme CYP2C9.\n";
//! let doc = ingest_bytes(&DocKey::new("pharm").unwrap(), "h.md", md.as_bytes(), Format::Markdown, &IngestOptions::default(), None).unwrap();
//! let chunks = plan::plan_chunks(&doc.tree, &plan::PlanOptions::default());
//! let terms: Vec<String> = doc.tree.nodes.iter().map(|n| Analyzer.terms(&n.text).join(" ")).collect();
//! let mut corpus = Corpus::default();
//! corpus.upsert(doc.tree, chunks, &terms);
//!
//! let question = "Which enzyme metabolizes warfarin?";
//! let nav = Navigator::new(&corpus, NavOptions::default()).navigate(question, &LexicalSelector::default(), &mut NoEvents).unwrap();
//! let cited = answer::extractive(&corpus, question, &nav, &Default::default()).verify(&corpus).unwrap();
//! assert_eq!(cited.claims()[0].text, "Warfarin is metabolized by the enzyme CYP2C9.");
//! ```

pub mod answer;
pub mod corpus;
pub mod lexical;
pub mod llm;
pub mod navigator;
pub mod plan;
pub mod premise;
pub mod support;

pub use corpus::{Corpus, DocEntry};
pub use lexical::{BoostedSelector, LexicalSelector};
pub use navigator::{Found, NavOptions, Navigation, Navigator};
