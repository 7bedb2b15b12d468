#!/usr/bin/env python3
"""Check the bundled pharmacology knowledge graph against the bundled handbook.

Usage:
    scripts/check-pharmacology-graph.py [GRAPH_JSONL] [HANDBOOK_MD]

Defaults are the files under crates/cairn-engine/demo/: the entities
(pharmacology-entities.jsonl) with the hand-curated facts
(pharmacology-curated.jsonl), which the bundled rules are tested against (the
bundled graph itself is extracted by the rules when it is loaded). The checker

  (a) parses the handbook into sections by `### N.M` headings and each section
      into paragraphs (blank-line separated blocks; a table or a list is one
      paragraph);
  (b) checks that every `quote` (and `nti_quote`, `sensitivity_quote`) occurs
      verbatim in one paragraph of the section it cites;
  (c) checks node labels and ids, relationship endpoints (METABOLIZED_BY ->
      Enzyme, SUBSTRATE_OF -> Transporter, INHIBITS/INDUCES -> Enzyme or
      Transporter, INTERACTS_WITH -> Drug), duplicate node ids, duplicate
      (rel, from, to) lines (INTERACTS_WITH is compared as an unordered pair),
      and the allowed values of fraction, sensitivity, strength and severity;
  (d) prints counts per node label and relationship type.

Warnings (printed, not counted as problems) flag quotes that do not mention one
of the two endpoints by id, name or alias; they are hints for manual review.

Exit status is 0 when there are no problems, 1 otherwise.
"""

import json
import re
import sys
from collections import Counter, OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GRAPH = [
    ROOT / "crates/cairn-engine/demo/pharmacology-entities.jsonl",
    ROOT / "crates/cairn-engine/demo/pharmacology-curated.jsonl",
]
DEFAULT_HANDBOOK = ROOT / "crates/cairn-engine/demo/pharmacology-handbook.md"

SECTION_RE = re.compile(r"^###\s+(\d+\.\d+)\s+(.*?)\s*$")
HEADING_RE = re.compile(r"^#{1,6}\s")

NODE_LABELS = {"Drug", "Enzyme", "Transporter"}
REL_TARGETS = {
    "METABOLIZED_BY": {"Enzyme"},
    "SUBSTRATE_OF": {"Transporter"},
    "INHIBITS": {"Enzyme", "Transporter"},
    "INDUCES": {"Enzyme", "Transporter"},
    "INTERACTS_WITH": {"Drug"},
}
FRACTIONS = {"major", "minor", "unspecified"}
SENSITIVITIES = {"sensitive", "moderate"}
STRENGTHS = {"strong", "moderate", "weak", "weak-to-moderate", "unspecified"}
SEVERITIES = {"contraindicated", "major", "moderate", "minor"}
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def parse_handbook(path):
    """Return OrderedDict section -> {"title": str, "paragraphs": [str]}."""
    sections = OrderedDict()
    current = None
    block = []

    def flush():
        if current is not None and block:
            sections[current]["paragraphs"].append("\n".join(block))
        block.clear()

    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = SECTION_RE.match(line)
        if m:
            flush()
            current = m.group(1)
            sections[current] = {"title": m.group(2), "paragraphs": []}
            continue
        if HEADING_RE.match(line):
            # A chapter heading ends the current section.
            flush()
            current = None
            continue
        if line.strip() == "":
            flush()
        elif current is not None:
            block.append(line)
    flush()
    return sections


def quote_ok(sections, section, quote):
    sec = sections.get(section)
    if sec is None:
        return False
    return any(quote in p for p in sec["paragraphs"])


def main(argv):
    graph_paths = [Path(argv[1])] if len(argv) > 1 else DEFAULT_GRAPH
    handbook_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_HANDBOOK
    sections = parse_handbook(handbook_path)

    problems = []
    warnings = []
    nodes = {}
    rels = []

    def problem(lineno, msg):
        problems.append(f"line {lineno}: {msg}")

    def check_quote(lineno, obj, qkey, skey):
        q = obj.get(qkey)
        s = obj.get(skey)
        if q is None and s is None:
            return
        if not isinstance(q, str) or not q.strip():
            problem(lineno, f"{qkey} missing or empty")
            return
        if not isinstance(s, str) or s not in sections:
            problem(lineno, f"{skey} {s!r} is not a handbook section")
            return
        if q != q.strip():
            problem(lineno, f"{qkey} has leading/trailing whitespace")
        if not quote_ok(sections, s, q):
            problem(lineno, f"{qkey} not found verbatim in section {s}: {q[:90]!r}")

    lines = [l for p in graph_paths for l in p.read_text(encoding="utf-8").splitlines()]
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            problem(lineno, "blank line")
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            problem(lineno, f"invalid JSON: {e}")
            continue
        if not isinstance(obj, dict):
            problem(lineno, "not a JSON object")
            continue
        if "node" in obj and "rel" in obj:
            problem(lineno, "line has both 'node' and 'rel'")
            continue
        if "node" in obj:
            label = obj["node"]
            nid = obj.get("id")
            if label not in NODE_LABELS:
                problem(lineno, f"unknown node label {label!r}")
                continue
            if not isinstance(nid, str) or not nid:
                problem(lineno, "node without id")
                continue
            if label == "Drug" and not ID_RE.match(nid):
                problem(lineno, f"drug id {nid!r} must be lowercase with hyphens")
            if nid in nodes:
                problem(lineno, f"duplicate node id {nid!r} (first on line {nodes[nid]['_line']})")
                continue
            for key in ("name", "zh", "section"):
                if not isinstance(obj.get(key), str) or not obj.get(key):
                    problem(lineno, f"node {nid}: missing {key}")
            if not isinstance(obj.get("aliases"), list) or not all(
                isinstance(a, str) for a in obj.get("aliases", [None])
            ):
                problem(lineno, f"node {nid}: aliases must be a list of strings")
            if obj.get("section") not in sections:
                problem(lineno, f"node {nid}: section {obj.get('section')!r} not in handbook")
            if label == "Drug":
                if not isinstance(obj.get("class"), str) or not obj.get("class"):
                    problem(lineno, f"drug {nid}: missing class")
                if obj.get("nti") is not None:
                    if obj["nti"] is not True:
                        problem(lineno, f"drug {nid}: nti must be true when present")
                    if "nti_quote" not in obj:
                        problem(lineno, f"drug {nid}: nti without nti_quote")
                check_quote(lineno, obj, "nti_quote", "nti_section")
            obj["_line"] = lineno
            nodes[nid] = obj
        elif "rel" in obj:
            obj["_line"] = lineno
            rels.append(obj)
        else:
            problem(lineno, "line has neither 'node' nor 'rel'")

    # Every chapter-7 monograph must have exactly one Drug node with that section.
    monographs = {s: v["title"] for s, v in sections.items() if s.startswith("7.")}
    drug_by_section = Counter(
        n["section"] for n in nodes.values() if n["node"] == "Drug" and n["section"].startswith("7.")
    )
    for s, title in monographs.items():
        if drug_by_section[s] != 1:
            problems.append(f"monograph {s} {title}: {drug_by_section[s]} Drug nodes (expected 1)")

    seen = {}
    for r in rels:
        ln = r["_line"]
        rel = r.get("rel")
        frm, to = r.get("from"), r.get("to")
        if rel not in REL_TARGETS:
            problem(ln, f"unknown relationship type {rel!r}")
            continue
        src = nodes.get(frm)
        dst = nodes.get(to)
        if src is None:
            problem(ln, f"{rel}: unknown from id {frm!r}")
        elif src["node"] != "Drug":
            problem(ln, f"{rel}: from {frm!r} is a {src['node']}, expected Drug")
        if dst is None:
            problem(ln, f"{rel}: unknown to id {to!r}")
        elif dst["node"] not in REL_TARGETS[rel]:
            problem(ln, f"{rel}: to {to!r} is a {dst['node']}, expected {sorted(REL_TARGETS[rel])}")
        if frm == to:
            problem(ln, f"{rel}: self-loop on {frm!r}")
        key = (rel, frozenset((frm, to))) if rel == "INTERACTS_WITH" else (rel, frm, to)
        if key in seen:
            problem(ln, f"duplicate {rel} {frm} -> {to} (first on line {seen[key]})")
        else:
            seen[key] = ln

        if "quote" not in r or "section" not in r:
            problem(ln, f"{rel} {frm}->{to}: missing quote or section")
        check_quote(ln, r, "quote", "section")
        check_quote(ln, r, "sensitivity_quote", "sensitivity_section")

        if rel == "METABOLIZED_BY":
            f = r.get("fraction")
            if isinstance(f, bool) or not (
                f in FRACTIONS or (isinstance(f, (int, float)) and 0 <= f <= 1)
            ):
                problem(ln, f"{frm}->{to}: bad fraction {f!r}")
            s = r.get("sensitivity")
            if s is not None and s not in SENSITIVITIES:
                problem(ln, f"{frm}->{to}: bad sensitivity {s!r}")
            if s is not None and "sensitivity_quote" not in r and not re.search(
                r"sensitive", r.get("quote", ""), re.I
            ):
                problem(ln, f"{frm}->{to}: sensitivity without a supporting quote")
        if rel in ("INHIBITS", "INDUCES"):
            st = r.get("strength")
            if st not in STRENGTHS:
                problem(ln, f"{rel} {frm}->{to}: bad strength {st!r}")
            if "mechanism_based" in r and r["mechanism_based"] is not True:
                problem(ln, f"{rel} {frm}->{to}: mechanism_based must be true when present")
        if rel == "INTERACTS_WITH":
            sev = r.get("severity")
            if sev not in SEVERITIES:
                problem(ln, f"{frm}<->{to}: bad severity {sev!r}")

        # Heuristic: the quote should name both endpoints (warning only).
        q = (r.get("quote") or "").lower()
        for end in (frm, to):
            n = nodes.get(end)
            if n is None:
                continue
            names = [end, n.get("name", "")] + list(n.get("aliases", []))
            if n["node"] == "Drug":
                names.append(n.get("zh", ""))
            if not any(x and x.lower() in q for x in names):
                warnings.append(f"line {ln}: {rel} {frm}->{to}: quote does not name {end!r}")

    print(f"graph:    {', '.join(str(p) for p in graph_paths)}")
    print(f"handbook: {handbook_path} ({len(sections)} sections)")
    print("nodes:")
    for label, c in sorted(Counter(n["node"] for n in nodes.values()).items()):
        print(f"  {label:<15} {c}")
    print(f"  {'total':<15} {len(nodes)}")
    print("relationships:")
    for rel, c in sorted(Counter(r.get("rel") for r in rels).items()):
        print(f"  {rel:<15} {c}")
    print(f"  {'total':<15} {len(rels)}")
    if warnings:
        print(f"warnings ({len(warnings)}):")
        for w in warnings:
            print("  " + w)
    print(f"problems: {len(problems)}")
    for p in problems:
        print("  " + p)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
