#!/usr/bin/env python3
"""Write the Debian Reference (English side of the set `scripts/build-debref.py` builds) as
Markdown files, one per chapter, for a training knowledge base:

  python scripts/debref-docs.py data/debref/zh-en/corpus.jsonl OUT_DIR
  cairn --kb KB ingest OUT_DIR/*.md

The Debian Reference is training data for `cairn train data` (issue 18); dossier-bench
stays test-only.
"""
import collections
import json
import os
import sys


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    chapters = collections.OrderedDict()
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            chapter = row["title"].split(".", 1)[0].strip()
            chapters.setdefault(chapter, []).append(row)
    for chapter, rows in chapters.items():
        path = os.path.join(out, f"debian-reference-{chapter.lower()}.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"# Debian Reference, chapter {chapter}\n\n")
            for row in rows:
                f.write(f"## {row['title']}\n\n{row['text'].strip()}\n\n")
    print(f"{len(chapters)} chapters written to {out}")


if __name__ == "__main__":
    main()
