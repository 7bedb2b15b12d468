//! Graph facts from sentences, by rules a user declares: the schema (`graph-schema.toml`)
//! names the entity types, the relation types with their endpoint types and the values
//! their properties may take, and pattern rules in any language:
//!
//! ```toml
//! [entity.Drug]
//! [entity.Enzyme]
//! absorb = ["enzymes"]              # "UGT enzymes" is a mention of UGT
//!
//! [relation.INHIBITS]
//! from = ["Drug"]
//! to = ["Enzyme"]
//! [relation.INHIBITS.property.strength]
//! values = ["strong", "moderate", "weak"]
//! default = "unspecified"
//!
//! [[rule]]
//! relation = "INHIBITS"
//! pattern = "{from} is a {strength} inhibitor of {to+}"
//!
//! [[rule]]
//! relation = "INHIBITS"
//! pattern = "{from}是{to}的{strength}抑制剂"
//! words = { strength = { "强" = "strong", "中等" = "moderate", "弱" = "weak" } }
//! ```
//!
//! A pattern is literal text (case and runs of white space forgiven) with slots:
//! `{from}` and `{to}` take one entity mention of an allowed type, `{from+}` and `{to+}` a
//! list of them (`A, B, and C`, `A和B`, `A、B`), `{name}` a value of the relation's
//! property `name` (one of its `values`, or a word the rule maps to one), `{_}` a short
//! stretch of words that names no entity, and `{*}` one that may (entities it names are
//! not endpoints). A rule without `{from}` (or `{to}`) takes the sentence's first mention
//! of an allowed type, if it comes before the end of the match: "Fluconazole is a strong inhibitor of
//! CYP2C19, *a moderate inhibitor of CYP2C9*". A match that contains a negation ("is not
//! itself metabolized by", "不") states nothing.
//!
//! Mentions are found only for entities that exist (names, keys, aliases and Chinese
//! names from the graph, through [`Lexicon`]), so a rule can never invent an endpoint; a
//! relation or value the schema does not declare cannot be produced.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use serde::Deserialize;

use crate::error::{GraphError, Result};
use crate::graph::Graph;
use crate::value::Value;

/// A declared graph schema with its extraction rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Entity types by label.
    #[serde(default)]
    pub entity: BTreeMap<String, EntityType>,
    /// Relation types by name.
    #[serde(default)]
    pub relation: BTreeMap<String, RelationType>,
    /// Pattern rules, in order.
    #[serde(default)]
    pub rule: Vec<RuleDecl>,
}

/// An entity type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityType {
    /// The property that identifies a node (default `id`).
    #[serde(default = "default_key")]
    pub key: String,
    /// Words that may follow a mention and belong to it (`acid` in "simvastatin acid").
    #[serde(default)]
    pub absorb: Vec<String>,
}

fn default_key() -> String {
    "id".to_owned()
}

/// A relation type: which entity types it joins and which properties it may carry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationType {
    /// Allowed types of its start node.
    pub from: Vec<String>,
    /// Allowed types of its end node.
    pub to: Vec<String>,
    /// Whether `(a)-[r]->(b)` and `(b)-[r]->(a)` say the same (an interaction).
    #[serde(default)]
    pub symmetric: bool,
    /// Properties with their allowed values.
    #[serde(default)]
    pub property: BTreeMap<String, PropertyType>,
}

/// A property of a relation type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyType {
    /// The values it may take.
    pub values: Vec<String>,
    /// The value when a fact does not state one (allowed besides `values`).
    #[serde(default)]
    pub default: Option<String>,
}

/// One rule as declared.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDecl {
    /// The relation it produces.
    pub relation: String,
    /// The pattern (see the module docs).
    pub pattern: String,
    /// Fixed property values of every fact it produces (`fraction = "major"` for "accounts
    /// for most of the metabolism of").
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Words that stand for property values: `strength = { strongly = "strong" }`.
    #[serde(default)]
    pub words: BTreeMap<String, BTreeMap<String, String>>,
}

impl Schema {
    /// Parses and checks a schema: every rule's relation, slots and values must be
    /// declared, and every relation's endpoint types.
    pub fn from_toml(text: &str) -> Result<Schema> {
        let schema: Schema = toml::from_str(text).map_err(|e| bad(format!("graph schema: {e}")))?;
        for (name, rel) in &schema.relation {
            for t in rel.from.iter().chain(&rel.to) {
                if !schema.entity.contains_key(t) {
                    return Err(bad(format!("relation {name} names the undeclared entity type {t}")));
                }
            }
        }
        for (i, rule) in schema.rule.iter().enumerate() {
            let rel = schema
                .relation
                .get(&rule.relation)
                .ok_or_else(|| bad(format!("rule {}: undeclared relation {}", i + 1, rule.relation)))?;
            for (p, v) in &rule.set {
                check_value(rel, &rule.relation, p, v).map_err(|m| bad(format!("rule {}: {m}", i + 1)))?;
            }
            for (p, words) in &rule.words {
                for v in words.values() {
                    check_value(rel, &rule.relation, p, v).map_err(|m| bad(format!("rule {}: {m}", i + 1)))?;
                }
            }
            compile(&schema, rule).map_err(|m| bad(format!("rule {} ({:?}): {m}", i + 1, rule.pattern)))?;
        }
        Ok(schema)
    }
}

fn check_value(rel: &RelationType, name: &str, property: &str, value: &str) -> std::result::Result<(), String> {
    let prop = rel.property.get(property).ok_or_else(|| format!("{name} has no property {property}"))?;
    if prop.values.iter().any(|v| v == value) || prop.default.as_deref() == Some(value) {
        Ok(())
    } else {
        Err(format!("{value:?} is not a value of {name}.{property}"))
    }
}

fn bad(message: String) -> GraphError {
    GraphError::Semantic { code: "InvalidGraphSchema", message }
}

/// An entity: its label and key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    /// Its label.
    pub label: String,
    /// The value of its key property.
    pub key: String,
}

/// The names that mention each entity: every name, key, alias and Chinese name of the
/// graph's nodes of the schema's entity types.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Lower-cased name → entity, longest names first.
    terms: Vec<(String, EntityRef)>,
    /// Words absorbed after a mention, by label.
    absorb: HashMap<String, Vec<String>>,
}

impl Lexicon {
    /// The lexicon of `graph`'s entities of the types `schema` declares.
    pub fn from_graph(graph: &Graph, schema: &Schema) -> Lexicon {
        let mut terms: Vec<(String, EntityRef)> = Vec::new();
        for (label, ty) in &schema.entity {
            for id in graph.nodes_with_label(label) {
                let Some(node) = graph.node(id) else { continue };
                let Some(key) = node.props.get(&ty.key).and_then(as_text) else { continue };
                let entity = EntityRef { label: label.clone(), key: key.clone() };
                let mut names = vec![key];
                for p in ["name", "zh"] {
                    names.extend(node.props.get(p).and_then(as_text));
                }
                if let Some(Value::List(aliases)) = node.props.get("aliases") {
                    names.extend(aliases.iter().filter_map(as_text));
                }
                for n in names {
                    let n = n.trim().to_lowercase();
                    if n.chars().count() >= 2 && !terms.iter().any(|(t, e)| *t == n && *e == entity) {
                        terms.push((n, entity.clone()));
                    }
                }
            }
        }
        terms.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.0.cmp(&b.0)));
        let absorb = schema
            .entity
            .iter()
            .map(|(l, t)| {
                let mut words: Vec<String> = t.absorb.iter().map(|w| w.to_lowercase()).collect();
                words.sort_by_key(|w| std::cmp::Reverse(w.len()));
                (l.clone(), words)
            })
            .collect();
        Lexicon { terms, absorb }
    }

    /// The entity a name names: a name, key, alias or Chinese name, compared in lower
    /// case, then by letters and digits alone (`St. John's wort`); `None` when no entity
    /// or more than one has it.
    pub fn resolve(&self, name: &str) -> Option<EntityRef> {
        let lower = name.trim().to_lowercase();
        if let Some((_, e)) = self.terms.iter().find(|(t, _)| *t == lower) {
            return Some(e.clone());
        }
        let key = crate::resolve::normalize_name(&lower);
        let mut hits = self.terms.iter().filter(|(t, _)| !key.is_empty() && crate::resolve::normalize_name(t) == key);
        let first = hits.next()?.1.clone();
        hits.all(|(_, e)| *e == first).then_some(first)
    }

    /// The entities `text` mentions.
    pub fn names_in(&self, text: &str) -> Vec<EntityRef> {
        self.mentions(&text.to_lowercase()).into_iter().map(|(_, _, e)| e.clone()).collect()
    }

    /// How many names it holds.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether it holds no name.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The mentions in `text` (lower-cased), longest names first, not overlapping: byte
    /// range (absorbed words included) and entity.
    fn mentions(&self, text: &str) -> Vec<(usize, usize, &EntityRef)> {
        let mut taken = vec![false; text.len()];
        let mut found = Vec::new();
        for (term, entity) in &self.terms {
            let mut from = 0;
            while let Some(pos) = text[from..].find(term.as_str()) {
                let (start, mut end) = (from + pos, from + pos + term.len());
                from = start + term.len().max(1);
                let latin = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
                let glued_before = latin(text[..start].chars().next_back()) && latin(term.chars().next());
                let glued_after = latin(text[end..].chars().next()) && latin(term.chars().next_back());
                let bounded = !glued_before && !glued_after;
                if !bounded || taken[start..end].iter().any(|t| *t) {
                    continue;
                }
                for w in self.absorb.get(&entity.label).into_iter().flatten() {
                    let rest = &text[end..];
                    let gap = rest.len() - rest.trim_start().len();
                    if gap > 0 && rest[gap..].starts_with(w.as_str()) && !latin(rest[gap + w.len()..].chars().next()) {
                        end += gap + w.len();
                        break;
                    }
                }
                if taken[start..end].iter().any(|t| *t) {
                    continue;
                }
                taken[start..end].iter_mut().for_each(|t| *t = true);
                found.push((start, end, entity));
            }
        }
        found.sort_by_key(|m| m.0);
        found
    }
}

fn as_text(v: &Value) -> Option<String> {
    if let Value::String(s) = v { Some(s.clone()) } else { None }
}

/// Marks a mention in the tagged text: `OPEN index CLOSE`.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// A rule made ready to match.
#[derive(Debug)]
struct Compiled {
    relation: String,
    regex: Regex,
    /// Capture group → what it binds.
    groups: Vec<Bind>,
    set: BTreeMap<String, String>,
    /// Surface word → value, by property.
    words: BTreeMap<String, HashMap<String, String>>,
    has_from: bool,
    has_to: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Bind {
    From,
    To,
    Property(String),
}

fn compile(schema: &Schema, rule: &RuleDecl) -> std::result::Result<Compiled, String> {
    let rel = schema.relation.get(&rule.relation).ok_or("undeclared relation")?;
    // A mention, with the same entity's other name in parentheses after it ("P-glycoprotein
    // (P-gp)"); list items are separated by commas, "and", "or" or Chinese enumeration
    // marks, and may be preceded by a few descriptive words ("oral midazolam").
    let one = format!("{OPEN}\\d+{CLOSE}");
    let mention = format!("{one}(?:\\s*\\(\\s*{one}\\s*\\))?");
    let filler = r"(?:(?:the|oral|intestinal|hepatic|renal|efflux|uptake|transporters?|enzymes|of)\s+){0,3}";
    let sep = format!(r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+|\s*[、，和及与或]\s*){filler}");
    let mut words: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
    let mut re = String::from("(?i)");
    let mut groups = Vec::new();
    let mut rest = rule.pattern.as_str();
    while !rest.is_empty() {
        let (literal, slot, after) = match rest.find('{') {
            Some(open) => {
                let close = rest[open..].find('}').ok_or("a `{` without its `}`")? + open;
                (&rest[..open], Some(&rest[open + 1..close]), &rest[close + 1..])
            }
            None => (rest, None, ""),
        };
        let mut space = false;
        for c in literal.chars() {
            if c.is_whitespace() {
                if !space {
                    re.push_str(r"\s+");
                }
                space = true;
            } else {
                space = false;
                re.push_str(&regex::escape(&c.to_lowercase().to_string()));
            }
        }
        match slot {
            None => {}
            Some("from") | Some("to") => {
                re.push_str(&format!("({mention})"));
                groups.push(if slot == Some("from") { Bind::From } else { Bind::To });
            }
            Some("from+") | Some("to+") => {
                re.push_str(&format!("({mention}(?:{sep}{mention})*)"));
                groups.push(if slot == Some("from+") { Bind::From } else { Bind::To });
            }
            Some("_") => re.push_str(&format!("[^{OPEN}{CLOSE}.;:。；：]{{0,60}}?")),
            Some("*") => re.push_str("[^.;:。；：]{0,80}?"),
            Some(name) => {
                let prop = rel
                    .property
                    .get(name)
                    .ok_or_else(|| format!("{{{name}}}: {} has no such property", rule.relation))?;
                let mut map: HashMap<String, String> =
                    prop.values.iter().map(|v| (v.to_lowercase(), v.clone())).collect();
                for (w, v) in rule.words.get(name).into_iter().flatten() {
                    map.insert(w.to_lowercase(), v.clone());
                }
                let mut alts: Vec<&String> = map.keys().collect();
                alts.sort_by_key(|w| std::cmp::Reverse(w.len()));
                let alts: Vec<String> = alts.iter().map(|w| regex::escape(w)).collect();
                re.push_str(&format!("({})", alts.join("|")));
                groups.push(Bind::Property(name.to_owned()));
                words.insert(name.to_owned(), map);
            }
        }
        rest = after;
    }
    let has_from = groups.contains(&Bind::From);
    let has_to = groups.contains(&Bind::To);
    if !has_from && !has_to {
        return Err("a pattern needs {from} or {to}".into());
    }
    let regex = Regex::new(&re).map_err(|e| e.to_string())?;
    Ok(Compiled { relation: rule.relation.clone(), regex, groups, set: rule.set.clone(), words, has_from, has_to })
}

/// One fact a rule found in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The relation type.
    pub relation: String,
    /// Its start node.
    pub from: EntityRef,
    /// Its end node.
    pub to: EntityRef,
    /// Its properties (declared defaults filled in).
    pub props: BTreeMap<String, String>,
    /// The index of the rule that found it (the most specific, when several did).
    pub rule: usize,
}

/// Whether a matched stretch of (lower-cased) text negates what it says.
fn negated(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| matches!(w, "not" | "no" | "never" | "neither" | "nor" | "without"))
        || ["不", "未", "无", "没有", "非"].iter().any(|w| text.contains(w))
}

/// Rules compiled against a lexicon, ready to read sentences.
#[derive(Debug)]
pub struct Extractor {
    schema: Schema,
    rules: Vec<Compiled>,
    lexicon: Lexicon,
}

impl Extractor {
    /// Compiles `schema`'s rules (already checked by [`Schema::from_toml`]).
    pub fn new(schema: Schema, lexicon: Lexicon) -> Result<Extractor> {
        let rules = schema.rule.iter().map(|r| compile(&schema, r).map_err(bad)).collect::<Result<Vec<_>>>()?;
        Ok(Extractor { schema, rules, lexicon })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The facts `sentence` states, by the rules: one per (relation, from, to), the one
    /// stating the most property values kept.
    pub fn extract(&self, sentence: &str) -> Vec<Fact> {
        let lower = sentence.to_lowercase();
        let mentions = self.lexicon.mentions(&lower);
        if mentions.is_empty() {
            return Vec::new();
        }
        let mut tagged = String::with_capacity(lower.len() + 8 * mentions.len());
        let mut at = 0;
        for (i, (start, end, _)) in mentions.iter().enumerate() {
            tagged.push_str(&lower[at..*start]);
            tagged.push_str(&format!("{OPEN}{i}{CLOSE}"));
            at = *end;
        }
        tagged.push_str(&lower[at..]);
        let entity = |i: usize| mentions[i].2;
        let indices = |s: &str| -> Vec<usize> {
            s.split(OPEN).skip(1).filter_map(|p| p.split(CLOSE).next()?.parse().ok()).collect()
        };
        let mut facts: Vec<Fact> = Vec::new();
        for (r, rule) in self.rules.iter().enumerate() {
            let Some(rel) = self.schema.relation.get(&rule.relation) else { continue };
            let fits = |e: &EntityRef, types: &[String]| types.contains(&e.label);
            // The sentence's first mention of a type an absent endpoint allows, if it comes
            // before the match (in the tagged text, mention `i` is `OPEN i CLOSE`).
            // The text from the subject to the end of the match must not negate either.
            let subject = |types: &[String], whole: regex::Match<'_>| {
                let i = (0..mentions.len()).find(|&i| fits(entity(i), types))?;
                let at = tagged.find(&format!("{OPEN}{i}{CLOSE}"))?;
                // (A list slot may have taken the subject in too: it is then dropped from
                // the list, as an entity is never related to itself.)
                (at < whole.end() && !negated(&tagged[at.min(whole.start())..whole.end()])).then_some(i)
            };
            for caps in rule.regex.captures_iter(&tagged) {
                let Some(whole) = caps.get(0) else { continue };
                if negated(whole.as_str()) {
                    continue;
                }
                let (mut from, mut to) = (Vec::new(), Vec::new());
                let mut props = rule.set.clone();
                for (g, bind) in rule.groups.iter().enumerate() {
                    let Some(m) = caps.get(g + 1) else { continue };
                    match bind {
                        Bind::From => from.extend(indices(m.as_str())),
                        Bind::To => to.extend(indices(m.as_str())),
                        Bind::Property(p) => {
                            if let Some(v) = rule.words.get(p).and_then(|w| w.get(m.as_str())) {
                                props.insert(p.clone(), v.clone());
                            }
                        }
                    }
                }
                if !rule.has_from {
                    from.extend(subject(&rel.from, whole));
                }
                if !rule.has_to {
                    to.extend(subject(&rel.to, whole));
                }
                for (p, prop) in &rel.property {
                    if let (false, Some(d)) = (props.contains_key(p), &prop.default) {
                        props.insert(p.clone(), d.clone());
                    }
                }
                for &f in &from {
                    for &t in &to {
                        let (a, b) = (entity(f), entity(t));
                        if a == b || !fits(a, &rel.from) || !fits(b, &rel.to) {
                            continue;
                        }
                        let fact = Fact {
                            relation: rule.relation.clone(),
                            from: a.clone(),
                            to: b.clone(),
                            props: props.clone(),
                            rule: r,
                        };
                        self.keep(&mut facts, fact);
                    }
                }
            }
        }
        facts
    }

    /// Adds `fact` unless the same fact is there; of two, the one with more stated
    /// (non-default) values stays.
    fn keep(&self, facts: &mut Vec<Fact>, fact: Fact) {
        let symmetric = self.schema.relation.get(&fact.relation).is_some_and(|r| r.symmetric);
        let same = |f: &Fact| {
            f.relation == fact.relation
                && ((f.from == fact.from && f.to == fact.to) || (symmetric && f.from == fact.to && f.to == fact.from))
        };
        let stated = |f: &Fact| {
            let rel = self.schema.relation.get(&f.relation);
            f.props
                .iter()
                .filter(|(p, v)| rel.and_then(|r| r.property.get(*p)).and_then(|p| p.default.as_ref()) != Some(*v))
                .count()
        };
        match facts.iter_mut().find(|f| same(f)) {
            Some(old) if stated(&fact) > stated(old) => *old = fact,
            Some(_) => {}
            None => facts.push(fact),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphDb;

    const SCHEMA: &str = r#"
[entity.Drug]
absorb = ["acid"]
[entity.Enzyme]
absorb = ["enzymes"]

[relation.INHIBITS]
from = ["Drug"]
to = ["Enzyme"]
[relation.INHIBITS.property.strength]
values = ["strong", "moderate", "weak"]
default = "unspecified"

[relation.INTERACTS_WITH]
from = ["Drug"]
to = ["Drug"]
symmetric = true

[[rule]]
relation = "INHIBITS"
pattern = "{from} is a {strength}{_} inhibitor of {to+}"

[[rule]]
relation = "INHIBITS"
pattern = "a {strength} inhibitor of {to+}"

[[rule]]
relation = "INHIBITS"
pattern = "{to} is {strength} inhibited by {from+}"
words = { strength = { strongly = "strong", moderately = "moderate" } }

[[rule]]
relation = "INHIBITS"
pattern = "{from}是{to}的{strength}抑制剂"
words = { strength = { "强" = "strong", "中等" = "moderate" } }

[[rule]]
relation = "INTERACTS_WITH"
pattern = "the combination of {from} and {to}"
"#;

    fn extractor() -> Extractor {
        let mut db = GraphDb::in_memory();
        db.execute(
            "CREATE (:Drug {id: 'fluconazole', zh: '氟康唑'}), (:Drug {id: 'simvastatin'}), (:Drug {id: 'cobicistat'}),
                    (:Drug {id: 'warfarin'}), (:Drug {id: 'fluvoxamine'}),
                    (:Enzyme {id: 'CYP2C19'}), (:Enzyme {id: 'CYP2C9'}), (:Enzyme {id: 'CYP3A4'}),
                    (:Enzyme {id: 'UGT', aliases: ['glucuronidation enzymes']})",
            &crate::Params::new(),
        )
        .unwrap();
        let schema = Schema::from_toml(SCHEMA).unwrap();
        let lexicon = Lexicon::from_graph(db.graph(), &schema);
        Extractor::new(schema, lexicon).unwrap()
    }

    fn triples(facts: &[Fact]) -> Vec<(String, String, String)> {
        facts
            .iter()
            .map(|f| (f.from.key.clone(), f.to.key.clone(), f.props.get("strength").cloned().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn rules_read_lists_subjects_passives_and_chinese() {
        let x = extractor();
        let t = |s: &str| triples(&x.extract(s));
        assert_eq!(
            t(
                "Fluconazole is a strong inhibitor of CYP2C19, a moderate inhibitor of CYP2C9, and a moderate inhibitor of CYP3A4."
            ),
            [
                ("fluconazole".into(), "CYP2C19".into(), "strong".into()),
                ("fluconazole".into(), "CYP2C9".into(), "moderate".into()),
                ("fluconazole".into(), "CYP3A4".into(), "moderate".into())
            ]
        );
        assert_eq!(
            t("Cobicistat is a strong, mechanism-based inhibitor of CYP3A4 and UGT enzymes."),
            [
                ("cobicistat".into(), "CYP3A4".into(), "strong".into()),
                ("cobicistat".into(), "UGT".into(), "strong".into())
            ]
        );
        assert_eq!(
            t("CYP2C19 is strongly inhibited by fluvoxamine and fluconazole."),
            [
                ("fluvoxamine".into(), "CYP2C19".into(), "strong".into()),
                ("fluconazole".into(), "CYP2C19".into(), "strong".into())
            ]
        );
        assert_eq!(t("氟康唑是CYP2C9的中等抑制剂。"), [("fluconazole".into(), "CYP2C9".into(), "moderate".into())]);
        // Unknown names are never guessed; a word inside another is no mention.
        assert!(t("Zorbitrex is a strong inhibitor of CYP3A4.").is_empty());
        assert!(t("Nonfluconazolex is a strong inhibitor of CYP3A4.").is_empty());
        // A negation states nothing; a subject must come before what it is the subject of.
        assert!(t("Simvastatin is not a strong inhibitor of CYP3A4.").is_empty());
        assert!(t("Smoke is a strong inhibitor of CYP3A4 and raises fluconazole levels.").is_empty());
        // The same interaction stated both ways is one fact.
        assert_eq!(
            x.extract("The combination of warfarin and fluconazole; the combination of fluconazole and warfarin.")
                .len(),
            1
        );
    }

    #[test]
    fn schemas_that_do_not_fit_are_refused() {
        for (bad, why) in [
            ("[relation.R]\nfrom = [\"X\"]\nto = [\"X\"]", "undeclared entity type"),
            ("[entity.D]\n[[rule]]\nrelation = \"R\"\npattern = \"{from} r {to}\"", "undeclared relation"),
            (
                "[entity.D]\n[relation.R]\nfrom = [\"D\"]\nto = [\"D\"]\n[[rule]]\nrelation = \"R\"\npattern = \"{from} is {size} {to}\"",
                "no such property",
            ),
            (
                "[entity.D]\n[relation.R]\nfrom = [\"D\"]\nto = [\"D\"]\n[[rule]]\nrelation = \"R\"\npattern = \"just words\"",
                "needs {from} or {to}",
            ),
            (
                "[entity.D]\n[relation.R]\nfrom = [\"D\"]\nto = [\"D\"]\n[relation.R.property.s]\nvalues = [\"a\"]\n[[rule]]\nrelation = \"R\"\npattern = \"{from} {to}\"\nset = { s = \"b\" }",
                "not a value",
            ),
            ("[entity.D]\nunknown = 1", "unknown field"),
        ] {
            let e = Schema::from_toml(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
