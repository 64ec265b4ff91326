"""Bounded fuzz of the public API (the drivers of ``benchmarks/fuzz_api.py``).

Every public callable of ``scoring``, ``pq``, ``kmeans``, ``bitpack``, ``channel``, ``codec``,
``robust``, ``link``, ``convcode`` and ``crc`` (from each ``__all__``) and ``search`` / ``encode_query`` of every index class is
called with random shapes, dtypes and extreme values; only ``ValueError`` / ``TypeError``
subclasses may escape and no result may hold NaN. ``DSCREF_FUZZ_CALLS`` scales the run (default
about 20 calls per target, a few seconds); the benchmark runs 10^5 and more.
"""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fuzz_api  # noqa: E402

CALLS = int(os.environ.get("DSCREF_FUZZ_CALLS", "0"))


@pytest.fixture(scope="module")
def ctx():
    return fuzz_api.Context(seed=0)


def test_every_public_callable_has_a_driver():
    targets = fuzz_api.public_targets()
    missing = [t for t in targets if t not in fuzz_api.DRIVERS]
    assert not missing, f"public callables without a fuzz driver in benchmarks/fuzz_api.py: {missing}"
    assert len(targets) > 70  # the enumeration itself works (functions, classes, methods, indexes)
    for expected in ("scoring.topk", "pq.ProductQuantizer.encode", "kmeans.KMeans.fit", "bitpack.unpack",
                     "channel.Modem.demodulate", "codec.decode_payload", "robust.decode_robust_payload",
                     "index.GPIndex.search", "index.SemanticIndex.encode_query", "link.Link.send",
                     "link.Link.send_heads", "link.AnalogLink.send"):
        assert expected in targets


@pytest.mark.parametrize("seed", [0, 1])
def test_only_value_and_type_errors_escape(ctx, seed):
    targets = fuzz_api.public_targets()
    calls = CALLS or 10 * len(targets)
    report = fuzz_api.run(calls, seed=seed, ctx=ctx, targets=targets)
    assert report["n_failures"] == 0, json.dumps(report["failures"][:5], indent=1, default=str)
    # every target was exercised, and the inputs were hostile enough to be refused often
    assert set(report["per_target"]) == set(targets)
    rejected = sum(v for k, v in report["outcomes"].items() if k.startswith("rejected"))
    assert 0.2 * calls < rejected < 0.9 * calls, report["outcomes"]
