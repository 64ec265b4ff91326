"""Product quantization (Jégou, Douze & Schmid, TPAMI 2011), eqs. (4)-(6) of Wang & Qi.

A vector d in R^F is split into M sub-vectors ``d = [s_1, ..., s_M]`` (eq. 4), and each
sub-space m gets its own codebook of 2^L sub-codewords ``R_m = {r_m^1 .. r_m^{2^L}}`` learnt by
k-means (eq. 5); the M codebooks together form ``R`` (eq. 6). A vector is stored as the M indices
of its nearest sub-codewords: M bytes for L = 8.

Examples
--------
>>> import numpy as np
>>> from dscref.pq import ProductQuantizer
>>> x = np.random.default_rng(0).standard_normal((3000, 32)).astype(np.float32)
>>> pq = ProductQuantizer(M=4, nbits=6, seed=0).fit(x)
>>> codes = pq.encode(x)
>>> codes.shape, codes.dtype, pq.decode(codes).shape
((3000, 4), dtype('uint8'), (3000, 32))
"""

from __future__ import annotations

import logging

import numpy as np

from ._chunks import gather_subspaces
from ._validate import as_float_matrix, as_float_vector, as_generator, check_choice, check_int
from ._threads import blas_threads_pinned_to_one
from .kmeans import subspace_kmeans
from .nearest import nearest, parallel_plan

__all__ = ["ProductQuantizer"]

# Largest nbits for the (ksub, ksub) codeword-pair tables (sdc_table, the robust index
# assignment): 4**12 entries are 64 MiB in float32; nbits = 16 would be 16 GiB per sub-space.
MAX_TABLE_NBITS = 12

log = logging.getLogger(__name__)


class ProductQuantizer:
    """Product quantizer with M sub-quantizers of ``2**nbits`` centroids each.

    Parameters
    ----------
    M : int
        Number of sub-spaces; the dimension d must be divisible by M.
    nbits : int, default 8
        Bits per sub-code, 1..16. Codes are uint8 for nbits <= 8, uint16 above.
    n_iter : int, default 25
        k-means rounds (assignment then update) per sub-space: faiss's ``ClusteringParameters
        ::niter`` default.
    seed : int, numpy.random.Generator or None
    init : {"random", "k-means++"}, default "random"
        Seeding of each sub-space k-means (faiss and nanopq seed randomly).
    max_points_per_centroid : int or None, default 256
        Training sub-sample size per centroid, as in faiss.

    Attributes
    ----------
    codebooks_ : ndarray (M, 2**nbits, d/M) float32
    d_ : int
        Input dimension.
    n_iter_ : int
        k-means rounds run (fewer than ``n_iter`` once every sub-space has converged).

    Notes
    -----
    Training follows faiss (``ProductQuantizer::train`` -> ``Clustering::train``,
    faiss/impl/ProductQuantizer.cpp and faiss/Clustering.cpp, faiss 1.15): with more than
    ``max_points_per_centroid * 2**nbits`` (256 * 256 = 65536 for 8 bits) training vectors, a
    random subset of that many rows, the same rows for every sub-space; then ``n_iter`` rounds of
    assignment and update, stopping early when the objective stops changing
    (:func:`dscref.kmeans.subspace_kmeans`). Empty clusters are relocated onto far points
    (faiss splits a large cluster instead).

    Encoding (:func:`dscref.nearest.nearest`) uses direct distance loops for sub-spaces of
    width d/M < 64 (exact float32 distances, bit-identical to the NumPy twin) and a BLAS
    product per block of rows above; the path depends on the shape only, and the codes do not
    depend on the number of threads.

    With at most ``2**nbits`` distinct training vectors, k-means is skipped: the training
    sub-vectors themselves become the codewords (padded by repetition), so the training set is
    reconstructed exactly.
    """

    def __init__(self, M: int, nbits: int = 8, n_iter: int = 25, seed=None, init: str = "random",
                 max_points_per_centroid: int | None = 256):
        self.M = check_int(M, "M", low=1)
        self.nbits = check_int(nbits, "nbits", low=1, high=16)
        self.n_iter = check_int(n_iter, "n_iter", low=1)
        self.seed = seed
        self.init = check_choice(init, "init", {"random", "k-means++"})
        if max_points_per_centroid is not None:
            max_points_per_centroid = check_int(max_points_per_centroid, "max_points_per_centroid", low=1)
        self.max_points_per_centroid = max_points_per_centroid

    # ------------------------------------------------------------------ properties
    @property
    def ksub(self) -> int:
        """Centroids per sub-space, ``2**nbits``."""
        return 1 << self.nbits

    @property
    def code_dtype(self):
        """uint8 for nbits <= 8, else uint16."""
        return np.uint8 if self.nbits <= 8 else np.uint16

    @property
    def code_size(self) -> int:
        """Bytes of one code when bit-packed: ``ceil(M * nbits / 8)``."""
        return (self.M * self.nbits + 7) // 8

    @property
    def dsub(self) -> int:
        self._check_fitted()
        return self.d_ // self.M

    def _check_fitted(self) -> None:
        if not hasattr(self, "codebooks_"):
            raise ValueError("this ProductQuantizer is not fitted yet: call fit(x) first")

    # ------------------------------------------------------------------ training
    def fit(self, x) -> "ProductQuantizer":
        """Learn the M codebooks from training vectors ``x`` (n, d), float32."""
        x = as_float_matrix(x, "x")
        n, d = x.shape
        if d % self.M:
            raise ValueError(f"d={d} is not divisible by M={self.M}")
        dsub, ksub = d // self.M, self.ksub
        rng = as_generator(self.seed)
        codebooks = np.empty((self.M, ksub, dsub), dtype=np.float32)
        if n <= ksub:
            log.warning("PQ: %d training vectors <= %d centroids per sub-space: codewords are the "
                        "training sub-vectors (exact reconstruction)", n, ksub)
            reps = np.arange(ksub) % n
            for m in range(self.M):
                codebooks[m] = x[reps, m * dsub:(m + 1) * dsub]
            self.n_relocated_, self.n_iter_ = 0, 0
        else:
            idx = None
            if self.max_points_per_centroid is not None and n > self.max_points_per_centroid * ksub:
                idx = np.sort(rng.choice(n, self.max_points_per_centroid * ksub, replace=False))
            xs = gather_subspaces(x, idx, self.M)  # (M, n', dsub): sub-space m contiguous
            init = self._init_codebooks(xs, rng)
            codebooks, self.n_relocated_, self.n_iter_ = subspace_kmeans(xs, init, self.n_iter)
        self.codebooks_ = codebooks
        self.d_ = d
        return self

    def _init_codebooks(self, xs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Initial codebooks (M, ksub, dsub) from the sample xs (M, n, dsub): per sub-space, ksub
        distinct random training rows (sorted) or k-means++ seeds, drawn from ``rng`` one
        sub-space after the other."""
        from ._kernels import kmeans as kern

        M, n, dsub = xs.shape
        k = self.ksub
        init = np.empty((M, k, dsub), dtype=np.float32)
        for m in range(M):
            if self.init == "random":
                init[m] = xs[m, np.sort(rng.choice(n, k, replace=False))]
                continue
            first = int(rng.integers(n))
            chosen = np.empty(k, dtype=np.int64)
            kern.kmeanspp_init(xs[m], first, rng.random(k), chosen)
            init[m] = xs[m, chosen]
        return init

    # ------------------------------------------------------------------ coding
    def encode(self, x) -> np.ndarray:
        """Codes of ``x`` (n, d) -> (n, M) uint8 (uint16 when nbits > 8)."""
        self._check_fitted()
        x = as_float_matrix(x, "x", d=self.d_, allow_empty=True)
        codes = np.empty((x.shape[0], self.M), dtype=self.code_dtype)
        if x.shape[0]:
            with parallel_plan(x.shape[0], self.d_, self.ksub, self.dsub) as parallel:
                nearest(x, self.codebooks_, codes, parallel=parallel)
        return codes

    def _as_codes(self, codes) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.M:
            raise ValueError(f"codes must have shape (n, M={self.M}), got {codes.shape}")
        if codes.dtype.kind not in "iu" or codes.dtype == np.bool_:
            raise TypeError(f"codes must be unsigned integers, got dtype {codes.dtype}")
        if codes.dtype != self.code_dtype:
            if codes.size and (codes.min() < 0 or codes.max() >= self.ksub):
                raise ValueError(f"codes must lie in [0, {self.ksub}), got range "
                                 f"[{codes.min()}, {codes.max()}]")
            codes = codes.astype(self.code_dtype)
        elif self.nbits not in (8, 16) and codes.size and codes.max() >= self.ksub:
            raise ValueError(f"codes must lie in [0, {self.ksub}), got max {codes.max()}")
        return np.ascontiguousarray(codes)

    def decode(self, codes) -> np.ndarray:
        """Reconstruction ``[r_1,c_1, ..., r_M,c_M]`` of codes (n, M) -> (n, d) float32."""
        from ._kernels import pq as kern

        self._check_fitted()
        codes = self._as_codes(codes)
        out = np.empty((codes.shape[0], self.d_), dtype=np.float32)
        if codes.shape[0]:
            kern.decode(codes, self.codebooks_, out)
        return out

    # ------------------------------------------------------------------ lookup tables
    def _sub_products(self, qs: np.ndarray) -> np.ndarray:
        """<q_m, r_mj> for queries (nq, M, dsub): one batched GEMM (M, nq, dsub) @ (M, dsub, ksub),
        returned as (nq, M, ksub) float32.

        np.matmul is 7x faster than the equivalent einsum here; a few queries are a few million
        multiply-adds, so BLAS is pinned to one thread: waking OpenBLAS's second thread cost
        60 ms against 0.8 ms of arithmetic on a loaded 2-core machine.
        """
        a, b = qs.transpose(1, 0, 2), self.codebooks_.transpose(0, 2, 1)
        ctx = blas_threads_pinned_to_one() if qs.shape[0] * self.d_ * self.ksub < (1 << 27) else None
        if ctx is None:
            ip = np.matmul(a, b)
        else:
            with ctx:
                ip = np.matmul(a, b)
        return ip.transpose(1, 0, 2)

    def _queries(self, q):
        q = np.asarray(q)
        single = q.ndim == 1
        qm = as_float_vector(q, "q", d=self.d_)[None] if single else as_float_matrix(q, "q", d=self.d_)
        return qm.reshape(qm.shape[0], self.M, self.dsub), single

    def lut_l2(self, q) -> np.ndarray:
        """Squared sub-distances ``lut[m, j] = ||q_m - r_mj||^2``.

        Parameters
        ----------
        q : ndarray (d,) or (nq, d)

        Returns
        -------
        ndarray (M, 2**nbits) float32, or (nq, M, 2**nbits) for a batch.
        """
        self._check_fitted()
        qs, single = self._queries(q)
        cb = self.codebooks_
        # ||q_m||^2 - 2 <q_m, r_mj> + ||r_mj||^2
        ip = self._sub_products(qs)
        lut = (qs ** 2).sum(-1)[:, :, None] - 2 * ip + (cb * cb).sum(-1)[None]
        lut = np.maximum(lut, 0, out=lut).astype(np.float32, copy=False)
        return np.ascontiguousarray(lut[0] if single else lut)

    def lut_ip(self, q) -> np.ndarray:
        """Sub-inner-products ``lut[m, j] = <q_m, r_mj>``: (M, 2**nbits) or (nq, M, 2**nbits) float32."""
        self._check_fitted()
        qs, single = self._queries(q)
        lut = self._sub_products(qs).astype(np.float32, copy=False)
        return np.ascontiguousarray(lut[0] if single else lut)

    def sdc_table(self) -> np.ndarray:
        """Symmetric sub-codeword distances ``T[m, i, j] = ||r_mi - r_mj||^2``: (M, ksub, ksub) float32.

        The table behind symmetric distance computation (SDC) and soft-decision decoding. It has
        ``M * 4**nbits`` entries, so it is available up to ``nbits = 12`` (64 MiB per sub-space).
        """
        self._check_fitted()
        if self.nbits > MAX_TABLE_NBITS:
            raise ValueError(f"sdc_table would hold M * 4**nbits = {self.M * 4 ** self.nbits} floats for "
                             f"nbits={self.nbits}; it is available up to nbits={MAX_TABLE_NBITS}")
        cb = self.codebooks_.astype(np.float64)
        n2 = (cb ** 2).sum(-1)
        t = n2[:, :, None] + n2[:, None, :] - 2 * np.einsum("mid,mjd->mij", cb, cb)
        return np.maximum(t, 0).astype(np.float32)
