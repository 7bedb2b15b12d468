//! # cairn-core
//!
//! The vocabulary every other Cairn crate speaks, with no heavy dependencies:
//!
//! * [`id`]: [`StableId`] (what machines store) and [`DisplayId`] (what people read);
//! * [`tree`]: the document tree, document → sections → paragraphs → sentences;
//! * [`citation`]: answers in two type states, [`Answer<Draft>`] and [`Answer<Cited>`],
//!   and the forced citation check that is the only way from one to the other;
//! * [`navigate`]: the [`Selector`] seam, the scratchpad and the event sink;
//! * [`normalize`]: the text folding that citation checks use;
//! * [`deadline`]: the request deadline that long work checks, so it can be stopped;
//! * [`failpoint`]: deterministic crash points for tests.
//!
//! ```
//! use std::collections::HashMap;
//! use cairn_core::{Answer, Citation, NodeKind, StableId};
//!
//! let id = StableId::mint(NodeKind::Paragraph, &[b"pharm", b"example"]);
//! let mut nodes = HashMap::new();
//! nodes.insert(id.clone(), "Clarithromycin strongly inhibits CYP3A4.".to_owned());
//!
//! let quote = "strongly inhibits CYP3A4".to_owned();
//! let cited = Answer::draft("What does clarithromycin inhibit?")
//!     .claim("It inhibits CYP3A4.", vec![Citation { id: id.clone(), quote }])
//!     .verify(&nodes)
//!     .expect("the quote is in the node");
//! assert_eq!(cited.claims().len(), 1);
//!
//! // A tampered quote never verifies.
//! let forged = Citation { id, quote: "weakly inhibits CYP3A4".to_owned() };
//! assert!(Answer::draft("q").claim("x", vec![forged]).verify(&nodes).is_err());
//! ```

pub mod citation;
pub mod deadline;
pub mod embed;
pub mod error;
pub mod failpoint;
pub mod id;
pub mod llm;
pub mod navigate;
pub mod normalize;
pub mod table;
pub mod tree;
pub mod version;

pub use citation::{
    Abstention, Answer, Citation, CitationFailure, CitationFault, Cited, Claim, Draft, LookupFn, NodeLookup, Rejected,
};
pub use embed::{EmbedRole, Embedder};
pub use error::{CoreError, Result};
pub use id::{DisplayId, DocKey, NodeKind, NodeRef, StableId};
pub use llm::{ChatFn, ChatModel, ChatRequest, ChatResponse, LlmFailure, Message, Role, Usage};
pub use navigate::{
    Candidate, Chunk, ChunkId, ChunkText, Considered, Event, EventSink, Evidence, NoEvents, Passage, Pick, Scratchpad,
    SelectFn, SelectRequest, Selection, Selector, Step,
};
pub use tree::{DocTree, Heading, Node, NumberStyle, PageRange, SectionNumber, Sentence, Span};
