"""GPIndex (DUC-G+P): grouping, pruning, parameters, and its IVF parentage."""

import numpy as np
import pytest

from index_data import N, reconstruct_rows, row_cell, sphere_data
from dscref.index.gp import GPIndex
from dscref.index.ivf import IVFIndex


def test_gp_grouping(gp, x):
    L = gp.L
    assert gp.neighbors_.shape == (gp.n_lists, L)
    assert not (gp.neighbors_ == np.arange(gp.n_lists)[:, None]).any()
    np.testing.assert_array_equal(gp.sub_offsets_[::L], gp.offsets_)
    assert ((gp.alpha_ >= 0) & (gp.alpha_ < 1)).all()
    # each row sits in its nearest sub-region and is coded relative to that sub-centroid
    cell = row_cell(gp)
    sub = np.repeat(np.arange(gp.n_lists * L) % L, np.diff(gp.sub_offsets_))
    xs = x[gp.ids_].astype(np.float64)
    c = gp.centroids_.astype(np.float64)
    subc = c[cell][:, None] + gp.alpha_[cell][:, None, None] * (c[gp.neighbors_[cell]] - c[cell][:, None])
    dist = ((xs[:, None] - subc) ** 2).sum(2)
    np.testing.assert_allclose(dist[np.arange(N), sub], dist.min(1), rtol=1e-5, atol=1e-6)
    own = subc[np.arange(N), sub].astype(np.float32)
    np.testing.assert_array_equal(gp.codes_, gp.pqs_[0].encode(x[gp.ids_] - own))


def test_gp_subcentroid_residuals_are_smaller(gp, gp_centroid, x):
    err_sub = ((reconstruct_rows(gp) - x[gp.ids_]) ** 2).sum()
    err_c = ((reconstruct_rows(gp_centroid) - x[gp_centroid.ids_]) ** 2).sum()
    assert err_sub < err_c
    assert np.unique(gp_centroid.alpha_).size == 1


@pytest.mark.parametrize("rule", ["mean", 0.5, 0.25])
def test_gp_pruning_scans_fewer(gp, queries, rule):
    queries_ = [gp.encode_query(q, n_probe=5) for q in queries]
    saved = gp.prune
    try:
        gp.prune = None
        full = gp.search(queries_, k=20).n_candidates
        gp.prune = rule
        pruned = gp.search(queries_, k=20).n_candidates
    finally:
        gp.prune = saved
    assert (pruned <= full).all() and (pruned < full).any() and (pruned > 0).all()


def test_gp_keeps_nearest_subregion_when_all_tie():
    mask = GPIndex(n_lists=4, n_neighbors=2, prune="mean")._kept(np.full(5, 0.3))
    assert mask.sum() == 1


def test_bad_parameters_raise(x):
    with pytest.raises(ValueError, match="n_neighbors=8 must be < n_lists=8"):
        GPIndex(n_lists=8, n_neighbors=8)
    with pytest.raises(ValueError, match="prune=1.5"):
        GPIndex(n_lists=8, n_neighbors=2, prune=1.5)
    with pytest.raises(ValueError, match="'median'"):
        GPIndex(n_lists=8, n_neighbors=2, prune="median")
    with pytest.raises(ValueError, match="'local'"):
        GPIndex(n_lists=8, n_neighbors=2, alpha="local")
    with pytest.raises(ValueError, match="n_lists=2000"):
        GPIndex(n_lists=2000, n_neighbors=2).build(x)
    with pytest.raises(ValueError, match="not built"):
        GPIndex(n_lists=8, n_neighbors=2).encode_query(x[0])


# ---------------------------------------------------------------- G+P is IVF plus sub-regions
def test_gp_is_an_ivf_index_sharing_its_coarse_quantizer_and_head():
    assert issubclass(GPIndex, IVFIndex)
    for name in ("head", "_check_fit_input", "label_bits", "_prepare_rows"):
        assert name not in vars(GPIndex), name  # inherited, not repeated
    x = sphere_data(900, seed=3)
    kw = dict(n_lists=8, M=4, nbits=4, n_iter=3, coarse_iter=4, seed=11)
    ivf, gp = IVFIndex(**kw).build(x), GPIndex(n_neighbors=3, **kw).build(x)
    # the same draws in the same order: the same coarse quantizer, cells and heads
    np.testing.assert_array_equal(gp.centroids_, ivf.centroids_)
    np.testing.assert_array_equal(gp.offsets_, ivf.offsets_)
    for q in x[:5]:
        np.testing.assert_array_equal(gp.head(q, 3), ivf.head(q, 3))
    # residual="centroid" and no pruning: the cell's items are coded as IVF codes them, but the
    # PQ is trained on another draw of rows (gathered, not capped) -- the scanned ids agree
    flat = GPIndex(n_neighbors=3, residual="centroid", prune=None, **kw).build(x)
    for q in x[:5]:
        a, b = flat.encode_query(q, n_probe=2), ivf.encode_query(q, n_probe=2)
        assert set(flat.query_candidates(a).tolist()) == set(ivf.query_candidates(b).tolist())


def test_gp_stores_no_temporary_attribute(x):
    ix = GPIndex(n_lists=8, n_neighbors=2, M=4, nbits=4, n_iter=2, coarse_iter=2, seed=0).train(x)
    ix.add(x[:700]).add(x[700:])
    assert "_sub" not in vars(ix)
    assert ix.n_lists == ix.K == 8 and "K" not in vars(ix) and vars(ix)["_n_lists"] == 8
