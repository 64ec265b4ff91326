"""NumPy twins of the channel kernels (see :mod:`dscref._kernels.channel`), written for clarity.

Each function returns a new array instead of filling an output. The arithmetic is written in the
same order as the kernel (complex products expanded into real and imaginary parts), so the channel
and modem functions agree with the kernels bit for bit; only the power normaliser (NumPy sums
pairwise, the kernel sequentially) and the log/exp of the exact LLR may differ in the last ulps.
"""
from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- analog normalisation


def power_normalise_rows_ref(x: np.ndarray, n_uses: int) -> tuple[np.ndarray, np.ndarray]:
    """``g = sqrt(sum_j x_j^2 / n_uses)`` per row (1 for an all-zero row) and ``s = x / g``."""
    g = np.sqrt(np.sum(x * x, axis=1) / n_uses)
    g = np.where(g == 0.0, 1.0, g)
    return x / g[:, None], g


def denormalise_rows_ref(z: np.ndarray, g: np.ndarray, d: int) -> np.ndarray:
    """``float32(z * g)`` per row, keeping the first ``d`` columns (the pad is dropped)."""
    return (z[:, :d] * g[:, None]).astype(np.float32)


# --------------------------------------------------------------------------- channel arithmetic


def awgn_real_ref(s, noise, sigma):
    """Eq. (7) of Wang & Qi: ``y = x + eta``, eta = sigma * standard normal."""
    return s + sigma * noise


def fading_real_ref(s, a, noise, sigma):
    """``(a s + sigma n) / a``: a real use scaled by the fading amplitude a = |h|, then equalised."""
    return (a * s + sigma * noise) / a


def awgn_complex_ref(sr, si, nr, ni, sigma):
    """``z = s + sigma (nr + j ni)`` on the real and imaginary parts."""
    return sr + sigma * nr, si + sigma * ni


def fading_complex_ref(sr, si, hr, hi, nr, ni, sigma):
    """``y = h s + sigma n``, ``z = y conj(h) / |h|^2``; returns (zr, zi, |h|^2)."""
    yr = (hr * sr - hi * si) + sigma * nr
    yi = (hr * si + hi * sr) + sigma * ni
    den = hr * hr + hi * hi
    return (yr * hr + yi * hi) / den, (yi * hr - yr * hi) / den, den


# --------------------------------------------------------------------------- modem


def _labels(npts: int, bps: int) -> np.ndarray:
    """(npts, bps) uint8: row p is the binary label of point p, MSB first."""
    return ((np.arange(npts)[:, None] >> np.arange(bps - 1, -1, -1)) & 1).astype(np.uint8)


def modulate_ref(bits, bps, pts_re, pts_im):
    """Read each group of ``bps`` bits as an integer (MSB first) and look up the point."""
    idx = bits.reshape(-1, bps).astype(np.int64) @ (np.int64(1) << np.arange(bps - 1, -1, -1))
    return pts_re[idx], pts_im[idx]


def _sq_dist(zr, zi, pts_re, pts_im):
    dr = zr[:, None] - pts_re[None, :]
    di = zi[:, None] - pts_im[None, :]
    return dr * dr + di * di


def demod_hard_ref(zr, zi, pts_re, pts_im, bps):
    """Nearest point (``argmin`` takes the first on ties), its label's bits, flattened."""
    best = np.argmin(_sq_dist(zr, zi, pts_re, pts_im), axis=1)
    return _labels(len(pts_re), bps)[best].ravel()


def demod_llr_ref(zr, zi, nvar, pts_re, pts_im, bps, exact):
    """LLR = log P(b=0|z)/P(b=1|z) = LSE_{S0}(-d/nvar) - LSE_{S1}(-d/nvar); max-log keeps the max only."""
    d = _sq_dist(zr, zi, pts_re, pts_im)                       # (m, npts)
    labels = _labels(len(pts_re), bps)                          # (npts, bps)
    out = np.empty((len(zr), bps))
    v = np.asarray(nvar, dtype=np.float64)
    zero = v == 0.0
    safe_v = np.where(zero, 1.0, v)
    for j in range(bps):
        one = labels[:, j].astype(bool)
        d0, d1 = d[:, ~one], d[:, one]
        m0, m1 = d0.min(axis=1), d1.min(axis=1)
        llr = (m1 - m0) / safe_v
        if exact:
            s0 = np.exp(-(d0 - m0[:, None]) / safe_v[:, None]).sum(axis=1)
            s1 = np.exp(-(d1 - m1[:, None]) / safe_v[:, None]).sum(axis=1)
            llr = llr + (np.log(s0) - np.log(s1))
        # noise-free limit: the sign of the distance difference, infinitely confident
        llr = np.where(zero, np.sign(m1 - m0) * np.inf, llr)
        llr = np.where(zero & (m1 == m0), 0.0, llr)
        out[:, j] = llr
    return out.ravel()
