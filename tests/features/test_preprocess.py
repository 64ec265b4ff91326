"""dscref.features.image: loading and preprocessing ordinary images (hostile ones:
test_images.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from dscref.errors import ImageError
from dscref.features.image import IMAGENET_MEAN, IMAGENET_STD, load_image, preprocess


# --------------------------------------------------------------------------- preprocess
def test_preprocess_shape_dtype_and_normalisation():
    x = preprocess(Image.new("RGB", (400, 200), (255, 0, 128)), size=100)
    assert x.shape == (1, 3, 50, 100) and x.dtype == np.float32
    expect = (np.array([1.0, 0.0, 128 / 255]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0, :, 25, 50], expect, atol=1e-5)
    # portrait, upscaling, default size 362
    assert preprocess(Image.new("RGB", (30, 60))).shape == (1, 3, 362, 181)
    assert preprocess(Image.new("RGB", (300, 500)), 224, mode="center_crop").shape == (1, 3, 224, 224)


def test_preprocess_modes(tmp_path, drawn):
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


def test_preprocess_exif_orientation(tmp_path, drawn):
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


def test_bad_images(tmp_path, drawn):
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
