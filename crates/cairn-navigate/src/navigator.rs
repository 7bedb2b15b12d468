//! The navigation loop: the engine form of the seed's
//! `hierarchical_navigation(document, query, layers=3)`.
//!
//! ```text
//! candidates ← the documents (or, with one document, its top-level chunks)
//! for level in 0..max_depth:
//!     score every candidate lexically (BM25 over the chunk, heading and clause bonuses)
//!     keep the best N if there are more (the cheap pre-filter), record what was cut
//!     picks ← selector.select(candidates)          (recorded in the scratchpad)
//!     candidates ← the planned children of the picks; single paragraphs are settled
//! rank the paragraphs inside everything picked; return the best as passages
//! ```
//!
//! Chunks come from the plan stored at ingest time; nothing is re-read or re-split per
//! question. Budgets bound the chunks evaluated and the paragraphs returned.

use std::collections::HashSet;
use std::ops::Range;

use cairn_core::{
    Candidate, ChunkId, Considered, DocKey, Event, EventSink, Evidence, NodeKind, Passage, Result, Scratchpad,
    SectionNumber, SelectRequest, Selector, Step,
};
use cairn_index::{Query, Slot};
use cairn_text::Analyzer;
use cairn_text::numbering::{clause_refs, ref_matches};

use crate::corpus::Corpus;

/// Weight of a query term found in a heading, relative to its IDF.
const HEADING_WEIGHT: f32 = 1.0;
/// Bonus for a named clause, in multiples of the query's total IDF.
const CLAUSE_WEIGHT: f32 = 0.5;
/// Weight of a chunk's BM25 as one pseudo-document, next to its best paragraph's BM25.
const WHOLE_CHUNK_WEIGHT: f32 = 0.5;

/// Every paragraph's BM25 for one query, per document segment, sorted by node.
struct ParagraphScores {
    /// Per document, (node, score) in node order.
    by_slot: std::collections::HashMap<Slot, Vec<(u32, f32)>>,
    /// Every matching paragraph, best first: the flat BM25 ranking.
    ranked: Vec<cairn_index::Hit>,
}

impl ParagraphScores {
    fn new(corpus: &Corpus, query: &Query) -> Self {
        let ranked = corpus.index().top_paragraphs(query, usize::MAX, None);
        let mut by_slot: std::collections::HashMap<Slot, Vec<(u32, f32)>> = std::collections::HashMap::new();
        for hit in &ranked {
            by_slot.entry(hit.slot).or_default().push((hit.node, hit.score));
        }
        for v in by_slot.values_mut() {
            v.sort_by_key(|(node, _)| *node);
        }
        ParagraphScores { by_slot, ranked }
    }

    /// The best paragraph score inside `range` of `slot`.
    fn best(&self, slot: Slot, range: &Range<u32>) -> f32 {
        let Some(v) = self.by_slot.get(&slot) else { return 0.0 };
        let a = v.partition_point(|(n, _)| *n < range.start);
        let b = v.partition_point(|(n, _)| *n < range.end);
        v[a..b].iter().map(|(_, s)| *s).fold(0.0, f32::max)
    }
}

/// Navigation budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavOptions {
    /// Most candidates offered per level (the seed's 20).
    pub max_chunks: usize,
    /// Levels of selection (the seed's 3).
    pub max_depth: u32,
    /// Most picks kept per level.
    pub max_picks: usize,
    /// Most paragraphs returned.
    pub max_paragraphs: usize,
    /// Most candidates scored over the whole navigation.
    pub max_evaluated: usize,
    /// Restrict to these documents.
    pub docs: Option<Vec<DocKey>>,
}

impl Default for NavOptions {
    fn default() -> Self {
        NavOptions { max_chunks: 20, max_depth: 3, max_picks: 3, max_paragraphs: 5, max_evaluated: 400, docs: None }
    }
}

/// A paragraph found by navigation, with the signals the answerer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Document index in the corpus.
    pub doc: usize,
    /// Node index in the document.
    pub node: u32,
    /// Final score.
    pub score: f32,
    /// IDF-weighted share of the query's terms present in the paragraph, its headings or
    /// its document's title.
    pub coverage: f32,
    /// Whether a clause the question names encloses it.
    pub clause: bool,
}

/// What navigation produced.
#[derive(Debug, Clone)]
pub struct Navigation {
    /// Every decision.
    pub scratchpad: Scratchpad,
    /// The evidence paragraphs, best first.
    pub passages: Vec<Passage>,
    /// The same paragraphs with their signals.
    pub found: Vec<Found>,
    /// The analysed query.
    pub query: Query,
    /// Candidates scored in total.
    pub evaluated: usize,
    /// Documents the question names by their title ("what did the disclosure letter
    /// say …"), as indices in the corpus.
    pub named: Vec<usize>,
    /// The documents in scope, as indices in the corpus.
    pub scope: Vec<usize>,
}

/// Weight of a query term that a paragraph only inherits from its headings or its
/// document's title, relative to one it states.
pub(crate) const INHERITED_WEIGHT: f32 = 0.5;

/// The nodes enclosing `node`, nearest first, up to the document's root.
pub(crate) fn ancestors(tree: &cairn_core::DocTree, node: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = tree.nodes[node as usize].parent;
    while let Some(p) = cur {
        out.push(p);
        cur = tree.nodes[p as usize].parent;
    }
    out
}

/// Which of the query's terms the headings at `ancestors` (and the document's title) hold:
/// what a paragraph inherits from where it sits ("the Q&A log" for each of its rows).
pub(crate) fn heading_terms(corpus: &Corpus, doc: usize, ancestors: &[u32], query: &Query) -> Vec<bool> {
    let slot = corpus.docs()[doc].slot;
    query.terms.iter().map(|(term, _)| ancestors.iter().any(|&a| corpus.index().heading_has(slot, a, term))).collect()
}

/// A title's words, numbers and dates aside, once each: what a question that names the
/// document says of it ("the disclosure letter" for `03 disclosure letter 2025-03-14`).
pub(crate) fn title_terms(title: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in Analyzer.terms(title) {
        if t.chars().any(char::is_alphabetic) && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The IDF weight of the question's terms that `text` states besides the words of a
/// title the question names: what a passage of a named document says on the rest of the
/// question ("Northgate" in "what did the disclosure letter say about Northgate?").
pub(crate) fn rest_weight(query: &Query, title: &[String], text: &str) -> f32 {
    let terms = stated_terms(text);
    query.terms.iter().filter(|(t, _)| !title.contains(t) && terms.contains(t)).map(|(_, idf)| idf).sum()
}

/// The table (section) that the paragraph at `node` is a row of, if it is one.
pub(crate) fn row_table(tree: &cairn_core::DocTree, node: usize) -> Option<u32> {
    let n = &tree.nodes[node];
    n.parent.filter(|_| cairn_core::table::parse_row(&n.text).is_some())
}

/// The terms a text states: its terms outside e-mail addresses and message IDs. A party's
/// name inside an address (`c.baptiste@castellane.example` in a header row) is no
/// statement about the party, so it neither covers a question nor makes a sentence an
/// answer.
pub(crate) fn stated_terms(text: &str) -> Vec<String> {
    if !text.contains('@') {
        return Analyzer.terms(text);
    }
    let stripped: Vec<&str> = text.split_whitespace().filter(|w| !w.contains('@')).collect();
    Analyzer.terms(&stripped.join(" "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Doc(usize),
    Chunk(usize, usize),
}

/// Runs navigations over one corpus.
#[derive(Debug)]
pub struct Navigator<'c> {
    corpus: &'c Corpus,
    options: NavOptions,
}

impl<'c> Navigator<'c> {
    /// A navigator over `corpus`.
    pub fn new(corpus: &'c Corpus, options: NavOptions) -> Self {
        Navigator { corpus, options }
    }

    /// Navigates to the paragraphs that answer `question`.
    pub fn navigate(&self, question: &str, selector: &dyn Selector, sink: &mut dyn EventSink) -> Result<Navigation> {
        let _span = tracing::debug_span!("navigate", selector = selector.name()).entered();
        let terms = Analyzer.terms(question);
        let query = self.corpus.index().query(&terms);
        let refs = clause_refs(question);
        let mut pad = Scratchpad {
            terms: query.terms.iter().map(|(t, _)| t.clone()).collect(),
            clauses: refs.iter().map(|r| format!("{} {}", r.style.as_str(), r.dotted())).collect(),
            ..Scratchpad::default()
        };
        let docs: Vec<usize> = (0..self.corpus.docs().len())
            .filter(|&d| self.options.docs.as_ref().is_none_or(|keys| keys.contains(&self.corpus.docs()[d].tree.key)))
            .collect();
        let mut candidates: Vec<Target> = match docs[..] {
            [only] => self.children(Target::Doc(only)),
            _ => docs.iter().map(|&d| Target::Doc(d)).collect(),
        };
        let paragraph_scores = ParagraphScores::new(self.corpus, &query);
        let mut settled: Vec<Target> = Vec::new();
        let mut last_picks: Vec<Target> = Vec::new();
        let mut evaluated = 0usize;
        for level in 0..self.options.max_depth {
            cairn_core::deadline::check()?;
            if candidates.is_empty() {
                break;
            }
            if evaluated >= self.options.max_evaluated {
                pad.notes.push(format!("budget: stopped after {evaluated} candidates evaluated"));
                break;
            }
            let scored = self.score(&candidates, &query, &refs, &paragraph_scores);
            let available = scored.len();
            let mut order: Vec<usize> = (0..available).collect();
            order.sort_by(|&a, &b| scored[b].1.evidence.score.total_cmp(&scored[a].1.evidence.score).then(a.cmp(&b)));
            let room = self.options.max_chunks.min(self.options.max_evaluated - evaluated).max(1);
            let mut kept: Vec<usize> = order.into_iter().take(room).collect();
            kept.sort_unstable();
            evaluated += kept.len();
            let offered: Vec<(Target, Candidate)> = kept.iter().map(|&i| scored[i].clone()).collect();
            let list: Vec<Candidate> = offered.iter().map(|(_, c)| c.clone()).collect();
            let request = SelectRequest { question, level, candidates: &list, scratchpad: &pad, text: self.corpus };
            let selection = selector.select(&request)?;
            let mut picked: Vec<(usize, String)> = Vec::new();
            let mut invalid = 0;
            for pick in selection.picks {
                if pick.index < list.len() && !picked.iter().any(|(i, _)| *i == pick.index) {
                    if picked.len() < self.options.max_picks {
                        picked.push((pick.index, pick.reason));
                    }
                } else {
                    invalid += 1;
                }
            }
            let considered = list
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let why = picked.iter().find(|(p, _)| *p == i).map(|(_, r)| r.clone());
                    Considered {
                        chunk: c.chunk.clone(),
                        label: c.label.clone(),
                        score: c.evidence.score,
                        matched: c.evidence.matched.clone(),
                        picked: why.is_some(),
                        why,
                    }
                })
                .collect();
            let mut note = selection.note;
            if invalid > 0 {
                note = Some(format!("{} (discarded {invalid} invalid or duplicate picks)", note.unwrap_or_default()));
            }
            let step = Step {
                level,
                selector: selector.name().to_owned(),
                available,
                pruned: available - list.len(),
                considered,
                note,
            };
            sink.event(Event::Step(&step));
            pad.steps.push(step);
            if picked.is_empty() {
                break;
            }
            // A branch picked at the level above is never lost at this one: when none of
            // its children was picked (others' children scored higher, or the pre-filter
            // cut them), its own paragraphs are ranked with the rest at the end.
            let picked_targets: Vec<Target> = picked.iter().map(|(i, _)| offered[*i].0).collect();
            for &parent in &last_picks {
                if !picked_targets.iter().any(|&t| self.parent_of(t) == Some(parent)) {
                    pad.notes.push(format!(
                        "kept {}: picked at level {}, none of its children picked at level {level}",
                        self.label_of(parent),
                        level.saturating_sub(1)
                    ));
                    settled.push(parent);
                }
            }
            last_picks.clear();
            let mut next = Vec::new();
            for target in picked_targets {
                let children = self.children(target);
                if children.is_empty() {
                    settled.push(target);
                } else {
                    next.extend(children);
                    last_picks.push(target);
                }
            }
            candidates = next;
        }
        if !candidates.is_empty() && !last_picks.is_empty() {
            pad.notes
                .push(format!("depth limit: ranking paragraphs inside {} picked chunk(s) directly", last_picks.len()));
        }
        settled.extend(last_picks);
        let named = self.named_docs(&query, &docs);
        for &d in &named {
            pad.notes.push(format!(
                "the question names {} by its title: its best paragraph on the rest of the question is kept in the evidence",
                self.corpus.docs()[d].tree.key
            ));
        }
        let (found, from_flat) = self.rank_paragraphs(&settled, &query, &refs, &docs, &named, &paragraph_scores);
        if from_flat > 0 {
            pad.notes.push(format!(
                "{from_flat} of the {} paragraphs came from flat BM25 over the documents in scope, outside the picked branches",
                found.len()
            ));
        }
        let passages = self.passages(&found, &query);
        sink.event(Event::Passages(&passages));
        Ok(Navigation { scratchpad: pad, passages, found, query, evaluated, named, scope: docs })
    }

    fn children(&self, target: Target) -> Vec<Target> {
        match target {
            Target::Doc(d) => self.corpus.docs()[d].roots.iter().map(|&c| Target::Chunk(d, c)).collect(),
            Target::Chunk(d, c) => self.corpus.docs()[d].children[c].iter().map(|&k| Target::Chunk(d, k)).collect(),
        }
    }

    /// The documents in scope whose title the question states: every word of the title
    /// (at least two; numbers and dates aside) is among the question's terms.
    /// A title that more documents than a level's picks share ("Supply agreement" for a
    /// folder of them) singles none out, and names nothing.
    fn named_docs(&self, query: &Query, docs: &[usize]) -> Vec<usize> {
        let named: Vec<usize> = docs
            .iter()
            .copied()
            .filter(|&d| {
                let title = &self.corpus.docs()[d].title_terms;
                title.len() >= 2 && title.iter().all(|t| query.terms.iter().any(|(q, _)| q == t))
            })
            .collect();
        if named.len() > self.options.max_picks.max(1) { Vec::new() } else { named }
    }

    /// The target whose children include `target`.
    fn parent_of(&self, target: Target) -> Option<Target> {
        match target {
            Target::Doc(_) => None,
            Target::Chunk(d, c) => {
                let entry = &self.corpus.docs()[d];
                // As the corpus links them: a chunk whose parent it does not hold is a root.
                match entry.chunks[c].parent.as_ref().and_then(|p| entry.chunk_index(p)) {
                    Some(p) => Some(Target::Chunk(d, p)),
                    None => Some(Target::Doc(d)),
                }
            }
        }
    }

    /// How the scratchpad names `target`.
    fn label_of(&self, target: Target) -> String {
        match target {
            Target::Doc(d) => self.corpus.docs()[d].tree.key.to_string(),
            Target::Chunk(d, c) => self.corpus.docs()[d].chunks[c].label.clone(),
        }
    }

    fn range(&self, target: Target) -> (usize, Slot, Range<u32>) {
        match target {
            Target::Doc(d) => (d, self.corpus.docs()[d].slot, self.corpus.docs()[d].full_range()),
            Target::Chunk(d, c) => (d, self.corpus.docs()[d].slot, self.corpus.docs()[d].ranges[c].clone()),
        }
    }

    fn clause_in(&self, doc: usize, range: &Range<u32>, refs: &[SectionNumber]) -> Option<String> {
        let entry = &self.corpus.docs()[doc];
        entry
            .numbers
            .iter()
            .find(|(node, number)| range.contains(node) && refs.iter().any(|r| ref_matches(r, number)))
            .map(|(_, number)| number.dotted())
    }

    /// Scores candidates: a chunk's lexical score is its best paragraph's BM25 plus half its
    /// BM25 as one pseudo-document (so a long chunk with one very relevant passage is not
    /// drowned by length normalisation), plus heading and clause bonuses.
    fn score(
        &self,
        targets: &[Target],
        query: &Query,
        refs: &[SectionNumber],
        paragraphs: &ParagraphScores,
    ) -> Vec<(Target, Candidate)> {
        let index = self.corpus.index();
        let stats: Vec<_> = targets
            .iter()
            .map(|&t| {
                let (d, slot, range) = self.range(t);
                let best = paragraphs.best(slot, &range);
                (d, index.range(slot, range.clone(), query), range, best)
            })
            .collect();
        let avg = (stats.iter().map(|(_, s, _, _)| s.len).sum::<u64>() as f32 / stats.len().max(1) as f32).max(1.0);
        targets
            .iter()
            .zip(stats)
            .map(|(&target, (d, rs, range, best))| {
                let bm25 = best + WHOLE_CHUNK_WEIGHT * rs.bm25(query, avg);
                let heading: f32 = query
                    .terms
                    .iter()
                    .zip(&rs.heading_hits)
                    .filter(|(_, hit)| **hit)
                    .map(|((_, idf), _)| idf * HEADING_WEIGHT)
                    .sum();
                let clause_match = self.clause_in(d, &range, refs);
                let clause = if clause_match.is_some() { CLAUSE_WEIGHT * query.total_idf().max(1.0) } else { 0.0 };
                let matched = query
                    .terms
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| rs.tf[*i] > 0 || rs.heading_hits[*i])
                    .map(|(_, (t, _))| t.clone())
                    .collect();
                let evidence =
                    Evidence { score: bm25 + heading + clause, bm25, heading, clause, matched, clause_match };
                (target, self.candidate(target, evidence))
            })
            .collect()
    }

    fn candidate(&self, target: Target, evidence: Evidence) -> Candidate {
        let (d, _, range) = self.range(target);
        let entry = &self.corpus.docs()[d];
        let tree = &entry.tree;
        let headings: Vec<String> = tree.nodes[range.start as usize..range.end as usize]
            .iter()
            .filter(|n| n.kind == NodeKind::Section)
            .take(20)
            .map(|n| n.text.clone())
            .collect();
        let mut context = Vec::new();
        let mut up = tree.nodes.get(range.start as usize).and_then(|n| n.parent);
        while let Some(p) = up {
            let node = &tree.nodes[p as usize];
            if node.kind == NodeKind::Section {
                context.push(node.text.clone());
            }
            up = node.parent;
        }
        context.push(tree.title.clone());
        context.reverse();
        match target {
            Target::Doc(_) => Candidate {
                chunk: ChunkId(format!("doc:{}", tree.key)),
                doc: tree.key.clone(),
                label: format!("{}: {}", tree.key, tree.title),
                headings,
                context: vec![tree.title.clone()],
                tokens: entry.chunks.iter().filter(|c| c.parent.is_none()).map(|c| c.tokens).sum(),
                leaf: false,
                evidence,
            },
            Target::Chunk(_, c) => Candidate {
                chunk: entry.chunks[c].id.clone(),
                doc: tree.key.clone(),
                label: entry.chunks[c].label.clone(),
                headings,
                context,
                tokens: entry.chunks[c].tokens,
                leaf: entry.is_leaf(c),
                evidence,
            },
        }
    }

    /// Ranks the paragraphs inside the picked targets, and beside them the best paragraphs
    /// of a flat BM25 search over the documents in scope (`docs`), by one score, so that
    /// navigation never finds less than a flat search does. Returns the ranking and how many
    /// of its paragraphs only the flat search found.
    fn rank_paragraphs(
        &self,
        targets: &[Target],
        query: &Query,
        refs: &[SectionNumber],
        docs: &[usize],
        named: &[usize],
        flat: &ParagraphScores,
    ) -> (Vec<Found>, usize) {
        let index = self.corpus.index();
        let ranges: Vec<(Slot, Range<u32>)> = targets
            .iter()
            .map(|&t| {
                let (_, slot, range) = self.range(t);
                (slot, range)
            })
            .collect();
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        let total_idf = query.total_idf().max(f32::EPSILON);
        let mut consider = |doc: usize, node: u32, bm25: f32, body_matched: &[usize]| -> Option<Found> {
            if !seen.insert((doc, node)) {
                return None;
            }
            let entry = &self.corpus.docs()[doc];
            let tree = &entry.tree;
            let ancestors = ancestors(tree, node);
            let mut covered = vec![false; query.terms.len()];
            // A term found only inside an e-mail address (a party's name in its domain, in
            // a message's header row) is no statement about it: it does not count towards
            // how much of the question the paragraph covers.
            let text = &tree.nodes[node as usize].text;
            let outside_addresses: Option<HashSet<String>> =
                text.contains('@').then(|| stated_terms(text).into_iter().collect());
            for &i in body_matched {
                covered[i] = outside_addresses.as_ref().is_none_or(|terms| terms.contains(&query.terms[i].0));
            }
            let mut heading_bonus = 0.0;
            let from_headings = heading_terms(self.corpus, doc, &ancestors, query);
            for (i, (_, idf)) in query.terms.iter().enumerate() {
                if from_headings[i] {
                    if !covered[i] {
                        heading_bonus += idf * HEADING_WEIGHT * INHERITED_WEIGHT;
                    }
                    covered[i] = true;
                }
            }
            let coverage =
                query.terms.iter().zip(&covered).filter(|(_, c)| **c).map(|((_, idf), _)| idf).sum::<f32>() / total_idf;
            let clause = ancestors.iter().any(|&a| {
                tree.nodes[a as usize]
                    .heading
                    .as_ref()
                    .and_then(|h| h.number.as_ref())
                    .is_some_and(|n| refs.iter().any(|r| ref_matches(r, n)))
            });
            let clause_bonus = if clause { CLAUSE_WEIGHT * total_idf.max(1.0) } else { 0.0 };
            Some(Found { doc, node, score: bm25 + heading_bonus + clause_bonus, coverage, clause })
        };
        for hit in index.top_paragraphs(query, 64, Some(&ranges)) {
            if let Some(doc) = self.corpus.doc_of_slot(hit.slot) {
                found.extend(consider(doc, hit.node, hit.score, &hit.matched));
            }
        }
        // Paragraphs of a named clause count even when they share no term with the question.
        for &t in targets {
            let (d, _, range) = self.range(t);
            let entry = &self.corpus.docs()[d];
            for (node, number) in &entry.numbers {
                if range.contains(node) && refs.iter().any(|r| ref_matches(r, number)) {
                    for child in entry.tree.children(*node as usize) {
                        if entry.tree.nodes[child].kind == NodeKind::Paragraph {
                            found.extend(consider(d, child as u32, 0.0, &[]));
                        }
                    }
                }
            }
        }
        // A document the question names competes with its best paragraphs even when
        // navigation took other branches.
        for &d in named {
            let entry = &self.corpus.docs()[d];
            for hit in index.top_paragraphs(query, 16, Some(&[(entry.slot, entry.full_range())])) {
                found.extend(consider(d, hit.node, hit.score, &hit.matched));
            }
        }
        let navigated = found.len();
        // The flat ranking was computed once for the whole navigation; its best paragraphs
        // of the documents in scope compete here.
        let in_scope = flat
            .ranked
            .iter()
            .filter_map(|hit| Some((self.corpus.doc_of_slot(hit.slot)?, hit)))
            .filter(|(doc, _)| docs.contains(doc))
            .take(self.options.max_paragraphs);
        for (doc, hit) in in_scope {
            found.extend(consider(doc, hit.node, hit.score, &hit.matched));
        }
        let flat_only: HashSet<(usize, u32)> = found[navigated..].iter().map(|f| (f.doc, f.node)).collect();
        found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)).then(a.node.cmp(&b.node)));
        // One row per table: the answer quotes a row with the rows of its table that the
        // question names, so a second row would only take the place of another passage
        // (a spreadsheet's rows crowded every other document out of the evidence).
        let mut tables = HashSet::new();
        found.retain(|f| match row_table(&self.corpus.docs()[f.doc].tree, f.node as usize) {
            Some(table) => tables.insert((f.doc, table)),
            None => true,
        });
        // A named document keeps its best paragraph on the rest of the question (its title's
        // terms are where to look, not what to find) among the passages.
        for &d in named {
            let keep = self.options.max_paragraphs.max(1);
            let title = &self.corpus.docs()[d].title_terms;
            let rest = |f: &Found| rest_weight(query, title, &self.corpus.docs()[d].tree.nodes[f.node as usize].text);
            if found.iter().take(keep).any(|f| f.doc == d && rest(f) > 0.0) {
                continue;
            }
            let best = found
                .iter()
                .enumerate()
                .filter(|(_, f)| f.doc == d)
                .map(|(i, f)| (i, rest(f)))
                .filter(|(_, r)| *r > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((i, _)) = best {
                let f = found.remove(i);
                found.insert((keep - 1).min(found.len()), f);
            }
        }
        found.truncate(self.options.max_paragraphs);
        let from_flat = found.iter().filter(|f| flat_only.contains(&(f.doc, f.node))).count();
        (found, from_flat)
    }

    fn passages(&self, found: &[Found], query: &Query) -> Vec<Passage> {
        found
            .iter()
            .map(|f| {
                let entry = &self.corpus.docs()[f.doc];
                let tree = &entry.tree;
                let node = &tree.nodes[f.node as usize];
                let section = tree.enclosing_section(f.node as usize);
                let terms = Analyzer.terms(&node.text);
                Passage {
                    id: node.id.clone(),
                    display: tree.display_id(f.node as usize).to_string(),
                    doc_title: tree.title.clone(),
                    section: section.map(|s| s.text.clone()),
                    pages: node.pages,
                    score: f.score,
                    matched: query.terms.iter().filter(|(t, _)| terms.contains(t)).map(|(t, _)| t.clone()).collect(),
                }
            })
            .collect()
    }
}
