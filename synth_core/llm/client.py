"""One client for every OpenAI-compatible endpoint and for the embedded local model.

:class:`LLMClient` wraps one ``openai.OpenAI`` built from an
:class:`~synth_core.llm.settings.LLMSettings`. It adds, around each request:

- the on-disk reply cache (a replayed run makes no request and does not even
  start the embedded server);
- accounting into :attr:`LLMClient.usage` (calls, tokens, seconds, cache hits, per tag);
- a seed per call derived from the settings' seed and the call's sample index;
- one error boundary: SDK errors become :mod:`synth_core.errors` classes with
  messages that say what to do; replies are parsed here, strictly, so a reply
  that is not an OpenAI answer (plain text, broken JSON, JSON of another
  shape, no choices, no text) is one :class:`~synth_core.errors.LLMResponseError`;
- time limits: ``settings.timeout`` bounds one call *with* its SDK retries (a
  server that never answers costs one timeout, not three), and
  :meth:`LLMClient.with_deadline` bounds a whole run
  (:class:`~synth_core.errors.LLMDeadlineError` once it has passed);
- the embedded server's health: a call that fails because the server process
  died says so (exit status or signal, its log, the fix), not "check the base URL".

HTTP retries with backoff (timeouts, 408/409/429, 5xx) are the SDK's own
(``max_retries``); there is no second HTTP retry loop here, and the SDK's
retries are kept inside the call's time budget (:mod:`synth_core.llm._budget`).
The only loop of ours re-asks when a reply does not parse as the JSON asked for
(``parse_retries``), with the next attempt index so the cache does not hand
back the same bad reply, and counts it in the usage.

Deadline
--------
A run that must end in bounded time takes a copy of its client::

    run_client = client.with_deadline(600)    # the whole run: 10 minutes of LLM time at most

Every call through ``run_client`` (and through its ``complete_json`` /
``chat_json`` re-asks and ``map``) gets ``timeout = min(settings.timeout, time
left)``; once the deadline has passed, every call raises
:class:`~synth_core.errors.LLMDeadlineError` before any request (a cache hit
included), and the SDK makes no retry after it. The copy shares the cache, the
usage and the connection with ``client``. The error is an
:class:`~synth_core.errors.LLMUnavailableError`, so code that stops on an
unavailable LLM stops on it too; catch it first to say "deadline".
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..errors import (
    InvalidParameterError,
    LLMAuthError,
    LLMDeadlineError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMUnavailableError,
)
from ._jsonschema import schema_errors
from .cache import ReplyCache, cache_key
from .settings import LLMSettings, mask_key, resolve_api_key
from .usage import CallRecord, Usage

__all__ = ["LLMClient", "Completion", "derive_seed", "get_client"]

log = logging.getLogger("synth_core.llm")


@dataclass(frozen=True)
class Completion:
    """One reply.

    Attributes
    ----------
    text : str
    call_id : str
        Unique id of this call (recorded in row provenance).
    cached : bool
        Served from the cache; no request was made.
    prompt_tokens, completion_tokens : int
    seconds : float
        Request time (0 for cache hits).
    finish_reason : str or None
        ``'stop'``, ``'length'``, ...
    sample : int
        The sample index the call was made with.
    tag : str
    """

    text: str
    call_id: str
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str | None
    sample: int = 0
    tag: str = ""


def derive_seed(seed: int | None, sample: int, attempt: int = 0) -> int | None:
    """Per-call seed from the base seed, the sample index and the parse attempt (``None`` stays ``None``).

    Examples
    --------
    >>> derive_seed(0, 0) != derive_seed(0, 1), derive_seed(None, 3)
    (True, None)
    """
    if seed is None:
        return None
    return (seed * 1_000_003 + sample * 7_919 + attempt * 104_729) % (2**31 - 1)


class LLMClient:
    """Completions and JSON chat against one endpoint, cached, counted and with friendly errors.

    Parameters
    ----------
    settings : LLMSettings, optional
        Default: :meth:`LLMSettings.from_env` (``OPENAI_BASE_URL``, ``SYNTH_LLM_MODEL``).
    api_key : str, optional
        Default: ``OPENAI_API_KEY``. Held only inside the ``openai`` client, never
        in settings, cache entries, usage or reports; :func:`mask_key` is what is shown.
    http_client : httpx.Client, optional
        Passed to ``openai.OpenAI`` (tests use an ``httpx.MockTransport``).

    Attributes
    ----------
    usage : Usage
        Accounting of every call made through this client.

    Notes
    -----
    A client is a shared handle, like a database connection: its connection
    (and the embedded server it may have started), its reply cache and its
    usage accounting belong to every estimator that holds it. So
    ``copy.deepcopy`` (and :func:`sklearn.base.clone` of a generator holding
    it, which deep-copies its parameters) gives back the same client, not a
    second one with its own lock, server and usage. ``copy.copy`` is a real
    shallow copy, sharing all of that too (:meth:`with_deadline` uses it).

    Examples
    --------
    >>> client = LLMClient(LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", cache=False),
    ...                    api_key="sk-secret-123456789")
    >>> client
    LLMClient(endpoint='http://127.0.0.1:9/v1', model='m', key='sk-…6789')
    >>> copy.deepcopy(client) is client
    True
    """

    def __init__(self, settings: LLMSettings | None = None, *, api_key: str | None = None, http_client=None):
        self.settings = settings if settings is not None else LLMSettings.from_env()
        self.usage = Usage()
        self._api_key = resolve_api_key(api_key, self.settings)
        self._http_client = http_client
        self._conn = _Connection()  # shared with with_deadline() copies
        self._cache = (
            ReplyCache(self.settings.resolved_cache_dir / "replies") if self.settings.cache else None
        )
        self._deadline: float | None = None  # time.monotonic() at which the run's LLM time ends
        self._deadline_seconds: float | None = None

    def __deepcopy__(self, memo: dict) -> LLMClient:
        """The client itself: a shared handle (connection, cache, usage) is never duplicated."""
        return self

    def __repr__(self) -> str:
        deadline = "" if self._deadline is None else f", deadline={self._deadline_seconds:g}s"
        return (
            f"LLMClient(endpoint={self.settings.endpoint_label!r}, model={self.settings.model_name!r}, "
            f"key={mask_key(self._masked_source())!r}{deadline})"
        )

    @property
    def server(self):
        """The embedded server once started (``None`` for an endpoint)."""
        return self._conn.server

    @server.setter
    def server(self, value) -> None:
        self._conn.server = value

    # ------------------------------------------------------------------ deadline

    def with_deadline(self, seconds: float | None) -> LLMClient:
        """A copy of this client whose calls must all end within ``seconds`` from now.

        The copy shares the cache, the usage accounting and the connection (and
        the embedded server) with this client; only the deadline differs. Each
        call through it waits at most ``min(settings.timeout, time left)``
        seconds, the SDK's retries included, and once the deadline has passed
        every call raises :class:`~synth_core.errors.LLMDeadlineError` without a
        request. ``None`` gives a copy without a deadline.

        Parameters
        ----------
        seconds : float or None
            Positive and finite.

        Examples
        --------
        >>> client = LLMClient(LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", cache=False))
        >>> run = client.with_deadline(30)
        >>> run.usage is client.usage, 29 < run.time_left <= 30, client.time_left is None
        (True, True, True)
        """
        if seconds is not None and not (
            isinstance(seconds, (int, float))
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and seconds > 0
        ):
            raise InvalidParameterError(
                f"the LLM deadline must be a positive number of seconds, got {seconds!r}"
            )
        clone = copy.copy(self)
        clone._deadline = None if seconds is None else time.monotonic() + float(seconds)
        clone._deadline_seconds = None if seconds is None else float(seconds)
        return clone

    @property
    def deadline_seconds(self) -> float | None:
        """The length of the deadline given to :meth:`with_deadline`, or ``None``."""
        return self._deadline_seconds

    @property
    def time_left(self) -> float | None:
        """Seconds left before the deadline (negative once passed), or ``None`` without one."""
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _check_deadline(self) -> None:
        left = self.time_left
        if left is not None and left <= 0:
            raise LLMDeadlineError(self._deadline_message("has passed"))

    def _deadline_message(self, what: str) -> str:
        return (
            f"the run's LLM deadline of {self._deadline_seconds:g} s {what} "
            f"({self.settings.endpoint_label}): no further LLM call is made and the rows made so far are "
            "kept; allow more time for the run, ask for fewer rows, or use a faster endpoint"
        )

    def _masked_source(self) -> str | None:
        return None if self.settings.is_embedded else self._api_key

    # ------------------------------------------------------------------ facts

    @property
    def endpoint_label(self) -> str:
        return self.settings.endpoint_label

    @property
    def base_url(self) -> str | None:
        """The URL requests go to (the embedded server's loopback URL once it runs)."""
        if self.settings.is_embedded:
            return self.server.base_url if self.server is not None else None
        return self.settings.base_url

    @property
    def api(self) -> str:
        """``'completion'`` or ``'chat'``: how rows and rules are asked for."""
        return self.settings.resolved_api

    @property
    def constrain(self) -> str:
        """``'grammar'``, ``'json_schema'``, ``'json_object'`` or ``'none'``."""
        return self.settings.resolved_constrain

    @property
    def context_tokens(self) -> int:
        """The context window prompts are fitted to (:mod:`synth_core.llm.budget`).

        The embedded server is started with the settings' ``context_tokens``
        (default 8192); once it runs, the smaller of that and what it was
        started with. An endpoint: the settings' value (default 8192), since
        ``/v1/models`` does not always say.
        """
        wanted = self.settings.resolved_context_tokens
        server = self.server if self.settings.is_embedded else None
        if server is not None and server.running and getattr(server, "n_ctx", None):
            return min(wanted, int(server.n_ctx))
        return wanted

    def prompt_budget(self, max_tokens: int | None):
        """The :class:`~synth_core.llm.budget.Budget` of a request asking for ``max_tokens`` answer tokens."""
        from .budget import prompt_budget

        return prompt_budget(self, max_tokens)

    @property
    def cache(self) -> ReplyCache | None:
        return self._cache

    # ------------------------------------------------------------------ SDK

    def start(self) -> LLMClient:
        """Connect now (start the embedded server if needed) instead of on the first request.

        The embedded server's start time lands in ``usage.summary()['server_start_seconds']``.
        """
        self._sdk()
        return self

    def _sdk(self):
        conn = self._conn
        with conn.lock:
            server = conn.server
            wanted = self.settings.resolved_context_tokens
            if conn.sdk is not None and (
                server is None
                or (
                    server.running
                    and server.base_url == conn.base_url
                    and getattr(server, "n_ctx", wanted) >= wanted
                )
            ):
                return conn.sdk
            # first use, or the embedded server stopped or crashed since: (re)start it
            self._check_deadline()
            try:
                import openai

                from ._budget import install_hooks, new_http_client
            except ImportError as exc:  # pragma: no cover - a core dependency
                raise LLMUnavailableError("the 'openai' package is missing: run `make setup`") from exc
            base_url = self.settings.base_url
            if self.settings.is_embedded:
                from .server import get_embedded_server

                if server is not None and server.crashed:
                    log.warning("the embedded LLM server had crashed; starting it again")
                from .settings import DEFAULT_CONTEXT_TOKENS

                # get_embedded_server's default n_ctx is DEFAULT_CONTEXT_TOKENS: only another size is
                # passed; a server running with a smaller context is started again with the larger one
                extra = {} if wanted == DEFAULT_CONTEXT_TOKENS else {"n_ctx": wanted}
                server = get_embedded_server(
                    self.settings.resolved_cache_dir, deadline=self._deadline, **extra
                )
                conn.server = server
                self.usage.set_server_start(server.start_seconds)
                base_url = server.base_url
            http_client = self._http_client
            if http_client is None:
                http_client = conn.http = conn.http or new_http_client()
            install_hooks(http_client)
            conn.base_url = base_url
            conn.sdk = openai.OpenAI(
                base_url=base_url,
                api_key=self._api_key,
                timeout=self.settings.timeout,
                max_retries=self.settings.max_retries,
                http_client=http_client,
            )
            return conn.sdk

    def _send(self, kind: str, request: dict) -> dict:
        """Make one request through the SDK; the only place SDK errors are caught and replies parsed.

        The call gets ``min(settings.timeout, time left before the deadline)``
        seconds, the SDK's retries included (:mod:`synth_core.llm._budget`).

        Returns ``{"text", "prompt_tokens", "completion_tokens", "finish_reason"}``.
        """
        import openai

        from ._budget import CallBudgetSpent, call_budget

        sdk = self._sdk()
        where = self.settings.endpoint_label
        timeout = float(self.settings.timeout)
        retries = self.settings.max_retries
        now = time.monotonic()
        end = now + timeout
        deadline_binds = self._deadline is not None and self._deadline <= end
        if deadline_binds:
            end = self._deadline
        if end - now <= 0:
            raise LLMDeadlineError(self._deadline_message("has passed"))
        api = sdk.completions if kind == "completion" else sdk.chat.completions
        try:
            with call_budget(end):
                raw = api.with_raw_response.create(**request, timeout=end - now)
                content_type = raw.headers.get("content-type", "")
                body = raw.content
        except (CallBudgetSpent, openai.APITimeoutError) as exc:
            self._raise_if_crashed(exc)
            if deadline_binds:
                raise LLMDeadlineError(self._deadline_message("passed while waiting for an answer")) from exc
            raise LLMUnavailableError(
                f"{where} gave no answer within {timeout:g} s (the time one call may take, retries "
                "included): raise the timeout in the LLM settings, ask for fewer rows per call, or check that "
                "the server is running and not stuck"
            ) from exc
        except openai.APIConnectionError as exc:
            self._raise_if_crashed(exc)
            if isinstance(exc.__cause__, CallBudgetSpent):  # SDKs that wrap every transport error
                if deadline_binds:
                    raise LLMDeadlineError(
                        self._deadline_message("passed while waiting for an answer")
                    ) from exc
                raise LLMUnavailableError(
                    f"{where} gave no answer within {timeout:g} s (its retries included): raise the timeout "
                    "in the LLM settings or check that the server is running"
                ) from exc
            if not _is_connect_failure(exc):
                raise LLMUnavailableError(
                    f"{where} dropped the connection without a complete answer "
                    f"({self._scrub(_short(exc.__cause__ or exc))}){_retried(retries)}: the server "
                    "may have crashed or restarted, or a proxy cut the request; check its logs and try again"
                ) from exc
            raise LLMUnavailableError(
                f"cannot reach {self.base_url or where}: check the base URL (it usually ends in /v1) and that "
                "the server is running and reachable"
            ) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMAuthError(
                f"{where} refused the API key {mask_key(self._api_key)} (HTTP {exc.status_code}): pass a valid "
                "api_key or set OPENAI_API_KEY"
            ) from exc
        except openai.RateLimitError as exc:
            raise LLMRateLimitError(
                f"{where} kept answering 429 (rate limit or quota){_retried(retries)}: "
                "wait, lower the concurrency in the LLM settings, or check the account's quota"
            ) from exc
        except openai.NotFoundError as exc:
            raise LLMResponseError(
                f"{where} has no model {self.settings.model_name!r} or no such endpoint (HTTP 404): check "
                "SYNTH_LLM_MODEL and that the base URL ends in /v1"
            ) from exc
        except openai.BadRequestError as exc:
            self._raise_if_context(exc, request)
            raise LLMResponseError(
                f"{where} refused the request (HTTP 400: {self._scrub(_short(exc))}); if it mentions "
                "response_format, grammar or json_schema, set the LLM settings' constrain to 'json_object' "
                "or 'none'"
            ) from exc
        except openai.APIStatusError as exc:
            self._raise_if_context(exc, request)
            if exc.status_code >= 500:
                self._raise_if_crashed(exc)
                raise LLMUnavailableError(
                    f"{where} failed with HTTP {exc.status_code}{_retried(retries)} "
                    f"({self._scrub(_short(exc))}): try again later; if it mentions response_format, set "
                    "constrain to 'json_object' or 'none'"
                ) from exc
            raise LLMResponseError(
                f"{where} refused the request (HTTP {exc.status_code}: {self._scrub(_short(exc))})"
            ) from exc
        except openai.OpenAIError as exc:
            self._raise_if_crashed(exc)
            raise LLMError(f"the request to {where} failed: {self._scrub(_short(exc))}") from exc
        return self._parse_reply(kind, content_type, body)

    def _raise_if_context(self, exc, request: dict) -> None:
        """Raise :class:`~synth_core.llm.budget.ContextLengthError` when ``exc`` refused the size."""
        from .budget import ContextLengthError, context_refusal, estimate_chat_tokens, estimate_tokens

        found = context_refusal(getattr(exc, "body", None), str(getattr(exc, "message", "") or exc))
        if found is None:
            return
        where = self.settings.endpoint_label
        answer = found["answer"] if found["answer"] is not None else request.get("max_tokens")
        prompt = found["prompt"]
        requested = found["requested"]
        if requested is None and prompt is not None and answer is not None:
            requested = prompt + int(answer)
        if requested is None and prompt is None:  # the server did not count: our estimate
            prompt = (
                estimate_tokens(request["prompt"])
                if "prompt" in request
                else estimate_chat_tokens(request.get("messages", []))
            )
            size = f"about {prompt + int(answer or 0)} tokens by our estimate"
        else:
            size = f"{requested} tokens" if requested is not None else f"more than {found['context']} tokens"
        if prompt is not None and answer is not None:
            size += f" ({prompt} for the prompt, {answer} for the answer)"
        ctx = found["context"]
        told = self.context_tokens
        if self.settings.is_embedded:
            fix = (
                f"start the embedded model with a larger context: set SYNTH_LLM_CONTEXT (LLMSettings."
                f"context_tokens; now {told}, the model allows up to 32768)"
            )
        elif ctx is not None and ctx < told:
            fix = (
                f"prompts are shortened to fit the context synth_core is told, {told} tokens, which is "
                f"more than this endpoint has: set SYNTH_LLM_CONTEXT={ctx} (LLMSettings.context_tokens) so "
                "they fit, or use a model with a larger context"
            )
        else:
            fix = (
                "use a model with a larger context, or set SYNTH_LLM_CONTEXT (LLMSettings.context_tokens) to "
                "this endpoint's real context so prompts are shortened to fit it"
            )
        raise ContextLengthError(
            f"{where} refused the request because it does not fit the model's context window (HTTP "
            f"{exc.status_code}): the context is {f'{ctx} tokens' if ctx is not None else 'not stated'} and "
            f"the request needs {size}. Fix: {fix}; or ask with less (fewer current rules or columns, fewer "
            "rows per call).",
            context_tokens=ctx,
            requested_tokens=requested,
        ) from exc

    def _raise_if_crashed(self, exc: BaseException) -> None:
        """When the embedded server's process has died, raise its crash report instead of ``exc``."""
        server = self.server if self.settings.is_embedded else None
        if server is not None:
            server.raise_if_crashed(grace=1.0, during="while answering a request", cause=exc)

    def _scrub(self, text: str) -> str:
        """``text`` with the API key (should a server echo it) replaced by its masked form."""
        key = self._api_key
        return text.replace(key, mask_key(key)) if key and len(key) >= 8 else text

    def _parse_reply(self, kind: str, content_type: str, body: bytes) -> dict:
        """The text, token counts and finish reason of a raw HTTP 200 reply, checked strictly.

        Raises
        ------
        LLMResponseError
            The body is not JSON, not an OpenAI reply of ``kind``, or has no text.
        """
        where = self.settings.endpoint_label
        path = "/v1/completions" if kind == "completion" else "/v1/chat/completions"
        what_reply = f"an OpenAI {'text' if kind == 'completion' else 'chat'} completion ({path})"
        fix = (
            "check that the base URL is the server's OpenAI-compatible API (it usually ends in /v1), not a web "
            "page, a proxy's page or another service"
        )
        text = body.decode("utf-8", errors="replace")
        start = self._scrub(" ".join(text.split())[:80])
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            if not text.strip():
                what = "an empty body"
            elif "json" in content_type.lower():
                detail = (
                    f"{exc.msg} at character {exc.pos}"
                    if isinstance(exc, json.JSONDecodeError)
                    else "too deep"
                )
                what = f"invalid JSON ({detail})"
            else:
                what = f"{content_type.split(';')[0].strip() or 'untyped'} text that is not JSON"
            raise LLMResponseError(
                f"{where} answered HTTP 200 with {what}, not {what_reply}; it starts {start!r}: {fix}"
            ) from None
        problem = None
        if isinstance(doc, dict) and "choices" not in doc and isinstance(doc.get("error"), (dict, str)):
            err = doc["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise LLMResponseError(
                f"{where} answered HTTP 200 with an error instead of a reply "
                f"({self._scrub(_short(Exception(str(message))))}): check the model name and the request "
                "settings, or try again later"
            )
        if not isinstance(doc, dict):
            problem = f"a JSON {type(doc).__name__.replace('dict', 'object')} instead of an object"
        elif "choices" not in doc:
            keys = ", ".join(map(repr, list(doc)[:5])) or "none"
            problem = f"no 'choices' (keys: {keys})"
        elif not isinstance(doc["choices"], list):
            problem = "'choices' is not a list"
        elif not doc["choices"]:
            raise LLMResponseError(
                f"{where} answered with no choices (an empty list), so no text: try again, or use another "
                "model"
            )
        elif not isinstance(doc["choices"][0], dict):
            problem = "choices[0] is not an object"
        if problem is None:
            choice = doc["choices"][0]
            if kind == "completion":
                value = choice.get("text")
            else:
                message = choice.get("message")
                if not isinstance(message, dict):
                    value, problem = None, "choices[0] has no 'message' object"
                else:
                    value = message.get("content")
            finish = choice.get("finish_reason")
            finish = finish if isinstance(finish, str) else None
            if problem is None and value is None:
                why = f" (finish_reason {finish!r})" if finish else ""
                raise LLMResponseError(
                    f"{where} answered without any text{why}: try again, or use another model"
                )
            if problem is None and not isinstance(value, str):
                problem = f"the text is a JSON {type(value).__name__}, not a string"
        if problem is not None:
            raise LLMResponseError(
                f"{where} answered with JSON that is not {what_reply}: {problem}; it starts {start!r}: {fix}"
            )
        usage = doc.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return {
            "text": value,
            "prompt_tokens": _count(usage.get("prompt_tokens")),
            "completion_tokens": _count(usage.get("completion_tokens")),
            "finish_reason": finish,
        }

    # ------------------------------------------------------------------ requests

    def _call(self, kind: str, body: dict, *, sample: int, attempt: int, tag: str | None) -> Completion:
        self._check_deadline()
        seed = derive_seed(self.settings.seed, sample, attempt)
        request = {"model": self.settings.model_name, **body}
        if seed is not None:
            request["seed"] = seed
        key = None
        tag = tag or ""
        call_id = uuid.uuid4().hex[:12]
        if self._cache is not None:
            key = cache_key(
                {
                    "endpoint": self.settings.endpoint_label,
                    "kind": kind,
                    "request": request,
                    "sample": sample,
                    "attempt": attempt,
                }
            )
            hit = self._cache.get(key)
            if hit is not None:
                comp = Completion(
                    hit["text"],
                    call_id,
                    True,
                    int(hit.get("prompt_tokens", 0)),
                    int(hit.get("completion_tokens", 0)),
                    0.0,
                    hit.get("finish_reason"),
                    sample,
                    tag,
                )
                self.usage.record(
                    CallRecord(
                        call_id, tag, kind, comp.prompt_tokens, comp.completion_tokens, 0.0, cached=True
                    )
                )
                return comp
        t0 = time.perf_counter()
        try:
            raw = self._send(kind, request)
        except LLMError as exc:
            self.usage.record(
                CallRecord(call_id, tag, kind, seconds=time.perf_counter() - t0, error=type(exc).__name__)
            )
            raise
        seconds = time.perf_counter() - t0
        log.debug(
            "LLM %s call %s to %s: %d+%d tokens in %.2f s",
            kind,
            call_id,
            self.settings.endpoint_label,
            raw["prompt_tokens"],
            raw["completion_tokens"],
            seconds,
        )
        self.usage.record(
            CallRecord(call_id, tag, kind, raw["prompt_tokens"], raw["completion_tokens"], seconds)
        )
        if key is not None:
            self._cache.put(key, {**raw, "model": self.settings.model_name, "created": time.time()})
        return Completion(
            raw["text"],
            call_id,
            False,
            raw["prompt_tokens"],
            raw["completion_tokens"],
            seconds,
            raw["finish_reason"],
            sample,
            tag,
        )

    def complete(
        self,
        prompt: str,
        *,
        grammar: str | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        temperature: float | None = None,
        sample: int = 0,
        tag: str | None = None,
        _attempt: int = 0,
    ) -> Completion:
        """Text completion (the few-shot path for base models).

        Parameters
        ----------
        prompt : str
        grammar : str, optional
            GBNF sent as ``extra_body={"grammar": ...}`` when the settings'
            constrain is ``'grammar'`` (llama.cpp servers); ignored otherwise.
        max_tokens : int, optional
            Capped at the settings' ``max_tokens``.
        stop : list of str, optional
        temperature : float, optional
            Default: the settings' temperature.
        sample : int
            Sample index: calls that differ only here are different cache keys
            and get different seeds.
        tag : str, optional
            Caller tag for the accounting (a rule id, ...).
        """
        body = self._sampling(max_tokens, temperature)
        body["prompt"] = prompt
        if stop:
            body["stop"] = list(stop)
        if grammar and self.constrain == "grammar":
            body["extra_body"] = {"grammar": grammar}
        return self._call("completion", body, sample=sample, attempt=_attempt, tag=tag)

    def chat(
        self,
        messages: list[dict],
        *,
        response_format: dict | None = None,
        grammar: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        sample: int = 0,
        tag: str | None = None,
        _attempt: int = 0,
    ) -> Completion:
        """Chat completion; ``response_format`` is sent as given, ``grammar`` only in grammar mode."""
        body = self._sampling(max_tokens, temperature)
        body["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        if response_format is not None:
            body["response_format"] = response_format
        if grammar and self.constrain == "grammar":
            body["extra_body"] = {"grammar": grammar}
        return self._call("chat", body, sample=sample, attempt=_attempt, tag=tag)

    def _sampling(self, max_tokens, temperature) -> dict:
        cap = self.settings.max_tokens
        return {
            "max_tokens": min(int(max_tokens), cap) if max_tokens else cap,
            "temperature": self.settings.temperature if temperature is None else float(temperature),
        }

    def chat_json(
        self,
        messages: list[dict],
        *,
        schema: dict,
        name: str = "reply",
        grammar: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        sample: int = 0,
        tag: str | None = None,
    ) -> tuple[Any, Completion]:
        """Chat whose reply must be JSON valid under ``schema``.

        The constraint sent follows the settings: ``json_schema`` (OpenAI's
        structured output), ``json_object``, a GBNF ``grammar`` (if given,
        else ``json_object``), or none. The reply is validated either way; a
        reply that fails is asked again up to ``parse_retries`` times.

        Raises
        ------
        LLMResponseError
            No valid reply after the retries; the message quotes the last problem.
        """
        mode = self.constrain
        if mode == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        elif mode == "json_object" or (mode == "grammar" and not grammar):
            response_format = {"type": "json_object"}
        else:
            response_format = None

        def ask(attempt):
            return self.chat(
                messages,
                response_format=response_format,
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=temperature,
                sample=sample,
                tag=tag,
                _attempt=attempt,
            )

        return self._ask_json(ask, schema, tag)

    def complete_json(
        self,
        prompt: str,
        *,
        schema: dict,
        grammar: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        sample: int = 0,
        tag: str | None = None,
    ) -> tuple[Any, Completion]:
        """Completion whose text must be JSON valid under ``schema`` (grammar-bound on llama.cpp servers).

        Raises
        ------
        LLMResponseError
            No valid reply after ``parse_retries`` re-asks.
        """

        def ask(attempt):
            return self.complete(
                prompt,
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=temperature,
                sample=sample,
                tag=tag,
                _attempt=attempt,
            )

        return self._ask_json(ask, schema, tag)

    def _ask_json(self, ask: Callable[[int], Completion], schema: dict, tag) -> tuple[Any, Completion]:
        problem = ""
        for attempt in range(self.settings.parse_retries + 1):
            if attempt:
                self.usage.add_parse_retry(tag or "")
            comp = ask(attempt)
            try:
                value = json.loads(_strip_fences(comp.text))
            except ValueError as exc:
                problem = f"not JSON ({exc.msg} at character {exc.pos})"
                continue
            errors = schema_errors(value, schema)
            if not errors:
                return value, comp
            problem = "; ".join(errors[:3])
        raise LLMResponseError(
            f"{self.settings.endpoint_label} did not return the JSON asked for after "
            f"{self.settings.parse_retries + 1} tries ({problem}): use a more capable model, "
            "or a lower temperature"
        )

    # ------------------------------------------------------------------ many calls

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable,
        *,
        concurrency: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> list:
        """Apply ``fn`` to each item with at most ``concurrency`` calls in flight.

        Items are started in order; when ``cancel()`` turns true no new item
        starts, the running ones finish, and the results so far are returned
        (a prefix of the inputs, in input order). ``progress(done, total)`` is
        called in the calling thread after each item. The first exception
        stops new starts and is raised once the running items are done.

        Parameters
        ----------
        fn : callable
        items : iterable
        concurrency : int, optional
            Default: the settings' (1 for the embedded server, 4 for an endpoint).
        progress : callable, optional
        cancel : callable, optional
        """
        items = list(items)
        total = len(items)
        workers = max(1, min(concurrency or self.settings.resolved_concurrency, total or 1))
        results: dict[int, Any] = {}
        if workers == 1:
            for i, item in enumerate(items):
                if cancel is not None and cancel():
                    break
                results[i] = fn(item)
                if progress is not None:
                    progress(len(results), total)
            return [results[i] for i in range(len(results))]
        error = None
        next_i = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth-llm") as pool:
            running = {}
            while True:
                while (
                    error is None
                    and next_i < total
                    and len(running) < workers
                    and not (cancel is not None and cancel())
                ):
                    running[pool.submit(fn, items[next_i])] = next_i
                    next_i += 1
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        results[i] = fut.result()
                    except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others finish
                        if error is None:
                            error = exc
                    if progress is not None:
                        progress(len(results), total)
        if error is not None:
            raise error
        n = 0
        while n in results:
            n += 1
        return [results[i] for i in range(n)]


class _Connection:
    """What a client and its :meth:`LLMClient.with_deadline` copies share: the SDK client and the server."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sdk = None
        self.http = None
        self.server = None
        self.base_url = None  # what sdk was built for (a restarted embedded server has a new port)


def _is_connect_failure(exc: BaseException) -> bool:
    """The SDK's connection error came from failing to connect (refused, DNS, TLS), not a dropped answer."""
    cause = exc.__cause__
    if cause is None:
        return True
    names = {c.__name__ for c in type(cause).__mro__}
    return bool(names & {"ConnectError", "ConnectTimeout", "UnsupportedProtocol", "InvalidURL"}) or not (
        names & {"RemoteProtocolError", "ReadError", "WriteError", "ProtocolError", "ReadTimeout"}
    )


def _retried(retries: int) -> str:
    """`` after up to N retries`` (empty without retries)."""
    return f" after up to {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""


def _count(value) -> int:
    """A token count from a reply's usage (0 when absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return max(int(value), 0)


def _short(exc: Exception, limit: int = 200) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _strip_fences(text: str) -> str:
    """Remove a Markdown code fence some chat models put around JSON."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


_shared: dict = {}
_shared_lock = threading.Lock()


def get_client(settings: LLMSettings | None = None, *, api_key: str | None = None) -> LLMClient:
    """A process-wide client per settings (default: :meth:`LLMSettings.from_env`), created on first use.

    Clients are shared so that their usage accumulates in one place and the
    embedded server is started once. The key is told apart by a hash held in
    memory only, so two keys for one endpoint get two clients.

    Examples
    --------
    >>> s = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", cache=False)
    >>> get_client(s) is get_client(s)
    True
    """
    import hashlib

    settings = settings if settings is not None else LLMSettings.from_env()
    fingerprint = hashlib.sha256(api_key.encode("utf-8")).hexdigest() if api_key else ""
    with _shared_lock:
        client = _shared.get((settings, fingerprint))
        if client is None:
            client = _shared[(settings, fingerprint)] = LLMClient(settings, api_key=api_key)
        return client
