"""The package dscref.synthetic keeps every import path of the former module dscref.synthetic (public
names and the private ones dscref.distributed used), and dscref._linalg stays an alias of the
generator's fixed-order linear algebra."""

import importlib

import dscref.synthetic as syn
from dscref.synthetic import SemanticDataset, iter_database_chunks, make_semantic_dataset


def test_old_public_names():
    assert {"SemanticDataset", "make_semantic_dataset", "iter_database_chunks"} <= set(syn.__all__)
    dataset = importlib.import_module("dscref.synthetic.dataset")
    assert SemanticDataset is dataset.SemanticDataset
    assert make_semantic_dataset is dataset.make_semantic_dataset
    assert iter_database_chunks is dataset.iter_database_chunks
    assert syn.TOP_K == 5
    for name in syn.__all__:
        assert hasattr(syn, name), name
    # dscref.datasets re-exports the generator too
    from dscref import datasets
    assert datasets.make_semantic_dataset is make_semantic_dataset


def test_private_names_used_elsewhere_still_resolve():
    from dscref.synthetic.classifier import order_stats_top
    from dscref.synthetic.params import checked_params, stream_params
    from dscref.synthetic.plan import SyntheticPlan

    assert syn._Plan is SyntheticPlan is syn.SyntheticPlan
    assert syn._params is checked_params
    assert syn._stream_params is stream_params
    assert syn._order_stats_top is order_stats_top


def test_submodules_have_docstrings_and_all():
    for module in ("params", "geometry", "classifier", "plan", "stats", "dataset", "_linalg"):
        sub = importlib.import_module(f"dscref.synthetic.{module}")
        assert sub.__doc__ and sub.__all__, module
        for name in sub.__all__:
            assert hasattr(sub, name), (module, name)


def test_linalg_shim():
    import dscref._linalg as old
    from dscref.synthetic import _linalg as new

    assert old.__all__ == new.__all__
    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name)
