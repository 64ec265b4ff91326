"""Image loading and preprocessing for the ONNX models (Pillow only, no model code).

* :func:`load_image` — a path or PIL image → a fully loaded RGB image (EXIF orientation applied,
  any mode converted, alpha composited on white).
* :func:`preprocess` — one image → the normalised NCHW float32 network input, as
  cnnimageretrieval-pytorch prepares it (longer side resized with Lanczos) or with the ImageNet
  evaluation crop.
"""

from __future__ import annotations

import logging
import os
import struct

import numpy as np

from .._validate import check_choice, check_int
from ..errors import ImageError
from ._exif import EXIF_PARSE_ERRORS, check_exif, check_tiff_file

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MAX_IMAGE_PIXELS", "MAX_RESIZE_PIXELS", "load_image",
           "preprocess", "image_name", "as_image_list", "resize_exact"]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Pillow modes holding one integer/float channel of more than 8 bits (e.g. 16-bit PNG).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


#: Largest image dscref decodes, in pixels (width × height read from the file header before
#: decoding). Pillow's default decompression-bomb limit: 89,478,485 px ≈ 256 MiB as 24-bit RGB.
#: A lower ``PIL.Image.MAX_IMAGE_PIXELS`` set by the application is honoured too.
MAX_IMAGE_PIXELS = 89_478_485

#: Largest image preprocessing creates when resizing, in pixels (2**26 = 8192 × 8192 px, 192 MiB
#: as RGB, before the float32 copy). Exceeded by extreme aspect ratios under ``"center_crop"``
#: (a 1 × 100000 px image would be resized to 256 × 25,600,000 px) or very large ``size``.
MAX_RESIZE_PIXELS = 1 << 26

#: What Pillow raises on a file it cannot decode (besides UnidentifiedImageError, an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


# --------------------------------------------------------------------------- images
def _describe_source(image) -> str:
    if isinstance(image, (str, os.PathLike)):
        return f"image file {os.fspath(image)!r}"
    name = getattr(image, "filename", "") or ""
    return f"image {name!r}" if name else "in-memory image"


def image_name(image, i: int) -> str:
    """A name for ``image`` (the ``i``-th of a list) in messages: its path or file name."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return getattr(image, "filename", "") or f"<image {i}>"


def as_image_list(images) -> list:
    """``images`` (a path, a PIL image, or a sequence of them) as a list; else a TypeError."""
    from PIL import Image

    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    try:
        return list(images)
    except TypeError as exc:
        raise TypeError(f"images must be a path, a PIL image or a sequence of them, "
                        f"got {type(images).__name__}") from exc


def _decode_limit() -> int:
    from PIL import Image

    pil = Image.MAX_IMAGE_PIXELS
    return MAX_IMAGE_PIXELS if pil is None else min(MAX_IMAGE_PIXELS, int(pil))


def _check_size(width: int, height: int, what: str, resized=None) -> None:
    """Refuse, from the header size alone, an image too large to decode or to resize."""
    if width <= 0 or height <= 0:
        raise ImageError(f"{what} has zero size {width}x{height}")
    limit = _decode_limit()
    if width * height > limit:
        raise ImageError(f"{what} is {width}x{height} = {width * height} pixels, above the "
                         f"decoding limit of {limit} pixels (dscref.features.image.MAX_IMAGE_PIXELS; "
                         f"a decompression bomb?)")
    if resized is not None:
        w, h = resized(width, height)
        if w * h > MAX_RESIZE_PIXELS:
            raise ImageError(f"{what} is {width}x{height} pixels; preprocessing would resize it "
                             f"to {w}x{h} = {w * h} pixels, above dscref.features.image.MAX_RESIZE_PIXELS "
                             f"= {MAX_RESIZE_PIXELS} (extreme aspect ratio or size)")


def load_image(image):
    """Open ``image`` (a path or a PIL image), apply its EXIF orientation, return an RGB image.

    Parameters
    ----------
    image : str, os.PathLike or PIL.Image.Image

    Returns
    -------
    PIL.Image.Image, mode ``"RGB"``, fully loaded.

    Raises
    ------
    ImageError
        The file is missing, not an image, truncated/corrupt; the image has zero width or
        height, or more than :data:`MAX_IMAGE_PIXELS` pixels (checked from the header, before
        decoding; Pillow's own decompression-bomb error and warning are reported the same way);
        its EXIF block / TIFF header is malformed or its orientation is not 1..8 (see
        :mod:`dscref.features._exif`). The message names the file.
    TypeError
        ``image`` is neither a path nor a PIL image.

    Notes
    -----
    Mode conversions: grayscale (``L``, ``1``), palette, CMYK, YCbCr, ... are converted by
    Pillow. Images with an alpha channel (``RGBA``, ``LA``, ``P`` with transparency) are
    **composited on a white background** (a transparent logo on white is what a viewer shows;
    dropping alpha would expose whatever colour the transparent pixels happen to store).
    Wide single-channel modes (``I;16*`` 16-bit PNG, ``I``, ``F``) are rescaled to 8 bits:
    ``I;16*``/``I`` by ``v * 255 / 65535``, ``F`` by ``v * 255`` if its maximum is ≤ 1 else
    clipped to [0, 255].
    """
    return _load(image)


def _load(image, resized=None):
    """:func:`load_image`, also refusing (before decoding) an image whose resize to
    ``resized(width, height)`` would exceed :data:`MAX_RESIZE_PIXELS`."""
    from PIL import Image, UnidentifiedImageError

    what = _describe_source(image)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.exists(path):
            raise ImageError(f"{what} does not exist")
        if os.path.isdir(path):
            raise ImageError(f"{what} is a directory, not an image")
        try:
            # Through a file object: Pillow then never memory-maps the file, whose mmap path
            # skips the orientation of uncompressed TIFFs (Pillow 13: an "L" TIFF with
            # orientation 6 loads unrotated from a path, rotated from a file object).
            with open(path, "rb") as fh, Image.open(fh) as im:
                _check_size(im.width, im.height, what, resized)
                if im.format == "TIFF":
                    check_tiff_file(path, what)
                im.load()  # Image.open is lazy: truncation shows up only here
                check_exif(im, what)
                img = _orient(im, what)  # a new image, independent of the file
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own check, in Image.open (beyond twice its limit, or a warning turned
            # into an error by the application)
            raise ImageError(f"{what} is above the decoding limit: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise ImageError(f"{what} is not an image Pillow can read") from exc
        except _DECODE_ERRORS as exc:
            raise ImageError(f"{what} is unreadable or truncated: {exc}") from exc
    elif isinstance(image, Image.Image):
        _check_size(image.width, image.height, what, resized)
        try:
            image.load()
        except _DECODE_ERRORS as exc:
            raise ImageError(f"{what} is unreadable or truncated: {exc}") from exc
        check_exif(image, what)
        img = _orient(image, what)
    else:
        raise TypeError(f"image must be a path or a PIL.Image.Image, got {type(image).__name__}")
    return _to_rgb(img, what)


def _orient(img, what: str):
    """``img`` turned upright by its (already validated) EXIF orientation."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except EXIF_PARSE_ERRORS as exc:
        raise ImageError(f"{what} has a malformed EXIF block: {exc}") from exc


def _to_rgb(img, what: str):
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _WIDE_MODES:
        a = np.asarray(img, dtype=np.float64)
        if mode == "F":
            a = a * 255.0 if a.size and np.nanmax(a) <= 1.0 else a
        else:
            a = a * (255.0 / 65535.0)
        a = np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"{what} has mode {mode!r} that cannot be converted to RGB") from exc


def _target_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the longer side equal to ``size`` and the aspect ratio kept (≥ 1 pixel)."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resized_size(width: int, height: int, size: int, mode: str) -> tuple[int, int]:
    """(w, h) that :func:`preprocess` resizes a ``width × height`` image to, before any crop."""
    if mode == "longer":
        return _target_size(width, height, size)
    scale = round(size / 0.875) / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def preprocess(image, size: int = 362, *, mode: str = "longer", mean=IMAGENET_MEAN,
               std=IMAGENET_STD) -> np.ndarray:
    """Turn one image into a normalised network input.

    Parameters
    ----------
    image : str, os.PathLike or PIL.Image.Image
        Path or PIL image of any mode (see :func:`load_image` for the conversions).
    size : int
        ``mode="longer"``: the longer side after resizing (362 as in the paper, 1024 as in
        cnnimageretrieval's test protocol), aspect ratio kept. ``mode="center_crop"``: the side of
        the square crop (the ImageNet evaluation protocol: shorter side resized to
        ``round(size / 0.875)``, then the central ``size × size`` window).
    mode : {"longer", "center_crop"}
    mean, std : sequence of 3 floats
        Per-channel normalisation, ImageNet by default.

    Returns
    -------
    x : ndarray of shape (1, 3, H, W), float32
        ``x[0, c] = (pixel[c] / 255 - mean[c]) / std[c]``.

    Notes
    -----
    Resizing uses Pillow's Lanczos filter, which antialiases when downscaling (cnnimageretrieval
    calls it through ``thumbnail(..., ANTIALIAS)``). Unlike ``thumbnail``, small images are also
    *up*-scaled so that every descriptor is computed at the same resolution.
    """
    from PIL import Image

    size = check_int(size, "size", low=1, high=16384)
    check_choice(mode, "mode", {"longer", "center_crop"})
    img = _load(image, lambda w, h: _resized_size(w, h, size, mode))
    lanczos = Image.Resampling.LANCZOS
    w, h = _resized_size(img.width, img.height, size, mode)
    if (w, h) != img.size:
        img = img.resize((w, h), lanczos)
    if mode == "center_crop":
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return _normalise(np.asarray(img), mean, std)


def _normalise(rgb: np.ndarray, mean, std) -> np.ndarray:
    x = rgb.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def resize_exact(image, hw: tuple[int, int], mean, std) -> np.ndarray:
    """Preprocess for a model with a fixed input size: squash the whole image to (H, W)."""
    from PIL import Image

    h, w = hw
    img = _load(image, lambda *_: (w, h))
    img = img.resize((w, h), Image.Resampling.LANCZOS)
    return _normalise(np.asarray(img), mean, std)

