"""Tests of dscref.channel.jscc: the LMMSE error equals its closed form, exact recovery at infinite
SNR, energy 1 per use over the database, the optimal allocation beats equal power, groups as side
information, fading per block, the same gains as the ideal bound, bad input."""

import math

import numpy as np
import pytest

from dscref.channel import AWGN, RayleighBlock
from dscref.channel.capacity import ideal_delivery
from dscref.channel.jscc import LinearJSCC


def _gaussian(n, d, seed=0, rank=None, scale=1.0):
    """Zero-mean-shifted Gaussian rows with a spread spectrum in a random basis (rank optional)."""
    rng = np.random.default_rng(seed)
    r = d if rank is None else rank
    sd = scale * np.geomspace(3.0, 0.05, r)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return ((rng.standard_normal((n, r)) * sd) @ Q[:, :r].T + 0.3).astype(np.float32)


@pytest.mark.parametrize("snr_db", [-5.0, 3.0, 15.0])
@pytest.mark.parametrize("channel_kind", ["awgn", "unit_fading"])
def test_mse_equals_the_closed_form(snr_db, channel_kind):
    x = _gaussian(20000, 24, seed=1)
    j = LinearJSCC(6, snr_db).fit(x)  # 12 of 24 components sent
    channel = AWGN(snr_db) if channel_kind == "awgn" else RayleighBlock(snr_db, 3, gains=1.0)
    res = j.send(x, channel, rng=5)
    err = ((res.received.astype(np.float64) - x) ** 2).sum(1)
    expected = j.expected_mse()
    # on the fitted rows the closed form is the exact expectation over the noise
    se = err.std() / math.sqrt(err.size)
    assert abs(err.mean() - expected) < 6 * se, (err.mean(), expected, se)
    assert 0 < expected < (x.astype(np.float64) - x.mean(0)).var(0).sum()


def test_mse_on_fresh_gaussian_rows_matches_within_sampling_error():
    x = _gaussian(60000, 16, seed=2)
    j = LinearJSCC(4, 5.0).fit(x[:40000])
    err = ((j.send(x[40000:], AWGN(5.0), rng=1).received.astype(np.float64) - x[40000:]) ** 2).sum(1)
    assert err.mean() == pytest.approx(j.expected_mse(), rel=0.03)


@pytest.mark.parametrize("fading", [False, True])
def test_infinite_snr_recovers_the_feature_when_2B_covers_the_rank(fading):
    x = _gaussian(500, 32, seed=3, rank=10)
    j = LinearJSCC(5, math.inf).fit(x)
    ch = RayleighBlock(math.inf, 2) if fading else AWGN(math.inf)
    res = j.send(x[:50], ch, rng=0)
    np.testing.assert_allclose(res.received, x[:50], atol=2e-5)
    # one use short of the rank: no longer exact
    short = LinearJSCC(4, math.inf).fit(x).send(x[:50], ch, rng=0).received
    assert np.abs(short - x[:50]).max() > 1e-2


def test_energy_per_use_is_one_over_the_database():
    x = _gaussian(3000, 20, seed=4, scale=7.0)
    for B, snr in ((1, -10.0), (3, 0.0), (10, 20.0), (10, math.inf)):
        res = LinearJSCC(B, snr).fit(x).send(x, AWGN(snr), rng=0)
        assert res.energy.mean() == pytest.approx(1.0, rel=1e-6)
        assert res.channel_uses == 3000 * B and res.noise_var.shape == (3000, B)
        assert res.energy.std() > 0.05  # single rows are not normalised


def test_energy_per_use_is_one_with_groups_own_and_pooled():
    rng = np.random.default_rng(0)
    x = _gaussian(4000, 12, seed=5)
    groups = rng.choice([0, 1, 2, 7, 9], size=4000, p=[0.4, 0.4, 0.1, 0.05, 0.05])
    # groups 0, 1 (~1600 rows) get their own PCA; 2, 7, 9 (~800 rows pooled) share one
    j = LinearJSCC(2, 5.0, min_group_size=700).fit(x, groups)
    assert j.group_ids_.tolist() == [0, 1] and len(j.bases_) == 3
    sym = j.encode(x, groups)
    energy = (np.abs(sym) ** 2).sum(1) / 2
    assert energy.mean() == pytest.approx(1.0, rel=1e-6)
    for g in (0, 1):
        assert energy[groups == g].mean() == pytest.approx(1.0, rel=1e-6)
    assert energy[np.isin(groups, [2, 7, 9])].mean() == pytest.approx(1.0, rel=1e-6)
    # too few pooled rows (800 < 1000): the shared PCA is fitted on every row, the documented
    # fallback, and the database average is then only close to 1
    k = LinearJSCC(2, 5.0, min_group_size=1000).fit(x, groups)
    assert k.group_ids_.tolist() == [0, 1]
    e = (np.abs(k.encode(x, groups)) ** 2).sum(1) / 2
    assert e.mean() == pytest.approx(1.0, rel=0.05) and e.mean() != pytest.approx(1.0, rel=1e-6)


def test_optimal_allocation_beats_equal_power_measured():
    x = _gaussian(20000, 16, seed=6)
    j = LinearJSCC(4, 0.0).fit(x)
    opt = ((j.send(x, AWGN(0.0), rng=2).received - x) ** 2).sum(1).mean()
    lam = j.bases_[0].variances[:8]
    eq = j.redesign()
    eq.powers_ = [np.full(8, 4.0 / 8)]  # 1 per complex use, spread evenly over the 8 reals
    eq.gains_ = [np.sqrt(eq.powers_[0] / lam)]
    eq_mse = ((eq.send(x, AWGN(0.0), rng=2).received - x) ** 2).sum(1).mean()
    assert opt < 0.95 * eq_mse


@pytest.mark.parametrize("snr_db", [-5.0, 5.0, 15.0])
def test_the_design_is_optimal_at_its_own_snr(snr_db):
    # N0 / 2 per real dimension: a design for another SNR does worse at this one
    x = _gaussian(5000, 32, seed=15)
    j = LinearJSCC(8, snr_db).fit(x)
    best = j.expected_mse()
    for off in (-3.0, -1.0, 1.0, 3.0):
        assert best < j.redesign(snr_db=snr_db + off).expected_mse(snr_db)
    from dscref.channel.allocation import linear_power_allocation

    lam = j.bases_[0].variances[:16]
    np.testing.assert_allclose(j.powers_[0], linear_power_allocation(lam, 10 ** (-snr_db / 10) / 2, 8.0))


def test_groups_are_side_information():
    # two groups, each on its own 2-D plane of R^8: one complex use per vector suffices per group
    rng = np.random.default_rng(7)
    planes = [np.linalg.qr(rng.standard_normal((8, 2)))[0] for _ in range(2)]
    groups = np.repeat([3, 5], 400)
    x = np.concatenate([rng.standard_normal((400, 2)) * [2.0, 1.0] @ p.T for p in planes]).astype(np.float32)
    j = LinearJSCC(1, math.inf, min_group_size=100).fit(x, groups)
    rx = j.send(x, AWGN(math.inf), rng=0, groups=groups).received
    np.testing.assert_allclose(rx, x, atol=1e-4)
    # without the groups (shared basis over both planes), or with the wrong ones: not exact
    assert np.abs(LinearJSCC(1, math.inf).fit(x).send(x, AWGN(math.inf), rng=0).received - x).max() > 0.1
    wrong = j.send(x, AWGN(math.inf), rng=0, groups=groups, rx_groups=8 - groups).received
    assert np.abs(wrong - x).max() > 0.1
    # an unknown group (-1) uses the shared basis
    assert (j._basis_of(np.array([-1, 3, 5, 4]), 4, "g") == [0, 1, 2, 0]).all()


def test_fading_lmmse_uses_each_blocks_gain():
    x = _gaussian(20000, 16, seed=8)
    snr = 10.0
    gains = [1.0, 0.2j]  # blocks of 2 uses: uses (0, 1) h = 1, uses (2, 3) h = 0.2j, every row
    j = LinearJSCC(4, snr).fit(x)
    res = j.send(x, RayleighBlock(snr, 2, gains=gains), rng=3)
    h2 = np.array([1.0, 1.0, 0.04, 0.04])
    np.testing.assert_allclose(res.noise_var[0], 10 ** (-snr / 10) / h2)
    from dscref.channel.allocation import lmmse_distortion

    b = j.bases_[0]
    n_real = np.repeat(10 ** (-snr / 10) / h2 / 2.0, 2)
    expected = lmmse_distortion(b.variances[:8], j.powers_[0], n_real).sum() + b.variances[8:].sum() + b.rest
    err = ((res.received.astype(np.float64) - x) ** 2).sum(1)
    assert abs(err.mean() - expected) < 6 * err.std() / math.sqrt(err.size)


def test_deep_fade_shrinks_to_the_mean_instead_of_blowing_up():
    x = _gaussian(2000, 16, seed=9)
    j = LinearJSCC(4, -20.0).fit(x)
    rx = j.send(x[:20], RayleighBlock(-20.0, 4, gains=1e-12), rng=0).received
    assert np.isfinite(rx).all()
    np.testing.assert_allclose(rx, np.broadcast_to(j.bases_[0].mean, rx.shape), atol=1e-6)


def test_the_same_seed_gives_the_same_gains_as_the_ideal_bound():
    x = _gaussian(200, 16, seed=10)
    ch = RayleighBlock(5.0, 3)
    res = LinearJSCC(7, 5.0).fit(x).send(x[:30], ch, rng=np.random.default_rng(11))
    h2 = ch.noise_var / res.noise_var  # |h|^2 per use
    info = np.log2(1 + h2 / ch.noise_var).sum(1)
    ideal = ideal_delivery(100, 7, ch, 30, np.random.default_rng(11))
    np.testing.assert_allclose(ideal.information, info, rtol=1e-12)


def test_redesign_shares_the_fit():
    x = _gaussian(3000, 40, seed=12)
    j = LinearJSCC(4, 0.0, n_components=30).fit(x)
    k = j.redesign(15, 10.0)
    assert k.bases_ is j.bases_ and k.n_uses == 15 and k.snr_db == 10.0 and j.n_uses == 4
    assert k.powers_[0].size == 30 and k.powers_[0].sum() == pytest.approx(15.0)
    fresh = LinearJSCC(15, 10.0).fit(x)
    np.testing.assert_allclose(k.powers_[0], fresh.powers_[0], rtol=1e-6)
    with pytest.raises(ValueError, match="n_components=30"):
        j.redesign(16)


def test_max_rows_samples_with_the_seed():
    x = _gaussian(3000, 8, seed=13)
    a = LinearJSCC(2, 0.0, max_rows=500, seed=1).fit(x)
    b = LinearJSCC(2, 0.0, max_rows=500, seed=1).fit(x)
    c = LinearJSCC(2, 0.0, max_rows=500, seed=2).fit(x)
    np.testing.assert_array_equal(a.bases_[0].components, b.bases_[0].components)
    assert not np.array_equal(a.bases_[0].variances, c.bases_[0].variances)


def test_rank_deficient_data_keeps_only_real_components():
    x = _gaussian(300, 20, seed=14, rank=3)
    j = LinearJSCC(4, 10.0).fit(x)
    assert j.bases_[0].variances.size == 3
    assert (j.powers_[0][3:] == 0).all() and j.powers_[0].sum() == pytest.approx(4.0)


@pytest.mark.parametrize("make, exc, words", [
    (lambda: LinearJSCC(0, 0.0), ValueError, "n_uses"),
    (lambda: LinearJSCC(2, float("nan")), ValueError, "snr_db"),
    (lambda: LinearJSCC(2, 0.0, n_components=3), ValueError, "n_components=3"),
    (lambda: LinearJSCC(2, 0.0, min_group_size=1), ValueError, "min_group_size"),
    (lambda: LinearJSCC(2.5, 0.0), TypeError, "n_uses"),
])
def test_constructor_validation(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_input_validation():
    x = _gaussian(100, 8)
    j = LinearJSCC(2, 0.0)
    with pytest.raises(ValueError, match="not fitted"):
        j.encode(x)
    with pytest.raises(ValueError, match="at least 2"):
        j.fit(x[:1])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="x"):
        j.fit(bad)
    with pytest.raises(TypeError, match="groups"):
        j.fit(x, groups=np.zeros(100))
    with pytest.raises(ValueError, match="groups"):
        j.fit(x, groups=np.zeros(99, dtype=int))
    j.fit(x)
    with pytest.raises(ValueError, match="x"):
        j.encode(x[:, :7])
    with pytest.raises(ValueError, match="shape"):
        j.decode(np.zeros((3, 3), complex), 1.0)
    with pytest.raises(ValueError, match="noise_var"):
        j.decode(np.zeros((3, 2), complex), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        j.decode(np.full((3, 2), np.nan, complex), 1.0)
    with pytest.raises(TypeError, match="channel"):
        j.send(x, "awgn")
    with pytest.raises(ValueError, match="basis"):
        j.expected_mse(basis=1)
