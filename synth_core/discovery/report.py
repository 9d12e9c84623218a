"""Discovery in words: the plain-text report of a fitted discoverer, and the phrasing its notes share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - for the annotation only (the estimator imports this module)
    from .estimator import DGRDiscoverer

__all__ = ["counted", "discover_report", "quoted"]


def counted(n: int, one: str, many: str) -> str:
    """``1 rule was`` / ``3 rules were``: a number with the words that agree with it."""
    return f"{n:,} {one if n == 1 else many}"


def quoted(text: str, limit: int = 160) -> str:
    """Rule text for a sentence: in “quotes” (rule text has its own '), cut with a count when long."""
    if len(text) <= limit:
        return f"“{text}”"
    return f"“{text[:limit].rstrip()} …” ({len(text) - limit:,} more characters)"


def discover_report(discoverer: DGRDiscoverer) -> str:
    """Plain-text report of a fitted discoverer: rules with support, error and tree paths.

    Parameters
    ----------
    discoverer : DGRDiscoverer
        A fitted discoverer.

    Returns
    -------
    str

    Raises
    ------
    NotFittedError
    """
    d = discoverer
    d._check_fitted()
    n = d.n_train_
    unit = {
        "rate": "error rate",
        "relative": "MSE / target variance",
        "mse": "MSE",
        "mae": "mean absolute error",
    }[d.error_kind_]
    lines = [
        f"DGR discovery: {len(d.rules_)} rule(s) on {n:,} train rows "
        f"(target {d.target_!r}, {d.task_}, rho {d.rho_:.4g} as {unit})",
        f"shared models: {d.n_models_trained_} trained, {d.n_models_shared_} time(s) an existing one was reused "
        f"instead; {len(d.regions_)} part(s) of the table before parts sharing a model were fused into one rule",
        f"coverage: {d.coverage_:.1%}; remainder: {d.remainder_:,} row(s) covered by no rule",
        "",
    ]
    for r in d.rules_:
        flag = "" if r.error <= d.rho_ else "  [above rho]"
        lines.append(
            f"{r.id}  support {r.support:,} ({r.support / n:.1%})  error {r.error:.4g}  "
            f"ind {r.ind:.3f}  model {r.model_id}{flag}"
        )
        lines.append(f"    {r.text}")
        counts = d.path_counts_.get(r.id, [])
        if counts:
            lines.append(
                f"    tree paths of its shared model {r.model_id} (the leaves its rows reach; they may "
                "use other columns, and are not conditions of the rule):"
            )
            for path, k in counts:
                lines.append(f"      {path.to_text()}   [{k:,} rows]")
        if r.note:
            lines.append(f"    note: {r.note}")
        lines.append("")
    caps = [m for m in d.merged_ if m["kind"] == "cap"]
    if caps:
        lines.append(f"rules merged into others to keep at most {d.max_rules} rules (max_rules):")
        for m in caps:
            lines.append(
                f"  {m['rule']} ({m['support']:,} rows) -> merged into {m['into']} "
                f"(its model's error {m['error_before']:.4g} -> {m['error_after']:.4g})"
            )
        lines.append("")
    if d.warnings_:
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in d.warnings_)
    return "\n".join(lines).rstrip() + "\n"
