"""Fuzz harness for the payload decoder: ``decode_payload`` then ``search``.

Contract: for any input bytes the decoder returns a query whose head labels are distinct and
< K and whose codes fit nbits, and that query searches without error; or it raises
``PayloadError``. Any other exception, or a case slower than ``--max-case-seconds``, is a bug.

Two modes (neither runs in CI; ``tests/test_fuzz.py`` runs a bounded hypothesis version):

* plain (default, needs only numpy): ``--cases`` random cases, half random bytes of random
  length, half valid payloads with random bit flips at BER 1e-4 .. 0.5 (log-uniform);
  prints a JSON summary of outcome counts and timing::

      PYTHONPATH=. python tests/fuzz/fuzz_payload.py --cases 100000

* atheris (coverage-guided, optional): ``pip install atheris``, then::

      PYTHONPATH=. python tests/fuzz/fuzz_payload.py --atheris -atheris_runs=100000

  Without atheris installed this mode prints a note and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def make_target(seed: int = 0):
    """A DSC index with the paper's layout (K=1000, 5 x 10-bit head, M=8, nbits=8: 47 bytes)."""
    from dscref.codec import PayloadLayout
    from dscref.index.semantic import SemanticIndex

    rng = np.random.default_rng(seed)
    n, d, K = 20000, 16, 1000
    labels = rng.integers(0, K, n)
    labels[labels % 97 == 0] = 1  # some empty partitions
    x = rng.standard_normal((n, d)).astype(np.float32)
    index = SemanticIndex(K, M=8, nbits=8, n_iter=2, seed=0, progress=False).build(x, labels)
    return index, PayloadLayout.for_index(index, 5), x


def check_one(buf, index, layout, policy: str) -> str:
    """Decode + search one buffer; returns the outcome name or raises on a contract violation."""
    from dscref.codec import decode_payload
    from dscref.errors import PayloadError

    try:
        q, report = decode_payload(buf, layout, policy=policy)
    except PayloadError:
        return "payload_error"
    lab = q.labels
    if lab.size and (lab.min() < 0 or lab.max() >= index.n_lists or np.unique(lab).size != lab.size):
        raise AssertionError(f"decoded invalid head {lab.tolist()} from {bytes(buf).hex()}")
    if q.codes.shape != (lab.size, layout.M) or (q.codes.size and int(q.codes.max()) >= 1 << layout.nbits):
        raise AssertionError(f"decoded invalid codes {q.codes!r} from {bytes(buf).hex()}")
    index.search(q, k=10)
    index.search(q, k=10, metric="cosine")
    return "clean" if report.clean else "repaired"


def run_plain(cases: int, seed: int, max_case_seconds: float) -> dict:
    import numba

    # tiny lists: one thread avoids the parallel kernels' fork/join cost (ms on a busy machine)
    numba.set_num_threads(1)
    index, layout, x = make_target(seed)
    rng = np.random.default_rng(seed + 1)
    counts = {"random_bytes": 0, "bit_flips": 0, "clean": 0, "repaired": 0, "payload_error": 0}
    slowest = 0.0
    t0 = time.perf_counter()
    valid = []
    for i in range(64):  # a pool of valid payloads to corrupt
        from dscref.codec import encode_payload

        head = rng.choice(index.n_lists, layout.head_size, replace=False)
        valid.append(np.frombuffer(encode_payload(index.encode_query(x[i], top_labels=head), layout), np.uint8))
    check_one(valid[0], index, layout, "drop")  # compile the kernels before timing
    for c in range(cases):
        policy = "drop" if c % 2 else "nearest_valid"
        if c % 4 < 2:
            counts["random_bytes"] += 1
            n = layout.nbytes if rng.random() < 0.5 else int(rng.integers(0, 2 * layout.nbytes))
            buf = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        else:
            counts["bit_flips"] += 1
            ber = 10 ** rng.uniform(-4, np.log10(0.5))
            bits = np.unpackbits(valid[c % len(valid)])
            buf = np.packbits(bits ^ (rng.random(bits.size) < ber))
        t = time.perf_counter()
        outcome = check_one(buf, index, layout, policy)
        slowest = max(slowest, time.perf_counter() - t)
        if slowest > max_case_seconds:
            raise AssertionError(f"case {c} took {slowest:.3f} s (> {max_case_seconds})")
        counts[outcome] += 1
    elapsed = time.perf_counter() - t0
    return {"mode": "plain", "cases": cases, "layout_bytes": layout.nbytes, "counts": counts,
            "other_exceptions": 0, "seconds": round(elapsed, 2), "cases_per_s": round(cases / elapsed),
            "slowest_case_ms": round(1e3 * slowest, 3)}


def run_atheris(argv) -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris): skipping the coverage-guided mode")
        return 0
    index, layout, _ = make_target(0)

    def one_input(data: bytes) -> None:
        if not data:
            return
        check_one(data[1:], index, layout, "drop" if data[0] & 1 else "nearest_valid")

    atheris.Setup([sys.argv[0]] + list(argv), one_input)
    atheris.Fuzz()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing (needs atheris)")
    p.add_argument("--cases", type=int, default=100_000, help="plain mode: number of cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-case-seconds", type=float, default=10.0, help="a slower case counts as a hang")
    args, rest = p.parse_known_args(argv)
    if args.atheris:
        return run_atheris(rest)
    print(json.dumps(run_plain(args.cases, args.seed, args.max_case_seconds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
