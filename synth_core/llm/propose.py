"""Rules proposed by an LLM (DATE's LLM rule proposals and Alg. 2 line 17 refinement).

The prompt carries a schema summary, the current rules, decision-tree paths
and, for refinement, feedback per rule (error, validation gain Delta). The
reply is JSON ``{"rules": [...]}``: grammar-bound on the embedded base model
(the grammar only lets it write conjunctions over real columns, categories and
in-range thresholds), schema-bound on chat endpoints. Every rule text is
parsed with :func:`synth_core.rules.parse_rule` and checked with
:func:`synth_core.rules.validate_rule`; invalid ones come back with their
error instead of being dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable

from ..errors import LLMResponseError, RuleSyntaxError, RuleValidationError
from ..rules import Conjunction, Rule, format_rule, parse_rule, validate_rule
from . import prompts
from ._domain import generated_columns
from .grammar import rule_grammar
from .rows import describe_columns

__all__ = ["RuleProposals", "propose_rules", "RULES_SCHEMA"]

#: JSON schema of a chat reply with rules.
RULES_SCHEMA = {
    "type": "object",
    "properties": {
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"rule": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["rule", "reason"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["rules"],
    "additionalProperties": False,
}

#: What the embedded model's grammar-bound completion must match.
_COMPLETION_SCHEMA = {
    "type": "object",
    "properties": {"rules": {"type": "array", "items": {"type": "string"}}},
    "required": ["rules"],
}


@dataclass
class RuleProposals:
    """What :func:`propose_rules` got back.

    Attributes
    ----------
    valid : list of Rule
        Parsed and valid for the Schema; origin ``'llm'`` (or ``'refined'``), status ``'proposed'``.
    invalid : list of (str, str)
        Rule text and the error that rejected it (syntax, validation, or a duplicate).
    call_ids : list of str
    raw : list of str
        The raw replies.
    """

    valid: list = field(default_factory=list)
    invalid: list = field(default_factory=list)
    call_ids: list = field(default_factory=list)
    raw: list = field(default_factory=list)


def _lines(items: Iterable[str], empty: str = "(none)") -> str:
    items = [f"- {i}" for i in items]
    return "\n".join(items) if items else empty


def _path_text(p) -> str:
    if isinstance(p, Conjunction):
        return p.to_text()
    if isinstance(p, Rule):
        return format_rule(p)
    return str(p)


def _feedback_text(feedback) -> str:
    """Feedback as lines: a mapping rule id -> scores dict (or text), or an iterable of lines."""
    if not feedback:
        return ""
    if isinstance(feedback, dict):
        lines = []
        for rid, scores in feedback.items():
            if isinstance(scores, dict):
                parts = ", ".join(
                    f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
                )
            else:
                parts = str(scores)
            lines.append(f"{rid}: {parts}")
    else:
        lines = [str(x) for x in feedback]
    return (
        "Feedback on current rules (error of the rule's model, Delta = validation gain):\n"
        + _lines(lines)
        + "\n"
    )


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def propose_rules(
    client,
    *,
    schema,
    target: str,
    task: str = "classification",
    current_rules=(),
    paths=None,
    feedback=None,
    n: int = 3,
    tag: str | None = "propose",
    sample: int = 0,
) -> RuleProposals:
    """Ask the LLM for ``n`` new rules, validated against ``schema``.

    Parameters
    ----------
    client : LLMClient or FakeLLM
    schema : Schema
    target : str
    task : {'classification', 'regression'}
    current_rules : iterable of Rule
    paths : iterable of Conjunction, Rule or str, optional
        Decision-tree paths to show.
    feedback : dict or iterable of str, optional
        Per-rule scores (e.g. ``{"r1": {"error": 0.12, "delta": -0.01}}``);
        when given the proposals are refinements (origin ``'refined'``).
    n : int
    tag : str, optional
        Accounting tag.
    sample : int
        Sample index (another index asks again instead of replaying the cache).

    Returns
    -------
    RuleProposals

    Raises
    ------
    LLMError
        The endpoint failed, or never returned the JSON asked for.
    """
    current_rules = list(current_rules)
    columns = generated_columns(schema, target)
    current = [_one_line(format_rule(r)) for r in current_rules]
    path_lines = [_one_line(_path_text(p)) for p in (paths or [])][:20]
    fb = _feedback_text(feedback)
    origin = "refined" if feedback else "llm"
    out = RuleProposals()
    if client.api == "chat":
        messages = [
            {"role": "system", "content": prompts.RULES_CHAT_SYSTEM.render()},
            {
                "role": "user",
                "content": prompts.RULES_CHAT_USER.render(
                    columns=describe_columns(schema, columns),
                    target=json.dumps(target),
                    task=task,
                    current=_lines(current),
                    paths=_lines(path_lines),
                    feedback=fb,
                    n=n,
                ),
            },
        ]
        value, comp = client.chat_json(
            messages, schema=RULES_SCHEMA, name="rules", max_tokens=200 * n + 100, sample=sample, tag=tag
        )
        items = [(r["rule"], r.get("reason", "")) for r in value["rules"]]
    else:
        prompt = prompts.RULES_COMPLETION.render(
            columns=describe_columns(schema, columns),
            target=json.dumps(target),
            task=task,
            current=_lines(current),
            paths=_lines(path_lines),
            feedback=fb,
        )
        grammar = None
        if client.constrain == "grammar":
            try:
                grammar = rule_grammar(schema, target=target, n_rules=n)
            except ValueError as exc:
                raise LLMResponseError(f"no rule can be asked for: {exc}") from exc
        value, comp = client.complete_json(
            prompt, schema=_COMPLETION_SCHEMA, grammar=grammar, max_tokens=60 * n + 40, sample=sample, tag=tag
        )
        items = [(r, "") for r in value["rules"]]
    out.call_ids.append(comp.call_id)
    out.raw.append(comp.text)
    seen = {r.conjunctions for r in current_rules}
    for text, reason in items:
        try:
            rule = validate_rule(parse_rule(text), schema)
        except (RuleSyntaxError, RuleValidationError) as exc:
            out.invalid.append((text, str(exc)))
            continue
        if rule.conjunctions in seen:
            out.invalid.append((text, "same as a current or an earlier proposed rule"))
            continue
        seen.add(rule.conjunctions)
        digest = hashlib.sha256(format_rule(rule).encode("utf-8")).hexdigest()[:8]
        out.valid.append(
            rule.with_(
                id=f"{origin}-{digest}", origin=origin, status="proposed", note=_one_line(str(reason))[:300]
            )
        )
    return out
