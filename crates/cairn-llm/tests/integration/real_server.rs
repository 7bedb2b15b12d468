//! A real OpenAI-compatible server on loopback: llama-cpp-python's server running the
//! Gemma 3 270M GGUF from PyPI (`scripts/fetch-models.sh` fetches both). Skips with a message
//! when either is missing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_core::{ChatModel, ChatRequest, Message};
use cairn_llm::{OpenAiChat, OpenAiConfig};

pub struct Server {
    child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn gemma() -> Option<std::path::PathBuf> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf");
    path.is_file().then_some(path)
}

/// Starts the server, or explains why it cannot.
pub fn start() -> Result<Server, String> {
    let model = gemma().ok_or("the Gemma 3 270M GGUF is missing (scripts/fetch-models.sh)")?;
    let probe = Command::new("python3").args(["-c", "import llama_cpp.server"]).output().map_err(|e| e.to_string())?;
    if !probe.status.success() {
        return Err("llama-cpp-python[server] is not installed (.ci/run installs it)".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("python3")
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
            "--n_threads_batch",
            "1",
            // The GGUF is the base model and has no chat template in its metadata.
            "--chat_format",
            "gemma",
            "--verbose",
            "False",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let server = Server { child, url: format!("http://127.0.0.1:{port}/v1") };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if ureq::get(&format!("{}/models", server.url)).call().is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err("the llama-cpp-python server did not come up within 120 s".into())
}

#[test]
fn a_real_llama_cpp_server_answers_streams_and_scores() {
    let server = match start() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("skipping the real-server test: {why}");
            return;
        }
    };
    let client = OpenAiChat::new(OpenAiConfig {
        timeout: Duration::from_secs(120),
        ..OpenAiConfig::new(&server.url, "gemma-3-270m")
    });
    let request = ChatRequest::new(vec![Message::user("Name one enzyme of the liver.")], 16);
    let r = client.chat(&request).unwrap();
    assert!(!r.text.is_empty());
    assert!(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, "{:?}", r.usage);
    let mut pieces = 0;
    let streamed = client.chat_stream(&request, &mut |_| pieces += 1).unwrap();
    assert!(pieces > 1, "tokens arrive one by one");
    assert_eq!(streamed.text, r.text, "greedy decoding is deterministic");
    let scores = client
        .score_choices("Question: Is CYP3A4 an enzyme?\nAnswer (Yes or No):", &[" Yes".into(), " No".into()])
        .unwrap();
    assert!(scores.iter().all(|s| s.is_finite() && *s <= 0.0), "{scores:?}");
    assert!(scores.iter().any(|s| *s > -30.0), "at least one choice is among the top tokens: {scores:?}");
}
