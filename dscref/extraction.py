"""Running a model over many images: :func:`extract_images` (chunks, unreadable images skipped
and reported, never silently) and :func:`cached_features` (descriptors cached to ``.npy`` with a
JSON sidecar recording the model's SHA-256 and the preprocessing, so a re-run with the same
settings skips extraction). Both are also importable from :mod:`dscref.datasets`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .errors import ImageError

__all__ = ["extract_images", "cached_features"]

log = logging.getLogger(__name__)


def _name_of(image, i: int) -> str:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return getattr(image, "filename", "") or f"<image {i}>"


def extract_images(model, images, *, skip_bad: bool = False, method: str | None = None,
                   chunk: int = 64, progress: bool = True, **kwargs):
    """Run ``model`` over ``images`` in chunks, optionally skipping unreadable images.

    Parameters
    ----------
    model : Extractor or Classifier
    images : sequence of paths or PIL images
    skip_bad : bool
        If False (default) the first unreadable image raises :class:`~dscref.errors.ImageError`.
        If True it is left out, logged as a warning, and listed in ``bad``.
    method : str, optional
        Method to call: ``"extract"`` (Extractor, default) or ``"topk"`` / ``"logits"``
        (Classifier, default ``topk``).
    kwargs
        Passed to the method (e.g. ``k=5``).

    Returns
    -------
    result : ndarray or tuple of ndarrays
        The method's output for the kept images, rows in input order.
    kept : ndarray of shape (n_kept,), int64
        Positions in ``images`` of the rows of ``result``.
    bad : list of (str, str)
        ``(image name, error message)`` of each skipped image.
    """
    from tqdm.auto import tqdm

    if method is None:
        method = "extract" if hasattr(model, "extract") else "topk"
    fn = getattr(model, method)
    images = list(images)
    parts, kept, bad = [], [], []
    bar = tqdm(total=len(images), disable=not progress, desc=method, unit="img")
    for s in range(0, len(images), chunk):
        block = images[s:s + chunk]
        idx = list(range(s, s + len(block)))
        try:
            parts.append(fn(block, **kwargs))
            kept += idx
        except ImageError:
            if not skip_bad:
                raise
            # Retry one by one to find the unreadable image(s) of this chunk.
            for i, im in zip(idx, block):
                try:
                    parts.append(fn([im], **kwargs))
                    kept.append(i)
                except ImageError as exc:
                    log.warning("skipping unreadable image %s: %s", _name_of(im, i), exc)
                    bad.append((_name_of(im, i), str(exc)))
        bar.update(len(block))
    bar.close()
    if bad:
        log.warning("skipped %d unreadable image(s) of %d", len(bad), len(images))
    kept = np.asarray(kept, np.int64)
    if not parts:
        return None, kept, bad
    if isinstance(parts[0], tuple):
        result = tuple(np.concatenate([p[j] for p in parts]) for j in range(len(parts[0])))
    else:
        result = np.concatenate(parts)
    return result, kept, bad


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def cached_features(extractor, images, cache_path, *, names=None, skip_bad: bool = False,
                    progress: bool = True):
    """Descriptors of ``images``, read from ``cache_path`` when a matching cache exists.

    The cache is ``cache_path`` (``.npy``, (n, D) float32) plus a sidecar ``.json`` holding
    ``extractor.config`` (model SHA-256, size, scales, GeM p, normalisation), the image names
    and the skipped images. The cache is used only if the sidecar's config and names equal the
    current ones; otherwise features are re-extracted and both files rewritten atomically.

    Returns
    -------
    x : ndarray of shape (n_kept, D), float32
    kept_names : list of str
    bad : list of (str, str)
    """
    cache_path = Path(cache_path)
    if cache_path.suffix != ".npy":
        cache_path = cache_path.with_suffix(cache_path.suffix + ".npy")
    images = list(images)
    names = [str(n) for n in names] if names is not None else [_name_of(im, i) for i, im in enumerate(images)]
    if len(names) != len(images):
        raise ValueError(f"names has {len(names)} entries for {len(images)} images")
    config = extractor.config
    side = _sidecar(cache_path)
    if cache_path.is_file() and side.is_file():
        try:
            meta = json.loads(side.read_text())
            if meta.get("config") == config and meta.get("names") == names \
                    and (skip_bad or not meta.get("bad")):
                x = np.load(cache_path)
                if x.shape[0] == len(meta["kept"]):
                    log.info("features read from cache %s", cache_path)
                    return x, [names[i] for i in meta["kept"]], [tuple(b) for b in meta["bad"]]
            log.info("cache %s is stale (model or preprocessing changed); re-extracting", cache_path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable cache %s (%s)", cache_path, exc)
    x, kept, bad = extract_images(extractor, images, skip_bad=skip_bad, progress=progress)
    if x is None:
        x = np.zeros((0, extractor.dim or 0), np.float32)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_name(cache_path.stem + ".tmp.npy")
    np.save(tmp, x)
    tmp.replace(cache_path)
    meta = {"config": config, "names": names, "kept": kept.tolist(), "bad": [list(b) for b in bad],
            "shape": list(x.shape), "dtype": str(x.dtype)}
    stmp = side.with_name(side.name + ".tmp")
    stmp.write_text(json.dumps(meta, indent=1))
    stmp.replace(side)
    return x, [names[i] for i in kept], bad
