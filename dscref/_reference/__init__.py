"""Plain-NumPy twins of every Numba kernel, one module per concept, written for clarity.

Tests prove ``kernel == reference`` on random inputs (hypothesis). Each function states the
mathematics it implements; the kernels in :mod:`dscref._kernels` must agree with it.
"""
