//! # cairn-llm
//!
//! Language-model backends behind the [`cairn_core::ChatModel`] seam, as one closed enum
//! ([`Backend`]) chosen by a spec string:
//!
//! * `openai[:MODEL]`: any OpenAI-compatible server (base URL and key from the caller's
//!   configuration, e.g. `OPENAI_BASE_URL` / `OPENAI_API_KEY`);
//! * `gguf:PATH`: a local GGUF model run in process (feature `gguf`, llama.cpp);
//! * `local`: the best instruct model `scripts/fetch-models.sh` fetched into the models
//!   folder (Qwen2.5-Coder 1.5B, else 0.5B), run as `gguf:`;
//! * `replay:CASSETTE`: recorded replies, deterministic and offline;
//! * `record:CASSETTE=SPEC`: call SPEC and record every call.
//!
//! ```
//! use cairn_core::{ChatModel, ChatRequest, Message};
//! use cairn_llm::{Backend, BackendOptions};
//!
//! let e = Backend::open("carrier-pigeon", &BackendOptions::default()).unwrap_err();
//! assert!(e.to_string().contains("expected openai"));
//! let backend = Backend::open("openai:gpt-4o-mini", &BackendOptions::default()).unwrap();
//! assert_eq!(backend.name(), "openai:gpt-4o-mini");
//! let _request = ChatRequest::new(vec![Message::user("Hello")], 16);
//! ```

pub mod cassette;
pub mod error;
#[cfg(feature = "gguf")]
pub mod gguf;
#[cfg(not(feature = "gguf"))]
#[path = "gguf_stub.rs"]
pub mod gguf;
pub mod gguf_file;
pub mod grammar;
pub mod openai;

use std::path::Path;

use cairn_core::{ChatModel, ChatRequest, ChatResponse};

pub use cassette::{Recorder, Replayer};
pub use error::{LlmError, Result};
pub use gguf::{GgufModel, GgufOptions};
pub use openai::{OpenAiChat, OpenAiConfig};

/// What a spec needs besides itself.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The OpenAI-compatible endpoint (its `model` is the default for `openai`).
    pub openai: OpenAiConfig,
    /// Local GGUF options.
    pub gguf: GgufOptions,
    /// Where `scripts/fetch-models.sh` put the weights, for `local`.
    pub models_dir: std::path::PathBuf,
    /// A model registered for `local` (an adapted model exported by `cairn train export`):
    /// `local` runs it instead of the best fetched one.
    pub local_model: Option<std::path::PathBuf>,
}

/// The instruct models `local` may pick, best first (file names under the models folder).
pub const LOCAL_MODELS: &[&str] = &[
    "qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct.gguf",
    "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf",
];

/// The best local instruct model fetched into `models_dir`, if any.
pub fn local_model(models_dir: &Path) -> Option<std::path::PathBuf> {
    LOCAL_MODELS.iter().map(|m| models_dir.join(m)).find(|p| p.is_file())
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            openai: OpenAiConfig::new("https://api.openai.com/v1", "gpt-4o-mini"),
            gguf: GgufOptions::default(),
            models_dir: "models".into(),
            local_model: None,
        }
    }
}

/// The shipped backends.
#[derive(Debug)]
pub enum Backend {
    /// An OpenAI-compatible server.
    OpenAi(OpenAiChat),
    /// A local GGUF model.
    Gguf(GgufModel),
    /// Recorded replies.
    Replay(Replayer),
    /// A backend whose calls are recorded.
    Record(Recorder<Box<Backend>>),
}

impl Backend {
    /// Opens the backend a spec names.
    pub fn open(spec: &str, options: &BackendOptions) -> Result<Backend> {
        let spec = spec.trim();
        if spec == "openai" {
            return Ok(Backend::OpenAi(OpenAiChat::new(options.openai.clone())));
        }
        if let Some(model) = spec.strip_prefix("openai:") {
            let config = OpenAiConfig { model: model.to_owned(), ..options.openai.clone() };
            return Ok(Backend::OpenAi(OpenAiChat::new(config)));
        }
        if spec == "local" {
            if let Some(path) = &options.local_model {
                if !path.is_file() {
                    return Err(LlmError::Local {
                        message: format!(
                            "local_model {} is not a file (a GGUF from `cairn train export`)",
                            path.display()
                        ),
                    });
                }
                return Ok(Backend::Gguf(GgufModel::load(path, &options.gguf)?));
            }
            let path = local_model(&options.models_dir).ok_or_else(|| LlmError::Local {
                message: format!(
                    "no local instruct model in {} (run scripts/fetch-models.sh, or point models_dir at its folder)",
                    options.models_dir.display()
                ),
            })?;
            return Ok(Backend::Gguf(GgufModel::load(&path, &options.gguf)?));
        }
        if let Some(path) = spec.strip_prefix("gguf:") {
            return Ok(Backend::Gguf(GgufModel::load(Path::new(path), &options.gguf)?));
        }
        if let Some(path) = spec.strip_prefix("replay:") {
            return Ok(Backend::Replay(Replayer::open(Path::new(path))?));
        }
        if let Some(rest) = spec.strip_prefix("record:")
            && let Some((path, inner)) = rest.split_once('=')
        {
            let inner = Backend::open(inner, options)?;
            return Ok(Backend::Record(Recorder::create(Path::new(path), Box::new(inner))?));
        }
        Err(LlmError::BadSpec { spec: spec.to_owned() })
    }

    fn inner(&self) -> &dyn ChatModel {
        match self {
            Backend::OpenAi(m) => m,
            Backend::Gguf(m) => m,
            Backend::Replay(m) => m,
            Backend::Record(m) => m,
        }
    }
}

impl ChatModel for Backend {
    fn chat(&self, request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        self.inner().chat(request)
    }
    fn name(&self) -> &str {
        self.inner().name()
    }
    fn score_choices(&self, prompt: &str, choices: &[String]) -> cairn_core::Result<Vec<f32>> {
        self.inner().score_choices(prompt, choices)
    }
    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> cairn_core::Result<ChatResponse> {
        self.inner().chat_stream(request, on_text)
    }
}
