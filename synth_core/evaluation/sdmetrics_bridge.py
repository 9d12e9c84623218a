"""The bridge to SDMetrics: metadata from a :class:`~synth_core.data.Schema`, the rows it gets, its figures.

Fidelity is judged by SDMetrics (``sdv-dev/SDMetrics``) itself, so the product's
figures are the ones an analyst gets from ``sdmetrics.reports.QualityReport`` and
``DiagnosticReport`` on the same rows. This module only translates:

- :func:`sdmetrics_columns` — which columns SDMetrics sees and with which
  sdtype: ``numeric`` and ``integer`` are ``numerical``, ``categorical``,
  ``boolean`` and ``datetime`` keep their names, ``id`` is ``id`` (which
  SDMetrics' quality properties leave out). Text columns, ignored columns
  (role ``'ignore'``) and provenance columns (``_rule_id``, ...) are left out of
  the metadata and of the frames, as SDMetrics expects a frame to hold exactly
  the metadata's columns.
- :func:`prepare` — one dtype per sdtype, so SDMetrics compares values and not
  Python types: numbers as ``float64`` (text that is no number becomes
  missing), categories and ids as text in the one form the rest of the product
  uses (``1``, ``1.0`` and ``"1"`` are one category, ``True`` and ``"true"``
  another), datetimes as ``datetime64``; a missing cell stays missing (NaN).
  On frames whose columns already have one dtype each this changes no figure.
- :func:`cap_rows` — a fixed-seed sample of at most ``max_rows`` rows.
- :func:`quality` and :func:`diagnostics` — SDMetrics' own property classes
  (``ColumnShapes``, ``ColumnPairTrends``) configured as ``QualityReport``
  configures them (its real-correlation and real-association thresholds), and
  ``DiagnosticReport`` itself; they return SDMetrics' detail tables and scores.

SDMetrics is imported when first used: it costs about half a second.

Examples
--------
>>> import pandas as pd
>>> from synth_core.data import infer_schema
>>> frame = pd.DataFrame({"x": [1.5, 2.0, None], "c": ["a", "b", "a"], "_rule_id": ["r1"] * 3})
>>> sdmetrics_columns(frame, frame)[1]
{'x': 'numerical', 'c': 'categorical'}
>>> prepare(pd.DataFrame({"c": [1, "1", True, None]}), {"c": "categorical"})["c"].tolist()
['1', '1', 'true', nan]
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..data import Schema, infer_schema
from ..errors import DataError

__all__ = [
    "COMPARED_SDTYPES",
    "MAX_ROWS_PER_SIDE",
    "SDTYPES",
    "TABLE_NAME",
    "cap_rows",
    "category_text",
    "diagnostics",
    "prepare",
    "quality",
    "sdmetrics_columns",
    "sdmetrics_metadata",
    "sdmetrics_version",
]

#: Schema kind -> SDMetrics sdtype. Kinds not listed (``text``) are left out.
SDTYPES = {
    "numeric": "numerical",
    "integer": "numerical",
    "categorical": "categorical",
    "boolean": "boolean",
    "datetime": "datetime",
    "id": "id",
}
#: The sdtypes SDMetrics' column shapes and pair trends compare; it skips the others (``id``).
COMPARED_SDTYPES = ("numerical", "datetime", "categorical", "boolean")
#: Rows per side handed to SDMetrics' quality properties: its ContingencySimilarity groups the rows
#: once per column pair, so the cost grows with rows x pairs (see ``Fidelity``).
MAX_ROWS_PER_SIDE = 5000
#: The table's name in the unified reports' metadata (``{"tables": {TABLE_NAME: ...}}``).
TABLE_NAME = "table"


def sdmetrics_version() -> str:
    """The installed SDMetrics version, recorded in every breakdown that holds its figures."""
    from importlib.metadata import version

    return version("sdmetrics")


def _is_provenance(name: object) -> bool:
    return str(name).startswith("_")


def sdmetrics_columns(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema | None = None,
    columns: Iterable[str] | None = None,
    *,
    require_both: bool = True,
) -> tuple[Schema, dict[str, str]]:
    """(schema, ``{column: sdtype}``): the columns SDMetrics is given, in the schema's order.

    A column is given when its kind has an sdtype (:data:`SDTYPES`), its role is
    not ``'ignore'``, it is not provenance and the real frame has it (and the
    synthetic frame too, unless ``require_both`` is false). Without a schema one
    is inferred from the real rows.

    Raises
    ------
    DataError
        When no column SDMetrics compares (:data:`COMPARED_SDTYPES`) is left,
        naming what is missing.
    """
    if schema is None:
        schema = infer_schema(real[[c for c in real.columns if not _is_provenance(c)]])
    wanted = list(columns) if columns is not None else [c.name for c in schema if c.role != "ignore"]
    sdtypes: dict[str, str] = {}
    absent = []
    for name in wanted:
        if _is_provenance(name) or name not in schema or schema[name].kind not in SDTYPES:
            continue
        if name not in real.columns or (require_both and name not in synthetic.columns):
            absent.append(name)
            continue
        sdtypes[name] = SDTYPES[schema[name].kind]
    order = {name: i for i, name in enumerate(schema.names)}
    sdtypes = dict(sorted(sdtypes.items(), key=lambda kv: order[kv[0]]))
    if not any(t in COMPARED_SDTYPES for t in sdtypes.values()):
        hint = f"; missing from one side: {', '.join(absent)}" if absent else ""
        raise DataError(
            "no numeric, categorical, boolean or datetime column is shared by the real and "
            f"synthetic rows{hint}. Give both frames the real table's columns."
        )
    return schema, sdtypes


def sdmetrics_metadata(sdtypes: dict[str, str], *, unified: bool = False) -> dict:
    """SDMetrics metadata for ``{column: sdtype}``: single-table, or the unified reports' ``{"tables": ...}``.

    Examples
    --------
    >>> sdmetrics_metadata({"x": "numerical"}, unified=True)
    {'tables': {'table': {'columns': {'x': {'sdtype': 'numerical'}}}}}
    """
    table = {"columns": {name: {"sdtype": sdtype} for name, sdtype in sdtypes.items()}}
    return {"tables": {TABLE_NAME: table}} if unified else table


def category_text(value: Any, missing: Any = np.nan) -> Any:
    """One text form per category: 1, 1.0 and "1" are one category, True and "true" another.

    A missing value (None, NaN, NA, NaT) becomes ``missing``.

    Examples
    --------
    >>> [category_text(v) for v in (1, 1.0, "1", True, "TRUE", 2.5)]
    ['1', '1', '1', 'true', 'true', '2.5']
    """
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return missing
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value)
    lowered = text.lower()
    return lowered if lowered in ("true", "false") else text


def prepare(frame: pd.DataFrame, sdtypes: dict[str, str]) -> pd.DataFrame:
    """The columns of ``sdtypes`` that ``frame`` has, one dtype per sdtype, missing cells NaN (or NaT)."""
    out = {}
    for name, sdtype in sdtypes.items():
        if name not in frame.columns:
            continue
        s = frame[name]
        if sdtype == "numerical":
            out[name] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif sdtype == "datetime":
            if pd.api.types.is_datetime64_any_dtype(s):
                out[name] = s
            else:
                out[name] = pd.to_datetime(
                    s.astype(object).where(s.notna(), None), errors="coerce", format="mixed"
                )
        else:
            out[name] = _texts(s)
    return pd.DataFrame(out, index=frame.index)


#: Value kinds whose distinct values never compare equal across types (``True == 1`` would merge under
#: hashing), so a column of them can be turned into text once per distinct value.
_UNMIXED = ("string", "boolean", "integer", "floating", "mixed-integer-float", "decimal", "empty")


def _texts(s: pd.Series) -> pd.Series:
    """:func:`category_text` of every cell, once per distinct value where that is safe."""
    values = s.astype(object)
    if pd.api.types.infer_dtype(values, skipna=True) not in _UNMIXED:
        return pd.Series([category_text(v) for v in values], index=s.index, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([category_text(v) for v in uniques] + [np.nan], dtype=object)
    return pd.Series(texts[codes], index=s.index, dtype=object)


def cap_rows(frame: pd.DataFrame, max_rows: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` when it has at most ``max_rows`` rows, else that many drawn by ``rng`` (original order)."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]


def _records(details: pd.DataFrame) -> list[dict]:
    """SDMetrics' detail table as plain records: NaN scores kept as NaN, an empty ``Error`` as None."""
    rows = []
    for rec in details.to_dict(orient="records"):
        err = rec.get("Error")
        rec["Error"] = None if err is None or (isinstance(err, float) and math.isnan(err)) else str(err)
        rows.append(rec)
    return rows


@contextmanager
def _sdmetrics_calls():
    """A context in which SDMetrics' computations run.

    Two scipy warnings are silenced here, rather than printed on a page or
    raised by a test's ``filterwarnings = error`` (which would turn the column
    or pair into an error inside SDMetrics' loop and change the figure):

    - ``pearsonr``'s ``ConstantInputWarning`` / ``NearConstantInputWarning``
      when a column pair becomes constant only after SDMetrics drops the rows
      missing either value: the correlation is then NaN, which SDMetrics turns
      into a NaN pair score; the warning says nothing more than that NaN.
    - ``ks_2samp``'s "Exact calculation unsuccessful. Switching to
      method=asymp." (``RuntimeWarning``, large samples with ties): it concerns
      the p-value only; ``KSComplement`` uses the statistic, the same either way.
    - ``ks_2samp``'s ``SmallSampleWarning`` (newer scipy) when one side of a
      column has no value left once SDMetrics drops the missing cells: the
      statistic is NaN, so the column's score is NaN, which the breakdown
      explains in a ``note``.
    """
    from scipy.stats import ConstantInputWarning, NearConstantInputWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConstantInputWarning)
        warnings.filterwarnings("ignore", category=NearConstantInputWarning)
        warnings.filterwarnings(
            "ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning
        )
        # SmallSampleWarning is a RuntimeWarning that scipy.stats does not export: matched by its text
        warnings.filterwarnings(
            "ignore", message="One or more sample arguments is too small", category=RuntimeWarning
        )
        yield


def quality(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    sdtypes: dict[str, str],
    *,
    shapes: bool = True,
    pairs: Sequence[tuple[str, str]] | None | bool = True,
) -> dict:
    """SDMetrics' column shapes and column pair trends of two prepared frames.

    Parameters
    ----------
    real, synthetic : DataFrame
        Prepared frames (:func:`prepare`) holding exactly the columns of ``sdtypes``.
    sdtypes : dict
        ``{column: sdtype}`` (the metadata).
    shapes : bool
        Compute the Column Shapes property.
    pairs : bool or list of (str, str)
        ``True``: every column pair, as ``QualityReport`` does; a list: only
        these pairs (in this order); ``False``: no pair trends.

    Returns
    -------
    dict
        ``{"column_shapes": {"score", "details", "seconds"}, "pair_trends":
        {"score", "details", "real_correlation_threshold",
        "real_association_threshold", "seconds"}}``
        (the parts asked for): ``score`` is the property's score exactly as
        ``QualityReport.get_properties()`` gives it, ``details`` its
        ``get_details`` table as records.
    """
    from sdmetrics.reports import QualityReport
    from sdmetrics.reports.single_table._properties import ColumnPairTrends, ColumnShapes

    settings = QualityReport()  # SDMetrics' defaults: thresholds and its own row subsample
    metadata = sdmetrics_metadata(sdtypes)
    out: dict[str, dict] = {}
    with _sdmetrics_calls():
        if shapes:
            t0 = time.perf_counter()
            prop = ColumnShapes()
            prop.num_rows_subsample = settings.num_rows_subsample
            score = prop.get_score(real, synthetic, metadata)
            out["column_shapes"] = {
                "score": float(score),
                "details": _records(prop.details),
                "seconds": time.perf_counter() - t0,
            }
        if pairs is not False:
            t0 = time.perf_counter()
            prop = ColumnPairTrends()
            prop.num_rows_subsample = settings.num_rows_subsample
            prop.real_correlation_threshold = settings.real_correlation_threshold
            prop.real_association_threshold = settings.real_association_threshold
            # Only the pairs asked for: the property's own loop, given SDMetrics' ``column_pairs``.
            prop.details = prop._generate_details(
                real, synthetic, metadata, column_pairs=None if pairs is True else list(pairs)
            )
            score = prop._compute_average() if len(prop.details) else float("nan")
            out["pair_trends"] = {
                "score": float(score),
                "details": _records(prop.details),
                "real_correlation_threshold": float(settings.real_correlation_threshold),
                "real_association_threshold": float(settings.real_association_threshold),
                "seconds": time.perf_counter() - t0,
            }
    return out


def diagnostics(real: pd.DataFrame, synthetic: pd.DataFrame, sdtypes: dict[str, str]) -> dict:
    """SDMetrics' ``DiagnosticReport`` (data validity, data structure) of two prepared frames.

    Returns ``{"score", "properties": {name: score}, "details": {name: records}}``
    with the report's overall score and the properties it computed (the ones a
    single table without constraints has: ``Data Validity`` and
    ``Data Structure``).
    """
    from sdmetrics.reports import DiagnosticReport

    report = DiagnosticReport()
    with _sdmetrics_calls():
        report.generate(
            {TABLE_NAME: real},
            {TABLE_NAME: synthetic},
            sdmetrics_metadata(sdtypes, unified=True),
            verbose=False,
        )
    props = report.get_properties()
    scores = dict(zip(props["Property"], props["Score"]))
    details = {name: report.get_details(name) for name in scores}
    computed = [name for name in scores if len(details[name])]  # a skipped property has no details
    return {
        "score": float(report.get_score()),
        "properties": {name: float(scores[name]) for name in computed},
        "details": {
            name: _records(details[name].drop(columns="Table", errors="ignore")) for name in computed
        },
    }
