"""Rule text for people to read: laid out over lines, or cut to one short line.

For display only (the Rules page, tables, lists); the canonical text that is
parsed, stored and exported is :func:`~.model.format_rule` (``Rule.text``).
"""

from __future__ import annotations

from .model import Predicate, Rule
from .values import format_column, format_value

__all__ = ["format_rule_lines", "format_rule_short"]


def format_rule_lines(rule: Rule, *, max_values: int | None = 8, width: int = 80) -> str:
    """A rule laid out for reading: one AND-clause per line, ``OR`` on a line of its own.

    For display only; the canonical text (:func:`format_rule`, ``Rule.text``) is
    what is parsed, stored and exported.

    Parameters
    ----------
    rule : Rule
    max_values : int or None, default=8
        A set (``in`` / ``not in``) of more values shows its first ``max_values``
        and counts the rest: ``{'a', 'b', … 12 more}``. None shows every value;
        the text then parses back to the same rule.
    width : int, default=80
        An AND-clause longer than this continues on indented lines that start
        with ``AND`` (a single condition is never broken).

    Returns
    -------
    str
        Lines joined by ``\\n``.

    Examples
    --------
    >>> from synth_core.rules import parse_rule
    >>> r = parse_rule("(age >= 40 AND job in {'a', 'b', 'c', 'd'}) OR hours < 20")
    >>> print(format_rule_lines(r, max_values=2))
    age >= 40 AND job in {'a', 'b', … 2 more}
    OR
    hours < 20
    >>> print(format_rule_lines(parse_rule("age >= 40 AND hours < 20 AND job == 'a'"), width=25))
    age >= 40 AND hours < 20
        AND job == 'a'
    """
    lines: list[str] = []
    for i, conj in enumerate(rule.conjunctions):
        if i:
            lines.append("OR")
        texts = [_readable_predicate(p, max_values) for p in conj.predicates] or ["TRUE"]
        line = texts[0]
        for text in texts[1:]:
            if len(line) + len(" AND ") + len(text) <= width:
                line += " AND " + text
            else:
                lines.append(line)
                line = "    AND " + text
        lines.append(line)
    return "\n".join(lines)


def format_rule_short(rule: Rule, *, max_chars: int = 100, max_values: int = 3) -> str:
    """A rule on one line of about ``max_chars`` characters, for a table cell or a list entry.

    Sets show their first ``max_values`` values and count the rest, as in
    :func:`format_rule_lines`. When the rule is still longer than ``max_chars``
    it is cut after the last OR-clause (or, inside the first clause, the last
    condition) that fits, and what was left out is counted: ``OR … 14 more``
    clauses, ``AND … 3 more`` conditions. The first condition is always shown
    whole. For display only; the canonical text is :func:`format_rule`.

    Examples
    --------
    >>> from synth_core.rules import parse_rule
    >>> r = parse_rule("a > 1 OR (b < 2 AND c == 'x') OR d is missing OR e in {1, 2, 3, 4, 5}")
    >>> format_rule_short(r)
    "a > 1 OR (b < 2 AND c == 'x') OR d is missing OR e in {1, 2, 3, … 2 more}"
    >>> format_rule_short(r, max_chars=30)
    "a > 1 OR (b < 2 AND c == 'x') OR … 2 more"
    >>> format_rule_short(parse_rule("a > 1 AND b < 2 AND c == 'x'"), max_chars=12)
    'a > 1 AND … 2 more'
    """
    conjs = rule.conjunctions
    many = len(conjs) > 1
    clauses = []
    for conj in conjs:
        texts = [_readable_predicate(p, max_values) for p in conj.predicates] or ["TRUE"]
        clauses.append(texts)

    def clause_text(texts: list[str]) -> str:
        joined = " AND ".join(texts)
        return f"({joined})" if many and len(texts) > 1 else joined

    kept: list[str] = []
    for texts in clauses:
        candidate = " OR ".join(kept + [clause_text(texts)])
        if kept and len(candidate) > max_chars:
            break
        if not kept and len(candidate) > max_chars:  # the first clause alone is too long: cut inside it
            shown = [texts[0]]
            for text in texts[1:]:
                if len(" AND ".join(shown + [text])) > max_chars:
                    break
                shown.append(text)
            inner = " AND ".join(shown)
            if len(shown) < len(texts):
                inner += f" AND … {len(texts) - len(shown)} more"
            kept.append(f"({inner})" if many and len(texts) > 1 else inner)
            break
        kept.append(clause_text(texts))
    out = " OR ".join(kept)
    if len(kept) < len(clauses):
        out += f" OR … {len(clauses) - len(kept)} more"
    return out


def _readable_predicate(p: Predicate, max_values: int | None) -> str:
    """``p.to_text()``, with a set of more than ``max_values`` values cut to a count."""
    if p.op not in ("in", "not in") or max_values is None or len(p.value) <= max_values:
        return p.to_text()
    shown = ", ".join(format_value(v) for v in p.value[: max(0, max_values)])
    rest = f"… {len(p.value) - max(0, max_values)} more"
    return f"{format_column(p.column)} {p.op} {{{shown + ', ' if shown else ''}{rest}}}"
