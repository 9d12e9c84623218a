"""A Report for a chosen set of synthetic rows, and the metric cards the Compare page shows."""

from __future__ import annotations

import math

import pandas as pd

#: Run rows carry provenance as ``_rule_id``; the evaluation package reads ``rule_id``.
_RENAME = {"_rule_id": "rule_id", "_status": "status", "_row_id": "row_id"}


def report_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.rename(columns=_RENAME)


def build_report(run, synthetic: pd.DataFrame, *, include_utility: bool = True, seeds=(0, 1, 2),
                 utility_on: str = "val"):
    """:class:`synth_core.evaluation.report.Report` for ``synthetic`` (rows of ``run``).

    Under the paper protocol utility is scored on validation rows by default: on the Compare page it
    guides which rows a person picks, and test rows must not guide any choice. A cross-fitted run has
    no validation rows: its utility is the run's cross-fitted verdict (see :func:`metric_cards`), never
    a score on rows that chose the rows.
    """
    from synth_core.evaluation.report import Report

    ds = run.dataset
    rule_ids = set(synthetic["_rule_id"].astype(str)) if "_rule_id" in synthetic else set()
    rules = [r for r in run.rules if r.id in rule_ids] or None
    usage = (run.usage or {}).get("summary", run.usage) if isinstance(run.usage, dict) else None
    rows = ds.val_idx if utility_on == "val" else ds.test_idx
    report = Report(include_utility=include_utility and len(rows) > 0, utility_seeds=seeds, utility_on=utility_on,
                    utility_model=run.params.get("model"), random_state=ds.seed)
    return report.generate(synthetic=report_frame(synthetic), dataset=ds, rules=rules,
                           llm_usage=usage or None)


def _score(report, name):
    entry = report.results_.get(name)
    if entry is None:
        return None, "not computed"
    if entry.get("error"):
        return None, entry["error"]
    if entry.get("skipped"):
        return None, f"skipped: {entry['skipped']}"
    score = entry.get("score")
    if score is None or (isinstance(score, float) and not math.isfinite(score)):
        return None, "no score"
    return score, ""


def metric_cards(run, synthetic: pd.DataFrame) -> dict:
    """``{card: {"value": str, "delta": str|None, "help": str, "note": str}}`` plus the report's dicts."""
    report = build_report(run, synthetic)
    cards: dict[str, dict] = {}
    util = report.results_.get("utility", {})
    check = run.metrics.get("check")
    if check:
        v = check["verdicts"][check["model"]]
        whole = len(synthetic) == len(run.selected) and set(synthetic.get("_row_id", [])) == set(run.selected["_row_id"])
        fmt = "{:.1%}" if v["metric"] == "error rate" else "{:,.4g}"
        cards["Utility"] = {
            "value": fmt.format(v["augmented"]),
            "delta": f"{v['change']:+.1%} (95%: {v['low']:+.1%} to {v['high']:+.1%})", "delta_color": "inverse",
            "help": f"Your {v['label']}'s {v['metric']} with the rows the run kept, out of fold ({fmt.format(v['base'])} "
                    "without them); each fold judged by a choice the other folds made.",
            "note": "" if whole else "for the rows the run kept, not this selection: a hand-picked subset cannot be "
                                     "judged honestly on rows its generator learned from"}
    elif util.get("score") is not None and not util.get("error"):
        b = util["breakdown"]
        metric = "error rate" if b.get("metric") == "error_rate" else "MSE"
        cards["Utility"] = {"value": f"{b['augmented']['mean']:.4g}",
                            "delta": f"{100 * b['relative_change']:+.1f}% vs real-only {b['baseline']['mean']:.4g}",
                            "delta_color": "inverse",
                            "help": f"Decision-tree validation {metric} trained on real train + these rows, mean of "
                                    f"{len(b['augmented']['scores'])} seeds; lower is better.", "note": ""}
    else:
        cards["Utility"] = {"value": "n/a", "delta": None, "help": "", "note": util.get("error") or ""}
    for card, name, fmt, help_text in (
            ("Fidelity", "fidelity", "{:.3f}", "Column shapes and pair trends vs real train rows (1 = same)."),
            ("Detection AUC", "detection_auc", "{:.3f}",
             "A classifier told real from synthetic with this AUC (0.5 = indistinguishable)."),
            ("Privacy: near copies", "dcr", "{:.1%}",
             "Share of synthetic rows closer to a train row than 95% of holdout rows are (5% expected)."),
            ("Exact copies", "exact_copies", "{:.1%}", "Share of synthetic rows equal to a real row."),
            ("Rule compliance", "rule_compliance", "{:.1%}", "Share of rows that satisfy their rule."),
    ):
        score, note = _score(report, name)
        cards[card] = {"value": fmt.format(score) if score is not None else "n/a", "delta": None,
                       "help": help_text, "note": note}
    labels = run.labels or {}
    if labels:
        cards["Labels changed"] = {"value": f"{labels.get('labels_changed', 0):,}", "delta": None,
                                   "help": f"label mode: {labels.get('mode')} (asked: {labels.get('requested_mode')})",
                                   "note": ""}
        t, d = labels.get("teacher_score"), labels.get("downstream_score")
        if t is not None:
            cards["Teacher validation"] = {"value": f"{t:.4g}", "delta": f"downstream model {d:.4g}",
                                           "delta_color": "off",
                                           "help": "Validation error (or MSE) of the teacher that labels rows, "
                                                   "next to the downstream model's.", "note": ""}
    from synth_core.reporting import run_markdown

    return {"cards": cards, "summary": report.summary(), "markdown": run_markdown(run, report),
            "report": report.to_dict()}
