"""Cyclic redundancy checks on bit strings: detect a corrupted head (or any message) at the receiver.

The head of the payload (eq. 12 of Wang & Qi: 5 labels x 10 bits) decides which partitions are
searched; a head that arrives corrupted but is taken at face value sends the search to
unrelated partitions. A CRC appended before channel coding lets the server *detect* this and
fall back (request again, search exhaustively, ...). Two standard CRCs, computed over bits
(the message need not be a whole number of bytes), MSB-first, no reflection, no final XOR:

* ``"crc16"``: CRC-16-CCITT, generator ``x^16 + x^12 + x^5 + 1`` (0x1021), register
  initialised to 0xFFFF (the "CRC-16/CCITT-FALSE" variant; check value of the ASCII bytes
  ``"123456789"``: 0x29B1). The generator is ``(x + 1) p(x)`` with p primitive of degree 15, so
  every odd number of errors, every burst of length <= 16 and every double error within
  2^15 - 1 bits is detected: on the 50-bit head (66 bits with the CRC) every single and double
  error is caught.
* ``"crc8"``: CRC-8, generator ``x^8 + x^2 + x + 1`` (0x07), register initialised to 0
  ("CRC-8/SMBUS"; check value 0xF4). Cheaper (8 bits) and weaker.

A nonzero initial register (CRC-16) also makes an all-zero message carry a nonzero CRC, so an
all-zero word (e.g. a dead receiver) fails the check.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_bits, check_choice

__all__ = ["CRC_KINDS", "crc_width", "crc_bits", "crc_append", "crc_check"]

# name -> (width, generator without its leading x^width term, initial register)
_SPECS = {"crc16": (16, 0x1021, 0xFFFF), "crc8": (8, 0x07, 0x00)}
CRC_KINDS = tuple(_SPECS)


def crc_width(kind: str = "crc16") -> int:
    """Bits a CRC of this kind appends (16 or 8)."""
    return _SPECS[check_choice(kind, "kind", CRC_KINDS)][0]


def _rows(bits, name: str):
    b = as_bits(bits, name, ndim=None)
    if b.ndim > 2:
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n_messages, n), got shape {b.shape}")
    return (b[None, :], True) if b.ndim == 1 else (b, False)


def _register(b: np.ndarray, kind: str) -> np.ndarray:
    """Shift the rows of ``b`` (n, k) through the CRC register, MSB first; returns (n,) int64."""
    width, poly, init = _SPECS[kind]
    top, mask = 1 << (width - 1), (1 << width) - 1
    reg = np.full(b.shape[0], init, dtype=np.int64)
    for t in range(b.shape[1]):
        feedback = ((reg & top) != 0) ^ (b[:, t] == 1)  # leading coefficient of the running remainder
        reg = ((reg << 1) & mask) ^ np.where(feedback, poly, 0)
    return reg


def crc_bits(bits, kind: str = "crc16") -> np.ndarray:
    """The CRC of each message, MSB first.

    Parameters
    ----------
    bits : array-like of shape (n,) or (n_messages, n), 0/1 (integer or bool dtype)
    kind : {"crc16", "crc8"}

    Returns
    -------
    ndarray of uint8, shape (width,) or (n_messages, width)

    Notes
    -----
    The remainder of ``x^width m(x) + init(x) x^n`` divided by the generator, where ``m(x)`` has
    the first bit as its highest coefficient: a linear-feedback shift register fed one bit at a
    time (feedback = register MSB XOR the incoming bit).
    """
    kind = check_choice(kind, "kind", CRC_KINDS)
    b, single = _rows(bits, "bits")
    width = _SPECS[kind][0]
    reg = _register(b, kind)
    out = ((reg[:, None] >> np.arange(width - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
    return out[0] if single else out


def crc_append(bits, kind: str = "crc16") -> np.ndarray:
    """Messages followed by their CRC: (n,) -> (n + width,) or (m, n) -> (m, n + width), uint8."""
    b, single = _rows(bits, "bits")
    out = np.concatenate([b, crc_bits(b, kind)], axis=1)
    return out[0] if single else out


def crc_check(bits, kind: str = "crc16"):
    """Whether each received word (message then CRC, as :func:`crc_append` makes it) is consistent.

    Parameters
    ----------
    bits : array-like of shape (n + width,) or (n_messages, n + width), 0/1
    kind : {"crc16", "crc8"}

    Returns
    -------
    bool, or ndarray of bool of shape (n_messages,)
        False means the word is certainly corrupted; True means no error was detected.
    """
    width = crc_width(kind)
    b, single = _rows(bits, "bits")
    if b.shape[1] <= width:
        raise ValueError(f"bits must hold a message and its {width}-bit {kind}, got {b.shape[1]} bits per word")
    ok = (crc_bits(b[:, :-width], kind) == b[:, -width:]).all(axis=1)
    return bool(ok[0]) if single else ok
