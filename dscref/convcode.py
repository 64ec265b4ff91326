"""The convolutional channel code of the digital payload: K=7, rate 1/2, generators 133/171 (octal),
punctured to 2/3 and 3/4, decoded by a soft-decision Viterbi decoder from bit LLRs.

This is the "industry standard" code of NASA deep-space links and IEEE 802.11a/g (the same
generators and puncturing patterns). The encoder is zero-terminated: ``TAIL_BITS = 6`` zero bits
follow the ``n_info`` message bits, so the trellis starts and ends in state 0 and a block of
``n_info`` bits becomes ``2 (n_info + 6)`` mother-code bits (fewer after puncturing, see
:func:`coded_length`). The decoder is max-log maximum-likelihood sequence decoding with a full
traceback from state 0; hard decisions are the special case ``LLR = +-1`` (:func:`decode_hard`).
Free distance 10: every pattern of at most 4 hard errors in an unpunctured block is corrected.

Conventions: bits are uint8 0/1; ``LLR = log P(b=0 | y) / P(b=1 | y)`` (positive means bit 0), as
:meth:`dscref.channel.Modem.demodulate` returns them; the coded stream interleaves the two
generator outputs ``A_0 B_0 A_1 B_1 ...`` (A from 133, B from 171). A batch is a 2-D array, one
codeword per row; every function also takes a single 1-D block.

Puncturing (802.11, rows A and B, columns the time steps of one period; 0 = not sent):
``"2/3"``: ``[[1, 1], [1, 0]]`` -> ``A_0 B_0 A_1``; ``"3/4"``: ``[[1, 1, 0], [1, 0, 1]]`` ->
``A_0 B_0 A_1 B_2``. The pattern repeats over the whole block (tail included) and is cut where
the block ends. The receiver puts LLR 0 ("no information") at the removed positions.

The closed-form union bound of the unpunctured code is
:func:`dscref.channel.theory.ber_conv_union_bound`.

References
----------
.. [1] J. G. Proakis and M. Salehi, *Digital Communications*, 5th ed., McGraw-Hill, 2008, ch. 8
       (convolutional codes, the Viterbi algorithm, soft-decision metrics).
.. [2] IEEE Std 802.11-2020, sec. 17.3.5.6 (convolutional encoder 133/171 and puncturing).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bits, check_choice, check_int

__all__ = [
    "GENERATORS",
    "CONSTRAINT_LENGTH",
    "TAIL_BITS",
    "RATES",
    "PUNCTURE_PATTERNS",
    "LLR_CLIP",
    "MAX_INFO_BITS",
    "coded_length",
    "effective_rate",
    "coded_channel_uses",
    "puncture_mask",
    "encode",
    "decode",
    "decode_hard",
]

GENERATORS = (0o133, 0o171)
CONSTRAINT_LENGTH = 7
TAIL_BITS = CONSTRAINT_LENGTH - 1
RATES = ("1/2", "2/3", "3/4")
PUNCTURE_PATTERNS = {
    "1/2": ((1,), (1,)),
    "2/3": ((1, 1), (1, 0)),
    "3/4": ((1, 1, 0), (1, 0, 1)),
}
# |LLR| above this is clipped (and +-inf, a certain bit, becomes +-LLR_CLIP): path metrics are
# sums of +-LLRs, so they stay finite (no inf - inf) and keep ~1e-3 absolute precision.
LLR_CLIP = 1e10
# longest block: the decoder keeps 64 survivor bits per trellis step (64 MiB at this length)
MAX_INFO_BITS = 1 << 20
# decode this many codewords or more with the threaded kernel (when more than one thread)
_PARALLEL_MIN_ROWS = 4


def _taps(g: int) -> np.ndarray:
    """Delays j (0 = current input) whose coefficient of D^j is 1: generator bit K-1-j."""
    return np.array([j for j in range(CONSTRAINT_LENGTH) if (g >> (CONSTRAINT_LENGTH - 1 - j)) & 1])


_TAPS = tuple(_taps(g) for g in GENERATORS)  # 133: 0 2 3 5 6; 171: 0 1 2 3 6


def _branch_table() -> np.ndarray:
    """``btype[s, b] = 2 c0 + c1`` on the branch into state s from predecessor
    ``((s mod 32) << 1) | b`` (input bit ``s >> 5``; the state's newest bit is its MSB)."""
    S, half = 1 << TAIL_BITS, 1 << (TAIL_BITS - 1)
    s = np.arange(S)[:, None]
    b = np.arange(2)[None, :]
    reg = ((s // half) << TAIL_BITS) | ((s % half) << 1) | b
    par = [np.array([[bin(int(v) & g).count("1") & 1 for v in row] for row in reg]) for g in GENERATORS]
    return np.ascontiguousarray(2 * par[0] + par[1], dtype=np.int64)


_BTYPE = _branch_table()


def _rate(rate) -> str:
    if not isinstance(rate, str):
        raise TypeError(f"rate must be one of {list(RATES)} (a str), got {rate!r}")
    return check_choice(rate, "rate", RATES)


def puncture_mask(n_info: int, rate: str) -> np.ndarray:
    """Which of the ``2 (n_info + 6)`` mother-code bits are sent: bool (2 (n_info + 6),).

    The rate's pattern read column by column (``A_t B_t``), tiled over the block and cut at its end.
    """
    n_info = check_int(n_info, "n_info", low=1, high=MAX_INFO_BITS)
    pat = np.array(PUNCTURE_PATTERNS[_rate(rate)], dtype=bool).T.reshape(-1)  # A_0 B_0 A_1 B_1 ...
    n = 2 * (n_info + TAIL_BITS)
    return np.tile(pat, -(-n // pat.size))[:n]


def coded_length(n_info: int, rate: str = "1/2") -> int:
    """Coded bits sent for ``n_info`` message bits (6 tail bits included).

    ``"1/2"``: ``2 (n + 6)``; punctured: the ones of the tiled pattern over those bits. For the
    47-byte payload (376 bits): 764, 573 and 510 bits at rates 1/2, 2/3 and 3/4.
    """
    return int(np.count_nonzero(puncture_mask(n_info, rate)))


def effective_rate(n_info: int, rate: str = "1/2") -> float:
    """``n_info / coded_length(n_info, rate)``: the nominal rate lowered by the 6 tail bits.

    Use it for Eb/N0 of a block: ``Es/N0 = Eb/N0 + 10 log10(bits_per_symbol * effective_rate)``.
    """
    return check_int(n_info, "n_info", low=1, high=MAX_INFO_BITS) / coded_length(n_info, rate)


def coded_channel_uses(n_info: int, rate: str, modem) -> int:
    """Complex channel uses of ``n_info`` message bits coded at ``rate`` and sent with ``modem``.

    ``ceil(coded_length(n_info, rate) / bits_per_symbol)`` (tail and the zero pad of the last
    symbol included), via :func:`dscref.channel.transmit.channel_uses`. Add the CRC bits to
    ``n_info`` when the message carries one (:mod:`dscref.crc`).

    Examples
    --------
    >>> [coded_channel_uses(376, r, "qpsk") for r in ("1/2", "2/3", "3/4")]
    [382, 287, 255]
    """
    from .channel.transmit import channel_uses

    return channel_uses(nbits=coded_length(n_info, rate), modem=modem)


def _as_bit_rows(bits):
    b = as_bits(bits, "bits", ndim=None)
    if b.ndim > 2:
        raise ValueError(f"bits must be 1-D (n_info,) or 2-D (n_blocks, n_info), got shape {b.shape}")
    if b.shape[-1] == 0:
        raise ValueError(f"bits must hold at least one bit per block, got shape {b.shape}")
    return (b[None, :], True) if b.ndim == 1 else (b, False)


def encode(bits, rate: str = "1/2") -> np.ndarray:
    """Convolutionally encode, zero-terminate and puncture message blocks.

    Parameters
    ----------
    bits : array-like of shape (n_info,) or (n_blocks, n_info), 0/1 (integer or bool dtype)
    rate : {"1/2", "2/3", "3/4"}

    Returns
    -------
    ndarray of uint8, shape (coded_length(n_info, rate),) or (n_blocks, coded_length(...))

    Notes
    -----
    With the message followed by six zeros, ``u_t`` (and ``u_t = 0`` for t < 0),
    ``A_t = u_t + u_{t-2} + u_{t-3} + u_{t-5} + u_{t-6}`` (133: 1 + D^2 + D^3 + D^5 + D^6) and
    ``B_t = u_t + u_{t-1} + u_{t-2} + u_{t-3} + u_{t-6}`` (171: 1 + D + D^2 + D^3 + D^6), mod 2,
    for t = 0 .. n_info + 5; the stream ``A_0 B_0 A_1 B_1 ...`` is then punctured.
    """
    u, single = _as_bit_rows(bits)
    n, k = u.shape
    if k > MAX_INFO_BITS:
        raise ValueError(f"blocks of {k} bits exceed MAX_INFO_BITS={MAX_INFO_BITS}; split the message")
    mask = puncture_mask(k, rate)
    T = k + TAIL_BITS
    padded = np.zeros((n, TAIL_BITS + T), dtype=np.uint8)  # 6 leading zeros: the initial state
    padded[:, TAIL_BITS:TAIL_BITS + k] = u
    mother = np.zeros((n, T, 2), dtype=np.uint8)
    for out, taps in enumerate(_TAPS):
        for j in taps:  # u_{t-j} sits at column TAIL_BITS + t - j
            mother[:, :, out] ^= padded[:, TAIL_BITS - j:TAIL_BITS - j + T]
    coded = np.ascontiguousarray(mother.reshape(n, 2 * T)[:, mask])
    return coded[0] if single else coded


def _as_llr_rows(llr, n_coded: int):
    a = llr if isinstance(llr, np.ndarray) else np.asarray(llr)
    if a.dtype == np.bool_ or a.dtype.kind not in "fiu":
        raise TypeError(f"llr must be real LLRs (float), got dtype {a.dtype}")
    if a.ndim not in (1, 2) or a.shape[-1] != n_coded:
        raise ValueError(f"llr must have shape ({n_coded},) or (n_blocks, {n_coded}) for these n_info "
                         f"and rate, got {a.shape}")
    single = a.ndim == 1
    a = np.ascontiguousarray(a[None, :] if single else a, dtype=np.float64)
    nan = np.isnan(a)
    if nan.any():
        r, c = np.argwhere(nan)[0]
        raise ValueError(f"llr holds NaN at index {(int(c),) if single else (int(r), int(c))}")
    return np.clip(a, -LLR_CLIP, LLR_CLIP), single


def decode(llr, rate: str, n_info: int, *, return_metric: bool = False):
    """Soft-decision Viterbi decoding of coded blocks from bit LLRs.

    Parameters
    ----------
    llr : array-like of shape (coded_length(n_info, rate),) or (n_blocks, coded_length(...)), real
        ``log P(b=0|y) / P(b=1|y)`` of the received coded bits, in the order :func:`encode`
        sends them. NaN is refused; +-inf (a certain bit) and magnitudes above ``LLR_CLIP``
        are clipped to ``+-LLR_CLIP``.
    rate : {"1/2", "2/3", "3/4"}
    n_info : int, 1 <= n_info <= MAX_INFO_BITS (2**20)
        Message bits per block.
    return_metric : bool
        Also return the path metric of the decoded sequence.

    Returns
    -------
    bits : ndarray of uint8, shape (n_info,) or (n_blocks, n_info)
    metric : float or ndarray of float64, shape (n_blocks,)
        Only with ``return_metric``: ``sum over the sent bits of s_i * llr_i`` with
        ``s_i = +1`` for a decoded 0 and -1 for a decoded 1 (after clipping).

    Notes
    -----
    The LLRs are depunctured (0 at removed positions) and the trellis searched for the
    zero-terminated path maximising ``sum_t s(A_t) L(A_t) + s(B_t) L(B_t)``: since
    ``log P(y | c) = const + c-independent terms + s(c) L / 2`` per bit, this is max-log ML
    sequence decoding (exact ML for BPSK / Gray QPSK over AWGN). Ties between the two paths
    entering a state keep the one from the even predecessor. Decoding is done by
    :mod:`dscref._kernels.convcode`, one codeword per thread; results do not depend on the
    number of threads.
    """
    from ._kernels import convcode as kern
    from ._threads import num_threads

    if not isinstance(return_metric, (bool, np.bool_)):
        raise TypeError(f"return_metric must be a bool, got {return_metric!r}")
    n_info = check_int(n_info, "n_info", low=1, high=MAX_INFO_BITS)
    mask = puncture_mask(n_info, rate)
    L, single = _as_llr_rows(llr, int(np.count_nonzero(mask)))
    n = L.shape[0]
    full = np.zeros((n, mask.size))
    full[:, mask] = L
    bits = np.empty((n, n_info), dtype=np.uint8)
    metric = np.empty(n)
    if n >= _PARALLEL_MIN_ROWS and num_threads() > 1:
        kern.viterbi_batch_parallel(full, _BTYPE, n_info, bits, metric)
    elif n:
        kern.viterbi_batch(full, _BTYPE, n_info, bits, metric)
    if single:
        bits, metric = bits[0], float(metric[0])
    return (bits, metric) if return_metric else bits


def decode_hard(bits, rate: str, n_info: int) -> np.ndarray:
    """Hard-decision Viterbi decoding: :func:`decode` with ``LLR = +1`` for a received 0 and -1 for
    a 1, i.e. the code sequence at minimum Hamming distance from ``bits``.

    Parameters
    ----------
    bits : array-like of shape (coded_length(n_info, rate),) or (n_blocks, coded_length(...)), 0/1
    rate : {"1/2", "2/3", "3/4"}
    n_info : int >= 1

    Returns
    -------
    ndarray of uint8, shape (n_info,) or (n_blocks, n_info)
    """
    b = as_bits(bits, "bits", ndim=None)
    n_coded = coded_length(n_info, rate)
    if b.ndim > 2 or b.shape[-1] != n_coded:
        raise ValueError(f"bits must have shape ({n_coded},) or (n_blocks, {n_coded}) for these n_info "
                         f"and rate, got {b.shape}")
    return decode(1.0 - 2.0 * b, rate, n_info)
