//! The in-memory corpus that navigation reads: every document's tree and planned chunks,
//! and the lexical index. Built from the knowledge base when it is opened and updated one
//! document at a time; the knowledge base on disk stays the system of record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use cairn_core::{Chunk, ChunkId, ChunkText, DocKey, DocTree, NodeKind, NodeLookup, SectionNumber, StableId};
use cairn_index::{Field, LexicalIndex, NodeTerms, Slot};

/// One document in the corpus.
#[derive(Debug)]
pub struct DocEntry {
    /// The tree.
    pub tree: DocTree,
    /// Planned chunks, parents before children.
    pub chunks: Vec<Chunk>,
    /// The document's segment in the lexical index.
    pub slot: Slot,
    /// Top-level chunks.
    pub roots: Vec<usize>,
    /// Children of each chunk.
    pub children: Vec<Vec<usize>>,
    /// The node range (pre-order indices) each chunk covers.
    pub ranges: Vec<Range<u32>>,
    /// Section numbers, for clause references: (node index, number).
    pub numbers: Vec<(u32, SectionNumber)>,
    /// The title's words, numbers and dates aside: what a question that names the
    /// document says of it.
    pub title_terms: Vec<String>,
    /// Every amount the document states, sorted; read on first use (a question that
    /// asserts an amount), then kept.
    amounts: std::sync::OnceLock<Vec<f64>>,
    by_id: HashMap<StableId, u32>,
    by_chunk: HashMap<ChunkId, usize>,
}

impl DocEntry {
    /// The node index of `id`.
    pub fn node_index(&self, id: &StableId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The chunk with `id`.
    pub fn chunk_index(&self, id: &ChunkId) -> Option<usize> {
        self.by_chunk.get(id).copied()
    }

    /// Whether the document states `amount` anywhere (its title, a heading, a paragraph),
    /// in any notation (`£18.5 million`, `18,500,000`).
    pub fn states_amount(&self, amount: f64) -> bool {
        let amounts = self.amounts.get_or_init(|| {
            let mut all: Vec<f64> = std::iter::once(&self.tree.title)
                .chain(self.tree.nodes.iter().map(|n| &n.text))
                .filter(|t| t.bytes().any(|b| b.is_ascii_digit()))
                .flat_map(|t| cairn_text::amounts::stated_amounts(t))
                .collect();
            all.sort_by(f64::total_cmp);
            all.dedup();
            all
        });
        // Wider than `same_amount`'s tolerance, which decides.
        let window = 0.01 + 2e-9 * amount.abs();
        let i = amounts.partition_point(|&v| v < amount - window);
        amounts[i..].iter().take_while(|&&v| v <= amount + window).any(|&v| cairn_text::amounts::same_amount(v, amount))
    }

    /// The whole document as a range.
    pub fn full_range(&self) -> Range<u32> {
        0..self.tree.nodes.len() as u32
    }

    /// Whether the chunk is a single paragraph.
    pub fn is_leaf(&self, chunk: usize) -> bool {
        self.children[chunk].is_empty()
    }
}

/// The index terms of `tree`'s nodes with each table's column names stated once, as a
/// table states them in its header: every row carries its column names (so that a row
/// cited alone reads "Line = Paid media | Planned GBP = 40000"), but counting them in each
/// row would make a column name look as common as the table is long and sink its IDF
/// across the whole corpus. A column name that several rows share is indexed in the first
/// of them and becomes a heading term of the table's section, which every row inherits;
/// later rows are indexed by their label and values. A name only one row has (a summary
/// block's `NPS = 41`) is that row's own text.
fn header_once<'t>(tree: &DocTree, terms: &'t [String]) -> Vec<Cow<'t, str>> {
    let mut out: Vec<Cow<'t, str>> = terms.iter().map(|t| Cow::Borrowed(t.as_str())).collect();
    let mut tables: HashMap<u32, Vec<(usize, cairn_core::table::Row)>> = HashMap::new();
    for (i, node) in tree.nodes.iter().enumerate().take(out.len()) {
        if node.kind != NodeKind::Paragraph {
            continue;
        }
        if let (Some(parent), Some(row)) = (node.parent, cairn_core::table::parse_row(&node.text)) {
            tables.entry(parent).or_default().push((i, row));
        }
    }
    for (section, rows) in tables {
        let mut shared: HashMap<&str, usize> = HashMap::new();
        for (_, row) in &rows {
            for (name, _) in &row.cells {
                *shared.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut stated: Vec<&str> = Vec::new();
        for (i, row) in &rows {
            let mut text = row.label.clone().unwrap_or_default();
            let mut dropped = false;
            for (name, value) in &row.cells {
                let header = shared.get(name.as_str()).is_some_and(|&n| n > 1);
                if !header || !stated.contains(&name.as_str()) {
                    if header {
                        stated.push(name);
                    }
                    text.push(' ');
                    text.push_str(name);
                } else {
                    dropped = true;
                }
                text.push(' ');
                text.push_str(value);
            }
            if dropped {
                out[*i] = Cow::Owned(cairn_text::Analyzer.terms(&text).join(" "));
            }
        }
        if let Some(own) = out.get_mut(section as usize).filter(|_| !stated.is_empty()) {
            let added = cairn_text::Analyzer.terms(&stated.join(" ")).join(" ");
            *own = Cow::Owned(format!("{own} {added}"));
        }
    }
    out
}

/// All documents and the lexical index.
#[derive(Debug, Default)]
pub struct Corpus {
    docs: Vec<DocEntry>,
    by_key: HashMap<DocKey, usize>,
    index: LexicalIndex,
}

impl Corpus {
    /// Adds or replaces a document. `terms` holds each node's analysed terms,
    /// space-separated, parallel to `tree.nodes`.
    pub fn upsert(&mut self, tree: DocTree, chunks: Vec<Chunk>, terms: &[String]) {
        let terms = header_once(&tree, terms);
        let nodes: Vec<NodeTerms> = tree
            .nodes
            .iter()
            .zip(terms.iter())
            .map(|(n, t)| NodeTerms {
                field: if n.kind == NodeKind::Paragraph { Field::Body } else { Field::Heading },
                terms: t.clone().into_owned(),
            })
            .collect();
        let slot = self.index.replace(tree.key.as_str(), &nodes);
        let by_id: HashMap<StableId, u32> =
            tree.nodes.iter().enumerate().map(|(i, n)| (n.id.clone(), i as u32)).collect();
        let by_chunk: HashMap<ChunkId, usize> = chunks.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        let mut children = vec![Vec::new(); chunks.len()];
        let mut roots = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            match chunk.parent.as_ref().and_then(|p| by_chunk.get(p)) {
                Some(&p) => children[p].push(i),
                None => roots.push(i),
            }
        }
        let ranges = chunks
            .iter()
            .map(|c| {
                let first = c.members.first().and_then(|m| by_id.get(m)).copied().unwrap_or(0);
                let last = c.members.last().and_then(|m| by_id.get(m)).copied().unwrap_or(first);
                first..tree.nodes[last as usize].end
            })
            .collect();
        let numbers = tree
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.heading.as_ref()?.number.clone().map(|num| (i as u32, num)))
            .collect();
        let title_terms = crate::navigator::title_terms(&tree.title);
        let entry = DocEntry {
            tree,
            chunks,
            slot,
            roots,
            children,
            ranges,
            numbers,
            title_terms,
            amounts: std::sync::OnceLock::new(),
            by_id,
            by_chunk,
        };
        match self.by_key.get(&entry.tree.key) {
            Some(&i) => self.docs[i] = entry,
            None => {
                self.by_key.insert(entry.tree.key.clone(), self.docs.len());
                self.docs.push(entry);
            }
        }
    }

    /// Removes a document.
    pub fn remove(&mut self, key: &DocKey) {
        let Some(i) = self.by_key.remove(key) else { return };
        self.index.remove(key.as_str());
        self.docs.remove(i);
        for v in self.by_key.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
    }

    /// Documents in insertion order.
    pub fn docs(&self) -> &[DocEntry] {
        &self.docs
    }

    /// The document with `key`.
    pub fn doc(&self, key: &DocKey) -> Option<&DocEntry> {
        self.by_key.get(key).map(|&i| &self.docs[i])
    }

    /// The lexical index.
    pub fn index(&self) -> &LexicalIndex {
        &self.index
    }

    /// Finds a node by stable ID: (document index, node index).
    pub fn locate(&self, id: &StableId) -> Option<(usize, u32)> {
        self.docs.iter().enumerate().find_map(|(d, doc)| doc.node_index(id).map(|n| (d, n)))
    }

    /// The document in lexical-index slot `slot`.
    pub fn doc_of_slot(&self, slot: Slot) -> Option<usize> {
        self.docs.iter().position(|d| d.slot == slot)
    }
}

impl NodeLookup for Corpus {
    fn node_text(&self, id: &StableId) -> Option<Cow<'_, str>> {
        if let Some((para, n)) = id.split_sentence() {
            let (d, i) = self.locate(&para)?;
            let s = self.docs[d].tree.sentences(i as usize).into_iter().find(|s| s.n == n)?;
            return Some(Cow::Owned(s.text.to_owned()));
        }
        let (d, i) = self.locate(id)?;
        Some(Cow::Borrowed(self.docs[d].tree.nodes[i as usize].text.as_str()))
    }
}

impl ChunkText for Corpus {
    fn chunk_text(&self, chunk: &ChunkId, max_tokens: usize) -> String {
        for doc in &self.docs {
            if let Some(c) = doc.chunk_index(chunk) {
                let mut out = String::new();
                let mut tokens = 0;
                for node in &doc.tree.nodes[doc.ranges[c].start as usize..doc.ranges[c].end as usize] {
                    if tokens >= max_tokens {
                        break;
                    }
                    tokens += cairn_text::approx_tokens(&node.text) as usize;
                    out.push_str(&node.text);
                    out.push_str("\n\n");
                }
                return out.trim_end().to_owned();
            }
        }
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::DocKey;
    use cairn_ingest::{Format, IngestOptions, ingest_bytes};
    use cairn_text::Analyzer;

    /// Shared column names are indexed once (first row, and the table's section); a name
    /// only one row has (a summary block's `NPS = 41`) stays in that row's terms.
    #[test]
    fn shared_column_names_are_indexed_once() {
        let csv = "Customer,Score\nHolloway,6\nMarlow,9\nIvybridge,9\n";
        let key = DocKey::new("survey").unwrap();
        let mut doc =
            ingest_bytes(&key, "survey.csv", csv.as_bytes(), Format::Csv, &IngestOptions::default(), None).unwrap();
        let rows: Vec<usize> = (0..doc.tree.nodes.len())
            .filter(|&i| cairn_core::table::parse_row(&doc.tree.nodes[i].text).is_some())
            .collect();
        assert_eq!(rows.len(), 3, "{:#?}", doc.tree.nodes);
        let last = *rows.last().unwrap();
        doc.tree.nodes[last].text = "Rows 5-6: Responses = 3 | NPS = 41".into();
        let terms: Vec<String> = doc.tree.nodes.iter().map(|n| Analyzer.terms(&n.text).join(" ")).collect();
        let out = super::header_once(&doc.tree, &terms);
        assert_eq!(out[rows[0]], terms[rows[0]], "the first row keeps its column names");
        assert_eq!(out[rows[1]], "row 3 marlow 9", "later rows: label and values");
        assert_eq!(out[last], terms[last], "names only this row has are its text");
        let section = doc.tree.nodes[rows[0]].parent.unwrap() as usize;
        assert!(out[section].ends_with(" custom score"), "{}", out[section]);
    }
}
