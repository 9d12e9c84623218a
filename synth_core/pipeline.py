"""One run end to end: generate for approved rules, label, select, and keep it all in a :class:`Run`.

The app's Generate page and ``synth generate`` both call :func:`run_pipeline`,
so a result found by clicking can be rerun headless.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pandas as pd

from .errors import GenerationError
from .generators import GENERATORS, get_generator
from .generators.base import approved_rules, is_cancelled
from .generators.selection import choose_amount, select_rows
from .labels import Labeler
from .run import Run

__all__ = ["run_pipeline", "make_generator", "estimate_calls", "default_budget", "default_selection"]


def make_generator(method: str, *, client=None, params: dict | None = None, random_state=0):
    """Build a registered generator with its parameters (the LLM client for LLM generators)."""
    cls = get_generator(method)
    kwargs = dict(params or {})
    accepted = inspect.signature(cls.__init__).parameters
    if "random_state" in accepted:
        kwargs.setdefault("random_state", random_state)
    if GENERATORS[method][2]:
        if client is None:
            from .llm import get_client

            client = get_client()
        kwargs["client"] = client
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise GenerationError(f"{method} does not take parameter(s) {unknown}; it takes "
                              f"{[p for p in accepted if p != 'self']}.")
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
    offline ones as many rows as the train split (at least 3,000), since the validation check then
    keeps only the amount that helps."""
    if GENERATORS.get(method, ("", "", False))[2]:
        return 200
    return max(3000, len(dataset.train_idx))


def default_selection(method: str) -> str:
    """MDS over (rule, iteration) arms for LLM generators; for offline ones all rows go to the
    validation-checked amount."""
    return "mds" if GENERATORS.get(method, ("", "", False))[2] else "none"


def estimate_calls(method: str, rules, n: int, params: dict | None = None) -> int:
    """LLM calls a run of ``method`` with ``params`` plans for ``n`` candidate rows (0 offline).

    Built without a client, so nothing is started or called.
    """
    cls = get_generator(method)
    accepted = inspect.signature(cls.__init__).parameters
    gen = cls(**{k: v for k, v in (params or {}).items() if k in accepted and k != "client"})
    return gen.planned_calls(n, sum(r.status == "approved" for r in rules))


def run_pipeline(dataset, rules, *, method: str = "statistical", n: int = 200, labels: str = "auto",
                 selection: str = "mds", alpha: float = 0.8, oversample: float = 2.0, client=None,
                 generator_params: dict | None = None, progress=None, cancel=None, random_state: int = 0,
                 downstream=None, labeler: Labeler | None = None, guard: bool = True,
                 extra_params: dict | None = None) -> Run:
    """Generate ``oversample * n`` candidates, label them, select up to ``n``; return the Run.

    ``downstream`` is the user's model (default: decision tree): the label step compares its teacher
    with it and selection scores validation rows with it. With ``guard`` the number of selected rows
    kept is chosen on validation rows (possibly none, with a message), so adding them does not make
    the downstream model worse on validation. ``labeler`` reuses an already fitted
    :class:`Labeler` (its mode wins over ``labels``).

    Nothing made is lost: a cancel or an LLM failure mid-run keeps every accepted row, and
    ``Run.messages`` says per rule what happened.
    """
    started = time.perf_counter()
    chosen = approved_rules(rules)

    def report(frac, message):
        if progress:
            progress(int(frac * 1000), 1000, message)

    gen = make_generator(method, client=client, params=generator_params, random_state=random_state)
    gen.fit(dataset, chosen)
    n_candidates = max(int(np.ceil(n * oversample)), n)

    def gen_progress(step, total, message):
        report(0.75 * step / max(total, 1), message)

    generation = gen.generate(n_candidates, progress=gen_progress, cancel=cancel)
    messages = list(generation.messages)
    rows = generation.rows
    label_info: dict = {}
    if labels != "none" and len(generation.accepted):
        report(0.8, "labelling rows with the teacher model")
        if labeler is None:
            labeler = Labeler(mode=labels, downstream=downstream, random_state=random_state).fit(dataset)
        rows = labeler.transform(rows)
        label_info = labeler.summary(rows)
        messages.append(label_info["message"])
    all_rules = chosen + [r for r in generation.proposals if r.id]
    arms = pd.DataFrame()
    if selection != "none" and not is_cancelled(cancel) and len(rows) and (rows["_status"] == "accepted").any():
        report(0.9, f"selecting rows ({selection})")
        sel = select_rows(rows, dataset, all_rules, method=selection, alpha=alpha, budget=n,
                          model=downstream, random_state=random_state)
        rows["_selected"] = rows["_row_id"].isin(set(sel.row_ids))
        arms = sel.arms
        messages.extend(sel.messages)
        label_info["selection"] = {"method": sel.method, "baseline_quality": sel.baseline_quality,
                                   "final_quality": sel.final_quality}
    elif len(rows):  # cancelled or nothing accepted: a random share of what was accepted, every rule alike
        accepted = rows[rows["_status"] == "accepted"]
        keep = accepted["_row_id"].sample(min(n, len(accepted)), random_state=random_state)
        rows["_selected"] = rows["_row_id"].isin(set(keep))
    if guard and "_selected" in rows and rows["_selected"].any() and not is_cancelled(cancel):
        report(0.95, "checking on validation rows how many rows to keep")
        chosen_rows = rows[rows["_selected"]]
        keep, table = choose_amount(chosen_rows, dataset, model=downstream, random_state=random_state)
        rows["_selected"] = rows["_row_id"].isin(set(keep))
        label_info["amount"] = table.to_dict(orient="records")
        if len(keep) < len(chosen_rows):
            messages.append(f"kept {len(keep)} of {len(chosen_rows)} selected rows: adding more did not "
                            "improve the downstream model on validation rows." if keep else
                            "no synthetic rows kept: none improved the downstream model on validation rows; "
                            "try more rows, another generator or label mode.")
    report(1.0, "done")
    params = {"method": method, "n": n, "labels": labels, "selection": selection, "alpha": alpha, "guard": guard,
              "oversample": oversample, "random_state": random_state, "generator": gen.get_params(deep=False)}
    params["generator"].pop("client", None)
    if structure := gen.structure():
        params["structure"] = structure
    if client is not None or GENERATORS[method][2]:
        settings = getattr(getattr(gen, "client", None), "settings", None)
        if settings is not None:
            params["llm"] = {"base_url": _public_url(getattr(settings, "base_url", None)) or "embedded",
                             "model": getattr(settings, "model", None)}
    params.update(extra_params or {})
    usage = generation.usage
    return Run(dataset=dataset, rules=list(rules) + [r for r in generation.proposals if r not in rules],
               params=params, rows=rows, usage=usage,
               messages=messages, arms=arms, labels=label_info, per_rule=generation.per_rule,
               metrics={"seconds": time.perf_counter() - started, "cancelled": generation.cancelled})


def evaluate_run(run: Run, *, include_utility: bool = True):
    """A :class:`~synth_core.evaluation.report.Report` of a run's selected rows (stored in ``run.metrics``)."""
    from .evaluation.report import Report

    report = Report(include_utility=include_utility).generate(
        dataset=run.dataset, synthetic=run.synthetic_frame(provenance=True),
        rules=[r for r in run.rules if r.status == "approved"], llm_usage=run.usage or None)
    run.metrics["report"] = report.to_dict()
    return report


__all__.append("evaluate_run")


def _cli_params(items) -> dict:
    """``KEY=VALUE`` strings as a dict; values read as JSON when they parse (numbers, true, lists)."""
    import json

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GenerationError(f"--param expects KEY=VALUE, got {item!r}.")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run_from_cli(args) -> int:
    """``synth generate``: the app's whole flow on one table, written as a bundle."""
    from .data import load_dataset
    from .rules import rules_from_json

    ds = load_dataset(args.file, target=args.target, task=args.task, seed=args.seed)
    if args.rules:
        from pathlib import Path

        rules = rules_from_json(Path(args.rules).read_text())
        if not any(r.status == "approved" for r in rules):
            rules = [r.with_(status="approved") for r in rules if r.status != "rejected"]
        source = f"{len(rules)} rules from {args.rules}"
    else:
        from .discovery import DGRDiscoverer

        disc = DGRDiscoverer(rho=args.rho, random_state=args.seed).fit(ds)
        rules = [r.with_(status="approved") for r in disc.rules_]
        source = f"{len(rules)} discovered rules (all approved)"
    print(f"{ds.name}: {len(ds.train):,} train rows, {source}", flush=True)
    client = None
    if GENERATORS.get(args.method, ("", "", False))[2]:
        from .llm import get_client

        client = get_client(base_url=args.base_url, model=args.model)
    params = _cli_params(args.param)
    if args.method == "date":
        params.setdefault("iterations", args.iterations)
    last = [-1]

    def progress(step, total, message):
        pct = int(100 * step / max(total, 1))
        if pct >= last[0] + 10 or step == total:
            last[0] = pct
            print(f"  {pct:3d}%  {message}", flush=True)

    n = args.n or default_budget(args.method, ds)
    selection = args.selection if args.selection != "auto" else default_selection(args.method)
    run = run_pipeline(ds, rules, method=args.method, n=n, labels=args.labels, selection=selection,
                       alpha=args.alpha, client=client, generator_params=params, progress=progress,
                       guard=not args.no_check,
                       random_state=args.seed, extra_params={"rho": args.rho, "source": str(args.file)})
    for m in run.messages:
        print(f"  note: {m}")
    run.save(args.out)
    sel = run.selected
    print(f"wrote {args.out}: {len(run.rows):,} candidate rows, {len(sel):,} selected "
          f"({run.metrics['seconds']:.1f} s)")
    if args.csv:
        from pathlib import Path

        from .export import to_safe_csv

        Path(args.csv).write_bytes(to_safe_csv(run.synthetic_frame()))
        print(f"wrote {args.csv}")
    return 0


def evaluate_from_cli(args) -> int:
    """``synth evaluate``: utility, fidelity, detection, privacy, rules, diversity and LLM usage of a bundle."""
    from .run import Run

    run = Run.load(args.bundle)
    report = evaluate_run(run, include_utility=not args.no_utility)
    text = report.to_markdown()
    if args.report:
        from pathlib import Path

        Path(args.report).write_text(text)
        print(f"wrote {args.report}")
    else:
        print(text)
    return 0
