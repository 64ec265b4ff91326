"""Closed-form bit error rates over AWGN and Rayleigh fading, to check the simulated channel.

References
----------
.. [1] J. G. Proakis and M. Salehi, *Digital Communications*, 5th ed., McGraw-Hill, 2008,
       sec. 4.3 (BER of BPSK, QPSK and Gray-coded QAM over AWGN) and 13.3 (Rayleigh fading).
.. [2] K. Cho and D. Yoon, "On the general BER expression of one- and two-dimensional amplitude
       modulations", IEEE Trans. Commun., 50(7), 2002 (exact BER of Gray square M-QAM, eqs. 14-16).
.. [3] J. P. Odenwalder, *Optimal decoding of convolutional codes*, PhD thesis, UCLA, 1970
       (distance spectrum of the K = 7, 133/171 code; tabulated in Proakis & Salehi, ch. 8).
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import as_db, check_int

__all__ = ["ber_bpsk", "ber_qpsk", "ber_16qam", "ber_qam", "ber_modem", "ber_bpsk_rayleigh", "CONV_K7_SPECTRUM",
           "ber_conv_union_bound"]


def _ebn0_linear(ebn0_db) -> np.ndarray:
    arr = as_db(ebn0_db, "ebn0_db")
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


def ber_qam(ebn0_db, order: int):
    """Gray square M-QAM over AWGN, *exact* bit error probability (Cho & Yoon 2002, eqs. 14-16).

    Parameters
    ----------
    ebn0_db : float or array-like of float
    order : int
        M = 4, 16, 64, 256, ... up to 4**8 = 65536 (a power of 4; 4 is Gray QPSK).

    Returns
    -------
    float or ndarray of float64

    Notes
    -----
    With ``I = sqrt(M)`` levels per axis (Gray PAM on I and on Q, as :class:`~dscref.channel.Modem`
    maps them), the k-th bit of an axis (k = 1 the sign bit, ..., log2 I) errs with

    ``P(k) = (1 / I) sum_{i=0}^{(1 - 2^-k) I - 1} (-1)^floor(i 2^(k-1) / I)
    (2^(k-1) - floor(i 2^(k-1) / I + 1/2)) erfc((2 i + 1) sqrt(3 log2(M) Eb/N0 / (2 (M - 1))))``

    and ``P_b`` is the mean of ``P(k)`` over the log2 I bits (I and Q are alike). M = 16 gives
    :func:`ber_16qam`, M = 4 ``Q(sqrt(2 Eb/N0))``; for 64-QAM
    ``P_b = (1/12) [7 Q(a) + 6 Q(3a) - Q(5a) + Q(9a) - Q(13a)]``, ``a = sqrt(2 Eb / (7 N0))``
    (expand the sum to check).
    """
    order = check_int(order, "order", low=4, high=1 << 16)  # the sum has ~sqrt(M) log2(M) / 2 terms
    levels = math.isqrt(order)
    if levels * levels != order or levels & (levels - 1):
        raise ValueError(f"order={order} is not a square QAM order (4, 16, 64, 256, ...: a power of 4)")
    from scipy.special import erfc

    g = _ebn0_linear(ebn0_db)
    bits_axis = levels.bit_length() - 1
    scale = np.sqrt(3.0 * 2 * bits_axis * g / (2.0 * (order - 1)))
    total = np.zeros_like(g)
    for k in range(1, bits_axis + 1):
        w = 1 << (k - 1)
        for i in range(levels - (levels >> k)):                  # (1 - 2^-k) I terms
            coef = (-1) ** ((i * w) // levels) * (w - (2 * i * w + levels) // (2 * levels))
            if coef:
                total = total + coef * erfc((2 * i + 1) * scale)
    return _ret(total / (levels * bits_axis))


def ber_modem(ebn0_db, modem):
    """Exact Gray BER over AWGN of a modem by name (or :class:`~dscref.channel.Modem`):
    :func:`ber_bpsk` for BPSK, :func:`ber_qam` for QPSK (M = 4) and the square QAMs."""
    from .transmit import as_modem

    k = as_modem(modem).bits_per_symbol
    return ber_bpsk(ebn0_db) if k == 1 else ber_qam(ebn0_db, 1 << k)


def ber_bpsk_rayleigh(ebn0_db):
    """BPSK (or Gray QPSK) over Rayleigh fading with perfect CSI, fast fading (independent h per bit):
    ``P_b = (1 - sqrt(g / (1 + g))) / 2``, g = average Eb/N0 (Proakis & Salehi eq. 13.3-7)."""
    g = _ebn0_linear(ebn0_db)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isinf(g), 1.0, g / (1.0 + g))  # inf / inf: the limit is 1 (BER 0)
    return _ret(0.5 * (1.0 - np.sqrt(ratio)))


# Information-weight spectrum of the K = 7, rate 1/2, 133/171 convolutional code: distance d ->
# B_d, the total number of information-bit errors over all error events of output weight d
# (d_free = 10; odd weights do not occur). The first four terms dominate above ~3 dB.
CONV_K7_SPECTRUM = ((10, 36), (12, 211), (14, 1404), (16, 11633))


def ber_conv_union_bound(ebn0_db):
    """Union bound on the bit error rate of the K = 7, rate 1/2 (133/171) convolutional code with
    soft-decision (unquantised) Viterbi decoding, BPSK or Gray QPSK over AWGN (unpunctured).

    ``P_b <= sum_d B_d Q(sqrt(2 d R Eb/N0))`` with R = 1/2 and the information-weight spectrum
    :data:`CONV_K7_SPECTRUM` (B_d = 36, 211, 1404, 11633 at d = 10, 12, 14, 16), the transfer-
    function (union) bound of Proakis & Salehi, ch. 8 (``P_b < (1/k) sum_d beta_d P_2(d)``, k = 1,
    ``P_2(d) = Q(sqrt(2 R d Eb/N0))`` for soft decisions), truncated to these four terms: 1e-3 at
    2.71 dB, 1e-4 at 3.47 dB, 1e-5 at 4.16 dB (4.3e-6 at 4.4 dB). The truncation drops positive
    terms, so strictly it approximates the union bound from below; above ~3 dB the terms fall fast
    and it is tight: dscref's simulated soft Viterbi BER (376-bit blocks, QPSK, tail energy
    counted) lies within 0.1 dB of it between 2 and 3.5 dB and below it at lower Eb/N0, where the
    complete series diverges.

    Parameters
    ----------
    ebn0_db : float or array-like of float
        Energy per *information* bit over N0, in dB.

    Returns
    -------
    float or ndarray of float64 (may exceed 1 at low Eb/N0, where a bound says nothing)
    """
    g = _ebn0_linear(ebn0_db)
    rate = 0.5
    total = sum(b * _q(np.sqrt(2.0 * d * rate * g)) for d, b in CONV_K7_SPECTRUM)
    return _ret(total)
