#!/usr/bin/env python3
"""Greedy decoding with llama.cpp (llama-cpp-python) on a GGUF, for checks of Cairn's exports.

Usage: llama_cpp_greedy.py MODEL.gguf TOKENS PROMPT [PROMPT ...]
Prints one JSON object per prompt: prompt token ids, generated ids (stopping at EOS), and
the log-probability of each generated token.
"""
import json
import math
import sys

from llama_cpp import Llama


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    llm = Llama(model_path=path, n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    eos = llm.token_eos()
    for prompt in sys.argv[3:]:
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        out, logprobs = [], []
        for _ in range(n):
            row = llm.scores[llm.n_tokens - 1]
            best = max(range(len(row)), key=lambda i: row[i])
            top = max(row)
            lse = top + math.log(sum(math.exp(x - top) for x in row))
            if best == eos:
                break
            out.append(best)
            logprobs.append(float(row[best] - lse))
            llm.eval([best])
        print(json.dumps({"prompt_ids": ids, "ids": out, "logprobs": logprobs}))


if __name__ == "__main__":
    main()
