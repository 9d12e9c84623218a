"""How mixed-type rows become numbers, shared by every metric, model and generator.

- :func:`label_strings` — class labels as text, so 1, 1.0 and "1" are one class.
- :func:`split_columns` — numeric and categorical columns by the Schema's kinds.
- :func:`align_frame` — a frame's columns in the types of another's (numbers as floats,
  categories as objects), before a model sees them.
- :class:`RowEncoder` — a dense numeric matrix for distances, detection and
  t-SNE: numerics scaled by the real rows' robust range, categories one-hot,
  missing flagged; fitted on real rows only.

What a downstream model sees (its pipeline and per-row losses) is in :mod:`synth_core.models`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["split_columns", "RowEncoder", "align_frame", "label_strings"]


def label_strings(values) -> np.ndarray:
    """Class labels as text, with 1, 1.0 and "1" all written "1" (a float column from a concat or a
    missing cell must not turn class 1 into a class "1.0")."""
    s = pd.Series(values)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        num = s.astype(float)
        integral = num.notna() & (np.mod(num.fillna(0), 1) == 0)
        out = num.astype(str)
        out[integral] = num[integral].astype(np.int64).astype(str)
        return out.where(num.notna(), None).to_numpy(dtype=object)
    return (
        s.astype(object)
        .where(s.notna(), None)
        .map(lambda v: v if v is None else str(v))
        .to_numpy(dtype=object)
    )


def split_columns(schema, columns) -> tuple[list[str], list[str]]:
    """(numeric, categorical) among ``columns`` by the Schema's kinds."""
    numeric, categorical = [], []
    for col in columns:
        spec = schema[col] if col in schema else None
        if spec is not None and spec.is_numeric:
            numeric.append(col)
        else:
            categorical.append(col)
    return numeric, categorical


def align_frame(frame: pd.DataFrame, like: pd.DataFrame, columns) -> pd.DataFrame:
    """``frame[columns]`` with categorical cells as objects and numbers as floats like ``like``."""
    out = frame[list(columns)].copy()
    for col in columns:
        if pd.api.types.is_numeric_dtype(like[col]) and not pd.api.types.is_bool_dtype(like[col]):
            out[col] = pd.to_numeric(out[col], errors="coerce")
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), np.nan)
    return out


class RowEncoder:
    """Dense numeric encoding of mixed rows, fitted on real rows.

    Numerics: (x - median) / IQR-based scale, missing -> 0 plus a missing flag.
    Categories: one-hot over the real rows' values (unseen -> all zeros).
    """

    def __init__(self, schema, columns):
        self.schema = schema
        self.columns = list(columns)

    def fit(self, real: pd.DataFrame) -> RowEncoder:
        self.numeric_, self.categorical_ = split_columns(self.schema, self.columns)
        self.center_, self.scale_, self.flags_ = {}, {}, []
        for col in self.numeric_:
            x = pd.to_numeric(real[col], errors="coerce")
            q1, med, q3 = (x.quantile(q) for q in (0.25, 0.5, 0.75))
            scale = (q3 - q1) or (x.std() if x.std() > 0 else 1.0)
            self.center_[col] = 0.0 if pd.isna(med) else float(med)
            self.scale_[col] = float(scale) if pd.notna(scale) and scale > 0 else 1.0
            if x.isna().any():
                self.flags_.append(col)
        self.levels_ = {col: list(pd.unique(real[col].dropna().astype(str))) for col in self.categorical_}
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for col in self.numeric_:
            x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            z = (x - self.center_[col]) / self.scale_[col]
            parts.append(np.nan_to_num(np.clip(z, -20, 20), nan=0.0))
        for col in self.flags_:
            parts.append(frame[col].isna().to_numpy(dtype=float))
        for col in self.categorical_:
            values = frame[col].astype(str).where(frame[col].notna(), None).to_numpy()
            for level in self.levels_[col]:
                parts.append((values == level).astype(float))
        if not parts:
            return np.zeros((len(frame), 0))
        return np.column_stack(parts)

    def fit_transform(self, real: pd.DataFrame) -> np.ndarray:
        return self.fit(real).transform(real)
