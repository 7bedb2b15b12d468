//! The embedded default: a sample knowledge pack written for Cairn, bundled in the binary,
//! and the questions `cairn demo` asks of it.
//!
//! * `pharmacology-handbook.md`: a clinical-pharmacology handbook (English chapters 1–10,
//!   Chinese chapters 11–16): drug metabolism, CYP450 enzymes, transporters, interaction
//!   mechanisms, 70 drug monographs and interaction pairs, with numbered sections.
//! * `interaction-review-regulation.txt`: a fictional regulation in the style of PRC
//!   statutes (第X章, 第X条), on reviewing prescriptions for drug interactions.
//!
//! All text is original; facts about drugs follow public pharmacology knowledge. It is a
//! sample for demonstration, not clinical advice.

/// One bundled document: key, file name, contents.
#[derive(Debug, Clone, Copy)]
pub struct PackDocument {
    /// Document key.
    pub key: &'static str,
    /// File name (the format comes from its extension).
    pub name: &'static str,
    /// Contents.
    pub text: &'static str,
}

/// The bundled pack.
pub const PACK: &[PackDocument] = &[
    PackDocument {
        key: "pharm",
        name: "pharmacology-handbook.md",
        text: include_str!("../demo/pharmacology-handbook.md"),
    },
    PackDocument {
        key: "reg",
        name: "interaction-review-regulation.txt",
        text: include_str!("../demo/interaction-review-regulation.txt"),
    },
];

/// The questions `cairn demo` asks.
pub const QUESTIONS: &[&str] = &[
    "Can simvastatin be taken with clarithromycin?",
    "华法林与氟康唑合用有什么风险？",
    "第二十四条对急诊处方的审查时限有什么规定？",
];

/// Ingests the pack (documents under their keys, `demo://` sources) and its pharmacology
/// graph into `kb`; returns the graph import when one ran (none if it was already loaded).
pub fn load_into(kb: &mut crate::Kb) -> crate::Result<Option<cairn_graph::import::ImportReport>> {
    for doc in PACK {
        let key = cairn_core::DocKey::new(doc.key)?;
        let source = format!("demo://{}", doc.name);
        if let crate::FileOutcome::Failed { error, .. } =
            kb.ingest_bytes(&source, doc.name, doc.text.as_bytes(), Some(key), None)?
        {
            // The pack is compiled in: this is a bug, reported as an I/O failure of its source.
            return Err(crate::EngineError::Io { path: source.into(), source: std::io::Error::other(error) });
        }
    }
    kb.load_pharmacology_graph()
}
