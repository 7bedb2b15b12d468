"""llama.cpp through llama-cpp-python, as the peer of Cairn's local GGUF backend.

  python3 bench/llama_cpp_peer.py greedy MODEL PROMPT N   -> {"tokens": [...], "logprobs": [...]}
  python3 bench/llama_cpp_peer.py speed MODEL PROMPT N    -> {"prompt_tokens", "prefill_seconds", "generated_tokens", "generation_seconds"}

One thread, the raw prompt (no chat template), greedy decoding; log-probabilities are the
chosen token's log-softmax under the model.
"""
import json
import math
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama


def load(path):
    return Llama(model_path=path, n_ctx=2048, n_threads=1, n_threads_batch=1, logits_all=False, verbose=False)


def log_softmax_at(logits, token):
    x = logits.astype(np.float64)
    m = float(x.max())
    return float(x[token] - (m + math.log(np.exp(x - m).sum())))


def greedy(llm, prompt, n, want_logprobs):
    tokens = llm.tokenize(prompt.encode(), add_bos=True)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    prefill = time.perf_counter() - t0
    eog = {llm.token_eos()}
    for marker in (b"<end_of_turn>", b"<|im_end|>", b"<|eot_id|>"):
        ids = llm.tokenize(marker, add_bos=False, special=True)
        if len(ids) == 1:
            eog.add(ids[0])
    out, lps = [], []
    t0 = time.perf_counter()
    for _ in range(n):
        # The last evaluated position's logits, straight from llama.cpp (with
        # logits_all=False, `llm.scores` is not filled in).
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),))
        tok = int(np.argmax(logits))
        if tok in eog:
            break
        if want_logprobs:
            lps.append(log_softmax_at(logits, tok))
        out.append(tok)
        llm.eval([tok])
    gen = time.perf_counter() - t0
    return tokens, out, lps, prefill, gen


def main():
    mode, path, prompt, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    llm = load(path)
    if mode == "greedy":
        _, out, lps, _, _ = greedy(llm, prompt, n, True)
        print(json.dumps({"tokens": out, "logprobs": lps}))
    else:
        tokens, out, _, prefill, gen = greedy(llm, prompt, n, False)
        print(json.dumps({"prompt_tokens": len(tokens), "prefill_seconds": prefill,
                          "generated_tokens": len(out), "generation_seconds": gen}))


if __name__ == "__main__":
    main()
