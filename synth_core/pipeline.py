"""One run end to end: generate for approved rules, label, select, check, and keep it all in a :class:`Run`.

The app's Generate page and ``synth generate`` both call :func:`run_pipeline`,
so a result found by clicking can be rerun headless.

Two protocols, after the dataset's (:mod:`synth_core.data`):

``crossfit`` (default)
    The rows kept are decided by :class:`~synth_core.crossfit.CrossFitCheck`: per
    fold, a generator and a label teacher fitted on the other folds make and label
    candidates, and the analyst's model is scored with and without them on the
    held-out fold. Then the generator and the teacher are fitted on every given row,
    write the final candidates, and the decided label mode and share are applied.
    Generators whose every row costs an LLM call (DATE, SampleLLM) are not run again
    per fold: their row budget is split over the folds, each fold's generator writes
    its share from the other folds' rows, and those rows, checked on their own fold,
    are the result (the approved rules are dealt over the folds, so the LLM calls are not multiplied).
    Generators that score rows while they work (DATE's Delta, H-TDBU's
    TSTR) and row selection (MDS) use an inner split of the rows they were given, so a
    fold's held-out rows judge only the amount.
``paper``
    DATE's protocol: generators, the label step, selection and the amount check use
    the validation split; the test split is for the final score only.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ._frames import concat_rows
from .approval import policy_name, resolve_gate, step_all
from .crossfit import CrossFitCheck
from .errors import GenerationError, InvalidParameterError
from .generators import GENERATORS, get_generator, needs_llm
from .generators.base import approved_rules, is_cancelled
from .generators.presets import preset_params, resolve_preset
from .generators.selection import choose_amount, select_rows
from .labels import Labeler
from .models import resolve_model
from .run import Run

__all__ = [
    "run_pipeline",
    "make_generator",
    "estimate_calls",
    "default_budget",
    "default_selection",
    "evaluate_run",
    "generator_params",
    "finalize_row_ids",
]

#: Most synthetic rows the offline generators write by default (memory and time on a laptop).
MAX_DEFAULT_ROWS = 60_000


def generator_params(method: str, params: dict | None) -> dict:
    """The parameters ``method``'s generator accepts, from ``params`` (others dropped): the pages keep one
    set of widgets for every generator."""
    cls = get_generator(method)
    accepted = set(cls._get_param_names())
    return {k: v for k, v in (params or {}).items() if k in accepted}


def make_generator(method: str, *, client=None, params: dict | None = None, random_state=0):
    """Build a registered generator with its parameters (the LLM client for LLM generators)."""
    cls = get_generator(method)
    kwargs = dict(params or {})
    accepted = cls._get_param_names()
    if "random_state" in accepted:
        kwargs.setdefault("random_state", random_state)
    if GENERATORS[method].needs_llm:
        if client is None:
            from .llm import get_client

            client = get_client()
        kwargs["client"] = client
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise GenerationError(f"{method} does not take parameter(s) {unknown}; it takes {accepted}.")
    return cls(**kwargs)


def _public_url(url: str | None) -> str | None:
    """A base URL without user:password or query string (either may carry a key)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def default_budget(method: str, dataset) -> int:
    """Rows to ask for when the person has not said: DATE's n = 200 for LLM generators; for the
    offline ones twenty times the given rows (at least 3,000, at most ``MAX_DEFAULT_ROWS``), since the
    cross-fitted check then keeps only the share that helps: teacher-labelled rows let a decision tree
    learn the teacher's boundary, and measured gains kept growing up to 10-20 times a small table."""
    if needs_llm(method):
        return 200
    return int(min(max(3000, 20 * len(dataset.train_idx)), MAX_DEFAULT_ROWS))


def default_selection(method: str) -> str:
    """MDS over (rule, iteration) arms for LLM generators; for offline ones all rows go to the check."""
    return "mds" if needs_llm(method) else "none"


def estimate_calls(method: str, rules, n: int, params: dict | None = None, preset: str = "product") -> int:
    """LLM calls a run of ``method`` with ``params`` under ``preset`` plans for ``n`` candidate rows (0 offline).

    Built without a client, so nothing is started or called.
    """
    params = generator_params(method, preset_params(method, preset, params))
    gen = get_generator(method)(**{k: v for k, v in params.items() if k != "client"})
    return gen.planned_calls(n, sum(r.status == "approved" for r in rules))


def finalize_row_ids(rows: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    """Deterministic row ids ``<prefix><rule>.<iteration>.<n>``: the n-th row of that rule and iteration in
    generation order, so the same run gives the same ids in any process."""
    if not len(rows):
        return rows
    out = rows.reset_index(drop=True).copy()
    key = out["_rule_id"].astype(str) + "." + out["_iteration"].astype(str)
    out["_row_id"] = prefix + key + "." + out.groupby(key).cumcount().astype(str)
    return out


def _inner_split(dataset, random_state: int):
    """The dataset's train rows split 80/20 into train and validation (stratified when it can)."""
    from sklearn.model_selection import train_test_split

    rows = np.asarray(dataset.train_idx, dtype=int)
    y = dataset.frame[dataset.target].iloc[rows]
    strat = None
    if dataset.task == "classification":
        counts = y.astype(str).value_counts()
        if counts.min() >= 2 and int(0.2 * len(rows)) >= len(counts):
            strat = y.astype(str).to_numpy()
    fit, val = train_test_split(rows, test_size=0.2, random_state=random_state, stratify=strat)
    return dataset.with_train(np.asarray(fit), np.asarray(val))


def _for_generator(dataset, gen, selection: str, random_state: int):
    """What a generator learns from: the paper protocol's split as it is; under cross-fitting the given
    rows, split 80/20 when the generator or the row selection scores on validation rows."""
    if dataset.protocol == "paper" or len(dataset.val_idx):
        return dataset
    if gen.uses_validation or selection != "none":
        return _inner_split(dataset, random_state)
    return dataset


def _select(
    rows,
    dataset,
    rules,
    *,
    selection,
    alpha,
    budget,
    model,
    random_state,
    select_preset="product",
    n_pulls=None,
):
    """Row selection (MDS or a greedy baseline) on the dataset's validation rows; returns (rows, messages, info)."""
    accepted = rows[rows["_status"] == "accepted"] if "_status" in rows else rows
    if selection == "none" or not len(accepted):
        return rows.assign(_selected=rows.get("_status", "accepted") == "accepted"), [], {}
    sel = select_rows(
        rows,
        dataset,
        rules,
        method=selection,
        alpha=alpha,
        budget=budget,
        model=model,
        random_state=random_state,
        preset=select_preset,
        n_pulls=n_pulls,
    )
    out = rows.assign(_selected=rows["_row_id"].isin(set(sel.row_ids)))
    info = {
        "method": sel.method,
        "baseline_quality": sel.baseline_quality,
        "final_quality": sel.final_quality,
        "preset": select_preset,
        "pulls": sel.pulls,
    }
    return out, list(sel.messages), {"selection": info, "arms": sel.arms}


class _Progress:
    """Maps a stage's own (step, total) onto a slice of the run's progress bar."""

    def __init__(self, progress):
        self.progress = progress

    def part(self, lo: float, hi: float, prefix: str = ""):
        def report(step, total, message):
            if self.progress:
                frac = lo + (hi - lo) * step / max(total, 1)
                self.progress(int(frac * 1000), 1000, f"{prefix}{message}")

        return report

    def __call__(self, frac, message):
        if self.progress:
            self.progress(int(frac * 1000), 1000, message)


def run_pipeline(
    dataset,
    rules,
    *,
    method: str = "statistical",
    n: int | None = None,
    labels: str = "auto",
    selection: str | None = None,
    alpha: float = 0.8,
    oversample: float | None = None,
    client=None,
    generator_params: dict | None = None,
    progress=None,
    cancel=None,
    random_state: int = 0,
    model=None,
    check_models=(),
    folds="auto",
    repeats="auto",
    guard: bool = True,
    labeler: Labeler | None = None,
    extra_params: dict | None = None,
    preset: str = "product",
    refinements="propose",
) -> Run:
    """Generate candidates for the approved rules, label them, select, and keep what helps ``model``.

    Parameters
    ----------
    dataset : Dataset
        Its protocol (``crossfit`` or ``paper``) decides how held-out rows are found.
    rules : list of Rule
        Rows are written only for approved ones.
    method : str
        A registered generator (``statistical`` by default).
    n : int, optional
        Most synthetic rows to keep (default :func:`default_budget`); ``oversample * n`` candidates
        are written (``oversample`` defaults to 2 with a row selection, else 1).
    labels : {'auto', 'relabel', 'filter', 'score', 'none'}
    selection : {'mds', 'fgs', 'bgs', 'topk', 'none'}, optional
        Default :func:`default_selection`.
    model : preset name, ModelSpec or estimator
        The analyst's model (default: decision tree): the label step, row selection and the amount
        check all use it (:mod:`synth_core.models`).
    check_models : iterable
        More models that the rows kept must not make worse (cross-fitted protocol).
    folds, repeats : int or 'auto'
        The cross-fitted check's K and repeats; ``'auto'`` sizes them to the table
        (:func:`~synth_core.crossfit.auto_folds`, :func:`~synth_core.crossfit.auto_repeats`).
    guard : bool
        Keep only the share of rows that helps ``model`` (default); ``False`` keeps every selected
        row (the cross-fitted verdict is still computed).
    labeler : Labeler, optional
        Paper protocol only: a fitted labeler to reuse (its mode wins over ``labels``).
    preset : {'product', 'paper'}
        The generator's preset (:mod:`synth_core.generators.presets`): ``paper`` follows its paper step by
        step (for DATE also the MDS selection as published), ``product`` is the project's measured default.
        A paper preset's fixed parameters win over ``generator_params``.
    refinements : {'propose', 'auto'}, gate or callable
        Who approves the rules a generator proposes while it runs (DATE's refinements) before they write
        rows (:mod:`synth_core.approval`): ``'propose'`` (default) approves none, ``'auto'`` all; a gate
        is asked once per iteration for the whole run. ``Run.params["refinements"]`` records the outcome.

    Nothing made is lost: a cancel or an LLM failure mid-run keeps every accepted row, and
    ``Run.messages`` says per rule what happened.
    """
    started = time.perf_counter()
    chosen = approved_rules(rules)
    chosen_preset = resolve_preset(method, preset)
    generator_params = preset_params(method, preset, generator_params)
    plan = dict(chosen_preset.run)
    if selection in (None, "auto"):
        selection = plan.get("selection", default_selection(method))
    if chosen_preset.fixed and "alpha" in plan:
        alpha = plan["alpha"]
    if oversample is None and "oversample" in plan:
        oversample = plan["oversample"]
    selecting = {"select_preset": plan.get("selection_preset", "product"), "n_pulls": plan.get("n_pulls")}
    gate = resolve_gate(refinements)
    n = int(n) if n is not None else default_budget(method, dataset)
    if n < 1:
        raise InvalidParameterError(f"n (rows to keep) must be at least 1, got {n}.")
    oversample = (2.0 if selection != "none" else 1.0) if oversample is None else float(oversample)
    spec = resolve_model(model)
    checked = [resolve_model(m) for m in check_models]
    gen = make_generator(method, client=client, params=generator_params, random_state=random_state)
    bar = _Progress(progress)
    if dataset.protocol == "paper":
        result = _paper_run(
            dataset,
            chosen,
            gen,
            n=n,
            labels=labels,
            selection=selection,
            alpha=alpha,
            oversample=oversample,
            model=spec,
            guard=guard,
            labeler=labeler,
            bar=bar,
            cancel=cancel,
            random_state=random_state,
            gate=gate,
            selecting=selecting,
        )
    else:
        result = _crossfit_run(
            dataset,
            chosen,
            gen,
            method=method,
            n=n,
            labels=labels,
            selection=selection,
            alpha=alpha,
            oversample=oversample,
            model=spec,
            checked=checked,
            folds=folds,
            repeats=repeats,
            guard=guard,
            client=client,
            generator_params=generator_params,
            bar=bar,
            cancel=cancel,
            random_state=random_state,
            gate=gate,
            selecting=selecting,
        )
    bar(1.0, "done")
    params = {
        "method": method,
        "preset": chosen_preset.name,
        "n": n,
        "labels": labels,
        "selection": selection,
        "alpha": alpha,
        "guard": guard,
        "oversample": oversample,
        "random_state": random_state,
        "protocol": dataset.protocol,
        "model": spec.name,
        "check_models": [m.name for m in checked],
        "generator": result["gen"].get_params(deep=False),
    }
    if selection == "mds":
        params["selection_preset"] = selecting["select_preset"]
        if selecting["n_pulls"] is not None:
            params["n_pulls"] = selecting["n_pulls"]
    if hasattr(result["gen"], "step"):
        params["refinements"] = {"policy": policy_name(gate), "decisions": result.get("decisions", [])}
    if dataset.protocol != "paper":
        params.update(folds=folds, repeats=repeats)
    params["generator"].pop("client", None)
    if structure := result["gen"].structure():
        params["structure"] = structure
    if client is not None or GENERATORS[method].needs_llm:
        settings = getattr(getattr(result["gen"], "client", None), "settings", None)
        if settings is not None:
            params["llm"] = {
                "base_url": _public_url(getattr(settings, "base_url", None)) or "embedded",
                "model": getattr(settings, "model", None),
            }
    params.update(extra_params or {})
    metrics = {"seconds": time.perf_counter() - started, "cancelled": result["cancelled"]}
    if result.get("incomplete"):
        metrics["incomplete"] = result["incomplete"]
    if result.get("check"):
        metrics["check"] = result["check"]
    if result.get("privacy"):
        metrics["privacy"] = result["privacy"]
    proposals = result["proposals"]
    return Run(
        dataset=dataset,
        rules=list(rules) + [r for r in proposals if r not in rules],
        params=params,
        rows=result["rows"],
        usage=result["usage"],
        messages=result["messages"],
        arms=result["arms"],
        labels=result["labels"],
        per_rule=result["per_rule"],
        metrics=metrics,
    )


# --------------------------------------------------------------------------- the paper protocol


def _generate(gens, gate, *, schema, cancel) -> tuple[dict, list]:
    """Run fitted generators: ``gens`` maps a label (a fold, or ``''``) to ``(generator, rows, progress)``.

    Steppable generators (DATE) run iteration by iteration together, with ``gate`` asked once per
    iteration for all of them (:func:`synth_core.approval.step_all`); the others run one after another.
    An LLM failure in one stops the others at their next call (a cancel), as the next call would fail too.
    Returns ``({label: Generation}, the gate's record)``.
    """
    out: dict = {}
    failed: list = []

    def stop() -> bool:
        return (
            is_cancelled(cancel)
            or bool(failed)
            or any(getattr(g, "run_error_", None) is not None for g, _, _ in gens.values())
        )

    steppable = [(label, g) for label, (g, _, _) in gens.items() if hasattr(g, "step")]
    for label, g in steppable:
        _, k, part = gens[label]
        g.start(k, progress=part, cancel=stop)
    record = (
        step_all(steppable, gate, schema=schema, cancelled=lambda: is_cancelled(cancel)) if steppable else []
    )
    for label, g in steppable:
        out[label] = g.finish()
    for label, (g, k, part) in gens.items():
        if label in out:
            continue
        if stop():
            out[label] = None
            continue
        out[label] = g.generate(k, progress=part, cancel=stop)
        if out[label].error is not None:
            failed.append(out[label].error)
    return out, record


def _paper_run(
    dataset,
    chosen,
    gen,
    *,
    n,
    labels,
    selection,
    alpha,
    oversample,
    model,
    guard,
    labeler,
    bar,
    cancel,
    random_state,
    gate=None,
    selecting=None,
) -> dict:
    selecting = selecting or {}
    gen.fit(dataset, chosen)
    made, record = _generate(
        {"": (gen, max(int(math.ceil(n * oversample)), n), bar.part(0, 0.75))},
        resolve_gate(gate),
        schema=dataset.schema,
        cancel=cancel,
    )
    generation = made[""]
    _raise_if_nothing_made([generation])
    messages = list(generation.messages)
    rows = finalize_row_ids(generation.rows)
    label_info: dict = {}
    if labels != "none" and len(generation.accepted):
        bar(0.8, "labelling rows with the teacher model")
        if labeler is None:
            labeler = Labeler(mode=labels, downstream=model, random_state=random_state).fit(dataset)
        rows = labeler.transform(rows)
        label_info = labeler.summary(rows)
        messages.append(label_info["message"])
    all_rules = chosen + [r for r in generation.proposals if r.id]
    arms = pd.DataFrame()
    if not is_cancelled(cancel) and selection != "none":
        bar(0.9, f"selecting rows ({selection})")
        rows, notes, info = _select(
            rows,
            dataset,
            all_rules,
            selection=selection,
            alpha=alpha,
            budget=n,
            model=model,
            random_state=random_state,
            **selecting,
        )
        messages += notes
        arms = info.pop("arms", pd.DataFrame())
        label_info.update(info)
    elif len(rows):  # cancelled, or no selection: a random share of what was accepted, every rule alike
        accepted = rows[rows["_status"] == "accepted"]
        keep = accepted["_row_id"].sample(min(n, len(accepted)), random_state=random_state)
        rows["_selected"] = rows["_row_id"].isin(set(keep))
    if guard and "_selected" in rows and rows["_selected"].any() and not is_cancelled(cancel):
        bar(0.95, "checking on validation rows how many rows to keep")
        chosen_rows = rows[rows["_selected"]]
        keep, table = choose_amount(chosen_rows, dataset, model=model, random_state=random_state)
        rows["_selected"] = rows["_row_id"].isin(set(keep))
        label_info["amount"] = table.to_dict(orient="records")
        if len(keep) < len(chosen_rows):
            messages.append(
                f"kept {len(keep)} of {len(chosen_rows)} selected rows: adding more did not "
                "improve your model on validation rows."
                if keep
                else "no synthetic rows kept: none improved your model on validation rows; "
                "try more rows, another generator or label mode."
            )
    return {
        "gen": gen,
        "rows": rows,
        "messages": messages,
        "labels": label_info,
        "arms": arms,
        "per_rule": generation.per_rule,
        "usage": generation.usage,
        "proposals": generation.proposals,
        "cancelled": generation.cancelled,
        "incomplete": _incomplete([generation]),
        "decisions": record,
    }


# --------------------------------------------------------------------------- the cross-fitted protocol


def _crossfit_run(
    dataset,
    chosen,
    gen,
    *,
    method,
    n,
    labels,
    selection,
    alpha,
    oversample,
    model,
    checked,
    folds,
    repeats,
    guard,
    client,
    generator_params,
    bar,
    cancel,
    random_state,
    gate=None,
    selecting=None,
) -> dict:
    selecting = selecting or {}
    gate = resolve_gate(gate)
    n_candidates = max(int(math.ceil(n * oversample)), n)
    given = len(dataset.train_idx)
    check = CrossFitCheck(
        folds=folds,
        repeats=repeats,
        random_state=random_state,
        **({} if guard else {"fractions": (1.0,), "z_min": -math.inf, "z_harm": math.inf}),
    )
    # repeats are for the cheap case: a generator that writes rows with an LLM, or a row selection that
    # fits the model dozens of times per fold (MDS), is run once per fold
    fold_plan = check.plan(dataset, repeatable=not gen.llm_rows and selection == "none")
    n_folds = len({f.index for f in fold_plan})
    messages: list[str] = []
    final = None
    if not gen.llm_rows:  # the final rows first: an LLM structure (skeleton, DAG) is found once, on every row
        g_ds = _for_generator(dataset, gen, selection, random_state)
        gen.fit(g_ds, chosen)
        final = gen.generate(n_candidates, progress=bar.part(0.0, 0.15, "final rows: "), cancel=cancel)
        _raise_if_nothing_made([final])
    pinned = gen.pinned_params()
    parts: dict = {}
    failure: list = []  # an LLM that went down or ran out of time stops the check like a cancel
    probe: list = []  # the first fold's rows, for a privacy figure against rows their generator never saw
    record: list = []

    def fold_generator(fold):
        return make_generator(
            method,
            client=client,
            params={**(generator_params or {}), **pinned},
            random_state=random_state + 1 + fold.index + 101 * fold.repeat,
        )

    def keep(fold, fold_gen, g_ds, generation, k):
        """A fold's rows: ids, fold label, the row selection; kept for the run and handed to the check."""
        rows = finalize_row_ids(generation.rows, prefix=f"k{fold.label}:")
        rows["_fold"] = fold.label
        if is_cancelled(cancel) or failure:
            rows, notes, info = _select(
                rows,
                g_ds,
                [],
                selection="none",
                alpha=alpha,
                budget=k,
                model=model,
                random_state=random_state,
            )
        else:
            rows, notes, info = _select(
                rows,
                g_ds,
                chosen + [r for r in generation.proposals if r.id],
                selection=selection,
                alpha=alpha,
                budget=math.ceil(k / oversample),
                model=model,
                random_state=random_state,
                **selecting,
            )
        parts[fold.label] = {"generation": generation, "rows": rows, "notes": notes, "arms": info.get("arms")}
        if not probe:
            probe.append((fold, rows))
        if generation.error is not None:
            failure.append(generation.error)
        return rows[rows["_selected"]] if "_selected" in rows else rows

    if gen.llm_rows:
        # every row costs an LLM call: each fold writes the rows of its share of the rules (the calls are not
        # multiplied), all folds before the check, iteration by iteration, so that the approval gate is asked
        # once per iteration for the whole run
        shares = _rule_shares(chosen, n_folds, dataset)
        todo = {}
        for i, fold in enumerate(fold_plan):
            fold_rules, weight = shares[fold.index]
            if not fold_rules:
                continue
            fold_ds = dataset.with_train(fold.fit_idx, val_idx=fold.fit_idx[:0])  # as the check builds it
            fold_gen = fold_generator(fold)
            g_ds = _for_generator(fold_ds, fold_gen, selection, random_state)
            fold_gen.fit(g_ds, fold_rules)
            k = max(1, round(n_candidates * weight))
            lo = 0.65 * i / max(len(fold_plan), 1)
            todo[fold.label] = (
                fold,
                fold_gen,
                g_ds,
                k,
                bar.part(lo, lo + 0.65 / max(len(fold_plan), 1), f"fold {fold.label}: "),
            )
        made, record = _generate(
            {label: (g, k, part) for label, (_, g, _, k, part) in todo.items()},
            gate,
            schema=dataset.schema,
            cancel=cancel,
        )
        ready = {}
        for label, (fold, fold_gen, g_ds, k, _) in todo.items():
            if made.get(label) is not None:
                ready[label] = keep(fold, fold_gen, g_ds, made[label], k)
        _raise_if_nothing_made([p["generation"] for p in parts.values()])

    def produce(fold_ds, fold):
        if gen.llm_rows:  # written above, before the check
            return ready.get(fold.label, _empty_rows(dataset))
        fold_gen = fold_generator(fold)
        g_ds = _for_generator(fold_ds, fold_gen, selection, random_state)
        fold_gen.fit(g_ds, chosen)
        k = max(1, round(n_candidates * len(fold.fit_idx) / given))
        lo = 0.15 + 0.65 * len(parts) / max(len(fold_plan), 1)
        generation = fold_gen.generate(
            k,
            progress=bar.part(lo, lo + 0.65 / max(len(fold_plan), 1) * 0.5, f"fold {fold.label}: "),
            cancel=cancel,
        )
        return keep(fold, fold_gen, g_ds, generation, k)

    teachers = label_teachers(given)

    def label(fold_ds):
        return {
            t: Labeler(mode="relabel", teacher=t, downstream=model, random_state=random_state).fit(fold_ds)
            for t in teachers
        }

    def stop() -> bool:
        return is_cancelled(cancel) or bool(failure)

    if not stop():
        check.fit(
            dataset,
            fold_plan,
            produce,
            label,
            labels=labels,
            model=model,
            check_models=checked,
            progress=bar.part(0.7 if gen.llm_rows else 0.15, 0.85, ""),
            cancel=stop,
        )
    cancelled = is_cancelled(cancel)
    unfinished = cancelled or bool(failure) or getattr(check, "cancelled_", True)

    # the rows of the run: the final generation, or the folds' shares for row-by-row LLM generators
    if gen.llm_rows:
        rows = (
            concat_rows([p["rows"] for p in parts.values()], ignore_index=True)
            if parts
            else _empty_rows(dataset)
        )
        generations = [p["generation"] for p in parts.values()]
        arms = (
            concat_rows(
                [p["arms"] for p in parts.values() if p["arms"] is not None and len(p["arms"])],
                ignore_index=True,
            )
            if any(p["arms"] is not None and len(p["arms"]) for p in parts.values())
            else pd.DataFrame()
        )
        for p in parts.values():
            messages += p["notes"]
    else:
        generations = [final]
        rows = finalize_row_ids(final.rows)
        g_ds = _for_generator(dataset, gen, selection, random_state)
        rows, notes, info = _select(
            rows,
            g_ds,
            chosen + [r for r in final.proposals if r.id],
            selection=selection,
            alpha=alpha,
            budget=n,
            model=model,
            random_state=random_state,
            **selecting,
        )
        messages += notes
        arms = info.get("arms", pd.DataFrame())
    for g in generations:
        messages += [m for m in g.messages if m not in messages]
    if "_selected" not in rows:
        rows["_selected"] = rows.get("_status", pd.Series("accepted", index=rows.index)) == "accepted"
    label_info: dict = {}
    summary = None
    if unfinished:
        kept = int(rows["_selected"].sum())
        why = "cancelled" if cancelled else f"stopped ({failure[0]})" if failure else "stopped"
        messages.append(
            f"{why} before the check finished: the {kept:,} accepted row(s) made so far are kept "
            "but were not checked against your model."
        )
    else:
        summary = check.summary()
        mode = check.mode_
        if mode != "none" and rows["_selected"].any():
            bar(0.9, "labelling the rows with the teacher fitted on every row")
            scores = {
                "teacher": check.teacher_loss_,
                "downstream": check.model_loss_,
                "resid_sd": math.sqrt(check.teacher_loss_) if dataset.task == "regression" else None,
            }
            final_labeler = Labeler(
                mode=labels if labels == "auto" else mode,
                teacher=check.teacher_name_,
                downstream=model,
                random_state=random_state,
            ).fit(dataset, scores=scores)
            if final_labeler.effective_mode_ != mode:  # scores tie-break differently: the check's mode wins
                final_labeler = final_labeler.with_mode(mode, loose=labels == "auto" and mode == "filter")
            labelled = final_labeler.transform(rows)
            labelled["_selected"] = (
                rows["_selected"].to_numpy() & (labelled["_status"] == "accepted").to_numpy()
            )
            rows = labelled
            label_info = final_labeler.summary(rows)
            label_info["where"] = "out-of-fold"
            messages.append(label_info["message"])
        pool = rows[rows["_selected"]]
        k = int(round(check.fraction_ * len(pool)))
        keep = set(pool.sample(frac=1.0, random_state=random_state)["_row_id"].head(k))
        rows["_selected"] = rows["_row_id"].isin(keep)
        messages.append(check.reason_[0].upper() + check.reason_[1:])
        summary["kept_rows"] = int(len(keep))
        summary["candidate_rows"] = int(len(pool))
    usage = _merge_usage([g.usage for g in generations])
    per_rule = (
        concat_rows([g.per_rule for g in generations if len(g.per_rule)], ignore_index=True)
        if any(len(g.per_rule) for g in generations)
        else pd.DataFrame()
    )
    proposals = [r for g in generations for r in g.proposals]
    incomplete = _incomplete(generations) or (f"the check did not finish: {failure[0]}" if failure else None)
    privacy = _privacy(dataset, probe[0], random_state) if probe and not unfinished else None
    return {
        "gen": gen,
        "rows": rows,
        "messages": messages,
        "labels": label_info,
        "arms": arms,
        "per_rule": per_rule,
        "usage": usage,
        "proposals": proposals,
        "cancelled": cancelled,
        "check": summary,
        "incomplete": incomplete,
        "privacy": privacy,
        "decisions": record,
    }


#: Rows of the first fold compared with real rows for the privacy figures (distance computations grow fast).
PRIVACY_ROWS = 2000


def _privacy(dataset, probe, random_state: int) -> dict | None:
    """Privacy figures for a cross-fitted run: rows a fold's generator made, against the rows it learned from
    and the fold it never saw (the held-out rows are the honest holdout; the final generator saw every row)."""
    from .evaluation.report import Report

    fold, rows = probe
    rows = rows[rows["_status"] == "accepted"] if "_status" in rows else rows
    if len(rows) < 2:
        return None
    cols = dataset.features + [dataset.target]
    sample = rows.sample(min(len(rows), PRIVACY_ROWS), random_state=random_state)[cols]
    report = Report(metrics=["dcr", "nndr", "exact_copies"], include_utility=False, random_state=random_state)
    report.generate(
        real=dataset.frame.iloc[fold.fit_idx][cols],
        synthetic=sample,
        schema=dataset.schema,
        holdout=dataset.frame.iloc[fold.held_idx][cols],
    )
    out = {name: report.get_score(name) for name in ("dcr", "nndr", "exact_copies")}
    out.update(
        fold=fold.label,
        rows=int(len(sample)),
        note=f"measured on {len(sample):,} rows a generator made without fold {fold.label}, against that "
        "fold (the final generator learned from every row, so only a fold can be the holdout)",
    )
    return out


def _empty_rows(dataset) -> pd.DataFrame:
    """No rows, with the data and provenance columns (a fold that writes nothing; the generator unfitted)."""
    from .generators.base import PROVENANCE

    return pd.DataFrame(columns=dataset.features + [dataset.target] + PROVENANCE)


def _rule_shares(rules, n_folds: int, dataset) -> list[tuple[list, float]]:
    """The approved rules dealt over the folds for a generator that writes every row with an LLM: rules that
    share a model (DATE's groups) stay together, the largest groups go first to the fold with the least support
    so far; each fold gets (its rules, its share of the rows by support)."""
    groups: dict = {}
    for rule in rules:
        groups.setdefault(rule.model_id if rule.model_id is not None else f"own:{rule.id}", []).append(rule)
    support = {k: sum(max(r.count(dataset.train), 1) for r in g) for k, g in groups.items()}
    dealt = [([], 0.0) for _ in range(n_folds)]
    for key in sorted(groups, key=lambda k: -support[k]):
        i = min(range(n_folds), key=lambda j: dealt[j][1])
        dealt[i] = (dealt[i][0] + groups[key], dealt[i][1] + support[key])
    total = sum(support.values()) or 1.0
    return [(rs, w / total) for rs, w in dealt]


def _raise_if_nothing_made(generations) -> None:
    """An LLM failure that left no accepted row is an error of the run, never an empty success."""
    errors = [g.error for g in generations if g is not None and g.error is not None]
    made = sum(
        int((g.rows["_status"] == "accepted").sum()) if "_status" in g.rows else len(g.rows)
        for g in generations
        if g is not None
    )
    if errors and made == 0:
        raise errors[0]


def _incomplete(generations) -> str | None:
    """Why a run that kept its rows is incomplete (an LLM failure part way), or None."""
    errors = [g.error for g in generations if g is not None and g.error is not None]
    return f"the LLM failed part way ({errors[0]}); the rows made before it are kept" if errors else None


#: Label teachers tried out of fold: gradient boosting always; a random forest too on tables up to this many
#: rows, where it was the better teacher on most shared data sets (and is cheap to fit five times).
FOREST_TEACHER_ROWS = 5000


def label_teachers(n_rows: int) -> tuple[str, ...]:
    """The label teachers tried out of fold on a table of ``n_rows`` given rows."""
    return ("boosting", "forest") if n_rows <= FOREST_TEACHER_ROWS else ("boosting",)


def _merge_usage(usages: list[dict]) -> dict:
    """One usage dict from several generations' (calls, tokens, seconds summed; the first's other keys)."""
    usages = [u for u in usages if u]
    if len(usages) <= 1:
        return usages[0] if usages else {}
    out = dict(usages[0])
    for key, value in usages[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "server_start_seconds":
            out[key] = sum(u.get(key) or 0 for u in usages)
    if "tokens_per_accepted_row" in out:  # a ratio: from the sums, not summed
        rows = out.get("rows_accepted") or 0
        out["tokens_per_accepted_row"] = round(out.get("total_tokens", 0) / rows, 1) if rows else None
    if "by_tag" in out:
        out["by_tag"] = [t for u in usages for t in u.get("by_tag", [])]
    return out


def evaluate_run(run: Run, *, include_utility: bool = True):
    """A :class:`~synth_core.evaluation.report.Report` of a run's kept rows (stored in ``run.metrics``).

    Utility is scored on the test rows, with the run's model, only when some were held out; a
    cross-fitted run's verdict is in ``run.metrics["check"]`` (:func:`synth_core.reporting.run_markdown`
    shows both)."""
    from .evaluation.report import Report

    report = Report(
        include_utility=include_utility and len(run.dataset.test_idx) > 0,
        utility_model=run.params.get("model"),
    ).generate(
        dataset=run.dataset,
        synthetic=run.synthetic_frame(provenance=True),
        rules=[r for r in run.rules if r.status == "approved"],
        llm_usage=run.usage or None,
    )
    run.metrics["report"] = report.to_dict()
    return report
