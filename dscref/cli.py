"""The ``dscref`` command line. Each subcommand lives in a ``_cmd_<name>`` function registered by
``_add_<name>`` (``build`` and ``query``, the saved-index commands, in :mod:`dscref._cli_index`);
heavy modules are imported inside the command, so ``dscref --help`` is instant.
Results are printed to stdout; progress bars (tqdm) and diagnostics (:mod:`logging`) go to stderr.

A user mistake (a missing or unreadable file, a wrong option value, arrays that do not fit
together) is one line ``dscref <command>: error: <message>`` on stderr and exit status 2, never a
traceback; inputs are checked by :mod:`dscref._userinput` before any long step. Other exceptions
are bugs and keep their traceback. ``-vv`` also prints the traceback of a user mistake.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import zipfile
from pathlib import Path

from . import __version__
from ._cli_index import add_build, add_query
from ._userinput import count_arg as _count

log = logging.getLogger("dscref")

# Smallest --scale / --n that holds the synthetic landmarks for every seed
# (experiments.min_synthetic_size(); a constant here so that --help imports nothing heavy).
_MIN_SYNTHETIC = 3036


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other mistake."""

    def error(self, message):
        if message.startswith("argument --snr: expected one argument"):
            message += " (write --snr=-20,0 when the list starts with a negative value)"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _synthetic_size(text, what: str) -> int:
    """A synthetic database size (``105k``, ``1m``, ``2.5k``, ``20000``); errors state the minimum."""
    from ._userinput import parse_size

    try:
        return parse_size(text, what)
    except ValueError as exc:
        raise ValueError(f"{exc} (the synthetic benchmark works from {what} {_MIN_SYNTHETIC} for "
                         "every seed)") from None


def _synthetic_checked(make, n: int, what: str):
    """``make()``, turning the generator's "too small" error into one naming ``what``."""
    try:
        return make()
    except ValueError as exc:
        if "too small" in str(exc) and n < _MIN_SYNTHETIC:
            raise ValueError(f"{what} {n} is too small for this seed: {exc} (every seed works "
                             f"from {what} {_MIN_SYNTHETIC})") from None
        raise


# --------------------------------------------------------------------------- selftest
def _add_selftest(sub) -> None:
    p = sub.add_parser(
        "selftest",
        help="train a PQ on seeded random data, search, print recall@10 against brute force",
        description="Quick sanity check of the kernels: trains a product quantizer on a small "
        "seeded Gaussian set, encodes it, runs ADC search for a few queries and prints "
        "recall@10 of the ADC ranking against exact brute-force search.",
    )
    p.add_argument("--n", type=_count(256), default=20000, help="database size (default 20000)")
    p.add_argument("--d", type=_count(), default=64, help="dimension (default 64)")
    p.add_argument("--M", type=_count(), default=8, help="PQ sub-quantizers, dividing --d (default 8)")
    p.add_argument("--nq", type=_count(), default=100, help="number of queries (default 100)")
    p.add_argument("--seed", type=_count(0), default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_selftest)


def _cmd_selftest(args) -> int:
    import time

    import numpy as np

    from .pq import ProductQuantizer
    from .scoring import adc_l2, topk

    if args.d % args.M:
        raise ValueError(f"--d {args.d} is not divisible by --M {args.M}")
    rng = np.random.default_rng(args.seed)
    # Clustered data (1000 Gaussian blobs, noise std 0.5): isotropic noise alone has no
    # near neighbours worth finding, which would make recall meaningless.
    centers = rng.standard_normal((1000, args.d)).astype(np.float32)
    xb = (centers[rng.integers(0, 1000, args.n)] + 0.5 * rng.standard_normal((args.n, args.d))).astype(np.float32)
    xq = (centers[rng.integers(0, 1000, args.nq)] + 0.5 * rng.standard_normal((args.nq, args.d))).astype(np.float32)
    t0 = time.perf_counter()
    pq = ProductQuantizer(M=args.M, nbits=8, seed=args.seed).fit(xb)
    codes = pq.encode(xb)
    t_fit = time.perf_counter() - t0
    luts = np.stack([pq.lut_l2(q) for q in xq])
    t0 = time.perf_counter()
    dist = adc_l2(luts, codes)
    _, approx = topk(dist, 10)
    t_search = time.perf_counter() - t0
    exact = ((xq ** 2).sum(1)[:, None] - 2 * xq @ xb.T + (xb ** 2).sum(1)[None, :])
    _, truth = topk(exact.astype(np.float32), 10)
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approx, truth)])
    nn_recall = np.mean([t[0] in set(a) for a, t in zip(approx, truth)])
    mse = float(((pq.decode(codes) - xb) ** 2).sum(1).mean())
    print(f"selftest: n={args.n} d={args.d} M={args.M} nbits=8 nq={args.nq} seed={args.seed}")
    print(f"  PQ fit+encode {t_fit:.2f} s (includes Numba compile on first run), "
          f"ADC search {t_search * 1e3:.1f} ms")
    print(f"  reconstruction MSE {mse:.4f} (mean squared norm {float((xb ** 2).sum(1).mean()):.2f})")
    print(f"  recall@10 (ADC top-10 vs exact top-10): {recall:.3f}")
    print(f"  1-recall@10 (exact nearest neighbour inside ADC top-10, faiss's R@10): {nn_recall:.3f}")
    return 0 if nn_recall > 0.5 else 1


# --------------------------------------------------------------------------- extract
def _add_extract(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="images (folder) -> GeM features .npy and top-5 labels .npy through ONNX models",
        description="Runs an ONNX global-descriptor model (--extractor) and/or an ONNX ImageNet "
        "classifier (--classifier) over every image of a folder. Writes into --out: "
        "features.npy (n, D) float32 L2-normalised rows with a features.json sidecar (model "
        "sha256, preprocessing; a re-run with the same settings reuses the file), labels.npy "
        "(n, k) int64 top-k labels, probs.npy (n, k) float32, names.txt (one image per line, "
        "row order) and, with --skip-bad, bad.txt listing the skipped unreadable images.",
    )
    p.add_argument("images", help="folder of images (jpg, png, ...)")
    p.add_argument("--extractor", help="ONNX descriptor model (vector or feature-map output)")
    p.add_argument("--classifier", help="ONNX classifier (n, 1000) logits")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--size", type=_count(), default=362, help="longer image side for the extractor (default 362)")
    p.add_argument("--classifier-size", type=_count(), default=224, help="classifier crop size (default 224)")
    p.add_argument("--scales", default="1", help="comma-separated scales, e.g. 1,0.7071,0.5 (default 1)")
    p.add_argument("--gem-p", type=float, default=3.0, help="GeM p for feature-map models (default 3)")
    p.add_argument("--k", type=_count(), default=5, help="number of labels per image (default 5)")
    p.add_argument("--threads", type=_count(), default=None, help="onnxruntime intra-op threads")
    p.add_argument("--manifest", help="manifest.json to check the models' sha256 against")
    p.add_argument("--recursive", action="store_true", help="also read images in sub-folders")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable images (listed in bad.txt and logged) instead of failing")
    p.set_defaults(func=_cmd_extract)


def _floats(text: str, name: str) -> list:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated numbers") from None
    if not values:
        raise ValueError(f"{name}={text!r} holds no number")
    return values


def _cmd_extract(args) -> int:
    import time

    import numpy as np

    from ._files import atomic_open, atomic_write_text
    from ._userinput import input_dir, input_file, load_models, output_dir
    from .datasets import cached_features, extract_images, list_images
    from .errors import ImageError

    if not args.extractor and not args.classifier:
        raise ValueError("give --extractor and/or --classifier")
    scales = tuple(_floats(args.scales, "--scales"))
    images = input_dir(args.images, "image folder")
    out = output_dir(args.out, "--out")
    if args.manifest:
        input_file(args.manifest, "--manifest")
    files = list_images(images, recursive=args.recursive)
    if not files:
        raise ValueError(f"no images found in {args.images!r}"
                         + ("" if args.recursive else " (add --recursive to read sub-folders)"))
    ext, clf = load_models(args.extractor, args.classifier,
                           extractor_kw=dict(gem_p=args.gem_p, size=args.size, scales=scales,
                                             threads=args.threads, manifest=args.manifest),
                           classifier_kw=dict(size=args.classifier_size, threads=args.threads,
                                              manifest=args.manifest))
    if clf is not None and args.k > clf.n_classes:
        raise ValueError(f"--k {args.k} is more than the classifier's {clf.n_classes} classes")
    out.mkdir(parents=True, exist_ok=True)
    names = [f.relative_to(images).as_posix() for f in files]
    bad: list = []
    t0 = time.perf_counter()
    try:
        if ext is not None:
            x, kept_names, bad = cached_features(ext, files, out / "features.npy", names=names,
                                                 skip_bad=args.skip_bad)
            print(f"features: {x.shape} float32 -> {out / 'features.npy'}")
            keep = set(kept_names)
            files = [f for f, n in zip(files, names) if n in keep]
            names = kept_names
        if clf is not None:
            res, kept, bad2 = extract_images(clf, files, skip_bad=args.skip_bad, k=args.k)
            if bad2 and ext is not None:  # cannot happen: the same files were readable a moment ago
                raise ValueError(f"images became unreadable during extraction: {bad2}")
            bad += bad2
            names = [names[i] for i in kept]
            labels, probs = res if res is not None else (np.zeros((0, args.k), np.int64),
                                                          np.zeros((0, args.k), np.float32))
            for name, a in (("labels.npy", labels), ("probs.npy", probs)):
                with atomic_open(out / name) as f:
                    np.save(f, a, allow_pickle=False)
            print(f"labels: {labels.shape} int64 -> {out / 'labels.npy'}")
    except ImageError as exc:
        if args.skip_bad:
            raise
        raise ImageError(f"{exc} (pass --skip-bad to skip unreadable images)") from None
    atomic_write_text(out / "names.txt", "".join(n + "\n" for n in names))
    if bad:
        atomic_write_text(out / "bad.txt", "".join(f"{n}\t{m}\n" for n, m in bad))
        print(f"skipped {len(bad)} unreadable image(s), listed in {out / 'bad.txt'}")
    dt = time.perf_counter() - t0
    print(f"{len(names)} images in {dt:.1f} s ({len(names) / max(dt, 1e-9):.1f} images/s)")
    return 0


# --------------------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole chain on a synthetic database: encode -> 47 bytes -> QPSK/AWGN -> decode -> search",
        description="Builds a synthetic database (DSC semantic index), sends every query's 47-byte "
        "payload through a digital link over AWGN at a few SNRs, decodes it (invalid head labels "
        "dropped) and searches. Prints bytes sent, channel uses, bit errors, candidates scanned, "
        "example top-5 ids with ground-truth marks and mAP. With --images, runs the same chain "
        "on a folder of photos through ONNX models (--extractor, --classifier).",
    )
    p.add_argument("--n", default="20000",
                   help=f"synthetic database size, k/m suffixes allowed (default 20000 = 20k; every seed "
                   f"works from {_MIN_SYNTHETIC}: the landmark images must fit)")
    p.add_argument("--snr", default="0,5,10",
                   help="comma-separated Es/N0 values in dB, each in [-50, 100]; write --snr=-5,0 for "
                   "negative values (default 0,5,10)")
    p.add_argument("--modem", default="qpsk", choices=["bpsk", "qpsk", "16qam"], help="digital modem (default qpsk)")
    p.add_argument("--seed", type=_count(0), default=0, help="random seed (default 0)")
    p.add_argument("--show", type=_count(0), default=3, help="example queries printed per SNR (default 3)")
    p.add_argument("--images", help="folder of photos for the image variant")
    p.add_argument("--extractor", help="ONNX descriptor model (image variant)")
    p.add_argument("--classifier", help="ONNX ImageNet classifier (image variant)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from ._userinput import input_dir, load_models, parse_snrs
    from .demo import run_demo, run_image_demo

    snrs = parse_snrs(args.snr, "--snr")
    if (args.extractor or args.classifier) and not args.images:
        raise ValueError("--extractor and --classifier are for the image variant: add --images FOLDER")
    if args.images:
        if not (args.extractor and args.classifier):
            raise ValueError("--images needs --extractor X.onnx and --classifier Y.onnx")
        folder = input_dir(args.images, "--images")
        ext, clf = load_models(args.extractor, args.classifier, extractor_kw=dict(size=362))
        rep = run_image_demo(folder, ext, clf, snrs=snrs, modem=args.modem, seed=args.seed, show=args.show)
    else:
        n = _synthetic_size(args.n, "--n")
        rep = _synthetic_checked(lambda: run_demo(n_db=n, snrs=snrs, modem=args.modem, seed=args.seed,
                                                  show=args.show), n, "--n")
    print("\n".join(rep.lines))
    return 0


# --------------------------------------------------------------------------- features
def _add_features(sub) -> None:
    p = sub.add_parser(
        "features",
        help="dscref extract output (database + queries) + ground truth -> a features:PATH file",
        description="The one step from `dscref extract` to `dscref reproduce --data features:OUT`: "
        "reads features.npy, labels.npy and names.txt of the database folder and of the query "
        "folder (each written by dscref extract with --extractor and --classifier) and the ground "
        "truth, a JSON list (in the query folder's names.txt order) or object keyed by query "
        "image name, each entry {\"ok\": [...], \"junk\": [...]} of database image names (or "
        "rows); writes an .npz of plain arrays (see --data of reproduce).",
    )
    p.add_argument("database", help="dscref extract output folder of the database images")
    p.add_argument("queries", help="dscref extract output folder of the query images")
    p.add_argument("--gnd", required=True, help="ground truth JSON file")
    p.add_argument("--out", required=True, help="features file to write (.npz)")
    p.set_defaults(func=_cmd_features)


def _cmd_features(args) -> int:
    from ._userinput import input_dir, input_file, output_file
    from .features.file import features_file_from_extract, load_features_file

    out = output_file(args.out, "--out", suffixes=(".npz",))
    path = features_file_from_extract(input_dir(args.database, "database folder"),
                                      input_dir(args.queries, "query folder"),
                                      input_file(args.gnd, "--gnd"), out)
    f = load_features_file(path)  # what reproduce will read
    print(f"{path}: {f['xb'].shape[0]} database items, {f['xq'].shape[0]} queries, d={f['xb'].shape[1]}; "
          f"use: dscref reproduce table1 --data features:{path}")
    return 0


# --------------------------------------------------------------------------- reproduce
_FIG3_SNRS = "-20,-15,-10,-5,-2.5,0,2.5,5,7.5,10"
_ROBUST_SNRS = "-2,0,2,4,6,8,10,12"
_DATA_FORMS = "synthetic | features:PATH | revisited:ROOT:NAME | holidays:ROOT"


def _add_reproduce(sub) -> None:
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
                   f"(20k, 2.5k, 1M). Every seed works from {_MIN_SYNTHETIC} (the landmark images must "
                   "fit; smaller sizes only for seeds that draw fewer). Default 105k")
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
    p.add_argument("--workdir", help="folder for the memory-mapped features of sizes above 300k, kept there (default: an "
                   "unnamed temporary file, freed when the command ends)")
    p.set_defaults(func=_cmd_reproduce)


def _check_data_spec(spec: str) -> str:
    """The kind of a --data spec, checked before any work (paths must exist)."""
    from ._userinput import input_dir

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


def _cmd_reproduce(args) -> int:
    import resource
    import time

    from . import experiments as E
    from ._userinput import load_models, output_dir, parse_snrs

    t0 = time.perf_counter()
    params = {k: v for k, v in vars(args).items() if k != "func"}
    kind = _check_data_spec(args.data)
    out = output_dir(args.out, "--out")
    if args.workdir:
        output_dir(args.workdir, "--workdir")
    wanted = ["fig2", "table1", "fig3"] if args.experiment == "all" else [args.experiment]
    snrs = {exp: parse_snrs(args.snr or default, "--snr")
            for exp, default in (("fig3", _FIG3_SNRS), ("robust", _ROBUST_SNRS)) if exp in wanted}
    scale_key = None
    if kind == "synthetic":
        n = _synthetic_size(args.scale, "--scale")
        scale_key = {v: k for k, v in E.SCALES.items()}.get(n)
        data = _synthetic_checked(lambda: E.synthetic_data(
            n, seed=args.seed, d=args.dim, n_classes=args.labels, workdir=args.workdir,
            n_superclasses=max(1, args.labels // 10)), n, "--scale")
    elif kind in ("revisited", "holidays"):
        if not (args.extractor and args.classifier):
            raise ValueError(f"--data {args.data!r} needs --extractor X.onnx and --classifier Y.onnx")
        ext, clf = load_models(args.extractor, args.classifier)
        data = E.image_data(args.data, ext, clf)
    else:
        data = E.load_data(args.data)
    # "all" shares the built indices between experiments; a single experiment frees each index
    # as soon as it is done with it (lower peak memory at 1M items)
    indexes: dict | None = {} if len(wanted) > 1 else None
    for exp in wanted:
        if exp == "table1":
            res = E.table1(data, seed=args.seed, indexes=indexes)
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


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dscref",
        description="Deep Semantic Coding for wireless image retrieval (Wang & Qi): reference "
        "implementation, experiments and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"dscref {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug, with tracebacks of errors)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_demo, _add_reproduce, add_build, add_query, _add_extract, _add_features, _add_selftest):
        add(sub)
    return parser


# What a user can cause: bad values (ValueError, TypeError, every dscref.errors class), missing /
# unreadable / misplaced files (OSError), truncated .npy / .npz files (EOFError, BadZipFile).
_USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and str(exc).startswith("[Errno"):
        msg = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


def _close_bars() -> None:
    """Erase progress bars an exception left open, so the error line starts on a fresh line."""
    if "tqdm" not in sys.modules:
        return
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.leave = False
        bar.close()


def main(argv=None) -> int:
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
        _close_bars()
        try:
            sys.stdout = open(os.devnull, "w")  # no second error when Python flushes at exit
        except OSError:  # pragma: no cover
            pass
        return 0
    except MemoryError as exc:  # a size the user asked for (--lists, --dim, --n ...) does not fit
        _close_bars()
        print(f"dscref {args.command}: error: not enough memory for the sizes asked for "
              f"({_one_line(exc) or 'MemoryError'}); use smaller sizes", file=sys.stderr)
        return 2
    except _USER_ERRORS as exc:
        _close_bars()
        if args.verbose >= 2:
            log.debug("traceback of the error below", exc_info=True)
        sys.stdout.flush()
        print(f"dscref {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_bars()
        print(f"dscref {args.command}: interrupted", file=sys.stderr)
        return 130
    except BaseException:
        _close_bars()
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
