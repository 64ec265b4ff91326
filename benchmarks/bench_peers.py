"""dscref next to faiss-cpu, nanopq and scikit-learn: time beside quality, same data, same threads.

Operations (sizes at ``--scale 1``): k-means fit (n=100k, d=256, k=256, 20 iterations); PQ fit
(n=100k, d=2048, M=8, nbits=8, 25 iterations); encode / decode (200k x 2048); LUT build (16
queries); ADC scan of 1M 8-byte codes, one query and batches of 16 and 64 (full distances, and
fused with top-100 against faiss ``IndexPQ.search``), each also as a fraction of this machine's
streaming read bandwidth; top-k (k=100 of 1M); bit packing of 1M heads (5 x 10-bit labels); full
DSC search at 1M items (d=128 to keep the build short, K=1000 partitions) against faiss
``IndexIVFPQ`` (nlist=1000, M=8, nbits=8) with nprobe tuned to the same recall@100. The PQ shape
table (issue 22): fit, encode and reconstruction MSE for d=128 M=8, d=128 M=32, d=256 M=64,
d=2048 M=8 and d=960 M=16 (100k training vectors, sub-sampled to 256 per centroid by both
libraries, 25 rounds; 100k encoded). Then cost curves (n = 10^4 .. 10^7) and Numba compile /
cache-load times measured in subprocesses (cold: empty ``NUMBA_CACHE_DIR``; warm: same directory
again).

    python benchmarks/bench_peers.py --out bench_results/peers --threads 2
    python benchmarks/bench_peers.py --scale 0.05 --repeat 3       # a quick run

Every time is min and median of several runs (heavy fits: ``--heavy-repeat`` runs). The machine
may be shared: before every operation the benchmark waits (up to ``--settle`` seconds) for the
1-minute load average to fall to ``QUIET_LOAD`` (1.5) or below, and records the load before and
after each operation (the value after includes the benchmark's own threads). The run is called
"quiet" in ``peers.json`` / ``peers.md`` only if every operation started at or below 1.5.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_BLAS_LIMIT = None
sys.path.insert(0, str(HERE))
log = logging.getLogger("bench_peers")


def structured_data(n, d, seed, rank=128):
    from bench_pq import structured_data as sd  # one generator for every dscref benchmark

    return sd(n, d, seed, rank=min(rank, d))


# A run is "quiet" only if the 1-minute load average was at most this before every operation.
QUIET_LOAD = 1.5
# Seconds to wait for the load to settle before an operation (main() sets it from --settle).
SETTLE_S = 60.0
LOADS_BEFORE: list[float] = []  # every operation's starting load, for the run's verdict


def load() -> float:
    return os.getloadavg()[0]


def settle() -> float:
    """Wait (idle) up to SETTLE_S seconds for the 1-minute load average to reach QUIET_LOAD;
    return the load then (recorded for the quiet verdict)."""
    t0 = time.perf_counter()
    while load() > QUIET_LOAD and time.perf_counter() - t0 < SETTLE_S:
        time.sleep(1.0)
    LOADS_BEFORE.append(load())
    return LOADS_BEFORE[-1]


def timed(fn, repeat: int):
    """{'min_s', 'median_s', 'runs', 'load'} and the last result; ``load`` is the 1-minute load
    average [before, after] (before: after :func:`settle`)."""
    times, res = [], None
    l0 = settle()
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return {"min_s": min(times), "median_s": float(np.median(times)), "runs": repeat,
            "load": [round(l0, 2), round(load(), 2)]}, res


def ratios(entry: dict, ref: str = "faiss") -> None:
    """Add ``ratio_to_<ref>`` (min time / ref's min time) to every implementation of an op."""
    if ref not in entry:
        return
    base = entry[ref]["min_s"]
    for name, e in entry.items():
        if isinstance(e, dict) and "min_s" in e:
            e[f"ratio_to_{ref}"] = e["min_s"] / base


def mse_to_centroids(x, c) -> float:
    """Mean squared distance of every row of x to its nearest centroid (faiss flat search)."""
    import faiss

    idx = faiss.IndexFlatL2(c.shape[1])
    idx.add(np.ascontiguousarray(c, dtype=np.float32))
    D, _ = idx.search(x, 1)
    return float(D.sum(dtype=np.float64) / len(x))


def exact_knn(xq, xb, k):
    import faiss

    idx = faiss.IndexFlatL2(xb.shape[1])
    idx.add(xb)
    return idx.search(xq, k)[1]


def recall(I, truth, k) -> float:
    return float(np.mean([len(set(a[:k].tolist()) & set(t[:k].tolist())) / k for a, t in zip(I, truth)]))


# ------------------------------------------------------------------------ compile probes
WARMUP = r"""
import os, sys, time
t0 = time.perf_counter()
import numpy as np
from dscref.kmeans import KMeans
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_l2, adc_l2_topk, adc_cosine, topk
from dscref import bitpack
t_imp = time.perf_counter() - t0
rng = np.random.default_rng(0)
x = rng.standard_normal((5000, 64)).astype(np.float32)
KMeans(300, n_iter=2, seed=0, init="k-means++").fit(x)        # parallel assign + update
KMeans(4, n_iter=2, seed=0).fit(x[:300, :8])                   # serial paths
pq = ProductQuantizer(8, 8, n_iter=2, seed=0).fit(x)                 # dsub 8: direct path
c = pq.encode(x); pq.encode(x[:10]); pq.decode(c)
pq2 = ProductQuantizer(1, 8, n_iter=2, seed=0).fit(x)                # dsub 64: GEMM path
pq2.encode(x); pq2.encode(x[:10])
big = np.resize(c, (300000, 8))
lut = pq.lut_l2(x[:16]); pq.lut_ip(x[0])
adc_l2(lut[0], c[:100]); adc_l2(lut, big); adc_l2(lut[0], big)
adc_l2_topk(lut, big, 10); adc_l2_topk(lut[0], c[:100], 10)           # blocked parallel; single serial
adc_l2_topk(lut, c[:100], 10); adc_l2_topk(lut[0], big, 10)           # blocked serial; single parallel
adc_l2(pq.lut_l2(x[0])[:4], c[:100, :4])                       # generic (M != 8) path
adc_cosine(lut[0], big, 1.0, 1.0, np.ones(len(big), np.float32))
s = rng.random(1 << 20).astype(np.float32); topk(s, 10); topk(s[:100], 5); topk(np.resize(s, (2, 1 << 16)), 3)
h = bitpack.pack(rng.integers(0, 1024, (10, 5)), 10); bitpack.unpack(h, 10, 5)
print("PROBE", t_imp, time.perf_counter() - t0)
"""


def compile_probe(threads: int) -> dict:
    """Cold (empty cache dir) then warm (same dir) first-call times of every kernel."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads), PYTHONPATH=str(HERE.parent))
        for name in ("cold", "warm"):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", WARMUP], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if r.returncode:
                raise RuntimeError(r.stderr[-2000:])
            t_imp, t_all = map(float, r.stdout.split("PROBE")[1].split())
            out[name] = {"process_wall_s": wall, "import_s": t_imp, "import_and_first_calls_s": t_all,
                         "load": round(load(), 2)}
            log.info("compile probe %s: %.2f s (import %.2f s)", name, t_all, t_imp)
    return out


# ------------------------------------------------------------------------ operations
def bench_kmeans(s, seed, hrep):
    import faiss
    from sklearn.cluster import KMeans as SKKMeans

    from dscref.kmeans import KMeans

    n, d, k, it = int(100_000 * s), 256, 256, 20
    x = structured_data(n, d, seed)
    e = {"params": {"n": n, "d": d, "k": k, "iters": it, "init": "random",
                    "note": "dscref and faiss train on 256*k points (their default sub-sample); "
                            "scikit-learn on all n; MSE always on all n"}}
    t, km = timed(lambda: KMeans(k, n_iter=it, tol=0.0, init="random", seed=seed).fit(x), hrep)
    e["dscref"] = {**t, "mse_full": mse_to_centroids(x, km.centroids_)}

    def fk():
        f = faiss.Kmeans(d, k, niter=it, seed=seed, verbose=False)
        f.train(x)
        return f
    t, f = timed(fk, hrep)
    e["faiss"] = {**t, "mse_full": mse_to_centroids(x, f.centroids)}
    t, sk = timed(lambda: SKKMeans(k, init="random", n_init=1, max_iter=it, tol=0.0, random_state=seed,
                                   algorithm="lloyd").fit(x), hrep)
    e["sklearn"] = {**t, "mse_full": mse_to_centroids(x, sk.cluster_centers_.astype(np.float32))}
    for v in e.values():
        if isinstance(v, dict) and "mse_full" in v:
            v["mse_vs_faiss"] = v["mse_full"] / e["faiss"]["mse_full"]
    ratios(e)
    return e


def faiss_pq_fit(x, M, seed, nbits=8, iters=25):
    """faiss's ProductQuantizer (M sub-spaces, nbits) trained on x with dscref's iteration count."""
    import faiss

    p = faiss.ProductQuantizer(x.shape[1], M, nbits)
    p.cp.niter = iters
    p.cp.seed = seed
    p.train(x)
    return p


def bench_pq(s, seed, rep, hrep, with_nanopq):
    import faiss
    import nanopq

    from dscref.pq import ProductQuantizer
    from dscref.scoring import adc_l2, adc_l2_topk

    n_fit, n_enc, d, M = int(100_000 * s), int(200_000 * s), 2048, 8
    xb = structured_data(n_enc, d, seed + 1)
    xt = xb[:n_fit]
    res = {}
    # --- fit
    e = {"params": {"n": n_fit, "d": d, "M": M, "nbits": 8, "iters": 25,
                    "note": "dscref/faiss sub-sample 256*256 training points per sub-space; nanopq "
                            "(scipy kmeans2) uses all n"}}
    t, pq = timed(lambda: ProductQuantizer(M, 8, n_iter=25, seed=seed).fit(xt), hrep)
    e["dscref"] = t

    t, fpq = timed(lambda: faiss_pq_fit(xt, M, seed), hrep)
    e["faiss"] = t
    npq = None
    if with_nanopq:
        def nfit():
            p = nanopq.PQ(M=M, Ks=256, verbose=False)
            return p.fit(xt, iter=25, seed=seed)
        t, npq = timed(nfit, 1)
        e["nanopq"] = t
    # --- encode / decode with quality
    enc = {"params": {"n": n_enc, "d": d}}
    dec = {"params": {"n": n_enc, "d": d}}
    t, codes = timed(lambda: pq.encode(xb), rep)
    t2, rec = timed(lambda: pq.decode(codes), rep)
    enc["dscref"], dec["dscref"] = t, t2
    e["dscref"]["reconstruction_mse"] = float(((rec - xb) ** 2).sum(1).mean())
    t, fcodes = timed(lambda: fpq.compute_codes(xb), rep)
    t2, frec = timed(lambda: fpq.decode(fcodes), rep)
    enc["faiss"], dec["faiss"] = t, t2
    e["faiss"]["reconstruction_mse"] = float(((frec - xb) ** 2).sum(1).mean())
    if npq is not None:
        t, ncodes = timed(lambda: npq.encode(xb), max(1, rep // 2))
        t2, nrec = timed(lambda: npq.decode(ncodes), max(1, rep // 2))
        enc["nanopq"], dec["nanopq"] = t, t2
        e["nanopq"]["reconstruction_mse"] = float(((nrec - xb) ** 2).sum(1).mean())
    for v in e.values():
        if isinstance(v, dict) and "reconstruction_mse" in v:
            v["mse_vs_faiss"] = v["reconstruction_mse"] / e["faiss"]["reconstruction_mse"]
    for x_ in (e, enc, dec):
        ratios(x_)
    res["pq_fit"], res["encode"], res["decode"] = e, enc, dec
    # --- LUT build, 16 queries
    rng = np.random.default_rng(seed + 2)
    xq = xb[rng.choice(n_enc, 16, replace=False)] + 0.05 * rng.standard_normal((16, d)).astype(np.float32)
    lut = {"params": {"nq": 16, "d": d, "M": M}}
    lut["dscref"], luts = timed(lambda: pq.lut_l2(xq), rep)
    ftab = np.empty((16, M, 256), np.float32)
    lut["faiss"], _ = timed(lambda: fpq.compute_distance_tables(16, faiss.swig_ptr(xq), faiss.swig_ptr(ftab)), rep)
    if npq is not None:
        lut["nanopq"], _ = timed(lambda: [npq.dtable(q) for q in xq], rep)
    ratios(lut)
    res["lut_build_16"] = lut
    # --- ADC scan over 1M codes (the encoded codes tiled), quality on the encoded set
    n_scan = max(int(1_000_000 * min(1.0, 10 * s)), n_enc)
    big = np.ascontiguousarray(np.resize(codes, (n_scan, M)))
    fbig = np.ascontiguousarray(np.resize(fcodes, (n_scan, M)))
    findex = faiss.IndexPQ(d, M, 8)
    findex.pq = fpq
    findex.is_trained = True
    findex.add_sa_codes(fbig)
    truth = exact_knn(xq, xb, 10)
    r_dsc = recall(adc_l2_topk(luts, codes, 10)[1], truth, 10)
    small = faiss.IndexPQ(d, M, 8)  # recall on the encoded set itself (no tiled duplicates)
    small.pq = fpq
    small.is_trained = True
    small.add_sa_codes(fcodes)
    r_fa = recall(small.search(xq, 10)[1], truth, 10)
    xq64 = np.concatenate([xq, xb[rng.choice(n_enc, 48, replace=False)]
                           + 0.05 * rng.standard_normal((48, d)).astype(np.float32)])
    luts = np.concatenate([luts, pq.lut_l2(xq64[16:])])
    xq = xq64
    for nq in (1, 16, 64):
        e = {"params": {"n_codes": n_scan, "M": M, "nq": nq, "k": 100,
                        "note": "times per query; faiss IndexPQ.search returns top-100; dscref "
                                "adc_l2 writes all n distances, adc_l2_topk fuses scan and top-100"}}
        q = luts[:nq] if nq > 1 else luts[0]
        t, _ = timed(lambda: adc_l2(q, big), rep)
        e["dscref_adc_l2"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
        t, _ = timed(lambda: adc_l2_topk(q, big, 100), rep)
        e["dscref"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
        e["dscref"]["recall_at_10_vs_exact"] = r_dsc
        t, _ = timed(lambda: findex.search(xq[:nq], 100), rep)
        e["faiss"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
        e["faiss"]["recall_at_10_vs_exact"] = r_fa
        if npq is not None and nq == 1:
            dt = npq.dtable(xq[0])
            nbig = big.astype(np.uint8)
            t, _ = timed(lambda: np.argpartition(dt.adist(nbig), 100)[:100], max(1, rep // 2))
            e["nanopq"] = t
        ratios(e)
        res[f"adc_scan_{'single' if nq == 1 else f'batch{nq}'}"] = e
    return res, big, luts


# The PQ shapes of issue 22: (d, M). dsub = d / M runs from 4 (direct path) to 256 (GEMM path).
SHAPES = ((128, 8), (128, 32), (256, 64), (2048, 8), (960, 16))


def bench_shapes(s, seed, rep, hrep) -> dict:
    """PQ fit, encode and reconstruction MSE, dscref vs faiss, at every shape of SHAPES.

    Both train on the same n vectors (sub-sampled by both to 256 per centroid = 65536) with 25
    rounds (faiss ``cp.niter``, dscref ``n_iter``) and encode the same n vectors; the MSE is
    measured on those, so "equal MSE" compares the two codebooks on the same data.
    """
    from dscref.nearest import uses_direct
    from dscref.pq import ProductQuantizer

    n = max(2000, int(100_000 * s))
    out = {}
    for d, M in SHAPES:
        x = structured_data(n, d, seed + 10 * d + M)
        params = {"n_train": n, "n_encode": n, "d": d, "M": M, "dsub": d // M, "nbits": 8, "iters": 25,
                  "dscref_path": "direct" if uses_direct(d // M) else "gemm"}
        fit, enc = {"params": dict(params)}, {"params": dict(params)}
        fit["dscref"], pq = timed(lambda: ProductQuantizer(M, 8, n_iter=25, seed=seed).fit(x), hrep)

        fit["faiss"], fpq = timed(lambda: faiss_pq_fit(x, M, seed), hrep)
        enc["dscref"], codes = timed(lambda: pq.encode(x), rep)
        enc["faiss"], fcodes = timed(lambda: fpq.compute_codes(x), rep)
        for name, rec in (("dscref", pq.decode(codes)), ("faiss", fpq.decode(fcodes))):
            fit[name]["reconstruction_mse"] = float(((rec - x) ** 2).sum(1, dtype=np.float64).mean())
        for name in ("dscref", "faiss"):
            fit[name]["mse_vs_faiss"] = fit[name]["reconstruction_mse"] / fit["faiss"]["reconstruction_mse"]
        fit["dscref"]["rounds_run"] = pq.n_iter_
        ratios(fit)
        ratios(enc)
        out[f"shape_fit_d{d}_M{M}"], out[f"shape_encode_d{d}_M{M}"] = fit, enc
        log.info("shape d=%d M=%d: fit %.2f s vs %.2f s, encode %.1f ms vs %.1f ms, MSE ratio %.4f",
                 d, M, fit["dscref"]["min_s"], fit["faiss"]["min_s"], enc["dscref"]["min_s"] * 1e3,
                 enc["faiss"]["min_s"] * 1e3, fit["dscref"]["mse_vs_faiss"])
    return out


def bench_topk_bitpack(rep, seed):
    from dscref import bitpack
    from dscref.scoring import topk

    rng = np.random.default_rng(seed)
    s = rng.random(1_000_000).astype(np.float32)
    e = {"params": {"n": 1_000_000, "k": 100, "note": "NumPy argpartition + sort as the peer"}}
    e["dscref"], _ = timed(lambda: topk(s, 100), rep)

    def npk():
        p = np.argpartition(s, 99)[:100]
        return p[np.argsort(s[p], kind="stable")]
    e["numpy"], _ = timed(npk, rep)
    ratios(e, "numpy")
    heads = rng.integers(0, 1000, (1_000_000, 5))
    b = {"params": {"heads": 1_000_000, "labels_per_head": 5, "bits": 10,
                    "note": "NumPy peer: unpackbits of the 16-bit values, keep 10 bits, packbits"}}
    b["dscref"], packed = timed(lambda: bitpack.pack(heads, 10), rep)

    def np_pack():
        v = heads.astype(">u2").view(np.uint8).reshape(len(heads), 5, 2)
        bits = np.unpackbits(v, axis=2)[:, :, 6:].reshape(len(heads), 50)
        return np.packbits(bits, axis=1)
    b["numpy"], ref = timed(np_pack, rep)
    b["identical_bytes"] = bool(np.array_equal(packed, ref))
    b["dscref_unpack"], _ = timed(lambda: bitpack.unpack(packed, 10, 5), rep)
    ratios(b, "numpy")
    return {"topk": e, "bitpack_heads": b}


def clustered(n, d, K, seed):
    """n points around K class centres (d dims): labels = class, x = centre + structured noise."""
    rng = np.random.default_rng(seed)
    centres = structured_data(K, d, seed + 100) * 3.0
    labels = rng.integers(0, K, n)
    x = structured_data(n, d, seed + 200)
    for s in range(0, n, 200_000):
        x[s:s + 200_000] += centres[labels[s:s + 200_000]]
    return x, labels.astype(np.int64), centres


def bench_dsc_search(n, seed, rep, nq=100, K=1000, d=128, n_iter=6, heads=5):
    """DSC (SemanticIndex, partitions = class labels, head = 5 nearest partition means) vs faiss
    IndexIVFPQ (nlist=K, M=8) with nprobe tuned to DSC's recall@100 vs exact search."""
    import faiss

    from dscref.index.semantic import SemanticIndex

    x, labels, _ = clustered(n, d, K, seed)
    rng = np.random.default_rng(seed + 1)
    qi = rng.choice(n, nq, replace=False)
    xq = x[qi] + 0.3 * rng.standard_normal((nq, d)).astype(np.float32)
    truth = exact_knn(xq, x, 100)
    e = {"params": {"n": n, "d": d, "K": K, "M": 8, "nbits": 8, "nq": nq, "k": 100, "head": heads,
                    "pq_iters": n_iter, "note": "synthetic: labels = class of 1000 centres; DSC head = "
                    "the 5 partitions with the nearest means (a stand-in for the classifier)"}}
    t0 = time.perf_counter()
    idx = SemanticIndex(n_lists=K, M=8, nbits=8, n_iter=n_iter, seed=seed, progress=False).build(x, labels)
    e["dscref_build_s"] = time.perf_counter() - t0
    dq = (xq ** 2).sum(1)[:, None] - 2 * xq @ idx.centroids_.T + (idx.centroids_ ** 2).sum(1)[None]
    top = np.argsort(dq, 1)[:, :heads]
    queries = [idx.encode_query(xq[i], top_labels=top[i]) for i in range(nq)]
    t, r = timed(lambda: idx.search(queries, k=100), rep)
    rec = recall(r.I, truth, 100)
    e["dscref"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
    e["dscref"].update({"recall_at_100": rec, "candidates_per_query": float(r.n_candidates.mean())})
    t0 = time.perf_counter()
    quant = faiss.IndexFlatL2(d)
    fi = faiss.IndexIVFPQ(quant, d, K, 8, 8)
    fi.train(x[rng.choice(n, min(n, 100 * K), replace=False)])
    fi.add(x)
    e["faiss_build_s"] = time.perf_counter() - t0
    sweep = []
    for nprobe in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64):
        fi.nprobe = nprobe
        fr = recall(fi.search(xq, 100)[1], truth, 100)
        sweep.append((nprobe, fr))
        if fr >= rec:
            break
    e["faiss_nprobe_sweep"] = sweep
    fi.nprobe = sweep[-1][0]
    t, _ = timed(lambda: fi.search(xq, 100), rep)
    e["faiss"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
    e["faiss"].update({"recall_at_100": sweep[-1][1], "nprobe": fi.nprobe, "batch": nq})
    t, _ = timed(lambda: [fi.search(xq[i:i + 1], 100) for i in range(nq)], rep)
    e["faiss_one_query_at_a_time"] = {k_: (v / nq if k_.endswith("_s") else v) for k_, v in t.items()}
    ratios(e)
    return e, idx, queries


# ------------------------------------------------------------------------ cost curves
def _stream_sum():
    """A Numba ``prange`` sum of uint64 words: the machine's streaming read with the benchmark's
    thread count (vectorised, far from compute-bound)."""
    import numba as nb

    @nb.njit(parallel=True)
    def total(a):
        s = np.uint64(0)
        for i in nb.prange(a.shape[0]):
            s += a[i]
        return s
    return total


def bandwidth(rep) -> dict:
    """Streaming read bandwidth: single-thread NumPy sums (as before) and a threaded Numba sum
    over 512 MiB, far beyond the caches, with the same threads as the scans. The scans are
    divided by the larger of the two ("fraction of streaming bandwidth")."""
    a = np.ones(1 << 27, dtype=np.uint8)       # 128 MiB
    f = np.ones(1 << 25, dtype=np.float32)     # 128 MiB
    t8, _ = timed(lambda: a.sum(dtype=np.uint64), rep)
    t32, _ = timed(lambda: f.sum(), rep)
    w = np.ones(1 << 26, dtype=np.uint64)      # 512 MiB
    total = _stream_sum()
    total(w[:1024])
    tw, _ = timed(lambda: total(w), rep)
    f32, thr = f.nbytes / t32["min_s"] / 1e9, w.nbytes / tw["min_s"] / 1e9
    return {"uint8_sum_GBps": (1 << 27) / t8["min_s"] / 1e9, "float32_sum_GBps": f32,
            "threaded_uint64_sum_GBps": thr, "used_GBps": max(f32, thr), "load": tw["load"],
            "note": "single-thread NumPy sums over 128 MiB (float32: memory speed; uint8: compute-bound "
                    "widening) and a Numba prange uint64 sum over 512 MiB on the benchmark's threads; "
                    "used_GBps, the denominator of every fraction_of_stream_bandwidth, is the larger of "
                    "the float32 and the threaded figures (the conservative choice)"}


def add_bandwidth_fractions(res) -> None:
    """fraction_of_stream_bandwidth = (8-byte codes scanned per query) / time per query / used_GBps:
    above 1 when a block of queries shares one pass over the codes."""
    bw = res["bandwidth"]["used_GBps"] * 1e9
    for op, e in res["ops"].items():
        if not op.startswith("adc_scan_"):
            continue
        nbytes = e["params"]["n_codes"] * e["params"]["M"]
        for name, v in e.items():
            if isinstance(v, dict) and "min_s" in v and name != "nanopq":
                v["fraction_of_stream_bandwidth"] = nbytes / v["min_s"] / bw


def cost_curves(seed, rep, max_n, dsc_max_n, dsc_point=None) -> dict:
    """Time against n: ADC scans (one query, fused top-100, batches of 16 and 64), encode and PQ
    fit (d=128, M=8; the fit flattens past 65536 = 256 x 256 points, its training sub-sample)
    and the DSC search, with fitted log-log slopes."""
    from dscref.pq import ProductQuantizer
    from dscref.scoring import adc_l2, adc_l2_topk

    rng = np.random.default_rng(seed)
    luts = rng.random((64, 8, 256)).astype(np.float32)
    out = {"n": [], "adc_single_s": [], "adc_topk_single_s": [], "adc_batch16_per_query_s": [],
           "adc_batch64_per_query_s": [], "encode_n": [], "encode_s": [], "fit_n": [], "fit_s": [],
           "dsc_n": [], "dsc_search_per_query_s": [],
           "note": "codes: random uint8 generated chunk by chunk; encode on d=128, M=8 (fitted on 20k "
                   "points) and PQ fit (d=128, M=8, 25 rounds) up to 1e6; DSC search on clustered "
                   "d=128 data, K=1000, up to %d" % dsc_max_n}
    ns = [n for n in (10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7) if n <= max_n]

    def scans(codes, r):
        out["adc_single_s"].append(timed(lambda: adc_l2(luts[0], codes), r)[0]["min_s"])
        out["adc_topk_single_s"].append(timed(lambda: adc_l2_topk(luts[0], codes, 100), r)[0]["min_s"])
        out["adc_batch16_per_query_s"].append(timed(lambda: adc_l2_topk(luts[:16], codes, 100), r)[0]["min_s"] / 16)
        out["adc_batch64_per_query_s"].append(timed(lambda: adc_l2_topk(luts, codes, 100), r)[0]["min_s"] / 64)

    for n in ns:
        codes = np.empty((n, 8), np.uint8)
        for s in range(0, n, 1 << 20):
            codes[s:s + (1 << 20)] = rng.integers(0, 256, (min(1 << 20, n - s), 8), dtype=np.uint8)
        out["n"].append(n)
        scans(codes, max(rep, 3) if n < 10 ** 7 else rep)
        log.info("curve n=%d: adc %.2f ms", n, out["adc_single_s"][-1] * 1e3)
        codes = None  # free before the next size is generated

    def fits(x):
        pq = ProductQuantizer(8, 8, n_iter=10, seed=seed).fit(x[:20000])
        for n in (n for n in ns if n <= 10 ** 6):
            out["encode_n"].append(n)
            out["encode_s"].append(timed(lambda: pq.encode(x[:n]), max(1, rep // 2))[0]["min_s"])
            out["fit_n"].append(n)
            out["fit_s"].append(timed(lambda: ProductQuantizer(8, 8, seed=seed).fit(x[:n]), 1)[0]["min_s"])

    fits(structured_data(min(max_n, 10 ** 6), 128, seed + 5))
    for n in (n for n in ns if n <= min(dsc_max_n, 10 ** 5)):
        e, _, _ = bench_dsc_search(n, seed, max(2, rep), nq=50)
        out["dsc_n"].append(n)
        out["dsc_search_per_query_s"].append(e["dscref"]["min_s"])
    if dsc_point is not None and dsc_point[0] > 10 ** 5:  # the full-size run of the "dsc" op
        out["dsc_n"].append(dsc_point[0])
        out["dsc_search_per_query_s"].append(dsc_point[1])
    slopes = {}
    for key, nk in (("adc_single_s", "n"), ("adc_topk_single_s", "n"), ("adc_batch16_per_query_s", "n"),
                    ("adc_batch64_per_query_s", "n"), ("encode_s", "encode_n"), ("fit_s", "fit_n"),
                    ("dsc_search_per_query_s", "dsc_n")):
        xs, ys = np.log10(out[nk]), np.log10(out[key])
        if len(xs) >= 2:
            slopes[key] = float(np.polyfit(xs, ys, 1)[0])
            if len(xs) >= 3:  # the large-n slope, past fixed per-call costs
                slopes[key + "_last2"] = float((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
    out["slopes_loglog"] = slopes
    return out


# ------------------------------------------------------------------------ report
def plot(res, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dscref._files import atomic_open

    ops = [k for k, v in res["ops"].items() if isinstance(v, dict) and "faiss" in v and "dscref" in v]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.45 * len(ops)), 3.6))
    names = ["dscref", "faiss", "nanopq", "sklearn"]
    w = 0.2
    for j, name in enumerate(names):
        vals = [res["ops"][o][name]["min_s"] / res["ops"][o]["faiss"]["min_s"] if name in res["ops"][o] else np.nan
                for o in ops]
        ax.bar(np.arange(len(ops)) + (j - 1.5) * w, vals, w, label=name)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(ops)), [o.replace("_", "\n") for o in ops], fontsize=7)
    ax.set_ylabel("time / faiss time (lower is better)")
    ax.set_title(f"{res['machine']['cpus']} cores, {res['params']['threads']} threads, "
                 f"load {res['machine']['load_start']:.1f}-{res['machine']['load_end']:.1f}"
                 f"{'' if res['machine'].get('quiet') else ' (NOT quiet)'}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_open(out / "peers.png") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    c = res.get("curves")
    if c:
        fig, ax = plt.subplots(figsize=(6, 4))
        n = np.array(c["n"], float)
        ax.loglog(n, c["adc_single_s"], "o-", label="ADC scan, 1 query (all distances)")
        ax.loglog(n, c["adc_topk_single_s"], "s-", label="ADC scan + top-100, 1 query")
        ax.loglog(n, c["adc_batch16_per_query_s"], "^-", label="ADC scan + top-100, per query of 16")
        if c.get("adc_batch64_per_query_s"):
            ax.loglog(n, c["adc_batch64_per_query_s"], "<-", label="ADC scan + top-100, per query of 64")
        bw = res["bandwidth"]["used_GBps"] * 1e9
        ax.loglog(n, 8 * n / bw, "k--", label=f"8 n bytes / {bw / 1e9:.1f} GB/s (stream read)")
        if c["encode_n"]:
            ax.loglog(c["encode_n"], c["encode_s"], "d-", label="encode (d=128, M=8)")
        if c.get("fit_n"):
            ax.loglog(c["fit_n"], c["fit_s"], "x-", label="PQ fit (d=128, M=8, sub-sample 65536)")
        if c["dsc_n"]:
            ax.loglog(c["dsc_n"], c["dsc_search_per_query_s"], "v-", label="DSC search, per query")
        ax.set_xlabel("n (database items)")
        ax.set_ylabel("seconds")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        with atomic_open(out / "cost_curves.png") as f:
            fig.savefig(f, format="png", dpi=90)
        plt.close(fig)


QUALITY_KEYS = ("mse_full", "reconstruction_mse", "mse_vs_faiss", "recall_at_10_vs_exact", "recall_at_100",
                "nprobe", "fraction_of_stream_bandwidth", "identical_bytes")


def _fmt(t):
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def verdict(res) -> str:
    m = res["machine"]
    top = m.get("max_load_before_an_operation", m["load_start"])
    if m.get("quiet"):
        return f"quiet run: every operation started at a 1-minute load average <= {QUIET_LOAD} (max {top:.2f})"
    return (f"NOT a quiet run: an operation started at a 1-minute load average of {top:.2f} > {QUIET_LOAD}; "
            f"the times and ratios below are not reliable")


def ratio_tables(res) -> str:
    """Ratios first: the PQ shape table and the scans (dscref / faiss, lower is better)."""
    ops = res["ops"]
    rows = []
    shapes = [(d, M) for d, M in SHAPES if f"shape_fit_d{d}_M{M}" in ops]
    if shapes:
        rows += ["| d, M (dsub, dscref path) | PQ fit dscref / faiss | encode dscref / faiss | MSE dscref / faiss "
                 "| fit dscref, faiss | encode dscref, faiss |", "|---|---|---|---|---|---|"]
        for d, M in shapes:
            f, e = ops[f"shape_fit_d{d}_M{M}"], ops[f"shape_encode_d{d}_M{M}"]
            rows.append(f"| {d}, {M} ({d // M}, {f['params']['dscref_path']}) | **{f['dscref']['ratio_to_faiss']:.2f}** "
                        f"| **{e['dscref']['ratio_to_faiss']:.2f}** | {f['dscref']['mse_vs_faiss']:.4f} "
                        f"| {_fmt(f['dscref']['min_s'])}, {_fmt(f['faiss']['min_s'])} "
                        f"| {_fmt(e['dscref']['min_s'])}, {_fmt(e['faiss']['min_s'])} |")
        rows.append("")
    scans = [k for k in ("adc_scan_single", "adc_scan_batch16", "adc_scan_batch64") if k in ops]
    if scans:
        rows += ["| ADC scan + top-100, 1M codes | dscref / faiss | dscref per query | faiss per query "
                 "| fraction of stream bandwidth: dscref, faiss |", "|---|---|---|---|---|"]
        for k in scans:
            e = ops[k]
            rows.append(f"| {e['params']['nq']} quer{'y' if e['params']['nq'] == 1 else 'ies'} "
                        f"| **{e['dscref']['ratio_to_faiss']:.2f}** | {_fmt(e['dscref']['min_s'])} "
                        f"| {_fmt(e['faiss']['min_s'])} | {e['dscref'].get('fraction_of_stream_bandwidth', np.nan):.2f}, "
                        f"{e['faiss'].get('fraction_of_stream_bandwidth', np.nan):.2f} |")
        rows.append("")
    return "\n".join(rows)


def markdown_table(res) -> str:
    """The README tables: the run's load verdict, the ratio tables, then every operation with
    min / median time, ratio to faiss (or to NumPy) and quality."""
    rows = [verdict(res), "", ratio_tables(res),
            "| operation | implementation | min | median | ratio to faiss | load before, after | quality |",
            "|---|---|---|---|---|---|---|"]
    for op, e in res["ops"].items():
        for name, v in e.items():
            if not (isinstance(v, dict) and "min_s" in v):
                continue
            ratio = v.get("ratio_to_faiss", v.get("ratio_to_numpy"))
            rname = "" if ratio is None else f"{ratio:.2f}" + ("" if "ratio_to_faiss" in v else " (to NumPy)")
            q = ", ".join(f"{k}={v[k]:.4g}" if isinstance(v[k], float) else f"{k}={v[k]}"
                          for k in QUALITY_KEYS if k in v)
            if name == "dscref" and "identical_bytes" in e:
                q = f"identical bytes: {e['identical_bytes']}"
            ld = v.get("load", ["", ""])
            rows.append(f"| {op} | {name} | {_fmt(v['min_s'])} | {_fmt(v['median_s'])} | {rname} "
                        f"| {ld[0]}, {ld[1]} | {q} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench_results/peers", help="output folder (peers.json, PNGs)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the fit/encode sizes (quick runs)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the fast operations")
    ap.add_argument("--heavy-repeat", type=int, default=2, help="runs of the fits (k-means, PQ)")
    ap.add_argument("--threads", type=int, default=2, help="threads for Numba, faiss (OpenMP) and BLAS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="compile,kmeans,pq,shapes,topk,dsc,curves",
                    help="comma-separated subset of: compile,kmeans,pq,shapes,topk,dsc,curves,search "
                         "(search: benchmarks/bench_search.py, the batched engine vs IVFPQ / FastScan "
                         "at 100k, 300k and 1M; not in the default set)")
    ap.add_argument("--settle", type=float, default=60.0,
                    help=f"seconds to wait before each operation for the 1-minute load average to fall "
                         f"to {QUIET_LOAD} (a run is quiet only if every operation started there)")
    ap.add_argument("--no-nanopq", action="store_true", help="skip nanopq (slow fits)")
    ap.add_argument("--dsc-n", type=int, default=1_000_000, help="items of the DSC-vs-IVFPQ search")
    ap.add_argument("--curve-max-n", type=int, default=10 ** 7)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    global SETTLE_S
    SETTLE_S = args.settle
    # pin every thread pool before numba / faiss / BLAS start
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import faiss
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    global _BLAS_LIMIT  # kept alive for the whole run
    _BLAS_LIMIT = threadpool_limits(limits=args.threads, user_api="blas")
    only = set(args.only.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "cpu": platform.processor(), "python": platform.python_version(),
                       "numpy": np.__version__, "numba": numba.__version__, "faiss": faiss.__version__,
                       # "DD AVX2 AVX512 ...": one library with runtime SIMD dispatch (the wheel has no
                       # separate swigfaiss_avx2 module, so faiss's loader logs a harmless fallback)
                       "faiss_compile_options": faiss.get_compile_options(),
                       "faiss_simd_level": (faiss.SIMDConfig.get_level_name()
                                            if hasattr(faiss, "SIMDConfig") else None),
                       "threading_layer": None, "load_start": load()},
           "params": vars(args), "ops": {}}
    try:
        res["machine"]["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                           if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if "compile" in only:
        res["compile"] = compile_probe(args.threads)
    # warm the in-process kernels (cache load) so no op below pays compilation
    subprocess.run([sys.executable, "-c", WARMUP], env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
                   capture_output=True)
    exec(compile(WARMUP, "warmup", "exec"), {})
    res["machine"]["threading_layer"] = numba.threading_layer()
    res["bandwidth"] = bandwidth(args.repeat)
    log.info("stream read: %.1f GB/s", res["bandwidth"]["used_GBps"])

    from dscref._files import atomic_write_text

    def save():
        res["machine"]["load_end"] = load()
        res["machine"]["max_load_before_an_operation"] = max(LOADS_BEFORE, default=load())
        res["machine"]["quiet"] = res["machine"]["max_load_before_an_operation"] <= QUIET_LOAD
        atomic_write_text(out / "peers.json", json.dumps(res, indent=1, default=float))

    if "kmeans" in only:
        res["ops"]["kmeans_fit"] = bench_kmeans(args.scale, args.seed, args.heavy_repeat)
        log.info("kmeans: %s", {k: round(v["min_s"], 2) for k, v in res["ops"]["kmeans_fit"].items() if isinstance(v, dict) and "min_s" in v})
        save()
    if "pq" in only:
        r, _, _ = bench_pq(args.scale, args.seed, args.repeat, args.heavy_repeat, not args.no_nanopq)
        r.pop("_bw", None)
        res["ops"].update(r)
        add_bandwidth_fractions(res)
        for k in ("pq_fit", "encode", "adc_scan_single", "adc_scan_batch16", "adc_scan_batch64"):
            log.info("%s: %s", k, {n: round(v["min_s"], 4) for n, v in res["ops"][k].items() if isinstance(v, dict) and "min_s" in v})
        save()
    if "shapes" in only:
        res["ops"].update(bench_shapes(args.scale, args.seed, args.repeat, args.heavy_repeat))
        save()
    if "topk" in only:
        res["ops"].update(bench_topk_bitpack(args.repeat, args.seed))
        save()
    if "dsc" in only:
        e, _, _ = bench_dsc_search(args.dsc_n, args.seed, max(2, args.repeat // 2))
        res["ops"]["dsc_search_1M"] = e
        log.info("dsc: %.2f ms/q recall %.3f; faiss %.2f ms/q nprobe %d recall %.3f",
                 e["dscref"]["min_s"] * 1e3, e["dscref"]["recall_at_100"], e["faiss"]["min_s"] * 1e3,
                 e["faiss"]["nprobe"], e["faiss"]["recall_at_100"])
        save()
    if "curves" in only:
        d = res["ops"].get("dsc_search_1M")
        res["curves"] = cost_curves(args.seed, max(1, args.repeat // 2), args.curve_max_n,
                                    min(args.dsc_n, 10 ** 6),
                                    (d["params"]["n"], d["dscref"]["min_s"]) if d else None)
        log.info("slopes: %s", res["curves"]["slopes_loglog"])
    if "search" in only:
        import bench_search

        bench_search.run(out, [100_000, 300_000, 1_000_000], args.threads, max(2, args.repeat // 2), args.seed)
    save()
    plot(res, out)
    atomic_write_text(out / "peers.md", markdown_table(res))
    print(json.dumps({k: {n: (round(v["min_s"], 5), round(v.get("ratio_to_faiss", np.nan), 3))
                          for n, v in e.items() if isinstance(v, dict) and "min_s" in v}
                      for k, e in res["ops"].items()}, indent=1))
    return res


if __name__ == "__main__":
    main()
