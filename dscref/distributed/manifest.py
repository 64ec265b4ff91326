"""The manifest of a sharded DSC index (``manifest.json``): reading and validating it.

:func:`dscref.distributed.build_semantic_index_dask` writes the manifest last;
:class:`dscref.distributed.ShardedSearcher` reads it with :func:`read_manifest`, which checks
every field it relies on -- presence, JSON type, range, and agreement with the other fields
(``owner`` vs ``shards[i].partitions``, the item counts vs ``ntotal``) -- and checks the shard
files against their entries (:func:`check_shard_files`). Any fault raises
:class:`~dscref.errors.IndexFormatError` naming the manifest and the field.

Shard files (and ``sample_file``) must be relative names that resolve inside the index
directory: absolute paths, ``..`` components and symbolic links leading out of the directory
are refused, so a manifest cannot make the searcher open an arbitrary file. Informational
fields (``seed``, ``sampling``, ``timings``, ...) are optional, but typed when present.

Versions: 2 names the number of lists ``n_lists``; version 1 (written before the number of lists
got one name everywhere) called it ``n_labels``. Both are read; a version-1 manifest is returned
with the field under its new name, so readers see ``n_lists`` only.
"""

from __future__ import annotations

import json
import numbers
import zlib
from pathlib import Path

import numpy as np

from ..errors import IndexFormatError

__all__ = ["MANIFEST_NAME", "FORMAT", "VERSION", "READ_VERSIONS", "read_manifest", "check_manifest",
           "check_shard_files", "file_crc32"]

MANIFEST_NAME = "manifest.json"
FORMAT = "dscref-sharded-dsc"
#: The version written.
VERSION = 2
#: The versions read, and the name each gives the number of lists.
READ_VERSIONS = {1: "n_labels", 2: "n_lists"}

_MISSING = object()


def file_crc32(path: Path) -> int:
    """zlib.crc32 of a whole file, read in 16 MiB blocks."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return crc


def read_manifest(path) -> tuple[dict, Path, list[Path]]:
    """Read and validate the manifest at ``path`` (the index directory or the file itself).

    Returns ``(manifest, directory, shard file paths)``, the paths resolved and inside the
    directory. Raises IndexFormatError on any problem.
    """
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    where = str(p)
    if not p.is_file():  # also keeps a FIFO from blocking the read
        raise IndexFormatError(f"no sharded index manifest at {where!r}" if not p.exists() else
                               f"sharded index manifest {where!r} is not a regular file")
    try:
        m = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise IndexFormatError(f"sharded index manifest {where!r} cannot be read: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise IndexFormatError(f"sharded index manifest {where!r} is not valid JSON: {exc}") from None
    return m, p.parent, check_manifest(m, where, p.parent)


def check_manifest(m, where: str, root: Path) -> list[Path]:
    """Validate a parsed manifest ``m`` of the index directory ``root``; returns the resolved
    shard file paths. A valid version-1 manifest's ``n_labels`` is renamed ``n_lists`` in ``m``."""
    def bad(msg):
        return IndexFormatError(f"sharded index manifest {where!r}: {msg}")

    def field(d, key, at=""):
        v = d.get(key, _MISSING)
        if v is _MISSING:
            raise bad(f"field {at}{key!r} is missing")
        return v

    def integer(d, key, low, high=None, at="", optional=False):
        if optional and key not in d:
            return None
        v = field(d, key, at)
        if type(v) is not int or v < low or (high is not None and v > high):
            raise bad(f"field {at}{key!r} = {str(v)[:40]} must be an int in [{low}, {'inf' if high is None else high}]")
        return v

    def typed(d, key, types, what, at=""):
        if key in d and not (isinstance(d[key], types) and not isinstance(d[key], bool)):
            raise bad(f"field {at}{key!r} = {str(d[key])[:40]} must be {what}")

    if not isinstance(m, dict) or m.get("format") != FORMAT or type(m.get("version")) is not int \
            or m["version"] not in READ_VERSIONS:
        raise IndexFormatError(f"{where!r} is not a dscref sharded index manifest (format {FORMAT!r} "
                               f"version {' or '.join(map(str, READ_VERSIONS))})")
    lists_key = READ_VERSIONS[m["version"]]  # checked under the name the file uses
    n_lists = integer(m, lists_key, 1)
    M = integer(m, "M", 1)
    integer(m, "nbits", 1, 16)
    d = integer(m, "d", 1)
    if d % M:
        raise bad(f"d={d} is not divisible by M={M}")
    ntotal = integer(m, "ntotal", 0)
    n_shards = integer(m, "n_shards", 1)
    owner = field(m, "owner")
    if not (isinstance(owner, list) and len(owner) == n_lists
            and all(type(o) is int and 0 <= o < n_shards for o in owner)):
        raise bad(f"field 'owner' must list the owner shard in [0, {n_shards}) of each of the {n_lists} partitions "
                  f"(inconsistent owner / shards)")
    owner = np.asarray(owner, dtype=np.int64)
    shards = field(m, "shards")
    if not (isinstance(shards, list) and len(shards) == n_shards):
        raise bad(f"field 'shards' must be a list of n_shards={n_shards} entries (inconsistent owner / shards)")
    files = []
    for i, s in enumerate(shards):
        at = f"shards[{i}]."
        if not isinstance(s, dict):
            raise bad(f"shards[{i}] is not a JSON object")
        if integer(s, "shard", 0, at=at) != i:
            raise bad(f"shards[{i}] has shard={s['shard']} (inconsistent owner / shards)")
        parts = field(s, "partitions", at)
        own = np.flatnonzero(owner == i).tolist()
        if not (isinstance(parts, list) and all(type(q) is int for q in parts) and sorted(parts) == own):
            raise bad(f"shards[{i}].partitions {str(parts)[:80]} are not the partitions whose owner is {i} "
                      f"(inconsistent owner / shards)")
        integer(s, "n_items", 0, at=at)
        integer(s, "bytes", 0, at=at)
        integer(s, "crc32", 0, (1 << 32) - 1, at=at)
        integer(s, "n_quantizers", 1, at=at, optional=True)
        typed(s, "seconds", numbers.Real, "a number", at)
        files.append(_inside(root, field(s, "file", at), f"{at}file", bad))
    if sum(s["n_items"] for s in shards) != ntotal:
        raise bad(f"the shards hold {sum(s['n_items'] for s in shards)} items, ntotal says {ntotal}")
    if len(set(files)) != len(files):
        raise bad("two shards name the same file")
    integer(m, "seed", 0, optional=True)
    integer(m, "sample_size", 0, optional=True)
    typed(m, "sampling", str, "a string")
    typed(m, "timings", dict, "a JSON object")
    if "sample_file" in m:
        _inside(root, m["sample_file"], "sample_file", bad)
    if lists_key != "n_lists":  # a version-1 file: its n_labels under today's name
        m["n_lists"] = m.pop(lists_key)
    return files


def _inside(root: Path, name, at: str, bad) -> Path:
    """``root / name`` resolved, if ``name`` is a relative path that stays inside ``root``."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise bad(f"field {at!r} = {str(name)[:80]!r} must be a non-empty file name")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise bad(f"{at} {name[:80]!r} must be a path inside the index directory (no absolute path, no '..')")
    try:
        base, full = root.resolve(), (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise bad(f"{at} {name[:80]!r} cannot be resolved: {exc}") from None
    if full == base or not full.is_relative_to(base):
        raise bad(f"{at} {name[:80]!r} resolves to {str(full)!r}, outside the index directory {str(base)!r}")
    return full


def check_shard_files(manifest: dict, files: list[Path], verify) -> None:
    """Each shard file exists, is a regular file of the recorded size and, with ``verify``
    true, has the recorded crc32."""
    for f, s in zip(files, manifest["shards"]):
        if not f.is_file():
            raise IndexFormatError(f"shard file {str(f)!r} listed in the manifest is missing"
                                   + (" (not a regular file)" if f.exists() else ""))
        if f.stat().st_size != s["bytes"]:
            raise IndexFormatError(f"shard file {str(f)!r} has {f.stat().st_size} bytes, the manifest "
                                   f"says {s['bytes']}")
        if verify and file_crc32(f) != s["crc32"]:
            raise IndexFormatError(f"shard file {str(f)!r} does not match its manifest crc32")
