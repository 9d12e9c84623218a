"""A scripted stand-in for :class:`~synth_core.llm.client.LLMClient`, for tests above the LLM layer.

:class:`FakeLLM` *is* an ``LLMClient`` whose transport is replaced: caching,
accounting, seeds, JSON validation and parse retries run exactly as in
production; only the request is answered from a script instead of a server.

Examples
--------
>>> fake = FakeLLM(responses=["1,2\\n3,4\\n"])
>>> fake.complete("a,b\\n").text
'1,2\\n3,4\\n'
>>> fake.calls[0].prompt, fake.usage.summary()["calls"]
('a,b\\n', 1)

A callable answers from the prompt:

>>> echo = FakeLLM(responses=lambda prompt: prompt.upper())
>>> echo.complete("abc").text
'ABC'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .client import LLMClient
from .settings import LLMSettings

__all__ = ["FakeLLM", "FakeCall", "FakeLLMExhausted"]


class FakeLLMExhausted(AssertionError):
    """A :class:`FakeLLM` was asked more often than it has scripted responses."""


@dataclass(frozen=True)
class FakeCall:
    """One request the fake received.

    Attributes
    ----------
    kind : {'completion', 'chat'}
    prompt : str
        The prompt, or for chat the messages' contents joined by blank lines.
    grammar : str or None
        The GBNF sent (``extra_body['grammar']``), if any.
    response_format : dict or None
    request : dict
        The whole request as it would go to the SDK.
    """

    kind: str
    prompt: str
    grammar: str | None
    response_format: dict | None
    request: dict = field(repr=False)


class FakeLLM(LLMClient):
    """Answers requests from a script and records them.

    Parameters
    ----------
    responses : sequence or callable
        A list of replies used in order (an ``Exception`` instance in the list
        is raised instead, to test error paths), or ``callable(prompt) -> str``.
    api : {'completion', 'chat'}
        Which path callers should take (as the embedded model: ``'completion'``).
    constrain : {'grammar', 'json_schema', 'json_object', 'none'}
        Which constraint callers should send (as the embedded model: ``'grammar'``).
    cache_dir : str or Path, optional
        Turn the reply cache on, in this directory (off by default).
    settings : LLMSettings, optional
        Overrides ``api``, ``constrain`` and ``cache_dir`` entirely.
    tokens_per_char : float
        Token counts reported: ``ceil(len(text) * tokens_per_char)``.
    context_tokens : int, optional
        The context window prompts are fitted to (default 8192, as an endpoint's).

    Attributes
    ----------
    calls : list of FakeCall
        Every request that reached the fake (cache hits do not).

    Copies from :meth:`~LLMClient.with_deadline` share the script, its position and ``calls``.
    """

    def __init__(
        self,
        responses: Sequence | Callable[[str], str] = (),
        *,
        api: str = "completion",
        constrain: str = "grammar",
        cache_dir=None,
        settings: LLMSettings | None = None,
        tokens_per_char: float = 0.25,
        context_tokens: int | None = None,
    ):
        if settings is None:
            settings = LLMSettings(
                base_url="http://fake-llm.invalid/v1",
                model="fake",
                api=api,
                constrain=constrain,
                cache=cache_dir is not None,
                cache_dir=str(cache_dir) if cache_dir is not None else None,
                concurrency=1,
                max_tokens=4096,
                context_tokens=context_tokens,
            )
        super().__init__(settings, api_key="sk-fake-not-a-real-key")
        self._responses = responses if callable(responses) else list(responses)
        self._script = {"next": 0}  # a dict, so that with_deadline() copies share the position
        self._lock = threading.Lock()
        self.tokens_per_char = tokens_per_char
        self.calls: list[FakeCall] = []

    def __repr__(self) -> str:
        return f"FakeLLM(calls={len(self.calls)}, api={self.api!r}, constrain={self.constrain!r})"

    def _sdk(self):  # never builds a real client
        return None

    def _send(self, kind: str, request: dict) -> dict:
        if kind == "completion":
            prompt = request["prompt"]
        else:
            prompt = "\n\n".join(m["content"] for m in request["messages"])
        extra = request.get("extra_body") or {}
        with self._lock:
            self.calls.append(
                FakeCall(kind, prompt, extra.get("grammar"), request.get("response_format"), dict(request))
            )
            if callable(self._responses):
                reply = None
            elif self._script["next"] >= len(self._responses):
                raise FakeLLMExhausted(
                    f"FakeLLM has {len(self._responses)} scripted response(s) and was asked "
                    f"for call {self._script['next'] + 1}"
                )
            else:
                reply = self._responses[self._script["next"]]
                self._script["next"] += 1
        if reply is None:
            reply = self._responses(prompt)
        if isinstance(reply, BaseException):
            raise reply
        text = str(reply)
        return {
            "text": text,
            "prompt_tokens": _tokens(prompt, self.tokens_per_char),
            "completion_tokens": _tokens(text, self.tokens_per_char),
            "finish_reason": "stop",
        }


def _tokens(text: str, rate: float) -> int:
    return int(-(-len(text) * rate // 1))
