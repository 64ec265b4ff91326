"""The ``features:PATH`` file format (``dscref reproduce --data features:PATH``): real features,
classifier labels and ground truth, in plain arrays that load without pickle.

A features file is an ``.npz`` (:func:`save_features_file`, or ``numpy.savez``) or a folder of
``.npy`` files (memory-mapped on load) with these members:

================  ===============  ==========================================================
name              shape            meaning
================  ===============  ==========================================================
xb                (n, d) float     database descriptors
labels_b          (n,) int         each database item's classifier top-1 label (its partition)
xq                (nq, d) float    query descriptors
ranking_q         (nq, r) int      each query's classifier labels, best first (r >= 5);
                                   ``topk_q`` is accepted as its name too
gnd_ok            (n_ok,) int      positives of every query, concatenated (database ids)
gnd_ok_offsets    (nq + 1,) int    query q's positives are ``gnd_ok[off[q]:off[q + 1]]``
gnd_junk          (n_junk,) int    junk images of every query, concatenated
gnd_junk_offsets  (nq + 1,) int    likewise
================  ===============  ==========================================================

From the output of ``dscref extract`` (``features.npy``, ``labels.npy``, ``names.txt``), one
step makes a features file: :func:`features_file_from_extract` (command line: ``dscref features
DB_DIR QUERY_DIR --gnd GND.json --out data.npz``), with the ground truth given by image names.

In a folder, ``gnd.json`` (a list of ``{"ok": [...], "junk": [...]}``, one per query) may
replace the four ``gnd_*`` arrays. Every member must be a plain numeric array: files are read
with ``allow_pickle=False``, and a member that would need pickle (an object array, such as the
``gnd`` object array earlier versions accepted) raises :class:`~dscref.errors.UnsafeFileError`
naming the file and the member -- a crafted file cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._files import atomic_open
from ..errors import UnsafeFileError

__all__ = ["save_features_file", "load_features_file", "features_file_from_extract", "pack_gnd", "unpack_gnd"]

_GND_ARRAYS = ("gnd_ok", "gnd_ok_offsets", "gnd_junk", "gnd_junk_offsets")


def pack_gnd(gnd) -> dict:
    """Ground truth ``[{"ok": ids, "junk": ids}, ...]`` -> the four flat int64 ``gnd_*`` arrays."""
    out = {}
    gnd = list(gnd)
    for key in ("ok", "junk"):
        parts = []
        for q, g in enumerate(gnd):
            if not isinstance(g, dict) or "ok" not in g:
                raise ValueError(f"gnd[{q}] must be a dict with 'ok' (and optionally 'junk') ids, got {g!r:.80}")
            parts.append(np.asarray(g.get(key, []), dtype=np.int64).reshape(-1))
        sizes = np.array([p.size for p in parts], dtype=np.int64)
        out[f"gnd_{key}"] = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        out[f"gnd_{key}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return out


def unpack_gnd(gnd_ok, gnd_ok_offsets, gnd_junk, gnd_junk_offsets, where: str = "gnd") -> list:
    """Inverse of :func:`pack_gnd`; raises ValueError naming ``where`` on inconsistent arrays."""
    lists = {}
    for key, flat, off in (("ok", gnd_ok, gnd_ok_offsets), ("junk", gnd_junk, gnd_junk_offsets)):
        flat, off = np.asarray(flat), np.asarray(off)
        if flat.ndim != 1 or flat.dtype.kind not in "iu" or off.ndim != 1 or off.dtype.kind not in "iu":
            raise ValueError(f"{where}: gnd_{key} and gnd_{key}_offsets must be 1-D integer arrays, got "
                             f"{flat.dtype} {flat.shape} and {off.dtype} {off.shape}")
        off = off.astype(np.int64)
        if off.size < 1 or off[0] != 0 or off[-1] != flat.size or np.any(np.diff(off) < 0):
            raise ValueError(f"{where}: gnd_{key}_offsets must rise from 0 to len(gnd_{key})={flat.size}, "
                             f"got {off[:5].tolist()}{'...' if off.size > 5 else ''} ({off.size} entries)")
        flat = flat.astype(np.int64)
        lists[key] = [flat[off[q]:off[q + 1]] for q in range(off.size - 1)]
    if len(lists["ok"]) != len(lists["junk"]):
        raise ValueError(f"{where}: gnd_ok_offsets describes {len(lists['ok'])} queries, gnd_junk_offsets "
                         f"{len(lists['junk'])}")
    return [{"ok": ok, "junk": junk} for ok, junk in zip(lists["ok"], lists["junk"])]


def save_features_file(path, xb, labels_b, xq, ranking_q, gnd) -> Path:
    """Write a features file (``.npz``, atomically) that :func:`load_features_file` reads.

    ``gnd`` is a list of ``{"ok": ids, "junk": ids}`` (one per query), stored as flat arrays.
    """
    arrays = {"xb": np.asarray(xb, dtype=np.float32), "labels_b": np.asarray(labels_b, dtype=np.int64),
              "xq": np.asarray(xq, dtype=np.float32), "ranking_q": np.asarray(ranking_q, dtype=np.int64),
              **pack_gnd(gnd)}
    path = Path(path)
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path


def _unsafe(where: str, member: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"features file {where!r}: member {member!r} is an object array, which only pickle can load; "
        f"dscref never unpickles a data file. Store ground truth as the plain arrays gnd_ok, "
        f"gnd_ok_offsets, gnd_junk, gnd_junk_offsets (see dscref.features_file). If you trust this "
        f"file, convert it once: z = numpy.load(PATH, allow_pickle=True); "
        f"dscref.features_file.save_features_file(NEW, z['xb'], z['labels_b'], z['xq'], "
        f"z['ranking_q'], list(z['gnd']))")


def _load_member(load, where: str, member: str):
    try:
        a = load()
    except ValueError as exc:
        msg = str(exc).lower()
        if "pickle" in msg or "object" in msg:
            raise _unsafe(where, member) from None
        raise ValueError(f"features file {where!r}: member {member!r} is not a valid array: {exc}") from None
    if not isinstance(a, np.ndarray) or a.dtype.hasobject:
        raise _unsafe(where, member)
    return a


def _read_arrays(p: Path) -> tuple[dict, list | None]:
    where = str(p)
    if p.is_dir():
        arrays = {f.stem: _load_member(lambda f=f: np.load(f, mmap_mode="r", allow_pickle=False), str(f), f.stem)
                  for f in sorted(p.glob("*.npy"))}
        gnd_file = p / "gnd.json"
        if gnd_file.exists():
            try:
                return arrays, json.loads(gnd_file.read_text())
            except ValueError as exc:
                raise ValueError(f"{gnd_file}: not valid JSON: {exc}") from None
        return arrays, None
    try:
        z = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeFileError(f"features file {where!r} is a pickle, not an .npz of plain arrays; "
                                  f"dscref never unpickles a data file") from None
        raise ValueError(f"features file {where!r} is not an .npz or .npy file: {exc}") from None
    except OSError as exc:
        raise ValueError(f"features file {where!r} cannot be read: {exc}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"features file {where!r} holds a single array; expected an .npz (or a folder of "
                         f".npy files) with xb, labels_b, xq, ranking_q and gnd_* members")
    with z:
        return {k: _load_member(lambda k=k: z[k], where, k) for k in z.files}, None


def load_features_file(path) -> dict:
    """Read a features file (see the module docstring), without pickle.

    Returns
    -------
    dict with ``xb`` (n, d) float32, ``labels_b`` (n,) int64, ``xq`` (nq, d) float32,
    ``ranking_q`` (nq, r) int64 and ``gnd`` (list of nq ``{"ok", "junk"}`` int64 arrays).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    UnsafeFileError
        A member (or the file) would need pickle to load.
    ValueError
        A member is missing, of the wrong shape or kind, or the ground truth is inconsistent.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"features path {p} does not exist")
    arrays, gnd = _read_arrays(p)
    if gnd is None and all(k in arrays for k in _GND_ARRAYS):
        gnd = unpack_gnd(*(arrays.pop(k) for k in _GND_ARRAYS), where=str(p))
    rank = arrays.get("ranking_q", arrays.get("topk_q"))
    missing = [k for k in ("xb", "labels_b", "xq") if k not in arrays]
    missing += [] if rank is not None else ["ranking_q"]
    missing += [] if gnd is not None else ["gnd_ok, gnd_ok_offsets, gnd_junk, gnd_junk_offsets (or gnd.json)"]
    if missing:
        raise ValueError(f"{p}: needs xb, labels_b, xq, ranking_q (or topk_q) and the gnd_* arrays; "
                         f"missing {missing}")
    for k, a in (("xb", arrays["xb"]), ("labels_b", arrays["labels_b"]), ("xq", arrays["xq"]), ("ranking_q", rank)):
        if a.dtype.kind not in ("biuf" if k in ("xb", "xq") else "iu"):
            raise ValueError(f"{p}: {k} has dtype {a.dtype}, expected {'numbers' if k in ('xb', 'xq') else 'integers'}")
    xb, xq = arrays["xb"], arrays["xq"]
    labels, rank = np.asarray(arrays["labels_b"], dtype=np.int64), np.asarray(rank, dtype=np.int64)
    if xb.ndim != 2 or xq.ndim != 2 or xq.shape[1] != xb.shape[1]:
        raise ValueError(f"{p}: xb {xb.shape} and xq {xq.shape} must be 2-D with the same width")
    if labels.shape != (xb.shape[0],) or rank.ndim != 2 or rank.shape[0] != xq.shape[0]:
        raise ValueError(f"{p}: labels_b {labels.shape} must be ({xb.shape[0]},) and ranking_q {rank.shape} "
                         f"({xq.shape[0]}, r)")
    if not isinstance(gnd, list) or len(gnd) != xq.shape[0]:
        raise ValueError(f"{p}: ground truth must hold one entry per query ({xq.shape[0]}), got "
                         f"{len(gnd) if isinstance(gnd, list) else type(gnd).__name__}")
    out = []
    for q, g in enumerate(gnd):
        if not isinstance(g, dict) or "ok" not in g:
            raise ValueError(f"{p}: ground truth of query {q} must be {{'ok': ids, 'junk': ids}}")
        e = {k: np.asarray(g.get(k, []), dtype=np.int64).reshape(-1) for k in ("ok", "junk")}
        for k, ids in e.items():
            if ids.size and (ids.min() < 0 or ids.max() >= xb.shape[0]):
                raise ValueError(f"{p}: query {q} '{k}' holds ids outside [0, {xb.shape[0]})")
        out.append(e)
    return {"xb": np.asarray(xb, dtype=np.float32), "labels_b": labels, "xq": np.asarray(xq, dtype=np.float32),
            "ranking_q": rank, "gnd": out}


def _extract_dir(folder: Path, what: str) -> tuple[np.ndarray, np.ndarray, list]:
    """features (n, d), labels (n, k) and names of one ``dscref extract`` output folder."""
    folder = Path(folder)
    arrays = {}
    for name in ("features", "labels"):
        f = folder / f"{name}.npy"
        if not f.is_file():
            raise FileNotFoundError(f"{what} {folder}: no {name}.npy (run dscref extract with "
                                    f"--extractor and --classifier on the {what} images)")
        try:
            arrays[name] = np.load(f, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{f}: not a plain .npy array: {exc}") from None
    x, lab = arrays["features"], arrays["labels"]
    if x.ndim != 2 or lab.ndim != 2 or lab.shape[0] != x.shape[0] or lab.dtype.kind not in "iu":
        raise ValueError(f"{what} {folder}: features.npy {x.shape} and labels.npy {lab.shape} {lab.dtype} "
                         f"must be (n, d) and (n, k) integer with the same n")
    names_file = folder / "names.txt"
    names = names_file.read_text().splitlines() if names_file.is_file() else []
    if len(names) != x.shape[0]:
        raise ValueError(f"{what} {folder}: names.txt lists {len(names)} images for {x.shape[0]} feature rows")
    return x, lab, names


def features_file_from_extract(database_dir, query_dir, gnd, out) -> Path:
    """Turn two ``dscref extract`` output folders and a ground truth into a features file.

    Parameters
    ----------
    database_dir, query_dir : path
        Folders written by ``dscref extract --extractor ... --classifier ...`` for the database
        images and the query images (``features.npy``, ``labels.npy``, ``names.txt``). Each
        database image's partition is its top-1 label; each query's head its label ranking.
    gnd : path or list or dict
        The relevant images of every query, by image name (as in ``names.txt``) or database row:
        a JSON file or object that is either a list (query order of ``names.txt``) or a dict keyed
        by query name, each entry ``{"ok": [...], "junk": [...]}`` (``"junk"`` optional).
    out : path
        The ``.npz`` to write (atomically).

    Returns
    -------
    pathlib.Path : ``out``, ready for ``dscref reproduce --data features:OUT``.
    """
    xb, lab_b, names_b = _extract_dir(database_dir, "database")
    xq, rank_q, names_q = _extract_dir(query_dir, "queries")
    if xq.shape[1] != xb.shape[1]:
        raise ValueError(f"query features have d={xq.shape[1]}, database features d={xb.shape[1]}")
    where = "gnd"
    if isinstance(gnd, (str, Path)):
        where = str(gnd)
        try:
            gnd = json.loads(Path(gnd).read_text())
        except ValueError as exc:
            raise ValueError(f"{where}: not valid JSON: {exc}") from None
    if isinstance(gnd, dict):
        missing = [q for q in names_q if q not in gnd]
        if missing:
            raise ValueError(f"{where}: no ground truth for query {missing[0]!r} ({len(missing)} missing)")
        gnd = [gnd[q] for q in names_q]
    if not isinstance(gnd, list) or len(gnd) != len(names_q):
        raise ValueError(f"{where}: needs one entry per query ({len(names_q)}), got "
                         f"{len(gnd) if isinstance(gnd, list) else type(gnd).__name__}")
    row = {n: i for i, n in enumerate(names_b)}

    def ids(values, q, key):
        if not isinstance(values, list):
            raise ValueError(f"{where}: query {names_q[q]!r} {key!r} must be a list, got {type(values).__name__}")
        out_ids = []
        for v in values:
            if isinstance(v, str):
                if v not in row:
                    raise ValueError(f"{where}: query {names_q[q]!r} {key!r} names {v!r}, not a database image")
                out_ids.append(row[v])
            elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names_b):
                out_ids.append(v)
            else:
                raise ValueError(f"{where}: query {names_q[q]!r} {key!r} holds {v!r}: expected an image "
                                 f"name or a database row in [0, {len(names_b)})")
        return out_ids

    entries = []
    for q, g in enumerate(gnd):
        if not isinstance(g, dict) or "ok" not in g:
            raise ValueError(f"{where}: the entry of query {names_q[q]!r} must be {{'ok': [...], 'junk': [...]}}")
        entries.append({"ok": ids(g["ok"], q, "ok"), "junk": ids(g.get("junk", []), q, "junk")})
    return save_features_file(out, xb, lab_b[:, 0], xq, rank_q, entries)
