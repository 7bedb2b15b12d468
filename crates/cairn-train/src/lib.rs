//! Model adaptation for Cairn: the seed's path from a general base model to a domain
//! expert. Hugging Face Llama/Qwen2 checkpoints load into a decoder written here on
//! `candle-core` with differentiable ops only ([`model`]); vocabulary extension
//! ([`vocab`]), LoRA SFT ([`lora`], [`sft`]) and the training loop ([`trainer`]) run on it;
//! [`export`] writes merged models as safetensors and GGUF for llama.cpp and Cairn's local
//! backend.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distill;
pub mod dpo;
pub mod error;
pub mod export;
mod fused;
pub mod grpo;
pub mod import;
pub mod lora;
pub mod model;
pub mod ppo;
pub mod prefs;
pub mod reward;
pub mod rng;
pub mod sft;
pub mod tiny;
pub mod trainer;
#[cfg(feature = "gguf")]
pub mod verify;
pub mod vocab;

pub use checkpoint::Checkpoint;
pub use config::{Arch, ModelConfig};
pub use error::{Result, TrainError};
pub use lora::{Lora, LoraConfig};
pub use model::Model;
pub use rng::Rng;
pub use trainer::{Loss, Objective, Schedule, SequenceObjective, StepMetrics, TrainOptions, TrainReport, train};
