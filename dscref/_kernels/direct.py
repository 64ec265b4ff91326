"""Numba kernels: exact squared distances from a block of points to codewords, with the argmin.

The direct path of :mod:`dscref._kernels.nearest`. For a block of b points stored transposed,
``xt`` (dpad, P) (point i's coordinate t at ``xt[t, i]``), and codewords ``cb`` (k, dpad), the
distance of point i to codeword j is

    d = v_0 * v_0;  d = fma(v_t, v_t, d) for t = 1, 2, ..., dpad - 1,   v_t = xt[t, i] - cb[j, t]

in float32, each fused multiply-add rounded once (IEEE ``fma``, the same on every CPU: LLVM's
``llvm.fma`` intrinsic, a hardware instruction here, the C library's ``fmaf`` elsewhere). The
NumPy twin (:func:`dscref._reference.nearest.nearest_direct_ref`) emulates ``fma`` exactly, so
distances and labels agree bit for bit. Why this shape of loop (measured, one AVX-512 core):

* the innermost loop runs over the P points, contiguous in ``xt``: LLVM vectorises it, 16 points
  per instruction, each codeword coordinate broadcast to all lanes;
* four dimensions per pass over the block and two codewords per pass (the loaded coordinates
  serve both), the partial sums of the block kept in ``acc`` / ``acc2`` between passes, then
  one pass for the running argmin;
* ``fma`` moves the accumulation off the adder, which the subtraction already keeps busy:
  with the two-codeword passes 1.25-1.45x faster than ``d += v * v`` (24-26 G pair-dims / s
  per core without, 30-37 with), which alone was bound by the adder.

Dimensions are padded with zeros to dpad = 4 * ceil(dsub / 4) in both x and the codebook
(``fma(0, 0, d) = d`` exactly) and the codebook to an even k with rows of +inf (distance +inf:
never chosen). The argmin runs over j = 0, 1, ..., k-1 with a strict ``<``: ties go to the
lowest index. Arguments are marked IN / OUT; nothing is validated here.
"""

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic


@intrinsic
def _fma32_llvm(typingctx, a, b, c):
    """a * b + c rounded once to float32 (LLVM's llvm.fma.f32)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.FloatType(), [ir.FloatType()] * 3)
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f32"), args)

    return sig, codegen


def _fma32_python(a, b, c):
    """The same fma without the JIT (``NUMBA_DISABLE_JIT=1``): the exact value, rounded to
    float64 by round-to-odd (Boldo & Melquiond, IEEE Trans. Computers 2008), then to float32:
    53 >= 24 + 2 bits make that second rounding the correct one."""
    p = np.float64(a) * np.float64(b)  # exact: 24 + 24 bits
    z = np.float64(c)
    s = p + z
    bp = s - p
    err = (p - (s - bp)) + (z - bp)  # TwoSum: s + err == p + z exactly
    if err != 0 and not (s.view(np.int64) & 1):
        s = np.nextafter(s, np.inf if err > 0 else -np.inf)
    return np.float32(s)


fma32 = _fma32_python if nb.config.DISABLE_JIT else _fma32_llvm


@nb.njit(cache=True)
def transpose_block(x, s, b, col0, dsub, xt):
    """xt[t, i] = x[s + i, col0 + t] for t < dsub, i < b (rows t >= dsub stay as they are)."""
    for t in range(dsub):
        for i in range(b):
            xt[t, i] = x[s + i, col0 + t]


@nb.njit(cache=True)
def direct_block(xt, b, cb, acc, acc2, best, arg):
    """Nearest codeword of the b points in ``xt`` among ``cb``, two codewords per pass.

    IN  xt (dpad, P) float32, b <= P, cb (k, dpad) float32 with k even and dpad % 4 == 0
    OUT best[:b] float32 squared distances, arg[:b] int32 indices (lowest on ties)
    Scratch acc, acc2 (P,) float32.
    """
    k, dpad = cb.shape
    for i in range(b):
        best[i] = np.inf
        arg[i] = 0
    for j in range(0, k, 2):
        p0, p1, p2, p3 = cb[j, 0], cb[j, 1], cb[j, 2], cb[j, 3]
        q0, q1, q2, q3 = cb[j + 1, 0], cb[j + 1, 1], cb[j + 1, 2], cb[j + 1, 3]
        for i in range(b):  # dimensions 0..3: the sums start
            x0, x1, x2, x3 = xt[0, i], xt[1, i], xt[2, i], xt[3, i]
            v, w = x0 - p0, x0 - q0
            a, a2 = v * v, w * w
            v, w = x1 - p1, x1 - q1
            a, a2 = fma32(v, v, a), fma32(w, w, a2)
            v, w = x2 - p2, x2 - q2
            a, a2 = fma32(v, v, a), fma32(w, w, a2)
            v, w = x3 - p3, x3 - q3
            acc[i], acc2[i] = fma32(v, v, a), fma32(w, w, a2)
        for t in range(4, dpad, 4):  # dimensions t..t+3
            p0, p1, p2, p3 = cb[j, t], cb[j, t + 1], cb[j, t + 2], cb[j, t + 3]
            q0, q1, q2, q3 = cb[j + 1, t], cb[j + 1, t + 1], cb[j + 1, t + 2], cb[j + 1, t + 3]
            for i in range(b):
                x0, x1, x2, x3 = xt[t, i], xt[t + 1, i], xt[t + 2, i], xt[t + 3, i]
                v, w = x0 - p0, x0 - q0
                a, a2 = fma32(v, v, acc[i]), fma32(w, w, acc2[i])
                v, w = x1 - p1, x1 - q1
                a, a2 = fma32(v, v, a), fma32(w, w, a2)
                v, w = x2 - p2, x2 - q2
                a, a2 = fma32(v, v, a), fma32(w, w, a2)
                v, w = x3 - p3, x3 - q3
                acc[i], acc2[i] = fma32(v, v, a), fma32(w, w, a2)
        for i in range(b):  # running argmin: codeword j, then j + 1
            bb, ab = best[i], arg[i]
            a, a2 = acc[i], acc2[i]
            lt = a < bb
            bb = a if lt else bb
            ab = np.int32(j) if lt else ab
            lt = a2 < bb
            best[i] = a2 if lt else bb
            arg[i] = np.int32(j + 1) if lt else ab
