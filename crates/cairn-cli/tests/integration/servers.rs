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

fn servers() -> Vec<(&'static str, Db)> {
    let require = std::env::var("CAIRN_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    let mut out = Vec::new();
    for (name, var) in [("postgres", "CAIRN_TEST_POSTGRES"), ("mysql", "CAIRN_TEST_MYSQL")] {
        let Ok(admin) = std::env::var(var) else {
            assert!(!require, "CAIRN_REQUIRE_SERVERS=1 but {var} is not set");
            eprintln!("skipping {name}: {var} is not set (eval \"$(scripts/services.sh --env)\")");
            continue;
        };
        let db = format!("cairn_cli{}_{name}", std::process::id());
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
    for (name, db) in servers() {
        let copied = run_ok(
            cairn(&demo)
                .args(["kb", "copy", "--from"])
                .arg(format!("sqlite:{}", demo.display()))
                .args(["--to", &db.url]),
        );
        assert!(copied.contains("verified: 2 of 2 document(s) identical"), "{name}: {copied}");
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
