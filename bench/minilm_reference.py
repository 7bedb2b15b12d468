"""An independent reference for Cairn's BERT embedder: all-MiniLM-L6-v2 forward pass in
plain numpy (HF `tokenizers` for tokenisation), mean pooling and L2 normalisation, the way
sentence-transformers computes it. Prints the embeddings as JSON.

Usage: python3 bench/minilm_reference.py MODEL_DIR "text one" "text two" ...
"""
import json
import math
import struct
import sys

import numpy as np
from tokenizers import Tokenizer


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        if meta["dtype"] != "F32":
            continue  # e.g. the position_ids buffer
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"])
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(model_dir, text):
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = load_safetensors(f"{model_dir}/model.safetensors")
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.no_truncation()
    ids = tok.encode(text).ids[:256]
    p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
    g = lambda n: w[p + n].astype(np.float64)
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
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(lin(h, "output.dense") + x, g(l + "output.LayerNorm.weight"), g(l + "output.LayerNorm.bias"), eps)
    m = x.mean(0)
    return (m / np.linalg.norm(m)).tolist()


if __name__ == "__main__":
    print(json.dumps([embed(sys.argv[1], t) for t in sys.argv[2:]]))
