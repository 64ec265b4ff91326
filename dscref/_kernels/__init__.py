"""Numba kernels. No validation here: inputs are trusted, outputs are passed in."""
