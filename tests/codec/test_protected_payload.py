"""The protected payload in bits (dscref.codec.protected): layout sizes, round trips, errors."""

import numpy as np
import pytest

from dscref import bitpack
from dscref.codec import (
    PayloadLayout,
    ProtectedLayout,
    decode_protected_payload,
    encode_payload,
    encode_protected_payload,
)
from dscref.index.robust import robust_label_order


def test_protected_layout_sizes():
    layout = PayloadLayout()
    assert ProtectedLayout(layout).scheme == "none"
    assert ProtectedLayout(layout, "none").n_bits == 8 * layout.nbytes == 376
    assert ProtectedLayout(layout, "hamming84").n_bits == 104 + 320
    assert ProtectedLayout(layout, "rep3").n_bits == 152 + 320
    rl = ProtectedLayout(PayloadLayout(head_size=3, label_bits=5, M=4, nbits=6), "hamming84")
    assert (rl.head_info_bits, rl.head_coded_bits, rl.head_region_bits, rl.code_bits) == (15, 32, 32, 24)


@pytest.mark.parametrize("scheme", ["none", "rep3", "hamming84"])
def test_protected_payload_error_free_roundtrip(robust_built, scheme):
    x, labels, index, robust = robust_built
    layout = PayloadLayout.for_index(index, head_size=3)
    rl = ProtectedLayout(layout, scheme)
    order = robust_label_order(index, p=0.02)
    q = robust.encode_query(x[10], [4, 9, 17])
    bits = encode_protected_payload(q, rl, label_order=order)
    assert bits.size == rl.n_bits
    if scheme == "none":
        np.testing.assert_array_equal(bits, bitpack.bytes_to_bits(encode_payload(order.encode_query(q), layout)))
    llr = np.where(bits == 0, 4.0, -4.0)
    for head, codes in [("hard", "hard"), ("soft", "soft"), ("hard", "soft"), ("soft", "hard")]:
        q2, _ = decode_protected_payload(llr, rl, head=head, codes=codes, label_order=order)
        assert q2.labels.tolist() == [4, 9, 17]
        np.testing.assert_array_equal(q2.codes, q.codes)
        assert (q2.code_llr is not None) == (codes == "soft")
    q3, rep = decode_protected_payload(bits, rl, label_order=order)  # hard bits in, hard decoding
    assert q3.labels.tolist() == [4, 9, 17] and rep.clean and rep.detected_head_errors == 0


def test_bad_inputs_raise(robust_built):
    x, labels, index, robust = robust_built
    rl = ProtectedLayout(PayloadLayout.for_index(index, head_size=3), "none")
    with pytest.raises(ValueError, match="needs LLRs"):
        decode_protected_payload(np.zeros(rl.n_bits, np.uint8), rl, codes="soft")
    with pytest.raises(ValueError, match=rf"received must have shape \({rl.n_bits},\)"):
        decode_protected_payload(np.zeros(rl.n_bits - 1), rl)
    with pytest.raises(TypeError, match="expected a ProtectedLayout"):
        decode_protected_payload(np.zeros(rl.n_bits), PayloadLayout())
    with pytest.raises(TypeError, match="ProtectedLayout.layout must be a PayloadLayout"):
        encode_protected_payload(robust.encode_query(x[0], [1, 2, 3]), ProtectedLayout(np.zeros(3)))
    with pytest.raises(ValueError, match="scheme='bch'"):
        decode_protected_payload(np.zeros(rl.n_bits), ProtectedLayout(rl.layout, "bch"))
