"""A wall-clock budget for one LLM call, enforced inside the ``openai`` SDK's own retry loop.

The SDK's ``timeout`` is httpx's: a limit on each connect, each socket read,
each write, and it is given again to every retry. A server that never answers
therefore holds a call for ``(max_retries + 1) * timeout`` plus the backoff
pauses, and one that sends a byte every few seconds holds it forever. We keep
the SDK's retry loop (no second loop of ours) and bound it from the HTTP
client's public event hooks, for the calls made inside :func:`call_budget`:

- request hook: each attempt's connect / read / write / pool timeouts become at
  most the time left; an attempt that would start with no time left raises
  :class:`CallBudgetSpent`, an ``openai.OpenAIError`` the SDK passes through
  without retrying, so no request is ever sent after the budget;
- response hook: a retryable answer (408, 409, 429, 5xx) whose pause before the
  retry (``Retry-After``, else the SDK's backoff) would end past the budget gets
  ``x-should-retry: false``, the SDK's own opt-out; and the body is read through
  a guard that raises the SDK's read timeout once the budget is spent (a
  server dripping bytes).

What is left: after an attempt times out, the SDK pauses once for its backoff
(0.5 s before the first retry, doubling, at most 8 s) before the request hook
stops it; headers dripped byte by byte are bounded by the per-read timeout only.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import openai

__all__ = ["CallBudgetSpent", "call_budget", "time_left", "install_hooks", "new_http_client"]

_local = threading.local()
_RETRYABLE = (408, 409, 429)
_INITIAL_DELAY, _MAX_DELAY = 0.5, 8.0


class CallBudgetSpent(openai.OpenAIError):
    """No time is left for (another attempt of) the current call; the SDK does not retry it."""


@contextlib.contextmanager
def call_budget(deadline: float | None):
    """Calls made in this thread inside the block must end by ``deadline`` (``time.monotonic()``)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


def time_left() -> float | None:
    """Seconds left of this thread's budget, or ``None`` outside :func:`call_budget`."""
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def _on_request(request) -> None:
    left = time_left()
    if left is None:
        return
    if left <= 0.01:
        raise CallBudgetSpent("no time is left for this request")
    timeout = dict(request.extensions.get("timeout") or {})
    capped = {}
    for name in ("connect", "read", "write", "pool"):
        value = timeout.get(name)
        capped[name] = left if value is None else min(float(value), left)
    request.extensions["timeout"] = capped


def _retry_pause(response) -> float:
    """The SDK's pause before retrying ``response`` (upper bound: no jitter)."""
    headers = response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            continue  # an HTTP date: the SDK may wait long; treat as the longest backoff
    try:
        taken = int(response.request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        taken = 0
    return min(_INITIAL_DELAY * 2.0 ** min(taken, 20), _MAX_DELAY)


def _on_response(response) -> None:
    left = time_left()
    if left is None:
        return
    deadline = time.monotonic() + left
    status = response.status_code
    if (status in _RETRYABLE or status >= 500) and left <= _retry_pause(response) + 0.05:
        response.headers["x-should-retry"] = "false"
    stream = getattr(response, "stream", None)
    base = _httpx_module(response)
    sync_stream = getattr(base, "SyncByteStream", None)
    if sync_stream is not None and isinstance(stream, sync_stream) and not isinstance(stream, _Guarded):
        response.stream = _guard(stream, deadline, base, response.request)


class _Guarded:
    """Marker of a guarded stream."""


def _guard(stream, deadline: float, base, request):
    """Wrap a response body stream so that it stops with the SDK's read timeout once ``deadline`` passes."""

    class Guarded(base.SyncByteStream, _Guarded):
        def __iter__(self):
            for chunk in stream:
                if time.monotonic() > deadline:
                    raise base.ReadTimeout(
                        "the call's time budget ran out while reading the answer", request=request
                    )
                yield chunk

        def close(self):
            stream.close()

    return Guarded()


def _httpx_module(obj):
    """The httpx package the SDK uses (``httpx`` or ``httpx2``), from one of its objects."""
    return sys.modules[type(obj).__module__.split(".")[0]]


def install_hooks(http_client) -> None:
    """Add the budget hooks to an httpx ``Client`` (once; a no-op on a second call)."""
    hooks = http_client.event_hooks
    if _on_request in hooks.get("request", []):
        return
    http_client.event_hooks = {
        "request": [*hooks.get("request", []), _on_request],
        "response": [*hooks.get("response", []), _on_response],
    }


class _HttpClient(openai.DefaultHttpxClient):
    """The SDK's default HTTP client (its limits, redirects), closed when collected, as the SDK's own is."""

    def __del__(self) -> None:
        try:
            if not self.is_closed:
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def new_http_client():
    """An HTTP client with the SDK's defaults and the budget hooks."""
    client = _HttpClient()
    install_hooks(client)
    return client
