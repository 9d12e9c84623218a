"""The rule parser: rule text to a :class:`~.model.Rule` in DNF, within the bounds.

Recursive descent, one function per grammar rule (the grammar is in the
package docstring, :mod:`synth_core.rules`), each taking ``(text, pos)`` and
returning ``(new_pos, node)``; nothing uses ``eval``. Every sub-expression is a
``_Node`` that knows how many AND-clauses (``n``) and values (``w``) it
expands to, so :func:`dnf_size_problem` refuses a rule over
``MAX_DNF_CONJUNCTIONS`` or ``MAX_DNF_VALUES`` before anything is expanded.
The JSON reader (:mod:`.serialize`) applies the same two limits with
:func:`dnf_size_problem` and :func:`predicate_weight`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import chain, product
from typing import Any

from ..errors import RuleError, RuleSyntaxError
from .bounds import MAX_DNF_CONJUNCTIONS, MAX_DNF_VALUES, MAX_NESTING, MAX_NUMBER_DIGITS, MAX_RULE_CHARS
from .model import Conjunction, Predicate, Rule
from .values import IDENTIFIER, KEYWORDS, describe

__all__ = ["parse_rule", "parse_conjunction", "dnf_size_problem", "predicate_weight"]

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WS = frozenset(" \t\r\n")
_NONFINITE = re.compile(r"[-+]?(?:nan|inf(?:inity)?)(?![A-Za-z0-9_])", re.IGNORECASE)


def parse_rule(text: str, **attrs) -> Rule:
    """Parse rule text into a :class:`Rule` (extra keyword arguments set its attributes).

    The text is parsed into a tree that knows the size of its DNF; the tree is
    expanded only when that size is within ``MAX_DNF_CONJUNCTIONS`` and
    ``MAX_DNF_VALUES``, so no rule text can make parsing slow.

    Raises
    ------
    RuleSyntaxError
        At the first syntax error, with the position and what was expected;
        also for text over one of the bounds (length, nesting, digits, DNF
        size), with a message naming the limit and what to do.

    Examples
    --------
    >>> from synth_core.rules import format_rule
    >>> format_rule(parse_rule("hours<20 or (AGE >= 40 and b in {'y','x'})"))
    "hours < 20 OR (AGE >= 40 AND b in {'x', 'y'})"
    """
    if not isinstance(text, str):
        raise _rule_error("", 0, "rule text", f"a rule must be text, not {describe(text)}", caret=False)
    if len(text) > MAX_RULE_CHARS:
        raise _rule_error(
            text,
            MAX_RULE_CHARS,
            f"at most {MAX_RULE_CHARS:,} characters",
            f"this rule is {len(text):,} characters long; the limit is {MAX_RULE_CHARS:,}: "
            "split it into several rules",
            caret=False,
        )
    pos = _skip_ws(text, 0)
    if pos == len(text):
        raise RuleSyntaxError(text, pos, "a condition such as `age >= 40`")
    pos, tree = _parse_disjunction(text, pos, 0)
    pos = _skip_ws(text, pos)
    if pos != len(text):
        raise RuleSyntaxError(text, pos, "AND, OR or the end of the rule")
    if problem := dnf_size_problem(tree.n, tree.w):  # before anything is expanded
        message, expected = problem
        raise _rule_error(text, 0, expected, message, caret=False)
    return Rule(conjunctions=_simplify(_expand(tree)), **attrs)


def parse_conjunction(text: str) -> Conjunction:
    """Parse text that must be a single conjunction (for tree paths)."""
    rule = parse_rule(text)
    if len(rule.conjunctions) != 1:
        raise RuleSyntaxError(text, 0, "a single conjunction without OR")
    return rule.conjunctions[0]


def _rule_error(text: str, pos: int, expected: str, message: str, *, caret: bool = True) -> RuleSyntaxError:
    """A RuleSyntaxError that reads ``message`` (which bound or value is wrong, and what to do).

    The message ends in a short excerpt with a caret at ``pos`` rather than the
    whole text, which may be very long when a bound is hit.
    """
    err = RuleSyntaxError.__new__(RuleSyntaxError)
    err.text, err.pos, err.expected = text, pos, expected
    err.args = (message + (_excerpt(text, pos) if caret else ""),)
    return err


def _excerpt(text: str, pos: int, width: int = 30) -> str:
    """Up to ``width`` characters either side of ``pos``, and a caret line under ``pos``."""
    start, end = max(0, pos - width), min(len(text), pos + width)
    prefix, suffix = ("..." if start else ""), ("..." if end < len(text) else "")
    line = re.sub(r"\s", " ", text[start:end])
    return f"\n  {prefix}{line}{suffix}\n  {' ' * (len(prefix) + pos - start)}^"


def dnf_size_problem(n: int, w: int, *, expanded: bool = True) -> tuple[str, str] | None:
    """``(message, expected)`` when ``n`` AND-clauses holding ``w`` values are over a limit, else None.

    ``expanded`` says whether the clauses come from multiplying out text (the
    parser) or are listed as they are (JSON).
    """
    verb, why = ("would expand to", " (ANDs of ORs multiply out)") if expanded else ("has", "")
    if n > MAX_DNF_CONJUNCTIONS:
        return (
            f"this rule {verb} {_count(n)} AND-clauses{why}; the limit is {MAX_DNF_CONJUNCTIONS:,}: "
            "split it into several rules",
            f"at most {MAX_DNF_CONJUNCTIONS:,} AND-clauses",
        )
    if w > MAX_DNF_VALUES:
        return (
            f"this rule {verb} {_count(n)} AND-clauses holding {_count(w)} values; the limit is "
            f"{MAX_DNF_VALUES:,} values: split it into several rules",
            f"at most {MAX_DNF_VALUES:,} values",
        )
    return None


def _count(n: int) -> str:
    """``n`` with thousands separators (sizes are counted up to ``_SIZE_CAP`` only)."""
    return f"{n:,}" if n < _SIZE_CAP else "more than 10^15"


@dataclass(slots=True)
class _Node:
    """A parsed sub-expression before expansion; ``n`` AND-clauses holding ``w`` values once in DNF.

    ``kind`` is ``'pred'`` (``pred`` set), ``'true'``, ``'and'`` or ``'or'`` (``parts`` set).
    """

    kind: str
    n: int
    w: int
    pred: Predicate | None = None
    parts: tuple = ()


_TRUE_NODE = _Node("true", 1, 0)
_SIZE_CAP = 10**15  # DNF sizes saturate here (far above the limits), so counting stays small-integer work


def _and_node(parts: list[_Node]) -> _Node:
    """AND distributes over OR: clause counts multiply; each clause is copied once per clause of the rest."""
    n, w = 1, 0
    for part in parts:
        n, w = min(n * part.n, _SIZE_CAP), min(w * part.n + part.w * n, _SIZE_CAP)
    return _Node("and", n, w, parts=tuple(parts))


def _or_node(parts: list[_Node]) -> _Node:
    return _Node(
        "or",
        min(sum(p.n for p in parts), _SIZE_CAP),
        min(sum(p.w for p in parts), _SIZE_CAP),
        parts=tuple(parts),
    )


def _expand(node: _Node) -> list[list[Predicate]]:
    """The DNF of a tree whose size was checked: a list of AND-clauses, each a list of predicates."""
    if node.kind == "pred":
        return [[node.pred]]
    if node.kind == "true":
        return [[]]
    if node.kind == "or":
        return [conj for part in node.parts for conj in _expand(part)]
    factors = [f for f in map(_expand, node.parts) if f != [[]]]  # TRUE factors add nothing
    return [list(chain.from_iterable(combo)) for combo in product(*factors)]


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _keyword(text: str, pos: int, word: str) -> int | None:
    """Position after ``word`` (case-insensitive, not followed by an identifier char), else None."""
    pos = _skip_ws(text, pos)
    end = pos + len(word)
    if text[pos:end].lower() == word and (end == len(text) or not (text[end].isalnum() or text[end] == "_")):
        return end
    return None


def _expect(text: str, pos: int, token: str, what: str) -> int:
    pos = _skip_ws(text, pos)
    if not text.startswith(token, pos):
        raise RuleSyntaxError(text, pos, what)
    return pos + len(token)


def _parse_disjunction(text: str, pos: int, depth: int) -> tuple[int, _Node]:
    pos, node = _parse_conjunction(text, pos, depth)
    parts = [node]
    while (after := _keyword(text, pos, "or")) is not None:
        pos, node = _parse_conjunction(text, after, depth)
        parts.append(node)
    return pos, parts[0] if len(parts) == 1 else _or_node(parts)


def _parse_conjunction(text: str, pos: int, depth: int) -> tuple[int, _Node]:
    pos, node = _parse_term(text, pos, depth)
    parts = [node]
    while (after := _keyword(text, pos, "and")) is not None:
        pos, node = _parse_term(text, after, depth)
        parts.append(node)
    return pos, parts[0] if len(parts) == 1 else _and_node(parts)


def _parse_term(text: str, pos: int, depth: int) -> tuple[int, _Node]:
    pos = _skip_ws(text, pos)
    if text.startswith("(", pos):
        if depth >= MAX_NESTING:
            raise _rule_error(
                text,
                pos,
                f"at most {MAX_NESTING} nested parentheses",
                f"this rule nests parentheses more than {MAX_NESTING} deep (column {pos + 1}); "
                f"the limit is {MAX_NESTING}: remove redundant parentheses or split the rule",
            )
        pos, node = _parse_disjunction(text, pos + 1, depth + 1)
        pos = _expect(text, pos, ")", "')' to close the '('")
        return pos, node
    if (after := _keyword(text, pos, "true")) is not None:
        return after, _TRUE_NODE
    pos, pred = _parse_predicate(text, pos)
    return pos, _Node("pred", 1, predicate_weight(pred), pred=pred)


def _parse_column(text: str, pos: int) -> tuple[int, str]:
    pos = _skip_ws(text, pos)
    if text.startswith("`", pos):
        out, i = [], pos + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if ch == "`":
                if not out:
                    raise RuleSyntaxError(text, pos, "a column name inside the back-quotes")
                return i + 1, "".join(out)
            out.append(ch)
            i += 1
        raise RuleSyntaxError(text, len(text), "'`' to close the column name")
    m = IDENTIFIER.match(text, pos)
    if not m or m.group().lower() in KEYWORDS:
        raise RuleSyntaxError(text, pos, "a column name (use `back-quotes` for names with spaces)")
    return m.end(), m.group()


def _parse_predicate(text: str, pos: int) -> tuple[int, Predicate]:
    pos, column = _parse_column(text, pos)
    pos = _skip_ws(text, pos)
    for op in ("<=", ">=", "==", "!=", "<", ">", "="):
        if text.startswith(op, pos):
            pos, value = _parse_value(text, pos + len(op))
            return pos, Predicate(column, "==" if op == "=" else op, value)
    if (after := _keyword(text, pos, "not")) is not None:
        if (after_in := _keyword(text, after, "in")) is None:
            raise RuleSyntaxError(text, _skip_ws(text, after), "IN after NOT")
        return _set_predicate(text, after_in, column, "not in")
    if (after := _keyword(text, pos, "in")) is not None:
        return _set_predicate(text, after, column, "in")
    if (after := _keyword(text, pos, "between")) is not None:
        pos, lo = _parse_value(text, after)
        if (after_and := _keyword(text, pos, "and")) is None:
            raise RuleSyntaxError(text, _skip_ws(text, pos), "AND between the two bounds")
        pos, hi = _parse_value(text, after_and)
        return pos, Predicate(column, "between", (lo, hi))
    if (after := _keyword(text, pos, "is")) is not None:
        negated = _keyword(text, after, "not")
        if (after_m := _keyword(text, negated or after, "missing")) is None:
            raise RuleSyntaxError(
                text,
                _skip_ws(text, negated or after),
                "MISSING after IS" + ("" if negated else " (or IS NOT MISSING)"),
            )
        return after_m, Predicate(column, "is not missing" if negated else "is missing")
    raise RuleSyntaxError(text, pos, "an operator (<, <=, >, >=, ==, !=, in, not in, between, is missing)")


def _set_predicate(text: str, pos: int, column: str, op: str) -> tuple[int, Predicate]:
    """``in`` / ``not in`` and its set; a set Predicate refuses ({1, true}) is a syntax error at the set."""
    start = _skip_ws(text, pos)
    pos, values = _parse_set(text, pos)
    try:
        return pos, Predicate(column, op, values)
    except RuleError as exc:
        raise _rule_error(text, start, "a set of values of one kind", f"{exc} (column {start + 1})") from None


def _parse_set(text: str, pos: int) -> tuple[int, tuple]:
    pos = _expect(text, pos, "{", "'{' to start a set of values")
    values = []
    pos = _skip_ws(text, pos)
    if text.startswith("}", pos):
        return pos + 1, ()
    while True:
        pos, v = _parse_value(text, pos)
        values.append(v)
        pos = _skip_ws(text, pos)
        if text.startswith(",", pos):
            pos += 1
            continue
        return _expect(text, pos, "}", "',' or '}' in the set of values"), tuple(values)


def _parse_value(text: str, pos: int) -> tuple[int, Any]:
    pos = _skip_ws(text, pos)
    if pos < len(text) and text[pos] in "'\"":
        return _parse_string(text, pos)
    if (after := _keyword(text, pos, "true")) is not None:
        return after, True
    if (after := _keyword(text, pos, "false")) is not None:
        return after, False
    if _NONFINITE.match(text, pos):
        raise RuleSyntaxError(text, pos, "a finite number (NaN and infinity cannot be used in a rule)")
    m = _NUMBER.match(text, pos)
    if m:
        end = m.end()
        if end < len(text) and (text[end].isalpha() or text[end] == "_"):
            raise RuleSyntaxError(text, pos, "a number, a quoted string, true or false")
        raw = m.group()
        digits = sum(ch.isdigit() for ch in raw) if len(raw) > MAX_NUMBER_DIGITS else 0
        if digits > MAX_NUMBER_DIGITS:
            raise _rule_error(
                text,
                pos,
                f"a number of at most {MAX_NUMBER_DIGITS} digits",
                f"a number in this rule has {digits:,} digits (column {pos + 1}); the limit is "
                f"{MAX_NUMBER_DIGITS}: round it, or write it with an exponent (1.5e120)",
            )
        num = float(raw)
        if not math.isfinite(num):
            raise RuleSyntaxError(text, pos, "a finite number (this one is beyond +-1.8e308)")
        is_int = re.fullmatch(r"[-+]?\d+", raw) is not None
        return end, int(raw) if is_int else num
    raise RuleSyntaxError(text, pos, "a number, a quoted string, true or false")


def _parse_string(text: str, pos: int) -> tuple[int, str]:
    quote, i, out = text[pos], pos + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise RuleSyntaxError(text, len(text), f"{quote} to close the string started at column {pos + 1}")


def _simplify(dnf: list[list[Predicate]]) -> tuple[Conjunction, ...]:
    seen, out = set(), []
    for preds in dnf:
        conj = Conjunction(tuple(dict.fromkeys(preds)))
        if conj not in seen:
            seen.add(conj)
            out.append(conj)
    if any(not c.predicates for c in out):
        return (Conjunction(),)  # TRUE absorbs everything else
    return tuple(out)


def predicate_weight(p: Predicate) -> int:
    """Values a condition holds, at least one (what MAX_DNF_VALUES counts)."""
    return max(1, len(p.value)) if isinstance(p.value, tuple) else 1
