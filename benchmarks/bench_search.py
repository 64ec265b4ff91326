"""Search benchmark: dscref's batched engine (DSC and IVF) vs faiss IndexIVFPQ and IVFPQ-FastScan.

``python benchmarks/bench_search.py --out docs/perf/search --threads 2`` (also
``bench_peers.py --only search``). Synthetic clustered data (``bench_peers.clustered``: 1000
class centres, 256-d), K = 1000 lists, 8-byte codes (M = 8 x 8 bits; FastScan: M = 16 x 4
bits), 220 queries, k = 100, at n = 300k and 1M:

* dscref DSC (``SemanticIndex``, head = the 5 partitions with the nearest means: a stand-in for
  the classifier) and dscref IVF (``IVFIndex``, head = 5 nearest centroids);
* faiss ``IndexIVFPQ`` and ``IndexIVFPQFastScan`` at DSC's candidate count ("equal
  candidates", the issue's target: time and recall interpolated linearly between the two nprobe
  that bracket it), at the smallest nprobe reaching DSC's recall@100 ("equal recall"), and at
  nprobe = 5 (dscref IVF's head: the same lists, "nprobe5");
* per query: one query at a time and the 220 as one batch; all in one process, same threads,
  min of ``--repeat`` runs after :func:`bench_peers.settle` (the quiet-machine rule).

The dscref times are warm: the engine's pair tables are made by the first search (its time is
reported apart as ``first_search_s``). Cost curves: time per query vs n (batched and single) and
vs batch size at the first n. Writes search.json, search.md, search_curves.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
log = logging.getLogger("bench_search")

K, D, NQ, TOPK, HEAD = 1000, 256, 220, 100, 5
NPROBES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32)


def _per_query(t, nq):
    return {k: (v / nq if k.endswith("_s") else v) for k, v in t.items()}


def _single(search, queries):
    return lambda: [search(q) for q in queries]


def setup(n, seed):
    """Data, queries, exact top-100 and the two dscref indexes (build times recorded)."""
    import bench_peers as bp

    from dscref.index import IVFIndex, SemanticIndex

    x, labels, _ = bp.clustered(n, D, K, seed)
    rng = np.random.default_rng(seed + 1)
    xq = x[rng.choice(n, NQ, replace=False)] + 0.3 * rng.standard_normal((NQ, D)).astype(np.float32)
    truth = bp.exact_knn(xq, x, TOPK)
    info = {"n": n, "d": D, "K": K, "nq": NQ, "k": TOPK, "head": HEAD}
    t0 = time.perf_counter()
    dsc = SemanticIndex(K, M=8, nbits=8, n_iter=6, seed=seed, progress=False).build(x, labels)
    info["dsc_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ivf = IVFIndex(K, M=8, nbits=8, n_iter=6, coarse_iter=10, seed=seed).build(x)
    info["ivf_build_s"] = time.perf_counter() - t0
    dq = (xq ** 2).sum(1)[:, None] - 2 * xq @ dsc.centroids_.T + (dsc.centroids_ ** 2).sum(1)[None]
    top = np.argsort(dq, 1)[:, :HEAD]
    qd = [dsc.encode_query(xq[i], top_labels=top[i]) for i in range(NQ)]
    qi = [ivf.encode_query(xq[i], n_probe=HEAD) for i in range(NQ)]
    return x, xq, truth, info, (dsc, qd), (ivf, qi)


def bench_dscref(name, ix, qs, truth, rep):
    import bench_peers as bp

    t0 = time.perf_counter()
    r = ix.search(qs, TOPK)  # makes the pair tables
    e = {"first_search_s": time.perf_counter() - t0, "recall_at_100": bp.recall(r.I, truth, TOPK),
         "candidates_per_query": float(r.n_candidates.mean())}
    t, _ = bp.timed(lambda: ix.search(qs, TOPK), rep)
    e["batch"] = _per_query(t, len(qs))
    t, _ = bp.timed(_single(lambda q: ix.search(q, TOPK), qs), rep)
    e["single"] = _per_query(t, len(qs))
    log.info("%s: %.1f cand/q recall %.3f; batch %.1f us/q, single %.1f us/q", name, e["candidates_per_query"],
             e["recall_at_100"], e["batch"]["min_s"] * 1e6, e["single"]["min_s"] * 1e6)
    return e


def faiss_index(x, kind, seed):
    import faiss

    quant = faiss.IndexFlatL2(D)
    fi = (faiss.IndexIVFPQ(quant, D, K, 8, 8) if kind == "ivfpq"
          else faiss.IndexIVFPQFastScan(quant, D, K, 16, 4))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    fi.train(x[rng.choice(x.shape[0], min(x.shape[0], 100 * K), replace=False)])
    fi.add(x)
    return fi, quant, time.perf_counter() - t0


def bench_faiss(kind, x, xq, truth, target_cand, target_recall, rep, seed):
    """Sweep nprobe, then time the points that matter: the two nprobe bracketing DSC's candidate
    count (``equal_candidates``: time and recall interpolated linearly in the candidate count),
    the smallest nprobe reaching DSC's recall (``equal_recall``) and nprobe = 5 (``nprobe5``:
    dscref IVF's head, the same lists)."""
    import bench_peers as bp

    fi, quant, build = faiss_index(x, kind, seed)
    sizes = np.array([fi.invlists.list_size(i) for i in range(K)])
    sweep = []
    for nprobe in NPROBES:
        fi.nprobe = nprobe
        lists = quant.search(xq, nprobe)[1]
        sweep.append({"nprobe": nprobe, "candidates_per_query": float(sizes[lists].sum(1).mean()),
                      "recall_at_100": bp.recall(fi.search(xq, TOPK)[1], truth, TOPK)})
    below = [s for s in sweep if s["candidates_per_query"] <= target_cand] or sweep[:1]
    above = [s for s in sweep if s["candidates_per_query"] >= target_cand] or sweep[-1:]
    lo, hi = below[-1], above[0]
    eq_r = next((s for s in sweep if s["recall_at_100"] >= target_recall), sweep[-1])
    same = next(s for s in sweep if s["nprobe"] == HEAD)
    e = {"build_s": build, "sweep": sweep}
    timed_at = {}
    for point in (lo, hi, eq_r, same):
        if point["nprobe"] in timed_at:
            continue
        fi.nprobe = point["nprobe"]
        tb, _ = bp.timed(lambda: fi.search(xq, TOPK), rep)
        ts, _ = bp.timed(lambda: [fi.search(xq[i:i + 1], TOPK) for i in range(xq.shape[0])], rep)
        timed_at[point["nprobe"]] = {**point, "batch": _per_query(tb, NQ), "single": _per_query(ts, NQ)}
    e["equal_recall"], e["nprobe5"] = timed_at[eq_r["nprobe"]], timed_at[same["nprobe"]]
    a, b = timed_at[lo["nprobe"]], timed_at[hi["nprobe"]]
    span = b["candidates_per_query"] - a["candidates_per_query"]
    w = 0.0 if span <= 0 else (target_cand - a["candidates_per_query"]) / span
    e["equal_candidates"] = {
        "nprobe": f"{a['nprobe']}-{b['nprobe']}" if a is not b else str(a["nprobe"]),
        "interpolation_weight": w, "candidates_per_query": target_cand,
        "recall_at_100": (1 - w) * a["recall_at_100"] + w * b["recall_at_100"],
        **{mode: {"min_s": (1 - w) * a[mode]["min_s"] + w * b[mode]["min_s"]} for mode in ("batch", "single")}}
    for label in ("equal_candidates", "equal_recall", "nprobe5"):
        p = e[label]
        log.info("faiss %s %s: nprobe %s, %.0f cand/q, recall %.3f; batch %.1f us/q, single %.1f us/q", kind,
                 label, p["nprobe"], p["candidates_per_query"], p["recall_at_100"], p["batch"]["min_s"] * 1e6,
                 p["single"]["min_s"] * 1e6)
    return e


def ratios(res):
    """dscref / faiss per query (lower is better) for every scale, mode and matching (DSC:
    faiss at DSC's candidate count and recall; IVF: faiss probing the same 5 lists)."""
    out = {}
    for n, r in res["scales"].items():
        for who, matches in (("dsc", ("equal_candidates", "equal_recall")), ("ivf", ("nprobe5", "equal_recall"))):
            for peer in ("ivfpq", "fastscan"):
                for match in matches:
                    for mode in ("single", "batch"):
                        out[f"{n}/{who}/{peer}/{match}/{mode}"] = (r[who][mode]["min_s"]
                                                                   / r[peer][match][mode]["min_s"])
    return out


def batch_curve(ix, qs, rep):
    import bench_peers as bp

    out = []
    for b in (1, 4, 16, 64, NQ):
        t, _ = bp.timed(lambda: [ix.search(qs[i:i + b], TOPK) for i in range(0, NQ - b + 1, b)], rep)
        out.append({"batch": b, "per_query_s": t["min_s"] / (NQ // b * b)})
    return out


def markdown(res) -> str:
    import bench_peers as bp

    rows = [bp.verdict(res), "",
            "Ratios: dscref / faiss per query (lower is better); DSC against faiss at DSC's candidate count, "
            "IVF against faiss probing the same 5 lists.", "",
            "| n | dscref | candidates / q | recall@100 | single: us/q (/ IVFPQ, / FastScan) "
            "| batch of 220: us/q (/ IVFPQ, / FastScan) |", "|---|---|---|---|---|---|"]
    for n, r in res["scales"].items():
        for who in ("dsc", "ivf"):
            e = r[who]
            cells = []
            match = "equal_candidates" if who == "dsc" else "nprobe5"
            for mode in ("single", "batch"):
                a = e[mode]["min_s"]
                cells.append(f"{a * 1e6:.1f} ({a / r['ivfpq'][match][mode]['min_s']:.2f}, "
                             f"{a / r['fastscan'][match][mode]['min_s']:.2f})")
            rows.append(f"| {int(n):,} | {who.upper()} | {e['candidates_per_query']:.0f} | {e['recall_at_100']:.3f} "
                        f"| {cells[0]} | {cells[1]} |")
        for peer in ("ivfpq", "fastscan"):
            for match in ("equal_candidates", "nprobe5", "equal_recall"):
                p = r[peer][match]
                rows.append(f"| {int(n):,} | faiss {peer} nprobe {p['nprobe']} ({match.replace('_', ' ')}) "
                            f"| {p['candidates_per_query']:.0f} | {p['recall_at_100']:.3f} "
                            f"| {p['single']['min_s'] * 1e6:.1f} | {p['batch']['min_s'] * 1e6:.1f} |")
    return "\n".join(rows) + "\n"


def plot(res, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dscref._files import atomic_open

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ns = sorted(int(n) for n in res["scales"])
    for who, style in (("dsc", "o-"), ("ivf", "s-"), ("ivfpq", "^--"), ("fastscan", "v--")):
        for mode, alpha in (("batch", 1.0), ("single", 0.5)):
            ys = [(res["scales"][str(n)][who] if who in ("dsc", "ivf") else
                   res["scales"][str(n)][who]["equal_candidates"])[mode]["min_s"] * 1e6 for n in ns]
            a.plot(ns, ys, style, alpha=alpha, label=f"{who} {mode}")
    a.set(xscale="log", yscale="log", xlabel="database size n", ylabel="us per query",
          title="equal candidates, k = 100")
    a.legend(fontsize=7)
    for who, curve in res["batch_curves"].items():
        b.plot([c["batch"] for c in curve], [c["per_query_s"] * 1e6 for c in curve], "o-", label=who)
    b.set(xscale="log", yscale="log", xlabel="queries per search call", ylabel="us per query",
          title=f"n = {ns[0]:,}")
    b.legend(fontsize=7)
    for ax in (a, b):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic_open(out / "search_curves.png") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)


def run(out: Path, sizes, threads: int, rep: int, seed: int) -> dict:
    import faiss
    import numba

    import bench_peers as bp

    from dscref._files import atomic_write_text

    numba.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    res = {"machine": {"cpus": os.cpu_count(), "faiss": faiss.__version__, "numba": numba.__version__,
                       "threads": threads, "load_start": bp.load()}, "scales": {}, "batch_curves": {}}
    for n in sizes:
        x, xq, truth, info, (dsc, qd), (ivf, qi) = setup(n, seed)
        r = {"info": info}
        r["dsc"] = bench_dscref("dsc", dsc, qd, truth, rep)
        r["ivf"] = bench_dscref("ivf", ivf, qi, truth, rep)
        for kind in ("ivfpq", "fastscan"):
            r[kind] = bench_faiss(kind, x, xq, truth, r["dsc"]["candidates_per_query"],
                                  r["dsc"]["recall_at_100"], rep, seed)
        if not res["batch_curves"]:
            res["batch_curves"] = {"dsc": batch_curve(dsc, qd, rep), "ivf": batch_curve(ivf, qi, rep)}
        res["scales"][str(n)] = r
        del x, dsc, ivf
        res["machine"]["max_load_before_an_operation"] = max(bp.LOADS_BEFORE, default=bp.load())
        res["machine"]["quiet"] = res["machine"]["max_load_before_an_operation"] <= bp.QUIET_LOAD
        res["ratios"] = ratios(res)
        atomic_write_text(out / "search.json", json.dumps(res, indent=1, default=float))
    plot(res, out)
    atomic_write_text(out / "search.md", markdown(res))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench_results/search")
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settle", type=float, default=60.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    import bench_peers as bp

    bp.SETTLE_S = args.settle
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = run(out, [int(s) for s in args.sizes.split(",")], args.threads, args.repeat, args.seed)
    print(markdown(res))
    print(json.dumps(res["ratios"], indent=1))


if __name__ == "__main__":
    main()
