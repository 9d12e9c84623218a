"""Rule geometry: the intervals a conjunction implies, and the overlap of two rules (DATE Definition 5).

:func:`intervals` reads, per numeric column, the interval a conjunction's
comparisons leave (the generators keep rows inside it; validation finds empty
ones). :func:`overlap` is the Jaccard index of two rules' regions, computed
from their predicates, never by sampling.
"""

from __future__ import annotations

import math
from typing import Any

from .model import Conjunction, Rule

__all__ = ["intervals", "overlap"]


def intervals(conj: Conjunction) -> dict[str, tuple[float, bool, float, bool]]:
    """Per numeric column: ``(low, low_open, high, high_open)`` implied by the conjunction's comparisons.

    ``<``, ``<=``, ``>``, ``>=``, ``between`` and ``==`` with numbers count (the
    tightest bound wins; at equal bounds the open one); other conditions and
    non-numeric values are left out, and so are columns with none. A side with
    no bound is ``-inf`` / ``inf``. An empty interval (``low > high``, or
    ``low == high`` with an open side) is returned as it is.

    Examples
    --------
    >>> from synth_core.rules import parse_conjunction
    >>> intervals(parse_conjunction("age > 40 AND age <= 65 AND job == 'a' AND hours between 1 and 20"))
    {'age': (40, True, 65, False), 'hours': (1, False, 20, False)}
    >>> intervals(parse_conjunction("x < 3"))
    {'x': (-inf, False, 3, True)}
    """
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
        lo, _, hi, _ = intervals(Conjunction(tuple(preds))).get(col, (-math.inf, False, math.inf, False))
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
