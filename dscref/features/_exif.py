"""Strict checks of an image's EXIF block and TIFF header before Pillow acts on them.

Pillow reads EXIF leniently: a truncated IFD, an entry of an unknown type or a value pointing
past the end of the block only emit a ``UserWarning`` and the tags that could be read are used,
and an orientation of the wrong type or out of range is silently ignored. dscref applies the
orientation to every image, so it refuses such files instead (:class:`~dscref.errors.ImageError`
naming the file): the first IFD (IFD0, which holds the orientation) must be complete, every entry
of a known TIFF type with its value inside the block, and the orientation one SHORT (or LONG)
between 1 and 8 (TIFF 6.0 / EXIF 2.3). Sub-IFDs (Exif, GPS, maker notes) do not affect the pixels
and are not checked.
"""

from __future__ import annotations

import numbers
import os
import struct

from ..errors import ImageError

__all__ = ["check_exif", "check_tiff_file", "check_orientation"]

ORIENTATION = 0x0112

#: Bytes per value of each TIFF field type (TIFF 6.0 types 1-12, 13 = IFD, 16-18 = BigTIFF's).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
               16: 8, 17: 8, 18: 8}

#: What Pillow raises while parsing a malformed EXIF block.
EXIF_PARSE_ERRORS = (struct.error, SyntaxError, ValueError, TypeError, KeyError, IndexError,
                     EOFError, OSError)


def check_orientation(value, what: str) -> None:
    """Raise ImageError unless ``value`` is an integer orientation 1..8."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= 8:
        raise ImageError(f"{what} has an invalid EXIF orientation {value!r} "
                         f"({type(value).__name__}), expected an integer 1..8")


def _read(src, offset: int, n: int) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[offset:offset + n])
    src.seek(offset)
    return src.read(n)


def _check_ifd0(src, size: int, what: str, label: str) -> None:
    """Validate the TIFF header and first IFD of ``src`` (bytes, or a binary file of ``size``)."""
    if size < 8:
        raise ImageError(f"{what}: {label} is truncated ({size} bytes, a TIFF header needs 8)")
    head = _read(src, 0, 8)
    if head[:2] not in (b"II", b"MM"):
        raise ImageError(f"{what}: {label} has an invalid byte order {head[:2]!r} "
                         f"(expected b'II' or b'MM')")
    e = "<" if head[:2] == b"II" else ">"
    magic, off = struct.unpack(e + "HI", head[2:8])
    if magic == 43:  # BigTIFF (TIFF files only): left to Pillow, the orientation is still checked
        return
    if magic != 42:
        raise ImageError(f"{what}: {label} has an invalid TIFF magic number {magic} (expected 42)")
    if off < 8 or off + 2 > size:
        raise ImageError(f"{what}: {label} puts its first IFD at offset {off}, outside its "
                         f"{size} bytes")
    (n,) = struct.unpack(e + "H", _read(src, off, 2))
    if off + 2 + 12 * n > size:
        raise ImageError(f"{what}: {label} has a truncated first IFD: {n} entries need "
                         f"{2 + 12 * n} bytes at offset {off}, only {size - off} remain")
    table = _read(src, off + 2, 12 * n)
    for k in range(n):
        tag, typ, count, value = struct.unpack(e + "HHI4s", table[12 * k:12 * k + 12])
        if typ not in _TYPE_SIZES:
            raise ImageError(f"{what}: {label} has tag 0x{tag:04x} of invalid type {typ}")
        nbytes = _TYPE_SIZES[typ] * count
        if nbytes > 4:
            (voff,) = struct.unpack(e + "I", value)
            if voff + nbytes > size:
                raise ImageError(f"{what}: {label} has tag 0x{tag:04x} whose {count} value(s) "
                                 f"at offset {voff} run past its {size} bytes (truncated)")
        if tag == ORIENTATION:
            if typ not in (3, 4) or count != 1:
                raise ImageError(f"{what} has an invalid EXIF orientation tag of type {typ} and "
                                 f"count {count}, expected one SHORT")
            (v,) = struct.unpack(e + ("H" if typ == 3 else "I"), value[:2 if typ == 3 else 4])
            check_orientation(v, what)


def check_tiff_file(path, what: str) -> None:
    """Validate the header and first IFD of the TIFF file ``path`` (read without decoding)."""
    with open(path, "rb") as fh:
        _check_ifd0(fh, os.fstat(fh.fileno()).st_size, what, "its TIFF header")


def check_exif(img, what: str) -> None:
    """Validate the EXIF block of the PIL image ``img`` (if any) and its orientation tag.

    Raises
    ------
    ImageError
        Malformed EXIF (see the module notes) or an orientation that is not an integer 1..8.
    """
    raw = img.info.get("exif")
    if isinstance(raw, (bytes, bytearray)) and raw:
        data = raw[6:] if raw[:6] == b"Exif\x00\x00" else raw
        _check_ifd0(data, len(data), what, "its EXIF block")
    # Whatever the source (EXIF block, TIFF tags, PNG text profile), the value Pillow acts on.
    try:
        value = img.getexif().get(ORIENTATION)
    except EXIF_PARSE_ERRORS as exc:
        raise ImageError(f"{what} has a malformed EXIF block: {exc}") from exc
    if value is not None:
        check_orientation(value, what)
