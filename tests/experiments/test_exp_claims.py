"""The paper's claims as paired per-seed margins (dscref.experiments.claims)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dscref.experiments import combine_seeds, fig2_datasets
from dscref.experiments.claims import format_claims, load_results, paper_claims
from dscref.experiments.combine import verdict


def _table1_seed(dsc, ivf, dsc_pq, ivf_pq, shared=None, n_db=105_000):
    rows = [{"label": "DUC-IVF", "mAP": ivf, "Recall": 0.8}, {"label": "DSC", "mAP": dsc, "Recall": 0.9},
            {"label": "DUC-IVF+PQ", "mAP": ivf_pq, "Recall": 0.8}, {"label": "DSC+PQ", "mAP": dsc_pq, "Recall": 0.9}]
    if shared is not None:
        rows.append({"label": "DSC+PQ (shared PQ)", "mAP": shared, "Recall": 0.9})
    return {"meta": {"data": {"name": "synthetic", "n_db": n_db}}, "experiment": "table1", "rows": rows}


def _combined(seeds):
    return combine_seeds(seeds, list(range(len(seeds))), {})


def _by_claim(claims, text):
    hits = [c for c in claims if c["claim"].startswith(text)]
    assert len(hits) == 1, [c["claim"] for c in claims]
    return hits[0]


def test_margins_are_paired_per_seed_and_the_ci_decides():
    # DSC beats IVF in every seed by 0.01 although the seeds' levels vary by 0.3: paired -> holds
    doc = _combined([_table1_seed(0.5 + s * 0.1 + 0.01, 0.5 + s * 0.1, 0.4, 0.3) for s in range(4)])
    c = _by_claim(paper_claims([doc]), "DSC > DUC-IVF, raw")
    assert c["verdict"] == "holds"
    assert c["margin"]["values"] == pytest.approx([0.01] * 4)
    assert c["paper"] == {"DSC": 0.756, "DUC-IVF": 0.744}  # Table I at 105k, beside ours
    assert c["ours"]["DSC"]["mean"] == pytest.approx(np.mean([0.51, 0.61, 0.71, 0.81]))
    # the PQ claim reversed in every seed
    doc = _combined([_table1_seed(0.6, 0.6, 0.2 + s * 0.01, 0.4, 0.3) for s in range(4)])
    claims = paper_claims([doc])
    assert _by_claim(claims, "DSC+PQ > DUC-IVF+PQ (mAP")["verdict"] == "flips"
    assert _by_claim(claims, "per-partition PQs")["verdict"] == "flips"
    # mixed signs: within noise
    doc = _combined([_table1_seed(0.6 + d, 0.6, 0.4, 0.3) for d in (0.05, -0.05, 0.04, -0.06)])
    assert _by_claim(paper_claims([doc]), "DSC > DUC-IVF, raw")["verdict"] == "within noise"


def test_one_seed_uses_the_sign_and_the_1m_table_gets_the_1m_paper_values():
    doc = _table1_seed(0.7, 0.6, 0.5, 0.1, n_db=1_000_000)
    c = _by_claim(paper_claims([doc]), "DSC+PQ > DUC-IVF+PQ (mAP")
    assert c["verdict"] == "holds" and c["paper"] == {"DSC+PQ": 0.493, "DUC-IVF+PQ": 0.102}
    kept = _by_claim(paper_claims([doc]), "PQ costs DSC only a slight drop")
    assert kept["ours"]["DSC+PQ / DSC"]["values"] == pytest.approx([0.5 / 0.7])
    assert kept["verdict"] == "holds"  # 0.714 >= the paper's 0.493 / 0.719 = 0.686
    assert kept["margin"]["values"][0] == pytest.approx(0.5 / 0.7 - 0.493 / 0.719)


def _fig2_seed(dsc_heads, ivf_heads, dsc_recall, ivf_recall, sizes=(1, 5, 10, 30)):
    return {"meta": {"data": {"name": "x", "n_db": 5062}}, "experiment": "fig2", "target": 0.9,
            "curves": {"dsc": {"head_sizes": list(sizes), "recall": list(dsc_recall)},
                       "ivf": {"head_sizes": list(sizes), "recall": list(ivf_recall)}},
            "head_size_for_target": {"dsc": dsc_heads, "ivf": ivf_heads}}


def test_fig2_head_sizes_per_data_set_with_never_reached_as_infinite():
    per = {"oxford5k": _combined([_fig2_seed(5, 30, [0.5, 0.92, 0.95, 1.0], [0.2, 0.6, 0.8, 0.95]),
                                  _fig2_seed(10, None, [0.5, 0.85, 0.91, 1.0], [0.2, 0.6, 0.8, 0.85])]),
           "holidays": _combined([_fig2_seed(30, 5, [0.5, 0.7, 0.8, 0.9], [0.2, 0.9, 0.9, 0.95]),
                                  _fig2_seed(30, 5, [0.5, 0.7, 0.8, 0.9], [0.2, 0.9, 0.9, 0.95])])}
    claims = paper_claims([fig2_datasets(per)])
    ox = [c for c in claims if c["claim"].startswith("DSC needs a smaller head than DUC-IVF")]
    assert [c["paper"] for c in ox] == [{"DSC": 5, "DUC-IVF": 30}, {"DSC": 5, "DUC-IVF": 5}]
    assert ox[0]["verdict"] == "holds"  # 25 and inf: both positive
    assert ox[0]["margin"]["n_missing"] == 1 and ox[0]["ours"]["DUC-IVF"]["values"] == [30.0, None]
    assert ox[1]["verdict"] == "flips"  # -25 in both seeds, no spread: below zero
    at5 = [c for c in claims if c["claim"].startswith("DSC reaches 90% recall with a head of 5")]
    assert [c["margin"]["values"] for c in at5] == [pytest.approx([0.02, -0.05]), pytest.approx([-0.2, -0.2])]
    assert "1 of 2 seeds: none" in format_claims(claims)


def _fig3_seed(dsc, duc, analog):
    snrs = [0.0, 5.0]
    curve = lambda m: {"B": 188, "snr_db": snrs, "mAP": list(m)}  # noqa: E731
    return {"experiment": "fig3", "meta": {"data": {"name": "s", "n_db": 20_000}},
            "curves": {"analog": curve(analog), "PQ+DSC head (qpsk)": curve(dsc), "PQ+DUC head (qpsk)": curve(duc)}}


def test_fig3_claims_read_at_the_papers_snrs():
    doc = _combined([_fig3_seed([0.2, 0.5 + d], [0.1, 0.3], [0.7, 0.8]) for d in (0.0, 0.01, 0.02)])
    claims = paper_claims([doc])
    five = _by_claim(claims, "the semantic head beats the DUC head over the channel (QPSK, 5 dB)")
    assert five["margin"]["values"] == pytest.approx([0.2, 0.21, 0.22]) and five["verdict"] == "holds"
    slight = _by_claim(claims, "PQ costs only a slight drop")
    assert slight["verdict"] == "flips"  # 0.5 < 0.9 * 0.8


def test_verdict_rules():
    assert verdict([0.1, 0.11, 0.12]) == "holds" and verdict([-0.1, -0.11, -0.12]) == "flips"
    assert verdict([0.1, -0.1]) == "within noise" and verdict([None, 1.0]) == "within noise"
    assert verdict([np.inf, 5.0]) == "holds" and verdict([0.2]) == "holds"


def test_load_results_reads_folders_and_names_a_missing_path(tmp_path):
    (tmp_path / "table1").mkdir()
    (tmp_path / "table1" / "results.json").write_text(json.dumps(_table1_seed(0.7, 0.6, 0.5, 0.1)))
    docs = load_results([tmp_path])
    assert docs[0]["experiment"] == "table1"
    (tmp_path / "fig3.json").write_text(json.dumps(_fig3_seed([0.2, 0.5], [0.1, 0.3], [0.7, 0.8])))
    assert [d["experiment"] for d in load_results([tmp_path])] == ["table1", "fig3"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_results([tmp_path / "nowhere"])
    with pytest.raises(TypeError, match="dict"):
        paper_claims([[1, 2]])


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    from dscref.cli import main

    (tmp_path / "table1").mkdir()
    (tmp_path / "table1" / "results.json").write_text(json.dumps(
        _combined([_table1_seed(0.7 + d, 0.6, 0.5, 0.1) for d in (0.0, 0.01, 0.02)])))
    out = tmp_path / "claims.json"
    assert main(["claims", str(tmp_path), "--markdown", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| DSC > DUC-IVF, raw features (mAP) |" in text and "holds" in text
    assert json.loads(out.read_text())["claims"][0]["experiment"] == "table1"
    assert main(["claims", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no results.json" in err and "Traceback" not in err


def test_a_data_set_given_twice_counts_once_and_has_no_paper_value_off_the_papers_sets():
    seed = _fig2_seed(5, 30, [0.5, 0.92, 0.95, 1.0], [0.2, 0.6, 0.8, 0.95])
    seed["meta"]["data"]["n_db"] = 105_000
    doc = _combined([seed, seed])
    claims = paper_claims([doc, fig2_datasets({"105k": doc})])
    heads = [c for c in claims if c["claim"].startswith("DSC needs a smaller head than DUC-IVF")]
    assert len(heads) == 1 and heads[0]["paper"] is None
