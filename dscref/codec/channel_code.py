"""The channel code on bit strings: the K = 7 convolutional code and the interleaver, for any message.

The one concept: message bits -> the bits to modulate, and the received bit LLRs -> message
bits, as the coded payload (:mod:`dscref.codec.coded`) sends them, without knowing what the
message holds. The coded payload builds its message (head, CRC, sub-codes) and calls
:func:`encode_message` / :func:`decode_message`; the hybrid link's convolutional head coder
(:class:`dscref.hybrid.ConvHead`) sends a head and its CRC alone through the same chain.

Device: message -> :func:`dscref.convcode.encode` at ``rate`` (zero-terminated, punctured; None:
uncoded) -> interleaver. Server: LLRs -> de-interleaver -> soft-decision Viterbi
(:func:`dscref.convcode.decode`; uncoded: the LLRs' signs).

**Interleaver**: a fixed pseudo-random permutation of an n-bit block (:func:`interleaver`, drawn
from a constant seed and n, the same at both ends): coded bit ``perm[j]`` is sent j-th. On
Rayleigh block fading it spreads a Viterbi error event over many fades; on AWGN it changes
nothing (measurements in :mod:`dscref.codec.coded`).

>>> import numpy as np
>>> msg = np.random.default_rng(0).integers(0, 2, (3, 66)).astype(np.uint8)
>>> sent = encode_message(msg, "1/2")
>>> sent.shape                                    # 2 (66 + 6) coded bits per message
(3, 144)
>>> llr = np.where(sent == 0, 4.0, -4.0)
>>> llr[:, :9] *= -1                              # nine coded bits of each row received wrong
>>> bool((decode_message(llr, "1/2", 66) == msg).all())
True
"""

from __future__ import annotations

import functools

import numpy as np

from .. import convcode
from .._validate import as_bits, as_llr, check_int

__all__ = ["interleaver", "coded_length", "encode_message", "decode_message"]

_INTERLEAVER_SEED = 0x1D5C


@functools.lru_cache(maxsize=64)
def _permutation(n: int) -> np.ndarray:
    perm = np.random.default_rng([_INTERLEAVER_SEED, n]).permutation(n)
    perm.setflags(write=False)
    return perm


_MAX_BLOCK = 2 * (convcode.MAX_INFO_BITS + convcode.TAIL_BITS)  # the longest coded block


def interleaver(n: int) -> np.ndarray:
    """The interleaver of an n-bit block (1 <= n <= the longest coded block,
    ``2 (convcode.MAX_INFO_BITS + 6)``), int64 (n,) read-only: coded bit ``perm[j]`` is sent j-th."""
    return _permutation(check_int(n, "n", low=1, high=_MAX_BLOCK))


def coded_length(n_message: int, rate) -> int:
    """Bits sent for ``n_message`` message bits at ``rate`` (tail included; ``n_message`` uncoded)."""
    n_message = check_int(n_message, "n_message", low=1, high=convcode.MAX_INFO_BITS)
    return convcode.coded_length(n_message, rate) if rate is not None else n_message


def encode_message(bits, rate, *, interleave: bool = True) -> np.ndarray:
    """Message bits -> the bits to modulate: the convolutional code at ``rate``, then the interleaver.

    Parameters
    ----------
    bits : array-like of shape (n,) or (n_messages, n), 0/1
    rate : {"1/2", "2/3", "3/4"} or None (uncoded)
    interleave : bool

    Returns
    -------
    ndarray of uint8, shape (coded_length(n, rate),) or (n_messages, coded_length(n, rate))
    """
    if rate is None:
        coded = as_bits(bits, "bits", ndim=None)
        if coded.ndim not in (1, 2) or coded.shape[-1] == 0:
            raise ValueError(f"bits must be 1-D (n,) or 2-D (n_messages, n) with n >= 1, got shape {coded.shape}")
    else:
        coded = convcode.encode(bits, rate)
    if not interleave:
        return coded
    return np.ascontiguousarray(coded[..., _permutation(coded.shape[-1])])


def decode_message(llr, rate, n_message: int, *, interleave: bool = True) -> np.ndarray:
    """LLRs of the bits :func:`encode_message` sent -> the message bits.

    Parameters
    ----------
    llr : array-like of shape (n_coded,) or (n_messages, n_coded), real
        ``log P(b=0|y) / P(b=1|y)`` of the bits as sent; NaN refused, +-inf a certain bit.
    rate : {"1/2", "2/3", "3/4"} or None
    n_message : int >= 1
    interleave : bool
        As when the bits were sent.

    Returns
    -------
    ndarray of uint8, shape (n_message,) or (n_messages, n_message)
    """
    n_coded = coded_length(n_message, rate)
    a = np.asarray(llr)
    L = as_llr(a[None, :] if a.ndim == 1 else a, "llr", n_coded, ndim=2)
    if interleave:
        deint = np.empty_like(L)
        deint[:, _permutation(n_coded)] = L
        L = deint
    msgs = convcode.decode(L, rate, n_message) if rate is not None else (L < 0).astype(np.uint8)
    return msgs[0] if a.ndim == 1 else msgs
