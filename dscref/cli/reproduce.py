"""``dscref reproduce``: the arguments of the paper's experiments (:mod:`dscref.experiments`:
Table I, Fig. 2, Fig. 3 and the robust-coding experiment), the data they run on, and the printed
tables beside the written JSON / PNG.

``--scale`` takes a size, a data set preset (``oxford5k``, ``paris6k``, ``holidays``:
:data:`dscref.synthetic.presets.PRESETS`) or ``paper``: Fig. 2 on the three presets and 105k
(:func:`dscref.experiments.fig2_paper`), the other experiments at 105k."""

from __future__ import annotations

from pathlib import Path

from ._common import MIN_SYNTHETIC
from ._common import count_arg as _count
from ._common import synthetic_checked, synthetic_size

__all__ = ["add_reproduce", "cmd_reproduce"]

_FIG3_SNRS = "-20,-15,-10,-5,-2.5,0,2.5,5,7.5,10"
_ROBUST_SNRS = "-2,0,2,4,6,8,10,12"
_DATA_FORMS = "synthetic | features:PATH | revisited:ROOT:NAME | holidays:ROOT"
# the generator's presets and what --scale paper runs Fig. 2 on (constants here, so that --help
# imports nothing heavy; tests/cli checks them against dscref.synthetic.presets / experiments.paper)
_PRESETS = ("oxford5k", "paris6k", "holidays")
_PAPER_SCALES = _PRESETS + ("105k",)


def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce Fig. 2, Fig. 3 or Table I of the paper (JSON + PNG + printed table)",
        description="Runs an experiment of Wang & Qi on the embedded synthetic benchmark (default) or "
        "on real features, writes OUT/<experiment>/results.json (parameters, seed, versions, "
        "timings, every number) and OUT/<experiment>/<experiment>.png, and prints a table with the "
        "paper's numbers beside ours. Image datasets: extract features first (dscref extract), or "
        "pass revisited:ROOT:NAME / holidays:ROOT with --extractor and --classifier.",
    )
    p.add_argument("experiment", choices=["fig2", "fig3", "table1", "robust", "all"],
                   help="fig2 | fig3 | table1 | robust (beyond the paper: bit-error-robust coding) | all "
                   "(the paper's three)")
    p.add_argument("--data", default="synthetic",
                   help=_DATA_FORMS + " (default synthetic). features:PATH is an .npz (or a folder of "
                   ".npy files) of plain arrays, read without pickle: xb (n, d) database features, "
                   "labels_b (n,) their top-1 labels, xq (nq, d) query features, ranking_q (nq, >=5) "
                   "the queries' labels best first, and the ground truth gnd_ok / gnd_junk with "
                   "gnd_ok_offsets / gnd_junk_offsets (nq + 1,) (query q's ids are "
                   "gnd_ok[off[q]:off[q+1]]); `dscref features` makes one from dscref extract's output")
    p.add_argument("--scale", default="105k",
                   help=f"synthetic database size: 105k | 1m | any whole number, k/m suffixes allowed "
                   f"(20k, 2.5k, 1M). Every seed works from {MIN_SYNTHETIC} (the landmarks' photos, "
                   "Oxford5k's 568 and their junk views, must fit). Or a data set's shape: "
                   f"{' | '.join(_PRESETS)} (its size, landmarks, positives and queries; Holidays' "
                   "queries are database images, each junk for itself). Or paper: Fig. 2 on "
                   f"{', '.join(_PAPER_SCALES)} (one figure, a panel per data set, and the head size "
                   "for 90 %% recall beside the paper's); table1 / fig3 / robust at 105k. Default 105k")
    p.add_argument("--out", default="results", help="output folder (default ./results)")
    p.add_argument("--seed", type=_count(0), default=0, help="random seed (default 0)")
    p.add_argument("--trials", type=_count(), default=5, help="Fig. 3: channel realisations per SNR (default 5)")
    p.add_argument("--snr", default=None,
                   help="comma-separated SNRs in dB, each in [-50, 100]; write --snr=-20,0 for negative "
                   f"values (default fig3: {_FIG3_SNRS}; robust: {_ROBUST_SNRS})")
    p.add_argument("--fading", action="store_true", help="Fig. 3: Rayleigh block fading instead of AWGN")
    p.add_argument("--block", type=_count(), default=16, help="fading block length in channel uses (default 16)")
    p.add_argument("--dim", type=_count(), default=2048, help="synthetic feature dimension (default 2048)")
    p.add_argument("--labels", type=_count(2), default=1000, help="synthetic classifier labels K (default 1000)")
    p.add_argument("--extractor", help="ONNX descriptor model (image datasets)")
    p.add_argument("--classifier", help="ONNX classifier (image datasets)")
    p.add_argument("--no-ablations", action="store_true",
                   help="table1: only the paper's 8 rows. By default the ablation rows follow them, marked "
                   "as not in the paper: DUC-IVF+PQ with one PQ per cell (DSC's capacity), DSC+PQ with one "
                   "shared PQ (IVF's), and the small-partition threshold of both")
    p.add_argument("--workdir", help="folder for the memory-mapped features of sizes above 300k, kept there (default: an "
                   "unnamed temporary file, freed when the command ends)")
    p.set_defaults(func=cmd_reproduce)


def _check_data_spec(spec: str) -> str:
    """The kind of a --data spec, checked before any work (paths must exist)."""
    from .._userinput import input_dir

    kind, _, rest = spec.partition(":")
    if spec == "synthetic":
        return kind
    if kind == "features" and rest:
        if not Path(rest).exists():
            raise FileNotFoundError(f"--data {spec!r}: {rest!r} does not exist")
        return kind
    if kind == "revisited" and rest.rpartition(":")[0] and rest.rpartition(":")[2]:
        input_dir(rest.rpartition(":")[0], f"--data {spec!r}: ROOT")
        return kind
    if kind == "holidays" and rest:
        input_dir(rest, f"--data {spec!r}: ROOT")
        return kind
    raise ValueError(f"--data {spec!r} is not one of {_DATA_FORMS}")


def _load_data(E, spec: str, *, extractor=None, classifier=None, **kw):
    """``experiments.load_data(spec, **kw)``; image datasets (``revisited:ROOT:NAME``,
    ``holidays:ROOT``) through ``experiments.image_data`` with the loaded models.

    A call-site adapter: ``load_data`` does not read image datasets yet. Once it takes
    ``extractor=`` / ``classifier=``, this is ``E.load_data(spec, extractor=..., classifier=..., **kw)``.
    """
    if extractor is not None or classifier is not None:
        return E.image_data(spec, extractor, classifier)
    return E.load_data(spec, **kw)


def cmd_reproduce(args) -> int:
    import resource
    import time

    from .. import experiments as E
    from .._userinput import load_models, output_dir, parse_snrs

    t0 = time.perf_counter()
    params = {k: v for k, v in vars(args).items() if k != "func"}
    kind = _check_data_spec(args.data)
    out = output_dir(args.out, "--out")
    if args.workdir:
        output_dir(args.workdir, "--workdir")
    wanted = ["fig2", "table1", "fig3"] if args.experiment == "all" else [args.experiment]
    snrs = {exp: parse_snrs(args.snr or default, "--snr")
            for exp, default in (("fig3", _FIG3_SNRS), ("robust", _ROBUST_SNRS)) if exp in wanted}
    scale = args.scale.strip().lower() if isinstance(args.scale, str) else args.scale
    paper = kind == "synthetic" and scale == "paper"
    scale_key = n = ext = clf = None
    if kind == "synthetic":
        if paper:
            scale = "105k"  # the experiments other than Fig. 2 run at Table I's first size
        if scale in _PRESETS:
            n = scale
        else:
            n = synthetic_size(scale, "--scale")
            scale_key = {v: k for k, v in E.SCALES.items()}.get(n)
    elif kind in ("revisited", "holidays"):
        if not (args.extractor and args.classifier):
            raise ValueError(f"--data {args.data!r} needs --extractor X.onnx and --classifier Y.onnx")
        ext, clf = load_models(args.extractor, args.classifier)

    def load(size=None):
        size = n if size is None else size
        return _load_data(E, args.data, scale=size, seed=args.seed, extractor=ext, classifier=clf, d=args.dim,
                          n_classes=args.labels, workdir=args.workdir, n_superclasses=max(1, args.labels // 10))

    def load_checked(size=None):
        size = n if size is None else size
        if kind != "synthetic" or isinstance(size, str):  # real data, or a preset (its own size)
            return load(size)
        return synthetic_checked(lambda: load(size), size, "--scale")

    # "all" shares the built indices between experiments; a single experiment frees each index
    # as soon as it is done with it (lower peak memory at 1M items)
    indexes: dict | None = {} if len(wanted) > 1 else None
    data = None
    if paper and "fig2" in wanted:
        loaded = {}

        def load_paper(s):
            size = s if s in _PRESETS else synthetic_size(s, "--scale")
            d = load_checked(size)
            if size == n:  # kept for the other experiments (and its indexes shared with them)
                loaded["data"] = d
            return d

        res = E.fig2_paper(load_paper, _PAPER_SCALES, seed=args.seed,
                           indexes_of=lambda s: indexes if s == scale else None)
        res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        path = E.write_results(out / "fig2", res, None, params)
        png = path.parent / "fig2.png"
        print(f"== fig2 ({', '.join(_PAPER_SCALES)}) -> {path}" + (f", {png.name}" if png.is_file() else ""))
        print(E.format_fig2_paper(res))
        wanted = [w for w in wanted if w != "fig2"]
        data = loaded.get("data")
    if wanted and data is None:
        data = load_checked()
    for exp in wanted:
        if exp == "table1":
            res = E.table1(data, seed=args.seed, indexes=indexes, ablations=not args.no_ablations)
            text = E.format_table1(res, scale_key)
        elif exp == "fig2":
            res = E.fig2(data, seed=args.seed, indexes=indexes)
            text = E.format_fig2(res)
        elif exp == "robust":
            res = E.robust(data, seed=args.seed, indexes=indexes, snrs=snrs[exp], trials=args.trials)
            text = E.format_robust(res)
        else:
            res = E.fig3(data, seed=args.seed, indexes=indexes, snrs=snrs[exp],
                         trials=args.trials, fading=args.fading, block=args.block)
            text = E.format_fig3(res)
        res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        path = E.write_results(out / exp, res, data, params)
        png = path.parent / f"{exp}.png"
        print(f"== {exp} ({data.name}, {data.n} items, {len(data.xq)} queries) -> {path}"
              + (f", {png.name}" if png.is_file() else ""))
        print(text)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"total {time.perf_counter() - t0:.1f} s, peak RSS {rss:.2f} GiB")
    return 0
