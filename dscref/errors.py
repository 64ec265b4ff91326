"""Project exceptions. All subclass :class:`ValueError` so callers may catch either."""


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
