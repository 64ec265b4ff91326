"""The package dscref.experiments keeps every name of the former module dscref.experiments (and of
dscref.experiments_robust, now a shim): each old import path names the object defined in the
submodule that now holds it; every module holds one concept in at most 400 lines."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from dscref import experiments as E

ROOT = Path(__file__).resolve().parents[2]

# public names of the former module dscref.experiments, with the submodule now holding each
OLD_NAMES = {
    "RetrievalData": "data", "synthetic_data": "data", "features_data": "data", "image_data": "data",
    "load_data": "data", "parse_scale": "data", "min_synthetic_size": "data",
    "build_index": "evaluate", "head_labels": "evaluate", "evaluate": "evaluate",
    "table1": "table1", "fig2": "fig2", "fig3": "fig3", "robust": "robust",
    "PAPER_TABLE1": "paper", "PAPER_FIG2": "paper", "TABLE1_ROWS": "paper", "SCALES": "paper",
    "write_results": "report", "plot_results": "plots", "format_table1": "tables", "format_fig2": "tables",
    "format_fig3": "tables", "format_robust": "tables",
    "VARIANTS": "robust", "robust_variants_mAP": "robust",
}
OLD_ALL = ["RetrievalData", "synthetic_data", "features_data", "image_data", "load_data", "make_index",
           "parse_scale", "min_synthetic_size", "evaluate", "fig2", "fig3", "table1", "robust", "write_results",
           "PAPER_TABLE1", "PAPER_FIG2"]


def _module(name):
    # importlib, not ``import dscref.experiments.fig3 as m``: the package attribute ``fig3`` is the
    # function (as it always was), the module is reached through sys.modules
    return importlib.import_module(f"dscref.experiments.{name}")


@pytest.mark.parametrize("name, module", sorted(OLD_NAMES.items()))
def test_old_import_path_names_the_submodule_object(name, module):
    exec(f"from dscref.experiments import {name} as obj", globals(), ns := {})
    sub = _module(module)
    assert ns["obj"] is getattr(sub, name)
    assert name in sub.__all__ and name in E.__all__


def test_all_keeps_the_old_names_and_the_experiments_are_functions():
    assert set(OLD_ALL) <= set(E.__all__) and len(E.__all__) == len(set(E.__all__))
    for name in E.__all__:
        assert hasattr(E, name), name
    for name in ("table1", "fig2", "fig3", "robust"):
        assert callable(getattr(E, name)) and getattr(E, name) is getattr(_module(name), name)
    from dscref.index.factory import INDEX_NAMES, make_index

    assert E.make_index is make_index and E.INDEX_NAMES is INDEX_NAMES


def test_experiments_robust_is_a_shim():
    import dscref.experiments_robust as old

    assert old.robust_variants_mAP is _module("robust").robust_variants_mAP
    assert old.VARIANTS is _module("robust").VARIANTS
    assert set(old.__all__) == {"VARIANTS", "robust_variants_mAP"}
    src = (ROOT / "dscref" / "experiments_robust.py").read_text()
    assert "def " not in src and "class " not in src


def test_modules_are_small_documented_and_declare_all():
    for path in sorted((ROOT / "dscref" / "experiments").glob("*.py")):
        lines = path.read_text().count("\n")
        assert lines <= 400, (path.name, lines)
        if path.stem != "__init__":
            sub = _module(path.stem)
            assert sub.__doc__ and sub.__all__, path.stem
            for name in sub.__all__:
                assert getattr(E, name) is getattr(sub, name), (path.stem, name)


def test_no_caller_converts_bytes_to_bits_or_transmits_itself():
    """Every chain goes through dscref.link: no experiment touches bitpack or transmit_* directly."""
    for path in (ROOT / "dscref" / "experiments").glob("*.py"):
        src = path.read_text()
        for word in ("bitpack", "bytes_to_bits", "bits_to_bytes", "transmit_bits", "transmit_analog",
                     "encode_payload", "decode_payload", "decode_head"):
            assert word not in src, (path.name, word)


def test_import_is_light():
    code = ("import sys, dscref.experiments, dscref.experiments_robust; "
            "heavy = {'matplotlib', 'dask', 'onnxruntime', 'distributed'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
