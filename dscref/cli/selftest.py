"""``dscref selftest``: the arguments of :func:`dscref.selftest.selftest` and its printed report."""

from __future__ import annotations

from ._common import count_arg as _count

__all__ = ["add_selftest", "cmd_selftest", "format_selftest"]


def add_selftest(sub) -> None:
    p = sub.add_parser(
        "selftest",
        help="train a PQ on seeded random data, search, print recall@10 against brute force",
        description="Quick sanity check of the kernels: trains a product quantizer on a small "
        "seeded Gaussian set, encodes it, runs ADC search for a few queries and prints "
        "recall@10 of the ADC ranking against exact brute-force search.",
    )
    p.add_argument("--n", type=_count(256), default=20000, help="database size (default 20000)")
    p.add_argument("--d", type=_count(), default=64, help="dimension (default 64)")
    p.add_argument("--M", type=_count(), default=8, help="PQ sub-quantizers, dividing --d (default 8)")
    p.add_argument("--nq", type=_count(), default=100, help="number of queries (default 100)")
    p.add_argument("--seed", type=_count(0), default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_selftest)


def format_selftest(res) -> list:
    """The printed lines of a :class:`dscref.selftest.SelftestResult`."""
    return [f"selftest: n={res.n} d={res.d} M={res.M} nbits={res.nbits} nq={res.nq} seed={res.seed}",
            f"  PQ fit+encode {res.fit_seconds:.2f} s (includes Numba compile on first run), "
            f"ADC search {res.search_seconds * 1e3:.1f} ms",
            f"  reconstruction MSE {res.mse:.4f} (mean squared norm {res.mean_sq_norm:.2f})",
            f"  recall@10 (ADC top-10 vs exact top-10): {res.recall:.3f}",
            f"  1-recall@10 (exact nearest neighbour inside ADC top-10, faiss's R@10): {res.nn_recall:.3f}"]


def cmd_selftest(args) -> int:
    from ..selftest import selftest

    if args.d % args.M:
        raise ValueError(f"--d {args.d} is not divisible by --M {args.M}")
    res = selftest(n=args.n, d=args.d, M=args.M, nq=args.nq, seed=args.seed)
    print("\n".join(format_selftest(res)))
    return 0 if res.passed else 1
