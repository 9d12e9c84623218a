"""A Report for a chosen set of synthetic rows, and the metric cards the Compare page shows."""

from __future__ import annotations

import math

import pandas as pd

#: Run rows carry provenance as ``_rule_id``; the evaluation package reads ``rule_id``.
_RENAME = {"_rule_id": "rule_id", "_status": "status", "_row_id": "row_id"}


def report_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.rename(columns=_RENAME)


def build_report(
    run,
    synthetic: pd.DataFrame,
    *,
    include_utility: bool = True,
    seeds=(0, 1, 2),
    utility_on: str = "val",
    real: pd.DataFrame | None = None,
):
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
    report = Report(
        include_utility=include_utility and len(rows) > 0,
        utility_seeds=seeds,
        utility_on=utility_on,
        utility_model=run.params.get("model"),
        random_state=ds.seed,
    )
    return report.generate(
        real=real, synthetic=report_frame(synthetic), dataset=ds, rules=rules, llm_usage=usage or None
    )


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


#: Every metric shown, once, in plain words: (name on the page, number format, which way is better, what it is).
PLAIN = {
    "fidelity": (
        "Fidelity",
        "{:.3f}",
        "higher is better, 1 = same",
        "How alike the columns and column pairs of these rows are to the real rows (SDMetrics' quality "
        "score: the mean of column shapes and pair trends).",
    ),
    "column_shapes": (
        "Column shapes",
        "{:.3f}",
        "higher is better, 1 = same",
        "How alike each column's distribution is to the real one.",
    ),
    "pair_trends": (
        "Pair trends",
        "{:.3f}",
        "higher is better, 1 = same",
        "How alike the relations between pairs of columns are.",
    ),
    "diagnostics": (
        "Diagnostics",
        "{:.3f}",
        "higher is better, 1 = valid",
        "SDMetrics' diagnostic score: synthetic values inside the real ranges and categories, and the "
        "same columns.",
    ),
    "detection_auc": (
        "Detection AUC",
        "{:.3f}",
        "0.5 is best: real and synthetic cannot be told apart",
        "How well a classifier tells real from synthetic rows (1 = always).",
    ),
    "dcr": (
        "Privacy: near copies",
        "{:.1%}",
        "lower is better, about 5% is what chance gives",
        "Share of synthetic rows closer to a real row the generator learned from than 95% of real rows it "
        "never saw are.",
    ),
    "nndr": (
        "Privacy: distance ratio",
        "{:.3f}",
        "higher is safer",
        "Distance to the nearest real row over distance to the second nearest (near 0: a near copy).",
    ),
    "exact_copies": (
        "Exact copies",
        "{:.1%}",
        "lower is better",
        "Share of synthetic rows equal to a real row.",
    ),
    "rule_compliance": (
        "Rule compliance",
        "{:.1%}",
        "higher is better, 100% = every row obeys its rule",
        "Share of rows that satisfy the rule they were written for.",
    ),
    "rule_diversity": (
        "Rule diversity",
        "{:.3f}",
        "higher is better",
        "How little the rules' regions overlap (DATE's Definition 5).",
    ),
    "row_coverage": (
        "Row coverage",
        "{:.1%}",
        "higher is better",
        "Share of real rows that have a synthetic row nearby.",
    ),
}
CARDS = ("fidelity", "detection_auc", "dcr", "exact_copies", "rule_compliance")
#: Fewer synthetic rows than this cannot be told from real ones by a classifier in any meaningful way.
MIN_DETECTION_ROWS = 30


def _note(name: str, note: str, run, synthetic) -> str:
    if name == "rule_diversity" and note and len({str(r) for r in synthetic.get("_rule_id", [])}) < 2:
        return "needs rows of two or more rules"
    return note


def metric_cards(run, synthetic: pd.DataFrame, real: pd.DataFrame | None = None) -> dict:
    """The Compare page's cards and its "every metric" table, one value per metric in both, plus the
    report (dict and Markdown). ``real``: the real rows to compare with (default every row the run used;
    the rows of the chosen rules when the page filters by rule)."""
    report = build_report(run, synthetic, real=real)
    cards: dict[str, dict] = {"Utility": _utility_card(run, synthetic, report)}
    table = []
    privacy = run.metrics.get("privacy") or {}
    for name, (label, fmt, better, what) in PLAIN.items():
        score, note = _score(report, name)
        if name in ("dcr", "nndr", "exact_copies") and privacy.get(name) is not None:
            score, note = privacy[name], privacy["note"]
        if name == "detection_auc" and len(synthetic) < MIN_DETECTION_ROWS:
            score, note = (
                None,
                f"needs at least {MIN_DETECTION_ROWS} synthetic rows to judge ({len(synthetic)} chosen)",
            )
        note = _note(name, note, run, synthetic)
        value = fmt.format(score) if score is not None else "n/a"
        if name in report.results_ or score is not None or note:
            table.append({"metric": label, "value": value, "better": better, "note": note})
        if name in CARDS:
            cards[label] = {"value": value, "delta": None, "help": f"{what} ({better})", "note": note}
    card = cards["Utility"]
    table.insert(
        0,
        {
            "metric": "Utility: your model's error",
            "value": card["value"],
            "better": "lower is better",
            "note": (card.get("delta") or "") + (f"; {card['note']}" if card.get("note") else ""),
        },
    )
    labels = run.labels or {}
    if labels:
        cards["Labels changed"] = {
            "value": f"{labels.get('labels_changed', 0):,}",
            "delta": None,
            "help": "Rows whose label the label teacher (a model fitted on your rows) "
            f"changed; label mode {labels.get('mode')} (asked: "
            f"{labels.get('requested_mode')}).",
            "note": "",
        }
    from synth_core.reporting import run_markdown

    return {
        "cards": cards,
        "summary": pd.DataFrame(table, columns=["metric", "value", "better", "note"]),
        "markdown": run_markdown(run, report),
        "report": report.to_dict(),
    }


def _utility_card(run, synthetic, report) -> dict:
    """The run's cross-fitted verdict for your model, or (paper protocol) the validation score."""
    check = run.metrics.get("check")
    if check:
        v = check["verdicts"][check["model"]]
        whole = len(synthetic) == len(run.selected) and set(synthetic.get("_row_id", [])) == set(
            run.selected.get("_row_id", [])
        )
        fmt = "{:.1%}" if v["metric"] == "error rate" else "{:,.4g}"
        return {
            "value": fmt.format(v["augmented"]),
            "delta": f"{v['change']:+.1%} (95%: {v['low']:+.1%} to {v['high']:+.1%})",
            "delta_color": "inverse",
            "help": f"Your {v['label']}'s {v['metric']} with the rows the run kept, out of fold "
            f"({fmt.format(v['base'])} without them); lower is better. Each fold is judged by a choice "
            "the other folds made.",
            "note": ""
            if whole
            else "for the rows the run kept, not this selection: a hand-picked subset "
            "cannot be judged honestly on rows its generator learned from",
        }
    util = report.results_.get("utility", {})
    if util.get("score") is not None and not util.get("error"):
        b = util["breakdown"]
        metric = "error rate" if b.get("metric") == "error_rate" else "MSE"
        fmt = "{:.1%}" if metric == "error rate" else "{:,.4g}"
        return {
            "value": fmt.format(b["augmented"]["mean"]),
            "delta": f"{100 * b['relative_change']:+.1f}% vs your rows alone {fmt.format(b['baseline']['mean'])}",
            "delta_color": "inverse",
            "help": f"Your model's validation {metric} trained on the train rows plus these rows, mean of "
            f"{len(b['augmented']['scores'])} seeds; lower is better.",
            "note": "",
        }
    return {"value": "n/a", "delta": None, "help": "", "note": util.get("error") or ""}
