"""The ImageNet classifier of the edge device: its top-k labels form the semantic code head
(eq. 11 of Wang & Qi). An ONNX model run through onnxruntime (:mod:`dscref.features.onnx`),
images prepared by :mod:`dscref.features.image`.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_choice, check_int
from ..errors import ModelError
from .image import IMAGENET_MEAN, IMAGENET_STD, as_image_list, image_name
from .onnx import ModelUser, OnnxModel, onnx_dim

__all__ = ["Classifier"]


class Classifier(ModelUser):
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
        Preprocessing, see :func:`~dscref.features.image.preprocess`.
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
        self._model = OnnxModel(onnx_path, kind="classifier", threads=threads, providers=providers,
                                 expected_sha256=expected_sha256, manifest=manifest)
        out = self._model.session.get_outputs()[0]
        if len(out.shape) != 2:
            raise self._model._fail(f"the rank of output {out.name!r}", f"{len(out.shape)} (shape {out.shape})",
                                    f"2 (n, {self.n_classes})")
        if onnx_dim(out.shape[1]) not in (None, self.n_classes):
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
        images = as_image_list(images)
        if not images:
            return np.zeros((0, self.n_classes), np.float32)
        from tqdm.auto import tqdm

        names = [image_name(im, i) for i, im in enumerate(images)]
        arrays = [self._model.prepare(im, self.size, self.mode)
                  for im in tqdm(images, disable=not progress, desc="preprocess", leave=False)]
        rows = self._model.run_batches(arrays, self.batch_size, names)
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
