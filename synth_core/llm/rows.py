"""Synthetic rows from an LLM: exemplar prompts, constrained decoding, strict parsing, counted rejections.

:func:`generate_rows` asks for ``rows_per_call`` rows per call with a few
exemplar rows that satisfy the rule, under a GBNF grammar built from the
Schema and the rule (embedded / llama.cpp servers), or a JSON schema of rows
(chat endpoints), or nothing. It checks its arguments, runs the calls in rounds
until enough rows are accepted, and counts what they cost (:class:`RowBatch`).
The work of one batch is split over three modules:

- :mod:`~synth_core.llm.row_prompt`: one call's prompt (exemplars drawn per
  call, fitted to the context), sent and decoded (:class:`~synth_core.llm.row_prompt.RowPrompt`);
- :mod:`~synth_core.llm.row_text`: the two text forms of rows (``'csv'``,
  ``'jsonl'``), written into prompts and decoded from replies;
- :mod:`~synth_core.llm.row_check`: which decoded rows are accepted, the
  safety net whatever constrained the model (:func:`parse_rows`): LLM output
  is untrusted, never raises, and each rejected line is kept with its reason
  (see :data:`REJECTION_REASONS`).

The names that moved are importable from here too, as before.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from .._frames import concat_rows
from ..errors import GenerationError
from ._domain import generated_columns
from .row_check import REJECTION_REASONS, check_records, parse_rows, real_row_keys, typed_frame
from .row_prompt import RowPrompt, stratified_rows
from .row_text import FORMATS, category_dial, describe_columns, format_rows, hidden_categories

__all__ = [
    "RowBatch",
    "generate_rows",
    "parse_rows",
    "format_rows",
    "describe_columns",
    "hidden_categories",
    "REJECTION_REASONS",
    "FORMATS",
    "SHAPES",
    "stratified_rows",
    "real_row_keys",
    "category_dial",
]

#: Prompt shapes: ``'rows'`` (a rule and exemplar rows) and ``'dgr'`` (DATE's DGR-based examples: other rules'
#: rows first, one block per rule, then the rule to write for with exemplars stratified by the target).
SHAPES = ("rows", "dgr")


@dataclass
class RowBatch:
    """Rows from :func:`generate_rows` and what they cost.

    Attributes
    ----------
    rows : DataFrame
        Accepted rows (features and target) coerced to the examples' dtypes.
    rejected : list of (str, str)
        Each rejected raw line with its reason.
    reasons : Counter
        Rejections by reason.
    call_ids : list of str
        Every call made for this batch, in order.
    row_call_ids : list of str
        For each accepted row, the call that wrote it (row provenance).
    usage : dict
        This batch only: calls, cache_hits, prompt_tokens, completion_tokens,
        seconds, accepted, rejected, accepted_fraction, tokens_per_accepted_row.
    cancelled : bool
        ``cancel()`` stopped the batch early.
    prompts : list of str
        The first prompt sent (for display and debugging; no secrets are in prompts).
    left_out : Counter
        What prompts left out to fit the model's context, summed over calls
        (``'exemplar rows'``, and ``'category values'`` on chat endpoints).
    shortened_calls : int
        Calls whose prompt was shortened.
    note : str
        The first shortened call's note for a person (``''`` when none was shortened).
    """

    rows: pd.DataFrame
    rejected: list = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    call_ids: list = field(default_factory=list)
    row_call_ids: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    cancelled: bool = False
    prompts: list = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    shortened_calls: int = 0
    note: str = ""

    @property
    def accepted_fraction(self) -> float | None:
        total = len(self.rows) + len(self.rejected)
        return len(self.rows) / total if total else None


def generate_rows(
    client,
    *,
    schema,
    target: str,
    rule,
    examples: pd.DataFrame,
    n: int,
    real_rows: pd.DataFrame | None = None,
    fmt: str = "csv",
    tag: str | None = None,
    rows_per_call: int = 5,
    n_examples: int = 10,
    max_calls: int | None = None,
    start_sample: int = 0,
    use_constraints: bool = True,
    table_name: str = "table",
    range_slack: float = 0.1,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    shape: str = "rows",
    blocks=(),
    stratify: bool = False,
    tolerance: str = "",
    real_keys: set | None = None,
) -> RowBatch:
    """Ask the LLM for ``n`` new rows that satisfy ``rule``, few-shot from ``examples``.

    Each call shows up to ``n_examples`` exemplar rows (rows of ``examples``
    that satisfy the rule, else any), drawn afresh per call from the settings'
    seed and the call's sample index (so a replay builds the same prompts and
    is served from the cache), and asks for ``rows_per_call`` rows. Calls run
    in rounds through :meth:`LLMClient.map` (bounded concurrency) until ``n``
    rows are accepted, ``max_calls`` is spent, or ``cancel()`` is true.

    Parameters
    ----------
    client : LLMClient or FakeLLM
    schema : Schema
    target : str
    rule : Rule or None
        ``None`` asks for any rows of the table.
    examples : DataFrame
        Real rows to show (train rows only: never test rows).
    n : int
        Rows wanted.
    real_rows : DataFrame, optional
        Rows a generated row must not copy (default: ``examples``).
    fmt : {'csv', 'jsonl'}
        Row text form for completion prompts (chat endpoints always use JSON).
    tag : str, optional
        Accounting tag (default: the rule's id).
    rows_per_call, n_examples : int
    max_calls : int, optional
        Default ``3 * ceil(n / rows_per_call) + 2``.
    start_sample : int
        First sample index; give later iterations other indices to get new rows
        rather than cached ones.
    use_constraints : bool
        Send the grammar / JSON schema (turn off to measure what it brings).
    table_name : str
        Named in the prompt's comment line.
    range_slack : float
        See :func:`parse_rows`.
    progress : callable, optional
        ``progress(fraction, message)`` in the calling thread.
    cancel : callable, optional
        Checked before each call; the rows so far are returned.
    shape : {'rows', 'dgr'}
        ``'dgr'``: DATE's DGR-based prompt (see :data:`SHAPES`): ``blocks`` first, then the rule's
        exemplars; CSV rows on completion endpoints, JSON on chat endpoints.
    blocks : sequence of (str, DataFrame)
        ``'dgr'`` only: the other DGR-based examples (rule text, its rows), shown before the rule written
        for. Fewer rows per block are shown when the prompt would not fit the context.
    stratify : bool
        Draw the exemplars stratified by the target (:func:`stratified_rows`) instead of at random.
    tolerance : str
        ``'dgr'`` only: the shared model's error bound as shown in the prompt (e.g. ``'0.05'``).
    real_keys : set, optional
        ``real_row_keys(real_rows, schema, generated columns)`` computed once by a caller that makes many
        one-call batches on the same real rows (it is most of a call's CPU time on a few thousand rows);
        read only. Default: computed from ``real_rows``.

    Returns
    -------
    RowBatch

    Raises
    ------
    GenerationError
        Bad arguments (unknown format, target or columns missing from
        ``examples``, a rule no row inside the observed ranges can satisfy).
    ContextLengthError
        The header and one exemplar row with the answer do not fit the model's
        context (an :class:`~synth_core.errors.LLMError`). Fewer exemplars
        than ``n_examples`` are shown when all would not fit
        (:attr:`RowBatch.left_out`).
    LLMError
        From the client, when the endpoint fails.
    """
    if fmt not in FORMATS:
        raise GenerationError(f"row format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if shape not in SHAPES:
        raise GenerationError(f"prompt shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    if shape == "dgr" and fmt != "csv" and client.api != "chat":
        raise GenerationError("the DGR-based prompt is written for CSV rows (completion) or chat endpoints")
    if n < 1 or rows_per_call < 1 or n_examples < 1:
        raise GenerationError("n, rows_per_call and n_examples must be at least 1")
    if target not in schema:
        raise GenerationError(f"target {target!r} is not a column of the schema")
    columns = generated_columns(schema, target)
    missing = [c for c in columns if c not in examples.columns]
    if missing:
        raise GenerationError(
            f"the example rows lack column(s) {', '.join(map(repr, missing))}: pass rows of the same table"
        )
    if len(examples) == 0:
        raise GenerationError("no example rows: the LLM needs a few real rows to continue")
    tag = tag if tag is not None else (getattr(rule, "id", "") or "")
    pool = examples
    if rule is not None:
        matching = examples[rule.mask(examples)]
        if len(matching):
            pool = matching
    dtypes = {c: examples[c].dtype for c in columns}
    if real_keys is None:
        real_keys = real_row_keys(examples if real_rows is None else real_rows, schema, columns)
    prompt = RowPrompt(
        client,
        schema=schema,
        columns=columns,
        target=target,
        rule=rule,
        pool=pool,
        fmt=fmt,
        shape=shape,
        blocks=blocks,
        stratify=stratify,
        tolerance=tolerance,
        table_name=table_name,
        rows_per_call=rows_per_call,
        n_examples=n_examples,
        tag=tag,
        use_constraints=use_constraints,
    )
    max_calls = max_calls if max_calls is not None else 3 * math.ceil(n / rows_per_call) + 2

    accepted: list[pd.DataFrame] = []
    batch = RowBatch(rows=pd.DataFrame(columns=columns))
    seen: set = set()
    n_accepted = n_parsed = calls = 0
    sample = start_sample
    tokens = {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0, "cache_hits": 0, "calls": 0}
    while n_accepted < n and calls < max_calls:
        rate = n_accepted / n_parsed if n_parsed else 1.0
        per_call = rows_per_call * max(rate, 0.25)
        k = min(math.ceil((n - n_accepted) / per_call), max_calls - calls)
        jobs = list(range(sample, sample + k))
        sample += k
        done_before = calls

        def on_progress(done, total, _before=done_before, _accepted=n_accepted):
            if progress is not None:
                progress(
                    min(1.0, _accepted / n), f"{_before + done} call(s), {_accepted} of {n} rows accepted"
                )

        results = client.map(prompt.call, jobs, progress=on_progress, cancel=cancel)
        for request, comp, items, fitted in results:
            calls += 1
            if fitted.left_out:
                batch.left_out.update(fitted.left_out)
                batch.shortened_calls += 1
                batch.note = batch.note or fitted.note
            if not batch.prompts:
                batch.prompts.append(
                    request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
                )
            batch.call_ids.append(comp.call_id)
            tokens["cache_hits" if comp.cached else "calls"] += 1
            if not comp.cached:
                tokens["prompt_tokens"] += comp.prompt_tokens
                tokens["completion_tokens"] += comp.completion_tokens
                tokens["seconds"] += comp.seconds
            frame, rejected, _ = check_records(
                items,
                schema=schema,
                columns=columns,
                target=target,
                rule=rule,
                real_keys=real_keys,
                seen=seen,
                range_slack=range_slack,
                dtypes=dtypes,
            )
            n_parsed += len(items)
            batch.rejected.extend(rejected)
            if len(frame):
                accepted.append(frame)
                batch.row_call_ids.extend([comp.call_id] * len(frame))
                n_accepted += len(frame)
            client.usage.add_rows(tag, accepted=len(frame), rejected=len(rejected))
        if progress is not None:
            progress(min(1.0, n_accepted / n), f"{calls} call(s), {n_accepted} of {n} rows accepted")
        if len(results) < len(jobs):
            batch.cancelled = True
            break
    rows = concat_rows(accepted, ignore_index=True) if accepted else typed_frame([], columns, schema, dtypes)
    if len(rows) > n:
        rows = rows.iloc[:n].reset_index(drop=True)
        batch.row_call_ids = batch.row_call_ids[:n]
    batch.rows = rows
    batch.reasons = Counter(reason for _, reason in batch.rejected)
    total_tokens = tokens["prompt_tokens"] + tokens["completion_tokens"]
    n_out = n_accepted + len(batch.rejected)
    batch.usage = {
        **tokens,
        "seconds": round(tokens["seconds"], 3),
        "accepted": len(rows),
        "rejected": len(batch.rejected),
        "accepted_fraction": round(n_accepted / n_out, 4) if n_out else None,
        "tokens_per_accepted_row": round(total_tokens / n_accepted, 1) if n_accepted else None,
    }
    return batch
