//! Distillation (the seed's §6.2). Logit distillation trains a smaller student to match a
//! teacher's next-token distributions, `T²·KL(p_teacher^T ‖ p_student^T)` over the learned
//! positions, optionally mixed with the hard-label loss; both must share a tokenizer.
//! Sequence-level distillation needs no shared vocabulary: the teacher answers prompts and
//! the student is fine-tuned on those answers (see [`teacher_answers`]).

use candle_core::{D, Device, Tensor, Var};

use crate::checkpoint::Checkpoint;
use crate::data::{Batch, Example, instruction_prompt};
use crate::error::{Result, TrainError};
use crate::model::{Model, masked_cross_entropy};
use crate::rng::Rng;
use crate::trainer::SequenceObjective;

/// Student weights trained to match a frozen teacher.
#[derive(Debug)]
pub struct LogitDistill<'a> {
    /// The frozen teacher.
    pub teacher: &'a Model,
    /// The student (after [`crate::sft::make_trainable`]).
    pub student: &'a Model,
    /// Its variables.
    pub vars: Vec<(String, Var)>,
    /// Softening temperature.
    pub temperature: f64,
    /// Weight of the distillation term; `1 − alpha` goes to the hard labels.
    pub alpha: f64,
}

/// Mean over masked positions of `KL(softmax(t/T) ‖ softmax(s/T))`, times `T²`.
pub fn distill_kl(teacher_logits: &Tensor, student_logits: &Tensor, mask: &Tensor, temperature: f64) -> Result<Tensor> {
    let pt_log = candle_nn::ops::log_softmax(&(teacher_logits / temperature)?, D::Minus1)?;
    let ps_log = candle_nn::ops::log_softmax(&(student_logits / temperature)?, D::Minus1)?;
    let kl = (pt_log.exp()? * (pt_log - ps_log)?)?.sum(D::Minus1)?; // [b, t]
    let mask = mask.to_dtype(kl.dtype())?;
    let n = mask.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    if n == 0.0 {
        return Err(TrainError::Invalid("a batch has no tokens to learn from".into()));
    }
    Ok(((kl * mask)?.sum_all()? * (temperature * temperature / n))?)
}

impl SequenceObjective for LogitDistill<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&self, batch: &Batch, _rng: &mut Rng) -> Result<Tensor> {
        let teacher = self.teacher.forward(&batch.inputs, None, None)?.detach();
        let student = self.student.forward(&batch.inputs, None, None)?;
        let kd = distill_kl(&teacher, &student, &batch.mask, self.temperature)?;
        if self.alpha >= 1.0 {
            return Ok(kd);
        }
        let hard = masked_cross_entropy(&student, &batch.targets, &batch.mask)?;
        Ok(((kd * self.alpha)? + (hard * (1.0 - self.alpha))?)?)
    }
}

/// How closely a student follows its teacher on held-out prompts.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Mean `KL(teacher ‖ student)` per learned position (temperature 1).
    pub kl: f64,
    /// Share of the teacher's greedy tokens the student reproduces before diverging.
    pub token_agreement: f64,
    /// Share of prompts whose whole greedy answer matches the teacher's.
    pub answer_accuracy: f64,
    /// Student parameters over teacher parameters.
    pub size_ratio: f64,
}

/// Compares `student` with `teacher` on `examples` (KL) and on greedy answers to `prompts`.
pub fn agreement(
    teacher: &Model,
    student: &Model,
    examples: &[Example],
    prompts: &[Vec<u32>],
    max_tokens: usize,
) -> Result<Agreement> {
    let refs: Vec<&Example> = examples.iter().collect();
    let b = crate::data::batch(&refs, 0, &Device::Cpu)?;
    let t = teacher.forward(&b.inputs, None, None)?;
    let s = student.forward(&b.inputs, None, None)?;
    let kl = distill_kl(&t, &s, &b.mask, 1.0)?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    let eos = teacher.config.eos_token_id;
    let (mut same, mut total, mut exact) = (0, 0, 0);
    for p in prompts {
        let cut = |mut v: Vec<u32>| {
            if let Some(i) = v.iter().position(|x| Some(*x) == eos) {
                v.truncate(i + 1);
            }
            v
        };
        let want = cut(teacher.greedy(p, max_tokens, None)?);
        let got = cut(student.greedy(p, max_tokens, None)?);
        total += want.len();
        same += want.iter().zip(&got).take_while(|(a, b)| a == b).count();
        exact += usize::from(want == got);
    }
    Ok(Agreement {
        kl,
        token_agreement: if total == 0 { 1.0 } else { same as f64 / total as f64 },
        answer_accuracy: if prompts.is_empty() { 1.0 } else { exact as f64 / prompts.len() as f64 },
        size_ratio: student.config.parameter_count() as f64 / teacher.config.parameter_count() as f64,
    })
}

/// A teacher for sequence-level distillation: anything that answers a prompt.
pub trait Teacher {
    /// The teacher's answer to `instruction`.
    fn answer(&self, instruction: &str) -> Result<String>;
}

impl<F: Fn(&str) -> Result<String>> Teacher for F {
    fn answer(&self, instruction: &str) -> Result<String> {
        self(instruction)
    }
}

/// A local checkpoint as teacher: greedy decoding after the SFT instruction template.
#[derive(Debug)]
pub struct LocalTeacher<'a> {
    checkpoint: &'a Checkpoint,
    tokenizer: tokenizers::Tokenizer,
    max_tokens: usize,
}

impl<'a> LocalTeacher<'a> {
    /// `checkpoint` answering with at most `max_tokens` tokens (its tokenizer parsed once).
    pub fn new(checkpoint: &'a Checkpoint, max_tokens: usize) -> Result<LocalTeacher<'a>> {
        Ok(LocalTeacher { checkpoint, tokenizer: checkpoint.tokenizer()?, max_tokens })
    }
}

impl Teacher for LocalTeacher<'_> {
    fn answer(&self, instruction: &str) -> Result<String> {
        let tok = &self.tokenizer;
        let prompt = tok.encode(instruction_prompt(instruction, None), true).map_err(TrainError::tokenizer)?;
        let mut out = self.checkpoint.model.greedy(prompt.get_ids(), self.max_tokens, None)?;
        if let Some(i) = out.iter().position(|x| Some(*x) == self.checkpoint.model.config.eos_token_id) {
            out.truncate(i);
        }
        tok.decode(&out, true).map_err(TrainError::tokenizer)
    }
}

/// The teacher's answers to `prompts`, as instruction-format SFT lines for the student.
pub fn teacher_answers(teacher: &dyn Teacher, prompts: &[String]) -> Result<Vec<String>> {
    prompts
        .iter()
        .map(|p| {
            let a = teacher.answer(p)?;
            Ok(serde_json::json!({"instruction": p, "output": a}).to_string())
        })
        .collect()
}
