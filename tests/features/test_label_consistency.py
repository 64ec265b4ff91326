"""The view changes and statistics of ``benchmarks/label_consistency.py`` (fast, no models), and one
run of the measurement on two photos with the real EfficientNet-Lite0 models when they are built."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import label_consistency as lc  # noqa: E402
import label_summary as ls  # noqa: E402
import view_changes as vc  # noqa: E402

BUILD = Path(__file__).resolve().parents[2] / "models" / "build"
HAVE_MODELS = all((BUILD / f).is_file() for f in
                  ("effnet-lite0-classifier.onnx", "effnet-lite0-gem.onnx", "manifest.json"))


@pytest.fixture
def img(drawn):
    return drawn(w=160, h=120, seed=3)


def rng(seed=0):
    return np.random.default_rng(seed)


SEEDED = [lambda im, r: vc.crop(im, 0.6, r), lambda im, r: vc.colour(im, 0.5, r),
          lambda im, r: vc.apply_change(im, "combined", "strong", r),
          lambda im, r: vc.apply_change(im, "rotation", "medium", r)]


@pytest.mark.parametrize("change", range(len(SEEDED)))
def test_seeded_changes_are_deterministic_and_depend_on_the_seed(img, change):
    f = SEEDED[change]
    a, b, c = (np.asarray(f(img, rng(s))) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    outs = [np.asarray(f(img, rng(s))) for s in range(8, 16)]
    assert any(o.shape != a.shape or not np.array_equal(o, a) for o in [c] + outs)


@pytest.mark.parametrize("change, level", [(c, lv) for c in vc.CHANGES for lv in vc.CHANGES[c]])
def test_every_change_gives_an_rgb_uint8_image(img, change, level):
    out = vc.apply_change(img, change, level, rng(1))
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    a = np.asarray(out)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert not np.array_equal(a, np.asarray(img)) or a.shape != np.asarray(img).shape
    if change in ("scale_back", "jpeg", "colour", "blur"):
        assert out.size == img.size
    assert np.asarray(img).shape == (120, 160, 3)  # the input is never modified


@pytest.mark.parametrize("call", [lambda im: vc.crop(im, 1.0, rng()), lambda im: vc.scale(im, 1.0),
                                  lambda im: vc.scale(im, 1.0, back=True), lambda im: vc.rotate(im, 0),
                                  lambda im: vc.colour(im, 0.0, rng()), lambda im: vc.blur(im, 0.0)])
def test_neutral_strength_is_the_identity(img, call):
    out = call(img)
    assert out is not img
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


@pytest.mark.parametrize("keep", [0.9, 0.7, 0.5, 0.1])
def test_crop_keeps_the_asked_share_of_the_area(img, keep):
    for s in range(20):
        w, h = vc.crop(img, keep, rng(s)).size
        assert w <= 160 and h <= 120
        assert abs(w * h / (160 * 120) - keep) < 0.03
        assert 3 / 4 - 0.05 <= (w / h) / (160 / 120) <= 4 / 3 + 0.05 or w == 160 or h == 120


def test_scale_sizes(img):
    assert vc.scale(img, 0.5).size == (80, 60)
    assert vc.scale(img, 0.25, back=True).size == (160, 120)
    # down and up again loses detail: further from the original than a mild JPEG
    back = np.asarray(vc.scale(img, 0.25, back=True), float)
    assert np.abs(back - np.asarray(img, float)).mean() > 1.0


def test_rotation_crops_the_border_away():
    white = Image.new("RGB", (200, 120), "white")
    for deg in (5, -10, 15, 45):
        out = vc.rotate(white, deg)
        f = vc._inscribed(200, 120, math.radians(deg))
        assert out.size == (math.floor(200 * f), math.floor(120 * f))
        a = np.asarray(out)
        assert a[1:-1, 1:-1].min() >= 250  # no black corner inside the kept rectangle
    assert vc._inscribed(200, 120, 0.0) == 1.0


def test_rotation_turns_the_picture(img):
    a = np.asarray(vc.rotate(img, 10), float)
    b = np.asarray(vc.rotate(img, -10), float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 5


def test_jpeg_quality_orders_the_error(img):
    x = np.asarray(img, float)
    err = [np.abs(np.asarray(vc.jpeg(img, q), float) - x).mean() for q in (90, 50, 20)]
    assert 0 < err[0] < err[1] < err[2]


def test_blur_smooths_more_with_sigma(img):
    def grad(im):
        a = np.asarray(im, float)
        return np.abs(np.diff(a, axis=1)).mean()

    g = [grad(img)] + [grad(vc.blur(img, s)) for s in (1, 2, 3)]
    assert g[0] > g[1] > g[2] > g[3]
    flat = Image.new("RGB", (50, 40), (200, 10, 60))  # blur is spatial only: colours never mix
    np.testing.assert_array_equal(np.asarray(vc.blur(flat, 3)), np.asarray(flat))


def test_colour_changes_brightness_or_hue(img):
    x = np.asarray(img, float)
    diffs = [np.abs(np.asarray(vc.colour(img, a, rng(4)), float) - x).mean() for a in (0.2, 0.6)]
    assert 0 < diffs[0] < diffs[1]


@pytest.mark.parametrize("call, name", [
    (lambda im: vc.crop(im, 0.0, rng()), "keep"), (lambda im: vc.crop(im, 1.5, rng()), "keep"),
    (lambda im: vc.crop(im, float("nan"), rng()), "keep"), (lambda im: vc.scale(im, 0), "factor"),
    (lambda im: vc.scale(im, 2.0), "factor"), (lambda im: vc.rotate(im, 60), "degrees"),
    (lambda im: vc.jpeg(im, 0), "quality"), (lambda im: vc.jpeg(im, 100), "quality"),
    (lambda im: vc.colour(im, -0.1, rng()), "amount"), (lambda im: vc.colour(im, 1.5, rng()), "amount"),
    (lambda im: vc.blur(im, -1), "sigma"), (lambda im: vc.blur(im, math.inf), "sigma"),
    (lambda im: vc.apply_change(im, "zoom", "weak", rng()), "change"),
    (lambda im: vc.apply_change(im, "crop", "extreme", rng()), "level"),
])
def test_bad_strength_raises_value_error_naming_it(img, call, name):
    with pytest.raises(ValueError, match=name):
        call(img)


@pytest.mark.parametrize("call", [lambda im: vc.crop(im, "0.5", rng()), lambda im: vc.jpeg(im, 50.0),
                                  lambda im: vc.crop(im, 0.5, 0), lambda im: vc.blur(np.asarray(im), 1),
                                  lambda im: vc.blur(im.convert("L"), 1)])
def test_wrong_types_are_refused(img, call):
    with pytest.raises((TypeError, ValueError)):
        call(img)


def test_view_set_is_seeded_and_each_view_independent_of_the_others(img):
    full = lc.view_set(img, "x", seed=5, draws=2)
    n = sum(len(lv) * (2 if c in vc.RANDOM_CHANGES else 1) for c, lv in vc.CHANGES.items())
    assert len(full) == n
    again = lc.view_set(img, "x", seed=5, draws=2)
    only = lc.view_set(img, "x", seed=5, draws=2, changes=("combined",))
    assert all(np.array_equal(np.asarray(a[3]), np.asarray(b[3])) for a, b in zip(full, again))
    combined = [v for v in full if v[0] == "combined"]
    assert len(only) == len(combined) == 6
    assert all(np.array_equal(np.asarray(a[3]), np.asarray(b[3])) for a, b in zip(combined, only))
    other = lc.view_set(img, "y", seed=5, draws=1, changes=("crop",))
    assert any(np.asarray(a[3]).shape != np.asarray(b[3]).shape or not np.array_equal(np.asarray(a[3]), np.asarray(b[3]))
               for a, b in zip(other, [v for v in full if v[0] == "crop" and v[2] == 0]))


def test_compare():
    d = np.array([1.0, 0.0], np.float32)
    assert lc.compare([3, 1, 2, 4, 5], [3, 9, 8, 7, 6], d, d) == {
        "top1_to_top1": True, "top1_in_top5": True, "top5_overlap": 1, "gem_cos": 1.0}
    r = lc.compare([3, 1, 2, 4, 5], [1, 2, 4, 5, 3], d, np.array([0.6, 0.8], np.float32))
    assert r["top1_to_top1"] is False and r["top1_in_top5"] is True and r["top5_overlap"] == 5
    assert r["gem_cos"] == pytest.approx(0.6)
    assert lc.compare([3, 1, 2, 4, 5], [6, 7, 8, 9, 10], d, d)["top1_in_top5"] is False


def test_bootstrap_mean_resamples_scenes():
    r = rng(0)
    m, lo, hi = ls.bootstrap_mean([0.5] * 6, list("aabbcc"), r)
    assert m == lo == hi == 0.5
    m, lo, hi = ls.bootstrap_mean([0, 0, 1, 1, 1, 1], list("aabbcc"), rng(1), n_boot=4000)
    assert m == pytest.approx(4 / 6) and 0 <= lo < m < hi <= 1
    # two photos of one scene move together: clustering widens nothing here but the mean holds
    assert ls.bootstrap_mean([0, 1], ["s", "s"], rng(2)) == [0.5, 0.5, 0.5]
    assert ls.bootstrap_mean([0, 1, 1], list("abc"), rng(3)) == ls.bootstrap_mean([0, 1, 1], list("abc"), rng(3))


def _fake(name, scene, same, p_top1=0.5):
    views = [{"change": "jpeg", "level": "weak", "draw": 0, "top1_to_top1": same[0], "top1_in_top5": True,
              "top5_overlap": 5, "gem_cos": 0.9, "top5": [1, 2, 3, 4, 5]},
             {"change": "crop", "level": "weak", "draw": 0, "top1_to_top1": same[1], "top1_in_top5": True,
              "top5_overlap": 3, "gem_cos": 0.8, "top5": [1, 2, 3, 7, 8]},
             {"change": "crop", "level": "weak", "draw": 1, "top1_to_top1": same[2], "top1_in_top5": False,
              "top5_overlap": 2, "gem_cos": 0.7, "top5": [9, 2, 3, 7, 8]}]
    return {"name": name, "group": "colour", "scene": scene, "views": views, "top5": [1, 2, 3, 4, 5],
            "top5_probs": [p_top1, 0.1, 0.1, 0.1, 0.1]}


def test_summarise_weights_each_change_and_level_equally():
    res = [_fake("a", "a", (True, True, False)), _fake("b", "b", (True, False, False))]
    s = ls.summarise(res, seed=0, n_boot=200)["colour"]
    assert set(s) == {"overall", "jpeg", "jpeg/weak", "crop", "crop/weak"}
    assert s["crop/weak"]["top1_to_top1"][0] == pytest.approx((0.5 + 0.0) / 2)
    assert s["overall"]["top1_to_top1"][0] == pytest.approx(((1 + 0.5) / 2 + (1 + 0) / 2) / 2)
    assert s["overall"]["top1_in_top5"][0] == pytest.approx((1 + 0.5) / 2)
    assert s["crop/weak"]["gem_cos"][0] == pytest.approx(0.75)
    assert s["crop/weak"]["p_top5_overlap"] == [0, 0, 0.5, 0.5, 0, 0]
    assert s["overall"]["n_photos"] == 2 and s["overall"]["n_scenes"] == 2
    # two draws of crop/weak: top-1 1 vs 9, and 1 is in the other's top-5 one way only
    assert s["crop/weak"]["between_views"]["top1_to_top1"][0] == 0.0
    assert s["crop/weak"]["between_views"]["top1_in_top5"][0] == 0.0
    assert "between_views" not in s["jpeg/weak"] and "between_views" not in s["crop"]


def test_between_views_counts_ordered_pairs_of_draws():
    r = {"views": [{"change": "colour", "level": "weak", "top5": t} for t in
                   ([1, 2, 3, 4, 5], [1, 6, 7, 8, 9], [2, 1, 3, 4, 5])]}
    t1, t5 = ls.between_views(r, "colour", "weak")
    assert t1 == pytest.approx(2 / 6)  # (0, 1) and (1, 0) agree
    assert t5 == pytest.approx(5 / 6)  # every pair but top-1 2 -> [1, 6, 7, 8, 9]
    assert ls.between_views(r, "colour", "strong") is None


def test_confidence_and_headline():
    res = [_fake(n, n, s, p) for n, s, p in (("a", (True, True, True), 0.9), ("b", (True, True, False), 0.5),
                                            ("c", (False, False, False), 0.1), ("d", (True, False, False), 0.3))]
    c = ls.confidence(res)
    assert c["n_photos"] == 4 and c["spearman_top1_to_top1"][0] == pytest.approx(1.0)
    for r in res:
        for v in r["views"]:
            v["change"] = "combined"
    h = ls.headline(ls.summarise(res, seed=1, n_boot=100))
    assert set(h) == {"colour"} and set(h["colour"]) == {"weak"}
    w = h["colour"]["weak"]
    assert w["original_to_view"]["top1_to_top1"][0] == pytest.approx((1 + 2 / 3 + 0 + 1 / 3) / 4)
    # every photo's three views have top-1 1, 1, 9: two of the six ordered pairs agree
    assert w["between_views"]["top1_to_top1"][0] == pytest.approx(1 / 3)


def test_to_json_is_the_same_document_one_line_per_view():
    doc = {"schema": "x", "summary": {"a": [1, 2.5]}, "per_image": [
        {"name": "a", "top5": [1, 2, 3, 4, 5], "views": [{"change": "crop", "gem_cos": 0.5}, {"change": "jpeg"}]},
        {"name": "b", "top5": [5, 4, 3, 2, 1], "views": [{"change": "blur", "top5": [1, 2]}]}]}
    text = lc.to_json(doc)
    assert json.loads(text) == doc
    assert sum('"change"' in line for line in text.splitlines()) == 3 and text.endswith("}\n")


def test_photo_table_is_consistent():
    names = [p.name for p in lc.PHOTOS]
    assert len(set(names)) == len(names)
    assert {p.group for p in lc.PHOTOS} == {"colour", "grayscale"}
    assert all(p.source for p in lc.PHOTOS)
    # photos of one scene are one cluster: the stereo pair
    assert [p.scene for p in lc.PHOTOS if p.name.startswith("motorcycle")] == ["motorcycle", "motorcycle"]


@pytest.mark.realmodel
@pytest.mark.skipif(not HAVE_MODELS, reason=f"real models absent from {BUILD}: run `python models/export.py offline`")
def test_measurement_on_two_photos_with_the_real_models(tmp_path):
    pytest.importorskip("skimage", reason="scikit-image provides the photographs")
    from dscref.features import Classifier, Extractor

    clf = Classifier(BUILD / "effnet-lite0-classifier.onnx", manifest=BUILD / "manifest.json")
    ext = Extractor(BUILD / "effnet-lite0-gem.onnx", manifest=BUILD / "manifest.json")
    chelsea = [(p, path) for p, path in lc.available_photos() if p.name == "chelsea"][0]
    img = lc.load_photo(chelsea[1])
    assert max(img.size) <= lc.WORKING_SIDE and img.mode == "RGB"
    same = lc.measure_photo(clf, ext, img, [("identity", "-", 0, img.copy())])["views"][0]
    assert same["top1_to_top1"] and same["top5_overlap"] == 5 and same["gem_cos"] == pytest.approx(1, abs=1e-5)

    doc = lc.main(["--models", str(BUILD), "--out", str(tmp_path), "--draws", "1", "--n-boot", "200",
                   "--photos", "chelsea,coffee", "--changes", "jpeg,combined"])
    on_disk = json.loads((tmp_path / "label_consistency.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(doc["summary"]))
    assert [r["name"] for r in on_disk["per_image"]] == ["chelsea", "coffee"]
    assert on_disk["models"]["classifier"]["sha256"] == json.loads(
        (BUILD / "manifest.json").read_text())["models"]["effnet-lite0-classifier.onnx"]["sha256"]
    for r in on_disk["per_image"]:
        assert len(r["views"]) == 6 and len(r["top5"]) == 5
        assert r["top5"][0] in ({281, 282, 283, 284, 285} if r["name"] == "chelsea" else {967, 968, 504})
        for v in r["views"]:
            assert -1 <= v["gem_cos"] <= 1 + 1e-6 and 0 <= v["top5_overlap"] <= 5
    b = on_disk["summary"]["colour"]
    assert b["jpeg/weak"]["top1_in_top5"][0] == 1.0  # quality 90 keeps both labels
    assert b["combined/weak"]["gem_cos"][0] > b["combined/strong"]["gem_cos"][0]
    assert "| combined | strong |" in (tmp_path / "label_consistency.md").read_text()
