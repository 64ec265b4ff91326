"""The index state as a tagged JSON tree plus a table of arrays: the ``state`` of a
:mod:`dscref.io` manifest.

:class:`StateEncoder` turns ``vars(obj)`` into JSON values, replacing every ndarray by
``{"__ndarray__": name}`` and collecting the arrays (one entry per array object, so an array
shared by two attributes is stored once); :class:`StateDecoder` is its inverse and raises
:class:`~dscref.errors.IndexFormatError` on every malformed value. The encodings (see the table
in :mod:`dscref.io`): None, bool, int, float (non-finite as ``{"__float__": "nan"}``), str,
numpy scalars, bool/int/uint/float arrays, list, tuple (``__tuple__``), dict with str keys
(``__dict__``), numpy Generator (``__generator__``, rebuilt by :mod:`dscref._rng_state`) and the
objects of :func:`object_classes` (``__object__``). Anything else is a TypeError at save time.
"""

from __future__ import annotations

import math

import numpy as np

from ._rng_state import generator_from_state
from .errors import IndexFormatError

__all__ = ["StateEncoder", "StateDecoder", "object_classes", "ARRAY_KINDS", "NOT_SAVED"]

ARRAY_KINDS = "biuf"
NOT_SAVED = {"_xb"}  # the raw database: a reference to the caller's data, never copied


def object_classes() -> dict:
    """The non-index objects a state may hold, by class name."""
    from .kmeans import KMeans
    from .pq import ProductQuantizer

    return {"ProductQuantizer": ProductQuantizer, "KMeans": KMeans}


class StateEncoder:
    """Turns an object's state into a JSON tree plus a table of arrays (deduplicated by identity)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._by_id: dict[int, str] = {}
        self._objects = object_classes()

    def encode(self, value, where: str):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (np.bool_,)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            v = float(value)
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(value, np.ndarray):
            return {"__ndarray__": self._add_array(value, where)}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise TypeError(f"cannot save {where}: dict keys must be str, got {bad[0]!r}")
            return {"__dict__": {k: self.encode(v, f"{where}.{k}") for k, v in value.items()}}
        if isinstance(value, np.random.Generator):
            bg = value.bit_generator
            return {"__generator__": type(bg).__name__, "state": self.encode(bg.state, f"{where}.state")}
        name = type(value).__name__
        if self._objects.get(name) is type(value):
            return {"__object__": name, "state": self.encode_state(value, where)}
        raise TypeError(f"cannot save {where}: values of type {type(value).__module__}.{name} are not "
                        f"supported (supported: None, bool, int, float, str, numpy scalars and "
                        f"bool/int/float arrays, list, tuple, dict, numpy Generator, "
                        f"{', '.join(sorted(self._objects))})")

    def encode_state(self, obj, where: str) -> dict:
        return {k: (None if k in NOT_SAVED else self.encode(v, f"{where}.{k}" if where else k))
                for k, v in vars(obj).items()}

    def _add_array(self, a: np.ndarray, where: str) -> str:
        key = self._by_id.get(id(a))
        if key is not None:
            return key
        if a.dtype.kind not in ARRAY_KINDS or a.dtype.fields is not None:
            raise TypeError(f"cannot save {where}: arrays of dtype {a.dtype} are not supported "
                            f"(bool, int, uint and float only)")
        self._by_id[id(a)] = where
        self.arrays[where] = a
        return where


class StateDecoder:
    """Inverse of :class:`StateEncoder`; every malformed value raises IndexFormatError."""

    def __init__(self, arrays: dict, where: str):
        self.arrays = arrays
        self.where = where
        self._objects = object_classes()

    def fail(self, msg: str) -> IndexFormatError:
        return IndexFormatError(f"index file {self.where!r}: {msg}")

    _TAGS = ({"__ndarray__"}, {"__float__"}, {"__tuple__"}, {"__dict__"}, {"__generator__", "state"},
             {"__object__", "state"})

    def decode(self, v, at: str):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.decode(x, f"{at}[{i}]") for i, x in enumerate(v)]
        if not isinstance(v, dict) or set(v) not in self._TAGS:
            raise self.fail(f"malformed value at {at}: {str(v)[:80]}")
        if "__ndarray__" in v:
            key = v["__ndarray__"]
            if not isinstance(key, str) or key not in self.arrays:
                raise self.fail(f"{at} names an array {str(key)[:80]!r} missing from the array table")
            return self.arrays[key]
        if "__float__" in v:
            if v["__float__"] not in ("nan", "inf", "-inf"):
                raise self.fail(f"malformed float at {at}: {v['__float__']!r}")
            return float(v["__float__"])
        if "__tuple__" in v and isinstance(v["__tuple__"], list):
            return tuple(self.decode(x, f"{at}[{i}]") for i, x in enumerate(v["__tuple__"]))
        if "__dict__" in v and isinstance(v["__dict__"], dict):
            return {k: self.decode(x, f"{at}.{k}") for k, x in v["__dict__"].items()}
        if "__generator__" in v:
            try:
                return generator_from_state(v["__generator__"], self.decode(v["state"], f"{at}.state"))
            except IndexFormatError:
                raise
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                raise self.fail(f"invalid generator at {at}: {exc}") from exc
        if "__object__" in v:
            cls = self._objects.get(v["__object__"]) if isinstance(v["__object__"], str) else None
            if cls is None:
                raise self.fail(f"unknown object type {str(v['__object__'])[:80]!r} at {at}")
            return self.restore(cls, v["state"], at)
        raise self.fail(f"malformed value at {at}: {str(v)[:80]}")

    def restore(self, cls, state, at: str):
        if not isinstance(state, dict):
            raise self.fail(f"state of {at} is not a JSON object")
        for k in state:
            # any class attribute: methods, properties, and plain ones such as ``kind``
            if k.startswith("__") or hasattr(cls, k):
                raise self.fail(f"state of {at} sets {k[:80]!r}, which would shadow a class attribute")
        obj = cls.__new__(cls)
        obj.__dict__.update({k: self.decode(x, f"{at}.{k}") for k, x in state.items()})
        return obj
