//! # cairn-index
//!
//! Retrieval indexes derived from the knowledge base. This crate currently holds the
//! lexical index: BM25 over paragraphs, with a separate heading field, kept as one
//! segment per document so that re-ingesting a document replaces only its segment
//! (work grows with the document changed, not with the corpus).
//!
//! Scoring follows tantivy's shape: a [`Query`] is an analysed recipe bound to the
//! index's current statistics (document frequencies, average length); it then scores
//! single paragraphs or whole *ranges* of a document's nodes. Range scoring is what
//! hierarchical navigation needs: a chunk is a contiguous range of a document's
//! pre-order nodes, and its term frequencies are read from prefix sums in O(log n).
//!
//! ```
//! use cairn_index::{LexicalIndex, NodeTerms, Field};
//!
//! let mut index = LexicalIndex::default();
//! let nodes = vec![
//!     NodeTerms { field: Field::Heading, terms: "enzym".into() },
//!     NodeTerms { field: Field::Body, terms: "cyp3a4 metabol simvastatin".into() },
//!     NodeTerms { field: Field::Body, terms: "cyp2c9 metabol warfarin".into() },
//! ];
//! let slot = index.replace("pharm", &nodes);
//! let query = index.query(&["simvastatin".to_owned()]);
//! let hits = index.top_paragraphs(&query, 5, None);
//! assert_eq!((hits[0].slot, hits[0].node), (slot, 1));
//! ```

mod bm25;
pub mod cache;
mod error;
pub mod fusion;
#[cfg(feature = "tantivy")]
pub mod keyword;
#[cfg(not(feature = "tantivy"))]
#[path = "keyword_stub.rs"]
pub mod keyword;
pub mod vector;

pub use bm25::{Field, Hit, LexicalIndex, NodeTerms, Query, RangeScore, Slot};
pub use error::{IndexError, Result};
