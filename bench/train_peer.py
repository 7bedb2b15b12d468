#!/usr/bin/env python3
"""LoRA SFT step time: Cairn (`cairn train sft`) against PyTorch + PEFT on the same tiny
model, data, batch, LoRA configuration and thread count, in one run; and a PEFT
compatibility check of Cairn's adapter and merged export.

  python bench/train_peer.py --cairn target/release/cairn [--steps 30] [--hidden 256]

Needs torch, transformers and peft (pip install torch transformers peft; about 6 GB).
Prints a Markdown table; figures are per optimiser step after one warm-up step.
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

import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def prompt_of(ex):
    """The same template as cairn-train's data module."""
    if "messages" in ex:
        segs = []
        for m in ex["messages"]:
            head = {"system": "### System:\n", "user": "### User:\n", "assistant": "### Assistant:\n"}[m["role"]]
            segs += [(head, False), (m["content"] + "\n", m["role"] == "assistant")]
        return segs
    inp = ex.get("input")
    if inp and inp.strip():
        p = f"### Instruction:\n{ex['instruction']}\n\n### Input:\n{inp}\n\n### Response:\n"
    else:
        p = f"### Instruction:\n{ex['instruction']}\n\n### Response:\n"
    return [(p, False), (ex["output"], True)]


def batch(model_dir, data, eos):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    rows = []
    for line in open(data, encoding="utf-8"):
        if not line.strip():
            continue
        ids, learn = [], []
        for text, lrn in prompt_of(json.loads(line)):
            e = tok.encode(text, add_special_tokens=False).ids
            ids += e
            learn += [lrn] * len(e)
        ids.append(eos)
        learn.append(True)
        rows.append((ids, learn))
    t = max(len(r[0]) for r in rows)
    input_ids = torch.full((len(rows), t), eos)
    labels = torch.full((len(rows), t), -100)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, (ids, learn) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, : len(ids)] = torch.tensor([x if lrn else -100 for x, lrn in zip(ids, learn)])
    return input_ids, labels, mask


def lora_model(model_dir, rank):
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    return get_peft_model(base, cfg)


def torch_loop(model_dir, data, eos, steps, rank, lr):
    input_ids, labels, mask = batch(model_dir, data, eos)
    model = lora_model(model_dir, rank)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if s > 0:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times), float(out.loss), int(mask.sum())


class Rows(torch.utils.data.Dataset):
    def __init__(self, input_ids, labels, mask):
        self.x = (input_ids, labels, mask)

    def __len__(self):
        return self.x[0].shape[0]

    def __getitem__(self, i):
        return {"input_ids": self.x[0][i], "labels": self.x[1][i], "attention_mask": self.x[2][i]}


def hf_trainer(model_dir, data, eos, steps, rank, lr):
    input_ids, labels, mask = batch(model_dir, data, eos)
    model = lora_model(model_dir, rank)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps + 1, per_device_train_batch_size=input_ids.shape[0],
                                 learning_rate=lr, lr_scheduler_type="cosine", logging_strategy="no", save_strategy="no",
                                 report_to=[], use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=Rows(input_ids, labels, mask))
        t0 = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - t0) / (steps + 1)


def cairn_sft(cairn, model_dir, data, out, steps, rank, lr, n):
    metrics = os.path.join(out, "metrics.jsonl")
    subprocess.run([cairn, "train", "sft", "--model", model_dir, "--data", data, "--out", os.path.join(out, "adapter"),
                    "--rank", str(rank), "--alpha", str(2 * rank), "--dropout", "0", "--targets", ",".join(TARGETS),
                    "--steps", str(steps + 1), "--lr", str(lr), "--batch-size", str(n), "--schedule", "constant",
                    "--metrics", metrics], check=True, capture_output=True)
    rows = [json.loads(l) for l in open(metrics)]
    return (rows[-1]["elapsed_s"] - rows[0]["elapsed_s"]) / steps, rows[-1]["loss"]


def peft_check(cairn, base, adapter, merged, input_ids):
    """PEFT loads Cairn's adapter; transformers loads Cairn's merged model; same logits."""
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter).eval()
    plain = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    base_m = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    with torch.no_grad():
        a = peft(input_ids=input_ids).logits
        b = plain(input_ids=input_ids).logits
        c = base_m(input_ids=input_ids).logits
    return float((a - b).abs().max()), float((a - c).abs().max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", default=os.path.join(ROOT, "target/release/cairn"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--trainer", action="store_true", help="also time transformers' Trainer")
    a = ap.parse_args()
    data = os.path.join(ROOT, "examples/adaptation/sft.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run([a.cairn, "train", "tiny", "--out", base, "--hidden", str(a.hidden),
                        "--intermediate", str(2 * a.hidden), "--corpus", os.path.join(ROOT, "examples/adaptation/corpus.txt")],
                       check=True, capture_output=True)
        eos = json.load(open(os.path.join(base, "config.json")))["eos_token_id"]
        input_ids, _, mask = batch(base, data, eos)
        n, tokens = input_ids.shape[0], int(mask.sum())
        c_step, c_loss = cairn_sft(a.cairn, base, data, tmp, a.steps, a.rank, a.lr, n)
        t_step, t_loss, _ = torch_loop(base, data, eos, a.steps, a.rank, a.lr)
        tr_step = hf_trainer(base, data, eos, a.steps, a.rank, a.lr) if a.trainer else None
        merged = os.path.join(tmp, "merged")
        subprocess.run([a.cairn, "train", "merge", "--model", base, "--adapter", os.path.join(tmp, "adapter"), "--out", merged],
                       check=True, capture_output=True)
        diff, moved = peft_check(a.cairn, base, os.path.join(tmp, "adapter"), merged, input_ids)
    print(f"tiny Llama: hidden {a.hidden}, 2 layers, LoRA r={a.rank} on all 7 projections; batch {n} x {input_ids.shape[1]} "
          f"({tokens} real tokens); 1 thread; torch {torch.__version__}")
    print("| system | s/step | tokens/s | vs Cairn |")
    print("|---|---|---|---|")
    print(f"| Cairn (candle) | {c_step:.4f} | {tokens / c_step:.0f} | 1.00 |")
    print(f"| torch + peft, raw loop | {t_step:.4f} | {tokens / t_step:.0f} | {c_step / t_step:.2f}x Cairn's speed |")
    if tr_step:
        print(f"| torch + peft, transformers Trainer | {tr_step:.4f} | {tokens / tr_step:.0f} | {c_step / tr_step:.2f}x Cairn's speed |")
    print(f"final loss after {a.steps + 1} steps at constant lr: Cairn {c_loss:.4f}, torch {t_loss:.4f}")
    print(f"PEFT loads Cairn's adapter: max |logit(PEFT base+adapter) - logit(Cairn merged, in transformers)| = {diff:.2e} "
          f"(the adapter moves logits by up to {moved:.2f})")


if __name__ == "__main__":
    sys.exit(main())
