"""Rules JSON in and out, and the checks on every field read.

:func:`rules_to_json` writes ``{"version": 1, "rules": [...]}``;
:func:`rules_from_json` reads it back (or a bare list of rule dicts / rule
texts) within the bounds of :mod:`.bounds`: the document's size before it is
decoded, finite numbers of at most ``MAX_NUMBER_DIGITS`` digits while it is
decoded, ``MAX_RULES_PER_FILE`` rules, and the DNF limits per rule.
:func:`rule_from_dict`, :func:`conjunction_from_json` and
:func:`predicate_from_json` type-check each field and name the first wrong one
(``conjunctions[0][1].op``); ``Rule.from_dict``, ``Conjunction.from_list`` and
``Predicate.from_dict`` call them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import RuleError, RuleValidationError
from .bounds import MAX_NUMBER_DIGITS, MAX_RULES_JSON_CHARS, MAX_RULES_PER_FILE
from .model import OPERATORS, ORIGINS, STATUSES, Conjunction, Predicate, Rule
from .parser import dnf_size_problem, parse_rule, predicate_weight
from .values import describe, finite_or_none

__all__ = [
    "rules_to_json",
    "rules_from_json",
    "rule_from_dict",
    "conjunction_from_json",
    "predicate_from_json",
]

_MAX_PROBLEMS_SHOWN = 20  # problems listed from one rules file; the rest are counted
_MAX_PROBLEM_CHARS = 2_000  # one listed problem is cut at this length (a syntax error echoes its whole rule)


def rules_to_json(rules: Iterable[Rule], *, indent: int | None = 2) -> str:
    """A JSON document ``{"version": 1, "rules": [...]}``."""
    return json.dumps(
        {"version": 1, "rules": [r.to_dict() for r in rules]}, indent=indent, default=_json_default
    )


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def rules_from_json(text: str | bytes) -> list[Rule]:
    """Read what :func:`rules_to_json` wrote (or a bare list of rule dicts / rule texts).

    The document is bounded before it is decoded (``MAX_RULES_JSON_CHARS``),
    numbers are finite with at most ``MAX_NUMBER_DIGITS`` digits, and every
    field of every rule is type-checked.

    Raises
    ------
    RuleValidationError
        For a document that is not rule JSON, or is over a bound; each problem
        names the rule and the field (at most 20 are listed).

    Examples
    --------
    >>> [r.text for r in rules_from_json('{"version": 1, "rules": ["a > 1", {"text": "b == 2"}]}')]
    ['a > 1', 'b == 2']
    """
    items = _rule_items(_load_rules_json(text))
    rules, problems = [], []
    for i, item in enumerate(items, start=1):
        try:
            rules.append(parse_rule(item) if isinstance(item, str) else Rule.from_dict(item))
        except RuleError as exc:
            problems.append(f"rule {i}: {_shorten(str(exc))}")
    if problems:
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        shown = problems[:_MAX_PROBLEMS_SHOWN] + ([f"... and {more:,} more problem(s)"] if more > 0 else [])
        raise RuleValidationError(shown)
    return rules


def _load_rules_json(text) -> Any:
    """Decode a rules document within the bounds; every failure is a RuleValidationError."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise RuleValidationError([f"rules JSON must be text or bytes, not {describe(text)}"])
    if len(text) > MAX_RULES_JSON_CHARS:
        unit = "characters" if isinstance(text, str) else "bytes"
        raise RuleValidationError(
            [
                f"the rules file has {len(text):,} {unit}; the limit is "
                f"{MAX_RULES_JSON_CHARS:,}: split it into several files"
            ]
        )
    try:
        return json.loads(
            text,
            parse_constant=_json_refuse_constant,
            parse_float=_json_parse_float,
            parse_int=_json_parse_int,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuleValidationError([f"the rules file is not JSON ({exc})"]) from exc
    except RecursionError:
        raise RuleValidationError(
            [
                "the rules file nests lists or objects too deeply to read; rules JSON is "
                "only a few levels deep: check that this is a rules file"
            ]
        ) from None


def _json_refuse_constant(name: str):
    raise RuleValidationError(
        [f"the rules file contains {name}, which is not a finite number: write a number or null instead"]
    )


def _json_digits(raw: str) -> str:
    """``raw`` when it has at most MAX_NUMBER_DIGITS digits (checked before Python converts it)."""
    digits = sum(ch.isdigit() for ch in raw) if len(raw) > MAX_NUMBER_DIGITS else 0
    if digits > MAX_NUMBER_DIGITS:
        raise RuleValidationError(
            [
                f"the rules file has a number with {digits:,} digits; the limit is "
                f"{MAX_NUMBER_DIGITS}: round it, or write it with an exponent (1.5e120)"
            ]
        )
    return raw


def _json_parse_float(raw: str) -> float:
    value = float(_json_digits(raw))
    if not math.isfinite(value):
        raise RuleValidationError(
            [
                f"the rules file has the number {raw[:40]}, which is beyond the range of "
                "finite numbers (+-1.8e308)"
            ]
        )
    return value


def _json_parse_int(raw: str) -> int:
    return int(_json_digits(raw))


def _rule_items(doc) -> list:
    """The list of rules in a decoded document: ``{"version": 1, "rules": [...]}`` or a bare list."""
    if isinstance(doc, dict):
        version = doc.get("version", 1)
        if isinstance(version, bool) or version != 1:
            raise RuleValidationError(
                [f"rules file version {describe(version)} is not supported (expected 1)"]
            )
        doc = doc.get("rules")
    if not isinstance(doc, list):
        raise RuleValidationError(['expected {"rules": [...]} or a list of rules'])
    if len(doc) > MAX_RULES_PER_FILE:
        raise RuleValidationError(
            [
                f"the rules file has {len(doc):,} rules; the limit is "
                f"{MAX_RULES_PER_FILE:,}: split it into several files"
            ]
        )
    return doc


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_PROBLEM_CHARS else message[: _MAX_PROBLEM_CHARS - 3] + "..."


def rule_from_dict(d, cls: type[Rule] = Rule) -> Rule:
    """A ``cls`` (a :class:`~.model.Rule`) from what ``Rule.to_dict`` wrote, or from ``{"text": ...}``.

    Raises
    ------
    RuleError
        Naming the first wrong field, e.g. ``conjunctions[0][1].op``.
    """
    if not isinstance(d, dict):
        raise RuleError(f"a rule must be an object (or rule text), not {describe(d)}")
    text = _json_field(d, "text", str, "rule text", None)
    if "conjunctions" in d:
        conjs = _conjunctions_from_json(d["conjunctions"])
    elif text is not None:
        conjs = parse_rule(text).conjunctions
    else:
        raise RuleError("a rule needs 'conjunctions' (a list of lists of conditions) or 'text'")
    return cls(
        conjunctions=conjs,
        id=_json_field(d, "id", str, "text", ""),
        origin=_json_choice(d, "origin", ORIGINS, "person"),
        status=_json_choice(d, "status", STATUSES, "proposed"),
        error=_json_number(d, "error"),
        support=_json_int(d, "support", minimum=0),
        paths=_paths_from_json(d.get("paths")),
        model_id=_json_int(d, "model_id"),
        ind=_json_number(d, "ind"),
        note=_json_field(d, "note", str, "text", ""),
    )


def _json_field(d: dict, name: str, kind: type | tuple, what: str, default):
    """``d[name]`` when it is a ``kind``; absent or null gives ``default``."""
    value = d.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RuleError(f"field {name!r} must be {what}, not {describe(value)}")
    return value


def _json_choice(d: dict, name: str, choices: tuple, default: str) -> str:
    value = _json_field(d, name, str, "text", default)
    if value not in choices:
        raise RuleError(f"field {name!r} must be one of {', '.join(choices)}, not {describe(value)}")
    return value


def _json_number(d: dict, name: str) -> float | None:
    """An optional number; NaN / infinity (only possible from Python, not JSON) become None."""
    return finite_or_none(_json_field(d, name, (int, float), "a number or null", None))


def _json_int(d: dict, name: str, *, minimum: int | None = None) -> int | None:
    value = _json_field(d, name, int, "a whole number or null", None)
    if value is not None and minimum is not None and value < minimum:
        raise RuleError(f"field {name!r} must be at least {minimum}, not {describe(value)}")
    return value


def _conjunctions_from_json(items) -> tuple[Conjunction, ...]:
    """A rule's AND-clauses: a non-empty list of lists of conditions, within the DNF limits."""
    if not isinstance(items, (list, tuple)) or not items:
        got = "an empty list" if isinstance(items, (list, tuple)) else describe(items)
        raise RuleError(
            f"field 'conjunctions' must be a non-empty list of lists of conditions ([[]] for TRUE), not {got}"
        )
    if problem := dnf_size_problem(len(items), 0, expanded=False):  # before any condition is built
        raise RuleError(problem[0])
    conjs = tuple(conjunction_from_json(c, f"conjunctions[{i}]") for i, c in enumerate(items))
    if problem := dnf_size_problem(
        len(conjs), sum(predicate_weight(p) for c in conjs for p in c.predicates), expanded=False
    ):
        raise RuleError(problem[0])
    return conjs


def _paths_from_json(items) -> tuple[Conjunction, ...]:
    if items is None:
        return ()
    if not isinstance(items, (list, tuple)):
        raise RuleError(f"field 'paths' must be a list of lists of conditions, not {describe(items)}")
    return tuple(conjunction_from_json(c, f"paths[{i}]") for i, c in enumerate(items))


def conjunction_from_json(items, where: str) -> Conjunction:
    """A list of condition objects as a Conjunction; errors name ``where`` (``paths[2]``) and the field."""
    if not isinstance(items, (list, tuple)):
        raise RuleError(f"{where} must be a list of conditions, not {describe(items)}")
    return Conjunction(tuple(predicate_from_json(d, f"{where}[{i}]") for i, d in enumerate(items)))


def predicate_from_json(d, where: str) -> Predicate:
    """One condition ``{"column": ..., "op": ..., "value": ...}``; errors name ``where`` and the field."""
    if not isinstance(d, dict):
        raise RuleError(f"{where} must be an object with column, op and value, not {describe(d)}")
    column, op, value = d.get("column"), d.get("op"), d.get("value")
    if not isinstance(column, str) or not column:
        raise RuleError(f"{where}.column must be a column name (non-empty text), not {describe(column)}")
    if not isinstance(op, str) or op not in OPERATORS:
        raise RuleError(f"{where}.op must be one of {', '.join(OPERATORS)}, not {describe(op)}")
    if op in ("in", "not in", "between") and not isinstance(value, (list, tuple)):
        raise RuleError(f"{where}.value must be a list for {op}, not {describe(value)}")
    if op in ("is missing", "is not missing") and value is not None:
        raise RuleError(f"{where}.value must be null for {op}, not {describe(value)}")
    try:
        return Predicate(column, op, value)
    except RuleError as exc:
        raise RuleError(f"{where}.value: {exc}") from None
