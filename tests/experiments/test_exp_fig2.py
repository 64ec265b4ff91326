"""Fig. 2 at tiny scale (seconds): recall grows with the head size; the result is written as JSON + PNG."""

import json

import numpy as np

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
