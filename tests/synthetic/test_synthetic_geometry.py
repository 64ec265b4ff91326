"""Tests of dscref.synthetic.geometry: the measured mean cosines of every pair type meet their
targets (closed-form component weights), at the defaults and at other targets."""

from dscref.synthetic import make_semantic_dataset


def test_measured_cosines_near_targets(ds_full):
    # tolerance 0.03: the concentrated latent spectrum makes single pair cosines vary (std ~ 0.05-0.1)
    # and normalisation biases the mean slightly; 500-2000 pairs per type
    for key, entry in ds_full.stats["cosine"].items():
        assert entry["pairs"] >= 100, key
        assert abs(entry["measured"] - entry["target"]) < 0.03, (key, entry)
    # and ordered as real features are
    c = {k: v["measured"] for k, v in ds_full.stats["cosine"].items()}
    assert c["unrelated"] < c["same_superclass"] < c["same_class"] < c["junk"] < c["match"]


def test_cosines_hold_for_other_targets(small):
    ds = make_semantic_dataset(6000, d=512, seed=5, sim_unrelated=0.05, sim_same_superclass=0.1,
                               sim_same_class=0.3, sim_match=0.9, isotropic_fraction=0.5, **small)
    for key, entry in ds.stats["cosine"].items():
        assert abs(entry["measured"] - entry["target"]) < 0.03, (key, entry)
