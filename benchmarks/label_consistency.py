"""How often the real classifier's top-1 label survives a change of view (issue 20, item 3).

The semantic code (eqs. 2 and 11 of Wang & Qi) files a database photo under its top-1 label and
probes the query's top-5 labels, so retrieval works only as far as a second view of the same
thing keeps the label. This script measures that for the real EfficientNet-Lite0 classifier
(``models/export.py offline``) on every natural photo available offline:

* scikit-image's sample photos (colour; the grayscale ones converted to RGB, reported apart),
* scikit-learn's two sample photos (``china.jpg``, ``flower.jpg``, CC BY 2.0, bench extra),
* matplotlib's ``grace_hopper.jpg`` (US Navy photograph, public domain; a core dependency).

Each photo (brought to a working size, longer side 512 px) is changed by every change and level of
``view_changes.CHANGES`` (random changes drawn ``--draws`` times, seeded); per change and level it
reports P(top-1 of the original == top-1 of the changed view), P(top-1 of the original in the
top-5 of the changed view), the top-5 overlap size and the GeM cosine between the two (the
matching similarity), with 95 % bootstrap CIs over photos (photos of one scene, the stereo pair
motorcycle_left/right, resampled together); for the random changes also the agreement between two
changed views (``label_summary.py``: statistics and the markdown report; ``view_changes.py``: the
changes).

    python benchmarks/label_consistency.py --models models/build --out docs/calibration
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import platform
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from label_summary import fmt_ci, headline, markdown, summarise
from view_changes import CHANGES, RANDOM_CHANGES, apply_change

log = logging.getLogger("label_consistency")

WORKING_SIDE = 512


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # the installed package that ships it
    file: str  # path inside the package folder
    group: str  # "colour" (natural colour photos) or "grayscale" (converted to RGB)
    scene: str  # photos of one scene are resampled together by the bootstrap
    source: str  # author and licence, as the package states them


PHOTOS = (
    Photo("astronaut", "skimage", "data/astronaut.png", "colour", "astronaut",
          "NASA (Eileen Collins); public domain"),
    Photo("chelsea", "skimage", "data/chelsea.png", "colour", "chelsea", "Stefan van der Walt; CC0"),
    Photo("coffee", "skimage", "data/coffee.png", "colour", "coffee", "Rachel Michetti; CC0"),
    Photo("rocket", "skimage", "data/rocket.jpg", "colour", "rocket", "SpaceX (DSCOVR launch); public domain"),
    Photo("motorcycle_left", "skimage", "data/motorcycle_left.png", "colour", "motorcycle",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), as shipped by scikit-image"),
    Photo("motorcycle_right", "skimage", "data/motorcycle_right.png", "colour", "motorcycle",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), as shipped by scikit-image"),
    Photo("china", "sklearn", "datasets/images/china.jpg", "colour", "china",
          "danielbuechele (Flickr); CC BY 2.0"),
    Photo("flower", "sklearn", "datasets/images/flower.jpg", "colour", "flower", "vultilion (Flickr); CC BY 2.0"),
    Photo("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "colour", "grace_hopper",
          "US Navy photograph; public domain"),
    Photo("camera", "skimage", "data/camera.png", "grayscale", "camera", "Lav Varshney; CC0"),
    Photo("coins", "skimage", "data/coins.png", "grayscale", "coins", "Brooklyn Museum; no known copyright"),
    Photo("clock_motion", "skimage", "data/clock_motion.png", "grayscale", "clock",
          "Stefan van der Walt; public domain (motion-blurred on purpose)"),
    Photo("brick", "skimage", "data/brick.png", "grayscale", "brick", "CC0Textures; CC0 (texture close-up)"),
    Photo("grass", "skimage", "data/grass.png", "grayscale", "grass", "linolafett (DeviantArt); CC0 (texture)"),
    Photo("gravel", "skimage", "data/gravel.png", "grayscale", "gravel", "CC0Textures; CC0 (texture close-up)"),
)

EXCLUDED = {
    "skimage hubble_deep_field.jpg": "astronomical image (galaxies on black): no ImageNet class, not a "
                                     "scene a retrieval system sees",
    "skimage moon.png": "astronomical (grayscale)",
    "skimage retina.jpg, microaneurysms.png": "medical fundus images",
    "skimage ihc.png, cell.png": "microscopy",
    "skimage page.png, text.png": "scanned document / text",
    "skimage color.png, phantom.png, chessboard_*.png, logo.png, horse.png": "synthetic drawings",
    "skimage lfw_subset.npy, multipage*.tif, no_time_for_that_tiny.gif": "tiny test fixtures (25 px faces, 15 px pages)",
    "matplotlib Minduka_Present_Blue_Pack.png, logo2.png": "clip art / logo",
    "mahotas 1.4.19 demos (DepartmentStore.jpg, luispedro.jpg, lena.jpg)": "checked with pip download: "
        "no licence stated for the photos (lena.jpg is not freely licensed); not used",
}


def photo_path(photo: Photo) -> Path | None:
    """Where the installed package keeps ``photo`` (None if the package or file is absent)."""
    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / photo.file
    return p if p.is_file() else None


def load_photo(path, max_side: int = WORKING_SIDE):
    """The photo as RGB (grayscale converted), longer side reduced to ``max_side`` (Lanczos)."""
    from PIL import Image

    from dscref.features import load_image

    img = load_image(path)
    w, h = img.size
    if max(w, h) > max_side:
        f = max_side / max(w, h)
        img = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.LANCZOS)
    return img


def available_photos(groups=("colour", "grayscale")) -> list[tuple[Photo, Path]]:
    out = []
    for p in PHOTOS:
        if p.group not in groups:
            continue
        path = photo_path(p)
        if path is None:
            log.warning("photo %s skipped: %s/%s not installed", p.name, p.package, p.file)
        else:
            out.append((p, path))
    return out


def view_set(img, name: str, seed: int, draws: int, changes=None) -> list[tuple[str, str, int, object]]:
    """(change, level, draw, image) for every change and level; one seeded Generator per view,
    keyed by (seed, photo name, change, level, draw), so a view never depends on the others."""
    out = []
    for ci, change in enumerate(CHANGES):
        if changes is not None and change not in changes:
            continue
        for li, level in enumerate(CHANGES[change]):
            for d in range(draws if change in RANDOM_CHANGES else 1):
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), ci, li, d])
                out.append((change, level, d, apply_change(img, change, level, rng)))
    return out


def compare(orig_top5, view_top5, orig_desc, view_desc) -> dict:
    """The four numbers of one (original, changed view) pair."""
    top1 = int(orig_top5[0])
    return {"top1_to_top1": bool(int(view_top5[0]) == top1),
            "top1_in_top5": bool(top1 in set(int(v) for v in view_top5)),
            "top5_overlap": len(set(int(v) for v in orig_top5) & set(int(v) for v in view_top5)),
            "gem_cos": round(float(np.dot(orig_desc, view_desc)), 6)}


def measure_photo(classifier, extractor, img, views) -> dict:
    """Top-5 and GeM descriptor of ``img`` and of each view, and their comparisons."""
    images = [img] + [v[3] for v in views]
    labels, probs = classifier.topk(images, k=5)
    desc = extractor.extract(images)
    rows = []
    for i, (change, level, draw, view) in enumerate(views, start=1):
        rows.append({"change": change, "level": level, "draw": draw, "size": list(view.size),
                     "top5": labels[i].tolist(), **compare(labels[0], labels[i], desc[0], desc[i])})
    return {"top5": labels[0].tolist(), "top5_probs": [round(float(p), 5) for p in probs[0]],
            "size": list(img.size), "views": rows, "_desc": desc[0]}


def measure(classifier, extractor, photos, *, seed: int = 0, draws: int = 6, changes=None,
            progress: bool = False) -> list[dict]:
    """Per-photo results for ``photos``, a list of (Photo, path)."""
    from tqdm.auto import tqdm

    out = []
    for photo, path in tqdm(photos, disable=not progress, desc="photos"):
        img = load_photo(path)
        views = view_set(img, photo.name, seed, draws, changes)
        res = measure_photo(classifier, extractor, img, views)
        log.info("%s: top-1 %d (p=%.2f), %d views", photo.name, res["top5"][0], res["top5_probs"][0], len(views))
        out.append({"name": photo.name, "group": photo.group, "scene": photo.scene, **res})
    return out


def pairs_of_originals(results) -> dict:
    """The stereo pair (two real viewpoints of one scene) and unrelated pairs of originals."""
    by = {r["name"]: r for r in results}
    out = {}
    if "motorcycle_left" in by and "motorcycle_right" in by:
        a, b = by["motorcycle_left"], by["motorcycle_right"]
        out["stereo_pair"] = {"photos": ["motorcycle_left", "motorcycle_right"],
                              **compare(a["top5"], b["top5"], a["_desc"], b["_desc"])}
    col = [r for r in results if r["group"] == "colour"]
    cos = [float(np.dot(a["_desc"], b["_desc"])) for i, a in enumerate(col) for b in col[i + 1:]
           if a["scene"] != b["scene"]]
    if cos:
        out["unrelated_colour_gem_cos"] = {"mean": float(np.mean(cos)), "min": float(np.min(cos)),
                                           "max": float(np.max(cos)), "n_pairs": len(cos)}
    return out


def to_json(doc: dict) -> str:
    """``doc`` as indented JSON, but one line per changed view (about 1,300 of them)."""
    head = json.dumps({k: v for k, v in doc.items() if k != "per_image"}, indent=1)
    rows = []
    for r in doc["per_image"]:
        meta = json.dumps({k: v for k, v in r.items() if k != "views"})
        views = ",\n    ".join(json.dumps(v) for v in r["views"])
        rows.append(f'{meta[:-1]}, "views": [\n    {views}\n  ]}}')
    return f'{head[:-2]},\n "per_image": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n"


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("dscref", "numpy", "scipy", "pillow", "onnxruntime", "scikit-image", "scikit-learn", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def run(models, *, seed: int = 0, draws: int = 6, n_boot: int = 2000, threads=None, changes=None,
        photos=None, progress: bool = False) -> dict:
    """Load the models from ``models``, measure, summarise; the whole JSON document."""
    from dscref.features import Classifier, Extractor

    models = Path(models)
    manifest = models / "manifest.json"
    clf = Classifier(models / "effnet-lite0-classifier.onnx", size=224, manifest=manifest, threads=threads)
    ext = Extractor(models / "effnet-lite0-gem.onnx", size=362, manifest=manifest, threads=threads)
    photos = available_photos() if photos is None else photos
    t0 = time.perf_counter()
    results = measure(clf, ext, photos, seed=seed, draws=draws, changes=changes, progress=progress)
    pairs = pairs_of_originals(results)
    for r in results:
        del r["_desc"]
    entries = json.loads(manifest.read_text())["models"]
    summary = summarise(results, seed=seed, n_boot=n_boot)
    return {
        "schema": "dscref-label-consistency/1",
        "params": {"seed": seed, "draws": draws, "n_boot": n_boot, "working_side": WORKING_SIDE,
                   "classifier": {"size": clf.size, "mode": clf.mode}, "extractor": {"size": ext.size},
                   "changes": CHANGES, "random_changes": sorted(RANDOM_CHANGES)},
        "versions": versions(),
        "models": {kind: {"file": m.path.name, "sha256": m.sha256,
                          "manifest_source": entries.get(m.path.name, {}).get("source")}
                   for kind, m in (("classifier", clf), ("extractor", ext))},
        "photos": [{"name": p.name, "package": p.package, "file": p.file, "group": p.group, "scene": p.scene,
                    "source": p.source} for p, _ in photos],
        "excluded": EXCLUDED,
        "summary": summary,
        "headline": headline(summary),
        "pairs": pairs,
        "seconds": round(time.perf_counter() - t0, 1),
        "per_image": results,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="models/build", help="folder with the exported ONNX models and manifest.json")
    ap.add_argument("--out", default="docs/calibration", help="folder for label_consistency.json and .md")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=6, help="seeded draws of each random change per photo")
    ap.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    ap.add_argument("--photos", default=None, help="comma-separated photo names (default: all available)")
    ap.add_argument("--changes", default=None, help=f"comma-separated changes (default: all of {', '.join(CHANGES)})")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.draws < 1 or args.n_boot < 1:
        ap.error(f"--draws={args.draws} and --n-boot={args.n_boot} must be >= 1")
    photos = available_photos()
    if args.photos:
        names = args.photos.split(",")
        unknown = sorted(set(names) - {p.name for p, _ in photos})
        if unknown:
            ap.error(f"--photos: {unknown} not among the available photos {[p.name for p, _ in photos]}")
        photos = [(p, path) for p, path in photos if p.name in names]
    changes = args.changes.split(",") if args.changes else None
    if changes and set(changes) - set(CHANGES):
        ap.error(f"--changes: {sorted(set(changes) - set(CHANGES))} not among {list(CHANGES)}")

    from dscref._files import atomic_write_text

    try:
        doc = run(args.models, seed=args.seed, draws=args.draws, n_boot=args.n_boot, threads=args.threads,
                  changes=changes, photos=photos, progress=True)
    except (OSError, ValueError) as exc:  # ModelError and ImageError are ValueErrors
        ap.exit(1, f"label_consistency: error: {exc}\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "label_consistency.json", to_json(doc))
    atomic_write_text(out / "label_consistency.md", markdown(doc))
    for group, levels in doc["headline"].items():
        for level, h in levels.items():
            o, bv = h["original_to_view"], h["between_views"]
            print(f"{group:9s} combined/{level:6s} original->view: top-1->top-1 {fmt_ci(o['top1_to_top1'])}, "
                  f"top-1->top-5 {fmt_ci(o['top1_in_top5'])}"
                  + (f"; between views: {fmt_ci(bv['top1_to_top1'])}, {fmt_ci(bv['top1_in_top5'])}" if bv else "")
                  + f"; GeM cos {fmt_ci(h['gem_cos'])}")
    print(f"wrote {out / 'label_consistency.json'} and .md ({doc['seconds']} s)")
    return doc


if __name__ == "__main__":
    main()
