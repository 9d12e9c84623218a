"""``synth llm-check``: prove the LLM path end to end on the bundled sample table."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..errors import SynthError

__all__ = ["llm_check"]


def llm_check(
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    n: int = 5,
    out: Callable[[str], None] = print,
    cache: bool = False,
    err: Callable[[str], None] | None = None,
    deadline: float | None = None,
) -> int:
    """Generate ``n`` rows for the bundled bank-marketing sample and print them with usage and rejections.

    Uses the endpoint given (or ``OPENAI_BASE_URL``), else starts the embedded
    model. The reply cache is off by default so the check really calls the model.

    Parameters
    ----------
    base_url, model, api_key : str, optional
        As for :class:`~synth_core.llm.settings.LLMSettings` / :class:`~synth_core.llm.client.LLMClient`.
    n : int
        Rows to ask for.
    out : callable
        Where lines go (``print`` by default).
    cache : bool
        Use the reply cache.
    err : callable, optional
        Where the one-line failure reason goes: by default standard error when
        ``out`` is ``print``, else ``out``.
    deadline : float, optional
        Seconds the whole check may take (server start and calls); see
        :meth:`~synth_core.llm.client.LLMClient.with_deadline`. Each call is
        bounded by the settings' timeout either way (``SYNTH_LLM_TIMEOUT``).

    Returns
    -------
    int
        0 when at least one row was accepted; 1 when none was (the reason on
        one line, as for 2); 2 when the
        LLM could not be used (the reason is printed on one line, with no
        traceback: a crashed embedded server, an endpoint that is down, hangs
        or answers something that is not an OpenAI reply).
    """
    from ..data import load_table, make_dataset
    from ..samples import sample_path
    from .client import LLMClient
    from .rows import generate_rows
    from .settings import LLMSettings

    if err is None:
        err = out if out is not print else (lambda line: print(line, file=sys.stderr))
    try:
        settings = LLMSettings.from_env(base_url=base_url, model=model, cache=cache)
        client = LLMClient(settings, api_key=api_key)
        if deadline is not None:
            client = client.with_deadline(deadline)
        out(
            f"LLM: {client.endpoint_label} (model {settings.model_name}, context {client.context_tokens} "
            "tokens); starting…"
        )
        t0 = time.perf_counter()
        client.start()
        start = client.usage.summary()["server_start_seconds"]
        out(
            f"ready in {time.perf_counter() - t0:.1f} s"
            + (f" (embedded server start {start:.1f} s)" if start is not None else "")
        )
        ds = make_dataset(load_table(sample_path("bank_marketing_3k.csv")), target="Class", seed=0)
        train = ds.train.head(300)
        batch = generate_rows(
            client,
            schema=ds.schema,
            target=ds.target,
            rule=None,
            examples=train,
            n=n,
            real_rows=ds.train,
            tag="llm-check",
            table_name="bank marketing",
            max_calls=max(2, 2 * -(-n // 5)),
        )
    except SynthError as exc:
        err(f"LLM check failed: {' '.join(str(exc).split())}")
        return 2
    out(batch.rows.to_string(index=False) if len(batch.rows) else "(no row accepted)")
    u = batch.usage
    out(
        f"accepted {u['accepted']} of {u['accepted'] + u['rejected']} row(s) "
        f"({(u['accepted_fraction'] or 0) * 100:.0f}%), {u['calls']} call(s), {u['cache_hits']} cache hit(s), "
        f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens, {u['seconds']:.1f} s"
    )
    if batch.reasons:
        out("rejected: " + ", ".join(f"{k} {v}" for k, v in batch.reasons.most_common()))
    if len(batch.rows):
        return 0
    written = u["rejected"]
    why = (
        f"none of the {written} row(s) it wrote could be used ("
        + ", ".join(f"{k} {v}" for k, v in batch.reasons.most_common(3))
        + ")"
        if written
        else "it wrote no row at all"
    )
    err(
        f"LLM check failed: {client.endpoint_label} answered, but {why}: use a more capable model "
        "(SYNTH_LLM_MODEL) or another endpoint"
    )
    return 1
