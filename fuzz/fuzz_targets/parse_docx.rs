//! Arbitrary bytes as a DOCX (a ZIP of WordprocessingML): a tree or a clear error, never a panic, and
//! never more memory than the archive budget.
#![no_main]

#[path = "../common/office.rs"]
mod office;

use cairn_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| office::ingest_as(Format::Docx, "f.docx", data));
