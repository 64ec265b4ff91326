"""Power allocation for linear analog transmission of parallel Gaussian components over AWGN.

The one concept: given ``m`` uncorrelated zero-mean components with variances ``lambda_i`` (the
PCA / Karhunen-Loeve coefficients of a source), each sent as ``y_i = a_i s_i + n_i`` on its own
real channel use with noise ``n_i ~ N(0, N)`` under a total power constraint
``sum_i a_i^2 lambda_i <= P``, and estimated by the linear MMSE receiver, which gains ``a_i``
minimise the mean squared error? (Lee & Petersen 1976; Basar, Sankur & Abut 1980.)

Derivation (the docstring of :func:`linear_power_allocation` has the result). Write
``p_i = a_i^2 lambda_i`` for the power spent on component i. The LMMSE estimate of ``s_i`` from
``y_i`` is ``s_hat_i = a_i lambda_i / (p_i + N) * y_i`` and its error is

    D_i(p_i) = lambda_i - a_i^2 lambda_i^2 / (p_i + N) = lambda_i N / (p_i + N)

(``lambda_i`` when ``p_i = 0``: the component is not sent and estimated by its mean 0). The
problem ``min sum_i D_i(p_i)`` s.t. ``sum_i p_i = P``, ``p_i >= 0`` is convex (each D_i is convex
in p_i). Its KKT conditions with multiplier ``mu`` read ``lambda_i N / (p_i + N)^2 = mu`` where
``p_i > 0`` and ``lambda_i N / N^2 <= mu`` where ``p_i = 0``, so

    p_i = max(0, sqrt(lambda_i N / mu) - N) = N * max(0, gamma sqrt(lambda_i) - 1),
    gamma = 1 / sqrt(mu N).

The active set is the ``k`` largest components, and the budget fixes gamma:
``gamma = (P + k N) / (N S_k)`` with ``S_k = sum_{i<=k} sqrt(lambda_i)``, i.e.

    p_i = (P + k N) sqrt(lambda_i) / S_k - N    (i <= k),      p_i = 0    (i > k),

    a_i^2 = p_i / lambda_i,       D = N S_k^2 / (P + k N) + sum_{i>k} lambda_i.

``k`` is the largest count with ``f(k) = (P + k N) sqrt(lambda_k) - N S_k > 0`` (the weakest
active component gets positive power); ``f(k+1) - f(k) = (P + k N)(sqrt(lambda_{k+1}) -
sqrt(lambda_k)) <= 0`` for sorted variances, so the components that qualify form a prefix.
Unlike capacity water-filling (``p_i = (nu - N)^+``, equal *water level*), the linear MSE
solution gives power in proportion to the *standard deviation* of a component minus a floor,
and a component is switched on when ``sqrt(lambda_k) > N S_{k-1} / (P + (k-1) N)``: the number of
active components grows with SNR. At ``N = 0`` every non-zero component is active with
``p_i = P sqrt(lambda_i) / S``.

References
----------
.. [1] K.-H. Lee and D. P. Petersen, "Optimal linear coding for vector channels", IEEE Trans.
       Commun., vol. COM-24, no. 12, pp. 1283-1290, Dec. 1976 (total power constraint: power
       assignments from the eigenvalues of the source covariance and of the noise).
.. [2] T. Basar, B. Sankur and H. Abut, "Performance bounds and optimal linear coding for
       discrete-time multichannel communication systems", IEEE Trans. Inf. Theory, vol. IT-26,
       no. 2, pp. 212-217, Mar. 1980.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_float

__all__ = ["linear_power_allocation", "lmmse_distortion"]


def _as_nonnegative(x, name: str) -> np.ndarray:
    """A 1-D float64 array of finite values >= 0, or a TypeError / ValueError naming ``name``."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (m,), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr[~np.isfinite(arr)][0]!r}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {arr.min()!r}")
    return arr


def linear_power_allocation(variances, noise_var, total_power) -> np.ndarray:
    """The MSE-optimal linear power allocation over parallel real AWGN uses (module notes).

    Parameters
    ----------
    variances : array-like of shape (m,), finite, >= 0
        ``lambda_i``, the variances of the components (any order).
    noise_var : float >= 0
        ``N``, the noise variance of each real channel use (0: a noise-free channel).
    total_power : float > 0
        ``P``, the power budget: ``sum_i p_i = P`` (whenever some variance is positive).

    Returns
    -------
    ndarray of shape (m,), float64
        ``p_i >= 0``, the power of component i (the gain is ``a_i = sqrt(p_i / lambda_i)``):
        ``p_i = (P + k N) sqrt(lambda_i) / S_k - N`` on the ``k`` strongest components, 0 on the
        others (Lee & Petersen 1976). All zeros when every variance is 0 (nothing to send).

    Raises
    ------
    ValueError
        If a variance is negative or not finite, ``noise_var`` is negative or not finite, or
        ``total_power`` is not positive and finite.
    TypeError
        If an argument is not made of real numbers.

    Examples
    --------
    >>> linear_power_allocation([4.0, 1.0], noise_var=1.0, total_power=1.0).round(3).tolist()
    [1.0, 0.0]
    >>> linear_power_allocation([4.0, 1.0], noise_var=0.1, total_power=1.0).round(4).tolist()
    [0.7, 0.3]
    """
    lam = _as_nonnegative(variances, "variances")
    N = check_float(noise_var, "noise_var", low=0.0)
    P = check_float(total_power, "total_power", low=0.0, low_open=True)
    out = np.zeros(lam.size)
    if not lam.any():
        return out
    order = np.argsort(-lam, kind="stable")
    # the allocation does not change when every variance is scaled: work with lambda / max <= 1
    s = np.sqrt(lam[order] / lam[order[0]])
    s = s[s > 0]
    S = np.cumsum(s)
    kk = np.arange(1, s.size + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        # f(k) / N = (P / N + k) s_k - S_k > 0 on a prefix (module notes); N = 0: every one
        f = (P / N + kk) * s - S if N > 0 else np.ones(s.size)
        k = max(1, int(np.count_nonzero(f > 0)))  # f(1) = P s_1 > 0
        p = (P + k * N) * (s[:k] / S[k - 1]) - N
    if not np.isfinite(p).all():
        raise ValueError(f"noise_var={N!r} with total_power={P!r} overflows float64")
    out[order[:k]] = np.maximum(p, 0.0)
    return out


def lmmse_distortion(variances, powers, noise_var) -> np.ndarray:
    """Mean squared error of the LMMSE estimate of each component: ``lambda_i N_i / (p_i + N_i)``.

    Parameters
    ----------
    variances : array-like of shape (m,), finite, >= 0
    powers : array-like of shape (m,), finite, >= 0
        ``p_i = a_i^2 lambda_i``, e.g. from :func:`linear_power_allocation`.
    noise_var : float or array-like broadcastable to (m,), finite, >= 0
        The noise variance of each component's real channel use.

    Returns
    -------
    ndarray of shape (m,), float64
        ``lambda_i`` where ``p_i = 0`` (not sent), 0 where ``p_i > 0`` and ``N_i = 0``.
    """
    lam = _as_nonnegative(variances, "variances")
    p = _as_nonnegative(powers, "powers")
    if p.shape != lam.shape:
        raise ValueError(f"powers must have the shape of variances {lam.shape}, got {p.shape}")
    N = noise_var if isinstance(noise_var, np.ndarray) else np.asarray(noise_var)
    if N.dtype == np.bool_ or N.dtype.kind not in "iuf":
        raise TypeError(f"noise_var must be real numbers, got dtype {N.dtype}")
    N = N.astype(np.float64)
    if not np.isfinite(N).all() or (N.size and N.min() < 0):
        raise ValueError("noise_var must be finite and >= 0")
    try:
        N = np.broadcast_to(N, lam.shape)
    except ValueError:
        raise ValueError(f"noise_var of shape {N.shape} does not broadcast to {lam.shape}") from None
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        share = 1.0 / (1.0 + p / N)  # N / (p + N) without overflow; p / 0 = inf gives 0
    return np.where(p > 0, lam * share, lam)
