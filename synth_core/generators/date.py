"""DATE Algorithm 2: DGR-guided iterative data generation through the LLM layer.

:class:`DATEGenerator` asks an LLM (any :class:`~synth_core.llm.LLMClient`, the
embedded model by default) for rows inside each approved rule, checks them with
the rule's *shared model* (a decision tree), measures on validation rows
whether they help that model, and asks the LLM for refined rules from the tree
paths and scores, ``iterations`` (``I``) times. Which steps follow the paper
and which differ, with the reason and the test that shows it, is in
``docs/PAPERS.md`` (section "DATE, Algorithm 2"); the two presets are:

``preset="product"`` (default)
    Kept path groups are those whose *mean* error under ``m`` is within
    ``rho_m`` (with a small slack over the rule's own error); every kept group's
    rows stay accepted whatever their validation gain ``Delta`` (recorded in
    ``_delta``), and the row selection (MDS, or the cross-fitted check)
    decides; real rows stay the only yardstick of ``m``, ``rho_m`` and
    ``Delta``; the prompt is the project's plain one (a rule and random
    exemplars); iterations run ``I`` times.
``preset="paper"``
    Alg. 2 as published: ``rho_m = error(m, T_m)`` (Alg. 1 line 7) with Problem
    1's errors (error rate, mean absolute error); a group is kept only when
    *every* row's error is within ``rho_m`` (line 10); ``e'_k = (m, rho_m -
    Delta_k, r_k, H_k)`` joins ``E_m`` (lines 13-14: its rows feed the next
    iterations' prompts and ``T_m``, its quality ``rho_m - Delta_k`` is kept in
    ``_quality`` for MDS); only groups with ``Delta_k > 0`` enter ``T^G_m``
    (lines 15-16; the others are rejected as :data:`DELTA_REASON`); the prompt
    is DATE's DGR-based one (the group's other rules and path examples as
    rule-data blocks, exemplars stratified by the target); a group stops when
    its validation score no longer improves; one refined rule per refinement.

Refined rules never write a row on their own: ``step`` returns them as
proposals (status ``'proposed'``) and only those passed back approved to
``apply`` write rows, from the next iteration on (:mod:`synth_core.approval`).

How one run goes (Alg. 2 line numbers in brackets)
--------------------------------------------------
``fit(dataset, rules)``: only approved rules are used, partitioned by shared
model [2] (``Rule.model_id``; a rule without one is a group of its own). Per
group the rule with the highest ``ind(r)`` leads; its rows come first among the
exemplars. The group's model ``m`` is a :class:`~synth_core.discovery.SharedModel`
refitted on ``T_m``, the union of the group's train rows [5] (all train rows
when that union has fewer than ``_MIN_MODEL_ROWS``), with discovery's tree
settings. Test rows are never read.

``start(n)`` / ``step()`` / ``apply(approved)`` / ``finish()`` (or ``generate(n)``,
which runs them with a gate): ``n`` is split over the approved rules by train
support, a group's share equally over the ``I`` iterations. Iteration ``i`` of a
group asks the LLM for rows of its leading rule and of the refinements approved
after iteration ``i - 1`` [6, 19]. Accepted rows are grouped
by their tree path under ``m`` [7-8] and checked [10]; kept groups get their
gain ``Delta_k`` [12]: the validation error of ``m``'s tree refitted on ``T_m``
minus that of the tree refitted on ``T_m`` plus ``H_k``, on the validation rows
of the group's rules (all validation rows when fewer than ``_MIN_VAL_ROWS``
match). With ``refine`` and ``i < I`` the paths, errors and gains go to
:func:`~synth_core.llm.propose_rules` [17]; its valid answers become proposals
with ids ``"<leader>.r1"``, ``"<leader>.r2"``, ...

Concurrency: the iterations run one after the other (each needs the previous
one's scores and approved refinements), but inside an iteration every group's
row calls are sent together, up to the client's ``concurrency`` in flight
(:class:`~synth_core.llm.parallel.CallStream`); a group's refinement request
joins them as soon as its rows are checked. The calls are planned before they
are sent (in rounds: a rule short of rows after one, because some were
rejected, gets another) and their replies are taken in the planned order, so
with the same seed and the same replies (the reply cache) the rows are the same
at any concurrency. Cancel starts no further call and keeps the replies of the
calls in flight.

Rows the LLM layer rejects (unparseable, out of domain, breaking the rule, a
copy of a real train row, a duplicate) stay in the output with
``_status="rejected"`` and the reason; every accepted row is checked against its
rule once more after it is cast to the table's types.

Provenance columns beyond :data:`~synth_core.generators.base.PROVENANCE`:
``_raw`` (raw LLM text of rows rejected by the parser), ``_path`` (the tree path
of the row's group), ``_group_error`` (mean error of ``m`` on the group),
``_delta`` (the group's validation gain) and ``_quality`` (``rho_m - Delta``,
the ``rho_k`` of the example the group forms); NaN where not measured. With the
paper preset ``_arm`` is one arm per example (source rule, iteration, path), as
Alg. 3 wants; with the product preset one per (rule, iteration).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._frames import concat_rows
from .._validation import Bool, InstanceOf, Interval, Options, check_params
from ..discovery import DEFAULT_RHO_CLASSIFICATION, DEFAULT_RHO_RELATIVE, SharedModel
from ..errors import DataError, GenerationError, LLMError
from ..llm.client import LLMClient
from ..rules import Rule
from .base import (
    PROVENANCE,
    TYPED_RULE_REASON,
    Generation,
    Generator,
    allocate,
    approved_rules,
    coerce_like,
    is_cancelled,
    provenance_frame,
    recheck_typed,
)

__all__ = ["DATEGenerator", "EXTRA_COLUMNS", "GROUP_ERROR_REASON", "DELTA_REASON", "PRESETS"]

#: Columns DATE adds to the provenance columns.
EXTRA_COLUMNS = ["_raw", "_path", "_group_error", "_delta", "_quality"]
#: ``_reason`` of rows whose path group fails the error threshold.
GROUP_ERROR_REASON = "group error above rho"
#: ``_reason`` of rows of a kept group that did not improve the validation error (paper preset, line 15).
DELTA_REASON = "no validation gain (Delta <= 0)"
#: ``preset`` values.
PRESETS = ("product", "paper")

_RHO_SLACK = 0.05
_MIN_MODEL_ROWS = 10
_MIN_VAL_ROWS = 10
_SAMPLE_STRIDE = 100_000


@dataclass
class _Group:
    """One shared model's partition E_m: its rules, leader, model, threshold and reference rows."""

    key: tuple
    rules: list
    leader: Rule
    model: SharedModel
    rho: float
    train: pd.DataFrame  # real rows T_m, the leader's first (the exemplars of the product prompt)
    val: pd.DataFrame
    val_error: float  # validation error of the tree fitted on T_m (and added-back examples)
    refined: list = field(default_factory=list)  # every rule this group proposed
    proposed: list = field(default_factory=list)  # proposed after the last iteration, waiting for apply
    next_sources: list = field(default_factory=list)
    quotas: list = field(default_factory=list)  # rows per iteration
    active: bool = True
    examples: list = field(default_factory=list)  # paper: path examples e'_k as (path text, H_k rows)
    added: list = field(default_factory=list)  # paper: H_k rows added back to T_m
    kept: list = field(default_factory=list)  # rows of T^G_m (Delta > 0) for the early stop
    best: float = float("nan")  # paper: the validation score to beat


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


@dataclass
class _Ask:
    """One source rule's rows in one iteration: what is asked for, what came back (:meth:`DATEGenerator._iterate`)."""

    group: _Group
    gi: int
    src: Rule
    k: int  # rows wanted
    tally: _Tally
    examples: pd.DataFrame
    blocks: tuple
    budget: int  # most calls
    sample: int  # the next call's sample index
    planned: int = 0  # calls planned so far
    outstanding: int = 0  # calls of the current round not taken yet
    done: bool = False  # no further round
    ran: int = 0  # calls answered
    got: int = 0  # rows accepted so far
    accepted: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    error: Exception | None = None


@dataclass
class _State:
    """One run of ``start`` ... ``finish``."""

    n: int
    client: object
    n_records: int
    started: float
    progress: object = None
    cancel: object = None
    iteration: int = 0
    parts: list = field(default_factory=list)
    tallies: dict = field(default_factory=dict)
    messages: list = field(default_factory=list)
    proposals: list = field(default_factory=list)
    cancelled: bool = False
    fatal: Exception | None = None
    decisions: list = field(default_factory=list)
    finished: bool = False


class DATEGenerator(Generator):
    """DATE (Alg. 2): rule-guided LLM rows, grouped by tree path, kept on error, scored on validation.

    Parameters
    ----------
    client : LLMClient, optional
        The LLM to ask (default: :func:`synth_core.llm.get_client`, the
        embedded model unless settings say otherwise), resolved at ``start``.
    preset : {'product', 'paper'}, default='product'
        Which reading of Alg. 2 to run (see the module docstring and ``docs/PAPERS.md``).
    iterations : int, default=1
        ``I``: generate / evaluate / refine rounds per group (they share the rows). The pipeline's
        presets set it (product 2, paper 3, the paper's value).
    rho : float, optional
        Error threshold ``rho_m`` for a group of generated rows under the shared model. Default:
        product, per group ``max(discovery's default rho, rule error + 0.05)`` (error rate, or MSE over
        the train target's variance); paper, ``error(m, T_m)`` (error rate, or mean absolute error).
    rows_per_call : int, default=5
        Rows asked per LLM call.
    n_examples : int, default=10
        Exemplar rows shown per call (per rule block with the paper's prompt).
    refine : bool, default=True
        Ask the LLM for refined rules between iterations (only when ``iterations > 1``). They write rows
        only once approved (``apply``).
    n_refinements : int, optional
        Rules asked per refinement call (default: 2 product, 1 paper: "each refinement step produces
        exactly one new r_new").
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
        Filled while generating: one entry per (group, iteration, path group) with
        rows, error, rho, kept, Delta and quality, plus one per refinement and per early stop.

    Examples
    --------
    >>> from synth_core.llm.testing import FakeLLM
    >>> gen = DATEGenerator(client=FakeLLM(), iterations=2)
    >>> gen.get_params()["iterations"], gen.get_params()["preset"]
    (2, 'product')
    """

    name = "date"
    needs_llm = True
    llm_rows = True
    uses_validation = True

    _parameter_constraints = {
        "client": [InstanceOf(LLMClient, what="an LLMClient"), None],
        "preset": [Options(PRESETS)],
        "iterations": [Interval(int, 1, None)],
        "rho": [Interval(float, 0, None), None],
        "rows_per_call": [Interval(int, 1, None)],
        "n_examples": [Interval(int, 1, None)],
        "refine": [Bool],
        "n_refinements": [Interval(int, 1, None), None],
        "max_calls": [Interval(int, 1, None), None],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(
        self,
        *,
        client=None,
        preset: str = "product",
        iterations: int = 1,
        rho: float | None = None,
        rows_per_call: int = 5,
        n_examples: int = 10,
        refine: bool = True,
        n_refinements: int | None = None,
        max_calls: int | None = None,
        random_state=None,
    ):
        self.client = client
        self.preset = preset
        self.iterations = iterations
        self.rho = rho
        self.rows_per_call = rows_per_call
        self.n_examples = n_examples
        self.refine = refine
        self.n_refinements = n_refinements
        self.max_calls = max_calls
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    @property
    def run_error_(self) -> Exception | None:
        """The LLM failure that stopped the current run (``None``: none, or no run started)."""
        state = getattr(self, "_state", None)
        return None if state is None else state.fatal

    @property
    def _paper(self) -> bool:
        return self.preset == "paper"

    def _n_refinements(self) -> int:
        if self.n_refinements is not None:
            return int(self.n_refinements)
        return 1 if self._paper else 2

    def planned_calls(self, n: int, n_rules: int) -> int:
        k = max(n_rules, 1)
        iterations = max(int(self.iterations), 1)
        per_rule = max(math.ceil(n / k / max(int(self.rows_per_call), 1)), 1)
        return k * (per_rule * iterations + (iterations - 1 if self.refine else 0))

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
            A parameter out of range (checked before anything else).
        """
        check_params(self)
        self.dataset_ = dataset
        self.rules_ = approved_rules(rules)
        self.train_ = dataset.train.reset_index(drop=True)
        self.val_ = dataset.val.reset_index(drop=True)
        self.columns_ = dataset.features + [dataset.target]
        y = self.train_[dataset.target]
        self.scale_ = (
            float(np.var(pd.to_numeric(y, errors="coerce").to_numpy(dtype=float))) or 1.0
            if dataset.task == "regression"
            else 1.0
        )
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
        return SharedModel.fit(
            frame[ds.features],
            frame[ds.target].to_numpy(),
            task=ds.task,
            schema=ds.schema,
            features=ds.features,
            error="mae" if self._paper else "relative",
            scale=self.scale_,
            random_state=self._seed(),
        )

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
        elif self._paper:  # Alg. 1 line 7: rho_m = error(m, T_r), Problem 1's error
            rho = float(model.error(base, base[ds.target].to_numpy()))
        else:
            errors = [r.error for r in ordered if r.error is not None and math.isfinite(r.error)]
            rule_error = max(errors) if errors else model.error(base, base[ds.target].to_numpy())
            default = DEFAULT_RHO_CLASSIFICATION if ds.task == "classification" else DEFAULT_RHO_RELATIVE
            rho = max(default, float(rule_error) + _RHO_SLACK)
        # examples: rows of the leading rule first, then the other rules' rows (in-context examples)
        lead_mask = leader.mask(train)
        examples = (
            concat_rows([train[lead_mask], train[~lead_mask]], ignore_index=True) if len(train) else train
        )
        return _Group(
            key=key,
            rules=ordered,
            leader=leader,
            model=model,
            rho=rho,
            train=examples,
            val=val,
            val_error=float(val_error),
        )

    # ------------------------------------------------------------------ the steppable run

    def generate(self, n: int, *, progress=None, cancel=None, refinements=None) -> Generation:
        """Generate about ``n`` candidate rows (accepted and rejected) with provenance.

        Runs :meth:`start`, then :meth:`step` for each iteration, asking ``refinements`` (a gate,
        see :mod:`synth_core.approval`) which proposed rules may write rows, then :meth:`finish`.

        Parameters
        ----------
        n : int
            Rows to ask for over all approved rules (accepted rows are at most ``n``).
        progress : callable, optional
            ``progress(step, total, message)``; one step per group and iteration.
        cancel : threading.Event or callable, optional
            Checked before every LLM call; everything made so far is kept.
        refinements : {'propose', 'auto'}, gate or callable, optional
            Default ``'propose'``: refined rules come back as proposals and write no row.

        Returns
        -------
        Generation
            ``rows`` carries :data:`PROVENANCE` plus :data:`EXTRA_COLUMNS`; ``proposals`` the refined
            rules (status ``'approved'`` if the gate approved them, else ``'proposed'``); ``decisions``
            what the gate decided.

        Raises
        ------
        GenerationError
            ``n < 1``.
        NotFittedError
            Before ``fit``.
        """
        from ..approval import resolve_gate, step_all

        gate = resolve_gate(refinements)
        self.start(n, progress=progress, cancel=cancel)
        record = step_all(
            [("", self)], gate, schema=self.dataset_.schema, cancelled=lambda: is_cancelled(cancel)
        )
        out = self.finish()
        out.decisions = record
        return out

    def start(self, n: int, *, progress=None, cancel=None) -> DATEGenerator:
        """Begin a run of ``n`` rows: split them over the groups and iterations; no LLM call yet.

        Returns
        -------
        self
        """
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        client = self.client
        if client is None:
            from ..llm import get_client

            client = self.client = get_client()
        iterations = int(self.iterations)
        quotas = dict(
            zip([r.id for r in self.rules_], allocate(n, [max(self.supports_[r.id], 1) for r in self.rules_]))
        )
        self.history_ = []
        self._seen: set = set()
        self._samples: dict[str, int] = {}
        from ..llm._domain import generated_columns
        from ..llm.row_check import real_row_keys

        ds = self.dataset_  # the copy check's keys of the train rows, once for every call of the run
        self._real_keys = real_row_keys(self.train_, ds.schema, generated_columns(ds.schema, ds.target))
        for group in self.groups_:  # every run starts from the fitted state: same seed, same run
            group.refined, group.proposed, group.examples, group.added, group.kept = [], [], [], [], []
            group.next_sources = [group.leader]
            group.active = True
            group.quotas = allocate(sum(quotas[r.id] for r in group.rules), [1] * iterations)
            if self._paper and len(group.val):
                group.val_error = float(self._refit_error(group, []))
            group.best = group.val_error
        self._state = _State(
            n=int(n),
            client=client,
            n_records=len(client.usage.records),
            started=time.perf_counter(),
            progress=progress,
            cancel=cancel,
        )
        st = self._state
        for group in self.groups_:
            for r in group.rules:
                st.tallies[r.id] = _Tally(
                    r,
                    group.leader.id,
                    "leader" if r is group.leader else "example",
                    note="" if r is group.leader else f"in-context examples for {group.leader.id}",
                )
        return self

    def step(self):
        """Run the next iteration for every group; return its proposals (a :class:`~synth_core.approval.StepResult`).

        Every active group's row calls and refinement requests go through the client together, up to its
        ``concurrency`` in flight, and the replies are taken in a fixed order, so the rows do not depend on
        the concurrency (see :meth:`_iterate`). The proposals write no row until :meth:`apply` approves them.
        """
        from ..approval import StepResult

        st = self._state
        iterations = int(self.iterations)
        if st.iteration >= iterations or st.cancelled or st.fatal is not None or st.finished:
            return StepResult(st.iteration, iterations, done=True)
        it = st.iteration + 1
        new_all, sources = [], {}
        active = [(gi, g) for gi, g in enumerate(self.groups_) if g.active]
        if is_cancelled(st.cancel):
            st.cancelled = True
        if active and not st.cancelled:
            for group, new in self._iterate(active, it):
                group.proposed = new
                for r in new:
                    sources[r.id] = group.leader.id
                new_all += new
        st.iteration = it
        if st.cancelled:
            kept = sum(int((p["_status"] == "accepted").sum()) for p in st.parts if len(p))
            lead = next((g.leader.id for g in self.groups_ if g.active), self.groups_[-1].leader.id)
            st.messages.append(f"cancelled at rule {lead}; {kept} accepted rows kept.")
        done = (
            it >= iterations
            or st.cancelled
            or st.fatal is not None
            or not any(g.active for g in self.groups_)
        )
        return StepResult(it, iterations, proposals=[] if done else new_all, sources=sources, done=done)

    def apply(self, approved: dict) -> None:
        """Let approved proposals write rows in the next iteration.

        Parameters
        ----------
        approved : dict
            Proposal id -> the approved rule (status ``'approved'``, possibly edited by a person); a
            proposal not in it writes nothing and stays ``'proposed'``.
        """
        st = self._state
        for group in self.groups_:
            take = [approved[r.id] for r in group.proposed if r.id in approved]
            group.next_sources = [group.leader] + take
            group.proposed = []
        st.proposals = [approved.get(r.id, r) for r in st.proposals]

    def finish(self) -> Generation:
        """The run's rows, per-rule table, messages and usage."""
        st = self._state
        st.finished = True
        if st.progress:
            total = len(self.groups_) * int(self.iterations)
            st.progress(total, total, "date: done")
        rows = self._assemble(st.parts)
        messages = st.messages
        for t in st.tallies.values():
            rejected = sum(t.reasons.values())
            if t.accepted == 0 and rejected > 0:
                top = ", ".join(f"{reason} {count}" for reason, count in t.reasons.most_common(3))
                messages.append(
                    f"rule {t.rule.id}: all {rejected} generated rows were rejected (top reasons: {top})."
                )
            elif t.accepted == 0 and t.calls > 0 and not t.failed:
                messages.append(
                    f"rule {t.rule.id}: {t.calls} LLM call(s) gave no row at all (empty answers)."
                )
        usage, by_tag = self._usage(st.client, st.n_records, st.tallies)
        per_rule = self._per_rule(st.tallies, by_tag)
        return Generation(
            rows=rows,
            per_rule=per_rule,
            messages=messages,
            usage=usage,
            proposals=list(st.proposals),
            cancelled=st.cancelled,
            seconds=time.perf_counter() - st.started,
            error=st.fatal,
        )

    # ------------------------------------------------------------------ every group, one iteration

    def _iterate(self, active: list, it: int) -> list:
        """Lines 5-17 for every active group at once: ask for rows of its sources, group them by path, check
        and score them, ask for refined rules; returns ``[(group, new proposals)]`` in group order.

        One :class:`~synth_core.llm.parallel.CallStream` carries every call of the iteration, up to the
        client's ``concurrency`` in flight. Each source first gets the calls that would bring its ``k`` rows if
        every row were accepted (``rows_per_call`` rows each, the remainder last); the replies are taken in
        the order the calls were added, and a source still short once its calls are all taken (rejected rows)
        gets another round, added behind the calls already planned. A group whose sources are all done is
        checked and scored there and then, and its refinement request joins the stream while the other groups'
        calls are still in flight. Everything is decided in that fixed order, so the rows are the same at any
        concurrency. An :class:`LLMError` (the endpoint failed after its retries) or cancel starts no further
        call; the replies of the calls in flight are kept, and every group is checked with the rows it has. A
        :class:`GenerationError` (no row can be asked for a rule) ends that source.
        """
        from ..llm import generate_rows, propose_rules
        from ..llm.parallel import CallStream

        st = self._state
        ds = self.dataset_
        iterations = int(self.iterations)
        n_groups = len(self.groups_)
        total = n_groups * iterations
        base = (it - 1) * n_groups
        first_gi, first = active[0]
        others = f" (and {len(active) - 1} other rule group(s) at once)" if len(active) > 1 else ""
        label = f"date: rule {first.leader.id} iteration {it}/{iterations}{others}"
        if st.progress:
            st.progress(base + first_gi, total, label)
        asks = self._plan_asks(active, it)
        mine = {gi: [a for a in asks if a.gi == gi] for gi, _ in active}
        wanted = sum(a.k for a in asks)
        rpc = int(self.rows_per_call)
        refine = bool(self.refine) and it < iterations
        current = list(self.rules_) + list(
            st.proposals
        )  # what every refinement request of this iteration shows
        taken = {r.conjunctions for r in current}
        stream = CallStream(
            st.client, cancel=st.cancel, catch=(LLMError, GenerationError), stop_on=(LLMError,)
        )
        parts: dict[int, list] = {gi: [] for gi, _ in active}
        finished: list[int] = []
        refined: dict[int, list] = {}
        answered = [0]
        held = [False]  # a call was not made because the stream had stopped (cancel or an LLM failure)

        def cancel_fn():
            return is_cancelled(st.cancel)

        def row_call(job):
            _, a, sample, want = job
            return generate_rows(
                st.client,
                schema=ds.schema,
                target=ds.target,
                rule=a.src,
                examples=a.examples,
                n=want,
                real_rows=self.train_,
                rows_per_call=min(rpc, want),
                n_examples=int(self.n_examples),
                max_calls=1,
                start_sample=sample,
                tag=a.src.id,
                cancel=cancel_fn,
                shape="dgr" if self._paper else "rows",
                blocks=a.blocks,
                stratify=self._paper,
                tolerance=f"{a.group.rho:.4g}",
                real_keys=self._real_keys,
            )

        def refine_call(job):  # a failed refinement is reported and the run goes on: no stop for the stream
            try:
                return propose_rules(st.client, **job[3])
            except LLMError as exc:
                return exc

        def plan(a: _Ask) -> int:
            """Add the next round of ``a``'s calls; how many."""
            want = a.k - a.got
            if a.error is not None or want <= 0 or a.planned >= a.budget:
                return 0
            if stream.halted:
                held[0] = True
                return 0
            count = min(math.ceil(want / rpc), a.budget - a.planned)
            for j in range(count):
                stream.add(row_call, ("rows", a, a.sample, want - j * rpc))
                a.sample += 1
                a.planned += 1
            a.outstanding = count
            return count

        def finish(gi: int, group: _Group) -> None:
            """All of the group's rows are in: lines 7-16, then its refinement request (line 17)."""
            finished.append(gi)
            pool: list[pd.DataFrame] = []
            for a in mine[gi]:
                parts[gi].extend(a.rejected)
                pool.extend(a.accepted)
            feedback = self._evaluate(group, pool, it)
            parts[gi].extend(feedback["frames"])
            group.feedback = feedback
            if any(
                isinstance(a.error, LLMError) or (a.error is not None and a.src is group.leader)
                for a in mine[gi]
            ):
                group.active = False
            elif self._paper and not stream.halted:
                self._early_stop(group, it, feedback)
            if st.progress:
                st.progress(
                    min(base + len(finished), total),
                    total,
                    f"date: rule {group.leader.id} iteration {it}/{iterations}: rows checked",
                )
            if refine and group.active and st.fatal is None:
                if stream.halted:
                    held[0] = True
                else:
                    stream.add(
                        refine_call, ("refine", gi, group, self._refine_request(group, gi, it, current))
                    )

        def handle(out) -> None:
            if out.job[0] == "refine":
                refined[out.job[1]] = self._take_refinement(out, it, taken)
                return
            a = out.job[1]
            self._take(out, it)
            answered[0] += 1
            if st.progress:
                got = sum(x.got for x in asks)
                st.progress(
                    min(base + len(finished), total),
                    total,
                    f"{label}: {answered[0]} call(s) answered, {got} of {wanted} rows",
                )
            a.outstanding -= 1
            if a.outstanding == 0 and not plan(a):
                a.done = True
                if all(x.done for x in mine[a.gi]):
                    finish(a.gi, a.group)

        for a in asks:
            if not plan(a):
                a.done = True
        for gi, group in active:
            if all(a.done for a in mine[gi]):
                finish(gi, group)
        stream.run(handle)
        if st.fatal is None and (stream.cancelled or held[0]):
            st.cancelled = True
        for a in asks:  # what went wrong, in the planned order
            self._samples[a.src.id] = a.sample
            if isinstance(a.error, LLMError):
                st.messages.append(f"rule {a.src.id}: the LLM failed: {a.error}")
                a.tally.failed = True
                # an endpoint that failed one call after its retries (down, hung, out of time, answering
                # something that is not the API) fails the next: no further call, the rows are kept
                st.fatal = st.fatal or a.error
            elif a.error is not None:
                st.messages.append(f"rule {a.src.id}: no rows could be asked for: {a.error}")
        for (
            gi,
            group,
        ) in active:  # stopped or cancelled: the groups still waiting are checked with what they have
            if gi in finished:
                continue
            if st.fatal is not None and not any(a.ran or a.error for a in mine[gi]):
                st.messages.append(
                    f"stopped before rule {group.leader.id}: the LLM failed; the rows made so far are kept."
                )
            finish(gi, group)
        for gi, _ in active:  # the rows in group order, whichever group finished first
            st.parts.extend(parts[gi])
        return [(group, refined[gi]) for gi, group in active if gi in refined]

    def _plan_asks(self, active: list, it: int) -> list:
        """One :class:`_Ask` per source rule of every active group with rows to ask for in iteration ``it``."""
        st = self._state
        asks: list[_Ask] = []
        for gi, group in active:
            lead = group.leader
            srcs, group.next_sources = group.next_sources or [lead], [lead]
            quota = group.quotas[it - 1] if it - 1 < len(group.quotas) else 0
            for src, k in zip(srcs, allocate(quota, [1] * len(srcs))):
                if k <= 0:
                    continue
                tally = st.tallies.get(src.id)
                if tally is None:
                    tally = st.tallies[src.id] = _Tally(
                        src, lead.id, "refined", note=f"refined from {lead.id}"
                    )
                tally.rule = src
                tally.requested += k
                examples, blocks = self._prompt_parts(group, src)
                if len(examples) == 0:
                    examples = self.train_
                budget = (
                    int(self.max_calls)
                    if self.max_calls is not None
                    else 3 * math.ceil(k / int(self.rows_per_call)) + 2
                )
                asks.append(
                    _Ask(
                        group=group,
                        gi=gi,
                        src=src,
                        k=k,
                        tally=tally,
                        examples=examples,
                        blocks=blocks,
                        budget=budget,
                        sample=self._samples.get(src.id, self._seed() * _SAMPLE_STRIDE),
                    )
                )
        return asks

    def _refit_error(self, group: _Group, extra: list) -> float:
        """Validation error of ``m``'s tree refitted on ``T_m`` (plus added-back examples) plus ``extra`` rows."""
        ds = self.dataset_
        frames = [group.train[self.columns_]] + [f[self.columns_] for f in group.added + list(extra)]
        both = concat_rows(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        try:
            return float(self._fit_model(both).error(group.val, group.val[ds.target].to_numpy()))
        except DataError:  # pragma: no cover - a refit on rows with no usable column
            return float("nan")

    def _early_stop(self, group: _Group, it: int, feedback: dict) -> None:
        """Paper preset: stop the group once its validation score no longer improves (Alg. 2, "until the
        validation score no longer improves or reaches I rounds")."""
        st = self._state
        if not len(group.val):
            return
        new_rows = feedback.get("kept_rows", [])
        score = self._refit_error(group, group.kept) if new_rows else group.best
        improved = (
            bool(new_rows) and math.isfinite(score) and (not math.isfinite(group.best) or score < group.best)
        )
        self.history_.append(
            {
                "group": group.leader.id,
                "iteration": it,
                "kind": "score",
                "score": float(score),
                "best": float(group.best),
                "improved": improved,
            }
        )
        if improved:
            group.best = score
            return
        group.active = False
        if it < int(self.iterations):
            st.messages.append(
                f"rule {group.leader.id}: stopped after iteration {it}: its validation score no "
                "longer improved (DATE stops there, Alg. 2)."
            )

    # ------------------------------------------------------------------ one source rule, one iteration

    def _prompt_parts(self, group: _Group, src: Rule):
        """(exemplar rows, rule-data blocks) for rows of ``src``."""
        if not self._paper:
            examples = group.train
            if src is not group.leader and src not in group.rules:
                own = self.train_[src.mask(self.train_)]
                if len(own):
                    examples = own.reset_index(drop=True)
            return examples, ()
        # the paper's DGR-based prompt: every other example of E_m as a block, the rule written for last
        blocks = []
        for r in group.rules:
            if r is src:
                continue
            rows = self.train_[r.mask(self.train_)]
            if len(rows):
                blocks.append((r.text, rows))
        blocks += list(group.examples)
        own = self.train_[src.mask(self.train_)]
        examples = own.reset_index(drop=True) if len(own) else group.train
        return examples, tuple(blocks)

    # ------------------------------------------------------------------ the row calls of an iteration

    def _take(self, out, iteration: int) -> None:
        """One row reply of :meth:`_iterate`: its rejected rows, its accepted rows (less duplicates of earlier
        ones)."""
        a = out.job[1]
        if out.error is not None:
            if a.error is None:
                a.error = out.error
            if isinstance(out.error, LLMError):
                self._state.fatal = self._state.fatal or out.error
            return
        batch = out.value
        if batch.cancelled and not batch.call_ids:  # cancel seen before the call: nothing was asked
            self._state.cancelled = True
            return
        a.ran += 1
        a.tally.calls += 1
        src, tally = a.src, a.tally
        call_id = batch.call_ids[0] if batch.call_ids else ""
        if batch.rejected:
            items = [(raw, reason, call_id) for raw, reason in batch.rejected]
            a.rejected.append(self._rejected_frame(items, src, iteration))
            tally.reasons.update(reason for _, reason in batch.rejected)
        rows = batch.rows.reset_index(drop=True)
        row_ids = list(batch.row_call_ids[: len(rows)]) or [call_id] * len(rows)
        room = max(a.k - a.got, 0)
        if len(rows) > room:  # a reply with more rows than its call asked for: the source's k at most
            rows, row_ids = rows.iloc[:room].reset_index(drop=True), row_ids[:room]
        if not len(rows):
            return
        rows = rows[[c for c in self.columns_ if c in rows.columns]].copy()
        rows["_call_id"] = row_ids
        keys = [
            tuple("" if pd.isna(v) else str(v) for v in vals)
            for vals in rows[self.columns_].itertuples(index=False, name=None)
        ]
        dup = np.array([key in self._seen for key in keys], dtype=bool)
        seen_now = set()
        for i, key in enumerate(keys):  # a repeat inside one call is caught by the LLM layer already
            if not dup[i]:
                seen_now.add(key)
        self._seen |= seen_now
        if dup.any():
            raw = [",".join(key) for key, d in zip(keys, dup) if d]
            cids = rows.loc[dup, "_call_id"].tolist()
            a.rejected.append(
                self._rejected_frame([(r, "duplicate", c) for r, c in zip(raw, cids)], src, iteration)
            )
            tally.reasons["duplicate"] += int(dup.sum())
        rows = rows[~dup].reset_index(drop=True)
        rows["_rule_id"] = src.id
        a.accepted.append(rows)
        a.got += len(rows)

    def _rejected_frame(self, items, src: Rule, iteration: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "_rule_id": src.id,
                "_iteration": iteration,
                "_call_id": [c for _, _, c in items],
                "_status": "rejected",
                "_reason": [r for _, r, _ in items],
                "_raw": [str(raw) for raw, _, _ in items],
                "_path": "",
                "_group_error": np.nan,
                "_delta": np.nan,
                "_quality": np.nan,
            }
        )

    # ------------------------------------------------------------------ Alg. 2 lines 7-16

    def _evaluate(self, group: _Group, pool: list, iteration: int) -> dict:
        """Group the iteration's accepted rows by tree path; error test, then the validation gain."""
        ds = self.dataset_
        tallies = self._state.tallies
        out = {"frames": [], "scores": {}, "paths": [], "kept_rows": []}
        if not pool:
            return out
        rows = concat_rows(pool, ignore_index=True)
        model = group.model
        leaves = model.leaf_ids(rows[ds.features])
        rows["_iteration"] = iteration
        rows["_raw"] = ""
        rows["_status"] = "accepted"
        rows["_reason"] = ""
        rows["_path"] = ""
        rows["_group_error"] = np.nan
        rows["_delta"] = np.nan
        rows["_quality"] = np.nan
        rows["_leaf"] = leaves
        base_error = group.val_error
        for leaf in sorted(set(leaves.tolist())):
            hit = leaves == leaf
            h = rows[hit]
            path = model.path(leaf).to_text() if leaf >= 0 else "(no tree path)"
            losses = model.row_loss(h[ds.features], h[ds.target].to_numpy())
            err = float(np.mean(losses))
            # line 10: the paper asks every row to be within rho_m; the product asks it of the group's mean
            kept = bool(np.all(losses <= group.rho + 1e-12)) if self._paper else err <= group.rho
            delta = float("nan")
            if kept and len(group.val):
                delta = base_error - self._refit_error(group, [h])
            quality = group.rho - delta if math.isfinite(delta) else float("nan")
            gain = kept and math.isfinite(delta) and delta > 0
            rows.loc[hit, "_path"] = path
            rows.loc[hit, "_group_error"] = err
            if kept:
                rows.loc[hit, "_delta"] = delta
                rows.loc[hit, "_quality"] = quality
            if not kept:
                rows.loc[hit, "_status"] = "rejected"
                rows.loc[hit, "_reason"] = GROUP_ERROR_REASON
            elif self._paper and not gain:  # lines 15-16: only Delta > 0 enters T^G_m
                rows.loc[hit, "_status"] = "rejected"
                rows.loc[hit, "_reason"] = DELTA_REASON
            if kept and self._paper and leaf >= 0:  # lines 13-14: e'_k joins E_m (rows and rule)
                group.examples.append((path, h[self.columns_].reset_index(drop=True)))
                group.added.append(h[self.columns_].reset_index(drop=True))
            if gain:
                group.kept.append(h[self.columns_].reset_index(drop=True))
                out["kept_rows"].append(int(hit.sum()))
            for rid, count in h["_rule_id"].value_counts().items():
                t = tallies[rid]
                if not kept:
                    t.reasons[GROUP_ERROR_REASON] += int(count)
                elif self._paper and not gain:
                    t.reasons[DELTA_REASON] += int(count)
                else:
                    t.accepted += int(count)
                    t.positive += int(count) if gain else 0
            entry = {
                "group": group.leader.id,
                "iteration": iteration,
                "kind": "path",
                "path": path,
                "rows": int(hit.sum()),
                "error": err,
                "rho": float(group.rho),
                "kept": kept,
                "delta": float(delta),
                "quality": float(quality),
            }
            self.history_.append(entry)
            shown = round(float(delta), 4) if kept and math.isfinite(delta) else "n/a"
            score = {
                "rows": int(hit.sum()),
                "error": round(err, 4),
                "delta": shown,
                "kept": "yes" if kept else "no (error above rho)",
            }
            if self._paper:
                score["quality (rho - Delta)"] = round(quality, 4) if math.isfinite(quality) else "n/a"
                if kept and not gain:
                    score["kept"] = "no (Delta <= 0)"
            out["scores"][path] = score
            if leaf >= 0:
                out["paths"].append(model.path(leaf))
        if self._paper:  # one arm per example e'_k (Alg. 3): the source rule, the iteration and the path
            rows["_arm"] = (
                rows["_rule_id"].astype(str)
                + ":"
                + str(iteration)
                + ":p"
                + rows["_leaf"].astype(int).astype(str)
            )
        if self._paper and group.added:  # the next iteration's T_m holds the added-back examples (line 5)
            group.val_error = self._refit_error(group, [])
        out["frames"].append(rows.drop(columns=["_leaf"]))
        return out

    # ------------------------------------------------------------------ Alg. 2 line 17

    def _refine_request(self, group: _Group, gi: int, iteration: int, current: list) -> dict:
        """The arguments of :func:`~synth_core.llm.propose_rules` for the group's refinement (the paths,
        errors and gains of its iteration; ``current``: the rules known before this iteration's refinements)."""
        ds = self.dataset_
        lead = group.leader
        feedback = getattr(group, "feedback", {"scores": {}, "paths": []})
        scores = {
            lead.id: {
                "rule error": round(float(lead.error), 4) if lead.error is not None else "n/a",
                "rho": round(group.rho, 4),
                "validation error of its model": round(group.val_error, 4),
            }
        }
        scores.update(feedback["scores"])
        known = [p.to_text() for p in feedback["paths"]]
        paths = list(feedback["paths"]) + [p for p in group.model.paths if p.to_text() not in known]
        return dict(
            schema=ds.schema,
            target=ds.target,
            task=ds.task,
            current_rules=current,
            paths=paths[:20],
            feedback=scores,
            n=self._n_refinements(),
            tag=f"{lead.id}:refine",
            sample=self._seed() * _SAMPLE_STRIDE + gi * 100 + iteration,
        )

    def _take_refinement(self, out, iteration: int, taken: set) -> list:
        """A refinement reply: its valid rules become proposals (status 'proposed') with ids '<leader>.rK'.

        Replies are taken in the order the requests were made; a rule equal to an approved rule or to an
        earlier proposal (another group's of this iteration included, ``taken``) is refused as a duplicate.
        """
        from ..rules import format_rule

        st = self._state
        ds = self.dataset_
        group = out.job[2]
        lead = group.leader
        error = (
            out.error if out.error is not None else out.value if isinstance(out.value, Exception) else None
        )
        if error is not None:
            st.messages.append(f"rule {lead.id}: refinement at iteration {iteration} failed: {error}")
            self.history_.append(
                {"group": lead.id, "iteration": iteration, "kind": "refine", "error_text": str(error)}
            )
            return []
        proposals = out.value
        new = []
        for rule in proposals.valid:
            if rule.conjunctions in taken:  # another group proposed it first in this refinement
                proposals.invalid.append((format_rule(rule), "same as a current or an earlier proposed rule"))
                continue
            taken.add(rule.conjunctions)
            k = len(group.refined) + 1
            rows = self.train_[rule.mask(self.train_)]
            err = None
            if len(rows):
                err = float(group.model.error(rows[ds.features], rows[ds.target].to_numpy()))
            refined = rule.with_(
                id=f"{lead.id}.r{k}",
                origin="refined",
                status="proposed",
                model_id=lead.model_id,
                support=int(len(rows)),
                error=err,
                ind=None,
                note=(
                    f"refined from {lead.id} at iteration {iteration}"
                    + (f"; {rule.note}" if rule.note else "")
                ),
            )
            group.refined.append(refined)
            st.proposals.append(refined)
            new.append(refined)
        self.history_.append(
            {
                "group": lead.id,
                "iteration": iteration,
                "kind": "refine",
                "proposed": [r.id for r in new],
                "invalid": [t for t, _ in proposals.invalid],
            }
        )
        if not new:
            why = "; ".join(f"{text!r}: {err}" for text, err in proposals.invalid[:2]) or "empty answer"
            st.messages.append(
                f"rule {lead.id}: the LLM proposed no valid refined rule at iteration "
                f"{iteration} ({why}); the next iteration uses {lead.id} alone."
            )
        return new

    # ------------------------------------------------------------------ output

    def _assemble(self, parts: list) -> pd.DataFrame:
        cols = self.columns_ + PROVENANCE + EXTRA_COLUMNS
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=cols)
        rows = concat_rows(parts, ignore_index=True)
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
        arms = rows["_arm"] if "_arm" in rows else pd.Series(np.nan, index=rows.index)
        default_arm = out["_rule_id"] + ":" + out["_iteration"].astype(str)
        out["_arm"] = arms.where(arms.notna(), default_arm.to_numpy()).astype(str).to_numpy()
        out["_call_id"] = rows["_call_id"].fillna("").astype(str).to_numpy()
        out["_status"] = rows["_status"].astype(str).to_numpy()
        out["_reason"] = rows["_reason"].fillna("").astype(str).to_numpy()
        out["_raw"] = rows["_raw"].fillna("").astype(str).to_numpy()
        out["_path"] = rows["_path"].fillna("").astype(str).to_numpy()
        for c in ("_group_error", "_delta", "_quality"):
            out[c] = pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float)
        # the rule checks of the LLM layer ran on parsed values: check the final, typed row once more
        tallies = self._state.tallies
        lost = recheck_typed(out, {rid: t.rule for rid, t in tallies.items()})
        for rid, k in lost.items():
            tallies[rid].accepted -= k
            tallies[rid].reasons[TYPED_RULE_REASON] += k
        return out[cols].reset_index(drop=True)

    def _usage(self, client, n_records: int, tallies: dict) -> tuple[dict, pd.DataFrame]:
        """This run's LLM usage (calls made since ``generate`` started), overall and per tag."""
        from ..llm.usage import Usage

        usage = Usage()
        # only this generator's calls: others (the folds of a cross-fitted run) may share the client meanwhile
        own = set(tallies) | {f"{g.leader.id}:refine" for g in self.groups_}
        for rec in client.usage.records[n_records:]:
            if rec.tag in own:
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
            records.append(
                {
                    "rule_id": rid,
                    "rule": t.rule.text,
                    "group": t.group,
                    "role": t.role,
                    "status": t.rule.status,
                    "origin": t.rule.origin,
                    "requested": t.requested,
                    "accepted": t.accepted,
                    "rejected": int(sum(t.reasons.values())),
                    "rejected_by_reason": ", ".join(f"{r} {c}" for r, c in t.reasons.most_common()),
                    "positive_gain_rows": t.positive,
                    "calls": tag_value(rid, "calls"),
                    "cache_hits": tag_value(rid, "cache_hits"),
                    "errors": tag_value(rid, "errors"),
                    "prompt_tokens": tag_value(rid, "prompt_tokens"),
                    "completion_tokens": tag_value(rid, "completion_tokens"),
                    "tokens": tag_value(rid, "total_tokens"),
                    "refine_calls": tag_value(refine_tag, "calls"),
                    "refine_tokens": tag_value(refine_tag, "total_tokens"),
                    "note": t.note,
                }
            )
        columns = [
            "rule_id",
            "rule",
            "group",
            "role",
            "status",
            "origin",
            "requested",
            "accepted",
            "rejected",
            "rejected_by_reason",
            "positive_gain_rows",
            "calls",
            "cache_hits",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "tokens",
            "refine_calls",
            "refine_tokens",
            "note",
        ]
        return pd.DataFrame(records, columns=columns)
