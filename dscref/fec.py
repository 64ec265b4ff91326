"""Head protection codes: repetition and extended Hamming (8,4), hard and soft decoding.

The head ``h`` of the payload (eq. 12: 5 labels x 10 bits) decides which partitions are
searched, so one flipped head bit sends the search to an unrelated partition while a flipped
code bit only perturbs one sub-codeword. These codes give the 50 head bits unequal error
protection: ``"rep3"`` (every bit three times) or ``"hamming84"`` (extended Hamming (8,4),
SECDED), decoded by hard decisions (:func:`decode_head_hard`) or soft-in soft-out
(:func:`decode_head_soft`); :func:`soft_decode_head` turns head-bit LLRs into the most likely
valid, distinct labels. The protected payload layout is :class:`dscref.codec.ProtectedLayout`.

Conventions: ``LLR = log P(b=0 | y) / P(b=1 | y)`` (positive means bit 0), as in
:mod:`dscref.channel`; labels are packed MSB first (:mod:`dscref.bitpack`).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bits, as_llr, check_choice, check_int, renamed_keyword

__all__ = [
    "HEAD_SCHEMES",
    "protected_head_bits",
    "encode_head_bits",
    "decode_head_hard",
    "decode_head_soft",
    "soft_decode_head",
]

HEAD_SCHEMES = {"none", "rep3", "hamming84"}

# Extended Hamming (8,4), positions 0..7 = [p0, p1, p2, d1, p3, d2, d3, d4]: p1/p2/p3 cover the
# positions whose index has bit 0/1/2 set (classical Hamming(7,4)), p0 is the overall parity.
_H84_DATA_POS = np.array([3, 5, 6, 7])


def _h84_encode_block(d) -> np.ndarray:
    c = np.zeros(8, dtype=np.uint8)
    c[_H84_DATA_POS] = d
    for r in range(3):
        pos = [i for i in range(1, 8) if (i >> r) & 1 and i != (1 << r)]
        c[1 << r] = np.bitwise_xor.reduce(c[pos])
    c[0] = np.bitwise_xor.reduce(c[1:])
    return c


_H84_CODEBOOK = np.array([_h84_encode_block([(v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1])
                          for v in range(16)], dtype=np.uint8)  # (16, 8), row v = data bits of v MSB first


def protected_head_bits(n_bits: int, scheme: str) -> int:
    """Encoded length in bits of ``n_bits`` head bits under ``scheme``.

    ``"none"``: n; ``"rep3"``: 3n; ``"hamming84"``: 8 * ceil(n / 4) (zero-padded to whole
    4-bit blocks). For the default head (50 bits): 50, 150, 104 bits -- with QPSK (2 bits per
    channel use) 25, 75 and 52 channel uses.
    """
    n_bits = check_int(n_bits, "n_bits", low=0)
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    if scheme == "none":
        return n_bits
    if scheme == "rep3":
        return 3 * n_bits
    return 8 * ((n_bits + 3) // 4)


def encode_head_bits(bits, scheme: str) -> np.ndarray:
    """Channel-code the head bits: (n,) 0/1 -> (protected_head_bits(n, scheme),) uint8.

    ``"rep3"`` sends the whole block three times ``[b, b, b]`` (the copies are far apart, which
    also helps against block fading); ``"hamming84"`` encodes blocks of 4 bits (the last one
    zero-padded) with the extended Hamming (8,4) code, which corrects one error and detects two
    per block.
    """
    b = as_bits(bits, "bits")
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    if scheme == "none":
        return b.copy()
    if scheme == "rep3":
        return np.tile(b, 3)
    nb = (b.size + 3) // 4
    d = np.zeros(4 * nb, dtype=np.int64)
    d[:b.size] = b
    v = (d.reshape(nb, 4) << np.array([3, 2, 1, 0])).sum(1)
    return _H84_CODEBOOK[v].reshape(-1).copy()


def _check_received(x, n_bits: int, scheme: str, name: str) -> np.ndarray:
    n_bits = check_int(n_bits, "n_bits", low=0)
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    need = protected_head_bits(n_bits, scheme)
    if np.asarray(x).shape != (need,):
        raise ValueError(f"{name} must have shape ({need},) for {n_bits} bits with scheme={scheme!r}, "
                         f"got {np.asarray(x).shape}")
    return x


def decode_head_hard(bits, n_bits: int, scheme: str):
    """Hard-decision decoding of a protected head.

    Parameters
    ----------
    bits : ndarray (protected_head_bits(n_bits, scheme),) 0/1
    n_bits : int
    scheme : {"none", "rep3", "hamming84"}

    Returns
    -------
    bits : ndarray (n_bits,) uint8
    n_detected : int
        Blocks with a detected but uncorrectable error (Hamming: syndrome != 0 with even overall
        parity, i.e. a double error; left as received). Always 0 for "none" and "rep3".

    Notes
    -----
    rep3: majority of the three copies. Extended Hamming (8,4): syndrome
    ``s = XOR of the positions (1..7) holding a 1`` and overall parity P; P = 1 means one error at
    position s (s = 0: the parity bit itself), P = 0 and s != 0 a detected double error.
    """
    b = as_bits(_check_received(bits, n_bits, scheme, "bits"), "bits")
    if scheme == "none":
        return b.copy(), 0
    if scheme == "rep3":
        return (b.reshape(3, n_bits).sum(0) >= 2).astype(np.uint8), 0
    blocks = b.reshape(-1, 8).copy()
    pos = np.arange(8)
    s = np.bitwise_xor.reduce(np.where(blocks == 1, pos, 0), axis=1)
    parity = blocks.sum(1) & 1
    single = parity == 1
    rows = np.flatnonzero(single)
    blocks[rows, s[rows]] ^= 1
    n_detected = int(np.count_nonzero((parity == 0) & (s != 0)))
    data = blocks[:, _H84_DATA_POS].reshape(-1)[:n_bits]
    return data.astype(np.uint8), n_detected


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def decode_head_soft(llr, n_bits: int, scheme: str) -> np.ndarray:
    """Soft-in soft-out decoding of a protected head: channel LLRs -> LLRs of the n_bits info bits.

    rep3: the LLRs of the three copies add (exact for independent noise; copies that are
    certain (+-inf) and contradict each other are added clipped to +-500, i.e. the majority
    wins with a finite confidence, instead of inf - inf = NaN). Extended Hamming
    (8,4): exact a-posteriori LLR of every data bit by enumerating the 16 codewords,
    ``L(d) = logsumexp_{c: d=0} ll(c) - logsumexp_{c: d=1} ll(c)`` with
    ``ll(c) = sum_i log P(c_i | L_i)``; channel LLRs are clipped to +-500 so that contradictory
    certain bits cannot produce NaN. "none" returns the LLRs unchanged.

    Returns
    -------
    ndarray (n_bits,) float64
    """
    L = as_llr(_check_received(llr, n_bits, scheme, "llr"), "llr")
    if scheme == "none":
        return L.copy()
    if scheme == "rep3":
        with np.errstate(invalid="ignore"):
            out = L.reshape(3, n_bits).sum(0)
        clash = np.isnan(out)  # +inf and -inf copies: certain and contradictory
        if clash.any():
            out[clash] = np.clip(L, -500.0, 500.0).reshape(3, n_bits).sum(0)[clash]
        return out
    L = np.clip(L, -500.0, 500.0).reshape(-1, 8)
    l0, l1 = _log_sigmoid(L), _log_sigmoid(-L)  # (nb, 8)
    cw = _H84_CODEBOOK.astype(bool)  # (16, 8)
    ll = np.where(cw[None], l1[:, None, :], l0[:, None, :]).sum(-1)  # (nb, 16)
    data = cw[:, _H84_DATA_POS]  # (16, 4)
    out = np.empty((L.shape[0], 4))
    for t in range(4):
        a = np.where(~data[None, :, t], ll, -np.inf)
        c = np.where(data[None, :, t], ll, -np.inf)
        out[:, t] = np.logaddexp.reduce(a, axis=1) - np.logaddexp.reduce(c, axis=1)
    return out.reshape(-1)[:n_bits]


@renamed_keyword("n_labels", "head_size")
def soft_decode_head(head_llr, head_size: int, label_bits: int, K: int, per_slot: int = 1):
    """Maximum-likelihood head labels from bit LLRs, restricted to the K valid labels.

    Parameters
    ----------
    head_llr : ndarray (head_size * label_bits,) float
        LLRs of the head bits (slot s at ``s*label_bits ..``, MSB first); pad bits excluded.
    head_size : int
        Head slots (5). ``n_labels=`` is a deprecated alias.
    label_bits : int
        Bits per label (10).
    K : int
        Valid labels ``0..K-1`` (K <= 2**label_bits, ``head_size * per_slot <= K``).
    per_slot : int, default 1
        Candidates returned per slot.

    Returns
    -------
    labels : ndarray (head_size, per_slot) int64
        Valid labels, all distinct; row s lists slot s's candidates, best first.
    scores : ndarray (head_size, per_slot) float64
        ``log P(label | LLRs)`` among the K valid labels (<= 0).

    Notes
    -----
    Slot s scores every valid label l by ``ll(l) = sum_b log P(bit_b(l) | LLR_b)`` with
    ``P(0 | L) = sigmoid(L)``, normalised over the K labels. A label can only be used once
    (the transmitted head never repeats one). **Collision rule**: slots are served in order of
    decreasing confidence (the normalised log-posterior of their best label; ties by slot
    index); each takes its ``per_slot`` best labels not already taken. A corrupted slot thus
    loses a contested label to the slot that is surer of it and falls back to its next best.
    """
    head_size = check_int(head_size, "head_size", low=1)
    label_bits = check_int(label_bits, "label_bits", low=1, high=16)
    K = check_int(K, "K", low=1, high=1 << label_bits)
    per_slot = check_int(per_slot, "per_slot", low=1)
    if head_size * per_slot > K:
        raise ValueError(f"head_size * per_slot = {head_size * per_slot} distinct labels exceed K={K}")
    L = as_llr(head_llr, "head_llr", head_size * label_bits).reshape(head_size, label_bits)
    lab = np.arange(K)
    bits = ((lab[:, None] >> (label_bits - 1 - np.arange(label_bits))[None, :]) & 1).astype(bool)
    l0, l1 = _log_sigmoid(L), _log_sigmoid(-L)  # (head_size, label_bits)
    ll = np.where(bits[None], l1[:, None, :], l0[:, None, :]).sum(-1)  # (head_size, K)
    with np.errstate(invalid="ignore"):
        ll = ll - np.logaddexp.reduce(ll, axis=1, keepdims=True)
    ll = np.where(np.isnan(ll), -np.inf, ll)  # every valid label impossible: all tie at -inf
    conf = ll.max(1)
    labels = np.empty((head_size, per_slot), dtype=np.int64)
    scores = np.empty((head_size, per_slot), dtype=np.float64)
    taken = np.zeros(K, dtype=bool)
    for s in np.lexsort((np.arange(head_size), -conf)):
        order = np.lexsort((lab, -ll[s]))  # best first, ties: smaller label
        pick = order[~taken[order]][:per_slot]
        taken[pick] = True
        labels[s], scores[s] = pick, ll[s, pick]
    return labels, scores
