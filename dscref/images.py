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

import numpy as np

from ._validate import check_choice, check_int
from .errors import ImageError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "load_image", "preprocess"]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Pillow modes holding one integer/float channel of more than 8 bits (e.g. 16-bit PNG).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


# --------------------------------------------------------------------------- images
def _describe_source(image) -> str:
    if isinstance(image, (str, os.PathLike)):
        return f"image file {os.fspath(image)!r}"
    name = getattr(image, "filename", "") or ""
    return f"image {name!r}" if name else "in-memory image"


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
        The file is missing, not an image, truncated/corrupt, or the image has zero width or
        height. The message names the file.
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
    from PIL import Image, ImageOps, UnidentifiedImageError

    what = _describe_source(image)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.exists(path):
            raise ImageError(f"{what} does not exist")
        if os.path.isdir(path):
            raise ImageError(f"{what} is a directory, not an image")
        try:
            with Image.open(path) as im:
                im.load()  # Image.open is lazy: truncation shows up only here
                img = im.copy()
                img.info = dict(im.info)
                exif = im.getexif()
        except UnidentifiedImageError as exc:
            raise ImageError(f"{what} is not an image Pillow can read") from exc
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageError(f"{what} is unreadable or truncated: {exc}") from exc
        # Keep the EXIF block for exif_transpose (copy() keeps it in info on recent Pillow).
        if exif and "exif" not in img.info:
            img.info["exif"] = exif.tobytes()
    elif isinstance(image, Image.Image):
        img = image
        try:
            img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{what} is unreadable or truncated: {exc}") from exc
    else:
        raise TypeError(f"image must be a path or a PIL.Image.Image, got {type(image).__name__}")

    if img.width == 0 or img.height == 0:
        raise ImageError(f"{what} has zero size {img.width}x{img.height}")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 - a broken EXIF block must not hide the file name
        log.warning("%s: ignoring unreadable EXIF orientation (%s)", what, exc)
    return _to_rgb(img, what)


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
    img = load_image(image)
    lanczos = Image.Resampling.LANCZOS
    if mode == "longer":
        w, h = _target_size(img.width, img.height, size)
        if (w, h) != img.size:
            img = img.resize((w, h), lanczos)
    else:
        short = round(size / 0.875)
        scale = short / min(img.width, img.height)
        w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
        img = img.resize((w, h), lanczos)
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return _normalise(np.asarray(img), mean, std)


def _normalise(rgb: np.ndarray, mean, std) -> np.ndarray:
    x = rgb.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _resize_exact(image, hw: tuple[int, int], mean, std) -> np.ndarray:
    """Preprocess for a model with a fixed input size: squash the whole image to (H, W)."""
    from PIL import Image

    img = load_image(image)
    h, w = hw
    img = img.resize((w, h), Image.Resampling.LANCZOS)
    return _normalise(np.asarray(img), mean, std)

