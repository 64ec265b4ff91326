"""The experiments' plots: one PNG per result, error bars from the spread over seeds.

:func:`plot_results` draws Fig. 2 (recall vs head size), Fig. 3 and the robust-coding experiment
(mAP vs SNR; the paper's Fig. 3 labelled as its unequal-bandwidth comparison), Table I (mAP,
Recall and Recall@k per row), Fig. 2 over several data sets (one panel each), the sensitivity
sweep (one column of panels per generator parameter) and Fig. 3 at equal bandwidth (one panel per
channel and B, :func:`~dscref.experiments.wireless_report.draw_wireless`). With two seeds or more the error bars are the 95 % confidence interval
of the mean over seeds; with one, Fig. 3 and the robust experiment show the standard deviation
over the channel trials. The title names the data (``synthetic (calibrated)`` or the features'
source), its size and the number of seeds. matplotlib is imported here only, with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._files import atomic_open
from ..index.factory import INDEX_NAMES
from .combine import mean_and_ci

__all__ = ["plot_results", "data_title", "scale_text"]


def scale_text(n: int) -> str:
    """A database size as the paper and ``--scale`` write it: 105k, 1M, 2.5k, 3036."""
    n = int(n)
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1e6:g}M"
    if n >= 1000 and n % 100 == 0:
        return f"{n / 1e3:g}k"
    return str(n)


def data_title(result: dict) -> str:
    """``synthetic (calibrated), 105k items, 5 seeds``: the data, its size and the seeds of a
    result (a single-seed file without ``seeds`` counts one); a preset's synthetic data reads
    ``synthetic (calibrated) oxford5k-like, ...``."""
    data = (result.get("meta") or {}).get("data") or {}
    n_seeds = len(result.get("seeds") or [0])
    parts = []
    name = str(data.get("name") or "")
    if name == "synthetic" or name.startswith("synthetic "):
        parts.append("synthetic (calibrated)" + name[len("synthetic"):])
    elif data.get("name"):
        parts.append(str(data["name"]))
    if isinstance(data.get("n_db"), int):
        parts.append(f"{scale_text(data['n_db'])} items")
    parts.append(f"{n_seeds} seed{'s' if n_seeds != 1 else ''}")
    return ", ".join(parts)


def _curve(x):
    """(mean values, half-widths or None) of a curve in either form, as float arrays."""
    m, h = mean_and_ci(x)
    m = np.array([np.nan if v is None else v for v in m], dtype=float)
    if h is None or all(v is None for v in h):
        return m, None
    return m, np.array([0.0 if v is None else v for v in h], dtype=float)


def _spread(c: dict, n_seeds: int):
    """Error bars of an mAP curve: the CI over seeds, or (one seed) the std over channel trials."""
    if n_seeds > 1:
        return _curve(c["mAP"])[1]
    return _curve(c["mAP_std"])[0]


def _bars(ax, result: dict, fig) -> None:
    """Table I's bars (mAP, Recall and, when the rows have it, Recall@k per row, with the CI over
    seeds); each PQ row's codebook MiB above its bars; the rows not in the paper (ablations) right
    of a dashed separator."""
    rows = result["rows"]
    x = np.arange(len(rows))
    top = np.zeros(len(rows))
    k = int(mean_and_ci(result.get("k", 1000))[0])
    bars = [("mAP", "mAP"), ("Recall", "Recall (candidate list)")]
    bars += [(f"Recall@{k}", f"Recall@{k} (top {k} returned)")] if rows and all(f"Recall@{k}" in r for r in rows) else []
    w = 0.8 / len(bars)
    for i, (key, label) in enumerate(bars):
        m, h = zip(*(mean_and_ci(r[key]) for r in rows))
        yerr = None if all(v is None for v in h) else [0.0 if v is None else v for v in h]
        ax.bar(x + (i - (len(bars) - 1) / 2) * w, m, w, yerr=yerr, capsize=2, label=label)
        top = np.maximum(top, np.add(m, yerr if yerr is not None else 0.0))
    ax.set_xticks(x, [r["label"] for r in rows], rotation=40, ha="right", fontsize=7)
    for i, r in enumerate(rows):
        if not r.get("raw", False) and "codebook_bytes" in r:
            mib = mean_and_ci(r["codebook_bytes"])[0] / 2**20
            ax.text(i, top[i] + 0.02, f"{mib:.{2 if mib < 10 else 0}f}", ha="center", va="bottom", fontsize=6,
                    rotation=90)
    first = next((i for i, r in enumerate(rows) if not r.get("in_paper", True)), None)
    if first is not None:
        ax.axvline(first - 0.5, color="grey", ls="--", lw=1)
        ax.text(first - 0.4, 1.12, "ablations (not in the paper)", fontsize=7, va="top", color="grey")
    if any("codebook_bytes" in r for r in rows):
        ax.set_ylabel("mAP / Recall (numbers: codebooks, MiB)")
        ax.set_ylim(0, 1.3)
        fig.set_size_inches(max(6.4, 0.45 * len(rows) + 2), 5.0)


def _calibration(ax, result: dict) -> None:
    """Each calibration quantity: mean with its 95 % CI and per-seed points, the target range shaded."""
    names = list(result["summary"])
    for i, name in enumerate(names):
        e = result["summary"][name]
        lo, hi = e.get("low"), e.get("high")
        if lo is not None or hi is not None:
            ax.fill_betweenx([i - 0.35, i + 0.35], 0.0 if lo is None else lo, 1.0 if hi is None else hi,
                             color="tab:green", alpha=0.2, lw=0, label="target range" if i == 0 else None)
        ax.plot(e["values"], [i] * len(e["values"]), "o", ms=3, color="grey", alpha=0.6)
        ax.errorbar([e["mean"]], [i], xerr=[e["ci95"] or 0.0], fmt="D", color="tab:blue", capsize=3,
                    label="mean, 95 % CI" if i == 0 else None)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("value")


def _sensitivity(fig, result: dict) -> None:
    """One column per generator parameter: mAP per method (top), head size for the target (bottom)."""
    params = list(result["parameters"])
    axes = fig.subplots(2, len(params), squeeze=False, sharey="row")
    for j, p in enumerate(params):
        settings = [s for s in result["settings"] if s["parameter"] == p]
        xs = [s["value"] for s in settings]
        for m in result["methods"]:
            mean, h = zip(*(mean_and_ci(s["mAP"][m]) for s in settings))
            yerr = None if all(v is None for v in h) else [0.0 if v is None else v for v in h]
            axes[0, j].errorbar(xs, mean, yerr=yerr, marker="o", ms=3, capsize=2, label=m)
        for kind in ("dsc", "ivf"):
            mean, h = zip(*(mean_and_ci(s["head_size_for_target"][kind]) for s in settings))
            mean = [np.nan if v is None else v for v in mean]
            yerr = None if all(v is None for v in h) else [0.0 if v is None else v for v in h]
            axes[1, j].errorbar(xs, mean, yerr=yerr, marker="s", ms=3, capsize=2, label=INDEX_NAMES[kind])
        axes[0, j].axvline(result["parameters"][p]["default"], color="grey", ls=":", lw=1)
        axes[1, j].axvline(result["parameters"][p]["default"], color="grey", ls=":", lw=1)
        axes[1, j].set_xlabel(p)
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mAP")
    axes[1, 0].set_ylabel(f"head size for {result['target']:.0%} recall")
    from matplotlib.ticker import ScalarFormatter

    axes[1, 0].set_yscale("log")
    axes[1, 0].set_ylim(bottom=0.8)  # lower error bars below 0 would set the log axis' range
    axes[1, 0].yaxis.set_major_formatter(ScalarFormatter())
    for row in (0, 1):  # right of the last panel, clear of the curves
        axes[row, -1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))


def _fig2_axes(ax, result: dict) -> None:
    """Fig. 2's curves of one data set (G+P dashed: its cells are IVF's, so its curve lies on IVF's)."""
    for kind, c in result["curves"].items():
        m, h = _curve(c["recall"])
        ax.errorbar(c["head_sizes"], m, yerr=h, marker="o", ms=3, capsize=2, ls="--" if kind == "gp" else "-",
                    label=INDEX_NAMES[kind])
    ax.set_xscale("log")
    ax.axhline(mean_and_ci(result["target"])[0], color="grey", ls=":", lw=1)
    ax.set_xlabel("code head size (partitions probed)")


def _fig2_panels(fig, result: dict) -> None:
    """Fig. 2 over several data sets: one panel each, the paper's head size for 90 % in its title."""
    per = result["datasets"]
    axes = fig.subplots(1, len(per), sharey=True, squeeze=False)[0]
    for ax, (scale, r) in zip(axes, per.items()):
        _fig2_axes(ax, r)
        paper = {k: v.get(scale) for k, v in result["paper_head_size_for_90pct"].items()}
        note = ", ".join(f"{INDEX_NAMES[k]} {v}" for k, v in paper.items() if v is not None)
        if r.get("meta"):
            what = data_title(r)
        elif r.get("data"):  # a single run without its meta block (fig2_paper)
            what = f"{r['data']['name']}, {scale_text(r['data']['n_db'])} items"
        else:
            what = scale
        ax.set_title(what + (f"\npaper, 90 %: {note}" if note else ""), fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Recall (positives in the candidate list)")
    axes[0].legend(fontsize=7)


def plot_results(result: dict, out: Path) -> Path | None:
    """``out/<experiment>.png``: the result's curves or bars (matplotlib, imported here, Agg backend).

    ``result`` is a single run or a combination over seeds, with or without its ``meta`` block.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = result["experiment"]
    n_seeds = len(result.get("seeds") or [0])
    what = data_title(result)
    bars = "error bars: 95 % CI over seeds" if n_seeds > 1 else ""
    if exp == "fig2_paper":
        fig = plt.figure(figsize=(3.6 * len(result["datasets"]) + 0.6, 4.2))
        _fig2_panels(fig, result)
        fig.suptitle("Fig. 2: head size vs recall, per data set" + (f"; {bars}" if bars else ""), fontsize=9)
        return _save(plt, fig, out, exp)
    if exp == "wireless":
        from .wireless_report import draw_wireless

        fig = plt.figure(figsize=(3.3 * len(result["bandwidths"]), 3.0 * len(result["panels"]) + 0.8))
        draw_wireless(fig, result)
        fig.suptitle("Fig. 3 at equal bandwidth: mAP vs SNR, every scheme in B complex uses, energy 1 per use\n"
                     f"{what}; " + (bars or "error bars: std over the channel trials"), fontsize=9)
        fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.94))
        path = Path(out) / f"{exp}.png"
        with atomic_open(path) as f:
            fig.savefig(f, format="png", dpi=120, bbox_inches="tight")  # the legend right of the panels
        plt.close(fig)
        return path
    if exp == "sensitivity":
        n = len(result["parameters"])
        fig = plt.figure(figsize=(3.2 * n + 1.0, 6.4))
        _sensitivity(fig, result)
        fig.suptitle(f"Sensitivity to the generator's parameters\n{what}" + (f"; {bars}" if bars else ""),
                     fontsize=9)
        return _save(plt, fig, out, exp)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    if exp == "fig2":
        _fig2_axes(ax, result)
        ax.set_ylabel("Recall (positives in the candidate list)")
        title = "Fig. 2: head size vs recall"
    elif exp == "fig3":
        for name, c in result["curves"].items():
            ax.errorbar(c["snr_db"], _curve(c["mAP"])[0], yerr=_spread(c, n_seeds), marker="o", ms=3,
                        capsize=2, label=f"{name}, B={c['B']}")
        ax.set_xlabel("SNR (dB) per complex channel use" + (" (Rayleigh block fading)" if result["fading"] else " (AWGN)"))
        ax.set_ylabel("mAP")
        title = "The paper's Fig. 3, unequal bandwidth (each curve its own B): mAP vs SNR"
        bars = bars or "error bars: std over the channel trials"
    elif exp == "robust":
        for v, t in result["variants"].items():
            ax.errorbar(result["snr_db"], _curve(t["mAP"])[0], yerr=_spread(t, n_seeds), marker="o", ms=3,
                        capsize=2, label=f"{v}, B={t['channel_uses']}")
        ax.set_xlabel(f"Es/N0 (dB), {result['modem'].upper()} over AWGN")
        ax.set_ylabel("mAP")
        title = "Channel-robust coding of the DSC payload"
        bars = bars or "error bars: std over the channel trials"
    elif exp == "table1":
        _bars(ax, result, fig)
        title = "Table I"
    elif exp == "calibration":
        _calibration(ax, result)
        title = "Calibration: synthetic (calibrated) vs published real-data ranges"
        what = f"{n_seeds} data seed" + ("s" if n_seeds > 1 else "")
    else:  # pragma: no cover
        plt.close(fig)
        return None
    ax.set_title(f"{title}\n{what}" + (f"; {bars}" if bars else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(plt, fig, out, exp)


def _save(plt, fig, out, exp: str) -> Path:
    fig.tight_layout()
    path = Path(out) / f"{exp}.png"
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path
