"""The README's two commands are the contract with a newcomer and with CI."""

import re
from pathlib import Path

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
