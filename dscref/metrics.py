"""Retrieval metrics: Oxford/revisitop AP and mAP with junk, mP@k, and the paper's Recall / R@k.

The AP follows revisitop's ``python/evaluate.py`` (identical in cirtorch) line by line, so numbers
computed here are comparable with published Oxford/Paris results. Rankings are given the way
dscref's indices return them: ``I`` of shape (nq, n_ranked), database ids, best first, padded with
``-1`` where fewer results exist (revisitop stores the transpose, (n_db, nq)).

Ground truth is a list with one dict per query, ``{"ok": ids, "junk": ids}``; revisited
Oxford/Paris ground truth (``{"easy", "hard", "junk"}``) is evaluated by
:func:`compute_map_revisited`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._validate import as_int_array, check_int

__all__ = [
    "compute_ap",
    "compute_map",
    "compute_map_revisited",
    "candidate_recall",
    "recall_at_k",
    "nn_recall_at_k",
]


# ---------------------------------------------------------------------------------------------
# validation helpers


def _as_ranking(I, name: str = "I") -> np.ndarray:
    """(nq, n_ranked) int64 ids, -1 allowed as padding, no other negative id."""
    arr = as_int_array(I, name, ndim=2)
    if arr.size and arr.min() < -1:
        raise ValueError(f"{name} holds id {int(arr.min())}; ids must be >= 0, or -1 for padding")
    return arr


def _gnd_ids(entry, key: str, q: int, *, required: bool) -> np.ndarray:
    if not isinstance(entry, Mapping):
        raise TypeError(f"gnd[{q}] must be a dict with keys 'ok' and 'junk', got {type(entry).__name__}")
    if key not in entry:
        if required:
            raise ValueError(f"gnd[{q}] has no key {key!r} (keys: {sorted(entry)})")
        return np.empty(0, dtype=np.int64)
    ids = np.asarray(entry[key])
    if ids.ndim == 0:
        raise ValueError(f"gnd[{q}][{key!r}] must be a 1-D sequence of ids, got a scalar {ids!r}")
    ids = as_int_array(ids.reshape(-1) if ids.size == 0 else ids, f"gnd[{q}][{key!r}]", ndim=1, low=0)
    return np.unique(ids)


def _as_gnd(gnd, nq: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate the ground truth; return per query (sorted unique ok ids, sorted unique junk ids)."""
    if isinstance(gnd, (str, bytes, Mapping)) or not isinstance(gnd, Sequence):
        raise TypeError(f"gnd must be a list of dicts {{'ok': ids, 'junk': ids}}, got {type(gnd).__name__}")
    if nq is not None and len(gnd) != nq:
        raise ValueError(f"gnd has {len(gnd)} queries but the ranking has nq={nq} rows")
    out = []
    for q, entry in enumerate(gnd):
        ok = _gnd_ids(entry, "ok", q, required=True)
        junk = _gnd_ids(entry, "junk", q, required=False)
        both = np.intersect1d(ok, junk)
        if both.size:
            raise ValueError(f"gnd[{q}]: id {int(both[0])} is both 'ok' and 'junk'")
        out.append((ok, junk))
    return out


def _as_kappas(kappas) -> np.ndarray:
    ks = np.asarray(kappas)
    if ks.ndim == 0:
        ks = ks.reshape(1)
    ks = as_int_array(ks, "kappas", ndim=1)
    if ks.size and ks.min() < 1:
        raise ValueError(f"kappas holds k={int(ks.min())}; every k must be >= 1")
    return ks


def _clean_row(row: np.ndarray, q: int) -> np.ndarray:
    """Drop -1 padding; refuse a ranking that lists one id twice (an upstream bug)."""
    row = row[row >= 0]
    if row.size > 1:
        s = np.sort(row)
        dup = s[1:][s[1:] == s[:-1]]
        if dup.size:
            raise ValueError(f"ranking row {q} lists database id {int(dup[0])} more than once")
    return row


# ---------------------------------------------------------------------------------------------
# AP / mAP


def _ap(ranks: np.ndarray, n_positives: int) -> float:
    # revisitop compute_ap, vectorised: trapezoid between precision before and after each hit
    if ranks.size == 0:
        return 0.0
    j = np.arange(ranks.size, dtype=np.float64)
    r = ranks.astype(np.float64)
    p0 = np.where(r == 0, 1.0, j / np.maximum(r, 1.0))
    p1 = (j + 1.0) / (r + 1.0)
    return float(np.sum((p0 + p1) / 2.0) / n_positives)


def compute_ap(ranks, n_positives: int) -> float:
    """Average precision of one query, exactly as revisitop's ``compute_ap``.

    Parameters
    ----------
    ranks : array-like of shape (n_found,), int
        0-based ranks of the retrieved positives, already reduced by the number of junk images
        ranked before each of them; strictly increasing.
    n_positives : int
        Number of positives of the query (>= n_found; positives that were never retrieved simply
        add no area).

    Returns
    -------
    float
        AP in [0, 1].

    Notes
    -----
    Trapezoidal interpolation of the precision-recall curve: for the j-th positive (0-based) at
    rank r, ``p0 = 1 if r == 0 else j / r`` (precision just before it), ``p1 = (j + 1) / (r + 1)``
    (precision at it), and ``AP += (p0 + p1) / 2 / n_positives``.

    References
    ----------
    Radenović et al., "Revisiting Oxford and Paris", CVPR 2018; ``revisitop/python/evaluate.py``.
    """
    n_positives = check_int(n_positives, "n_positives", low=1)
    r = as_int_array(ranks, "ranks", ndim=1, low=0)
    if r.size > n_positives:
        raise ValueError(f"ranks holds {r.size} positives but n_positives={n_positives}")
    if r.size > 1 and np.any(np.diff(r) <= 0):
        raise ValueError(f"ranks must be strictly increasing, got {r.tolist()[:10]}")
    if r.size and r[-1] < r.size - 1:  # j-th positive cannot sit above rank j
        raise ValueError(f"ranks {r.tolist()[:10]} are impossible: the j-th positive has rank >= j")
    return _ap(r, n_positives)


def _query_ranks(row: np.ndarray, ok: np.ndarray, junk: np.ndarray) -> np.ndarray:
    """0-based ranks of the positives in ``row``, each reduced by the junk ranked before it."""
    is_ok = np.isin(row, ok, assume_unique=True)
    pos = np.flatnonzero(is_ok)
    if junk.size == 0 or pos.size == 0:
        return pos.astype(np.int64)
    is_junk = np.isin(row, junk, assume_unique=True)
    junk_before = np.cumsum(is_junk)[pos]  # row[pos] is not junk, so this counts strictly before
    return (pos - junk_before).astype(np.int64)


def _map_core(I: np.ndarray, gnd: list, kappas: np.ndarray):
    nq = I.shape[0]
    aps = np.full(nq, np.nan)
    pks = np.full((nq, kappas.size), np.nan)
    for q in range(nq):
        ok, junk = gnd[q]
        if ok.size == 0:
            continue  # excluded from the mean, like revisitop
        ranks = _query_ranks(_clean_row(I[q], q), ok, junk)
        aps[q] = _ap(ranks, ok.size)
        if ranks.size == 0:
            pks[q] = 0.0  # no positive retrieved (possible only with a truncated ranking)
            continue
        pos1 = ranks + 1  # 1-based, as in revisitop
        for t, k in enumerate(kappas):
            kq = min(int(pos1.max()), int(k))  # revisitop's quirk, see compute_map Notes
            pks[q, t] = np.count_nonzero(pos1 <= kq) / kq
    valid = ~np.isnan(aps)
    if not valid.any():
        return float("nan"), aps, np.full(kappas.size, np.nan), pks
    return float(aps[valid].mean()), aps, pks[valid].mean(axis=0), pks


def compute_map(I, gnd, kappas=()):
    """mAP and mean precision at k over queries, with junk images (Oxford/Paris protocol).

    Parameters
    ----------
    I : array-like of shape (nq, n_ranked), int
        Database ids per query, best first, as returned by ``search``; ``-1`` entries (padding,
        nothing retrieved) are ignored.
    gnd : list of dict
        One dict per query: ``{"ok": ids, "junk": ids}`` (``"junk"`` may be absent). Junk images
        are neither positive nor negative: they are removed from the ranking before scoring.
    kappas : sequence of int, optional
        The k of each mP@k (each >= 1).

    Returns
    -------
    map : float
        Mean AP over the queries that have at least one positive (NaN if none has).
    aps : ndarray of shape (nq,), float64
        AP per query; NaN for queries without positives.
    mpk : ndarray of shape (len(kappas),), float64
        Mean precision at each k over queries with positives.
    pks : ndarray of shape (nq, len(kappas)), float64
        Precision at each k per query; NaN rows for queries without positives.

    Raises
    ------
    ValueError
        ``len(gnd) != nq``, a negative id other than -1, an id listed twice in one ranking row,
        an id both ok and junk, or a k < 1.
    TypeError
        Non-integer ids or a malformed ``gnd``.

    Notes
    -----
    Each positive's 0-based rank is reduced by the number of junk images ranked before it, then
    AP is computed by :func:`compute_ap` (revisitop's trapezoidal rule).

    *Truncated rankings.* revisitop assumes every query ranks the whole database, so every
    positive has a rank. Here ``I`` usually holds only the top-k of a candidate list; positives
    absent from ``I`` are counted as missed: they stay in the denominator ``n_positives`` but add
    no area, i.e. AP is what revisitop would report if they were ranked at infinity. A query with
    no retrieved positive gets AP = 0 and precision 0 at every k.

    *mP@k quirk.* Like revisitop, precision at k divides by ``min(max(positive ranks), k)`` (1-based
    rank of the last retrieved positive) rather than by k, so a query whose few positives are all
    at the top of the ranking scores 1 even when k exceeds its number of positives. Kept for
    compatibility with published numbers.
    """
    I = _as_ranking(I)
    g = _as_gnd(gnd, I.shape[0])
    return _map_core(I, g, _as_kappas(kappas))


_REVISITED_SETTINGS = {
    # setting: (keys forming "ok", keys forming "junk")
    "easy": (("easy",), ("junk", "hard")),
    "medium": (("easy", "hard"), ("junk",)),
    "hard": (("hard",), ("junk", "easy")),
}


def compute_map_revisited(I, gnd_revisited, kappas=(1, 5, 10)) -> dict:
    """mAP and mP@k for the Easy, Medium and Hard settings of revisited Oxford/Paris.

    Parameters
    ----------
    I : array-like of shape (nq, n_ranked), int
        Ranked database ids per query (``-1`` padding ignored).
    gnd_revisited : list of dict
        Per query ``{"easy": ids, "hard": ids, "junk": ids}`` as in ``gnd_roxford5k.pkl``.
    kappas : sequence of int
        The k of each mP@k.

    Returns
    -------
    dict
        ``{"easy" | "medium" | "hard": {"map", "aps", "mpk", "pks"}}`` with the values of
        :func:`compute_map` for that setting.

    Notes
    -----
    Easy: ok = easy, junk = junk + hard. Medium: ok = easy + hard, junk = junk.
    Hard: ok = hard, junk = junk + easy (revisitop ``example_evaluate.py``).
    """
    I = _as_ranking(I)
    if isinstance(gnd_revisited, (str, bytes, Mapping)) or not isinstance(gnd_revisited, Sequence):
        raise TypeError(f"gnd_revisited must be a list of dicts, got {type(gnd_revisited).__name__}")
    if len(gnd_revisited) != I.shape[0]:
        raise ValueError(f"gnd_revisited has {len(gnd_revisited)} queries but the ranking has nq={I.shape[0]} rows")
    parts = []
    for q, entry in enumerate(gnd_revisited):
        parts.append({key: _gnd_ids(entry, key, q, required=True) for key in ("easy", "hard", "junk")})
    ks = _as_kappas(kappas)
    out = {}
    for setting, (ok_keys, junk_keys) in _REVISITED_SETTINGS.items():
        gnd = [{"ok": np.concatenate([p[k] for k in ok_keys]),
                "junk": np.concatenate([p[k] for k in junk_keys])} for p in parts]
        m, aps, mpk, pks = _map_core(I, _as_gnd(gnd, I.shape[0]), ks)
        out[setting] = {"map": m, "aps": aps, "mpk": mpk, "pks": pks}
    return out


# ---------------------------------------------------------------------------------------------
# the paper's Recall and R@k


def _as_candidate_rows(candidates, nq: int) -> list[np.ndarray]:
    if isinstance(candidates, np.ndarray) and candidates.ndim == 2:
        rows = list(_as_ranking(candidates, "candidates"))
    else:
        if isinstance(candidates, (str, bytes, Mapping)) or not isinstance(candidates, (Sequence, np.ndarray)):
            raise TypeError(f"candidates must be a list of id arrays or an (nq, n) array, got {type(candidates).__name__}")
        rows = [as_int_array(np.asarray(c).reshape(-1), f"candidates[{q}]", ndim=1, low=-1)
                for q, c in enumerate(candidates)]
    if len(rows) != nq:
        raise ValueError(f"candidates has {len(rows)} queries but gnd has {nq}")
    return [r[r >= 0] for r in rows]


def _mean_recall(found_per_query: list[np.ndarray], gnd: list, return_per_query: bool):
    per = np.full(len(gnd), np.nan)
    for q, ((ok, _junk), found) in enumerate(zip(gnd, found_per_query)):
        if ok.size:
            per[q] = np.count_nonzero(np.isin(ok, found)) / ok.size
    valid = ~np.isnan(per)
    mean = float(per[valid].mean()) if valid.any() else float("nan")
    return (mean, per) if return_per_query else mean


def candidate_recall(candidates, gnd, *, return_per_query: bool = False):
    """The paper's "Recall" (Table I): share of each query's positives inside its candidate list.

    Parameters
    ----------
    candidates : list of array-like of int, or ndarray of shape (nq, n), int
        Per query, the database ids the index scans (e.g. the members of the partitions named by
        the code head); ``-1`` entries are ignored, order does not matter.
    gnd : list of dict
        ``{"ok": ids, "junk": ids}`` per query; only ``ok`` counts as relevant.
    return_per_query : bool
        Also return the per-query recalls.

    Returns
    -------
    float, or (float, ndarray of shape (nq,))
        ``mean_q |ok_q ∩ candidates_q| / |ok_q|`` over queries with positives (NaN per query
        without positives, excluded from the mean).
    """
    g = _as_gnd(gnd, None)
    return _mean_recall(_as_candidate_rows(candidates, len(g)), g, return_per_query)


def recall_at_k(I, gnd, k: int, *, return_per_query: bool = False):
    """The paper's R@k (Table I): ``|relevant ∩ top-k| / |relevant|``, averaged over queries.

    Parameters
    ----------
    I : array-like of shape (nq, n_ranked), int
        Ranked database ids (``-1`` padding ignored); ``n_ranked >= k``.
    gnd : list of dict
        ``{"ok": ids, "junk": ids}``; relevant = ``ok``. Junk images are not removed from the top k
        (the paper does not say it does); they just occupy a slot.
    k : int
        Cut-off, >= 1.
    return_per_query : bool
        Also return the per-query values (NaN for queries without positives).

    Returns
    -------
    float, or (float, ndarray of shape (nq,))

    Notes
    -----
    This is a *recall of the relevant set*: with 20 positives, R@1 is at most 1/20, which is why
    Table I shows R@1 = 0.059 for nearly every method on Oxford. It differs from faiss's R@k
    (``1-recall@k``, whether the single true nearest neighbour is among the top k), provided here as
    :func:`nn_recall_at_k`.
    """
    I = _as_ranking(I)
    k = check_int(k, "k", low=1)
    if k > I.shape[1]:
        raise ValueError(f"k={k} exceeds the ranking length n_ranked={I.shape[1]}; search with a larger k")
    g = _as_gnd(gnd, I.shape[0])
    return _mean_recall([row[row >= 0] for row in I[:, :k]], g, return_per_query)


def nn_recall_at_k(I, gt_nn, k: int) -> float:
    """faiss's R@k: the share of queries whose true nearest neighbour is among the top k.

    Parameters
    ----------
    I : array-like of shape (nq, n_ranked), int
        Ranked database ids; ``n_ranked >= k``.
    gt_nn : array-like of shape (nq,) or (nq, m), int
        True nearest neighbour of each query (with 2-D input, column 0 is used, as faiss does with
        ``gt[:, :1]``).
    k : int
        Cut-off, >= 1.

    Returns
    -------
    float
    """
    I = _as_ranking(I)
    k = check_int(k, "k", low=1)
    if k > I.shape[1]:
        raise ValueError(f"k={k} exceeds the ranking length n_ranked={I.shape[1]}")
    gt = np.asarray(gt_nn)
    if gt.ndim == 2:
        gt = gt[:, 0] if gt.shape[1] else gt.reshape(-1)
    gt = as_int_array(gt, "gt_nn", ndim=1, low=0)
    if gt.shape[0] != I.shape[0]:
        raise ValueError(f"gt_nn has {gt.shape[0]} queries but I has nq={I.shape[0]} rows")
    if I.shape[0] == 0:
        return float("nan")
    return float(np.mean(np.any(I[:, :k] == gt[:, None], axis=1)))
