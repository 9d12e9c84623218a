"""A report of every evaluation metric for one selection of synthetic rows.

:class:`Report` is built once with its settings, filled by :meth:`Report.generate`
and then read (:meth:`~Report.get_score`, :meth:`~Report.get_details`,
:meth:`~Report.summary`, :meth:`~Report.to_dict`, :meth:`~Report.to_markdown`),
as SDMetrics reports are. A metric that fails does not fail the report: its
entry holds ``error = "<ExceptionType>: <message>"`` and no score. Metrics that
need rules are marked ``skipped`` when no rules are given.

Column shapes, pair trends and fidelity are one run of SDMetrics' quality
properties on one sample of rows (:class:`~synth_core.evaluation.fidelity.Fidelity`),
so the three figures are those of one ``sdmetrics.reports.QualityReport``.

Examples
--------
>>> import pandas as pd
>>> real = pd.DataFrame({"x": [float(i) for i in range(40)], "c": list("ab") * 20})
>>> report = Report(include_utility=False, metrics=["column_shapes", "exact_copies"]).generate(real, real)
>>> report.get_score("exact_copies")
1.0
>>> sorted(report.to_dict()["metrics"])
['column_shapes', 'exact_copies']
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, NotFittedError
from ..rules import Rule
from .fidelity import Goal, Metric, combine_fidelity, error_text, resolve_columns, select_rows

__all__ = ["DEFAULT_METRICS", "Report", "to_jsonable"]

#: Metrics a report computes unless told otherwise (``fidelity`` and ``utility`` are added on top).
DEFAULT_METRICS = (
    "column_shapes",
    "pair_trends",
    "diagnostics",
    "detection_auc",
    "dcr",
    "nndr",
    "exact_copies",
    "rule_compliance",
    "rule_diversity",
    "row_coverage",
)
_RULE_METRICS = {"rule_compliance", "rule_diversity"}
#: Parts of one SDMetrics quality run (:class:`~synth_core.evaluation.fidelity.Fidelity`).
_QUALITY_PARTS = ("column_shapes", "pair_trends")


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps`` accepts: NaN and inf become ``None``.

    numpy scalars and arrays become Python numbers and lists, tuples and sets
    lists, dict keys text, Enums their value, frames lists of records, and
    anything else its ``str``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(to_jsonable(k)) if not isinstance(k, str) else k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)


def _usage_dict(llm_usage: Any) -> dict:
    if llm_usage is None:
        return {}
    if isinstance(llm_usage, dict):
        return dict(llm_usage)
    if dataclasses.is_dataclass(llm_usage) and not isinstance(llm_usage, type):
        return dataclasses.asdict(llm_usage)
    if hasattr(llm_usage, "to_dict"):
        return dict(llm_usage.to_dict())
    return dict(vars(llm_usage))


def _llm_summary(llm_usage: Any, n_selected: int) -> dict:
    usage = _usage_dict(llm_usage)
    tokens = usage.get("total_tokens")
    if tokens is None and ("prompt_tokens" in usage or "completion_tokens" in usage):
        tokens = (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
    accepted = usage.get("accepted_rows", n_selected)
    out = dict(usage)
    out["total_tokens"] = tokens
    out["accepted_rows"] = accepted
    out["tokens_per_accepted_row"] = (tokens / accepted) if tokens is not None and accepted else None
    return out


def _better(metric: type[Metric] | None, name: str) -> str:
    if name == "detection_auc":
        return "0.5 best"
    if metric is None:
        return "lower" if name == "utility" else "-"
    return {Goal.MAXIMIZE: "higher", Goal.MINIMIZE: "lower"}.get(metric.goal, "-")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return "-" if not math.isfinite(value) else f"{value:.3f}"
    return str(value)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


class Report:
    """Every evaluation metric for one set of synthetic rows, failures recorded per metric.

    Parameters
    ----------
    metrics : sequence of str, optional
        Names from :data:`synth_core.evaluation.METRICS` (default
        :data:`DEFAULT_METRICS`). ``fidelity`` is added when both
        ``column_shapes`` and ``pair_trends`` are computed: SDMetrics' quality
        score of the same run.
    include_utility : bool
        Also run :func:`~synth_core.evaluation.utility.augmentation_utility`
        (needs ``dataset`` in :meth:`generate`; the slowest part).
    utility_model : estimator, optional
        Downstream model for utility (default: decision tree).
    utility_on : {'test', 'val'}
        Rows that score utility: ``'val'`` where the figure guides a person's choice of rows.
    utility_seeds : sequence of int
        Model seeds for utility.
    detection_model : classifier, optional
        Classifier for detection AUC (default: gradient-boosted trees).
    random_state : int or None
        Seeds every sampled step (detection folds, holdout split, k-means cells).
    max_pairs : int
        Cap on column pairs compared by pair trends (pairs with the target
        first). Column shapes, pair trends and fidelity compare at most 5,000
        rows per side (fixed seed), recorded in their breakdowns' ``sampling``.

    Attributes
    ----------
    results_ : dict
        Per metric: ``name``, ``goal``, ``score``, ``error``, ``skipped``,
        ``seconds`` and ``breakdown``.
    info_ : dict
        Row counts, the selection applied and the parameters.
    llm_usage_ : dict
        LLM calls and tokens with ``tokens_per_accepted_row`` (empty without usage).
    """

    def __init__(
        self,
        *,
        metrics: Sequence[str] | None = None,
        include_utility: bool = True,
        utility_model=None,
        utility_seeds: Sequence[int] = (0, 1, 2, 3, 4),
        utility_on: str = "test",
        detection_model=None,
        random_state: int | None = 0,
        max_pairs: int = 200,
    ):
        self.metrics = metrics
        self.include_utility = include_utility
        self.utility_model = utility_model
        self.utility_seeds = utility_seeds
        self.utility_on = utility_on
        self.detection_model = detection_model
        self.random_state = random_state
        self.max_pairs = max_pairs

    def __repr__(self) -> str:
        state = "generated" if hasattr(self, "results_") else "not generated"
        return f"Report(metrics={self.metrics!r}, include_utility={self.include_utility}, {state})"

    # ------------------------------------------------------------------ generate

    def generate(
        self,
        real: pd.DataFrame | None = None,
        synthetic: pd.DataFrame | None = None,
        *,
        dataset=None,
        schema=None,
        rules: Sequence[Rule] | None = None,
        reference_rules: Sequence[Rule] | None = None,
        holdout: pd.DataFrame | None = None,
        llm_usage: Any = None,
        rule_ids: Iterable | None = None,
        row_ids: Iterable | None = None,
        status: str | Iterable[str] | None = None,
    ) -> Report:
        """Compute every metric on the selected synthetic rows.

        Parameters
        ----------
        real : DataFrame, optional
            Real rows to compare with; defaults to ``dataset.train``.
        synthetic : DataFrame
            Synthetic rows, with provenance columns (``_rule_id``, ``_status``,
            ``_row_id``) when the generator wrote them. A generator's
            candidates include rejected rows: pass ``status="accepted"`` to
            evaluate only the kept ones.
        dataset : Dataset, optional
            Supplies ``schema``, the real train rows, the validation rows as
            privacy holdout, and the test split for utility.
        schema : Schema, optional
            Column kinds; defaults to ``dataset.schema`` or is inferred.
        rules : sequence of Rule, optional
            Rules the rows were generated for (compliance, diversity).
        reference_rules : sequence of Rule, optional
            DATE's original example set for diversity (default: the other
            selected rules).
        holdout : DataFrame, optional
            Real rows the generator never saw (privacy); defaults to
            ``dataset.val`` (never the test split, which is kept for the
            utility score), else a split of ``real``.
        llm_usage : dict or object, optional
            Calls and tokens (``prompt_tokens``, ``completion_tokens`` or
            ``total_tokens``, ``accepted_rows``).
        rule_ids, row_ids, status
            Select a subset first, as :func:`~synth_core.evaluation.fidelity.select_rows`.

        Returns
        -------
        Report
            ``self``, generated.

        Raises
        ------
        DataError
            No real or no synthetic frame, or a selection on a missing column.
        """
        from . import METRICS  # late: the package imports this module

        if dataset is not None:
            real = dataset.train if real is None else real
            schema = dataset.schema if schema is None else schema
            holdout = dataset.val if holdout is None else holdout
        if real is None or synthetic is None:
            raise DataError("a report needs real rows (or a dataset) and synthetic rows.")
        names = list(DEFAULT_METRICS if self.metrics is None else self.metrics)
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise DataError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}.")
        if schema is None:  # infer once for every metric; a table that cannot be inferred fails per metric
            try:
                schema = resolve_columns(real, synthetic)[0]
            except DataError:
                schema = None
        filtered = any(v is not None for v in (rule_ids, row_ids, status))
        selected = (
            select_rows(synthetic, rule_ids=rule_ids, row_ids=row_ids, status=status)
            if filtered
            else synthetic
        )
        context = {
            "rules": list(rules) if rules else None,
            "reference_rules": reference_rules,
            "holdout": holdout,
            "model": self.detection_model,
            "random_state": self.random_state,
            "max_pairs": self.max_pairs,
        }
        results: dict[str, dict] = {}
        quality = None  # one SDMetrics quality run serves column shapes, pair trends and fidelity
        if "pair_trends" in names or "fidelity" in names:
            fidelity = METRICS["fidelity"]
            kwargs = {k: context[k] for k in fidelity.options if context.get(k) is not None}
            quality = self._run(
                "fidelity",
                fidelity,
                lambda: fidelity.compute_breakdown(real, selected, schema=schema, **kwargs),
            )
        for name in names:
            metric = METRICS[name]
            if name in _RULE_METRICS and not context["rules"]:
                results[name] = self._entry(name, metric, skipped="no rules given")
                continue
            if quality is not None and name == "fidelity":
                results[name] = quality
                continue
            if quality is not None and name in _QUALITY_PARTS:
                results[name] = self._quality_part(name, metric, quality)
                continue
            kwargs = {k: context[k] for k in metric.options if context.get(k) is not None}
            results[name] = self._run(
                name,
                metric,
                lambda m=metric, kw=kwargs: m.compute_breakdown(real, selected, schema=schema, **kw),
            )
        if "column_shapes" in results and "pair_trends" in results and "fidelity" not in results:
            shapes, trends = results["column_shapes"]["score"], results["pair_trends"]["score"]
            entry = self._entry("fidelity", METRICS.get("fidelity"))
            entry["score"] = combine_fidelity(shapes, trends)
            entry["breakdown"] = {"score": entry["score"], "column_shapes": shapes, "pair_trends": trends}
            if quality is not None and not quality["error"]:
                for key in ("sampling", "source"):
                    entry["breakdown"][key] = quality["breakdown"].get(key)
                # the run's time outside SDMetrics' two properties (sampling, preparing the rows)
                parts = results["column_shapes"]["seconds"] + results["pair_trends"]["seconds"]
                entry["seconds"] = max(0.0, quality["seconds"] - parts)
            if quality is not None and quality["error"]:
                entry["error"] = quality["error"]
            elif entry["score"] is None or not math.isfinite(entry["score"]):
                entry["error"] = "DataError: neither column shapes nor pair trends produced a score"
            results = {"fidelity": entry, **results}
        if self.include_utility:
            results["utility"] = self._run("utility", None, lambda: self._utility(dataset, selected))
        self.results_ = results
        self.info_ = {
            "n_real": len(real),
            "n_synthetic": len(synthetic),
            "n_selected": len(selected),
            "selection": {
                "rule_ids": None if rule_ids is None else list(rule_ids),
                "row_ids": None if row_ids is None else list(row_ids),
                "status": status if isinstance(status, (str, type(None))) else list(status),
            },
            "n_rules": len(rules) if rules else 0,
            "parameters": {
                "random_state": self.random_state,
                "max_pairs": self.max_pairs,
                "include_utility": self.include_utility,
                "detection_model": type(self.detection_model).__name__
                if self.detection_model is not None
                else "default",
                "utility_seeds": list(self.utility_seeds),
            },
        }
        self.llm_usage_ = _llm_summary(llm_usage, len(selected)) if llm_usage is not None else {}
        return self

    def _utility(self, dataset, selected: pd.DataFrame) -> dict:
        from .utility import augmentation_utility

        if dataset is None:
            raise DataError(
                "augmentation utility needs the Dataset (its test split): pass dataset=..., "
                "or include_utility=False."
            )
        return augmentation_utility(
            dataset, selected, model=self.utility_model, seeds=tuple(self.utility_seeds), on=self.utility_on
        )

    @staticmethod
    def _entry(name: str, metric: type[Metric] | None, *, skipped: str | None = None) -> dict:
        goal = metric.goal.value if metric is not None else ("minimize" if name == "utility" else "ignore")
        return {
            "name": name,
            "goal": goal,
            "better": _better(metric, name),
            "score": None,
            "error": None,
            "skipped": skipped,
            "seconds": 0.0,
            "breakdown": {},
        }

    def _quality_part(self, name: str, metric: type[Metric], quality: dict) -> dict:
        """Column shapes or pair trends taken from the fidelity run (its error, if it failed)."""
        entry = self._entry(name, metric)
        if quality["error"]:
            entry["error"] = quality["error"]
            return entry
        breakdown = quality["breakdown"][name]
        entry.update(breakdown=breakdown, score=breakdown.get("score"), seconds=breakdown.get("seconds", 0.0))
        return entry

    def _run(self, name: str, metric: type[Metric] | None, fn) -> dict:
        entry = self._entry(name, metric)
        t0 = time.perf_counter()
        try:
            breakdown = fn()
            entry["breakdown"] = breakdown
            entry["score"] = breakdown.get("score")
        except Exception as exc:  # noqa: BLE001 - a failing metric must not fail the report (SDMetrics)
            entry["error"] = error_text(exc)
        entry["seconds"] = time.perf_counter() - t0
        return entry

    # ------------------------------------------------------------------ read

    def _check_generated(self) -> None:
        if not hasattr(self, "results_"):
            raise NotFittedError("This Report is not generated yet. Call 'generate' first.")

    def get_score(self, name: str) -> float | None:
        """The score of one metric (``None`` when it failed or was skipped)."""
        self._check_generated()
        if name not in self.results_:
            raise KeyError(f"{name!r} is not in this report; it has {', '.join(self.results_)}.")
        return self.results_[name]["score"]

    def get_details(self, name: str) -> dict:
        """A copy of one metric's entry (score, error, breakdown, timing)."""
        self._check_generated()
        if name not in self.results_:
            raise KeyError(f"{name!r} is not in this report; it has {', '.join(self.results_)}.")
        return json.loads(json.dumps(to_jsonable(self.results_[name])))

    def summary(self) -> pd.DataFrame:
        """One row per metric: ``metric``, ``score``, ``better``, ``error`` (for a table on a page)."""
        self._check_generated()
        rows = [
            {
                "metric": e["name"],
                "score": e["score"],
                "better": e["better"],
                "error": e["error"] or (f"skipped: {e['skipped']}" if e["skipped"] else None),
            }
            for e in self.results_.values()
        ]
        return pd.DataFrame(rows, columns=["metric", "score", "better", "error"])

    def to_dict(self) -> dict:
        """Everything in the report as JSON-safe values (NaN becomes ``None``)."""
        self._check_generated()
        return to_jsonable({"info": self.info_, "metrics": self.results_, "llm_usage": self.llm_usage_})

    def _fidelity_source(self) -> str:
        """One sentence saying where the fidelity figures come from and on which rows."""
        for name in ("fidelity", "column_shapes", "pair_trends"):
            b = self.results_.get(name, {}).get("breakdown") or {}
            if b.get("sampling") and b.get("source"):
                break
        else:
            return ""
        sampling = b["sampling"]
        rows = f"{sampling['n_real']:,} real and {sampling['n_synthetic']:,} synthetic rows"
        if sampling.get("sampled"):
            rows += (
                f" (at most {sampling['max_rows_per_side']:,} per side drawn with seed "
                f"{sampling['random_state']})"
            )
        text = f"Fidelity figures: SDMetrics' own ({b['source'].split(':')[0]}) on {rows}."
        trends = self.results_.get("pair_trends", {}).get("breakdown") or {}
        if trends.get("n_pairs") is not None:
            text += (
                f" Pair trends compared {trends['n_scored']} of {trends['n_pairs']} column pairs; "
                f"{trends.get('n_contributing', trends['n_scored'])} show a real trend and count."
            )
        return text

    def to_markdown(self, *, max_columns: int = 10) -> str:
        """A readable report: metric table, worst columns, rules, LLM usage."""
        self._check_generated()
        info = self.info_
        lines = [
            "# Evaluation report",
            "",
            (
                f"{info['n_selected']:,} synthetic rows (of {info['n_synthetic']:,}) against "
                f"{info['n_real']:,} real rows."
            ),
        ]
        sel = {k: v for k, v in info["selection"].items() if v is not None}
        if sel:
            lines.append("Selection: " + ", ".join(f"{k} = {v}" for k, v in sel.items()) + ".")
        lines += ["", "| metric | score | better | note |", "|---|---:|---|---|"]
        for e in self.results_.values():
            note = e["error"] or (f"skipped: {e['skipped']}" if e["skipped"] else "")
            lines.append(f"| {e['name']} | {_fmt(e['score'])} | {e['better']} | {_md_cell(note)} |")
        source = self._fidelity_source()
        if source:
            lines += ["", source]
        shapes = self.results_.get("column_shapes", {}).get("breakdown", {}).get("by_column")
        if shapes:
            worst = sorted(shapes.items(), key=lambda kv: np.nan_to_num(kv[1]["score"], nan=-1.0))
            lines += [
                "",
                f"## Column shapes (worst {min(max_columns, len(worst))})",
                "",
                "| column | metric | score |",
                "|---|---|---:|",
            ]
            for col, d in worst[:max_columns]:
                lines.append(
                    f"| {_md_cell(col)} | {d['metric']} | "
                    f"{_fmt(d['score']) if 'error' not in d else _md_cell(d['error'])} |"
                )
        by_rule = self.results_.get("rule_compliance", {}).get("breakdown", {}).get("by_rule")
        if by_rule:
            lines += [
                "",
                "## Rules",
                "",
                "| rule | assigned | satisfied | share | real support | rows / support |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for label, d in by_rule.items():
                lines.append(
                    f"| {_md_cell(label)} | {d['n_assigned']} | {_fmt(d.get('n_satisfied'))} | "
                    f"{_fmt(d.get('share'))} | {_fmt(d.get('real_support'))} | "
                    f"{_fmt(d.get('rows_per_support'))} |"
                )
        utility = self.results_.get("utility", {}).get("breakdown", {})
        if utility.get("baseline"):
            lines += [
                "",
                "## Utility",
                "",
                (
                    f"{utility['metric']} on {utility.get('parameters', {}).get('scored_on', 'test')} rows: "
                    f"real only {_fmt(utility['baseline']['mean'])}, "
                    f"real + synthetic {_fmt(utility['augmented']['mean'])} "
                    f"(relative change {_fmt(utility['relative_change'])}; negative is better)."
                ),
            ]
        if self.llm_usage_:
            lines += ["", "## LLM usage", "", "| item | value |", "|---|---:|"]
            for k, v in self.llm_usage_.items():
                lines.append(f"| {_md_cell(k)} | {_fmt(v)} |")
        return "\n".join(lines) + "\n"
