"""Fitting a payload to B channel uses (dscref.codec.budget): payload_fit, the shrink order,
fit_payload, fit_table, the module's example, bad input."""

import doctest

import pytest

from dscref import convcode
from dscref.codec import (SHRINK_ORDERS, CodedLayout, PayloadFit, PayloadLayout, fit_payload, fit_table, payload_fit,
                          shrink_variants)
from dscref.codec import budget as budget_module

PAPER = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
MODEMS = ("bpsk", "qpsk", "16qam", "64qam", "256qam")


def test_payload_fit_counts_tail_crc_and_pad():
    cl = CodedLayout(PAPER, "1/2")
    assert payload_fit(cl, 392, "qpsk") == PayloadFit(True, 392, 392)
    assert payload_fit(cl, 391, "qpsk") == PayloadFit(False, 392, 391)
    assert payload_fit(cl, 391, "qpsk").spare == -1 and payload_fit(cl, 400, "qpsk").spare == 8
    # 784 coded bits = 2 (370 + 16 + 6): 64-QAM needs ceil(784 / 6) = 131 uses (2 pad bits)
    assert payload_fit(cl, 131, "64qam").fits and not payload_fit(cl, 130, "64qam").fits
    for rate in convcode.RATES:
        assert payload_fit(CodedLayout(PAPER, rate), 10**6, "16qam").channel_uses == \
            convcode.coded_channel_uses(386, rate, "16qam")
    assert payload_fit(CodedLayout(PAPER, None, crc=None), 185, "qpsk").channel_uses == 185


def test_the_documented_table_of_uses():
    """The table in dscref.codec.budget's docstring."""
    want = {None: [386, 193, 97, 65, 49], "1/2": [784, 392, 196, 131, 98], "2/3": [588, 294, 147, 98, 74],
            "3/4": [523, 262, 131, 88, 66]}
    for rate, uses in want.items():
        assert [CodedLayout(PAPER, rate).channel_uses(m) for m in MODEMS] == uses
        row = "none" if rate is None else rate
        line = next(ln for ln in budget_module.__doc__.splitlines() if ln.startswith(row + " "))
        assert [int(v) for v in line.split()[1:]] == uses


def test_shrink_orders():
    assert SHRINK_ORDERS == ("head_first", "codes_first")
    head_first = shrink_variants(PAPER)
    assert head_first[:6] == [(5, 8), (4, 8), (3, 8), (2, 8), (1, 8), (1, 7)] and head_first[-1] == (1, 1)
    codes_first = shrink_variants(PAPER, "codes_first")
    assert codes_first[:3] == [(5, 8), (5, 7), (5, 6)] and codes_first[7:] == [(5, 1), (4, 1), (3, 1), (2, 1), (1, 1)]
    for variants in (head_first, codes_first):
        assert len(variants) == len(set(variants)) == 5 + 8 - 1
        sizes = [CodedLayout(PAPER, head_size=h, subcodes=m).message_bits for h, m in variants]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    flat = PayloadLayout(head_size=0, label_bits=0, M=4)
    assert shrink_variants(flat) == shrink_variants(flat, "codes_first") == [(0, 4), (0, 3), (0, 2), (0, 1)]


@pytest.mark.parametrize("order", SHRINK_ORDERS)
@pytest.mark.parametrize("rate", [None, *convcode.RATES])
@pytest.mark.parametrize("modem", MODEMS)
def test_fit_payload_takes_the_first_variant_that_fits(order, rate, modem):
    variants = shrink_variants(PAPER, order)
    for budget in (0, 10, 47, 94, 188, 376):
        cl = fit_payload(PAPER, budget, modem, rate, order=order)
        fits = [CodedLayout(PAPER, rate, head_size=h, subcodes=m).channel_uses(modem) <= budget for h, m in variants]
        if not any(fits):
            assert cl is None
            continue
        first = fits.index(True)
        assert (cl.head_size, cl.subcodes) == variants[first] and cl.rate == rate
        assert payload_fit(cl, budget, modem).fits


def test_fit_payload_examples():
    assert fit_payload(PAPER, 392, "qpsk", "1/2").head_size == 5
    cl = fit_payload(PAPER, 188, "qpsk", "1/2")
    assert (cl.head_size, cl.subcodes, cl.channel_uses("qpsk")) == (2, 8, 170)
    cl = fit_payload(PAPER, 47, "256qam", "3/4")
    assert (cl.head_size, cl.subcodes, cl.channel_uses("256qam")) == (3, 8, 41)
    cl = fit_payload(PAPER, 47, "qpsk", "1/2", order="codes_first")
    assert (cl.head_size, cl.subcodes) == (1, 1)
    assert fit_payload(PAPER, 20, "qpsk", "1/2") is None       # 10 + 16 + 8 bits -> 2 (34 + 6) / 2 = 40 uses
    assert fit_payload(PAPER, 40, "qpsk", "1/2", crc="crc16").channel_uses("qpsk") == 40
    assert fit_payload(PAPER, 39, "qpsk", "1/2", crc="crc8").crc == "crc8"
    assert fit_payload(PAPER, 188, "qpsk", "1/2", interleave=False).interleave is False


def test_fit_table():
    rows = fit_table(PAPER, budgets=(47, 188), modems=("qpsk", "64-QAM"), rates=(None, "1/2"))
    assert len(rows) == 2 * 2 * 2
    # uncoded QPSK in 47 uses = 94 bits: one entry, every sub-code, 10 + 16 + 64 = 90 bits
    assert rows[0] == {"budget": 47, "modem": "qpsk", "rate": "none", "head_size": 1, "subcodes": 8,
                       "info_bits": 74, "channel_uses": 45}
    big = rows[-1]
    assert (big["budget"], big["modem"], big["rate"], big["head_size"], big["channel_uses"]) == \
        (188, "64qam", "1/2", 5, 131)
    none = fit_table(PAPER, budgets=(5,), modems=("bpsk",), rates=("1/2",))
    assert none == [{"budget": 5, "modem": "bpsk", "rate": "1/2", "head_size": None, "subcodes": None,
                     "info_bits": None, "channel_uses": None}]


def test_bad_input():
    with pytest.raises(TypeError, match="CodedLayout"):
        payload_fit(PAPER, 188, "qpsk")
    with pytest.raises(ValueError, match="budget"):
        payload_fit(CodedLayout(PAPER), -1, "qpsk")
    with pytest.raises(TypeError, match="budget"):
        fit_payload(PAPER, 188.0, "qpsk")
    with pytest.raises(ValueError, match="'8psk'"):
        payload_fit(CodedLayout(PAPER), 188, "8psk")
    with pytest.raises(ValueError, match="order='random'"):
        shrink_variants(PAPER, "random")
    with pytest.raises(TypeError, match="PayloadLayout"):
        shrink_variants(CodedLayout(PAPER))
    with pytest.raises(ValueError, match="rate='1'"):
        fit_payload(PAPER, 188, "qpsk", "1")


def test_the_module_examples_run():
    result = doctest.testmod(budget_module)
    assert result.attempted >= 5 and result.failed == 0
