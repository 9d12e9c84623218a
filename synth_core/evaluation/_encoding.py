"""One encoding of mixed-type rows, shared by every metric and by utility.

Two forms:

- :func:`model_pipeline` — what a downstream model sees, as in the benchmark
  protocol: categorical columns imputed with a constant and ordinal-encoded
  (unknown values -> -1), numeric columns median-imputed, inside a scikit-learn
  ``Pipeline`` fitted on the training frame.
- :class:`RowEncoder` — a dense numeric matrix for distances, detection and
  t-SNE: numerics scaled by the real rows' robust range, categories one-hot,
  missing flagged; fitted on real rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

__all__ = ["split_columns", "model_pipeline", "default_model", "RowEncoder", "align_frame", "label_strings",
           "row_losses"]


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
    return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v)).to_numpy(dtype=object)


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


def default_model(task: str, random_state: int | None = 0):
    """DATE's evaluation model: a default decision tree."""
    if task == "classification":
        return DecisionTreeClassifier(random_state=random_state)
    return DecisionTreeRegressor(random_state=random_state)


def model_pipeline(schema, features, task: str, model=None, random_state: int | None = 0) -> Pipeline:
    """Encoding + model, fitted later on the training frame (real + added rows)."""
    numeric, categorical = split_columns(schema, features)
    transformers = []
    if numeric:
        transformers.append(("num", SimpleImputer(strategy="median"), numeric))
    if categorical:
        transformers.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
        ]), categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    if model is None:
        model = default_model(task, random_state)
    else:
        from sklearn.base import clone

        model = clone(model)
        if "random_state" in model.get_params():
            model.set_params(random_state=random_state)
    return Pipeline([("encode", pre), ("model", model)])


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

    def fit(self, real: pd.DataFrame) -> "RowEncoder":
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


def row_losses(schema, features, task: str, train: pd.DataFrame, evaluate: pd.DataFrame, target: str, *,
               model=None, random_state: int | None = 0, like: pd.DataFrame | None = None) -> np.ndarray:
    """Fit the downstream pipeline on ``train``; per-row loss on ``evaluate``.

    0/1 error for classification (labels compared as :func:`label_strings`), squared error for
    regression. ``like`` gives the column types to align to (default ``train``). Every place that
    scores "real rows plus some rows" on held-out rows goes through here.
    """
    like = train if like is None else like
    pipe = model_pipeline(schema, features, task, model, random_state=random_state)
    X, X_eval = align_frame(train, like, features), align_frame(evaluate, like, features)
    if task == "classification":
        pipe.fit(X, label_strings(train[target]))
        return (pipe.predict(X_eval) != label_strings(evaluate[target])).astype(float)
    pipe.fit(X, pd.to_numeric(train[target], errors="coerce").to_numpy(dtype=float))
    return (pd.to_numeric(evaluate[target], errors="coerce").to_numpy(dtype=float) - pipe.predict(X_eval)) ** 2
