"""Bounds on rule text and rules JSON, which may come from anyone.

Each bound is checked before the work it guards: the parser (:mod:`.parser`)
refuses text over a bound with a :class:`~synth_core.errors.RuleSyntaxError`,
the JSON reader (:mod:`.serialize`) refuses a document over one with a
:class:`~synth_core.errors.RuleValidationError`, and :class:`~.model.Predicate`
refuses numbers with too many digits. This module holds only the numbers.
"""

from __future__ import annotations

__all__ = [
    "MAX_RULE_CHARS",
    "MAX_NESTING",
    "MAX_NUMBER_DIGITS",
    "MAX_DNF_CONJUNCTIONS",
    "MAX_DNF_VALUES",
    "MAX_RULES_JSON_CHARS",
    "MAX_RULES_PER_FILE",
]

#: Longest rule text parsed, in characters. Discovery's longest texts are about 75,000 characters at its
#: default ``max_models`` (one rule holding every region) and about 290,000 with ``max_models=1000``;
#: parsing 1,000,000 characters takes well under a second.
MAX_RULE_CHARS = 1_000_000
#: Deepest nesting of parentheses. Canonical text nests one level; each level costs the parser three frames.
MAX_NESTING = 32
#: Most digits in one number (mantissa and exponent together). A float needs at most 17 significant digits.
MAX_NUMBER_DIGITS = 100
#: Most AND-clauses a rule may have once expanded to DNF. Discovery writes at most ``2 * max_models + 1``
#: (401 at its default ``max_models=200``); every clause costs a mask over the table.
MAX_DNF_CONJUNCTIONS = 1_000
#: Most values in the expanded DNF: a condition counts its values (a set its members, ``between`` two), at
#: least one. Every value takes two characters or more, so text already in DNF that fits ``MAX_RULE_CHARS``
#: never reaches it; only expansion that copies conditions into many clauses can.
MAX_DNF_VALUES = MAX_RULE_CHARS // 2
#: Largest rules JSON document, in characters (str) or bytes. Discovery's largest files are a few MB.
MAX_RULES_JSON_CHARS = 20_000_000
#: Most rules in one rules JSON document.
MAX_RULES_PER_FILE = 10_000
