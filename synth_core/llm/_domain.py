"""What values each column may take for one conjunction of a rule, and how values are written.

Shared by the GBNF grammars, the JSON schemas and the row parser, so the three
agree on every value's text form:

- strings are JSON string literals (``"Private"``): quoted data, with quotes,
  backslashes and newlines escaped, so a cell can never start a new prompt
  line or read as an instruction;
- integers are plain digits, numbers have exactly the column's decimals;
- booleans are ``true`` / ``false``; a missing cell is empty (CSV) or ``null`` (JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Domain", "conjunction_domains", "encode_value", "generated_columns", "MISSING"]

MISSING = None
#: integer columns with at most this many allowed values get an alternation of every value
SMALL_RANGE = 300
_MAX_DECIMALS = 6


@dataclass(frozen=True)
class Domain:
    """Allowed values of one column under one conjunction.

    Attributes
    ----------
    column : str
    kind : {'cat', 'int', 'num', 'text'}
    values : tuple
        Allowed values for 'cat' (categories narrowed by the rule) and for
        numbers restricted to a set by ``==`` / ``in``; empty otherwise.
    lo, hi : float
        Inclusive bounds for 'int' / 'num' (observed range narrowed by the rule),
        already moved inward for strict ``<`` / ``>`` at the column's resolution.
    decimals : int
        Digits after the point for 'num'.
    allow_missing : bool
        An empty cell is allowed (the column has missing cells and the rule says nothing of it).
    only_missing : bool
        The rule says ``is missing``.
    """

    column: str
    kind: str
    values: tuple = ()
    lo: float = -math.inf
    hi: float = math.inf
    decimals: int = 0
    allow_missing: bool = False
    only_missing: bool = False

    @property
    def n_values(self) -> float:
        """How many distinct values the domain allows (inf for text)."""
        if self.only_missing:
            return 1
        if self.values or self.kind == "cat":
            return len(self.values)
        if self.kind in ("int", "num"):
            scale = 10**self.decimals
            return max(0, math.floor(round(self.hi * scale, 6)) - math.ceil(round(self.lo * scale, 6)) + 1)
        return math.inf

    def literals(self) -> list[str]:
        """Text forms of every allowed value (for 'cat', number sets and small integer ranges)."""
        if self.values:
            return [encode_value(v, self.decimals) for v in self.values]
        if self.kind == "int":
            return [str(v) for v in range(int(self.lo), int(self.hi) + 1)]
        raise ValueError(f"{self.column!r} has no finite list of values")


def generated_columns(schema, target: str | None = None) -> list[str]:
    """Columns the LLM writes: features and the target, in schema order (ignored columns are left out)."""
    return [c.name for c in schema.columns if c.role != "ignore" or c.name == target]


def encode_value(v, decimals: int = 0) -> str:
    """Text form of one cell (see the module docstring).

    Examples
    --------
    >>> encode_value("a\\"b"), encode_value(3.14159, 2), encode_value(7), encode_value(None)
    ('"a\\\\"b"', '3.14', '7', '')
    >>> encode_value(True)
    'true'
    """
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is np.nan:
        return ""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if decimals <= 0:
            if v.is_integer():
                return str(int(v))
            return repr(v)
        text = f"{v:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover
        pass
    return json.dumps(str(v), ensure_ascii=False)


def _base_domain(spec, is_target: bool) -> Domain:
    kind = spec.kind
    allow_missing = spec.missing_rate > 0 and not is_target
    if kind in ("categorical", "boolean"):
        return Domain(spec.name, "cat", values=tuple(spec.categories), allow_missing=allow_missing)
    if kind in ("integer", "numeric") and spec.min is not None and spec.max is not None:
        decimals = 0 if kind == "integer" else min(max(int(spec.decimals), 0), _MAX_DECIMALS)
        return Domain(
            spec.name,
            "int" if decimals == 0 and kind == "integer" else "num",
            lo=float(spec.min),
            hi=float(spec.max),
            decimals=decimals,
            allow_missing=allow_missing,
        )
    return Domain(spec.name, "text", allow_missing=allow_missing)


def _round_in(lo: float, lo_open: bool, hi: float, hi_open: bool, decimals: int) -> tuple[float, float]:
    """Bounds on the grid of ``decimals``: strict bounds move one step inward."""
    scale = 10**decimals
    a, b = float(round(lo * scale, 6)), float(round(hi * scale, 6))
    a_int = math.floor(a) + 1 if (a.is_integer() and lo_open) else math.ceil(a)
    b_int = math.ceil(b) - 1 if (b.is_integer() and hi_open) else math.floor(b)
    return a_int / scale, b_int / scale


def _narrow(dom: Domain, preds) -> Domain | None:
    """Apply one conjunction's predicates on this column; ``None`` if nothing is left."""
    from dataclasses import replace

    if any(p.op == "is missing" for p in preds):
        return replace(dom, only_missing=True, allow_missing=True, values=())
    dom = replace(dom, allow_missing=False) if preds else dom
    if dom.kind == "cat":
        values = list(dom.values)
        for p in preds:
            if p.op in ("==", "in"):
                wanted = (p.value,) if p.op == "==" else p.value
                keys = {_key(w) for w in wanted}
                values = [v for v in values if _key(v) in keys]
            elif p.op in ("!=", "not in"):
                unwanted = (p.value,) if p.op == "!=" else p.value
                keys = {_key(w) for w in unwanted}
                values = [v for v in values if _key(v) not in keys]
        return replace(dom, values=tuple(values)) if values else None
    if dom.kind in ("int", "num"):
        lo, lo_open, hi, hi_open = dom.lo, False, dom.hi, False
        allowed = None
        for p in preds:
            vals = p.value if p.op == "between" else (p.value,)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (vals or ())):
                continue
            if p.op in (">", ">=", "between", "=="):
                v = vals[0]
                if v > lo or (v == lo and p.op == ">"):
                    lo, lo_open = v, p.op == ">"
            if p.op in ("<", "<=", "between", "=="):
                v = vals[-1]
                if v < hi or (v == hi and p.op == "<"):
                    hi, hi_open = v, p.op == "<"
            if p.op in ("in", "=="):
                s = set(p.value) if p.op == "in" else {p.value}
                allowed = s if allowed is None else allowed & s
        a, b = _round_in(lo, lo_open, hi, hi_open, dom.decimals)
        if a > b:
            return None
        if allowed is not None:
            excluded = {
                v
                for p in preds
                if p.op in ("!=", "not in")
                for v in ((p.value,) if p.op == "!=" else p.value)
            }
            vals = tuple(sorted(v for v in allowed if a <= v <= b and v not in excluded))
            return replace(dom, values=vals, lo=a, hi=b) if vals else None
        return replace(dom, lo=a, hi=b)
    return dom


def _key(v):
    if isinstance(v, np.generic):
        v = v.item()
    return str(v).lower() if isinstance(v, bool) else str(v)


def conjunction_domains(schema, columns, conjunction, target: str | None) -> dict[str, Domain] | None:
    """One :class:`Domain` per column for rows that must satisfy ``conjunction``.

    Returns ``None`` when the conjunction leaves some column no value inside
    its observed range (such a conjunction cannot produce a valid row).
    """
    out = {}
    for col in columns:
        spec = schema[col]
        dom = _base_domain(spec, col == target)
        preds = [p for p in (conjunction.predicates if conjunction is not None else ()) if p.column == col]
        dom = _narrow(dom, preds)
        if dom is None:
            return None
        out[col] = dom
    return out
