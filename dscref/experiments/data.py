"""The experiments' data: database and queries (:class:`RetrievalData`) and where they come from.

:func:`load_data` gives the embedded synthetic benchmark (:func:`synthetic_data`, any scale,
memory-mapped above 300k items, or shaped like one of the paper's data sets: :func:`preset_data`,
:data:`dscref.synthetic.presets.PRESETS`) or real features from a features file
(:func:`features_data`); :func:`image_data` turns an image dataset (revisited Oxford / Paris,
Holidays) into features and classifier labels through ONNX models. :func:`parse_scale` reads
sizes such as ``105k`` / ``1m``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import renamed_attribute, renamed_keyword

__all__ = ["RetrievalData", "parse_scale", "min_synthetic_size", "synthetic_data", "preset_data",
           "features_data", "image_data", "load_data"]

log = logging.getLogger(__name__)


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
    n_lists : int -- K, the classifier's label count (the number of DSC lists); ``n_labels=``
        is its deprecated alias (keyword and read-only attribute; ``DeprecationWarning``)
    """

    name: str
    xb: np.ndarray
    labels_b: np.ndarray
    xq: np.ndarray
    ranking_q: np.ndarray
    gnd: list
    n_lists: int
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.xb.shape[0]

    n_labels = renamed_attribute("n_labels", "n_lists")


RetrievalData.__init__ = renamed_keyword("n_labels", "n_lists")(RetrievalData.__init__)


def parse_scale(scale) -> int:
    """Database size: '105k' -> 105000, '1m' / '1M' -> 1000000, '2.5k' -> 2500, or a whole
    number (int or digit string). NaN, inf, fractions and sizes below 1 raise ValueError; the
    generator needs at least the landmark images (:func:`min_synthetic_size`)."""
    from .._userinput import parse_size

    return parse_size(scale, "scale")


def min_synthetic_size() -> int:
    """Smallest synthetic database that holds the landmark images at the generator's defaults:
    Oxford5k's ok photos per landmark plus their junk views (710 with the defaults)."""
    from ..synthetic.landmarks import landmark_counts
    from ..synthetic.params import DEFAULTS, check_params

    p = check_params(dict(DEFAULTS, n_db=1, seed=0))
    n_ok, n_junk = landmark_counts(None, p)
    return int(n_ok.sum() + n_junk.sum())


def synthetic_data(n_db: int, seed: int = 0, ranking_depth: int = 200, workdir=None, **kw) -> RetrievalData:
    """The embedded synthetic benchmark (:func:`dscref.synthetic.make_semantic_dataset`).

    For ``n_db > 300_000`` the database is generated chunk by chunk into a memory-mapped file in
    ``workdir`` (default: a temporary directory), so 1M x 2048 items never sit twice in memory.
    """
    from ..synthetic import make_semantic_dataset

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
                         gnd=ds.gnd, n_lists=ds.params["n_classes"],
                         info={"generator": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.params.items()},
                               "stats": ds.stats, "generation_s": gen_s})


def preset_data(preset: str, seed: int = 0, ranking_depth: int = 200, **kw) -> RetrievalData:
    """The synthetic benchmark shaped like one of the paper's data sets (``oxford5k``,
    ``paris6k``, ``holidays``: :data:`dscref.synthetic.presets.PRESETS`, where the source of
    every number is stated); ``kw`` are further generator arguments (``d``, ``n_classes`` ...).
    Its name says which: ``"synthetic oxford5k-like"``."""
    from ..synthetic.presets import make_preset_dataset

    t0 = time.perf_counter()
    ds = make_preset_dataset(preset, seed=seed, query_ranking_depth=ranking_depth, **kw)
    gen_s = time.perf_counter() - t0
    return RetrievalData(name=f"synthetic {preset}-like", xb=ds.xb, labels_b=ds.labels_b, xq=ds.xq,
                         ranking_q=ds.ranking_q, gnd=ds.gnd, n_lists=ds.params["n_classes"],
                         info={"preset": preset,
                               "generator": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.params.items()},
                               "stats": ds.stats, "generation_s": gen_s})


def features_data(path) -> RetrievalData:
    """Real features from a features file (:mod:`dscref.features_file`): an ``.npz`` or a folder
    of ``.npy`` files holding ``xb`` (n, d), ``labels_b`` (n,), ``xq`` (nq, d), ``ranking_q`` or
    ``topk_q`` (nq, >=5) and the ground truth as plain arrays (``gnd_ok`` + ``gnd_ok_offsets``,
    ``gnd_junk`` + ``gnd_junk_offsets``; or ``gnd.json`` in a folder). Never unpickled: an object
    array raises :class:`~dscref.errors.UnsafeFileError` naming the file."""
    from ..features_file import load_features_file

    f = load_features_file(path)
    labels, rank = f["labels_b"], f["ranking_q"]
    K = int(max(labels.max(initial=0), rank.max(initial=0)) + 1)
    K = max(K, 1000) if K <= 1000 else K
    return RetrievalData(name=f"features:{Path(path)}", xb=f["xb"], labels_b=labels, xq=f["xq"],
                         ranking_q=rank, gnd=f["gnd"], n_lists=K)


def image_data(spec: str, extractor, classifier, ranking_depth: int = 200, setting: str = "medium") -> RetrievalData:
    """Features and classifier labels of an image dataset through ONNX models.

    ``spec`` is ``revisited:ROOT:NAME`` (revisited Oxford / Paris: database = ``imlist``,
    queries = ``qimlist`` cropped to their boxes, ground truth of ``setting``) or
    ``holidays:ROOT`` (every image in the database, the first of each group as query, itself
    junk). Database partitions are the classifier's top-1 labels; query heads its ranking.
    ``extractor`` and ``classifier`` are ONNX paths or loaded ``Extractor`` / ``Classifier`` objects.
    """
    from ..datasets import load_holidays, load_revisited
    from ..features import Classifier, Extractor

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
                         ranking_q=ranking.astype(np.int64), gnd=gnd, n_lists=clf.n_classes,
                         info={"extractor": str(ext.path), "classifier": str(clf.path), "setting": setting})


def load_data(spec: str = "synthetic", scale="105k", seed: int = 0, **kw) -> RetrievalData:
    """``synthetic`` (at ``scale``: a size such as ``105k``, or a preset name ``oxford5k`` /
    ``paris6k`` / ``holidays``, see :func:`preset_data`) or ``features:PATH``. Image datasets
    (revisited Oxford/Paris, Holidays) are turned into a features file first with ``dscref extract``."""
    if spec == "synthetic":
        from ..synthetic.presets import PRESETS

        if isinstance(scale, str) and scale.lower() in PRESETS:
            kw.pop("workdir", None)  # presets are small: never memory-mapped
            return preset_data(scale.lower(), seed=seed, **kw)
        return synthetic_data(parse_scale(scale), seed=seed, **kw)
    if spec.startswith("features:"):
        return features_data(spec.split(":", 1)[1])
    raise ValueError(f"data={spec!r}: expected 'synthetic' or 'features:PATH' (extract image "
                     "datasets to features with `dscref extract` first)")
