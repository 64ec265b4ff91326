"""The dscref.distributed package: every public name it had as a module, from its new home, and
no Dask at import time."""

import subprocess
import sys

import dscref.distributed as distributed
from dscref.distributed import build, manifest, search, sources

HOMES = {"training_sample": sources, "assign_shards": build, "build_semantic_index_dask": build,
         "ShardedSearcher": search, "features_from_npy": sources, "synthetic_database": sources,
         "synthetic_plan": sources, "MANIFEST_NAME": manifest, "SAMPLE_NAME": build}


def test_every_old_name_is_reexported_from_its_module():
    assert sorted(distributed.__all__) == sorted(HOMES)
    for name, module in HOMES.items():
        assert getattr(distributed, name) is getattr(module, name), name
    assert distributed.MANIFEST_NAME == "manifest.json" and distributed.SAMPLE_NAME == "training_sample.npy"


def test_import_needs_no_dask():
    code = ("import sys, dscref, dscref.distributed; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'tqdm')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
