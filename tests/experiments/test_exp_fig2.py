"""Fig. 2 at tiny scale (seconds): recall grows with the head size; the result is written as JSON + PNG."""

import importlib.util
import json

import numpy as np
import pytest

from dscref import experiments as E


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


def _heads(index, kind, data, h):
    return [E.head_labels(index, kind, data, qi, h) for qi in range(len(data.xq))]


def _build_all(tiny, indexes):
    for kind in ("dsc", "ivf", "imi", "gp"):
        if kind not in indexes:
            indexes[kind], _ = E.build_index(kind, tiny, seed=0)


def test_heads_are_nested_prefixes(tiny, indexes):
    """Fig. 2 slices one head at the largest size: a head of h is the first h of a longer one."""
    _build_all(tiny, indexes)
    for kind in ("dsc", "ivf", "imi", "gp"):
        index = indexes[kind]
        for h in (1, 3, 20):
            for long, short in zip(_heads(index, kind, tiny, 50), _heads(index, kind, tiny, h)):
                assert np.array_equal(long[:h], short), (kind, h)


def test_recall_from_list_membership_equals_candidate_recall_of_the_lists(tiny, indexes):
    """The curve equals, float for float, metrics.candidate_recall on the items of the lists of
    the built indexes, also where Fig. 2 builds none (DSC: the labels; G+P: IVF's cells)."""
    from dscref.metrics import candidate_recall

    sizes = [1, 2, 3, 5, 10, 30, 50]
    _build_all(tiny, indexes)
    fresh = {}
    res = E.fig2(tiny, indexes=fresh, head_sizes=sizes)
    assert set(fresh) == set(res["build_s"]) == {"ivf", "imi"}  # DSC and G+P need no build
    assert E.fig2(tiny, indexes=indexes, head_sizes=sizes)["curves"] == res["curves"]  # the built G+P, DSC
    for kind in ("dsc", "ivf", "imi", "gp"):
        index = indexes[kind]
        want = [float(candidate_recall([index.candidate_ids(lab) for lab in _heads(index, kind, tiny, h)], tiny.gnd))
                for h in sizes]
        assert res["curves"][kind]["recall"] == want, kind
        assert res["data"] == {"name": tiny.name, "n_db": tiny.n, "n_queries": len(tiny.xq)}
        assert res["recall_s"] >= 0


def test_recall_curve_edge_cases():
    list_of = np.array([0, 0, 1, 2, -1, 3])  # item 4 is in no list
    gnd = [{"ok": [0, 2, 4], "junk": []}, {"ok": [], "junk": [1]}, {"ok": [5, 3], "junk": []}]
    heads = [np.array([1, 0]), np.array([0]), np.array([], np.int64)]
    rec = E.recall_curve(heads, list_of, gnd, [1, 2, 5])
    # query 0: list 1 holds item 2, then list 0 item 0, item 4 never; query 1 has no positives
    # (excluded); query 2 names no list
    assert rec == [(1 / 3 + 0) / 2, (2 / 3 + 0) / 2, (2 / 3 + 0) / 2]
    # ids beyond the index's range are found nowhere
    assert E.recall_curve([np.array([0])], list_of, [{"ok": [0, 99]}], [1]) == [0.5]
    with pytest.raises(ValueError, match="heads"):
        E.recall_curve(heads[:2], list_of, gnd, [1])


def test_list_of_items_inverts_the_lists(tiny, indexes):
    E.fig2(tiny, indexes=indexes, head_sizes=(1,), kinds=("ivf",))
    index = indexes["ivf"]
    lists = E.list_of_items(index)
    assert lists.shape == (tiny.n,) and lists.min() >= 0
    for lab in (0, 7, 123):
        assert np.array_equal(np.sort(np.flatnonzero(lists == lab)), np.sort(index.candidate_ids([lab])))


def test_fig2_paper_runs_each_data_set_and_tabulates_the_paper(tiny, indexes, tmp_path):
    loaded, asked = [], []

    def load(scale):
        loaded.append(scale)
        return tiny

    def indexes_of(scale):  # every "data set" is tiny here: share its indexes (no builds)
        asked.append(scale)
        return indexes

    res = E.fig2_paper(load, ("oxford5k", "holidays", "105k"), kinds=("dsc", "ivf"), head_sizes=(1, 5, 30),
                       indexes_of=indexes_of)
    assert loaded == asked == ["oxford5k", "holidays", "105k"] and {"dsc", "ivf"} <= set(indexes)
    assert list(res["datasets"]) == loaded and res["experiment"] == "fig2_paper"
    for s in loaded:
        assert res["head_size_for_target"]["dsc"][s] == res["datasets"][s]["head_size_for_target"]["dsc"]
    assert res["paper_head_size_for_90pct"]["ivf"] == {"oxford5k": 30, "paris6k": 30, "holidays": 5}
    assert res["paper_head_size_for_90pct"]["imi"]["oxford5k"] is None
    text = E.format_fig2_paper(res)
    assert "-- holidays" in text and "/ 30" in text and "/ -" in text  # 105k: the paper has no value
    doc = json.loads(E.write_document(tmp_path / "f2", res).read_text())
    assert set(doc["datasets"]) == set(loaded) and doc["experiment"] == "fig2_paper"
    assert "| DSC |" in E.format_markdown(doc)
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "f2" / "fig2_paper.png").stat().st_size > 0
    with pytest.raises(TypeError, match="indexes"):
        E.fig2_paper(load, ("105k",), indexes={})
    with pytest.raises(ValueError, match="scales"):
        E.fig2_paper(load, ())
