"""build_index / head_labels / evaluate: Table I's numbers for one index, queries through the
error-free link."""

import numpy as np
import pytest

from dscref import experiments as E
from dscref.codec import PayloadLayout
from dscref.link import Link


@pytest.mark.parametrize("kind", ["dsc", "ivf", "flat"])
def test_error_free_link_changes_no_number(tiny, kind):
    """The codec round trip (Link without a channel) is lossless: evaluate through the codec and
    straight on the encoded queries give the same numbers, bit for bit."""
    extra = dict(M=8, nbits=4) if kind == "flat" else {}
    index, seconds = E.build_index(kind, tiny, seed=0, n_iter=4, **extra)
    assert seconds >= 0 and index.ntotal == tiny.n
    via = E.evaluate(index, kind, tiny, k=100)
    direct = E.evaluate(index, kind, tiny, k=100, through_codec=False)
    for key in ("mAP", "Recall", "R@1", "R@10", "R@100", "candidates", "bytes", "head_bytes"):
        assert via[key] == direct[key], key
    layout = PayloadLayout.for_index(index, head_size=5 if kind != "flat" else 0)
    assert via["bytes"] == layout.nbytes and via["head_bytes"] == layout.head_bytes
    raw = E.evaluate(index, kind, tiny, k=100, raw=True)
    assert raw["bytes"] == layout.head_bytes + tiny.xb.shape[1] * 4


def test_head_labels_per_kind(tiny, indexes):
    if "ivf" not in indexes:
        indexes["ivf"], _ = E.build_index("ivf", tiny, seed=0)
    ivf = indexes["ivf"]
    np.testing.assert_array_equal(E.head_labels(None, "dsc", tiny, 2, 5), tiny.ranking_q[2, :5])
    np.testing.assert_array_equal(E.head_labels(None, "flat", tiny, 2, 5), [0])
    np.testing.assert_array_equal(E.head_labels(ivf, "ivf", tiny, 2, 7), ivf.head(tiny.xq[2], 7))


def test_build_index_takes_the_data_lists_unless_given(tiny):
    index, _ = E.build_index("dsc", tiny, seed=0, n_iter=2)
    assert index.n_lists == tiny.n_lists == 200
    index, _ = E.build_index("ivf", tiny, seed=0, n_iter=2, n_lists=16)
    assert index.n_lists == 16


def test_evaluate_sends_every_query_through_one_error_free_link(tiny, monkeypatch):
    index, _ = E.build_index("dsc", tiny, seed=0, n_iter=2)
    sent = []
    real = Link.send

    def spy(self, queries, rng=None):
        assert self.channel is None
        sent.append(1)
        return real(self, queries, rng)

    monkeypatch.setattr(Link, "send", spy)
    E.evaluate(index, "dsc", tiny, k=50)
    assert len(sent) == len(tiny.xq)
    sent.clear()
    E.evaluate(index, "dsc", tiny, k=50, raw=True)
    assert sent == []


def test_evaluate_reports_both_recalls(tiny):
    """"Recall" is the candidate list's (1 for an exhaustive scan); "Recall@k" the k items returned."""
    from dscref.metrics import recall_at_k

    index, _ = E.build_index("flat", tiny, seed=0, n_iter=4, M=8, nbits=4)
    r = E.evaluate(index, "flat", tiny, k=20)
    assert r["Recall"] == 1.0 and r["R@10"] <= r["Recall@20"] < 1.0
    I = index.search([index.encode_query(q) for q in tiny.xq], k=20).I
    assert r["Recall@20"] == float(recall_at_k(I, tiny.gnd, 20))
