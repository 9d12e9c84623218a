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
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .errors import RuleSyntaxError, RuleValidationError

__all__ = [
    "Predicate",
    "Conjunction",
    "Rule",
    "parse_rule",
    "format_rule",
    "parse_conjunction",
    "validate_rule",
    "rules_to_json",
    "rules_from_json",
    "overlap",
    "OPERATORS",
]

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
OPERATORS = COMPARISONS + ("in", "not in", "between", "is missing", "is not missing")
ORIGINS = ("discovered", "llm", "person", "refined")
STATUSES = ("proposed", "approved", "rejected")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WS = frozenset(" \t\r\n")
_KEYWORDS = {"and", "or", "in", "not", "between", "is", "missing", "true", "false"}


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class Predicate:
    """One condition on one column.

    ``value`` is a number or string for comparisons, a tuple for ``in`` /
    ``not in`` (kept sorted, duplicates removed), a ``(low, high)`` pair for
    ``between`` and ``None`` for ``is missing``.
    """

    column: str
    op: str
    value: Any = None

    def __post_init__(self):
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}; use one of {', '.join(OPERATORS)}")
        if self.op in ("in", "not in"):
            object.__setattr__(self, "value", _canonical_set(self.value))
        elif self.op == "between":
            lo, hi = self.value
            object.__setattr__(self, "value", (_canonical_scalar(lo), _canonical_scalar(hi)))
        elif self.op in ("is missing", "is not missing"):
            object.__setattr__(self, "value", None)
        else:
            object.__setattr__(self, "value", _canonical_scalar(self.value))

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
        return cls(d["column"], d["op"], d.get("value"))


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
        return cls(tuple(Predicate.from_dict(d) for d in items))


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
            "error": self.error,
            "support": self.support,
            "paths": [c.to_list() for c in self.paths],
            "model_id": self.model_id,
            "ind": self.ind,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Rule":
        if "conjunctions" in d:
            conjs = tuple(Conjunction.from_list(c) for c in d["conjunctions"])
        else:
            conjs = parse_rule(d["text"]).conjunctions
        return cls(
            conjunctions=conjs,
            id=d.get("id", ""),
            origin=d.get("origin", "person"),
            status=d.get("status", "proposed"),
            error=d.get("error"),
            support=d.get("support"),
            paths=tuple(Conjunction.from_list(c) for c in d.get("paths", [])),
            model_id=d.get("model_id"),
            ind=d.get("ind"),
            note=d.get("note", ""),
        )


# --------------------------------------------------------------------------- values


def _canonical_scalar(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool) or isinstance(v, str) or v is None:
        return v
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v
    raise ValueError(f"rule values must be numbers, strings or booleans, not {type(v).__name__}")


def _sort_key(v):
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _canonical_set(values) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = (values,)
    return tuple(sorted({_canonical_scalar(v) for v in values}, key=_sort_key))


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

    Raises
    ------
    RuleSyntaxError
        At the first syntax error, with the position and what was expected.

    Examples
    --------
    >>> format_rule(parse_rule("hours<20 or (AGE >= 40 and b in {'y','x'})"))
    "hours < 20 OR (AGE >= 40 AND b in {'x', 'y'})"
    """
    if not isinstance(text, str):
        raise RuleSyntaxError(str(text), 0, "rule text")
    pos = _skip_ws(text, 0)
    if pos == len(text):
        raise RuleSyntaxError(text, pos, "a condition such as `age >= 40`")
    pos, dnf = _parse_disjunction(text, pos)
    pos = _skip_ws(text, pos)
    if pos != len(text):
        raise RuleSyntaxError(text, pos, "AND, OR or the end of the rule")
    return Rule(conjunctions=_simplify(dnf), **attrs)


def parse_conjunction(text: str) -> Conjunction:
    """Parse text that must be a single conjunction (for tree paths)."""
    rule = parse_rule(text)
    if len(rule.conjunctions) != 1:
        raise RuleSyntaxError(text, 0, "a single conjunction without OR")
    return rule.conjunctions[0]


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


def _parse_disjunction(text: str, pos: int) -> tuple[int, list[list[Predicate]]]:
    pos, dnf = _parse_conjunction(text, pos)
    while (after := _keyword(text, pos, "or")) is not None:
        pos, more = _parse_conjunction(text, after)
        dnf = dnf + more
    return pos, dnf


def _parse_conjunction(text: str, pos: int) -> tuple[int, list[list[Predicate]]]:
    pos, dnf = _parse_term(text, pos)
    while (after := _keyword(text, pos, "and")) is not None:
        pos, more = _parse_term(text, after)
        dnf = [a + b for a, b in product(dnf, more)]  # distribute AND over OR
    return pos, dnf


def _parse_term(text: str, pos: int) -> tuple[int, list[list[Predicate]]]:
    pos = _skip_ws(text, pos)
    if text.startswith("(", pos):
        pos, dnf = _parse_disjunction(text, pos + 1)
        pos = _expect(text, pos, ")", "')' to close the '('")
        return pos, dnf
    if (after := _keyword(text, pos, "true")) is not None:
        return after, [[]]
    pos, pred = _parse_predicate(text, pos)
    return pos, [[pred]]


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
        pos, values = _parse_set(text, after_in)
        return pos, Predicate(column, "not in", values)
    if (after := _keyword(text, pos, "in")) is not None:
        pos, values = _parse_set(text, after)
        return pos, Predicate(column, "in", values)
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
    m = _NUMBER.match(text, pos)
    if m:
        end = m.end()
        if end < len(text) and (text[end].isalpha() or text[end] == "_"):
            raise RuleSyntaxError(text, pos, "a number, a quoted string, true or false")
        raw = m.group()
        num = float(raw)
        if not math.isfinite(num):
            raise RuleSyntaxError(text, pos, "a finite number")
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

    Raises
    ------
    RuleValidationError
        For a document that is not rule JSON; each problem names the rule.
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuleValidationError([f"the rules file is not JSON ({exc})"]) from exc
    items = doc.get("rules") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise RuleValidationError(['expected {"rules": [...]} or a list of rules'])
    rules, problems = [], []
    for i, item in enumerate(items):
        try:
            rules.append(parse_rule(item) if isinstance(item, str) else Rule.from_dict(item))
        except RuleSyntaxError as exc:
            problems.append(f"rule {i + 1}: {exc}")
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"rule {i + 1}: not a rule ({exc})")
    if problems:
        raise RuleValidationError(problems)
    return rules


# --------------------------------------------------------------------------- validation


def validate_rule(rule: Rule, schema) -> Rule:
    """Check a rule against a Schema; every problem found is reported at once.

    Unknown columns, the target used in a rule, numbers compared with text,
    ordering comparisons on categories, unseen categories and empty intervals
    are problems. Returns the rule unchanged when it is fine.
    """
    problems = []
    for conj in rule.conjunctions:
        for p in conj.predicates:
            problems.extend(_predicate_problems(p, schema))
        problems.extend(_empty_interval_problems(conj))
    if problems:
        raise RuleValidationError(list(dict.fromkeys(problems)))
    return rule


def _predicate_problems(p: Predicate, schema) -> list[str]:
    if p.column not in schema:
        close = [n for n in schema.names if n.lower() == p.column.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [f"unknown column {p.column!r}{hint}"]
    spec = schema[p.column]
    if spec.role == "target":
        return [f"{p.column!r} is the target; rules describe feature values only"]
    if p.op in ("is missing", "is not missing"):
        return []
    values = p.value if p.op in ("in", "not in", "between") else (p.value,)
    out = []
    if spec.is_numeric:
        texts = [v for v in values if isinstance(v, str)]
        if texts:
            out.append(f"{p.column!r} is {spec.kind}; compare it with numbers, not {texts[0]!r}")
    elif spec.kind == "boolean":
        if p.op not in ("==", "!=", "in", "not in"):
            out.append(f"{p.column!r} is boolean; use == true / == false")
    elif spec.is_categorical:
        if p.op in ("<", "<=", ">", ">=", "between"):
            out.append(f"{p.column!r} is categorical; use ==, !=, in or not in instead of {p.op}")
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        known = {str(c) for c in spec.categories}
        if numbers and not all(str(v) in known for v in numbers):
            out.append(f"{p.column!r} is categorical; compare it with one of its categories, not {numbers[0]!r}")
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
