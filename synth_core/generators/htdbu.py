"""H-TDBU: an LLM rule skeleton (top-down), Gaussian copulas per rule region (bottom-up), feedback.

What follows the paper (*Hierarchical Synthetic Tabular Data Generation: a Hybrid
Top-Down and Bottom-Up Framework*):

- **LLM as rule provider, not data provider**: one LLM call returns a JSON
  skeleton ``S`` (a plausible ``[low, high]`` range per number column, the
  allowed values per category column, up to ``max_conditions`` if-then
  constraints). Rows are never written by the LLM, so the cost is O(1) calls.
  On the embedded base model the reply is bound by a GBNF grammar built from
  the Schema (real column names, categories, in-range numbers); on chat
  endpoints by a JSON schema. Each constraint becomes a :class:`~synth_core.rules.Rule`
  (origin ``'llm'``, status ``'proposed'``) returned in ``Generation.proposals``
  so a person can read, edit and approve it; ``skeleton=`` takes a person's
  edited skeleton (rule texts) and skips the LLM.
- **Bottom-up texture and G(z | S)**: a Gaussian copula
  (:class:`~synth_core.generators.statistical.GaussianCopula`) per approved rule
  region; samples are clipped into the rule's and the skeleton's ranges and only
  rows that satisfy both the rule and every skeleton constraint are kept
  (``S`` as a hard constraint pruning ``z``).
- **Feedback loop** (TSTR + a TVD metric) for at most ``rounds`` rounds, each
  decision written to ``Generation.messages``:
  *adjust constraints* when the skeleton is at odds with the data (it excludes
  more than ``1 - min_coverage`` of the real region rows, or rejects most
  generated rows): ranges are widened to the real 1st-99th percentiles and
  set / if-then constraints that exclude real rows are dropped;
  *retrain the model* when the rows look unreal or useless (mean column TVD above
  ``max_tvd``, or TSTR error worse than train-on-real by more than
  ``max_tstr_gap``): the copulas are refitted with more shrinkage of the
  correlation towards independence and on all region rows; otherwise *keep*
  and stop.

Where it is simplified, and why:

- The paper's XModal metric measures a table-by-text joint distribution; these
  tables have no text modality, so the fidelity signal is the mean per-column
  total variation distance (numbers binned on train quantiles) between the
  probe rows and the real region rows.
- TSTR scores on **validation** rows covered by the approved rules (never test
  rows, which the paper uses: a held-out row here never judges a choice). The
  model is the project's downstream one (a decision tree) with
  ``preset="product"``, and the paper's logistic regression (a linear model;
  ridge for a number target) with ``preset="paper"``.
- Bottom-up generators: the Gaussian copula only (the paper also tries
  RandomForest / XGBoost / CTGAN / TVAE conditional samplers; CTGAN and TVAE
  need a deep-learning stack this project does not install).

``docs/PAPERS.md`` (section "H-TDBU") lists each step with the function, same /
differs and why, and the test.
- Feedback rounds run on probe samples. When the last round changed the settings,
  they are probed once more, and the rows returned are one final draw with the
  best setting probed (a skeleton that admits the real rows first, then TSTR,
  then TVD; ``_iteration`` = that setting's round), so a change the loop had no
  round left to check never reaches the rows unchecked. Rows are written
  by the copulas, so ``_call_id`` is empty; the skeleton's call id is in
  ``skeleton_call_id_`` and the messages.
- If the LLM fails or returns nothing valid, the approved rules alone are the
  skeleton, and a message says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np
import pandas as pd

from .._frames import concat_rows
from .._validation import InstanceOf, Interval, ListOf, Options
from ..errors import GenerationError, LLMError, RuleSyntaxError, RuleValidationError
from ..llm.client import LLMClient
from ..models import row_losses
from ..rules import Conjunction, Predicate, Rule, format_rule, parse_rule, validate_rule
from ._region import clip_to_rule, sample_inside
from .base import Generation, Generator, allocate, coerce_like, is_cancelled, provenance_frame, recheck_typed
from .samplellm import bin_codes, usage_before, usage_delta
from .statistical import GaussianCopula

__all__ = [
    "HTDBUGenerator",
    "skeleton_grammar",
    "skeleton_json_schema",
    "skeleton_rules",
    "summarize_columns",
]

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


# --------------------------------------------------------------------------- prompts and grammar


def _quote(name: str) -> str:
    return json.dumps(str(name), ensure_ascii=False)


def summarize_columns(frame: pd.DataFrame, schema, columns, *, max_categories: int = 8) -> str:
    """One line per column for prompts: quantiles of numbers, shares of the commonest categories.

    Names and categories are JSON-quoted (data, never instructions).
    """
    lines = []
    for col in columns:
        spec = schema[col]
        s = frame[col]
        if spec.is_numeric and spec.kind != "boolean" and not spec.categories:
            x = pd.to_numeric(s, errors="coerce").dropna()
            if len(x):
                q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1])
                d = 0 if spec.kind == "integer" else min(int(spec.decimals or 2), 4)
                vals = ", ".join(f"{v:.{d}f}" for v in q)
                lines.append(f"- {_quote(col)}: min, q25, median, q75, max = {vals}")
                continue
        shares = s.dropna().astype(str).value_counts(normalize=True).head(max_categories)
        text = ", ".join(f"{_quote(k)} {v:.0%}" for k, v in shares.items())
        lines.append(f"- {_quote(col)}: {text}")
    return "\n".join(lines)


def _in_json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _numeric_domain(spec):
    from ..llm._domain import Domain

    decimals = 0 if spec.kind == "integer" else min(int(spec.decimals or 0), 6)
    return Domain(spec.name, "int" if decimals == 0 else "num", lo=spec.min, hi=spec.max, decimals=decimals)


def _skeleton_columns(schema, target):
    """(numeric, categorical) feature columns a skeleton can constrain."""
    numeric, categorical = [], []
    for spec in schema.columns:
        if spec.name == target or spec.role != "feature":
            continue
        if spec.kind in ("categorical", "boolean") and spec.categories and len(spec.categories) <= 40:
            categorical.append(spec)
        elif (
            spec.kind in ("integer", "numeric")
            and spec.min is not None
            and spec.max is not None
            and spec.max > spec.min
        ):
            numeric.append(spec)
    return numeric, categorical


def skeleton_grammar(schema, *, target: str, max_conditions: int = 2) -> str:
    """GBNF for ``{"ranges": {...}, "sets": {...}, "if": [...]}`` over the Schema's feature columns.

    Every numeric feature gets ``[low, high]`` inside its observed range, every categorical feature a
    non-empty list of its categories, and up to ``max_conditions`` ``{"if": pred, "then": pred}``
    objects whose predicates are ``column op value`` in the rule language.

    Raises
    ------
    ValueError
        When no feature column can be constrained.
    """
    from ..llm.grammar import domain_expr, gbnf_literal, rule_column_literal, rule_value_literal

    numeric, categorical = _skeleton_columns(schema, target)
    if not numeric and not categorical:
        raise ValueError("no feature column can carry a constraint (all are text, ids or constant)")
    lines, ranges, sets, preds = [], [], [], []
    for j, spec in enumerate(schema.columns):
        if spec in numeric:
            lines.append(f"n{j} ::= {domain_expr(_numeric_domain(spec), text_form='json')}")
            ranges.append(f'{gbnf_literal(_quote(spec.name) + ": [")} n{j} ", " n{j} "]"')
            col = gbnf_literal(_in_json_string(rule_column_literal(spec.name)))
            preds.append(f'{col} ( " <= " | " < " | " >= " | " > " ) n{j}')
        elif spec in categorical:
            cats = " | ".join(gbnf_literal(_quote(str(v))) for v in spec.categories)
            lines.append(f"c{j} ::= {cats}")
            k = min(len(spec.categories), 8)
            sets.append(f'{gbnf_literal(_quote(spec.name) + ": [")} c{j} ( ", " c{j} ){{0,{k - 1}}} "]"')
            vals = " | ".join(gbnf_literal(_in_json_string(rule_value_literal(v))) for v in spec.categories)
            lines.append(f"v{j} ::= {vals}")
            col = gbnf_literal(_in_json_string(rule_column_literal(spec.name)))
            preds.append(f'{col} ( " == " | " != " ) v{j}')
    sep = ' ", " '
    head = [
        'root ::= "{\\"ranges\\": {" '
        + (sep.join(ranges) or '""')
        + ' "}, \\"sets\\": {" '
        + (sep.join(sets) or '""')
        + ' "}, \\"if\\": [" conds "]}"',
        f'conds ::= ( cond ( ", " cond ){{0,{max(max_conditions, 1) - 1}}} )?'
        if max_conditions > 0
        else 'conds ::= ""',
        'cond ::= "{\\"if\\": \\"" pred "\\", \\"then\\": \\"" pred "\\"}"',
        "pred ::= " + " | ".join(f"( {p} )" for p in preds),
    ]
    return "\n".join(head + lines) + "\n"


def skeleton_json_schema(schema, *, target: str, max_conditions: int = 2) -> dict:
    """JSON schema of the skeleton (chat endpoints; also what a completion reply is checked against)."""
    numeric, categorical = _skeleton_columns(schema, target)
    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    return {
        "type": "object",
        "properties": {
            "ranges": {
                "type": "object",
                "properties": {s.name: pair for s in numeric},
                "additionalProperties": False,
            },
            "sets": {
                "type": "object",
                "properties": {s.name: {"type": "array", "items": {"type": "string"}} for s in categorical},
                "additionalProperties": False,
            },
            "if": {
                "type": "array",
                "maxItems": max(max_conditions, 0),
                "items": {
                    "type": "object",
                    "properties": {"if": {"type": "string"}, "then": {"type": "string"}},
                    "required": ["if", "then"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["ranges", "sets", "if"],
        "additionalProperties": False,
    }


def _rule_id(text: str) -> str:
    return "htdbu-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _one_predicate(text: str, schema, target) -> Predicate:
    rule = validate_rule(parse_rule(text), schema)
    if len(rule.conjunctions) != 1 or len(rule.conjunctions[0].predicates) != 1:
        raise RuleValidationError(f"{text!r}: a condition must be one predicate")
    pred = rule.conjunctions[0].predicates[0]
    if pred.column == target:
        raise RuleValidationError(f"{text!r}: the skeleton may not constrain the target")
    return pred


def skeleton_rules(value: dict, schema, *, target: str, origin: str = "llm") -> tuple[list, list]:
    """Rules (status ``'proposed'``) from a skeleton JSON value, and ``(text, error)`` for invalid parts."""
    valid, invalid = [], []

    def add(rule: Rule, note: str):
        text = format_rule(rule)
        try:
            rule = validate_rule(rule, schema)
        except (RuleSyntaxError, RuleValidationError) as exc:
            invalid.append((text, str(exc)))
            return
        if any(r.conjunctions == rule.conjunctions for r in valid):
            return
        valid.append(rule.with_(id=_rule_id(text), origin=origin, status="proposed", note=note))

    for col, pair in (value.get("ranges") or {}).items():
        if (
            col not in schema
            or col == target
            or not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
        ):
            invalid.append((f"{col}: {pair!r}", "a range must be [low, high] over a feature column"))
            continue
        lo, hi = sorted(pair)
        if schema[col].kind == "integer":
            lo, hi = int(math.floor(lo)), int(math.ceil(hi))
        add(
            Rule(conjunctions=(Conjunction((Predicate(col, "between", (lo, hi)),)),)),
            f"H-TDBU skeleton: plausible range of {col}",
        )
    for col, values in (value.get("sets") or {}).items():
        if col not in schema or col == target or not isinstance(values, list):
            invalid.append((f"{col}: {values!r}", "a set must be a list of categories of a feature column"))
            continue
        known = {str(c): c for c in schema[col].categories}
        chosen = tuple(dict.fromkeys(known[str(v)] for v in values if str(v) in known))
        if not chosen:
            invalid.append((f"{col}: {values!r}", "no known category"))
            continue
        if len(chosen) == len(known):
            continue  # allows everything: no constraint
        add(
            Rule(conjunctions=(Conjunction((Predicate(col, "in", chosen),)),)),
            f"H-TDBU skeleton: allowed values of {col}",
        )
    for item in value.get("if") or []:
        try:
            cond = _one_predicate(str(item["if"]), schema, target)
            then = _one_predicate(str(item["then"]), schema, target)
        except (RuleSyntaxError, RuleValidationError, KeyError, TypeError) as exc:
            invalid.append((json.dumps(item, ensure_ascii=False), str(exc)))
            continue
        if cond.op not in _NEGATE or cond.column == then.column:
            invalid.append(
                (json.dumps(item, ensure_ascii=False), "an if-then needs a comparison on two columns")
            )
            continue
        negated = Predicate(cond.column, _NEGATE[cond.op], cond.value)
        add(
            Rule(conjunctions=(Conjunction((negated,)), Conjunction((then,)))),
            f"H-TDBU skeleton: if {cond.to_text()} then {then.to_text()}",
        )
    return valid, invalid


def _satisfies(frame: pd.DataFrame, skeleton) -> np.ndarray:
    out = np.ones(len(frame), dtype=bool)
    for rule in skeleton:
        out &= rule.mask(frame)
    return out


def _range_conjunction(skeleton) -> Conjunction:
    preds = [
        p
        for r in skeleton
        if len(r.conjunctions) == 1
        for p in r.conjunctions[0].predicates
        if p.op == "between"
    ]
    return Conjunction(tuple(preds))


def _shrink(copula: GaussianCopula, strength: float) -> GaussianCopula:
    """More regularisation: correlation shrunk towards independence by ``strength``."""
    if strength > 0:
        cov = copula.cov_
        copula.cov_ = (1 - strength) * cov + strength * np.diag(np.diag(cov))
    return copula


# --------------------------------------------------------------------------- generator


class HTDBUGenerator(Generator):
    """H-TDBU: LLM skeleton, conditioned copulas per rule region, TSTR / TVD feedback.

    Parameters
    ----------
    client : LLMClient, optional
        The LLM (the pipeline passes one; default :func:`synth_core.llm.get_client` when needed).
    preset : {'product', 'paper'}
        TSTR's model: the decision tree (product) or the paper's logistic regression (paper).
    rounds : int
        Most feedback rounds (0 turns the loop off).
    skeleton : list of str or Rule, optional
        A skeleton written or edited by a person (each a rule every row must satisfy); skips the LLM.
    max_conditions : int
        Most if-then constraints asked of the LLM.
    min_coverage : float
        Share of real region rows the skeleton must admit; below it constraints are adjusted.
    max_tvd : float
        Mean column TVD above which the bottom-up model is retrained.
    max_tstr_gap : float
        TSTR error above train-on-real error by more than this retrains the model (classification
        error rate; relative for regression MSE).
    random_state : int or None

    Attributes
    ----------
    skeleton_ : list of Rule
        The skeleton in use (after any adjustment); also returned as ``Generation.proposals``.
    skeleton_invalid_ : list of (str, str)
        Parts of the LLM reply that did not validate, with the reason.
    skeleton_call_id_ : str
    decisions_ : list of dict
        One per feedback round: TSTR, TVD, coverage, violations, decision.
    """

    name = "htdbu"
    needs_llm = True
    uses_validation = True

    _parameter_constraints = {
        "client": [InstanceOf(LLMClient, what="an LLMClient"), None],
        "preset": [Options(("product", "paper"))],
        "rounds": [Interval(int, 0, None)],
        "skeleton": [ListOf([InstanceOf(str), InstanceOf(Rule)], min_length=0), None],
        "max_conditions": [Interval(int, 0, None)],
        "min_coverage": [Interval(float, 0, 1)],
        "max_tvd": [Interval(float, 0, 1)],
        "max_tstr_gap": [Interval(float, 0, None)],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(
        self,
        *,
        client=None,
        preset: str = "product",
        rounds: int = 2,
        skeleton=None,
        max_conditions: int = 2,
        min_coverage: float = 0.9,
        max_tvd: float = 0.3,
        max_tstr_gap: float = 0.1,
        random_state=None,
    ):
        self.client = client
        self.preset = preset
        self.rounds = rounds
        self.skeleton = skeleton
        self.max_conditions = max_conditions
        self.min_coverage = min_coverage
        self.max_tvd = max_tvd
        self.max_tstr_gap = max_tstr_gap
        self.random_state = random_state

    def structure(self) -> dict:
        """``{'skeleton': [rule text, ...]}``: the skeleton the rows were drawn in, after the feedback rounds."""
        skeleton = getattr(self, "skeleton_", None)
        return {"skeleton": [r.text for r in skeleton]} if skeleton else {}

    def pinned_params(self) -> dict:
        """``{'skeleton': [...]}`` once a skeleton is known: copies use it instead of asking the LLM."""
        return {"skeleton": self.structure()["skeleton"]} if self.structure() else {}

    def planned_calls(self, n: int, n_rules: int) -> int:
        """One call for the skeleton (none with a person's skeleton); rows come from the copulas."""
        return 0 if self.skeleton is not None else 1

    def _fit(self):
        """Keep the rule regions, score train-on-real (TSTR's baseline) and read a person's skeleton."""
        ds = self.dataset_
        self.regions_ = {
            r.id: self.train_[r.mask(self.train_)][self.columns_].reset_index(drop=True) for r in self.rules_
        }
        val = ds.val
        covered = np.any([r.mask(val) for r in self.rules_], axis=0) if len(val) else np.zeros(0, dtype=bool)
        self.val_ = val[covered] if covered.sum() >= 5 else val
        self.baseline_ = self._tstr(self.train_) if len(self.val_) else float("nan")
        self.skeleton_ = None
        self.skeleton_invalid_, self.skeleton_call_id_ = [], ""
        if self.skeleton is not None:
            self.skeleton_ = self._person_skeleton(self.skeleton)

    def _person_skeleton(self, items) -> list:
        out = []
        for item in items:
            rule = item if isinstance(item, Rule) else parse_rule(str(item))
            rule = validate_rule(rule, self.dataset_.schema)
            text = format_rule(rule)
            out.append(
                rule.with_(
                    id=rule.id or _rule_id(text),
                    origin=rule.origin if isinstance(item, Rule) else "person",
                    status="proposed",
                    note=rule.note or "H-TDBU skeleton (person)",
                )
            )
        return out

    # -- top-down ------------------------------------------------------------------------------

    def ask_skeleton(self) -> list:
        """One LLM call for the skeleton; the validated rules (also kept in ``skeleton_``).

        Raises
        ------
        LLMError
            The endpoint failed or never returned the JSON asked for.
        """
        from ..llm import prompts
        from ..llm.budget import fit_table_prompt

        if self.client is None:
            from ..llm import get_client

            self.client = get_client()
        client, ds = self.client, self.dataset_
        feats = ds.features
        k = int(self.max_conditions)
        js = skeleton_json_schema(ds.schema, target=ds.target, max_conditions=k)
        chat = client.api == "chat"

        def render(columns, summary):  # fitted to the model's context: column summaries shortened if need be
            if not chat:
                return prompts.HTDBU_SKELETON_COMPLETION.render(
                    columns=columns, target=_quote(ds.target), task=ds.task, summary=summary
                )
            return [
                {"role": "system", "content": prompts.HTDBU_SKELETON_CHAT_SYSTEM.render()},
                {
                    "role": "user",
                    "content": prompts.HTDBU_SKELETON_CHAT_USER.render(
                        columns=columns, target=_quote(ds.target), task=ds.task, summary=summary, k=k
                    ),
                },
            ]

        fitted = fit_table_prompt(
            client,
            render,
            schema=ds.schema,
            columns=feats + [ds.target],
            max_tokens=1200 if chat else 600,
            summarize=lambda m: summarize_columns(self.train_, ds.schema, feats, max_categories=m),
            what="the H-TDBU skeleton prompt",
        )
        self.skeleton_prompt_note_ = fitted.note
        if chat:
            value, comp = client.chat_json(
                fitted.prompt,
                schema=js,
                name="skeleton",
                max_tokens=1200,
                temperature=0.3,
                tag="htdbu-skeleton",
            )
        else:
            grammar = None
            if client.constrain == "grammar":
                grammar = skeleton_grammar(ds.schema, target=ds.target, max_conditions=k)
            value, comp = client.complete_json(
                fitted.prompt,
                schema=js,
                grammar=grammar,
                max_tokens=600,
                temperature=0.3,
                tag="htdbu-skeleton",
            )
        self.skeleton_call_id_ = comp.call_id
        valid, self.skeleton_invalid_ = skeleton_rules(value, ds.schema, target=ds.target)
        self.skeleton_ = valid
        return valid

    # -- bottom-up -----------------------------------------------------------------------------

    def _fit_copulas(self, skeleton, shrink: float, use_skeleton_rows: bool) -> dict:
        copulas = {}
        for rule in self.rules_:
            rows = self.regions_[rule.id]
            if use_skeleton_rows and skeleton:
                inside = rows[_satisfies(rows, skeleton)]
                if len(inside) >= max(5, len(rows) // 4):
                    rows = inside
            if len(rows) < 2:
                rows = self.train_[self.columns_]
            copulas[rule.id] = _shrink(GaussianCopula(self.dataset_.schema, self.columns_).fit(rows), shrink)
        return copulas

    def _draw(self, rule, copula, n, skeleton, rng) -> tuple[pd.DataFrame, int, int]:
        """Up to ``n`` rows inside the rule and the skeleton; (rows, drawn inside the rule, broke S).

        Draws are clipped into the skeleton's ranges (a range is the skeleton's own constraint), then kept
        inside the rule clause by clause (:func:`~synth_core.generators._region.sample_inside`)."""
        schema = self.dataset_.schema
        ranges = _range_conjunction(skeleton)
        counts = [0, 0]

        def draw(k):
            rows = clip_to_rule(copula.sample(max(int(k * 2), 16), rng), ranges, schema).reset_index(
                drop=True
            )
            inside, ok = rule.mask(rows), _satisfies(rows, skeleton)
            counts[0] += int(inside.sum())
            counts[1] += int((inside & ~ok).sum())
            return rows[ok]

        rows = sample_inside(draw, rule, n, schema, rng, real=self.regions_[rule.id])
        rows = rows[_satisfies(rows, skeleton)] if len(rows) else rows
        if not len(rows):
            rows = pd.DataFrame(columns=self.columns_)
        return rows.reset_index(drop=True), counts[0], counts[1]

    # -- feedback ------------------------------------------------------------------------------

    def _probe(self, skeleton, shrink, use_skeleton_rows, n, supports, real, rng) -> dict:
        """Fit the copulas with these settings, draw probe rows, and measure TSTR, TVD and the skeleton's fit."""
        copulas = self._fit_copulas(skeleton, shrink, use_skeleton_rows)
        probes, inside, broke = [], 0, 0
        for rule, q in zip(self.rules_, allocate(max(2 * n, 200), supports)):
            rows, ins, brk = self._draw(rule, copulas[rule.id], q, skeleton, rng)
            probes.append(rows)
            inside += ins
            broke += brk
        probe = concat_rows(probes, ignore_index=True)
        tstr = self._tstr(probe)
        gap = tstr - self.baseline_
        if self.dataset_.task == "regression" and self.baseline_ > 0:
            gap = gap / self.baseline_
        return {
            "tstr": tstr,
            "gap": gap,
            "tvd": self._tvd(probe, real),
            "coverage": float(_satisfies(real, skeleton).mean()) if skeleton and len(real) else 1.0,
            "violations": broke / inside if inside else 0.0,
        }

    def _rank(self, tried) -> tuple:
        """Order probed settings: a skeleton that admits the real rows first, then TSTR error, then TVD."""
        m = tried[-1]
        tstr = m["tstr"] if np.isfinite(m["tstr"]) else np.inf
        tvd = m["tvd"] if np.isfinite(m["tvd"]) else np.inf
        return (m["coverage"] < float(self.min_coverage) or m["violations"] > 0.5, tstr, tvd)

    def _metric_name(self) -> str:
        return "TSTR error" if self.dataset_.task == "classification" else "TSTR MSE"

    def _tstr(self, rows: pd.DataFrame) -> float:
        """Train on ``rows``, error on validation rows covered by the approved rules (never test rows)."""
        ds = self.dataset_
        rows = coerce_like(rows[self.columns_], self.train_, ds.schema)
        y = rows[ds.target]
        if len(rows) < 2 or (ds.task == "classification" and y.nunique() < 2):
            return float("nan")
        return float(
            np.mean(
                row_losses(
                    ds.schema,
                    ds.features,
                    ds.task,
                    rows,
                    self.val_,
                    ds.target,
                    model="linear" if self.preset == "paper" else None,
                    like=self.train_,
                )
            )
        )

    def _tvd(self, rows: pd.DataFrame, real: pd.DataFrame) -> float:
        """Mean over columns of the total variation distance (numbers binned on real quantiles)."""
        if len(rows) == 0 or len(real) == 0:
            return float("nan")
        out = []
        for col in self.columns_:
            spec = self.dataset_.schema[col]
            a, b = bin_codes(real[col], rows[col], spec, bins=10)
            p = np.bincount(a, minlength=max(a.max(), b.max()) + 1) / len(a)
            q = np.bincount(b, minlength=max(a.max(), b.max()) + 1) / len(b)
            out.append(0.5 * np.abs(p - q).sum())
        return float(np.mean(out))

    def _adjust(self, skeleton, real: pd.DataFrame, round_no: int) -> tuple[list, list[str]]:
        """Widen ranges to the real 1st-99th percentiles; drop constraints that exclude real rows."""
        schema, out, changes = self.dataset_.schema, [], []
        for rule in skeleton:
            ok = rule.mask(real)
            if ok.mean() >= 0.99:
                out.append(rule)
                continue
            preds = rule.conjunctions[0].predicates if len(rule.conjunctions) == 1 else ()
            if len(preds) == 1 and preds[0].op == "between":
                p = preds[0]
                x = pd.to_numeric(real[p.column], errors="coerce").dropna()
                lo_q, hi_q = np.quantile(x, [0.01, 0.99]) if len(x) else (p.value[0], p.value[1])
                lo, hi = min(p.value[0], lo_q), max(p.value[1], hi_q)
                if schema[p.column].kind == "integer":
                    lo, hi = int(math.floor(lo)), int(math.ceil(hi))
                else:
                    lo, hi = float(lo), float(hi)
                wide = Rule(conjunctions=(Conjunction((Predicate(p.column, "between", (lo, hi)),)),))
                text = format_rule(wide)
                out.append(
                    rule.with_(
                        conjunctions=wide.conjunctions,
                        id=_rule_id(text),
                        note=f"{rule.note}; widened in round {round_no} "
                        f"(admitted {ok.mean():.0%} of real rows)",
                    )
                )
                changes.append(f"widened {rule.text} to {text}")
            else:
                changes.append(f"dropped {rule.text} (admits {ok.mean():.0%} of real rows)")
        return out, changes

    # -- generate ------------------------------------------------------------------------------

    def generate(self, n: int, *, progress=None, cancel=None) -> Generation:
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        started = time.perf_counter()
        rng = np.random.default_rng(self.random_state)
        rounds = int(self.rounds)
        total = rounds + 3
        messages, cancelled, llm_error = [], False, None
        before = usage_before(self.client) if self.client is not None else {}
        if progress:
            progress(0, total, "htdbu: asking the LLM for a rule skeleton")
        if self.skeleton_ is None:
            try:
                self.ask_skeleton()
            except LLMError as exc:
                llm_error = exc
                self.skeleton_ = []
                messages.append(
                    f"H-TDBU: the LLM skeleton call failed ({exc}); falling back to the approved "
                    "rules alone as the skeleton."
                )
            else:
                if self.skeleton_:
                    messages.append(
                        f"H-TDBU: the LLM proposed {len(self.skeleton_)} skeleton constraint(s) "
                        f"(call {self.skeleton_call_id_}): " + "; ".join(r.text for r in self.skeleton_)
                    )
                else:
                    messages.append(
                        "H-TDBU: the LLM skeleton had no valid constraint; falling back to the "
                        "approved rules alone as the skeleton."
                    )
                if self.skeleton_invalid_:
                    messages.append(
                        f"H-TDBU: {len(self.skeleton_invalid_)} skeleton part(s) were invalid: "
                        + "; ".join(f"{t} ({e})" for t, e in self.skeleton_invalid_[:5])
                    )
                if getattr(self, "skeleton_prompt_note_", ""):
                    messages.append(f"H-TDBU: the skeleton prompt was {self.skeleton_prompt_note_}.")
        elif self.skeleton is not None:
            messages.append(
                f"H-TDBU: using the given skeleton ({len(self.skeleton_)} constraint(s)); no LLM call."
            )
        skeleton = list(self.skeleton_)
        real = concat_rows(list(self.regions_.values()), ignore_index=True) if self.regions_ else self.train_
        supports = [max(len(self.regions_[r.id]), 1) for r in self.rules_]
        quotas = allocate(n, supports)
        shrink, use_skeleton_rows = 0.0, True
        self.decisions_ = []
        tried = []  # (round, skeleton, shrink, use_skeleton_rows, probe figures) of every setting probed
        final_round, decision = 1, "keep"
        for r in range(1, rounds + 1):
            if is_cancelled(cancel):
                cancelled = True
                break
            if progress:
                progress(r, total, f"htdbu: feedback round {r}/{rounds}")
            m = self._probe(skeleton, shrink, use_skeleton_rows, n, supports, real, rng)
            tried.append((r, list(skeleton), shrink, use_skeleton_rows, m))
            if skeleton and (m["coverage"] < float(self.min_coverage) or m["violations"] > 0.5):
                skeleton, changes = self._adjust(skeleton, real, r)
                decision = "adjust constraints: " + ("; ".join(changes) or "none needed")
            elif (
                (np.isfinite(m["tvd"]) and m["tvd"] > float(self.max_tvd))
                or not np.isfinite(m["tstr"])
                or m["gap"] > float(self.max_tstr_gap)
            ):
                shrink = min(shrink + 0.25, 0.75)
                use_skeleton_rows = False
                decision = (
                    f"retrain the model: copulas refitted on all region rows with correlation "
                    f"shrinkage {shrink:.2f}"
                )
            else:
                decision = "keep: skeleton and model pass"
            final_round = r + (0 if decision.startswith("keep") else 1)
            self.decisions_.append(
                {
                    "round": r,
                    "tstr_error": m["tstr"],
                    "real_only_error": self.baseline_,
                    "tvd": m["tvd"],
                    "coverage": m["coverage"],
                    "violations": m["violations"],
                    "decision": decision,
                }
            )
            messages.append(
                f"H-TDBU round {r}: {self._metric_name()} {m['tstr']:.4g} on validation rows "
                f"(train-on-real {self.baseline_:.4g}), mean TVD {m['tvd']:.3f}, skeleton admits "
                f"{m['coverage']:.0%} of real rows and rejected {m['violations']:.0%} of drawn rows "
                f"-> {decision}."
            )
            if decision.startswith("keep"):
                break
        if tried and not decision.startswith("keep") and not cancelled and not is_cancelled(cancel):
            # the last round changed the settings: probe them too, and draw with the best setting seen
            m = self._probe(skeleton, shrink, use_skeleton_rows, n, supports, real, rng)
            tried.append((final_round, list(skeleton), shrink, use_skeleton_rows, m))
            final_round, skeleton, shrink, use_skeleton_rows, best = min(tried, key=self._rank)
            messages.append(
                f"H-TDBU check after round {tried[-2][0]}: {self._metric_name()} {m['tstr']:.4g}, "
                f"mean TVD {m['tvd']:.3f}; rows are drawn with the settings of "
                + ("that check" if final_round == tried[-1][0] else f"round {final_round}")
                + f" ({self._metric_name()} {best['tstr']:.4g}, the best on validation rows)."
            )
        self.skeleton_ = skeleton
        parts, summary = [], []
        if not cancelled and not is_cancelled(cancel):
            if progress:
                progress(rounds + 1, total, "htdbu: drawing the rows")
            copulas = self._fit_copulas(skeleton, shrink, use_skeleton_rows)
            for rule, q in zip(self.rules_, quotas):
                if is_cancelled(cancel):
                    cancelled = True
                    messages.append(f"cancelled at rule {rule.id}; {sum(len(p) for p in parts)} rows kept.")
                    break
                rows, inside, broke = (
                    self._draw(rule, copulas[rule.id], q, skeleton, rng)
                    if q > 0
                    else (pd.DataFrame(columns=self.columns_), 0, 0)
                )
                lost = 0
                if len(rows):
                    rows = coerce_like(rows[self.columns_], self.train_, self.dataset_.schema)
                    parts.append(
                        provenance_frame(rows, generator=self.name, rule_id=rule.id, iteration=final_round)
                    )
                    lost = recheck_typed(parts[-1], {rule.id: rule}).get(str(rule.id), 0)
                summary.append(
                    {
                        "rule_id": rule.id,
                        "rule": rule.text,
                        "requested": q,
                        "accepted": len(rows) - lost,
                        "rejected": lost,
                        "broke_skeleton": broke,
                    }
                )
                if q > 0 and len(rows) == 0:
                    messages.append(
                        f"rule {rule.id}: no row satisfies both the rule and the skeleton; edit or "
                        "reject skeleton constraints (they are proposals) and run again."
                    )
        else:
            cancelled = True
            messages.append("cancelled during the feedback loop; no rows were drawn.")
        if progress:
            progress(total, total, "htdbu: done")
        rows = concat_rows(parts, ignore_index=True) if parts else self._empty()
        return Generation(
            rows=rows,
            per_rule=pd.DataFrame(summary),
            messages=messages,
            usage=usage_delta(self.client, before) if self.client is not None else {},
            proposals=list(skeleton),
            cancelled=cancelled,
            seconds=time.perf_counter() - started,
            error=llm_error,
        )
