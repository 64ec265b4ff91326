"""dscref.features.extractor on tiny ONNX models (built with the onnx helper API, no torch)."""

import math

import numpy as np
import pytest

from dscref.features.classifier import Classifier
from dscref.features.extractor import Extractor
from dscref.features.image import preprocess
from dscref.features.pooling import combine_multiscale, gem, l2_normalize

pytest.importorskip("onnxruntime")


# --------------------------------------------------------------------------- Extractor
def test_extractor_output_and_agreement_with_numpy_gem(tiny, drawn, fmap_of):
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


def test_extractor_gem_p_limits(tiny, drawn, fmap_of):
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


def test_batch_equals_one_by_one(tiny, tmp_path, drawn):
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


def test_multiscale_matches_numpy(tiny, drawn):
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
