"""Feature extraction with onnxruntime: Pillow preprocessing, GeM pooling, model validation.

The edge device of Wang & Qi describes a photo by two network outputs (Sec. III-A):

* a global descriptor ``q = M_f(Q)`` (eq. 10): backbone feature map → GeM pooling (eq. 8) →
  L2 normalisation, so that the inner product of two descriptors is their cosine similarity;
* the logits of an ImageNet classifier, whose top-5 labels form the semantic code head (eq. 11).

Both networks run as ONNX models through onnxruntime; PyTorch is never imported here. An
:class:`Extractor` accepts a model whose output is already a global vector ``(n, D)`` *or* a
backbone feature map ``(n, C, H, W)`` that dscref pools itself with :func:`gem`, so any ONNX
global-descriptor or backbone model plugs in.

Preprocessing (:func:`preprocess`, in :mod:`dscref.images`) follows cnnimageretrieval-pytorch:
RGB, longer side resized with an antialiasing (Lanczos) filter to ``size`` (362 in the paper,
1024 in cnnimageretrieval), ImageNet mean/std, NCHW float32. Model files and onnxruntime
sessions are handled by :mod:`dscref._onnx`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from ._onnx import _FLOAT_TYPES, _dim, _OnnxModel, sha256_file
from ._validate import check_choice, check_int
from .errors import ModelError
from .images import IMAGENET_MEAN, IMAGENET_STD, image_name, load_image, preprocess

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_image",
    "preprocess",
    "gem",
    "l2_normalize",
    "combine_multiscale",
    "sha256_file",
    "Extractor",
    "Classifier",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- pooling
def gem(fmap, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    """Generalised-mean (GeM) pooling over the spatial axes.

    Parameters
    ----------
    fmap : array-like of shape (n, C, H, W) or (C, H, W), real
        Feature maps (typically non-negative, after a ReLU).
    p : float
        Pooling exponent, ``p > 0``; ``p = inf`` gives max pooling.
    eps : float
        Values are clamped to ``>= eps`` before the power (keeps ``x^p`` defined).

    Returns
    -------
    f : ndarray of shape (n, C) or (C,), float32
        Not normalised.

    Notes
    -----
    Implements eq. (8) of Wang & Qi (GeM of Radenović et al.):
    ``f_c = ( 1/|X_c| Σ_{x ∈ X_c} max(x, eps)^p )^(1/p)``. ``p = 1`` is average pooling and
    ``p → ∞`` tends to max pooling. Computed in float64 as ``m · mean((x/m)^p)^(1/p)`` with
    ``m = max x``, which is the same quantity but cannot overflow for large ``p``.
    """
    x = np.asarray(fmap)
    if x.dtype.kind not in "fiu" or x.dtype == np.bool_:
        raise TypeError(f"fmap must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise ValueError(f"fmap must have shape (n, C, H, W) or (C, H, W), got {x.shape}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"fmap has an empty spatial extent, shape {x.shape}")
    p = float(p)
    if not (p > 0) or math.isnan(p):
        raise ValueError(f"p={p} must be > 0 (or inf for max pooling)")
    if not (eps > 0):
        raise ValueError(f"eps={eps} must be > 0")
    x = np.maximum(x.astype(np.float64), eps)
    if math.isinf(p):
        return x.max(axis=(-2, -1)).astype(np.float32)
    m = x.max(axis=(-2, -1), keepdims=True)
    f = m[..., 0, 0] * np.mean((x / m) ** p, axis=(-2, -1)) ** (1.0 / p)
    return f.astype(np.float32)


def l2_normalize(x, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, D) divided by their L2 norm (max(norm, eps)), float32."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return (x / np.maximum(norm, eps)).astype(np.float32)


def _signed_pow(x: np.ndarray, p: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** p


def combine_multiscale(vectors, p: float = 3.0) -> np.ndarray:
    """Combine per-scale descriptors as cnnimageretrieval's multi-scale extraction does.

    Parameters
    ----------
    vectors : array-like of shape (S, n, D) or (S, D)
        The L2-normalised descriptor of each image at each of S scales.
    p : float
        The exponent (the GeM ``p``; cnnimageretrieval uses the network's pooling ``p``).

    Returns
    -------
    v : ndarray of shape (n, D) or (D,), float32, L2-normalised
        ``v = normalise( (1/S Σ_s v_s^p)^(1/p) )``.

    Notes
    -----
    Powers are sign-preserving (``sign(x)|x|^p``); for GeM outputs (non-negative) this is the
    plain power of cnnimageretrieval, and for models whose output may be negative it keeps the
    combination defined for any ``p``.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim not in (2, 3):
        raise ValueError(f"vectors must have shape (S, n, D) or (S, D), got {v.shape}")
    p = float(p)
    if not (p > 0) or not math.isfinite(p):
        raise ValueError(f"p={p} must be a finite number > 0 for the multi-scale combination")
    acc = _signed_pow(v, p).mean(axis=0)
    return l2_normalize(_signed_pow(acc, 1.0 / p))


# --------------------------------------------------------------------------- model files
def _as_image_list(images) -> list:
    from PIL import Image

    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    try:
        return list(images)
    except TypeError as exc:
        raise TypeError(f"images must be a path, a PIL image or a sequence of them, "
                        f"got {type(images).__name__}") from exc


class _ModelUser:
    """What Extractor and Classifier share about their validated ONNX model (``self._model``)."""

    _model: _OnnxModel

    @property
    def sha256(self) -> str:
        """SHA-256 of the model file."""
        return self._model.sha256

    @property
    def path(self) -> Path:
        return self._model.path


class Extractor(_ModelUser):
    """Global image descriptors from an ONNX model (eqs. 8 and 10 of Wang & Qi).

    Parameters
    ----------
    onnx_path : str or os.PathLike
        An ONNX model with one float input of shape (n, 3, H, W) and as first output either a
        descriptor ``(n, D)`` (GeM/L2 inside the graph, e.g. ``effnet-lite0-gem.onnx``) or a
        feature map ``(n, C, H', W')`` that is pooled here with :func:`gem`.
    gem_p : float
        GeM exponent used when the model outputs a feature map, and the exponent of the
        multi-scale combination (cnnimageretrieval uses the network's ``p``; default 3).
    size : int
        Longer image side at scale 1 (362 in the paper, 1024 in cnnimageretrieval).
    scales : sequence of float
        Image scales; ``(1, 1/√2, 1/2)`` reproduces cnnimageretrieval's multi-scale descriptor.
    threads : int, optional
        onnxruntime ``intra_op_num_threads`` (default: onnxruntime's choice).
    providers : list, optional
        onnxruntime execution providers (default ``["CPUExecutionProvider"]``).
    expected_sha256 : str, optional
        Refuse the model file unless its SHA-256 matches.
    manifest : str or os.PathLike, optional
        A ``manifest.json`` written by ``models/export.py``; the model file's SHA-256 must match
        the entry with the same file name.
    batch_size : int
        Maximum number of equal-size images per onnxruntime call. Small batches are as fast as
        large ones on CPU (measured: EfficientNet-Lite0 at 362 px, 2 threads, batch 1 or 4
        ≈ 20 images/s, batch 16 ≈ 12 images/s: the activations no longer fit in cache).

    Raises
    ------
    ModelError
        Missing/garbage file, checksum mismatch, or inputs/outputs of the wrong rank, dtype or
        channel count (the message says what was found and what was expected).

    Notes
    -----
    Per scale ``s`` the image is preprocessed at ``round(size · s)`` and the descriptor
    ``v_s = normalise(GeM(fmap))`` computed (or read from the model); the final descriptor is
    ``normalise((1/S Σ_s v_s^p)^(1/p))`` as in cnnimageretrieval's ``extract_ms``. One
    difference: cnnimageretrieval rescales the already-resized input tensor bilinearly, dscref
    resizes the original image with Lanczos at each scale (sharper, and the same function as the
    single-scale path, so scale ``s`` equals single-scale extraction at ``round(size · s)``).
    """

    def __init__(self, onnx_path, gem_p: float = 3.0, size: int = 362, scales=(1.0,), threads=None,
                 providers=None, expected_sha256=None, manifest=None, batch_size: int = 4):
        self.size = check_int(size, "size", low=1, high=16384)
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        gem_p = float(gem_p)
        if not (gem_p > 0):
            raise ValueError(f"gem_p={gem_p} must be > 0")
        self.gem_p = gem_p
        scales = tuple(float(s) for s in scales)
        if not scales or any(not (0 < s <= 4) for s in scales):
            raise ValueError(f"scales={scales} must be a non-empty sequence of numbers in (0, 4]")
        if len(scales) > 1 and math.isinf(gem_p):
            raise ValueError("gem_p=inf cannot be used to combine several scales")
        self.scales = scales
        self._model = _OnnxModel(onnx_path, kind="extractor", threads=threads, providers=providers,
                                 expected_sha256=expected_sha256, manifest=manifest)
        out = self._model.session.get_outputs()[0]
        if len(out.shape) not in (2, 4):
            raise self._model._fail(f"the rank of output {out.name!r}", f"{len(out.shape)} (shape {out.shape})",
                                    "2 (n, D) descriptor or 4 (n, C, H, W) feature map")
        if out.type not in _FLOAT_TYPES:
            raise self._model._fail(f"the dtype of output {out.name!r}", out.type, "a float tensor")
        self.output_kind = "vector" if len(out.shape) == 2 else "feature_map"
        self.dim = _dim(out.shape[1])

    @property
    def config(self) -> dict:
        """Everything that determines the descriptors (used as the feature-cache key)."""
        return {"model_sha256": self.sha256, "model_file": self.path.name, "size": self.size,
                "scales": list(self.scales), "gem_p": self.gem_p, "output": self.output_kind,
                "mode": "longer", "resample": "lanczos", "mean": list(IMAGENET_MEAN),
                "std": list(IMAGENET_STD), "alpha": "white"}

    def _pool(self, y: np.ndarray, where: str) -> np.ndarray:
        y = np.asarray(y)
        if self.output_kind == "feature_map":
            if y.ndim != 4:
                raise ModelError(f"extractor {str(self.path)!r} returned shape {y.shape} for {where}, "
                                 f"expected a feature map (n, C, H, W)")
            y = gem(y, self.gem_p)
        elif y.ndim != 2:
            raise ModelError(f"extractor {str(self.path)!r} returned shape {y.shape} for {where}, "
                             f"expected (n, D)")
        if self.dim is not None and y.shape[1] != self.dim:
            raise ModelError(f"extractor {str(self.path)!r} returned {y.shape[1]} channels for "
                             f"{where}, its declared output has {self.dim}")
        return y

    def preprocess_all(self, images, scale: float = 1.0) -> list[np.ndarray]:
        size = max(1, round(self.size * scale))
        return [self._model._prepare(im, size, "longer") for im in images]

    def extract(self, images, progress: bool = False) -> np.ndarray:
        """Descriptors of ``images``.

        Parameters
        ----------
        images : path, PIL image, or sequence of them
        progress : bool
            Show a tqdm bar over the images.

        Returns
        -------
        x : ndarray of shape (n, D), float32
            Rows L2-normalised. Equal (to float32 rounding) to extracting each image alone.

        Raises
        ------
        ImageError
            An image cannot be read (the message names it).
        ModelError
            onnxruntime fails on the model, or the model returns a wrong shape or non-finite
            values (the message names the model and the images).
        """
        images = _as_image_list(images)
        if not images:
            return np.zeros((0, self.dim or 0), np.float32)
        from tqdm.auto import tqdm

        names = [image_name(im, i) for i, im in enumerate(images)]
        per_scale = []
        for s in self.scales:
            arrays = [self._model._prepare(im, max(1, round(self.size * s)), "longer")
                      for im in tqdm(images, disable=not progress, desc=f"preprocess x{s:.3g}",
                                     leave=False)]
            rows = self._model._run_batches(arrays, self.batch_size, names)
            pooled = [self._pool(r, f"{names[i]!r} at scale {s:g}") for i, r in enumerate(rows)]
            widths = sorted({p.shape[1] for p in pooled})
            if len(widths) > 1:
                raise ModelError(f"extractor {str(self.path)!r} returned descriptors of different "
                                 f"lengths {widths} at scale {s:g}")
            y = np.concatenate(pooled)
            self._model.check_finite_rows(y, names, f"descriptors at scale {s:g}")
            per_scale.append(l2_normalize(y))
        if len(per_scale) == 1:
            return per_scale[0]
        return combine_multiscale(np.stack(per_scale), self.gem_p)

    def __repr__(self) -> str:
        return (f"Extractor({str(self.path)!r}, gem_p={self.gem_p}, size={self.size}, "
                f"scales={self.scales}, output={self.output_kind}, dim={self.dim})")


class Classifier(_ModelUser):
    """ImageNet-style classifier through onnxruntime; gives the labels of the code head (eq. 11).

    Parameters
    ----------
    onnx_path : str or os.PathLike
        ONNX model with one float input (n, 3, H, W) and first output logits (n, n_classes).
    size : int
        Input side; images are resized (shorter side ``round(size / 0.875)``) and center-cropped
        to ``size × size`` (the ImageNet evaluation protocol) when ``mode="center_crop"``.
    n_classes : int
        Expected number of classes (1000 for ImageNet-1k).
    mode : {"center_crop", "longer"}
        Preprocessing, see :func:`preprocess`.
    threads, providers, expected_sha256, manifest, batch_size
        As in :class:`Extractor`.

    Raises
    ------
    ModelError
        As :class:`Extractor`, and when the output is not (n, n_classes).
    """

    def __init__(self, onnx_path, size: int = 224, n_classes: int = 1000, mode: str = "center_crop",
                 threads=None, providers=None, expected_sha256=None, manifest=None,
                 batch_size: int = 4):
        self.size = check_int(size, "size", low=1, high=16384)
        self.n_classes = check_int(n_classes, "n_classes", low=2)
        self.mode = check_choice(mode, "mode", {"center_crop", "longer"})
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self._model = _OnnxModel(onnx_path, kind="classifier", threads=threads, providers=providers,
                                 expected_sha256=expected_sha256, manifest=manifest)
        out = self._model.session.get_outputs()[0]
        if len(out.shape) != 2:
            raise self._model._fail(f"the rank of output {out.name!r}", f"{len(out.shape)} (shape {out.shape})",
                                    f"2 (n, {self.n_classes})")
        if _dim(out.shape[1]) not in (None, self.n_classes):
            raise self._model._fail(f"the size of output {out.name!r}", out.shape[1],
                                    f"{self.n_classes} classes")

    @property
    def config(self) -> dict:
        return {"model_sha256": self.sha256, "model_file": self.path.name, "size": self.size,
                "mode": self.mode, "n_classes": self.n_classes, "mean": list(IMAGENET_MEAN),
                "std": list(IMAGENET_STD), "alpha": "white"}

    def logits(self, images, progress: bool = False) -> np.ndarray:
        """Logits, ndarray of shape (n, n_classes), float32, finite.

        Raises
        ------
        ImageError
            An image cannot be read (the message names it).
        ModelError
            onnxruntime fails on the model, or the model returns a wrong shape or non-finite
            logits (the message names the model and the images).
        """
        images = _as_image_list(images)
        if not images:
            return np.zeros((0, self.n_classes), np.float32)
        from tqdm.auto import tqdm

        names = [image_name(im, i) for i, im in enumerate(images)]
        arrays = [self._model._prepare(im, self.size, self.mode)
                  for im in tqdm(images, disable=not progress, desc="preprocess", leave=False)]
        rows = self._model._run_batches(arrays, self.batch_size, names)
        for i, r in enumerate(rows):
            if r.ndim != 2 or r.shape[1] != self.n_classes:
                raise ModelError(f"classifier {str(self.path)!r} returned shape {r.shape} for "
                                 f"{names[i]!r}, expected (n, {self.n_classes})")
        y = np.concatenate(rows).astype(np.float32)
        self._model.check_finite_rows(y, names, "logits")
        return y

    def topk(self, images, k: int = 5, progress: bool = False):
        """The ``k`` most probable labels (eq. 11) and their softmax probabilities.

        Returns
        -------
        labels : ndarray of shape (n, k), int64
            Sorted by decreasing probability; ties broken by the smaller label.
        probs : ndarray of shape (n, k), float32
            ``softmax(logits)`` at those labels.
        """
        k = check_int(k, "k", low=1, high=self.n_classes)
        z = self.logits(images, progress=progress).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        labels = np.argsort(-prob, axis=1, kind="stable")[:, :k].astype(np.int64)
        return labels, np.take_along_axis(prob, labels, axis=1).astype(np.float32)

    def __repr__(self) -> str:
        return f"Classifier({str(self.path)!r}, size={self.size}, mode={self.mode!r})"
