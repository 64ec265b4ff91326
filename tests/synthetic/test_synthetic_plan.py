"""Tests of dscref.synthetic.plan: the public SyntheticPlan built from the streamed parameters is the
plan of make_semantic_dataset (labels, queries, ground truth, rows whatever the chunking), and it
checks its parameters."""

import numpy as np
import pytest

from dscref.synthetic import SyntheticPlan, make_semantic_dataset
from dscref.synthetic.params import checked_params, stream_params


def test_plan_is_the_plan_of_make_semantic_dataset(small):
    kw = dict(d=32, seed=7, **small)
    ds = make_semantic_dataset(9000, **kw)
    plan = SyntheticPlan(checked_params(n_db=9000, **stream_params("test", kw)))
    assert plan.p == ds.params
    for name in ("labels_b", "class_b", "instance_b", "xq", "topk_q", "ranking_q", "class_q", "instance_q"):
        np.testing.assert_array_equal(getattr(plan, name), getattr(ds, name), err_msg=name)
    for q, g in enumerate(ds.gnd):
        np.testing.assert_array_equal(plan.gnd_inst[plan.instance_q[q]]["ok"], g["ok"])
        np.testing.assert_array_equal(plan.gnd_inst[plan.instance_q[q]]["junk"], g["junk"])
    # rows across block boundaries (4096) and in any order equal the database
    for start, stop in ((0, 9000), (4000, 4200), (8191, 8193), (8999, 9000)):
        np.testing.assert_array_equal(plan.rows(start, stop), ds.xb[start:stop])


def test_plan_checks_its_parameters(small):
    p = checked_params(n_db=3000, **stream_params("test", dict(d=16, **small)))
    with pytest.raises(ValueError, match="sim_match=0.4"):
        SyntheticPlan(dict(p, sim_match=0.4))
    with pytest.raises(TypeError, match="seed"):
        SyntheticPlan(dict(p, seed="x"))
