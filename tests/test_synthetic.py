import numpy as np
import pytest

from dscref import synthetic
from dscref.synthetic import SemanticDataset, iter_database_chunks, make_semantic_dataset

# small but structured: 200 classes in 20 superclasses, landmarks with 6..60 positives
# (with fewer than ~150 classes the 0.77 / 0.94 accuracy pair is unreachable in this model)
SMALL = dict(n_classes=200, n_superclasses=20, positives_range=(6, 60), calibration_samples=20_000,
             stats_pairs=500)


@pytest.fixture(scope="module")
def ds_full():
    """d = 2048 and the default similarity / spectrum parameters (about 2 s)."""
    return make_semantic_dataset(8000, seed=3, **SMALL)


def test_same_seed_same_output_and_different_seed_differs():
    a = make_semantic_dataset(3000, d=64, seed=11, **SMALL)
    b = make_semantic_dataset(3000, d=64, seed=11, **SMALL)
    c = make_semantic_dataset(3000, d=64, seed=12, **SMALL)
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


def test_measured_cosines_near_targets(ds_full):
    # tolerance 0.03: the concentrated latent spectrum makes single pair cosines vary (std ~ 0.05-0.1)
    # and normalisation biases the mean slightly; 500-2000 pairs per type
    for key, entry in ds_full.stats["cosine"].items():
        assert entry["pairs"] >= 100, key
        assert abs(entry["measured"] - entry["target"]) < 0.03, (key, entry)
    # and ordered as real features are
    c = {k: v["measured"] for k, v in ds_full.stats["cosine"].items()}
    assert c["unrelated"] < c["same_superclass"] < c["same_class"] < c["junk"] < c["match"]


def test_cosines_hold_for_other_targets():
    ds = make_semantic_dataset(6000, d=512, seed=5, sim_unrelated=0.05, sim_same_superclass=0.1,
                               sim_same_class=0.3, sim_match=0.9, isotropic_fraction=0.5, **SMALL)
    for key, entry in ds.stats["cosine"].items():
        assert abs(entry["measured"] - entry["target"]) < 0.03, (key, entry)


@pytest.mark.parametrize("n_classes,n_superclasses", [(1000, 100), (200, 20)])
def test_classifier_accuracies_match_targets(n_classes, n_superclasses):
    ds = make_semantic_dataset(6000, d=16, n_classes=n_classes, n_superclasses=n_superclasses,
                               positives_range=(6, 60), calibration_samples=50_000, seed=1)
    st = ds.stats["classifier"]
    assert abs(st["top1_db"] - 0.77) <= 0.02 and abs(st["top5_db"] - 0.94) <= 0.02, st
    assert abs(st["calibration_top1"] - 0.77) < 0.002 and abs(st["calibration_top5"] - 0.94) < 0.002
    # labels_b is its own top-1: accuracy recomputed from the arrays agrees
    assert np.mean(ds.labels_b == ds.class_b) == pytest.approx(st["top1_db"])
    assert st["calibrated_confusion"] > 0  # siblings are the confusions


def test_other_accuracy_targets():
    ds = make_semantic_dataset(6000, d=16, top1_acc=0.6, top5_acc=0.85, seed=2, **SMALL)
    st = ds.stats["classifier"]
    assert abs(st["top1_db"] - 0.6) <= 0.02 and abs(st["top5_db"] - 0.85) <= 0.02, st


def test_confusions_stay_mostly_in_the_superclass():
    ds = make_semantic_dataset(6000, d=16, seed=4, **SMALL)
    wrong = ds.labels_b != ds.class_b
    same_sup = ds.superclass_of[ds.labels_b[wrong]] == ds.superclass_of[ds.class_b[wrong]]
    # 9 siblings among 199 competitors: chance would put 4.5 % of the errors in the superclass
    assert same_sup.mean() > 0.25
    assert ds.stats["classifier"]["errors_within_superclass"] == pytest.approx(same_sup.mean())


def test_instance_correlation_rho_one_gives_consistent_labels():
    ds = make_semantic_dataset(3000, d=16, classifier_instance_corr=1.0, seed=6, **SMALL)
    for q in range(len(ds.gnd)):
        ids = np.concatenate([ds.gnd[q]["ok"], ds.gnd[q]["junk"]])
        assert np.unique(ds.labels_b[ids]).tolist() == [ds.topk_q[q, 0]]
    ds0 = make_semantic_dataset(3000, d=16, classifier_instance_corr=0.0, seed=6, **SMALL)
    assert ds0.stats["classifier"]["positives_label_in_query_top5"] < 1.0


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


def test_out_memmap_and_chunks_equal_in_memory(tmp_path):
    kw = dict(d=48, seed=9, **SMALL)
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


def test_order_statistic_sampler_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 200
    fast = synthetic._order_stats_top(rng, np.full(20_000, n), 5)
    brute = -np.sort(-rng.standard_normal((20_000, n)), axis=1)[:, :5]
    np.testing.assert_allclose(fast.mean(axis=0), brute.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(fast.std(axis=0), brute.std(axis=0), atol=0.02)
    assert np.all(np.diff(fast, axis=1) <= 0)
    # fewer than 5 values: -inf pads
    few = synthetic._order_stats_top(rng, np.array([2, 0]), 5)
    assert np.isinf(few[0, 2:]).all() and np.isfinite(few[0, :2]).all() and np.isinf(few[1]).all()


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
    (dict(classifier_instance_corr=1.5), "classifier_instance_corr=1.5"),
    (dict(latent_dim=4096), "latent_dim=4096"),
    (dict(positives_range=(10, 5)), "positives_range"),
    (dict(chunk_size=0), "chunk_size=0"),
    (dict(n_classes=5), "n_classes=5"),
])
def test_bad_parameters_raise_value_error_naming_the_value(kw, match):
    args = dict(n_db=3000, d=16, calibration_samples=5000, seed=0,
                **{k: v for k, v in SMALL.items() if k != "calibration_samples"})
    args.update(kw)
    n_db = args.pop("n_db")
    with pytest.raises(ValueError, match=match):
        make_semantic_dataset(n_db, **args)


def test_bad_types_and_out():
    with pytest.raises(TypeError, match="seed"):
        make_semantic_dataset(3000, d=16, seed="x", **SMALL)
    with pytest.raises(TypeError, match="sim_match"):
        make_semantic_dataset(3000, d=16, sim_match="0.8", **SMALL)
    with pytest.raises(ValueError, match=r"out has shape \(10, 16\)"):
        make_semantic_dataset(3000, d=16, out=np.zeros((10, 16), np.float32), **SMALL)
    with pytest.raises(TypeError, match="float32"):
        make_semantic_dataset(3000, d=16, out=np.zeros((3000, 16)), **SMALL)
    with pytest.raises(TypeError, match="unexpected"):
        next(iter_database_chunks(3000, bogus=1))
