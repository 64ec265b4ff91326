"""Data generators and decoded-vector references shared by the index tests (tests/index/);
the fixtures built from them are in tests/index/conftest.py. Not a test module."""

import numpy as np

from dscref.index import FlatPQIndex, GPIndex, IVFIndex, SemanticIndex

# ------------------------------------------------------------------ DSC / IVF / flat
LUT_K = 20


def lut_data(seed=0, n=3000, d=32, K=LUT_K):
    """(x (n, d) float32 unit rows, labels (n,) int64 with partition 3 empty, the generator)."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    labels[labels == 3] = 4  # partition 3 stays empty
    x = C[labels] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64), rng


def lut_build(kind, x, labels, **kw):
    if kind == "dsc":
        return SemanticIndex(LUT_K, M=4, nbits=6, n_iter=8, seed=0, progress=False, **kw).build(x, labels)
    if kind == "ivf":
        return IVFIndex(LUT_K, M=4, nbits=6, n_iter=8, seed=0, **kw).build(x)
    return FlatPQIndex(M=4, nbits=6, n_iter=8, seed=0, **kw).build(x)


# ------------------------------------------------------------------ IMI / G+P
N, D = 1500, 16
KW = dict(M=4, nbits=4, n_iter=8, seed=0, keep_vectors=True)


def sphere_data(n=N, d=D, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ------------------------------------------------------------------ decoded-vector references
def row_cell(index):
    """The list of every stored row (rows are in list order)."""
    return np.repeat(np.arange(index.n_lists), np.diff(index.offsets_))


def reconstruct_rows(index):
    """d_hat of every stored row (n, d) float64: reference vector + decoded residual."""
    cell = row_cell(index)
    ref = index.centroids_[cell].astype(np.float64)
    if isinstance(index, GPIndex) and index.residual == "subcentroid":
        L = index.L
        sub = np.repeat(np.arange(index.n_lists * L) % L, np.diff(index.sub_offsets_))
        nb = index.centroids_[index.neighbors_[cell, sub]].astype(np.float64)
        ref = ref + index.alpha_[cell][:, None].astype(np.float64) * (nb - ref)
    out = ref.copy()
    for p in np.unique(index.list_pq_[cell]):  # each row decoded by its list's quantizer
        rows = index.list_pq_[cell] == p
        out[rows] += index.pqs_[p].decode(index.codes_[rows]).astype(np.float64)
    return out
