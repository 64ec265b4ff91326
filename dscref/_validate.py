"""Input validation shared by every public entry point.

Public functions validate once (shape, dtype, finiteness, ranges), convert to the project's fixed
dtypes (float32 vectors, uint8/uint16 codes, int64 ids) and then call unchecked kernels. Every
error names the offending value and what was expected; nothing here uses ``assert``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._chunks import release_pages

__all__ = [
    "as_float_matrix",
    "as_float_vector",
    "as_int_array",
    "check_int",
    "check_choice",
    "as_generator",
    "check_finite",
]


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def as_float_matrix(x, name: str, *, d: int | None = None, allow_empty: bool = False,
                    finite: bool = True) -> np.ndarray:
    """Return ``x`` as a C-contiguous (n, d) float32 array, or raise.

    Parameters
    ----------
    x : array-like of shape (n, d), real numbers
    name : str
        Name used in error messages.
    d : int, optional
        Required number of columns.
    allow_empty : bool
        Whether n == 0 is accepted.
    finite : bool
        Reject NaN / inf entries.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (bool, complex, object and string arrays are refused).
    ValueError
        If ``x`` is not 2-D, has the wrong width, is empty, or holds NaN/inf.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is a type problem
            raise TypeError(f"{name} must be an array of real numbers, got {_describe(x)}") from exc
    if x.dtype.kind not in "fiu" or x.dtype == np.bool_:
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} must have d={d} columns, got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {x.shape}")
    if not allow_empty and x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); at least one row is required")
    out = np.ascontiguousarray(x, dtype=np.float32)
    if finite:
        check_finite(out, name)
    return out


def check_finite(x: np.ndarray, name: str, chunk_rows: int = 65536) -> None:
    """Raise ValueError naming the first NaN/inf of ``x``; scans row chunks to bound memory."""
    if x.size == 0:
        return
    flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    for start in range(0, flat.shape[0], chunk_rows):
        block = flat[start:start + chunk_rows]
        if not np.isfinite(block).all():
            r, c = np.argwhere(~np.isfinite(block))[0]
            idx = (start + int(r), int(c)) if x.ndim > 1 else (start + int(r),)
            raise ValueError(f"{name} holds a non-finite value {block[r, c]!r} at index {idx}")
        release_pages(x)


def as_float_vector(x, name: str, *, d: int | None = None) -> np.ndarray:
    """Return ``x`` as a finite C-contiguous (d,) float32 vector, or raise (see :func:`as_float_matrix`)."""
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (d,), got shape {arr.shape}")
    return as_float_matrix(arr[None, :], name, d=d)[0]


def as_int_array(x, name: str, *, ndim: int = 1, low: int | None = None, high: int | None = None,
                 allow_empty: bool = True, dtype=np.int64) -> np.ndarray:
    """Return ``x`` as a C-contiguous integer array of ``dtype``, checking ``low <= x < high``.

    Floats are accepted only when they hold whole numbers (e.g. labels read from a text file).
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype == np.bool_ or x.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if not allow_empty and x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if x.dtype.kind == "f":
        if x.size and (not np.isfinite(x).all() or np.any(x != np.round(x))):
            raise TypeError(f"{name} must hold whole numbers, got non-integral floats")
    if x.size:
        lo, hi = x.min(), x.max()
        if low is not None and lo < low:
            raise ValueError(f"{name} holds {int(lo)}, below the allowed minimum {low}")
        if high is not None and hi >= high:
            raise ValueError(f"{name} holds {int(hi)}, must be < {high}")
    return np.ascontiguousarray(x, dtype=dtype)


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer parameter with inclusive bounds ``low <= value <= high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} must be <= {high}")
    return value


def check_choice(value, name: str, choices) -> str:
    """Validate that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {sorted(choices)}")
    return value


def as_generator(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None``, an int seed, or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and int(seed) < 0:
            raise ValueError(f"seed={seed} must be a non-negative int")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be None, an int or a numpy.random.Generator, got {seed!r}")
