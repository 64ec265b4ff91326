"""A robust inverted index (dscref.index.robust): make_index_robust, the robust label order, and
their end-to-end use (error-free search unchanged, the codec); the robust variants experiment is
tested in tests/experiments/test_exp_robust.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.index.robust import make_index_robust, robust_label_order

K = 20  # lists of the robust_built index (tests/conftest.py)


def test_robust_index_tables_and_codes(robust_built):
    x, labels, index, robust = robust_built
    assert len(robust.robust_perms_) == len(index.pqs_)
    ar = np.arange(index.M)
    for pid, pq in enumerate(robust.pqs_):
        perm = robust.robust_perms_[pid]
        np.testing.assert_array_equal(robust.sub_norm2_[pid][ar[:, None], perm], index.sub_norm2_[pid])
        np.testing.assert_allclose(robust.sub_norm2_[pid], (pq.codebooks_.astype(np.float64) ** 2).sum(-1),
                                   rtol=1e-12)
        # a code's table rows follow its codewords through the permutation, bit for bit
        e = np.arange(index.M) % pq.ksub
        moved = robust.robust_perms_[pid][ar, e]
        for old, new in zip(index._code_rows(pid, e), robust._code_rows(pid, moved)):
            np.testing.assert_array_equal(new[ar[:, None], perm], old)
        np.testing.assert_allclose(robust._code_rows(pid, moved)[0], pq.sdc_table()[ar, moved],
                                   rtol=1e-5, atol=1e-6)
    # stored codes decode to the same vectors
    for lab in range(0, K, 7):
        a, b = index.offsets_[lab], index.offsets_[lab + 1]
        p = index.list_pq_[lab]
        np.testing.assert_array_equal(index.pqs_[p].decode(index.codes_[a:b]),
                                      robust.pqs_[p].decode(robust.codes_[a:b]))
    np.testing.assert_array_equal(index.db_norm2_, robust.db_norm2_)


@settings(max_examples=15)
@given(seed=st.integers(0, 2 ** 31), metric=st.sampled_from(["l2", "cosine"]))
def test_error_free_search_is_bit_exact_unchanged(robust_built, seed, metric):
    x, labels, index, robust = robust_built
    rng = np.random.default_rng(seed)
    qs, rqs = [], []
    for _ in range(3):
        i = int(rng.integers(len(x)))
        q = x[i] + 0.1 * rng.standard_normal(x.shape[1]).astype(np.float32)
        head = rng.choice(K, 3, replace=False)
        qa, qb = index.encode_query(q, head), robust.encode_query(q, head)
        p = [index.list_pq_[h] for h in head]
        np.testing.assert_array_equal(
            qb.codes, np.stack([robust.robust_perms_[pp][np.arange(4), c] for pp, c in zip(p, qa.codes)]))
        qs.append(qa)
        rqs.append(qb)
    ra, rb = index.search(qs, 10, metric), robust.search(rqs, 10, metric)
    np.testing.assert_array_equal(ra.D, rb.D)
    np.testing.assert_array_equal(ra.I, rb.I)


def test_label_order_roundtrip_with_codec(robust_built):
    x, labels, index, robust = robust_built
    order = robust_label_order(index, p=0.02)
    np.testing.assert_array_equal(np.sort(order.forward), np.arange(K))
    np.testing.assert_array_equal(order.inverse[order.forward], np.arange(K))
    layout = PayloadLayout.for_index(index, head_size=3)
    q = index.encode_query(x[0], [5, 0, 19])
    buf = encode_payload(order.encode_query(q), layout)
    q2, rep = decode_payload(buf, layout)
    q2 = order.decode_query(q2)
    assert rep.clean and q2.labels.tolist() == [5, 0, 19]
    np.testing.assert_array_equal(q2.codes, q.codes)


def test_bad_inputs_raise(robust_built):
    from dscref.index.flat import FlatPQIndex

    x, labels, index, robust = robust_built
    with pytest.raises(ValueError, match="nothing to order"):
        robust_label_order(FlatPQIndex(M=4, nbits=4, n_iter=2, seed=0).build(x[:300]))
    with pytest.raises(TypeError, match="InvertedPQIndex"):
        make_index_robust("index")
    with pytest.raises(ValueError, match="p=0.5"):
        make_index_robust(index, p=0.5)
    with pytest.raises(ValueError, match=r"weights must be \(20,\)"):
        robust_label_order(index, weights=np.ones(3))


# --------------------------------------------------------------------------- in place / read-only
def _snapshot(index):
    return (list(index.pqs_), [pq.codebooks_.copy() for pq in index.pqs_], index.codes_.copy(),
            index.cr_.copy(), [a.copy() for a in index.sub_norm2_], hasattr(index, "robust_perms_"))


def _assert_unchanged(index, snap):
    pqs, cbs, codes, cr, sub, had_perms = snap
    assert all(a is b for a, b in zip(index.pqs_, pqs)) and len(index.pqs_) == len(pqs)
    for pq, cb in zip(index.pqs_, cbs):
        np.testing.assert_array_equal(pq.codebooks_, cb)
    np.testing.assert_array_equal(index.codes_, codes)
    np.testing.assert_array_equal(index.cr_, cr)
    for a, b in zip(index.sub_norm2_, sub):
        np.testing.assert_array_equal(a, b)
    assert hasattr(index, "robust_perms_") == had_perms


def test_make_index_robust_refuses_a_read_only_index_in_place(robust_built, tmp_path):
    from dscref.errors import ReadOnlyIndexError
    from dscref.io import load_index, save_index

    x, labels, index, robust = robust_built
    save_index(index, tmp_path / "ix")
    mm = load_index(tmp_path / "ix")  # memory-mapped: every array is read-only
    snap = _snapshot(mm)
    with pytest.raises(ReadOnlyIndexError, match=r"codes_, cr_ .*read-only.*nothing was changed"):
        make_index_robust(mm, p=0.02, order=2, inplace=True)
    _assert_unchanged(mm, snap)
    # the default (a converted copy) works on the memory-mapped index, same as in memory
    r = make_index_robust(mm, p=0.02, order=2)
    _assert_unchanged(mm, snap)
    np.testing.assert_array_equal(r.codes_, robust.codes_)
    np.testing.assert_array_equal(r.cr_, robust.cr_)
    for a, b in zip(r.robust_perms_, robust.robust_perms_):
        np.testing.assert_array_equal(a, b)


def test_make_index_robust_in_place_is_all_or_nothing(robust_built, monkeypatch):
    import copy

    from dscref.index import robust as robust_mod  # make_index_robust calls its robust_permutation

    x, labels, index, robust = robust_built
    work = copy.deepcopy(index)
    assert len(work.pqs_) >= 3
    real, calls = robust_mod.robust_permutation, []

    def fails_on_third_quantizer(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated failure midway")
        return real(*a, **k)

    monkeypatch.setattr(robust_mod, "robust_permutation", fails_on_third_quantizer)
    snap = _snapshot(work)
    with pytest.raises(MemoryError, match="midway"):
        make_index_robust(work, p=0.02, order=2, inplace=True)
    _assert_unchanged(work, snap)
    monkeypatch.setattr(robust_mod, "robust_permutation", real)
    assert make_index_robust(work, p=0.02, order=2, inplace=True) is work
    np.testing.assert_array_equal(work.codes_, robust.codes_)
    np.testing.assert_array_equal(work.cr_, robust.cr_)
