#!/usr/bin/env python3
"""Cross-replica edit-to-findable latency (issue 17).

Starts two `cairn serve` replicas on one server store (a fresh database), uploads N small
documents to replica A one at a time, and after each acknowledged upload polls replica B's
`/search` until the document's unique term is found. Prints the distribution as JSON.

    scripts/services.sh
    cargo build --release --bin cairn --features cairn-cli/servers
    python3 bench/replicas.py --store postgres://cairn:cairn@127.0.0.1:5432/cairn -n 100
    python3 bench/replicas.py --store mysql://cairn:cairn@127.0.0.1:3306/cairn -n 100

Only the standard library. The admin URL's user must be able to create databases.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

KEY = "bench-key"


def fresh_database(admin_url, name):
    """Creates `name` next to the admin URL's database with the server's own client."""
    m = re.match(r"(\w+)://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)", admin_url)
    if not m:
        sys.exit(f"cannot parse {admin_url}")
    scheme, user, pw, host, port, db = m.groups()
    if scheme.startswith("postgres"):
        env = dict(os.environ, PGPASSWORD=pw)
        base = ["psql", "-h", host, "-p", port, "-U", user, "-d", db, "-qc"]
        subprocess.run(base + [f"DROP DATABASE IF EXISTS {name}"], check=True, env=env)
        subprocess.run(base + [f"CREATE DATABASE {name}"], check=True, env=env)
    else:
        base = ["mariadb", "-h", host, "-P", port, "-u", user, f"-p{pw}", "-e"]
        subprocess.run(base + [f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} "
                               "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"], check=True)
    return f"{scheme}://{user}:{pw}@{host}:{port}/{name}"


def start(binary, kb, store, follow_ms):
    p = subprocess.Popen(
        [binary, "--kb", kb, "--store", store, "serve", "--addr", "127.0.0.1:0", "--api-key", KEY,
         "--follow-ms", str(follow_ms)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, RAYON_NUM_THREADS="1"))
    for line in p.stderr:
        if "http://" in line:
            return p, line.split("http://")[1].split()[0]
    sys.exit("a replica did not start")


def call(addr, method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(f"http://{addr}{path}", data=body, method=method,
                                 headers={"Authorization": f"Bearer {KEY}", "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True, help="admin URL of the server (a fresh database is made beside it)")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--follow-ms", type=int, default=200)
    ap.add_argument("--binary", default="target/release/cairn")
    args = ap.parse_args()
    store = fresh_database(args.store, "cairn_bench_replicas")
    with tempfile.TemporaryDirectory() as tmp:
        a, addr_a = start(args.binary, os.path.join(tmp, "a"), store, args.follow_ms)
        b, addr_b = start(args.binary, os.path.join(tmp, "b"), store, args.follow_ms)
        try:
            lat, upload = [], []
            for i in range(args.n):
                term = f"zqx{i:05d}marker"
                doc = f"# Note {i}\n\nThe ward protocol {term} requires a second signature.\n".encode()
                t0 = time.perf_counter()
                call(addr_a, "POST", f"/v1/kbs/default/documents?name=note-{i}.md", doc, "application/octet-stream")
                t1 = time.perf_counter()
                upload.append((t1 - t0) * 1000)
                q = json.dumps({"query": term, "mode": "bm25"}).encode()
                while True:
                    if f"note-{i}" in call(addr_b, "POST", "/v1/kbs/default/search", q):
                        break
                    if time.perf_counter() - t1 > 30:
                        sys.exit(f"replica B never found note-{i}")
                    time.sleep(0.005)
                lat.append((time.perf_counter() - t1) * 1000)
            lat.sort()
            pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
            health = json.loads(call(addr_b, "GET", "/health"))
            print(json.dumps({
                "store": store.split("://")[0], "n": args.n, "follow_ms": args.follow_ms,
                "upload_ack_ms_p50": round(statistics.median(upload), 1),
                "findable_on_b_ms": {"p50": round(pct(lat, 50), 1), "p90": round(pct(lat, 90), 1),
                                     "p99": round(pct(lat, 99), 1), "max": round(lat[-1], 1)},
                "replication": health.get("replication"),
            }, indent=1))
        finally:
            a.kill()
            b.kill()


if __name__ == "__main__":
    main()
