//! Bytes to text: binary sniffing, encoding detection with a confidence, and strict
//! decoding (a malformed byte is an error, never a silent U+FFFD).
//!
//! Automatic detection covers UTF-8 (with or without BOM), UTF-16 with a BOM, and
//! GBK/GB18030. chardetng (Firefox's detector) proposes the legacy encoding; Cairn then
//! measures its own confidence in a GBK guess from the bytes: the share of double-byte
//! characters that fall in GB2312's level-1 hanzi and common punctuation rows, which hold
//! nearly all characters of real Chinese text, shrunk for small samples. A guess below
//! [`MIN_CONFIDENCE`], or any other legacy encoding, is reported as ambiguous and needs
//! `--encoding`.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{DecoderResult, Encoding, GB18030, GBK, UTF_8};

use crate::error::{IngestError, Result};

/// Confidence below which a detected legacy encoding is not trusted.
pub const MIN_CONFIDENCE: f32 = 0.8;

/// Decoded text and how it was decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The text, without a BOM.
    pub text: String,
    /// The encoding's canonical name.
    pub encoding: &'static str,
    /// Detection confidence in [0, 1]; 1 for BOMs, valid UTF-8 and forced encodings.
    pub confidence: f32,
}

/// Decodes `bytes`, detecting the encoding unless `forced` names one.
pub fn decode(bytes: &[u8], forced: Option<&str>) -> Result<Decoded> {
    if let Some(label) = forced {
        let encoding = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| IngestError::UnknownEncoding { label: label.to_owned() })?;
        let body = match Encoding::for_bom(bytes) {
            Some((bom_enc, len)) if bom_enc == encoding => &bytes[len..],
            _ => bytes,
        };
        return strict(encoding, body, 1.0);
    }
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return strict(encoding, &bytes[bom_len..], 1.0);
    }
    sniff_binary(bytes)?;
    if std::str::from_utf8(bytes).is_ok() {
        return strict(UTF_8, bytes, 1.0);
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let guess = detector.guess(None, Utf8Detection::Deny);
    if guess == GBK || guess == GB18030 {
        let confidence = gbk_confidence(bytes);
        if confidence >= MIN_CONFIDENCE {
            // GB18030 is a superset of GBK, so decode with it.
            return strict(GB18030, bytes, confidence);
        }
        return Err(IngestError::AmbiguousEncoding { guess: GBK.name().to_owned(), confidence });
    }
    if UTF_8.decode_without_bom_handling_and_without_replacement(bytes).is_none() && looks_like_broken_utf8(bytes) {
        let offset = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
        return Err(IngestError::Undecodable { encoding: "UTF-8".into(), offset });
    }
    Err(IngestError::AmbiguousEncoding { guess: guess.name().to_owned(), confidence: 0.0 })
}

fn strict(encoding: &'static Encoding, bytes: &[u8], confidence: f32) -> Result<Decoded> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len() * 3);
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(Decoded { text, encoding: encoding.name(), confidence }),
        DecoderResult::Malformed(..) | DecoderResult::OutputFull => {
            Err(IngestError::Undecodable { encoding: encoding.name().to_owned(), offset: read })
        }
    }
}

/// Rejects bytes that are clearly not text.
fn sniff_binary(bytes: &[u8]) -> Result<()> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"GIF8", "GIF image"),
        (b"PK\x03\x04", "ZIP archive (DOCX/XLSX are ZIP files)"),
        (b"\x7FELF", "ELF executable"),
        (b"\x1F\x8B", "gzip data"),
        (b"RIFF", "RIFF media"),
        (b"SQLite format 3\0", "SQLite database"),
    ];
    for (magic, name) in MAGIC {
        if bytes.starts_with(magic) {
            return Err(IngestError::Binary { reason: (*name).to_owned() });
        }
    }
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err(IngestError::Binary { reason: "contains NUL bytes".into() });
    }
    let controls = head.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)).count();
    if !head.is_empty() && controls * 20 > head.len() {
        return Err(IngestError::Binary {
            reason: format!("{controls} control bytes in the first {} bytes", head.len()),
        });
    }
    Ok(())
}

/// Mostly-ASCII input with a few stray high bytes in UTF-8 lead/continuation patterns is
/// corrupt UTF-8 rather than a legacy encoding.
fn looks_like_broken_utf8(bytes: &[u8]) -> bool {
    let mut valid_multibyte = 0usize;
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid_multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid_multibyte += std::str::from_utf8(good).map_or(0, |s| s.chars().filter(|c| !c.is_ascii()).count());
                let skip = e.error_len().unwrap_or(after.len()).max(1);
                rest = &after[skip.min(after.len())..];
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    valid_multibyte > 0
}

/// Cairn's confidence that `bytes` are GBK-encoded Chinese text.
pub fn gbk_confidence(bytes: &[u8]) -> f32 {
    let (mut common, mut total) = (0u32, 0u32);
    let mut i = 0;
    while i < bytes.len() {
        let lead = bytes[i];
        if lead < 0x80 {
            i += 1;
            continue;
        }
        let Some(&trail) = bytes.get(i + 1) else {
            break;
        };
        if (0x30..=0x39).contains(&trail) {
            // A GB18030 four-byte sequence: legal, but rare in real text.
            total += 1;
            i += 4;
            continue;
        }
        total += 1;
        let level1 = (0xB0..=0xD7).contains(&lead) && trail >= 0xA1;
        let punctuation = (0xA1..=0xA3).contains(&lead) && trail >= 0xA1;
        if level1 || punctuation {
            common += 1;
        }
        i += 2;
    }
    common as f32 / (total as f32 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZH: &str = "第十条　医疗机构应当建立药物相互作用审查制度，明确审查人员的职责。";

    #[test]
    fn utf8_and_boms() {
        assert_eq!(decode(ZH.as_bytes(), None).unwrap().encoding, "UTF-8");
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(b"hello");
        assert_eq!(decode(&bom, None).unwrap().text, "hello");
        let (utf16, _, _) = encoding_rs::UTF_16LE.encode("hi");
        let mut le = vec![0xFF, 0xFE];
        le.extend(b"h\0i\0");
        assert_eq!(decode(&le, None).unwrap().text, "hi");
        assert!(utf16.len() >= 2);
    }

    #[test]
    fn gbk_is_detected_with_confidence() {
        let (bytes, _, _) = GBK.encode(ZH);
        let decoded = decode(&bytes, None).unwrap();
        assert_eq!(decoded.text, ZH);
        assert_eq!(decoded.encoding, "gb18030");
        assert!(decoded.confidence >= MIN_CONFIDENCE, "{}", decoded.confidence);
    }

    #[test]
    fn short_gbk_is_ambiguous_unless_forced() {
        // (Some short GBK byte strings are also valid UTF-8, and are read as such; these
        // are not.)
        let (bytes, _, _) = GBK.encode("审查");
        assert!(std::str::from_utf8(&bytes).is_err());
        assert!(matches!(decode(&bytes, None), Err(IngestError::AmbiguousEncoding { .. })));
        assert_eq!(decode(&bytes, Some("gbk")).unwrap().text, "审查");
    }

    #[test]
    fn latin1_needs_an_explicit_encoding() {
        let bytes = b"caf\xe9 cr\xe8me br\xfbl\xe9e";
        assert!(matches!(decode(bytes, None), Err(IngestError::AmbiguousEncoding { .. })));
        assert_eq!(decode(bytes, Some("latin1")).unwrap().text, "café crème brûlée");
    }

    #[test]
    fn binary_and_broken_bytes_are_errors() {
        assert!(matches!(decode(b"\x89PNG\r\n\x1a\n....", None), Err(IngestError::Binary { .. })));
        assert!(matches!(decode(b"abc\0def", None), Err(IngestError::Binary { .. })));
        let mut broken = "valid ünïcode then ".as_bytes().to_vec();
        broken.extend_from_slice(&[0xC3, 0x28, b' ', b'x']);
        assert!(matches!(decode(&broken, None), Err(IngestError::Undecodable { .. })));
        assert!(matches!(decode(b"\xff\xfe\xfd", Some("utf-8")), Err(IngestError::Undecodable { .. })));
        assert!(matches!(decode(b"x", Some("klingon")), Err(IngestError::UnknownEncoding { .. })));
    }
}
