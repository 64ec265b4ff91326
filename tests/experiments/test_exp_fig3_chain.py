"""Fig. 3's curves through dscref.link equal, draw for draw, the chains fig3 used to write out by
hand (bytes -> bits -> transmit_bits -> bits -> bytes -> decode, and a hand-made exhaustive search),
so the published comparison's numbers did not move. The "analog+DUC head" curve (added after the
others) is the DSC head's chain with the DUC index's head, drawn right after it."""

import numpy as np

from dscref import bitpack
from dscref import experiments as E
from dscref._validate import as_generator
from dscref.channel import AWGN, Modem, RayleighBlock, transmit_analog, transmit_bits
from dscref.codec import PayloadLayout, decode_head, decode_payload, encode_payload
from dscref.metrics import compute_map
from dscref.scoring import topk


def _hand_written_fig3(data, dsc, duc, snrs, trials, seed, k, fading, block, modems=("bpsk", "qpsk")):
    """The former body of fig3 (its per-trial chains), for the comparison."""
    nq = len(data.xq)
    xq = np.asarray(data.xq, np.float32)
    layouts = {"dsc": PayloadLayout.for_index(dsc, 5), "duc": PayloadLayout.for_index(duc, 5)}
    payloads = {key: [encode_payload(index.encode_query(xq[qi], top_labels=E.head_labels(index, kind, data, qi, 5)),
                                     layouts[key]) for qi in range(nq)]
                for key, index, kind in (("dsc", dsc, "dsc"), ("duc", duc, "ivf"))}
    head_bytes = {key: np.stack([np.frombuffer(p[:layouts[key].head_bytes], np.uint8) for p in payloads[key]])
                  for key in ("dsc", "duc")}
    xb = np.asarray(data.xb, np.float32)
    n2 = (xb ** 2).sum(1)
    rng = as_generator(seed)
    out = {}
    for snr in snrs:
        ch = RayleighBlock(snr, block) if fading else AWGN(snr)
        for _ in range(trials):
            rx = transmit_analog(xq, ch, rng, complex_baseband=True).received
            out.setdefault("analog", []).append(compute_map(topk(n2 - 2 * rx @ xb.T, k)[1], data.gnd)[0])
            for key, index in (("dsc", dsc), ("duc", duc)):
                hb = transmit_bits(bitpack.bytes_to_bits(head_bytes[key].reshape(-1)), Modem("qpsk"), ch, rng)
                rxh = bitpack.bits_to_bytes(hb.bits).reshape(nq, -1)
                I = np.full((nq, k), -1, np.int64)
                for qi in range(nq):
                    hl, _ = decode_head(rxh[qi], layouts[key])
                    if hl.size:
                        I[qi] = index.search(index.encode_query(rx[qi], top_labels=hl, raw=True), k=k).I[0]
                out.setdefault(f"analog+{key.upper()} head", []).append((compute_map(I, data.gnd)[0], hb.ber))
            for m in modems:
                for key, index in (("duc", duc), ("dsc", dsc)):
                    bits = bitpack.bytes_to_bits(np.frombuffer(b"".join(payloads[key]), np.uint8))
                    res = transmit_bits(bits, Modem(m), ch, rng)
                    rxp = bitpack.bits_to_bytes(res.bits).reshape(nq, layouts[key].nbytes)
                    I = np.full((nq, k), -1, np.int64)
                    for qi in range(nq):
                        q, _ = decode_payload(rxp[qi], layouts[key])
                        if q.labels.size:
                            I[qi] = index.search(q, k=k).I[0]
                    out.setdefault(f"PQ+{key.upper()} head ({m})", []).append((compute_map(I, data.gnd)[0], res.ber))
    return out


def test_fig3_equals_the_hand_written_chains(tiny, indexes):
    snrs, trials, k = (-6.0, 4.0), 2, 200
    for fading in (False, True):
        res = E.fig3(tiny, indexes=indexes, snrs=snrs, trials=trials, k=k, seed=5, fading=fading, block=8)
        ref = _hand_written_fig3(tiny, indexes["dsc"], indexes["ivf"], snrs, trials, 5, k, fading, 8)
        assert set(res["curves"]) == set(ref)
        for name, c in res["curves"].items():
            for i in range(len(snrs)):
                got = ref[name][i * trials:(i + 1) * trials]
                maps = [g if name == "analog" else g[0] for g in got]
                assert c["mAP"][i] == float(np.mean(maps)) and c["mAP_std"][i] == float(np.std(maps)), (name, i)
                if name != "analog":
                    assert c["ber"][i] == float(np.mean([g[1] for g in got])), (name, i)
