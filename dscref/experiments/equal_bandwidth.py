"""mAP vs SNR of every scheme at equal bandwidth B and equal energy (issue 21's Fig. 3 material).

At a fixed number B of complex channel uses per query, and energy 1 per use on average (so the
same total energy B), :func:`equal_bandwidth` measures:

* ``analog JSCC``: the feature by the linear JSCC (:class:`~dscref.channel.jscc.LinearJSCC`, PCA
  + optimal linear power allocation + LMMSE, fitted on the database) in B uses, exhaustive exact
  search on the estimate;
* ``analog JSCC + DUC head`` / ``+ DSC head``: the head (``head_size`` labels, 10 bits each at
  K = 1000) digitally in B_h uses, the feature by the linear JSCC in ``B - B_h``; exact search
  inside the lists the received head names (:class:`~dscref.hybrid.HybridLink` without centroids);
* ``ideal digital``: the DSC payload of eq. (12) (47 bytes = 376 bits at the defaults) with a
  capacity-achieving code (:func:`~dscref.channel.capacity.ideal_delivery`): a delivered query
  is searched with its exact payload, a lost one gets no answer (AP 0). It bounds every
  separation scheme that must deliver that payload intact;
* ``hybrid``: the DSC head digitally, the residual to the head's first partition centroid by
  the linear JSCC fitted on the database residuals (:class:`~dscref.hybrid.HybridLink`).

The head's code (``head``):

* ``"ideal"`` (:class:`~dscref.hybrid.IdealHead`, capacity-achieving): B_h is the fewest uses
  whose outage probability at the point's SNR is at most ``head_outage`` (on AWGN: whose
  capacity carries the head), at most ``max_head_share * B``; below that SNR the head is sent
  in that many uses and is lost on AWGN, so the head schemes answer nothing there;
* ``"conv"``: a CRC-16 and the K = 7 convolutional code, soft Viterbi, a head the CRC rejects
  lost (:class:`~dscref.hybrid.ConvHead`): at each B the most robust rate and modem whose head
  fits ``max_head_share * B`` uses (:meth:`ConvHead.fitting <dscref.hybrid.ConvHead.fitting>`;
  rate 1/2 or 3/4, QPSK to 256-QAM), whatever the SNR;
* a scheme of :mod:`dscref.fec` by name (``"rep3"``, ``"hamming84"``, ``"none"``:
  :class:`~dscref.hybrid.FecHead` over QPSK, fixed B_h, no error detection);
* an int (an ideal head in that many uses), or any head coder object (e.g. a
  :class:`~dscref.hybrid.ConvHead` of a chosen rate and modem).

Points a scheme cannot reach (``B_h >= B``, or no convolutional head fits) are reported as ``None``.

The analog JSCC and the ideal bound of one (B, SNR, trial) draw from the same seed, so under
fading they see the same gains. The equal-bandwidth Fig. 3 (:mod:`~dscref.experiments.wireless`,
``dscref reproduce wireless``) calls it for its analog and hybrid curves.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from tqdm.auto import tqdm

from .._validate import check_float, check_int
from ..channel import AWGN, RayleighBlock
from ..channel.capacity import ideal_delivery, min_uses, outage_probability, threshold_snr_db
from ..channel.jscc import LinearJSCC
from ..codec import PayloadLayout
from ..hybrid import ConvHead, FecHead, HybridLink, IdealHead, search_received
from ..index.exact import ExactSearch
from ..metrics import compute_map
from .data import RetrievalData
from .evaluate import build_index, head_labels
from .fig2 import list_of_items

__all__ = ["equal_bandwidth", "EQUAL_BANDWIDTH_SCHEMES"]

log = logging.getLogger(__name__)

EQUAL_BANDWIDTH_SCHEMES = ("analog JSCC", "analog JSCC + DUC head", "analog JSCC + DSC head", "ideal digital",
                           "hybrid")


def _ideal_head_uses(n_bits: int, channel, cap: int, outage: float, seed: int) -> int:
    """The fewest uses (at most ``cap``) in which an ideal head's outage on ``channel`` is at most
    ``outage`` (exact on AWGN, Monte Carlo under fading); ``cap`` when none is."""
    key = (n_bits, repr(channel), cap, outage, seed)
    if key not in _HEAD_USES:
        if len(_HEAD_USES) > 100_000:
            _HEAD_USES.clear()
        _HEAD_USES[key] = _fewest_head_uses(n_bits, channel, cap, outage, seed)
    return _HEAD_USES[key]


_HEAD_USES: dict = {}  # (n_bits, channel, cap, outage, seed) -> uses: the same head is sized once


def _fewest_head_uses(n_bits: int, channel, cap: int, outage: float, seed: int) -> int:
    lo = max(1, min_uses(n_bits, channel.snr_db))  # below the AWGN capacity nothing arrives
    if not isinstance(channel, RayleighBlock):  # AWGN: outage 0 from lo uses on, 1 below
        return min(lo, cap)
    if lo >= cap or outage_probability(n_bits, cap, channel, seed=seed) > outage:
        return cap
    hi = cap  # outage(hi) <= target: bisect for the smallest such count
    while lo < hi:
        mid = (lo + hi) // 2
        if outage_probability(n_bits, mid, channel, seed=seed) <= outage:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _head_coder(head, n_bits: int, B: int, channel, max_share: float, outage: float, seed: int):
    """The head coder of one point, or None when the head leaves no analog use."""
    if isinstance(head, str) and head == "ideal":
        cap = max(1, int(math.floor(max_share * B)))
        coder = IdealHead(_ideal_head_uses(n_bits, channel, cap, outage, seed))
    elif isinstance(head, str) and head == "conv":
        coder = ConvHead.fitting(n_bits, int(math.floor(max_share * B)))
    elif isinstance(head, str):
        coder = FecHead(head, "qpsk")
    elif isinstance(head, (int, np.integer)) and not isinstance(head, bool):
        coder = IdealHead(int(head))
    elif callable(getattr(head, "uses", None)) and callable(getattr(head, "send", None)):
        coder = head
    else:
        raise TypeError(f"head must be 'ideal', 'conv', a dscref.fec scheme name, an int or a head coder "
                        f"with uses() and send(), got {head!r}")
    return coder if coder is not None and coder.uses(n_bits) < B else None


def equal_bandwidth(data: RetrievalData, *, bandwidths=(47, 188), snrs=tuple(range(-10, 11, 5)),
                    trials: int = 3, seed: int = 0, fading: bool = False, block: int = 16,
                    head_size: int = 5, duc_kind: str = "ivf", k: int = 1000, head="ideal",
                    max_head_share: float = 0.5, head_outage: float = 0.01, per_partition: bool = False,
                    min_group_size: int | None = None, indexes: dict | None = None,
                    schemes=EQUAL_BANDWIDTH_SCHEMES, fits: dict | None = None, progress: bool = True) -> dict:
    """mAP vs SNR at equal bandwidth for the schemes of the module notes.

    Parameters
    ----------
    data : RetrievalData
    bandwidths : sequence of int
        B values, complex channel uses per query.
    snrs : sequence of float
        SNR in dB (Es/N0 per complex use; the average SNR under fading).
    trials : int
        Channel realisations per point (mean and standard deviation reported).
    seed : int
        Index building, JSCC fitting and every channel draw.
    fading, block : Rayleigh block fading with ``block`` uses per gain, or AWGN.
    head_size : int
        Head labels sent by the head schemes and inside the ideal-bound payload.
    duc_kind : str
        The DUC index of ``analog JSCC + DUC head`` (``make_index`` kind).
    k : int
        Search depth for mAP.
    head : "ideal", "conv", fec scheme name, int or head coder
        The head's code (module notes).
    max_head_share : float in (0, 1)
        The largest share of B an ``"ideal"`` head may take.
    head_outage : float in (0, 1)
        An ``"ideal"`` head takes the fewest uses whose outage probability at the point's
        (average) SNR is at most this (:func:`~dscref.channel.capacity.outage_probability`:
        the AWGN threshold, a Monte-Carlo estimate under fading), capped by ``max_head_share``.
    per_partition : bool
        Fit the JSCC with one PCA per head partition (the head's first label as side
        information; small partitions share one, see :class:`LinearJSCC` ``min_group_size``).
    min_group_size : int, optional
        :class:`LinearJSCC`'s threshold for an own PCA (default ``4 * 2 * max(bandwidths)`` rows).
    indexes : dict, optional
        Prebuilt {"dsc": ..., duc_kind: ...} indexes holding their raw features (reused).
    schemes : subset of :data:`EQUAL_BANDWIDTH_SCHEMES`
        The schemes measured (the others' curves are absent from the result).
    fits : dict, optional
        A cache of the fitted JSCC models, filled on the first call and reused by a later call
        with the same data, seed, bandwidths and PCA options (e.g. the same schemes with another
        head code).

    Returns
    -------
    dict
        ``curves``: ``f"{scheme} @ B={B}"`` -> {"scheme", "B", "snr_db", "mAP" (None where
        unreachable), "mAP_std", "head_uses" (digital uses: B for the ideal bound),
        "analog_uses", "lost" (share of queries answered with nothing: head or payload lost),
        "head_wrong" (heads used although wrong), "mse" (squared error of the server's vector,
        over the rows whose head arrived), "head_code" (the head coder used, None where the
        scheme sends no head or does not fit)}, each list one value per SNR (mean over trials);
        ``reference``: the error-free mAPs (exact search on clean features, DSC payload);
        ``threshold_snr_db``: the ideal payload's AWGN threshold per B; the parameters.
    """
    t0 = time.perf_counter()
    bandwidths = [check_int(b, "bandwidth", low=1) for b in bandwidths]
    if isinstance(schemes, str) or not set(schemes) <= set(EQUAL_BANDWIDTH_SCHEMES) or not len(schemes):
        raise ValueError(f"schemes={schemes!r}: choose a non-empty subset of {list(EQUAL_BANDWIDTH_SCHEMES)}")
    schemes = [n for n in EQUAL_BANDWIDTH_SCHEMES if n in schemes]
    snrs = [float(s) for s in snrs]
    trials = check_int(trials, "trials", low=1)
    head_size = check_int(head_size, "head_size", low=1)
    max_head_share = check_float(max_head_share, "max_head_share", low=0.0, high=1.0, low_open=True,
                                 high_open=True)
    head_outage = check_float(head_outage, "head_outage", low=0.0, high=1.0, low_open=True, high_open=True)
    indexes = {} if indexes is None else indexes
    for kind in ("dsc", duc_kind):
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
    dsc, duc = indexes["dsc"], indexes[duc_kind]
    nq = data.xq.shape[0]
    xq = np.asarray(data.xq, dtype=np.float32)
    heads = {"dsc": np.stack([head_labels(dsc, "dsc", data, q, head_size) for q in range(nq)]),
             "duc": np.stack([head_labels(duc, duc_kind, data, q, head_size) for q in range(nq)])}
    head_nbits = {"dsc": head_size * dsc.label_bits, "duc": head_size * duc.label_bits}

    # fitted once; redesign() gives each (B, SNR) its allocation
    n_comp = 2 * max(bandwidths)
    xb = np.asarray(data.xb, dtype=np.float32)
    groups = {"dsc": list_of_items(dsc), "duc": list_of_items(duc)}

    fits = {} if fits is None else fits
    fit_key = (seed, n_comp, per_partition, min_group_size, duc_kind, head_size)

    def jscc(which):
        """The JSCC model of ``which`` ("plain", "dsc", "duc", "residual"), fitted on first use."""
        key = fit_key + (which if per_partition or which == "residual" else "plain",)
        if key not in fits:
            g = None if key[-1] == "plain" else groups["dsc" if key[-1] == "residual" else key[-1]]
            x = xb - dsc.centroids_[groups["dsc"]] if key[-1] == "residual" else xb
            fits[key] = LinearJSCC(1, 0.0, n_components=n_comp, min_group_size=min_group_size,
                                   seed=seed).fit(x, g if per_partition else None)
        return fits[key]

    exact = ExactSearch(xb)
    layout = PayloadLayout.for_index(dsc, head_size)
    payload_bits = 8 * layout.nbytes
    clean_q = [dsc.encode_query(xq[q], top_labels=heads["dsc"][q]) for q in range(nq)]
    I_digital = dsc.search(clean_q, k=k).I
    reference = {"exact search, clean feature": float(compute_map(exact.search(xq, k).I, data.gnd)[0]),
                 "DSC, error-free payload": float(compute_map(I_digital, data.gnd)[0])}

    curves = {}
    for B in bandwidths:
        for name in schemes:
            curves[f"{name} @ B={B}"] = {"scheme": name, "B": B, "snr_db": snrs, "mAP": [], "mAP_std": [],
                                         "head_uses": [], "analog_uses": [], "lost": [],
                                         "head_wrong": [], "mse": [], "head_code": []}
    bar = tqdm(total=len(bandwidths) * len(snrs) * trials, desc="equal bandwidth", leave=False,
               disable=not progress)
    for bi, B in enumerate(bandwidths):
        for si, snr in enumerate(snrs):
            ch = RayleighBlock(snr, block) if fading else AWGN(snr)
            coders = {key: _head_coder(head, head_nbits[key], B, ch, max_head_share, head_outage, seed)
                      for key in ("dsc", "duc")}
            B_h = {key: None if c is None else c.uses(head_nbits[key]) for key, c in coders.items()}
            per = {name: {"mAP": [], "lost": [], "head_wrong": [], "mse": []} for name in schemes}
            uses = {"analog JSCC": (0, B), "ideal digital": (B, 0)}  # (digital, analog) uses per query
            for t in range(trials):
                def rng(sid):
                    return np.random.default_rng([seed, bi, si, t, sid])

                if "analog JSCC" in per:  # no head: all B uses (stream 0, shared with the ideal bound)
                    res = jscc("plain").redesign(B, snr).send(xq, ch, rng(0))
                    per["analog JSCC"]["mAP"].append(compute_map(exact.search(res.received, k).I, data.gnd)[0])
                    per["analog JSCC"]["lost"].append(0.0)
                    per["analog JSCC"]["mse"].append(float(((res.received - xq) ** 2).sum(1).mean()))
                if "ideal digital" in per:  # delivered -> the exact payload's ranking, lost -> nothing
                    ok = ideal_delivery(payload_bits, B, ch, nq, rng(0)).delivered
                    per["ideal digital"]["mAP"].append(compute_map(np.where(ok[:, None], I_digital, -1),
                                                                   data.gnd)[0])
                    per["ideal digital"]["lost"].append(float(1.0 - ok.mean()))
                for sid, (name, key, which, centroids) in enumerate((
                        ("analog JSCC + DUC head", "duc", "duc", None),
                        ("analog JSCC + DSC head", "dsc", "dsc", None),
                        ("hybrid", "dsc", "residual", dsc.centroids_)), start=1):
                    if coders[key] is None or name not in per:
                        continue
                    index = dsc if key == "dsc" else duc
                    link = HybridLink(jscc(which).redesign(B - B_h[key], snr), coders[key], n_lists=index.n_lists,
                                      centroids=centroids)
                    got = link.send(xq, heads[key], ch, rng(sid))
                    uses[name] = (got.head_uses, got.analog_uses)
                    per[name]["mAP"].append(compute_map(search_received(index, got, k).I, data.gnd)[0])
                    per[name]["lost"].append(float(1.0 - got.head_ok.mean()))
                    per[name]["head_wrong"].append(float(got.head_wrong.mean()))
                    used = got.head_ok
                    per[name]["mse"].append(float(((got.vectors[used] - xq[used]) ** 2).sum(1).mean())
                                            if used.any() else None)
                bar.update(1)
            for name in schemes:
                c = curves[f"{name} @ B={B}"]
                vals = per[name]["mAP"]
                c["mAP"].append(float(np.mean(vals)) if vals else None)
                c["mAP_std"].append(float(np.std(vals)) if vals else None)
                for key in ("lost", "head_wrong", "mse"):
                    v = [x for x in per[name][key] if x is not None]
                    c[key].append(float(np.mean(v)) if v else None)
                c["head_uses"].append(uses.get(name, (None, None))[0])
                c["analog_uses"].append(uses.get(name, (None, None))[1])
                coder = coders["duc" if "DUC" in name else "dsc"] if "head" in name or name == "hybrid" else None
                c["head_code"].append(None if coder is None else repr(coder))
            log.info("B=%d SNR %.1f dB: %s", B, snr, {n: curves[f"{n} @ B={B}"]["mAP"][-1] for n in schemes})
    bar.close()
    return {"experiment": "equal_bandwidth", "curves": curves, "reference": reference,
            "threshold_snr_db": {str(B): threshold_snr_db(payload_bits, B) for B in bandwidths},
            "payload_bits": payload_bits, "head_bits": head_nbits["dsc"],
            "head": head if isinstance(head, str) else repr(head), "schemes": schemes,
            "fading": fading, "block": block, "trials": trials, "seed": seed, "head_size": head_size,
            "max_head_share": max_head_share, "head_outage": head_outage, "min_group_size": min_group_size,
            "duc_index": duc_kind, "per_partition": per_partition, "n_db": int(data.n), "n_queries": nq,
            "snr_definition": "Es/N0 per complex channel use, energy 1 per use on average (all schemes)",
            "total_s": time.perf_counter() - t0}
