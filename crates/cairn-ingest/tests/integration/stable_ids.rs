//! Property tests for the stable ID scheme (docs/ID-FORMAT.md):
//! * editing paragraph X changes only X's stable ID;
//! * inserting a paragraph changes no other paragraph's stable ID;
//! * re-ingesting the same bytes gives identical IDs.

use std::collections::HashSet;

use cairn_core::{DocKey, DocTree, NodeKind, StableId};
use cairn_ingest::stable::previous_of;
use cairn_ingest::{Format, IngestOptions, Ingested, ingest_bytes};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Model {
    sections: Vec<(String, Vec<String>)>,
}

impl Model {
    fn render(&self) -> String {
        let mut out = String::from("# Doc\n\n");
        for (title, paras) in &self.sections {
            out.push_str(&format!("## {title}\n\n"));
            for p in paras {
                out.push_str(p);
                out.push_str("\n\n");
            }
        }
        out
    }

    fn flat(&self) -> Vec<(usize, usize)> {
        self.sections.iter().enumerate().flat_map(|(s, (_, ps))| (0..ps.len()).map(move |p| (s, p))).collect()
    }
}

fn paragraph() -> impl Strategy<Value = String> {
    // A tiny vocabulary makes duplicate and near-duplicate paragraphs common.
    prop::collection::vec(prop::sample::select(vec!["alpha", "beta", "gamma", "delta", "CYP3A4", "warfarin"]), 2..6)
        .prop_map(|w| format!("Text {}.", w.join(" ")))
}

fn model() -> impl Strategy<Value = Model> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["Intro", "Enzymes", "Drugs", "Enzymes", "Notes"]),
            prop::collection::vec(paragraph(), 1..5),
        ),
        1..5,
    )
    .prop_map(|s| Model { sections: s.into_iter().map(|(t, p)| (t.to_owned(), p)).collect() })
}

fn ingest(model: &Model, previous: Option<&Ingested>) -> Ingested {
    let prev = previous.map(|p| previous_of(&p.tree, HashSet::new()));
    ingest_bytes(
        &DocKey::new("doc").unwrap(),
        "doc.md",
        model.render().as_bytes(),
        Format::Markdown,
        &IngestOptions::default(),
        prev.as_ref(),
    )
    .unwrap()
}

fn para_ids(tree: &DocTree) -> Vec<StableId> {
    tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| n.id.clone()).collect()
}

fn section_ids(tree: &DocTree) -> Vec<StableId> {
    tree.nodes.iter().filter(|n| n.kind == NodeKind::Section).map(|n| n.id.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn editing_one_paragraph_changes_only_its_id(m in model(), pick in any::<prop::sample::Index>(), extra in "[a-z]{3,8}") {
        let v1 = ingest(&m, None);
        let flat = m.flat();
        let x = pick.index(flat.len());
        let (s, p) = flat[x];
        let mut edited = m.clone();
        let text = &mut edited.sections[s].1[p];
        *text = format!("{} {extra}.", text.trim_end_matches('.'));
        let v2 = ingest(&edited, Some(&v1));
        let (old, new) = (para_ids(&v1.tree), para_ids(&v2.tree));
        prop_assert_eq!(old.len(), new.len());
        for k in 0..old.len() {
            if k == x {
                prop_assert_ne!(&old[k], &new[k]);
            } else {
                prop_assert_eq!(&old[k], &new[k], "paragraph {} changed although {} was edited", k, x);
            }
        }
        prop_assert_eq!(section_ids(&v1.tree), section_ids(&v2.tree));
        prop_assert_eq!(v2.changes.changed.len() + v2.changes.added.len(), 1);
        prop_assert_eq!(v2.changes.removed.len() + v2.changes.changed.len(), 1);
    }

    #[test]
    fn inserting_a_paragraph_changes_no_other_id(m in model(), pick in any::<prop::sample::Index>(), new_text in paragraph()) {
        let v1 = ingest(&m, None);
        let s = pick.index(m.sections.len());
        let p = pick.index(m.sections[s].1.len() + 1);
        let mut grown = m.clone();
        grown.sections[s].1.insert(p, new_text);
        let v2 = ingest(&grown, Some(&v1));
        let old = para_ids(&v1.tree);
        let new = para_ids(&v2.tree);
        // Inserting a copy next to an identical paragraph is ambiguous: either copy may be
        // "the new one". What must hold is that exactly one ID is fresh, it sits where a
        // paragraph with the inserted text sits, and removing it gives the old sequence.
        let fresh: Vec<usize> = (0..new.len()).filter(|&k| !old.contains(&new[k])).collect();
        prop_assert_eq!(fresh.len(), 1);
        let x = fresh[0];
        let texts: Vec<&str> = v2.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| n.text.as_str()).collect();
        prop_assert_eq!(texts[x], grown.sections[s].1[p].as_str());
        let mut without: Vec<StableId> = new.clone();
        without.remove(x);
        prop_assert_eq!(old.clone(), without);
        prop_assert_eq!(section_ids(&v1.tree), section_ids(&v2.tree));
        prop_assert_eq!(v2.changes.added.len(), 1);
        prop_assert!(v2.changes.changed.is_empty() && v2.changes.removed.is_empty());
    }

    #[test]
    fn deleting_a_paragraph_changes_no_other_id(m in model(), pick in any::<prop::sample::Index>()) {
        let flat = m.flat();
        prop_assume!(flat.len() > 1);
        let x = pick.index(flat.len());
        let (s, p) = flat[x];
        prop_assume!(m.sections[s].1.len() > 1);
        let v1 = ingest(&m, None);
        let mut shrunk = m.clone();
        shrunk.sections[s].1.remove(p);
        let v2 = ingest(&shrunk, Some(&v1));
        // Deleting one of two adjacent identical paragraphs is ambiguous; what must hold is
        // that exactly one old ID is gone, it had the deleted text, and nothing else moved.
        let (old, new) = (para_ids(&v1.tree), para_ids(&v2.tree));
        let gone: Vec<usize> = (0..old.len()).filter(|&k| !new.contains(&old[k])).collect();
        prop_assert_eq!(gone.len(), 1);
        let texts: Vec<&str> = v1.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph).map(|n| n.text.as_str()).collect();
        prop_assert_eq!(texts[gone[0]], m.sections[s].1[p].as_str());
        let mut expected = old.clone();
        let removed = expected.remove(gone[0]);
        prop_assert_eq!(expected, new);
        prop_assert_eq!(v2.changes.removed.clone(), vec![removed]);
    }

    #[test]
    fn same_bytes_give_identical_ids(m in model()) {
        let a = ingest(&m, None);
        let b = ingest(&m, None);
        let ids = |t: &DocTree| t.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        prop_assert_eq!(ids(&a.tree), ids(&b.tree));
        let again = ingest(&m, Some(&a));
        prop_assert_eq!(ids(&a.tree), ids(&again.tree));
        prop_assert!(again.changes.is_empty());
        let unique: HashSet<_> = ids(&a.tree).into_iter().collect();
        prop_assert_eq!(unique.len(), a.tree.nodes.len());
    }
}

#[test]
fn inserting_an_article_renumbers_but_keeps_ids() {
    let key = DocKey::new("reg").unwrap();
    let v1 = "办法\n\n第一条　甲规定。\n第二条　乙规定。\n第三条　丙规定。\n";
    let v2 = "办法\n\n第一条　甲规定。\n第二条　新增规定。\n第三条　乙规定。\n第四条　丙规定。\n";
    let opts = IngestOptions::default();
    let a = ingest_bytes(&key, "r.txt", v1.as_bytes(), Format::Text, &opts, None).unwrap();
    let prev = previous_of(&a.tree, HashSet::new());
    let b = ingest_bytes(&key, "r.txt", v2.as_bytes(), Format::Text, &opts, Some(&prev)).unwrap();
    let id_of = |t: &DocTree, text: &str| t.nodes.iter().find(|n| n.text == text).map(|n| n.id.clone()).unwrap();
    let idx_of = |t: &DocTree, text: &str| t.nodes.iter().position(|n| n.text == text).unwrap();
    assert_eq!(id_of(&a.tree, "乙规定。"), id_of(&b.tree, "乙规定。"));
    // The article that held 乙 was 第二条 and is now 第三条: same section ID, new display ID.
    let parent = |t: &DocTree, text: &str| t.nodes[t.nodes[idx_of(t, text)].parent.unwrap() as usize].id.clone();
    assert_eq!(parent(&a.tree, "乙规定。"), parent(&b.tree, "乙规定。"));
    assert_eq!(a.tree.display_id(idx_of(&a.tree, "乙规定。")).to_string(), "reg:2.1");
    assert_eq!(b.tree.display_id(idx_of(&b.tree, "乙规定。")).to_string(), "reg:3.1");
    assert_eq!(b.changes.added.len(), 2, "the new article and its paragraph");
    assert!(b.changes.changed.is_empty() && b.changes.removed.is_empty());
}
