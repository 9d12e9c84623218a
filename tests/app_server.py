"""The app served for real by Streamlit, as Streamlit's own e2e conftest does it: a free port,
``--server.headless true``, no usage stats, no file watcher, ``/_stcore/health`` polled until it answers.

Used by the browser test (``tests/test_browser.py``) and the page-timing benchmark (``benchmarks/pages.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


class AppDidNotStart(RuntimeError):
    """Streamlit exited or did not answer its health check in time (the message ends with its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(
    app_dir: Path,
    *,
    python: str = sys.executable,
    log: Path | None = None,
    env: dict | None = None,
    timeout: float = 60,
) -> Iterator[str]:
    """Serve ``app_dir/app.py`` and yield its URL; the server is stopped on exit.

    ``log`` receives the server's output (default: discarded); ``env`` replaces the environment.
    """
    port = free_port()
    command = [python, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log if log is not None else os.devnull, "wb") as out:
        proc = subprocess.Popen(command, cwd=app_dir, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                tail = Path(log).read_text(errors="replace")[-3000:] if log is not None else ""
                raise AppDidNotStart(f"streamlit did not start:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
