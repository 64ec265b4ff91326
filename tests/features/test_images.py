"""dscref.features.image on hostile images: size bounds checked from the header before decoding or
resizing, malformed EXIF / TIFF tags refused (issue 17, Features)."""

import io
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from dscref.errors import ImageError
from dscref.features import image as images
from dscref.features.classifier import Classifier
from dscref.features.extraction import extract_images
from dscref.features.image import load_image, preprocess

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import make_tiny  # noqa: E402

_resize = Image.Image.resize


@pytest.fixture(autouse=True)
def no_huge_resize(monkeypatch):
    """A resize above 2**26 pixels fails loudly instead of allocating gigabytes (so these tests
    stay cheap even on code that does not check the size first)."""
    def guarded(self, size, *args, **kwargs):
        if size[0] * size[1] > 1 << 26:
            raise RuntimeError(f"resize to {size} attempted")
        return _resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", guarded)


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding the pixels of a file fails loudly: the checks must come before it."""
    def refuse(self, *args, **kwargs):
        raise RuntimeError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def png_header_only(w, h):
    """A PNG declaring w x h RGB pixels, without any pixel data (IHDR + IEND)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- size bounds
def test_decompression_bomb_refused_from_the_header(tmp_path, no_decoding):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_header_only(100_000, 100_000))  # 93 bytes declaring 10^10 pixels
    with pytest.raises(ImageError, match=r"bomb\.png.* above the decoding limit.*10000000000 pixels"):
        load_image(p)
    with pytest.raises(ImageError, match="bomb.png"):
        preprocess(p)


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("RGB", (100, 80), (10, 200, 30)).save(p)
    assert load_image(p).size == (100, 80)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 5000, raising=False)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ImageError, match=r"big\.png.* 100x80 = 8000 pixels, above the decoding limit of 5000"):
        load_image(p)
    lazy = Image.open(p)  # an unloaded PIL image is refused before its load() too
    with pytest.raises(ImageError, match="8000 pixels"):
        load_image(lazy)
    lazy.close()


def test_pillow_bomb_limit_and_warning_become_image_errors(tmp_path, monkeypatch):
    p = tmp_path / "warn.png"
    Image.new("RGB", (100, 80)).save(p)
    # Between Pillow's limit and twice it Pillow only warns: dscref refuses the image.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match="warn.png"):
            load_image(p)
    # An application turning the warning into an exception gets an ImageError too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match="warn.png"):
            load_image(p)


def test_extreme_aspect_ratio_refused_before_resizing(tmp_path):
    p = tmp_path / "strip.png"
    Image.new("L", (1, 100_000), 128).save(p)  # 100k pixels, a few hundred bytes
    # Longer side resized to 362: a 1 x 362 input, harmless.
    assert preprocess(p, 362).shape == (1, 3, 362, 1)
    # ImageNet crop: shorter side to 256 would mean a 256 x 25.6M pixel image (19 GB).
    with pytest.raises(ImageError, match=r"strip\.png.* 1x100000 pixels; preprocessing would resize "
                                         r"it to 256x25600000 = 6553600000 pixels"):
        preprocess(p, 224, mode="center_crop")
    with pytest.raises(ImageError, match="MAX_RESIZE_PIXELS"):
        preprocess(Image.new("RGB", (10, 10)), size=16384)


def test_extreme_aspect_ratio_through_a_classifier(tmp_path):
    m = make_tiny.make_classifier(tmp_path / "c.onnx")
    Image.new("RGB", (60, 40), (200, 100, 0)).save(tmp_path / "ok.png")
    Image.new("RGB", (100_000, 1)).save(tmp_path / "wide.png")
    files = [tmp_path / "ok.png", tmp_path / "wide.png"]
    clf = Classifier(m, size=32)
    with pytest.raises(ImageError, match="wide.png"):
        clf.topk(files)
    (labels, _), kept, bad = extract_images(clf, files, skip_bad=True, progress=False)
    assert labels.shape == (1, 5) and kept.tolist() == [0]
    assert bad[0][0].endswith("wide.png") and "MAX_RESIZE_PIXELS" in bad[0][1]


# --------------------------------------------------------------------------- EXIF / TIFF
def ifd(entries, extra=b"", count=None, order="<"):
    """A little- (or big-) endian TIFF header + IFD0 of (tag, type, count, 4-byte value) entries."""
    bo = b"II" if order == "<" else b"MM"
    out = bo + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", len(entries) if count is None else count)
    for tag, typ, cnt, val in entries:
        out += struct.pack(order + "HHI", tag, typ, cnt) + val
    return out + struct.pack(order + "I", 0) + extra


def short(v):
    return struct.pack("<HH", v, 0)


ORIENT = 0x0112
BAD_EXIF = {
    "orientation_9": ifd([(ORIENT, 3, 1, short(9))]),
    "orientation_0": ifd([(ORIENT, 3, 1, short(0))]),
    "orientation_ascii": ifd([(ORIENT, 2, 2, b"6\x00\x00\x00")]),
    "orientation_two_values": ifd([(ORIENT, 3, 2, struct.pack("<HH", 6, 6))]),
    "orientation_rational": ifd([(ORIENT, 5, 1, struct.pack("<I", 26))], extra=struct.pack("<II", 6, 1)),
    "orientation_signed": ifd([(ORIENT, 8, 1, struct.pack("<hH", -1, 0))]),
    "truncated_ifd": ifd([(ORIENT, 3, 1, short(6))], count=5),
    "ifd_offset_past_end": b"II" + struct.pack("<HI", 42, 5000),
    "truncated_header": b"II*\x00\x08",
    "bad_byte_order": b"XX*\x00" + struct.pack("<I", 8),
    "bad_magic": b"II" + struct.pack("<HI", 41, 8),
    "invalid_type": ifd([(ORIENT, 99, 1, short(6))]),
    "value_past_end": ifd([(0x010F, 2, 40, struct.pack("<I", 9000)), (ORIENT, 3, 1, short(1))]),
}


def jpeg_with_exif(raw: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 10, 10)).save(buf, "JPEG", exif=b"Exif\x00\x00" + raw)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_EXIF))
def test_malformed_exif_is_refused(tmp_path, case):
    p = tmp_path / f"{case}.jpg"
    p.write_bytes(jpeg_with_exif(BAD_EXIF[case]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's own "Corrupt EXIF data" notes
        with pytest.raises(ImageError, match=f"{case}.jpg"):
            load_image(p)
        with pytest.raises(ImageError, match=f"{case}.jpg"):
            preprocess(p, 32)


def test_well_formed_exif_is_applied(tmp_path):
    exif = Image.Exif()
    exif[ORIENT] = 6
    exif[0x010F] = "dscref camera with a long make string"
    exif[0x011A] = 72.0  # XResolution, a RATIONAL stored past the IFD
    base = Image.new("RGB", (40, 20), (0, 0, 0))
    base.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    base.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "ok.jpg", exif=exif, quality=95)
    shown = load_image(tmp_path / "ok.jpg")
    assert shown.size == (40, 20) and np.asarray(shown)[10, 5].min() > 200
    # big-endian EXIF with orientation 1 and the same in a PNG eXIf chunk
    (tmp_path / "be.jpg").write_bytes(jpeg_with_exif(ifd([(ORIENT, 3, 1, struct.pack(">HH", 1, 0))], order=">")))
    assert load_image(tmp_path / "be.jpg").size == (40, 20)
    base.save(tmp_path / "ok.png", exif=exif)
    assert load_image(tmp_path / "ok.png").size == (20, 40)


def test_malformed_exif_in_png_and_in_memory():
    img = Image.new("RGB", (8, 4))
    img.info["exif"] = b"Exif\x00\x00" + BAD_EXIF["orientation_9"]
    with pytest.raises(ImageError, match="in-memory image has an invalid EXIF orientation 9"):
        load_image(img)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[ORIENT] = 9
    Image.new("RGB", (8, 4)).save(buf, "PNG", exif=exif)
    buf.seek(0)
    with pytest.raises(ImageError, match="orientation 9"):
        load_image(Image.open(buf))


def tiff(orientation=1, count=None, cut=0, extra_entries=()):
    """A 4 x 2 grayscale uncompressed TIFF with its IFD after the pixels (hand-written)."""
    pixels = bytes(range(0, 256, 32))
    entries = sorted([(256, 3, 1, short(4)), (257, 3, 1, short(2)), (258, 3, 1, short(8)),
                      (259, 3, 1, short(1)), (262, 3, 1, short(1)), (273, 4, 1, struct.pack("<I", 8)),
                      (274, 3, 1, short(orientation)), (277, 3, 1, short(1)), (278, 3, 1, short(2)),
                      (279, 4, 1, struct.pack("<I", 8)), *extra_entries])
    n = len(entries) if count is None else count
    body = struct.pack("<H", n) + b"".join(struct.pack("<HHI", *e[:3]) + e[3] for e in entries)
    data = b"II" + struct.pack("<HI", 42, 16) + pixels + body + struct.pack("<I", 0)
    return data[:len(data) - cut]


def test_tiff_tags(tmp_path):
    (tmp_path / "ok.tif").write_bytes(tiff(orientation=6))
    assert load_image(tmp_path / "ok.tif").size == (2, 4)  # rotated upright
    for mode in ("L", "RGB"):  # uncompressed: Pillow's mmap path used to skip the rotation
        Image.new(mode, (40, 30)).save(tmp_path / f"{mode}.tif", tiffinfo={ORIENT: 6})
        assert load_image(tmp_path / f"{mode}.tif").size == (30, 40)
    cases = {"orient9.tif": tiff(orientation=9),
             "count.tif": tiff(count=13),  # 3 entries more than the file holds
             "offset.tif": tiff(extra_entries=[(0x011A, 5, 1, struct.pack("<I", 10_000))])}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with pytest.raises(ImageError, match=name):
                load_image(tmp_path / name)
