"""What each digital scheme of the equal-bandwidth Fig. 3 sends in B uses
(dscref.experiments.wireless_schemes): the stated rules, checked by brute force, and the paper's
payload filling every B exactly."""

import pytest

from dscref.channel import as_modem
from dscref.codec import CodedLayout, PayloadLayout, fit_payload
from dscref.experiments.wireless_schemes import (CODED_MODEMS, UNCODED_MODEMS, coded_plan, digital_plans,
                                                 lowest_modem)

PAPER = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)


def test_the_papers_payload_fills_every_bandwidth_with_the_lowest_modem():
    plans = {B: {p.name: p for p in digital_plans(PAPER, B)} for B in (47, 94, 188, 376)}
    got = {B: (ps["digital uncoded (the paper's)"].modem, ps["digital uncoded (the paper's)"].channel_uses)
           for B, ps in plans.items()}
    assert got == {47: ("256qam", 47), 94: ("16qam", 94), 188: ("qpsk", 188), 376: ("bpsk", 376)}
    # the protected head (424 bits) does not fit 47 uses even with 256-QAM (53 uses)
    assert not plans[47]["robust: all"].fits and plans[47]["robust: all"].channel_uses is None
    assert [(plans[B]["robust: all"].modem, plans[B]["robust: all"].channel_uses) for B in (94, 188, 376)] == \
        [("64qam", 71), ("16qam", 106), ("qpsk", 212)]
    for ps in plans.values():
        for p in ps.values():
            assert p.info_bits in (370, 0) or p.kind == "coded"
            if p.fits:
                assert p.channel_uses <= [B for B, q in plans.items() if q is ps][0]


@pytest.mark.parametrize("B, rate, want", [
    (47, "1/2", ("64qam", 1, 8)), (47, "3/4", ("16qam", 1, 8)),
    (94, "1/2", ("16qam", 2, 8)), (94, "3/4", ("qpsk", 1, 8)),
    (188, "1/2", ("qpsk", 2, 8)), (188, "3/4", ("qpsk", 3, 8)),
    (376, "1/2", ("qpsk", 4, 8)), (376, "3/4", ("qpsk", 5, 8))])
def test_coded_plans_of_the_papers_payload(B, rate, want):
    cl, modem = coded_plan(PAPER, B, rate)
    assert (modem, cl.head_size, cl.subcodes) == want and cl.channel_uses(modem) <= B
    assert cl.crc == "crc16" and cl.rate == rate


@pytest.mark.parametrize("B", [10, 20, 30, 47, 60, 94, 130, 188, 250, 376, 500])
@pytest.mark.parametrize("rate", ["1/2", "3/4"])
def test_coded_plan_rule_by_brute_force(B, rate):
    """The lowest-order modem whose fit keeps every sub-code; else the most information bits;
    None when nothing fits."""
    fits = [(fit_payload(PAPER, B, m, rate), m) for m in CODED_MODEMS]
    got = coded_plan(PAPER, B, rate)
    if all(cl is None for cl, _ in fits):
        assert got is None
        return
    cl, modem = got
    full = [m for c, m in fits if c is not None and c.subcodes == PAPER.M]
    if full:
        assert modem == full[0] and cl.subcodes == PAPER.M
    else:
        assert cl.info_bits == max(c.info_bits for c, _ in fits if c is not None)
    assert isinstance(cl, CodedLayout) and cl.channel_uses(modem) <= B


def test_lowest_modem():
    assert lowest_modem(376, 376) == "bpsk" and lowest_modem(376, 375) == "qpsk"
    assert lowest_modem(376, 47) == "256qam" and lowest_modem(376, 46) is None
    for bits in (1, 50, 376, 1000):
        for B in (1, 13, 94, 400):
            m = lowest_modem(bits, B)
            ok = [x for x in UNCODED_MODEMS if -(-bits // as_modem(x).bits_per_symbol) <= B]
            assert m == (ok[0] if ok else None)


def test_a_budget_nothing_fits():
    plans = digital_plans(PAPER, 5)
    assert [p.fits for p in plans] == [False] * len(plans)
    assert all(p.describe()["fits"] is False for p in plans)
