from dataclasses import replace

import pandas as pd
import pytest

from synth_core.data import make_dataset
from synth_core.errors import InvalidParameterError
from synth_core.generators.jitter import JitterGenerator
from synth_core.generators.selection import select_rows
from synth_core.labels import Labeler
from synth_core.rules import parse_rule


@pytest.fixture
def setup(mixed_frame):
    ds = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    rules = [
        parse_rule("x0 > 0.5", id="A", status="approved"),
        parse_rule("x0 <= 0.5 AND age < 50", id="B", status="approved"),
        parse_rule("x0 <= 0.5 AND age >= 50", id="C", status="approved"),
    ]
    gen = JitterGenerator(random_state=0, iterations=2).fit(ds, rules).generate(240)
    rows = Labeler(mode="relabel").fit(ds).transform(gen.rows)
    return ds, rules, rows


@pytest.mark.parametrize("method", ["mds", "fgs", "bgs", "topk", "none"])
def test_budget_is_respected(setup, method):
    ds, rules, rows = setup
    sel = select_rows(rows, ds, rules, method=method, budget=50, random_state=0, tolerance=1.0)
    assert 0 < len(sel.row_ids) <= 50
    assert set(sel.row_ids) <= set(rows["_row_id"])
    assert len(sel.arms) == rows["_arm"].nunique()


def test_same_seed_same_selection(setup):
    ds, rules, rows = setup
    a = select_rows(rows, ds, rules, budget=80, random_state=1)
    b = select_rows(rows, ds, rules, budget=80, random_state=1)
    assert a.row_ids == b.row_ids
    pd.testing.assert_frame_equal(a.arms, b.arms)


def test_alpha_one_ranks_by_quality_alpha_zero_by_diversity(setup):
    ds, rules, rows = setup
    q = select_rows(rows, ds, rules, method="topk", alpha=1.0, budget=1000)
    arms = q.arms.sort_values("order")
    assert list(arms["quality"]) == sorted(arms["quality"], reverse=True)
    d = select_rows(rows, ds, rules, method="topk", alpha=0.0, budget=1000)
    arms = d.arms.sort_values("order")
    assert list(arms["diversity"]) == sorted(arms["diversity"], reverse=True)
    # the three rules are disjoint and an arm's own rule does not count against it
    assert (arms["diversity"] == 1.0).all()


def test_overlapping_rules_are_less_diverse(mixed_frame):
    from synth_core.generators.selection import _diversity, _others

    ds = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    a, b, c = (
        parse_rule(t, id=i, status="approved")
        for t, i in (("x0 > 0.5", "A"), ("x0 > 0.3", "B"), ("x0 <= 0.2", "C"))
    )
    pool = [(a, 1), (b, 1), (c, 1)]
    div = {r.id: _diversity(r, _others(pool, r), ds.schema) for r in (a, b, c)}
    assert div["A"] < 1.0 and div["B"] < 1.0 and div["C"] > div["A"]


def test_mds_first_arm_is_the_best_utility_and_accepted_arms_never_hurt_validation(setup):
    ds, rules, rows = setup
    sel = select_rows(rows, ds, rules, method="mds", budget=500, random_state=0)
    acc = sel.arms[sel.arms["accepted"]]
    assert (acc["quality"] >= sel.baseline_quality - 1e-12).all()
    assert sel.final_quality >= sel.baseline_quality - 1e-12 or not len(acc)


def test_selection_ignores_test_rows(setup, mixed_frame):
    ds, rules, rows = setup
    a = select_rows(rows, ds, rules, budget=60, random_state=0)
    poisoned = mixed_frame.copy()
    poisoned.loc[ds.test_idx, "y"] = "no"
    poisoned.loc[ds.test_idx, "x0"] = 5.0
    ds2 = replace(ds, frame=poisoned)
    b = select_rows(rows, ds2, rules, budget=60, random_state=0)
    assert a.row_ids == b.row_ids


def test_bad_parameters(setup):
    ds, rules, rows = setup
    with pytest.raises(InvalidParameterError, match="alpha"):
        select_rows(rows, ds, rules, alpha=1.5)
    with pytest.raises(InvalidParameterError, match="method"):
        select_rows(rows, ds, rules, method="best")


@pytest.mark.parametrize("method", ["mds", "fgs"])
def test_no_arm_kept_says_which_rows_judged_it(setup, method):
    """The message holds under both protocols: cross-fitted runs have no validation split of the analyst's."""
    ds, rules, rows = setup
    flipped = rows.assign(y=rows["y"].map({"yes": "no", "no": "yes"}))  # every label wrong: no arm helps
    sel = select_rows(flipped, ds, rules, method=method, budget=200, random_state=0, tolerance=0.0)
    assert sel.row_ids == []
    assert any("rows set aside to judge the selection" in m for m in sel.messages)
    assert not any("validation" in m for m in sel.messages)
