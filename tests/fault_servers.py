"""Faulty OpenAI-compatible endpoints for tests: small stdlib HTTP servers on free loopback ports.

Each helper is a context manager that starts a ``http.server`` in a daemon
thread on ``127.0.0.1`` and yields a :class:`FaultServer` whose ``base_url``
(``http://127.0.0.1:PORT/v1``) goes straight into ``LLMSettings(base_url=...)``,
``synth llm-check --base-url ...`` or ``OPENAI_BASE_URL``. Leaving the block
stops the server (a hanging request is released and its connection closed).

=====================  ==========================================================================
helper                 what every request gets
=====================  ==========================================================================
:func:`garbage`        HTTP 200, ``text/plain``, text that is not JSON
:func:`bad_json`       HTTP 200, ``application/json``, a body that is not valid JSON
:func:`json_reply`     HTTP 200, ``application/json``, the JSON value given (wrong shapes:
                       :data:`WRONG_SHAPES` has ``{}``, empty choices, null text, ...)
:func:`hang`           the request is read, then nothing is answered until the server is closed
:func:`down`           nothing: the port has no listener (connection refused)
:func:`nonsense_rows`  valid OpenAI completion / chat JSON whose text is junk, not rows
:func:`fail_after`     ``n`` valid completions (text from ``reply``), then HTTP 500 or a closed
                       connection (``mode='500'`` or ``'close'``)
:func:`drip`           HTTP 200 headers at once, then the body one byte every ``interval`` s
:func:`too_long`       HTTP 400 with a server's "context length exceeded" error body (llama-cpp-
                       python's by default; :data:`CONTEXT_ERRORS` has other servers' wording)
:func:`latency`        not a fault: a valid answer after a fixed delay, many requests at once (a
                       chat request with a JSON schema gets a random value valid under it, drawn
                       from the request: the same request gets the same answer); counts the
                       requests in flight (``in_flight``, ``max_in_flight``)
=====================  ==========================================================================

``GET /v1/models`` answers a valid model list on every server but :func:`garbage`,
:func:`bad_json`, :func:`hang` and :func:`down`, so a health check alone cannot
tell a good endpoint from a broken one. :data:`FAULTS` maps a kind name to its
helper (for parametrised tests); :func:`fault_server` is a pytest fixture
that builds any of them and closes them at the end of the test.

Examples
--------
>>> import json, urllib.request
>>> with nonsense_rows() as srv:
...     with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
...         json.loads(resp.read())["data"][0]["id"]
'fault-model'
>>> srv.hits
1
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = [
    "FaultServer",
    "FAULTS",
    "WRONG_SHAPES",
    "MODEL",
    "completion_body",
    "chat_body",
    "garbage",
    "bad_json",
    "json_reply",
    "hang",
    "down",
    "nonsense_rows",
    "fail_after",
    "drip",
    "too_long",
    "CONTEXT_ERRORS",
    "latency",
    "schema_instance",
    "schema_reply",
    "fault_server",
    "wait_for",
]

#: The model name every fault server lists and echoes.
MODEL = "fault-model"

#: Text that is neither CSV rows nor JSON: what a confused model writes.
JUNK = (
    "Sure! Here are some rows for your table:\n"
    "lorem ipsum dolor sit amet\n"
    '{"rows": "not a list"\n'
    ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"
    "I hope this helps!!! \u2603\n"
)

#: Valid JSON of the wrong shape for an OpenAI reply: name -> body.
WRONG_SHAPES = {
    "object_without_choices": {"result": "hello"},
    "a_list": [1, 2, 3],
    "empty_choices": {"id": "x", "object": "text_completion", "choices": []},
    "choices_not_a_list": {"id": "x", "choices": "hello"},
    "choice_not_an_object": {"id": "x", "choices": ["hello"]},
    "null_text": {
        "id": "x",
        "object": "text_completion",
        "choices": [{"index": 0, "text": None, "finish_reason": "stop"}],
    },
    "null_content": {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}],
    },
    "text_is_a_number": {"id": "x", "choices": [{"index": 0, "text": 42, "message": {"content": 42}}]},
}


def completion_body(text: str, *, model: str = MODEL) -> dict:
    """A valid ``/v1/completions`` reply with ``text``."""
    return {
        "id": "cmpl-fault",
        "object": "text_completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def chat_body(text: str, *, model: str = MODEL) -> dict:
    """A valid ``/v1/chat/completions`` reply whose message content is ``text``."""
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def _models_body() -> dict:
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}]}


class _Close(Exception):
    """Raised by a responder: drop the connection without an answer."""


class _Hang(Exception):
    """Raised by a responder: hold the request until the server closes."""


class FaultServer:
    """A running fault server.

    Attributes
    ----------
    kind : str
    base_url : str
        ``http://127.0.0.1:PORT/v1``.
    port : int
    requests : list of dict
        Every request received: ``{"method", "path", "body"}`` (body parsed as
        JSON when it is JSON, else the text, else ``None``).
    """

    def __init__(self, kind: str, respond: Callable[[FaultServer, str, str, object], tuple] | None):
        self.kind = kind
        self.requests: list[dict] = []
        self._respond = respond
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.in_flight = 0  # completion / chat requests being answered now (:func:`latency` counts them)
        self.max_in_flight = 0

    # ------------------------------------------------------------------ facts

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def hits(self) -> int:
        """Requests received so far."""
        return len(self.requests)

    def completions(self) -> list[dict]:
        """Bodies of the completion and chat requests received (health checks excluded)."""
        return [r["body"] for r in self.requests if r["path"].endswith("completions")]

    def __repr__(self) -> str:
        return f"FaultServer({self.kind!r}, {self.base_url}, hits={self.hits})"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> FaultServer:
        if self._respond is None:  # 'down': find a port, then leave it with no listener
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            return self
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fault = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fault-server-{self.kind}",
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the listen backlog: many clients connect at once to :func:`latency`
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fault: FaultServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: 'close' and 'hang' act on that request only
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _handle(self, method: str) -> None:
        fault = self.server.fault
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with fault._lock:
            fault.requests.append({"method": method, "path": self.path, "body": body})
            index = len(fault.requests) - 1
        try:
            status, content_type, payload = fault._respond(fault, method, self.path, body, index)
        except _Hang:
            fault._closing.wait()
            self.close_connection = True
            return
        except _Close:
            self.close_connection = True
            return
        if callable(payload):  # a drip: headers now, the body in pieces
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            try:
                payload(self.wfile, fault._closing)
            except OSError:
                pass
            return
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up first
            pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")


def _json(value, status: int = 200) -> tuple:
    return status, "application/json", json.dumps(value)


def _reply_for(path: str, body, text: str) -> tuple:
    """A valid completion or chat reply with ``text``, by path."""
    if path.rstrip("/").endswith("/models"):
        return _json(_models_body())
    if path.rstrip("/").endswith("/chat/completions"):
        return _json(chat_body(text))
    return _json(completion_body(text))


@contextlib.contextmanager
def _running(kind: str, respond) -> Iterator[FaultServer]:
    srv = FaultServer(kind, respond).start()
    try:
        yield srv
    finally:
        srv.close()


# --------------------------------------------------------------------------- the faults


def garbage(text: str = "<html><body>Hello! This is not an API.</body></html>"):
    """HTTP 200 ``text/plain`` with ``text`` for every request (``/v1/models`` too)."""
    return _running("garbage", lambda srv, method, path, body, i: (200, "text/plain; charset=utf-8", text))


def bad_json(text: str = '{"choices": [{"text": "1,2,3"') -> contextlib.AbstractContextManager:
    """HTTP 200 ``application/json`` whose body is not valid JSON."""
    return _running("bad_json", lambda srv, method, path, body, i: (200, "application/json", text))


def json_reply(value, *, models: bool = True) -> contextlib.AbstractContextManager:
    """HTTP 200 ``application/json`` with ``value`` for every completion / chat request.

    ``models``: answer ``GET /v1/models`` properly (else it gets ``value`` too).
    """

    def respond(srv, method, path, body, i):
        if models and path.rstrip("/").endswith("/models"):
            return _json(_models_body())
        return _json(value)

    return _running("json_reply", respond)


def hang() -> contextlib.AbstractContextManager:
    """Accept every request, read it, and never answer until the server is closed."""

    def respond(srv, method, path, body, i):
        raise _Hang

    return _running("hang", respond)


def down() -> contextlib.AbstractContextManager:
    """A loopback port with nothing listening: every request is refused."""
    return _running("down", None)


def nonsense_rows(text: str = JUNK) -> contextlib.AbstractContextManager:
    """Valid completion and chat replies (and a valid model list) whose text is junk, not rows."""
    return _running("nonsense_rows", lambda srv, method, path, body, i: _reply_for(path, body, text))


def fail_after(
    n: int, *, mode: str = "500", reply: str | Callable[[object], str] = "ok"
) -> contextlib.AbstractContextManager:
    """Answer ``n`` completion / chat requests validly, then fail every later one.

    Parameters
    ----------
    n : int
        Valid answers before the failures start (``GET /v1/models`` is not counted and always works).
    mode : {'500', 'close'}
        HTTP 500 with an OpenAI-style error body, or a connection closed with no answer.
    reply : str or callable
        The valid answers' text, or ``reply(request_body) -> str``.
    """
    if mode not in ("500", "close"):
        raise ValueError(f"mode must be '500' or 'close', not {mode!r}")
    answered = [0]

    def respond(srv, method, path, body, i):
        if path.rstrip("/").endswith("/models"):
            return _json(_models_body())
        with srv._lock:
            ok = answered[0] < n
            answered[0] += 1
        if ok:
            return _reply_for(path, body, reply(body) if callable(reply) else reply)
        if mode == "close":
            raise _Close
        return _json({"error": {"message": "the model crashed", "type": "server_error"}}, status=500)

    return _running(f"fail_after_{n}_{mode}", respond)


def drip(interval: float = 0.5, text: str = "1,2,3\n") -> contextlib.AbstractContextManager:
    """HTTP 200 headers at once, then a valid completion body one byte every ``interval`` seconds.

    Each byte arrives well within any read timeout, so only a cap on the whole
    request stops it.
    """

    def respond(srv, method, path, body, i):
        if path.rstrip("/").endswith("/models"):
            return _json(_models_body())
        data = json.dumps(completion_body(text)).encode("utf-8")

        def write(wfile, closing):
            for k in range(len(data)):
                wfile.write(data[k : k + 1])
                wfile.flush()
                if closing.wait(interval):
                    return

        return 200, "application/json", write

    return _running("drip", respond)


#: Error bodies servers send when a request does not fit the context window: server -> (status, body).
CONTEXT_ERRORS = {
    # llama-cpp-python 0.3.x (llama_cpp/server/errors.py, context_length_exceeded), the numbers
    "llama_cpp_python": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 2048 tokens, however you requested 3203 tokens "
                "(2983 in your prompt; 220 for the completion). Please reduce your prompt; or completion length.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    # the native llama-server (exceed_context_size_error)
    "llama_server": (
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 3203,
                "n_ctx": 2048,
            }
        },
    ),
    # OpenAI's chat wording
    "openai": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 "
                "tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    # a server that says so without any number
    "plain": (
        400,
        {"error": {"message": "the prompt is too long for this model", "type": "invalid_request"}},
    ),
}


def too_long(server: str = "llama_cpp_python") -> contextlib.AbstractContextManager:
    """Refuse every completion / chat request as too long for the context, with ``server``'s error body.

    ``server`` is a key of :data:`CONTEXT_ERRORS`; ``GET /v1/models`` answers a valid model list.
    """
    status, body = CONTEXT_ERRORS[server]

    def respond(srv, method, path, request, i):
        if path.rstrip("/").endswith("/models"):
            return _json(_models_body())
        return _json(body, status=status)

    return _running(f"too_long_{server}", respond)


def schema_instance(schema: dict, rng: random.Random):
    """A random value valid under ``schema``, for the JSON schemas the LLM layer sends.

    ``enum`` (one of the values), ``anyOf`` (a branch that is not ``null`` when there is one),
    objects (their *required* properties, in the order listed), arrays (``maxItems`` items, else
    ``minItems``, at most 16), integers and numbers within ``minimum`` / ``maximum`` (numbers with
    3 decimals), strings (``s`` and digits), booleans and ``null``.

    Examples
    --------
    >>> rows = {"type": "object", "properties": {"rows": {"type": "array", "maxItems": 2, "items": {
    ...     "type": "object", "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 3},
    ...     "b": {"enum": ["x", "y"]}}, "required": ["a", "b"]}}}, "required": ["rows"]}
    >>> value = schema_instance(rows, random.Random(0))
    >>> len(value["rows"]), all(1 <= r["a"] <= 3 and r["b"] in "xy" for r in value["rows"])
    (2, True)
    """
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"] or schema["anyOf"]
        return schema_instance(rng.choice(branches), rng)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return {k: schema_instance(v, rng) for k, v in props.items() if k in required}
    if kind == "array":
        count = schema.get("maxItems", schema.get("minItems", 0))
        return [schema_instance(schema.get("items", {}), rng) for _ in range(min(int(count), 16))]
    if kind == "integer":
        lo = math.ceil(schema.get("minimum", 0))
        return rng.randint(lo, math.floor(schema.get("maximum", lo + 100)))
    if kind == "number":
        lo = float(schema.get("minimum", 0.0))
        hi = float(schema.get("maximum", lo + 100.0))
        return min(max(round(rng.uniform(lo, hi), 3), lo), hi)
    if kind == "string":
        return f"s{rng.randrange(10**6)}"
    if kind == "boolean":
        return rng.random() < 0.5
    return None


def schema_reply(body, *, rules=()) -> str:
    """The text :func:`latency` answers a request ``body`` with, drawn from the request itself.

    A chat request with a ``json_schema`` response format gets :func:`schema_instance` of its schema;
    one named ``rules`` gets up to two of ``rules`` (rule texts) when some are given. Anything else
    gets an empty JSON object. The same request always gets the same text.
    """
    if not isinstance(body, dict):
        return "{}"
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode("utf-8")).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    fmt = body.get("response_format") or {}
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return "{}"
    if spec.get("name") == "rules" and rules:
        chosen = rng.sample(list(rules), min(2, len(rules)))
        return json.dumps({"rules": [{"rule": t, "reason": "test"} for t in chosen]})
    return json.dumps(schema_instance(spec["schema"], rng))


def latency(
    delay: float = 0.1, *, rules=(), reply: Callable[[object], str] | None = None
) -> contextlib.AbstractContextManager:
    """A healthy endpoint that takes ``delay`` seconds per completion / chat request, many at once.

    Each request is answered after ``delay`` seconds with :func:`schema_reply` (valid rows, skeletons,
    DAGs for the JSON schema the request carries; ``rules`` are the rule texts a rule request gets), or
    ``reply(request_body)``. The server counts the requests being answered at once: ``in_flight`` and
    its peak ``max_in_flight`` (set it to 0 between runs); ``GET /v1/_stats`` answers
    ``{"requests", "max_in_flight"}`` and ``GET /v1/_stats?reset=1`` also resets the peak, for a
    server in another process.
    """

    def respond(srv, method, path, body, i):
        route = path.split("?", 1)[0].rstrip("/")
        if route.endswith("/models"):
            return _json(_models_body())
        if route.endswith("/_stats"):
            with srv._lock:
                stats = {"requests": len(srv.completions()), "max_in_flight": srv.max_in_flight}
                if path.endswith("reset=1"):
                    srv.max_in_flight = 0
            return _json(stats)
        with srv._lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            srv._closing.wait(delay)
            text = reply(body) if reply is not None else schema_reply(body, rules=rules)
        finally:
            with srv._lock:
                srv.in_flight -= 1
        return _reply_for(path, body, text)

    return _running(f"latency_{delay:g}", respond)


#: Kind name -> helper taking no required argument (``fail_after`` with ``n=1``).
FAULTS: dict[str, Callable[..., contextlib.AbstractContextManager]] = {
    "garbage": garbage,
    "bad_json": bad_json,
    "hang": hang,
    "down": down,
    "nonsense_rows": nonsense_rows,
    "fail_after": lambda **kw: fail_after(kw.pop("n", 1), **kw),
}


@pytest.fixture
def fault_server():
    """Factory fixture: ``fault_server('hang')`` or ``fault_server('fail_after', n=2, mode='close')``.

    Returns the running :class:`FaultServer`; every server made is closed when the test ends.
    ``tests/conftest.py`` imports it, so every test module can ask for it.
    """
    with contextlib.ExitStack() as stack:

        def make(kind: str, **kwargs) -> FaultServer:
            helper = FAULTS.get(kind) or globals().get(kind)
            if helper is None or kind.startswith("_"):
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULTS)}, json_reply, drip")
            return stack.enter_context(helper(**kwargs))

        yield make


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True
