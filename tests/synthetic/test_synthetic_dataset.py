"""Tests of dscref.synthetic.dataset: reproducibility, shapes and dtypes, ground truth, memory-mapped
output and streamed chunks equal to the in-memory database, bad parameters and outputs."""

import numpy as np
import pytest

from dscref.synthetic import SemanticDataset, iter_database_chunks, make_semantic_dataset


def test_same_seed_same_output_and_different_seed_differs(small):
    a = make_semantic_dataset(3000, d=64, seed=11, **small)
    b = make_semantic_dataset(3000, d=64, seed=11, **small)
    c = make_semantic_dataset(3000, d=64, seed=12, **small)
    for name in ("xb", "labels_b", "xq", "topk_q", "class_b", "class_q", "instance_b", "instance_q"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for ga, gb in zip(a.gnd, b.gnd):
        np.testing.assert_array_equal(ga["ok"], gb["ok"])
        np.testing.assert_array_equal(ga["junk"], gb["junk"])
    assert a.stats == b.stats and a.params == b.params
    assert not np.array_equal(a.xb, c.xb) and not np.array_equal(a.labels_b, c.labels_b)


def test_shapes_dtypes_and_unit_norms(ds_full):
    ds = ds_full
    assert isinstance(ds, SemanticDataset)
    n, nq = 8000, 55
    assert ds.xb.shape == (n, 2048) and ds.xb.dtype == np.float32
    assert ds.xq.shape == (nq, 2048) and ds.xq.dtype == np.float32
    for name, shape in (("labels_b", (n,)), ("class_b", (n,)), ("instance_b", (n,)),
                        ("topk_q", (nq, 5)), ("class_q", (nq,)), ("instance_q", (nq,)),
                        ("superclass_of", (200,))):
        arr = getattr(ds, name)
        assert arr.shape == shape and arr.dtype == np.int64, name
    np.testing.assert_allclose(np.linalg.norm(ds.xb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ds.xq, axis=1), 1.0, atol=1e-5)
    assert ds.labels_b.min() >= 0 and ds.labels_b.max() < 200
    assert ds.topk_q.min() >= 0 and ds.topk_q.max() < 200
    assert all(len(set(row)) == 5 for row in ds.topk_q.tolist())  # five distinct labels
    assert ds.params["seed"] == 3 and ds.params["n_db"] == n and ds.params["d"] == 2048
    # every distractor is its own instance
    dist = ds.instance_b >= ds.params["n_instances"]
    assert np.unique(ds.instance_b[dist]).size == dist.sum()


def test_gnd_consistency(ds_full):
    ds = ds_full
    n_inst = ds.params["n_instances"]
    assert len(ds.gnd) == ds.xq.shape[0] == n_inst * ds.params["queries_per_instance"]
    for q, g in enumerate(ds.gnd):
        ok, junk = g["ok"], g["junk"]
        assert ok.dtype == np.int64 and junk.dtype == np.int64
        assert ok.size >= 1 and np.intersect1d(ok, junk).size == 0
        assert np.all(ds.instance_b[ok] == ds.instance_q[q])
        assert np.all(ds.instance_b[junk] == ds.instance_q[q])
        assert np.all(ds.class_b[ok] == ds.class_q[q])
        lo, hi = ds.params["positives_range"]
        assert lo <= ok.size <= hi
        # ok + junk are all database images of the instance
        assert ok.size + junk.size == np.count_nonzero(ds.instance_b == ds.instance_q[q])
    # landmark images are scattered, not at the front of the database
    land = np.flatnonzero(ds.instance_b < n_inst)
    assert land.max() > ds.xb.shape[0] // 2


def test_out_memmap_and_chunks_equal_in_memory(small, tmp_path):
    kw = dict(d=48, seed=9, **small)
    ref = make_semantic_dataset(10_000, **kw)
    path = tmp_path / "xb.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(10_000, 48))
    ds = make_semantic_dataset(10_000, out=mm, chunk_size=3000, **kw)
    assert ds.xb is mm
    del mm, ds
    np.testing.assert_array_equal(np.load(path, mmap_mode="r"), ref.xb)
    parts = list(iter_database_chunks(10_000, chunk_size=777, **kw))
    assert parts[0][0] == 0 and parts[-1][1] == 10_000
    np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), ref.xb)


@pytest.mark.parametrize("kw,match", [
    (dict(sim_match=0.4), "sim_match=0.4"),
    (dict(sim_same_class=0.3), "sim_same_class=0.3"),
    (dict(sim_unrelated=-0.1), "sim_unrelated=-0.1"),
    (dict(sim_match=1.0), "sim_match=1.0"),
    (dict(top1_acc=0.95), "top5_acc=0.94"),
    (dict(top5_acc=1.0), "top5_acc=1.0"),
    (dict(top1_acc=0.0), "top1_acc=0.0"),
    (dict(top1_acc=0.93), "top1_acc=0.93"),  # unreachable: too close to top-5
    (dict(n_db=100), "n_db=100"),
    (dict(n_superclasses=500), "n_superclasses=500"),
    (dict(junk_fraction=1.0), "junk_fraction=1.0"),
    (dict(label_consistency=1.5), "label_consistency=1.5"),
    (dict(visibility=0.2), "visibility=0.2"),
    (dict(n_viewpoints=0.5), "n_viewpoints=0.5"),
    (dict(scene_share=-0.1), "scene_share=-0.1"),
    (dict(scene_classes=0), "scene_classes=0"),
    (dict(clutter_effect=1.0), "clutter_effect=1.0"),
    (dict(query_visibility=0.0), "query_visibility=0.0"),
    (dict(positives=(5, 6), positives_range=None, n_instances=3), "n_instances=3"),
    (dict(positives=(5, 0), positives_range=None), r"positives\[1\]=0"),
    (dict(positives=(), positives_range=None), "positives"),
    (dict(positives=(5, 6)), "not both"),
    (dict(latent_dim=4096), "latent_dim=4096"),
    (dict(positives_range=(10, 5)), "positives_range"),
    (dict(chunk_size=0), "chunk_size=0"),
    (dict(n_classes=5), "n_classes=5"),
])
def test_bad_parameters_raise_value_error_naming_the_value(small, kw, match):
    args = dict(n_db=3000, d=16, calibration_samples=5000, seed=0,
                **{k: v for k, v in small.items() if k != "calibration_samples"})
    args.update(kw)
    n_db = args.pop("n_db")
    with pytest.raises(ValueError, match=match):
        make_semantic_dataset(n_db, **args)


def test_bad_types_and_out(small):
    with pytest.raises(TypeError, match="seed"):
        make_semantic_dataset(3000, d=16, seed="x", **small)
    with pytest.raises(TypeError, match="sim_match"):
        make_semantic_dataset(3000, d=16, sim_match="0.8", **small)
    with pytest.raises(ValueError, match=r"out has shape \(10, 16\)"):
        make_semantic_dataset(3000, d=16, out=np.zeros((10, 16), np.float32), **small)
    with pytest.raises(TypeError, match="float32"):
        make_semantic_dataset(3000, d=16, out=np.zeros((3000, 16)), **small)
    with pytest.raises(TypeError, match="unexpected"):
        next(iter_database_chunks(3000, bogus=1))
