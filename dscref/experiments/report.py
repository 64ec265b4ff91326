"""The experiments' output files: ``results.json`` (the numbers with the parameters, versions and
data they came from) and its PNG.

:func:`write_results` stores one run's result with its ``meta`` block (:func:`result_meta`);
:func:`write_document` stores a document that already holds one (a combination over seeds). Both
write atomically and draw the PNG through :func:`~dscref.experiments.plots.plot_results`
(matplotlib, imported only when plotting). :func:`jsonable` turns NumPy values into JSON ones.
The text and markdown tables are in :mod:`~dscref.experiments.tables`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
from pathlib import Path

import numpy as np

from .. import __version__
from .._files import atomic_write_text
from .data import RetrievalData
from .plots import plot_results

__all__ = ["write_results", "write_document", "result_meta", "jsonable"]

log = logging.getLogger(__name__)


def result_meta(params: dict, data: RetrievalData) -> dict:
    """The ``meta`` block of ``results.json``: versions, machine, parameters and the data's sizes."""
    import numba
    import scipy

    return {"dscref": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "python": platform.python_version(),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "params": params, "data": {"name": data.name, "n_db": int(data.n), "d": int(data.xb.shape[1]),
                                       "n_queries": int(len(data.xq)), "n_lists": int(data.n_lists),
                                       **{k: v for k, v in data.info.items()}}}


def jsonable(o):
    """``o`` with NumPy scalars / arrays as Python numbers / lists and NaN / inf as None (JSON null)."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    return o


def write_results(out_dir, result: dict, data: RetrievalData, params: dict) -> Path:
    """``out_dir/results.json`` (parameters, versions, timings, every number) and a PNG plot."""
    return write_document(out_dir, {"meta": result_meta(params, data), **result})


def write_document(out_dir, doc: dict) -> Path:
    """``out_dir/results.json`` holding ``doc`` (a result with its ``meta`` block) and the PNG."""
    out = Path(out_dir)
    atomic_write_text(out / "results.json", json.dumps(jsonable(doc), indent=2))
    try:
        plot_results(doc, out)
    except ImportError as exc:  # matplotlib is a dependency; only a broken install lands here
        if not _NO_PLOT_WARNED:
            log.warning("no PNG written (%s): matplotlib cannot be imported; reinstall dscref or "
                        "`pip install matplotlib`", exc)
            _NO_PLOT_WARNED.append(True)
    return out / "results.json"


_NO_PLOT_WARNED: list = []


# the names before they were public
_meta = result_meta
_jsonable = jsonable
