//! The knowledge base's property graph (`KB/graph.sqlite`, or the graph tables of a server store) and
//! its links to text.
//!
//! A graph fact can cite a paragraph: relationship and node properties `cites` (stable
//! IDs), `quote` (the words that state the fact) and `source` (the display ID when it was
//! cited). Imports whose lines name a `section` and a `quote` are cited automatically: the
//! quote is located in that section of a document, and a line whose quote cannot be found
//! fails the import. When a fact is shown, its citation is re-checked against the store
//! (following successors of edited paragraphs), so a graph answer never cites text the
//! document no longer says.

use std::collections::HashMap;

use cairn_core::{Citation, DocKey, NodeKind, StableId, normalize};
use cairn_graph::import::{ImportReport, Importer};
use cairn_graph::{GraphDb, NodeId, Params, QueryResult, Value};
use cairn_store::Resolved;

use crate::error::{EngineError, Result};
use crate::kb::Kb;

/// The drugs, enzymes and transporters of the handbook's chapters 1-16 (entity nodes only:
/// names, Chinese names, aliases, class, and a narrow therapeutic index with the sentence
/// that states it). Their facts are not written here: the bundled rules read them from the
/// handbook's sentences when the graph is loaded.
pub const PHARMACOLOGY_ENTITIES: &str = include_str!("../demo/pharmacology-entities.jsonl");

/// The drugs profiled in the handbook's chapter 17 (entity nodes only, as above).
pub const PHARMACOLOGY_PROFILES: &str = include_str!("../demo/pharmacology-profiles.jsonl");

/// Drug classes (`Class` nodes with their `members`), which stand for their members in
/// drug-check.
pub const PHARMACOLOGY_CLASSES: &str = include_str!("../demo/pharmacology-classes.jsonl");

/// A graph import file.
#[derive(Debug, Clone, Copy)]
pub enum GraphFormat {
    /// JSONL (Cairn lines or Neo4j APOC lines).
    Jsonl,
    /// neo4j-admin CSV; the string is the default label or type.
    Csv(&'static str),
}

impl Kb {
    /// The graph.
    pub fn graph(&self) -> &GraphDb {
        &self.graph
    }

    /// Runs a read-only Cypher query.
    pub fn graph_query(&self, text: &str, params: &Params) -> Result<QueryResult> {
        let _span = tracing::info_span!("graph.query").entered();
        Ok(self.graph.query(text, params)?)
    }

    /// Runs a Cypher query that may write (one transaction).
    pub fn graph_execute(&mut self, text: &str, params: &Params) -> Result<QueryResult> {
        self.claim_writer()?;
        let _span = tracing::info_span!("graph.execute").entered();
        let result = self.graph.execute(text, params)?;
        self.refresh_lexicon();
        Ok(result)
    }

    /// Imports files (name, text, format) in one transaction: keys from earlier files
    /// resolve relationship end points in later ones.
    pub fn graph_import(&mut self, files: &[(String, String, GraphFormat)]) -> Result<ImportReport> {
        self.claim_writer()?;
        let report = self.graph.transaction(|g, j| {
            let mut importer = Importer::new();
            for (name, text, format) in files {
                match format {
                    GraphFormat::Jsonl => importer.jsonl(g, j, name, text)?,
                    GraphFormat::Csv(default) => importer.csv(g, j, name, text, default)?,
                };
            }
            Ok(importer.report)
        })?;
        self.refresh_lexicon();
        Ok(report)
    }

    /// Imports JSONL whose lines carry `section` and `quote` (and optionally
    /// `nti_section`/`nti_quote`) against document `doc`: each quote is located in that
    /// section and becomes a `cites` stable ID. Every line must locate.
    pub fn import_cited_graph(&mut self, doc: &DocKey, name: &str, jsonl: &str) -> Result<ImportReport> {
        self.claim_writer()?;
        let cited = self.cite_lines(doc, name, jsonl)?;
        self.graph_import(&[(name.to_owned(), cited, GraphFormat::Jsonl)])
    }

    /// Loads the bundled pharmacology graph (needs the bundled handbook as `pharm`),
    /// unless the graph already has drugs: the entities are declared (names, aliases,
    /// classes), and every fact between them is read from the handbook's sentences by the
    /// bundled rules, each citing its sentence. The hand-written facts the pack once had
    /// are the rules' test oracle (`demo/pharmacology-curated.jsonl`), not loaded.
    pub fn load_pharmacology_graph(&mut self) -> Result<Option<ImportReport>> {
        self.claim_writer()?;
        if self.graph.graph().label_count("Drug") > 0 {
            return Ok(None);
        }
        let key = DocKey::new("pharm")?;
        if self.corpus().doc(&key).is_none() {
            return Err(EngineError::UnknownDocument { key: key.to_string() });
        }
        let mut report = self.import_cited_graph(&key, "pharmacology-entities.jsonl", PHARMACOLOGY_ENTITIES)?;
        self.import_cited_graph(&key, "pharmacology-profiles.jsonl", PHARMACOLOGY_PROFILES)?;
        // Classes that stand for their members in drug-check ("azoles").
        self.graph_import(&[(
            "pharmacology-classes.jsonl".to_owned(),
            PHARMACOLOGY_CLASSES.to_owned(),
            GraphFormat::Jsonl,
        )])?;
        self.graph.create_index("Drug", "id")?;
        self.graph.create_index("Enzyme", "id")?;
        self.graph.create_index("Transporter", "id")?;
        let schema = cairn_graph::extract::Schema::from_toml(crate::extract::PHARMACOLOGY_SCHEMA)?;
        let extractor = self.extractor(schema)?;
        let extracted = self.sync_extracted_within(&extractor, &key, None)?;
        // The pack's schema becomes the knowledge base's (unless it declares its own), so
        // that an edited handbook, or any document ingested later, is read by the same
        // rules: a fact follows its sentence.
        let path = self.store().dir().join(crate::extract::SCHEMA_FILE);
        if !path.exists() {
            std::fs::write(&path, crate::extract::PHARMACOLOGY_SCHEMA)
                .map_err(|source| EngineError::Io { path, source })?;
        }
        tracing::info!(facts = extracted.added, "pharmacology facts read from the handbook");
        report.relationships += extracted.added;
        Ok(Some(report))
    }

    fn cite_lines(&self, doc: &DocKey, name: &str, jsonl: &str) -> Result<String> {
        let entry = self.corpus().doc(doc).ok_or_else(|| EngineError::UnknownDocument { key: doc.to_string() })?;
        let tree = &entry.tree;
        let sections: HashMap<String, usize> = (0..tree.nodes.len())
            .filter(|&i| tree.nodes[i].kind == NodeKind::Section)
            .map(|i| (tree.nodes[i].path.join("."), i))
            .collect();
        let locate = |section: &str, quote: &str, line: usize| -> Result<(StableId, String)> {
            let bad = |message: String| {
                EngineError::Graph(cairn_graph::GraphError::Import { source_name: name.to_owned(), line, message })
            };
            let &at = sections.get(section).ok_or_else(|| bad(format!("no section {doc}:{section}")))?;
            let end = tree.nodes[at].end as usize;
            (at + 1..end)
                .find(|&i| {
                    tree.nodes[i].kind == NodeKind::Paragraph && normalize::quote_occurs(quote, &tree.nodes[i].text)
                })
                .map(|i| (tree.nodes[i].id.clone(), tree.display_id(i).to_string()))
                .ok_or_else(|| bad(format!("quote not found in {doc}:{section}: {quote:?}")))
        };
        let mut out = String::with_capacity(jsonl.len() * 2);
        for (i, line) in jsonl.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).map_err(|e| {
                EngineError::Graph(cairn_graph::GraphError::Import {
                    source_name: name.to_owned(),
                    line: i + 1,
                    message: e.to_string(),
                })
            })?;
            let text = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
                o.get(k).and_then(|v| v.as_str()).map(str::to_owned)
            };
            if let (Some(section), Some(quote)) = (text(&obj, "section"), text(&obj, "quote")) {
                let (id, display) = locate(&section, &quote, i + 1)?;
                obj.insert("cites".into(), serde_json::json!([id.to_string()]));
                obj.insert("source".into(), serde_json::json!(display));
            } else if let Some(section) = text(&obj, "section") {
                // A node's own section: cite the section itself.
                if let Some(&at) = sections.get(&section) {
                    obj.insert("section_id".into(), serde_json::json!(tree.nodes[at].id.to_string()));
                }
            }
            if let (Some(section), Some(quote)) = (text(&obj, "nti_section"), text(&obj, "nti_quote")) {
                let (id, _) = locate(&section, &quote, i + 1)?;
                obj.insert("nti_cites".into(), serde_json::json!([id.to_string()]));
            }
            obj.insert("doc".into(), serde_json::json!(doc.to_string()));
            out.push_str(&serde_json::Value::Object(obj).to_string());
            out.push('\n');
        }
        Ok(out)
    }

    /// Merges duplicate drugs, enzymes and transporters (shared name, alias or Chinese
    /// name, ignoring case and punctuation) in one transaction. Returns how many nodes
    /// were merged away.
    pub fn resolve_entities(&mut self) -> Result<usize> {
        Ok(self.resolve_entities_reported()?.iter().map(|m| m.merged.len()).sum())
    }

    /// [`Kb::resolve_entities`], reporting each merge with its evidence: the names the
    /// merged nodes shared.
    pub fn resolve_entities_reported(&mut self) -> Result<Vec<MergeReport>> {
        self.claim_writer()?;
        let reports = self.graph.transaction(|g, j| {
            let mut out = Vec::new();
            for label in ["Drug", "Enzyme", "Transporter"] {
                // Names before the merge (merged nodes are gone after it).
                let shown: HashMap<NodeId, String> = g
                    .nodes_with_label(label)
                    .map(|n| {
                        let d = g.node(n);
                        let text = |k: &str| match d.and_then(|d| d.props.get(k)) {
                            Some(Value::String(s)) => Some(s.clone()),
                            _ => None,
                        };
                        (n, text("id").or_else(|| text("name")).unwrap_or_else(|| format!("#{}", n.0)))
                    })
                    .collect();
                let name = |n: &NodeId| shown.get(n).cloned().unwrap_or_default();
                for m in
                    cairn_graph::resolve::merge_duplicates_with_evidence(g, j, label, &["name", "id", "aliases", "zh"])
                {
                    out.push(MergeReport {
                        label: label.to_owned(),
                        kept: name(&m.keep),
                        merged: m.merged.iter().map(name).collect(),
                        evidence: m
                            .evidence
                            .iter()
                            .map(|(a, b, n)| format!("{} and {} are both named {n:?}", name(a), name(b)))
                            .collect(),
                    });
                }
            }
            Ok(out)
        })?;
        self.refresh_lexicon();
        Ok(reports)
    }

    /// Re-checks a stored citation against the store now: the cited paragraph, or the live
    /// end of its successor chain if it was edited, must still contain the quote.
    pub fn recheck_citation(&self, id: &str, quote: &str) -> Option<Citation> {
        let node: cairn_core::NodeRef = id.parse().ok()?;
        let resolved = self.store().resolve(&node).ok()??;
        let live = match resolved {
            Resolved::Live(node) => node,
            Resolved::Retired(retired) => *retired.current?,
        };
        normalize::quote_occurs(quote, &live.text).then(|| Citation { id: live.id, quote: quote.to_owned() })
    }

    /// Graph nodes named in `text`: by `name`, `id`, `aliases` and `zh`, case-insensitively,
    /// at word boundaries for Latin script. Longest names win where they overlap.
    pub fn link_entities(&self, text: &str) -> Vec<(NodeId, String)> {
        let lower = text.to_lowercase();
        let mut found: Vec<(usize, usize, NodeId)> = Vec::new();
        for (term, node) in &self.lexicon {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(term.as_str()) {
                let start = from + pos;
                let end = start + term.len();
                let latin = term.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
                let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() || !c.is_ascii());
                if !latin || (boundary(lower[..start].chars().next_back()) && boundary(lower[end..].chars().next())) {
                    found.push((start, end, *node));
                }
                from = end;
            }
        }
        found.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
        let mut out: Vec<(NodeId, String)> = Vec::new();
        let mut covered = 0;
        for (s, e, node) in found {
            if s < covered {
                continue;
            }
            covered = e;
            if !out.iter().any(|(n, _)| *n == node) {
                out.push((node, text_slice(text, &lower, s, e)));
            }
        }
        out
    }

    /// Rebuilds the name → node lexicon after graph changes.
    pub(crate) fn refresh_lexicon(&mut self) {
        self.lexicon = build_lexicon(&self.graph);
    }
}

fn text_slice(original: &str, lower: &str, s: usize, e: usize) -> String {
    // Lower-casing can change byte lengths; fall back to the lower-cased text.
    if original.len() == lower.len() && original.is_char_boundary(s) && original.is_char_boundary(e) {
        original[s..e].to_owned()
    } else {
        lower[s..e].to_owned()
    }
}

/// Names of every `Drug`, `Enzyme` and `Transporter` node, lower-cased, longest first.
pub(crate) fn build_lexicon(db: &GraphDb) -> Vec<(String, NodeId)> {
    let g = db.graph();
    let mut terms: Vec<(String, NodeId)> = Vec::new();
    for label in ["Drug", "Enzyme", "Transporter"] {
        for id in g.nodes_with_label(label) {
            let Some(node) = g.node(id) else { continue };
            let mut names: Vec<String> = Vec::new();
            for key in ["name", "id", "zh"] {
                if let Some(Value::String(s)) = node.props.get(key) {
                    names.push(s.clone());
                }
            }
            if let Some(Value::List(aliases)) = node.props.get("aliases") {
                names.extend(
                    aliases.iter().filter_map(|a| if let Value::String(s) = a { Some(s.clone()) } else { None }),
                );
            }
            for n in names {
                let t = n.to_lowercase().replace('-', " ");
                for variant in [n.to_lowercase(), t] {
                    if variant.chars().count() >= 2 && !terms.iter().any(|(x, i)| *x == variant && *i == id) {
                        terms.push((variant, id));
                    }
                }
            }
        }
    }
    terms.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    terms
}

/// One merge of duplicate entities, with why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MergeReport {
    /// The label.
    pub label: String,
    /// The node kept (its id).
    pub kept: String,
    /// The nodes merged into it.
    pub merged: Vec<String>,
    /// The shared names (compared by letters and digits, in lower case) that joined them.
    pub evidence: Vec<String>,
}

/// A question answered by a generated Cypher query.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CypherAnswer {
    /// The query the model wrote (checked: parses, fits the schema, reads only).
    pub query: String,
    /// Result columns.
    pub columns: Vec<String>,
    /// Rows, rendered as Cypher values.
    pub rows: Vec<Vec<String>>,
    /// The facts on the paths the query matched, each with its citation re-checked
    /// against the store (a fact whose source no longer says it is left out).
    pub facts: Vec<crate::drug::Fact>,
}

impl Kb {
    /// Asks `model` for one read-only Cypher query answering `question`, given the graph's
    /// schema, and runs it under tight limits. A query that does not parse, names labels or
    /// types the graph lacks, or writes, is refused.
    pub fn text_to_cypher(&self, model: &dyn cairn_core::ChatModel, question: &str) -> Result<CypherAnswer> {
        let g = self.graph.graph();
        let schema = g.schema();
        let keys = CypherKeys::of(g, &schema);
        let mut listing = String::new();
        for label in schema.labels.keys() {
            listing.push_str(&format!("(:{label} {{{}}})\n", keys.node.join(", ")));
        }
        for kind in schema.relationships.keys() {
            listing.push_str(&format!("[:{kind}]\n"));
        }
        for (key, values) in &keys.values {
            listing.push_str(&format!("relationship property {key}: one of {}\n", values.join(", ")));
        }
        let prompt = format!(
            "Write one read-only openCypher query that answers the question from this graph. Name entities by \
             their id (lower case for drugs, e.g. 'simvastatin'; enzymes as written, e.g. 'CYP3A4') or by their \
             Chinese name in zh. Return ids with RETURN DISTINCT.\n\
             Schema:\n{listing}\n\
             Example. Question: Which drugs strongly inhibit an enzyme that metabolizes warfarin?\n\
             {{\"cypher\": \"MATCH (w:Drug {{id: 'warfarin'}})-[:METABOLIZED_BY]->(e:Enzyme)<-[r:INHIBITS]-(d:Drug) WHERE r.strength = 'strong' RETURN DISTINCT d.id\"}}\n\n\
             Question: {question}\nReply with JSON only."
        );
        let schema_json =
            serde_json::json!({"type": "object", "properties": {"cypher": {"type": "string"}}, "required": ["cypher"]});
        // A backend that decodes under a grammar can only write queries of the subset, over
        // this graph's labels, types and keys; any backend's query is checked again below.
        let request = cairn_core::ChatRequest::new(vec![cairn_core::Message::user(prompt)], 200)
            .with_schema("cypher", schema_json)
            .with_grammar(cypher_grammar(g, &schema, &keys));
        let reply = model.chat(&request)?;
        let query = cairn_navigate::llm::parse_json_object(&reply.text)
            .and_then(|v| v.get("cypher").and_then(|c| c.as_str()).map(str::to_owned))
            .ok_or_else(|| {
                bad_query(format!("the model gave no query: {}", reply.text.chars().take(120).collect::<String>()))
            })?;
        let statement = GraphDb::prepare(&query)?;
        let unknown = self.graph.unknown_names(&statement);
        if !unknown.is_empty() {
            return Err(bad_query(format!("the query names labels or types the graph lacks: {}", unknown.join(", "))));
        }
        let limits = cairn_graph::Limits { max_steps: 2_000_000, max_rows: 1_000, ..cairn_graph::Limits::default() };
        let result = self.graph.query_limited(&statement, &Params::new(), limits)?;
        let g = self.graph.graph();
        let rows = result.rows.iter().take(50).map(|r| r.iter().map(|v| cairn_graph::render(g, v)).collect()).collect();
        let facts = self.facts_on_paths(&query, limits);
        Ok(CypherAnswer { query, columns: result.columns, rows, facts })
    }

    /// The cited facts on the paths a `MATCH … RETURN …` query matches: the pattern is
    /// matched again as a path (`MATCH p = … RETURN p`), and each relationship on the first
    /// 20 paths that carries a checked citation is kept once.
    fn facts_on_paths(&self, query: &str, limits: cairn_graph::Limits) -> Vec<crate::drug::Fact> {
        let Some((pattern, _)) = query.strip_prefix("MATCH ").and_then(|rest| rest.rsplit_once(" RETURN ")) else {
            return Vec::new();
        };
        let Ok(statement) = GraphDb::prepare(&format!("MATCH p = {pattern} RETURN p LIMIT 20")) else {
            return Vec::new();
        };
        let Ok(result) = self.graph.query_limited(&statement, &Params::new(), limits) else { return Vec::new() };
        let g = self.graph.graph();
        let id = |n: NodeId| match g.node(n).and_then(|d| d.props.get("id")) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let (mut facts, mut stale): (Vec<crate::drug::Fact>, Vec<String>) = (Vec::new(), Vec::new());
        for row in &result.rows {
            let Some(Value::Path(p)) = row.first() else { continue };
            for r in &p.rels {
                let Some(rel) = g.rel(*r) else { continue };
                if let Some(f) = self.fact(&Value::Rel(*r), &id(rel.src), &id(rel.dst), &mut stale)
                    && !facts.iter().any(|x| x.path == f.path && x.citation == f.citation)
                {
                    facts.push(f);
                }
            }
        }
        facts
    }
}

/// The property keys a generated query may use: node keys that name things, and the
/// relationship keys whose values are a small closed set (with those values, for the prompt).
struct CypherKeys {
    node: Vec<String>,
    rel: Vec<String>,
    values: std::collections::BTreeMap<String, Vec<String>>,
}

impl CypherKeys {
    fn of(g: &cairn_graph::graph::Graph, schema: &cairn_graph::graph::Schema) -> CypherKeys {
        let naming = ["id", "name", "zh", "class"];
        let node: Vec<String> = naming
            .iter()
            .filter(|k| schema.labels.values().any(|e| e.keys.contains(**k)))
            .map(|k| (*k).to_owned())
            .collect();
        let mut values: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
        let bookkeeping = ["cites", "quote", "doc", "source", "section", "note", "extracted"];
        for r in g.rel_ids() {
            let Some(rel) = g.rel(r) else { continue };
            for (k, v) in &rel.props {
                if let Value::String(s) = v
                    && !bookkeeping.contains(&k.as_str())
                    && s.chars().count() <= 24
                {
                    values.entry(k.clone()).or_default().insert(s.clone());
                }
            }
        }
        values.retain(|_, v| v.len() <= 8);
        let rel = values.keys().cloned().collect();
        let values = values.into_iter().map(|(k, v)| (k, v.into_iter().map(|s| format!("'{s}'")).collect())).collect();
        CypherKeys { node, rel, values }
    }
}

/// The GBNF grammar of `{"cypher": "<query>"}` where the query is a read-only path query of
/// the subset: `MATCH` a path of up to four hops over `schema`'s labels and types (a node
/// named by the id or Chinese name of an entity of its label), `WHERE`
/// conditions on their keys (`=`, `<>`, `>=`, `IN`, `AND`, one `OR` in parentheses),
/// `RETURN` keys or a count, an optional `LIMIT`.
fn cypher_grammar(g: &cairn_graph::graph::Graph, schema: &cairn_graph::graph::Schema, keys: &CypherKeys) -> String {
    let alt = |items: &mut dyn Iterator<Item = &String>| {
        let items: Vec<String> = items.map(|s| format!("\"{s}\"")).collect();
        if items.is_empty() { "\"id\"".to_owned() } else { items.join(" | ") }
    };
    let nkeys = alt(&mut keys.node.iter());
    let anykey = alt(&mut keys.node.iter().chain(&keys.rel));
    // A node pattern names an entity the graph has, by its id or Chinese name, under its
    // own label: no query can look for a drug that is not there, or an enzyme as a drug.
    let quotable = |s: &str| !s.is_empty() && s.chars().count() <= 60 && !s.contains(['\'', '"', '\\', '\n']);
    let mut by_label = String::new();
    for (i, label) in schema.labels.keys().enumerate() {
        let mut alts = Vec::new();
        for key in ["id", "zh"] {
            let values: std::collections::BTreeSet<&str> = g
                .nodes_with_label(label)
                .filter_map(|n| match g.node(n)?.props.get(key) {
                    Some(Value::String(v)) if quotable(v) => Some(v.as_str()),
                    _ => None,
                })
                .collect();
            if !values.is_empty() {
                let list: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                alts.push(format!("(\" {{{key}: '\" ({}) \"'}}\")", list.join(" | ")));
            }
        }
        let named = if alts.is_empty() { String::new() } else { format!(" ({})?", alts.join(" | ")) };
        by_label.push_str(&format!("lab{i} ::= \":{label}\"{named}\n"));
    }
    // Each step of a path follows a relationship type between the labels the graph has it
    // between (drugs inhibit enzymes; an enzyme interacts with nothing), in its direction,
    // or undirected: the path rules are unrolled per label and hops left.
    let labels: Vec<&String> = schema.labels.keys().collect();
    let index = |l: &str| labels.iter().position(|x| x.as_str() == l);
    let mut triples: std::collections::BTreeSet<(usize, String, usize)> = Default::default();
    for r in g.rel_ids() {
        let Some(rel) = g.rel(r) else { continue };
        let first = |n: NodeId| g.node(n).and_then(|d| d.labels.first()).and_then(|l| index(l));
        if let (Some(a), Some(b)) = (first(rel.src), first(rel.dst)) {
            triples.insert((a, rel.kind.clone(), b));
        }
    }
    let mut paths = String::new();
    for (i, _) in labels.iter().enumerate() {
        for hops in 0..=3 {
            let mut steps = Vec::new();
            if hops > 0 {
                for (a, kind, b) in &triples {
                    let rel = |arrow: &str, next: usize| match arrow {
                        "out" => format!("(\"-[\" var? \":{kind}]->\" p{next}h{})", hops - 1),
                        "in" => format!("(\"<-[\" var? \":{kind}]-\" p{next}h{})", hops - 1),
                        _ => format!("(\"-[\" var? \":{kind}]-\" p{next}h{})", hops - 1),
                    };
                    if *a == i {
                        steps.push(rel("out", *b));
                        steps.push(rel("both", *b));
                    }
                    if *b == i {
                        steps.push(rel("in", *a));
                        if a != b {
                            steps.push(rel("both", *a));
                        }
                    }
                }
            }
            steps.dedup();
            let tail = if steps.is_empty() { String::new() } else { format!(" ({})?", steps.join(" | ")) };
            paths.push_str(&format!("p{i}h{hops} ::= \"(\" var lab{i} \")\"{tail}\n"));
        }
    }
    let starts: Vec<String> = (0..labels.len()).map(|i| format!("p{i}h3")).collect();
    let path = if starts.is_empty() { "\"(n)\"".to_owned() } else { starts.join(" | ") };
    format!(
        r#"root ::= "{{\"cypher\": \"" query "\"}}"
query ::= "MATCH " path where? " RETURN " ret ("," " " ret){{0,2}} (" LIMIT " [1-9] [0-9]?)?
path ::= {path}
{paths}{by_label}
var ::= [a-z] [a-z0-9]?
nkey ::= {nkeys}
key ::= {anykey}
str ::= "'" [^'"\\\n]{{1,40}} "'"
where ::= " WHERE " term (" AND " term){{0,2}}
term ::= cond | "(" cond " OR " cond ")"
cond ::= var "." key (" = " str | " <> " str | " >= " num | " IN [" str (", " str){{0,4}} "]")
num ::= [0-9] ("." [0-9] [0-9]?)?
ret ::= ("DISTINCT ")? var "." nkey | "count(DISTINCT " var ") AS n"
"#
    )
}

fn bad_query(message: String) -> EngineError {
    EngineError::Graph(cairn_graph::GraphError::Semantic { code: "GeneratedQueryRejected", message })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar reaches llama.cpp as written: JSON quotes escaped inside GBNF strings,
    /// and a character class that keeps quotes, backslashes and line breaks out of values.
    #[test]
    fn the_cypher_grammar_escapes_what_gbnf_needs() {
        let mut db = GraphDb::in_memory();
        db.execute("CREATE (:Drug {id: 'a'})-[:INHIBITS {strength: 'strong'}]->(:Enzyme {id: 'b'})", &Params::new())
            .unwrap();
        let schema = db.graph().schema();
        let keys = CypherKeys::of(db.graph(), &schema);
        let g = cypher_grammar(db.graph(), &schema, &keys);
        assert!(g.starts_with(r#"root ::= "{\"cypher\": \"" query "\"}""#), "{g}");
        assert!(g.contains(r#"str ::= "'" [^'"\\\n]{1,40} "'""#), "{g}");
        assert!(g.contains(r#"lab0 ::= ":Drug" ((" {id: '" ("a") "'}"))?"#), "{g}");
        // A step follows a type between the labels the graph has it between: a drug may
        // inhibit an enzyme (either way round in the pattern), an enzyme nothing.
        assert!(
            g.contains(
                r#"p0h1 ::= "(" var lab0 ")" (("-[" var? ":INHIBITS]->" p1h0) | ("-[" var? ":INHIBITS]-" p1h0))?"#
            ),
            "{g}"
        );
        assert!(
            g.contains(
                r#"p1h1 ::= "(" var lab1 ")" (("<-[" var? ":INHIBITS]-" p0h0) | ("-[" var? ":INHIBITS]-" p0h0))?"#
            ),
            "{g}"
        );
        assert!(g.contains("path ::= p0h3 | p1h3"), "{g}");
        assert!(g.contains(r#""strength""#) && !g.contains('\u{0}'), "{g}");
        assert_eq!(keys.values["strength"], ["'strong'"]);
    }
}
