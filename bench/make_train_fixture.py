#!/usr/bin/env python3
"""Writes the parity fixtures of cairn-train: tiny Llama and Qwen2 checkpoints saved by
transformers (random weights, seeded) and the logits PyTorch computes for fixed token ids.

Usage: python bench/make_train_fixture.py crates/cairn-train/tests/fixtures
Needs torch, transformers and tokenizers (see BENCHMARKS.md); the outputs are committed,
so the Rust tests need none of them.
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

IDS = [[1, 5, 9, 2, 33, 40, 7, 3, 60, 12, 0, 4]]


def tokenizer(path: str) -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["the bank reports within five days", "资本充足率不得低于百分之八"], trainer)
    tok.save(path)


def main() -> None:
    out = sys.argv[1]
    torch.manual_seed(0)
    common = dict(vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  rms_norm_eps=1e-6, tie_word_embeddings=False)
    for name, cfg, cls in [("hf-llama", LlamaConfig(**common, rope_theta=10000.0), LlamaForCausalLM),
                           ("hf-qwen2", Qwen2Config(**common, rope_theta=1000000.0), Qwen2ForCausalLM)]:
        model = cls(cfg).eval()
        with torch.no_grad():  # make the weights large enough that logits are not flat
            for p in model.parameters():
                p.normal_(0.0, 0.2)
        d = os.path.join(out, name)
        model.save_pretrained(d, safe_serialization=True)
        tokenizer(os.path.join(d, "tokenizer.json"))
        with torch.no_grad():
            logits = model(torch.tensor(IDS)).logits[0]
        with open(os.path.join(d, "expected_logits.json"), "w") as f:
            json.dump({"ids": IDS[0], "logits": logits.tolist(), "torch": torch.__version__}, f)
        print(name, "written;", "config keys:", sorted(json.load(open(os.path.join(d, "config.json"))).keys()))


if __name__ == "__main__":
    main()
