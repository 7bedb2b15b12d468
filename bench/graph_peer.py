"""Graph peers for `cairn bench graph`: kuzu and networkx on the same CSV files and the
same queries as Cairn, one thread. Prints a JSON list of figures, including every answer
so that the run can check that all engines agree.

Usage: python3 bench/graph_peer.py OUT_DIR   (reads nodes.csv, edges-plain.csv, graph-queries.json)
"""
import json
import os
import shutil
import sys
import tempfile
import time


def latency(samples):
    samples = sorted(samples)
    pick = lambda p: samples[round((len(samples) - 1) * p)]
    return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "mean_ms": sum(samples) / len(samples)}


def timed(fn, args):
    ms, answers = [], []
    for a in args:
        t = time.perf_counter()
        answers.append(fn(a))
        ms.append((time.perf_counter() - t) * 1000.0)
    return latency(ms), answers


def run_kuzu(out, q):
    import kuzu

    tmp = tempfile.mkdtemp()
    try:
        t = time.perf_counter()
        db = kuzu.Database(os.path.join(tmp, "db"), max_num_threads=1)
        conn = kuzu.Connection(db, num_threads=1)
        conn.execute("CREATE NODE TABLE N(id INT64, PRIMARY KEY(id))")
        conn.execute("CREATE REL TABLE E(FROM N TO N)")
        nodes = os.path.join(tmp, "nodes.csv")
        with open(os.path.join(out, "nodes.csv")) as src, open(nodes, "w") as dst:
            next(src)
            dst.write("id\n")
            for line in src:
                dst.write(line.split(",")[1] + "\n")
        conn.execute(f"COPY N FROM '{nodes}' (HEADER=true)")
        conn.execute(f"COPY E FROM '{os.path.join(out, 'edges-plain.csv')}' (HEADER=true)")
        load = time.perf_counter() - t

        def one(query, params):
            r = conn.execute(query, params)
            return r.get_next()[0] if r.has_next() else None

        hops, answers = [], []
        for k in (1, 2, 3):
            query = f"MATCH (a:N {{id: $id}})-[:E*1..{k}]->(b:N) RETURN count(DISTINCT b)"
            lat, ans = timed(lambda s: one(query, {"id": s}), q["starts"])
            hops.append(lat)
            answers += ans
        sp = "MATCH p = (a:N {id: $a})-[:E* SHORTEST 1..10]->(b:N {id: $b}) RETURN length(p)"

        def shortest(pair):
            v = one(sp, {"a": pair[0], "b": pair[1]})
            return -1 if v is None else int(v)

        lat, ans = timed(shortest, q["pairs"])
        answers += ans
        return {"engine": f"kuzu {kuzu.__version__}", "load_seconds": load, "hops": hops, "shortest": lat,
                "answers": answers}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_networkx(out, q):
    import networkx as nx

    t = time.perf_counter()
    g = nx.DiGraph()
    with open(os.path.join(out, "nodes.csv")) as f:
        next(f)
        g.add_nodes_from(int(line.split(",")[1]) for line in f)
    with open(os.path.join(out, "edges-plain.csv")) as f:
        next(f)
        g.add_edges_from(tuple(map(int, line.split(","))) for line in f)
    load = time.perf_counter() - t

    def reach(k):
        def f(s):
            seen = set()
            for n in g.successors(s):
                seen.update(nx.single_source_shortest_path_length(g, n, cutoff=k - 1))
            return len(seen)
        return f

    hops, answers = [], []
    for k in (1, 2, 3):
        lat, ans = timed(reach(k), q["starts"])
        hops.append(lat)
        answers += ans

    def shortest(pair):
        try:
            d = nx.shortest_path_length(g, pair[0], pair[1])
        except nx.NetworkXNoPath:
            return -1
        return d if d <= 10 else -1

    lat, ans = timed(shortest, q["pairs"])
    answers += ans
    return {"engine": f"networkx {nx.__version__} (DiGraph; multi-edges collapse, which leaves reachability and distances unchanged)",
            "load_seconds": load, "hops": hops, "shortest": lat, "answers": answers}


def main(out):
    q = json.load(open(os.path.join(out, "graph-queries.json")))
    peers = []
    errors = []
    for run in (run_kuzu, run_networkx):
        try:
            peers.append(run(out, q))
        except ImportError as e:
            errors.append(str(e))
    if not peers:
        sys.exit("no graph peer available: " + "; ".join(errors))
    json.dump(peers, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
