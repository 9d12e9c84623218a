"""The ``synth`` command: the app's steps, headless.

``synth inspect FILE --target COL``            schema and how the rows are used
``synth discover FILE --target COL --rho R``   DATE rules with support, error, tree paths
``synth generate FILE --target COL ...``       a whole run, written as a bundle
``synth evaluate run.zip [--report r.md]``     utility, fidelity, privacy, ... of a bundle
``synth llm-check``                            the LLM endpoint (embedded by default) answers

Errors a person can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InvalidParameterError, SynthError

__all__ = ["main", "build_parser"]


def _split_args(args) -> dict:
    """``load_dataset`` keywords from the shared data options."""
    out = {"protocol": args.protocol, "kinds": _pairs(args.kind, "--kind", "COL=KIND")}
    if args.test_share is not None:
        out["test_size"] = args.test_share
    return out


def _pairs(items, flag: str, shape: str) -> dict:
    """``KEY=VALUE`` strings as a dict (values stay text)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidParameterError(f"{flag} expects {shape}, got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _params(items) -> dict:
    """``--param KEY=VALUE`` strings as a dict; values read as JSON when they parse (numbers, true, lists)."""
    out = {}
    for key, value in _pairs(items, "--param", "KEY=VALUE").items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _load(args):
    from .data import load_dataset

    return load_dataset(args.file, target=args.target, task=args.task, seed=args.seed, **_split_args(args))


def _cmd_inspect(args) -> int:
    from .data import summarize

    ds = _load(args)
    print(
        f"{ds.name}: {len(ds.frame):,} rows x {ds.frame.shape[1]} columns; target {ds.target!r} ({ds.task})"
    )
    if ds.protocol == "paper":
        print(
            f"paper split (seed {ds.seed}): train {len(ds.train_idx):,} / validation {len(ds.val_idx):,} / "
            f"test {len(ds.test_idx):,}"
        )
    else:
        held = f"; {len(ds.test_idx):,} held out for a final test" if len(ds.test_idx) else ""
        print(f"cross-fitted: every one of {len(ds.train_idx):,} rows is used, checks run out of fold{held}")
    if ds.unlabelled is not None and len(ds.unlabelled):
        print(
            f"{len(ds.unlabelled):,} row(s) have no {ds.target!r}: no model learns from them; they are kept "
            "in the augmented export"
        )
    if ds.task == "classification":
        counts = ds.frame[ds.target].value_counts()
        print("classes: " + ", ".join(f"{k!s} {v:,} ({v / len(ds.frame):.1%})" for k, v in counts.items()))
    print()
    print(summarize(ds).to_string(index=False))
    return 0


def _cmd_discover(args) -> int:
    from .discovery import DGRDiscoverer, discover_report
    from .rules import rules_to_json

    ds = _load(args)
    disc = DGRDiscoverer(rho=args.rho, max_rules=args.max_rules, random_state=args.seed).fit(ds)
    print(discover_report(disc))
    if args.json:
        Path(args.json).write_text(rules_to_json(disc.rules_))
        print(f"\nwrote {len(disc.rules_)} rules to {args.json}")
    return 0


def _rules_for(args, ds, *, error: str = "relative"):
    """The approved rules of ``--rules`` (checked against the table as the Rules page checks them), or every
    discovered rule, approved (regression error ``error``: the paper preset discovers with Problem 1's MAE)."""
    if args.rules:
        from .rules import rules_from_json, validate_rules

        try:
            text = Path(args.rules).read_text()
        except OSError as exc:
            raise InvalidParameterError(f"cannot read the rules file {args.rules}: {exc.strerror}.") from exc
        rules = rules_from_json(text)
        if not any(r.status == "approved" for r in rules):
            rules = [r.with_(status="approved") for r in rules if r.status != "rejected"]
        validate_rules([r for r in rules if r.status == "approved"], ds.schema, target=ds.target)
        return rules, f"{sum(r.status == 'approved' for r in rules)} approved rules from {args.rules}"
    from .discovery import DGRDiscoverer

    disc = DGRDiscoverer(rho=args.rho, error=error, random_state=args.seed).fit(ds)
    rules = [r.with_(status="approved") for r in disc.rules_]
    how = " with mean absolute error" if error == "mae" and ds.task == "regression" else ""
    return rules, f"{len(rules)} discovered rules{how} (all approved)"


def _cmd_generate(args) -> int:
    from .export import to_safe_csv
    from .generators import needs_llm
    from .generators.presets import resolve_preset
    from .models import resolve_model
    from .pipeline import default_budget, run_pipeline

    preset = resolve_preset(args.method, args.preset)
    ds = _load(args)
    spec = resolve_model(args.for_model)
    checked = [resolve_model(m) for m in _names(args.also_check)]
    rules, source = _rules_for(args, ds, error="mae" if preset.fixed else "relative")
    how = "cross-fitted" if ds.protocol != "paper" else "paper split"
    print(
        f"{ds.name}: {len(ds.train_idx):,} rows ({how}), {source}; checked for your {spec.label}"
        + (f" (and {', '.join(m.label for m in checked)})" if checked else ""),
        flush=True,
    )
    client = None
    if needs_llm(args.method):
        from .llm import LLMSettings, get_client

        client = get_client(LLMSettings.from_env(base_url=args.base_url, model=args.model))
        if args.deadline:
            client = client.with_deadline(args.deadline)
    params = _params(args.param)
    if args.method == "date" and args.iterations is not None:
        params.setdefault("iterations", args.iterations)
    fixed = sorted(
        k for k in params if preset.fixed and k in preset.generator and params[k] != preset.generator[k]
    )
    if fixed:
        print(
            f"  note: the {preset.name} preset fixes {', '.join(f'{k}={preset.generator[k]!r}' for k in fixed)} "
            f"(the paper's values); your {', '.join(fixed)} is not used. Use --preset product to change it.",
            flush=True,
        )
    print(f"  preset: {preset.label} — {preset.help}", flush=True)
    refinements = "auto" if args.auto_approve_refinements else "propose"
    last = [-1]

    def progress(step, total, message):
        pct = int(100 * step / max(total, 1))
        if pct >= last[0] + 10 or step == total:
            last[0] = pct
            print(f"  {pct:3d}%  {message}", flush=True)

    n = args.n or default_budget(args.method, ds)
    run = run_pipeline(
        ds,
        rules,
        method=args.method,
        n=n,
        labels=args.labels,
        selection=args.selection,
        alpha=args.alpha,
        client=client,
        generator_params=params,
        progress=progress,
        guard=not args.no_check,
        model=spec,
        check_models=checked,
        folds=args.folds,
        random_state=args.seed,
        extra_params={"rho": args.rho, "source": str(args.file)},
        preset=preset.name,
        refinements=refinements,
    )
    for m in run.messages:
        print(f"  note: {m}")
    decided = run.params.get("refinements", {}).get("decisions", [])
    if decided:
        counts: dict = {}
        for d in decided:
            counts[d["decision"]] = counts.get(d["decision"], 0) + 1
        print(
            "  refined rules: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + (
                ""
                if args.auto_approve_refinements
                else " (they wrote no rows; approve them in the rules file or pass --auto-approve-refinements)"
            )
        )
    run.save(args.out)
    print(
        f"wrote {args.out}: {len(run.rows):,} candidate rows, {len(run.selected):,} kept "
        f"({run.metrics['seconds']:.1f} s)"
    )
    check = run.metrics.get("check")
    if check:
        for v in check["verdicts"].values():
            print(
                f"  verdict for your {v['label']}: {v['metric']} {v['base']:.4g} -> {v['augmented']:.4g} "
                f"({v['change']:+.1%}, 95% interval {v['low']:+.1%} to {v['high']:+.1%}), cross-fitted over "
                f"{check['folds']} folds x {check['repeats']}"
            )
    if args.csv:
        Path(args.csv).write_bytes(to_safe_csv(run.synthetic_frame()))
        print(f"wrote {args.csv}")
    return 0


def _folds(text: str):
    """``--folds``: 'auto' or a whole number (the check says when it is out of range)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number, got {text!r}") from None


def _names(items) -> list[str]:
    return [x.strip() for item in items or [] for x in item.split(",") if x.strip()]


def _cmd_evaluate(args) -> int:
    from .pipeline import evaluate_run
    from .reporting import run_markdown
    from .run import Run

    run = Run.load(args.bundle)
    text = run_markdown(run, evaluate_run(run, include_utility=not args.no_utility))
    if args.report:
        Path(args.report).write_text(text)
        print(f"wrote {args.report}")
    else:
        print(text)
    return 0


def _cmd_llm_check(args) -> int:
    from .llm.check import llm_check

    return llm_check(base_url=args.base_url, model=args.model, n=args.n)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth", description="Rule-guided synthetic rows for tables.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p):
        p.add_argument("file", help="CSV/TSV (optionally .gz), Parquet or Excel file")
        p.add_argument("--target", required=True, help="the column to predict")
        p.add_argument("--task", choices=["classification", "regression"], help="override the inferred task")
        p.add_argument("--seed", type=int, default=0, help="split and sampling seed (default 0)")
        p.add_argument(
            "--kind",
            action="append",
            default=[],
            metavar="COL=KIND",
            help="set a column's kind (numeric, integer, categorical, boolean, datetime, text, id); "
            "repeatable",
        )
        p.add_argument(
            "--protocol",
            choices=["crossfit", "paper"],
            default="crossfit",
            help="crossfit (default): every row counts, checks run out of fold; paper: DATE's "
            "60/20/20 split, for comparing with published tables",
        )
        p.add_argument(
            "--test-share",
            type=float,
            default=None,
            help="share of rows held out for a final test (crossfit default 0, paper 0.2)",
        )

    p = sub.add_parser("inspect", help="print the inferred schema and split sizes")
    data_args(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("discover", help="discover DATE distribution-guiding rules")
    data_args(p)
    p.add_argument("--rho", type=float, default=None, help="error threshold (default: 0.05 / relative 0.1)")
    p.add_argument("--max-rules", type=int, default=12, help="cap on rules shown to a person")
    p.add_argument("--json", help="also write the rules as JSON to this file")
    p.set_defaults(func=_cmd_discover)

    p = sub.add_parser(
        "generate", help="discover (or read) rules, generate, label, check; write a run bundle"
    )
    data_args(p)
    p.add_argument(
        "--rules",
        help="rules JSON (approved rules are used, checked against the table; default: "
        "discover and approve all)",
    )
    p.add_argument(
        "--method",
        default="statistical",
        help="generator: statistical, jitter, date, samplellm, htdbu, structsynth (default statistical)",
    )
    p.add_argument(
        "--labels",
        default="auto",
        choices=["auto", "relabel", "filter", "score", "none"],
        help="label step after generation (default auto: relabel when the teacher beats your model "
        "out of fold, else keep labels the teacher does not firmly contradict)",
    )
    p.add_argument(
        "--for-model",
        default="tree",
        metavar="MODEL",
        help="the model you will train on the result, which every check uses: tree (default), "
        "linear (logistic/ridge), forest, boosting (HistGradientBoosting; alias hgb)",
    )
    p.add_argument(
        "--also-check",
        action="append",
        default=[],
        metavar="MODEL[,MODEL]",
        help="more models the kept rows must not make worse (check several)",
    )
    p.add_argument(
        "--folds",
        type=_folds,
        default="auto",
        help="K of the cross-fitted check, or 'auto' (default): 10 under 2,000 rows, else 5",
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="most rows to keep (budget n; default 200 for LLM generators, 20x the rows (3,000 to "
        "60,000) for jitter/statistical, of which the check keeps the share that helps)",
    )
    p.add_argument("--rho", type=float, default=None, help="error threshold for discovery")
    p.add_argument("--alpha", type=float, default=0.8, help="MDS quality weight (default 0.8)")
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="DATE iterations I (default: the preset's, 2 for product, 3 for paper)",
    )
    p.add_argument(
        "--preset",
        choices=["product", "paper"],
        default="product",
        help="product (default): the project's measured settings; paper: the generator's paper step by "
        "step (DATE, SampleLLM, H-TDBU; see docs/PAPERS.md); statistical and jitter have product only",
    )
    p.add_argument(
        "--auto-approve-refinements",
        action="store_true",
        help="let rules the generator refines while it runs (DATE) write rows without a person's "
        "approval; the run records them as approved automatically (default: they are only "
        "proposed and write no rows)",
    )
    p.add_argument(
        "--selection",
        default="auto",
        choices=["auto", "mds", "fgs", "bgs", "topk", "none"],
        help="how to pick rows before the check (default auto: mds for LLM generators, none for "
        "offline ones)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a generator parameter, e.g. --param noise=0.2 (repeatable)",
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="keep every selected row instead of the share that helps your model",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: embedded model)")
    p.add_argument("--model", help="model name at the LLM endpoint")
    p.add_argument(
        "--deadline",
        type=float,
        default=3600.0,
        help="seconds the LLM may take for the whole run (default 3600); rows made by then are kept "
        "and the run is marked incomplete",
    )
    p.add_argument("--out", default="run.zip", help="bundle path (default run.zip)")
    p.add_argument("--csv", help="also write the kept synthetic rows as CSV")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("evaluate", help="evaluate a run bundle")
    p.add_argument("bundle", help="run bundle written by `synth generate` or the app")
    p.add_argument("--report", help="write the Markdown report to this file")
    p.add_argument("--no-utility", action="store_true", help="skip the (slower) augmentation utility")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("llm-check", help="check that the LLM endpoint answers and writes valid rows")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: embedded model)")
    p.add_argument("--model", help="model name at the endpoint")
    p.add_argument("--n", type=int, default=5, help="rows to generate (default 5)")
    p.set_defaults(func=_cmd_llm_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SynthError as exc:
        print(f"synth {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synth {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
