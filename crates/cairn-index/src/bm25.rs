//! BM25 with per-document segments.
//!
//! * IDF: `ln(1 + (N - df + 0.5) / (df + 0.5))`, with N the number of paragraphs in the
//!   corpus and df the number containing the term (Lucene's form, never negative).
//! * Term weight: `idf · tf·(k1+1) / (tf + k1·(1 - b + b·len/avglen))`, k1 = 1.2, b = 0.75.
//! * A range (a navigation chunk) is scored as one pseudo-document whose tf and length are
//!   the sums over its paragraphs, against the average length of the ranges it competes
//!   with.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// BM25 k1.
pub const K1: f32 = 1.2;
/// BM25 b.
pub const B: f32 = 0.75;

/// Which field a node's terms belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    /// Paragraph text: the unit of retrieval.
    Body,
    /// A section heading or document title.
    Heading,
}

/// The analysed terms of one node (space-separated), in tree order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTerms {
    /// Field.
    pub field: Field,
    /// Space-separated terms.
    pub terms: String,
}

/// Identifies one document's segment.
pub type Slot = u32;

#[derive(Debug, Default)]
struct Segment {
    key: String,
    /// term -> [(node, cumulative tf up to and including this posting)]
    body: HashMap<String, Vec<(u32, u32)>>,
    /// term -> [node] for headings
    heading: HashMap<String, Vec<u32>>,
    /// Body length of each node (0 for non-paragraphs).
    lens: Vec<u32>,
    /// Prefix sums of `lens`: `len_prefix[i]` = sum of lens[..i].
    len_prefix: Vec<u64>,
    /// Per-term paragraph counts contributed to the global df.
    df: HashMap<String, u32>,
    paragraphs: u32,
}

/// The lexical index: one segment per document, global statistics.
#[derive(Debug, Default)]
pub struct LexicalIndex {
    segments: Vec<Option<Segment>>,
    by_key: HashMap<String, Slot>,
    df: HashMap<String, u32>,
    paragraphs: u64,
    total_len: u64,
}

/// An analysed query bound to the index statistics at creation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Distinct terms with their IDF.
    pub terms: Vec<(String, f32)>,
    /// Average paragraph length.
    pub avg_len: f32,
}

impl Query {
    /// Sum of all term IDFs: the most a text can match.
    pub fn total_idf(&self) -> f32 {
        self.terms.iter().map(|(_, idf)| idf).sum()
    }
}

/// A scored paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Document segment.
    pub slot: Slot,
    /// Node index in that document's tree.
    pub node: u32,
    /// BM25 score.
    pub score: f32,
    /// Indices into the query's terms that matched.
    pub matched: Vec<usize>,
}

/// The statistics of a range, for scoring it against others.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeScore {
    /// Summed tf of each query term.
    pub tf: Vec<u32>,
    /// Summed body length.
    pub len: u64,
    /// Query terms found in a heading within the range.
    pub heading_hits: Vec<bool>,
}

impl RangeScore {
    /// BM25 of the range as one pseudo-document with average length `avg_len`.
    pub fn bm25(&self, query: &Query, avg_len: f32) -> f32 {
        let norm = 1.0 - B + B * (self.len as f32 / avg_len.max(1.0));
        query.terms.iter().zip(&self.tf).map(|((_, idf), &tf)| weight(*idf, tf as f32, norm)).sum()
    }

    /// IDF-weighted share of the query's terms that occur in the range (body or heading).
    pub fn coverage(&self, query: &Query) -> f32 {
        let total = query.total_idf();
        if total <= 0.0 {
            return 0.0;
        }
        let hit: f32 = query
            .terms
            .iter()
            .enumerate()
            .filter(|(i, _)| self.tf[*i] > 0 || self.heading_hits[*i])
            .map(|(_, (_, idf))| idf)
            .sum();
        hit / total
    }
}

fn weight(idf: f32, tf: f32, norm: f32) -> f32 {
    if tf <= 0.0 { 0.0 } else { idf * tf * (K1 + 1.0) / (tf + K1 * norm) }
}

impl LexicalIndex {
    /// Replaces (or adds) the segment of document `key` with `nodes` (in tree order), and
    /// returns its slot. Cost: proportional to this document's size.
    pub fn replace(&mut self, key: &str, nodes: &[NodeTerms]) -> Slot {
        self.remove(key);
        let mut seg = Segment { key: key.to_owned(), lens: vec![0; nodes.len()], ..Segment::default() };
        for (i, node) in nodes.iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for term in node.terms.split(' ').filter(|t| !t.is_empty()) {
                *counts.entry(term).or_default() += 1;
            }
            match node.field {
                Field::Body => {
                    seg.lens[i] = counts.values().sum();
                    seg.paragraphs += 1;
                    for (term, tf) in counts {
                        let postings = seg.body.entry(term.to_owned()).or_default();
                        let cum = postings.last().map_or(0, |p| p.1) + tf;
                        postings.push((i as u32, cum));
                        *seg.df.entry(term.to_owned()).or_default() += 1;
                    }
                }
                Field::Heading => {
                    for term in counts.into_keys() {
                        seg.heading.entry(term.to_owned()).or_default().push(i as u32);
                    }
                }
            }
        }
        seg.len_prefix = std::iter::once(0)
            .chain(seg.lens.iter().scan(0u64, |acc, &l| {
                *acc += u64::from(l);
                Some(*acc)
            }))
            .collect();
        for (term, n) in &seg.df {
            *self.df.entry(term.clone()).or_default() += n;
        }
        self.paragraphs += u64::from(seg.paragraphs);
        self.total_len += seg.len_prefix.last().copied().unwrap_or(0);
        let slot = match self.segments.iter().position(Option::is_none) {
            Some(free) => {
                self.segments[free] = Some(seg);
                free as Slot
            }
            None => {
                self.segments.push(Some(seg));
                (self.segments.len() - 1) as Slot
            }
        };
        self.by_key.insert(key.to_owned(), slot);
        slot
    }

    /// Removes document `key`'s segment, if present.
    pub fn remove(&mut self, key: &str) {
        let Some(slot) = self.by_key.remove(key) else { return };
        let Some(seg) = self.segments[slot as usize].take() else { return };
        for (term, n) in seg.df {
            if let Some(df) = self.df.get_mut(&term) {
                *df -= n.min(*df);
                if *df == 0 {
                    self.df.remove(&term);
                }
            }
        }
        self.paragraphs -= u64::from(seg.paragraphs);
        self.total_len -= seg.len_prefix.last().copied().unwrap_or(0);
    }

    /// The slot of document `key`.
    pub fn slot(&self, key: &str) -> Option<Slot> {
        self.by_key.get(key).copied()
    }

    /// Number of paragraphs indexed.
    pub fn paragraphs(&self) -> u64 {
        self.paragraphs
    }

    /// Average paragraph length in terms.
    pub fn avg_len(&self) -> f32 {
        if self.paragraphs == 0 { 1.0 } else { self.total_len as f32 / self.paragraphs as f32 }
    }

    /// Whether any paragraph or heading of the index holds `term`.
    pub fn holds(&self, term: &str) -> bool {
        self.df.get(term).is_some_and(|&d| d > 0)
            || self.segments.iter().flatten().any(|seg| seg.heading.get(term).is_some_and(|n| !n.is_empty()))
    }

    /// Binds analysed `terms` to the current statistics. Duplicates are merged; terms the
    /// corpus has never seen are kept with the IDF of the rarest possible known term
    /// (df = 1), so they count against coverage without drowning everything else.
    pub fn query(&self, terms: &[String]) -> Query {
        let n = self.paragraphs as f32;
        let mut out: Vec<(String, f32)> = Vec::new();
        for term in terms {
            if out.iter().any(|(t, _)| t == term) {
                continue;
            }
            let df = self.df.get(term).copied().unwrap_or(1).max(1) as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            out.push((term.clone(), idf));
        }
        Query { terms: out, avg_len: self.avg_len() }
    }

    /// Statistics of nodes `range` of document `slot`.
    pub fn range(&self, slot: Slot, range: Range<u32>, query: &Query) -> RangeScore {
        let mut score =
            RangeScore { tf: vec![0; query.terms.len()], len: 0, heading_hits: vec![false; query.terms.len()] };
        let Some(seg) = self.segments.get(slot as usize).and_then(Option::as_ref) else { return score };
        let (lo, hi) = (range.start as usize, (range.end as usize).min(seg.lens.len()));
        if lo >= hi {
            return score;
        }
        score.len = seg.len_prefix[hi] - seg.len_prefix[lo];
        for (i, (term, _)) in query.terms.iter().enumerate() {
            if let Some(postings) = seg.body.get(term) {
                let a = postings.partition_point(|p| (p.0 as usize) < lo);
                let b = postings.partition_point(|p| (p.0 as usize) < hi);
                if b > a {
                    let before = if a == 0 { 0 } else { postings[a - 1].1 };
                    score.tf[i] = postings[b - 1].1 - before;
                }
            }
            if let Some(nodes) = seg.heading.get(term) {
                let a = nodes.partition_point(|&n| (n as usize) < lo);
                score.heading_hits[i] = nodes.get(a).is_some_and(|&n| (n as usize) < hi);
            }
        }
        score
    }

    /// Whether node `node` of `slot` has `term` in its heading field.
    pub fn heading_has(&self, slot: Slot, node: u32, term: &str) -> bool {
        self.segments
            .get(slot as usize)
            .and_then(Option::as_ref)
            .and_then(|seg| seg.heading.get(term))
            .is_some_and(|nodes| nodes.binary_search(&node).is_ok())
    }

    /// The top `k` paragraphs for `query`, optionally restricted to node ranges of given
    /// documents. Ties break by slot, then node, so results are deterministic.
    ///
    /// Scores accumulate term-at-a-time into a dense per-segment array (no hashing), and
    /// the top k are selected with a partial sort.
    pub fn top_paragraphs(&self, query: &Query, k: usize, within: Option<&[(Slot, Range<u32>)]>) -> Vec<Hit> {
        let avg = query.avg_len.max(1.0);
        // Candidates carry their matched-term mask; the `matched` lists are built only for
        // the k that survive selection.
        let mut cands: Vec<(Slot, u32, f32, u64)> = Vec::new();
        let mut scores: Vec<f32> = Vec::new();
        let mut masks: Vec<u64> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        let mut visit = |slot: Slot,
                         seg: &Segment,
                         range: Option<&Range<u32>>,
                         cands: &mut Vec<(Slot, u32, f32, u64)>| {
            scores.clear();
            scores.resize(seg.lens.len(), 0.0);
            masks.clear();
            masks.resize(seg.lens.len(), 0);
            touched.clear();
            for (i, (term, idf)) in query.terms.iter().enumerate() {
                let Some(postings) = seg.body.get(term) else { continue };
                let (a, b) = match range {
                    Some(r) => (postings.partition_point(|p| p.0 < r.start), postings.partition_point(|p| p.0 < r.end)),
                    None => (0, postings.len()),
                };
                let mut before = if a == 0 { 0 } else { postings[a - 1].1 };
                for &(node, cum) in &postings[a..b] {
                    let tf = (cum - before) as f32;
                    before = cum;
                    let n = node as usize;
                    let norm = 1.0 - B + B * (seg.lens[n] as f32 / avg);
                    if masks[n] == 0 {
                        touched.push(node);
                    }
                    scores[n] += weight(*idf, tf, norm);
                    masks[n] |= 1u64 << i.min(63);
                }
            }
            cands.extend(touched.iter().map(|&node| (slot, node, scores[node as usize], masks[node as usize])));
        };
        match within {
            Some(ranges) => {
                for (slot, range) in ranges {
                    if let Some(seg) = self.segments.get(*slot as usize).and_then(Option::as_ref) {
                        visit(*slot, seg, Some(range), &mut cands);
                    }
                }
                // Overlapping ranges of one document may report a paragraph twice.
                cands.sort_by_key(|c| (c.0, c.1));
                cands.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            }
            None => {
                for (slot, seg) in self.segments.iter().enumerate() {
                    if let Some(seg) = seg {
                        visit(slot as Slot, seg, None, &mut cands);
                    }
                }
            }
        }
        let order = |a: &(Slot, u32, f32, u64), b: &(Slot, u32, f32, u64)| {
            b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1))
        };
        if k < cands.len() {
            cands.select_nth_unstable_by(k, order);
            cands.truncate(k);
        }
        cands.sort_by(order);
        let terms = query.terms.len().min(64);
        cands
            .into_iter()
            .map(|(slot, node, score, mask)| Hit {
                slot,
                node,
                score,
                matched: (0..terms).filter(|i| mask & (1u64 << i) != 0).collect(),
            })
            .collect()
    }

    /// The key of the document in `slot`.
    pub fn key(&self, slot: Slot) -> Option<&str> {
        self.segments.get(slot as usize).and_then(Option::as_ref).map(|s| s.key.as_str())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn body(s: &str) -> NodeTerms {
        NodeTerms { field: Field::Body, terms: s.to_owned() }
    }

    fn heading(s: &str) -> NodeTerms {
        NodeTerms { field: Field::Heading, terms: s.to_owned() }
    }

    #[test]
    fn bm25_prefers_rarer_terms_and_shorter_paragraphs() {
        let mut index = LexicalIndex::default();
        index.replace("a", &[body("cyp3a4 common"), body("common common"), body("common x y z w v u cyp3a4")]);
        let q = index.query(&["cyp3a4".into(), "common".into()]);
        assert!(q.terms[0].1 > q.terms[1].1, "rarer term has higher idf");
        let hits = index.top_paragraphs(&q, 3, None);
        assert_eq!(hits[0].node, 0);
        assert_eq!(hits[0].matched, vec![0, 1]);
    }

    #[test]
    fn ranges_sum_their_paragraphs() {
        let mut index = LexicalIndex::default();
        let slot = index.replace("a", &[heading("enzym"), body("x y"), body("y z z"), heading("other"), body("z")]);
        let q = index.query(&["z".into(), "enzym".into()]);
        let r = index.range(slot, 0..3, &q);
        assert_eq!(r.tf, vec![2, 0]);
        assert_eq!(r.len, 5);
        assert_eq!(r.heading_hits, vec![false, true]);
        assert_eq!(index.range(slot, 3..5, &q).tf, vec![1, 0]);
        assert!(r.coverage(&q) > 0.99);
    }

    #[test]
    fn replacing_a_segment_updates_global_statistics() {
        let mut index = LexicalIndex::default();
        index.replace("a", &[body("x"), body("x y")]);
        index.replace("b", &[body("y")]);
        assert_eq!(index.paragraphs(), 3);
        index.replace("a", &[body("z")]);
        assert_eq!(index.paragraphs(), 2);
        let q = index.query(&["x".into()]);
        assert!(index.top_paragraphs(&q, 5, None).is_empty(), "old text is gone");
        index.remove("b");
        assert_eq!(index.paragraphs(), 1);
        assert_eq!(index.slot("a"), Some(0));
    }

    proptest! {
        /// Top-k equals sort-then-truncate of all scored paragraphs.
        #[test]
        fn top_k_is_sort_then_truncate(docs in prop::collection::vec(prop::collection::vec("[abc]{1,3}( [abc]{1,3}){0,5}", 1..6), 1..4), k in 1usize..10) {
            let mut index = LexicalIndex::default();
            for (i, paras) in docs.iter().enumerate() {
                let nodes: Vec<NodeTerms> = paras.iter().map(|p| body(p)).collect();
                index.replace(&format!("d{i}"), &nodes);
            }
            let q = index.query(&["a".into(), "bb".into(), "c".into()]);
            let all = index.top_paragraphs(&q, usize::MAX, None);
            let top = index.top_paragraphs(&q, k, None);
            prop_assert_eq!(top, all.into_iter().take(k).collect::<Vec<_>>());
        }
    }
}
