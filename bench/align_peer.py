#!/usr/bin/env python3
"""Reward-model, DPO and PPO step times: Cairn (`cairn train reward|dpo|ppo`) against raw
torch + peft loops with the same algorithms, shapes, LoRA and thread count, and TRL 1.16's
DPOTrainer, in one run.

  python bench/align_peer.py --cairn target/release/cairn [--steps 20]

Needs torch, transformers, peft and trl. Prints a Markdown table (seconds per optimiser
step after a warm-up step; PPO: per iteration of 4 rollouts x 8 sampled tokens + 2 epochs).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGETS = ["q_proj", "v_proj"]


def pairs_file(path, n=16):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"Case {i}: what is the reporting deadline for the bank?",
                                "chosen": " The bank reports suspicious transactions within five days.",
                                "rejected": " The bank reports whenever it likes, in ten weeks or more."}) + "\n")


def encode(tok, prompt, resp, eos):
    p = tok.encode(prompt, add_special_tokens=False).ids
    r = tok.encode(resp, add_special_tokens=False).ids + [eos]
    return p + r, len(p)


def batch(rows, eos):
    t = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), t), eos)
    mask = torch.zeros((len(rows), t))
    for i, (x, p) in enumerate(rows):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, p: len(x)] = 1  # response tokens
    return ids, mask


def peft_model(d, rank):
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    return get_peft_model(m, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=TARGETS))


def seq_logps(model, ids, mask):
    logits = model(input_ids=ids).logits[:, :-1]
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (lp * mask[:, 1:]).sum(-1)


def timed(step, n):
    step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def torch_reward(d, rows, eos, n, rank):
    model = peft_model(d, rank)
    head = torch.nn.Linear(model.config.hidden_size, 1, bias=False)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3)
    ch, rj = batch([r[0] for r in rows], eos), batch([r[1] for r in rows], eos)
    last_c = torch.tensor([len(r[0][0]) - 1 for r in rows])
    last_r = torch.tensor([len(r[1][0]) - 1 for r in rows])

    def step():
        ids = torch.cat([ch[0], F.pad(rj[0], (0, max(0, ch[0].shape[1] - rj[0].shape[1])), value=eos)[:, : ch[0].shape[1]]]) \
            if ch[0].shape[1] >= rj[0].shape[1] else None
        hc = model(input_ids=ch[0], output_hidden_states=True).hidden_states[-1]
        hr = model(input_ids=rj[0], output_hidden_states=True).hidden_states[-1]
        sc = head(hc[torch.arange(len(rows)), last_c]).squeeze(-1)
        sr = head(hr[torch.arange(len(rows)), last_r]).squeeze(-1)
        loss = -F.logsigmoid(sc - sr).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        del ids
    return timed(step, n)


def torch_dpo(d, rows, eos, n, rank, beta=0.1):
    model = peft_model(d, rank)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    ids, mask = batch([r[0] for r in rows] + [r[1] for r in rows], eos)
    k = len(rows)

    def step():
        lp = seq_logps(model, ids, mask)
        with torch.no_grad(), model.disable_adapter():
            ref = seq_logps(model, ids, mask)
        logits = beta * ((lp[:k] - ref[:k]) - (lp[k:] - ref[k:]))
        loss = -F.logsigmoid(logits).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
    return timed(step, n)


def torch_ppo(d, prompts, n, rank, new_tokens=8, epochs=2):
    """The same algorithm as cairn-train's ppo: sample, score (a rule), KL-shaped rewards,
    GAE, clipped policy and value losses; generation uses transformers' KV cache."""
    model = peft_model(d, rank)
    vmodel = peft_model(d, rank)
    vhead = torch.nn.Linear(model.config.hidden_size, 1, bias=False)
    pparams = [p for p in model.parameters() if p.requires_grad]
    vparams = [p for p in vmodel.parameters() if p.requires_grad] + list(vhead.parameters())
    popt, vopt = torch.optim.AdamW(pparams, lr=4e-3), torch.optim.AdamW(vparams, lr=4e-3)

    def logps(m, seq, start):
        lp = torch.log_softmax(m(input_ids=seq).logits[0, start - 1: start - 1 + new_tokens], -1)
        return lp.gather(-1, seq[0, start: start + new_tokens].unsqueeze(-1)).squeeze(-1), -(lp.exp() * lp).sum(-1)

    def step():
        rolls = []
        for p in prompts[:4]:
            x = torch.tensor([p])
            with torch.no_grad():
                out = model.generate(x, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                                     temperature=1.0, top_k=0, pad_token_id=0)
            rolls.append((out, len(p)))
        raw = torch.tensor([(r[0][0, r[1]:] < 100).float().mean().item() for r in rolls])
        lo, hi = raw.min(), raw.max()
        scores = 2 * (raw - lo) / (hi - lo) - 1 if hi > lo else torch.zeros_like(raw)
        data = []
        for (seq, s), sc in zip(rolls, scores):
            with torch.no_grad():
                old, _ = logps(model, seq, s)
                with model.disable_adapter():
                    ref, _ = logps(model, seq, s)
                h = vmodel(input_ids=seq, output_hidden_states=True).hidden_states[-1][0, s - 1: s - 1 + new_tokens]
                v = vhead(h).squeeze(-1)
            r = -0.01 * (old - ref)
            r[-1] += sc
            adv, last = torch.zeros(new_tokens), 0.0
            for t in reversed(range(new_tokens)):
                nv = v[t + 1] if t + 1 < new_tokens else 0.0
                last = r[t] + nv - v[t] + 0.95 * last
                adv[t] = last
            data.append((seq, s, old, v, adv, adv + v))
        allv = torch.cat([a[4] for a in data])
        mu, sd = allv.mean(), allv.std().clamp_min(1e-8)
        for _ in range(epochs):
            pl, vl = 0, 0
            for seq, s, old, v0, adv, ret in data:
                new, _ = logps(model, seq, s)
                ratio = (new - old).exp()
                a = (adv - mu) / sd
                pl = pl - torch.min(ratio * a, ratio.clamp(0.8, 1.2) * a).mean() / len(data)
                h = vmodel(input_ids=seq, output_hidden_states=True).hidden_states[-1][0, s - 1: s - 1 + new_tokens]
                vn = vhead(h).squeeze(-1)
                vc = v0 + (vn - v0).clamp(-0.2, 0.2)
                vl = vl + 0.5 * torch.max((vn - ret) ** 2, (vc - ret) ** 2).mean() / len(data)
            (pl + 0.5 * vl).backward()
            torch.nn.utils.clip_grad_norm_(pparams, 1.0)
            torch.nn.utils.clip_grad_norm_(vparams, 1.0)
            popt.step()
            vopt.step()
            popt.zero_grad()
            vopt.zero_grad()
    return timed(step, n)


def trl_dpo(d, data_path, n, rank):
    from datasets import load_dataset
    from transformers import PreTrainedTokenizerFast
    from trl import DPOConfig, DPOTrainer
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>")
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    ds = load_dataset("json", data_files=data_path, split="train")
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(output_dir=out, max_steps=n + 1, per_device_train_batch_size=len(ds), learning_rate=1e-3,
                         beta=0.1, logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True,
                         disable_tqdm=True, dataloader_num_workers=0)
        trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                             peft_config=LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=TARGETS))
        t0 = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - t0) / (n + 1)


def cairn_steps(cmd, metrics, key):
    subprocess.run(cmd + ["--metrics", metrics], check=True, capture_output=True)
    rows = [json.loads(l) for l in open(metrics)]
    return (rows[-1]["elapsed_s"] - rows[0]["elapsed_s"]) / (len(rows) - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", default=os.path.join(ROOT, "target/release/cairn"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--rank", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run([a.cairn, "train", "tiny", "--out", base, "--hidden", str(a.hidden), "--intermediate",
                        str(2 * a.hidden), "--corpus", os.path.join(ROOT, "examples/adaptation/corpus.txt")],
                       check=True, capture_output=True)
        data = os.path.join(tmp, "pairs.jsonl")
        pairs_file(data)
        eos = json.load(open(os.path.join(base, "config.json")))["eos_token_id"]
        tok = Tokenizer.from_file(os.path.join(base, "tokenizer.json"))
        rows = []
        for line in open(data):
            d = json.loads(line)
            rows.append((encode(tok, d["prompt"], d["chosen"], eos), encode(tok, d["prompt"], d["rejected"], eos)))
        prompts = [tok.encode(f"Case {i}: the bank", add_special_tokens=False).ids for i in range(4)]
        with open(os.path.join(tmp, "prompts.txt"), "w") as f:
            f.write("\n".join(f"Case {i}: the bank" for i in range(4)) + "\n")
        common = ["--rank", str(a.rank), "--alpha", str(2 * a.rank), "--dropout", "0", "--targets", ",".join(TARGETS)]
        steps = ["--steps", str(a.steps + 1), "--lr", "1e-3", "--batch-size", "16", "--schedule", "constant"]
        c_rm = cairn_steps([a.cairn, "train", "reward", "--model", base, "--data", data, "--out", os.path.join(tmp, "rm"),
                            "--eval-split", "0"] + common + steps, os.path.join(tmp, "rm.jsonl"), "loss")
        c_dpo = cairn_steps([a.cairn, "train", "dpo", "--model", base, "--data", data, "--out", os.path.join(tmp, "dpo")]
                            + common + steps, os.path.join(tmp, "dpo.jsonl"), "loss")
        c_ppo = cairn_steps([a.cairn, "train", "ppo", "--model", base, "--prompts", os.path.join(tmp, "prompts.txt"),
                             "--out", os.path.join(tmp, "ppo"), "--reward-contains", "bank", "--iterations", str(a.steps + 1),
                             "--batch-size", "4", "--max-new-tokens", "8", "--epochs", "2"] + common,
                            os.path.join(tmp, "ppo.jsonl"), "reward")
        t_rm = torch_reward(base, rows, eos, a.steps, a.rank)
        t_dpo = torch_dpo(base, rows, eos, a.steps, a.rank)
        t_ppo = torch_ppo(base, prompts, a.steps, a.rank)
        try:
            trl = trl_dpo(base, data, a.steps, a.rank)
        except Exception as e:  # noqa: BLE001
            trl = None
            print("TRL DPOTrainer failed:", repr(e)[:300])
    print(f"tiny Llama hidden {a.hidden}, 2 layers, LoRA r={a.rank} on {','.join(TARGETS)}; 16 pairs per step; 1 thread; "
          f"torch {torch.__version__}")
    print("| step | Cairn s | torch raw loop s | Cairn's time ÷ torch's |")
    print("|---|---|---|---|")
    print(f"| reward model | {c_rm:.4f} | {t_rm:.4f} | {c_rm / t_rm:.2f}× |")
    print(f"| DPO | {c_dpo:.4f} | {t_dpo:.4f} | {c_dpo / t_dpo:.2f}× |")
    print(f"| PPO iteration (4 rollouts × 8 tokens, 2 epochs) | {c_ppo:.4f} | {t_ppo:.4f} | {c_ppo / t_ppo:.2f}× |")
    if trl:
        print(f"| DPO, TRL 1.16 DPOTrainer | | {trl:.4f} | {c_dpo / trl:.2f}× |")


if __name__ == "__main__":
    main()
