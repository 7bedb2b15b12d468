//! Writing GGUF files (version 3): metadata, and tensors in F32, Q8_0 or Q4_0. Used to
//! export trained models for llama.cpp and Cairn's local backend, and by tests that need a
//! real GGUF they made themselves. Pure Rust, no llama.cpp needed.
//!
//! Layout: magic `GGUF`, version, tensor count, metadata count; the metadata; one info
//! record per tensor (name, dims innermost first, type, offset); padding to the alignment;
//! the tensor data, each tensor aligned.

use std::io::Write;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// A string.
    Str(String),
    /// An array of strings.
    Strs(Vec<String>),
    /// An array of `f32`.
    F32s(Vec<f32>),
    /// An array of `i32`.
    I32s(Vec<i32>),
}

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    /// 32-bit floats.
    F32,
    /// 8-bit blocks of 32 with an f16 scale (34 bytes per block).
    Q8_0,
    /// 4-bit blocks of 32 with an f16 scale (18 bytes per block).
    Q4_0,
}

impl Quant {
    fn ggml_type(self) -> u32 {
        match self {
            Quant::F32 => 0,
            Quant::Q4_0 => 2,
            Quant::Q8_0 => 8,
        }
    }
}

/// A tensor to write: `dims` innermost first (a PyTorch `[out, in]` weight is `[in, out]`).
#[derive(Debug, Clone)]
pub struct Tensor {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions, innermost first.
    pub dims: Vec<u64>,
    /// Values in row-major order (innermost dimension contiguous).
    pub data: Vec<f32>,
    /// Storage type; quantised types need the innermost dimension to be a multiple of 32.
    pub quant: Quant,
}

/// IEEE 754 half precision from `f32`, rounding to nearest even.
pub fn f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = (mant | 0x80_0000) >> (1 - e);
        let half = m >> 13;
        let rem = m & 0x1fff;
        let round = u32::from(rem > 0x1000 || (rem == 0x1000 && half & 1 == 1));
        return sign | (half + round) as u16;
    }
    let half = ((e as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round = u32::from(rem > 0x1000 || (rem == 0x1000 && half & 1 == 1));
    sign | (half + round) as u16
}

/// `f32` from IEEE 754 half-precision bits.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    if exp == 0 {
        // Zero or subnormal: mant × 2^-24.
        let v = mant as f32 * (-24f32).exp2();
        return if sign != 0 { -v } else { v };
    }
    let bits =
        if exp == 0x1f { sign | 0x7f80_0000 | (mant << 13) } else { sign | ((exp + 127 - 15) << 23) | (mant << 13) };
    f32::from_bits(bits)
}

/// Q8_0 blocks of `values` (length a multiple of 32).
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16_bits(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * id).round().clamp(-127.0, 127.0) as i8 as u8));
    }
    out
}

/// Q4_0 blocks of `values` (length a multiple of 32), as ggml's reference quantiser.
pub fn quantize_q4_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 18);
    for block in values.chunks(32) {
        let max = block.iter().copied().fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16_bits(d).to_le_bytes());
        let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
        for j in 0..16 {
            out.push(q(block[j]) | (q(block[j + 16]) << 4));
        }
    }
    out
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn write_meta(out: &mut Vec<u8>, key: &str, value: &Meta) {
    write_str(out, key);
    match value {
        Meta::U32(v) => {
            out.extend(4u32.to_le_bytes());
            out.extend(v.to_le_bytes());
        }
        Meta::I32(v) => {
            out.extend(5u32.to_le_bytes());
            out.extend(v.to_le_bytes());
        }
        Meta::F32(v) => {
            out.extend(6u32.to_le_bytes());
            out.extend(v.to_le_bytes());
        }
        Meta::Bool(v) => {
            out.extend(7u32.to_le_bytes());
            out.push(u8::from(*v));
        }
        Meta::Str(s) => {
            out.extend(8u32.to_le_bytes());
            write_str(out, s);
        }
        Meta::Strs(items) => {
            out.extend(9u32.to_le_bytes());
            out.extend(8u32.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for s in items {
                write_str(out, s);
            }
        }
        Meta::F32s(items) => {
            out.extend(9u32.to_le_bytes());
            out.extend(6u32.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        Meta::I32s(items) => {
            out.extend(9u32.to_le_bytes());
            out.extend(5u32.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
    }
}

const ALIGN: usize = 32;

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(ALIGN) {
        out.push(0);
    }
}

/// Serialises a GGUF file.
pub fn write(metadata: &[(String, Meta)], tensors: &[Tensor], out: &mut dyn Write) -> std::io::Result<()> {
    let mut head = Vec::new();
    head.extend(b"GGUF");
    head.extend(3u32.to_le_bytes());
    head.extend((tensors.len() as u64).to_le_bytes());
    head.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        write_meta(&mut head, k, v);
    }
    let mut blobs = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for t in tensors {
        let n: u64 = t.dims.iter().product();
        if n as usize != t.data.len() {
            return Err(std::io::Error::other(format!("{}: {} values for dims {:?}", t.name, t.data.len(), t.dims)));
        }
        if t.quant != Quant::F32 && t.dims.first().is_none_or(|d| d % 32 != 0) {
            return Err(std::io::Error::other(format!("{}: quantised rows need a multiple of 32 values", t.name)));
        }
        let bytes = match t.quant {
            Quant::F32 => t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Quant::Q8_0 => quantize_q8_0(&t.data),
            Quant::Q4_0 => quantize_q4_0(&t.data),
        };
        write_str(&mut head, &t.name);
        head.extend((t.dims.len() as u32).to_le_bytes());
        t.dims.iter().for_each(|d| head.extend(d.to_le_bytes()));
        head.extend(t.quant.ggml_type().to_le_bytes());
        head.extend((offset as u64).to_le_bytes());
        offset += bytes.len().div_ceil(ALIGN) * ALIGN;
        blobs.push(bytes);
    }
    pad(&mut head);
    out.write_all(&head)?;
    for mut b in blobs {
        pad(&mut b);
        out.write_all(&b)?;
    }
    Ok(())
}

/// A tiny random Llama model with a byte-level SentencePiece vocabulary, for tests:
/// `n_embd` 64, 2 layers, 4 heads, context 256. Deterministic for a seed.
pub fn tiny_llama(seed: u64, quant: Quant) -> (Vec<(String, Meta)>, Vec<Tensor>) {
    let (n_embd, n_ff, n_layer, n_head) = (64u64, 128u64, 2u64, 4u64);
    let mut tokens = vec!["<unk>".to_owned(), "<s>".to_owned(), "</s>".to_owned()];
    let mut types = vec![2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for w in ["▁the", "▁a", "▁drug", "▁is", "▁enzyme", "▁CYP3A4", "▁Yes", "▁No", "▁and", "▁of", "▁to", "▁in"]
    {
        tokens.push(w.to_owned());
        types.push(1);
    }
    let n_vocab = tokens.len() as u64;
    let scores: Vec<f32> =
        (0..tokens.len()).map(|i| if types[i] == 1 { -(i as f32) / 100.0 } else { -1000.0 }).collect();
    let metadata = vec![
        ("general.architecture".to_owned(), Meta::Str("llama".into())),
        ("general.name".to_owned(), Meta::Str("cairn-tiny-llama".into())),
        ("llama.context_length".to_owned(), Meta::U32(256)),
        ("llama.embedding_length".to_owned(), Meta::U32(n_embd as u32)),
        ("llama.block_count".to_owned(), Meta::U32(n_layer as u32)),
        ("llama.feed_forward_length".to_owned(), Meta::U32(n_ff as u32)),
        ("llama.attention.head_count".to_owned(), Meta::U32(n_head as u32)),
        ("llama.attention.head_count_kv".to_owned(), Meta::U32(n_head as u32)),
        ("llama.rope.dimension_count".to_owned(), Meta::U32((n_embd / n_head) as u32)),
        ("llama.attention.layer_norm_rms_epsilon".to_owned(), Meta::F32(1e-5)),
        ("llama.vocab_size".to_owned(), Meta::U32(n_vocab as u32)),
        ("tokenizer.ggml.model".to_owned(), Meta::Str("llama".into())),
        ("tokenizer.ggml.tokens".to_owned(), Meta::Strs(tokens)),
        ("tokenizer.ggml.scores".to_owned(), Meta::F32s(scores)),
        ("tokenizer.ggml.token_type".to_owned(), Meta::I32s(types)),
        ("tokenizer.ggml.unknown_token_id".to_owned(), Meta::U32(0)),
        ("tokenizer.ggml.bos_token_id".to_owned(), Meta::U32(1)),
        ("tokenizer.ggml.eos_token_id".to_owned(), Meta::U32(2)),
        ("tokenizer.ggml.add_bos_token".to_owned(), Meta::Bool(true)),
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = |n: u64, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    };
    let mut tensors = Vec::new();
    let mut add =
        |name: String, dims: Vec<u64>, data: Vec<f32>, q: Quant| tensors.push(Tensor { name, dims, data, quant: q });
    add("token_embd.weight".into(), vec![n_embd, n_vocab], random(n_embd * n_vocab, 0.5), quant);
    add("output_norm.weight".into(), vec![n_embd], vec![1.0; n_embd as usize], Quant::F32);
    add("output.weight".into(), vec![n_embd, n_vocab], random(n_embd * n_vocab, 0.5), quant);
    for l in 0..n_layer {
        let b = |s: &str| format!("blk.{l}.{s}.weight");
        add(b("attn_norm"), vec![n_embd], vec![1.0; n_embd as usize], Quant::F32);
        add(b("ffn_norm"), vec![n_embd], vec![1.0; n_embd as usize], Quant::F32);
        for name in ["attn_q", "attn_k", "attn_v", "attn_output"] {
            add(b(name), vec![n_embd, n_embd], random(n_embd * n_embd, 0.2), quant);
        }
        add(b("ffn_gate"), vec![n_embd, n_ff], random(n_embd * n_ff, 0.2), quant);
        add(b("ffn_up"), vec![n_embd, n_ff], random(n_embd * n_ff, 0.2), quant);
        add(b("ffn_down"), vec![n_ff, n_embd], random(n_ff * n_embd, 0.2), quant);
    }
    (metadata, tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips() {
        for x in [0.0f32, 1.0, -2.5, 0.000_061_035_156, 65504.0, 1e-7, 1.234_5] {
            let back = f16_to_f32(f16_bits(x));
            assert!((back - x).abs() <= x.abs() * 1e-3 + 1e-7, "{x} -> {back}");
        }
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(1e6), 0x7c00);
    }

    #[test]
    fn q8_0_reconstructs_closely() {
        let v: Vec<f32> = (0..64).map(|i| (i as f32 - 31.0) / 10.0).collect();
        let q = quantize_q8_0(&v);
        assert_eq!(q.len(), 2 * 34);
        let d = f16_to_f32(u16::from_le_bytes([q[0], q[1]]));
        for (i, x) in v[..32].iter().enumerate() {
            let back = d * (q[2 + i] as i8) as f32;
            assert!((back - x).abs() <= d, "{x} vs {back}");
        }
    }

    #[test]
    fn writes_a_well_formed_header() {
        let (meta, tensors) = tiny_llama(1, Quant::F32);
        let mut bytes = Vec::new();
        write(&meta, &tensors, &mut bytes).unwrap();
        assert_eq!(&bytes[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), tensors.len() as u64);
        assert_eq!(bytes.len() % 32, 0);
        let bad = [Tensor { name: "x".into(), dims: vec![3], data: vec![0.0; 3], quant: Quant::Q8_0 }];
        assert!(write(&[], &bad, &mut Vec::new()).is_err());
    }
}
