"""The payload ``x = [h, e_1, ..., e_5]`` of eq. (12): a query to bytes / bits and back.

* :mod:`dscref.codec.plain` -- the paper's payload in bytes (:class:`PayloadLayout`,
  :func:`encode_payload`, :func:`decode_payload`, :func:`decode_head`);
* :mod:`dscref.codec.protected` -- the same payload in bits with a channel-coded head
  (:class:`ProtectedLayout`, :func:`check_protected_layout`, :func:`encode_protected_payload`,
  :func:`decode_protected_payload`;
  old names ``RobustLayout``, ``encode_robust_payload``, ``decode_robust_payload``);
* :mod:`dscref.codec.coded` -- the payload with a CRC on its head and the K = 7 convolutional code,
  soft Viterbi decoding (:class:`CodedLayout`, :func:`encode_coded_payload`,
  :func:`decode_coded_payload`, :func:`decode_coded_payloads`, :class:`CodedReport`);
* :mod:`dscref.codec.channel_code` -- the convolutional code and the interleaver on any message's
  bits (:func:`encode_message`, :func:`decode_message`, :func:`interleaver`);
* :mod:`dscref.codec.budget` -- payload variants that fit B channel uses (:func:`payload_fit`,
  :func:`shrink_variants`, :func:`fit_payload`, :func:`fit_table`).

The codec carries bytes and bits, never an index: a layout is built from an index's sizes
(:meth:`PayloadLayout.for_index`) and decoded queries are searched by the caller.
"""

from __future__ import annotations

from .plain import POLICIES, DecodeReport, PayloadLayout, decode_head, decode_payload, encode_payload
from .protected import ProtectedLayout, check_protected_layout, decode_protected_payload, encode_protected_payload
from .channel_code import decode_message, encode_message, interleaver
from .coded import (CRC_POLICIES, CodedLayout, CodedReport, check_coded_layout, decode_coded_payload,
                    decode_coded_payloads, encode_coded_payload, message_bits)
from .budget import SHRINK_ORDERS, PayloadFit, fit_payload, fit_table, payload_fit, shrink_variants

__all__ = ["PayloadLayout", "DecodeReport", "encode_payload", "decode_payload", "decode_head", "POLICIES",
           "ProtectedLayout", "check_protected_layout", "encode_protected_payload", "decode_protected_payload",
           "CodedLayout", "CodedReport", "CRC_POLICIES", "check_coded_layout", "message_bits", "encode_coded_payload",
           "decode_coded_payload", "decode_coded_payloads", "encode_message", "decode_message", "interleaver",
           "SHRINK_ORDERS", "PayloadFit", "payload_fit", "shrink_variants", "fit_payload", "fit_table"]
