"""Thread and fork policy for the ``parallel=True`` Numba kernels (issue 17 §2).

Every ``parallel=True`` kernel of :mod:`dscref._kernels` is wrapped by :func:`parallel_kernel`,
so every launch, from any public caller, goes through :func:`_launch`:

* **Layer choice.** Unless the user chose a Numba threading layer (``NUMBA_THREADING_LAYER`` or
  ``NUMBA_THREADING_LAYER_PRIORITY`` in the environment, or ``numba.config.THREADING_LAYER``
  set), the first launch asks Numba for ``"forksafe"`` instead of ``"default"``: TBB when it is
  installed (thread- and fork-safe), otherwise the workqueue layer on Linux (fork-safe; not
  thread-safe, see below) and the vendor OpenMP elsewhere (fork-safe there). Numba's own default
  on Linux without TBB is GNU OpenMP, whose forked children Numba kills (``SIGTERM``): a
  ``multiprocessing.Pool`` then waits forever. The kernels' outputs do not depend on the layer.
* **Threads.** The workqueue layer aborts the whole process when two threads launch parallel
  regions at once. On that layer (and while no layer is loaded yet) launches are serialised by
  one process-wide lock: concurrent searches still run their Python and serial parts in
  parallel. TBB and OpenMP are thread-safe and take no lock.
* **Fork.** A child forked from a process that has already run the GNU OpenMP layer (only when
  the user asked for ``omp``) cannot run a parallel region; its launches raise
  :class:`~dscref.errors.UnsafeForkError` instead of being killed (the ``multiprocessing``
  fork start method would otherwise hang). A fork hook also holds the lock across ``fork()`` so
  a child never inherits it held, nor the workqueue mid-launch.

Nothing here imports Numba at import time; :mod:`dscref` imports this module so the fork hook is
registered before any fork.
"""

from __future__ import annotations

import functools
import os
import sys
import threading

from .errors import UnsafeForkError

_USER_LAYER_VARIABLES = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")
# layers on which concurrent parallel launches from several threads are unsafe
_THREAD_UNSAFE_LAYERS = frozenset({"workqueue"})

_lock = threading.RLock()
_needs_lock: bool | None = None  # None until Numba's threading layer is loaded
_forked_from_gnu_omp = False

FORK_MESSAGE = (
    "this process was forked from a process that had already run Numba's GNU OpenMP ('omp') "
    "threading layer, which cannot run in a forked child (Numba would kill it). Start worker "
    "processes with multiprocessing.get_context('forkserver') or 'spawn', or leave "
    "NUMBA_THREADING_LAYER unset so that dscref selects a fork-safe layer (TBB or workqueue)."
)


def user_chose_layer() -> bool:
    """Whether the threading layer was chosen by the user (environment or numba.config)."""
    import numba

    if any(v in os.environ for v in _USER_LAYER_VARIABLES):
        return True
    return str(numba.config.THREADING_LAYER).lower() != "default"


def active_layer() -> str | None:
    """Numba's loaded threading layer (``"tbb"``, ``"omp"``, ``"workqueue"``); None before it loads."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region compiled or loaded in this process yet
        return None


def _prefer_fork_safe_layer() -> None:
    """Ask Numba for a fork-safe layer, once no layer is loaded, if the user chose none."""
    import numba

    if not user_chose_layer():
        numba.config.THREADING_LAYER = "forksafe"


def num_threads() -> int:
    """``numba.get_num_threads()``, after the layer choice: that call loads the threading layer."""
    import numba

    if _needs_lock is None and not numba.config.DISABLE_JIT and active_layer() is None:
        _prefer_fork_safe_layer()
    return numba.get_num_threads()


def _launch_needs_lock() -> bool:
    global _needs_lock
    if _needs_lock is not None:
        return _needs_lock
    import numba

    if numba.config.DISABLE_JIT:  # plain Python loops: no threading layer involved
        _needs_lock = False
        return False
    layer = active_layer()
    if layer is None:  # this launch loads the layer: it may turn out to be workqueue
        _prefer_fork_safe_layer()
        return True
    _needs_lock = layer in _THREAD_UNSAFE_LAYERS
    return _needs_lock


def _launch(kernel, args):
    if _forked_from_gnu_omp:
        raise UnsafeForkError(f"parallel kernel {kernel.__name__}: {FORK_MESSAGE}")
    if not _launch_needs_lock():
        return kernel(*args)
    with _lock:
        return kernel(*args)


def parallel_kernel(kernel):
    """Decorator for a Numba kernel that launches parallel regions (``parallel=True``, or one that
    calls such a kernel from compiled code): every call goes through the thread / fork policy.

    The dispatcher stays reachable as ``__wrapped__``; nothing is compiled here.
    """

    @functools.wraps(kernel, updated=())  # name, doc, __wrapped__; not the dispatcher's state
    def launch(*args):
        return _launch(kernel, args)

    launch.parallel_kernel = True
    return launch


# ------------------------------------------------------------------------------ fork hooks
def _gnu_omp_loaded() -> bool:
    if "numba" not in sys.modules:
        return False
    if active_layer() != "omp":
        return False
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _before_fork() -> None:
    _lock.acquire()  # no dscref parallel region runs while the process is copied


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock, _forked_from_gnu_omp
    _lock = threading.RLock()
    if _gnu_omp_loaded():
        _forked_from_gnu_omp = True


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


_blas_controller = None


def blas_threads_pinned_to_one():
    """Context manager pinning BLAS (numpy's and scipy's OpenBLAS) to one thread, or None.

    Numba kernels that call ``np.dot`` inside ``prange`` need it: every Numba thread would
    otherwise start its own BLAS team (oversubscription). Needs threadpoolctl; without it the
    callers keep the serial kernels, whose single GEMMs may use every BLAS thread.
    """
    global _blas_controller
    if _blas_controller is None:
        try:
            import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba's np.dot calls
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is optional
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    if _blas_controller is False:
        return None
    return _blas_controller.limit(limits=1, user_api="blas")
