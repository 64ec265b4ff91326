"""The paper's claims, one by one, tested on combined multi-seed results.

Wang & Qi state their conclusions in words and single numbers (Sec. IV): DSC needs a head of 5
where k-means needs 30 (Fig. 2), DSC is the best raw index and DSC+PQ beats every DUC+PQ row
(Table I), the semantic head "improves the performance significantly" over the channel (Fig. 3).
:func:`paper_claims` turns each into a *margin* measured per data seed -- positive when the
claim holds in that seed, and *paired*: both sides of a comparison come from the same seed's data
-- and states a verdict from the margin's 95 % confidence interval over the seeds
(:func:`~dscref.experiments.combine.verdict`): ``holds`` (the interval lies above 0), ``flips``
(below 0) or ``within noise``. Head sizes are read on Fig. 2's grid of head sizes (a seed that never reaches
the target counts as infinitely large; the signs of the per-seed margins then decide). Fig. 3's
claims are read at the top of the paper's SNR range (5 dB) and at 0 dB.

The inputs are the combined documents ``dscref reproduce`` writes (``OUT/<experiment>/results.json``,
:func:`~dscref.experiments.seeds.combine_seeds`); single-seed documents work too (one value per
margin, the verdict from its sign). Every claim records the paper's numbers beside ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .combine import ci95_halfwidth, per_seed_values, verdict
from .paper import PAPER_FIG2, PAPER_FIG2_DATASETS, PAPER_TABLE1, SCALES

__all__ = ["paper_claims", "load_results", "format_claims", "VERDICTS"]

VERDICTS = ("holds", "flips", "within noise")
_RAW = ("DUC-G+P", "DUC-IVF", "DUC-IMI")
_PQ = ("DUC+PQ", "DUC-IVF+PQ", "DUC-IMI+PQ")
_T1_COLS = ("mAP", "Recall", "R@1", "R@10", "R@100")
_FIG3_SNRS = (5.0, 0.0)  # the top of the paper's SNR range (-20..5 dB), and its middle-high


def _stats(values) -> dict:
    """Mean and 95 % half-width of the finite values; ``n_missing`` counts the others (a head size
    never reached, a missing value), which are ``None`` in ``values``."""
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    ok = np.isfinite(v)
    return {"mean": float(v[ok].mean()) if ok.any() else None,
            "ci95": ci95_halfwidth(v[ok]) if ok.sum() > 1 else None,
            "values": [float(x) if f else None for x, f in zip(v, ok)], "n_missing": int((~ok).sum())}


def _claim(experiment: str, data: str, claim: str, paper, margin, sides: dict | None = None) -> dict:
    m = list(margin)
    return {"experiment": experiment, "data": data, "claim": claim, "paper": paper,
            "ours": {k: _stats(v) for k, v in (sides or {}).items()},
            "margin": _stats(m), "verdict": verdict(m)}


# --------------------------------------------------------------------------- Table I
def _rows(doc: dict) -> dict:
    return {r["label"]: r for r in doc["rows"]}


def _col(rows: dict, label: str, col: str) -> list:
    return [np.nan if v is None else float(v) for v in per_seed_values(rows[label][col])]


def _scale_key(doc: dict) -> str | None:
    n = (doc.get("meta") or {}).get("data", {}).get("n_db")
    n = per_seed_values(n)[0] if n is not None else None
    return {v: k for k, v in SCALES.items()}.get(n)


def _data_name(doc: dict) -> str:
    data = (doc.get("meta") or {}).get("data") or doc.get("data") or {}
    n = per_seed_values(data.get("n_db"))[0] if data.get("n_db") is not None else None
    return f"{data.get('name', '?')}" + (f", {int(n):,} items" if n is not None else "")


def _diff(rows, a, b, col="mAP"):
    return np.subtract(_col(rows, a, col), _col(rows, b, col))


def _table1_claims(doc: dict) -> list:
    rows, key, name = _rows(doc), _scale_key(doc), _data_name(doc)
    paper = PAPER_TABLE1.get(key, {})

    def p(label, col="mAP"):
        return paper[label][_T1_COLS.index(col)] if label in paper else None

    out = []
    for other in _RAW:
        if {"DSC", other} <= rows.keys():
            out.append(_claim("table1", name, f"DSC > {other}, raw features (mAP)",
                              {"DSC": p("DSC"), other: p(other)}, _diff(rows, "DSC", other),
                              {"DSC": _col(rows, "DSC", "mAP"), other: _col(rows, other, "mAP")}))
    if {"DSC", "DUC-IVF"} <= rows.keys():
        out.append(_claim("table1", name, "DSC's candidate lists hold more positives than DUC-IVF's (Recall)",
                          {"DSC": p("DSC", "Recall"), "DUC-IVF": p("DUC-IVF", "Recall")},
                          _diff(rows, "DSC", "DUC-IVF", "Recall"),
                          {"DSC": _col(rows, "DSC", "Recall"), "DUC-IVF": _col(rows, "DUC-IVF", "Recall")}))
    for other in _PQ:
        if {"DSC+PQ", other} <= rows.keys():
            out.append(_claim("table1", name, f"DSC+PQ > {other} (mAP, 40 code bytes)",
                              {"DSC+PQ": p("DSC+PQ"), other: p(other)}, _diff(rows, "DSC+PQ", other),
                              {"DSC+PQ": _col(rows, "DSC+PQ", "mAP"), other: _col(rows, other, "mAP")}))
    # not the paper's claims: the audit's question, whether DSC+PQ wins by quantizer capacity
    for a, b, text in (("DSC+PQ (shared PQ)", "DUC-IVF+PQ", "DSC+PQ > DUC-IVF+PQ with one shared PQ each "
                        "(equal codebook capacity; ablation, not in the paper)"),
                       ("DSC+PQ", "DSC+PQ (shared PQ)", "per-partition PQs help DSC+PQ "
                        "(ablation, not in the paper)")):
        if {a, b} <= rows.keys():
            out.append(_claim("table1", name, text, None, _diff(rows, a, b),
                              {a: _col(rows, a, "mAP"), b: _col(rows, b, "mAP")}))
    if {"DSC", "DSC+PQ"} <= rows.keys():
        kept = np.divide(_col(rows, "DSC+PQ", "mAP"), _col(rows, "DSC", "mAP"))
        ref = None if p("DSC") is None else p("DSC+PQ") / p("DSC")
        # "only a slight drop" made a number: DSC+PQ keeps at least the share the paper's table shows
        out.append(_claim("table1", name, "PQ costs DSC only a slight drop: DSC+PQ keeps the paper's share "
                          f"of DSC's mAP ({'-' if ref is None else format(ref, '.2f')})",
                          {"DSC+PQ / DSC": ref}, kept - (ref if ref is not None else 0.9),
                          {"DSC+PQ / DSC": kept}))
    return out


# --------------------------------------------------------------------------- Fig. 2
def _heads(doc: dict, kind: str) -> list:
    rec = doc["head_size_for_target"].get(kind)
    vals = per_seed_values(rec) if rec is not None else []
    return [np.inf if v is None else float(v) for v in vals]


def _recall_at(doc: dict, kind: str, h: int) -> list | None:
    c = doc["curves"].get(kind)
    if c is None or h not in c["head_sizes"]:
        return None
    i = c["head_sizes"].index(h)
    return [float(v[i]) for v in per_seed_values(c["recall"])]


def _fig2_claims(doc: dict, paper_index: int | None) -> list:
    name, out = _data_name(doc), []

    def p(kind):
        return PAPER_FIG2[kind][paper_index]

    def paper(**sides):  # the paper's head sizes on this data set, None where it has no Fig. 2 curve
        return None if paper_index is None else {k: p(v) for k, v in sides.items()}

    target = doc.get("target", 0.9)
    target = float(per_seed_values(target)[0])
    dsc5 = _recall_at(doc, "dsc", 5)
    if dsc5 is not None:
        out.append(_claim("fig2", name, f"DSC reaches {target:.0%} recall with a head of 5",
                          paper(**{"DSC head": "dsc"}), np.subtract(dsc5, target), {"DSC recall@5": dsc5}))
    for kind in ("ivf", "imi"):
        if kind in doc["head_size_for_target"] and "dsc" in doc["head_size_for_target"]:
            label = {"ivf": "DUC-IVF", "imi": "DUC-IMI"}[kind]
            a, b = _heads(doc, kind), _heads(doc, "dsc")
            margin = [x - y if not (np.isinf(x) and np.isinf(y)) else np.nan for x, y in zip(a, b)]
            out.append(_claim("fig2", name, f"DSC needs a smaller head than {label} for {target:.0%} recall",
                              paper(**{"DSC": "dsc", label: kind}), margin, {"DSC": b, label: a}))
    ivf5 = _recall_at(doc, "ivf", 5)
    if dsc5 is not None and ivf5 is not None:
        out.append(_claim("fig2", name, "DSC's recall > DUC-IVF's at the paper's head of 5",
                          None, np.subtract(dsc5, ivf5), {"DSC": dsc5, "DUC-IVF": ivf5}))
    return out


# --------------------------------------------------------------------------- Fig. 3
def _fig3_claims(doc: dict) -> list:
    curves, name, out = doc["curves"], _data_name(doc), []

    def at(label, i):
        return [float(v[i]) for v in per_seed_values(curves[label]["mAP"])]

    def index(label, snr):
        snrs = curves[label]["snr_db"]
        return snrs.index(snr) if snr in snrs else None

    for modem in ("bpsk", "qpsk"):
        dsc, duc = f"PQ+DSC head ({modem})", f"PQ+DUC head ({modem})"
        if {dsc, duc} <= curves.keys():
            for snr in _FIG3_SNRS:
                if (i := index(dsc, snr)) is not None:
                    out.append(_claim("fig3", name, f"the semantic head beats the DUC head over the channel "
                                      f"({modem.upper()}, {snr:g} dB)", None,
                                      np.subtract(at(dsc, i), at(duc, i)), {dsc: at(dsc, i), duc: at(duc, i)}))
    if {"analog", "PQ+DSC head (qpsk)"} <= curves.keys() and (i := index("analog", _FIG3_SNRS[0])) is not None:
        a, d = at("analog", i), at("PQ+DSC head (qpsk)", i)
        out.append(_claim("fig3", name, "PQ costs only a slight drop: the 47-byte DSC payload keeps 90 % of "
                          f"the analog feature's mAP ({_FIG3_SNRS[0]:g} dB)", None,
                          np.subtract(d, np.multiply(0.9, a)), {"analog": a, "PQ+DSC head (qpsk)": d}))
    return out


# --------------------------------------------------------------------------- entry points
def paper_claims(docs) -> list:
    """Every claim of the paper that ``docs`` can test.

    Parameters
    ----------
    docs : iterable of dict
        Combined results (``results.json`` of ``table1``, ``fig2``, ``fig2_paper``, ``fig3``), any
        scale; other experiments are ignored.

    Returns
    -------
    list of dict
        One per claim and data set: ``experiment``, ``data``, ``claim``, ``paper`` (the paper's
        numbers, or None), ``ours`` (per side: ``mean``, ``ci95``, per-seed ``values``),
        ``margin`` (the same stats of the per-seed margin) and ``verdict`` (:data:`VERDICTS`).
    """
    out: list = []
    seen: set = set()
    for doc in docs:
        if not isinstance(doc, dict):
            raise TypeError(f"every result must be a dict (a results.json document), got {type(doc).__name__}")
        exp = doc.get("experiment")
        if exp == "table1":
            out += _table1_claims(doc)
        elif exp == "fig2":
            out += _fig2_claims(doc, None)
        elif exp == "fig2_paper":
            for scale, sub in doc["datasets"].items():
                idx = PAPER_FIG2_DATASETS.index(scale) if scale in PAPER_FIG2_DATASETS else None
                out += _fig2_claims(sub, idx)
        elif exp == "fig3":
            out += _fig3_claims(doc)
    unique = []  # a data set given twice (fig2 at 105k alone and inside fig2_paper) counts once
    for c in out:
        if (key := (c["experiment"], c["data"], c["claim"], repr(c["margin"]["values"]))) not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def load_results(paths) -> list:
    """The result documents at ``paths``: JSON files, or folders whose ``*/results.json`` (a
    ``dscref reproduce --out`` folder) and ``*.json`` (a ``docs/results_*`` folder) are read."""
    docs = []
    for p in map(Path, paths):
        files = sorted(p.glob("*/results.json")) + sorted(p.glob("*.json")) if p.is_dir() else [p]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no results.json at {str(p)!r}")
        for f in files:
            with open(f, encoding="utf-8") as fh:
                docs.append(json.load(fh))
    return docs


def _fmt(s: dict, spec: str) -> str:
    text = "-" if s["mean"] is None else format(s["mean"], spec) + (
        "" if s["ci95"] is None else " ± " + format(s["ci95"], spec.lstrip("+")))
    return text + (f" ({s['n_missing']} of {len(s['values'])} seeds: none)" if s["n_missing"] else "")


def _paper_text(paper) -> str:
    if not paper:
        return "-"
    return ", ".join(f"{k} {'-' if v is None else format(v, '.3g')}" for k, v in paper.items())


def format_claims(claims: list, markdown: bool = False) -> str:
    """The claims as a table: data, claim, the paper's numbers, ours (mean ± 95 % half-width per
    side), the margin and the verdict."""
    head = ["data", "claim", "paper", "ours", "margin", "verdict"]
    rows = [[c["data"], c["claim"], _paper_text(c["paper"]),
             "; ".join(f"{k} {_fmt(v, '.3g')}" for k, v in c["ours"].items()),
             _fmt(c["margin"], "+.3f"), c["verdict"]] for c in claims]
    if markdown:
        return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head)] + rows)
    width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    fmt: Callable = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, width)).rstrip()  # noqa: E731
    return "\n".join(fmt(r) for r in [head] + rows)
