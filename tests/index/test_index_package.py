"""The dscref.index package: every index class and helper importable from it and from its old
module paths; the factory."""

import warnings

import pytest

import dscref.index as dindex


def test_every_index_class_imports_from_dscref_index():
    from dscref.index import flat, gp, imi, ivf, semantic

    assert dindex.SemanticIndex is semantic.SemanticIndex
    assert dindex.IVFIndex is ivf.IVFIndex and dindex.IMIIndex is imi.IMIIndex
    assert dindex.GPIndex is gp.GPIndex and dindex.FlatPQIndex is flat.FlatPQIndex
    for name in ("SemanticIndex", "IVFIndex", "IMIIndex", "GPIndex", "FlatPQIndex", "Query", "SearchResult"):
        assert name in dindex.__all__


def test_old_import_paths_still_work():
    from dscref import io
    from dscref.index.base import InvertedPQIndex, Query, SearchResult
    from dscref.index.factory import INDEX_KINDS, INDEX_NAMES, make_index
    from dscref.index.imi import multi_sequence
    from dscref.query import Query as Q

    assert Query is Q and dindex.make_index is make_index and dindex.SearchResult is SearchResult
    assert dindex.InvertedPQIndex is InvertedPQIndex and callable(multi_sequence)
    assert dindex.INDEX_KINDS == INDEX_KINDS and set(INDEX_NAMES) == set(INDEX_KINDS)
    for name in ("save_index", "load_index", "verify_index", "FORMAT_VERSION", "MAGIC", "VERIFY_AUTO_BYTES"):
        assert name in io.__all__ and hasattr(io, name)


@pytest.mark.parametrize("kind, lists", [("dsc", 12), ("ivf", 12), ("imi", 16), ("gp", 12), ("flat", 1)])
def test_make_index_sizes_every_kind_by_n_lists(kind, lists):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated keyword on the way
        ix = dindex.make_index(kind, 12, M=4, nbits=4, seed=0)
    assert ix.kind == kind and not ix.is_trained
    assert repr(ix).startswith(f"{type(ix).__name__}(n_lists={lists}, M=4, nbits=4,")
