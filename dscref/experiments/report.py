"""The experiments' output: results as JSON (with parameters and versions), PNG plots, text tables.

:func:`write_results` stores ``results.json`` atomically and a PNG through :func:`plot_results`
(matplotlib, imported only when plotting); ``format_table1`` / ``format_fig2`` /
``format_fig2_paper`` / ``format_fig3`` / ``format_robust`` turn a result into the text
``dscref reproduce`` prints. Plot titles name the data (``data_label``).
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
from .._files import atomic_open, atomic_write_text
from ..index.factory import INDEX_NAMES
from .data import RetrievalData
from .paper import PAPER_TABLE1

__all__ = ["write_results", "plot_results", "data_label", "format_table1", "format_fig2", "format_fig2_paper",
           "format_fig3", "format_robust"]

log = logging.getLogger(__name__)


def _meta(params: dict, data: RetrievalData | None) -> dict:
    """The ``meta`` block of ``results.json``: versions, machine, parameters and the data's sizes
    (``data=None``: a result over several data sets, which records each one itself)."""
    import numba
    import scipy

    meta = {"dscref": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "python": platform.python_version(),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "params": params}
    if data is not None:
        meta["data"] = {"name": data.name, "n_db": int(data.n), "d": int(data.xb.shape[1]),
                        "n_queries": int(len(data.xq)), "n_lists": int(data.n_lists),
                        **{k: v for k, v in data.info.items()}}
    return meta


def data_label(data: RetrievalData | None) -> str | None:
    """How plot titles name the data: ``"synthetic oxford5k-like, 5,062 items"``."""
    return None if data is None else f"{data.name}, {data.n:,} items"


def _jsonable(o):
    """``o`` with NumPy scalars / arrays as Python numbers / lists and NaN / inf as None (JSON null)."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    return o


def write_results(out_dir, result: dict, data: RetrievalData | None, params: dict) -> Path:
    """``out_dir/results.json`` (parameters, versions, timings, every number) and a PNG plot whose
    title names ``data`` (None for a result over several data sets, e.g. ``fig2_paper``)."""
    out = Path(out_dir)
    doc = {"meta": _meta(params, data), **result}
    atomic_write_text(out / "results.json", json.dumps(_jsonable(doc), indent=2))
    try:
        plot_results(result, out, data_label=data_label(data))
    except ImportError as exc:  # matplotlib is a dependency; only a broken install lands here
        if not _NO_PLOT_WARNED:
            log.warning("no PNG written (%s): matplotlib cannot be imported; reinstall dscref or "
                        "`pip install matplotlib`", exc)
            _NO_PLOT_WARNED.append(True)
    return out / "results.json"


_NO_PLOT_WARNED: list = []


def _fig2_axes(ax, result: dict) -> None:
    for kind, c in result["curves"].items():
        # G+P's cells are IVF's (its curve lies on IVF's): dashed, so that both show
        ax.plot(c["head_sizes"], c["recall"], marker="o", ms=3, ls="--" if kind == "gp" else "-",
                label=INDEX_NAMES[kind])
    ax.set_xscale("log")
    ax.axhline(result["target"], color="grey", ls=":", lw=1)
    ax.set_xlabel("code head size (partitions probed)")


def _plot_fig2_paper(result: dict, out: Path) -> Path:
    """One panel per data set of a ``fig2_paper`` result, the paper's head size for 90 % in the legend."""
    import matplotlib.pyplot as plt

    per = result["datasets"]
    fig, axes = plt.subplots(1, len(per), figsize=(3.6 * len(per), 3.8), sharey=True, squeeze=False)
    for ax, (scale, r) in zip(axes[0], per.items()):
        _fig2_axes(ax, r)
        paper = {k: v.get(scale) for k, v in result["paper_head_size_for_90pct"].items()}
        note = ", ".join(f"{INDEX_NAMES[k]} {v}" for k, v in paper.items() if v is not None)
        ax.set_title(f"{r['data']['name']}\n{r['data']['n_db']:,} items"
                     + (f"; paper 90 %: {note}" if note else ""), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Recall (positives in the candidate list)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Fig. 2: head size vs recall, per data set", fontsize=10)
    fig.tight_layout()
    path = Path(out) / "fig2.png"
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def plot_results(result: dict, out: Path, data_label: str | None = None) -> Path | None:
    """``out/<experiment>.png``: the result's curves or bars (matplotlib, imported here, Agg
    backend); the title names ``data_label`` when given (``fig2_paper``: ``out/fig2.png``, one
    panel per data set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = result["experiment"]
    if exp == "fig2_paper":
        return _plot_fig2_paper(result, out)
    if data_label is None and isinstance(result.get("data"), dict):
        data_label = f"{result['data']['name']}, {result['data']['n_db']:,} items"
    suffix = f"\n{data_label}" if data_label else ""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if exp == "fig2":
        _fig2_axes(ax, result)
        ax.set_ylabel("Recall (positives in the candidate list)")
        ax.set_title("Fig. 2: head size vs recall" + suffix)
    elif exp == "fig3":
        for name, c in result["curves"].items():
            ax.errorbar(c["snr_db"], c["mAP"], yerr=c["mAP_std"], marker="o", ms=3, capsize=2,
                        label=f"{name}, B={c['B']}")
        ax.set_xlabel("SNR (dB) per complex channel use" + (" (Rayleigh block fading)" if result["fading"] else " (AWGN)"))
        ax.set_ylabel("mAP")
        ax.set_title("Fig. 3: mAP vs SNR" + suffix)
    elif exp == "robust":
        for v, t in result["variants"].items():
            ax.errorbar(result["snr_db"], t["mAP"], yerr=t["mAP_std"], marker="o", ms=3, capsize=2,
                        label=f"{v}, B={t['channel_uses']}")
        ax.set_xlabel(f"Es/N0 (dB), {result['modem'].upper()} over AWGN")
        ax.set_ylabel("mAP")
        ax.set_title("Channel-robust coding of the DSC payload" + suffix)
    elif exp == "table1":
        _plot_table1(ax, result["rows"], fig, result.get("k", 1000))
        ax.set_title("Table I" + (suffix or (" (dscref, synthetic)" if "synthetic" in str(out) else "")))
    else:  # pragma: no cover
        return None
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out) / f"{exp}.png"
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def _mib(nbytes) -> str:
    """Bytes in MiB for a table cell: 2 decimals below 10 MiB, whole MiB above."""
    v = nbytes / 2**20
    return f"{v:.{2 if v < 10 else 0}f} MiB"


def _plot_table1(ax, rows: list, fig, k: int = 1000) -> None:
    """Table I's bars (mAP, Recall and, when the rows have it, Recall@k per row); each PQ row's
    codebook MiB above its bars; the rows not in the paper (ablations) right of a dashed separator."""
    x = np.arange(len(rows))
    rk = f"Recall@{k}"
    bars = [("mAP", "mAP"), ("Recall", "Recall (candidate list)")]
    bars += [(rk, f"{rk} (returned top {k})")] if rows and all(rk in r for r in rows) else []
    w = 0.8 / len(bars)
    for i, (key, label) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * w, [r[key] for r in rows], w, label=label)
    ax.set_xticks(x, [r["label"] for r in rows], rotation=40, ha="right", fontsize=7)
    for i, r in enumerate(rows):
        if not r.get("raw", False) and "codebook_bytes" in r:
            ax.text(i, max(r["mAP"], r["Recall"]) + 0.02, _mib(r["codebook_bytes"]).replace(" MiB", ""),
                    ha="center", va="bottom", fontsize=6, rotation=90)
    first = next((i for i, r in enumerate(rows) if not r.get("in_paper", True)), None)
    if first is not None:
        ax.axvline(first - 0.5, color="grey", ls="--", lw=1)
        ax.text(first - 0.4, 1.12, "ablations (not in the paper)", fontsize=7, va="top", color="grey")
    if any("codebook_bytes" in r for r in rows):
        ax.set_ylabel("mAP / Recall (numbers: codebooks, MiB)")
        ax.set_ylim(0, 1.3)
        fig.set_size_inches(max(6.4, 0.45 * len(rows) + 2), 5.0)


def format_table1(result: dict, scale_key: str | None = None) -> str:
    """Table I as text, the paper's numbers beside ours where the paper gives them.

    After "Recall" (positives in the candidate list, the paper's column) our ``Recall@k``
    (positives in the ``k`` items returned), a column the paper does not have. Every PQ row shows
    the bytes of its index's codebooks ("codebooks": coarse centroids + residual quantizers) and
    how many lists have a quantizer of their own ("own PQ"); the raw-feature rows search exact
    distances, so these are "-" there. Rows not in the paper (``in_paper: False``, the
    ablations) follow a separator, with "-" in the paper column.
    """
    paper = PAPER_TABLE1.get(scale_key or "", {})
    cols = ("mAP", "Recall", "R@1", "R@10", "R@100")
    rk = f"Recall@{result.get('k', 1000)}"
    rows = result["rows"]
    w = max([12] + [len(r["label"]) for r in rows])
    lines = [f"{'Index':<{w}} {'M':>5} {'Head':>4} " + " ".join(f"{c:>13}" for c in cols[:2]) + f" {rk:>11} "
             + " ".join(f"{c:>13}" for c in cols[2:]) + f" {'cands':>8} {'bytes':>6} {'ms/q':>6} {'codebooks':>10} {'own PQ':>6}",
             f"{'':<{w}} {'':>5} {'':>4} " + " ".join(f"{'ours / paper':>13}" for _ in cols[:2]) + f" {'ours':>11} "
             + " ".join(f"{'ours / paper':>13}" for _ in cols[2:])
             + f"   (Recall: positives in the candidate list; {rk}: in the {result.get('k', 1000)} returned)"]
    sep = False
    for r in rows:
        in_paper = r.get("in_paper", True)
        if not in_paper and not sep:
            sep = True
            lines.append("-" * 8 + " ablations, not in the paper (quantizer capacity; see codebooks, own PQ) "
                         + "-" * 8)
        p = paper.get(r["label"]) if in_paper else None
        cells = [f"{r[c]:.3f} / {p[i]:.3f}" if p else f"{r[c]:.3f} /   -  " for i, c in enumerate(cols)]
        ours_k = f"{r[rk]:.3f}" if rk in r else "-"
        pq_row = not r.get("raw", False) and "codebook_bytes" in r
        cap = (f" {_mib(r['codebook_bytes']):>10} {r['own_pq_lists']:>6}" if pq_row else f" {'-':>10} {'-':>6}")
        lines.append(f"{r['label']:<{w}} {r['M']:>5} {str(r['head']):>4} " + " ".join(f"{c:>13}" for c in cells[:2])
                     + f" {ours_k:>11} " + " ".join(f"{c:>13}" for c in cells[2:])
                     + f" {r['candidates']:>8.0f} {r['bytes']:>6} {r['query_ms']:>6.1f}" + cap)
    return "\n".join(lines)


def format_fig2(result: dict) -> str:
    """Fig. 2 as text: recall per head size and index, and the head size each needs for the target."""
    lines = ["head size  " + "  ".join(f"{INDEX_NAMES[k]:>8}" for k in result["curves"])]
    sizes = sorted({h for c in result["curves"].values() for h in c["head_sizes"]})
    for h in sizes:
        cells = []
        for c in result["curves"].values():
            cells.append(f"{c['recall'][c['head_sizes'].index(h)]:>8.3f}" if h in c["head_sizes"] else f"{'-':>8}")
        lines.append(f"{h:>9}  " + "  ".join(cells))
    need = ", ".join(f"{INDEX_NAMES[k]}: {v if v is not None else '>max'}" for k, v in result["head_size_for_target"].items())
    lines.append(f"head size for {result['target']:.0%} recall: {need}  "
                 "(paper, Oxford5k/Paris6k/Holidays: DSC 5/5/5, DUC-IVF 30/30/5, DUC-IMI -/200/100)")
    return "\n".join(lines)


def format_fig2_paper(result: dict) -> str:
    """A ``fig2_paper`` result as text: each data set's curves (:func:`format_fig2`), then the
    head size each index needs for the target recall per data set beside the paper's."""
    lines = []
    for scale, r in result["datasets"].items():
        lines += [f"-- {scale}: {r['data']['name']}, {r['data']['n_db']:,} items, {r['data']['n_queries']} queries",
                  *format_fig2(r).splitlines()[:-1]]
    scales = list(result["datasets"])
    lines.append(f"head size for {result['target']:.0%} recall, ours / paper ('>max': not reached, "
                 "'-': the paper has no value):")
    lines.append(f"{'index':<9}" + "".join(f"{s:>14}" for s in scales))
    paper = result["paper_head_size_for_90pct"]
    for kind, row in result["head_size_for_target"].items():
        cells = []
        for s in scales:
            ours = row.get(s)
            p = paper.get(kind, {}).get(s)
            cells.append(f"{ours if ours is not None else '>max'} / {p if p is not None else '-'}")
        lines.append(f"{INDEX_NAMES[kind]:<9}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def format_fig3(result: dict) -> str:
    """Fig. 3 as text: mAP +- std per SNR and curve, with each curve's channel uses B."""
    names = list(result["curves"])
    snrs = result["curves"][names[0]]["snr_db"]
    lines = ["SNR dB  " + "  ".join(f"{n[:22]:>22}" for n in names),
             "B uses  " + "  ".join(f"{result['curves'][n]['B']:>22}" for n in names)]
    for i, s in enumerate(snrs):
        lines.append(f"{s:>6.1f}  " + "  ".join(
            f"{result['curves'][n]['mAP'][i]:>14.3f} ± {result['curves'][n]['mAP_std'][i]:.3f}" for n in names))
    return "\n".join(lines)


def format_robust(result: dict) -> str:
    """The robust-coding experiment as text: per variant its channel uses, clean mAP, SNR needed and gain."""
    lines = [f"{'variant':<18} {'uses':>5} {'clean mAP':>9} {'SNR@' + format(result['fraction'], '.0%'):>9} "
             f"{'equal-uses SNR':>14} {'gain dB':>7}"]
    for v, t in result["variants"].items():
        f = (lambda x: f"{x:.2f}" if x is not None else "  n/a")
        lines.append(f"{v:<18} {t['channel_uses']:>5} {t['mAP_clean']:>9.3f} {f(t['snr_at_fraction']):>9} "
                     f"{f(t['snr_at_equal_uses']):>14} {f(t['gain_db_vs_plain']):>7}")
    return "\n".join(lines)
