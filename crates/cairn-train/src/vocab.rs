//! Vocabulary extension (the seed's §3.2): add domain terms to `tokenizer.json` as whole
//! tokens, grow the embedding rows (and `lm_head`'s when untied), start each new row at the
//! mean of the term's old sub-token rows, and train only the new rows while every original
//! parameter stays frozen, bit for bit.

use candle_core::{D, Tensor, Var};
use serde_json::json;

use crate::checkpoint::Checkpoint;
use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::model::{Model, head_names};
use crate::rng::Rng;
use crate::trainer::SequenceObjective;

/// A term that became one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedTerm {
    /// The term.
    pub term: String,
    /// Its new id.
    pub id: u32,
    /// The ids it used to split into.
    pub pieces: Vec<u32>,
}

/// What [`extend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// New tokens.
    pub added: Vec<AddedTerm>,
    /// Terms that were already single tokens (or repeated).
    pub skipped: Vec<String>,
    /// Embedding rows before.
    pub old_rows: usize,
}

/// Adds `terms` to the tokenizer and the weights. New ids start after both the tokenizer's
/// entries and the embedding rows, so padding rows (Qwen2 has many) are never reused.
pub fn extend(ck: &mut Checkpoint, terms: &[String]) -> Result<Extension> {
    let tok = ck.tokenizer()?;
    let old_rows = ck.model.config.vocab_size;
    let mut next = tok.get_vocab(true).values().copied().max().map_or(0, |m| m as usize + 1).max(old_rows) as u32;
    let mut ext = Extension { added: Vec::new(), skipped: Vec::new(), old_rows };
    for term in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let pieces = tok.encode(term, false).map_err(TrainError::tokenizer)?.get_ids().to_vec();
        if pieces.len() <= 1 || ext.added.iter().any(|a| a.term == term) {
            ext.skipped.push(term.to_owned());
            continue;
        }
        ext.added.push(AddedTerm { term: term.to_owned(), id: next, pieces });
        next += 1;
    }
    if ext.added.is_empty() {
        return Ok(ext);
    }
    let added_tokens = ck
        .tokenizer_json
        .get_mut("added_tokens")
        .and_then(|v| v.as_array_mut())
        .ok_or_else(|| TrainError::Tokenizer("tokenizer.json has no added_tokens list".into()))?;
    // tokenizers assigns added ids in list order, so rows between the tokenizer's end and
    // the embedding's end (Qwen2 pads its rows) get inert placeholders first: that keeps
    // every original row, used or not, where it was.
    let first_free = tok.get_vocab(true).values().copied().max().map_or(0, |m| m + 1);
    for id in first_free..old_rows as u32 {
        added_tokens.push(json!({"id": id, "content": format!("<|cairn_unused_{id}|>"), "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    }
    for a in &ext.added {
        added_tokens.push(json!({"id": a.id, "content": a.term, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": false}));
    }
    let new_rows = next as usize;
    let (embed, head) = head_names(&ck.model.config);
    let mut names = vec![embed];
    if head != embed {
        names.push(head);
    }
    for name in names {
        let w = ck.model.params[name].detach();
        let rows = grown(&w, &ext, new_rows)?;
        ck.model.params.insert(name.to_owned(), Tensor::cat(&[&w, &rows], 0)?);
    }
    ck.model.config.vocab_size = new_rows;
    let tok = ck.tokenizer()?;
    for a in &ext.added {
        let ids = tok.encode(a.term.as_str(), false).map_err(TrainError::tokenizer)?.get_ids().to_vec();
        if ids != [a.id] {
            return Err(TrainError::Tokenizer(format!("{:?} encodes as {ids:?}, not [{}]", a.term, a.id)));
        }
    }
    Ok(ext)
}

/// Rows `old_rows..new_rows` of `w`: the mean of each term's pieces; zero in any gap.
fn grown(w: &Tensor, ext: &Extension, new_rows: usize) -> Result<Tensor> {
    let (rows, h) = w.dims2()?;
    let mut out = Vec::with_capacity(new_rows - rows);
    for id in rows..new_rows {
        match ext.added.iter().find(|a| a.id as usize == id) {
            Some(a) => {
                let idx = Tensor::new(a.pieces.as_slice(), w.device())?;
                out.push(w.index_select(&idx, 0)?.mean_keepdim(0)?);
            }
            None => out.push(Tensor::zeros((1, h), w.dtype(), w.device())?),
        }
    }
    Ok(Tensor::cat(&out, 0)?)
}

/// Trains only the rows past `old_rows` of the embedding (and untied head) on plain text.
#[derive(Debug)]
pub struct NewRows {
    base: Model,
    old_rows: usize,
    frozen: Vec<(String, Tensor)>,
    vars: Vec<(String, Var)>,
}

impl NewRows {
    /// Splits the extended `model`'s embedding (and head) into frozen old rows and new
    /// trainable rows.
    pub fn new(model: &Model, old_rows: usize) -> Result<NewRows> {
        let (embed, head) = head_names(&model.config);
        let mut names = vec![embed];
        if head != embed {
            names.push(head);
        }
        let (mut frozen, mut vars) = (Vec::new(), Vec::new());
        for name in names {
            let w = model.params[name].detach();
            let rows = w.dim(0)?;
            frozen.push((name.to_owned(), w.narrow(0, 0, old_rows)?));
            vars.push((name.to_owned(), Var::from_tensor(&w.narrow(0, old_rows, rows - old_rows)?.contiguous()?)?));
        }
        Ok(NewRows { base: model.clone(), old_rows, frozen, vars })
    }

    fn assembled(&self) -> Result<Model> {
        let mut m = self.base.clone();
        for ((name, old), (_, new)) in self.frozen.iter().zip(&self.vars) {
            m.params.insert(name.clone(), Tensor::cat(&[old, new.as_tensor()], 0)?);
        }
        Ok(m)
    }

    /// The model with the trained rows in place.
    pub fn into_model(self) -> Result<Model> {
        let mut m = self.assembled()?;
        for t in m.params.values_mut() {
            *t = t.detach();
        }
        Ok(m)
    }

    /// Embedding rows that existed before.
    pub fn old_rows(&self) -> usize {
        self.old_rows
    }
}

impl SequenceObjective for NewRows {
    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.iter().map(|(n, v)| (format!("new_rows.{n}"), v.clone())).collect()
    }

    fn loss(&self, batch: &Batch, _rng: &mut Rng) -> Result<Tensor> {
        let model = self.assembled()?;
        let hidden = model.hidden(&batch.inputs, None, None)?;
        model.learned_cross_entropy(&hidden, &batch.targets, &batch.mask)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Original tensors compared (old rows only for the embedding and head).
    pub compared: usize,
    /// Those that differ in any bit.
    pub changed: Vec<String>,
    /// Each term and the number of tokens it now encodes to.
    pub token_counts: Vec<(String, usize)>,
}

impl Verification {
    /// Every original parameter is untouched and every term is one token.
    pub fn ok(&self) -> bool {
        self.changed.is_empty() && self.token_counts.iter().all(|(_, n)| *n == 1)
    }
}

/// Compares `extended` against `original` bit for bit and checks each term encodes whole.
pub fn verify(original: &Checkpoint, extended: &Checkpoint, terms: &[String]) -> Result<Verification> {
    let old_rows = original.model.config.vocab_size;
    let mut v = Verification { compared: 0, changed: Vec::new(), token_counts: Vec::new() };
    let mut names: Vec<&String> = original.model.params.keys().collect();
    names.sort();
    for name in names {
        let a = original.model.params[name].detach();
        let b =
            extended.model.params.get(name).ok_or_else(|| TrainError::Model(format!("extended model lacks {name}")))?;
        let b = if b.dims() != a.dims() { b.narrow(0, 0, old_rows)? } else { b.detach() };
        let same = a.dims() == b.dims() && {
            let (x, y) = (a.flatten_all()?.to_vec1::<f32>()?, b.flatten_all()?.to_vec1::<f32>()?);
            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits())
        };
        v.compared += 1;
        if !same {
            v.changed.push(name.clone());
        }
    }
    let tok = extended.tokenizer()?;
    for t in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let n = tok.encode(t, false).map_err(TrainError::tokenizer)?.get_ids().len();
        v.token_counts.push((t.to_owned(), n));
    }
    Ok(v)
}

/// Mean log-likelihood per token of `ids` (for before/after comparisons).
pub fn mean_log_likelihood(model: &Model, ids: &[u32]) -> Result<f64> {
    let lp = model.log_probs(ids, None)?;
    let n = ids.len() - 1;
    let targets = Tensor::new(&ids[1..], &model.device)?.unsqueeze(1)?;
    let picked = lp.narrow(0, 0, n)?.gather(&targets, D::Minus1)?;
    Ok(picked.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? / n as f64)
}
