"""Transmission over a channel: analog vectors (eq. 7 of Wang & Qi, with power normalisation),
complex symbols, and bit strings (modulate, send, demodulate); channel-use accounting.

* **Analog**: each transmitted block (one row) is power-normalised to average energy ``P = 1`` per
  channel use and ``sigma^2 = 10^(-SNR/10)``. The normaliser ``g`` (the RMS of the block per
  channel use) is part of the link: it is assumed to reach the receiver error-free as side
  information (one scalar per block, not counted in the channel uses), and the receiver multiplies
  by it, so the received vector is in the units of the input. Over real channel uses a d-vector
  takes d uses; with ``complex_baseband=True`` consecutive pairs of reals form one complex symbol
  (``ceil(d / 2)`` uses, one zero pad real when d is odd) with ``Es = 1`` per complex use and complex
  noise variance ``sigma^2`` split equally over I and Q. After unpairing, each received real then
  has the same noise variance ``g^2 sigma^2`` as on the real channel, in half the channel uses.
  Analog vectors are float32 in and out (float64 inside).
* **Digital**: Es/N0 per complex symbol, ``Es = 1`` (unit average symbol energy for every modem),
  complex noise ``CN(0, N0)``; bits are padded to whole symbols, the pad is reported and stripped.
* **Bandwidth**: every transmit call returns the channel uses it spent; :func:`channel_uses` and
  :func:`bandwidth_table` give the paper's "B" for the analog feature versus an N-byte payload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._validate import F32_MAX, as_bits, as_float_matrix, as_generator, as_symbols, check_int
from .modem import MODEM_NAMES, Modem
from .models import AWGN, _through_complex, _through_real

__all__ = ["AnalogResult", "SymbolResult", "BitResult", "transmit_analog", "transmit_symbols",
           "transmit_bits", "channel_uses", "bandwidth_table", "check_channel", "as_modem"]

log = logging.getLogger(__name__)

# Symbols accepted by transmit_symbols: |z| <= this, so |z - p|^2 stays finite after the channel.
_SEND_SYMBOL_MAX = 1e100


def check_channel(channel):
    """``channel`` if it is an :class:`AWGN` or :class:`RayleighBlock`, else a ``TypeError``."""
    if not isinstance(channel, AWGN):
        raise TypeError(f"channel must be an AWGN or RayleighBlock instance, got {channel!r}")
    return channel


def as_modem(modem) -> Modem:
    """A :class:`Modem` from a Modem or its name (one of ``MODEM_NAMES``: "bpsk", "qpsk", "16qam",
    "64qam", "256qam")."""
    if isinstance(modem, Modem):
        return modem
    if isinstance(modem, str):
        return Modem(modem)
    raise TypeError(f"modem must be a Modem or one of {list(MODEM_NAMES)}, got {modem!r}")


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
    from .._kernels import channel as kern

    channel = check_channel(channel)
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
    channel = check_channel(channel)
    rng = as_generator(rng)
    s = as_symbols(symbols, _SEND_SYMBOL_MAX)
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
    modem : Modem or {"bpsk", "qpsk", "16qam", "64qam", "256qam"}
    channel : AWGN or RayleighBlock
        ``channel.snr_db`` is Es/N0 (use :func:`~dscref.channel.models.ebn0_to_esn0` to start from Eb/N0).
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
    b = as_bits(bits, "bits")
    modem = as_modem(modem)
    channel = check_channel(channel)
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
    >>> [channel_uses(nbytes=47, modem=m) for m in ("bpsk", "qpsk", "16qam", "64qam", "256qam")]
    [376, 188, 94, 63, 47]
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
        raise ValueError(f"a digital payload needs modem= (one of {list(MODEM_NAMES)})")
    k = as_modem(modem).bits_per_symbol
    n = 8 * check_int(nbytes, "nbytes", low=0) if nbytes is not None else check_int(nbits, "nbits", low=0)
    return -(-n // k)


def bandwidth_table(dim: int = 2048, nbytes: int = 47, modems=("bpsk", "qpsk", "16qam")) -> dict:
    """Channel uses of the analog feature (real and complex baseband) and of the payload per modem.

    Parameters
    ----------
    dim, nbytes : int
        Analog vector length and payload bytes.
    modems : sequence of str
        The digital columns; the paper's three by default (``MODEM_NAMES`` lists them all:
        64-QAM and 256-QAM give 63 and 47 uses for 47 bytes).

    Returns
    -------
    dict
        ``{"analog_real": dim, "analog_complex": ceil(dim/2), "bpsk": ..., "qpsk": ..., "16qam": ...}``;
        (2048, 1024, 376, 188, 94) for the paper's defaults.
    """
    if isinstance(modems, str):
        raise TypeError(f"modems must be a sequence of modem names, got the str {modems!r}")
    table = {"analog_real": channel_uses(dim=dim),
             "analog_complex": channel_uses(dim=dim, complex_baseband=True)}
    for name in modems:
        table[as_modem(name).name] = channel_uses(nbytes=nbytes, modem=name)
    return table
