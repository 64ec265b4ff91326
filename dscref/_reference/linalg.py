"""NumPy twins of :mod:`dscref._kernels.linalg`: the same summation order, so equal bit for bit."""

from __future__ import annotations

import numpy as np


def matmul_ref(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b summed over k in order in float64 (exact float64 products), rounded to float32."""
    acc = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        acc += a[:, k, None].astype(np.float64) * b[k].astype(np.float64)
    return acc.astype(np.float32)


def matvec_ref(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    acc = np.zeros(a.shape[0])
    for j in range(a.shape[1]):
        acc += a[:, j].astype(np.float64) * np.float64(v[j])
    return acc.astype(np.float32)


def orthonormalise_rows_ref(q: np.ndarray) -> np.ndarray:
    """Modified Gram-Schmidt, each dot product summed left to right."""
    q = np.array(q, dtype=np.float64)

    def dot(x, y):
        s = 0.0
        for t in x * y:
            s += t
        return s

    for i in range(q.shape[0]):
        for p in range(i):
            q[i] -= dot(q[p], q[i]) * q[p]
        q[i] /= np.sqrt(dot(q[i], q[i]))
    return q
