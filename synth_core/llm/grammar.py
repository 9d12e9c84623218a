"""GBNF grammars (llama.cpp) and JSON schemas built from a Schema and a rule.

Rows: one production per column, following what made the embedded model's
rows valid (``shared/EMBEDDED_LLM.md``): categorical columns and the target are
an alternation of their allowed values (narrowed to the rule's set), integer
columns with a small range an alternation of every allowed value, and other
numbers an exact digit pattern for the rule's interval inside the observed
range: no leading zeros, a sign only where negatives are allowed, exactly the
column's decimals. A DNF rule becomes an alternation of one row production per
conjunction. The parser's checks stay as the safety net.

Rules: a grammar for ``{"rules": ["<rule>", ...]}`` whose rule strings are
conjunctions of up to three predicates over real feature columns, with real
categories and in-range thresholds, in the text form ``synth_core.rules`` parses.

Examples
--------
>>> int_range_expr(5, 23)
'[5-9] | "1" [0-9] | "2" [0-3]'
"""

from __future__ import annotations

import json
import math
import re

from ._domain import SMALL_RANGE, Domain, conjunction_domains, encode_value

__all__ = [
    "gbnf_literal",
    "int_range_expr",
    "number_expr",
    "domain_expr",
    "row_grammar",
    "rows_json_schema",
    "rule_grammar",
    "rule_column_literal",
    "rule_value_literal",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_RULE_KEYWORDS = {"and", "or", "in", "not", "between", "is", "missing", "true", "false"}
_TEXT_CELL = '"\\"" [^"\\\\\\x00-\\x1f]{1,40} "\\""'


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# --------------------------------------------------------------------------- numbers


def _split_range(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split [lo, hi] (0 <= lo <= hi) into sub-ranges whose bounds share a length and a digit pattern."""
    stops = {hi}
    k = 1
    while True:
        stop = int(str(lo)[:-k] + "9" * k) if k <= len(str(lo)) else int("9" * k)
        if not lo <= stop < hi:
            break
        stops.add(stop)
        k += 1
    k = 1
    while True:
        stop = (hi + 1) // 10**k * 10**k - 1
        if not lo < stop <= hi:
            break
        stops.add(stop)
        k += 1
    out, start = [], lo
    for stop in sorted(stops):
        out.append((start, stop))
        start = stop + 1
    return out


def _digit_tokens(lo: int, hi: int, width: int | None = None) -> list[list[str]]:
    """Per-digit tokens (a digit or a class) whose concatenations are exactly [lo, hi].

    With ``width`` the numbers are zero-padded to that width; without it they have no leading zeros.
    """
    patterns = []
    for a, b in _split_range(lo, hi):
        sa, sb = str(a), str(b)
        if width is not None:
            sa, sb = sa.zfill(width), sb.zfill(width)
        if len(sa) != len(sb):  # pragma: no cover - _split_range guarantees equal lengths
            raise AssertionError((a, b))
        tokens = []
        for da, db in zip(sa, sb, strict=True):
            tokens.append(da if da == db else f"[{da}-{db}]")
        patterns.append(tokens)
    return patterns


def _join_tokens(tokens: list[str]) -> str:
    """Merge runs of literal digits into one literal: ['1', '2', '[0-9]'] -> '"12" [0-9]'."""
    parts, run = [], ""
    for t in tokens:
        if len(t) == 1:
            run += t
            continue
        if run:
            parts.append(gbnf_literal(run))
            run = ""
        parts.append(t)
    if run:
        parts.append(gbnf_literal(run))
    return " ".join(parts)


def int_range_expr(lo: int, hi: int) -> str:
    """A GBNF expression matching exactly the decimal integers in ``[lo, hi]`` (no leading zeros)."""
    return _fixed_expr(int(lo), int(hi), 0)


def _fixed_expr(lo: int, hi: int, decimals: int) -> str:
    """Exact GBNF for v / 10**decimals, integer v in [lo, hi], written with ``decimals`` places."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    alts = []
    if lo < 0:  # negative part: "-" then magnitudes [max(1, -hi), -lo]
        mag_lo, mag_hi = max(1, -hi), -lo
        alts += ['"-" ' + a for a in _magnitude_alts(mag_lo, mag_hi, decimals)]
    if hi >= 0:
        alts += _magnitude_alts(max(0, lo), hi, decimals)
    return " | ".join(alts) if len(alts) == 1 else " | ".join(f"( {a} )" if " | " in a else a for a in alts)


def _magnitude_alts(lo: int, hi: int, decimals: int) -> list[str]:
    """Alternatives for magnitudes in [lo, hi] (scaled by 10**decimals), lo >= 0."""
    if decimals == 0:
        return [_join_tokens(t) for t in _digit_tokens(lo, hi)]
    scale = 10**decimals
    out = []
    if lo < scale:  # integer part 0: "0." then zero-padded fraction digits
        for tokens in _digit_tokens(lo, min(hi, scale - 1), width=decimals):
            out.append(_join_tokens(["0", "."] + tokens))
    if hi >= scale:
        for tokens in _digit_tokens(max(lo, scale), hi):
            out.append(_join_tokens(tokens[:-decimals] + ["."] + tokens[-decimals:]))
    return out


def number_expr(lo: float, hi: float, decimals: int) -> str:
    """GBNF for numbers in ``[lo, hi]`` written with exactly ``decimals`` places (bounds on that grid)."""
    scale = 10**decimals
    return _fixed_expr(math.ceil(round(lo * scale, 6)), math.floor(round(hi * scale, 6)), decimals)


def domain_expr(dom: Domain, *, text_form: str = "csv") -> str:
    """GBNF expression for one column's values (a missing cell is empty in CSV and ``null`` in JSON)."""
    missing = '""' if text_form == "csv" else '"null"'
    if dom.only_missing:
        return missing
    if dom.values or dom.kind == "cat":
        expr = " | ".join(gbnf_literal(lit) for lit in dom.literals())
    elif dom.kind == "int" and dom.n_values <= SMALL_RANGE:
        expr = " | ".join(gbnf_literal(lit) for lit in dom.literals())
    elif dom.kind in ("int", "num"):
        expr = number_expr(dom.lo, dom.hi, dom.decimals)
    else:
        expr = _TEXT_CELL
    if dom.allow_missing:
        expr = f"{missing} | {expr}"
    return expr


# --------------------------------------------------------------------------- rows


def _rule_conjunctions(rule):
    from ..rules import Conjunction

    return rule.conjunctions if rule is not None else (Conjunction(),)


def row_grammar(
    schema, columns: list[str], rule, *, target: str | None = None, fmt: str = "csv", n_rows: int = 5
) -> str:
    """GBNF for exactly ``n_rows`` lines of rows that satisfy ``rule`` (CSV or JSON lines).

    Parameters
    ----------
    schema : Schema
    columns : list of str
        Columns in output order (see :func:`~synth_core.llm._domain.generated_columns`).
    rule : Rule or None
        ``None`` means any row inside the observed ranges.
    target : str, optional
        The target column: never missing, never narrowed.
    fmt : {'csv', 'jsonl'}
    n_rows : int

    Raises
    ------
    ValueError
        When no conjunction of the rule leaves a possible row inside the observed ranges.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"fmt must be 'csv' or 'jsonl', not {fmt!r}")
    lines, row_alts = [], []
    text_form = "csv" if fmt == "csv" else "json"
    for i, conj in enumerate(_rule_conjunctions(rule)):
        doms = conjunction_domains(schema, columns, conj, target)
        if doms is None:
            continue
        parts = []
        for j, col in enumerate(columns):
            name = f"c{i}x{j}"
            lines.append(f"{name} ::= {domain_expr(doms[col], text_form=text_form)}")
            if fmt == "csv":
                parts.append(("" if j == 0 else '"," ') + name)
            else:
                key = json.dumps(col, ensure_ascii=False) + ": "
                parts.append(gbnf_literal(("{" if j == 0 else ", ") + key) + " " + name)
        if fmt == "jsonl":
            parts.append('"}"')
        lines.append(f"row{i} ::= " + " ".join(parts))
        row_alts.append(f"row{i}")
    if not row_alts:
        raise ValueError("the rule leaves no possible row inside the observed column ranges")
    line = 'row "\\n"'
    head = ["root ::= " + " ".join([line] * n_rows), "row ::= " + " | ".join(row_alts)]
    return "\n".join(head + lines) + "\n"


def _json_schema_for(dom: Domain) -> dict:
    if dom.only_missing:
        return {"type": "null"}
    if dom.values or dom.kind == "cat":
        values = [v.item() if hasattr(v, "item") else v for v in dom.values]
        out: dict = {"enum": values}
    elif dom.kind == "int":
        out = {"type": "integer", "minimum": int(dom.lo), "maximum": int(dom.hi)}
    elif dom.kind == "num":
        out = {"type": "number", "minimum": dom.lo, "maximum": dom.hi}
    else:
        out = {"type": "string"}
    if dom.allow_missing:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def rows_json_schema(schema, columns: list[str], rule, *, target: str | None = None, n_rows: int = 5) -> dict:
    """JSON schema of ``{"rows": [row, ...]}``: ``enum`` for categories (narrowed to the rule's set),
    ``minimum``/``maximum`` for numbers (the rule's interval inside the observed range), the target's
    classes; one ``anyOf`` branch per conjunction of a DNF rule."""
    branches = []
    for conj in _rule_conjunctions(rule):
        doms = conjunction_domains(schema, columns, conj, target)
        if doms is None:
            continue
        branches.append(
            {
                "type": "object",
                "properties": {c: _json_schema_for(doms[c]) for c in columns},
                "required": list(columns),
                "additionalProperties": False,
            }
        )
    if not branches:
        raise ValueError("the rule leaves no possible row inside the observed column ranges")
    item = branches[0] if len(branches) == 1 else {"anyOf": branches}
    return {
        "type": "object",
        "properties": {"rows": {"type": "array", "items": item, "minItems": 1, "maxItems": n_rows}},
        "required": ["rows"],
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------- rules


def rule_column_literal(name: str) -> str:
    """A column name as the rule language writes it (back-quoted when not a plain identifier)."""
    if _IDENT.fullmatch(name) and name.lower() not in _RULE_KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def rule_value_literal(value, decimals: int = 0) -> str:
    """A value as the rule language writes it: numbers plain, strings single-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return encode_value(value, decimals)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in_json_string(text: str) -> str:
    """``text`` as it appears inside a JSON string (without the surrounding quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def rule_grammar(schema, *, target: str | None = None, n_rules: int = 3, max_predicates: int = 3) -> str:
    """GBNF for ``{"rules": ["<rule>", ...]}`` with exactly ``n_rules`` rule strings.

    Each rule is one conjunction of 1 to ``max_predicates`` predicates over
    feature columns: ``<``, ``<=``, ``>``, ``>=`` with a threshold inside the
    observed range for numbers; ``==`` / ``!=`` / ``in {...}`` with known
    categories for categorical and boolean columns. The result always parses
    with :func:`synth_core.rules.parse_rule`; :func:`~synth_core.rules.validate_rule`
    still catches contradictions such as ``x < 5 AND x > 9``.

    Raises
    ------
    ValueError
        When the schema has no usable feature column.
    """
    lines, preds = [], []
    for j, spec in enumerate(schema.columns):
        if spec.name == target or spec.role != "feature":
            continue
        col = gbnf_literal(_in_json_string(rule_column_literal(spec.name)))
        if spec.kind in ("categorical", "boolean") and spec.categories:
            values = " | ".join(gbnf_literal(_in_json_string(rule_value_literal(v))) for v in spec.categories)
            lines.append(f"v{j} ::= {values}")
            lines.append(
                f'p{j} ::= {col} ( ( " == " | " != " ) v{j} | " in {{" v{j} ( ", " v{j} ){{0,3}} "}}" )'
            )
        elif (
            spec.kind in ("integer", "numeric")
            and spec.min is not None
            and spec.max is not None
            and spec.max > spec.min
        ):
            decimals = 0 if spec.kind == "integer" else min(int(spec.decimals), 6)
            dom = Domain(
                spec.name, "int" if decimals == 0 else "num", lo=spec.min, hi=spec.max, decimals=decimals
            )
            lines.append(f"v{j} ::= {domain_expr(dom)}")
            lines.append(f'p{j} ::= {col} ( " <= " | " < " | " >= " | " > " ) v{j}')
        else:
            continue
        preds.append(f"p{j}")
    if not preds:
        raise ValueError("no feature column can appear in a rule (all are ignored, text or constant)")
    sep = ", "
    rule_seq = sep.join(["rule"] * n_rules).replace(sep, f' "{sep}" ')
    head = [
        f'root ::= "{{\\"rules\\": [" {rule_seq} "]}}"',
        f'rule ::= "\\"" pred ( " AND " pred ){{0,{max_predicates - 1}}} "\\""',
        f"pred ::= {' | '.join(preds)}",
    ]
    return "\n".join(head + lines) + "\n"
