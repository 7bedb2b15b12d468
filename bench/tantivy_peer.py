"""The tantivy (PyPI, the Python binding of the Rust engine) peer for `cairn bench`: indexes
the same paragraphs with its English stemming tokenizer and answers the same queries one at
a time (parse + top-10 search), on one indexing thread.

Usage: python3 bench/tantivy_peer.py OUT_DIR [K]   (reads paragraphs.jsonl and queries.txt; K = 10)
Prints one JSON object: {"peer", "index_seconds", "p50_ms", "p99_ms", "results"}.
"""
import json
import re
import sys
import time

import tantivy


def main(out, k=10):
    docs = [json.loads(line) for line in open(f"{out}/paragraphs.jsonl", encoding="utf-8")]
    queries = [line.rstrip("\n") for line in open(f"{out}/queries.txt", encoding="utf-8") if line.strip()]
    started = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for d in docs:
        writer.add_document(tantivy.Document(id=d["id"], body=d["text"]))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    index_seconds = time.perf_counter() - started
    latencies, results = [], []
    for q in queries:
        t = time.perf_counter()
        # Plain words only: the query language treats ':' '(' '"' etc. as operators.
        text = re.sub(r"[^\w\s]", " ", q)
        query = index.parse_query(text, ["body"])
        hits = searcher.search(query, k).hits
        ids = [searcher.doc(addr)["id"][0] for _score, addr in hits]
        latencies.append((time.perf_counter() - t) * 1000.0)
        results.append(ids)
    latencies.sort()
    pick = lambda p: latencies[round((len(latencies) - 1) * p)]
    version = getattr(tantivy, "__version__", "")
    print(json.dumps({"peer": f"tantivy-py {version}".strip(), "index_seconds": index_seconds,
                      "p50_ms": pick(0.5), "p99_ms": pick(0.99), "results": results}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
