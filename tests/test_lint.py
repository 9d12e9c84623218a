"""The tree stays clean under the project's ruff rules and formatter (``[tool.ruff]`` in pyproject.toml).

Fix with ``ruff check --fix . && ruff format .`` (ruff is pinned in the ``test`` extra, so every machine
formats alike).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_check_finds_nothing():
    out = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_would_change_nothing():
    out = _ruff("format", "--no-cache", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr
