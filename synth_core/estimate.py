"""How long a run will take and how many LLM calls it will make, before it starts.

The Generate page says both before Start, so they come from what this machine and
this endpoint actually do: :func:`measure_rates` times a small sample of the work
(the generator, a model fit, a teacher fit) on the table itself, and the client's
own record of past calls gives the seconds per LLM call when there is one. Then
:func:`estimate_run` adds up the work the run will do: the cross-fitted check's
folds, the final rows, the label step. ``benchmarks/estimates.py`` records how
close the estimate comes to the time measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .crossfit import auto_folds, auto_repeats
from .models import resolve_model, row_losses

__all__ = [
    "Rates",
    "Estimate",
    "measure_rates",
    "estimate_run",
    "seconds_per_call",
    "DEFAULT_SECONDS_PER_CALL",
]

#: Seconds per LLM call when this session has made none yet: the embedded model on two cores writes a
#: grammar-bound call of five rows in about 6-10 s (../shared/EMBEDDED_LLM.md); a hosted endpoint, a few.
DEFAULT_SECONDS_PER_CALL = {"embedded": 8.0, "endpoint": 3.0}
_SAMPLE = 2000


@dataclass(frozen=True)
class Rates:
    """Seconds of each kind of work as ``(fixed, per row)``, measured on this machine at two sizes."""

    generate: tuple  # fit the generator once, then write rows
    teacher: tuple  # fit one label teacher, per training row
    models: dict = field(default_factory=dict)  # model name -> ((training rows, seconds), ...) at 3 sizes
    per_call: float | None = None  # seconds per LLM call (None: no LLM)

    @staticmethod
    def cost(pair: tuple, rows: float) -> float:
        fixed, per_row = pair
        return max(fixed, 0.0) + max(per_row, 0.0) * rows

    @staticmethod
    def fit_cost(points: tuple, rows: float) -> float:
        """Seconds of one model fit on ``rows`` rows: piecewise linear through the timed sizes (a model's
        cost is far from one line: gradient boosting, for one, stops early above 10,000 rows)."""
        sizes, secs = zip(*sorted(points))
        if rows <= sizes[-1]:
            return float(np.interp(rows, sizes, secs))
        return Rates.cost(_line(*sorted(points)[-2:]), rows)  # beyond the largest size: the last segment


@dataclass(frozen=True)
class Estimate:
    seconds: float
    calls: int
    detail: dict

    def text(self) -> str:
        """``about 40 s`` / ``about 3 min`` and the calls, for the page."""
        secs = self.seconds
        when = (
            f"about {secs:.0f} s"
            if secs < 90
            else f"about {secs / 60:.0f} min"
            if secs < 5400
            else f"about {secs / 3600:.1f} h"
        )
        calls = f", up to {self.calls:,} LLM call(s)" if self.calls else ", no LLM calls"
        return when + calls


def _line(small: tuple, large: tuple) -> tuple:
    """(fixed, per row) through two timings ``(rows, seconds)``."""
    (n1, t1), (n2, t2) = small, large
    per_row = max((t2 - t1) / max(n2 - n1, 1), 0.0)
    return max(t1 - per_row * n1, 0.0), per_row


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure_rates(
    dataset, rules, *, method: str, models, client=None, embedded: bool = True, random_state: int = 0
) -> Rates:
    """Time a sample of the work on ``dataset`` (about a second or two): the generator writing rows for the
    approved rules, each model's fit and score, the label teacher's fit.

    LLM generators are not run here (that would spend calls): their rate is the client's past seconds per
    call, or :data:`DEFAULT_SECONDS_PER_CALL`.
    """
    from .generators import GENERATORS
    from .generators.base import approved_rules
    from .labels import Labeler
    from .pipeline import label_teachers, make_generator

    rows = np.asarray(dataset.train_idx)
    rng = np.random.default_rng(random_state)
    large = rng.choice(rows, size=min(len(rows), _SAMPLE), replace=False)
    small = large[: max(len(large) // 4, 50)]
    parts = [dataset.with_train(s, val_idx=s[:0]) for s in (small, large)]
    needs_llm = GENERATORS[method].needs_llm
    per_call = seconds_per_call(client, embedded=embedded) if needs_llm else None
    if needs_llm:
        method = (
            "statistical"  # LLM calls are not spent here; the rows of H-TDBU and StructSynth are statistical
        )
    chosen = approved_rules(rules)
    gen = make_generator(method, random_state=random_state)
    fit_once = _time(lambda: gen.fit(parts[1], chosen))
    sizes = (len(small), len(large))
    made = [_time(lambda k=k: gen.generate(k)) for k in sizes]
    generate = _line((sizes[0], made[0]), (sizes[1], made[1]))
    generate = (generate[0] + fit_once, generate[1])
    # every teacher the check tries out of fold (gradient boosting, and a forest on small tables), together
    candidates = label_teachers(len(rows))
    teacher = _line(
        *[
            (
                len(p.train_idx),
                sum(
                    _time(
                        lambda p=p, t=t: Labeler(mode="relabel", teacher=t, random_state=random_state).fit(p)
                    )
                    for t in candidates
                ),
            )
            for p in parts
        ]
    )
    cols = dataset.features + [dataset.target]
    # model fits are timed at the sizes the check trains on: the real rows of a fold alone, and with up to
    # the default budget of synthetic rows (resampled real rows stand in for them), and one size between
    least = max(int(0.8 * len(rows)), 100)
    most = int(least + 0.8 * min(max(3000, 20 * len(rows)), 60_000))
    sizes = sorted({least, int(np.sqrt(least * most)), most})
    frames = [dataset.frame.iloc[rng.choice(rows, size=k, replace=True)][cols] for k in sizes]
    fits = {}
    for m in models:
        spec = resolve_model(m)
        fits[spec.name] = tuple(
            (
                len(f),
                _time(
                    lambda f=f, spec=spec: row_losses(
                        dataset.schema,
                        dataset.features,
                        dataset.task,
                        f,
                        f.head(200),
                        dataset.target,
                        model=spec,
                        random_state=random_state,
                    )
                ),
            )
            for f in frames
        )
    return Rates(generate=generate, teacher=teacher, models=fits, per_call=per_call)


def seconds_per_call(client, *, embedded: bool = True) -> float:
    """Seconds per LLM call measured by ``client`` so far, else the default for its kind of endpoint."""
    summary = client.usage.summary() if client is not None and hasattr(client, "usage") else {}
    calls, secs = summary.get("calls", 0), summary.get("seconds", 0.0)
    return secs / calls if calls else DEFAULT_SECONDS_PER_CALL["embedded" if embedded else "endpoint"]


def estimate_run(
    dataset,
    rules,
    *,
    method: str,
    n: int,
    rates: Rates,
    model=None,
    check_models=(),
    folds="auto",
    repeats="auto",
    params: dict | None = None,
) -> Estimate:
    """Seconds and LLM calls of a cross-fitted run with these settings (see :func:`pipeline.run_pipeline`)."""
    from .generators import GENERATORS
    from .pipeline import estimate_calls

    given = len(dataset.train_idx)
    needs_llm = GENERATORS[method].needs_llm
    llm_rows = needs_llm and method in ("date", "samplellm")
    folds = auto_folds(given) if folds == "auto" else int(folds)
    reps = 1 if llm_rows else (auto_repeats(given) if repeats == "auto" else int(repeats))
    n_folds = folds * reps
    if dataset.protocol == "paper":  # one fit of everything, the amount check on the validation split
        folds, reps, n_folds = 1, 1, 1
    fit_rows = given * (folds - 1) / folds if folds > 1 else given
    fractions = (0.125, 0.25, 0.5, 1.0)
    calls = estimate_calls(method, rules, n, params) if needs_llm else 0
    detail = {"folds": folds, "repeats": reps}
    fold_rows = n * (folds - 1) / folds if folds > 1 else n
    detail["generate"] = Rates.cost(rates.generate, n) + (
        0 if llm_rows or folds == 1 else n_folds * Rates.cost(rates.generate, fold_rows)
    )
    detail["teacher"] = Rates.cost(rates.teacher, given) + (
        0 if folds == 1 else n_folds * Rates.cost(rates.teacher, fit_rows)
    )
    fit = 0.0
    for m in [model, *check_models]:
        points = rates.models.get(resolve_model(m).name)
        if points is None:
            continue
        grown = [fit_rows] + [fit_rows + f * fold_rows for f in fractions]
        fit += n_folds * sum(Rates.fit_cost(points, r) for r in grown)
    detail["models"] = fit
    detail["llm"] = calls * (rates.per_call or 0.0)
    return Estimate(
        seconds=float(sum(v for k, v in detail.items() if k not in ("folds", "repeats"))),
        calls=calls,
        detail=detail,
    )
