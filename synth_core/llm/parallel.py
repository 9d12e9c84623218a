"""Independent LLM calls of a generator, up to the client's concurrency in flight, results in job order.

The generators plan the calls they can make without waiting for one another
(every rule's row calls, every group's refinement request) as jobs of a
:class:`CallStream`. It starts them in order with at most
``settings.concurrency`` in flight and hands each :class:`Outcome` back, in
the calling thread, **in job order**, whatever order they finished in. The
handler may add jobs (a rule short of rows after its calls asks again; a group
whose rows are all in asks for its refinements): as the outcomes are handled in
job order, the jobs added are the same whatever the timing, and a run with the
same seed and the same replies (a reply cache) assembles the same rows at any
concurrency, while the endpoint is kept busy: a job added while others are in
flight starts as soon as a slot frees.

What it adds to :meth:`LLMClient.map <synth_core.llm.client.LLMClient.map>`:

- an error of one job is kept in its :class:`Outcome` instead of being raised
  after the others finish (and losing their results); an error of a type in
  ``stop_on`` (by default any :class:`~synth_core.errors.LLMError`: an endpoint
  that failed once, after its retries, fails the next call too) starts no
  further job, and the jobs already running finish and are handed back;
- ``cancel`` (an ``Event`` or a callable) starts no further job; the running
  ones finish and are handed back: cancel loses no reply that was paid for.

The jobs started are always a prefix of the jobs added, and every started job
is handed back. :func:`run_calls` is the fixed-list form.

Examples
--------
>>> from synth_core.llm.testing import FakeLLM
>>> fake = FakeLLM(responses=lambda prompt: prompt.upper())
>>> outs = run_calls(fake, lambda p: fake.complete(p).text, ["a", "b"])
>>> [o.value for o in outs]
['A', 'B']
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..errors import LLMError

__all__ = ["CallStream", "Outcome", "run_calls"]


@dataclass
class Outcome:
    """What one job gave: its value, or the error it raised (one of ``catch``).

    Attributes
    ----------
    index : int
        The job's position in the list given to :func:`run_calls`.
    job : object
    value : object
        ``fn(job)``; ``None`` when it raised.
    error : BaseException or None
    """

    index: int
    job: Any
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _stopper(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return lambda: bool(cancel.is_set())
    return lambda: bool(cancel())


class CallStream:
    """Jobs started in the order added, up to ``concurrency`` in flight; outcomes handed back in that order.

    Parameters
    ----------
    client : LLMClient or FakeLLM
        Gives the default concurrency (``settings.concurrency``).
    cancel : threading.Event or callable, optional
        Checked before each job starts.
    catch : tuple of exception types
        Errors kept in the job's :class:`Outcome`; others propagate from :meth:`run` once the running
        jobs finish.
    stop_on : tuple of exception types
        Caught errors after which no further job starts.
    concurrency : int, optional

    Attributes
    ----------
    cancelled : bool
        ``cancel`` kept a job from starting.
    stopped : bool
        An error of ``stop_on`` kept further jobs from starting (or came after the last one started).
    """

    def __init__(
        self,
        client,
        *,
        cancel=None,
        catch: tuple = (LLMError,),
        stop_on: tuple = (LLMError,),
        concurrency: int | None = None,
    ):
        self.concurrency = max(1, int(concurrency or client.settings.resolved_concurrency))
        self.catch = tuple(catch)
        self.stop_on = tuple(stop_on)
        self.cancelled = False
        self._cancel = _stopper(cancel)
        self._stop = threading.Event()
        self._jobs: list = []
        self._next = 0

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def halted(self) -> bool:
        """No further job will start: stopped by an error, or cancelled (asked now)."""
        return self._stop.is_set() or self.cancelled or self._cancel()

    def add(self, fn: Callable[[Any], Any], job) -> int:
        """Queue ``fn(job)``; returns its index. May be called from the handler while :meth:`run` runs."""
        self._jobs.append((fn, job))
        return len(self._jobs) - 1

    def _call(self, index: int) -> Outcome:
        fn, job = self._jobs[index]
        try:
            return Outcome(index, job, fn(job))
        except self.catch as exc:
            if isinstance(exc, self.stop_on):
                self._stop.set()
            return Outcome(index, job, error=exc)

    def _may_start(self) -> bool:
        if self._next >= len(self._jobs) or self._stop.is_set():
            return False
        if self._cancel():
            self.cancelled = True
            return False
        return True

    def run(self, handle: Callable[[Outcome], None]) -> None:
        """Run the jobs (and those ``handle`` adds); ``handle(outcome)`` in this thread, in job order."""
        if self.concurrency == 1:  # in this thread, one after the other
            while self._may_start():
                self._next += 1
                handle(self._call(self._next - 1))
            return
        done: dict[int, Outcome] = {}
        given = 0
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="synth-llm") as pool:
            running: set = set()
            while True:
                while len(running) < self.concurrency and self._may_start():
                    running.add(pool.submit(self._call, self._next))
                    self._next += 1
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    running.discard(fut)
                    out = fut.result()
                    done[out.index] = out
                while given in done:
                    handle(done.pop(given))
                    given += 1


def run_calls(
    client,
    fn: Callable[[Any], Any],
    jobs: Iterable,
    *,
    cancel=None,
    progress: Callable[[int, int], None] | None = None,
    catch: tuple = (LLMError,),
    stop_on: tuple = (LLMError,),
    concurrency: int | None = None,
) -> list[Outcome]:
    """Run ``fn(job)`` for every job with up to the client's concurrency in flight; outcomes in job order.

    Parameters
    ----------
    client : LLMClient or FakeLLM
        Gives the concurrency (``settings.concurrency``).
    fn : callable
        One job: typically one LLM call and the parsing of its reply (thread-safe: it runs in a worker).
    jobs : iterable
        Started in this order.
    cancel : threading.Event or callable, optional
        Checked before each job starts; the jobs running then finish and are kept.
    progress : callable, optional
        ``progress(done, total)`` in the calling thread after each job.
    catch : tuple of exception types
        Errors kept in the job's :class:`Outcome` (others propagate once the running jobs finish).
    stop_on : tuple of exception types
        Caught errors after which no further job starts.
    concurrency : int, optional
        Default: the client's setting.

    Returns
    -------
    list of Outcome
        A prefix of ``jobs``, in job order.
    """
    stream = CallStream(client, cancel=cancel, catch=catch, stop_on=stop_on, concurrency=concurrency)
    jobs = list(jobs)
    for job in jobs:
        stream.add(fn, job)
    outcomes: list[Outcome] = []

    def handle(out: Outcome) -> None:
        outcomes.append(out)
        if progress is not None:
            progress(len(outcomes), len(jobs))

    stream.run(handle)
    return outcomes
