//! Human-readable output.

use std::fmt::Write as _;

use cairn_engine::{Asked, Kb};
use cairn_store::{LiveNode, Resolved, RetiredNode};

/// The answer, its sources and (with `trace`) the scratchpad.
pub fn asked(kb: &Kb, asked: &Asked, trace: bool) -> String {
    let mut out = String::new();
    let display = |id: &cairn_core::StableId| kb.display_of(id).unwrap_or_else(|| id.to_string());
    let _ = writeln!(out, "Q: {}", asked.answer.question());
    match asked.answer.abstention() {
        Some(a) => {
            let _ = writeln!(out, "A: {}", a.reason);
        }
        None => {
            let _ = writeln!(out, "A:");
            for claim in asked.answer.claims() {
                let refs: Vec<String> = claim.citations.iter().map(|c| format!("[{}]", display(&c.id))).collect();
                let _ = writeln!(out, "  {} {}", claim.text, refs.join(""));
            }
            let _ = writeln!(out, "Sources (every quote verified against the stored text):");
            for s in &asked.sources {
                let mut line = format!("  [{}] {}", s.display, s.doc_title);
                for heading in &s.heading_path {
                    let _ = write!(line, " › {heading}");
                }
                if let Some(pages) = s.pages {
                    let _ = write!(line, " ({pages})");
                }
                let _ = writeln!(out, "{line}\n      stable id {}", s.id);
            }
        }
    }
    out.push_str(&graph_evidence(&asked.graph));
    if let Some(llm) = &asked.llm {
        out.push_str(&judge_line(llm));
    }
    if trace {
        out.push_str(&scratchpad(asked));
        if let Some(llm) = &asked.llm {
            out.push_str(&llm_trace(llm));
        }
    }
    out
}

fn judge_line(llm: &cairn_engine::llm::LlmReport) -> String {
    use cairn_engine::llm::JudgeState;
    match &llm.judge {
        JudgeState::NotRun => "Judge: not run (the citation check above is deterministic and always runs).\n".into(),
        JudgeState::Judged { verdict, repaired } => format!(
            "Judge: {} (confidence {:.2}{}): {}\n",
            if verdict.is_accurate { "accurate" } else { "not accurate" },
            verdict.confidence,
            if *repaired { ", after one repair round" } else { "" },
            verdict.explanation
        ),
        JudgeState::Failed { reason } => format!("Judge: FAILED, so this answer is not judged ({reason}).\n"),
    }
}

fn llm_trace(llm: &cairn_engine::llm::LlmReport) -> String {
    let mut out = String::from("Model stages:\n");
    let (mut prompt, mut completion, mut cost) = (0, 0, 0.0);
    for s in &llm.stages {
        let _ = writeln!(
            out,
            "  {:<7} {:<28} {:>3} call(s) {:>7} prompt + {:>5} completion tokens {:>8.0} ms  ${:.5}",
            s.stage,
            truncate(&s.usage.model, 28),
            s.usage.calls,
            s.usage.prompt_tokens,
            s.usage.completion_tokens,
            s.usage.millis,
            s.cost_usd
        );
        prompt += s.usage.prompt_tokens;
        completion += s.usage.completion_tokens;
        cost += s.cost_usd;
    }
    let _ = writeln!(
        out,
        "  total   {prompt} prompt + {completion} completion tokens, ${cost:.5}; the whole documents in scope are {} tokens (what the cookbook sends at depth 0)",
        llm.whole_document_tokens
    );
    if !llm.summary.is_empty() {
        let _ = writeln!(out, "  answer model's summary: {}", llm.summary);
    }
    for r in &llm.repairs {
        let _ = writeln!(out, "  repair: {r}");
    }
    match &llm.cypher {
        Some(Ok(c)) => {
            let _ = writeln!(out, "  text-to-Cypher (read-only, schema-checked): {}", c.query);
            for row in c.rows.iter().take(5) {
                let _ = writeln!(out, "    {}", row.join(" | "));
            }
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "  text-to-Cypher refused: {e}");
        }
        None => {}
    }
    out
}

/// The knowledge-graph part of an answer.
pub fn graph_evidence(g: &cairn_engine::drug::GraphEvidence) -> String {
    let mut out = String::new();
    if g.facts.is_empty() && g.reviews.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Knowledge graph (entities: {}):", g.entities.join(", "));
    for r in &g.reviews {
        let _ = writeln!(out, "  {} + {}: {} — {}", r.a, r.b, r.severity.label(), r.rule);
    }
    for f in &g.facts {
        let _ = writeln!(out, "  {}  [{}] \"{}\"", f.path, f.display, f.citation.quote);
    }
    out
}

/// A drug-interaction review.
pub fn drug_review(r: &cairn_engine::drug::DrugReview) -> String {
    let mut out = String::new();
    let names: Vec<String> = r
        .drugs
        .iter()
        .map(|d| match &d.zh {
            Some(zh) => format!("{} ({zh})", d.name),
            None => d.name.clone(),
        })
        .collect();
    let _ = writeln!(out, "Drug-interaction review: {}", names.join(", "));
    for p in &r.pairs {
        let _ = writeln!(out, "\n{} + {}: {}", p.a, p.b, p.severity.label().to_uppercase());
        let _ = writeln!(out, "  rule: {}", p.rule);
        if let Some(d) = &p.documented {
            let _ = writeln!(out, "  documented: {}\n      [{}] \"{}\"", d.path, d.display, d.citation.quote);
        }
        if p.mechanisms.is_empty() {
            let _ = writeln!(out, "  mechanism paths: none in the graph");
        }
        for m in &p.mechanisms {
            let _ = writeln!(
                out,
                "  mechanism: ({})-[:{}]->({})<-[:{}]-({})  {} ({})",
                m.victim,
                m.facts[0].rel,
                m.target,
                m.facts[1].rel,
                m.perpetrator,
                m.severity.label(),
                m.rule
            );
            for f in &m.facts {
                let _ = writeln!(out, "      {}  [{}] \"{}\"", f.path, f.display, f.citation.quote);
            }
        }
        let _ = writeln!(out, "  explanation: {}", p.explanation);
    }
    for s in &r.stale {
        let _ = writeln!(out, "note: left out {s}");
    }
    let _ = writeln!(out, "\nEvery cited quote was re-checked against the stored handbook text. Not clinical advice.");
    out
}

fn scratchpad(asked: &Asked) -> String {
    let pad = &asked.navigation.scratchpad;
    let mut out = String::from("Navigation trace (scratchpad):\n");
    let _ = writeln!(out, "  query terms: {}", pad.terms.join(", "));
    if !pad.clauses.is_empty() {
        let _ = writeln!(out, "  clauses named: {}", pad.clauses.join(", "));
    }
    for step in &pad.steps {
        let _ = writeln!(
            out,
            "  level {} [{}]: {} candidate(s) offered of {} ({} cut by the lexical pre-filter)",
            step.level,
            step.selector,
            step.considered.len(),
            step.available,
            step.pruned
        );
        for c in &step.considered {
            let mark = if c.picked { "✔" } else { "·" };
            let mut line = format!("    {mark} {:<48} {:>7.2}", truncate(&c.label, 48), c.score);
            if let Some(why) = &c.why {
                let _ = write!(line, "  — {why}");
            } else if !c.matched.is_empty() {
                let _ = write!(line, "  matched {}", c.matched.join(", "));
            }
            let _ = writeln!(out, "{line}");
        }
        if let Some(note) = &step.note {
            let _ = writeln!(out, "    note: {note}");
        }
    }
    for note in &pad.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    let _ = writeln!(out, "  evidence passages:");
    for p in &asked.navigation.passages {
        let _ = writeln!(out, "    {:<16} {:>7.2}  matched {}", p.display, p.score, p.matched.join(", "));
    }
    if let Some(a) = asked.answer.abstention() {
        let _ = writeln!(out, "  abstained: signal {:?} < threshold {:?}", a.signal, a.threshold);
    }
    let _ = writeln!(
        out,
        "  {} chunk(s) evaluated in {} level(s), {:.1} ms",
        asked.navigation.evaluated,
        pad.steps.len(),
        asked.millis
    );
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

/// A resolved node for `cairn show`.
pub fn resolved(resolved: &Resolved) -> String {
    match resolved {
        Resolved::Live(node) => live(node),
        Resolved::Retired(r) => retired(r),
    }
}

fn live(node: &LiveNode) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}, stable id {})", node.display, node.kind, node.id);
    let _ = writeln!(out, "document: {}", node.doc_title);
    if !node.heading_path.is_empty() {
        let _ = writeln!(out, "section:  {}", node.heading_path.join(" › "));
    }
    if let Some(pages) = node.pages {
        let _ = writeln!(out, "pages:    {pages}");
    }
    let _ = writeln!(out, "\n{}", node.text);
    out
}

fn retired(r: &RetiredNode) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} is no longer current: {} in version {} of `{}`.",
        r.id,
        r.reason.as_str(),
        r.version,
        r.doc_key
    );
    let _ = writeln!(
        out,
        "It was {} ({}){}:",
        r.display,
        r.kind,
        r.section.as_ref().map(|s| format!(" in {s}")).unwrap_or_default()
    );
    let _ = writeln!(out, "  {}", r.text);
    match (&r.successor, &r.current) {
        (Some(next), Some(current)) => {
            let _ = writeln!(out, "\nSuccessor: {next}; current text at {} ({}):", current.display, current.id);
            let _ = writeln!(out, "  {}", current.text);
        }
        (Some(next), None) => {
            let _ = writeln!(out, "\nSuccessor: {next} (itself no longer current).");
        }
        (None, _) => {
            let _ = writeln!(out, "\nIt has no successor.");
        }
    }
    out
}

/// The benchmark report.
pub fn bench(r: &cairn_bench::BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "corpus: {} pages in {} documents, {:.1} MB, {} paragraphs",
        r.pages,
        r.documents,
        r.bytes as f64 / 1e6,
        r.paragraphs
    );
    let _ = writeln!(
        out,
        "ingest: {:.2} s = {:.2} MB/s; unchanged re-ingest {:.3} s; peak RSS {:.0} MB",
        r.ingest_seconds, r.ingest_mb_per_s, r.reingest_unchanged_seconds, r.peak_rss_mb
    );
    let _ = writeln!(
        out,
        "ask (navigate + answer + verify): p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms; answered {:.0}%",
        r.ask.p50_ms,
        r.ask.p99_ms,
        r.ask.mean_ms,
        r.answered * 100.0
    );
    let _ = writeln!(
        out,
        "BM25 top-10, Cairn: p50 {:.3} ms, p99 {:.3} ms (index build on the same paragraphs {:.2} s)",
        r.bm25.p50_ms, r.bm25.p99_ms, r.bm25_index_seconds
    );
    match &r.tantivy {
        Some(p) => {
            let _ = writeln!(
                out,
                "BM25 top-10, {}: p50 {:.3} ms, p99 {:.3} ms (index {:.2} s); ratio (peer / Cairn) p50 {:.1}x, p99 {:.1}x, index {:.1}x",
                p.peer,
                p.p50_ms,
                p.p99_ms,
                p.index_seconds,
                p.p50_ms / r.bm25.p50_ms.max(1e-9),
                p.p99_ms / r.bm25.p99_ms.max(1e-9),
                p.index_seconds / r.bm25_index_seconds.max(1e-9)
            );
        }
        None => {
            let _ = writeln!(out, "tantivy peer: {}", r.tantivy_note.as_deref().unwrap_or("not run"));
        }
    }
    match &r.bm25s {
        Some(p) => {
            let _ = writeln!(
                out,
                "BM25 top-10, {}: p50 {:.3} ms, p99 {:.3} ms (index {:.2} s)",
                p.peer, p.p50_ms, p.p99_ms, p.index_seconds
            );
            let _ = writeln!(
                out,
                "ratio (peer / Cairn): p50 {:.1}x, p99 {:.1}x; top-10 overlap {:.0}%",
                p.p50_ms / r.bm25.p50_ms.max(1e-9),
                p.p99_ms / r.bm25.p99_ms.max(1e-9),
                r.top10_overlap.unwrap_or(0.0) * 100.0
            );
        }
        None => {
            let _ = writeln!(out, "bm25s peer: {}", r.peer_note.as_deref().unwrap_or("not run"));
        }
    }
    let mut sorted = r.edit_to_findable_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let _ = writeln!(
        out,
        "edit-to-findable on one {:.1} MB document (first ingest {:.2} s): median {:.0} ms, max {:.0} ms; rows written per edit {:?}",
        r.edit_doc_bytes as f64 / 1e6,
        r.edit_doc_ingest_seconds,
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0),
        r.edit_rows_written
    );
    let _ = writeln!(out, "search cache hit: p50 {:.4} ms, p99 {:.4} ms", r.cache_hit.p50_ms, r.cache_hit.p99_ms);
    if let Some(v) = &r.vectors {
        let _ = writeln!(
            out,
            "vectors {} x {}: Cairn HNSW (usearch) build {:.2} s, top-10 p50 {:.3} ms, p99 {:.3} ms, recall@10 {:.3}; exact p50 {:.3} ms",
            v.vectors, v.dim, v.hnsw_build_seconds, v.hnsw.p50_ms, v.hnsw.p99_ms, v.hnsw_recall, v.exact.p50_ms
        );
        for p in &v.peers {
            let _ = writeln!(
                out,
                "  {}: build {:.2} s, p50 {:.3} ms, p99 {:.3} ms, recall@10 {:.3}; ratio p50 (peer / Cairn) {:.1}x",
                p.peer,
                p.build_seconds,
                p.p50_ms,
                p.p99_ms,
                p.recall,
                p.p50_ms / v.hnsw.p50_ms.max(1e-9)
            );
        }
        if let Some(note) = &v.peer_note {
            let _ = writeln!(out, "  peers: {note}");
        }
    }
    out
}

/// Search results.
pub fn search(r: &cairn_engine::SearchResults, explain: bool, cached: bool) -> String {
    let mut out = String::new();
    if let Some(note) = &r.note {
        let _ = writeln!(out, "note: {note}");
    }
    if r.hits.is_empty() {
        let _ = writeln!(out, "no matching paragraph");
    }
    for h in &r.hits {
        let text = truncate(&h.text.replace('\n', " "), 110);
        let _ = writeln!(out, "{:>2}. [{}] {:.3}  {text}", h.rank, h.display, h.score);
        if explain {
            let part = |p: &Option<cairn_index::fusion::Part>| match p {
                Some(p) => format!("rank {} score {:.3}", p.rank, p.score),
                None => "-".to_owned(),
            };
            let rerank = match &h.rerank {
                Some(x) => format!(" | rerank: margin {:+.2}, was rank {}", x.margin, x.before),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "      bm25: {} | dense: {}{rerank} | final rank {} ({:?})",
                part(&h.bm25),
                part(&h.dense),
                h.rank,
                r.used
            );
        }
    }
    if cached {
        let _ = writeln!(out, "(from cache)");
    }
    out
}

/// A Cypher result as a table.
pub fn graph_table(g: &cairn_graph::graph::Graph, r: &cairn_graph::QueryResult) -> String {
    let mut out = String::new();
    let cells: Vec<Vec<String>> =
        r.rows.iter().map(|row| row.iter().map(|v| cairn_graph::render(g, v)).collect()).collect();
    let widths: Vec<usize> = r
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells.iter().map(|row| row[i].chars().count()).chain([c.chars().count()]).max().unwrap_or(0).min(60)
        })
        .collect();
    let line = |vals: &[String]| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{:<w$}", truncate(v, *w), w = *w))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    if !r.columns.is_empty() {
        let _ = writeln!(out, "{}", line(&r.columns));
        let _ = writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
    }
    for row in &cells {
        let _ = writeln!(out, "{}", line(row));
    }
    let s = &r.stats;
    let _ = writeln!(out, "({} row(s))", r.rows.len());
    let changes = s.nodes_created
        + s.nodes_deleted
        + s.relationships_created
        + s.relationships_deleted
        + s.properties_set
        + s.labels_added
        + s.labels_removed;
    if changes > 0 {
        let _ = writeln!(
            out,
            "nodes +{} -{}, relationships +{} -{}, properties set {}, labels +{} -{}",
            s.nodes_created,
            s.nodes_deleted,
            s.relationships_created,
            s.relationships_deleted,
            s.properties_set,
            s.labels_added,
            s.labels_removed
        );
    }
    out
}

/// The graph's schema.
pub fn graph_schema(s: &cairn_graph::graph::Schema) -> String {
    let mut out = String::from("Node labels:\n");
    for (l, e) in &s.labels {
        let _ = writeln!(out, "  :{l} ({}) keys: {}", e.count, e.keys.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    out.push_str("Relationship types:\n");
    for (t, e) in &s.relationships {
        let _ = writeln!(out, "  :{t} ({}) keys: {}", e.count, e.keys.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    if !s.indexes.is_empty() {
        out.push_str("Indexes:\n");
        for (l, k) in &s.indexes {
            let _ = writeln!(out, "  :{l}({k})");
        }
    }
    out
}

/// The graph benchmark, with ratios against each peer.
pub fn graph_bench(r: &cairn_bench::graph::GraphReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Graph: {} nodes, {} relationships (one thread)", r.nodes, r.edges);
    let _ = writeln!(
        out,
        "{:<44} {:>9} {:>12} {:>12} {:>12} {:>12}",
        "engine", "load s", "1-hop p50", "2-hop p50", "3-hop p50", "shortest p50"
    );
    let mut row = |f: &cairn_bench::graph::EngineFigures| {
        let _ = writeln!(
            out,
            "{:<44} {:>9.2} {:>10.3}ms {:>10.3}ms {:>10.3}ms {:>10.3}ms",
            truncate(&f.engine, 44),
            f.load_seconds,
            f.hops[0].p50_ms,
            f.hops[1].p50_ms,
            f.hops[2].p50_ms,
            f.shortest.p50_ms
        );
    };
    row(&r.cairn);
    for p in &r.peers {
        row(p);
    }
    let _ = writeln!(out, "Cairn load into the SQLite store: {:.2} s", r.cairn_persisted_load_seconds);
    for p in &r.peers {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let _ = writeln!(
            out,
            "vs {}: Cairn is {:.1}× / {:.1}× / {:.1}× faster on 1/2/3 hops (p50), {:.1}× on shortest path",
            p.engine.split(' ').next().unwrap_or(""),
            ratio(p.hops[0].p50_ms, r.cairn.hops[0].p50_ms),
            ratio(p.hops[1].p50_ms, r.cairn.hops[1].p50_ms),
            ratio(p.hops[2].p50_ms, r.cairn.hops[2].p50_ms),
            ratio(p.shortest.p50_ms, r.cairn.shortest.p50_ms)
        );
    }
    match r.answers_agree {
        Some(true) => out.push_str("All engines returned the same answers.\n"),
        Some(false) => out.push_str("WARNING: answers differ between engines.\n"),
        None => {}
    }
    if let Some(n) = &r.peer_note {
        let _ = writeln!(out, "peer: {n}");
    }
    out
}

/// An extracted fact as one line: `(from)-[:REL {key: value}]->(to)  [display]`.
pub fn cited_fact(f: &cairn_engine::extract::CitedFact) -> String {
    let props: Vec<String> = f.fact.props.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!(
        "({})-[:{} {{{}}}]->({})  [{}]",
        f.fact.from.key,
        f.fact.relation,
        props.join(", "),
        f.fact.to.key,
        f.display
    )
}
