"""The channel-coded payload: the payload of eq. (12) with a CRC on its head, the K = 7
convolutional code of :mod:`dscref.convcode`, an interleaver, and soft-decision Viterbi
decoding from the modem's LLRs at the server.

Device: ``message = [head | CRC(head) | codes]`` -> convolutional code (rate 1/2, 2/3 or 3/4,
zero-terminated: 6 tail bits) -> interleaver -> modem. Server: LLRs -> de-interleaver ->
Viterbi (:func:`dscref.convcode.decode`) -> CRC check of the head -> :func:`decode_payload`.
For the default payload (K = 1000 labels, head of 5, M = 8, nbits = 8)::

    head    5 labels x 10 bits                 50 bits   (the plain payload's 6 pad bits are not sent)
    CRC-16  of those 50 bits                   16 bits
    codes   5 entries x 8 sub-codes x 8 bits  320 bits
    message 386 bits (370 information bits) -> 784 / 588 / 523 coded bits at rate 1/2 / 2/3 / 3/4

**CRC scope** (``crc_scope``): ``"head"`` (default) checks the head's label bits only,
``message = [head | CRC(head) | codes]``: a head that passes is searched even if sub-codes were
decoded wrong (a graceful, but not an intact, delivery). ``"message"`` checks everything sent,
``message = [head | codes | CRC(head | codes)]`` (a frame check sequence, as in IEEE 802.11):
a query is answered only if its whole payload decoded right (up to the CRC's miss rate), the
deliver-intact scheme the ideal bound of :mod:`dscref.channel.capacity` bounds. With
``"message"`` a layout without a head carries a CRC too.

**CRC policy** (``crc_policy``): the head decides which partitions are searched, so a head
the CRC rejects must not send the search to unrelated partitions. ``"drop"`` (default): the
query gets *no answer* -- its decoded head is empty (every slot in ``report.dropped``), the
search returns an empty row, and ``report.crc_ok`` is False (:attr:`dscref.link.LinkResult.head_failures`
counts them). ``"search"``: the head is used anyway (invalid or repeated labels then follow the
codec's ``policy``) and the failure is only reported. A head that passes the CRC is wrong with
probability about 2^-16 (CRC-16); the codec's ``policy`` still keeps its labels valid.

**Variants**: ``head_size`` sends only the first h head entries (the h highest-ranked labels and
their codes); ``subcodes`` only the first M' sub-codes of each PQ code. The server fills a
sub-code that was not sent with "no information" (LLR 0, attached as ``Query.code_llr`` so the
index scores by expected distance, :mod:`dscref.soft`; the sent sub-codes are certain bits, so
with ``subcodes = M`` the search is the hard one). ``rate=None`` sends the message uncoded
(CRC and variants still apply). :mod:`dscref.codec.budget` picks a variant that fits B uses.

**Interleaver**: a fixed pseudo-random permutation of the coded bits (the same at both ends,
drawn from a constant seed and the block length; the bit-level chain, code and interleaver, is
:mod:`dscref.codec.channel_code`), on by default for coded layouts. On Rayleigh
block fading it spreads each Viterbi error event over many fades (measured on a small index:
5 vs 109 wrong queries of 200, rate 1/2, QPSK, Eb/N0 8 dB, 16 uses per fade); on AWGN it
changes nothing. The LLRs of :func:`~dscref.channel.transmit_bits` already account for fading
(noise variance ``N0 / |h|^2`` per symbol), so the Viterbi metric trusts faded bits less.

**Energy**: SNR per channel use (Es/N0, Es = 1) and Eb/N0 per *information* bit are related by
``Es/N0 = Eb/N0 + 10 log10(info_bits / channel_uses)`` (:meth:`CodedLayout.esn0_db`): CRC, tail
and pad cost uses, hence energy. The table per rate and modem is in :mod:`dscref.codec.budget`.

Example: encode -> channel -> decode -> search, with a small synthetic index (QPSK at Es/N0 =
1 dB, Eb/N0 = 2 dB per information bit: raw bit errors, all corrected).

>>> import numpy as np
>>> from dscref.channel import AWGN, Modem, transmit_bits
>>> from dscref.codec import CodedLayout, PayloadLayout, decode_coded_payload, encode_coded_payload
>>> from dscref.index import SemanticIndex
>>> rng = np.random.default_rng(0)
>>> xb = rng.standard_normal((3000, 16)).astype(np.float32)
>>> labels_b = rng.integers(0, 20, 3000)
>>> index = SemanticIndex(20, M=4, nbits=6, seed=0, progress=False).build(xb, labels_b)
>>> query = index.encode_query(xb[7], top_labels=[labels_b[7], 3, 5])
>>> cl = CodedLayout(PayloadLayout.for_index(index, head_size=3), rate="1/2")
>>> cl.message_bits, cl.coded_bits, cl.channel_uses("qpsk")   # 3 x 5 + 16 + 3 x 24 bits
(103, 218, 109)
>>> res = transmit_bits(encode_coded_payload(query, cl), Modem("qpsk"), AWGN(1.0), rng, soft=True)
>>> received, report = decode_coded_payload(res.llr, cl)
>>> res.bit_errors > 0, report.crc_ok, received.labels.tolist() == query.labels.tolist()
(True, True, True)
>>> int(index.search(received, k=5).I[0, 0])
7
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import bitpack, convcode
from .._validate import check_choice, check_int
from ..crc import CRC_KINDS, crc_append, crc_check, crc_width
from ..query import Query
from .channel_code import decode_message, encode_message
from .plain import POLICIES, DecodeReport, PayloadLayout, decode_payload, encode_payload

__all__ = ["CodedLayout", "CodedReport", "CRC_POLICIES", "CRC_SCOPES", "check_coded_layout", "message_bits",
           "encode_coded_payload", "decode_coded_payload", "decode_coded_payloads"]

CRC_POLICIES = ("drop", "search")
CRC_SCOPES = ("head", "message")


@dataclass(frozen=True, init=False)
class CodedLayout:
    """A payload layout, what part of it is sent, its head CRC, and its channel code.

    Parameters
    ----------
    layout : PayloadLayout
        The full payload (the index's sizes, :meth:`PayloadLayout.for_index`); queries carry
        ``layout.head_size`` entries (or exactly ``head_size``).
    rate : {"1/2", "2/3", "3/4"} or None
        Convolutional code rate (:mod:`dscref.convcode`); None sends the message uncoded.
    crc : {"crc16", "crc8"} or None
        The CRC (:mod:`dscref.crc`). With ``crc_scope="head"`` a layout without a head sends none
        (``crc`` is then stored as None).
    crc_scope : {"head", "message"}
        What the CRC covers: the head's label bits (default), or the whole message (module notes).
    head_size : int, optional
        Head entries sent, 1 .. ``layout.head_size`` (the first, highest-ranked ones; default all;
        0 for a layout without a head).
    subcodes : int, optional
        Sub-codes sent per PQ code, 1 .. ``layout.M`` (the first ones; default all).
    interleave : bool, optional
        Interleave the coded bits (default: True when ``rate`` is given, False uncoded).

    Attributes
    ----------
    head_bits, crc_bits, code_bits : int
        Bits of the sent head labels, of the CRC, of the sent sub-codes.
    info_bits : int
        ``head_bits + code_bits``: the query's information, the bits energy is counted per.
    message_bits : int
        ``info_bits + crc_bits``: what the convolutional encoder takes.
    coded_bits : int
        Bits sent (tail included): :func:`dscref.convcode.coded_length` of ``message_bits``.
    """

    layout: PayloadLayout
    rate: str | None
    crc: str | None
    head_size: int
    subcodes: int
    interleave: bool
    crc_scope: str

    def __init__(self, layout, rate="1/2", *, crc="crc16", head_size=None, subcodes=None, interleave=None,
                 crc_scope="head"):
        if not isinstance(layout, PayloadLayout):
            raise TypeError(f"layout must be a PayloadLayout, got {type(layout).__name__}")
        if rate is not None:
            if not isinstance(rate, str):
                raise TypeError(f"rate must be one of {list(convcode.RATES)} or None, got {rate!r}")
            check_choice(rate, "rate", convcode.RATES)
        if crc is not None:
            if not isinstance(crc, str):
                raise TypeError(f"crc must be one of {list(CRC_KINDS)} or None, got {crc!r}")
            check_choice(crc, "crc", CRC_KINDS)
        if not isinstance(crc_scope, str):
            raise TypeError(f"crc_scope must be one of {list(CRC_SCOPES)}, got {crc_scope!r}")
        check_choice(crc_scope, "crc_scope", CRC_SCOPES)
        full = layout.head_size
        if head_size is None:
            head_size = full
        elif full == 0:
            check_int(head_size, "head_size", low=0, high=0)
        else:
            check_int(head_size, "head_size", low=1, high=full)
        subcodes = layout.M if subcodes is None else check_int(subcodes, "subcodes", low=1, high=layout.M)
        if interleave is None:
            interleave = rate is not None
        elif not isinstance(interleave, (bool, np.bool_)):
            raise TypeError(f"interleave must be a bool or None, got {interleave!r}")
        keep_crc = full or crc_scope == "message"
        values = dict(layout=layout, rate=rate, crc=crc if keep_crc else None, head_size=int(head_size),
                      subcodes=int(subcodes), interleave=bool(interleave), crc_scope=crc_scope)
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen
        if self.message_bits > convcode.MAX_INFO_BITS:
            raise ValueError(f"a message of {self.message_bits} bits exceeds convcode.MAX_INFO_BITS="
                             f"{convcode.MAX_INFO_BITS}")

    @property
    def sent_layout(self) -> PayloadLayout:
        """The plain layout of the entries sent (``head_size`` entries, all M sub-codes)."""
        lay = self.layout
        if self.head_size == lay.head_size:
            return lay
        return PayloadLayout(head_size=self.head_size, label_bits=lay.label_bits, M=lay.M, nbits=lay.nbits,
                             n_lists=lay.n_lists)

    @property
    def n_codes(self) -> int:
        """PQ codes sent: one per sent head entry, or one without a head."""
        return self.head_size if self.head_size else 1

    @property
    def head_bits(self) -> int:
        return self.head_size * self.layout.label_bits

    @property
    def crc_bits(self) -> int:
        return crc_width(self.crc) if self.crc else 0

    @property
    def code_bits(self) -> int:
        return self.n_codes * self.subcodes * self.layout.nbits

    @property
    def info_bits(self) -> int:
        return self.head_bits + self.code_bits

    @property
    def message_bits(self) -> int:
        return self.info_bits + self.crc_bits

    @property
    def coded_bits(self) -> int:
        return convcode.coded_length(self.message_bits, self.rate) if self.rate else self.message_bits

    @property
    def truncated(self) -> bool:
        """Whether sub-codes are left out (the server then searches with expected distances)."""
        return self.subcodes < self.layout.M

    def channel_uses(self, modem) -> int:
        """Complex channel uses of one payload with ``modem`` (tail and the last symbol's pad included)."""
        from ..channel.transmit import channel_uses

        return channel_uses(nbits=self.coded_bits, modem=modem)

    def esn0_db(self, ebn0_db, modem):
        """SNR per channel use (Es/N0, Es = 1) that gives ``ebn0_db`` per information bit:
        ``Es/N0 = Eb/N0 + 10 log10(info_bits / channel_uses(modem))`` (:func:`dscref.channel.ebn0_to_snr`)."""
        from ..channel.models import ebn0_to_snr

        return ebn0_to_snr(ebn0_db, self.info_bits, self.channel_uses(modem))

    def ebn0_db(self, esn0_db, modem):
        """Eb/N0 per information bit at SNR ``esn0_db`` per channel use (inverse of :meth:`esn0_db`)."""
        from ..channel.models import snr_to_ebn0

        return snr_to_ebn0(esn0_db, self.info_bits, self.channel_uses(modem))


def check_coded_layout(cl) -> CodedLayout:
    """``cl`` if it is a :class:`CodedLayout`, else a ``TypeError``."""
    if not isinstance(cl, CodedLayout):
        raise TypeError(f"expected a CodedLayout, got {type(cl).__name__}")
    return cl


@dataclass
class CodedReport(DecodeReport):
    """:class:`DecodeReport` of a coded payload, plus the head's CRC verdict.

    Attributes
    ----------
    crc_ok : bool or None
        False: the CRC rejected the decoded head (``crc_scope="head"``) or message
        (``"message"``); None: no CRC was sent.
    message : ndarray of uint8, shape (message_bits,)
        The decoded message (head, CRC, sub-codes; or head, sub-codes, CRC), for counting residual
        bit errors.
    """

    crc_ok: bool | None = None
    message: np.ndarray | None = field(default=None, compare=False, repr=False)


def message_bits(query: Query, clayout: CodedLayout) -> np.ndarray:
    """The message of ``query``: sent head label bits, their CRC, sent sub-code bits (``crc_scope="head"``),
    or head label bits, sub-code bits, their CRC (``"message"``); uint8 (message_bits,).

    A query with more head entries than ``clayout.head_size`` is cut to its first entries; the
    rest is validated as by :func:`encode_payload` (labels distinct and < K, codes in range).
    """
    cl = check_coded_layout(clayout)
    if not isinstance(query, Query):
        raise TypeError(f"expected a dscref Query, got {type(query).__name__}")
    if query.codes is None:
        raise ValueError("a raw-feature query (codes=None) has no digital payload")
    h, sent = cl.head_size, cl.sent_layout
    codes = np.asarray(query.codes)
    if cl.layout.head_size and query.labels.size > h and codes.ndim:  # else encode_payload names the fault
        query = Query(labels=query.labels[:h], codes=codes[:h])
    bits = bitpack.bytes_to_bits(encode_payload(query, sent))
    head = bits[:cl.head_bits]
    codes = bits[8 * sent.head_bytes:].reshape(cl.n_codes, 8 * sent.code_bytes)[:, :cl.subcodes * sent.nbits]
    if cl.crc_scope == "message":
        body = np.concatenate([head, codes.reshape(-1)]).astype(np.uint8)
        return crc_append(body, cl.crc).astype(np.uint8) if cl.crc else body
    head_part = crc_append(head, cl.crc) if cl.crc else head
    return np.concatenate([head_part, codes.reshape(-1)]).astype(np.uint8)


def encode_coded_payload(query: Query, clayout: CodedLayout) -> np.ndarray:
    """Query -> the bits to modulate: message, convolutional code, interleaver; uint8 (coded_bits,)."""
    cl = check_coded_layout(clayout)
    return encode_message(message_bits(query, cl), cl.rate, interleave=cl.interleave)


def decode_coded_payloads(llr, clayout: CodedLayout, *, policy: str = "drop", crc_policy: str = "drop") -> list:
    """Received LLRs of a batch of coded payloads -> ``[(Query, CodedReport), ...]``.

    Parameters
    ----------
    llr : array-like of shape (n, coded_bits) or (coded_bits,), real
        ``log P(b=0|y) / P(b=1|y)`` of the bits as sent (e.g. ``transmit_bits(..., soft=True).llr``);
        NaN is refused, +-inf is a certain bit.
    clayout : CodedLayout
    policy : {"drop", "nearest_valid"}
        Invalid or repeated head labels (:func:`decode_payload`).
    crc_policy : {"drop", "search"}
        A head the CRC rejects: no answer (an empty head), or searched anyway (module notes).

    Returns
    -------
    list of (Query, CodedReport), one per row (a list of one for a 1-D input)

    Notes
    -----
    The payloads are Viterbi-decoded together (:func:`dscref.convcode.decode`, threaded over
    rows); uncoded layouts take the LLRs' signs.
    """
    cl = check_coded_layout(clayout)
    check_choice(policy, "policy", POLICIES)
    check_choice(crc_policy, "crc_policy", CRC_POLICIES)
    a = np.asarray(llr)
    msgs = decode_message(a[None, :] if a.ndim == 1 else a, cl.rate, cl.message_bits, interleave=cl.interleave)
    return [_parse(m, cl, policy, crc_policy) for m in msgs]


def decode_coded_payload(llr, clayout: CodedLayout, *, policy: str = "drop", crc_policy: str = "drop"):
    """One payload's LLRs (coded_bits,) -> ``(Query, CodedReport)`` (see :func:`decode_coded_payloads`)."""
    a = np.asarray(llr)
    if a.ndim != 1:
        raise ValueError(f"llr must be 1-D (coded_bits,), got shape {a.shape}; decode_coded_payloads takes batches")
    return decode_coded_payloads(a, clayout, policy=policy, crc_policy=crc_policy)[0]


def _parse(msg: np.ndarray, cl: CodedLayout, policy: str, crc_policy: str):
    """A decoded message -> (Query, CodedReport): CRC check, then the plain codec on the sent entries."""
    sent = cl.sent_layout
    hb, cb, nb = cl.head_bits, cl.crc_bits, sent.nbits
    if cl.crc_scope == "message":  # [head | codes | CRC] -> check all, then parse as [head | codes]
        crc_ok = bool(crc_check(msg, cl.crc)) if cb else None
        body = msg[:msg.size - cb]
    else:
        crc_ok = bool(crc_check(msg[:hb + cb], cl.crc)) if cb else None
        body = np.concatenate([msg[:hb], msg[hb + cb:]])
    if crc_ok is False and crc_policy == "drop":
        w = sent.label_bits  # the labels as received, MSB first
        labels = body[:hb].reshape(cl.head_size, w).astype(np.int64) @ (1 << np.arange(w - 1, -1, -1))
        q = Query(labels=np.zeros(0, np.int64),
                  codes=np.zeros((0, sent.M), dtype=np.uint8 if nb <= 8 else np.uint16))
        return q, CodedReport(received_labels=labels.tolist(), dropped=list(range(cl.head_size)),
                              crc_ok=False, message=msg)
    plain = np.zeros(8 * sent.nbytes, dtype=np.uint8)
    plain[:hb] = body[:hb]
    region = plain[8 * sent.head_bytes:].reshape(cl.n_codes, 8 * sent.code_bytes)
    region[:, :cl.subcodes * nb] = body[hb:].reshape(cl.n_codes, cl.subcodes * nb)
    q, rep = decode_payload(bitpack.bits_to_bytes(plain), sent, policy=policy)
    report = CodedReport(**vars(rep), crc_ok=crc_ok, message=msg)
    if cl.truncated:  # sent sub-codes certain, the others "no information"
        dropped = set(rep.dropped)
        kept = [s for s in range(cl.n_codes) if s not in dropped]
        rows = region[kept, :sent.M * nb]
        llr = np.where(rows == 0, np.inf, -np.inf)
        llr[:, cl.subcodes * nb:] = 0.0
        q.code_llr = llr
    return q, report
