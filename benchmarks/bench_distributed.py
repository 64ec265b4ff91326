"""Sharded DSC build with Dask on a local cluster: throughput, peak RSS per worker, query latency.

The database is :func:`dscref.distributed.synthetic_database`: every task generates its own chunk
of the synthetic benchmark (the same rows as ``make_semantic_dataset``), so 10M x 2048 float32
(82 GB) is never held in memory or written to disk. Steps:

1. start ``LocalCluster(n_workers, threads_per_worker=1, processes=True)``;
2. warm-up: a tiny sharded build compiles the Numba kernels in every worker (``warmup_s``);
3. :func:`build_semantic_index_dask` (label pass, sample gather + training on one worker, model
   broadcast, encode + shard write), wall time and items/s;
4. peak RSS (VmHWM) of every worker, the scheduler and this process;
5. the 55 synthetic queries: device-side encoding (``ShardedSearcher.encode_query``), search
   latency with the shards memory-mapped in this process and through Dask futures, shards
   touched per query, candidates scanned, mAP against the generator's ground truth.

Usage::

    python benchmarks/bench_distributed.py --n 200000 --sample 50000        # minutes
    python benchmarks/bench_distributed.py --n 10000000 --sample 500000 --shards 16 \\
        --out /tmp/dsc10m --json docs/distributed/bench_10m.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time

import numpy as np


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="database items")
    ap.add_argument("--chunk-rows", type=int, default=65536)
    ap.add_argument("--sample", type=int, default=500_000, help="training sample size (uniform)")
    ap.add_argument("--per-partition", type=int, default=None,
                    help="stratified training sample: about this many rows per partition")
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="10GiB", help="per worker")
    ap.add_argument("--n-iter", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/dscref_sharded", help="index directory (deleted first)")
    ap.add_argument("--keep", action="store_true", help="keep the index directory")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    log = logging.getLogger("bench_distributed")

    import dask
    import distributed
    from distributed import Client, LocalCluster

    import dscref
    from dscref.distributed import ShardedSearcher, build_semantic_index_dask, synthetic_database, synthetic_plan
    from dscref.metrics import compute_map

    res = {"params": vars(args), "versions": {"dscref": dscref.__version__, "dask": dask.__version__,
                                              "distributed": distributed.__version__, "numpy": np.__version__},
           "cpu_count": os.cpu_count()}
    shutil.rmtree(args.out, ignore_errors=True)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           memory_limit=args.memory_limit, dashboard_address=":0")
    client = Client(cluster)
    try:
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        build_semantic_index_dask(rng.standard_normal((4000, 64)).astype(np.float32), rng.integers(0, 8, 4000),
                                  args.out + "_warmup", n_lists=8, M=8, n_iter=2, sample_size=2000,
                                  n_shards=args.workers, client=client)
        shutil.rmtree(args.out + "_warmup")
        res["warmup_s"] = time.perf_counter() - t0
        log.info("warm-up (Numba compile in %d workers): %.1f s", args.workers, res["warmup_s"])

        t0 = time.perf_counter()
        x, y = synthetic_database(args.n, chunk_rows=args.chunk_rows, seed=args.seed)
        manifest = build_semantic_index_dask(x, y, args.out, n_iter=args.n_iter, seed=args.seed,
                                             sample_size=args.sample, per_partition=args.per_partition,
                                             n_shards=args.shards, client=client)
        wall = time.perf_counter() - t0
        res["build"] = {"wall_s": wall, "items_per_s": args.n / wall, **manifest["timings"],
                        "n_shards": manifest["n_shards"], "sampling": manifest["sampling"],
                        "sample_rows": manifest["sample_size"],
                        "index_bytes": int(sum(s["bytes"] for s in manifest["shards"])),
                        "shard_items": [s["n_items"] for s in manifest["shards"]],
                        "quantizers": int(sum(s["n_quantizers"] for s in manifest["shards"]))}
        res["build"]["index_bytes_per_item"] = res["build"]["index_bytes"] / args.n
        res["peak_rss_mb"] = {"workers": client.run(_vmhwm_mb)}
        log.info("build: %.0f s, %.0f items/s, peak RSS per worker %s MB", wall, args.n / wall,
                 {k: round(v) for k, v in res["peak_rss_mb"]["workers"].items()})

        # queries of the synthetic benchmark (the generator's plan: metadata only, no features)
        plan = synthetic_plan(args.n, seed=args.seed)
        t = time.perf_counter()
        plan.rows(0, min(args.chunk_rows, args.n))
        res["generation_rows_per_s_one_core"] = min(args.chunk_rows, args.n) / (time.perf_counter() - t)
        gnd = [{"ok": plan.gnd_inst[i]["ok"], "junk": plan.gnd_inst[i]["junk"]} for i in plan.instance_q]
        for mode in ("local", "dask"):
            t0 = time.perf_counter()
            searcher = ShardedSearcher(args.out, client=client if mode == "dask" else None)
            open_s = time.perf_counter() - t0
            qs = [searcher.encode_query(plan.xq[i], plan.topk_q[i][:5]) for i in range(len(plan.xq))]
            first = time.perf_counter()
            searcher.search(qs[0], 100)
            first = time.perf_counter() - first
            lat = []
            I = np.empty((len(qs), 100), np.int64)
            ncand = np.empty(len(qs), np.int64)
            for i, q in enumerate(qs):
                t = time.perf_counter()
                r = searcher.search(q, 100)
                lat.append(time.perf_counter() - t)
                I[i], ncand[i] = r.I[0], r.n_candidates[0]
            fan = [len({int(searcher.owner[l]) for l in q.labels}) for q in qs]
            res[f"query_{mode}"] = {"open_s": open_s, "first_query_ms": first * 1e3,
                                    "latency_ms_median": float(np.median(lat) * 1e3),
                                    "latency_ms_p95": float(np.percentile(lat, 95) * 1e3),
                                    "shards_per_query": float(np.mean(fan)),
                                    "candidates_per_query": float(ncand.mean()),
                                    "mAP": float(compute_map(I, gnd)[0])}
            log.info("%s search: %s", mode, res[f"query_{mode}"])
        # LocalCluster runs the scheduler in this process; it also holds the generator's plan
        res["peak_rss_mb"]["client_and_scheduler"] = _vmhwm_mb()
    finally:
        client.close()
        cluster.close()
        if not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)
    text = json.dumps(res, indent=1, default=float)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            f.write(text)
    print(text)
    return res


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
