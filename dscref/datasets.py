"""Real image datasets and feature files.

* :func:`load_revisited` — revisited Oxford/Paris (``roxford5k``, ``rparis6k``) in the revisitop
  layout: ``<root>/<name>/jpg/<id>.jpg`` and ``<root>/<name>/gnd_<name>.pkl`` holding ``imlist``,
  ``qimlist`` and ``gnd`` (per query ``bbx``, ``easy``, ``hard``, ``junk``). Queries are cropped
  to their bounding box as revisitop/cnnimageretrieval do. The pickle is read by a restricted
  unpickler that builds only plain containers and NumPy arrays (never ``pickle.load``).
* :func:`load_holidays` — INRIA Holidays: ``<root>/jpg/*.jpg`` (or ``<root>/*.jpg``) named
  ``NNNNNN.jpg``; an image group is ``int(name) // 100`` and its query is the first image of the
  group (``NNNN00.jpg``), the other images of the group are its positives.
* :func:`list_images` — a plain folder of images.
* :func:`extract_images` / :func:`cached_features` — run a :class:`~dscref.features.Extractor`
  or :class:`~dscref.features.Classifier` over many images (defined in
  :mod:`dscref.features.extraction`, importable from here).

Ground truth follows ``metrics.compute_map``'s convention: one ``{"ok": ids, "junk": ids}`` dict
per query with int64 database ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._safe_pickle import safe_load
from .features.extraction import cached_features, extract_images  # noqa: F401  (public here too)
from .synthetic import SemanticDataset, make_semantic_dataset  # noqa: F401  (re-exported)

__all__ = [
    "make_semantic_dataset",
    "SemanticDataset",
    "IMAGE_EXTENSIONS",
    "list_images",
    "RevisitedDataset",
    "load_revisited",
    "HolidaysDataset",
    "load_holidays",
    "extract_images",
    "cached_features",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def list_images(folder, recursive: bool = False) -> list[Path]:
    """Image files (by extension, case-insensitive) in ``folder``, sorted by relative path.

    Raises
    ------
    FileNotFoundError / NotADirectoryError
        ``folder`` does not exist or is a file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is not a folder")
    it = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


# --------------------------------------------------------------------------- revisited Oxford/Paris
_SETTINGS = {
    # setting: (positives, junk) as unions of the gnd lists (revisitop evaluate.py)
    "easy": (("easy",), ("junk", "hard")),
    "medium": (("easy", "hard"), ("junk",)),
    "hard": (("hard",), ("junk", "easy")),
}


@dataclass
class RevisitedDataset:
    """A revisited Oxford/Paris dataset.

    Attributes
    ----------
    name : str
    root : Path
        ``<root>/<name>``.
    images : list of Path
        Database images, in ``imlist`` order (database id = position).
    queries : list of Path
        Query images, in ``qimlist`` order (uncropped files).
    bbx : ndarray of shape (nq, 4), float64
        Query boxes ``(x1, y1, x2, y2)`` in pixels of the original image.
    gnd : list of dict
        Per query ``easy``, ``hard``, ``junk``: int64 arrays of database ids.
    """

    name: str
    root: Path
    images: list
    queries: list
    bbx: np.ndarray
    gnd: list = field(repr=False)

    def ground_truth(self, setting: str = "medium") -> list[dict]:
        """``[{"ok": ids, "junk": ids}]`` per query for ``setting`` in easy / medium / hard.

        Easy: ok = easy, junk = junk + hard. Medium: ok = easy + hard, junk = junk.
        Hard: ok = hard, junk = junk + easy (revisitop's protocol).
        """
        if setting not in _SETTINGS:
            raise ValueError(f"setting={setting!r} is not one of {sorted(_SETTINGS)}")
        ok_keys, junk_keys = _SETTINGS[setting]
        out = []
        for g in self.gnd:
            ok = np.concatenate([g[k] for k in ok_keys]).astype(np.int64)
            junk = np.concatenate([g[k] for k in junk_keys]).astype(np.int64)
            out.append({"ok": ok, "junk": junk})
        return out

    def query_image(self, i: int):
        """Query ``i`` cropped to its bounding box (a PIL RGB image).

        The crop uses Pillow's ``Image.crop`` on the box as stored (Pillow rounds the
        coordinates), as revisitop's and cnnimageretrieval's loaders do.
        """
        from .features.image import load_image

        if not 0 <= i < len(self.queries):
            raise IndexError(f"query index {i} out of range [0, {len(self.queries)})")
        img = load_image(self.queries[i])
        x1, y1, x2, y2 = (float(v) for v in self.bbx[i])
        return img.crop((x1, y1, x2, y2))

    def query_images(self) -> list:
        """All cropped queries (PIL images)."""
        return [self.query_image(i) for i in range(len(self.queries))]


def load_revisited(root, name: str = "roxford5k", check_files: bool = True) -> RevisitedDataset:
    """Read a revisited Oxford/Paris dataset (``<root>/<name>/gnd_<name>.pkl`` + ``jpg/``).

    Parameters
    ----------
    root : str or Path
        Folder that contains ``<name>/``.
    name : str
        ``roxford5k``, ``rparis6k`` or any dataset in the same layout.
    check_files : bool
        Verify that every listed image exists (raises naming the first missing ones).

    Raises
    ------
    FileNotFoundError
        Missing ground-truth pickle or images.
    ValueError
        The pickle lacks ``imlist`` / ``qimlist`` / ``gnd`` or has inconsistent lengths/ids.
    UnsafeFileError
        The pickle needs anything but plain containers and NumPy arrays. The file is read with
        a restricted unpickler (:mod:`dscref._safe_pickle`) that never runs code from it.
    """
    base = Path(root) / name
    gpath = base / f"gnd_{name}.pkl"
    if not gpath.is_file():
        raise FileNotFoundError(f"ground truth {str(gpath)!r} does not exist")
    cfg = safe_load(gpath)  # restricted: plain containers and NumPy arrays only, never code
    missing = [k for k in ("imlist", "qimlist", "gnd") if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise ValueError(f"ground truth {str(gpath)!r} lacks {missing}")
    try:
        imlist, qimlist, raw = list(cfg["imlist"]), list(cfg["qimlist"]), list(cfg["gnd"])
    except TypeError as exc:
        raise ValueError(f"ground truth {str(gpath)!r}: imlist, qimlist and gnd must be lists ({exc})") from None
    if len(raw) != len(qimlist):
        raise ValueError(f"{gpath}: {len(qimlist)} queries but {len(raw)} gnd entries")
    n = len(imlist)
    gnd, bbx = [], np.zeros((len(raw), 4))
    for q, g in enumerate(raw):
        if not isinstance(g, dict):
            raise ValueError(f"{gpath}: gnd entry {q} is a {type(g).__name__}, not a dict")
        entry = {}
        for k in ("easy", "hard", "junk"):
            ids = np.asarray(g.get(k, []), dtype=np.int64).reshape(-1)
            if ids.size and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(f"{gpath}: query {q} '{k}' holds id {int(ids.max())} outside [0, {n})")
            entry[k] = ids
        gnd.append(entry)
        if "bbx" in g and g["bbx"] is not None:
            bbx[q] = np.asarray(g["bbx"], dtype=np.float64).reshape(4)
        else:
            bbx[q] = np.nan
    jpg = base / "jpg"
    images = [jpg / f"{s}.jpg" for s in imlist]
    queries = [jpg / f"{s}.jpg" for s in qimlist]
    if check_files:
        absent = [str(p) for p in images + queries if not p.is_file()]
        if absent:
            raise FileNotFoundError(f"{len(absent)} image(s) of {name} are missing, e.g. {absent[:3]}")
    ds = RevisitedDataset(name, base, images, queries, bbx, gnd)
    log.info("loaded %s: %d database images, %d queries", name, n, len(queries))
    return ds


# --------------------------------------------------------------------------- Holidays
@dataclass
class HolidaysDataset:
    """INRIA Holidays: every image is in the database; queries are the first image of each group.

    Attributes
    ----------
    root : Path
    images : list of Path
        Sorted by name (database id = position).
    query_ids : ndarray of shape (nq,), int64
        Database ids of the queries.
    gnd : list of dict
        Per query ``{"ok": other images of its group, "junk": [the query itself]}`` (the query
        is in the database, and the usual protocol ignores it in its own ranking).
    """

    root: Path
    images: list
    query_ids: np.ndarray
    gnd: list = field(repr=False)

    @property
    def queries(self) -> list:
        return [self.images[i] for i in self.query_ids]


def load_holidays(root) -> HolidaysDataset:
    """Read INRIA Holidays from ``<root>/jpg/`` (or ``<root>/`` itself).

    Images are named by a 6-digit number; ``number // 100`` is the group (scene) and the
    group's first image, ``NNNN00.jpg``, is its query (500 groups, 1491 images in the original
    set). Files not named by a number raise ``ValueError``. Note that some Holidays images are
    stored rotated (no EXIF flag); the commonly used "rotated" fix is not applied here.
    """
    root = Path(root)
    folder = root / "jpg" if (root / "jpg").is_dir() else root
    files = [p for p in list_images(folder) if p.suffix.lower() in (".jpg", ".jpeg")]
    if not files:
        raise FileNotFoundError(f"no .jpg images in {str(folder)!r}")
    numbers = []
    for p in files:
        if not p.stem.isdigit():
            raise ValueError(f"Holidays image {str(p)!r} is not named by a number (e.g. 100000.jpg)")
        numbers.append(int(p.stem))
    groups: dict[int, list[int]] = {}
    for i, num in enumerate(numbers):
        groups.setdefault(num // 100, []).append(i)
    query_ids, gnd = [], []
    for g in sorted(groups):
        members = sorted(groups[g], key=lambda i: numbers[i])
        q = members[0]
        if numbers[q] % 100 != 0:
            log.warning("Holidays group %d has no NNNN00 image; using %s as its query", g, files[q].name)
        query_ids.append(q)
        gnd.append({"ok": np.asarray(members[1:], np.int64), "junk": np.asarray([q], np.int64)})
    log.info("loaded Holidays: %d images, %d queries", len(files), len(query_ids))
    return HolidaysDataset(root, files, np.asarray(query_ids, np.int64), gnd)
