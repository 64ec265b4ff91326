"""Old path of the bit-error-robust codes; a re-export shim (no logic here).

The four concepts that lived here have their own homes:

* :mod:`dscref.assignment` -- robust index assignment of PQ codewords (pseudo-Gray coding):
  ``error_patterns``, ``robust_permutation``, ``assignment_distortion``, ``apply_permutation``,
  ``permute_codes``;
* :mod:`dscref.index.robust` -- an index made robust: ``make_index_robust``, ``LabelOrder``,
  ``robust_label_order``, ``soft_search``;
* :mod:`dscref.soft` -- soft-decision ADC: ``posteriors``, ``soft_lut_l2``, ``hard_codes``;
* :mod:`dscref.fec` -- head protection: ``HEAD_SCHEMES``, ``protected_head_bits``,
  ``encode_head_bits``, ``decode_head_hard``, ``decode_head_soft``, ``soft_decode_head``;
* :mod:`dscref.codec.protected` -- the protected payload: ``RobustLayout`` (now
  ``ProtectedLayout``), ``encode_robust_payload`` / ``decode_robust_payload`` (now
  ``encode_protected_payload`` / ``decode_protected_payload``).
"""

from __future__ import annotations

from .assignment import apply_permutation, assignment_distortion, error_patterns, permute_codes, robust_permutation
from .codec.protected import RobustLayout, decode_robust_payload, encode_robust_payload
from .fec import (HEAD_SCHEMES, decode_head_hard, decode_head_soft, encode_head_bits, protected_head_bits,
                  soft_decode_head)
from .index.robust import LabelOrder, make_index_robust, robust_label_order, soft_search
from .soft import hard_codes, posteriors, soft_lut_l2

__all__ = [
    "error_patterns",
    "robust_permutation",
    "assignment_distortion",
    "apply_permutation",
    "permute_codes",
    "make_index_robust",
    "LabelOrder",
    "robust_label_order",
    "posteriors",
    "soft_lut_l2",
    "hard_codes",
    "soft_search",
    "HEAD_SCHEMES",
    "protected_head_bits",
    "encode_head_bits",
    "decode_head_hard",
    "decode_head_soft",
    "soft_decode_head",
    "RobustLayout",
    "encode_robust_payload",
    "decode_robust_payload",
]
