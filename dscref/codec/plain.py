"""The plain payload ``x = [h, e_1, ..., e_5]`` of eq. (12): a query to bytes and back.

Layout (defaults: K = 1000 labels, 5 head entries, M = 8, nbits = 8)::

    h   : 5 labels x ceil(log2 K) = 10 bits, MSB first, zero-padded to 7 bytes
    e_j : M sub-codes x nbits bits each, 8 bytes per head entry
    total 7 + 5 * 8 = 47 bytes

Every size derives from the index (:meth:`PayloadLayout.for_index`), never from constants.
The head size (5) is ``PayloadLayout.head_size`` (``n_labels`` is its deprecated alias).
The decoder never trusts its input: a payload of the wrong length raises :class:`PayloadError`;
head labels made invalid by bit errors (>= K, or repeated) are handled by an explicit policy
and reported, so a decoded query can always be searched without indexing out of range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import bitpack
from .._validate import check_choice, check_int, renamed_attribute, renamed_keyword
from ..errors import PayloadError
from ..query import Query, check_codes, check_query

__all__ = ["PayloadLayout", "DecodeReport", "encode_payload", "decode_payload", "decode_head", "POLICIES"]

POLICIES = {"drop", "nearest_valid"}


@dataclass(frozen=True, init=False)
class PayloadLayout:
    """Sizes of one payload.

    Parameters
    ----------
    head_size : int
        Head entries (5 in the paper; 0 for plain PQ without a head). ``n_labels=`` is a
        deprecated alias (keyword and attribute; ``DeprecationWarning``).
    label_bits : int
        Bits per head entry, ``ceil(log2 n_lists)`` (10 for K = 1000).
    M, nbits : int
        PQ code shape: M sub-codes of nbits bits (8 x 8 in the paper).
    n_lists : int, optional
        Number of valid head labels K (default ``2**label_bits``); received labels >= K are
        invalid.
    """

    head_size: int = 5
    label_bits: int = 10
    M: int = 8
    nbits: int = 8
    n_lists: int | None = None

    @renamed_keyword("n_labels", "head_size")
    def __init__(self, head_size: int = 5, label_bits: int = 10, M: int = 8, nbits: int = 8,
                 n_lists: int | None = None):
        for name, value in (("head_size", head_size), ("label_bits", label_bits), ("M", M),
                            ("nbits", nbits), ("n_lists", n_lists)):
            object.__setattr__(self, name, value)  # frozen
        check_int(self.head_size, "head_size", low=0)
        check_int(self.label_bits, "label_bits", low=0 if self.head_size == 0 else 1, high=16)
        check_int(self.M, "M", low=1)
        check_int(self.nbits, "nbits", low=1, high=16)
        if self.n_lists is not None:
            check_int(self.n_lists, "n_lists", low=1)
            if self.head_size and self.n_lists > (1 << self.label_bits):
                raise ValueError(f"n_lists={self.n_lists} does not fit in label_bits={self.label_bits}")

    n_labels = renamed_attribute("n_labels", "head_size")

    @classmethod
    @renamed_keyword("n_labels", "head_size")
    def for_index(cls, index, head_size: int = 5) -> "PayloadLayout":
        """The layout of queries for ``index`` with ``head_size`` head entries (0 if it has no head)."""
        try:  # any object with the index's sizes will do (M, nbits, n_lists, label_bits)
            bits, M, nbits = getattr(index, "label_bits", 0), index.M, index.nbits
            bits = check_int(bits, "label_bits", low=0, high=16)
            n_lists = index.n_lists if bits and head_size else None
        except AttributeError:
            raise TypeError(f"expected a built dscref index (with M, nbits, n_lists), got "
                            f"{type(index).__name__}") from None
        if bits == 0:
            head_size = 0
        return cls(head_size=head_size, label_bits=bits, M=M, nbits=nbits, n_lists=n_lists)

    @property
    def valid_labels(self) -> int:
        return self.n_lists if self.n_lists is not None else (1 << self.label_bits)

    @property
    def n_codes(self) -> int:
        """PQ codes carried: one per head entry, or one when there is no head."""
        return self.head_size if self.head_size else 1

    @property
    def head_bytes(self) -> int:
        return bitpack.packed_nbytes(self.head_size, max(self.label_bits, 1)) if self.head_size else 0

    @property
    def code_bytes(self) -> int:
        return bitpack.packed_nbytes(self.M, self.nbits)

    @property
    def nbytes(self) -> int:
        """Payload size in bytes: head + n_codes * code bytes (47 for the defaults)."""
        return self.head_bytes + self.n_codes * self.code_bytes

    @property
    def nbits_total(self) -> int:
        return 8 * self.nbytes


@dataclass
class DecodeReport:
    """What the decoder found and did.

    Attributes
    ----------
    received_labels : list of int -- head labels as received
    invalid : list of (slot, label) -- labels >= K
    duplicates : list of (slot, label) -- repeats of an earlier slot's label
    dropped : list of int -- slots removed (policy "drop")
    replaced : list of (slot, received, used) -- substitutions (policy "nearest_valid")
    """

    received_labels: list = field(default_factory=list)
    invalid: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    replaced: list = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.invalid or self.duplicates)


def _check_layout(layout) -> None:
    if not isinstance(layout, PayloadLayout):
        raise TypeError(f"expected a PayloadLayout, got {type(layout).__name__}")


def _as_payload_bytes(buf) -> np.ndarray:
    if isinstance(buf, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(buf), dtype=np.uint8)
    arr = np.asarray(buf)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise PayloadError(f"payload must be bytes or a 1-D uint8 array, got {arr.dtype} of shape {arr.shape}")
    return arr


def encode_payload(query: Query, layout: PayloadLayout) -> bytes:
    """Serialise ``query`` (head labels + one code per label) into ``layout.nbytes`` bytes.

    Raises
    ------
    ValueError
        If the query's head size, code shape or value ranges do not fit ``layout``, or its
        head repeats a label (:func:`dscref.query.check_query`, as for a search).
    TypeError
        If labels or codes are not integers.
    """
    if not isinstance(query, Query):
        raise TypeError(f"expected a dscref Query, got {type(query).__name__}")
    _check_layout(layout)
    if query.codes is None:
        raise ValueError("a raw-feature query (codes=None) has no digital payload")
    parts = []
    if layout.head_size:
        if query.labels.size != layout.head_size:
            raise ValueError(f"query has {query.labels.size} head labels, layout expects {layout.head_size}")
        # the searchers' own check: distinct labels < K, integer codes below 2**nbits
        q = check_query(query, layout.valid_labels, layout.M, layout.nbits)
        parts.append(bitpack.pack(q.labels, layout.label_bits))
        codes = q.codes
    else:
        codes = check_codes(query.codes, layout.n_codes, layout.M, layout.nbits)
    parts.append(bitpack.pack(codes.astype(np.int64), layout.nbits).reshape(-1))
    return np.concatenate(parts).astype(np.uint8).tobytes()


def _nearest_valid(label: int, valid: int, used: set, bits: int) -> int | None:
    """The unused valid label nearest to ``label`` in Hamming distance (ties: smaller label)."""
    cand = np.arange(valid, dtype=np.int64)
    x = cand ^ label
    ham = np.zeros(valid, dtype=np.int64)
    for b in range(bits):
        ham += (x >> b) & 1
    if used:
        ham[np.fromiter(used, dtype=np.int64)] = bits + 1  # used labels are never chosen
    best = int(np.argmin(ham))
    return None if ham[best] > bits else best


def decode_payload(buf, layout: PayloadLayout, policy: str = "drop"):
    """Parse a received payload into a searchable :class:`Query` and a :class:`DecodeReport`.

    Parameters
    ----------
    buf : bytes or ndarray (nbytes,) uint8
    layout : PayloadLayout
    policy : {"drop", "nearest_valid"}
        What to do with a head label that is >= K or repeats an earlier one: ``"drop"`` removes
        that head entry and its code (default); ``"nearest_valid"`` substitutes the
        unused valid label nearest in Hamming distance (ties: the smaller label).

    Returns
    -------
    (Query, DecodeReport) -- the query's labels are distinct and < K; possibly empty.

    Raises
    ------
    PayloadError
        If ``buf`` is not ``layout.nbytes`` bytes (or not bytes at all).
    """
    check_choice(policy, "policy", POLICIES)
    _check_layout(layout)
    b = _as_payload_bytes(buf)
    if b.size != layout.nbytes:
        raise PayloadError(f"payload has {b.size} bytes, layout expects {layout.nbytes}")
    hb, cb = layout.head_bytes, layout.code_bytes
    codes = bitpack.unpack(b[hb:].reshape(layout.n_codes, cb), layout.nbits, layout.M)
    code_dtype = np.uint8 if layout.nbits <= 8 else np.uint16
    if not layout.head_size:
        return Query(labels=np.zeros(1, np.int64), codes=codes.astype(code_dtype)), DecodeReport()
    keep_labels, keep_rows, report = _check_head(bitpack.unpack(b[:hb], layout.label_bits, layout.head_size),
                                                 layout, policy)
    q = Query(labels=np.array(keep_labels, dtype=np.int64),
              codes=codes[keep_rows].astype(code_dtype).reshape(len(keep_rows), layout.M))
    return q, report


def decode_head(buf, layout: PayloadLayout, policy: str = "drop"):
    """Decode only the head (the first ``layout.head_bytes`` bytes) into valid, distinct labels.

    For links that send the head digitally beside an analog feature (Fig. 3's "analog + DSC head").
    Returns ``(labels int64 array, DecodeReport)``; same policies as :func:`decode_payload`.
    """
    check_choice(policy, "policy", POLICIES)
    _check_layout(layout)
    b = _as_payload_bytes(buf)
    if b.size != layout.head_bytes:
        raise PayloadError(f"head has {b.size} bytes, layout expects {layout.head_bytes}")
    if not layout.head_size:
        return np.zeros(0, np.int64), DecodeReport()
    labels, _, report = _check_head(bitpack.unpack(b, layout.label_bits, layout.head_size), layout, policy)
    return np.array(labels, dtype=np.int64), report


def _check_head(labels: np.ndarray, layout: PayloadLayout, policy: str):
    """Apply the invalid / duplicate label policy; returns (labels kept, their slots, report)."""
    report = DecodeReport(received_labels=labels.tolist())
    keep_labels, keep_rows, used = [], [], set()
    for slot, lab in enumerate(labels.tolist()):
        bad = False
        if lab >= layout.valid_labels:
            report.invalid.append((slot, lab))
            bad = True
        elif lab in used:
            report.duplicates.append((slot, lab))
            bad = True
        if bad:
            sub = None if policy == "drop" else _nearest_valid(lab, layout.valid_labels, used, layout.label_bits)
            if sub is None:
                report.dropped.append(slot)
                continue
            report.replaced.append((slot, lab, sub))
            lab = sub
        used.add(lab)
        keep_labels.append(lab)
        keep_rows.append(slot)
    return keep_labels, keep_rows, report
