//! The embedding seam: text in, vectors out.
//!
//! Pull-shaped and batched: the caller hands over a batch of texts and receives one
//! vector per text, in order. Implementations say whether a text is a query or a passage,
//! because some models (e5) embed the two differently.

use crate::error::Result;

/// Whether a text is a question or a stored passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbedRole {
    /// A user's query.
    Query,
    /// A stored passage.
    Passage,
}

/// Turns texts into vectors. One required method besides the metadata.
pub trait Embedder: Send + Sync {
    /// One vector per text, in order, each of [`Embedder::dim`] values.
    fn embed(&self, texts: &[&str], role: EmbedRole) -> Result<Vec<Vec<f32>>>;

    /// Vector dimensions.
    fn dim(&self) -> usize;

    /// A stable name of the model (it keys caches and stored vectors).
    fn model(&self) -> &str;
}

impl<T: Embedder + ?Sized> Embedder for Box<T> {
    fn embed(&self, texts: &[&str], role: EmbedRole) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts, role)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model(&self) -> &str {
        (**self).model()
    }
}

impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    fn embed(&self, texts: &[&str], role: EmbedRole) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts, role)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model(&self) -> &str {
        (**self).model()
    }
}
