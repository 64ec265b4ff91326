"""The hybrid digital-analog link: the head sent digitally, the residual sent analog.

The one concept: a query's journey when its **head** (the ``h`` list ids that decide which
partitions are searched, ``h x ceil(log2 K)`` bits: 50 for DSC's 5 labels of 10 bits) travels
digitally with strong protection in ``B_h`` complex uses, and its feature -- or, in the hybrid
proper, the **residual** ``q - c^{h_1}`` to the centroid of the head's first partition -- travels
analog with the linear JSCC (:class:`~dscref.channel.jscc.LinearJSCC`, fitted on the database's
residuals ``x - c^{label(x)}``) in the remaining ``B - B_h`` uses. Every use carries energy 1 on
average, so at equal B the scheme spends the same energy as the analog and digital ones. The
server decodes the head, adds ``c^{h_1'}`` of the *received* first label back and searches the
partitions the received head names with the received vector (exhaustive exact distances on the
stored features: :meth:`InvertedPQIndex.search <dscref.index.base.InvertedPQIndex.search>` in its
raw-feature mode, the same search as Fig. 3's "analog + DSC head").

Why it can beat both parents: the head is what a digital link does best (few bits, decisive,
protected), and the residual has far less energy than the feature (``E||q - c||^2`` versus
``E||q - mu||^2``), so the same analog uses describe it with a smaller error; the head's
centroid also serves as side information for a per-partition PCA (``LinearJSCC`` groups).

**The head's protection is a seam.** :class:`HybridLink` takes any object with

* ``uses(n_bits) -> int``: complex channel uses of one head of ``n_bits`` bits;
* ``send(bits, channel, rng) -> HeadReceived``: ``bits`` (n, n_bits) uint8, one head per row,
  each its own transmission; returns the LLRs of the information bits (``log P(0)/P(1)``, +-inf
  for a certain bit) and ``ok`` (False where the decoder *detected* a failure, e.g. a CRC
  mismatch: the server then searches nothing for that query).

Three coders are here: :class:`IdealHead` (a capacity-achieving code, :mod:`dscref.channel.capacity`),
:class:`FecHead` (the repetition / extended-Hamming codes of :mod:`dscref.fec` over a modem,
soft-decoded, no error detection) and :class:`ConvHead` (a CRC on the head bits, the K = 7
convolutional code and interleaver of :mod:`dscref.codec.channel_code` over a modem, soft
Viterbi; a head the CRC rejects is reported lost). The received head bits become labels by
maximum likelihood over the K valid labels (:func:`dscref.fec.soft_decode_head`: valid,
distinct, exactly the sent labels when the bits are certain).

Random draws: the heads first (all rows), then the analog part; under block fading the two parts
are separate transmissions (independent gains), a slightly optimistic model of one burst.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._validate import as_float_matrix, as_generator, check_choice, check_int
from .query import Query, check_labels

__all__ = ["HeadReceived", "IdealHead", "FecHead", "ConvHead", "CONV_HEAD_RATES", "CONV_HEAD_MODEMS", "HybridResult", "HybridLink", "head_bits",
           "search_received"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadReceived:
    """What a head coder delivers: ``llr`` (n, n_bits) float64 of the information bits and
    ``ok`` (n,) bool (False: a detected failure, the head is not used)."""

    llr: np.ndarray
    ok: np.ndarray


def head_bits(labels, label_bits: int) -> np.ndarray:
    """Heads (n, h) int -> bits (n, h * label_bits) uint8, every label MSB first (eq. 12's order,
    without the byte padding of the payload)."""
    lab = np.asarray(labels, dtype=np.int64)
    w = check_int(label_bits, "label_bits", low=1, high=62)
    shifts = np.arange(w - 1, -1, -1)
    return ((lab[..., None] >> shifts) & 1).astype(np.uint8).reshape(lab.shape[0], -1)


class IdealHead:
    """A capacity-achieving code for the head: delivered intact iff its bits fit ``n_uses``
    (:func:`dscref.channel.capacity.ideal_delivery`), else detected lost.

    Parameters
    ----------
    n_uses : int >= 1
        Complex channel uses of one head, whatever its size.
    """

    def __init__(self, n_uses: int):
        self.n_uses = check_int(n_uses, "n_uses", low=1)

    def __repr__(self) -> str:
        return f"IdealHead(n_uses={self.n_uses})"

    def uses(self, n_bits: int) -> int:
        check_int(n_bits, "n_bits", low=1)
        return self.n_uses

    def send(self, bits, channel, rng=None) -> HeadReceived:
        from .channel.capacity import ideal_delivery

        b = _as_bit_rows(bits)
        res = ideal_delivery(b.shape[1], self.n_uses, channel, b.shape[0], rng)
        llr = np.where(b == 0, np.inf, -np.inf)
        llr[~res.delivered] = 0.0
        return HeadReceived(llr=llr, ok=res.delivered)


class FecHead:
    """The head protected by a code of :mod:`dscref.fec` (``"none"``, ``"rep3"``, ``"hamming84"``)
    over a modem, soft-decision demodulated and decoded (:func:`dscref.fec.decode_head_soft`).

    No error detection: ``ok`` is always True and a corrupted head names wrong partitions
    (the realistic failure of a code without a CRC).
    """

    def __init__(self, scheme: str = "hamming84", modem="qpsk"):
        from .channel import as_modem
        from .fec import HEAD_SCHEMES

        self.scheme = check_choice(scheme, "scheme", HEAD_SCHEMES)
        self.modem = as_modem(modem)

    def __repr__(self) -> str:
        return f"FecHead({self.scheme!r}, {self.modem.name!r})"

    def uses(self, n_bits: int) -> int:
        from .fec import protected_head_bits

        return -(-protected_head_bits(check_int(n_bits, "n_bits", low=1), self.scheme)
                 // self.modem.bits_per_symbol)

    def send(self, bits, channel, rng=None) -> HeadReceived:
        from .channel import transmit_bits
        from .fec import decode_head_soft, encode_head_bits

        b = _as_bit_rows(bits)
        rng = as_generator(rng)
        llr = np.empty(b.shape, dtype=np.float64)
        for r in range(b.shape[0]):
            res = transmit_bits(encode_head_bits(b[r], self.scheme), self.modem, channel, rng, soft=True)
            llr[r] = decode_head_soft(res.llr, b.shape[1], self.scheme)
        return HeadReceived(llr=llr, ok=np.ones(b.shape[0], dtype=bool))


CONV_HEAD_RATES = ("1/2", "3/4")
CONV_HEAD_MODEMS = ("qpsk", "16qam", "64qam", "256qam")


class ConvHead:
    """The head protected by a CRC and the K = 7 convolutional code, soft-Viterbi decoded.

    Device: ``[head bits | CRC(head bits)]`` -> :func:`dscref.codec.channel_code.encode_message`
    (code at ``rate``, zero tail, interleaver) -> ``modem``; each head its own transmission.
    Server: exact LLRs -> :func:`~dscref.codec.channel_code.decode_message` (soft Viterbi) ->
    CRC check. A head the CRC rejects is reported lost (``ok`` False: the server searches
    nothing for it, as the coded payload's ``crc_policy="drop"``); a head it accepts is returned
    as the decoder's hard decisions (LLR +-1, so the ML label over the K valid labels is the
    decoded label itself when valid, else the nearest valid one in Hamming distance).

    Parameters
    ----------
    rate : {"1/2", "2/3", "3/4"} or None
        Code rate (:mod:`dscref.convcode`); None: uncoded (the CRC still detects).
    modem : Modem or str
    crc : {"crc16", "crc8"} or None
        None: no error detection, every head is used.
    interleave : bool
        Interleave the coded bits (default True; spreads an error event over fades).

    Examples
    --------
    50 head bits (5 labels of 10 bits) + CRC-16 = 66 bits, rate 1/2: 144 coded bits, 72 QPSK uses.

    >>> ConvHead("1/2", "qpsk").uses(50), ConvHead("3/4", "16qam").uses(50)
    (72, 24)

    The most robust coder within 40 and within 23 uses (half of B = 47):

    >>> ConvHead.fitting(50, 40), ConvHead.fitting(50, 23)
    (ConvHead('1/2', '16qam', crc='crc16'), ConvHead('1/2', '256qam', crc='crc16'))
    """

    def __init__(self, rate="1/2", modem="qpsk", *, crc="crc16", interleave: bool = True):
        from . import convcode
        from .channel import as_modem
        from .crc import CRC_KINDS

        if rate is not None:
            check_choice(rate, "rate", convcode.RATES)
        if crc is not None:
            check_choice(crc, "crc", CRC_KINDS)
        if not isinstance(interleave, (bool, np.bool_)):
            raise TypeError(f"interleave must be a bool, got {interleave!r}")
        self.rate, self.modem, self.crc, self.interleave = rate, as_modem(modem), crc, bool(interleave)

    def __repr__(self) -> str:
        return f"ConvHead({self.rate!r}, {self.modem.name!r}, crc={self.crc!r})"

    def message_bits(self, n_bits: int) -> int:
        """Head bits plus the CRC's."""
        from .crc import crc_width

        return check_int(n_bits, "n_bits", low=1) + (crc_width(self.crc) if self.crc else 0)

    def uses(self, n_bits: int) -> int:
        from .codec.channel_code import coded_length

        return -(-coded_length(self.message_bits(n_bits), self.rate) // self.modem.bits_per_symbol)

    @property
    def bits_per_use(self) -> float:
        """Coded-message bits per complex use, ``rate x bits_per_symbol`` (1 for rate 1/2 QPSK)."""
        num, den = (1, 1) if self.rate is None else map(int, self.rate.split("/"))
        return num / den * self.modem.bits_per_symbol

    @classmethod
    def fitting(cls, n_bits: int, budget: int, rates=CONV_HEAD_RATES, modems=CONV_HEAD_MODEMS, **kw):
        """The most robust coder that sends ``n_bits`` head bits in at most ``budget`` uses: of
        every (rate, modem), the fewest bits per use (:attr:`bits_per_use`; ties: the lower-order
        modem) that fits; None when none fits."""
        budget = check_int(budget, "budget", low=0)
        coders = sorted((cls(r, m, **kw) for r in rates for m in modems),
                        key=lambda c: (c.bits_per_use, c.modem.bits_per_symbol))
        return next((c for c in coders if c.uses(n_bits) <= budget), None)

    def send(self, bits, channel, rng=None) -> HeadReceived:
        from .channel import transmit_bits
        from .codec.channel_code import decode_message, encode_message
        from .crc import crc_append, crc_check

        b = _as_bit_rows(bits)
        rng = as_generator(rng)
        n, nb = b.shape
        msg = crc_append(b, self.crc) if self.crc else b
        coded = encode_message(msg, self.rate, interleave=self.interleave)
        llr = np.zeros(coded.shape)
        for r in range(n):  # each head its own transmission
            llr[r] = transmit_bits(coded[r], self.modem, channel, rng, soft=True).llr
        dec = decode_message(llr, self.rate, msg.shape[1], interleave=self.interleave)
        ok = crc_check(dec, self.crc) if self.crc else np.ones(n, dtype=bool)
        out = np.where(dec[:, :nb] == 0, 1.0, -1.0)
        out[~ok] = 0.0
        return HeadReceived(llr=out, ok=np.asarray(ok, dtype=bool))


def _as_bit_rows(bits) -> np.ndarray:
    from ._validate import as_bits

    b = as_bits(bits, "bits", ndim=2)
    if b.shape[1] == 0:
        raise ValueError("bits has no columns: a head has at least one bit")
    return b


@dataclass
class HybridResult:
    """Outcome of :meth:`HybridLink.send`.

    Attributes
    ----------
    labels : list of ndarray (h',) int64
        Each query's head as decoded (empty where the head coder reported a failure).
    vectors : ndarray (n, d) float32
        The server's estimate of each query feature (``c^{h_1'} +`` the received residual in the
        hybrid; the received feature otherwise).
    head_ok : ndarray (n,) bool
        Heads not reported lost.
    head_wrong : ndarray (n,) bool
        Heads used although they differ from the sent one (undetected errors).
    head_uses, analog_uses : int
        Complex uses per query of each part (their sum is B).
    """

    labels: list
    vectors: np.ndarray
    head_ok: np.ndarray
    head_wrong: np.ndarray
    head_uses: int
    analog_uses: int

    @property
    def channel_uses(self) -> int:
        """B, complex uses per query."""
        return self.head_uses + self.analog_uses


class HybridLink:
    """Head digital (``head`` coder) + feature or residual analog (``jscc``), see module notes.

    Parameters
    ----------
    jscc : LinearJSCC
        Fitted on the database features (``centroids=None``) or on the residuals
        ``x - centroids[label(x)]``; its ``n_uses`` is the analog part ``B - B_h``. Fitted with
        groups (the partition labels), it uses the head's first label as side information.
    head : IdealHead, FecHead or any head coder (module notes)
    n_lists : int
        K, the valid labels ``0 .. K-1``; a head entry takes ``ceil(log2 K)`` bits.
    centroids : array (K, d), optional
        The partition centroids ``c^i``: send the residual to the head's first partition (the
        hybrid). None: send the feature itself ("analog + head").
    """

    def __init__(self, jscc, head, *, n_lists: int, centroids=None):
        jscc._check_fitted()
        if not (callable(getattr(head, "uses", None)) and callable(getattr(head, "send", None))):
            raise TypeError(f"head must be a head coder with uses(n_bits) and send(bits, channel, rng), "
                            f"got {head!r}")
        self.jscc, self.head = jscc, head
        self.n_lists = check_int(n_lists, "n_lists", low=2)
        self.label_bits = int(np.ceil(np.log2(self.n_lists)))
        if centroids is not None:
            centroids = as_float_matrix(centroids, "centroids", d=jscc.d_)
            if centroids.shape[0] != self.n_lists:
                raise ValueError(f"centroids has {centroids.shape[0]} rows, expected n_lists={self.n_lists}")
        self.centroids = centroids

    def __repr__(self) -> str:
        kind = "residual" if self.centroids is not None else "feature"
        return f"HybridLink({self.jscc!r}, {self.head!r}, n_lists={self.n_lists}, analog={kind})"

    def head_uses(self, head_size: int) -> int:
        """B_h for heads of ``head_size`` labels."""
        return self.head.uses(check_int(head_size, "head_size", low=1) * self.label_bits)

    def send(self, x, labels, channel, rng=None) -> HybridResult:
        """Send queries ``x`` (n, d) with heads ``labels`` (n, h) int (distinct per row, in
        ``[0, n_lists)``) over ``channel``; returns what the server holds."""
        from .fec import soft_decode_head

        x = as_float_matrix(x, "x", d=self.jscc.d_)
        lab = np.asarray(labels)
        if lab.ndim != 2 or lab.shape[0] != x.shape[0] or lab.shape[1] < 1:
            raise ValueError(f"labels must have shape ({x.shape[0]}, h) with h >= 1, got {lab.shape}")
        lab = np.stack([check_labels(row, self.n_lists, "labels") for row in lab])
        rng = as_generator(rng)
        n, h = lab.shape
        rx = self.head.send(head_bits(lab, self.label_bits), channel, rng)
        got, first = [], np.full(n, -1, dtype=np.int64)
        wrong = np.zeros(n, dtype=bool)
        for r in range(n):
            if not rx.ok[r]:
                got.append(np.zeros(0, dtype=np.int64))
                continue
            dec = soft_decode_head(rx.llr[r], h, self.label_bits, self.n_lists)[0][:, 0]
            got.append(dec)
            first[r] = dec[0]
            wrong[r] = not np.array_equal(dec, lab[r])
        v = x if self.centroids is None else x - self.centroids[lab[:, 0]]
        res = self.jscc.send(v, channel, rng, groups=lab[:, 0], rx_groups=first)
        out = res.received
        if self.centroids is not None:
            ok = first >= 0
            out[ok] += self.centroids[first[ok]]
        log.debug("hybrid: %d queries, %d heads lost, %d wrong", n, int((~rx.ok).sum()), int(wrong.sum()))
        return HybridResult(labels=got, vectors=out, head_ok=np.asarray(rx.ok, dtype=bool).copy(),
                            head_wrong=wrong, head_uses=self.head_uses(h), analog_uses=self.jscc.n_uses)


def search_received(index, result: HybridResult, k: int = 100, metric: str = "l2"):
    """Search ``index`` (an inverted index with its raw features: ``keep_vectors=True`` or
    ``attach_vectors``) inside the partitions each received head names, with the received
    vector; a lost head gives an empty (padded) row. Returns a :class:`~dscref.query.SearchResult`."""
    queries = [Query(labels=lab, vector=result.vectors[r]) for r, lab in enumerate(result.labels)]
    return index.search(queries, k=k, metric=metric)
