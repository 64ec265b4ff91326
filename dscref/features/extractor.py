"""Global image descriptors from an ONNX model (eqs. 8 and 10 of Wang & Qi).

The edge device describes a photo by a global descriptor ``q = M_f(Q)`` (eq. 10): backbone
feature map -> GeM pooling (eq. 8) -> L2 normalisation, so that the inner product of two
descriptors is their cosine similarity. An :class:`Extractor` accepts a model whose output is
already a global vector ``(n, D)`` *or* a backbone feature map ``(n, C, H, W)`` that dscref pools
itself with :func:`~dscref.features.pooling.gem`, so any ONNX global-descriptor or backbone
model plugs in. The model runs through onnxruntime (:mod:`dscref.features.onnx`), images are
prepared by :mod:`dscref.features.image`.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_int
from ..errors import ModelError
from .image import IMAGENET_MEAN, IMAGENET_STD, as_image_list, image_name
from .onnx import FLOAT_TYPES, ModelUser, OnnxModel, onnx_dim
from .pooling import combine_multiscale, gem, l2_normalize

__all__ = ["Extractor"]


class Extractor(ModelUser):
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
        self._model = OnnxModel(onnx_path, kind="extractor", threads=threads, providers=providers,
                                 expected_sha256=expected_sha256, manifest=manifest)
        out = self._model.session.get_outputs()[0]
        if len(out.shape) not in (2, 4):
            raise self._model._fail(f"the rank of output {out.name!r}", f"{len(out.shape)} (shape {out.shape})",
                                    "2 (n, D) descriptor or 4 (n, C, H, W) feature map")
        if out.type not in FLOAT_TYPES:
            raise self._model._fail(f"the dtype of output {out.name!r}", out.type, "a float tensor")
        self.output_kind = "vector" if len(out.shape) == 2 else "feature_map"
        self.dim = onnx_dim(out.shape[1])

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
        return [self._model.prepare(im, size, "longer") for im in images]

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
        images = as_image_list(images)
        if not images:
            return np.zeros((0, self.dim or 0), np.float32)
        from tqdm.auto import tqdm

        names = [image_name(im, i) for i, im in enumerate(images)]
        per_scale = []
        for s in self.scales:
            arrays = [self._model.prepare(im, max(1, round(self.size * s)), "longer")
                      for im in tqdm(images, disable=not progress, desc=f"preprocess x{s:.3g}",
                                     leave=False)]
            rows = self._model.run_batches(arrays, self.batch_size, names)
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
