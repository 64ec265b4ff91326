"""Numba kernels for channel simulation: modulation, AWGN / block-fading arithmetic, demodulation.

No validation and no random numbers here: the Gaussian noise and the fading gains are drawn by a
``numpy.random.Generator`` in :mod:`dscref.channel` and passed in, so every kernel is a pure
per-symbol function of its inputs. Results therefore do not depend on the number of threads, and
each kernel equals its NumPy twin in :mod:`dscref._reference.channel` for a fixed seed.

Complex symbols are carried as two float64 arrays (real, imaginary) and every complex product is
written out explicitly, in the same order as in the reference, so that the arithmetic is
bit-identical. No ``fastmath``: the tests compare these kernels exactly.

Threads: only the compute-bound kernels (demodulation, row normalisation) use ``prange``. The
element-wise channel and modulation kernels are memory-bound single loops that LLVM vectorises;
on this project's 2-core machines a parallel region made them ~3x *slower* (thread start-up and
contention), so they run serially.
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel


# --------------------------------------------------------------------------- analog normalisation
@parallel_kernel
@nb.njit(cache=True, parallel=True)
def power_normalise_rows(x, n_uses, s_out, g_out):
    """Scale each row of ``x`` to average energy 1 per channel use.

    x : (n, L) float64 (IN); n_uses : int, channel uses per row (L real, or L/2 complex);
    s_out : (n, L) float64 (OUT) = x / g; g_out : (n,) float64 (OUT), g = sqrt(sum(x^2) / n_uses),
    replaced by 1 for an all-zero row (nothing to scale).
    """
    for r in nb.prange(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1]):
            acc += x[r, j] * x[r, j]
        g = np.sqrt(acc / n_uses)
        if g == 0.0:
            g = 1.0
        g_out[r] = g
        for j in range(x.shape[1]):
            s_out[r, j] = x[r, j] / g


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def denormalise_rows(z, g, out):
    """Undo :func:`power_normalise_rows`: ``out[r, j] = float32(z[r, j] * g[r])`` for j < out.shape[1].

    z : (n, L) float64 (IN); g : (n,) float64 (IN); out : (n, d) float32 (OUT), d <= L (the pad is dropped).
    """
    for r in nb.prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[r, j] = np.float32(z[r, j] * g[r])


# --------------------------------------------------------------------------- real channel uses
@nb.njit(cache=True)
def awgn_real(s, noise, sigma, z):
    """Eq. (7) of Wang & Qi: ``z = s + sigma * noise`` per real channel use (all (m,) float64)."""
    for k in range(s.shape[0]):
        z[k] = s[k] + sigma * noise[k]


@nb.njit(cache=True)
def fading_real(s, a, noise, sigma, z):
    """Faded real use, zero-forcing equalised: ``z = (a * s + sigma * noise) / a``, a = |h| > 0."""
    for k in range(s.shape[0]):
        z[k] = (a[k] * s[k] + sigma * noise[k]) / a[k]


# --------------------------------------------------------------------------- complex channel uses
@nb.njit(cache=True)
def awgn_complex(sr, si, nr, ni, sigma, zr, zi):
    """``z = s + sigma * (nr + j ni)``; sigma is the per-dimension standard deviation sqrt(N0 / 2)."""
    for k in range(sr.shape[0]):
        zr[k] = sr[k] + sigma * nr[k]
        zi[k] = si[k] + sigma * ni[k]


@nb.njit(cache=True)
def fading_complex(sr, si, hr, hi, nr, ni, sigma, zr, zi, gain2):
    """Flat fading with perfect CSI: ``y = h s + sigma n``, equalised ``z = y / h``, ``gain2 = |h|^2``.

    All arguments (m,) float64; h = hr + j hi must be non-zero. The equaliser multiplies by
    conj(h) / |h|^2, written out so that h = 1 reproduces :func:`awgn_complex` bit for bit.
    """
    for k in range(sr.shape[0]):
        yr = (hr[k] * sr[k] - hi[k] * si[k]) + sigma * nr[k]
        yi = (hr[k] * si[k] + hi[k] * sr[k]) + sigma * ni[k]
        den = hr[k] * hr[k] + hi[k] * hi[k]
        zr[k] = (yr * hr[k] + yi * hi[k]) / den
        zi[k] = (yi * hr[k] - yr * hi[k]) / den
        gain2[k] = den


# --------------------------------------------------------------------------- modem
@nb.njit(cache=True)
def modulate(bits, bps, pts_re, pts_im, out_re, out_im):
    """Map groups of ``bps`` bits (MSB first) to constellation points.

    bits : (m * bps,) uint8 0/1 (IN); pts_re, pts_im : (2**bps,) float64 (IN), indexed by the
    bit label read as an integer; out_re, out_im : (m,) float64 (OUT).
    """
    for k in range(out_re.shape[0]):
        idx = 0
        for j in range(bps):
            idx = (idx << 1) | np.int64(bits[k * bps + j])
        out_re[k] = pts_re[idx]
        out_im[k] = pts_im[idx]


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def demod_hard(zr, zi, pts_re, pts_im, bps, out_bits):
    """Minimum-distance decision: label of the nearest point (first on ties), MSB first.

    zr, zi : (m,) float64 (IN); out_bits : (m * bps,) uint8 (OUT).
    """
    npts = pts_re.shape[0]
    for k in nb.prange(zr.shape[0]):
        best = 0
        best_d = np.inf
        for p in range(npts):
            dr = zr[k] - pts_re[p]
            di = zi[k] - pts_im[p]
            d = dr * dr + di * di
            if d < best_d:
                best_d = d
                best = p
        for j in range(bps):
            out_bits[k * bps + j] = (best >> (bps - 1 - j)) & 1


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def demod_llr(zr, zi, nvar, pts_re, pts_im, bps, exact, out_llr):
    """Bit LLRs ``log P(b=0 | z) / P(b=1 | z)`` for equally likely points, complex noise variance ``nvar``.

    With d_p = |z - p|^2, m_b = min over points with bit b of d_p:
    max-log: ``(m_1 - m_0) / nvar``; exact: that plus ``log sum_{S0} exp(-(d_p - m_0) / nvar)
    - log sum_{S1} exp(-(d_p - m_1) / nvar)`` (a stabilised log-sum-exp). nvar = 0 gives +-inf
    (0 on an exact tie). zr, zi, nvar : (m,) float64 (IN); out_llr : (m * bps,) float64 (OUT).
    """
    npts = pts_re.shape[0]
    for k in nb.prange(zr.shape[0]):
        v = nvar[k]
        for j in range(bps):
            shift = bps - 1 - j
            m0 = np.inf
            m1 = np.inf
            for p in range(npts):
                dr = zr[k] - pts_re[p]
                di = zi[k] - pts_im[p]
                d = dr * dr + di * di
                if (p >> shift) & 1:
                    if d < m1:
                        m1 = d
                elif d < m0:
                    m0 = d
            if v == 0.0:
                if m1 > m0:
                    out_llr[k * bps + j] = np.inf
                elif m1 < m0:
                    out_llr[k * bps + j] = -np.inf
                else:
                    out_llr[k * bps + j] = 0.0
                continue
            llr = (m1 - m0) / v
            if exact:
                s0 = 0.0
                s1 = 0.0
                for p in range(npts):
                    dr = zr[k] - pts_re[p]
                    di = zi[k] - pts_im[p]
                    d = dr * dr + di * di
                    if (p >> shift) & 1:
                        s1 += np.exp(-(d - m1) / v)
                    else:
                        s0 += np.exp(-(d - m0) / v)
                llr += np.log(s0) - np.log(s1)
            out_llr[k * bps + j] = llr
