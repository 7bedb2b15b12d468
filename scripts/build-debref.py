#!/usr/bin/env python3
"""Builds cross-lingual BEIR folders from the Debian Reference (en + zh-cn, Debian's
`debian-reference-en` / `debian-reference-zh-cn` 2.100, GPL-2+ / see copyright beside it).

The two manuals share their section numbers and their anchor ids, so the pairing is
mechanical: a section's anchor (`_using_gnupg_on_files`) is the same in both. For each
direction (zh->en, en->zh) the corpus is every section of the target language (title plus the
text directly under it, tables included, subsections excluded), and each query is a section
of the source language: its title plus its first sentence. The gold is the section with the
same anchor. Sections without their own text are left out on both sides.

Usage: build-debref.py SRC_DIR OUT_DIR   (SRC_DIR holds chNN.{en,zh-cn}.html)
"""

import html.parser
import json
import os
import re
import sys

HEADINGS = {"h2", "h3", "h4", "h5"}
SKIP = {"script", "style"}


class Sections(html.parser.HTMLParser):
    """Collects (anchor, title, text) for each `<hN class="title"><a id=...>` heading."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections = []
        self.in_heading = False
        self.anchor = None
        self.title = []
        self.skip = 0
        self.in_toc = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and a.get("class") == "toc":
            self.in_toc += 1
        elif tag == "div" and self.in_toc:
            self.in_toc += 1
        if tag in SKIP:
            self.skip += 1
        if tag in HEADINGS and a.get("class") == "title":
            self.in_heading = True
            self.anchor = None
            self.title = []
        elif tag == "a" and self.in_heading and "id" in a and self.anchor is None:
            self.anchor = a["id"]
        elif tag in ("p", "td", "th", "li", "pre", "br") and self.sections:
            self.sections[-1]["text"].append(" ")

    def handle_endtag(self, tag):
        if tag == "div" and self.in_toc:
            self.in_toc -= 1
        if tag in SKIP and self.skip:
            self.skip -= 1
        if tag in HEADINGS and self.in_heading:
            self.in_heading = False
            title = " ".join("".join(self.title).split())
            if self.anchor and re.match(r"^([0-9]+|[A-Z])(\.[0-9]+)+\.", title):
                self.sections.append({"id": self.anchor, "title": title, "text": []})

    def handle_data(self, data):
        if self.skip or self.in_toc:
            return
        if self.in_heading:
            self.title.append(data)
        elif self.sections:
            self.sections[-1]["text"].append(data)


def load(src, lang):
    out = {}
    for name in sorted(os.listdir(src)):
        if re.match(rf"^(ch[0-9]+|apa)\.{re.escape(lang)}\.html$", name):
            p = Sections()
            with open(os.path.join(src, name), encoding="utf-8") as f:
                p.feed(f.read())
            for s in p.sections:
                text = " ".join("".join(s["text"]).split())
                if len(text) >= 20:
                    out[s["id"]] = (s["title"], text)
    return out


def first_sentence(text, limit=160):
    m = re.search(r"^(.+?[。！？!?]|.+?\.(\s|$))", text)
    s = m.group(1) if m else text
    return s[:limit].strip()


def write(out, corpus, queries):
    os.makedirs(os.path.join(out, "qrels"), exist_ok=True)
    with open(os.path.join(out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for key, (title, text) in corpus.items():
            f.write(json.dumps({"_id": key, "title": title, "text": text}, ensure_ascii=False) + "\n")
    shared = [k for k in queries if k in corpus]
    with open(os.path.join(out, "queries.jsonl"), "w", encoding="utf-8") as f:
        for key in shared:
            title, text = queries[key]
            # The section number is shared by both languages; strip it so the query cannot
            # match on the number alone.
            bare = re.sub(r"^([0-9]+|[A-Z])(\.[0-9]+)+\.\s*", "", title)
            f.write(json.dumps({"_id": key, "text": f"{bare} {first_sentence(text)}"}, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "qrels", "test.tsv"), "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for key in shared:
            f.write(f"{key}\t{key}\t1\n")
    return len(corpus), len(shared)


def main():
    src, out = sys.argv[1], sys.argv[2]
    en, zh = load(src, "en"), load(src, "zh-cn")
    for name, corpus, queries in (("zh-en", en, zh), ("en-zh", zh, en)):
        docs, qs = write(os.path.join(out, name), corpus, queries)
        print(f"debian-reference {name}: {docs} sections, {qs} queries")


if __name__ == "__main__":
    main()
