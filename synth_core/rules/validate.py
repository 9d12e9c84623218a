"""Checking rules against a :class:`~synth_core.data.Schema`, as the Rules page does.

:func:`validate_rule` lists every problem of one rule at once (unknown
columns, the target or an ignored column in a rule, values of the wrong kind,
ordering comparisons on categories, unseen categories, empty intervals);
:func:`validate_rules` does the same over a rule set, each problem prefixed
with its rule. Both raise :class:`~synth_core.errors.RuleValidationError`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import RuleValidationError
from .geometry import intervals
from .model import Conjunction, Predicate, Rule
from .values import describe, format_value

__all__ = ["validate_rule", "validate_rules"]


def validate_rule(rule: Rule, schema, *, target: str | None = None) -> Rule:
    """Check a rule against a Schema; every problem found is reported at once.

    Unknown columns, the target (the Schema's, or ``target``) used in a rule,
    ignored columns (generated rows do not have them), values of the wrong
    kind for the column (text or true/false against a number column, numbers
    or text against a boolean one, true/false against categories that have
    none), ordering comparisons on categories, unseen categories and empty
    intervals are problems. Returns the rule unchanged when it is fine.

    Raises
    ------
    RuleValidationError
        With ``problems``, one line each.
    """
    problems = []
    for conj in rule.conjunctions:
        for p in conj.predicates:
            problems.extend(_predicate_problems(p, schema, target))
        problems.extend(_empty_interval_problems(conj))
    if problems:
        raise RuleValidationError(list(dict.fromkeys(problems)))
    return rule


def validate_rules(rules: Iterable[Rule], schema, *, target: str | None = None) -> list[Rule]:
    """Check every rule against a Schema as the Rules page does, and report all problems at once.

    This is :func:`validate_rule` over a rule set, for callers without a page
    (``synth generate --rules``): each problem is prefixed with the rule's id
    (or its position when it has none).

    Parameters
    ----------
    rules : iterable of Rule
    schema : Schema
        The table's schema; its target column (or ``target``) may not appear in a rule.
    target : str, optional
        The target column, when ``schema`` does not mark it.

    Returns
    -------
    list of Rule
        The rules, unchanged.

    Raises
    ------
    RuleValidationError
        Listing every problem of every rule.

    Examples
    --------
    >>> from synth_core.data import ColumnSpec, Schema
    >>> from synth_core.rules import parse_rule
    >>> schema = Schema((ColumnSpec("age", "integer", min=18, max=90),
    ...                  ColumnSpec("y", "categorical", role="target", categories=("a", "b"))))
    >>> rules = [parse_rule("age > 40", id="r1"), parse_rule("y == 'a' OR Age < 3", id="r2")]
    >>> try:
    ...     validate_rules(rules, schema)
    ... except RuleValidationError as err:
    ...     for problem in err.problems:
    ...         print(problem)
    rule r2: 'y' is the target; rules describe feature values only
    rule r2: unknown column 'Age' (did you mean 'age'?)
    """
    rules = list(rules)
    problems = []
    for i, rule in enumerate(rules, start=1):
        name = f"rule {rule.id}" if isinstance(rule, Rule) and rule.id else f"rule {i}"
        if not isinstance(rule, Rule):
            problems.append(f"{name} is {describe(rule)}, not a Rule")
            continue
        try:
            validate_rule(rule, schema, target=target)
        except RuleValidationError as exc:
            problems.extend(f"{name}: {p}" for p in exc.problems)
    if problems:
        raise RuleValidationError(problems)
    return rules


def _predicate_problems(p: Predicate, schema, target: str | None = None) -> list[str]:
    if p.column not in schema:
        close = [n for n in schema.names if n.lower() == p.column.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [f"unknown column {p.column!r}{hint}"]
    spec = schema[p.column]
    if spec.role == "target" or p.column == target:
        return [f"{p.column!r} is the target; rules describe feature values only"]
    if spec.role == "ignore":
        return [
            f"{p.column!r} is ignored (an id, text, date or constant column, or marked so), so generated "
            "rows do not have it; make it a feature or drop the condition"
        ]
    if p.op in ("is missing", "is not missing"):
        return []
    values = p.value if p.op in ("in", "not in", "between") else (p.value,)
    if spec.is_numeric:
        return _numeric_problems(p, spec, values)
    if spec.kind == "boolean":
        return _boolean_problems(p, spec, values)
    if spec.is_categorical:
        return _categorical_problems(p, spec, values)
    return []


def _numeric_problems(p: Predicate, spec, values) -> list[str]:
    wrong = [v for v in values if isinstance(v, (str, bool))]
    if wrong:
        return [f"{p.column!r} is {spec.kind}; compare it with numbers, not {format_value(wrong[0])}"]
    return []


def _boolean_problems(p: Predicate, spec, values) -> list[str]:
    if p.op not in ("==", "!=", "in", "not in"):
        return [f"{p.column!r} is boolean; use == true / == false"]
    spellings = {"true", "false"} | {str(c).lower() for c in spec.categories}
    wrong = [
        v for v in values if not isinstance(v, bool) and v not in (0, 1) and str(v).lower() not in spellings
    ]
    if wrong:
        return [f"{p.column!r} is boolean; compare it with true or false, not {format_value(wrong[0])}"]
    return []


def _categorical_problems(p: Predicate, spec, values) -> list[str]:
    out = []
    if p.op in ("<", "<=", ">", ">=", "between"):
        out.append(f"{p.column!r} is categorical; use ==, !=, in or not in instead of {p.op}")
    known = {str(c) for c in spec.categories}
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and not all(str(v) in known for v in numbers):
        out.append(f"{p.column!r} is categorical; compare it with one of its categories, not {numbers[0]!r}")
    flags = [v for v in values if isinstance(v, bool) and str(v) not in known]
    if flags and known:
        out.append(
            f"{p.column!r} is categorical; compare it with one of its categories, not "
            f"{format_value(flags[0])}"
        )
    unseen = [v for v in values if isinstance(v, str) and known and v not in known]
    if unseen and not out:
        shown = ", ".join(repr(c) for c in spec.categories[:8])
        out.append(f"{p.column!r} has no category {unseen[0]!r}; known: {shown}")
    return out


def _empty_interval_problems(conj: Conjunction) -> list[str]:
    out = []
    for col, (lo, lo_open, hi, hi_open) in intervals(conj).items():
        if lo > hi or (lo == hi and (lo_open or hi_open)):
            out.append(f"the conditions on {col!r} leave no possible value")
    return out
