"""Synthetic rows from an LLM: exemplar prompts, constrained decoding, strict parsing, counted rejections.

Two text forms for rows, written and read by this module only:

``'csv'``
    A header line, then one row per line, fields separated by ``,``; strings
    are JSON string literals (``"Private"``), numbers have the column's
    decimals, booleans are ``true``/``false``, a missing cell is empty. About
    22 tokens per row for 8 numeric columns on Gemma's digit-wise tokenizer.
``'jsonl'``
    One JSON object per line, keys in column order; three to six times the tokens.

:func:`generate_rows` asks for ``rows_per_call`` rows per call with a few
exemplar rows that satisfy the rule, under a GBNF grammar built from the
Schema and the rule (embedded / llama.cpp servers), or a JSON schema of rows
(chat endpoints), or nothing. :func:`parse_rows` is the safety net either way:
LLM output is untrusted, never raises, and each rejected line is kept with its
reason (see :data:`REJECTION_REASONS`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._frames import concat_rows
from ..errors import GenerationError
from . import prompts
from ._domain import encode_value, generated_columns
from .budget import Dial, fit_prompt, prompt_budget
from .grammar import row_grammar, rows_json_schema

__all__ = [
    "RowBatch",
    "generate_rows",
    "parse_rows",
    "format_rows",
    "describe_columns",
    "hidden_categories",
    "REJECTION_REASONS",
    "FORMATS",
    "SHAPES",
    "stratified_rows",
]

FORMATS = ("csv", "jsonl")
#: Prompt shapes: ``'rows'`` (a rule and exemplar rows) and ``'dgr'`` (DATE's DGR-based examples: other rules'
#: rows first, one block per rule, then the rule to write for with exemplars stratified by the target).
SHAPES = ("rows", "dgr")

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

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')


# --------------------------------------------------------------------------- writing


def _decimals(spec) -> int:
    return 0 if spec.kind == "integer" else min(max(int(spec.decimals or 0), 0), 6)


def format_rows(
    frame: pd.DataFrame, *, schema, columns: list[str], fmt: str = "csv", header: bool = True
) -> list[str]:
    """Render rows as prompt lines (CSV with a header line, or JSON lines).

    Examples
    --------
    >>> from synth_core.data import infer_schema
    >>> df = pd.DataFrame({"age": [30, 41], "job": ["admin.", 'say "hi"']})
    >>> format_rows(df, schema=infer_schema(df), columns=["age", "job"])
    ['age,job', '30,"admin."', '41,"say \\\\"hi\\\\""']
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    decs = [_decimals(schema[c]) for c in columns]
    keys = [json.dumps(c, ensure_ascii=False) for c in columns]
    lines = [",".join(_header_field(c) for c in columns)] if fmt == "csv" and header else []
    for values in frame[columns].itertuples(index=False, name=None):
        cells = [encode_value(_scalar(v), d) for v, d in zip(values, decs, strict=True)]
        if fmt == "csv":
            lines.append(",".join(cells))
        else:
            lines.append(
                "{" + ", ".join(f"{k}: {c or 'null'}" for k, c in zip(keys, cells, strict=True)) + "}"
            )
    return lines


def _header_field(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_. -]*", name) else json.dumps(name, ensure_ascii=False)


def _scalar(v):
    if isinstance(v, np.generic):
        v = v.item()
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def describe_columns(schema, columns: list[str], *, max_categories: int = 20) -> str:
    """One line per column for prompts: kind and range or categories (categories JSON-quoted, as data).

    At most ``max_categories`` categories are listed per column (``0``: only how many there are).

    Examples
    --------
    >>> from synth_core.data import infer_schema
    >>> schema = infer_schema(pd.DataFrame({"job": list("abcab"), "age": [20, 30, 40, 50, 60]}))
    >>> print(describe_columns(schema, ["job", "age"], max_categories=2))
    - "job": categorical, one of "a", "b", … (3 in all)
    - "age": integer, 20 to 60
    >>> print(describe_columns(schema, ["job"], max_categories=0))
    - "job": categorical, 3 categories
    """
    lines = []
    for col in columns:
        spec = schema[col]
        if spec.kind in ("categorical", "boolean") and max_categories <= 0 and spec.categories:
            what = f"{spec.kind}, {len(spec.categories)} categories"
        elif spec.kind in ("categorical", "boolean"):
            cats = [encode_value(_scalar(v)) for v in spec.categories[:max_categories]]
            more = f", … ({len(spec.categories)} in all)" if len(spec.categories) > max_categories else ""
            what = f"{spec.kind}, one of {', '.join(cats)}{more}"
        elif spec.kind in ("integer", "numeric") and spec.min is not None:
            d = _decimals(spec)
            what = f"{spec.kind}, {encode_value(spec.min, d)} to {encode_value(spec.max, d)}"
            if d:
                what += f", {d} decimal(s)"
        else:
            what = spec.kind
        role = " (target)" if spec.role == "target" else ""
        lines.append(f"- {json.dumps(col, ensure_ascii=False)}{role}: {what}")
    return "\n".join(lines)


def hidden_categories(schema, columns, max_categories: int) -> int:
    """How many category values :func:`describe_columns` leaves out at ``max_categories``."""
    total = 0
    for col in columns:
        spec = schema[col]
        if spec.kind in ("categorical", "boolean"):
            total += max(len(spec.categories) - max(max_categories, 0), 0)
    return total


def category_dial(schema, columns, steps=(20, 8, 3, 0), *, name: str = "category values"):
    """A :class:`~synth_core.llm.budget.Dial` over ``describe_columns``'s ``max_categories``."""
    from .budget import Dial

    full = hidden_categories(schema, columns, steps[0])
    listed = sum(len(schema[c].categories) for c in columns if schema[c].kind in ("categorical", "boolean"))
    return Dial(
        name, steps, left_out=lambda k: hidden_categories(schema, columns, k) - full, total=listed - full
    )


# --------------------------------------------------------------------------- reading


def _split_csv(line: str) -> list | None:
    """Fields of one CSV-form line, decoded; ``None`` when the quoting is broken."""
    out, pos, n = [], 0, len(line)
    while True:
        while pos < n and line[pos] == " ":
            pos += 1
        if pos < n and line[pos] == '"':
            m = _QUOTED.match(line, pos)
            if not m:
                return None
            try:
                out.append(json.loads(m.group()))
            except ValueError:
                return None
            pos = m.end()
            while pos < n and line[pos] == " ":
                pos += 1
        else:
            end = line.find(",", pos)
            end = n if end < 0 else end
            token = line[pos:end].strip()
            if '"' in token:
                return None
            out.append(_bare(token))
            pos = end
        if pos >= n:
            return out
        if line[pos] != ",":
            return None
        pos += 1


def _bare(token: str):
    if token == "":
        return None
    low = token.lower()
    if low in ("true", "false"):
        return low == "true"
    if _NUMBER.fullmatch(token):
        return int(token) if "." not in token else float(token)
    return token


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
                    v = _scalar(v)
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
            if isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
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
        v = _scalar(v)
        if v is None:
            out.append(None)
        elif spec.kind in ("integer", "numeric"):
            try:
                out.append(round(float(v), _decimals(spec) if spec.kind == "numeric" else 0))
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


def _frame(records: list[dict], columns, schema, dtypes) -> pd.DataFrame:
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


def _check_records(
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
    frame = _frame(good, columns, schema, dtypes)
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


def _decode_lines(text: str, fmt: str) -> list[tuple[str, object]]:
    items = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if fmt == "csv":
            items.append((raw, _split_csv(line)))
        else:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            items.append((raw, obj if isinstance(obj, dict) else None))
    return items


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
    items = _decode_lines(text, fmt)
    frame, rejected, _ = _check_records(
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


def _decode_chat_rows(text: str) -> list[tuple[str, object]]:
    """Rows of a chat reply ``{"rows": [...]}`` (a bare list is accepted too); one item per row."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    try:
        doc = json.loads(t)
    except ValueError:
        return _decode_lines(text, "jsonl") or [(text, None)]
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        return [(text, None)]
    return [(json.dumps(r, ensure_ascii=False), r if isinstance(r, dict) else None) for r in rows]


def stratified_rows(frame: pd.DataFrame, k: int, target: str, rng) -> pd.DataFrame:
    """``k`` rows of ``frame`` stratified by ``target`` (DATE's "stratified sampling" of example rows).

    Strata are the target's values, or its quartiles for a number with more than 10 values. Each stratum
    gets a share of the ``k`` rows proportional to its rows (largest remainder), at least one when ``k``
    allows, never more than it has; the rows come back in random order.

    Examples
    --------
    >>> df = pd.DataFrame({"x": range(10), "y": ["a"] * 8 + ["b"] * 2})
    >>> sorted(stratified_rows(df, 5, "y", np.random.default_rng(0))["y"])
    ['a', 'a', 'a', 'a', 'b']
    """
    k = min(int(k), len(frame))
    if k <= 0:
        return frame.iloc[:0]
    y = frame[target]
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and y.nunique(dropna=True) > 10:
        codes = pd.qcut(y.rank(method="first"), 4, labels=False).to_numpy()
        codes = np.where(np.isnan(codes), -1, codes).astype(int)
    else:
        codes = pd.factorize(y.astype(object), use_na_sentinel=True)[0]
    strata = [np.flatnonzero(codes == c) for c in np.unique(codes)]
    sizes = np.array([len(p) for p in strata], dtype=float)
    raw = k * sizes / sizes.sum()
    take = np.minimum(np.floor(raw).astype(int), sizes.astype(int))
    if k >= len(strata):
        take = np.maximum(take, 1)
    while take.sum() > k:
        take[int(np.argmax(take))] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    while take.sum() < k:
        grew = False
        for i in order:
            if take.sum() >= k:
                break
            if take[i] < sizes[i]:
                take[i] += 1
                grew = True
        if not grew:
            break
    chosen = np.concatenate([rng.choice(p, size=t, replace=False) for p, t in zip(strata, take) if t > 0])
    return frame.iloc[chosen[rng.permutation(len(chosen))]]


# --------------------------------------------------------------------------- generating


@dataclass
class RowBatch:
    """Rows from :func:`generate_rows` and what they cost.

    Attributes
    ----------
    rows : DataFrame
        Accepted rows (features and target) coerced to the examples' dtypes.
    rejected : list of (str, str)
        Each rejected raw line with its reason.
    reasons : Counter
        Rejections by reason.
    call_ids : list of str
        Every call made for this batch, in order.
    row_call_ids : list of str
        For each accepted row, the call that wrote it (row provenance).
    usage : dict
        This batch only: calls, cache_hits, prompt_tokens, completion_tokens,
        seconds, accepted, rejected, accepted_fraction, tokens_per_accepted_row.
    cancelled : bool
        ``cancel()`` stopped the batch early.
    prompts : list of str
        The first prompt sent (for display and debugging; no secrets are in prompts).
    left_out : Counter
        What prompts left out to fit the model's context, summed over calls
        (``'exemplar rows'``, and ``'category values'`` on chat endpoints).
    shortened_calls : int
        Calls whose prompt was shortened.
    note : str
        The first shortened call's note for a person (``''`` when none was shortened).
    """

    rows: pd.DataFrame
    rejected: list = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    call_ids: list = field(default_factory=list)
    row_call_ids: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    cancelled: bool = False
    prompts: list = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    shortened_calls: int = 0
    note: str = ""

    @property
    def accepted_fraction(self) -> float | None:
        total = len(self.rows) + len(self.rejected)
        return len(self.rows) / total if total else None


def _max_row_chars(schema, columns, fmt: str) -> int:
    """Longest row the grammar allows, in characters (a token bound: Gemma writes digits one token each)."""
    total = 0
    for col in columns:
        spec = schema[col]
        if spec.kind in ("categorical", "boolean"):
            width = max((len(encode_value(_scalar(v))) for v in spec.categories), default=8)
        elif spec.kind in ("integer", "numeric") and spec.min is not None:
            d = _decimals(spec)
            width = len(str(int(max(abs(spec.min), abs(spec.max))))) + 1 + (d + 1 if d else 0)
        else:
            width = 44
        total += width + 1 + (len(json.dumps(col, ensure_ascii=False)) + 3 if fmt == "jsonl" else 0)
    return total + 2


def generate_rows(
    client,
    *,
    schema,
    target: str,
    rule,
    examples: pd.DataFrame,
    n: int,
    real_rows: pd.DataFrame | None = None,
    fmt: str = "csv",
    tag: str | None = None,
    rows_per_call: int = 5,
    n_examples: int = 10,
    max_calls: int | None = None,
    start_sample: int = 0,
    use_constraints: bool = True,
    table_name: str = "table",
    range_slack: float = 0.1,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    shape: str = "rows",
    blocks=(),
    stratify: bool = False,
    tolerance: str = "",
    real_keys: set | None = None,
) -> RowBatch:
    """Ask the LLM for ``n`` new rows that satisfy ``rule``, few-shot from ``examples``.

    Each call shows up to ``n_examples`` exemplar rows (rows of ``examples``
    that satisfy the rule, else any), drawn afresh per call from the settings'
    seed and the call's sample index (so a replay builds the same prompts and
    is served from the cache), and asks for ``rows_per_call`` rows. Calls run
    in rounds through :meth:`LLMClient.map` (bounded concurrency) until ``n``
    rows are accepted, ``max_calls`` is spent, or ``cancel()`` is true.

    Parameters
    ----------
    client : LLMClient or FakeLLM
    schema : Schema
    target : str
    rule : Rule or None
        ``None`` asks for any rows of the table.
    examples : DataFrame
        Real rows to show (train rows only: never test rows).
    n : int
        Rows wanted.
    real_rows : DataFrame, optional
        Rows a generated row must not copy (default: ``examples``).
    fmt : {'csv', 'jsonl'}
        Row text form for completion prompts (chat endpoints always use JSON).
    tag : str, optional
        Accounting tag (default: the rule's id).
    rows_per_call, n_examples : int
    max_calls : int, optional
        Default ``3 * ceil(n / rows_per_call) + 2``.
    start_sample : int
        First sample index; give later iterations other indices to get new rows
        rather than cached ones.
    use_constraints : bool
        Send the grammar / JSON schema (turn off to measure what it brings).
    table_name : str
        Named in the prompt's comment line.
    range_slack : float
        See :func:`parse_rows`.
    progress : callable, optional
        ``progress(fraction, message)`` in the calling thread.
    cancel : callable, optional
        Checked before each call; the rows so far are returned.
    shape : {'rows', 'dgr'}
        ``'dgr'``: DATE's DGR-based prompt (see :data:`SHAPES`): ``blocks`` first, then the rule's
        exemplars; CSV rows on completion endpoints, JSON on chat endpoints.
    blocks : sequence of (str, DataFrame)
        ``'dgr'`` only: the other DGR-based examples (rule text, its rows), shown before the rule written
        for. Fewer rows per block are shown when the prompt would not fit the context.
    stratify : bool
        Draw the exemplars stratified by the target (:func:`stratified_rows`) instead of at random.
    tolerance : str
        ``'dgr'`` only: the shared model's error bound as shown in the prompt (e.g. ``'0.05'``).
    real_keys : set, optional
        ``real_row_keys(real_rows, schema, generated columns)`` computed once by a caller that makes many
        one-call batches on the same real rows (it is most of a call's CPU time on a few thousand rows);
        read only. Default: computed from ``real_rows``.

    Returns
    -------
    RowBatch

    Raises
    ------
    GenerationError
        Bad arguments (unknown format, target or columns missing from
        ``examples``, a rule no row inside the observed ranges can satisfy).
    ContextLengthError
        The header and one exemplar row with the answer do not fit the model's
        context (an :class:`~synth_core.errors.LLMError`). Fewer exemplars
        than ``n_examples`` are shown when all would not fit
        (:attr:`RowBatch.left_out`).
    LLMError
        From the client, when the endpoint fails.
    """
    if fmt not in FORMATS:
        raise GenerationError(f"row format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if shape not in SHAPES:
        raise GenerationError(f"prompt shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    if shape == "dgr" and fmt != "csv" and client.api != "chat":
        raise GenerationError("the DGR-based prompt is written for CSV rows (completion) or chat endpoints")
    if n < 1 or rows_per_call < 1 or n_examples < 1:
        raise GenerationError("n, rows_per_call and n_examples must be at least 1")
    if target not in schema:
        raise GenerationError(f"target {target!r} is not a column of the schema")
    columns = generated_columns(schema, target)
    missing = [c for c in columns if c not in examples.columns]
    if missing:
        raise GenerationError(
            f"the example rows lack column(s) {', '.join(map(repr, missing))}: pass rows of the same table"
        )
    if len(examples) == 0:
        raise GenerationError("no example rows: the LLM needs a few real rows to continue")
    tag = tag if tag is not None else (getattr(rule, "id", "") or "")
    pool = examples
    if rule is not None:
        matching = examples[rule.mask(examples)]
        if len(matching):
            pool = matching
    dtypes = {c: examples[c].dtype for c in columns}
    if real_keys is None:
        real_keys = real_row_keys(examples if real_rows is None else real_rows, schema, columns)
    rule_text = _one_line(rule.text) if rule is not None else "TRUE"
    api = client.api
    constrain = client.constrain if use_constraints else "none"
    try:
        if api == "completion" and constrain == "grammar":
            grammar = row_grammar(schema, columns, rule, target=target, fmt=fmt, n_rows=rows_per_call)
        else:
            grammar = None
        json_schema = (
            rows_json_schema(schema, columns, rule, target=target, n_rows=rows_per_call)
            if api == "chat" and constrain == "json_schema"
            else None
        )
    except ValueError as exc:
        raise GenerationError(f"cannot generate rows for rule {rule_text!r}: {exc}") from exc
    seed = client.settings.seed if client.settings.seed is not None else 0
    max_calls = max_calls if max_calls is not None else 3 * math.ceil(n / rows_per_call) + 2

    row_bound = _max_row_chars(schema, columns, "jsonl" if api == "chat" else fmt)

    fix = (
        f"Its irreducible part is the {len(columns)} columns' header and one exemplar row: use an endpoint "
        "with a larger context (SYNTH_LLM_CONTEXT / LLMSettings.context_tokens), a table with fewer columns, "
        "or fewer rows per call."
    )

    def build(sample: int):
        """(request, max_tokens, fitted): exemplars dropped from the end until prompt + answer fit."""
        rng = np.random.default_rng([abs(seed), sample])
        k = min(n_examples, len(pool))
        if stratify:
            ex = stratified_rows(pool, k, target, rng)
        else:
            ex = pool.iloc[rng.choice(len(pool), size=k, replace=False)]
        row_fmt = "jsonl" if api == "chat" else fmt
        lines = format_rows(ex, schema=schema, columns=columns, fmt=row_fmt)
        shown_blocks = []
        for text, rows in blocks if shape == "dgr" else ():
            if len(rows) == 0:
                continue
            bk = (
                stratified_rows(rows, n_examples, target, rng)
                if stratify
                else rows.iloc[rng.choice(len(rows), size=min(n_examples, len(rows)), replace=False)]
            )
            body_lines = format_rows(bk, schema=schema, columns=columns, fmt=row_fmt, header=False)
            shown_blocks.append((_one_line(str(text)), body_lines))
        per_block = max((len(b) for _, b in shown_blocks), default=0)
        block_dial = Dial(
            "other rules' rows",
            range(per_block, -1, -1),
            left_out=lambda v: sum(max(len(b) - v, 0) for _, b in shown_blocks),
            total=sum(len(b) for _, b in shown_blocks),
        )

        def block_text(count: int) -> str:
            out = []
            for text, body in shown_blocks:
                if count <= 0:
                    break
                out.append(f"# rows where {text}\n" + "".join(line + "\n" for line in body[:count]))
            return "".join(out)

        per_row = max(max(len(line) for line in lines[1:] or lines), row_bound) + 2
        max_tokens = rows_per_call * per_row + 16
        if api == "chat":
            keys = ", ".join(json.dumps(c, ensure_ascii=False) for c in columns)
            max_tokens *= 2

            def render(plan):
                described = describe_columns(schema, columns, max_categories=plan["category values"])
                shown = "\n".join(lines[: plan["exemplar rows"]])
                if shape == "dgr":
                    user = prompts.DGR_ROWS_CHAT_USER.render(
                        columns=described,
                        target=json.dumps(target, ensure_ascii=False),
                        tolerance=tolerance or "n/a",
                        blocks=block_text(plan["other rules' rows"]),
                        rule=rule_text,
                        examples=shown,
                        k=rows_per_call,
                        keys=keys,
                    )
                else:
                    user = prompts.ROWS_CHAT_USER.render(
                        columns=described, rule=rule_text, examples=shown, k=rows_per_call, keys=keys
                    )
                return [
                    {"role": "system", "content": prompts.ROWS_CHAT_SYSTEM.render()},
                    {"role": "user", "content": user},
                ]

            dials = [
                block_dial,
                Dial("exemplar rows", range(len(lines), min(len(lines), 3) - 1, -1)),
                category_dial(schema, columns),
                Dial("exemplar rows", range(min(len(lines), 3), 0, -1)),
            ]
        else:
            header = lines[0] if fmt == "csv" else None
            body = lines[1:] if fmt == "csv" else lines

            def render(plan):
                shown = "\n".join(body[: plan["exemplar rows"]])
                if shape == "dgr":
                    return prompts.DGR_ROWS_COMPLETION_CSV.render(
                        table=_one_line(table_name),
                        target=json.dumps(target, ensure_ascii=False),
                        tolerance=tolerance or "n/a",
                        header=header,
                        blocks=block_text(plan["other rules' rows"]),
                        rule=rule_text,
                        examples=shown,
                    )
                if fmt == "csv":
                    return prompts.ROWS_COMPLETION_CSV.render(
                        table=_one_line(table_name), rule=rule_text, header=header, examples=shown
                    )
                return prompts.ROWS_COMPLETION_JSONL.render(
                    table=_one_line(table_name), rule=rule_text, examples=shown
                )

            dials = [block_dial, Dial("exemplar rows", range(len(body), 0, -1))]
        fitted = fit_prompt(
            render,
            prompt_budget(client, max_tokens),
            dials,
            what=f"the row prompt for rule {rule_text!r}",
            fix=fix,
        )
        return fitted.prompt, max_tokens, fitted

    def one_call(sample: int):
        request, max_tokens, fitted = build(sample)
        if api == "chat":
            if constrain == "json_schema":
                fmt_arg = {
                    "type": "json_schema",
                    "json_schema": {"name": "rows", "schema": json_schema, "strict": True},
                }
            elif constrain in ("json_object", "grammar"):
                fmt_arg = {"type": "json_object"}
            else:
                fmt_arg = None
            comp = client.chat(
                request, response_format=fmt_arg, max_tokens=max_tokens, sample=sample, tag=tag
            )
            return request, comp, _decode_chat_rows(comp.text), fitted
        stop = None if grammar else ["\n\n", "\n#"]
        comp = client.complete(
            request, grammar=grammar, max_tokens=max_tokens, stop=stop, sample=sample, tag=tag
        )
        return request, comp, _decode_lines(comp.text, fmt), fitted

    accepted: list[pd.DataFrame] = []
    batch = RowBatch(rows=pd.DataFrame(columns=columns))
    seen: set = set()
    n_accepted = n_parsed = calls = 0
    sample = start_sample
    tokens = {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0, "cache_hits": 0, "calls": 0}
    while n_accepted < n and calls < max_calls:
        rate = n_accepted / n_parsed if n_parsed else 1.0
        per_call = rows_per_call * max(rate, 0.25)
        k = min(math.ceil((n - n_accepted) / per_call), max_calls - calls)
        jobs = list(range(sample, sample + k))
        sample += k
        done_before = calls

        def on_progress(done, total, _before=done_before, _accepted=n_accepted):
            if progress is not None:
                progress(
                    min(1.0, _accepted / n), f"{_before + done} call(s), {_accepted} of {n} rows accepted"
                )

        results = client.map(one_call, jobs, progress=on_progress, cancel=cancel)
        for request, comp, items, fitted in results:
            calls += 1
            if fitted.left_out:
                batch.left_out.update(fitted.left_out)
                batch.shortened_calls += 1
                batch.note = batch.note or fitted.note
            if not batch.prompts:
                batch.prompts.append(
                    request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
                )
            batch.call_ids.append(comp.call_id)
            tokens["cache_hits" if comp.cached else "calls"] += 1
            if not comp.cached:
                tokens["prompt_tokens"] += comp.prompt_tokens
                tokens["completion_tokens"] += comp.completion_tokens
                tokens["seconds"] += comp.seconds
            frame, rejected, _ = _check_records(
                items,
                schema=schema,
                columns=columns,
                target=target,
                rule=rule,
                real_keys=real_keys,
                seen=seen,
                range_slack=range_slack,
                dtypes=dtypes,
            )
            n_parsed += len(items)
            batch.rejected.extend(rejected)
            if len(frame):
                accepted.append(frame)
                batch.row_call_ids.extend([comp.call_id] * len(frame))
                n_accepted += len(frame)
            client.usage.add_rows(tag, accepted=len(frame), rejected=len(rejected))
        if progress is not None:
            progress(min(1.0, n_accepted / n), f"{calls} call(s), {n_accepted} of {n} rows accepted")
        if len(results) < len(jobs):
            batch.cancelled = True
            break
    rows = concat_rows(accepted, ignore_index=True) if accepted else _frame([], columns, schema, dtypes)
    if len(rows) > n:
        rows = rows.iloc[:n].reset_index(drop=True)
        batch.row_call_ids = batch.row_call_ids[:n]
    batch.rows = rows
    batch.reasons = Counter(reason for _, reason in batch.rejected)
    total_tokens = tokens["prompt_tokens"] + tokens["completion_tokens"]
    n_out = n_accepted + len(batch.rejected)
    batch.usage = {
        **tokens,
        "seconds": round(tokens["seconds"], 3),
        "accepted": len(rows),
        "rejected": len(batch.rejected),
        "accepted_fraction": round(n_accepted / n_out, 4) if n_out else None,
        "tokens_per_accepted_row": round(total_tokens / n_accepted, 1) if n_accepted else None,
    }
    return batch
