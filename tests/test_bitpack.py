import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import bitpack
from dscref._reference.bitpack import pack_ref, unpack_ref


@st.composite
def values_and_width(draw, max_rows=1):
    width = draw(st.integers(1, 16))
    count = draw(st.integers(0, 40))
    rows = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**31 - 1))
    v = np.random.default_rng(seed).integers(0, 1 << width, size=(rows, count))
    return (v[0] if max_rows == 1 else v), width


@given(values_and_width())
def test_pack_matches_reference_and_roundtrips(vw):
    v, width = vw
    buf = bitpack.pack(v, width)
    assert buf.dtype == np.uint8
    assert buf.shape == ((len(v) * width + 7) // 8,)
    np.testing.assert_array_equal(buf, pack_ref(v, width))
    np.testing.assert_array_equal(bitpack.unpack(buf, width, len(v)), v)
    np.testing.assert_array_equal(unpack_ref(buf, width, len(v)), v)


@given(values_and_width(max_rows=6))
def test_rowwise_pack_matches_reference(vw):
    v, width = vw
    buf = bitpack.pack(v, width)
    np.testing.assert_array_equal(buf, pack_ref(v, width))
    np.testing.assert_array_equal(bitpack.unpack(buf, width, v.shape[1]), v)


def test_identity_for_every_width_extremes():
    for width in range(1, 17):
        v = np.array([0, (1 << width) - 1, 1, (1 << width) - 2 if width > 1 else 0, 0, 1], dtype=np.int64)
        np.testing.assert_array_equal(bitpack.unpack(bitpack.pack(v, width), width, len(v)), v)


def test_five_ten_bit_labels_make_seven_bytes():
    buf = bitpack.pack([1, 2, 999, 0, 512], 10)
    assert len(buf) == 7
    # MSB first: 0000000001 0000000010 ... -> first byte 0x00, second 0b01000000
    assert buf[0] == 0 and buf[1] == 0b01000000
    # the 6 pad bits at the end are zero
    assert buf[-1] & 0b111111 == 0


def test_bytes_bits_roundtrip():
    b = np.arange(256, dtype=np.uint8)
    bits = bitpack.bytes_to_bits(b)
    assert bits.shape == (2048,) and set(np.unique(bits)) == {0, 1}
    assert bits[:8].tolist() == [0] * 8 and bits[8:16].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    np.testing.assert_array_equal(bitpack.bits_to_bytes(bits), b)
    np.testing.assert_array_equal(bitpack.bytes_to_bits(bytes(b.tobytes())), bits)


@pytest.mark.parametrize("width", [0, 17, -1])
def test_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        bitpack.pack([1], width)
    with pytest.raises(ValueError, match="width"):
        bitpack.unpack(b"\x00", width, 1)


def test_value_wider_than_width():
    with pytest.raises(ValueError, match="1024"):
        bitpack.pack([1, 1024], 10)
    with pytest.raises(ValueError, match="-1"):
        bitpack.pack([-1], 10)


def test_non_integer_values():
    with pytest.raises(TypeError):
        bitpack.pack([0.5], 4)
    with pytest.raises(TypeError):
        bitpack.pack(["a"], 4)


def test_truncated_and_oversized_buffer():
    buf = bitpack.pack([1, 2, 3, 4, 5], 10)
    with pytest.raises(ValueError, match="truncated"):
        bitpack.unpack(buf[:6], 10, 5)
    with pytest.raises(ValueError, match="exactly 7"):
        bitpack.unpack(np.concatenate([buf, [0]]).astype(np.uint8), 10, 5)
    with pytest.raises(TypeError, match="uint8"):
        bitpack.unpack(buf.astype(np.int32), 10, 5)


def test_bits_to_bytes_rejects_bad_bits():
    with pytest.raises(ValueError, match="0 and 1"):
        bitpack.bits_to_bytes(np.array([0, 1, 2, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="multiple of 8"):
        bitpack.bits_to_bytes(np.array([0, 1, 1]))
