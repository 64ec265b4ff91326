"""``dscref build`` and ``dscref query``: an index from feature / label files, saved; a saved
index searched with query features (or images) sent through :class:`dscref.link.Link`, printed
as rank, id, score and name (:mod:`dscref.cli.report`) and optionally written to JSON / CSV.
Registered by :func:`dscref.cli.build_parser`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ._common import count_arg as _count

__all__ = ["add_build", "cmd_build", "add_query", "cmd_query", "names_path"]

log = logging.getLogger("dscref")


def add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build an index from a features .npy and a labels .npy and save it",
        description="Builds a DSC semantic index (labels = each item's classifier top-1, e.g. the "
        "first column of `dscref extract`'s labels.npy) or a DUC baseline from a features file "
        "(n, d) float32 and saves it with dscref.io.save_index (an existing file is replaced). "
        "Item names (--names, default: the names.txt of `dscref extract` beside the features) are "
        "saved beside the index as INDEX.names.txt; `dscref query` prints them.",
    )
    p.add_argument("features", help="(n, d) float32 .npy (memory-mapped)")
    p.add_argument("--labels", help="(n,) or (n, k) integer .npy in [0, --lists): classifier labels "
                   "(DSC); column 0 is used")
    p.add_argument("--index", default="dsc", choices=["dsc", "ivf", "imi", "gp", "flat"], help="index type (default dsc)")
    p.add_argument("--lists", type=_count(), default=1000, help="K: labels (DSC) or lists (DUC), default 1000")
    p.add_argument("--M", type=_count(), default=8, help="PQ sub-quantizers, dividing d (default 8)")
    p.add_argument("--nbits", type=_count(), default=8, help="bits per sub-code, 1..16 (default 8)")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--pq", choices=["per-list", "shared"],
                   help="residual quantizers (dsc, ivf, gp): one PQ per list with >= --min-partition-size "
                   "items, the smaller lists sharing one, or one PQ shared by all lists (default: per-list "
                   "for dsc, as the paper; shared for ivf / gp, as IVFADC)")
    p.add_argument("--min-partition-size", type=_count(),
                   help="--pq per-list: the items a list needs for a PQ of its own (default 2**nbits)")
    p.add_argument("--names", help="text file with one item name per features row "
                   "(default: names.txt beside the features file, if it has one line per row)")
    p.add_argument("--out", required=True, help="index path to write")
    p.set_defaults(func=cmd_build)


def names_path(index_path) -> Path:
    return Path(f"{index_path}.names.txt")


def cmd_build(args) -> int:
    import time

    from .._files import atomic_write
    from .._userinput import input_file, load_features, load_labels, output_file, read_names
    from ..index.factory import make_index
    from ..io import save_index

    out = output_file(args.out, "--out")
    x = load_features(args.features, "features")
    n, d = x.shape
    if d % args.M:
        raise ValueError(f"features {args.features!r} have d={d} columns, not divisible by --M {args.M}")
    labels = None
    if args.index == "dsc":
        if not args.labels:
            raise ValueError("--index dsc needs --labels (the classifier's top-1 label of every item)")
        labels = load_labels(args.labels, "--labels", n_rows=n, rows_of=f"features {args.features!r}",
                             high=args.lists, high_name=f"--lists {args.lists}")
        labels = labels[:, 0] if labels.ndim == 2 else labels
    elif args.labels:
        log.warning("--labels is ignored by --index %s (its lists come from k-means)", args.index)
    names = None
    if args.names:
        names = read_names(input_file(args.names, "--names"), n)
        if names is None:
            raise ValueError(f"--names {args.names!r} does not have one line per features row ({n})")
    else:
        names = read_names(Path(args.features).parent / "names.txt", n)
    t0 = time.perf_counter()
    pq_per_list = None if args.pq is None else args.pq == "per-list"
    index = make_index(args.index, args.lists, M=args.M, nbits=args.nbits, seed=args.seed, keep_vectors=False,
                       pq_per_list=pq_per_list, min_partition_size=args.min_partition_size)
    index.build(x, labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_index(index, out)
    sidecar = names_path(out)
    if names is not None:
        atomic_write(sidecar, "".join(f"{v}\n" for v in names))
    elif sidecar.is_file():
        sidecar.unlink()  # a previous build's names would be wrong for this index
    print(f"built {args.index} index of {n} items (d={d}, {index.n_lists} lists, {len(index.pqs_)} residual "
          f"PQ, codebooks {index.codebook_bytes / 2**20:.2f} MiB) in "
          f"{time.perf_counter() - t0:.1f} s -> {out}" + (f" (+ {sidecar.name})" if names else ""))
    return 0


def add_query(sub) -> None:
    p = sub.add_parser(
        "query",
        help="query a saved index with feature vectors (or images through ONNX models)",
        description="Loads an index saved by `dscref build` and searches it. Queries are rows of a "
        "features .npy (with --labels giving each query's top-5 labels for a DSC index) or "
        "images run through --extractor/--classifier. Each query goes through the payload codec "
        "(and, with --snr, through a QPSK/AWGN link). Prints, per query, the head and the top-k "
        "as rank, id, score and name (names: INDEX.names.txt written by `dscref build`); --out "
        "writes the same as JSON or CSV.",
    )
    p.add_argument("index", help="index path (from dscref build)")
    p.add_argument("queries", help="(nq, d) .npy of query features, or a folder of images")
    p.add_argument("--labels", help="(nq, >= --head) integer .npy of query top labels (DSC), e.g. "
                   "extract's labels.npy; or use --classifier")
    p.add_argument("--extractor", help="ONNX descriptor model (image queries)")
    p.add_argument("--classifier", help="ONNX classifier (image queries / DSC heads)")
    p.add_argument("--k", type=_count(), default=10,
                   help="results per query (default 10; capped at the index size)")
    p.add_argument("--head", type=_count(), default=5, help="head size (default 5)")
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    p.add_argument("--snr", type=float,
                   help="send each payload over QPSK/AWGN at this Es/N0 in dB, in [-50, 100]")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--out", help="also write the results to this .json or .csv file")
    p.set_defaults(func=cmd_query)


def cmd_query(args) -> int:
    import numpy as np

    from .._userinput import (check_snr, input_file, load_features, load_labels, load_models,
                              output_file, read_names)
    from ..codec import PayloadLayout
    from ..io import load_index
    from ..link import Link
    from .report import OUT_SUFFIXES, format_records, query_record, write_records

    index_path = input_file(args.index, "index")
    out = output_file(args.out, "--out", suffixes=OUT_SUFFIXES) if args.out else None
    if args.snr is not None:
        check_snr(args.snr, "--snr")
    qpath = Path(args.queries)
    if not qpath.exists():
        raise FileNotFoundError(f"queries {args.queries!r} do not exist")
    index = load_index(index_path)
    is_dsc = index.kind == "dsc"
    if is_dsc and args.head > index.n_lists:
        raise ValueError(f"--head {args.head} is more than the index's {index.n_lists} labels")
    if qpath.is_dir():
        if not args.extractor:
            raise ValueError(f"{args.queries!r} is a folder: image queries need --extractor "
                             "(and --classifier for a DSC index)")
        from ..datasets import list_images

        images = list_images(qpath)
        if not images:
            raise ValueError(f"no images found in {args.queries!r}")
        ext, clf = load_models(args.extractor, args.classifier)
        xq = ext.extract(images, progress=True)
        if xq.shape[1] != index.d_:
            raise ValueError(f"--extractor gives d={xq.shape[1]} features, the index was built with d={index.d_}")
        heads = clf.topk(images, k=args.head, progress=True)[0] if clf is not None else None
        qnames = [p.name for p in images]
    else:
        xq = load_features(qpath, "queries", d=index.d_, allow_1d=True)
        heads = None
        if args.labels and not is_dsc:
            log.warning("--labels is ignored by a %s index (its head comes from the feature)", index.kind)
        if args.labels and is_dsc:
            heads = load_labels(args.labels, "--labels", n_rows=xq.shape[0], rows_of=f"queries {args.queries!r}",
                                high=index.n_lists, high_name="the index's labels", two_d=True,
                                min_cols=args.head)
        qnames = read_names(qpath.parent / "names.txt", xq.shape[0]) or [str(i) for i in range(xq.shape[0])]
    if is_dsc and heads is None:
        raise ValueError("a DSC index needs each query's top labels: --labels FILE.npy or --classifier")
    k = args.k
    if k > index.ntotal:
        print(f"dscref query: note: --k {k} is more than the {index.ntotal} items of the index; "
              f"showing at most {index.ntotal}", file=sys.stderr)
        k = index.ntotal
    db_names = read_names(names_path(index_path), index.ntotal)
    layout = PayloadLayout.for_index(index, head_size=args.head)
    sent = [index.encode_query(np.asarray(xq[i], dtype=np.float32),
                               top_labels=heads[i, :args.head] if heads is not None else None, n_probe=args.head)
            for i in range(xq.shape[0])]
    channel = None
    if args.snr is not None:
        from ..channel import AWGN

        channel = AWGN(args.snr)
    # one transmission per query, drawn in order from one generator
    result = Link(layout, "qpsk", channel).send(sent, np.random.default_rng(args.seed))
    records = []
    for i, (q, rx) in enumerate(zip(sent, result.received)):
        r = index.search(rx.query, k=k, metric=args.metric)
        head_sent = q.labels.tolist() if layout.head_size else []
        head_received = rx.report.received_labels if layout.head_size else []
        records.append(query_record(qnames[i], layout.nbytes, rx.bit_errors if channel is not None else None,
                                    head_sent, head_received, int(r.n_candidates[0]), r.D[0], r.I[0], db_names))
    print("\n".join(format_records(records, args.metric)))
    if out is not None:
        write_records(out, records, {"index": str(index_path), "metric": args.metric, "k": k,
                                     "snr_db": args.snr, "seed": args.seed})
        print(f"results of {len(records)} queries -> {out}")
    return 0
