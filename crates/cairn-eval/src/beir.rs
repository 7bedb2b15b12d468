//! BEIR-format retrieval sets: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl`
//! (`_id`, `text`) and `qrels/<split>.tsv` (`query-id`, `corpus-id`, `score`, with a header
//! row). Each corpus entry becomes one document, so `search`'s document-level ranking is
//! the BEIR ranking; relevance is binary (score > 0).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::dossier::{Case, EvalError, Result, SearchQuery};

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: serde_json::Value,
    #[serde(default)]
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: serde_json::Value,
    text: String,
}

fn id_text(v: &serde_json::Value) -> String {
    if let serde_json::Value::String(s) = v { s.clone() } else { v.to_string() }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_owned(), source })
}

fn bad(path: &Path, line: usize, e: impl std::fmt::Display) -> EvalError {
    EvalError::Format { path: path.to_owned(), detail: format!("line {line}: {e}") }
}

/// Whether `dir` looks like a BEIR folder.
pub fn is_beir(dir: &Path) -> bool {
    dir.join("corpus.jsonl").is_file() && dir.join("queries.jsonl").is_file() && dir.join("qrels").is_dir()
}

/// Loads a BEIR folder as a case whose documents are written under `work` (one Markdown
/// file per corpus entry). `split` picks `qrels/<split>.tsv` (`test` by default in the CLI).
pub fn load(dir: &Path, split: &str, work: &Path, k: usize) -> Result<Case> {
    let corpus_path = dir.join("corpus.jsonl");
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut docs = Vec::new();
    std::fs::create_dir_all(work).map_err(|source| EvalError::Io { path: work.to_owned(), source })?;
    for (i, line) in read(&corpus_path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: CorpusLine = serde_json::from_str(line).map_err(|e| bad(&corpus_path, i + 1, e))?;
        let id = id_text(&entry.id);
        // Document keys are file-stem-like; keep them unique and traceable to the BEIR id.
        // The key is what ingest will name the file's document (`DocKey::from_file_stem`
        // lowercases and folds `_`), so rankings and qrels speak the same keys.
        let mut key = cairn_core::DocKey::from_file_stem(&id).as_str().to_owned();
        if keys.values().any(|k| *k == key) {
            key = cairn_core::DocKey::from_file_stem(&format!("{key}-{i}")).as_str().to_owned();
        }
        let title = if entry.title.trim().is_empty() { id.clone() } else { entry.title.clone() };
        let path = work.join(format!("{key}.md"));
        std::fs::write(&path, format!("# {title}\n\n{}\n", entry.text))
            .map_err(|source| EvalError::Io { path: path.clone(), source })?;
        keys.insert(id, key.clone());
        docs.push((key, path));
    }
    let queries_path = dir.join("queries.jsonl");
    let mut texts: HashMap<String, String> = HashMap::new();
    for (i, line) in read(&queries_path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(line).map_err(|e| bad(&queries_path, i + 1, e))?;
        texts.insert(id_text(&q.id), q.text);
    }
    let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    let mut relevant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in read(&qrels_path)?.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 0 && cols.first().is_some_and(|c| c.starts_with("query")) {
            continue;
        }
        if cols.len() < 3 {
            continue;
        }
        let score: f64 = cols[2].trim().parse().map_err(|e| bad(&qrels_path, i + 1, e))?;
        if score <= 0.0 {
            continue;
        }
        let key = keys.get(cols[1]).ok_or_else(|| bad(&qrels_path, i + 1, format!("unknown corpus id {}", cols[1])))?;
        relevant.entry(cols[0].to_owned()).or_default().push(key.clone());
    }
    let mut queries = Vec::new();
    for (qid, expect) in relevant {
        let text = texts.get(&qid).ok_or_else(|| bad(&qrels_path, 0, format!("unknown query id {qid}")))?;
        queries.push(SearchQuery { query: text.clone(), expect, k });
    }
    let name = dir.file_name().map_or_else(|| "beir".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(Case { name, docs, queries, scenarios: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_beir_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("corpus.jsonl"),
            "{\"_id\": \"_D_1\", \"title\": \"Warfarin\", \"text\": \"Warfarin is cleared by CYP2C9.\"}\n{\"_id\": 2, \"text\": \"Digoxin is a P-gp substrate.\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("queries.jsonl"),
            "{\"_id\": \"q1\", \"text\": \"which enzyme clears warfarin\"}\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("qrels")).unwrap();
        std::fs::write(dir.path().join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\t_D_1\t1\nq1\t2\t0\n")
            .unwrap();
        assert!(is_beir(dir.path()));
        let work = dir.path().join("work");
        let case = load(dir.path(), "test", &work, 10).unwrap();
        assert_eq!(case.docs.len(), 2);
        assert_eq!(case.queries.len(), 1);
        // The key is the one ingest gives the file `d-1.md`, so rankings match the qrels.
        assert_eq!(case.queries[0].expect, vec!["d-1".to_owned()]);
        assert!(std::fs::read_to_string(&case.docs[0].1).unwrap().contains("CYP2C9"));
        std::fs::write(dir.path().join("qrels/test.tsv"), "q1\tnope\t1\n").unwrap();
        assert!(load(dir.path(), "test", &work, 10).is_err());
    }
}
