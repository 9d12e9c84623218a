"""Values inside a condition: their canonical form, their text, and the masks they give over a column.

* :func:`canonical_value` turns what a :class:`~.model.Predicate` is given into
  its canonical value (finite numbers of bounded size, text, true/false; sets
  sorted and without duplicates) or raises :class:`~synth_core.errors.RuleError`;
* :func:`format_value` and :func:`format_column` write a value and a column
  name as rule text (``IDENTIFIER`` and ``KEYWORDS`` say which names need
  back-quotes; the parser reads names by the same two);
* :func:`compare_mask` and :func:`isin_mask` evaluate one comparison or set
  test over a pandas column with SQL-like semantics (a missing cell never
  matches);
* :func:`describe` and :func:`finite_or_none` are for messages and JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from itertools import islice

import numpy as np
import pandas as pd

from ..errors import RuleError
from .bounds import MAX_NUMBER_DIGITS

__all__ = [
    "IDENTIFIER",
    "KEYWORDS",
    "canonical_value",
    "describe",
    "finite_or_none",
    "format_value",
    "format_column",
    "compare_mask",
    "isin_mask",
]

#: A column name written without back-quotes (unless it is one of ``KEYWORDS``).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: Words of the grammar: a column of that name is written in back-quotes.
KEYWORDS = {"and", "or", "in", "not", "between", "is", "missing", "true", "false"}
_INT_LIMIT = 10**MAX_NUMBER_DIGITS


def canonical_value(op: str, value):
    """The canonical value of a condition with operator ``op`` (raises RuleError when it cannot be one)."""
    if op in ("in", "not in"):
        return _canonical_set(value)
    if op == "between":
        pair = (
            tuple(islice(value, 3))
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))
            else ()
        )
        if len(pair) != 2:
            raise RuleError(f"between needs two bounds (low, high), not {describe(value)}")
        return (_canonical_scalar(pair[0]), _canonical_scalar(pair[1]))
    if op in ("is missing", "is not missing"):
        return None
    return _canonical_scalar(value)


def _canonical_scalar(v):
    """One value of a condition: a finite number of at most MAX_NUMBER_DIGITS digits, text or a boolean."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if abs(v) >= _INT_LIMIT:
            raise RuleError(
                f"a number in a rule has at most {MAX_NUMBER_DIGITS} digits, not {describe(v)}: "
                "write it with an exponent (1.5e120)"
            )
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise RuleError(
                f"rule values must be finite numbers, not {describe(v)}: write the bound as a "
                "number, or leave that side of the condition out"
            )
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v
    raise RuleError(f"rule values must be numbers, text or true/false, not {describe(v)}")


def _sort_key(v):
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _canonical_set(values) -> tuple:
    """Members of ``in`` / ``not in``, sorted, without duplicates; a lone value is a set of one."""
    if isinstance(values, Mapping):
        raise RuleError(f"a set of values must be a list, not {describe(values)}")
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = (values,)
    members = [_canonical_scalar(v) for v in values]
    _refuse_booleans_with_numbers(members)
    return tuple(sorted(set(members), key=_sort_key))


def _refuse_booleans_with_numbers(members: list) -> None:
    """Python takes True for 1 and False for 0, so a set holding both kinds would silently lose members."""
    flag = next((m for m in members if isinstance(m, bool)), None)
    number = next((m for m in members if isinstance(m, (int, float)) and not isinstance(m, bool)), None)
    if flag is not None and number is not None:
        raise RuleError(
            f"a set of values mixes true/false with numbers ({{{format_value(number)}, "
            f"{format_value(flag)}}}): true counts as 1 and false as 0, so one would be lost; "
            "use only true/false for a boolean column, only numbers or text otherwise"
        )


def describe(v) -> str:
    """A short description of any value for a message: never a huge or deeply nested repr."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        digits = int(v.bit_length() * 0.30103) + 1
        return repr(v) if v.bit_length() <= 64 else f"a number of about {digits:,} digits"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return ("infinity" if v > 0 else "-infinity") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:37]) + "..."
    return f"a {type(v).__name__}"


def finite_or_none(v):
    """``v`` unless it is a non-finite float (JSON has no NaN / infinity)."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def format_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("rule values must be finite numbers")
        return repr(v)
    text = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def format_column(name: str) -> str:
    if IDENTIFIER.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def compare_mask(s: pd.Series, op: str, value) -> np.ndarray:
    if isinstance(value, str) or _is_texty(s):
        if op in ("==", "!="):
            hit = isin_mask(s, (value,))
            return hit if op == "==" else ~hit
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            s = pd.to_numeric(s, errors="coerce")
        else:
            s = s.astype(str).where(s.notna())
    if pd.api.types.is_extension_array_dtype(s.dtype):
        s = s.astype(object).where(s.notna(), np.nan)  # nullable dtypes: pd.NA would poison comparisons
        if not isinstance(value, str) and not _is_texty(s.dropna().infer_objects()):
            s = pd.to_numeric(s, errors="coerce")
    arr = s.to_numpy()
    with np.errstate(invalid="ignore"):
        try:
            res = {
                "<": np.less,
                "<=": np.less_equal,
                ">": np.greater,
                ">=": np.greater_equal,
                "==": np.equal,
                "!=": np.not_equal,
            }[op](arr, value)
        except TypeError:
            return np.zeros(len(s), dtype=bool)
    return np.asarray(res, dtype=bool) & s.notna().to_numpy()


def _is_texty(s: pd.Series) -> bool:
    """Object, string or categorical columns (pandas >= 3 reads text as ``str`` dtype)."""
    return (
        pd.api.types.is_object_dtype(s)
        or pd.api.types.is_string_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def isin_mask(s: pd.Series, values: tuple) -> np.ndarray:
    if not _is_texty(s):
        return s.isin(values).to_numpy()
    # object columns may hold numbers written as text or vice versa: compare both ways
    strs = {str(v) for v in values}
    return (s.astype(object).isin(values) | s.astype(str).isin(strs)).to_numpy() & s.notna().to_numpy()
