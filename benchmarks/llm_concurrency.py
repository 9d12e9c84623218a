"""Benchmark: rows per second of every LLM generator against an endpoint with a fixed latency, by concurrency.

A small local OpenAI-compatible server (:func:`tests.fault_servers.latency`, run in a child process so
that its request handling does not share the interpreter lock with the generators) answers every chat
request after ``--latency`` seconds with a random value valid under the JSON schema the request carries
(rows inside the rule, an H-TDBU skeleton, a StructSynth DAG), drawn from the request itself; a rule
request gets two rule texts from a fixed list. It counts the requests it answers at once. No model runs:
what is measured is how well each generator keeps the endpoint busy, the situation of a remote or a
batched endpoint whose latency dwarfs the local work.

Each generator (``date``, ``samplellm``, ``htdbu``, ``structsynth``) is fitted on the bundled
``bank_marketing_3k.csv`` sample (target ``Class``; ``load_dataset`` seed 0, protocol ``paper``) with
four approved rules (four DATE groups) and asked for a fixed number of rows at each concurrency
(``LLMSettings.concurrency``; reply cache off, seed 0), after one untimed small run of each (the
lazy imports). The script reports wall seconds of ``generate`` (``fit`` is not timed), LLM calls, the most requests in flight, rows and accepted rows per
second, the speed-up over concurrency 1, and whether the rows are the same as at concurrency 1.

Usage::

    .venv/bin/python benchmarks/llm_concurrency.py [--latency 1.0] [--concurrency 1 4 16]
        [--generators date samplellm htdbu structsynth] [--out benchmarks/results/llm_concurrency.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shlex
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from synth_core.data import load_dataset  # noqa: E402
from synth_core.generators import get_generator  # noqa: E402
from synth_core.llm import LLMClient, LLMSettings  # noqa: E402
from synth_core.rules import parse_rule  # noqa: E402
from synth_core.samples import sample_path  # noqa: E402

RULES = ["V1 >= 50", "V1 < 30", "V1 >= 30 AND V1 < 50 AND V12 > 300", "V1 >= 30 AND V1 < 50 AND V12 <= 300"]
REFINED = ["V1 >= 60", "V12 > 300 AND V1 < 50", "V13 <= 3", "V6 > 1000 AND V1 >= 30"]
#: name -> (constructor parameters, rows asked)
GENERATORS = {
    "date": ({"iterations": 2, "rows_per_call": 5}, 1280),
    "samplellm": ({"rows_per_call": 5}, 400),
    "htdbu": ({}, 400),
    "structsynth": ({}, 400),
}


def _serve(delay: float, conn) -> None:  # the child process
    from tests import fault_servers as fs

    with fs.latency(delay, rules=REFINED) as srv:
        conn.send(srv.port)
        conn.recv()  # until the parent says stop


def _stats(base_url: str, reset: bool = False) -> dict:
    with urllib.request.urlopen(base_url + "/_stats" + ("?reset=1" if reset else ""), timeout=10) as resp:
        return json.loads(resp.read())


def comparable(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=[c for c in ("_row_id", "_call_id") if c in rows]).reset_index(drop=True)


def run_one(
    name: str, base_url: str, concurrency: int, ds, rules, n: int | None = None
) -> tuple[dict, pd.DataFrame]:
    params, default_n = GENERATORS[name]
    n = n or default_n
    client = LLMClient(
        LLMSettings(
            base_url=base_url, model="fault-model", concurrency=concurrency, seed=0, cache=False, timeout=120
        ),
        api_key="sk-benchmark-not-a-key",
    )
    t0 = time.perf_counter()
    gen = get_generator(name)(client=client, random_state=0, **params).fit(ds, rules)
    fit_s = time.perf_counter() - t0
    before = _stats(base_url, reset=True)["requests"]
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = gen.generate(n)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stats = _stats(base_url)
    assert out.error is None and not out.cancelled, (name, out.messages)
    row = {
        "generator": name,
        "concurrency": concurrency,
        "rows asked": n,
        "LLM calls": stats["requests"] - before,
        "max in flight": stats["max_in_flight"],
        "seconds": wall,
        "CPU seconds": cpu,
        "fit seconds": fit_s,
        "rows": len(out.rows),
        "accepted": len(out.accepted),
        "rows/s": len(out.rows) / wall,
        "accepted rows/s": len(out.accepted) / wall,
    }
    return row, comparable(out.rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=1.0, help="seconds per request (default 1.0)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=list(GENERATORS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_concurrency.md"))
    args = ap.parse_args(argv)
    command = "python benchmarks/llm_concurrency.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])
    )

    ds = load_dataset(sample_path("bank_marketing_3k.csv"), target="Class", seed=0, protocol="paper")
    rules = [parse_rule(text, id=f"r{i}", status="approved") for i, text in enumerate(RULES, start=1)]
    parent, child = mp.get_context("fork").Pipe()
    server = mp.get_context("fork").Process(target=_serve, args=(args.latency, child), daemon=True)
    server.start()
    port = parent.recv()
    base_url = f"http://127.0.0.1:{port}/v1"
    load_before = os.getloadavg()
    started = time.perf_counter()
    records = []
    try:
        for name in args.generators:  # untimed: the lazy imports (the openai SDK, ...) are paid here
            run_one(name, base_url, args.concurrency[0], ds, rules, n=20)
        for name in args.generators:
            first = None
            for c in args.concurrency:
                row, frame = run_one(name, base_url, c, ds, rules)
                if first is None:
                    first = (row, frame)
                    row["same rows as first"] = "-"
                else:
                    try:
                        pd.testing.assert_frame_equal(first[1], frame)
                        row["same rows as first"] = "yes"
                    except AssertionError:
                        row["same rows as first"] = "NO"
                row["speed-up"] = row["rows/s"] / first[0]["rows/s"]
                records.append(row)
                print(
                    f"{name:12s} concurrency {c:3d}: {row['seconds']:7.2f} s, {row['LLM calls']} calls, "
                    f"max {row['max in flight']} in flight, {row['rows/s']:.2f} rows/s, "
                    f"x{row['speed-up']:.2f}, same rows: {row['same rows as first']}",
                    flush=True,
                )
    finally:
        parent.send("stop")
        server.join(timeout=10)
    total = time.perf_counter() - started
    load_after = os.getloadavg()
    write(Path(args.out), records, args, command, total, load_before, load_after)
    print(f"wrote {args.out} ({total:.0f} s)")
    return 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def write(path: Path, records: list, args, command: str, total: float, load_before, load_after) -> None:
    table = pd.DataFrame(records)
    cols = [
        "generator",
        "concurrency",
        "rows asked",
        "LLM calls",
        "max in flight",
        "seconds",
        "CPU seconds",
        "rows",
        "accepted",
        "rows/s",
        "accepted rows/s",
        "speed-up",
        "same rows as first",
    ]
    lines = [
        "# LLM generators against a fixed-latency endpoint: rows per second by concurrency",
        "",
        f"- command: `{command}` (from the repository root, with `.venv/bin/python`)",
        f"- date: {dt.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other work (load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after), Python {platform.python_version()}",
        f"- endpoint: `tests/fault_servers.latency` in a child process, {args.latency:g} s per request, "
        "any number at once; answers a random value valid under the request's JSON schema (rows inside the "
        "rule, skeleton, DAG), drawn from the request (the same request gets the same answer); rule requests "
        "get two of a fixed list of rule texts",
        "- data: `bank_marketing_3k.csv` (bundled; target `Class`, `load_dataset` seed 0, protocol `paper`); "
        f"approved rules: {'; '.join(f'`{r}`' for r in RULES)} (four DATE groups)",
        "- generators (random_state 0, reply cache off, LLM seed 0): "
        + "; ".join(
            f"`{name}` {json.dumps(p)} asked for {n} rows"
            for name, (p, n) in GENERATORS.items()
            if name in args.generators
        ),
        "- seconds: wall time of `generate` (`fit` not included; one small untimed run of each generator "
        "first pays the lazy imports); rows: every row returned (accepted and "
        "rejected, with provenance: DATE's group and gain checks reject most of these random rows, SampleLLM "
        "returns its pool of 1.5 x n); speed-up: rows/s over rows/s at the first concurrency; same rows: the "
        "rows (less row and call ids) equal those at the first concurrency",
        f"- whole run: {total:.0f} s",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" if c in ("generator", "same rows as first") else "---:" for c in cols) + "|",
    ]
    for rec in records:
        lines.append("| " + " | ".join(_fmt(rec[c]) for c in cols) + " |")
    lines += ["", "Rows per second by concurrency:", ""]
    concs = list(args.concurrency)
    lines.append(
        "| generator | " + " | ".join(f"rows/s at {c}" for c in concs) + f" | {concs[-1]} vs {concs[0]} |"
    )
    lines.append("|---|" + "---:|" * (len(concs) + 1))
    for name in args.generators:
        sub = table[table["generator"] == name].set_index("concurrency")
        ratio = sub.loc[concs[-1], "rows/s"] / sub.loc[concs[0], "rows/s"]
        lines.append(
            f"| {name} | " + " | ".join(f"{sub.loc[c, 'rows/s']:.2f}" for c in concs) + f" | {ratio:.1f}x |"
        )
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old[old.index("## Reading the numbers") :] if "## Reading the numbers" in old else ""
    path.write_text("\n".join(lines) + ("\n" + notes if notes else ""), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
