"""Fitting the evaluation trees of a discovery and measuring their error on rule rows.

* :class:`Target` is the target as discovery uses it (class codes or floats)
  with its loss: 0/1 for classification, squared error (divided by the train
  variance for ``error='relative'``) or absolute error for regression; a
  rule's error is the mean loss over its rows.
* :class:`ModelBuilder` fits a clone of the template tree on any subset of the
  encoded train rows, converts it to a :class:`~.shared_model.SharedModel`
  and keeps its per-row loss (:class:`TrainedModel`), so the search can score
  any candidate rule with any model it has trained; it also gives the root
  split of a stump when a model's own split leaves a side too small.
* :func:`default_model` is the template used when none is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..rules import Conjunction, Predicate
from .encoding import Encoder, py_value, value_key
from .paths import convert_tree
from .shared_model import SharedModel

__all__ = [
    "DEFAULT_MODEL_DEPTH",
    "DEFAULT_MODEL_MIN_LEAF",
    "ModelBuilder",
    "Target",
    "TrainedModel",
    "default_model",
]

DEFAULT_MODEL_DEPTH = 3
DEFAULT_MODEL_MIN_LEAF = 5


@dataclass
class Target:
    """The target as discovery uses it: codes or floats, and the loss definition."""

    task: str
    values: np.ndarray  # class codes (int64) or floats
    classes: np.ndarray | None
    error_kind: str
    scale: float

    @classmethod
    def build(cls, y: np.ndarray, task: str, error: str, scale: float | None) -> Target:
        if task == "classification":
            codes, uniques = pd.factorize(pd.Series(y, dtype=object), sort=False)
            labels = [py_value(v) for v in uniques]
            order = sorted(range(len(labels)), key=lambda i: value_key(labels[i]))
            remap = np.empty(len(labels), dtype=np.int64)
            remap[order] = np.arange(len(labels))
            return cls(task, remap[codes], np.asarray([labels[i] for i in order], dtype=object), "rate", 1.0)
        values = np.asarray(pd.to_numeric(pd.Series(y), errors="coerce"), dtype=float)
        if error == "relative":
            var = float(np.var(values)) if scale is None else float(scale)
            scale_ = var if var > 0 and math.isfinite(var) else 1.0
        else:
            scale_ = 1.0
        return cls(task, values, None, error, scale_)

    def loss(self, pred: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return (pred.astype(np.int64) != self.values[rows]).astype(float)
        if self.error_kind == "mae":
            return np.abs(pred - self.values[rows])
        return (pred - self.values[rows]) ** 2 / self.scale


@dataclass
class TrainedModel:
    """A model trained by the search, the rows it was trained on, and its loss on every train row."""

    model: SharedModel
    rows: np.ndarray
    loss: np.ndarray  # full length, NaN outside ``rows``


class ModelBuilder:
    """Fits sklearn trees on rows of the encoded train split and converts them."""

    def __init__(
        self, encoder: Encoder, enc: dict[str, np.ndarray], gaps, target: Target, template, seed: int
    ):
        self.encoder, self.enc, self.gaps, self.target = encoder, enc, gaps, target
        self.template, self.seed = template, seed
        self.names = encoder.names
        self.n = len(target.values)
        self.has_missing = {
            c: bool((np.isnan(a) if encoder.columns[c].kind == "num" else a == -1).any())
            for c, a in enc.items()
        }

    # ---------------------------------------------------------------- matrices

    def _matrix(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], set[str]]:
        X = np.empty((len(rows), len(self.names)), dtype=np.float32)
        ranks: dict[str, np.ndarray] = {}
        missing: set[str] = set()
        y = self.target.values[rows]
        for j, name in enumerate(self.names):
            col = self.encoder.columns[name]
            a = self.enc[name][rows]
            if col.kind == "num":
                miss = np.isnan(a)
                X[:, j] = np.where(miss, col.sentinel, a)
            else:
                miss = a < 0
                rank = self._ranks(a, y, len(col.categories))
                ranks[name] = rank
                if len(rank):
                    X[:, j] = np.where(miss, col.sentinel, rank[np.where(miss, 0, a)])
                else:
                    X[:, j] = col.sentinel
            if self.has_missing[name] and miss.any():
                missing.add(name)
        return X, ranks, missing

    def _ranks(self, codes: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
        """Rank of every category code: by target mean / majority-class share on these rows."""
        present = codes >= 0
        c = codes[present]
        counts = np.bincount(c, minlength=k).astype(float)
        if self.target.task == "classification":
            yy = y[present]
            major = np.bincount(yy).argmax() if len(yy) else 0
            weights = (yy == major).astype(float)
        else:
            weights = y[present].astype(float)
        sums = np.bincount(c, weights=weights, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            stat = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        order = np.lexsort((np.arange(k), stat))
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)
        rank[counts == 0] = k  # never seen by this model
        return rank

    # ---------------------------------------------------------------- fitting

    def _estimator(self, template=None, **overrides):
        est = clone(self.template if template is None else template)
        params = est.get_params()
        if params.get("random_state") is None:
            overrides.setdefault("random_state", self.seed)
        return est.set_params(**overrides)

    def train(self, rows: np.ndarray, *, model_id: int, trained_on: Conjunction) -> TrainedModel:
        X, ranks, missing = self._matrix(rows)
        est = self._estimator()
        est.fit(X, self.target.values[rows])
        nodes, paths = convert_tree(est, self.names, self.encoder, ranks, self.gaps, missing)
        model = SharedModel(
            estimator=est,
            encoder=self.encoder,
            nodes=nodes,
            leaf_paths=paths,
            task=self.target.task,
            error_kind=self.target.error_kind,
            scale=self.target.scale,
            classes=self.target.classes,
            model_id=model_id,
            trained_on=trained_on,
            n_train=len(rows),
        )
        leaves, pred = model._route(self.enc, rows)
        model.leaf_support = np.bincount(leaves[leaves >= 0], minlength=len(paths))
        loss = np.full(self.n, np.nan)
        loss[rows] = self.target.loss(pred, rows)
        return TrainedModel(model, rows, loss)

    def stump_predicates(self, rows: np.ndarray, min_leaf: int) -> list[Predicate]:
        """Root split of a depth-1 tree with ``min_samples_leaf=min_leaf`` (no model is kept)."""
        X, ranks, missing = self._matrix(rows)
        criterion = self.template.get_params().get("criterion")
        kwargs = {"max_depth": 1, "min_samples_leaf": min_leaf}
        base = DecisionTreeClassifier if self.target.task == "classification" else DecisionTreeRegressor
        est = (
            base(criterion=criterion, random_state=self.seed, **kwargs)
            if criterion
            else base(random_state=self.seed, **kwargs)
        )
        est.fit(X, self.target.values[rows])
        nodes, _ = convert_tree(est, self.names, self.encoder, ranks, self.gaps, missing)
        return [p for p, _ in nodes[0].branches]

    def predict_all(self, model: SharedModel) -> np.ndarray:
        """Loss of ``model`` on every train row (routing by its paths)."""
        _, pred = model._route(self.enc)
        return self.target.loss(pred, np.arange(self.n))


def default_model(task: str, min_leaf: int = DEFAULT_MODEL_MIN_LEAF):
    """The evaluation tree used when none is given: depth 3, ``min_leaf`` rows per leaf."""
    if task == "classification":
        return DecisionTreeClassifier(max_depth=DEFAULT_MODEL_DEPTH, min_samples_leaf=min_leaf)
    return DecisionTreeRegressor(max_depth=DEFAULT_MODEL_DEPTH, min_samples_leaf=min_leaf)
