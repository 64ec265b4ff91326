"""Subprocess worker for tests/test_threads.py (not a test module): ``python threads_worker.py MODE``.

The threading layer and thread count are fixed by the environment (NUMBA_THREADING_LAYER,
NUMBA_NUM_THREADS) before Numba starts, which is why these checks run in fresh processes.

MODE
  concurrent  one index searched by 4 threads at once (l2, cosine, payload decode, PQ
              encode / decode, fused ADC top-k) -> results equal the serial ones; prints OK
  fork        search, then a multiprocessing.Pool with the 'fork' start method searches in the
              children -> prints FORK-OK, or FORK-ERROR <message> for dscref's UnsafeForkError
  digest      sha256 of every parallel kernel's public result -> one JSON line
Every mode also prints ``LAYER <numba.threading_layer()>``.
"""

import hashlib
import json
import sys
import threading

import numpy as np

from dscref.bitpack import pack, unpack
from dscref.channel import AWGN, Modem, transmit_analog, transmit_bits
from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.index.semantic import SemanticIndex
from dscref.kmeans import KMeans
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_cosine, adc_l2, adc_l2_topk
from dscref.index import _engine

K = 20
# every batched search is split over the engine's threads, however small
_engine.PARALLEL_MIN_CANDIDATES = 0


def small_index():
    """A DSC index built in about a second (3000 x 32, 20 partitions)."""
    rng = np.random.default_rng(0)
    C = rng.standard_normal((K, 32)).astype(np.float32)
    labels = rng.integers(0, K, 3000)
    x = (C[labels] + 0.6 * rng.standard_normal((3000, 32))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = SemanticIndex(K, M=4, nbits=6, n_iter=8, seed=0, progress=False).build(x, labels)
    queries = [index.encode_query(x[i], [labels[i], (labels[i] + 1) % K, (labels[i] + 7) % K])
               for i in range(0, 3000, 75)]
    return index, queries


def parallel_pq():
    """A PQ (dsub 16: direct path) whose encode takes the threaded kernel (n * d * 256 >= 2^24)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4096, 128)).astype(np.float32)
    pq = ProductQuantizer(8, 8, n_iter=3, seed=0).fit(x[:2048])
    return pq, x


def search_results(index, queries):
    layout = PayloadLayout.for_index(index, head_size=3)
    payloads = [encode_payload(q, layout) for q in queries]
    decoded = [decode_payload(p, layout)[0] for p in payloads]
    return (index.search(queries, 10, "l2"), index.search(queries, 10, "cosine"),
            index.search(decoded, 10, "cosine"))


def same(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def concurrent() -> None:
    index, queries = small_index()
    pq, x = parallel_pq()
    codes = pq.encode(x)
    rng = np.random.default_rng(2)
    big = rng.integers(0, 256, (1 << 21, 8), dtype=np.uint8)  # n * nq >= 2^22: threaded scans
    luts = rng.random((2, 8, 256), dtype=np.float32)
    ref = search_results(index, queries)
    ref_dec, ref_topk = pq.decode(codes), adc_l2_topk(luts, big, 20)
    errors = []

    def work(t):
        try:
            for _ in range(2):
                got = search_results(index, queries)
                for a, b in zip(got, ref):
                    if not same(a, b):
                        raise AssertionError(f"thread {t}: search result differs from the serial one")
                if not np.array_equal(pq.encode(x), codes) or not np.array_equal(pq.decode(codes), ref_dec):
                    raise AssertionError(f"thread {t}: PQ encode / decode differs")
                if not same(adc_l2_topk(luts, big, 20), ref_topk):
                    raise AssertionError(f"thread {t}: ADC top-k differs")
        except BaseException as e:  # noqa: BLE001 - reported by the parent test
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        print("ERRORS", errors)
        sys.exit(1)
    print("OK")


_FORK_STATE = {}


def _child_search(i):
    index, queries = _FORK_STATE["index"], _FORK_STATE["queries"]
    r = index.search(queries[i:i + 2], 10, "cosine")
    return r.D, r.I, index.pqs_[0].decode(index.codes_[:50])


def fork() -> None:
    import multiprocessing as mp

    index, queries = small_index()
    ref = index.search(queries, 10, "cosine")
    ref_dec = index.pqs_[0].decode(index.codes_[:50])
    _FORK_STATE.update(index=index, queries=queries)
    try:
        with mp.get_context("fork").Pool(2) as pool:
            out = pool.map(_child_search, range(0, 8, 2))
    except Exception as e:  # dscref.errors.UnsafeForkError, matched by name: the worker also runs on old code
        if type(e).__name__ != "UnsafeForkError":
            raise
        print("FORK-ERROR", e)
        return
    for j, (D, I, dec) in zip(range(0, 8, 2), out):
        assert np.array_equal(D, ref.D[j:j + 2]) and np.array_equal(I, ref.I[j:j + 2]), j
        assert np.array_equal(dec, ref_dec)
    print("FORK-OK")


def digest() -> None:
    out = {}

    def put(name, *arrays):
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        out[name] = h.hexdigest()[:16]

    index, queries = small_index()
    for name, r in zip(("search_l2", "search_cosine", "search_decoded"), search_results(index, queries)):
        put(name, r.D, r.I, r.n_candidates)
    for metric in ("l2", "cosine"):  # the batch (parallel engine) equals queries one at a time
        batch = index.search(queries, 10, metric)
        one = [index.search(q, 10, metric) for q in queries]
        if not all(np.array_equal(np.concatenate([getattr(o, f) for o in one]), getattr(batch, f))
                   for f in ("D", "I", "n_candidates")):
            raise AssertionError(f"{metric}: the batched search differs from one query at a time")
    pq, x = parallel_pq()
    codes = pq.encode(x)
    put("pq_fit", pq.codebooks_)
    put("pq_encode", codes)
    put("pq_decode", pq.decode(codes))
    pq2 = ProductQuantizer(2, 8, n_iter=3, seed=0).fit(x[:2048])  # dsub 64: the GEMM path
    put("pq_gemm", pq2.codebooks_, pq2.encode(x))
    rng = np.random.default_rng(3)
    xk = rng.standard_normal((8192, 512)).astype(np.float32)  # n * d = 2^22: threaded Lloyd sums
    km = KMeans(16, n_iter=6, seed=0, max_points_per_centroid=None).fit(xk)
    put("kmeans", km.centroids_, km.predict(xk))
    # one cluster whose float64 sum depends on the summation order: 2^53 + 1 rounds to 2^53
    xo = np.zeros((8192, 512), np.float32)
    xo[:, 0] = 1.0
    xo[0, 0], xo[-1, 0] = 2.0 ** 53, -(2.0 ** 53)
    put("kmeans_order", KMeans(1, n_iter=2, seed=0, max_points_per_centroid=None).fit(xo).centroids_)
    big = rng.integers(0, 256, (1 << 21, 8), dtype=np.uint8)
    luts = rng.random((2, 8, 256), dtype=np.float32)
    put("adc_l2", adc_l2(luts, big))
    put("adc_l2_topk", *adc_l2_topk(luts, big, 50))
    put("adc_cosine", adc_cosine(luts[0], big, 0.5, 2.0, rng.random(big.shape[0], dtype=np.float32) + 0.5))
    labels = rng.integers(0, 1000, (5000, 5))
    packed = pack(labels, 10)
    put("bitpack", packed, unpack(packed, 10, 5))
    put("analog", transmit_analog(xk[:256], AWGN(5.0), rng=0).received)
    bits = rng.integers(0, 2, 4096 * 4, dtype=np.uint8)
    put("demod", transmit_bits(bits, Modem("16qam"), AWGN(8.0), rng=0, soft=True).llr)
    out["LAYER"] = _layer()
    print(json.dumps(out, sort_keys=True))


def _layer() -> str:
    import numba

    return numba.threading_layer()


if __name__ == "__main__":
    mode = sys.argv[1]
    {"concurrent": concurrent, "fork": fork, "digest": digest}[mode]()
    print("LAYER", _layer())
