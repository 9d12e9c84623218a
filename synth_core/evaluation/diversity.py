"""Diversity: how varied the selected rules and the synthetic rows are.

- :class:`RuleDiversity` — DATE's Definition 5 on the rules behind the selected
  rows. For a rule ``r_k`` and a reference set ``E`` of rules ``r_j`` with
  training rows ``T_j``::

      div(r_k | E) = sum_j w_j * Overlap(r_k, r_j),   w_j = |T_j| / sum_l |T_l|

  where ``Overlap`` is the interval-overlap Jaccard index of
  :func:`synth_core.rules.overlap`. ``E`` is ``reference_rules`` when given
  (DATE's original example set), otherwise the other selected rules. The score
  is the mean of ``div`` over the selected rules, weighted by the synthetic
  rows each contributed. As in DATE it is a similarity: high means the selected
  rules re-cover the same regions, low that they reach distinct ones;
  ``distinctness`` is ``1 - score``. Its goal is therefore ``ignore``: MDS uses
  it as a reward, a person reading a report may want it low.
- :class:`RowCoverage` — real rows are cut into ``n_cells`` k-means cells (in
  the shared :class:`~synth_core.encoding.RowEncoder` space, fixed
  seed); the score is the share of cells that hold at least one synthetic row,
  and ``mass_covered`` the share of real rows in those cells.

Why not SDMetrics': it has no measure over rules (Definition 5 is DATE's), and
its coverage metrics (``RangeCoverage``, ``CategoryCoverage``, the Coverage
property) look at one column at a time, so rows that cover every column's range
while missing whole regions of the joint space score full marks; row coverage
looks at the rows as points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from ..encoding import RowEncoder
from ..errors import DataError
from ..rules import Rule, overlap
from .compliance import real_support, rule_label
from .fidelity import RULE_COLUMNS, Goal, Metric, check_rows, find_column, resolve_columns

__all__ = ["RowCoverage", "RuleDiversity", "rule_diversity"]


def rule_diversity(rule: Rule, reference: Sequence[Rule], weights: Sequence[float], schema=None) -> float:
    """DATE Definition 5: ``sum_j w_j * overlap(rule, reference_j)`` with ``w`` normalised to sum 1.

    ``schema`` gives numeric columns their observed range; without it
    :func:`~synth_core.rules.overlap` cannot measure intervals.

    Examples
    --------
    >>> import pandas as pd
    >>> from synth_core.data import infer_schema
    >>> from synth_core.rules import parse_rule
    >>> schema = infer_schema(pd.DataFrame({"x": [0.0, 2.5, 10.0]}))
    >>> a, b = parse_rule("x < 5"), parse_rule("x >= 5")
    >>> rule_diversity(a, [a, b], [3, 1], schema)
    0.75
    """
    w = np.asarray(weights, dtype=float)
    if len(reference) == 0 or w.sum() <= 0:
        raise DataError("diversity needs at least one reference rule with positive weight.")
    w = w / w.sum()
    return float(sum(wj * overlap(rule, rj, schema) for wj, rj in zip(w, reference, strict=True)))


def _weight(rule: Rule, real: pd.DataFrame | None) -> float:
    support, _ = real_support(rule, real)
    return float(support) if support else 1.0


class RuleDiversity(Metric):
    """Mean DATE diversity (Definition 5) of the rules behind the selected synthetic rows.

    ``compute_breakdown(real, synthetic, *, schema, rules, reference_rules=None,
    rule_column=None)``: the selected rules are those whose id appears in
    ``synthetic[rule_column]`` (default ``_rule_id`` or ``rule_id``; all ``rules`` when
    there is no such column).
    Breakdown: ``score``, ``distinctness``, ``by_rule`` (``div`` and synthetic
    ``rows`` per selected rule), ``overlap`` (pairwise matrix of the selected
    rules, as a dict of dicts) and ``reference`` (``"others"`` or
    ``"given"``).
    """

    name = "rule_diversity"
    goal = Goal.IGNORE
    min_value, max_value = 0.0, 1.0
    options = ("rules", "reference_rules", "rule_column")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        rules: Sequence[Rule] | None = None,
        reference_rules: Sequence[Rule] | None = None,
        rule_column: str | None = None,
    ) -> dict:
        if not rules:
            raise DataError("rule diversity needs the rules behind the rows; none were given.")
        if schema is None and real is not None and len(real):
            schema, _, _ = resolve_columns(real, real, None)
        labels = [rule_label(r, i) for i, r in enumerate(rules)]
        rule_column = find_column(synthetic, RULE_COLUMNS, rule_column) if synthetic is not None else None
        if synthetic is not None and rule_column is not None and rule_column in synthetic.columns:
            counts = synthetic[rule_column].dropna().astype(str).value_counts()
            selected = [
                (lab, r, int(counts.get(lab, 0)))
                for lab, r in zip(labels, rules, strict=True)
                if lab in counts
            ]
        else:
            selected = [(lab, r, 1) for lab, r in zip(labels, rules, strict=True)]
        if not selected:
            raise DataError(
                f"none of the {len(rules)} rules has synthetic rows in the selection "
                f"(column {rule_column!r})."
            )
        by_rule: dict[str, dict] = {}
        if reference_rules:
            ref = list(reference_rules)
            ref_w = [_weight(r, real) for r in ref]
            for lab, r, n in selected:
                by_rule[lab] = {"div": rule_diversity(r, ref, ref_w, schema), "rows": n}
        else:
            if len(selected) < 2:
                raise DataError(
                    "rule diversity compares each selected rule with the others: select rows "
                    "from at least two rules, or pass reference_rules."
                )
            for lab, r, n in selected:
                others = [o for olab, o, _ in selected if olab != lab]
                by_rule[lab] = {
                    "div": rule_diversity(r, others, [_weight(o, real) for o in others], schema),
                    "rows": n,
                }
        rows = np.array([d["rows"] for d in by_rule.values()], dtype=float)
        divs = np.array([d["div"] for d in by_rule.values()], dtype=float)
        score = float(np.average(divs, weights=rows)) if rows.sum() > 0 else float(np.mean(divs))
        matrix = {a: {b: float(overlap(ra, rb, schema)) for b, rb, _ in selected} for a, ra, _ in selected}
        return {
            "score": score,
            "distinctness": 1.0 - score,
            "by_rule": by_rule,
            "overlap": matrix,
            "reference": "given" if reference_rules else "others",
        }


class RowCoverage(Metric):
    """Share of real-row k-means cells that hold at least one synthetic row.

    ``compute_breakdown(real, synthetic, *, schema, columns=None, n_cells=50,
    random_state=0, max_rows=5000)``: real rows beyond ``max_rows`` are
    subsampled (fixed seed) before clustering. Breakdown: ``score``,
    ``mass_covered``, ``n_cells``, ``cells`` (real and synthetic share per cell)
    and ``parameters``.
    """

    name = "row_coverage"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "n_cells", "random_state", "max_rows")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        n_cells: int = 50,
        random_state: int | None = 0,
        max_rows: int = 5000,
    ) -> dict:
        check_rows(real, synthetic, "row coverage")
        schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
        cols = numeric + categorical
        rng = np.random.default_rng(random_state)
        sample = (
            real
            if len(real) <= max_rows
            else real.iloc[np.sort(rng.choice(len(real), max_rows, replace=False))]
        )
        encoder = RowEncoder(schema, cols).fit(sample)
        X = encoder.transform(sample)
        k = int(min(n_cells, len(np.unique(X, axis=0))))
        if k < 1:
            raise DataError("row coverage needs at least one real row.")
        with threadpool_limits(limits=1):  # see DetectionAUC's max_threads
            km = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(X)
            syn_cells = np.bincount(km.predict(encoder.transform(synthetic)), minlength=k)
        real_cells = np.bincount(km.labels_, minlength=k)
        covered = syn_cells > 0
        return {
            "score": float(covered.mean()),
            "mass_covered": float(real_cells[covered].sum() / real_cells.sum()),
            "n_cells": k,
            "cells": {
                "real_share": (real_cells / real_cells.sum()).tolist(),
                "synthetic_share": (syn_cells / max(syn_cells.sum(), 1)).tolist(),
            },
            "parameters": {"n_cells": n_cells, "random_state": random_state, "n_real_used": len(sample)},
        }
