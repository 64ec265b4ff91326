"""Project exceptions. Errors about input or data subclass :class:`ValueError` so callers may
catch either; :class:`UnsafeForkError` (a process-state problem, not bad input) is a
:class:`RuntimeError`."""


class DscrefError(ValueError):
    """Base class of dscref's own errors."""


class PayloadError(DscrefError):
    """A received payload cannot be decoded (wrong length, corrupt header, ...)."""


class ModelError(DscrefError):
    """An ONNX model file is missing, unreadable, or has the wrong inputs/outputs."""


class IndexFormatError(DscrefError):
    """An index file is missing, truncated, corrupted, or of an unknown format/version."""


class ImageError(DscrefError):
    """An image file is missing, unreadable, truncated, empty, or not an image."""


class UnsafeFileError(DscrefError):
    """A file would need to run code to be loaded (a pickle of a refused global, an ``.npz``
    holding object arrays): dscref refuses it instead of executing it."""


class ReadOnlyIndexError(DscrefError):
    """An in-place change was asked of an index whose arrays are read-only (memory-mapped)."""


class UnsafeForkError(RuntimeError):
    """A parallel kernel was called in a child forked after Numba's GNU OpenMP layer had run.

    GNU OpenMP cannot run in a forked child; use the ``forkserver`` or ``spawn`` multiprocessing
    start method, or leave ``NUMBA_THREADING_LAYER`` unset (see README, "Threads and processes").
    """
