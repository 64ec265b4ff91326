"""Fitting a payload to a bandwidth budget of B complex channel uses, for a modem and a code rate.

Fig. 3 compares schemes at equal bandwidth B. A coded payload fits B when
``ceil(coded_bits / bits_per_symbol) <= B`` (tail bits and the last symbol's pad included,
:meth:`CodedLayout.channel_uses <dscref.codec.coded.CodedLayout.channel_uses>`):
:func:`payload_fit` says whether it does and how many uses it takes. When the full payload does
not fit, a shorter variant may: fewer head entries and/or fewer sub-codes per entry
(:class:`~dscref.codec.coded.CodedLayout`'s ``head_size`` and ``subcodes``).
:func:`shrink_variants` lists the variants in the order they shrink and :func:`fit_payload`
returns the first that fits.

**Shrink order** ``"head_first"`` (default): drop head entries, the lowest-ranked first, down to
one entry; then drop sub-codes of the remaining code, the last sub-space first, down to one.
``"codes_first"``: drop sub-codes of every entry down to one, then head entries. Head first,
because on the calibrated synthetic benchmark (20k items, DSC, error-free) cutting sub-codes
costs far more than cutting entries: with every sub-code, 5 / 3 / 1 entries give mAP 0.29 /
0.38 / 0.65 (the extra partitions bring more distractors than positives at this scale), while 5
entries with 6 / 4 / 2 of the 8 sub-codes give 0.20 / 0.18 / 0.15. On data whose positives
spread over several labels (the paper's Recall 0.94 with 5 labels vs ~0.77 with one) the
balance can differ: pass ``order="codes_first"`` or build the :class:`CodedLayout` yourself.

Channel uses of the full default payload (50 head bits + CRC-16 + 320 code bits = 386 message
bits; 370 information bits; ``fit_table`` prints more):

======  ====  ====  =====  =====  ======
rate    BPSK  QPSK  16QAM  64QAM  256QAM
======  ====  ====  =====  =====  ======
none     386   193     97     65      49
1/2      784   392    196    131      98
2/3      588   294    147     98      74
3/4      523   262    131     88      66
======  ====  ====  =====  =====  ======

(The paper's uncoded 47-byte payload, without CRC but with 6 pad bits: 376 / 188 / 94 / 63 / 47.)
At equal energy per information bit, SNR per use is ``Eb/N0 + 10 log10(370 / uses)``:
e.g. rate 1/2 QPSK -0.25 dB, rate 3/4 QPSK +1.50 dB, rate 1/2 16-QAM +2.76 dB, the paper's
QPSK +2.94 dB (:meth:`CodedLayout.esn0_db <dscref.codec.coded.CodedLayout.esn0_db>`).

>>> from dscref.codec import PayloadLayout, fit_payload
>>> layout = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
>>> cl = fit_payload(layout, 188, "qpsk", "1/2")
>>> cl.head_size, cl.subcodes, cl.channel_uses("qpsk")
(2, 8, 170)
"""

from __future__ import annotations

from typing import NamedTuple

from .._validate import check_choice, check_int
from .coded import CodedLayout, check_coded_layout
from .plain import PayloadLayout

__all__ = ["SHRINK_ORDERS", "PayloadFit", "payload_fit", "shrink_variants", "fit_payload", "fit_table"]

SHRINK_ORDERS = ("head_first", "codes_first")


class PayloadFit(NamedTuple):
    """Whether a payload fits a budget: ``fits``, the ``channel_uses`` it takes, the ``budget``."""

    fits: bool
    channel_uses: int
    budget: int

    @property
    def spare(self) -> int:
        """Uses left over (negative when it does not fit)."""
        return self.budget - self.channel_uses


def payload_fit(clayout: CodedLayout, budget: int, modem) -> PayloadFit:
    """Whether one payload of ``clayout`` (rate included) fits ``budget`` complex uses with ``modem``.

    Parameters
    ----------
    clayout : CodedLayout
    budget : int >= 0
        B, complex channel uses.
    modem : Modem or str

    Returns
    -------
    PayloadFit

    Examples
    --------
    >>> from dscref.codec import CodedLayout, PayloadLayout
    >>> full = CodedLayout(PayloadLayout(n_lists=1000), "3/4")
    >>> payload_fit(full, 188, "16qam"), payload_fit(full, 94, "16qam").spare
    (PayloadFit(fits=True, channel_uses=131, budget=188), -37)
    """
    cl = check_coded_layout(clayout)
    budget = check_int(budget, "budget", low=0)
    uses = cl.channel_uses(modem)
    return PayloadFit(fits=uses <= budget, channel_uses=uses, budget=budget)


def shrink_variants(layout: PayloadLayout, order: str = "head_first") -> list:
    """The payload variants ``(head_size, subcodes)`` from the full payload down, in shrink order.

    Parameters
    ----------
    layout : PayloadLayout
    order : {"head_first", "codes_first"}
        See the module notes. A layout without a head only drops sub-codes.

    Returns
    -------
    list of (int, int)
        ``head_size + M - 1`` variants (``M`` without a head), each smaller than the one before.
    """
    if not isinstance(layout, PayloadLayout):
        raise TypeError(f"layout must be a PayloadLayout, got {type(layout).__name__}")
    check_choice(order, "order", SHRINK_ORDERS)
    H, M = layout.head_size, layout.M
    if H == 0:
        return [(0, m) for m in range(M, 0, -1)]
    if order == "head_first":
        return [(h, M) for h in range(H, 0, -1)] + [(1, m) for m in range(M - 1, 0, -1)]
    return [(H, m) for m in range(M, 0, -1)] + [(h, 1) for h in range(H - 1, 0, -1)]


def fit_payload(layout: PayloadLayout, budget: int, modem, rate="1/2", *, crc="crc16", order: str = "head_first",
                interleave=None, crc_scope: str = "head") -> CodedLayout | None:
    """The largest payload variant (first in :func:`shrink_variants` order) that fits ``budget`` uses.

    Parameters
    ----------
    layout : PayloadLayout
        The full payload.
    budget : int >= 0
        B, complex channel uses.
    modem : Modem or str
    rate : {"1/2", "2/3", "3/4"} or None
    crc : {"crc16", "crc8"} or None
    order : {"head_first", "codes_first"}
    interleave : bool, optional
    crc_scope : {"head", "message"}
        As for :class:`CodedLayout`.

    Returns
    -------
    CodedLayout, or None when not even one entry with one sub-code fits (mark the point as
    unreachable).
    """
    budget = check_int(budget, "budget", low=0)
    for h, m in shrink_variants(layout, order):
        cl = CodedLayout(layout, rate, crc=crc, head_size=h, subcodes=m, interleave=interleave, crc_scope=crc_scope)
        if cl.channel_uses(modem) <= budget:
            return cl
    return None


def fit_table(layout: PayloadLayout, budgets=(47, 94, 188, 376), modems=("bpsk", "qpsk", "16qam", "64qam", "256qam"),
              rates=(None, "1/2", "2/3", "3/4"), *, crc="crc16", order: str = "head_first") -> list:
    """For every budget, modem and rate, the variant :func:`fit_payload` picks.

    Returns
    -------
    list of dict
        ``{"budget", "modem", "rate", "head_size", "subcodes", "info_bits", "channel_uses"}``
        (the last four None where nothing fits), rates ``None`` written "none".
    """
    from ..channel.transmit import as_modem

    rows = []
    for budget in budgets:
        for modem in modems:
            name = as_modem(modem).name
            for rate in rates:
                cl = fit_payload(layout, budget, name, rate, crc=crc, order=order)
                rows.append({"budget": int(budget), "modem": name, "rate": rate or "none",
                             "head_size": cl.head_size if cl else None, "subcodes": cl.subcodes if cl else None,
                             "info_bits": cl.info_bits if cl else None,
                             "channel_uses": cl.channel_uses(name) if cl else None})
    return rows
