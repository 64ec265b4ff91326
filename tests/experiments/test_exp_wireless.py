"""Fig. 3 at equal bandwidth (dscref.experiments.wireless) at a tiny scale over three seeds, through
the seeds framework: the acceptance test of issue 21 (the ideal bound of a payload lies at or
above every coded, CRC-checked curve sending that payload, at every SNR and B, within the
confidence intervals), the curves and their plans, points that nothing reaches, the gaps, the
tables and the figure."""

import json
import math

import numpy as np
import pytest

from dscref import experiments as E
from dscref.channel.capacity import threshold_snr_db
from dscref.experiments.wireless_report import curve_points, point

SNRS = (-5.0, 0.0, 5.0, 10.0, 20.0)
BWS = (47, 94, 188, 376)
OPTIONS = {"wireless": dict(bandwidths=BWS, snrs=SNRS, trials=1, k=200, fading=True, block=8,
                            robust_variants=("plain",), gap_step=1.0, progress=False)}


def _load(seed):
    return E.synthetic_data(3000, seed=seed, d=64, n_classes=200, n_superclasses=20, ranking_depth=50)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    out = tmp_path_factory.mktemp("wireless")
    run = E.run_seeds(["wireless"], [0, 1, 2], out, load=_load, options=OPTIONS,
                      params={"data": "synthetic", "scale": 3000, "dim": 64, "seed": 0, "seeds": 3})
    return out, run.results["wireless"]


def _coded_and_bound(doc, channel):
    curves = doc["panels"][channel]["curves"]
    for c in curves.values():
        if c["family"] == "digital" and c.get("rate") and c["fits"]:
            yield c, curves[f"{c['bound']} @ B={c['B']}"]


@pytest.mark.parametrize("channel", ["awgn", "fading"])
def test_the_ideal_bound_lies_above_every_coded_crc_checked_curve(three, channel):
    """Acceptance (issue 21): the bound >= the coded curve at every SNR and B, within the 95 % CIs
    of both. The coded payload's CRC-16 covers the whole message, so a query is answered only with
    its payload intact (no answer reaches the search with sub-code errors: ``wrong`` is 0)."""
    _, doc = three
    pairs = list(_coded_and_bound(doc, channel))
    assert len(pairs) == 2 * len(BWS)  # rates 1/2 and 3/4 fit every B here
    strictly_below = 0
    for c, b in pairs:
        assert b["bounds"] and c["scheme"] in b["bounds"]
        assert (b["head_size"], b["subcodes"], b["info_bits"]) == (c["head_size"], c["subcodes"], c["info_bits"])
        for i, snr in enumerate(SNRS):
            (mc, hc), (mb, hb) = (E.mean_and_ci(point(x["mAP"], i)) for x in (c, b))
            assert E.mean_and_ci(point(c["wrong"], i))[0] == 0.0, (channel, c["scheme"], c["B"], snr)
            assert mc <= mb + (hc or 0.0) + (hb or 0.0) + 1e-9, (channel, c["scheme"], c["B"], snr, mc, mb)
            strictly_below += mc < mb - 0.05
    assert strictly_below >= 4  # the test compares curves that differ: coded ones reach later


def test_no_coded_payload_arrives_intact_below_the_shannon_threshold(three):
    """A real code cannot beat capacity: on AWGN, 1 dB or more below the threshold of its
    information bits in B uses, no coded payload arrives intact (the CRC rejects them all: no
    answer); above it the bound delivers all."""
    _, doc = three
    checked = 0
    for c, b in _coded_and_bound(doc, "awgn"):
        thr = threshold_snr_db(c["info_bits"], c["B"])
        for i, snr in enumerate(SNRS):
            intact = E.mean_and_ci(point(c["intact"], i))[0]
            lost, wrong = (E.mean_and_ci(point(c[key], i))[0] for key in ("lost", "wrong"))
            assert intact + lost + wrong == pytest.approx(1.0)
            if snr <= thr - 1.0:
                assert intact == 0.0, (c["scheme"], c["B"], snr)
                checked += 1
            elif snr >= thr:
                assert E.mean_and_ci(point(b["lost"], i))[0] == 0.0
    assert checked >= 4


def test_awgn_bounds_are_cliffs_at_the_shannon_threshold(three):
    _, doc = three
    for c in doc["panels"]["awgn"]["curves"].values():
        if c["family"] != "bound":
            continue
        thr = threshold_snr_db(c["info_bits"], c["B"])
        m, _ = curve_points(c["mAP"])
        clean = E.mean_and_ci(c["clean_mAP"])[0]
        for s, v in zip(SNRS, m):
            assert v == (pytest.approx(clean) if s >= thr else 0.0)


def test_every_scheme_at_every_bandwidth_and_the_unreachable_points(three):
    _, doc = three
    assert doc["channels"] == ["awgn", "fading"] and doc["bandwidths"] == list(BWS)
    names = {"analog JSCC", "analog JSCC + DUC head", "analog JSCC + DSC head", "hybrid (ideal head)",
             "hybrid (conv head)", "digital uncoded (the paper's)", "digital conv 1/2", "digital conv 3/4"}
    for ch in doc["channels"]:
        curves = doc["panels"][ch]["curves"]
        for B in BWS:
            assert names <= {c["scheme"] for c in curves.values() if c["B"] == B}
        # the paper's payload (360 bits at K = 200) with the lowest modem that fits
        assert [curves[f"digital uncoded (the paper's) @ B={B}"]["modem"] for B in BWS] == \
            ["256qam", "16qam", "qpsk", "bpsk"]
        # at 20 dB on AWGN the coded links are error-free: their payload's clean mAP
        for c in curves.values():
            if ch == "awgn" and c.get("rate"):
                assert E.mean_and_ci(point(c["mAP"], -1))[0] == pytest.approx(E.mean_and_ci(c["clean_mAP"])[0])
        # analog degrades gracefully: above zero at -5 dB, increasing to 30 dB
        m, _ = curve_points(curves["analog JSCC @ B=188"]["mAP"])
        assert 0 < m[0] < m[2] < m[-1] + 0.01
    # fewer head entries, better error-free mAP here too (the coded payloads shrink the head first)
    pay = {k: E.mean_and_ci(v)[0] for k, v in doc["reference"]["payloads"].items()}
    assert set(pay) >= {"5x8", "1x8"}


def test_gaps_read_against_the_bound_of_the_same_payload(three):
    _, doc = three
    gaps = doc["panels"]["awgn"]["gaps"]
    g = gaps["digital conv 1/2 @ B=188"]
    c = doc["panels"]["awgn"]["curves"]["digital conv 1/2 @ B=188"]
    assert E.mean_and_ci(g["snr_bound_db"])[0] == pytest.approx(threshold_snr_db(c["info_bits"], 188))
    gap = E.mean_and_ci(g["gap_db"])[0]
    assert gap is not None and 0 < gap < 15
    # the crossing read on a 1 dB grid inside the 5 dB step where the curve crosses
    fines = g["fine_snr_db"] if isinstance(g["fine_snr_db"], list) else g["fine_snr_db"]["values"]
    for fine, have in zip(fines, E.per_seed_values(g["snr_scheme_db"])):
        assert len(fine) == 4 and np.allclose(np.diff(fine), 1.0) and fine[0] - 1.0 <= have <= fine[-1] + 1.0
    # under fading the bound's SNR is where its outage is 10 %: above the AWGN threshold
    fad = doc["panels"]["fading"]["gaps"]["digital conv 1/2 @ B=188"]
    assert E.mean_and_ci(fad["snr_bound_db"])[0] > E.mean_and_ci(g["snr_bound_db"])[0]
    for key, g in gaps.items():  # digital curves only, and no coded one beats its bound's SNR
        assert key in doc["panels"]["awgn"]["curves"]
        v = E.mean_and_ci(g["gap_db"])[0]
        if v is not None and "conv" in key:
            assert v > -0.01 - (E.mean_and_ci(g["gap_db"])[1] or 0.0)


def test_files_tables_and_figure(three, capsys):
    out, doc = three
    saved = json.loads((out / "wireless" / "results.json").read_text())
    assert saved["experiment"] == "wireless" and saved["seeds"] == [0, 1, 2]
    assert (out / "wireless" / "wireless.png").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "wireless" / "seeds").iterdir()) == [f"seed_{s}.json" for s in range(3)]
    md = E.format_markdown(doc)
    assert "#### AWGN, B = 47" in md and "#### Rayleigh block fading, 8 uses per gain, B = 376" in md
    assert "the best scheme per SNR and B" in md and "gap of each digital curve" in md
    text = E.format_wireless(doc)
    assert "== AWGN, B = 188" in text and " ± " in text
    win = E.winners(doc, "awgn")
    assert win[0] == ["SNR dB"] + [f"B = {B}" for B in BWS] and len(win) == len(SNRS) + 1
    assert all("ideal bound" not in cell for row in win[1:] for cell in row)
    short = E.format_wireless(doc, markdown=True, snrs=(0, 20))
    assert "| scheme | sends | 0 dB | 20 dB |" in short and len(E.winners(doc, "awgn", snrs=(0, 20))) == 3
    with pytest.raises(ValueError, match="grid"):
        E.format_wireless(doc, snrs=(1.0,))


def test_one_seed_robust_variants_and_a_scheme_that_does_not_fit(tiny, indexes):
    res = E.wireless(tiny, bandwidths=(47, 94), snrs=(10.0, 40.0), trials=2, k=100, rates=("1/2",), gap_step=15.0,
                     robust_variants=("plain", "soft_adc", "all"), indexes=indexes, progress=False)
    assert list(res["panels"]) == ["awgn"]
    curves = res["panels"]["awgn"]["curves"]
    c = curves["digital conv 1/2 @ B=94"]
    assert c["mAP_std"][0] is not None and 0 <= c["lost"][0] <= 1
    # the protected head's 400 bits do not fit 47 uses: None everywhere, "n/f" in the table
    nf = curves["robust: all @ B=47"]
    assert not nf["fits"] and nf["mAP"] == [None, None] and nf["channel_uses"] is None
    assert curves["robust: all @ B=94"]["modem"] == "64qam" and curves["robust: all @ B=94"]["fits"]
    for B in (47, 94):  # 40 dB: every robust variant that fits is error-free
        for v in ("digital uncoded (the paper's)", "robust: soft_adc"):
            assert curves[f"{v} @ B={B}"]["mAP"][1] == pytest.approx(curves[f"{v} @ B={B}"]["clean_mAP"])
    md = E.format_wireless(res, markdown=True)
    assert "| robust: all | does not fit | n/f | n/f |" in md
    assert "± " in E.format_wireless(res)
    assert math.isfinite(res["total_s"])
    with pytest.raises(ValueError, match="fraction"):
        E.wireless(tiny, bandwidths=(94,), snrs=(10.0,), fraction=0.0, indexes=indexes, progress=False)
    with pytest.raises(ValueError, match="bandwidth"):
        E.wireless(tiny, bandwidths=(0,), snrs=(10.0,), indexes=indexes, progress=False)
    assert np.isfinite(curve_points(c["mAP"])[0]).all()


def test_outage_snr_of_one_block_is_the_closed_form():
    """One fade (n_uses <= block): P_out = 1 - exp(-(2^(b/B) - 1) / s), so P_out = p at
    s = (2^(b/B) - 1) / -ln(1 - p)."""
    for bits, uses, p in ((40, 8, 0.1), (72, 16, 0.3), (10, 4, 0.02)):
        want = 10 * math.log10((2 ** (bits / uses) - 1) / -math.log(1 - p))
        assert E.outage_snr_db(bits, uses, 16, p, seed=1, n_draws=20000) == pytest.approx(want, abs=0.3)
    # more blocks (diversity): a lower SNR for the same outage
    assert E.outage_snr_db(72, 64, 16, 0.1) < E.outage_snr_db(72, 64, 64, 0.1) - 2
    assert E.outage_snr_db(1000, 4, 4, 0.01, hi=20.0) is None
