"""The ``synth`` command: the app's steps, headless.

``synth inspect FILE --target COL``            schema and split sizes
``synth discover FILE --target COL --rho R``   DATE rules with support, error, tree paths
``synth generate FILE --target COL ...``       a whole run, written as a bundle
``synth evaluate run.zip [--report r.md]``     utility, fidelity, privacy, ... of a bundle
``synth llm-check``                            the LLM endpoint (embedded by default) answers

Errors a person can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SynthError

__all__ = ["main", "build_parser"]


def _cmd_inspect(args) -> int:
    from .data import load_dataset, summarize

    ds = load_dataset(args.file, target=args.target, task=args.task, seed=args.seed)
    print(f"{ds.name}: {len(ds.frame):,} rows x {ds.frame.shape[1]} columns; target {ds.target!r} ({ds.task})")
    print(f"split (seed {ds.seed}): train {len(ds.train_idx):,} / validation {len(ds.val_idx):,} / "
          f"test {len(ds.test_idx):,}")
    if ds.task == "classification":
        counts = ds.frame[ds.target].value_counts()
        print("classes: " + ", ".join(f"{k!s} {v:,} ({v / len(ds.frame):.1%})" for k, v in counts.items()))
    print()
    print(summarize(ds).to_string(index=False))
    return 0


def _cmd_discover(args) -> int:
    from .data import load_dataset
    from .discovery import DGRDiscoverer, discover_report
    from .rules import rules_to_json

    ds = load_dataset(args.file, target=args.target, task=args.task, seed=args.seed)
    disc = DGRDiscoverer(rho=args.rho, max_rules=args.max_rules, random_state=args.seed).fit(ds)
    print(discover_report(disc))
    if args.json:
        Path(args.json).write_text(rules_to_json(disc.rules_))
        print(f"\nwrote {len(disc.rules_)} rules to {args.json}")
    return 0


def _cmd_generate(args) -> int:
    from .pipeline import run_from_cli

    return run_from_cli(args)


def _cmd_evaluate(args) -> int:
    from .pipeline import evaluate_from_cli

    return evaluate_from_cli(args)


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

    p = sub.add_parser("inspect", help="print the inferred schema and split sizes")
    data_args(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("discover", help="discover DATE distribution-guiding rules")
    data_args(p)
    p.add_argument("--rho", type=float, default=None, help="error threshold (default: 0.05 / relative 0.1)")
    p.add_argument("--max-rules", type=int, default=12, help="cap on rules shown to a person")
    p.add_argument("--json", help="also write the rules as JSON to this file")
    p.set_defaults(func=_cmd_discover)

    p = sub.add_parser("generate", help="discover (or read) rules, generate, label, select; write a run bundle")
    data_args(p)
    p.add_argument("--rules", help="rules JSON (approved rules are used; default: discover and approve all)")
    p.add_argument("--method", default="statistical",
                   help="generator: statistical, jitter, date, samplellm, htdbu, structsynth (default statistical)")
    p.add_argument("--labels", default="auto", choices=["auto", "relabel", "filter", "score", "none"],
                   help="label step after generation (default auto: relabel when the teacher beats the "
                        "downstream model on validation rows, else filter)")
    p.add_argument("--n", type=int, default=None,
                   help="most rows to keep (budget n; default 200 for LLM generators, max(3000, train rows) "
                        "for jitter/statistical, of which the validation check keeps what helps)")
    p.add_argument("--rho", type=float, default=None, help="error threshold for discovery")
    p.add_argument("--alpha", type=float, default=0.8, help="MDS quality weight (default 0.8)")
    p.add_argument("--iterations", type=int, default=1, help="DATE refinement iterations I (default 1)")
    p.add_argument("--selection", default="auto", choices=["auto", "mds", "fgs", "bgs", "topk", "none"],
                   help="how to pick rows before the validation check (default auto: mds for LLM "
                        "generators, none for offline ones)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator parameter, e.g. --param noise=0.2 (repeatable)")
    p.add_argument("--no-check", action="store_true",
                   help="keep every selected row instead of the amount that helps on validation rows")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: embedded model)")
    p.add_argument("--model", help="model name at the endpoint")
    p.add_argument("--out", default="run.zip", help="bundle path (default run.zip)")
    p.add_argument("--csv", help="also write the selected synthetic rows as CSV")
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
