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


def _equation_map() -> list:
    """Rows (eq, implemented-by cell, checked-by cell) of the README's equation map."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- equation-map -->\n(.*?)<!-- /equation-map -->", text, re.S)
    assert m, "README has no equation-map table"
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("eq.",) and not set(cells[0]) <= set("-"):
            rows.append((cells[0], cells[2], cells[3]))
    return rows


def test_equation_map_covers_every_equation_and_result():
    eqs = " ".join(r[0] for r in _equation_map())
    for n in range(1, 16):
        assert f"({n})" in eqs, f"eq. ({n}) missing from the README's equation map"
    for result in ("Fig. 2", "Fig. 3", "Table I"):
        assert result in eqs
    assert "not implemented" in dict((r[0], r[1]) for r in _equation_map())["(9)"]


def test_equation_map_names_code_that_exists_and_tests_that_exist():
    import importlib
    import re

    n_code = n_tests = 0
    for eq, code, tests in _equation_map():
        for name in re.findall(r"`(dscref(?:\.\w+)+)`", code):
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    continue
                for attr in parts[i:]:
                    assert hasattr(obj, attr), f"eq. {eq}: {name} does not exist"
                    obj = getattr(obj, attr)
                n_code += 1
                break
            else:
                raise AssertionError(f"eq. {eq}: {name} does not import")
        for path, test in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", tests):
            text = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {test}\(", text, re.M), f"eq. {eq}: {path}::{test} does not exist"
            n_tests += 1
    assert n_code >= 30 and n_tests >= 25
