"""The public generator: :class:`SemanticDataset`, :func:`make_semantic_dataset` (the whole
benchmark, database features in memory or in a memory map) and :func:`iter_database_chunks`
(the database features streamed chunk by chunk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._chunks import release_pages
from .._validate import check_int, renamed_keyword
from .params import DEFAULTS, checked_params, stream_params
from .plan import SyntheticPlan
from .stats import measure

__all__ = ["SemanticDataset", "make_semantic_dataset", "iter_database_chunks"]


@dataclass
class SemanticDataset:
    """A synthetic retrieval benchmark (see :func:`make_semantic_dataset`).

    Attributes
    ----------
    xb : ndarray of shape (n_db, d), float32
        L2-normalised database features (possibly a memory map, see ``out=``).
    labels_b : ndarray of shape (n_db,), int64
        The simulated classifier's top-1 label of each database image: its DSC partition (eq. 2).
    xq : ndarray of shape (nq, d), float32
        L2-normalised query features.
    topk_q : ndarray of shape (nq, 5), int64
        The simulated classifier's top-5 labels of each query, best first (eq. 11).
    ranking_q : ndarray of shape (nq, query_ranking_depth), int64
        The queries' labels ranked by the simulated classifier, best first (``topk_q`` is its
        first 5 columns); Fig. 2 probes heads of up to 200 labels.
    gnd : list of dict
        Per query ``{"ok": int64 ids, "junk": int64 ids}`` (sorted database ids).
    class_b, class_q : ndarray of int64
        True semantic class of each database image / query.
    instance_b, instance_q : ndarray of int64
        Object instance of each image. Landmarks are ``0 .. n_instances-1``; every distractor is its
        own instance (ids from ``n_instances`` on).
    superclass_of : ndarray of shape (n_classes,), int64
        The superclass of each class.
    params : dict
        Every generation parameter, including the seed (the entropy actually used when seed=None).
    stats : dict
        Measured properties beside their targets: classifier accuracies, mean cosines, sizes.
    """

    xb: np.ndarray
    labels_b: np.ndarray
    xq: np.ndarray
    topk_q: np.ndarray
    gnd: list
    class_b: np.ndarray
    class_q: np.ndarray
    instance_b: np.ndarray
    instance_q: np.ndarray
    superclass_of: np.ndarray
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    ranking_q: np.ndarray | None = None


@renamed_keyword("classifier_instance_corr", "label_consistency")
def make_semantic_dataset(
    n_db: int = 100_000, *, d: int = 2048, n_classes: int = 1000, n_superclasses: int = 100,
    n_instances: int | None = None, queries_per_instance: int = 5, positives=None, positives_range=None,
    junk_fraction: float = 0.2, junk_visibility: float = 0.25,
    sim_unrelated: float = 0.2, sim_same_superclass: float = 0.35, sim_same_class: float = 0.45,
    sim_match: float = 0.8, n_viewpoints: float = 3.0, viewpoint_share: float = 0.5,
    visibility: float = DEFAULTS["visibility"], visibility_concentration: float = 2.0,
    query_visibility: float = 1.0, clutter_effect: float = 0.2, latent_dim: int | None = None, spectrum_decay: float = 1.0,
    isotropic_fraction: float = 0.1, class_size_spread: float = 1.0, scene_classes: int = 60,
    scene_share: float = DEFAULTS["scene_share"], collection_size: int = 5062, top1_acc: float = 0.77, top5_acc: float = 0.94,
    label_consistency: float = DEFAULTS["label_consistency"], viewpoint_label_share: float = 0.5,
    calibration_samples: int = 100_000, stats_pairs: int = 2000, query_ranking_depth: int = 5,
    seed: int | None = 0,
    out: np.ndarray | None = None, chunk_size: int = 65536,
) -> SemanticDataset:
    """Generate a seeded synthetic image-retrieval benchmark with semantic labels.

    A stand-in for Oxford105k / Oxford1M when no images are at hand: GeM-like database and query
    features with a class hierarchy, landmark instances with positives and junk views, distractors,
    and a simulated ImageNet classifier giving each database image its DSC partition (top-1, eq. 2)
    and each query its code head (top-5, eq. 11).

    Parameters
    ----------
    n_db : int
        Database size. Default 100 000 (Oxford105k = 5 062 Oxford images + 100 k Flickr
        distractors); any size from about 1 000 (it must hold the landmark images) to 1 M and more.
    d : int
        Feature dimension. Default 2048: ResNet101-GeM, the paper's extractor (Sec. III-A).
    n_classes : int
        Classifier labels K. Default 1000: ImageNet-1k, the paper's 10-bit labels.
    n_superclasses : int
        Groups of semantically close classes. Default 100: ImageNet's WordNet hierarchy groups the
        1000 leaves into roughly a hundred mid-level groups (dogs, birds, vehicles, buildings ...);
        classes of one group share feature directions and are the classifier's usual confusions.
    n_instances : int or None
        Landmarks (object instances with matching photos). Default None: the length of
        ``positives`` (11, Oxford5k's landmarks), or 11 with ``positives_range``.
    queries_per_instance : int
        Queries per landmark. Default 5, Oxford5k's 5 queries per landmark (55 queries); the five
        queries of a landmark share one ground-truth list, as in Oxford5k.
    positives : sequence of int or None
        The number of "ok" database photos of each landmark. Default None = Oxford5k's counts
        (:data:`~dscref.synthetic.params.OXFORD5K_POSITIVES`: all_souls 78, ashmolean 25,
        balliol 12, bodleian 24, christ_church 78, cornmarket 9, hertford 54, keble 7, magdalen 54,
        pitt_rivers 6, radcliffe_camera 221; 568 in all), so R@k compares with the paper's.
    positives_range : (int, int) or None
        Instead of ``positives``: draw each landmark's count log-uniformly in this range (the
        generator's rule before the calibration; e.g. (6, 221), Oxford5k's range).
    junk_fraction : float in [0, 1)
        Share of a landmark's database photos that are "junk" views (in ``gnd["junk"]``, ignored by
        the AP). Default 0.2: Oxford's junk lists hold roughly a fifth to a third of each landmark's
        photos (e.g. all_souls: 78 ok, 33 junk).
    junk_visibility : float in [0, 1)
        Visible share below which a photo is junk. Default 0.25: Oxford labels a photo junk when
        less than 25 % of the object is visible. Junk photos show a share uniform in
        [0, junk_visibility); ok photos at least junk_visibility.
    sim_unrelated, sim_same_superclass, sim_same_class, sim_match : float
        Target mean cosine similarities of unrelated images, of images of different classes in one
        superclass, of different objects of one class, and of two photos of one object. Defaults
        0.2, 0.35, 0.45, 0.8. Sources (REFERENCES.md): off-the-shelf ImageNet backbone + GeM on
        real photos gives matching 0.79-0.92 and unrelated 0.17-0.53; retrieval-fine-tuned
        ResNet101-GeM pushes unrelated pairs to 0-0.3. 0.8 is the low end of matching (real
        matching pairs include viewpoint and lighting changes, harder than a crop/flip copy); 0.2
        is a fine-tuned network's unrelated level; the two semantic levels sit in between in the
        order a classification-pretrained backbone produces. Must be non-decreasing in that order
        (and sim_match > sim_same_class).
    n_viewpoints : float >= 1
        Mean number of viewpoints per landmark (1 + a Poisson draw, at most its photo count); the
        photos and queries of a landmark pick a viewpoint with flat-Dirichlet shares. Default 3:
        an assumption (landmarks are photographed from a few sides: front, side, detail); swept in
        the sensitivity study.
    viewpoint_share : float in [0, 1]
        Share of the instance similarity (``sim_match - sim_same_class``) specific to a viewpoint;
        photos from different viewpoints of one landmark share only the rest. Default 0.5 (an
        assumption: two sides of one building share style and material, not their layout).
    visibility : float in (junk_visibility, 1)
        Mean visible share of the landmark in an ok photo: ``junk_visibility + (1 -
        junk_visibility) Beta`` with this mean. A photo showing the share b keeps ``b^2`` of the
        instance similarity with a full view; the rest of its energy is clutter, fresh per photo.
        Its classifier evidence scales with b too (cluttered photos are misclassified more). The
        default is the one parameter fitted to the calibration targets (exhaustive mAP at
        Oxford5k and Oxford105k size, see ``dscref reproduce calibration`` and
        ``docs/calibration/``); nothing else was fitted to retrieval results.
    visibility_concentration : float > 0
        Concentration k of that Beta law (a = k mu, b = k (1 - mu)). Default 2: as spread as a
        uniform law at mu = 0.5.
    query_visibility : float in (0, 1]
        Visible share of the queries. Default 1: Oxford's queries are crops to the landmark's
        bounding box.
    clutter_effect : float in [0, 1)
        How much clutter weakens the classifier: a photo showing the share b gets the true-class
        logit peak times ``1 - clutter_effect (1 - b)``. Default 0.2: an assumption, and about the
        largest value for which the 0.77 / 0.94 accuracy pair stays reachable with 10-class
        superclasses (a stronger effect separates photos into sure hits and sure misses, closing
        the gap between top-1 and top-5).
    latent_dim : int or None
        Dimension of the subspace holding the structured variance. Default None = min(256, d): real CNN
        descriptors keep most of their variance in a few hundred PCA dimensions (PCA-whitening
        GeM/R-MAC to 256-512 dimensions loses little mAP).
    spectrum_decay : float
        Eigenvalue i of the latent covariance is proportional to i**-decay. Default 1.0, a
        power law of the kind measured on CNN activations; an assumption to sweep (0 = isotropic).
    isotropic_fraction : float in [0, 1]
        Share of each random direction's energy spread isotropically over all d dimensions, so the
        features are full-rank like real ones. Default 0.1.
    class_size_spread : float
        Sigma of the log-normal class popularity: distractors and landmarks draw their class with
        probability proportional to exp(sigma * N(0, 1)). Default 1.0: Flickr photos are far from
        uniform over ImageNet classes; sigma = 1 gives a ratio of about 13 between the 90th and
        10th percentile class sizes. 0 = uniform.
    scene_classes : int
        Number of "building and scene" classes (a contiguous block of whole superclasses). Default
        60: ImageNet-1k has about 50 structure classes (church, palace, castle, monastery, dome,
        triumphal arch, library, boathouse, ...) and 10 geological scenes (alp, cliff, lakeside,
        seashore, valley, ...). Landmarks draw their class among them.
    scene_share : float in [0, 1]
        Share of the distractors whose class is a building/scene class (the rest by popularity over
        all classes): Flickr photos collected by popular tags are dominated by scenes and
        buildings, so their labels concentrate on those classes. Default 0.3: an assumption (no
        published measurement of the label distribution of Flickr100k); swept.
    collection_size : int
        Size of the landmarks' own photo collection: the landmark photos plus
        ``collection_size - (their number)`` distractors of building/scene classes (Oxford5k's
        5,062 images were crawled from Flickr with Oxford landmark names: its ~4,500 non-landmark
        photos are other buildings and streets of the same city, the hardest distractors; the
        Flickr100k / 1M distractors added to it are general photos). Default 5062.
    top1_acc, top5_acc : float in (0, 1)
        Target top-1 / top-5 accuracy of the simulated classifier. Defaults 0.77 / 0.94, the
        ResNet101 figures the paper relies on (Sec. III-B). Not every pair is reachable: without
        confusions the gap between top-5 and top-1 is smallest, so e.g. 0.77 / 0.94 needs more than
        about 150 classes; an unreachable pair raises ValueError.
    label_consistency : float in [0, 1]
        Share rho of the logit-noise variance that the photos of one landmark viewpoint share
        (the same landmark looks like "palace" in most of its photos); the rest is fresh per photo.
        Default 0.45, fitted to a measurement (``docs/calibration/label_consistency.json``,
        ``benchmarks/label_consistency.py``): between two changed views of one photo (crop +
        scale + colour + JPEG at medium strength, whose GeM cosine 0.74 is the generator's
        matching level), the real EfficientNet-Lite0 classifier keeps one view's top-1 label in
        the other's top-5 in 0.82 [0.63, 0.96] of the cases; rho = 0.45 gives 0.82 for two photos
        of one viewpoint (:func:`dscref.experiments.calibration.fit_label_consistency`), and
        top-1 agreement 0.64 against the measured 0.64 [0.36, 0.87] (not fitted).
        ``classifier_instance_corr=`` is its deprecated alias.
    viewpoint_label_share : float in [0, 1]
        Part of rho specific to the viewpoint (the rest is shared by every photo of the landmark),
        so viewpoints of one landmark can get different labels. Default 0.5 (an assumption).
    calibration_samples : int
        Monte-Carlo sample size of the classifier calibration (std of the calibrated accuracies
        about 0.0015 at the default 100 000).
    stats_pairs : int
        Pairs per type sampled for the measured cosines in ``stats``.
    query_ranking_depth : int
        Labels of each query's ranking kept in ``ranking_q`` (default 5 = the head; Fig. 2 of the
        paper probes up to 200). Ranking deeper draws no extra randomness.
    seed : int or None
        Seed of every random stream (``numpy.random.SeedSequence`` with fixed spawn keys). None
        draws fresh entropy, recorded in ``params["seed"]``.
    out : ndarray of shape (n_db, d), float32, optional
        Where to write ``xb`` (e.g. ``numpy.lib.format.open_memmap``) for 1 M-scale databases;
        rows are written chunk by chunk so peak memory is about one chunk beyond the metadata.
    chunk_size : int
        Rows generated per step. The output does not depend on it (every block of 4096 rows has its
        own random stream).

    Returns
    -------
    SemanticDataset

    Raises
    ------
    ValueError
        A parameter out of range (named with its value), similarities out of order, top5_acc <=
        top1_acc, unreachable accuracy targets, n_db too small for the landmark images, or ``out``
        of the wrong shape.
    TypeError
        A parameter of the wrong type, or ``out`` not a float32 array.

    Notes
    -----
    **Features.** Each image's feature is
    ``x = normalise(a g + b_s u_sup + b_c u_class + s u_instance + n e_image)``: ``g`` is a mean
    direction shared by every image (real GeM features are non-negative after the ReLU, so they
    all share a mean direction); ``u_sup``, ``u_class``, ``u_instance`` are drawn once per
    superclass, class and object, ``e_image`` per photo. Every direction has unit norm and comes
    from the power-law latent spectrum (see ``latent_dim``) plus an isotropic part. Independent
    directions are uncorrelated on average, so the expected inner product of two images is the sum
    of the squared weights they share; solving ``a^2 = sim_unrelated``,
    ``b_s^2 = sim_same_superclass - sim_unrelated``, ``b_c^2 = sim_same_class - sim_same_superclass``,
    ``s^2 = sim_match - sim_same_class``, ``n^2 = 1 - sim_match`` makes those the targets. Because
    the latent spectrum is concentrated, independent directions are *not* nearly orthogonal (two of
    them have cosine std around 0.2 at the defaults): some classes are much closer than others, as
    in real data. The measured mean cosines are reported in ``stats["cosine"]``.

    **Landmark photos.** ``s u_instance`` of a photo of landmark i from viewpoint v showing the
    visible share b is ``b s (sqrt(1 - om) u_i + sqrt(om) u_v)`` (``om = viewpoint_share``), and
    its noise weight grows to ``sqrt(n^2 + (1 - b^2) s^2)`` (clutter). Two full views from one
    viewpoint have expected cosine ``sim_match``; from two viewpoints ``sim_same_class + (1 - om)
    s^2``; partial views ``sim_same_class + b1 b2 (...) s^2``. Distractors are each their own
    object: their instance direction is fresh per photo.

    **Classifier.** Logits of a photo of class c with visible share b:
    ``h b [j = c] + m [sup(j) = sup(c), j != c] + sqrt(rho (1 - lam)) eps_landmark
    + sqrt(rho lam) eps_viewpoint + sqrt(1 - rho) eps_image`` with standard normal noises,
    ``eps_landmark`` drawn once per landmark and ``eps_viewpoint`` once per viewpoint
    (``lam = viewpoint_label_share``). Confusions therefore go mostly to classes of the same
    superclass (as ImageNet errors do), are shared by the photos of one landmark and viewpoint,
    and hit cluttered photos (small b) most. The peak h and the confusion mass m are calibrated by
    a seeded Monte-Carlo search over the photos' visibility law (h solves top-5 exactly for each
    m; m by bisection on top-1) so that the per-image accuracies of the photo population equal
    ``top1_acc`` / ``top5_acc``; the marginal noise is N(0, 1) whatever rho, so the calibration
    does not depend on rho. Queries (crops, b = ``query_visibility``) are classified better than
    the average photo. Distractor logits (independent instances, so iid noise) are sampled
    exactly without drawing all K values: the superclass members explicitly, the other classes
    through their top order statistics. Measured accuracies are in ``stats["classifier"]``.

    **What the model can show.** The recall of the candidate list against head size for label
    partitions versus k-means cells; how partition sizes and class imbalance affect the scanned
    fraction; the cost of PQ compression of 2048-d features with a realistic spectrum; the effect of
    channel noise and bit errors on the head and the codes; scaling from 100 k to 1 M distractors.

    **What it cannot show.** Real visual appearance; whether a real classifier's errors follow the
    same photos as the feature's ambiguity beyond the shared visible share modelled here; anything
    relying on real image statistics. The numbers are not Oxford's numbers.

    Examples
    --------
    >>> ds = make_semantic_dataset(5000, d=64, n_classes=200, n_superclasses=20, seed=0)
    >>> ds.xb.shape, ds.topk_q.shape
    ((5000, 64), (55, 5))
    """
    kw = {k: v for k, v in locals().items() if k in DEFAULTS or k in ("n_db", "seed")}
    for key in ("positives", "positives_range"):
        if isinstance(kw[key], list):
            kw[key] = tuple(kw[key])
    p = checked_params(**kw)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array or memmap, got {type(out).__name__}")
        if out.dtype != np.float32:
            raise TypeError(f"out must have dtype float32, got {out.dtype}")
        if out.shape != (p["n_db"], p["d"]):
            raise ValueError(f"out has shape {out.shape}, expected (n_db, d) = {(p['n_db'], p['d'])}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
    plan = SyntheticPlan(p)
    xb = np.empty((p["n_db"], p["d"]), dtype=np.float32) if out is None else out
    for start in range(0, p["n_db"], chunk_size):
        stop = min(start + chunk_size, p["n_db"])
        xb[start:stop] = plan.rows(start, stop)
        if hasattr(xb, "flush"):  # a memory map: write the chunk back and unmap its pages, so
            xb.flush()             # 1M x 2048 rows never sit in this process's resident set
            release_pages(xb)
    gnd = [{"ok": plan.gnd_inst[i]["ok"].copy(), "junk": plan.gnd_inst[i]["junk"].copy()}
           for i in plan.instance_q]
    stats = measure(plan, xb, plan.xq, gnd)
    return SemanticDataset(
        xb=xb, labels_b=plan.labels_b, xq=plan.xq, topk_q=plan.topk_q, gnd=gnd,
        class_b=plan.class_b, class_q=plan.class_q, instance_b=plan.instance_b,
        instance_q=plan.instance_q, superclass_of=plan.hier.sup_of.copy(), params=p, stats=stats,
        ranking_q=plan.ranking_q,
    )


def iter_database_chunks(n_db: int = 100_000, *, chunk_size: int = 65536, **kwargs):
    """Yield ``(start, stop, xb_chunk)`` of the database features without holding all of ``xb``.

    Takes the parameters of :func:`make_semantic_dataset` (same defaults); the concatenated chunks
    equal ``make_semantic_dataset(n_db, **kwargs).xb`` exactly, whatever ``chunk_size``. Use it to
    stream a 1 M-row database into an index builder; the metadata (labels, gnd) comes from
    :func:`make_semantic_dataset` with the same parameters (cheap apart from ``xb``).

    Yields
    ------
    start, stop : int
    xb_chunk : ndarray of shape (stop - start, d), float32
    """
    kw = stream_params("iter_database_chunks", kwargs)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    plan = SyntheticPlan(checked_params(n_db=n_db, **kw))
    for start in range(0, plan.p["n_db"], chunk_size):
        stop = min(start + chunk_size, plan.p["n_db"])
        yield start, stop, plan.rows(start, stop)
