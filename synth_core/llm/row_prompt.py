"""The prompt of one row call: exemplars drawn per call, the context fitted, the reply decoded.

:class:`RowPrompt` is built once per :func:`~synth_core.llm.rows.generate_rows`
batch from everything its calls share (the Schema, the exemplar pool, the
rule's text, the prompt shape, the grammar or JSON schema, ...). Its
:meth:`~RowPrompt.build` draws one call's exemplars from the settings' seed and
the call's sample index, so a replay builds the same prompt and is answered
from the cache, and gives up exemplars (and, for ``'dgr'``, other rules' rows;
on chat endpoints, category values) until prompt and answer fit the model's
context; :meth:`~RowPrompt.call` sends it and decodes the reply.
:func:`stratified_rows` is DATE's stratified draw of exemplars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GenerationError
from . import prompts
from .budget import Dial, fit_prompt, prompt_budget
from .grammar import row_grammar, rows_json_schema
from .row_text import (
    category_dial,
    decode_chat_rows,
    decode_lines,
    describe_columns,
    format_rows,
    max_row_chars,
    one_line,
)

__all__ = ["RowPrompt", "stratified_rows"]


@dataclass(eq=False)
class RowPrompt:
    """How every call of one row batch is asked and its reply decoded.

    Parameters
    ----------
    client : LLMClient or FakeLLM
    schema : Schema
    columns : list of str
        The generated columns (features and target), in the order rows are written.
    target : str
    rule : Rule or None
        ``None`` asks for any rows of the table.
    pool : DataFrame
        The rows exemplars are drawn from.
    fmt, shape, blocks, stratify, tolerance, table_name, rows_per_call, n_examples, tag, use_constraints
        As :func:`~synth_core.llm.rows.generate_rows` takes them.

    Attributes
    ----------
    api : {'completion', 'chat'}
    constrain : str
        The constraint sent: the client's, or ``'none'`` without ``use_constraints``.
    rule_text : str
        The rule as the prompt shows it, on one line (``'TRUE'`` for no rule).
    grammar : str or None
        The GBNF of the answer (completion endpoints that take a grammar).
    json_schema : dict or None
        The JSON schema of the answer (chat endpoints that take one).
    seed : int
        The settings' seed (0 when unset); with the sample index it draws a call's exemplars.
    row_fmt : {'csv', 'jsonl'}
        The form exemplar rows are written in (``'jsonl'`` on chat endpoints).
    row_bound : int
        The longest row the grammar allows, in characters (sizes the answer's ``max_tokens``).
    fix : str
        What a person can do when even the shortest prompt does not fit.

    Raises
    ------
    GenerationError
        The grammar or JSON schema cannot be built (a rule no row inside the observed ranges can satisfy).
    """

    client: Any
    schema: Any
    columns: list
    target: str
    rule: Any
    pool: pd.DataFrame = field(repr=False)
    fmt: str = "csv"
    shape: str = "rows"
    blocks: Any = field(default=(), repr=False)
    stratify: bool = False
    tolerance: str = ""
    table_name: str = "table"
    rows_per_call: int = 5
    n_examples: int = 10
    tag: str = ""
    use_constraints: bool = True
    api: str = field(init=False)
    constrain: str = field(init=False)
    rule_text: str = field(init=False)
    grammar: str | None = field(init=False, repr=False)
    json_schema: dict | None = field(init=False, repr=False)
    seed: int = field(init=False)
    row_fmt: str = field(init=False)
    row_bound: int = field(init=False)
    fix: str = field(init=False, repr=False)

    def __post_init__(self):
        schema, columns, rule, target = self.schema, self.columns, self.rule, self.target
        self.rule_text = one_line(rule.text) if rule is not None else "TRUE"
        self.api = api = self.client.api
        self.constrain = constrain = self.client.constrain if self.use_constraints else "none"
        try:
            if api == "completion" and constrain == "grammar":
                self.grammar = row_grammar(
                    schema, columns, rule, target=target, fmt=self.fmt, n_rows=self.rows_per_call
                )
            else:
                self.grammar = None
            self.json_schema = (
                rows_json_schema(schema, columns, rule, target=target, n_rows=self.rows_per_call)
                if api == "chat" and constrain == "json_schema"
                else None
            )
        except ValueError as exc:
            raise GenerationError(f"cannot generate rows for rule {self.rule_text!r}: {exc}") from exc
        settings = self.client.settings
        self.seed = settings.seed if settings.seed is not None else 0
        self.row_fmt = "jsonl" if api == "chat" else self.fmt
        self.row_bound = max_row_chars(schema, columns, self.row_fmt)
        self.fix = (
            f"Its irreducible part is the {len(columns)} columns' header and one exemplar row: use an endpoint "
            "with a larger context (SYNTH_LLM_CONTEXT / LLMSettings.context_tokens), a table with fewer columns, "
            "or fewer rows per call."
        )

    # ------------------------------------------------------------------ one call

    def call(self, sample: int):
        """Build call ``sample``'s prompt and send it: ``(request, completion, decoded rows, fitted)``."""
        request, max_tokens, fitted = self.build(sample)
        client, constrain, tag = self.client, self.constrain, self.tag
        if self.api == "chat":
            if constrain == "json_schema":
                fmt_arg = {
                    "type": "json_schema",
                    "json_schema": {"name": "rows", "schema": self.json_schema, "strict": True},
                }
            elif constrain in ("json_object", "grammar"):
                fmt_arg = {"type": "json_object"}
            else:
                fmt_arg = None
            comp = client.chat(
                request, response_format=fmt_arg, max_tokens=max_tokens, sample=sample, tag=tag
            )
            return request, comp, decode_chat_rows(comp.text), fitted
        grammar = self.grammar
        stop = None if grammar else ["\n\n", "\n#"]
        comp = client.complete(
            request, grammar=grammar, max_tokens=max_tokens, stop=stop, sample=sample, tag=tag
        )
        return request, comp, decode_lines(comp.text, self.fmt), fitted

    def build(self, sample: int):
        """(request, max_tokens, fitted) for call ``sample``: exemplars dropped from the end until prompt + answer fit."""
        rng = np.random.default_rng([abs(self.seed), sample])
        # the exemplars are drawn first, then the blocks' rows: this order fixes the prompt (the cache key)
        lines = self._exemplar_lines(rng)
        blocks = self._block_lines(rng)
        per_block = max((len(b) for _, b in blocks), default=0)
        block_dial = Dial(
            "other rules' rows",
            range(per_block, -1, -1),
            left_out=lambda v: sum(max(len(b) - v, 0) for _, b in blocks),
            total=sum(len(b) for _, b in blocks),
        )
        per_row = max(max(len(line) for line in lines[1:] or lines), self.row_bound) + 2
        max_tokens = self.rows_per_call * per_row + 16
        if self.api == "chat":
            max_tokens *= 2
            render = partial(self._chat_messages, lines=lines, blocks=blocks)
            dials = [
                block_dial,
                Dial("exemplar rows", range(len(lines), min(len(lines), 3) - 1, -1)),
                category_dial(self.schema, self.columns),
                Dial("exemplar rows", range(min(len(lines), 3), 0, -1)),
            ]
        else:
            body = lines[1:] if self.fmt == "csv" else lines
            render = partial(self._completion_prompt, lines=lines, blocks=blocks)
            dials = [block_dial, Dial("exemplar rows", range(len(body), 0, -1))]
        fitted = fit_prompt(
            render,
            prompt_budget(self.client, max_tokens),
            dials,
            what=f"the row prompt for rule {self.rule_text!r}",
            fix=self.fix,
        )
        return fitted.prompt, max_tokens, fitted

    # ------------------------------------------------------------------ its parts

    def _exemplar_lines(self, rng) -> list[str]:
        """The call's exemplar rows from the pool, as lines (a header line first in CSV form)."""
        pool = self.pool
        k = min(self.n_examples, len(pool))
        if self.stratify:
            ex = stratified_rows(pool, k, self.target, rng)
        else:
            ex = pool.iloc[rng.choice(len(pool), size=k, replace=False)]
        return format_rows(ex, schema=self.schema, columns=self.columns, fmt=self.row_fmt)

    def _block_lines(self, rng) -> list[tuple[str, list[str]]]:
        """``'dgr'`` only: (rule text, row lines) of each other rule that has rows."""
        n_examples, target = self.n_examples, self.target
        shown = []
        for text, rows in self.blocks if self.shape == "dgr" else ():
            if len(rows) == 0:
                continue
            bk = (
                stratified_rows(rows, n_examples, target, rng)
                if self.stratify
                else rows.iloc[rng.choice(len(rows), size=min(n_examples, len(rows)), replace=False)]
            )
            body_lines = format_rows(
                bk, schema=self.schema, columns=self.columns, fmt=self.row_fmt, header=False
            )
            shown.append((one_line(str(text)), body_lines))
        return shown

    def _chat_messages(self, plan: dict, *, lines: list[str], blocks) -> list[dict]:
        """The chat request at ``plan``'s settings."""
        columns, target = self.columns, self.target
        keys = ", ".join(json.dumps(c, ensure_ascii=False) for c in columns)
        described = describe_columns(self.schema, columns, max_categories=plan["category values"])
        shown = "\n".join(lines[: plan["exemplar rows"]])
        if self.shape == "dgr":
            user = prompts.DGR_ROWS_CHAT_USER.render(
                columns=described,
                target=json.dumps(target, ensure_ascii=False),
                tolerance=self.tolerance or "n/a",
                blocks=_block_text(blocks, plan["other rules' rows"]),
                rule=self.rule_text,
                examples=shown,
                k=self.rows_per_call,
                keys=keys,
            )
        else:
            user = prompts.ROWS_CHAT_USER.render(
                columns=described, rule=self.rule_text, examples=shown, k=self.rows_per_call, keys=keys
            )
        return [
            {"role": "system", "content": prompts.ROWS_CHAT_SYSTEM.render()},
            {"role": "user", "content": user},
        ]

    def _completion_prompt(self, plan: dict, *, lines: list[str], blocks) -> str:
        """The completion prompt at ``plan``'s settings."""
        header = lines[0] if self.fmt == "csv" else None
        body = lines[1:] if self.fmt == "csv" else lines
        shown = "\n".join(body[: plan["exemplar rows"]])
        table = one_line(self.table_name)
        if self.shape == "dgr":
            return prompts.DGR_ROWS_COMPLETION_CSV.render(
                table=table,
                target=json.dumps(self.target, ensure_ascii=False),
                tolerance=self.tolerance or "n/a",
                header=header,
                blocks=_block_text(blocks, plan["other rules' rows"]),
                rule=self.rule_text,
                examples=shown,
            )
        if self.fmt == "csv":
            return prompts.ROWS_COMPLETION_CSV.render(
                table=table, rule=self.rule_text, header=header, examples=shown
            )
        return prompts.ROWS_COMPLETION_JSONL.render(table=table, rule=self.rule_text, examples=shown)


def _block_text(blocks, count: int) -> str:
    """Each block's first ``count`` rows under its ``# rows where RULE`` line (none at ``count`` 0)."""
    out = []
    for text, body in blocks:
        if count <= 0:
            break
        out.append(f"# rows where {text}\n" + "".join(line + "\n" for line in body[:count]))
    return "".join(out)


def stratified_rows(frame: pd.DataFrame, k: int, target: str, rng) -> pd.DataFrame:
    """``k`` rows of ``frame`` stratified by ``target`` (DATE's "stratified sampling" of example rows).

    Strata are the target's values, or its quartiles for a number with more than 10 values. Each stratum
    gets a share of the ``k`` rows proportional to its rows (largest remainder), at least one when ``k``
    allows, never more than it has; the rows come back in random order.

    Examples
    --------
    >>> df = pd.DataFrame({"x": range(10), "y": ["a"] * 8 + ["b"] * 2})
    >>> sorted(stratified_rows(df, 5, "y", np.random.default_rng(0))["y"])
    ['a', 'a', 'a', 'a', 'b']
    """
    k = min(int(k), len(frame))
    if k <= 0:
        return frame.iloc[:0]
    y = frame[target]
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and y.nunique(dropna=True) > 10:
        codes = pd.qcut(y.rank(method="first"), 4, labels=False).to_numpy()
        codes = np.where(np.isnan(codes), -1, codes).astype(int)
    else:
        codes = pd.factorize(y.astype(object), use_na_sentinel=True)[0]
    strata = [np.flatnonzero(codes == c) for c in np.unique(codes)]
    sizes = np.array([len(p) for p in strata], dtype=float)
    raw = k * sizes / sizes.sum()
    take = np.minimum(np.floor(raw).astype(int), sizes.astype(int))
    if k >= len(strata):
        take = np.maximum(take, 1)
    while take.sum() > k:
        take[int(np.argmax(take))] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    while take.sum() < k:
        grew = False
        for i in order:
            if take.sum() >= k:
                break
            if take[i] < sizes[i]:
                take[i] += 1
                grew = True
        if not grew:
            break
    chosen = np.concatenate([rng.choice(p, size=t, replace=False) for p, t in zip(strata, take) if t > 0])
    return frame.iloc[chosen[rng.permutation(len(chosen))]]
