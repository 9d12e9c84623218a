"""Token budgets: every prompt is fitted to the model's context window before it is sent.

A request needs ``prompt + max_tokens`` tokens of context. Servers refuse (or,
like ``llama_cpp.server``, silently shorten the answer) when that is more than
their window, so each prompt builder asks :func:`fit_prompt` for the fullest
version of its prompt that fits, and says what it left out:

>>> from synth_core.llm.testing import FakeLLM
>>> budget = prompt_budget(FakeLLM(context_tokens=600), max_tokens=100)
>>> budget.room
436
>>> rules = [f"rule number {i}: x{i} > {i * 1000}" for i in range(40)]
>>> fit = fit_prompt(lambda plan: "Current rules:\\n" + "\\n".join(rules[: plan["current rules"]]), budget,
...                  [Dial("current rules", range(40, -1, -1))], what="a rule proposal")
>>> fit.plan, fit.left_out, fit.tokens <= budget.room
({'current rules': 25}, {'current rules': 15}, True)
>>> fit.note
'shortened to fit the context of 600 tokens: left out 15 of 40 current rules'

Token counts are estimated, not tokenized: a replayed run is answered from the
cache without starting the embedded server, so the prompt (and thus what is
left out) must not depend on a tokenizer endpoint. :func:`estimate_tokens` is
calibrated on Gemma 3's tokenizer (262k vocabulary, every digit one token):
digits and ASCII punctuation count one token each, a run of ASCII letters one
token per two letters (one for the templates' own words, such as ``integer`` or
``categorical``), a space before a non-letter one token, other
whitespace one per run, and any other character its UTF-8 bytes (a token
covers at least one byte). Measured against the real tokenizer
(``llama_cpp.Llama(vocab_only=True)``), estimate / real: numeric CSV 1.00-1.04,
mixed CSV 1.47, JSON rows 1.58, English prose 1.99, hex ids 1.01, random
printable ASCII 1.03, accented text 2.3, CJK 6.0, random letters 0.86 (the one
under-count; the margin covers it). Prompts here are mostly digits and
punctuation, where the estimate is close, and it errs high elsewhere.

The margin left free is ``max(64, context // 32)`` tokens (256 of 8192).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import LLMResponseError

__all__ = [
    "ContextLengthError",
    "Budget",
    "Dial",
    "Fitted",
    "estimate_tokens",
    "estimate_chat_tokens",
    "prompt_budget",
    "fit_prompt",
    "fit_table_prompt",
    "context_refusal",
]

#: Per chat message: the role and the template's turn markers.
_MESSAGE_OVERHEAD = 8
#: Per chat request: the template's start and the assistant's turn.
_CHAT_OVERHEAD = 16
_RUN = re.compile(r"[0-9]|[A-Za-z]+|\n|[ \t\r\f\v]+|[\x00-\x7f]|[^\x00-\x7f]")
#: Words of the prompt templates and column descriptions that Gemma 3's tokenizer writes as one token,
#: alone and after a space (checked with ``llama_cpp.Llama(vocab_only=True)``; a test checks them again).
_ONE_TOKEN_WORDS = frozenset(
    """
    AND Columns Current DATE Decision Delta Directed Every Example Feedback JSON New Reply Rule
    Rules Skeleton Summary Table Target Text The Write You all allowed and augmentation between
    boolean categorical categories category cause classification col column columns condition
    constraints content copy covering current data datetime decimal dependencies dependency depends
    different directed each edge edges effect else error every exact exactly example examples false
    feedback follow for form forming from gain graph group groups header high instructions integer
    into joined keys language line logical low max median method min missing model more most must
    name names never new none not nothing number numeric object one only paths patterns per point
    populations predicate quotes range ranges realistic reason regression row rows rule rules same
    says sets shown simple single skeleton split strings structure sub summary table target task
    text that the then these this treat tree true type use validation value values well where which
    whose with write
    """.split()
)


class ContextLengthError(LLMResponseError):
    """A prompt that does not fit the model's context window, found before sending or refused by the server.

    Attributes
    ----------
    context_tokens : int or None
        The context window (``None`` when the server did not say).
    requested_tokens : int or None
        Prompt plus answer (estimated before sending; as the server counted them after).
    """

    def __init__(
        self, message: str, *, context_tokens: int | None = None, requested_tokens: int | None = None
    ):
        super().__init__(message)
        self.context_tokens = context_tokens
        self.requested_tokens = requested_tokens


def estimate_tokens(text: str) -> int:
    """A conservative estimate of Gemma 3's token count for ``text`` (see the module docstring).

    Examples
    --------
    >>> estimate_tokens('age,job\\n41,"admin."')  # letters 2+2+3, digits 2, punctuation 5, newline 1
    15
    >>> estimate_tokens("12345"), estimate_tokens("")
    (5, 0)
    """
    n = 0
    for m in _RUN.finditer(text):
        s = m.group()
        c = s[0]
        if c.isascii() and c.isalpha():
            n += 1 if s in _ONE_TOKEN_WORDS else (len(s) + 1) // 2
        elif c in " \t\r\f\v":
            after = text[m.end() : m.end() + 1]
            n += 0 if s == " " and after.isascii() and after.isalpha() else 1
        elif c.isascii():
            n += 1
        else:
            n += len(s.encode("utf-8"))
    return n


def estimate_chat_tokens(messages: Iterable[dict]) -> int:
    """:func:`estimate_tokens` of every message's content, plus the chat template's overhead."""
    total = _CHAT_OVERHEAD
    for m in messages:
        total += _MESSAGE_OVERHEAD + estimate_tokens(str(m.get("content", "")))
    return total


def _cost(prompt) -> int:
    return estimate_tokens(prompt) if isinstance(prompt, str) else estimate_chat_tokens(prompt)


@dataclass(frozen=True)
class Budget:
    """The tokens one request may spend on its prompt.

    Attributes
    ----------
    context : int or None
        The endpoint's context window; ``None``: unknown, every prompt fits.
    answer : int
        Tokens reserved for the answer (the request's ``max_tokens`` as the client caps it).
    margin : int
        Tokens left free for estimation error.
    where : str
        The endpoint, for messages.
    """

    context: int | None
    answer: int
    margin: int = 0
    where: str = "the LLM"

    @property
    def room(self) -> int | None:
        """Tokens the prompt may take (``None``: no limit known)."""
        return None if self.context is None else self.context - self.answer - self.margin

    def cost(self, prompt) -> int:
        """Estimated tokens of a completion prompt (str) or chat messages (list of dicts)."""
        return _cost(prompt)

    def fits(self, prompt) -> bool:
        room = self.room
        return room is None or self.cost(prompt) <= room


def prompt_budget(client, max_tokens: int | None) -> Budget:
    """The budget of one request of ``client`` asking for ``max_tokens`` answer tokens.

    ``max_tokens`` is capped by the settings' ``max_tokens`` as the client caps it;
    a client without ``context_tokens`` (duck-typed stand-ins) gets an unlimited budget.
    """
    settings = getattr(client, "settings", None)
    cap = getattr(settings, "max_tokens", None)
    answer = int(max_tokens) if max_tokens else int(cap or 0)
    if cap:
        answer = min(answer, int(cap))
    context = getattr(client, "context_tokens", None)
    where = getattr(settings, "endpoint_label", "the LLM") if settings is not None else "the LLM"
    margin = max(64, int(context) // 32) if context else 0
    return Budget(context=int(context) if context else None, answer=answer, margin=margin, where=where)


@dataclass(frozen=True)
class Dial:
    """One thing a prompt builder can give less of, and the settings it may take, fullest first.

    Parameters
    ----------
    name : str
        What it counts, as the note says it (``'current rules'``, ``'exemplar rows'``).
    values : sequence of int
        The settings to try, from the fullest to the smallest; the builder's
        ``render(plan)`` reads ``plan[name]``. A name may come back in a later
        dial with smaller values (first a little less of it, then less of
        something else, then less of it again).
    left_out : callable, optional
        ``left_out(value) -> int``: items hidden at a setting (default: ``values[0] - value``).
    total : int, optional
        Items in all, for the note ("18 of 40"); default ``values[0]`` when ``left_out`` is not given.
    """

    name: str
    values: Sequence[int]
    left_out: Callable[[int], int] | None = None
    total: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(int(v) for v in self.values))
        if not self.values:
            raise ValueError(f"dial {self.name!r} has no value")


@dataclass
class Fitted:
    """What :func:`fit_prompt` chose.

    Attributes
    ----------
    prompt : str or list of dict
    plan : dict
        The dial settings used.
    tokens : int
        The prompt's estimated tokens.
    left_out : dict
        Dial name -> items left out (only dials that left something out).
    note : str
        One sentence for a person, ``''`` when nothing was left out.
    """

    prompt: Any
    plan: dict
    tokens: int
    left_out: dict = field(default_factory=dict)
    note: str = ""


def fit_prompt(
    render: Callable[[dict], Any],
    budget: Budget,
    dials: Sequence[Dial] = (),
    *,
    what: str = "the prompt",
    fix: str = "",
) -> Fitted:
    """The fullest prompt ``render(plan)`` that fits ``budget``, turning ``dials`` down in order.

    Starts with every dial at its first value. While the prompt does not fit,
    the first dial is turned down (to the largest of its values that fits, by
    bisection), then, at its smallest, the next one, and so on; each dial
    stays where it ended while later ones turn.

    Parameters
    ----------
    render : callable
        ``render(plan) -> str`` (completion) or a list of chat messages.
    budget : Budget
    dials : sequence of Dial
        In the order things are given up (least important first).
    what : str
        What the prompt asks, for the error (``'a rule proposal'``).
    fix : str
        What a person can do when even the smallest prompt does not fit.

    Raises
    ------
    ContextLengthError
        Even with every dial at its smallest the prompt does not fit.
    """
    plan = {}
    first = {}
    for d in dials:
        plan.setdefault(d.name, d.values[0])
        first.setdefault(d.name, d)
    prompt = render(dict(plan))
    tokens = budget.cost(prompt)
    room = budget.room
    if room is not None and tokens > room:
        for d in dials:
            candidates = [v for v in d.values if v <= plan[d.name]]
            if not candidates:
                continue

            def at(v, _name=d.name):
                p = render({**plan, _name: v})
                return p, budget.cost(p)

            lo, hi, best = 0, len(candidates) - 1, None
            while lo <= hi:  # the first (largest) setting that fits; cost falls along the values
                mid = (lo + hi) // 2
                p, t = at(candidates[mid])
                if t <= room:
                    best, hi = (mid, p, t), mid - 1
                else:
                    lo = mid + 1
            if best is not None:
                plan[d.name] = candidates[best[0]]
                prompt, tokens = best[1], best[2]
                break
            plan[d.name] = candidates[-1]
            prompt, tokens = at(candidates[-1])
        if tokens > room:
            need = tokens + budget.answer
            raise ContextLengthError(
                f"{what} does not fit the context of {budget.context} tokens of {budget.where}, even "
                f"shortened as far as it goes: its prompt needs about {tokens} tokens and the answer "
                f"{budget.answer} (with {budget.margin} kept free). "
                + (
                    fix
                    or "Use an endpoint or model with a larger context (SYNTH_LLM_CONTEXT / "
                    "LLMSettings.context_tokens), or ask with less."
                ).rstrip(),
                context_tokens=budget.context,
                requested_tokens=need,
            )
    left, parts = {}, []
    for name, d in first.items():
        v = plan[name]
        hidden = d.left_out(v) if d.left_out is not None else d.values[0] - v
        if hidden > 0:
            left[name] = int(hidden)
            total = d.total if d.total is not None else (d.values[0] if d.left_out is None else None)
            parts.append(f"{hidden} of {total} {name}" if total is not None else f"{hidden} {name}")
    note = ""
    if parts:
        note = f"shortened to fit the context of {budget.context} tokens: left out " + ", ".join(parts)
    return Fitted(prompt=prompt, plan=plan, tokens=tokens, left_out=left, note=note)


# --------------------------------------------------------------------------- a server's refusal

_CONTEXT_WORDS = re.compile(
    r"context[ _](?:length|window|size)|maximum context|exceeds? the (?:available )?context|"
    r"prompt is too long|too many tokens|input is too large|exceed_context_size",
    re.IGNORECASE,
)
_CONTEXT_SIZE = (
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"context (?:window|length|size) of (\d+)", re.I),
    re.compile(r"\bn_ctx\W+(\d+)", re.I),
)
_REQUESTED = (
    re.compile(r"requested (\d+) tokens", re.I),
    re.compile(r"requested tokens \((\d+)\)", re.I),
    re.compile(r"resulted in (\d+) tokens", re.I),
    re.compile(r"\bn_prompt_tokens\W+(\d+)", re.I),
    re.compile(r"request has (\d+) input tokens", re.I),
)
_SPLIT = re.compile(r"\((\d+) in (?:your prompt|the messages)[;,] (\d+) (?:for|in) the completion\)", re.I)


def _first(patterns, text: str) -> int | None:
    for p in patterns:
        m = p.search(text)
        if m:
            return int(m.group(1))
    return None


def context_refusal(body, text: str) -> dict | None:
    """What a server said when it refused a request for its context window, or ``None`` for another refusal.

    Understands llama-cpp-python's and OpenAI's / vLLM's wording ("maximum context length is N tokens,
    however you requested M tokens (P in your prompt; A for the completion)", ``code:
    context_length_exceeded``) and the native ``llama-server``'s (``type: exceed_context_size_error``,
    ``n_ctx``, ``n_prompt_tokens``).

    Parameters
    ----------
    body : dict or None
        The error object of the reply, when it was JSON.
    text : str
        The reply's text (the SDK's message).

    Returns
    -------
    dict or None
        ``{"context": int or None, "requested": int or None, "prompt": int or None, "answer": int or None}``.

    Examples
    --------
    >>> context_refusal(None, "This model's maximum context length is 2048 tokens, however you requested "
    ...                 "3203 tokens (2983 in your prompt; 220 for the completion).")
    {'context': 2048, 'requested': 3203, 'prompt': 2983, 'answer': 220}
    >>> context_refusal(None, "model not found") is None
    True
    """
    body = body if isinstance(body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = " ".join(str(inner.get(k, "")) for k in ("code", "type"))
    message = str(inner.get("message", ""))
    whole = f"{text} {message}"
    coded = "context_length_exceeded" in code or "exceed_context_size" in code
    if not coded and not _CONTEXT_WORDS.search(whole):
        return None
    context = inner.get("n_ctx") if isinstance(inner.get("n_ctx"), int) else _first(_CONTEXT_SIZE, whole)
    requested = _first(_REQUESTED, whole)
    split = _SPLIT.search(whole)
    prompt, answer = (int(split.group(1)), int(split.group(2))) if split else (None, None)
    if isinstance(inner.get("n_prompt_tokens"), int):
        prompt = inner["n_prompt_tokens"]
    return {"context": context, "requested": requested, "prompt": prompt, "answer": answer}


# --------------------------------------------------------------------------- prompts about a whole table


def fit_table_prompt(
    client,
    render: Callable[[str, str], Any],
    *,
    schema,
    columns,
    max_tokens: int,
    summarize: Callable[[int], str] | None = None,
    what: str = "the prompt",
) -> Fitted:
    """Fit a prompt built from a column list and a per-column summary (H-TDBU's skeleton, StructSynth's DAG).

    Gives up, in order: the summary's rarer category shares (8 per column, then
    3), category values in the column list (20, 8, 3 per column), summary lines
    (the last columns' first), and finally every category value (the column
    list then says only how many each column has). The column list with names,
    kinds and ranges is the irreducible part.

    Parameters
    ----------
    client : LLMClient
    render : callable
        ``render(columns_text, summary_text) -> prompt`` (str or chat messages).
    schema : Schema
    columns : list of str
        The columns of the column list (:func:`~synth_core.llm.row_text.describe_columns`).
    max_tokens : int
        The answer's tokens.
    summarize : callable, optional
        ``summarize(max_categories) -> str``, one line per column; none: an empty summary.
    what : str
        For the error.

    Raises
    ------
    ContextLengthError
        The column list alone does not fit.
    """
    from .row_text import category_dial, describe_columns

    summaries: dict[int, list[str]] = {}

    def lines(k: int) -> list[str]:
        if k not in summaries:
            summaries[k] = summarize(k).split("\n") if summarize is not None else []
        return summaries[k]

    full = lines(8)
    n = len(full) if summarize is not None else 0

    def text(plan) -> Any:
        shown = lines(plan["summary shares"])[: plan["summarised columns"]]
        summary = "\n".join(shown)
        if plan["summarised columns"] < n:
            more = n - plan["summarised columns"]
            summary = (summary + "\n" if shown else "") + f"- … {more} more columns not summarised"
        return render(describe_columns(schema, columns, max_categories=plan["category values"]), summary)

    dials = [
        Dial(
            "summary shares",
            (8, 3) if n else (8,),
            left_out=lambda k: sum(a != b for a, b in zip(full, lines(k), strict=False)),
            total=n,
        ),
        category_dial(schema, columns, (20, 8, 3)),
        Dial("summarised columns", range(n, -1, -1)),
        Dial("category values", (0,)),
    ]
    fitted = fit_prompt(
        text,
        prompt_budget(client, max_tokens),
        dials,
        what=what,
        fix=(
            f"Its irreducible part is the list of the table's {len(columns)} columns: use an endpoint with a "
            "larger context (SYNTH_LLM_CONTEXT / LLMSettings.context_tokens), or a table with fewer columns."
        ),
    )
    if "summary shares" in fitted.left_out:  # say it as a person reads it
        k = fitted.left_out.pop("summary shares")
        fitted.left_out["columns with fewer category shares"] = k
        fitted.note = fitted.note.replace(
            f"{k} of {n} summary shares", f"the rarer category shares of {k} of {n} columns"
        )
    return fitted
