"""``dscref demo``: the arguments of :func:`dscref.demo.run_demo` (synthetic database) and
:func:`dscref.demo.run_image_demo` (a folder of photos), and their printed report."""

from __future__ import annotations

from ._common import MIN_SYNTHETIC
from ._common import count_arg as _count
from ._common import synthetic_checked, synthetic_size

__all__ = ["add_demo", "cmd_demo"]


def add_demo(sub) -> None:
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
                   f"works from {MIN_SYNTHETIC}: the landmark images must fit)")
    p.add_argument("--snr", default="0,5,10",
                   help="comma-separated Es/N0 values in dB, each in [-50, 100]; write --snr=-5,0 for "
                   "negative values (default 0,5,10)")
    # dscref.channel.MODEM_NAMES, written out: the CLI imports no NumPy (tests/cli checks both)
    p.add_argument("--modem", default="qpsk", choices=["bpsk", "qpsk", "16qam", "64qam", "256qam"],
                   help="digital modem (default qpsk)")
    p.add_argument("--seed", type=_count(0), default=0, help="random seed (default 0)")
    p.add_argument("--show", type=_count(0), default=3, help="example queries printed per SNR (default 3)")
    p.add_argument("--images", help="folder of photos for the image variant")
    p.add_argument("--extractor", help="ONNX descriptor model (image variant)")
    p.add_argument("--classifier", help="ONNX ImageNet classifier (image variant)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .._userinput import input_dir, load_models, parse_snrs
    from ..demo import run_demo, run_image_demo

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
        n = synthetic_size(args.n, "--n")
        rep = synthetic_checked(lambda: run_demo(n_db=n, snrs=snrs, modem=args.modem, seed=args.seed,
                                                  show=args.show), n, "--n")
    print("\n".join(rep.lines))
    return 0
