"""Helpers shared by the rule-conditioned generators: a rule's rows and keeping rows inside it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..rules import _intervals

__all__ = ["region_rows", "clip_to_rule", "keep_inside", "sample_inside"]


def region_rows(train: pd.DataFrame, rule) -> pd.DataFrame:
    """Train rows the rule covers."""
    return train[rule.mask(train)]


def clip_to_rule(rows: pd.DataFrame, conjunction, schema) -> pd.DataFrame:
    """Clip numeric cells into the conjunction's intervals (open bounds nudged inside)."""
    out = rows.copy()
    for col, (lo, lo_open, hi, hi_open) in _intervals(conjunction).items():
        if col not in out:
            continue
        spec = schema[col] if col in schema else None
        step = 1 if spec is not None and spec.kind == "integer" else max(abs(hi - lo), 1.0) * 1e-9
        lo_v = lo + step if lo_open and np.isfinite(lo) else lo
        hi_v = hi - step if hi_open and np.isfinite(hi) else hi
        if lo_v <= hi_v:
            out[col] = pd.to_numeric(out[col], errors="coerce").clip(lower=lo_v if np.isfinite(lo_v) else None,
                                                                      upper=hi_v if np.isfinite(hi_v) else None)
    return out


def keep_inside(rows: pd.DataFrame, rule) -> pd.DataFrame:
    """Only the rows that satisfy the rule."""
    if len(rows) == 0:
        return rows
    return rows[rule.mask(rows)]


def sample_inside(draw, rule, n: int, schema, rng, *, rounds: int = 4) -> pd.DataFrame:
    """Up to ``n`` rows inside ``rule``: ``draw(k)`` proposes k rows, which are clipped into one of
    the rule's conjunctions and kept when they satisfy the rule; a few rounds of rejection sampling."""
    kept, want = [], n
    for _ in range(rounds):
        conj = rule.conjunctions[rng.integers(len(rule.conjunctions))]
        kept.append(keep_inside(clip_to_rule(draw(want), conj, schema), rule))
        want = n - sum(len(k) for k in kept)
        if want <= 0:
            break
    return pd.concat(kept, ignore_index=True).head(n)
