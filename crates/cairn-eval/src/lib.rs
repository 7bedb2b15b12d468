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
//! key), because Cairn ingests txt, Markdown, HTML and PDF but not DOCX, XLSX or e-mail.

pub mod beir;
pub mod dossier;
pub mod paraphrase;
pub mod qa;
pub mod retrieval;
pub mod statutes;

pub use dossier::{AbstentionPoint, Calibration, Case, CaseReport, QueryResult, calibrate, load_cases, run_case};
