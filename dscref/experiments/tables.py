"""The experiments' results as tables: the text ``dscref reproduce`` prints and the markdown the
README's tables are pasted from.

Every function reads a result in either form: a single run (plain numbers, as ``results.json``
held before seeds were combined, e.g. ``docs/results_105k/``) or a combination over seeds
(:mod:`~dscref.experiments.combine` stats records), printed as ``mean ± half-width`` of the 95 %
confidence interval when there are two seeds or more.
"""

from __future__ import annotations

from ..index.factory import INDEX_NAMES
from .cells import aligned_rows as _aligned
from .cells import format_value
from .cells import markdown_table as _markdown
from .combine import is_stats, mean_and_ci, per_seed_values
from .paper import PAPER_TABLE1

__all__ = ["format_table1", "format_fig2", "format_fig2_paper", "format_fig3", "format_robust", "format_sensitivity",
           "format_markdown", "format_value"]

_T1_COLS = ("mAP", "Recall", "R@1", "R@10", "R@100")


def _at(x, i):
    """Element ``i`` of a curve in either form (a list, or a stats record of lists)."""
    if is_stats(x):
        h = x["ci95"][i] if x["ci95"] is not None else None
        return {"mean": x["mean"][i], "ci95": h, "values": [v[i] for v in x["values"]]}
    return x[i]


def _head_size(x) -> str:
    """Fig. 2's head size for the target: an int (None: never reached), or its stats record."""
    if not is_stats(x):
        return str(x) if x is not None else ">max"
    each = ", ".join(str(v) if v is not None else ">max" for v in per_seed_values(x))
    mean = "never" if x["mean"] is None else format_value(x, ".1f")
    return f"{mean} (per seed: {each})"


def _n_seeds(result: dict) -> int:
    return len(result.get("seeds") or [0])


# --------------------------------------------------------------------------- Table I
_ABLATIONS = "ablations, not in the paper (quantizer capacity; see codebooks, own PQ)"


def _mib(nbytes) -> str:
    """Bytes (or their stats record: the mean) in MiB: 2 decimals below 10 MiB, whole MiB above."""
    v = mean_and_ci(nbytes)[0] / 2**20
    return f"{v:.{2 if v < 10 else 0}f} MiB"


def _table1_rows(result: dict, scale_key: str | None, markdown: bool) -> tuple:
    """Table I's header rows, its rows, and the index of the first row not in the paper (None if all are).

    Every PQ row shows the bytes of its index's codebooks (coarse centroids + residual quantizers)
    and how many lists have a quantizer of their own; the raw-feature rows search exact
    distances, so these are "-" there. Rows not in the paper (``in_paper: False``, the ablations)
    have "-" in the paper column."""
    paper = PAPER_TABLE1.get(scale_key or "", {})
    rk = _recall_k(result)
    head = [["Index", "M", "Head", *_T1_COLS, rk, "candidates"] + ([] if markdown else ["bytes", "ms/q"])
            + ["codebooks", "own PQ"]]
    if not markdown:
        head.append(["", "", ""] + ["ours / paper" if paper else "ours"] * len(_T1_COLS) + ["ours"])
    else:
        head[0][3:3 + len(_T1_COLS)] = [f"{c} (ours / paper)" if paper else c for c in _T1_COLS]
    rows, first_ablation = [], None
    for r in result["rows"]:
        in_paper = r.get("in_paper", True)
        if not in_paper and first_ablation is None:
            first_ablation = len(rows)
        p = paper.get(r["label"]) if in_paper else None
        cells = [format_value(r[c]) + (f" / {p[i]:.3f}" if p else " / -" if paper else "")
                 for i, c in enumerate(_T1_COLS)]
        row = ([r["label"], str(r["M"]), str(r["head"])] + cells + [format_value(r.get(rk))]
               + [format_value(r["candidates"], ".0f")])
        if not markdown:
            row += [str(r["bytes"]), format_value(r["query_ms"], ".1f")]
        pq_row = not r.get("raw", False) and "codebook_bytes" in r
        row += [_mib(r["codebook_bytes"]), format_value(r["own_pq_lists"], ".0f")] if pq_row else ["-", "-"]
        rows.append(row)
    return head, rows, first_ablation


def _recall_k(result: dict) -> str:
    """The key of the recall of the returned list, ``Recall@<k>`` (k: the search depth)."""
    k = mean_and_ci(result.get("k", 1000))[0]
    return f"Recall@{int(k)}"


def _recalls_note(result: dict) -> str:
    rk = _recall_k(result)
    return (f"(Recall: positives in the candidate list, the paper's column; {rk}: positives in the "
            f"{rk[7:]} items returned, not in the paper; docs/recall_definitions.md)")


def format_table1(result: dict, scale_key: str | None = None) -> str:
    """Table I as text, the paper's numbers beside ours where the paper gives them (``scale_key``
    "105k" or "1m"); after "Recall" (positives in the candidate list) ``Recall@k`` (positives in
    the ``k`` items returned), a column the paper does not have; rows not in the paper (the
    ablations) after a separator line, and a note on the two recalls last."""
    head, rows, first = _table1_rows(result, scale_key, markdown=False)
    lines = _aligned(head + rows)
    if first is not None:
        lines.insert(len(head) + first, "-" * 8 + f" {_ABLATIONS} " + "-" * 8)
    return "\n".join(lines + [_recalls_note(result)])


# --------------------------------------------------------------------------- Fig. 2
def _fig2_rows(result: dict) -> list:
    curves = result["curves"]
    rows = [["head size"] + [INDEX_NAMES[k] for k in curves]]
    sizes = sorted({h for c in curves.values() for h in c["head_sizes"]})
    for h in sizes:
        rows.append([str(h)] + [format_value(_at(c["recall"], c["head_sizes"].index(h)))
                                if h in c["head_sizes"] else "-" for c in curves.values()])
    return rows


def _target(result: dict) -> float:
    return mean_and_ci(result["target"])[0]


def _fig2_need(result: dict) -> str:
    need = ", ".join(f"{INDEX_NAMES[k]}: {_head_size(v)}" for k, v in result["head_size_for_target"].items())
    return (f"head size for {_target(result):.0%} recall: {need}  "
            "(paper, Oxford5k/Paris6k/Holidays: DSC 5/5/5, DUC-IVF 30/30/5, DUC-IMI -/200/100)")


def format_fig2(result: dict) -> str:
    """Fig. 2 as text: recall per head size and index, and the head size each needs for the target."""
    return "\n".join(_aligned(_fig2_rows(result)) + [_fig2_need(result)])


def _fig2_paper_rows(result: dict) -> list:
    """The head size each index needs per data set, ``ours / paper`` (``-``: the paper has none)."""
    scales = list(result["datasets"])
    rows = [["index"] + scales]
    paper = result["paper_head_size_for_90pct"]
    for kind, row in result["head_size_for_target"].items():
        rows.append([INDEX_NAMES[kind]] + [
            f"{_head_size(row.get(s))} / {p if (p := paper.get(kind, {}).get(s)) is not None else '-'}"
            for s in scales])
    return rows


def _fig2_paper_title(result: dict) -> str:
    return (f"head size for {_target(result):.0%} recall, ours / paper ('>max': not reached, "
            "'-': the paper has no value):")


def _dataset_line(scale: str, r: dict) -> str:
    data = (r.get("meta") or {}).get("data") or r.get("data") or {}
    n_db, nq = mean_and_ci(data.get("n_db"))[0], mean_and_ci(data.get("n_queries"))[0]
    return (f"-- {scale}: {data.get('name', '?')}" + (f", {int(n_db):,} items" if n_db is not None else "")
            + (f", {int(nq)} queries" if nq is not None else ""))


def format_fig2_paper(result: dict) -> str:
    """Fig. 2 over several data sets (:func:`~dscref.experiments.fig2.fig2_datasets`) as text:
    each data set's curves, then the head size each index needs for the target recall per data
    set beside the paper's."""
    lines = []
    for scale, r in result["datasets"].items():
        lines += [_dataset_line(scale, r), *_aligned(_fig2_rows(r))]
    return "\n".join(lines + [_fig2_paper_title(result), *_aligned(_fig2_paper_rows(result))])


# --------------------------------------------------------------------------- Fig. 3
def _fig3_cell(c: dict, i: int, n_seeds: int) -> str:
    if n_seeds > 1:  # spread over seeds
        return format_value(_at(c["mAP"], i))
    m, _ = mean_and_ci(_at(c["mAP"], i))
    s, _ = mean_and_ci(_at(c["mAP_std"], i))
    return f"{m:.3f} ± {s:.3f}"  # one seed: spread over the channel trials


def _fig3_rows(result: dict, markdown: bool) -> list:
    names = list(result["curves"])
    n_seeds = _n_seeds(result)
    snrs = result["curves"][names[0]]["snr_db"]
    if markdown:
        rows = [["SNR dB"] + [f"{n} (B={result['curves'][n]['B']})" for n in names]]
    else:
        rows = [["SNR dB"] + [n[:22] for n in names], ["B uses"] + [str(result["curves"][n]["B"]) for n in names]]
    for i, s in enumerate(snrs):
        rows.append([f"{s:.1f}"] + [_fig3_cell(result["curves"][n], i, n_seeds) for n in names])
    return rows


def _spread_note(result: dict) -> str:
    n = _n_seeds(result)
    return f"(± 95 % CI over {n} seeds)" if n > 1 else "(± std over the channel trials, one seed)"


def format_fig3(result: dict) -> str:
    """The paper's Fig. 3 (unequal bandwidth: each curve its own B) as text: mAP per SNR and curve
    (± std over trials for one seed, ± 95 % CI over seeds otherwise), with each curve's channel uses B."""
    return "\n".join(["The paper's Fig. 3, unequal bandwidth (each curve its own B uses)"]
                     + _aligned(_fig3_rows(result, markdown=False)) + [_spread_note(result)])


# --------------------------------------------------------------------------- robust coding
def _robust_rows(result: dict) -> list:
    rows = [["variant", "uses", "clean mAP", "SNR@" + format(result["fraction"], ".0%"), "equal-uses SNR",
             "gain dB"]]
    for v, t in result["variants"].items():
        rows.append([v, str(t["channel_uses"]), format_value(t["mAP_clean"])]
                    + [format_value(t[k], ".2f", "n/a") for k in ("snr_at_fraction", "snr_at_equal_uses",
                                                                 "gain_db_vs_plain")])
    return rows


def format_robust(result: dict) -> str:
    """The robust-coding experiment as text: per variant its channel uses, clean mAP, SNR needed and gain."""
    return "\n".join(_aligned(_robust_rows(result)))


# --------------------------------------------------------------------------- sensitivity sweep
def _sensitivity_rows(result: dict) -> tuple:
    """The sweep's table (one row per parameter value) and its conclusions (one row each)."""
    methods = list(result["methods"])
    table = [["parameter", "value", "head DSC", "head DUC-IVF"] + methods]
    for s in result["settings"]:
        need = s["head_size_for_target"]
        value = f"{s['value']:g}" if isinstance(s["value"], (int, float)) else str(s["value"])
        table.append([s["parameter"], value + (" (default)" if s["is_default"] else ""),
                      format_value(need["dsc"], ".1f", ">max"), format_value(need["ivf"], ".1f", ">max")]
                     + [format_value(s["mAP"][m]) for m in methods])
    verdicts = [["conclusion", "across the sweep"]] + [[c["claim"], c["verdict"]] for c in result["conclusions"]]
    return table, verdicts


def format_sensitivity(result: dict) -> str:
    """The sensitivity sweep as text: per parameter value the head sizes for the target recall
    and the mAP of each method, then whether each conclusion holds at every value."""
    table, verdicts = _sensitivity_rows(result)
    return "\n".join(_aligned(table) + [f"(± 95 % CI over {_n_seeds(result)} seeds; head: size for "
                                        f"{result['target']:.0%} recall)", ""] + _aligned(verdicts, left=2))


# --------------------------------------------------------------------------- markdown
def format_markdown(result: dict, scale_key: str | None = None) -> str:
    """A result as a markdown table (``| DSC | 0.756 ± 0.012 | ...``), the form the README's
    tables are pasted from; Table I shows the paper's value after ours when ``scale_key`` is
    "105k" or "1m"."""
    exp = result.get("experiment")
    if exp == "table1":
        head, rows, first = _table1_rows(result, scale_key, markdown=True)
        if first is not None:
            rows.insert(first, [f"*{_ABLATIONS}*"] + [""] * (len(head[0]) - 1))
        return _markdown(head + rows)
    if exp == "fig2":
        return _markdown(_fig2_rows(result)) + "\n\n" + _fig2_need(result)
    if exp == "fig2_paper":
        return _fig2_paper_title(result) + "\n\n" + _markdown(_fig2_paper_rows(result))
    if exp == "fig3":
        return ("The paper's Fig. 3, unequal bandwidth (each curve its own B uses)\n\n"
                + _markdown(_fig3_rows(result, markdown=True)) + "\n\n" + _spread_note(result))
    if exp == "robust":
        return _markdown(_robust_rows(result))
    if exp == "sensitivity":
        table, verdicts = _sensitivity_rows(result)
        return _markdown(table) + "\n\n" + _markdown(verdicts)
    if exp == "wireless":
        from .wireless_report import format_wireless

        return format_wireless(result, markdown=True)
    raise ValueError(f"no markdown table for experiment {exp!r}")
