#!/usr/bin/env python3
"""One Markdown row per `cairn eval qa --turns --json` output, in BENCHMARKS.md's QA columns:
passed, facts covered, documents cited, abstained, abstention P / R / F1 over the negative
turns, planted words leaked, extractive fallbacks, model tokens per turn, p50 / p90 latency.
With two files, also the turns the second wins and loses against the first.

  python bench/qa_summary.py base.json adapted.json
"""
import json
import sys


def row(path):
    turns = json.load(open(path, encoding="utf-8"))["turns"]
    neg = [t for t in turns if t["group"] == "negative"]
    abst = [t for t in turns if t["abstained"]]
    tp = sum(1 for t in neg if t["abstained"])
    p = tp / len(abst) if abst else 0.0
    r = tp / len(neg) if neg else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    ms = sorted(t["millis"] for t in turns)
    docs = [t for t in turns if t["must_include_docs"]]
    return turns, (
        f"| {path} | {sum(t['pass'] for t in turns)}/{len(turns)} | "
        f"{sum(t['facts_covered'] for t in turns)}/{sum(t['facts_checkable'] for t in turns)} | "
        f"{sum(1 for t in docs if t['docs_ok'])}/{len(docs)} | {len(abst)} | {p:.2f} / {r:.2f} / {f1:.2f} | "
        f"{sum(1 for t in turns if t['injection_leaked'])} | {sum(1 for t in turns if t.get('extractive_fallback'))} | "
        f"{round(sum(t['llm_tokens'] for t in turns) / len(turns)):,} | "
        f"{ms[len(ms) // 2] / 1000:.1f} / {ms[int(len(ms) * 0.9)] / 1000:.1f} s |")


def main():
    print("| run | passed | facts covered | docs cited | abstained | negatives: abstention P / R / F1 | leaked "
          "| extractive fallbacks | model tokens / turn | p50 / p90 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    runs = []
    for path in sys.argv[1:]:
        turns, line = row(path)
        runs.append(turns)
        print(line)
    if len(runs) == 2:
        key = lambda t: (t.get("scenario"), t.get("turn"), t["question"])  # noqa: E731
        first = {key(t): t for t in runs[0]}
        for label, better in (("wins", 1), ("losses", -1)):
            print(f"\n{label} of the second against the first:")
            for t in runs[1]:
                a = first.get(key(t))
                if a is None:
                    continue
                d = (t["pass"] - a["pass"], t["facts_covered"] - a["facts_covered"])
                if d[0] * better > 0 or (d[0] == 0 and d[1] * better > 0):
                    print(f"- {t['question'][:100]!r}: passed {a['pass']} -> {t['pass']}, "
                          f"facts {a['facts_covered']} -> {t['facts_covered']}")


if __name__ == "__main__":
    main()
