"""Rule text and rules JSON from anyone: every bound is checked before the work it guards, and only
synth_core's own errors come out of the parser and the JSON reader (issue 17)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from synth_core import rules as rules_mod
from synth_core.errors import RuleError, RuleSyntaxError, RuleValidationError, SynthError
from synth_core.rules import (
    MAX_DNF_CONJUNCTIONS,
    MAX_DNF_VALUES,
    MAX_NESTING,
    MAX_NUMBER_DIGITS,
    MAX_RULE_CHARS,
    MAX_RULES_JSON_CHARS,
    MAX_RULES_PER_FILE,
    Predicate,
    Rule,
    format_rule,
    parse_rule,
    rules_from_json,
    rules_to_json,
)
from synth_core.rules import parser as rules_parser


@pytest.fixture
def no_expansion(monkeypatch):
    """Make any DNF expansion fail the test: a bound must be hit before it."""

    def refuse(node):
        raise AssertionError("the DNF was expanded before its size was checked")

    monkeypatch.setattr(rules_parser, "_expand", refuse)


# --------------------------------------------------------------------- bounds on rule text


@pytest.mark.timeout(10)
def test_exponential_dnf_is_refused_before_expansion(no_expansion):
    text = " AND ".join(f"(c{i} == 0 OR c{i} == 1)" for i in range(22))  # the tester's 569 characters
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    message = str(info.value)
    assert message.startswith("this rule would expand to 4,194,304 AND-clauses")
    assert f"the limit is {MAX_DNF_CONJUNCTIONS:,}: split it into several rules" in message
    assert info.value.expected == f"at most {MAX_DNF_CONJUNCTIONS:,} AND-clauses"


@pytest.mark.timeout(10)
def test_astronomical_dnf_is_counted_without_big_numbers(no_expansion):
    text = " AND ".join(["(TRUE OR TRUE)"] * 5000)
    with pytest.raises(RuleSyntaxError, match=r"would expand to more than 10\^15 AND-clauses"):
        parse_rule(text)


def test_dnf_up_to_the_limit_parses():
    text = " AND ".join(f"(c{i} == 0 OR c{i} == 1)" for i in range(9))
    assert len(parse_rule(text).conjunctions) == 2**9
    at_limit = " OR ".join(f"x == {i}" for i in range(MAX_DNF_CONJUNCTIONS))
    assert len(parse_rule(at_limit).conjunctions) == MAX_DNF_CONJUNCTIONS
    with pytest.raises(RuleSyntaxError, match=f"expand to {MAX_DNF_CONJUNCTIONS + 1:,} AND-clauses"):
        parse_rule(at_limit + " OR x == -1")


def test_values_copied_into_many_clauses_are_refused_before_expansion(no_expansion):
    big_set = "a in {" + ", ".join(map(str, range(1000))) + "}"
    alternatives = " OR ".join(f"b == {i}" for i in range(1000))
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(f"{big_set} AND ({alternatives})")
    assert str(info.value) == (
        "this rule would expand to 1,000 AND-clauses holding 1,001,000 values; the "
        f"limit is {MAX_DNF_VALUES:,} values: split it into several rules"
    )


def test_dnf_size_arithmetic_matches_the_expansion():
    # 3 * 2 * 1 clauses; each holds its a/b/c values (1, 1, 3), d in half of them and e in all: 19 values
    text = "(a == 1 OR b == 2 OR c in {1, 2, 3}) AND (TRUE OR d == 4) AND e == 5"
    _, tree = rules_parser._parse_disjunction(text, 0, 0)
    expanded = rules_parser._expand(tree)
    assert tree.n == len(expanded) == 6
    assert tree.w == sum(rules_parser.predicate_weight(p) for conj in expanded for p in conj) == 19


def test_deep_parentheses_are_refused_at_the_limit():
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule("(" * 400 + "a < 1" + ")" * 400)
    message = str(info.value)
    assert message.startswith(
        f"this rule nests parentheses more than {MAX_NESTING} deep (column "
        f"{MAX_NESTING + 1}); the limit is {MAX_NESTING}: remove redundant parentheses"
    )
    assert message.splitlines()[-1].strip() == "^"
    deepest = "(" * MAX_NESTING + "a < 1" + ")" * MAX_NESTING
    assert parse_rule(deepest).text == "a < 1"


def test_numbers_with_too_many_digits_are_refused():
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule("a < " + "9" * 5000)
    assert str(info.value).startswith(
        f"a number in this rule has 5,000 digits (column 5); the limit is {MAX_NUMBER_DIGITS}: round it"
    )
    assert parse_rule("a < " + "9" * MAX_NUMBER_DIGITS).conjunctions[0].predicates[0].value == 10**100 - 1
    with pytest.raises(RuleSyntaxError, match=f"has {MAX_NUMBER_DIGITS + 1} digits"):
        parse_rule("a < 0." + "1" * MAX_NUMBER_DIGITS)


def test_text_over_the_length_limit_is_refused_before_parsing():
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule("a < 1" + " " * MAX_RULE_CHARS)
    assert str(info.value) == (
        f"this rule is {MAX_RULE_CHARS + 5:,} characters long; the limit is "
        f"{MAX_RULE_CHARS:,}: split it into several rules"
    )
    assert parse_rule("a < 1" + " " * (MAX_RULE_CHARS - 5)).text == "a < 1"


@pytest.mark.parametrize(
    "text", ["x > nan", "x < inf", "x > -Infinity", "x in {1, NaN}", "x between 0 and +inf", "x == 1e999"]
)
def test_non_finite_numbers_in_text_are_refused(text):
    with pytest.raises(RuleSyntaxError, match="expected a finite number"):
        parse_rule(text)


def test_names_that_start_like_inf_are_still_plain_syntax_errors():
    with pytest.raises(RuleSyntaxError, match="expected a number, a quoted string, true or false"):
        parse_rule("x == infant")
    assert parse_rule("x == 'inf'").text == "x == 'inf'"


@pytest.mark.parametrize(
    "op, value",
    [
        ("<", float("nan")),
        ("==", np.float64("inf")),
        ("between", (0, float("-inf"))),
        ("in", [1, float("nan")]),
    ],
)
def test_non_finite_predicate_values_are_refused(op, value):
    with pytest.raises(RuleError, match="rule values must be finite numbers"):
        Predicate("x", op, value)


@pytest.mark.parametrize(
    "column, op, value, message",
    [
        ("", "<", 1, "a condition needs a column name"),
        ("x", "~", 1, "unknown operator '~'"),
        ("x", "<", None, "rule values must be numbers, text or true/false, not null"),
        ("x", "<", [1], "rule values must be numbers, text or true/false, not a list"),
        ("x", "between", 1, "between needs two bounds (low, high), not 1"),
        ("x", "between", (1, 2, 3), "between needs two bounds"),
        ("x", "in", {"a": 1}, "a set of values must be a list, not a dict"),
        ("x", "<", 10**120, "a number in a rule has at most 100 digits, not a number of about 121 digits"),
    ],
)
def test_predicate_refuses_values_it_cannot_write(column, op, value, message):
    with pytest.raises(RuleError) as info:
        Predicate(column, op, value)
    assert message in str(info.value)


# --------------------------------------------------------------------- rules JSON


def _one(pred: dict, **fields) -> str:
    return json.dumps([{"conjunctions": [[pred]], **fields}])


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused(constant):
    with pytest.raises(RuleValidationError) as info:
        rules_from_json(f'[{{"conjunctions": [[{{"column": "x", "op": "<", "value": {constant}}}]]}}]')
    assert str(info.value) == (
        f"the rules file contains {constant}, which is not a finite number: write a number or null instead"
    )


def test_json_numbers_beyond_float_range_or_too_long_are_refused():
    doc = _one({"column": "x", "op": "<", "value": 1})
    with pytest.raises(RuleValidationError, match="the number 1e400, which is beyond the range of finite"):
        rules_from_json(doc.replace(": 1}", ": 1e400}"))
    with pytest.raises(RuleValidationError, match=f"5,000 digits; the limit is {MAX_NUMBER_DIGITS}"):
        rules_from_json(doc.replace(": 1}", ": " + "7" * 5000 + "}"))


@pytest.mark.timeout(10)
def test_deeply_nested_json_is_refused_cleanly():
    for deep in ("[" * 100_000 + "]" * 100_000, '{"rules": ' * 50_000 + "[]" + "}" * 50_000):
        with pytest.raises(RuleValidationError, match="nests lists or objects too deeply to read"):
            rules_from_json(deep)


def test_json_over_the_size_limit_is_refused_before_decoding():
    with pytest.raises(RuleValidationError) as info:
        rules_from_json(b" " * (MAX_RULES_JSON_CHARS + 1))
    assert str(info.value) == (
        f"the rules file has {MAX_RULES_JSON_CHARS + 1:,} bytes; the limit is "
        f"{MAX_RULES_JSON_CHARS:,}: split it into several files"
    )


def test_json_with_too_many_rules_is_refused():
    with pytest.raises(
        RuleValidationError,
        match=f"has {MAX_RULES_PER_FILE + 1:,} rules; the limit is {MAX_RULES_PER_FILE:,}",
    ):
        rules_from_json(json.dumps(["a < 1"] * (MAX_RULES_PER_FILE + 1)))


def test_json_rules_obey_the_dnf_limit():
    doc = json.dumps([{"conjunctions": [[]] * (MAX_DNF_CONJUNCTIONS + 1)}])
    with pytest.raises(RuleValidationError) as info:
        rules_from_json(doc)
    assert str(info.value) == (
        f"rule 1: this rule has {MAX_DNF_CONJUNCTIONS + 1:,} AND-clauses; the limit "
        f"is {MAX_DNF_CONJUNCTIONS:,}: split it into several rules"
    )


GOOD = {"column": "x", "op": "<", "value": 1}


def _with(**fields) -> str:
    """A one-rule document: a good rule with ``fields`` changed."""
    return json.dumps([{"conjunctions": [[GOOD]], **fields}])


@pytest.mark.parametrize(
    "doc, message",
    [
        (_with(id=5), "rule 1: field 'id' must be text, not 5"),
        (
            _with(status="done"),
            "rule 1: field 'status' must be one of proposed, approved, rejected, not 'done'",
        ),
        (_with(origin=["llm"]), "rule 1: field 'origin' must be text, not a list"),
        (_with(error="low"), "rule 1: field 'error' must be a number or null"),
        (_with(ind=True), "rule 1: field 'ind' must be a number or null, not true"),
        (_with(support=1.5), "rule 1: field 'support' must be a whole number or null, not 1.5"),
        (_with(support=-1), "rule 1: field 'support' must be at least 0, not -1"),
        (_with(model_id="m1"), "rule 1: field 'model_id' must be a whole number"),
        (_with(note={}), "rule 1: field 'note' must be text, not a dict"),
        (_with(paths=3), "rule 1: field 'paths' must be a list of lists"),
        (_with(paths=[[GOOD, 7]]), "rule 1: paths[0][1] must be an object with column, op and value, not 7"),
        (json.dumps([{"text": 3}]), "rule 1: field 'text' must be rule text, not 3"),
        (json.dumps([{"id": "r"}]), "rule 1: a rule needs 'conjunctions'"),
        (
            json.dumps([{"conjunctions": []}]),
            "rule 1: field 'conjunctions' must be a non-empty list of lists of "
            "conditions ([[]] for TRUE), not an empty list",
        ),
        (json.dumps([{"conjunctions": "x < 1"}]), "rule 1: field 'conjunctions' must be a non-empty list"),
        (_with(conjunctions=[GOOD]), "rule 1: conjunctions[0] must be a list of conditions, not a dict"),
        (json.dumps([{"conjunctions": [[GOOD, "x"]]}]), "rule 1: conjunctions[0][1] must be an object"),
        (
            _one({"column": 3, "op": "<", "value": 1}),
            "rule 1: conjunctions[0][0].column must be a column name",
        ),
        (
            _one({"column": "x", "op": "lt", "value": 1}),
            "rule 1: conjunctions[0][0].op must be one of <, <=,",
        ),
        (_one({"column": "x", "op": "in", "value": "a"}), "[0][0].value must be a list for in, not 'a'"),
        (_one({"column": "x", "op": "is missing", "value": 0}), "[0][0].value must be null for is missing"),
        (
            _one({"column": "x", "op": "<", "value": {"a": 1}}),
            "rule 1: conjunctions[0][0].value: rule values must be numbers, text or true/false, not a dict",
        ),
        (
            _one({"column": "x", "op": "in", "value": [[1]]}),
            "[0][0].value: rule values must be numbers, text or",
        ),
        (
            _one({"column": "x", "op": "in", "value": [1, True]}),
            "rule 1: conjunctions[0][0].value: a set of values mixes true/false with numbers ({1, true})",
        ),
        (json.dumps([7]), "rule 1: a rule must be an object (or rule text), not 7"),
        (json.dumps({"version": 2, "rules": []}), "rules file version 2 is not supported (expected 1)"),
        (json.dumps({"rules": {"a": 1}}), 'expected {"rules": [...]} or a list of rules'),
    ],
)
def test_every_json_field_is_type_checked(doc, message):
    with pytest.raises(RuleValidationError) as info:
        rules_from_json(doc)
    assert message in str(info.value)


def test_json_that_is_not_text_or_bytes_is_refused():
    with pytest.raises(RuleValidationError, match="rules JSON must be text or bytes, not null"):
        rules_from_json(None)
    with pytest.raises(RuleValidationError, match="not JSON"):
        rules_from_json(b"\xff\xfe\x00garbage")


def test_json_problems_are_listed_up_to_twenty():
    with pytest.raises(RuleValidationError) as info:
        rules_from_json(json.dumps([0] * 25))
    problems = info.value.problems
    assert len(problems) == 21 and problems[0].startswith("rule 1: ") and problems[19].startswith("rule 20: ")
    assert problems[-1] == "... and 5 more problem(s)"


def test_non_finite_metadata_is_written_as_null_and_reads_back():
    rule = parse_rule("a < 1", id="r1").with_(error=float("nan"), ind=float("inf"))
    (again,) = rules_from_json(rules_to_json([rule]))
    assert again.error is None and again.ind is None and again.conjunctions == rule.conjunctions


# --------------------------------------------------------------------- fuzz: only our own errors, fast

TOKENS = [
    "(",
    ")",
    "{",
    "}",
    ",",
    "AND",
    "and",
    "OR",
    "or",
    "NOT",
    "not",
    "IN",
    "in",
    "BETWEEN",
    "IS",
    "MISSING",
    "TRUE",
    "true",
    "false",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "=",
    "'",
    '"',
    "`",
    "\\",
    "age",
    "x",
    "_a.b",
    "`col name`",
    "'text'",
    '"a,b"',
    "'it\\'s'",
    "1",
    "-2.5",
    ".5",
    "1e309",
    "1e-400",
    "9" * 150,
    "nan",
    "inf",
    "-Infinity",
    "NaN",
    "é",
    "名前",
    "\x00",
    "\n",
    "٣",
    "１",
    "+",
    "-",
    "e5",
    "{}",
    "()",
    "inc",
]

soup = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=4), st.integers(-(10**150), 10**150).map(str)),
    max_size=40,
)


@st.composite
def token_soup(draw):
    return "".join(tok + draw(st.sampled_from(["", " ", "  "])) for tok in draw(soup))


@st.composite
def nested(draw):
    depth = draw(st.integers(0, MAX_NESTING + 3))
    inner = draw(st.one_of(token_soup(), rule_texts))
    return "(" * depth + inner + ")" * draw(st.integers(0, depth + 1))


def _quoted(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


columns = st.sampled_from(
    ["age", "x", "_a.b", "Age", "`col name`", "`odd \\` name`", "`名前`", "名前", "and", "`in`"]
)
values = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["1e309", "-1e999", "1e-400", "9" * 150, "nan", "inf", "-Infinity", ".5", "+3", "٣", "１", "1."]
    ),
    st.text(max_size=6).map(_quoted),
    st.text(max_size=6).map(lambda s: '"' + s + '"'),  # not escaped: may end early
    st.sampled_from(["true", "false", "TRUE", "False"]),
)
predicate_texts = st.one_of(
    st.tuples(columns, st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "="]), values).map(" ".join),
    st.tuples(columns, st.sampled_from(["in", "not in", "NOT IN"]), st.lists(values, max_size=4)).map(
        lambda t: f"{t[0]} {t[1]} {{{', '.join(t[2])}}}"
    ),
    st.tuples(columns, values, values).map(lambda t: f"{t[0]} between {t[1]} and {t[2]}"),
    st.tuples(columns, st.sampled_from(["is missing", "IS NOT MISSING"])).map(" ".join),
    st.just("TRUE"),
)
joiners = st.sampled_from([" AND ", " OR ", " and "])
rule_texts = st.recursive(
    predicate_texts,
    lambda inner: st.tuples(st.lists(inner, min_size=2, max_size=4), joiners).map(
        lambda t: "(" + t[1].join(t[0]) + ")"
    ),
    max_leaves=10,
)


@st.composite
def mutated(draw):
    """A grammatical rule with up to three random edits: a token inserted, a slice deleted or repeated."""
    text = draw(rule_texts)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 6)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat"]))
        text = (
            text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
            if edit == "insert"
            else text[:i] + text[j:]
            if edit == "delete"
            else text[:j] + text[i:j] + text[j:]
        )
    return text


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), token_soup(), nested(), rule_texts, mutated()))
@example("a in {1, true}")
@example("(" * 40 + "a < 1")
@example("a < " + "9" * 200)
@example("a between nan and 1")
@example(" AND ".join(f"(c{i} == 0 OR c{i} == 1)" for i in range(12)))
def test_parse_rule_raises_only_synth_errors(text):
    try:
        rule = parse_rule(text)
    except SynthError:
        return
    again = parse_rule(format_rule(rule))  # what parses has a canonical text that parses to the same rule
    assert again.conjunctions == rule.conjunctions


@st.composite
def dnf_trees(draw, depth=0):
    """Random AND/OR trees of small predicates, as (text, clauses it expands to)."""
    if depth >= 3 or draw(st.booleans()):
        i = draw(st.integers(0, 3))
        return (f"v{i} == {draw(st.integers(0, 2))}", 1) if i else ("TRUE", 1)
    kind = draw(st.sampled_from(["AND", "OR"]))
    parts = draw(st.lists(dnf_trees(depth=depth + 1), min_size=2, max_size=4))
    n = 1 if kind == "AND" else 0
    for _, m in parts:
        n = n * m if kind == "AND" else n + m
    return "(" + f" {kind} ".join(t for t, _ in parts) + ")", n


@settings(max_examples=150, deadline=1000)
@given(dnf_trees())
def test_refused_exactly_when_the_expansion_is_over_the_limit(tree):
    text, n = tree
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rules_parser, "MAX_DNF_CONJUNCTIONS", 8)
        if n > 8:
            with pytest.raises(RuleSyntaxError, match=f"would expand to {n:,} AND-clauses"):
                parse_rule(text)
        else:
            assert 1 <= len(parse_rule(text).conjunctions) <= n


FIELDS = [
    "version",
    "rules",
    "id",
    "text",
    "conjunctions",
    "origin",
    "status",
    "error",
    "support",
    "paths",
    "model_id",
    "ind",
    "note",
    "column",
    "op",
    "value",
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**120), 10**120),
    st.floats(),
    st.sampled_from(["a < 1", "x", "in", "between", "approved", "llm", "", "<", "a >"]),
    st.text(max_size=6),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=4)), children, max_size=5),
    ),
    max_leaves=12,
)
plain_scalars = st.one_of(st.integers(-100, 100), st.floats(-1e6, 1e6), st.text(max_size=4), st.booleans())


@st.composite
def rule_like(draw):
    """Rule-shaped dicts, mostly well-formed, with some fields replaced by anything."""

    def mostly(good):  # one field in ten is replaced by anything
        return draw(json_values if draw(st.integers(0, 9)) == 0 else good)

    op = mostly(st.sampled_from(rules_mod.OPERATORS))
    value = (
        st.lists(plain_scalars, max_size=3)
        if op in ("in", "not in")
        else st.tuples(plain_scalars, plain_scalars).map(list)
        if op == "between"
        else st.none()
        if op in ("is missing", "is not missing")
        else plain_scalars
    )
    pred = {"column": mostly(st.sampled_from(["x", "y", "a b"])), "op": op, "value": mostly(value)}
    shapes = st.lists(st.lists(st.one_of(st.just(pred), json_values), max_size=3), max_size=3)
    conjunctions = draw(shapes) if draw(st.integers(0, 3)) == 0 else [[pred]]
    rule = {"id": "r1", "conjunctions": conjunctions, "status": "approved", "paths": [[pred]], "error": 0.1}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=1)):
        rule[key] = draw(json_values)
    return rule


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        json_values,
        st.lists(rule_like(), max_size=3),
        st.lists(rule_like(), max_size=3).map(lambda r: {"version": 1, "rules": r}),
    )
)
@example([{"conjunctions": [[{"column": "x", "op": "<", "value": float("nan")}]]}])
@example({"rules": [{"conjunctions": [[{"column": "x", "op": "between", "value": [1, "a", 3]}]]}]})
@example([{"conjunctions": [[{"column": "x", "op": "in", "value": [1, True]}]]}])
def test_rules_from_json_raises_only_synth_errors(doc):
    text = json.dumps(doc)  # NaN / Infinity written as JSON's non-standard constants
    try:
        rules = rules_from_json(text)
    except SynthError:
        pass
    else:  # what is read can be shown and written back (the pages crashed on .text)
        assert all(isinstance(r.text, str) and r.text for r in rules)
        assert rules_from_json(rules_to_json(rules)) == rules
    items = doc.get("rules") if isinstance(doc, dict) else doc
    for item in items if isinstance(items, list) else []:  # bundles read rule dicts without the JSON layer
        try:
            rule = Rule.from_dict(item)
        except RuleError:
            continue
        assert rules_from_json(rules_to_json([rule])) == [rule]


@pytest.mark.timeout(30)
@settings(max_examples=100, deadline=1000)
@given(st.one_of(st.binary(max_size=60), st.text(max_size=60)))
def test_rules_from_json_on_raw_bytes_and_text(raw):
    try:
        rules_from_json(raw)
    except SynthError:
        pass


# --------------------------------------------------------------------- what the project makes stays within the bounds


@pytest.mark.timeout(60)
def test_the_largest_discovered_rules_parse_and_read_back(bank_sample):
    from synth_core.discovery import DGRDiscoverer

    # the page's and the CLI's discovery settings, with every region squeezed into one rule
    disc = DGRDiscoverer(rho=1e-6, max_rules=1, random_state=0).fit(bank_sample)
    (rule,) = disc.rules_
    assert len(rule.conjunctions) > 10
    assert parse_rule(rule.text).conjunctions == rule.conjunctions
    assert rules_from_json(rules_to_json(disc.rules_)) == disc.rules_
