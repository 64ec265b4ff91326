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
    text = E.format_table1(res, "105k")
    assert "0.702" in text  # the paper's DSC+PQ mAP beside ours
    json.loads(E.write_results(tmp_path / "t1", res, tiny, {}).read_text())
