"""dscref.distributed.manifest: every field of a sharded index's manifest.json is checked (crafted
manifests raise IndexFormatError, shard files stay inside the index directory), and manifests
written before the number of lists got one name (version 1, key "n_labels") still open.

tests/data/legacy_sharded/ was written by the pre-redesign code (commit 21c5f2c) with
tests/data/make_legacy_sharded.py, which says how.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dscref.distributed import MANIFEST_NAME, ShardedSearcher, build_semantic_index_dask
from dscref.distributed.manifest import READ_VERSIONS, VERSION, read_manifest
from dscref.errors import IndexFormatError
from dscref.io import load_index
from dscref.query import Query

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_sharded"


# ------------------------------------------------------------------ crafted manifests
@pytest.fixture(scope="module")
def sharded_copy(built, tmp_path_factory):
    """A private copy of the built index (its manifest is rewritten by the tests) and a valid
    shard file outside it."""
    out, manifest, _ = built
    root = tmp_path_factory.mktemp("crafted") / "index"
    shutil.copytree(out, root)
    outside = root.parent / "outside"
    outside.mkdir()
    shutil.copy(out / manifest["shards"][0]["file"], outside / manifest["shards"][0]["file"])
    (root / "escape.dscidx").symlink_to(outside / manifest["shards"][0]["file"])
    (root / "loop.dscidx").symlink_to(root / "loop.dscidx")
    return root, manifest


def _shard(i, **kw):
    return lambda m: m["shards"][i].update(kw)


def _drop(*path):
    def f(m):
        node = m
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return f


SHARD_MANIFEST_DEFECTS = {
    **{f"missing {k}": _drop(k) for k in ("format", "version", "n_lists", "M", "nbits", "d", "ntotal",
                                            "n_shards", "owner", "shards")},
    **{f"missing shards[1].{k}": _drop("shards", 1, k) for k in ("shard", "file", "partitions", "n_items",
                                                               "bytes", "crc32")},
    "version a string": lambda m: m.update(version="1"),
    "n_lists a string": lambda m: m.update(n_lists="100"),
    "n_lists bool": lambda m: m.update(n_lists=True),
    "n_lists under its version-1 name": lambda m: m.update(n_labels=m.pop("n_lists")),
    "version 3": lambda m: m.update(version=3),
    "M a float": lambda m: m.update(M=8.0),
    "nbits 17": lambda m: m.update(nbits=17),
    "d not divisible by M": lambda m: m.update(d=250),
    "d of another index": lambda m: m.update(d=128),
    "ntotal off by one": lambda m: m.update(ntotal=m["ntotal"] + 1),
    "n_shards 0": lambda m: m.update(n_shards=0),
    "owner a dict": lambda m: m.update(owner={"0": 1}),
    "owner with a string": lambda m: m["owner"].__setitem__(3, "1"),
    "owner out of range": lambda m: m["owner"].__setitem__(3, 9),
    "owner one short": lambda m: m["owner"].pop(),
    "shards not a list": lambda m: m.update(shards={"0": m["shards"][0]}),
    "shards[0] not an object": lambda m: m["shards"].__setitem__(0, [1]),
    "shards[0].shard wrong": _shard(0, shard=2),
    "partitions with a string": lambda m: m["shards"][0]["partitions"].__setitem__(0, "0"),
    "partitions duplicated": lambda m: m["shards"][0]["partitions"].append(m["shards"][0]["partitions"][0]),
    "n_items negative": _shard(0, n_items=-1),
    "bytes a string": _shard(0, bytes="12"),
    "crc32 >= 2**32": _shard(0, crc32=2**32),
    "n_quantizers 0": _shard(0, n_quantizers=0),
    "seconds a string": _shard(0, seconds="fast"),
    "seed negative": lambda m: m.update(seed=-1),
    "timings a list": lambda m: m.update(timings=[]),
    "file an int": _shard(0, file=5),
    "file empty": _shard(0, file=""),
    "file '..'": _shard(0, file="../outside/shard_00000.dscidx"),
    "file with a '..' component": _shard(0, file="sub/../shard_00000.dscidx"),
    "file /etc/passwd": _shard(0, file="/etc/passwd"),
    "file: symlink out of the directory": _shard(0, file="escape.dscidx"),
    "file: symlink loop": _shard(0, file="loop.dscidx"),
    "file: the directory itself": _shard(0, file="."),
    "two shards, one file": lambda m: m["shards"][1].update(file=m["shards"][0]["file"]),
    "sample_file '..'": lambda m: m.update(sample_file="../x.npy"),
}


@pytest.mark.parametrize("defect", list(SHARD_MANIFEST_DEFECTS))
def test_crafted_sharded_manifest(sharded_copy, defect):
    root, manifest = sharded_copy
    m = json.loads(json.dumps(manifest))
    SHARD_MANIFEST_DEFECTS[defect](m)
    (root / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(IndexFormatError):
        ShardedSearcher(root)


def test_shard_path_absolute_even_inside_and_manifest_not_a_file(sharded_copy, tmp_path, cfg):
    root, manifest = sharded_copy
    m = json.loads(json.dumps(manifest))
    m["shards"][0]["file"] = str(root / manifest["shards"][0]["file"])  # absolute: refused
    (root / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="inside the index directory"):
        ShardedSearcher(root)
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert ShardedSearcher(root).ntotal == cfg.N  # the intact manifest still opens
    (tmp_path / MANIFEST_NAME).mkdir()
    with pytest.raises(IndexFormatError, match="not a regular file"):
        ShardedSearcher(tmp_path)


# ------------------------------------------------------------------ manifests of version 1
def test_version_1_manifest_opens_with_n_lists_and_searches_as_before(same_ranking):
    assert VERSION == 2 and READ_VERSIONS == {1: "n_labels", 2: "n_lists"}
    raw = json.loads((LEGACY / MANIFEST_NAME).read_text())
    assert raw["version"] == 1 and raw["n_labels"] == 6 and "n_lists" not in raw
    manifest, root, files = read_manifest(LEGACY)
    assert manifest["n_lists"] == 6 and "n_labels" not in manifest and manifest["version"] == 1
    assert root == LEGACY and [f.name for f in files] == ["shard_00000.dscidx", "shard_00001.dscidx"]
    s = ShardedSearcher(LEGACY, verify=True)
    assert s.n_lists == s.K == 6 and s.ntotal == 400
    e = np.load(LEGACY / "expected.npz")
    qs = [Query(e["labels"][i], e["codes"][i]) for i in range(len(e["labels"]))]
    for metric, tag in (("l2", "l2"), ("cosine", "cos")):  # the old code's results, up to rounding
        same_ranking(s.search(qs, 10, metric), e[f"D_{tag}"], e[f"I_{tag}"])
    for i in range(3):  # the device side: the old single index's query codes
        np.testing.assert_array_equal(s.encode_query(e["x"][i], e["labels"][i]).codes, e["codes"][i])


def test_version_1_shards_equal_a_build_of_today(client, tmp_path):
    e = np.load(LEGACY / "expected.npz")
    m = build_semantic_index_dask(e["x"], e["y"], tmp_path, n_lists=6, M=4, nbits=4, n_iter=3, seed=0,
                                  sample_size=300, n_shards=2, client=client)
    old = json.loads((LEGACY / MANIFEST_NAME).read_text())
    assert m["owner"] == old["owner"] and m["version"] == VERSION
    for key in ("M", "nbits", "d", "ntotal", "seed", "sample_size", "n_shards"):
        assert m[key] == old[key], key
    for a, b in zip(m["shards"], old["shards"]):
        assert (a["partitions"], a["n_items"], a["n_quantizers"]) == (b["partitions"], b["n_items"], b["n_quantizers"])
        new, was = load_index(tmp_path / a["file"]), load_index(LEGACY / b["file"])
        for name in ("centroids_", "list_pq_", "shared_pq_lists_", "offsets_", "ids_"):
            np.testing.assert_array_equal(getattr(new, name), getattr(was, name), err_msg=name)
        # PQ training changed in issue 22 (faiss's loop, exact distances): codes and codebooks
        # keep their dtype and shape (tests/index/test_legacy_files.py compares search quality)
        trained = [("codes_", new.codes_, was.codes_)] + [
            ("codebooks_", p.codebooks_, q.codebooks_) for p, q in zip(new.pqs_, was.pqs_)]
        for name, u, v in trained:
            assert u.dtype == v.dtype and u.shape == v.shape, name
    np.testing.assert_array_equal(np.load(tmp_path / "training_sample.npy"), np.load(LEGACY / "training_sample.npy"))


VERSION_1_DEFECTS = {
    "missing n_labels": lambda m: m.pop("n_labels"),
    "n_labels a string": lambda m: m.update(n_labels="6"),
    "n_labels bool": lambda m: m.update(n_labels=True),
    "n_labels 0": lambda m: m.update(n_labels=0),
    "n_labels under its version-2 name": lambda m: m.update(n_lists=m.pop("n_labels")),
    "owner of another n_labels": lambda m: m.update(n_labels=7),
}


@pytest.mark.parametrize("defect", list(VERSION_1_DEFECTS))
def test_crafted_version_1_manifest(tmp_path, defect):
    root = tmp_path / "index"
    shutil.copytree(LEGACY, root)
    m = json.loads((root / MANIFEST_NAME).read_text())
    VERSION_1_DEFECTS[defect](m)
    (root / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="n_labels|owner"):
        ShardedSearcher(root)
