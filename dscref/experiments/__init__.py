"""Reproduce the paper's results: Fig. 2 (head size vs recall), Fig. 3 (mAP vs SNR), Table I, and
the channel-robust coding experiment.

Each experiment takes a :class:`RetrievalData` (the embedded synthetic benchmark by default, or
real features), builds the indices it needs, and returns a JSON-serialisable dict of every
number; :func:`write_results` stores it (atomically) with a PNG (matplotlib, imported lazily).
The CLI (``dscref reproduce``) wraps these functions. One concept per module:

* :mod:`~dscref.experiments.paper` -- the published numbers (``PAPER_TABLE1``, ``PAPER_FIG2``,
  ``PAPER_FIG2_DATASETS``, ``PAPER_SCALES``, ``TABLE1_ROWS``, ``SCALES``);
* :mod:`~dscref.experiments.data` -- :class:`RetrievalData` and its sources (``load_data``,
  ``synthetic_data``, ``preset_data``, ``features_data``, ``image_data``, ``parse_scale``,
  ``min_synthetic_size``);
* :mod:`~dscref.experiments.evaluate` -- ``build_index``, ``head_labels``, ``evaluate`` (Table I's
  numbers for one index, queries through the error-free :class:`~dscref.link.Link`);
* :mod:`~dscref.experiments.table1`, :mod:`~dscref.experiments.fig2` (with ``fig2_paper`` /
  ``fig2_datasets``: the paper's data sets), :mod:`~dscref.experiments.fig3` -- one experiment
  each (Table I with its ablation rows, ``ablation_rows``, not in the paper: the residual
  quantizers' capacity);
* :mod:`~dscref.experiments.robust` -- ``robust_variants_mAP`` (``VARIANTS``) and ``robust``;
* :mod:`~dscref.experiments.equal_bandwidth` -- ``equal_bandwidth`` (every scheme at equal B and
  energy: linear analog JSCC with and without a head, the ideal digital bound, the hybrid);
* :mod:`~dscref.experiments.wireless` -- ``wireless`` (Fig. 3 redrawn at equal bandwidth: every
  analog, hybrid and digital scheme in B uses, AWGN and block fading, the ideal bound of each
  payload sent, the gaps to it), with :mod:`~dscref.experiments.wireless_schemes` (what each
  digital scheme sends in B uses: ``digital_plans``, ``coded_plan``; ``DigitalRun``),
  :mod:`~dscref.experiments.wireless_gaps` (``gaps``, ``outage_snr_db``) and
  :mod:`~dscref.experiments.wireless_report` (``format_wireless``, ``draw_wireless``);
* :mod:`~dscref.experiments.seeds` -- ``run_seeds`` (an experiment over several data seeds,
  resumable per-seed files, combined), ``SeedFiles``, ``EXPERIMENTS``;
* :mod:`~dscref.experiments.combine` -- ``combine`` (per-seed results -> mean, 95 % CI, values),
  ``ci95_halfwidth``, ``mean_and_ci``;
* :mod:`~dscref.experiments.sensitivity` -- ``sensitivity`` (the generator-parameter sweep,
  ``SENSITIVITY``) and its ``verdict``;
* :mod:`~dscref.experiments.report` -- ``write_results``, ``write_document`` (results.json + PNG);
* :mod:`~dscref.experiments.plots` -- ``plot_results``; :mod:`~dscref.experiments.tables` --
  ``format_*`` (text) and ``format_markdown``, from the cells of :mod:`~dscref.experiments.cells`
  (``format_value``, ``aligned_rows``, ``markdown_table``);
* :mod:`~dscref.experiments.calibration` -- the synthetic benchmark against published measurements
  of real data (``TARGETS``, ``calibration``);
* :mod:`~dscref.experiments.claims` -- ``paper_claims``: the paper's claims, one by one, as paired
  per-seed margins with a verdict (holds / flips / within noise), ``format_claims``.

The functions ``table1``, ``fig2``, ``fig3`` and ``robust`` are re-exported here under their
modules' names, so ``dscref.experiments.fig3`` is the function (as before the package existed);
``from dscref.experiments.fig3 import ...`` and ``importlib.import_module`` still reach the module.

Every chain of an experiment goes through :mod:`dscref.link` (device -> channel -> server once).

Synthetic numbers are not the paper's numbers: the generator models stated properties of GeM
features and of a classifier with 0.77 / 0.94 top-1 / top-5 accuracy (see
:mod:`dscref.synthetic`), and shows the *mechanisms* (label partitions vs k-means cells, the cost
of PQ, the effect of channel noise), not Oxford's absolute values.
"""

from __future__ import annotations

from ..index.factory import INDEX_NAMES, make_index
from .claims import VERDICTS, format_claims, load_results, paper_claims
from .calibration import (TARGETS, calibration, calibration_run, calibration_seed, exhaustive_aps,
                          fit_label_consistency, format_calibration, label_survival, mean_ci, measure_size, ranked_aps,
                          summarise)
from .data import (RetrievalData, features_data, image_data, load_data, min_synthetic_size, parse_scale,
                   preset_data, synthetic_data)
from .equal_bandwidth import EQUAL_BANDWIDTH_SCHEMES, equal_bandwidth
from .evaluate import build_index, evaluate, head_labels
from .fig2 import fig2, fig2_datasets, fig2_paper, list_of_items, recall_curve
from .fig3 import fig3
from .paper import PAPER_FIG2, PAPER_FIG2_DATASETS, PAPER_SCALES, PAPER_TABLE1, SCALES, TABLE1_ROWS
from .combine import (ALWAYS_COMBINED, PARAMETER_KEYS, ci95_halfwidth, combine, is_stats, mean_and_ci, per_seed_values,
                      verdict)
from .plots import data_title, plot_results, scale_text
from .report import jsonable, result_meta, write_document, write_results
from .robust import VARIANTS, robust, robust_variants_mAP
from .seeds import EXPERIMENTS, UNCOMPARED, SeedFiles, SeedRun, check_seeds, combine_seeds, over_seeds, run_seeds
from .sensitivity import CONCLUSIONS, METHODS, SENSITIVITY, sensitivity
from .table1 import ABLATION_THRESHOLDS, ablation_rows, table1, variant_key
from .wireless import ANALOG_SCHEMES, WIRELESS_BANDWIDTHS, WIRELESS_SNRS, wireless
from .wireless_report import curve_points, draw_wireless, format_wireless, point, winners
from .wireless_gaps import gaps, outage_snr_db
from .wireless_schemes import (CODED_MODEMS, CODED_RATES, ROBUST_VARIANTS, UNCODED_MODEMS, DigitalPlan, DigitalRun,
                               bound_map, bound_name, clean_ranking, coded_map, coded_plan, digital_plans, lowest_modem)
from .cells import aligned_rows, markdown_table
from .tables import (format_fig2, format_fig2_paper, format_fig3, format_markdown, format_robust, format_sensitivity,
                     format_table1, format_value)

__all__ = [
    "RetrievalData", "synthetic_data", "features_data", "image_data", "load_data", "make_index",
    "parse_scale", "min_synthetic_size",
    "evaluate", "fig2", "fig3", "table1", "robust", "write_results", "PAPER_TABLE1", "PAPER_FIG2",
    # public before, outside __all__
    "TABLE1_ROWS", "SCALES", "INDEX_NAMES", "build_index", "head_labels", "plot_results",
    "format_table1", "format_fig2", "format_fig3", "format_robust",
    # from dscref.experiments_robust
    "VARIANTS", "robust_variants_mAP",
    # several seeds, their combination, the sensitivity sweep, output
    "run_seeds", "SeedFiles", "SeedRun", "EXPERIMENTS", "UNCOMPARED", "check_seeds", "over_seeds", "combine_seeds",
    "combine", "ci95_halfwidth", "is_stats", "mean_and_ci", "per_seed_values", "PARAMETER_KEYS", "ALWAYS_COMBINED",
    "sensitivity", "SENSITIVITY", "CONCLUSIONS", "METHODS", "verdict",
    "write_document", "result_meta", "jsonable", "data_title", "scale_text",
    "format_markdown", "format_sensitivity", "format_value",
    # the synthetic benchmark's calibration targets
    "TARGETS", "calibration", "exhaustive_aps", "format_calibration", "mean_ci", "measure_size", "ranked_aps",
    "label_survival", "fit_label_consistency", "calibration_seed", "calibration_run", "summarise",
    # Table I's ablation rows (not in the paper)
    "ablation_rows", "ABLATION_THRESHOLDS", "variant_key",
    # the paper's data sets (Fig. 2 on Oxford5k-, Paris6k-, Holidays-like data and 105k)
    "preset_data", "fig2_paper", "fig2_datasets", "format_fig2_paper", "PAPER_FIG2_DATASETS", "PAPER_SCALES",
    "list_of_items", "recall_curve",
    # the paper's claims tested on the results
    "paper_claims", "format_claims", "load_results", "VERDICTS",
    # equal bandwidth and energy: analog JSCC, the ideal digital bound, the hybrid
    "equal_bandwidth", "EQUAL_BANDWIDTH_SCHEMES",
    # Fig. 3 at equal bandwidth: every scheme, the ideal bound of each payload, the gaps
    "wireless", "WIRELESS_BANDWIDTHS", "WIRELESS_SNRS", "ANALOG_SCHEMES", "format_wireless", "draw_wireless",
    "point", "curve_points", "winners", "digital_plans", "coded_plan", "lowest_modem", "DigitalPlan",
    "clean_ranking", "bound_map", "coded_map", "CODED_RATES", "CODED_MODEMS", "UNCODED_MODEMS", "ROBUST_VARIANTS",
    "DigitalRun", "bound_name", "gaps", "outage_snr_db", "aligned_rows", "markdown_table",
]
