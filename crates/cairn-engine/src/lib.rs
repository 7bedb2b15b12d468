//! # cairn-engine
//!
//! The facade the transports (CLI, server) use: a [`Kb`] wraps the knowledge base on disk
//! (`cairn-store`) and the in-memory corpus (`cairn-navigate`), and offers ingest, list,
//! show, remove and ask. Every answer it returns has passed citation checking against
//! the stored text.
//!
//! ```
//! use cairn_engine::{AskOptions, Kb, Settings};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();
//! let md = "# Notes\n\n## 1. Warfarin\n\nWarfarin is metabolized by the enzyme CYP2C9.\n";
//! kb.ingest_bytes("mem://notes.md", "notes.md", md.as_bytes(), None, None).unwrap();
//! let asked = kb.ask("Which enzyme metabolizes warfarin?", &AskOptions::default(), &mut cairn_core::NoEvents).unwrap();
//! let claim = &asked.answer.claims()[0];
//! assert!(claim.text.contains("CYP2C9"));
//! assert_eq!(asked.sources[0].display, "notes:1.1");
//! ```

pub mod demo;
mod dense;
pub mod drug;
pub mod error;
pub mod extract;
pub mod graph;
pub mod json;
pub mod kb;
mod keyword;
pub mod llm;
pub mod lock;
pub mod query_kind;
mod rerank;
pub mod search;
pub mod settings;
#[cfg(feature = "servers")]
mod shared_cache;
pub mod sync;

pub use error::{EngineError, Result};
pub use kb::{
    AskOptions, Asked, FileOutcome, Followed, GRAPH_FILE, Kb, PageView, SelectorKind, SharedCacheStats, Source,
    StoredVersion, collect_files,
};
pub use query_kind::{KindWeights, QueryKind};
pub use search::{Fusion, RerankPart, SearchHit, SearchMode, SearchOptions, SearchResults};
pub use settings::Settings;
// A knowledge base can be shared by reader threads: the server answers questions in
// parallel under a read lock. This fails to compile if a field stops being `Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Kb>();
};
