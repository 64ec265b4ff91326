"""``dscref reproduce``: the arguments of the paper's experiments (:mod:`dscref.experiments`:
Table I, Fig. 2, Fig. 3, the robust-coding experiment, Fig. 3 redrawn at equal bandwidth
(``wireless``) and the generator-sensitivity sweep), the data and seeds they run on, and the
printed tables beside the written JSON / PNG.

``--scale`` takes a size, a data set preset (``oxford5k``, ``paris6k``, ``holidays``:
:data:`dscref.synthetic.presets.PRESETS`) or ``paper``: Fig. 2 on the three presets and 105k
(combined by :func:`dscref.experiments.fig2_datasets` into ``OUT/fig2_paper/``), the other
experiments at 105k."""

from __future__ import annotations

from pathlib import Path

from ._common import MIN_SYNTHETIC
from ._common import count_arg as _count
from ._common import seeds_arg, synthetic_checked, synthetic_size

__all__ = ["add_reproduce", "cmd_reproduce"]

_FIG3_SNRS = "-20,-15,-10,-5,-2.5,0,2.5,5,7.5,10"
_ROBUST_SNRS = "-2,0,2,4,6,8,10,12"
_WIRELESS_SNRS = ",".join(f"{-10 + 2.5 * i:g}" for i in range(17))  # -10 .. 30 dB in 2.5 dB steps
_WIRELESS_BANDWIDTHS = "47,94,188,376"
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
        "on real features, over one or more independent data seeds (--seeds), writes each seed's "
        "result to OUT/<experiment>/seeds/seed_<s>.json as soon as it is done (a rerun with the same "
        "parameters reuses them: an interrupted run resumes), then OUT/<experiment>/results.json "
        "(parameters, seeds, versions, timings, every number as mean, 95 % CI half-width and "
        "per-seed values) and OUT/<experiment>/<experiment>.png, and prints a table (mean ± "
        "half-width) with the paper's numbers beside ours. Image datasets: extract features first "
        "(dscref extract), or pass revisited:ROOT:NAME / holidays:ROOT with --extractor and --classifier.",
    )
    p.add_argument("experiment", choices=["fig2", "fig3", "table1", "robust", "wireless", "all", "sensitivity",
                                          "calibration"],
                   help="fig2 | fig3 (the paper's, unequal bandwidth) | table1 | robust (beyond the paper: "
                   "bit-error-robust coding) | wireless (beyond the paper: Fig. 3 redrawn at equal bandwidth B "
                   "and energy: analog linear JSCC with and without a head, the hybrid, the uncoded, robust "
                   "and convolutionally coded payloads, the ideal bound of each payload) | all "
                   "(the paper's three, sharing each seed's indexes) | sensitivity (the conclusions "
                   "across the synthetic generator's least certain parameters, one varied at a time)")
    p.add_argument("--data", default="synthetic",
                   help=_DATA_FORMS + " (default synthetic). features:PATH is an .npz (or a folder of "
                   ".npy files) of plain arrays, read without pickle: xb (n, d) database features, "
                   "labels_b (n,) their top-1 labels, xq (nq, d) query features, ranking_q (nq, >=5) "
                   "the queries' labels best first, and the ground truth gnd_ok / gnd_junk with "
                   "gnd_ok_offsets / gnd_junk_offsets (nq + 1,) (query q's ids are "
                   "gnd_ok[off[q]:off[q+1]]); `dscref features` makes one from dscref extract's output")
    p.add_argument("--scale", default=None,
                   help=f"synthetic database size: 105k | 1m | any whole number, k/m suffixes allowed "
                   f"(20k, 2.5k, 1M). Every seed works from {MIN_SYNTHETIC} (the landmarks' photos, "
                   "Oxford5k's 568 and their junk views, must fit). Or a data set's shape: "
                   f"{' | '.join(_PRESETS)} (its size, landmarks, positives and queries; Holidays' "
                   "queries are database images, each junk for itself). Or paper: Fig. 2 on "
                   f"{', '.join(_PAPER_SCALES)} (OUT/fig2_paper/: one figure, a panel per data set, and the "
                   "head size for 90 %% recall beside the paper's); table1 / fig3 / robust at 105k. Default "
                   "105k; calibration: the largest of its sizes 5,062 / 105k / SCALE, default 1m")
    p.add_argument("--out", default="results", help="output folder (default ./results)")
    p.add_argument("--seed", type=_count(0), default=None,
                   help="first seed of --seeds N (default 0); seed s generates the data and seeds the "
                   "experiment's own randomness (k-means, PQ, channel)")
    p.add_argument("--seeds", type=seeds_arg, default=1,
                   help="N: N independent seeds from --seed (seed, seed+1, ...), or a comma-separated "
                   "list of seeds, e.g. 0,3,7 (default 1)")
    p.add_argument("--fresh", action="store_true",
                   help="recompute every seed, even those whose OUT/<experiment>/seeds/seed_<s>.json "
                   "exists (needed when it was computed with other parameters)")
    p.add_argument("--markdown", action="store_true", help="print markdown tables (mean ± half-width)")
    p.add_argument("--sweep", action="append", metavar="PARAM=V1,V2,...",
                   help="sensitivity: sweep these generator parameters over these values instead of "
                   "the built-in table (repeatable)")
    p.add_argument("--trials", type=_count(), default=5,
                   help="fig3, robust, wireless: channel realisations per SNR (default 5)")
    p.add_argument("--snr", default=None,
                   help="comma-separated SNRs in dB, each in [-50, 100]; write --snr=-20,0 for negative "
                   f"values (default fig3: {_FIG3_SNRS}; robust: {_ROBUST_SNRS}; wireless: -10 to 30 in "
                   "2.5 dB steps)")
    p.add_argument("--bandwidths", default=None, metavar="B1,B2,...",
                   help=f"wireless: the bandwidths B in complex channel uses per query (default {_WIRELESS_BANDWIDTHS})")
    p.add_argument("--fading", action="store_true",
                   help="fig3: Rayleigh block fading instead of AWGN; wireless: the block-fading panels beside "
                   "the AWGN ones")
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


def _bandwidths(text: str) -> list:
    """``--bandwidths`` as a list of distinct whole numbers >= 1 (complex channel uses)."""
    parts = [v.strip() for v in str(text).split(",") if v.strip()]
    out = []
    for v in parts:
        try:
            out.append(int(v))
        except ValueError:
            raise ValueError(f"--bandwidths={text!r}: {v!r} is not a whole number of channel uses") from None
        if out[-1] < 1:
            raise ValueError(f"--bandwidths={text!r}: {v} must be >= 1")
    if not out or len(set(out)) != len(out):
        raise ValueError(f"--bandwidths={text!r}: give distinct comma-separated uses, e.g. {_WIRELESS_BANDWIDTHS}")
    return out


def _seed_list(args) -> list:
    """The seeds of ``--seeds`` (a count from ``--seed``, or a list) and ``--seed``."""
    if isinstance(args.seeds, list):
        if args.seed is not None:
            raise ValueError(f"--seed {args.seed} with --seeds {','.join(map(str, args.seeds))}: give the "
                             "seeds in the list only (--seed is the first of --seeds N)")
        return args.seeds
    first = 0 if args.seed is None else args.seed
    return list(range(first, first + args.seeds))


def _sweep_table(specs) -> dict | None:
    """``--sweep PARAM=V1,V2`` options as ``{param: [values]}`` (None: the built-in table)."""
    if not specs:
        return None
    table = {}
    for spec in specs:
        name, eq, values = spec.partition("=")
        name = name.strip()
        vals = []
        for v in values.split(","):
            try:
                vals.append(int(v))
            except ValueError:
                try:
                    vals.append(float(v))
                except ValueError:
                    vals = []
                    break
        if not (eq and name and vals):
            raise ValueError(f"--sweep {spec!r}: expected PARAM=V1,V2,... with numbers, e.g. sim_match=0.7,0.9")
        if name in table:
            raise ValueError(f"--sweep names {name!r} twice")
        table[name] = vals
    return table


def _seeds_text(seeds: list) -> str:
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ",".join(map(str, seeds))


def _fig2_presets(E, seeds, out, params, loader, fresh) -> dict:
    """Fig. 2 on each preset over ``seeds`` (``OUT/fig2_paper/<preset>/fig2/``, resumable like every
    run): {preset: combined result}."""
    return {preset: E.run_seeds({"fig2": E.fig2}, seeds, out / "fig2_paper" / preset, load=loader(preset),
                                params={**params, "scale": preset}, fresh=fresh).results["fig2"]
            for preset in _PRESETS}


def _write_fig2_paper(E, out, seeds, params, per: dict, markdown: bool) -> None:
    """The data sets' Fig. 2 as one result (``OUT/fig2_paper/results.json`` and ``fig2_paper.png``:
    a panel per data set), printed with the paper's head sizes beside ours."""
    doc = {"meta": {"params": {**params, "scale": "paper", "seeds": list(seeds)}}, "seeds": list(seeds),
           **E.fig2_datasets(per)}
    path = E.write_document(out / "fig2_paper", doc)
    png = path.parent / "fig2_paper.png"
    print(f"== fig2 on {', '.join(per)} ({_seeds_text(seeds)}) -> {path}" + (f", {png.name}" if png.is_file() else ""))
    print(E.format_markdown(doc) if markdown else E.format_fig2_paper(doc))


def _calibration(E, args, seeds, out, params, t0) -> int:
    """``reproduce calibration``: the generator's statistics against the published real-data ranges
    at 5,062 / 105k / 1M items (``--scale`` is the largest size; below 1M the drop to 1M is not
    measured); only the generator's defaults, ``--dim`` and ``--labels`` apply."""
    import resource
    import time

    if args.data != "synthetic":
        raise ValueError(f"calibration measures the synthetic generator: --data {args.data!r} must be synthetic")
    n = synthetic_size(args.scale or "1m", "--scale")
    gen = dict(d=args.dim, n_classes=args.labels, n_superclasses=max(1, args.labels // 10))
    doc, path = E.calibration_run(seeds, out, params=params, fresh=args.fresh, small=min(5062, n),
                                  medium=min(105_000, n), large=n if n > 105_000 else None, **gen)
    done = ", ".join(f"{len(doc[w])} {w}" for w in ("computed", "reused") if doc[w])
    print(f"== calibration ({_seeds_text(seeds)}: {done}) -> {path}")
    print(E.format_calibration(doc))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"total {time.perf_counter() - t0:.1f} s, peak RSS {rss:.2f} GiB")
    return 0


def cmd_reproduce(args) -> int:
    import resource
    import time

    from .. import experiments as E
    from .._userinput import load_models, output_dir, parse_snrs

    t0 = time.perf_counter()
    params = {k: v for k, v in vars(args).items() if k != "func"}
    kind = _check_data_spec(args.data)
    seeds = _seed_list(args)
    out = output_dir(args.out, "--out")
    if args.workdir:
        output_dir(args.workdir, "--workdir")
    if args.experiment == "sensitivity" and kind != "synthetic":
        raise ValueError(f"sensitivity sweeps the synthetic generator's parameters: --data {args.data!r} "
                         "must be synthetic")
    if args.sweep and args.experiment != "sensitivity":
        raise ValueError(f"--sweep is for the sensitivity experiment, not {args.experiment}")
    table = _sweep_table(args.sweep)
    wanted = ["fig2", "table1", "fig3"] if args.experiment == "all" else [args.experiment]
    snrs = {exp: parse_snrs(args.snr or default, "--snr")
            for exp, default in (("fig3", _FIG3_SNRS), ("robust", _ROBUST_SNRS), ("wireless", _WIRELESS_SNRS))
            if exp in wanted}
    if args.bandwidths is not None and args.experiment != "wireless":
        raise ValueError(f"--bandwidths is for the wireless experiment, not {args.experiment}")
    # recorded in the seed files of wireless runs only (the other experiments' files stay valid)
    params.pop("bandwidths", None)
    bandwidths = None
    if args.experiment == "wireless":
        bandwidths = params["bandwidths"] = _bandwidths(args.bandwidths or _WIRELESS_BANDWIDTHS)
    scale = str(args.scale or "105k").strip().lower()
    paper = kind == "synthetic" and scale == "paper"
    if paper and args.experiment in ("sensitivity", "calibration"):
        raise ValueError(f"--scale paper runs Fig. 2 on the paper's data sets and the other experiments at "
                         f"105k; give {args.experiment} one --scale")
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
    loaded: dict = {}

    def loader(size):
        """The data of one seed at ``size`` (a number of items or a preset name)."""
        def load(seed, **overrides):
            def make():
                return _load_data(E, args.data, scale=size, seed=seed, extractor=ext, classifier=clf, d=args.dim,
                                  n_classes=args.labels, workdir=args.workdir,
                                  n_superclasses=max(1, args.labels // 10), **overrides)

            if kind == "synthetic":
                return make() if isinstance(size, str) else synthetic_checked(make, size, "--scale")
            if "data" not in loaded:  # real data does not depend on the seed: read it once
                loaded["data"] = make()
            return loaded["data"]
        return load

    load = loader(n)
    presets = {}
    if paper:
        if "fig2" in wanted:
            presets = _fig2_presets(E, seeds, out, params, loader, args.fresh)
        params = {**params, "scale": scale}  # the 105k runs: the files of a plain --scale 105k run

    if args.experiment == "calibration":
        return _calibration(E, args, seeds, out, params, t0)
    if args.experiment == "sensitivity":
        run = E.sensitivity(load, seeds, out, params=params, table=table, fresh=args.fresh)
    else:
        options = {"fig3": dict(snrs=snrs.get("fig3"), trials=args.trials, fading=args.fading, block=args.block),
                   "robust": dict(snrs=snrs.get("robust"), trials=args.trials),
                   "wireless": dict(bandwidths=bandwidths, snrs=snrs.get("wireless"), trials=args.trials,
                                    fading=args.fading, block=args.block),
                   "table1": dict(ablations=not args.no_ablations)}
        run = E.run_seeds({exp: getattr(E, exp) for exp in wanted}, seeds, out, load=load, params=params,
                          options=options, fresh=args.fresh)
    if presets:
        _write_fig2_paper(E, out, seeds, params, {**presets, "105k": run.results["fig2"]}, args.markdown)
    for exp, doc in run.results.items():
        data = doc["meta"]["data"]
        png = run.paths[exp].parent / f"{exp}.png"
        # what was computed / reused: seeds, or (sensitivity) setting-seed files
        counts = [(w, len(d[exp]) if exp in d else sum(map(len, d.values())))
                  for w, d in (("computed", run.computed), ("reused", run.reused))]
        done = ", ".join(f"{c} {w}" for w, c in counts if c)
        print(f"== {exp} ({data['name']}, {data['n_db']} items, {data['n_queries']} queries; "
              f"{_seeds_text(seeds)}{': ' + done if done else ''}) -> {run.paths[exp]}"
              + (f", {png.name}" if png.is_file() else ""))
        if args.markdown:
            print(E.format_markdown(doc, scale_key))
        else:
            print({"table1": lambda d: E.format_table1(d, scale_key), "fig2": E.format_fig2, "fig3": E.format_fig3,
                   "robust": E.format_robust, "sensitivity": E.format_sensitivity,
                   "wireless": E.format_wireless}[exp](doc))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"total {time.perf_counter() - t0:.1f} s, peak RSS {rss:.2f} GiB")
    return 0
