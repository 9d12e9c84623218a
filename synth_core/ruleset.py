"""Operations on a rule set: the list of rules a person reviews (no UI here).

Every function takes a list of :class:`~synth_core.rules.Rule` and returns a new
one; nothing is changed in place. The Rules page, the Generate page and the
command line share them, so a rule set behaves the same wherever it is edited:

* ids are unique within a set; :func:`next_id` gives ``prefix1``, ``prefix2``, ...
  (discovered rules ``r``, rules a person typed ``u``, LLM proposals ``l``,
  run proposals ``g``, imported rules ``i``);
* a person's decision stands: :func:`approve_all` and :func:`reject_all` change
  only rules still ``proposed``, and :func:`merge_discovered` keeps the status
  of every rule it finds again and every approved rule it does not;
* one text, one rule: :func:`add_rules` and :func:`merge_discovered` skip a rule
  whose canonical text is already in the set.

Examples
--------
>>> from synth_core.rules import parse_rule
>>> rules = [parse_rule("a > 1", id="r1", status="rejected"), parse_rule("a <= 1", id="r2")]
>>> [(r.id, r.status) for r in approve_all(rules)]
[('r1', 'rejected'), ('r2', 'approved')]
>>> added = add_rules(rules, [parse_rule("b == 2"), parse_rule("a > 1")], prefix="u")
>>> [r.id for r in added.rules], [r.text for r in added.skipped]
(['r1', 'r2', 'u1'], ['a > 1'])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .rules import Conjunction, Predicate, Rule, rules_from_json, validate_rules

__all__ = [
    "RuleSetChange",
    "next_id",
    "unique_ids",
    "add_rules",
    "merge_discovered",
    "import_rules",
    "approve_all",
    "reject_all",
    "drop_rejected",
    "status_counts",
    "example_rule_text",
]


@dataclass(frozen=True)
class RuleSetChange:
    """A new rule set and what changed to make it.

    Attributes
    ----------
    rules : list of Rule
        The whole new rule set, in order.
    added : list of Rule
        Rules that were not in the set before (as they are in ``rules``).
    skipped : list of Rule
        Rules given but left out because their text was already in the set.
    kept : list of Rule
        :func:`merge_discovered` only: approved discovered rules that discovery
        did not find again, kept as they were.
    """

    rules: list = field(default_factory=list)
    added: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    kept: list = field(default_factory=list)


def next_id(prefix: str, taken: Iterable[str]) -> str:
    """``prefix1``, ``prefix2``, ...: the first that is not in ``taken``.

    Examples
    --------
    >>> next_id("u", {"u1", "u2", "r1"})
    'u3'
    """
    taken = set(taken)
    i = 1
    while f"{prefix}{i}" in taken:
        i += 1
    return f"{prefix}{i}"


def unique_ids(rules: Iterable[Rule], *, prefix: str, taken: Iterable[str] = ()) -> list[Rule]:
    """The rules with unique ids: the first keeps an id, an empty or repeated one gets ``next_id(prefix)``.

    ``taken`` holds ids already used elsewhere (another part of the set).

    Examples
    --------
    >>> from synth_core.rules import parse_rule
    >>> [r.id for r in unique_ids([parse_rule("a > 1", id="x"), parse_rule("a > 2", id="x"),
    ...                            parse_rule("a > 3")], prefix="i")]
    ['x', 'i1', 'i2']
    """
    used = set(taken)
    out = []
    for rule in rules:
        rid = rule.id if rule.id and rule.id not in used else next_id(prefix, used)
        used.add(rid)
        out.append(rule if rid == rule.id else rule.with_(id=rid))
    return out


def _with_support(rule: Rule, train: pd.DataFrame | None) -> Rule:
    return rule if train is None else rule.with_(support=rule.count(train))


def add_rules(
    current: Iterable[Rule],
    new: Iterable[Rule],
    *,
    prefix: str,
    status: str | None = "proposed",
    origin: str | None = None,
    train: pd.DataFrame | None = None,
) -> RuleSetChange:
    """Append rules to a set, skipping any whose text is already there (or earlier in ``new``).

    Parameters
    ----------
    current : iterable of Rule
        The rule set; its rules are kept unchanged and first.
    new : iterable of Rule
        Rules to add. Each gets a new id ``next_id(prefix)``.
    prefix : str
        Id prefix of the added rules.
    status : str or None, default='proposed'
        Status of the added rules (None keeps each rule's own).
    origin : str or None
        Origin of the added rules (None keeps each rule's own).
    train : DataFrame, optional
        When given, ``support`` of each added rule is its row count on ``train``.

    Returns
    -------
    RuleSetChange
        ``rules``, ``added`` and ``skipped``.
    """
    current = list(current)
    texts = {r.text for r in current}
    taken = {r.id for r in current}
    added, skipped = [], []
    for rule in new:
        if rule.text in texts:
            skipped.append(rule)
            continue
        rid = next_id(prefix, taken)
        taken.add(rid)
        texts.add(rule.text)
        changes = {"id": rid}
        if status is not None:
            changes["status"] = status
        if origin is not None:
            changes["origin"] = origin
        added.append(_with_support(rule.with_(**changes), train))
    return RuleSetChange(rules=current + added, added=added, skipped=skipped)


def merge_discovered(current: Iterable[Rule], found: Iterable[Rule], *, prefix: str = "r") -> RuleSetChange:
    """The rule set after a new discovery: what a person decided stays, discovery's proposals are replaced.

    * Rules that did not come from discovery (typed by a person, proposed by
      an LLM or a run) stay as they are.
    * Discovered rules found again keep their status and their id; discovered
      rules not found again are dropped, except approved ones, which stay
      (``kept``).
    * Found rules come after the kept ones, in discovery's order, with
      ``origin='discovered'`` and status ``proposed`` unless found again. A
      rule found again keeps its old id; another keeps discovery's id when it
      is free, else gets ``next_id(prefix)``. A found rule whose text is
      already among the kept rules is skipped (``skipped``).

    Examples
    --------
    >>> from synth_core.rules import parse_rule
    >>> current = [parse_rule("a > 1", id="R1", origin="discovered", status="rejected"),
    ...            parse_rule("a <= 1", id="R2", origin="discovered", status="approved"),
    ...            parse_rule("b == 2", id="u1", origin="person")]
    >>> found = [parse_rule("a > 5", id="R1"), parse_rule("a > 1", id="R2")]
    >>> change = merge_discovered(current, found)
    >>> for r in change.rules:
    ...     print(r.id, r.text, r.status)
    R2 a <= 1 approved
    u1 b == 2 proposed
    r1 a > 5 proposed
    R1 a > 1 rejected
    >>> [r.id for r in change.kept]
    ['R2']
    """
    current, found = list(current), list(found)
    found_texts = {r.text for r in found}
    before = {r.text: r for r in current if r.origin == "discovered"}
    kept = [
        r
        for r in current
        if r.origin != "discovered" or (r.status == "approved" and r.text not in found_texts)
    ]
    kept_discovered = [r for r in kept if r.origin == "discovered"]
    texts = {r.text for r in kept}
    taken = {r.id for r in kept}
    # a rule found again keeps its old id, so reserve those before any new rule takes one
    reserved = {before[t].id for t in found_texts - texts if t in before and before[t].id} - taken
    added, skipped = [], []
    for rule in found:
        if rule.text in texts:
            skipped.append(rule)
            continue
        old = before.get(rule.text)
        if old is not None and old.id in reserved:
            rid = old.id
        elif rule.id and rule.id not in taken and rule.id not in reserved:
            rid = rule.id
        else:
            rid = next_id(prefix, taken | reserved)
        taken.add(rid)
        texts.add(rule.text)
        added.append(rule.with_(id=rid, status=old.status if old else "proposed", origin="discovered"))
    return RuleSetChange(rules=kept + added, added=added, skipped=skipped, kept=kept_discovered)


def import_rules(
    document: str | bytes, schema, *, train: pd.DataFrame | None = None, prefix: str = "i"
) -> list[Rule]:
    """Read a rules JSON document and check every rule against ``schema``; the set it holds, ids made unique.

    Parameters
    ----------
    document : str or bytes
        What :func:`~synth_core.rules.rules_to_json` wrote (or a list of rule texts).
    schema : Schema
        The table the rules are for.
    train : DataFrame, optional
        When given, each rule's ``support`` is its row count on ``train``.
    prefix : str, default='i'
        Id prefix for rules with no id or a repeated one.

    Raises
    ------
    RuleValidationError
        Listing every problem of every rule (the file is refused as a whole).
    """
    rules = validate_rules(rules_from_json(document), schema)
    return [_with_support(r, train) for r in unique_ids(rules, prefix=prefix)]


def _decide_proposed(rules: Iterable[Rule], status: str) -> list[Rule]:
    return [r.with_(status=status) if r.status == "proposed" else r for r in rules]


def approve_all(rules: Iterable[Rule]) -> list[Rule]:
    """Approve every ``proposed`` rule; a rejected rule stays rejected (a person's decision stands)."""
    return _decide_proposed(rules, "approved")


def reject_all(rules: Iterable[Rule]) -> list[Rule]:
    """Reject every ``proposed`` rule; an approved rule stays approved (a person's decision stands)."""
    return _decide_proposed(rules, "rejected")


def drop_rejected(rules: Iterable[Rule]) -> list[Rule]:
    """The rules that are not rejected."""
    return [r for r in rules if r.status != "rejected"]


def status_counts(rules: Iterable[Rule]) -> dict[str, int]:
    """How many rules are ``proposed``, ``approved`` and ``rejected`` (every key present).

    Examples
    --------
    >>> from synth_core.rules import parse_rule
    >>> status_counts([parse_rule("a > 1", status="approved")])
    {'proposed': 0, 'approved': 1, 'rejected': 0}
    """
    counts = {"proposed": 0, "approved": 0, "rejected": 0}
    for r in rules:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def example_rule_text(schema, frame: pd.DataFrame) -> str:
    """A rule in the table's own columns, to show a person what a rule looks like.

    A numeric feature compared with a round number near its median, AND a
    categorical feature equal to its most common value (or, with no such
    column, a second numeric feature below its median). The text parses and
    fits ``schema``; with no usable feature it is a template with placeholders.

    Parameters
    ----------
    schema : Schema
    frame : DataFrame
        Rows of the table (the medians and common values are taken from them).

    Examples
    --------
    >>> from synth_core.data import infer_schema
    >>> df = pd.DataFrame({"age": [20, 35, 41, 60], "job": ["a", "b", "b", "c"], "y": [0, 1, 0, 1]})
    >>> example_rule_text(infer_schema(df, target="y"), df)
    "age >= 38 AND job == 'b'"
    """
    features = [c for c in schema.columns if c.role == "feature" and c.name in frame.columns]
    numeric = [c for c in features if c.is_numeric and frame[c.name].notna().any()]
    categorical = [c for c in features if c.kind == "categorical" and frame[c.name].notna().any()]
    parts: list[Predicate] = []
    if numeric:
        parts.append(Predicate(numeric[0].name, ">=", _round_near(frame[numeric[0].name], numeric[0])))
    if categorical:
        spec = categorical[0]
        known = {str(c) for c in spec.categories}
        common = [v for v in frame[spec.name].dropna().value_counts().index if not known or str(v) in known]
        if common:
            value = common[0]
            parts.append(Predicate(spec.name, "==", value.item() if hasattr(value, "item") else value))
    if len(parts) < 2 and len(numeric) > 1:
        parts.append(Predicate(numeric[1].name, "<", _round_near(frame[numeric[1].name], numeric[1])))
    if not parts:
        return "column >= value AND other in {'a', 'b'}"
    return Rule(conjunctions=(Conjunction(tuple(parts)),)).text


def _round_near(values: pd.Series, spec) -> float | int:
    """A round number near the median of ``values`` (two significant digits; an int for integer columns)."""
    median = float(pd.to_numeric(values, errors="coerce").median())
    if median == 0 or not math.isfinite(median):
        return 0
    digits = 1 - int(math.floor(math.log10(abs(median))))
    rounded = round(median, digits)
    if spec.kind == "integer" or float(rounded).is_integer():
        return int(round(rounded))
    return float(rounded)
