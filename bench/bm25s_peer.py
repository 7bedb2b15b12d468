"""The bm25s peer for `cairn bench`: indexes the same paragraphs and answers the same
queries, one at a time (tokenise + retrieve top 10), single-threaded.

Usage: python3 bench/bm25s_peer.py OUT_DIR [K]   (reads paragraphs.jsonl and queries.txt; K = 10)
Prints one JSON object: {"peer", "index_seconds", "p50_ms", "p99_ms", "results"}.
"""
import json
import sys
import time

import bm25s

try:
    import Stemmer  # PyStemmer: Snowball English, the same stemmer family Cairn uses

    STEMMER = Stemmer.Stemmer("english")
except ImportError:  # pragma: no cover
    STEMMER = None


def main(out, k=10):
    docs = [json.loads(line) for line in open(f"{out}/paragraphs.jsonl", encoding="utf-8")]
    pretokenized = "tokens" in docs[0]
    if pretokenized:
        # The caller's own tokens (e.g. jieba for Chinese): compare ranking engines only.
        queries = [json.loads(line) for line in open(f"{out}/queries.jsonl", encoding="utf-8") if line.strip()]
    else:
        queries = [line.rstrip("\n") for line in open(f"{out}/queries.txt", encoding="utf-8") if line.strip()]
    started = time.perf_counter()
    if pretokenized:
        tokens = [d["tokens"] for d in docs]
    else:
        tokens = bm25s.tokenize([d["text"] for d in docs], stopwords="en", stemmer=STEMMER, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    index_seconds = time.perf_counter() - started
    latencies, results = [], []
    k = min(k, len(docs))
    for q in queries:
        t = time.perf_counter()
        qt = [q] if pretokenized else bm25s.tokenize([q], stopwords="en", stemmer=STEMMER, show_progress=False)
        ids, _scores = retriever.retrieve(qt, k=k, show_progress=False, n_threads=1)
        latencies.append((time.perf_counter() - t) * 1000.0)
        results.append([docs[i]["id"] for i in ids[0]])
    latencies.sort()
    pick = lambda q: latencies[round((len(latencies) - 1) * q)]
    print(json.dumps({
        "peer": f"bm25s {bm25s.__version__}" + ("" if pretokenized else (" + PyStemmer" if STEMMER else "")),
        "index_seconds": index_seconds,
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "results": results,
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
