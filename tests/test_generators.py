import threading

import pandas as pd
import pytest

from synth_core.data import make_dataset
from synth_core.errors import GenerationError, NotFittedError
from synth_core.generators import GENERATORS, get_generator
from synth_core.generators.base import PROVENANCE, allocate
from synth_core.generators.jitter import JitterGenerator
from synth_core.generators.statistical import StatisticalGenerator
from synth_core.rules import parse_rule


@pytest.fixture
def dataset(mixed_frame):
    return make_dataset(mixed_frame, target="y", seed=0)


@pytest.fixture
def rules():
    return [
        parse_rule("x0 > 0.5 AND color in {'red', 'green'}", id="R1", status="approved"),
        parse_rule("x0 <= 0.5 OR color == 'blue'", id="R2", status="approved"),
        parse_rule("age > 200", id="R3", status="rejected"),
    ]


@pytest.mark.parametrize("cls", [JitterGenerator, StatisticalGenerator])
def test_rows_stay_inside_their_rule_with_provenance(cls, dataset, rules):
    gen = cls(random_state=0).fit(dataset, rules)
    out = gen.generate(120)
    rows = out.accepted
    assert 100 <= len(rows) <= 120
    assert set(PROVENANCE) <= set(rows.columns)
    assert set(rows["_rule_id"]) == {"R1", "R2"}  # the rejected rule is never used
    for rid, group in rows.groupby("_rule_id"):
        rule = next(r for r in rules if r.id == rid)
        assert rule.mask(group).all()
    assert set(rows["_generator"]) == {cls.name}
    assert rows["_row_id"].is_unique
    assert set(rows["color"].dropna()) <= {"red", "green", "blue"}
    assert rows["age"].dropna().between(dataset.schema["age"].min, dataset.schema["age"].max).all()
    assert (rows["age"].dropna() % 1 == 0).all()
    assert set(rows["_arm"]) == {f"{r}:{i}" for r in ("R1", "R2") for i in (1, 2)}
    assert out.per_rule["accepted"].sum() == len(rows)


@pytest.mark.parametrize("cls", [JitterGenerator, StatisticalGenerator])
def test_same_seed_same_rows(cls, dataset, rules):
    a = cls(random_state=3).fit(dataset, rules).generate(50).accepted
    b = cls(random_state=3).fit(dataset, rules).generate(50).accepted
    pd.testing.assert_frame_equal(a.drop(columns="_row_id"), b.drop(columns="_row_id"))


def test_zero_approved_rules_is_a_clear_error(dataset):
    with pytest.raises(GenerationError, match="no approved rules"):
        JitterGenerator().fit(dataset, [parse_rule("x0 > 1", status="proposed")])


def test_generate_before_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        JitterGenerator().generate(5)


def test_cancel_keeps_partial_rows(dataset, rules):
    gen = JitterGenerator(random_state=0, iterations=3).fit(dataset, rules)
    stop = threading.Event()
    seen = []

    def progress(step, total, message):
        seen.append(step)
        if step >= 2:
            stop.set()

    out = gen.generate(120, progress=progress, cancel=stop)
    assert out.cancelled
    assert 0 < len(out.accepted) < 120
    assert any("cancelled" in m for m in out.messages)


def test_rule_with_no_rows_says_so(dataset):
    rules = [
        parse_rule("age > 500", id="E", status="approved"),
        parse_rule("TRUE", id="T", status="approved"),
    ]
    out = StatisticalGenerator(random_state=0).fit(dataset, rules).generate(20)
    assert any("rule E" in m for m in out.messages)
    assert set(out.accepted["_rule_id"]) == {"T"}


def test_allocate():
    assert allocate(10, [1, 1]) == [5, 5]
    assert sum(allocate(7, [5, 1, 1])) == 7 and min(allocate(7, [5, 1, 1])) >= 1
    assert allocate(0, [1, 2]) == [0, 0]


def test_registry_names_classes():
    assert get_generator("jitter") is JitterGenerator
    assert set(GENERATORS) >= {"jitter", "statistical", "date", "samplellm", "htdbu", "structsynth"}
