//! Arbitrary bytes as OpenDocument text or spreadsheet (odd lengths are read as spreadsheets):
//! a tree or a clear error, never a panic.
#![no_main]

#[path = "../common/office.rs"]
mod office;

use cairn_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let format = if data.len() % 2 == 1 { Format::Ods } else { Format::Odt };
    office::ingest_as(format, "f.odt", data);
});
