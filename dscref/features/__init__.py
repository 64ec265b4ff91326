"""Images in, descriptors and labels out: the edge device's two networks (Sec. III-A of Wang & Qi).

The device describes a photo by two network outputs:

* a global descriptor ``q = M_f(Q)`` (eq. 10): backbone feature map -> GeM pooling (eq. 8) ->
  L2 normalisation, so that the inner product of two descriptors is their cosine similarity;
* the logits of an ImageNet classifier, whose top-5 labels form the semantic code head (eq. 11).

Both networks run as ONNX models through onnxruntime; PyTorch is never imported here, and
neither onnxruntime nor Pillow is imported by ``import dscref.features`` (only when a model is
opened or an image read). Preprocessing follows cnnimageretrieval-pytorch: RGB, longer side
resized with an antialiasing (Lanczos) filter to ``size`` (362 in the paper, 1024 in
cnnimageretrieval), ImageNet mean/std, NCHW float32.

Modules, one concept each:

* :mod:`~dscref.features.image` -- decoding (EXIF orientation, mode conversion, size limits;
  strict EXIF/TIFF checks in ``_exif``) and preprocessing;
* :mod:`~dscref.features.pooling` -- GeM (eq. 8), L2 normalisation, multi-scale combination;
* :mod:`~dscref.features.onnx` -- model files (checksums, manifests) and onnxruntime sessions;
* :mod:`~dscref.features.extractor` -- :class:`Extractor` (eqs. 8 and 10);
* :mod:`~dscref.features.classifier` -- :class:`Classifier` (eq. 11);
* :mod:`~dscref.features.extraction` -- the batch job of ``dscref extract``: many images, bad
  ones skipped and reported, descriptors cached;
* :mod:`~dscref.features.file` -- the pickle-free ``features:PATH`` file format.
"""

from __future__ import annotations

from .classifier import Classifier
from .extraction import FolderExtraction, cached_features, extract_folder, extract_images
from .extractor import Extractor
from .file import features_file_from_extract, load_features_file, save_features_file
from .image import IMAGENET_MEAN, IMAGENET_STD, load_image, preprocess
from .onnx import sha256_file
from .pooling import combine_multiscale, gem, l2_normalize

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
    "extract_images",
    "cached_features",
    "extract_folder",
    "FolderExtraction",
    "save_features_file",
    "load_features_file",
    "features_file_from_extract",
]
