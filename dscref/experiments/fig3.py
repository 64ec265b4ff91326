"""Fig. 3 of Wang & Qi: mAP vs channel SNR for the analog feature and for digital payloads.

Every curve's chain goes through :mod:`dscref.link`: the analog feature through an
:class:`~dscref.link.AnalogLink` (searched exhaustively with :class:`~dscref.index.exact.ExactSearch`),
the DSC or DUC head beside it through :meth:`Link.send_heads <dscref.link.Link.send_heads>`, the
47-byte payloads through :meth:`Link.send <dscref.link.Link.send>`; each trial's payloads travel
back to back as one burst.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tqdm.auto import tqdm

from .._validate import as_generator, check_int
from ..channel import AWGN, RayleighBlock, channel_uses
from ..codec import PayloadLayout
from ..index.exact import ExactSearch
from ..link import AnalogLink, Link
from ..metrics import compute_map
from ..query import Query
from .data import RetrievalData
from .evaluate import build_index, head_labels

__all__ = ["fig3"]

log = logging.getLogger(__name__)


def _channel(snr_db: float, fading: bool, block: int):
    return RayleighBlock(snr_db, block) if fading else AWGN(snr_db)


def _analog_head_ranking(index, received, rx: np.ndarray, k: int) -> np.ndarray:
    """Exact search of the received analog features ``rx`` inside the lists each received head
    names (``received``: the :class:`~dscref.link.Received` of :meth:`Link.send_heads`); a head
    that lost every label searches to an empty row. Returns I (nq, k) int64."""
    queries = [Query(labels=r.labels, codes=None, vector=rx[qi]) for qi, r in enumerate(received)]
    return index.search(queries, k=k).I


def fig3(data: RetrievalData, *, snrs=tuple(np.arange(-20.0, 10.1, 2.5)), trials: int = 5, seed: int = 0,
         modems=("bpsk", "qpsk"), fading: bool = False, block: int = 16, head_size: int = 5,
         duc_kind: str = "ivf", k: int = 1000, indexes: dict | None = None, policy: str = "drop") -> dict:
    """Fig. 3: mAP vs channel SNR for the analog feature and for digital payloads.

    Curves (each labelled with its bandwidth B in complex channel uses):

    * ``analog``: the 2048-d feature, power-normalised, complex baseband (1024 uses), exhaustive
      exact search on the noisy feature;
    * ``analog+DSC head``: the same plus the 7-byte head sent by QPSK at the same SNR; exact
      search inside the partitions the received head names;
    * ``analog+DUC head``: its twin with the DUC index's head (the ``head_size`` cells nearest to
      the query, ``duc_kind`` index, 7 bytes at K = 1000), the same B; exact search inside the
      cells the received head names;
    * ``PQ+DUC head (<modem>)`` / ``PQ+DSC head (<modem>)``: the 47-byte payload (head + five
      8-byte residual codes) sent by BPSK / QPSK, decoded (invalid labels dropped) and searched.

    SNR is P / sigma^2 per complex channel use (Es/N0 for the digital links, the analog link
    normalised to the same energy per use). ``trials`` independent channel realisations per point
    give the mean and standard deviation of the mAP.
    """
    t_start = time.perf_counter()
    trials = check_int(trials, "trials", low=1)
    indexes = {} if indexes is None else indexes
    for kind in ("dsc", duc_kind):
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
    dsc, duc = indexes["dsc"], indexes[duc_kind]
    nq, d = data.xq.shape
    xq = np.asarray(data.xq, dtype=np.float32)
    layouts = {"dsc": PayloadLayout.for_index(dsc, head_size), "duc": PayloadLayout.for_index(duc, head_size)}
    # the transmitted queries are fixed; only the channel varies
    queries = {}
    for key, index, kind in (("dsc", dsc, "dsc"), ("duc", duc, duc_kind)):
        queries[key] = [index.encode_query(xq[qi], top_labels=head_labels(index, kind, data, qi, head_size))
                        for qi in range(nq)]
    exact = ExactSearch(data.xb)  # the analog curves' exhaustive search (row norms kept)

    curves: dict = {}
    bw = {"analog": channel_uses(dim=d, complex_baseband=True)}
    for key in ("dsc", "duc"):
        bw[f"analog+{key.upper()} head"] = (channel_uses(dim=d, complex_baseband=True)
                                            + channel_uses(nbits=8 * layouts[key].head_bytes, modem="qpsk"))
    for m in modems:
        for key in ("duc", "dsc"):
            bw[f"PQ+{key.upper()} head ({m})"] = channel_uses(nbytes=layouts[key].nbytes, modem=m)
    for name in bw:
        curves[name] = {"B": bw[name], "snr_db": [float(s) for s in snrs], "mAP": [], "mAP_std": [], "ber": []}
    rng = as_generator(seed)
    bar = tqdm(total=len(snrs) * trials, desc="Fig. 3", leave=False)
    for snr in snrs:
        ch = _channel(float(snr), fading, block)
        analog = AnalogLink(ch, complex_baseband=True)
        head_links = {key: Link(layouts[key], "qpsk", ch, policy=policy, burst=True) for key in ("dsc", "duc")}
        links = {(m, key): Link(layouts[key], m, ch, policy=policy, burst=True)
                 for m in modems for key in ("duc", "dsc")}
        per = {name: [] for name in curves}
        ber = {name: [] for name in curves}
        for _ in range(trials):
            # analog feature (complex baseband, per-query power normalisation)
            rx = analog.send(xq, rng)
            per["analog"].append(compute_map(exact.search(rx, k).I, data.gnd)[0])
            # analog feature + DSC head, then + DUC head (head bits over QPSK)
            for key, index in (("dsc", dsc), ("duc", duc)):
                name = f"analog+{key.upper()} head"
                heads = head_links[key].send_heads(queries[key], rng)
                per[name].append(compute_map(_analog_head_ranking(index, heads.received, rx, k), data.gnd)[0])
                ber[name].append(heads.ber)
            # digital payloads
            for m in modems:
                for key, index in (("duc", duc), ("dsc", dsc)):
                    name = f"PQ+{key.upper()} head ({m})"
                    sent = links[m, key].send(queries[key], rng)
                    I = index.search(sent.queries, k=k).I  # an all-dropped head: an empty row
                    per[name].append(compute_map(I, data.gnd)[0])
                    ber[name].append(sent.ber)
            bar.update(1)
        for name in curves:
            curves[name]["mAP"].append(float(np.mean(per[name])))
            curves[name]["mAP_std"].append(float(np.std(per[name])))
            curves[name]["ber"].append(float(np.mean(ber[name])) if ber[name] else None)
        log.info("Fig. 3 SNR %.1f dB: %s", snr, {n: round(curves[n]["mAP"][-1], 3) for n in curves})
    bar.close()
    return {"experiment": "fig3", "curves": curves, "fading": fading, "block": block, "trials": trials,
            "duc_index": duc_kind, "snr_definition": "P / sigma^2 per complex channel use (Es/N0 for digital)",
            "total_s": time.perf_counter() - t_start}
