//! Reward models (the seed's §4.2): the decoder with LoRA and a scalar head read at the last
//! token of each sequence, trained on preference pairs with `-log σ(r_chosen − r_rejected)`.

use std::path::Path;

use candle_core::{Device, Tensor, Var};

use crate::data::Example;
use crate::error::{Result, TrainError};
use crate::lora::Lora;
use crate::model::Model;
use crate::prefs::Pair;
use crate::rng::Rng;
use crate::trainer::{Loss, Objective};

/// `log(1 + eˣ)`, computed stably and differentiably.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + ((x.abs()?.neg()?.exp()? + 1.0)?.log()?))?)
}

/// The pairwise loss, mean over the batch: `softplus(−(r_c − r_r))`.
pub fn pairwise_loss(chosen: &Tensor, rejected: &Tensor) -> Result<Tensor> {
    Ok(softplus(&(rejected - chosen)?)?.mean_all()?)
}

/// Pads full sequences (no shift) and returns the index of each one's last token.
pub fn padded(items: &[&Example], pad: u32, device: &Device) -> Result<(Tensor, Vec<usize>)> {
    let t = items.iter().map(|e| e.ids.len()).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(items.len() * t);
    let mut last = Vec::with_capacity(items.len());
    for e in items {
        ids.extend(e.ids.iter().copied().chain(std::iter::repeat(pad)).take(t));
        last.push(e.ids.len().saturating_sub(1));
    }
    Ok((Tensor::from_vec(ids, (items.len(), t), device)?, last))
}

/// A reward model: base, optional adapter, and the head `score.weight [1, hidden]`.
#[derive(Debug)]
pub struct RewardModel<'a> {
    /// Frozen base.
    pub model: &'a Model,
    /// Trainable adapter, if any.
    pub lora: Option<&'a Lora>,
    /// The scalar head.
    pub head: Var,
}

impl<'a> RewardModel<'a> {
    /// A fresh head (normal, std `1/√hidden`) over `model`.
    pub fn new(model: &'a Model, lora: Option<&'a Lora>, rng: &mut Rng) -> Result<RewardModel<'a>> {
        let h = model.config.hidden_size;
        let w =
            Tensor::from_vec(rng.normals(h, 1.0 / (h as f64).sqrt()), (1, h), &model.device)?.to_dtype(model.dtype)?;
        Ok(RewardModel { model, lora, head: Var::from_tensor(&w)? })
    }

    /// Rewards `[n]` of full sequences.
    pub fn scores(&self, items: &[&Example], dropout: Option<&mut Rng>) -> Result<Tensor> {
        let (ids, last) = padded(items, 0, &self.model.device)?;
        let (b, t) = ids.dims2()?;
        let hidden = self.model.hidden(&ids, self.lora, dropout)?.reshape((b * t, ()))?;
        let idx: Vec<u32> = last.iter().enumerate().map(|(i, l)| (i * t + l) as u32).collect();
        let picked = hidden.index_select(&Tensor::new(idx.as_slice(), &self.model.device)?, 0)?;
        Ok(picked.matmul(&self.head.as_tensor().t()?)?.squeeze(1)?)
    }

    /// Share of `pairs` where the chosen response scores higher.
    pub fn accuracy(&self, pairs: &[Pair]) -> Result<f64> {
        if pairs.is_empty() {
            return Ok(f64::NAN);
        }
        let mut right = 0;
        for chunk in pairs.chunks(8) {
            let c: Vec<&Example> = chunk.iter().map(|p| &p.chosen).collect();
            let r: Vec<&Example> = chunk.iter().map(|p| &p.rejected).collect();
            let (sc, sr) = (self.scores(&c, None)?.to_vec1::<f32>()?, self.scores(&r, None)?.to_vec1::<f32>()?);
            right += sc.iter().zip(&sr).filter(|(a, b)| a > b).count();
        }
        Ok(right as f64 / pairs.len() as f64)
    }

    /// Writes the head as `reward_head.safetensors` (`score.weight`, the name transformers'
    /// sequence-classification models use) and the adapter, if any, into `dir`.
    pub fn save(&self, dir: &Path, base: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        let mut t = std::collections::HashMap::new();
        t.insert("score.weight".to_owned(), self.head.as_tensor().detach());
        candle_core::safetensors::save(&t, dir.join("reward_head.safetensors"))?;
        if let Some(l) = self.lora {
            l.save_peft(dir, base)?;
        }
        Ok(())
    }

    /// Loads a head (and adapter) that [`RewardModel::save`] wrote.
    pub fn load(dir: &Path, model: &'a Model, lora: Option<&'a Lora>) -> Result<RewardModel<'a>> {
        let t = candle_core::safetensors::load(dir.join("reward_head.safetensors"), &model.device)?;
        let w = t.get("score.weight").ok_or_else(|| TrainError::Model("reward head lacks score.weight".into()))?;
        if w.dims() != [1, model.config.hidden_size] {
            return Err(TrainError::Model(format!("reward head shape {:?} does not fit the model", w.dims())));
        }
        Ok(RewardModel { model, lora, head: Var::from_tensor(&w.to_dtype(model.dtype)?)? })
    }
}

impl Objective for RewardModel<'_> {
    type Item = Pair;

    fn vars(&self) -> Vec<(String, Var)> {
        let mut v = vec![("score.weight".to_owned(), self.head.clone())];
        v.extend(self.lora.map(Lora::vars).unwrap_or_default());
        v
    }

    fn step_loss(&self, items: &[&Pair], rng: &mut Rng) -> Result<Loss> {
        let both: Vec<&Example> = items.iter().map(|p| &p.chosen).chain(items.iter().map(|p| &p.rejected)).collect();
        let s = self.scores(&both, Some(rng))?;
        let n = items.len();
        let (c, r) = (s.narrow(0, 0, n)?, s.narrow(0, n, n)?);
        let loss = pairwise_loss(&c, &r)?;
        let (cv, rv) = (c.to_vec1::<f32>()?, r.to_vec1::<f32>()?);
        let acc = cv.iter().zip(&rv).filter(|(a, b)| a > b).count() as f64 / n as f64;
        let margin = cv.iter().zip(&rv).map(|(a, b)| (a - b) as f64).sum::<f64>() / n as f64;
        let tokens = both.iter().map(|e| e.ids.len()).sum();
        Ok(Loss { loss, tokens, extra: vec![("accuracy", acc), ("margin", margin)] })
    }
}
