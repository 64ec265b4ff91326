"""Linear analog joint source-channel coding (JSCC) of feature vectors at a given bandwidth.

The one concept: a fitted linear encoder that sends a d-dimensional feature in ``B`` complex
channel uses, and its LMMSE decoder. It is the equal-bandwidth analog baseline of Jankowski,
Gunduz & Mikolajczyk (JSAC 2021) in its classical linear form:

1. **PCA** (Karhunen-Loeve) learned on the database: ``c = U^T (x - mu)``, the ``2B`` strongest
   components (B complex uses carry 2B reals: component ``2k`` on the in-phase and ``2k+1`` on
   the quadrature part of use k, strongest first). Optionally one PCA per *group* (a head
   partition, known to both ends as side information: the head's first label); groups with fewer
   than ``min_group_size`` rows share one PCA fitted on all their rows pooled (the rule of the
   index's shared residual quantizer, :mod:`dscref.index._quantizers`).
2. **Power allocation** across components by the optimal linear rule
   (:func:`~dscref.channel.allocation.linear_power_allocation`, Lee & Petersen 1976):
   ``s_i = a_i c_i`` with ``a_i^2 lambda_i = p_i``, designed for the channel's SNR, with
   ``sum_i p_i = B``: the energy per complex use is 1 **on average over the fitted database**
   (exactly, per group and overall), the convention of the digital schemes (``Es = 1``, SNR =
   Es/N0 per complex use, :mod:`dscref.channel.models`). Single vectors are not normalised (unlike
   :func:`~dscref.channel.transmit.transmit_analog`, which scales every row to energy 1 and
   assumes the scale reaches the receiver for free).
3. **Channel**: the complex symbols go through :mod:`dscref.channel.models` (AWGN, or Rayleigh
   block fading with perfect CSI and the zero-forcing equaliser ``z = y / h``); each row is its
   own transmission, the generator draws noise then gains as everywhere in the package.
4. **LMMSE receiver**, per component with the known noise of its use (``N0 / 2`` per real
   dimension, ``N0 / (2 |h|^2)`` after equalising a block's gain h):
   ``c_hat_i = a_i lambda_i / (p_i + N_i) z_i``, ``x_hat = mu + U c_hat``. On AWGN its expected
   squared error is ``sum_i lambda_i N / (p_i + N) + (variance outside the sent components)``
   (:meth:`LinearJSCC.expected_mse`). The estimate shrinks towards the mean as noise grows, so
   it never overflows (a deep fade yields the mean, not noise blown up by ``1 / h``).

Why PCA + this allocation: for a Gaussian source over AWGN with B uses and ``2B <= d`` this is
the optimal *linear* scheme (Lee & Petersen; Basar et al.); the features are not Gaussian, so it
is the natural linear baseline, not an optimum. Linear repetition (2B > rank) gains nothing on
AWGN, so unused uses carry zeros. With block fading the transmitter, not knowing h, keeps the
AWGN design at the average SNR.

References
----------
.. [1] M. Jankowski, D. Gunduz and K. Mikolajczyk, "Wireless image retrieval at the edge",
       IEEE J. Sel. Areas Commun., vol. 39, no. 1, pp. 89-100, 2021.
.. [2] K.-H. Lee and D. P. Petersen, "Optimal linear coding for vector channels", IEEE Trans.
       Commun., vol. COM-24, no. 12, pp. 1283-1290, 1976.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._validate import as_float_matrix, as_generator, check_int
from .allocation import linear_power_allocation, lmmse_distortion
from .models import _check_snr, _through_complex, snr_to_noise_var

__all__ = ["LinearJSCC", "JSCCResult"]

log = logging.getLogger(__name__)

_CHUNK = 8192
_RANK_TOL = 1e-10  # components with a variance below this share of the largest are dropped


@dataclass(frozen=True)
class _Basis:
    """One PCA: mean (d,) float32, components (r, d) float32 (rows, strongest first), their
    variances (r,) float64, and the variance left outside them (float)."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    rest: float


def _fit_basis(x: np.ndarray, rows: np.ndarray, r_max: int) -> _Basis:
    """PCA of ``x[rows]`` (float64 sums in fixed-size chunks), at most ``r_max`` components."""
    n, d = rows.size, x.shape[1]
    mean = np.zeros(d)
    for a in range(0, n, _CHUNK):
        mean += x[rows[a:a + _CHUNK]].sum(0, dtype=np.float64)
    mean /= n
    if n <= d:  # thin SVD of the centred rows: cheaper than the d x d covariance
        xc = x[rows].astype(np.float64) - mean
        _, sv, vt = np.linalg.svd(xc, full_matrices=False)
        var, comps = sv ** 2 / n, vt
        total = float((xc ** 2).sum()) / n
    else:
        cov = np.zeros((d, d))
        for a in range(0, n, _CHUNK):
            xc = x[rows[a:a + _CHUNK]].astype(np.float64) - mean
            cov += xc.T @ xc
        cov /= n
        w, v = np.linalg.eigh(cov)
        var, comps = w[::-1], v[:, ::-1].T
        total = float(np.trace(cov))
    var = np.maximum(var, 0.0)
    keep = int(np.count_nonzero(var > _RANK_TOL * max(float(var[0]) if var.size else 0.0, 1e-300)))
    keep = min(keep, r_max)
    var, comps = var[:keep].copy(), np.ascontiguousarray(comps[:keep])
    # a deterministic sign: the largest-magnitude entry of every component is positive
    flip = comps[np.arange(keep), np.abs(comps).argmax(1)] < 0
    comps[flip] *= -1.0
    return _Basis(mean.astype(np.float32), comps.astype(np.float32), var, max(total - float(var.sum()), 0.0))


@dataclass(frozen=True)
class JSCCResult:
    """Outcome of :meth:`LinearJSCC.send`.

    Attributes
    ----------
    received : ndarray (n, d) float32
        The LMMSE reconstruction ``mu + U c_hat``.
    channel_uses : int
        Complex uses of the whole call (``n * n_uses``).
    energy : ndarray (n,) float64
        Energy per complex use of each transmitted row (1 on average over the fitted database).
    noise_var : ndarray (n, n_uses) float64
        Complex noise variance per use after equalisation (``N0``, or ``N0 / |h|^2``).
    """

    received: np.ndarray
    channel_uses: int
    energy: np.ndarray
    noise_var: np.ndarray


class LinearJSCC:
    """PCA + optimal linear power allocation + LMMSE: a feature in ``n_uses`` complex uses.

    Parameters
    ----------
    n_uses : int >= 1
        B, complex channel uses per vector (2B real components are sent).
    snr_db : float
        Design SNR (Es/N0 per complex use, as :class:`~dscref.channel.models.AWGN`; ``+inf`` for a
        noise-free design), which sets the power allocation.
    n_components : int, optional
        Components kept per PCA by :meth:`fit` (default ``2 * n_uses``); :meth:`redesign` can
        then use any ``n_uses <= n_components / 2`` without refitting.
    min_group_size : int, optional
        With groups: a group gets its own PCA when it has at least this many rows; default
        ``4 * n_components`` (a sample covariance from n rows estimates r leading directions
        poorly unless n >> r; groups below it share the pooled PCA).
    max_rows : int, optional
        Fit on a random sample of this many rows (``seed``); default: all rows. The energy
        normalisation is then exact on the sample.
    seed : int, Generator or None
        For the sample.

    Attributes (after :meth:`fit`)
    ------------------------------
    d_ : int
    bases_ : list of the fitted PCAs; ``bases_[0]`` is the shared one
    group_ids_ : ndarray (g,) int64, sorted, the groups with an own PCA (``bases_[1 + j]``)
    powers_ : list of ndarray (2 * n_uses,) float64, the allocation ``p_i`` of each basis
        (``sum = n_uses``: energy 1 per complex use over the rows the basis was fitted on)
    gains_ : list of ndarray (2 * n_uses,) float64, ``a_i = sqrt(p_i / lambda_i)`` (0: not sent)
    """

    def __init__(self, n_uses: int, snr_db, *, n_components: int | None = None,
                 min_group_size: int | None = None, max_rows: int | None = None, seed=0):
        self.n_uses = check_int(n_uses, "n_uses", low=1)
        self.snr_db = _check_snr(snr_db)
        self.n_components = (2 * self.n_uses if n_components is None
                             else check_int(n_components, "n_components", low=1))
        if self.n_components < 2 * self.n_uses:
            raise ValueError(f"n_components={self.n_components} < 2 * n_uses = {2 * self.n_uses}: "
                             "B complex uses carry 2B components")
        self.min_group_size = (4 * self.n_components if min_group_size is None
                               else check_int(min_group_size, "min_group_size", low=2))
        self.max_rows = None if max_rows is None else check_int(max_rows, "max_rows", low=2)
        self.seed = seed

    def __repr__(self) -> str:
        return f"LinearJSCC(n_uses={self.n_uses}, snr_db={self.snr_db!r}, n_components={self.n_components})"

    # ------------------------------------------------------------------ fit
    def fit(self, x, groups=None) -> "LinearJSCC":
        """Learn the PCA(s) on database rows ``x`` (n, d) and allocate power.

        ``groups`` (n,) int, optional: each row's group (e.g. its partition label); groups with
        at least ``min_group_size`` rows get their own PCA, the others share one fitted on their
        rows pooled (or on all rows, if fewer than ``min_group_size`` rows are pooled).
        """
        x = as_float_matrix(x, "x")
        n, d = x.shape
        if n < 2:
            raise ValueError(f"x has {n} row(s): a PCA needs at least 2")
        if groups is not None:
            groups = _as_groups(groups, "groups", n)
        rows = np.arange(n)
        if self.max_rows is not None and n > self.max_rows:
            rows = np.sort(as_generator(self.seed).choice(n, self.max_rows, replace=False))
        own = np.zeros(0, dtype=np.int64)
        shared_rows = rows  # no groups, or too few rows in the small groups to fit a PCA on
        if groups is not None:
            ids, counts = np.unique(groups[rows], return_counts=True)
            own = ids[counts >= self.min_group_size]
            pooled = rows[~np.isin(groups[rows], own)]
            if pooled.size >= self.min_group_size:
                shared_rows = pooled
        bases = [_fit_basis(x, shared_rows, self.n_components)]
        for gid in own:
            bases.append(_fit_basis(x, rows[groups[rows] == gid], self.n_components))
        self.d_, self.bases_, self.group_ids_ = d, bases, own
        log.info("LinearJSCC: %d PCA(s) on %d rows x %d, %d components kept", len(bases), rows.size, d,
                 bases[0].variances.size)
        self._allocate()
        return self

    def _allocate(self) -> None:
        m = 2 * self.n_uses
        n_real = snr_to_noise_var(self.snr_db) / 2.0  # N0 / 2 per real dimension
        self.powers_, self.gains_ = [], []
        for b in self.bases_:
            lam = np.zeros(m)
            r = min(m, b.variances.size)
            lam[:r] = b.variances[:r]
            p = linear_power_allocation(lam, n_real, float(self.n_uses)) if lam.any() else np.zeros(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(p > 0, np.sqrt(p / np.where(lam > 0, lam, 1.0)), 0.0)
            self.powers_.append(p)
            self.gains_.append(a)

    def redesign(self, n_uses: int | None = None, snr_db=None) -> "LinearJSCC":
        """A copy for another bandwidth or design SNR sharing the fitted PCAs (no refit).

        ``n_uses`` may not exceed ``n_components / 2``.
        """
        self._check_fitted()
        new = _copy_with(self, n_uses=self.n_uses if n_uses is None else check_int(n_uses, "n_uses", low=1),
                            snr_db=self.snr_db if snr_db is None else _check_snr(snr_db))
        if 2 * new.n_uses > self.n_components:
            raise ValueError(f"n_uses={new.n_uses} needs {2 * new.n_uses} components; this encoder kept "
                             f"n_components={self.n_components} (fit a new one)")
        new._allocate()
        return new

    def _check_fitted(self) -> None:
        if not hasattr(self, "bases_"):
            raise ValueError("this LinearJSCC is not fitted yet: call fit(x) first")

    # ------------------------------------------------------------------ the two ends
    def _basis_of(self, groups, n: int, name: str) -> np.ndarray:
        """Index into ``bases_`` of every row (0 = shared: no group, or a group without its own)."""
        if groups is None:
            return np.zeros(n, dtype=np.int64)
        g = _as_groups(groups, name, n)
        ids = self.group_ids_
        if ids.size == 0:
            return np.zeros(n, dtype=np.int64)
        pos = np.searchsorted(ids, g)
        hit = ids[np.minimum(pos, ids.size - 1)] == g
        return np.where(hit, pos + 1, 0).astype(np.int64)

    def encode(self, x, groups=None) -> np.ndarray:
        """The device's side: rows ``x`` (n, d) -> symbols (n, n_uses) complex128.

        ``groups`` (n,) int: the side information choosing each row's PCA (any integer; a group
        without an own PCA, e.g. -1, uses the shared one).
        """
        self._check_fitted()
        x = as_float_matrix(x, "x", d=self.d_)
        which = self._basis_of(groups, x.shape[0], "groups")
        m = 2 * self.n_uses
        s = np.zeros((x.shape[0], m))
        for bi in np.unique(which):
            rows = np.flatnonzero(which == bi)
            b, a = self.bases_[bi], self.gains_[bi]
            r = min(m, b.variances.size)
            c = (x[rows].astype(np.float64) - b.mean) @ b.components[:r].T.astype(np.float64)
            s[rows, :r] = c * a[:r]
        return s[:, 0::2] + 1j * s[:, 1::2]

    def decode(self, z, noise_var, groups=None) -> np.ndarray:
        """The server's side: equalised symbols (n, n_uses) -> LMMSE estimates (n, d) float32.

        ``noise_var``: the complex noise variance of every use after equalisation, a scalar or
        (n, n_uses) (``N0 / |h|^2`` under fading; 0 for a noise-free channel). ``groups`` as in
        :meth:`encode`, as the receiver knows them.
        """
        self._check_fitted()
        z = z if isinstance(z, np.ndarray) else np.asarray(z)
        if z.dtype == np.bool_ or z.dtype.kind not in "iufc":
            raise TypeError(f"z must hold complex (or real) symbols, got dtype {z.dtype}")
        if z.ndim != 2 or z.shape[1] != self.n_uses:
            raise ValueError(f"z must have shape (n, {self.n_uses}), got {z.shape}")
        if not np.isfinite(z).all():
            raise ValueError("z holds NaN or inf")
        n = z.shape[0]
        nv = noise_var if isinstance(noise_var, np.ndarray) else np.asarray(noise_var)
        if nv.dtype == np.bool_ or nv.dtype.kind not in "iuf":
            raise TypeError(f"noise_var must be real numbers, got dtype {nv.dtype}")
        try:
            nv = np.broadcast_to(nv.astype(np.float64), (n, self.n_uses))
        except ValueError:
            raise ValueError(f"noise_var of shape {nv.shape} does not broadcast to ({n}, {self.n_uses})") from None
        if not (np.isfinite(nv).all() and (nv >= 0).all()):
            raise ValueError("noise_var must be finite and >= 0")
        y = np.empty((n, 2 * self.n_uses))
        y[:, 0::2], y[:, 1::2] = z.real, z.imag
        n_real = np.repeat(nv / 2.0, 2, axis=1)
        which = self._basis_of(groups, n, "groups")
        out = np.empty((n, self.d_), dtype=np.float32)
        for bi in np.unique(which):
            rows = np.flatnonzero(which == bi)
            b, a, p = self.bases_[bi], self.gains_[bi], self.powers_[bi]
            r = min(2 * self.n_uses, b.variances.size)
            lam, a, p, N = b.variances[:r], a[:r], p[:r], n_real[rows, :r]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                w = np.where(p > 0, a * lam / (p + N), 0.0)  # c_hat_i = a_i lambda_i / (p_i + N_i) z_i
                est = b.mean + (w * y[rows, :r]) @ b.components[:r].astype(np.float64)
                out[rows] = est
        if not np.isfinite(out).all():
            raise ValueError("the estimate exceeds float32: z is far outside what the encoder sends")
        return out

    def send(self, x, channel, rng=None, groups=None, rx_groups=None) -> JSCCResult:
        """Encode, send through ``channel`` (each row its own transmission) and decode.

        ``rx_groups`` are the groups as the receiver knows them (default: ``groups``).
        """
        from .transmit import check_channel

        channel = check_channel(channel)
        rng = as_generator(rng)
        sym = self.encode(x, groups)
        zr, zi, nvar = _through_complex(np.ascontiguousarray(sym.real), np.ascontiguousarray(sym.imag),
                                        channel, rng)
        rx = self.decode(zr + 1j * zi, nvar, groups if rx_groups is None else rx_groups)
        energy = (np.abs(sym) ** 2).sum(1) / self.n_uses
        return JSCCResult(received=rx, channel_uses=sym.shape[0] * self.n_uses, energy=energy, noise_var=nvar)

    # ------------------------------------------------------------------ theory
    def expected_mse(self, snr_db=None, basis: int = 0) -> float:
        """Closed-form ``E ||x - x_hat||^2`` over AWGN at ``snr_db`` (default: the design SNR) for
        the rows of ``bases_[basis]`` (Gaussian model):
        ``sum_{i < 2B} lambda_i N / (p_i + N) + sum_{i >= 2B} lambda_i + rest``, ``N = N0 / 2``."""
        self._check_fitted()
        basis = check_int(basis, "basis", low=0, high=len(self.bases_) - 1)
        n_real = snr_to_noise_var(self.snr_db if snr_db is None else snr_db) / 2.0
        b, m = self.bases_[basis], 2 * self.n_uses
        r = min(m, b.variances.size)
        sent = lmmse_distortion(b.variances[:r], self.powers_[basis][:r], n_real).sum()
        return float(sent + b.variances[r:].sum() + b.rest)


def _copy_with(obj, **kw):
    """A shallow copy of ``obj`` with attributes ``kw`` set (the fitted arrays are shared)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(kw)
    return new


def _as_groups(groups, name: str, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.dtype == np.bool_ or g.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers (group ids), got dtype {g.dtype}")
    if g.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {g.shape}")
    return g.astype(np.int64)

