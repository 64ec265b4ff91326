"""Nearest-codeword search (dscref.nearest): direct kernel == NumPy twin bit for bit, GEMM kernel
== float64 search up to near-ties, serial == threaded, and the same codes on 1 or 2 threads."""

import json
import os
from fractions import Fraction
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref._kernels import kmeans as kmeans_kern
from dscref._kernels import nearest as kern
from dscref._reference.kmeans import subspace_sums_ref
from dscref._reference.nearest import fma32_ref, nearest_direct_ref, nearest_f64_ref, subspace_sqnorms_ref
from dscref.nearest import (DIRECT_MAX_DSUB, gemm_operands, nearest, nearest_split, padded_codebooks,
                            parallel_plan, subspace_sqnorms, uses_direct)

ROOT = Path(__file__).resolve().parents[1]
seeds = st.integers(0, 2**31 - 1)


def _problem(seed, n, M, k, dsub, ties=False):
    """Random points and codebooks; with ``ties`` duplicated codewords and points on codewords."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 10)
    x = (rng.standard_normal((n, M * dsub)) * scale).astype(np.float32)
    cb = (rng.standard_normal((M, k, dsub)) * scale).astype(np.float32)
    if ties and k > 1:
        cb[:, k - 1] = cb[:, 0]  # an exact tie: index 0 must win
        cb[:, k // 2] = cb[:, k // 3]
    if ties and n:
        rows = rng.integers(0, n, max(1, n // 5))
        for m in range(M):  # some points sit exactly on a codeword
            x[rows, m * dsub:(m + 1) * dsub] = cb[m, rng.integers(0, k, rows.size)]
    return x, cb


def _run(fn, x, *args, M):
    labels = np.empty((x.shape[0], M), np.int32)
    dists = np.empty((x.shape[0], M), np.float32)
    fn(x, *args, labels, dists)
    return labels, dists


def _round_f32(e):
    """The float32 nearest to the exact rational e (ties to even), by search around float(e)."""
    f = np.float32(float(e))
    cands = [f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - e), int(np.array(c).view(np.int32)) & 1))


def test_fma_of_the_kernel_and_of_the_twin_round_once():
    """fma32_ref (the twin's) and the kernels' fma32 equal exact rational arithmetic rounded once,
    including a case where float64-then-float32 rounding (double rounding) would be wrong."""
    from numba import njit

    from dscref._kernels.direct import fma32

    kernel_fma = njit(lambda a, b, c: fma32(a, b, c))
    x = np.float32((2 ** 23 + 1) * 2.0 ** -35)
    y = np.float32((2 ** 23 - 1) * 2.0 ** -35)
    z = np.float32(1 + 2.0 ** -23)  # x*y + z = 1 + 3 * 2^-24 - 2^-70: just below a midpoint
    assert np.float32(np.float64(x) * np.float64(y) + np.float64(z)) == np.float32(1 + 2.0 ** -22)
    rng = np.random.default_rng(0)
    xs = np.concatenate([[x], rng.standard_normal(3000) * 2.0 ** rng.integers(-20, 20, 3000)]).astype(np.float32)
    ys = np.concatenate([[y], rng.standard_normal(3000)]).astype(np.float32)
    zs = np.concatenate([[z], rng.standard_normal(3000) * 2.0 ** rng.integers(-30, 30, 3000)]).astype(np.float32)
    twin = fma32_ref(xs, ys, zs)
    exact = np.array([_round_f32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))
                      for a, b, c in zip(xs, ys, zs)], np.float32)
    np.testing.assert_array_equal(twin, exact)
    assert twin[0] == np.float32(1 + 2.0 ** -23)
    np.testing.assert_array_equal([kernel_fma(a, b, c) for a, b, c in zip(xs, ys, zs)], exact)


@given(seeds, st.integers(0, 2500), st.integers(1, 5), st.integers(1, 300), st.integers(1, 70),
       st.sampled_from([16, 64, 256]), st.booleans())
def test_direct_kernel_equals_twin_bit_for_bit(seed, n, M, k, dsub, P, ties):
    """Labels and distances identical to the twin for any width (the public path uses it up to
    DIRECT_MAX_DSUB), odd and even k, any block size; the threaded kernel gives the same bits."""
    x, cb = _problem(seed, n, M, k, dsub, ties)
    cbp = padded_codebooks(cb)
    lab, dis = _run(kern.nearest_direct_serial, x, cbp, dsub, P, M=M)
    ref_lab, ref_dis = nearest_direct_ref(x, cb)
    np.testing.assert_array_equal(lab, ref_lab)
    np.testing.assert_array_equal(dis, ref_dis)
    lab2, dis2 = _run(kern.nearest_direct, x, cbp, dsub, 256, M=M)
    np.testing.assert_array_equal(lab2, lab)
    np.testing.assert_array_equal(dis2, dis)
    if ties and k > 1:
        assert not (lab == k - 1).any()  # the duplicate of codeword 0 never wins


@given(seeds, st.integers(1, 1500), st.integers(1, 3), st.integers(1, 700), st.integers(1, 70), st.booleans(),
       st.sampled_from([16, 256, 1024]))
def test_gemm_kernel_agrees_with_float64_search_up_to_near_ties(seed, n, M, k, dsub, ties, P):
    """The chosen codeword is nearest in float64 up to the expanded form's rounding; k above the
    512-codeword block exercises the blocked argmin; M = 1 reads x in place; serial and
    threaded kernels agree bit for bit."""
    x, cb = _problem(seed, n, M, k, dsub, ties)
    ops = gemm_operands(cb)
    xx = subspace_sqnorms(x, dsub)
    lab, dis = _run(kern.nearest_gemm_serial, x, *ops, xx, P, M=M)
    d2 = nearest_f64_ref(x, cb)
    best = d2.min(-1)
    chosen = np.take_along_axis(d2, lab[..., None].astype(np.int64), -1)[..., 0]
    xx64 = (x.astype(np.float64).reshape(n, M, dsub) ** 2).sum(-1)
    # rounding bound of two expanded-form scores: (dsub + 3) float32 unit roundoffs each,
    # relative to ||x||^2 + ||c||^2
    tol = 2 * (dsub + 3) * 2.0 ** -24 * (xx64 + (cb.astype(np.float64) ** 2).sum(-1).max(-1)) + 1e-30
    assert np.all(chosen - best <= tol)
    assert np.all(np.abs(dis - best) <= tol)
    lab2, dis2 = _run(kern.nearest_gemm, x, *ops, xx, P, M=M)
    np.testing.assert_array_equal(lab2, lab)
    np.testing.assert_array_equal(dis2, dis)


@given(seeds, st.integers(0, 500), st.integers(1, 5), st.integers(1, 40))
def test_subspace_sqnorms_equal_twin(seed, n, M, dsub):
    x = (np.random.default_rng(seed).standard_normal((n, M * dsub)) * 1e3).astype(np.float32)
    np.testing.assert_array_equal(subspace_sqnorms(x, dsub), subspace_sqnorms_ref(x, dsub))


@given(seeds, st.integers(0, 3000), st.integers(1, 9), st.integers(1, 40), st.integers(1, 6))
def test_subspace_sums_equal_twin(seed, n, M, k, dsub):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((M, n, dsub)).astype(np.float32)
    labels = rng.integers(0, k, (M, n)).astype(np.int32)
    sums, counts = np.zeros((M, k, dsub)), np.zeros((M, k), np.int64)
    kmeans_kern.subspace_sums(xs, labels, sums, counts)
    rs, rc = subspace_sums_ref(xs, labels, k)
    np.testing.assert_array_equal(sums, rs)
    np.testing.assert_array_equal(counts, rc)


def test_subspace_sums_add_rows_in_order():
    """float64 sums whose value depends on the order: 2^53 + 1 rounds back to 2^53."""
    xs = np.array([[[2.0 ** 53], [1.0], [1.0], [-(2.0 ** 53)]]], np.float32)
    labels = np.zeros((1, 4), np.int32)
    sums, counts = np.zeros((1, 1, 1)), np.zeros((1, 1), np.int64)
    kmeans_kern.subspace_sums(xs, labels, sums, counts)
    assert sums[0, 0, 0] == subspace_sums_ref(xs, labels, 1)[0][0, 0, 0] == 0.0  # reversed: 2.0


@given(seeds, st.integers(0, 2500), st.integers(1, 5), st.integers(1, 300), st.sampled_from([3, 8, 17, 33, 64, 70]),
       st.booleans(), st.booleans())
def test_split_layout_gives_the_bits_of_the_row_layout(seed, n, M, k, dsub, ties, parallel):
    """PQ training's sub-space-major search equals :func:`nearest` on the same vectors, labels and
    distances bit for bit, on both paths (the GEMM path multiplies the same rows in place)."""
    x, cb = _problem(seed, n, M, k, dsub, ties)
    lab, dis = np.empty((n, M), np.int32), np.empty((n, M), np.float32)
    nearest(x, cb, lab, dis)
    xs = np.ascontiguousarray(x.reshape(n, M, dsub).transpose(1, 0, 2))
    lab_s, dis_s = np.empty((M, n), np.int32), np.empty((M, n), np.float32)
    nearest_split(xs, cb, lab_s, dis_s, parallel=parallel)
    np.testing.assert_array_equal(lab_s, lab.T)
    np.testing.assert_array_equal(dis_s, dis.T)
    lab_only = np.empty((M, n), np.int32)
    nearest_split(xs, cb, lab_only)
    np.testing.assert_array_equal(lab_only, lab.T)


@pytest.mark.parametrize("dsub", [4, 40, DIRECT_MAX_DSUB, DIRECT_MAX_DSUB + 1, 130])
def test_public_search_picks_path_by_shape_and_any_label_dtype(dsub):
    """Direct path up to DIRECT_MAX_DSUB (twin bits), GEMM above; uint8 / uint16 / int64 labels
    (row chunks through an int32 buffer) equal the int32 result, threaded or not."""
    n, M, k = 20000, 2, 200  # n > CHUNK_ROWS: more than one chunk
    x, cb = _problem(dsub, n, M, k, dsub, ties=True)
    assert uses_direct(dsub) == (dsub < 64)
    lab = np.empty((n, M), np.int32)
    dis = np.empty((n, M), np.float32)
    with parallel_plan(n, M * dsub, k, dsub) as parallel:
        nearest(x, cb, lab, dis, parallel)
    if uses_direct(dsub):
        ref_lab, ref_dis = nearest_direct_ref(x, cb)
        np.testing.assert_array_equal(lab, ref_lab)
        np.testing.assert_array_equal(dis, ref_dis)
    if not uses_direct(dsub):  # norms passed in: the same bits
        lab_n, dis_n = np.empty_like(lab), np.empty_like(dis)
        nearest(x, cb, lab_n, dis_n, x_sqnorms=subspace_sqnorms(x, dsub))
        np.testing.assert_array_equal(lab_n, lab)
        np.testing.assert_array_equal(dis_n, dis)
    ro = x.copy()
    ro.setflags(write=False)  # a read-only input (np.load mmap_mode="r") gives the same result
    lab_ro = np.empty_like(lab)
    nearest(ro, cb, lab_ro)
    np.testing.assert_array_equal(lab_ro, lab)
    km_ro = np.ascontiguousarray(ro[:, :dsub])
    km_ro.setflags(write=False)
    lab1, lab1_ro = np.empty((n, 1), np.int32), np.empty((n, 1), np.int32)
    nearest(np.ascontiguousarray(x[:, :dsub]), cb[:1], lab1)
    nearest(km_ro, cb[:1], lab1_ro)  # M = 1: the GEMM path reads the rows in place
    np.testing.assert_array_equal(lab1_ro, lab1)
    for dtype in (np.uint8, np.uint16, np.int64):
        other = np.empty((n, M), dtype)
        odis = np.empty((n, M), np.float32)[:, ::-1]  # a non-contiguous output
        nearest(x, cb, other, odis)
        np.testing.assert_array_equal(other, lab)
        np.testing.assert_array_equal(odis, dis)


def test_bad_arguments_are_named():
    x = np.zeros((5, 8), np.float32)
    cb = np.zeros((2, 3, 4), np.float32)
    lab = np.empty((5, 2), np.int32)
    with pytest.raises(TypeError, match="float32"):
        nearest(x.astype(np.float64), cb, lab)
    with pytest.raises(TypeError, match="codebooks"):
        nearest(x, cb[0], lab)
    with pytest.raises(ValueError, match="width 8"):
        nearest(x, np.zeros((3, 3, 4), np.float32), lab)
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        nearest(x, cb, np.empty((5, 3), np.int32))
    with pytest.raises(ValueError, match="cannot hold"):
        nearest(x, np.zeros((2, 300, 4), np.float32), np.empty((5, 2), np.uint8))
    with pytest.raises(ValueError, match="dists"):
        nearest(x, cb, lab, np.empty((5, 2), np.float64))


# ------------------------------------------------------------------ thread-count independence
SCRIPT = r"""
import hashlib, json
import numpy as np
from dscref.kmeans import KMeans
from dscref.pq import ProductQuantizer

rng = np.random.default_rng(0)
out = {}
for d, M in ((64, 16), (256, 2)):  # dsub 4: direct path; dsub 128: GEMM path
    x = (rng.standard_normal((6000, d)) * rng.uniform(0.5, 2, d)).astype(np.float32)
    pq = ProductQuantizer(M, 8, n_iter=4, seed=1).fit(x)
    codes = pq.encode(x)
    out[f"pq{d}_{M}"] = hashlib.sha256(pq.codebooks_.tobytes() + codes.tobytes()).hexdigest()[:16]
    km = KMeans(256, n_iter=4, seed=2, max_points_per_centroid=None).fit(x[:, :16 if M == 16 else 96])
    out[f"km{d}"] = hashlib.sha256(km.centroids_.tobytes() + km.predict(x[:, :km.centroids_.shape[1]]).tobytes()).hexdigest()[:16]
import numba
out["threads"] = numba.get_num_threads()
print(json.dumps(out))
"""


def test_codes_identical_on_one_and_two_threads():
    """PQ fit + encode and k-means on both paths give the same bits with NUMBA_NUM_THREADS 1 and 2
    (the work is above the parallel threshold, so 2 threads run the threaded kernels)."""
    runs = []
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
        r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                           timeout=600, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert [r.pop("threads") for r in runs] == [1, 2]
    assert runs[0] == runs[1]
    assert len(set(runs[0].values())) == len(runs[0])  # every digest covers different data
