"""The device -> channel -> server journey of a query, written once.

The device encodes each :class:`~dscref.query.Query` into payload bits (eq. 12: the code head
of eq. 11, then one PQ code per head label), a modem maps them to symbols, the channel (eq. 7)
adds noise, and the server demodulates and decodes what arrives back into a searchable query.
Every chain of the library goes through :class:`Link`: the demo, the experiments (Table I's
error-free codec pass, Fig. 3's digital curves, the robust-coding experiment) and
``dscref query``. The analog baseline of Fig. 3 has its own :class:`AnalogLink`.

A link carries bytes and bits, never an index: searching the received queries is the caller's
step (``index.search(result.queries)``), so the same link serves every index kind. With a
:class:`~dscref.codec.CodedLayout` the payload travels with a CRC on its head and the K = 7
convolutional code (:mod:`dscref.codec.coded`), decoded by soft Viterbi from the modem's LLRs;
a head the CRC rejects gets no answer (``LinkResult.head_failures`` counts them).

>>> from dscref.link import Link
>>> link = Link(layout, "qpsk", AWGN(5.0))                       # doctest: +SKIP
>>> sent = link.send(queries, rng)                               # doctest: +SKIP
>>> index.search(sent.queries, k=100)                            # doctest: +SKIP
>>> coded = Link(CodedLayout(layout, "1/2"), "qpsk", AWGN(2.0))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from . import bitpack
from ._validate import as_generator, check_choice
from .codec import (CRC_POLICIES, POLICIES, CodedLayout, DecodeReport, PayloadLayout, ProtectedLayout,
                    check_protected_layout, decode_coded_payload, decode_coded_payloads, decode_head, decode_payload,
                    decode_protected_payload, encode_coded_payload, encode_payload, encode_protected_payload,
                    message_bits)
from .query import Query

__all__ = ["Link", "LinkResult", "Received", "AnalogLink"]

log = logging.getLogger(__name__)


@dataclass
class Received:
    """One query as the server decoded it.

    Attributes
    ----------
    query : Query
        Searchable; its head may be shorter than the one sent (labels dropped by the decoder's
        policy) or empty (nothing to search: the caller leaves the result row empty).
    report : DecodeReport
        What the head decoder found (received labels, invalid, repeated, dropped slots).
    bit_errors : int
        Payload bits flipped by the channel (0 without a channel); for a coded layout, coded bits.
    head_bit_errors : int
        Of those, the bits of the head region; for a coded layout, the errors left in the head
        bits (and a head-only CRC's bits) after decoding.
    labels : ndarray of int64
        The decoded head (``query.labels``; for :meth:`Link.send_heads`, the only result).
    decoded_bit_errors : int or None
        Coded layouts: message bits still wrong after Viterbi decoding; None otherwise.
    """

    query: Query | None
    report: DecodeReport
    bit_errors: int = 0
    head_bit_errors: int = 0
    labels: np.ndarray | None = None
    decoded_bit_errors: int | None = None

    def __post_init__(self):
        if self.query is not None and not isinstance(self.query, Query):
            raise TypeError(f"query must be a Query or None, got {type(self.query).__name__}")
        if self.labels is None and self.query is not None:
            self.labels = self.query.labels


@dataclass
class LinkResult:
    """The outcome of :meth:`Link.send` for a batch of queries."""

    received: list = field(default_factory=list)
    payload_bits: int = 0       # bits of one payload (without modem padding)
    channel_uses: int = 0       # complex channel uses of the whole batch
    bits: int = 0               # payload bits sent in the batch
    bit_errors: int = 0

    @property
    def queries(self) -> list:
        """The received queries, in the order sent."""
        return [r.query for r in self.received]

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits if self.bits else 0.0

    @property
    def dropped_labels(self) -> int:
        return sum(len(r.report.dropped) for r in self.received)

    @property
    def head_failures(self) -> int:
        """Queries whose head the CRC rejected (coded layouts; 0 otherwise)."""
        return sum(getattr(r.report, "crc_ok", None) is False for r in self.received)

    @property
    def decoded_bit_errors(self) -> int:
        """Message bits still wrong after channel decoding (coded layouts; 0 otherwise)."""
        return sum(r.decoded_bit_errors or 0 for r in self.received)


class Link:
    """Send queries' payloads over a digital channel and decode them at the server.

    Parameters
    ----------
    layout : PayloadLayout, ProtectedLayout or CodedLayout
        The payload of eq. (12) (:class:`dscref.codec.PayloadLayout`), the same with a
        channel-coded head (:class:`dscref.codec.ProtectedLayout`), or with a head CRC and the
        convolutional code over the whole payload (:class:`dscref.codec.CodedLayout`: always
        soft-decision Viterbi decoding from exact LLRs).
    modem : Modem or {"bpsk", "qpsk", "16qam", "64qam", "256qam"}
    channel : AWGN, RayleighBlock or None
        None: an error-free link (encode -> bytes -> decode), e.g. for Table I.
    head, codes : {"hard", "soft"}
        Decoding of a protected layout (:func:`dscref.codec.decode_protected_payload`); a plain
        layout decodes hard.
    policy : {"drop", "nearest_valid"}
        What the decoder does with an invalid or repeated head label
        (:func:`dscref.codec.decode_payload`).
    crc_policy : {"drop", "search"}
        Coded layouts: a head the CRC rejects gets no answer (an empty head, the default) or is
        searched anyway (:mod:`dscref.codec.coded`).
    label_order : LabelOrder, optional
        A robust label order applied before sending and undone after decoding (protected
        layouts only).
    burst : bool
        False (default): every query is its own transmission. True: the batch's payloads are sent
        back to back as one transmission (one noise draw, and on a fading channel blocks that
        run across payload boundaries), as Fig. 3 does.
    """

    def __init__(self, layout, modem="qpsk", channel=None, *, head: str = "hard", codes: str = "hard",
                 policy: str = "drop", crc_policy: str = "drop", label_order=None, burst: bool = False):
        self.protected = isinstance(layout, ProtectedLayout)
        self.coded = isinstance(layout, CodedLayout)
        if not (self.protected or self.coded) and not isinstance(layout, PayloadLayout):
            raise TypeError(f"layout must be a PayloadLayout, ProtectedLayout or CodedLayout, "
                            f"got {type(layout).__name__}")
        if self.protected:
            check_protected_layout(layout)
        check_choice(head, "head", {"hard", "soft"})
        check_choice(codes, "codes", {"hard", "soft"})
        check_choice(policy, "policy", POLICIES)
        check_choice(crc_policy, "crc_policy", CRC_POLICIES)
        if self.coded and (head, codes) != ("hard", "hard"):
            raise ValueError("a CodedLayout is always decoded by soft Viterbi: head= and codes= apply to a "
                             "ProtectedLayout")
        if self.coded and label_order is not None:
            raise ValueError("label_order needs a protected layout (ProtectedLayout), not a CodedLayout")
        if not self.protected and not self.coded and (head, codes) != ("hard", "hard"):
            raise ValueError("soft head or code decoding needs a protected layout (ProtectedLayout)")
        if label_order is not None and not self.protected:
            raise ValueError("label_order needs a protected layout (ProtectedLayout)")
        if label_order is not None and not all(callable(getattr(label_order, m, None))
                                               for m in ("encode_query", "decode_query")):
            raise TypeError(f"label_order must be a LabelOrder (dscref.index.robust.robust_label_order), "
                            f"got {type(label_order).__name__}")
        from .channel import as_modem, check_channel

        modem = as_modem(modem)
        channel = None if channel is None else check_channel(channel)
        self.layout, self.modem, self.channel = layout, modem, channel
        self.head, self.codes, self.policy, self.crc_policy = head, codes, policy, crc_policy
        self.label_order, self.burst = label_order, bool(burst)

    def __repr__(self) -> str:
        return (f"Link({self.layout!r}, {self.modem.name!r}, {self.channel!r}, "
                f"head={self.head!r}, codes={self.codes!r}, policy={self.policy!r}, "
                f"crc_policy={self.crc_policy!r}, burst={self.burst})")

    @property
    def payload_bits(self) -> int:
        """Bits of one payload as sent."""
        if self.coded:
            return self.layout.coded_bits
        return self.layout.n_bits if self.protected else 8 * self.layout.nbytes

    @property
    def head_region_bits(self) -> int:
        """Bits of the head region as sent (coded layouts: the message's head bits, and its CRC
        bits when the CRC covers the head only)."""
        if self.coded:
            cl = self.layout
            return cl.head_bits + (cl.crc_bits if cl.crc_scope == "head" else 0)
        return self.layout.head_region_bits if self.protected else 8 * self.layout.head_bytes

    def encode(self, query: Query) -> np.ndarray:
        """The device's side: a query -> its payload bits (uint8 0/1)."""
        if self.coded:
            return encode_coded_payload(query, self.layout)
        if self.protected:
            return encode_protected_payload(query, self.layout, label_order=self.label_order)
        return bitpack.bytes_to_bits(encode_payload(query, self.layout))

    def decode(self, received) -> tuple:
        """The server's side: received bits (or LLRs for a protected or coded layout) -> (Query, DecodeReport)."""
        if self.coded:
            return decode_coded_payload(received, self.layout, policy=self.policy, crc_policy=self.crc_policy)
        if self.protected:
            return decode_protected_payload(received, self.layout, head=self.head, codes=self.codes,
                                            policy=self.policy, label_order=self.label_order)
        return decode_payload(bitpack.bits_to_bytes(received), self.layout, policy=self.policy)

    def _through(self, sent: list, rng) -> tuple:
        """Each bit array through the channel (one transmission each, or one burst).

        Returns ([(what the decoder reads, hard decisions)], channel uses)."""
        from .channel import transmit_bits

        if self.channel is None:  # error-free: certain bits (LLR +-inf) where LLRs are read
            reads = [np.where(b == 0, np.inf, -np.inf) if self._wants_llr() else b for b in sent]
            return list(zip(reads, sent)), 0
        rng = as_generator(rng)
        soft = self.protected or self.coded
        if self.burst and sent:
            res = transmit_bits(np.concatenate(sent), self.modem, self.channel, rng, soft=soft)
            x = res.llr if soft else res.bits
            bounds = np.cumsum([0] + [b.size for b in sent])
            return [(x[a:b], res.bits[a:b]) for a, b in zip(bounds[:-1], bounds[1:])], res.channel_uses
        pieces, uses = [], 0
        for b in sent:
            res = transmit_bits(b, self.modem, self.channel, rng, soft=soft)
            pieces.append((res.llr if soft else res.bits, res.bits))
            uses += res.channel_uses
        return pieces, uses

    def _wants_llr(self) -> bool:
        return self.coded or (self.protected and (self.head == "soft" or self.codes == "soft"))

    def send(self, queries, rng=None) -> LinkResult:
        """Encode, transmit and decode every query; returns a :class:`LinkResult`.

        ``rng`` (Generator, int or None) draws the channel; without a channel it is unused.
        """
        qs = [queries] if isinstance(queries, Query) else list(queries)
        sent = [self.encode(q) for q in qs]
        pieces, uses = self._through(sent, rng)
        out = LinkResult(payload_bits=self.payload_bits, channel_uses=uses, bits=sum(b.size for b in sent))
        if self.coded:
            self._decode_coded(qs, sent, pieces, out)
            return out
        hb = self.head_region_bits
        for b, (x, hard) in zip(sent, pieces):
            q, report = self.decode(x)
            errors = int(np.count_nonzero(hard != b))
            out.received.append(Received(q, report, errors, int(np.count_nonzero(hard[:hb] != b[:hb]))))
            out.bit_errors += errors
        log.debug("link: %d queries, %d bits, %d errors, %d uses", len(qs), out.bits, out.bit_errors,
                  out.channel_uses)
        return out

    def _decode_coded(self, qs: list, sent: list, pieces: list, out: LinkResult) -> None:
        """Viterbi-decode the batch at once; count channel errors and errors left after decoding."""
        if not pieces:
            return
        decoded = decode_coded_payloads(np.stack([x for x, _ in pieces]), self.layout, policy=self.policy,
                                        crc_policy=self.crc_policy)
        hb = self.head_region_bits
        for q, b, (_, hard), (query, report) in zip(qs, sent, pieces, decoded):
            msg = message_bits(q, self.layout)
            wrong = report.message != msg
            errors = int(np.count_nonzero(hard != b))
            out.received.append(Received(query, report, errors, int(np.count_nonzero(wrong[:hb])),
                                         decoded_bit_errors=int(np.count_nonzero(wrong))))
            out.bit_errors += errors
        log.debug("coded link: %d queries, %d coded bits, %d channel errors, %d left, %d head failures",
                  len(qs), out.bits, out.bit_errors, out.decoded_bit_errors, out.head_failures)

    def send_heads(self, queries, rng=None) -> LinkResult:
        """Send only the code heads (the first ``head_bytes`` of each payload) and decode them.

        For Fig. 3's "analog + DSC head", where the head travels digitally beside an analog
        feature; a plain layout only. Each :class:`Received` has ``query=None`` and the decoded
        head in ``labels`` (valid, distinct; possibly fewer than sent).
        """
        if self.protected or self.coded:
            raise ValueError("send_heads needs a plain PayloadLayout")
        qs = [queries] if isinstance(queries, Query) else list(queries)
        hb = 8 * self.layout.head_bytes
        sent = [self.encode(q)[:hb] for q in qs]
        pieces, uses = self._through(sent, rng)
        out = LinkResult(payload_bits=hb, channel_uses=uses, bits=hb * len(sent))
        for b, (x, hard) in zip(sent, pieces):
            labels, report = decode_head(bitpack.bits_to_bytes(x), self.layout, policy=self.policy)
            errors = int(np.count_nonzero(hard != b))
            out.received.append(Received(None, report, errors, errors, labels=labels))
            out.bit_errors += errors
        return out


class AnalogLink:
    """The analog baseline: the feature itself, power-normalised, over the channel (Fig. 3).

    ``send(features, rng)`` returns the received (noisy, equalised) features, float32, one row
    per query; ``complex_baseband`` packs two reals per complex channel use (``d / 2`` uses).
    """

    def __init__(self, channel, *, complex_baseband: bool = True):
        from .channel import check_channel

        self.channel = check_channel(channel)
        self.complex_baseband = bool(complex_baseband)

    def __repr__(self) -> str:
        return f"AnalogLink({self.channel!r}, complex_baseband={self.complex_baseband})"

    def send(self, features, rng=None) -> np.ndarray:
        from .channel import transmit_analog

        return transmit_analog(features, self.channel, rng, complex_baseband=self.complex_baseband).received
