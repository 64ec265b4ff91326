"""Numbers as table cells: ``mean ± half-width`` of a stats record, and rows of cells as aligned
text or as a markdown table (the pieces every experiment's tables are made of:
:mod:`~dscref.experiments.tables`, :mod:`~dscref.experiments.wireless_report`)."""

from __future__ import annotations

from .combine import is_stats, mean_and_ci

__all__ = ["format_value", "aligned_rows", "markdown_table"]


def format_value(x, spec: str = ".3f", missing: str = "-") -> str:
    """``mean ± half-width`` of a stats record (``mean`` alone for one seed; ``(k/n <missing>)``
    after it when k of the n seeds have no value), a plain number in ``spec``, ``missing`` for None."""
    m, h = mean_and_ci(x)
    if m is None:
        return missing
    text = f"{m:{spec}}" if h is None else f"{m:{spec}} ± {h:{spec}}"
    if is_stats(x) and x.get("n_missing"):
        text += f" ({x['n_missing']}/{len(x['values'])} {missing})"
    return text


def aligned_rows(rows: list, left: int = 1) -> list:
    """Rows of cells as text lines: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return ["  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
            for r in rows]


def markdown_table(rows: list) -> str:
    """A markdown table; ``rows[0]`` is the header."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
