//! A stored original (any bytes) and a text layer (any text): locating a cited text on
//! its pages gives boxes or a clear error, never a panic, a hang or an abort.
#![no_main]

#[path = "../common/pdf_guard.rs"]
mod pdf_guard;

use std::time::Duration;

use cairn_core::PageRange;
use cairn_ingest::locate::locate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pdf_guard::let_guarded_panics_through();
    let Some((&page, rest)) = data.split_first() else { return };
    let page = u32::from(page % 4) + 1;
    let pages = PageRange { first: page, last: page + 1 };
    let _ = locate(rest, None, pages, "Clarithromycin is a strong inhibitor of CYP3A4.", None, Duration::from_secs(5));
    // The bytes as a text layer over a tiny valid PDF's page.
    let layer = String::from_utf8_lossy(rest);
    let pdf = cairn_ingest::testing::pdf(&[vec!["One line of text."]], &[], None);
    if let Ok(found) = locate(
        &pdf,
        Some(&layer),
        PageRange { first: 1, last: 1 },
        "One line of text.",
        Some("One line of text."),
        Duration::from_secs(5),
    ) {
        for p in found {
            assert!(p.boxes.iter().all(|b| b.iter().all(|v| v.is_finite())), "{p:?}");
        }
    }
});
