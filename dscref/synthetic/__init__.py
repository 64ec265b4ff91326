"""A seeded synthetic stand-in for Oxford105k / Oxford1M: GeM-like features plus a simulated classifier.

The generator is a *model of real data*: every parameter is a measurable property of real GeM
descriptors or of a real ImageNet classifier, and its default is taken from a stated source. Nothing
in it was tuned to make the paper's method (DSC: partitions by classifier label) or a baseline
(k-means IVF, IMI, ...) win; whatever ranking of methods comes out of it is a consequence of those
properties, and should be re-checked by sweeping them (see :func:`make_semantic_dataset`, Notes).

One concept per module:

* :mod:`~dscref.synthetic.params`: defaults, parameter checks, the seeded random streams;
* :mod:`~dscref.synthetic.geometry`: component weights, latent directions, the class hierarchy;
* :mod:`~dscref.synthetic.classifier`: the simulated classifier and its calibration;
* :mod:`~dscref.synthetic.plan`: :class:`SyntheticPlan`, everything but the database features,
  and the database rows block by block;
* :mod:`~dscref.synthetic.stats`: measured properties beside their targets;
* :mod:`~dscref.synthetic.dataset`: :class:`SemanticDataset`, :func:`make_semantic_dataset`,
  :func:`iter_database_chunks`;
* :mod:`~dscref.synthetic.presets`: :data:`PRESETS` (Oxford5k-, Paris6k- and Holidays-shaped
  arguments, each number's source stated) and :func:`make_preset_dataset`;
* ``_linalg``: the fixed-order (thread-count-independent) products the generator uses.
"""

from __future__ import annotations

from .classifier import order_stats_top
from .dataset import SemanticDataset, iter_database_chunks, make_semantic_dataset
from .params import TOP_K, checked_params, stream_params
from .plan import SyntheticPlan
from .presets import PRESETS, make_preset_dataset

__all__ = ["SemanticDataset", "make_semantic_dataset", "iter_database_chunks", "SyntheticPlan", "TOP_K",
           "PRESETS", "make_preset_dataset"]

# private names of the former module dscref.synthetic that dscref.distributed and the tests use
_Plan = SyntheticPlan
_params = checked_params
_stream_params = stream_params
_order_stats_top = order_stats_top
