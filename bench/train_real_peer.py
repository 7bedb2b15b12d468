#!/usr/bin/env python3
"""LoRA SFT and GRPO on the real imported model: Cairn (`cairn train sft`, `cairn train
grpo`) against PyTorch + PEFT (a raw loop) and TRL's GRPOTrainer, same checkpoint, same
example, same LoRA configuration, one thread, in one run.

  cairn train import --gguf models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf --out M
  python bench/train_real_peer.py --cairn target/release/cairn --model M --data answers.jsonl

`answers.jsonl` is what `cairn train data` writes (chat-template answer examples, about
1,500 tokens each). Every step trains on the same example (`--example`, default the first),
so both systems do identical work per step; times are per optimiser step after one
warm-up step, and memory is each process's peak resident set. `--grpo N` also times N
GRPO iterations on that example's prompt (a group of 2, at most 160 new tokens, one
update epoch, β 0.04): Cairn rewards with its verifier, TRL with a stand-in rule (the
reward's cost is negligible beside sampling and the update).

Needs torch, transformers and peft (pip install torch transformers peft trl datasets).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def chatml_segments(ex):
    """cairn-train's chat template (`"template": "chatml"`): what is learned is the reply
    and its `<|im_end|>`."""
    segs = []
    for m in ex["messages"]:
        segs.append((f"<|im_start|>{m['role']}\n", False))
        segs.append((m["content"] + "<|im_end|>", m["role"] == "assistant"))
        segs.append(("\n", False))
    return segs


def encode(model_dir, ex):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids, learn = [], []
    for text, lrn in chatml_segments(ex):
        e = tok.encode(text, add_special_tokens=False).ids
        ids += e
        learn += [lrn] * len(e)
    return ids, learn


def torch_run(model_dir, ex, steps, rank, lr):
    """Raw PyTorch + PEFT loop; prints one JSON line of figures."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    ids, learn = encode(model_dir, ex)
    input_ids = torch.tensor([ids])
    labels = torch.tensor([[x if lrn else -100 for x, lrn in zip(ids, learn)]])
    t0 = time.perf_counter()
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                     task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.config.use_cache = False
    model.train()
    load = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    times, losses = [], []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        out = model(input_ids=input_ids, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(out.loss))
        if s > 0:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"step_s": times, "losses": losses, "load_s": load, "tokens": len(ids),
                      "learned": sum(learn), "attn": model.config._attn_implementation}))


def chatml_prompt(ex):
    """The GRPO prompt: the example's system and user turns, then the assistant header."""
    turns = [m for m in ex["messages"] if m["role"] != "assistant"]
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in turns) + "<|im_start|>assistant\n"


def trl_grpo_run(model_dir, ex, iterations, rank, lr, group, new_tokens):
    """TRL's GRPOTrainer on one prompt; prints one JSON line of per-step times."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    prompt = chatml_prompt(ex)
    data = Dataset.from_list([{"prompt": prompt}] * (group * (iterations + 1)))
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    sampled = []

    def reward(completions, **_):
        # A stand-in for Cairn's verifier: replies that open a JSON object.
        sampled.extend(len(tok(c).input_ids) for c in completions)
        return [1.0 if c.lstrip().startswith("{") else 0.0 for c in completions]

    times = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.t0 = time.perf_counter()

        def on_step_end(self, *_, **__):
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as out:
        cfg = GRPOConfig(output_dir=out, per_device_train_batch_size=group, num_generations=group,
                         max_completion_length=new_tokens, temperature=0.8, beta=0.04, learning_rate=lr,
                         max_steps=iterations + 1, num_iterations=1, logging_steps=1, report_to=[],
                         save_strategy="no", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
                         lr_scheduler_type="constant", seed=0)
        peft = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                          task_type="CAUSAL_LM")
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=data,
                              processing_class=tok, peft_config=peft, callbacks=[Clock()])
        trainer.train()
    print(json.dumps({"step_s": times[1:], "sampled": sampled[group:], "prompt_tokens": len(tok(prompt).input_ids)}))


def measured(cmd):
    """Runs `cmd`; returns its stdout, stderr and peak resident set in GB (wait4's ru_maxrss
    of that process alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{stderr[-3000:]}")
    return stdout, stderr, usage.ru_maxrss / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", default="target/release/cairn")
    ap.add_argument("--model", required=True, help="model folder from `cairn train import`")
    ap.add_argument("--data", required=True, help="answer examples from `cairn train data`")
    ap.add_argument("--example", type=int, default=0)
    ap.add_argument("--steps", type=int, default=3, help="SFT steps to time (0: GRPO only)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--grpo", type=int, default=0, help="GRPO iterations to time (0: SFT only)")
    ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trl-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    lines = [line for line in open(args.data, encoding="utf-8") if line.strip()]
    ex = json.loads(lines[args.example])
    if args.torch_only:
        torch_run(args.model, ex, args.steps, args.rank, args.lr)
        return
    if args.trl_only:
        trl_grpo_run(args.model, ex, args.grpo, args.rank, args.lr, 2, 160)
        return
    if args.steps == 0:  # GRPO only
        grpo(args, lines)
        return

    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one.jsonl")
        with open(one, "w", encoding="utf-8") as f:
            f.write(lines[args.example].strip() + "\n")
        metrics = os.path.join(tmp, "metrics.jsonl")
        # Cairn and torch run one after the other, each in its own process.
        t0 = time.perf_counter()
        _, _, cairn_rss = measured([args.cairn, "train", "sft", "--model", args.model, "--data", one, "--out",
                                    os.path.join(tmp, "adapter"), "--max-len", "4096", "--batch-size", "1",
                                    "--steps", str(args.steps + 1), "--rank", str(args.rank), "--alpha",
                                    str(2 * args.rank), "--dropout", "0", "--lr", str(args.lr), "--schedule",
                                    "constant", "--metrics", metrics])
        cairn_wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in open(metrics, encoding="utf-8")]
        elapsed = [r["elapsed_s"] for r in rows]
        cairn_steps = [b - a for a, b in zip(elapsed, elapsed[1:])]
        cairn_losses = [r["loss"] for r in rows]
        out, _, torch_rss = measured([sys.executable, __file__, "--torch-only", "--model", args.model,
                                            "--data", args.data, "--example", str(args.example), "--steps",
                                            str(args.steps), "--rank", str(args.rank), "--lr", str(args.lr)])
    t = json.loads(out.strip().splitlines()[-1])
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    c, p = med(cairn_steps), med(t["step_s"])
    print(f"example {args.example}: {t['tokens']} tokens, {t['learned']} learned; LoRA r={args.rank} on q/v; "
          f"one thread; torch attention: {t['attn']}\n")
    print("| system | s/step (median) | steps | peak RSS | Cairn's time ÷ peer's |")
    print("|---|---|---|---|---|")
    print(f"| Cairn | {c:.1f} ({min(cairn_steps):.1f}–{max(cairn_steps):.1f}) | {len(cairn_steps)} | "
          f"{cairn_rss:.1f} GB | 1.00 |")
    print(f"| torch + peft, raw loop | {p:.1f} ({min(t['step_s']):.1f}–{max(t['step_s']):.1f}) | "
          f"{len(t['step_s'])} | {torch_rss:.1f} GB | **{c / p:.2f}×** |")
    print(f"\nlosses: Cairn {['%.4f' % x for x in cairn_losses]}, torch {['%.4f' % x for x in t['losses']]}; "
          f"Cairn's whole run {cairn_wall:.0f} s, torch's load {t['load_s']:.0f} s")
    if args.grpo:
        grpo(args, lines)


def grpo(args, lines):
    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one.jsonl")
        with open(one, "w", encoding="utf-8") as f:
            f.write(lines[args.example].strip() + "\n")
        metrics = os.path.join(tmp, "grpo.jsonl")
        _, _, cairn_rss = measured([args.cairn, "train", "grpo", "--model", args.model, "--data", one, "--out",
                                    os.path.join(tmp, "policy"), "--group", "2", "--max-new-tokens", "160",
                                    "--iterations", str(args.grpo + 1), "--rank", str(args.rank), "--alpha",
                                    str(2 * args.rank), "--dropout", "0", "--lr", str(args.lr), "--metrics",
                                    metrics])
        rows = [json.loads(line) for line in open(metrics, encoding="utf-8")]
        elapsed = [r["elapsed_s"] for r in rows]
        cairn_steps = [b - a for a, b in zip(elapsed, elapsed[1:])]
        cairn_sampled = [r.get("sampled_tokens", 0) for r in rows[1:]]
        cairn_sample_s = [r.get("sample_s", 0.0) for r in rows[1:]]
        out, _, trl_rss = measured([sys.executable, __file__, "--trl-only", "--model", args.model, "--data",
                                    args.data, "--example", str(args.example), "--grpo", str(args.grpo),
                                    "--rank", str(args.rank), "--lr", str(args.lr)])
    t = json.loads(out.strip().splitlines()[-1])
    per_tok = lambda s, n: sum(s) / max(1, sum(n))  # noqa: E731
    print(f"\nGRPO: prompt {t['prompt_tokens']} tokens, a group of 2, at most 160 new tokens, one epoch\n")
    print("| system | s/iteration (mean) | tokens sampled / iteration | s per sampled token | peak RSS |")
    print("|---|---|---|---|---|")
    c_tok, t_tok = cairn_sampled, [sum(t["sampled"][i:i + 2]) for i in range(0, len(t["sampled"]), 2)]
    print(f"| Cairn (`train grpo`) | {sum(cairn_steps) / len(cairn_steps):.1f} (sampling "
          f"{sum(cairn_sample_s) / len(cairn_sample_s):.1f}) | {sum(c_tok) / len(c_tok):.0f} | "
          f"{per_tok(cairn_steps, c_tok):.3f} | {cairn_rss:.1f} GB |")
    print(f"| TRL GRPOTrainer + peft | {sum(t['step_s']) / len(t['step_s']):.1f} | "
          f"{sum(t_tok) / max(1, len(t_tok)):.0f} | {per_tok(t['step_s'], t_tok):.3f} | {trl_rss:.1f} GB |")
    print(f"\nCairn's time per sampled token ÷ TRL's: **{per_tok(cairn_steps, c_tok) / per_tok(t['step_s'], t_tok):.2f}×**"
          f"; Cairn rewards {[r['reward'] for r in rows]}")


if __name__ == "__main__":
    main()
