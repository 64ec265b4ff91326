"""Rebuilding a numpy random Generator from a stored bit-generator state, validated first.

NumPy's ``BitGenerator.state`` setter trusts its input: an MT19937 state with ``pos`` past the
end of its key, or a float key array, is accepted and later crashes the interpreter (segfault)
or yields garbage. :func:`generator_from_state` therefore accepts only the bit generators numpy
ships, and only a state of exactly the layout a fresh instance of that class reports (same keys,
Python ints where it has ints, arrays of the same dtype and shape), with every integer inside
the range the generator can hold, and refuses the degenerate states (an even PCG increment, an
all-zero Mersenne Twister) a generator never leaves: rejection samplers would loop forever.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BIT_GENERATORS", "generator_from_state"]

BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")

# integer fields with a range narrower than 0 <= v < 2**128
_LIMITS = {"pos": 624, "buffer_pos": 4, "has_uint32": 1, "uinteger": 2**32 - 1}


def _same_layout(got, ref, at: str) -> None:
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(got) != set(ref):
            raise ValueError(f"{at} must be a dict with keys {sorted(ref)}, got {str(got)[:80]}")
        for k in ref:
            _same_layout(got[k], ref[k], f"{at}.{k}")
    elif isinstance(ref, np.ndarray):
        if not (isinstance(got, np.ndarray) and got.dtype == ref.dtype and got.shape == ref.shape):
            raise ValueError(f"{at} must be a {ref.dtype} array of shape {ref.shape}, got {str(got)[:80]}")
    elif isinstance(ref, bool) or not isinstance(ref, int):
        if got != ref or type(got) is not type(ref):
            raise ValueError(f"{at} must be {ref!r}, got {str(got)[:80]}")
    else:
        key = at.rsplit(".", 1)[-1]
        if type(got) is not int or not 0 <= got <= _LIMITS.get(key, 2**128 - 1):
            raise ValueError(f"{at} must be an int in [0, {_LIMITS.get(key, 2**128 - 1)}], got {str(got)[:80]}")


def generator_from_state(name, state) -> np.random.Generator:
    """``numpy.random.Generator`` of bit generator ``name`` set to ``state`` (a dict as
    ``BitGenerator.state`` returns it). ValueError if ``name`` is not one of
    :data:`BIT_GENERATORS` or ``state`` is not a valid state of that class."""
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {str(name)[:80]!r} (known: {', '.join(BIT_GENERATORS)})")
    bg = getattr(np.random, name)(0)
    _same_layout(state, bg.state, "state")
    # states a generator never leaves once in them (it then outputs zeros forever, and
    # rejection samplers such as Generator.integers never return)
    if name.startswith("PCG64") and state["state"]["inc"] % 2 == 0:
        raise ValueError(f"{name} state has an even increment (PCG needs an odd one)")
    if name == "MT19937":
        key = state["state"]["key"]
        if not (key[0] & 0x80000000 or key[1:].any()):
            raise ValueError("MT19937 state is all zeros (a fixed point of the generator)")
    bg.state = state
    return np.random.Generator(bg)
