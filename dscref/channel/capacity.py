"""The ideal digital link: a capacity-achieving code delivers a payload intact or not at all.

The one concept: whether ``b`` bits sent in ``B`` complex channel uses arrive, with an ideal
(capacity-achieving, infinitely long) channel code. Over AWGN at SNR ``s`` (Es/N0 per complex
use, ``Es = 1``, the convention of :mod:`dscref.channel.models`) the payload arrives iff

    b <= B log2(1 + s)                                              (Shannon)

and over Rayleigh block fading with perfect CSI at the receiver, blocks of ``L_i`` uses with gains
``h_i``, iff the accumulated mutual information carries it (the outage formulation of a code
spanning the blocks, Ozarow, Shamai & Wyner 1994):

    sum_i L_i log2(1 + |h_i|^2 s) >= b.

The bound's mAP curve (delivered queries searched with their exact payload, lost ones answered
with nothing, AP 0) bounds every separation scheme that must deliver this b-bit payload intact
(a real code with a CRC is such a scheme; the uncoded and robust-coded links of Fig. 3 are not:
they search with a corrupted payload and may exceed it below the threshold).

The fading gains are drawn exactly as a transmission of ``n`` rows of ``B`` uses draws them
(:func:`~dscref.channel.models._through_complex`: noise first, discarded here, then the gains), so
the same generator state gives the same ``h`` as :meth:`LinearJSCC.send
<dscref.channel.jscc.LinearJSCC.send>` of n rows in B uses: the analog and the ideal digital
curve of one experiment can see the same channel.

References
----------
.. [1] C. E. Shannon, "A mathematical theory of communication", Bell Syst. Tech. J., 1948.
.. [2] L. H. Ozarow, S. Shamai and A. D. Wyner, "Information theoretic considerations for
       cellular mobile radio", IEEE Trans. Veh. Technol., vol. 43, no. 2, pp. 359-378, 1994.
.. [3] M. Jankowski, D. Gunduz and K. Mikolajczyk, "Wireless image retrieval at the edge",
       IEEE J. Sel. Areas Commun., vol. 39, no. 1, 2021 (the ideal digital scheme of the comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import as_generator, check_int
from .models import _check_snr

__all__ = ["capacity", "threshold_snr_db", "min_uses", "IdealResult", "ideal_delivery", "outage_probability"]

# b <= B log2(1 + s) is tested with this relative slack, so that a payload sized exactly to the
# capacity (b = 376, B = 188 at s = 3, i.e. 4.77 dB given in dB) is not lost to rounding.
_REL_TOL = 1e-12


def capacity(snr_db) -> float:
    """AWGN capacity ``log2(1 + s)`` in bits per complex use (``inf`` at SNR = +inf).

    >>> round(capacity(0.0), 6), capacity(float("inf"))
    (1.0, inf)
    """
    s = _check_snr(snr_db)
    return math.inf if s == math.inf else math.log1p(10.0 ** (s / 10.0)) / math.log(2.0)  # > 0 at -300 dB


def threshold_snr_db(n_bits: int, n_uses: int) -> float:
    """The smallest AWGN SNR in dB at which ``n_bits`` fit ``n_uses`` complex uses:
    ``10 log10(2^(b / B) - 1)`` (``-inf`` for ``b = 0``).

    >>> round(threshold_snr_db(376, 188), 2), round(threshold_snr_db(376, 47), 2)
    (4.77, 24.07)
    """
    b = check_int(n_bits, "n_bits", low=0)
    B = check_int(n_uses, "n_uses", low=1)
    if b == 0:
        return -math.inf
    r = b / B
    if r > 64:  # 2^r - 1 = 2^r to double precision (and expm1 would overflow past r = 1024)
        return 10.0 * r * math.log10(2.0)
    return 10.0 * math.log10(math.expm1(r * math.log(2.0)))


def min_uses(n_bits: int, snr_db) -> int:
    """The fewest complex uses that carry ``n_bits`` over AWGN at ``snr_db``: ``ceil(b / C)``
    (0 for ``b = 0`` or an infinite SNR)."""
    b = check_int(n_bits, "n_bits", low=0)
    c = capacity(snr_db)
    if b == 0 or c == math.inf:
        return 0
    return max(1, math.ceil(b / c * (1.0 - _REL_TOL)))


@dataclass(frozen=True)
class IdealResult:
    """Outcome of :func:`ideal_delivery`.

    Attributes
    ----------
    delivered : ndarray (n,) bool
        Whether each row's payload arrives intact.
    information : ndarray (n,) float64
        Accumulated mutual information of each row's transmission in bits
        (``sum_u log2(1 + |h_u|^2 s)`` over its uses; ``inf`` at SNR = +inf).
    n_bits, n_uses : int
    """

    delivered: np.ndarray
    information: np.ndarray
    n_bits: int
    n_uses: int

    @property
    def delivery_rate(self) -> float:
        """The share of rows delivered (0.0 for no rows)."""
        return float(self.delivered.mean()) if self.delivered.size else 0.0


def ideal_delivery(n_bits: int, n_uses: int, channel, n: int = 1, rng=None) -> IdealResult:
    """Which of ``n`` payloads of ``n_bits`` bits, each sent in ``n_uses`` complex uses with an
    ideal code over ``channel``, arrive intact.

    Parameters
    ----------
    n_bits : int >= 0
        Payload size b (e.g. 376 for the 47-byte payload of eq. 12).
    n_uses : int >= 1
        Complex channel uses per payload (B).
    channel : AWGN or RayleighBlock
        ``snr_db`` is Es/N0 per complex use (average SNR under fading). Each row is its own
        transmission: blocks of ``channel.block`` uses from its first use, the last one shorter.
    n : int >= 0
        Number of payloads (rows).
    rng : numpy.random.Generator, int or None
        Advanced exactly as by a transmission of an (n, n_uses) batch of symbols (noise, then
        the fading gains), also over AWGN, so callers sharing a generator stay aligned.

    Returns
    -------
    IdealResult

    Notes
    -----
    AWGN: ``delivered = b <= B log2(1 + s)`` for every row. Block fading:
    ``sum_i L_i log2(1 + |h_i|^2 s) >= b`` with the drawn (or the fixed test-hook) gains. The
    comparison has a relative slack of 1e-12 (a payload sized exactly to the capacity arrives).
    """
    from .transmit import check_channel

    b = check_int(n_bits, "n_bits", low=0)
    B = check_int(n_uses, "n_uses", low=1)
    n = check_int(n, "n", low=0)
    channel = check_channel(channel)
    rng = as_generator(rng)
    rng.standard_normal((2, n, B))  # the noise a transmission would draw first (unused here)
    h = channel._gains(rng, n, B)
    snr = math.inf if channel.noise_var == 0.0 else 1.0 / channel.noise_var
    if snr == math.inf:
        info = np.full(n, math.inf)
    elif h is None:
        info = np.full(n, B * capacity(channel.snr_db))
    else:
        info = np.log1p(np.abs(h) ** 2 * snr).sum(1) / math.log(2.0)  # per use: L_i uses share h_i
    delivered = info >= b * (1.0 - _REL_TOL)
    return IdealResult(delivered=delivered, information=info, n_bits=b, n_uses=B)


def outage_probability(n_bits: int, n_uses: int, channel, n_draws: int = 20000, seed=0) -> float:
    """The probability that an ideal code loses ``n_bits`` sent in ``n_uses`` complex uses.

    0 or 1 on AWGN (:func:`ideal_delivery`'s threshold); under block fading the Monte-Carlo
    estimate ``P(sum_i L_i log2(1 + |h_i|^2 s) < b)`` over ``n_draws`` independent transmissions
    drawn from ``seed`` (for one block, ``n_uses <= block``, it is
    ``1 - exp(-(2^(b / B) - 1) / s)``). A transmitter that knows the average SNR and the fading
    statistics, not the gains, sizes a code with it.
    """
    n_draws = check_int(n_draws, "n_draws", low=1)
    return 1.0 - ideal_delivery(n_bits, n_uses, channel, n_draws, rng=seed).delivery_rate
