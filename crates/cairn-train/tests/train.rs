//! Correctness of the trainable decoder, LoRA, the training loop and vocabulary extension,
//! on tiny models the tests build themselves.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use cairn_train::data::{Example, batch, load_sft};
use cairn_train::model::{masked_cross_entropy, sequence_logps};
use cairn_train::sft::{FullSft, LoraSft, make_trainable};
use cairn_train::tiny::{TinySpec, sample_corpus, tiny};
use cairn_train::vocab::{NewRows, extend, verify};
use cairn_train::{Arch, Checkpoint, Lora, LoraConfig, Model, Rng, SequenceObjective, TrainOptions, train};
use candle_core::{DType, Device, Tensor};

fn small(arch: Arch) -> Checkpoint {
    let spec = TinySpec {
        arch,
        hidden_size: 32,
        intermediate_size: 48,
        heads: 4,
        kv_heads: 2,
        vocab: 300,
        ..TinySpec::default()
    };
    tiny(&spec, &sample_corpus()).unwrap()
}

fn ids(ck: &Checkpoint, text: &str) -> Vec<u32> {
    ck.tokenizer().unwrap().encode(text, false).unwrap().get_ids().to_vec()
}

fn example(ck: &Checkpoint, prompt: &str, answer: &str) -> Example {
    let (p, a) = (ids(ck, prompt), ids(ck, answer));
    let mut learn = vec![false; p.len()];
    learn.extend(vec![true; a.len()]);
    Example { ids: [p, a].concat(), learn }
}

fn all_lora() -> LoraConfig {
    LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            .map(String::from)
            .to_vec(),
    }
}

#[test]
fn every_trainable_variable_gets_a_gradient() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Gemma3] {
        let mut ck = small(arch);
        let vars = make_trainable(&mut ck.model).unwrap();
        let ex = example(&ck, "The bank must report", " within five days.");
        let b = batch(&[&ex], 0, &Device::Cpu).unwrap();
        let obj = FullSft { model: &ck.model, vars: vars.clone() };
        let grads = obj.loss(&b, &mut Rng::new(0)).unwrap().backward().unwrap();
        for (name, var) in &vars {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{arch:?}: no gradient for {name}"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "{arch:?}: zero gradient for {name}");
        }
    }
}

#[test]
fn lora_gradients_reach_both_factors() {
    let ck = small(Arch::Llama);
    let lora = Lora::new(&ck.model, all_lora(), &mut Rng::new(3)).unwrap();
    for pair in lora.layers.values() {
        let b = Tensor::from_vec(Rng::new(9).normals(pair.b.elem_count(), 0.1), pair.b.shape(), &Device::Cpu).unwrap();
        pair.b.set(&b).unwrap();
    }
    let ex = example(&ck, "量化交易系统", "每季度审查。");
    let b = batch(&[&ex], 0, &Device::Cpu).unwrap();
    let grads = LoraSft { model: &ck.model, lora: &lora }.loss(&b, &mut Rng::new(0)).unwrap().backward().unwrap();
    for (name, var) in lora.vars() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0, "{name}");
    }
    // The frozen base gets none.
    assert!(ck.model.params.values().all(|t| grads.get(t).is_none()));
}

#[test]
fn gradients_match_finite_differences() {
    let ck = small(Arch::Qwen2);
    let mut model =
        Model::from_params(ck.model.config.clone(), ck.model.params.clone(), &Device::Cpu, DType::F64).unwrap();
    let vars = make_trainable(&mut model).unwrap();
    let ex = example(&ck, "Question: what is the reporting deadline?", " Answer: five days.");
    let b = batch(&[&ex], 0, &Device::Cpu).unwrap();
    let loss_of = |m: &Model| -> f64 {
        let logits = m.forward(&b.inputs, None, None).unwrap();
        masked_cross_entropy(&logits, &b.targets, &b.mask).unwrap().to_scalar::<f64>().unwrap()
    };
    let grads = {
        let logits = model.forward(&b.inputs, None, None).unwrap();
        masked_cross_entropy(&logits, &b.targets, &b.mask).unwrap().backward().unwrap()
    };
    let mut rng = Rng::new(5);
    let mut checked = 0;
    for (name, var) in &vars {
        let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // The largest gradient entry and one random entry of every tensor.
        let big = (0..g.len()).max_by(|&i, &j| g[i].abs().total_cmp(&g[j].abs())).unwrap();
        for i in [big, (rng.next_u64() % g.len() as u64) as usize] {
            let eps = 1e-5;
            let mut plus = base.clone();
            plus[i] += eps;
            var.set(&Tensor::from_vec(plus, var.shape(), &Device::Cpu).unwrap()).unwrap();
            let up = loss_of(&model);
            let mut minus = base.clone();
            minus[i] -= eps;
            var.set(&Tensor::from_vec(minus, var.shape(), &Device::Cpu).unwrap()).unwrap();
            let down = loss_of(&model);
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap()).unwrap();
            let numeric = (up - down) / (2.0 * eps);
            let err = (numeric - g[i]).abs() / (numeric.abs() + g[i].abs()).max(1e-6);
            assert!(err < 1e-4 || (numeric - g[i]).abs() < 1e-8, "{name}[{i}]: numeric {numeric} vs autograd {}", g[i]);
            checked += 1;
        }
    }
    assert!(checked >= 2 * vars.len());
}

#[test]
fn lora_with_zero_b_is_exactly_the_base_and_merging_matches_the_adapter() {
    let ck = small(Arch::Llama);
    let input =
        Tensor::new(ids(&ck, "监管沙盒允许企业测试产品").as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let base = ck.model.forward(&input, None, None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let lora = Lora::new(&ck.model, all_lora(), &mut Rng::new(1)).unwrap();
    let fresh = ck.model.forward(&input, Some(&lora), None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(base.iter().zip(&fresh).all(|(a, b)| a.to_bits() == b.to_bits()), "B = 0 must leave logits bit-identical");

    for pair in lora.layers.values() {
        let b = Tensor::from_vec(Rng::new(2).normals(pair.b.elem_count(), 0.2), pair.b.shape(), &Device::Cpu).unwrap();
        pair.b.set(&b).unwrap();
    }
    let adapted = ck.model.forward(&input, Some(&lora), None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut merged = ck.model.clone();
    lora.merge_into(&mut merged).unwrap();
    let m = merged.forward(&input, None, None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let moved = adapted.iter().zip(&base).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let diff = adapted.iter().zip(&m).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "the adapter should change the logits ({moved})");
    assert!(diff < 1e-4, "merged and unmerged differ by {diff}");
}

#[test]
fn sft_with_lora_memorises_a_small_dataset_and_the_adapter_round_trips() {
    let ck = small(Arch::Llama);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sft.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"instruction": "What is the reporting deadline?", "output": "Five days."}"#, "\n",
            r#"{"instruction": "资本充足率下限是多少？", "input": "银行", "output": "百分之八。"}"#, "\n",
            r#"{"messages": [{"role": "user", "content": "Who reviews trading systems?"}, {"role": "assistant", "content": "The risk committee."}]}"#, "\n",
        ),
    )
    .unwrap();
    let tok = ck.tokenizer().unwrap();
    let examples = load_sft(&data, &tok, ck.model.config.eos_token_id, 128).unwrap();
    assert_eq!(examples.len(), 3);
    let lora = Lora::new(&ck.model, LoraConfig { rank: 8, alpha: 16.0, ..all_lora() }, &mut Rng::new(4)).unwrap();
    let opts = TrainOptions { steps: 300, batch_size: 3, lr: 1e-2, warmup: 5, seed: 1, ..TrainOptions::default() };
    let report = train(&LoraSft { model: &ck.model, lora: &lora }, &examples, &opts, &mut |_| {}).unwrap();
    assert!(report.last_loss < 0.1, "loss {} -> {}", report.first_loss, report.last_loss);
    assert!(report.first_loss > 3.0);
    // The answer comes back greedily.
    let prompt = ids(&ck, &cairn_train::data::instruction_prompt("What is the reporting deadline?", None));
    let want = ids(&ck, "Five days.");
    let out = ck.model.greedy(&prompt, want.len(), Some(&lora)).unwrap();
    assert_eq!(out, want, "{:?}", tok.decode(&out, false));

    lora.save_peft(&dir.path().join("adapter"), "tiny").unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter/adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!((config["peft_type"].as_str(), config["r"].as_u64()), (Some("LORA"), Some(8)));
    let back = Lora::load_peft(&dir.path().join("adapter"), &ck.model).unwrap();
    assert_eq!(ck.model.greedy(&prompt, want.len(), Some(&back)).unwrap(), out);
}

#[test]
fn a_resumed_run_continues_bit_for_bit() {
    let ck = small(Arch::Llama);
    let examples: Vec<Example> = (0..5).map(|i| example(&ck, &format!("Case {i}:"), " five days.")).collect();
    let cfg = LoraConfig { dropout: 0.1, ..all_lora() };
    let run = |steps: usize, resume: bool, dir: &std::path::Path, lora: &Lora| {
        let opts = TrainOptions {
            steps,
            batch_size: 2,
            grad_accum: 2,
            lr: 5e-3,
            warmup: 2,
            weight_decay: 0.01,
            checkpoint_dir: Some(dir.to_owned()),
            resume,
            seed: 3,
            ..TrainOptions::default()
        };
        train(&LoraSft { model: &ck.model, lora }, &examples, &opts, &mut |_| {}).unwrap()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let straight = Lora::new(&ck.model, cfg.clone(), &mut Rng::new(7)).unwrap();
    run(6, false, a.path(), &straight);
    let first = Lora::new(&ck.model, cfg.clone(), &mut Rng::new(7)).unwrap();
    let mut opts_steps = 3;
    run(opts_steps, false, b.path(), &first);
    let resumed = Lora::new(&ck.model, cfg, &mut Rng::new(99)).unwrap();
    opts_steps += 3;
    let report = run(opts_steps, true, b.path(), &resumed);
    assert_eq!(report.resumed_from, Some(3));
    for ((n, x), (_, y)) in straight.vars().iter().zip(resumed.vars()) {
        let (x, y) =
            (x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), y.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "{n} differs after resume");
    }
}

#[test]
fn vocabulary_extension_adds_whole_terms_and_leaves_old_weights_untouched() {
    for tie in [false, true] {
        let spec = TinySpec {
            hidden_size: 32,
            intermediate_size: 48,
            vocab: 300,
            tie_word_embeddings: tie,
            ..TinySpec::default()
        };
        let original = tiny(&spec, &sample_corpus()).unwrap();
        let terms: Vec<String> = ["量化交易", "监管沙盒", "量化交易"].map(String::from).to_vec();
        let mut ck = original.clone();
        let ext = extend(&mut ck, &terms).unwrap();
        assert_eq!(ext.added.len(), 2);
        assert!(
            ext.added.iter().all(|a| a.id as usize >= original.model.config.vocab_size),
            "padding rows are not reused"
        );
        let corpus: Vec<Example> = ["量化交易系统每季度审查。", "监管沙盒允许企业测试。", "量化交易与监管沙盒。"]
            .iter()
            .map(|t| {
                let i = ids(&ck, t);
                Example { learn: vec![true; i.len()], ids: i }
            })
            .collect();
        let rows = NewRows::new(&ck.model, ext.old_rows).unwrap();
        let before =
            rows.loss(&batch(&corpus.iter().collect::<Vec<_>>(), 0, &Device::Cpu).unwrap(), &mut Rng::new(0)).unwrap();
        let opts = TrainOptions { steps: 30, batch_size: 3, lr: 5e-2, ..TrainOptions::default() };
        let report = train(&rows, &corpus, &opts, &mut |_| {}).unwrap();
        assert!(report.last_loss < before.to_scalar::<f32>().unwrap() as f64, "training the new rows lowers the loss");
        ck.model = rows.into_model().unwrap();
        let dir = tempfile::tempdir().unwrap();
        ck.save(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path(), DType::F32).unwrap();
        let v = verify(&original, &back, &terms).unwrap();
        assert!(v.ok(), "tie {tie}: {v:?}");
        assert_eq!(v.compared, original.model.params.len());
        for a in &ext.added {
            assert_eq!(ids(&back, &a.term), vec![a.id], "{} must map to its own new row", a.term);
        }
        // The new rows did move.
        let w = back.model.params["model.embed_tokens.weight"].narrow(0, ext.old_rows, ext.added.len()).unwrap();
        let w0 = ck.model.params["model.embed_tokens.weight"].narrow(0, ext.old_rows, ext.added.len()).unwrap();
        assert_eq!(w.to_vec2::<f32>().unwrap(), w0.to_vec2::<f32>().unwrap());
    }
}

#[test]
fn checkpoints_round_trip_and_bad_input_is_reported() {
    let ck = small(Arch::Qwen2);
    let dir = tempfile::tempdir().unwrap();
    ck.save(dir.path()).unwrap();
    let back = Checkpoint::load(dir.path(), DType::F32).unwrap();
    let input = Tensor::new(ids(&ck, "capital adequacy").as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let a = ck.model.forward(&input, None, None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = back.model.forward(&input, None, None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b);

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"instruction\": \"x\", \"output\": \"y\"}\n{not json\n").unwrap();
    let err = load_sft(&bad, &ck.tokenizer().unwrap(), None, 64).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl:2"), "{err}");
    std::fs::write(&bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n").unwrap();
    assert!(load_sft(&bad, &ck.tokenizer().unwrap(), None, 64).unwrap_err().to_string().contains("no assistant"));

    std::fs::write(dir.path().join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = Checkpoint::load(dir.path(), DType::F32).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn the_frozen_weight_shortcut_gives_the_same_adapter_gradients() {
    let ck = small(Arch::Qwen2);
    let lora = Lora::new(&ck.model, all_lora(), &mut Rng::new(3)).unwrap();
    for pair in lora.layers.values() {
        let b = Tensor::from_vec(Rng::new(9).normals(pair.b.elem_count(), 0.1), pair.b.shape(), &Device::Cpu).unwrap();
        pair.b.set(&b).unwrap();
    }
    let ex = example(&ck, "Question: what is the reporting deadline?", " Answer: five days.");
    let b = batch(&[&ex], 0, &Device::Cpu).unwrap();
    let frozen = LoraSft { model: &ck.model, lora: &lora }.loss(&b, &mut Rng::new(0)).unwrap().backward().unwrap();
    // The same model with every base weight a variable takes candle's ordinary matmul path.
    let mut tracked = ck.model.clone();
    make_trainable(&mut tracked).unwrap();
    let plain = LoraSft { model: &tracked, lora: &lora }.loss(&b, &mut Rng::new(0)).unwrap().backward().unwrap();
    for (name, var) in lora.vars() {
        let (x, y) = (frozen.get(var.as_tensor()).unwrap(), plain.get(var.as_tensor()).unwrap());
        let diff = (x - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{name}: gradients differ by {diff}");
    }
}

#[test]
fn projecting_only_learned_positions_gives_the_full_logits_losses_and_gradients() {
    let ck = small(Arch::Qwen2);
    let lora = Lora::new(&ck.model, all_lora(), &mut Rng::new(5)).unwrap();
    for pair in lora.layers.values() {
        let b = Tensor::from_vec(Rng::new(11).normals(pair.b.elem_count(), 0.1), pair.b.shape(), &Device::Cpu).unwrap();
        pair.b.set(&b).unwrap();
    }
    // Two sequences of different lengths (the shorter one padded), learned spans in the middle
    // and at the end.
    let long = example(&ck, "Question: what is the reporting deadline for a serious event?", " Five days.");
    let short = example(&ck, "Who signs?", " The officer on duty signs the report.");
    let b = batch(&[&long, &short], 0, &Device::Cpu).unwrap();
    let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
    let full_logits = ck.model.forward(&b.inputs, Some(&lora), None).unwrap();
    let hidden = ck.model.hidden(&b.inputs, Some(&lora), None).unwrap();

    let full = masked_cross_entropy(&full_logits, &b.targets, &b.mask).unwrap();
    let learned = ck.model.learned_cross_entropy(&hidden, &b.targets, &b.mask).unwrap();
    assert!((scalar(&full) - scalar(&learned)).abs() < 1e-5, "{} vs {}", scalar(&full), scalar(&learned));

    let full_seq = sequence_logps(&full_logits, &b.targets, &b.mask).unwrap().to_vec1::<f32>().unwrap();
    let learned_seq = ck.model.learned_sequence_logps(&hidden, &b.targets, &b.mask).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(full_seq.len(), 2);
    for (x, y) in full_seq.iter().zip(&learned_seq) {
        assert!((x - y).abs() < 1e-4, "sequence log-probabilities {full_seq:?} vs {learned_seq:?}");
    }
    assert!(full_seq[0] != full_seq[1]);

    let (g_full, g_learned) = (full.backward().unwrap(), learned.backward().unwrap());
    for (name, var) in lora.vars() {
        let (x, y) = (g_full.get(var.as_tensor()).unwrap(), g_learned.get(var.as_tensor()).unwrap());
        let diff = (x - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{name}: gradients differ by {diff}");
    }
    // A batch with nothing to learn is an error, not a NaN.
    let zero = b.mask.zeros_like().unwrap();
    assert!(ck.model.learned_cross_entropy(&hidden, &b.targets, &zero).is_err());
}

#[test]
fn the_kv_cache_gives_the_full_forward_logits_piece_by_piece() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Gemma3] {
        let ck = small(arch);
        let m = &ck.model;
        let seq = ids(&ck, "the cat sat on the mat and the dog ran after the bird in the garden");
        // Longer than tiny Gemma 3's window of 8, so cached sliding-window layers are checked.
        assert!(seq.len() >= 10, "{}", seq.len());
        let full =
            m.forward(&Tensor::new(seq.as_slice(), &m.device).unwrap().unsqueeze(0).unwrap(), None, None).unwrap();
        let full = full.get(0).unwrap();
        // A prompt of three, then one token at a time, then the rest at once.
        let mut cache = cairn_train::model::KvCache::new(m);
        let cuts = [0, 3, 4, 5, seq.len()];
        let mut pieces = Vec::new();
        for w in cuts.windows(2) {
            let input = Tensor::new(&seq[w[0]..w[1]], &m.device).unwrap().unsqueeze(0).unwrap();
            pieces.push(m.forward_cached(&input, &mut cache, None).unwrap());
        }
        assert_eq!(cache.len(), seq.len());
        let cached = Tensor::cat(&pieces, 0).unwrap();
        let diff = (cached - &full).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{arch:?}: {diff}");
    }
}

#[test]
fn a_repeated_cache_decodes_several_continuations_in_one_batch() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Gemma3] {
        let ck = small(arch);
        let m = &ck.model;
        let lora = Lora::new(m, all_lora(), &mut Rng::new(2)).unwrap();
        for pair in lora.layers.values() {
            let b =
                Tensor::from_vec(Rng::new(4).normals(pair.b.elem_count(), 0.1), pair.b.shape(), &Device::Cpu).unwrap();
            pair.b.set(&b).unwrap();
        }
        let prompt = ids(&ck, "the cat sat on the mat");
        let branches = [ids(&ck, " and the dog"), ids(&ck, " but a bird")];
        let n = branches.iter().map(Vec::len).min().unwrap();
        assert!(n >= 2);
        // One prefill, copied to two rows, then both branches a token at a time together.
        let mut cache = cairn_train::model::KvCache::new(m);
        let input = Tensor::new(prompt.as_slice(), &m.device).unwrap().unsqueeze(0).unwrap();
        let first = m.forward_cached_last(&input, &mut cache, Some(&lora)).unwrap();
        let mut cache = cache.repeat(2).unwrap();
        let mut batched = vec![first.repeat((2, 1)).unwrap()];
        for (a, b) in branches[0].iter().zip(&branches[1]).take(n) {
            let next = [*a, *b];
            let input = Tensor::new(&next[..], &m.device).unwrap().unsqueeze(1).unwrap();
            batched.push(m.forward_cached_last(&input, &mut cache, Some(&lora)).unwrap());
        }
        assert_eq!(cache.len(), prompt.len() + n);
        // Each row equals its own sequence's full forward pass, position by position.
        for (row, branch) in branches.iter().enumerate() {
            let seq: Vec<u32> = prompt.iter().chain(&branch[..n]).copied().collect();
            let input = Tensor::new(seq.as_slice(), &m.device).unwrap().unsqueeze(0).unwrap();
            let full = m.forward(&input, Some(&lora), None).unwrap().get(0).unwrap();
            for (step, logits) in batched.iter().enumerate() {
                let want = full.get(prompt.len() - 1 + step).unwrap();
                let got = logits.get(row).unwrap();
                let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-4, "{arch:?} row {row} step {step}: {diff}");
            }
        }
        // The batch must match the cache's rows.
        let one = Tensor::new(&[branches[0][0]], &m.device).unwrap().unsqueeze(1).unwrap();
        assert!(m.forward_cached_last(&one, &mut cache, Some(&lora)).is_err());
    }
}

#[test]
fn cached_greedy_decoding_matches_recomputing_every_position() {
    let ck = small(Arch::Llama);
    let m = &ck.model;
    let prompt = ids(&ck, "the cat");
    let mut slow = prompt.clone();
    for _ in 0..8 {
        let logits =
            m.forward(&Tensor::new(slow.as_slice(), &m.device).unwrap().unsqueeze(0).unwrap(), None, None).unwrap();
        slow.push(logits.get(0).unwrap().get(slow.len() - 1).unwrap().argmax(0).unwrap().to_scalar::<u32>().unwrap());
    }
    assert_eq!(m.greedy(&prompt, 8, None).unwrap(), slow[prompt.len()..]);
}
