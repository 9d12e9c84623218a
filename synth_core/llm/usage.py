"""Thread-safe accounting of LLM calls: calls, tokens, seconds, cache hits, rows, per caller tag.

One :class:`Usage` lives on each client. Threads of :meth:`LLMClient.map`
record into it concurrently; the UI reads :meth:`Usage.summary` and
:meth:`Usage.by_tag` while a run goes on, and run reports store
:meth:`Usage.to_dict`.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

__all__ = ["CallRecord", "Usage"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request as the accounting sees it.

    Attributes
    ----------
    call_id : str
        Unique per request (cache hits get their own id too).
    tag : str
        Caller tag (a rule id, ``'propose'``, ...); ``''`` when none was given.
    kind : {'completion', 'chat'}
    prompt_tokens, completion_tokens : int
        As reported by the server (or stored in the cache for hits).
    seconds : float
        Wall time of the request; 0 for cache hits.
    cached : bool
        Answered from the on-disk cache; no request was made.
    error : str
        Class name of the error raised, ``''`` for success.
    """

    call_id: str
    tag: str
    kind: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    error: str = ""


@dataclass
class _TagTotals:
    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    parse_retries: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0


@dataclass
class Usage:
    """Running totals, overall and per tag.

    ``calls`` counts requests that reached the server; ``cache_hits`` counts
    replies served from the cache (no request). Tokens of cache hits are not
    added to the token totals, so totals say what this run cost.

    Examples
    --------
    >>> u = Usage()
    >>> u.record(CallRecord("c1", "r1", "completion", 100, 20, 1.5))
    >>> u.add_rows("r1", accepted=4, rejected=1)
    >>> s = u.summary(); s["calls"], s["completion_tokens"], s["rows_accepted"]
    (1, 20, 4)
    """

    server_start_seconds: float | None = None
    _totals: dict = field(default_factory=dict, repr=False)
    _records: list = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, rec: CallRecord) -> None:
        """Add one call (thread-safe)."""
        with self._lock:
            self._records.append(rec)
            t = self._totals.setdefault(rec.tag, _TagTotals())
            if rec.error:
                t.errors += 1
            elif rec.cached:
                t.cache_hits += 1
            else:
                t.calls += 1
                t.prompt_tokens += rec.prompt_tokens
                t.completion_tokens += rec.completion_tokens
            t.seconds += rec.seconds

    def add_parse_retry(self, tag: str = "") -> None:
        """Count one reply that failed to parse and was asked again."""
        with self._lock:
            self._totals.setdefault(tag or "", _TagTotals()).parse_retries += 1

    def add_rows(self, tag: str = "", *, accepted: int = 0, rejected: int = 0) -> None:
        """Count rows parsed from replies, accepted and rejected."""
        with self._lock:
            t = self._totals.setdefault(tag or "", _TagTotals())
            t.rows_accepted += accepted
            t.rows_rejected += rejected

    def set_server_start(self, seconds: float | None) -> None:
        """Record what starting the embedded server cost (once per process, on the first client)."""
        with self._lock:
            self.server_start_seconds = seconds

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def summary(self) -> dict:
        """Totals over all tags as a plain dict (safe to show and to store).

        Keys: calls, cache_hits, errors, prompt_tokens, completion_tokens,
        total_tokens, seconds, parse_retries, rows_accepted, rows_rejected,
        tokens_per_accepted_row (None without accepted rows), server_start_seconds.
        """
        with self._lock:
            totals = list(self._totals.values())
            start = self.server_start_seconds
        out = _TagTotals()
        for t in totals:
            for k, v in asdict(t).items():
                setattr(out, k, getattr(out, k) + v)
        return _as_row(out) | {"server_start_seconds": start}

    def by_tag(self):
        """One row per tag (a pandas DataFrame), the same columns as :meth:`summary` less the server start."""
        import pandas as pd

        with self._lock:
            items = sorted(self._totals.items())
        columns = ["tag", *_as_row(_TagTotals())]
        return pd.DataFrame([{"tag": tag, **_as_row(t)} for tag, t in items], columns=columns)

    def to_dict(self) -> dict:
        """``{"summary": ..., "by_tag": [...]}`` for run reports (JSON-serialisable)."""
        with self._lock:
            items = sorted(self._totals.items())
        return {"summary": self.summary(), "by_tag": [{"tag": tag, **_as_row(t)} for tag, t in items]}

    def reset(self) -> None:
        with self._lock:
            self._totals.clear()
            self._records.clear()


def _as_row(t: _TagTotals) -> dict:
    d = asdict(t)
    d["total_tokens"] = t.prompt_tokens + t.completion_tokens
    d["seconds"] = round(t.seconds, 3)
    d["tokens_per_accepted_row"] = round(d["total_tokens"] / t.rows_accepted, 1) if t.rows_accepted else None
    order = [
        "calls",
        "cache_hits",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "seconds",
        "parse_retries",
        "rows_accepted",
        "rows_rejected",
        "tokens_per_accepted_row",
    ]
    return {k: d[k] for k in order}
