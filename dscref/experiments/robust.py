"""Channel-robust coding (beyond the paper): the DSC payload's bit-error-robust variants over a
noisy digital channel, their mAP vs SNR and the SNR each needs to keep a fraction of its mAP.

:func:`robust_variants_mAP` sends every query's payload through a soft-output
:class:`~dscref.link.Link` (one transmission per query) and decodes it the way each variant
prescribes:

============================ ============================================================
variant                      index / head / codes
============================ ============================================================
``plain``                    plain index, hard head (codec policy), hard codes
``robust_assignment``        robust PQ index assignment + robust label order, hard decoding
``soft_adc``                 plain index, hard head, soft-decision ADC on the code LLRs
``protected_head``           plain index, head channel-coded (``head_scheme``), hard decoding
``soft_head``                plain index, ML head over the K valid labels, hard codes
``all``                      robust index + label order, protected head decoded soft-in then
                             ML over valid labels, soft-decision ADC
============================ ============================================================

Bandwidth: the protected variants keep all PQ bytes and pay with *extra* channel uses for the
head (e.g. 50 head bits -> 104 coded bits with the extended Hamming (8,4) code: 47 -> 53
payload bytes, 188 -> 212 QPSK channel uses). ``channel_uses`` in the result reports it per
variant; :func:`robust` compares at equal bandwidth by lowering the SNR of the protected variants
by ``10 log10(uses / uses_plain)`` dB.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._validate import as_float_matrix, as_generator, as_int_array, check_int
from ..channel import AWGN, Modem, RayleighBlock
from ..codec import PayloadLayout, ProtectedLayout
from ..index.robust import make_index_robust, robust_label_order
from ..link import Link
from ..metrics import compute_map
from .data import RetrievalData
from .evaluate import build_index

__all__ = ["VARIANTS", "robust_variants_mAP", "robust"]

VARIANTS = ("plain", "robust_assignment", "soft_adc", "protected_head", "soft_head", "all")

# variant -> (robust index, protected head, head decoding, code decoding)
_SPEC = {
    "plain": (False, False, "hard", "hard"),
    "robust_assignment": (True, False, "hard", "hard"),
    "soft_adc": (False, False, "hard", "soft"),
    "protected_head": (False, True, "hard", "hard"),
    "soft_head": (False, False, "soft", "hard"),
    "all": (True, True, "soft", "soft"),
}


def robust_variants_mAP(index, xq, head_labels, gnd, snr_db_list, modem="qpsk", n_trials: int = 5,
                        seed=0, variants=VARIANTS, k: int = 100, metric: str = "l2",
                        p_design: float = 0.01, head_scheme: str = "hamming84", policy: str = "drop",
                        robust_index=None, label_order=None, fading: bool = False, block: int = 16):
    """mAP per (variant, SNR) over a digital channel with the payload of eq. (12).

    Parameters
    ----------
    index : InvertedPQIndex with a head (e.g. SemanticIndex), built
    xq : ndarray (nq, d) float32 -- query features
    head_labels : ndarray (nq, h) int -- each query's head (DSC: classifier top-5)
    gnd : list of dict {"ok": ids, "junk": ids}, one per query
    snr_db_list : sequence of float -- Es/N0 in dB (the average SNR under fading)
    modem : {"bpsk", "qpsk", "16qam", "64qam", "256qam"} or Modem
    n_trials : int -- independent channel realisations per SNR
    seed : int -- all channel noise derives from it (same noise for every variant)
    variants : subset of :data:`VARIANTS`
    k, metric : passed to ``index.search``
    p_design : float -- design bit-error probability of the robust assignment
    head_scheme : {"rep3", "hamming84"} -- protection of the protected variants
    policy : codec policy for hard-decoded invalid / repeated labels
    robust_index, label_order : optional precomputed :func:`make_index_robust` /
        :func:`robust_label_order` results (the optimisation over every per-partition PQ of a
        large index takes a while; compute once and reuse).
    fading, block : Rayleigh block fading with ``block`` uses per gain (each payload its own
        transmission), or AWGN (default).

    Returns
    -------
    dict with ``"snr_db"``, ``"variants"``, ``"mAP"`` {variant: {snr: {"mean", "std", "trials"}}},
    ``"ber"`` {variant: {snr: mean raw BER}}, ``"channel_uses"`` {variant: per query},
    ``"payload_bits"`` {variant: bits}, ``"mAP_clean"`` {variant: error-free mAP}.
    """
    from ..index.base import InvertedPQIndex

    if not isinstance(index, InvertedPQIndex):
        raise TypeError(f"expected a dscref InvertedPQIndex, got {type(index).__name__}")
    xq = as_float_matrix(xq, "xq", d=index.d_)
    heads = as_int_array(head_labels, "head_labels", ndim=2, low=0, high=index.n_lists)
    if heads.shape[0] != xq.shape[0] or len(gnd) != xq.shape[0]:
        raise ValueError(f"xq ({xq.shape[0]}), head_labels ({heads.shape[0]}) and gnd ({len(gnd)}) "
                         "must have one entry per query")
    n_trials = check_int(n_trials, "n_trials", low=1)
    variants = tuple(variants)
    bad = [v for v in variants if v not in _SPEC]
    if bad:
        raise ValueError(f"unknown variants {bad}; choose from {list(VARIANTS)}")
    modem = modem if isinstance(modem, Modem) else Modem(modem)
    layout = PayloadLayout.for_index(index, head_size=heads.shape[1])
    need_robust = any(_SPEC[v][0] for v in variants)
    if need_robust:
        if robust_index is None:
            robust_index = make_index_robust(index, p_design)
        if label_order is None and layout.head_size:
            label_order = robust_label_order(index, p_design)

    # the sent queries, per variant family (robust index or not) and head protection
    def build(v):
        rob, prot, _, _ = _SPEC[v]
        idx = robust_index if rob else index
        rl = ProtectedLayout(layout, head_scheme if prot else "none")
        order = label_order if rob else None
        queries = [idx.encode_query(xq[i], top_labels=heads[i]) for i in range(xq.shape[0])]
        return idx, rl, order, queries

    cache, setup = {}, {}
    for v in variants:
        key = (_SPEC[v][0], _SPEC[v][1])
        if key not in cache:
            cache[key] = build(v)
        setup[v] = cache[key]

    res = {"snr_db": list(map(float, snr_db_list)), "variants": list(variants), "mAP": {}, "ber": {},
           "channel_uses": {}, "payload_bits": {}, "mAP_clean": {}}
    for v in variants:
        idx, rl, order, queries = setup[v]
        res["payload_bits"][v] = rl.n_bits
        res["channel_uses"][v] = -(-rl.n_bits // modem.bits_per_symbol)
        res["mAP_clean"][v] = float(compute_map(idx.search(queries, k=k, metric=metric).I, gnd)[0])
        res["mAP"][v], res["ber"][v] = {}, {}
    for si, snr in enumerate(res["snr_db"]):
        ch = RayleighBlock(snr, block) if fading else AWGN(snr)
        for v in variants:
            idx, rl, order, queries = setup[v]
            _, _, head_dec, code_dec = _SPEC[v]
            link = Link(rl, modem, ch, head=head_dec, codes=code_dec, policy=policy, label_order=order)
            maps, errs, nb = [], 0, 0
            for t in range(n_trials):
                # the same seed for every variant: identical noise where the layouts agree
                rng = as_generator(np.random.SeedSequence([int(seed), si, t]).generate_state(1)[0])
                sent = link.send(queries, rng)  # one transmission per query
                errs += sent.bit_errors
                nb += sent.bits
                maps.append(float(compute_map(idx.search(sent.queries, k=k, metric=metric).I, gnd)[0]))
            res["mAP"][v][snr] = {"mean": float(np.mean(maps)), "std": float(np.std(maps)), "trials": maps}
            res["ber"][v][snr] = errs / max(nb, 1)
    return res


def _snr_at_fraction(snrs, maps, target):
    """Smallest SNR (linear interpolation) from which the mAP stays >= target; None if never."""
    snrs, maps = np.asarray(snrs, float), np.asarray(maps, float)
    ok = maps >= target
    if not ok.any() or not ok[-1]:
        return None
    i = len(ok) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    if i == 0:
        return float(snrs[0])
    x0, x1, y0, y1 = snrs[i - 1], snrs[i], maps[i - 1], maps[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)


def robust(data: RetrievalData, *, snrs=tuple(np.arange(-2.0, 12.1, 2.0)), trials: int = 5, seed: int = 0,
           modem: str = "qpsk", head_size: int = 5, p_design: float = 0.01, head_scheme: str = "hamming84",
           indexes: dict | None = None, k: int = 1000, fraction: float = 0.9) -> dict:
    """Channel-robust coding (beyond the paper): mAP vs SNR for the paper's plain payload, robust
    index assignment, soft-decision ADC, protected head, soft head decoding and all combined,
    on the DSC index; and the SNR at which each keeps ``fraction`` of its noiseless mAP.

    Protected variants spend extra channel uses (reported); ``snr_at_equal_uses`` shifts their
    SNR by ``10 log10(uses / uses_plain)`` so the comparison holds at equal energy per query.
    """
    t_start = time.perf_counter()
    indexes = {} if indexes is None else indexes
    if "dsc" not in indexes:
        indexes["dsc"], _ = build_index("dsc", data, seed=seed)
    dsc = indexes["dsc"]
    res = robust_variants_mAP(dsc, np.asarray(data.xq, np.float32), data.ranking_q[:, :head_size], data.gnd,
                              list(snrs), modem=modem, n_trials=trials, seed=seed, k=k,
                              p_design=p_design, head_scheme=head_scheme)
    uses = res["channel_uses"]
    plain_uses = uses["plain"]
    table = {}
    for v in res["variants"]:
        means = [res["mAP"][v][s]["mean"] for s in res["snr_db"]]
        target = fraction * res["mAP_clean"][v]
        snr_needed = _snr_at_fraction(res["snr_db"], means, target)
        penalty = 10 * math.log10(uses[v] / plain_uses)
        table[v] = {"mAP_clean": res["mAP_clean"][v], "channel_uses": uses[v],
                    "snr_at_fraction": snr_needed,
                    "snr_at_equal_uses": None if snr_needed is None else snr_needed + penalty,
                    "mAP": means, "mAP_std": [res["mAP"][v][s]["std"] for s in res["snr_db"]]}
    base = table["plain"]["snr_at_equal_uses"]
    for v in table:
        t = table[v]["snr_at_equal_uses"]
        table[v]["gain_db_vs_plain"] = None if (t is None or base is None) else base - t
    return {"experiment": "robust", "snr_db": [float(s) for s in res["snr_db"]], "modem": modem,
            "fraction": fraction, "variants": table, "raw": res, "total_s": time.perf_counter() - t_start}
