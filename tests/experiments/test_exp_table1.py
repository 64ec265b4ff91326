"""Table I at tiny scale (seconds): every row, its schema and the relations that must hold; the
ablation rows (not in the paper) with their codebook bytes."""

import json

import numpy as np

from dscref import experiments as E


def test_table1_rows_and_schema(tiny, indexes, tmp_path):
    res = E.table1(tiny, indexes=indexes, k=500, ablations=False)
    labels = [r["label"] for r in res["rows"]]
    assert labels == [r[0] for r in E.TABLE1_ROWS]
    for r in res["rows"]:
        for key in ("mAP", "Recall", "R@1", "R@10", "R@100"):
            assert 0 <= r[key] <= 1
        assert r["R@1"] <= r["R@10"] <= r["R@100"] + 1e-12
        assert r["R@100"] <= r["Recall"] + 1e-12  # top-100 is drawn from the candidates
    by = {r["label"]: r for r in res["rows"]}
    assert by["DSC+PQ"]["head_bytes"] == 5 and by["DSC+PQ"]["bytes"] == 5 + 40  # K=200: 8-bit labels
    assert by["DUC+PQ"]["bytes"] == 40
    assert by["DSC"]["Recall"] == by["DSC+PQ"]["Recall"]
    assert by["DUC+PQ"]["Recall"] == 1.0
    # both readings of "Recall": the candidate list, and the k = 500 items returned
    assert res["k"] == 500
    for r in res["rows"]:
        assert r["R@100"] - 1e-12 <= r["Recall@500"] <= r["Recall"] + 1e-12, r  # top-500 within the candidates
    assert by["DUC+PQ"]["Recall@500"] <= 1.0 == by["DUC+PQ"]["Recall"]  # an exhaustive scan's list holds all
    text = E.format_table1(res, "105k")
    assert "0.702" in text  # the paper's DSC+PQ mAP beside ours
    assert "Recall@500" in text and f"{by['DUC+PQ']['Recall@500']:.3f}" in text
    json.loads(E.write_results(tmp_path / "t1", res, tiny, {}).read_text())


def test_table1_ablation_rows_follow_the_papers_with_codebook_bytes(tiny, tmp_path):
    """tiny: 3000 items, d = 64, K = 200 partitions / cells; M = 8, nbits = 6 (64 codewords, the
    default threshold). Thresholds 16 and 40 (the tiny lists hold ~15 items) so that some lists
    get a PQ of their own; the kinds asked for only (IVF and DSC)."""
    indexes = {}
    res = E.table1(tiny, indexes=indexes, kinds=("ivf", "dsc"), nbits=6, k=500, ablation_thresholds=(16, 40))
    assert set(indexes) == {"ivf", "dsc"}  # the variants are not kept in the shared dict
    labels = [r["label"] for r in res["rows"]]
    paper = ["DUC-IVF", "DSC", "DUC-IVF+PQ", "DSC+PQ"]  # TABLE1_ROWS' order
    ablations = ["DUC-IVF+PQ (per-cell PQ)", "DUC-IVF+PQ (per-cell PQ, min cell 16)",
                 "DUC-IVF+PQ (per-cell PQ, min cell 40)", "DSC+PQ (shared PQ)", "DSC+PQ (min partition 16)",
                 "DSC+PQ (min partition 40)"]
    assert labels == paper + ablations and [a[0] for a in E.ablation_rows((16, 40))] == ablations
    assert res["ablation_thresholds"] == [16, 40]
    by = {r["label"]: r for r in res["rows"]}
    assert all(r["in_paper"] for r in res["rows"][:4]) and not any(r["in_paper"] for r in res["rows"][4:])
    # the hand count: 200 x 64 float32 centroids, 8 x 64 codewords x 8 float32 per PQ
    cents, pq = 200 * 64 * 4, 8 * 64 * 8 * 4
    assert by["DUC-IVF+PQ"]["codebook_bytes"] == cents + pq and by["DUC-IVF+PQ"]["own_pq_lists"] == 0
    shared = by["DSC+PQ (shared PQ)"]
    assert shared["codebook_bytes"] == cents + pq and shared["own_pq_lists"] == 0 and shared["n_quantizers"] == 1
    counts = np.bincount(tiny.labels_b, minlength=200)
    for label, t in (("DSC+PQ", 64), ("DSC+PQ (min partition 16)", 16), ("DSC+PQ (min partition 40)", 40)):
        r = by[label]
        assert r["own_pq_lists"] == int((counts >= t).sum()) > 0, label
        assert r["codebook_bytes"] == cents + pq * (1 + r["own_pq_lists"]) == cents + pq * r["n_quantizers"]
    for label in ablations[:3]:
        cell = by[label]
        assert cell["codebook_bytes"] == cents + pq * (1 + cell["own_pq_lists"])
    assert by[ablations[2]]["variant"] == {"pq_per_list": True, "min_partition_size": 40}
    assert 0 < by[ablations[2]]["own_pq_lists"] < by[ablations[1]]["own_pq_lists"]
    assert by["DSC+PQ (min partition 16)"]["Recall"] == by["DSC+PQ"]["Recall"]  # same head, same lists
    for r in res["rows"][4:]:
        assert r["bytes"] == by["DSC+PQ"]["bytes"] and 0 <= r["mAP"] <= 1
    text = E.format_table1(res, "105k")
    lines = text.splitlines()
    sep = next(i for i, line in enumerate(lines) if "not in the paper" in line)
    assert sep == 2 + 4  # two header lines, the paper's rows, then the separator
    assert "0.702" in lines[2 + 3] and all(" / 0." not in line for line in lines[sep + 1:])  # paper column "-"
    assert "codebooks" in lines[0] and all("MiB" in line for line in lines[sep + 1:-1])
    assert lines[-1].startswith("(Recall: positives in the candidate list")  # the note on the two recalls
    assert lines[2].split()[-2:] == lines[3].split()[-2:] == ["-", "-"]  # the raw rows: no codebooks
    assert f"{(cents + pq) / 2**20:.2f} MiB" in lines[2 + 2]  # DUC-IVF+PQ
    doc = json.loads(E.write_results(tmp_path / "t1", res, tiny, {}).read_text())
    assert doc["rows"][4]["codebook_bytes"] == by[labels[4]]["codebook_bytes"]
    assert (tmp_path / "t1" / "table1.png").stat().st_size > 0
