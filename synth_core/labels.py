"""The label step: a teacher fitted on real train rows labels, filters or scores synthetic rows.

Why a step of its own: under the benchmark protocol most of the harm synthetic
rows do to a downstream model is in their labels (see DESIGN.md, "Labels are a
step of their own"). A teacher, by default ``HistGradientBoosting`` with
categoricals handled natively, is fitted on the real train split only, checked
on validation rows next to the downstream model, and then:

- ``relabel``: overwrite the target with the teacher's prediction;
- ``filter``: drop rows whose label the teacher contradicts (class probability
  of the given label below ``threshold``, or a regression residual beyond
  ``k`` validation-residual sd), and, in the spirit of CLLM, rows the teacher
  is unsure about (low confidence and, when asked for, disagreement across a small bagged ensemble);
- ``score``: keep everything and add a ``_confidence`` column;
- ``none``: leave rows as they are.

When the teacher is not better than the downstream model on validation rows,
the step says so in ``message_`` and ``mode='auto'`` falls back to ``filter``
with a loose threshold. Provenance columns record the mode, the original label
and the teacher's. Rejections are counted by reason like every other one.
"""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from ._validation import HasMethods, InstanceOf, Interval, Options, check_params
from .encoding import label_strings, split_columns
from .errors import InvalidParameterError, NotFittedError
from .models import ModelSpec, row_losses

__all__ = ["Labeler", "LABEL_MODES"]

LABEL_MODES = ("auto", "relabel", "filter", "score", "none")


class _Teacher:
    """HistGradientBoosting over raw rows: categoricals as integer codes with native categorical splits."""

    def __init__(self, schema, features, task, model, random_state):
        self.schema, self.features, self.task = schema, list(features), task
        self.model, self.random_state = model, random_state

    def fit(self, frame: pd.DataFrame, y):
        self.numeric_, self.categorical_ = split_columns(self.schema, self.features)
        self.levels_ = {
            c: {v: i for i, v in enumerate(pd.unique(frame[c].dropna().astype(str))[:250])}
            for c in self.categorical_
        }
        if self.model is None or self.model == "boosting":
            cls = (
                HistGradientBoostingClassifier
                if self.task == "classification"
                else HistGradientBoostingRegressor
            )
            mask = [False] * len(self.numeric_) + [True] * len(self.categorical_)
            self.est_ = cls(
                categorical_features=mask if any(mask) else None,
                random_state=self.random_state,
                max_iter=200,
                early_stopping=False,
                learning_rate=0.1,
            )
        elif self.model == "forest":
            cls = RandomForestClassifier if self.task == "classification" else RandomForestRegressor
            self.est_ = cls(n_estimators=100, random_state=self.random_state, n_jobs=1)
        else:
            self.est_ = clone(self.model)
        self.est_.fit(self._matrix(frame), y)
        return self

    def _matrix(self, frame):
        cols = [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in self.numeric_]
        for c in self.categorical_:
            codes = np.array(frame[c].astype(str).map(self.levels_[c]), dtype=float)
            codes[frame[c].isna().to_numpy()] = np.nan
            cols.append(codes)
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def predict(self, frame):
        return self.est_.predict(self._matrix(frame))

    def predict_proba(self, frame):
        return self.est_.predict_proba(self._matrix(frame))

    @property
    def classes_(self):
        return self.est_.classes_


class Labeler(BaseEstimator):
    """Label synthetic rows with a teacher fitted on real train rows only.

    Parameters
    ----------
    mode : {'auto', 'relabel', 'filter', 'score', 'none'}
        ``auto`` relabels when the teacher beats the downstream model on validation rows and
        filters with a loose threshold otherwise.
    teacher : {'boosting', 'forest'}, estimator or None
        ``boosting`` (the default, also None): HistGradientBoosting with native categorical splits;
        ``forest``: a random forest of 100 trees (better on small tables); or any estimator.
    downstream : estimator or None
        The user's model, compared with the teacher on validation rows (default: decision tree).
    threshold : float
        ``filter`` (classification): drop rows whose label has teacher probability below this.
    k : float
        ``filter`` (regression): drop rows whose residual exceeds k validation-residual sd.
    min_confidence : float
        ``filter``: also drop rows whose top teacher probability is below this (unsure teacher).
    n_bags : int
        Bagged teachers for a disagreement check in ``filter`` mode (default 0: off). Under
        cross-fitting each one is another teacher fit per fold and teacher.
    random_state : int or None

    Attributes
    ----------
    teacher_score_, downstream_score_ : float
        Validation error rate / MSE of the teacher and the downstream model.
    effective_mode_ : str
    message_ : str
    """

    _parameter_constraints = {
        "mode": [Options(LABEL_MODES)],
        "teacher": [Options(("boosting", "forest")), HasMethods("fit", "predict"), None],
        "downstream": [InstanceOf(str, ModelSpec), HasMethods("fit", "get_params"), None],
        "threshold": [Interval(float, 0, 1, closed="left")],
        "k": [Interval(float, 0, None, closed="neither")],
        "min_confidence": [Interval(float, 0, 1)],
        "n_bags": [Interval(int, 0, None)],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(
        self,
        *,
        mode="auto",
        teacher=None,
        downstream=None,
        threshold=0.3,
        k=2.0,
        min_confidence=0.0,
        n_bags=0,
        random_state=0,
    ):
        self.mode = mode
        self.teacher = teacher
        self.downstream = downstream
        self.threshold = threshold
        self.k = k
        self.min_confidence = min_confidence
        self.n_bags = n_bags
        self.random_state = random_state

    def fit(self, dataset, *, scores: dict | None = None):
        """Fit the teacher on ``dataset.train`` and settle the mode.

        Under the paper protocol (the dataset has validation rows) the teacher and the downstream
        model are scored there and ``auto`` decides by them. Under the cross-fitted protocol the
        caller passes the out-of-fold ``scores`` (``{"teacher": ..., "downstream": ...,
        "resid_sd": ...}``) that :class:`~synth_core.crossfit.CrossFitCheck` measured; with neither,
        ``auto`` cannot be decided and is refused.
        """
        check_params(self)
        self.dataset_ = dataset
        self.task_ = dataset.task
        feats, target = dataset.features, dataset.target
        train, val = dataset.train, dataset.val
        y = self._y(train[target])
        self.teacher_ = _Teacher(dataset.schema, feats, self.task_, self.teacher, self.random_state).fit(
            train, y
        )
        self.resid_sd_ = 1.0
        where = "validation"
        if scores is not None:
            where = "out-of-fold"
            self.teacher_score_ = float(scores["teacher"])
            self.downstream_score_ = float(scores["downstream"])
            self.resid_sd_ = float(scores.get("resid_sd") or 1.0)
        elif len(val):
            self.teacher_score_ = float(np.mean(self.teacher_losses(val)))
            self.downstream_score_ = float(
                np.mean(
                    row_losses(
                        dataset.schema,
                        feats,
                        self.task_,
                        train,
                        val,
                        target,
                        model=self.downstream,
                        random_state=self.random_state,
                    )
                )
            )
            if self.task_ == "regression":
                self.resid_sd_ = float(np.sqrt(self.teacher_score_)) or 1.0
        elif self.mode == "auto":
            raise InvalidParameterError(
                "Labeler mode 'auto' compares the teacher with your model on held-out "
                "rows: give the dataset validation rows, or pass the cross-fitted scores."
            )
        else:
            self.teacher_score_ = self.downstream_score_ = float("nan")
        better = self.teacher_score_ < self.downstream_score_
        self.effective_mode_ = ("relabel" if better else "filter") if self.mode == "auto" else self.mode
        self.threshold_ = self.threshold if (better or self.mode != "auto") else min(self.threshold, 0.1)
        if np.isfinite(self.teacher_score_):
            name = "error" if self.task_ == "classification" else "MSE"
            verdict = "better than" if better else "NOT better than"
            self.message_ = (
                f"label teacher {where} {name} {self.teacher_score_:.4g} vs your model "
                f"{self.downstream_score_:.4g}: the teacher is {verdict} your model"
            )
            if not better and self.mode == "auto":
                self.message_ += "; so rows keep their own labels and only those the teacher firmly contradicts are dropped"
        else:
            self.message_ = f"labels: mode {self.mode}"
        self.bags_ = self._bags() if self.effective_mode_ == "filter" else []
        return self

    def _bags(self) -> list:
        """Teachers on bootstrap samples of the train rows, for the filter's disagreement check."""
        if not self.n_bags or self.task_ != "classification":
            return []
        ds = self.dataset_
        train, rng, bags = ds.train, np.random.default_rng(self.random_state), []
        for _ in range(self.n_bags):
            boot = train.iloc[rng.integers(len(train), size=len(train))]
            bags.append(
                _Teacher(ds.schema, ds.features, self.task_, self.teacher, self.random_state).fit(
                    boot, self._y(boot[ds.target])
                )
            )
        return bags

    def _check_fitted(self) -> None:
        if not hasattr(self, "teacher_"):
            raise NotFittedError("Labeler is not fitted yet. Call 'fit' with the dataset first.")

    def teacher_losses(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-row loss of the teacher on real rows (0/1 error, or squared error for regression).

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        truth = frame[self.dataset_.target]
        pred = self.teacher_.predict(frame)
        if self.task_ == "classification":
            return (label_strings(pred) != label_strings(truth)).astype(float)
        return (truth.to_numpy(dtype=float) - pred) ** 2

    def with_mode(self, mode: str, *, loose: bool = False, resid_sd: float | None = None) -> Labeler:
        """The same fitted teacher under another mode (no refit of the teacher).

        ``loose``: a filter that drops only rows the teacher firmly contradicts (what ``auto`` does
        when the teacher is not better than your model). ``resid_sd``: the regression filter's
        residual scale.

        Raises
        ------
        NotFittedError
            Before ``fit``: there is no teacher to reuse.
        InvalidParameterError
            A mode that is not one of 'relabel', 'filter', 'score' or 'none'.
        """
        self._check_fitted()
        if mode not in LABEL_MODES or mode == "auto":
            raise InvalidParameterError(f"with_mode needs one of {LABEL_MODES[1:]}, not {mode!r}.")
        out = copy.copy(self)
        out.effective_mode_ = mode
        out.threshold_ = min(self.threshold, 0.1) if loose else self.threshold
        if resid_sd:
            out.resid_sd_ = float(resid_sd)
        if mode == "filter" and not self.bags_:
            out.bags_ = self._bags()
        return out

    def _y(self, s):
        return label_strings(s).astype(str) if self.task_ == "classification" else s.to_numpy(dtype=float)

    def transform(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Labelled rows; ``_status`` / ``_reason`` mark rows the filter drops (they are kept, not deleted).

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        out = rows.copy().reset_index(drop=True)
        if "_status" not in out:
            out["_status"], out["_reason"] = "accepted", ""
        mode = self.effective_mode_
        out["_label_mode"] = mode
        target = self.dataset_.target
        live = (out["_status"] == "accepted").to_numpy()
        if mode == "none" or not live.any():
            return out
        frame = out.loc[live]
        real_y = self.dataset_.train[target]
        original = frame[target].copy()
        if self.task_ == "classification":
            proba = self.teacher_.predict_proba(frame)
            classes = np.asarray(self.teacher_.classes_).astype(str)
            teacher = classes[np.argmax(proba, axis=1)]
            teacher_values = _restore_type(teacher, real_y)
            col = {c: i for i, c in enumerate(classes)}
            given = pd.Series(label_strings(original), index=original.index).map(col)
            p_given = np.array([proba[i, int(j)] if pd.notna(j) else 0.0 for i, j in enumerate(given)])
            confidence = proba.max(axis=1)
        else:
            teacher_values = self.teacher_.predict(frame)
            resid = np.abs(pd.to_numeric(original, errors="coerce").to_numpy(dtype=float) - teacher_values)
            confidence = np.exp(-resid / (self.k * self.resid_sd_))
        out["_label_original"] = pd.Series(dtype=object)
        out["_label_teacher"] = pd.Series(dtype=object)
        out.loc[live, "_label_original"] = original.astype(object).to_numpy()
        out.loc[live, "_label_teacher"] = pd.Series(teacher_values, dtype=object).to_numpy()
        out.loc[live, "_confidence"] = confidence
        if mode == "relabel":
            values = pd.Series(teacher_values, index=frame.index)
            if pd.api.types.is_numeric_dtype(out[target]) or out[target].dtype == object:
                out[target] = out[target].astype(object)
            out.loc[live, target] = values.astype(object)
            if pd.api.types.is_numeric_dtype(real_y) and not pd.api.types.is_bool_dtype(real_y):
                out[target] = pd.to_numeric(out[target], errors="coerce")
                if pd.api.types.is_integer_dtype(
                    real_y
                ):  # keep integer classes integer, even beside empty cells
                    out[target] = out[target].round().astype("Int64")
        elif mode == "filter":
            reasons = np.full(len(frame), "", dtype=object)
            if self.task_ == "classification":
                reasons[p_given < self.threshold_] = "label contradicted by teacher"
                unsure = confidence < self.min_confidence
            else:
                reasons[resid > self.k * self.resid_sd_] = "label contradicted by teacher"
                unsure = np.zeros(len(frame), dtype=bool)
            if self.bags_:
                votes = (
                    np.column_stack([np.asarray(b.predict(frame)).astype(str) for b in self.bags_])
                    if self.task_ == "classification"
                    else None
                )
                if votes is not None:
                    agree = (votes == np.asarray(teacher).astype(str)[:, None]).mean(axis=1)
                    unsure |= agree < 0.5
            reasons[(reasons == "") & unsure] = "teacher unsure"
            drop = reasons != ""
            idx = frame.index[drop]
            out.loc[idx, "_status"] = "rejected"
            out.loc[idx, "_reason"] = reasons[drop]
        return out

    def summary(self, labelled: pd.DataFrame) -> dict:
        """Counts for the UI: labels changed, rows dropped by reason, teacher vs downstream score.

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        changed = 0
        if "_label_original" in labelled and "_label_teacher" in labelled:
            both = labelled.dropna(subset=["_label_original"])
            changed = (
                int((label_strings(both["_label_original"]) != label_strings(both["_label_teacher"])).sum())
                if self.task_ == "classification"
                else int(len(both))
            )
        dropped = Counter(
            labelled.loc[
                labelled["_reason"].isin(["label contradicted by teacher", "teacher unsure"]), "_reason"
            ]
        )
        return {
            "mode": self.effective_mode_,
            "requested_mode": self.mode,
            "labels_changed": changed,
            "dropped": dict(dropped),
            "teacher_score": self.teacher_score_,
            "downstream_score": self.downstream_score_,
            "message": self.message_,
        }


def _restore_type(values: np.ndarray, like: pd.Series):
    """Class labels predicted as strings, back in the real target's type."""
    if pd.api.types.is_bool_dtype(like):  # before the numeric check: bools count as numeric
        return np.asarray(values) == "True"
    if pd.api.types.is_numeric_dtype(like):
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
    return np.asarray(values, dtype=object)
