"""Input validation shared by every public entry point.

Public functions validate once (shape, dtype, finiteness, ranges), convert to the project's fixed
dtypes (float32 vectors, uint8/uint16 codes, int64 ids) and then call unchecked kernels. Every
error names the offending value and what was expected; nothing here uses ``assert``.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from ._chunks import release_pages

__all__ = [
    "as_float_matrix",
    "as_float_vector",
    "as_int_array",
    "check_int",
    "check_choice",
    "as_generator",
    "as_bits",
    "as_symbols",
    "as_db",
    "as_llr",
    "as_codes",
    "renamed_keyword",
    "renamed_attribute",
    "check_finite",
    "check_float",
    "check_k",
    "max_feature_abs",
    "MAX_PADDED_K",
    "F32_MAX",
    "INT64_MIN",
    "INT64_MAX",
]

F32_MAX = float(np.finfo(np.float32).max)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

# ``k`` may exceed the number of results a search can return (rows are padded with -1 / inf,
# as faiss does), but only up to this many columns: a result is (nq, k) and a k of 10^12 would
# allocate terabytes before anything is searched.
MAX_PADDED_K = 1 << 16


def max_feature_abs(d: int) -> float:
    """Largest magnitude accepted in a d-dimensional feature vector: ``sqrt(F32_MAX / d) / 16``.

    Squared norms and distances are float32 (k-means, PQ tables, ADC scores). Vectors bounded
    by ``a`` have ``||x||^2 <= d a^2``; residuals and reconstructions are within a few ``a``, so
    every squared distance the library forms (at most ``(4 a)^2 d`` for a residual-codeword
    pair, plus centroid terms) stays below ``d (16 a)^2 = F32_MAX``: no distance becomes inf.
    About 2.5e16 for d = 2048 and 1.2e18 for d = 1; real features are around 1.
    """
    return math.sqrt(F32_MAX / max(int(d), 1)) / 16.0


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
        Reject NaN / inf entries and magnitudes above :func:`max_feature_abs` (d) (finite
        values so large that their squared distances would overflow float32).

    Raises
    ------
    TypeError
        If ``x`` is not numeric (bool, complex, object and string arrays are refused).
    ValueError
        If ``x`` is not 2-D, has the wrong width, is empty, holds NaN/inf, or holds a value
        beyond ``max_feature_abs(d)``.
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
    if finite:  # on the input: a finite float64 beyond the float32 range is named as it was given
        check_finite(x, name, max_abs=max_feature_abs(x.shape[1]),
                     why=f"for d={x.shape[1]} (larger values overflow float32 squared distances)")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_finite(x: np.ndarray, name: str, chunk_rows: int = 65536, *, max_abs: float | None = None,
                 why: str = "") -> None:
    """Raise ValueError naming the first NaN/inf of ``x`` (or, with ``max_abs``, the first value
    of magnitude above it); scans row chunks to bound memory.

    Each chunk is tested with its min and max (no temporary array; NaN propagates into both),
    and only a failing chunk is searched for the culprit.
    """
    if x.size == 0:
        return
    flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    limit = math.inf if max_abs is None else float(max_abs)
    for start in range(0, flat.shape[0], chunk_rows):
        block = flat[start:start + chunk_rows]
        lo, hi = block.min(), block.max()
        ok = np.isfinite(lo) and np.isfinite(hi) and -limit <= lo and hi <= limit
        if not ok:
            bad = ~np.isfinite(block)
            if not bad.any():
                bad = np.abs(block.astype(np.float64)) > limit
            r, c = np.argwhere(bad)[0]
            idx = (start + int(r), int(c)) if x.ndim > 1 else (start + int(r),)
            v = block[r, c]
            if not np.isfinite(v):
                raise ValueError(f"{name} holds a non-finite value {v!r} at index {idx}")
            raise ValueError(f"{name} holds {float(v):.3g} at index {idx}: magnitudes above "
                             f"{limit:.3g} are not supported{' ' + why if why else ''}")
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
    """Validate an integer parameter with inclusive bounds ``low <= value <= high``.

    Python and NumPy integers are accepted; every value must also fit int64 (it may reach a
    kernel or an array shape).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{name}={value} is outside the int64 range")
    if low is not None and value < low:
        raise ValueError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} must be <= {high}")
    return value


def check_float(value, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """Validate a real parameter (Python or NumPy int/float scalar) and return it as a float.

    NaN is always refused; +-inf only with ``allow_inf`` (and then still subject to the
    bounds). ``low`` / ``high`` are inclusive unless ``low_open`` / ``high_open``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name}={value} is too large") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name}={v!r} must be a finite number")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name}={v!r} must be {'>' if low_open else '>='} {low}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name}={v!r} must be {'<' if high_open else '<='} {high}")
    return v


def check_k(k, n: int, name: str = "k") -> int:
    """Validate the result depth ``k >= 1`` of a search over ``n`` candidates at most.

    Results are padded to ``k`` columns (-1 / inf) when fewer exist, so ``k > n`` is allowed,
    but not beyond ``max(n, MAX_PADDED_K)``: past that every extra column is padding, and an
    absurd k (10^12) would only allocate memory.
    """
    k = check_int(k, name, low=1)
    cap = max(int(n), MAX_PADDED_K)
    if k > cap:
        raise ValueError(f"{name}={k} is larger than the {int(n)} results that exist; k may exceed "
                         f"them (rows are padded) only up to {cap}")
    return k


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


def as_bits(bits, name: str = "bits", *, ndim: int | None = 1) -> np.ndarray:
    """A 0/1 bit array (integer or bool dtype) as C-contiguous uint8; ``ndim=None`` allows any
    rank >= 1. The one check behind every function that takes bits (bitpack, channel, fec)."""
    arr = bits if isinstance(bits, np.ndarray) else np.asarray(bits)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer (or bool) array of 0/1, got dtype {arr.dtype}")
    if (ndim is not None and arr.ndim != ndim) or arr.ndim == 0:
        raise ValueError(f"{name} must be {ndim or 'at least 1'}-D, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        flat = arr.ravel()
        at = int(np.flatnonzero((flat < 0) | (flat > 1))[0])
        raise ValueError(f"{name} must hold only 0 and 1, found {int(flat[at])} at index {at}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_symbols(symbols, max_abs: float) -> np.ndarray:
    """Complex channel symbols as a 1-D C-contiguous complex128 array, finite, ``|z| <= max_abs``.

    The one symbol check of the channel (symbols sent by ``transmit_symbols``, symbols received
    by ``Modem.demodulate``); ``max_abs`` keeps squared distances to the constellation finite.
    """
    arr = symbols if isinstance(symbols, np.ndarray) else np.asarray(symbols)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iufc":
        raise TypeError(f"symbols must be complex or real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {arr.shape}")
    z = np.ascontiguousarray(arr, dtype=np.complex128)
    if z.size and not np.isfinite(z).all():
        i = int(np.flatnonzero(~np.isfinite(z))[0])
        raise ValueError(f"symbols hold a non-finite value {z[i]!r} at index {i}")
    if z.size and np.abs(z).max() > max_abs:
        i = int(np.argmax(np.abs(z)))
        raise ValueError(f"symbols hold {z[i]!r} at index {i}; magnitudes above {max_abs:g} are not "
                         "supported (squared distances to the constellation would overflow)")
    return z


def as_db(x, name: str) -> np.ndarray:
    """Real dB value(s) as float64 (+-inf allowed, NaN refused): SNR conversions and BER theory."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers in dB, got {x!r} (dtype {arr.dtype})")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds NaN: {x!r}")
    return arr


def as_llr(llr, name: str, n: int | None = None, ndim: int = 1) -> np.ndarray:
    """Bit LLRs (``log P(0)/P(1)``) as a C-contiguous float64 array of ``ndim`` dimensions whose
    last axis has ``n`` entries; real dtypes only, NaN refused (+-inf is a certain bit). The one
    LLR check of the soft-decision tables, the head codes and the protected payload."""
    a = np.asarray(llr)
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise TypeError(f"{name} must be real LLRs, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.ndim != ndim or (n is not None and a.shape[-1] != n):
        want = f"(..., {n})" if n is not None else f"{ndim}-D"
        raise ValueError(f"{name} must have shape {want} with ndim={ndim}, got {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} holds NaN")
    return a


def as_codes(codes, ksub: int | None = None, *, of: str = "table") -> np.ndarray:
    """Stored PQ codes: a 2-D (n, M) uint8 / uint16 array (no other dtype is converted), with
    every value below ``ksub`` when given (``of`` names what ``ksub`` counts in the message);
    returned C-contiguous. The one check of the code arrays the ADC kernels and
    :func:`dscref.assignment.permute_codes` take (a query's codes: :func:`dscref.query.check_codes`)."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (n, M), got shape {codes.shape}")
    if codes.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"codes must be uint8 or uint16, got dtype {codes.dtype}")
    if ksub is not None and codes.size and ksub < (256 if codes.dtype == np.uint8 else 65536) \
            and codes.max() >= ksub:
        raise ValueError(f"codes hold {int(codes.max())}, outside the {of}'s {ksub} entries")
    return np.ascontiguousarray(codes)


def renamed_keyword(old: str, new: str):
    """Decorator: accept the keyword ``old`` as a deprecated alias of the parameter ``new``.

    ``f(old=v)`` warns (``DeprecationWarning``, pointing at the caller) and calls ``f(new=v)``;
    passing both is a ``TypeError``.
    """
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__qualname__}() got both {new}= and its deprecated alias {old}=")
                warnings.warn(f"{fn.__qualname__}(): {old}= is deprecated, use {new}=", DeprecationWarning,
                              stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return wrapper
    return deco


def renamed_attribute(old: str, new: str) -> property:
    """A read-only property ``old`` that warns (``DeprecationWarning``) and returns ``self.new``:
    the attribute half of :func:`renamed_keyword`."""
    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated, use {type(self).__name__}.{new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)
    get.__doc__ = f"Deprecated alias of :attr:`{new}`."
    return property(get)
