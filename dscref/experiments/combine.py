"""Combine one experiment's per-seed results: every measured number becomes its mean over the
seeds, the half-width of its 95 % confidence interval and the per-seed values.

:func:`combine` walks the per-seed result documents (JSON-like: dicts, lists, numbers, strings,
``None``) in parallel and replaces each measured number by a *stats* record::

    {"mean": m, "ci95": h, "values": [v_seed0, v_seed1, ...]}

with ``h = t_{0.975, n-1} * std(values, ddof=1) / sqrt(n)`` (Student t; ``h = None`` for one
seed). A list of numbers of the same length in every seed (a curve) becomes one record whose
``mean`` and ``ci95`` are lists, element by element, and whose ``values`` are the per-seed lists.
A number that is missing (``None``) in some seeds but not all -- Fig. 2's head size when a seed
never reaches the target recall -- is averaged over the seeds that have one; the record then
also holds ``"n_missing"``, the count of seeds without one.

What counts as measured:

* every float, except under the keys of :data:`PARAMETER_KEYS` (the SNR grid, the target recall:
  settings of the run, kept as they are when equal in every seed);
* an int only when it differs between seeds (candidate counts, sizes and byte counts are equal in
  every seed and stay ints), or when it lies under a key of :data:`ALWAYS_COMBINED` (Fig. 2's
  ``head_size_for_target``, a measurement that happens to be a whole number; a stats record even
  when no seed has a value: ``mean`` None and ``n_missing`` the number of seeds).

Anything else (strings, booleans, ``None``, parameter values) is kept when equal in every seed and
becomes the per-seed list otherwise. :func:`mean_and_ci` reads a value in either form (a plain number
of a single-seed file written before seeds were combined, or a stats record), so reports read
both.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["combine", "ci95_halfwidth", "is_stats", "mean_and_ci", "per_seed_values", "PARAMETER_KEYS",
           "ALWAYS_COMBINED", "verdict"]

# float leaves that are the run's settings, not measurements (kept if equal in every seed)
PARAMETER_KEYS = frozenset({"snr_db", "target", "fraction"})
# keys whose int / None leaves are measurements (combined even when equal in every seed)
ALWAYS_COMBINED = frozenset({"head_size_for_target"})

_STATS_KEYS = frozenset({"mean", "ci95", "values"})


def ci95_halfwidth(values) -> float | None:
    """Half-width of the 95 % confidence interval of the mean of ``values`` (Student t).

    ``t.ppf(0.975, n - 1) * std(values, ddof=1) / sqrt(n)``; ``None`` for fewer than two values.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n < 2:
        return None
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1) * np.std(x, ddof=1) / math.sqrt(n))


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _stats(values: list) -> dict:
    """The stats record of one number per seed (``None`` where a seed has none)."""
    present = [float(v) for v in values if v is not None]
    out = {"mean": float(np.mean(present)) if present else None,
           "ci95": ci95_halfwidth(present), "values": list(values)}
    if len(present) < len(values):
        out["n_missing"] = len(values) - len(present)
    return out


def _vector_stats(lists: list) -> dict:
    """The stats record of one equal-length list of numbers per seed (a curve)."""
    cols = list(zip(*lists))
    return {"mean": [float(np.mean(c)) for c in cols], "ci95": [ci95_halfwidth(c) for c in cols],
            "values": [list(v) for v in lists]}


def _all_equal(values: list) -> bool:
    return all(v == values[0] and type(v) is type(values[0]) for v in values[1:])


def _measured(flat: list, equal: bool, parameter: bool, always: bool, keep_equal: bool) -> bool:
    """Whether a column (one value per seed, or the per-seed lists' numbers ``flat``) of numbers /
    ``None`` is combined into a stats record (module notes) rather than kept."""
    has_float = any(v is not None and not _is_int(v) for v in flat)
    if keep_equal:
        return not equal and has_float
    if parameter:
        return False
    return always or has_float or not equal


def _combine(values: list, key_path: frozenset, keep_equal: bool):
    """``values``: the same node of every seed's document; ``key_path``: the dict keys above it."""
    parameter = bool(key_path & PARAMETER_KEYS)
    always = bool(key_path & ALWAYS_COMBINED)
    equal = _all_equal(values)
    if all(isinstance(v, dict) for v in values):
        out = {}
        for k in dict.fromkeys(k for v in values for k in v):
            col = [v.get(k) for v in values]
            # a key missing from some seed's document: its values kept per seed (None where missing)
            out[k] = _combine(col, key_path | {k}, keep_equal) if all(k in v for v in values) else col
        return out
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1 and values[0]:
        flat = [x for v in values for x in v]
        if all(_is_number(x) for x in flat):  # a curve
            if _measured(flat, equal, parameter, always, keep_equal):
                return _vector_stats(values)
        else:  # element by element (rows of Table I, curves with None entries)
            return [_combine(list(c), key_path, keep_equal) for c in zip(*values)]
    elif all(v is None or _is_number(v) for v in values) and (always or any(v is not None for v in values)):
        if _measured(values, equal, parameter, always, keep_equal):
            return _stats(values)
    return values[0] if equal else list(values)


def combine(docs: list, *, keep_equal: bool = False):
    """One document from the per-seed documents ``docs`` (the same experiment, one per seed, in
    seed order), every measured number replaced by its stats record (module notes).

    Parameters
    ----------
    docs : list of JSON-like documents (dicts / lists / numbers / str / None), at least one
    keep_equal : bool
        Keep every value that is equal in every seed, and combine only floats that differ, other
        differing values becoming per-seed lists (used for the ``meta`` block, whose floats are
        the generator's settings and whose differing ints are counts).

    Returns
    -------
    The combined document (new containers; ``docs`` are not modified).
    """
    if not isinstance(docs, (list, tuple)) or not docs:
        raise ValueError(f"docs must be a non-empty list of per-seed documents, got {docs!r:.80}")
    return _combine(list(docs), frozenset(), keep_equal)


def is_stats(x) -> bool:
    """Whether ``x`` is a stats record (``{"mean", "ci95", "values", ...}``)."""
    return isinstance(x, dict) and _STATS_KEYS <= set(x)


def mean_and_ci(x):
    """``(mean, ci95)`` of a value in either form: a stats record gives its mean and half-width
    (lists for a curve), a plain number or list gives itself and ``None``."""
    if is_stats(x):
        return x["mean"], x["ci95"]
    return x, None


def per_seed_values(x) -> list:
    """The per-seed values of a stats record, or ``[x]`` for a plain value (one seed)."""
    return list(x["values"]) if is_stats(x) else [x]


def verdict(margins) -> str:
    """``holds`` / ``flips`` / ``within noise`` for per-seed margins of a claim (> 0 where it holds).

    Paired margins (both sides measured on the same seed's data) with their 95 % Student-t
    interval: above zero ``holds``, below zero ``flips``, across zero ``within noise``. With one
    seed, or an infinite margin (a head size never reached), every margin must have the same sign;
    a missing margin (None / NaN) gives ``within noise``."""
    d = np.asarray([np.nan if v is None else v for v in margins], dtype=np.float64)
    if d.size == 0 or np.isnan(d).any():
        return "within noise"
    h = ci95_halfwidth(d) if np.isfinite(d).all() else None
    if h is not None:
        m = float(d.mean())
        return "holds" if m - h > 0 else "flips" if m + h < 0 else "within noise"
    return "holds" if (d > 0).all() else "flips" if (d < 0).all() else "within noise"
