"""Pooling a backbone's feature map into a global descriptor: GeM (eq. 8 of Wang & Qi), L2
normalisation and the multi-scale combination of cnnimageretrieval-pytorch.

Pure NumPy, no model code: :class:`~dscref.features.extractor.Extractor` applies these to the
outputs of an ONNX model, and they can be used on any (n, C, H, W) feature map.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gem", "l2_normalize", "combine_multiscale"]


def gem(fmap, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    """Generalised-mean (GeM) pooling over the spatial axes.

    Parameters
    ----------
    fmap : array-like of shape (n, C, H, W) or (C, H, W), real
        Feature maps (typically non-negative, after a ReLU).
    p : float
        Pooling exponent, ``p > 0``; ``p = inf`` gives max pooling.
    eps : float
        Values are clamped to ``>= eps`` before the power (keeps ``x^p`` defined).

    Returns
    -------
    f : ndarray of shape (n, C) or (C,), float32
        Not normalised.

    Notes
    -----
    Implements eq. (8) of Wang & Qi (GeM of Radenović et al.):
    ``f_c = ( 1/|X_c| Σ_{x ∈ X_c} max(x, eps)^p )^(1/p)``. ``p = 1`` is average pooling and
    ``p → ∞`` tends to max pooling. Computed in float64 as ``m · mean((x/m)^p)^(1/p)`` with
    ``m = max x``, which is the same quantity but cannot overflow for large ``p``.
    """
    x = np.asarray(fmap)
    if x.dtype.kind not in "fiu" or x.dtype == np.bool_:
        raise TypeError(f"fmap must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise ValueError(f"fmap must have shape (n, C, H, W) or (C, H, W), got {x.shape}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"fmap has an empty spatial extent, shape {x.shape}")
    p = float(p)
    if not (p > 0) or math.isnan(p):
        raise ValueError(f"p={p} must be > 0 (or inf for max pooling)")
    if not (eps > 0):
        raise ValueError(f"eps={eps} must be > 0")
    x = np.maximum(x.astype(np.float64), eps)
    if math.isinf(p):
        return x.max(axis=(-2, -1)).astype(np.float32)
    m = x.max(axis=(-2, -1), keepdims=True)
    f = m[..., 0, 0] * np.mean((x / m) ** p, axis=(-2, -1)) ** (1.0 / p)
    return f.astype(np.float32)


def l2_normalize(x, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, D) divided by their L2 norm (max(norm, eps)), float32."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return (x / np.maximum(norm, eps)).astype(np.float32)


def _signed_pow(x: np.ndarray, p: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** p


def combine_multiscale(vectors, p: float = 3.0) -> np.ndarray:
    """Combine per-scale descriptors as cnnimageretrieval's multi-scale extraction does.

    Parameters
    ----------
    vectors : array-like of shape (S, n, D) or (S, D)
        The L2-normalised descriptor of each image at each of S scales.
    p : float
        The exponent (the GeM ``p``; cnnimageretrieval uses the network's pooling ``p``).

    Returns
    -------
    v : ndarray of shape (n, D) or (D,), float32, L2-normalised
        ``v = normalise( (1/S Σ_s v_s^p)^(1/p) )``.

    Notes
    -----
    Powers are sign-preserving (``sign(x)|x|^p``); for GeM outputs (non-negative) this is the
    plain power of cnnimageretrieval, and for models whose output may be negative it keeps the
    combination defined for any ``p``.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim not in (2, 3):
        raise ValueError(f"vectors must have shape (S, n, D) or (S, D), got {v.shape}")
    p = float(p)
    if not (p > 0) or not math.isfinite(p):
        raise ValueError(f"p={p} must be a finite number > 0 for the multi-scale combination")
    acc = _signed_pow(v, p).mean(axis=0)
    return l2_normalize(_signed_pow(acc, 1.0 / p))
