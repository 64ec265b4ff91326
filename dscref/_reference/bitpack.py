"""NumPy twins of the bit-packing kernels (see :mod:`dscref._reference`)."""
from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- bit packing


def pack_ref(values: np.ndarray, width: int) -> np.ndarray:
    """MSB-first packing: expand each value into ``width`` bits, concatenate, ``np.packbits``."""
    values = np.asarray(values, dtype=np.int64)
    shifts = np.arange(width - 1, -1, -1)
    bits = ((values[..., None] >> shifts) & 1).astype(np.uint8)
    bits = bits.reshape(*values.shape[:-1], values.shape[-1] * width)
    return np.packbits(bits, axis=-1)


def unpack_ref(buf: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_ref`: unpack bits, regroup by ``width``, weight by powers of two."""
    bits = np.unpackbits(np.asarray(buf, dtype=np.uint8), axis=-1)[..., : count * width]
    bits = bits.reshape(*bits.shape[:-1], count, width).astype(np.int64)
    weights = np.int64(1) << np.arange(width - 1, -1, -1)
    return bits @ weights
