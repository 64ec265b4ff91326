"""The layout's rules, read from the source with ``ast`` (README "Architecture").

* no import cycle between dscref's modules, counting imports inside functions and the package
  ``__init__`` that importing ``dscref.a.b`` from outside ``a`` runs;
* no module over 400 lines;
* kernels know no public API; nothing imports the NumPy twins in ``_reference``;
* the core never imports Dask, onnxruntime, matplotlib or torch at import time;
* the codec and the channel carry bytes and bits, never indexes;
* no library module knows the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dscref"
MAX_LINES = 400
HEAVY = ("dask", "distributed", "onnxruntime", "matplotlib", "torch")


def _modules() -> dict:
    """dotted name -> path, for every module of the package."""
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """(imported dscref module, line, at module level?) for every import of ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    top = {id(n) for n in tree.body}
    # statements at module level, including those nested in module-level if/try blocks
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            for sub in ast.walk(node):
                top.add(id(sub))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [(prefix, a.name) for a in node.names]
        else:
            continue
        for mod, attr in targets:
            full = f"{mod}.{attr}" if attr and f"{mod}.{attr}" in MODULES else mod
            yield full, node.lineno, id(node) in top


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict:
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for target, _, _ in _imports(name, path):
            if not target.startswith("dscref"):
                continue
            dep = _resolve(target)
            # importing dscref.a.b from outside package dscref.a also runs dscref/a/__init__.py
            parts = dep.split(".")
            for i in range(2, len(parts)):
                pkg = ".".join(parts[:i])
                if pkg in MODULES and not (name == pkg or name.startswith(pkg + ".")):
                    deps.add(pkg)
            if dep != name:
                deps.add(dep)
        graph[name] = deps
    return graph


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_counting_imports_inside_functions():
    assert _cycles(_graph()) == []


def test_the_graph_sees_imports_inside_functions_and_package_inits():
    graph = _graph()
    assert "dscref.index" in graph["dscref.io"] or any(d.startswith("dscref.index") for d in graph["dscref.io"])
    # link imports the channel only inside functions
    assert any(d.startswith("dscref.channel") for d in graph["dscref.link"])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_400_lines(name):
    n = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[name].relative_to(PKG.parent)} has {n} lines (at most {MAX_LINES})"


def test_kernels_know_no_public_api():
    for name, path in MODULES.items():
        if not name.startswith("dscref._kernels"):
            continue
        for target, line, _ in _imports(name, path):
            if target.startswith("dscref"):
                ok = target.startswith("dscref._kernels") or _resolve(target) == "dscref._threads"
                assert ok, f"{path.name}:{line} imports {target}: kernels import only kernels and _threads"


def test_nothing_in_the_package_imports_the_numpy_twins():
    for name, path in MODULES.items():
        if name.startswith("dscref._reference"):
            continue
        for target, line, _ in _imports(name, path):
            assert not target.startswith("dscref._reference"), f"{path}:{line} imports {target}"


def test_the_core_imports_no_heavy_package_at_import_time():
    allowed = ("dscref.distributed",)  # Dask only inside functions there too, but its own layer
    for name, path in MODULES.items():
        for target, line, at_top in _imports(name, path):
            heavy = target.split(".")[0] in HEAVY
            if heavy and at_top and not name.startswith(allowed):
                pytest.fail(f"{path.relative_to(PKG.parent)}:{line} imports {target} at import time")


@pytest.mark.parametrize("layer", ["dscref.codec", "dscref.channel", "dscref.bitpack", "dscref.fec",
                                   "dscref.soft", "dscref.query"])
def test_codec_and_channel_carry_bits_not_indexes(layer):
    for name, path in MODULES.items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for target, line, _ in _imports(name, path):
            dep = _resolve(target) if target.startswith("dscref") else None
            assert not (dep or "").startswith(("dscref.index", "dscref.io", "dscref.link")), \
                f"{path.relative_to(PKG.parent)}:{line} imports {target}"


def test_no_library_module_knows_the_cli():
    for name, path in MODULES.items():
        if name.startswith(("dscref.cli", "dscref._cli", "dscref.__main__")):
            continue
        for target, line, _ in _imports(name, path):
            dep = _resolve(target) if target.startswith("dscref") else None
            assert not (dep or "").startswith(("dscref.cli", "dscref._cli")), \
                f"{path.relative_to(PKG.parent)}:{line} imports the CLI ({target})"
