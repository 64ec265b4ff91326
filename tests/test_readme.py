"""The README's two commands are the contract with a newcomer and with CI."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block(tag: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- {tag} -->\s*```\s*\n(.*?)\n```\s*<!-- /{tag} -->", text, re.S)
    assert m, f"README has no {tag} block"
    return m.group(1).strip()


def test_readme_has_both_commands():
    main_cmd, test_cmd = _block("main-command"), _block("test-command")
    assert "pip install" in main_cmd and "dscref" in main_cmd
    assert "pip install" in test_cmd and "pytest" in test_cmd
    # one line each, so they can be pasted as written
    assert "\n" not in main_cmd and "\n" not in test_cmd


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run extracts the block between these markers and runs it verbatim
    assert "<!-- test-command -->" in ci and "bash -c" in ci
    assert "-eq 5" in ci, ".ci/run must treat pytest's 'no tests collected' (exit 5) as failure"


# ------------------------------------------------------------------------------ Python blocks
# Every ```python block of the README runs here, each in a fresh interpreter in an empty folder.
# A block preceded by ``<!-- NAME -->`` whose output is shown in a ``<!-- NAME-output -->`` block
# must print exactly that. Blocks that need a cluster or data files get them from _SETUP: a
# LocalCluster and generated files, with the README's placeholder addresses and paths mapped onto
# them (the code itself runs as written).
_SETUP = {
    "dask-example": (
        r'''
import os
import numpy as np
from distributed import LocalCluster
from dscref.synthetic import make_semantic_dataset

_data = make_semantic_dataset(20_000, d=64, seed=0)
os.makedirs("data")
np.save("data/features.npy", _data.xb)
np.save("data/top1_labels.npy", _data.labels_b)
feature, top5_labels = _data.xq[0], _data.topk_q[0]
_cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                        memory_limit="3GiB")
''',
        {'"tcp://scheduler:8786"': "_cluster.scheduler_address", '"/data/': '"data/', '"/shared/': '"shared/'},
    ),
}


def _python_blocks():
    text = (ROOT / "README.md").read_text()
    found = []
    for m in re.finditer(r"(?:<!-- (?P<name>[\w-]+) -->\s*)?```python\n(?P<code>.*?)\n```", text, re.S):
        line = text.count("\n", 0, m.start("code"))
        name = m.group("name")
        shown = None
        if name:
            s = re.search(rf"<!-- {name}-output -->\s*```\n(.*?)\n```", text, re.S)
            shown = s.group(1).strip() if s else None
        found.append((name or f"README.md:{line}", m.group("code"), shown))
    return found


def test_readme_has_python_blocks_and_names_are_unique():
    names = [b[0] for b in _python_blocks()]
    assert len(names) >= 4 and len(set(names)) == len(names)
    assert set(_SETUP) <= set(names), "a setup names a block the README no longer has"


@pytest.mark.parametrize("name,code,shown", _python_blocks(), ids=[b[0] for b in _python_blocks()])
def test_readme_python_block_runs(name, code, shown, tmp_path):
    prelude, subs = _SETUP.get(name, ("", {}))
    for old, new in subs.items():
        assert old in code, f"{name}: placeholder {old} not found"
        code = code.replace(old, new)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", prelude + "\n" + code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
    if shown is not None:
        assert proc.stdout.strip() == shown, f"{name} printed:\n{proc.stdout}"
