"""Sensitivity of the conclusions to the synthetic generator's least certain parameters.

The synthetic benchmark fixes a few parameters that no measurement pins down well. This sweep
varies ONE of them at a time over the values of :data:`SENSITIVITY` (every other parameter at the
generator's default; the default value is added to each parameter's list when missing) and
measures, per setting and seed, what the conclusions rest on:

* Fig. 2: the head size DSC and DUC-IVF need for 90 % candidate recall;
* Table I: the mAP of DSC and DUC-IVF with raw features, and with PQ codes (DSC+PQ, DUC-IVF+PQ);
* the mAP of an exhaustive search of the raw features (the ceiling of every index).

It then states, for each conclusion of :data:`CONCLUSIONS`, whether it holds at every setting:
per setting the per-seed difference (paired: both methods see the same seed's data) is tested
with its 95 % confidence interval -- above zero "holds", below zero "flips", across zero "within
noise" (with one seed, or when a head size never reaches the target, the signs of the per-seed
differences decide). The verdict is ``holds`` (at every setting), or names the settings where
the conclusion ``holds at``, ``flips at`` or is ``within noise at <param>=<value>``.

Each (setting, seed) is one file ``OUT/sensitivity/seeds/<setting>/seed_<s>.json``
(:class:`~dscref.experiments.seeds.SeedFiles`: resumable, parameters checked); the setting at the
generator's defaults is computed once and shared by every parameter.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..index.exact import ExactSearch
from ..metrics import compute_map
from .combine import combine, verdict
from .fig2 import fig2
from .report import result_meta, write_document
from .seeds import SeedFiles, SeedRun, check_seeds, combine_seeds, over_seeds
from .table1 import table1

__all__ = ["SENSITIVITY", "CONCLUSIONS", "METHODS", "sensitivity", "verdict"]

# The swept generator parameters (keywords of dscref.synthetic.make_semantic_dataset) and their
# values; every other parameter stays at the generator's default (added to a list without it).
# The four the generator documents as assumptions or least certain. Edit freely: one line each.
SENSITIVITY = {
    "n_viewpoints": [1.0, 3.0, 6.0],         # mean viewpoints per landmark (an assumption)
    "visibility": [0.75, 0.9, 0.97],         # mean visible share of a landmark photo (the fitted one)
    "label_consistency": [0.2, 0.45, 0.7],   # shared share of a landmark's classifier noise (measured 0.45)
    "scene_share": [0.1, 0.3, 0.6],          # distractors labelled with building/scene classes (an assumption)
}

# Table I's rows measured at each setting, and the exhaustive search of the raw features
METHODS = ("DSC", "DUC-IVF", "DSC+PQ", "DUC-IVF+PQ", "exhaustive")

# (name, claim, per-seed margin: > 0 when the claim holds); head sizes: None (never reached) = inf
CONCLUSIONS = (
    ("smaller_head", "DSC needs a smaller head than DUC-IVF",
     lambda d: _head(d, "ivf") - _head(d, "dsc")),
    ("pq", "DSC+PQ > DUC-IVF+PQ", lambda d: d["mAP"]["DSC+PQ"] - d["mAP"]["DUC-IVF+PQ"]),
    ("raw", "DSC > DUC-IVF raw", lambda d: d["mAP"]["DSC"] - d["mAP"]["DUC-IVF"]),
)


def _head(doc: dict, kind: str) -> float:
    v = doc["head_size_for_target"][kind]
    return np.inf if v is None else float(v)


def _across(rows: dict) -> str:
    """The verdict across the sweep from ``{setting: (verdict, mean margin)}`` (each setting once):
    ``holds``, or where it ``holds`` / ``flips`` / is ``within noise`` ("every setting" when all),
    noting how many of the settings within noise have a mean margin of the wrong sign."""
    if all(v == "holds" for v, _ in rows.values()):
        return "holds"
    parts = []
    for word in ("holds", "flips", "within noise"):
        at = [w for w, (v, _) in rows.items() if v == word]
        if not at:
            continue
        text = f"{word} at " + ("every setting" if len(at) == len(rows) else ", ".join(at))
        reversed_ = sum(1 for w in at if rows[w][1] < 0)
        if word == "within noise" and reversed_:
            text += f" (mean reversed at {reversed_} of them)"
        parts.append(text)
    return "; ".join(parts)


def _generator_defaults() -> dict:
    from ..synthetic import make_semantic_dataset

    return {k: p.default for k, p in inspect.signature(make_semantic_dataset).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _check_table(table: dict) -> dict:
    defaults = _generator_defaults()
    if not isinstance(table, dict) or not table:
        raise ValueError(f"the sweep table must map generator parameters to lists of values, got {table!r}")
    out = {}
    for p, values in table.items():
        if p not in defaults or p in ("seed", "out", "n_db"):
            raise ValueError(f"sensitivity parameter {p!r} is not a generator parameter (keywords of "
                             f"make_semantic_dataset: {', '.join(sorted(defaults))})")
        values = list(values)
        if not values or len(set(values)) != len(values):
            raise ValueError(f"sensitivity parameter {p!r}: values {values} must be distinct and at least one")
        if defaults[p] not in values:  # every parameter's sweep passes through the defaults
            values.append(defaults[p])
        out[p] = {"default": defaults[p], "values": sorted(values)}
    return out


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _setting(param: str, value, default) -> str:
    """A setting's name (and folder): ``defaults``, or ``<param>=<value>``."""
    return "defaults" if value == default else f"{param}={_text(value)}"


def _measure(data, seed: int, options: dict) -> dict:
    """One seed's numbers at one setting: Table I (DSC, DUC-IVF rows), Fig. 2 head sizes, exhaustive mAP."""
    indexes: dict = {}
    t1 = table1(data, seed=seed, kinds=("ivf", "dsc"), indexes=indexes,
                **{"ablations": False, **options.get("table1", {})})
    f2 = fig2(data, seed=seed, kinds=("dsc", "ivf"), indexes=indexes, **options.get("fig2", {}))
    k = options.get("table1", {}).get("k", 1000)
    exh = ExactSearch(data.xb).search(np.asarray(data.xq, np.float32), k=min(k, data.n)).I
    by = {r["label"]: r for r in t1["rows"]}
    return {"head_size_for_target": f2["head_size_for_target"], "target": f2["target"],
            "mAP": {**{m: by[m]["mAP"] for m in METHODS[:4]}, "exhaustive": float(compute_map(exh, data.gnd)[0])},
            "Recall": {m: by[m]["Recall"] for m in METHODS[:4]}}


def sensitivity(load: Callable, seeds, out_dir, *, params: dict, table: dict | None = None,
                options: dict | None = None, fresh: bool = False) -> SeedRun:
    """Sweep the generator parameters of ``table`` (default :data:`SENSITIVITY`) one at a time.

    Parameters
    ----------
    load : callable(seed, **generator_overrides) -> RetrievalData (synthetic data)
    seeds : sequence of distinct ints >= 0 -- the data seeds of every setting
    out_dir : folder; writes ``out_dir/sensitivity/results.json``, ``sensitivity.png`` and the
        per-setting, per-seed files under ``out_dir/sensitivity/seeds/``
    params : dict -- the run's parameters (recorded; compared on reuse, with the setting's overrides)
    table : {generator parameter: [values]}
    options : {"table1": kwargs, "fig2": kwargs} for the measured experiments (e.g. ``M``,
        ``nbits``, ``k``; ``head_sizes``)
    fresh : bool -- recompute files that exist

    Returns
    -------
    SeedRun with ``results["sensitivity"]``: ``parameters`` {param: {"default", "values"}},
    ``methods``, ``target``, ``settings`` (one per parameter value: ``parameter``, ``value``,
    ``is_default``, and the combined ``head_size_for_target``, ``mAP``, ``Recall``) and
    ``conclusions`` (``name``, ``claim``, ``verdict``, per setting ``margin`` and ``verdict``).
    """
    t0 = time.perf_counter()
    sweep = _check_table(SENSITIVITY if table is None else table)
    seeds = check_seeds(seeds)
    options = dict(options or {})
    out = Path(out_dir) / "sensitivity"
    base = {k: v for k, v in params.items() if k != "seeds"}
    overrides = {}
    for p, spec in sweep.items():
        for v in spec["values"]:
            overrides.setdefault(_setting(p, v, spec["default"]), {} if v == spec["default"] else {p: v})
    stores = {key: SeedFiles(out / "seeds" / key, {**base, "overrides": ov}, fresh=fresh)
              for key, ov in overrides.items()}

    def compute(key, seed, state):
        data = load(seed, **overrides[key])
        doc = _measure(data, seed, options)
        return {"meta": result_meta({**base, "overrides": overrides[key], "seed": seed}, data), **doc}

    run = SeedRun()
    docs = over_seeds(seeds, stores, compute, run)
    settings, conclusions = [], []
    for p, spec in sweep.items():
        for v in spec["values"]:
            key = _setting(p, v, spec["default"])
            body = combine([{k: d[k] for k in ("head_size_for_target", "mAP", "Recall")} for d in docs[key]])
            settings.append({"parameter": p, "value": v, "is_default": v == spec["default"], "setting": key, **body})
    for name, claim, margin in CONCLUSIONS:
        per, rows = [], {}
        for s in settings:
            margins = [float(margin(d)) for d in docs[s["setting"]]]
            v = verdict(margins)
            per.append({"parameter": s["parameter"], "value": s["value"], "verdict": v,
                        "margin": combine([m if np.isfinite(m) else None for m in margins])})
            with np.errstate(invalid="ignore"):
                rows["the defaults" if s["is_default"] else s["setting"]] = (v, float(np.mean(margins)))
        conclusions.append({"name": name, "claim": claim, "verdict": _across(rows), "settings": per})
    # the data block of meta: the data at the generator's defaults (else at the first setting)
    first = docs["defaults"] if "defaults" in docs else docs[next(iter(docs))]
    doc = combine_seeds(first, seeds, base)
    doc = {"meta": doc["meta"], "experiment": "sensitivity", "seeds": seeds, "parameters": sweep,
           "methods": list(METHODS), "target": first[0]["target"], "settings": settings,
           "conclusions": conclusions, "total_s": time.perf_counter() - t0}
    run.results["sensitivity"] = doc
    run.paths["sensitivity"] = write_document(out, doc)
    return run
