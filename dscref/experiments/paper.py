"""The paper's published numbers: Table I, the head sizes of Fig. 2, and Table I's rows.

These are Wang & Qi's values on Oxford5k + distractors (105k and 1M items); the experiments print
them beside the measured ones (:func:`dscref.experiments.tables.format_table1`,
:func:`~dscref.experiments.tables.format_fig2`). Nothing here is computed.
"""

from __future__ import annotations

__all__ = ["PAPER_TABLE1", "PAPER_FIG2", "PAPER_FIG2_DATASETS", "PAPER_SCALES", "TABLE1_ROWS", "SCALES"]

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
# the data sets of PAPER_FIG2's lists, in order (dscref.synthetic.presets.PRESETS names)
PAPER_FIG2_DATASETS = ("oxford5k", "paris6k", "holidays")
# what ``--scale paper`` runs Fig. 2 on: the paper's three data sets, then Oxford105k's size
PAPER_SCALES = PAPER_FIG2_DATASETS + ("105k",)

TABLE1_ROWS = [  # (label, index kind, raw feature?)
    ("DUC-G+P", "gp", True), ("DUC-IVF", "ivf", True), ("DUC-IMI", "imi", True), ("DSC", "dsc", True),
    ("DUC+PQ", "flat", False), ("DUC-IVF+PQ", "ivf", False), ("DUC-IMI+PQ", "imi", False),
    ("DSC+PQ", "dsc", False),
]
# The paper's two database sizes (Oxford5k + 100k / 1M distractors), by the names --scale takes
SCALES = {"105k": 105_000, "1m": 1_000_000}
