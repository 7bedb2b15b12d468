//! The local GGUF backend without the `gguf` feature: the same API, reporting that the
//! feature is off, so callers need no `#[cfg]`.

use std::path::Path;

use cairn_core::{ChatModel, ChatRequest, ChatResponse};

use crate::error::{LlmError, Result};

/// Options for local inference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufOptions {
    /// Context length in tokens.
    pub n_ctx: u32,
    /// Compute threads per context.
    pub threads: u32,
    /// Contexts (generations that may run at once).
    pub contexts: u32,
}

impl Default for GgufOptions {
    fn default() -> Self {
        GgufOptions { n_ctx: 4096, threads: 1, contexts: 1 }
    }
}

/// A local GGUF model (unavailable in this build).
#[derive(Debug)]
pub struct GgufModel {
    name: String,
}

impl GgufModel {
    /// Always fails: this build has no local inference.
    pub fn load(path: &Path, _options: &GgufOptions) -> Result<Self> {
        let _ = GgufModel { name: path.display().to_string() };
        Err(LlmError::FeatureDisabled { feature: "gguf" })
    }
}

impl ChatModel for GgufModel {
    fn chat(&self, _request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        Err(LlmError::FeatureDisabled { feature: "gguf" }.into_core(&self.name))
    }
    fn name(&self) -> &str {
        &self.name
    }
}
