"""The array section of a :mod:`dscref.io` index file: its table entries, reading, padding.

Every array is stored C-contiguous and little-endian at a 64-byte aligned offset after the
64-byte header; the manifest's ``arrays`` table gives, per array, ``offset``, ``nbytes``,
``dtype``, ``shape`` and ``crc32``. :func:`array_spec` validates one table entry against the
data section, :func:`open_arrays` reads (or memory-maps) every array and checks its crc32 when
asked, :func:`check_padding` checks that the bytes between arrays are zero. Every problem is an
:class:`~dscref.errors.IndexFormatError` naming the file and the array.
"""

from __future__ import annotations

import math
import mmap as _mmap
import zlib

import numpy as np

from ._statetree import ARRAY_KINDS
from .errors import IndexFormatError

__all__ = ["ALIGN", "HEADER_SIZE", "MAX_NDIM", "pad", "array_spec", "open_arrays", "check_padding"]

ALIGN = 64
HEADER_SIZE = 64
MAX_NDIM = 32  # rank limit of a stored array (index arrays have at most 3 dimensions)


def pad(n: int) -> int:
    """Zero bytes after ``n`` bytes of data up to the next ``ALIGN`` boundary."""
    return -n % ALIGN


def array_spec(key, spec, where: str, data_end: int):
    """Validate one entry of the array table: returns (dtype, shape, offset, nbytes, crc)."""
    def bad(msg):
        return IndexFormatError(f"index file {where!r}: array {str(key)[:80]!r}: {msg}")

    if not isinstance(spec, dict):
        raise bad("entry is not a JSON object")
    try:
        if not isinstance(spec.get("dtype"), str):
            raise TypeError("not a string")
        dtype = np.dtype(spec["dtype"])
    except (TypeError, ValueError) as exc:
        raise bad(f"invalid dtype {str(spec.get('dtype'))[:40]!r}") from exc
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.byteorder == ">":
        raise bad(f"unsupported dtype {dtype.str!r}")
    shape, off, nbytes, crc = spec.get("shape"), spec.get("offset"), spec.get("nbytes"), spec.get("crc32")
    if not (isinstance(shape, list) and len(shape) <= MAX_NDIM and all(type(s) is int and s >= 0 for s in shape)):
        raise bad(f"invalid shape {str(shape)[:80]} (at most {MAX_NDIM} non-negative int dimensions)")
    # numpy refuses an array, even an empty one, whose non-zero dimensions overflow its size
    if math.prod(max(s, 1) for s in shape) * dtype.itemsize >= 1 << 62:
        raise bad(f"absurd shape {str(shape)[:80]}")
    for name, v in (("offset", off), ("nbytes", nbytes), ("crc32", crc)):
        if type(v) is not int or v < 0 or (name == "crc32" and v >= 1 << 32):
            raise bad(f"invalid {name} {str(v)[:40]!r}")
    count = math.prod(shape)
    if count * dtype.itemsize != nbytes:
        raise bad(f"shape {shape} x dtype {dtype.str} needs {count * dtype.itemsize} bytes, "
                  f"the table says {nbytes}")
    if off < HEADER_SIZE or off % ALIGN or off + nbytes > data_end:
        raise bad(f"bytes [{off}, {off + nbytes}) lie outside the data section [{HEADER_SIZE}, {data_end}) "
                  f"(truncated or corrupt file)")
    return dtype, tuple(shape), off, nbytes, crc


def open_arrays(f, manifest: dict, where: str, use_mmap: bool, verify: bool) -> dict:
    specs = {key: array_spec(key, spec, where, manifest["_data_end"])
             for key, spec in manifest["arrays"].items()}
    arrays = {}
    mm = None
    if use_mmap and specs:
        mm = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
    for key, (dtype, shape, off, nbytes, crc) in specs.items():
        if mm is not None:
            a = np.frombuffer(mm, dtype=dtype, count=nbytes // dtype.itemsize, offset=off).reshape(shape)
        else:
            a = np.empty(shape, dtype=dtype)
            f.seek(off)
            got = f.readinto(memoryview(a.reshape(-1)).cast("B")) if nbytes else 0
            if got != nbytes:
                raise IndexFormatError(f"index file {where!r}: array {key!r} is truncated "
                                       f"({got} of {nbytes} bytes)")
        if verify:
            got = zlib.crc32(memoryview(a.reshape(-1)).cast("B")) if nbytes else 0
            if got != crc:
                raise IndexFormatError(f"index file {where!r}: array {key!r} checksum mismatch "
                                       f"(crc32 {got:#010x}, manifest says {crc:#010x})")
        arrays[key] = a
    manifest["_specs"] = specs
    return arrays


def check_padding(f, manifest: dict, where: str) -> None:
    """The bytes between arrays must be zero, so verify=True vouches for every byte of the file."""
    pos = HEADER_SIZE
    extents = sorted((off, nbytes) for _, _, off, nbytes, _ in manifest["_specs"].values())
    for off, nbytes in extents + [(manifest["_data_end"], 0)]:
        if off > pos:
            f.seek(pos)
            if any(f.read(off - pos)):
                raise IndexFormatError(f"index file {where!r}: bytes [{pos}, {off}) between arrays are "
                                       f"not zero padding (corrupt file)")
        pos = max(pos, off + nbytes)
