"""Wireless channel simulation: analog AWGN (eq. 7 of Wang & Qi), digital BPSK / QPSK / 16-QAM
with Gray mapping, hard or soft (LLR) demodulation, Rayleigh block fading, bandwidth accounting.

The paper sends either the 2048-d feature (analog, one real per channel use) or the 47-byte
payload (bits) over an AWGN channel ``y = x + eta``, ``eta ~ N(0, sigma^2 I_B)`` (eq. 7), with
``SNR = P / sigma^2``. The conventions fixed here:

* **Analog**: each transmitted block (one row) is power-normalised to average energy ``P = 1`` per
  channel use and ``sigma^2 = 10^(-SNR/10)``. The normaliser ``g`` (the RMS of the block per
  channel use) is part of the link: it is assumed to reach the receiver error-free as side
  information (one scalar per block, not counted in the channel uses), and the receiver multiplies
  by it, so the received vector is in the units of the input. Over real channel uses a d-vector
  takes d uses; with ``complex_baseband=True`` consecutive pairs of reals form one complex symbol
  (``ceil(d / 2)`` uses, one zero pad real when d is odd) with ``Es = 1`` per complex use and complex
  noise variance ``sigma^2`` split equally over I and Q. After unpairing, each received real then
  has the same noise variance ``g^2 sigma^2`` as on the real channel, in half the channel uses.
* **Digital**: Es/N0 per complex symbol, ``Es = 1`` (unit average symbol energy for every modem),
  ``N0 = 10^(-Es/N0_dB / 10)``, complex noise ``CN(0, N0)`` (``N0 / 2`` per dimension). The
  channel's ``snr_db`` is Es/N0; :func:`ebn0_to_esn0` converts from Eb/N0.
* **Fading** (:class:`RayleighBlock`): ``h ~ CN(0, 1)`` constant over ``block`` channel uses,
  independent between blocks (and between rows of a batch), perfect CSI at the receiver, which
  equalises ``z = y / h`` (zero forcing); the LLRs then use the per-symbol noise variance
  ``N0 / |h|^2``, i.e. they are scaled by ``|h|^2``. On real channel uses (the analog real path)
  the gain is the Rayleigh amplitude ``|h|`` (a coherent receiver removes the phase).
* **LLR convention**: ``LLR = log P(b = 0 | y) / P(b = 1 | y)`` with equally likely bits; a
  positive LLR means bit 0. Exact LLRs use a stabilised log-sum-exp over the constellation;
  max-log keeps the dominant term. LLRs are float64; analog vectors are float32 in and out
  (float64 inside).
* **Randomness and reproducibility**: all noise and fading gains are drawn in Python from the
  ``numpy.random.Generator`` you pass (noise first, then gains); the Numba kernels only do the
  per-symbol arithmetic (scaling, fading, modulation, demodulation). Results are therefore
  identical for a given seed whatever the number of threads, and equal to the NumPy reference
  (:mod:`dscref._reference.channel`). Noise is drawn even at ``SNR = +inf`` (then multiplied by
  0), so the random stream does not depend on the SNR.
* **Numeric envelope**: finite SNRs in ``SNR_DB_RANGE`` (-300 .. 300 dB), fixed fading gains of
  magnitude in ``GAIN_RANGE`` (1e-15 .. 1e15); inside it no intermediate overflows and no LLR
  is NaN, outside it the value is refused with the range in the message (see the constants).
* **Bandwidth**: every transmit call returns the channel uses it spent; :func:`channel_uses` and
  :func:`bandwidth_table` give the paper's "B" for the analog feature versus an N-byte payload.

Examples
--------
>>> import numpy as np
>>> from dscref.channel import AWGN, Modem, transmit_bits
>>> rng = np.random.default_rng(0)
>>> bits = rng.integers(0, 2, 376).astype(np.uint8)          # a 47-byte payload
>>> res = transmit_bits(bits, Modem("qpsk"), AWGN(13.0), rng)   # Es/N0 13 dB: Eb/N0 10 dB
>>> res.channel_uses, res.pad_bits, res.bit_errors
(188, 0, 0)

References
----------
.. [1] Y. Wang and C. Qi, "Deep Semantic Coding for Wireless Image Retrieval", eq. (7), sec. IV-C.
.. [2] J. G. Proakis and M. Salehi, *Digital Communications*, 5th ed., McGraw-Hill, 2008,
       sec. 4.3 (BER of BPSK, QPSK and Gray-coded QAM over AWGN) and 13.3 (Rayleigh fading).
.. [3] K. Cho and D. Yoon, "On the general BER expression of one- and two-dimensional amplitude
       modulations", IEEE Trans. Commun., 50(7), 2002 (exact Gray 16-QAM BER).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ._validate import F32_MAX, as_bits, as_float_matrix, as_generator, check_choice, check_int

__all__ = [
    "SNR_DB_RANGE",
    "GAIN_RANGE",
    "AWGN",
    "RayleighBlock",
    "Modem",
    "AnalogResult",
    "SymbolResult",
    "BitResult",
    "transmit_analog",
    "transmit_symbols",
    "transmit_bits",
    "snr_to_noise_var",
    "ebn0_to_esn0",
    "esn0_to_ebn0",
    "channel_uses",
    "bandwidth_table",
    "ber_bpsk",
    "ber_qpsk",
    "ber_16qam",
    "ber_bpsk_rayleigh",
]

log = logging.getLogger(__name__)

_SQRT_HALF = math.sqrt(0.5)


# --------------------------------------------------------------------------- SNR helpers
# The numeric envelope of the simulation. Finite SNRs are limited to +-300 dB (noise variances
# 1e-30 .. 1e30; use +inf for a noise-free channel) and fixed fading gains to magnitudes
# 1e-15 .. 1e15 (fades of +-300 dB). Inside it every intermediate of the channel and of the
# demodulator is a finite float64: received symbols stay below ~1e31 + the sent ones, squared
# distances below 1e63, effective noise variances within 1e-60 .. 1e60, so LLRs are finite (or
# +-inf at SNR = +inf) and never NaN. Outside it 10**(-snr/10) overflows or underflows, |h|^2
# underflows to 0 (a division by zero in the equaliser) and LLRs become inf - inf = NaN.
SNR_DB_RANGE = (-300.0, 300.0)
GAIN_RANGE = (1e-15, 1e15)
# Symbols accepted by transmit_symbols / demodulate: |z| <= these, so |z - p|^2 is finite.
_SEND_SYMBOL_MAX = 1e100
_RECEIVED_SYMBOL_MAX = 1e150


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


def _as_db(x, name: str) -> np.ndarray:
    """Real dB value(s) as float64 (+-inf allowed, NaN refused)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers in dB, got {x!r} (dtype {arr.dtype})")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds NaN: {x!r}")
    return arr


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
    out = _as_db(ebn0_db, "ebn0_db") + 10.0 * math.log10(k)
    return float(out) if out.ndim == 0 else out


def esn0_to_ebn0(esn0_db, modem):
    """Eb/N0 in dB from Es/N0 in dB: ``Eb/N0 = Es/N0 - 10 log10(k)`` (inverse of :func:`ebn0_to_esn0`)."""
    k = _bits_per_symbol(modem)
    out = _as_db(esn0_db, "esn0_db") - 10.0 * math.log10(k)
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


def _check_channel(channel):
    if not isinstance(channel, AWGN):
        raise TypeError(f"channel must be an AWGN or RayleighBlock instance, got {channel!r}")
    return channel


# --------------------------------------------------------------------------- channel application
def _through_real(s: np.ndarray, channel: AWGN, rng) -> np.ndarray:
    """s (n, L) float64, one real per use -> equalised z (n, L) float64."""
    from ._kernels import channel as kern

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
    from ._kernels import channel as kern

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


# --------------------------------------------------------------------------- analog transmission
@dataclass(frozen=True)
class AnalogResult:
    """Outcome of :func:`transmit_analog`.

    Attributes
    ----------
    received : ndarray of float32, shape (d,) or (n, d)
        The receiver's estimate of the input, in the input's units.
    channel_uses : int
        Channel uses spent by the whole call (``n * uses_per_vector``).
    uses_per_vector : int
        ``d`` (real) or ``ceil(d / 2)`` (complex baseband).
    pad : int
        Zero reals appended before pairing (0, or 1 for odd d in complex baseband).
    scale : ndarray of float64, shape () or (n,)
        The power normaliser g per transmitted vector (side information, see module notes).
    noise_var : float
        ``sigma^2`` per channel use in normalised units (per real use, or per complex use).
    """

    received: np.ndarray
    channel_uses: int
    uses_per_vector: int
    pad: int
    scale: np.ndarray
    noise_var: float


def transmit_analog(x, channel, rng=None, complex_baseband: bool = False) -> AnalogResult:
    """Send real vectors over an analog channel, eq. (7) of Wang & Qi, with power normalisation.

    Parameters
    ----------
    x : array-like of shape (d,) or (n, d), real, finite
        One vector or a batch; each row is one transmission, normalised on its own.
    channel : AWGN or RayleighBlock
    rng : numpy.random.Generator, int or None
        Source of the noise (and fading gains).
    complex_baseband : bool
        Pair consecutive reals into complex symbols (half the channel uses).

    Returns
    -------
    AnalogResult
        ``received`` has the shape of ``x`` and dtype float32.

    Raises
    ------
    ValueError
        If ``x`` is empty, not 1-D/2-D, or holds NaN/inf.
    TypeError
        If ``x`` is not real-valued or ``channel`` is not a channel.

    Notes
    -----
    Real channel: ``g = sqrt(mean_j x_j^2)``, ``s = x / g`` (so ``P = 1``), ``y = s + eta`` with
    ``eta ~ N(0, sigma^2)`` (eq. 7), and ``x_hat = g y``. Complex baseband: pad to even length
    L, ``g = sqrt(sum_j x_j^2 / (L / 2))`` so that each complex symbol ``c_k = (x_{2k} + j x_{2k+1}) / g``
    has average energy 1, ``y = c + n`` with ``n ~ CN(0, sigma^2)``. With fading the receiver
    equalises ``y / h`` before rescaling. An all-zero row is sent unscaled (g = 1).
    """
    from ._kernels import channel as kern

    channel = _check_channel(channel)
    if not isinstance(complex_baseband, (bool, np.bool_)):
        raise TypeError(f"complex_baseband must be a bool, got {complex_baseband!r}")
    rng = as_generator(rng)
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D (d,) or 2-D (n, d), got shape {arr.shape}")
    single = arr.ndim == 1
    x2 = as_float_matrix(arr[None, :] if single else arr, "x")
    n, d = x2.shape
    pad = d % 2 if complex_baseband else 0
    length = d + pad
    uses = length // 2 if complex_baseband else length
    xp = np.zeros((n, length))
    xp[:, :d] = x2
    s = np.empty_like(xp)
    g = np.empty(n)
    kern.power_normalise_rows(xp, uses, s, g)
    if complex_baseband:
        zr, zi, _ = _through_complex(np.ascontiguousarray(s[:, 0::2]), np.ascontiguousarray(s[:, 1::2]),
                                     channel, rng)
        z = np.empty_like(s)
        z[:, 0::2] = zr
        z[:, 1::2] = zi
    else:
        z = _through_real(s, channel, rng)
    peak = np.abs(z).max(axis=1) * g
    if not (peak <= F32_MAX).all():  # a deep fixed fade at low SNR: not representable as float32
        r = int(np.flatnonzero(~(peak <= F32_MAX))[0])
        raise ValueError(f"the received row {r} reaches {peak[r]:.3g}, beyond float32 ({F32_MAX:.3g}): "
                         f"noise over {channel!r} overwhelms the signal; raise snr_db or the gains")
    out = np.empty((n, d), dtype=np.float32)
    kern.denormalise_rows(z, g, out)
    log.debug("transmit_analog: %d x %d reals over %r, %d uses each", n, d, channel, uses)
    return AnalogResult(received=out[0] if single else out, channel_uses=n * uses,
                        uses_per_vector=uses, pad=pad, scale=g[0] if single else g,
                        noise_var=channel.noise_var)


# --------------------------------------------------------------------------- modem
_MODEMS = ("bpsk", "qpsk", "16qam")


def _constellation(name: str) -> np.ndarray:
    """Gray-labelled points indexed by their label read MSB first; unit average energy."""
    if name == "bpsk":
        return np.array([1.0, -1.0], dtype=np.complex128)                 # bit 0 -> +1
    labels = np.arange(4 if name == "qpsk" else 16)
    if name == "qpsk":
        b0, b1 = labels >> 1 & 1, labels & 1
        return ((1 - 2 * b0) + 1j * (1 - 2 * b1)) * _SQRT_HALF
    b0, b1, b2, b3 = labels >> 3 & 1, labels >> 2 & 1, labels >> 1 & 1, labels & 1
    # per axis (sign bit, magnitude bit): 00 -> +1, 01 -> +3, 10 -> -1, 11 -> -3 (Gray along the axis)
    return ((1 - 2 * b0) * (1 + 2 * b1) + 1j * (1 - 2 * b2) * (1 + 2 * b3)) / math.sqrt(10.0)


class Modem:
    """Gray-mapped BPSK, QPSK or 16-QAM with unit average symbol energy.

    Parameters
    ----------
    name : {"bpsk", "qpsk", "16qam"}
        Case-insensitive.

    Attributes
    ----------
    name : str
    bits_per_symbol : int
        1, 2 or 4.
    constellation : ndarray of complex128, shape (2**bits_per_symbol,)
        Point p carries the label p written in binary, MSB first (read-only).

    Notes
    -----
    BPSK: bit 0 -> +1, bit 1 -> -1. QPSK: bits (b0, b1) -> ((1 - 2 b0) + j (1 - 2 b1)) / sqrt(2).
    16-QAM: (b0, b1) on I and (b2, b3) on Q, each axis ``(1 - 2 b_sign)(1 + 2 b_mag)`` in
    {-3, -1, 1, 3} (labels 11, 10, 00, 01: Gray), divided by sqrt(10). Neighbouring points differ
    in exactly one bit, and the average energy is 1 for each modem.
    """

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"modem name must be a str, got {name!r}")
        key = check_choice(name.lower().replace("-", ""), "modem", _MODEMS)
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
            (:func:`transmit_bits` pads for you).
        """
        from ._kernels import channel as kern

        b = _as_bits(bits)
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
        so in that thin band the exact LLR says 0 where the slicer says 1.
        """
        from ._kernels import channel as kern

        z = _as_symbols(symbols)
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


def _as_modem(modem) -> Modem:
    if isinstance(modem, Modem):
        return modem
    if isinstance(modem, str):
        return Modem(modem)
    raise TypeError(f"modem must be a Modem or one of {list(_MODEMS)}, got {modem!r}")


def _as_bits(bits) -> np.ndarray:
    return as_bits(bits, "bits")


def _as_symbols(symbols, max_abs: float = _RECEIVED_SYMBOL_MAX) -> np.ndarray:
    arr = symbols if isinstance(symbols, np.ndarray) else np.asarray(symbols)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iufc":
        raise TypeError(f"symbols must be complex or real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {arr.shape}")
    z = np.ascontiguousarray(arr, dtype=np.complex128)
    if z.size and not np.isfinite(z).all():
        i = int(np.flatnonzero(~np.isfinite(z))[0])
        raise ValueError(f"symbols hold a non-finite value {z[i]!r} at index {i}")
    if z.size and np.abs(z).max() > max_abs:
        i = int(np.argmax(np.abs(z)))
        raise ValueError(f"symbols hold {z[i]!r} at index {i}; magnitudes above {max_abs:g} are not "
                         "supported (squared distances to the constellation would overflow)")
    return z


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


# --------------------------------------------------------------------------- digital transmission
@dataclass(frozen=True)
class SymbolResult:
    """Outcome of :func:`transmit_symbols`.

    Attributes
    ----------
    symbols : ndarray of complex128, shape (m,)
        Received symbols, equalised (``y / h``) under fading.
    noise_var : ndarray of float64, shape (m,)
        Effective complex noise variance per symbol, ``N0 / |h|^2`` (``N0`` without fading).
    channel_uses : int
        m (one complex use per symbol).
    """

    symbols: np.ndarray
    noise_var: np.ndarray
    channel_uses: int


def transmit_symbols(symbols, channel, rng=None) -> SymbolResult:
    """Send complex symbols (one per channel use) through ``channel`` at Es/N0 = ``channel.snr_db``.

    Parameters
    ----------
    symbols : array-like of shape (m,), complex, finite, magnitudes <= 1e100
        Expected to have unit average energy (as :meth:`Modem.modulate` produces); not rescaled.
    channel : AWGN or RayleighBlock
    rng : numpy.random.Generator, int or None

    Returns
    -------
    SymbolResult

    Notes
    -----
    ``y = h s + n``, ``n ~ CN(0, N0)``, ``N0 = 10^(-Es/N0_dB / 10)``, h = 1 for AWGN; the receiver
    returns ``z = y / h``.
    """
    channel = _check_channel(channel)
    rng = as_generator(rng)
    s = _as_symbols(symbols, _SEND_SYMBOL_MAX)
    zr, zi, nvar = _through_complex(np.ascontiguousarray(s.real)[None, :],
                                    np.ascontiguousarray(s.imag)[None, :], channel, rng)
    return SymbolResult(symbols=zr[0] + 1j * zi[0], noise_var=nvar[0], channel_uses=s.size)


@dataclass(frozen=True)
class BitResult:
    """Outcome of :func:`transmit_bits`.

    Attributes
    ----------
    bits : ndarray of uint8, shape (n_bits,)
        Hard decisions, pad removed (with ``soft=True``: ``llr < 0``).
    llr : ndarray of float64, shape (n_bits,) or None
        ``log P(b=0|y) / P(b=1|y)`` when ``soft=True``, pad removed.
    channel_uses : int
        Complex channel uses (symbols) spent, pad included.
    pad_bits : int
        Zero bits appended to fill the last symbol (and stripped again).
    bit_errors : int
        Hard-decision errors against the sent bits (pad excluded).
    """

    bits: np.ndarray
    llr: np.ndarray | None
    channel_uses: int
    pad_bits: int
    bit_errors: int

    @property
    def ber(self) -> float:
        """``bit_errors / n_bits`` (0.0 for an empty message)."""
        return self.bit_errors / self.bits.size if self.bits.size else 0.0


def transmit_bits(bits, modem, channel, rng=None, soft: bool = False, exact: bool = True) -> BitResult:
    """Modulate, send and demodulate a bit string.

    Parameters
    ----------
    bits : array-like of shape (n_bits,), uint8/int/bool holding 0 and 1
        E.g. ``dscref.bitpack.bytes_to_bits(payload)``.
    modem : Modem or {"bpsk", "qpsk", "16qam"}
    channel : AWGN or RayleighBlock
        ``channel.snr_db`` is Es/N0 (use :func:`ebn0_to_esn0` to start from Eb/N0).
    rng : numpy.random.Generator, int or None
    soft : bool
        Also return LLRs; ``bits`` are then their signs (bitwise MAP with exact LLRs, which for
        16-QAM can differ from the minimum-distance decisions of ``soft=False`` in a thin band,
        see :meth:`Modem.demodulate`).
    exact : bool
        Exact (True) or max-log (False) LLRs when ``soft``.

    Returns
    -------
    BitResult

    Notes
    -----
    When ``n_bits`` is not a multiple of ``bits_per_symbol`` the message is padded with zero
    bits to ``ceil(n_bits / k) * k``; the pad is sent (it costs channel uses), reported in
    ``pad_bits`` and stripped from ``bits`` / ``llr``. Uses ``ceil(n_bits / k)`` channel uses.
    """
    b = _as_bits(bits)
    modem = _as_modem(modem)
    channel = _check_channel(channel)
    rng = as_generator(rng)
    k = modem.bits_per_symbol
    pad = (-b.size) % k
    sent = np.concatenate([b, np.zeros(pad, dtype=np.uint8)]) if pad else b
    rx = transmit_symbols(modem.modulate(sent), channel, rng)
    if soft:
        llr = modem.demodulate(rx.symbols, rx.noise_var, soft=True, exact=exact)[: b.size]
        hard = (llr < 0).astype(np.uint8)
    else:
        llr = None
        hard = modem.demodulate(rx.symbols, rx.noise_var)[: b.size]
    errors = int(np.count_nonzero(hard != b))
    log.debug("transmit_bits: %d bits (+%d pad) %s over %r: %d uses, %d errors",
              b.size, pad, modem.name, channel, rx.channel_uses, errors)
    return BitResult(bits=hard, llr=llr, channel_uses=rx.channel_uses, pad_bits=pad, bit_errors=errors)


# --------------------------------------------------------------------------- bandwidth accounting
def channel_uses(*, dim=None, nbytes=None, nbits=None, modem=None, complex_baseband: bool = False) -> int:
    """Channel uses ("B" in Fig. 3 of Wang & Qi) for an analog vector or a digital payload.

    Give exactly one of ``dim`` (analog), ``nbytes`` or ``nbits`` (digital, with ``modem``).

    Parameters
    ----------
    dim : int, optional
        Analog vector length d: d real uses, or ``ceil(d / 2)`` complex uses if ``complex_baseband``.
    nbytes, nbits : int, optional
        Payload size; ``ceil(8 nbytes / k)`` or ``ceil(nbits / k)`` symbols for k bits per symbol.
    modem : Modem or str, required with nbytes / nbits
    complex_baseband : bool
        Analog only.

    Returns
    -------
    int

    Examples
    --------
    >>> channel_uses(dim=2048), channel_uses(dim=2048, complex_baseband=True)
    (2048, 1024)
    >>> [channel_uses(nbytes=47, modem=m) for m in ("bpsk", "qpsk", "16qam")]
    [376, 188, 94]
    """
    given = [v is not None for v in (dim, nbytes, nbits)]
    if sum(given) != 1:
        raise ValueError(f"give exactly one of dim, nbytes, nbits; got dim={dim!r}, nbytes={nbytes!r}, nbits={nbits!r}")
    if dim is not None:
        d = check_int(dim, "dim", low=0)
        if modem is not None:
            raise ValueError(f"modem={modem!r} applies to digital payloads, not to dim={d}")
        return (d + 1) // 2 if complex_baseband else d
    if modem is None:
        raise ValueError("a digital payload needs modem= ('bpsk', 'qpsk' or '16qam')")
    k = _as_modem(modem).bits_per_symbol
    n = 8 * check_int(nbytes, "nbytes", low=0) if nbytes is not None else check_int(nbits, "nbits", low=0)
    return -(-n // k)


def bandwidth_table(dim: int = 2048, nbytes: int = 47) -> dict:
    """Channel uses of the analog feature (real and complex baseband) and of the payload per modem.

    Returns
    -------
    dict
        ``{"analog_real": dim, "analog_complex": ceil(dim/2), "bpsk": ..., "qpsk": ..., "16qam": ...}``;
        (2048, 1024, 376, 188, 94) for the paper's defaults.
    """
    table = {"analog_real": channel_uses(dim=dim),
             "analog_complex": channel_uses(dim=dim, complex_baseband=True)}
    for name in _MODEMS:
        table[name] = channel_uses(nbytes=nbytes, modem=name)
    return table


# --------------------------------------------------------------------------- theory (Proakis)
def _ebn0_linear(ebn0_db) -> np.ndarray:
    arr = _as_db(ebn0_db, "ebn0_db")
    with np.errstate(over="ignore"):  # 10**(huge) = inf is the right limit: BER 0
        return 10.0 ** (arr / 10.0)


def _q(x):
    from scipy.special import erfc

    return 0.5 * erfc(x / math.sqrt(2.0))


def _ret(v):
    return float(v) if np.ndim(v) == 0 else v


def ber_bpsk(ebn0_db):
    """BPSK over AWGN: ``P_b = Q(sqrt(2 Eb/N0))`` (Proakis & Salehi, eq. 4.3-13).

    Parameters
    ----------
    ebn0_db : float or array-like of float

    Returns
    -------
    float or ndarray of float64
    """
    return _ret(_q(np.sqrt(2.0 * _ebn0_linear(ebn0_db))))


def ber_qpsk(ebn0_db):
    """Gray QPSK over AWGN: each bit sees BPSK on one axis, ``P_b = Q(sqrt(2 Eb/N0))`` (Proakis 4.3)."""
    return ber_bpsk(ebn0_db)


def ber_16qam(ebn0_db):
    """Gray 16-QAM over AWGN, *exact* bit error probability.

    ``P_b = (1/4) [3 Q(sqrt(4 Eb/(5 N0))) + 2 Q(3 sqrt(4 Eb/(5 N0))) - Q(5 sqrt(4 Eb/(5 N0)))]``
    (Cho & Yoon 2002; cf. Proakis & Salehi sec. 4.3). It follows from the Gray 4-PAM on each axis,
    half-spacing ``d = sqrt(Es / 10)``, ``Es = 4 Eb``: the sign bit errs with ``(q_0 + q_1) / 2`` and
    the magnitude bit with ``(2 q_0 + q_1 - q_2) / 2``, ``q_i = Q((2i + 1) d / sqrt(N0 / 2))``.
    The tight approximation ``(3/4) Q(sqrt(4 Eb / (5 N0)))`` is its first term.
    """
    a = np.sqrt(0.8 * _ebn0_linear(ebn0_db))
    return _ret(0.25 * (3.0 * _q(a) + 2.0 * _q(3.0 * a) - _q(5.0 * a)))


def ber_bpsk_rayleigh(ebn0_db):
    """BPSK (or Gray QPSK) over Rayleigh fading with perfect CSI, fast fading (independent h per bit):
    ``P_b = (1 - sqrt(g / (1 + g))) / 2``, g = average Eb/N0 (Proakis & Salehi eq. 13.3-7)."""
    g = _ebn0_linear(ebn0_db)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isinf(g), 1.0, g / (1.0 + g))  # inf / inf: the limit is 1 (BER 0)
    return _ret(0.5 * (1.0 - np.sqrt(ratio)))
