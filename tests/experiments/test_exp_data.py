"""The experiments' data: features files, image datasets through ONNX models, large synthetic data."""

import numpy as np
import pytest

from dscref import experiments as E
from dscref.cli import main


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

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
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
    res = E.table1(data, kinds=("dsc", "flat"), k=18, flat_M=8, flat_nbits=4, ablations=False)
    assert {r["label"] for r in res["rows"]} == {"DSC", "DSC+PQ", "DUC+PQ"}
    with pytest.raises(ValueError, match="extractor"):
        E.image_data(f"holidays:{tmp_path}", None, None)
    rc = main(["demo", "--images", str(jpg), "--extractor", str(models["extractor"]),
               "--classifier", str(models["classifier"]), "--snr", "20"])
    assert rc == 0 and "image demo" in capsys.readouterr().out


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


def test_retrieval_data_n_lists_and_its_deprecated_alias(tiny):
    assert tiny.n_lists == 200 and tiny.n == 3000
    with pytest.warns(DeprecationWarning, match="n_lists"):
        assert tiny.n_labels == 200
    with pytest.raises(AttributeError):
        tiny.n_labels = 5  # read-only
    args = dict(name="t", xb=np.zeros((4, 2), np.float32), labels_b=np.zeros(4, np.int64),
                xq=np.zeros((1, 2), np.float32), ranking_q=np.zeros((1, 5), np.int64), gnd=[])
    with pytest.warns(DeprecationWarning, match="n_labels= is deprecated, use n_lists="):
        old = E.RetrievalData(**args, n_labels=7)
    assert old.n_lists == 7 and old == E.RetrievalData(**args, n_lists=7)
    assert E.RetrievalData("t", *list(args.values())[1:], 9).n_lists == 9  # positional, as before
    with pytest.raises(TypeError, match="both n_lists= and its deprecated alias n_labels="):
        E.RetrievalData(**args, n_lists=7, n_labels=7)


def test_load_data_refuses_unknown_specs():
    with pytest.raises(ValueError, match="expected 'synthetic' or 'features:PATH'"):
        E.load_data("revisited:data:roxford5k")
    assert E.parse_scale("105k") == E.SCALES["105k"] and E.parse_scale("1m") == E.SCALES["1m"]
    assert E.min_synthetic_size() > 0
