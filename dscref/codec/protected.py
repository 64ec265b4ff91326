"""The protected payload: the plain payload's bits with a channel-coded head.

:class:`ProtectedLayout` wraps a :class:`~dscref.codec.plain.PayloadLayout` and a head protection
scheme of :mod:`dscref.fec` (``"none"``, ``"rep3"``, ``"hamming84"``).
:func:`encode_protected_payload` gives the payload bits; :func:`decode_protected_payload` turns
received bits or LLRs back into a searchable :class:`~dscref.query.Query`, decoding the head by
hard or soft decisions and attaching the code LLRs for soft-decision ADC (:mod:`dscref.soft`).
With ``scheme="none"`` and hard decisions it is exactly the plain codec on bits. The old names
``RobustLayout``, ``encode_robust_payload`` and ``decode_robust_payload`` are aliases.

Conventions: ``LLR = log P(b=0 | y) / P(b=1 | y)`` (positive means bit 0), as in
:mod:`dscref.channel`; bits MSB first (:mod:`dscref.bitpack`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import bitpack
from .._validate import as_bits, as_llr, check_choice
from ..fec import HEAD_SCHEMES, decode_head_hard, decode_head_soft, encode_head_bits, protected_head_bits, \
    soft_decode_head
from ..query import Query
from .plain import DecodeReport, PayloadLayout, decode_payload, encode_payload

__all__ = ["ProtectedLayout", "check_protected_layout", "encode_protected_payload", "decode_protected_payload"]


class ProtectedLayout(NamedTuple):
    """Bit layout of a payload with an optionally protected head (old name: ``RobustLayout``).

    ``[head region | e_1 .. e_h]``: the head's ``head_size * label_bits`` info bits channel-coded
    with ``scheme`` (:mod:`dscref.fec`) and zero-padded to whole bytes, then the codes exactly as
    in :class:`PayloadLayout`. With ``scheme="none"`` the bits are exactly those of
    ``bytes_to_bits(encode_payload(query, layout))``.
    """

    layout: PayloadLayout
    scheme: str = "none"

    @property
    def head_info_bits(self) -> int:
        return self.layout.head_size * self.layout.label_bits

    @property
    def head_coded_bits(self) -> int:
        return protected_head_bits(self.head_info_bits, self.scheme)

    @property
    def head_region_bits(self) -> int:
        return 8 * ((self.head_coded_bits + 7) // 8)

    @property
    def code_bits(self) -> int:
        return 8 * self.layout.code_bytes

    @property
    def n_bits(self) -> int:
        """Total payload bits (376 for the default layout and no protection; 424 with hamming84)."""
        return self.head_region_bits + self.layout.n_codes * self.code_bits


def check_protected_layout(rl) -> ProtectedLayout:
    """``rl`` if it is a :class:`ProtectedLayout` of a :class:`PayloadLayout` and a known head
    scheme; ``TypeError`` / ``ValueError`` naming the field otherwise (the tuple itself checks
    nothing)."""
    if not isinstance(rl, ProtectedLayout):
        raise TypeError(f"expected a ProtectedLayout, got {type(rl).__name__}")
    if not isinstance(rl.layout, PayloadLayout):
        raise TypeError(f"ProtectedLayout.layout must be a PayloadLayout, got {type(rl.layout).__name__}")
    if not isinstance(rl.scheme, str):
        raise TypeError(f"ProtectedLayout.scheme must be a str, got {rl.scheme!r}")
    check_choice(rl.scheme, "scheme", HEAD_SCHEMES)
    return rl


def encode_protected_payload(query: Query, rlayout: ProtectedLayout, label_order=None) -> np.ndarray:
    """Query -> payload bits (rlayout.n_bits,) uint8: head (mapped by ``label_order``, channel
    coded), then the codes packed as by :func:`encode_payload` (old name: ``encode_robust_payload``).

    ``label_order`` is a :class:`dscref.index.robust.LabelOrder` (any object with
    ``encode_query``) or None.
    """
    rl = check_protected_layout(rlayout)
    if label_order is not None:
        query = label_order.encode_query(query)
    bits = bitpack.bytes_to_bits(encode_payload(query, rl.layout))
    hb = 8 * rl.layout.head_bytes
    head = encode_head_bits(bits[:rl.head_info_bits], rl.scheme)
    region = np.zeros(rl.head_region_bits, dtype=np.uint8)
    region[:head.size] = head
    return np.concatenate([region, bits[hb:]]).astype(np.uint8)


def decode_protected_payload(received, rlayout: ProtectedLayout, *, head: str = "hard", codes: str = "hard",
                             policy: str = "drop", label_order=None):
    """Received payload bits or LLRs -> searchable :class:`Query` and a report (old name:
    ``decode_robust_payload``).

    Parameters
    ----------
    received : ndarray (rlayout.n_bits,)
        LLRs (float; NaN is refused whatever the mode, +-inf is a certain bit) -- or hard bits
        (uint8 0/1) when ``head == codes == "hard"``.
    rlayout : ProtectedLayout
    head : {"hard", "soft"}
        "hard": channel decoding by hard decisions (majority / syndrome), then the codec's
        ``policy`` for invalid or repeated labels. "soft": soft-in channel decoding
        (:func:`dscref.fec.decode_head_soft`) then :func:`dscref.fec.soft_decode_head` (always
        valid, distinct labels, no slot dropped).
    codes : {"hard", "soft"}
        "soft" attaches the code LLRs (``Query.code_llr``) so the index uses soft-decision ADC.
    policy : {"drop", "nearest_valid"}
        For ``head="hard"``, see :func:`decode_payload`.
    label_order : LabelOrder, optional
        Undo a robust label order after decoding (:func:`dscref.index.robust.robust_label_order`;
        any object with ``decode_query``).

    Returns
    -------
    (Query, DecodeReport)
    """
    rl = check_protected_layout(rlayout)
    check_choice(head, "head", {"hard", "soft"})
    check_choice(codes, "codes", {"hard", "soft"})
    x = np.asarray(received)
    if x.shape != (rl.n_bits,):
        raise ValueError(f"received must have shape ({rl.n_bits},), got {x.shape}")
    soft_in = x.dtype.kind == "f"
    if not soft_in and (head == "soft" or codes == "soft"):
        raise ValueError("soft head or code decoding needs LLRs (a float array), got hard bits")
    if soft_in:  # NaN is refused in every mode (the hard path would read it as bit 0)
        x = as_llr(x, "received")
    lay = rl.layout
    hard = (x < 0).astype(np.uint8) if soft_in else as_bits(x, "received")
    code_part = slice(rl.head_region_bits, rl.n_bits)
    hc = rl.head_coded_bits
    if head == "hard" or lay.head_size == 0:
        info, n_det = decode_head_hard(hard[:hc], rl.head_info_bits, rl.scheme)
        head_bits = np.zeros(8 * lay.head_bytes, dtype=np.uint8)
        head_bits[:info.size] = info
        buf = bitpack.bits_to_bytes(np.concatenate([head_bits, hard[code_part]]))
        q, report = decode_payload(buf, lay, policy=policy)
        report.detected_head_errors = n_det
        kept = [s for s in range(lay.n_codes) if s not in set(report.dropped)]
    else:
        info_llr = decode_head_soft(x[:hc].astype(np.float64), rl.head_info_bits, rl.scheme)
        labels, _ = soft_decode_head(info_llr, lay.head_size, lay.label_bits, lay.valid_labels)
        code_bits = hard[code_part].reshape(lay.n_codes, -1)
        cvals = bitpack.unpack(bitpack.bits_to_bytes(code_bits.reshape(-1)).reshape(lay.n_codes, -1),
                               lay.nbits, lay.M)
        q = Query(labels=labels[:, 0], codes=cvals.astype(np.uint8 if lay.nbits <= 8 else np.uint16))
        report = DecodeReport(received_labels=labels[:, 0].tolist())
        kept = list(range(lay.n_codes))
    if codes == "soft":
        L = x[code_part].astype(np.float64).reshape(lay.n_codes, -1)[:, :lay.M * lay.nbits]
        q.code_llr = np.ascontiguousarray(L[kept]).reshape(len(kept), lay.M * lay.nbits)
    if label_order is not None and lay.head_size:
        q = label_order.decode_query(q)
    return q, report


# the names of dscref.robust, before the protected layout joined the codec (same objects)
RobustLayout = ProtectedLayout
encode_robust_payload = encode_protected_payload
decode_robust_payload = decode_protected_payload
