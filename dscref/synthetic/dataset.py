"""The public generator: :class:`SemanticDataset`, :func:`make_semantic_dataset` (the whole
benchmark, database features in memory or in a memory map) and :func:`iter_database_chunks`
(the database features streamed chunk by chunk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._chunks import release_pages
from .._validate import check_int
from .params import checked_params, stream_params
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


def make_semantic_dataset(
    n_db: int = 100_000, *, d: int = 2048, n_classes: int = 1000, n_superclasses: int = 100,
    n_instances: int = 11, queries_per_instance: int = 5, positives_range=(6, 221),
    junk_fraction: float = 0.2, junk_visibility: float = 0.25,
    sim_unrelated: float = 0.2, sim_same_superclass: float = 0.35, sim_same_class: float = 0.45,
    sim_match: float = 0.8, latent_dim: int | None = None, spectrum_decay: float = 1.0,
    isotropic_fraction: float = 0.1, class_size_spread: float = 1.0,
    top1_acc: float = 0.77, top5_acc: float = 0.94, classifier_instance_corr: float = 0.7,
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
    n_instances : int
        Landmarks (object instances with matching photos). Default 11, Oxford5k's 11 landmarks.
    queries_per_instance : int
        Queries per landmark. Default 5, Oxford5k's 5 queries per landmark (55 queries).
    positives_range : (int, int)
        The number of "ok" database photos of each landmark is drawn log-uniformly in this range.
        Default (6, 221): Oxford5k's range of targets per query (paper Sec. IV-A); a log-uniform
        law gives a mean near Oxford's (about 50 per landmark).
    junk_fraction : float in [0, 1)
        Share of a landmark's database photos that are "junk" views (in ``gnd["junk"]``, ignored by
        the AP). Default 0.2: Oxford's junk lists hold roughly a fifth to a third of each landmark's
        photos (e.g. all_souls: 78 ok, 33 junk).
    junk_visibility : float in [0, 1]
        Share of the instance-specific similarity (``sim_match - sim_same_class``) that a junk view
        keeps with the other photos of its object; the lost feature energy becomes image noise.
        Default 0.25: Oxford labels a photo junk when less than 25 % of the object is visible.
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
    top1_acc, top5_acc : float in (0, 1)
        Target top-1 / top-5 accuracy of the simulated classifier. Defaults 0.77 / 0.94, the
        ResNet101 figures the paper relies on (Sec. III-B). Not every pair is reachable: without
        confusions the gap between top-5 and top-1 is smallest, so e.g. 0.77 / 0.94 needs more than
        about 150 classes; an unreachable pair raises ValueError.
    classifier_instance_corr : float in [0, 1]
        Share rho of the logit-noise variance that all photos of one object share (the same
        landmark looks like "palace" in most of its photos). Default 0.7: an assumption, not a
        measurement; it sets how consistently the photos of one landmark are labelled and
        therefore how far the paper's Recall can sit from the per-image top-5 accuracy. Sweep it.
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
    in real data. The measured mean cosines are reported in ``stats["cosine"]``. Junk views keep
    instance weight ``junk_visibility * s`` (so their expected cosine with a photo of their object is
``sim_same_class + junk_visibility * s^2``); the lost energy is image noise. Distractors are each
    their own object: their instance direction is fresh per photo.

    **Classifier.** Logits of a photo of class c:
    ``h [j = c] + m [sup(j) = sup(c), j != c] + sqrt(rho) eps_instance + sqrt(1 - rho) eps_image``
    with standard normal noises, ``eps_instance`` drawn once per object. Confusions therefore go
    mostly to classes of the same superclass (as ImageNet errors do) and are shared by the photos
    of one object. The peak h and the confusion mass m are calibrated by a seeded Monte-Carlo
    search (h solves top-5 exactly for each m; m by bisection on top-1) so that the per-image
    accuracies equal ``top1_acc`` / ``top5_acc``; the marginal noise is N(0, 1) whatever rho, so
    the calibration does not depend on rho. Distractor logits (independent instances, so iid noise)
    are sampled exactly without drawing all K values: the superclass members explicitly, the other
    classes through their top order statistics. Measured accuracies are in ``stats["classifier"]``.

    **What the model can show.** The recall of the candidate list against head size for label
    partitions versus k-means cells; how partition sizes and class imbalance affect the scanned
    fraction; the cost of PQ compression of 2048-d features with a realistic spectrum; the effect of
    channel noise and bit errors on the head and the codes; scaling from 100 k to 1 M distractors.

    **What it cannot show.** Real visual appearance; the relative quality of GeM features and
    classifier labels on real photos (here they are independent given class and object, whereas
    a real classifier errs on exactly the photos whose features are ambiguous); anything relying
    on real image statistics. The numbers are not Oxford's numbers.

    Examples
    --------
    >>> ds = make_semantic_dataset(5000, d=64, n_classes=200, n_superclasses=20, seed=0)
    >>> ds.xb.shape, ds.topk_q.shape
    ((5000, 64), (55, 5))
    """
    p = checked_params(n_db=n_db, d=d, n_classes=n_classes, n_superclasses=n_superclasses,
                n_instances=n_instances, queries_per_instance=queries_per_instance,
                positives_range=tuple(positives_range) if isinstance(positives_range, (list, tuple)) else positives_range,
                junk_fraction=junk_fraction, junk_visibility=junk_visibility,
                sim_unrelated=sim_unrelated, sim_same_superclass=sim_same_superclass,
                sim_same_class=sim_same_class, sim_match=sim_match, latent_dim=latent_dim,
                spectrum_decay=spectrum_decay, isotropic_fraction=isotropic_fraction,
                class_size_spread=class_size_spread, top1_acc=top1_acc, top5_acc=top5_acc,
                query_ranking_depth=query_ranking_depth,
                classifier_instance_corr=classifier_instance_corr,
                calibration_samples=calibration_samples, stats_pairs=stats_pairs, seed=seed)
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
