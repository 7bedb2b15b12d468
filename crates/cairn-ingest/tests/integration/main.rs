//! Integration tests for cairn-ingest: one binary, one module per concern.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

mod bad_input;
mod formats;
mod locate;
mod ocr;
mod office;
mod parsers;
mod stable_ids;
