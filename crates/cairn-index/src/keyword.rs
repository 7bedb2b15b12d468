//! The keyword index on tantivy: one tantivy document per paragraph, with the document
//! title, the heading path and the body as separate fields (boosted 0.5, 1.5 and 1).
//!
//! Text is indexed **pre-tokenised** by Cairn's own analyzer (jieba for Chinese, Snowball
//! for English, `第十条` → `第10条`, dotted numbers kept whole), so tantivy and the in-memory
//! BM25 agree on every term, and clause numbers and jargon match exactly.
//!
//! Updates are per node: the IDs a new version retired are deleted by term, the new IDs
//! added, and the commit's payload records the store version of each document it reflects.
//! On open, a caller compares those versions with the store and replays what is missing, so
//! a crash between the store's commit and this one is repaired, never served.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::error::{IndexError, Result};

/// Field boosts: title, headings, body.
const BOOSTS: [f32; 3] = [0.5, 1.5, 1.0];

/// One paragraph to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordDoc {
    /// The paragraph's stable ID.
    pub id: String,
    /// Its document's key.
    pub doc: String,
    /// Analysed terms of the document title.
    pub title: Vec<String>,
    /// Analysed terms of the enclosing headings.
    pub headings: Vec<String>,
    /// Analysed terms of the paragraph.
    pub body: Vec<String>,
}

/// A tantivy-backed keyword index.
pub struct KeywordIndex {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    id: Field,
    doc: Field,
    fields: [Field; 3],
    reflects: BTreeMap<String, u32>,
}

impl std::fmt::Debug for KeywordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordIndex").field("documents", &self.reflects.len()).finish()
    }
}

fn err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Keyword(e.to_string())
}

fn pre_tokenized(terms: &[String]) -> PreTokenizedString {
    let tokens = terms
        .iter()
        .enumerate()
        .map(|(i, t)| Token { offset_from: 0, offset_to: 0, position: i, text: t.clone(), position_length: 1 })
        .collect();
    PreTokenizedString { text: String::new(), tokens }
}

impl KeywordIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<KeywordIndex> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io { path: dir.to_owned(), source })?;
        let mut builder = Schema::builder();
        let id = builder.add_text_field("id", STRING | STORED);
        let doc = builder.add_text_field("doc", STRING);
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::WithFreqs),
        );
        let title = builder.add_text_field("title", text.clone());
        let headings = builder.add_text_field("headings", text.clone());
        let body = builder.add_text_field("body", text);
        let schema = builder.build();
        let exists = dir.join("meta.json").is_file();
        let index = if exists {
            Index::open_in_dir(dir).map_err(err)?
        } else {
            Index::create_in_dir(dir, schema).map_err(err)?
        };
        let writer = index.writer_with_num_threads(1, 32 * 1024 * 1024).map_err(err)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        let reflects =
            index.load_metas().map_err(err)?.payload.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
        Ok(KeywordIndex { index, writer, reader, id, doc, fields: [title, headings, body], reflects })
    }

    /// The store version of each document this index reflects.
    pub fn reflects(&self) -> &BTreeMap<String, u32> {
        &self.reflects
    }

    /// Applies one document's change in one commit: deletes `remove` IDs, adds `add`,
    /// and records that the document is at `version`.
    pub fn update(&mut self, doc_key: &str, version: u32, remove: &[String], add: &[KeywordDoc]) -> Result<()> {
        for id in remove {
            self.writer.delete_term(Term::from_field_text(self.id, id));
        }
        for d in add {
            let mut document = TantivyDocument::default();
            document.add_text(self.id, &d.id);
            document.add_text(self.doc, &d.doc);
            for (field, terms) in self.fields.iter().zip([&d.title, &d.headings, &d.body]) {
                document.add_pre_tokenized_text(*field, pre_tokenized(terms));
            }
            self.writer.add_document(document).map_err(err)?;
        }
        self.reflects.insert(doc_key.to_owned(), version);
        self.commit()
    }

    /// Removes every paragraph of a document.
    pub fn remove_document(&mut self, doc_key: &str) -> Result<()> {
        self.writer.delete_term(Term::from_field_text(self.doc, doc_key));
        self.reflects.remove(doc_key);
        self.commit()
    }

    fn commit(&mut self) -> Result<()> {
        let payload = serde_json::to_string(&self.reflects).map_err(err)?;
        let mut prepared = self.writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(err)?;
        self.reader.reload().map_err(err)
    }

    /// The paragraph IDs indexed for a document.
    pub fn ids_of(&self, doc_key: &str) -> Result<HashSet<String>> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(Term::from_field_text(self.doc, doc_key), IndexRecordOption::Basic);
        let limit = (searcher.num_docs() as usize).max(1);
        let hits = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()).map_err(err)?;
        let mut ids = HashSet::new();
        for (_, address) in hits {
            let stored: TantivyDocument = searcher.doc(address).map_err(err)?;
            if let Some(id) = stored.get_first(self.id).and_then(|v| v.as_str()) {
                ids.insert(id.to_owned());
            }
        }
        Ok(ids)
    }

    /// The top `k` paragraph IDs for analysed `terms`, optionally within `docs`.
    pub fn search(&self, terms: &[String], k: usize, docs: Option<&[String]>) -> Result<Vec<(String, f32)>> {
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let unique: Vec<&String> = {
            let mut seen = HashSet::new();
            terms.iter().filter(|t| seen.insert(*t)).collect()
        };
        for term in unique {
            for (field, boost) in self.fields.iter().zip(BOOSTS) {
                let q = TermQuery::new(Term::from_field_text(*field, term), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        if should.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        if let Some(docs) = docs {
            let filter: Vec<(Occur, Box<dyn Query>)> = docs
                .iter()
                .map(|d| {
                    let q: Box<dyn Query> =
                        Box::new(TermQuery::new(Term::from_field_text(self.doc, d), IndexRecordOption::Basic));
                    (Occur::Should, q)
                })
                .collect();
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Must, Box::new(BooleanQuery::new(filter))),
            ]));
        }
        let searcher = self.reader.searcher();
        let hits = searcher.search(&query, &TopDocs::with_limit(k).order_by_score()).map_err(err)?;
        let mut out = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let stored: TantivyDocument = searcher.doc(address).map_err(err)?;
            if let Some(id) = stored.get_first(self.id).and_then(|v| v.as_str()) {
                out.push((id.to_owned(), score));
            }
        }
        Ok(out)
    }

    /// Paragraphs indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tantivy index, for inspection.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(id: &str, doc: &str, heading: &[&str], body: &[&str]) -> KeywordDoc {
        let v = |s: &[&str]| s.iter().map(|t| t.to_string()).collect();
        KeywordDoc { id: id.into(), doc: doc.into(), title: vec![], headings: v(heading), body: v(body) }
    }

    #[test]
    fn indexes_updates_per_node_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = KeywordIndex::open(dir.path()).unwrap();
        index
            .update(
                "law",
                1,
                &[],
                &[
                    para("p1", "law", &["第10条"], &["急诊", "处方", "审查"]),
                    para("p2", "law", &["第11条"], &["记录", "保存", "3"]),
                    para("p3", "law", &["4.2"], &["warfarin", "inr"]),
                ],
            )
            .unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.search(&["第10条".into()], 5, None).unwrap()[0].0,
            "p1",
            "heading field matches clause numbers"
        );
        assert_eq!(index.search(&["4.2".into()], 5, None).unwrap()[0].0, "p3");
        // Edit p2: retire it, add its successor.
        index.update("law", 2, &["p2".into()], &[para("p2b", "law", &["第11条"], &["记录", "保存", "5"])]).unwrap();
        let hits = index.search(&["保存".into()], 5, None).unwrap();
        assert_eq!(hits.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(), vec!["p2b"]);
        assert_eq!(index.ids_of("law").unwrap(), ["p1", "p2b", "p3"].iter().map(|s| s.to_string()).collect());
        drop(index);
        let mut index = KeywordIndex::open(dir.path()).unwrap();
        assert_eq!(index.reflects().get("law"), Some(&2));
        assert!(index.search(&["急诊".into()], 5, Some(&["other".into()])).unwrap().is_empty());
        index.remove_document("law").unwrap();
        assert!(index.is_empty());
        assert!(index.reflects().is_empty());
    }
}
