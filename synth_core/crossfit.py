"""Cross-fitted checks: which synthetic rows help the analyst's model, judged on every real row.

An analyst's table is not a benchmark: a method that spends a validation split
must beat a model trained on those rows too (``../shared/DESIGN.md``, "Every real
row counts"). So instead of a fixed split, the given rows are cut into ``folds``
folds (stratified for classification; more folds, repeated, for small tables). For each fold

1. a producer (the pipeline: generator, row selection) makes candidate rows from
   the *other* folds only;
2. label teachers (gradient boosting, and a random forest for small tables) are
   fitted on the other folds; the one with the lower out-of-fold loss labels them;
3. the analyst's model (and any model to check beside it) is trained on the other
   folds' real rows alone and with a growing share of the candidates, and every
   row of the held-out fold gets a loss for each amount.

Each real row is held out once per repeat, so each row gives a paired loss
difference for every amount. Pooled over all rows these decide

- the label mode, when it is ``auto``: ``relabel`` when the teacher's
  out-of-fold loss is below the model's, else ``filter`` with a strict threshold;
- the amount kept: the share of candidates with the largest mean gain among
  those whose paired z-score is at least ``z_min`` and that make no checked
  model worse with a z-score beyond ``z_harm``; none when no share qualifies.
  The z-score is the weaker of the per-row one and the between-fold one (rows
  of one fold share a fitted model), the standard the verdict's interval uses;
- the verdict: when rows are kept, each fold is judged by choices the *other*
  folds made (their preferred share, and their whole decision), so the change
  reported, with its 95% interval, is never measured on rows that chose it;
  when none is kept, the change is zero.

The final teacher and generator are fitted on every row afterwards
(:mod:`synth_core.pipeline`); this module only decides and judges.

Why not scikit-learn's ``cross_val_score``: the training set of each fold grows
with rows made from that fold's own training rows, and the decision needs the
per-row paired losses of several amounts, which it does not return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold

from ._frames import concat_rows
from ._validation import Interval, ListOf, Options, check_params
from .encoding import label_strings
from .errors import InvalidParameterError, NotFittedError
from .generators.base import is_cancelled
from .models import ModelSpec, resolve_model, row_losses

__all__ = [
    "Fold",
    "make_folds",
    "SMALL_TABLE",
    "auto_folds",
    "auto_repeats",
    "CrossFitCheck",
    "ModelVerdict",
    "DEFAULT_FRACTIONS",
    "verdict_sentence",
]

DEFAULT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Fold:
    """One fold of one repeat: ``fit_idx`` trains, ``held_idx`` is scored (positions in the frame)."""

    repeat: int
    index: int
    fit_idx: np.ndarray
    held_idx: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.repeat + 1}.{self.index + 1}"


#: Below this many given rows a table is small: its check uses more folds and repeats (fits are cheap there).
SMALL_TABLE = 2000


def auto_folds(n_rows: int) -> int:
    """K of the K-fold split: 10 for small tables, 5 from :data:`SMALL_TABLE` rows on.

    The fold-by-fold reading of the check (:func:`_between_folds`) is a t test over the K fold means, so K
    sets its degrees of freedom: at K = 5 (4 df) a normal-equivalent z of 2 needs t = 2.87, at K = 10
    (9 df) t = 2.32. On a small table the folds are what that test lacks and each fit is cheap; on a large
    one the folds' means are steadier and K doubles the cost, so K stays 5. (Ten folds is also the usual
    advice for estimating a learner's error by cross-validation, Kohavi 1995.)
    """
    return 10 if n_rows < SMALL_TABLE else 5


def auto_repeats(n_rows: int) -> int:
    """Repeats of the K-fold split: more for small tables, where one split's luck decides too much."""
    return int(min(5, max(1, math.ceil(SMALL_TABLE / max(n_rows, 1)))))


def make_folds(dataset, *, folds: int = 5, repeats: int = 1, random_state: int = 0) -> list[Fold]:
    """K folds of the dataset's given rows, ``repeats`` times with other shuffles.

    Classification folds are stratified when every class has at least ``folds`` rows.
    """
    given = np.asarray(dataset.train_idx, dtype=int)
    if folds < 2 or folds > len(given):
        raise InvalidParameterError(
            f"folds must be between 2 and the number of rows ({len(given)}); got {folds}."
        )
    y = dataset.frame[dataset.target].iloc[given]
    out = []
    for r in range(repeats):
        strat = None
        if dataset.task == "classification":
            labels = label_strings(y)
            if pd.Series(labels).value_counts().min() >= folds:
                strat = labels
        splitter = (StratifiedKFold if strat is not None else KFold)(
            n_splits=folds, shuffle=True, random_state=random_state + 7919 * r
        )
        parts = splitter.split(given, strat) if strat is not None else splitter.split(given)
        for k, (fit, held) in enumerate(parts):
            out.append(Fold(r, k, given[fit], given[held]))
    return out


@dataclass
class _FoldState:
    fold: Fold
    candidates: pd.DataFrame  # accepted candidate rows, shuffled, provenance kept
    labelers: dict  # teacher name -> Labeler fitted on the fold's training rows
    labelled: dict = field(default_factory=dict)  # (teacher, mode) -> accepted labelled rows, order kept


@dataclass
class ModelVerdict:
    """What the check found for one model.

    Attributes
    ----------
    model : str
        Preset or class name.
    label : str
    metric : {'error rate', 'MSE'}
    base : float
        Out-of-fold error of the model trained on the real rows alone.
    table : DataFrame
        One row per share of candidates: ``fraction``, ``rows`` (of the final candidates),
        ``loss``, ``change`` (relative, negative is better), ``z``.
    change, low, high : float
        Cross-fitted relative change of the error from adding the rows the decision keeps,
        with its 95% interval (each fold judged by a decision made on the other folds).
    augmented : float
        Out-of-fold error with those rows.
    readings : dict
        ``kept`` and ``procedure``: each reading's change and interval half widths (per row, between folds).
    """

    model: str
    label: str
    metric: str
    base: float
    augmented: float
    change: float
    low: float
    high: float
    table: pd.DataFrame
    readings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {
            k: getattr(self, k)
            for k in ("model", "label", "metric", "base", "augmented", "change", "low", "high", "readings")
        }
        d["table"] = self.table.to_dict(orient="records")
        return d


class CrossFitCheck(BaseEstimator):
    """Decide the label mode and the amount of synthetic rows kept, and judge them, out of fold.

    Parameters
    ----------
    folds : int or 'auto'
        K of the K-fold split; ``'auto'`` (default) is 10 for small tables and 5 otherwise
        (:func:`auto_folds`).
    repeats : int or 'auto'
        Repeats of the split with other shuffles; ``'auto'`` repeats small tables
        (:func:`auto_repeats`).
    fractions : tuple of float
        Shares of the candidate rows tried (each fold adds that share of its own candidates).
    z_min : float
        Paired z-score a share must reach for the analyst's model to be kept (the weaker of the per-row and
        the between-fold z-score, see :meth:`_table`).
    z_harm : float
        A share that makes any checked model worse with a z-score beyond this is refused.
    random_state : int

    Attributes
    ----------
    folds_ : list of Fold
    teacher_name_ : str
        The label teacher chosen (lowest out-of-fold loss).
    mode_ : str
        The label mode decided (``relabel``, ``filter``, ``score`` or ``none``).
    fraction_ : float
        The share of candidates kept (0: none).
    verdicts_ : dict of str -> ModelVerdict
        The analyst's model first, then the checked ones.
    teacher_loss_, model_loss_ : float
        Out-of-fold mean loss of the chosen label teacher and of the analyst's model on real rows.
    teacher_losses_ : dict of str -> float
        Out-of-fold mean loss of every teacher tried.
    reason_ : str
        One sentence on what was kept and why, in the analyst's words.
    """

    _parameter_constraints = {
        "folds": [Interval(int, 2, 20), Options(("auto",))],
        "repeats": [Interval(int, 1, None), Options(("auto",))],
        "fractions": [ListOf(Interval(float, 0, 1, closed="right"))],
        "z_min": [Interval(float, None, None, finite=False)],
        "z_harm": [Interval(float, None, None, finite=False)],
        "random_state": [Interval(int, 0, None)],
    }

    def __init__(
        self,
        *,
        folds="auto",
        repeats="auto",
        fractions=DEFAULT_FRACTIONS,
        z_min: float = 2.0,
        z_harm: float = 1.0,
        random_state: int = 0,
    ):
        self.folds = folds
        self.repeats = repeats
        self.fractions = fractions
        self.z_min = z_min
        self.z_harm = z_harm
        self.random_state = random_state

    # ------------------------------------------------------------------ public

    def plan(self, dataset, *, repeatable: bool = True) -> list[Fold]:
        """The folds this check will use (``repeatable=False``: one repeat, for producers that cost LLM calls)."""
        check_params(self)
        n = len(dataset.train_idx)
        folds = auto_folds(n) if self.folds == "auto" else int(self.folds)
        repeats = auto_repeats(n) if self.repeats == "auto" else int(self.repeats)
        if not repeatable:
            repeats = 1
        return make_folds(
            dataset, folds=min(folds, n), repeats=max(repeats, 1), random_state=self.random_state
        )

    def fit(
        self,
        dataset,
        folds: list[Fold],
        produce: Callable,
        label: Callable,
        *,
        labels: str = "auto",
        model=None,
        check_models=(),
        progress=None,
        cancel=None,
    ) -> CrossFitCheck:
        """Run the check.

        Parameters
        ----------
        dataset : Dataset
            Its ``train_idx`` are the given rows the folds cut.
        folds : list of Fold
            From :meth:`plan`.
        produce : callable
            ``produce(fold_dataset, fold) -> DataFrame`` of candidate rows (provenance columns
            included, ``_status`` accepted or rejected), made from ``fold_dataset.train`` only
            (the held-out rows are not in it).
        label : callable
            ``label(fold_dataset) -> {teacher name: Labeler}`` fitted on ``fold_dataset.train``;
            a labeler's ``teacher_losses(frame)`` scores held-out rows and ``with_mode(mode, ...)``
            gives the same teacher under another mode.
        labels : {'auto', 'relabel', 'filter', 'score', 'none'}
        model : model preset, ModelSpec or estimator
            The analyst's model (default: decision tree).
        check_models : iterable
            Models that must not get worse (``check several``).
        progress : callable(step, total, message), optional
        cancel : Event or callable, optional
            Checked between folds; a cancelled check leaves ``cancelled_`` True and decides nothing.
        """
        check_params(self)
        self.dataset_ = dataset
        self.labels_ = labels
        self.models_: list[ModelSpec] = [resolve_model(model)]
        for m in check_models:
            spec = resolve_model(m)
            if spec.name not in {s.name for s in self.models_}:
                self.models_.append(spec)
        self.folds_ = list(folds)
        self.cancelled_ = False
        self.states_: list[_FoldState] = []
        rows = np.asarray(dataset.train_idx, dtype=int)
        self.rows_ = rows
        self.pos_ = {int(p): i for i, p in enumerate(rows)}
        self.n_repeats_ = max(f.repeat for f in self.folds_) + 1
        shape = (self.n_repeats_, len(rows))
        self.teacher_: dict[str, np.ndarray] = {}
        self.base_ = {m.name: np.full(shape, np.nan) for m in self.models_}
        self.losses_: dict[tuple[str, str], np.ndarray] = {}
        total = len(self.folds_) + 1
        for i, fold in enumerate(self.folds_):
            if is_cancelled(cancel):
                self.cancelled_ = True
                return self
            if progress:
                progress(i, total, f"check: fold {fold.label} of {len(self.folds_)} (generate, label, score)")
            fold_ds = dataset.with_train(fold.fit_idx, val_idx=fold.fit_idx[:0])
            candidates = produce(fold_ds, fold)
            if "_status" in candidates:
                candidates = candidates[candidates["_status"] == "accepted"]
            candidates = candidates.sample(frac=1.0, random_state=self.random_state + i).reset_index(
                drop=True
            )
            labelers = label(fold_ds)
            held = dataset.frame.iloc[fold.held_idx]
            at = self._held(fold)
            for name, labeler in labelers.items():
                self.teacher_.setdefault(name, np.full(shape, np.nan))[fold.repeat, at] = (
                    labeler.teacher_losses(held)
                )
            for spec in self.models_:
                self.base_[spec.name][fold.repeat, at] = self._losses(fold_ds, held, None, spec)
            self.states_.append(_FoldState(fold, candidates, labelers))
        if is_cancelled(cancel):
            self.cancelled_ = True
            return self
        if progress:
            progress(len(self.folds_), total, "check: choosing the label mode and the amount")
        everyone = np.ones(len(rows), dtype=bool)
        self.teacher_losses_ = {k: float(np.nanmean(v)) for k, v in self.teacher_.items()}
        self.teacher_name_, self.mode_, self.fraction_, self.tables_ = self._decide(everyone)
        self.teacher_loss_ = self.teacher_losses_[self.teacher_name_]
        self.model_loss_ = float(np.nanmean(self.base_[self.models_[0].name]))
        self.verdicts_ = self._verdicts()
        self.reason_ = self._reason()
        if progress:
            progress(total, total, "check: done")
        return self

    def _check_fitted(self) -> None:
        """A check that never finished a fit (none yet, or the last one was cancelled) has no verdict."""
        if not hasattr(self, "verdicts_") or getattr(self, "cancelled_", False):
            cancelled = (
                " Its last fit was cancelled before it decided anything."
                if getattr(self, "cancelled_", False)
                else ""
            )
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with the "
                f"dataset, its folds, a producer and a labeler first.{cancelled}"
            )

    @property
    def primary(self) -> ModelVerdict:
        """The verdict on the analyst's model (the first of ``verdicts_``).

        Raises
        ------
        NotFittedError
        """
        self._check_fitted()
        return self.verdicts_[self.models_[0].name]

    def summary(self) -> dict:
        """JSON-ready: folds, repeats, mode, fraction kept, the reason and every model's verdict.

        Raises
        ------
        NotFittedError
            Before ``fit``, or after a fit that was cancelled.
        """
        self._check_fitted()
        return {
            "folds": int(max(f.index for f in self.folds_) + 1),
            "repeats": int(self.n_repeats_),
            "rows": int(len(self.rows_)),
            "labels": self.labels_,
            "mode": self.mode_,
            "teacher": self.teacher_name_,
            "teacher_losses": self.teacher_losses_,
            "fraction": float(self.fraction_),
            "z_min": self.z_min,
            "z_harm": self.z_harm,
            "teacher_loss": self.teacher_loss_,
            "model_loss": self.model_loss_,
            "model": self.models_[0].name,
            "checked": [m.name for m in self.models_[1:]],
            "reason": self.reason_,
            "verdicts": {k: v.to_dict() for k, v in self.verdicts_.items()},
        }

    # ------------------------------------------------------------------ losses

    def _held(self, fold: Fold) -> list[int]:
        """The fold's held-out rows as positions in the loss arrays (columns of ``base_`` and friends)."""
        return [self.pos_[int(p)] for p in fold.held_idx]

    def _losses(self, fold_ds, held, extra, spec: ModelSpec) -> np.ndarray:
        ds = fold_ds
        cols = ds.features + [ds.target]
        real = ds.train[cols]
        frame = (
            real if extra is None or len(extra) == 0 else concat_rows([real, extra[cols]], ignore_index=True)
        )
        return row_losses(
            ds.schema,
            ds.features,
            ds.task,
            frame,
            held,
            ds.target,
            model=spec,
            random_state=self.random_state,
            like=real,
        )

    def _labelled(self, state: _FoldState, teacher: str, mode: str) -> pd.DataFrame:
        if (teacher, mode) not in state.labelled:
            lab = state.labelers[teacher].with_mode(mode, **self._mode_options(teacher, mode, state.fold))
            out = lab.transform(state.candidates) if len(state.candidates) else state.candidates
            if "_status" in out:
                out = out[out["_status"] == "accepted"]
            state.labelled[(teacher, mode)] = out.reset_index(drop=True)
        return state.labelled[(teacher, mode)]

    def _mode_options(self, teacher: str, mode: str, fold: Fold) -> dict:
        """A filter decided by ``auto`` (teacher not better) drops only firm contradictions; regression residual scale from
        the teacher's out-of-fold residuals on the other folds (never the fold's own rows)."""
        opts = {"loose": self.labels_ == "auto" and mode == "filter"}
        if self.dataset_.task == "regression":
            mask = np.ones(len(self.rows_), dtype=bool)
            mask[self._held(fold)] = False
            sq = self.teacher_[teacher][fold.repeat, mask]
            opts["resid_sd"] = float(np.sqrt(np.nanmean(sq))) if np.isfinite(sq).any() else None
        return opts

    def _amount_losses(self, spec: ModelSpec, teacher: str, mode: str) -> np.ndarray:
        """(fractions, repeats, rows) out-of-fold losses of ``spec`` with each share of rows labelled by
        ``teacher`` in ``mode``."""
        key = (spec.name, teacher, mode)
        if key not in self.losses_:
            out = np.full((len(self.fractions),) + self.base_[spec.name].shape, np.nan)
            for state in self.states_:
                fold = state.fold
                fold_ds = self.dataset_.with_train(fold.fit_idx, val_idx=fold.fit_idx[:0])
                held = self.dataset_.frame.iloc[fold.held_idx]
                at = self._held(fold)
                rows = self._labelled(state, teacher, mode) if mode != "none" else state.candidates
                for j, f in enumerate(self.fractions):
                    k = int(round(f * len(rows)))
                    out[j, fold.repeat, at] = (
                        self.base_[spec.name][fold.repeat, at]
                        if k == 0
                        else self._losses(fold_ds, held, rows.head(k), spec)
                    )
            self.losses_[key] = out
        return self.losses_[key]

    # ------------------------------------------------------------------ decisions

    def _teacher(self, mask) -> str:
        """The teacher with the lowest out-of-fold loss on these rows (ties: the first tried)."""
        losses = {k: np.nanmean(v[:, mask], axis=0).mean() for k, v in self.teacher_.items()}
        return min(losses, key=lambda k: (losses[k], list(losses).index(k)))

    def _mode(self, mask, teacher: str) -> str:
        if self.labels_ != "auto":
            return self.labels_
        t = np.nanmean(self.teacher_[teacher][:, mask], axis=0).mean()
        model = np.nanmean(self.base_[self.models_[0].name][:, mask], axis=0).mean()
        return "relabel" if t < model else "filter"

    def _table(self, spec: ModelSpec, teacher: str, mode: str, mask) -> pd.DataFrame:
        """One row per share: its out-of-fold loss, gain, relative change and paired z-scores.

        ``z_rows`` treats every held-out row as independent; ``z_folds`` takes the folds of one repeat as the
        units (rows of one fold share one fitted model, so their losses move together): the normal
        equivalent of their t statistic (:func:`_between_folds`). ``z`` is the weaker of the two, the same
        standard the verdict's interval uses (:meth:`_reading`), so a share is kept only when the evidence
        the verdict will show says it helps.
        """
        base_all = self.base_[spec.name]
        base = np.nanmean(base_all[:, mask], axis=0)
        amounts = self._amount_losses(spec, teacher, mode)
        out = []
        for j, f in enumerate(self.fractions):
            loss = np.nanmean(amounts[j][:, mask], axis=0)
            d = base - loss  # positive: the rows helped this row
            mean = float(np.mean(d))
            sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
            z_rows = _z(mean, sd / math.sqrt(len(d)))
            se, df = _between_folds(self._fold_means(base_all - amounts[j], mask))
            z_folds = _z(mean, se, df=df) if df > 0 else z_rows
            out.append(
                {
                    "fraction": f,
                    "loss": float(np.mean(loss)),
                    "gain": mean,
                    "change": -mean / float(np.mean(base)) if np.mean(base) > 0 else 0.0,
                    "z": min(z_rows, z_folds, key=abs),
                    "z_rows": z_rows,
                    "z_folds": z_folds,
                }
            )
        return pd.DataFrame(out)

    def _fold_means(self, per_row: np.ndarray, mask=None) -> dict[int, list[float]]:
        """Repeat -> the mean of ``per_row[repeat, rows]`` over each fold's held-out rows (within ``mask``)."""
        means: dict[int, list[float]] = {}
        for state in self.states_:
            fold = state.fold
            at = self._held(fold)
            if mask is not None:
                at = [a for a in at if mask[a]]
            if at:
                means.setdefault(fold.repeat, []).append(float(np.mean(per_row[fold.repeat, at])))
        return means

    def _decide(self, mask, *, gate: bool = True) -> tuple[str, str, float, dict]:
        """(teacher, mode, share kept, tables) from the rows in ``mask``. Without ``gate`` the share is the
        one with the best gain whatever its z-score (the verdict's choice once the rows are kept)."""
        teacher = self._teacher(mask)
        mode = self._mode(mask, teacher)
        tables = {spec.name: self._table(spec, teacher, mode, mask) for spec in self.models_}
        main = tables[self.models_[0].name]
        ok = main["z"] >= self.z_min if gate else pd.Series(True, index=main.index)
        for spec in self.models_[1:]:
            ok &= ~self._harms(tables[spec.name]).to_numpy()
        if not ok.any():
            return teacher, mode, 0.0, tables
        best = main[ok]
        top = best[best["gain"] == best["gain"].max()]["fraction"].max()
        return teacher, mode, float(top), tables

    def _harms(self, table: pd.DataFrame) -> pd.Series:
        """Shares that make a checked model worse: either z-score (per row or between folds) at ``-z_harm`` or
        below. Help must pass both readings; harm needs only one, so doubt falls on the side of the real rows."""
        return table[["z_rows", "z_folds"]].min(axis=1) <= -self.z_harm

    def _verdicts(self) -> dict:
        """The change the kept rows bring, judged on every row by choices it did not take part in.

        When the check keeps no row the change is exactly zero. When it keeps rows there are two honest
        readings, both leave-one-fold-out (each fold judged by choices the *other* folds made, pooled per row
        over repeats): the change once rows are kept (each fold gets the teacher, mode and share the other
        folds prefer) — the figure shown — and the change of the whole procedure (each fold gets the other
        folds' full decision, which may be to keep nothing). The 95% interval spans both readings' intervals,
        so a decision that hangs on a few rows shows as an interval reaching towards zero. Each reading's
        interval is the wider of the per-row paired one and the between-fold one (rows of one fold share one
        fitted model, so their losses move together: a t interval over the folds of one repeat,
        :func:`_between_folds`).
        """
        kept, procedure = {}, {}
        if self.fraction_ > 0:
            for state in self.states_:
                fold = state.fold
                mask = np.ones(len(self.rows_), dtype=bool)
                mask[self._held(fold)] = False
                kept[(fold.repeat, fold.index)] = self._decide(mask, gate=False)[:3]
                procedure[(fold.repeat, fold.index)] = self._decide(mask)[:3]
        out = {}
        for spec in self.models_:
            readings = {"kept": self._reading(spec, kept)}
            if procedure:
                readings["procedure"] = self._reading(spec, procedure)
            first = readings["kept"]
            low = min(r["change"] - r["half"] for r in readings.values())
            high = max(r["change"] + r["half"] for r in readings.values())
            out[spec.name] = ModelVerdict(
                model=spec.name,
                label=spec.label,
                metric="error rate" if self.dataset_.task == "classification" else "MSE",
                base=first["base"],
                augmented=first["augmented"],
                change=first["change"],
                low=low,
                high=high,
                table=self.tables_.get(spec.name, pd.DataFrame()),
                readings=readings,
            )
        self.fold_decisions_ = kept
        return out

    def _reading(self, spec: ModelSpec, decisions: dict) -> dict:
        """The relative change when each fold gets ``decisions[fold]``: ``change``, ``half`` (the interval's
        half width: the wider of ``half_rows`` and ``half_folds``), ``base`` and ``augmented`` losses."""
        base = self.base_[spec.name]
        judged = base.copy()
        for state in self.states_ if decisions else []:
            fold = state.fold
            at = self._held(fold)
            teacher, mode, fraction = decisions[(fold.repeat, fold.index)]
            if fraction > 0:
                j = list(self.fractions).index(fraction)
                judged[fold.repeat, at] = self._amount_losses(spec, teacher, mode)[j][fold.repeat, at]
        b, a = np.nanmean(base, axis=0), np.nanmean(judged, axis=0)
        d = a - b
        rows = _Z95 * float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        folds = 0.0
        if decisions:
            se, df = _between_folds(self._fold_means(judged - base))
            if df > 0:
                folds = float(stats.t.ppf(0.975, df)) * se
        mean_b, mean_d = float(np.mean(b)), float(np.mean(d))
        scale = mean_b if mean_b > 0 else 1.0
        return {
            "change": mean_d / scale,
            "half": max(rows, folds) / scale,
            "half_rows": rows / scale,
            "half_folds": folds / scale,
            "base": mean_b,
            "augmented": float(np.mean(a)),
        }

    def _reason(self) -> str:
        spec = self.models_[0]
        table = self.tables_[spec.name]
        what = "error rate" if self.dataset_.task == "classification" else "mean squared error"
        if self.fraction_ > 0:
            row = table[table["fraction"] == self.fraction_].iloc[0]
            return (
                f"kept {self.fraction_:.0%} of the candidate rows ({self.mode_} labels): out of fold, your "
                f"{spec.label}'s {what} changed by {row['change']:+.1%} with them ({_z_text(row)}, "
                f"needed {self.z_min:g})."
            )
        if not any(len(state.candidates) for state in self.states_):
            return (
                "kept no synthetic rows: the generator made no candidate row that passed its checks; see the "
                "notes on rejected rows, approve rules that cover more rows, or try another generator."
            )
        best = table.iloc[int(np.argmax(table["gain"].to_numpy()))]
        blocked = [s.label for s in self.models_[1:] if self._harms(self.tables_[s.name]).any()]
        why = (
            f"no share of the candidate rows helped your {spec.label} beyond noise out of fold (best: "
            f"{best['fraction']:.0%} of them, {best['change']:+.1%}, {_z_text(best)}, needed "
            f"{self.z_min:g})"
        )
        if blocked and (table["z"] >= self.z_min).any():
            why = f"the shares that helped your {spec.label} made the {', '.join(blocked)} worse out of fold"
        return f"kept no synthetic rows: {why}."


def _z(mean: float, se: float, *, df: int | None = None) -> float:
    """Paired z-score of a mean gain; with ``df`` the t statistic's normal equivalent (same one-sided p)."""
    if not se > 0:
        return math.inf if mean > 0 else (-math.inf if mean < 0 else 0.0)
    t = mean / se
    return t if df is None else float(stats.norm.isf(stats.t.sf(t, df)))


def _between_folds(fold_means: dict[int, list[float]]) -> tuple[float, int]:
    """(standard error, degrees of freedom) of a mean gain from its per-fold means: the folds of one repeat
    are the independent units (their rows share one fitted model, so their losses move together); repeats
    reuse the same rows, so their spreads are averaged and not counted as more folds."""
    k = min((len(m) for m in fold_means.values()), default=0)
    if k < 2:
        return 0.0, 0
    spread = float(np.mean([np.var(m, ddof=1) for m in fold_means.values()]))
    return math.sqrt(spread / k), k - 1


def _z_text(row) -> str:
    """The z-score a share was judged by, and which reading set it when the two disagree.

    >>> _z_text({"z": 1.3, "z_rows": 2.6, "z_folds": 1.3})
    'paired z = 1.3 fold by fold, 2.6 row by row'
    """
    rows, folds = row["z_rows"], row["z_folds"]
    if not (math.isfinite(rows) and math.isfinite(folds)) or abs(rows - folds) < 0.05:
        return f"paired z = {row['z']:.1f}"
    if abs(folds) <= abs(rows):
        return f"paired z = {folds:.1f} fold by fold, {rows:.1f} row by row"
    return f"paired z = {rows:.1f} row by row, {folds:.1f} fold by fold"


def _loss_text(value: float, metric: str) -> str:
    return f"{value:.1%}" if metric == "error rate" else f"{value:,.4g}"


def verdict_sentence(v: dict) -> str:
    """One sentence for a verdict (``ModelVerdict.to_dict()``), the same on the Generate and Compare pages,
    the CLI and the report.

    >>> verdict_sentence({"label": "decision tree", "metric": "error rate", "base": 0.2, "augmented": 0.18,
    ...                   "change": -0.1, "low": -0.15, "high": -0.05})
    'Your decision tree: error rate 20.0% -> 18.0% with the kept rows (-10.0%; 95% interval -15.0% to -5.0%), out of fold.'
    """
    base, aug = _loss_text(v["base"], v["metric"]), _loss_text(v["augmented"], v["metric"])
    if v["low"] == v["high"] == v["change"] == 0:
        return (
            f"Your {v['label']}: no fold kept synthetic rows, so its {v['metric']} stays {base} out of fold."
        )
    return (
        f"Your {v['label']}: {v['metric']} {base} -> {aug} with the kept rows ({v['change']:+.1%}; 95% "
        f"interval {v['low']:+.1%} to {v['high']:+.1%}), out of fold."
    )
