//! The lexical selector: picks by the BM25, heading and clause evidence the navigator
//! computed. It never reads chunk text, so it costs nothing per level.

use cairn_core::{Pick, Result, SelectRequest, Selection, Selector};

/// Picks the best-scoring candidate and every other candidate scoring at least `ratio` of
/// it (up to `max_picks`). Candidates with no evidence at all are never picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalSelector {
    /// Keep candidates scoring at least this share of the best.
    pub ratio: f32,
    /// Most picks per level.
    pub max_picks: usize,
}

impl Default for LexicalSelector {
    fn default() -> Self {
        LexicalSelector { ratio: 0.5, max_picks: 3 }
    }
}

impl Selector for LexicalSelector {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        let mut order: Vec<usize> = (0..request.candidates.len()).collect();
        let score = |i: usize| request.candidates[i].evidence.score;
        order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
        let best = order.first().map_or(0.0, |&i| score(i));
        if best <= 0.0 {
            return Ok(Selection { picks: Vec::new(), note: Some("no candidate matches any query term".into()) });
        }
        let picks = order
            .into_iter()
            .take_while(|&i| score(i) >= best * self.ratio)
            .take(self.max_picks)
            .map(|i| {
                let e = &request.candidates[i].evidence;
                let mut reason = format!("score {:.2} (bm25 {:.2}", e.score, e.bm25);
                if e.heading > 0.0 {
                    reason.push_str(&format!(", heading {:.2}", e.heading));
                }
                if let Some(clause) = &e.clause_match {
                    reason.push_str(&format!(", names clause {clause}"));
                }
                reason.push(')');
                if !e.matched.is_empty() {
                    reason.push_str(&format!("; matched {}", e.matched.join(", ")));
                }
                Pick { index: i, reason }
            })
            .collect();
        Ok(Selection { picks, note: None })
    }

    fn name(&self) -> &str {
        "lexical"
    }
}

/// A selector that adds retrieval evidence from outside the navigator (for example hybrid
/// BM25 + dense search) to the lexical evidence: each candidate's score is its lexical
/// score over the level's best, plus `weight` times its boost over the level's best boost.
/// Candidates the lexical pass missed can be picked when the outside retriever found them
/// (a paraphrase that shares no words with the question).
#[derive(Debug, Clone, PartialEq)]
pub struct BoostedSelector {
    /// Extra evidence per chunk (by chunk ID; documents are `doc:KEY`).
    pub boost: std::collections::HashMap<cairn_core::ChunkId, f32>,
    /// Weight of the boost relative to the lexical score.
    pub weight: f32,
    /// Pick policy.
    pub inner: LexicalSelector,
    /// Name shown in the scratchpad.
    pub label: String,
}

impl Selector for BoostedSelector {
    fn select(&self, request: &SelectRequest<'_>) -> Result<Selection> {
        let lexical_max = request.candidates.iter().map(|c| c.evidence.score).fold(0.0f32, f32::max);
        let boost_of = |c: &cairn_core::Candidate| self.boost.get(&c.chunk).copied().unwrap_or(0.0);
        let boost_max = request.candidates.iter().map(boost_of).fold(0.0f32, f32::max);
        let combined: Vec<f32> = request
            .candidates
            .iter()
            .map(|c| {
                let lexical = if lexical_max > 0.0 { c.evidence.score / lexical_max } else { 0.0 };
                let boost = if boost_max > 0.0 { boost_of(c) / boost_max } else { 0.0 };
                lexical + self.weight * boost
            })
            .collect();
        let mut order: Vec<usize> = (0..combined.len()).collect();
        order.sort_by(|&a, &b| combined[b].total_cmp(&combined[a]).then(a.cmp(&b)));
        let best = order.first().map_or(0.0, |&i| combined[i]);
        if best <= 0.0 {
            return Ok(Selection {
                picks: Vec::new(),
                note: Some("no candidate has lexical or retrieval evidence".into()),
            });
        }
        let picks = order
            .into_iter()
            .take_while(|&i| combined[i] >= best * self.inner.ratio)
            .take(self.inner.max_picks)
            .map(|i| {
                let c = &request.candidates[i];
                let mut reason = format!("combined {:.2} (lexical {:.2}", combined[i], c.evidence.score);
                if boost_of(c) > 0.0 {
                    reason.push_str(&format!(", {} {:.3}", self.label, boost_of(c)));
                }
                reason.push(')');
                if !c.evidence.matched.is_empty() {
                    reason.push_str(&format!("; matched {}", c.evidence.matched.join(", ")));
                }
                Pick { index: i, reason }
            })
            .collect();
        Ok(Selection { picks, note: None })
    }

    fn name(&self) -> &str {
        &self.label
    }
}
