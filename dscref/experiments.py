"""Reproduce the paper's results: Fig. 2 (head size vs recall), Fig. 3 (mAP vs SNR), Table I.

Each experiment takes a :class:`RetrievalData` (the embedded synthetic benchmark by default, or
real features), builds the indices it needs, and returns a JSON-serialisable dict of every
number; :func:`write_results` stores it (atomically) with a PNG (matplotlib, imported lazily).
The CLI (``dscref reproduce``) wraps these functions.

Synthetic numbers are not the paper's numbers: the generator models stated properties of GeM
features and of a classifier with 0.77 / 0.94 top-1 / top-5 accuracy (see
:mod:`dscref.synthetic`), and shows the *mechanisms* (label partitions vs k-means cells, the cost
of PQ, the effect of channel noise), not Oxford's absolute values.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from ._validate import as_generator, check_int
from ._chunks import release_pages
from ._files import atomic_open, atomic_write_text
from .index.factory import INDEX_NAMES, make_index
from .codec import PayloadLayout, decode_head, decode_payload, encode_payload
from .metrics import candidate_recall, compute_map, recall_at_k

__all__ = [
    "RetrievalData", "synthetic_data", "features_data", "image_data", "load_data", "make_index",
    "parse_scale", "min_synthetic_size",
    "evaluate", "fig2", "fig3", "table1", "robust", "write_results", "PAPER_TABLE1", "PAPER_FIG2",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- paper numbers
# Table I of Wang & Qi: (index label, M, head bytes) -> (mAP, Recall, R@1, R@10, R@100)
PAPER_TABLE1 = {
    "105k": {
        "DUC-G+P": (0.535, 0.581, 0.059, 0.369, 0.566),
        "DUC-IVF": (0.744, 0.874, 0.059, 0.385, 0.761),
        "DUC-IMI": (0.549, 0.574, 0.059, 0.340, 0.566),
        "DSC": (0.756, 0.939, 0.059, 0.406, 0.776),
        "DUC+PQ": (0.545, 0.989, 0.054, 0.256, 0.646),
        "DUC-IVF+PQ": (0.485, 0.874, 0.027, 0.159, 0.635),
        "DUC-IMI+PQ": (0.507, 0.574, 0.059, 0.299, 0.559),
        "DSC+PQ": (0.702, 0.939, 0.041, 0.340, 0.790),
    },
    "1m": {
        "DUC-G+P": (0.627, 0.726, 0.059, 0.395, 0.673),
        "DUC-IVF": (0.676, 0.803, 0.059, 0.385, 0.689),
        "DUC-IMI": (0.482, 0.533, 0.059, 0.291, 0.505),
        "DSC": (0.719, 0.939, 0.059, 0.399, 0.735),
        "DUC+PQ": (0.133, 0.798, 0.030, 0.078, 0.198),
        "DUC-IVF+PQ": (0.102, 0.803, 0.004, 0.013, 0.161),
        "DUC-IMI+PQ": (0.399, 0.533, 0.059, 0.239, 0.445),
        "DSC+PQ": (0.493, 0.939, 0.028, 0.178, 0.623),
    },
}
# Fig. 2 / Sec. IV-B: head size needed for ~90 % recall on {Oxford5k, Paris6k, Holidays}
PAPER_FIG2 = {"dsc": [5, 5, 5], "ivf": [30, 30, 5], "imi": [None, 200, 100]}

TABLE1_ROWS = [  # (label, index kind, raw feature?)
    ("DUC-G+P", "gp", True), ("DUC-IVF", "ivf", True), ("DUC-IMI", "imi", True), ("DSC", "dsc", True),
    ("DUC+PQ", "flat", False), ("DUC-IVF+PQ", "ivf", False), ("DUC-IMI+PQ", "imi", False),
    ("DSC+PQ", "dsc", False),
]
SCALES = {"105k": 105_000, "1m": 1_000_000}


# --------------------------------------------------------------------------- data
@dataclass
class RetrievalData:
    """Database and queries for the experiments.

    Attributes
    ----------
    xb : ndarray (n, d) float32 -- database features (may be a memory map)
    labels_b : ndarray (n,) int64 -- classifier top-1 label of each database item (DSC partition)
    xq : ndarray (nq, d) float32 -- query features
    ranking_q : ndarray (nq, H) int64 -- each query's labels ranked by the classifier (H >= 5)
    gnd : list of {"ok": ids, "junk": ids}
    n_labels : int -- K, the classifier's label count
    """

    name: str
    xb: np.ndarray
    labels_b: np.ndarray
    xq: np.ndarray
    ranking_q: np.ndarray
    gnd: list
    n_labels: int
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.xb.shape[0]


def parse_scale(scale) -> int:
    """Database size: '105k' -> 105000, '1m' / '1M' -> 1000000, '2.5k' -> 2500, or a whole
    number (int or digit string). NaN, inf, fractions and sizes below 1 raise ValueError; the
    generator needs at least the landmark images (:func:`min_synthetic_size`)."""
    from ._userinput import parse_size

    return parse_size(scale, "scale")


def min_synthetic_size() -> int:
    """Smallest synthetic database that holds the landmark images for every seed at the
    generator's defaults: each landmark has at most ``positives_range[1]`` ok views plus their
    junk views (smaller sizes work for seeds that draw fewer views; the generator's error names
    the seed's exact bound)."""
    import inspect

    from .synthetic import make_semantic_dataset

    defaults = {k: v.default for k, v in inspect.signature(make_semantic_dataset).parameters.items()}
    hi, jf = defaults["positives_range"][1], defaults["junk_fraction"]
    return int(defaults["n_instances"] * (hi + round(hi * jf / (1.0 - jf))))


def synthetic_data(n_db: int, seed: int = 0, ranking_depth: int = 200, workdir=None, **kw) -> RetrievalData:
    """The embedded synthetic benchmark (:func:`dscref.synthetic.make_semantic_dataset`).

    For ``n_db > 300_000`` the database is generated chunk by chunk into a memory-mapped file in
    ``workdir`` (default: a temporary directory), so 1M x 2048 items never sit twice in memory.
    """
    from .synthetic import make_semantic_dataset

    out = None
    t0 = time.perf_counter()
    d = kw.get("d", 2048)
    if n_db > 300_000:
        wd = Path(workdir or tempfile.mkdtemp(prefix="dscref-"))
        wd.mkdir(parents=True, exist_ok=True)
        need, free = n_db * d * 4, shutil.disk_usage(wd).free
        if need > free:
            raise ValueError(f"n_db={n_db} x d={d} float32 features need {need / 2**30:.1f} GiB in {str(wd)!r}, "
                             f"which has {free / 2**30:.1f} GiB free: use a smaller size or another --workdir")
        path = wd / f"synthetic_xb_{n_db}_{seed}.f32"
        out = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_db, d))
        if workdir is None:  # the mapping keeps the data; the space is freed when the process ends
            path.unlink()
            wd.rmdir()
        log.info("generating %d x %d synthetic features into %s", n_db, d, path)
    ds = make_semantic_dataset(n_db, seed=seed, query_ranking_depth=ranking_depth, out=out, **kw)
    gen_s = time.perf_counter() - t0
    return RetrievalData(name="synthetic", xb=ds.xb, labels_b=ds.labels_b, xq=ds.xq, ranking_q=ds.ranking_q,
                         gnd=ds.gnd, n_labels=ds.params["n_classes"],
                         info={"generator": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.params.items()},
                               "stats": ds.stats, "generation_s": gen_s})


def features_data(path) -> RetrievalData:
    """Real features from a features file (:mod:`dscref.features_file`): an ``.npz`` or a folder
    of ``.npy`` files holding ``xb`` (n, d), ``labels_b`` (n,), ``xq`` (nq, d), ``ranking_q`` or
    ``topk_q`` (nq, >=5) and the ground truth as plain arrays (``gnd_ok`` + ``gnd_ok_offsets``,
    ``gnd_junk`` + ``gnd_junk_offsets``; or ``gnd.json`` in a folder). Never unpickled: an object
    array raises :class:`~dscref.errors.UnsafeFileError` naming the file."""
    from .features_file import load_features_file

    f = load_features_file(path)
    labels, rank = f["labels_b"], f["ranking_q"]
    K = int(max(labels.max(initial=0), rank.max(initial=0)) + 1)
    K = max(K, 1000) if K <= 1000 else K
    return RetrievalData(name=f"features:{Path(path)}", xb=f["xb"], labels_b=labels, xq=f["xq"],
                         ranking_q=rank, gnd=f["gnd"], n_labels=K)


def image_data(spec: str, extractor, classifier, ranking_depth: int = 200, setting: str = "medium") -> RetrievalData:
    """Features and classifier labels of an image dataset through ONNX models.

    ``spec`` is ``revisited:ROOT:NAME`` (revisited Oxford / Paris: database = ``imlist``,
    queries = ``qimlist`` cropped to their boxes, ground truth of ``setting``) or
    ``holidays:ROOT`` (every image in the database, the first of each group as query, itself
    junk). Database partitions are the classifier's top-1 labels; query heads its ranking.
    ``extractor`` and ``classifier`` are ONNX paths or loaded ``Extractor`` / ``Classifier`` objects.
    """
    from .datasets import load_holidays, load_revisited
    from .features import Classifier, Extractor

    if not (extractor and classifier):
        raise ValueError(f"data={spec!r} needs --extractor X.onnx and --classifier Y.onnx")
    kind, _, rest = spec.partition(":")
    if kind == "revisited":
        root, _, name = rest.rpartition(":")
        if not root or not name:
            raise ValueError(f"data={spec!r}: expected revisited:ROOT:NAME, e.g. revisited:data:roxford5k")
        ds = load_revisited(root, name)
        db_images, q_images, gnd = ds.images, ds.query_images(), ds.ground_truth(setting)
    elif kind == "holidays":
        ds = load_holidays(rest)
        db_images, q_images, gnd = ds.images, ds.queries, ds.gnd
    else:
        raise ValueError(f"data={spec!r}: expected revisited:ROOT:NAME or holidays:ROOT")
    ext = extractor if isinstance(extractor, Extractor) else Extractor(extractor)
    clf = classifier if isinstance(classifier, Classifier) else Classifier(classifier)
    xb = ext.extract(db_images, progress=True)
    xq = ext.extract(q_images, progress=True)
    labels_b = clf.topk(db_images, k=1, progress=True)[0][:, 0]
    ranking = clf.topk(q_images, k=min(ranking_depth, clf.n_classes), progress=True)[0]
    return RetrievalData(name=spec, xb=xb, labels_b=labels_b.astype(np.int64), xq=xq,
                         ranking_q=ranking.astype(np.int64), gnd=gnd, n_labels=clf.n_classes,
                         info={"extractor": str(ext.path), "classifier": str(clf.path), "setting": setting})


def load_data(spec: str = "synthetic", scale="105k", seed: int = 0, **kw) -> RetrievalData:
    """``synthetic`` (at ``scale``) or ``features:PATH``. Image datasets (revisited Oxford/Paris,
    Holidays) are turned into a features file first with ``dscref extract``."""
    if spec == "synthetic":
        return synthetic_data(parse_scale(scale), seed=seed, **kw)
    if spec.startswith("features:"):
        return features_data(spec.split(":", 1)[1])
    raise ValueError(f"data={spec!r}: expected 'synthetic' or 'features:PATH' (extract image "
                     "datasets to features with `dscref extract` first)")


# --------------------------------------------------------------------------- indices
def build_index(kind: str, data: RetrievalData, **kw):
    """Build ``make_index(kind, ...)`` on ``data``; returns (index, seconds)."""
    n_lists = kw.pop("n_lists", data.n_labels)
    index = make_index(kind, n_lists, **kw)
    t0 = time.perf_counter()
    index.build(data.xb, data.labels_b)
    dt = time.perf_counter() - t0
    log.info("built %s on %d items in %.1f s", INDEX_NAMES[kind], data.n, dt)
    return index, dt


def head_labels(index, kind: str, data: RetrievalData, qi: int, head_size: int) -> np.ndarray:
    """The code head of query ``qi``: DSC takes the classifier's ranked labels (eq. 11), DUC
    indices the lists nearest to the feature."""
    if kind == "dsc":
        return data.ranking_q[qi, :head_size]
    if kind == "flat":
        return np.zeros(1, np.int64)
    return index.head(np.asarray(data.xq[qi], dtype=np.float32), head_size)


def evaluate(index, kind: str, data: RetrievalData, *, head_size: int = 5, raw: bool = False,
             metric: str = "l2", k: int = 1000, through_codec: bool = True) -> dict:
    """Table I's numbers for one index: mAP, Recall, R@1/10/100, candidates, bytes, ms/query.

    Queries go through the payload codec (encode -> bytes -> decode, error-free) unless ``raw``.
    """
    layout = PayloadLayout.for_index(index, n_labels=head_size if kind != "flat" else 0)
    I = np.full((len(data.xq), max(k, 100)), -1, dtype=np.int64)  # R@100 needs 100 columns
    cands, ncand = [], []
    t_search = 0.0
    for qi in range(len(data.xq)):
        labels = head_labels(index, kind, data, qi, head_size)
        q = index.encode_query(data.xq[qi], top_labels=labels, raw=raw)
        if not raw and through_codec:
            q, _ = decode_payload(encode_payload(q, layout), layout)
        t0 = time.perf_counter()
        res = index.search(q, k=k, metric=metric)
        t_search += time.perf_counter() - t0
        I[qi, :k] = res.I[0]
        ncand.append(int(res.n_candidates[0]))
        cands.append(index.query_candidates(q))
    mAP = compute_map(I, data.gnd)[0]
    head_bytes = layout.head_bytes if kind != "flat" else 0
    return {
        "mAP": float(mAP),
        "Recall": float(candidate_recall(cands, data.gnd)),
        "R@1": float(recall_at_k(I, data.gnd, 1)),
        "R@10": float(recall_at_k(I, data.gnd, 10)),
        "R@100": float(recall_at_k(I, data.gnd, 100)),
        "candidates": float(np.mean(ncand)),
        "bytes": int(head_bytes + (data.xb.shape[1] * 4 if raw else layout.nbytes - head_bytes)),
        "head_bytes": int(head_bytes),
        "query_ms": 1e3 * t_search / max(1, len(data.xq)),
    }


# --------------------------------------------------------------------------- experiments
def _meta(params: dict, data: RetrievalData) -> dict:
    import numba
    import scipy

    return {"dscref": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "python": platform.python_version(),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "params": params, "data": {"name": data.name, "n_db": int(data.n), "d": int(data.xb.shape[1]),
                                       "n_queries": int(len(data.xq)), "n_labels": int(data.n_labels),
                                       **{k: v for k, v in data.info.items()}}}


def table1(data: RetrievalData, *, seed: int = 0, M: int = 8, nbits: int = 8, head_size: int = 5,
           flat_M: int = 64, flat_nbits: int = 5, k: int = 1000, indexes: dict | None = None,
           kinds=("gp", "ivf", "imi", "dsc", "flat"), metric: str = "l2") -> dict:
    """Table I: for each row (index, raw 2048-d feature or PQ code, 7-byte head) the mAP, Recall,
    R@1, R@10, R@100, plus candidates scanned, bytes sent and query time.

    The "DUC+PQ" row sends one 40-byte PQ code and no head; 2048 is not divisible by 40, so the
    40 bytes are M=64 sub-codes of 5 bits (``flat_M``, ``flat_nbits``). Other PQ rows send 5 codes
    of M=8 bytes (40 bytes) after the head, as the paper does.
    """
    t_start = time.perf_counter()
    # Without a shared cache, each index is built, evaluated and dropped before the next one, so
    # peak memory is that of the largest index, not of all five (this matters at 1M items).
    keep = indexes is not None
    indexes = {} if indexes is None else indexes
    build_s, by_label = {}, {}
    for kind in kinds:
        if kind not in indexes:
            extra = dict(M=flat_M, nbits=flat_nbits) if kind == "flat" else dict(M=M, nbits=nbits)
            indexes[kind], build_s[kind] = build_index(kind, data, seed=seed, keep_vectors=kind != "flat", **extra)
        idx = indexes[kind]
        for label, row_kind, raw in TABLE1_ROWS:
            if row_kind != kind:
                continue
            r = evaluate(idx, kind, data, head_size=head_size, raw=raw, metric=metric, k=k)
            r.update(label=label, index=kind, M=data.xb.shape[1] if raw else (
                flat_M * flat_nbits // 8 if kind == "flat" else head_size * idx.M * idx.nbits // 8),
                     head=r["head_bytes"] or "-")
            by_label[label] = r
            log.info("%s: mAP %.3f recall %.3f", label, r["mAP"], r["Recall"])
        if not keep:
            del indexes[kind], idx
            release_pages(data.xb)
    rows = [by_label[label] for label, _, _ in TABLE1_ROWS if label in by_label]
    return {"experiment": "table1", "rows": rows, "build_s": build_s,
            "total_s": time.perf_counter() - t_start}


def fig2(data: RetrievalData, *, head_sizes=(1, 2, 3, 5, 10, 20, 30, 50, 100, 200), seed: int = 0,
         kinds=("dsc", "ivf", "imi", "gp"), indexes: dict | None = None, target: float = 0.9) -> dict:
    """Fig. 2: candidate recall vs code-head size for each index, and the smallest head size
    reaching ``target`` recall (the paper: 5 for DSC, 30 for DUC-IVF on Oxford5k).

    Recall is measured on every item of the lists the head names. For IVF+G+P that is before
    its query-dependent pruning of sub-regions (so its curve equals IVF's, both having the same
    k-means cells); Table I reports G+P's recall after pruning.
    """
    t_start = time.perf_counter()
    indexes = {} if indexes is None else indexes
    head_sizes = sorted({int(h) for h in head_sizes})
    curves, needed = {}, {}
    for kind in kinds:
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
        index = indexes[kind]
        limit = data.ranking_q.shape[1] if kind == "dsc" else index.n_lists
        hs = [h for h in head_sizes if h <= limit]
        rec = []
        for h in hs:
            cands = [index.candidate_ids(head_labels(index, kind, data, qi, h)) for qi in range(len(data.xq))]
            rec.append(float(candidate_recall(cands, data.gnd)))
        curves[kind] = {"head_sizes": hs, "recall": rec}
        reach = [h for h, r in zip(hs, rec) if r >= target]
        needed[kind] = reach[0] if reach else None
        log.info("Fig. 2 %s: %s", kind, dict(zip(hs, np.round(rec, 3))))
    return {"experiment": "fig2", "curves": curves, "head_size_for_target": needed, "target": target,
            "paper_head_size_for_90pct": PAPER_FIG2, "total_s": time.perf_counter() - t_start}


def _channel(snr_db: float, fading: bool, block: int):
    from .channel import AWGN, RayleighBlock

    return RayleighBlock(snr_db, block) if fading else AWGN(snr_db)


def fig3(data: RetrievalData, *, snrs=tuple(np.arange(-20.0, 10.1, 2.5)), trials: int = 5, seed: int = 0,
         modems=("bpsk", "qpsk"), fading: bool = False, block: int = 16, head_size: int = 5,
         duc_kind: str = "ivf", k: int = 1000, indexes: dict | None = None, policy: str = "drop") -> dict:
    """Fig. 3: mAP vs channel SNR for the analog feature and for digital payloads.

    Curves (each labelled with its bandwidth B in complex channel uses):

    * ``analog``: the 2048-d feature, power-normalised, complex baseband (1024 uses), exhaustive
      exact search on the noisy feature;
    * ``analog+DSC head``: the same plus the 7-byte head sent by QPSK at the same SNR; exact
      search inside the partitions the received head names;
    * ``PQ+DUC head (<modem>)`` / ``PQ+DSC head (<modem>)``: the 47-byte payload (head + five
      8-byte residual codes) sent by BPSK / QPSK, decoded (invalid labels dropped) and searched.

    SNR is P / sigma^2 per complex channel use (Es/N0 for the digital links, the analog link
    normalised to the same energy per use). ``trials`` independent channel realisations per point
    give the mean and standard deviation of the mAP.
    """
    from . import bitpack
    from .channel import Modem, channel_uses, transmit_analog, transmit_bits

    t_start = time.perf_counter()
    trials = check_int(trials, "trials", low=1)
    indexes = {} if indexes is None else indexes
    for kind in ("dsc", duc_kind):
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
    dsc, duc = indexes["dsc"], indexes[duc_kind]
    nq, d = data.xq.shape
    xq = np.asarray(data.xq, dtype=np.float32)
    layouts = {"dsc": PayloadLayout.for_index(dsc, head_size), "duc": PayloadLayout.for_index(duc, head_size)}
    # the transmitted payloads are fixed; only the channel varies
    payloads = {}
    for key, index, kind in (("dsc", dsc, "dsc"), ("duc", duc, duc_kind)):
        payloads[key] = [encode_payload(index.encode_query(xq[qi], top_labels=head_labels(index, kind, data, qi, head_size)),
                                        layouts[key]) for qi in range(nq)]
    head_bytes = np.stack([np.frombuffer(p[:layouts["dsc"].head_bytes], np.uint8) for p in payloads["dsc"]])
    xb_norm2 = None

    def exact_rank(qr: np.ndarray) -> np.ndarray:
        nonlocal xb_norm2
        from .scoring import topk

        if xb_norm2 is None:
            xb_norm2 = np.empty(data.n, dtype=np.float32)
            for s in range(0, data.n, 65536):
                xb_norm2[s:s + 65536] = (np.asarray(data.xb[s:s + 65536], np.float32) ** 2).sum(1)
                release_pages(data.xb)
        dist = np.empty((qr.shape[0], data.n), dtype=np.float32)
        for s in range(0, data.n, 65536):
            blk = np.asarray(data.xb[s:s + 65536], dtype=np.float32)
            dist[:, s:s + blk.shape[0]] = xb_norm2[s:s + blk.shape[0]] - 2 * qr @ blk.T
            release_pages(data.xb)
        return topk(dist, k)[1]

    curves: dict = {}
    bw = {"analog": channel_uses(dim=d, complex_baseband=True),
          "analog+DSC head": channel_uses(dim=d, complex_baseband=True)
          + channel_uses(nbits=8 * layouts["dsc"].head_bytes, modem="qpsk")}
    for m in modems:
        for key in ("duc", "dsc"):
            bw[f"PQ+{key.upper()} head ({m})"] = channel_uses(nbytes=layouts[key].nbytes, modem=m)
    for name in bw:
        curves[name] = {"B": bw[name], "snr_db": [float(s) for s in snrs], "mAP": [], "mAP_std": [], "ber": []}
    rng = as_generator(seed)
    bar = tqdm(total=len(snrs) * trials, desc="Fig. 3", leave=False)
    for snr in snrs:
        ch = _channel(float(snr), fading, block)
        per = {name: [] for name in curves}
        ber = {name: [] for name in curves}
        for _ in range(trials):
            # analog feature (complex baseband, per-query power normalisation)
            rx = transmit_analog(xq, ch, rng, complex_baseband=True).received
            per["analog"].append(compute_map(exact_rank(rx), data.gnd)[0])
            # analog feature + DSC head (head bits over QPSK)
            hb = transmit_bits(bitpack.bytes_to_bits(head_bytes.reshape(-1)), Modem("qpsk"), ch, rng)
            rxh = bitpack.bits_to_bytes(hb.bits).reshape(nq, -1)
            I = np.full((nq, k), -1, np.int64)
            for qi in range(nq):
                hl, _ = decode_head(rxh[qi], layouts["dsc"], policy=policy)
                if hl.size:
                    I[qi] = dsc.search(dsc.encode_query(rx[qi], top_labels=hl, raw=True), k=k).I[0]
            per["analog+DSC head"].append(compute_map(I, data.gnd)[0])
            ber["analog+DSC head"].append(hb.ber)
            # digital payloads
            for m in modems:
                for key, index in (("duc", duc), ("dsc", dsc)):
                    name = f"PQ+{key.upper()} head ({m})"
                    bits = bitpack.bytes_to_bits(np.frombuffer(b"".join(payloads[key]), np.uint8))
                    res = transmit_bits(bits, Modem(m), ch, rng)
                    rxp = bitpack.bits_to_bytes(res.bits).reshape(nq, layouts[key].nbytes)
                    I = np.full((nq, k), -1, np.int64)
                    for qi in range(nq):
                        q, _ = decode_payload(rxp[qi], layouts[key], policy=policy)
                        if q.labels.size:
                            I[qi] = index.search(q, k=k).I[0]
                    per[name].append(compute_map(I, data.gnd)[0])
                    ber[name].append(res.ber)
            bar.update(1)
        for name in curves:
            curves[name]["mAP"].append(float(np.mean(per[name])))
            curves[name]["mAP_std"].append(float(np.std(per[name])))
            curves[name]["ber"].append(float(np.mean(ber[name])) if ber[name] else None)
        log.info("Fig. 3 SNR %.1f dB: %s", snr, {n: round(curves[n]["mAP"][-1], 3) for n in curves})
    bar.close()
    return {"experiment": "fig3", "curves": curves, "fading": fading, "block": block, "trials": trials,
            "duc_index": duc_kind, "snr_definition": "P / sigma^2 per complex channel use (Es/N0 for digital)",
            "total_s": time.perf_counter() - t_start}


def _snr_at_fraction(snrs, maps, target):
    """Smallest SNR (linear interpolation) from which the mAP stays >= target; None if never."""
    snrs, maps = np.asarray(snrs, float), np.asarray(maps, float)
    ok = maps >= target
    if not ok.any() or not ok[-1]:
        return None
    i = len(ok) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    if i == 0:
        return float(snrs[0])
    x0, x1, y0, y1 = snrs[i - 1], snrs[i], maps[i - 1], maps[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)


def robust(data: RetrievalData, *, snrs=tuple(np.arange(-2.0, 12.1, 2.0)), trials: int = 5, seed: int = 0,
           modem: str = "qpsk", head_size: int = 5, p_design: float = 0.01, head_scheme: str = "hamming84",
           indexes: dict | None = None, k: int = 1000, fraction: float = 0.9) -> dict:
    """Channel-robust coding (beyond the paper): mAP vs SNR for the paper's plain payload, robust
    index assignment, soft-decision ADC, protected head, soft head decoding and all combined,
    on the DSC index; and the SNR at which each keeps ``fraction`` of its noiseless mAP.

    Protected variants spend extra channel uses (reported); ``snr_at_equal_uses`` shifts their
    SNR by ``10 log10(uses / uses_plain)`` so the comparison holds at equal energy per query.
    """
    from .experiments_robust import robust_variants_mAP

    t_start = time.perf_counter()
    indexes = {} if indexes is None else indexes
    if "dsc" not in indexes:
        indexes["dsc"], _ = build_index("dsc", data, seed=seed)
    dsc = indexes["dsc"]
    res = robust_variants_mAP(dsc, np.asarray(data.xq, np.float32), data.ranking_q[:, :head_size], data.gnd,
                              list(snrs), modem=modem, n_trials=trials, seed=seed, k=k,
                              p_design=p_design, head_scheme=head_scheme)
    uses = res["channel_uses"]
    plain_uses = uses["plain"]
    table = {}
    for v in res["variants"]:
        means = [res["mAP"][v][s]["mean"] for s in res["snr_db"]]
        target = fraction * res["mAP_clean"][v]
        snr_needed = _snr_at_fraction(res["snr_db"], means, target)
        penalty = 10 * math.log10(uses[v] / plain_uses)
        table[v] = {"mAP_clean": res["mAP_clean"][v], "channel_uses": uses[v],
                    "snr_at_fraction": snr_needed,
                    "snr_at_equal_uses": None if snr_needed is None else snr_needed + penalty,
                    "mAP": means, "mAP_std": [res["mAP"][v][s]["std"] for s in res["snr_db"]]}
    base = table["plain"]["snr_at_equal_uses"]
    for v in table:
        t = table[v]["snr_at_equal_uses"]
        table[v]["gain_db_vs_plain"] = None if (t is None or base is None) else base - t
    return {"experiment": "robust", "snr_db": [float(s) for s in res["snr_db"]], "modem": modem,
            "fraction": fraction, "variants": table, "raw": res, "total_s": time.perf_counter() - t_start}


def format_robust(result: dict) -> str:
    lines = [f"{'variant':<18} {'uses':>5} {'clean mAP':>9} {'SNR@' + format(result['fraction'], '.0%'):>9} "
             f"{'equal-uses SNR':>14} {'gain dB':>7}"]
    for v, t in result["variants"].items():
        f = (lambda x: f"{x:.2f}" if x is not None else "  n/a")
        lines.append(f"{v:<18} {t['channel_uses']:>5} {t['mAP_clean']:>9.3f} {f(t['snr_at_fraction']):>9} "
                     f"{f(t['snr_at_equal_uses']):>14} {f(t['gain_db_vs_plain']):>7}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- output
def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    return o


def write_results(out_dir, result: dict, data: RetrievalData, params: dict) -> Path:
    """``out_dir/results.json`` (parameters, versions, timings, every number) and a PNG plot."""
    out = Path(out_dir)
    doc = {"meta": _meta(params, data), **result}
    atomic_write_text(out / "results.json", json.dumps(_jsonable(doc), indent=2))
    try:
        plot_results(result, out)
    except ImportError as exc:  # matplotlib is a dependency; only a broken install lands here
        if not _NO_PLOT_WARNED:
            log.warning("no PNG written (%s): matplotlib cannot be imported; reinstall dscref or "
                        "`pip install matplotlib`", exc)
            _NO_PLOT_WARNED.append(True)
    return out / "results.json"


_NO_PLOT_WARNED: list = []


def plot_results(result: dict, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = result["experiment"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if exp == "fig2":
        for kind, c in result["curves"].items():
            ax.plot(c["head_sizes"], c["recall"], marker="o", label=INDEX_NAMES[kind])
        ax.set_xscale("log")
        ax.axhline(result["target"], color="grey", ls=":", lw=1)
        ax.set_xlabel("code head size (partitions probed)")
        ax.set_ylabel("Recall (positives in the candidate list)")
        ax.set_title("Fig. 2: head size vs recall")
    elif exp == "fig3":
        for name, c in result["curves"].items():
            ax.errorbar(c["snr_db"], c["mAP"], yerr=c["mAP_std"], marker="o", ms=3, capsize=2,
                        label=f"{name}, B={c['B']}")
        ax.set_xlabel("SNR (dB) per complex channel use" + (" (Rayleigh block fading)" if result["fading"] else " (AWGN)"))
        ax.set_ylabel("mAP")
        ax.set_title("Fig. 3: mAP vs SNR")
    elif exp == "robust":
        for v, t in result["variants"].items():
            ax.errorbar(result["snr_db"], t["mAP"], yerr=t["mAP_std"], marker="o", ms=3, capsize=2,
                        label=f"{v}, B={t['channel_uses']}")
        ax.set_xlabel(f"Es/N0 (dB), {result['modem'].upper()} over AWGN")
        ax.set_ylabel("mAP")
        ax.set_title("Channel-robust coding of the DSC payload")
    elif exp == "table1":
        rows = result["rows"]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r["mAP"] for r in rows], 0.4, label="mAP")
        ax.bar(x + 0.2, [r["Recall"] for r in rows], 0.4, label="Recall")
        ax.set_xticks(x, [r["label"] for r in rows], rotation=40, ha="right", fontsize=8)
        ax.set_title("Table I (dscref, synthetic)" if "synthetic" in str(out) else "Table I")
    else:  # pragma: no cover
        return None
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out) / f"{exp}.png"
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def format_table1(result: dict, scale_key: str | None = None) -> str:
    """Table I as text, the paper's numbers beside ours where the paper gives them."""
    paper = PAPER_TABLE1.get(scale_key or "", {})
    cols = ("mAP", "Recall", "R@1", "R@10", "R@100")
    lines = [f"{'Index':<12} {'M':>5} {'Head':>4} " + " ".join(f"{c:>13}" for c in cols)
             + f" {'cands':>8} {'bytes':>6} {'ms/q':>6}",
             f"{'':<12} {'':>5} {'':>4} " + " ".join(f"{'ours / paper':>13}" for _ in cols)]
    for r in result["rows"]:
        p = paper.get(r["label"])
        cells = [f"{r[c]:.3f} / {p[i]:.3f}" if p else f"{r[c]:.3f} /   -  " for i, c in enumerate(cols)]
        lines.append(f"{r['label']:<12} {r['M']:>5} {str(r['head']):>4} " + " ".join(f"{c:>13}" for c in cells)
                     + f" {r['candidates']:>8.0f} {r['bytes']:>6} {r['query_ms']:>6.1f}")
    return "\n".join(lines)


def format_fig2(result: dict) -> str:
    lines = ["head size  " + "  ".join(f"{INDEX_NAMES[k]:>8}" for k in result["curves"])]
    sizes = sorted({h for c in result["curves"].values() for h in c["head_sizes"]})
    for h in sizes:
        cells = []
        for c in result["curves"].values():
            cells.append(f"{c['recall'][c['head_sizes'].index(h)]:>8.3f}" if h in c["head_sizes"] else f"{'-':>8}")
        lines.append(f"{h:>9}  " + "  ".join(cells))
    need = ", ".join(f"{INDEX_NAMES[k]}: {v if v is not None else '>max'}" for k, v in result["head_size_for_target"].items())
    lines.append(f"head size for {result['target']:.0%} recall: {need}  "
                 "(paper, Oxford5k/Paris6k/Holidays: DSC 5/5/5, DUC-IVF 30/30/5, DUC-IMI -/200/100)")
    return "\n".join(lines)


def format_fig3(result: dict) -> str:
    names = list(result["curves"])
    snrs = result["curves"][names[0]]["snr_db"]
    lines = ["SNR dB  " + "  ".join(f"{n[:22]:>22}" for n in names),
             "B uses  " + "  ".join(f"{result['curves'][n]['B']:>22}" for n in names)]
    for i, s in enumerate(snrs):
        lines.append(f"{s:>6.1f}  " + "  ".join(
            f"{result['curves'][n]['mAP'][i]:>14.3f} ± {result['curves'][n]['mAP_std'][i]:.3f}" for n in names))
    return "\n".join(lines)
