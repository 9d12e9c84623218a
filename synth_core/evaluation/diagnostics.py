"""Diagnostics: SDMetrics' ``DiagnosticReport`` (data validity and data structure) of the synthetic rows.

:class:`Diagnostics` hands the rows to ``sdmetrics.reports.DiagnosticReport``
(through :mod:`synth_core.evaluation.sdmetrics_bridge`, with the metadata built
from the :class:`~synth_core.data.Schema`) and reports its overall score and
properties as SDMetrics gives them:

- Data Validity, per column: ``BoundaryAdherence`` (numbers and datetimes: the
  share of synthetic values inside the real range), ``CategoryAdherence``
  (categories and booleans: the share of synthetic values that are real
  categories);
- Data Structure: ``TableStructure``, the share of (column, dtype) pairs the
  two tables share. Columns are handed over in one dtype per kind, so it
  measures whether the synthetic rows have every compared column of the real
  ones.

Every row is checked (validity costs one pass per column); the columns are
those of the real rows' schema that SDMetrics knows a kind for, so a compared
column the synthetic rows lack lowers Data Structure and fails its validity
row instead of being left out.
"""

from __future__ import annotations

from .fidelity import Goal, Metric, check_rows
from .sdmetrics_bridge import diagnostics, prepare, sdmetrics_columns, sdmetrics_version

__all__ = ["Diagnostics"]


class Diagnostics(Metric):
    """SDMetrics' diagnostic score: the mean of Data Validity and Data Structure (1 = valid).

    Breakdown: ``score`` (``DiagnosticReport.get_score()``), ``properties``
    (score per property), ``validity`` (one record per column and metric:
    ``column``, ``metric``, ``score`` and ``error`` when SDMetrics could not
    score it), ``missing_columns`` (compared real columns the synthetic rows
    lack) and ``source``.
    """

    name = "diagnostics"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns",)

    @classmethod
    def compute_breakdown(cls, real, synthetic, *, schema=None, columns=None) -> dict:
        check_rows(real, synthetic, "the diagnostics")
        _, sdtypes = sdmetrics_columns(real, synthetic, schema, columns, require_both=False)
        result = diagnostics(prepare(real, sdtypes), prepare(synthetic, sdtypes), sdtypes)
        validity = []
        for rec in result["details"].get("Data Validity", []):
            entry = {
                "column": rec["Column"],
                "metric": rec["Metric"],
                "score": float(rec["Score"]) if rec["Score"] is not None else float("nan"),
            }
            if rec["Error"]:
                entry["error"] = rec["Error"]
            validity.append(entry)
        return {
            "score": result["score"],
            "properties": result["properties"],
            "validity": validity,
            "missing_columns": [c for c in sdtypes if c not in synthetic.columns],
            "n_real": len(real),
            "n_synthetic": len(synthetic),
            "source": f"sdmetrics {sdmetrics_version()}: DiagnosticReport",
        }
