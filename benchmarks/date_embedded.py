"""DATE generation (Alg. 2) on the embedded model: a small-N probe of the whole LLM path.

Embedded 270M model, small N. Gemma 3 270M (a base model) writes grammar-bound
CSV rows at about 0.2 rows/s on this shared 2-core machine, so this measures
that DATE runs end to end offline and what it costs, not the quality DATE
reaches with a capable model. Differences of a point or two in test error on a
few dozen rows are within noise.

Protocol, per data set (``../shared/datasets``) and seed:

* ``make_dataset`` split (20% test, 25% of the rest validation, stratified),
  then the low-data regime of ``benchmarks/augment.py``: train cut to 300 rows
  and validation to 100 rows, stratified, ``random_state=seed``;
* rules: ``DGRDiscoverer(rho=--rho)`` on those 300 train rows, the first
  ``--rules`` rules that fit approved (rules are listed by ind, then support);
* ``DATEGenerator(preset=--preset, iterations=--iterations, rows_per_call=5)``
  asked for ``--n`` rows (the paper preset fixes I = 3); the embedded client
  with the reply cache off and seed 0; refined rules write rows only with
  ``--auto-approve-refinements`` (otherwise they are proposals, as in the app
  before a person approves them);
* utility: decision tree, 100 x test error rate, mean over 5 tree seeds, for
  real train rows only, plus DATE's accepted rows with the LLM's labels, plus
  only the rows of groups with a positive validation gain (``_delta > 0``,
  Alg. 2's ``T^G``), and plus the accepted rows after the label step
  (``Labeler(mode="auto")``, teacher fitted on the 300 train rows; applied to
  the accepted rows only).

Usage::

    .venv/bin/python benchmarks/date_embedded.py [--sets bank-marketing,california] [--n 24]
        [--iterations 2] [--preset product|paper] [--auto-approve-refinements] [--rules 3] [--rho 0.15]
        [--seeds 0] [--out benchmarks/results/date.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import load_table, make_dataset  # noqa: E402
from synth_core.discovery import DGRDiscoverer  # noqa: E402
from synth_core.evaluation.utility import augmentation_utility  # noqa: E402
from synth_core.generators.date import DATEGenerator  # noqa: E402
from synth_core.labels import Labeler  # noqa: E402
from synth_core.llm import LLMClient, LLMSettings  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
SETS = {
    "bank-marketing": ("bank-marketing.csv.gz", "Class"),
    "california": ("california.csv.gz", "price_above_median"),
}
TREE_SEEDS = (0, 1, 2, 3, 4)


def low_data(frame: pd.DataFrame, target: str, seed: int, name: str):
    """300 train / 100 validation rows (stratified), the split's test rows unchanged."""
    ds = make_dataset(frame, target=target, seed=seed, name=name, protocol="paper")
    train_idx, _ = train_test_split(
        ds.train_idx, train_size=300, random_state=seed, stratify=ds.train[target]
    )
    val_idx, _ = train_test_split(ds.val_idx, train_size=100, random_state=seed, stratify=ds.val[target])
    return ds.with_train(np.asarray(train_idx), np.asarray(val_idx))


def error100(ds, rows) -> float:
    res = augmentation_utility(ds, rows, seeds=TREE_SEEDS)
    return 100.0 * (res["augmented"]["mean"] if rows is not None and len(rows) else res["baseline"]["mean"])


def run_one(client, name: str, seed: int, args) -> dict:
    file, target = SETS[name]
    ds = low_data(load_table(DATA / file), target, seed, name)
    disc = DGRDiscoverer(rho=args.rho, random_state=seed).fit(ds)
    fitting = [r for r in disc.rules_ if r.error is not None and r.error <= disc.rho_]
    rules = [r.with_(status="approved") for r in (fitting or disc.rules_)[: args.rules]]
    print(
        f"[{name} seed {seed}] {len(disc.rules_)} rules discovered, approved "
        f"{', '.join(f'{r.id} (support {r.support}, error {r.error:.3f})' for r in rules)}",
        flush=True,
    )
    from synth_core.generators.presets import preset_params

    params = preset_params("date", args.preset, {"iterations": args.iterations, "rows_per_call": 5})
    gen = DATEGenerator(client=client, random_state=seed, **params)
    gen.fit(ds, rules)
    last = [0.0]

    def progress(step, total, message):
        now = time.perf_counter()
        if now - last[0] > 20 or step == total:
            last[0] = now
            print(f"  [{name}] {step}/{total} {message}", flush=True)

    t0 = time.perf_counter()
    out = gen.generate(
        args.n, progress=progress, refinements="auto" if args.auto_approve_refinements else "propose"
    )
    wall = time.perf_counter() - t0
    acc = out.accepted
    positive = acc[acc["_delta"] > 0]
    labeler = Labeler(mode="auto", random_state=seed).fit(ds)
    # only accepted rows go to the label step: rows the parser rejected have no values, and their empty
    # integer target turns the relabelled column into floats ("1.0"), which no test label matches
    labelled = labeler.transform(acc)
    labelled = labelled[labelled["_status"] == "accepted"]
    u = out.usage
    result = {
        "set": name,
        "seed": seed,
        "rules": [(r.id, r.text, r.support, r.error) for r in rules],
        "rows": len(out.rows),
        "accepted": len(acc),
        "rejected": len(out.rejected),
        "reasons": Counter(out.rejected["_reason"]),
        "positive": len(positive),
        "label_mode": labeler.effective_mode_,
        "labelled": len(labelled),
        "calls": u.get("calls", 0),
        "errors": u.get("errors", 0),
        "prompt_tokens": u.get("prompt_tokens", 0),
        "completion_tokens": u.get("completion_tokens", 0),
        "total_tokens": u.get("total_tokens", 0),
        "llm_seconds": u.get("seconds", 0.0),
        "wall": wall,
        "proposals": [(r.id, r.text, r.support, r.status) for r in out.proposals],
        "messages": out.messages,
        "decisions": out.decisions,
        "err_real": error100(ds, None),
        "err_date": error100(ds, acc),
        "err_positive": error100(ds, positive),
        "err_labelled": error100(ds, labelled),
        "example": acc.iloc[0][ds.features + [ds.target]].to_dict() if len(acc) else None,
        "per_rule": out.per_rule[
            [
                "rule_id",
                "role",
                "status",
                "requested",
                "accepted",
                "rejected",
                "rejected_by_reason",
                "positive_gain_rows",
                "calls",
                "tokens",
                "refine_tokens",
            ]
        ],
    }
    print(
        f"  [{name}] {len(acc)} accepted, {len(out.rejected)} rejected, {result['calls']} calls, "
        f"{wall:.0f} s; error real {result['err_real']:.2f} -> +DATE {result['err_date']:.2f}",
        flush=True,
    )
    return result


def table(frame: pd.DataFrame) -> list[str]:
    """A DataFrame as markdown table lines (no tabulate dependency)."""
    out = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for values in frame.itertuples(index=False, name=None):
        out.append("| " + " | ".join(str(v) if str(v) else "-" for v in values) + " |")
    return out


def markdown(results: list[dict], args, wall: float, started: str) -> str:
    cmd = "python benchmarks/date_embedded.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# DATE (Alg. 2) on the embedded model — embedded 270M model, small N",
        "",
        "**Read this first: embedded 270M model, small N.** Gemma 3 270M (base model) on `llama_cpp.server`, "
        "2 threads on a shared 2-core machine, no GPU. It proves DATE's LLM path runs offline end to end; it "
        f"is not the quality path. With {args.n} rows on 300 real ones, test-error differences of a point or "
        "two are noise.",
        "",
        f"- command: `{cmd.strip()}` (from the repository root, with `.venv/bin/python`)",
        f"- date: {started}",
        f"- machine: {platform.machine()}, Python {platform.python_version()}, 2 CPU cores shared with other "
        "work",
        f"- protocol: make_dataset split (seed), train cut to 300 and validation to 100 rows (stratified); "
        f"DGRDiscoverer(rho={args.rho}) on the 300 train rows, first {args.rules} fitting rules approved; "
        f"DATEGenerator(preset={args.preset!r}, iterations={3 if args.preset == 'paper' else args.iterations}, "
        f"rows_per_call=5) asked for N={args.n} rows; refinements "
        f"{'approved automatically' if args.auto_approve_refinements else 'proposed only (no rows)'}; reply cache "
        "off, temperature 1.0, LLM seed 0; decision tree, 100 x test error, mean of 5 tree seeds",
        f"- whole run: {wall:.0f} s",
        "",
        "| data | seed | rules | N | accepted | rejected (by reason) | Delta > 0 rows | LLM calls | tokens "
        "(prompt + completion) | tokens / accepted row | LLM s | wall s | error real-only | + DATE rows "
        "(LLM labels) | + DATE rows, Delta > 0 only | + DATE rows, label step |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        reasons = ", ".join(f"{k} {v}" for k, v in r["reasons"].most_common()) or "-"
        per_row = f"{r['total_tokens'] / r['accepted']:.0f}" if r["accepted"] else "-"
        lines.append(
            f"| {r['set']} | {r['seed']} | {len(r['rules'])} | {args.n} | {r['accepted']} | "
            f"{r['rejected']} ({reasons}) | {r['positive']} | {r['calls']} | "
            f"{r['total_tokens']:,} ({r['prompt_tokens']:,} + {r['completion_tokens']:,}) | {per_row} | "
            f"{r['llm_seconds']:.0f} | {r['wall']:.0f} | {r['err_real']:.2f} | {r['err_date']:.2f} | "
            f"{r['err_positive']:.2f} ({r['positive']} rows) | {r['err_labelled']:.2f} "
            f"({r['labelled']} rows, {r['label_mode']}) |"
        )
    lines.append("")
    for r in results:
        lines.append(f"## {r['set']}, seed {r['seed']}")
        lines.append("")
        lines.append(
            "Approved rules: "
            + "; ".join(
                f"{rid} `{text}` (support {sup}, error {err:.3f})" for rid, text, sup, err in r["rules"]
            )
        )
        lines.append("")
        if r["proposals"]:
            outcome = {d["rule_id"]: d["decision"] for d in r["decisions"]}
            lines.append(
                "Refined rules proposed (each writes rows only once approved): "
                + "; ".join(
                    f"{rid} `{text}` (train support {sup}; {outcome.get(rid, status)})"
                    for rid, text, sup, status in r["proposals"]
                )
            )
        else:
            lines.append("Refined rules proposed: none.")
        lines.append("")
        lines.extend(table(r["per_rule"]))
        lines.append("")
        if r["example"]:
            example = {k: (v.item() if hasattr(v, "item") else v) for k, v in r["example"].items()}
            lines.append(f"First accepted row: `{example}`")
            lines.append("")
        if r["messages"]:
            lines.append("Messages:")
            lines.extend(f"- {m}" for m in r["messages"])
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="bank-marketing,california")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--preset", choices=["product", "paper"], default="product")
    ap.add_argument("--auto-approve-refinements", action="store_true")
    ap.add_argument("--rules", type=int, default=3)
    ap.add_argument("--rho", type=float, default=0.15)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "date.md"))
    args = ap.parse_args(argv)
    started = dt.datetime.now().strftime("%Y-%m-%dT%H:%M")
    t_all = time.perf_counter()
    client = LLMClient(LLMSettings(cache=False, seed=0))
    client.start()
    results = []
    for name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(run_one(client, name.strip(), seed, args))
    text = markdown(results, args, time.perf_counter() - t_all, started)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
