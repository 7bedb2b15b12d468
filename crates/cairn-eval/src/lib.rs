//! # cairn-eval
//!
//! Runs Cairn on evaluation sets nobody on the project wrote, and reports figures that can
//! be compared with peers. Today: dossier-bench 0.2.0 (`scripts/fetch-data.sh` fetches it
//! into `data/`):
//!
//! * **retrieval**: its 68 search queries with document-level labels: does an expected
//!   document appear among the sources Cairn *cites* (and among the passages it returns)?
//! * **abstention**: its QA scenarios, where the `negative` group asks about things the
//!   case does not contain: the evidence-coverage signal of each first question is recorded,
//!   so the abstention threshold can be calibrated and its precision and recall reported.
//!
//! The corpus is the set's own extracted text (`expected/text/*.txt`, one file per document
//! key), or, with [`Source::Originals`], the original DOCX, XLSX, e-mail, CSV and PDF files
//! (`docs/`) under the same keys, so the two can be compared.

pub mod beir;
pub mod dossier;
pub mod paraphrase;
pub mod qa;
pub mod retrieval;
pub mod statutes;

pub use dossier::{
    AbstentionPoint, Calibration, Case, CaseReport, QueryResult, Source, calibrate, load_cases, load_cases_from,
    run_case,
};
