"""``dscref claims``: the paper's claims tested on ``dscref reproduce`` results
(:func:`dscref.experiments.claims.paper_claims`), printed as a table and optionally written as JSON."""

from __future__ import annotations

__all__ = ["add_claims", "cmd_claims"]


def add_claims(sub) -> None:
    p = sub.add_parser(
        "claims",
        help="test the paper's claims, one by one, on reproduce results (per-seed margins, 95 %% CIs)",
        description="Reads results.json files of `dscref reproduce` (table1, fig2, fig2_paper, fig3; "
        "a folder stands for its */results.json) and states for each claim of the paper the per-seed "
        "margin (paired: both sides on the same seed's data), its 95 %% confidence interval and a "
        "verdict: holds, flips or within noise.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="results.json files or folders holding <experiment>/results.json")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--out", metavar="FILE.json", help="also write the claims as JSON (atomically)")
    p.set_defaults(func=cmd_claims)


def cmd_claims(args) -> int:
    import json

    from .._files import atomic_write_text
    from ..experiments.claims import format_claims, load_results, paper_claims
    from ..experiments.report import jsonable

    claims = paper_claims(load_results(args.paths))
    if not claims:
        raise ValueError(f"no table1, fig2, fig2_paper or fig3 results at {', '.join(args.paths)}")
    if args.out:
        atomic_write_text(args.out, json.dumps(jsonable({"claims": claims}), indent=2))
    print(format_claims(claims, markdown=args.markdown))
    return 0
