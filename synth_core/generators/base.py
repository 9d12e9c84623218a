"""One protocol for every generator.

``fit(dataset, rules)`` learns from the train split and the approved rules;
``generate(n, *, progress=None, cancel=None)`` returns a :class:`Generation`:
candidate rows with provenance columns (generator, rule id, iteration, LLM call
id, accepted / rejected and why). ``progress(step, total, message)`` is called
as work advances; ``cancel`` (a ``threading.Event`` or a callable returning
bool) stops the work at the next call and keeps what was made.

Provenance lives in columns that start with ``_`` beside the data columns, so
one frame carries both through selection, labelling, the bundle and export.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .._frames import concat_rows
from .._validation import check_params
from ..errors import GenerationError, NotFittedError

__all__ = [
    "PROVENANCE",
    "Generation",
    "Generator",
    "ProgressFn",
    "is_cancelled",
    "approved_rules",
    "allocate",
    "provenance_frame",
    "coerce_like",
    "TYPED_RULE_REASON",
    "recheck_typed",
]

#: ``_reason`` of a row that met its rule as written but not once cast to the table's types.
TYPED_RULE_REASON = "breaks its rule after rounding to the column's type"

PROVENANCE = ["_row_id", "_generator", "_rule_id", "_iteration", "_arm", "_call_id", "_status", "_reason"]
ProgressFn = Callable[[int, int, str], None]
_ids = [0]
_ids_lock = threading.Lock()


def is_cancelled(cancel) -> bool:
    """True when ``cancel`` (an Event, a callable or None) says stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def approved_rules(rules) -> list:
    """The approved rules, or a clear error when there are none."""
    chosen = [r for r in rules if r.status == "approved"]
    if not chosen:
        raise GenerationError(
            "no approved rules: approve at least one rule on the Rules page "
            "(or pass rules with status 'approved')."
        )
    return chosen


def allocate(n: int, weights) -> list[int]:
    """Split ``n`` into integers proportional to ``weights`` (largest remainder, each >= 1 when n allows)."""
    w = np.asarray(list(weights), dtype=float)
    if len(w) == 0:
        return []
    w = np.where(w > 0, w, 0) + 1e-12
    raw = n * w / w.sum()
    base = np.floor(raw).astype(int)
    if n >= len(w):
        base = np.maximum(base, 1)
    while base.sum() > n:
        base[np.argmax(base)] -= 1
    order = np.argsort(-(raw - np.floor(raw)))
    for i in order[: max(0, n - base.sum())]:
        base[i] += 1
    return base.tolist()


def coerce_like(rows: pd.DataFrame, like: pd.DataFrame, schema) -> pd.DataFrame:
    """Cast generated cells to the real columns' types (integers rounded, labels in the real label type)."""
    out = rows.copy()
    for col in out.columns:
        if col not in like:
            continue
        real = like[col]
        spec = schema[col] if col in schema else None
        if pd.api.types.is_bool_dtype(real):
            out[col] = out[col].map(
                lambda v: (
                    v
                    if isinstance(v, (bool, np.bool_)) or pd.isna(v)
                    else str(v).strip().lower() in ("true", "1", "yes")
                )
            )
        elif pd.api.types.is_numeric_dtype(real):
            values = pd.to_numeric(out[col], errors="coerce")
            if (spec is not None and spec.kind == "integer") or pd.api.types.is_integer_dtype(real):
                values = values.round()
                if pd.api.types.is_integer_dtype(real) and not values.isna().any():
                    values = values.astype(real.dtype)
            out[col] = values
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), np.nan)
    return out


def recheck_typed(rows: pd.DataFrame, rules: dict) -> dict:
    """Reject, in place, accepted rows of ``rows`` (already cast to the table's types) that break their rule.

    ``rules`` maps a rule id to the rule the row was written for (``_rule_id``). The rule checks of a
    generator or of the LLM layer may run on values before they are rounded to an integer column or cast
    to the label type; this check runs on the final, typed row. Returns ``{rule id: rows rejected}``.
    """
    if not len(rows) or "_rule_id" not in rows:
        return {}
    status = rows["_status"] if "_status" in rows else pd.Series("accepted", index=rows.index)
    broken = np.zeros(len(rows), dtype=bool)
    for rid, pos in rows.groupby(rows["_rule_id"].astype(str), sort=False).indices.items():
        rule = rules.get(rid)
        if rule is None:
            continue
        live = pos[(status.iloc[pos] == "accepted").to_numpy()]
        if len(live):
            broken[live] = ~rule.mask(rows.iloc[live])
    if not broken.any():
        return {}
    rows.loc[broken, "_status"] = "rejected"
    rows.loc[broken, "_reason"] = TYPED_RULE_REASON
    return {str(k): int(v) for k, v in rows.loc[broken, "_rule_id"].astype(str).value_counts().items()}


def provenance_frame(
    rows: pd.DataFrame,
    *,
    generator: str,
    rule_id,
    iteration,
    status: str = "accepted",
    reason: str = "",
    call_id: str = "",
) -> pd.DataFrame:
    """``rows`` with provenance columns added. ``rule_id`` and ``iteration`` are one value or one per row.

    Row ids are provisional (unique in this process); :func:`synth_core.pipeline.finalize_row_ids`
    gives a run's rows deterministic ones.
    """
    out = rows.reset_index(drop=True).copy()
    n = len(out)
    with _ids_lock:
        start = _ids[0]
        _ids[0] += n
    rule_ids = pd.Series(rule_id, index=out.index, dtype=object).astype(str) if n else pd.Series(dtype=object)
    iters = pd.Series(iteration, index=out.index).astype(int) if n else pd.Series(dtype=int)
    out["_row_id"] = [f"s{i}" for i in range(start, start + n)]
    out["_generator"] = generator
    out["_rule_id"] = rule_ids
    out["_iteration"] = iters
    out["_arm"] = rule_ids + ":" + iters.astype(str)
    out["_call_id"] = call_id
    out["_status"] = status
    out["_reason"] = reason
    return out


@dataclass
class Generation:
    """What a generator made.

    Attributes
    ----------
    rows : DataFrame
        Every candidate row, accepted and rejected, data columns plus provenance columns.
    per_rule : DataFrame
        One row per rule: accepted, rejected (by reason), LLM tokens, what happened.
    messages : list of str
        Things a person should know (a rule that produced nothing, a dead endpoint...).
    usage : dict
        LLM calls, tokens, seconds, cache hits (empty for LLM-free generators).
    proposals : list of Rule
        Rules a generator proposes (DATE refinement, H-TDBU skeleton); never applied silently.
    cancelled : bool
    seconds : float
    error : Exception or None
        The LLM failure that ended the work early (an endpoint down or hung, a passed deadline); the
        rows made before it are kept.
    decisions : list of dict
        What became of each proposal a generator asked a gate about (:mod:`synth_core.approval`).
    """

    rows: pd.DataFrame
    per_rule: pd.DataFrame = field(default_factory=pd.DataFrame)
    messages: list[str] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    proposals: list = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    error: Exception | None = None
    decisions: list = field(default_factory=list)

    @property
    def accepted(self) -> pd.DataFrame:
        if "_status" not in self.rows:
            return self.rows
        return self.rows[self.rows["_status"] == "accepted"].reset_index(drop=True)

    @property
    def rejected(self) -> pd.DataFrame:
        return self.rows[self.rows["_status"] == "rejected"].reset_index(drop=True)

    @property
    def reasons(self) -> Counter:
        return Counter(self.rejected["_reason"]) if len(self.rows) else Counter()


class Generator(BaseEstimator):
    """Base class: subclasses implement ``_fit`` and ``_generate_rule``.

    The default ``generate`` splits ``n`` over the approved rules by support,
    asks ``_generate_rule`` for each rule and batch (``iterations`` batches per
    rule become separate MDS arms), reports progress, honours cancel and keeps
    every row made before a cancel or a failure.
    """

    name: ClassVar[str] = "base"
    needs_llm: ClassVar[bool] = False
    #: Every row costs an LLM call: the cross-fitted check splits the row budget over its folds
    #: (each fold's rows become part of the result) instead of generating again per fold.
    llm_rows: ClassVar[bool] = False
    #: Scores rows on ``dataset.val`` while fitting or generating (DATE's Delta, H-TDBU's TSTR):
    #: under cross-fitting it is given an inner split of the fold's training rows.
    uses_validation: ClassVar[bool] = False
    iterations: int = 1

    def fit(self, dataset, rules):
        """Check the parameters (a class's ``_parameter_constraints``), keep the approved rules and the
        train rows, then run the subclass's ``_fit``.

        Raises
        ------
        InvalidParameterError
            A parameter out of range (checked before anything else).
        GenerationError
            No approved rule.
        """
        if getattr(type(self), "_parameter_constraints", None):
            check_params(self)
        self.dataset_ = dataset
        self.rules_ = approved_rules(rules)
        self.train_ = dataset.train.reset_index(drop=True)
        self.columns_ = dataset.features + [dataset.target]
        self._fit()
        return self

    def _fit(self) -> None:
        """Hook for subclasses (fitted state goes in trailing-underscore attributes)."""

    def _generate_rule(self, rule, n: int, iteration: int, rng: np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError

    def structure(self) -> dict:
        """The structure a fitted generator wrote rows from, for a person to see and edit (JSON-ready)."""
        return {}

    def pinned_params(self) -> dict:
        """Constructor parameters that pin the structure this fitted generator found (an LLM's skeleton or
        DAG), so copies fitted on other rows reuse it without another LLM call."""
        return {}

    def planned_calls(self, n: int, n_rules: int) -> int:
        """LLM calls that writing ``n`` rows over ``n_rules`` approved rules is planned to take (0 offline)."""
        return 0

    def _check_fitted(self):
        if not hasattr(self, "rules_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet. Call 'fit' with a dataset and "
                "rules before 'generate'."
            )

    def generate(self, n: int, *, progress: ProgressFn | None = None, cancel=None) -> Generation:
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        start = time.perf_counter()
        rng = np.random.default_rng(getattr(self, "random_state", None))
        supports = [max(r.count(self.train_), 1) for r in self.rules_]
        iterations = max(int(getattr(self, "iterations", 1) or 1), 1)
        quotas = allocate(n, supports)
        total, step = len(self.rules_) * iterations, 0
        parts, summary, messages, cancelled = [], [], [], False
        made_total = 0
        for rule, quota in zip(self.rules_, quotas):
            made = 0
            per_batch = allocate(quota, [1] * iterations)
            for it, k in enumerate(per_batch, start=1):
                if is_cancelled(cancel):
                    cancelled = True
                    break
                if progress:
                    progress(step, total, f"{self.name}: rule {rule.id or '?'} batch {it}/{iterations}")
                if k > 0:
                    rows = self._generate_rule(rule, k, it, rng)
                    if len(rows):
                        parts.append((rule, it, rows[self.columns_]))
                        made += len(rows)
                step += 1
            made_total += made
            summary.append(
                {"rule_id": rule.id, "rule": rule.text, "requested": quota, "accepted": made, "rejected": 0}
            )
            if made == 0 and quota > 0 and not cancelled:
                messages.append(
                    f"rule {rule.id}: no rows could be made inside the rule's region "
                    f"({rule.count(self.train_)} real rows match it)."
                )
            if cancelled:
                messages.append(f"cancelled at rule {rule.id}; {made_total} rows kept.")
                break
        if progress:
            progress(total, total, f"{self.name}: done")
        rows = self._typed_rows(parts, summary)
        return Generation(
            rows=rows,
            per_rule=pd.DataFrame(summary),
            messages=messages,
            cancelled=cancelled,
            seconds=time.perf_counter() - start,
        )

    def _typed_rows(self, parts, summary) -> pd.DataFrame:
        """One frame of every part, cast to the real columns' types, then checked against its rule again:
        rounding an integer can carry a row over a rule's bound (``x <= 3.7`` and 3.8 -> 4), and such a row
        is rejected, never returned as accepted."""
        if not parts:
            return self._empty()
        data = coerce_like(
            concat_rows([p for _, _, p in parts], ignore_index=True), self.train_, self.dataset_.schema
        )
        rows = provenance_frame(
            data,
            generator=self.name,
            rule_id=np.repeat([r.id for r, _, _ in parts], [len(p) for _, _, p in parts]),
            iteration=np.repeat([it for _, it, _ in parts], [len(p) for _, _, p in parts]),
        )
        lost = recheck_typed(rows, {r.id: r for r, _, _ in parts})
        for entry in summary:
            n_lost = lost.get(str(entry["rule_id"]), 0)
            entry["accepted"] -= n_lost
            entry["rejected"] += n_lost
        return rows

    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame(columns=self.columns_ + PROVENANCE)


class CancelToken:
    """A thread-safe cancel flag for UIs (``threading.Event`` with a friendlier name)."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


__all__.append("CancelToken")
