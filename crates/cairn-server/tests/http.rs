//! The HTTP API end to end on the bundled sample pack: a real server on a loopback port, a
//! real HTTP client.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use std::sync::mpsc;

use cairn_engine::{Kb, Settings, demo};
use cairn_server::{AppState, ServerConfig, serve_blocking};
use serde_json::{Value, json};

fn demo_kb(dir: &std::path::Path) -> Kb {
    let mut kb = Kb::open(dir, Settings::default()).unwrap();
    demo::load_into(&mut kb).unwrap();
    kb
}

/// Starts a server; returns its base URL. The server thread lives as long as the test
/// process.
fn start(config: ServerConfig) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let kb = demo_kb(dir.path());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let state = AppState::new(vec![("demo".into(), kb)], config);
        serve_blocking("127.0.0.1:0", state, |a| tx.send(a).unwrap()).unwrap();
    });
    (format!("http://{}", rx.recv().unwrap()), dir)
}

fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut res = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call().unwrap()
        }
        (_, Some(b)) => {
            let mut r = agent.post(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_json(b).unwrap()
        }
        (_, None) => {
            let mut r = agent.post(url).header("content-type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send("{not json").unwrap()
        }
    };
    (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
}

fn keyed() -> ServerConfig {
    ServerConfig { api_keys: vec!["k1".into()], ..ServerConfig::default() }
}

#[test]
fn asks_with_verified_citations_and_keys_guard_the_routes() {
    let (base, _dir) = start(keyed());
    let (s, body) = call("GET", &format!("{base}/health"), None, None);
    assert_eq!((s, body.contains("\"demo\"")), (200, true));
    let q = json!({"question": "Can simvastatin be taken with clarithromycin?"});
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/ask"), None, Some(q.clone()));
    assert_eq!(s, 401, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "unauthorized");
    assert!(err["error"]["message"].as_str().unwrap().contains("API key"));
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/ask"), Some("wrong"), Some(q.clone()));
    assert_eq!(s, 401, "{body}");
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/ask"), Some("k1"), Some(q));
    assert_eq!(s, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let cites = answer["claims"][0]["citations"].as_array().unwrap();
    assert!(!cites.is_empty() && cites.iter().all(|c| c["verified"] == true), "{body}");

    let (s, body) = call(
        "POST",
        &format!("{base}/v1/kbs/demo/search"),
        Some("k1"),
        Some(json!({"query": "CYP3A4", "mode": "bm25", "k": 3})),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("CYP3A4"));
    let (s, body) =
        call("POST", &format!("{base}/v1/kbs/demo/search"), Some("k1"), Some(json!({"query": "x", "mode": "psychic"})));
    assert_eq!(s, 400, "{body}");
    let (s, body) = call("POST", &format!("{base}/v1/kbs/nope/ask"), Some("k1"), Some(json!({"question": "x"})));
    assert_eq!(s, 404, "{body}");
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/ask"), Some("k1"), None);
    assert_eq!(s, 400, "malformed JSON: {body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"]["type"] == "invalid_request_error");
}

#[test]
fn feedback_is_a_write_and_always_needs_a_key() {
    let (base, _dir) = start(ServerConfig { open_reads: true, ..keyed() });
    let f = json!({"question": "q?", "answer": "a.", "verdict": "up", "cited": ["pcrz74tpxdn56"]});
    let (s, _) = call("POST", &format!("{base}/v1/kbs/demo/feedback"), None, Some(f.clone()));
    assert_eq!(s, 401, "open reads do not open writes");
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/feedback"), Some("k1"), Some(f));
    assert_eq!((s, body.contains("\"id\"")), (200, true), "{body}");
    let bad = json!({"question": "q?", "answer": "a.", "verdict": "prefer"});
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/feedback"), Some("k1"), Some(bad));
    assert_eq!(s, 400, "{body}");
    // Reads are open.
    let (s, _) = call("POST", &format!("{base}/v1/kbs/demo/ask"), None, Some(json!({"question": "What is CYP3A4?"})));
    assert_eq!(s, 200);
}

#[test]
fn openai_compatible_chat_carries_citations_in_text_and_fields() {
    let (base, _dir) = start(ServerConfig { open_reads: true, ..keyed() });
    let (s, body) = call("GET", &format!("{base}/v1/models"), None, None);
    assert!(s == 200 && body.contains("cairn-demo"), "{body}");
    let req = json!({"model": "cairn-demo", "messages": [{"role": "user", "content": "Can simvastatin be taken with clarithromycin?"}]});
    let (s, body) = call("POST", &format!("{base}/v1/chat/completions"), None, Some(req.clone()));
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("[1]") && text.contains("Sources:"), "{text}");
    let c = &v["citations"][0];
    assert!(c["quote"].as_str().is_some_and(|q| text.contains(q)) && c["display"].is_string(), "{v}");

    let mut stream_req = req;
    stream_req["stream"] = json!(true);
    let (s, body) = call("POST", &format!("{base}/v1/chat/completions"), None, Some(stream_req));
    assert_eq!(s, 200);
    assert!(body.starts_with("data: ") && body.trim_end().ends_with("data: [DONE]"), "{body}");
    let streamed: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(streamed, text, "the stream carries the same text");
    let (s, body) =
        call("POST", &format!("{base}/v1/chat/completions"), None, Some(json!({"model": "gpt-4", "messages": []})));
    assert_eq!(s, 404, "{body}");
}

#[test]
fn the_concurrency_limit_answers_429_and_the_body_limit_413() {
    let (base, _dir) = start(ServerConfig { open_reads: true, max_concurrent: 0, ..keyed() });
    let (s, body) =
        call("POST", &format!("{base}/v1/kbs/demo/ask"), None, Some(json!({"question": "What is CYP3A4?"})));
    assert_eq!(s, 429, "{body}");
    assert!(body.contains("concurrency limit"), "{body}");
    let (base, _dir2) = start(ServerConfig { open_reads: true, max_body_bytes: 64, ..keyed() });
    let (s, _) = call("POST", &format!("{base}/v1/kbs/demo/ask"), None, Some(json!({"question": "x".repeat(200)})));
    assert_eq!(s, 413);
}

#[test]
fn the_official_openai_python_sdk_talks_to_cairn() {
    if !std::process::Command::new("python3").args(["-c", "import openai"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: the openai Python SDK is not installed (pip install openai)");
        return;
    }
    let (base, _dir) = start(keyed());
    let script = r#"
import sys
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="k1")
print("MODELS", [m.id for m in client.models.list().data])
q = [{"role": "user", "content": "Can simvastatin be taken with clarithromycin?"}]
r = client.chat.completions.create(model="cairn-demo", messages=q)
print("TEXT", r.choices[0].message.content.replace("\n", " "))
print("CITATIONS", len(r.model_extra["citations"]))
parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(model="cairn-demo", messages=q, stream=True)]
print("STREAM_SAME", "".join(parts) == r.choices[0].message.content)
try:
    OpenAI(base_url=sys.argv[1] + "/v1", api_key="nope").chat.completions.create(model="cairn-demo", messages=q)
except Exception as e:
    print("ERROR", type(e).__name__)
"#;
    let out = std::process::Command::new("python3").args(["-c", script, &base]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("MODELS ['cairn-demo']"), "{stdout}");
    assert!(stdout.contains("contraindicated") && stdout.contains("[1]"), "{stdout}");
    assert!(!stdout.contains("CITATIONS 0"), "{stdout}");
    assert!(stdout.contains("STREAM_SAME True"), "{stdout}");
    assert!(stdout.contains("ERROR AuthenticationError"), "{stdout}");
}

#[test]
fn the_page_is_served_and_nodes_resolve_by_either_id() {
    let (base, _dir) = start(ServerConfig { open_reads: true, ..keyed() });
    let (s, page) = call("GET", &format!("{base}/"), None, None);
    assert_eq!(s, 200);
    assert!(page.contains("<form id=\"ask\"") && page.contains("textContent"), "the page renders text, not markup");
    assert!(!page.contains("innerHTML"), "no document text may be inserted as markup");
    let (s, by_display) = call("GET", &format!("{base}/v1/kbs/demo/nodes/pharm:8.1.1"), None, None);
    assert_eq!(s, 200, "{by_display}");
    let v: Value = serde_json::from_str(&by_display).unwrap();
    assert_eq!(v["status"], "live");
    assert!(v["text"].as_str().unwrap().contains("contraindicated"));
    let (s, by_stable) = call("GET", &format!("{base}/v1/kbs/demo/nodes/{}", v["id"].as_str().unwrap()), None, None);
    assert_eq!((s, by_stable), (200, by_display));
    let (s, body) = call("GET", &format!("{base}/v1/kbs/demo/nodes/pharm:99.99"), None, None);
    assert_eq!(s, 404, "{body}");
}

#[test]
fn metrics_count_requests_latency_and_cache_hits() {
    let (base, _dir) = start(ServerConfig { open_reads: true, ..keyed() });
    for _ in 0..2 {
        let (s, _) = call(
            "POST",
            &format!("{base}/v1/kbs/demo/search"),
            None,
            Some(json!({"query": "warfarin", "mode": "bm25"})),
        );
        assert_eq!(s, 200);
    }
    call("POST", &format!("{base}/v1/kbs/nope/search"), None, Some(json!({"query": "x"})));
    let (s, text) = call("GET", &format!("{base}/metrics"), None, None);
    assert_eq!(s, 200);
    assert!(text.contains("cairn_requests_total{route=\"/v1/kbs/{kb}/search\",code=\"200\"} 2"), "{text}");
    assert!(text.contains("cairn_requests_total{route=\"/v1/kbs/{kb}/search\",code=\"404\"} 1"), "{text}");
    assert!(text.contains("cairn_request_duration_seconds_count{route=\"/v1/kbs/{kb}/search\"} 3"), "{text}");
    assert!(text.contains("cairn_search_total 2") && text.contains("cairn_search_cache_hits_total 1"), "{text}");
}

#[test]
fn graph_queries_and_drug_checks_over_http() {
    let (base, _dir) = start(ServerConfig { open_reads: true, ..keyed() });
    let q = json!({"query": "MATCH (d:Drug {name: $n}) RETURN d.name AS name", "params": {"n": "simvastatin"}});
    let (s, body) = call("POST", &format!("{base}/v1/kbs/demo/graph/query"), None, Some(q));
    assert_eq!(s, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["rows"], json!([{"name": "simvastatin"}]));
    let (s, body) = call(
        "POST",
        &format!("{base}/v1/kbs/demo/graph/query"),
        None,
        Some(json!({"query": "CREATE (:Drug {name: 'x'})"})),
    );
    assert_eq!(s, 400, "the API is read-only: {body}");
    let (s, body) = call(
        "POST",
        &format!("{base}/v1/kbs/demo/drug-check"),
        None,
        Some(json!({"drugs": ["simvastatin", "clarithromycin"]})),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("CYP3A4"), "{body}");
    let (s, _) = call("POST", &format!("{base}/v1/kbs/demo/drug-check"), None, Some(json!({"drugs": ["simvastatin"]})));
    assert_eq!(s, 400);
}
