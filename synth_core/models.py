"""The analyst's model: named presets, the pipeline a model sees, and per-row losses.

Every check in the product (the label step's auto mode, the amount of rows kept,
MDS quality, the verdict on Compare) trains *the analyst's* model, because rows
that help a decision tree often do nothing for gradient boosting. A model is
given as a preset name, a :class:`ModelSpec`, or any scikit-learn estimator:

========== =========================================================== ==========
name       model                                                       encoding
========== =========================================================== ==========
tree       decision tree (DATE's evaluation model)                     ordinal
linear     logistic regression / ridge regression                      one-hot
forest     random forest, 100 trees                                    ordinal
boosting   HistGradientBoosting (alias ``hgb``)                        ordinal
========== =========================================================== ==========

``ordinal``: numbers median-imputed, categories imputed with a constant and
ordinal-encoded (unseen values -> -1), as in the benchmark protocol of
``../shared/datasets/BASELINES.md``. ``one-hot``: numbers median-imputed with a
missing flag and standardised, categories one-hot (unseen values ignored), which
is what a linear model needs. An estimator passed directly is cloned per fit and
gets one-hot encoding when it is a linear model (its class lives in
``sklearn.linear_model`` or ``sklearn.svm``), ordinal encoding otherwise.

Examples
--------
>>> resolve_model("hgb").name
'boosting'
>>> resolve_model(None).label
'decision tree'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .encoding import align_frame, label_strings, split_columns
from .errors import InvalidParameterError

__all__ = [
    "ModelSpec",
    "MODELS",
    "MODEL_ALIASES",
    "resolve_model",
    "model_pipeline",
    "row_losses",
    "default_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """A downstream model the checks train: how to build it and how it sees rows.

    Attributes
    ----------
    name : str
        Short name (``tree``, ``linear``, ``forest``, ``boosting``, or a class name).
    label : str
        The name a person reads.
    help : str
        One line on what it is and what synthetic rows tend to do for it.
    encoding : {'ordinal', 'onehot'}
    factory : callable
        ``factory(task, random_state)`` returns a fresh unfitted estimator.
    """

    name: str
    label: str
    help: str
    encoding: str
    factory: Callable

    def estimator(self, task: str, random_state: int | None = 0):
        return self.factory(task, random_state)


def _tree(task, rs):
    return (
        DecisionTreeClassifier(random_state=rs)
        if task == "classification"
        else DecisionTreeRegressor(random_state=rs)
    )


def _linear(task, rs):
    return LogisticRegression(max_iter=500) if task == "classification" else Ridge(alpha=1.0)


def _forest(task, rs):
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(n_estimators=100, random_state=rs, n_jobs=1)


def _boosting(task, rs):
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return cls(random_state=rs)


MODELS: dict[str, ModelSpec] = {
    "tree": ModelSpec(
        "tree",
        "decision tree",
        "One decision tree (DATE's evaluation model); extra labelled rows help it most.",
        "ordinal",
        _tree,
    ),
    "linear": ModelSpec(
        "linear",
        "linear model",
        "Logistic regression (classification) or ridge regression, on one-hot categories and "
        "standardised numbers; rarely changed by extra rows.",
        "onehot",
        _linear,
    ),
    "forest": ModelSpec(
        "forest",
        "random forest",
        "100 trees on bootstrap samples; helped less than one tree.",
        "ordinal",
        _forest,
    ),
    "boosting": ModelSpec(
        "boosting",
        "gradient boosting",
        "HistGradientBoosting, as strong as the label teacher: synthetic rows seldom help it.",
        "ordinal",
        _boosting,
    ),
}
#: Other names people use for the presets.
MODEL_ALIASES = {
    "dt": "tree",
    "decision-tree": "tree",
    "logistic": "linear",
    "ridge": "linear",
    "rf": "forest",
    "random-forest": "forest",
    "hgb": "boosting",
    "gbm": "boosting",
    "gradient-boosting": "boosting",
}


def _is_linear(estimator) -> bool:
    module = type(estimator).__module__
    return module.startswith(("sklearn.linear_model", "sklearn.svm"))


def resolve_model(model) -> ModelSpec:
    """A :class:`ModelSpec` from a preset name, a spec, an estimator, or None (the decision tree).

    Raises
    ------
    InvalidParameterError
        For an unknown name or something that is not an estimator.
    """
    if model is None:
        return MODELS["tree"]
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        key = MODEL_ALIASES.get(model.strip().lower(), model.strip().lower())
        if key not in MODELS:
            names = ", ".join(MODELS) + " (or " + ", ".join(sorted(MODEL_ALIASES)) + ")"
            raise InvalidParameterError(
                f"unknown model {model!r}; choose one of {names}, or pass a scikit-learn estimator."
            )
        return MODELS[key]
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise InvalidParameterError(
            f"the model must be a preset name ({', '.join(MODELS)}) or a scikit-learn "
            f"estimator, not {type(model).__name__}."
        )
    template = model

    def factory(task, rs):
        est = clone(template)
        if "random_state" in est.get_params():
            est.set_params(random_state=rs)
        return est

    name = type(model).__name__
    return ModelSpec(
        name, name, f"your estimator {name}", "onehot" if _is_linear(model) else "ordinal", factory
    )


def default_model(task: str, random_state: int | None = 0):
    """DATE's evaluation model: a default decision tree."""
    return _tree(task, random_state)


def _preprocessor(schema, features, encoding: str) -> ColumnTransformer:
    numeric, categorical = split_columns(schema, features)
    transformers = []
    if encoding == "onehot":
        if numeric:
            transformers.append(
                (
                    "num",
                    Pipeline(
                        [
                            (
                                "impute",
                                SimpleImputer(
                                    strategy="median", add_indicator=True, keep_empty_features=True
                                ),
                            ),
                            ("scale", StandardScaler()),
                        ]
                    ),
                    numeric,
                )
            )
        if categorical:
            transformers.append(
                (
                    "cat",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                            ("onehot", OneHotEncoder(handle_unknown="ignore", max_categories=50)),
                        ]
                    ),
                    categorical,
                )
            )
    else:
        if numeric:
            transformers.append(("num", SimpleImputer(strategy="median"), numeric))
        if categorical:
            transformers.append(
                (
                    "cat",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                            ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
                        ]
                    ),
                    categorical,
                )
            )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def model_pipeline(schema, features, task: str, model=None, random_state: int | None = 0) -> Pipeline:
    """Encoding + model, fitted later on the training frame (real + added rows)."""
    spec = resolve_model(model)
    return Pipeline(
        [
            ("encode", _preprocessor(schema, features, spec.encoding)),
            ("model", spec.estimator(task, random_state)),
        ]
    )


def row_losses(
    schema,
    features,
    task: str,
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    target: str,
    *,
    model=None,
    random_state: int | None = 0,
    like: pd.DataFrame | None = None,
) -> np.ndarray:
    """Fit the model's pipeline on ``train``; per-row loss on ``evaluate``.

    0/1 error for classification (labels compared as :func:`~synth_core.encoding.label_strings`),
    squared error for regression. ``like`` gives the column types to align to (default ``train``).
    Every place that scores "real rows plus some rows" on held-out rows goes through here.
    """
    like = train if like is None else like
    pipe = model_pipeline(schema, features, task, model, random_state=random_state)
    X, X_eval = align_frame(train, like, features), align_frame(evaluate, like, features)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", ConvergenceWarning
        )  # a linear model short of iterations still predicts
        if task == "classification":
            pipe.fit(X, label_strings(train[target]))
            return (pipe.predict(X_eval) != label_strings(evaluate[target])).astype(float)
        pipe.fit(X, pd.to_numeric(train[target], errors="coerce").to_numpy(dtype=float))
        pred = pipe.predict(X_eval)
    return (pd.to_numeric(evaluate[target], errors="coerce").to_numpy(dtype=float) - pred) ** 2
