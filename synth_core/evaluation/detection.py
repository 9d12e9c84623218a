"""Detection: can a classifier tell real rows from synthetic ones?

:class:`DetectionAUC` draws the same number of real and synthetic rows
(balanced, at most ``max_rows_per_side`` each, fixed seed), encodes them with the
shared :class:`~synth_core.encoding.RowEncoder` fitted on the real
rows, and reports the mean ROC AUC of a classifier over stratified
cross-validation folds. 0.5 means the rows cannot be told apart; 1.0 means every
synthetic row is spotted. The classifier and ``random_state`` are arguments and
are recorded in the breakdown.

Why not SDMetrics' ``LogisticDetection`` / ``SVCDetection`` (sdmetrics 0.32):
they report ``1 - mean(2 * max(AUC, 0.5) - 1)``, not the AUC the Compare page's
"Detection AUC" card shows; their 3 folds are shuffled without a seed, so the
figure changes from run to run; they take every row of both sides unbalanced (a
10k x 60k comparison fits on 70k rows and its AUC leans on the imbalance), drop
boolean columns (only numerical, datetime and categorical sdtypes are kept) and
offer a logistic regression or an SVC only; and they do not keep identical rows
in one fold, so copies of real rows score below 0.5 (clipped to 0.5), which
hides copying. The product's metric is seeded, balanced, grouped, takes any
classifier and returns the AUC itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from ..encoding import RowEncoder
from ..errors import DataError
from .fidelity import Goal, Metric, resolve_columns

__all__ = ["DetectionAUC", "default_detector"]


def default_detector(random_state: int | None = 0):
    """A gradient-boosted tree classifier: fast on a few thousand rows, catches non-linear tells."""
    return HistGradientBoostingClassifier(
        max_iter=50, learning_rate=0.2, early_stopping=False, random_state=random_state
    )


def _balanced_sample(
    real: pd.DataFrame, synthetic: pd.DataFrame, max_rows_per_side: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = min(len(real), len(synthetic), max_rows_per_side)
    r = real.iloc[np.sort(rng.choice(len(real), size=n, replace=False))]
    s = synthetic.iloc[np.sort(rng.choice(len(synthetic), size=n, replace=False))]
    return r, s


class DetectionAUC(Metric):
    """Cross-validated ROC AUC of a real-vs-synthetic classifier (0.5 = indistinguishable).

    Rows that encode identically are kept in one fold (grouped
    cross-validation), so copies of real rows score about 0.5 rather than
    below it. The breakdown holds ``score`` (mean AUC), ``folds`` (AUC per
    fold), ``indistinguishability`` (``1 - 2 * max(AUC - 0.5, 0)``, 1 is best)
    and ``parameters`` (model, seed, folds, rows per side).
    """

    name = "detection_auc"
    goal = Goal.MINIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "model", "random_state", "n_folds", "max_rows_per_side", "max_threads")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        model=None,
        random_state: int | None = 0,
        n_folds: int = 5,
        max_rows_per_side: int = 2000,
        max_threads: int | None = 1,
    ) -> dict:
        """Balanced subsample, shared encoding, grouped stratified cross-validation.

        Parameters
        ----------
        real, synthetic : DataFrame
        schema : Schema, optional
        columns : list of str, optional
            Columns to compare (default: every compared column of the schema).
        model : classifier, optional
            Any scikit-learn classifier with ``predict_proba``; cloned per fold.
            Defaults to :func:`default_detector`.
        random_state : int or None
            Seeds the subsample, the folds and the model (when it takes one).
        n_folds : int
            Folds (fewer when there are fewer distinct rows).
        max_rows_per_side : int
            Cap on real and on synthetic rows used (the smaller side sets both).
        max_threads : int or None
            OpenMP threads for the model (``None``: the library default). One
            thread is the default: on a shared machine OpenMP's busy waiting
            made the default detector 10x slower (``benchmarks/results/report.md``).

        Returns
        -------
        dict

        Raises
        ------
        DataError
            Fewer than 2 rows on a side, or no fold with both kinds of rows.
        """
        schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
        cols = numeric + categorical
        if len(synthetic) < 2 or len(real) < 2:
            raise DataError(
                f"detection needs at least 2 real and 2 synthetic rows to cross-validate; "
                f"got {len(real)} real and {len(synthetic)} synthetic."
            )
        rng = np.random.default_rng(random_state)
        r, s = _balanced_sample(real, synthetic, max_rows_per_side, rng)
        encoder = RowEncoder(schema, cols).fit(r)
        X = np.vstack([encoder.transform(r), encoder.transform(s)])
        y = np.concatenate([np.zeros(len(r), dtype=int), np.ones(len(s), dtype=int)])
        # Identical encoded rows share a fold: otherwise a copied row's twin sits in the training folds
        # with the opposite label, and a memorising model scores far *below* 0.5 on copies.
        _, groups = np.unique(X, axis=0, return_inverse=True)
        groups = groups.ravel()
        folds = int(min(n_folds, len(np.unique(groups)), len(r)))
        if folds < 2:
            raise DataError(
                "detection needs at least 2 distinct rows to cross-validate; all rows are identical."
            )
        if model is None:
            model = default_detector(random_state)
        aucs = []
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
        with threadpool_limits(limits=max_threads, user_api="openmp"):
            for train_idx, test_idx in splitter.split(X, y, groups):
                if len(np.unique(y[train_idx])) < 2 or len(np.unique(y[test_idx])) < 2:
                    continue  # a fold of one class (tiny or heavily duplicated inputs) has no AUC
                clf = clone(model)
                if "random_state" in clf.get_params():
                    clf.set_params(random_state=random_state)
                clf.fit(X[train_idx], y[train_idx])
                proba = clf.predict_proba(X[test_idx])[:, list(clf.classes_).index(1)]
                aucs.append(float(roc_auc_score(y[test_idx], proba)))
        if not aucs:
            raise DataError("no cross-validation fold held both real and synthetic rows; add rows.")
        auc = float(np.mean(aucs))
        return {
            "score": auc,
            "folds": aucs,
            "indistinguishability": float(1.0 - 2.0 * max(auc - 0.5, 0.0)),
            "parameters": {
                "model": type(model).__name__,
                "random_state": random_state,
                "n_folds": folds,
                "rows_per_side": len(r),
                "n_features": int(X.shape[1]),
                "max_threads": max_threads,
            },
        }
