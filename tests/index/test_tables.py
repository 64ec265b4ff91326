"""Eqs. (13)-(15) (dscref.index.tables): every index class's lookup-table scores equal the
formula on decoded vectors -- ``||q_hat - d_hat||²`` (eq. 14) and
``<q_hat, d_hat> / (||q_hat|| ||d_hat||)`` (eq. 15) with ``q_hat = c + r^q`` (eq. 13) -- and the
tables themselves equal their definitions."""

import ast
import os

import numpy as np
import pytest

from index_data import reconstruct_rows
from dscref.index import tables
from dscref.index.gp import GPIndex


def _decoded(index, lab, codes):
    pq = index.pqs_[index.list_pq_[lab]]
    return index.centroids_[lab] + pq.decode(codes)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_lut_scores_equal_brute_force_on_decoded_vectors(lut_index, lut, metric):
    kind, index = lut_index
    x, labels, rng = lut
    for qi in rng.choice(len(x), 5, replace=False):
        q = x[qi] + 0.05 * rng.standard_normal(x.shape[1]).astype(np.float32)
        head = [labels[qi], (labels[qi] + 1) % 20, 3] if kind == "dsc" else None
        query = index.encode_query(q, top_labels=head, n_probe=3)
        D, I, nc = index.search(query, k=len(x), metric=metric)
        valid = I[0] >= 0
        assert nc[0] == valid.sum() == sum(index.list_sizes()[lab] for lab in query.labels)
        # brute force: q_hat^i = c^i + r^q (eq. 13), d_hat = c^i + r^d, eq. (14) / (15)
        expect = {}
        for j, lab in enumerate(query.labels):
            a, b = index.offsets_[lab], index.offsets_[lab + 1]
            qh = _decoded(index, lab, query.codes[j][None])[0].astype(np.float64)
            dh = _decoded(index, lab, index.codes_[a:b]).astype(np.float64)
            if metric == "l2":
                s = ((dh - qh) ** 2).sum(1)
            else:
                s = dh @ qh / (np.linalg.norm(dh, axis=1) * np.linalg.norm(qh))
            expect.update(zip(index.ids_[a:b].tolist(), s.tolist()))
        got = dict(zip(I[0][valid].tolist(), D[0][valid].tolist()))
        assert set(got) == set(expect)
        np.testing.assert_allclose([got[i] for i in expect], list(expect.values()), rtol=2e-4, atol=2e-4)
        # ranking order
        assert np.all(np.diff(D[0][valid]) >= 0) if metric == "l2" else np.all(np.diff(D[0][valid]) <= 0)


def _decoded_residual(index, lab, code):
    return index.pqs_[index.list_pq_[lab]].decode(code[None])[0]


def _brute_scores(index, query, metric):
    """{id: score} over every row of the head cells, from decoded vectors."""
    dhat = reconstruct_rows(index)
    out = {}
    for j, lab in enumerate(query.labels):
        qhat = index.centroids_[lab].astype(np.float64) + _decoded_residual(index, lab, query.codes[j])
        a, b = index.offsets_[lab], index.offsets_[lab + 1]
        for row in range(a, b):
            dv = dhat[row]
            if metric == "l2":
                s = ((qhat - dv) ** 2).sum()
            else:
                s = qhat @ dv / (np.linalg.norm(qhat) * np.linalg.norm(dv))
            out[int(index.ids_[row])] = s
    return out


def _check_scores(index, query, metric, exhaustive=True):
    ref = _brute_scores(index, query, metric)
    res = index.search(query, k=index.ntotal, metric=metric)
    got = {int(i): float(s) for i, s in zip(res.I[0], res.D[0]) if i >= 0}
    assert len(got) == res.n_candidates[0]
    if exhaustive:
        assert set(got) == set(ref)
    else:
        assert set(got) <= set(ref)
    ids = np.array(sorted(got))
    np.testing.assert_allclose([got[i] for i in ids], [ref[i] for i in ids], rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("name", ["imi", "gp", "gp_centroid", "gp_per_list"])
def test_lut_scores_equal_decoded_formula(name, metric, request, queries):
    index = request.getfixturevalue(name)
    saved = getattr(index, "prune", None)
    try:
        if isinstance(index, GPIndex):
            index.prune = None
        for q in queries[:3]:
            _check_scores(index, index.encode_query(q, n_probe=4), metric)
        if isinstance(index, GPIndex):  # pruned: a subset, same scores
            index.prune = "mean"
            _check_scores(index, index.encode_query(queries[3], n_probe=4), metric, exhaustive=False)
    finally:
        if isinstance(index, GPIndex):
            index.prune = saved


# ---------------------------------------------------------------- the tables themselves
def test_list_and_item_tables_are_their_definitions(lut_index):
    _, index = lut_index
    sub_norm2, cr, cnorm2 = tables.list_tables(index.pqs_, index.centroids_, index.list_pq_)
    for p, pq in enumerate(index.pqs_):
        np.testing.assert_allclose(sub_norm2[p], (pq.codebooks_.astype(np.float64) ** 2).sum(-1), rtol=1e-12)
    M, dsub = index.M, index.d_ // index.M
    for i in range(index.n_lists):
        cb = index.pqs_[index.list_pq_[i]].codebooks_
        want = np.einsum("md,mkd->mk", index.centroids_[i].reshape(M, dsub).astype(np.float64), cb)
        np.testing.assert_allclose(cr[i], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cnorm2, (index.centroids_.astype(np.float64) ** 2).sum(1), rtol=1e-6)
    # what training stored, bit for bit
    np.testing.assert_array_equal(cr, index.cr_)
    np.testing.assert_array_equal(cnorm2, index.cnorm2_)
    db = tables.item_norms(cr, sub_norm2, cnorm2, index.list_pq_, index.codes_, index.offsets_)
    np.testing.assert_array_equal(db, index.db_norm2_)
    cell = np.repeat(np.arange(index.n_lists), np.diff(index.offsets_))
    dhat = np.concatenate([index.centroids_[i] + index.pqs_[index.list_pq_[i]].decode(
        index.codes_[index.offsets_[i]:index.offsets_[i + 1]]) for i in np.unique(cell)])
    np.testing.assert_allclose(db, (dhat.astype(np.float64) ** 2).sum(1), rtol=1e-4, atol=1e-5)


def test_code_rows_are_the_sdc_and_gram_rows(lut_index):
    _, index = lut_index
    rng = np.random.default_rng(4)
    for p, pq in enumerate(index.pqs_[:3]):
        e = rng.integers(0, pq.ksub, index.M)
        sdc, gram = tables.code_rows(pq.codebooks_, index.sub_norm2_[p], e, p)
        ar = np.arange(index.M)
        cb = pq.codebooks_.astype(np.float64)
        np.testing.assert_allclose(sdc, ((cb[ar, e][:, None] - cb) ** 2).sum(-1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gram, np.einsum("md,mkd->mk", cb[ar, e], cb), rtol=1e-5, atol=1e-6)
        assert sdc.dtype == gram.dtype == np.float32 and (sdc >= 0).all()
        # the method of the index is the same function
        for a, b in zip(index._code_rows(p, e), (sdc, gram)):
            np.testing.assert_array_equal(a, b)


def test_non_finite_codebook_gives_index_format_error(lut_index):
    from dscref.errors import IndexFormatError

    _, index = lut_index
    cb = index.pqs_[0].codebooks_.copy()
    cb[0, 1, 0] = np.nan
    with pytest.raises(IndexFormatError, match=r"pqs_\[3\] gives non-finite"):
        tables.code_rows(cb, index.sub_norm2_[0], np.zeros(index.M, np.int64), 3)


def test_only_the_tables_module_builds_lookup_tables():
    """Eqs. (13)-(15) have one home: no other index module calls the ADC kernels' front
    (dscref.scoring.adc_*), the soft-decision path included."""
    folder = os.path.dirname(tables.__file__)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py") or name == "tables.py":
            continue
        tree = ast.parse(open(os.path.join(folder, name)).read())
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"adc_l2", "adc_cosine", "adc_l2_topk"}, (name, calls & {"adc_l2", "adc_cosine"})
