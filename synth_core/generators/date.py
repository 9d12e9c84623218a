"""DATE Algorithm 2: DGR-guided iterative data generation through the LLM layer.

:class:`DATEGenerator` asks an LLM (any :class:`~synth_core.llm.LLMClient`, the
embedded model by default) for rows inside each approved rule, checks them with
the rule's *shared model* (a decision tree), measures on validation rows
whether they help that model, and asks the LLM for refined rules from the tree
paths and scores, ``iterations`` (``I``) times.

How one run goes (Alg. 2 line numbers in brackets)
--------------------------------------------------
``fit(dataset, rules)``

* Only approved rules are used. They are partitioned by shared model [2]:
  rules with the same ``Rule.model_id`` (set by
  :class:`~synth_core.discovery.DGRDiscoverer`) form one group; a rule without
  a ``model_id`` (typed by a person, proposed by an LLM) is a group of its own.
* Per group, the rule with the highest ``ind(r)`` leads (``Rule.ind``; rules
  without it rank after, then by train support). The leading rule gives the
  rule constraint (grammar and rule check) of the group's generation and its
  rows come first in ``examples=`` of :func:`~synth_core.llm.generate_rows`;
  the train rows of the other rules of the group follow as in-context
  examples. (``generate_rows`` today draws exemplars only from the rows that
  match the rule it generates for, so the other rules' rows reach the prompt
  only when the leading rule has no train row. Discovery fuses the regions
  of one model into one rule, so groups of several rules are rare.)
* The group's model ``m`` is a :class:`~synth_core.discovery.SharedModel`
  fitted on ``T_m``, the union of the group's train rows [5] (all train rows
  when that union has fewer than ``_MIN_MODEL_ROWS`` rows). Discovery's own
  trees are not carried by the rules, so they are refitted here with the same
  tree settings and the same error definition (error rate; for regression MSE
  over the train target's variance, as discovery's ``error="relative"``).
* ``rho_m`` [10]: the ``rho`` parameter when given; else
  ``max(default rho, rule error + 0.05)`` where the default rho is discovery's
  (0.05 error rate, 0.1 relative MSE) and the rule error is the largest
  ``Rule.error`` of the group (or ``m``'s error on ``T_m`` when no rule has
  one). The slack lets rows that are as well explained as the real rows of the
  rule pass even when the rule sat exactly at its threshold.

``generate(n)``

* ``n`` is split over the approved rules by train support (``allocate``); a
  group gets the sum of its rules' shares, and the ``I`` iterations share it
  equally (``allocate`` again).
* Iteration ``i`` of a group generates the pool ``G_m`` [6] from the leading
  rule and, from ``i = 2`` on, from the refined rule proposed at ``i - 1``
  [19]; the iteration's rows are split equally over these sources. Rows are
  asked one LLM call at a time (``generate_rows(..., max_calls=1)``) so that
  a failure or a cancel loses nothing already made; ``max_calls`` bounds the
  calls per source and iteration (default ``3 * ceil(rows / rows_per_call) + 2``).
* Rows the LLM layer rejects (unparseable, out of domain, breaking the rule,
  a copy of a real train row, a duplicate) stay in the output with
  ``_status="rejected"``, the reason in ``_reason`` and the raw text in
  ``_raw``; a row repeating one accepted earlier in the run is rejected as
  ``duplicate``.
* Accepted rows are grouped by their decision-tree path under ``m``
  (``SharedModel.leaf_ids``) [7-8]. A group ``H_k`` is kept when the mean
  error of ``m`` on it is ``<= rho_m`` [10]; otherwise its rows are rejected
  with reason ``"group error above rho"``.
* For a kept group the gain [12] is
  ``Delta_k = error(m, T_val_m) - error(m', T_val_m)`` where ``m'`` is the
  same tree refitted on ``T_m`` plus ``H_k`` and ``T_val_m`` are the
  *validation* rows of the group's rules (all validation rows when fewer than
  ``_MIN_VAL_ROWS`` match). Test rows are never read.
* Lines 15-16 put only groups with ``Delta_k > 0`` into ``T^G_m``. Here every
  row of a kept group stays ``accepted`` and carries its group's ``Delta`` in
  ``_delta``: ``T^G_m`` is exactly the accepted rows with ``_delta > 0``. We do
  not drop the others because on groups of a few rows ``Delta`` is mostly
  noise, and the choice belongs to the MAB selection (Alg. 3, ``selection.py``),
  which scores every arm on validation rows anyway; a caller who wants the
  paper's ``T^G`` filters on ``_delta > 0``.
* With ``refine`` and ``i < I`` [13-17], the paths, group errors and Delta
  go to :func:`~synth_core.llm.propose_rules` as feedback, with all approved
  and proposed rules as the current ones (so it proposes a rule absent from
  ``E``). Valid answers become rules with origin ``"refined"``, status
  ``"proposed"`` and ids ``"<leader>.r1"``, ``"<leader>.r2"``, ...; they are
  returned in ``Generation.proposals`` for a person to approve, never applied
  silently. The first valid one drives the next iteration's generation [19]
  (one ``r_new`` per step, as in the paper's call count); its rows carry its
  id in ``_rule_id``.

Where this simplifies Alg. 2
----------------------------
* ``error(m, t) <= rho_m`` for *every* row of ``H_k`` [10] would, with 0/1
  loss, keep only groups the tree predicts perfectly; we use the group's mean
  error, as discovery does for rules.
* The new examples ``e'_k = (m, rho_m - Delta_k, r_k, H_k)`` [13-14] are not
  fed back into ``T_m`` or ``rho_m``: real rows stay the reference for the
  model, the threshold and the gain, so one iteration cannot drift the next
  one's yardstick. ``e'_k`` reaches the LLM as feedback (path, error, Delta).
* Delta is measured with the group's shared model refitted, not with the
  downstream model (that is Alg. 3's job in ``selection.py``).
* Iterations run a fixed ``I`` times; there is no early stop when the
  validation score stops improving.

Provenance columns beyond :data:`~synth_core.generators.base.PROVENANCE`:
``_raw`` (raw LLM text of rows rejected by the parser, ``""`` otherwise),
``_path`` (the tree path of the row's group), ``_group_error`` (mean error of
``m`` on the group) and ``_delta`` (the group's validation gain; NaN where not
measured). The per-group record of every iteration is in ``history_``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..discovery import DEFAULT_RHO_CLASSIFICATION, DEFAULT_RHO_RELATIVE, SharedModel
from ..errors import DataError, GenerationError, InvalidParameterError, LLMError
from ..rules import Rule
from .base import (PROVENANCE, Generation, Generator, allocate, approved_rules, coerce_like, is_cancelled,
                   provenance_frame)

__all__ = ["DATEGenerator", "EXTRA_COLUMNS", "GROUP_ERROR_REASON"]

#: Columns DATE adds to the provenance columns.
EXTRA_COLUMNS = ["_raw", "_path", "_group_error", "_delta"]
#: ``_reason`` of rows whose path group fails the error threshold.
GROUP_ERROR_REASON = "group error above rho"

_RHO_SLACK = 0.05
_MIN_MODEL_ROWS = 10
_MIN_VAL_ROWS = 10
_N_PROPOSALS = 2
_SAMPLE_STRIDE = 100_000


@dataclass
class _Group:
    """One shared model's partition E_m: its rules, leader, model, threshold and reference rows."""

    key: tuple
    rules: list
    leader: Rule
    model: SharedModel
    rho: float
    train: pd.DataFrame
    val: pd.DataFrame
    val_error: float
    refined: list = field(default_factory=list)


@dataclass
class _Tally:
    """What happened to one source rule (approved or refined) over the run."""

    rule: Rule
    group: str
    role: str
    requested: int = 0
    accepted: int = 0
    reasons: Counter = field(default_factory=Counter)
    positive: int = 0
    calls: int = 0
    failed: bool = False
    note: str = ""


class DATEGenerator(Generator):
    """DATE (Alg. 2): rule-guided LLM rows, grouped by tree path, kept on error, scored on validation.

    Parameters
    ----------
    client : LLMClient, optional
        The LLM to ask (default: :func:`synth_core.llm.get_client`, the
        embedded model unless settings say otherwise), resolved at ``generate``.
    iterations : int, default=1
        ``I``: generate / evaluate / refine rounds per group (they share the rows).
    rho : float, optional
        Error threshold ``rho_m`` for a group of generated rows under the shared
        model (error rate, or MSE over the train target's variance). Default:
        per group, ``max(discovery's default rho, rule error + 0.05)``.
    rows_per_call : int, default=5
        Rows asked per LLM call.
    n_examples : int, default=10
        Exemplar rows shown per call.
    refine : bool, default=True
        Ask the LLM for refined rules between iterations (only when ``iterations > 1``).
    max_calls : int, optional
        Most row calls per source rule and iteration (default ``3 * ceil(rows / rows_per_call) + 2``).
    random_state : int, optional
        Seeds the shared models' trees and offsets the LLM sample indices (so
        another seed asks for other rows). ``None`` behaves as 0 for the trees.

    Attributes
    ----------
    groups_ : list
        Per shared model: rules, leading rule, model, ``rho_m``, validation error.
    history_ : list of dict
        Filled by ``generate``: one entry per (group, iteration, path group) with
        rows, error, rho, kept and Delta, plus one per refinement.

    Examples
    --------
    >>> from synth_core.llm.testing import FakeLLM
    >>> gen = DATEGenerator(client=FakeLLM(), iterations=2)
    >>> gen.get_params()["iterations"]
    2
    """

    name = "date"
    needs_llm = True
    llm_rows = True
    uses_validation = True

    def __init__(self, *, client=None, iterations: int = 1, rho: float | None = None, rows_per_call: int = 5,
                 n_examples: int = 10, refine: bool = True, max_calls: int | None = None, random_state=None):
        self.client = client
        self.iterations = iterations
        self.rho = rho
        self.rows_per_call = rows_per_call
        self.n_examples = n_examples
        self.refine = refine
        self.max_calls = max_calls
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def planned_calls(self, n: int, n_rules: int) -> int:
        k = max(n_rules, 1)
        iterations = max(int(self.iterations), 1)
        per_rule = max(math.ceil(n / k / max(int(self.rows_per_call), 1)), 1)
        return k * (per_rule * iterations + (iterations - 1 if self.refine else 0))

    def _check_params(self) -> None:
        problems = []
        for name in ("iterations", "rows_per_call", "n_examples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                problems.append(f"The '{name}' parameter of DATEGenerator must be an int >= 1. "
                                f"Got {v!r} instead.")
        if self.max_calls is not None and (isinstance(self.max_calls, bool)
                                           or not isinstance(self.max_calls, (int, np.integer))
                                           or self.max_calls < 1):
            problems.append(f"The 'max_calls' parameter of DATEGenerator must be None or an int >= 1. "
                            f"Got {self.max_calls!r} instead.")
        if self.rho is not None and (isinstance(self.rho, bool) or not isinstance(self.rho, (int, float))
                                     or not math.isfinite(self.rho) or self.rho < 0):
            problems.append(f"The 'rho' parameter of DATEGenerator must be None or a number >= 0. "
                            f"Got {self.rho!r} instead.")
        if problems:
            raise InvalidParameterError(" ".join(problems))

    def fit(self, dataset, rules):
        """Partition the approved rules by shared model and fit each group's model on its train rows.

        Parameters
        ----------
        dataset : Dataset
            Train rows feed the models and the prompts, validation rows the gain; test rows are not read.
        rules : list of Rule
            Only those with status ``'approved'`` are used.

        Returns
        -------
        self

        Raises
        ------
        GenerationError
            No approved rule.
        InvalidParameterError
            A parameter out of range.
        """
        self._check_params()
        self.dataset_ = dataset
        self.rules_ = approved_rules(rules)
        self.train_ = dataset.train.reset_index(drop=True)
        self.val_ = dataset.val.reset_index(drop=True)
        self.columns_ = dataset.features + [dataset.target]
        y = self.train_[dataset.target]
        self.scale_ = (float(np.var(pd.to_numeric(y, errors="coerce").to_numpy(dtype=float))) or 1.0
                       if dataset.task == "regression" else 1.0)
        keyed: dict[tuple, list] = {}
        for rule in self.rules_:
            key = ("model", int(rule.model_id)) if rule.model_id is not None else ("rule", rule.id)
            keyed.setdefault(key, []).append(rule)
        self.supports_ = {r.id: int(r.count(self.train_)) for r in self.rules_}
        self.groups_ = [self._make_group(key, members) for key, members in keyed.items()]
        return self

    def _seed(self) -> int:
        return int(self.random_state) if isinstance(self.random_state, (int, np.integer)) else 0

    def _fit_model(self, frame: pd.DataFrame) -> SharedModel:
        ds = self.dataset_
        return SharedModel.fit(frame[ds.features], frame[ds.target].to_numpy(), task=ds.task,
                               schema=ds.schema, features=ds.features, error="relative", scale=self.scale_,
                               random_state=self._seed())

    def _make_group(self, key: tuple, members: list) -> _Group:
        ds = self.dataset_

        def rank(r):
            return (r.ind is not None, r.ind if r.ind is not None else 0.0, self.supports_[r.id])

        leader = max(members, key=rank)  # max keeps the first of ties: the rules' own order
        ordered = [leader] + [r for r in members if r is not leader]
        mask = np.zeros(len(self.train_), dtype=bool)
        vmask = np.zeros(len(self.val_), dtype=bool)
        for r in ordered:
            mask |= r.mask(self.train_)
            vmask |= r.mask(self.val_)
        train = self.train_[mask].reset_index(drop=True)
        base = train if len(train) >= _MIN_MODEL_ROWS else self.train_
        model = self._fit_model(base)
        val = self.val_[vmask] if vmask.sum() >= _MIN_VAL_ROWS else self.val_
        val = val.reset_index(drop=True)
        val_error = model.error(val, val[ds.target].to_numpy()) if len(val) else float("nan")
        if self.rho is not None:
            rho = float(self.rho)
        else:
            errors = [r.error for r in ordered if r.error is not None and math.isfinite(r.error)]
            rule_error = max(errors) if errors else model.error(base, base[ds.target].to_numpy())
            default = DEFAULT_RHO_CLASSIFICATION if ds.task == "classification" else DEFAULT_RHO_RELATIVE
            rho = max(default, float(rule_error) + _RHO_SLACK)
        # examples: rows of the leading rule first, then the other rules' rows (in-context examples)
        lead_mask = leader.mask(train)
        examples = (pd.concat([train[lead_mask], train[~lead_mask]], ignore_index=True)
                    if len(train) else train)
        return _Group(key=key, rules=ordered, leader=leader, model=model, rho=rho, train=examples, val=val,
                      val_error=float(val_error))

    # ------------------------------------------------------------------ generate

    def generate(self, n: int, *, progress=None, cancel=None) -> Generation:
        """Generate about ``n`` candidate rows (accepted and rejected) with provenance.

        Parameters
        ----------
        n : int
            Rows to ask for over all approved rules (accepted rows are at most ``n``).
        progress : callable, optional
            ``progress(step, total, message)``; one step per group and iteration.
        cancel : threading.Event or callable, optional
            Checked before every LLM call; everything made so far is kept.

        Returns
        -------
        Generation
            ``rows`` carries :data:`PROVENANCE` plus ``_raw``, ``_path``, ``_group_error``, ``_delta``;
            ``proposals`` the refined rules (status ``'proposed'``).

        Raises
        ------
        GenerationError
            ``n < 1``.
        NotFittedError
            Before ``fit``.
        """
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        client = self.client
        if client is None:
            from ..llm import get_client

            client = get_client()
        start = time.perf_counter()
        n_records = len(client.usage.records)
        iterations = int(self.iterations)
        quotas = dict(zip([r.id for r in self.rules_], allocate(n, [max(self.supports_[r.id], 1)
                                                                      for r in self.rules_])))
        self.history_ = []
        for group in self.groups_:  # every call starts from the fitted state: same seed, same run
            group.refined = []
        self._seen: set = set()
        self._samples: dict[str, int] = {}
        parts: list[pd.DataFrame] = []
        tallies: dict[str, _Tally] = {}
        messages: list[str] = []
        proposals: list[Rule] = []
        cancelled = False
        total = len(self.groups_) * iterations
        step = 0
        fatal = None
        for gi, group in enumerate(self.groups_):
            if fatal is not None:
                messages.append(f"stopped before rule {group.leader.id}: the LLM failed; the rows made so far are "
                                "kept.")
                break
            lead = group.leader
            for r in group.rules:
                tallies[r.id] = _Tally(r, lead.id, "leader" if r is lead else "example",
                                       note="" if r is lead else f"in-context examples for {lead.id}")
            group_quota = sum(quotas[r.id] for r in group.rules)
            per_iteration = allocate(group_quota, [1] * iterations)
            sources = [lead]
            failed = False
            for it, quota in enumerate(per_iteration, start=1):
                if is_cancelled(cancel):
                    cancelled = True
                    break
                label = f"date: rule {lead.id} iteration {it}/{iterations}"
                if progress:
                    progress(step, total, label)

                def report(msg, _step=step, _label=label):
                    if progress:
                        progress(_step, total, f"{_label}: {msg}")

                pool: list[pd.DataFrame] = []
                for src, k in zip(sources, allocate(quota, [1] * len(sources))):
                    if k <= 0:
                        continue
                    tally = tallies.setdefault(src.id, _Tally(src, lead.id, "refined",
                                                              note=f"refined from {lead.id}"))
                    tally.requested += k
                    accepted, rejected, stop, error = self._ask(client, group, src, k, it, cancel, report,
                                                                tally)
                    parts.extend(rejected)
                    pool.extend(accepted)
                    if isinstance(error, LLMError):
                        messages.append(f"rule {src.id}: the LLM failed: {error}")
                        failed = tally.failed = True
                        fatal = error  # an endpoint that failed one call after its retries (down, hung, out of
                        # time, answering something that is not the API) fails the next: stop, keep the rows
                    elif error is not None:
                        messages.append(f"rule {src.id}: no rows could be asked for: {error}")
                        failed = src is lead
                    cancelled = cancelled or stop
                    if failed or cancelled:
                        break
                feedback = self._evaluate(group, pool, it, tallies)
                parts.extend(feedback["frames"])
                step += 1
                if cancelled or failed:
                    break
                if not self.refine or it >= iterations:
                    continue
                if is_cancelled(cancel):
                    cancelled = True
                    break
                new = self._refine(client, group, it, feedback, proposals, messages, gi)
                sources = [lead] + new[:1]
            if cancelled:
                kept = sum(int((p["_status"] == "accepted").sum()) for p in parts if len(p))
                messages.append(f"cancelled at rule {lead.id}; {kept} accepted rows kept.")
                break
        if progress:
            progress(total, total, "date: done")
        rows = self._assemble(parts)
        for t in tallies.values():
            rejected = sum(t.reasons.values())
            if t.accepted == 0 and rejected > 0:
                top = ", ".join(f"{reason} {count}" for reason, count in t.reasons.most_common(3))
                messages.append(f"rule {t.rule.id}: all {rejected} generated rows were rejected "
                                f"(top reasons: {top}).")
            elif t.accepted == 0 and t.calls > 0 and not t.failed:
                messages.append(f"rule {t.rule.id}: {t.calls} LLM call(s) gave no row at all "
                                "(empty answers).")
        usage, by_tag = self._usage(client, n_records, tallies)
        per_rule = self._per_rule(tallies, by_tag)
        return Generation(rows=rows, per_rule=per_rule, messages=messages, usage=usage, proposals=proposals,
                          cancelled=cancelled, seconds=time.perf_counter() - start, error=fatal)

    # ------------------------------------------------------------------ one source rule, one iteration

    def _ask(self, client, group: _Group, src: Rule, k: int, iteration: int, cancel, report, tally: _Tally):
        """Ask for ``k`` rows of ``src``, one call at a time.

        Returns (accepted frames, rejected frames, cancelled, error): an :class:`LLMError` or a
        :class:`GenerationError` stops the asking and is returned, with every frame made before it.
        """
        from ..llm import generate_rows

        ds = self.dataset_
        examples = group.train
        if src is not group.leader and src not in group.rules:
            own = self.train_[src.mask(self.train_)]
            if len(own):
                examples = own.reset_index(drop=True)
        if len(examples) == 0:
            examples = self.train_
        rpc = int(self.rows_per_call)
        budget = int(self.max_calls) if self.max_calls is not None else 3 * math.ceil(k / rpc) + 2
        sample = self._samples.get(src.id, self._seed() * _SAMPLE_STRIDE)
        accepted, rejected = [], []
        got = calls = 0
        stop = False

        def cancel_fn():
            return is_cancelled(cancel)

        while got < k and calls < budget:
            if is_cancelled(cancel):
                stop = True
                break
            want = k - got
            try:
                batch = generate_rows(client, schema=ds.schema, target=ds.target, rule=src, examples=examples,
                                      n=want, real_rows=self.train_, rows_per_call=min(rpc, want),
                                      n_examples=int(self.n_examples), max_calls=1, start_sample=sample,
                                      tag=src.id, cancel=cancel_fn)
            except (LLMError, GenerationError) as exc:
                self._samples[src.id] = sample + 1
                return accepted, rejected, stop, exc
            sample += 1
            calls += 1
            tally.calls += 1
            if batch.cancelled and not batch.call_ids:
                stop = True
                break
            call_id = batch.call_ids[0] if batch.call_ids else ""
            if batch.rejected:
                items = [(raw, reason, call_id) for raw, reason in batch.rejected]
                rejected.append(self._rejected_frame(items, src, iteration))
                tally.reasons.update(reason for _, reason in batch.rejected)
            rows = batch.rows.reset_index(drop=True)
            if len(rows):
                rows = rows[[c for c in self.columns_ if c in rows.columns]].copy()
                rows["_call_id"] = list(batch.row_call_ids[: len(rows)]) or [call_id] * len(rows)
                keys = [tuple("" if pd.isna(v) else str(v) for v in vals)
                        for vals in rows[self.columns_].itertuples(index=False, name=None)]
                dup = np.array([key in self._seen for key in keys], dtype=bool)
                seen_now = set()
                for i, key in enumerate(keys):  # a repeat inside one call is caught by the LLM layer already
                    if not dup[i]:
                        seen_now.add(key)
                self._seen |= seen_now
                if dup.any():
                    raw = [",".join(key) for key, d in zip(keys, dup) if d]
                    cids = rows.loc[dup, "_call_id"].tolist()
                    rejected.append(self._rejected_frame([(r, "duplicate", c) for r, c in zip(raw, cids)],
                                                         src, iteration))
                    tally.reasons["duplicate"] += int(dup.sum())
                rows = rows[~dup].reset_index(drop=True)
                rows["_rule_id"] = src.id
                accepted.append(rows)
                got += len(rows)
            if report:
                report(f"{calls} call(s), {got} of {k} rows for {src.id}")
        self._samples[src.id] = sample
        return accepted, rejected, stop, None

    def _rejected_frame(self, items, src: Rule, iteration: int) -> pd.DataFrame:
        return pd.DataFrame({"_rule_id": src.id, "_iteration": iteration,
                             "_call_id": [c for _, _, c in items],
                             "_status": "rejected", "_reason": [r for _, r, _ in items],
                             "_raw": [str(raw) for raw, _, _ in items], "_path": "",
                             "_group_error": np.nan, "_delta": np.nan})

    # ------------------------------------------------------------------ Alg. 2 lines 7-14

    def _evaluate(self, group: _Group, pool: list, iteration: int, tallies: dict) -> dict:
        """Group the iteration's accepted rows by tree path; error test, then the validation gain."""
        ds = self.dataset_
        out = {"frames": [], "scores": {}, "paths": []}
        if not pool:
            return out
        rows = pd.concat(pool, ignore_index=True)
        model = group.model
        leaves = model.leaf_ids(rows[ds.features])
        rows["_iteration"] = iteration
        rows["_raw"] = ""
        rows["_status"] = "accepted"
        rows["_reason"] = ""
        rows["_path"] = ""
        rows["_group_error"] = np.nan
        rows["_delta"] = np.nan
        y_val = group.val[ds.target].to_numpy()
        for leaf in sorted(set(leaves.tolist())):
            hit = leaves == leaf
            h = rows[hit]
            path = model.path(leaf).to_text() if leaf >= 0 else "(no tree path)"
            err = model.error(h[ds.features], h[ds.target].to_numpy())
            kept = err <= group.rho
            delta = float("nan")
            if kept and len(group.val):
                both = pd.concat([group.train[self.columns_], h[self.columns_]], ignore_index=True)
                try:
                    refit = self._fit_model(both)
                    delta = group.val_error - refit.error(group.val, y_val)
                except DataError:  # pragma: no cover - a refit on rows with no usable column
                    delta = float("nan")
            rows.loc[hit, "_path"] = path
            rows.loc[hit, "_group_error"] = err
            if kept:
                rows.loc[hit, "_delta"] = delta
            else:
                rows.loc[hit, "_status"] = "rejected"
                rows.loc[hit, "_reason"] = GROUP_ERROR_REASON
            for rid, count in h["_rule_id"].value_counts().items():
                t = tallies[rid]
                if kept:
                    t.accepted += int(count)
                    t.positive += int(count) if delta > 0 else 0
                else:
                    t.reasons[GROUP_ERROR_REASON] += int(count)
            entry = {"group": group.leader.id, "iteration": iteration, "kind": "path", "path": path,
                     "rows": int(hit.sum()), "error": float(err), "rho": float(group.rho), "kept": bool(kept),
                     "delta": float(delta)}
            self.history_.append(entry)
            shown = round(float(delta), 4) if kept and math.isfinite(delta) else "n/a"
            out["scores"][path] = {"rows": int(hit.sum()), "error": round(float(err), 4), "delta": shown,
                                   "kept": "yes" if kept else "no (error above rho)"}
            if leaf >= 0:
                out["paths"].append(model.path(leaf))
        out["frames"].append(rows)
        return out

    # ------------------------------------------------------------------ Alg. 2 line 17

    def _refine(self, client, group: _Group, iteration: int, feedback: dict, proposals: list, messages: list,
                gi: int) -> list:
        """Ask the LLM for refined rules; they are proposals (status 'proposed') with ids '<leader>.rK'."""
        from ..llm import propose_rules

        ds = self.dataset_
        lead = group.leader
        scores = {lead.id: {"rule error": round(float(lead.error), 4) if lead.error is not None else "n/a",
                            "rho": round(group.rho, 4),
                            "validation error of its model": round(group.val_error, 4)}}
        scores.update(feedback["scores"])
        known = [p.to_text() for p in feedback["paths"]]
        paths = list(feedback["paths"]) + [p for p in group.model.paths if p.to_text() not in known]
        try:
            out = propose_rules(client, schema=ds.schema, target=ds.target, task=ds.task,
                                current_rules=list(self.rules_) + proposals, paths=paths[:20],
                                feedback=scores, n=_N_PROPOSALS, tag=f"{lead.id}:refine",
                                sample=self._seed() * _SAMPLE_STRIDE + gi * 100 + iteration)
        except LLMError as exc:
            messages.append(f"rule {lead.id}: refinement at iteration {iteration} failed: {exc}")
            self.history_.append({"group": lead.id, "iteration": iteration, "kind": "refine",
                                  "error_text": str(exc)})
            return []
        new = []
        for rule in out.valid:
            k = len(group.refined) + 1
            rows = self.train_[rule.mask(self.train_)]
            err = None
            if len(rows):
                err = float(group.model.error(rows[ds.features], rows[ds.target].to_numpy()))
            refined = rule.with_(id=f"{lead.id}.r{k}", origin="refined", status="proposed",
                                 model_id=lead.model_id, support=int(len(rows)), error=err, ind=None,
                                 note=(f"refined from {lead.id} at iteration {iteration}"
                                       + (f"; {rule.note}" if rule.note else "")))
            group.refined.append(refined)
            proposals.append(refined)
            new.append(refined)
        self.history_.append({"group": lead.id, "iteration": iteration, "kind": "refine",
                              "proposed": [r.id for r in new], "invalid": [t for t, _ in out.invalid]})
        if not new:
            why = "; ".join(f"{text!r}: {err}" for text, err in out.invalid[:2]) or "empty answer"
            messages.append(f"rule {lead.id}: the LLM proposed no valid refined rule at iteration "
                            f"{iteration} ({why}); the next iteration uses {lead.id} alone.")
        return new

    # ------------------------------------------------------------------ output

    def _assemble(self, parts: list) -> pd.DataFrame:
        cols = self.columns_ + PROVENANCE + EXTRA_COLUMNS
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=cols)
        rows = pd.concat(parts, ignore_index=True)
        for c in self.columns_:
            if c not in rows:
                rows[c] = np.nan
        data = coerce_like(rows[self.columns_], self.train_, self.dataset_.schema)
        for c in self.columns_:  # rejected rows have no values: keep integer columns integer (nullable)
            if pd.api.types.is_integer_dtype(self.train_[c]) and not pd.api.types.is_integer_dtype(data[c]):
                data[c] = pd.to_numeric(data[c], errors="coerce").round().astype("Int64")
        out = provenance_frame(data, generator=self.name, rule_id="", iteration=0)
        out["_rule_id"] = rows["_rule_id"].astype(str).to_numpy()
        out["_iteration"] = rows["_iteration"].astype(int).to_numpy()
        out["_arm"] = [f"{r}:{i}" for r, i in zip(out["_rule_id"], out["_iteration"])]
        out["_call_id"] = rows["_call_id"].fillna("").astype(str).to_numpy()
        out["_status"] = rows["_status"].astype(str).to_numpy()
        out["_reason"] = rows["_reason"].fillna("").astype(str).to_numpy()
        out["_raw"] = rows["_raw"].fillna("").astype(str).to_numpy()
        out["_path"] = rows["_path"].fillna("").astype(str).to_numpy()
        out["_group_error"] = pd.to_numeric(rows["_group_error"], errors="coerce").to_numpy(dtype=float)
        out["_delta"] = pd.to_numeric(rows["_delta"], errors="coerce").to_numpy(dtype=float)
        return out[cols].reset_index(drop=True)

    def _usage(self, client, n_records: int, tallies: dict) -> tuple[dict, pd.DataFrame]:
        """This run's LLM usage (calls made since ``generate`` started), overall and per tag."""
        from ..llm.usage import Usage

        usage = Usage()
        for rec in client.usage.records[n_records:]:
            usage.record(rec)
        for t in tallies.values():
            usage.add_rows(t.rule.id, accepted=t.accepted, rejected=sum(t.reasons.values()))
        usage.set_server_start(client.usage.server_start_seconds)
        summary = usage.summary()
        by_tag = usage.by_tag()
        return {**summary, "by_tag": by_tag.to_dict(orient="records")}, by_tag

    def _per_rule(self, tallies: dict, by_tag: pd.DataFrame) -> pd.DataFrame:
        tags = by_tag.set_index("tag") if len(by_tag) else pd.DataFrame()

        def tag_value(tag, col):
            return int(tags.loc[tag, col]) if len(tags) and tag in tags.index else 0

        records = []
        for t in tallies.values():
            rid = t.rule.id
            refine_tag = f"{rid}:refine"
            records.append({
                "rule_id": rid, "rule": t.rule.text, "group": t.group, "role": t.role,
                "status": t.rule.status,
                "origin": t.rule.origin, "requested": t.requested, "accepted": t.accepted,
                "rejected": int(sum(t.reasons.values())),
                "rejected_by_reason": ", ".join(f"{r} {c}" for r, c in t.reasons.most_common()),
                "positive_gain_rows": t.positive, "calls": tag_value(rid, "calls"),
                "cache_hits": tag_value(rid, "cache_hits"), "errors": tag_value(rid, "errors"),
                "prompt_tokens": tag_value(rid, "prompt_tokens"),
                "completion_tokens": tag_value(rid, "completion_tokens"),
                "tokens": tag_value(rid, "total_tokens"),
                "refine_calls": tag_value(refine_tag, "calls"),
                "refine_tokens": tag_value(refine_tag, "total_tokens"),
                "note": t.note,
            })
        columns = ["rule_id", "rule", "group", "role", "status", "origin", "requested", "accepted",
                   "rejected", "rejected_by_reason", "positive_gain_rows", "calls", "cache_hits", "errors",
                   "prompt_tokens", "completion_tokens", "tokens", "refine_calls", "refine_tokens", "note"]
        return pd.DataFrame(records, columns=columns)
