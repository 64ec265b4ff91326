"""Fixtures shared by the tests of dscref.synthetic."""

import pytest

from dscref.synthetic import make_semantic_dataset

# small but structured: 200 classes in 20 superclasses, landmarks with 6..60 positives
# (with fewer than ~150 classes the 0.77 / 0.94 accuracy pair is unreachable in this model)
SMALL = dict(n_classes=200, n_superclasses=20, positives_range=(6, 60), calibration_samples=20_000,
             stats_pairs=500)


@pytest.fixture
def small():
    """The small generator parameters (a fresh dict per test)."""
    return dict(SMALL)


@pytest.fixture(scope="session")
def ds_full():
    """d = 2048 and the default similarity / spectrum parameters (about 2 s)."""
    return make_semantic_dataset(8000, seed=3, **SMALL)
