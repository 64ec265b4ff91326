"""The ``dscref`` command line. Each subcommand lives in a ``_cmd_<name>`` function registered by
``_add_<name>``; heavy modules are imported inside the command, so ``dscref --help`` is instant.
Results are printed; progress and diagnostics go through :mod:`logging` and tqdm.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__

log = logging.getLogger("dscref")


# --------------------------------------------------------------------------- selftest
def _add_selftest(sub) -> None:
    p = sub.add_parser(
        "selftest",
        help="train a PQ on seeded random data, search, print recall@10 against brute force",
        description="Quick sanity check of the kernels: trains a product quantizer on a small "
        "seeded Gaussian set, encodes it, runs ADC search for a few queries and prints "
        "recall@10 of the ADC ranking against exact brute-force search.",
    )
    p.add_argument("--n", type=int, default=20000, help="database size (default 20000)")
    p.add_argument("--d", type=int, default=64, help="dimension (default 64)")
    p.add_argument("--M", type=int, default=8, help="PQ sub-quantizers (default 8)")
    p.add_argument("--nq", type=int, default=100, help="number of queries (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_selftest)


def _cmd_selftest(args) -> int:
    import time

    import numpy as np

    from .pq import ProductQuantizer
    from .scoring import adc_l2, topk

    rng = np.random.default_rng(args.seed)
    # Clustered data (1000 Gaussian blobs, noise std 0.5): isotropic noise alone has no
    # near neighbours worth finding, which would make recall meaningless.
    centers = rng.standard_normal((1000, args.d)).astype(np.float32)
    xb = (centers[rng.integers(0, 1000, args.n)] + 0.5 * rng.standard_normal((args.n, args.d))).astype(np.float32)
    xq = (centers[rng.integers(0, 1000, args.nq)] + 0.5 * rng.standard_normal((args.nq, args.d))).astype(np.float32)
    t0 = time.perf_counter()
    pq = ProductQuantizer(M=args.M, nbits=8, seed=args.seed).fit(xb)
    codes = pq.encode(xb)
    t_fit = time.perf_counter() - t0
    luts = np.stack([pq.lut_l2(q) for q in xq])
    t0 = time.perf_counter()
    dist = adc_l2(luts, codes)
    _, approx = topk(dist, 10)
    t_search = time.perf_counter() - t0
    exact = ((xq ** 2).sum(1)[:, None] - 2 * xq @ xb.T + (xb ** 2).sum(1)[None, :])
    _, truth = topk(exact.astype(np.float32), 10)
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approx, truth)])
    nn_recall = np.mean([t[0] in set(a) for a, t in zip(approx, truth)])
    mse = float(((pq.decode(codes) - xb) ** 2).sum(1).mean())
    print(f"selftest: n={args.n} d={args.d} M={args.M} nbits=8 nq={args.nq} seed={args.seed}")
    print(f"  PQ fit+encode {t_fit:.2f} s (includes Numba compile on first run), "
          f"ADC search {t_search * 1e3:.1f} ms")
    print(f"  reconstruction MSE {mse:.4f} (mean squared norm {float((xb ** 2).sum(1).mean()):.2f})")
    print(f"  recall@10 (ADC top-10 vs exact top-10): {recall:.3f}")
    print(f"  1-recall@10 (exact nearest neighbour inside ADC top-10, faiss's R@10): {nn_recall:.3f}")
    return 0 if nn_recall > 0.5 else 1


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dscref",
        description="Deep Semantic Coding for wireless image retrieval (Wang & Qi): reference "
        "implementation, experiments and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"dscref {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_selftest,):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"dscref {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
