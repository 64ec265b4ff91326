"""A restricted unpickler for the upstream ground-truth pickles (revisitop ``gnd_*.pkl``).

``pickle.load`` runs whatever callable a file names; dscref never calls it on a file. The
revisitop files hold only plain containers (dicts, lists, str, int, float) and possibly NumPy
arrays and scalars, so :class:`RestrictedUnpickler` resolves only the globals those need:

* ``numpy._core.multiarray._reconstruct`` / ``scalar`` (also under their NumPy 1.x module
  ``numpy.core.multiarray``), ``numpy.ndarray`` and ``numpy.dtype`` (arrays, protocols 2-4);
* ``numpy._core.numeric._frombuffer`` / ``numpy.core.numeric._frombuffer`` (arrays, protocol 5);
* ``_codecs.encode`` restricted to ``latin-1`` (how protocol 2 stores the bytes of an array).

Any other global raises :class:`~dscref.errors.UnsafeFileError` naming the file and the refused
``module.name``, before anything from it is called. Nothing else of the pickle machinery can run
code: building a dict, list or tuple calls no user code, and the allowed callables only create
arrays from bytes (object arrays can hold only what this unpickler itself built).
"""

from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

from .errors import UnsafeFileError

__all__ = ["RestrictedUnpickler", "safe_load"]


class _Frozen:
    """A callable whose attributes a pickle's BUILD opcode cannot change."""

    __slots__ = ("_f",)

    def __init__(self, f):
        object.__setattr__(self, "_f", f)

    def __call__(self, *args):
        return self._f(*args)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot set {name!r}")


def _latin1_encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode only with a str and latin1, got {type(text).__name__}, "
                                     f"{str(encoding)[:20]!r}")
    return codecs.encode(text, "latin1")


def _allowed() -> dict:
    rebuild = np.empty(0).__reduce__()[0]          # numpy._core.multiarray._reconstruct
    scalar = np.float64(0).__reduce__()[0]         # numpy._core.multiarray.scalar
    frombuffer = _Frozen(np.arange(1).__reduce_ex__(5)[0])  # numpy._core.numeric._frombuffer
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
           ("_codecs", "encode"): _Frozen(_latin1_encode)}
    for mod in ("numpy.core", "numpy._core"):
        out[(f"{mod}.multiarray", "_reconstruct")] = rebuild
        out[(f"{mod}.multiarray", "scalar")] = scalar
        out[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    return out


_ALLOWED = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only plain-container and NumPy-array globals.

    ``where`` names the file in error messages.
    """

    def __init__(self, file, where: str = "<pickle>"):
        super().__init__(file)
        self.where = where

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafeFileError(f"{self.where!r} is a pickle that needs the global {module}.{name}, "
                                  f"which dscref refuses to load (only plain containers and NumPy "
                                  f"arrays are allowed): the file is not a ground-truth file, or "
                                  f"was crafted to run code")
        return obj

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self.where!r}: pickle persistent ids are not allowed")


def safe_load(path):
    """Unpickle the file ``path`` with :class:`RestrictedUnpickler`.

    Raises
    ------
    UnsafeFileError
        The pickle names a global outside the allowed set (nothing of it was run).
    ValueError
        Any other unpickling failure (truncated or corrupt file), naming the file.
    """
    where = str(path)
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), where).load()
    except UnsafeFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure means a bad file
        raise ValueError(f"cannot read pickle {where!r}: {type(exc).__name__}: {exc}") from exc
