#!/usr/bin/env python3
"""Text extraction of `cairn bench formats`' generated files with the Python libraries
people use for them, timed on the same files: python-docx, openpyxl, python-pptx, the
standard library's email and csv, markdown-it-py and the standard library's html.parser.
A library that is not installed is left out (its row shows no peer).

  python3 bench/formats_peer.py DIR RUNS   -> JSON {format: {library, seconds}}
"""
import csv
import email
import email.policy
import json
import sys
import time
from html.parser import HTMLParser
from pathlib import Path


def best(fn, runs):
    t = float("inf")
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - s)
    return t


def docx_text(path):
    import docx

    d = docx.Document(path)
    return [p.text for p in d.paragraphs]


def xlsx_text(path):
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    return [[c for c in row] for ws in wb.worksheets for row in ws.iter_rows(values_only=True)]


def pptx_text(path):
    import pptx

    p = pptx.Presentation(path)
    return [sh.text_frame.text for s in p.slides for sh in s.shapes if sh.has_text_frame]


def eml_text(path):
    m = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
    body = m.get_body(preferencelist=("plain", "html"))
    return [m["From"], m["Subject"], body.get_content() if body else ""]


def csv_text(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def md_text(path):
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").parse(Path(path).read_text(encoding="utf-8"))


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def html_text(path):
    p = _Text()
    p.feed(Path(path).read_text(encoding="utf-8"))
    return p.parts


PEERS = {
    "docx": ("python-docx", "bench.docx", docx_text),
    "xlsx": ("openpyxl", "bench.xlsx", xlsx_text),
    "pptx": ("python-pptx", "bench.pptx", pptx_text),
    "eml": ("email (stdlib)", "bench.eml", eml_text),
    "csv": ("csv (stdlib)", "bench.csv", csv_text),
    "md": ("markdown-it-py", "bench.md", md_text),
    "html": ("html.parser (stdlib)", "bench.html", html_text),
}


def main():
    folder, runs = Path(sys.argv[1]), int(sys.argv[2])
    out = {}
    for fmt, (library, name, fn) in PEERS.items():
        path = folder / name
        try:
            fn(path)  # warm up, and fail early if the library is missing
        except ImportError:
            continue
        out[fmt] = {"library": library, "seconds": best(lambda: fn(path), runs)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
