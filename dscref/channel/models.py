"""Channel models: SNR in dB, the AWGN channel (eq. 7 of Wang & Qi), Rayleigh block fading, and
the application of a channel to normalised symbols.

Conventions (see :mod:`dscref.channel` for the whole picture):

* **SNR**: ``snr_db`` is ``P / sigma^2`` per real use for analog transmission and Es/N0 per
  complex symbol for digital transmission, with ``P = Es = 1``; ``sigma^2 = 10^(-snr_db / 10)``
  (``N0`` per complex use, ``N0 / 2`` per dimension). :func:`ebn0_to_esn0` converts from Eb/N0.
* **Fading** (:class:`RayleighBlock`): ``h ~ CN(0, 1)`` constant over ``block`` channel uses,
  independent between blocks (and between rows of a batch), perfect CSI at the receiver, which
  equalises ``z = y / h`` (zero forcing); the effective noise variance per symbol is then
  ``N0 / |h|^2``. On real channel uses (the analog real path) the gain is the Rayleigh amplitude
  ``|h|`` (a coherent receiver removes the phase).
* **Randomness**: noise and fading gains are drawn in Python from the ``numpy.random.Generator``
  passed in (noise first, then gains); the Numba kernels only do the per-symbol arithmetic, so
  results do not depend on the number of threads and equal the NumPy reference
  (:mod:`dscref._reference.channel`). Noise is drawn even at ``SNR = +inf`` (then multiplied by
  0), so the random stream does not depend on the SNR.
* **Numeric envelope**: finite SNRs in ``SNR_DB_RANGE`` (-300 .. 300 dB), fixed fading gains of
  magnitude in ``GAIN_RANGE`` (1e-15 .. 1e15); outside it the value is refused with the range in
  the message.

``_through_real`` / ``_through_complex`` are the channel package's internal channel application
(trusted float64 inputs, used by :mod:`dscref.channel.transmit`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validate import as_db, check_int
from .modem import Modem

__all__ = ["SNR_DB_RANGE", "GAIN_RANGE", "snr_to_noise_var", "ebn0_to_esn0", "esn0_to_ebn0", "ebn0_to_snr",
           "snr_to_ebn0", "AWGN", "RayleighBlock"]

_SQRT_HALF = math.sqrt(0.5)


# --------------------------------------------------------------------------- SNR
# The numeric envelope of the simulation. Finite SNRs are limited to +-300 dB (noise variances
# 1e-30 .. 1e30; use +inf for a noise-free channel) and fixed fading gains to magnitudes
# 1e-15 .. 1e15 (fades of +-300 dB). Inside it every intermediate of the channel and of the
# demodulator is a finite float64: received symbols stay below ~1e31 + the sent ones, squared
# distances below 1e63, effective noise variances within 1e-60 .. 1e60, so LLRs are finite (or
# +-inf at SNR = +inf) and never NaN. Outside it 10**(-snr/10) overflows or underflows, |h|^2
# underflows to 0 (a division by zero in the equaliser) and LLRs become inf - inf = NaN.
SNR_DB_RANGE = (-300.0, 300.0)
GAIN_RANGE = (1e-15, 1e15)


def _check_snr(snr_db, name: str = "snr_db") -> float:
    """A dB value in ``SNR_DB_RANGE`` or +inf (noise-free). NaN, -inf and non-numbers are refused."""
    if isinstance(snr_db, (bool, np.bool_)) or not isinstance(snr_db, numbers.Real):
        raise TypeError(f"{name} must be a real number in dB, got {snr_db!r} ({type(snr_db).__name__})")
    try:
        value = float(snr_db)
    except OverflowError:
        raise ValueError(f"{name}={snr_db} is outside [{SNR_DB_RANGE[0]:g}, {SNR_DB_RANGE[1]:g}] dB") from None
    if math.isnan(value) or value == -math.inf:
        raise ValueError(f"{name}={value!r} is not a usable SNR; expected a finite dB value or +inf (noise-free)")
    lo, hi = SNR_DB_RANGE
    if value != math.inf and not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is outside the supported [{lo:g}, {hi:g}] dB (noise variance "
                         f"1e30 .. 1e-30); use +inf for a noise-free channel")
    return value


def snr_to_noise_var(snr_db) -> float:
    """Noise variance for unit signal power: ``sigma^2 = 10^(-SNR_dB / 10)`` (0 at SNR = +inf).

    Parameters
    ----------
    snr_db : float
        SNR in dB (``P / sigma^2`` with ``P = 1``), in ``SNR_DB_RANGE`` (-300 .. 300 dB) or +inf.

    Returns
    -------
    float
        ``sigma^2`` per channel use (per real use on a real channel, ``N0`` per complex use).
    """
    value = _check_snr(snr_db)
    return 0.0 if value == math.inf else 10.0 ** (-value / 10.0)


def _bits_per_symbol(modem) -> int:
    if isinstance(modem, Modem):
        return modem.bits_per_symbol
    if isinstance(modem, str):
        return Modem(modem).bits_per_symbol
    return check_int(modem, "bits_per_symbol", low=1, high=16)


def ebn0_to_esn0(ebn0_db, modem):
    """Es/N0 in dB from Eb/N0 in dB: ``Es/N0 = Eb/N0 + 10 log10(k)``, k bits per symbol.

    Parameters
    ----------
    ebn0_db : float or array-like of float
    modem : Modem, str or int
        A modem, its name, or the bits per symbol k.

    Returns
    -------
    float or ndarray of float64
    """
    k = _bits_per_symbol(modem)
    out = as_db(ebn0_db, "ebn0_db") + 10.0 * math.log10(k)
    return float(out) if out.ndim == 0 else out


def esn0_to_ebn0(esn0_db, modem):
    """Eb/N0 in dB from Es/N0 in dB: ``Eb/N0 = Es/N0 - 10 log10(k)`` (inverse of :func:`ebn0_to_esn0`)."""
    k = _bits_per_symbol(modem)
    out = as_db(esn0_db, "esn0_db") - 10.0 * math.log10(k)
    return float(out) if out.ndim == 0 else out


def _bits_and_uses(info_bits, channel_uses) -> float:
    b = check_int(info_bits, "info_bits", low=1)
    u = check_int(channel_uses, "channel_uses", low=1)
    return 10.0 * math.log10(b / u)


def ebn0_to_snr(ebn0_db, info_bits: int, channel_uses: int):
    """SNR per complex channel use (Es/N0, Es = 1) in dB that spends ``ebn0_db`` per information bit.

    A message of ``info_bits`` information bits sent in ``channel_uses`` uses of energy Es each
    has ``Eb = channel_uses * Es / info_bits``, so ``Es/N0 = Eb/N0 + 10 log10(info_bits / channel_uses)``
    whatever the modem, code rate, CRC, tail or padding in between: they only change the uses.
    Uncoded (no CRC, no pad) it is :func:`ebn0_to_esn0` (``info_bits / uses`` = bits per symbol);
    the K = 7 code at rate 1/2 with QPSK carries about one information bit per use.

    Parameters
    ----------
    ebn0_db : float or array-like of float
    info_bits, channel_uses : int >= 1

    Returns
    -------
    float or ndarray of float64
    """
    out = as_db(ebn0_db, "ebn0_db") + _bits_and_uses(info_bits, channel_uses)
    return float(out) if out.ndim == 0 else out


def snr_to_ebn0(snr_db, info_bits: int, channel_uses: int):
    """Eb/N0 per information bit in dB at SNR ``snr_db`` per channel use (inverse of :func:`ebn0_to_snr`)."""
    out = as_db(snr_db, "snr_db") - _bits_and_uses(info_bits, channel_uses)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- channels
class AWGN:
    """Additive white Gaussian noise channel, eq. (7) of Wang & Qi.

    Parameters
    ----------
    snr_db : float
        SNR in dB: ``P / sigma^2`` per real channel use for analog transmission, Es/N0 per complex
        symbol for digital transmission (``P = Es = 1``). ``+inf`` is the noise-free channel.

    Attributes
    ----------
    noise_var : float
        ``sigma^2 = 10^(-snr_db / 10)`` (per real use, or N0 per complex use).

    Raises
    ------
    ValueError
        If ``snr_db`` is NaN, -inf, or finite outside ``SNR_DB_RANGE`` (-300 .. 300 dB).
    TypeError
        If ``snr_db`` is not a real number.
    """

    def __init__(self, snr_db):
        self.snr_db = _check_snr(snr_db)
        self.noise_var = snr_to_noise_var(self.snr_db)

    def __repr__(self) -> str:
        return f"AWGN(snr_db={self.snr_db!r})"

    def _gains(self, rng, n_rows: int, n_uses: int):
        """Per-use complex gains (n_rows, n_uses), or None for no fading."""
        return None


class RayleighBlock(AWGN):
    """Rayleigh block fading plus AWGN, perfect CSI at the receiver.

    ``y = h x + n`` with ``h ~ CN(0, 1)`` (so ``E|h|^2 = 1`` and ``snr_db`` is the *average* SNR),
    constant over ``block`` consecutive channel uses and independent between blocks. The receiver
    knows h and equalises ``z = y / h``.

    Parameters
    ----------
    snr_db : float
        Average SNR in dB, as for :class:`AWGN`.
    block : int
        Coherence length in channel uses, >= 1 (1 = fast fading).
    gains : complex or array-like of complex, optional
        Fixed gains instead of random draws (a test hook, e.g. ``gains=1`` must reproduce
        :class:`AWGN` for the same seed): block i uses ``gains[i % len(gains)]``; every gain must
        be finite, with a magnitude in ``GAIN_RANGE`` (1e-15 .. 1e15). With fixed gains nothing
        is drawn for h.

    Raises
    ------
    ValueError
        If ``block <= 0`` or a fixed gain is zero, not finite, or outside ``GAIN_RANGE``.

    Notes
    -----
    The equaliser is zero forcing: after ``z = y / h`` the noise variance is ``sigma^2 / |h|^2``.
    For the digital path the LLRs account for it exactly. For analog transmission it means deep
    fades dominate the error: ``E[1 / |h|^2]`` is infinite for Rayleigh fading, so the mean squared
    error of an analog vector over :class:`RayleighBlock` has no finite expectation (its median
    is finite). Random gains come from the same generator as the noise, drawn after it.
    """

    def __init__(self, snr_db, block: int, gains=None):
        super().__init__(snr_db)
        self.block = check_int(block, "block", low=1)
        if gains is None:
            self.gains = None
        else:
            g = np.atleast_1d(np.asarray(gains))
            if g.dtype.kind not in "iufc" or g.dtype == np.bool_:
                raise TypeError(f"gains must be complex or real numbers, got dtype {g.dtype}")
            g = g.astype(np.complex128).ravel()
            if g.size == 0:
                raise ValueError("gains is empty; give at least one gain or None for random fading")
            if not np.isfinite(g).all():
                raise ValueError(f"gains must be finite, got {g[~np.isfinite(g)][0]!r}")
            if np.any(g == 0):
                raise ValueError("gains must be non-zero (the receiver divides by h), got 0")
            mag = np.abs(g)
            lo, hi = GAIN_RANGE
            if mag.min() < lo or mag.max() > hi:
                bad = g[(mag < lo) | (mag > hi)][0]
                raise ValueError(f"gains must have magnitudes in [{lo:g}, {hi:g}] (fades of at most "
                                 f"+-300 dB), got {bad!r}")
            self.gains = g

    def __repr__(self) -> str:
        extra = "" if self.gains is None else f", gains={self.gains.tolist()!r}"
        return f"RayleighBlock(snr_db={self.snr_db!r}, block={self.block}{extra})"

    def _gains(self, rng, n_rows: int, n_uses: int):
        n_blocks = -(-n_uses // self.block)
        if self.gains is None:
            g = rng.standard_normal((2, n_rows, n_blocks))
            h = (g[0] + 1j * g[1]) * _SQRT_HALF                  # CN(0, 1)
            deep = np.abs(h) < GAIN_RANGE[0]                      # probability ~1e-30 per block:
            if np.any(deep):                                      # clamp, never divide by ~0
                h[deep] = GAIN_RANGE[0]
        else:
            idx = np.arange(n_rows * n_blocks) % self.gains.size
            h = self.gains[idx].reshape(n_rows, n_blocks)
        return h[:, np.arange(n_uses) // self.block]  # O(n_uses) whatever the block length


# --------------------------------------------------------------------------- channel application
def _through_real(s: np.ndarray, channel: AWGN, rng) -> np.ndarray:
    """s (n, L) float64, one real per use -> equalised z (n, L) float64."""
    from .._kernels import channel as kern

    n_rows, n_uses = s.shape
    noise = rng.standard_normal((n_rows, n_uses))
    sigma = math.sqrt(channel.noise_var)
    h = channel._gains(rng, n_rows, n_uses)
    z = np.empty(n_rows * n_uses)
    if h is None:
        kern.awgn_real(s.ravel(), noise.ravel(), sigma, z)
    else:
        kern.fading_real(s.ravel(), np.ascontiguousarray(np.abs(h)).ravel(), noise.ravel(), sigma, z)
    return z.reshape(n_rows, n_uses)


def _through_complex(sr: np.ndarray, si: np.ndarray, channel: AWGN, rng):
    """sr, si (n, m) float64 -> (zr, zi, noise variance per symbol) each (n, m) float64."""
    from .._kernels import channel as kern

    n_rows, n_uses = sr.shape
    noise = rng.standard_normal((2, n_rows, n_uses))
    sigma = math.sqrt(channel.noise_var / 2.0)                   # N0 / 2 per dimension
    h = channel._gains(rng, n_rows, n_uses)
    m = n_rows * n_uses
    zr, zi = np.empty(m), np.empty(m)
    nr, ni = noise[0].ravel(), noise[1].ravel()
    if h is None:
        kern.awgn_complex(sr.ravel(), si.ravel(), nr, ni, sigma, zr, zi)
        nvar = np.full(m, channel.noise_var)
    else:
        gain2 = np.empty(m)
        kern.fading_complex(sr.ravel(), si.ravel(), np.ascontiguousarray(h.real).ravel(),
                            np.ascontiguousarray(h.imag).ravel(), nr, ni, sigma, zr, zi, gain2)
        nvar = channel.noise_var / gain2
    shape = (n_rows, n_uses)
    return zr.reshape(shape), zi.reshape(shape), nvar.reshape(shape)

