"""Tiny-scale runs of every experiment (seconds): JSON schema and the trends that must hold."""

import json

import numpy as np
import pytest

from dscref import experiments as E
from dscref.cli import main


@pytest.fixture(scope="module")
def tiny():
    return E.synthetic_data(3000, seed=3, d=64, n_classes=200, n_superclasses=20, ranking_depth=50)


@pytest.fixture(scope="module")
def indexes():
    return {}


def test_fig2_recall_grows_with_head_size(tiny, indexes, tmp_path):
    res = E.fig2(tiny, indexes=indexes, head_sizes=(1, 2, 5, 10, 50))
    for kind in ("dsc", "ivf", "imi", "gp"):
        c = res["curves"][kind]
        assert c["head_sizes"] == [1, 2, 5, 10, 50]
        assert all(0 <= r <= 1 for r in c["recall"])
        assert np.all(np.diff(c["recall"]) >= -1e-12), (kind, c)  # heads are nested prefixes
        need = res["head_size_for_target"][kind]
        assert need is None or c["recall"][c["head_sizes"].index(need)] >= 0.9
    path = E.write_results(tmp_path / "fig2", res, tiny, {"seed": 3})
    doc = json.loads(path.read_text())
    assert doc["experiment"] == "fig2" and doc["meta"]["params"]["seed"] == 3
    assert doc["meta"]["data"]["n_db"] == 3000 and "numba" in doc["meta"]
    try:
        import matplotlib  # noqa: F401  (optional: the bench extra)
    except ImportError:
        assert not (tmp_path / "fig2" / "fig2.png").exists()
    else:
        assert (tmp_path / "fig2" / "fig2.png").exists()


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


def test_fig3_map_grows_with_snr(tiny, indexes, tmp_path):
    trials = 3
    res = E.fig3(tiny, indexes=indexes, snrs=(-10.0, 0.0, 10.0, 20.0), trials=trials, k=300)
    names = set(res["curves"])
    assert {"analog", "analog+DSC head", "PQ+DSC head (qpsk)", "PQ+DUC head (bpsk)"} <= names
    for name, c in res["curves"].items():
        m, s = np.array(c["mAP"]), np.array(c["mAP_std"])
        assert len(m) == 4 and np.all((m >= 0) & (m <= 1))
        slack = 3 * (s[:-1] + s[1:]) / np.sqrt(trials) + 0.02
        assert np.all(np.diff(m) >= -slack), (name, m, s)
        assert c["B"] > 0
    # at 20 dB the digital links are error-free: they equal the noiseless Table-I numbers
    assert res["curves"]["PQ+DSC head (qpsk)"]["ber"][-1] == 0.0
    assert res["curves"]["PQ+DSC head (qpsk)"]["B"] == E.PayloadLayout.for_index(indexes["dsc"]).nbytes * 8 // 2


def test_cli_reproduce_and_demo(tmp_path, capsys):
    rc = main(["reproduce", "fig2", "--scale", "2000", "--dim", "32", "--labels", "200", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "head size for 90% recall" in out and (tmp_path / "fig2" / "results.json").exists()
    # the PNG is part of the job on the main install (matplotlib is a core dependency)
    assert (tmp_path / "fig2" / "fig2.png").is_file() and "fig2.png" in out
    rc = main(["demo", "--n", "2k", "--snr", "3,20", "--show", "1"])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0 and "47 bytes" in out and "mAP" in out
    # each example shows the head sent and the head received, and its bit errors
    examples = [line for line in out.splitlines() if line.strip().startswith("q0: ")]
    assert len(examples) == 2 and all("head sent" in e and "-> received" in e and "in the head)" in e
                                      for e in examples)
    # progress only on stderr, results only on stdout
    assert "\r" not in out and "mAP" not in cap.err
    assert main(["reproduce", "fig2", "--data", "nonsense"]) == 2


def test_features_file_data(tmp_path, tiny):
    from dscref.features_file import pack_gnd, save_features_file

    save_features_file(tmp_path / "f.npz", tiny.xb, tiny.labels_b, tiny.xq, tiny.ranking_q[:, :5], tiny.gnd)
    d = E.load_data(f"features:{tmp_path / 'f.npz'}")
    assert d.n == 3000 and d.ranking_q.shape == (55, 5)
    for got, want in zip(d.gnd, tiny.gnd):
        np.testing.assert_array_equal(got["ok"], want["ok"])
        np.testing.assert_array_equal(got["junk"], want["junk"])
    np.savez(tmp_path / "g.npz", xb=tiny.xb, labels_b=tiny.labels_b, xq=tiny.xq, topk_q=tiny.ranking_q[:, :5],
             **pack_gnd(tiny.gnd))  # plain numpy.savez, the ranking under its other name
    assert E.load_data(f"features:{tmp_path / 'g.npz'}").ranking_q.shape == (55, 5)
    with pytest.raises(FileNotFoundError):
        E.load_data("features:/nonexistent/x.npz")
    np.savez(tmp_path / "bad.npz", xb=tiny.xb)
    with pytest.raises(ValueError, match="labels_b"):
        E.load_data(f"features:{tmp_path / 'bad.npz'}")
    with pytest.raises(ValueError, match="scale"):
        E.parse_scale("lots")


def test_image_datasets_and_image_demo(tmp_path, capsys):
    """Holidays layout through tiny ONNX models: image_data, table1 on it, and the image demo."""
    import sys
    from pathlib import Path

    from PIL import Image, ImageDraw

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    import make_tiny

    models = make_tiny.make_all(tmp_path / "m", seed=1)
    jpg = tmp_path / "holidays" / "jpg"
    jpg.mkdir(parents=True)
    for g in range(6):
        rng = np.random.default_rng(g)
        base = Image.new("RGB", (96, 72), tuple(int(c) for c in rng.integers(0, 255, 3)))
        d = ImageDraw.Draw(base)
        for _ in range(4):
            x, y = (int(v) for v in rng.integers(0, 60, 2))
            d.rectangle([x, y, x + 20, y + 20], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        for j in range(3):
            base.rotate(3 * j).save(jpg / f"1{g:03d}{j:02d}.jpg")
    data = E.image_data(f"holidays:{tmp_path / 'holidays'}", models["extractor"], models["classifier"])
    assert data.n == 18 and len(data.xq) == 6 and data.ranking_q.shape[1] == 200
    assert np.allclose(np.linalg.norm(data.xb, axis=1), 1, atol=1e-4)
    res = E.table1(data, kinds=("dsc", "flat"), k=18, flat_M=8, flat_nbits=4)
    assert {r["label"] for r in res["rows"]} == {"DSC", "DSC+PQ", "DUC+PQ"}
    with pytest.raises(ValueError, match="extractor"):
        E.image_data(f"holidays:{tmp_path}", None, None)
    rc = main(["demo", "--images", str(jpg), "--extractor", str(models["extractor"]),
               "--classifier", str(models["classifier"]), "--snr", "20"])
    assert rc == 0 and "image demo" in capsys.readouterr().out


def test_robust_experiment_schema(tiny, indexes):
    res = E.robust(tiny, indexes=indexes, snrs=(0.0, 6.0, 30.0), trials=2, k=300)
    assert set(res["variants"]) == {"plain", "robust_assignment", "soft_adc", "protected_head", "soft_head", "all"}
    for v, t in res["variants"].items():
        assert len(t["mAP"]) == 3 and 0 <= t["mAP_clean"] <= 1
        assert t["mAP"][-1] == pytest.approx(t["mAP_clean"], abs=1e-9)  # 30 dB: no bit errors
    assert res["variants"]["protected_head"]["channel_uses"] > res["variants"]["plain"]["channel_uses"]
    assert "gain dB" in E.format_robust(res)


def test_snr_at_fraction():
    assert E._snr_at_fraction([0, 2, 4], [0.0, 0.5, 1.0], 0.75) == pytest.approx(3.0)
    assert E._snr_at_fraction([0, 2, 4], [0.9, 0.95, 1.0], 0.5) == 0.0
    assert E._snr_at_fraction([0, 2, 4], [0.1, 0.2, 0.3], 0.5) is None


def test_cli_build_and_query(tmp_path, tiny, capsys):
    np.save(tmp_path / "xb.npy", np.asarray(tiny.xb))
    np.save(tmp_path / "labels.npy", tiny.labels_b[:, None])
    np.save(tmp_path / "xq.npy", tiny.xq[:3])
    np.save(tmp_path / "heads.npy", tiny.ranking_q[:3, :5])
    idx = tmp_path / "ix.dscidx"
    assert main(["build", str(tmp_path / "xb.npy"), "--labels", str(tmp_path / "labels.npy"),
                 "--lists", "200", "--out", str(idx)]) == 0
    assert idx.exists() and "built dsc index of 3000 items" in capsys.readouterr().out
    assert main(["query", str(idx), str(tmp_path / "xq.npy"), "--labels", str(tmp_path / "heads.npy"),
                 "--k", "5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    headers = [line for line in out if line.startswith("query ")]
    assert len(headers) == 3 and all("45 bytes" in line and "top-5" in line for line in headers)
    # the query's own landmark comes back: first result is a ground-truth positive for most
    firsts = [int(out[out.index(h) + 2].split()[1]) for h in headers]  # header, column names, rank 1
    assert sum(f in set(tiny.gnd[i]["ok"].tolist()) for i, f in enumerate(firsts)) >= 2
    assert main(["query", str(idx), str(tmp_path / "xq.npy"), "--labels", str(tmp_path / "heads.npy"),
                 "--snr", "3"]) == 0
    assert "bit errors" in capsys.readouterr().out
    assert main(["build", str(tmp_path / "xb.npy"), "--out", str(tmp_path / "x")]) == 2  # dsc needs labels


def test_large_synthetic_data_leaves_no_temp_file_and_checks_free_space(tmp_path, monkeypatch):
    """Above 300k items the features go to a memory map: without --workdir it is an unnamed
    temporary file (nothing left behind); a size that does not fit on the disk is refused."""
    import shutil
    import tempfile

    from dscref.experiments import synthetic_data

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kw = dict(d=8, n_classes=200, n_superclasses=20, calibration_samples=5000, stats_pairs=50)
    data = synthetic_data(300_001, seed=1, **kw)
    assert data.xb.shape == (300_001, 8) and np.isfinite(data.xb[-5:]).all()
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "work"
    synthetic_data(300_001, seed=1, workdir=kept, **kw)
    assert [p.name for p in kept.iterdir()] == ["synthetic_xb_300001_1.f32"]
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ValueError, match="GiB free"):
        synthetic_data(10**7, seed=1, **kw)
