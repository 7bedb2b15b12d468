//! Cassettes: every model call recorded to a JSONL file and replayed from it, so tests and
//! evaluations run offline and deterministically. A cassette's first line names the model
//! that produced it; each further line holds one call's key (a hash of the request), the
//! request and the reply. Cassettes are recorded from real runs, never written by hand.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_core::{ChatModel, ChatRequest, ChatResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{LlmError, Result};

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: String,
    kind: String,
    request: Value,
    response: Value,
}

/// The key of a call: a hash of its kind and canonical request JSON.
pub fn key(kind: &str, request: &Value) -> String {
    let canonical = json!({"kind": kind, "request": request}).to_string();
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(canonical.as_bytes()))
}

fn score_request(prompt: &str, choices: &[String]) -> Value {
    json!({"prompt": prompt, "choices": choices})
}

fn io(path: &Path, e: impl std::fmt::Display) -> LlmError {
    LlmError::Cassette { path: path.display().to_string(), message: e.to_string() }
}

/// Serves recorded replies; a request that was never recorded is an error.
#[derive(Debug)]
pub struct Replayer {
    path: PathBuf,
    name: String,
    entries: HashMap<String, Value>,
}

impl Replayer {
    /// Loads a cassette.
    pub fn open(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let mut lines = text.lines();
        let header: Value =
            serde_json::from_str(lines.next().unwrap_or("")).map_err(|e| io(path, format!("header: {e}")))?;
        let model = header.get("model").and_then(Value::as_str).ok_or_else(|| io(path, "header names no model"))?;
        let mut entries = HashMap::new();
        for (i, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: Entry = serde_json::from_str(line).map_err(|e| io(path, format!("line {}: {e}", i + 2)))?;
            entries.insert(e.key, e.response);
        }
        Ok(Replayer { path: path.to_owned(), name: format!("replay:{model}"), entries })
    }

    /// Recorded calls.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cassette is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn lookup(&self, kind: &str, request: &Value) -> Result<&Value> {
        let k = key(kind, request);
        self.entries.get(&k).ok_or_else(|| LlmError::CassetteMiss { path: self.path.display().to_string(), key: k })
    }
}

impl ChatModel for Replayer {
    fn chat(&self, request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        let value = serde_json::to_value(request)
            .map_err(|e| LlmError::Malformed { detail: e.to_string() }.into_core(&self.name))?;
        let reply = self.lookup("chat", &value).map_err(|e| e.into_core(&self.name))?;
        serde_json::from_value(reply.clone())
            .map_err(|e| LlmError::Malformed { detail: e.to_string() }.into_core(&self.name))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn score_choices(&self, prompt: &str, choices: &[String]) -> cairn_core::Result<Vec<f32>> {
        let reply = self.lookup("score", &score_request(prompt, choices)).map_err(|e| e.into_core(&self.name))?;
        serde_json::from_value(reply.clone())
            .map_err(|e| LlmError::Malformed { detail: e.to_string() }.into_core(&self.name))
    }
}

/// Passes calls to a real model and appends each to a cassette.
#[derive(Debug)]
pub struct Recorder<M> {
    inner: M,
    path: PathBuf,
    file: Mutex<std::fs::File>,
    name: String,
}

impl<M: ChatModel> Recorder<M> {
    /// Starts (or continues) a cassette for `inner`. A new file gets a header naming the
    /// model; an existing one must name the same model.
    pub fn create(path: &Path, inner: M) -> Result<Self> {
        let exists = path.is_file() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false);
        if exists {
            let first = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
            let header: Value = serde_json::from_str(first.lines().next().unwrap_or("")).map_err(|e| io(path, e))?;
            if header.get("model").and_then(Value::as_str) != Some(inner.name()) {
                return Err(io(path, format!("recorded with another model than {}", inner.name())));
            }
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| io(path, e))?;
        if !exists {
            writeln!(file, "{}", json!({"cassette": 1, "model": inner.name()})).map_err(|e| io(path, e))?;
        }
        let name = inner.name().to_owned();
        Ok(Recorder { inner, path: path.to_owned(), file: Mutex::new(file), name })
    }

    fn append(&self, kind: &str, request: Value, response: Value) -> cairn_core::Result<()> {
        let entry = Entry { key: key(kind, &request), kind: kind.to_owned(), request, response };
        let line = serde_json::to_string(&entry).map_err(|e| io(&self.path, e).into_core(&self.name))?;
        let mut file = self.file.lock().map_err(|_| io(&self.path, "lock poisoned").into_core(&self.name))?;
        writeln!(file, "{line}").map_err(|e| io(&self.path, e).into_core(&self.name))
    }
}

impl<M: ChatModel> ChatModel for Recorder<M> {
    fn chat(&self, request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        let response = self.inner.chat(request)?;
        let value = serde_json::to_value(request).unwrap_or(Value::Null);
        self.append("chat", value, serde_json::to_value(&response).unwrap_or(Value::Null))?;
        Ok(response)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn score_choices(&self, prompt: &str, choices: &[String]) -> cairn_core::Result<Vec<f32>> {
        let scores = self.inner.score_choices(prompt, choices)?;
        self.append("score", score_request(prompt, choices), json!(scores))?;
        Ok(scores)
    }

    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> cairn_core::Result<ChatResponse> {
        let response = self.inner.chat_stream(request, on_text)?;
        let value = serde_json::to_value(request).unwrap_or(Value::Null);
        self.append("chat", value, serde_json::to_value(&response).unwrap_or(Value::Null))?;
        Ok(response)
    }
}
