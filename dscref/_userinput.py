"""Checks of what a user hands dscref (mostly through the ``dscref`` command): files, arrays, sizes,
SNRs, model pairs.

Every check raises a ``ValueError`` / ``TypeError`` / ``OSError`` subclass whose message names
the option or file and says what was expected; :func:`dscref.cli.main` prints it as one line and
exits with status 2. The CLI validates here, before any long step, what the library would
otherwise reject late (after minutes of work) or misread silently (float labels, a 1-D label
file, a classifier passed as the extractor). The library uses these checks too
(``experiments`` reads sizes with :func:`parse_size`), so this module never imports the CLI;
argparse types live in :mod:`dscref.cli._common`.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError

if TYPE_CHECKING:  # numpy is imported inside the array functions: `dscref --help` imports this module
    import numpy as np

__all__ = [
    "SNR_RANGE_DB", "input_file", "input_dir", "output_file", "output_dir", "load_npy",
    "load_features", "load_labels", "parse_size", "parse_snrs", "check_snr", "read_names",
    "load_models",
]

# Es/N0 the CLI accepts (dB): below -50 dB every bit is a coin flip, above 100 dB none flips.
SNR_RANGE_DB = (-50.0, 100.0)

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


# --------------------------------------------------------------------------- paths
def input_file(path, what: str) -> Path:
    """``path`` as a Path that exists and is a regular file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    if p.is_dir():
        raise IsADirectoryError(f"{what} {str(p)!r} is a folder, expected a file")
    return p


def input_dir(path, what: str) -> Path:
    """``path`` as a Path that exists and is a folder."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    if not p.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r} is a file, expected a folder")
    return p


def _check_parents(p: Path, what: str) -> None:
    """The nearest existing ancestor of ``p`` must be a writable folder (missing ones are created)."""
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {str(p)!r}: folder {str(parent)!r} is not writable")


def output_file(path, what: str, suffixes: tuple | None = None) -> Path:
    """A file to write: not an existing folder, under a writable folder (missing folders are
    created when writing; an existing file is replaced). ``suffixes`` restricts the extension."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{what} {str(p)!r} is an existing folder, expected a file name")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {str(p)!r} must end in {' or '.join(suffixes)}")
    _check_parents(p, what)
    return p


def output_dir(path, what: str) -> Path:
    """A folder to write into: an existing folder or a new one (not an existing file)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r} is an existing file, expected a folder")
    if not p.exists():
        _check_parents(p, what)
    elif not os.access(p, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} folder {str(p)!r} is not writable")
    return p


# --------------------------------------------------------------------------- arrays
def load_npy(path, what: str, mmap: bool = False) -> np.ndarray:
    """A ``.npy`` array, never unpickled; a missing, truncated or non-NumPy file is an error
    naming it."""
    import numpy as np

    p = input_file(path, what)
    with open(p, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head.startswith(_ZIP_MAGIC):
        raise ValueError(f"{what} {str(p)!r} is a .npz archive; give one of its arrays as a .npy file")
    if head != _NPY_MAGIC:
        raise ValueError(f"{what} {str(p)!r} is not a NumPy .npy file (save it with numpy.save)")
    try:
        arr = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "object" in str(exc).lower():
            reason = "it holds Python objects (only numeric arrays are read)"
        else:
            reason = f"truncated or corrupt ({exc})"
        raise ValueError(f"{what} {str(p)!r} cannot be read: {reason}") from None
    return arr


def load_features(path, what: str, d: int | None = None, allow_1d: bool = False) -> np.ndarray:
    """(n, d) real-valued rows from a ``.npy`` (memory-mapped); a 1-D file is one row when
    ``allow_1d``."""
    import numpy as np

    x = load_npy(path, what, mmap=True)
    if x.dtype.kind not in "fiu" or x.dtype == np.bool_:
        raise TypeError(f"{what} {str(path)!r} holds {x.dtype} values, expected float32 features")
    if x.ndim == 1 and allow_1d:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{what} {str(path)!r} has shape {x.shape}, expected (n, d) feature rows")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} {str(path)!r} is empty (shape {x.shape})")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{what} {str(path)!r} has d={x.shape[1]} columns, the index was built with d={d}")
    return x


def load_labels(path, what: str, *, n_rows: int, rows_of: str, high: int, high_name: str,
                two_d: bool = False, min_cols: int = 1) -> np.ndarray:
    """Integer labels in ``[0, high)`` with ``n_rows`` rows: (n,) or (n, k) (``two_d``: (n, k)
    only, k >= ``min_cols``). Floats are refused: a probabilities file (``probs.npy``) or a
    float cast would otherwise be read as labels."""
    import numpy as np

    y = load_npy(path, what)
    if y.dtype.kind not in "iu" or y.dtype == np.bool_:
        raise TypeError(f"{what} {str(path)!r} holds {y.dtype} values; labels must be integers "
                        "(e.g. the labels.npy of `dscref extract`, not probs.npy)")
    if two_d and y.ndim != 2:
        raise ValueError(f"{what} {str(path)!r} has shape {y.shape}; expected (n, >= {min_cols}): "
                         f"each query's top-{min_cols} labels, as in the labels.npy of `dscref extract`")
    if y.ndim not in (1, 2):
        raise ValueError(f"{what} {str(path)!r} has shape {y.shape}, expected (n,) or (n, k) labels")
    if y.ndim == 2 and y.shape[1] < min_cols:
        raise ValueError(f"{what} {str(path)!r} has {y.shape[1]} label column(s), {min_cols} are needed")
    if y.shape[0] != n_rows:
        raise ValueError(f"{what} {str(path)!r} has {y.shape[0]} rows but {rows_of} has {n_rows}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= high:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what} {str(path)!r} holds label {bad}, outside [0, {high}) "
                             f"({high_name})")
    return np.ascontiguousarray(y, dtype=np.int64)


def read_names(path, n: int) -> list | None:
    """The lines of a names file (e.g. ``names.txt`` of ``dscref extract``) if it has ``n`` of them."""
    p = Path(path)
    if not p.is_file():
        return None
    names = p.read_text(encoding="utf-8", errors="replace").splitlines()
    return names if len(names) == n else None


# --------------------------------------------------------------------------- numbers
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([km]?)\s*$", re.I)


def parse_size(text, what: str, low: int = 1) -> int:
    """A count such as ``20000``, ``105k``, ``1m``, ``1M`` or ``2.5k`` (k = 1000, m = 10^6)."""
    if isinstance(text, numbers.Integral) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise ValueError(f"{what}={text!r} is not a size: write a whole number, optionally with "
                             "k (thousand) or m (million), e.g. 105k, 1m, 2.5k, 20000")
        value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if not math.isfinite(value) or value != math.floor(value):
        raise ValueError(f"{what}={text!r} is not a whole number of items")
    if value < low:
        raise ValueError(f"{what}={text!r} must be at least {low}")
    return int(value)


def check_snr(value: float, what: str = "--snr") -> float:
    """An Es/N0 in dB inside :data:`SNR_RANGE_DB`."""
    lo, hi = SNR_RANGE_DB
    if not (lo <= value <= hi):  # also false for NaN
        raise ValueError(f"{what}={value!r} dB is outside the supported range [{lo:g}, {hi:g}] dB")
    return float(value)


def parse_snrs(text: str, what: str = "--snr") -> list:
    """Comma-separated Es/N0 values in dB, each inside :data:`SNR_RANGE_DB`."""
    parts = [v.strip() for v in str(text).split(",") if v.strip()]
    if not parts:
        raise ValueError(f"{what}={text!r} holds no value: give comma-separated dB values, e.g. 0,5,10")
    out = []
    for v in parts:
        try:
            out.append(float(v))
        except ValueError:
            raise ValueError(f"{what}={text!r}: {v!r} is not a number (comma-separated dB values; "
                             f"write {what}=-20,0 for negative ones)") from None
        check_snr(out[-1], what)
    return out


# --------------------------------------------------------------------------- ONNX models
def _loads_as_classifier(path) -> bool:
    from .features import Classifier

    try:
        Classifier(path)
    except (ModelError, ValueError, TypeError, OSError):
        return False
    return True


def load_models(extractor=None, classifier=None, *, extractor_kw=None, classifier_kw=None):
    """``(Extractor or None, Classifier or None)``, refusing a pair given the wrong way round.

    A classifier passed as ``--extractor`` would load (its logits look like a vector
    descriptor) and silently give meaningless features, so a pair is checked as a pair: when
    the ``--classifier`` file is not a classifier but the ``--extractor`` file is one, the
    error says they are swapped.
    """
    from .features import Classifier, Extractor

    if extractor is not None and classifier is not None:
        if Path(extractor).resolve() == Path(classifier).resolve():
            raise ModelError(f"--extractor and --classifier are the same file {str(extractor)!r}: "
                             "give the descriptor model and the classifier")
    clf = None
    if classifier is not None:
        try:
            clf = Classifier(classifier, **(classifier_kw or {}))
        except ModelError as exc:
            if extractor is not None and Path(extractor).is_file() and _loads_as_classifier(extractor):
                raise ModelError(f"--extractor and --classifier look swapped: {str(extractor)!r} is a "
                                 f"classifier and {str(classifier)!r} is not ({exc})") from None
            raise ModelError(f"--classifier: {exc}") from None
    ext = None
    if extractor is not None:
        try:
            ext = Extractor(extractor, **(extractor_kw or {}))
        except ModelError as exc:
            raise ModelError(f"--extractor: {exc}") from None
    return ext, clf
