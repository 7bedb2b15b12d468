//! The binary on PostgreSQL and MariaDB (`--store URL`): the demo knowledge base copied in
//! and out with every node identical, and two processes with their own folders sharing one
//! server store: what one ingests or edits, the other answers from, cited and verified.
//! Needs `CAIRN_TEST_POSTGRES` / `CAIRN_TEST_MYSQL` (`scripts/services.sh --env`); skips
//! with a message without them, fails under `CAIRN_REQUIRE_SERVERS=1`.

use crate::{cairn, run_ok, snapshot};

struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = cairn_store::server::drop_database(&self.admin, &self.name);
    }
}

fn servers(tag: &str) -> Vec<(&'static str, Db)> {
    let require = std::env::var("CAIRN_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    let mut out = Vec::new();
    for (name, var) in [("postgres", "CAIRN_TEST_POSTGRES"), ("mysql", "CAIRN_TEST_MYSQL")] {
        let Ok(admin) = std::env::var(var) else {
            assert!(!require, "CAIRN_REQUIRE_SERVERS=1 but {var} is not set");
            eprintln!("skipping {name}: {var} is not set (eval \"$(scripts/services.sh --env)\")");
            continue;
        };
        let db = format!("cairn_cli{}_{tag}_{name}", std::process::id());
        let _ = cairn_store::server::drop_database(&admin, &db);
        let url = cairn_store::server::create_database(&admin, &db).unwrap();
        out.push((name, Db { admin, name: db, url }));
    }
    out
}

#[test]
fn two_processes_share_a_server_store_and_copies_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    run_ok(cairn(&demo).arg("demo"));
    let original = snapshot(&demo);
    for (name, db) in servers("copy") {
        let copied = run_ok(
            cairn(&demo)
                .args(["kb", "copy", "--from"])
                .arg(format!("sqlite:{}", demo.display()))
                .args(["--to", &db.url]),
        );
        assert!(copied.contains("verified: 2 of 2 document(s) identical"), "{name}: {copied}");
        assert!(copied.contains("the graph reads back identical"), "{name}: {copied}");
        let count = "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes, count(r) AS rels";
        let local = run_ok(cairn(&demo).args(["graph", "query", count, "--json"]));
        let served = run_ok(
            cairn(&dir.path().join(format!("{name}-graph")))
                .args(["--store", &db.url, "graph", "query", count, "--json"]),
        );
        assert_eq!(served, local, "{name}: the demo's graph, copied into the server store");
        let graph_nodes: usize = copied
            .split("a graph of ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(graph_nodes > 100, "{name}: the demo's pharmacology graph was copied: {copied}");
        // Two replicas: their own folders, one store.
        let a = dir.path().join(format!("{name}-a"));
        let b = dir.path().join(format!("{name}-b"));
        let note = dir.path().join("ward-note.md");
        std::fs::write(&note, "# Ward note\n\nPatients on warfarin need their INR checked twice weekly.\n").unwrap();
        run_ok(cairn(&a).args(["--store", &db.url, "ingest"]).arg(&note));
        let json =
            run_ok(cairn(&b).args(["--store", &db.url, "ask", "How often is the INR checked for warfarin?", "--json"]));
        let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(answer["status"], "answered", "{name}: {json}");
        let cited: Vec<&str> = answer["claims"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["citations"].as_array().unwrap())
            .map(|c| c["display"].as_str().unwrap())
            .collect();
        assert!(cited.iter().any(|d| d.starts_with("ward-note:")), "{name}: B cites what A ingested: {cited:?}");
        let first: serde_json::Value =
            serde_json::from_str(&run_ok(cairn(&b).args(["--store", &db.url, "show", "ward-note:1", "--json"])))
                .unwrap();
        let old_id = first["id"].as_str().unwrap().to_owned();
        // A edits the note; B follows the old ID to the new text.
        std::fs::write(&note, "# Ward note\n\nPatients on warfarin need their INR checked every week.\n").unwrap();
        run_ok(cairn(&a).args(["--store", &db.url, "ingest"]).arg(&note));
        let shown: serde_json::Value =
            serde_json::from_str(&run_ok(cairn(&b).args(["--store", &db.url, "show", &old_id, "--json"]))).unwrap();
        assert_eq!(shown["status"], "retired", "{name}: {shown}");
        assert!(shown["current"]["text"].as_str().unwrap().contains("every week"), "{name}: {shown}");
        // And back out into SQLite: the demo documents are identical, node for node.
        let back = dir.path().join(format!("{name}-back"));
        run_ok(cairn(&demo).args(["kb", "copy", "--from", &db.url, "--to"]).arg(format!("sqlite:{}", back.display())));
        let returned: Vec<_> = snapshot(&back).into_iter().filter(|r| r.0 != "ward-note").collect();
        assert_eq!(returned, original, "{name}");
    }
}

/// One HTTP request to a replica: (status, body).
fn send(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

struct Replica {
    child: std::process::Child,
    addr: String,
    _stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Replica {
    fn start(kb: &std::path::Path, store: &str) -> Replica {
        Replica::start_with(kb, store, &[], None)
    }

    fn start_with(kb: &std::path::Path, store: &str, extra: &[&str], failpoint: Option<&str>) -> Replica {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
        if let Some(spec) = failpoint {
            cmd.env("CAIRN_FAILPOINT", spec);
        } else {
            cmd.env_remove("CAIRN_FAILPOINT");
        }
        let mut child = cmd
            .arg("--kb")
            .arg(kb)
            .args(["--store", store, "serve", "--addr", "127.0.0.1:0", "--api-key", "k", "--follow-ms", "100"])
            .args(extra)
            .env("RAYON_NUM_THREADS", "1")
            .env_remove("CAIRN_KB")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, stderr) = crate::mcp::bound_address(&mut child);
        Replica { child, addr, _stderr: stderr }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_document_uploaded_to_one_replica_is_found_and_cited_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in servers("replicas") {
        let a = Replica::start(&dir.path().join(format!("{name}-a")), &db.url);
        let b = Replica::start(&dir.path().join(format!("{name}-b")), &db.url);
        let note = b"# Ward note\n\nPatients on warfarin need their INR checked twice weekly.\n";
        let (status, body) = send(&a.addr, "POST", "/v1/kbs/default/documents?name=ward-note.md", note);
        assert_eq!(status, 200, "{name}: upload to A: {body}");
        let acknowledged = std::time::Instant::now();
        let search = serde_json::to_vec(&serde_json::json!({"query": "INR twice weekly", "mode": "bm25"})).unwrap();
        let found = loop {
            let (status, body) = send(&b.addr, "POST", "/v1/kbs/default/search", &search);
            assert_eq!(status, 200, "{name}: {body}");
            if body.contains("ward-note") {
                break acknowledged.elapsed();
            }
            assert!(acknowledged.elapsed() < std::time::Duration::from_secs(20), "{name}: B never saw the upload");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        eprintln!(
            "{name}: findable on the other replica {:.0} ms after the upload was acknowledged",
            found.as_secs_f64() * 1000.0
        );
        let ask =
            serde_json::to_vec(&serde_json::json!({"question": "How often is the INR checked for warfarin?"})).unwrap();
        let (status, body) = send(&b.addr, "POST", "/v1/kbs/default/ask", &ask);
        assert_eq!(status, 200, "{name}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "answered", "{name}: {body}");
        assert!(body.contains("twice weekly"), "{name}: B answers from A's upload: {body}");
        // A graph write through a third process: B's running replica follows it.
        run_ok(cairn(&dir.path().join(format!("{name}-c"))).args([
            "--store",
            &db.url,
            "graph",
            "query",
            "--write",
            "CREATE (:Ward {name: 'ward 7'})",
        ]));
        let written = std::time::Instant::now();
        let wards = serde_json::to_vec(&serde_json::json!({"query": "MATCH (w:Ward) RETURN w.name AS name"})).unwrap();
        loop {
            let (status, body) = send(&b.addr, "POST", "/v1/kbs/default/graph/query", &wards);
            if status == 200 && body.contains("ward 7") {
                break;
            }
            assert!(
                written.elapsed() < std::time::Duration::from_secs(20),
                "{name}: B never saw the graph write: {body}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("{name}: graph write visible on a replica after {:.0} ms", written.elapsed().as_secs_f64() * 1000.0);
        let (_, health) = send(&b.addr, "GET", "/health", b"");
        let health: serde_json::Value = serde_json::from_str(&health).unwrap();
        let rep = &health["replication"][0];
        assert_eq!(rep["kb"], "default", "{name}: {health}");
        assert!(rep["applied_seq"].as_i64().unwrap() >= 1, "{name}: {health}");
        // A removes it; B stops finding it.
        let (status, body) = send(&a.addr, "DELETE", "/v1/kbs/default/documents/ward-note", b"");
        assert_eq!(status, 200, "{name}: {body}");
        let started = std::time::Instant::now();
        loop {
            let (_, body) = send(&b.addr, "POST", "/v1/kbs/default/search", &search);
            if !body.contains("ward-note") {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{name}: B still serves a removed document"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn a_queued_upload_survives_its_worker_being_killed_mid_write() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in servers("jobs") {
        let a = Replica::start(&dir.path().join(format!("{name}-a")), &db.url);
        // The first worker stops inside the store transaction, half the rows written.
        let mut w1 = Replica::start_with(
            &dir.path().join(format!("{name}-w1")),
            &db.url,
            &["--worker", "--job-stale-s", "1"],
            Some("store.apply.mid_write=pause"),
        );
        let mut doc = String::from("# Ward handbook\n\n");
        for i in 0..40 {
            doc.push_str(&format!(
                "## {i}. Rule {i}\n\nRule {i} of the ward: patients on warfarin need their INR checked.\n\n"
            ));
        }
        let (status, body) =
            send(&a.addr, "POST", "/v1/kbs/default/documents?name=ward-handbook.md&wait=false", doc.as_bytes());
        assert_eq!(status, 202, "{name}: {body}");
        let job: serde_json::Value = serde_json::from_str(&body).unwrap();
        // A worker may already have claimed it by the time the answer is written.
        assert!(job["status"] == "queued" || job["status"] == "running", "{name}: {body}");
        let id = job["id"].as_i64().unwrap();
        let mut line = String::new();
        while !line.contains("failpoint store.apply.mid_write reached") {
            line.clear();
            assert!(w1._stderr.read_line(&mut line).unwrap() > 0, "{name}: the worker exited before the failpoint");
        }
        // Half-written and uncommitted: the other replica shows nothing of it.
        let search = serde_json::to_vec(&serde_json::json!({"query": "ward rule warfarin", "mode": "bm25"})).unwrap();
        let (_, body) = send(&a.addr, "POST", "/v1/kbs/default/search", &search);
        assert!(!body.contains("ward-handbook"), "{name}: a half-applied document is served: {body}");
        let _ = w1.child.kill(); // SIGKILL
        let _ = w1.child.wait();
        // A second worker picks the job up once the first one's heartbeat is stale.
        let _w2 = Replica::start_with(
            &dir.path().join(format!("{name}-w2")),
            &db.url,
            &["--worker", "--job-stale-s", "1"],
            None,
        );
        let started = std::time::Instant::now();
        let done = loop {
            let (status, body) = send(&a.addr, "GET", &format!("/v1/kbs/default/jobs/{id}"), b"");
            assert_eq!(status, 200, "{name}: {body}");
            let job: serde_json::Value = serde_json::from_str(&body).unwrap();
            if job["status"] == "done" {
                break job;
            }
            assert_ne!(job["status"], "failed", "{name}: {body}");
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "{name}: the job never finished: {body}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(done["attempts"], 2, "{name}: {done}");
        assert_eq!(done["result"]["outcome"], "stored", "{name}: {done}");
        let nodes = done["result"]["nodes"].as_u64().unwrap();
        // Replica A follows the store and finds the whole document.
        let started = std::time::Instant::now();
        loop {
            let (_, body) = send(&a.addr, "GET", "/v1/kbs/default/documents/ward-handbook", b"");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
                && v["nodes"].as_array().is_some_and(|n| n.len() as u64 + 1 >= nodes)
            {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{name}: {body}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A TCP proxy in front of the database server that the test can cut and restore: a
/// database restart as a replica sees it, without disturbing other tests.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, live2) = (up.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                let mut held = live2.lock().unwrap();
                held.push(client.try_clone().unwrap());
                held.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, up, live }
    }

    fn set(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            for s in self.live.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[test]
fn a_database_outage_answers_503_fast_and_the_replica_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in servers("outage") {
        let at = db.url.rfind('@').unwrap();
        let slash = at + db.url[at..].find('/').unwrap();
        let proxy = Proxy::start(db.url[at + 1..slash].to_owned());
        let via = format!("{}127.0.0.1:{}{}", &db.url[..=at], proxy.port, &db.url[slash..]);
        let replica = Replica::start(&dir.path().join(name), &via);
        let note = b"# Ward note\n\nPatients on warfarin need their INR checked twice weekly.\n";
        assert_eq!(send(&replica.addr, "POST", "/v1/kbs/default/documents?name=ward-note.md", note).0, 200);
        let ask = serde_json::to_vec(&serde_json::json!({"question": "How often is the INR checked?"})).unwrap();
        assert_eq!(send(&replica.addr, "POST", "/v1/kbs/default/ask", &ask).0, 200, "{name}");

        proxy.set(false);
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let (status, body) = send(&replica.addr, "POST", "/v1/kbs/default/ask", &ask);
            assert_eq!(status, 503, "{name}: {body}");
            assert!(body.contains("store_unavailable"), "{name}: {body}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{name}: failing took {:?}",
                started.elapsed()
            );
        }
        let (status, body) =
            send(&replica.addr, "POST", "/v1/kbs/default/documents?name=other.md", b"# Other\n\nText.\n");
        assert_eq!(status, 503, "{name}: an upload during the outage: {body}");
        assert_eq!(send(&replica.addr, "GET", "/health", b"").0, 200, "{name}: the replica itself stays up");

        proxy.set(true);
        let (status, body) = send(&replica.addr, "POST", "/v1/kbs/default/ask", &ask);
        assert_eq!(status, 200, "{name}: recovered by itself: {body}");
        assert!(body.contains("twice weekly"), "{name}: nothing acknowledged was lost: {body}");
    }
}
