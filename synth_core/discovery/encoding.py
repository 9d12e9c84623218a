"""How discovery encodes a table for scikit-learn trees, and reads predicates back on that encoding.

Trees are fitted on an internal encoding, but every predicate is written and
evaluated on the original values (see the package docstring, "Encoding and
missing values"):

* :func:`column_kinds` says which columns are used, as ``'num'`` or ``'cat'``;
* :class:`Encoder` turns those columns into arrays: floats with NaN for a
  missing cell, or category codes (``-1`` missing, ``-2`` a value not seen
  when the encoder was fitted); :class:`Column` is one column's encoding;
* :func:`predicate_mask` evaluates a :class:`~synth_core.rules.Predicate` on
  encoded values with the same semantics as ``Predicate.mask`` on raw ones;
* :func:`numeric_gaps` and :func:`nice_between` pick the roundest threshold
  that splits the train values as a tree's float32 threshold does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..rules import Predicate

__all__ = [
    "Column",
    "Encoder",
    "column_kinds",
    "is_constant",
    "nice_between",
    "numeric_gaps",
    "predicate_mask",
    "py_value",
    "value_key",
]

_NUMERIC_KINDS = ("numeric", "integer")
_CATEGORICAL_KINDS = ("categorical", "boolean")


def py_value(v):
    """A numpy scalar as the Python value it holds (anything else unchanged)."""
    return v.item() if isinstance(v, np.generic) else v


@dataclass
class Column:
    """How one feature column is encoded for the trees."""

    name: str
    kind: str  # 'num' or 'cat'
    sentinel: float = 0.0  # tree value standing for a missing cell
    min32: float = 0.0  # smallest present value, as the tree sees it (float32)
    categories: list = field(default_factory=list)  # cat: code -> original value
    index: pd.Index | None = None  # cat: original value -> code (get_indexer)
    lookup: dict = field(default_factory=dict)  # cat: original value -> code (predicate values)
    sets_only: bool = False  # write ``in {v}`` rather than ``== v`` (see _needs_sets)


class Encoder:
    """Column encodings fitted on one frame; shared by the models of one discovery.

    Numeric columns become float64 arrays with NaN for missing cells.
    Categorical columns become int64 codes: ``-1`` missing, ``-2`` a value not
    seen when the encoder was fitted.
    """

    def __init__(self, frame: pd.DataFrame, kinds: dict[str, str]):
        self.columns: dict[str, Column] = {}
        for name, kind in kinds.items():
            s = frame[name]
            if kind == "num":
                x = _to_float(s)
                present = x[~np.isnan(x)]
                lo, hi = (float(present.min()), float(present.max())) if len(present) else (0.0, 0.0)
                span = hi - lo if math.isfinite(hi - lo) else 0.0
                self.columns[name] = Column(
                    name, "num", sentinel=lo - 2.0 * span - 1.0, min32=float(np.float32(lo))
                )
            else:
                _, uniques = pd.factorize(s, sort=False)
                values = [py_value(v) for v in uniques]
                try:
                    order = sorted(range(len(values)), key=lambda i: value_key(values[i]))
                except TypeError:  # pragma: no cover - incomparable mixes keep their first-seen order
                    order = list(range(len(values)))
                values = [values[i] for i in order]
                col = Column(
                    name,
                    "cat",
                    sentinel=-(len(values) + 1.0),
                    categories=values,
                    index=pd.Index(uniques[order]),
                    sets_only=_needs_sets(s),
                )
                col.lookup = {v: i for i, v in enumerate(values)}
                self.columns[name] = col

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def encode(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Encode the used columns of ``frame``.

        Raises
        ------
        DataError
            When a column the encoder needs is absent.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"the rows lack column(s) {', '.join(map(repr, missing))} that the model uses.")
        out = {}
        for name, col in self.columns.items():
            s = frame[name]
            if col.kind == "num":
                out[name] = _to_float(s)
            else:
                codes = np.asarray(col.index.get_indexer(s), dtype=np.int64)
                isna = s.isna().to_numpy()
                codes[(codes == -1) & ~isna] = -2
                codes[isna] = -1
                out[name] = codes
        return out


def _to_float(s: pd.Series) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        s = pd.to_numeric(s, errors="coerce")  # numbers stored as text; anything else is missing
    return np.asarray(s.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)


def _needs_sets(s: pd.Series) -> bool:
    """True for pandas' nullable boolean dtype, where ``Predicate.mask`` with ``==`` / ``!=``
    matches nothing once a cell is NA (rules.py compares through numpy); ``in`` works."""
    return isinstance(s.dtype, pd.BooleanDtype)


def value_key(v):
    """Sort key for mixed category values: booleans, then numbers, then text."""
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def numeric_gaps(encoder: Encoder, enc: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sorted distinct present values per numeric column (float64 and as float32 sees them)."""
    out = {}
    for name, col in encoder.columns.items():
        if col.kind == "num":
            x = enc[name]
            u = np.unique(x[~np.isnan(x)])
            out[name] = (u, u.astype(np.float32).astype(np.float64))
    return out


def nice_between(a: float, b: float) -> float:
    """The roundest number ``v`` with ``a <= v < b`` (closest to the middle at that roundness)."""
    if not (b > a) or not math.isfinite(a) or not math.isfinite(b):
        return a
    span = b - a
    top = math.floor(math.log10(span)) + 1
    mid = (a + b) / 2.0
    for e in range(top, top - 4, -1):
        step = 10.0**e
        first, last = math.ceil(a / step), math.ceil(b / step) - 1
        if last < first:
            continue
        m = min(max(round(mid / step), first), last)
        for cand in (m, first):
            v = round(cand * step, max(0, -e))
            if a <= v < b:
                return float(v)
    return float(a)


def predicate_mask(pred: Predicate, values: np.ndarray, col: Column) -> np.ndarray:
    """Evaluate ``pred`` on encoded values of its column (same semantics as ``Predicate.mask``)."""
    if col.kind == "num":
        present = ~np.isnan(values)
        op = pred.op
        if op == "is missing":
            return ~present
        if op == "is not missing":
            return present
        if op in ("in", "not in"):
            nums = [float(v) for v in pred.value if isinstance(v, (int, float))]
            hit = np.isin(values, nums) if nums else np.zeros(len(values), dtype=bool)
            return (hit if op == "in" else ~hit) & present
        with np.errstate(invalid="ignore"):
            if op == "between":
                lo, hi = pred.value
                return (values >= lo) & (values <= hi) & present
            fn = {
                "<": np.less,
                "<=": np.less_equal,
                ">": np.greater,
                ">=": np.greater_equal,
                "==": np.equal,
                "!=": np.not_equal,
            }[op]
            return fn(values, pred.value) & present
    present = values != -1
    if pred.op == "is missing":
        return ~present
    if pred.op == "is not missing":
        return present
    if pred.op in ("in", "not in"):
        members = pred.value
    elif pred.op in ("==", "!="):
        members = (pred.value,)
    else:  # pragma: no cover - discovery never writes order comparisons on categories
        raise ValueError(f"cannot evaluate {pred.op!r} on categorical column {col.name!r}")
    codes = [col.lookup[v] for v in members if _hashable(v) and v in col.lookup]
    hit = np.isin(values, codes) if codes else np.zeros(len(values), dtype=bool)
    return hit if pred.op in ("in", "==") else (~hit & present)


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:  # pragma: no cover
        return False
    return True


def column_kinds(frame: pd.DataFrame, schema, names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Encoding kind ('num' / 'cat') per usable column, and the skipped ones."""
    kinds, skipped = {}, []
    for name in names:
        if name not in frame.columns:
            raise DataError(f"feature {name!r} is not a column of the rows.")
        if schema is not None and name in schema:
            kind = schema[name].kind
        else:
            s = frame[name]
            if pd.api.types.is_bool_dtype(s):
                kind = "boolean"
            elif pd.api.types.is_numeric_dtype(s):
                kind = "numeric"
            elif pd.api.types.is_datetime64_any_dtype(s):
                kind = "datetime"
            else:
                kind = "categorical"
        if kind in _NUMERIC_KINDS:
            kinds[name] = "num"
        elif kind in _CATEGORICAL_KINDS:
            kinds[name] = "cat"
        else:
            skipped.append(name)
    return kinds, skipped


def is_constant(a: np.ndarray) -> bool:
    """True when encoded values hold at most one distinct value (missing cells count as one value)."""
    if a.dtype.kind == "f":
        present = a[~np.isnan(a)]
        return len(np.unique(present)) + (1 if len(present) < len(a) else 0) <= 1
    return len(np.unique(a)) <= 1
