"""Feature geometry of the synthetic generator: the closed-form weights of the shared components,
random directions from a power-law latent spectrum plus an isotropic part, and the class
hierarchy (classes in contiguous superclass blocks).

Internal to :mod:`dscref.synthetic`: inputs come from checked parameters and are trusted.
"""

from __future__ import annotations

import math

import numpy as np

from ._linalg import matmul, orthonormal_rows

__all__ = ["component_weights", "Directions", "normalise_rows", "Hierarchy"]


def component_weights(p: dict) -> dict:
    """Squared weights in closed form so that E[cos] of each pair type equals its target."""
    su, ss, sc, sm = p["sim_unrelated"], p["sim_same_superclass"], p["sim_same_class"], p["sim_match"]
    return {
        "global": math.sqrt(su),
        "superclass": math.sqrt(ss - su),
        "class": math.sqrt(sc - ss),
        "instance": math.sqrt(sm - sc),
        "noise": math.sqrt(1.0 - sm),
    }


class Directions:
    """Random unit-energy directions drawn from a power-law latent spectrum plus an isotropic part.

    ``v = sqrt(1-f) * (z / |z|) @ B + sqrt(f) * w / |w|`` with ``z ~ N(0, diag(lambda))``,
    ``lambda_i ∝ i^-decay`` (i = 1..latent_dim), ``B`` a fixed random orthonormal
    (latent_dim, d) matrix and ``w ~ N(0, I_d)``. Both parts have unit norm, so E|v|^2 = 1 exactly.
    """

    def __init__(self, rng: np.random.Generator, d: int, latent_dim: int, decay: float, iso: float):
        lam = np.arange(1, latent_dim + 1, dtype=np.float64) ** (-decay)
        self.sqrt_lam = np.sqrt(lam / lam.sum())
        # (latent_dim, d), orthonormal rows: the Q factor of a Gaussian matrix, by Gram-Schmidt in a
        # kernel of fixed summation order (LAPACK's QR changes bits with BLAS threads)
        self.basis = orthonormal_rows(rng.standard_normal((d, latent_dim)).T).astype(np.float32)
        self.d, self.latent_dim, self.iso = d, latent_dim, iso

    def latent(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.latent_dim)) * self.sqrt_lam
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return z.astype(np.float32)

    def isotropic(self, rng: np.random.Generator, n: int) -> np.ndarray:
        w = rng.standard_normal((n, self.d), dtype=np.float32)
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        return w

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        v = math.sqrt(1.0 - self.iso) * matmul(self.latent(rng, n), self.basis)
        if self.iso > 0:
            v += math.sqrt(self.iso) * self.isotropic(rng, n)
        return v


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Divide each row of ``x`` (n, d) float32 by its L2 norm (at least 1e-12), in place; returns x."""
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))
    return x


class Hierarchy:
    """Classes 0..K-1 in contiguous superclass blocks (like ImageNet's ordering of WordNet groups)."""

    def __init__(self, n_classes: int, n_superclasses: int):
        self.K, self.S = n_classes, n_superclasses
        self.sup_of = (np.arange(n_classes, dtype=np.int64) * n_superclasses) // n_classes
        self.start = np.searchsorted(self.sup_of, np.arange(n_superclasses)).astype(np.int64)
        self.size = np.bincount(self.sup_of, minlength=n_superclasses).astype(np.int64)
        self.gmax = int(self.size.max())
