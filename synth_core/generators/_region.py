"""Helpers shared by the rule-conditioned generators: a rule's rows and keeping rows inside it.

:func:`sample_inside` is how the offline generators (statistical, jitter, StructSynth, H-TDBU) keep
their rows inside a rule. A rule is an OR of clauses (conjunctions). Each clause gets a share of the
rows equal to its share of the rule's real rows (a row counts for the first clause it matches), and a
drawn row fills the quota of the first clause it matches. Rows are never clipped onto a clause's
bound: a clause still short after a few rounds repairs drawn rows by giving each cell that breaks the
clause the value of that column in a real row of the clause. So no value holds more of the rows than
the real rows give it (clipping a draw from one clause into another piled rows on the boundary value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import concat_rows
from ..rules import intervals as _intervals

__all__ = ["region_rows", "clip_to_rule", "keep_inside", "sample_inside", "clause_shares", "first_clause"]


def region_rows(train: pd.DataFrame, rule) -> pd.DataFrame:
    """Train rows the rule covers."""
    return train[rule.mask(train)]


def clip_to_rule(rows: pd.DataFrame, conjunction, schema) -> pd.DataFrame:
    """Clip numeric cells into the conjunction's intervals (open bounds nudged inside).

    Clipping moves every cell beyond a bound onto the bound; :func:`sample_inside` does not use it for
    that reason. It remains for constraints that are ranges by nature (H-TDBU's skeleton ranges).
    """
    out = rows.copy()
    for col, (lo, lo_open, hi, hi_open) in _intervals(conjunction).items():
        if col not in out:
            continue
        spec = schema[col] if col in schema else None
        step = 1 if spec is not None and spec.kind == "integer" else max(abs(hi - lo), 1.0) * 1e-9
        lo_v = lo + step if lo_open and np.isfinite(lo) else lo
        hi_v = hi - step if hi_open and np.isfinite(hi) else hi
        if lo_v <= hi_v:
            out[col] = pd.to_numeric(out[col], errors="coerce").clip(
                lower=lo_v if np.isfinite(lo_v) else None, upper=hi_v if np.isfinite(hi_v) else None
            )
    return out


def keep_inside(rows: pd.DataFrame, rule) -> pd.DataFrame:
    """Only the rows that satisfy the rule."""
    if len(rows) == 0:
        return rows
    return rows[rule.mask(rows)]


def first_clause(rule, frame: pd.DataFrame) -> np.ndarray:
    """Index of the first clause of ``rule`` each row matches (``-1``: none).

    >>> from synth_core.rules import parse_rule
    >>> first_clause(parse_rule("x < 2 OR x > 5 OR x == 1"), pd.DataFrame({"x": [1, 3, 9]})).tolist()
    [0, -1, 1]
    """
    out = np.full(len(frame), -1, dtype=np.int64)
    for j in range(len(rule.conjunctions) - 1, -1, -1):
        out[rule.conjunctions[j].mask(frame)] = j
    return out


def clause_shares(rule, real: pd.DataFrame | None) -> np.ndarray:
    """Each clause's share of the real rows the rule covers (a row counts for its first clause).

    Equal shares when no real row is given or none matches.

    >>> from synth_core.rules import parse_rule
    >>> clause_shares(parse_rule("x < 2 OR x > 5"), pd.DataFrame({"x": [0, 1, 1, 9, 4]})).tolist()
    [0.75, 0.25]
    """
    k = len(rule.conjunctions)
    if real is None or len(real) == 0:
        return np.full(k, 1.0 / k)
    first = first_clause(rule, real)
    counts = np.bincount(first[first >= 0], minlength=k).astype(float)
    return counts / counts.sum() if counts.sum() > 0 else np.full(k, 1.0 / k)


def _quotas(n: int, shares: np.ndarray) -> np.ndarray:
    """``n`` split by ``shares`` (largest remainder; a clause with no share gets nothing)."""
    raw = n * shares
    base = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - base), kind="stable")[: n - int(base.sum())]:
        base[i] += 1
    return base


def _repair(rows: pd.DataFrame, conj, donors: pd.DataFrame, rng) -> pd.DataFrame:
    """Rows made to satisfy ``conj``: each row takes, for the columns whose predicates it breaks, the values
    of one random donor row (a real row of the clause), so values come from the real rows, never a bound."""
    out = rows.reset_index(drop=True).copy()
    if not len(out) or not len(donors):
        return out.iloc[:0]
    pick = donors.iloc[rng.integers(len(donors), size=len(out))].reset_index(drop=True)
    for p in conj.predicates:
        if p.column not in out:
            continue
        bad = ~np.asarray(p.mask(out), dtype=bool)
        if bad.any():
            a, b = out[p.column].dtype, pick[p.column].dtype
            if a != b:  # a column that can hold both: float for two number types, else object
                numeric = all(
                    pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in (a, b)
                )
                out[p.column] = out[p.column].astype(float if numeric else object)
            out.loc[bad, p.column] = pick.loc[bad, p.column].to_numpy()
    return out


def sample_inside(
    draw, rule, n: int, schema, rng, *, real: pd.DataFrame | None = None, rounds: int = 4
) -> pd.DataFrame:
    """Up to ``n`` rows inside ``rule``, each clause in proportion to its real support.

    Parameters
    ----------
    draw : callable
        ``draw(k)`` proposes about ``k`` rows (a generator's own sampler over the rule's region).
    rule : Rule
    n : int
    schema : Schema
        Used only when no real row of a clause is known (then cells are clipped into the clause).
    rng : numpy.random.Generator
    real : DataFrame, optional
        The rule's real rows: they give each clause its share and the donor values of repairs.
    rounds : int
        Rounds of drawing before short clauses are filled by repair.
    """
    k = len(rule.conjunctions)
    quotas = _quotas(n, clause_shares(rule, real))
    kept: list[list[pd.DataFrame]] = [[] for _ in range(k)]
    spare: list[pd.DataFrame] = []
    have = np.zeros(k, dtype=int)
    for _ in range(rounds):
        want = int((quotas - have).clip(min=0).sum())
        if want <= 0:
            break
        rows = draw(want)
        if not len(rows):
            continue
        rows = rows.reset_index(drop=True)
        first = first_clause(rule, rows)
        for j in range(k):
            room = quotas[j] - have[j]
            if room <= 0:
                continue
            hit = rows[first == j].head(room)
            if len(hit):
                kept[j].append(hit)
                have[j] += len(hit)
        spare.append(rows[first < 0])
    short = quotas - have
    if (short > 0).any():
        pool = concat_rows(spare, ignore_index=True) if spare else pd.DataFrame()
        extra = [] if len(pool) >= int(short.sum()) else [draw(int(short.sum()) - len(pool))]
        pool = concat_rows([pool, *extra], ignore_index=True) if extra else pool
        real_first = first_clause(rule, real) if real is not None and len(real) else None
        at = 0
        for j in np.flatnonzero(short > 0):
            take = pool.iloc[at : at + int(short[j])]
            at += len(take)
            conj = rule.conjunctions[j]
            donors = real[real_first == j] if real_first is not None else pd.DataFrame()
            fixed = _repair(take, conj, donors, rng) if len(donors) else clip_to_rule(take, conj, schema)
            fixed = keep_inside(fixed, rule)
            if len(fixed):
                kept[j].append(fixed)
    parts = [p for clause in kept for p in clause if len(p)]
    if not parts:
        return draw(1).iloc[:0]
    out = concat_rows(parts, ignore_index=True).head(n)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)
