"""The Markdown report of a run: what was asked, what was kept and why, the verdict, and the metrics.

One text for the Export page's download and ``synth evaluate --report``, so the app and
the command line say the same thing. The metrics come from
:class:`~synth_core.evaluation.report.Report`; this module only puts them in context.
"""

from __future__ import annotations

from .crossfit import verdict_sentence

__all__ = ["run_markdown"]


def run_markdown(run, report=None) -> str:
    """The run's settings, the cross-fitted verdict (or the test score), and ``report`` when given."""
    ds, p = run.dataset, run.params
    kept, candidates = len(run.selected), len(run.rows)
    lines = [
        f"# Synthetic rows for {ds.name}",
        "",
        f"Generator `{p.get('method')}`, budget n = {p.get('n')}, labels `{p.get('labels')}`, selection "
        f"`{p.get('selection')}`, seed {p.get('random_state')}; checked for the model `{p.get('model', 'tree')}`"
        + (
            f" and {', '.join(f'`{m}`' for m in p.get('check_models') or [])}"
            if p.get("check_models")
            else ""
        )
        + ".",
        "",
        f"{kept:,} synthetic rows kept of {candidates:,} candidates; the table has {len(ds.frame):,} rows "
        + (
            "(every one given to the product: the checks are cross-fitted)."
            if ds.protocol != "paper"
            else f"(paper split: {len(ds.train_idx):,} train / {len(ds.val_idx):,} validation / "
            f"{len(ds.test_idx):,} test)."
        ),
    ]
    if run.metrics.get("cancelled"):
        lines += ["", "**The run was cancelled**: the rows made before the cancel are kept."]
    if run.metrics.get("incomplete"):
        lines += ["", f"**The run is incomplete**: {run.metrics['incomplete']}"]
    check = run.metrics.get("check")
    if check:
        lines += [
            "",
            "## Verdict (cross-fitted)",
            "",
            f"Estimated on every row out of fold: {check['folds']} folds x {check['repeats']} repeat(s) of "
            f"{check['rows']:,} rows; each fold is judged by the choice the other folds made, so no row that "
            "chose the rows scores them.",
            "",
        ]
        lines += [f"- {verdict_sentence(v)}" for v in check["verdicts"].values()]
        lines += [
            "",
            f"Why: {check['reason']}",
            "",
            f"Label teacher: {check['teacher']} (out-of-fold loss "
            + ", ".join(f"{k} {v:.4g}" for k, v in check["teacher_losses"].items())
            + f"; your model {check['model_loss']:.4g}); label mode `{check['mode']}`.",
        ]
    if run.messages:
        lines += ["", "## Notes from the run", ""] + [f"- {m}" for m in run.messages]
    if report is not None:
        body = report.to_markdown().replace("# Evaluation report", "## Metrics of the kept rows", 1)
        lines += ["", body.rstrip()]
        if check and "utility" not in report.results_:
            lines += [
                "",
                "Utility: see the cross-fitted verdict above"
                + (" (no test share was held out)." if not len(ds.test_idx) else "."),
            ]
    return "\n".join(lines) + "\n"
