//! `cairn mcp` with the official Python MCP SDK as the client (skips when it is missing).

use std::process::Command;

#[test]
fn the_official_mcp_client_lists_and_calls_cairns_tools() {
    if !Command::new("python3").args(["-c", "import mcp"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: the Python MCP SDK is not installed (pip install mcp)");
        return;
    }
    let kb = tempfile::tempdir().unwrap();
    let script = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

def err(r):
    return r.is_error if hasattr(r, "is_error") else r.isError

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["--kb", sys.argv[2], "mcp", "--demo"])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = await s.list_tools()
            print("TOOLS", ",".join(sorted(t.name for t in tools.tools)))
            a = await s.call_tool("ask", {"question": "Can simvastatin be taken with clarithromycin?"})
            cite = json.loads(a.content[0].text)["claims"][0]["citations"][0]
            print("ASK", err(a), cite["verified"], cite["display"])
            n = await s.call_tool("show_node", {"id": cite["display"]})
            print("SHOW", err(n), cite["quote"] in n.content[0].text)
            g = await s.call_tool("graph_query", {"query": "MATCH (d:Drug {name: $n}) RETURN d.name AS name", "params": {"n": "simvastatin"}})
            print("GRAPH", err(g), json.loads(g.content[0].text)["rows"])
            d = await s.call_tool("drug_check", {"drugs": ["simvastatin", "clarithromycin"]})
            print("DRUG", err(d), "CYP3A4" in d.content[0].text)
            bad = await s.call_tool("drug_check", {"drugs": ["simvastatin"]})
            print("BAD", err(bad))

asyncio.run(main())
"#;
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_cairn")])
        .arg(kb.path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("TOOLS ask,drug_check,graph_query,navigate,search,show_node"), "{stdout}");
    assert!(stdout.contains("ASK False True pharm:"), "{stdout}");
    assert!(stdout.contains("SHOW False True"), "{stdout}");
    assert!(stdout.contains("GRAPH False [{'name': 'simvastatin'}]"), "{stdout}");
    assert!(stdout.contains("DRUG False True"), "{stdout}");
    assert!(stdout.contains("BAD True"), "{stdout}");
}

#[test]
fn the_open_demo_server_refuses_to_bind_beyond_loopback() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_cairn")).args(["serve", "--demo", "--addr", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// One HTTP/1.1 request over a plain socket; returns the status and body.
pub(crate) fn http(addr: &str, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The address a `cairn serve` child (started with piped stderr) printed once bound, and
/// its stderr, which the caller keeps open (a closed pipe would fail the server's writes).
pub(crate) fn bound_address(
    child: &mut std::process::Child,
) -> (String, std::io::BufReader<std::process::ChildStderr>) {
    use std::io::BufRead;
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("http://") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited");
    }
    (line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned(), stderr)
}

#[test]
fn cairn_serve_serves_several_knowledge_bases_and_ingests_inside_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let (law, med, inbox) = (dir.path().join("law"), dir.path().join("med"), dir.path().join("inbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("tenancy.md"), "# Tenancy\n\n## 1. Deposits\n\nA deposit is returned within 30 days.\n")
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_cairn");
    let status = Command::new(bin).arg("--kb").arg(&med).args(["ingest"]).arg(&inbox).status().unwrap();
    assert!(status.success());
    let mut child = Command::new(bin)
        .arg("--kb")
        .arg(&law)
        .args(["serve", "--addr", "127.0.0.1:0", "--name", "law", "--api-key", "k", "--serve-kb"])
        .arg(format!("med={}", med.display()))
        .arg("--ingest-root")
        .arg(&inbox)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _stderr) = bound_address(&mut child);
    let result = std::panic::catch_unwind(|| {
        let (status, body) = http(&addr, "GET", "/health", None, "");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#""kbs":["law","med"]"#), "{body}");
        // law starts empty; ingest from the root, then it answers.
        let (status, body) = http(&addr, "POST", "/v1/kbs/law/ingest", Some("k"), r#"{"path": "tenancy.md"}"#);
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#""outcome":"stored""#), "{body}");
        let (status, body) = http(&addr, "POST", "/v1/kbs/law/ingest", Some("k"), r#"{"path": "../law"}"#);
        assert_eq!(status, 403, "{body}");
        for kb in ["law", "med"] {
            let q = r#"{"question": "When is a deposit returned?"}"#;
            let (status, body) = http(&addr, "POST", &format!("/v1/kbs/{kb}/ask"), Some("k"), q);
            assert_eq!(status, 200, "{kb}: {body}");
            assert!(body.contains("30 days") && body.contains("tenancy:1.1"), "{kb}: {body}");
        }
        let (_, models) = http(&addr, "GET", "/v1/models", Some("k"), "");
        assert!(models.contains("cairn-law") && models.contains("cairn-med"), "{models}");
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[cfg(unix)]
#[test]
fn cairn_serve_stops_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _stderr) = bound_address(&mut child);
    assert_eq!(http(&addr, "GET", "/health", None, "").0, 200);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("cairn serve did not stop on SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// `cairn serve --watch DIR`: a file written into the watched folder while the server runs
/// becomes answerable through the API, and its deletion retires it.
#[test]
fn cairn_serve_watch_keeps_a_folder_in_sync_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, inbox) = (dir.path().join("kb"), dir.path().join("inbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--kb")
        .arg(&kb)
        .args(["serve", "--addr", "127.0.0.1:0", "--api-key", "k", "--watch"])
        .arg(&inbox)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _stderr) = bound_address(&mut child);
    let result = std::panic::catch_unwind(|| {
        std::fs::write(
            inbox.join("tenancy.md"),
            "# Tenancy\n\n## 1. Deposits\n\nA deposit is returned within 30 days.\n",
        )
        .unwrap();
        let q = r#"{"question": "When is a deposit returned?"}"#;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, body) = http(&addr, "POST", "/v1/kbs/default/ask", Some("k"), q);
            if status == 200 && body.contains("30 days") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never answered: {status} {body}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        std::fs::remove_file(inbox.join("tenancy.md")).unwrap();
        loop {
            let (status, body) = http(&addr, "GET", "/v1/kbs/default/documents", Some("k"), "");
            if status == 200 && !body.contains("tenancy") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never removed: {status} {body}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
