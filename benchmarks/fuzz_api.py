"""Fuzz dscref's public API: only ValueError / TypeError subclasses may escape, and no NaN comes out.

Every public callable of ``scoring``, ``pq``, ``kmeans``, ``bitpack``, ``channel``, ``codec``,
``robust`` and ``link`` (enumerated from each module's ``__all__``: functions, classes and their public
methods) and ``search`` / ``encode_query`` of every index class gets a *driver*: a function that
draws one call from a seeded generator. A driver starts from valid arguments (small fitted
objects built once) and replaces each with probability ~1/3 by a mutation of it (another dtype,
shape, a NaN / inf / -0.0 / 1e38 / 1e-45 / huge integer planted in it, an empty or 0-d or
non-contiguous or read-only version) or by a hostile value (bool, int8 .. uint64, float16,
complex, object and str arrays of random shapes; None, strings, bytes, 10**30, 2**64, NaN ...).

Contract checked per call: the call returns, or raises a ``ValueError`` / ``TypeError``
(``dscref.errors`` are ValueErrors). Anything else -- IndexError, ZeroDivisionError,
OverflowError, MemoryError, AttributeError, a Numba error -- is a failure, and so is a float
array holding NaN anywhere in the result (the library never returns NaN). A target without a
driver is a failure too, so a new public function cannot be forgotten.

Iteration counts (``n_init``, ``n_restarts``) are drawn small: a huge count is a valid (slow)
request, not an input error. Calls are reproducible: call ``i`` uses
``numpy.random.default_rng([seed, i])``.

    PYTHONPATH=. python benchmarks/fuzz_api.py --calls 100000 --seed 0 --out fuzz_api.json

``tests/test_fuzz_api.py`` runs a bounded version of the same drivers in CI.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import inspect
import json
import logging
import os
import platform
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

MODULES = ("scoring", "pq", "kmeans", "bitpack", "channel", "codec", "robust", "link", "convcode", "crc")
INDEX_KINDS = ("dsc", "ivf", "flat", "imi", "gp")

# ----------------------------------------------------------------------------- hostile values
_DTYPES = [np.bool_, np.int8, np.uint8, np.uint16, np.int32, np.int64, np.uint64, np.float16, np.float32,
           np.float64, np.complex128, object, str]
_SIZES = [0, 1, 2, 3, 4, 5, 8, 16, 17, 24, 64]
_EXTREME_FLOATS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e38, -1e38, 3.5e38, 1e-45, 1e-300, 1e300,
                   1e19, -1e19, 5e-324]
_EXTREME_INTS = [0, 1, -1, 2, 3, 255, 256, 1023, 1024, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 62,
                 -(2 ** 63), 2 ** 63 - 1, 10 ** 12]
_SCALARS = [None, "a", "", "l2", b"\x00\x01", True, False, 0, 1, -1, 2, 3, 7, 10 ** 12, 10 ** 30, -(10 ** 30),
            2 ** 63, 2 ** 64, 0.5, -0.0, float("nan"), float("inf"), float("-inf"), 1e38, 1e-45, 1e308,
            1 + 2j, np.float32(0.5), np.float16("nan"), np.int64(3), np.uint64(2 ** 64 - 1), np.int8(-1),
            np.bool_(True), np.complex64(1j), np.float64(1e300), [], [1, 2], [[1], [2, 3]], {"a": 1},
            object(), slice(1), Ellipsis]


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _random_shape(rng):
    nd = int(rng.choice([0, 1, 1, 2, 2, 3]))
    return tuple(int(_pick(rng, _SIZES)) for _ in range(nd))


def _fill(rng, shape, dtype):
    n = int(np.prod(shape)) if shape else 1
    dt = np.dtype(dtype)
    if dt.kind == "O":
        pool = [1, 2.5, None, "x", 1j, [1], 10 ** 30]
        return np.array([_pick(rng, pool) for _ in range(n)] + [None], dtype=object)[:n].reshape(shape)
    if dt.kind == "U":
        return np.array([_pick(rng, ["", "a", "1", "nan", "1e9"]) for _ in range(n)], dtype=str).reshape(shape)
    if dt.kind == "b":
        return (rng.random(shape) < 0.5) if shape else np.bool_(rng.random() < 0.5)
    mode = rng.integers(4)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if mode == 0:
            a = rng.integers(0, 4, shape)
        elif mode == 1:
            a = rng.integers(max(info.min, -(2 ** 62)), min(info.max, 2 ** 62), shape, dtype=np.int64)
        elif mode == 2:
            a = np.zeros(shape, dtype=np.int64)
        else:
            a = rng.integers(0, 300, shape)
        out = np.asarray(a).astype(dt)
        if out.size and rng.random() < 0.5:
            out.flat[int(rng.integers(out.size))] = _pick(rng, [info.min, info.max, 0, 1])
        return out
    if mode == 0:
        a = rng.standard_normal(shape)
    elif mode == 1:
        a = np.zeros(shape)
    elif mode == 2:
        a = rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40)
    else:
        a = rng.integers(0, 3, shape).astype(np.float64)
    with np.errstate(all="ignore"):
        if dt.kind == "c":
            out = (np.asarray(a) + 1j * np.asarray(a)).astype(dt)
        else:
            out = np.asarray(a).astype(dt)
        if out.size and rng.random() < 0.6:
            out.flat[int(rng.integers(out.size))] = _pick(rng, _EXTREME_FLOATS)
    return out


def hostile(rng):
    """A random value that no public function should accept silently (or any value at all)."""
    r = rng.random()
    if r < 0.35:
        return _pick(rng, _SCALARS)
    shape = _random_shape(rng)
    if int(np.prod(shape)) > 5000:
        shape = shape[:1]
    return _fill(rng, shape, _pick(rng, _DTYPES))


def mutate(rng, value):
    """A near miss of a valid ``value``: another dtype / shape, an extreme value planted, ..."""
    if not isinstance(value, np.ndarray):
        if isinstance(value, bool):
            return _pick(rng, [1, 0, "True", None, np.bool_(value)])
        if isinstance(value, int):
            return _pick(rng, [value + 1, value - 1, -value, 0, -1, value * 10 ** 12, 2 ** 64, float(value),
                               float(value) + 0.5, np.int64(value), np.uint8(abs(value) % 256), str(value), None])
        if isinstance(value, float):
            return _pick(rng, [np.float32(value), np.float16(value), -value, value * 1e300, float("nan"),
                               float("inf"), float("-inf"), -0.0, 1e-45, str(value), 1e308,
                               int(value) if np.isfinite(value) else 10 ** 400])
        if isinstance(value, str):
            return _pick(rng, [value.upper(), value + " ", "", None, value.encode(), [value]])
        return hostile(rng)
    a = value
    choice = int(rng.integers(11))
    with np.errstate(all="ignore"):
        if choice == 0:  # another dtype
            try:
                return a.astype(_pick(rng, _DTYPES))
            except (ValueError, TypeError, OverflowError):
                return hostile(rng)
        if choice == 1 and a.size:  # plant an extreme value
            b = a.astype(np.float64) if a.dtype.kind in "biu" and rng.random() < 0.5 else a.copy()
            v = _pick(rng, _EXTREME_FLOATS) if b.dtype.kind in "fc" else _pick(rng, _EXTREME_INTS)
            try:
                b.flat[int(rng.integers(b.size))] = v
            except (OverflowError, ValueError, TypeError):
                pass
            return b
        if choice == 2:  # empty along the first axis
            return a[:0] if a.ndim else a.reshape(1)[:0]
        if choice == 3:  # one dimension more or less
            return a[None] if rng.random() < 0.5 or a.ndim == 0 else a.reshape(-1) if a.ndim > 1 else a[0] if a.size else a
        if choice == 4:  # 0-d
            return a.reshape(-1)[0].copy() if a.size else np.array(1.0)
        if choice == 5:  # non-contiguous / reversed view
            return a[::-1] if a.ndim == 1 else a[:, ::2] if a.ndim > 1 else a
        if choice == 6:  # read-only
            b = a.copy()
            b.setflags(write=False)
            return b
        if choice == 7:  # byte-swapped dtype
            return a.astype(a.dtype.newbyteorder()) if a.dtype.kind in "iufc" and a.dtype.itemsize > 1 else a
        if choice == 8:  # a different length
            return np.concatenate([a, a[:1]]) if a.ndim and a.shape[0] else a
        if choice == 9 and a.dtype.kind in "iu" and a.size:  # out of range integers
            b = a.astype(np.int64)
            b.flat[int(rng.integers(b.size))] = _pick(rng, [-1, 256, 65536, 2 ** 40, -(2 ** 63)])
            return b
        if choice == 10 and a.dtype.kind == "f" and a.size:  # huge magnitudes
            return a * _pick(rng, [1e19, 1e30, 1e38, 1e300])
    return hostile(rng)


def arg(rng, valid, p: float = 0.3):
    """``valid`` (a value or a thunk), replaced with probability ``p`` by a mutation or a hostile value."""
    v = valid() if callable(valid) and not isinstance(valid, type) else valid
    r = rng.random()
    if r < p / 2:
        return hostile(rng)
    if r < p:
        return mutate(rng, v)
    return v


def small_int(rng, valid: int, hi: int = 6):
    """An iteration count: valid, or a small wrong value (never a huge one: cost, not validity)."""
    r = rng.random()
    if r < 0.15:
        return _pick(rng, [0, -1, 1.5, "2", None, True, np.int64(2), np.float32(2.0)])
    if r < 0.3:
        return int(rng.integers(1, hi + 1))
    return valid


# ----------------------------------------------------------------------------- fixtures
class Context:
    """Small fitted objects shared by the drivers (built once, never mutated by a call)."""

    def __init__(self, seed: int = 0):
        from dscref import robust
        from dscref.codec import PayloadLayout, encode_payload
        from dscref.index.flat import FlatPQIndex
        from dscref.index.gp import GPIndex
        from dscref.index.imi import IMIIndex
        from dscref.index.ivf import IVFIndex
        from dscref.index.semantic import SemanticIndex
        from dscref.kmeans import KMeans
        from dscref.pq import ProductQuantizer

        rng = np.random.default_rng(seed)
        self.d = 16
        self.x = rng.standard_normal((400, self.d)).astype(np.float32)
        self.labels = rng.integers(0, 6, 400)
        self.labels[self.labels == 4] = 5  # an empty partition
        self.km = KMeans(4, n_iter=3, seed=0).fit(self.x)
        self.pq = ProductQuantizer(4, nbits=4, n_iter=3, seed=0).fit(self.x)
        self.pq9 = ProductQuantizer(2, nbits=9, n_iter=2, seed=0).fit(self.x[:300])  # uint16 codes
        self.pq16 = ProductQuantizer(2, nbits=16, seed=0).fit(self.x[:20])  # 65536 codewords (repeats)
        self.indexes = {
            "dsc": SemanticIndex(6, M=4, nbits=4, n_iter=2, seed=0, progress=False,
                                 keep_vectors=True).build(self.x, self.labels),
            "ivf": IVFIndex(5, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(self.x),
            "flat": FlatPQIndex(M=4, nbits=4, n_iter=2, seed=0).build(self.x),
            "imi": IMIIndex(3, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(self.x),
            "gp": GPIndex(5, n_neighbors=2, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(self.x),
        }
        self.dsc = self.indexes["dsc"]
        self.layout = PayloadLayout.for_index(self.dsc, 3)
        self.flat_layout = PayloadLayout.for_index(self.indexes["flat"])
        self.query = self.dsc.encode_query(self.x[0], [1, 2, 3])
        self.flat_query = self.indexes["flat"].encode_query(self.x[0])
        self.payload = encode_payload(self.query, self.layout)
        self.order = robust.robust_label_order(self.dsc, n_iter=20)
        self.perm = robust.robust_permutation(self.pq, 0.05, n_iter=10)
        self.rlayouts = {s: robust.RobustLayout(self.layout, s) for s in sorted(robust.HEAD_SCHEMES)}
        self.sdc = self.pq.sdc_table()
        self.lut = self.pq.lut_l2(self.x[0])
        self.codes = self.pq.encode(self.x[:50])
        from dscref.channel.jscc import LinearJSCC

        # linear analog JSCC: 3 complex uses, one PCA per partition with >= 60 rows
        self.jscc = LinearJSCC(3, 5.0, n_components=8, min_group_size=60).fit(self.x, self.labels)


# ----------------------------------------------------------------------------- drivers
DRIVERS: dict = {}


def driver(*names):
    def deco(fn):
        for n in names:
            DRIVERS[n] = fn
        return fn
    return deco


def _luts(rng, c, batch):
    lut = c.pq.lut_l2(c.x[:3]) if batch else c.lut
    return lut.astype(_pick(rng, [np.float32, np.float64])) if rng.random() < 0.2 else lut


# scoring ---------------------------------------------------------------------
@driver("scoring.adc_l2")
def _(rng, c, t=None):
    from dscref import scoring
    return scoring.adc_l2, (arg(rng, _luts(rng, c, rng.random() < 0.5)), arg(rng, c.codes)), {}


@driver("scoring.adc_l2_topk")
def _(rng, c, t=None):
    from dscref import scoring
    return scoring.adc_l2_topk, (arg(rng, _luts(rng, c, rng.random() < 0.5)), arg(rng, c.codes),
                                 arg(rng, int(rng.integers(1, 70)))), {}


@driver("scoring.adc_cosine")
def _(rng, c, t=None):
    from dscref import scoring
    n = c.codes.shape[0]
    return scoring.adc_cosine, (arg(rng, c.lut), arg(rng, c.codes), arg(rng, 0.5), arg(rng, 2.0),
                                arg(rng, lambda: rng.random(n).astype(np.float32) + 0.1)), {}


@driver("scoring.topk")
def _(rng, c, t=None):
    from dscref import scoring
    shape = (int(rng.integers(0, 40)),) if rng.random() < 0.5 else (3, int(rng.integers(0, 40)))
    kw = {"largest": arg(rng, bool(rng.random() < 0.5))}
    if len(shape) == 1 and rng.random() < 0.3:
        kw["ids"] = arg(rng, lambda: rng.permutation(shape[0]).astype(np.int64))
    return scoring.topk, (arg(rng, lambda: rng.standard_normal(shape).astype(np.float32)),
                          arg(rng, int(rng.integers(1, 50)))), kw


# pq --------------------------------------------------------------------------
def _pq_params(rng):
    return dict(M=arg(rng, _pick(rng, [1, 2, 4])), nbits=arg(rng, int(rng.integers(1, 6))),
                n_iter=small_int(rng, 2), seed=arg(rng, 0),
                init=arg(rng, _pick(rng, ["random", "k-means++"])),
                max_points_per_centroid=arg(rng, _pick(rng, [None, 8, 256])))


@driver("pq.ProductQuantizer")
def _(rng, c, t=None):
    from dscref.pq import ProductQuantizer
    return ProductQuantizer, (), _pq_params(rng)


@driver("pq.ProductQuantizer.fit")
def _(rng, c, t=None):
    from dscref.pq import ProductQuantizer
    p = {k: v for k, v in _pq_params(rng).items()}
    try:
        pq = ProductQuantizer(**p)
    except (ValueError, TypeError):
        pq = ProductQuantizer(2, 3, n_iter=2, seed=0)
    n = int(rng.integers(1, 120))
    return pq.fit, (arg(rng, lambda: c.x[:n]),), {}


def _fitted_pq(rng, c):
    r = rng.random()
    return c.pq9 if r < 0.15 else c.pq16 if r < 0.25 else c.pq


@driver("pq.ProductQuantizer.encode")
def _(rng, c, t=None):
    pq = _fitted_pq(rng, c)
    return pq.encode, (arg(rng, lambda: c.x[:int(rng.integers(0, 30))]),), {}


@driver("pq.ProductQuantizer.decode")
def _(rng, c, t=None):
    pq = _fitted_pq(rng, c)
    return pq.decode, (arg(rng, lambda: pq.encode(c.x[:int(rng.integers(0, 30))])),), {}


@driver("pq.ProductQuantizer.lut_l2", "pq.ProductQuantizer.lut_ip")
def _(rng, c, t=None):
    pq = _fitted_pq(rng, c)
    q = c.x[0] if rng.random() < 0.5 else c.x[:int(rng.integers(1, 5))]
    fn = pq.lut_l2 if t.endswith("lut_l2") else pq.lut_ip
    return fn, (arg(rng, q),), {}


@driver("pq.ProductQuantizer.sdc_table")
def _(rng, c, t=None):
    from dscref.pq import ProductQuantizer
    pq = _fitted_pq(rng, c) if rng.random() < 0.8 else ProductQuantizer(2)
    return pq.sdc_table, (), {}


# kmeans ----------------------------------------------------------------------
def _km_params(rng):
    return dict(n_clusters=arg(rng, int(rng.integers(1, 8))), n_iter=small_int(rng, 3), tol=arg(rng, 1e-4),
                init=arg(rng, _pick(rng, ["k-means++", "random"])), n_init=small_int(rng, 1, 3),
                seed=arg(rng, 0), max_points_per_centroid=arg(rng, _pick(rng, [None, 4, 256])))


@driver("kmeans.KMeans")
def _(rng, c, t=None):
    from dscref.kmeans import KMeans
    return KMeans, (), _km_params(rng)


@driver("kmeans.KMeans.fit", "kmeans.KMeans.fit_predict")
def _(rng, c, t=None):
    from dscref.kmeans import KMeans
    try:
        km = KMeans(**_km_params(rng))
    except (ValueError, TypeError):
        km = KMeans(3, n_iter=2, seed=0)
    n = int(rng.integers(1, 100))
    fn = km.fit if t.endswith(".fit") else km.fit_predict
    return fn, (arg(rng, lambda: c.x[:n]),), {}


@driver("kmeans.KMeans.predict")
def _(rng, c, t=None):
    from dscref.kmeans import KMeans
    km = c.km if rng.random() < 0.9 else KMeans(3)
    return km.predict, (arg(rng, lambda: c.x[:int(rng.integers(0, 30))]),), \
        {"return_distances": arg(rng, bool(rng.random() < 0.5))}


@driver("kmeans.relocate_empty_clusters")
def _(rng, c, t=None):
    from dscref.kmeans import relocate_empty_clusters
    n, k = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    x = c.x[:n].copy()
    labels = rng.integers(0, k, n).astype(np.int64)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    cent = rng.standard_normal((k, c.d)).astype(np.float32)
    dists = rng.random(n).astype(np.float32)
    return relocate_empty_clusters, (arg(rng, cent), arg(rng, counts), arg(rng, x), arg(rng, labels),
                                     arg(rng, dists)), {}


# bitpack ---------------------------------------------------------------------
@driver("bitpack.packed_nbytes")
def _(rng, c, t=None):
    from dscref import bitpack
    return bitpack.packed_nbytes, (arg(rng, int(rng.integers(0, 100))), arg(rng, int(rng.integers(1, 17)))), {}


@driver("bitpack.pack")
def _(rng, c, t=None):
    from dscref import bitpack
    w = int(rng.integers(1, 17))
    shape = (int(rng.integers(0, 12)),) if rng.random() < 0.5 else (3, int(rng.integers(0, 12)))
    return bitpack.pack, (arg(rng, lambda: rng.integers(0, 1 << w, shape)), arg(rng, w)), {}


@driver("bitpack.unpack")
def _(rng, c, t=None):
    from dscref import bitpack
    w, n = int(rng.integers(1, 17)), int(rng.integers(0, 12))
    buf = bitpack.pack(rng.integers(0, 1 << w, n), w)
    if rng.random() < 0.2:
        buf = bytes(buf)
    return bitpack.unpack, (arg(rng, buf), arg(rng, w), arg(rng, n)), {}


@driver("bitpack.bytes_to_bits")
def _(rng, c, t=None):
    from dscref import bitpack
    return bitpack.bytes_to_bits, (arg(rng, lambda: rng.integers(0, 256, int(rng.integers(0, 20))).astype(np.uint8)),), {}


@driver("bitpack.bits_to_bytes")
def _(rng, c, t=None):
    from dscref import bitpack
    return bitpack.bits_to_bytes, (arg(rng, lambda: rng.integers(0, 2, 8 * int(rng.integers(0, 6))).astype(np.uint8)),), {}


# channel ---------------------------------------------------------------------
def _snr(rng):
    return arg(rng, _pick(rng, [-10.0, 0.0, 5.0, 20.0, float("inf"), -300.0, 300.0]))


def _channel(rng):
    from dscref import channel as ch
    try:
        if rng.random() < 0.5:
            return ch.AWGN(_snr(rng))
        gains = None if rng.random() < 0.5 else arg(rng, lambda: rng.standard_normal(3) + 1j)
        return ch.RayleighBlock(_snr(rng), small_int(rng, int(rng.integers(1, 5))), gains=gains)
    except (ValueError, TypeError):
        return ch.AWGN(10.0)


def _modem(rng):
    return arg(rng, _pick(rng, ["bpsk", "qpsk", "16qam", "64qam", "256qam"]))


@driver("channel.AWGN")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.AWGN, (_snr(rng),), {}


@driver("channel.RayleighBlock")
def _(rng, c, t=None):
    from dscref import channel as ch
    gains = None if rng.random() < 0.4 else arg(rng, lambda: rng.standard_normal(int(rng.integers(1, 4))) + 0.5j)
    return ch.RayleighBlock, (_snr(rng), arg(rng, int(rng.integers(1, 9)))), {"gains": gains}


@driver("channel.as_modem")
def _(rng, c, t=None):
    from dscref import channel as ch
    m = _modem(rng) if rng.random() < 0.7 else arg(rng, ch.Modem("qpsk"))
    return ch.as_modem, (m,), {}


@driver("channel.check_channel")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.check_channel, (arg(rng, ch.AWGN(0.0)) if rng.random() < 0.5 else arg(rng, "awgn"),), {}


@driver("channel.Modem")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.Modem, (_modem(rng),), {}


@driver("channel.Modem.modulate")
def _(rng, c, t=None):
    from dscref import channel as ch
    m = ch.Modem(_pick(rng, ["bpsk", "qpsk", "16qam", "64qam", "256qam"]))
    return m.modulate, (arg(rng, lambda: rng.integers(0, 2, m.bits_per_symbol * int(rng.integers(0, 10)))),), {}


@driver("channel.Modem.demodulate")
def _(rng, c, t=None):
    from dscref import channel as ch
    m = ch.Modem(_pick(rng, ["bpsk", "qpsk", "16qam", "64qam", "256qam"]))
    n = int(rng.integers(0, 10))
    nv = _pick(rng, [0.1, 0.0, 1e-300, 1e30]) if rng.random() < 0.5 else rng.random(n)
    return m.demodulate, (arg(rng, lambda: rng.standard_normal(n) + 1j * rng.standard_normal(n)), arg(rng, nv)), \
        {"soft": arg(rng, bool(rng.random() < 0.6)), "exact": arg(rng, bool(rng.random() < 0.5))}


@driver("channel.AnalogResult", "channel.SymbolResult", "channel.BitResult")
def _(rng, c, t=None):
    from dscref import channel as ch
    cls = getattr(ch, t.split(".")[-1])
    n = len([f for f in cls.__dataclass_fields__])
    return cls, tuple(hostile(rng) for _ in range(n)), {}


@driver("channel.transmit_analog")
def _(rng, c, t=None):
    from dscref import channel as ch
    x = c.x[0] if rng.random() < 0.5 else c.x[:int(rng.integers(1, 4)), :int(rng.integers(1, 16))]
    return ch.transmit_analog, (arg(rng, x), _channel(rng) if rng.random() < 0.9 else hostile(rng)), \
        {"rng": arg(rng, 0), "complex_baseband": arg(rng, bool(rng.random() < 0.5))}


@driver("channel.transmit_symbols")
def _(rng, c, t=None):
    from dscref import channel as ch
    n = int(rng.integers(0, 12))
    return ch.transmit_symbols, (arg(rng, lambda: ch.Modem("qpsk").modulate(rng.integers(0, 2, 2 * n))),
                                 _channel(rng)), {"rng": arg(rng, 1)}


@driver("channel.transmit_bits")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.transmit_bits, (arg(rng, lambda: rng.integers(0, 2, int(rng.integers(0, 30)))), _modem(rng),
                              _channel(rng)), {"rng": arg(rng, 2), "soft": arg(rng, bool(rng.random() < 0.5)),
                                               "exact": arg(rng, bool(rng.random() < 0.5))}


@driver("channel.snr_to_noise_var")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.snr_to_noise_var, (_snr(rng),), {}


@driver("channel.ebn0_to_esn0", "channel.esn0_to_ebn0")
def _(rng, c, t=None):
    from dscref import channel as ch
    fn = getattr(ch, t.split(".")[-1])
    v = _pick(rng, [3.0, np.arange(3.0), -1e300])
    return fn, (arg(rng, v), arg(rng, _pick(rng, ["bpsk", "qpsk", "16qam", 2]))), {}


@driver("channel.channel_uses")
def _(rng, c, t=None):
    from dscref import channel as ch
    kw = _pick(rng, [{"dim": arg(rng, 2048)}, {"nbytes": arg(rng, 47), "modem": _modem(rng)},
                     {"nbits": arg(rng, 50), "modem": _modem(rng)}])
    if rng.random() < 0.2:
        kw["complex_baseband"] = arg(rng, True)
    if rng.random() < 0.1:
        kw["dim"] = hostile(rng)
    return ch.channel_uses, (), kw


@driver("channel.bandwidth_table")
def _(rng, c, t=None):
    from dscref import channel as ch
    kw = {} if rng.random() < 0.5 else {"modems": arg(rng, lambda: [_modem(rng) for _ in range(int(rng.integers(0, 3)))])}
    return ch.bandwidth_table, (arg(rng, 2048), arg(rng, 47)), kw


@driver("channel.ebn0_to_snr", "channel.snr_to_ebn0")
def _(rng, c, t=None):
    from dscref import channel as ch
    fn = getattr(ch, t.split(".")[-1])
    v = _pick(rng, [3.0, np.arange(3.0), -1e300])
    return fn, (arg(rng, v), arg(rng, int(rng.integers(1, 500))), arg(rng, int(rng.integers(1, 500)))), {}


@driver("channel.ber_qam")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.ber_qam, (arg(rng, _pick(rng, [5.0, np.linspace(-5, 15, 4), 1e6, -1e6])),
                        arg(rng, _pick(rng, [4, 16, 64, 256, 1024]))), {}


@driver("channel.ber_modem")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.ber_modem, (arg(rng, _pick(rng, [5.0, np.linspace(-5, 15, 4), 1e6, -1e6])), _modem(rng)), {}


@driver("channel.ber_bpsk", "channel.ber_qpsk", "channel.ber_16qam", "channel.ber_bpsk_rayleigh",
        "channel.ber_conv_union_bound")
@driver("channel.linear_power_allocation")
def _(rng, c, t=None):
    from dscref import channel as ch
    lam = arg(rng, lambda: rng.gamma(0.5, 1.0, int(rng.integers(0, 12))) * 10.0 ** rng.integers(-30, 30))
    return ch.linear_power_allocation, (lam, arg(rng, _pick(rng, [0.5, 0.0, 1e-300, 1e300])),
                                        arg(rng, _pick(rng, [4.0, 1e-300, 1e300]))), {}


@driver("channel.lmmse_distortion")
def _(rng, c, t=None):
    from dscref import channel as ch
    m = int(rng.integers(0, 8))
    nv = _pick(rng, [0.3, 0.0, 1e300]) if rng.random() < 0.5 else rng.random(m)
    return ch.lmmse_distortion, (arg(rng, lambda: rng.random(m) * 10.0 ** rng.integers(-30, 30)),
                                 arg(rng, lambda: rng.random(m) * _pick(rng, [1.0, 0.0, 1e300])), arg(rng, nv)), {}


@driver("channel.LinearJSCC")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.LinearJSCC, (arg(rng, int(rng.integers(1, 5))), _snr(rng)), \
        {"n_components": arg(rng, _pick(rng, [None, 8, 10])), "min_group_size": arg(rng, _pick(rng, [None, 50])),
         "max_rows": arg(rng, _pick(rng, [None, 100])), "seed": arg(rng, 0)}


@driver("channel.LinearJSCC.fit")
def _(rng, c, t=None):
    from dscref import channel as ch
    x = c.x[:int(rng.integers(1, 400)), :int(rng.integers(1, 17))]
    g = None if rng.random() < 0.4 else arg(rng, c.labels[:x.shape[0]])
    j = ch.LinearJSCC(int(rng.integers(1, 4)), 0.0, min_group_size=int(rng.integers(2, 80)),
                      max_rows=_pick(rng, [None, 50]))
    return j.fit, (arg(rng, x),), {"groups": g}


@driver("channel.LinearJSCC.redesign")
def _(rng, c, t=None):
    return c.jscc.redesign, (), {"n_uses": arg(rng, _pick(rng, [None, 1, 4, 5])), "snr_db": _snr(rng)}


def _jscc_groups(rng, c, n):
    return None if rng.random() < 0.3 else arg(rng, lambda: rng.integers(-1, 7, n))


@driver("channel.LinearJSCC.encode")
def _(rng, c, t=None):
    n = int(rng.integers(0, 6))
    return c.jscc.encode, (arg(rng, c.x[:n] if n else c.x[:1]),), {"groups": _jscc_groups(rng, c, max(n, 1))}


@driver("channel.LinearJSCC.decode")
def _(rng, c, t=None):
    n = int(rng.integers(1, 6))
    z = c.jscc.encode(c.x[:n]) * _pick(rng, [1.0, 1e30, 1e300])
    nv = _pick(rng, [0.3, 0.0, 1e300]) if rng.random() < 0.5 else rng.random((n, 3))
    return c.jscc.decode, (arg(rng, z), arg(rng, nv)), {"groups": _jscc_groups(rng, c, n)}


@driver("channel.LinearJSCC.send")
def _(rng, c, t=None):
    n = int(rng.integers(1, 6))
    return c.jscc.send, (arg(rng, c.x[:n]), _channel(rng) if rng.random() < 0.9 else hostile(rng)), \
        {"rng": arg(rng, 0), "groups": _jscc_groups(rng, c, n), "rx_groups": _jscc_groups(rng, c, n)}


@driver("channel.LinearJSCC.expected_mse")
def _(rng, c, t=None):
    return c.jscc.expected_mse, (), {"snr_db": _snr(rng) if rng.random() < 0.7 else None,
                                      "basis": arg(rng, int(rng.integers(0, len(c.jscc.bases_))))}


@driver("channel.JSCCResult", "channel.IdealResult")
def _(rng, c, t=None):
    from dscref import channel as ch
    cls = getattr(ch, t.split(".")[-1])
    return cls, tuple(hostile(rng) for _ in cls.__dataclass_fields__), {}


@driver("channel.capacity")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.capacity, (_snr(rng),), {}


@driver("channel.threshold_snr_db", "channel.min_uses")
def _(rng, c, t=None):
    from dscref import channel as ch
    b = arg(rng, _pick(rng, [0, 50, 376, 2 ** 62]))
    if t.endswith("min_uses"):
        return ch.min_uses, (b, _snr(rng)), {}
    return ch.threshold_snr_db, (b, arg(rng, _pick(rng, [1, 47, 188]))), {}


@driver("channel.ideal_delivery")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.ideal_delivery, (arg(rng, _pick(rng, [0, 50, 376, 2 ** 62])), small_int(rng, int(rng.integers(1, 40)), 40),
                               _channel(rng) if rng.random() < 0.9 else hostile(rng)), \
        {"n": small_int(rng, int(rng.integers(0, 6))), "rng": arg(rng, 0)}


@driver("channel.outage_probability")
def _(rng, c, t=None):
    from dscref import channel as ch
    return ch.outage_probability, (arg(rng, _pick(rng, [0, 50, 376])), small_int(rng, int(rng.integers(1, 40)), 40),
                                   _channel(rng) if rng.random() < 0.9 else hostile(rng)), \
        {"n_draws": small_int(rng, 200, 400), "seed": arg(rng, 0)}


@driver("channel.ber_bpsk", "channel.ber_qpsk", "channel.ber_16qam", "channel.ber_bpsk_rayleigh")
def _(rng, c, t=None):
    from dscref import channel as ch
    fn = getattr(ch, t.split(".")[-1])
    return fn, (arg(rng, _pick(rng, [5.0, np.linspace(-5, 15, 4), 1e6, -1e6])),), {}


# convcode, crc -----------------------------------------------------------------
def _rate(rng):
    return arg(rng, _pick(rng, ["1/2", "2/3", "3/4"]), 0.2)


@driver("convcode.coded_length", "convcode.effective_rate", "convcode.puncture_mask")
def _(rng, c, t=None):
    from dscref import convcode
    return getattr(convcode, t.split(".")[-1]), (arg(rng, int(rng.integers(1, 400))), _rate(rng)), {}


@driver("convcode.coded_channel_uses")
def _(rng, c, t=None):
    from dscref import convcode
    return convcode.coded_channel_uses, (arg(rng, int(rng.integers(1, 400))), _rate(rng), _modem(rng)), {}


@driver("convcode.encode")
def _(rng, c, t=None):
    from dscref import convcode
    shape = (int(rng.integers(1, 60)),) if rng.random() < 0.5 else (int(rng.integers(0, 4)), int(rng.integers(1, 60)))
    return convcode.encode, (arg(rng, lambda: rng.integers(0, 2, shape)), _rate(rng)), {}


@driver("convcode.decode", "convcode.decode_hard")
def _(rng, c, t=None):
    from dscref import convcode
    rate = _pick(rng, ["1/2", "2/3", "3/4"])
    k = int(rng.integers(1, 60))
    n = convcode.coded_length(k, rate)
    shape = (n,) if rng.random() < 0.5 else (int(rng.integers(0, 4)), n)
    if t.endswith("hard"):
        return convcode.decode_hard, (arg(rng, lambda: rng.integers(0, 2, shape)), arg(rng, rate, 0.1),
                                      arg(rng, k, 0.1)), {}
    return convcode.decode, (arg(rng, lambda: rng.standard_normal(shape) * 3), arg(rng, rate, 0.1),
                             arg(rng, k, 0.1)), {"return_metric": arg(rng, bool(rng.random() < 0.5), 0.1)}


@driver("crc.crc_width")
def _(rng, c, t=None):
    from dscref import crc
    return crc.crc_width, (arg(rng, _pick(rng, ["crc16", "crc8"])),), {}


@driver("crc.crc_bits", "crc.crc_append", "crc.crc_check")
def _(rng, c, t=None):
    from dscref import crc
    shape = (int(rng.integers(17, 80)),) if rng.random() < 0.5 else (int(rng.integers(0, 4)), int(rng.integers(17, 80)))
    return getattr(crc, t.split(".")[-1]), (arg(rng, lambda: rng.integers(0, 2, shape)),
                                           arg(rng, _pick(rng, ["crc16", "crc8"]), 0.15)), {}


# codec -----------------------------------------------------------------------
def _layout_args(rng):
    return dict(n_labels=arg(rng, int(rng.integers(0, 6))), label_bits=arg(rng, int(rng.integers(1, 12))),
                M=arg(rng, int(rng.integers(1, 9))), nbits=arg(rng, int(rng.integers(1, 13))),
                n_lists=arg(rng, _pick(rng, [None, 3, 6])))


@driver("codec.PayloadLayout")
def _(rng, c, t=None):
    from dscref.codec import PayloadLayout
    return PayloadLayout, (), _layout_args(rng)


@driver("codec.PayloadLayout.for_index")
def _(rng, c, t=None):
    from dscref.codec import PayloadLayout
    idx = c.indexes[_pick(rng, INDEX_KINDS)] if rng.random() < 0.85 else hostile(rng)
    return PayloadLayout.for_index, (idx,), {"n_labels": arg(rng, int(rng.integers(0, 6)))}


@driver("codec.DecodeReport")
def _(rng, c, t=None):
    from dscref.codec import DecodeReport
    return DecodeReport, tuple(hostile(rng) for _ in range(int(rng.integers(0, 5)))), {}


def _query(rng, c, index=None, soft=False):
    """A valid query for ``index`` (default the DSC index), each field possibly mutated."""
    from dscref.index.base import Query  # re-exported from dscref.query

    index = c.dsc if index is None else index
    h = int(rng.integers(0, min(index.n_lists, 4) + 1))
    if index is c.indexes["flat"]:
        labels = np.zeros(1, np.int64)
    else:
        labels = rng.choice(index.n_lists, h, replace=False).astype(np.int64)
    codes = rng.integers(0, 1 << index.nbits, (labels.size, index.M)).astype(np.uint8)
    llr = rng.standard_normal((labels.size, index.M * index.nbits)) * 3 if soft or rng.random() < 0.2 else None
    vector = c.x[1] if rng.random() < 0.1 else None
    kw = dict(labels=arg(rng, labels), codes=arg(rng, codes), vector=None if vector is None else arg(rng, vector),
              code_llr=None if llr is None else arg(rng, llr))
    try:
        return Query(**kw)
    except (ValueError, TypeError):  # the constructor refused a field: the clean query then
        return Query(labels=labels, codes=codes)


@driver("codec.encode_payload")
def _(rng, c, t=None):
    from dscref.codec import encode_payload
    flat = rng.random() < 0.3
    if flat:
        q, lay = _query(rng, c, c.indexes["flat"]), c.flat_layout
    else:
        q, lay = (_query(rng, c) if rng.random() < 0.7 else c.query), c.layout
    return encode_payload, (q if rng.random() < 0.95 else hostile(rng), lay if rng.random() < 0.95 else hostile(rng)), {}


@driver("codec.decode_payload", "codec.decode_head")
def _(rng, c, t=None):
    from dscref import codec
    buf = np.frombuffer(c.payload, np.uint8).copy()
    buf ^= (rng.random(buf.size) < 0.1).astype(np.uint8) << rng.integers(0, 8, buf.size).astype(np.uint8)
    lay = c.layout if rng.random() < 0.8 else c.flat_layout
    fn = getattr(codec, t.split(".")[-1])
    if fn is codec.decode_head:
        buf = buf[:lay.head_bytes]
    return fn, (arg(rng, buf), lay if rng.random() < 0.95 else hostile(rng)), \
        {"policy": arg(rng, _pick(rng, ["drop", "nearest_valid"]))}


# robust ----------------------------------------------------------------------
@driver("robust.error_patterns")
def _(rng, c, t=None):
    from dscref import robust
    return robust.error_patterns, (arg(rng, int(rng.integers(1, 9))), arg(rng, 0.05)), \
        {"order": arg(rng, _pick(rng, [None, 1, 2]))}


@driver("robust.robust_permutation")
def _(rng, c, t=None):
    from dscref import robust
    w = None if rng.random() < 0.6 else arg(rng, lambda: rng.random((c.pq.M, c.pq.ksub)))
    pq = c.pq if rng.random() < 0.85 else c.pq16 if rng.random() < 0.5 else hostile(rng)
    return robust.robust_permutation, (pq, arg(rng, 0.02)), \
        dict(weights=w, seed=arg(rng, 0), n_iter=arg(rng, _pick(rng, [None, 5])),
             order=arg(rng, _pick(rng, [None, 1, 2])), n_restarts=small_int(rng, 1, 2))


@driver("robust.assignment_distortion")
def _(rng, c, t=None):
    from dscref import robust
    return robust.assignment_distortion, (c.pq if rng.random() < 0.85 else c.pq16 if rng.random() < 0.5 else hostile(rng),
                                          arg(rng, _pick(rng, [None, c.perm])), arg(rng, 0.05)), \
        {"order": arg(rng, _pick(rng, [None, 1]))}


@driver("robust.apply_permutation")
def _(rng, c, t=None):
    from dscref import robust
    return robust.apply_permutation, (c.pq if rng.random() < 0.9 else hostile(rng), arg(rng, c.perm)), {}


@driver("robust.permute_codes")
def _(rng, c, t=None):
    from dscref import robust
    return robust.permute_codes, (arg(rng, c.codes), arg(rng, c.perm)), {}


@driver("robust.make_index_robust")
def _(rng, c, t=None):
    from dscref import robust
    inplace = arg(rng, bool(rng.random() < 0.3))
    idx = c.indexes[_pick(rng, INDEX_KINDS)]
    if inplace is not False:  # never touch the shared fixture
        idx = copy.deepcopy(idx)
    return robust.make_index_robust, (idx if rng.random() < 0.9 else hostile(rng), arg(rng, 0.02)), \
        dict(order=arg(rng, _pick(rng, [1, 2])), n_iter=arg(rng, 5), seed=arg(rng, 0),
             n_restarts=small_int(rng, 1, 2), inplace=inplace)


@driver("robust.LabelOrder")
def _(rng, c, t=None):
    from dscref import robust
    return robust.LabelOrder, (arg(rng, c.order.forward), arg(rng, c.order.inverse)), {}


def _label_order(rng, c):
    from dscref import robust
    if rng.random() < 0.85:
        return c.order
    return robust.LabelOrder(arg(rng, c.order.forward, 0.8), arg(rng, c.order.inverse, 0.8))


@driver("robust.LabelOrder.to_codes", "robust.LabelOrder.to_labels")
def _(rng, c, t=None):
    o = _label_order(rng, c)
    fn = getattr(o, t.split(".")[-1])
    K = max(1, int(getattr(o.forward, "size", 1)))
    return fn, (arg(rng, lambda: rng.integers(0, K, _random_shape(rng)[:2])),), {}


@driver("robust.LabelOrder.encode_query", "robust.LabelOrder.decode_query")
def _(rng, c, t=None):
    o = _label_order(rng, c)
    fn = getattr(o, t.split(".")[-1])
    return fn, (_query(rng, c) if rng.random() < 0.9 else hostile(rng),), {}


@driver("robust.robust_label_order")
def _(rng, c, t=None):
    from dscref import robust
    idx = c.indexes[_pick(rng, INDEX_KINDS)] if rng.random() < 0.9 else hostile(rng)
    K = getattr(idx, "n_lists", 1)
    w = None if rng.random() < 0.6 else arg(rng, lambda: rng.random(K))
    return robust.robust_label_order, (idx, arg(rng, 0.02)), dict(weights=w, order=arg(rng, _pick(rng, [1, 2])),
                                                                  n_iter=arg(rng, 10), seed=arg(rng, 0),
                                                                  n_restarts=small_int(rng, 1, 2))


@driver("robust.posteriors")
def _(rng, c, t=None):
    from dscref import robust
    M, nbits = int(rng.integers(1, 5)), int(rng.integers(1, 9))
    return robust.posteriors, (arg(rng, lambda: rng.standard_normal(M * nbits) * 10.0 ** rng.integers(-2, 4)),
                               arg(rng, M), arg(rng, nbits)), {}


@driver("robust.soft_lut_l2")
def _(rng, c, t=None):
    from dscref import robust
    return robust.soft_lut_l2, (arg(rng, c.sdc), arg(rng, lambda: rng.standard_normal(c.pq.M * c.pq.nbits) * 3),
                                arg(rng, c.pq.nbits)), {}


@driver("robust.hard_codes")
def _(rng, c, t=None):
    from dscref import robust
    M, nbits = int(rng.integers(1, 5)), int(rng.integers(1, 12))
    shape = (M * nbits,) if rng.random() < 0.5 else (3, M * nbits)
    return robust.hard_codes, (arg(rng, lambda: rng.standard_normal(shape)), arg(rng, M), arg(rng, nbits)), {}


@driver("robust.soft_search")
def _(rng, c, t=None):
    from dscref import robust
    kind = _pick(rng, INDEX_KINDS)
    idx = c.indexes[kind]
    q = _query(rng, c, idx, soft=True)
    llr = q.code_llr if q.code_llr is not None else np.zeros((q.labels.size, idx.M * idx.nbits))
    return robust.soft_search, (idx if rng.random() < 0.95 else hostile(rng), arg(rng, q.labels), arg(rng, llr)), \
        {"k": arg(rng, int(rng.integers(1, 30))), "metric": arg(rng, _pick(rng, ["l2", "cosine"]))}


@driver("robust.protected_head_bits")
def _(rng, c, t=None):
    from dscref import robust
    return robust.protected_head_bits, (arg(rng, int(rng.integers(0, 60))),
                                        arg(rng, _pick(rng, sorted(robust.HEAD_SCHEMES)))), {}


@driver("robust.encode_head_bits")
def _(rng, c, t=None):
    from dscref import robust
    return robust.encode_head_bits, (arg(rng, lambda: rng.integers(0, 2, int(rng.integers(0, 30))).astype(np.uint8)),
                                     arg(rng, _pick(rng, sorted(robust.HEAD_SCHEMES)))), {}


@driver("robust.decode_head_hard", "robust.decode_head_soft")
def _(rng, c, t=None):
    from dscref import robust
    scheme = _pick(rng, sorted(robust.HEAD_SCHEMES))
    n = int(rng.integers(0, 30))
    bits = robust.encode_head_bits(rng.integers(0, 2, n), scheme)
    if t.endswith("hard"):
        fn, x = robust.decode_head_hard, bits ^ (rng.random(bits.size) < 0.1)
    else:
        fn = robust.decode_head_soft
        x = (1.0 - 2.0 * bits) * rng.choice([1.0, 5.0, np.inf], bits.size) + rng.standard_normal(bits.size)
    return fn, (arg(rng, x), arg(rng, n), arg(rng, scheme)), {}


@driver("robust.soft_decode_head")
def _(rng, c, t=None):
    from dscref import robust
    n, bits = int(rng.integers(1, 6)), int(rng.integers(1, 8))
    K = int(rng.integers(n, (1 << bits) + 1)) if n <= (1 << bits) else n
    L = rng.standard_normal(n * bits) * rng.choice([0.0, 1.0, 5.0, np.inf])
    with np.errstate(invalid="ignore"):
        L = np.where(np.isnan(L), np.inf, L)
    return robust.soft_decode_head, (arg(rng, L), arg(rng, n), arg(rng, bits), arg(rng, K)), \
        {"per_slot": small_int(rng, 1, 3)}


@driver("robust.RobustLayout", "codec.ProtectedLayout")
def _(rng, c, t=None):
    from dscref import robust
    return robust.RobustLayout, (c.layout if rng.random() < 0.8 else hostile(rng),
                                 arg(rng, _pick(rng, sorted(robust.HEAD_SCHEMES)))), {}


@driver("codec.check_protected_layout")
def _(rng, c, t=None):
    from dscref.codec import check_protected_layout
    return check_protected_layout, (_rlayout(rng, c) if rng.random() < 0.8 else hostile(rng),), {}


def _rlayout(rng, c):
    from dscref import robust
    if rng.random() < 0.9:
        return c.rlayouts[_pick(rng, sorted(c.rlayouts))]
    return robust.RobustLayout(hostile(rng) if rng.random() < 0.5 else c.layout, hostile(rng))


@driver("robust.encode_robust_payload", "codec.encode_protected_payload")
def _(rng, c, t=None):
    from dscref import robust
    lo = None if rng.random() < 0.5 else _label_order(rng, c)
    return robust.encode_robust_payload, (_query(rng, c) if rng.random() < 0.5 else c.query, _rlayout(rng, c)), \
        {"label_order": lo}


@driver("robust.decode_robust_payload", "codec.decode_protected_payload")
def _(rng, c, t=None):
    from dscref import robust
    rl = _rlayout(rng, c)
    try:
        n = rl.n_bits
    except Exception:  # noqa: BLE001 - a deliberately broken layout
        n = 8
    if rng.random() < 0.5:
        x = rng.integers(0, 2, n).astype(np.uint8)
    else:
        x = rng.standard_normal(n) * rng.choice([1.0, 10.0, np.inf])
    return robust.decode_robust_payload, (arg(rng, x), rl), \
        dict(head=arg(rng, _pick(rng, ["hard", "soft"])), codes=arg(rng, _pick(rng, ["hard", "soft"])),
             policy=arg(rng, _pick(rng, ["drop", "nearest_valid"])),
             label_order=None if rng.random() < 0.6 else _label_order(rng, c))


# coded payload, budget ------------------------------------------------------
def _clayout(rng, c):
    """A valid CodedLayout of the DSC or flat layout (rate, CRC, variant drawn)."""
    from dscref.codec import CodedLayout
    lay = c.layout if rng.random() < 0.8 else c.flat_layout
    h = None if rng.random() < 0.5 or not lay.head_size else int(rng.integers(1, lay.head_size + 1))
    m = None if rng.random() < 0.5 else int(rng.integers(1, lay.M + 1))
    return CodedLayout(lay, _pick(rng, [None, "1/2", "2/3", "3/4"]), crc=_pick(rng, [None, "crc16", "crc8"]),
                       head_size=h, subcodes=m, interleave=_pick(rng, [None, True, False]))


@driver("codec.CodedLayout")
def _(rng, c, t=None):
    from dscref.codec import CodedLayout
    lay = c.layout if rng.random() < 0.6 else c.flat_layout if rng.random() < 0.8 else hostile(rng)
    kw = {"crc": arg(rng, _pick(rng, [None, "crc16", "crc8"]), 0.2),
          "head_size": arg(rng, _pick(rng, [None, 1, 2, 3]), 0.2), "subcodes": arg(rng, _pick(rng, [None, 1, 4]), 0.2),
          "interleave": arg(rng, _pick(rng, [None, True, False]), 0.2)}
    return CodedLayout, (lay, arg(rng, _pick(rng, [None, "1/2", "2/3", "3/4"]), 0.2)), kw


@driver("codec.CodedLayout.channel_uses")
def _(rng, c, t=None):
    return _clayout(rng, c).channel_uses, (_modem(rng),), {}


@driver("codec.CodedLayout.esn0_db", "codec.CodedLayout.ebn0_db")
def _(rng, c, t=None):
    cl = _clayout(rng, c)
    fn = getattr(cl, t.split(".")[-1])
    return fn, (arg(rng, _pick(rng, [3.0, np.arange(3.0), -1e300])), _modem(rng)), {}


@driver("codec.CodedReport", "codec.PayloadFit")
def _(rng, c, t=None):
    from dscref import codec
    cls = getattr(codec, t.split(".")[-1])
    n = 3 if cls is codec.PayloadFit else int(rng.integers(0, 5))
    return cls, tuple(hostile(rng) for _ in range(n)), {}


@driver("codec.check_coded_layout")
def _(rng, c, t=None):
    from dscref.codec import check_coded_layout
    return check_coded_layout, (_clayout(rng, c) if rng.random() < 0.7 else hostile(rng),), {}


@driver("codec.message_bits", "codec.encode_coded_payload")
def _(rng, c, t=None):
    from dscref import codec
    cl = _clayout(rng, c)
    flat = cl.layout.head_size == 0
    q = _query(rng, c, c.indexes["flat"]) if flat else (_query(rng, c) if rng.random() < 0.6 else c.query)
    return getattr(codec, t.split(".")[-1]), (q if rng.random() < 0.95 else hostile(rng),
                                              cl if rng.random() < 0.95 else hostile(rng)), {}


@driver("codec.decode_coded_payload", "codec.decode_coded_payloads")
def _(rng, c, t=None):
    from dscref import codec
    cl = _clayout(rng, c)
    n = cl.coded_bits
    shape = (n,) if t.endswith("payload") or rng.random() < 0.5 else (int(rng.integers(0, 4)), n)
    x = rng.standard_normal(shape) * rng.choice([1.0, 10.0, np.inf, 1e300])
    if rng.random() < 0.3 and not cl.layout.head_size == 0:  # a payload as sent, maybe with a few flips
        sent = codec.encode_coded_payload(c.query, cl)
        x = np.where(sent == 0, 1.0, -1.0) * np.where(rng.random(n) < 0.05, -1.0, 4.0)
    return getattr(codec, t.split(".")[-1]), (arg(rng, x), cl if rng.random() < 0.95 else hostile(rng)), \
        {"policy": arg(rng, _pick(rng, ["drop", "nearest_valid"]), 0.15),
         "crc_policy": arg(rng, _pick(rng, ["drop", "search"]), 0.15)}


@driver("codec.encode_message")
def _(rng, c, t=None):
    from dscref import codec
    shape = (int(rng.integers(1, 80)),) if rng.random() < 0.5 else (int(rng.integers(0, 4)), int(rng.integers(1, 80)))
    return codec.encode_message, (arg(rng, lambda: rng.integers(0, 2, shape)),
                                  arg(rng, _pick(rng, ["1/2", "2/3", "3/4", None]), 0.2)), \
        {"interleave": arg(rng, bool(rng.random() < 0.5), 0.1)}


@driver("codec.decode_message")
def _(rng, c, t=None):
    from dscref import codec
    rate = _pick(rng, ["1/2", "2/3", "3/4", None])
    k = int(rng.integers(1, 80))
    n = codec.channel_code.coded_length(k, rate)
    shape = (n,) if rng.random() < 0.5 else (int(rng.integers(0, 4)), n)
    x = rng.standard_normal(shape) * rng.choice([1.0, 10.0, np.inf, 1e300])
    return codec.decode_message, (arg(rng, x), arg(rng, rate, 0.1), arg(rng, k, 0.1)), \
        {"interleave": arg(rng, bool(rng.random() < 0.5), 0.1)}


@driver("codec.interleaver")
def _(rng, c, t=None):
    from dscref import codec
    return codec.interleaver, (arg(rng, int(rng.integers(1, 2000))),), {}


@driver("codec.payload_fit")
def _(rng, c, t=None):
    from dscref.codec import payload_fit
    return payload_fit, (_clayout(rng, c) if rng.random() < 0.9 else hostile(rng),
                         arg(rng, int(rng.integers(0, 400))), _modem(rng)), {}


@driver("codec.shrink_variants")
def _(rng, c, t=None):
    from dscref.codec import shrink_variants
    lay = c.layout if rng.random() < 0.6 else c.flat_layout if rng.random() < 0.8 else hostile(rng)
    return shrink_variants, (lay, arg(rng, _pick(rng, ["head_first", "codes_first"]))), {}


@driver("codec.fit_payload")
def _(rng, c, t=None):
    from dscref.codec import fit_payload
    lay = c.layout if rng.random() < 0.6 else c.flat_layout if rng.random() < 0.8 else hostile(rng)
    return fit_payload, (lay, arg(rng, int(rng.integers(0, 200))), _modem(rng),
                         arg(rng, _pick(rng, [None, "1/2", "2/3", "3/4"]), 0.2)), \
        {"crc": arg(rng, _pick(rng, [None, "crc16", "crc8"]), 0.2),
         "order": arg(rng, _pick(rng, ["head_first", "codes_first"]), 0.2),
         "interleave": arg(rng, _pick(rng, [None, True, False]), 0.2)}


@driver("codec.fit_table")
def _(rng, c, t=None):
    from dscref.codec import fit_table
    lay = c.layout if rng.random() < 0.8 else hostile(rng)
    return fit_table, (lay, arg(rng, lambda: [int(v) for v in rng.integers(0, 200, int(rng.integers(0, 3)))]),
                       arg(rng, lambda: [_modem(rng) for _ in range(int(rng.integers(0, 3)))]),
                       arg(rng, lambda: [_pick(rng, [None, "1/2", "3/4"]) for _ in range(int(rng.integers(0, 3)))])), \
        {"crc": arg(rng, "crc16", 0.2), "order": arg(rng, "head_first", 0.2)}


# link ------------------------------------------------------------------------
def _link_layout(rng, c):
    """A plain layout (with or without a head), a protected one, a coded one, or (rarely) a hostile value."""
    r = rng.random()
    if r < 0.3:
        return c.layout
    if r < 0.45:
        return c.flat_layout
    if r < 0.7:
        return _rlayout(rng, c)  # protected; one in ten with a broken field
    if r < 0.97:
        return _clayout(rng, c)
    return hostile(rng)


def _link_args(rng, c):
    """(layout, modem, channel), {head, codes, policy, label_order, burst}: mostly valid."""
    from dscref.codec import CodedLayout, ProtectedLayout
    layout = _link_layout(rng, c)
    protected = isinstance(layout, ProtectedLayout)
    channel = None if rng.random() < 0.25 else _channel(rng) if rng.random() < 0.95 else hostile(rng)
    kw = {"policy": arg(rng, _pick(rng, ["drop", "nearest_valid"]), 0.15),
          "burst": arg(rng, bool(rng.random() < 0.3), 0.15)}
    if protected or rng.random() < 0.05:
        kw["head"] = arg(rng, _pick(rng, ["hard", "soft"]), 0.15)
        kw["codes"] = arg(rng, _pick(rng, ["hard", "soft"]), 0.15)
    if (protected and rng.random() < 0.4) or rng.random() < 0.03:
        kw["label_order"] = _label_order(rng, c) if rng.random() < 0.9 else hostile(rng)
    if isinstance(layout, CodedLayout) or rng.random() < 0.03:
        kw["crc_policy"] = arg(rng, _pick(rng, ["drop", "search"]), 0.15)
    return (layout, arg(rng, _pick(rng, ["bpsk", "qpsk", "16qam", "64qam", "256qam"]), 0.1), channel), kw


def _link(rng, c, plain: bool = False):
    """A Link the constructor accepted (the plain head layout when every draw was refused)."""
    from dscref.link import Link
    for _ in range(8):
        args, kw = _link_args(rng, c)
        if plain:
            args = (c.layout if rng.random() < 0.8 else c.flat_layout,) + args[1:]
            kw = {k: v for k, v in kw.items() if k not in ("head", "codes", "label_order")}
        try:
            return Link(*args, **kw)
        except (ValueError, TypeError):
            continue
    return Link(c.layout, "qpsk", None)


def _link_queries(rng, c, link):
    """A Query, or a list of 0..3 queries for the link's layout (fields possibly mutated)."""
    flat = getattr(getattr(link.layout, "layout", link.layout), "head_size", 3) == 0
    make = (lambda: _query(rng, c, c.indexes["flat"])) if flat else (lambda: _query(rng, c))
    r = rng.random()
    if r < 0.3:
        return make()
    if r < 0.95:
        return [make() for _ in range(int(rng.integers(0, 4)))]
    return hostile(rng)


@driver("link.Link")
def _(rng, c, t=None):
    from dscref.link import Link
    args, kw = _link_args(rng, c)
    return Link, args, kw


@driver("link.Link.encode")
def _(rng, c, t=None):
    link = _link(rng, c)
    q = _link_queries(rng, c, link)
    return link.encode, (q[0] if isinstance(q, list) and q else q,), {}


@driver("link.Link.decode")
def _(rng, c, t=None):
    link = _link(rng, c)
    try:
        n = link.payload_bits
    except Exception:  # noqa: BLE001 - a deliberately broken protected layout
        n = 8
    r = rng.random()
    x = rng.integers(0, 2, n).astype(np.uint8) if r < 0.5 else rng.standard_normal(n) * rng.choice([1.0, 10.0, np.inf])
    if r > 0.8:  # a payload as sent
        try:
            x = link.encode(c.query if getattr(link.layout, "head_size", 1) else _query(rng, c, c.indexes["flat"]))
        except (ValueError, TypeError):
            pass
    return link.decode, (arg(rng, x),), {}


@driver("link.Link.send", "link.Link.send_heads")
def _(rng, c, t=None):
    link = _link(rng, c, plain=t.endswith("send_heads") and rng.random() < 0.9)
    fn = link.send_heads if t.endswith("send_heads") else link.send
    return fn, (_link_queries(rng, c, link),), {"rng": arg(rng, int(rng.integers(0, 100)), 0.2)}


@driver("link.LinkResult", "link.Received")
def _(rng, c, t=None):
    from dscref import link
    cls = getattr(link, t.split(".")[-1])
    return cls, tuple(hostile(rng) for _ in range(int(rng.integers(0, 3)))), {}


@driver("link.AnalogLink")
def _(rng, c, t=None):
    from dscref.link import AnalogLink
    return AnalogLink, (_channel(rng) if rng.random() < 0.9 else hostile(rng),), \
        {"complex_baseband": arg(rng, bool(rng.random() < 0.5))}


@driver("link.AnalogLink.send")
def _(rng, c, t=None):
    from dscref.link import AnalogLink
    link = AnalogLink(_channel(rng), complex_baseband=bool(rng.random() < 0.5))
    x = c.x[0] if rng.random() < 0.5 else c.x[:int(rng.integers(1, 4)), :int(rng.integers(1, 16))]
    return link.send, (arg(rng, x),), {"rng": arg(rng, 0)}


# index search ----------------------------------------------------------------
def _index_search(kind):
    def drive(rng, c, t=None):
        idx = c.indexes[kind]
        nq = int(rng.integers(1, 4))
        qs = [_query(rng, c, idx) for _ in range(nq)]
        queries = qs[0] if nq == 1 and rng.random() < 0.5 else qs
        if rng.random() < 0.05:
            queries = hostile(rng)
        return idx.search, (queries, arg(rng, int(rng.integers(1, 40)))), \
            {"metric": arg(rng, _pick(rng, ["l2", "cosine"]))}
    return drive


def _index_encode(kind):
    def drive(rng, c, t=None):
        idx = c.indexes[kind]
        kw = {"raw": arg(rng, bool(rng.random() < 0.2))}
        if kind == "dsc" or rng.random() < 0.3:
            kw["top_labels"] = arg(rng, lambda: rng.choice(idx.n_lists, int(rng.integers(0, min(4, idx.n_lists) + 1)),
                                                            replace=False))
        else:
            kw["n_probe"] = arg(rng, int(rng.integers(1, 6)))
        return idx.encode_query, (arg(rng, c.x[2]),), kw
    return drive


_INDEX_CLASS = {"dsc": "SemanticIndex", "ivf": "IVFIndex", "flat": "FlatPQIndex", "imi": "IMIIndex",
                "gp": "GPIndex"}
for _kind, _cls in _INDEX_CLASS.items():
    DRIVERS[f"index.{_cls}.search"] = _index_search(_kind)
    DRIVERS[f"index.{_cls}.encode_query"] = _index_encode(_kind)


# ----------------------------------------------------------------------------- targets and runner
def public_targets() -> list:
    """Every public callable of MODULES (``__all__``; classes and their public methods) plus
    ``search`` / ``encode_query`` of each index class."""
    out = []
    for short in MODULES:
        mod = importlib.import_module(f"dscref.{short}")
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                out.append(f"{short}.{name}")
                for meth, fn in vars(obj).items():
                    if not meth.startswith("_") and (inspect.isfunction(fn) or isinstance(fn, (classmethod, staticmethod))):
                        out.append(f"{short}.{name}.{meth}")
            elif callable(obj):
                out.append(f"{short}.{name}")
    out += [f"index.{cls}.{m}" for cls in _INDEX_CLASS.values() for m in ("search", "encode_query")]
    return out


# Constructors of result containers and label mappers hold whatever they are given: a NaN
# passed in is not produced by them, so their results are not checked for NaN.
NAN_PASSTHROUGH = {"channel.AnalogResult", "channel.SymbolResult", "channel.BitResult", "codec.DecodeReport",
                   "codec.CodedReport", "codec.PayloadFit",
                   "channel.JSCCResult", "channel.IdealResult",
                   "link.LinkResult", "link.Received",
                   "codec.ProtectedLayout", "robust.LabelOrder", "robust.RobustLayout",
                   "robust.LabelOrder.encode_query", "robust.LabelOrder.decode_query"}


def _nan_in(result, depth: int = 0) -> bool:
    """Whether a float array holding NaN is anywhere in ``result`` (tuples, dataclasses, Query)."""
    if depth > 3:
        return False
    if isinstance(result, np.ndarray):
        return result.dtype.kind in "fc" and bool(np.isnan(result).any())
    if isinstance(result, float):
        return result != result
    if isinstance(result, (tuple, list)):
        return any(_nan_in(r, depth + 1) for r in result[:50])
    if hasattr(result, "__dataclass_fields__"):
        return any(_nan_in(getattr(result, f, None), depth + 1) for f in result.__dataclass_fields__)
    return False


def _short_repr(v, n: int = 160) -> str:
    try:
        if isinstance(v, np.ndarray):
            r = f"ndarray(shape={v.shape}, dtype={v.dtype}, {np.array2string(v.reshape(-1)[:6], threshold=6)})"
        else:
            r = repr(v)
    except Exception:  # noqa: BLE001
        r = f"<{type(v).__name__}>"
    return r if len(r) <= n else r[:n] + "..."


def call_once(target: str, rng, ctx) -> tuple:
    """Draw and run one call of ``target``: ``(outcome, detail)`` with outcome "ok",
    "rejected:<Exception>" or "FAIL:<what>"."""
    drive = DRIVERS.get(target)
    if drive is None:
        return "FAIL:no driver", target
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fn, args, kwargs = drive(rng, ctx, target)
    except Exception as exc:  # noqa: BLE001 - a broken driver is a harness bug, reported as such
        return f"FAIL:driver {type(exc).__name__}", traceback.format_exc(limit=-3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                result = fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        return f"rejected:{type(exc).__name__}", None
    except Exception as exc:  # noqa: BLE001 - the contract: nothing else escapes
        detail = {"exception": f"{type(exc).__name__}: {str(exc)[:300]}",
                  "where": traceback.format_exc(limit=-2),
                  "args": [_short_repr(a) for a in args], "kwargs": {k: _short_repr(v) for k, v in kwargs.items()}}
        return f"FAIL:{type(exc).__name__}", detail
    if target not in NAN_PASSTHROUGH and _nan_in(result):
        return "FAIL:NaN in result", {"args": [_short_repr(a) for a in args],
                                      "kwargs": {k: _short_repr(v) for k, v in kwargs.items()}}
    return "ok", None


def run(calls: int, seed: int = 0, ctx: Context | None = None, targets=None, max_failures: int = 50) -> dict:
    """``calls`` fuzz calls, round-robin over the targets; counts per target and outcome."""
    ctx = Context(seed) if ctx is None else ctx
    targets = public_targets() if targets is None else list(targets)
    per_target: dict = defaultdict(Counter)
    failures = []
    for i in range(calls):
        target = targets[i % len(targets)]
        outcome, detail = call_once(target, np.random.default_rng([seed, i]), ctx)
        per_target[target][outcome] += 1
        if outcome.startswith("FAIL") and len(failures) < max_failures:
            failures.append({"target": target, "call": i, "seed": seed, "outcome": outcome, "detail": detail})
    by_outcome = Counter()
    for cnt in per_target.values():
        by_outcome.update(cnt)
    return {"calls": calls, "seed": seed, "targets": len(targets),
            "outcomes": dict(sorted(by_outcome.items())),
            "per_target": {t: dict(sorted(c.items())) for t, c in sorted(per_target.items())},
            "failures": failures, "n_failures": sum(v for k, v in by_outcome.items() if k.startswith("FAIL"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=100000, help="number of fuzz calls (default 1e5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("fuzz_api.json"), help="JSON report")
    ap.add_argument("--only", default=None, help="comma-separated targets (default: all)")
    a = ap.parse_args(argv)
    logging.getLogger("dscref").setLevel(logging.ERROR)  # PQ's "few training vectors" warnings
    t0 = time.perf_counter()
    ctx = Context(a.seed)
    targets = a.only.split(",") if a.only else None
    report = run(a.calls, a.seed, ctx, targets)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["load_average_1_5_15"] = list(os.getloadavg())
    report["cpus"] = os.cpu_count()
    report["python"] = platform.python_version()
    report["numpy"] = np.__version__
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps({k: report[k] for k in ("calls", "targets", "outcomes", "n_failures", "seconds")}, indent=1))
    for f in report["failures"][:10]:
        print(json.dumps(f, default=str)[:1500], file=sys.stderr)
    return 1 if report["n_failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
