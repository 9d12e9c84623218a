"""Fidelity: how closely synthetic rows follow the real columns and column pairs, judged by SDMetrics.

The figures are SDMetrics' own (``sdmetrics.reports.QualityReport``, through
:mod:`synth_core.evaluation.sdmetrics_bridge`), so an analyst who runs SDMetrics
on the same rows gets the same numbers:

- :class:`ColumnShapes` — SDMetrics' Column Shapes: ``KSComplement`` for
  numbers and datetimes, ``TVComplement`` for categories and booleans, averaged
  over the columns. Both drop missing cells; the breakdown shows each side's
  share of missing cells next to the score.
- :class:`ColumnPairTrends` — SDMetrics' Column Pair Trends:
  ``CorrelationSimilarity`` (Pearson) for two numbers, ``ContingencySimilarity``
  otherwise (a number cut into 10 equal-width bins first; missing cells are a
  cell of the table), averaged over the pairs whose real rows show a trend
  (SDMetrics' real-correlation and real-association thresholds).
- :class:`Fidelity` — SDMetrics' quality score, the mean of the two.

What the product adds is only around SDMetrics, never in its arithmetic: the
SDMetrics metadata is built from the project's :class:`~synth_core.data.Schema`
(ignored, text and provenance columns left out), each column is handed over in
one dtype per kind (so ``1`` and ``"1"`` are one category), at most
``max_rows_per_side`` rows per side (5,000, fixed seed) are compared because
SDMetrics' contingency tables cost rows x pairs, and wide tables compare at
most ``max_pairs`` pairs (pairs with the target first, the rest drawn with a
fixed seed). Both caps are recorded in the breakdown (``sampling``,
``n_scored`` of ``n_pairs``); under them the figures equal ``QualityReport``'s
(``tests/test_sdmetrics_agreement.py`` checks it to 1e-9).

This module also holds what every metric in :mod:`synth_core.evaluation` shares:
:class:`Goal`, the :class:`Metric` base class, :func:`select_rows` (the subset of
synthetic rows a caller picked by rule, row id or status) and
:func:`resolve_columns` (which columns a metric compares).

Examples
--------
>>> import pandas as pd
>>> real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", "b"]})
>>> ColumnShapes.compute(real, real.copy())
1.0
>>> round(ColumnShapes.compute(real, real.assign(c="a")), 3)
0.75
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..data import Schema, infer_schema
from ..errors import DataError
from .sdmetrics_bridge import (
    COMPARED_SDTYPES,
    MAX_ROWS_PER_SIDE,
    cap_rows,
    category_text,
    prepare,
    quality,
    sdmetrics_columns,
    sdmetrics_version,
)

__all__ = [
    "PROVENANCE_COLUMNS",
    "ColumnPairTrends",
    "ColumnShapes",
    "Fidelity",
    "Goal",
    "Metric",
    "category_texts",
    "check_rows",
    "combine_fidelity",
    "error_text",
    "find_column",
    "is_provenance",
    "resolve_columns",
    "select_rows",
]

#: Provenance columns generators write (``synth_core.generators.base.PROVENANCE``); any column whose
#: name starts with ``_`` is provenance too, and none is ever compared as data.
PROVENANCE_COLUMNS = (
    "_row_id",
    "_generator",
    "_rule_id",
    "_iteration",
    "_arm",
    "_call_id",
    "_status",
    "_reason",
)
#: Where the rule id, status and row id of a synthetic row are looked for, in order.
RULE_COLUMNS = ("_rule_id", "rule_id")
STATUS_COLUMNS = ("_status", "status")
ID_COLUMNS = ("_row_id", "row_id")

_MISSING = "(missing)"


# --------------------------------------------------------------------------- shared base


class Goal(str, Enum):
    """Which direction of a metric's score is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"
    IGNORE = "ignore"


class Metric:
    """Base of every metric: stateless, described by class attributes.

    Subclasses set ``name``, ``goal``, ``min_value`` and ``max_value`` and
    implement :meth:`compute_breakdown`, which returns a dict holding at least
    ``"score"``. ``options`` names the keyword arguments beyond
    ``schema`` that :meth:`compute_breakdown` accepts, so a report passes each
    metric only what it takes.
    """

    name: ClassVar[str] = ""
    goal: ClassVar[Goal] = Goal.IGNORE
    min_value: ClassVar[float] = -math.inf
    max_value: ClassVar[float] = math.inf
    options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def compute_breakdown(
        cls, real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: Schema | None = None, **options
    ) -> dict:
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def compute(
        cls, real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: Schema | None = None, **options
    ) -> float:
        """The breakdown's ``"score"``."""
        return cls.compute_breakdown(real, synthetic, schema=schema, **options)["score"]

    @classmethod
    def normalize(cls, score: float) -> float:
        """Map a score into [0, 1] with 1 the best (as SDMetrics does); NaN stays NaN."""
        if score is None or not np.isfinite(score):
            return float("nan")
        lo, hi = cls.min_value, cls.max_value
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            raise ValueError(f"{cls.__name__} has no finite range to normalise into")
        value = (min(max(score, lo), hi) - lo) / (hi - lo)
        return float(1.0 - value if cls.goal == Goal.MINIMIZE else value)


def is_provenance(name: object) -> bool:
    """Whether a column holds provenance (``_``-prefixed or a known provenance name), not data."""
    return str(name).startswith("_") or name in PROVENANCE_COLUMNS


def find_column(frame: pd.DataFrame, candidates: Iterable[str], given: str | None = None) -> str | None:
    """``given`` if not None, else the first of ``candidates`` that ``frame`` has (None if none)."""
    if given is not None:
        return given
    return next((c for c in candidates if c in frame.columns), None)


def select_rows(
    synthetic: pd.DataFrame,
    *,
    rule_ids: Iterable | None = None,
    row_ids: Iterable | None = None,
    status: str | Iterable[str] | None = None,
    rule_column: str | None = None,
    status_column: str | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """The synthetic rows a caller picked, for any metric or figure.

    Filters combine with AND; ``None`` means no filter on that field.

    Parameters
    ----------
    synthetic : DataFrame
    rule_ids : iterable, optional
        Keep rows whose ``rule_column`` is one of these (compared as text, so
        ``3`` and ``"3"`` match).
    row_ids : iterable, optional
        Keep rows whose ``id_column`` is one of these, or whose index label is
        when there is no such column (what a t-SNE lasso gives back).
    status : str or iterable of str, optional
        Keep rows whose ``status_column`` is one of these (e.g. ``"accepted"``).
    rule_column, status_column, id_column : str, optional
        Default to the generators' provenance columns ``_rule_id``,
        ``_status`` and ``_row_id`` (or ``rule_id``, ``status``, ``row_id``).

    Returns
    -------
    DataFrame
        A copy of the selected rows, original index kept.

    Raises
    ------
    DataError
        A filter on a column the rows do not have.

    Examples
    --------
    >>> import pandas as pd
    >>> syn = pd.DataFrame({"x": [1, 2, 3], "_rule_id": ["r1", "r2", "r1"], "_status": ["accepted"] * 3})
    >>> select_rows(syn, rule_ids=["r1"], status="accepted")["x"].tolist()
    [1, 3]
    """
    keep = np.ones(len(synthetic), dtype=bool)
    for values, column, candidates, what in (
        (rule_ids, rule_column, RULE_COLUMNS, "rule_ids"),
        (status, status_column, STATUS_COLUMNS, "status"),
    ):
        if values is None:
            continue
        column = find_column(synthetic, candidates, column)
        if column is None or column not in synthetic.columns:
            raise DataError(
                f"cannot filter by {what}: the synthetic rows have no "
                f"{column or candidates[0]!r} column "
                f"(columns: {', '.join(map(str, synthetic.columns[:20]))})."
            )
        wanted = {str(v) for v in ([values] if isinstance(values, str) else values)}
        keep &= synthetic[column].astype(str).isin(wanted).to_numpy() & synthetic[column].notna().to_numpy()
    if row_ids is not None:
        ids = list(row_ids)
        id_column = find_column(synthetic, ID_COLUMNS, id_column)
        if id_column is not None and id_column in synthetic.columns:
            keep &= synthetic[id_column].astype(str).isin({str(v) for v in ids}).to_numpy()
        else:
            keep &= synthetic.index.isin(ids)
    return synthetic.loc[keep].copy()


def resolve_columns(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema | None = None,
    columns: Iterable[str] | None = None,
) -> tuple[Schema, list[str], list[str]]:
    """(schema, numeric, categorical): the columns a metric compares.

    A column is compared when the schema marks it numeric, integer, categorical
    or boolean, its role is not ``'ignore'``, and both frames have it.
    Provenance columns never count. Without a schema one is inferred from the
    real rows.

    Raises
    ------
    DataError
        When no column is left to compare, naming what is missing.
    """
    if schema is None:
        schema = infer_schema(real[[c for c in real.columns if not is_provenance(c)]])
    wanted = list(columns) if columns is not None else [c.name for c in schema if c.role != "ignore"]
    numeric, categorical, absent = [], [], []
    for name in wanted:
        if is_provenance(name) or name not in schema:
            continue
        spec = schema[name]
        if not (spec.is_numeric or spec.is_categorical):
            continue
        if name not in real.columns or name not in synthetic.columns:
            absent.append(name)
            continue
        (numeric if spec.is_numeric else categorical).append(name)
    if not numeric and not categorical:
        hint = f"; missing from one side: {', '.join(absent)}" if absent else ""
        raise DataError(
            "no numeric or categorical column is shared by the real and synthetic rows"
            f"{hint}. Give both frames the real table's columns."
        )
    return schema, numeric, categorical


def check_rows(real: pd.DataFrame, synthetic: pd.DataFrame, metric: str) -> None:
    """Refuse an empty real or synthetic frame, naming the ``metric`` that needs rows.

    Raises
    ------
    DataError
    """
    if len(real) == 0:
        raise DataError(f"{metric} needs at least one real row; the real frame is empty.")
    if len(synthetic) == 0:
        raise DataError(f"{metric} needs at least one synthetic row; the selection is empty.")


def error_text(exc: BaseException) -> str:
    """A failure as a report stores it: ``'DataError: the message'``."""
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- SDMetrics' quality properties


def _category_text(value: Any) -> str:
    """One text form per category (1, 1.0 and "1" are one); a missing value is ``(missing)``."""
    return category_text(value, missing=_MISSING)


def category_texts(s: pd.Series) -> pd.Series:
    """Every cell as its category's text (1, 1.0 and "1" are one category; missing is ``(missing)``)."""
    values = s.astype(object).where(s.notna(), None)
    return values.map(_category_text)


def _choose_pairs(
    columns: list[str], target: str | None, max_pairs: int, random_state: int | None
) -> tuple[list[tuple[str, str]], int]:
    pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1 :]]
    total = len(pairs)
    if total <= max_pairs:
        return pairs, total
    with_target = [p for p in pairs if target in p]
    rest = [p for p in pairs if target not in p]
    first = with_target[:max_pairs]
    rng = np.random.default_rng(random_state)
    take = rng.choice(len(rest), size=max_pairs - len(first), replace=False) if len(first) < max_pairs else []
    chosen = set(first) | {rest[i] for i in take}
    return [p for p in pairs if p in chosen], total  # SDMetrics' order (the metadata's), for display


def _sdmetrics_rows(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    schema: Schema | None,
    columns,
    random_state: int | None,
    max_rows_per_side: int | None,
    metric: str,
):
    """(schema, sdtypes, real, synthetic, sampling): the prepared rows SDMetrics is handed."""
    check_rows(real, synthetic, metric)
    schema, sdtypes = sdmetrics_columns(real, synthetic, schema, columns)
    rng = np.random.default_rng(random_state)
    r = prepare(cap_rows(real, max_rows_per_side, rng), sdtypes)
    s = prepare(cap_rows(synthetic, max_rows_per_side, rng), sdtypes)
    sampling = {
        "max_rows_per_side": max_rows_per_side,
        "random_state": random_state,
        "n_real": len(r),
        "n_synthetic": len(s),
        "real_rows_given": len(real),
        "synthetic_rows_given": len(synthetic),
        "sampled": len(r) < len(real) or len(s) < len(synthetic),
    }
    return schema, sdtypes, r, s, sampling


def _finite(value) -> bool:
    return (
        value is not None
        and value is not pd.NA
        and isinstance(value, (int, float, np.number))
        and bool(np.isfinite(value))
    )


def _shapes_breakdown(
    result: dict, sdtypes: dict, real: pd.DataFrame, synthetic: pd.DataFrame, sampling: dict
) -> dict:
    by_column: dict[str, dict] = {}
    for rec in result["details"]:
        col = rec["Column"]
        entry = {
            "score": float(rec["Score"]) if _finite(rec["Score"]) else float("nan"),
            "metric": rec["Metric"],
            "sdtype": sdtypes[col],
            "missing_real": float(real[col].isna().mean()),
            "missing_synthetic": float(synthetic[col].isna().mean()),
        }
        if rec["Error"]:
            entry["error"] = rec["Error"]
        elif not np.isfinite(entry["score"]):
            entry["note"] = "no score: a side has no value in this column once missing cells are dropped"
        by_column[col] = entry
    return {
        "score": result["score"],
        "by_column": by_column,
        "sampling": sampling,
        "seconds": result["seconds"],
        "source": f"sdmetrics {sdmetrics_version()}: ColumnShapes",
    }


def _pairs_breakdown(result: dict, total: int, n_scored: int, parameters: dict, sampling: dict) -> dict:
    by_pair = []
    corr_limit, assoc_limit = result["real_correlation_threshold"], result["real_association_threshold"]
    for rec in result["details"]:
        entry: dict[str, Any] = {"columns": [rec["Column 1"], rec["Column 2"]], "metric": rec["Metric"]}
        if rec["Error"]:
            entry["error"] = rec["Error"]
            by_pair.append(entry)
            continue
        meets = rec["Meets Threshold?"]
        entry["meets_threshold"] = bool(meets) if meets is not pd.NA and meets is not None else False
        if rec["Metric"] == "CorrelationSimilarity":
            entry["real"] = float(rec["Real Correlation"])
            entry["synthetic"] = float(rec["Synthetic Correlation"])
        elif _finite(rec["Real Association"]):
            entry["real_association"] = float(rec["Real Association"])
        if _finite(rec["Score"]):
            entry["score"] = float(rec["Score"])
        elif not entry["meets_threshold"]:
            entry["note"] = (
                "not in the score: the real correlation is weak "
                f"(|r| <= {corr_limit:g}, SDMetrics' threshold)"
                if rec["Metric"] == "CorrelationSimilarity"
                else "not in the score: the real association is weak "
                f"(Cramér's V <= {assoc_limit:g}, SDMetrics' threshold)"
            )
        else:
            entry["note"] = "no score: a correlation is undefined on the rows complete in both columns"
        by_pair.append(entry)
    return {
        "score": result["score"],
        "by_pair": by_pair,
        "n_pairs": total,
        "n_scored": n_scored,
        "n_contributing": sum("score" in e for e in by_pair),
        "parameters": {
            **parameters,
            "real_correlation_threshold": corr_limit,
            "real_association_threshold": assoc_limit,
        },
        "sampling": sampling,
        "seconds": result["seconds"],
        "source": f"sdmetrics {sdmetrics_version()}: ColumnPairTrends",
    }


class ColumnShapes(Metric):
    """SDMetrics' Column Shapes: mean ``KSComplement`` (numbers, datetimes) or ``TVComplement`` (categories).

    The breakdown's ``by_column`` maps each column to SDMetrics' ``score`` and
    ``metric``, its ``sdtype``, the share of missing cells on each side
    (SDMetrics' two metrics drop missing cells; the shares are shown, not
    scored), and an ``error`` when SDMetrics could not score the column (it is
    then left out of the mean, as in SDMetrics). ``sampling`` records the rows
    used (at most ``max_rows_per_side`` per side, fixed seed).
    """

    name = "column_shapes"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "random_state", "max_rows_per_side")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        random_state: int | None = 0,
        max_rows_per_side: int | None = MAX_ROWS_PER_SIDE,
    ) -> dict:
        _, sdtypes, r, s, sampling = _sdmetrics_rows(
            real,
            synthetic,
            schema=schema,
            columns=columns,
            random_state=random_state,
            max_rows_per_side=max_rows_per_side,
            metric="column shapes",
        )
        result = quality(r, s, sdtypes, shapes=True, pairs=False)["column_shapes"]
        return _shapes_breakdown(result, sdtypes, r, s, sampling)


class ColumnPairTrends(Metric):
    """SDMetrics' Column Pair Trends: ``CorrelationSimilarity`` and ``ContingencySimilarity`` per column pair.

    Two numbers (or datetimes) compare their Pearson correlations; any other
    pair compares contingency tables, a number cut into 10 equal-width bins of
    its own side's range first (SDMetrics' way). As in SDMetrics'
    ``QualityReport``, a pair counts in the score only when the real rows show
    a trend: ``|r| > 0.5`` for two numbers, Cramér's V ``> 0.3`` otherwise.

    ``by_pair`` is a list of ``{"columns": [a, b], "metric", "meets_threshold",
    "score"}`` plus ``real`` / ``synthetic`` (correlations) or
    ``real_association``; a pair that does not count has a ``note`` instead of
    a ``score``, one SDMetrics could not compare an ``error``. ``n_pairs`` says
    how many pairs the table has, ``n_scored`` how many were compared under the
    ``max_pairs`` cap (pairs with the target first, the rest drawn with a fixed
    seed) and ``n_contributing`` how many count.
    """

    name = "pair_trends"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "max_pairs", "random_state", "max_rows_per_side")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        max_pairs: int = 200,
        random_state: int | None = 0,
        max_rows_per_side: int | None = MAX_ROWS_PER_SIDE,
    ) -> dict:
        schema, sdtypes, r, s, sampling = _sdmetrics_rows(
            real,
            synthetic,
            schema=schema,
            columns=columns,
            random_state=random_state,
            max_rows_per_side=max_rows_per_side,
            metric="pair trends",
        )
        pairs, total = _pairs_for(schema, sdtypes, max_pairs, random_state)
        result = quality(r, s, sdtypes, shapes=False, pairs=pairs)["pair_trends"]
        return _pairs_breakdown(
            result,
            total,
            total if pairs is True else len(pairs),
            {"max_pairs": max_pairs, "random_state": random_state},
            sampling,
        )


def _pairs_for(schema: Schema, sdtypes: dict, max_pairs: int, random_state: int | None):
    """``True`` (every pair, SDMetrics' own loop) under the cap, else the chosen pairs; and the total."""
    compared = [c for c, t in sdtypes.items() if t in COMPARED_SDTYPES]
    pairs, total = _choose_pairs(compared, schema.target, max_pairs, random_state)
    return (True if len(pairs) == total else pairs), total


class Fidelity(Metric):
    """SDMetrics' quality score: the mean of its Column Shapes and Column Pair Trends on the same rows.

    The score is what ``sdmetrics.reports.QualityReport.get_score()`` gives for
    these rows (a table without a pair that counts scores its column shapes).
    The breakdown holds both properties' breakdowns, ``sampling`` (the rows
    used) and ``source`` (the SDMetrics version).
    """

    name = "fidelity"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "max_pairs", "random_state", "max_rows_per_side")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        max_pairs: int = 200,
        random_state: int | None = 0,
        max_rows_per_side: int | None = MAX_ROWS_PER_SIDE,
    ) -> dict:
        schema, sdtypes, r, s, sampling = _sdmetrics_rows(
            real,
            synthetic,
            schema=schema,
            columns=columns,
            random_state=random_state,
            max_rows_per_side=max_rows_per_side,
            metric="fidelity",
        )
        pairs, total = _pairs_for(schema, sdtypes, max_pairs, random_state)
        result = quality(r, s, sdtypes, shapes=True, pairs=pairs)
        shapes = _shapes_breakdown(result["column_shapes"], sdtypes, r, s, sampling)
        trends = _pairs_breakdown(
            result["pair_trends"],
            total,
            total if pairs is True else len(pairs),
            {"max_pairs": max_pairs, "random_state": random_state},
            sampling,
        )
        return {
            "score": combine_fidelity(shapes["score"], trends["score"]),
            "column_shapes": shapes,
            "pair_trends": trends,
            "sampling": sampling,
            "source": f"sdmetrics {sdmetrics_version()}: QualityReport properties",
        }


def combine_fidelity(shapes: float, trends: float) -> float:
    """Mean of the finite scores of column shapes and pair trends (NaN if none), as SDMetrics' ``nanmean``."""
    parts = [s for s in (shapes, trends) if s is not None and np.isfinite(s)]
    return float(np.mean(parts)) if parts else float("nan")
