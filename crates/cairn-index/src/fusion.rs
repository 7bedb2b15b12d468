//! Fusing ranked lists from several retrievers (BM25, dense) into one ranking, keeping for
//! every hit an explanation of where it came from.
//!
//! Both functions are pure: the output depends only on the *set* of input lists (their
//! order does not matter), and ties are broken by key, so results are deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which retriever produced a list. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retriever {
    /// Lexical BM25.
    Bm25,
    /// Dense vector similarity.
    Dense,
}

/// One hit of one retriever, best first in its list.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<K> {
    /// What was found.
    pub key: K,
    /// The retriever's own score (BM25 score, cosine similarity).
    pub score: f32,
}

/// How one retriever saw a fused hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The retriever.
    pub retriever: Retriever,
    /// 1-based rank in that retriever's list.
    pub rank: usize,
    /// That retriever's score.
    pub score: f32,
}

/// A fused hit with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fused<K> {
    /// What was found.
    pub key: K,
    /// The fused score.
    pub score: f32,
    /// 1-based rank after fusion.
    pub rank: usize,
    /// Each retriever's view, in `Retriever` order; absent retrievers did not return it.
    pub parts: Vec<Part>,
}

/// One input list with its weight.
#[derive(Debug, Clone)]
pub struct Input<'a, K> {
    /// The retriever.
    pub retriever: Retriever,
    /// Its hits, best first.
    pub hits: &'a [Ranked<K>],
    /// Its weight.
    pub weight: f32,
}

/// Reciprocal rank fusion: `score(d) = Σ_i w_i / (k + rank_i(d))`, with `rank_i` 1-based
/// and the sum over the lists that contain `d` (Cormack et al.; `k` = 60 is customary).
pub fn rrf<K: Ord + Clone>(inputs: &[Input<'_, K>], k: f32) -> Vec<Fused<K>> {
    fuse(inputs, |input, rank, _| input.weight / (k + rank as f32))
}

/// Weighted score fusion: `score(d) = Σ_i w_i · (s_i(d) − min_i) / (max_i − min_i)`, each
/// list's scores min-max normalised to [0, 1] (a list whose scores are all equal counts 1
/// for each of its hits); a list that does not contain `d` contributes 0.
pub fn weighted<K: Ord + Clone>(inputs: &[Input<'_, K>]) -> Vec<Fused<K>> {
    fuse(inputs, |input, _, score| {
        let (min, max) = input
            .hits
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), h| (lo.min(h.score), hi.max(h.score)));
        let norm = if max > min { (score - min) / (max - min) } else { 1.0 };
        input.weight * norm
    })
}

fn fuse<K: Ord + Clone>(
    inputs: &[Input<'_, K>],
    contribution: impl Fn(&Input<'_, K>, usize, f32) -> f32,
) -> Vec<Fused<K>> {
    // Sort the inputs by retriever so the summation order (and thus float rounding) does
    // not depend on the order the caller passed them in.
    let mut order: Vec<&Input<'_, K>> = inputs.iter().collect();
    order.sort_by_key(|i| i.retriever);
    let mut acc: BTreeMap<K, (f32, Vec<Part>)> = BTreeMap::new();
    for input in order {
        let mut seen = std::collections::BTreeSet::new();
        for (i, hit) in input.hits.iter().enumerate() {
            if !seen.insert(&hit.key) {
                continue; // a retriever may not vote twice for one key
            }
            let rank = i + 1;
            let entry = acc.entry(hit.key.clone()).or_insert((0.0, Vec::new()));
            entry.0 += contribution(input, rank, hit.score);
            entry.1.push(Part { retriever: input.retriever, rank, score: hit.score });
        }
    }
    let mut fused: Vec<Fused<K>> =
        acc.into_iter().map(|(key, (score, parts))| Fused { key, score, rank: 0, parts }).collect();
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    for (i, f) in fused.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    fused
}

/// Document-level fusion on top of a fused paragraph list: each input list is turned into
/// a document ranking (each document at its best paragraph's rank), those rankings are
/// fused by RRF with the inputs' weights, and `doc_weight` times its document's score is
/// added to every paragraph. Paragraphs of documents that both retrievers rank high rise
/// together. Keys whose document `doc_of` does not know gain nothing; ties are broken by key.
pub fn with_documents<K: Ord + Clone, D: Ord + Clone>(
    fused: Vec<Fused<K>>,
    inputs: &[Input<'_, K>],
    k: f32,
    doc_weight: f32,
    doc_of: impl Fn(&K) -> Option<D>,
) -> Vec<Fused<K>> {
    if doc_weight <= 0.0 {
        return fused;
    }
    let mut order: Vec<&Input<'_, K>> = inputs.iter().collect();
    order.sort_by_key(|i| i.retriever);
    let mut docs: BTreeMap<D, f32> = BTreeMap::new();
    for input in order {
        let mut seen = std::collections::BTreeSet::new();
        for hit in input.hits {
            if let Some(doc) = doc_of(&hit.key)
                && seen.insert(doc.clone())
            {
                *docs.entry(doc).or_default() += input.weight / (k + seen.len() as f32);
            }
        }
    }
    let mut out: Vec<Fused<K>> = fused
        .into_iter()
        .map(|mut f| {
            f.score += doc_weight * doc_of(&f.key).and_then(|d| docs.get(&d).copied()).unwrap_or(0.0);
            f
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    for (i, f) in out.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn list(keys: &[&'static str]) -> Vec<Ranked<&'static str>> {
        keys.iter().enumerate().map(|(i, k)| Ranked { key: *k, score: 10.0 - i as f32 }).collect()
    }

    #[test]
    fn rrf_rewards_agreement_and_explains() {
        let bm25 = list(&["a", "b", "c"]);
        let dense = list(&["b", "d", "a"]);
        let fused = rrf(
            &[
                Input { retriever: Retriever::Bm25, hits: &bm25, weight: 1.0 },
                Input { retriever: Retriever::Dense, hits: &dense, weight: 1.0 },
            ],
            60.0,
        );
        assert_eq!(fused[0].key, "b");
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(
            fused[0].parts,
            vec![
                Part { retriever: Retriever::Bm25, rank: 2, score: 9.0 },
                Part { retriever: Retriever::Dense, rank: 1, score: 10.0 },
            ]
        );
        assert_eq!(fused.iter().map(|f| f.rank).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn weighted_normalises_each_list() {
        let bm25 = vec![Ranked { key: "a", score: 20.0 }, Ranked { key: "b", score: 10.0 }];
        let dense = vec![Ranked { key: "b", score: 0.9 }, Ranked { key: "a", score: 0.3 }];
        let fused = weighted(&[
            Input { retriever: Retriever::Bm25, hits: &bm25, weight: 0.3 },
            Input { retriever: Retriever::Dense, hits: &dense, weight: 0.7 },
        ]);
        assert_eq!(fused[0].key, "b");
        assert!((fused[0].score - 0.7).abs() < 1e-6);
        assert!((fused[1].score - 0.3).abs() < 1e-6);
    }

    proptest! {
        /// Fusion does not depend on the order of its input lists.
        #[test]
        fn fusion_ignores_input_order(a in prop::collection::vec((0u8..20, -5.0f32..5.0), 0..15), b in prop::collection::vec((0u8..20, -5.0f32..5.0), 0..15), wa in 0.1f32..2.0, wb in 0.1f32..2.0) {
            let mk = |v: &[(u8, f32)]| { let mut v: Vec<Ranked<u8>> = v.iter().map(|(k, s)| Ranked { key: *k, score: *s }).collect(); v.sort_by(|x, y| y.score.total_cmp(&x.score)); v };
            let (la, lb) = (mk(&a), mk(&b));
            let i1 = [Input { retriever: Retriever::Bm25, hits: &la, weight: wa }, Input { retriever: Retriever::Dense, hits: &lb, weight: wb }];
            let i2 = [i1[1].clone(), i1[0].clone()];
            prop_assert_eq!(rrf(&i1, 60.0), rrf(&i2, 60.0));
            prop_assert_eq!(weighted(&i1), weighted(&i2));
        }
    }

    #[test]
    fn document_fusion_lifts_paragraphs_of_documents_both_lists_agree_on() {
        // Paragraph "x1" is first for BM25 only and ties with "y2", first for dense only;
        // document y holds BM25's 2nd and all of dense's paragraphs.
        let bm25 = list(&["x1", "y1", "z1"]);
        let dense = list(&["y2", "y1", "y3"]);
        let inputs = [
            Input { retriever: Retriever::Bm25, hits: &bm25, weight: 1.0 },
            Input { retriever: Retriever::Dense, hits: &dense, weight: 1.0 },
        ];
        let doc_of = |k: &&str| k.chars().next();
        let plain = rrf(&inputs, 60.0);
        assert_eq!(plain.iter().map(|f| f.key).take(2).collect::<Vec<_>>(), ["y1", "x1"]);
        let same = with_documents(plain.clone(), &inputs, 60.0, 0.0, doc_of);
        assert_eq!(same, plain, "weight 0 changes nothing");
        let lifted = with_documents(plain.clone(), &inputs, 60.0, 2.0, doc_of);
        let keys: Vec<&str> = lifted.iter().map(|f| f.key).collect();
        assert_eq!(keys[..2], ["y1", "y2"], "{keys:?}");
        assert!(lifted.iter().enumerate().all(|(i, f)| f.rank == i + 1));
        assert_eq!(lifted.len(), plain.len());
    }
}
