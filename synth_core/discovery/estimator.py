"""The estimator: :class:`DGRDiscoverer`, DATE Alg. 1 as a scikit-learn-style estimator.

``fit`` checks the parameters, encodes the train rows (:mod:`.encoding`),
runs the search (:mod:`.search`) with trees fitted by :mod:`.training`, then
caps the number of rules at ``max_rules`` and writes them as
:class:`~synth_core.rules.Rule` objects with their notes. The package
docstring describes the algorithm and the choices made where the paper is
ambiguous.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state

from .._validation import RANDOM_STATE, Bool, InstanceOf, Interval, Options, check_params
from ..errors import DataError, InvalidParameterError, NotFittedError
from ..rules import Conjunction, Rule
from .encoding import Encoder, column_kinds, is_constant, numeric_gaps
from .report import counted, quoted
from .search import RuleSearch, group_text
from .training import ModelBuilder, Target, default_model

__all__ = ["DGRDiscoverer", "DEFAULT_RHO_CLASSIFICATION", "DEFAULT_RHO_RELATIVE", "ERRORS"]

DEFAULT_RHO_CLASSIFICATION = 0.05
DEFAULT_RHO_RELATIVE = 0.1
#: Regression error definitions: ``'relative'`` (the product's default: MSE over the target's variance),
#: ``'mse'``, and ``'mae'`` (Problem 1's mean absolute error; the ``paper`` preset's).
ERRORS = ("relative", "mse", "mae")


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

    _parameter_constraints = {
        "rho": [Interval(float, 0, None, closed="neither"), None],
        "error": [Options(ERRORS)],
        "max_depth": [Interval(int, 1, None), None],
        "min_support": [Interval(int, 1, None), Interval(float, 0, 1, closed="neither")],
        "max_rules": [Interval(int, 1, None), None],
        "max_models": [Interval(int, 1, None)],
        "model": [InstanceOf(DecisionTreeClassifier, DecisionTreeRegressor), None],
        "model_sharing": [Bool],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        rho=None,
        error="relative",
        max_depth=6,
        min_support=0.02,
        max_rules=20,
        max_models=200,
        model=None,
        model_sharing=True,
        random_state=None,
    ):
        self.rho = rho
        self.error = error
        self.max_depth = max_depth
        self.min_support = min_support
        self.max_rules = max_rules
        self.max_models = max_models
        self.model = model
        self.model_sharing = model_sharing
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(self, dataset, y=None) -> DGRDiscoverer:
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
        check_params(self)
        for attr in ("train", "features", "target", "task", "schema"):
            if not hasattr(dataset, attr):
                raise DataError(
                    f"fit expects a synth_core Dataset (see make_dataset); got {type(dataset).__name__}."
                )
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
            raise DataError(
                f"target {target!r} is missing in {n_missing_y} train row(s): drop those rows "
                "(make_dataset does) before discovering rules."
            )
        self._check_model(task)
        warnings_: list[str] = []
        kinds, skipped = column_kinds(train, dataset.schema, [c for c in dataset.features if c != target])
        if skipped:
            warnings_.append(
                f"column(s) {', '.join(map(repr, skipped))} are datetime, text or id columns and "
                "were not used; change their kind on the Data page to use them."
            )
        if not kinds:
            raise DataError(
                "no usable feature column (numeric, integer, categorical or boolean): mark at "
                "least one such column as a feature."
            )
        tgt = Target.build(train[target].to_numpy(), task, self.error, None)
        if task == "regression" and tgt.error_kind == "relative" and not np.var(tgt.values) > 0:
            warnings_.append(
                f"target {target!r} has one value in the train rows; relative error uses a scale of 1."
            )
        if task == "classification" and len(tgt.classes) < 2:
            warnings_.append(
                f"target {target!r} has a single class ({tgt.classes[0]!r}) in the train rows; "
                "one rule covers everything."
            )
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

        encoder = Encoder(train, kinds)
        enc = encoder.encode(train)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        template = self.model if self.model is not None else default_model(task)
        builder = ModelBuilder(encoder, enc, numeric_gaps(encoder, enc), tgt, template, seed)
        constant = [c for c in kinds if is_constant(enc[c])]
        if len(constant) == len(kinds):
            warnings_.append(
                "every feature has a single value in the train rows, so no predicate can split "
                "them; the only rule is TRUE."
            )

        search = RuleSearch(
            builder,
            rho=rho,
            min_support=min_support,
            max_depth=max_depth,
            max_models=int(self.max_models),
            sharing=bool(self.model_sharing),
        )
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
            raise InvalidParameterError(
                f"The 'model' parameter of {type(self).__name__} must be None or a "
                f"{want.__name__} for a {task} target. Got {self.model!r} instead."
            )

    # ------------------------------------------------------------------ fusion, cap, rules

    def _finish(self, builder: ModelBuilder, search: RuleSearch, warnings_: list[str]) -> None:
        n, rho = builder.n, self.rho_
        groups = search.fuse()
        used = sorted({g.model_id for g in groups})
        loss_all = {m: builder.predict_all(search.trained[m].model) for m in used}

        def group_error(model_id: int, rows: np.ndarray) -> float:
            return float(loss_all[model_id][rows].mean()) if len(rows) else 0.0

        cap = self.max_rules
        n_cap = 0
        while cap is not None and len(groups) > cap:
            small = min(groups, key=lambda g: (len(g.rows), -group_error(g.model_id, g.rows), group_text(g)))
            best, best_err = None, math.inf
            for g in groups:
                if g is small:
                    continue
                rows = np.concatenate([g.rows, small.rows])
                err = group_error(g.model_id, rows)
                if err < best_err or (err == best_err and best is not None and len(g.rows) > len(best.rows)):
                    best, best_err = g, err
            before = group_error(best.model_id, best.rows)
            best.absorbed.append((group_text(small), len(small.rows), before, best_err))
            best.absorbed.extend(small.absorbed)
            best.fused.extend(small.fused)
            best.conjs = best.conjs + small.conjs
            best.rows = np.sort(np.concatenate([best.rows, small.rows]))
            best.fits = best_err <= rho
            groups.remove(small)
            n_cap += 1
        if n_cap:
            warnings_.append(
                f"{counted(n_cap, 'rule was', 'rules were')} merged into the rule whose model fits "
                f"them best, to keep at most {cap} rules (max_rules); the note of each rule that "
                "took one in names it."
            )

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
        drafts.sort(key=lambda d: (not (d[1] <= rho), -d[2], -len(d[0].rows), group_text(d[0])))

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
                notes.append(
                    f"This rule fuses {len(g.fused)} parts of the table that share one model "
                    f"(model {g.model_id})."
                )
                merged.append(
                    {"kind": "fusion", "into": rid, "model_id": g.model_id, "regions": list(g.fused)}
                )
            for text, support, before, after in g.absorbed:
                notes.append(
                    f"The smaller rule {quoted(text)} ({counted(support, 'row', 'rows')}) was merged into "
                    f"it to keep at most {cap} rules (max_rules); this rule's model error went from "
                    f"{before:.4g} to {after:.4g}."
                )
                merged.append(
                    {
                        "kind": "cap",
                        "into": rid,
                        "rule": text,
                        "support": support,
                        "error_before": before,
                        "error_after": after,
                    }
                )
            if not err <= rho:
                reasons = sorted(
                    {r.reason for r, rows in search.regions if r.reason and np.isin(rows, g.rows).all()}
                )
                why = (
                    " and ".join(self._stop_reason(r) for r in reasons)
                    if reasons
                    else f"smaller rules were merged into it to keep at most {cap} rules (max_rules)"
                    if cap is not None
                    else "its parts were joined into one rule"
                )
                notes.append(
                    f"Its model's error, {err:.4g}, is above rho = {rho:.4g}: the search could not "
                    f"narrow it further because {why}."
                )
            rules.append(
                Rule(
                    conjunctions=conjs,
                    id=rid,
                    origin="discovered",
                    status="proposed",
                    error=float(err),
                    support=int(len(g.rows)),
                    paths=tuple(p for p, _ in reached),
                    model_id=int(g.model_id),
                    ind=float(ind),
                    note=" ".join(notes),
                )
            )
        self.rules_ = rules
        self.models_ = {m: search.trained[m].model for m in sorted({r.model_id for r in rules})}
        self.merged_ = merged
        self.path_counts_ = path_counts
        self.remainder_mask_ = ~covered
        self.remainder_ = int((~covered).sum())
        self.coverage_ = float(covered.mean()) if n else 0.0
        if self.remainder_:
            warnings_.append(
                f"{counted(self.remainder_, 'train row is', 'train rows are')} in no rule (the "
                "remainder): they fall in parts of the table smaller than the fewest rows a rule "
                f"may have (min_support = {self.min_support_:,} rows)."
            )

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
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def summary(self) -> pd.DataFrame:
        """One row per rule: id, text, support, coverage, error, ind, model_id, n_paths, fits.

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        rows = [
            {
                "id": r.id,
                "text": r.text,
                "support": r.support,
                "coverage": r.support / self.n_train_ if self.n_train_ else 0.0,
                "error": r.error,
                "ind": r.ind,
                "model_id": r.model_id,
                "n_paths": len(r.paths),
                "fits": bool(r.error <= self.rho_),
            }
            for r in self.rules_
        ]
        columns = ["id", "text", "support", "coverage", "error", "ind", "model_id", "n_paths", "fits"]
        return pd.DataFrame(rows, columns=columns)
