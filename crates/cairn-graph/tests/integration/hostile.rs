//! Hostile queries stop with a named limit, never with an abort: values are weighed as
//! they are built, work that grows with a value costs steps, and a deadline stops a query
//! whose caller gave up. Each query here aborted or ran for minutes before metering.

use std::time::{Duration, Instant};

use cairn_core::deadline::{self, Deadline, Expired};
use cairn_graph::{GraphDb, GraphError, Params};

fn refused(db: &GraphDb, q: &str) -> GraphError {
    match db.query(q, &Params::new()) {
        Ok(r) => panic!("{q} ran to the end: {:?}", r.rows),
        Err(e) => e,
    }
}

fn limit_name(e: &GraphError) -> &'static str {
    match e {
        GraphError::Limit { what, .. } => what,
        other => panic!("expected a resource limit, got {other}"),
    }
}

#[test]
fn a_doubling_string_stops_at_the_value_limit() {
    // 2^40 bytes if built: the process used to abort on the allocation.
    let e = refused(&GraphDb::in_memory(), "RETURN size(reduce(s = 'ab', i IN range(1, 40) | s + s)) AS n");
    assert_eq!(limit_name(&e), "bytes in one value");
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn deep_nesting_stops_at_the_depth_limit() {
    // 200,000 levels used to overflow the stack while building, copying or dropping.
    let e = refused(&GraphDb::in_memory(), "RETURN size(reduce(l = [], i IN range(1, 200000) | [l])) AS n");
    assert_eq!(limit_name(&e), "nesting depth");
    let e = refused(&GraphDb::in_memory(), "RETURN reduce(m = {}, i IN range(1, 1000) | {m: m}) AS n");
    assert_eq!(limit_name(&e), "nesting depth");
}

#[test]
fn nesting_within_the_limit_is_fine() {
    let db = GraphDb::in_memory();
    let r = db.query("RETURN size(reduce(l = [], i IN range(1, 50) | [l])) AS n", &Params::new()).unwrap();
    assert_eq!(r.rows[0][0], cairn_graph::Value::Int(1));
}

#[test]
fn membership_in_a_large_list_costs_steps() {
    // Used to run for more than eight minutes at no cost in steps.
    let e = refused(
        &GraphDb::in_memory(),
        "UNWIND range(1, 1000000) AS i WITH i WHERE -1 IN range(1, 1000000) RETURN count(*) AS n",
    );
    assert_eq!(limit_name(&e), "evaluation steps");
}

#[test]
fn multiplying_functions_are_refused_before_they_allocate() {
    let db = GraphDb::in_memory();
    let big = "reduce(s = 'abcdefgh', i IN range(1, 20) | s + s)"; // 8 MiB
    let e = refused(&db, &format!("RETURN size(replace({big}, 'a', {big})) AS n"));
    assert_eq!(limit_name(&e), "bytes in one value");
    let e = refused(&db, &format!("RETURN size(split({big}, '')) AS n"));
    assert_eq!(limit_name(&e), "bytes in one value");
}

#[test]
fn regexes_are_compiled_once_and_under_a_size_limit() {
    let db = GraphDb::in_memory();
    let r = db.query(
        "UNWIND range(1, 20000) AS i WITH i WHERE toString(i) =~ '1[0-9]*7' RETURN count(*) AS n",
        &Params::new(),
    );
    let n = r.unwrap().rows[0][0].clone();
    let expected = (1..=20000)
        .filter(|i| {
            let s = i.to_string();
            s.starts_with('1') && s.ends_with('7')
        })
        .count();
    assert_eq!(n, cairn_graph::Value::Int(expected as i64));
    let e = refused(&db, "RETURN 'a' =~ 'a{1000}{1000}' AS m");
    assert!(e.to_string().contains("regex"), "{e}");
}

#[test]
fn a_passed_deadline_stops_a_long_query_within_milliseconds() {
    let db = GraphDb::in_memory();
    let q = "UNWIND range(1, 1000000) AS i WITH i WHERE i % 7 = 3 RETURN count(*) AS n";
    let started = Instant::now();
    let outcome =
        deadline::scope(Deadline::at(Instant::now() + Duration::from_millis(50)), || db.query(q, &Params::new()));
    let took = started.elapsed();
    match outcome {
        Err(GraphError::Expired(Expired::DeadlinePassed)) => {}
        other => panic!("expected the deadline to stop the query, got {other:?}"),
    }
    assert!(took < Duration::from_secs(2), "stopped after {took:?}");
    // The same query without a deadline finishes.
    assert!(db.query(q, &Params::new()).is_ok());
}

#[test]
fn a_cancelled_write_leaves_the_graph_as_it_was() {
    let mut db = GraphDb::in_memory();
    db.execute("CREATE (:N {v: 1})", &Params::new()).unwrap();
    let server = Deadline::none();
    server.cancel();
    let outcome =
        deadline::scope(server, || db.execute("UNWIND range(1, 100000) AS i CREATE (:N {v: i})", &Params::new()));
    assert!(matches!(outcome, Err(GraphError::Expired(Expired::Cancelled))), "{outcome:?}");
    let r = db.query("MATCH (n:N) RETURN count(n) AS c", &Params::new()).unwrap();
    assert_eq!(r.rows[0][0], cairn_graph::Value::Int(1));
}
