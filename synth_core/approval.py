"""A person approves the rules a generator proposes while it runs, before they write a row.

DATE asks the LLM for refined rules between its iterations (Alg. 2 line 17). A refined rule is a
*proposal*: it writes rows only once approved. A run asks one **gate** per iteration, for the whole run
(every fold's proposals together under the cross-fitted protocol), and the approved rules write rows
from the next iteration on. Pass the gate to :func:`synth_core.pipeline.run_pipeline` as
``refinements=``:

``"propose"`` (the default)
    Nothing is approved: no proposal writes a row; they come back in ``Run.rules`` with status
    ``'proposed'`` for a person to read, edit and approve on the Rules page before another run.
``"auto"``
    Every proposal is approved as it comes (the "approve refinements automatically" switch,
    ``--auto-approve-refinements`` on the command line); the run records them as approved automatically.
a gate object or a callable
    ``gate.decide(request)`` (or ``gate(request)``) gets a :class:`RefinementRequest` and returns
    :class:`Decision` objects, one per proposal it decides; a proposal it leaves out is not approved.
    :class:`WaitingGate` is one for a user interface: its ``decide`` waits, in the run's thread, until
    another thread calls :meth:`WaitingGate.answer` (or the run is cancelled).

The run records every proposal and what became of it in ``Run.params["refinements"]``:
``{"policy": ..., "decisions": [{"rule_id", "rule", "proposed", "source", "fold", "iteration",
"decision", "by"}, ...]}`` where ``decision`` is one of :data:`OUTCOMES`.

Examples
--------
A gate that approves refinements of rule ``R1`` only, and edits nothing:

>>> class OnlyR1:
...     by = "person"
...     def decide(self, request):
...         return [Decision(r.id, "approve") for r in request.proposals if request.sources[r.id] == "R1"]
>>> from synth_core.rules import parse_rule
>>> req = RefinementRequest(iteration=1, iterations=3,
...                         proposals=(parse_rule("x > 7", id="R1.r1", status="proposed", origin="refined"),
...                                    parse_rule("x < 2", id="R2.r1", status="proposed", origin="refined")),
...                         sources={"R1.r1": "R1", "R2.r1": "R2"})
>>> approved, record = settle(req, resolve_gate(OnlyR1()).decide(req), gate=OnlyR1())
>>> sorted(approved), [(r["rule_id"], r["decision"]) for r in record]
(['R1.r1'], [('R1.r1', 'approved by a person'), ('R2.r1', 'not approved')])
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InvalidParameterError, RuleSyntaxError, RuleValidationError
from .rules import Rule, parse_rule, validate_rule

__all__ = [
    "Decision",
    "RefinementRequest",
    "WaitingGate",
    "ProposeOnly",
    "AutoApprove",
    "resolve_gate",
    "settle",
    "step_all",
    "StepResult",
    "policy_name",
    "OUTCOMES",
    "POLICIES",
]

#: What can become of a proposal, as recorded in ``Run.params["refinements"]["decisions"]``.
OUTCOMES = (
    "approved by a person",
    "edited by a person",
    "rejected by a person",
    "approved automatically",
    "not approved",
    "edit refused",
)
#: The named gates.
POLICIES = ("propose", "auto")
ACTIONS = ("approve", "edit", "reject")


@dataclass(frozen=True)
class RefinementRequest:
    """What a gate is asked: the rules proposed in one iteration of the run.

    Attributes
    ----------
    iteration : int
        The iteration (1-based) whose tree paths and scores led to these proposals; approved ones
        write rows from ``iteration + 1`` on.
    iterations : int
        ``I``, the run's number of iterations.
    proposals : tuple of Rule
        Status ``'proposed'``, origin ``'refined'``, ids ``'<rule>.r<k>'``; ``note`` says why.
    sources : dict
        Proposal id -> the id of the approved rule it refines (the rule whose rows it will join).
    folds : dict
        Proposal id -> the cross-fitting folds whose generators proposed it, as text (``'0, 3'``; ``''``
        without folds). Folds that propose the same refinement of the same rule share one proposal and
        one decision; the same id with other text from another fold gets the fold appended.
    cancelled : callable
        True once the run is cancelled: a waiting gate must return then (what it returns is ignored).
    """

    iteration: int
    iterations: int
    proposals: tuple
    sources: dict = field(default_factory=dict)
    folds: dict = field(default_factory=dict)
    cancelled: Callable[[], bool] = field(default=lambda: False, repr=False, compare=False)


@dataclass(frozen=True)
class Decision:
    """A gate's answer for one proposal.

    Attributes
    ----------
    rule_id : str
        The proposal's id.
    action : {'approve', 'edit', 'reject'}
    rule : Rule or str, optional
        For ``'edit'``: the rule as the person changed it (a Rule or rule text); it keeps the
        proposal's id and is checked against the table before it writes a row.
    by : str, optional
        Who decided (``'person'`` or ``'automatically'``); default: the gate's ``by``.
    """

    rule_id: str
    action: str
    rule: Rule | str | None = None
    by: str | None = None

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise InvalidParameterError(
                f"a decision's action must be one of {', '.join(ACTIONS)}; got {self.action!r}."
            )
        if self.action == "edit" and self.rule is None:
            raise InvalidParameterError(f"the edit of {self.rule_id} needs the edited rule (rule=...).")


class ProposeOnly:
    """The default gate: approves nothing; proposals are returned for a person to decide later."""

    by = "nobody"
    policy = "propose"

    def decide(self, request: RefinementRequest) -> list:
        return []


class AutoApprove:
    """Approves every proposal as it comes; recorded as approved automatically."""

    by = "automatically"
    policy = "auto"

    def decide(self, request: RefinementRequest) -> list:
        return [Decision(r.id, "approve") for r in request.proposals]


class WaitingGate:
    """A gate for a user interface: the run waits in ``decide`` until a person answers.

    The run's thread calls ``decide(request)``; it publishes the request (:attr:`pending`) and waits.
    The interface shows ``pending.proposals`` and calls :meth:`answer` with the person's decisions
    (or :meth:`release` to approve nothing); a cancelled run (``request.cancelled()``) or
    ``timeout`` seconds without an answer also end the wait, approving nothing.

    Parameters
    ----------
    timeout : float, optional
        Seconds to wait for an answer (default: no limit).
    poll : float
        Seconds between checks of ``request.cancelled()``.

    Examples
    --------
    >>> import threading
    >>> from synth_core.rules import parse_rule
    >>> gate = WaitingGate()
    >>> req = RefinementRequest(1, 2, (parse_rule("x > 1", id="R1.r1", status="proposed"),), {"R1.r1": "R1"})
    >>> t = threading.Thread(target=lambda: print(gate.decide(req)))
    >>> t.start()
    >>> gate.wait_for_request(5) is req
    True
    >>> gate.answer([Decision("R1.r1", "approve")]); t.join()
    [Decision(rule_id='R1.r1', action='approve', rule=None, by=None)]
    >>> gate.pending is None
    True
    """

    by = "person"
    policy = "person"

    def __init__(self, *, timeout: float | None = None, poll: float = 0.2):
        self.timeout = timeout
        self.poll = poll
        self._lock = threading.Lock()
        self._asked = threading.Condition(self._lock)
        self._answered = threading.Event()
        self._pending: RefinementRequest | None = None
        self._answer: list = []
        self.history: list = []

    @property
    def pending(self) -> RefinementRequest | None:
        """The request waiting for an answer, or ``None``."""
        with self._lock:
            return self._pending

    def wait_for_request(self, seconds: float | None = None) -> RefinementRequest | None:
        """Block until a request is pending (or ``seconds`` pass); returns it or ``None``."""
        with self._asked:
            if self._pending is None:
                self._asked.wait(seconds)
            return self._pending

    def answer(self, decisions) -> None:
        """The person's decisions for the pending request (a proposal not named is not approved)."""
        with self._lock:
            self._answer = list(decisions or [])
        self._answered.set()

    def release(self) -> None:
        """End the wait approving nothing (e.g. the person left the page)."""
        self.answer([])

    def decide(self, request: RefinementRequest) -> list:
        with self._asked:
            self._pending = request
            self._answer = []
            self._answered.clear()
            self._asked.notify_all()
        waited = 0.0
        try:
            while not self._answered.wait(self.poll):
                waited += self.poll
                if request.cancelled() or (self.timeout is not None and waited >= self.timeout):
                    return []
            with self._lock:
                out = list(self._answer)
            self.history.append((request, out))
            return out
        finally:
            with self._lock:
                self._pending = None


def resolve_gate(refinements):
    """A gate object from ``'propose'``, ``'auto'``, a gate (with ``decide``) or a callable; ``None`` = propose."""
    if refinements is None or refinements == "propose":
        return ProposeOnly()
    if refinements == "auto":
        return AutoApprove()
    if hasattr(refinements, "decide"):
        return refinements
    if callable(refinements):
        return _CallableGate(refinements)
    raise InvalidParameterError(
        f"refinements must be 'propose', 'auto', a gate with decide(request) or a "
        f"callable; got {refinements!r}."
    )


class _CallableGate:
    by = "person"
    policy = "person"

    def __init__(self, fn):
        self.fn = fn

    def decide(self, request):
        return self.fn(request)


def policy_name(gate) -> str:
    """``'propose'``, ``'auto'`` or ``'person'`` (any other gate) for the run's record."""
    return getattr(gate, "policy", "person")


def settle(request: RefinementRequest, decisions, *, gate, schema=None) -> tuple[dict, list]:
    """Turn a gate's decisions into approved rules and a record.

    Returns ``(approved, record)``: ``approved`` maps a proposal id to the rule that will write rows
    (status ``'approved'``; an edit keeps the proposal's id, origin ``'refined'`` and says so in its
    note); ``record`` has one dict per proposal (see the module docstring). An edit that does not parse
    or does not fit ``schema`` is refused (recorded as ``'edit refused'`` with the reason) and writes
    nothing; a decision for an id that was not proposed is ignored.
    """
    by_default = getattr(gate, "by", "person")
    chosen = {}
    for d in decisions or []:
        if not isinstance(d, Decision):
            raise InvalidParameterError(f"a gate must return Decision objects; got {d!r}.")
        chosen[d.rule_id] = d
    approved, record = {}, []
    for rule in request.proposals:
        d = chosen.get(rule.id)
        entry = {
            "rule_id": rule.id,
            "rule": rule.text,
            "proposed": rule.text,
            "source": request.sources.get(rule.id, ""),
            "fold": request.folds.get(rule.id, ""),
            "iteration": int(request.iteration),
            "decision": "not approved",
            "by": None,
        }
        if d is not None:
            by = d.by or by_default
            entry["by"] = by
            if d.action == "reject":
                entry["decision"] = "rejected by a person" if by == "person" else f"rejected {by}"
            elif d.action == "approve":
                entry["decision"] = (
                    "approved automatically" if by == "automatically" else "approved by a person"
                )
                approved[rule.id] = rule.with_(
                    status="approved",
                    note=_note(rule.note, f"approved {_who(by)} at iteration {request.iteration}"),
                )
            else:
                try:
                    edited = d.rule if isinstance(d.rule, Rule) else parse_rule(str(d.rule))
                    if schema is not None:
                        edited = validate_rule(edited, schema)
                except (RuleSyntaxError, RuleValidationError) as exc:
                    entry["decision"] = "edit refused"
                    entry["reason"] = str(exc).splitlines()[0][:300]
                else:
                    new = rule.with_(
                        conjunctions=edited.conjunctions,
                        status="approved",
                        note=_note(
                            rule.note,
                            f"edited {_who(by)} from {rule.text!r} at iteration {request.iteration}",
                        ),
                    )
                    entry["decision"] = "edited by a person" if by == "person" else f"edited {by}"
                    entry["rule"] = new.text
                    approved[rule.id] = new
        record.append(entry)
    return approved, record


@dataclass
class StepResult:
    """What one iteration of a steppable generator (DATE) made.

    Attributes
    ----------
    iteration : int
        The iteration just run (1-based).
    iterations : int
        ``I``.
    proposals : list of Rule
        Rules proposed after this iteration for the next one (empty when none follows).
    sources : dict
        Proposal id -> the id of the rule it refines.
    done : bool
        No iteration follows (``I`` reached, every group stopped, a cancel or an LLM failure).
    """

    iteration: int
    iterations: int
    proposals: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)
    done: bool = False


def step_all(gens, gate, *, schema=None, cancelled: Callable[[], bool] = lambda: False) -> list:
    """Run started steppable generators iteration by iteration, asking ``gate`` once per iteration for all.

    Parameters
    ----------
    gens : list of (str, generator)
        A label (the fold, ``''`` for one generator) and a generator on which ``start`` was called; it
        has ``step() -> StepResult`` and ``apply({proposal id: approved Rule})``.
    gate : gate object (see :func:`resolve_gate`)
    schema : Schema, optional
        Edited rules are checked against it.
    cancelled : callable
        True once the run is cancelled: the gate is not asked (or is released) and nothing is approved.

    Returns
    -------
    list of dict
        The record of every proposal (see :func:`settle`).
    """
    record: list = []
    live = list(gens)
    while live:
        props, sources, folds, nxt, it, total = [], {}, {}, [], 0, 0
        members: dict = {}  # proposal id shown to the gate -> [(label, the generator's own id)]
        seen: dict = {}  # (source rule, text) -> proposal id: folds proposing the same rule share one decision
        for label, gen in live:
            st = gen.step()
            it, total = max(it, st.iteration), max(total, st.iterations)
            for rule in st.proposals:
                source = st.sources.get(rule.id, "")
                shown = seen.get((source, rule.text))
                if shown is None:
                    shown = rule.id
                    while shown in members:  # the same id from another fold, with other text
                        shown = f"{shown}.{label}" if label != "" else f"{shown}'"
                    seen[(source, rule.text)] = shown
                    members[shown] = []
                    props.append(rule if shown == rule.id else rule.with_(id=shown))
                    sources[shown] = source
                members[shown].append((label, rule.id))
                folds[shown] = ", ".join(str(lab) for lab, _ in members[shown])
            if not st.done:
                nxt.append((label, gen))
        if props:
            request = RefinementRequest(
                iteration=it,
                iterations=total,
                proposals=tuple(props),
                sources=sources,
                folds=folds,
                cancelled=cancelled,
            )
            decisions = [] if cancelled() else gate.decide(request)
            if cancelled():
                decisions = []
            approved, rec = settle(request, decisions, gate=gate, schema=schema)
            record += rec
            for label, gen in live:
                gen.apply(
                    {
                        own: approved[shown].with_(id=own)
                        for shown, who in members.items()
                        if shown in approved
                        for lab, own in who
                        if lab == label
                    }
                )
        live = nxt
    return record


def _who(by: str) -> str:
    return "by a person" if by == "person" else str(by)


def _note(old: str, new: str) -> str:
    return f"{old}; {new}" if old else new
