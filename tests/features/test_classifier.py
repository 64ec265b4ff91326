"""dscref.features.classifier on a tiny ONNX model (built with the onnx helper API, no torch)."""

import numpy as np
import pytest

from dscref.features.classifier import Classifier

pytest.importorskip("onnxruntime")


def test_classifier_topk(tiny, drawn):
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
