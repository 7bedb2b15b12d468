//! Extractive answers with citations, and abstention.
//!
//! The default answer quotes the best supporting sentences of the passages navigation
//! found, each cited as `{id, quote}` with the paragraph's stable ID and the sentence
//! verbatim. When the best passage covers too little of the question (the IDF-weighted
//! share of its key terms found in the paragraph, its headings and its document title),
//! the answer is an abstention instead of a guess. The threshold is calibrated on data
//! (see BENCHMARKS.md).

use cairn_core::{Abstention, Answer, Citation, Draft};
use cairn_text::Analyzer;

use crate::corpus::Corpus;
use crate::navigator::Navigation;

/// Answer shaping and the abstention threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerOptions {
    /// Most quoted sentences.
    pub max_claims: usize,
    /// Most sentences from one paragraph.
    pub max_per_paragraph: usize,
    /// Abstain when the best passage's coverage is below this.
    pub min_coverage: f32,
    /// Most rows quoted from one table (the best by the question's terms, in table order).
    pub max_table_rows: usize,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions { max_claims: 3, max_per_paragraph: 2, min_coverage: DEFAULT_MIN_COVERAGE, max_table_rows: 12 }
    }
}

/// The rows of the table at `table` (its row paragraphs) to quote with one of them: those
/// sharing the most of the question's weight in their values (column names are in every
/// row, so they tell rows apart by nothing), a totals row (`Total`, `合计`) first among
/// equals, since a question about a table is often about its sum. At most `limit`, in
/// table order.
fn table_rows(
    tree: &cairn_core::DocTree,
    table: usize,
    query: &cairn_index::Query,
    total_idf: f32,
    limit: usize,
) -> Vec<usize> {
    let mut scored: Vec<(f32, bool, usize)> = tree
        .children(table)
        .into_iter()
        .filter(|&i| tree.nodes[i].kind == cairn_core::NodeKind::Paragraph)
        .filter_map(|i| {
            let row = cairn_core::table::parse_row(&tree.nodes[i].text)?;
            let values: Vec<&str> = row.cells.iter().map(|(_, v)| v.as_str()).collect();
            let terms = Analyzer.terms(&values.join(" "));
            let weight =
                query.terms.iter().filter(|(t, _)| terms.contains(t)).map(|(_, idf)| idf).sum::<f32>() / total_idf;
            let first = values.first().map(|v| v.trim().to_lowercase()).unwrap_or_default();
            let total = ["total", "grand total", "sum", "合计", "总计"].iter().any(|t| first.starts_with(t));
            Some((weight, total, i))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut keep: Vec<usize> = scored.into_iter().take(limit.max(1)).map(|(_, _, i)| i).collect();
    keep.sort_unstable();
    keep
}

/// Most citations of one quoted sentence that several passages hold word for word.
const MAX_SAME_CITATIONS: usize = 3;

/// Whether the section at `section` is a table whose title lines precede its rows: its
/// paragraphs are rows but for the lines above the first row.
fn introduces_table(tree: &cairn_core::DocTree, section: usize) -> bool {
    let paragraphs: Vec<usize> =
        tree.children(section).into_iter().filter(|&i| tree.nodes[i].kind == cairn_core::NodeKind::Paragraph).collect();
    let first_row = paragraphs.iter().position(|&i| cairn_core::table::parse_row(&tree.nodes[i].text).is_some());
    first_row.is_some_and(|k| {
        k > 0 && paragraphs[k..].iter().all(|&i| cairn_core::table::parse_row(&tree.nodes[i].text).is_some())
    })
}

/// The calibrated abstention threshold (see BENCHMARKS.md, "Abstention").
pub const DEFAULT_MIN_COVERAGE: f32 = 0.25;

struct Scored {
    rank: usize,
    position: u32,
    para: usize,
    score: f32,
    text: String,
}

/// Builds the extractive draft answer for a navigation.
pub fn extractive(corpus: &Corpus, question: &str, nav: &Navigation, options: &AnswerOptions) -> Answer<Draft> {
    let draft = Answer::draft(question);
    // A figure the question takes as given that no document states: quoting passages
    // would answer a question the documents do not support.
    let unstated = crate::premise::check(corpus, question, &nav.scope);
    if !unstated.is_empty() {
        return draft.abstain(crate::premise::abstention(&unstated));
    }
    let best = nav.found.iter().map(|f| f.coverage).fold(0.0f32, f32::max);
    if nav.found.is_empty() || best < options.min_coverage {
        let reason = if nav.found.is_empty() {
            "not found in the knowledge base: no passage matches the question".to_owned()
        } else {
            format!(
                "not found in the knowledge base: the closest passage covers only {:.0}% of the question's key terms",
                best * 100.0
            )
        };
        return draft.abstain(Abstention { reason, signal: Some(best), threshold: Some(options.min_coverage) });
    }
    let total_idf = nav.query.total_idf().max(f32::EPSILON);
    let top_score = nav.found.iter().map(|f| f.score).fold(f32::EPSILON, f32::max);
    let mut scored: Vec<Scored> = Vec::new();
    for (rank, found) in nav.found.iter().enumerate() {
        let tree = &corpus.docs()[found.doc].tree;
        // A sentence inherits what its headings and its document's title say (each row of
        // "the Q&A log" is in the Q&A log), at the weight navigation gives an inherited term.
        let ancestors = crate::navigator::ancestors(tree, found.node);
        let inherited = crate::navigator::heading_terms(corpus, found.doc, &ancestors, &nav.query);
        for sentence in tree.sentences(found.node as usize) {
            // A sentence that addresses a model ("ignore all previous instructions …") is
            // the document's data, never an answer: it stays searchable, and is not quoted.
            if crate::support::addresses_a_model(sentence.text) {
                continue;
            }
            let terms = crate::navigator::stated_terms(sentence.text);
            let stated: f32 =
                nav.query.terms.iter().filter(|(t, _)| terms.contains(t)).map(|(_, idf)| idf).sum::<f32>() / total_idf;
            let from_headings: f32 = nav
                .query
                .terms
                .iter()
                .zip(&inherited)
                .filter(|((t, _), h)| **h && !terms.contains(t))
                .map(|((_, idf), _)| idf)
                .sum::<f32>()
                / total_idf;
            let overlap = if stated > 0.0 { stated + crate::navigator::INHERITED_WEIGHT * from_headings } else { 0.0 };
            // A named clause's text answers "what does clause X say" even without overlap.
            let clause_lead = if found.clause && sentence.n == 1 { 0.5 } else { 0.0 };
            let score = overlap + clause_lead + 0.25 * found.score / top_score;
            if overlap > 0.0 || clause_lead > 0.0 {
                scored.push(Scored {
                    rank,
                    position: sentence.n,
                    para: found.node as usize + found.doc * 1_000_000,
                    score,
                    text: sentence.text.to_owned(),
                });
            }
        }
    }
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.rank.cmp(&b.rank)).then(a.position.cmp(&b.position)));
    // Best sentences first, but one per paragraph before a second from any paragraph, so
    // that an answer draws on every strong passage.
    let best_score = scored.first().map_or(0.0, |s| s.score);
    let eligible: Vec<&Scored> = scored.iter().filter(|s| s.score >= 0.6 * best_score).collect();
    let mut chosen: Vec<&Scored> = Vec::new();
    for pass in 0..2 {
        for s in &eligible {
            if chosen.len() >= options.max_claims {
                break;
            }
            let from_para = chosen.iter().filter(|c| c.para == s.para).count();
            let limit = if pass == 0 { 1 } else { options.max_per_paragraph };
            if from_para >= limit || chosen.iter().any(|c| c.text == s.text) {
                continue;
            }
            chosen.push(s);
        }
    }
    // A document the question names ("what did the disclosure letter say about …") is
    // quoted: the sentences of its best paragraph that state the rest of the question (its
    // title's words say where to look, not what to find), even when other documents that
    // only mention it score higher.
    for &d in &nav.named {
        if chosen.iter().any(|c| nav.found[c.rank].doc == d) {
            continue;
        }
        let title = &corpus.docs()[d].title_terms;
        let rest = |s: &Scored| crate::navigator::rest_weight(&nav.query, title, &s.text);
        let from_doc: Vec<(&Scored, f32)> = scored
            .iter()
            .filter(|s| nav.found[s.rank].doc == d)
            .map(|s| (s, rest(s)))
            .filter(|(_, r)| *r > 0.0)
            .collect();
        let Some(best) = from_doc.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.rank.cmp(&a.0.rank))) else {
            continue;
        };
        let para = best.0.para;
        let mut quoted: Vec<&Scored> = from_doc.iter().filter(|(s, _)| s.para == para).map(|(s, _)| *s).collect();
        quoted.sort_by_key(|s| s.position);
        chosen.extend(quoted.into_iter().take(options.max_per_paragraph));
    }
    // The named documents' sentences lead: the question asked what they say.
    let unnamed = |s: &Scored| !nav.named.contains(&nav.found[s.rank].doc);
    chosen.sort_by(|a, b| unnamed(a).cmp(&unnamed(b)).then(a.rank.cmp(&b.rank)).then(a.position.cmp(&b.position)));
    let mut draft = draft;
    let mut tables_done: Vec<(usize, u32)> = Vec::new();
    for s in chosen {
        let found = &nav.found[s.rank];
        let tree = &corpus.docs()[found.doc].tree;
        let node = &tree.nodes[found.node as usize];
        // A table row is one line of a table: the question ("which line is furthest below
        // plan?") is often about the table, and one row cannot answer it. The best rows of
        // its table come with it, each quoted and cited on its own, in table order.
        let row_of = crate::navigator::row_table(tree, found.node as usize);
        let is_row = row_of.is_some();
        let table = row_of.or_else(|| node.parent.filter(|&p| introduces_table(tree, p as usize)));
        if let Some(parent) = table {
            if tables_done.contains(&(found.doc, parent)) {
                continue;
            }
            tables_done.push((found.doc, parent));
            // A table's title line ("Open-source licence audit — … — completed 22 August
            // 2025") is quoted with its rows: alone it names the table and answers nothing.
            if !is_row {
                draft = draft.claim(s.text.clone(), vec![Citation { id: node.id.clone(), quote: s.text.clone() }]);
            }
            for i in table_rows(tree, parent as usize, &nav.query, total_idf, options.max_table_rows) {
                let row = &tree.nodes[i];
                draft = draft.claim(row.text.clone(), vec![Citation { id: row.id.clone(), quote: row.text.clone() }]);
            }
            continue;
        }
        // The same sentence in other documents (a draft and the executed agreement, a
        // message and the reply that quotes it) supports the claim too: each is cited.
        let mut citations = vec![Citation { id: node.id.clone(), quote: s.text.clone() }];
        for other in scored.iter().filter(|o| o.text == s.text && o.para != s.para) {
            let f = &nav.found[other.rank];
            let id = &corpus.docs()[f.doc].tree.nodes[f.node as usize].id;
            if citations.len() < MAX_SAME_CITATIONS && !citations.iter().any(|c| &c.id == id) {
                citations.push(Citation { id: id.clone(), quote: other.text.clone() });
            }
        }
        draft = draft.claim(s.text.clone(), citations);
    }
    if draft.claims().is_empty() {
        return draft.abstain(Abstention {
            reason: "not found in the knowledge base: no sentence states the answer".into(),
            signal: Some(best),
            threshold: Some(options.min_coverage),
        });
    }
    draft
}

#[cfg(test)]
mod tests {
    use cairn_core::{Answer, Cited, DocKey, NoEvents};
    use cairn_ingest::{Format, IngestOptions, ingest_bytes};
    use cairn_text::Analyzer;

    use crate::{Corpus, LexicalSelector, NavOptions, Navigator, plan};

    fn corpus_of(bytes: &[u8], name: &str, format: Format) -> Corpus {
        corpus_of_docs(&[("budget", name, bytes, format)])
    }

    /// The verified extractive answer to `question`, navigated lexically.
    fn answer(corpus: &Corpus, question: &str, options: &super::AnswerOptions) -> Answer<Cited> {
        let nav = Navigator::new(corpus, NavOptions::default())
            .navigate(question, &LexicalSelector::default(), &mut NoEvents)
            .unwrap();
        super::extractive(corpus, question, &nav, options).verify(corpus).unwrap()
    }

    fn corpus_of_docs(docs: &[(&str, &str, &[u8], Format)]) -> Corpus {
        let mut corpus = Corpus::default();
        for &(key, name, bytes, format) in docs {
            let doc =
                ingest_bytes(&DocKey::new(key).unwrap(), name, bytes, format, &IngestOptions::default(), None).unwrap();
            let chunks = plan::plan_chunks(&doc.tree, &plan::PlanOptions::default());
            let terms: Vec<String> = doc.tree.nodes.iter().map(|n| Analyzer.terms(&n.text).join(" ")).collect();
            corpus.upsert(doc.tree, chunks, &terms);
        }
        corpus
    }

    /// A table's title line, when it is the best sentence, is quoted with the table's rows.
    #[test]
    fn a_table_title_brings_its_rows() {
        let csv = "Open-source licence audit of the platform (completed 22 August 2025)\n\
                   Component,Licence,Remediation\nghostscript-bridge,AGPL-3.0,Replace with a commercial licence\n\
                   numpy,BSD-3-Clause,None\n";
        let corpus = corpus_of(csv.as_bytes(), "audit.csv", Format::Csv);
        let question = "What did the open-source licence audit of 22 August 2025 find?";
        let cited = answer(&corpus, question, &super::AnswerOptions::default());
        let texts: Vec<&str> = cited.claims().iter().map(|c| c.text.as_str()).collect();
        assert!(texts.first().is_some_and(|t| t.starts_with("Open-source licence audit")), "{texts:#?}");
        assert!(texts.iter().any(|t| t.contains("Component = ghostscript-bridge")), "{texts:#?}");
    }

    /// A sentence that two documents hold word for word (a draft and the signed agreement)
    /// is quoted once and cites both.
    #[test]
    fn a_sentence_in_two_documents_cites_both() {
        let clause = "Any Earn-Out Payment shall be paid within 10 Business Days of the ARR statement becoming final.";
        let draft = format!("Draft agreement\n\nThe parties met twice.\n\n{clause}\n");
        let signed = format!("Signed agreement\n\nThe sellers signed in March.\n\n{clause}\n");
        let corpus = corpus_of_docs(&[
            ("spa-draft", "draft.txt", draft.as_bytes(), Format::Text),
            ("spa", "signed.txt", signed.as_bytes(), Format::Text),
        ]);
        let question = "When is the earn-out payment paid?";
        let cited = answer(&corpus, question, &super::AnswerOptions::default());
        let claim = cited.claims().iter().find(|c| c.text == clause).expect("the clause is quoted");
        assert_eq!(claim.citations.len(), 2, "{:#?}", cited.claims());
        assert_eq!(cited.claims().iter().filter(|c| c.text == clause).count(), 1, "quoted once");
    }

    /// A row inherits its table's headings: asked about "the data room Q&A log", the
    /// answer quotes the log's Northgate row, not only a letter's sentence that names the
    /// log (the row states "Northgate"; "data room Q&A log" is where it sits).
    #[test]
    fn a_row_inherits_what_its_headings_say() {
        let letter = "# Disclosure letter\n\nThe contents of the data room and the answers in the Q&A log annexed to this letter are generally disclosed.\n";
        let log = "# Data room index\n\n## Q&A log\n\n| No | Question | Answer |\n|---|---|---|\n\
                   | 7 | Please confirm the renewal status of the Northgate contract. | Renewal discussions are ongoing. |\n\
                   | 12 | Are there any pending employee claims? | No formal claims. |\n";
        let corpus = corpus_of_docs(&[
            ("letter", "letter.md", letter.as_bytes(), Format::Markdown),
            ("index", "index.md", log.as_bytes(), Format::Markdown),
        ]);
        let question = "In the data room Q&A log, what was asked about Northgate?";
        let cited = answer(&corpus, question, &super::AnswerOptions::default());
        let texts: Vec<&str> = cited.claims().iter().map(|c| c.text.as_str()).collect();
        assert!(texts.iter().any(|t| t.contains("Northgate contract") && t.contains("ongoing")), "{texts:#?}");
    }

    /// A branch picked at one level is not lost at the next when other branches' children
    /// outscore all of its own: the scratchpad says it was kept, and its paragraphs are
    /// ranked with the rest.
    #[test]
    fn a_picked_branch_whose_children_all_lose_is_kept() {
        let mut letter = String::from("# Letter\n\n");
        for section in ["One", "Two", "Three"] {
            letter.push_str(&format!(
                "## {section}\n\nNorthgate renewal log. Northgate renewal.\n\nNorthgate renewal log again.\n\n"
            ));
        }
        let index = "# Renewal log index\n\n## Answers\n\nNorthgate asked once.\n\n## Other\n\nNothing else.\n";
        let corpus = corpus_of_docs(&[
            ("letter", "letter.md", letter.as_bytes(), Format::Markdown),
            ("index", "index.md", index.as_bytes(), Format::Markdown),
        ]);
        let options = NavOptions { max_picks: 2, max_paragraphs: 20, ..NavOptions::default() };
        let nav = Navigator::new(&corpus, options)
            .navigate("Northgate renewal log", &LexicalSelector::default(), &mut NoEvents)
            .unwrap();
        assert!(nav.scratchpad.notes.iter().any(|n| n.starts_with("kept index")), "{:#?}", nav.scratchpad);
        let index_doc = corpus.docs().iter().position(|d| d.tree.key.as_str() == "index").unwrap();
        assert!(nav.found.iter().any(|f| f.doc == index_doc), "{:#?}", nav.found);
    }

    /// A question that names a document by its title ("what did the disclosure letter
    /// say about Northgate?") is answered from that document first, with the sentences of
    /// its best paragraph on the rest of the question, although other documents that
    /// mention "the Disclosure Letter" outscore it on the title's words.
    #[test]
    fn a_document_the_question_names_is_quoted_first() {
        let letter = "# Disclosure letter\n\n## Introduction\n\nThis letter is given under the agreement.\n\n\
                      ## Specific disclosures\n\nNorthgate Retail accounts for approximately 22% of ARR. \
                      Its agreement expires on 30 June 2025, and the renewal discussions with the customer are ongoing.\n";
        let spa = "# Share purchase agreement\n\n## Definitions\n\n\"Disclosure Letter\" means the disclosure letter of the same date.\n\n\
                   ## Warranties\n\nNothing in the Disclosure Letter limits the letter of warranty 12.3.\n\n\
                   The Disclosure Letter and any letter annexed to it are disclosed.\n";
        let minutes = "# Board minutes\n\n## Item 3\n\nThe board noted the disclosure letter would not mention the letter from Northgate.\n";
        let corpus = corpus_of_docs(&[
            ("spa", "spa.md", spa.as_bytes(), Format::Markdown),
            ("minutes", "minutes.md", minutes.as_bytes(), Format::Markdown),
            ("letter", "letter.md", letter.as_bytes(), Format::Markdown),
        ]);
        let question = "What exactly did the disclosure letter say about Northgate?";
        let nav = Navigator::new(&corpus, NavOptions::default())
            .navigate(question, &LexicalSelector::default(), &mut NoEvents)
            .unwrap();
        let letter_doc = corpus.docs().iter().position(|d| d.tree.key.as_str() == "letter").unwrap();
        assert_eq!(nav.named, vec![letter_doc], "{:#?}", nav.scratchpad.notes);
        let cited = answer(&corpus, question, &super::AnswerOptions::default());
        let first = cited.claims().first().map(|c| c.text.as_str()).unwrap_or_default();
        assert!(first.starts_with("Northgate Retail accounts for approximately 22% of ARR"), "{:#?}", cited.claims());
        // A title that many documents share singles none out.
        let mut docs: Vec<(String, String, Vec<u8>, Format)> = Vec::new();
        for i in 0..5 {
            let text = format!("# Disclosure letter\n\nLetter {i} mentions Northgate once.\n");
            docs.push((format!("letter-{i}"), format!("letter-{i}.md"), text.into_bytes(), Format::Markdown));
        }
        let refs: Vec<(&str, &str, &[u8], Format)> =
            docs.iter().map(|(k, n, b, f)| (k.as_str(), n.as_str(), b.as_slice(), *f)).collect();
        let many = corpus_of_docs(&refs);
        let nav = Navigator::new(&many, NavOptions::default())
            .navigate(question, &LexicalSelector::default(), &mut NoEvents)
            .unwrap();
        assert!(nav.named.is_empty(), "{:?}", nav.named);
        // A title of one word names nothing: "the agreement" is not the share purchase agreement.
        let nav = Navigator::new(&corpus, NavOptions::default())
            .navigate("What does the agreement say about warranty 12.3?", &LexicalSelector::default(), &mut NoEvents)
            .unwrap();
        assert!(nav.named.is_empty(), "{:?}", nav.named);
    }

    /// A question that takes as given an amount no document states ("Why did Pixelforge
    /// charge £30,000?", when the documents say £21,000) is not answered from passages
    /// about Pixelforge: the answer says no document states £30,000. The same question
    /// with the stated amount is answered, and a hypothesis ("if … £30,000") is no premise.
    #[test]
    fn a_figure_the_question_assumes_must_be_stated_somewhere() {
        let thread = "# Launch video\n\nPixelforge quoted £24,500 for the launch video.\n\n\
                      The agreed price was £21,000 after Pixelforge removed the second shoot day.\n";
        let corpus = corpus_of(thread.as_bytes(), "video.md", Format::Markdown);
        let options = super::AnswerOptions::default();
        let wrong = answer(&corpus, "Why did Pixelforge charge £30,000 for the video?", &options);
        let abstention = wrong.abstention().expect("a premise no document states is not answered");
        assert!(abstention.reason.contains("no document states £30,000"), "{}", abstention.reason);
        let right = answer(&corpus, "Why did Pixelforge charge £21,000 for the video?", &options);
        assert!(right.abstention().is_none(), "{:?}", right.abstention());
        assert!(right.claims().iter().any(|c| c.text.contains("£21,000")), "{:#?}", right.claims());
        let supposed =
            answer(&corpus, "What would the saving be if Pixelforge charged £30,000 for the video?", &options);
        assert!(
            supposed.abstention().is_none_or(|a| !a.reason.contains("£30,000")),
            "a hypothesis is no premise: {:?}",
            supposed.abstention()
        );
    }

    /// A question about a clause no document has ("Quote clause 99.9 …") is told so,
    /// not answered with sentences that mention clauses; a clause the agreement numbers, or
    /// that a paragraph refers to, is answered; a bare number is not a clause reference.
    #[test]
    fn a_clause_no_document_has_is_not_answered() {
        let agreement = "# Supply agreement\n\n## 9. Delay\n\n9.2 The Supplier shall give notice of any delay within 5 days.\n\n\
                         ## 10. Damages\n\nReferences to clauses are to the clauses of this Agreement.\n\n\
                         Liquidated damages under clause 10.1 are 0.5% of the price per week.\n";
        let corpus = corpus_of(agreement.as_bytes(), "agreement.md", Format::Markdown);
        let options = super::AnswerOptions::default();
        let missing = answer(&corpus, "Quote clause 99.9 of the supply agreement verbatim.", &options);
        let abstention = missing.abstention().expect("no clause 99.9");
        assert!(abstention.reason.contains("no document has a clause 99.9"), "{}", abstention.reason);
        let present = answer(&corpus, "What does clause 9.2 of the supply agreement say?", &options);
        assert!(present.abstention().is_none(), "{:?}", present.abstention());
        let referred = answer(&corpus, "What does clause 10.1 say about liquidated damages?", &options);
        assert!(referred.abstention().is_none(), "{:?}", referred.abstention());
        let bare = answer(&corpus, "What changed in version 3.7 about liquidated damages?", &options);
        assert!(bare.abstention().is_none_or(|a| !a.reason.contains("clause")), "{:?}", bare.abstention());
        let chinese = "# 处方管理办法\n\n第二十四条 药师应当对处方进行审核。\n";
        let corpus = corpus_of(chinese.as_bytes(), "rules.md", Format::Markdown);
        let asked = answer(&corpus, "第九十九条对处方有什么规定？", &options);
        let abstention = asked.abstention().expect("no 第99条");
        assert!(abstention.reason.contains("第99条"), "{}", abstention.reason);
        let asked = answer(&corpus, "第二十四条对处方审核有什么规定？", &options);
        assert!(asked.abstention().is_none(), "{:?}", asked.abstention());
    }

    /// A column name that every row carries is stated once, as the table's header states
    /// it: a long table does not make its column names common words of the corpus, every
    /// row still inherits them, and a name that only one row has (a summary block's
    /// `NPS = 41`) stays that row's own text.
    #[test]
    fn column_names_count_once_per_table() {
        let mut csv = String::from("Line,Planned GBP,Actual GBP\n");
        for i in 0..20 {
            csv.push_str(&format!("Item {i},{},{}\n", 1000 * i, 900 * i));
        }
        let notes = "Kickoff notes\n\nTom keeps the budget and flags any line over plan.\n\nThe second line of work is billing.\n";
        let corpus = corpus_of_docs(&[
            ("budget", "budget.csv", csv.as_bytes(), Format::Csv),
            ("notes", "notes.txt", notes.as_bytes(), Format::Text),
        ]);
        let idf = |term: &str| corpus.index().query(&[term.to_owned()]).terms.first().map(|(_, idf)| *idf);
        // "line" is in the table's header and in two paragraphs of the notes: three
        // statements, not twenty-two. "item" is in twenty rows' values.
        let line = idf("line").expect("indexed");
        let item = idf("item").expect("indexed");
        assert!(line > item + 1.0, "line {line} against item {item}");
        // Every row still answers to its column names, which it inherits.
        let cited = answer(&corpus, "Which line had planned GBP of 7000?", &super::AnswerOptions::default());
        assert!(cited.claims().iter().any(|c| c.text.contains("Line = Item 7 ")), "{:#?}", cited.claims());
    }

    /// A question about a table's columns ("which line is furthest below plan?") is
    /// answered with the table's rows, each cited and verified, the totals row among them;
    /// prose is answered sentence by sentence as before.
    #[test]
    fn a_table_row_brings_its_table() {
        let mut csv = String::from("Line,Planned GBP,Actual GBP,Variance GBP\n");
        for (i, line) in ["Video", "Paid media", "Event", "Incentives", "Design", "Contingency"].iter().enumerate() {
            csv.push_str(&format!("{line},{},{},-{}\n", 10_000 * (i + 1), 5_000 * (i + 1), 5_000 * (i + 1)));
        }
        csv.push_str("Total,210000,105000,-105000\n");
        let corpus = corpus_of(csv.as_bytes(), "budget.csv", Format::Csv);
        let question = "Which budget line has the largest variance against the planned GBP?";
        let cited = answer(&corpus, question, &super::AnswerOptions::default());
        let texts: Vec<&str> = cited.claims().iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), 7, "{texts:#?}");
        assert!(texts.iter().any(|t| t.contains("Line = Paid media")), "{texts:#?}");
        assert!(texts.last().is_some_and(|t| t.contains("Line = Total")), "in table order: {texts:#?}");
        // At most `max_table_rows`, the totals row kept.
        let few = super::AnswerOptions { max_table_rows: 2, ..super::AnswerOptions::default() };
        let cited = answer(&corpus, question, &few);
        let texts: Vec<&str> = cited.claims().iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:#?}");
        assert!(texts.iter().any(|t| t.contains("Line = Total")), "{texts:#?}");
    }
}
