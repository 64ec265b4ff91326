"""Row-chunked helpers that keep memory bounded when the database is a memory-mapped file.

Building an index reads the (n, d) float32 database several times (finiteness check, partition
sums, coarse assignment, residual encoding). For an ``np.load(..., mmap_mode="r")`` array no
copy is made, but every page read stays mapped into the process and counts towards its resident
set: 1M x 2048 features would add 8 GiB of resident file pages. :func:`release_pages` tells the
kernel (``madvise(MADV_DONTNEED)``) that the pages already read are not needed any more; they
stay in the page cache, are simply no longer mapped, and are faulted in again if touched.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["CHUNK_ROWS", "release_pages", "gather_rows", "gather_residuals", "gather_subspaces"]

# Rows per chunk: 16384 x 2048 float32 = 128 MiB per temporary. A multiple of the kernels'
# 1024-row BLAS blocks, so chunking never changes which rows share a block.
CHUNK_ROWS = 16384

# Rows per random gather from a memory map: every faulted row maps its neighbourhood (fault-
# around, 64 KiB), so a gather of G scattered rows maps up to G x 64 KiB before its pages are
# released; 2048 rows bound that at 128 MiB.
GATHER_ROWS = 2048


def _shared_mapping(x):
    """The mmap.mmap object behind ``x`` if ``x`` views a shared (not copy-on-write) np.memmap."""
    base, seen_memmap = x, False
    while base is not None:
        if isinstance(base, np.memmap):
            if base.mode not in ("r", "r+", "w+"):  # "c": private pages may hold the only copy of data
                return None
            seen_memmap = True
        if isinstance(base, mmap.mmap):
            return base if seen_memmap else None
        base = getattr(base, "base", None)
    return None


def release_pages(x) -> None:
    """Drop this process's resident pages of the memory map behind ``x`` (no-op for other arrays).

    Only shared mappings made by :class:`numpy.memmap` (``mmap_mode`` "r", "r+", "w+") are
    touched: their data lives in the page cache / file, so nothing is lost.
    """
    mm = _shared_mapping(x)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed map or unsupported platform: only a memory hint
        pass


def gather_residuals(x: np.ndarray, rows: np.ndarray, centroids: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """``x[rows] - centroids[lists]`` (len(rows), d) float32, built chunk by chunk.

    The one-line expression allocates three full-size temporaries (the gathered rows, the
    gathered centroids, the difference); this allocates only the result plus one chunk, and
    releases the pages of a memory-mapped ``x`` after every chunk. Bit-identical result.
    """
    out = np.empty((rows.size, x.shape[1]), dtype=np.float32)
    for s in range(0, rows.size, GATHER_ROWS):
        e = min(s + GATHER_ROWS, rows.size)
        out[s:e] = x[rows[s:e]]
        out[s:e] -= centroids[lists[s:e]]
        release_pages(x)
    return out


def gather_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` as a new C-contiguous float32 array, gathered chunk by chunk.

    A random sub-sample of a memory map touches nearly every page (the kernel maps pages around
    each fault), so gathering 25 % of the rows in one go makes the whole file resident; releasing
    the pages after every chunk keeps the peak at one chunk's worth. Same result as ``x[rows]``.
    """
    out = np.empty((rows.size, x.shape[1]), dtype=np.float32)
    for s in range(0, rows.size, GATHER_ROWS):
        out[s:s + GATHER_ROWS] = x[rows[s:s + GATHER_ROWS]]
        release_pages(x)
    return out


def gather_subspaces(x: np.ndarray, rows: np.ndarray | None, M: int) -> np.ndarray:
    """``x[rows]`` (all rows when ``rows`` is None) stored sub-space by sub-space: (M, r, d / M)
    float32 with ``out[m, i] = x[rows[i], m*dsub:(m+1)*dsub]``, gathered chunk by chunk (no
    full-size temporary; the pages of a memory-mapped ``x`` are released after every chunk)."""
    n, d = x.shape
    dsub = d // M
    r = n if rows is None else rows.size
    out = np.empty((M, r, dsub), dtype=np.float32)
    for s in range(0, r, GATHER_ROWS):
        e = min(s + GATHER_ROWS, r)
        block = x[s:e] if rows is None else x[rows[s:e]]
        out[:, s:e] = block.reshape(e - s, M, dsub).transpose(1, 0, 2)
        release_pages(x)
    return out
