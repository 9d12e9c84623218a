"""The two text forms of rows: written into prompts, decoded from what the LLM wrote.

Both forms are written and read by this module only:

``'csv'``
    A header line, then one row per line, fields separated by ``,``; strings
    are JSON string literals (``"Private"``), numbers have the column's
    decimals, booleans are ``true``/``false``, a missing cell is empty. About
    22 tokens per row for 8 numeric columns on Gemma's digit-wise tokenizer.
``'jsonl'``
    One JSON object per line, keys in column order; three to six times the tokens.

Chat endpoints answer ``{"rows": [...]}`` (:func:`decode_chat_rows`). Decoding
never raises and judges nothing: a line that is not a row decodes to ``None``;
:mod:`synth_core.llm.row_check` decides what is accepted. The column list of
prompts (:func:`describe_columns`) and the row-length bound that sizes answers
(:func:`max_row_chars`) live here too.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from ._domain import encode_value

__all__ = [
    "FORMATS",
    "NUMBER",
    "column_decimals",
    "format_rows",
    "plain_value",
    "one_line",
    "describe_columns",
    "hidden_categories",
    "category_dial",
    "decode_lines",
    "decode_chat_rows",
    "max_row_chars",
]

FORMATS = ("csv", "jsonl")

#: A number as both forms write it (and as a bare CSV token must look to be read as one).
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')


# --------------------------------------------------------------------------- writing


def column_decimals(spec) -> int:
    """Decimals a column's numbers are written with: 0 for integers, the Schema's decimals (0 to 6) otherwise."""
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
    decs = [column_decimals(schema[c]) for c in columns]
    keys = [json.dumps(c, ensure_ascii=False) for c in columns]
    lines = [",".join(_header_field(c) for c in columns)] if fmt == "csv" and header else []
    for values in frame[columns].itertuples(index=False, name=None):
        cells = [encode_value(plain_value(v), d) for v, d in zip(values, decs, strict=True)]
        if fmt == "csv":
            lines.append(",".join(cells))
        else:
            lines.append(
                "{" + ", ".join(f"{k}: {c or 'null'}" for k, c in zip(keys, cells, strict=True)) + "}"
            )
    return lines


def _header_field(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_. -]*", name) else json.dumps(name, ensure_ascii=False)


def plain_value(v):
    """A cell as a plain Python value: numpy scalars unwrapped, NA / NaT / NaN as ``None``."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def one_line(text: str) -> str:
    """``text`` on one line: CR and LF written as ``\\r`` and ``\\n`` (rule texts and names in prompts)."""
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
            cats = [encode_value(plain_value(v)) for v in spec.categories[:max_categories]]
            more = f", … ({len(spec.categories)} in all)" if len(spec.categories) > max_categories else ""
            what = f"{spec.kind}, one of {', '.join(cats)}{more}"
        elif spec.kind in ("integer", "numeric") and spec.min is not None:
            d = column_decimals(spec)
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


def max_row_chars(schema, columns, fmt: str) -> int:
    """Longest row the grammar allows, in characters (a token bound: Gemma writes digits one token each)."""
    total = 0
    for col in columns:
        spec = schema[col]
        if spec.kind in ("categorical", "boolean"):
            width = max((len(encode_value(plain_value(v))) for v in spec.categories), default=8)
        elif spec.kind in ("integer", "numeric") and spec.min is not None:
            d = column_decimals(spec)
            width = len(str(int(max(abs(spec.min), abs(spec.max))))) + 1 + (d + 1 if d else 0)
        else:
            width = 44
        total += width + 1 + (len(json.dumps(col, ensure_ascii=False)) + 3 if fmt == "jsonl" else 0)
    return total + 2


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
    if NUMBER.fullmatch(token):
        return int(token) if "." not in token else float(token)
    return token


def decode_lines(text: str, fmt: str) -> list[tuple[str, object]]:
    """Completion text as ``(raw line, fields or dict or None)`` per non-blank line (``None``: not a row)."""
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


def decode_chat_rows(text: str) -> list[tuple[str, object]]:
    """Rows of a chat reply ``{"rows": [...]}`` (a bare list is accepted too); one item per row."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    try:
        doc = json.loads(t)
    except ValueError:
        return decode_lines(text, "jsonl") or [(text, None)]
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        return [(text, None)]
    return [(json.dumps(r, ensure_ascii=False), r if isinstance(r, dict) else None) for r in rows]
