"""Numba kernels for MSB-first bit packing of unsigned integers (width 1..16 bits)."""

import numba as nb
import numpy as np

from .._threads import parallel_kernel


@nb.njit(cache=True)
def pack_row(values, width, out):
    """Pack ``values`` (IN, int64, each < 2**width) MSB-first into ``out`` (OUT, uint8, zeroed).

    A running accumulator receives ``width`` bits per value and flushes whole bytes; the last
    partial byte is padded with zero bits on the right.
    """
    acc = np.int64(0)
    nacc = 0
    j = 0
    for i in range(values.shape[0]):
        acc = (acc << width) | values[i]
        nacc += width
        while nacc >= 8:
            nacc -= 8
            out[j] = (acc >> nacc) & 0xFF
            j += 1
        acc &= (np.int64(1) << nacc) - 1  # keep only the bits not yet written
    if nacc > 0:
        out[j] = (acc << (8 - nacc)) & 0xFF


@nb.njit(cache=True)
def unpack_row(buf, width, count, out):
    """Inverse of :func:`pack_row`: read ``count`` values of ``width`` bits from ``buf`` (IN, uint8)."""
    acc = np.int64(0)
    nacc = 0
    j = 0
    mask = (np.int64(1) << width) - 1
    for i in range(count):
        while nacc < width:
            acc = (acc << 8) | buf[j]
            j += 1
            nacc += 8
        nacc -= width
        out[i] = (acc >> nacc) & mask
        acc &= (np.int64(1) << nacc) - 1


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def pack_rows(values, width, out):
    """Row-wise :func:`pack_row`: values (n, c) int64 -> out (n, nbytes) uint8, rows independent."""
    for r in nb.prange(values.shape[0]):
        pack_row(values[r], width, out[r])


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def unpack_rows(buf, width, count, out):
    """Row-wise :func:`unpack_row`: buf (n, nbytes) uint8 -> out (n, count) int64."""
    for r in nb.prange(buf.shape[0]):
        unpack_row(buf[r], width, count, out[r])
