"""Rules proposed by an LLM (DATE's LLM rule proposals and Alg. 2 line 17 refinement).

The prompt carries a schema summary, the current rules, decision-tree paths
and, for refinement, feedback per rule (error, validation gain Delta). The
reply is JSON ``{"rules": [...]}``: grammar-bound on the embedded base model
(the grammar only lets it write conjunctions over real columns, categories and
in-range thresholds), schema-bound on chat endpoints. Every rule text is
parsed with :func:`synth_core.rules.parse_rule` and checked with
:func:`synth_core.rules.validate_rule`; invalid ones come back with their
error instead of being dropped.

The prompt is fitted to the model's context before it is sent
(:mod:`synth_core.llm.budget`). When it would not fit, it gives up, in this
order: category lists beyond 8 values per column, tree paths beyond 5,
feedback lines beyond 5, current rules beyond the 5 most important (by support
when every rule has one, else the first ones given), then category lists down
to 3 values and to none, the remaining paths, feedback down to its first line
(DATE's leader) and the remaining rules. :attr:`RuleProposals.left_out` and
:attr:`RuleProposals.note` say what was left out. Only a schema whose column
list alone does not fit raises :class:`~synth_core.llm.budget.ContextLengthError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import LLMResponseError, RuleSyntaxError, RuleValidationError
from ..rules import Conjunction, Rule, format_rule, parse_rule, validate_rule
from . import prompts
from ._domain import generated_columns
from .budget import Dial, fit_prompt, prompt_budget
from .grammar import rule_grammar
from .row_text import category_dial, describe_columns

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
    left_out : dict
        What the prompt left out to fit the model's context: ``'current rules'``,
        ``'tree paths'``, ``'feedback lines'``, ``'category values'`` -> how many
        (empty when everything was shown).
    note : str
        The same for a person (``''`` when nothing was left out).
    """

    valid: list = field(default_factory=list)
    invalid: list = field(default_factory=list)
    call_ids: list = field(default_factory=list)
    raw: list = field(default_factory=list)
    left_out: dict = field(default_factory=dict)
    note: str = ""


def _lines(items: Iterable[str], empty: str = "(none)") -> str:
    items = [f"- {i}" for i in items]
    return "\n".join(items) if items else empty


def _path_text(p) -> str:
    if isinstance(p, Conjunction):
        return p.to_text()
    if isinstance(p, Rule):
        return format_rule(p)
    return str(p)


def _feedback_lines(feedback) -> list[str]:
    """Feedback as lines: a mapping rule id -> scores dict (or text), or an iterable of lines."""
    if not feedback:
        return []
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
    return lines


def _feedback_text(lines: list[str], more: int = 0) -> str:
    if not lines and not more:
        return ""
    return (
        "Feedback on current rules (error of the rule's model, Delta = validation gain):\n"
        + _shown(lines, more)
        + "\n"
    )


def _shown(items: list[str], more: int) -> str:
    """``_lines(items)`` and a last line saying how many more were left out."""
    text = _lines(items)
    if more:
        text = (text + "\n" if items else "") + f"- … {more} more not shown"
    return text


def _by_importance(rules: list) -> list[int]:
    """Positions of ``rules``, most important first: by support when every rule has one, else as given."""
    supports = [getattr(r, "support", None) for r in rules]
    if rules and all(isinstance(v, (int, float)) for v in supports):
        return sorted(range(len(rules)), key=lambda i: (-supports[i], i))
    return list(range(len(rules)))


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
    ContextLengthError
        Even the shortest prompt (the column list alone) does not fit the model's context.
    LLMError
        The endpoint failed, or never returned the JSON asked for.
    """
    current_rules = list(current_rules)
    columns = generated_columns(schema, target)
    current = [_one_line(format_rule(r)) for r in current_rules]
    rank = _by_importance(current_rules)
    path_lines = [_one_line(_path_text(p)) for p in (paths or [])][:20]
    fb_lines = _feedback_lines(feedback)
    origin = "refined" if feedback else "llm"
    out = RuleProposals()
    chat = client.api == "chat"
    max_tokens = 200 * n + 100 if chat else 60 * n + 40

    def render(plan):
        keep = set(rank[: plan["current rules"]])
        shown = [text for i, text in enumerate(current) if i in keep]
        k_paths, k_fb = plan["tree paths"], plan["feedback lines"]
        parts = dict(
            columns=describe_columns(schema, columns, max_categories=plan["category values"]),
            target=json.dumps(target),
            task=task,
            current=_shown(shown, len(current) - len(shown)),
            paths=_shown(path_lines[:k_paths], len(path_lines) - k_paths),
            feedback=_feedback_text(fb_lines[:k_fb], len(fb_lines) - k_fb),
        )
        if not chat:
            return prompts.RULES_COMPLETION.render(**parts)
        return [
            {"role": "system", "content": prompts.RULES_CHAT_SYSTEM.render()},
            {"role": "user", "content": prompts.RULES_CHAT_USER.render(**parts, n=n)},
        ]

    def down(count, floor):
        return range(count, min(floor, count) - 1, -1)

    nr, npaths, nfb = len(current), len(path_lines), len(fb_lines)
    fitted = fit_prompt(
        render,
        prompt_budget(client, max_tokens),
        [
            category_dial(schema, columns, (20, 8)),
            Dial("tree paths", down(npaths, 5)),
            Dial("feedback lines", down(nfb, 5)),
            Dial("current rules", down(nr, 5)),
            Dial("category values", (3, 0)),
            Dial("tree paths", down(min(npaths, 5), 0)),
            Dial("feedback lines", down(min(nfb, 5), min(nfb, 1))),
            Dial("current rules", down(min(nr, 5), 0)),
        ],
        what="the rule proposal prompt",
        fix=(
            f"Its irreducible part is the list of the table's {len(columns)} columns: use an endpoint with a "
            "larger context (SYNTH_LLM_CONTEXT / LLMSettings.context_tokens), or a table with fewer columns."
        ),
    )
    out.left_out, out.note = dict(fitted.left_out), fitted.note
    if chat:
        value, comp = client.chat_json(
            fitted.prompt, schema=RULES_SCHEMA, name="rules", max_tokens=max_tokens, sample=sample, tag=tag
        )
        items = [(r["rule"], r.get("reason", "")) for r in value["rules"]]
    else:
        prompt = fitted.prompt
        grammar = None
        if client.constrain == "grammar":
            try:
                grammar = rule_grammar(schema, target=target, n_rules=n)
            except ValueError as exc:
                raise LLMResponseError(f"no rule can be asked for: {exc}") from exc
        value, comp = client.complete_json(
            prompt, schema=_COMPLETION_SCHEMA, grammar=grammar, max_tokens=max_tokens, sample=sample, tag=tag
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
