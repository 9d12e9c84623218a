"""A generation run in a background thread, with progress and cancel, polled by the Generate page.

The thread calls only ``synth_core`` (never ``st.*``); the page reads
:meth:`GenerationJob.snapshot` and draws. A cancel sets the
:class:`~synth_core.generators.base.CancelToken`; the pipeline stops at its next
step and keeps the rows made so far.
"""

from __future__ import annotations

import threading
import time

from synth_core.errors import SynthError
from synth_core.generators.base import CancelToken


class GenerationJob:
    """Run ``synth_core.pipeline.run_pipeline(**kwargs)`` in a daemon thread."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.token = CancelToken()
        self._lock = threading.Lock()
        self.step, self.total, self.message = 0, 1, "starting"
        self.started = time.time()
        self.finished: float | None = None
        self.result = None
        self.error: SynthError | None = None
        self.bug: BaseException | None = None
        self.collected = False
        # a gate that waits for a person (DATE's refined rules): the page shows its pending request
        gate = kwargs.get("refinements")
        self.gate = gate if hasattr(gate, "pending") else None
        self.answered: set = set()
        self._thread = threading.Thread(target=self._work, name="synth-generate", daemon=True)

    def start(self) -> GenerationJob:
        self._thread.start()
        return self

    def _progress(self, step, total, message) -> None:
        with self._lock:
            self.step, self.total, self.message = step, max(total, 1), message

    def _work(self) -> None:
        from synth_core.pipeline import run_pipeline

        try:
            self.result = run_pipeline(progress=self._progress, cancel=self.token, **self.kwargs)
            threading.Thread(target=self._warm, args=(self.result,), name="synth-map", daemon=True).start()
        except SynthError as err:
            self.error = err
        except BaseException as exc:  # noqa: BLE001 - handed to the page, which re-raises it (a bug)
            self.bug = exc
        finally:
            self.finished = time.time()

    @staticmethod
    def _warm(run) -> None:
        """Compute the run's map while the person still reads the Generate page, so Compare opens at once
        (its own thread: the results show without waiting for it)."""
        from app_support.cached import run_map

        try:
            run_map(run)
        except SynthError:  # a run with too few rows to map: Compare says so itself
            pass

    def cancel(self) -> None:
        self.token.cancel()
        if self.gate is not None:
            self.gate.release()

    def asking(self):
        """The gate's request waiting for the person's answer (``None`` if none or already answered)."""
        request = self.gate.pending if self.gate is not None else None
        return request if request is not None and request.iteration not in self.answered else None

    @property
    def cancelled(self) -> bool:
        return self.token.is_set()

    @property
    def done(self) -> bool:
        return self.finished is not None

    def wait(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return self.done

    def snapshot(self) -> tuple[float, str, float]:
        """(fraction done, message, seconds elapsed)."""
        with self._lock:
            frac = min(max(self.step / self.total, 0.0), 1.0)
            msg = self.message
        return frac, msg, (self.finished or time.time()) - self.started
