//! The OpenAI-compatible client against a scripted HTTP server on loopback (streaming,
//! 429 then success, malformed JSON, context-length errors, servers without JSON-schema
//! support, log-probabilities), and cassettes: record, replay, miss.
#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test code: panics are the assertions

#[cfg(feature = "gguf")]
mod gguf;
mod real_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::{ChatModel, ChatRequest, CoreError, LlmFailure, Message};
use cairn_llm::{Backend, BackendOptions, OpenAiChat, OpenAiConfig};
use serde_json::{Value, json};

/// (status, content type, body, extra header lines).
type Reply = Box<dyn Fn(&Value) -> (u16, &'static str, String, String) + Send>;
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Serves `replies` in order (the last repeats); records (path, auth, body) of each request.
fn server(replies: Vec<Reply>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut auth, mut path) = (0usize, String::new(), String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if path.is_empty() {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, kind, text, headers) = replies[n.min(replies.len() - 1)](&json);
            log.lock().unwrap().push((path, auth, json));
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

fn ok(text: &str) -> (u16, &'static str, String, String) {
    let body = json!({"model": "mock-1", "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3}});
    (200, "application/json", body.to_string(), String::new())
}

fn client(url: &str) -> OpenAiChat {
    OpenAiChat::new(OpenAiConfig {
        api_key: Some("sk-test".into()),
        timeout: Duration::from_secs(5),
        ..OpenAiConfig::new(url, "mock-1")
    })
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::system("Be brief."), Message::user("Is CYP3A4 an enzyme?")], 32)
}

fn failure(e: CoreError) -> (LlmFailure, String) {
    match e {
        CoreError::Llm { failure, message, .. } => (failure, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn chat_sends_the_request_and_reads_usage() {
    let (url, seen) = server(vec![Box::new(|_| ok("Yes."))]);
    let r = client(&url).chat(&request()).unwrap();
    assert_eq!((r.text.as_str(), r.model.as_str()), ("Yes.", "mock-1"));
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (11, 3));
    let (path, auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!((path.as_str(), auth.as_str()), ("/v1/chat/completions", "Bearer sk-test"));
    assert_eq!(body["messages"][1]["content"], "Is CYP3A4 an enzyme?");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["max_tokens"], 32);
    assert_eq!(body["temperature"], 0.0);
}

#[test]
fn transient_errors_are_retried_then_succeed() {
    let (url, seen) = server(vec![
        Box::new(|_| {
            (429, "application/json", r#"{"error":{"message":"slow down"}}"#.into(), "Retry-After: 0\r\n".into())
        }),
        Box::new(|_| (503, "application/json", r#"{"error":{"message":"busy"}}"#.into(), String::new())),
        Box::new(|_| ok("fine")),
    ]);
    assert_eq!(client(&url).chat(&request()).unwrap().text, "fine");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn permanent_errors_are_not_retried() {
    let (url, seen) = server(vec![Box::new(|_| {
        (401, "application/json", r#"{"error":{"message":"bad key"}}"#.into(), String::new())
    })]);
    let (kind, message) = failure(client(&url).chat(&request()).unwrap_err());
    assert_eq!(kind, LlmFailure::Auth);
    assert!(message.contains("bad key"), "{message}");
    assert_eq!(seen.lock().unwrap().len(), 1, "no retry");
    let (url, _) = server(vec![Box::new(|_| (200, "application/json", "{not json".into(), String::new()))]);
    assert_eq!(failure(client(&url).chat(&request()).unwrap_err()).0, LlmFailure::Invalid);
    let (url, _) = server(vec![Box::new(|_| (200, "application/json", r#"{"choices": []}"#.into(), String::new()))]);
    assert_eq!(failure(client(&url).chat(&request()).unwrap_err()).0, LlmFailure::Invalid);
}

#[test]
fn context_length_errors_are_their_own_kind() {
    let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens, however you requested 9000","code":"context_length_exceeded"}}"#;
    let (url, seen) = server(vec![Box::new(move |_| (400, "application/json", body.into(), String::new()))]);
    let (kind, message) = failure(client(&url).chat(&request()).unwrap_err());
    assert_eq!(kind, LlmFailure::ContextLength);
    assert!(message.contains("8192"), "{message}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn schema_output_falls_back_to_the_prompt_when_the_server_rejects_it() {
    let (url, seen) = server(vec![Box::new(|b: &Value| {
        if b.get("response_format").is_some() {
            (
                400,
                "application/json",
                r#"{"error":{"message":"Unrecognized request argument: response_format"}}"#.into(),
                String::new(),
            )
        } else {
            ok(r#"{"chunk_ids": ["c1"]}"#)
        }
    })]);
    let schema = json!({"type": "object", "properties": {"chunk_ids": {"type": "array"}}});
    let c = client(&url);
    let r = c.chat(&request().with_schema("pick", schema.clone())).unwrap();
    assert_eq!(r.text, r#"{"chunk_ids": ["c1"]}"#);
    let seen = seen.lock().unwrap().clone();
    // OpenAI's form, then llama-cpp-python's `json_object` + schema, then the prompt.
    assert_eq!(seen[0].2["response_format"]["type"], "json_schema");
    assert_eq!(seen[1].2["response_format"]["type"], "json_object");
    assert!(seen[2].2.get("response_format").is_none());
    let fallback = seen[2].2["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(fallback.contains("JSON Schema"), "{fallback}");
    drop(seen);
    // Remembered: the next call goes straight to the fallback.
    c.chat(&request().with_schema("pick", schema)).unwrap();
}

#[test]
fn streaming_reads_server_sent_events() {
    let (url, _) = server(vec![Box::new(|b: &Value| {
        assert_eq!(b["stream"], true);
        let chunks = ["Clar", "ithro", "mycin"];
        let mut sse = String::new();
        for c in chunks {
            sse.push_str(&format!("data: {}\n\n", json!({"model": "mock-1", "choices": [{"delta": {"content": c}}]})));
        }
        sse.push_str(&format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}})
        ));
        sse.push_str("data: [DONE]\n\n");
        (200, "text/event-stream", sse, String::new())
    })]);
    let mut pieces = Vec::new();
    let r = client(&url).chat_stream(&request(), &mut |p| pieces.push(p.to_owned())).unwrap();
    assert_eq!(pieces, ["Clar", "ithro", "mycin"]);
    assert_eq!(r.text, "Clarithromycin");
    assert_eq!(r.usage.completion_tokens, 3);
}

#[test]
fn next_token_log_probabilities_score_choices() {
    let (url, seen) = server(vec![Box::new(|_| {
        let body = json!({"choices": [{"text": " Yes", "logprobs": {"top_logprobs": [{" Yes": -0.2, " No": -1.9, " yes": -3.0}]}}]});
        (200, "application/json", body.to_string(), String::new())
    })]);
    let scores = client(&url).score_choices("Relevant:", &[" Yes".into(), " No".into(), " Maybe".into()]).unwrap();
    assert_eq!(scores, vec![-0.2, -1.9, -30.0]);
    assert_eq!(seen.lock().unwrap()[0].0, "/v1/completions");
}

#[test]
fn cassettes_record_then_replay_offline_and_refuse_unknown_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("calls.jsonl");
    let (url, seen) = server(vec![Box::new(|_| ok("recorded answer"))]);
    let mut options = BackendOptions {
        openai: OpenAiConfig { timeout: Duration::from_secs(5), ..OpenAiConfig::new(&url, "mock-1") },
        ..BackendOptions::default()
    };
    let spec = format!("record:{}=openai", cassette.display());
    let recorder = Backend::open(&spec, &options).unwrap();
    assert_eq!(recorder.chat(&request()).unwrap().text, "recorded answer");
    assert_eq!(seen.lock().unwrap().len(), 1);
    drop(recorder);
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(text.lines().next().unwrap().contains("\"model\":\"openai:mock-1\""), "the cassette names its model");

    let replay = Backend::open(&format!("replay:{}", cassette.display()), &options).unwrap();
    assert_eq!(replay.name(), "replay:openai:mock-1");
    assert_eq!(replay.chat(&request()).unwrap().text, "recorded answer");
    assert_eq!(seen.lock().unwrap().len(), 1, "replay never calls the server");
    let other = ChatRequest::new(vec![Message::user("Something never recorded")], 8);
    let (kind, message) = failure(replay.chat(&other).unwrap_err());
    assert_eq!(kind, LlmFailure::Invalid);
    assert!(message.contains("no recording"), "{message}");
    // Another model cannot append to this cassette.
    let (url2, _) = server(vec![Box::new(|_| ok("x"))]);
    options.openai = OpenAiConfig::new(&url2, "other-model");
    assert!(Backend::open(&spec, &options).is_err());
}
