"""Threads and processes (issue 17 §2): concurrent search, fork after search, layer-independent results.

The subprocess tests run tests/threads_worker.py with the threading layer fixed before Numba
starts; each has a timeout, so a hang fails the test instead of hanging CI. Facts they pin down
(Numba 0.68, Linux): without dscref's lock the workqueue layer aborts the process when two
threads launch parallel regions; a child forked after the GNU OpenMP layer ran is killed by
Numba at its first parallel region, which leaves a multiprocessing.Pool waiting forever.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dscref._threads as th
from dscref.errors import UnsafeForkError

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "threads_worker.py"
TIMEOUT = 120
NO_LAYER = "No threading layer could be loaded"


def _run(mode, layer=None, threads=2):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING_LAYER")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env["NUMBA_NUM_THREADS"] = str(threads)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    # own session: on a timeout the whole group (pool children included) is killed
    proc = subprocess.Popen([sys.executable, str(WORKER), mode], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{mode} on layer {layer or 'default'} hung for {TIMEOUT} s\n{out}\n{err[-3000:]}")
    if NO_LAYER in err:
        pytest.skip(f"threading layer {layer!r} is not available here")
    return proc.returncode, out, err


def _layer(out):
    return [ln.split()[1] for ln in out.splitlines() if ln.startswith("LAYER ")][-1]


# ---------------------------------------------------------------------------------- threads
def test_concurrent_search_on_workqueue_layer_is_safe_and_exact():
    """4 threads search one index (l2, cosine, decoded payloads), encode / decode and run fused
    ADC top-k at once on the workqueue layer: no abort, every result equal to the serial one."""
    rc, out, err = _run("concurrent", "workqueue")
    assert rc == 0 and "OK" in out.split(), f"rc={rc}\n{out}\n{err[-3000:]}"
    assert _layer(out) == "workqueue"


# ---------------------------------------------------------------------------------- fork
def test_fork_after_search_works_with_the_default_layer():
    """No layer chosen: dscref picks a fork-safe one, and Pool('fork') children search exactly."""
    rc, out, err = _run("fork")
    assert rc == 0 and "FORK-OK" in out, f"rc={rc}\n{out}\n{err[-3000:]}"
    assert _layer(out) in ("workqueue", "tbb")


def test_fork_after_search_on_gnu_openmp_raises_a_clear_error():
    """An explicit omp layer is respected; a forked child's search raises UnsafeForkError (which
    multiprocessing hands back to the parent) instead of being killed and hanging the pool."""
    rc, out, err = _run("fork", "omp")
    assert rc == 0, f"rc={rc}\n{out}\n{err[-3000:]}"
    assert _layer(out) == "omp"
    if sys.platform.startswith("linux"):  # GNU OpenMP; other platforms' OpenMP is fork-safe
        assert "FORK-ERROR" in out and "forkserver" in out, out
    else:  # pragma: no cover
        assert "FORK-OK" in out or "FORK-ERROR" in out, out


# ---------------------------------------------------------------------------------- results
def test_results_identical_across_layers_and_thread_counts():
    """Every parallel kernel's public result, k-means included, is bit-identical on 1 or 2
    threads and on every available layer (sha256 of the outputs)."""
    digests = {}
    for layer, threads in (("workqueue", 1), ("workqueue", 2), ("omp", 2), ("tbb", 2)):
        try:
            rc, out, err = _run("digest", layer, threads)
        except pytest.skip.Exception:
            continue
        assert rc == 0, f"{layer}/{threads}: rc={rc}\n{err[-3000:]}"
        d = json.loads(out.splitlines()[0])
        assert d.pop("LAYER") == layer
        digests[(layer, threads)] = d
    assert len(digests) >= 2
    ref_key, ref = next(iter(digests.items()))
    for key, d in digests.items():
        diff = sorted(k for k in ref if ref[k] != d[k])
        assert not diff, f"{key} differs from {ref_key} in {diff}"


# ---------------------------------------------------------------------------------- policy (in process)
def _kernel_modules():
    import importlib
    import pkgutil

    import dscref._kernels as pkg

    return [importlib.import_module(f"dscref._kernels.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]


# launched only from inside another, guarded kernel (compiled code cannot call the Python guard)
_INNER = {("kmeans", "_update_min_sqdist"): "kmeanspp_init"}


def test_every_parallel_kernel_goes_through_the_guard():
    from numba.core.registry import CPUDispatcher

    found = 0
    for mod in _kernel_modules():
        short = mod.__name__.rsplit(".", 1)[1]
        for name, obj in vars(mod).items():
            # a bare dispatcher's own __wrapped__ is its Python function: unwrap guards only
            disp = obj.__wrapped__ if getattr(obj, "parallel_kernel", False) else obj
            if not isinstance(disp, CPUDispatcher) or not disp.targetoptions.get("parallel"):
                continue
            found += 1
            outer = _INNER.get((short, name))
            if outer is not None:
                assert getattr(getattr(mod, outer), "parallel_kernel", False), f"{short}.{outer}"
                continue
            assert getattr(obj, "parallel_kernel", False), (
                f"dscref._kernels.{short}.{name} is parallel=True but not decorated with "
                f"@parallel_kernel (dscref/_threads.py)")
    assert found >= 14


def test_library_loads_the_layer_only_through_threads_module():
    """``numba.get_num_threads`` / ``set_num_threads`` load the threading layer: only
    dscref._threads may call them, after choosing the layer."""
    offenders = []
    for path in (ROOT / "dscref").rglob("*.py"):
        if path.name == "_threads.py":
            continue
        text = path.read_text()
        if any(f in text for f in ("get_num_threads", "set_num_threads", "threading_layer(")):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


@pytest.mark.parametrize("layer, locked", [("workqueue", True), ("omp", False), ("tbb", False), (None, True)])
def test_launches_are_serialised_only_on_thread_unsafe_layers(monkeypatch, layer, locked):
    monkeypatch.setattr(th, "_needs_lock", None)
    monkeypatch.setattr(th, "active_layer", lambda: layer)
    monkeypatch.setattr(th, "_prefer_fork_safe_layer", lambda: None)
    assert th._launch_needs_lock() is locked


def test_user_choice_of_layer_is_respected(monkeypatch):
    import numba

    for v in th._USER_LAYER_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "default")
    assert not th.user_chose_layer()
    monkeypatch.setenv("NUMBA_THREADING_LAYER", "default")  # explicit, even if "default"
    assert th.user_chose_layer()
    monkeypatch.delenv("NUMBA_THREADING_LAYER")
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "omp")
    assert th.user_chose_layer()


def test_forked_child_of_gnu_openmp_gets_a_picklable_clear_error(monkeypatch):
    from dscref.pq import ProductQuantizer

    pq = ProductQuantizer(2, 4, n_iter=2, seed=0).fit(np.random.default_rng(0).standard_normal((64, 4)))
    monkeypatch.setattr(th, "_forked_from_gnu_omp", True)
    with pytest.raises(UnsafeForkError, match="forkserver") as exc:
        pq.decode(np.zeros((3, 2), np.uint8))
    assert isinstance(exc.value, RuntimeError)
    again = pickle.loads(pickle.dumps(exc.value))  # multiprocessing sends it to the parent
    assert type(again) is UnsafeForkError and str(again) == str(exc.value)
