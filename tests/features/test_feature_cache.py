"""The feature cache of cached_features / ``dscref extract``: validated before use, rebuilt when
damaged, never returned damaged; concurrent writers into one folder (issue 17, Features)."""

import json
import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dscref.cli import main
from dscref.datasets import list_images
from dscref.features.extraction import cached_features
from dscref.features.extractor import Extractor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import make_tiny  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    return {"extractor": make_tiny.make_extractor(d / "e.onnx", seed=2),
            "classifier": make_tiny.make_classifier(d / "c.onnx", seed=2)}


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((40 + 8 * i, 56, 3)) * 255).astype(np.uint8)).save(d / f"p{i}.png")
    return list_images(d)


def counting(ext, monkeypatch):
    """Make ``ext.extract`` count its calls (still extracting)."""
    calls = []
    real = ext.extract

    def extract(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ext, "extract", extract)
    return calls


def _resave(path, x):
    with open(path, "wb") as fh:  # bypasses every check, like a foreign writer would
        np.save(fh, x)


def _edit_meta(side, **changes):
    meta = json.loads(side.read_text())
    meta.update(changes)
    side.write_text(json.dumps(meta))


DAMAGE = {
    "truncated_npy": lambda c, s, x: c.write_bytes(c.read_bytes()[: c.stat().st_size // 2]),
    "empty_npy": lambda c, s, x: c.write_bytes(b""),
    "float64_npy": lambda c, s, x: _resave(c, x.astype(np.float64)),
    "nan_row": lambda c, s, x: _resave(c, np.where(np.arange(len(x))[:, None] == 1, np.nan, x).astype(np.float32)),
    "inf_value": lambda c, s, x: _resave(c, np.where(x == x.max(), np.inf, x).astype(np.float32)),
    "fewer_rows": lambda c, s, x: _resave(c, x[:2]),
    "other_runs_features": lambda c, s, x: _resave(c, x[::-1].copy()),
    "object_npy": lambda c, s, x: c.write_bytes(b"") or np.save(c, np.array([{"a": 1}] * 3, dtype=object),
                                                             allow_pickle=True),
    "malformed_json": lambda c, s, x: s.write_text('{"config": '),
    "json_list": lambda c, s, x: s.write_text("[]"),
    "kept_out_of_range": lambda c, s, x: _edit_meta(s, kept=[0, 1, 7]),
    "kept_not_increasing": lambda c, s, x: _edit_meta(s, kept=[1, 0, 2]),
    "kept_missing_image": lambda c, s, x: _edit_meta(s, kept=[0, 1], shape=[2, x.shape[1]]),
    "bad_not_pairs": lambda c, s, x: _edit_meta(s, bad="nothing"),
    "shape_mismatch": lambda c, s, x: _edit_meta(s, shape=[3, 99]),
    "dtype_mismatch": lambda c, s, x: _edit_meta(s, dtype="float64"),
    "no_checksum": lambda c, s, x: _edit_meta(s, features_sha256=None),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_cache_is_logged_and_rebuilt(models, files, tmp_path, monkeypatch, caplog, damage):
    ext = Extractor(models["extractor"], size=48)
    cache = tmp_path / "cache" / "feats.npy"
    x1, names, _ = cached_features(ext, files, cache, progress=False)
    DAMAGE[damage](cache, cache.with_suffix(".json"), x1)
    calls = counting(ext, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="dscref"):
        x2, names2, bad = cached_features(ext, files, cache, progress=False)
    assert calls == [1], "the damaged cache was used instead of re-extracting"
    assert x2.dtype == np.float32 and np.isfinite(x2).all() and np.array_equal(x2, x1)
    assert names2 == names and bad == []
    assert "damaged" in caplog.text and "feats.npy" in caplog.text
    # rebuilt intact: the next run is served from it
    x3, _, _ = cached_features(ext, files, cache, progress=False)
    assert calls == [1] and np.array_equal(x3, x1)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["feats.json", "feats.npy"]


def test_cache_of_another_model_or_image_list_is_stale_not_damaged(models, files, tmp_path, monkeypatch, caplog):
    ext = Extractor(models["extractor"], size=48)
    cache = tmp_path / "feats.npy"
    x1, _, _ = cached_features(ext, files, cache, progress=False)
    calls = counting(ext, monkeypatch)
    with caplog.at_level(logging.INFO, logger="dscref"):
        x2, names, _ = cached_features(ext, files[:2], cache, progress=False)
    assert calls == [1] and x2.shape == (2, 16) and len(names) == 2 and "stale" in caplog.text
    meta = json.loads(cache.with_suffix(".json").read_text())
    assert meta["shape"] == [2, 16] and meta["dtype"] == "float32" and len(meta["features_sha256"]) == 64


# --------------------------------------------------------------------------- two writers
def _pause_first_writer(monkeypatch):
    """np.save in thread "A" waits, after writing, until thread "B" has finished: the two runs'
    writes interleave exactly where a shared temp file name would be clobbered."""
    real_save = np.save
    a_wrote, b_done = threading.Event(), threading.Event()
    paused = []

    def save(file, arr, *args, **kwargs):
        real_save(file, arr, *args, **kwargs)
        if threading.current_thread().name == "A" and not a_wrote.is_set():
            paused.append(getattr(file, "name", file))
            a_wrote.set()
            assert b_done.wait(120), "thread B never finished"

    monkeypatch.setattr(np, "save", save)
    return a_wrote, b_done, paused


def _run_two(target_a, target_b, a_wrote, b_done):
    results, errors = {}, []

    def run(name, target):
        try:
            results[name] = target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append((name, exc))
        finally:
            if name == "B":
                b_done.set()
            else:
                a_wrote.set()

    ta = threading.Thread(target=run, args=("A", target_a), name="A")
    ta.start()
    assert a_wrote.wait(120)
    tb = threading.Thread(target=run, args=("B", target_b), name="B")
    tb.start()
    tb.join()
    ta.join()
    assert errors == []
    return results


def test_two_cached_features_into_one_cache(models, files, tmp_path, monkeypatch):
    ext = Extractor(models["extractor"], size=48)
    cache = tmp_path / "out" / "feats.npy"
    a_wrote, b_done, paused = _pause_first_writer(monkeypatch)
    res = _run_two(lambda: cached_features(ext, files, cache, progress=False),
                   lambda: cached_features(ext, files, cache, progress=False), a_wrote, b_done)
    assert len(paused) == 1  # A really was paused mid-write while B ran
    np.testing.assert_array_equal(res["A"][0], res["B"][0])
    monkeypatch.undo()
    calls = counting(ext, monkeypatch)
    x, _, _ = cached_features(ext, files, cache, progress=False)
    assert calls == [] and np.array_equal(x, res["A"][0])
    assert sorted(p.name for p in cache.parent.iterdir()) == ["feats.json", "feats.npy"]


def test_two_extracts_into_one_folder(models, files, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ["extract", str(files[0].parent), "--extractor", str(models["extractor"]),
            "--classifier", str(models["classifier"]), "--size", "48", "--classifier-size", "32",
            "--out", str(out)]
    a_wrote, b_done, paused = _pause_first_writer(monkeypatch)
    res = _run_two(lambda: main(args), lambda: main(args), a_wrote, b_done)
    assert res == {"A": 0, "B": 0} and len(paused) == 1
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["features.json", "features.npy", "labels.npy",
                                                     "names.txt", "probs.npy"]
    x, labels = np.load(out / "features.npy"), np.load(out / "labels.npy")
    assert x.shape == (3, 16) and x.dtype == np.float32 and labels.shape == (3, 5)
    assert (out / "names.txt").read_text().split() == ["p0.png", "p1.png", "p2.png"]
    # the pair left behind is consistent: a third run reuses it
    ext = Extractor(models["extractor"], size=48)
    calls = counting(ext, monkeypatch)
    x2, _, _ = cached_features(ext, files, out / "features.npy", names=[f.name for f in files], progress=False)
    assert calls == [] and np.array_equal(x2, x)


def test_extract_folder_writes_every_output_in_row_order(models, files, tmp_path):
    from dscref.features import Classifier, extract_folder

    ext, clf = Extractor(models["extractor"]), Classifier(models["classifier"])
    names = [f.name for f in files]
    bad = files[1].parent / "zz_bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    res = extract_folder(files + [bad], names + [bad.name], out, ext, clf, k=3, skip_bad=True)
    assert res.names == names and [Path(b[0]).name for b in res.bad] == [bad.name]
    x = np.load(out / "features.npy")
    labels, probs = np.load(out / "labels.npy"), np.load(out / "probs.npy")
    assert res.written == {"features.npy": x.shape, "labels.npy": (3, 3), "probs.npy": (3, 3)}
    np.testing.assert_allclose(x, ext.extract(files), rtol=1e-5, atol=1e-6)
    want_labels, want_probs = clf.topk(files, k=3)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-6)
    assert (out / "names.txt").read_text().split() == names
    assert bad.name in (out / "bad.txt").read_text()
    only_labels = extract_folder(files, names, tmp_path / "c", classifier=clf, k=2)
    assert set(only_labels.written) == {"labels.npy", "probs.npy"} and not (tmp_path / "c" / "features.npy").exists()
    with pytest.raises(ValueError, match="extractor and/or a classifier"):
        extract_folder(files, names, tmp_path / "d")
    with pytest.raises(ValueError, match="3 files but 2 names"):
        extract_folder(files, names[:2], tmp_path / "e", ext)
