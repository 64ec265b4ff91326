"""Where Numba caches dscref's compiled kernels: a per-user folder, never inside the package.

Numba's default (``cache=True``) writes ``*.nbi`` / ``*.nbc`` files into ``__pycache__`` beside
the source whenever that folder is writable -- inside ``site-packages/dscref/_kernels/`` for a
regular install. pip does not own those files, so uninstalling leaves ``site-packages/dscref/``
behind as a folder without ``__init__.py``; a later editable install (``pip install -e .``) is
then shadowed by that namespace package and ``import dscref`` finds no ``__version__``. Keeping
the cache out of the installed tree removes the cause.

The folder, first match wins:

1. ``NUMBA_CACHE_DIR`` when set: Numba's own locator handles it, as for any Numba code;
2. ``DSCREF_CACHE_DIR``, then ``$XDG_CACHE_HOME/dscref/numba``, then ``~/.cache/dscref/numba``,
   each kernel folder in a subfolder named after its path (Numba's scheme, so two installs of
   dscref never share or overwrite each other's entries; an entry is keyed by the source file's
   content hash, so an upgrade recompiles);
3. when none of these is writable, Numba's default chain (in-tree ``__pycache__``, ...).

Registered once, when :mod:`dscref._kernels` is first imported (before any kernel is decorated),
and only for source files inside this folder: other Numba code keeps its own behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path

_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


def cache_root() -> Path:
    """The folder dscref's kernel caches go to (rule 2 of the module docstring)."""
    env = os.environ.get("DSCREF_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "dscref" / "numba"


def install() -> None:
    """Put dscref's locator in front of Numba's in-tree one (idempotent)."""
    from numba.core import caching

    def pick(name):  # recent Numba releases dropped the leading underscore of these names
        return getattr(caching, name, None) or getattr(caching, "_" + name, None)

    impl = pick("CacheImpl")
    if any(getattr(c, "_dscref", False) for c in impl._locator_classes):
        return
    base = pick("UserWideCacheLocator")

    class DscrefCacheLocator(base):
        _dscref = True

        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            self._cache_path = os.path.join(os.fspath(cache_root()), self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != _KERNEL_DIR:
                return None
            return super().from_function(py_func, py_file)  # None when the folder is not writable

    classes = impl._locator_classes
    # after Numba's NUMBA_CACHE_DIR locator (the user's explicit choice), before the in-tree one
    user = pick("UserProvidedCacheLocator")
    at = classes.index(user) + 1 if user in classes else 0
    classes.insert(at, DscrefCacheLocator)
