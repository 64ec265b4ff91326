"""Shared fixtures of the experiments' tests: one tiny synthetic benchmark and the indices built
on it, shared by every test file of this folder (each experiment reuses what another built)."""

import pytest


@pytest.fixture(scope="session")
def tiny():
    from dscref import experiments as E

    return E.synthetic_data(3000, seed=3, d=64, n_classes=200, n_superclasses=20, ranking_depth=50)


@pytest.fixture(scope="session")
def indexes():
    return {}
