"""The equal-bandwidth Fig. 3 (:mod:`~dscref.experiments.wireless`) as tables and as a figure.

Tables (text or markdown, :func:`format_wireless`): per channel and per B, one row per scheme
(what it sends, then mAP per SNR; "n/f" where it does not fit B), the scheme that wins at each
(SNR, B), and the gap of each digital curve to the ideal bound of its payload. Figure
(:func:`draw_wireless`, called by :func:`~dscref.experiments.plots.plot_results`): one panel
per (channel, B), mAP vs SNR, error bars the 95 % CI over seeds (one seed: the std over the
channel trials). Reads a single run or a combination over seeds.
"""

from __future__ import annotations

import numpy as np

from .cells import aligned_rows, format_value, markdown_table
from .combine import is_stats, mean_and_ci

__all__ = ["format_wireless", "draw_wireless", "point", "curve_points", "winners"]

_NF = "n/f"
_STYLE = {"analog": "-", "hybrid": "-", "digital": "-", "robust": ":", "bound": "--"}


def point(x, i: int):
    """Entry ``i`` of a curve in any form (a list of numbers / None / stats records, or a stats
    record of lists) as a number or a stats record (None: no value)."""
    if is_stats(x):
        ci = x["ci95"][i] if x["ci95"] is not None else None
        return {"mean": x["mean"][i], "ci95": ci, "values": [v[i] for v in x["values"]]}
    return x[i]


def curve_points(x) -> tuple:
    """(means, half-widths) of a curve as float arrays, NaN where it has no value (half-widths
    None when no entry has one)."""
    n = len(x["mean"]) if is_stats(x) else len(x)
    m, h = [], []
    for i in range(n):
        mean, ci = mean_and_ci(point(x, i))
        m.append(np.nan if mean is None else mean)
        h.append(np.nan if ci is None else ci)
    h = np.array(h, dtype=float)
    return np.array(m, dtype=float), (None if np.isnan(h).all() else np.nan_to_num(h))


def _n_seeds(result: dict) -> int:
    return len(result.get("seeds") or [0])


def _cell(c: dict, i: int, n_seeds: int) -> str:
    v = point(c["mAP"], i)
    if mean_and_ci(v)[0] is None:
        return _NF if not c.get("fits", True) else "-"
    if n_seeds > 1:
        return format_value(v)
    s = mean_and_ci(point(c["mAP_std"], i))[0]
    return f"{mean_and_ci(v)[0]:.3f}" + ("" if s is None else f" ± {s:.3f}")


def _sent(c: dict) -> str:
    """What a curve's scheme sends: ``QPSK r1/2, 2x8, 166 uses`` (digital), the head code (analog)."""
    fam = c.get("family")
    if fam == "bound":
        return f"{c['info_bits']} bits in {c['B']} uses"
    if fam in ("digital", "robust"):
        if not c.get("fits", True):
            return "does not fit"
        rate = f" r{c['rate']}" if c.get("rate") else ""
        return f"{c['modem'].upper()}{rate}, {c['head_size']}x{c['subcodes']}, {c['channel_uses']} uses"
    analog = [mean_and_ci(point(c["analog_uses"], i))[0] for i in range(len(c["snr_db"]))] if "analog_uses" in c else []
    if not any(u is not None for u in analog):
        return _NF if analog else ""
    if c["scheme"] == "analog JSCC":
        return f"JSCC, {c['B']} uses"
    code = next((h for h in reversed(c.get("head_code") or []) if h), "")
    if code.startswith("ConvHead"):
        rate, modem = code.split("'")[1], code.split("'")[3]
        uses = int(next(u for u in reversed(analog) if u is not None))
        return f"head {modem.upper()} r{rate} + CRC-16, {c['B'] - uses} uses; JSCC {uses}"
    return "head ideal code (1 % outage, <= B/2 uses); JSCC the rest"


def _columns(result: dict, snrs) -> list:
    """Indices of the SNRs shown: all, or those of ``snrs`` on the result's grid."""
    grid = result["snr_db"]
    if snrs is None:
        return list(range(len(grid)))
    missing = [s for s in snrs if float(s) not in grid]
    if missing:
        raise ValueError(f"snrs {missing} are not on the result's grid {grid}")
    return [grid.index(float(s)) for s in snrs]


def _panel_rows(result: dict, channel: str, B: int, n_seeds: int, cols: list) -> list:
    snrs = result["snr_db"]
    rows = [["scheme", "sends"] + [f"{snrs[i]:g} dB" for i in cols]]
    for c in result["panels"][channel]["curves"].values():
        if c["B"] == B:
            rows.append([c["scheme"], _sent(c)] + [_cell(c, i, n_seeds) for i in cols])
    return rows


def winners(result: dict, channel: str, snrs=None) -> list:
    """Rows (SNR; all, or ``snrs``) x columns (B): the scheme with the highest mean mAP (bounds
    excluded) and its mAP."""
    bws = result["bandwidths"]
    curves = [c for c in result["panels"][channel]["curves"].values() if c.get("family") != "bound"]
    rows = [["SNR dB"] + [f"B = {B}" for B in bws]]
    for i in _columns(result, snrs):
        row = [f"{result['snr_db'][i]:g}"]
        for B in bws:
            best = None
            for c in curves:
                m = mean_and_ci(point(c["mAP"], i))[0] if c["B"] == B else None
                if m is not None and (best is None or m > best[1]):
                    best = (c["scheme"], m)
            row.append("-" if best is None else f"{best[0]} ({best[1]:.3f})")
        rows.append(row)
    return rows


def _gap_rows(result: dict, channel: str) -> list:
    rows = [["scheme", "B", "payload", f"mAP level ({result['fraction']:.0%} of error-free)", "SNR bound dB",
             "SNR scheme dB", "gap dB"]]
    curves = result["panels"][channel]["curves"]
    for key, g in result["panels"][channel]["gaps"].items():
        c = curves[key]
        rows.append([g["scheme"], str(g["B"]), f"{c['head_size']}x{c['subcodes']} ({c['info_bits']} bits)",
                     format_value(g["target_mAP"])] + [format_value(g[k], ".2f", "not reached")
                                                       for k in ("snr_bound_db", "snr_scheme_db", "gap_db")])
    return rows


_CHANNEL = {"awgn": "AWGN", "fading": "Rayleigh block fading"}


def format_wireless(result: dict, markdown: bool = False, snrs=None) -> str:
    """Every panel's table, the winners and the gaps, as text or markdown; ``snrs`` (values on the
    result's grid) selects the SNR columns and rows shown (default all)."""
    n = _n_seeds(result)
    cols = _columns(result, snrs)
    emit = markdown_table if markdown else (lambda rows: "\n".join(aligned_rows(rows, left=2)))
    spread = f"± 95 % CI over {n} seeds" if n > 1 else "± std over the channel trials, one seed"
    out = []
    for ch in result["panels"]:
        name = _CHANNEL.get(ch, ch)
        if ch == "fading":
            name += f", {result['block']} uses per gain"
        for B in result["bandwidths"]:
            out += [f"{'#### ' if markdown else '== '}{name}, B = {B} complex uses (mAP, {spread}; {_NF}: "
                    "does not fit B)", "", emit(_panel_rows(result, ch, B, n, cols)), ""]
        out += [f"{'#### ' if markdown else '== '}{name}: the best scheme per SNR and B (mean mAP; bounds "
                "excluded)", "", emit(winners(result, ch, snrs)), ""]
        out += [f"{'#### ' if markdown else '== '}{name}: gap of each digital curve to the ideal bound of its "
                "payload", "", emit(_gap_rows(result, ch)), ""]
    return "\n".join(out).rstrip()


def draw_wireless(fig, result: dict) -> None:
    """One panel per (channel, B): every curve's mAP vs SNR with its error bars; the ideal bound of
    a payload dashed, in the colour of the scheme that sends it (a coded one where several do); the
    legend right of the panels (save with ``bbox_inches="tight"``)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    channels, bws = list(result["panels"]), result["bandwidths"]
    n = _n_seeds(result)
    axes = fig.subplots(len(channels), len(bws), squeeze=False, sharey=True)
    names = list(dict.fromkeys(c["scheme"] for ch in channels for c in result["panels"][ch]["curves"].values()
                               if c.get("family") != "bound"))
    order = [2 * i % 20 + (2 * i >= 20) for i in range(20)]  # the 10 hues of tab20, then their light twins
    colours = {name: plt.cm.tab20(order[i % 20]) for i, name in enumerate(names)}
    seen = {}
    for r, ch in enumerate(channels):
        for j, B in enumerate(bws):
            ax = axes[r, j]
            for c in result["panels"][ch]["curves"].values():
                if c["B"] != B:
                    continue
                m, h = curve_points(c["mAP"])
                if np.isnan(m).all():
                    continue
                if n == 1:
                    h = np.nan_to_num(curve_points(c["mAP_std"])[0])
                fam = c.get("family")
                if fam == "bound":
                    owner = next((s for s in c["bounds"] if "conv" in s), c["bounds"][0])
                    colour, label = colours[owner], None
                else:
                    colour, label = colours[c["scheme"]], c["scheme"]
                line = ax.errorbar(c["snr_db"], m, yerr=h, ls=_STYLE.get(fam, "-"), marker="" if fam == "bound"
                                   else "o", ms=2.5, lw=1.6 if fam == "bound" else 1.0, capsize=1.5, elinewidth=0.6,
                                   color=colour, alpha=0.55 if fam == "bound" else 0.95)
                if label:
                    seen.setdefault(label, line)
            ax.set_title(f"{_CHANNEL.get(ch, ch)}, B = {B}", fontsize=8)
            ax.set_ylim(0.0, 1.0)
            ax.grid(alpha=0.3)
            if r == len(channels) - 1:
                ax.set_xlabel("SNR (dB) per complex use", fontsize=8)
        axes[r, 0].set_ylabel("mAP")
    seen["ideal bound of that scheme's payload"] = Line2D([], [], color="grey", ls="--", lw=1.6)
    fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
