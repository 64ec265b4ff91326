"""Table-I-like retrieval benchmark on the embedded synthetic set (about 100k items).

Rows: DUC-G+P, DUC-IVF, DUC-IMI, DSC with raw 2048-d features and with PQ (5 x 8-byte codes =
40 bytes after the 7-byte head), plus DUC+PQ (one 40-byte code, no head). Columns: mAP, Recall,
R@1, R@10, R@100, candidates scanned, bytes sent, ms per query. The paper's Oxford105k numbers
are printed beside ours; they are *not* expected to match (synthetic data, see the README).

    python benchmarks/bench_retrieval.py --n 100000 --out bench_results/retrieval
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="database size (default 100000)")
    ap.add_argument("--d", type=int, default=2048, help="feature dimension (default 2048)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    ap.add_argument("--out", default="bench_results/retrieval")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from dscref import experiments as E

    t0 = time.perf_counter()
    data = E.synthetic_data(args.n, seed=args.seed, d=args.d)
    res = E.table1(data, seed=args.seed, metric=args.metric)
    res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    res["wall_s"] = time.perf_counter() - t0
    path = E.write_results(Path(args.out), res, data, vars(args))
    print(E.format_table1(res, "105k"))
    print(f"build times (s): {json.dumps({k: round(v, 1) for k, v in res['build_s'].items()})}; "
          f"total {res['wall_s']:.0f} s; peak RSS {res['peak_rss_gib']:.2f} GiB -> {path}")
    return res


if __name__ == "__main__":
    main()
