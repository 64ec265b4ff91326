"""Table I at tiny scale (seconds): every row, its schema and the relations that must hold."""

import json

from dscref import experiments as E


def test_table1_rows_and_schema(tiny, indexes, tmp_path):
    res = E.table1(tiny, indexes=indexes, k=500)
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
