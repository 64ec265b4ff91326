"""IVFIndex (DUC-IVF): seeded and batched search, the coarse quantizer and its head."""

import numpy as np
import pytest

from index_data import lut_build
from dscref.index.ivf import IVFIndex


def test_search_is_seeded_and_batched(lut):
    x, labels, _ = lut
    a = lut_build("ivf", x, labels)
    b = lut_build("ivf", x, labels)
    qs = [a.encode_query(x[i]) for i in range(5)]
    ra, rb = a.search(qs, 7), b.search(qs, 7)
    np.testing.assert_array_equal(ra.I, rb.I)
    one = [a.search(q, 7) for q in qs]
    np.testing.assert_array_equal(ra.I, np.vstack([o.I for o in one]))
    assert ra.D.dtype == np.float32 and ra.I.dtype == np.int64 and ra.n_candidates.shape == (5,)


def test_head_is_the_nearest_coarse_centroids(lut):
    x, labels, _ = lut
    ix = lut_build("ivf", x, labels)
    assert ix.centroids_ is ix.coarse_.centroids_
    for q in x[:5]:
        d = ((ix.centroids_.astype(np.float64) - q) ** 2).sum(1)
        np.testing.assert_array_equal(ix.head(q, 4), np.argsort(d, kind="stable")[:4])
    assert ix.head(x[0], 100).size == ix.n_lists == 20 and ix.label_bits == 5
    np.testing.assert_array_equal(ix.list_sizes(), np.bincount(ix.coarse_.predict(x), minlength=20))


def test_bad_parameters_raise(lut):
    x, _, _ = lut
    with pytest.raises(ValueError, match="n_lists=0"):
        IVFIndex(n_lists=0)
    with pytest.raises(ValueError, match="coarse_iter=0"):
        IVFIndex(n_lists=4, coarse_iter=0)
    with pytest.raises(ValueError, match="n_lists=20 must be <= n_samples=10"):
        IVFIndex(20).build(x[:10])
