//! Semantics the TCK does not cover: shortest paths on diamonds and cycles, trail
//! semantics versus walks, limits on hostile queries, parameters as data.

use cairn_graph::{GraphDb, GraphError, Limits, Params, Value};

fn db(create: &str) -> GraphDb {
    let mut db = GraphDb::in_memory();
    db.execute(create, &Params::new()).unwrap();
    db
}

fn rows(db: &GraphDb, q: &str) -> Vec<Vec<Value>> {
    db.query(q, &Params::new()).unwrap_or_else(|e| panic!("{q}: {e}")).rows
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

const DIAMOND: &str =
    "CREATE (a:N {name: 'a'}), (b:N {name: 'b'}), (c:N {name: 'c'}), (d:N {name: 'd'}), (e:N {name: 'e'}),
    (a)-[:R]->(b), (a)-[:R]->(c), (b)-[:R]->(d), (c)-[:R]->(d), (d)-[:R]->(e)";

#[test]
fn shortest_path_on_a_diamond() {
    let db = db(DIAMOND);
    let r = rows(
        &db,
        "MATCH (a {name: 'a'}), (e {name: 'e'}) MATCH p = shortestPath((a)-[:R*]->(e)) RETURN length(p), [n IN nodes(p) | n.name]",
    );
    assert_eq!(r.len(), 1, "one shortest path per pair");
    assert_eq!(int(&r[0][0]), 3);
    let r = rows(
        &db,
        "MATCH (a {name: 'a'}), (e {name: 'e'}) MATCH p = allShortestPaths((a)-[:R*]->(e)) RETURN [n IN nodes(p) | n.name] AS names ORDER BY names",
    );
    let names: Vec<Value> = r.into_iter().map(|mut row| row.remove(0)).collect();
    let want = |v: &[&str]| Value::List(v.iter().map(|s| Value::from(*s)).collect());
    assert_eq!(names, vec![want(&["a", "b", "d", "e"]), want(&["a", "c", "d", "e"])]);
    // Against the direction there is no path; OPTIONAL MATCH gives null.
    let r =
        rows(&db, "MATCH (a {name: 'a'}), (e {name: 'e'}) OPTIONAL MATCH p = shortestPath((e)-[:R*]->(a)) RETURN p");
    assert_eq!(r, vec![vec![Value::Null]]);
    // Undirected, a bound on length, and the expression form.
    let r = rows(&db, "MATCH (b {name: 'b'}), (c {name: 'c'}) RETURN length(shortestPath((b)-[*]-(c))) AS l");
    assert_eq!(int(&r[0][0]), 2);
    let r = rows(&db, "MATCH (a {name: 'a'}), (e {name: 'e'}) MATCH p = shortestPath((a)-[*..2]->(e)) RETURN p");
    assert!(r.is_empty(), "no path within 2 hops");
}

#[test]
fn shortest_path_on_a_cycle() {
    // a → b → c → a, and c → d: the directed shortest a→d goes round; undirected it is 2.
    let db =
        db("CREATE (a {name: 'a'})-[:R]->(b {name: 'b'})-[:R]->(c {name: 'c'})-[:R]->(a), (c)-[:R]->(d {name: 'd'})");
    let r = rows(
        &db,
        "MATCH (a {name: 'a'}), (d {name: 'd'}) RETURN length(shortestPath((a)-[*]->(d))) AS directed, length(shortestPath((a)-[*]-(d))) AS undirected",
    );
    assert_eq!((int(&r[0][0]), int(&r[0][1])), (3, 2));
    let r = rows(&db, "MATCH (a {name: 'a'}), (d {name: 'd'}) MATCH p = allShortestPaths((a)-[*]-(d)) RETURN count(p)");
    assert_eq!(int(&r[0][0]), 1);
    // A node is not its own shortest path unless zero length is allowed.
    let r = rows(&db, "MATCH (a {name: 'a'}) MATCH p = shortestPath((a)-[*0..]->(a)) RETURN length(p)");
    assert_eq!(int(&r[0][0]), 0);
}

#[test]
fn trail_semantics_never_reuse_a_relationship() {
    // On a directed triangle, walks are unbounded; trails of length 1..6 from each node
    // are exactly the three paths of length 1, 2 and 3 (kuzu's walk semantics would
    // count every length up to 6).
    let db = db("CREATE (a {name: 'a'})-[:R]->(b {name: 'b'})-[:R]->(c {name: 'c'})-[:R]->(a)");
    let r = rows(&db, "MATCH p = (x)-[:R*1..6]->(y) RETURN count(p)");
    assert_eq!(int(&r[0][0]), 9);
    // Uniqueness spans the whole MATCH, across pattern parts.
    let r = rows(&db, "MATCH (x)-[r1]->(y), (z)-[r2]->(w) RETURN count(*)");
    assert_eq!(int(&r[0][0]), 6, "3 × 2 ordered pairs of distinct relationships");
    // But not across clauses.
    let r = rows(&db, "MATCH (x)-[r1]->(y) MATCH (z)-[r2]->(w) RETURN count(*)");
    assert_eq!(int(&r[0][0]), 9);
}

#[test]
fn hostile_queries_hit_limits_not_the_machine() {
    let mut db = GraphDb::in_memory();
    db.set_limits(Limits { max_steps: 2_000_000, max_rows: 100_000, ..Limits::default() });
    let e =
        db.query("UNWIND range(1, 1000) AS x UNWIND range(1, 1000) AS y RETURN count(*)", &Params::new()).unwrap_err();
    assert!(matches!(e, GraphError::Limit { what: "rows", .. }), "{e}");
    // A complete graph on 12 nodes has astronomically many trails.
    db.execute("UNWIND range(1, 12) AS i CREATE (:K {i: i})", &Params::new()).unwrap();
    db.execute("MATCH (a:K), (b:K) WHERE a <> b CREATE (a)-[:E]->(b)", &Params::new()).unwrap();
    let e = db.query("MATCH p = (:K)-[:E*]->(:K) RETURN count(p)", &Params::new()).unwrap_err();
    assert!(matches!(e, GraphError::Limit { .. }), "{e}");
    let deep = format!("RETURN {}1{}", "[".repeat(500), "]".repeat(500));
    assert!(matches!(db.query(&deep, &Params::new()), Err(GraphError::Compile(_))));
    // The graph is still fine afterwards.
    assert_eq!(int(&db.query("MATCH (k:K) RETURN count(k)", &Params::new()).unwrap().rows[0][0]), 12);
}

#[test]
fn parameters_are_data_never_query_text() {
    let mut db = db("CREATE (:Drug {name: 'warfarin'}), (:Drug {name: 'aspirin'})");
    let hostile = "x'}) DETACH DELETE d //";
    let params = Params::from([("name".to_owned(), Value::from(hostile))]);
    let r = db.execute("MATCH (d:Drug {name: $name}) RETURN d", &params).unwrap();
    assert!(r.rows.is_empty());
    let r = db.execute("CREATE (d:Drug {name: $name}) RETURN d.name", &params).unwrap();
    assert_eq!(r.rows[0][0], Value::from(hostile));
    assert_eq!(int(&rows(&db, "MATCH (d:Drug) RETURN count(d)")[0][0]), 3);
    let e = db.query("MATCH (d:Drug {name: $missing}) RETURN d", &Params::new()).unwrap_err();
    assert!(matches!(e, GraphError::Compile(_) | GraphError::MissingParameter { .. }), "{e}");
}

#[test]
fn read_only_entry_points_refuse_writes_before_running() {
    let db = db("CREATE (:A)");
    for q in ["CREATE (n)", "MATCH (n) SET n.x = 1", "MATCH (n) DETACH DELETE n", "MERGE (n:B)", "MATCH (n) REMOVE n:A"]
    {
        assert!(matches!(db.query(q, &Params::new()), Err(GraphError::ReadOnly { .. })), "{q}");
    }
    assert_eq!(int(&rows(&db, "MATCH (n) RETURN count(n)")[0][0]), 1);
}

#[test]
fn explain_describes_without_running() {
    let mut db = GraphDb::in_memory();
    let r = db
        .execute(
            "EXPLAIN MATCH (a:Drug {name: 'x'})-[:INHIBITS*1..2]->(e) RETURN e.name ORDER BY e.name LIMIT 3",
            &Params::new(),
        )
        .unwrap();
    let ops: Vec<String> = r.rows.iter().map(|row| format!("{:?}", row[1])).collect();
    let text = ops.join(" ");
    for op in ["NodeIndexSeekOrLabelScan", "VarLengthExpand(trail)", "Projection", "Sort", "Limit", "ProduceResults"] {
        assert!(text.contains(op), "{op} missing from {text}");
    }
    let r = db.execute("EXPLAIN CREATE (n:X)", &Params::new()).unwrap();
    assert!(!r.rows.is_empty());
    assert_eq!(db.graph().node_count(), 0, "EXPLAIN does not run");
}

#[test]
fn errors_point_at_the_query_text() {
    let db = GraphDb::in_memory();
    let e = db.query("MATCH (a)\nRETURN a.", &Params::new()).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = db.query("MATCH (a)\nRETURN a, b", &Params::new()).unwrap_err();
    assert_eq!(e.tck_kind(), ("SyntaxError", Some("UndefinedVariable")));
    assert!(e.to_string().contains("line 2, column 11"), "{e}");
}
