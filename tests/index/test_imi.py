"""IMIIndex (DUC-IMI): the multi-sequence algorithm, traversal, cells, parameters."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from index_data import D, N, row_cell
from dscref.index.imi import IMIIndex, multi_sequence


@given(
    d1=hnp.arrays(np.float64, st.integers(1, 9), elements=st.integers(0, 6).map(float)),
    d2=hnp.arrays(np.float64, st.integers(1, 9), elements=st.floats(0, 5, allow_nan=False)),
    n_out=st.integers(1, 90),
    mask_seed=st.integers(0, 2**16),
)
def test_multi_sequence_equals_sorting_all_sums(d1, d2, n_out, mask_seed):
    sums = (d1[:, None] + d2[None, :]).ravel()
    for accept in (None, np.random.default_rng(mask_seed).random(sums.size) < 0.5):
        cells = multi_sequence(d1, d2, n_out, accept)
        allowed = np.arange(sums.size) if accept is None else np.flatnonzero(accept)
        assert cells.dtype == np.int64
        assert cells.size == min(n_out, allowed.size)
        assert np.unique(cells).size == cells.size and np.isin(cells, allowed).all()
        # same sums as the brute-force sort (the order of tied cells may differ)
        np.testing.assert_array_equal(sums[cells], np.sort(sums[allowed], kind="stable")[:cells.size])


def test_imi_traverse_equals_brute_force(imi, queries):
    K = imi.n_centroids_per_half
    for q in queries:
        cells = imi.traverse(q, K * K)
        full = ((imi.centroids_.astype(np.float64) - q) ** 2).sum(1)
        np.testing.assert_allclose(full[cells], np.sort(full), rtol=1e-9, atol=1e-12)
        assert np.unique(cells).size == K * K
        head = imi.head(q, 7)  # skip_empty by default: the first non-empty cells, in order
        assert imi.nonempty_[head].all()
        np.testing.assert_array_equal(head, cells[imi.nonempty_[cells]][:7])
        np.testing.assert_array_equal(imi.traverse(q, 7, skip_empty=True), head)


def test_imi_structure(imi, x):
    K = imi.n_centroids_per_half
    assert imi.centroids_.shape == (K * K, D) and imi.centroids_.dtype == np.float32
    i, j = 4, 2
    np.testing.assert_array_equal(imi.centroids_[i * K + j], np.r_[imi.codebook1_[i], imi.codebook2_[j]])
    # every row sits in its nearest cell (the distance splits over the halves)
    cell = row_cell(imi)
    full = ((x[imi.ids_][:, None, :] - imi.centroids_[None]) ** 2).sum(2)
    np.testing.assert_array_equal(full[np.arange(N), cell], full.min(1))
    assert imi.ids_.dtype == np.int64 and imi.codes_.dtype == np.uint8
    assert IMIIndex(n_centroids_per_half=32).label_bits == 10
    assert imi.head(x[0], 10 ** 6).size == imi.nonempty_.sum()


def test_bad_parameters_raise(x):
    with pytest.raises(ValueError, match="n_centroids_per_half=0"):
        IMIIndex(n_centroids_per_half=0)
    with pytest.raises(TypeError, match="skip_empty"):
        IMIIndex(skip_empty="yes")
    with pytest.raises(ValueError, match="d=15"):
        IMIIndex(n_centroids_per_half=2, M=1, nbits=2).build(x[:, :15])


def test_list_count_is_the_square_of_the_centroids_per_half():
    ix = IMIIndex(n_centroids_per_half=5)
    assert ix.n_centroids_per_half == ix.K == 5 and "K" not in vars(ix)
    assert repr(ix).startswith("IMIIndex(n_lists=25,")
    ix.K = 3  # the alias sets the centroids per half
    assert ix.n_centroids_per_half == 3
    x = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    assert ix.build(x).n_lists == 9 == ix.centroids_.shape[0]
