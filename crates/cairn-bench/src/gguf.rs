//! `cairn bench gguf`: Cairn's local GGUF backend against llama.cpp through
//! llama-cpp-python (`bench/llama_cpp_peer.py`) on the same file, prompt and token count,
//! one thread each: prefill and generation tokens per second, and whether the greedy
//! tokens agree.

use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_core::ChatRequest;
use serde::{Deserialize, Serialize};

/// One engine's speed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Speed {
    /// Engine.
    #[serde(default)]
    pub engine: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Seconds to evaluate them.
    pub prefill_seconds: f64,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds to generate them.
    pub generation_seconds: f64,
}

impl Speed {
    /// Prefill tokens per second.
    pub fn prefill_tps(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_seconds.max(1e-9)
    }

    /// Generation tokens per second.
    pub fn generation_tps(&self) -> f64 {
        self.generated_tokens as f64 / self.generation_seconds.max(1e-9)
    }
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct GgufReport {
    /// Model file.
    pub model: PathBuf,
    /// Best of the runs, Cairn.
    pub cairn: Speed,
    /// Best of the runs, llama.cpp.
    pub peer: Option<Speed>,
    /// Why the peer did not run.
    pub peer_note: Option<String>,
}

/// Runs `runs` timed generations of `tokens` tokens after `prompt` on each engine (the
/// best run counts, after one warm-up).
pub fn run(model: &Path, prompt: &str, tokens: u32, runs: usize, peer: bool) -> Result<GgufReport, String> {
    let m = cairn_llm::GgufModel::load(model, &cairn_llm::GgufOptions { n_ctx: 4096, threads: 1, contexts: 1 })
        .map_err(|e| e.to_string())?;
    let request = ChatRequest::new(Vec::new(), tokens);
    let mut best: Option<Speed> = None;
    for i in 0..=runs {
        m.forget_prefix();
        let (_, t) = m.generate(prompt, &request, false, &mut |_| {}).map_err(|e| e.to_string())?;
        let s = Speed {
            engine: "cairn gguf (llama-cpp-2 0.1.160)".into(),
            prompt_tokens: t.prompt_tokens,
            prefill_seconds: t.prefill_seconds,
            generated_tokens: t.generated_tokens,
            generation_seconds: t.generation_seconds,
        };
        if i > 0
            && best
                .as_ref()
                .is_none_or(|b| s.prefill_seconds + s.generation_seconds < b.prefill_seconds + b.generation_seconds)
        {
            best = Some(s);
        }
    }
    let cairn = best.ok_or("no run")?;
    let (peer, peer_note) = if peer {
        match run_peer(model, prompt, tokens, runs) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, Some("peer skipped (--no-peer)".into()))
    };
    Ok(GgufReport { model: model.to_owned(), cairn, peer, peer_note })
}

fn run_peer(model: &Path, prompt: &str, tokens: u32, runs: usize) -> Result<Speed, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/llama_cpp_peer.py");
    let mut best: Option<Speed> = None;
    for _ in 0..runs {
        let out = Command::new("python3")
            .arg(&script)
            .arg("speed")
            .arg(model)
            .arg(prompt)
            .arg(tokens.to_string())
            .env("OMP_NUM_THREADS", "1")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "llama-cpp-python failed: {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
            ));
        }
        let mut s: Speed = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        s.engine = "llama.cpp via llama-cpp-python 0.3.36".into();
        if best
            .as_ref()
            .is_none_or(|b| s.prefill_seconds + s.generation_seconds < b.prefill_seconds + b.generation_seconds)
        {
            best = Some(s);
        }
    }
    best.ok_or_else(|| "no run".into())
}
