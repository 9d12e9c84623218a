"""Jitter: resample real rows inside a rule's region and perturb them.

Numeric cells move by ``noise`` times the region's standard deviation (integers
rounded, clipped to the region's observed range), a ``swap`` share of
categorical cells take another value seen in the region, and every row stays
inside its rule. The target is copied from the source row; pair it with the
``relabel`` label step (the default), which replaces it with the teacher's.
The fastest offline generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import Interval
from ._region import region_rows, sample_inside
from .base import Generator

__all__ = ["JitterGenerator"]


class JitterGenerator(Generator):
    """Perturbed copies of real rows, rule by rule.

    Parameters
    ----------
    noise : float
        Numeric noise as a fraction of the region's standard deviation (>= 0).
    swap : float
        Share of categorical feature cells replaced by another value from the region, in [0, 1].
    iterations : int
        Batches per rule (each batch becomes one MDS arm), at least 1.
    random_state : int or None
    """

    name = "jitter"
    _parameter_constraints = {
        "noise": [Interval(float, 0, None)],
        "swap": [Interval(float, 0, 1)],
        "iterations": [Interval(int, 1, None)],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(self, *, noise: float = 0.1, swap: float = 0.1, iterations: int = 2, random_state=None):
        self.noise = noise
        self.swap = swap
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self):
        """Keep the train rows of every approved rule's region."""
        schema = self.dataset_.schema
        self.numeric_ = [c for c in self.dataset_.features if schema[c].is_numeric]
        self.categorical_ = [c for c in self.dataset_.features if not schema[c].is_numeric]
        self.regions_ = {
            r.id: region_rows(self.train_, r)[self.columns_].reset_index(drop=True) for r in self.rules_
        }

    def _generate_rule(self, rule, n, iteration, rng):
        region = self.regions_[rule.id]
        if len(region) == 0:
            return pd.DataFrame(columns=self.columns_)
        return sample_inside(
            lambda k: self._jitter(region, max(k * 2, 4), rng),
            rule,
            n,
            self.dataset_.schema,
            rng,
            real=region,
        )

    def _jitter(self, region: pd.DataFrame, n: int, rng) -> pd.DataFrame:
        rows = region.iloc[rng.integers(len(region), size=n)].reset_index(drop=True).copy()
        schema = self.dataset_.schema
        for col in self.numeric_:
            x = pd.to_numeric(region[col], errors="coerce")
            sd = float(x.std()) if x.notna().sum() > 1 else 0.0
            if not sd > 0:
                continue
            values = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float)
            values = values + rng.normal(0, self.noise * sd, size=n)
            values = np.clip(values, x.min(), x.max())
            if schema[col].kind == "integer":
                values = np.round(values)
            rows[col] = values
        for col in self.categorical_:
            pool = region[col].dropna().to_numpy(dtype=object)
            if len(pool) == 0:
                continue
            hit = rng.random(n) < self.swap
            if hit.any():
                # a bool or category column cannot take object values in place (pandas 2.x)
                rows[col] = rows[col].astype(object)
                rows.loc[hit, col] = pool[rng.integers(len(pool), size=int(hit.sum()))]
        return rows
