"""The Generate page's time estimate against the time a run really takes.

The page measures this machine's rates on the table (``synth_core.estimate.measure_rates``,
a few seconds) and adds up the run's work (``estimate_run``) before Start. This script
does exactly that, then runs the same settings through ``run_pipeline`` and times it.
The target (issue 18): the estimate within 2x of what happens, both ways.

    python benchmarks/estimates.py            # offline generators, tree and gradient boosting
    python benchmarks/estimates.py --llm      # adds DATE on the embedded model (a few minutes)

Writes ``benchmarks/results/estimates.md``. The rows given are a seeded sample of each
table (the sizes an analyst brings: 400 to 4,000 rows), the rules the discoverer finds
there, all approved, and each generator's default budget, as the page would run them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import load_table, make_dataset  # noqa: E402
from synth_core.discovery import DGRDiscoverer  # noqa: E402
from synth_core.estimate import estimate_run, measure_rates, seconds_per_call  # noqa: E402
from synth_core.pipeline import default_budget, default_selection, run_pipeline  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "benchmarks" / "results" / "estimates.md"
CASES = [  # (table, target, rows given, generator, model)
    ("heloc.csv.gz", "RiskPerformance", 400, "statistical", "tree"),
    ("heloc.csv.gz", "RiskPerformance", 400, "statistical", "boosting"),
    ("adult.csv.gz", "income", 2000, "statistical", "tree"),
    ("adult.csv.gz", "income", 2000, "jitter", "boosting"),
    ("california.csv.gz", "price_above_median", 4000, "jitter", "tree"),
    ("bank-marketing.csv.gz", "Class", 1000, "statistical", "linear"),
]
LLM_CASES = [("bank-marketing.csv.gz", "Class", 400, "date", "tree")]


def one(
    table: str,
    target: str,
    rows: int,
    method: str,
    model: str,
    *,
    folds="auto",
    client=None,
    n: int | None = None,
) -> dict:
    frame = load_table(SHARED / table).sample(rows, random_state=0).reset_index(drop=True)
    ds = make_dataset(frame, target=target, seed=0)
    rules = [r.with_(status="approved") for r in DGRDiscoverer(random_state=0).fit(ds).rules_[:6]]
    n = n or default_budget(method, ds)
    selection = default_selection(method)
    candidates = int(n * (2 if selection != "none" else 1))  # as the Generate page asks
    t0 = time.perf_counter()
    rates = measure_rates(ds, rules, method=method, models=[model], client=client)
    if client is not None:
        from dataclasses import replace

        rates = replace(rates, per_call=seconds_per_call(client))
    measuring = time.perf_counter() - t0
    est = estimate_run(ds, rules, method=method, n=candidates, rates=rates, model=model, folds=folds)
    t0 = time.perf_counter()
    run = run_pipeline(
        ds,
        rules,
        method=method,
        n=n,
        selection=selection,
        model=model,
        folds=folds,
        client=client,
        random_state=0,
    )
    actual = time.perf_counter() - t0
    usage = run.usage.get("summary", run.usage) if isinstance(run.usage, dict) else {}
    calls = usage.get("calls", 0)
    return {
        "table": table.split(".")[0],
        "rows": rows,
        "method": method,
        "model": model,
        "n": n,
        "measure_s": measuring,
        "estimate_s": est.seconds,
        "actual_s": actual,
        "ratio": actual / est.seconds if est.seconds else float("inf"),
        "calls_est": est.calls,
        "calls": calls,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llm", action="store_true", help="also DATE on the embedded model (slow)")
    args = ap.parse_args(argv)
    results = []
    for case in CASES:
        results.append(one(*case))
        print(results[-1], flush=True)
    if args.llm:
        from synth_core.llm import LLMClient, LLMSettings

        client = LLMClient(LLMSettings(cache=False)).start()
        for case in LLM_CASES:
            results.append(one(*case, client=client, n=10, folds=2))
            print(results[-1], flush=True)
    inside = sum(0.5 <= r["ratio"] <= 2.0 for r in results)
    lines = [
        "# Time estimate before Start vs the run's time",
        "",
        f"Command: `python benchmarks/estimates.py{' --llm' if args.llm else ''}` ({time.strftime('%Y-%m-%d')}, "
        "2-core machine shared with other jobs). Each case: a seeded sample of the table, the discoverer's "
        "first 6 rules approved, the generator's default budget and selection, K auto (10 folds under "
        "2,000 rows, else 5; DATE: 2 folds, n = 10), as the Generate page runs it. *measure* is the page's "
        "timing of a sample of the work, *estimate* what the page shows, *actual* the run through "
        "`run_pipeline`. Target: actual / estimate between 0.5 and 2.",
        "",
        f"**{inside} of {len(results)} within 2x.**",
        "",
        "| table | rows | generator | model | n | measure (s) | estimate (s) | actual (s) | actual / estimate "
        "| LLM calls est. / made |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['table']} | {r['rows']:,} | {r['method']} | {r['model']} | {r['n']:,} | "
            f"{r['measure_s']:.1f} | {r['estimate_s']:.1f} | {r['actual_s']:.1f} | {r['ratio']:.2f} | "
            f"{r['calls_est']} / {r['calls']} |"
        )
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
