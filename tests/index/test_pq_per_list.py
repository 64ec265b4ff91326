"""One residual PQ per list or one shared (``pq_per_list``, ``min_partition_size``;
dscref/index/_quantizers.py) for IVF, G+P and DSC; ``codebook_bytes`` and ``own_pq_lists``.

The data: ``lut_data()`` (3000 x 32, 20 labelled clusters, partition 3 empty). Search results
are checked against eq. (14) on the decoded vectors, each list decoded by its own quantizer;
that the defaults store what the code before the option stored is checked by
tests/index/test_legacy_files.py (builds compared array for array with files the old code wrote).
"""

import numpy as np
import pytest

from dscref.errors import IndexFormatError
from dscref.index import GPIndex, IMIIndex, IVFIndex, SemanticIndex, make_index
from dscref.index.flat import FlatPQIndex
from dscref.io import load_index, save_index, verify_index
from dscref.pq import ProductQuantizer
from index_data import LUT_K, lut_data, sphere_data

KW = dict(M=4, nbits=6, n_iter=8, seed=0)  # ksub = 64 codewords of 8 floats per sub-space


@pytest.fixture(scope="module")
def data():
    x, labels, _ = lut_data()
    return x, labels


def _build(kind, x, labels, **opt):
    if kind == "dsc":
        return SemanticIndex(LUT_K, progress=False, **KW, **opt).build(x, labels)
    if kind == "gp":
        return GPIndex(LUT_K, n_neighbors=3, coarse_iter=8, **KW, **opt).build(x)
    return IVFIndex(LUT_K, coarse_iter=8, **KW, **opt).build(x)


def _training_counts(ix, x, labels):
    """Training rows per list: DSC's labels, the coarse cells of the DUC indices."""
    assign = labels if isinstance(ix, SemanticIndex) else ix.coarse_.predict(x)
    return np.bincount(assign, minlength=ix.n_lists)


def _state(ix):
    """Every fitted array of an index and its quantizers, by name."""
    out = {k: v for k, v in vars(ix).items() if isinstance(v, np.ndarray)}
    out.update({f"pqs_[{p}]": pq.codebooks_ for p, pq in enumerate(ix.pqs_)})
    return out


# ---------------------------------------------------------------- the two modes
@pytest.mark.parametrize("kind", ["ivf", "gp", "dsc"])
def test_shared_mode_trains_one_quantizer_for_every_list(kind, data):
    ix = _build(kind, *data, pq_per_list=False)
    assert ix.pq_per_list is False and ix.min_partition_size is None
    assert len(ix.pqs_) == 1 and not ix.list_pq_.any() and ix.own_pq_lists.size == 0
    if kind == "dsc":
        np.testing.assert_array_equal(ix.shared_pq_lists_, np.arange(LUT_K))
    ix._check_state()


@pytest.mark.parametrize("threshold", [100, 150, 180])
@pytest.mark.parametrize("kind", ["ivf", "gp", "dsc"])
def test_per_list_mode_gives_each_large_list_its_own_quantizer(kind, threshold, data):
    x, labels = data
    ix = _build(kind, x, labels, pq_per_list=True, min_partition_size=threshold)
    counts = _training_counts(ix, x, labels)
    big = np.flatnonzero(counts >= threshold)
    assert 0 < big.size < LUT_K  # both kinds of list at every threshold
    np.testing.assert_array_equal(ix.own_pq_lists, big)
    assert len(ix.pqs_) == 1 + big.size
    np.testing.assert_array_equal(ix.list_pq_[big], np.arange(1, big.size + 1))
    assert not ix.list_pq_[counts < threshold].any()
    if kind == "dsc":
        np.testing.assert_array_equal(ix.shared_pq_lists_, np.flatnonzero(counts < threshold))
    ix._check_state()


@pytest.mark.parametrize("kind", ["ivf", "dsc"])
def test_each_list_is_encoded_by_its_quantizer_trained_on_its_residuals(kind, data):
    x, labels = data
    ix = _build(kind, x, labels, pq_per_list=True, min_partition_size=150)
    for i in range(ix.n_lists):
        a, b = ix.offsets_[i], ix.offsets_[i + 1]
        if a == b:
            continue
        res = x[ix.ids_[a:b]] - ix.centroids_[i]
        own = ix.pqs_[ix.list_pq_[i]]
        np.testing.assert_array_equal(ix.codes_[a:b], own.encode(res))
        if ix.list_pq_[i]:  # trained on this list: it reconstructs the list better than slot 0
            err_own = ((own.decode(own.encode(res)) - res) ** 2).sum()
            err_shared = ((ix.pqs_[0].decode(ix.pqs_[0].encode(res)) - res) ** 2).sum()
            assert err_own < 0.8 * err_shared, (i, err_own, err_shared)


def test_defaults_and_the_modes_spelled_out(data):
    x, labels = data
    assert (IVFIndex(4).pq_per_list, IVFIndex(4).min_partition_size) == (False, None)
    assert (GPIndex(4, n_neighbors=2).pq_per_list, GPIndex(4, n_neighbors=2).min_partition_size) == (False, None)
    assert (IVFIndex(4, nbits=5, pq_per_list=True).min_partition_size) == 32
    assert (SemanticIndex(4).pq_per_list, SemanticIndex(4, nbits=6).min_partition_size) == (True, 64)
    assert SemanticIndex(4, pq_per_list=False).min_partition_size is None
    for kind, spelled in (("ivf", dict(pq_per_list=False)), ("gp", dict(pq_per_list=False)),
                          ("dsc", dict(pq_per_list=True, min_partition_size=64))):
        a, b = _state(_build(kind, x, labels)), _state(_build(kind, x, labels, **spelled))
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{kind}: {k}")


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("kind,opt", [("ivf", dict(pq_per_list=False)), ("ivf", dict(pq_per_list=True)),
                                      ("ivf", dict(pq_per_list=True, min_partition_size=150)),
                                      ("dsc", dict(pq_per_list=False)), ("dsc", dict(pq_per_list=True))])
def test_search_equals_adc_on_the_decoded_vectors(kind, opt, metric, data):
    """eq. (14) / (15) by brute force: q_hat = c^i + r^q and d_hat = c^i + r^d, both decoded by
    list i's quantizer; the search returns exactly the candidates of the head, so scored."""
    x, labels = data
    ix = _build(kind, x, labels, **opt)
    rng = np.random.default_rng(5)
    for qi in rng.choice(len(x), 4, replace=False):
        q = x[qi] + 0.05 * rng.standard_normal(x.shape[1]).astype(np.float32)
        head = [labels[qi], (labels[qi] + 1) % LUT_K, 3] if kind == "dsc" else None
        query = ix.encode_query(q, top_labels=head, n_probe=3)
        res = ix.search(query, k=len(x), metric=metric)
        want = {}
        for j, lab in enumerate(query.labels):
            pq, (a, b) = ix.pqs_[ix.list_pq_[lab]], ix.offsets_[lab:lab + 2]
            np.testing.assert_array_equal(query.codes[j], pq.encode((q - ix.centroids_[lab])[None])[0])
            qh = (ix.centroids_[lab] + pq.decode(query.codes[j][None])[0]).astype(np.float64)
            dh = (ix.centroids_[lab] + pq.decode(ix.codes_[a:b])).astype(np.float64)
            s = ((dh - qh) ** 2).sum(1) if metric == "l2" else \
                dh @ qh / (np.linalg.norm(dh, axis=1) * np.linalg.norm(qh))
            want.update(zip(ix.ids_[a:b].tolist(), s.tolist()))
        valid = res.I[0] >= 0
        got = dict(zip(res.I[0][valid].tolist(), res.D[0][valid].tolist()))
        assert got.keys() == want.keys() and res.n_candidates[0] == len(want)
        np.testing.assert_allclose([got[i] for i in want], list(want.values()), rtol=2e-4, atol=2e-4)


# ---------------------------------------------------------------- files
@pytest.mark.parametrize("kind,opt", [("ivf", dict(pq_per_list=False)),
                                      ("ivf", dict(pq_per_list=True, min_partition_size=150)),
                                      ("gp", dict(pq_per_list=True, min_partition_size=150)),
                                      ("dsc", dict(pq_per_list=False)),
                                      ("dsc", dict(pq_per_list=True, min_partition_size=150))])
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip_keeps_the_mode(kind, opt, mmap, data, tmp_path):
    x, labels = data
    ix = _build(kind, x, labels, **opt)
    path = save_index(ix, tmp_path / "ix.dscidx")
    state = verify_index(path)["state"]
    assert state["pq_per_list"] == opt["pq_per_list"]
    back = load_index(path, mmap=mmap)
    assert back.pq_per_list is ix.pq_per_list and back.min_partition_size == ix.min_partition_size
    assert len(back.pqs_) == len(ix.pqs_) and back.codebook_bytes == ix.codebook_bytes
    np.testing.assert_array_equal(back.own_pq_lists, ix.own_pq_lists)
    qs = [ix.encode_query(x[i], top_labels=[labels[i]] if kind == "dsc" else None, n_probe=2) for i in range(6)]
    a, b = ix.search(qs, k=20), back.search(qs, k=20)
    np.testing.assert_array_equal(a.I, b.I)
    np.testing.assert_array_equal(a.D, b.D)


@pytest.mark.parametrize("change,match", [
    (dict(pq_per_list=False, min_partition_size=None), "exactly one quantizer"),
    (dict(pq_per_list="yes"), "pq_per_list must be a bool"),
    (dict(min_partition_size=0), r"min_partition_size=0 must lie in \[1"),
    (dict(min_partition_size=None), "min_partition_size must be an int"),
])
def test_a_file_with_inconsistent_options_is_refused(change, match, data, tmp_path):
    x, labels = data
    ix = _build("ivf", x, labels, pq_per_list=True, min_partition_size=150)
    vars(ix).update(change)
    with pytest.raises(ValueError, match=match):
        ix._check_state()
    save_index(ix, tmp_path / "bad.dscidx")
    with pytest.raises(IndexFormatError, match=match):
        load_index(tmp_path / "bad.dscidx")


def test_a_shared_mode_file_with_a_threshold_is_refused(data, tmp_path):
    ix = _build("dsc", *data, pq_per_list=False)
    ix.min_partition_size = 64
    save_index(ix, tmp_path / "bad.dscidx")
    with pytest.raises(IndexFormatError, match="min_partition_size must be None with pq_per_list=False, got 64"):
        load_index(tmp_path / "bad.dscidx")


@pytest.mark.parametrize("kind", ["dsc", "ivf", "gp", "imi", "flat"])
def test_files_written_before_the_option_load_with_the_mode_their_code_had(kind, tmp_path):
    from pathlib import Path

    data_dir = Path(__file__).resolve().parents[1] / "data"
    for name in (f"v2_{kind}.dscidx", f"legacy_{kind}.dscidx"):
        assert "pq_per_list" not in verify_index(data_dir / name)["state"]
        ix = load_index(data_dir / name)
        if kind == "dsc":  # one PQ per partition, its stored threshold
            assert ix.pq_per_list is True and ix.min_partition_size == (40 if name.startswith("v2") else 8)
        elif kind in ("ivf", "gp"):  # one shared PQ
            assert ix.pq_per_list is False and ix.min_partition_size is None
        else:
            assert "pq_per_list" not in vars(ix)
        saved = verify_index(save_index(ix, tmp_path / name))["state"]
        assert ("pq_per_list" in saved) == (kind in ("dsc", "ivf", "gp"))


# ---------------------------------------------------------------- bad values
@pytest.mark.parametrize("make,exc,match", [
    (lambda: IVFIndex(4, pq_per_list="yes"), TypeError, "pq_per_list must be a bool, got 'yes'"),
    (lambda: IVFIndex(4, pq_per_list=1), TypeError, "pq_per_list must be a bool, got 1"),
    (lambda: SemanticIndex(4, pq_per_list=None), TypeError, "pq_per_list must be a bool, got None"),
    (lambda: GPIndex(4, n_neighbors=2, pq_per_list="no"), TypeError, "pq_per_list must be a bool"),
    (lambda: IVFIndex(4, min_partition_size=10), ValueError, "min_partition_size=10 needs pq_per_list=True"),
    (lambda: SemanticIndex(4, pq_per_list=False, min_partition_size=10), ValueError,
     "min_partition_size=10 needs pq_per_list=True"),
    (lambda: IVFIndex(4, pq_per_list=True, min_partition_size=0), ValueError, "min_partition_size=0"),
    (lambda: SemanticIndex(4, min_partition_size=2.5), TypeError, "min_partition_size"),
    (lambda: make_index("imi", 16, pq_per_list=True), ValueError, "pq_per_list=True: the DUC-IMI index"),
    (lambda: make_index("flat", 16, min_partition_size=8), ValueError, "min_partition_size=8: the DUC"),
])
def test_bad_options_raise_naming_the_value(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_make_index_passes_the_options():
    ix = make_index("ivf", 20, pq_per_list=True, min_partition_size=50)
    assert (ix.pq_per_list, ix.min_partition_size) == (True, 50)
    assert make_index("gp", 20, pq_per_list=True).min_partition_size == 256
    assert make_index("dsc", 20, pq_per_list=False).pq_per_list is False
    assert make_index("dsc", 20).pq_per_list is True and make_index("ivf", 20).pq_per_list is False


# ---------------------------------------------------------------- codebook_bytes
def test_codebook_bytes_is_the_hand_count(data):
    x, labels = data
    d, K, M, ksub = 32, LUT_K, 4, 64
    pq_bytes = M * ksub * (d // M) * 4  # 4 x 64 codewords of 8 float32 = 8192
    centroids = K * d * 4  # 20 x 32 float32 = 2560
    ivf = _build("ivf", x, labels)
    assert ivf.codebook_bytes == 2560 + 8192 == centroids + pq_bytes
    per = _build("ivf", x, labels, pq_per_list=True, min_partition_size=150)
    assert per.codebook_bytes == centroids + pq_bytes * (1 + per.own_pq_lists.size)
    dsc = _build("dsc", x, labels)  # threshold 64: every non-empty partition has its own PQ
    assert dsc.own_pq_lists.size == LUT_K - 1
    assert dsc.codebook_bytes == 2560 + 8192 * LUT_K
    gp = _build("gp", x, labels)  # + neighbours (20 x 3 int64) + alphas (20 float32)
    assert gp.codebook_bytes == 2560 + 8192 + 20 * 3 * 8 + 20 * 4 == 11312
    flat = FlatPQIndex(**KW).build(x)
    assert flat.codebook_bytes == 8192 and flat.own_pq_lists.size == 0
    xs = sphere_data()  # d = 16: two half codebooks of 3 x 8 float32, a PQ of 4 x 64 x 4 float32
    imi = IMIIndex(n_centroids_per_half=3, coarse_iter=8, **KW).build(xs)
    assert imi.codebook_bytes == 2 * 3 * 8 * 4 + 4 * 64 * 4 * 4 == 4288
    assert isinstance(imi.codebook_bytes, int)
    # the count follows the arrays: one more codeword table is one more PQ's bytes
    dsc.pqs_.append(ProductQuantizer(M, 6).fit(x[:200]))
    assert dsc.codebook_bytes == 2560 + 8192 * (LUT_K + 1)


def test_codebook_bytes_before_training_is_an_error():
    with pytest.raises(ValueError, match="not trained yet"):
        IVFIndex(4).codebook_bytes
    with pytest.raises(ValueError, match="not trained yet"):
        SemanticIndex(4).own_pq_lists
