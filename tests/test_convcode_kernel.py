"""The Viterbi kernels (dscref._kernels.convcode) equal their NumPy twin exactly (decoded bits and
path metrics, ties included), the threaded kernel equals the serial one, and the public decoder
gives the same bytes with 1 and 2 Numba threads."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dscref import convcode as cc
from dscref._kernels import convcode as kern
from dscref._reference.convcode import branch_table_ref, viterbi_ref

ROOT = Path(__file__).resolve().parents[1]


def _kernel(L, n_info, parallel=False):
    bits = np.empty((L.shape[0], n_info), dtype=np.uint8)
    metric = np.empty(L.shape[0])
    (kern.viterbi_batch_parallel if parallel else kern.viterbi_batch)(
        np.ascontiguousarray(L, dtype=np.float64), cc._BTYPE, n_info, bits, metric)
    return bits, metric


def test_branch_table_of_the_public_module_matches_the_twin():
    assert np.array_equal(cc._BTYPE, branch_table_ref())
    # state 0 from predecessor 0 (input 0): output 00; state 32 from 0 (input 1): 11 (both taps at D^0)
    assert cc._BTYPE[0, 0] == 0 and cc._BTYPE[32, 0] == 3


@given(n=st.integers(1, 6), n_info=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["gauss", "ints", "punctured"]))
def test_kernel_equals_twin_exactly(n, n_info, seed, kind):
    rng = np.random.default_rng(seed)
    T = n_info + 6
    if kind == "gauss":
        L = rng.standard_normal((n, 2 * T)) * rng.uniform(0.1, 10)
    elif kind == "ints":  # small integers: many exact ties between competing paths
        L = rng.integers(-2, 3, (n, 2 * T)).astype(np.float64)
    else:  # depunctured: zeros where the 3/4 pattern removed a bit
        L = np.zeros((n, 2 * T))
        mask = cc.puncture_mask(n_info, "3/4")
        L[:, mask] = rng.standard_normal((n, int(mask.sum())))
    rb, rm = viterbi_ref(L, n_info)
    for parallel in (False, True):
        kb, km = _kernel(L, n_info, parallel)
        assert np.array_equal(kb, rb)
        assert np.array_equal(km, rm)  # bit-identical float64 metrics


def test_public_decoder_equals_twin_on_noisy_codewords_all_rates():
    rng = np.random.default_rng(5)
    for rate in cc.RATES:
        u = rng.integers(0, 2, (40, 100)).astype(np.uint8)
        L = (1.0 - 2.0 * cc.encode(u, rate)) * 2.0 + rng.standard_normal((40, cc.coded_length(100, rate))) * 2.5
        bits, metric = cc.decode(L, rate, 100, return_metric=True)
        full = np.zeros((40, 2 * 106))
        full[:, cc.puncture_mask(100, rate)] = L
        rb, rm = viterbi_ref(full, 100)
        assert np.array_equal(bits, rb) and np.array_equal(metric, rm)
        assert (bits != u).any()  # the noise is strong enough that errors remain: not a trivial case


def test_all_zero_llrs_tie_everywhere_and_both_pick_the_same_path():
    L = np.zeros((2, 2 * 16))
    kb, km = _kernel(L, 10)
    rb, rm = viterbi_ref(L, 10)
    assert np.array_equal(kb, rb) and np.array_equal(km, rm) and not kb.any()


SCRIPT = r"""
import hashlib, sys
import numpy as np
import numba
from dscref import convcode as cc
rng = np.random.default_rng(11)
h = hashlib.sha256()
for rate in cc.RATES:
    u = rng.integers(0, 2, (256, 376)).astype(np.uint8)
    L = (1.0 - 2.0 * cc.encode(u, rate)) + rng.standard_normal((256, cc.coded_length(376, rate))) * 1.2
    bits, metric = cc.decode(L, rate, 376, return_metric=True)
    h.update(bits.tobytes()); h.update(metric.tobytes())
print(numba.get_num_threads(), h.hexdigest())
"""


def _digest_in_process():
    rng = np.random.default_rng(11)
    h = hashlib.sha256()
    for rate in cc.RATES:
        u = rng.integers(0, 2, (256, 376)).astype(np.uint8)
        L = (1.0 - 2.0 * cc.encode(u, rate)) + rng.standard_normal((256, cc.coded_length(376, rate))) * 1.2
        full = np.zeros((256, 2 * 382))
        full[:, cc.puncture_mask(376, rate)] = L
        bits, metric = _kernel(full, 376, parallel=False)
        h.update(bits.tobytes())
        h.update(metric.tobytes())
    return h.hexdigest()


def test_results_identical_with_1_and_2_threads():
    """Fresh processes with NUMBA_NUM_THREADS 1 (serial kernel) and 2 (threaded kernel over the
    256 codewords) give the bytes of the serial kernel run here."""
    want = _digest_in_process()
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        got_threads, digest = r.stdout.split()
        assert int(got_threads) == threads
        assert digest == want, f"{threads} threads"
