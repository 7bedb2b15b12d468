//! Where a cited text sits on a PDF's pages: the boxes a viewer highlights.
//!
//! Computed on demand from the original file, so nothing about positions is stored with
//! the tree: the page's glyphs are read with their positions (pdf-extract's text
//! rendering matrices), or, for a page that was OCRed, taken from the recognised lines
//! kept with the file (the *text layer*). Text and glyphs are compared as folded letters
//! and digits only, so the line breaks, hyphenation and spacing that extraction changed
//! do not matter. A text that runs over a page break is found in pieces: the longest
//! part of what is left that each page holds, page by page.
//!
//! Boxes are `[left, top, width, height]` in PDF points from the top-left corner of the
//! page's media box: a viewer scales them by its rendering scale.

use std::time::Duration;

use cairn_core::PageRange;
use cairn_core::normalize::fold;
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform, output_doc_page};

use crate::error::{IngestError, Result};
use crate::ocr::OcrPage;

/// Most pages one located text may span.
pub const MAX_PAGES: u32 = 8;

/// Where a text is on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageBoxes {
    /// 1-based page number.
    pub page: u32,
    /// The page's width in points (its media box).
    pub width: f32,
    /// The page's height in points.
    pub height: f32,
    /// One box per line of the text on this page: left, top, width, height in points.
    pub boxes: Vec<[f32; 4]>,
    /// How many of the text's letters and digits ([`letters`]) were found on this page.
    pub matched: usize,
}

/// The letters and digits of `text` that locating compares (after NFKC folding): the
/// [`PageBoxes::matched`] of all pages add up to this when the whole text was found.
pub fn letters(text: &str) -> usize {
    compact(text).len()
}

/// One glyph on a page: its folded letters and digits (none for punctuation), and its box.
#[derive(Debug, Clone)]
struct Glyph {
    chars: Vec<char>,
    bbox: [f32; 4],
}

/// A page's glyphs with their boxes, in content order.
#[derive(Default)]
struct PageGlyphs {
    media: [f32; 4],
    glyphs: Vec<Glyph>,
}

/// Folded, lowercased letters and digits of `text`: what locating compares.
fn compact(text: &str) -> Vec<char> {
    fold(text).chars().flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect()
}

impl OutputDev for PageGlyphs {
    fn begin_page(&mut self, _: u32, media: &MediaBox, _: Option<(f64, f64, f64, f64)>) -> Result<(), OutputError> {
        self.media = [media.llx as f32, media.lly as f32, media.urx as f32, media.ury as f32];
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), OutputError> {
        let chars = compact(text);
        if text.chars().all(char::is_whitespace) {
            return Ok(());
        }
        // The glyph's origin on the baseline, and the size its text matrix gives it.
        let scale = (trm.m11 * trm.m22 - trm.m12 * trm.m21).abs().sqrt();
        let size = (font_size * scale) as f32;
        let advance = (width * font_size * scale) as f32;
        let x = trm.m31 as f32 - self.media[0];
        let y = self.media[3] - trm.m32 as f32;
        if !(x.is_finite() && y.is_finite() && size.is_finite() && advance.is_finite()) {
            return Ok(());
        }
        let advance = if advance > 0.0 { advance } else { 0.5 * size };
        self.glyphs.push(Glyph { chars, bbox: [x, y - 0.8 * size, advance, size] });
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// The text layer line of every recognised line of `page`: `page`, left, top, width,
/// height (points) and the text, tab-separated, one line each.
pub fn layer_of(page: &OcrPage) -> String {
    let mut out = String::new();
    for line in page.lines.iter().filter(|l| !l.text.trim().is_empty()) {
        let [l, t, w, h] = line.bbox;
        let text: String = line.text.chars().map(|c| if c == '\t' || c == '\n' { ' ' } else { c }).collect();
        out.push_str(&format!("{}\t{l:.1}\t{t:.1}\t{w:.1}\t{h:.1}\t{text}\n", page.page));
    }
    out
}

/// The glyphs of `page` in a text layer, each line's characters spread evenly over its
/// box; `None` when the layer has no line on that page.
fn layer_glyphs(layer: &str, page: u32) -> Option<Vec<Glyph>> {
    let mut glyphs = Vec::new();
    let mut found = false;
    for row in layer.lines() {
        let mut f = row.splitn(6, '\t');
        let Some(Ok(p)) = f.next().map(str::parse::<u32>) else { continue };
        if p != page {
            continue;
        }
        let nums: Vec<f32> = f.by_ref().take(4).filter_map(|v| v.parse().ok()).collect();
        let (Ok([l, t, w, h]), Some(text)) = (<[f32; 4]>::try_from(nums), f.next()) else { continue };
        // A damaged layer line (not a box on a page) is skipped, not drawn.
        if !([l, t, w, h].iter().all(|v| v.is_finite() && v.abs() < 1e6) && w >= 0.0 && h >= 0.0) {
            continue;
        }
        found = true;
        let chars = compact(text);
        let step = w / chars.len().max(1) as f32;
        for (i, c) in chars.into_iter().enumerate() {
            glyphs.push(Glyph { chars: vec![c], bbox: [l + step * i as f32, t, step, h] });
        }
    }
    found.then_some(glyphs)
}

/// The boxes of the text `text` on pages `pages` of the PDF `bytes`. When `text` is part
/// of `context` (a sentence of its paragraph), the paragraph is found and the sentence
/// boxed where it sits inside it, so a short sentence that also occurs elsewhere on the
/// page is not boxed there. Pages OCRed at ingest are read from `layer` (see
/// [`layer_of`]). Parsing runs guarded, as ingest does, for at most `timeout`.
pub fn locate(
    bytes: &[u8],
    layer: Option<&str>,
    pages: PageRange,
    text: &str,
    context: Option<&str>,
    timeout: Duration,
) -> Result<Vec<PageBoxes>> {
    let needle = compact(text);
    if needle.is_empty() {
        return Ok(Vec::new());
    }
    // Where the text's letters sit in what is searched: the context's, when it holds them.
    let (target, from) = match context.map(compact) {
        Some(c) => {
            match (0..c.len().saturating_sub(needle.len() - 1)).find(|&k| c[k..k + needle.len()] == needle[..]) {
                Some(k) => (c, k),
                None => (needle.clone(), 0),
            }
        }
        None => (needle.clone(), 0),
    };
    let span = from..from + needle.len();
    // Punctuation that opens or closes the text (a quotation mark, `£`, a full stop) is
    // not compared, but belongs inside its boxes.
    let edge = |chars: &mut dyn Iterator<Item = char>| {
        chars.take_while(|c| !c.is_alphanumeric()).filter(|c| !c.is_whitespace()).count()
    };
    let (lead, trail) = (edge(&mut text.chars()), edge(&mut text.chars().rev()));
    let last = pages.last.min(pages.first.saturating_add(MAX_PAGES - 1));
    let layer = layer.map(str::to_owned);
    crate::pdf::guarded(bytes, timeout, move |bytes| {
        let doc = crate::pdf::load(bytes)?;
        let mut out = Vec::new();
        let mut done = 0usize;
        for page in pages.first..=last {
            if done >= span.end {
                break;
            }
            let mut read = PageGlyphs::default();
            output_doc_page(&doc, &mut read, page)
                .map_err(|e| IngestError::CorruptPdf { reason: format!("page {page}: {e}") })?;
            let glyphs = layer.as_deref().and_then(|l| layer_glyphs(l, page)).unwrap_or(read.glyphs);
            let matched = find_prefix(&glyphs, &target[done..]);
            if matched.is_empty() {
                continue;
            }
            // The text's part of what this page holds.
            let (lo, hi) = (span.start.max(done), span.end.min(done + matched.len()));
            done += matched.len();
            if lo >= hi {
                continue;
            }
            let mut used: Vec<usize> = matched[lo + matched.len() - done..hi + matched.len() - done].to_vec();
            used.dedup();
            let punctuation = |g: usize| glyphs.get(g).is_some_and(|g| g.chars.is_empty());
            let (first, end) = (used[0], used[used.len() - 1]);
            let before = if lo == span.start { lead } else { 0 };
            let before = (1..=before).take_while(|k| first.checked_sub(*k).is_some_and(punctuation)).count();
            let after = if hi == span.end { trail } else { 0 };
            let after = (1..=after).take_while(|k| punctuation(end + k)).count();
            let used = (first - before..first).chain(used).chain(end + 1..=end + after);
            let [llx, lly, urx, ury] = read.media;
            let boxes = line_boxes(used.map(|g| glyphs[g].bbox));
            out.push(PageBoxes { page, width: urx - llx, height: ury - lly, boxes, matched: hi - lo });
        }
        Ok(out)
    })
}

/// The longest prefix of `needle` that `glyphs` hold (its first occurrence), as the glyph
/// of each character matched; empty when less than a word's worth (4 characters, or the
/// whole needle when shorter) was found.
fn find_prefix(glyphs: &[Glyph], needle: &[char]) -> Vec<usize> {
    let hay: Vec<(char, usize)> =
        glyphs.iter().enumerate().flat_map(|(g, glyph)| glyph.chars.iter().map(move |&c| (c, g))).collect();
    let find = |len: usize| -> Option<usize> {
        let part = &needle[..len];
        (0..hay.len().saturating_sub(len - 1))
            .find(|&at| hay[at..at + len].iter().map(|h| h.0).eq(part.iter().copied()))
    };
    // A prefix that occurs means every shorter one occurs: search the longest.
    let (mut lo, mut hi, mut best) = (1usize, needle.len(), None);
    while lo <= hi {
        let mid = (lo + hi) / 2;
        match find(mid) {
            Some(at) => {
                best = Some((mid, at));
                lo = mid + 1;
            }
            None => hi = mid - 1,
        }
    }
    match best.filter(|&(len, _)| len >= needle.len().min(4)) {
        Some((len, at)) => hay[at..at + len].iter().map(|h| h.1).collect(),
        None => Vec::new(),
    }
}

/// Glyph boxes joined into one box per line: a glyph starts a new line when it sits
/// lower or higher by more than half its height, or back to the left.
fn line_boxes(glyphs: impl Iterator<Item = [f32; 4]>) -> Vec<[f32; 4]> {
    let mut out: Vec<[f32; 4]> = Vec::new();
    for [l, t, w, h] in glyphs {
        if let Some(cur) = out.last_mut() {
            let same_line = (t - cur[1]).abs() <= 0.5 * h.max(cur[3]) && l >= cur[0] + cur[2] - h;
            if same_line {
                let right = (cur[0] + cur[2]).max(l + w);
                let bottom = (cur[1] + cur[3]).max(t + h);
                cur[0] = cur[0].min(l);
                cur[1] = cur[1].min(t);
                cur[2] = right - cur[0];
                cur[3] = bottom - cur[1];
                continue;
            }
        }
        out.push([l, t, w, h]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::OcrLine;

    fn glyphs(line: &str, left: f32, top: f32) -> Vec<Glyph> {
        line.chars()
            .enumerate()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(i, c)| Glyph { chars: compact(&c.to_string()), bbox: [left + 6.0 * i as f32, top, 6.0, 11.0] })
            .collect()
    }

    /// The line boxes of what `find_prefix` matched.
    fn boxes_of(glyphs: &[Glyph], needle: &str) -> (usize, Vec<[f32; 4]>) {
        let mut used = find_prefix(glyphs, &compact(needle));
        let n = used.len();
        used.dedup();
        (n, line_boxes(used.iter().map(|&g| glyphs[g].bbox)))
    }

    #[test]
    fn prefixes_are_found_across_lines_as_one_box_per_line() {
        let mut page = glyphs("Warfarin is a vitamin K antagonist; its ef-", 50.0, 100.0);
        page.extend(glyphs("fect is checked with the INR.", 50.0, 114.0));
        let (taken, boxes) = boxes_of(&page, "Its effect is checked with the INR.");
        assert_eq!(taken, compact("Its effect is checked with the INR.").len());
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert_eq!(boxes[0][1], 100.0);
        // Up to the "R" of "INR" (punctuation is added by `locate`, not compared).
        assert_eq!(boxes[1], [50.0, 114.0, 6.0 * 28.0, 11.0]);
        // Only the start of a text that goes on to the next page.
        let (taken, _) = boxes_of(&page, "The INR. Then the next page says more.");
        assert_eq!(taken, compact("The INR.").len());
        // Nothing at all.
        assert_eq!(boxes_of(&page, "Heparin").0, 0);
    }

    #[test]
    fn ocr_layers_round_trip_and_spread_characters_over_the_line() {
        let page = OcrPage {
            page: 2,
            lines: vec![
                OcrLine { text: "Dose 5 mg".into(), bbox: [10.0, 20.0, 70.0, 12.0], confidence: 90.0 },
                OcrLine { text: String::new(), bbox: [0.0; 4], confidence: 0.0 },
            ],
        };
        let layer = layer_of(&page);
        assert_eq!(layer, "2\t10.0\t20.0\t70.0\t12.0\tDose 5 mg\n");
        assert!(layer_glyphs(&layer, 1).is_none());
        // A damaged line is skipped: no glyph with a box that is not a box.
        assert!(layer_glyphs("2\tNaN\tinf\t-1\t1e39\tx\n", 2).is_none());
        let glyphs = layer_glyphs(&layer, 2).unwrap();
        assert_eq!(glyphs.len(), 7);
        let (taken, boxes) = boxes_of(&glyphs, "5 mg");
        assert_eq!(taken, 3);
        // "Dose5mg": seven characters of 10 points each; "5mg" starts at the fifth.
        assert_eq!(boxes, vec![[50.0, 20.0, 30.0, 12.0]]);
    }
}
