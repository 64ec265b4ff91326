"""dscref.io: round trips for every index type, corruption detection, atomic replacement under
SIGKILL, thread-safe search on a memory-mapped index, bounded-memory build helpers."""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dscref import io as dio
from dscref.errors import IndexFormatError
from dscref.index.base import InvertedPQIndex
from dscref.index.flat import FlatPQIndex
from dscref.index.gp import GPIndex
from dscref.index.imi import IMIIndex
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex
from dscref.io import load_index, save_index, verify_index

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(n=2000, d=32, K=12, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    labels[labels == 3] = 4  # an empty partition
    labels[:40] = 5  # partition 5 and a few others stay small -> shared PQ
    x = C[labels] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def _build(kind, x, labels, **kw):
    if kind == "dsc":
        return SemanticIndex(12, M=4, nbits=6, n_iter=4, seed=0, progress=False,
                             min_partition_size=160, **kw).build(x, labels)
    if kind == "ivf":
        return IVFIndex(12, M=4, nbits=6, n_iter=4, seed=np.random.default_rng(5), coarse_iter=5, **kw).build(x)
    if kind == "imi":
        return IMIIndex(4, M=4, nbits=6, n_iter=4, seed=0, coarse_iter=5, **kw).build(x)
    if kind == "gp":
        return GPIndex(12, n_neighbors=4, M=4, nbits=6, n_iter=4, seed=0, coarse_iter=5, **kw).build(x)
    return FlatPQIndex(M=4, nbits=6, n_iter=4, seed=0, **kw).build(x)


def _queries(ix, x, labels, n=12):
    out = []
    for i in range(n):
        if isinstance(ix, SemanticIndex):
            out.append(ix.encode_query(x[i], top_labels=[labels[i], (labels[i] + 1) % 12, (labels[i] + 2) % 12]))
        else:
            out.append(ix.encode_query(x[i], n_probe=3))
    return out


def _same_state(a, b, where="index"):
    """Every attribute equal, recursively: arrays by value and dtype, objects by their vars."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _same_state(u, v, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, np.random.Generator):
        assert a.bit_generator.state == b.bit_generator.state, where
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _same_state(vars(a), vars(b), where)
    else:
        assert a == b or (a != a and b != b), (where, a, b)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module", params=["dsc", "ivf", "imi", "gp", "flat"])
def built(request, data):
    x, labels = data
    return _build(request.param, x, labels)


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_identical_search_and_state(built, data, tmp_path, mmap):
    x, labels = data
    path = tmp_path / "ix.dscidx"
    save_index(built, path)
    ix = load_index(path, mmap=mmap)
    assert type(ix) is type(built)
    expected = dict(vars(built), _xb=None)
    _same_state(expected, vars(ix))
    qs = _queries(built, x, labels)
    for metric in ("l2", "cosine"):
        a, b = built.search(qs, k=15, metric=metric), ix.search(qs, k=15, metric=metric)
        np.testing.assert_array_equal(a.I, b.I)
        np.testing.assert_array_equal(a.D, b.D)
        np.testing.assert_array_equal(a.n_candidates, b.n_candidates)
    # queries encoded by the loaded index are the same bytes
    q2 = _queries(ix, x, labels)
    for u, v in zip(qs, q2):
        np.testing.assert_array_equal(u.codes, v.codes)
    if mmap:
        assert not ix.codes_.flags.writeable  # views of the read-only map
    verify_index(path)


def test_every_parameter_persisted(data, tmp_path):
    x, labels = data
    ix = SemanticIndex(12, M=8, nbits=5, n_iter=3, seed=11, progress=False, min_partition_size=7,
                       keep_vectors=True).build(x, labels)
    ix.extra_ = {"note": "x", "t": (1, 2.5, None), "nan": float("nan"), "big": 2**70, "flag": np.bool_(True)}
    save_index(ix, tmp_path / "a")
    back = load_index(tmp_path / "a")
    for name in ("K", "M", "nbits", "n_iter", "seed", "min_partition_size", "progress", "keep_vectors"):
        assert getattr(back, name) == getattr(ix, name), name
    assert back.extra_["t"] == (1, 2.5, None) and np.isnan(back.extra_["nan"]) and back.extra_["big"] == 2**70
    np.testing.assert_array_equal(back.shared_pq_lists_, ix.shared_pq_lists_)
    assert [p.n_iter for p in back.pqs_] == [p.n_iter for p in ix.pqs_]
    assert back.label_bits == ix.label_bits


def test_ivf_shared_arrays_stored_once_and_coarse_quantizer_restored(data, tmp_path):
    x, labels = data
    ix = _build("ivf", x, labels)
    assert ix.coarse_.centroids_ is ix.centroids_
    save_index(ix, tmp_path / "ivf")
    man = verify_index(tmp_path / "ivf")
    assert ("coarse_.centroids_" in man["arrays"]) + ("centroids_" in man["arrays"]) == 1
    back = load_index(tmp_path / "ivf")
    assert back.coarse_.centroids_ is back.centroids_
    np.testing.assert_array_equal(back.coarse_.predict(x[:50]), ix.coarse_.predict(x[:50]))
    assert back.coarse_.inertia_history_ == ix.coarse_.inertia_history_
    # the seed was a Generator: its state after the build is restored
    assert back.seed.bit_generator.state == ix.seed.bit_generator.state


def test_raw_vectors_not_stored_attach_after_load(data, tmp_path):
    x, labels = data
    ix = SemanticIndex(12, M=4, nbits=6, n_iter=3, seed=0, progress=False, keep_vectors=True).build(x, labels)
    save_index(ix, tmp_path / "r")
    man = verify_index(tmp_path / "r")
    assert man["state"]["_xb"] is None and not any("_xb" in k for k in man["arrays"])
    back = load_index(tmp_path / "r")
    q = ix.encode_query(x[0], top_labels=[labels[0]], raw=True)
    with pytest.raises(ValueError, match="keep_vectors"):
        back.search(q, k=5)
    np.save(tmp_path / "x.npy", x)
    back.attach_vectors(np.load(tmp_path / "x.npy", mmap_mode="r"))
    a, b = ix.search(q, k=5), back.search(q, k=5)
    np.testing.assert_array_equal(a.I, b.I)
    with pytest.raises(ValueError, match="rows"):
        back.attach_vectors(x[:10])


def test_registry_covers_every_index_class():
    classes = dio._index_classes()
    for cls in (SemanticIndex, IVFIndex, FlatPQIndex):
        assert classes[cls.__name__] is cls

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    for cls in subclasses(InvertedPQIndex):
        if cls.__module__.startswith("dscref.index."):
            assert classes[cls.__name__] is cls


def test_save_refuses_unknown_types_and_foreign_classes(data, tmp_path):
    x, labels = data
    ix = _build("flat", x, labels)
    ix.callback_ = lambda: None
    with pytest.raises(TypeError, match="callback_"):
        save_index(ix, tmp_path / "f")
    del ix.callback_
    ix.obj_ = np.array([object()], dtype=object)
    with pytest.raises(TypeError, match="obj_"):
        save_index(ix, tmp_path / "f")
    assert not os.listdir(tmp_path)  # nothing written, no temp files left

    class Local(FlatPQIndex):
        pass

    loc = Local(M=4, nbits=6, n_iter=2, seed=0).build(x)
    with pytest.raises(TypeError, match="Local"):
        save_index(loc, tmp_path / "g")
    with pytest.raises(ValueError, match="not built"):
        save_index(FlatPQIndex(M=4), tmp_path / "h")


def test_save_replaces_existing_file(data, tmp_path):
    x, labels = data
    a, b = _build("flat", x, labels), _build("dsc", x, labels)
    save_index(a, tmp_path / "p")
    save_index(b, tmp_path / "p")
    assert isinstance(load_index(tmp_path / "p"), SemanticIndex)
    assert os.listdir(tmp_path) == ["p"]


# ------------------------------------------------------------------ corruption is detected
@pytest.fixture(scope="module")
def saved(tmp_path_factory, data):
    x, labels = data
    path = tmp_path_factory.mktemp("saved") / "ix"
    save_index(_build("dsc", x, labels), path)
    return path.read_bytes()


def _write(tmp_path, blob, name="c"):
    p = tmp_path / name
    p.write_bytes(blob)
    return p


def test_missing_directory_and_empty_files(tmp_path):
    with pytest.raises(IndexFormatError, match="does not exist"):
        load_index(tmp_path / "nope")
    with pytest.raises(IndexFormatError, match="directory"):
        load_index(tmp_path)
    with pytest.raises(IndexFormatError, match="truncated"):
        load_index(_write(tmp_path, b""))


def test_wrong_magic_and_version(saved, tmp_path):
    with pytest.raises(IndexFormatError, match="magic"):
        load_index(_write(tmp_path, b"NOTANIDX" + saved[8:]))
    bad = bytearray(saved)
    struct.pack_into("<I", bad, 8, 99)
    with pytest.raises(IndexFormatError, match="version 99"):
        load_index(_write(tmp_path, bytes(bad)))


@pytest.mark.parametrize("cut", [1, 100, 5000, -1, -64])
def test_truncation_detected_without_verify(saved, tmp_path, cut):
    blob = saved[:cut] if cut > 0 else saved[:len(saved) + cut]
    for verify in (False, None):
        with pytest.raises(IndexFormatError, match="truncated|manifest"):
            load_index(_write(tmp_path, blob), verify=verify)
    with pytest.raises(IndexFormatError, match="appended|bytes"):
        load_index(_write(tmp_path, saved + b"\0" * 64))


def test_checksum_mismatch_detected_when_verifying(saved, tmp_path):
    moff = struct.unpack_from("<Q", saved, 16)[0]
    man = json.loads(saved[moff:])
    spec = man["arrays"]["codes_"]
    bad = bytearray(saved)
    bad[spec["offset"] + 3] ^= 0x01
    p = _write(tmp_path, bytes(bad))
    with pytest.raises(IndexFormatError, match="codes_.*checksum"):
        load_index(p, verify=True)
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(p, mmap=False)  # default verify=None checks when reading into memory
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(p)  # small index: verified by default even with mmap
    load_index(p, verify=False)  # explicitly skipped: opens (the flipped bit is a valid code)
    with pytest.raises(IndexFormatError, match="checksum"):
        verify_index(p)


def test_large_mmap_index_skips_checksums_by_default(saved, tmp_path, monkeypatch):
    moff = struct.unpack_from("<Q", saved, 16)[0]
    spec = json.loads(saved[moff:])["arrays"]["codes_"]
    bad = bytearray(saved)
    bad[spec["offset"]] ^= 0x01
    p = _write(tmp_path, bytes(bad))
    monkeypatch.setattr(dio, "VERIFY_AUTO_BYTES", 16)
    load_index(p)  # treated as large: opened without reading the data
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(p, verify=True)


def _reseal(blob: bytes, mutate) -> bytes:
    """Rewrite the manifest through ``mutate(dict)`` with a valid crc: exercises the validator."""
    moff, mlen = struct.unpack_from("<QQ", blob, 16)
    man = json.loads(blob[moff:moff + mlen])
    mutate(man)
    body = json.dumps(man).encode()
    man["file_size"] = moff + len(body) + 24
    body = json.dumps(man).encode()
    body += b" " * (man["file_size"] - moff - len(body))
    head = bytearray(blob[:64])
    struct.pack_into("<QQI", head, 16, moff, len(body), zlib.crc32(body))
    return bytes(head) + blob[64:moff] + body


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m.update({"class": "NoSuchIndex"}), "unknown index class"),
    (lambda m: m["arrays"].pop("codes_"), "codes_"),
    (lambda m: m["arrays"]["codes_"].update({"shape": [10**12, 4]}), "codes_"),
    (lambda m: m["arrays"]["codes_"].update({"dtype": "|O"}), "dtype"),
    (lambda m: m["arrays"]["ids_"].update({"offset": 10**15}), "outside"),
    (lambda m: m["state"].update({"M": 5}), "inconsistent"),
    (lambda m: m["state"].update({"nbits": "8"}), "inconsistent"),
    (lambda m: m["state"].update({"search": 1}), "shadow"),
    (lambda m: m["state"]["pqs_"][0].update({"__object__": "os.system"}), "unknown object"),
    (lambda m: m["state"].update({"offsets_": {"__tuple__": 3}}), "malformed|inconsistent"),
])
def test_malformed_manifest_detected(saved, tmp_path, mutate, match):
    with pytest.raises(IndexFormatError, match=match):
        load_index(_write(tmp_path, _reseal(saved, mutate)))


def test_manifest_bytes_checksummed(saved, tmp_path):
    moff = struct.unpack_from("<Q", saved, 16)[0]
    bad = bytearray(saved)
    bad[moff + 20] ^= 0x20
    with pytest.raises(IndexFormatError, match="manifest checksum"):
        load_index(_write(tmp_path, bytes(bad)), verify=False)


# ------------------------------------------------------------------ crash safety
_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from dscref.index.flat import FlatPQIndex
    from dscref.io import save_index
    rng = np.random.default_rng(int(sys.argv[2]))
    ix = FlatPQIndex(M=4, nbits=4, n_iter=1, seed=0).build(rng.standard_normal((400, 16)).astype(np.float32))
    # a large state: 48 MB of extra arrays so the write takes a while
    ix.ballast_ = [rng.integers(0, 255, 8 << 20, dtype=np.uint8) for _ in range(6)]
    print("ready", flush=True)
    while True:
        save_index(ix, sys.argv[1])
""")


def test_sigkill_mid_save_leaves_old_file_intact(data, tmp_path):
    x, labels = data
    path = tmp_path / "live.dscidx"
    old = _build("flat", x, labels)
    save_index(old, path)
    qs = _queries(old, x, labels, 3)
    want = old.search(qs, k=10)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outcomes = []
    for delay in (0.05, 0.2, 0.35, 0.6, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "1"], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        ix = load_index(path, verify=True)  # old or a complete new file, never a torn one
        outcomes.append(type(ix).__name__ + ("+ballast" if hasattr(ix, "ballast_") else ""))
        if not hasattr(ix, "ballast_"):
            got = ix.search(qs, k=10)
            np.testing.assert_array_equal(got.I, want.I)
        for f in os.listdir(tmp_path):  # stale temp files of the killed writer
            if f.endswith(".tmp"):
                os.unlink(tmp_path / f)
    assert all(o.startswith("FlatPQIndex") for o in outcomes)


# ------------------------------------------------------------------ concurrency
def test_concurrent_search_on_mmap_index_matches_serial(data, tmp_path):
    x, labels = data
    save_index(_build("dsc", x, labels), tmp_path / "c")
    ix = load_index(tmp_path / "c", mmap=True)
    qs = _queries(ix, x, labels, 64)
    serial = [ix.search(q, k=20, metric=m) for m in ("l2", "cosine") for q in qs]
    jobs = [(q, m) for m in ("l2", "cosine") for q in qs] * 3
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda a: ix.search(a[0], k=20, metric=a[1]), jobs))
    for r, p in enumerate(par):
        s = serial[r % len(serial)]
        np.testing.assert_array_equal(s.I, p.I)
        np.testing.assert_array_equal(s.D, p.D)


# ------------------------------------------------------------------ bounded memory
def test_build_from_memmap_matches_in_memory(data, tmp_path):
    x, labels = data
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for kind in ("dsc", "ivf"):
        a, b = _build(kind, x, labels), _build(kind, xm, labels)
        np.testing.assert_array_equal(a.codes_, b.codes_)
        np.testing.assert_array_equal(a.ids_, b.ids_)


def test_release_pages_only_touches_shared_maps(tmp_path):
    from dscref._chunks import _shared_mapping, gather_residuals, release_pages

    a = np.arange(4096 * 8, dtype=np.float32).reshape(-1, 8)
    np.save(tmp_path / "a.npy", a)
    r = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert _shared_mapping(r) is not None and _shared_mapping(np.ascontiguousarray(r[10:20])) is not None
    assert _shared_mapping(np.load(tmp_path / "a.npy", mmap_mode="c")) is None
    assert _shared_mapping(a) is None
    release_pages(r)
    release_pages(a)
    np.testing.assert_array_equal(r, a)  # pages fault back in
    rows = np.array([5, 1, 4000, 7])
    cen = np.ones((3, 8), np.float32)
    lists = np.array([0, 2, 1, 0])
    np.testing.assert_array_equal(gather_residuals(r, rows, cen, lists), a[rows] - cen[lists])


def test_bench_memory_small(tmp_path):
    out = tmp_path / "bm.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_memory.py"),
                           "--n", "3000", "--d", "64", "--K", "10", "--classes", "20", "--pq-iter", "2",
                           "--coarse-iter", "2", "--tmpdir", str(tmp_path), "--out", str(out)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    for kind in ("dsc", "ivf"):
        assert res[kind]["build"]["peak_rss_build_mb"] > 0
        assert res[kind]["load"]["self_in_top10"] >= 0.5
    assert [f for f in os.listdir(tmp_path) if f.startswith("dscref_bench")] == []
