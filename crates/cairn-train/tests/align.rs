//! Reward model and DPO on tiny models: losses against hand-computed values, and learning on
//! a synthetic preference.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use cairn_train::dpo::{Dpo, dpo_loss};
use cairn_train::prefs::{Pair, PromptTemplate, pair_from_line};
use cairn_train::reward::{RewardModel, pairwise_loss};
use cairn_train::tiny::{TinySpec, sample_corpus, tiny};
use cairn_train::{Checkpoint, Lora, LoraConfig, Rng, TrainOptions, train};
use candle_core::{Device, Tensor};

fn model() -> Checkpoint {
    let spec = TinySpec { hidden_size: 32, intermediate_size: 48, vocab: 300, ..TinySpec::default() };
    tiny(&spec, &sample_corpus()).unwrap()
}

fn pairs(ck: &Checkpoint, range: std::ops::Range<usize>) -> Vec<Pair> {
    let tok = ck.tokenizer().unwrap();
    range
        .map(|i| {
            let line = serde_json::json!({"prompt": format!("Case {i}: what is the deadline?"),
                "chosen": " The bank reports within five days.", "rejected": " The bank reports in ten weeks."});
            pair_from_line(&line.to_string(), &tok, Some(0), 64, PromptTemplate::Raw).unwrap()
        })
        .collect()
}

fn lora(ck: &Checkpoint) -> Lora {
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        target_modules: ["q_proj", "v_proj", "up_proj", "down_proj"].map(String::from).to_vec(),
    };
    Lora::new(&ck.model, cfg, &mut Rng::new(2)).unwrap()
}

#[test]
fn losses_equal_hand_computed_values() {
    let t = |v: &[f32]| Tensor::new(v, &Device::Cpu).unwrap();
    // -log σ(2 - 1) = log(1 + e^-1); -log σ(0 - 3) = log(1 + e^3).
    let l = pairwise_loss(&t(&[2.0, 0.0]), &t(&[1.0, 3.0])).unwrap().to_scalar::<f32>().unwrap();
    let want = ((1.0f64 + (-1.0f64).exp()).ln() + (1.0f64 + 3.0f64.exp()).ln()) / 2.0;
    assert!((l as f64 - want).abs() < 1e-6, "{l} vs {want}");
    // β = 0.1: logits = 0.1·((−1 − −1.5) − (−2 − −1.5)) = 0.1.
    let (loss, f) = dpo_loss(&t(&[-1.0]), &t(&[-2.0]), &t(&[-1.5]), &t(&[-1.5]), 0.1).unwrap();
    let want = (1.0f64 + (-0.1f64).exp()).ln();
    assert!((loss.to_scalar::<f32>().unwrap() as f64 - want).abs() < 1e-6);
    assert!((f.chosen_reward - 0.05).abs() < 1e-6 && (f.rejected_reward + 0.05).abs() < 1e-6);
    assert!((f.margin - 0.1).abs() < 1e-6 && f.accuracy == 1.0);
}

#[test]
fn a_reward_model_learns_a_synthetic_preference() {
    let ck = model();
    let (train_set, held_out) = (pairs(&ck, 0..16), pairs(&ck, 100..108));
    let adapter = lora(&ck);
    let rm = RewardModel::new(&ck.model, Some(&adapter), &mut Rng::new(1)).unwrap();
    let before = rm.accuracy(&held_out).unwrap();
    let opts = TrainOptions { steps: 40, batch_size: 4, lr: 5e-3, ..TrainOptions::default() };
    let report = train(&rm, &train_set, &opts, &mut |_| {}).unwrap();
    let after = rm.accuracy(&held_out).unwrap();
    assert!(after > 0.9, "held-out accuracy {before} -> {after} (loss {} -> {})", report.first_loss, report.last_loss);
    let dir = tempfile::tempdir().unwrap();
    rm.save(dir.path(), "tiny").unwrap();
    let back = RewardModel::load(dir.path(), &ck.model, Some(&adapter)).unwrap();
    assert_eq!(back.accuracy(&held_out).unwrap(), after);
}

#[test]
fn dpo_raises_the_chosen_over_rejected_margin() {
    let ck = model();
    let (train_set, held_out) = (pairs(&ck, 0..16), pairs(&ck, 100..108));
    let adapter = lora(&ck);
    let dpo = Dpo { model: &ck.model, lora: &adapter, beta: 0.1 };
    let before = dpo.evaluate(&held_out, 4).unwrap();
    assert!(before.margin.abs() < 1e-6, "B = 0: the policy starts as the reference");
    let mut logged = Vec::new();
    let opts = TrainOptions { steps: 30, batch_size: 4, lr: 5e-3, ..TrainOptions::default() };
    train(&dpo, &train_set, &opts, &mut |m| logged.push(m.clone())).unwrap();
    let after = dpo.evaluate(&held_out, 3).unwrap();
    assert!(after.margin > 1.0 && after.accuracy == 1.0, "{before:?} -> {after:?}");
    let names: Vec<&str> = logged[0].extra.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"]);
}

#[test]
fn logit_distillation_pulls_the_student_towards_the_teacher() {
    use cairn_train::data::{Example, instruction_prompt, sft_example};
    use cairn_train::distill::{LocalTeacher, LogitDistill, agreement, teacher_answers};
    use cairn_train::sft::{FullSft, make_trainable};
    use cairn_train::tiny::student_of;

    let spec = TinySpec { hidden_size: 64, intermediate_size: 96, vocab: 300, ..TinySpec::default() };
    let mut teacher = tiny(&spec, &sample_corpus()).unwrap();
    let small = TinySpec { hidden_size: 32, intermediate_size: 48, layers: 1, seed: 9, ..spec.clone() };
    let tok = teacher.tokenizer().unwrap();
    let prompts: Vec<String> = (0..6).map(|i| format!("Case {i}: what is the deadline?")).collect();
    // A trained teacher (a random one answers in byte soup that does not survive decoding).
    let lessons: Vec<Example> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let answer = if i % 2 == 0 { "Five days." } else { "Ten weeks." };
            let line = serde_json::json!({"instruction": p, "output": answer}).to_string();
            sft_example(&line, &tok, Some(0), 64).unwrap()
        })
        .collect();
    let vars = make_trainable(&mut teacher.model).unwrap();
    let opts = TrainOptions { steps: 60, batch_size: 6, lr: 1e-2, ..TrainOptions::default() };
    train(&FullSft { model: &teacher.model, vars }, &lessons, &opts, &mut |_| {}).unwrap();
    for t in teacher.model.params.values_mut() {
        *t = t.detach();
    }
    let examples: Vec<Example> = teacher_answers(&LocalTeacher::new(&teacher, 8).unwrap(), &prompts)
        .unwrap()
        .iter()
        .map(|line| sft_example(line, &tok, Some(0), 64).unwrap())
        .collect();
    let prompt_ids: Vec<Vec<u32>> =
        prompts.iter().map(|p| tok.encode(instruction_prompt(p, None), false).unwrap().get_ids().to_vec()).collect();

    // Logit distillation.
    let mut student = student_of(&teacher, &small).unwrap();
    let before = agreement(&teacher.model, &student.model, &examples, &prompt_ids, 8).unwrap();
    assert!(before.size_ratio < 0.5, "{before:?}");
    let vars = make_trainable(&mut student.model).unwrap();
    let kd = LogitDistill { teacher: &teacher.model, student: &student.model, vars, temperature: 2.0, alpha: 1.0 };
    let opts = TrainOptions { steps: 60, batch_size: 6, lr: 1e-2, ..TrainOptions::default() };
    train(&kd, &examples, &opts, &mut |_| {}).unwrap();
    let after = agreement(&teacher.model, &student.model, &examples, &prompt_ids, 8).unwrap();
    assert!(after.kl < 0.3 * before.kl, "KL to the teacher {} -> {}", before.kl, after.kl);

    // Sequence-level: the student fine-tunes on the teacher's answers and reproduces them.
    let mut student = student_of(&teacher, &small).unwrap();
    let vars = make_trainable(&mut student.model).unwrap();
    let opts = TrainOptions { steps: 80, batch_size: 6, lr: 1e-2, ..TrainOptions::default() };
    train(&FullSft { model: &student.model, vars }, &examples, &opts, &mut |_| {}).unwrap();
    let seq = agreement(&teacher.model, &student.model, &examples, &prompt_ids, 8).unwrap();
    assert!(seq.answer_accuracy >= 5.0 / 6.0 && seq.token_agreement > 0.9, "{before:?} -> {seq:?}");
}

#[test]
fn kl_schedule_and_reward_normalisation() {
    use cairn_train::ppo::{KlSchedule, gae, normalise_rewards};
    let k = KlSchedule { start: 0.01, end: 0.11, steps: 11 };
    assert_eq!(k.at(0), 0.01);
    assert!((k.at(5) - 0.06).abs() < 1e-12 && (k.at(10) - 0.11).abs() < 1e-12 && (k.at(99) - 0.11).abs() < 1e-12);
    assert_eq!(normalise_rewards(&[3.0, 1.0, 2.0]), vec![1.0, -1.0, 0.0]);
    assert_eq!(normalise_rewards(&[5.0, 5.0]), vec![0.0, 0.0]);
    // γ = 1, λ = 1: advantages are returns minus values; returns are reward-to-go.
    let (adv, ret) = gae(&[0.0, 0.0, 1.0], &[0.5, 0.5, 0.5], 1.0, 1.0);
    assert_eq!(ret, vec![1.0, 1.0, 1.0]);
    assert_eq!(adv, vec![0.5, 0.5, 0.5]);
}

#[test]
fn ppo_raises_a_toy_reward_with_bounded_kl() {
    use cairn_train::ppo::{KlSchedule, PpoOptions, ValueModel, ppo};
    let ck = model();
    let tok = ck.tokenizer().unwrap();
    let prompts: Vec<Vec<u32>> = ["The bank", "量化交易", "A regulatory", "资本"]
        .iter()
        .map(|p| tok.encode(*p, false).unwrap().get_ids().to_vec())
        .collect();
    // Prefer responses made of low ids (bytes and early merges).
    let reward = |_: &[u32], r: &[u32]| r.iter().filter(|t| **t < 100).count() as f64 / r.len() as f64;
    let policy = Lora::new(
        &ck.model,
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
                .map(String::from)
                .to_vec(),
        },
        &mut Rng::new(2),
    )
    .unwrap();
    let value_lora = Lora::new(&ck.model, LoraConfig { rank: 2, ..LoraConfig::default() }, &mut Rng::new(8)).unwrap();
    let head =
        candle_core::Var::from_tensor(&Tensor::zeros((1, 32), candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    let value = ValueModel { model: &ck.model, lora: &value_lora, head };
    let opts = PpoOptions {
        iterations: 40,
        batch_size: 8,
        max_new_tokens: 6,
        epochs: 4,
        kl: KlSchedule { start: 0.01, end: 0.1, steps: 40 },
        optimiser: TrainOptions { lr: 4e-3, ..TrainOptions::default() },
        ..PpoOptions::default()
    };
    let log = ppo(&ck.model, &policy, &value, &reward, &prompts, &opts, &mut |_| {}).unwrap();
    let mean = |s: &[cairn_train::ppo::PpoMetrics]| s.iter().map(|m| m.reward).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&log[..5]), mean(&log[30..]));
    assert!(last > first + 0.1, "reward {first:.3} -> {last:.3}");
    // Bounded: the rising penalty stops the drift (6 tokens; a policy that ignored the
    // reference would run far past this).
    let kls: Vec<f64> = log.iter().map(|m| m.kl).collect();
    assert!(kls.iter().all(|k| k.is_finite() && *k < 30.0), "{kls:?}");
    assert!(log.iter().all(|m| m.entropy > 0.0 && (0.0..=1.0).contains(&m.clip_fraction)));
}

#[test]
fn grpo_raises_a_toy_reward_with_bounded_kl() {
    use cairn_train::grpo::{GrpoOptions, grpo};
    let ck = model();
    let tok = ck.tokenizer().unwrap();
    let prompts: Vec<Vec<u32>> = ["The bank", "量化交易", "A regulatory", "资本"]
        .iter()
        .map(|p| tok.encode(*p, false).unwrap().get_ids().to_vec())
        .collect();
    // The same toy reward as PPO's: responses made of low ids.
    let reward = |_: &[u32], r: &[u32]| r.iter().filter(|t| **t < 100).count() as f64 / r.len().max(1) as f64;
    let policy = Lora::new(
        &ck.model,
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
                .map(String::from)
                .to_vec(),
        },
        &mut Rng::new(2),
    )
    .unwrap();
    let opts = GrpoOptions {
        iterations: 40,
        prompts_per_step: 2,
        group: 4,
        max_new_tokens: 6,
        epochs: 4,
        // A KL coefficient that holds the policy near the reference at this learning rate
        // (0.04 let single iterations spike past 5 nats per token).
        beta: 0.1,
        optimiser: TrainOptions { lr: 4e-3, ..TrainOptions::default() },
        ..GrpoOptions::default()
    };
    let log = grpo(&ck.model, &policy, &reward, &prompts, &opts, &mut |_| {}).unwrap();
    let mean = |s: &[cairn_train::grpo::GrpoMetrics]| s.iter().map(|m| m.reward).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&log[..5]), mean(&log[30..]));
    let curve: Vec<String> = log.iter().map(|m| format!("{:.2}", m.reward)).collect();
    assert!(last > first + 0.1, "reward {first:.3} -> {last:.3}: {curve:?}");
    let kls: Vec<f64> = log.iter().map(|m| m.kl).collect();
    assert!(kls.iter().all(|k| k.is_finite() && *k >= -1e-6 && *k < 5.0), "per-token KL stays bounded: {kls:?}");
    assert!(log.iter().all(|m| m.entropy > 0.0 && (0.0..=1.0).contains(&m.clip_fraction)));
    assert!(log.iter().any(|m| m.informative_groups > 0), "some groups disagree, so there is a signal");
}
