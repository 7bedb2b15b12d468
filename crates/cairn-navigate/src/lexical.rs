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
