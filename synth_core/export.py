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
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["neutralize_cell", "safe_frame", "to_safe_csv", "FORMULA_PREFIXES"]

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


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are neutralised."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) \
                or isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(neutralize_cell)
    out.columns = [neutralize_cell(str(c)) for c in out.columns]
    return out


def to_safe_csv(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """UTF-8 CSV bytes of :func:`safe_frame` (``frame``)."""
    return safe_frame(frame).to_csv(index=index).encode("utf-8")
