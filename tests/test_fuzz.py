"""Fuzz tests (hypothesis; example counts from the profile in conftest.py).

Contracts checked on hostile input:

* ``decode_payload``: returns a valid, searchable query or raises ``PayloadError`` -- never
  another exception, never an out-of-range label -- for random bytes of random lengths and for
  valid payloads hit by random bit errors at BER 1e-4 .. 0.5;
* ``load_index``: mutated manifests, mutated or truncated files -> ``IndexFormatError``, or an
  index whose search works;
* image loading: garbage / truncated / mutated JPEG, PNG, TIFF and EXIF-carrying JPEG bytes ->
  ``ImageError`` (a ValueError);
* ONNX model loading: garbage files -> ``ModelError``.
"""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.errors import ImageError, IndexFormatError, ModelError, PayloadError
from dscref.index.flat import FlatPQIndex
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex
from dscref.io import load_index, save_index

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def indices():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1500, 16)).astype(np.float32)
    labels = rng.integers(0, 12, 1500)
    labels[labels == 7] = 8  # an empty partition
    return {
        # K=12 in 4-bit head entries: received labels 12..15 are invalid
        "dsc": SemanticIndex(12, M=4, nbits=6, n_iter=3, seed=0, progress=False).build(x, labels),
        "ivf": IVFIndex(10, M=2, nbits=9, n_iter=3, seed=0, coarse_iter=3).build(x),
        "flat": FlatPQIndex(M=4, nbits=5, n_iter=3, seed=0).build(x),
    }, x


def _layouts(indices):
    ix, _ = indices
    return [(ix["dsc"], PayloadLayout.for_index(ix["dsc"], 5)), (ix["ivf"], PayloadLayout.for_index(ix["ivf"], 3)),
            (ix["flat"], PayloadLayout.for_index(ix["flat"]))]


def _check_decoded(index, layout, q):
    lab = q.labels
    assert lab.dtype == np.int64 and lab.ndim == 1
    if layout.head_size:
        assert np.unique(lab).size == lab.size and (lab.size == 0 or (lab.min() >= 0 and lab.max() < index.n_lists))
    assert q.codes.shape == (max(lab.size, 0) if layout.head_size else 1, layout.M)
    assert q.codes.size == 0 or int(q.codes.max()) < (1 << layout.nbits)
    for metric in ("l2", "cosine"):
        D, I, nc = index.search(q, k=7, metric=metric)  # must not raise
        assert I.shape == (1, 7) and ((I == -1) | (I >= 0)).all()


def _decode_or_payload_error(buf, layout, policy):
    try:
        return decode_payload(buf, layout, policy=policy)
    except PayloadError:
        return None


# ------------------------------------------------------------------ payload decoder
@fixture_ok
@given(data=st.binary(min_size=0, max_size=200), which=st.integers(0, 2),
       policy=st.sampled_from(["drop", "nearest_valid"]))
def test_decode_random_bytes(indices, data, which, policy):
    index, layout = _layouts(indices)[which]
    out = _decode_or_payload_error(data, layout, policy)
    if len(data) != layout.nbytes:
        assert out is None
    if out is not None:
        _check_decoded(index, layout, out[0])


@fixture_ok
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, 2),
       log_ber=st.floats(np.log10(1e-4), np.log10(0.5)), policy=st.sampled_from(["drop", "nearest_valid"]))
def test_decode_valid_payload_with_bit_errors(indices, seed, which, log_ber, policy):
    index, layout = _layouts(indices)[which]
    _, x = indices
    rng = np.random.default_rng(seed)
    q = x[rng.integers(len(x))]
    if layout.head_size:
        labels = rng.choice(index.n_lists, layout.head_size, replace=False)
        query = index.encode_query(q, top_labels=labels)
    else:
        query = index.encode_query(q)
    buf = np.frombuffer(encode_payload(query, layout), dtype=np.uint8)
    bits = np.unpackbits(buf)
    flips = rng.random(bits.size) < 10 ** log_ber
    noisy = np.packbits(bits ^ flips)
    out = decode_payload(noisy, layout, policy=policy)  # right length: must decode, never raise
    _check_decoded(index, layout, out[0])
    if not flips.any():
        np.testing.assert_array_equal(out[0].labels, query.labels)
        np.testing.assert_array_equal(out[0].codes, query.codes)


@fixture_ok
@given(arr=st.one_of(st.lists(st.integers(-300, 300), max_size=60).map(np.array),
                     st.lists(st.floats(allow_nan=True), max_size=60).map(np.array),
                     st.text(max_size=50), st.none(), st.integers()))
def test_decode_non_byte_input(indices, arr):
    index, layout = _layouts(indices)[0]
    with pytest.raises(PayloadError):
        decode_payload(arr, layout)


# ------------------------------------------------------------------ index files
@pytest.fixture(scope="module")
def saved_blob(tmp_path_factory, indices):
    ix, _ = indices
    p = tmp_path_factory.mktemp("fz") / "ix"
    save_index(ix["dsc"], p)
    return p.read_bytes()


def _load_or_format_error(path, indices, **kw):
    """A damaged file is refused at load, or loads an index whose search raises only ValueError
    subclasses and returns only ids it holds (issue 16: a file whose checksums were skipped may
    hold a flipped codebook value, found when a query meets it)."""
    try:
        ix = load_index(path, **kw)
    except IndexFormatError:
        return None
    _, x = indices
    try:
        q = ix.encode_query(x[0], top_labels=[0, 1, 2])
        for metric in ("l2", "cosine"):
            ids = ix.search(q, k=5, metric=metric).I
            assert np.isin(ids[ids >= 0], ix.ids_).all()
    except ValueError:
        if kw.get("verify", None) is not False:
            raise  # checksums were verified (this file is small): the load must have refused it
    return ix


@fixture_ok
@given(data=st.data())
def test_load_mutated_or_truncated_file(indices, saved_blob, tmp_path_factory, data):
    blob = bytearray(saved_blob)
    kind = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "append"]))
    if kind == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "overwrite":
        i = data.draw(st.integers(0, len(blob) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=64))
        blob[i:i + len(chunk)] = chunk
    else:
        blob += data.draw(st.binary(min_size=1, max_size=64))
    assume(bytes(blob) != saved_blob)
    p = tmp_path_factory.mktemp("m") / "ix"
    p.write_bytes(bytes(blob))
    for verify in (True, None, False):
        _load_or_format_error(p, indices, verify=verify)
    ix = _load_or_format_error(p, indices, mmap=False)
    with pytest.raises(IndexFormatError):  # checksums + size checks catch every mutation
        load_index(p, verify=True)
    del ix


def _json_mutation():
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                     st.text(max_size=8))
    return st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                  st.dictionaries(st.text(max_size=12), c, max_size=3)),
                        max_leaves=8)


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, prefix + (i,))


@fixture_ok
@given(data=st.data())
def test_load_mutated_manifest_json(indices, saved_blob, tmp_path_factory, data):
    """Mutate one node of the manifest and re-seal it with a valid crc32: the validator must
    refuse it with IndexFormatError, or the index must load and search."""
    moff, mlen = struct.unpack_from("<QQ", saved_blob, 16)
    man = json.loads(saved_blob[moff:moff + mlen])
    paths = [p for p in _paths(man) if p and p[0] in ("state", "arrays", "class", "format_version")]
    path = data.draw(st.sampled_from(paths))
    node = man
    for k in path[:-1]:
        node = node[k]
    if data.draw(st.booleans()) and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = data.draw(_json_mutation())
    body = json.dumps(man).encode()
    man["file_size"] = moff + len(body) + 24
    body = json.dumps(man).encode()
    body += b" " * (man["file_size"] - moff - len(body))
    head = bytearray(saved_blob[:64])
    struct.pack_into("<QQI", head, 16, moff, len(body), zlib.crc32(body))
    p = tmp_path_factory.mktemp("j") / "ix"
    p.write_bytes(bytes(head) + saved_blob[64:moff] + body)
    _load_or_format_error(p, indices, verify=False)


# ------------------------------------------------------------------ images
def _image_bytes(fmt):
    from PIL import Image

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    buf = io.BytesIO()
    if fmt == "EXIF":  # a JPEG whose EXIF block (right after the header) has orientation 6
        exif = Image.Exif()
        exif[0x0112] = 6
        exif[0x010F] = "dscref"
        img.save(buf, format="JPEG", exif=exif)
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


_SUFFIX = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "EXIF": "jpg"}


@pytest.fixture(scope="module")
def image_blobs():
    return {fmt: _image_bytes(fmt) for fmt in _SUFFIX}


@fixture_ok
@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on the EXIF it is fed
@given(data=st.data())
def test_garbage_and_truncated_images(image_blobs, tmp_path_factory, data):
    from dscref.features import load_image, preprocess

    fmt = data.draw(st.sampled_from(sorted(_SUFFIX)))
    blob = bytearray(image_blobs[fmt])
    kind = data.draw(st.sampled_from(["truncate", "garbage", "flip", "header+garbage"]))
    if kind == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "garbage":
        blob = bytearray(data.draw(st.binary(max_size=300)))
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 30))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    else:
        blob = blob[:data.draw(st.integers(2, 40))] + bytearray(data.draw(st.binary(max_size=200)))
    p = tmp_path_factory.mktemp("img") / f"x.{_SUFFIX[fmt]}"
    p.write_bytes(bytes(blob))
    try:
        img = load_image(p)
        preprocess(img, size=32)  # a flipped-but-decodable image is fine; it must preprocess
    except ImageError as exc:
        assert isinstance(exc, ValueError) and str(p) in str(exc)


# ------------------------------------------------------------------ ONNX models
@fixture_ok
@given(blob=st.one_of(st.binary(max_size=400),
                      st.binary(max_size=200).map(lambda b: b"\x08\x07\x12\x07pytorch" + b)))
def test_garbage_onnx_models(tmp_path_factory, blob):
    from dscref.features import Classifier, Extractor

    p = tmp_path_factory.mktemp("onnx") / "m.onnx"
    p.write_bytes(blob)
    for cls in (Extractor, Classifier):
        with pytest.raises(ModelError):
            cls(p)
