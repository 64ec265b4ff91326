"""The plain payload of eq. (12) in bytes (dscref.codec.plain): layout, encode, decode, policies."""

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.errors import PayloadError
from dscref.query import Query


def test_paper_layout_is_47_bytes():
    lay = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
    assert (lay.head_bytes, lay.code_bytes, lay.nbytes) == (7, 8, 47)
    assert PayloadLayout(head_size=0, label_bits=0, M=8, nbits=8).nbytes == 8


class _FakeIndex:
    label_bits, M, nbits, n_lists = 10, 8, 8, 1000


def test_layout_from_index():
    lay = PayloadLayout.for_index(_FakeIndex())
    assert lay.nbytes == 47 and lay.valid_labels == 1000


@st.composite
def layouts(draw):
    head_size = draw(st.integers(0, 7))
    bits = draw(st.integers(max(1, int(np.ceil(np.log2(max(head_size, 2))))), 12)) if head_size else 0
    n_lists = draw(st.integers(max(1, head_size), 1 << bits)) if head_size else None
    return PayloadLayout(head_size=head_size, label_bits=bits, M=draw(st.integers(1, 9)),
                         nbits=draw(st.integers(1, 12)), n_lists=n_lists)


@given(layouts(), st.integers(0, 2**31 - 1))
def test_roundtrip(lay, seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(lay.valid_labels, lay.head_size, replace=False) if lay.head_size else np.zeros(1, np.int64)
    codes = rng.integers(0, 1 << lay.nbits, (lay.n_codes, lay.M)).astype(np.uint8 if lay.nbits <= 8 else np.uint16)
    buf = encode_payload(Query(labels=labels, codes=codes), lay)
    assert isinstance(buf, bytes) and len(buf) == lay.nbytes
    q, rep = decode_payload(buf, lay)
    np.testing.assert_array_equal(q.labels, labels)
    np.testing.assert_array_equal(q.codes, codes)
    assert rep.clean


@given(layouts(), st.data(), st.sampled_from(["drop", "nearest_valid"]))
def test_any_bytes_decode_to_a_valid_query(lay, data, policy):
    buf = data.draw(st.binary(min_size=lay.nbytes, max_size=lay.nbytes))
    q, rep = decode_payload(buf, lay, policy=policy)
    assert q.labels.dtype == np.int64 and q.codes.shape == (q.labels.size, lay.M)
    if lay.head_size:
        assert q.labels.size <= lay.head_size
        assert np.all((q.labels >= 0) & (q.labels < lay.valid_labels))
        assert np.unique(q.labels).size == q.labels.size
        assert q.labels.size == lay.head_size - len(rep.dropped)
    assert q.codes.size == 0 or q.codes.max() < (1 << lay.nbits)


def test_policies_on_bit_errors():
    lay = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
    codes = np.arange(40, dtype=np.uint8).reshape(5, 8)
    q = Query(labels=[1, 2, 999, 0, 512], codes=codes)
    buf = bytearray(encode_payload(q, lay))
    # flip the MSB of label 0 (1 -> 513) is still valid; set label 2 to 1023 (invalid) and
    # make label 4 a duplicate of label 3 by hand
    from dscref import bitpack

    bad = bitpack.pack([1, 2, 1023, 0, 0], 10)
    buf[:7] = bad.tobytes()
    qd, rep = decode_payload(bytes(buf), lay, policy="drop")
    assert qd.labels.tolist() == [1, 2, 0]
    assert rep.invalid == [(2, 1023)] and rep.duplicates == [(4, 0)] and rep.dropped == [2, 4]
    np.testing.assert_array_equal(qd.codes, codes[[0, 1, 3]])
    qn, rep = decode_payload(bytes(buf), lay, policy="nearest_valid")
    assert qn.labels.size == 5 and np.unique(qn.labels).size == 5 and qn.labels.max() < 1000
    # 1023 = 0b1111111111: nearest valid (< 1000) labels differ in one bit, smallest first
    slot, received, used = rep.replaced[0]
    assert (slot, received) == (2, 1023) and bin(1023 ^ used).count("1") == 1 and used < 1000
    # the duplicate 0 becomes the unused label nearest to 0: 4 (1 bit; 1 and 2 are taken)
    assert rep.replaced[1] == (4, 0, 4)


def test_errors():
    lay = PayloadLayout()
    q = Query(labels=[1, 2, 3, 4, 5], codes=np.zeros((5, 8), np.uint8))
    buf = encode_payload(q, lay)
    with pytest.raises(PayloadError, match="46 bytes, layout expects 47"):
        decode_payload(buf[:-1], lay)
    with pytest.raises(PayloadError, match="48 bytes"):
        decode_payload(buf + b"\0", lay)
    with pytest.raises(PayloadError):
        decode_payload(np.zeros(47, np.int32), lay)
    assert issubclass(PayloadError, ValueError)
    with pytest.raises(ValueError, match="policy"):
        decode_payload(buf, lay, policy="guess")
    with pytest.raises(ValueError, match="3 head labels"):
        encode_payload(Query(labels=[1, 2, 3], codes=np.zeros((3, 8), np.uint8)), lay)
    with pytest.raises(ValueError, match="outside"):
        encode_payload(Query(labels=[1, 2, 3, 4, 1024], codes=np.zeros((5, 8), np.uint8)),
                       PayloadLayout(n_lists=1000))
    with pytest.raises(ValueError, match="does not fit"):
        PayloadLayout(label_bits=9, n_lists=1000)


# --------------------------------------------------------------------------- head_size (old name n_labels)
def test_head_size_and_its_deprecated_alias_n_labels():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        new = PayloadLayout(head_size=5)
        assert PayloadLayout(3, 10, 8, 8, 1000).head_size == 3
        assert PayloadLayout.for_index(_FakeIndex(), head_size=4).head_size == 4
    with pytest.warns(DeprecationWarning, match="n_labels= is deprecated, use head_size="):
        old = PayloadLayout(n_labels=5)
    assert old == new and hash(old) == hash(new) and old.head_size == 5
    with pytest.warns(DeprecationWarning, match="PayloadLayout.n_labels is deprecated"):
        assert new.n_labels == 5
    with pytest.warns(DeprecationWarning, match="n_labels= is deprecated, use head_size="):
        lay = PayloadLayout.for_index(_FakeIndex(), n_labels=3)
    assert lay == PayloadLayout.for_index(_FakeIndex(), 3) == PayloadLayout.for_index(_FakeIndex(), head_size=3)
    with pytest.raises(TypeError, match="both head_size= and its deprecated alias n_labels="):
        PayloadLayout(head_size=5, n_labels=5)
    with pytest.raises(TypeError, match="both head_size= and its deprecated alias n_labels="):
        PayloadLayout.for_index(_FakeIndex(), head_size=5, n_labels=5)
    with pytest.raises(ValueError, match="head_size=-1 must be >= 0"):
        PayloadLayout(head_size=-1)
    with pytest.raises(TypeError, match="head_size must be an int"):
        PayloadLayout(head_size=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.head_size = 3
