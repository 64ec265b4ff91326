"""The digital schemes of the equal-bandwidth Fig. 3 (:mod:`~dscref.experiments.wireless`): which
payload, modem and code each sends in a budget of B complex channel uses, and their senders.

Every digital scheme sends the DSC payload of eq. (12) (or a shorter variant of it) and uses at
most B complex uses, each of energy 1; a scheme that takes fewer uses than B leaves the rest
empty (it spends less energy). The choices, one rule per family (:func:`digital_plans`):

* **uncoded** (the paper's) and the **robust-coding variants** (:mod:`~dscref.experiments.robust`:
  ``plain`` is the paper's uncoded payload; ``robust_assignment``, ``soft_adc``, ``all``): the
  whole payload, never shrunk, with the lowest-order modem that fits B (BPSK, QPSK, 16-, 64-,
  256-QAM). The paper's 376 bits: 256-QAM at B = 47, 16-QAM at 94, QPSK at 188, BPSK at 376
  -- every B filled exactly. The protected-head variants (``all``: 424 bits with the extended
  Hamming head) do not fit B = 47 at all.
* **convolutional code** at each rate (1/2, 3/4), CRC-16 over the whole message (head and
  sub-codes, ``crc_scope="message"``), soft Viterbi, a rejected message answered with nothing
  (:mod:`dscref.codec.coded`), so a query is answered only with its payload intact (up to the
  CRC's 2^-16 miss rate), the scheme the ideal bound bounds: the lowest-order modem (QPSK to
  256-QAM) at which :func:`~dscref.codec.budget.fit_payload` keeps every sub-code of the entries
  it sends (it drops head entries first); when none does, the modem whose variant carries the
  most information bits. Shrinking the head first costs little on the calibrated benchmark
  (fewer partitions searched bring fewer distractors, see :mod:`dscref.codec.budget`), dropping
  sub-codes costs much.
* **ideal bound** of each payload actually sent (:func:`~dscref.channel.capacity.ideal_delivery`):
  its information bits (head labels and sub-codes; no CRC, no pad) in all B uses with a
  capacity-achieving code; a delivered query is searched with its error-free payload, a lost one
  gets no answer. It bounds every scheme that must deliver that payload intact (a CRC-checked
  coded link); uncoded and robust links search corrupted payloads and may exceed it.

A plan that fits nothing has ``modem`` None: its points are reported as None ("does not fit").

:class:`DigitalRun` measures every plan's curve (and every bound's) over one channel model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..channel import AWGN, RayleighBlock, as_modem
from ..channel.capacity import ideal_delivery
from ..codec import CodedLayout, PayloadLayout, ProtectedLayout, fit_payload
from ..link import Link
from ..metrics import compute_map
from .robust import robust_variants_mAP

__all__ = ["CODED_RATES", "UNCODED_MODEMS", "CODED_MODEMS", "ROBUST_VARIANTS", "DigitalPlan", "lowest_modem",
           "coded_plan", "digital_plans", "clean_ranking", "bound_map", "coded_map", "bound_name", "DigitalRun"]

CODED_RATES = ("1/2", "3/4")
UNCODED_MODEMS = ("bpsk", "qpsk", "16qam", "64qam", "256qam")
CODED_MODEMS = ("qpsk", "16qam", "64qam", "256qam")
ROBUST_VARIANTS = ("plain", "robust_assignment", "soft_adc", "all")
_PROTECTED = {"protected_head", "all"}  # robust variants whose head is channel-coded


@dataclass(frozen=True)
class DigitalPlan:
    """What one digital scheme sends in B uses.

    Attributes
    ----------
    name : str
        The curve's scheme name ("digital uncoded (the paper's)", "digital conv 1/2", "robust: soft_adc", ...).
    kind : {"robust", "coded"}
        Sent by :func:`~dscref.experiments.robust.robust_variants_mAP` (``variant``) or by a
        coded :class:`~dscref.link.Link` (``clayout``).
    modem : str or None
        None: nothing fits B.
    head_size, subcodes : int
        Head entries sent and sub-codes per entry (the payload variant).
    info_bits : int
        Head label bits plus sub-code bits: what the ideal bound of this payload delivers.
    sent_bits : int
        Bits on the air (parity, CRC, tail and pad included).
    channel_uses : int or None
    rate : str or None
        Convolutional code rate (coded plans).
    variant : str or None
        Robust-coding variant (robust plans).
    clayout : CodedLayout or None
    """

    name: str
    kind: str
    modem: str | None
    head_size: int
    subcodes: int
    info_bits: int
    sent_bits: int
    channel_uses: int | None
    rate: str | None = None
    variant: str | None = None
    clayout: CodedLayout | None = None

    @property
    def fits(self) -> bool:
        return self.modem is not None

    @property
    def payload(self) -> tuple:
        """The payload variant ``(head_size, subcodes)``: plans with the same one share a bound."""
        return (self.head_size, self.subcodes)

    def describe(self) -> dict:
        """The plan's JSON fields."""
        return {"modem": self.modem, "rate": self.rate, "head_size": self.head_size, "subcodes": self.subcodes,
                "info_bits": self.info_bits, "sent_bits": self.sent_bits, "channel_uses": self.channel_uses,
                "fits": self.fits}


def lowest_modem(n_bits: int, budget: int, modems=UNCODED_MODEMS) -> str | None:
    """The first of ``modems`` (lowest order first) that sends ``n_bits`` in at most ``budget``
    complex uses, or None."""
    return next((m for m in modems if -(-n_bits // as_modem(m).bits_per_symbol) <= budget), None)


def coded_plan(layout: PayloadLayout, budget: int, rate: str, modems=CODED_MODEMS, *, crc_scope: str = "message"):
    """``(CodedLayout, modem)`` of the coded scheme at ``rate`` in ``budget`` uses (module notes),
    or None when not even one entry with one sub-code fits."""
    fits = [(fit_payload(layout, budget, m, rate, crc_scope=crc_scope), m) for m in modems]
    fits = [(cl, m) for cl, m in fits if cl is not None]
    if not fits:
        return None
    full = [(cl, m) for cl, m in fits if cl.subcodes == layout.M]
    if full:
        return full[0]
    return max(fits, key=lambda f: f[0].info_bits)  # max keeps the first (lowest order) of equals


def digital_plans(layout: PayloadLayout, budget: int, *, rates=CODED_RATES, robust_variants=ROBUST_VARIANTS,
                  head_scheme: str = "hamming84") -> list:
    """Every digital scheme's :class:`DigitalPlan` in ``budget`` uses: the robust variants (the
    first, ``plain``, is the paper's uncoded payload), then the coded rates."""
    info = CodedLayout(layout, None, crc=None).info_bits
    plans = []
    for v in robust_variants:
        bits = ProtectedLayout(layout, head_scheme if v in _PROTECTED else "none").n_bits
        modem = lowest_modem(bits, budget)
        name = "digital uncoded (the paper's)" if v == "plain" else f"robust: {v}"
        plans.append(DigitalPlan(name, "robust", modem, layout.head_size, layout.M, info, bits,
                                 None if modem is None else -(-bits // as_modem(modem).bits_per_symbol), variant=v))
    for rate in rates:
        got = coded_plan(layout, budget, rate)
        name = f"digital conv {rate}"
        if got is None:
            plans.append(DigitalPlan(name, "coded", None, 0, 0, 0, 0, None, rate=rate))
            continue
        cl, modem = got
        plans.append(DigitalPlan(name, "coded", modem, cl.head_size, cl.subcodes, cl.info_bits, cl.coded_bits,
                                 cl.channel_uses(modem), rate=rate, clayout=cl))
    return plans


def clean_ranking(index, queries: list, layout: PayloadLayout, head_size: int, subcodes: int, k: int) -> np.ndarray:
    """The ranking (nq, k) of the payload variant ``(head_size, subcodes)`` received without
    error (an error-free coded :class:`~dscref.link.Link`: sub-codes not sent are searched by
    expected distance, as over the channel)."""
    cl = CodedLayout(layout, None, crc=None, head_size=head_size, subcodes=subcodes)
    return index.search(Link(cl, "qpsk", None).send(queries).queries, k=k).I


def bound_map(I_clean: np.ndarray, info_bits: int, budget: int, channel, rng, gnd) -> tuple:
    """The ideal bound's ``(mAP, lost, wrong, intact)`` shares of one channel draw: ``info_bits``
    in ``budget`` uses per query; delivered queries ranked by ``I_clean``, lost ones with nothing
    (never wrong)."""
    ok = ideal_delivery(info_bits, budget, channel, I_clean.shape[0], rng).delivered
    n = ok.size
    return float(compute_map(np.where(ok[:, None], I_clean, -1), gnd)[0]), (n - ok.sum()) / n, 0.0, ok.sum() / n


def coded_map(index, queries: list, plan: DigitalPlan, channel, rng, gnd, k: int) -> tuple:
    """A coded plan's ``(mAP, lost, wrong, intact)`` shares of one channel draw: each payload its
    own transmission; lost = the CRC rejected the message (no answer), wrong = accepted with bit
    errors left after decoding (a CRC miss), intact = decoded exactly."""
    sent = Link(plan.clayout, plan.modem, channel).send(queries, rng)
    I = index.search(sent.queries, k=k).I
    nq = len(queries)
    lost = sent.head_failures
    intact = sum(r.decoded_bit_errors == 0 for r in sent.received)
    return float(compute_map(I, gnd)[0]), lost / nq, (nq - lost - intact) / nq, intact / nq


def bound_name(plan: DigitalPlan) -> str:
    """The name of the ideal-bound curve of ``plan``'s payload."""
    return f"ideal bound, {plan.head_size}x{plan.subcodes} payload ({plan.info_bits} bits)"


def _empty(name: str, B: int, snrs: list, family: str, **fields) -> dict:
    n = len(snrs)
    return {"scheme": name, "B": B, "family": family, "snr_db": list(snrs), "mAP": [None] * n,
            "mAP_std": [None] * n, "lost": [None] * n, "wrong": [None] * n, "intact": [None] * n, **fields}


class DigitalRun:
    """The digital, robust and bound curves over one channel model (AWGN, or Rayleigh block
    fading with ``block`` uses per gain), ``trials`` draws per point.

    Parameters
    ----------
    index : the DSC index; xq : (nq, d) query features; queries : their clean queries (full
        payload); heads : (nq, h) head labels
    gnd : ground truth; ranking, clean : {(head_size, subcodes): error-free ranking / mAP}
    robust_index, label_order : for the robust variants (None when only ``plain`` is sent)

    Curves (:meth:`curves`) are ``{f"{scheme} @ B={B}": curve}`` with ``lost`` (no answer: the
    CRC rejected the head, or the bound's payload was lost), ``wrong`` (answered with bit errors
    left after decoding) and ``intact`` (the payload arrived exactly); coded links and bounds only. Random draws: ``[seed, salt + b, s, t, stream]`` (b, s, t the indices of
    B, SNR and trial); the robust variants as :func:`~dscref.experiments.robust.robust_variants_mAP`.
    """

    def __init__(self, index, xq, queries, heads, gnd, ranking, clean, *, trials, seed, fading, block, k, p_design,
                 head_scheme, robust_index=None, label_order=None, progress=False):
        self.index, self.xq, self.queries, self.heads, self.gnd = index, xq, queries, heads, gnd
        self.ranking, self.clean = ranking, clean
        self.trials, self.seed, self.fading, self.block, self.k = trials, seed, fading, block, k
        self.p_design, self.head_scheme = p_design, head_scheme
        self.robust_index, self.label_order, self.progress = robust_index, label_order, progress

    def channel(self, snr: float):
        return RayleighBlock(snr, self.block) if self.fading else AWGN(snr)

    def robust_means(self, group: list, snrs: list, seed: int) -> dict:
        """{variant: (mAP means, stds)} of robust plans sharing one modem, over ``snrs``."""
        res = robust_variants_mAP(self.index, self.xq, self.heads, self.gnd, snrs, modem=group[0].modem,
                                  n_trials=self.trials, seed=seed, variants=[p.variant for p in group], k=self.k,
                                  p_design=self.p_design, head_scheme=self.head_scheme,
                                  robust_index=self.robust_index, label_order=self.label_order,
                                  fading=self.fading, block=self.block)
        return {v: ([res["mAP"][v][s]["mean"] for s in res["snr_db"]], [res["mAP"][v][s]["std"] for s in res["snr_db"]])
                for v in res["variants"]}

    def point(self, B: int, plans: list, bounds: dict, snr: float, key: tuple) -> dict:
        """{name: [(mAP, lost, wrong, intact) per trial]} of the coded plans and the bounds at one SNR."""
        ch, per = self.channel(snr), {}
        for t in range(self.trials):
            def rng(stream):
                return np.random.default_rng([self.seed, *key, t, stream])

            for name, p in bounds.items():  # one stream: under fading every bound sees the same gains
                per.setdefault(name, []).append(bound_map(self.ranking[p.payload], p.info_bits, B, ch, rng(0),
                                                          self.gnd))
            for j, p in enumerate(plans, start=1):
                per.setdefault(p.name, []).append(coded_map(self.index, self.queries, p, ch, rng(j), self.gnd, self.k))
        return per

    def curves(self, plans: dict, snrs: list) -> dict:
        """Every plan's and every bound's curve at each B of ``plans`` ({B: [DigitalPlan]})."""
        curves = {}
        bar = tqdm(total=len(plans) * len(snrs) * self.trials, leave=False, disable=not self.progress,
                   desc="wireless digital" + (" (fading)" if self.fading else ""))
        for bi, (B, ps) in enumerate(plans.items()):
            bounds = {}
            for p in ps:
                family = "robust" if p.kind == "robust" and p.variant != "plain" else "digital"
                curves[f"{p.name} @ B={B}"] = _empty(p.name, B, snrs, family, **p.describe(),
                                                     bound=bound_name(p) if p.fits else None,
                                                     clean_mAP=self.clean.get(p.payload))
                if p.fits:
                    bounds.setdefault(bound_name(p), p)
            for name, p in bounds.items():
                curves[f"{name} @ B={B}"] = _empty(name, B, snrs, "bound", head_size=p.head_size,
                                                   subcodes=p.subcodes, info_bits=p.info_bits, channel_uses=B,
                                                   fits=True, clean_mAP=self.clean[p.payload],
                                                   bounds=[q.name for q in ps if q.fits and q.payload == p.payload])
            by_modem: dict = {}  # robust variants (and the paper's uncoded payload), by the modem that fits
            for p in ps:
                if p.kind == "robust" and p.fits:
                    by_modem.setdefault(p.modem, []).append(p)
            for group in by_modem.values():
                for v, (m, sd) in self.robust_means(group, snrs, self.seed).items():
                    name = next(p.name for p in group if p.variant == v)
                    curves[f"{name} @ B={B}"].update(mAP=m, mAP_std=sd)
            coded = [p for p in ps if p.kind == "coded" and p.fits]
            for si, snr in enumerate(snrs):
                for name, vals in self.point(B, coded, bounds, snr, (1000 + bi, si)).items():
                    c = curves[f"{name} @ B={B}"]
                    m, lost, wrong, intact = np.asarray(vals, dtype=float).T
                    c["mAP"][si], c["mAP_std"][si] = float(m.mean()), float(m.std())
                    c["lost"][si], c["wrong"][si], c["intact"][si] = map(float, (lost.mean(), wrong.mean(),
                                                                              intact.mean()))
                bar.update(self.trials)
        bar.close()
        return curves
