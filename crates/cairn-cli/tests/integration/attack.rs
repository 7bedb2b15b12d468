//! The attack suite: hostile requests against the real `cairn serve --demo` binary on
//! loopback, under an address-space cap (6 GB, as the crash kit that found them used).
//! Each request must get an error, the server must stay alive and answer `/health`
//! within a second, and a normal question must still get its cited answer afterwards.
//! Every request here stopped the server, or held it for minutes, before this suite.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::mcp::bound_address;

/// One request; the status, the raw response (headers and body) and how long it took.
fn send(addr: &str, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 401) before it has read the whole body.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out, started.elapsed())
}

fn json(query: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "query": query })).unwrap()
}

/// Seconds of CPU the process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

struct Server {
    child: Child,
    addr: String,
    _stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let bin = env!("CARGO_BIN_EXE_cairn");
        let mut args = vec!["serve", "--demo", "--addr", "127.0.0.1:0", "--api-key", "k"];
        args.extend_from_slice(extra);
        // `exec` keeps the PID: the cap applies to the server itself.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 6000000 && exec \"$0\" {}", args.join(" ")))
            .arg(bin)
            .env("RAYON_NUM_THREADS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, stderr) = bound_address(&mut child);
        Server { child, addr, _stderr: stderr }
    }

    /// The server is alive and answers `/health` within a second.
    fn assert_healthy(&mut self, after: &str) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server died after {after}");
        let (status, _, took) = send(&self.addr, "GET", "/health", None, b"");
        assert_eq!(status, 200, "/health after {after}");
        assert!(took < Duration::from_secs(1), "/health took {took:?} after {after}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One hostile request: what it is, method, path, key, body.
struct Attack(&'static str, &'static str, &'static str, Option<&'static str>, Vec<u8>);

#[test]
fn hostile_requests_get_errors_and_the_server_stays_up() {
    let mut server = Server::start(&["--timeout", "2"]);
    let addr = server.addr.clone();
    let graph = "/v1/kbs/demo/graph/query";
    let cases: Vec<Attack> = vec![
        Attack(
            "a string doubled 40 times",
            "POST",
            graph,
            None,
            json("RETURN size(reduce(s = 'ab', i IN range(1, 40) | s + s)) AS n"),
        ),
        Attack(
            "a list nested 200,000 deep",
            "POST",
            graph,
            None,
            json("RETURN size(reduce(l = [], i IN range(1, 200000) | [l])) AS n"),
        ),
        Attack(
            "membership in a million-item list, a million times",
            "POST",
            graph,
            None,
            json("UNWIND range(1, 1000000) AS i WITH i WHERE -1 IN range(1, 1000000) RETURN count(*) AS n"),
        ),
        Attack("JSON nested 100,000 deep", "POST", graph, None, {
            let mut b = b"{\"query\": \"RETURN 1\", \"params\": {\"p\": ".to_vec();
            b.extend(std::iter::repeat_n(b'[', 100_000));
            b.extend(std::iter::repeat_n(b']', 100_000));
            b.extend(b"}}");
            b
        }),
        Attack("HTML nested 30,000 deep", "POST", "/v1/kbs/demo/documents?name=deep.html", Some("k"), {
            let mut b = "<div>".repeat(30_000).into_bytes();
            b.push(b'x');
            b.extend("</div>".repeat(30_000).into_bytes());
            b
        }),
        Attack("a Markdown list 10,000 deep", "POST", "/v1/kbs/demo/documents?name=deep.md", Some("k"), {
            let mut b = b"# Deep\n\n".to_vec();
            b.extend("- ".repeat(10_000).into_bytes());
            b.extend(b"x\n");
            b
        }),
        Attack("a Markdown quote 50,000 deep", "POST", "/v1/kbs/demo/documents?name=quote.md", Some("k"), {
            let mut b = b"# Quote\n\n".to_vec();
            b.extend(">".repeat(50_000).into_bytes());
            b.extend(b" x\n");
            b
        }),
        Attack(
            "a PDF deflate bomb",
            "POST",
            "/v1/kbs/demo/documents?name=bomb.pdf",
            Some("k"),
            cairn_ingest::testing::deflate_bomb_pdf(512),
        ),
        Attack("an MCP batch of 1,000 calls", "POST", "/v1/kbs/demo/mcp", None, {
            let call = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "search", "arguments": {"query": "warfarin"}}});
            serde_json::to_vec(&vec![call; 1000]).unwrap()
        }),
    ];
    for Attack(name, method, path, key, body) in &cases {
        let (status, out, took) = send(&addr, method, path, *key, body);
        let refused = (400..600).contains(&status) || out.contains("over the limit");
        assert!(refused, "{name}: expected an error, got {status}: {}", &out[..out.len().min(600)]);
        eprintln!("{name}: {status} in {took:?}");
        server.assert_healthy(name);
    }

    // Nothing the refused uploads carried was stored.
    let (status, docs, _) = send(&addr, "GET", "/v1/kbs/demo/documents", None, b"");
    assert_eq!(status, 200);
    for name in ["deep", "quote", "bomb"] {
        assert!(!docs.contains(&format!("\"key\":\"{name}\"")), "{name} was stored: {docs}");
    }

    // The page cannot be framed, and its policy is a real header.
    let (status, page, _) = send(&addr, "GET", "/", None, b"");
    assert_eq!(status, 200);
    let headers = page.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(headers.contains("x-frame-options: deny"), "{headers}");
    assert!(headers.contains("frame-ancestors 'none'"), "{headers}");
    assert!(headers.contains("x-content-type-options: nosniff"), "{headers}");

    // After all that, a normal question still gets its cited answer.
    let ask = br#"{"question": "Can simvastatin be taken with clarithromycin?"}"#;
    let (status, answer, _) = send(&addr, "POST", "/v1/kbs/demo/ask", None, ask);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"verified\":true"), "{answer}");
}

/// A query that runs past its deadline is stopped: the client gets 504, the CPU goes
/// back to idle within a second, and a reader queued behind a writer behind it waits no
/// longer than the deadline.
#[test]
fn a_timed_out_query_stops_and_frees_its_lock() {
    let mut server = Server::start(&["--timeout", "2"]);
    let addr = server.addr.clone();
    // About 50 million evaluation steps: far longer than two seconds in any build here.
    let slow = json(
        "UNWIND range(1, 1000000) AS i WITH i WHERE reduce(a = 0, j IN range(1, 40) | a + j * i) % 7 = 3 RETURN count(*) AS n",
    );
    let long = {
        let (addr, slow) = (addr.clone(), slow.clone());
        std::thread::spawn(move || send(&addr, "POST", "/v1/kbs/demo/graph/query", None, &slow))
    };
    std::thread::sleep(Duration::from_millis(300));
    // A write queues behind the query's read lock, and a read queues behind the write.
    let write = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let vote = br#"{"question": "q", "answer": "a", "verdict": "up"}"#;
            send(&addr, "POST", "/v1/kbs/demo/feedback", None, vote)
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    // The reader's own deadline is 2 s: it must be served within it, because the query
    // ahead of it stops at its deadline (about 1 s from now) and releases the lock.
    let (status, _, read_took) = send(&addr, "GET", "/v1/kbs/demo/documents", None, b"");
    assert_eq!(status, 200, "a reader queued behind a timed-out query was served");
    assert!(read_took < Duration::from_secs(2), "a reader waited {read_took:?} (deadline 2 s)");
    let (status, out, took) = long.join().unwrap();
    // Stopped at its deadline (504); an optimised build runs fast enough to reach the
    // 50 M evaluation-step limit first (400): either way the query is stopped.
    assert!(status == 504 || (status == 400 && out.contains("evaluation steps exceeded")), "{out}");
    assert!(took < Duration::from_secs(4), "the 504 came after {took:?}");
    assert_eq!(write.join().unwrap().0, 200, "the queued write went through");

    // The stopped query no longer burns CPU.
    std::thread::sleep(Duration::from_secs(1));
    let pid = server.child.id();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.3, "the server used {used:.2} s of CPU in the second after the timeout");
    server.assert_healthy("the timed-out query");
}

/// SIGTERM stops a busy server within its shutdown grace: the work in flight is
/// cancelled, not waited for.
#[cfg(unix)]
#[test]
fn sigterm_stops_a_busy_server_within_its_grace() {
    let mut server = Server::start(&["--timeout", "600", "--shutdown-grace", "1"]);
    let addr = server.addr.clone();
    let slow = json(
        "UNWIND range(1, 1000000) AS i WITH i WHERE reduce(a = 0, j IN range(1, 40) | a + j * i) % 7 = 3 RETURN count(*) AS n",
    );
    let busy = std::thread::spawn(move || send(&addr, "POST", "/v1/kbs/demo/graph/query", None, &slow));
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(8), "a busy server did not stop within its grace");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let (code, _, _) = busy.join().unwrap();
    assert_ne!(code, 200, "the cancelled query did not complete");
}
