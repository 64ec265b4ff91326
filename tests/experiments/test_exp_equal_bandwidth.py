"""The equal-bandwidth experiment (dscref.experiments.equal_bandwidth) at a tiny scale: its
curves, the ideal bound's cliff at the Shannon threshold, unreachable points, the head seam."""

import math

import pytest

from dscref.experiments.equal_bandwidth import EQUAL_BANDWIDTH_SCHEMES, equal_bandwidth


@pytest.fixture(scope="module")
def run(tiny, indexes):
    return equal_bandwidth(tiny, bandwidths=(16, 47), snrs=(-10.0, 5.0, 30.0), trials=2, k=200,
                           indexes=indexes, progress=False)


def test_curves_and_their_fields(run):
    assert set(run["curves"]) == {f"{s} @ B={B}" for s in EQUAL_BANDWIDTH_SCHEMES for B in (16, 47)}
    for c in run["curves"].values():
        assert len(c["mAP"]) == len(c["snr_db"]) == 3
        for v in c["mAP"]:
            assert v is None or 0.0 <= v <= 1.0
    assert run["payload_bits"] == 360 and run["head_bits"] == 40  # K = 200: 8 bits per label
    assert run["threshold_snr_db"]["47"] == pytest.approx(10 * math.log10(2 ** (360 / 47) - 1))


def test_ideal_bound_is_a_cliff_at_the_threshold(run):
    ref = run["reference"]["DSC, error-free payload"]
    c = run["curves"]["ideal digital @ B=47"]  # threshold 23 dB
    assert c["mAP"][:2] == [0.0, 0.0] and c["mAP"][2] == pytest.approx(ref)
    assert c["lost"] == [1.0, 1.0, 0.0]
    assert run["curves"]["ideal digital @ B=16"]["mAP"] == [0.0, 0.0, 0.0]  # threshold 67 dB


def test_analog_degrades_gracefully_and_the_head_schemes_need_their_head(run):
    a = run["curves"]["analog JSCC @ B=47"]["mAP"]
    assert 0 < a[0] < a[1] < a[2] <= run["reference"]["exact search, clean feature"] + 0.02
    for name in ("hybrid", "analog JSCC + DSC head", "analog JSCC + DUC head"):
        c = run["curves"][f"{name} @ B=47"]
        # 40 head bits in at most 23 uses: lost at -10 dB, delivered at 5 and 30 dB
        assert c["mAP"][0] == 0.0 and c["lost"][0] == 1.0
        assert c["lost"][1:] == [0.0, 0.0] and c["mAP"][2] > 0.3
        assert c["head_uses"][2] + c["analog_uses"][2] == 47
    # the residual to the head's centroid is described better than the feature in the same uses
    hyb, fea = run["curves"]["hybrid @ B=47"]["mse"], run["curves"]["analog JSCC + DSC head @ B=47"]["mse"]
    assert hyb[1] < 0.9 * fea[1] and hyb[2] < 0.9 * fea[2]


def test_a_fixed_code_that_does_not_fit_is_marked(tiny, indexes):
    out = equal_bandwidth(tiny, bandwidths=(16,), snrs=(20.0,), trials=1, k=100, head="hamming84",
                          indexes=indexes, progress=False)
    # 40 bits -> 80 coded bits -> 40 QPSK uses >= B = 16
    assert out["curves"]["hybrid @ B=16"]["mAP"] == [None]
    assert out["curves"]["analog JSCC @ B=16"]["mAP"][0] > 0


def test_seeded_and_fading(tiny, indexes):
    kw = dict(bandwidths=(47,), snrs=(10.0,), trials=1, k=100, fading=True, block=8, indexes=indexes,
              progress=False)
    a, b = equal_bandwidth(tiny, **kw), equal_bandwidth(tiny, **kw)
    assert [c["mAP"] for c in a["curves"].values()] == [c["mAP"] for c in b["curves"].values()]
    assert 0 < a["curves"]["analog JSCC @ B=47"]["mAP"][0] < 1
    # an ideal head sized for 1 % outage under fading takes more uses than on AWGN
    awgn = equal_bandwidth(tiny, **dict(kw, fading=False))
    bh_fading = a["curves"]["hybrid @ B=47"]["head_uses"][0]
    bh_awgn = awgn["curves"]["hybrid @ B=47"]["head_uses"][0]
    assert bh_awgn == 12 and bh_fading > bh_awgn  # 40 bits at 10 dB: ceil(40 / 3.46) on AWGN


def test_per_partition_pca(tiny, indexes):
    kw = dict(bandwidths=(16,), snrs=(30.0,), trials=2, k=200, indexes=indexes, progress=False)
    own = equal_bandwidth(tiny, per_partition=True, min_group_size=20, **kw)
    assert own["per_partition"] and own["min_group_size"] == 20
    # 32 reals per partition PCA instead of one global PCA: a different description
    a = own["curves"]["hybrid @ B=16"]["mse"][0]
    b = equal_bandwidth(tiny, **kw)["curves"]["hybrid @ B=16"]["mse"][0]
    assert a != pytest.approx(b, rel=1e-3)
    # a threshold above every partition: the global PCA, the same numbers as without the option
    none = equal_bandwidth(tiny, per_partition=True, min_group_size=10**6, **kw)
    assert none["curves"]["hybrid @ B=16"]["mse"][0] == pytest.approx(b, rel=1e-12)


def test_validation(tiny, indexes):
    with pytest.raises(ValueError, match="max_head_share"):
        equal_bandwidth(tiny, bandwidths=(16,), snrs=(0.0,), max_head_share=1.0, indexes=indexes)
    with pytest.raises(ValueError, match="bandwidth"):
        equal_bandwidth(tiny, bandwidths=(0,), snrs=(0.0,), indexes=indexes)
    with pytest.raises(TypeError, match="head coder"):
        equal_bandwidth(tiny, bandwidths=(16,), snrs=(0.0,), head=2.5, indexes=indexes)
    with pytest.raises(ValueError, match="scheme"):
        equal_bandwidth(tiny, bandwidths=(16,), snrs=(0.0,), head="ldpc", indexes=indexes)


def test_conv_head_option_and_a_subset_of_schemes(tiny, indexes):
    """head="conv": at each B the most robust convolutional head within half of B; the schemes
    asked for only; a JSCC fit cache shared by two calls gives the same numbers."""
    fits = {}
    kw = dict(bandwidths=(16, 47), snrs=(-10.0, 30.0), trials=1, k=200, indexes=indexes, progress=False)
    out = equal_bandwidth(tiny, head="conv", schemes=("hybrid", "analog JSCC + DSC head"), fits=fits, **kw)
    assert set(out["curves"]) == {f"{s} @ B={B}" for s in ("hybrid", "analog JSCC + DSC head") for B in (16, 47)}
    assert out["schemes"] == ["analog JSCC + DSC head", "hybrid"]
    # 40 head bits + CRC-16 = 56: rate 3/4 -> 83 coded bits, 21 16-QAM uses within 23 (rate 1/2
    # 16-QAM: 31 uses)
    c = out["curves"]["hybrid @ B=47"]
    assert c["head_code"] == ["ConvHead('3/4', '16qam', crc='crc16')"] * 2 and c["head_uses"] == [21, 21]
    assert c["lost"][0] == 1.0 and c["mAP"][0] == 0.0  # -10 dB: every head rejected by its CRC
    assert c["lost"][1] == 0.0 and c["mAP"][1] > 0.3
    assert out["curves"]["hybrid @ B=16"]["mAP"] == [None, None]  # no head fits 8 uses
    assert len(fits) == 2  # the feature's JSCC (for the DSC head) and the residual's
    again = equal_bandwidth(tiny, head="conv", schemes=("hybrid", "analog JSCC + DSC head"), fits=fits, **kw)
    assert [v["mAP"] for v in again["curves"].values()] == [v["mAP"] for v in out["curves"].values()]
    with pytest.raises(ValueError, match="schemes"):
        equal_bandwidth(tiny, schemes=("analog",), **kw)
