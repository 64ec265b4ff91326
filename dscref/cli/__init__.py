"""The ``dscref`` command line: argument parsing and printing only.

Each subcommand is a module of this package with an ``add_<name>`` function that registers its
arguments and a ``cmd_<name>`` function that calls the library and prints what it returns:
:mod:`~dscref.cli.demo`, :mod:`~dscref.cli.reproduce`, :mod:`~dscref.cli.claims`,
:mod:`~dscref.cli.index` (``build`` and ``query``; :mod:`~dscref.cli.report` prints and writes
query results), :mod:`~dscref.cli.extract` (``extract`` and ``features``) and
:mod:`~dscref.cli.selftest`. Heavy modules are imported inside
the commands, so ``dscref --help`` is instant. Results are printed to stdout; progress bars (tqdm)
and diagnostics (:mod:`logging`) go to stderr.

A user mistake (a missing or unreadable file, a wrong option value, arrays that do not fit
together) is one line ``dscref <command>: error: <message>`` on stderr and exit status 2, never a
traceback; inputs are checked by :mod:`dscref._userinput` before any long step. Other exceptions
are bugs and keep their traceback. ``-vv`` also prints the traceback of a user mistake.

No library module imports this package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ._common import USER_ERRORS, Parser, close_bars, one_line
from .claims import add_claims
from .demo import add_demo
from .extract import add_extract, add_features
from .index import add_build, add_query
from .reproduce import add_reproduce
from .selftest import add_selftest

__all__ = ["main", "build_parser"]

log = logging.getLogger("dscref")


def build_parser() -> argparse.ArgumentParser:
    """The ``dscref`` parser with every subcommand registered."""
    parser = Parser(
        prog="dscref",
        description="Deep Semantic Coding for wireless image retrieval (Wang & Qi): reference "
        "implementation, experiments and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"dscref {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug, with tracebacks of errors)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (add_demo, add_reproduce, add_claims, add_build, add_query, add_extract, add_features,
                add_selftest):
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run ``dscref`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, one line printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        with logging_redirect_tqdm():  # log lines above the progress bars, not through them
            return int(args.func(args) or 0)
    except BrokenPipeError:  # `dscref query ... | head`: the reader left, nothing to report
        close_bars()
        try:
            sys.stdout = open(os.devnull, "w")  # no second error when Python flushes at exit
        except OSError:  # pragma: no cover
            pass
        return 0
    except MemoryError as exc:  # a size the user asked for (--lists, --dim, --n ...) does not fit
        close_bars()
        print(f"dscref {args.command}: error: not enough memory for the sizes asked for "
              f"({one_line(exc) or 'MemoryError'}); use smaller sizes", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        close_bars()
        if args.verbose >= 2:
            log.debug("traceback of the error below", exc_info=True)
        sys.stdout.flush()
        print(f"dscref {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        close_bars()
        print(f"dscref {args.command}: interrupted", file=sys.stderr)
        return 130
    except BaseException:
        close_bars()
        raise
