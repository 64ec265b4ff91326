"""Wireless channel simulation: analog AWGN (eq. 7 of Wang & Qi), digital BPSK / QPSK / 16-, 64-
and 256-QAM with Gray mapping, hard or soft (LLR) demodulation, Rayleigh block fading, bandwidth
accounting.

The paper sends either the 2048-d feature (analog, one real per channel use) or the 47-byte
payload (bits) over an AWGN channel ``y = x + eta``, ``eta ~ N(0, sigma^2 I_B)`` (eq. 7), with
``SNR = P / sigma^2``. One concept per module:

* :mod:`~dscref.channel.models`: SNR in dB and its conversions (Eb/N0 per information bit of a
  coded message: :func:`ebn0_to_snr`), :class:`AWGN`,
  :class:`RayleighBlock` (``h ~ CN(0, 1)`` per block, perfect CSI, zero-forcing equaliser), the
  numeric envelope (``SNR_DB_RANGE``, ``GAIN_RANGE``) and the random-stream conventions;
* :mod:`~dscref.channel.modem`: Gray constellations with unit average energy, :class:`Modem`
  (modulate, hard / LLR demodulation; ``LLR = log P(b=0|y) / P(b=1|y)``, positive means bit 0);
* :mod:`~dscref.channel.transmit`: :func:`transmit_analog` (power-normalised rows, real or
  complex baseband), :func:`transmit_symbols`, :func:`transmit_bits`, and the channel uses
  (:func:`channel_uses`, :func:`bandwidth_table`, counted in complex uses for digital payloads);
* :mod:`~dscref.channel.theory`: closed-form BER (Proakis & Salehi; Cho & Yoon for square M-QAM) and
  the union bound of the K = 7 convolutional code of :mod:`dscref.convcode`;
* :mod:`~dscref.channel.allocation`: the MSE-optimal linear power allocation over parallel
  components (Lee & Petersen 1976) and the LMMSE distortion;
* :mod:`~dscref.channel.jscc`: :class:`LinearJSCC`, linear analog JSCC of a feature in B complex
  uses (PCA, that allocation, energy 1 per use over the database, LMMSE receiver);
* :mod:`~dscref.channel.capacity`: the ideal digital link (``b <= B log2(1 + SNR)``, accumulated
  mutual information per block under fading): :func:`ideal_delivery`, :func:`capacity`.

All noise and fading gains are drawn in Python from the ``numpy.random.Generator`` you pass (noise
first, then gains); the Numba kernels (:mod:`dscref._kernels.channel`) only do the per-symbol
arithmetic, so results are identical for a given seed whatever the number of threads.

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
       modulations", IEEE Trans. Commun., 50(7), 2002 (exact Gray square M-QAM BER).
"""

from __future__ import annotations

from .allocation import linear_power_allocation, lmmse_distortion
from .capacity import IdealResult, capacity, ideal_delivery, min_uses, outage_probability, threshold_snr_db
from .jscc import JSCCResult, LinearJSCC
from .models import (GAIN_RANGE, SNR_DB_RANGE, AWGN, RayleighBlock, ebn0_to_esn0, ebn0_to_snr, esn0_to_ebn0,
                     snr_to_ebn0, snr_to_noise_var)
from .modem import MODEM_NAMES, Modem
from .theory import (CONV_K7_SPECTRUM, ber_16qam, ber_bpsk, ber_bpsk_rayleigh, ber_conv_union_bound, ber_modem, ber_qam,
                     ber_qpsk)
from .transmit import (AnalogResult, BitResult, SymbolResult, as_modem, bandwidth_table, channel_uses,
                       check_channel, transmit_analog, transmit_bits, transmit_symbols)

__all__ = [
    "SNR_DB_RANGE",
    "GAIN_RANGE",
    "AWGN",
    "RayleighBlock",
    "Modem",
    "MODEM_NAMES",
    "as_modem",
    "check_channel",
    "AnalogResult",
    "SymbolResult",
    "BitResult",
    "transmit_analog",
    "transmit_symbols",
    "transmit_bits",
    "snr_to_noise_var",
    "ebn0_to_esn0",
    "esn0_to_ebn0",
    "ebn0_to_snr",
    "snr_to_ebn0",
    "channel_uses",
    "bandwidth_table",
    "ber_bpsk",
    "ber_qpsk",
    "ber_16qam",
    "ber_qam",
    "ber_modem",
    "ber_bpsk_rayleigh",
    "CONV_K7_SPECTRUM",
    "ber_conv_union_bound",
    "linear_power_allocation",
    "lmmse_distortion",
    "LinearJSCC",
    "JSCCResult",
    "capacity",
    "threshold_snr_db",
    "min_uses",
    "IdealResult",
    "ideal_delivery",
    "outage_probability",
]
