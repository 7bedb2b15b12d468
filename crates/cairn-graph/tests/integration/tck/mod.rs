//! The openCypher TCK, run from its own `.feature` files (fetched by
//! `scripts/fetch-data.sh` from the `open-cypher` crate, which vendors TCK 2024.3
//! unmodified). Scenarios listed in `tests/tck-allow.txt` must pass; folders claimed
//! there must pass at least 90% of their scenarios, a skipped scenario counting as not
//! passed. `CAIRN_TCK_BLESS=1` rewrites the allow-list from the current results.

mod gherkin;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cairn_graph::{GraphDb, GraphError, Limits, Params, QueryResult, Value};

use self::gherkin::{Scenario, Step};
use self::values::{Tv, bag_equal, from_value};

#[derive(Debug)]
enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn tck_root() -> Option<PathBuf> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/open-cypher-0.5.0/spec/vendor/openCypher-2024.3/tck");
    root.join("features").is_dir().then_some(root)
}

fn to_value(t: &Tv) -> Value {
    match t {
        Tv::Null => Value::Null,
        Tv::Bool(b) => Value::Bool(*b),
        Tv::Int(i) => Value::Int(*i),
        Tv::Float(f) => Value::Float(*f),
        Tv::Str(s) => Value::String(s.clone()),
        Tv::List(items) => Value::List(items.iter().map(to_value).collect()),
        Tv::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
        Tv::Node(..) | Tv::Rel(..) | Tv::Path(..) => Value::Null,
    }
}

#[derive(Default, PartialEq)]
struct Snapshot {
    nodes: BTreeSet<u64>,
    rels: BTreeSet<u64>,
    labels: BTreeSet<String>,
    props: BTreeSet<String>,
}

fn snapshot(db: &GraphDb) -> Snapshot {
    let g = db.graph();
    let mut s = Snapshot::default();
    for id in g.node_ids() {
        s.nodes.insert(id.0);
        if let Some(n) = g.node(id) {
            s.labels.extend(n.labels.iter().cloned());
            for (k, v) in &n.props {
                s.props.insert(format!("n{} {k} {:?}", id.0, from_value(g, v)));
            }
        }
    }
    for id in g.rel_ids() {
        s.rels.insert(id.0);
        if let Some(r) = g.rel(id) {
            for (k, v) in &r.props {
                s.props.insert(format!("r{} {k} {:?}", id.0, from_value(g, v)));
            }
        }
    }
    s
}

fn effects(before: &Snapshot, after: &Snapshot) -> BTreeMap<&'static str, usize> {
    let d = |a: &BTreeSet<_>, b: &BTreeSet<_>| a.difference(b).count();
    BTreeMap::from([
        ("+nodes", d(&after.nodes, &before.nodes)),
        ("-nodes", d(&before.nodes, &after.nodes)),
        ("+relationships", d(&after.rels, &before.rels)),
        ("-relationships", d(&before.rels, &after.rels)),
        ("+labels", after.labels.difference(&before.labels).count()),
        ("-labels", before.labels.difference(&after.labels).count()),
        ("+properties", after.props.difference(&before.props).count()),
        ("-properties", before.props.difference(&after.props).count()),
    ])
}

fn compare(
    db: &GraphDb,
    got: &QueryResult,
    table: &[Vec<String>],
    ordered: bool,
    unordered_lists: bool,
) -> Result<(), String> {
    let Some(header) = table.first() else { return Err("no header".into()) };
    if *header != got.columns {
        return Err(format!("columns {:?}, expected {:?}", got.columns, header));
    }
    let expected: Vec<Vec<Tv>> = table[1..]
        .iter()
        .map(|row| row.iter().map(|c| values::parse(c)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()?;
    let actual: Vec<Vec<Tv>> = got.rows.iter().map(|r| r.iter().map(|v| from_value(db.graph(), v)).collect()).collect();
    let row_eq =
        |a: &Vec<Tv>, b: &Vec<Tv>| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y, unordered_lists));
    let ok = if ordered {
        expected.len() == actual.len() && expected.iter().zip(&actual).all(|(a, b)| row_eq(a, b))
    } else {
        bag_equal(&expected, &actual, row_eq)
    };
    if ok { Ok(()) } else { Err(format!("rows {actual:?}\nexpected {expected:?}")) }
}

fn error_matches(e: &GraphError, text: &str) -> Result<(), String> {
    // `a TypeError should be raised at runtime: InvalidArgumentType`
    let rest = text.trim_start_matches("a ").trim_start_matches("an ");
    let (kind, rest) = rest.split_once(" should be raised at ").ok_or("bad error step")?;
    let (phase, detail) = rest.split_once(": ").ok_or("bad error step")?;
    let (our_kind, our_detail) = e.tck_kind();
    let compile = matches!(e, GraphError::Compile(_) | GraphError::MissingParameter { .. });
    let phase_ok = match phase {
        "compile time" => compile,
        "runtime" => !compile,
        _ => true,
    };
    if our_kind == kind && phase_ok && (detail == "*" || our_detail == Some(detail)) {
        Ok(())
    } else {
        Err(format!(
            "raised {our_kind}/{our_detail:?} ({}) : {e}, expected {kind} at {phase}: {detail}",
            if compile { "compile" } else { "run" }
        ))
    }
}

fn run(root: &Path, s: &Scenario) -> Outcome {
    if s.tags.iter().any(|t| t == "@ignore") {
        return Outcome::Skip("tagged @ignore in the TCK".into());
    }
    let mut db = GraphDb::in_memory();
    db.set_limits(Limits { max_steps: 20_000_000, max_rows: 2_000_000, ..Limits::default() });
    let mut params = Params::new();
    let mut result: Option<Result<QueryResult, GraphError>> = None;
    let (mut before, mut after) = (Snapshot::default(), Snapshot::default());
    for Step { text, doc, table } in &s.steps {
        let doc = doc.as_deref().unwrap_or("");
        let t = text.as_str();
        if t == "an empty graph" || t == "any graph" {
            continue;
        }
        if let Some(name) = t.strip_prefix("the ").and_then(|r| r.strip_suffix(" graph")) {
            let script = match std::fs::read_to_string(root.join(format!("graphs/{name}/{name}.cypher"))) {
                Ok(s) => s,
                Err(e) => return Outcome::Fail(format!("graph {name}: {e}")),
            };
            for statement in script.split(';').filter(|q| !q.trim().is_empty()) {
                if let Err(e) = db.execute(statement, &Params::new()) {
                    return Outcome::Fail(format!("graph {name}: {e}"));
                }
            }
            continue;
        }
        if t == "having executed:" {
            if let Err(e) = db.execute(doc, &Params::new()) {
                return Outcome::Fail(format!("setup query failed: {e}"));
            }
            continue;
        }
        if t == "parameters are:" {
            for row in table {
                match values::parse(&row[1]) {
                    Ok(v) => {
                        params.insert(row[0].clone(), to_value(&v));
                    }
                    Err(e) => return Outcome::Fail(format!("parameter: {e}")),
                }
            }
            continue;
        }
        if t.starts_with("there exists a procedure") {
            return Outcome::Skip("procedures (CALL) are not supported".into());
        }
        if t == "executing query:" {
            before = snapshot(&db);
            result = Some(db.execute(doc, &params));
            after = snapshot(&db);
            continue;
        }
        if t == "executing control query:" {
            result = Some(db.execute(doc, &params));
            continue;
        }
        let Some(r) = &result else { return Outcome::Fail(format!("step before a query: {t}")) };
        if t.starts_with("the result should be") {
            let got = match r {
                Ok(got) => got,
                Err(e) => return Outcome::Fail(format!("query failed: {e}")),
            };
            let check = if t == "the result should be empty" {
                if got.rows.is_empty() { Ok(()) } else { Err(format!("{} rows, expected none", got.rows.len())) }
            } else {
                let ordered = t.contains("in order");
                let unordered_lists = t.contains("ignoring element order for lists");
                compare(&db, got, table, ordered, unordered_lists)
            };
            if let Err(e) = check {
                return Outcome::Fail(e);
            }
            continue;
        }
        if t.contains(" should be raised at ") {
            match r {
                Ok(_) => return Outcome::Fail(format!("query succeeded, expected: {t}")),
                Err(e) => {
                    if let Err(msg) = error_matches(e, t) {
                        return Outcome::Fail(msg);
                    }
                }
            }
            continue;
        }
        if t == "no side effects" || t == "the side effects should be:" {
            let got = effects(&before, &after);
            let mut want: BTreeMap<&str, usize> = got.keys().map(|k| (*k, 0)).collect();
            for row in table {
                let n = row[1].parse().unwrap_or(usize::MAX);
                if let Some(slot) = want.get_mut(row[0].as_str()) {
                    *slot = n;
                }
            }
            if got != want {
                return Outcome::Fail(format!("side effects {got:?}, expected {want:?}"));
            }
            continue;
        }
        return Outcome::Fail(format!("unknown step: {t}"));
    }
    Outcome::Pass
}

fn folder(file: &str) -> String {
    let p = Path::new(file);
    p.parent().map(|d| d.to_string_lossy().trim_start_matches("features/").to_owned()).unwrap_or_default()
}

fn all_scenarios(root: &Path) -> Vec<Scenario> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "feature") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root.join("features"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        out.extend(gherkin::parse(&rel, &text));
    }
    out
}

#[test]
fn opencypher_tck() {
    let Some(root) = tck_root() else {
        eprintln!("skipping the openCypher TCK: run scripts/fetch-data.sh to fetch it into data/");
        return;
    };
    let scenarios = all_scenarios(&root);
    assert!(scenarios.len() > 3800, "expected the whole TCK, found {} scenarios", scenarios.len());
    let only = std::env::var("CAIRN_TCK_ONLY").ok();
    let mut results: Vec<(Scenario, Outcome)> = Vec::new();
    for s in scenarios {
        if only.as_deref().is_some_and(|o| !s.id().contains(o)) {
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&root, &s)))
            .unwrap_or_else(|_| Outcome::Fail("panicked".into()));
        results.push((s, outcome));
    }
    // Per-folder counts.
    let mut per: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for (s, o) in &results {
        let e = per.entry(folder(&s.file)).or_default();
        match o {
            Outcome::Pass => e.0 += 1,
            Outcome::Fail(_) => e.1 += 1,
            Outcome::Skip(_) => e.2 += 1,
        }
    }
    let allow_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tck-allow.txt");
    let allow = std::fs::read_to_string(&allow_path).unwrap_or_default();
    let claims: Vec<&str> = allow.lines().filter_map(|l| l.strip_prefix("claim ")).map(str::trim).collect();
    let mut summary = String::from("| folder | passed | failed | skipped | claimed |\n|---|---:|---:|---:|---|\n");
    let (mut tp, mut tf, mut ts) = (0, 0, 0);
    for (f, (p, fl, sk)) in &per {
        summary.push_str(&format!(
            "| {f} | {p} | {fl} | {sk} | {} |\n",
            if claims.contains(&f.as_str()) { "yes" } else { "" }
        ));
        tp += p;
        tf += fl;
        ts += sk;
    }
    summary.push_str(&format!("| **all** | **{tp}** | **{tf}** | **{ts}** | |\n"));
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let mut failures = String::new();
    for (s, o) in &results {
        if let Outcome::Fail(m) | Outcome::Skip(m) = o {
            failures.push_str(&format!("{}\n    {}\n", s.id(), m.replace('\n', "\n    ")));
        }
    }
    let _ = std::fs::write(out_dir.join("tck-summary.md"), &summary);
    let _ = std::fs::write(out_dir.join("tck-failures.txt"), &failures);
    eprintln!("{summary}\n(failures: {})", out_dir.join("tck-failures.txt").display());
    if only.is_some() {
        eprintln!("{failures}");
        return;
    }
    if std::env::var("CAIRN_TCK_BLESS").is_ok() {
        let mut text = String::from(
            "# openCypher TCK scenarios Cairn claims (regenerate with CAIRN_TCK_BLESS=1; keep the claim lines).\n",
        );
        for c in &claims {
            text.push_str(&format!("claim {c}\n"));
        }
        for (s, o) in &results {
            if matches!(o, Outcome::Pass) {
                text.push_str(&s.id());
                text.push('\n');
            }
        }
        let _ = std::fs::write(&allow_path, text);
    }
    // No regression in the allow-list.
    let passed: BTreeSet<String> =
        results.iter().filter(|(_, o)| matches!(o, Outcome::Pass)).map(|(s, _)| s.id()).collect();
    let regressions: Vec<&str> = allow
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("claim ") && !l.trim().is_empty())
        .filter(|l| !passed.contains(*l))
        .collect();
    assert!(regressions.is_empty(), "TCK regressions:\n{}", regressions.join("\n"));
    // Claimed folders pass at least 90%.
    for c in &claims {
        let (p, f, s) = per.get(*c).copied().unwrap_or_default();
        let total = p + f + s;
        assert!(total > 0 && p * 10 >= total * 9, "claimed folder {c}: {p}/{total} passed");
    }
    // The variable-length files pass in full.
    for file in ["Match4.feature", "Match5.feature"] {
        let bad: Vec<String> = results
            .iter()
            .filter(|(s, o)| s.file.ends_with(file) && !matches!(o, Outcome::Pass))
            .map(|(s, _)| s.id())
            .collect();
        assert!(bad.is_empty(), "{file} must pass in full: {bad:?}");
    }
}
