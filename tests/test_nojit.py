"""A small subset of kernel-vs-reference checks with NUMBA_DISABLE_JIT=1.

Run in a subprocess because the flag must be set before numba is imported; this is also how a
coverage tool sees the kernels' Python source.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import numpy as np
import numba
assert numba.config.DISABLE_JIT
from dscref import bitpack
from dscref._reference.bitpack import pack_ref
from dscref._reference.kmeans import assign_ref
from dscref._reference.pq import adc_l2_ref, decode_ref, encode_ref
from dscref.kmeans import KMeans
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_l2

rng = np.random.default_rng(0)
v = rng.integers(0, 1024, (3, 5))
assert np.array_equal(bitpack.pack(v, 10), pack_ref(v, 10))
assert np.array_equal(bitpack.unpack(bitpack.pack(v, 10), 10, 5), v)
x = rng.standard_normal((300, 8)).astype(np.float32)
km = KMeans(5, n_iter=4, seed=0).fit(x)
lab = km.predict(x)
ref, _, _ = assign_ref(x, km.centroids_)
assert (lab == ref).mean() > 0.99
pq = ProductQuantizer(2, 4, n_iter=3, seed=0).fit(x)
codes = pq.encode(x)
rc, _ = encode_ref(x, pq.codebooks_)
assert (codes == rc).mean() > 0.99
assert np.array_equal(pq.decode(codes), decode_ref(codes, pq.codebooks_))
lut = pq.lut_l2(x[0])
assert np.array_equal(adc_l2(lut, codes), adc_l2_ref(lut, codes))
from dscref._reference.nearest import nearest_f64_ref
from dscref._reference.pq import topk_ref
from dscref.scoring import adc_l2_topk
luts = pq.lut_l2(x[:3])
D, I = adc_l2_topk(luts, codes, 7)                              # query-blocked scan
for q in range(3):
    assert np.array_equal(I[q], topk_ref(adc_l2_ref(luts[q], codes), 7)[1])
x20 = rng.standard_normal((200, 80)).astype(np.float32)
pq20 = ProductQuantizer(1, 4, n_iter=2, seed=0).fit(x20)          # dsub 80: GEMM path
c20 = pq20.encode(x20)
d2 = nearest_f64_ref(x20, pq20.codebooks_)
assert np.all(np.take_along_axis(d2, c20[..., None].astype(np.int64), -1)[..., 0] - d2.min(-1) <= 1e-4 * (1 + d2.min(-1)))
from dscref import robust
from dscref._kernels import assignment as rk
from dscref._reference import assignment as rr
from dscref._reference import soft as rs
perm = robust.robust_permutation(pq, 0.05, order=1, n_iter=20)
S = ((pq.codebooks_[0][:, None].astype(float) - pq.codebooks_[0][None]) ** 2).sum(-1)
w = np.full(16, 1 / 16)
pats, probs = robust.error_patterns(4, 0.05, 2)
inv = np.argsort(perm[0])
assert abs(rk.assignment_cost(S, w, inv, pats, probs) - rr.assignment_cost_ref(S, w, inv, pats, probs)) < 1e-12
assert abs(rk.swap_delta(S, w, inv, pats, probs, 1, 5) - rr.swap_delta_ref(S, w, inv, pats, probs, 1, 5)) < 1e-12
llr = rng.standard_normal(8)
assert np.allclose(robust.posteriors(llr, 2, 4), rs.posteriors_ref(llr, 2, 4), rtol=1e-12)
from dscref._kernels import soft as sk
post, tab, out = robust.posteriors(llr, 2, 4), rng.random((2, 16, 3)), np.empty((2, 3))
sk.expected_rows(post, tab, out)
assert np.array_equal(out, rs.expected_rows_ref(post, tab))
from dscref import convcode
from dscref._reference.convcode import viterbi_ref
L = rng.standard_normal((3, 2 * (9 + 6)))
bits, metric = convcode.decode(L, "1/2", 9, return_metric=True)
rb, rm = viterbi_ref(L, 9)
assert np.array_equal(bits, rb) and np.array_equal(metric, rm)
u = rng.integers(0, 2, (5, 9)).astype(np.uint8)
assert np.array_equal(convcode.decode_hard(convcode.encode(u, "3/4"), "3/4", 9), u)
print("nojit ok")
"""


def test_kernels_agree_with_references_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "nojit ok" in r.stdout
