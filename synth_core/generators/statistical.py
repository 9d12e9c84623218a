"""A rule-conditioned statistical generator that needs no LLM.

Per approved rule, a Gaussian copula is fitted to the rule's train rows:
numeric cells through their empirical quantiles, categorical cells (and a
categorical target) through the cumulative frequency of their categories, as
SDV's GaussianCopula does, so the dependence between all columns is kept.
Missing cells are drawn at the region's missing rate. Only rows that satisfy
the rule are kept, each clause of an OR rule in proportion to its real rows
(:func:`~synth_core.generators._region.sample_inside`), and every row is
checked against its rule again once cast to the table's types. It is fast and deterministic for a seed:
the offline preview and the baseline next to every LLM generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._validation import Interval
from ._region import region_rows, sample_inside
from .base import Generator

__all__ = ["StatisticalGenerator", "GaussianCopula"]


class GaussianCopula:
    """Gaussian copula over mixed columns with empirical marginals."""

    def __init__(self, schema, columns):
        self.schema = schema
        self.columns = list(columns)

    def fit(self, frame: pd.DataFrame) -> GaussianCopula:
        self.n_ = len(frame)
        self.marginals_, z_cols = {}, []
        for col in self.columns:
            s = frame[col]
            spec = self.schema[col] if col in self.schema else None
            present = s.dropna()
            self.marginals_[col] = m = {"missing": float(s.isna().mean())}
            if spec is not None and spec.is_numeric and len(present):
                values = np.sort(pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=float))
                m.update(kind="num", values=values, integer=spec.kind == "integer")
                ranks = stats.rankdata(pd.to_numeric(s, errors="coerce").fillna(np.median(values)))
                u = ranks / (len(s) + 1)
            else:
                counts = present.astype(object).value_counts(normalize=True, sort=True)
                cats = counts.index.tolist() or [np.nan]
                probs = counts.to_numpy() if len(counts) else np.array([1.0])
                cum = np.concatenate([[0.0], np.cumsum(probs)])
                m.update(kind="cat", cats=cats, cum=cum)
                idx = {c: i for i, c in enumerate(cats)}
                codes = s.astype(object).map(idx).fillna(0).astype(int).to_numpy()
                u = (cum[codes] + cum[codes + 1]) / 2
            z_cols.append(stats.norm.ppf(np.clip(u, 1e-6, 1 - 1e-6)))
        z = np.column_stack(z_cols) if z_cols else np.zeros((len(frame), 0))
        cov = np.cov(z, rowvar=False) if len(frame) > 1 else np.eye(z.shape[1])
        cov = np.atleast_2d(np.nan_to_num(cov))
        self.cov_ = cov + np.eye(cov.shape[0]) * 1e-6
        return self

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        k = len(self.columns)
        z = rng.multivariate_normal(np.zeros(k), self.cov_, size=n, method="eigh") if k else np.zeros((n, 0))
        u = stats.norm.cdf(z)
        out = {}
        for j, col in enumerate(self.columns):
            m = self.marginals_[col]
            if m["kind"] == "num":
                vals = np.quantile(m["values"], u[:, j], method="linear")
                if m["integer"]:
                    vals = np.round(vals)
                col_values = pd.Series(vals)
            else:
                idx = np.clip(np.searchsorted(m["cum"], u[:, j], side="right") - 1, 0, len(m["cats"]) - 1)
                col_values = pd.Series(np.asarray(m["cats"], dtype=object)[idx], dtype=object)
            if m["missing"] > 0:
                col_values[rng.random(n) < m["missing"]] = np.nan
            out[col] = col_values
        return pd.DataFrame(out)


class StatisticalGenerator(Generator):
    """Gaussian copula per approved rule; rows outside the rule are never returned.

    Parameters
    ----------
    iterations : int
        Batches per rule (each batch becomes one MDS arm), at least 1.
    oversample : float
        Rows drawn per requested row in each rejection round (> 0).
    random_state : int or None
    """

    name = "statistical"
    _parameter_constraints = {
        "iterations": [Interval(int, 1, None)],
        "oversample": [Interval(float, 0, None, closed="neither")],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(self, *, iterations: int = 2, oversample: float = 2.0, random_state=None):
        self.iterations = iterations
        self.oversample = oversample
        self.random_state = random_state

    def _fit(self):
        """Fit one copula per approved rule on the rule's train rows."""
        self.copulas_, self.regions_ = {}, {}
        for rule in self.rules_:
            rows = region_rows(self.train_, rule)
            self.regions_[rule.id] = rows
            if len(rows) >= 2:
                self.copulas_[rule.id] = GaussianCopula(self.dataset_.schema, self.columns_).fit(rows)

    def _generate_rule(self, rule, n, iteration, rng):
        copula = self.copulas_.get(rule.id)
        if copula is None:
            return pd.DataFrame(columns=self.columns_)
        return sample_inside(
            lambda k: copula.sample(max(int(k * self.oversample), 8), rng),
            rule,
            n,
            self.dataset_.schema,
            rng,
            real=self.regions_[rule.id],
        )
