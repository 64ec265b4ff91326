"""The demo (dscref.demo): the example line, the chain through the link (draw for draw the chain
written out by hand from the codec, bitpack and channel primitives), the reference rows (exact
search on raw features, the error-free codec pass) and the image variant on tiny ONNX models."""

import sys
from pathlib import Path

import numpy as np
import pytest

from dscref import demo
from dscref.demo import format_example, run_demo, run_image_demo
from dscref.metrics import compute_map

ROOT = Path(__file__).resolve().parents[1]


def test_demo_example_shows_head_sent_and_received():
    ex = {"query": 4, "bit_errors": 9, "head_bit_errors": 3, "head_sent": [10, 20, 30, 40, 50],
          "head_received": [10, 21, 30, 1020, 10], "dropped_slots": [3, 4], "top5": [7, 8, 9, -1, -1]}
    line = format_example(ex, ok=[8], junk=[9])
    assert "9 bit errors (3 in the head)" in line
    assert "sent 10 20 30 40 50 -> received 10 [21] 30 [1020]x [10]x" in line
    assert line.endswith("top-5: 7 8* 9j")


def _hand_chain(index, xq, heads, gnd, snrs, modem_name, seed, k, show):
    """The demo's chain as it was written before the link: encode, bits, transmit_bits, decode."""
    from dscref import bitpack
    from dscref.channel import AWGN, Modem, transmit_bits
    from dscref.codec import PayloadLayout, decode_payload, encode_payload

    layout = PayloadLayout.for_index(index, head_size=heads.shape[1])
    payloads = [encode_payload(index.encode_query(xq[i], top_labels=heads[i]), layout) for i in range(len(xq))]
    rng, modem, hb = np.random.default_rng(seed), Modem(modem_name), 8 * layout.head_bytes
    out = {"payload_bytes": layout.nbytes, "head_bytes": layout.head_bytes, "snr": {}}
    for snr in snrs:
        I = np.full((len(xq), k), -1, np.int64)
        bit_errors, uses, dropped, cands, examples = 0, 0, 0, [], []
        for i, p in enumerate(payloads):
            sent = bitpack.bytes_to_bits(p)
            res = transmit_bits(sent, modem, AWGN(float(snr)), rng)
            bit_errors += res.bit_errors
            uses += res.channel_uses
            q, rep = decode_payload(bitpack.bits_to_bytes(res.bits), layout)
            dropped += len(rep.dropped)
            if q.labels.size:
                r = index.search(q, k=k)
                I[i] = r.I[0]
                cands.append(int(r.n_candidates[0]))
            else:
                cands.append(0)
            if i < show:
                examples.append({"query": i, "bit_errors": int(res.bit_errors),
                                 "head_bit_errors": int(np.count_nonzero(res.bits[:hb] != sent[:hb])),
                                 "head_sent": [int(v) for v in heads[i]],
                                 "head_received": [int(v) for v in rep.received_labels],
                                 "dropped_slots": [int(v) for v in rep.dropped],
                                 "searched": q.labels.tolist(), "top5": I[i, :5].tolist()})
        out["snr"][float(snr)] = {
            "mAP": float(compute_map(I, gnd)[0]), "bit_errors": bit_errors, "bits": 8 * layout.nbytes * len(xq),
            "channel_uses_per_query": uses / len(xq), "dropped_labels": dropped,
            "mean_candidates": float(np.mean(cands)), "examples": examples}
    return out


@pytest.mark.parametrize("modem", ["qpsk", "16qam"])
def test_demo_chain_is_the_hand_written_chain(robust_built, modem):
    x, labels, index, _ = robust_built
    rng = np.random.default_rng(5)
    nq = 16
    xq = (x[:nq] + 0.05 * rng.standard_normal((nq, x.shape[1]))).astype(np.float32)
    heads = np.stack([np.r_[labels[i], [v for v in rng.permutation(index.n_lists) if v != labels[i]][:4]]
                      for i in range(nq)]).astype(np.int64)
    gnd = [{"ok": np.flatnonzero(labels == labels[i])[:30], "junk": np.zeros(0, np.int64)} for i in range(nq)]
    args = (index, xq, heads, gnd, [-1.0, 4.0, 12.0], modem, 3, 25, 5)
    got, want = demo._chain(*args), _hand_chain(*args)
    assert got == want
    assert got["snr"][-1.0]["bit_errors"] > 0 and got["snr"][-1.0]["dropped_labels"] > 0


@pytest.fixture(scope="module")
def small_demo():
    return run_demo(n_db=3200, d=32, snrs=(3.0, 20.0), seed=1, show=2, k=40)


def test_run_demo_reports_the_chain_and_its_references(small_demo):
    from dscref.index.semantic import SemanticIndex
    from dscref.synthetic import make_semantic_dataset

    rep = small_demo
    assert rep.lines[0].startswith("dscref demo: synthetic database of 3200 images (d=32, K=")
    assert any(line.split()[:1] == ["20.0"] for line in rep.lines)
    assert rep.results["payload_bytes"] == 47 and set(rep.results["snr"]) == {3.0, 20.0}
    # the reference rows, recomputed: exact search on raw features (xq @ xb.T, ties to the smaller
    # id) and the error-free codec pass
    ds = make_semantic_dataset(3200, d=32, seed=1)
    I_exact = np.argsort(-(ds.xq @ ds.xb.T), axis=1, kind="stable")[:, :40]
    assert rep.results["map_exact"] == compute_map(I_exact, ds.gnd)[0]
    index = SemanticIndex(ds.params["n_classes"], seed=1, n_iter=20, progress=False).build(ds.xb, ds.labels_b)
    clean = _hand_chain(index, ds.xq, ds.topk_q, ds.gnd, [np.inf], "qpsk", 0, 40, 0)
    assert rep.results["map_clean"] == clean["snr"][np.inf]["mAP"]
    assert rep.results["snr"][20.0]["bit_errors"] == 0 and rep.results["snr"][20.0]["mAP"] == rep.results["map_clean"]


def test_run_image_demo_on_tiny_models(tmp_path):
    from PIL import Image

    sys.path.insert(0, str(ROOT / "models"))
    import make_tiny

    m = make_tiny.make_all(tmp_path / "m")
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray((rng.random((40 + 4 * i, 60, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    rep = run_image_demo(folder, m["extractor"], m["classifier"], snrs=(0.0, 30.0), seed=2, show=2, k=8, size=48)
    assert rep.lines[0].startswith(f"dscref image demo: 5 photos from {folder} -> database of 15 images")
    assert set(rep.results["snr"]) == {0.0, 30.0}
    r30 = rep.results["snr"][30.0]
    assert r30["bit_errors"] == 0 and r30["bits"] == 5 * 8 * rep.results["payload_bytes"]
    assert 0.0 <= r30["mAP"] <= 1.0 and len(r30["examples"]) == 2
    with pytest.raises(ValueError, match="at least 2 images"):
        run_image_demo(tmp_path / "m", m["extractor"], m["classifier"])
