//! Fused CPU kernels with their own backward pass, for the decoder's hot ops: the causal
//! attention softmax (mask applied in the kernel), RMSNorm and rotary embeddings. candle's fused versions have no
//! backward, and the compositions of primitive ops that do (`softmax`, `rms_norm_slow`,
//! `rope_slow`) run five to eight ops forward and as many backward, each allocating a
//! tensor. These run one pass forward and a short composition backward. The whole
//! decoder's gradients are checked against central finite differences in the tests
//! (`tests/train.rs`), and its logits against transformers.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, Layout, Result, Shape, Tensor};
use num_traits::Float;

/// The contiguous slice a layout addresses, or an error.
fn slice<'a, T>(v: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("{op} needs a contiguous input"),
    }
}

/// Runs `f` on an f32 or f64 storage, wrapping the result back.
macro_rules! float_dispatch {
    ($storage:expr, $op:expr, |$v:ident| $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => CpuStorage::F32($body),
            CpuStorage::F64($v) => CpuStorage::F64($body),
            _ => candle_core::bail!("{} supports f32 and f64 only", $op),
        }
    };
}

// ---- causal softmax: attention scores with the causal mask applied in the kernel ----

/// Rows are query positions `row % queries` (several heads' queries may be stacked in one
/// block); a query at position `p` sees the `past` cached columns and new ones up to `p`.
struct CausalSoftmax {
    queries: usize,
    past: usize,
    /// Keys a query sees, itself included (`usize::MAX`: all before it).
    window: usize,
}

fn causal_softmax_rows<T: Float>(x: &[T], cols: usize, queries: usize, past: usize, window: usize) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    for (r, (row, o)) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)).enumerate() {
        let seen = (past + r % queries + 1).min(cols);
        let first = seen.saturating_sub(window);
        let (row, o) = (&row[first..seen], &mut o[first..seen]);
        let max = row.iter().copied().fold(T::neg_infinity(), T::max);
        let mut sum = T::zero();
        for (o, &v) in o.iter_mut().zip(row) {
            *o = (v - max).exp();
            sum = sum + *o;
        }
        let inv = sum.recip();
        for o in o.iter_mut() {
            *o = *o * inv;
        }
    }
    out
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "cairn-causal-softmax"
    }

    #[allow(clippy::wildcard_enum_match_arm)] // candle's dtype set is open; two matter here
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let cols = layout.dims().last().copied().unwrap_or(1).max(1);
        if cols != self.past + self.queries && self.queries > 1 {
            candle_core::bail!("causal softmax: {cols} columns for {} past and {} new", self.past, self.queries)
        }
        let (q, past) = (self.queries.max(1), self.past);
        let out = float_dispatch!(storage, self.name(), |v| causal_softmax_rows(
            slice(v, layout, "softmax")?,
            cols,
            q,
            past,
            self.window
        ));
        Ok((out, layout.shape().clone()))
    }

    /// As for softmax: masked positions have `y = 0`, so they get no gradient.
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let s = (grad * res)?.sum_keepdim(D::Minus1)?;
        Ok(Some((grad.broadcast_sub(&s)? * res)?))
    }
}

/// Softmax of attention scores `[.., rows, past + queries]` under the causal mask, where row
/// `r` is the query at position `r % queries`; differentiable. With a `window`, a query sees
/// only the last `window` keys up to itself (Gemma 3's sliding-window layers).
pub(crate) fn causal_softmax(x: &Tensor, queries: usize, past: usize, window: Option<usize>) -> Result<Tensor> {
    x.contiguous()?.apply_op1(CausalSoftmax { queries, past, window: window.unwrap_or(usize::MAX) })
}

// ---- RMSNorm ----

struct RmsNorm {
    eps: f64,
}

fn rms_norm_rows<T: Float>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let d = w.len();
    let eps = T::from(eps).unwrap_or_else(T::epsilon);
    let n = T::from(d).unwrap_or_else(T::one);
    let mut out = vec![T::zero(); x.len()];
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let ms = row.iter().fold(T::zero(), |a, &v| a + v * v) / n;
        let r = (ms + eps).sqrt().recip();
        for ((o, &v), &w) in o.iter_mut().zip(row).zip(w) {
            *o = v * r * w;
        }
    }
    out
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "cairn-rms-norm"
    }

    #[allow(clippy::wildcard_enum_match_arm)] // candle's dtype set is open; two matter here
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l2.shape().elem_count();
        if l1.dims().last() != Some(&d) {
            candle_core::bail!("rms-norm: weight of {d} for input {:?}", l1.dims())
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => {
                CpuStorage::F32(rms_norm_rows(slice(x, l1, "rms-norm")?, slice(w, l2, "rms-norm")?, self.eps))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w)) => {
                CpuStorage::F64(rms_norm_rows(slice(x, l1, "rms-norm")?, slice(w, l2, "rms-norm")?, self.eps))
            }
            _ => candle_core::bail!("rms-norm supports f32 or f64 inputs and weight of one dtype"),
        };
        Ok((out, l1.shape().clone()))
    }

    /// With `r = (mean x² + ε)^-½`, `x̂ = x·r` and `ĝ = g⊙w`:
    /// `dx = r·(ĝ − x̂·mean(ĝ⊙x̂))` and `dw = Σ_rows g⊙x̂`.
    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?.recip()?;
        let xhat = x.broadcast_mul(&r)?;
        let gw = grad.broadcast_mul(w)?;
        let m = (&gw * &xhat)?.mean_keepdim(D::Minus1)?;
        let dx = (gw - xhat.broadcast_mul(&m)?)?.broadcast_mul(&r)?;
        // A frozen weight gets no gradient (and costs none).
        let dw = if w.track_op() {
            Some((grad * xhat)?.reshape(((), w.elem_count()))?.sum(0)?.reshape(w.shape())?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}

/// `x / rms(x) · w` over the last dimension, differentiable in `x` and `w`.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}

// ---- rotary embeddings (the rotate-half layout of Llama and Qwen2) ----

struct Rope {
    /// The backward pass is the inverse rotation.
    inverse: bool,
}

fn rope_rows<T: Float>(x: &[T], cos: &[T], sin: &[T], t: usize, d: usize, inverse: bool) -> Vec<T> {
    let half = d / 2;
    let mut out = vec![T::zero(); x.len()];
    for (i, (row, o)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
        let p = i % t;
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for j in 0..half {
            let (a, b) = (row[j], row[j + half]);
            let sj = if inverse { -s[j] } else { s[j] };
            o[j] = a * c[j] - b * sj;
            o[j + half] = b * c[j] + a * sj;
        }
    }
    out
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "cairn-rope"
    }

    #[allow(clippy::wildcard_enum_match_arm)] // candle's dtype set is open; two matter here
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = l1.dims();
        let (Some(&d), Some(&t)) = (dims.last(), dims.len().checked_sub(2).and_then(|i| dims.get(i))) else {
            candle_core::bail!("rope needs [.., seq, head_dim], got {dims:?}")
        };
        if d % 2 != 0 || l2.dims() != [t, d / 2] || l3.dims() != [t, d / 2] {
            candle_core::bail!("rope: input {dims:?}, cos {:?}, sin {:?}", l2.dims(), l3.dims())
        }
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(c), CpuStorage::F32(s)) => CpuStorage::F32(rope_rows(
                slice(x, l1, "rope")?,
                slice(c, l2, "rope")?,
                slice(s, l3, "rope")?,
                t,
                d,
                self.inverse,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(c), CpuStorage::F64(s)) => CpuStorage::F64(rope_rows(
                slice(x, l1, "rope")?,
                slice(c, l2, "rope")?,
                slice(s, l3, "rope")?,
                t,
                d,
                self.inverse,
            )),
            _ => candle_core::bail!("rope supports f32 or f64 of one dtype"),
        };
        Ok((out, l1.shape().clone()))
    }

    /// A rotation's transpose is the opposite rotation.
    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, sin, &Rope { inverse: !self.inverse })?;
        Ok((Some(dx), None, None))
    }
}

/// Rotary embedding of `x` `[.., seq, head_dim]` with `cos`/`sin` `[seq, head_dim/2]`,
/// differentiable in `x`.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&cos.contiguous()?, &sin.contiguous()?, Rope { inverse: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f64) {
        let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap();
        assert!(d < tol, "max difference {d}");
    }

    fn input(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut s = seed;
        let v: Vec<f64> = (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Value and gradient of `Σ f(x)·k` (a fixed random `k`) for the fused op and for
    /// candle's composition of primitives.
    fn check(fused: impl Fn(&Tensor) -> Tensor, reference: impl Fn(&Tensor) -> Tensor, shape: &[usize]) {
        let x = Var::from_tensor(&input(shape, 1)).unwrap();
        let k = input(shape, 2);
        let (yf, yr) = (fused(x.as_tensor()), reference(x.as_tensor()));
        close(&yf, &yr, 1e-12);
        let gf = (yf * &k).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (yr * &k).unwrap().sum_all().unwrap().backward().unwrap();
        close(gf.get(x.as_tensor()).unwrap(), gr.get(x.as_tensor()).unwrap(), 1e-12);
    }

    #[test]
    fn rms_norm_matches_candle_forward_and_backward_in_both_inputs() {
        let w = Var::from_tensor(&input(&[6], 3)).unwrap();
        check(
            |x| rms_norm(x, w.as_tensor(), 1e-6).unwrap(),
            |x| candle_nn::ops::rms_norm_slow(x, w.as_tensor(), 1e-6).unwrap(),
            &[4, 6],
        );
        let x = input(&[4, 6], 4);
        let k = input(&[4, 6], 5);
        let gf = (rms_norm(&x, w.as_tensor(), 1e-6).unwrap() * &k).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (candle_nn::ops::rms_norm_slow(&x, w.as_tensor(), 1e-6).unwrap() * &k)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        close(gf.get(w.as_tensor()).unwrap(), gr.get(w.as_tensor()).unwrap(), 1e-12);
    }

    #[test]
    fn rope_matches_candle_forward_and_backward() {
        let (t, d) = (5, 8);
        let cos = input(&[t, d / 2], 6);
        let sin = input(&[t, d / 2], 7);
        check(
            |x| rope(x, &cos, &sin).unwrap(),
            |x| candle_nn::rotary_emb::rope_slow(x, &cos, &sin).unwrap(),
            &[2, 3, t, d],
        );
    }

    #[test]
    fn causal_softmax_equals_masked_softmax_forward_and_backward() {
        // Two heads' queries stacked per block (rows = 2 × 3), no cache; and with 2 cached;
        // each with no window and with a window of 2 keys.
        for (past, window) in [(0, None), (2, None), (0, Some(2)), (2, Some(2))] {
            let (q, cols) = (3, past + 3);
            let w = window.unwrap_or(usize::MAX);
            let mask: Vec<f64> = (0..2 * q)
                .flat_map(|r| {
                    let me = past + r % q;
                    (0..cols).map(move |j| if j > me || me - j >= w { -1e30 } else { 0.0 })
                })
                .collect();
            let mask = Tensor::from_vec(mask, (2 * q, cols), &Device::Cpu).unwrap();
            check(
                |x| causal_softmax(x, q, past, window).unwrap(),
                |x| candle_nn::ops::softmax(&x.broadcast_add(&mask).unwrap(), D::Minus1).unwrap(),
                &[2, 2, 2 * q, cols],
            );
        }
    }

    #[test]
    fn f32_works_too() {
        let x = input(&[4, 4], 8).to_dtype(DType::F32).unwrap();
        let y = causal_softmax(&x, 4, 0, None).unwrap();
        let sums = y.sum(D::Minus1).unwrap().to_vec1::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6));
        assert_eq!(y.get(0).unwrap().to_vec1::<f32>().unwrap()[1..], [0.0, 0.0, 0.0]);
    }
}
