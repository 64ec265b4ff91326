"""Bounded-memory build from a memory-mapped feature file, then save / mmap-load / first query.

The parent process writes n x d float32 synthetic features chunk by chunk into a ``.npy`` file
(never holding more than one chunk), then runs each measurement in a fresh subprocess so that
``ru_maxrss`` (peak resident set, which also counts mapped file pages) belongs to that step alone:

* ``build``: ``np.load(mmap_mode="r")``, build a SemanticIndex (DSC, K labels) or an IVFIndex
  (K k-means lists), report build time and peak RSS, save with :func:`dscref.io.save_index`;
* ``load``: :func:`dscref.io.load_index` (mmap), report load time, first- and second-query
  latency, peak RSS, and whether each query's own database item comes back in its top 10.

Numba kernels are warmed up on a tiny build before any timing (reported as ``warmup_s``).

Synthetic data (self-contained, seeded): ``--classes`` Gaussian centres in R^d, each item = its
class centre + isotropic noise, L2-normalised; label = class id mapped onto [0, K).

Usage::

    python benchmarks/bench_memory.py --n 20000            # CI-sized
    python benchmarks/bench_memory.py --n 1000000 --out bench_memory_1M.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from dscref._chunks import release_pages


def _peak_rss_mb() -> float:
    """Peak resident set of this process in MB: ``VmHWM`` from /proc (Linux), else ru_maxrss.

    ``ru_maxrss`` is not used on Linux because a child started by fork + exec reports its
    parent's peak (the parent that generated 8 GiB of features), which hid the child's own.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def make_features(path_x: str, path_y: str, n: int, d: int, n_classes: int, K: int, seed: int,
                  chunk: int = 16384) -> dict:
    """Write (n, d) float32 features to ``path_x`` and (n,) int64 labels to ``path_y``, by chunks."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.lib.format.open_memmap(path_x, mode="w+", dtype=np.float32, shape=(n, d))
    y = np.lib.format.open_memmap(path_y, mode="w+", dtype=np.int64, shape=(n,))
    sigma = 1.0 / np.sqrt(d)  # noise of norm ~1, as large as the centre: overlapping classes
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        cls = rng.integers(0, n_classes, e - s)
        block = rng.standard_normal((e - s, d), dtype=np.float32)
        block *= sigma
        block += centres[cls]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[s:e] = block
        y[s:e] = cls * K // n_classes
        x.flush()
        release_pages(x)  # the parent never holds the whole feature file resident
    x.flush()
    y.flush()
    del x, y
    return {"generate_s": time.perf_counter() - t0, "features_gib": n * d * 4 / 2**30}


def _make_index(kind: str, K: int, args):
    from dscref.index.ivf import IVFIndex
    from dscref.index.semantic import SemanticIndex

    if kind == "dsc":
        return SemanticIndex(K, M=args.M, nbits=8, n_iter=args.pq_iter, seed=0, progress=False)
    return IVFIndex(K, M=args.M, nbits=8, n_iter=args.pq_iter, seed=0, coarse_iter=args.coarse_iter)


def _warmup(args) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    lab = rng.integers(0, 4, 3000)
    for kind in ("dsc", "ivf"):
        ix = _make_index(kind, 4, argparse.Namespace(M=args.M, pq_iter=2, coarse_iter=2)).build(x, lab)
        q = ix.encode_query(x[0], top_labels=[0, 1]) if kind == "dsc" else ix.encode_query(x[0], n_probe=2)
        ix.search(q, 10)
        ix.search(q, 10, metric="cosine")
    return time.perf_counter() - t0


def _queries(ix, kind, x, labels, ids):
    qs = []
    for i in ids:
        q = np.asarray(x[i], dtype=np.float32)
        if kind == "dsc":  # the classifier's top-5: the true label first, then 4 others
            lab = int(labels[i])
            head = [lab] + [(lab + j) % ix.n_lists for j in (1, 2, 3, 4)]
            qs.append(ix.encode_query(q, top_labels=head))
        else:
            qs.append(ix.encode_query(q, n_probe=5))
    return qs


def child_build(args) -> dict:
    from dscref.io import save_index

    out = {"warmup_s": _warmup(args), "rss_after_warmup_mb": _peak_rss_mb()}
    x = np.load(args.x, mmap_mode="r")
    labels = np.load(args.y)
    t0 = time.perf_counter()
    ix = _make_index(args.child, args.K, args).build(x, labels)
    out["build_s"] = time.perf_counter() - t0
    out["peak_rss_build_mb"] = _peak_rss_mb()
    out["n_quantizers"] = len(ix.pqs_)
    t0 = time.perf_counter()
    save_index(ix, args.index)
    out["save_s"] = time.perf_counter() - t0
    out["index_file_mb"] = os.path.getsize(args.index) / 1e6
    out["peak_rss_after_save_mb"] = _peak_rss_mb()
    return out


def child_load(args) -> dict:
    from dscref.io import load_index

    out = {"warmup_s": _warmup(args)}
    x = np.load(args.x, mmap_mode="r")
    labels = np.load(args.y, mmap_mode="r")
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    ix = load_index(args.index, mmap=True)
    out["load_s"] = time.perf_counter() - t0
    ids = np.random.default_rng(7).choice(x.shape[0], 21, replace=False)
    qs = _queries(ix, args.child, x, labels, ids)
    t0 = time.perf_counter()
    r0 = ix.search(qs[0], k=100)
    out["first_query_ms"] = 1e3 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ix.search(qs[1], k=100)
    out["second_query_ms"] = 1e3 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    rest = ix.search(qs[1:], k=100)
    out["mean_query_ms_20"] = 1e3 * (time.perf_counter() - t0) / 20
    I = np.concatenate([r0.I, rest.I])
    out["self_in_top10"] = float(np.mean([ids[j] in I[j, :10] for j in range(len(ids))]))
    out["candidates_per_query"] = float(np.concatenate([r0.n_candidates, rest.n_candidates]).mean())
    out["peak_rss_load_and_query_mb"] = _peak_rss_mb()
    out["rss_before_load_mb"] = rss0
    return out


def run(args) -> dict:
    workdir = tempfile.mkdtemp(prefix="dscref_bench_memory_", dir=args.tmpdir)
    px, py = os.path.join(workdir, "x.npy"), os.path.join(workdir, "y.npy")
    result = {"n": args.n, "d": args.d, "K": args.K, "classes": args.classes, "M": args.M, "nbits": 8,
              "pq_iter": args.pq_iter, "coarse_iter": args.coarse_iter, "workdir": workdir}
    try:
        result["data"] = make_features(px, py, args.n, args.d, args.classes, args.K, args.seed)
        for kind in args.kinds.split(","):
            pidx = os.path.join(workdir, f"{kind}.dscidx")
            common = [sys.executable, os.path.abspath(__file__), "--x", px, "--y", py, "--index", pidx,
                      "--K", str(args.K), "--M", str(args.M), "--pq-iter", str(args.pq_iter),
                      "--coarse-iter", str(args.coarse_iter), "--child", kind]
            res = {}
            for step in ("build", "load"):
                proc = subprocess.run(common + ["--step", step], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"{kind} {step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
                res[step] = json.loads(proc.stdout.strip().splitlines()[-1])
            result[kind] = res
            os.unlink(pidx)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="database items")
    p.add_argument("--d", type=int, default=2048, help="feature dimension")
    p.add_argument("--K", type=int, default=1000, help="DSC labels / IVF lists")
    p.add_argument("--classes", type=int, default=2000, help="synthetic Gaussian classes")
    p.add_argument("--M", type=int, default=8, help="PQ sub-quantizers (nbits = 8)")
    p.add_argument("--pq-iter", type=int, default=25, help="k-means iterations of every PQ")
    p.add_argument("--coarse-iter", type=int, default=20, help="k-means iterations of the IVF coarse quantizer")
    p.add_argument("--kinds", default="dsc,ivf", help="comma-separated: dsc, ivf")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmpdir", default=None, help="where the feature file goes (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the feature and index files")
    p.add_argument("--out", default=None, help="JSON output file (default: stdout only)")
    # internal: child-process mode
    p.add_argument("--child", choices=["dsc", "ivf"], help=argparse.SUPPRESS)
    p.add_argument("--step", choices=["build", "load"], help=argparse.SUPPRESS)
    p.add_argument("--x", help=argparse.SUPPRESS)
    p.add_argument("--y", help=argparse.SUPPRESS)
    p.add_argument("--index", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        res = child_build(args) if args.step == "build" else child_load(args)
        print(json.dumps(res))
        return res
    res = run(args)
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return res


if __name__ == "__main__":
    main()
