"""On-disk cache of LLM replies, keyed by everything that shapes a reply.

A key is the SHA-256 of the canonical JSON of: endpoint, model, call kind,
the prompt or messages, and every sampling parameter (temperature, max tokens,
stop, grammar, response format, seed) plus a *sample index*, so ``n``
different calls with the same prompt are ``n`` different keys, and a replayed
run finds every reply and makes no request. The API key is never part of a
key or an entry.

Entries are small JSON files ``<dir>/<k[:2]>/<k>.json`` written atomically
(temporary file, then ``os.replace``), so threads and processes may share one
directory. A corrupt entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["ReplyCache", "cache_key"]

_VERSION = 1


def cache_key(payload: dict) -> str:
    """SHA-256 hex digest of ``payload`` as canonical JSON (sorted keys, no spaces).

    Examples
    --------
    >>> cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(
        {"v": _VERSION, **payload}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ReplyCache:
    """A directory of cached replies.

    Parameters
    ----------
    directory : str or Path
        Created on first write.
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"ReplyCache({str(self.directory)!r})"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored entry, or ``None`` when absent or unreadable."""
        try:
            with self._path(key).open("r", encoding="utf-8") as fh:
                entry = json.load(fh)
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) and "text" in entry else None

    def put(self, key: str, entry: dict) -> None:
        """Store ``entry`` (a JSON-serialisable dict with at least ``text``) atomically.

        A cache that cannot be written (read-only disk, full disk) is skipped
        silently: the reply has been received and is used either way.
        """
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError:
            return

    def __len__(self) -> int:
        if not self.directory.exists():
            return 0
        return sum(1 for _ in self.directory.glob("??/*.json"))

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        n = 0
        for p in self.directory.glob("??/*.json"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n
