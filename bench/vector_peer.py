"""Vector-search peers for `cairn bench`: hnswlib (and faiss's HNSW when installed) with the
same parameters as Cairn's usearch index (M=16, ef_construction=128, ef_search=64), cosine,
one thread, on the same vectors and queries. Prints a JSON list of peer figures.

Usage: python3 bench/vector_peer.py OUT_DIR   (reads vectors.f32, queries.f32, truth.json)
"""
import json
import sys
import time

import numpy as np


def measure(name, build, search, queries, truth):
    t = time.perf_counter()
    index = build()
    build_seconds = time.perf_counter() - t
    latencies, found = [], 0
    for q, want in zip(queries, truth):
        t = time.perf_counter()
        got = search(index, q)
        latencies.append((time.perf_counter() - t) * 1000.0)
        found += len(set(int(x) for x in got) & set(want))
    latencies.sort()
    pick = lambda p: latencies[round((len(latencies) - 1) * p)]
    return {"peer": name, "build_seconds": build_seconds, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "recall": found / (10 * len(queries))}


def main(out):
    truth = json.load(open(f"{out}/truth.json"))
    queries = np.fromfile(f"{out}/queries.f32", dtype="<f4").reshape(len(truth), -1)
    dim = queries.shape[1]
    data = np.fromfile(f"{out}/vectors.f32", dtype="<f4").reshape(-1, dim)
    peers = []
    import hnswlib

    def hnsw_build():
        index = hnswlib.Index(space="cosine", dim=dim)
        index.init_index(max_elements=len(data), M=16, ef_construction=128)
        index.set_num_threads(1)
        index.add_items(data, np.arange(len(data)))
        index.set_ef(64)
        return index

    peers.append(measure(f"hnswlib {getattr(hnswlib, '__version__', '')}".strip(), hnsw_build,
                         lambda index, q: index.knn_query(q, k=10)[0][0], queries, truth))
    try:
        import faiss

        faiss.omp_set_num_threads(1)

        def faiss_build():
            index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 128
            index.add(data)
            index.hnsw.efSearch = 64
            return index

        peers.append(measure(f"faiss {faiss.__version__} HNSWFlat", faiss_build,
                             lambda index, q: index.search(q.reshape(1, -1), 10)[1][0], queries, truth))
    except ImportError:
        pass
    print(json.dumps(peers))


if __name__ == "__main__":
    main(sys.argv[1])
