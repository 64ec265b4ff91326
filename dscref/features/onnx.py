"""ONNX model files and onnxruntime sessions: checksums, manifests, input validation, batched runs.

Shared by :class:`~dscref.features.extractor.Extractor` and
:class:`~dscref.features.classifier.Classifier` (:class:`OnnxModel`, :class:`ModelUser`).
onnxruntime is imported lazily, when a model is opened: ``import dscref.features`` never needs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from .._validate import check_int
from ..errors import ModelError
from . import image as _image
from .image import IMAGENET_MEAN, IMAGENET_STD, preprocess, resize_exact

__all__ = ["sha256_file", "ort_errors", "onnx_dim", "FLOAT_TYPES", "OnnxModel", "ModelUser"]

log = logging.getLogger(__name__)


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _expected_from_manifest(manifest, model_path: Path) -> str | None:
    """The sha256 recorded for ``model_path``'s file name in a manifest.json, if any."""
    mpath = Path(manifest)
    try:
        data = json.loads(mpath.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"manifest {str(mpath)!r} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"manifest {str(mpath)!r} is not valid JSON: {exc}") from exc
    models = data.get("models", data) if isinstance(data, dict) else data
    entries = models.values() if isinstance(models, dict) else models
    for entry in entries:
        if isinstance(entry, dict) and Path(str(entry.get("file", ""))).name == model_path.name:
            if not entry.get("sha256"):
                raise ModelError(f"manifest {str(mpath)!r} records no sha256 for {model_path.name!r} "
                                 f"(use the manifest written next to the built models)")
            return entry["sha256"]
    raise ModelError(f"manifest {str(mpath)!r} has no entry for model file {model_path.name!r}")


FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(double)": np.float64}


#: onnxruntime's own exception classes (onnxruntime.capi.onnxruntime_pybind11_state), by name so
#: that a class missing from an older onnxruntime is skipped.
_ORT_ERROR_NAMES = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError",
                    "RuntimeException", "InvalidProtobuf", "ModelLoaded", "NotImplemented",
                    "InvalidGraph", "EPFail", "ModelLoadCanceled", "ModelRequiresCompilation",
                    "NotFound", "DeviceReset")


def ort_errors() -> tuple:
    """The exceptions an onnxruntime session raises for a bad model or a failing run: its own
    classes, plus RuntimeError (pybind11's translation of other C++ exceptions)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    found = tuple(c for c in (getattr(state, n, None) for n in _ORT_ERROR_NAMES)
                  if isinstance(c, type) and issubclass(c, Exception))
    return (*found, RuntimeError)


def onnx_dim(d):
    """An ONNX dim as an int, or None when symbolic/unknown."""
    return d if isinstance(d, int) and d > 0 else None


class OnnxModel:
    """An onnxruntime session with its single image input validated (shared by both classes)."""

    def __init__(self, onnx_path, *, kind="model", threads=None, providers=None,
                 expected_sha256=None, manifest=None):
        import onnxruntime as ort

        self.kind = kind

        path = Path(onnx_path)
        self.path = path
        if not path.is_file():
            raise ModelError(f"ONNX {self.kind} file {str(path)!r} does not exist")
        self.sha256 = sha256_file(path)
        expected = expected_sha256
        if expected is None and manifest is not None:
            expected = _expected_from_manifest(manifest, path)
        if expected is not None and expected.lower() != self.sha256:
            raise ModelError(f"ONNX {self.kind} file {str(path)!r} has sha256 {self.sha256}, "
                             f"expected {expected.lower()} (wrong or modified file)")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = check_int(threads, "threads", low=1, high=1024)
            opts.inter_op_num_threads = 1
        available = ort.get_available_providers()
        providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        for prov in providers:
            name = prov[0] if isinstance(prov, tuple) else prov
            if name not in available:
                raise ValueError(f"onnxruntime provider {name!r} is not available; "
                                 f"available: {available}")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except ort_errors() as exc:
            raise ModelError(f"cannot load ONNX {self.kind} {str(path)!r}: {exc}") from exc
        self._check_input()
        self.output_name = self.session.get_outputs()[0].name

    def _fail(self, what: str, found, expected) -> ModelError:
        return ModelError(f"ONNX {self.kind} {str(self.path)!r}: {what} is {found}, expected {expected}")

    def _check_input(self) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise self._fail("the number of inputs", f"{len(inputs)} ({[i.name for i in inputs]})",
                             "1 image input")
        inp = inputs[0]
        if len(inp.shape) != 4:
            raise self._fail(f"the rank of input {inp.name!r}", f"{len(inp.shape)} (shape {inp.shape})",
                             "4 (n, 3, H, W)")
        if inp.type not in FLOAT_TYPES:
            raise self._fail(f"the dtype of input {inp.name!r}", inp.type,
                             "a float tensor (tensor(float))")
        if onnx_dim(inp.shape[1]) not in (None, 3):
            raise self._fail(f"the channel count of input {inp.name!r}", inp.shape[1], 3)
        self.input_name = inp.name
        self.input_dtype = FLOAT_TYPES[inp.type]
        self.fixed_batch = onnx_dim(inp.shape[0])
        if self.fixed_batch not in (None, 1):
            raise self._fail(f"the batch dimension of input {inp.name!r}", inp.shape[0],
                             "dynamic or 1")
        h, w = onnx_dim(inp.shape[2]), onnx_dim(inp.shape[3])
        self.fixed_hw = (h, w) if h and w else None
        limit = _image.MAX_RESIZE_PIXELS  # read at use, so that setting the module's limit takes effect
        if self.fixed_hw and h * w > limit:
            raise self._fail(f"the fixed input size of {inp.name!r}", f"{h}x{w}",
                             f"at most {limit} pixels (dscref.features.image.MAX_RESIZE_PIXELS)")
        if self.fixed_hw:
            log.info("%s has a fixed input size %s: images are resized to it", self.path, self.fixed_hw)

    # ----------------------------------------------------------------------------------- run
    def prepare(self, image, size: int, mode: str) -> np.ndarray:
        """One image as the model's (1, 3, H, W) float32 input: resized to the model's fixed
        input size if it has one, else :func:`~dscref.features.image.preprocess`."""
        if self.fixed_hw:
            return resize_exact(image, self.fixed_hw, IMAGENET_MEAN, IMAGENET_STD)
        return preprocess(image, size, mode=mode)

    def run_batches(self, arrays: list[np.ndarray], batch_size: int,
                    names: list[str]) -> list[np.ndarray]:
        """Run preprocessed (1, 3, H, W) inputs, stacking equal-size ones into batches.

        Returns one output row per input, in input order. Inputs of different sizes are never
        padded (padding would change the pooled descriptor), so a batch holds one size only.
        ``names`` name the inputs in errors: an onnxruntime failure, or an output whose batch
        dimension is not the input's, raises :class:`ModelError` naming the model and the images.
        """
        out: list[np.ndarray | None] = [None] * len(arrays)
        groups: dict[tuple, list[int]] = {}
        for i, a in enumerate(arrays):
            groups.setdefault(a.shape, []).append(i)
        chunk = batch_size if self.fixed_batch is None else 1
        for idx in groups.values():
            for s in range(0, len(idx), chunk):
                part = idx[s:s + chunk]
                x = np.concatenate([arrays[i] for i in part]).astype(self.input_dtype, copy=False)
                try:
                    y = np.asarray(self.session.run([self.output_name], {self.input_name: x})[0])
                except ort_errors() as exc:
                    raise ModelError(f"ONNX {self.kind} {str(self.path)!r} failed on input of shape "
                                     f"{x.shape} ({_listed(names, part)}): {exc}") from exc
                if y.ndim < 1 or y.shape[0] != len(part):
                    raise ModelError(f"ONNX {self.kind} {str(self.path)!r} returned shape {y.shape} "
                                     f"for a batch of {len(part)} ({_listed(names, part)})")
                for j, i in enumerate(part):
                    out[i] = y[j:j + 1]
        return out  # type: ignore[return-value]

    def check_finite_rows(self, y: np.ndarray, names: list[str], what: str) -> None:
        """Raise ModelError naming the model and the images whose row of ``y`` is not finite."""
        finite = np.isfinite(y.reshape(len(y), -1)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite).tolist()
            raise ModelError(f"ONNX {self.kind} {str(self.path)!r} returned non-finite {what} for "
                             f"{len(bad)} of {len(y)} image(s): {_listed(names, bad)}")


def _listed(names: list[str], rows, shown: int = 5) -> str:
    """``row 3 'a.jpg', row 7 'b.jpg' and 4 more`` for error messages."""
    rows = list(rows)
    text = ", ".join(f"row {i} {names[i]!r}" for i in rows[:shown])
    return text + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


class ModelUser:
    """What Extractor and Classifier share about their validated ONNX model (``self._model``)."""

    _model: OnnxModel

    @property
    def sha256(self) -> str:
        """SHA-256 of the model file."""
        return self._model.sha256

    @property
    def path(self) -> Path:
        return self._model.path
