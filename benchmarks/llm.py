"""Benchmark the LLM layer on the embedded model (Gemma 3 270M, llama_cpp.server, 2 CPU threads).

For three shared data sets (``../shared/datasets``: bank-marketing and
california, all numeric, and adult, mixed), 300 train rows each (a 60/20/20
split by ``make_dataset``, seed 0, then 300 train rows at random), a rule on
the first numeric feature (``>= its train median``) and a fixed number of
calls per condition, the script measures:

* accepted rows per second of request time, accepted fraction of parsed rows,
  tokens (prompt + completion) and completion tokens per accepted row,
  rejection reasons;
* CSV vs JSON-lines row text, with vs without the GBNF grammar;
* the embedded server's cold start (a fresh server process; model file already assembled)
  and, separately, assembling the model file when it is absent.

The reply cache is off, so every call reaches the model. Results go to a
markdown file with the command and the date.

Usage::

    .venv/bin/python benchmarks/llm.py [--calls 2] [--rows-per-call 5] [--quick]
        [--out benchmarks/results/llm.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import load_table, make_dataset  # noqa: E402
from synth_core.llm import LLMClient, LLMSettings, generate_rows  # noqa: E402
from synth_core.llm.server import EmbeddedServer  # noqa: E402
from synth_core.llm.settings import default_cache_dir  # noqa: E402
from synth_core.rules import Conjunction, Predicate, Rule  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
SETS = [
    ("bank-marketing.csv.gz", "Class"),
    ("california.csv.gz", "price_above_median"),
    ("adult.csv.gz", "income"),
]
# (format, constrained); JSON lines only on the numeric sets (on adult a JSON row is ~150 tokens)
CONDITIONS = [("csv", True), ("csv", False), ("jsonl", True)]


def load(file: str, target: str, n_train: int = 300):
    frame = load_table(DATA / file)
    ds = make_dataset(frame, target=target, seed=0, name=file.split(".")[0])
    train = ds.train.sample(n_train, random_state=0)
    first = next(c for c in ds.features if ds.schema[c].is_numeric)
    median = float(train[first].median())
    if ds.schema[first].kind == "integer":
        median = int(median)
    rule = Rule((Conjunction((Predicate(first, ">=", median),)),), id=f"{ds.name}-r1")
    return ds, train, rule


def run_condition(client, ds, train, rule, fmt, constrained, calls, rows_per_call):
    t0 = time.perf_counter()
    batch = generate_rows(
        client,
        schema=ds.schema,
        target=ds.target,
        rule=rule,
        examples=train,
        n=calls * rows_per_call,
        real_rows=ds.train,
        fmt=fmt,
        use_constraints=constrained,
        rows_per_call=rows_per_call,
        max_calls=calls,
        tag=f"{ds.name}/{fmt}/{constrained}",
        table_name=ds.name,
    )
    wall = time.perf_counter() - t0
    u = batch.usage
    parsed = u["accepted"] + u["rejected"]
    return {
        "data": ds.name,
        "fmt": fmt,
        "grammar": "yes" if constrained else "no",
        "calls": u["calls"],
        "rows_parsed": parsed,
        "accepted": u["accepted"],
        "accepted_share": f"{u['accepted_fraction'] * 100:.0f}%"
        if u["accepted_fraction"] is not None
        else "n/a",
        "accepted_rows_per_s": round(u["accepted"] / u["seconds"], 3) if u["seconds"] else 0.0,
        "tokens_per_accepted_row": u["tokens_per_accepted_row"],
        "completion_tokens_per_row": round(u["completion_tokens"] / parsed, 1) if parsed else None,
        "seconds": round(wall, 1),
        "rejections": ", ".join(f"{k} {v}" for k, v in batch.reasons.most_common()) or "-",
        "example_row": (batch.rows.iloc[0].to_dict() if len(batch.rows) else None),
    }


def cold_start() -> dict:
    out = {}
    t0 = time.perf_counter()
    from synth_core.llm.server import model_path

    model_path(default_cache_dir())
    out["model_file_check_s"] = round(time.perf_counter() - t0, 2)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # first use on a fresh machine: the file is assembled
        t0 = time.perf_counter()
        model_path(tmp)
        out["model_assemble_s"] = round(time.perf_counter() - t0, 2)
    server = EmbeddedServer(cache_dir=default_cache_dir())
    server.start()
    out["server_start_s"] = round(server.start_seconds, 2)
    server.stop()
    return out


def markdown(results, start, args, wall) -> str:
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT)] + sys.argv[1:])
    lines = [
        "# LLM layer benchmark (embedded model)",
        "",
        f"- command: `{cmd}` (from the repository root, with `.venv/bin/python`)",
        f"- date: {dt.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other work), "
        f"Python {platform.python_version()}, no GPU",
        "- model: Gemma 3 270M Q4_K_M (base model) on `llama_cpp.server` 0.3.x, 2 threads, n_ctx 2048, "
        "`OMP_WAIT_POLICY=passive`",
        f"- protocol: 300 random train rows per data set (make_dataset 60/20/20, seed 0); rule "
        f"`<first numeric feature> >= <train median>`; {args.calls} calls x {args.rows_per_call} rows per "
        "condition; 10 exemplar rows per call (fewer when the context is short), temperature 1.0, seed 0; "
        "reply cache off",
        f"- cold start: assembling the 240 MB model file on first use {start['model_assemble_s']} s (once per "
        f"machine); later, checking it (sha256) {start['model_file_check_s']} s; server process start to a "
        f"healthy `/v1/models` {start['server_start_s']} s",
        f"- whole run: {wall:.0f} s",
        "",
        "| data | format | grammar | calls | rows parsed | accepted | accepted share | accepted rows/s | "
        "tokens / accepted row | completion tokens / row | seconds | rejections |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['data']} | {r['fmt']} | {r['grammar']} | {r['calls']} | {r['rows_parsed']} | "
            f"{r['accepted']} | {r['accepted_share']} | {r['accepted_rows_per_s']} | "
            f"{r['tokens_per_accepted_row'] if r['tokens_per_accepted_row'] is not None else 'n/a'} | "
            f"{r['completion_tokens_per_row']} | {r['seconds']} | {r['rejections']} |"
        )
    lines += ["", "Example accepted rows (first of each condition):", ""]
    for r in results:
        if r["example_row"]:
            lines.append(
                f"- {r['data']} {r['fmt']} grammar={r['grammar']}: "
                f"`{json.dumps(r['example_row'], default=str)}`"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2, help="calls per condition")
    parser.add_argument("--rows-per-call", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="bank-marketing only, CSV with grammar")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm.md"))
    args = parser.parse_args(argv)
    missing = [f for f, _ in SETS if not (DATA / f).exists()]
    if missing:
        print(f"skipping: shared data set(s) {missing} not found under {DATA}")
        return 0
    t_all = time.perf_counter()
    start = cold_start()
    print(f"cold start: {start}", flush=True)
    client = LLMClient(LLMSettings(cache=False, seed=0))
    client.start()
    results = []
    sets = SETS[:1] if args.quick else SETS
    for file, target in sets:
        ds, train, rule = load(file, target)
        for fmt, constrained in CONDITIONS[:1] if args.quick else CONDITIONS:
            if fmt == "jsonl" and ds.name == "adult":
                continue
            r = run_condition(client, ds, train, rule, fmt, constrained, args.calls, args.rows_per_call)
            print(json.dumps({k: v for k, v in r.items() if k != "example_row"}), flush=True)
            results.append(r)
    text = markdown(results, start, args, time.perf_counter() - t_all)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
