"""dscref.features on tiny ONNX models (built with the onnx helper API, no torch)."""

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dscref.datasets import extract_images
from dscref.errors import ImageError, ModelError
from dscref.features import (IMAGENET_MEAN, IMAGENET_STD, Classifier, Extractor, combine_multiscale,
                             gem, l2_normalize, load_image, preprocess, sha256_file)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
import make_tiny  # noqa: E402

onnxruntime = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return make_tiny.make_all(tmp_path_factory.mktemp("tiny"), seed=0)


def drawn(w=160, h=120, seed=0, mode="RGB"):
    """A deterministic picture: coloured background, rectangles and ellipses."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        x1, y1 = x0 + int(rng.integers(5, w // 2)), y0 + int(rng.integers(5, h // 2))
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        (d.rectangle if rng.random() < 0.5 else d.ellipse)([x0, y0, x1, y1], fill=fill)
    return img.convert(mode) if mode != "RGB" else img


def fmap_of(model_path, x):
    sess = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


# --------------------------------------------------------------------------- gem
def test_gem_p1_is_average_and_large_p_tends_to_max():
    rng = np.random.default_rng(1)
    f = rng.random((2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(gem(f, 1.0), f.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(gem(f, 500.0), f.max(axis=(2, 3)), rtol=2e-2)
    np.testing.assert_allclose(gem(f, math.inf), f.max(axis=(2, 3)), rtol=0)
    direct = (np.maximum(f.astype(np.float64), 1e-6) ** 3).mean(axis=(2, 3)) ** (1 / 3)
    np.testing.assert_allclose(gem(f, 3.0), direct, rtol=1e-6)
    assert gem(f, 3.0).dtype == np.float32 and gem(f[0], 3.0).shape == (5,)
    # monotone in p (power-mean inequality)
    assert np.all(gem(f, 2.0) <= gem(f, 4.0) + 1e-7)


def test_gem_clamps_and_validates():
    f = -np.ones((1, 2, 2, 2), np.float32)
    np.testing.assert_allclose(gem(f, 3.0, eps=1e-6), 1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="p=0"):
        gem(f, 0)
    with pytest.raises(ValueError, match="shape"):
        gem(np.ones((2, 3)), 3)
    with pytest.raises(TypeError):
        gem(np.array([["a"]]), 3)


# --------------------------------------------------------------------------- preprocess
def test_preprocess_shape_dtype_and_normalisation():
    x = preprocess(Image.new("RGB", (400, 200), (255, 0, 128)), size=100)
    assert x.shape == (1, 3, 50, 100) and x.dtype == np.float32
    expect = (np.array([1.0, 0.0, 128 / 255]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0, :, 25, 50], expect, atol=1e-5)
    # portrait, upscaling, default size 362
    assert preprocess(Image.new("RGB", (30, 60))).shape == (1, 3, 362, 181)
    assert preprocess(Image.new("RGB", (300, 500)), 224, mode="center_crop").shape == (1, 3, 224, 224)


def test_preprocess_modes(tmp_path):
    base = drawn(90, 60, seed=3)
    rgb = preprocess(base, 64)
    # grayscale -> 3 equal channels
    g = preprocess(base.convert("L"), 64)
    assert g.shape == rgb.shape
    raw = g[0] * np.asarray(IMAGENET_STD, np.float32)[:, None, None] + np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    np.testing.assert_allclose(raw[0], raw[1], atol=1e-6)
    np.testing.assert_allclose(raw[1], raw[2], atol=1e-6)
    # CMYK file
    base.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    c = preprocess(tmp_path / "c.jpg", 64)
    assert c.shape == rgb.shape and np.abs(c - rgb).mean() < 0.15
    # RGBA: fully transparent pixels become white, opaque ones keep their colour
    rgba = base.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:, :45, 3] = 0
    out = load_image(Image.fromarray(a, "RGBA"))
    assert out.mode == "RGB"
    arr = np.asarray(out)
    assert (arr[:, :45] == 255).all() and (arr[:, 45:] == np.asarray(base)[:, 45:]).all()
    # palette with a transparent index and LA go through the same path
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0
    assert np.asarray(load_image(pal)).tolist()[0][:2] == [[255, 0, 0], [255, 255, 255]]
    assert load_image(base.convert("LA")).mode == "RGB"
    # 16-bit grayscale PNG ("I;16"): same picture as its 8-bit version
    g8 = np.asarray(base.convert("L")).astype(np.uint16)
    Image.fromarray(g8 * 257).save(tmp_path / "g16.png")
    opened = Image.open(tmp_path / "g16.png")
    assert opened.mode in ("I;16", "I")
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "g16.png"))[..., 0], g8)


def test_preprocess_exif_orientation(tmp_path):
    base = drawn(80, 40, seed=4)
    # Store the picture rotated and let EXIF (orientation 6 = rotate 270° to display) undo it.
    stored = base.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "r.jpg", exif=exif, quality=95)
    shown = load_image(tmp_path / "r.jpg")
    assert shown.size == base.size == (80, 40)
    assert np.abs(np.asarray(shown, np.int16) - np.asarray(base, np.int16)).mean() < 8
    assert preprocess(tmp_path / "r.jpg", 80).shape == (1, 3, 40, 80)


def test_bad_images(tmp_path):
    with pytest.raises(ImageError, match="missing.jpg"):
        preprocess(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("this is not a picture")
    with pytest.raises(ImageError, match="notes.jpg"):
        preprocess(tmp_path / "notes.jpg")
    buf = io.BytesIO()
    drawn(200, 200).save(buf, "JPEG")
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    with pytest.raises(ImageError, match="trunc.jpg"):
        preprocess(tmp_path / "trunc.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png"):
        preprocess(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="zero size"):
        preprocess(Image.new("RGB", (0, 5)))
    with pytest.raises(TypeError):
        preprocess(np.zeros((3, 3)))
    assert issubclass(ImageError, ValueError)


# --------------------------------------------------------------------------- Extractor
def test_extractor_output_and_agreement_with_numpy_gem(tiny):
    imgs = [drawn(160, 120, s) for s in range(3)]
    e = Extractor(tiny["extractor"], size=96)
    x = e.extract(imgs)
    assert x.shape == (3, 16) and x.dtype == np.float32 and e.output_kind == "vector"
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-6)
    # the in-graph GeM equals NumPy GeM on the backbone's feature map (same seed, same weights)
    fm = Extractor(tiny["extractor_fmap"], size=96, gem_p=3.0)
    assert fm.output_kind == "feature_map"
    np.testing.assert_allclose(fm.extract(imgs), x, atol=1e-5)
    f = fmap_of(tiny["extractor_fmap"], preprocess(imgs[0], 96))
    np.testing.assert_allclose(x[0], l2_normalize(gem(f, 3.0))[0], atol=1e-5)


def test_extractor_gem_p_limits(tiny):
    img = drawn(120, 90, 7)
    f = fmap_of(tiny["extractor_fmap"], preprocess(img, 80)).astype(np.float64)
    avg = Extractor(tiny["extractor_fmap"], size=80, gem_p=1.0).extract(img)[0]
    np.testing.assert_allclose(avg, l2_normalize(np.maximum(f, 1e-6).mean(axis=(2, 3)))[0], atol=1e-6)
    mx = l2_normalize(np.maximum(f, 1e-6).max(axis=(2, 3)))[0]
    far = Extractor(tiny["extractor_fmap"], size=80, gem_p=200.0).extract(img)[0]
    near = Extractor(tiny["extractor_fmap"], size=80, gem_p=3.0).extract(img)[0]
    assert np.abs(far - mx).max() < 0.05 < np.abs(near - mx).max()
    np.testing.assert_allclose(Extractor(tiny["extractor_fmap"], size=80, gem_p=math.inf).extract(img)[0],
                               mx, atol=1e-6)


def test_batch_equals_one_by_one(tiny, tmp_path):
    # mixed sizes and orientations: some share a preprocessed shape, others do not
    imgs = [drawn(160, 120, 0), drawn(120, 160, 1), drawn(200, 150, 2), drawn(90, 90, 3), drawn(80, 60, 4)]
    imgs[2].save(tmp_path / "a.png")
    inputs = imgs[:2] + [tmp_path / "a.png"] + imgs[3:]
    for key in ("extractor", "extractor_fmap"):
        e = Extractor(tiny[key], size=64, batch_size=3)
        batch = e.extract(inputs)
        single = np.concatenate([e.extract([im]) for im in inputs])
        np.testing.assert_allclose(batch, single, atol=1e-6)
    c = Classifier(tiny["classifier"], size=48)
    np.testing.assert_allclose(c.logits(inputs), np.concatenate([c.logits(im) for im in inputs]), atol=1e-5)


def test_multiscale_matches_numpy(tiny):
    imgs = [drawn(160, 120, 5), drawn(100, 140, 6)]
    scales = (1.0, 1 / math.sqrt(2), 0.5)
    for key in ("extractor", "extractor_fmap"):
        ms = Extractor(tiny[key], size=128, scales=scales).extract(imgs)
        per = np.stack([Extractor(tiny[key], size=round(128 * s)).extract(imgs) for s in scales]).astype(np.float64)
        direct = (per ** 3).mean(axis=0) ** (1 / 3)
        direct /= np.linalg.norm(direct, axis=1, keepdims=True)
        np.testing.assert_allclose(ms, direct, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(ms, axis=1), 1, atol=1e-6)
    # a single scale is the identity; signed powers keep negative entries defined
    v = l2_normalize(np.random.default_rng(0).standard_normal((1, 4, 8)))
    np.testing.assert_allclose(combine_multiscale(v, 3.0), v[0], atol=1e-6)
    assert np.isfinite(combine_multiscale(np.stack([v[0], -v[0] * 0.5]), 2.5)).all()


def test_classifier_topk(tiny):
    imgs = [drawn(160, 120, s) for s in range(4)]
    c = Classifier(tiny["classifier"], size=64, threads=1)
    z = c.logits(imgs)
    assert z.shape == (4, 1000) and z.dtype == np.float32
    labels, probs = c.topk(imgs, k=5)
    assert labels.shape == probs.shape == (4, 5) and labels.dtype == np.int64 and probs.dtype == np.float32
    np.testing.assert_array_equal(labels, np.argsort(-z, axis=1, kind="stable")[:, :5])
    assert np.all(np.diff(probs, axis=1) <= 0) and np.all(probs > 0) and np.all(probs.sum(1) <= 1 + 1e-6)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, np.take_along_axis(p, labels, 1), rtol=1e-5)
    ten = Classifier(tiny["classifier_10"], size=64, n_classes=10)
    assert ten.topk(imgs[0], k=3)[0].shape == (1, 3)


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


def test_extractor_argument_validation(tiny):
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


def test_onnxruntime_failures_become_model_errors(tiny, tmp_path):
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


def test_output_batch_dimension_is_checked(tiny):
    ext = Extractor(tiny["failing_batch_collapse"], size=32)
    assert ext.extract([drawn(64, 48)]).shape == (1, 3)
    with pytest.raises(ModelError, match=r"returned shape \(1, 3\) for a batch of 2 \(row 0 '<image 0>', "
                                         r"row 1 '<image 1>'\)"):
        ext.extract([drawn(64, 48, 0), drawn(64, 48, 1)])


def test_runtime_never_imports_torch():
    import subprocess

    code = ("import sys, dscref.features, dscref.datasets, dscref.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
