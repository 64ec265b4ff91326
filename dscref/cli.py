"""The ``dscref`` command line. Each subcommand lives in a ``_cmd_<name>`` function registered by
``_add_<name>``; heavy modules are imported inside the command, so ``dscref --help`` is instant.
Results are printed; progress and diagnostics go through :mod:`logging` and tqdm.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__

log = logging.getLogger("dscref")


# --------------------------------------------------------------------------- selftest
def _add_selftest(sub) -> None:
    p = sub.add_parser(
        "selftest",
        help="train a PQ on seeded random data, search, print recall@10 against brute force",
        description="Quick sanity check of the kernels: trains a product quantizer on a small "
        "seeded Gaussian set, encodes it, runs ADC search for a few queries and prints "
        "recall@10 of the ADC ranking against exact brute-force search.",
    )
    p.add_argument("--n", type=int, default=20000, help="database size (default 20000)")
    p.add_argument("--d", type=int, default=64, help="dimension (default 64)")
    p.add_argument("--M", type=int, default=8, help="PQ sub-quantizers (default 8)")
    p.add_argument("--nq", type=int, default=100, help="number of queries (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_selftest)


def _cmd_selftest(args) -> int:
    import time

    import numpy as np

    from .pq import ProductQuantizer
    from .scoring import adc_l2, topk

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
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=362, help="longer image side for the extractor (default 362)")
    p.add_argument("--classifier-size", type=int, default=224, help="classifier crop size (default 224)")
    p.add_argument("--scales", default="1", help="comma-separated scales, e.g. 1,0.7071,0.5 (default 1)")
    p.add_argument("--gem-p", type=float, default=3.0, help="GeM p for feature-map models (default 3)")
    p.add_argument("--k", type=int, default=5, help="number of labels per image (default 5)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--manifest", help="manifest.json to check the models' sha256 against")
    p.add_argument("--recursive", action="store_true", help="also read images in sub-folders")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable images (listed in bad.txt and logged) instead of failing")
    p.set_defaults(func=_cmd_extract)


def _cmd_extract(args) -> int:
    import io
    import time
    from pathlib import Path

    import numpy as np

    from ._files import atomic_write
    from .datasets import cached_features, extract_images, list_images
    from .features import Classifier, Extractor

    if not args.extractor and not args.classifier:
        raise ValueError("give --extractor and/or --classifier")
    scales = tuple(float(s) for s in args.scales.split(","))
    files = list_images(args.images, recursive=args.recursive)
    if not files:
        raise ValueError(f"no images found in {args.images!r}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f.relative_to(args.images).as_posix() for f in files]
    bad: list = []
    t0 = time.perf_counter()
    if args.extractor:
        ext = Extractor(args.extractor, gem_p=args.gem_p, size=args.size, scales=scales,
                        threads=args.threads, manifest=args.manifest)
        x, kept_names, bad = cached_features(ext, files, out / "features.npy", names=names,
                                             skip_bad=args.skip_bad)
        print(f"features: {x.shape} float32 -> {out / 'features.npy'}")
        keep = set(kept_names)
        files = [f for f, n in zip(files, names) if n in keep]
        names = kept_names
    if args.classifier:
        clf = Classifier(args.classifier, size=args.classifier_size, threads=args.threads,
                         manifest=args.manifest)
        res, kept, bad2 = extract_images(clf, files, skip_bad=args.skip_bad, k=args.k)
        if bad2 and args.extractor:  # cannot happen: the same files were readable a moment ago
            raise ValueError(f"images became unreadable during extraction: {bad2}")
        bad += bad2
        names = [names[i] for i in kept]
        labels, probs = res if res is not None else (np.zeros((0, args.k), np.int64),
                                                      np.zeros((0, args.k), np.float32))
        for name, arr in (("labels.npy", labels), ("probs.npy", probs)):
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write(out / name, buf.getvalue())
        print(f"labels: {labels.shape} int64 -> {out / 'labels.npy'}")
    atomic_write(out / "names.txt", "".join(n + "\n" for n in names))
    if bad:
        atomic_write(out / "bad.txt", "".join(f"{n}\t{m}\n" for n, m in bad))
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
    p.add_argument("--n", type=int, default=20000, help="synthetic database size (default 20000)")
    p.add_argument("--snr", default="0,5,10", help="comma-separated Es/N0 values in dB (default 0,5,10)")
    p.add_argument("--modem", default="qpsk", choices=["bpsk", "qpsk", "16qam"], help="digital modem (default qpsk)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--show", type=int, default=3, help="example queries printed per SNR (default 3)")
    p.add_argument("--images", help="folder of photos for the image variant")
    p.add_argument("--extractor", help="ONNX descriptor model (image variant)")
    p.add_argument("--classifier", help="ONNX ImageNet classifier (image variant)")
    p.set_defaults(func=_cmd_demo)


def _floats(text: str, name: str) -> list:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated numbers") from None


def _cmd_demo(args) -> int:
    from .demo import run_demo, run_image_demo

    snrs = _floats(args.snr, "--snr")
    if args.images:
        if not (args.extractor and args.classifier):
            raise ValueError("--images needs --extractor X.onnx and --classifier Y.onnx")
        rep = run_image_demo(args.images, args.extractor, args.classifier, snrs=snrs, modem=args.modem,
                             seed=args.seed, show=args.show)
    else:
        rep = run_demo(n_db=args.n, snrs=snrs, modem=args.modem, seed=args.seed, show=args.show)
    print("\n".join(rep.lines))
    return 0


# --------------------------------------------------------------------------- reproduce
_FIG3_SNRS = "-20,-15,-10,-5,-2.5,0,2.5,5,7.5,10"

def _add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce Fig. 2, Fig. 3 or Table I of the paper (JSON + PNG + printed table)",
        description="Runs an experiment of Wang & Qi on the embedded synthetic benchmark (default) or "
        "on real features, writes OUT/<experiment>/results.json (parameters, seed, versions, "
        "timings, every number) and a PNG, and prints a table with the paper's numbers beside "
        "ours. Image datasets: extract features first (dscref extract), or pass "
        "revisited:ROOT:NAME / holidays:ROOT with --extractor and --classifier.",
    )
    p.add_argument("experiment", choices=["fig2", "fig3", "table1", "robust", "all"],
                   help="fig2 | fig3 | table1 | robust (beyond the paper: bit-error-robust coding) | all "
                   "(the paper's three)")
    p.add_argument("--data", default="synthetic",
                   help="synthetic | features:PATH (.npz or folder) | revisited:ROOT:NAME | holidays:ROOT")
    p.add_argument("--scale", default="105k", help="synthetic database size: 105k | 1m | N (default 105k)")
    p.add_argument("--out", default="results", help="output folder (default ./results)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--trials", type=int, default=5, help="Fig. 3: channel realisations per SNR (default 5)")
    p.add_argument("--snr", default=_FIG3_SNRS,
                   help="comma-separated SNRs in dB; write --snr=-20,0 for negative values "
                   "(default fig3: -20..10; robust: -2..12)")
    p.add_argument("--fading", action="store_true", help="Fig. 3: Rayleigh block fading instead of AWGN")
    p.add_argument("--block", type=int, default=16, help="fading block length in channel uses (default 16)")
    p.add_argument("--dim", type=int, default=2048, help="synthetic feature dimension (default 2048)")
    p.add_argument("--labels", type=int, default=1000, help="synthetic classifier labels K (default 1000)")
    p.add_argument("--extractor", help="ONNX descriptor model (image datasets)")
    p.add_argument("--classifier", help="ONNX classifier (image datasets)")
    p.add_argument("--workdir", help="folder for the memory-mapped 1M-item features (default: a temp folder)")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    import resource
    import time

    from . import experiments as E

    t0 = time.perf_counter()
    params = {k: v for k, v in vars(args).items() if k != "func"}
    if args.data == "synthetic":
        n = E.parse_scale(args.scale)
        data = E.synthetic_data(n, seed=args.seed, d=args.dim, n_classes=args.labels, workdir=args.workdir,
                                n_superclasses=max(1, args.labels // 10))
    elif args.data.startswith(("revisited:", "holidays:")):
        data = E.image_data(args.data, args.extractor, args.classifier)
    else:
        data = E.load_data(args.data)
    scale_key = str(args.scale).lower() if args.data == "synthetic" else None
    wanted = ["fig2", "table1", "fig3"] if args.experiment == "all" else [args.experiment]
    # "all" shares the built indices between experiments; a single experiment frees each index
    # as soon as it is done with it (lower peak memory at 1M items)
    indexes: dict | None = {} if len(wanted) > 1 else None
    for exp in wanted:
        if exp == "table1":
            res = E.table1(data, seed=args.seed, indexes=indexes)
            text = E.format_table1(res, scale_key if scale_key in E.PAPER_TABLE1 else None)
        elif exp == "fig2":
            res = E.fig2(data, seed=args.seed, indexes=indexes)
            text = E.format_fig2(res)
        elif exp == "robust":
            snrs = _floats(args.snr, "--snr") if args.snr != _FIG3_SNRS else list(range(-2, 13, 2))
            res = E.robust(data, seed=args.seed, indexes=indexes, snrs=snrs, trials=args.trials)
            text = E.format_robust(res)
        else:
            res = E.fig3(data, seed=args.seed, indexes=indexes, snrs=_floats(args.snr, "--snr"),
                         trials=args.trials, fading=args.fading, block=args.block)
            text = E.format_fig3(res)
        res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        path = E.write_results(Path(args.out) / exp, res, data, params)
        print(f"== {exp} ({data.name}, {data.n} items, {len(data.xq)} queries) -> {path}")
        print(text)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"total {time.perf_counter() - t0:.1f} s, peak RSS {rss:.2f} GiB")
    return 0


# --------------------------------------------------------------------------- build / query
def _add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build an index from a features .npy and a labels .npy and save it",
        description="Builds a DSC semantic index (labels = each item's classifier top-1, e.g. the "
        "first column of `dscref extract`'s labels.npy) or a DUC baseline from a features file "
        "(n, d) float32 and saves it with dscref.io.save_index.",
    )
    p.add_argument("features", help="(n, d) float32 .npy (memory-mapped)")
    p.add_argument("--labels", help="(n,) or (n, k) int .npy: classifier labels (DSC); column 0 is used")
    p.add_argument("--index", default="dsc", choices=["dsc", "ivf", "imi", "gp", "flat"], help="index type (default dsc)")
    p.add_argument("--lists", type=int, default=1000, help="K: labels (DSC) or lists (DUC), default 1000")
    p.add_argument("--M", type=int, default=8, help="PQ sub-quantizers (default 8)")
    p.add_argument("--nbits", type=int, default=8, help="bits per sub-code (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="index path to write")
    p.set_defaults(func=_cmd_build)


def _cmd_build(args) -> int:
    import time

    import numpy as np

    from .experiments import make_index
    from .io import save_index

    x = np.load(args.features, mmap_mode="r")
    labels = None
    if args.labels:
        labels = np.load(args.labels)
        labels = labels[:, 0] if labels.ndim == 2 else labels
    if args.index == "dsc" and labels is None:
        raise ValueError("--index dsc needs --labels (the classifier's top-1 label of every item)")
    t0 = time.perf_counter()
    index = make_index(args.index, args.lists, M=args.M, nbits=args.nbits, seed=args.seed, keep_vectors=False)
    index.build(x, labels)
    save_index(index, args.out)
    print(f"built {args.index} index of {x.shape[0]} items (d={x.shape[1]}, {index.n_lists} lists) in "
          f"{time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


def _add_query(sub) -> None:
    p = sub.add_parser(
        "query",
        help="query a saved index with feature vectors (or images through ONNX models)",
        description="Loads an index saved by `dscref build` and searches it. Queries are rows of a "
        "features .npy (with --labels giving each query's top-5 labels for a DSC index) or "
        "images run through --extractor/--classifier. Each query goes through the payload codec "
        "(and, with --snr, through a QPSK/AWGN link). Prints the top-k ids per query.",
    )
    p.add_argument("index", help="index path (from dscref build)")
    p.add_argument("queries", help="(nq, d) .npy of query features, or a folder of images")
    p.add_argument("--labels", help="(nq, >=5) .npy of query top labels (DSC), or use --classifier")
    p.add_argument("--extractor", help="ONNX descriptor model (image queries)")
    p.add_argument("--classifier", help="ONNX classifier (image queries / DSC heads)")
    p.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--head", type=int, default=5, help="head size (default 5)")
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    p.add_argument("--snr", type=float, help="send each payload over QPSK/AWGN at this Es/N0 (dB)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_query)


def _cmd_query(args) -> int:
    import numpy as np

    from . import bitpack
    from .codec import PayloadLayout, decode_payload, encode_payload
    from .io import load_index

    index = load_index(args.index)
    qpath = Path(args.queries)
    if qpath.is_dir():
        if not args.extractor:
            raise ValueError("image queries need --extractor (and --classifier for a DSC index)")
        from .datasets import list_images
        from .features import Classifier, Extractor

        images = list_images(qpath)
        xq = Extractor(args.extractor).extract(images)
        heads = Classifier(args.classifier).topk(images, k=args.head)[0] if args.classifier else None
        names = [p.name for p in images]
    else:
        xq = np.load(qpath)
        xq = xq[None] if xq.ndim == 1 else xq
        heads = np.load(args.labels) if args.labels else None
        names = [str(i) for i in range(len(xq))]
    if index.kind == "dsc" and heads is None:
        raise ValueError("a DSC index needs each query's top labels: --labels FILE.npy or --classifier")
    layout = PayloadLayout.for_index(index, n_labels=args.head)
    rng = np.random.default_rng(args.seed)
    for i, q in enumerate(xq):
        top = heads[i, :args.head] if (heads is not None and index.kind == "dsc") else None
        payload = encode_payload(index.encode_query(q, top_labels=top, n_probe=args.head), layout)
        note = ""
        if args.snr is not None:
            from .channel import AWGN, transmit_bits

            res = transmit_bits(bitpack.bytes_to_bits(payload), "qpsk", AWGN(args.snr), rng)
            payload = bitpack.bits_to_bytes(res.bits)
            note = f" ({res.bit_errors} bit errors)"
        query, rep = decode_payload(payload, layout)
        r = index.search(query, k=args.k, metric=args.metric)
        print(f"{names[i]}: {len(payload)} bytes{note}, head {query.labels.tolist()}, "
              f"{int(r.n_candidates[0])} candidates, top-{args.k}: {r.I[0].tolist()}")
    return 0


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dscref",
        description="Deep Semantic Coding for wireless image retrieval (Wang & Qi): reference "
        "implementation, experiments and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"dscref {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_demo, _add_reproduce, _add_build, _add_query, _add_extract, _add_selftest):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"dscref {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
