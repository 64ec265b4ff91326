"""EfficientNet-Lite0 (real ImageNet weights) through dscref, on scikit-image's photographs.

Needs ``python models/export.py offline`` (writes models/build/effnet-lite0-*.onnx); skipped
otherwise. Reported numbers (top-5, copy-detection mAP) are printed with ``pytest -s``.
"""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from dscref.features import Classifier, Extractor, preprocess

pytestmark = pytest.mark.realmodel

BUILD = Path(__file__).resolve().parents[2] / "models" / "build"
CLF, GEM, MANIFEST = BUILD / "effnet-lite0-classifier.onnx", BUILD / "effnet-lite0-gem.onnx", BUILD / "manifest.json"
if not (CLF.is_file() and GEM.is_file() and MANIFEST.is_file()):
    pytest.skip(f"real models absent: run `python models/export.py offline` to build {CLF.name} and "
                f"{GEM.name} into {BUILD}", allow_module_level=True)
skimage = pytest.importorskip("skimage", reason="scikit-image (test extra) provides the photographs")
DATA = Path(os.path.dirname(skimage.__file__)) / "data"

# ImageNet-1k names of the ids these tests look at (written here, not downloaded)
NAMES = {281: "tabby cat", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat",
         285: "Egyptian cat", 287: "lynx", 504: "coffee mug", 809: "soup bowl",
         967: "espresso", 968: "cup", 969: "eggnog"}
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "retina.jpg", "camera.png", "coins.png", "brick.png"]
DISTRACTORS = ["moon.png", "page.png", "text.png", "gravel.png", "grass.png", "color.png", "ihc.png",
               "cell.png", "horse.png", "clock_motion.png", "logo.png", "motorcycle_right.png"]


@pytest.fixture(scope="module")
def classifier():
    return Classifier(CLF, size=224, manifest=MANIFEST)


@pytest.fixture(scope="module")
def extractor():
    return Extractor(GEM, size=362, manifest=MANIFEST)


def test_manifest_describes_the_models():
    models = json.loads(MANIFEST.read_text())["models"]
    for f, out in ((CLF, 1000), (GEM, 1280)):
        e = models[f.name]
        assert e["output"]["shape"][-1] == out and e["opset"] >= 17 and e["max_abs_diff"] < 1e-3


@pytest.mark.parametrize("photo, classes", [("chelsea.png", {281, 282, 283, 284, 285}),
                                            ("coffee.png", {967, 968, 504})])
def test_classifier_top5_on_photographs(classifier, photo, classes):
    labels, probs = classifier.topk(DATA / photo, k=5)
    shown = ", ".join(f"{l} {NAMES.get(int(l), '')} {p:.2f}" for l, p in zip(labels[0], probs[0]))
    print(f"\n{photo}: top-5 {shown}")
    assert int(labels[0, 0]) in classes
    assert len(classes & set(labels[0].tolist())) >= 2


def _variants(img):
    """Copies of a photo: crop, flip, half scale, JPEG q=25, brightness x1.4."""
    w, h = img.size
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=25)
    return [
        img.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
        ImageOps.mirror(img),
        img.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        Image.open(io.BytesIO(buf.getvalue())).convert("RGB"),
        ImageEnhance.Brightness(img).enhance(1.4),
    ]


def _ap(ranks):
    ranks = np.sort(ranks)
    return sum(((1.0 if r == 0 else j / r) + (j + 1) / (r + 1)) / 2 for j, r in enumerate(ranks)) / len(ranks)


def test_copy_detection_map(extractor):
    from dscref.features import load_image

    originals = [load_image(DATA / p) for p in PHOTOS]
    database, owner = [], []
    for i, img in enumerate(originals):
        for v in _variants(img):
            database.append(v)
            owner.append(i)
    database += [load_image(DATA / p) for p in DISTRACTORS]
    owner += [-1] * len(DISTRACTORS)
    owner = np.asarray(owner)
    xq, xb = extractor.extract(originals), extractor.extract(database)
    assert xb.shape == (len(database), 1280) and xb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(xb, axis=1), 1, atol=1e-5)
    ranking = np.argsort(-(xq @ xb.T), axis=1, kind="stable")
    aps = [_ap(np.flatnonzero(owner[ranking[q]] == q)) for q in range(len(PHOTOS))]
    m = float(np.mean(aps))
    # chance: 5 positives among len(database) items ranked at random
    rng = np.random.default_rng(0)
    chance = np.mean([_ap(np.sort(rng.choice(len(database), 5, replace=False))) for _ in range(2000)])
    print(f"\ncopy detection: {len(PHOTOS)} queries, {len(database)} database images, "
          f"mAP {m:.3f} (chance {chance:.3f})")
    assert m > 0.8 > 3 * chance


def test_onnx_equals_torch_within_recorded_tolerance(extractor, classifier):
    torch = pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(BUILD.parent))
    import export

    models = json.loads(MANIFEST.read_text())["models"]
    net, _ = export.build_effnet_lite0()
    x = preprocess(DATA / "chelsea.png", 224, mode="center_crop")
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = classifier.logits(DATA / "chelsea.png")
    assert np.abs(got - ref).max() <= models[CLF.name]["tolerance"]
    gem_net = export.GlobalDescriptor(export._Call(net, "extract_features"), p=3.0).eval()
    x = preprocess(DATA / "coffee.png", 362)
    with torch.no_grad():
        ref = gem_net(torch.from_numpy(x)).numpy()
    assert np.abs(extractor.extract(DATA / "coffee.png") - ref).max() <= models[GEM.name]["tolerance"]
