//! # cairn-text
//!
//! Language-aware text handling shared by ingestion and retrieval:
//!
//! * [`sentence`]: sentence splitting for Chinese (`。！？；`) and English (abbreviations,
//!   initials and decimals handled);
//! * [`analyze`]: one analyzer for mixed Chinese/English text (jieba segmentation,
//!   Snowball stemming), used identically at index and query time;
//! * [`numbering`]: section numbers in headings and in questions, normalised
//!   (`第十条` = `第10条`, `Art. 5` = `Article 5`).
//!
//! ```
//! use cairn_text::{split_sentences, Analyzer, numbering::clause_refs};
//!
//! let text = "Dr. Lee gave 2.5 mg. 辛伐他汀经CYP3A4代谢。";
//! let sentences: Vec<_> = split_sentences(text).iter().map(|s| s.slice(text).to_owned()).collect();
//! assert_eq!(sentences, ["Dr. Lee gave 2.5 mg.", "辛伐他汀经CYP3A4代谢。"]);
//!
//! assert!(Analyzer.terms("CYP3A4 inhibitors").contains(&"cyp3a4".to_owned()));
//! assert_eq!(clause_refs("第十条"), clause_refs("第10条"));
//! ```

pub mod amounts;
pub mod analyze;
pub mod numbering;
pub mod sentence;

pub use analyze::{Analyzer, approx_tokens, is_han};
pub use sentence::split_sentences;
