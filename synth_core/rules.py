"""Rules: predicates joined by AND into conjunctions, conjunctions joined by OR (DNF).

Text form (what a person types and reads)::

    (age >= 40 AND workclass in {'Private', 'Self-emp'}) OR hours < 20

Grammar (keywords are case-insensitive; AND binds tighter than OR; any
parenthesised AND/OR expression is accepted and turned into DNF)::

    rule        := disjunction END
    disjunction := conjunction ( "OR" conjunction )*
    conjunction := term ( "AND" term )*
    term        := "(" disjunction ")" | "TRUE" | predicate
    predicate   := column op value
                 | column ["NOT"] "IN" set
                 | column "BETWEEN" value "AND" value
                 | column "IS" ["NOT"] "MISSING"
    op          := "<=" | ">=" | "==" | "!=" | "<" | ">" | "="
    set         := "{" [ value ( "," value )* ] "}"
    value       := number | string | "true" | "false"
    column      := identifier | `back-quoted name`
    string      := '...' | "..."   (backslash escapes the quote and itself)

``format_rule(parse_rule(text))`` gives the canonical text; parsing that again
gives an equal rule. Nothing here uses ``eval``: the parser is recursive descent,
one function per grammar rule, each taking ``(text, pos)``.

Masks follow SQL-like semantics: a missing cell never satisfies a comparison,
``!=`` or ``not in``; only ``is missing`` matches it. ``between`` includes both
ends.

Bounds (rule text and rules JSON may come from anyone). Each is checked before
the work it guards and refused with a :class:`~synth_core.errors.RuleSyntaxError`
(text) or :class:`~synth_core.errors.RuleValidationError` (JSON) that names the
limit and what to do:

* ``MAX_RULE_CHARS`` characters of rule text, checked before parsing;
* ``MAX_NESTING`` levels of parentheses (the parser recurses per level);
* ``MAX_NUMBER_DIGITS`` digits per number, in text and in JSON;
* the DNF size: while parsing, every sub-expression carries the number of
  AND-clauses it expands to and the values they hold (sums for OR, products
  for AND), so a rule whose expansion would exceed ``MAX_DNF_CONJUNCTIONS``
  AND-clauses or ``MAX_DNF_VALUES`` values is refused before anything is
  expanded (``(c0 == 0 OR c0 == 1) AND ... AND (c21 == 0 OR c21 == 1)`` would
  give 4,194,304 clauses). JSON rules obey the same two limits;
* ``MAX_RULES_JSON_CHARS`` characters (or bytes) and ``MAX_RULES_PER_FILE``
  rules per rules JSON document; JSON nested too deeply to decode is refused.

Numbers are finite everywhere: ``nan`` / ``inf`` in text, ``NaN`` / ``Infinity``
in JSON and non-finite :class:`Predicate` values are refused, and a set may not
mix ``true`` / ``false`` with numbers (Python takes ``true`` for ``1``, so
``{1, true}`` would silently lose a member).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import chain, islice, product
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .errors import RuleError, RuleSyntaxError, RuleValidationError

__all__ = [
    "Predicate",
    "Conjunction",
    "Rule",
    "parse_rule",
    "format_rule",
    "format_rule_lines",
    "format_rule_short",
    "parse_conjunction",
    "validate_rule",
    "validate_rules",
    "rules_to_json",
    "rules_from_json",
    "overlap",
    "OPERATORS",
    "MAX_RULE_CHARS",
    "MAX_NESTING",
    "MAX_NUMBER_DIGITS",
    "MAX_DNF_CONJUNCTIONS",
    "MAX_DNF_VALUES",
    "MAX_RULES_JSON_CHARS",
    "MAX_RULES_PER_FILE",
]

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
OPERATORS = COMPARISONS + ("in", "not in", "between", "is missing", "is not missing")
ORIGINS = ("discovered", "llm", "person", "refined")
STATUSES = ("proposed", "approved", "rejected")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WS = frozenset(" \t\r\n")
_KEYWORDS = {"and", "or", "in", "not", "between", "is", "missing", "true", "false"}
_NONFINITE = re.compile(r"[-+]?(?:nan|inf(?:inity)?)(?![A-Za-z0-9_])", re.IGNORECASE)

#: Longest rule text parsed, in characters. Discovery's longest texts are about 75,000 characters at its
#: default ``max_models`` (one rule holding every region) and about 290,000 with ``max_models=1000``;
#: parsing 1,000,000 characters takes well under a second.
MAX_RULE_CHARS = 1_000_000
#: Deepest nesting of parentheses. Canonical text nests one level; each level costs the parser three frames.
MAX_NESTING = 32
#: Most digits in one number (mantissa and exponent together). A float needs at most 17 significant digits.
MAX_NUMBER_DIGITS = 100
#: Most AND-clauses a rule may have once expanded to DNF. Discovery writes at most ``2 * max_models + 1``
#: (401 at its default ``max_models=200``); every clause costs a mask over the table.
MAX_DNF_CONJUNCTIONS = 1_000
#: Most values in the expanded DNF: a condition counts its values (a set its members, ``between`` two), at
#: least one. Every value takes two characters or more, so text already in DNF that fits ``MAX_RULE_CHARS``
#: never reaches it; only expansion that copies conditions into many clauses can.
MAX_DNF_VALUES = MAX_RULE_CHARS // 2
#: Largest rules JSON document, in characters (str) or bytes. Discovery's largest files are a few MB.
MAX_RULES_JSON_CHARS = 20_000_000
#: Most rules in one rules JSON document.
MAX_RULES_PER_FILE = 10_000
_MAX_PROBLEMS_SHOWN = 20  # problems listed from one rules file; the rest are counted
_MAX_PROBLEM_CHARS = 2_000  # one listed problem is cut at this length (a syntax error echoes its whole rule)
_INT_LIMIT = 10**MAX_NUMBER_DIGITS


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class Predicate:
    """One condition on one column.

    ``value`` is a number or string for comparisons, a tuple for ``in`` /
    ``not in`` (kept sorted, duplicates removed), a ``(low, high)`` pair for
    ``between`` and ``None`` for ``is missing``. Numbers are finite and have at
    most ``MAX_NUMBER_DIGITS`` digits; a set does not mix ``True`` / ``False``
    with numbers. Anything else raises :class:`~synth_core.errors.RuleError`.
    """

    column: str
    op: str
    value: Any = None

    def __post_init__(self):
        if not isinstance(self.column, str) or not self.column:
            raise RuleError(f"a condition needs a column name (non-empty text), not {_describe(self.column)}")
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise RuleError(f"unknown operator {_describe(self.op)}; use one of {', '.join(OPERATORS)}")
        object.__setattr__(self, "value", _canonical_value(self.op, self.value))

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array: rows of ``frame`` that satisfy this predicate."""
        s = frame[self.column]
        present = s.notna().to_numpy()
        if self.op == "is missing":
            return ~present
        if self.op == "is not missing":
            return present
        if self.op in ("in", "not in"):
            hit = _isin(s, self.value)
            return (hit if self.op == "in" else ~hit) & present
        if self.op == "between":
            lo, hi = self.value
            return _compare(s, ">=", lo) & _compare(s, "<=", hi) & present
        return _compare(s, self.op, self.value) & present

    def to_text(self) -> str:
        col = _format_column(self.column)
        if self.op in ("is missing", "is not missing"):
            return f"{col} {self.op}"
        if self.op in ("in", "not in"):
            return f"{col} {self.op} {{{', '.join(_format_value(v) for v in self.value)}}}"
        if self.op == "between":
            return f"{col} between {_format_value(self.value[0])} and {_format_value(self.value[1])}"
        return f"{col} {self.op} {_format_value(self.value)}"

    def to_dict(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": value}

    @classmethod
    def from_dict(cls, d: dict) -> "Predicate":
        """Read what :meth:`to_dict` wrote; a wrong field raises RuleError naming it."""
        return _predicate_from_json(d, "condition")


@dataclass(frozen=True, slots=True)
class Conjunction:
    """Predicates joined by AND; the empty conjunction matches every row (``TRUE``)."""

    predicates: tuple[Predicate, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "predicates", tuple(dict.fromkeys(self.predicates)))

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.ones(len(frame), dtype=bool)
        for p in self.predicates:
            out &= p.mask(frame)
        return out

    def to_text(self) -> str:
        return " AND ".join(p.to_text() for p in self.predicates) if self.predicates else "TRUE"

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(p.column for p in self.predicates))

    def and_(self, other: "Conjunction | Predicate") -> "Conjunction":
        extra = (other,) if isinstance(other, Predicate) else other.predicates
        return Conjunction(self.predicates + extra)

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.predicates]

    @classmethod
    def from_list(cls, items: list[dict]) -> "Conjunction":
        """Read what :meth:`to_list` wrote; a wrong field raises RuleError naming it."""
        return _conjunction_from_json(items, "conjunction")


@dataclass(frozen=True, slots=True)
class Rule:
    """A DNF rule with the facts DATE attaches to it.

    Attributes
    ----------
    conjunctions : tuple of Conjunction
        OR-ed together.
    id : str
    origin : {'discovered', 'llm', 'person', 'refined'}
    status : {'proposed', 'approved', 'rejected'}
    error : float or None
        Error of the rule's shared model on its train rows.
    support : int or None
        Train rows the rule covers.
    paths : tuple of Conjunction
        Decision-tree paths behind the rule.
    model_id : int or None
        Which shared model fits the rule's rows.
    ind : float or None
        DATE's ind(r): how representative the rule is for its model.
    note : str
        Free text (what was merged, why an LLM proposed it, ...).
    """

    conjunctions: tuple[Conjunction, ...] = (Conjunction(),)
    id: str = ""
    origin: str = "person"
    status: str = "proposed"
    error: float | None = None
    support: int | None = None
    paths: tuple[Conjunction, ...] = field(default=(), compare=False)
    model_id: int | None = None
    ind: float | None = None
    note: str = field(default="", compare=False)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` covered by any conjunction."""
        out = np.zeros(len(frame), dtype=bool)
        for c in self.conjunctions:
            out |= c.mask(frame)
        return out

    def count(self, frame: pd.DataFrame) -> int:
        return int(self.mask(frame).sum())

    @property
    def text(self) -> str:
        return format_rule(self)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c for conj in self.conjunctions for c in conj.columns))

    def with_(self, **changes) -> "Rule":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "conjunctions": [c.to_list() for c in self.conjunctions],
            "origin": self.origin,
            "status": self.status,
            "error": _finite_or_none(self.error),
            "support": self.support,
            "paths": [c.to_list() for c in self.paths],
            "model_id": self.model_id,
            "ind": _finite_or_none(self.ind),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Rule":
        """Read what :meth:`to_dict` wrote (or ``{"text": ...}``); every field is type-checked.

        Raises
        ------
        RuleError
            Naming the first wrong field, e.g. ``conjunctions[0][1].op``.
        """
        if not isinstance(d, dict):
            raise RuleError(f"a rule must be an object (or rule text), not {_describe(d)}")
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


# --------------------------------------------------------------------------- values


def _canonical_value(op: str, value):
    """The canonical value of a condition with operator ``op`` (raises RuleError when it cannot be one)."""
    if op in ("in", "not in"):
        return _canonical_set(value)
    if op == "between":
        pair = tuple(islice(value, 3)) if isinstance(value, Iterable) and not isinstance(
            value, (str, bytes, Mapping)) else ()
        if len(pair) != 2:
            raise RuleError(f"between needs two bounds (low, high), not {_describe(value)}")
        return (_canonical_scalar(pair[0]), _canonical_scalar(pair[1]))
    if op in ("is missing", "is not missing"):
        return None
    return _canonical_scalar(value)


def _canonical_scalar(v):
    """One value of a condition: a finite number of at most MAX_NUMBER_DIGITS digits, text or a boolean."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if abs(v) >= _INT_LIMIT:
            raise RuleError(f"a number in a rule has at most {MAX_NUMBER_DIGITS} digits, not {_describe(v)}: "
                            "write it with an exponent (1.5e120)")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise RuleError(f"rule values must be finite numbers, not {_describe(v)}: write the bound as a "
                            "number, or leave that side of the condition out")
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v
    raise RuleError(f"rule values must be numbers, text or true/false, not {_describe(v)}")


def _sort_key(v):
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _canonical_set(values) -> tuple:
    """Members of ``in`` / ``not in``, sorted, without duplicates; a lone value is a set of one."""
    if isinstance(values, Mapping):
        raise RuleError(f"a set of values must be a list, not {_describe(values)}")
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = (values,)
    members = [_canonical_scalar(v) for v in values]
    _refuse_booleans_with_numbers(members)
    return tuple(sorted(set(members), key=_sort_key))


def _refuse_booleans_with_numbers(members: list) -> None:
    """Python takes True for 1 and False for 0, so a set holding both kinds would silently lose members."""
    flag = next((m for m in members if isinstance(m, bool)), None)
    number = next((m for m in members if isinstance(m, (int, float)) and not isinstance(m, bool)), None)
    if flag is not None and number is not None:
        raise RuleError(f"a set of values mixes true/false with numbers ({{{_format_value(number)}, "
                        f"{_format_value(flag)}}}): true counts as 1 and false as 0, so one would be lost; "
                        "use only true/false for a boolean column, only numbers or text otherwise")


def _weight(p: Predicate) -> int:
    """Values a condition holds, at least one (what MAX_DNF_VALUES counts)."""
    return max(1, len(p.value)) if isinstance(p.value, tuple) else 1


def _describe(v) -> str:
    """A short description of any value for a message: never a huge or deeply nested repr."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        digits = int(v.bit_length() * 0.30103) + 1
        return repr(v) if v.bit_length() <= 64 else f"a number of about {digits:,} digits"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return ("infinity" if v > 0 else "-infinity") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:37]) + "..."
    return f"a {type(v).__name__}"


def _finite_or_none(v):
    """``v`` unless it is a non-finite float (JSON has no NaN / infinity)."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _format_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("rule values must be finite numbers")
        return repr(v)
    text = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _format_column(name: str) -> str:
    if _IDENT.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _compare(s: pd.Series, op: str, value) -> np.ndarray:
    if isinstance(value, str) or _is_texty(s):
        if op in ("==", "!="):
            hit = _isin(s, (value,))
            return hit if op == "==" else ~hit
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            s = pd.to_numeric(s, errors="coerce")
        else:
            s = s.astype(str).where(s.notna())
    if pd.api.types.is_extension_array_dtype(s.dtype):
        s = s.astype(object).where(s.notna(), np.nan)  # nullable dtypes: pd.NA would poison comparisons
        if not isinstance(value, str) and not _is_texty(s.dropna().infer_objects()):
            s = pd.to_numeric(s, errors="coerce")
    arr = s.to_numpy()
    with np.errstate(invalid="ignore"):
        try:
            res = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                   "==": np.equal, "!=": np.not_equal}[op](arr, value)
        except TypeError:
            return np.zeros(len(s), dtype=bool)
    return np.asarray(res, dtype=bool) & s.notna().to_numpy()


def _is_texty(s: pd.Series) -> bool:
    """Object, string or categorical columns (pandas >= 3 reads text as ``str`` dtype)."""
    return (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)
            or isinstance(s.dtype, pd.CategoricalDtype))


def _isin(s: pd.Series, values: tuple) -> np.ndarray:
    if not _is_texty(s):
        return s.isin(values).to_numpy()
    # object columns may hold numbers written as text or vice versa: compare both ways
    strs = {str(v) for v in values}
    return (s.astype(object).isin(values) | s.astype(str).isin(strs)).to_numpy() & s.notna().to_numpy()


# --------------------------------------------------------------------------- parser


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
    >>> format_rule(parse_rule("hours<20 or (AGE >= 40 and b in {'y','x'})"))
    "hours < 20 OR (AGE >= 40 AND b in {'x', 'y'})"
    """
    if not isinstance(text, str):
        raise _rule_error("", 0, "rule text", f"a rule must be text, not {_describe(text)}", caret=False)
    if len(text) > MAX_RULE_CHARS:
        raise _rule_error(text, MAX_RULE_CHARS, f"at most {MAX_RULE_CHARS:,} characters",
                          f"this rule is {len(text):,} characters long; the limit is {MAX_RULE_CHARS:,}: "
                          "split it into several rules", caret=False)
    pos = _skip_ws(text, 0)
    if pos == len(text):
        raise RuleSyntaxError(text, pos, "a condition such as `age >= 40`")
    pos, tree = _parse_disjunction(text, pos, 0)
    pos = _skip_ws(text, pos)
    if pos != len(text):
        raise RuleSyntaxError(text, pos, "AND, OR or the end of the rule")
    if problem := _dnf_size_problem(tree.n, tree.w):  # before anything is expanded
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


def _dnf_size_problem(n: int, w: int, *, expanded: bool = True) -> tuple[str, str] | None:
    """``(message, expected)`` when ``n`` AND-clauses holding ``w`` values are over a limit, else None.

    ``expanded`` says whether the clauses come from multiplying out text (the
    parser) or are listed as they are (JSON).
    """
    verb, why = ("would expand to", " (ANDs of ORs multiply out)") if expanded else ("has", "")
    if n > MAX_DNF_CONJUNCTIONS:
        return (f"this rule {verb} {_count(n)} AND-clauses{why}; the limit is {MAX_DNF_CONJUNCTIONS:,}: "
                "split it into several rules", f"at most {MAX_DNF_CONJUNCTIONS:,} AND-clauses")
    if w > MAX_DNF_VALUES:
        return (f"this rule {verb} {_count(n)} AND-clauses holding {_count(w)} values; the limit is "
                f"{MAX_DNF_VALUES:,} values: split it into several rules",
                f"at most {MAX_DNF_VALUES:,} values")
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
    return _Node("or", min(sum(p.n for p in parts), _SIZE_CAP), min(sum(p.w for p in parts), _SIZE_CAP),
                 parts=tuple(parts))


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
            raise _rule_error(text, pos, f"at most {MAX_NESTING} nested parentheses",
                              f"this rule nests parentheses more than {MAX_NESTING} deep (column {pos + 1}); "
                              f"the limit is {MAX_NESTING}: remove redundant parentheses or split the rule")
        pos, node = _parse_disjunction(text, pos + 1, depth + 1)
        pos = _expect(text, pos, ")", "')' to close the '('")
        return pos, node
    if (after := _keyword(text, pos, "true")) is not None:
        return after, _TRUE_NODE
    pos, pred = _parse_predicate(text, pos)
    return pos, _Node("pred", 1, _weight(pred), pred=pred)


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
    m = _IDENT.match(text, pos)
    if not m or m.group().lower() in _KEYWORDS:
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
            raise RuleSyntaxError(text, _skip_ws(text, negated or after), "MISSING after IS" +
                                  ("" if negated else " (or IS NOT MISSING)"))
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
            raise _rule_error(text, pos, f"a number of at most {MAX_NUMBER_DIGITS} digits",
                              f"a number in this rule has {digits:,} digits (column {pos + 1}); the limit is "
                              f"{MAX_NUMBER_DIGITS}: round it, or write it with an exponent (1.5e120)")
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


# --------------------------------------------------------------------------- format / JSON


def format_rule(rule: Rule) -> str:
    """Canonical text of a rule: ``parse_rule(format_rule(r))`` equals ``r``'s conjunctions."""
    conjs = rule.conjunctions
    if len(conjs) == 1:
        return conjs[0].to_text()
    return " OR ".join(f"({c.to_text()})" if len(c.predicates) > 1 else c.to_text() for c in conjs)


def rules_to_json(rules: Iterable[Rule], *, indent: int | None = 2) -> str:
    """A JSON document ``{"version": 1, "rules": [...]}``."""
    return json.dumps({"version": 1, "rules": [r.to_dict() for r in rules]}, indent=indent,
                      default=_json_default)


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
        raise RuleValidationError([f"rules JSON must be text or bytes, not {_describe(text)}"])
    if len(text) > MAX_RULES_JSON_CHARS:
        unit = "characters" if isinstance(text, str) else "bytes"
        raise RuleValidationError([f"the rules file has {len(text):,} {unit}; the limit is "
                                   f"{MAX_RULES_JSON_CHARS:,}: split it into several files"])
    try:
        return json.loads(text, parse_constant=_json_refuse_constant, parse_float=_json_parse_float,
                          parse_int=_json_parse_int)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuleValidationError([f"the rules file is not JSON ({exc})"]) from exc
    except RecursionError:
        raise RuleValidationError(["the rules file nests lists or objects too deeply to read; rules JSON is "
                                   "only a few levels deep: check that this is a rules file"]) from None


def _json_refuse_constant(name: str):
    raise RuleValidationError([f"the rules file contains {name}, which is not a finite number: write a "
                               "number or null instead"])


def _json_digits(raw: str) -> str:
    """``raw`` when it has at most MAX_NUMBER_DIGITS digits (checked before Python converts it)."""
    digits = sum(ch.isdigit() for ch in raw) if len(raw) > MAX_NUMBER_DIGITS else 0
    if digits > MAX_NUMBER_DIGITS:
        raise RuleValidationError([f"the rules file has a number with {digits:,} digits; the limit is "
                                   f"{MAX_NUMBER_DIGITS}: round it, or write it with an exponent (1.5e120)"])
    return raw


def _json_parse_float(raw: str) -> float:
    value = float(_json_digits(raw))
    if not math.isfinite(value):
        raise RuleValidationError([f"the rules file has the number {raw[:40]}, which is beyond the range of "
                                   "finite numbers (+-1.8e308)"])
    return value


def _json_parse_int(raw: str) -> int:
    return int(_json_digits(raw))


def _rule_items(doc) -> list:
    """The list of rules in a decoded document: ``{"version": 1, "rules": [...]}`` or a bare list."""
    if isinstance(doc, dict):
        version = doc.get("version", 1)
        if isinstance(version, bool) or version != 1:
            raise RuleValidationError([f"rules file version {_describe(version)} is not supported "
                                       "(expected 1)"])
        doc = doc.get("rules")
    if not isinstance(doc, list):
        raise RuleValidationError(['expected {"rules": [...]} or a list of rules'])
    if len(doc) > MAX_RULES_PER_FILE:
        raise RuleValidationError([f"the rules file has {len(doc):,} rules; the limit is "
                                   f"{MAX_RULES_PER_FILE:,}: split it into several files"])
    return doc


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_PROBLEM_CHARS else message[:_MAX_PROBLEM_CHARS - 3] + "..."


# --------------------------------------------------------------------------- JSON fields


def _json_field(d: dict, name: str, kind: type | tuple, what: str, default):
    """``d[name]`` when it is a ``kind``; absent or null gives ``default``."""
    value = d.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RuleError(f"field {name!r} must be {what}, not {_describe(value)}")
    return value


def _json_choice(d: dict, name: str, choices: tuple, default: str) -> str:
    value = _json_field(d, name, str, "text", default)
    if value not in choices:
        raise RuleError(f"field {name!r} must be one of {', '.join(choices)}, not {_describe(value)}")
    return value


def _json_number(d: dict, name: str) -> float | None:
    """An optional number; NaN / infinity (only possible from Python, not JSON) become None."""
    return _finite_or_none(_json_field(d, name, (int, float), "a number or null", None))


def _json_int(d: dict, name: str, *, minimum: int | None = None) -> int | None:
    value = _json_field(d, name, int, "a whole number or null", None)
    if value is not None and minimum is not None and value < minimum:
        raise RuleError(f"field {name!r} must be at least {minimum}, not {_describe(value)}")
    return value


def _conjunctions_from_json(items) -> tuple[Conjunction, ...]:
    """A rule's AND-clauses: a non-empty list of lists of conditions, within the DNF limits."""
    if not isinstance(items, (list, tuple)) or not items:
        got = "an empty list" if isinstance(items, (list, tuple)) else _describe(items)
        raise RuleError(f"field 'conjunctions' must be a non-empty list of lists of conditions ([[]] for "
                        f"TRUE), not {got}")
    if problem := _dnf_size_problem(len(items), 0, expanded=False):  # before any condition is built
        raise RuleError(problem[0])
    conjs = tuple(_conjunction_from_json(c, f"conjunctions[{i}]") for i, c in enumerate(items))
    if problem := _dnf_size_problem(len(conjs), sum(_weight(p) for c in conjs for p in c.predicates),
                                    expanded=False):
        raise RuleError(problem[0])
    return conjs


def _paths_from_json(items) -> tuple[Conjunction, ...]:
    if items is None:
        return ()
    if not isinstance(items, (list, tuple)):
        raise RuleError(f"field 'paths' must be a list of lists of conditions, not {_describe(items)}")
    return tuple(_conjunction_from_json(c, f"paths[{i}]") for i, c in enumerate(items))


def _conjunction_from_json(items, where: str) -> Conjunction:
    if not isinstance(items, (list, tuple)):
        raise RuleError(f"{where} must be a list of conditions, not {_describe(items)}")
    return Conjunction(tuple(_predicate_from_json(d, f"{where}[{i}]") for i, d in enumerate(items)))


def _predicate_from_json(d, where: str) -> Predicate:
    """One condition ``{"column": ..., "op": ..., "value": ...}``; errors name ``where`` and the field."""
    if not isinstance(d, dict):
        raise RuleError(f"{where} must be an object with column, op and value, not {_describe(d)}")
    column, op, value = d.get("column"), d.get("op"), d.get("value")
    if not isinstance(column, str) or not column:
        raise RuleError(f"{where}.column must be a column name (non-empty text), not {_describe(column)}")
    if not isinstance(op, str) or op not in OPERATORS:
        raise RuleError(f"{where}.op must be one of {', '.join(OPERATORS)}, not {_describe(op)}")
    if op in ("in", "not in", "between") and not isinstance(value, (list, tuple)):
        raise RuleError(f"{where}.value must be a list for {op}, not {_describe(value)}")
    if op in ("is missing", "is not missing") and value is not None:
        raise RuleError(f"{where}.value must be null for {op}, not {_describe(value)}")
    try:
        return Predicate(column, op, value)
    except RuleError as exc:
        raise RuleError(f"{where}.value: {exc}") from None


# --------------------------------------------------------------------------- validation


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
            problems.append(f"{name} is {_describe(rule)}, not a Rule")
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
        return [f"{p.column!r} is ignored (an id, text, date or constant column, or marked so), so generated "
                "rows do not have it; make it a feature or drop the condition"]
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
        return [f"{p.column!r} is {spec.kind}; compare it with numbers, not {_format_value(wrong[0])}"]
    return []


def _boolean_problems(p: Predicate, spec, values) -> list[str]:
    if p.op not in ("==", "!=", "in", "not in"):
        return [f"{p.column!r} is boolean; use == true / == false"]
    spellings = {"true", "false"} | {str(c).lower() for c in spec.categories}
    wrong = [v for v in values
             if not isinstance(v, bool) and v not in (0, 1) and str(v).lower() not in spellings]
    if wrong:
        return [f"{p.column!r} is boolean; compare it with true or false, not {_format_value(wrong[0])}"]
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
        out.append(f"{p.column!r} is categorical; compare it with one of its categories, not "
                   f"{_format_value(flags[0])}")
    unseen = [v for v in values if isinstance(v, str) and known and v not in known]
    if unseen and not out:
        shown = ", ".join(repr(c) for c in spec.categories[:8])
        out.append(f"{p.column!r} has no category {unseen[0]!r}; known: {shown}")
    return out


def _empty_interval_problems(conj: Conjunction) -> list[str]:
    out = []
    for col, (lo, lo_open, hi, hi_open) in _intervals(conj).items():
        if lo > hi or (lo == hi and (lo_open or hi_open)):
            out.append(f"the conditions on {col!r} leave no possible value")
    return out


# --------------------------------------------------------------------------- overlap (DATE Definition 5)


def _intervals(conj: Conjunction) -> dict[str, tuple[float, bool, float, bool]]:
    """Per numeric column: (low, low_open, high, high_open) implied by comparisons."""
    out: dict[str, list] = {}
    for p in conj.predicates:
        if p.op not in ("<", "<=", ">", ">=", "between", "=="):
            continue
        values = p.value if p.op == "between" else (p.value,)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue
        lo, lo_open, hi, hi_open = out.get(p.column, [-math.inf, False, math.inf, False])
        if p.op in (">", ">=") or p.op in ("between", "=="):
            v = values[0]
            opn = p.op == ">"
            if v > lo or (v == lo and opn):
                lo, lo_open = v, opn
        if p.op in ("<", "<=") or p.op in ("between", "=="):
            v = values[-1]
            opn = p.op == "<"
            if v < hi or (v == hi and opn):
                hi, hi_open = v, opn
        out[p.column] = [lo, lo_open, hi, hi_open]
    return {k: tuple(v) for k, v in out.items()}


def _column_region(conj: Conjunction, col: str, spec) -> tuple[str, Any]:
    """Region of one column as ('num', (lo, hi)) in [0, 1] or ('cat', set) or ('all', None)."""
    preds = [p for p in conj.predicates if p.column == col and p.op != "is not missing"]
    if any(p.op == "is missing" for p in preds):
        return ("missing", None)
    if spec is not None and spec.is_numeric and spec.min is not None:
        lo, _, hi, _ = _intervals(Conjunction(tuple(preds))).get(col, (-math.inf, False, math.inf, False))
        span = (spec.max - spec.min) or 1.0
        a = min(max((lo - spec.min) / span, 0.0), 1.0)
        b = min(max((hi - spec.min) / span, 0.0), 1.0)
        return ("num", (a, max(a, b)))
    cats = set(spec.categories) if spec is not None and spec.categories else None
    region = set(cats) if cats is not None else None
    for p in preds:
        if p.op in ("in", "=="):
            vals = set(p.value) if p.op == "in" else {p.value}
            region = vals if region is None else region & vals
        elif p.op in ("not in", "!="):
            vals = set(p.value) if p.op == "not in" else {p.value}
            region = (region - vals) if region is not None else None
    return ("cat", region)


def _measure(kind: str, region, spec) -> float:
    if kind == "missing":
        return 0.0
    if kind == "num":
        a, b = region
        return b - a
    if region is None:
        return 1.0
    total = len(spec.categories) if spec is not None and spec.categories else max(len(region), 1)
    return len(region) / total


def _intersect(r1, r2) -> tuple[str, Any]:
    k1, a = r1
    k2, b = r2
    if "missing" in (k1, k2):
        return ("missing", None)
    if k1 == "num":
        lo, hi = max(a[0], b[0]), min(a[1], b[1])
        return ("num", (lo, max(lo, hi)))
    if a is None:
        return (k2, b)
    if b is None:
        return (k1, a)
    return ("cat", a & b)


def _box_volume(conj: Conjunction, columns, schema) -> float:
    vol = 1.0
    for col in columns:
        spec = schema[col] if schema is not None and col in schema else None
        kind, region = _column_region(conj, col, spec)
        vol *= _measure(kind, region, spec)
    return vol


def _box_intersection(c1: Conjunction, c2: Conjunction, columns, schema) -> float:
    vol = 1.0
    for col in columns:
        spec = schema[col] if schema is not None and col in schema else None
        kind, region = _intersect(_column_region(c1, col, spec), _column_region(c2, col, spec))
        vol *= _measure(kind, region, spec)
    return vol


def overlap(r1: Rule, r2: Rule, schema=None) -> float:
    """Interval overlap of two rules, in [0, 1] (DATE Definition 5).

    Each conjunction is a box: an interval per numeric column, normalised to
    the column's observed range from ``schema``, and a category set per
    categorical column; unconstrained columns span their whole domain. The
    overlap is the Jaccard index of the two regions under the uniform measure:
    ``vol(r1 ∩ r2) / vol(r1 ∪ r2)``, with the conjunctions of one rule taken
    as disjoint (true for rules made of tree paths). Identical rules give 1,
    disjoint ones 0. Computed from the predicates alone, no sampling.
    """
    columns = list(dict.fromkeys(r1.columns + r2.columns))
    if not columns:
        return 1.0
    v1 = sum(_box_volume(c, columns, schema) for c in r1.conjunctions)
    v2 = sum(_box_volume(c, columns, schema) for c in r2.conjunctions)
    inter = sum(_box_intersection(a, b, columns, schema) for a in r1.conjunctions for b in r2.conjunctions)
    union = v1 + v2 - inter
    if union <= 0:
        return 1.0 if set(r1.conjunctions) == set(r2.conjunctions) else 0.0
    return float(min(max(inter / union, 0.0), 1.0))


# --------------------------------------------------------------------------- text for people


def format_rule_lines(rule: Rule, *, max_values: int | None = 8, width: int = 80) -> str:
    """A rule laid out for reading: one AND-clause per line, ``OR`` on a line of its own.

    For display only; the canonical text (:func:`format_rule`, ``Rule.text``) is
    what is parsed, stored and exported.

    Parameters
    ----------
    rule : Rule
    max_values : int or None, default=8
        A set (``in`` / ``not in``) of more values shows its first ``max_values``
        and counts the rest: ``{'a', 'b', … 12 more}``. None shows every value;
        the text then parses back to the same rule.
    width : int, default=80
        An AND-clause longer than this continues on indented lines that start
        with ``AND`` (a single condition is never broken).

    Returns
    -------
    str
        Lines joined by ``\\n``.

    Examples
    --------
    >>> r = parse_rule("(age >= 40 AND job in {'a', 'b', 'c', 'd'}) OR hours < 20")
    >>> print(format_rule_lines(r, max_values=2))
    age >= 40 AND job in {'a', 'b', … 2 more}
    OR
    hours < 20
    >>> print(format_rule_lines(parse_rule("age >= 40 AND hours < 20 AND job == 'a'"), width=25))
    age >= 40 AND hours < 20
        AND job == 'a'
    """
    lines: list[str] = []
    for i, conj in enumerate(rule.conjunctions):
        if i:
            lines.append("OR")
        texts = [_readable_predicate(p, max_values) for p in conj.predicates] or ["TRUE"]
        line = texts[0]
        for text in texts[1:]:
            if len(line) + len(" AND ") + len(text) <= width:
                line += " AND " + text
            else:
                lines.append(line)
                line = "    AND " + text
        lines.append(line)
    return "\n".join(lines)


def format_rule_short(rule: Rule, *, max_chars: int = 100, max_values: int = 3) -> str:
    """A rule on one line of about ``max_chars`` characters, for a table cell or a list entry.

    Sets show their first ``max_values`` values and count the rest, as in
    :func:`format_rule_lines`. When the rule is still longer than ``max_chars``
    it is cut after the last OR-clause (or, inside the first clause, the last
    condition) that fits, and what was left out is counted: ``OR … 14 more``
    clauses, ``AND … 3 more`` conditions. The first condition is always shown
    whole. For display only; the canonical text is :func:`format_rule`.

    Examples
    --------
    >>> r = parse_rule("a > 1 OR (b < 2 AND c == 'x') OR d is missing OR e in {1, 2, 3, 4, 5}")
    >>> format_rule_short(r)
    "a > 1 OR (b < 2 AND c == 'x') OR d is missing OR e in {1, 2, 3, … 2 more}"
    >>> format_rule_short(r, max_chars=30)
    "a > 1 OR (b < 2 AND c == 'x') OR … 2 more"
    >>> format_rule_short(parse_rule("a > 1 AND b < 2 AND c == 'x'"), max_chars=12)
    'a > 1 AND … 2 more'
    """
    conjs = rule.conjunctions
    many = len(conjs) > 1
    clauses = []
    for conj in conjs:
        texts = [_readable_predicate(p, max_values) for p in conj.predicates] or ["TRUE"]
        clauses.append(texts)

    def clause_text(texts: list[str]) -> str:
        joined = " AND ".join(texts)
        return f"({joined})" if many and len(texts) > 1 else joined

    kept: list[str] = []
    for texts in clauses:
        candidate = " OR ".join(kept + [clause_text(texts)])
        if kept and len(candidate) > max_chars:
            break
        if not kept and len(candidate) > max_chars:  # the first clause alone is too long: cut inside it
            shown = [texts[0]]
            for text in texts[1:]:
                if len(" AND ".join(shown + [text])) > max_chars:
                    break
                shown.append(text)
            inner = " AND ".join(shown)
            if len(shown) < len(texts):
                inner += f" AND … {len(texts) - len(shown)} more"
            kept.append(f"({inner})" if many and len(texts) > 1 else inner)
            break
        kept.append(clause_text(texts))
    out = " OR ".join(kept)
    if len(kept) < len(clauses):
        out += f" OR … {len(clauses) - len(kept)} more"
    return out


def _readable_predicate(p: Predicate, max_values: int | None) -> str:
    """``p.to_text()``, with a set of more than ``max_values`` values cut to a count."""
    if p.op not in ("in", "not in") or max_values is None or len(p.value) <= max_values:
        return p.to_text()
    shown = ", ".join(_format_value(v) for v in p.value[:max(0, max_values)])
    rest = f"… {len(p.value) - max(0, max_values)} more"
    return f"{_format_column(p.column)} {p.op} {{{shown + ', ' if shown else ''}{rest}}}"
