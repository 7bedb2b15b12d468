//! The graph builds itself from the documents: the knowledge base's declared schema
//! (`KB/graph-schema.toml`; the bundled pharmacology one for the demo) is read over every
//! sentence, and each fact it finds is written with the stable ID of its sentence, the
//! sentence as its quote, and `extracted = "rules"`.
//!
//! Extraction is incremental with edits: a document's rule facts are compared with what
//! its current sentences say, so a fact whose sentence was edited away is retired (its
//! sentence ID no longer exists), the new text's facts are added, and the facts of
//! untouched paragraphs stay as they are. Facts written by hand (no `extracted`) are
//! never touched.

use std::collections::{BTreeMap, HashSet};

use cairn_core::{DocKey, NodeKind, StableId};
use cairn_graph::Value;
use cairn_graph::extract::{Extractor, Fact, Lexicon, Schema};

use crate::error::{EngineError, Result};
use crate::kb::Kb;

/// The bundled pharmacology schema and rules (read over the bundled handbook).
pub const PHARMACOLOGY_SCHEMA: &str = include_str!("../demo/graph-schema.toml");

/// The file a knowledge base declares its graph schema in.
pub const SCHEMA_FILE: &str = "graph-schema.toml";

/// A fact found in a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct CitedFact {
    /// The fact.
    pub fact: Fact,
    /// The document it was read from.
    pub doc: DocKey,
    /// The sentence's stable ID.
    pub sentence: StableId,
    /// The sentence's display ID.
    pub display: String,
    /// The sentence (the fact's quote).
    pub quote: String,
}

/// What writing a document's extracted facts changed in the graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtractReport {
    /// Sentences read.
    pub sentences: usize,
    /// Facts found.
    pub found: usize,
    /// Facts added to the graph.
    pub added: usize,
    /// Rule facts removed: their sentence no longer says them (or no longer exists).
    pub retired: usize,
    /// Rule facts that were already there.
    pub kept: usize,
}

impl Kb {
    /// The knowledge base's declared graph schema (`KB/graph-schema.toml`), if any.
    pub fn graph_schema(&self) -> Result<Option<Schema>> {
        let path = self.store().dir().join(SCHEMA_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Schema::from_toml(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(EngineError::Io { path, source }),
        }
    }

    /// An extractor for `schema` over the graph's current entities.
    pub fn extractor(&self, schema: Schema) -> Result<Extractor> {
        let lexicon = Lexicon::from_graph(self.graph.graph(), &schema);
        Ok(Extractor::new(schema, lexicon)?)
    }

    /// Reads every sentence of document `doc` with `extractor`'s rules.
    pub fn extract_facts(&self, extractor: &Extractor, doc: &DocKey) -> Result<(usize, Vec<CitedFact>)> {
        self.extract_facts_within(extractor, doc, None)
    }

    /// Reads the sentences of document `doc` under the top-level section `within` (its
    /// display number, `17`), or all of them.
    pub fn extract_facts_within(
        &self,
        extractor: &Extractor,
        doc: &DocKey,
        within: Option<&str>,
    ) -> Result<(usize, Vec<CitedFact>)> {
        let entry = self.corpus().doc(doc).ok_or_else(|| EngineError::UnknownDocument { key: doc.to_string() })?;
        let tree = &entry.tree;
        let (mut sentences, mut out) = (0, Vec::new());
        let mut tick = 0u32;
        for (i, node) in tree.nodes.iter().enumerate() {
            if node.kind != NodeKind::Paragraph
                || within.is_some_and(|w| node.path.first().map(String::as_str) != Some(w))
            {
                continue;
            }
            cairn_core::deadline::check_every(&mut tick)?;
            for s in tree.sentences(i) {
                sentences += 1;
                let display = format!("{}.{}", tree.display_id(i), s.n);
                for fact in extractor.extract(s.text) {
                    out.push(CitedFact {
                        fact,
                        doc: doc.clone(),
                        sentence: s.id.clone(),
                        display: display.clone(),
                        quote: s.text.to_owned(),
                    });
                }
            }
        }
        Ok((sentences, out))
    }

    /// Brings document `doc`'s rule facts in the graph in line with what its sentences
    /// say now, in one graph transaction: facts no sentence states any more are retired,
    /// new ones added, the rest kept.
    pub fn sync_extracted(&mut self, extractor: &Extractor, doc: &DocKey) -> Result<ExtractReport> {
        self.sync_extracted_within(extractor, doc, None)
    }

    /// [`Kb::sync_extracted`] over the top-level section `within` only (the rule facts of
    /// the rest of the document are then retired: one document, one extent).
    pub fn sync_extracted_within(
        &mut self,
        extractor: &Extractor,
        doc: &DocKey,
        within: Option<&str>,
    ) -> Result<ExtractReport> {
        self.claim_writer()?;
        let (sentences, facts) = match self.corpus().doc(doc) {
            Some(_) => self.extract_facts_within(extractor, doc, within)?,
            None => (0, Vec::new()),
        };
        let schema = extractor.schema().clone();
        let mut report = ExtractReport { sentences, found: facts.len(), ..ExtractReport::default() };
        let doc_name = doc.to_string();
        let counted = self.graph.transaction(|g, j| {
            // The rule facts stored for this document, by what they say and cite.
            let mut stored: BTreeMap<String, Vec<cairn_graph::RelId>> = BTreeMap::new();
            for r in g.rel_ids().collect::<Vec<_>>() {
                let Some(rel) = g.rel(r) else { continue };
                let text = |k: &str| {
                    rel.props.get(k).and_then(|v| if let Value::String(s) = v { Some(s.as_str()) } else { None })
                };
                if text("extracted") == Some("rules") && text("doc") == Some(doc_name.as_str()) {
                    stored.entry(signature_of_stored(g, &schema, r)).or_default().push(r);
                }
            }
            let (mut added, mut kept) = (0, 0);
            let mut wanted: HashSet<String> = HashSet::new();
            for f in &facts {
                let sig = signature(f);
                if !wanted.insert(sig.clone()) {
                    continue;
                }
                if stored.remove(&sig).is_some() {
                    kept += 1;
                    continue;
                }
                if write_fact(g, j, &schema, f, "rules") {
                    added += 1;
                }
            }
            let mut retired = 0;
            for ids in stored.into_values() {
                for r in ids {
                    g.delete_rel(j, r);
                    retired += 1;
                }
            }
            Ok((added, kept, retired))
        })?;
        (report.added, report.kept, report.retired) = counted;
        tracing::info!(doc = %doc, added = report.added, retired = report.retired, kept = report.kept, "graph facts extracted");
        Ok(report)
    }

    /// Runs the knowledge base's declared rules (if it declares a schema) over `doc`
    /// after an ingest or a removal, after retiring every extracted fact (by rules or by a
    /// model) whose sentence `doc` no longer has.
    pub(crate) fn extract_after_write(&mut self, doc: &DocKey) -> Result<Option<ExtractReport>> {
        let orphans = self.retire_orphans(doc)?;
        let Some(schema) = self.graph_schema()? else { return Ok(None) };
        let extractor = self.extractor(schema)?;
        let mut report = self.sync_extracted(&extractor, doc)?;
        report.retired += orphans;
        Ok(Some(report))
    }

    /// Deletes the extracted facts of `doc` whose cited sentence no longer exists (its
    /// paragraph was edited or removed). Returns how many.
    pub fn retire_orphans(&mut self, doc: &DocKey) -> Result<usize> {
        let live: HashSet<String> = match self.corpus().doc(doc) {
            Some(entry) => (0..entry.tree.nodes.len())
                .filter(|&i| entry.tree.nodes[i].kind == NodeKind::Paragraph)
                .flat_map(|i| entry.tree.sentences(i).into_iter().map(|s| s.id.to_string()))
                .collect(),
            None => HashSet::new(),
        };
        let name = doc.to_string();
        let gone: Vec<cairn_graph::RelId> = {
            let g = self.graph.graph();
            g.rel_ids()
                .filter(|&r| {
                    g.rel(r).is_some_and(|rel| {
                        let s = |k: &str| {
                            if let Some(Value::String(s)) = rel.props.get(k) { Some(s.as_str()) } else { None }
                        };
                        let cite = match rel.props.get("cites") {
                            Some(Value::List(l)) => l.first().map(text),
                            _ => None,
                        };
                        s("extracted").is_some()
                            && s("doc") == Some(name.as_str())
                            && cite.is_none_or(|c| !live.contains(&c))
                    })
                })
                .collect()
        };
        if gone.is_empty() {
            return Ok(0);
        }
        self.claim_writer()?;
        self.graph.transaction(|g, j| {
            for r in &gone {
                g.delete_rel(j, *r);
            }
            Ok(())
        })?;
        Ok(gone.len())
    }

    /// Writes facts a model found (`extracted = "model"`), skipping any already there
    /// (the same relation, ends, properties and sentence). Returns how many were added.
    pub fn add_model_facts(&mut self, schema: &Schema, facts: &[CitedFact]) -> Result<usize> {
        self.claim_writer()?;
        let schema = schema.clone();
        self.graph
            .transaction(|g, j| {
                let existing: HashSet<String> = g
                    .rel_ids()
                    .filter(|&r| g.rel(r).is_some_and(|rel| rel.props.get("extracted") == Some(&Value::from("model"))))
                    .map(|r| signature_of_stored(g, &schema, r))
                    .collect();
                let mut added = 0;
                for f in facts {
                    if existing.contains(&signature(f)) {
                        continue;
                    }
                    if write_fact(g, j, &schema, f, "model") {
                        added += 1;
                    }
                }
                Ok(added)
            })
            .map_err(EngineError::from)
    }
}

/// The properties an extracted fact carries besides its own: what it cites and who read it.
const BOOKKEEPING: [&str; 5] = ["cites", "quote", "source", "doc", "extracted"];

/// Writes `f` as a relationship between its ends' nodes, marked as read `by` rules or a
/// model; `false` when an end has no node.
fn write_fact(
    g: &mut cairn_graph::graph::Graph,
    j: &mut cairn_graph::graph::Journal,
    schema: &Schema,
    f: &CitedFact,
    by: &str,
) -> bool {
    let (Some(a), Some(b)) = (find(g, schema, &f.fact.from), find(g, schema, &f.fact.to)) else { return false };
    let mut props: BTreeMap<String, Value> =
        f.fact.props.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    let [cites, quote, source, doc, extracted] = BOOKKEEPING.map(str::to_owned);
    props.insert(cites, Value::List(vec![Value::from(f.sentence.as_str())]));
    props.insert(quote, Value::from(f.quote.as_str()));
    props.insert(source, Value::from(f.display.as_str()));
    props.insert(doc, Value::from(f.doc.as_str()));
    props.insert(extracted, Value::from(by));
    g.create_rel(j, a, &f.fact.relation, b, props);
    true
}

/// The node of `entity` (its label and key value).
fn find(
    g: &cairn_graph::graph::Graph,
    schema: &Schema,
    entity: &cairn_graph::extract::EntityRef,
) -> Option<cairn_graph::NodeId> {
    let key = schema.entity.get(&entity.label).map_or("id", |t| t.key.as_str());
    let value = Value::from(entity.key.as_str());
    if let Some(hits) = g.lookup(&entity.label, key, &value) {
        return hits.first().copied();
    }
    g.nodes_with_label(&entity.label).find(|&n| g.node(n).is_some_and(|d| d.props.get(key) == Some(&value)))
}

/// What a found fact says and cites, as a comparable string.
fn signature(f: &CitedFact) -> String {
    let props: Vec<String> = f.fact.props.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}|{}:{}|{}:{}|{}|{}",
        f.fact.relation,
        f.fact.from.label,
        f.fact.from.key,
        f.fact.to.label,
        f.fact.to.key,
        f.sentence,
        props.join(",")
    )
}

/// The same for a stored rule fact.
fn signature_of_stored(g: &cairn_graph::graph::Graph, schema: &Schema, r: cairn_graph::RelId) -> String {
    let Some(rel) = g.rel(r) else { return String::new() };
    let end = |n: cairn_graph::NodeId| {
        let Some(d) = g.node(n) else { return String::new() };
        let Some((label, ty)) = schema.entity.iter().find(|(l, _)| d.labels.contains(l)) else { return String::new() };
        format!("{label}:{}", d.props.get(&ty.key).map(text).unwrap_or_default())
    };
    let props: Vec<String> = rel
        .props
        .iter()
        .filter(|(k, _)| !BOOKKEEPING.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    let cite = match rel.props.get("cites") {
        Some(Value::List(l)) => l.first().map(text).unwrap_or_default(),
        _ => String::new(),
    };
    format!("{}|{}|{}|{}|{}", rel.kind, end(rel.src), end(rel.dst), cite, props.join(","))
}

fn text(v: &Value) -> String {
    if let Value::String(s) = v { s.clone() } else { format!("{v:?}") }
}

/// A fact a model proposed that was not kept, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Refused {
    /// The proposal as the model wrote it.
    pub proposal: serde_json::Value,
    /// Why it was refused (an endpoint no entity has, a type the relation does not take,
    /// a sentence that does not name both endpoints).
    pub reason: String,
}

/// What a model read from one paragraph.
#[derive(Debug, Clone, Default)]
pub struct ModelExtraction {
    /// Facts kept: schema-valid, both endpoints resolved to entities, and named by the
    /// sentence they cite (whose text the engine filled in as the quote).
    pub facts: Vec<CitedFact>,
    /// Proposals refused, with the reason.
    pub refused: Vec<Refused>,
    /// The model's reply, as generated.
    pub raw: String,
}

impl Kb {
    /// Asks `model` for the facts paragraph `id` states, under a JSON schema built from the
    /// graph schema (relation names, property values, and the paragraph's sentence labels
    /// as enums), so the reply is valid by construction on a backend that constrains
    /// decoding. Endpoint names are resolved to entities afterwards; a name no entity has
    /// is refused and reported, never guessed.
    pub fn extract_with_model(
        &self,
        model: &dyn cairn_core::ChatModel,
        schema: &Schema,
        id: &StableId,
    ) -> Result<ModelExtraction> {
        let (d, i) = self.corpus().locate(id).ok_or_else(|| EngineError::UnknownNode { id: id.to_string() })?;
        let entry = &self.corpus().docs()[d];
        let tree = &entry.tree;
        let i = i as usize;
        let sentences = tree.sentences(i);
        let labels: Vec<String> = (1..=sentences.len()).map(|n| format!("S{n}")).collect();
        let mut listing = String::new();
        for (label, s) in labels.iter().zip(&sentences) {
            listing.push_str(&format!("{label}: {}\n", s.text));
        }
        let mut relations = String::new();
        let mut props: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, rel) in &schema.relation {
            relations.push_str(&format!("- {name}: ({}) -> ({})", rel.from.join("|"), rel.to.join("|")));
            for (p, ty) in &rel.property {
                relations.push_str(&format!(", {p} in [{}]", ty.values.join(", ")));
                let values = props.entry(p.clone()).or_default();
                for v in ty.values.iter().chain(&ty.default) {
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
            }
            relations.push('\n');
        }
        // One `value` for whichever property the relation has (the grammar writes keys in
        // this order: from, relation, sentence, to, value).
        let mut values: Vec<String> = props.values().flatten().cloned().collect();
        values.dedup();
        values.push("none".into());
        let item = serde_json::json!({
            "type": "object",
            "properties": {
                "from": {"type": "string", "maxLength": 60},
                "relation": {"enum": schema.relation.keys().collect::<Vec<_>>()},
                "sentence": {"enum": labels},
                "to": {"type": "string", "maxLength": 60},
                "value": {"enum": values},
            },
        });
        let json_schema = serde_json::json!({
            "type": "object",
            "properties": {"facts": {"type": "array", "maxItems": 6, "items": item}},
        });
        let example_rel = schema.relation.keys().next().map_or("RELATION", String::as_str);
        let prompt = format!(
            "Read the numbered sentences and list the facts they state, using only these relations:\n{relations}\
             For each fact give the entity it starts from and the entity it points to, as written in the \
             sentence, the relation, the label of the sentence that states it, and the property value the \
             sentence states (or \"none\"). List nothing the sentences do not state.\n\
             Example: for \"S1: X is a strong example of Y.\" the reply is \
             {{\"facts\": [{{\"from\": \"X\", \"relation\": \"{example_rel}\", \"sentence\": \"S1\", \"to\": \"Y\", \"value\": \"strong\"}}]}}\n\n\
             Sentences:\n{listing}\nReply with JSON only."
        );
        let request = cairn_core::ChatRequest::new(vec![cairn_core::Message::user(prompt)], 600)
            .with_schema("facts", json_schema);
        let reply = model.chat(&request)?;
        let mut out = ModelExtraction { raw: reply.text.clone(), ..ModelExtraction::default() };
        let proposals = cairn_navigate::llm::parse_json_object(&reply.text)
            .and_then(|v| v.get("facts").and_then(|f| f.as_array()).cloned())
            .unwrap_or_default();
        let lexicon = Lexicon::from_graph(self.graph.graph(), schema);
        for p in proposals {
            let text = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let refuse = |reason: String| Refused { proposal: p.clone(), reason };
            let relation = text("relation");
            let Some(rel) = schema.relation.get(&relation) else {
                out.refused.push(refuse(format!("no relation {relation:?} in the schema")));
                continue;
            };
            let Some(n) = labels.iter().position(|l| *l == text("sentence")) else {
                out.refused.push(refuse("it cites no sentence of the paragraph".into()));
                continue;
            };
            let sentence = &sentences[n];
            let resolve =
                |name: &str, types: &[String]| -> std::result::Result<cairn_graph::extract::EntityRef, String> {
                    let e = lexicon.resolve(name).ok_or_else(|| format!("no entity is named {name:?}"))?;
                    if !types.contains(&e.label) {
                        return Err(format!("{name:?} is a {}, which {relation} does not take there", e.label));
                    }
                    if !lexicon.names_in(sentence.text).contains(&e) {
                        return Err(format!("the cited sentence does not name {name:?}"));
                    }
                    Ok(e)
                };
            let (from, to) = match (resolve(&text("from"), &rel.from), resolve(&text("to"), &rel.to)) {
                (Ok(a), Ok(b)) if a != b => (a, b),
                (Ok(_), Ok(_)) => {
                    out.refused.push(refuse("a fact joins an entity to itself".into()));
                    continue;
                }
                (Err(e), _) | (_, Err(e)) => {
                    out.refused.push(refuse(e));
                    continue;
                }
            };
            let mut fact_props = BTreeMap::new();
            for (name, ty) in &rel.property {
                let stated = text("value");
                let value = if ty.values.contains(&stated) { Some(stated) } else { ty.default.clone() };
                fact_props.extend(value.map(|v| (name.clone(), v)));
            }
            out.facts.push(CitedFact {
                fact: Fact { relation, from, to, props: fact_props, rule: usize::MAX },
                doc: tree.key.clone(),
                sentence: sentence.id.clone(),
                display: format!("{}.{}", tree.display_id(i), sentence.n),
                quote: sentence.text.to_owned(),
            });
        }
        Ok(out)
    }
}
