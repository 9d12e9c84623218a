"""Rule compliance: do synthetic rows obey the rule they were generated for?

Each synthetic row is assigned to a rule through its ``_rule_id`` column (the
provenance every generator writes; ``rule_id`` is accepted too). Without that
column every rule is checked against every row, which then measures how much of
the synthetic set each rule covers rather than compliance proper; the
breakdown says which case applied.

For each rule the breakdown gives the rows assigned, the rows that satisfy the
rule, their share, the first violating rows, and the rows generated against
the rule's real support (``Rule.support`` when known, else the real rows it
covers).

Why not SDMetrics' ``ConstraintAdherence`` (the diagnostic report's Constraint
Validity): it checks SDV constraint classes (``Inequality``, ``Range``,
``FixedCombinations``, ...) that every row of the table must meet. A DATE rule
is a DNF condition that holds only for the rows generated for it, so compliance
needs each row's rule (``_rule_id``) and the rule language of
:mod:`synth_core.rules`, neither of which SDMetrics has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..rules import Rule
from .fidelity import RULE_COLUMNS, Goal, Metric, check_rows, error_text, find_column

__all__ = ["RuleCompliance", "real_support", "rule_label", "rule_summary"]

_MAX_EXAMPLES = 10


def rule_label(rule: Rule, position: int) -> str:
    """The rule's id, or ``"rule N"`` (1-based) when it has none."""
    return str(rule.id) if rule.id not in ("", None) else f"rule {position + 1}"


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def real_support(rule: Rule, real: pd.DataFrame | None) -> tuple[int | None, int | None]:
    """(support, real rows covered): ``Rule.support`` first, else counted on ``real``."""
    covered = None
    if real is not None and len(real):
        try:
            covered = int(rule.count(real))
        except KeyError:
            covered = None
    support = rule.support if rule.support is not None else covered
    return (int(support) if support is not None else None), covered


class RuleCompliance(Metric):
    """Share of synthetic rows that satisfy the rule they were assigned to.

    The score pools every assigned row (rows of big rules weigh more). Per rule,
    ``by_rule[id]`` holds ``text``, ``n_assigned``, ``n_satisfied``, ``share``,
    ``violations`` (first index labels), ``real_support``, ``real_share``,
    ``synthetic_share`` and ``rows_per_support``; or ``error`` when the rule
    cannot be checked (a column the rows lack). ``n_unassigned`` counts rows
    whose rule id matches no given rule.
    """

    name = "rule_compliance"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("rules", "rule_column")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        rules: Sequence[Rule] | None = None,
        rule_column: str | None = None,
    ) -> dict:
        if not rules:
            raise DataError("rule compliance needs the rules the rows were generated for; none were given.")
        check_rows(real, synthetic, "rule compliance")
        rule_column = find_column(synthetic, RULE_COLUMNS, rule_column)
        assigned_by_column = rule_column is not None and rule_column in synthetic.columns
        ids = (
            synthetic[rule_column].astype(str).where(synthetic[rule_column].notna(), None)
            if assigned_by_column
            else None
        )
        by_rule: dict[str, dict] = {}
        total_assigned = total_satisfied = 0
        for i, rule in enumerate(rules):
            label = rule_label(rule, i)
            rows = synthetic[(ids == label).to_numpy()] if assigned_by_column else synthetic
            support, covered = real_support(rule, real)
            entry = {
                "text": rule.text,
                "n_assigned": len(rows),
                "real_support": support,
                "real_share": float(covered / len(real)) if covered is not None else None,
                "synthetic_share": float(len(rows) / len(synthetic)),
                "rows_per_support": float(len(rows) / support) if support else None,
            }
            try:
                ok = rule.mask(rows) if len(rows) else np.zeros(0, dtype=bool)
            except KeyError as exc:
                entry["error"] = error_text(
                    DataError(f"the synthetic rows lack column {exc.args[0]!r} used by rule {label!r}")
                )
                by_rule[label] = entry
                continue
            n_ok = int(ok.sum())
            entry.update(
                n_satisfied=n_ok,
                share=float(n_ok / len(rows)) if len(rows) else float("nan"),
                violations=[_plain(v) for v in rows.index[~ok][:_MAX_EXAMPLES]],
            )
            total_assigned += len(rows)
            total_satisfied += n_ok
            by_rule[label] = entry
        known = set(by_rule)
        n_unassigned = int((~ids.isin(known)).sum()) if assigned_by_column else 0
        return {
            "score": float(total_satisfied / total_assigned) if total_assigned else float("nan"),
            "n_assigned": int(total_assigned),
            "n_violations": int(total_assigned - total_satisfied),
            "n_unassigned": n_unassigned,
            "assignment": "rule_column" if assigned_by_column else "all_rows",
            "by_rule": by_rule,
        }


def rule_summary(
    rules: Sequence[Rule],
    *,
    real: pd.DataFrame | None = None,
    synthetic: pd.DataFrame | None = None,
    rule_column: str | None = None,
) -> pd.DataFrame:
    """One row per rule: label, text, status, error, real support and synthetic rows.

    ``synthetic`` rows are counted by ``rule_column`` (default ``_rule_id`` or
    ``rule_id``) when present, otherwise by which rows each rule covers;
    compliance (share of those rows that satisfy the rule) is added when
    synthetic rows are given.
    """
    records = []
    syn_ids = None
    rule_column = find_column(synthetic, RULE_COLUMNS, rule_column) if synthetic is not None else None
    if synthetic is not None and rule_column is not None and rule_column in synthetic.columns:
        syn_ids = synthetic[rule_column].astype(str).where(synthetic[rule_column].notna(), None)
    for i, rule in enumerate(rules):
        label = rule_label(rule, i)
        support, _ = real_support(rule, real)
        rec = {
            "rule": label,
            "text": rule.text,
            "status": rule.status,
            "origin": rule.origin,
            "error": rule.error,
            "support": support,
            "synthetic_rows": None,
            "compliance": None,
        }
        if synthetic is not None:
            rows = synthetic[(syn_ids == label).to_numpy()] if syn_ids is not None else synthetic
            try:
                ok = rule.mask(rows)
                rec["compliance"] = float(ok.mean()) if len(rows) else None
                rec["synthetic_rows"] = int(len(rows) if syn_ids is not None else ok.sum())
            except KeyError:
                rec["synthetic_rows"] = len(rows) if syn_ids is not None else None
        records.append(rec)
    return pd.DataFrame.from_records(
        records,
        columns=["rule", "text", "status", "origin", "error", "support", "synthetic_rows", "compliance"],
    )
