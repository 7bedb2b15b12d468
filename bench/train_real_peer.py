#!/usr/bin/env python3
"""LoRA SFT on the real imported model: Cairn (`cairn train sft`) against PyTorch + PEFT,
same checkpoint, same example, same LoRA configuration, one thread, in one run.

  cairn train import --gguf models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf --out M
  python bench/train_real_peer.py --cairn target/release/cairn --model M --data answers.jsonl

`answers.jsonl` is what `cairn train data` writes (chat-template answer examples, about
1,500 tokens each). Every step trains on the same example (`--example`, default the first),
so both systems do identical work per step; times are per optimiser step after one
warm-up step, and memory is each process's peak resident set.

Needs torch, transformers and peft (pip install torch transformers peft).
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
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    lines = [line for line in open(args.data, encoding="utf-8") if line.strip()]
    ex = json.loads(lines[args.example])
    if args.torch_only:
        torch_run(args.model, ex, args.steps, args.rank, args.lr)
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


if __name__ == "__main__":
    main()
