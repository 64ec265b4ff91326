"""Numba's compiled kernels are cached outside the installed package (see dscref._kernels._cache).

In-tree caches under site-packages outlive ``pip uninstall`` and shadow a later editable install;
the last test runs that exact sequence (``pip install .``, a kernel run, ``pip install -e .``).
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_RUN_KERNEL = "import numpy as np; from dscref.bitpack import pack; pack(np.arange(6), 10)"


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "DSCREF_CACHE_DIR")}
    env.update({k: str(v) for k, v in kw.items()})
    return env


def _cache_files(folder: Path) -> set:
    return {p for p in folder.rglob("*.nbi")} if folder.exists() else set()


def _pkg_kernels() -> Path:
    import dscref._kernels

    return Path(dscref._kernels.__file__).parent


def test_kernels_are_cached_in_the_user_folder_not_in_the_package(tmp_path):
    before = _cache_files(_pkg_kernels())
    env = _env(DSCREF_CACHE_DIR=tmp_path / "c", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", _RUN_KERNEL], env=env, check=True, cwd=ROOT, timeout=300)
    assert any(p.name.startswith("bitpack.") for p in _cache_files(tmp_path / "c"))
    assert _cache_files(_pkg_kernels()) <= before  # nothing new inside the package


def test_xdg_cache_home_and_numba_cache_dir_are_honoured(tmp_path):
    env = _env(XDG_CACHE_HOME=tmp_path / "xdg", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", _RUN_KERNEL], env=env, check=True, cwd=ROOT, timeout=300)
    assert _cache_files(tmp_path / "xdg" / "dscref" / "numba")
    # the user's explicit NUMBA_CACHE_DIR wins, as for any Numba code
    env = _env(NUMBA_CACHE_DIR=tmp_path / "nb", DSCREF_CACHE_DIR=tmp_path / "unused", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", _RUN_KERNEL], env=env, check=True, cwd=ROOT, timeout=300)
    assert _cache_files(tmp_path / "nb") and not _cache_files(tmp_path / "unused")


@pytest.mark.slow
def test_regular_install_then_editable_install_leaves_a_working_package(tmp_path):
    """The README's two commands in one venv: ``pip install .`` + a kernel run, then ``pip install -e .``."""
    src = tmp_path / "src"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(src)], check=True, timeout=120) \
        if (ROOT / ".git").exists() else pytest.skip("needs a git checkout")
    # copy the working tree's package over the clone so uncommitted changes are what is tested
    subprocess.run(["cp", "-r", str(ROOT / "dscref"), str(src)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    # the dependencies (and pip) come from the test environment's site-packages; the build backend
    # is fetched by pip's build isolation, as in the README's commands
    (site / "_parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = _env(DSCREF_CACHE_DIR=tmp_path / "cache", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    pip = [str(py), "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run(pip + ["."], cwd=src, env=env, check=True, timeout=300)
    subprocess.run([str(py), "-c", _RUN_KERNEL], cwd=tmp_path, env=env, check=True, timeout=300)
    subprocess.run(pip + ["-e", "."], cwd=src, env=env, check=True, timeout=300)
    assert not (site / "dscref").exists(), sorted(map(str, (site / "dscref").rglob("*")))
    out = subprocess.run([str(py), "-c", "import dscref; print(dscref.__version__, dscref.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert str(src) in out.stdout
