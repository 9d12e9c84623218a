"""Rules: predicates joined by AND into conjunctions, conjunctions joined by OR (DNF).

Text form (what a person types and reads)::

    (age >= 40 AND workclass in {'Private', 'Self-emp'}) OR hours < 20

Grammar (keywords are case-insensitive; AND binds tighter than OR; any
parenthesised AND/OR expression is accepted and turned into DNF)::

    rule        := disjunction END
    disjunction := conjunction ( "OR" conjunction )*
    conjunction := term ( "AND" term )*
    term        := "(" disjunction ")" | "TRUE" | predicate
    predicate   := column op value
                 | column ["NOT"] "IN" set
                 | column "BETWEEN" value "AND" value
                 | column "IS" ["NOT"] "MISSING"
    op          := "<=" | ">=" | "==" | "!=" | "<" | ">" | "="
    set         := "{" [ value ( "," value )* ] "}"
    value       := number | string | "true" | "false"
    column      := identifier | `back-quoted name`
    string      := '...' | "..."   (backslash escapes the quote and itself)

``format_rule(parse_rule(text))`` gives the canonical text; parsing that again
gives an equal rule. Nothing here uses ``eval``: the parser is recursive descent,
one function per grammar rule, each taking ``(text, pos)``.

Masks follow SQL-like semantics: a missing cell never satisfies a comparison,
``!=`` or ``not in``; only ``is missing`` matches it. ``between`` includes both
ends.

Bounds (rule text and rules JSON may come from anyone). Each is checked before
the work it guards and refused with a :class:`~synth_core.errors.RuleSyntaxError`
(text) or :class:`~synth_core.errors.RuleValidationError` (JSON) that names the
limit and what to do:

* ``MAX_RULE_CHARS`` characters of rule text, checked before parsing;
* ``MAX_NESTING`` levels of parentheses (the parser recurses per level);
* ``MAX_NUMBER_DIGITS`` digits per number, in text and in JSON;
* the DNF size: while parsing, every sub-expression carries the number of
  AND-clauses it expands to and the values they hold (sums for OR, products
  for AND), so a rule whose expansion would exceed ``MAX_DNF_CONJUNCTIONS``
  AND-clauses or ``MAX_DNF_VALUES`` values is refused before anything is
  expanded (``(c0 == 0 OR c0 == 1) AND ... AND (c21 == 0 OR c21 == 1)`` would
  give 4,194,304 clauses). JSON rules obey the same two limits;
* ``MAX_RULES_JSON_CHARS`` characters (or bytes) and ``MAX_RULES_PER_FILE``
  rules per rules JSON document; JSON nested too deeply to decode is refused.

Numbers are finite everywhere: ``nan`` / ``inf`` in text, ``NaN`` / ``Infinity``
in JSON and non-finite :class:`Predicate` values are refused, and a set may not
mix ``true`` / ``false`` with numbers (Python takes ``true`` for ``1``, so
``{1, true}`` would silently lose a member).

Modules (each readable in one sitting; everything public is re-exported here,
so ``from synth_core.rules import X`` is the way to import)::

    bounds.py     the MAX_* limits above
    values.py     canonical values, values and column names as text, masks over a column
    model.py      Predicate, Conjunction, Rule, format_rule (the canonical text)
    parser.py     parse_rule, parse_conjunction: the grammar above and the DNF size check
    serialize.py  rules JSON in and out, the checks on every field
    validate.py   validate_rule, validate_rules: a rule against a Schema
    geometry.py   intervals (per-column bounds of a conjunction), overlap (DATE Definition 5)
    text.py       format_rule_lines, format_rule_short: display forms
"""

from __future__ import annotations

from .bounds import (
    MAX_DNF_CONJUNCTIONS,
    MAX_DNF_VALUES,
    MAX_NESTING,
    MAX_NUMBER_DIGITS,
    MAX_RULE_CHARS,
    MAX_RULES_JSON_CHARS,
    MAX_RULES_PER_FILE,
)
from .geometry import intervals, overlap

# outside __all__ as before; the Rules page uses STATUSES
from .model import COMPARISONS, OPERATORS, ORIGINS, STATUSES, Conjunction, Predicate, Rule, format_rule  # noqa: F401
from .parser import parse_conjunction, parse_rule
from .serialize import rules_from_json, rules_to_json
from .text import format_rule_lines, format_rule_short
from .validate import validate_rule, validate_rules

__all__ = [
    "Predicate",
    "Conjunction",
    "Rule",
    "parse_rule",
    "format_rule",
    "format_rule_lines",
    "format_rule_short",
    "parse_conjunction",
    "validate_rule",
    "validate_rules",
    "rules_to_json",
    "rules_from_json",
    "overlap",
    "intervals",
    "OPERATORS",
    "MAX_RULE_CHARS",
    "MAX_NESTING",
    "MAX_NUMBER_DIGITS",
    "MAX_DNF_CONJUNCTIONS",
    "MAX_DNF_VALUES",
    "MAX_RULES_JSON_CHARS",
    "MAX_RULES_PER_FILE",
]
