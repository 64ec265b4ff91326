"""Crafted but checksum-valid index files (issue 16 section 2).

Contract: ``load_index`` of a file written by ``save_index`` (valid checksums) from an index
whose attributes were tampered with either raises IndexFormatError, or returns an index whose
``search`` (l2 and cosine, hard, soft and raw queries, its own ``encode_query``) returns only ids
of ``ids_`` (or -1 padding) and raises nothing but ValueError subclasses -- in every load mode,
including the weakest one (memory-mapped, checksums and codebook scan skipped). Also: every
malformed field of the manifest raises IndexFormatError.
"""

import copy
import json
import os
import struct
import zlib

import numpy as np
import pytest

from dscref import io as dio
from dscref.errors import IndexFormatError
from dscref.index.base import Query
from dscref.index.flat import FlatPQIndex
from dscref.index.gp import GPIndex
from dscref.index.imi import IMIIndex
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex
from dscref.io import load_index, save_index

KINDS = ["dsc", "ivf", "imi", "gp", "flat", "robust"]


def _data(n=700, d=16, K=6, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    labels[labels == 2] = 3  # an empty partition
    labels[:20] = 4  # partition 4 and the empty one use the shared quantizer
    labels[20:60] = 1
    x = C[labels] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def _build(kind, x, labels):
    if kind == "dsc":
        return SemanticIndex(6, M=4, nbits=4, n_iter=3, seed=0, progress=False,
                             min_partition_size=100).build(x, labels)
    if kind == "ivf":
        return IVFIndex(6, M=4, nbits=4, n_iter=3, seed=np.random.default_rng(1), coarse_iter=3).build(x)
    if kind == "imi":
        return IMIIndex(3, M=4, nbits=4, n_iter=3, seed=0, coarse_iter=3).build(x)
    if kind == "gp":
        return GPIndex(6, n_neighbors=2, M=4, nbits=4, n_iter=3, seed=0, coarse_iter=3).build(x)
    if kind == "flat":
        return FlatPQIndex(M=4, nbits=6, n_iter=3, seed=0).build(x)
    from dscref.robust import make_index_robust  # robust_perms_ / robust_p_ on a DSC index

    return make_index_robust(_build("dsc", x, labels), p=0.05, n_iter=20)


@pytest.fixture(scope="module", autouse=True)
def fast():
    """Thousands of tiny searches and saves: one kernel thread (waking threads would dominate
    on a loaded machine; results do not depend on the thread count) and no fsync."""
    import numba

    from dscref._threads import num_threads

    before = num_threads()  # dscref's layer choice first: numba.get_num_threads() would load the default
    numba.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", lambda fd: None)  # thousands of saves; durability is not under test
        yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def indices(data):
    x, labels = data
    return {k: _build(k, x, labels) for k in KINDS}


def _head(ix, labels, i):
    return [int(labels[i]), int((labels[i] + 1) % 6), int((labels[i] + 3) % 6)]


def _queries(ix, x, labels, n=4):
    """Hard, soft (noisy LLRs) and raw queries encoded by the intact index ``ix``."""
    qs = []
    rng = np.random.default_rng(0)
    for i in range(n):
        q = (ix.encode_query(x[i], top_labels=_head(ix, labels, i)) if isinstance(ix, SemanticIndex)
             else ix.encode_query(x[i], n_probe=3))
        shifts = np.arange(ix.nbits - 1, -1, -1)
        bits = ((q.codes[:, :, None].astype(np.int64) >> shifts) & 1).reshape(len(q.labels), -1)
        qs += [q, Query(q.labels, q.codes, code_llr=(1 - 2.0 * bits) * 3 + rng.normal(0, 1, bits.shape)),
               Query(q.labels, None, vector=x[i])]
    return qs


def _exercise(ix, x, labels, queries, n_own=3):
    """Search ``queries`` and the index's own encodings: only ids of ids_ (or -1), only ValueErrors."""
    ids = set(np.asarray(ix.ids_).tolist()) | {-1}
    ok = 0
    try:
        ix.attach_vectors(x)
    except ValueError:
        pass
    own = []
    for i in range(n_own):
        try:
            own.append(ix.encode_query(x[i], top_labels=_head(ix, labels, i)) if isinstance(ix, SemanticIndex)
                       else ix.encode_query(x[i], n_probe=3))
        except ValueError:
            pass
    for q in list(queries) + own:
        for metric in ("l2", "cosine"):
            try:
                r = ix.search(q, k=20, metric=metric)
            except ValueError:
                continue
            assert set(r.I.ravel().tolist()) <= ids, (metric, sorted(set(r.I.ravel().tolist()) - ids)[:5])
            assert not np.isnan(r.D).any()
            ok += 1
            try:
                assert set(ix.query_candidates(q).tolist()) <= ids
            except ValueError:
                pass
    return ok


def _roundtrip(ix, tmp_path, mode):
    """save_index (valid checksums) then load in one mode: (verify, mmap, small) -- small
    False behaves as a large memory-mapped file (no codebook scan at load). ``ix`` may be the
    path of a file saved before."""
    path = tmp_path / "ix.dscidx"
    if not isinstance(ix, os.PathLike):
        save_index(ix, path)
    verify, mmap, small = mode
    with pytest.MonkeyPatch.context() as mp:
        if not small:
            mp.setattr(dio, "VERIFY_AUTO_BYTES", 0)
        return load_index(path, mmap=mmap, verify=verify)


MODES = [(True, True, True), (False, True, False), (None, False, True)]


def _clone(ix):
    """An independent, writable copy of a built index."""
    return copy.deepcopy(ix)


# ------------------------------------------------------------------ targeted defects
def _set(name, value):
    def f(ix):
        setattr(ix, name, value(ix) if callable(value) else value)
    return f


def _poke(name, index, value):
    def f(ix):
        a = np.array(getattr(ix, name))
        a[index] = value
        setattr(ix, name, a)
    return f


def _pq(p, name, value):
    def f(ix):
        setattr(ix.pqs_[p], name, value(ix.pqs_[p]) if callable(value) else value)
    return f


def _offsets_not_monotone(ix):
    a = np.array(ix.offsets_)
    if a.size == 2:  # one list: its end below its start
        a[1] = -1
    else:  # the end of the first non-empty list past the next offset
        i = int(np.argmax(np.diff(a) > 0))
        a[i + 1] = a[i + 2] + 1 if i + 2 < a.size else a[i] - 1
    ix.offsets_ = a


def _gp_sub_not_nested(ix):
    a = np.array(ix.sub_offsets_)
    a[ix.L] = a[ix.L] + 1 if a[ix.L] < a[ix.L + 1] else a[ix.L] - 1  # cell 1's first sub-region edge
    ix.sub_offsets_ = a


COMMON = {
    "ids_ negative": _poke("ids_", 5, -3),
    "ids_ = -1 (the padding value)": _poke("ids_", 0, -1),
    "ids_ int32": _set("ids_", lambda ix: ix.ids_.astype(np.int32)),
    "ids_ one short": _set("ids_", lambda ix: ix.ids_[:-1]),
    "offsets_ not monotone": _offsets_not_monotone,
    "offsets_ past ntotal": _poke("offsets_", -1, 10**6),
    "offsets_ first not 0": _poke("offsets_", 0, 3),
    "offsets_ short": _set("offsets_", lambda ix: ix.offsets_[:-1]),
    "offsets_ float": _set("offsets_", lambda ix: ix.offsets_.astype(np.float64)),
    "codes_ uint16": _set("codes_", lambda ix: ix.codes_.astype(np.uint16)),
    "codes_ >= ksub": _poke("codes_", (3, 1), 255),
    "codes_ transposed": _set("codes_", lambda ix: np.ascontiguousarray(ix.codes_.T)),
    "list_pq_ names a missing quantizer": _poke("list_pq_", 0, 99),
    "list_pq_ negative": _poke("list_pq_", 0, -1),
    "centroids_ NaN": _poke("centroids_", (0, 0), np.nan),
    "centroids_ inf": _poke("centroids_", (0, 1), np.inf),
    "centroids_ float64": _set("centroids_", lambda ix: ix.centroids_.astype(np.float64)),
    "centroids_ wrong width": _set("centroids_", lambda ix: ix.centroids_[:, :-4]),
    "cr_ NaN": _poke("cr_", (0, 0, 0), np.nan),
    "cr_ wrong shape": _set("cr_", lambda ix: ix.cr_[:, :, :3]),
    "cnorm2_ NaN": _poke("cnorm2_", 0, np.nan),
    "cnorm2_ negative": _poke("cnorm2_", 0, -1.0),
    "db_norm2_ NaN (would silently score 0)": _poke("db_norm2_", 7, np.nan),
    "db_norm2_ short": _set("db_norm2_", lambda ix: ix.db_norm2_[:-1]),
    "sub_norm2_ NaN": lambda ix: ix.sub_norm2_[0].__setitem__((0, 0), np.nan),
    "sub_norm2_ one missing": _set("sub_norm2_", lambda ix: ix.sub_norm2_[:-1] or [np.zeros(1)]),
    "sub_norm2_ float32": _set("sub_norm2_", lambda ix: [t.astype(np.float32) for t in ix.sub_norm2_]),
    "pqs_ empty": _set("pqs_", []),
    "pqs_[0].M differs": _pq(0, "M", 2),
    "pqs_[0].nbits differs": _pq(0, "nbits", 3),
    "pqs_[0] codebooks wrong shape": _pq(0, "codebooks_", lambda pq: pq.codebooks_[:, :5]),
    "pqs_[0] codebooks float64": _pq(0, "codebooks_", lambda pq: pq.codebooks_.astype(np.float64)),
    "pqs_[0] codebooks lost": lambda ix: delattr(ix.pqs_[0], "codebooks_"),
    "M off by one": _set("M", lambda ix: ix.M + 1),
    "M as string": _set("M", "4"),
    "nbits 0": _set("nbits", 0),
    "nbits 17": _set("nbits", 17),
    "nbits bool": _set("nbits", True),
    "d_ wrong": _set("d_", lambda ix: ix.d_ * 2),
    "ntotal larger": _set("ntotal", lambda ix: ix.ntotal + 1),
    "ntotal negative": _set("ntotal", -1),
    "n_iter 0": _set("n_iter", 0),
    "keep_vectors not a bool": _set("keep_vectors", "yes"),
    "attribute missing": lambda ix: delattr(ix, "cr_"),
    "class attribute shadowed (kind)": _set("kind", "flat"),
    "class attribute shadowed (label_bits)": lambda ix: vars(ix).update(label_bits=40),
}


SPECIFIC = {
    "dsc": {
        "n_lists differs from the lists": _set("_n_lists", 7),
        "n_lists through the K alias": _set("K", 7),
        "n_lists missing": lambda ix: delattr(ix, "_n_lists"),
        "shared_pq_lists_ out of range": _set("shared_pq_lists_", np.array([2, 6], np.int64)),
        "shared_pq_lists_ unsorted": _set("shared_pq_lists_", lambda ix: ix.shared_pq_lists_[::-1].copy()),
        "shared partition with an own quantizer": _set("list_pq_", lambda ix: np.where(
            np.isin(np.arange(ix.n_lists), ix.shared_pq_lists_), 1, ix.list_pq_).astype(np.int64)),
        "min_partition_size 0": _set("min_partition_size", 0),
    },
    "ivf": {
        "n_lists differs": _set("_n_lists", 5),
        "n_lists a float": _set("_n_lists", 6.0),
        "two quantizers": _set("pqs_", lambda ix: ix.pqs_ * 2),
        "coarse_ centroids wrong shape": lambda ix: setattr(ix.coarse_, "centroids_", ix.centroids_[:3]),
        "coarse_ not a KMeans": _set("coarse_", None),
        "coarse_iter string": _set("coarse_iter", "x"),
    },
    "imi": {
        "n_centroids_per_half differs": _set("n_centroids_per_half", 2),
        "n_centroids_per_half through the K alias": _set("K", 4),
        "nonempty_ wrong": _set("nonempty_", lambda ix: ~ix.nonempty_),
        "nonempty_ short": _set("nonempty_", lambda ix: ix.nonempty_[:-1]),
        "codebook1_ wrong shape": _set("codebook1_", lambda ix: ix.codebook1_[:2]),
        "codebook2_ NaN": _poke("codebook2_", (0, 0), np.nan),
        "cells not the half-codebook pairs": _poke("codebook1_", (1, 1), 7.0),
        "skip_empty int": _set("skip_empty", 1),
    },
    "gp": {
        "n_lists differs": _set("_n_lists", 7),
        "n_lists 1 (G+P needs 2)": _set("_n_lists", 1),
        "L >= K": _set("L", 6),
        "neighbors_ out of range": _poke("neighbors_", (0, 0), 6),
        "neighbors_ negative": _poke("neighbors_", (2, 1), -1),
        "neighbors_ names itself": _poke("neighbors_", (3, 0), 3),
        "neighbors_ wrong shape": _set("neighbors_", lambda ix: ix.neighbors_[:, :1]),
        "alpha_ NaN": _poke("alpha_", 1, np.nan),
        "alpha_ short": _set("alpha_", lambda ix: ix.alpha_[:-1]),
        "alpha_global_ inf": _set("alpha_global_", float("inf")),
        "sub_offsets_ not nested in the cells": _gp_sub_not_nested,
        "sub_offsets_ past ntotal": _poke("sub_offsets_", -1, 10**6),
        "sub_offsets_ decreasing": _set("sub_offsets_", lambda ix: ix.sub_offsets_[::-1].copy()),
        "gr_ NaN": _poke("gr_", 3, np.nan),
        "gr_ short": _set("gr_", lambda ix: ix.gr_[:-1]),
        "prune out of range": _set("_prune", 3.0),
        "prune unknown rule": _set("_prune", "median"),
        "residual unknown": _set("residual", "other"),
        "coarse_ not a KMeans": _set("coarse_", None),
    },
    "flat": {
        "nonzero centroid": _poke("centroids_", (0, 0), 0.5),
        "two lists": _set("centroids_", lambda ix: np.zeros((2, ix.d_), np.float32)),
    },
    "robust": {
        "robust_perms_ not a permutation": lambda ix: ix.robust_perms_[0].__setitem__(
            (0, 1), ix.robust_perms_[0][0, 0]),
        "robust_perms_ out of range": lambda ix: ix.robust_perms_[1].__setitem__((1, 1), 16),
        "robust_perms_ one missing": _set("robust_perms_", lambda ix: ix.robust_perms_[:-1]),
        "robust_perms_ wrong shape": _set("robust_perms_", lambda ix: [p[:, :8] for p in ix.robust_perms_]),
        "robust_p_ 0.7": _set("robust_p_", 0.7),
    },
}


CASES = [(k, name) for k in KINDS for name in list(COMMON) + list(SPECIFIC[k])]


@pytest.mark.parametrize("kind, defect", CASES, ids=[f"{k}-{d}" for k, d in CASES])
def test_crafted_file_is_refused(indices, data, tmp_path, kind, defect):
    x, labels = data
    ix = _clone(indices[kind])
    (SPECIFIC[kind].get(defect) or COMMON[defect])(ix)
    path = save_index(ix, tmp_path / "ix.dscidx")
    for mode in MODES:
        with pytest.raises(IndexFormatError, match="inconsistent|malformed|shadow"):
            _roundtrip(path, tmp_path, mode)


@pytest.mark.parametrize("kind", KINDS)
def test_intact_file_passes_and_searches(indices, data, tmp_path, kind):
    x, labels = data
    qs = _queries(indices[kind], x, labels)
    indices[kind]._check_state()
    for mode in MODES:
        back = _roundtrip(indices[kind], tmp_path, mode)
        assert _exercise(back, x, labels, qs) == 2 * (len(qs) + 3)  # every search ran
        coded = [q for q in qs if q.vector is None]
        for metric in ("l2", "cosine"):
            np.testing.assert_array_equal(back.search(coded, 10, metric).I, indices[kind].search(coded, 10, metric).I)


@pytest.mark.parametrize("kind", ["dsc", "ivf", "gp"])
def test_nonfinite_codebook(indices, data, tmp_path, kind):
    """Scanned at load when the data is small or in memory; a large memory-mapped file is not
    read at load, and a query meeting the codebook raises IndexFormatError instead."""
    x, labels = data
    ix = _clone(indices[kind])
    for pq in ix.pqs_:
        pq.codebooks_[1, 2, 3] = np.nan
    for mode in ((True, True, True), (None, True, True), (None, False, True), (False, False, True)):
        with pytest.raises(IndexFormatError, match="codebooks_ holds non-finite"):
            _roundtrip(ix, tmp_path, mode)
    back = _roundtrip(ix, tmp_path, (False, True, False))
    with pytest.raises(IndexFormatError, match="non-finite lookup tables"):
        for q in _queries(indices[kind], x, labels, 6)[::3]:
            back.search(q, k=5)
            back.search(q, k=5, metric="cosine")
    _exercise(back, x, labels, _queries(indices[kind], x, labels))


def test_duplicate_and_large_ids_are_allowed(indices, data, tmp_path):
    """ids are arbitrary non-negative int64 (as faiss's add_with_ids): search returns them."""
    x, labels = data
    ix = _clone(indices["ivf"])
    ix.ids_ = np.array(ix.ids_)
    ix.ids_[:50] = 7
    ix.ids_[-1] = 2**40
    back = _roundtrip(ix, tmp_path, (False, True, False))
    _exercise(back, x, labels, _queries(indices["ivf"], x, labels))
    with pytest.raises(ValueError, match="not a row of x"):
        back.attach_vectors(x)  # raw mode needs every id to be a row of x


# ------------------------------------------------------------------ randomised defects
def _mutations(a, rng):
    """A few tampered versions of value ``a`` (array or scalar), seeded."""
    if isinstance(a, np.ndarray):
        out = []
        if a.size:
            for v in ([np.nan, np.inf, -np.inf, -1.0, 1e30, 0.0] if a.dtype.kind == "f" else
                      [True, False] if a.dtype.kind == "b" else
                      [-1, -(2**40), 2**40, 0, 1, int(a.max()) + 1, int(a.min()) - 1]):
                b = a.copy()
                if a.dtype.kind == "u" and (v < 0 or v > np.iinfo(a.dtype).max):
                    continue
                if a.dtype.kind == "i" and not np.iinfo(a.dtype).min <= v <= np.iinfo(a.dtype).max:
                    continue
                b.reshape(-1)[rng.integers(a.size)] = v
                out.append(b)
            out.append(rng.permutation(a.reshape(-1)).reshape(a.shape))
            out.append(a.reshape(-1)[:-1].copy())
        out.append(np.concatenate([a.reshape(-1), a.reshape(-1)[:1]]) if a.size else np.zeros(1, a.dtype))
        alt = {"f": np.float64, "i": np.int32, "u": np.int64, "b": np.uint8}[a.dtype.kind]
        out.append(a.astype(alt if a.dtype != alt else np.float32))
        return [out[i] for i in rng.choice(len(out), min(len(out), 5), replace=False)]
    if isinstance(a, (bool, np.bool_)):
        return [not a, 1, None]
    if isinstance(a, (int, np.integer)):
        cands = [int(a) + 1, int(a) - 1, 0, -1, 2**40, str(a), float(a) + 0.5, None]
        return [cands[i] for i in rng.choice(len(cands), 4, replace=False)]
    if isinstance(a, float):
        return [float("nan"), float("inf"), -a, 1e30]
    if isinstance(a, str):
        return ["bogus", 3]
    return [None, 3]


def _targets(ix):
    """(getter, setter, name) of every attribute and array a search path may touch."""
    out = []
    for name in vars(ix):
        if name == "_xb":
            continue
        v = vars(ix)[name]
        if isinstance(v, list):
            for i in range(len(v)):
                if isinstance(v[i], np.ndarray):
                    out.append((lambda o, n=name, i=i: getattr(o, n)[i],
                                lambda o, val, n=name, i=i: getattr(o, n).__setitem__(i, val), f"{name}[{i}]"))
                else:  # a quantizer: its own attributes
                    for key in vars(v[i]):
                        if key != "seed":
                            out.append((lambda o, n=name, i=i, k=key: vars(getattr(o, n)[i])[k],
                                        lambda o, val, n=name, i=i, k=key: setattr(getattr(o, n)[i], k, val),
                                        f"{name}[{i}].{key}"))
        elif name != "seed" and not hasattr(v, "__dict__"):
            out.append((lambda o, n=name: vars(o)[n], lambda o, val, n=name: setattr(o, n, val), name))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_random_defects_refused_or_harmless(indices, data, tmp_path, kind):
    """Every attribute x seeded mutations (values, permutations, lengths, dtypes, types), loaded
    in the weakest mode (mmap, no checksums, no codebook scan): IndexFormatError, or a search
    that keeps the contract."""
    x, labels = data
    base = indices[kind]
    qs = _queries(base, x, labels, 2)
    rng = np.random.default_rng(sum(map(ord, kind)))
    refused = loaded = 0
    shown = []
    for get, put, name in _targets(base):
        for value in _mutations(get(base), rng):
            ix = _clone(base)
            put(ix, value)
            try:
                back = _roundtrip(ix, tmp_path, (False, True, False))
            except TypeError:  # save_index refuses the value's type: nothing to load
                continue
            except IndexFormatError:
                refused += 1
                continue
            loaded += 1
            shown.append(name)
            _exercise(back, x, labels, qs, n_own=1)
    assert refused > 60 and loaded > 10, (refused, loaded)
    if os.environ.get("DSCREF_SHOW_LOADED"):
        print(kind, "loaded:", shown)


# ------------------------------------------------------------------ the io manifest
@pytest.fixture(scope="module")
def blob(indices, tmp_path_factory):
    p = tmp_path_factory.mktemp("blob") / "ivf"
    save_index(indices["ivf"], p)  # seeded by a Generator: the state holds generator states
    return p.read_bytes()


def _reseal(blob: bytes, mutate, size_type=int) -> bytes:
    """Rewrite the manifest through ``mutate(dict)``, fix file_size (as ``size_type``, or leave
    it when None) and the header crc: only the semantic checks can catch the change."""
    moff, mlen = struct.unpack_from("<QQ", blob, 16)
    man = json.loads(blob[moff:moff + mlen])
    mutate(man)
    body = json.dumps(man).encode()
    if size_type is not None:
        man["file_size"] = 0
        total = moff + len(json.dumps(man).encode()) + 40
        man["file_size"] = size_type(total)
        body = json.dumps(man).encode()
        body += b" " * (total - moff - len(body))  # the file is exactly ``total`` bytes
    head = bytearray(blob[:64])
    struct.pack_into("<QQI", head, 16, moff, len(body), zlib.crc32(body))
    return bytes(head) + blob[64:moff] + body


def _gen_paths(tree, at=()):
    """Paths of every generator node of the state tree."""
    if isinstance(tree, dict):
        if "__generator__" in tree:
            yield at
        for k, v in tree.items():
            yield from _gen_paths(v, at + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _gen_paths(v, at + (i,))


def _gen(man):
    path = next(_gen_paths(man["state"]))
    node = man["state"]
    for k in path:
        node = node[k]
    return node


def _del(key):
    return lambda m: m.pop(key)


def _arr(field, value):
    return lambda m: m["arrays"]["codes_"].__setitem__(field, value)


MANIFEST_DEFECTS = {
    **{f"missing {k}": _del(k) for k in ("magic", "format_version", "class", "module", "checksum", "state", "arrays")},
    "format_version string": lambda m: m.update(format_version="2"),
    "format_version float": lambda m: m.update(format_version=2.0),
    "class not a string": lambda m: m.update({"class": 5}),
    "module not a string": lambda m: m.update(module=None),
    "checksum sha256": lambda m: m.update(checksum="sha256"),
    "arrays a list": lambda m: m.update(arrays=[]),
    "state a string": lambda m: m.update(state="x"),
    **{f"array entry missing {k}": (lambda k: lambda m: m["arrays"]["codes_"].pop(k))(k)
       for k in ("offset", "nbytes", "dtype", "shape", "crc32")},
    "array shape of 40 dimensions": lambda m: m["arrays"]["codes_"].update(
        shape=m["arrays"]["codes_"]["shape"] + [1] * 38),
    "array shape of 70 dimensions (numpy's limit is 64)": lambda m: m["arrays"]["codes_"].update(
        shape=m["arrays"]["codes_"]["shape"] + [1] * 68),
    "array shape overflowing (empty)": lambda m: m["arrays"]["codes_"].update(shape=[0, 2**70], nbytes=0),
    "array shape overflowing numpy (empty)": lambda m: m["arrays"]["codes_"].update(shape=[0, 2**61], nbytes=0),
    "array shape overflowing": _arr("shape", [2**40, 2**40, 2**40]),
    "array shape negative": _arr("shape", [-1, 4]),
    "array shape float": _arr("shape", [10.0, 4]),
    "array shape a string": _arr("shape", "10,4"),
    "array dtype void": _arr("dtype", "|V4"),
    "array dtype subarray": _arr("dtype", "(2,)<i4"),
    "array dtype structured": _arr("dtype", [["a", "<i4"]]),
    "array dtype datetime": _arr("dtype", "<M8"),
    "array dtype big-endian": _arr("dtype", ">u2"),
    "array dtype nonsense": _arr("dtype", "xyz"),
    "array crc32 >= 2**32": _arr("crc32", 2**32),
    "array offset float": _arr("offset", 64.0),
    "array nbytes bool": _arr("nbytes", True),
    "array entry a list": lambda m: m["arrays"].update(codes_=[1, 2]),
    "ndarray tag with an extra key": lambda m: m["state"]["codes_"].update(x=1),
    "ndarray naming a missing array": lambda m: m["state"].update(codes_={"__ndarray__": "nope"}),
    "tuple tag not a list": lambda m: m["state"].update(ntotal={"__tuple__": 3}),
    "float tag nonsense": lambda m: m["state"].update(alpha={"__float__": "1e999"}),
    "unknown tag": lambda m: m["state"].update(ntotal={"__set__": [1]}),
    "object of unknown class": lambda m: m["state"]["pqs_"][0].update(__object__="os.system"),
    "object state not a dict": lambda m: m["state"]["pqs_"][0].update(state=[1]),
    "state shadows a method": lambda m: m["state"].update(search=1),
    "state shadows a plain class attribute": lambda m: m["state"].update(kind="dsc"),
    "state shadows a property": lambda m: m["state"].update(n_lists=3),
    "state dunder key": lambda m: m["state"].update(__class__=1),
    "generator: SeedSequence": lambda m: _gen(m).update(__generator__="SeedSequence"),
    "generator: the BitGenerator base class": lambda m: _gen(m).update(__generator__="BitGenerator"),
    "generator: Generator": lambda m: _gen(m).update(__generator__="Generator"),
    "generator: a module": lambda m: _gen(m).update(__generator__="bit_generator"),
    "generator: not a string": lambda m: _gen(m).update(__generator__=7),
    "generator: state of another class": lambda m: _gen(m).update(__generator__="MT19937"),
    "generator: state not a dict": lambda m: _gen(m).update(state=5),
    "generator: state key missing": lambda m: _gen(m)["state"]["__dict__"].pop("has_uint32"),
    "generator: extra state key": lambda m: _gen(m)["state"]["__dict__"].update(extra=1),
    "generator: negative counter": lambda m: _gen(m)["state"]["__dict__"]["state"]["__dict__"].update(state=-1),
    "generator: counter too large": lambda m: _gen(m)["state"]["__dict__"]["state"]["__dict__"].update(state=2**130),
    "generator: counter a float": lambda m: _gen(m)["state"]["__dict__"]["state"]["__dict__"].update(state=1.5),
    "generator: even increment (stuck at zero)": lambda m: _gen(m)["state"]["__dict__"]["state"]["__dict__"].update(
        inc=0, state=0),
    "generator: has_uint32 = 5": lambda m: _gen(m)["state"]["__dict__"].update(has_uint32=5),
    "generator: bit_generator name mismatch": lambda m: _gen(m)["state"]["__dict__"].update(bit_generator="SFC64"),
}


@pytest.mark.parametrize("defect", list(MANIFEST_DEFECTS))
def test_malformed_manifest_field(blob, tmp_path, defect):
    p = tmp_path / "m"
    p.write_bytes(_reseal(blob, MANIFEST_DEFECTS[defect]))
    for verify in (False, True):
        with pytest.raises(IndexFormatError):
            load_index(p, verify=verify)


@pytest.mark.parametrize("size", [None, float, str])
def test_file_size_field_must_be_the_int_size(blob, tmp_path, size):
    p = tmp_path / "s"
    p.write_bytes(_reseal(blob, (lambda m: m.pop("file_size")) if size is None else (lambda m: None),
                          size_type=size))
    with pytest.raises(IndexFormatError, match="bytes"):
        load_index(p, verify=False)


def test_mt19937_state_that_would_crash_numpy(indices, tmp_path):
    """numpy accepts an MT19937 ``pos`` past its key and then segfaults when drawing."""
    ix = _clone(indices["flat"])
    ix.seed = np.random.Generator(np.random.MT19937(3))
    save_index(ix, tmp_path / "ok")
    np.testing.assert_array_equal(load_index(tmp_path / "ok").seed.integers(0, 2**31, 8),
                                  copy.deepcopy(ix.seed).integers(0, 2**31, 8))
    blob = (tmp_path / "ok").read_bytes()
    for change in ({"pos": 10**9}, {"pos": -1}, {"key": {"__ndarray__": "codes_"}}):
        p = tmp_path / "mt"
        p.write_bytes(_reseal(blob, lambda m: _gen(m)["state"]["__dict__"]["state"]["__dict__"].update(change)))
        with pytest.raises(IndexFormatError, match="generator"):
            load_index(p, verify=False)


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(IndexFormatError, match="not a regular file"):
        load_index(fifo)  # without the check, open() would block forever
    with pytest.raises(IndexFormatError, match="directory"):
        load_index(tmp_path)
    with pytest.raises(IndexFormatError, match="not a regular file"):
        load_index("/dev/null")
