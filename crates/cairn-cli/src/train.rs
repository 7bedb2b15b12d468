//! `cairn train …`: argument parsing and printing over `cairn-train` (feature `train`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_train::data::{load_sft, load_text};
use cairn_train::dpo::Dpo;
use cairn_train::lora::LoraConfig;
use cairn_train::prefs::{PromptTemplate, load_pairs};
use cairn_train::reward::RewardModel;
use cairn_train::sft::{LoraSft, trainable_share};
use cairn_train::tiny::{TinySpec, sample_corpus, tiny};
use cairn_train::vocab::{NewRows, extend, verify};
use cairn_train::{Arch, Checkpoint, Lora, Objective, Rng, StepMetrics, TrainOptions, TrainReport};
use candle_core::DType;
use clap::{Args, Subcommand};

/// Model adaptation: tiny models, vocabulary extension, LoRA SFT, merge, GGUF export.
#[derive(Debug, Subcommand)]
pub enum TrainAction {
    /// Write a tiny random model (Hugging Face layout) with a BPE tokenizer trained on a
    /// corpus, for tests and examples.
    Tiny {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Text to train the tokenizer on (default: a built-in bilingual sample).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// llama, qwen2 or gemma3 (Gemma 3 text: a window of 8 keys, every second layer global).
        #[arg(long, default_value = "llama")]
        arch: String,
        /// Width (multiples of 256 allow every GGUF block type).
        #[arg(long, default_value_t = 256)]
        hidden: usize,
        /// MLP width.
        #[arg(long, default_value_t = 512)]
        intermediate: usize,
        /// Blocks.
        #[arg(long, default_value_t = 2)]
        layers: usize,
        /// Query heads.
        #[arg(long, default_value_t = 4)]
        heads: usize,
        /// Key/value heads.
        #[arg(long, default_value_t = 2)]
        kv_heads: usize,
        /// Target tokenizer size.
        #[arg(long, default_value_t = 1000)]
        vocab: usize,
        /// Tie the output head to the embeddings.
        #[arg(long)]
        tie: bool,
        /// Weight seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Add domain terms as whole tokens, then train only their new embedding rows on text.
    Vocab {
        /// Base model folder.
        #[arg(long)]
        model: PathBuf,
        /// Terms, one per line.
        #[arg(long)]
        add: PathBuf,
        /// Domain text, one example per line.
        #[arg(long)]
        data: PathBuf,
        /// Output model folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Supervised fine-tuning with LoRA on instruction or chat JSONL; writes a PEFT adapter.
    Sft {
        /// Base model folder.
        #[arg(long)]
        model: PathBuf,
        /// `{"instruction","input"?,"output"}` or `{"messages":[…]}` lines.
        #[arg(long)]
        data: PathBuf,
        /// Adapter output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        lora: LoraArgs,
        /// Longest example in tokens (longer ones are cut).
        #[arg(long, default_value_t = 512)]
        max_len: usize,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Train a reward model (LoRA + a scalar head) on `{"prompt","chosen","rejected"}` pairs.
    Reward {
        /// Base model folder.
        #[arg(long)]
        model: PathBuf,
        /// Preference pairs (TRL format).
        #[arg(long)]
        data: PathBuf,
        /// Output folder (head + adapter).
        #[arg(long)]
        out: PathBuf,
        /// Share of pairs (the last ones) held out to report accuracy on.
        #[arg(long, default_value_t = 0.2)]
        eval_split: f64,
        /// raw (prompts as written) or instruction (the SFT template).
        #[arg(long, default_value = "raw")]
        template: String,
        /// Longest prompt plus response in tokens (longer ones are cut; `train data`'s
        /// answer-stage pairs need about 2,048).
        #[arg(long, default_value_t = 512)]
        max_len: usize,
        #[command(flatten)]
        lora: LoraArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Direct preference optimisation of a LoRA adapter (the reference is the base).
    Dpo {
        /// Base (reference) model folder.
        #[arg(long)]
        model: PathBuf,
        /// Preference pairs (TRL format; `cairn feedback export` writes them).
        #[arg(long)]
        data: PathBuf,
        /// Adapter output folder.
        #[arg(long)]
        out: PathBuf,
        /// β, the strength of the pull towards the reference.
        #[arg(long, default_value_t = 0.1)]
        beta: f64,
        /// raw (prompts as written) or instruction (the SFT template).
        #[arg(long, default_value = "raw")]
        template: String,
        /// Longest prompt plus response in tokens (longer ones are cut; `train data`'s
        /// answer-stage pairs need about 2,048).
        #[arg(long, default_value_t = 512)]
        max_len: usize,
        #[command(flatten)]
        lora: LoraArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// PPO-style RLHF of a LoRA policy: rollouts from prompts, a reward model (or a toy
    /// rule), a value model, a KL penalty against the base.
    Ppo {
        /// Base (reference) model folder.
        #[arg(long)]
        model: PathBuf,
        /// Prompts, one per line.
        #[arg(long)]
        prompts: PathBuf,
        /// Policy adapter output folder.
        #[arg(long)]
        out: PathBuf,
        /// A reward model folder written by `cairn train reward` on the same base.
        #[arg(long, conflicts_with = "reward_contains")]
        reward: Option<PathBuf>,
        /// Toy reward instead: 1 when the response contains this text, else 0.
        #[arg(long)]
        reward_contains: Option<String>,
        /// raw (prompts as written) or instruction (the SFT template).
        #[arg(long, default_value = "raw")]
        template: String,
        /// Iterations (rollout batch + update epochs).
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Prompts per rollout batch.
        #[arg(long, default_value_t = 4)]
        batch_size: usize,
        /// Tokens sampled per response.
        #[arg(long, default_value_t = 16)]
        max_new_tokens: usize,
        /// Update epochs per batch.
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// KL coefficient at the first iteration.
        #[arg(long, default_value_t = 0.01)]
        kl_start: f64,
        /// KL coefficient at the last iteration (linear in between).
        #[arg(long, default_value_t = 0.1)]
        kl_end: f64,
        /// Learning rate.
        #[arg(long, default_value_t = 4e-3)]
        lr: f64,
        /// Seed of prompt order and sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Append per-iteration metrics (JSONL) here.
        #[arg(long)]
        metrics: Option<PathBuf>,
        #[command(flatten)]
        lora: LoraArgs,
    },
    /// Distil a teacher into a smaller student: `--mode logits` matches next-token
    /// distributions (shared tokenizer); `--mode sequence` fine-tunes the student on the
    /// teacher's answers (a local folder, or `openai:MODEL` at --teacher-url).
    Distill {
        /// Teacher: a model folder, or `openai:MODEL`.
        #[arg(long)]
        teacher: String,
        /// Student model folder (trained in full).
        #[arg(long)]
        student: PathBuf,
        /// logits: SFT JSONL; sequence: prompts, one per line (or SFT JSONL, whose
        /// instructions are used).
        #[arg(long)]
        data: PathBuf,
        /// Output student folder.
        #[arg(long)]
        out: PathBuf,
        /// logits or sequence.
        #[arg(long, default_value = "logits")]
        mode: String,
        /// Softening temperature (logits mode).
        #[arg(long, default_value_t = 2.0)]
        temperature: f64,
        /// Weight of the distillation term against the hard labels (logits mode).
        #[arg(long, default_value_t = 0.5)]
        alpha: f64,
        /// Share of examples held out for the agreement report.
        #[arg(long, default_value_t = 0.2)]
        eval_split: f64,
        /// Most tokens per teacher answer.
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// Base URL of the teacher endpoint [default: $OPENAI_BASE_URL or api.openai.com]
        #[arg(long)]
        teacher_url: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Merge a LoRA adapter into its base and write the result as a model folder.
    Merge {
        /// Base model folder.
        #[arg(long)]
        model: PathBuf,
        /// Adapter folder (PEFT layout).
        #[arg(long)]
        adapter: PathBuf,
        /// Output model folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Greedy continuation of a prompt by a model folder (safetensors), with each token's
    /// log-probability.
    Generate {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// The prompt (raw text; instruction models want the SFT template).
        #[arg(long)]
        prompt: String,
        /// Most tokens to generate (stops at end of sequence).
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        /// Print JSON: prompt ids, generated ids, log-probabilities, text.
        #[arg(long)]
        json: bool,
    },
    /// GRPO with Cairn's verifier as the reward, on tasks written by `train data`: a
    /// group of answers per question, rewards standardised within the group, the clipped
    /// surrogate with a KL penalty to the base (adapter off).
    Grpo {
        /// Base (reference) model folder.
        #[arg(long)]
        model: PathBuf,
        /// Tasks: `cairn train data` output (question, evidence, gold).
        #[arg(long)]
        data: PathBuf,
        /// Policy adapter output folder.
        #[arg(long)]
        out: PathBuf,
        /// Iterations (sample + update).
        #[arg(long, default_value_t = 10)]
        iterations: usize,
        /// Questions per iteration.
        #[arg(long, default_value_t = 1)]
        prompts_per_step: usize,
        /// Answers sampled per question (G).
        #[arg(long, default_value_t = 4)]
        group: usize,
        /// Tokens sampled per answer at most.
        #[arg(long, default_value_t = 160)]
        max_new_tokens: usize,
        /// Update epochs per iteration.
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// KL coefficient β.
        #[arg(long, default_value_t = 0.04)]
        beta: f64,
        /// Sampling temperature.
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Learning rate.
        #[arg(long, default_value_t = 1e-4)]
        lr: f64,
        /// Seed of task order and sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// JSONL log per iteration.
        #[arg(long)]
        metrics: Option<PathBuf>,
        /// Leave out tasks whose prompt is longer than this many tokens. Memory grows with
        /// the group times the square of the length: on 24 GB, a group of 2 fits prompts of
        /// about 1,200 tokens of the 0.5B model, not 1,900.
        #[arg(long)]
        max_prompt_len: Option<usize>,
        #[command(flatten)]
        lora: LoraArgs,
    },
    /// Write SFT examples for the answer stage from the knowledge base (--kb): a teacher
    /// model writes a question about each sampled paragraph and answers it in `ask`'s
    /// format; only answers Cairn's verifier accepts are kept.
    Data(crate::train_data::DataArgs),
    /// Import a GGUF (Qwen2, Llama or Gemma 3, any quantisation candle reads: Q4_K, Q5_0, Q6_K,
    /// Q8_0, …) as a trainable model folder: config.json, dequantized safetensors and a
    /// tokenizer.json rebuilt from the GGUF's vocabulary. `--check` runs the source GGUF
    /// in the local backend (feature `gguf`) and compares greedy tokens with the import.
    Import {
        /// The GGUF file.
        #[arg(long)]
        gguf: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Weight type of the safetensors: f32 or bf16.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// A prompt to compare greedy continuations on (repeatable).
        #[arg(long = "check")]
        checks: Vec<String>,
        /// Tokens to generate per check prompt.
        #[arg(long, default_value_t = 16)]
        check_tokens: usize,
    },
    /// Export a model folder to GGUF; `--check` runs it in the local backend (feature
    /// `gguf`) and compares greedy tokens with the safetensors model.
    Export {
        /// Model folder.
        #[arg(long)]
        model: PathBuf,
        /// Output `.gguf` file.
        #[arg(long)]
        out: PathBuf,
        /// f32, q8_0 or q4_0.
        #[arg(long, default_value = "q8_0")]
        quant: String,
        /// A prompt to compare greedy continuations on (repeatable).
        #[arg(long = "check")]
        checks: Vec<String>,
        /// Tokens to generate per check prompt.
        #[arg(long, default_value_t = 16)]
        check_tokens: usize,
        /// Fail unless every check prompt's greedy tokens match exactly.
        #[arg(long)]
        require_exact: bool,
        /// Fail below this greedy-token agreement.
        #[arg(long, default_value_t = 0.0)]
        min_agreement: f64,
    },
}

/// LoRA options.
#[derive(Debug, Args)]
pub struct LoraArgs {
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA alpha.
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// LoRA dropout.
    #[arg(long, default_value_t = 0.05)]
    dropout: f64,
    /// Target modules, comma-separated.
    #[arg(long, default_value = "q_proj,v_proj", value_delimiter = ',')]
    targets: Vec<String>,
}

impl LoraArgs {
    fn config(&self) -> LoraConfig {
        LoraConfig { rank: self.rank, alpha: self.alpha, dropout: self.dropout, target_modules: self.targets.clone() }
    }
}

fn template(name: &str) -> Result<PromptTemplate> {
    match name {
        "raw" => Ok(PromptTemplate::Raw),
        "instruction" => Ok(PromptTemplate::Instruction),
        other => bail!("unknown prompt template {other:?} (raw, instruction)"),
    }
}

fn print_extra(out: &mut dyn Write, label: &str, m: &[(String, f64)]) -> Result<()> {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
    writeln!(out, "{label}: {}", parts.join(", "))?;
    Ok(())
}

/// Options of a training run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Optimiser steps.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Examples per micro-batch.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Micro-batches per step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// constant, linear or cosine.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    /// Warm-up steps.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Clip the gradient norm (0: off).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    /// Seed of data order and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checkpoint folder (resume with --resume).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 0)]
    checkpoint_every: usize,
    /// Continue from the checkpoint folder.
    #[arg(long)]
    resume: bool,
    /// Append per-step metrics (JSONL) here.
    #[arg(long)]
    metrics: Option<PathBuf>,
}

impl RunArgs {
    fn options(&self) -> Result<TrainOptions> {
        if self.resume && self.checkpoint_dir.is_none() {
            bail!("--resume needs --checkpoint-dir");
        }
        Ok(TrainOptions {
            steps: self.steps,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            lr: self.lr,
            schedule: self.schedule.parse()?,
            warmup: self.warmup,
            weight_decay: self.weight_decay,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            seed: self.seed,
            checkpoint_dir: self.checkpoint_dir.clone(),
            checkpoint_every: self.checkpoint_every,
            resume: self.resume,
            metrics: self.metrics.clone(),
            ..TrainOptions::default()
        })
    }
}

fn load(dir: &Path) -> Result<Checkpoint> {
    Checkpoint::load(dir, DType::F32).with_context(|| format!("loading model {}", dir.display()))
}

fn run_with_progress<O: Objective>(objective: &O, data: &[O::Item], opts: &TrainOptions) -> Result<TrainReport> {
    let bar = indicatif::ProgressBar::new(opts.steps as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = cairn_train::train(objective, data, opts, &mut |m: &StepMetrics| {
        bar.set_position(m.step as u64);
        bar.set_message(format!("loss {:.4} lr {:.2e}", m.loss, m.lr));
    })?;
    bar.finish_and_clear();
    Ok(report)
}

fn print_report(out: &mut dyn Write, report: &TrainReport) -> Result<()> {
    let from = report.resumed_from.map(|s| format!(" (resumed at step {s})")).unwrap_or_default();
    writeln!(
        out,
        "steps {}{from}: loss {:.4} -> {:.4}; {} target tokens in {:.1} s ({:.0} tokens/s)",
        report.steps,
        report.first_loss,
        report.last_loss,
        report.tokens,
        report.seconds,
        report.tokens as f64 / report.seconds.max(1e-9)
    )?;
    Ok(())
}

fn lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// Keeps the memory a training step frees inside the process for the next step.
///
/// A training step allocates and frees the same gigabytes of activations and gradients
/// every time. glibc's defaults hand freed blocks back to the kernel (its `mmap` threshold
/// starts at 128 KiB and adapts upwards; the heap's top is trimmed), so each step faults much
/// of it in again and the kernel zeroes every page: on Qwen2.5-0.5B with 1,500-token
/// examples that was 40% of a LoRA step's time (`clear_page_erms` in `perf`). Fixing the
/// `mmap` threshold at its maximum (32 MiB: activations below that come from the heap and
/// are reused) and never trimming the heap cut the step from 56 s to 31 s at the same peak.
/// Blocks above 32 MiB still go back to the kernel: serving *every* block from the heap
/// (`M_MMAP_MAX` 0) was as fast on one example but fragmented the heap on examples of
/// varying length until the process used the whole machine. Only `cairn train` does this;
/// serving keeps glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets allocator parameters (it takes glibc's arena lock itself)
    // and is valid at any time; both parameters and values are documented in mallopt(3):
    // `M_MMAP_THRESHOLD` up to 32 MiB on 64-bit systems, and `M_TRIM_THRESHOLD` -1 "disables
    // trimming completely".
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
    };
    if !ok {
        tracing::warn!("mallopt refused the training allocator settings; continuing with the defaults");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Runs one `cairn train` action.
pub fn run(action: TrainAction, out: &mut dyn Write) -> Result<()> {
    keep_freed_memory();
    match action {
        TrainAction::Tiny {
            out: dir,
            corpus,
            arch,
            hidden,
            intermediate,
            layers,
            heads,
            kv_heads,
            vocab,
            tie,
            seed,
        } => {
            let arch = match arch.as_str() {
                "llama" => Arch::Llama,
                "qwen2" => Arch::Qwen2,
                "gemma3" => Arch::Gemma3,
                other => bail!("unknown architecture {other:?} (llama, qwen2, gemma3)"),
            };
            let corpus = match corpus {
                Some(p) => lines(&p)?,
                None => sample_corpus(),
            };
            let spec = TinySpec {
                arch,
                hidden_size: hidden,
                intermediate_size: intermediate,
                layers,
                heads,
                kv_heads,
                vocab,
                tie_word_embeddings: tie,
                seed,
                ..TinySpec::default()
            };
            let ck = tiny(&spec, &corpus)?;
            ck.save(&dir)?;
            let c = &ck.model.config;
            writeln!(
                out,
                "wrote {}: {} {} parameters, {} tokenizer entries, {} embedding rows",
                dir.display(),
                c.arch.model_type(),
                c.parameter_count(),
                ck.tokenizer()?.get_vocab_size(true),
                c.vocab_size
            )?;
        }
        TrainAction::Vocab { model, add, data, out: dir, run } => {
            let original = load(&model)?;
            let terms = lines(&add)?;
            let mut ck = original.clone();
            let ext = extend(&mut ck, &terms)?;
            for a in &ext.added {
                writeln!(out, "added {:?} as token {} (was {} tokens)", a.term, a.id, a.pieces.len())?;
            }
            for s in &ext.skipped {
                writeln!(out, "skipped {s:?}: already one token, or repeated")?;
            }
            if !ext.added.is_empty() {
                let tok = ck.tokenizer()?;
                let eos = ck.model.config.eos_token_id;
                let examples = load_text(&data, &tok, eos, 512)?;
                let rows = NewRows::new(&ck.model, ext.old_rows)?;
                let report = run_with_progress(&rows, &examples, &run.options()?)?;
                print_report(out, &report)?;
                ck.model = rows.into_model()?;
            }
            ck.save(&dir)?;
            let check = verify(&original, &load(&dir)?, &terms)?;
            writeln!(
                out,
                "verified {}: {} original tensors bit-identical, {} changed; terms as single tokens: {}/{}",
                dir.display(),
                check.compared - check.changed.len(),
                check.changed.len(),
                check.token_counts.iter().filter(|(_, n)| *n == 1).count(),
                check.token_counts.len()
            )?;
            if !check.ok() {
                bail!("vocabulary check failed: changed {:?}, token counts {:?}", check.changed, check.token_counts);
            }
        }
        TrainAction::Sft { model, data, out: dir, lora: lora_args, max_len, run } => {
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let eos = ck.model.config.eos_token_id;
            let examples = load_sft(&data, &tok, eos, max_len)?;
            let config = lora_args.config();
            let rank = config.rank;
            let opts = run.options()?;
            let lora = Lora::new(&ck.model, config, &mut Rng::new(opts.seed))?;
            writeln!(
                out,
                "{} examples; LoRA r={rank} on {} modules: {} trainable parameters ({:.3}% of {})",
                examples.len(),
                lora.layers.len(),
                lora.parameter_count(),
                100.0 * trainable_share(&ck.model, &lora),
                ck.model.config.parameter_count()
            )?;
            let report = run_with_progress(&LoraSft { model: &ck.model, lora: &lora }, &examples, &opts)?;
            print_report(out, &report)?;
            lora.save_peft(&dir, &model.display().to_string())?;
            writeln!(out, "wrote adapter {}", dir.display())?;
        }
        TrainAction::Reward { model, data, out: dir, eval_split, template: t, max_len, lora: lora_args, run } => {
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let mut pairs = load_pairs(&data, &tok, ck.model.config.eos_token_id, max_len, template(&t)?)?;
            let held = ((pairs.len() as f64 * eval_split.clamp(0.0, 0.9)).round() as usize).min(pairs.len() - 1);
            let held_out = pairs.split_off(pairs.len() - held);
            let opts = run.options()?;
            let lora = Lora::new(&ck.model, lora_args.config(), &mut Rng::new(opts.seed))?;
            let rm = RewardModel::new(&ck.model, Some(&lora), &mut Rng::new(opts.seed ^ 1))?;
            let before = rm.accuracy(&held_out)?;
            writeln!(out, "{} training pairs, {} held out; held-out accuracy before: {before:.3}", pairs.len(), held)?;
            let report = run_with_progress(&rm, &pairs, &opts)?;
            print_report(out, &report)?;
            writeln!(
                out,
                "held-out accuracy after: {:.3} (train {:.3})",
                rm.accuracy(&held_out)?,
                rm.accuracy(&pairs)?
            )?;
            rm.save(&dir, &model.display().to_string())?;
            writeln!(out, "wrote reward model {}", dir.display())?;
        }
        TrainAction::Dpo { model, data, out: dir, beta, template: t, max_len, lora: lora_args, run } => {
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let pairs = load_pairs(&data, &tok, ck.model.config.eos_token_id, max_len, template(&t)?)?;
            let opts = run.options()?;
            let lora = Lora::new(&ck.model, lora_args.config(), &mut Rng::new(opts.seed))?;
            let dpo = Dpo { model: &ck.model, lora: &lora, beta };
            let mut last = Vec::new();
            let bar_opts = opts.clone();
            writeln!(out, "{} preference pairs; beta {beta}", pairs.len())?;
            let report = cairn_train::train(&dpo, &pairs, &bar_opts, &mut |m: &StepMetrics| last = m.extra.clone())?;
            print_report(out, &report)?;
            print_extra(out, "last step", &last)?;
            // The adapter is written before the evaluation pass: the trained steps are never
            // lost to it.
            lora.save_peft(&dir, &model.display().to_string())?;
            let f = dpo.evaluate(&pairs, opts.batch_size)?;
            writeln!(
                out,
                "after: rewards/chosen {:.4}, rewards/rejected {:.4}, rewards/margins {:.4}, rewards/accuracies {:.3}",
                f.chosen_reward, f.rejected_reward, f.margin, f.accuracy
            )?;
            writeln!(out, "wrote adapter {}", dir.display())?;
        }
        TrainAction::Ppo {
            model,
            prompts,
            out: dir,
            reward,
            reward_contains,
            template: t,
            iterations,
            batch_size,
            max_new_tokens,
            epochs,
            kl_start,
            kl_end,
            lr,
            seed,
            metrics,
            lora: lora_args,
        } => {
            use cairn_train::ppo::{KlSchedule, PpoOptions, ValueModel, ppo};
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let template = template(&t)?;
            let prompt_ids = lines(&prompts)?
                .iter()
                .map(|p| {
                    let text = match template {
                        PromptTemplate::Raw => p.clone(),
                        PromptTemplate::Instruction => cairn_train::data::instruction_prompt(p, None),
                    };
                    // With the model's BOS, as `ask` serves it (Gemma's; Qwen adds none).
                    Ok(tok
                        .encode(text.as_str(), true)
                        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
                        .get_ids()
                        .to_vec())
                })
                .collect::<Result<Vec<_>>>()?;
            let policy = Lora::new(&ck.model, lora_args.config(), &mut Rng::new(seed))?;
            let value_lora =
                Lora::new(&ck.model, LoraConfig { dropout: 0.0, ..lora_args.config() }, &mut Rng::new(seed ^ 7))?;
            let head = candle_core::Var::zeros((1, ck.model.config.hidden_size), ck.model.dtype, &ck.model.device)?;
            let value = ValueModel { model: &ck.model, lora: &value_lora, head };
            let opts = PpoOptions {
                iterations,
                batch_size,
                max_new_tokens,
                epochs,
                kl: KlSchedule { start: kl_start, end: kl_end, steps: iterations },
                optimiser: TrainOptions { lr, ..TrainOptions::default() },
                seed,
                metrics,
                ..PpoOptions::default()
            };
            let mut show = |m: &cairn_train::ppo::PpoMetrics| {
                tracing::info!(iteration = m.iteration, reward = m.reward, kl = m.kl, "ppo");
            };
            let log = match (&reward, &reward_contains) {
                (Some(rm_dir), _) => {
                    let rm_lora = Lora::load_peft(rm_dir, &ck.model)?;
                    let rm = RewardModel::load(rm_dir, &ck.model, Some(&rm_lora))?;
                    ppo(&ck.model, &policy, &value, &rm, &prompt_ids, &opts, &mut show)?
                }
                (None, Some(text)) => {
                    let text = text.clone();
                    let tok = tok.clone();
                    let rule = move |_: &[u32], r: &[u32]| {
                        f64::from(u8::from(tok.decode(r, true).is_ok_and(|s| s.contains(&text))))
                    };
                    ppo(&ck.model, &policy, &value, &rule, &prompt_ids, &opts, &mut show)?
                }
                (None, None) => bail!("give --reward (a reward model folder) or --reward-contains TEXT"),
            };
            let k = log.len().div_ceil(4);
            let mean =
                |s: &[cairn_train::ppo::PpoMetrics]| s.iter().map(|m| m.reward).sum::<f64>() / s.len().max(1) as f64;
            let last = log.last().context("no iterations ran")?;
            writeln!(
                out,
                "{} iterations: mean reward {:.3} (first quarter) -> {:.3} (last quarter); last KL {:.3} (coef {:.3}), entropy {:.3}, clip fraction {:.3}",
                log.len(),
                mean(&log[..k]),
                mean(&log[log.len() - k..]),
                last.kl,
                last.kl_coef,
                last.entropy,
                last.clip_fraction
            )?;
            policy.save_peft(&dir, &model.display().to_string())?;
            writeln!(out, "wrote policy adapter {}", dir.display())?;
        }
        TrainAction::Distill {
            teacher,
            student,
            data,
            out: dir,
            mode,
            temperature,
            alpha,
            eval_split,
            max_tokens,
            teacher_url,
            run,
        } => {
            let options =
                DistillArgs { teacher, student, data, mode, temperature, alpha, eval_split, max_tokens, teacher_url };
            distill(&options, &dir, &run, out)?
        }
        TrainAction::Merge { model, adapter, out: dir } => {
            let mut ck = load(&model)?;
            let lora = Lora::load_peft(&adapter, &ck.model)?;
            lora.merge_into(&mut ck.model)?;
            ck.save(&dir)?;
            writeln!(out, "merged {} into {}: wrote {}", adapter.display(), model.display(), dir.display())?;
        }
        TrainAction::Generate { model, prompt, tokens, json } => {
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let ids =
                tok.encode(prompt.as_str(), true).map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?.get_ids().to_vec();
            if ids.is_empty() {
                bail!("the prompt has no tokens");
            }
            let mut generated = ck.model.greedy(&ids, tokens, None)?;
            if let Some(stop) = generated.iter().position(|t| Some(*t) == ck.model.config.eos_token_id) {
                generated.truncate(stop);
            }
            let full: Vec<u32> = ids.iter().chain(&generated).copied().collect();
            let lp = ck.model.log_probs(&full, None)?;
            let logprobs = generated
                .iter()
                .enumerate()
                .map(|(i, t)| Ok(lp.get(ids.len() + i - 1)?.get(*t as usize)?.to_scalar::<f32>()?))
                .collect::<Result<Vec<f32>>>()?;
            let text = tok.decode(&generated, true).map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
            if json {
                let v = serde_json::json!({"prompt_ids": ids, "ids": generated, "logprobs": logprobs, "text": text});
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{text}")?;
            }
        }
        TrainAction::Grpo {
            model,
            data,
            out: dir,
            iterations,
            prompts_per_step,
            group,
            max_new_tokens,
            epochs,
            beta,
            temperature,
            lr,
            seed,
            metrics,
            max_prompt_len,
            lora: lora_args,
        } => {
            use cairn_train::grpo::{GrpoMetrics, GrpoOptions, grpo};
            let ck = load(&model)?;
            let tok = ck.tokenizer()?;
            let tasks = crate::train_data::load_tasks(&data)?;
            let mut prompts = Vec::with_capacity(tasks.len());
            let mut by_prompt = std::collections::HashMap::new();
            for (i, t) in tasks.iter().enumerate() {
                let ids = tok
                    .encode(t.prompt.as_str(), true)
                    .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
                    .get_ids()
                    .to_vec();
                if max_prompt_len.is_some_and(|max| ids.len() > max) {
                    continue;
                }
                by_prompt.insert(ids.clone(), i);
                prompts.push(ids);
            }
            if let Some(max) = max_prompt_len {
                writeln!(out, "{} of {} tasks have prompts of at most {max} tokens", prompts.len(), tasks.len())?;
                if prompts.is_empty() {
                    anyhow::bail!("no task's prompt fits in --max-prompt-len {max}");
                }
            }
            let eos = tok.token_to_id("<|im_end|>").or(ck.model.config.eos_token_id);
            let reward = |prompt: &[u32], response: &[u32]| -> f64 {
                let Some(task) = by_prompt.get(prompt).map(|&i| &tasks[i]) else { return -1.0 };
                let text = tok.decode(response, true).unwrap_or_default();
                task.reward(&text)
            };
            let policy = Lora::new(&ck.model, lora_args.config(), &mut Rng::new(seed))?;
            let opts = GrpoOptions {
                iterations,
                prompts_per_step,
                group,
                max_new_tokens,
                temperature,
                epochs,
                beta,
                eos,
                optimiser: TrainOptions { lr, ..TrainOptions::default() },
                seed,
                metrics,
                ..GrpoOptions::default()
            };
            let mut show = |m: &GrpoMetrics| {
                eprintln!(
                    "grpo {}: reward {:.3}, group spread {:.3} ({} informative), KL {:.4}, clip {:.3}, entropy {:.3}, {:.0} s",
                    m.iteration,
                    m.reward,
                    m.group_spread,
                    m.informative_groups,
                    m.kl,
                    m.clip_fraction,
                    m.entropy,
                    m.elapsed_s
                );
            };
            let log = grpo(&ck.model, &policy, &reward, &prompts, &opts, &mut show)?;
            let k = log.len().div_ceil(4);
            let mean = |s: &[GrpoMetrics]| s.iter().map(|m| m.reward).sum::<f64>() / s.len().max(1) as f64;
            writeln!(
                out,
                "{} iterations: mean reward {:.3} (first quarter) -> {:.3} (last quarter); last KL {:.4}",
                log.len(),
                mean(&log[..k.min(log.len())]),
                mean(&log[log.len().saturating_sub(k)..]),
                log.last().map_or(0.0, |m| m.kl)
            )?;
            policy.save_peft(&dir, &model.display().to_string())?;
            writeln!(out, "wrote policy adapter {}", dir.display())?;
        }
        TrainAction::Data(_) => bail!("`train data` needs a knowledge base; it is run by the binary"),
        TrainAction::Import { gguf, out: folder, dtype, checks, check_tokens } => {
            let dtype = match dtype.to_ascii_lowercase().as_str() {
                "f32" => candle_core::DType::F32,
                "bf16" => candle_core::DType::BF16,
                other => bail!("unknown weight type {other:?} (f32, bf16)"),
            };
            let started = std::time::Instant::now();
            let r = cairn_train::import::import_gguf(&gguf, &folder, dtype)?;
            let storage: Vec<String> = r.storage.iter().map(|(k, n)| format!("{n} {k}")).collect();
            writeln!(
                out,
                "imported {} ({:?}, {:.0}M parameters): {} tensors dequantized ({}), {} tokens, {} merges, in {:.1} s → {}",
                gguf.display(),
                r.arch,
                r.parameters as f64 / 1e6,
                r.tensors,
                storage.join(", "),
                r.vocab,
                r.merges,
                started.elapsed().as_secs_f64(),
                folder.display()
            )?;
            if !checks.is_empty() {
                let ck = load(&folder)?;
                check_export(&ck, &gguf, &checks, check_tokens, false, 0.0, out)?;
            }
        }
        TrainAction::Export { model, out: file, quant, checks, check_tokens, require_exact, min_agreement } => {
            let ck = load(&model)?;
            let q = match quant.to_ascii_lowercase().as_str() {
                "f32" => cairn_llm::gguf_file::Quant::F32,
                "q8_0" => cairn_llm::gguf_file::Quant::Q8_0,
                "q4_0" => cairn_llm::gguf_file::Quant::Q4_0,
                other => bail!("unknown quantisation {other:?} (f32, q8_0, q4_0)"),
            };
            let e = cairn_train::export::to_gguf(&ck, q, &file)?;
            writeln!(out, "wrote {}: {} tensors, {} bytes, {} tokens", file.display(), e.tensors, e.bytes, e.vocab)?;
            if !checks.is_empty() {
                check_export(&ck, &file, &checks, check_tokens, require_exact, min_agreement, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(feature = "gguf")]
fn check_export(
    ck: &Checkpoint,
    file: &Path,
    prompts: &[String],
    tokens: usize,
    require_exact: bool,
    min_agreement: f64,
    out: &mut dyn Write,
) -> Result<()> {
    let c = cairn_train::verify::check_gguf(ck, file, prompts, tokens)?;
    writeln!(
        out,
        "check: {}/{} prompts tokenised identically; {}/{} greedy continuations identical; \
         token agreement {:.1}% ({}/{}); max log-prob difference {:.4}",
        c.same_prompt_tokens,
        c.prompts,
        c.exact,
        c.prompts,
        100.0 * c.agreement(),
        c.agreeing,
        c.tokens,
        c.max_logprob_delta
    )?;
    if require_exact && (c.exact < c.prompts || c.same_prompt_tokens < c.prompts) {
        bail!("the GGUF's greedy tokens differ from the safetensors model's");
    }
    if c.agreement() < min_agreement {
        bail!("greedy-token agreement {:.3} is below {min_agreement}", c.agreement());
    }
    Ok(())
}

#[cfg(not(feature = "gguf"))]
fn check_export(_: &Checkpoint, _: &Path, _: &[String], _: usize, _: bool, _: f64, _: &mut dyn Write) -> Result<()> {
    bail!("--check runs the GGUF in the local backend: build with --features gguf")
}

struct DistillArgs {
    teacher: String,
    student: PathBuf,
    data: PathBuf,
    mode: String,
    temperature: f64,
    alpha: f64,
    eval_split: f64,
    max_tokens: usize,
    teacher_url: Option<String>,
}

/// The prompt part of an SFT example (up to its first learned token).
fn prompt_part(e: &cairn_train::data::Example) -> Vec<u32> {
    let n = e.learn.iter().position(|l| *l).unwrap_or(e.ids.len());
    e.ids[..n].to_vec()
}

fn distill(a: &DistillArgs, dir: &Path, run: &RunArgs, out: &mut dyn Write) -> Result<()> {
    use cairn_train::distill::{LocalTeacher, LogitDistill, agreement, teacher_answers};
    use cairn_train::sft::{FullSft, make_trainable};
    let mut student = load(&a.student)?;
    let tok = student.tokenizer()?;
    let eos = student.model.config.eos_token_id;
    let local = if a.teacher.starts_with("openai") { None } else { Some(load(Path::new(&a.teacher))?) };
    let examples = match a.mode.as_str() {
        "logits" => {
            let t = local.as_ref().context("logit distillation needs a local teacher folder")?;
            if t.tokenizer_json.get("model") != student.tokenizer_json.get("model") {
                bail!("logit distillation needs teacher and student to share a tokenizer; use --mode sequence");
            }
            load_sft(&a.data, &tok, eos, 512)?
        }
        "sequence" => {
            let text = std::fs::read_to_string(&a.data).with_context(|| format!("reading {}", a.data.display()))?;
            let prompts: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(v) => v
                        .get("instruction")
                        .and_then(|i| i.as_str())
                        .or_else(|| {
                            let msgs = v.get("messages")?.as_array()?;
                            msgs.iter().rev().find(|m| m["role"] == "user")?.get("content")?.as_str()
                        })
                        .unwrap_or(l)
                        .to_owned(),
                    Err(_) => l.trim().to_owned(),
                })
                .collect();
            let lines = match &local {
                Some(t) => teacher_answers(&LocalTeacher::new(t, a.max_tokens)?, &prompts)?,
                None => {
                    let remote = remote_teacher(&a.teacher, a.teacher_url.as_deref(), a.max_tokens)?;
                    teacher_answers(&remote, &prompts)?
                }
            };
            writeln!(out, "the teacher answered {} prompts", lines.len())?;
            let mut ex = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                ex.push(
                    cairn_train::data::sft_example(l, &tok, eos, 512)
                        .map_err(|e| anyhow::anyhow!("answer {}: {e}", i + 1))?,
                );
            }
            ex
        }
        other => bail!("unknown distillation mode {other:?} (logits, sequence)"),
    };
    let held = ((examples.len() as f64 * a.eval_split.clamp(0.0, 0.9)).round() as usize).min(examples.len() - 1);
    let (train_set, held_out) = examples.split_at(examples.len() - held);
    let eval_set = if held_out.is_empty() { train_set } else { held_out };
    let prompts: Vec<Vec<u32>> = eval_set.iter().map(prompt_part).collect();
    let report_agreement = |label: &str, s: &cairn_train::Model, out: &mut dyn Write| -> Result<()> {
        if let Some(t) = &local {
            let g = agreement(&t.model, s, eval_set, &prompts, a.max_tokens.min(32))?;
            writeln!(
                out,
                "{label}: KL to teacher {:.4}, token agreement {:.1}%, answers identical {:.1}%, student/teacher size {:.3}",
                g.kl,
                100.0 * g.token_agreement,
                100.0 * g.answer_accuracy,
                g.size_ratio
            )?;
        }
        Ok(())
    };
    report_agreement("before", &student.model, out)?;
    let vars = make_trainable(&mut student.model)?;
    let opts = run.options()?;
    let report = match (&local, a.mode.as_str()) {
        (Some(t), "logits") => {
            let kd = LogitDistill {
                teacher: &t.model,
                student: &student.model,
                vars,
                temperature: a.temperature,
                alpha: a.alpha,
            };
            run_with_progress(&kd, train_set, &opts)?
        }
        _ => run_with_progress(&FullSft { model: &student.model, vars }, train_set, &opts)?,
    };
    print_report(out, &report)?;
    for t in student.model.params.values_mut() {
        *t = t.detach();
    }
    report_agreement("after", &student.model, out)?;
    student.save(dir)?;
    writeln!(out, "wrote student {}", dir.display())?;
    Ok(())
}

/// An OpenAI-compatible chat model as a distillation teacher.
fn remote_teacher(spec: &str, url: Option<&str>, max_tokens: usize) -> Result<impl cairn_train::distill::Teacher> {
    use cairn_core::llm::{ChatModel, ChatRequest, Message};
    let mut options = cairn_llm::BackendOptions::default();
    if let Some(u) = url.map(str::to_owned).or_else(|| std::env::var("OPENAI_BASE_URL").ok()) {
        options.openai.base_url = u;
    }
    options.openai.api_key = std::env::var("OPENAI_API_KEY").ok();
    let backend = cairn_llm::Backend::open(spec, &options)?;
    Ok(move |prompt: &str| -> cairn_train::Result<String> {
        let request = ChatRequest::new(vec![Message::user(prompt)], max_tokens as u32);
        backend.chat(&request).map(|r| r.text).map_err(|e| cairn_train::TrainError::Model(format!("teacher: {e}")))
    })
}
