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

``gaps`` (:mod:`~dscref.experiments.wireless_gaps`) gives, per digital curve, the SNR at which it
first keeps ``fraction`` (0.9) of its payload's error-free mAP (read on a 0.25 dB grid inside the
grid step where it crosses) and the SNR at which the ideal bound of the same payload does (on
AWGN the Shannon threshold ``10 log10(2^(b/B) - 1)``; under fading where the outage probability
is ``1 - fraction``), and their difference in dB.

Reading the curves:

* a digital scheme that takes fewer than B uses (the coded payloads, sized by whole head
  entries) leaves the rest empty and spends less energy than B; the bound uses all B uses;
* the coded payload's CRC-16 covers the whole message (``crc_scope="message"``): a query is
  answered only with its payload intact, so a coded curve lies at or below its payload's bound
  (``wrong`` per point counts CRC misses, about 2^-16 of the rejected payloads); ``intact`` counts
  exact payloads (none arrive well below the threshold: no code beats capacity). (Before dscref
  0.3.0 the CRC covered the head only, and just below the threshold a head that passed with
  sub-code errors left could lift a coded curve a hair above the bound.)
* the coded payloads shrink the head first (:mod:`dscref.codec.budget`), and on the calibrated
  benchmark fewer head entries search fewer distractor partitions: their error-free mAP
  (``clean_mAP``, ``reference["payloads"]``) can exceed the full payload's. Each curve is read
  against its own payload's ceiling and bound.

Random draws: the analog and hybrid schemes draw as :func:`equal_bandwidth` does; the coded links
and the bounds from ``[seed, 1000 + b, s, t, stream]`` (b, s, t: the indices of B, SNR, trial);
the robust variants as :func:`~dscref.experiments.robust.robust_variants_mAP` does. All from
``seed``: a run is reproducible.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .._validate import check_float, check_int
from ..channel.capacity import threshold_snr_db
from ..codec import PayloadLayout
from ..index.exact import ExactSearch
from ..index.robust import make_index_robust, robust_label_order
from ..metrics import compute_map
from .data import RetrievalData
from .equal_bandwidth import equal_bandwidth
from .evaluate import build_index
from .wireless_gaps import gaps
from .wireless_schemes import CODED_RATES, ROBUST_VARIANTS, DigitalRun, clean_ranking, digital_plans

__all__ = ["wireless", "WIRELESS_BANDWIDTHS", "WIRELESS_SNRS", "ANALOG_SCHEMES"]

log = logging.getLogger(__name__)

WIRELESS_BANDWIDTHS = (47, 94, 188, 376)
WIRELESS_SNRS = tuple(float(s) for s in np.arange(-10.0, 30.1, 2.5))
ANALOG_SCHEMES = ("analog JSCC", "analog JSCC + DUC head", "analog JSCC + DSC head")
_HYBRIDS = {"ideal": "hybrid (ideal head)", "conv": "hybrid (conv head)"}


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


def wireless(data: RetrievalData, *, bandwidths=WIRELESS_BANDWIDTHS, snrs=WIRELESS_SNRS, trials: int = 3,
             seed: int = 0, fading: bool = False, block: int = 16, head_size: int = 5, duc_kind: str = "ivf",
             k: int = 1000, rates=CODED_RATES, robust_variants=ROBUST_VARIANTS, p_design: float = 0.01,
             head_scheme: str = "hamming84", fraction: float = 0.9, max_head_share: float = 0.5,
             head_outage: float = 0.01, gap_step: float = 0.25, indexes: dict | None = None,
             progress: bool = True) -> dict:
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
    gap_step : float > 0 -- the SNR step (dB) of the grid on which a gap's crossing is refined
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
    gap_step = check_float(gap_step, "gap_step", low=0.0, low_open=True)
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
        digital = DigitalRun(dsc, xq, queries, heads, data.gnd, ranking, clean, trials=trials, seed=seed, fading=fad,
                             block=block, k=k, p_design=p_design, head_scheme=head_scheme,
                             robust_index=robust_index, label_order=label_order, progress=progress)
        curves.update(digital.curves(plans, snrs))
        panels[channel] = {"curves": curves, "gaps": gaps(digital, curves, plans, snrs, fraction, gap_step)}
        log.info("wireless: %s done after %.0f s", channel, time.perf_counter() - t0)
    reference = {"exact search, clean feature": float(compute_map(ExactSearch(data.xb).search(xq, k).I, data.gnd)[0]),
                 "payloads": {f"{h}x{m}": clean[(h, m)] for h, m, _ in payloads}}
    return {"experiment": "wireless", "panels": panels, "bandwidths": bandwidths, "snr_db": snrs,
            "channels": list(panels), "reference": reference,
            "threshold_snr_db": {str(B): {f"{h}x{m}": threshold_snr_db(b, B) for h, m, b in payloads}
                                 for B in bandwidths},
            "plans": {str(B): {p.name: p.describe() for p in ps} for B, ps in plans.items()},
            "fraction": fraction, "gap_step": gap_step, "fading": fading, "block": block, "trials": trials, "seed": seed,
            "head_size": head_size, "rates": list(rates), "robust_variants": list(robust_variants),
            "p_design": p_design, "head_scheme": head_scheme, "duc_index": duc_kind, "k": k,
            "max_head_share": max_head_share, "head_outage": head_outage, "n_db": int(data.n), "n_queries": nq,
            "snr_definition": "Es/N0 per complex channel use, energy 1 per use on average (all schemes)",
            "total_s": time.perf_counter() - t0}
