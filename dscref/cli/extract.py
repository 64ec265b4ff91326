"""``dscref extract`` (a folder of images -> features, labels and names files through ONNX models)
and ``dscref features`` (extract's output for a database and its queries + ground truth -> one
features file for ``dscref reproduce --data features:PATH``)."""

from __future__ import annotations

from ._common import count_arg as _count

__all__ = ["add_extract", "cmd_extract", "add_features", "cmd_features"]


def add_extract(sub) -> None:
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
    p.set_defaults(func=cmd_extract)


def _floats(text: str, name: str) -> list:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated numbers") from None
    if not values:
        raise ValueError(f"{name}={text!r} holds no number")
    return values


def cmd_extract(args) -> int:
    from .._userinput import input_dir, input_file, load_models, output_dir
    from ..datasets import list_images
    from ..errors import ImageError
    from ..features.extraction import extract_folder

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
    names = [f.relative_to(images).as_posix() for f in files]
    try:
        res = extract_folder(files, names, out, ext, clf, k=args.k, skip_bad=args.skip_bad)
    except ImageError as exc:
        if args.skip_bad:
            raise
        raise ImageError(f"{exc} (pass --skip-bad to skip unreadable images)") from None
    for name, shape in res.written.items():
        if name != "probs.npy":
            dtype = "float32" if name == "features.npy" else "int64"
            print(f"{name[:-4]}: {shape} {dtype} -> {out / name}")
    if res.bad:
        print(f"skipped {len(res.bad)} unreadable image(s), listed in {out / 'bad.txt'}")
    n, dt = len(res.names), res.seconds
    print(f"{n} images in {dt:.1f} s ({n / max(dt, 1e-9):.1f} images/s)")
    return 0


def add_features(sub) -> None:
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
    p.set_defaults(func=cmd_features)


def cmd_features(args) -> int:
    from .._userinput import input_dir, input_file, output_file
    from ..features.file import features_file_from_extract, load_features_file

    out = output_file(args.out, "--out", suffixes=(".npz",))
    path = features_file_from_extract(input_dir(args.database, "database folder"),
                                      input_dir(args.queries, "query folder"),
                                      input_file(args.gnd, "--gnd"), out)
    f = load_features_file(path)  # what reproduce will read
    print(f"{path}: {f['xb'].shape[0]} database items, {f['xq'].shape[0]} queries, d={f['xb'].shape[1]}; "
          f"use: dscref reproduce table1 --data features:{path}")
    return 0
