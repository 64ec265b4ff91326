"""The embedded demo: the whole DSC chain on synthetic data (or a folder of photos).

encode -> 47-byte payload -> bits -> QPSK over AWGN at a few SNRs -> LLR-free hard decisions ->
payload decoder (invalid labels dropped) -> search of the named partitions -> mAP. The journey
from query to decoded query is :class:`dscref.link.Link`'s; exact search on the raw features
(the reference row) is :class:`dscref.index.exact.ExactSearch`'s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .codec import PayloadLayout
from .link import Link
from .metrics import compute_map

__all__ = ["run_demo", "run_image_demo", "DemoReport", "format_example", "EXAMPLE_LEGEND"]

log = logging.getLogger(__name__)


@dataclass
class DemoReport:
    lines: list
    results: dict


def _chain(index, xq, heads, gnd, snrs, modem_name, seed, k, show):
    """Send every query through the link at each SNR; returns per-SNR stats and example rows.

    One generator (``seed``) draws every transmission: SNR after SNR, query after query."""
    from .channel import AWGN, Modem

    layout = PayloadLayout.for_index(index, head_size=heads.shape[1])
    queries = [index.encode_query(xq[i], top_labels=heads[i]) for i in range(len(xq))]
    rng = np.random.default_rng(seed)
    modem = Modem(modem_name)
    out = {"payload_bytes": layout.nbytes, "head_bytes": layout.head_bytes, "snr": {}}
    bar = tqdm(total=len(snrs) * len(xq), desc=f"{modem_name.upper()} over AWGN", unit="query", leave=False)
    for snr in snrs:
        bar.set_postfix_str(f"{float(snr):g} dB")
        sent = Link(layout, modem, AWGN(float(snr))).send(queries, rng)
        res = index.search(sent.queries, k=k)   # a query whose head was all dropped: an empty row
        I = res.I
        examples = []
        for i, rx in enumerate(sent.received[:show]):
            examples.append({"query": i, "bit_errors": rx.bit_errors, "head_bit_errors": rx.head_bit_errors,
                             "head_sent": [int(v) for v in heads[i]],
                             "head_received": [int(v) for v in rx.report.received_labels],
                             "dropped_slots": [int(v) for v in rx.report.dropped],
                             "searched": rx.query.labels.tolist(), "top5": I[i, :5].tolist()})
        bar.update(len(xq))
        out["snr"][float(snr)] = {
            "mAP": float(compute_map(I, gnd)[0]), "bit_errors": sent.bit_errors, "bits": sent.bits,
            "channel_uses_per_query": sent.channel_uses / len(xq), "dropped_labels": sent.dropped_labels,
            "mean_candidates": float(np.mean(res.n_candidates)), "examples": examples,
        }
    bar.close()
    return out


EXAMPLE_LEGEND = ("head sent -> head received: [n] = label changed by bit errors, x = dropped by the "
                  "decoder (not a valid label, or a repeat); top-5 ids: * = ground-truth positive, j = junk")


def format_example(ex: dict, ok=(), junk=(), name: str | None = None) -> str:
    """One example query: bit errors, the head as sent and as received (changed labels in
    brackets, dropped ones marked x), and its top-5 with ground-truth marks."""
    received = []
    for slot, rx in enumerate(ex["head_received"]):
        sent = ex["head_sent"][slot] if slot < len(ex["head_sent"]) else None
        cell = str(rx) if rx == sent else f"[{rx}]"
        received.append(cell + ("x" if slot in ex["dropped_slots"] else ""))
    ok, junk = set(ok), set(junk)
    top = " ".join(f"{t}{'*' if t in ok else ('j' if t in junk else '')}" for t in ex["top5"] if t >= 0)
    who = name if name is not None else f"q{ex['query']}"
    return (f"{who}: {ex['bit_errors']} bit errors ({ex['head_bit_errors']} in the head); head sent "
            f"{' '.join(map(str, ex['head_sent']))} -> received {' '.join(received)}; "
            f"top-5: {top or '(nothing searched)'}")


def run_demo(n_db: int = 20000, d: int = 2048, snrs=(0.0, 5.0, 10.0), modem: str = "qpsk",
             seed: int = 0, show: int = 3, k: int = 100) -> DemoReport:
    """Build a synthetic DSC database and send its queries through the full chain.

    Returns a :class:`DemoReport` whose ``lines`` the CLI prints.
    """
    from .channel import channel_uses
    from .index.exact import ExactSearch
    from .index.semantic import SemanticIndex
    from .synthetic import make_semantic_dataset

    t0 = time.perf_counter()
    lines = []
    with tqdm(total=4, desc="demo", unit="step", leave=False) as bar:
        bar.set_postfix_str(f"generating {n_db} images")
        ds = make_semantic_dataset(n_db, d=d, seed=seed)
        bar.update(1)
        t_gen = time.perf_counter() - t0
        bar.set_postfix_str("building the DSC index")
        index = SemanticIndex(ds.params["n_classes"], seed=seed, n_iter=20, progress=False).build(ds.xb, ds.labels_b)
        bar.update(1)
        t_build = time.perf_counter() - t0 - t_gen
        bar.set_postfix_str("error-free reference")
        # error-free reference: the same chain without a channel, and exact search on raw features
        layout = PayloadLayout.for_index(index, head_size=5)
        clean = Link(layout).send([index.encode_query(ds.xq[i], top_labels=ds.topk_q[i]) for i in range(len(ds.xq))])
        I0 = np.vstack([index.search(q, k=k).I for q in clean.queries])
        map_clean = compute_map(I0, ds.gnd)[0]
        # the demo's features are L2-normalised: inner product ranks like L2 (ties to the smaller id)
        I_exact = ExactSearch(ds.xb).search(ds.xq, k, metric="ip").I
        map_exact = compute_map(I_exact, ds.gnd)[0]
        bar.update(1)
        bar.set_postfix_str("sending the payloads")
        chain = _chain(index, ds.xq, ds.topk_q, ds.gnd, snrs, modem, seed, k, show)
        bar.update(1)
    st = ds.stats["classifier"]
    lines.append(f"dscref demo: synthetic database of {n_db} images (d={d}, K={ds.params['n_classes']} labels), "
                 f"{len(ds.xq)} queries, seed {seed}")
    lines.append(f"  simulated classifier: top-1 {st['top1_db']:.3f}, top-5 {st['top5_db']:.3f} "
                 f"(targets {st['top1_target']}, {st['top5_target']})")
    lines.append(f"  generated in {t_gen:.1f} s; DSC index built in {t_build:.1f} s "
                 f"({len(index.shared_pq_lists_)} small partitions share one residual PQ)")
    lines.append(f"  payload: {chain['head_bytes']}-byte semantic head + 5 x {index.M}-byte PQ codes = "
                 f"{chain['payload_bytes']} bytes = {8 * chain['payload_bytes']} bits -> "
                 f"{channel_uses(nbytes=chain['payload_bytes'], modem=modem)} {modem.upper()} channel uses "
                 f"(the raw 2048-d float32 feature: {channel_uses(dim=d, complex_baseband=True)} analog complex uses)")
    lines.append(f"  mAP exact search on raw features: {map_exact:.3f}; DSC, no channel errors: {map_clean:.3f}")
    lines.append("")
    lines.append(f"  {'Es/N0 dB':>8} {'BER':>8} {'bit errs':>8} {'dropped':>8} {'cands/q':>8} {'mAP':>6}")
    for snr, r in chain["snr"].items():
        lines.append(f"  {snr:>8.1f} {r['bit_errors'] / r['bits']:>8.4f} {r['bit_errors']:>8d} "
                     f"{r['dropped_labels']:>8d} {r['mean_candidates']:>8.0f} {r['mAP']:>6.3f}")
    lines.append("")
    if show:
        lines.append(f"  examples ({EXAMPLE_LEGEND})")
    for snr, r in chain["snr"].items():
        if r["examples"]:
            lines.append(f"  at {snr:.1f} dB:")
        for ex in r["examples"]:
            g = ds.gnd[ex["query"]]
            lines.append("    " + format_example(ex, g["ok"].tolist(), g["junk"].tolist()))
    lines.append(f"  total {time.perf_counter() - t0:.1f} s")
    return DemoReport(lines=lines, results={"map_exact": map_exact, "map_clean": map_clean, **chain})


def _variants(img):
    """Copies of a photo a user might take again: crop, mirror, rescale + JPEG re-compression."""
    import io

    from PIL import Image, ImageOps

    w, h = img.size
    crop = img.crop((int(0.1 * w), int(0.1 * h), int(0.9 * w), int(0.9 * h)))
    small = img.resize((max(1, w // 2), max(1, h // 2)), Image.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=30)
    buf.seek(0)
    return [crop, ImageOps.mirror(img), Image.open(buf).convert("RGB")]


def run_image_demo(folder, extractor, classifier, snrs=(0.0, 5.0, 10.0), modem: str = "qpsk",
                   seed: int = 0, show: int = 3, k: int = 20, size: int = 362) -> DemoReport:
    """The same chain on a folder of photos: each photo and two altered copies go in the
    database, a third alteration (an off-centre crop) is the query; its positives are the photo
    and its copies. Features and labels come from the ONNX models (``extractor`` /
    ``classifier``: paths, or loaded :class:`~dscref.features.Extractor` /
    :class:`~dscref.features.Classifier`)."""
    from .datasets import list_images
    from .features import Classifier, Extractor, load_image
    from .index.semantic import SemanticIndex

    t0 = time.perf_counter()
    paths = list_images(folder)
    if len(paths) < 2:
        raise ValueError(f"{folder}: the image demo needs at least 2 images, found {len(paths)}")
    ext = extractor if isinstance(extractor, Extractor) else Extractor(extractor, size=size)
    clf = classifier if isinstance(classifier, Classifier) else Classifier(classifier)
    db, gnd, queries = [], [], []
    for p in tqdm(paths, desc="reading photos", leave=False):
        img = load_image(p)
        w, h = img.size
        queries.append(img.crop((0, int(0.15 * h), int(0.8 * w), h)))
        start = len(db)
        db.extend([img] + _variants(img)[:2])
        gnd.append({"ok": np.arange(start, len(db), dtype=np.int64), "junk": np.zeros(0, np.int64)})
    xb = ext.extract(db, progress=True)
    xq = ext.extract(queries, progress=True)
    labels_b = clf.topk(db, k=1)[0][:, 0]
    heads = clf.topk(queries, k=5)[0]
    # d of an off-the-shelf model (e.g. 1280 for EfficientNet-Lite0) may not split into 8; use M | d
    M = next(m for m in (8, 16, 4, 2, 1) if xb.shape[1] % m == 0)
    index = SemanticIndex(1000, M=M, seed=seed, progress=False).build(xb, labels_b)
    chain = _chain(index, xq, heads, gnd, snrs, modem, seed, min(k, len(db)), show)
    lines = [f"dscref image demo: {len(paths)} photos from {folder} -> database of {len(db)} images "
             f"(photo + crop + mirror), {len(queries)} queries (off-centre crops)",
             f"  features {xb.shape[1]}-d from {ext.path}; labels from {clf.path}; "
             f"payload {chain['payload_bytes']} bytes"]
    lines.append(f"  {'Es/N0 dB':>8} {'bit errs':>8} {'dropped':>8} {'cands/q':>8} {'mAP':>6}")
    for snr, r in chain["snr"].items():
        lines.append(f"  {snr:>8.1f} {r['bit_errors']:>8d} {r['dropped_labels']:>8d} "
                     f"{r['mean_candidates']:>8.1f} {r['mAP']:>6.3f}")
    if show:
        lines.append(f"  examples ({EXAMPLE_LEGEND})")
    for snr, r in chain["snr"].items():
        for ex in r["examples"]:
            lines.append(f"  {snr:.0f} dB " + format_example(ex, gnd[ex["query"]]["ok"].tolist(),
                                                            name=paths[ex["query"]].name))
    lines.append(f"  total {time.perf_counter() - t0:.1f} s")
    return DemoReport(lines=lines, results=chain)
