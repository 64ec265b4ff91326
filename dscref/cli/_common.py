"""What every ``dscref`` subcommand shares: the argument parser whose usage errors are one line,
argparse types (whole numbers, synthetic sizes), and the one-line form of a user's mistake.

Nothing here imports NumPy or the library's heavy modules: ``dscref --help`` imports this.
"""

from __future__ import annotations

import argparse
import sys
import zipfile

__all__ = ["Parser", "count_arg", "seeds_arg", "MIN_SYNTHETIC", "synthetic_size", "synthetic_checked", "USER_ERRORS",
           "one_line", "close_bars"]

# Smallest --scale / --n that holds the synthetic landmarks for every seed
# (experiments.min_synthetic_size(); a constant here so that --help imports nothing heavy).
MIN_SYNTHETIC = 712

# What a user can cause: bad values (ValueError, TypeError, every dscref.errors class), missing /
# unreadable / misplaced files (OSError), truncated .npy / .npz files (EOFError, BadZipFile).
USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other mistake."""

    def error(self, message):
        if message.startswith("argument --snr: expected one argument"):
            message += " (write --snr=-20,0 when the list starts with a negative value)"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def count_arg(low: int = 1):
    """An argparse ``type``: a whole number >= ``low`` (the message names the bound)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} must be >= {low}")
        return value

    parse.__name__ = "count"
    return parse


def seeds_arg(text):
    """An argparse ``type`` for ``--seeds``: a count N >= 1 (an int: N seeds from ``--seed``) or a
    comma-separated list of distinct seeds >= 0 (a list)."""
    text = str(text).strip()
    hint = "give a count N (N seeds from --seed) or a comma-separated list of seeds, e.g. 0,3,7"
    if "," not in text:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: {hint}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"{text}: the count of seeds must be >= 1 ({hint})")
        return n
    seeds: list = []
    for part in text.split(","):
        try:
            seed = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {part.strip()!r} is not a whole number ({hint})") from None
        if seed < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: seed {seed} must be >= 0")
        if seed in seeds:
            raise argparse.ArgumentTypeError(f"{text!r} names seed {seed} twice")
        seeds.append(seed)
    return seeds


def synthetic_size(text, what: str) -> int:
    """A synthetic database size (``105k``, ``1m``, ``2.5k``, ``20000``); errors state the minimum."""
    from .._userinput import parse_size

    try:
        return parse_size(text, what)
    except ValueError as exc:
        raise ValueError(f"{exc} (the synthetic benchmark works from {what} {MIN_SYNTHETIC} for "
                         "every seed)") from None


def synthetic_checked(make, n: int, what: str):
    """``make()``, turning the generator's "too small" error into one naming ``what``."""
    try:
        return make()
    except ValueError as exc:
        if "too small" in str(exc) and n < MIN_SYNTHETIC:
            raise ValueError(f"{what} {n} is too small for this seed: {exc} (every seed works "
                             f"from {what} {MIN_SYNTHETIC})") from None
        raise


def one_line(exc: BaseException) -> str:
    """An exception as the one line ``dscref <command>: error: ...`` prints."""
    if isinstance(exc, OSError) and exc.strerror and str(exc).startswith("[Errno"):
        msg = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


def close_bars() -> None:
    """Erase progress bars an exception left open, so the error line starts on a fresh line."""
    if "tqdm" not in sys.modules:
        return
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.leave = False
        bar.close()
