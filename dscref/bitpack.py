"""Bit packing of unsigned integers, MSB first, and byte <-> bit-array conversion.

The semantic code head of Wang & Qi (section III-B) stores the top-5 of K=1000 labels in
10 bits each: 50 bits, packed MSB first into ``ceil(50 / 8) = 7`` bytes with 6 zero pad bits.
:func:`pack` / :func:`unpack` do this for any width 1..16; :func:`bytes_to_bits` /
:func:`bits_to_bytes` turn bytes into the 0/1 arrays a digital modem sends.

Examples
--------
>>> from dscref.bitpack import pack, unpack
>>> buf = pack([1, 2, 999, 0, 512], width=10)
>>> len(buf)
7
>>> unpack(buf, width=10, count=5).tolist()
[1, 2, 999, 0, 512]
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bits, as_int_array, check_int

__all__ = ["packed_nbytes", "pack", "unpack", "bytes_to_bits", "bits_to_bytes"]


def packed_nbytes(count: int, width: int) -> int:
    """Bytes needed for ``count`` values of ``width`` bits: ``ceil(count * width / 8)``."""
    count = check_int(count, "count", low=0)
    width = check_int(width, "width", low=1, high=16)
    return (count * width + 7) // 8


def pack(values, width: int) -> np.ndarray:
    """Pack unsigned integers into bytes, MSB first.

    Parameters
    ----------
    values : array-like of int, shape (count,) or (n, count)
        Values in ``[0, 2**width)``. A 2-D input packs each row separately (one head per row).
    width : int
        Bits per value, 1..16.

    Returns
    -------
    ndarray of uint8, shape (ceil(count*width/8),) or (n, ceil(count*width/8))

    Raises
    ------
    ValueError
        If ``width`` is outside 1..16 or a value is negative or needs more than ``width`` bits.
    TypeError
        If ``values`` are not integers.
    """
    width = check_int(width, "width", low=1, high=16)
    arr = np.asarray(values)
    if arr.ndim not in (1, 2):
        raise ValueError(f"values must be 1-D or 2-D, got shape {arr.shape}")
    v = as_int_array(arr, "values", ndim=arr.ndim, low=0, high=1 << width)
    from ._kernels import bitpack as kern

    nbytes = packed_nbytes(v.shape[-1], width)
    if v.ndim == 1:
        out = np.zeros(nbytes, dtype=np.uint8)
        kern.pack_row(v, width, out)
    else:
        out = np.zeros((v.shape[0], nbytes), dtype=np.uint8)
        kern.pack_rows(v, width, out)
    return out


def _as_byte_array(buf, name: str = "buf") -> np.ndarray:
    if isinstance(buf, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(buf), dtype=np.uint8)
    arr = np.asarray(buf)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be bytes or a uint8 array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def unpack(buf, width: int, count: int) -> np.ndarray:
    """Unpack ``count`` unsigned integers of ``width`` bits from ``buf`` (inverse of :func:`pack`).

    Parameters
    ----------
    buf : bytes or ndarray of uint8, shape (nbytes,) or (n, nbytes)
        Exactly ``ceil(count*width/8)`` bytes (per row).
    width : int
        Bits per value, 1..16.
    count : int
        Number of values per row.

    Returns
    -------
    ndarray of int64, shape (count,) or (n, count)

    Raises
    ------
    ValueError
        If the buffer is shorter (truncated) or longer than ``ceil(count*width/8)`` bytes.
    """
    width = check_int(width, "width", low=1, high=16)
    count = check_int(count, "count", low=0)
    b = _as_byte_array(buf)
    if b.ndim not in (1, 2):
        raise ValueError(f"buf must be 1-D or 2-D, got shape {b.shape}")
    need = packed_nbytes(count, width)
    have = b.shape[-1]
    if have < need:
        raise ValueError(f"buf is truncated: {count} values of {width} bits need {need} bytes, got {have}")
    if have > need:
        raise ValueError(f"buf has {have} bytes but {count} values of {width} bits occupy exactly {need}")
    from ._kernels import bitpack as kern

    if b.ndim == 1:
        out = np.empty(count, dtype=np.int64)
        kern.unpack_row(b, width, count, out)
    else:
        out = np.empty((b.shape[0], count), dtype=np.int64)
        kern.unpack_rows(b, width, count, out)
    return out


def bytes_to_bits(buf) -> np.ndarray:
    """Bytes -> uint8 array of 0/1, MSB of each byte first (length ``8 * len(buf)``)."""
    b = _as_byte_array(buf)
    return np.unpackbits(b, axis=-1)


def bits_to_bytes(bits) -> np.ndarray:
    """uint8/int array of 0/1 (length a multiple of 8 along the last axis) -> uint8 bytes, MSB first.

    Raises
    ------
    ValueError
        If an entry is not 0 or 1, or the length is not a multiple of 8.
    """
    arr = as_bits(bits, "bits", ndim=None) if np.ndim(bits) else np.asarray(bits)
    if arr.ndim == 0 or arr.shape[-1] % 8:
        raise ValueError(f"bit count {arr.shape[-1] if arr.ndim else 0} is not a multiple of 8; pad explicitly")
    return np.packbits(arr, axis=-1)
