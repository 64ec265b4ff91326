"""Tests of dscref.synthetic.classifier: calibrated top-1 / top-5 accuracies, confusions inside the
superclass, instance-correlated labels, and the exact order-statistic sampler."""

import numpy as np
import pytest

from dscref.synthetic import make_semantic_dataset
from dscref.synthetic.classifier import order_stats_top


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


def test_other_accuracy_targets(small):
    ds = make_semantic_dataset(6000, d=16, top1_acc=0.6, top5_acc=0.85, seed=2, **small)
    st = ds.stats["classifier"]
    assert abs(st["top1_db"] - 0.6) <= 0.02 and abs(st["top5_db"] - 0.85) <= 0.02, st


def test_confusions_stay_mostly_in_the_superclass(small):
    ds = make_semantic_dataset(6000, d=16, seed=4, **small)
    wrong = ds.labels_b != ds.class_b
    same_sup = ds.superclass_of[ds.labels_b[wrong]] == ds.superclass_of[ds.class_b[wrong]]
    # 9 siblings among 199 competitors: chance would put 4.5 % of the errors in the superclass
    assert same_sup.mean() > 0.25
    assert ds.stats["classifier"]["errors_within_superclass"] == pytest.approx(same_sup.mean())


def test_label_consistency_one_gives_consistent_labels(small):
    # all logit noise shared by the landmark, no clutter effect: one label per landmark
    kw = dict(label_consistency=1.0, viewpoint_label_share=0.0, clutter_effect=0.0, seed=6, **small)
    ds = make_semantic_dataset(3000, d=16, **kw)
    for q in range(len(ds.gnd)):
        ids = np.concatenate([ds.gnd[q]["ok"], ds.gnd[q]["junk"]])
        assert np.unique(ds.labels_b[ids]).tolist() == [ds.topk_q[q, 0]]
    ds0 = make_semantic_dataset(3000, d=16, label_consistency=0.0, seed=6, **small)
    assert ds0.stats["classifier"]["positives_label_in_query_top5"] < 1.0


def test_viewpoints_get_their_own_labels(small):
    # noise shared per viewpoint only: photos of one view agree, views of one landmark differ
    kw = dict(label_consistency=1.0, viewpoint_label_share=1.0, clutter_effect=0.0, n_viewpoints=4.0,
              positives_range=(40, 60), seed=7, **{k: v for k, v in small.items() if k != "positives_range"})
    ds = make_semantic_dataset(3000, d=16, **kw)
    st = ds.stats["landmarks"]
    assert st["same_view_top1_equal"] == 1.0
    land = np.flatnonzero(ds.instance_b < ds.params["n_instances"])
    n_labels = [np.unique(ds.labels_b[land[ds.instance_b[land] == i]]).size for i in range(ds.params["n_instances"])]
    views = st["viewpoints_per_landmark"]
    assert all(n <= v for n, v in zip(n_labels, views)) and max(n_labels) > 1


def test_deprecated_classifier_instance_corr_alias(small):
    with pytest.warns(DeprecationWarning, match="label_consistency"):
        a = make_semantic_dataset(3000, d=16, classifier_instance_corr=0.4, seed=6, **small)
    b = make_semantic_dataset(3000, d=16, label_consistency=0.4, seed=6, **small)
    np.testing.assert_array_equal(a.labels_b, b.labels_b)
    assert a.params["label_consistency"] == 0.4


def test_order_statistic_sampler_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 200
    fast = order_stats_top(rng, np.full(20_000, n), 5)
    brute = -np.sort(-rng.standard_normal((20_000, n)), axis=1)[:, :5]
    np.testing.assert_allclose(fast.mean(axis=0), brute.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(fast.std(axis=0), brute.std(axis=0), atol=0.02)
    assert np.all(np.diff(fast, axis=1) <= 0)
    # fewer than 5 values: -inf pads
    few = order_stats_top(rng, np.array([2, 0]), 5)
    assert np.isinf(few[0, 2:]).all() and np.isfinite(few[0, :2]).all() and np.isinf(few[1]).all()
