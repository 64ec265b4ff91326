"""SemanticIndex (DSC): partitions, shared quantizer, input checks, the list count's names."""

import warnings

import numpy as np
import pytest

from index_data import LUT_K, lut_build
from dscref.index import make_index
from dscref.index.base import Query
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex


def test_dsc_partitions_and_shared_pq(lut):
    x, labels, _ = lut
    idx = SemanticIndex(20, M=4, nbits=6, n_iter=5, seed=0, progress=False, min_partition_size=160).build(x, labels)
    sizes = np.bincount(labels, minlength=20)
    np.testing.assert_array_equal(idx.list_sizes(), sizes)
    # eq. (3): centroid = partition mean
    for i in (0, 5):
        np.testing.assert_allclose(idx.centroids_[i], x[labels == i].mean(0), atol=1e-5)
    small = np.flatnonzero(sizes < 160)
    np.testing.assert_array_equal(idx.shared_pq_lists_, small)
    assert 3 in small and all(idx.list_pq_[s] == 0 for s in small)
    big = np.flatnonzero(sizes >= 160)
    assert len({int(idx.list_pq_[b]) for b in big}) == big.size  # one PQ each
    # candidates of a head = union of its partitions
    np.testing.assert_array_equal(np.sort(idx.candidate_ids([0, 3])), np.flatnonzero(labels == 0))
    # an empty partition in the head scans nothing, and search still pads
    q = idx.encode_query(x[0], top_labels=[3])
    D, I, nc = idx.search(q, k=4)
    assert nc[0] == 0 and np.all(I == -1) and np.all(np.isinf(D))


def test_bad_input(lut):
    x, labels, _ = lut
    idx = lut_build("dsc", x, labels)
    with pytest.raises(ValueError, match="not built"):
        SemanticIndex(20).search(Query(labels=[0], codes=np.zeros((1, 8), np.uint8)))
    with pytest.raises(ValueError, match="d=32"):
        idx.encode_query(np.ones(31, np.float32), top_labels=[0])
    with pytest.raises(ValueError, match="non-finite"):
        idx.encode_query(np.full(32, np.nan, np.float32), top_labels=[0])
    with pytest.raises(ValueError, match="20"):
        idx.encode_query(x[0], top_labels=[20])
    with pytest.raises(ValueError, match="duplicates"):
        idx.encode_query(x[0], top_labels=[1, 1])
    with pytest.raises(ValueError, match="top_labels"):
        idx.encode_query(x[0])
    q = idx.encode_query(x[0], top_labels=[1])
    with pytest.raises(ValueError, match="k=0"):
        idx.search(q, k=0)
    with pytest.raises(ValueError, match="metric"):
        idx.search(q, k=3, metric="hamming")
    with pytest.raises(ValueError, match="outside"):
        idx.search(Query(labels=[25], codes=np.zeros((1, 4), np.uint8)), k=3)
    with pytest.raises(ValueError, match="shape"):
        idx.search(Query(labels=[1, 2], codes=np.zeros((1, 4), np.uint8)), k=3)
    with pytest.raises(ValueError, match="keep_vectors"):
        idx.search(idx.encode_query(x[0], top_labels=[1], raw=True))
    with pytest.raises(TypeError, match="Query"):
        idx.search([np.zeros(4)], k=3)
    with pytest.raises(ValueError, match="labels has 10 entries"):
        SemanticIndex(20).build(x, labels[:10])
    with pytest.raises(ValueError, match="must be < 20"):
        SemanticIndex(20).build(x, labels + 1)
    with pytest.raises(ValueError, match="divisible"):
        SemanticIndex(20, M=5).build(x, labels)
    with pytest.raises(ValueError, match="n_lists=20 must be <= n_samples=10"):
        IVFIndex(20).build(x[:10])


# ---------------------------------------------------------------- one name for the list count
def test_n_lists_is_the_keyword_and_n_labels_a_deprecated_alias():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = SemanticIndex(n_lists=7, M=4)
        positional = SemanticIndex(7, M=4)
    with pytest.warns(DeprecationWarning, match="n_labels.*n_lists"):
        old = SemanticIndex(n_labels=7, M=4)
    for ix in (new, positional, old):
        assert ix.K == 7 and vars(ix)["_n_lists"] == 7 and "K" not in vars(ix)
        assert repr(ix).startswith("SemanticIndex(n_lists=7,")
    assert vars(new) == vars(old)
    assert SemanticIndex().K == 1000
    with pytest.raises(TypeError, match="both n_lists= and its deprecated alias n_labels="):
        SemanticIndex(n_lists=7, n_labels=7)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="n_lists=0"):
        SemanticIndex(n_labels=0)
    with pytest.raises(ValueError, match="n_lists=0"):
        SemanticIndex(n_lists=0)


def test_same_index_whichever_name(lut):
    x, labels, _ = lut
    with pytest.warns(DeprecationWarning):
        old = SemanticIndex(n_labels=LUT_K, M=4, nbits=6, n_iter=3, seed=0, progress=False).build(x, labels)
    new = SemanticIndex(n_lists=LUT_K, M=4, nbits=6, n_iter=3, seed=0, progress=False).build(x, labels)
    for name in ("centroids_", "codes_", "ids_", "offsets_", "db_norm2_", "list_pq_"):
        np.testing.assert_array_equal(getattr(old, name), getattr(new, name))


def test_k_alias_reads_and_sets_the_list_count():
    """``K`` stays readable (and settable, as dscref.distributed copies it into a shard)."""
    ix = SemanticIndex(5)
    ix.K = 9
    assert vars(ix)["_n_lists"] == 9 and repr(ix).startswith("SemanticIndex(n_lists=9,")
    with pytest.raises(AttributeError):
        ix.n_lists = 3  # the list count is read-only under its own name
    with pytest.raises(AttributeError):
        ix.n_lists  # noqa: B018 - the lists exist once trained (as before)
    assert IVFIndex(n_lists=6).K == 6


def test_make_index_uses_n_lists():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ix = make_index("dsc", 12, M=4)
    assert isinstance(ix, SemanticIndex) and ix.K == 12
