"""NumPy twins of the search engine's kernels (see :mod:`dscref._kernels.engine` and
:mod:`dscref._kernels.select`), written in the kernels' order of operations."""

from __future__ import annotations

import numpy as np


def rows_ref(codebooks: np.ndarray, sub_norm2: np.ndarray, v: np.ndarray, v_norm2: np.ndarray):
    """``gram[m, j] = sum_t r_mj[t] v_m[t]`` in float32, t in order from +0.0, and
    ``sdc = float32(max((v_norm2[m] + sub_norm2[m, j]) - float64(2 gram), 0))``."""
    M, ksub, dsub = codebooks.shape
    gram = np.zeros((M, ksub), dtype=np.float32)
    for t in range(dsub):
        gram = gram + codebooks[:, :, t] * v[:, None, t]
    s = (v_norm2[:, None] + sub_norm2) - (np.float32(2.0) * gram).astype(np.float64)
    return np.where(s > 0.0, s, 0.0).astype(np.float32), gram


def pair_gram_ref(codebooks: np.ndarray) -> np.ndarray:
    """``G[m, e, j]``: the Gram row of every codeword ``e`` (:func:`rows_ref` with ``v = r_me``)."""
    M, ksub, dsub = codebooks.shape
    n2 = np.zeros((M, ksub))
    return np.stack([rows_ref(codebooks, n2, codebooks[:, e], n2[:, e])[1] for e in range(ksub)], axis=1)


def pair_sdc_ref(G: np.ndarray, sub_norm2: np.ndarray) -> np.ndarray:
    """``S[m, e, j] = float32(max((n2[m, e] + n2[m, j]) - float64(2 G[m, e, j]), 0))``."""
    s = (sub_norm2[:, :, None] + sub_norm2[:, None, :]) - (np.float32(2.0) * G).astype(np.float64)
    return np.where(s > 0.0, s, 0.0).astype(np.float32)


def topk_pairs_ref(keys: np.ndarray, k: int):
    """The k best (key, position) pairs, key ascending then position: ``(keys, positions)``."""
    order = np.lexsort((np.arange(keys.size), keys))[:k]
    return keys[order], order
