"""Fixtures shared by the feature tests: tiny ONNX models and deterministic pictures."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Every tiny model of ``models/make_tiny.py`` (built with the onnx helper API, no torch)."""
    sys.path.insert(0, str(MODELS))
    import make_tiny

    return make_tiny.make_all(tmp_path_factory.mktemp("tiny"), seed=0)


def _drawn(w=160, h=120, seed=0, mode="RGB"):
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


def _fmap_of(model_path, x):
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


@pytest.fixture
def drawn():
    """``drawn(w=160, h=120, seed=0, mode="RGB")``: a deterministic PIL picture."""
    return _drawn


@pytest.fixture
def fmap_of():
    """``fmap_of(model_path, x)``: the raw first output of an ONNX model on input ``x``."""
    return _fmap_of
