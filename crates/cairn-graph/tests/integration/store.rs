//! Persistence, transactions and import/export.

use cairn_graph::import::Importer;
use cairn_graph::{GraphDb, GraphError, Params, Value};

fn count(db: &GraphDb, q: &str) -> i64 {
    match &db.query(q, &Params::new()).unwrap().rows[0][0] {
        Value::Int(i) => *i,
        other => panic!("{other:?}"),
    }
}

#[test]
fn writes_persist_and_failed_queries_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.sqlite");
    {
        let mut db = GraphDb::open(&path).unwrap();
        db.create_index("Drug", "name").unwrap();
        db.execute(
            "CREATE (s:Drug {name: 'simvastatin', zh: '辛伐他汀', ratio: 0.5, tags: ['statin']})-[:METABOLIZED_BY {fraction: 'major'}]->(:Enzyme {name: 'CYP3A4'})",
            &Params::new(),
        )
        .unwrap();
        // A statement that fails half way rolls back, in memory and on disk.
        let e = db.execute("MATCH (s:Drug) CREATE (:Extra) WITH s DELETE s", &Params::new()).unwrap_err();
        assert!(matches!(e, GraphError::DeleteConnectedNode { .. }), "{e}");
        assert_eq!(count(&db, "MATCH (n:Extra) RETURN count(n)"), 0);
        db.execute("MATCH (s:Drug) SET s.checked = true", &Params::new()).unwrap();
    }
    let db = GraphDb::open(&path).unwrap();
    assert_eq!(db.graph().node_count(), 2);
    assert_eq!(db.graph().rel_count(), 1);
    let r = db
        .query(
            "MATCH (s:Drug {name: 'simvastatin'})-[m]->(e) RETURN s.zh, s.ratio, s.tags, s.checked, m.fraction, e.name",
            &Params::new(),
        )
        .unwrap();
    assert_eq!(
        r.rows[0],
        vec![
            Value::from("辛伐他汀"),
            Value::Float(0.5),
            Value::List(vec![Value::from("statin")]),
            Value::Bool(true),
            Value::from("major"),
            Value::from("CYP3A4")
        ]
    );
    assert_eq!(
        db.graph().lookup("Drug", "name", &Value::from("simvastatin")).map(|v| v.len()),
        Some(1),
        "index reloaded"
    );
    assert_eq!(count(&db, "MATCH (n:Extra) RETURN count(n)"), 0);
}

const JSONL: &str = r#"{"node": "Drug", "id": "simvastatin", "name": "simvastatin"}
{"node": ["Drug", "Antibiotic"], "id": "clarithromycin", "name": "clarithromycin"}
{"node": "Enzyme", "id": "CYP3A4", "name": "CYP3A4"}
{"rel": "METABOLIZED_BY", "from": "simvastatin", "to": "CYP3A4", "fraction": "major"}
{"rel": "INHIBITS", "from": "clarithromycin", "to": "CYP3A4", "strength": "strong"}
"#;

#[test]
fn jsonl_import_export_round_trip() {
    let mut db = GraphDb::in_memory();
    let report = db.transaction(|g, j| Importer::new().jsonl(g, j, "drugs.jsonl", JSONL)).unwrap();
    assert_eq!((report.nodes, report.relationships), (3, 2));
    assert_eq!(count(&db, "MATCH (:Drug)-[:INHIBITS {strength: 'strong'}]->(:Enzyme) RETURN count(*)"), 1);
    let mut out = Vec::new();
    cairn_graph::import::export_jsonl(db.graph(), &mut out).unwrap();
    let mut again = GraphDb::in_memory();
    again.transaction(|g, j| Importer::new().jsonl(g, j, "export", std::str::from_utf8(&out).unwrap())).unwrap();
    let q = "MATCH (a)-[r]->(b) RETURN a.name, type(r), b.name, labels(a) ORDER BY a.name";
    assert_eq!(db.query(q, &Params::new()).unwrap().rows, again.query(q, &Params::new()).unwrap().rows);
    // APOC's export lines import too.
    let apoc = r#"{"type":"node","id":"0","labels":["User"],"properties":{"name":"Ann"}}
{"type":"node","id":"1","labels":["User"],"properties":{"name":"Bob"}}
{"type":"relationship","id":"0","label":"KNOWS","start":{"id":"0"},"end":{"id":"1"},"properties":{"since":2020}}"#;
    let mut neo = GraphDb::in_memory();
    neo.transaction(|g, j| Importer::new().jsonl(g, j, "apoc", apoc)).unwrap();
    assert_eq!(
        count(&neo, "MATCH (:User {name: 'Ann'})-[:KNOWS {since: 2020}]->(:User {name: 'Bob'}) RETURN count(*)"),
        1
    );
}

#[test]
fn csv_import_in_neo4j_admin_style() {
    let nodes = "personId:ID,name,age:int,score:float,langs:string[],:LABEL\np1,Ann,34,1.5,en;zh,Person;Reviewer\np2,\"Bob, Jr.\",28,,en,Person\n";
    let rels = ":START_ID,:END_ID,:TYPE,since:int\np1,p2,KNOWS,2020\n";
    let mut db = GraphDb::in_memory();
    db.transaction(|g, j| {
        let mut imp = Importer::new();
        imp.csv(g, j, "people.csv", nodes, "")?;
        imp.csv(g, j, "knows.csv", rels, "")?;
        Ok(imp.report)
    })
    .unwrap();
    let r = db
        .query(
            "MATCH (a:Reviewer)-[k:KNOWS]->(b) RETURN a.age, a.score, a.langs, b.name, k.since, b.score",
            &Params::new(),
        )
        .unwrap();
    assert_eq!(
        r.rows[0],
        vec![
            Value::Int(34),
            Value::Float(1.5),
            Value::List(vec![Value::from("en"), Value::from("zh")]),
            Value::from("Bob, Jr."),
            Value::Int(2020),
            Value::Null
        ]
    );
}

#[test]
fn malformed_imports_name_the_line_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.sqlite");
    let mut db = GraphDb::open(&path).unwrap();
    db.execute("CREATE (:Keep)", &Params::new()).unwrap();
    let bad = "{\"node\": \"A\", \"id\": \"a\"}\n{\"rel\": \"T\", \"from\": \"a\", \"to\": \"nowhere\"}\n";
    let e = db.transaction(|g, j| Importer::new().jsonl(g, j, "bad.jsonl", bad)).unwrap_err();
    assert!(e.to_string().contains("bad.jsonl:2"), "{e}");
    let e =
        db.transaction(|g, j| Importer::new().jsonl(g, j, "bad.jsonl", "{\"node\": \"A\"}\nnot json\n")).unwrap_err();
    assert!(e.to_string().contains("bad.jsonl:2"), "{e}");
    let e = db.transaction(|g, j| Importer::new().csv(g, j, "n.csv", "id:ID,age:int\nx,old\n", "A")).unwrap_err();
    assert!(e.to_string().contains("n.csv:2"), "{e}");
    drop(db);
    let db = GraphDb::open(&path).unwrap();
    assert_eq!(db.graph().node_count(), 1, "only the node from before");
}
