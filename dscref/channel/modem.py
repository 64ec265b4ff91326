"""Digital modulation: Gray-mapped BPSK / QPSK / square 16-, 64- and 256-QAM constellations with
unit average symbol energy, modulation, and hard or soft (LLR) demodulation.

**LLR convention**: ``LLR = log P(b = 0 | y) / P(b = 1 | y)`` with equally likely bits; a
positive LLR means bit 0. Exact LLRs use a stabilised log-sum-exp over the constellation;
max-log keeps the dominant term. LLRs are float64. For an equalised faded symbol the noise
variance is ``N0 / |h|^2``, i.e. the LLRs are scaled by ``|h|^2``. The per-symbol arithmetic runs
in the kernels of :mod:`dscref._kernels.channel` (NumPy twins in :mod:`dscref._reference.channel`).

References
----------
.. [1] J. G. Proakis and M. Salehi, *Digital Communications*, 5th ed., McGraw-Hill, 2008, sec. 4.3.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import as_bits, as_symbols, check_choice

__all__ = ["MODEM_NAMES", "Modem"]

_SQRT_HALF = math.sqrt(0.5)

MODEM_NAMES = ("bpsk", "qpsk", "16qam", "64qam", "256qam")
# square QAM name -> bits per symbol
_QAM_BITS = {"16qam": 4, "64qam": 6, "256qam": 8}
# Received symbols accepted by Modem.demodulate: |z| <= this, so |z - p|^2 is finite.
_RECEIVED_SYMBOL_MAX = 1e150


def _gray_pam(labels: np.ndarray, m: int) -> np.ndarray:
    """Amplitudes of the Gray-labelled 2**m-PAM, m >= 1, for ``m``-bit axis labels (MSB first).

    The first bit is the sign (0 -> positive), the other ``m - 1`` bits the binary-reflected Gray
    code of the magnitude index i (0 innermost): amplitude ``(1 - 2 sign) (2 i + 1)``. Adjacent
    levels differ in one bit: inside a half-axis by the Gray code, across zero only in the sign.
    """
    sign = labels >> (m - 1) & 1
    g = labels & ((1 << (m - 1)) - 1)
    i = g.copy()                                   # inverse Gray code: i = g ^ (g >> 1) ^ (g >> 2) ...
    shift = g >> 1
    while np.any(shift):
        i ^= shift
        shift >>= 1
    return ((1 - 2 * sign) * (2 * i + 1)).astype(np.float64)


def _square_qam(k: int) -> np.ndarray:
    """Gray square 2**k-QAM (k even): the first k/2 bits on I, the last k/2 on Q, unit energy."""
    half = k // 2
    labels = np.arange(1 << k)
    i_axis = _gray_pam(labels >> half, half)
    q_axis = _gray_pam(labels & ((1 << half) - 1), half)
    # mean |p|^2 of the +-1, +-3, ... grid is 2 (M - 1) / 3 (10, 42, 170 for M = 16, 64, 256)
    return (i_axis + 1j * q_axis) / math.sqrt(2.0 * ((1 << k) - 1) / 3.0)


def _constellation(name: str) -> np.ndarray:
    """Gray-labelled points indexed by their label read MSB first; unit average energy."""
    if name == "bpsk":
        return np.array([1.0, -1.0], dtype=np.complex128)                 # bit 0 -> +1
    if name == "qpsk":
        labels = np.arange(4)
        b0, b1 = labels >> 1 & 1, labels & 1
        return ((1 - 2 * b0) + 1j * (1 - 2 * b1)) * _SQRT_HALF
    # 16-QAM per axis (sign bit, magnitude bit): 00 -> +1, 01 -> +3, 10 -> -1, 11 -> -3
    return _square_qam(_QAM_BITS[name])


class Modem:
    """Gray-mapped BPSK, QPSK, 16-QAM, 64-QAM or 256-QAM with unit average symbol energy.

    Parameters
    ----------
    name : {"bpsk", "qpsk", "16qam", "64qam", "256qam"}
        Case-insensitive; dashes are ignored ("64-QAM").

    Attributes
    ----------
    name : str
    bits_per_symbol : int
        1, 2, 4, 6 or 8.
    constellation : ndarray of complex128, shape (2**bits_per_symbol,)
        Point p carries the label p written in binary, MSB first (read-only).

    Notes
    -----
    BPSK: bit 0 -> +1, bit 1 -> -1. QPSK: bits (b0, b1) -> ((1 - 2 b0) + j (1 - 2 b1)) / sqrt(2).
    16-QAM: (b0, b1) on I and (b2, b3) on Q, each axis ``(1 - 2 b_sign)(1 + 2 b_mag)`` in
    {-3, -1, 1, 3} (labels 11, 10, 00, 01: Gray), divided by sqrt(10). 64-QAM and 256-QAM
    extend this: the first k/2 bits on I, the last k/2 on Q, each axis a Gray 2**(k/2)-PAM whose
    first bit is the sign and whose other bits are the Gray code of the magnitude index i,
    amplitude ``(1 - 2 b_sign)(2 i + 1)`` (64-QAM axis, from -7 to +7: 110 111 101 100 000 001 011
    010), divided by sqrt(42) and sqrt(170). Neighbouring points differ in exactly one bit, and
    the average energy is 1 for each modem.
    """

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"modem name must be a str, got {name!r}")
        key = check_choice(name.lower().replace("-", ""), "modem", MODEM_NAMES)
        self.name = key
        pts = _constellation(key)
        self.bits_per_symbol = int(round(math.log2(pts.size)))
        pts.setflags(write=False)
        self.constellation = pts
        self._re = np.ascontiguousarray(pts.real)
        self._im = np.ascontiguousarray(pts.imag)

    def __repr__(self) -> str:
        return f"Modem({self.name!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Modem) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Modem", self.name))

    def modulate(self, bits) -> np.ndarray:
        """Bits -> complex symbols.

        Parameters
        ----------
        bits : array-like of shape (m * bits_per_symbol,), uint8/int/bool holding 0 and 1

        Returns
        -------
        ndarray of complex128, shape (m,)

        Raises
        ------
        ValueError
            If a bit is not 0/1 or the length is not a multiple of ``bits_per_symbol``
            (:func:`~dscref.channel.transmit.transmit_bits` pads for you).
        """
        from .._kernels import channel as kern

        b = as_bits(bits, "bits")
        k = self.bits_per_symbol
        if b.size % k:
            raise ValueError(f"{b.size} bits is not a multiple of bits_per_symbol={k} for {self.name}; "
                             "pad explicitly (transmit_bits does)")
        m = b.size // k
        re, im = np.empty(m), np.empty(m)
        kern.modulate(b, k, self._re, self._im, re, im)
        return re + 1j * im

    def demodulate(self, symbols, noise_var, soft: bool = False, exact: bool = True) -> np.ndarray:
        """Received (equalised) symbols -> hard bits or bit LLRs.

        Parameters
        ----------
        symbols : array-like of shape (m,), complex or real, finite, magnitudes <= 1e150
        noise_var : float or array-like of shape (m,), >= 0
            Complex noise variance N0 per symbol (for an equalised faded symbol, ``N0 / |h|^2``).
            Not used for hard decisions, but still validated.
        soft : bool
            False: minimum-distance hard decisions. True: LLRs.
        exact : bool
            For ``soft=True``: exact log-sum-exp LLRs (True) or max-log (False).

        Returns
        -------
        ndarray of uint8, shape (m * bits_per_symbol,)
            When ``soft=False``.
        ndarray of float64, shape (m * bits_per_symbol,)
            When ``soft=True``: ``LLR = log P(b=0|y) / P(b=1|y)`` (positive -> bit 0); +-inf when
            ``noise_var = 0``.

        Notes
        -----
        ``LLR_j = log sum_{p: b_j(p)=0} exp(-|y - p|^2 / N0) - log sum_{p: b_j(p)=1} exp(-|y - p|^2 / N0)``;
        max-log replaces each sum by its largest term. For BPSK this is ``4 Re(y) / N0``
        (``2 y / sigma^2`` with ``sigma^2 = N0 / 2`` per dimension) and max-log is exact (for Gray
        QPSK too). The sign of a max-log LLR always equals the hard (minimum-distance) decision.
        The sign of an exact LLR is the bitwise-MAP decision: identical for BPSK and QPSK, but for
        16-QAM the MAP boundary of the magnitude bits lies slightly outside ``|axis| = 2 / sqrt(10)``,
        so in that thin band the exact LLR says 0 where the slicer says 1 (likewise for the
        non-sign bits of 64- and 256-QAM). Since each log-sum-exp exceeds its largest term by at
        most ``log(M / 2)``, the two signs can only differ where ``|max-log LLR| <= log(M / 2)``.
        """
        from .._kernels import channel as kern

        z = as_symbols(symbols, _RECEIVED_SYMBOL_MAX)
        nvar = _as_noise_var(noise_var, z.size)
        zr, zi = np.ascontiguousarray(z.real), np.ascontiguousarray(z.imag)
        k = self.bits_per_symbol
        if not soft:
            out = np.empty(z.size * k, dtype=np.uint8)
            kern.demod_hard(zr, zi, self._re, self._im, k, out)
            return out
        out = np.empty(z.size * k)
        kern.demod_llr(zr, zi, nvar, self._re, self._im, k, bool(exact), out)
        return out


def _as_noise_var(noise_var, m: int) -> np.ndarray:
    arr = np.asarray(noise_var)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"noise_var must be a real number or array, got {noise_var!r}")
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    elif arr.shape != (m,):
        raise ValueError(f"noise_var must be a scalar or have shape ({m},), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0):
        bad = arr[~np.isfinite(arr) | (arr < 0)][0]
        raise ValueError(f"noise_var must be finite and >= 0, got {bad!r}")
    return arr

