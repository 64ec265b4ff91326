"""Old path of the robust-variants experiment; a re-export shim (no logic here).

:func:`robust_variants_mAP` and :data:`VARIANTS` live in :mod:`dscref.experiments.robust`.
"""

from __future__ import annotations

from .experiments.robust import VARIANTS, robust_variants_mAP

__all__ = ["VARIANTS", "robust_variants_mAP"]
