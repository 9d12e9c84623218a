"""Exports that are safe to open in a spreadsheet.

A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by Excel, LibreOffice and Google Sheets (CSV
injection, OWASP). :func:`neutralize_cell` prefixes such cells with an
apostrophe, unless the cell is a plain number such as ``-3.5`` or ``+1e3``,
which stays a number. Numeric columns are never touched.

Examples
--------
>>> neutralize_cell("=1+1"), neutralize_cell("-3.5"), neutralize_cell("@SUM(A1)")
("'=1+1", '-3.5', "'@SUM(A1)")

Exports for people are one-way: ``'=1+1`` could have been either ``=1+1`` or
``'=1+1`` before. Files this project reads back (the run bundle's CSVs) use the
reversible form instead: :func:`escape_cell` also prefixes cells that already
start with an apostrophe (and writes the empty string as a lone apostrophe),
so :func:`unescape_cell` removes exactly one leading apostrophe.

>>> escape_cell("=1+1"), escape_cell("'quoted"), escape_cell(""), escape_cell("-3.5")
("'=1+1", "''quoted", "'", '-3.5')
>>> [unescape_cell(escape_cell(v)) for v in ("=1+1", "'quoted", "", "-3.5")]
['=1+1', "'quoted", '', '-3.5']
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = [
    "neutralize_cell",
    "safe_frame",
    "to_safe_csv",
    "FORMULA_PREFIXES",
    "escape_cell",
    "unescape_cell",
    "unescape_frame",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralize_cell(value):
    """``value`` with a leading apostrophe when a spreadsheet would run it as a formula.

    Non-strings and plain numbers written as text are returned unchanged.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def escape_cell(value):
    """Reversible :func:`neutralize_cell`: also prefixes a leading apostrophe; ``''`` becomes ``"'"``.

    A cell written by this function starts with an apostrophe exactly when it was changed, so
    :func:`unescape_cell` gives back the original. Non-strings and plain numbers are unchanged.
    """
    if not isinstance(value, str):
        return value
    if value == "" or value.startswith("'"):
        return "'" + value
    return neutralize_cell(value)


def unescape_cell(value):
    """The cell :func:`escape_cell` was given: one leading apostrophe removed, if there is one."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def _is_text(s: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(s)
        or pd.api.types.is_string_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def safe_frame(frame: pd.DataFrame, *, reversible: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are neutralised.

    With ``reversible=True`` cells go through :func:`escape_cell`, undone by :func:`unescape_frame`.
    Numeric, boolean and datetime columns are never touched.
    """
    cell = escape_cell if reversible else neutralize_cell
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if _is_text(s):
            out[col] = s.astype(object).map(cell)
    out.columns = [cell(str(c)) for c in out.columns]
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`safe_frame` (``reversible=True``) in place on a frame read back from CSV; returns it."""
    for col in frame.columns:
        s = frame[col]
        if _is_text(s) and s.map(lambda v: isinstance(v, str) and v.startswith("'")).any():
            frame[col] = s.map(unescape_cell)
    frame.columns = [unescape_cell(c) for c in frame.columns]
    return frame


def to_safe_csv(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """UTF-8 CSV bytes of :func:`safe_frame` (``frame``)."""
    return (
        safe_frame(frame).to_csv(index=index, lineterminator="\r\n").encode("utf-8")
    )  # CR in a cell stays quoted
