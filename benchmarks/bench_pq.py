"""Benchmark dscref's own k-means, PQ training, encoding and ADC scan (time beside quality).

Peers (faiss, nanopq, scikit-learn) are compared in ``bench_peers.py``; this file times dscref
alone, with Numba compile / cache-load time reported apart from run time.

    python benchmarks/bench_pq.py --out bench_results/pq            # full sizes of the issue
    python benchmarks/bench_pq.py --scale 0.1                        # a quick run

Sizes at scale 1: k-means n=100k, d=256, k=256, 20 iterations; PQ fit n=100k, d=2048, M=8,
nbits=8; encode 200k x 2048; ADC scan over 1M codes (M=8), one query and a batch of 16.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_pq")


def structured_data(n: int, d: int, seed: int, rank: int = 128) -> np.ndarray:
    """Gaussian data with a power-law spectrum on a random ``rank``-dim subspace plus small
    isotropic noise: closer to CNN descriptors than white noise (for which PQ is hopeless)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0].T.astype(np.float32)  # (rank, d)
    scale = (np.arange(1, rank + 1, dtype=np.float32) ** -0.5)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 50000):
        e = min(n, s + 50000)
        z = rng.standard_normal((e - s, rank)).astype(np.float32) * scale
        out[s:e] = z @ basis + 0.05 * rng.standard_normal((e - s, d)).astype(np.float32)
    return out


def timed(fn, repeat: int = 1):
    """(min seconds, median seconds, last result) over ``repeat`` runs."""
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), res


def exact_knn(xq: np.ndarray, xb: np.ndarray, k: int) -> np.ndarray:
    from dscref.scoring import topk

    d = (xq ** 2).sum(1)[:, None] - 2 * xq @ xb.T + (xb ** 2).sum(1)[None]
    return topk(d.astype(np.float32), k)[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench_results/pq", help="output folder for results.json")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size by this (quick runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the fast operations (ADC)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from dscref.kmeans import KMeans
    from dscref.pq import ProductQuantizer
    from dscref.scoring import adc_l2, topk

    s = args.scale
    n_km, n_pq, n_enc, n_scan = int(100_000 * s), int(100_000 * s), int(200_000 * s), int(1_000_000 * s)
    res: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count()))},
                 "params": vars(args), "results": {}}

    # Compile (cold: first call in a fresh cache) or cache load (warm) on tiny inputs.
    t0 = time.perf_counter()
    tiny = structured_data(600, 16, 1, rank=8)
    pq_t = ProductQuantizer(2, 4, n_iter=2, seed=0).fit(tiny)
    adc_l2(pq_t.lut_l2(tiny[:2]), pq_t.encode(tiny))
    pq_t.decode(pq_t.encode(tiny))
    KMeans(4, n_iter=2, seed=0).fit(tiny)
    res["compile_or_cache_load_s"] = time.perf_counter() - t0
    log.info("compile / cache load: %.2f s", res["compile_or_cache_load_s"])

    # k-means
    x = structured_data(n_km, 256, args.seed)
    tmin, tmed, km = timed(lambda: KMeans(256, n_iter=20, tol=0.0, init="random", seed=args.seed).fit(x))
    full_inertia = float(km.predict(x, return_distances=True)[1].sum(dtype=np.float64))
    res["results"]["kmeans"] = {"n": n_km, "d": 256, "k": 256, "iters": 20, "time_s": tmin,
                                "inertia_train_sample": km.inertia_, "inertia_full": full_inertia,
                                "mean_sq_error": full_inertia / n_km}
    log.info("k-means: %.2f s, MSE %.4f", tmin, full_inertia / n_km)
    for init in ("k-means++",):
        t, _, km2 = timed(lambda: KMeans(256, n_iter=20, tol=0.0, init=init, seed=args.seed).fit(x))
        res["results"]["kmeans_pp"] = {"time_s": t, "mean_sq_error":
                                       float(km2.predict(x, return_distances=True)[1].sum(dtype=np.float64)) / n_km}
    del x

    # PQ fit, encode, decode
    xb = structured_data(max(n_pq, n_enc), 2048, args.seed + 1)
    tmin, _, pq = timed(lambda: ProductQuantizer(8, 8, n_iter=25, seed=args.seed).fit(xb[:n_pq]))
    res["results"]["pq_fit"] = {"n": n_pq, "d": 2048, "M": 8, "nbits": 8, "iters": 25, "time_s": tmin}
    log.info("PQ fit: %.2f s", tmin)
    tmin, _, codes = timed(lambda: pq.encode(xb[:n_enc]))
    tdec, _, rec = timed(lambda: pq.decode(codes))
    mse = float(((rec - xb[:n_enc]) ** 2).sum(1).mean())
    res["results"]["encode"] = {"n": n_enc, "time_s": tmin, "mse": mse,
                                "mean_sq_norm": float((xb[:n_enc] ** 2).sum(1).mean())}
    res["results"]["decode"] = {"n": n_enc, "time_s": tdec}
    log.info("encode: %.2f s, MSE %.4f; decode %.2f s", tmin, mse, tdec)

    # ADC scan: recall@10 on the encoded set, speed on 1M codes (the encoded codes tiled)
    rng = np.random.default_rng(args.seed + 2)
    xq = xb[rng.choice(n_enc, 16, replace=False)] + 0.05 * rng.standard_normal((16, 2048)).astype(np.float32)
    luts = pq.lut_l2(xq)
    _, ann = topk(adc_l2(luts, codes), 10)
    truth = exact_knn(xq, xb[:n_enc], 10)
    recall10 = float(np.mean([len(set(a) & set(t)) / 10 for a, t in zip(ann, truth)]))
    big = np.ascontiguousarray(np.resize(codes, (n_scan, 8)))
    t1, m1, _ = timed(lambda: adc_l2(luts[0], big), args.repeat)
    t16, m16, _ = timed(lambda: adc_l2(luts, big), args.repeat)
    res["results"]["adc"] = {"n_codes": n_scan, "M": 8, "single_query_ms": t1 * 1e3,
                             "single_query_median_ms": m1 * 1e3, "batch16_ms_per_query": t16 / 16 * 1e3,
                             "batch16_median_ms_per_query": m16 / 16 * 1e3,
                             "recall_at_10_vs_exact": recall10, "recall_n": n_enc,
                             "bytes_per_s_single": n_scan * 8 / t1}
    log.info("ADC 1 query: %.2f ms; 16 queries: %.2f ms/query; recall@10 %.3f", t1 * 1e3, t16 / 16 * 1e3, recall10)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res["results"], indent=2))
    print(f"compile/cache load: {res['compile_or_cache_load_s']:.2f} s; written {out / 'results.json'}")
    return res


if __name__ == "__main__":
    main()
