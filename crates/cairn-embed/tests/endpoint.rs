//! The OpenAI-compatible embedder against a scripted HTTP server on loopback: batching,
//! auth, 429-then-success, malformed JSON, server errors, wrong counts.
#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)] // test code: panics are the assertions

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::{CoreError, EmbedRole, Embedder};
use cairn_embed::{EndpointConfig, OpenAiEmbedder};

type Reply = Box<dyn Fn(&serde_json::Value) -> (u16, String) + Send>;
type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Serves `replies` in order (the last one repeats); records every request body.
fn server(replies: Vec<Reply>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
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
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let reply = &replies[n.min(replies.len() - 1)];
            let (status, text) = reply(&json);
            log.lock().unwrap().push((auth, json));
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

fn vectors(body: &serde_json::Value) -> (u16, String) {
    let inputs = body["input"].as_array().unwrap();
    // Reverse order with explicit indices: the client must put them back in order.
    let data: Vec<serde_json::Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len() as f32, i as f32, 1.0]}))
        .collect();
    (200, serde_json::json!({"object": "list", "data": data}).to_string())
}

fn config(url: &str) -> EndpointConfig {
    EndpointConfig {
        api_key: Some("sk-test".into()),
        timeout: Duration::from_secs(5),
        batch: 2,
        query_prefix: "query: ".into(),
        ..EndpointConfig::new(url, "tiny-embed")
    }
}

#[test]
fn batches_orders_prefixes_and_retries_429() {
    let (url, seen) =
        server(vec![Box::new(vectors), Box::new(|_| (429, "{\"error\":\"slow down\"}".into())), Box::new(vectors)]);
    let embedder = OpenAiEmbedder::connect(config(&url)).unwrap();
    assert_eq!(embedder.dim(), 3);
    let out = embedder.embed(&["ab", "abcd", "x"], EmbedRole::Passage).unwrap();
    assert_eq!(out, vec![vec![2.0, 0.0, 1.0], vec![4.0, 1.0, 1.0], vec![1.0, 0.0, 1.0]]);
    let q = embedder.embed(&["abc"], EmbedRole::Query).unwrap();
    assert_eq!(q[0][0], 10.0, "the query prefix is sent");
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|(auth, _)| auth == "Bearer sk-test"));
    assert_eq!(seen[1].1["input"].as_array().unwrap().len(), 2, "batches of two");
    assert_eq!(seen.len(), 5, "probe, 429, retry, second batch, query");
}

#[test]
fn malformed_and_failing_endpoints_are_clear_errors() {
    let (url, _) = server(vec![Box::new(vectors), Box::new(|_| (200, "{not json".into()))]);
    let embedder = OpenAiEmbedder::connect(config(&url)).unwrap();
    match embedder.embed(&["a"], EmbedRole::Passage).unwrap_err() {
        CoreError::Embedding { message, transient, .. } => {
            assert!(message.contains("malformed"), "{message}");
            assert!(!transient);
        }
        other => panic!("{other}"),
    }

    let (url, seen) = server(vec![Box::new(vectors), Box::new(|_| (503, "busy".into()))]);
    let cfg = EndpointConfig { attempts: 2, ..config(&url) };
    let embedder = OpenAiEmbedder::connect(cfg).unwrap();
    match embedder.embed(&["a"], EmbedRole::Passage).unwrap_err() {
        CoreError::Embedding { message, transient, .. } => assert!(transient && message.contains("503"), "{message}"),
        other => panic!("{other}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 3, "probe plus two attempts");

    let (url, _) = server(vec![Box::new(vectors), Box::new(|_| (200, "{\"data\": []}".into()))]);
    let embedder = OpenAiEmbedder::connect(config(&url)).unwrap();
    assert!(embedder.embed(&["a"], EmbedRole::Passage).is_err());

    let (url, _) = server(vec![Box::new(|_| (401, "{\"error\":\"bad key\"}".into()))]);
    let err = OpenAiEmbedder::connect(config(&url)).unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}
