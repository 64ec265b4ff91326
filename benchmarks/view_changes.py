"""View changes of a photo: what a second photo of the same scene differs by (crop, scale,
rotation, JPEG, colour, blur), each at set strengths, seeded.

Used by ``label_consistency.py`` to measure how often the real classifier's top-1 label survives a
change of view. Every function takes an RGB PIL image and returns a new RGB PIL image (uint8
pixels); the parameter that sets the strength is validated (``ValueError`` naming it) and its
neutral value (``keep=1``, ``factor=1``, ``degrees=0``, ``amount=0``, ``sigma=0``) returns an exact
copy. JPEG has no neutral value (quality 100 still rounds). Randomness only through the
``numpy.random.Generator`` passed in.

Pixel quantities (blur sigma) are in pixels of the image given; ``label_consistency.py`` first
brings every photo to the same working size (longer side 512 px) so that they mean the same on
every photo.

Only NumPy, SciPy and Pillow.
"""

from __future__ import annotations

import io
import math
import numbers

import numpy as np

__all__ = ["crop", "scale", "rotate", "jpeg", "colour", "blur", "CHANGES", "RANDOM_CHANGES",
           "apply_change"]


def _real(value, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and (v > low if low_open else v >= low) and v <= high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}={value!r} must be in {bracket}{low}, {high}]")
    return v


def _rgb(img):
    from PIL import Image

    if not isinstance(img, Image.Image):
        raise TypeError(f"img must be a PIL image, got {type(img).__name__}")
    if img.mode != "RGB":
        raise ValueError(f"img.mode={img.mode!r}, expected 'RGB'")
    return img


def _rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def crop(img, keep: float, rng: np.random.Generator):
    """A random crop keeping the share ``keep`` of the area (0 < keep <= 1).

    The aspect ratio is the original's times a factor drawn log-uniformly in [3/4, 4/3] (clipped
    so the crop fits); the position is uniform. ``keep=1`` returns a copy.
    """
    img, keep, rng = _rgb(img), _real(keep, "keep", 0.0, 1.0, low_open=True), _rng(rng)
    if keep == 1.0:
        return img.copy()
    w, h = img.size
    r = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    # crop (cw, ch) with cw * ch = keep * w * h and cw / ch = r * w / h, each side inside the image
    cw = min(w, math.sqrt(keep * w * h * r * w / h))
    ch = min(h, keep * w * h / cw)
    cw = min(w, keep * w * h / ch)
    cw, ch = max(1, round(cw)), max(1, round(ch))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def scale(img, factor: float, back: bool = False):
    """Resize by ``factor`` (0 < factor <= 1, antialiased bilinear); ``back=True`` resizes up to
    the original size again (Lanczos), keeping the size but losing the detail. ``factor=1``
    returns a copy."""
    from PIL import Image

    img, factor = _rgb(img), _real(factor, "factor", 0.0, 1.0, low_open=True)
    if factor == 1.0:
        return img.copy()
    w, h = img.size
    small = img.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR)
    return small.resize((w, h), Image.Resampling.LANCZOS) if back else small


def _inscribed(w: int, h: int, theta: float) -> float:
    """Largest f such that an axis-aligned (f w) x (f h) rectangle fits inside the w x h
    rectangle rotated by theta about the same centre: with c = |cos|, s = |sin|,
    f (w c + h s) <= w and f (w s + h c) <= h."""
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    return min(w / (w * c + h * s), h / (w * s + h * c))


def rotate(img, degrees: float):
    """Rotate by ``degrees`` (|degrees| <= 45, counter-clockwise, bicubic) and crop the largest
    centred rectangle of the original aspect ratio that holds no border, as a tilted camera
    would see. ``degrees=0`` returns a copy."""
    from PIL import Image

    img, degrees = _rgb(img), _real(degrees, "degrees", -45.0, 45.0)
    if degrees == 0.0:
        return img.copy()
    w, h = img.size
    f = _inscribed(w, h, math.radians(degrees))
    out = img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    cw, ch = max(1, math.floor(w * f)), max(1, math.floor(h * f))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return out.crop((x0, y0, x0 + cw, y0 + ch))


def jpeg(img, quality: int):
    """Encode as JPEG at ``quality`` (1..95, Pillow's default 4:2:0 chroma subsampling) and decode."""
    from PIL import Image

    img = _rgb(img)
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral):
        raise TypeError(f"quality must be an int, got {quality!r}")
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"quality={quality} must be in [1, 95]")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as dec:
        return dec.convert("RGB")


def colour(img, amount: float, rng: np.random.Generator):
    """Jitter brightness, saturation and hue together (0 <= amount <= 1).

    Brightness and saturation are multiplied by ``1 ± amount·u`` and the hue turned by
    ``± 0.1·amount·u`` of a full turn, each with its own random sign and ``u`` uniform in
    [0.5, 1] (so every strength is really applied: at ``amount=0.4`` brightness x0.6..0.8 or
    x1.2..1.4, hue 7..14 degrees). ``amount=0`` returns a copy.
    """
    from PIL import Image, ImageEnhance

    img, amount, rng = _rgb(img), _real(amount, "amount", 0.0, 1.0), _rng(rng)
    if amount == 0.0:
        return img.copy()
    sign = rng.choice([-1.0, 1.0], size=3)
    u = rng.uniform(0.5, 1.0, size=3)
    out = ImageEnhance.Brightness(img).enhance(1 + sign[0] * amount * u[0])
    out = ImageEnhance.Color(out).enhance(1 + sign[1] * amount * u[1])
    hsv = np.asarray(out.convert("HSV")).copy()
    # Pillow's hue channel is 0..255 for one full turn
    hsv[..., 0] = (hsv[..., 0].astype(np.int64) + round(sign[2] * 0.1 * amount * u[2] * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def blur(img, sigma: float):
    """Gaussian blur of standard deviation ``sigma`` pixels (0 <= sigma <= 50; scipy.ndimage,
    reflected borders, rounded back to uint8). ``sigma=0`` returns a copy."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    img, sigma = _rgb(img), _real(sigma, "sigma", 0.0, 50.0)
    if sigma == 0.0:
        return img.copy()
    x = np.asarray(img, dtype=np.float32)
    y = gaussian_filter(x, sigma=(sigma, sigma, 0), mode="reflect")
    return Image.fromarray(np.clip(np.rint(y), 0, 255).astype(np.uint8), "RGB")


#: change -> level -> parameters. "combined" (crop, then scale down, colour, JPEG) stands in for
#: a second photo of the same view; the single changes isolate each factor.
CHANGES: dict[str, dict[str, dict]] = {
    "crop": {"weak": {"keep": 0.9}, "medium": {"keep": 0.7}, "strong": {"keep": 0.5}},
    "scale_down": {"weak": {"factor": 0.75}, "medium": {"factor": 0.5}, "strong": {"factor": 0.25}},
    "scale_back": {"weak": {"factor": 0.75}, "medium": {"factor": 0.5}, "strong": {"factor": 0.25}},
    "rotation": {"weak": {"degrees": 5}, "medium": {"degrees": 10}, "strong": {"degrees": 15}},
    "jpeg": {"weak": {"quality": 90}, "medium": {"quality": 50}, "strong": {"quality": 20}},
    "colour": {"weak": {"amount": 0.2}, "medium": {"amount": 0.4}, "strong": {"amount": 0.6}},
    "blur": {"weak": {"sigma": 1.0}, "medium": {"sigma": 2.0}, "strong": {"sigma": 3.0}},
    "combined": {
        "weak": {"keep": 0.9, "factor": 0.75, "amount": 0.2, "quality": 90},
        "medium": {"keep": 0.7, "factor": 0.5, "amount": 0.4, "quality": 50},
        "strong": {"keep": 0.5, "factor": 0.5, "amount": 0.6, "quality": 20},
    },
}

#: the changes that draw random numbers (several seeded draws per photo are worth measuring);
#: the others give one image per level.
RANDOM_CHANGES = frozenset({"crop", "rotation", "colour", "combined"})


def apply_change(img, change: str, level: str, rng: np.random.Generator):
    """``img`` under ``CHANGES[change][level]``; rotation turns either way (random sign)."""
    if change not in CHANGES:
        raise ValueError(f"change={change!r} is not one of {sorted(CHANGES)}")
    if level not in CHANGES[change]:
        raise ValueError(f"level={level!r} is not one of {sorted(CHANGES[change])}")
    p, rng = CHANGES[change][level], _rng(rng)
    if change == "crop":
        return crop(img, p["keep"], rng)
    if change in ("scale_down", "scale_back"):
        return scale(img, p["factor"], back=change == "scale_back")
    if change == "rotation":
        return rotate(img, p["degrees"] * (1 if rng.random() < 0.5 else -1))
    if change == "jpeg":
        return jpeg(img, p["quality"])
    if change == "colour":
        return colour(img, p["amount"], rng)
    if change == "blur":
        return blur(img, p["sigma"])
    out = crop(img, p["keep"], rng)
    out = scale(out, p["factor"])
    out = colour(out, p["amount"], rng)
    return jpeg(out, p["quality"])
