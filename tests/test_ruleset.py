"""Tests for synth_core.ruleset: ids, adding, merging a new discovery, importing, approve / reject all."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synth_core.data import ColumnSpec, Schema, infer_schema, load_dataset
from synth_core.errors import RuleValidationError
from synth_core.rules import parse_rule, rules_to_json, validate_rule
from synth_core.ruleset import (
    RuleSetChange,
    add_rules,
    approve_all,
    drop_rejected,
    example_rule_text,
    import_rules,
    merge_discovered,
    next_id,
    reject_all,
    status_counts,
    unique_ids,
)
from synth_core.samples import SAMPLES, sample_path


def rule(text, **attrs):
    return parse_rule(text, **attrs)


def summary(rules):
    return [(r.id, r.text, r.status, r.origin) for r in rules]


# --------------------------------------------------------------------- ids


def test_next_id_takes_the_first_free_number():
    assert next_id("r", set()) == "r1"
    assert next_id("r", {"r1", "r2", "r4", "u3"}) == "r3"
    assert next_id("u", ["u1", "u1"]) == "u2"  # any iterable of ids
    assert next_id("g", iter(["g1"])) == "g2"


def test_unique_ids_keeps_the_first_and_renames_empty_or_repeated():
    rules = [rule("a > 1", id="x"), rule("a > 2", id="x"), rule("a > 3"), rule("a > 4", id="i1")]
    out = unique_ids(rules, prefix="i", taken={"i2"})
    assert [r.id for r in out] == ["x", "i1", "i3", "i4"]
    assert [r.text for r in out] == [r.text for r in rules]
    assert out[0] is rules[0]  # unchanged rules are not copied


# --------------------------------------------------------------------- add


def test_add_rules_skips_texts_already_there_and_repeats():
    current = [rule("a > 1", id="r1", status="approved"), rule("b == 2", id="u1", status="rejected")]
    new = [rule("c < 3", id="R9", status="approved"), rule("a>1"), rule("c < 3"), rule("d is missing")]
    change = add_rules(current, new, prefix="u")
    assert isinstance(change, RuleSetChange)
    assert summary(change.rules) == [
        ("r1", "a > 1", "approved", "person"),
        ("u1", "b == 2", "rejected", "person"),
        ("u2", "c < 3", "proposed", "person"),
        ("u3", "d is missing", "proposed", "person"),
    ]
    assert [r.id for r in change.added] == ["u2", "u3"]
    assert [r.text for r in change.skipped] == ["a > 1", "c < 3"]
    assert change.kept == []
    assert [r.id for r in current] == ["r1", "u1"]  # the given list is not changed


def test_add_rules_status_origin_and_support():
    train = pd.DataFrame({"a": [0, 1, 2, 3, 4]})
    change = add_rules(
        [], [rule("a >= 2", status="approved", origin="llm")], prefix="l", status=None, train=train
    )
    (added,) = change.added
    assert (added.id, added.status, added.origin, added.support) == ("l1", "approved", "llm", 3)
    change = add_rules([], [rule("a >= 2", origin="llm")], prefix="g", status="approved", origin="refined")
    (added,) = change.added
    assert (added.id, added.status, added.origin, added.support) == ("g1", "approved", "refined", None)


# --------------------------------------------------------------------- merge a new discovery


def test_merge_keeps_decisions_and_replaces_proposals():
    current = [
        rule(
            "a > 1", id="R1", origin="discovered", status="rejected"
        ),  # found again: stays rejected, keeps R1
        rule("a <= 1", id="R2", origin="discovered", status="approved"),  # not found again, approved: kept
        rule("b == 2", id="R3", origin="discovered", status="proposed"),  # not found again: dropped
        rule("b == 3", id="R4", origin="discovered", status="rejected"),  # not found again: dropped
        rule("c < 0", id="u1", origin="person", status="proposed"),  # a person's rule: kept as is
        rule("d > 0", id="R5", origin="discovered", status="approved"),  # found again: stays approved
    ]
    found = [
        rule("a > 5", id="R1", error=0.01, support=10),
        rule("a > 1", id="R2", error=0.02),
        rule("d > 0", id="R3"),
        rule("c < 0", id="R4"),
        rule("e == 1", id="R5"),
    ]
    change = merge_discovered(current, found)
    assert summary(change.rules) == [
        ("R2", "a <= 1", "approved", "discovered"),
        ("u1", "c < 0", "proposed", "person"),
        ("r1", "a > 5", "proposed", "discovered"),  # discovery's R1 is kept for the rejected rule found again
        ("R1", "a > 1", "rejected", "discovered"),
        ("R5", "d > 0", "approved", "discovered"),
        ("r2", "e == 1", "proposed", "discovered"),  # discovery's R5 is taken by 'd > 0', found again
    ]
    assert [r.id for r in change.kept] == ["R2"]
    assert [r.text for r in change.skipped] == ["c < 0"]  # already there as the person's rule
    assert [r.text for r in change.added] == ["a > 5", "a > 1", "d > 0", "e == 1"]
    assert len({r.id for r in change.rules}) == len(change.rules)
    # discovery's facts come from the new discovery
    assert change.added[0].error == 0.01 and change.added[0].support == 10 and change.added[1].error == 0.02


def test_merge_ids_exactly():
    current = [
        rule("a > 1", id="R1", origin="discovered", status="rejected"),
        rule("d > 0", id="R5", origin="discovered", status="approved"),
        rule("q > 0", id="R2", origin="person"),
    ]
    found = [rule("a > 5", id="R1"), rule("a > 1", id="R2"), rule("d > 0", id="R3"), rule("e == 1", id="R5")]
    change = merge_discovered(current, found)
    assert summary(change.rules) == [
        ("R2", "q > 0", "proposed", "person"),
        ("r1", "a > 5", "proposed", "discovered"),  # R1 is reserved for 'a > 1', found again
        ("R1", "a > 1", "rejected", "discovered"),  # keeps its old id and its status
        ("R5", "d > 0", "approved", "discovered"),  # keeps its old id and its status
        ("r2", "e == 1", "proposed", "discovered"),  # R5 is reserved for 'd > 0'
    ]


def test_merge_with_nothing_before_keeps_discoverys_ids():
    found = [rule("a > 1", id="R1"), rule("a <= 1", id="R2")]
    change = merge_discovered([], found)
    assert summary(change.rules) == [
        ("R1", "a > 1", "proposed", "discovered"),
        ("R2", "a <= 1", "proposed", "discovered"),
    ]
    again = merge_discovered(approve_all(change.rules), found)
    assert [r.status for r in again.rules] == ["approved", "approved"]
    assert again.kept == [] and again.skipped == []


# --------------------------------------------------------------------- import


SCHEMA = Schema(
    (
        ColumnSpec("x", "numeric", min=0, max=10),
        ColumnSpec("g", "categorical", categories=("a", "b")),
        ColumnSpec("y", "categorical", role="target", categories=("0", "1")),
    )
)


def test_import_makes_ids_unique_and_counts_support():
    doc = json.dumps(
        {
            "version": 1,
            "rules": [
                {"id": "k", "text": "x > 5", "status": "approved"},
                {"id": "k", "text": "g == 'a'"},
                "x <= 5",
            ],
        }
    )
    train = pd.DataFrame({"x": [1, 6, 7], "g": ["a", "b", "a"]})
    got = import_rules(doc, SCHEMA, train=train)
    assert [(r.id, r.text, r.status, r.support) for r in got] == [
        ("k", "x > 5", "approved", 2),
        ("i1", "g == 'a'", "proposed", 2),
        ("i2", "x <= 5", "proposed", 1),
    ]
    again = import_rules(rules_to_json(got), SCHEMA)
    assert again == got


def test_import_refuses_the_file_naming_every_problem():
    doc = json.dumps({"rules": [{"text": "x >"}, "x > 1"]})
    with pytest.raises(RuleValidationError, match="rule 1"):
        import_rules(doc, SCHEMA)
    doc = json.dumps({"rules": ["zz > 1", "x > 1", "g == 'c'", "y == '1'"]})
    with pytest.raises(RuleValidationError) as info:
        import_rules(doc, SCHEMA)
    assert info.value.problems == [
        "rule 1: unknown column 'zz'",
        "rule 3: 'g' has no category 'c'; known: 'a', 'b'",
        "rule 4: 'y' is the target; rules describe feature values only",
    ]


# --------------------------------------------------------------------- approve / reject all


def test_approve_all_and_reject_all_change_only_proposed_rules():
    rules = [
        rule("a > 1", id="r1", status="rejected"),
        rule("a > 2", id="r2", status="proposed"),
        rule("a > 3", id="r3", status="approved"),
        rule("a > 4", id="r4", status="proposed"),
    ]
    assert [r.status for r in approve_all(rules)] == ["rejected", "approved", "approved", "approved"]
    assert [r.status for r in reject_all(rules)] == ["rejected", "rejected", "approved", "rejected"]
    assert [r.id for r in drop_rejected(rules)] == ["r2", "r3", "r4"]
    assert status_counts(rules) == {"proposed": 2, "approved": 1, "rejected": 1}
    assert status_counts([]) == {"proposed": 0, "approved": 0, "rejected": 0}
    assert [r.status for r in rules] == [
        "rejected",
        "proposed",
        "approved",
        "proposed",
    ]  # not changed in place
    assert approve_all(rules)[0] is rules[0]


# --------------------------------------------------------------------- example rule


@pytest.mark.parametrize("label", list(SAMPLES))
def test_example_rule_uses_the_tables_own_columns(label):
    fname, target = SAMPLES[label]
    ds = load_dataset(sample_path(fname), target=target, seed=0, name=fname)
    text = example_rule_text(ds.schema, ds.train)
    example = parse_rule(text)
    validate_rule(example, ds.schema)
    assert len(example.columns) == 2 and set(example.columns) <= set(ds.features)
    assert 0 < example.count(ds.train) < len(ds.train)
    first = example.conjunctions[0].predicates[0]
    values = ds.train[first.column]
    assert first.op == ">=" and values.quantile(0.2) <= first.value <= values.quantile(0.8)  # near the median
    assert "workclass" not in text or fname == "adult_3k.csv"


def test_example_rule_exact_forms():
    df = pd.DataFrame(
        {
            "age": [20, 35, 41, 60, 70],
            "job": ["a", "b", "b", "c", "b"],
            "w": [0.1, 0.2, 0.3, 0.4, 0.5],
            "y": [0, 1, 0, 1, 0],
        }
    )
    assert example_rule_text(infer_schema(df, target="y"), df) == "age >= 41 AND job == 'b'"
    numbers = df[["w", "age", "y"]]
    assert example_rule_text(infer_schema(numbers, target="y"), numbers) == "w >= 0.3 AND age < 41"
    only_target = df[["y"]]
    assert (
        example_rule_text(infer_schema(only_target, target="y"), only_target)
        == "column >= value AND other in {'a', 'b'}"
    )
