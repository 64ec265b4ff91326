"""dscref.datasets: revisited Oxford/Paris and Holidays loaders, extraction with skip_bad, caching."""

import json
import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dscref.datasets import (cached_features, extract_images, list_images, load_holidays,
                             load_revisited)
from dscref.errors import ImageError
from dscref.features import Classifier, Extractor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
import make_tiny  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny.make_all(tmp_path_factory.mktemp("tiny"), seed=1)


def scene(k, w=120, h=90, jitter=0):
    """Picture of 'landmark' k (same layout for the same k, small per-photo jitter)."""
    rng = np.random.default_rng(k)
    img = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, w - 30)) + jitter, int(rng.integers(0, h - 30))
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        d.rectangle([x0, y0, x0 + 25, y0 + 25], fill=fill)
    return img


def ap_revisitop(ranks_of_positives):
    """AP by trapezoids over 0-based, junk-adjusted positive ranks (REFERENCES.md protocol)."""
    pos = np.sort(np.asarray(ranks_of_positives))
    ap = 0.0
    for j, r in enumerate(pos):
        p0 = 1.0 if r == 0 else j / r
        p1 = (j + 1) / (r + 1)
        ap += (p0 + p1) / 2 / len(pos)
    return ap


def map_direct(ranking, gnd):
    """mAP of ``ranking`` (nq, n) database ids with ``gnd`` [{'ok', 'junk'}]."""
    aps = []
    for q, g in enumerate(gnd):
        ok, junk = set(g["ok"].tolist()), set(g["junk"].tolist())
        if not ok:
            continue
        ranks, n_junk = [], 0
        for r, i in enumerate(ranking[q]):
            if i in junk:
                n_junk += 1
            elif i in ok:
                ranks.append(r - n_junk)
        aps.append(ap_revisitop(ranks))
    return float(np.mean(aps))


def test_ap_helper_on_textbook_cases():
    assert ap_revisitop([0, 1]) == 1.0
    assert ap_revisitop([1]) == pytest.approx(0.25)  # (0 + 1/2) / 2
    gnd = [{"ok": np.array([2]), "junk": np.array([0])}]
    assert map_direct(np.array([[0, 2, 1]]), gnd) == 1.0  # junk ranked first is ignored


@pytest.fixture()
def mini_roxford(tmp_path):
    name = "rmini"
    jpg = tmp_path / name / "jpg"
    jpg.mkdir(parents=True)
    imlist, scene_of = [], []
    for k in range(3):
        for v in range(3):
            stem = f"land{k}_{v:03d}"
            scene(k, jitter=2 * v).save(jpg / f"{stem}.jpg", quality=92)
            imlist.append(stem)
            scene_of.append(k)
    qimlist, gnd = [], []
    for k in range(3):
        stem = f"query{k}"
        # The query photo = the landmark inside a larger unrelated frame; bbx selects the landmark.
        frame = Image.new("RGB", (200, 160), (10, 200, 30))
        frame.paste(scene(k, jitter=1), (40, 30))
        frame.save(jpg / f"{stem}.jpg", quality=92)
        qimlist.append(stem)
        ids = [i for i, s in enumerate(scene_of) if s == k]
        gnd.append({"bbx": [40.0, 30.0, 160.0, 120.0], "easy": ids[:2], "hard": ids[2:],
                    "junk": [(ids[0] + 3) % 9]})
    with open(tmp_path / name / f"gnd_{name}.pkl", "wb") as fh:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, fh)
    return tmp_path, name


def test_revisited_loader_and_map(mini_roxford, tiny):
    root, name = mini_roxford
    ds = load_revisited(root, name)
    assert len(ds.images) == 9 and len(ds.queries) == 3 and ds.bbx.shape == (3, 4)
    q = ds.query_image(0)
    assert q.size == (120, 90)  # cropped to bbx
    ext = Extractor(tiny["extractor"], size=64)
    xb, xq = ext.extract(ds.images), ext.extract(ds.query_images())
    ranking = np.argsort(-(xq @ xb.T), axis=1, kind="stable")
    for setting in ("easy", "medium", "hard"):
        gnd = ds.ground_truth(setting)
        # direct computation from the raw pickle lists
        raw = pickle.load(open(root / name / f"gnd_{name}.pkl", "rb"))["gnd"]
        ok_k, junk_k = {"easy": (["easy"], ["junk", "hard"]), "medium": (["easy", "hard"], ["junk"]),
                        "hard": (["hard"], ["junk", "easy"])}[setting]
        for g, r in zip(gnd, raw):
            assert sorted(g["ok"].tolist()) == sorted(sum((r[k] for k in ok_k), []))
            assert sorted(g["junk"].tolist()) == sorted(sum((r[k] for k in junk_k), []))
        m = map_direct(ranking, gnd)
        direct = map_direct(ranking, [{"ok": np.array(sum((r[k] for k in ok_k), [])),
                                       "junk": np.array(sum((r[k] for k in junk_k), []))} for r in raw])
        assert m == direct and 0 < m <= 1
    # perfect ranking -> mAP 1
    gnd = ds.ground_truth("medium")
    perfect = np.array([np.concatenate([g["ok"], np.setdiff1d(np.arange(9), g["ok"])]) for g in gnd])
    assert map_direct(perfect, gnd) == 1.0


def test_revisited_errors(mini_roxford):
    root, name = mini_roxford
    with pytest.raises(FileNotFoundError, match="gnd_nothing.pkl"):
        load_revisited(root, "nothing")
    (root / name / "jpg" / "land0_000.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="land0_000"):
        load_revisited(root, name)
    with open(root / name / f"gnd_{name}.pkl", "wb") as fh:
        pickle.dump({"imlist": []}, fh)
    with pytest.raises(ValueError, match="lacks"):
        load_revisited(root, name)


def test_holidays_loader(tmp_path):
    jpg = tmp_path / "jpg"
    jpg.mkdir()
    for n in (100000, 100001, 100002, 100100, 100101, 149900, 149901):
        scene(n % 7).save(jpg / f"{n}.jpg")
    ds = load_holidays(tmp_path)
    names = [p.name for p in ds.images]
    assert [names[i] for i in ds.query_ids] == ["100000.jpg", "100100.jpg", "149900.jpg"]
    assert [names[i] for i in ds.gnd[0]["ok"]] == ["100001.jpg", "100002.jpg"]
    assert ds.gnd[0]["junk"].tolist() == [0]
    (jpg / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="holiday.jpg"):
        load_holidays(tmp_path)


def test_list_images_and_skip_bad(tmp_path, tiny, caplog):
    for i in range(4):
        scene(i).save(tmp_path / f"im{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "readme.txt").write_text("not an image")
    files = list_images(tmp_path)
    assert [f.name for f in files] == ["broken.jpg", "im0.png", "im1.png", "im2.png", "im3.png"]
    ext = Extractor(tiny["extractor"], size=48)
    with pytest.raises(ImageError, match="broken.jpg"):
        extract_images(ext, files, progress=False)
    with caplog.at_level(logging.WARNING):
        x, kept, bad = extract_images(ext, files, skip_bad=True, chunk=2, progress=False)
    assert x.shape == (4, 16) and kept.tolist() == [1, 2, 3, 4]
    assert len(bad) == 1 and bad[0][0].endswith("broken.jpg")
    assert "broken.jpg" in caplog.text
    np.testing.assert_allclose(x, ext.extract(files[1:]), atol=1e-6)
    (labels, probs), kept2, bad2 = extract_images(Classifier(tiny["classifier"], size=32), files,
                                                  skip_bad=True, progress=False, k=5)
    assert labels.shape == (4, 5) and kept2.tolist() == [1, 2, 3, 4] and len(bad2) == 1
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "absent")


def test_feature_cache(tmp_path, tiny, monkeypatch):
    for i in range(3):
        scene(i).save(tmp_path / f"im{i}.png")
    files = list_images(tmp_path)
    ext = Extractor(tiny["extractor"], size=48)
    cache = tmp_path / "cache" / "feats.npy"
    x1, names, bad = cached_features(ext, files, cache, progress=False)
    meta = json.loads(cache.with_suffix(".json").read_text())
    assert meta["config"]["model_sha256"] == ext.sha256 and meta["config"]["size"] == 48
    calls = []
    monkeypatch.setattr(ext, "extract", lambda *a, **k: calls.append(1))
    x2, _, _ = cached_features(ext, files, cache, progress=False)  # served from the cache
    assert calls == [] and np.array_equal(x1, x2)
    monkeypatch.undo()
    # changed preprocessing or model invalidates the cache
    ext2 = Extractor(tiny["extractor"], size=40)
    x3, _, _ = cached_features(ext2, files, cache, progress=False)
    assert not np.allclose(x1, x3)
    assert json.loads(cache.with_suffix(".json").read_text())["config"]["size"] == 40
    ext3 = Extractor(tiny["extractor_fmap"], size=40)
    x4, _, _ = cached_features(ext3, files, cache, progress=False)
    assert json.loads(cache.with_suffix(".json").read_text())["config"]["model_sha256"] == ext3.sha256


# --------------------------------------------------------------------------- restricted unpickling
class _RunsCode:
    def __init__(self, call, arg):
        self.call, self.arg = call, arg

    def __reduce__(self):
        return (self.call, (self.arg,))


@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "numpy.load"])
def test_crafted_gnd_pickle_is_refused_and_runs_nothing(mini_roxford, how):
    import os

    from dscref.errors import UnsafeFileError

    root, name = mini_roxford
    marker = root / "pwned"
    evil = {"os.system": _RunsCode(os.system, f"touch {marker}"),
            "builtins.eval": _RunsCode(eval, f"open({str(marker)!r}, 'w').close()"),
            "numpy.load": _RunsCode(np.load, str(marker))}[how]
    gpath = root / name / f"gnd_{name}.pkl"
    cfg = pickle.load(open(gpath, "rb"))
    cfg["gnd"][0]["easy"] = evil
    with open(gpath, "wb") as fh:
        pickle.dump(cfg, fh)
    refused = {"os.system": "posix.system", "builtins.eval": "builtins.eval", "numpy.load": "numpy.load"}[how]
    with pytest.raises(UnsafeFileError, match=rf"gnd_{name}\.pkl.*{refused}"):
        load_revisited(root, name)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_gnd_pickle_with_numpy_arrays_and_scalars_loads(mini_roxford, protocol):
    """The upstream files hold lists of ints / floats; NumPy arrays and scalars load as well."""
    root, name = mini_roxford
    gpath = root / name / f"gnd_{name}.pkl"
    cfg = pickle.load(open(gpath, "rb"))
    want = load_revisited(root, name).ground_truth("medium")
    for g in cfg["gnd"]:
        g["bbx"] = np.array([np.float64(v) for v in g["bbx"]])
        g["easy"] = np.asarray(g["easy"], dtype=np.int64)
        g["hard"] = [np.int32(i) for i in g["hard"]]
        g["junk"] = np.asarray(g["junk"], dtype=np.uint16)
    cfg["qimlist"] = tuple(cfg["qimlist"])
    with open(gpath, "wb") as fh:
        pickle.dump(cfg, fh, protocol=protocol)
    ds = load_revisited(root, name)
    assert ds.bbx.tolist() == [[40.0, 30.0, 160.0, 120.0]] * 3
    for g, w in zip(ds.ground_truth("medium"), want):
        assert g["ok"].tolist() == w["ok"].tolist() and g["junk"].tolist() == w["junk"].tolist()


def test_corrupt_gnd_pickle_is_a_value_error(mini_roxford):
    root, name = mini_roxford
    gpath = root / name / f"gnd_{name}.pkl"
    gpath.write_bytes(gpath.read_bytes()[:40])
    with pytest.raises(ValueError, match=rf"gnd_{name}\.pkl"):
        load_revisited(root, name)
    with open(gpath, "wb") as fh:
        pickle.dump({"imlist": [], "qimlist": ["q"], "gnd": ["not a dict"]}, fh)
    with pytest.raises(ValueError, match="not a dict"):
        load_revisited(root, name)
