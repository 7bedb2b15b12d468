//! The keyword index API without the `tantivy` feature: opening reports the missing
//! feature, so callers need no `#[cfg]`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::error::{IndexError, Result};

/// One paragraph to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordDoc {
    /// The paragraph's stable ID.
    pub id: String,
    /// Its document's key.
    pub doc: String,
    /// Analysed terms of the document title.
    pub title: Vec<String>,
    /// Analysed terms of the enclosing headings.
    pub headings: Vec<String>,
    /// Analysed terms of the paragraph.
    pub body: Vec<String>,
}

/// A tantivy-backed keyword index (unavailable in this build).
#[derive(Debug)]
pub struct KeywordIndex {
    never: std::convert::Infallible,
}

impl KeywordIndex {
    /// Always fails: this build has no tantivy.
    pub fn open(_dir: &Path) -> Result<KeywordIndex> {
        Err(IndexError::FeatureDisabled)
    }

    /// Unreachable.
    pub fn reflects(&self) -> &BTreeMap<String, u32> {
        match self.never {}
    }

    /// Unreachable.
    pub fn update(&mut self, _: &str, _: u32, _: &[String], _: &[KeywordDoc]) -> Result<()> {
        match self.never {}
    }

    /// Unreachable.
    pub fn remove_document(&mut self, _: &str) -> Result<()> {
        match self.never {}
    }

    /// Unreachable.
    pub fn ids_of(&self, _: &str) -> Result<HashSet<String>> {
        match self.never {}
    }

    /// Unreachable.
    pub fn search(&self, _: &[String], _: usize, _: Option<&[String]>) -> Result<Vec<(String, f32)>> {
        match self.never {}
    }

    /// Unreachable.
    pub fn len(&self) -> u64 {
        match self.never {}
    }

    /// Unreachable.
    pub fn is_empty(&self) -> bool {
        match self.never {}
    }
}
