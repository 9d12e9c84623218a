"""DATE Algorithm 1: distribution-guiding rule (DGR) discovery.

:class:`DGRDiscoverer` splits the *train* rows of a :class:`~synth_core.data.Dataset`
into sub-populations, each described by a readable rule and fitted by a small
decision tree (its *shared model*) with error at most ``rho``.
:class:`SharedModel` is the reusable piece: a fitted decision tree over raw
DataFrame rows whose root-to-leaf paths are :class:`~synth_core.rules.Conjunction`
objects over the original column values, so DATE generation can group rows by
tree path.

The algorithm, as implemented
-----------------------------
The search is the top-down loop of Alg. 1 over *candidate conjunctions* ``r``,
starting from ``TRUE`` (all train rows), popped from a priority queue ordered by
``ind(r)`` (highest first, then larger support):

1. **Model sharing** (Alg. 1 lines 6-8). The pool of a candidate is the models
   trained on its ancestors (the "identical prefixes" of Proposition 2 and
   Example 1). If one of them has error ``<= rho`` on the candidate's rows, the
   candidate is accepted with that model and nothing is trained
   (``n_models_shared_`` counts these). The root-most fitting model is used, so
   that as many rules as possible share one model and fuse (Proposition 3).
2. Otherwise a model is trained on the candidate's rows (lines 11-15). If its
   error is ``<= rho`` the candidate is accepted.
3. Otherwise the candidate is split (lines 17-20): the predicates ``P'`` are
   the two sides of the **root split of the model just trained**, i.e. the
   lowest-impurity split (Gini for classification, squared error for
   regression) on the candidate's rows, so no extra model is fitted. When a
   column has missing values among those rows, a third child ``col is missing``
   is added (see below). If that split leaves a side below ``min_support`` rows,
   a stump with ``min_samples_leaf=min_support`` is fitted instead. Children
   below ``min_support`` rows are not searched; their rows are the
   *remainder*.
4. A candidate at ``max_depth`` predicates, with fewer than ``2 * min_support``
   rows, with no possible split, or whose split leaves every side below
   ``min_support`` rows is a *leaf that does not fit*: it is still
   reported (so every searched row is covered), with the lowest-error model
   available, ``error > rho`` and a note saying which limit stopped it.
   ``summary()`` shows this as ``fits == False``.

Accepted and non-fitting leaves are the *regions* (``regions_``): the rules
before fusion. **Fusion** (Proposition 3) then joins the regions that share one
model (and agree on ``fits``) into one DNF rule; sibling regions that together
make up their parent are written as the parent's conjunction. If more than
``max_rules`` rules remain, the smallest rule is merged into the rule whose
model fits the union best, repeatedly (``merged_`` records every fusion and
merge, with the error before and after).

Choices where the paper is ambiguous
------------------------------------
* **Error.** Alg. 1 line 12 writes a per-tuple maximum error. With 0/1 loss the
  maximum is 1 as soon as one row is misclassified, so any ``rho < 1`` would
  force a split down to pure rows; for regression the maximum absolute error
  follows the noisiest row. We use the *mean* loss instead, as the design asks:
  error rate for classification, MSE for regression, and by default
  (``error="relative"``) MSE divided by the variance of the target over the
  train rows, so that one ``rho`` works across tables (the root's relative
  error is ``1 - R^2`` of a tree fitted to all rows). Problem 1 defines the
  regression error as the mean *absolute* error; ``error="mae"`` is that
  definition, and the ``paper`` preset uses it (``docs/PAPERS.md`` says why
  the product keeps the relative MSE).
* **Default rho.** 0.05 for classification (the paper's value). 0.1 for
  relative regression error (a shared model must explain 90% of the target
  variance, measured against the whole train split, inside its rule). With
  ``error="mse"`` and ``rho=None`` the threshold is 0.1 times the target
  variance, i.e. the same cut expressed in the target's squared units (a fixed
  10 as in the paper only makes sense for one target scale).
* **rho updates.** Lines 7 and 13 overwrite ``rho`` with the error just
  reached, which would make every later rule stricter and the result depend on
  the visiting order. We keep ``rho`` fixed and record each rule's own error
  as its ``rho_m`` (``Rule.error``); by Proposition 4 a rule with error
  ``rho_m <= rho`` is also a rule for ``rho``.
* **ind(r)** (line 10) is the share of a rule's rows that a model predicts
  within tolerance, maximised over the models available: for classification a
  row is within tolerance when it is predicted correctly, for regression when
  its squared error (relative, if ``error="relative"``) is ``<= rho``. The
  queue uses it over the candidate's pool; a final rule's ``ind`` is maximised
  over the shared models in ``models_``. Rules are listed fitting ones first,
  then by ``ind`` and support, and numbered ``R1, R2, ...`` in that order.
* **Theorem 1** bounds ``|P'|`` by the rows of ``T_r``; on tables of thousands
  of rows that is not a usable budget. We take the sides of the best split
  (two, three with missing values) and bound the search with ``max_depth``,
  ``min_support`` and ``max_models`` instead, so it cannot run away.

Why smaller rho never gives fewer rules (before fusion)
-------------------------------------------------------
Which conjunctions the search can visit does not depend on ``rho``: each split
is the root split of a tree fitted on the candidate's rows with a fixed seed,
and the sharing pool of a candidate is the models of its ancestors, which were
all trained (an ancestor was split, so it trained a model that failed). A
candidate stops when ``min(pool errors, own error) <= rho`` (with sharing) or
``own error <= rho`` (without): a test of a ``rho``-free number against
``rho``. So the set of split candidates only grows as ``rho`` shrinks. A
candidate is only split when at least one side keeps ``min_support`` rows, so
the number of regions, ``1 + sum(children kept - 1)`` over split candidates,
never decreases. The guarantee holds for ``len(regions_)`` with a fixed integer
``random_state`` (trees break ties at random) whenever ``max_models`` did not
stop the search (a warning says when it did). Fusion and the ``max_rules`` cap
can change the count after that; the tests check the regions over a grid of
``rho``.

Encoding and missing values
---------------------------
Trees are fitted on an internal encoding, but every predicate is written and
evaluated on the original values with the mask semantics of
:mod:`synth_core.rules` (a missing cell satisfies only ``is missing``):

* numeric and integer columns keep their values; a missing cell is replaced,
  for the tree only, by a sentinel below the observed range. A split between
  the sentinel and the values becomes ``col is missing`` / ``col is not missing``
  (the latter matches exactly the present values). Any other split becomes
  ``col <= v`` / ``col > v``, with ``v`` the roundest number that splits the
  train values the same way, plus ``col is missing`` for the missing rows
  that the tree sent along the lower side (tree paths duplicate that subtree).
* categorical and boolean columns are encoded per model by ordering their
  categories by the target mean (regression) or by the share of the model's
  majority class (classification), so a threshold splits the categories into
  two sets; predicates are ``col in {...}`` / ``col == v`` on the original
  values, with ``not in`` / ``!=`` on the side where listing would be longer
  (categories never seen in training go to that side). A split of two single
  values names both (``flag == true`` / ``flag == false``); a value never seen
  in training then matches neither side (leaf ``-1`` in :class:`SharedModel`).
* columns of kind ``datetime``, ``text`` and ``id`` are not used (a warning
  lists them).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from synth_core.data import make_dataset
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.random(400), "g": rng.choice(["a", "b"], 400)})
>>> df["y"] = np.where(df.x > 0.5, "hi", "lo")
>>> ds = make_dataset(df, target="y", seed=0)
>>> disc = DGRDiscoverer(random_state=0).fit(ds)
>>> disc.rules_[0].text, disc.rules_[0].error
('TRUE', 0.0)
"""

from __future__ import annotations

import heapq
import math
import numbers
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state

from .errors import DataError, InvalidParameterError, NotFittedError
from .rules import Conjunction, Predicate, Rule

__all__ = [
    "DGRDiscoverer",
    "SharedModel",
    "Region",
    "discover_report",
    "tree_paths",
    "simplify_conjunction",
    "DEFAULT_RHO_CLASSIFICATION",
    "DEFAULT_RHO_RELATIVE",
    "ERRORS",
]

DEFAULT_RHO_CLASSIFICATION = 0.05
DEFAULT_RHO_RELATIVE = 0.1
#: Regression error definitions: ``'relative'`` (the product's default: MSE over the target's variance),
#: ``'mse'``, and ``'mae'`` (Problem 1's mean absolute error; the ``paper`` preset's).
ERRORS = ("relative", "mse", "mae")
DEFAULT_MODEL_DEPTH = 3
DEFAULT_MODEL_MIN_LEAF = 5
_NUMERIC_KINDS = ("numeric", "integer")
_CATEGORICAL_KINDS = ("categorical", "boolean")


# =========================================================================== encoding


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


@dataclass
class _Column:
    """How one feature column is encoded for the trees."""

    name: str
    kind: str  # 'num' or 'cat'
    sentinel: float = 0.0  # tree value standing for a missing cell
    min32: float = 0.0  # smallest present value, as the tree sees it (float32)
    categories: list = field(default_factory=list)  # cat: code -> original value
    index: pd.Index | None = None  # cat: original value -> code (get_indexer)
    lookup: dict = field(default_factory=dict)  # cat: original value -> code (predicate values)
    sets_only: bool = False  # write ``in {v}`` rather than ``== v`` (see _needs_sets)


class _Encoder:
    """Column encodings fitted on one frame; shared by the models of one discovery.

    Numeric columns become float64 arrays with NaN for missing cells.
    Categorical columns become int64 codes: ``-1`` missing, ``-2`` a value not
    seen when the encoder was fitted.
    """

    def __init__(self, frame: pd.DataFrame, kinds: dict[str, str]):
        self.columns: dict[str, _Column] = {}
        for name, kind in kinds.items():
            s = frame[name]
            if kind == "num":
                x = _to_float(s)
                present = x[~np.isnan(x)]
                lo, hi = (float(present.min()), float(present.max())) if len(present) else (0.0, 0.0)
                span = hi - lo if math.isfinite(hi - lo) else 0.0
                self.columns[name] = _Column(name, "num", sentinel=lo - 2.0 * span - 1.0,
                                             min32=float(np.float32(lo)))
            else:
                _, uniques = pd.factorize(s, sort=False)
                values = [_py(v) for v in uniques]
                try:
                    order = sorted(range(len(values)), key=lambda i: _value_key(values[i]))
                except TypeError:  # pragma: no cover - incomparable mixes keep their first-seen order
                    order = list(range(len(values)))
                values = [values[i] for i in order]
                col = _Column(name, "cat", sentinel=-(len(values) + 1.0), categories=values,
                              index=pd.Index(uniques[order]), sets_only=_needs_sets(s))
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


def _value_key(v):
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _gaps(encoder: _Encoder, enc: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sorted distinct present values per numeric column (float64 and as float32 sees them)."""
    out = {}
    for name, col in encoder.columns.items():
        if col.kind == "num":
            x = enc[name]
            u = np.unique(x[~np.isnan(x)])
            out[name] = (u, u.astype(np.float32).astype(np.float64))
    return out


def _nice_between(a: float, b: float) -> float:
    """The roundest number ``v`` with ``a <= v < b`` (closest to the middle at that roundness)."""
    if not (b > a) or not math.isfinite(a) or not math.isfinite(b):
        return a
    span = b - a
    top = math.floor(math.log10(span)) + 1
    mid = (a + b) / 2.0
    for e in range(top, top - 4, -1):
        step = 10.0 ** e
        first, last = math.ceil(a / step), math.ceil(b / step) - 1
        if last < first:
            continue
        m = min(max(round(mid / step), first), last)
        for cand in (m, first):
            v = round(cand * step, max(0, -e))
            if a <= v < b:
                return float(v)
    return float(a)


# =========================================================================== predicates on encodings


def _pred_mask(pred: Predicate, values: np.ndarray, col: _Column) -> np.ndarray:
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
            fn = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                  "==": np.equal, "!=": np.not_equal}[op]
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


def simplify_conjunction(predicates: Iterable[Predicate]) -> Conjunction:
    """Merge the predicates of a path into the shortest equivalent conjunction.

    Per column: the tightest lower and upper bounds are kept (``<`` beats
    ``<=`` at the same value), category sets are intersected (``in``) or
    united (``not in``), and ``col is not missing`` is dropped when another
    predicate on the column already implies it. A one-value set is written
    ``==`` / ``!=`` when the input used that form. Rows matched are unchanged.

    Parameters
    ----------
    predicates : iterable of Predicate

    Returns
    -------
    Conjunction

    Examples
    --------
    >>> from synth_core.rules import parse_conjunction
    >>> simplify_conjunction(parse_conjunction(
    ...     "x <= 5 AND g not in {'a'} AND x <= 3 AND g not in {'b'} AND x > 1").predicates).to_text()
    "x > 1 AND x <= 3 AND g not in {'a', 'b'}"
    """
    by_col: dict[str, list[Predicate]] = {}
    for p in predicates:
        by_col.setdefault(p.column, []).append(p)
    out: list[Predicate] = []
    for column, preds in by_col.items():
        if any(p.op == "is missing" for p in preds):
            out.append(Predicate(column, "is missing"))
            out.extend(p for p in preds if p.op != "is missing")  # contradictory; kept as written
            continue
        lower, upper, ins, notins, other, present = None, None, None, set(), [], False
        eq = any(p.op in ("==", "!=") for p in preds)  # singletons are written as == / != only then
        for p in preds:
            if p.op in (">", ">="):
                cand = (p.value, p.op == ">")
                lower = cand if lower is None or cand > lower else lower
            elif p.op in ("<", "<="):
                cand = (p.value, 0 if p.op == "<" else 1)
                upper = cand if upper is None or cand < upper else upper
            elif p.op in ("in", "=="):
                vals = set(p.value) if p.op == "in" else {p.value}
                ins = vals if ins is None else ins & vals
            elif p.op in ("not in", "!="):
                vals = set(p.value) if p.op == "not in" else {p.value}
                notins |= vals
                present = True
            elif p.op == "is not missing":
                present = True
            else:
                other.append(p)
        kept: list[Predicate] = []
        if ins is not None:
            members = ins - notins
            kept.append(Predicate(column, "==", next(iter(members))) if len(members) == 1 and eq
                        else Predicate(column, "in", tuple(members)))
        elif notins:
            kept.append(Predicate(column, "!=", next(iter(notins))) if len(notins) == 1 and eq
                        else Predicate(column, "not in", tuple(notins)))
        if lower is not None:
            kept.append(Predicate(column, ">" if lower[1] else ">=", lower[0]))
        if upper is not None:
            kept.append(Predicate(column, "<" if upper[1] == 0 else "<=", upper[0]))
        kept.extend(other)
        if not kept and present:
            kept.append(Predicate(column, "is not missing"))
        out.extend(kept)
    return Conjunction(tuple(out))


# =========================================================================== shared model


@dataclass
class _TreeNode:
    branches: list[tuple[Predicate, int]]  # empty for a leaf
    value: float  # prediction at this node (class code or value)
    leaf_id: int = -1


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
    >>> df = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "g": list("aabbab")})
    >>> m = SharedModel.fit(df, [0, 0, 0, 1, 1, 1], task="classification",
    ...                     estimator=DecisionTreeClassifier(max_depth=1))
    >>> [p.to_text() for p in m.paths]
    ['x <= 3', 'x > 3']
    >>> m.leaf_ids(pd.DataFrame({"x": [0.5, 9.0], "g": ["a", "zz"]})).tolist()
    [0, 1]
    """

    def __init__(self, *, estimator, encoder: _Encoder, nodes: list[_TreeNode], leaf_paths: list[Conjunction],
                 task: str, error_kind: str, scale: float, classes, model_id: int = 0,
                 trained_on: Conjunction = Conjunction(), n_train: int = 0,
                 leaf_support: np.ndarray | None = None):
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
        self.leaf_support = (np.zeros(len(leaf_paths), dtype=np.int64) if leaf_support is None
                             else np.asarray(leaf_support, dtype=np.int64))

    # ------------------------------------------------------------------ construction

    @classmethod
    def fit(cls, frame: pd.DataFrame, y, *, task: str, schema=None, features: Sequence[str] | None = None,
            estimator=None, error: str = "relative", scale: float | None = None,
            random_state=None) -> "SharedModel":
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
        frame = frame.reset_index(drop=True)
        y = np.asarray(y)
        if len(frame) == 0 or len(frame) != len(y):
            raise DataError(f"need the same positive number of rows and targets; got {len(frame)} rows "
                            f"and {len(y)} targets.")
        names = list(features) if features is not None else list(frame.columns)
        kinds, _ = _column_kinds(frame, schema, names)
        if not kinds:
            raise DataError("no usable feature column (numeric, integer, categorical or boolean) "
                            "to fit a tree on.")
        encoder = _Encoder(frame, kinds)
        enc = encoder.encode(frame)
        target = _Target.build(y, task, error, scale)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        template = estimator if estimator is not None else _default_model(task)
        builder = _Builder(encoder, enc, _gaps(encoder, enc), target, template, seed)
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
        if isinstance(leaf_id, (bool, np.bool_)) or not isinstance(leaf_id, numbers.Integral) \
                or not 0 <= int(leaf_id) < len(self._paths):
            raise ValueError(f"leaf id {leaf_id!r} is not a leaf of model {self.model_id}; "
                             f"valid ids are 0 to {len(self._paths) - 1}.")
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
            raise DataError(f"need one target per row and at least one row; got {len(frame)} rows and "
                            f"{len(y)} targets.")
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
        return (f"SharedModel(model_id={self.model_id}, task={self.task!r}, n_leaves={self.n_leaves}, "
                f"n_train={self.n_train}, trained_on={self.trained_on.to_text()!r})")

    # ------------------------------------------------------------------ internals

    def _decode(self, values: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return self.classes_[values.astype(np.int64)]
        return values.astype(float)

    def _route(self, enc: dict[str, np.ndarray],
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
                hit = _pred_mask(pred, enc[pred.column][idx[pos]], cols[pred.column]) & ~taken
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


# =========================================================================== model building


@dataclass
class _Target:
    """The target as discovery uses it: codes or floats, and the loss definition."""

    task: str
    values: np.ndarray  # class codes (int64) or floats
    classes: np.ndarray | None
    error_kind: str
    scale: float

    @classmethod
    def build(cls, y: np.ndarray, task: str, error: str, scale: float | None) -> "_Target":
        if task == "classification":
            codes, uniques = pd.factorize(pd.Series(y, dtype=object), sort=False)
            labels = [_py(v) for v in uniques]
            order = sorted(range(len(labels)), key=lambda i: _value_key(labels[i]))
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
class _Trained:
    model: SharedModel
    rows: np.ndarray
    loss: np.ndarray  # full length, NaN outside ``rows``


class _Builder:
    """Fits sklearn trees on rows of the encoded train split and converts them."""

    def __init__(self, encoder: _Encoder, enc: dict[str, np.ndarray], gaps, target: _Target, template,
                 seed: int):
        self.encoder, self.enc, self.gaps, self.target = encoder, enc, gaps, target
        self.template, self.seed = template, seed
        self.names = encoder.names
        self.n = len(target.values)
        self.has_missing = {c: bool((np.isnan(a) if encoder.columns[c].kind == "num" else a == -1).any())
                            for c, a in enc.items()}

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

    def train(self, rows: np.ndarray, *, model_id: int, trained_on: Conjunction) -> _Trained:
        X, ranks, missing = self._matrix(rows)
        est = self._estimator()
        est.fit(X, self.target.values[rows])
        nodes, paths = _convert(est, self.names, self.encoder, ranks, self.gaps, missing)
        model = SharedModel(estimator=est, encoder=self.encoder, nodes=nodes, leaf_paths=paths,
                            task=self.target.task, error_kind=self.target.error_kind, scale=self.target.scale,
                            classes=self.target.classes, model_id=model_id, trained_on=trained_on,
                            n_train=len(rows))
        leaves, pred = model._route(self.enc, rows)
        model.leaf_support = np.bincount(leaves[leaves >= 0], minlength=len(paths))
        loss = np.full(self.n, np.nan)
        loss[rows] = self.target.loss(pred, rows)
        return _Trained(model, rows, loss)

    def stump_predicates(self, rows: np.ndarray, min_leaf: int) -> list[Predicate]:
        """Root split of a depth-1 tree with ``min_samples_leaf=min_leaf`` (no model is kept)."""
        X, ranks, missing = self._matrix(rows)
        criterion = self.template.get_params().get("criterion")
        kwargs = {"max_depth": 1, "min_samples_leaf": min_leaf}
        base = DecisionTreeClassifier if self.target.task == "classification" else DecisionTreeRegressor
        est = base(criterion=criterion, random_state=self.seed, **kwargs) if criterion else \
            base(random_state=self.seed, **kwargs)
        est.fit(X, self.target.values[rows])
        nodes, _ = _convert(est, self.names, self.encoder, ranks, self.gaps, missing)
        return [p for p, _ in nodes[0].branches]

    def predict_all(self, model: SharedModel) -> np.ndarray:
        """Loss of ``model`` on every train row (routing by its paths)."""
        _, pred = model._route(self.enc)
        return self.target.loss(pred, np.arange(self.n))


def _convert(est, names: list[str], encoder: _Encoder, ranks: dict[str, np.ndarray], gaps,
             missing: set[str]) -> tuple[list[_TreeNode], list[Conjunction]]:
    """Turn a fitted sklearn tree on the internal encoding into predicate branches over raw values."""
    t = est.tree_
    classification = hasattr(est, "classes_")
    nodes: list[_TreeNode] = []
    paths: list[Conjunction] = []

    def node_value(sk: int) -> float:
        v = t.value[sk][0]
        return float(est.classes_[int(np.argmax(v))]) if classification else float(v[0])

    def build(sk: int, state: dict, path: tuple) -> int:
        if t.children_left[sk] == -1:
            nodes.append(_TreeNode([], node_value(sk), leaf_id=len(paths)))
            paths.append(simplify_conjunction(path))
            return len(nodes) - 1
        name = names[int(t.feature[sk])]
        col = encoder.columns[name]
        thr = float(t.threshold[sk])
        left, right = int(t.children_left[sk]), int(t.children_right[sk])
        st = state.get(name)
        if st == "missing":  # the sentinel lies below every threshold
            return build(left, state, path)
        nid = len(nodes)
        nodes.append(_TreeNode([], node_value(sk)))
        branches: list[tuple[Predicate, dict, int]] = []
        sentinel_split = thr < (col.min32 if col.kind == "num" else 0.0)
        if sentinel_split:
            if st is not None:  # known present: always right
                nodes.pop()
                return build(right, state, path)
            branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
            branches.append((Predicate(name, "is not missing"), {**state, name: "present"}, right))
        elif col.kind == "num":
            u64, u32 = gaps[name]
            i = int(np.searchsorted(u32, thr, side="right"))
            a = float(u64[max(i - 1, 0)])
            b = float(u64[i]) if i < len(u64) else math.inf
            v = _nice_between(a, b)
            branches.append((Predicate(name, "<=", v), {**state, name: "present"}, left))
            branches.append((Predicate(name, ">", v), {**state, name: "present"}, right))
            if st is None and name in missing:
                branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
        else:
            rank = ranks[name]
            seen = np.flatnonzero(rank < len(col.categories))
            lcodes = frozenset(int(c) for c in seen if rank[c] <= thr)
            rcodes = frozenset(int(c) for c in seen if rank[c] > thr)
            if isinstance(st, tuple) and st[0] == "in":
                allowed = st[1]
                lc, rc = lcodes & allowed, allowed - lcodes
                if not lc or not rc:
                    nodes.pop()
                    return build(left if lc else right, state, path)
                branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
            else:
                excluded = st[1] if isinstance(st, tuple) else frozenset()
                lc, rc = lcodes - excluded, rcodes - excluded
                if not lc or not rc:
                    nodes.pop()
                    return build(right if not lc else left, state, path)
                if len(lc) == 1 and len(rc) == 1 and not excluded:  # two values: name both (reads better)
                    branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                    branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
                elif len(lc) <= len(rc):
                    branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                    branches.append((_notin_pred(col, lc), {**state, name: ("not", excluded | lc)},
                                     right))
                else:
                    branches.append((_notin_pred(col, rc), {**state, name: ("not", excluded | rc)},
                                     left))
                    branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
            if st is None and name in missing:
                branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
        built = []
        for pred, child_state, sk_child in branches:
            built.append((pred, build(sk_child, child_state, path + (pred,))))
        nodes[nid].branches = built
        return nid

    build(0, {}, ())
    return nodes, paths


def _in_pred(col: _Column, codes: frozenset) -> Predicate:
    members = [col.categories[c] for c in sorted(codes)]
    if len(members) == 1 and not col.sets_only:
        return Predicate(col.name, "==", members[0])
    return Predicate(col.name, "in", tuple(members))


def _notin_pred(col: _Column, codes: frozenset) -> Predicate:
    members = [col.categories[c] for c in sorted(codes)]
    if len(members) == 1 and not col.sets_only:
        return Predicate(col.name, "!=", members[0])
    return Predicate(col.name, "not in", tuple(members))


def _default_model(task: str, min_leaf: int = DEFAULT_MODEL_MIN_LEAF):
    if task == "classification":
        return DecisionTreeClassifier(max_depth=DEFAULT_MODEL_DEPTH, min_samples_leaf=min_leaf)
    return DecisionTreeRegressor(max_depth=DEFAULT_MODEL_DEPTH, min_samples_leaf=min_leaf)


def _column_kinds(frame: pd.DataFrame, schema, names: list[str]) -> tuple[dict[str, str], list[str]]:
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


# =========================================================================== discovery


@dataclass(frozen=True)
class Region:
    """One leaf of the search: a rule before fusion.

    Attributes
    ----------
    conjunction : Conjunction
    support : int
        Train rows it covers.
    model_id : int
        Model whose error is reported.
    error : float
    fits : bool
        ``error <= rho``.
    shared : bool
        Accepted with an ancestor's model, without training one.
    depth : int
        Predicates on the search path.
    ind : float
    reason : str
        Why a region that does not fit stopped (``'max_depth'``, ``'min_support'``,
        ``'no split'``, ``'max_models'``), else ``''``.
    """

    conjunction: Conjunction
    support: int
    model_id: int
    error: float
    fits: bool
    shared: bool
    depth: int
    ind: float
    reason: str = ""


@dataclass
class _Cand:
    nid: int
    conj: Conjunction
    preds: tuple
    rows: np.ndarray
    depth: int
    pool: tuple
    parent: int


@dataclass
class _Group:
    """A rule under construction: regions fused into one DNF rule."""

    conjs: list  # list of (Conjunction, support)
    rows: np.ndarray
    model_id: int
    fits: bool
    notes: list = field(default_factory=list)
    absorbed: list = field(default_factory=list)  # (text, support, error before, error after)
    fused: list = field(default_factory=list)  # texts of fused regions


class DGRDiscoverer(BaseEstimator):
    """Discover distribution-guiding rules on the train rows of a Dataset (DATE Alg. 1).

    See the module docstring for the algorithm and the choices made where the
    paper is ambiguous.

    Parameters
    ----------
    rho : float or None, default=None
        Error threshold a rule's shared model must reach on the rule's rows.
        None means 0.05 for classification (error rate), 0.1 for regression
        with ``error='relative'``, 0.1 times the target variance with
        ``error='mse'``, and sqrt(0.1) times the target's mean absolute
        deviation with ``error='mae'`` (the same cut as relative 0.1 when the
        errors are normal).
    error : {'relative', 'mse', 'mae'}, default='relative'
        Regression error: MSE divided by the train target variance (the
        product's default), plain MSE, or mean absolute error as DATE's
        Problem 1 defines it (the ``paper`` preset's choice). Classification
        always uses the error rate.
    max_depth : int or None, default=6
        Most predicates on a search path (None: no limit; ``min_support`` and
        ``max_models`` still bound the search).
    min_support : int or float, default=0.02
        Fewest train rows of a rule: an int, or a float in (0, 1) as a share of
        the train rows (at least 1 row).
    max_rules : int or None, default=20
        Most rules after fusion; smaller rules are merged into the rule whose
        model fits them best until this holds (None: no cap).
    max_models : int, default=200
        Most models trained; once reached, the remaining candidates are
        resolved with their ancestors' models and a warning is recorded.
    model : DecisionTreeClassifier, DecisionTreeRegressor or None, default=None
        Unfitted template of the evaluation model, cloned for every model.
        None means a tree with ``max_depth=3`` and ``min_samples_leaf=5``.
    model_sharing : bool, default=True
        Try the ancestors' models before training (Alg. 1 lines 6-8).
    random_state : int, RandomState or None, default=None
        Seeds the trees' tie-breaking; an int makes ``fit`` repeatable.

    Attributes
    ----------
    rules_ : list of Rule
        Fused rules, ``origin='discovered'``, ``status='proposed'``, ids ``R1, ...``.
    models_ : dict of int to SharedModel
        The shared models used by ``rules_``, by model id.
    regions_ : list of Region
        Search leaves before fusion (the rules before fusion).
    remainder_ : int
        Train rows covered by no rule.
    remainder_mask_ : numpy.ndarray of bool
        Those rows, by position in ``dataset.train``.
    coverage_ : float
        Share of train rows covered by some rule.
    n_models_trained_ : int
    n_models_shared_ : int
        Candidates accepted with an ancestor's model instead of training one.
    merged_ : list of dict
        What fusion (``kind='fusion'``) and the ``max_rules`` cap (``kind='cap'``) merged.
    warnings_ : list of str
        Limits hit and columns skipped, for a person to read.
    rho_ : float
        The threshold used, in the error's units.
    error_kind_ : {'rate', 'relative', 'mse', 'mae'}
    error_scale_ : float
        MSE divisor (train target variance for ``'relative'``, else 1).
    min_support_ : int
    n_train_ : int
    feature_names_in_ : list of str
        Columns used.
    target_, task_ : str
    path_counts_ : dict of str to list of (Conjunction, int)
        Per rule id, the shared model's tree paths reached by the rule's rows
        and how many rows reach each.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from synth_core.data import make_dataset
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x0": rng.random(600), "x1": rng.random(600)})
    >>> df["y"] = np.where(df.x0 <= 0.5, df.x1 > 0.9, df.x1 > 0.3).astype(int)
    >>> disc = DGRDiscoverer(model=DecisionTreeClassifier(max_depth=1), random_state=0)
    >>> disc = disc.fit(make_dataset(df, target="y", seed=0))
    >>> sorted(r.text for r in disc.rules_)
    ['x0 <= 0.4987', 'x0 > 0.4987']
    """

    def __init__(self, *, rho=None, error="relative", max_depth=6, min_support=0.02, max_rules=20,
                 max_models=200, model=None, model_sharing=True, random_state=None):
        self.rho = rho
        self.error = error
        self.max_depth = max_depth
        self.min_support = min_support
        self.max_rules = max_rules
        self.max_models = max_models
        self.model = model
        self.model_sharing = model_sharing
        self.random_state = random_state

    # ------------------------------------------------------------------ validation

    def _fail(self, name: str, what: str):
        value = getattr(self, name)
        raise InvalidParameterError(f"The {name!r} parameter of {type(self).__name__} must be {what}. "
                                    f"Got {value!r} instead.")

    def _validate_params(self) -> None:
        rho = self.rho
        if rho is not None and (isinstance(rho, (bool, np.bool_)) or not isinstance(rho, numbers.Real)
                                or not math.isfinite(float(rho)) or float(rho) <= 0):
            self._fail("rho", "a float > 0 or None")
        if self.error not in ERRORS:
            self._fail("error", "a str among {'relative', 'mse', 'mae'}")
        if self.max_depth is not None and not _is_int(self.max_depth, 1):
            self._fail("max_depth", "an int >= 1 or None")
        ms = self.min_support
        if not (_is_int(ms, 1) or (isinstance(ms, numbers.Real) and not isinstance(ms, (bool, np.bool_))
                                   and not isinstance(ms, numbers.Integral) and 0 < float(ms) < 1)):
            self._fail("min_support", "an int >= 1 or a float in the range (0, 1)")
        if self.max_rules is not None and not _is_int(self.max_rules, 1):
            self._fail("max_rules", "an int >= 1 or None")
        if not _is_int(self.max_models, 1):
            self._fail("max_models", "an int >= 1")
        trees = (DecisionTreeClassifier, DecisionTreeRegressor)
        if self.model is not None and not isinstance(self.model, trees):
            self._fail("model", "None, a DecisionTreeClassifier or a DecisionTreeRegressor")
        if not isinstance(self.model_sharing, (bool, np.bool_)):
            self._fail("model_sharing", "a bool")
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or _is_int(rs, 0)):
            self._fail("random_state", "an int >= 0, a numpy RandomState or None")

    # ------------------------------------------------------------------ fit

    def fit(self, dataset, y=None) -> "DGRDiscoverer":
        """Discover rules on ``dataset.train`` (test and validation rows are never read).

        Parameters
        ----------
        dataset : Dataset
            Uses ``train``, ``features``, ``target``, ``task`` and ``schema``.
        y : None
            Ignored (the target is ``dataset.target``).

        Returns
        -------
        self : DGRDiscoverer
            Fitted estimator.

        Raises
        ------
        InvalidParameterError
            A parameter out of range, or a ``model`` that does not match the task.
        DataError
            No train rows, missing target values in train rows, or no usable feature.
        """
        self._validate_params()
        for attr in ("train", "features", "target", "task", "schema"):
            if not hasattr(dataset, attr):
                raise DataError("fit expects a synth_core Dataset (see make_dataset); "
                                f"got {type(dataset).__name__}.")
        train = dataset.train.reset_index(drop=True)
        task, target = dataset.task, dataset.target
        if task not in ("classification", "regression"):
            raise DataError(f"task must be 'classification' or 'regression', not {task!r}.")
        n = len(train)
        if n == 0:
            raise DataError("the train split has no rows: discovery needs train rows.")
        if target not in train.columns:
            raise DataError(f"target {target!r} is not a column of the train rows.")
        n_missing_y = int(train[target].isna().sum())
        if n_missing_y:
            raise DataError(f"target {target!r} is missing in {n_missing_y} train row(s): drop those rows "
                            "(make_dataset does) before discovering rules.")
        self._check_model(task)
        warnings_: list[str] = []
        kinds, skipped = _column_kinds(train, dataset.schema, [c for c in dataset.features if c != target])
        if skipped:
            warnings_.append(f"column(s) {', '.join(map(repr, skipped))} are datetime, text or id columns and "
                             "were not used; change their kind on the Data page to use them.")
        if not kinds:
            raise DataError("no usable feature column (numeric, integer, categorical or boolean): mark at "
                            "least one such column as a feature.")
        tgt = _Target.build(train[target].to_numpy(), task, self.error, None)
        if task == "regression" and tgt.error_kind == "relative" and not np.var(tgt.values) > 0:
            warnings_.append(f"target {target!r} has one value in the train rows; relative error uses a "
                             "scale of 1.")
        if task == "classification" and len(tgt.classes) < 2:
            warnings_.append(f"target {target!r} has a single class ({tgt.classes[0]!r}) in the train rows; "
                             "one rule covers everything.")
        if self.rho is not None:
            rho = float(self.rho)
        elif task == "classification":
            rho = DEFAULT_RHO_CLASSIFICATION
        elif tgt.error_kind == "relative":
            rho = DEFAULT_RHO_RELATIVE
        elif tgt.error_kind == "mae":
            mad = float(np.mean(np.abs(tgt.values - np.mean(tgt.values)))) if len(tgt.values) else 0.0
            rho = math.sqrt(DEFAULT_RHO_RELATIVE) * mad if mad > 0 else DEFAULT_RHO_RELATIVE
        else:
            var = float(np.var(tgt.values))
            rho = DEFAULT_RHO_RELATIVE * var if var > 0 else DEFAULT_RHO_RELATIVE
        ms = self.min_support
        min_support = int(ms) if isinstance(ms, numbers.Integral) else max(1, math.ceil(float(ms) * n))
        max_depth = math.inf if self.max_depth is None else int(self.max_depth)

        encoder = _Encoder(train, kinds)
        enc = encoder.encode(train)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        template = self.model if self.model is not None else _default_model(task)
        builder = _Builder(encoder, enc, _gaps(encoder, enc), tgt, template, seed)
        constant = [c for c in kinds if _is_constant(enc[c])]
        if len(constant) == len(kinds):
            warnings_.append("every feature has a single value in the train rows, so no predicate can split "
                             "them; the only rule is TRUE.")

        search = _Search(builder, rho=rho, min_support=min_support, max_depth=max_depth,
                         max_models=int(self.max_models), sharing=bool(self.model_sharing))
        search.run()
        warnings_.extend(search.warnings)

        self.rho_ = rho
        self.error_kind_ = tgt.error_kind
        self.error_scale_ = tgt.scale
        self.min_support_ = min_support
        self.n_train_ = n
        self.feature_names_in_ = list(kinds)
        self.target_ = target
        self.task_ = task
        self.n_models_trained_ = search.n_trained
        self.n_models_shared_ = search.n_shared
        self.regions_ = [r for r, _ in search.regions]
        self._finish(builder, search, warnings_)
        self.warnings_ = warnings_
        return self

    def _check_model(self, task: str) -> None:
        if self.model is None:
            return
        want = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
        if not isinstance(self.model, want):
            self._fail("model", f"None or a {want.__name__} for a {task} target")

    # ------------------------------------------------------------------ fusion, cap, rules

    def _finish(self, builder: _Builder, search: "_Search", warnings_: list[str]) -> None:
        n, rho = builder.n, self.rho_
        groups = search.fuse()
        used = sorted({g.model_id for g in groups})
        loss_all = {m: builder.predict_all(search.trained[m].model) for m in used}

        def group_error(model_id: int, rows: np.ndarray) -> float:
            return float(loss_all[model_id][rows].mean()) if len(rows) else 0.0

        cap = self.max_rules
        n_cap = 0
        while cap is not None and len(groups) > cap:
            small = min(groups, key=lambda g: (len(g.rows), -group_error(g.model_id, g.rows), _group_text(g)))
            best, best_err = None, math.inf
            for g in groups:
                if g is small:
                    continue
                rows = np.concatenate([g.rows, small.rows])
                err = group_error(g.model_id, rows)
                if err < best_err or (err == best_err and best is not None and len(g.rows) > len(best.rows)):
                    best, best_err = g, err
            before = group_error(best.model_id, best.rows)
            best.absorbed.append((_group_text(small), len(small.rows), before, best_err))
            best.absorbed.extend(small.absorbed)
            best.fused.extend(small.fused)
            best.conjs = best.conjs + small.conjs
            best.rows = np.sort(np.concatenate([best.rows, small.rows]))
            best.fits = best_err <= rho
            groups.remove(small)
            n_cap += 1
        if n_cap:
            warnings_.append(f"{_count(n_cap, 'rule was', 'rules were')} merged into the rule whose model fits "
                             f"them best, to keep at most {cap} rules (max_rules); the note of each rule that "
                             "took one in names it.")

        covered = np.zeros(n, dtype=bool)
        drafts = []
        for g in groups:
            err = group_error(g.model_id, g.rows)
            ind = max(float(np.mean(loss_all[m][g.rows] <= rho)) for m in used) if len(g.rows) else 0.0
            conjs = tuple(c for c, _ in sorted(g.conjs, key=lambda cs: -cs[1]))
            if any(not c.predicates for c in conjs):
                conjs = (Conjunction(),)
            covered[g.rows] = True
            drafts.append((g, err, ind, conjs))
        drafts.sort(key=lambda d: (not (d[1] <= rho), -d[2], -len(d[0].rows), _group_text(d[0])))

        rules, merged, path_counts = [], [], {}
        for i, (g, err, ind, conjs) in enumerate(drafts, start=1):
            rid = f"R{i}"
            model = search.trained[g.model_id].model
            leaves, _ = model._route(builder.enc, g.rows)
            counts = np.bincount(leaves[leaves >= 0], minlength=model.n_leaves)
            order = np.argsort(-counts, kind="stable")
            reached = [(model.path(k), int(counts[k])) for k in order if counts[k]]
            path_counts[rid] = reached
            notes = []
            if len(g.fused) > 1:
                notes.append(f"This rule fuses {len(g.fused)} parts of the table that share one model "
                             f"(model {g.model_id}).")
                merged.append({"kind": "fusion", "into": rid, "model_id": g.model_id,
                               "regions": list(g.fused)})
            for text, support, before, after in g.absorbed:
                notes.append(f"The smaller rule {_clip(text)} ({_count(support, 'row', 'rows')}) was merged into "
                             f"it to keep at most {cap} rules (max_rules); this rule's model error went from "
                             f"{before:.4g} to {after:.4g}.")
                merged.append({"kind": "cap", "into": rid, "rule": text, "support": support,
                               "error_before": before, "error_after": after})
            if not err <= rho:
                reasons = sorted({r.reason for r, rows in search.regions
                                  if r.reason and np.isin(rows, g.rows).all()})
                why = (" and ".join(self._stop_reason(r) for r in reasons) if reasons
                       else f"smaller rules were merged into it to keep at most {cap} rules (max_rules)"
                       if cap is not None else "its parts were joined into one rule")
                notes.append(f"Its model's error, {err:.4g}, is above rho = {rho:.4g}: the search could not "
                             f"narrow it further because {why}.")
            rules.append(Rule(conjunctions=conjs, id=rid, origin="discovered", status="proposed",
                              error=float(err), support=int(len(g.rows)),
                              paths=tuple(p for p, _ in reached), model_id=int(g.model_id), ind=float(ind),
                              note=" ".join(notes)))
        self.rules_ = rules
        self.models_ = {m: search.trained[m].model for m in sorted({r.model_id for r in rules})}
        self.merged_ = merged
        self.path_counts_ = path_counts
        self.remainder_mask_ = ~covered
        self.remainder_ = int((~covered).sum())
        self.coverage_ = float(covered.mean()) if n else 0.0
        if self.remainder_:
            warnings_.append(f"{_count(self.remainder_, 'train row is', 'train rows are')} in no rule (the "
                             "remainder): they fall in parts of the table smaller than the fewest rows a rule "
                             f"may have (min_support = {self.min_support_:,} rows).")

    def _stop_reason(self, reason: str) -> str:
        """Why the search stopped at a region, as the end of a sentence."""
        return {
            "max_depth": f"it already has the most conditions a rule may have (max_depth = {self.max_depth})",
            "min_support": "any split would leave a part smaller than the fewest rows a rule may have "
                           f"(min_support = {self.min_support_:,} rows)",
            "no split": "no split of its rows was found (the tree could not divide them further)",
            "max_models": f"the budget of trained models was spent (max_models = {self.max_models})",
        }.get(reason, reason)

    # ------------------------------------------------------------------ reporting

    def _check_fitted(self) -> None:
        if not hasattr(self, "rules_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def summary(self) -> pd.DataFrame:
        """One row per rule: id, text, support, coverage, error, ind, model_id, n_paths, fits.

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        rows = [{"id": r.id, "text": r.text, "support": r.support,
                 "coverage": r.support / self.n_train_ if self.n_train_ else 0.0,
                 "error": r.error, "ind": r.ind, "model_id": r.model_id, "n_paths": len(r.paths),
                 "fits": bool(r.error <= self.rho_)} for r in self.rules_]
        columns = ["id", "text", "support", "coverage", "error", "ind", "model_id", "n_paths", "fits"]
        return pd.DataFrame(rows, columns=columns)


def _is_int(v, low: int) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and int(v) >= low


def _is_constant(a: np.ndarray) -> bool:
    if a.dtype.kind == "f":
        present = a[~np.isnan(a)]
        return len(np.unique(present)) + (1 if len(present) < len(a) else 0) <= 1
    return len(np.unique(a)) <= 1


def _group_text(g: _Group) -> str:
    conjs = [c for c, _ in g.conjs]
    return Rule(conjunctions=tuple(conjs)).text if conjs else "TRUE"


class _Search:
    """The priority-queue search of Alg. 1 over candidate conjunctions."""

    def __init__(self, builder: _Builder, *, rho: float, min_support: int, max_depth: float, max_models: int,
                 sharing: bool):
        self.b = builder
        self.rho, self.min_support, self.max_depth = rho, min_support, max_depth
        self.max_models, self.sharing = max_models, sharing
        self.trained: dict[int, _Trained] = {}
        self.n_trained = 0
        self.n_shared = 0
        self.regions: list[tuple[Region, np.ndarray]] = []
        self.region_nids: list[int] = []
        self.children: dict[int, list[int]] = {}
        self.conj_of: dict[int, Conjunction] = {}
        self.rows_of: dict[int, np.ndarray] = {}
        self.warnings: list[str] = []
        self._budget_warned = False

    def _err(self, model_id: int, rows: np.ndarray) -> float:
        return float(self.trained[model_id].loss[rows].mean())

    def _ind(self, pool: tuple, rows: np.ndarray) -> float:
        if not pool or not len(rows):
            return 0.0
        return max(float(np.mean(self.trained[m].loss[rows] <= self.rho)) for m in pool)

    def run(self) -> None:
        b = self.b
        root = _Cand(0, Conjunction(), (), np.arange(b.n), 0, (), -1)
        self.conj_of[0], self.rows_of[0] = root.conj, root.rows
        heap = [(-0.0, -b.n, 0, root)]
        seq = 1
        while heap:
            _, _, _, cand = heapq.heappop(heap)
            rows = cand.rows
            pool_errs = [(m, self._err(m, rows)) for m in cand.pool]
            if self.sharing:
                fitting = [m for m, e in pool_errs if e <= self.rho]
                if fitting:  # Alg. 1 lines 6-8: share the root-most fitting model
                    self.n_shared += 1
                    self._region(cand, fitting[0], dict(pool_errs)[fitting[0]], shared=True)
                    continue
            if self.n_trained >= self.max_models:
                if not self._budget_warned:
                    self.warnings.append(f"The search stopped training new models after max_models="
                                         f"{self.max_models}; the parts of the table still open reuse the model "
                                         "of a larger part that contains them (raise max_models or rho to "
                                         "search further).")
                    self._budget_warned = True
                m, e = min(pool_errs, key=lambda me: me[1])
                self._region(cand, m, e, shared=False, reason="max_models")
                continue
            mid = self.n_trained
            self.trained[mid] = b.train(rows, model_id=mid, trained_on=cand.conj)
            self.n_trained += 1
            own = self._err(mid, rows)
            if own <= self.rho:
                self._region(cand, mid, own, shared=False)
                continue
            reason = ""
            sides: list[tuple[Predicate, np.ndarray]] = []
            if cand.depth >= self.max_depth:
                reason = "max_depth"
            elif len(rows) < 2 * self.min_support:
                reason = "min_support"
            else:
                sides = self._sides(self.trained[mid].model._root_predicates(), rows)
                if any(len(r) < self.min_support for p, r in sides if p.op != "is missing"):
                    sides = self._sides(b.stump_predicates(rows, self.min_support), rows) or sides
                if not sides:
                    reason = "no split"
                elif max(len(r) for _, r in sides) < self.min_support:
                    reason = "min_support"  # every side too small: stop here (keeps the count monotone)
            if reason:
                options = [(mid, own)] + (pool_errs if self.sharing else [])
                m, e = min(options, key=lambda me: me[1])
                self._region(cand, m, e, shared=False, reason=reason)
                continue
            # Alg. 1 lines 17-20: extend the conjunction with each side of the split
            kids = []
            for pred, child_rows in sides:
                if not len(child_rows):
                    continue
                nid = seq
                seq += 1
                cpreds = cand.preds + (pred,)
                conj = simplify_conjunction(cpreds)
                self.conj_of[nid], self.rows_of[nid] = conj, child_rows
                kids.append(nid)
                if len(child_rows) < self.min_support:
                    continue  # too small to be a rule: part of the remainder
                pool = cand.pool + (mid,)
                child = _Cand(nid, conj, cpreds, child_rows, cand.depth + 1, pool, cand.nid)
                heapq.heappush(heap, (-self._ind(pool, child_rows), -len(child_rows), nid, child))
            self.children[cand.nid] = kids

    def _sides(self, preds: list[Predicate], rows: np.ndarray) -> list[tuple[Predicate, np.ndarray]]:
        """The rows of ``rows`` on each side of a split."""
        out = []
        for pred in preds:
            mask = _pred_mask(pred, self.b.enc[pred.column][rows], self.b.encoder.columns[pred.column])
            out.append((pred, rows[mask]))
        return out

    def _region(self, cand: _Cand, model_id: int, error: float, *, shared: bool, reason: str = "") -> None:
        fits = error <= self.rho
        ind = self._ind(cand.pool + ((model_id,) if model_id not in cand.pool else ()), cand.rows)
        region = Region(cand.conj, int(len(cand.rows)), int(model_id), float(error), bool(fits), shared,
                        cand.depth, ind, "" if fits else reason)
        self.regions.append((region, cand.rows))
        self.region_nids.append(cand.nid)

    def fuse(self) -> list[_Group]:
        """Proposition 3: one DNF rule per (model, fits); siblings that make up their parent collapse."""
        parent = {kid: p for p, kids in self.children.items() for kid in kids}
        keyed: dict[tuple, set[int]] = {}
        info = {}
        for (region, rows), nid in zip(self.regions, self.region_nids):
            keyed.setdefault((region.model_id, region.fits), set()).add(nid)
            info[nid] = region
        groups = []
        for (model_id, fits), nids in keyed.items():
            items = set(nids)
            changed = True
            while changed:
                changed = False
                for p in {parent[i] for i in items if i in parent}:
                    kids = self.children[p]
                    if kids and all(k in items for k in kids):
                        items -= set(kids)
                        items.add(p)
                        changed = True
                        break
            ordered = sorted(items)
            conjs = [(self.conj_of[i], len(self.rows_of[i])) for i in ordered]
            rows = np.sort(np.concatenate([self.rows_of[i] for i in ordered]))
            fused = [info[i].conjunction.to_text() for i in sorted(nids)]
            groups.append(_Group(conjs, rows, model_id, fits, fused=fused))
        return groups


# =========================================================================== report


def _count(n: int, one: str, many: str) -> str:
    """``1 rule was`` / ``3 rules were``: a number with the words that agree with it."""
    return f"{n:,} {one if n == 1 else many}"


def _clip(text: str, limit: int = 160) -> str:
    """Rule text for a sentence: in “quotes” (rule text has its own '), cut with a count when long."""
    if len(text) <= limit:
        return f"“{text}”"
    return f"“{text[:limit].rstrip()} …” ({len(text) - limit:,} more characters)"


def discover_report(discoverer: DGRDiscoverer) -> str:
    """Plain-text report of a fitted discoverer: rules with support, error and tree paths.

    Parameters
    ----------
    discoverer : DGRDiscoverer
        A fitted discoverer.

    Returns
    -------
    str

    Raises
    ------
    NotFittedError
    """
    d = discoverer
    d._check_fitted()
    n = d.n_train_
    unit = {"rate": "error rate", "relative": "MSE / target variance", "mse": "MSE",
            "mae": "mean absolute error"}[d.error_kind_]
    lines = [
        f"DGR discovery: {len(d.rules_)} rule(s) on {n:,} train rows "
        f"(target {d.target_!r}, {d.task_}, rho {d.rho_:.4g} as {unit})",
        f"shared models: {d.n_models_trained_} trained, {d.n_models_shared_} time(s) an existing one was reused "
        f"instead; {len(d.regions_)} part(s) of the table before parts sharing a model were fused into one rule",
        f"coverage: {d.coverage_:.1%}; remainder: {d.remainder_:,} row(s) covered by no rule",
        "",
    ]
    for r in d.rules_:
        flag = "" if r.error <= d.rho_ else "  [above rho]"
        lines.append(f"{r.id}  support {r.support:,} ({r.support / n:.1%})  error {r.error:.4g}  "
                     f"ind {r.ind:.3f}  model {r.model_id}{flag}")
        lines.append(f"    {r.text}")
        counts = d.path_counts_.get(r.id, [])
        if counts:
            lines.append(f"    tree paths of its shared model {r.model_id} (the leaves its rows reach; they may "
                         "use other columns, and are not conditions of the rule):")
            for path, k in counts:
                lines.append(f"      {path.to_text()}   [{k:,} rows]")
        if r.note:
            lines.append(f"    note: {r.note}")
        lines.append("")
    caps = [m for m in d.merged_ if m["kind"] == "cap"]
    if caps:
        lines.append(f"rules merged into others to keep at most {d.max_rules} rules (max_rules):")
        for m in caps:
            lines.append(f"  {m['rule']} ({m['support']:,} rows) -> merged into {m['into']} "
                         f"(its model's error {m['error_before']:.4g} -> {m['error_after']:.4g})")
        lines.append("")
    if d.warnings_:
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in d.warnings_)
    return "\n".join(lines).rstrip() + "\n"
