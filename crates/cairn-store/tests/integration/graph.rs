//! The knowledge graph on every backend (the conformance suite's graph part): writes
//! persist, a failed query leaves nothing behind, two processes that write one graph never
//! overwrite each other, a follower sees the other's writes, and a copy between backends
//! reads back identical.

use cairn_graph::{GraphDb, Params, Value};

use crate::conformance::{Target, targets};

fn graph(t: &Target) -> GraphDb {
    let store = t.open();
    GraphDb::open_on(store.connect_another("graph.sqlite").unwrap()).unwrap_or_else(|e| panic!("{}: {e}", t.name))
}

fn names(db: &GraphDb, label: &str) -> Vec<String> {
    let r = db.query(&format!("MATCH (n:{label}) RETURN n.name ORDER BY n.name"), &Params::new()).unwrap();
    r.rows.iter().map(|row| format!("{:?}", row[0])).collect()
}

const SEED: &str = "CREATE (w:Drug {name: 'warfarin', 名称: '华法林', fraction: 0.85, tags: ['anticoagulant']}),
    (e:Enzyme {name: 'CYP2C9'}), (w)-[:METABOLIZED_BY {fraction: 0.85, cites: ['p-1']}]->(e)";

#[test]
fn graph_writes_persist_with_their_values() {
    for t in targets() {
        let mut db = graph(&t);
        db.execute(SEED, &Params::new()).unwrap();
        db.create_index("Drug", "name").unwrap();
        drop(db);
        let db = graph(&t);
        assert_eq!((db.graph().node_count(), db.graph().rel_count()), (2, 1), "{}", t.name);
        let r = db
            .query(
                "MATCH (d:Drug)-[m:METABOLIZED_BY]->(e) RETURN d.名称, d.fraction, m.cites, e.name, d.tags",
                &Params::new(),
            )
            .unwrap();
        assert_eq!(
            r.rows[0],
            vec![
                Value::from("华法林"),
                Value::Float(0.85),
                Value::List(vec![Value::from("p-1")]),
                Value::from("CYP2C9"),
                Value::List(vec![Value::from("anticoagulant")])
            ],
            "{}",
            t.name
        );
        assert_eq!(db.rows().unwrap().indexes, vec![("Drug".to_owned(), "name".to_owned())], "{}", t.name);
    }
}

#[test]
fn a_failed_graph_query_rolls_back_everything_it_wrote() {
    for t in targets() {
        let mut db = graph(&t);
        db.execute(SEED, &Params::new()).unwrap();
        let before = db.rows().unwrap();
        // Creates a node, then fails deleting a node that still has a relationship.
        let e = db
            .execute(
                "CREATE (:Drug {name: 'aspirin'}) WITH 1 AS x MATCH (w:Drug {name: 'warfarin'}) DELETE w",
                &Params::new(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("DETACH"), "{}: {e}", t.name);
        assert_eq!(names(&db, "Drug"), ["String(\"warfarin\")"], "{}: nothing stays in memory", t.name);
        let after = db.rows().unwrap();
        assert_eq!((after.nodes, after.rels), (before.nodes, before.rels), "{}: nothing reached the store", t.name);
        drop(db);
        assert_eq!(graph(&t).graph().node_count(), 2, "{}", t.name);
    }
}

#[test]
fn two_writers_never_overwrite_each_other_and_a_follower_sees_both() {
    for t in targets() {
        let mut a = graph(&t);
        let mut b = graph(&t);
        a.execute("CREATE (:Drug {name: 'warfarin'})", &Params::new()).unwrap();
        // B loaded before A wrote: its write conflicts, B reloads and runs it again, so
        // it gets a fresh node ID instead of overwriting A's node.
        b.execute("CREATE (:Drug {name: 'aspirin'})", &Params::new()).unwrap();
        assert_eq!(names(&b, "Drug"), ["String(\"aspirin\")", "String(\"warfarin\")"], "{}", t.name);
        assert!(a.refresh().unwrap(), "{}: A sees that the graph moved", t.name);
        assert_eq!(names(&a, "Drug"), names(&b, "Drug"), "{}", t.name);
        assert!(!a.refresh().unwrap(), "{}: nothing moved since", t.name);
        assert_eq!(a.generation(), b.generation());
        let reopened = graph(&t);
        assert_eq!(reopened.graph().node_count(), 2, "{}", t.name);
    }
}

#[test]
fn a_graph_copies_between_backends_and_reads_back_identical() {
    let all = targets();
    let source = &all[0];
    let mut src = graph(source);
    src.execute(SEED, &Params::new()).unwrap();
    let note = Params::from([("note".to_owned(), Value::from("it's \"quoted\"\n多行"))]);
    src.execute("MATCH (n:Enzyme) SET n.note = $note", &note).unwrap();
    src.create_index("Enzyme", "name").unwrap();
    let rows = src.rows().unwrap();
    let mut previous = src;
    for t in all.iter().skip(1).chain(std::iter::once(source)) {
        let mut dst = graph(t);
        if t.name == source.name {
            // Back into a fresh SQLite graph.
            let fresh = tempfile::tempdir().unwrap();
            let mut back = GraphDb::open(&fresh.path().join("graph.sqlite")).unwrap();
            let copied = back.copy_from(&previous).unwrap();
            assert_eq!(
                (copied.nodes, copied.rels, copied.indexes),
                (rows.nodes.clone(), rows.rels.clone(), rows.indexes.clone())
            );
            break;
        }
        let copied = dst.copy_from(&previous).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(copied.nodes, rows.nodes, "{}", t.name);
        assert_eq!(dst.rows().unwrap().rels, rows.rels, "{}", t.name);
        let r = dst.query("MATCH (n:Enzyme) RETURN n.note", &Params::new()).unwrap();
        assert_eq!(r.rows[0][0], Value::from("it's \"quoted\"\n多行"), "{}", t.name);
        previous = dst;
    }
}
