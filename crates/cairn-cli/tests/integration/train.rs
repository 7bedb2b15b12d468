//! The adaptation pipeline end to end on a tiny model: generate, extend the vocabulary,
//! LoRA SFT, merge, export to GGUF (Q8_0 and Q4_0), and load the exports in Cairn's local
//! backend and in llama.cpp (llama-cpp-python, when installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run_ok;

fn train() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("train").env("RAYON_NUM_THREADS", "1");
    cmd
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

const PROMPTS: [&str; 3] = [
    "### Instruction:\nWhat is the deadline for reporting suspicious transactions?\n\n### Response:\n",
    "### Instruction:\n资本充足率的下限是多少？\n\n### Response:\n",
    "### Instruction:\n什么是监管沙盒？\n\n### Response:\n",
];

fn greedy(model: &Path, prompt: &str) -> serde_json::Value {
    let out =
        run_ok(train().args(["generate", "--tokens", "24", "--json", "--prompt", prompt]).arg("--model").arg(model));
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn bad_training_data_is_reported_with_its_line() {
    let t = tempfile::tempdir().unwrap();
    run_ok(train().args(["tiny", "--hidden", "64", "--intermediate", "64"]).arg("--out").arg(t.path().join("m")));
    let data = t.path().join("bad.jsonl");
    std::fs::write(&data, "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": 3}\n").unwrap();
    let out = train()
        .args(["sft", "--steps", "1"])
        .arg("--model")
        .arg(t.path().join("m"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(t.path().join("a"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(!t.path().join("a").exists(), "no adapter is written for bad data");
}

#[cfg(feature = "gguf")]
#[test]
fn tiny_model_extends_vocabulary_trains_merges_and_exports_gguf_that_llama_cpp_runs() {
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    let ex = |s: &str| repo(&format!("examples/adaptation/{s}"));
    run_ok(train().arg("tiny").arg("--out").arg(p("base")).arg("--corpus").arg(ex("corpus.txt")));
    let vocab = run_ok(
        train()
            .args(["vocab", "--steps", "30", "--lr", "0.05", "--batch-size", "5"])
            .arg("--model")
            .arg(p("base"))
            .arg("--add")
            .arg(ex("terms.txt"))
            .arg("--data")
            .arg(ex("domain.txt"))
            .arg("--out")
            .arg(p("vocab")),
    );
    assert!(vocab.contains("0 changed; terms as single tokens: 4/4"), "{vocab}");
    let sft = run_ok(
        train()
            .args(["sft", "--rank", "16", "--alpha", "32", "--dropout", "0", "--steps", "70", "--lr", "0.01"])
            .args([
                "--batch-size",
                "6",
                "--warmup",
                "5",
                "--targets",
                "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
            ])
            .arg("--model")
            .arg(p("vocab"))
            .arg("--data")
            .arg(ex("sft.jsonl"))
            .arg("--out")
            .arg(p("adapter"))
            .arg("--metrics")
            .arg(p("metrics.jsonl")),
    );
    let last: f64 = sft.split("-> ").nth(1).and_then(|s| s.split(';').next()).unwrap().trim().parse().unwrap();
    assert!(last < 0.05, "SFT should memorise the examples: {sft}");
    assert_eq!(std::fs::read_to_string(p("metrics.jsonl")).unwrap().lines().count(), 70);
    run_ok(
        train()
            .arg("merge")
            .arg("--model")
            .arg(p("vocab"))
            .arg("--adapter")
            .arg(p("adapter"))
            .arg("--out")
            .arg(p("merged")),
    );

    let expected: Vec<serde_json::Value> = PROMPTS.iter().map(|q| greedy(&p("merged"), q)).collect();
    assert_eq!(expected[0]["text"], "Five days, to the regulator.");
    for (quant, exact) in [("q8_0", true), ("q4_0", false)] {
        let file = p(&format!("model-{quant}.gguf"));
        let mut cmd = train();
        cmd.args(["export", "--quant", quant, "--check-tokens", "24"])
            .arg("--model")
            .arg(p("merged"))
            .arg("--out")
            .arg(&file);
        for q in PROMPTS {
            cmd.arg("--check").arg(q);
        }
        cmd.arg(if exact { "--require-exact" } else { "--min-agreement=0.9" });
        let check = run_ok(&mut cmd);
        assert!(check.contains("3/3 prompts tokenised identically"), "{check}");

        // llama.cpp itself, through llama-cpp-python.
        let script = repo("scripts/llama_cpp_greedy.py");
        let py = Command::new("python3").arg(&script).arg(&file).arg("24").args(PROMPTS).output();
        let Some(py) = py.ok().filter(|o| o.status.success()) else {
            eprintln!(
                "SKIP llama-cpp-python check: `python3 -c 'import llama_cpp'` fails (pip install llama-cpp-python)"
            );
            continue;
        };
        let (mut same, mut total, mut worst) = (0usize, 0usize, 0f64);
        for (line, want) in String::from_utf8_lossy(&py.stdout).lines().zip(&expected) {
            let got: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(got["prompt_ids"], want["prompt_ids"], "llama.cpp tokenises the prompt as Hugging Face does");
            let (g, w) = (got["ids"].as_array().unwrap(), want["ids"].as_array().unwrap());
            if exact {
                assert_eq!(g, w, "{quant}: greedy tokens must match the safetensors model");
            }
            total += w.len();
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                if a != b {
                    break;
                }
                same += 1;
                let d = got["logprobs"][i].as_f64().unwrap() - want["logprobs"][i].as_f64().unwrap();
                worst = worst.max(d.abs());
            }
        }
        assert!(same as f64 >= 0.9 * total as f64, "{quant}: {same}/{total} greedy tokens agree");
        let tolerance = if exact { 0.01 } else { 0.05 };
        assert!(worst <= tolerance, "{quant}: log-probabilities differ by {worst} (> {tolerance})");
    }
}

#[test]
fn feedback_pairs_feed_dpo_and_a_reward_model() {
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    run_ok(
        train()
            .args(["tiny", "--hidden", "64", "--intermediate", "128"])
            .arg("--out")
            .arg(p("m"))
            .arg("--corpus")
            .arg(repo("examples/adaptation/corpus.txt")),
    );
    let kb = p("kb");
    let facts = [
        ("What is the deadline for reporting suspicious transactions?", "Five days.", "Thirty days."),
        ("How often are quantitative trading systems reviewed?", "Every quarter.", "Never."),
        ("资本充足率的下限是多少？", "百分之八。", "百分之二。"),
        ("Where are client assets held?", "In segregated accounts.", "In the trader's pocket."),
        ("What must a trading algorithm have?", "A kill switch.", "Nothing."),
        ("什么是监管沙盒？", "监管下的测试机制。", "一种游戏。"),
    ];
    for (q, good, bad) in facts {
        run_ok(crate::cairn(&kb).args(["feedback", "prefer", q, "--chosen", good, "--rejected", bad]));
    }
    run_ok(crate::cairn(&kb).args(["feedback", "up", facts[0].0, "--answer", "Within five days."]));
    run_ok(crate::cairn(&kb).args(["feedback", "down", facts[0].0, "--answer", "Whenever."]));
    let exported = run_ok(crate::cairn(&kb).args(["feedback", "export"]).arg("--out").arg(p("pairs.jsonl")));
    assert!(exported.contains("wrote 7 preference pair(s)"), "{exported}");

    let dpo = run_ok(
        train()
            .args(["dpo", "--template", "instruction", "--steps", "25", "--lr", "5e-3", "--batch-size", "4"])
            .args(["--targets", "q_proj,v_proj,up_proj,down_proj", "--dropout", "0"])
            .arg("--model")
            .arg(p("m"))
            .arg("--data")
            .arg(p("pairs.jsonl"))
            .arg("--out")
            .arg(p("dpo"))
            .arg("--metrics")
            .arg(p("dpo.jsonl")),
    );
    let after = dpo.lines().find(|l| l.starts_with("after:")).unwrap();
    let margin: f64 = after.split("rewards/margins ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(margin > 0.5, "DPO should separate chosen from rejected: {dpo}");
    let log = std::fs::read_to_string(p("dpo.jsonl")).unwrap();
    assert!(log.lines().count() == 25 && log.contains("\"rewards/margins\""), "{log}");
    assert!(p("dpo/adapter_model.safetensors").exists());

    let reward = run_ok(
        train()
            .args([
                "reward",
                "--eval-split",
                "0",
                "--steps",
                "30",
                "--lr",
                "5e-3",
                "--batch-size",
                "4",
                "--dropout",
                "0",
            ])
            .arg("--model")
            .arg(p("m"))
            .arg("--data")
            .arg(p("pairs.jsonl"))
            .arg("--out")
            .arg(p("rm")),
    );
    let train_acc: f64 = reward
        .split("(train ")
        .nth(1)
        .unwrap()
        .trim_end_matches([')', '\n'])
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(train_acc >= 6.0 / 7.0, "{reward}");
    assert!(p("rm/reward_head.safetensors").exists());

    // PPO against that reward model, end to end, with its metrics log.
    let prompts: String = facts.iter().map(|f| format!("{}\n", f.0)).collect();
    std::fs::write(p("prompts.txt"), prompts).unwrap();
    let ppo = run_ok(
        train()
            .args([
                "ppo",
                "--template",
                "instruction",
                "--iterations",
                "4",
                "--batch-size",
                "3",
                "--max-new-tokens",
                "4",
            ])
            .arg("--model")
            .arg(p("m"))
            .arg("--prompts")
            .arg(p("prompts.txt"))
            .arg("--reward")
            .arg(p("rm"))
            .arg("--out")
            .arg(p("policy"))
            .arg("--metrics")
            .arg(p("ppo.jsonl")),
    );
    assert!(ppo.contains("4 iterations: mean reward"), "{ppo}");
    let log = std::fs::read_to_string(p("ppo.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4);
    for key in ["\"reward\"", "\"kl\"", "\"entropy\"", "\"clip_fraction\"", "\"value_loss\"", "\"kl_coef\""] {
        assert!(log.contains(key), "{key} missing from {log}");
    }
    assert!(p("policy/adapter_model.safetensors").exists());
}

#[test]
fn distillation_shrinks_a_teacher_into_a_student() {
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    let corpus = repo("examples/adaptation/corpus.txt");
    let sft = repo("examples/adaptation/sft.jsonl");
    run_ok(
        train()
            .args(["tiny", "--hidden", "64", "--intermediate", "128"])
            .arg("--out")
            .arg(p("t"))
            .arg("--corpus")
            .arg(&corpus),
    );
    run_ok(
        train()
            .args(["tiny", "--hidden", "32", "--intermediate", "64", "--layers", "1", "--seed", "5"])
            .arg("--out")
            .arg(p("s"))
            .arg("--corpus")
            .arg(&corpus),
    );
    run_ok(
        train()
            .args(["sft", "--rank", "8", "--dropout", "0", "--steps", "60", "--lr", "0.01", "--batch-size", "6"])
            .args(["--targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"])
            .arg("--model")
            .arg(p("t"))
            .arg("--data")
            .arg(&sft)
            .arg("--out")
            .arg(p("ta")),
    );
    run_ok(
        train().arg("merge").arg("--model").arg(p("t")).arg("--adapter").arg(p("ta")).arg("--out").arg(p("teacher")),
    );
    for mode in ["logits", "sequence"] {
        let report = run_ok(
            train()
                .args(["distill", "--mode", mode, "--alpha", "1", "--eval-split", "0", "--steps", "60", "--lr", "0.01"])
                .args(["--batch-size", "6"])
                .arg("--teacher")
                .arg(p("teacher"))
                .arg("--student")
                .arg(p("s"))
                .arg("--data")
                .arg(&sft)
                .arg("--out")
                .arg(p(&format!("d-{mode}"))),
        );
        let kl = |label: &str| -> f64 {
            let line = report.lines().find(|l| l.starts_with(label)).unwrap();
            line.split("KL to teacher ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap()
        };
        let (before, after) = (kl("before:"), kl("after:"));
        assert!(after < 0.5 * before, "{mode}: {report}");
        assert!(report.contains("student/teacher size 0.350"), "{report}");
        assert!(p(&format!("d-{mode}/model.safetensors")).exists());
    }
}

/// `train data` on the demo pack with a recorded teacher (the local 1.5B instruct model,
/// `tests/cassettes/train-data-1.5b.jsonl`): every kept line is a chatml chat whose reply
/// cites offered sentences including one of the gold paragraph, pairs put a verified
/// answer over an unverified one, and the lines feed `train sft` and `train grpo`.
#[test]
fn train_data_keeps_verified_answers_that_feed_sft_and_grpo() {
    let cassette = repo("crates/cairn-cli/tests/cassettes/train-data-1.5b.jsonl");
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    let kb = p("kb");
    run_ok(crate::cairn(&kb).arg("demo"));
    let summary = run_ok(
        crate::cairn(&kb)
            .args(["train", "data", "-n", "6", "--max-tries", "10", "--teacher"])
            .arg(format!("replay:{}", cassette.display()))
            .arg("--out")
            .arg(p("answers.jsonl"))
            .arg("--pairs")
            .arg(p("pairs.jsonl"))
            .arg("--router")
            .arg(p("router.jsonl")),
    );
    let text = std::fs::read_to_string(p("answers.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.is_empty(), "{summary}");
    assert!(summary.contains(&format!("wrote {} verified example(s)", lines.len())), "{summary}");
    for line in &lines {
        assert_eq!(line["template"], "chatml");
        let messages = line["messages"].as_array().unwrap();
        // The answer stage puts its instructions in the user message (Gemma's template drops
        // system messages), exactly as `ask` sends it.
        assert_eq!(messages.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(), ["user", "assistant"]);
        let user = messages[0]["content"].as_str().unwrap();
        assert!(user.contains(line["question"].as_str().unwrap()));
        let reply: serde_json::Value = serde_json::from_str(messages[1]["content"].as_str().unwrap()).unwrap();
        let claims = reply["claims"].as_array().unwrap();
        assert!(!claims.is_empty());
        for claim in claims {
            for id in claim["sentences"].as_array().unwrap() {
                assert!(user.contains(&format!("[{}] ", id.as_str().unwrap())), "cites an offered sentence: {id}");
            }
        }
        let gold = line["gold"].as_str().unwrap();
        assert!(line["evidence"].as_array().unwrap().iter().any(|e| e["id"] == gold), "the gold is in the evidence");
        assert!(line["reward"].as_f64().unwrap() >= 1.0, "a verified answer cites the gold: {}", line["reward"]);
    }
    let pairs = std::fs::read_to_string(p("pairs.jsonl")).unwrap();
    for pair in pairs.lines() {
        let v: serde_json::Value = serde_json::from_str(pair).unwrap();
        assert!(v["prompt"].as_str().unwrap().ends_with("<|im_start|>assistant\n"));
        assert_ne!(v["chosen"], v["rejected"]);
    }
    let router = std::fs::read_to_string(p("router.jsonl")).unwrap();
    let (mut yes, mut no) = (0, 0);
    for line in router.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["prompt"].as_str().unwrap().starts_with("Question: "));
        assert!(v["prompt"].as_str().unwrap().ends_with("\nAnswer:"));
        match v["completion"].as_str().unwrap() {
            " Yes" => yes += 1,
            " No" => no += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(yes > 0 && no > 0, "router examples of both kinds: {yes} Yes, {no} No");
    assert!(summary.contains(&format!("wrote {} router example(s) ({yes} Yes, {no} No)", yes + no)), "{summary}");
    // The lines train: SFT reads the chat template (and the router's prompt-completion lines), GRPO scores samples with the verifier
    // (a tiny random model writes no JSON, so its reward is the floor, but the loop runs).
    run_ok(train().args(["tiny", "--hidden", "64", "--intermediate", "64"]).arg("--out").arg(p("m")));
    run_ok(
        train()
            .args(["sft", "--steps", "1", "--max-len", "16384"])
            .arg("--model")
            .arg(p("m"))
            .arg("--data")
            .arg(p("answers.jsonl"))
            .arg("--out")
            .arg(p("sft")),
    );
    run_ok(
        train()
            .args(["sft", "--steps", "1"])
            .arg("--model")
            .arg(p("m"))
            .arg("--data")
            .arg(p("router.jsonl"))
            .arg("--out")
            .arg(p("sft-router")),
    );
    let grpo = run_ok(
        train()
            .args(["grpo", "--iterations", "1", "--group", "2", "--max-new-tokens", "4"])
            .arg("--model")
            .arg(p("m"))
            .arg("--data")
            .arg(p("answers.jsonl"))
            .arg("--out")
            .arg(p("grpo")),
    );
    assert!(grpo.contains("1 iterations: mean reward -1.000"), "{grpo}");
    assert!(p("grpo/adapter_config.json").exists());
    // Tasks too long for memory can be left out; leaving out all of them is an error.
    let none = train()
        .args(["grpo", "--iterations", "1", "--group", "2", "--max-prompt-len", "10"])
        .arg("--model")
        .arg(p("m"))
        .arg("--data")
        .arg(p("answers.jsonl"))
        .arg("--out")
        .arg(p("grpo-none"))
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no task's prompt fits in --max-prompt-len 10"), "{none:?}");
    // The verified-over-unverified pairs feed DPO. Their prompts are the answer stage's (a
    // thousand tokens and more with this tiny tokenizer), so the default length refuses
    // them with the way out, and --max-len takes them.
    assert!(!pairs.trim().is_empty(), "the recorded run has pairs: {summary}");
    {
        let dpo = || {
            let mut c = train();
            c.args(["dpo", "--steps", "1", "--batch-size", "1"])
                .arg("--model")
                .arg(p("m"))
                .arg("--data")
                .arg(p("pairs.jsonl"))
                .arg("--out")
                .arg(p("dpo"));
            c
        };
        let refused = dpo().output().unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("raise --max-len"), "{refused:?}");
        let trained = run_ok(dpo().args(["--max-len", "16384"]));
        assert!(trained.contains("preference pairs"), "{trained}");
        assert!(p("dpo/adapter_config.json").exists());
    }
}

/// `train data --from-graph`: the bundled graph's cited facts, and two-step mechanisms,
/// become answer examples in `ask`'s format, each claim citing the sentence that states it
/// (checked by the same answer checks as a teacher's), with no model at all.
#[test]
fn graph_facts_become_cited_answer_examples() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    run_ok(crate::cairn(&kb).args(["graph", "load-pharmacology"]));
    let out = dir.path().join("graph.jsonl");
    let report = run_ok(crate::cairn(&kb).args(["train", "data", "--from-graph", "-n", "40", "--out"]).arg(&out));
    assert!(report.contains("wrote 40 example(s)"), "{report}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 40);
    let mut two_step = 0;
    for l in &lines {
        let messages = l["messages"].as_array().unwrap();
        let user = messages[messages.len() - 2]["content"].as_str().unwrap();
        let reply: serde_json::Value =
            serde_json::from_str(messages.last().unwrap()["content"].as_str().unwrap()).unwrap();
        let claims = reply["claims"].as_array().unwrap();
        two_step += usize::from(claims.len() == 2);
        for c in claims {
            // Every cited label is one the prompt offered, and the sentence it names shares
            // the claim's entity names.
            for s in c["sentences"].as_array().unwrap() {
                let label = format!("[{}]", s.as_str().unwrap());
                let line =
                    user.lines().find(|line| line.contains(&label)).unwrap_or_else(|| panic!("{label} in {user}"));
                // The claim's names (its words less the verbalisation's own) are in the line.
                let template = [
                    "the",
                    "combination",
                    "and",
                    "is",
                    "a",
                    "an",
                    "of",
                    "contraindicated",
                    "interaction",
                    "inhibitor",
                    "inhibits",
                    "inducer",
                    "induces",
                    "accounts",
                    "for",
                    "most",
                    "metabolism",
                    "makes",
                    "minor",
                    "contribution",
                    "to",
                    "metabolized",
                    "by",
                    "substrate",
                    "major",
                    "moderate",
                    "strong",
                    "weak",
                ];
                let line_lower = line.to_lowercase();
                let claim = c["claim"].as_str().unwrap().to_lowercase();
                let names: Vec<&str> = claim
                    .split(|ch: char| ch.is_whitespace() || ch == '.')
                    .filter(|w| !w.is_empty() && !template.contains(w))
                    .collect();
                assert!(names.iter().any(|n| line_lower.contains(n)), "{names:?} in {line}");
            }
        }
        assert_eq!(l["teacher"], "graph");
    }
    assert!(two_step >= 10, "mechanism examples: {two_step}");
}
