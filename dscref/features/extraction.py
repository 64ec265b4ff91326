"""Running a model over many images: :func:`extract_images` (chunks, unreadable images skipped
and reported, never silently) and :func:`cached_features` (descriptors cached to ``.npy`` with a
JSON sidecar recording the model's SHA-256 and the preprocessing, so a re-run with the same
settings skips extraction); :func:`extract_folder`, the batch job of ``dscref extract`` (both
models over a list of image files, every output file written atomically). All are also
importable from :mod:`dscref.features` and :mod:`dscref.datasets`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._files import atomic_open, atomic_write, atomic_write_text
from .._validate import check_finite
from ..errors import ImageError
from .image import image_name

__all__ = ["extract_images", "cached_features", "extract_folder", "FolderExtraction"]

log = logging.getLogger(__name__)


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
                    log.warning("skipping unreadable image %s: %s", image_name(im, i), exc)
                    bad.append((image_name(im, i), str(exc)))
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


#: Written into the sidecar; a cache with another (or no) format tag is rebuilt.
CACHE_FORMAT = "dscref-feature-cache/2"


class _Damaged(Exception):
    """A feature cache that must not be used (internal; logged, then the cache is rebuilt)."""


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _digest(x: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(x)).cast("B")).hexdigest()


def _is_int_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)


def _check_meta(meta, names: list[str]) -> tuple[list[int], list[tuple[str, str]]]:
    """The sidecar's ``kept`` and ``bad`` after checking every key against ``names``."""
    missing = [k for k in ("config", "names", "kept", "bad", "shape", "dtype", "features_sha256")
               if k not in meta]
    if missing:
        raise _Damaged(f"the sidecar lacks {missing}")
    kept, bad = meta["kept"], meta["bad"]
    n = len(names)
    if not _is_int_list(kept) or any(not 0 <= i < n for i in kept) \
            or any(a >= b for a, b in zip(kept, kept[1:])):
        raise _Damaged(f"the sidecar's kept rows are not increasing positions in [0, {n})")
    if not isinstance(bad, list) or any(not (isinstance(b, list) and len(b) == 2
                                             and all(isinstance(t, str) for t in b)) for b in bad):
        raise _Damaged("the sidecar's bad list is not a list of [name, message] pairs")
    skipped = set(range(n)) - set(kept)
    if [b[0] for b in bad] != [names[i] for i in sorted(skipped)]:
        raise _Damaged(f"the sidecar's {len(kept)} kept and {len(bad)} skipped images do not "
                       f"account for the {n} images")
    shape = meta["shape"]
    if not _is_int_list(shape) or len(shape) != 2 or shape[0] != len(kept) or shape[1] < 0:
        raise _Damaged(f"the sidecar's shape {shape!r} does not match its {len(kept)} kept images")
    if meta["dtype"] != "float32":
        raise _Damaged(f"the sidecar records dtype {meta['dtype']!r}, expected 'float32'")
    if not isinstance(meta["features_sha256"], str):
        raise _Damaged("the sidecar's features_sha256 is not a string")
    return kept, [tuple(b) for b in bad]


def _load_features(path: Path, meta: dict, dim) -> np.ndarray:
    """The cached array, checked against the (already validated) sidecar."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _Damaged(f"{path.name} cannot be read ({exc})") from exc
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2:
        raise _Damaged(f"{path.name} holds {getattr(x, 'dtype', type(x).__name__)} of shape "
                       f"{getattr(x, 'shape', None)}, expected a 2-D float32 array")
    if list(x.shape) != meta["shape"]:
        raise _Damaged(f"{path.name} has shape {x.shape}, the sidecar records {tuple(meta['shape'])}")
    if dim is not None and x.shape[0] and x.shape[1] != dim:
        raise _Damaged(f"{path.name} has {x.shape[1]} columns, the extractor outputs {dim}")
    try:
        check_finite(x, path.name)
    except ValueError as exc:
        raise _Damaged(str(exc)) from exc
    if _digest(x) != meta["features_sha256"]:
        raise _Damaged(f"{path.name} does not match the sidecar's checksum (written by another run?)")
    return x


def _read_cache(cache_path: Path, config: dict, names: list[str], skip_bad: bool, dim):
    """(x, kept_names, bad) from a valid, matching cache, or None (the reason is logged)."""
    side = _sidecar(cache_path)
    if not (cache_path.is_file() and side.is_file()):
        return None
    try:
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise _Damaged(f"the sidecar {side.name} is not readable JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise _Damaged(f"the sidecar {side.name} holds a {type(meta).__name__}, not an object")
        if meta.get("config") != config or meta.get("names") != names:
            log.info("feature cache %s is stale (model, preprocessing or images changed); "
                     "re-extracting", cache_path)
            return None
        if meta.get("format") != CACHE_FORMAT:
            log.info("feature cache %s was written in format %r, not %r; re-extracting",
                     cache_path, meta.get("format"), CACHE_FORMAT)
            return None
        kept, bad = _check_meta(meta, names)
        if bad and not skip_bad:
            log.info("feature cache %s skipped unreadable images; re-extracting without skip_bad",
                     cache_path)
            return None
        x = _load_features(cache_path, meta, dim)
    except _Damaged as exc:
        log.warning("feature cache %s is damaged (%s); re-extracting", cache_path, exc)
        return None
    log.info("features read from cache %s", cache_path)
    return x, [names[i] for i in kept], bad


def cached_features(extractor, images, cache_path, *, names=None, skip_bad: bool = False,
                    progress: bool = True):
    """Descriptors of ``images``, read from ``cache_path`` when a matching cache exists.

    The cache is ``cache_path`` (``.npy``, (n, D) float32) plus a sidecar ``.json`` holding
    ``extractor.config`` (model SHA-256, size, scales, GeM p, normalisation), the image names,
    the kept rows and skipped images, the array's shape, dtype and SHA-256. The cache is used
    only if the sidecar's config and names equal the current ones **and** the pair is intact:
    valid JSON with every key consistent with the image list, an ``.npy`` (read without pickle)
    of the recorded shape, dtype float32, the extractor's width, finite, with the recorded
    checksum. Otherwise (stale, truncated, wrong dtype, NaN rows, a sidecar from another run...)
    the reason is logged and the features are re-extracted; a damaged cache is never returned.

    Both files are replaced atomically through unique temp names, so concurrent runs writing the
    same cache never clobber each other's temp files; if their writes interleave, the checksum
    makes the next run rebuild the pair.

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
    names = [str(n) for n in names] if names is not None else [image_name(im, i) for i, im in enumerate(images)]
    if len(names) != len(images):
        raise ValueError(f"names has {len(names)} entries for {len(images)} images")
    config = extractor.config
    cached = _read_cache(cache_path, config, names, skip_bad, extractor.dim)
    if cached is not None:
        return cached
    x, kept, bad = extract_images(extractor, images, skip_bad=skip_bad, progress=progress)
    if x is None:
        x = np.zeros((0, extractor.dim or 0), np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    with atomic_open(cache_path) as fh:  # unique temp name, umask honoured, replaced atomically
        np.save(fh, x, allow_pickle=False)
    meta = {"format": CACHE_FORMAT, "config": config, "names": names, "kept": kept.tolist(),
            "bad": [list(b) for b in bad], "shape": list(x.shape), "dtype": str(x.dtype),
            "features_sha256": _digest(x)}
    atomic_write(_sidecar(cache_path), json.dumps(meta, indent=1))
    return x, [names[i] for i in kept], bad


@dataclass
class FolderExtraction:
    """What :func:`extract_folder` wrote: file -> array shape, the images kept (row order), the
    skipped ``(name, reason)`` pairs and the wall time."""

    written: dict = field(default_factory=dict)
    names: list = field(default_factory=list)
    bad: list = field(default_factory=list)
    seconds: float = 0.0


def extract_folder(files, names, out, extractor=None, classifier=None, *, k: int = 5,
                   skip_bad: bool = False) -> FolderExtraction:
    """Run an extractor and/or a classifier over image files and write their outputs to ``out``.

    Writes ``features.npy`` (n, D) float32 (cached, :func:`cached_features`), ``labels.npy``
    (n, k) int64 and ``probs.npy`` (n, k) float32 (the classifier's top ``k``), ``names.txt``
    (``names`` of the rows, one per line) and, when images were skipped, ``bad.txt``. Each file
    is written atomically. Rows follow ``files``; an image unreadable by the extractor is left out
    of every output (``skip_bad``), otherwise :class:`~dscref.errors.ImageError`.
    """
    if extractor is None and classifier is None:
        raise ValueError("extract_folder needs an extractor and/or a classifier")
    files, names, out = list(files), list(names), Path(out)
    if len(files) != len(names):
        raise ValueError(f"{len(files)} files but {len(names)} names")
    out.mkdir(parents=True, exist_ok=True)
    res = FolderExtraction()
    t0 = time.perf_counter()
    if extractor is not None:
        x, kept_names, res.bad = cached_features(extractor, files, out / "features.npy", names=names,
                                                 skip_bad=skip_bad)
        res.written["features.npy"] = x.shape
        keep = set(kept_names)
        files = [f for f, n in zip(files, names) if n in keep]
        names = kept_names
    if classifier is not None:
        top, kept, bad = extract_images(classifier, files, skip_bad=skip_bad, k=k)
        if bad and extractor is not None:  # cannot happen: the same files were readable a moment ago
            raise ValueError(f"images became unreadable during extraction: {bad}")
        res.bad += bad
        names = [names[i] for i in kept]
        labels, probs = top if top is not None else (np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
        for name, a in (("labels.npy", labels), ("probs.npy", probs)):
            with atomic_open(out / name) as f:
                np.save(f, a, allow_pickle=False)
            res.written[name] = a.shape
    atomic_write_text(out / "names.txt", "".join(n + "\n" for n in names))
    if res.bad:
        atomic_write_text(out / "bad.txt", "".join(f"{n}\t{m}\n" for n, m in res.bad))
    res.names, res.seconds = names, time.perf_counter() - t0
    return res
