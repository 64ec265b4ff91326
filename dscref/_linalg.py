"""Former location of :mod:`dscref.synthetic._linalg` (the generator's fixed-order linear algebra)."""

from __future__ import annotations

from .synthetic._linalg import matmul, matvec, orthonormal_rows

__all__ = ["matmul", "matvec", "orthonormal_rows"]
