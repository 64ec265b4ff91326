"""The channel-robust coding experiment: robust_variants_mAP (every variant through the link) and robust."""

import numpy as np
import pytest

from dscref import experiments as E
from dscref.experiments.robust import VARIANTS, _snr_at_fraction, robust_variants_mAP
from dscref.index.robust import robust_label_order

K = 20  # lists of the robust_built index (tests/conftest.py)


def test_robust_experiment_schema(tiny, indexes):
    res = E.robust(tiny, indexes=indexes, snrs=(0.0, 6.0, 30.0), trials=2, k=300)
    assert set(res["variants"]) == {"plain", "robust_assignment", "soft_adc", "protected_head", "soft_head", "all"}
    for v, t in res["variants"].items():
        assert len(t["mAP"]) == 3 and 0 <= t["mAP_clean"] <= 1
        assert t["mAP"][-1] == pytest.approx(t["mAP_clean"], abs=1e-9)  # 30 dB: no bit errors
    assert res["variants"]["protected_head"]["channel_uses"] > res["variants"]["plain"]["channel_uses"]
    assert "gain dB" in E.format_robust(res)


def test_snr_at_fraction():
    assert _snr_at_fraction([0, 2, 4], [0.0, 0.5, 1.0], 0.75) == pytest.approx(3.0)
    assert _snr_at_fraction([0, 2, 4], [0.9, 0.95, 1.0], 0.5) == 0.0
    assert _snr_at_fraction([0, 2, 4], [0.1, 0.2, 0.3], 0.5) is None


def test_robust_variants_mAP_smoke(robust_built):
    x, labels, index, robust = robust_built
    rng = np.random.default_rng(0)
    qi = rng.choice(len(x), 6, replace=False)
    heads = np.stack([[labels[i], (labels[i] + 1) % K, (labels[i] + 2) % K] for i in qi])
    gnd = [{"ok": np.flatnonzero(labels == labels[i])[:50], "junk": []} for i in qi]
    res = robust_variants_mAP(index, x[qi], heads, gnd, [6.0], n_trials=1, k=20,
                              robust_index=robust, label_order=robust_label_order(index, 0.02))
    assert set(res["mAP"]) == set(VARIANTS)
    # error-free, every variant searches the same candidates with the same scores
    clean = [res["mAP_clean"][v] for v in VARIANTS]
    assert max(clean) - min(clean) < 1e-12
    assert res["channel_uses"]["plain"] == (8 * (2 + 3 * 3)) // 2
    assert res["channel_uses"]["protected_head"] > res["channel_uses"]["plain"]
    assert all(0 <= res["mAP"][v][6.0]["mean"] <= 1 for v in VARIANTS)


def test_variants_through_the_link_equal_the_hand_written_chain(robust_built):
    """Every variant's per-query transmission through dscref.link gives, draw for draw, the
    numbers of the chain robust_variants_mAP used to write out (encode -> transmit_bits(soft) ->
    decode_protected_payload), so the experiment's numbers did not move."""
    from dscref._validate import as_generator
    from dscref.channel import AWGN, Modem, transmit_bits
    from dscref.codec import PayloadLayout, ProtectedLayout, decode_protected_payload, encode_protected_payload
    from dscref.experiments.robust import _SPEC
    from dscref.metrics import compute_map

    x, labels, index, robust = robust_built
    rng = np.random.default_rng(1)
    qi = rng.choice(len(x), 8, replace=False)
    heads = np.stack([[labels[i], (labels[i] + 3) % K, (labels[i] + 5) % K] for i in qi])
    gnd = [{"ok": np.flatnonzero(labels == labels[i])[:40], "junk": []} for i in qi]
    order = robust_label_order(index, 0.02)
    snrs, seed = [0.0, 3.0], 7
    res = robust_variants_mAP(index, x[qi], heads, gnd, snrs, n_trials=2, k=20, seed=seed,
                              robust_index=robust, label_order=order)
    layout, modem = PayloadLayout.for_index(index, head_size=3), Modem("qpsk")
    for v in VARIANTS:
        rob, prot, head_dec, code_dec = _SPEC[v]
        idx, o = (robust, order) if rob else (index, None)
        rl = ProtectedLayout(layout, "hamming84" if prot else "none")
        bits = [encode_protected_payload(idx.encode_query(x[i], top_labels=h), rl, label_order=o)
                for i, h in zip(qi, heads)]
        for si, snr in enumerate(snrs):
            maps, errs, nb = [], 0, 0
            for t in range(2):
                g = as_generator(np.random.SeedSequence([seed, si, t]).generate_state(1)[0])
                qs = []
                for b in bits:
                    rx = transmit_bits(b, modem, AWGN(snr), g, soft=True)
                    errs, nb = errs + rx.bit_errors, nb + b.size
                    qs.append(decode_protected_payload(rx.llr, rl, head=head_dec, codes=code_dec,
                                                       label_order=o)[0])
                maps.append(float(compute_map(idx.search(qs, k=20).I, gnd)[0]))
            assert res["mAP"][v][snr]["trials"] == maps, (v, snr)
            assert res["ber"][v][snr] == errs / nb


def test_robust_variants_under_block_fading(robust_built):
    """fading=True sends each payload over Rayleigh block fading: other numbers than AWGN at the
    same average SNR, the same with fixed seeds, error-free at a very high SNR."""
    x, labels, index, robust = robust_built
    qi = np.arange(0, 60, 6)
    heads = np.stack([[labels[i], (labels[i] + 1) % K, (labels[i] + 2) % K] for i in qi])
    gnd = [{"ok": np.flatnonzero(labels == labels[i])[:50], "junk": []} for i in qi]
    kw = dict(n_trials=2, k=20, variants=("plain", "soft_adc"))
    awgn = robust_variants_mAP(index, x[qi], heads, gnd, [4.0, 80.0], **kw)
    fad = robust_variants_mAP(index, x[qi], heads, gnd, [4.0, 80.0], fading=True, block=4, **kw)
    again = robust_variants_mAP(index, x[qi], heads, gnd, [4.0, 80.0], fading=True, block=4, **kw)
    assert fad["mAP"] == again["mAP"]
    assert fad["ber"]["plain"][4.0] != awgn["ber"]["plain"][4.0]
    for v in ("plain", "soft_adc"):
        assert fad["mAP"][v][80.0]["mean"] == pytest.approx(fad["mAP_clean"][v])
