"""The ``dscref`` command line. Each subcommand lives in a ``_cmd_<name>`` function registered by
``_add_<name>``; heavy modules are imported inside the command, so ``dscref --help`` is instant.
Results are printed; progress and diagnostics go through :mod:`logging` and tqdm.
"""

from __future__ import annotations

import argparse
import logging
import sys

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
    import time
    from pathlib import Path

    import numpy as np

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
        np.save(out / "labels.npy", labels)
        np.save(out / "probs.npy", probs)
        print(f"labels: {labels.shape} int64 -> {out / 'labels.npy'}")
    (out / "names.txt").write_text("".join(n + "\n" for n in names))
    if bad:
        (out / "bad.txt").write_text("".join(f"{n}\t{m}\n" for n, m in bad))
        print(f"skipped {len(bad)} unreadable image(s), listed in {out / 'bad.txt'}")
    dt = time.perf_counter() - t0
    print(f"{len(names)} images in {dt:.1f} s ({len(names) / max(dt, 1e-9):.1f} images/s)")
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
    for add in (_add_selftest, _add_extract):
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
