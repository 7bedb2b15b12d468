//! Node identifiers: the stable ID scheme and the display ID grammar.
//!
//! Cairn gives every node two identifiers (the full format is in `docs/ID-FORMAT.md`):
//!
//! * a [`StableId`], which is what machines store (citations, caches, feedback, graph
//!   provenance). It is minted once, when a node first appears, and survives edits to any
//!   *other* node of the document. It never encodes a position.
//! * a [`DisplayId`], which is what people read: the document key plus the node's path in
//!   the document's own numbering (`reg:1.10.1` = chapter 1, article 10, paragraph 1). It is
//!   recomputed for every version and may change when the document is renumbered.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{CoreError, Result};

/// Crockford's base32 alphabet in lower case (no `i`, `l`, `o`, `u`).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Number of base32 characters after the kind prefix: 60 bits of hash.
const HASH_CHARS: usize = 12;

/// The four kinds of node in a document tree. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// The root of one document.
    Document,
    /// A heading and everything under it.
    Section,
    /// A block of running text: the unit that citations point at.
    Paragraph,
    /// One sentence of a paragraph.
    Sentence,
}

impl NodeKind {
    /// The one-letter prefix of a minted stable ID, or `None` for sentences, whose IDs are
    /// derived from their paragraph's.
    pub fn prefix(self) -> Option<char> {
        match self {
            NodeKind::Document => Some('d'),
            NodeKind::Section => Some('s'),
            NodeKind::Paragraph => Some('p'),
            NodeKind::Sentence => None,
        }
    }

    /// Stable lower-case name, as used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Document => "document",
            NodeKind::Section => "section",
            NodeKind::Paragraph => "paragraph",
            NodeKind::Sentence => "sentence",
        }
    }

    /// Inverse of [`NodeKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "document" => Some(NodeKind::Document),
            "section" => Some(NodeKind::Section),
            "paragraph" => Some(NodeKind::Paragraph),
            "sentence" => Some(NodeKind::Sentence),
            _ => None,
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identifier that citations, caches, feedback and graph provenance store.
///
/// Format: a kind letter (`d`, `s`, `p`) and 12 Crockford base32 characters, for example
/// `p7k2m9x4q1b3c`. A sentence appends `.N` (1-based) to its paragraph's ID:
/// `p7k2m9x4q1b3c.2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StableId(String);

impl StableId {
    /// Mints an ID of `kind` from hashed `material`. The caller guarantees uniqueness
    /// (see `cairn-ingest`'s ID assignment, which bumps an occurrence counter on clashes).
    ///
    /// # Panics
    /// Never for document, section and paragraph kinds; sentence IDs are derived with
    /// [`StableId::sentence`] instead, and asking to mint one returns a paragraph-style ID
    /// with an `x` prefix that no parser accepts, which a test guards against.
    pub fn mint(kind: NodeKind, material: &[&[u8]]) -> StableId {
        let mut hasher = Xxh3::new();
        for part in material {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let mut bits = hasher.digest128() as u64;
        let mut out = String::with_capacity(1 + HASH_CHARS);
        out.push(kind.prefix().unwrap_or('x'));
        for _ in 0..HASH_CHARS {
            out.push(ALPHABET[(bits & 31) as usize] as char);
            bits >>= 5;
        }
        StableId(out)
    }

    /// The ID of sentence `n` (1-based) of paragraph `para`.
    pub fn sentence(para: &StableId, n: u32) -> StableId {
        StableId(format!("{}.{}", para.0, n))
    }

    /// The node kind this ID names.
    pub fn kind(&self) -> NodeKind {
        if self.0.contains('.') {
            return NodeKind::Sentence;
        }
        match self.0.as_bytes().first() {
            Some(b'd') => NodeKind::Document,
            Some(b's') => NodeKind::Section,
            _ => NodeKind::Paragraph,
        }
    }

    /// For a sentence ID, its paragraph's ID and the 1-based sentence number.
    pub fn split_sentence(&self) -> Option<(StableId, u32)> {
        let (para, n) = self.0.split_once('.')?;
        Some((StableId(para.to_owned()), n.parse().ok()?))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` has the shape of a stable ID (used to tell the two kinds of ID apart).
    pub fn looks_like(s: &str) -> bool {
        Self::parse(s).is_ok()
    }

    fn parse(s: &str) -> Result<StableId> {
        let invalid = || CoreError::InvalidStableId { id: s.to_owned() };
        let (head, sentence) = match s.split_once('.') {
            Some((head, n)) => (head, Some(n)),
            None => (s, None),
        };
        let bytes = head.as_bytes();
        if bytes.len() != 1 + HASH_CHARS || !matches!(bytes[0], b'd' | b's' | b'p') {
            return Err(invalid());
        }
        if !bytes[1..].iter().all(|b| ALPHABET.contains(b)) {
            return Err(invalid());
        }
        if let Some(n) = sentence {
            let ok = bytes[0] == b'p'
                && !n.is_empty()
                && !n.starts_with('0')
                && n.len() <= 6
                && n.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(invalid());
            }
        }
        Ok(StableId(s.to_owned()))
    }
}

impl FromStr for StableId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        StableId::parse(s)
    }
}

impl TryFrom<String> for StableId {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self> {
        StableId::parse(&s)
    }
}

impl From<StableId> for String {
    fn from(id: StableId) -> String {
        id.0
    }
}

impl fmt::Display for StableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short, human-chosen or derived name for one document in a knowledge base, such as
/// `pharm` or `reg`. Lower-case ASCII letters, digits and `-`; 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocKey(String);

impl DocKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 32;

    /// Validates `s` as a key.
    pub fn new(s: &str) -> Result<DocKey> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok { Ok(DocKey(s.to_owned())) } else { Err(CoreError::InvalidDocKey { key: s.to_owned() }) }
    }

    /// Derives a key from a file name: its stem, lower-cased, with every run of other
    /// characters turned into `-` and cut to 24 characters at a word boundary. Names with
    /// no ASCII letters or digits (a Chinese file name, say) become `doc-` plus a short
    /// hash of the name, so they still get a deterministic key.
    pub fn from_file_stem(stem: &str) -> DocKey {
        let mut slug = String::new();
        for c in stem.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let mut key = String::new();
        for word in slug.split('-') {
            let extra = if key.is_empty() { word.len() } else { word.len() + 1 };
            if key.len() + extra > 24 {
                break;
            }
            if !key.is_empty() {
                key.push('-');
            }
            key.push_str(word);
        }
        if key.is_empty() && !slug.is_empty() {
            key = slug.chars().take(24).collect::<String>().trim_end_matches('-').to_owned();
        }
        if key.is_empty() {
            let id = StableId::mint(NodeKind::Document, &[stem.as_bytes()]);
            key = format!("doc-{}", &id.as_str()[1..7]);
        }
        DocKey(key)
    }

    /// The key with `-N` appended, to resolve a clash with another document's key.
    pub fn with_suffix(&self, n: u32) -> DocKey {
        let suffix = format!("-{n}");
        let room = Self::MAX_LEN - suffix.len();
        let base: String = self.0.chars().take(room).collect();
        DocKey(format!("{}{suffix}", base.trim_end_matches('-')))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DocKey {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self> {
        DocKey::new(&s)
    }
}

impl From<DocKey> for String {
    fn from(key: DocKey) -> String {
        key.0
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identifier people read: `KEY:PATH`, where PATH is the node's path in the
/// document's own structure (`pharm:7.1.2` = section 7, subsection 1, paragraph 2).
///
/// Each path component is the number the document itself gives the node where it has one
/// (`第十条` → `10`, `Article 5` → `5`), and the node's ordinal among its siblings
/// otherwise. A section that mixes running text with subsections keeps its leading text
/// in a preamble component `0`, so a path never names two nodes. An empty path names the
/// document itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayId {
    /// The document's key.
    pub key: DocKey,
    /// Path components, outermost first.
    pub path: Vec<String>,
}

impl DisplayId {
    /// The dotted path without the key (`7.1.2`).
    pub fn path_string(&self) -> String {
        self.path.join(".")
    }

    fn parse(s: &str) -> Result<DisplayId> {
        let invalid = || CoreError::InvalidDisplayId { id: s.to_owned() };
        let (key, path) = s.split_once(':').ok_or_else(invalid)?;
        let key = DocKey::new(key.trim()).map_err(|_| invalid())?;
        let path = path.trim().trim_end_matches('.');
        let path: Vec<String> = if path.is_empty() { Vec::new() } else { path.split('.').map(str::to_owned).collect() };
        let component_ok =
            |c: &String| !c.is_empty() && c.len() <= 16 && c.chars().all(|ch| ch.is_ascii_alphanumeric());
        if path.iter().all(component_ok) { Ok(DisplayId { key, path }) } else { Err(invalid()) }
    }
}

impl TryFrom<String> for DisplayId {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self> {
        DisplayId::parse(&s)
    }
}

impl From<DisplayId> for String {
    fn from(id: DisplayId) -> String {
        id.to_string()
    }
}

impl FromStr for DisplayId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        DisplayId::parse(s)
    }
}

impl fmt::Display for DisplayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key, self.path.join("."))
    }
}

/// What a user may type to name a node: either kind of ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// A stable ID (`p7k2m9x4q1b3c`).
    Stable(StableId),
    /// A display ID (`pharm:7.1.2`).
    Display(DisplayId),
}

impl FromStr for NodeRef {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        if s.contains(':') { Ok(NodeRef::Display(s.parse()?)) } else { Ok(NodeRef::Stable(s.parse()?)) }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn minted_ids_parse_back_with_their_kind() {
        for kind in [NodeKind::Document, NodeKind::Section, NodeKind::Paragraph] {
            let id = StableId::mint(kind, &[b"pharm", b"some text"]);
            assert_eq!(id.as_str().len(), 13);
            let back: StableId = id.as_str().parse().unwrap();
            assert_eq!(back, id);
            assert_eq!(back.kind(), kind);
        }
    }

    #[test]
    fn minting_is_deterministic_and_material_sensitive() {
        let a = StableId::mint(NodeKind::Paragraph, &[b"k", b"text"]);
        let b = StableId::mint(NodeKind::Paragraph, &[b"k", b"text"]);
        let c = StableId::mint(NodeKind::Paragraph, &[b"k", b"text!"]);
        // Length prefixes keep part boundaries apart: "kt"+"ext" differs from "k"+"text".
        let d = StableId::mint(NodeKind::Paragraph, &[b"kt", b"ext"]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn sentence_ids_derive_from_paragraphs() {
        let p = StableId::mint(NodeKind::Paragraph, &[b"x"]);
        let s = StableId::sentence(&p, 3);
        assert_eq!(s.kind(), NodeKind::Sentence);
        assert_eq!(s.split_sentence(), Some((p, 3)));
        assert!("s0000000000000.1".parse::<StableId>().is_err());
        assert!("p0000000000000.0".parse::<StableId>().is_err());
    }

    #[test]
    fn rejects_malformed_stable_ids() {
        for bad in ["", "p123", "q0000000000000", "p000000000000i", "P0000000000000", "pharm:1.2"] {
            assert!(bad.parse::<StableId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn display_ids_round_trip() {
        let id: DisplayId = "reg:1.10.2".parse().unwrap();
        assert_eq!(id.key.as_str(), "reg");
        assert_eq!(id.path, vec!["1", "10", "2"]);
        assert_eq!(id.to_string(), "reg:1.10.2");
        let doc: DisplayId = "reg:".parse().unwrap();
        assert!(doc.path.is_empty());
        assert!("reg:1..2".parse::<DisplayId>().is_err());
        assert!("Reg:1".parse::<DisplayId>().is_err());
    }

    #[test]
    fn node_refs_tell_the_kinds_apart() {
        let p = StableId::mint(NodeKind::Paragraph, &[b"x"]);
        assert_eq!(p.as_str().parse::<NodeRef>().unwrap(), NodeRef::Stable(p.clone()));
        assert!(matches!("[pharm:2.3.1]".parse::<NodeRef>().unwrap(), NodeRef::Display(_)));
    }

    #[test]
    fn keys_from_file_names() {
        assert_eq!(DocKey::from_file_stem("Pharmacology Handbook").as_str(), "pharmacology-handbook");
        assert_eq!(
            DocKey::from_file_stem("01_supply_agreement_v2_amended_final_really").as_str(),
            "01-supply-agreement-v2"
        );
        let zh = DocKey::from_file_stem("药品管理法");
        assert!(zh.as_str().starts_with("doc-"));
        assert_eq!(zh, DocKey::from_file_stem("药品管理法"));
        assert_eq!(DocKey::new("pharm").unwrap().with_suffix(2).as_str(), "pharm-2");
    }

    proptest! {
        #[test]
        fn derived_keys_are_always_valid(stem in ".{0,60}") {
            let key = DocKey::from_file_stem(&stem);
            prop_assert!(DocKey::new(key.as_str()).is_ok());
            prop_assert!(DocKey::new(key.with_suffix(12).as_str()).is_ok());
        }

        #[test]
        fn display_parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<NodeRef>();
        }
    }
}
