"""Settings of the LLM layer: one frozen value, built from arguments or the environment.

The API key is deliberately **not** a field of :class:`LLMSettings`: a settings
value is hashed into cache keys, shown in the UI, written into run reports and
pickled by Streamlit, and none of those may ever carry a key. The key travels
separately (argument or ``OPENAI_API_KEY``) straight into the ``openai``
client, and only :func:`mask_key` forms of it are ever shown.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import InvalidParameterError

__all__ = [
    "LLMSettings",
    "EMBEDDED_MODEL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_CONTEXT_TOKENS",
    "EMBEDDED_MAX_CONTEXT",
    "mask_key",
    "resolve_api_key",
    "default_cache_dir",
]

#: Model name the embedded server answers to (``--model_alias``).
EMBEDDED_MODEL = "gemma-3-270m-q4_k_m"
#: Seconds one call may take, its HTTP retries included (the embedded model decodes about 10 tokens/s
#: under a grammar).
DEFAULT_TIMEOUT = 120.0
#: HTTP retries done by the openai SDK itself on timeouts, 408/409/429 and 5xx.
DEFAULT_MAX_RETRIES = 2
#: Context window (prompt + answer, in tokens) assumed when ``context_tokens`` is not set: what the
#: embedded server is started with, and what an endpoint is assumed to have (``/v1/models`` does not
#: always say). 8192 for the embedded model, measured with ``llama_cpp.server`` 0.3.36 and
#: ``--logits_all false`` on 2 busy cores (server RSS idle / after the longest prompt; prompt time):
#: n_ctx 2048: 403 / 444 MB, 1.8k tokens 8 s; 4096: 439 / 529 MB, 3.6k tokens 28 s;
#: 8192: 511 / 658 MB, 7.2k tokens 74 s; 16384: 657 MB idle; 32768: 946 MB idle (KV cache 18 KiB a
#: token). 8192 fits a laptop and a full prompt still ends inside the 120-s call timeout; a 16k
#: prompt would take about 3 minutes on such a machine.
DEFAULT_CONTEXT_TOKENS = 8192
#: Gemma 3 270M's trained context: the most the embedded server can be started with.
EMBEDDED_MAX_CONTEXT = 32768
_MIN_CONTEXT = 512
_MAX_CONTEXT = 10_000_000

_APIS = ("auto", "completion", "chat")
_CONSTRAINTS = ("auto", "grammar", "json_schema", "json_object", "none")
_PLACEHOLDER_KEY = "sk-no-key-needed"  # the embedded server checks no key; the SDK wants a string


def default_cache_dir() -> Path:
    """``$SYNTH_CACHE_DIR`` if set, else the per-user cache dir (platformdirs) ``.../synth_core``."""
    env = os.environ.get("SYNTH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("synth_core", appauthor=False))


def mask_key(key: str | None) -> str:
    """A form of an API key that is safe to show: ``'sk-…abcd'``, or ``'(none)'``.

    Examples
    --------
    >>> mask_key("sk-proj-1234567890abcd")
    'sk-…abcd'
    >>> mask_key(None)
    '(none)'
    """
    if not key:
        return "(none)"
    head = key[:3] if len(key) > 12 else ""
    return f"{head}…{key[-4:]}" if len(key) > 8 else "…"


def resolve_api_key(api_key: str | None, settings: LLMSettings) -> str:
    """The key to hand to the SDK: the argument, else ``OPENAI_API_KEY``, else a placeholder.

    The embedded server (and many local servers) need no key; a placeholder
    string satisfies the SDK there. A hosted endpoint that needs one answers
    401, which the client turns into :class:`~synth_core.errors.LLMAuthError`
    naming both fixes.
    """
    if api_key:
        return api_key
    if settings.is_embedded:
        return _PLACEHOLDER_KEY
    return os.environ.get("OPENAI_API_KEY") or _PLACEHOLDER_KEY


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """Where and how to call an LLM. Never holds the API key.

    Parameters
    ----------
    base_url : str or None
        An OpenAI-compatible endpoint (``https://api.openai.com/v1``, a vLLM or
        llama.cpp server). ``None`` means the embedded local model, started on
        demand. Filled from ``OPENAI_BASE_URL`` by :meth:`from_env`.
    model : str or None
        Model name; ``None`` means the embedded model's name for the embedded
        server and is an error for an endpoint. Filled from ``SYNTH_LLM_MODEL``.
    timeout : float
        Seconds one call may take, wall clock, the SDK's HTTP retries included:
        a server that never answers (or drips bytes) costs one timeout, not
        ``max_retries + 1`` of them. Filled from ``SYNTH_LLM_TIMEOUT``. A whole
        run is bounded with :meth:`LLMClient.with_deadline`.
    max_retries : int
        HTTP retries the ``openai`` SDK does (timeouts, 429, 5xx), with its own
        exponential backoff and ``Retry-After`` handling, inside ``timeout``.
        We add no second loop. Filled from ``SYNTH_LLM_MAX_RETRIES``.
    parse_retries : int
        How many times a reply that does not parse (JSON that fails its schema)
        is asked again with the next sample index. Counted in the usage.
    concurrency : int or None
        Most requests in flight at once; ``None`` means 1 for the embedded
        server (it serves one request at a time) and 4 for an endpoint.
    temperature : float
        Sampling temperature (1.0 gave the most valid rows on the embedded model).
    seed : int or None
        Base seed; each call gets its own seed derived from it and the call's
        sample index, so runs repeat where the server honours seeds.
    max_tokens : int
        Upper bound on completion tokens per call.
    context_tokens : int or None
        The context window (prompt and answer, in tokens) of the model. For
        the embedded model it is what the server is started with (at most
        32768); for an endpoint it is what prompts are shortened to fit,
        since ``/v1/models`` does not always say. ``None`` means
        :data:`DEFAULT_CONTEXT_TOKENS` (8192). Filled from ``SYNTH_LLM_CONTEXT``.
    cache : bool
        Use the on-disk reply cache.
    cache_dir : str or None
        Where the cache lives; ``None`` means :func:`default_cache_dir`.
    api : {'auto', 'completion', 'chat'}
        Which endpoint rows and rules go through. ``'auto'``: completion for the
        embedded base model (it has no chat template), chat for an endpoint.
    constrain : {'auto', 'grammar', 'json_schema', 'json_object', 'none'}
        How output is constrained. ``'auto'``: a GBNF grammar for the embedded
        server, ``json_schema`` for an endpoint.

    Examples
    --------
    >>> s = LLMSettings(seed=1)
    >>> s.is_embedded, s.model_name, s.resolved_api, s.resolved_constrain
    (True, 'gemma-3-270m-q4_k_m', 'completion', 'grammar')
    """

    base_url: str | None = None
    model: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    parse_retries: int = 2
    concurrency: int | None = None
    temperature: float = 1.0
    seed: int | None = 0
    max_tokens: int = 1024
    context_tokens: int | None = None
    cache: bool = True
    cache_dir: str | None = None
    api: str = "auto"
    constrain: str = "auto"

    def __post_init__(self):
        problems = []
        if self.base_url is not None:
            if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
                problems.append(f"base_url must start with http:// or https://, got {self.base_url!r}")
            elif not self.model:
                problems.append(
                    f"a model name is needed for {self.base_url}: pass model=... or set SYNTH_LLM_MODEL"
                )
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            problems.append(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        for name in ("max_retries", "parse_retries"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 0 <= value <= 10):
                problems.append(f"{name} must be an integer from 0 to 10, got {value!r}")
        if self.concurrency is not None and not (
            isinstance(self.concurrency, int) and 1 <= self.concurrency <= 64
        ):
            problems.append(f"concurrency must be an integer from 1 to 64, got {self.concurrency!r}")
        if not (isinstance(self.temperature, (int, float)) and 0 <= self.temperature <= 2):
            problems.append(f"temperature must be from 0 to 2, got {self.temperature!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            problems.append(f"seed must be an integer or None, got {self.seed!r}")
        if not (isinstance(self.max_tokens, int) and 1 <= self.max_tokens <= 32768):
            problems.append(f"max_tokens must be an integer from 1 to 32768, got {self.max_tokens!r}")
        if self.context_tokens is not None:
            top = EMBEDDED_MAX_CONTEXT if self.base_url is None else _MAX_CONTEXT
            if not (
                isinstance(self.context_tokens, int)
                and not isinstance(self.context_tokens, bool)
                and _MIN_CONTEXT <= self.context_tokens <= top
            ):
                what = " (the embedded model's trained context)" if self.base_url is None else ""
                problems.append(
                    f"context_tokens must be an integer from {_MIN_CONTEXT} to {top}{what}, "
                    f"got {self.context_tokens!r}"
                )
        if self.api not in _APIS:
            problems.append(f"api must be one of {', '.join(_APIS)}, got {self.api!r}")
        if self.constrain not in _CONSTRAINTS:
            problems.append(f"constrain must be one of {', '.join(_CONSTRAINTS)}, got {self.constrain!r}")
        if problems:
            raise InvalidParameterError("invalid LLM settings: " + "; ".join(problems))

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_env(cls, *, base_url: str | None = None, model: str | None = None, **changes) -> LLMSettings:
        """Settings from arguments, falling back to ``OPENAI_BASE_URL``, ``SYNTH_LLM_MODEL``,
        ``SYNTH_LLM_TIMEOUT`` (seconds), ``SYNTH_LLM_MAX_RETRIES`` and ``SYNTH_LLM_CONTEXT`` (tokens).

        ``SYNTH_CACHE_DIR`` is read when the cache is opened (see :func:`default_cache_dir`).
        Empty variables count as unset; arguments win over variables.

        Raises
        ------
        InvalidParameterError
            A value out of range, or a variable that is not a number (named in the message).
        """
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        model = model or os.environ.get("SYNTH_LLM_MODEL") or None
        for name, field, kind, what in (
            ("SYNTH_LLM_TIMEOUT", "timeout", float, "a number of seconds"),
            ("SYNTH_LLM_MAX_RETRIES", "max_retries", int, "an integer"),
            ("SYNTH_LLM_CONTEXT", "context_tokens", int, "an integer number of tokens"),
        ):
            raw = os.environ.get(name, "").strip()
            if raw and field not in changes:
                try:
                    changes[field] = kind(raw)
                except ValueError:
                    raise InvalidParameterError(
                        f"invalid LLM settings: {name} must be {what}, got {raw!r}"
                    ) from None
        return cls(base_url=base_url, model=model, **changes)

    def replace(self, **changes) -> LLMSettings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ derived

    @property
    def is_embedded(self) -> bool:
        return self.base_url is None

    @property
    def model_name(self) -> str:
        return self.model or EMBEDDED_MODEL

    @property
    def resolved_api(self) -> str:
        if self.api != "auto":
            return self.api
        return "completion" if self.is_embedded else "chat"

    @property
    def resolved_constrain(self) -> str:
        if self.constrain != "auto":
            return self.constrain
        return "grammar" if self.is_embedded else "json_schema"

    @property
    def resolved_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return 1 if self.is_embedded else 4

    @property
    def resolved_context_tokens(self) -> int:
        """The context window prompts are fitted to (``context_tokens``, else 8192).

        Examples
        --------
        >>> LLMSettings().resolved_context_tokens, LLMSettings(context_tokens=4096).resolved_context_tokens
        (8192, 4096)
        """
        return self.context_tokens if self.context_tokens is not None else DEFAULT_CONTEXT_TOKENS

    @property
    def endpoint_label(self) -> str:
        """What identifies the endpoint in cache keys, logs and reports (never a key)."""
        return f"embedded:{self.model_name}" if self.is_embedded else self.base_url.rstrip("/")

    @property
    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()

    def to_dict(self) -> dict:
        """Plain dict for run reports; has no key because the dataclass has none."""
        return asdict(self)
