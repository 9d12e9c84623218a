"""Which decoded rows are accepted: per-value checks against the Schema, the rule, copies and duplicates.

Rows arrive decoded by :mod:`synth_core.llm.row_text` as ``(raw line, fields
or dict or None)``. :func:`check_records` runs the checks in the order of
:data:`REJECTION_REASONS` and keeps each rejected line with its reason;
:func:`parse_rows` is decoding and checking in one call. LLM output is
untrusted: nothing here raises on it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .row_text import FORMATS, NUMBER, column_decimals, decode_lines, plain_value

__all__ = ["REJECTION_REASONS", "check_records", "parse_rows", "real_row_keys", "typed_frame"]

#: Why a generated line was not accepted, in the order the checks run.
REJECTION_REASONS = (
    "not_a_row",  # not parseable as one row (broken quoting, not a JSON object, a header, prose)
    "wrong_columns",  # wrong number of fields, or JSON keys not exactly the columns
    "bad_value",  # a value of the wrong type (text in a number column, 3.5 in an integer column, ...)
    "unknown_category",  # a category the column has never shown
    "out_of_range",  # a number far outside the observed range (beyond range_slack of the span)
    "missing_value",  # an empty cell in a column that has no missing cells
    "missing_target",  # the target is empty
    "breaks_rule",  # the row does not satisfy the rule it was asked for
    "copy_of_real_row",  # exactly a real row (on the generated columns)
    "duplicate",  # exactly a row already accepted in this batch
)


class _Checker:
    """Per-value checks against the Schema (not the rule): coercion or a rejection reason."""

    def __init__(self, schema, columns, target, range_slack):
        self.specs = {c: schema[c] for c in columns}
        self.target = target
        self.slack = range_slack
        self.cats = {}
        for c, spec in self.specs.items():
            if spec.kind in ("categorical", "boolean"):
                table = {}
                for v in spec.categories:
                    v = plain_value(v)
                    table.setdefault(("v", type(v).__name__, v), v)
                    table.setdefault(("s", str(v).lower() if isinstance(v, bool) else str(v)), v)
                self.cats[c] = table

    def value(self, col, v):
        """(coerced value, None) or (None, reason)."""
        spec = self.specs[col]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            if col == self.target:
                return None, "missing_target"
            return (None, None) if spec.missing_rate > 0 else (None, "missing_value")
        kind = spec.kind
        if kind in ("categorical", "boolean"):
            if isinstance(v, (dict, list)):
                return None, "bad_value"
            table = self.cats[col]
            hit = table.get(("v", type(v).__name__, v))
            if hit is None:
                hit = table.get(("s", str(v).lower() if isinstance(v, bool) else str(v)))
            return (hit, None) if hit is not None or not table else (None, "unknown_category")
        if kind in ("integer", "numeric"):
            if isinstance(v, str) and NUMBER.fullmatch(v.strip()):
                v = float(v) if "." in v else int(v)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return None, "bad_value"
            if kind == "integer":
                if isinstance(v, float) and not v.is_integer():
                    return None, "bad_value"
                v = int(v)
            else:
                v = float(v)
            if spec.min is not None and spec.max is not None:
                span = spec.max - spec.min
                margin = self.slack * (span if span > 0 else max(abs(spec.max), 1.0))
                if v < spec.min - margin or v > spec.max + margin:
                    return None, "out_of_range"
            return v, None
        if isinstance(v, (dict, list)):
            return None, "bad_value"
        return str(v), None


def _row_key(values, specs) -> tuple:
    out = []
    for v, spec in zip(values, specs, strict=True):
        v = plain_value(v)
        if v is None:
            out.append(None)
        elif spec.kind in ("integer", "numeric"):
            try:
                out.append(round(float(v), column_decimals(spec) if spec.kind == "numeric" else 0))
            except (TypeError, ValueError):
                out.append(str(v))
        else:
            out.append(str(v))
    return tuple(out)


def real_row_keys(real_rows: pd.DataFrame | None, schema, columns) -> set:
    """Keys of real rows for the copy check (values normalised as generated rows are)."""
    if real_rows is None or len(real_rows) == 0 or not set(columns) <= set(real_rows.columns):
        return set()
    specs = [schema[c] for c in columns]
    return {_row_key(vals, specs) for vals in real_rows[columns].itertuples(index=False, name=None)}


def typed_frame(records: list[dict], columns, schema, dtypes) -> pd.DataFrame:
    """Checked records as a frame of ``columns``, cast to ``dtypes`` where they fit, else the Schema's types."""
    frame = (
        pd.DataFrame.from_records(records, columns=columns)
        if records
        else pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    )
    for col in columns:
        spec = schema[col]
        want = (dtypes or {}).get(col)
        s = frame[col]
        try:
            if want is not None:
                if pd.api.types.is_integer_dtype(want) and s.isna().any():
                    frame[col] = s.astype("Int64")
                elif pd.api.types.is_bool_dtype(want) and s.isna().any():
                    frame[col] = s.astype("boolean")
                else:
                    frame[col] = s.astype(want)
                continue
        except (TypeError, ValueError):
            pass
        if spec.kind == "integer":
            frame[col] = s.astype("Int64" if s.isna().any() else "int64")
        elif spec.kind == "numeric":
            frame[col] = s.astype("float64")
        else:
            frame[col] = s.astype(object)
    return frame


def check_records(
    items: list[tuple[str, object]],
    *,
    schema,
    columns,
    target,
    rule,
    real_keys: set,
    seen: set,
    range_slack: float,
    dtypes,
) -> tuple[pd.DataFrame, list, list[int]]:
    """Check decoded rows ``(raw, fields-or-dict-or-None)``; returns (frame, rejected, kept item indices)."""
    checker = _Checker(schema, columns, target, range_slack)
    specs = [schema[c] for c in columns]
    rejected, good, good_idx = [], [], []
    header = [str(c) for c in columns]
    for idx, (raw, fields) in enumerate(items):
        if fields is None:
            rejected.append((raw, "not_a_row"))
            continue
        if isinstance(fields, list):
            if len(fields) != len(columns):
                prose = len(fields) == 1 and len(columns) > 1
                reason = (
                    "not_a_row"
                    if prose or [str(f) for f in fields] == header[: len(fields)]
                    else "wrong_columns"
                )
                rejected.append((raw, reason))
                continue
            if [str(f) for f in fields] == header:
                rejected.append((raw, "not_a_row"))
                continue
            record = dict(zip(columns, fields, strict=True))
        elif isinstance(fields, dict):
            if set(fields) != set(columns):
                rejected.append((raw, "wrong_columns"))
                continue
            record = fields
        else:
            rejected.append((raw, "not_a_row"))
            continue
        out, reason = {}, None
        for col in columns:
            v, reason = checker.value(col, record[col])
            if reason:
                break
            out[col] = v
        if reason:
            rejected.append((raw, reason))
            continue
        good.append(out)
        good_idx.append(idx)
    frame = typed_frame(good, columns, schema, dtypes)
    keep = np.ones(len(frame), dtype=bool)
    reasons: list[str | None] = [None] * len(frame)
    if rule is not None and len(frame):
        ok = rule.mask(frame)
        for i in np.flatnonzero(~ok):
            keep[i], reasons[i] = False, "breaks_rule"
    for i, values in enumerate(frame.itertuples(index=False, name=None)):
        if not keep[i]:
            continue
        key = _row_key(values, specs)
        if key in real_keys:
            keep[i], reasons[i] = False, "copy_of_real_row"
        elif key in seen:
            keep[i], reasons[i] = False, "duplicate"
        else:
            seen.add(key)
    for i in np.flatnonzero(~keep):
        rejected.append((items[good_idx[i]][0], reasons[i]))
    kept = [good_idx[i] for i in np.flatnonzero(keep)]
    return frame[keep].reset_index(drop=True), rejected, kept


def parse_rows(
    text: str,
    *,
    schema,
    columns: list[str],
    rule=None,
    real_rows: pd.DataFrame | None = None,
    fmt: str = "csv",
    target: str | None = None,
    range_slack: float = 0.1,
    dtypes: dict | None = None,
    seen: set | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Parse LLM output strictly into rows of ``columns``; never raises on bad output.

    Parameters
    ----------
    text : str
        What the model wrote (blank lines are skipped).
    schema : Schema
    columns : list of str
        Expected columns, in order (CSV fields are positional).
    rule : Rule, optional
        Rows that do not satisfy it are rejected as ``'breaks_rule'``.
    real_rows : DataFrame, optional
        Rows equal to one of these (on ``columns``) are rejected as ``'copy_of_real_row'``.
    fmt : {'csv', 'jsonl'}
    target : str, optional
        Default: the schema's target.
    range_slack : float
        Numbers beyond ``min - slack * span`` or ``max + slack * span`` are ``'out_of_range'``.
    dtypes : dict, optional
        Column dtypes for the result (default from the Schema: int64 / float64 / object).
    seen : set, optional
        Keys of rows accepted earlier (updated in place): equal rows are ``'duplicate'``.

    Returns
    -------
    rows : DataFrame
        Accepted rows, coerced to the schema's types.
    rejected : list of (str, str)
        Each rejected raw line and its reason (one of :data:`REJECTION_REASONS`).

    Examples
    --------
    >>> from synth_core.data import infer_schema
    >>> from synth_core.rules import parse_rule
    >>> real = pd.DataFrame({"age": [20, 30, 40, 50], "job": ["a", "b", "a", "b"]})
    >>> schema = infer_schema(real)
    >>> rows, bad = parse_rows('33,"a"\\n35,"zzz"\\n25,"b"\\n', schema=schema, columns=["age", "job"],
    ...                        rule=parse_rule("age > 30"))
    >>> rows.to_dict("list"), bad
    ({'age': [33], 'job': ['a']}, [('35,"zzz"', 'unknown_category'), ('25,"b"', 'breaks_rule')])
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    target = target if target is not None else schema.target
    items = decode_lines(text, fmt)
    frame, rejected, _ = check_records(
        items,
        schema=schema,
        columns=columns,
        target=target,
        rule=rule,
        real_keys=real_row_keys(real_rows, schema, columns),
        seen=set() if seen is None else seen,
        range_slack=range_slack,
        dtypes=dtypes,
    )
    return frame, rejected
