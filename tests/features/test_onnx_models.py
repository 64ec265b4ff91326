"""dscref.features.onnx: wrong, missing, tampered and failing ONNX models are refused with a
ModelError naming the model (and the images), through both Extractor and Classifier."""

import json

import numpy as np
import pytest
from PIL import Image

from dscref.features.extraction import extract_images
from dscref.errors import ImageError, ModelError
from dscref.features import Classifier, Extractor, sha256_file

onnxruntime = pytest.importorskip("onnxruntime")


# --------------------------------------------------------------------------- model validation
@pytest.mark.parametrize("key, match", [
    ("bad_input_rank", "rank of input 'image' is 2"),
    ("bad_channels", "channel count of input 'image' is 1, expected 3"),
    ("bad_int_input", "dtype of input 'image' is tensor\\(int64\\)"),
    ("bad_output_rank", "rank of output 'y' is 3"),
    ("bad_unknown_op", "cannot load ONNX .*bad-unknown_op.onnx.*NoSuchOp"),
])
def test_wrong_models_are_refused(tiny, key, match):
    for cls in (Extractor, Classifier):
        with pytest.raises(ModelError, match=match):
            cls(tiny[key])


def test_wrong_output_size_missing_and_garbage_files(tiny, tmp_path):
    with pytest.raises(ModelError, match="size of output 'logits' is 10, expected 1000"):
        Classifier(tiny["classifier_10"])
    with pytest.raises(ModelError, match="nope.onnx.*does not exist"):
        Extractor(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="junk.onnx"):
        Classifier(tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match="provider"):
        Extractor(tiny["extractor"], providers=["NoSuchExecutionProvider"])


def test_sha256_check_and_manifest(tiny, tmp_path):
    digest = sha256_file(tiny["extractor"])
    assert Extractor(tiny["extractor"], expected_sha256=digest.upper()).sha256 == digest
    with pytest.raises(ModelError, match="sha256"):
        Extractor(tiny["extractor"], expected_sha256="0" * 64)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"models": {"tiny-gem.onnx": {"file": "tiny-gem.onnx", "sha256": digest}}}))
    Extractor(tiny["extractor"], manifest=manifest)
    manifest.write_text(json.dumps({"models": {"tiny-gem.onnx": {"file": "tiny-gem.onnx", "sha256": "1" * 64}}}))
    with pytest.raises(ModelError, match="tiny-gem.onnx.*sha256"):
        Extractor(tiny["extractor"], manifest=manifest)
    with pytest.raises(ModelError, match="no entry"):
        Classifier(tiny["classifier"], manifest=manifest)


def test_extractor_argument_validation(tiny, drawn):
    with pytest.raises(ValueError, match="gem_p"):
        Extractor(tiny["extractor"], gem_p=-1)
    with pytest.raises(ValueError, match="scales"):
        Extractor(tiny["extractor"], scales=())
    with pytest.raises(TypeError):
        Extractor(tiny["extractor"], size=1.5)
    e = Extractor(tiny["extractor"], size=32)
    assert e.extract([]).shape == (0, 16)
    with pytest.raises(ImageError, match="nothere.png"):
        e.extract([drawn(), "nothere.png"])


# --------------------------------------------------------------------------- failing models
def _ort_error_classes():
    state = onnxruntime.capi.onnxruntime_pybind11_state
    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))


def test_non_finite_outputs_name_the_model_and_images(tiny, tmp_path):
    files = []
    for name, grey in (("bright.png", 250), ("dark.png", 0), ("light.png", 220)):
        Image.new("RGB", (64, 48), (grey,) * 3).save(tmp_path / name)
        files.append(tmp_path / name)
    clf = Classifier(tiny["failing_nan_output"], size=32)
    pattern = r"failing-nan_output\.onnx.* non-finite {} for 1 of 3 image\(s\): row 1 '[^']*dark\.png'$"
    with pytest.raises(ModelError, match=pattern.format("logits")):
        clf.logits(files)
    with pytest.raises(ModelError, match=pattern.format("logits")):
        clf.topk(files, k=5)
    assert np.isfinite(clf.logits([files[0], files[2]])).all()
    ext = Extractor(tiny["failing_nan_output"], size=32)
    with pytest.raises(ModelError, match=pattern.format("descriptors at scale 1")):
        ext.extract(files)
    with pytest.raises(ModelError, match="dark.png"):  # a model fault, never skipped as a bad image
        extract_images(clf, files, skip_bad=True, progress=False)


def test_onnxruntime_failures_become_model_errors(tiny, tmp_path, drawn):
    with pytest.raises(ModelError, match="bad-unknown_op.onnx") as info:
        Classifier(tiny["bad_unknown_op"])
    assert isinstance(info.value.__cause__, _ort_error_classes())
    for name in ("a.png", "b.png"):
        drawn(64, 48).save(tmp_path / name)
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    clf = Classifier(tiny["failing_runtime_fail"], size=32)  # 3*32*32 is not a multiple of 1000
    with pytest.raises(ModelError, match=r"failing-runtime_fail\.onnx' failed on input of shape "
                                         r"\(2, 3, 32, 32\) \(row 0 '.*a\.png', row 1 '.*b\.png'\)") as info:
        clf.topk(files)
    assert isinstance(info.value.__cause__, _ort_error_classes())
    with pytest.raises(ModelError, match="failing-runtime_fail.onnx") as info:
        Extractor(tiny["failing_runtime_fail"], size=40).extract(files)
    assert isinstance(info.value.__cause__, _ort_error_classes())


def test_output_batch_dimension_is_checked(tiny, drawn):
    ext = Extractor(tiny["failing_batch_collapse"], size=32)
    assert ext.extract([drawn(64, 48)]).shape == (1, 3)
    with pytest.raises(ModelError, match=r"returned shape \(1, 3\) for a batch of 2 \(row 0 '<image 0>', "
                                         r"row 1 '<image 1>'\)"):
        ext.extract([drawn(64, 48, 0), drawn(64, 48, 1)])


def test_fixed_input_size_is_checked_against_the_module_limit_as_set(tiny, tmp_path, monkeypatch, drawn):
    """A model with a fixed (H, W) input is refused when H * W exceeds
    dscref.features.image.MAX_RESIZE_PIXELS, read when the model is opened (so setting the limit,
    as the message suggests, takes effect)."""
    import onnx

    import dscref.features.image as image

    m = onnx.load(str(tiny["classifier"]))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].ClearField("dim_param")
    dims[3].ClearField("dim_param")
    dims[2].dim_value, dims[3].dim_value = 64, 48
    path = tmp_path / "fixed.onnx"
    onnx.save(m, str(path))
    clf = Classifier(path)                      # 3072 pixels: within the default limit
    assert clf.topk([drawn()], k=2)[0].shape == (1, 2)
    monkeypatch.setattr(image, "MAX_RESIZE_PIXELS", 3000)
    with pytest.raises(ModelError, match=r"64x48.*at most 3000 pixels \(dscref.features.image.MAX_RESIZE_PIXELS\)"):
        Classifier(path)
