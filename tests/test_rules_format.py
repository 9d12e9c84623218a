"""Tests for the display forms of a rule: synth_core.rules.format_rule_lines and format_rule_short.

The canonical text (``Rule.text``, ``format_rule``) is tested in test_rules.py; here
it is only checked to be untouched by the display forms.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synth_core.errors import RuleSyntaxError
from synth_core.rules import (
    Conjunction,
    Predicate,
    Rule,
    format_rule,
    format_rule_lines,
    format_rule_short,
    parse_rule,
)
from tests.test_rules import rules as any_rule

LONG = (
    "(age >= 40 AND workclass in {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N'}) "
    "OR (hours < 20 AND sex == 'Male' AND race == 'White' AND relationship == 'Own-child' AND age < 30) "
    "OR capital_gain is missing"
)
# keywords and line breaks inside quoted values, next to the OR lines and AND continuations
TRICKY = Rule(
    conjunctions=(
        Conjunction((Predicate("s", "in", ("x\nOR y", "a AND b", "{}")), Predicate("t", "==", "OR"))),
        Conjunction((Predicate("u", "<", 1),)),
    )
)


# --------------------------------------------------------------------- format_rule_lines


def test_one_and_clause_per_line_with_or_on_its_own_line():
    rule = parse_rule(LONG)
    assert format_rule_lines(rule, max_values=2) == (
        "age >= 40 AND workclass in {'A', 'B', … 12 more}\n"
        "OR\n"
        "hours < 20 AND sex == 'Male' AND race == 'White' AND relationship == 'Own-child'\n"
        "    AND age < 30\n"
        "OR\n"
        "capital_gain is missing"
    )


def test_long_clause_wraps_at_conditions_never_inside_one():
    rule = parse_rule("a > 1 AND b in {'x', 'y'} AND c == 'a long value' AND d < 2")
    assert format_rule_lines(rule, width=20) == (
        "a > 1\n    AND b in {'x', 'y'}\n    AND c == 'a long value'\n    AND d < 2"
    )
    assert format_rule_lines(rule, width=1000) == rule.text  # one clause that fits is the canonical text


def test_sets_are_shortened_with_a_count_only_above_max_values():
    rule = parse_rule("c in {1, 2, 3, 4, 5, 6, 7, 8, 9}")
    assert format_rule_lines(rule) == "c in {1, 2, 3, 4, 5, 6, 7, 8, … 1 more}"  # default max_values=8
    assert format_rule_lines(rule, max_values=9) == rule.text
    assert format_rule_lines(rule, max_values=None) == rule.text
    assert (
        format_rule_lines(parse_rule("c not in {'a', 'b', 'c'}"), max_values=1) == "c not in {'a', … 2 more}"
    )
    assert format_rule_lines(parse_rule("c in {'a', 'b'}"), max_values=0) == "c in {… 2 more}"
    # other operators are never shortened
    assert (
        format_rule_lines(parse_rule("x between 1 and 2 AND y != 'q'"), max_values=0)
        == "x between 1 and 2 AND y != 'q'"
    )


def test_true_and_quoted_columns():
    assert format_rule_lines(Rule()) == "TRUE"
    rule = Rule(
        conjunctions=(
            Conjunction((Predicate("my col", "in", ("a", "b", "c")),)),
            Conjunction((Predicate("or", "==", "it's"),)),
        )
    )
    assert format_rule_lines(rule, max_values=1) == "`my col` in {'a', … 2 more}\nOR\n`or` == 'it\\'s'"


def test_shortened_text_does_not_parse_so_it_cannot_pass_for_the_rule():
    with pytest.raises(RuleSyntaxError):
        parse_rule(format_rule_lines(parse_rule(LONG), max_values=3))


def test_display_forms_leave_the_canonical_text_alone():
    rule = parse_rule(LONG)
    canonical = (
        "(age >= 40 AND workclass in {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', "
        "'N'}) OR (hours < 20 AND sex == 'Male' AND race == 'White' AND relationship == 'Own-child' AND "
        "age < 30) OR capital_gain is missing"
    )
    format_rule_lines(rule, max_values=2)
    format_rule_short(rule)
    assert rule.text == format_rule(rule) == canonical
    assert parse_rule(canonical) == rule


@settings(max_examples=200, deadline=None)
@given(any_rule, st.integers(1, 120))
@example(parse_rule(LONG), 30)
@example(TRICKY, 5)
def test_full_lines_parse_back_to_the_same_rule(rule, width):
    text = format_rule_lines(rule, max_values=None, width=width)
    assert parse_rule(text).conjunctions == rule.conjunctions
    if "\n" not in rule.text:  # (a value may hold a line break)
        lines = text.split("\n")
        assert lines.count("OR") == len(rule.conjunctions) - 1
        assert all(
            line == "OR" or line.startswith("    AND ") or i == 0 or lines[i - 1] == "OR"
            for i, line in enumerate(lines)
        )


# --------------------------------------------------------------------- format_rule_short


def test_short_form_fits_are_unchanged_and_sets_shortened():
    assert format_rule_short(parse_rule("a > 1 AND b < 2")) == "a > 1 AND b < 2"
    assert format_rule_short(parse_rule("a > 1 OR (b < 2 AND c == 'x')")) == "a > 1 OR (b < 2 AND c == 'x')"
    assert format_rule_short(parse_rule("c in {1, 2, 3, 4, 5}")) == "c in {1, 2, 3, … 2 more}"
    assert format_rule_short(parse_rule("c in {1, 2, 3, 4, 5}"), max_values=5) == "c in {1, 2, 3, 4, 5}"


def test_short_form_cuts_at_clauses_and_counts_them():
    rule = parse_rule(LONG)
    assert format_rule_short(rule) == "(age >= 40 AND workclass in {'A', 'B', 'C', … 11 more}) OR … 2 more"
    assert format_rule_short(rule, max_chars=10_000) == (
        "(age >= 40 AND workclass in {'A', 'B', 'C', … 11 more}) OR (hours < 20 AND sex == 'Male' AND "
        "race == 'White' AND relationship == 'Own-child' AND age < 30) OR capital_gain is missing"
    )
    # cut inside the first clause: its conditions are counted, then the clauses
    assert format_rule_short(rule, max_chars=15) == "(age >= 40 AND … 1 more) OR … 2 more"
    assert format_rule_short(parse_rule("a > 1 AND b < 2 AND c == 'x'"), max_chars=12) == "a > 1 AND … 2 more"
    # the first condition is always shown whole
    assert format_rule_short(parse_rule("abcdef > 1 AND b < 2"), max_chars=3) == "abcdef > 1 AND … 1 more"


def test_short_form_of_a_3000_character_rule_stays_short():
    clauses = [f"(x > {i} AND g in {{{', '.join(repr(f'v{j}') for j in range(20))}}})" for i in range(40)]
    rule = parse_rule(" OR ".join(clauses))
    assert len(rule.text) > 3000
    short = format_rule_short(rule, max_chars=120)
    assert short == (
        "(x > 0 AND g in {'v0', 'v1', 'v10', … 17 more}) OR (x > 1 AND g in {'v0', 'v1', 'v10', … 17 more}) "
        "OR … 38 more"
    )
    assert format_rule_lines(rule).split("\n").count("OR") == 39
