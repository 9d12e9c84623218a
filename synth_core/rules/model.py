"""The rule model: :class:`Predicate`, :class:`Conjunction` and :class:`Rule` (DNF), and its canonical text.

A :class:`Predicate` is one condition on one column, a :class:`Conjunction`
joins predicates by AND, a :class:`Rule` joins conjunctions by OR and carries
the facts DATE attaches to it (origin, status, error, support, tree paths).
All three are frozen value objects: equal when their conditions are equal,
hashable, with vectorised ``mask(frame)``. :func:`format_rule` writes the
canonical text that :func:`~.parser.parse_rule` reads back.

JSON goes through :mod:`.serialize` (``from_dict`` / ``from_list`` import it
when called, since it builds these classes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RuleError
from .values import (
    canonical_value,
    compare_mask,
    describe,
    finite_or_none,
    format_column,
    format_value,
    isin_mask,
)

__all__ = [
    "Predicate",
    "Conjunction",
    "Rule",
    "format_rule",
    "COMPARISONS",
    "OPERATORS",
    "ORIGINS",
    "STATUSES",
]

#: Operators of a condition; ``ORIGINS`` and ``STATUSES`` are the values a Rule's fields may take.
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
OPERATORS = COMPARISONS + ("in", "not in", "between", "is missing", "is not missing")
ORIGINS = ("discovered", "llm", "person", "refined")
STATUSES = ("proposed", "approved", "rejected")


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
            raise RuleError(f"a condition needs a column name (non-empty text), not {describe(self.column)}")
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise RuleError(f"unknown operator {describe(self.op)}; use one of {', '.join(OPERATORS)}")
        object.__setattr__(self, "value", canonical_value(self.op, self.value))

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array: rows of ``frame`` that satisfy this predicate."""
        s = frame[self.column]
        present = s.notna().to_numpy()
        if self.op == "is missing":
            return ~present
        if self.op == "is not missing":
            return present
        if self.op in ("in", "not in"):
            hit = isin_mask(s, self.value)
            return (hit if self.op == "in" else ~hit) & present
        if self.op == "between":
            lo, hi = self.value
            return compare_mask(s, ">=", lo) & compare_mask(s, "<=", hi) & present
        return compare_mask(s, self.op, self.value) & present

    def to_text(self) -> str:
        col = format_column(self.column)
        if self.op in ("is missing", "is not missing"):
            return f"{col} {self.op}"
        if self.op in ("in", "not in"):
            return f"{col} {self.op} {{{', '.join(format_value(v) for v in self.value)}}}"
        if self.op == "between":
            return f"{col} between {format_value(self.value[0])} and {format_value(self.value[1])}"
        return f"{col} {self.op} {format_value(self.value)}"

    def to_dict(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": value}

    @classmethod
    def from_dict(cls, d: dict) -> Predicate:
        """Read what :meth:`to_dict` wrote; a wrong field raises RuleError naming it."""
        from .serialize import predicate_from_json

        return predicate_from_json(d, "condition")


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

    def and_(self, other: Conjunction | Predicate) -> Conjunction:
        extra = (other,) if isinstance(other, Predicate) else other.predicates
        return Conjunction(self.predicates + extra)

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.predicates]

    @classmethod
    def from_list(cls, items: list[dict]) -> Conjunction:
        """Read what :meth:`to_list` wrote; a wrong field raises RuleError naming it."""
        from .serialize import conjunction_from_json

        return conjunction_from_json(items, "conjunction")


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

    def with_(self, **changes) -> Rule:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "conjunctions": [c.to_list() for c in self.conjunctions],
            "origin": self.origin,
            "status": self.status,
            "error": finite_or_none(self.error),
            "support": self.support,
            "paths": [c.to_list() for c in self.paths],
            "model_id": self.model_id,
            "ind": finite_or_none(self.ind),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Rule:
        """Read what :meth:`to_dict` wrote (or ``{"text": ...}``); every field is type-checked.

        Raises
        ------
        RuleError
            Naming the first wrong field, e.g. ``conjunctions[0][1].op``.
        """
        from .serialize import rule_from_dict

        return rule_from_dict(d, cls)


def format_rule(rule: Rule) -> str:
    """Canonical text of a rule: ``parse_rule(format_rule(r))`` equals ``r``'s conjunctions."""
    conjs = rule.conjunctions
    if len(conjs) == 1:
        return conjs[0].to_text()
    return " OR ".join(f"({c.to_text()})" if len(c.predicates) > 1 else c.to_text() for c in conjs)
