"""What ``dscref query`` reports: per query the payload, the head and the ranked results
(rank, id, score, image name), printed as text or written to JSON / CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .._files import atomic_write

__all__ = ["query_record", "format_records", "write_records", "OUT_SUFFIXES"]

OUT_SUFFIXES = (".json", ".csv")
_SCORE = {"l2": "l2 distance (smaller is closer)", "cosine": "cosine score (larger is closer)"}


def query_record(name: str, payload_bytes: int, bit_errors, head_sent, head_received, n_candidates: int,
                 D: np.ndarray, I: np.ndarray, db_names=None) -> dict:
    """One query's result; ``D`` / ``I`` are its (k,) scores and ids (-1 padding dropped)."""
    results = []
    for rank, (score, i) in enumerate(zip(D.tolist(), I.tolist()), start=1):
        if i < 0:
            break
        row = {"rank": rank, "id": int(i), "score": float(score)}
        if db_names is not None:
            row["name"] = db_names[i] if i < len(db_names) else None  # ids past the names: unnamed
        results.append(row)
    return {"query": name, "payload_bytes": int(payload_bytes),
            "bit_errors": None if bit_errors is None else int(bit_errors),
            "head_sent": [int(v) for v in head_sent], "head_received": [int(v) for v in head_received],
            "candidates": int(n_candidates), "results": results}


def format_records(records: list, metric: str) -> list:
    """Text lines: a header per query, then ``rank id score [name]`` rows."""
    lines = []
    for r in records:
        errs = "" if r["bit_errors"] is None else f", {r['bit_errors']} bit errors"
        head = f"head {r['head_received']}"
        if r["head_received"] != r["head_sent"]:
            head = f"head sent {r['head_sent']} received {r['head_received']}"
        lines.append(f"query {r['query']}: {r['payload_bytes']} bytes{errs}, {head}, {r['candidates']} "
                     f"candidates, top-{len(r['results'])} by {_SCORE[metric]}:")
        named = any("name" in row for row in r["results"])
        lines.append(f"  {'rank':>4} {'id':>10} {'score':>10}" + ("  name" if named else ""))
        for row in r["results"]:
            lines.append(f"  {row['rank']:>4} {row['id']:>10} {row['score']:>10.4f}"
                         + (f"  {row['name']}" if "name" in row else ""))
    return lines


def write_records(path, records: list, meta: dict) -> Path:
    """``path`` ending in .json (meta + every query) or .csv (one row per result), atomically."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        atomic_write(path, json.dumps({**meta, "queries": records}, indent=1) + "\n")
        return path
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["query", "rank", "id", "score", "name", "bit_errors", "candidates"])
    for r in records:
        for row in r["results"]:
            w.writerow([r["query"], row["rank"], row["id"], repr(row["score"]), row.get("name", ""),
                        "" if r["bit_errors"] is None else r["bit_errors"], r["candidates"]])
    atomic_write(path, buf.getvalue())
    return path
