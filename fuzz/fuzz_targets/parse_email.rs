//! Arbitrary bytes as an e-mail or mailbox, attachments included: a tree or a clear error,
//! never a panic.
#![no_main]

#[path = "../common/office.rs"]
mod office;

use cairn_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| office::ingest_as(Format::Email, "f.eml", data));
