"""Fidelity: how closely synthetic rows follow the real columns and column pairs.

Three metrics, after SDMetrics' quality report:

- :class:`ColumnShapes` — per column, ``1 - KS`` for numbers (Kolmogorov-Smirnov
  statistic of the two empirical distributions) and ``1 - TVD`` for categories
  (total variation distance of the category shares).
- :class:`ColumnPairTrends` — per column pair, ``1 - |corr_real - corr_syn| / 2``
  for two numbers (Pearson, pairwise complete rows) and contingency similarity
  ``1 - TVD`` of the joint shares for two categories; a number paired with a
  category is cut into the real rows' quantile bins first. Wide tables are
  capped at ``max_pairs`` pairs (pairs with the target first, the rest drawn
  with a fixed seed).
- :class:`Fidelity` — the mean of the two scores above.

Missing cells are part of the distribution: a missing category is a category of
its own, and a missing number sits below every value in the empirical CDF, so a
synthetic column that is never missing where the real one often is loses score.

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

__all__ = [
    "PROVENANCE_COLUMNS",
    "ColumnPairTrends",
    "ColumnShapes",
    "Fidelity",
    "Goal",
    "Metric",
    "contingency_similarity",
    "correlation_similarity",
    "find_column",
    "is_provenance",
    "ks_complement",
    "resolve_columns",
    "select_rows",
    "tv_complement",
]

#: Provenance columns generators write (``synth_core.generators.base.PROVENANCE``); any column whose
#: name starts with ``_`` is provenance too, and none is ever compared as data.
PROVENANCE_COLUMNS = ("_row_id", "_generator", "_rule_id", "_iteration", "_arm", "_call_id", "_status",
                      "_reason")
#: Where the rule id, status and row id of a synthetic row are looked for, in order.
RULE_COLUMNS = ("_rule_id", "rule_id")
STATUS_COLUMNS = ("_status", "status")
ID_COLUMNS = ("_row_id", "row_id")

_MISSING = "(missing)"
_MAX_BINS = 10


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
    def compute_breakdown(cls, real: pd.DataFrame, synthetic: pd.DataFrame, *,
                          schema: Schema | None = None, **options) -> dict:
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def compute(cls, real: pd.DataFrame, synthetic: pd.DataFrame, *, schema: Schema | None = None,
                **options) -> float:
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


def select_rows(synthetic: pd.DataFrame, *, rule_ids: Iterable | None = None, row_ids: Iterable | None = None,
                status: str | Iterable[str] | None = None, rule_column: str | None = None,
                status_column: str | None = None, id_column: str | None = None) -> pd.DataFrame:
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
    for values, column, candidates, what in ((rule_ids, rule_column, RULE_COLUMNS, "rule_ids"),
                                             (status, status_column, STATUS_COLUMNS, "status")):
        if values is None:
            continue
        column = find_column(synthetic, candidates, column)
        if column is None or column not in synthetic.columns:
            raise DataError(f"cannot filter by {what}: the synthetic rows have no "
                            f"{column or candidates[0]!r} column "
                            f"(columns: {', '.join(map(str, synthetic.columns[:20]))}).")
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


def resolve_columns(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema | None = None,
                    columns: Iterable[str] | None = None) -> tuple[Schema, list[str], list[str]]:
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
        raise DataError("no numeric or categorical column is shared by the real and synthetic rows"
                        f"{hint}. Give both frames the real table's columns.")
    return schema, numeric, categorical


def _check_rows(real: pd.DataFrame, synthetic: pd.DataFrame, metric: str) -> None:
    if len(real) == 0:
        raise DataError(f"{metric} needs at least one real row; the real frame is empty.")
    if len(synthetic) == 0:
        raise DataError(f"{metric} needs at least one synthetic row; the selection is empty.")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- single columns


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _category_text(value: Any) -> str:
    """One text form per category, so 1, 1.0 and "1" (or True and "true") compare equal."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered
    return text


def _categories(s: pd.Series) -> pd.Series:
    values = s.astype(object).where(s.notna(), None)
    return values.map(_category_text)


def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """``1 - KS`` of two numeric columns; missing cells sit below every value.

    Examples
    --------
    >>> import pandas as pd
    >>> ks_complement(pd.Series([1, 2, 3, 4]), pd.Series([3, 4, 5, 6]))
    0.5
    """
    a = np.sort(np.nan_to_num(_numbers(real), nan=-np.inf))
    b = np.sort(np.nan_to_num(_numbers(synthetic), nan=-np.inf))
    if len(a) == 0 or len(b) == 0:
        raise DataError("KS needs at least one real and one synthetic value.")
    grid = np.unique(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(1.0 - np.max(np.abs(fa - fb)))


def _shares(values: pd.Series) -> pd.Series:
    return values.value_counts(normalize=True, dropna=False)


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """``1 - TVD`` of the category shares of two columns (missing is a category).

    Examples
    --------
    >>> import pandas as pd
    >>> tv_complement(pd.Series(["a", "b"]), pd.Series(["a", "a"]))
    0.5
    """
    if len(real) == 0 or len(synthetic) == 0:
        raise DataError("TVD needs at least one real and one synthetic value.")
    p, q = _shares(_categories(real)).align(_shares(_categories(synthetic)), fill_value=0.0)
    return float(1.0 - 0.5 * np.abs(p.to_numpy() - q.to_numpy()).sum())


class ColumnShapes(Metric):
    """Mean per-column shape similarity: ``1 - KS`` (numbers) or ``1 - TVD`` (categories).

    The breakdown's ``by_column`` maps each column to its ``score`` and
    ``metric`` (``KSComplement`` / ``TVComplement``) or to an ``error``; a
    failing column is left out of the mean, as in SDMetrics.
    """

    name = "column_shapes"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns",)

    @classmethod
    def compute_breakdown(cls, real, synthetic, *, schema=None, columns=None) -> dict:
        _check_rows(real, synthetic, "column shapes")
        schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
        by_column: dict[str, dict] = {}
        for col in schema.names:
            if col not in numeric and col not in categorical:
                continue
            metric = "KSComplement" if col in numeric else "TVComplement"
            try:
                fn = ks_complement if col in numeric else tv_complement
                score = fn(real[col], synthetic[col])
                by_column[col] = {"score": score, "metric": metric,
                                  "missing_real": float(real[col].isna().mean()),
                                  "missing_synthetic": float(synthetic[col].isna().mean())}
            except Exception as exc:  # noqa: BLE001 - one bad column must not sink the metric (SDMetrics)
                by_column[col] = {"score": float("nan"), "metric": metric, "error": _error_text(exc)}
        scores = [d["score"] for d in by_column.values() if np.isfinite(d["score"])]
        return {"score": float(np.mean(scores)) if scores else float("nan"), "by_column": by_column}


# --------------------------------------------------------------------------- column pairs


def correlation_similarity(real_corr: float, synthetic_corr: float) -> float:
    """``1 - |real - synthetic| / 2`` for two correlation coefficients in [-1, 1]."""
    return float(1.0 - abs(real_corr - synthetic_corr) / 2.0)


def contingency_similarity(real_codes: np.ndarray, synthetic_codes: np.ndarray) -> float:
    """``1 - TVD`` of two joint distributions given as integer cell codes."""
    size = int(max(real_codes.max(initial=0), synthetic_codes.max(initial=0))) + 1
    p = np.bincount(real_codes, minlength=size) / len(real_codes)
    q = np.bincount(synthetic_codes, minlength=size) / len(synthetic_codes)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def _bin_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Quantile bins of the real values (missing is the last bin) for both columns."""
    r, s = _numbers(real), _numbers(synthetic)
    present = r[np.isfinite(r)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, _MAX_BINS + 1))[1:-1]) if len(present) else []
    n_bins = len(edges) + 1

    def codes(x):
        out = np.searchsorted(edges, x, side="right")
        return np.where(np.isfinite(x), out, n_bins)

    return codes(r), codes(s), n_bins + 1


def _category_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    both = pd.concat([_categories(real), _categories(synthetic)], ignore_index=True)
    codes, uniques = pd.factorize(both)
    return codes[: len(real)], codes[len(real):], len(uniques)


def _choose_pairs(columns: list[str], target: str | None, max_pairs: int,
                  random_state: int | None) -> tuple[list[tuple[str, str]], int]:
    pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1:]]
    total = len(pairs)
    if total <= max_pairs:
        return pairs, total
    with_target = [p for p in pairs if target in p]
    rest = [p for p in pairs if target not in p]
    first = with_target[:max_pairs]
    rng = np.random.default_rng(random_state)
    take = rng.choice(len(rest), size=max_pairs - len(first), replace=False) if len(first) < max_pairs else []
    chosen = set(first) | {rest[i] for i in take}
    return [p for p in pairs if p in chosen], total  # keep column order for display


class ColumnPairTrends(Metric):
    """Mean similarity of column-pair trends (correlations and contingency tables).

    ``by_pair`` is a list of ``{"columns": [a, b], "metric", "real", "synthetic",
    "score"}`` (``real`` / ``synthetic`` are the two correlations for number
    pairs) or ``{"columns", "metric", "error"}``. ``n_pairs`` says how many
    pairs the table has and ``n_scored`` how many were compared under the
    ``max_pairs`` cap.
    """

    name = "pair_trends"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "max_pairs", "random_state")

    @classmethod
    def compute_breakdown(cls, real, synthetic, *, schema=None, columns=None, max_pairs: int = 200,
                          random_state: int | None = 0) -> dict:
        _check_rows(real, synthetic, "pair trends")
        schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
        ordered = [c for c in schema.names if c in numeric or c in categorical]
        pairs, total = _choose_pairs(ordered, schema.target, max_pairs, random_state)
        used = sorted({c for p in pairs for c in p}, key=ordered.index)
        corr_r = corr_s = None
        num_used = [c for c in used if c in numeric]
        if len(num_used) >= 2:
            corr_r = real[num_used].apply(pd.to_numeric, errors="coerce").corr(min_periods=2)
            corr_s = synthetic[num_used].apply(pd.to_numeric, errors="coerce").corr(min_periods=2)
        cat_codes = {c: _category_codes(real[c], synthetic[c]) for c in used if c in categorical}
        bin_codes: dict[str, tuple] = {}
        by_pair = []
        for a, b in pairs:
            entry: dict[str, Any] = {"columns": [a, b]}
            try:
                if a in numeric and b in numeric:
                    entry["metric"] = "CorrelationSimilarity"
                    cr, cs = float(corr_r.loc[a, b]), float(corr_s.loc[a, b])
                    if not (np.isfinite(cr) and np.isfinite(cs)):
                        side = "real" if not np.isfinite(cr) else "synthetic"
                        raise DataError(f"the {side} correlation of {a!r} and {b!r} is undefined "
                                        "(a constant column or fewer than 2 complete rows)")
                    entry.update(real=cr, synthetic=cs, score=correlation_similarity(cr, cs))
                else:
                    entry["metric"] = "ContingencySimilarity"
                    codes = []
                    for col in (a, b):
                        if col in numeric:
                            if col not in bin_codes:
                                bin_codes[col] = _bin_codes(real[col], synthetic[col])
                            codes.append(bin_codes[col])
                        else:
                            codes.append(cat_codes[col])
                    (ra, sa, _), (rb, sb, nb) = codes
                    entry["score"] = contingency_similarity(ra * nb + rb, sa * nb + sb)
            except Exception as exc:  # noqa: BLE001 - one bad pair must not sink the metric
                entry["error"] = _error_text(exc)
            by_pair.append(entry)
        scores = [e["score"] for e in by_pair if "score" in e]
        return {"score": float(np.mean(scores)) if scores else float("nan"), "by_pair": by_pair,
                "n_pairs": total, "n_scored": len(pairs),
                "parameters": {"max_pairs": max_pairs, "random_state": random_state}}


class Fidelity(Metric):
    """Overall fidelity: the mean of :class:`ColumnShapes` and :class:`ColumnPairTrends`.

    A table with one column has no pairs; its fidelity is its column shapes.
    """

    name = "fidelity"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "max_pairs", "random_state")

    @classmethod
    def compute_breakdown(cls, real, synthetic, *, schema=None, columns=None, max_pairs: int = 200,
                          random_state: int | None = 0) -> dict:
        shapes = ColumnShapes.compute_breakdown(real, synthetic, schema=schema, columns=columns)
        trends = ColumnPairTrends.compute_breakdown(real, synthetic, schema=schema, columns=columns,
                                                    max_pairs=max_pairs, random_state=random_state)
        return {"score": combine_fidelity(shapes["score"], trends["score"]),
                "column_shapes": shapes, "pair_trends": trends}


def combine_fidelity(shapes: float, trends: float) -> float:
    """Mean of the finite scores among column shapes and pair trends (NaN if neither is)."""
    parts = [s for s in (shapes, trends) if s is not None and np.isfinite(s)]
    return float(np.mean(parts)) if parts else float("nan")
