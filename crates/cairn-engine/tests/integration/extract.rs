//! The graph from the documents: the bundled schema's rules, read over the bundled
//! handbook, against the 394 hand-curated facts of the pharmacology pack (precision and
//! recall per relation type, printed with examples of misses and extras); and rule facts
//! that follow edits of their sentences.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::DocKey;
use cairn_engine::extract::PHARMACOLOGY_SCHEMA;
use cairn_engine::{Kb, Settings, demo};
use cairn_graph::extract::Schema;

/// (relation, from, to), an interaction's pair in order.
type Triple = (String, String, String);

fn triple(rel: &str, from: &str, to: &str) -> Triple {
    let (a, b) = if rel == "INTERACTS_WITH" && from > to { (to, from) } else { (from, to) };
    (rel.to_owned(), a.to_owned(), b.to_owned())
}

const MAIN: [&str; 3] = ["strength", "fraction", "severity"];

#[test]
fn rules_rebuild_the_curated_pharmacology_facts() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();
    demo::load_into(&mut kb).unwrap().expect("loaded");
    let extractor = kb.extractor(Schema::from_toml(PHARMACOLOGY_SCHEMA).unwrap()).unwrap();
    let (sentences, found) = kb.extract_facts(&extractor, &DocKey::new("pharm").unwrap()).unwrap();

    // The oracle: the hand-curated pack, with its main property.
    let mut gold: BTreeMap<Triple, Option<String>> = BTreeMap::new();
    for line in include_str!("../../demo/pharmacology-curated.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let main = MAIN.iter().find_map(|k| v[*k].as_str().map(str::to_owned));
        gold.insert(triple(&s("rel"), &s("from"), &s("to")), main);
    }
    // The curated pack covers chapters 1-16; chapter 17's profiles have no hand-written
    // facts (their graph is what the rules read: counted apart).
    let (profiles, found): (Vec<_>, Vec<_>) = found.iter().partition(|f| f.display.starts_with("pharm:17."));
    eprintln!("chapter 17 (profiles): {} facts read", profiles.len());
    let mut got: BTreeMap<Triple, (Option<String>, String)> = BTreeMap::new();
    for f in &found {
        let main = MAIN.iter().find_map(|k| f.fact.props.get(*k).cloned());
        let entry =
            got.entry(triple(&f.fact.relation, &f.fact.from.key, &f.fact.to.key)).or_insert((None, f.quote.clone()));
        // Of several sentences stating one fact, the value one of them states.
        if entry.0.as_deref().is_none_or(|v| v == "unspecified") && main.is_some() {
            *entry = (main, f.quote.clone());
        }
    }
    // The properties drug-check's ratings read besides the main one: a sensitive
    // substrate, and a route that activates a prodrug.
    for (property, value) in [("sensitivity", "sensitive"), ("activation", "true")] {
        let curated: BTreeSet<Triple> = include_str!("../../demo/pharmacology-curated.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v[property].as_str() == Some(value) || v[property].as_bool().is_some_and(|b| b.to_string() == value)
            })
            .map(|v| triple(v["rel"].as_str().unwrap(), v["from"].as_str().unwrap(), v["to"].as_str().unwrap()))
            .collect();
        let read: BTreeSet<Triple> = found
            .iter()
            .filter(|f| f.fact.props.get(property).map(String::as_str) == Some(value))
            .map(|f| triple(&f.fact.relation, &f.fact.from.key, &f.fact.to.key))
            .collect();
        let both = curated.intersection(&read).count();
        eprintln!("{property} = {value}: curated {}, read {}, both {both}", curated.len(), read.len());
        for t in curated.difference(&read) {
            eprintln!("  {property} missed: {t:?}");
        }
        assert!(both * 2 >= curated.len(), "{property}: {both} of {}", curated.len());
    }
    let rels: BTreeSet<&str> = gold.keys().map(|t| t.0.as_str()).collect();
    eprintln!(
        "{sentences} sentences read; {} facts found ({} distinct), {} curated",
        found.len(),
        got.len(),
        gold.len()
    );
    eprintln!("| relation | curated | found | matched | precision | recall | main property agrees |");
    eprintln!("|---|---|---|---|---|---|---|");
    let (mut tp_all, mut found_all, mut agree_all) = (0, 0, 0);
    for rel in &rels {
        let g: Vec<&Triple> = gold.keys().filter(|t| t.0 == *rel).collect();
        let f: Vec<&Triple> = got.keys().filter(|t| t.0 == *rel).collect();
        let tp: Vec<&&Triple> = f.iter().filter(|t| gold.contains_key(**t)).collect();
        let agree = tp
            .iter()
            .filter(|t| {
                gold[**t] == got[**t].0
                    || gold[**t].as_deref() == Some("unspecified") && got[**t].0.as_deref() == Some("unspecified")
            })
            .count();
        let p = tp.len() as f64 / f.len().max(1) as f64;
        let r = tp.len() as f64 / g.len().max(1) as f64;
        eprintln!("| {rel} | {} | {} | {} | {p:.3} | {r:.3} | {agree} of {} |", g.len(), f.len(), tp.len(), tp.len());
        tp_all += tp.len();
        found_all += f.len();
        agree_all += agree;
    }
    let (p, r) = (tp_all as f64 / found_all.max(1) as f64, tp_all as f64 / gold.len() as f64);
    eprintln!("| all | {} | {found_all} | {tp_all} | {p:.3} | {r:.3} | {agree_all} of {tp_all} |", gold.len());
    for (t, _) in gold
        .iter()
        .filter(|(t, _)| !got.contains_key(*t))
        .take(std::env::var("MISSES").ok().and_then(|v| v.parse().ok()).unwrap_or(12))
    {
        eprintln!("  missed: {t:?}");
    }
    for (t, (_, quote)) in got.iter().filter(|(t, _)| !gold.contains_key(*t)).take(12) {
        eprintln!("  extra: {t:?} from {quote:?}");
    }
    // Floors well under the measured figures (BENCHMARKS.md): a rule or lexicon change
    // that loses many facts fails here.
    assert!(r >= 0.85 && p >= 0.9, "precision {p:.3}, recall {r:.3}");
}

/// The rules alone rebuild a graph that reviews the handbook's key pairs: a knowledge
/// base with the handbook and the entity dictionary (names, aliases, Chinese names) but
/// none of the hand-written facts gets its facts from the bundled rules, and drug-check
/// finds the mechanisms and documented severities from them.
#[test]
fn the_rules_alone_rebuild_a_graph_that_reviews_the_key_pairs() {
    use cairn_engine::drug::Severity;
    let dir = tempfile::tempdir().unwrap();
    let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();
    for doc in demo::PACK {
        let key = DocKey::new(doc.key).unwrap();
        kb.ingest_bytes(&format!("demo://{}", doc.name), doc.name, doc.text.as_bytes(), Some(key), None).unwrap();
    }
    // Entities only: the node lines of the curated pack and of the profiles.
    let nodes: String = include_str!("../../demo/pharmacology-entities.jsonl")
        .lines()
        .chain(include_str!("../../demo/pharmacology-profiles.jsonl").lines())
        .filter(|l| l.contains("\"node\""))
        .map(|l| format!("{l}\n"))
        .collect();
    kb.graph_import(&[("entities.jsonl".into(), nodes, cairn_engine::graph::GraphFormat::Jsonl)]).unwrap();
    let extractor = kb.extractor(Schema::from_toml(PHARMACOLOGY_SCHEMA).unwrap()).unwrap();
    let report = kb.sync_extracted(&extractor, &DocKey::new("pharm").unwrap()).unwrap();
    eprintln!("{report:?}");
    assert!(report.added > 700, "{report:?}");
    for (a, b, want) in [
        ("simvastatin", "clarithromycin", Severity::Contraindicated),
        ("warfarin", "fluconazole", Severity::Major),
        ("warfarin", "metronidazole", Severity::Major),
        ("theophylline", "smoking", Severity::Major),
    ] {
        let review = kb.drug_check(&[a.into(), b.into()]).unwrap();
        assert_eq!(review.pairs[0].severity, want, "{a} + {b}: {:?}", review.pairs[0]);
    }
    // The CYP3A4 mechanism of the first pair, each step citing the sentence that states it.
    let review = kb.drug_check(&["simvastatin".into(), "clarithromycin".into()]).unwrap();
    let m = review.pairs[0].mechanisms.iter().find(|m| m.target == "CYP3A4").expect("the CYP3A4 path");
    assert!(m.facts.iter().all(|f| f.display.starts_with("pharm:") && !f.citation.quote.is_empty()), "{m:?}");
}
