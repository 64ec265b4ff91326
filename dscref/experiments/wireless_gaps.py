"""The gap of each digital curve of the equal-bandwidth Fig. 3 to the ideal bound of its payload,
in dB at a fixed mAP.

The level is ``fraction`` (default 0.9) of the payload's error-free mAP, the same for a curve and
its bound (they send the same payload, so they share that ceiling). Per digital curve that fits B:

* **the scheme's SNR**: the smallest SNR from which its mAP stays at or above the level
  (:func:`~dscref.experiments.robust._snr_at_fraction`: linear interpolation), read first on the
  experiment's grid, then on a ``step`` (0.25 dB) grid measured inside the grid interval where the
  curve crosses (the coded curves fall by the whole mAP within 2-3 dB: a 2.5 dB grid alone would
  misplace the crossing by up to a dB);
* **the bound's SNR**: on AWGN the Shannon threshold ``10 log10(2^(b/B) - 1)`` of its b
  information bits in B uses (the bound is a step there); under Rayleigh block fading the average
  SNR at which the ideal code's outage probability is ``1 - fraction`` (its expected mAP is
  ``(1 - P_out)`` times the error-free one, outage being independent of the query), found by
  bisection over a fixed Monte-Carlo sample of gains (:func:`outage_snr_db`);
* ``gap_db`` = scheme's SNR - bound's SNR (None where a curve never reaches the level).
"""

from __future__ import annotations

import math

import numpy as np

from ..channel import RayleighBlock
from ..channel.capacity import outage_probability, threshold_snr_db
from .robust import _snr_at_fraction

__all__ = ["outage_snr_db", "gaps"]

_FINE_SALT = 7919  # the refinement's draws are not the grid's


def outage_snr_db(n_bits: int, n_uses: int, block: int, p_out: float, *, seed=0, n_draws: int = 10000,
                  lo: float = -30.0, hi: float = 80.0, tol: float = 0.01) -> float | None:
    """The average SNR (dB) at which an ideal code sending ``n_bits`` in ``n_uses`` complex uses
    over Rayleigh block fading (``block`` uses per gain) is in outage with probability ``p_out``.

    Bisection to ``tol`` dB in ``[lo, hi]``; every evaluation draws the same ``n_draws`` gains
    (:func:`~dscref.channel.capacity.outage_probability` from ``seed``), so the estimate is
    monotone in the SNR. None when even ``hi`` dB leaves a larger outage.
    """
    def out(snr):
        return outage_probability(n_bits, n_uses, RayleighBlock(snr, block), n_draws=n_draws, seed=seed)

    if out(hi) > p_out:
        return None
    if out(lo) <= p_out:
        return lo
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if out(mid) <= p_out else (mid, hi)
    return 0.5 * (lo + hi)


def _refine(run, B: int, bi: int, pi: int, plan, a: float, b: float, step: float) -> tuple:
    """mAP means of ``plan`` at the SNRs strictly inside (a, b) on a ``step`` grid."""
    fine = [float(s) for s in np.arange(a + step, b - 1e-9, step)]
    if not fine:
        return [], []
    if plan.kind == "robust":
        means, _ = run.robust_means([plan], fine, run.seed + _FINE_SALT)[plan.variant]
        return fine, means
    out = []
    for j, snr in enumerate(fine):
        vals = run.point(B, [plan], {}, snr, (2000 + bi, 100 * pi + j))[plan.name]
        out.append(float(np.mean([v[0] for v in vals])))
    return fine, out


def gaps(run, curves: dict, plans: dict, snrs: list, fraction: float, step: float = 0.25) -> dict:
    """Per digital curve that fits (``f"{scheme} @ B={B}"``): ``target_mAP``, ``snr_bound_db``,
    ``snr_scheme_db``, ``gap_db`` and the refinement (``fine_snr_db``, ``fine_mAP``), for the
    curves of a :class:`~dscref.experiments.wireless_schemes.DigitalRun` ``run``."""
    out, bound_snr = {}, {}
    for bi, (B, ps) in enumerate(plans.items()):
        for pi, p in enumerate(ps):
            if not p.fits:
                continue
            c = curves[f"{p.name} @ B={B}"]
            target = fraction * run.clean[p.payload]
            maps = c["mAP"]
            have, fine_s, fine_m = _snr_at_fraction(snrs, maps, target), [], []
            if have is not None and have > snrs[0]:
                i = next(i for i in range(len(snrs)) if all(m >= target for m in maps[i:]))
                fine_s, fine_m = _refine(run, B, bi, pi, p, snrs[i - 1], snrs[i], step)
                have = _snr_at_fraction([snrs[i - 1], *fine_s, snrs[i]], [maps[i - 1], *fine_m, maps[i]], target)
            key = (p.info_bits, B)
            if key not in bound_snr:
                if run.fading:
                    bound_snr[key] = outage_snr_db(p.info_bits, B, run.block, 1.0 - fraction, seed=run.seed)
                else:  # the bound is a step at the Shannon threshold
                    thr = threshold_snr_db(p.info_bits, B)
                    bound_snr[key] = None if math.isinf(thr) else thr
            bound = bound_snr[key]
            out[f"{p.name} @ B={B}"] = {"scheme": p.name, "B": B, "target_mAP": target, "snr_bound_db": bound,
                                        "snr_scheme_db": have,
                                        "gap_db": None if have is None or bound is None else have - bound,
                                        "fine_snr_db": fine_s, "fine_mAP": fine_m}
    return out
