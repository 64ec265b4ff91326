"""Numba kernels. No validation here: inputs are trusted, outputs are passed in.

Importing this package registers where the kernels' compiled code is cached (a per-user folder,
never inside the installed package: see :mod:`dscref._kernels._cache`). Nothing is compiled here.
"""

from . import _cache

_cache.install()
