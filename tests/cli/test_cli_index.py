"""``dscref build`` and ``dscref query`` (:mod:`dscref.cli.index`, :mod:`dscref.cli.report`):
the printed rank, id, score and name, JSON / CSV output, k capped, names beside the index, and
queries sent through :class:`dscref.link.Link` (draw for draw the chain written out by hand)."""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dscref.cli import main


def _query(f, queries=None, labels=None, *extra, index=None):
    return ["query", str(index or f["idx"]), str(queries or f["xq"]), "--labels", str(labels or f["heads"]),
            *extra]


def _build(f, features=None, labels=None, *extra, out=None):
    return ["build", str(features or f["xb"]), "--labels", str(labels or f["labels"]), "--lists", str(f["K"]),
            "--M", "4", "--nbits", "4", "--out", str(out or f["dir"] / "new.dscidx"), *extra]


# --------------------------------------------------------------------------- query output
def _rows(out: str) -> dict:
    """{query name: [(rank, id, score, name)]} from query's printed text."""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"query (\S+): ", line)
        if m:
            cur = res.setdefault(m.group(1), [])
        elif cur is not None and re.match(r"\s+\d+\s+\d+\s+\S+", line):
            parts = line.split()
            cur.append((int(parts[0]), int(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else None))
    return res


def test_query_prints_rank_id_score_and_names(files, capsys):
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "4")) == 0
    cap = capsys.readouterr()
    rows = _rows(cap.out)
    assert list(rows) == ["0", "1", "2"] and cap.err == ""
    for qi, r in enumerate(rows.values()):
        assert [x[0] for x in r] == list(range(1, len(r) + 1)) and 1 <= len(r) <= 4
        scores = [x[2] for x in r]
        assert scores == sorted(scores)  # l2: smaller first
        assert all(x[3] == f"img{x[1]:03d}.jpg" for x in r)  # names from build's names.txt
        assert r[0][1] == qi  # the query is a slightly moved copy of item qi
    assert re.search(r"query 0: \d+ bytes, head \[", cap.out)


def test_query_caps_k_with_a_note(files, capsys, visible_lines):
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "5000")) == 0
    cap = capsys.readouterr()
    note = visible_lines(cap.err)
    assert len(note) == 1 and "note" in note[0] and f"{files['N']} items" in note[0] and "5000" in note[0]
    assert all(len(r) <= files["N"] for r in _rows(cap.out).values())


def test_query_writes_json_and_csv(files, tmp_path, capsys):
    js, cs = tmp_path / "sub" / "r.json", tmp_path / "r.csv"
    assert main(_query(files, None, None, "--k", "3", "--out", str(js))) == 0
    printed = _rows(capsys.readouterr().out)
    doc = json.loads(js.read_text())
    assert doc["k"] == 3 and doc["metric"] == "l2" and len(doc["queries"]) == 3
    q0 = doc["queries"][0]
    assert q0["query"] == "0" and q0["head_sent"] == q0["head_received"] and q0["bit_errors"] is None
    assert [(r["rank"], r["id"], r["name"]) for r in q0["results"]] == [(a, b, d) for a, b, _, d in printed["0"]]
    assert main(_query(files, None, None, "--k", "3", "--out", str(cs), "--snr", "30")) == 0
    with open(cs, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) >= {"query", "rank", "id", "score", "name", "bit_errors"}
    assert rows[0]["name"] == f"img{int(rows[0]['id']):03d}.jpg" and rows[0]["bit_errors"] == "0"
    assert [r["query"] for r in rows].count("0") == len(doc["queries"][0]["results"])


def test_build_names_sidecar_follows_the_index(files, tmp_path, capsys):
    """Names come from extract's names.txt beside the features; a rebuild without names removes
    the old sidecar instead of leaving wrong names."""
    other = tmp_path / "plain"
    other.mkdir()
    np.save(other / "x.npy", files["xb_arr"])
    np.save(other / "l.npy", files["labels_arr"])
    idx = tmp_path / "i.dscidx"
    base = ["build", "--labels", str(other / "l.npy"), "--lists", str(files["K"]), "--M", "4", "--nbits", "4",
            "--out", str(idx)]
    assert main(base[:1] + [str(files["xb"])] + base[1:]) == 0
    assert Path(f"{idx}.names.txt").read_text().splitlines()[5] == "img005.jpg"
    assert main(base[:1] + [str(other / "x.npy")] + base[1:]) == 0
    assert not Path(f"{idx}.names.txt").exists()
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "2", index=idx)) == 0
    assert all(x[3] is None for r in _rows(capsys.readouterr().out).values() for x in r)


def test_missing_output_folders_are_created(files, tmp_path):
    out = tmp_path / "a" / "b" / "ix.dscidx"
    assert main(_build(files, out=out)) == 0 and out.is_file()


@pytest.mark.parametrize("snr", [None, 2.0])
def test_query_results_are_the_hand_written_chain(files, tmp_path, snr, capsys):
    """``dscref query`` sends every query through the link, one transmission each drawn in order
    from ``default_rng(--seed)``: the same draws, decoded heads and results as the chain written
    out from the codec, bitpack and channel primitives."""
    from dscref import bitpack
    from dscref.channel import AWGN, transmit_bits
    from dscref.codec import PayloadLayout, decode_payload, encode_payload
    from dscref.io import load_index

    out = tmp_path / "r.json"
    extra = ["--k", "6", "--seed", "4", "--out", str(out)] + ([] if snr is None else ["--snr", str(snr)])
    assert main(_query(files, None, None, *extra)) == 0
    capsys.readouterr()
    got = json.loads(out.read_text())["queries"]
    index = load_index(files["idx"])
    layout = PayloadLayout.for_index(index, head_size=5)
    rng = np.random.default_rng(4)
    xq, heads = np.load(files["xq"]), files["heads_arr"]
    errors = 0
    for i, rec in enumerate(got):
        payload = encode_payload(index.encode_query(xq[i], top_labels=heads[i]), layout)
        bit_errors = None
        if snr is not None:
            res = transmit_bits(bitpack.bytes_to_bits(payload), "qpsk", AWGN(snr), rng)
            payload, bit_errors = bitpack.bits_to_bytes(res.bits), res.bit_errors
        q, rep = decode_payload(payload, layout)
        r = index.search(q, k=6)
        keep = r.I[0] >= 0
        assert rec["bit_errors"] == bit_errors and rec["payload_bytes"] == layout.nbytes == 14
        assert rec["head_sent"] == heads[i].tolist() and rec["head_received"] == rep.received_labels
        assert [row["id"] for row in rec["results"]] == r.I[0][keep].tolist()
        assert [row["score"] for row in rec["results"]] == r.D[0][keep].astype(float).tolist()
        errors += bit_errors or 0
    assert (errors > 0) == (snr is not None)


# --------------------------------------------------------------------------- --pq
@pytest.mark.parametrize("extra, per_list, threshold", [
    ([], True, 16), (["--pq", "shared"], False, None), (["--min-partition-size", "40"], True, 40),
])
def test_build_chooses_per_list_or_shared_quantizers(files, tmp_path, extra, per_list, threshold, capsys):
    from dscref.io import load_index

    out = tmp_path / "pq.dscidx"
    assert main(_build(files, None, None, *extra, out=out)) == 0
    ix = load_index(out)
    assert ix.pq_per_list is per_list and ix.min_partition_size == threshold
    assert len(ix.pqs_) == 1 + ix.own_pq_lists.size and (ix.own_pq_lists.size > 0) is (threshold == 16)
    assert f"{len(ix.pqs_)} residual PQ, codebooks {ix.codebook_bytes / 2**20:.2f} MiB" in capsys.readouterr().out


def test_build_per_list_ivf_and_refused_combinations(files, tmp_path, capsys):
    from dscref.io import load_index

    out = tmp_path / "ivf.dscidx"
    argv = ["build", str(files["xb"]), "--index", "ivf", "--lists", "4", "--M", "4", "--nbits", "4",
            "--out", str(out)]
    assert main(argv + ["--pq", "per-list"]) == 0
    ix = load_index(out)
    assert ix.pq_per_list is True and ix.own_pq_lists.size >= 1
    capsys.readouterr()
    assert main(argv + ["--min-partition-size", "40"]) == 2  # ivf's default is shared
    assert "min_partition_size=40 needs pq_per_list=True" in capsys.readouterr().err
    assert main(argv[:3] + ["imi"] + argv[4:] + ["--pq", "shared"]) == 2
    assert "the DUC-IMI index has one residual quantizer" in capsys.readouterr().err
