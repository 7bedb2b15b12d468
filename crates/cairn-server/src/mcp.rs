//! A Model Context Protocol server over stdio (newline-delimited JSON-RPC 2.0): agent tools
//! reach a knowledge base through `search`, `ask`, `navigate`, `show_node`, `graph_query`
//! and `drug_check`. Tool failures are results with `isError: true` (the protocol's rule),
//! protocol failures are JSON-RPC errors.

use std::io::{BufRead, Write};

use cairn_engine::{Kb, SearchOptions};
use serde_json::{Value, json};

/// Protocol revisions this server speaks (newest first).
const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

fn tools() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    json!([
        {"name": "search", "description": "Ranked paragraphs for a query (BM25, dense or hybrid), with stable IDs.",
         "inputSchema": obj(json!({"query": {"type": "string"}, "mode": {"type": "string", "enum": ["bm25", "dense", "hybrid"]},
                                   "k": {"type": "integer", "minimum": 1, "maximum": 100}}), &["query"])},
        {"name": "ask", "description": "An answer whose every claim quotes a paragraph checked against the source, or an abstention.",
         "inputSchema": obj(json!({"question": {"type": "string"}}), &["question"])},
        {"name": "navigate", "description": "The hierarchical navigation for a question: the levels, picks and the scratchpad of why.",
         "inputSchema": obj(json!({"question": {"type": "string"}}), &["question"])},
        {"name": "show_node", "description": "A node's text and place by stable ID (e.g. pcrz74tpxdn56) or display ID (e.g. pharm:8.1.1); retired IDs name their successor.",
         "inputSchema": obj(json!({"id": {"type": "string"}}), &["id"])},
        {"name": "graph_query", "description": "A read-only openCypher query over the knowledge graph.",
         "inputSchema": obj(json!({"query": {"type": "string"}, "params": {"type": "object"}}), &["query"])},
        {"name": "drug_check", "description": "Interaction review of two or more drugs: mechanism paths, severity, cited passages.",
         "inputSchema": obj(json!({"drugs": {"type": "array", "items": {"type": "string"}, "minItems": 2}}), &["drugs"])},
    ])
}

fn arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, String> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("missing argument `{name}`"))
}

fn ask_json(kb: &Kb, question: &str) -> Result<Value, String> {
    crate::ask_value(kb, question).map_err(|e| e.to_string())
}

/// Runs one tool; the value goes back as the tool's structured content.
fn call_tool(kb: &Kb, name: &str, args: &Value) -> Result<Value, String> {
    match name {
        "search" => {
            let mode = args
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("hybrid")
                .parse()
                .map_err(|e: cairn_engine::EngineError| e.to_string())?;
            let k = args.get("k").and_then(Value::as_u64).unwrap_or(10).clamp(1, 100) as usize;
            let options = SearchOptions { mode, k, ..SearchOptions::default() };
            let (results, _) = kb.search(arg(args, "query")?, &options).map_err(|e| e.to_string())?;
            serde_json::to_value(&*results).map_err(|e| e.to_string())
        }
        "ask" => ask_json(kb, arg(args, "question")?),
        "navigate" => {
            let v = ask_json(kb, arg(args, "question")?)?;
            Ok(json!({"scratchpad": v.get("scratchpad").cloned().unwrap_or(Value::Null),
                      "passages": v.get("passages").cloned().unwrap_or(Value::Null),
                      "sources": v.get("sources").cloned().unwrap_or(Value::Null)}))
        }
        "show_node" => {
            serde_json::to_value(kb.show(arg(args, "id")?).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        }
        "graph_query" => graph_query(kb, arg(args, "query")?, args.get("params")),
        "drug_check" => {
            let drugs: Vec<String> = args
                .get("drugs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            drug_check(kb, &drugs)
        }
        other => Err(format!("unknown tool {other:?}")),
    }
}

/// A read-only Cypher query's columns and rows as JSON (`params`: a JSON object).
pub(crate) fn graph_query(kb: &Kb, query: &str, params: Option<&Value>) -> Result<Value, String> {
    let params: cairn_graph::Params = params
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), cairn_graph::value_from_json(v))).collect())
        .unwrap_or_default();
    let result = kb.graph_query(query, &params).map_err(|e| e.to_string())?;
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|r| {
            Value::Object(
                result
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.clone(), cairn_graph::value_to_json(kb.graph().graph(), v)))
                    .collect(),
            )
        })
        .collect();
    Ok(json!({"columns": result.columns, "rows": rows}))
}

/// The interaction review of `drugs` as JSON.
pub(crate) fn drug_check(kb: &Kb, drugs: &[String]) -> Result<Value, String> {
    if drugs.len() < 2 {
        return Err("drug_check needs at least two drugs".into());
    }
    serde_json::to_value(kb.drug_check(drugs).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Answers one JSON-RPC message; notifications get no answer.
pub fn handle(kb: &Kb, msg: &Value) -> Option<Value> {
    let id = msg.get("id").cloned();
    let method = msg.get("method").and_then(Value::as_str).unwrap_or_default();
    let Some(id) = id else {
        return None; // a notification (`notifications/initialized`, cancellations)
    };
    if msg.get("method").is_none() && (msg.get("result").is_some() || msg.get("error").is_some()) {
        return None; // a client's response to a server request: nothing to answer
    }
    let ok = |result: Value| Some(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    match method {
        "initialize" => {
            let asked = msg.pointer("/params/protocolVersion").and_then(Value::as_str).unwrap_or(VERSIONS[0]);
            let version = VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(VERSIONS[0]);
            ok(json!({"protocolVersion": version, "capabilities": {"tools": {"listChanged": false}},
                      "serverInfo": {"name": "cairn", "version": env!("CARGO_PKG_VERSION")},
                      "instructions": "Answers from the documents in this knowledge base; every claim quotes a checked paragraph."}))
        }
        "ping" => ok(json!({})),
        "tools/list" => ok(json!({"tools": tools()})),
        "tools/call" => {
            let Some(name) = msg.pointer("/params/name").and_then(Value::as_str) else {
                return Some(error(&id, -32602, "tools/call needs params.name"));
            };
            let args = msg.pointer("/params/arguments").cloned().unwrap_or(json!({}));
            tracing::info!(tool = name, "mcp tool call");
            match call_tool(kb, name, &args) {
                Ok(v) => ok(
                    json!({"content": [{"type": "text", "text": v.to_string()}], "structuredContent": v, "isError": false}),
                ),
                Err(e) => ok(json!({"content": [{"type": "text", "text": e}], "isError": true})),
            }
        }
        other => Some(error(&id, -32601, &format!("method not found: {other}"))),
    }
}

/// Serves MCP over `input`/`output` (stdin/stdout) until the input ends.
pub fn serve_stdio(kb: &Kb, input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(msg) => handle(kb, &msg),
            Err(e) => Some(error(&Value::Null, -32700, &format!("parse error: {e}"))),
        };
        if let Some(r) = reply {
            writeln!(output, "{r}")?;
            output.flush()?;
        }
    }
    Ok(())
}
