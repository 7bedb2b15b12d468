//! The `BertEmbedder` API when the `local` feature is off: loading reports the missing
//! feature, so callers need no `#[cfg]`.

use std::path::Path;

use cairn_core::{EmbedRole, Embedder};

use crate::error::{EmbedError, Result};

/// A BERT sentence embedder (unavailable in this build).
#[derive(Debug)]
pub struct BertEmbedder {
    never: std::convert::Infallible,
}

impl BertEmbedder {
    /// Always fails: this build has no local inference.
    pub fn load(_dir: &Path) -> Result<BertEmbedder> {
        Err(EmbedError::FeatureDisabled)
    }
}

impl Embedder for BertEmbedder {
    fn embed(&self, _: &[&str], _: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
        match self.never {}
    }
    fn dim(&self) -> usize {
        match self.never {}
    }
    fn model(&self) -> &str {
        match self.never {}
    }
}
