//! Versions of a document: what ID assignment needs to know about the previous version,
//! and what changed between two versions.

use std::collections::HashSet;

use crate::id::{NodeKind, StableId};

/// One node of the previous version, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousNode {
    /// Its stable ID.
    pub id: StableId,
    /// Its kind.
    pub kind: NodeKind,
    /// Its parent's stable ID.
    pub parent: Option<StableId>,
    /// Paragraph text, or a section's title without its number.
    pub content: String,
}

/// The previous version of a document, as far as ID assignment needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previous {
    /// Live nodes, in document order.
    pub nodes: Vec<PreviousNode>,
    /// Every ID this document has ever used (live or retired); never minted again.
    pub history: HashSet<StableId>,
}

/// What changed between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New nodes.
    pub added: Vec<StableId>,
    /// Edited nodes: (old ID, new ID).
    pub changed: Vec<(StableId, StableId)>,
    /// Nodes that are gone.
    pub removed: Vec<StableId>,
    /// Nodes that kept their ID.
    pub unchanged: usize,
}

impl Changes {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}
