"""The time and call estimate shown before Start (synth_core.estimate; its accuracy: benchmarks/estimates.py)."""

from __future__ import annotations

import pytest

from app_support.testing import TIMEOUT, app_at, bank_dataset, rules_for, texts
from synth_core.estimate import Rates, estimate_run, measure_rates
from synth_core.pipeline import estimate_calls


@pytest.fixture(scope="module")
def ds():
    return bank_dataset()


@pytest.fixture(scope="module")
def rates(ds):
    return measure_rates(ds, rules_for(ds), method="statistical", models=["tree", "boosting"])


def test_a_fit_costs_what_the_timed_sizes_say_between_and_beyond_them():
    points = ((1000, 1.0), (4000, 2.0), (16000, 2.5))  # gradient boosting flattening out
    assert Rates.fit_cost(points, 1000) == pytest.approx(1.0)
    assert Rates.fit_cost(points, 2500) == pytest.approx(1.5)
    assert Rates.fit_cost(points, 10000) == pytest.approx(2.25)
    assert Rates.fit_cost(points, 28000) == pytest.approx(3.0)  # the last segment, extended
    assert Rates.fit_cost(points, 500) == pytest.approx(1.0)  # never below the smallest timing


def test_rates_time_each_model_at_the_sizes_the_check_trains_on(ds, rates):
    given = len(ds.train_idx)
    for name in ("tree", "boosting"):
        sizes = [k for k, _ in rates.models[name]]
        assert sizes[0] == int(0.8 * given) and sizes[-1] > 10 * given  # a fold alone .. with the budget
        assert all(s > 0 for _, s in rates.models[name])
    assert rates.per_call is None  # an offline generator spends no call


def test_the_estimate_adds_up_the_runs_work(ds, rates):
    rules = rules_for(ds)
    small = estimate_run(ds, rules, method="statistical", n=1000, rates=rates, model="tree")
    large = estimate_run(ds, rules, method="statistical", n=20000, rates=rates, model="tree")
    boosted = estimate_run(
        ds, rules, method="statistical", n=20000, rates=rates, model="tree", check_models=["boosting"]
    )
    assert 0 < small.seconds < large.seconds < boosted.seconds
    assert small.calls == 0 and small.detail["folds"] == 5
    assert (
        estimate_run(ds, rules, method="statistical", n=1000, rates=rates, model="tree", folds=2).seconds
        < small.seconds
    )
    llm = estimate_run(
        ds, rules, method="date", n=200, rates=Rates(**{**rates.__dict__, "per_call": 8.0}), model="tree"
    )
    assert llm.calls == estimate_calls("date", rules, 200) > 0
    assert llm.detail["llm"] == pytest.approx(8.0 * llm.calls)
    assert "LLM call" in llm.text() and "no LLM calls" in small.text()


def test_the_generate_page_shows_the_estimate_after_timing(ds):
    at = app_at("pages/3_Generate.py", dataset=ds, rules=rules_for(ds))
    assert not any(m.startswith("**Estimated time:**") for m in texts(at.markdown))
    at.button(key="gen.estimate").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    (line,) = [m for m in texts(at.markdown) if m.startswith("**Estimated time:**")]
    assert "about" in line and "no LLM calls" in line
