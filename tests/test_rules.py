import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synth_core.data import infer_schema
from synth_core.errors import RuleError, RuleSyntaxError, RuleValidationError
from synth_core.rules import (
    Conjunction,
    Predicate,
    Rule,
    format_rule,
    overlap,
    parse_rule,
    rules_from_json,
    rules_to_json,
    validate_rule,
    validate_rules,
)

# --------------------------------------------------------------------- parsing and formatting

CANONICAL = [
    ("age >= 40", "age >= 40"),
    ("age>=40 and hours<20", "age >= 40 AND hours < 20"),
    (
        "(age >= 40 AND workclass in {'Self-emp', 'Private'}) OR hours < 20",
        "(age >= 40 AND workclass in {'Private', 'Self-emp'}) OR hours < 20",
    ),
    ("x = 1.5", "x == 1.5"),
    ("x == 2.0", "x == 2"),
    ("x between 1 and 2", "x between 1 and 2"),
    ("c NOT IN {'a'}", "c not in {'a'}"),
    ("c is MISSING", "c is missing"),
    ("c IS NOT missing", "c is not missing"),
    ("`hours per week` < 3e1", "`hours per week` < 30"),
    ("flag == TRUE", "flag == true"),
    ("name == 'O\\'Brien'", "name == 'O\\'Brien'"),
    ('s in {"a,b", "c}"}', "s in {'a,b', 'c}'}"),
    ("TRUE", "TRUE"),
    ("a < 1 OR TRUE", "TRUE"),
    ("(a < 1 OR b > 2) AND c == 'x'", "(a < 1 AND c == 'x') OR (b > 2 AND c == 'x')"),
    ("x > -0.5", "x > -0.5"),
]


@pytest.mark.parametrize("text, canonical", CANONICAL)
def test_canonical_text(text, canonical):
    rule = parse_rule(text)
    assert format_rule(rule) == canonical
    assert parse_rule(canonical).conjunctions == rule.conjunctions


INVALID = [
    ("", "expected a condition such as `age >= 40` at column 1"),
    ("age >=", "expected a number, a quoted string, true or false at column 7"),
    ("age >= 40 AND", "expected a column name"),
    ("(age >= 40", "expected ')' to close the '(' at column 11"),
    ("age 40", "expected an operator"),
    ("c in {'a' 'b'}", "expected ',' or '}' in the set of values at column 11"),
    ("c in 'a'", "expected '{' to start a set of values"),
    ("name == 'abc", "to close the string"),
    ("x between 1 2", "expected AND between the two bounds"),
    ("x is nothing", "expected MISSING after IS"),
    ("age >= 40 garbage", "expected AND, OR or the end of the rule at column 11"),
    ("x > 12abc", "expected a number"),
    ("and > 1", "expected a column name"),
]


@pytest.mark.parametrize("text, message", INVALID)
def test_syntax_errors_name_position_and_expectation(text, message):
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    assert message in str(info.value)
    assert "^" in str(info.value).splitlines()[-1]


def test_no_eval_of_python():
    with pytest.raises(RuleSyntaxError):
        parse_rule("__import__('os').system('echo hi')")


def test_set_mixing_booleans_with_numbers_is_refused_not_collapsed():
    # Python takes true for 1, so {1, true} used to become {1} without a word
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule("age in {1, true}")
    assert str(info.value).splitlines()[0] == (
        "a set of values mixes true/false with numbers ({1, true}): true counts as 1 and false as 0, so one "
        "would be lost; use only true/false for a boolean column, only numbers or text otherwise (column 8)"
    )
    assert str(info.value).splitlines()[-1] == "         ^"
    with pytest.raises(RuleError, match=r"mixes true/false with numbers \(\{0, false\}\)"):
        Predicate("age", "not in", [0.0, False])
    with pytest.raises(RuleValidationError, match=r"rule 1: conjunctions\[0\]\[0\].value: a set of values"):
        rules_from_json('[{"conjunctions": [[{"column": "age", "op": "in", "value": [true, 2]}]]}]')


def test_set_of_booleans_and_text_is_kept():
    # discovery writes such sets for columns that hold both (a DataFrame or an Excel sheet)
    rule = parse_rule("c in {'y', true}")
    assert rule.text == "c in {true, 'y'}"
    assert rule.mask(pd.DataFrame({"c": [True, "y", False, "n"]})).tolist() == [True, True, False, False]


# --------------------------------------------------------------------- property tests

names = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
    st.text(alphabet="ab `'\\,{}", min_size=1, max_size=6),
)
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e300),
)
strings = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
scalars = st.one_of(numbers, strings, st.booleans())


@st.composite
def predicates(draw):
    col = draw(names)
    op = draw(
        st.sampled_from(
            ["<", "<=", ">", ">=", "==", "!=", "in", "not in", "between", "is missing", "is not missing"]
        )
    )
    if op in ("in", "not in"):  # true/false never share a set with numbers (Python takes true for 1)
        value = draw(
            st.one_of(
                st.lists(st.one_of(numbers, strings), min_size=1, max_size=4),
                st.lists(st.one_of(strings, st.booleans()), min_size=1, max_size=4),
            )
        )
    elif op == "between":
        value = (draw(numbers), draw(numbers))
    elif op in ("is missing", "is not missing"):
        value = None
    else:
        value = draw(scalars)
    return Predicate(col, op, value)


rules = st.lists(
    st.lists(predicates(), min_size=1, max_size=3).map(lambda ps: Conjunction(tuple(ps))),
    min_size=1,
    max_size=3,
    unique=True,
).map(lambda cs: Rule(conjunctions=tuple(cs)))


@settings(max_examples=200, deadline=None)
@given(rules)
@example(Rule(conjunctions=(Conjunction((Predicate("a", "<", 1),)), Conjunction((Predicate("a", "<=", 1),)))))
@example(Rule(conjunctions=(Conjunction((Predicate("s", "in", ("x,y", "it's", "{}")),)),)))  # quotes, commas
@example(
    Rule(conjunctions=(Conjunction((Predicate("and", "not in", ("b",)), Predicate("c", "is missing"))),))
)
def test_text_round_trip(rule):
    text = format_rule(rule)
    again = parse_rule(text)
    assert again.conjunctions == rule.conjunctions
    assert format_rule(again) == text


@settings(max_examples=100, deadline=None)
@given(rules)
def test_json_round_trip(rule):
    rule = rule.with_(id="R1", status="approved", error=0.1, support=5, paths=rule.conjunctions, ind=0.5)
    (again,) = rules_from_json(rules_to_json([rule]))
    assert again == rule and again.paths == rule.paths


frame_values = st.lists(
    st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False)), min_size=1, max_size=30
)


@settings(max_examples=150, deadline=None)
@given(frame_values, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.integers(-3, 3))
@example([1.0, 2.0, None], "<", 1)
@example([1.0, 2.0, None], "<=", 1)
@example([None], "!=", 0)
def test_mask_semantics_match_python_and_missing_never_matches(values, op, c):
    frame = pd.DataFrame({"x": pd.array([np.nan if v is None else v for v in values], dtype="float64")})
    mask = Predicate("x", op, c).mask(frame)
    import operator

    fn = {
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]
    expected = [v is not None and fn(v, c) for v in values]
    assert mask.tolist() == expected


def test_mask_set_between_missing_and_dnf():
    frame = pd.DataFrame({"c": ["a", "b", None, "c"], "x": [1.0, 2.0, 3.0, np.nan]})
    assert Predicate("c", "in", ["a", "c"]).mask(frame).tolist() == [True, False, False, True]
    assert Predicate("c", "not in", ["a"]).mask(frame).tolist() == [False, True, False, True]
    assert Predicate("c", "is missing").mask(frame).tolist() == [False, False, True, False]
    assert Predicate("c", "is not missing").mask(frame).tolist() == [True, True, False, True]
    assert Predicate("x", "between", (2, 3)).mask(frame).tolist() == [False, True, True, False]
    rule = parse_rule("c == 'a' OR x >= 3")
    assert rule.mask(frame).tolist() == [True, False, True, False]
    assert rule.count(frame) == 2
    assert parse_rule("TRUE").mask(frame).all()


def test_mask_on_nullable_dtypes_with_missing_cells():
    frame = pd.DataFrame(
        {"b": pd.array([True, None, False], dtype="boolean"), "i": pd.array([1, None, 3], dtype="Int64")}
    )
    assert Predicate("b", "==", True).mask(frame).tolist() == [True, False, False]
    assert Predicate("i", "<", 2).mask(frame).tolist() == [True, False, False]
    assert Predicate("i", "!=", 1).mask(frame).tolist() == [False, False, True]


def test_mask_categories_coded_as_numbers_in_text_column():
    frame = pd.DataFrame({"c": ["1", "2", "x"]})
    assert Predicate("c", "in", [1, "x"]).mask(frame).tolist() == [True, False, True]


# --------------------------------------------------------------------- validation against a schema


@pytest.fixture
def schema(mixed_frame):
    return infer_schema(mixed_frame, target="y")


def test_validation_collects_every_problem(schema):
    rule = parse_rule("missing_col > 1 AND color > 3 AND x0 == 'high' AND color == 'purple' OR y == 'yes'")
    with pytest.raises(RuleValidationError) as info:
        validate_rule(rule, schema)
    problems = info.value.problems
    assert any("unknown column 'missing_col'" in p for p in problems)
    assert any("'color' is categorical" in p for p in problems)
    assert any("'x0' is numeric; compare it with numbers" in p for p in problems)
    assert any("no category 'purple'" in p for p in problems)
    assert any("'y' is the target" in p for p in problems)


def test_validation_hints_and_empty_interval(schema):
    with pytest.raises(RuleValidationError, match="did you mean 'age'"):
        validate_rule(parse_rule("AGE > 3"), schema)
    with pytest.raises(RuleValidationError, match="no possible value"):
        validate_rule(parse_rule("age > 50 AND age < 40"), schema)
    with pytest.raises(RuleValidationError, match="categorical; compare it with one of its categories"):
        validate_rule(parse_rule("color == 3"), schema)
    ok = parse_rule("age > 40 AND color in {'red', 'blue'} OR flag == true OR x0 is missing")
    assert validate_rule(ok, schema) is ok


def test_validation_refuses_ignored_columns_and_values_of_the_wrong_kind(schema):
    schema = schema.replace_column("age", role="ignore")
    cases = {
        "age > 40": "'age' is ignored (an id, text, date or constant column, or marked so), so generated "
        "rows do not have it; make it a feature or drop the condition",
        "x0 < true": "'x0' is numeric; compare it with numbers, not true",
        "flag == 'maybe'": "'flag' is boolean; compare it with true or false, not 'maybe'",
        "flag in {true, 'no'}": "'flag' is boolean; compare it with true or false, not 'no'",
        "flag != 2": "'flag' is boolean; compare it with true or false, not 2",
        "color != false": "'color' is categorical; compare it with one of its categories, not false",
    }
    for text, problem in cases.items():
        with pytest.raises(RuleValidationError) as info:
            validate_rule(parse_rule(text), schema)
        assert info.value.problems == [problem], text
    for text in ("flag == false", "flag in {true}", "flag == 1", "x0 is missing", "color in {'red', 'blue'}"):
        validate_rule(parse_rule(text), schema)


def test_validate_rules_reports_every_problem_of_every_rule(schema):
    good = parse_rule("x0 > 0.5 AND color == 'red'", id="r1")
    rules = [good, parse_rule("nope > 1 OR y == 'yes'", id="r2"), parse_rule("x0 == 'high'"), "x0 > 1"]
    with pytest.raises(RuleValidationError) as info:
        validate_rules(rules, schema)
    assert info.value.problems == [
        "rule r2: unknown column 'nope'",
        "rule r2: 'y' is the target; rules describe feature values only",
        "rule 3: 'x0' is numeric; compare it with numbers, not 'high'",
        "rule 4 is 'x0 > 1', not a Rule",
    ]
    assert validate_rules(iter([good]), schema) == [good]
    assert validate_rules([], schema) == []


def test_validate_rules_takes_the_target_when_the_schema_has_none(mixed_frame):
    schema = infer_schema(mixed_frame)
    rule = parse_rule("y == 'yes'", id="r9")
    assert validate_rules([rule], schema) == [rule]
    with pytest.raises(RuleValidationError) as info:
        validate_rules([rule], schema, target="y")
    assert info.value.problems == ["rule r9: 'y' is the target; rules describe feature values only"]


def test_rules_from_json_reports_bad_items():
    with pytest.raises(RuleValidationError, match="not JSON"):
        rules_from_json("{nope")
    with pytest.raises(RuleValidationError, match="rule 2: expected"):
        rules_from_json('["a > 1", "a >"]')
    assert [r.text for r in rules_from_json('["a > 1"]')] == ["a > 1"]


# --------------------------------------------------------------------- overlap (Definition 5)


def test_overlap_bounds_and_known_values(schema):
    a = parse_rule("age >= 18 AND age <= 48")
    b = parse_rule("age >= 48 AND age <= 79")
    whole = parse_rule("TRUE")
    assert overlap(a, a, schema) == pytest.approx(1.0)
    assert overlap(a, b, schema) == pytest.approx(0.0, abs=1e-9)
    spec = schema["age"]
    expected = (48 - spec.min) / (spec.max - spec.min)
    assert overlap(a, whole, schema) == pytest.approx(expected)
    c1 = parse_rule("color in {'red', 'green'}")
    c2 = parse_rule("color in {'green', 'blue'}")
    assert overlap(c1, c2, schema) == pytest.approx(1 / 3)
    assert overlap(c1, c2, schema) == overlap(c2, c1, schema)


@settings(max_examples=60, deadline=None)
@given(st.integers(18, 79), st.integers(18, 79), st.integers(18, 79), st.integers(18, 79))
def test_overlap_in_unit_interval(a, b, c, d):
    from synth_core.data import ColumnSpec, Schema

    schema = Schema((ColumnSpec("age", "integer", min=18, max=79),))
    r1 = parse_rule(f"age >= {min(a, b)} AND age <= {max(a, b)}")
    r2 = parse_rule(f"age >= {min(c, d)} AND age <= {max(c, d)}")
    v = overlap(r1, r2, schema)
    assert 0.0 <= v <= 1.0 and not math.isnan(v)
