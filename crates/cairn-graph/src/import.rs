//! Import and export: JSONL (Cairn's own lines, and Neo4j APOC's `type: node |
//! relationship` lines) and CSV in `neo4j-admin import` header style. An import is one
//! transaction: a malformed line fails it with the line number and nothing is stored.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde_json::Value as Json;

use crate::error::{GraphError, Result};
use crate::graph::{Graph, Journal};
use crate::store::{from_json, to_json};
use crate::value::{NodeId, Value};

/// What an import added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Nodes created.
    pub nodes: usize,
    /// Relationships created.
    pub relationships: usize,
}

/// Imports into one graph, possibly from several files: keys given to nodes in one file
/// resolve relationship end points in the next. Keys not imported resolve to existing
/// nodes whose `id` property has that value.
#[derive(Debug, Default)]
pub struct Importer {
    local: HashMap<String, NodeId>,
    existing: Option<HashMap<String, NodeId>>,
    /// What was added so far.
    pub report: ImportReport,
}

impl Importer {
    /// A fresh importer.
    pub fn new() -> Self {
        Importer::default()
    }

    fn resolve(&mut self, g: &Graph, key: &str) -> Option<NodeId> {
        if let Some(id) = self.local.get(key) {
            return Some(*id);
        }
        let existing = self.existing.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for n in g.node_ids() {
                if let Some(v @ (Value::String(_) | Value::Int(_))) = g.node(n).and_then(|d| d.props.get("id")) {
                    let k = if let Value::String(s) = v { s.clone() } else { crate::exec_format_key(v) };
                    m.entry(k).or_insert(n);
                }
            }
            m
        });
        existing.get(key).copied()
    }
}

fn key_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Null | Json::Bool(_) | Json::Array(_) | Json::Object(_) => None,
    }
}

fn bad(source: &str, line: usize, message: impl Into<String>) -> GraphError {
    GraphError::Import { source_name: source.to_owned(), line, message: message.into() }
}

fn props_of(
    obj: &serde_json::Map<String, Json>,
    skip: &[&str],
    source: &str,
    line: usize,
) -> Result<BTreeMap<String, Value>> {
    let mut props = BTreeMap::new();
    for (k, v) in obj {
        if skip.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        let value = from_json(v);
        if !value.is_storable() {
            return Err(bad(
                source,
                line,
                format!("property `{k}` must be a number, string, boolean or a list of them"),
            ));
        }
        props.insert(k.clone(), value);
    }
    Ok(props)
}

impl Importer {
    /// Imports JSONL text into the graph, journaling every change.
    pub fn jsonl(&mut self, g: &mut Graph, j: &mut Journal, source: &str, text: &str) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let local = &mut self.local;
        let mut pending: Vec<(usize, serde_json::Map<String, Json>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let json: Json = serde_json::from_str(line).map_err(|e| bad(source, n, format!("not JSON: {e}")))?;
            let Json::Object(obj) = json else { return Err(bad(source, n, "each line must be a JSON object")) };
            let apoc = obj.get("type").and_then(Json::as_str);
            if apoc == Some("node") {
                let labels = string_list(obj.get("labels"));
                let props = match obj.get("properties") {
                    Some(Json::Object(p)) => props_of(p, &[], source, n)?,
                    _ => BTreeMap::new(),
                };
                let id = g.create_node(j, labels, props);
                if let Some(key) = obj.get("id").and_then(key_text) {
                    local.insert(key, id);
                }
                report.nodes += 1;
            } else if let Some(label) = obj.get("node") {
                let labels = string_list(Some(label));
                if labels.is_empty() {
                    return Err(bad(source, n, "`node` must name at least one label"));
                }
                let props = props_of(&obj, &["node", "_id"], source, n)?;
                let id = g.create_node(j, labels, props);
                if let Some(key) = obj.get("_id").or_else(|| obj.get("id")).and_then(key_text)
                    && local.insert(key.clone(), id).is_some()
                {
                    return Err(bad(source, n, format!("duplicate node key `{key}`")));
                }
                report.nodes += 1;
            } else if apoc == Some("relationship") || obj.contains_key("rel") {
                pending.push((n, obj));
            } else {
                return Err(bad(source, n, "a line needs `node` or `rel` (or APOC's `type`)"));
            }
        }
        // Relationships after every node, so lines may come in any order.
        for (n, obj) in pending {
            let (kind, from, to, props) = if obj.get("type").and_then(Json::as_str) == Some("relationship") {
                let kind = obj.get("label").and_then(Json::as_str).unwrap_or_default().to_owned();
                let end = |k: &str| obj.get(k).and_then(|e| e.get("id")).and_then(key_text);
                let props = match obj.get("properties") {
                    Some(Json::Object(p)) => props_of(p, &[], source, n)?,
                    _ => BTreeMap::new(),
                };
                (kind, end("start"), end("end"), props)
            } else {
                let kind = obj.get("rel").and_then(Json::as_str).unwrap_or_default().to_owned();
                let props = props_of(&obj, &["rel", "from", "to"], source, n)?;
                (kind, obj.get("from").and_then(key_text), obj.get("to").and_then(key_text), props)
            };
            if kind.is_empty() {
                return Err(bad(source, n, "a relationship needs a type"));
            }
            let (Some(from), Some(to)) = (from, to) else {
                return Err(bad(source, n, "a relationship needs `from` and `to`"));
            };
            let src = self.resolve(g, &from).ok_or_else(|| bad(source, n, format!("no node with key `{from}`")))?;
            let dst = self.resolve(g, &to).ok_or_else(|| bad(source, n, format!("no node with key `{to}`")))?;
            g.create_rel(j, src, &kind, dst, props);
            report.relationships += 1;
        }
        self.report.nodes += report.nodes;
        self.report.relationships += report.relationships;
        Ok(report)
    }
}

fn string_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Writes the whole graph as Cairn JSONL: nodes keyed by `_id`, relationships by them.
pub fn export_jsonl(g: &Graph, out: &mut dyn Write) -> std::io::Result<()> {
    for id in g.node_ids() {
        let Some(n) = g.node(id) else { continue };
        let mut obj = serde_json::Map::new();
        obj.insert("node".into(), Json::from(n.labels.clone()));
        obj.insert("_id".into(), Json::from(id.0));
        for (k, v) in &n.props {
            obj.insert(k.clone(), to_json(v));
        }
        writeln!(out, "{}", Json::Object(obj))?;
    }
    for id in g.rel_ids() {
        let Some(r) = g.rel(id) else { continue };
        let mut obj = serde_json::Map::new();
        obj.insert("rel".into(), Json::from(r.kind.clone()));
        obj.insert("from".into(), Json::from(r.src.0));
        obj.insert("to".into(), Json::from(r.dst.0));
        for (k, v) in &r.props {
            obj.insert(k.clone(), to_json(v));
        }
        writeln!(out, "{}", Json::Object(obj))?;
    }
    Ok(())
}

/// A CSV record waiting to be created: (line, labels or type, properties, node key,
/// relationship end keys).
type Pending = (usize, Vec<String>, BTreeMap<String, Value>, Option<String>, Option<(String, String)>);

/// One column of a neo4j-admin CSV header.
#[derive(Debug, Clone)]
enum Column {
    /// `name:ID` / `:ID` (stored as property `name` when named).
    Id(Option<String>),
    /// `:LABEL` (`;`-separated labels).
    Label,
    /// `:START_ID`.
    Start,
    /// `:END_ID`.
    End,
    /// `:TYPE`.
    Type,
    /// `name[:type]`, `name:type[]` for arrays.
    Prop(String, String, bool),
    /// `:IGNORE`.
    Ignore,
}

fn parse_header(header: &[String]) -> Vec<Column> {
    header
        .iter()
        .map(|h| {
            let (name, ty) = h.split_once(':').map_or((h.as_str(), ""), |(n, t)| (n, t));
            let ty_base = ty.split('(').next().unwrap_or("").to_ascii_uppercase();
            match ty_base.as_str() {
                "ID" => Column::Id((!name.is_empty()).then(|| name.to_owned())),
                "LABEL" => Column::Label,
                "START_ID" => Column::Start,
                "END_ID" => Column::End,
                "TYPE" => Column::Type,
                "IGNORE" => Column::Ignore,
                _ => {
                    let array = ty.ends_with("[]");
                    Column::Prop(name.to_owned(), ty.trim_end_matches("[]").to_ascii_lowercase(), array)
                }
            }
        })
        .collect()
}

fn typed(raw: &str, ty: &str) -> std::result::Result<Value, String> {
    match ty {
        "" | "string" => Ok(Value::String(raw.to_owned())),
        "int" | "long" | "short" | "byte" => raw.trim().parse::<i64>().map(Value::Int).map_err(|e| e.to_string()),
        "float" | "double" => raw.trim().parse::<f64>().map(Value::Float).map_err(|e| e.to_string()),
        "boolean" => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("`{other}` is not a boolean")),
        },
        other => Err(format!("unsupported column type `{other}`")),
    }
}

/// Splits CSV text (RFC 4180 quoting) into records.
fn records(text: &str, source: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    let (mut field, mut record) = (String::new(), Vec::new());
    let (mut quoted, mut line, mut start) = (false, 1usize, 1usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].trim().is_empty()) {
                    out.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
            }
            (false, '\r') => {}
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err(bad(source, start, "unterminated quoted field"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    Ok(out)
}

impl Importer {
    /// Imports one neo4j-admin style CSV file: a nodes file (`:ID`, `:LABEL`, properties)
    /// or a relationships file (`:START_ID`, `:END_ID`, `:TYPE`, properties). `default`
    /// labels/type apply when the file has no `:LABEL`/`:TYPE` column.
    pub fn csv(
        &mut self,
        g: &mut Graph,
        j: &mut Journal,
        source: &str,
        text: &str,
        default: &str,
    ) -> Result<ImportReport> {
        let rows = records(text, source)?;
        let Some((_, header)) = rows.first() else { return Ok(ImportReport::default()) };
        let columns = parse_header(header);
        let is_rels = columns.iter().any(|c| matches!(c, Column::Start));
        let mut report = ImportReport::default();
        let mut creates: Vec<Pending> = Vec::new();
        for (line, record) in rows.iter().skip(1) {
            if record.len() != columns.len() {
                return Err(bad(source, *line, format!("{} fields, the header has {}", record.len(), columns.len())));
            }
            let mut labels: Vec<String> = Vec::new();
            let mut props = BTreeMap::new();
            let (mut key, mut start, mut end, mut kind) = (None, None, None, None);
            for (col, raw) in columns.iter().zip(record) {
                match col {
                    Column::Id(name) => {
                        key = Some(raw.clone());
                        if let Some(n) = name {
                            props.insert(n.clone(), Value::String(raw.clone()));
                        }
                    }
                    Column::Label => labels.extend(raw.split(';').filter(|l| !l.is_empty()).map(str::to_owned)),
                    Column::Start => start = Some(raw.clone()),
                    Column::End => end = Some(raw.clone()),
                    Column::Type => kind = Some(raw.clone()),
                    Column::Ignore => {}
                    Column::Prop(name, ty, array) => {
                        if raw.is_empty() {
                            continue;
                        }
                        let value = if *array {
                            let items =
                                raw.split(';').map(|x| typed(x, ty)).collect::<std::result::Result<Vec<_>, _>>();
                            Value::List(items.map_err(|e| bad(source, *line, format!("column `{name}`: {e}")))?)
                        } else {
                            typed(raw, ty).map_err(|e| bad(source, *line, format!("column `{name}`: {e}")))?
                        };
                        props.insert(name.clone(), value);
                    }
                }
            }
            if is_rels {
                let kind = kind.filter(|k| !k.is_empty()).unwrap_or_else(|| default.to_owned());
                if kind.is_empty() {
                    return Err(bad(source, *line, "no :TYPE column and no default type"));
                }
                let (Some(s), Some(e)) = (start, end) else {
                    return Err(bad(source, *line, "missing start or end id"));
                };
                creates.push((*line, vec![kind], props, None, Some((s, e))));
            } else {
                if labels.is_empty() && !default.is_empty() {
                    labels.push(default.to_owned());
                }
                creates.push((*line, labels, props, key, None));
            }
        }
        for (line, labels, props, key, ends) in creates {
            match ends {
                None => {
                    let id = g.create_node(j, labels, props);
                    if let Some(k) = key {
                        self.local.insert(k, id);
                    }
                    report.nodes += 1;
                }
                Some((s, e)) => {
                    let src = self.resolve(g, &s).ok_or_else(|| bad(source, line, format!("no node with id `{s}`")))?;
                    let dst = self.resolve(g, &e).ok_or_else(|| bad(source, line, format!("no node with id `{e}`")))?;
                    g.create_rel(j, src, &labels[0], dst, props);
                    report.relationships += 1;
                }
            }
        }
        self.report.nodes += report.nodes;
        self.report.relationships += report.relationships;
        Ok(report)
    }
}
