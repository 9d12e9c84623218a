"""The shared model: a fitted decision tree over raw rows whose leaves are rules.

:class:`SharedModel` is what discovery hands on: every rule names the model
that fits its rows, and DATE generation groups rows by the model's tree paths
(:func:`tree_paths`). Rows are routed by the paths' predicates on the original
values, so a row's leaf is exactly the path whose conjunction it satisfies.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..errors import DataError
from ..rules import Conjunction, Predicate
from .encoding import Encoder, column_kinds, numeric_gaps, predicate_mask
from .paths import TreeNode

__all__ = ["SharedModel", "tree_paths"]


class SharedModel:
    """A fitted decision tree over raw DataFrame rows, with its paths as conjunctions.

    Encoding is handled inside: pass the original rows. Every root-to-leaf path
    is a :class:`~synth_core.rules.Conjunction` over original column values,
    and the leaf of a row is decided by those predicates, so
    ``leaf_ids(frame) == k`` exactly where ``path(k).mask(frame)`` is true.
    Rows that match no path (a missing cell in a column that had none when the
    model was fitted, or an unseen value at a split that names both of its two
    values) get leaf ``-1`` and are predicted by the last tree node they
    reached.

    Build one with :meth:`fit`; :class:`DGRDiscoverer` builds them for its
    rules (``DGRDiscoverer.models_``).

    Attributes
    ----------
    model_id : int
        Identifier within a discovery (training order); ``0`` when fitted alone.
    task : {'classification', 'regression'}
    error_kind : {'rate', 'relative', 'mse', 'mae'}
        Error definition used by :meth:`error` (the same as discovery's).
    scale : float
        Divisor of the MSE (target variance for ``'relative'``, else 1).
    classes_ : numpy.ndarray or None
        Original class labels (classification).
    estimator_ : DecisionTreeClassifier or DecisionTreeRegressor
        The fitted sklearn tree (on the internal encoding).
    features : list of str
        Columns the model reads.
    trained_on : Conjunction
        The rule whose rows the model was fitted on (``TRUE`` when fitted alone).
    n_train : int
        Rows it was fitted on.
    leaf_support : numpy.ndarray
        Training rows per leaf id.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> df = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "g": list("aabbab")})
    >>> m = SharedModel.fit(df, [0, 0, 0, 1, 1, 1], task="classification",
    ...                     estimator=DecisionTreeClassifier(max_depth=1))
    >>> [p.to_text() for p in m.paths]
    ['x <= 3', 'x > 3']
    >>> m.leaf_ids(pd.DataFrame({"x": [0.5, 9.0], "g": ["a", "zz"]})).tolist()
    [0, 1]
    """

    def __init__(
        self,
        *,
        estimator,
        encoder: Encoder,
        nodes: list[TreeNode],
        leaf_paths: list[Conjunction],
        task: str,
        error_kind: str,
        scale: float,
        classes,
        model_id: int = 0,
        trained_on: Conjunction = Conjunction(),
        n_train: int = 0,
        leaf_support: np.ndarray | None = None,
    ):
        self.estimator_ = estimator
        self._encoder = encoder
        self._nodes = nodes
        self._paths = list(leaf_paths)
        self.task = task
        self.error_kind = error_kind
        self.scale = float(scale)
        self.classes_ = None if classes is None else np.asarray(classes, dtype=object)
        self.model_id = model_id
        self.trained_on = trained_on
        self.n_train = n_train
        self.leaf_support = (
            np.zeros(len(leaf_paths), dtype=np.int64)
            if leaf_support is None
            else np.asarray(leaf_support, dtype=np.int64)
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        y,
        *,
        task: str,
        schema=None,
        features: Sequence[str] | None = None,
        estimator=None,
        error: str = "relative",
        scale: float | None = None,
        random_state=None,
    ) -> SharedModel:
        """Fit a tree on raw rows and return it as a :class:`SharedModel`.

        Parameters
        ----------
        frame : pandas.DataFrame
            Feature columns (others are ignored when ``features`` is given).
        y : array-like
            Target, one value per row.
        task : {'classification', 'regression'}
        schema : Schema, optional
            Column kinds; without it numeric dtypes are numeric and the rest
            categorical.
        features : sequence of str, optional
            Columns to use (default: every column of ``frame`` with a usable kind).
        estimator : DecisionTreeClassifier or DecisionTreeRegressor, optional
            Unfitted template (default depth 3, ``min_samples_leaf=5``).
        error : {'relative', 'mse', 'mae'}
            Regression error definition (classification always uses the error rate).
        scale : float, optional
            MSE divisor for ``'relative'`` (default: variance of ``y``).
        random_state : int, RandomState or None

        Returns
        -------
        SharedModel

        Raises
        ------
        DataError
            Empty rows, a length mismatch, or no usable feature column.
        """
        from .training import ModelBuilder, Target, default_model  # training builds SharedModels: no cycle

        frame = frame.reset_index(drop=True)
        y = np.asarray(y)
        if len(frame) == 0 or len(frame) != len(y):
            raise DataError(
                f"need the same positive number of rows and targets; got {len(frame)} rows "
                f"and {len(y)} targets."
            )
        names = list(features) if features is not None else list(frame.columns)
        kinds, _ = column_kinds(frame, schema, names)
        if not kinds:
            raise DataError(
                "no usable feature column (numeric, integer, categorical or boolean) to fit a tree on."
            )
        encoder = Encoder(frame, kinds)
        enc = encoder.encode(frame)
        target = Target.build(y, task, error, scale)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        template = estimator if estimator is not None else default_model(task)
        builder = ModelBuilder(encoder, enc, numeric_gaps(encoder, enc), target, template, seed)
        return builder.train(np.arange(len(frame)), model_id=0, trained_on=Conjunction()).model

    # ------------------------------------------------------------------ queries

    @property
    def features(self) -> list[str]:
        return self._encoder.names

    @property
    def n_leaves(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[Conjunction]:
        """Every root-to-leaf path, indexed by leaf id."""
        return list(self._paths)

    def path(self, leaf_id: int) -> Conjunction:
        """The root-to-leaf path of ``leaf_id`` as a conjunction over original values.

        Raises
        ------
        ValueError
            For an id that is not a leaf of this model.
        """
        if (
            isinstance(leaf_id, (bool, np.bool_))
            or not isinstance(leaf_id, numbers.Integral)
            or not 0 <= int(leaf_id) < len(self._paths)
        ):
            raise ValueError(
                f"leaf id {leaf_id!r} is not a leaf of model {self.model_id}; "
                f"valid ids are 0 to {len(self._paths) - 1}."
            )
        return self._paths[int(leaf_id)]

    def leaf_ids(self, frame: pd.DataFrame) -> np.ndarray:
        """Leaf id of every row (``-1`` where no path matches).

        Parameters
        ----------
        frame : pandas.DataFrame
            Raw rows with at least the model's feature columns.

        Returns
        -------
        numpy.ndarray of int
        """
        leaves, _ = self._route(self._encoder.encode(frame))
        return leaves

    def paths_for(self, frame: pd.DataFrame) -> list[Conjunction | None]:
        """The path of every row (``None`` where no path matches)."""
        return [self._paths[i] if i >= 0 else None for i in self.leaf_ids(frame)]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted class labels or values for raw rows."""
        _, values = self._route(self._encoder.encode(frame))
        return self._decode(values)

    def error(self, frame: pd.DataFrame, y) -> float:
        """Error on ``frame``: error rate, relative MSE, MSE or MAE (as in discovery).

        Raises
        ------
        DataError
            When ``y`` does not have one value per row, or ``frame`` is empty.
        """
        y = np.asarray(y)
        if len(y) != len(frame) or len(frame) == 0:
            raise DataError(
                f"need one target per row and at least one row; got {len(frame)} rows and {len(y)} targets."
            )
        return float(np.mean(self.row_loss(frame, y)))

    def row_loss(self, frame: pd.DataFrame, y) -> np.ndarray:
        """Per-row loss whose mean is :meth:`error` (0/1, absolute error for ``'mae'``, or squared error divided
        by ``scale``)."""
        pred = self.predict(frame)
        y = np.asarray(y)
        if self.task == "classification":
            return np.array([p != t for p, t in zip(pred.tolist(), y.tolist())], dtype=float)
        if self.error_kind == "mae":
            return np.abs(pred.astype(float) - y.astype(float))
        return (pred.astype(float) - y.astype(float)) ** 2 / self.scale

    def __repr__(self) -> str:
        return (
            f"SharedModel(model_id={self.model_id}, task={self.task!r}, n_leaves={self.n_leaves}, "
            f"n_train={self.n_train}, trained_on={self.trained_on.to_text()!r})"
        )

    # ------------------------------------------------------------------ internals

    def _decode(self, values: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return self.classes_[values.astype(np.int64)]
        return values.astype(float)

    def _route(
        self, enc: dict[str, np.ndarray], rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Leaf ids and node predictions for encoded rows (all rows, or positions ``rows``)."""
        n_all = len(next(iter(enc.values()))) if enc else 0
        idx = np.arange(n_all) if rows is None else np.asarray(rows)
        leaves = np.full(len(idx), -1, dtype=np.int64)
        values = np.zeros(len(idx), dtype=float)
        stack = [(0, np.arange(len(idx)))]
        cols = self._encoder.columns
        while stack:
            nid, pos = stack.pop()
            node = self._nodes[nid]
            if not node.branches:
                leaves[pos] = node.leaf_id
                values[pos] = node.value
                continue
            taken = np.zeros(len(pos), dtype=bool)
            for pred, child in node.branches:
                hit = predicate_mask(pred, enc[pred.column][idx[pos]], cols[pred.column]) & ~taken
                taken |= hit
                if hit.any():
                    stack.append((child, pos[hit]))
            values[pos[~taken]] = node.value
        return leaves, values

    def _root_predicates(self) -> list[Predicate]:
        return [p for p, _ in self._nodes[0].branches]


def tree_paths(model: SharedModel, frame: pd.DataFrame | None = None) -> list[tuple[int, Conjunction, int]]:
    """``(leaf_id, path, rows)`` for every leaf of ``model``.

    ``rows`` counts the rows of ``frame`` that reach the leaf, or the model's
    training rows when ``frame`` is None. Leaves are sorted by rows, most
    first.

    Parameters
    ----------
    model : SharedModel
    frame : pandas.DataFrame, optional

    Returns
    -------
    list of (int, Conjunction, int)
    """
    if frame is None:
        counts = model.leaf_support
    else:
        ids = model.leaf_ids(frame)
        counts = np.bincount(ids[ids >= 0], minlength=model.n_leaves)
    out = [(i, model.path(i), int(counts[i])) for i in range(model.n_leaves)]
    return sorted(out, key=lambda t: (-t[2], t[0]))
