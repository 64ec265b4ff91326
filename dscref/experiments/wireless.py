"""Fig. 3 redrawn at equal bandwidth: mAP vs SNR of every scheme in B complex channel uses per
query, energy 1 per use, over AWGN and Rayleigh block fading (issue 21, item 5).

The paper's own Fig. 3 (:mod:`~dscref.experiments.fig3`) compares *unequal* bandwidths: the
analog 2048-d feature in 1024 uses against the uncoded 47-byte payload in 188 QPSK uses. Here, at
each B in ``bandwidths`` (default 47, 94, 188, 376), every scheme gets the same B uses and the
same energy per use (SNR = Es/N0 per complex use, the average SNR under fading):

* analog linear JSCC (PCA + optimal linear power allocation + LMMSE,
  :class:`~dscref.channel.jscc.LinearJSCC`): no head, DUC head, DSC head (the head by an ideal
  code sized for 1 % outage, at most half of B), :func:`~dscref.experiments.equal_bandwidth.equal_bandwidth`;
* the hybrid (DSC head digital, the residual to its first centroid analog,
  :class:`~dscref.hybrid.HybridLink`) with the ideal head and with the convolutional head
  (:class:`~dscref.hybrid.ConvHead`: CRC-16, K = 7 code, the most robust rate and modem within
  half of B);
* the digital schemes of :mod:`~dscref.experiments.wireless_schemes`: the paper's uncoded payload,
  the robust-coding variants, the convolutional code at rates 1/2 and 3/4 (payload shrunk by
  :func:`~dscref.codec.budget.fit_payload` where it must be), and the ideal bound of every payload
  actually sent. A scheme that cannot fit B has None at every SNR ("does not fit").

``gaps`` gives, per digital curve, the SNR at which it first keeps ``fraction`` (0.9) of its
payload's error-free mAP and the SNR at which the ideal bound of the same payload does (on
AWGN the Shannon threshold ``10 log10(2^(b/B) - 1)``), and their difference in dB.

Random draws: the analog and hybrid schemes draw as :func:`equal_bandwidth` does; the coded links
and the bounds from ``[seed, 1000 + b, s, t, stream]`` (b, s, t: the indices of B, SNR, trial);
the robust variants as :func:`~dscref.experiments.robust.robust_variants_mAP` does. All from
``seed``: a run is reproducible.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from tqdm.auto import tqdm

from .._validate import check_float, check_int
from ..channel import AWGN, RayleighBlock
from ..channel.capacity import threshold_snr_db
from ..codec import PayloadLayout
from ..index.exact import ExactSearch
from ..index.robust import make_index_robust, robust_label_order
from ..metrics import compute_map
from .data import RetrievalData
from .equal_bandwidth import equal_bandwidth
from .evaluate import build_index
from .robust import _snr_at_fraction, robust_variants_mAP
from .wireless_schemes import (CODED_RATES, ROBUST_VARIANTS, bound_map, clean_ranking, coded_map, digital_plans)

__all__ = ["wireless", "WIRELESS_BANDWIDTHS", "WIRELESS_SNRS", "ANALOG_SCHEMES"]

log = logging.getLogger(__name__)

WIRELESS_BANDWIDTHS = (47, 94, 188, 376)
WIRELESS_SNRS = tuple(float(s) for s in np.arange(-10.0, 30.1, 2.5))
ANALOG_SCHEMES = ("analog JSCC", "analog JSCC + DUC head", "analog JSCC + DSC head")
_HYBRIDS = {"ideal": "hybrid (ideal head)", "conv": "hybrid (conv head)"}


def _bound_name(h: int, m: int, bits: int) -> str:
    return f"ideal bound, {h}x{m} payload ({bits} bits)"


def _analog_curves(data, fading: bool, common: dict, fits: dict) -> dict:
    """The analog and hybrid curves of one channel (two :func:`equal_bandwidth` calls sharing the
    JSCC fits): ``{f"{scheme} @ B={B}": curve}``."""
    out = {}
    for head, schemes in (("ideal", ANALOG_SCHEMES + ("hybrid",)), ("conv", ("hybrid",))):
        res = equal_bandwidth(data, fading=fading, head=head, schemes=schemes, fits=fits, **common)
        for c in res["curves"].values():
            name = _HYBRIDS[head] if c["scheme"] == "hybrid" else c["scheme"]
            family = "hybrid" if c["scheme"] == "hybrid" else "analog"
            out[f"{name} @ B={c['B']}"] = {**c, "scheme": name, "family": family}
    return out


def _empty(name: str, B: int, snrs: list, family: str, **fields) -> dict:
    n = len(snrs)
    return {"scheme": name, "B": B, "family": family, "snr_db": snrs, "mAP": [None] * n, "mAP_std": [None] * n,
            "lost": [None] * n, "wrong": [None] * n, **fields}


def wireless(data: RetrievalData, *, bandwidths=WIRELESS_BANDWIDTHS, snrs=WIRELESS_SNRS, trials: int = 3,
             seed: int = 0, fading: bool = False, block: int = 16, head_size: int = 5, duc_kind: str = "ivf",
             k: int = 1000, rates=CODED_RATES, robust_variants=ROBUST_VARIANTS, p_design: float = 0.01,
             head_scheme: str = "hamming84", fraction: float = 0.9, max_head_share: float = 0.5,
             head_outage: float = 0.01, indexes: dict | None = None, progress: bool = True) -> dict:
    """Fig. 3 at equal bandwidth (module notes).

    Parameters
    ----------
    data : RetrievalData
    bandwidths : sequence of int -- B, complex channel uses per query
    snrs : sequence of float -- SNR in dB per complex use (Es/N0; the average SNR under fading)
    trials : int -- channel realisations per point
    seed : int -- index building, JSCC fitting, robust assignment, every channel draw
    fading : bool -- also the Rayleigh block-fading panels (``block`` uses per gain) beside AWGN's
    head_size : int -- head entries of the full payload and of the analog / hybrid heads
    duc_kind : str -- the DUC index of "analog JSCC + DUC head"
    k : int -- search depth for mAP
    rates : subset of ("1/2", "2/3", "3/4") -- the convolutional code's rates
    robust_variants : subset of :data:`~dscref.experiments.robust.VARIANTS` (``plain`` is the paper's uncoded payload)
    p_design, head_scheme : the robust variants' settings (:func:`robust_variants_mAP`)
    fraction : float in (0, 1] -- the share of a payload's error-free mAP at which gaps are read
    max_head_share, head_outage : the heads of the analog and hybrid schemes (:func:`equal_bandwidth`)
    indexes : dict, optional -- prebuilt {"dsc": ..., duc_kind: ...} indexes with raw features

    Returns
    -------
    dict
        ``panels``: {"awgn": ..., "fading": ...} each with ``curves`` (``f"{scheme} @ B={B}"`` ->
        ``scheme``, ``B``, ``family`` ("analog", "hybrid", "digital", "robust", "bound"),
        ``snr_db``, ``mAP`` (None where the scheme does not fit B), ``mAP_std`` over trials,
        ``lost`` (share answered with nothing), and per digital curve its plan: ``modem``,
        ``rate``, ``head_size``, ``subcodes``, ``info_bits``, ``sent_bits``, ``channel_uses``,
        ``fits``, ``bound`` (the name of its payload's bound curve), ``clean_mAP``) and ``gaps``;
        ``reference`` (error-free mAPs: the clean feature, each payload variant sent);
        ``threshold_snr_db`` (per B, per payload); the parameters; ``total_s``.
    """
    t0 = time.perf_counter()
    bandwidths = [check_int(b, "bandwidth", low=1) for b in bandwidths]
    snrs = [float(s) for s in snrs]
    if not bandwidths or not snrs:
        raise ValueError(f"bandwidths={bandwidths} and snrs={snrs} must both be non-empty")
    trials = check_int(trials, "trials", low=1)
    fraction = check_float(fraction, "fraction", low=0.0, high=1.0, low_open=True)
    head_size = check_int(head_size, "head_size", low=1)
    indexes = {} if indexes is None else indexes
    for kind in ("dsc", duc_kind):
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
    dsc = indexes["dsc"]
    xq = np.asarray(data.xq, dtype=np.float32)
    nq = xq.shape[0]
    heads = np.asarray(data.ranking_q[:, :head_size], dtype=np.int64)
    queries = [dsc.encode_query(xq[q], top_labels=heads[q]) for q in range(nq)]
    layout = PayloadLayout.for_index(dsc, head_size)
    plans = {B: digital_plans(layout, B, rates=rates, robust_variants=robust_variants, head_scheme=head_scheme)
             for B in bandwidths}
    payloads = sorted({(p.head_size, p.subcodes, p.info_bits) for ps in plans.values() for p in ps if p.fits},
                      reverse=True)
    ranking = {(h, m): clean_ranking(dsc, queries, layout, h, m, k) for h, m, _ in payloads}
    clean = {hm: float(compute_map(I, data.gnd)[0]) for hm, I in ranking.items()}
    robust_index = label_order = None
    if any(v != "plain" for v in robust_variants):
        robust_index, label_order = make_index_robust(dsc, p_design), robust_label_order(dsc, p_design)

    common = dict(bandwidths=bandwidths, snrs=snrs, trials=trials, seed=seed, block=block, head_size=head_size,
                  duc_kind=duc_kind, k=k, max_head_share=max_head_share, head_outage=head_outage,
                  indexes=indexes, progress=progress)
    fits: dict = {}
    panels = {}
    for channel in ("awgn", "fading") if fading else ("awgn",):
        fad = channel == "fading"
        curves = _analog_curves(data, fad, common, fits)
        curves.update(_digital_curves(dsc, queries, xq, heads, data.gnd, plans, ranking, clean, snrs, trials, seed,
                                      fad, block, k, p_design, head_scheme, robust_index, label_order, progress))
        panels[channel] = {"curves": curves, "gaps": _gaps(curves, plans, clean, snrs, fraction, fad)}
        log.info("wireless: %s done after %.0f s", channel, time.perf_counter() - t0)
    reference = {"exact search, clean feature": float(compute_map(ExactSearch(data.xb).search(xq, k).I, data.gnd)[0]),
                 "payloads": {f"{h}x{m}": clean[(h, m)] for h, m, _ in payloads}}
    return {"experiment": "wireless", "panels": panels, "bandwidths": bandwidths, "snr_db": snrs,
            "channels": list(panels), "reference": reference,
            "threshold_snr_db": {str(B): {f"{h}x{m}": threshold_snr_db(b, B) for h, m, b in payloads}
                                 for B in bandwidths},
            "plans": {str(B): {p.name: p.describe() for p in ps} for B, ps in plans.items()},
            "fraction": fraction, "fading": fading, "block": block, "trials": trials, "seed": seed,
            "head_size": head_size, "rates": list(rates), "robust_variants": list(robust_variants),
            "p_design": p_design, "head_scheme": head_scheme, "duc_index": duc_kind, "k": k,
            "max_head_share": max_head_share, "head_outage": head_outage, "n_db": int(data.n), "n_queries": nq,
            "snr_definition": "Es/N0 per complex channel use, energy 1 per use on average (all schemes)",
            "total_s": time.perf_counter() - t0}


def _digital_curves(dsc, queries, xq, heads, gnd, plans, ranking, clean, snrs, trials, seed, fading, block, k,
                    p_design, head_scheme, robust_index, label_order, progress) -> dict:
    """The digital, robust and bound curves of one channel."""
    curves = {}
    n_points = sum(len(snrs) * trials for _ in plans)
    bar = tqdm(total=n_points, desc="wireless digital" + (" (fading)" if fading else ""), leave=False,
               disable=not progress)
    for bi, (B, ps) in enumerate(plans.items()):
        bounds = {}
        for p in ps:
            family = "robust" if p.kind == "robust" and p.variant != "plain" else "digital"
            bound = _bound_name(p.head_size, p.subcodes, p.info_bits) if p.fits else None
            curves[f"{p.name} @ B={B}"] = _empty(p.name, B, snrs, family, **p.describe(), bound=bound,
                                                 clean_mAP=clean.get(p.payload))
            if p.fits:
                bounds.setdefault(bound, p)
        for name, p in bounds.items():
            curves[f"{name} @ B={B}"] = _empty(name, B, snrs, "bound", head_size=p.head_size, subcodes=p.subcodes,
                                               info_bits=p.info_bits, channel_uses=B, fits=True,
                                               bounds=[q.name for q in ps if q.fits and q.payload == p.payload],
                                               clean_mAP=clean[p.payload])
        # robust variants (and the paper's uncoded payload), grouped by the modem that fits
        by_modem: dict = {}
        for p in ps:
            if p.kind == "robust" and p.fits:
                by_modem.setdefault(p.modem, []).append(p)
        for modem, group in by_modem.items():
            res = robust_variants_mAP(dsc, xq, heads, gnd, snrs, modem=modem, n_trials=trials, seed=seed,
                                      variants=[p.variant for p in group], k=k, p_design=p_design,
                                      head_scheme=head_scheme, robust_index=robust_index, label_order=label_order,
                                      fading=fading, block=block)
            for p in group:
                c = curves[f"{p.name} @ B={B}"]
                c["mAP"] = [res["mAP"][p.variant][s]["mean"] for s in res["snr_db"]]
                c["mAP_std"] = [res["mAP"][p.variant][s]["std"] for s in res["snr_db"]]
        # coded links and the bounds, point by point
        coded = [p for p in ps if p.kind == "coded" and p.fits]
        for si, snr in enumerate(snrs):
            ch = RayleighBlock(snr, block) if fading else AWGN(snr)
            per: dict = {}
            for t in range(trials):
                def rng(stream):
                    return np.random.default_rng([seed, 1000 + bi, si, t, stream])

                for name, p in bounds.items():  # one stream: under fading every bound sees the same gains
                    per.setdefault(name, []).append(bound_map(ranking[p.payload], p.info_bits, B, ch, rng(0), gnd)
                                                    + (0.0,))
                for j, p in enumerate(coded, start=1):
                    per.setdefault(p.name, []).append(coded_map(dsc, queries, p, ch, rng(j), gnd, k))
                bar.update(1)
            for name, vals in per.items():
                c = curves[f"{name} @ B={B}"]
                m, lost, wrong = np.asarray(vals, dtype=float).T
                c["mAP"][si], c["mAP_std"][si] = float(m.mean()), float(m.std())
                c["lost"][si], c["wrong"][si] = float(lost.mean()), float(wrong.mean())
    bar.close()
    return curves


def _gaps(curves: dict, plans: dict, clean: dict, snrs: list, fraction: float, fading: bool) -> dict:
    """Per digital curve that fits: the SNR at which it first keeps ``fraction`` of its payload's
    error-free mAP, the same for its payload's ideal bound, and the gap in dB (None where a curve
    never reaches the level on the SNR grid)."""
    out = {}
    for B, ps in plans.items():
        for p in ps:
            if not p.fits:
                continue
            c = curves[f"{p.name} @ B={B}"]
            target = fraction * clean[p.payload]
            have = _snr_at_fraction(snrs, c["mAP"], target)
            if fading:
                b = curves[f"{c['bound']} @ B={B}"]["mAP"]
                bound = _snr_at_fraction(snrs, b, target)
            else:  # the bound is a step at the Shannon threshold
                bound = threshold_snr_db(p.info_bits, B)
                bound = None if math.isinf(bound) else bound
            out[f"{p.name} @ B={B}"] = {"scheme": p.name, "B": B, "target_mAP": target, "snr_bound_db": bound,
                                        "snr_scheme_db": have,
                                        "gap_db": None if have is None or bound is None else have - bound}
    return out
