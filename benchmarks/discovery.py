"""Benchmark DGR discovery (DATE Alg. 1) with and without model sharing.

Data sets:

* ``electricity`` from ``../shared/datasets/electricity.csv.gz`` (target ``class``,
  38,474 rows, 7 numeric features); skipped with a message when absent.
* a generated mixed table (default 50,000 rows x 50 columns: 34 numeric,
  2 integer, 10 categorical, 4 boolean, missing cells in 6 columns) whose label
  follows three regimes (``x0 > 0.5`` and a category set) with 5% label noise.

Each is split 60/20/20 by ``make_dataset`` (seed 0) and discovery runs on the
train rows only. For every data set, ``rho`` and sharing setting the script
records the wall time of ``fit``, rules after fusion, regions before fusion,
models trained, times sharing avoided training, coverage and the mean error of
the rules (unweighted and weighted by support), and writes a markdown table.

Usage::

    .venv/bin/python benchmarks/discovery.py [--rows 50000] [--cols 50] [--repeat 1]
        [--out benchmarks/results/discovery.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from synth_core.data import load_table, make_dataset  # noqa: E402
from synth_core.discovery import DGRDiscoverer  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
TARGETS = {"electricity": 5.0, "mixed": 10.0}  # seconds, per fit, on the project's 2-core machine


def mixed_table(n_rows: int = 50_000, n_cols: int = 50, seed: int = 0) -> pd.DataFrame:
    """A mixed-type table with three label regimes and missing cells.

    Parameters
    ----------
    n_rows : int
    n_cols : int
        Feature columns (at least 12); the target ``y`` is added.
    seed : int

    Returns
    -------
    pandas.DataFrame
    """
    if n_cols < 12:
        raise ValueError("n_cols must be at least 12")
    rng = np.random.default_rng(seed)
    n_cat, n_bool, n_int = 10, 4, 2
    n_num = n_cols - n_cat - n_bool - n_int
    cols: dict[str, np.ndarray] = {}
    for i in range(n_num):
        cols[f"x{i}"] = rng.random(n_rows) if i % 3 else rng.normal(0, 1, n_rows)
    cols["x0"] = rng.random(n_rows)
    for i in range(n_int):
        cols[f"n{i}"] = rng.integers(0, 20, n_rows)
    for i in range(n_cat):
        k = 3 + i
        levels = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)
        cols[f"cat{i}"] = levels[rng.integers(0, k, n_rows)]
    for i in range(n_bool):
        cols[f"b{i}"] = rng.random(n_rows) < 0.3 + 0.1 * i
    df = pd.DataFrame(cols)
    x0, x1, x2, x4 = (df[c].to_numpy() for c in ("x0", "x1", "x2", "x4"))
    cat_ab = df["cat0"].isin(["c0_0", "c0_1"]).to_numpy()
    y = np.where(x0 <= 0.5, x1 > 0.7, np.where(cat_ab, (x2 > 0.2) & df["b0"].to_numpy(), x4 > 0.4))
    flip = rng.random(n_rows) < 0.05
    df["y"] = np.where(flip, ~y, y).astype(int)
    for c in ("x5", "x7", "x8", "cat3", "cat4", "n1"):  # missing cells, 3-10%
        df[c] = df[c].astype(object if c.startswith("cat") else float)
        df.loc[rng.random(n_rows) < rng.uniform(0.03, 0.10), c] = None
    return df


def run_one(name: str, dataset, rho, sharing: bool, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        disc = DGRDiscoverer(rho=rho, model_sharing=sharing, random_state=0)
        start = time.perf_counter()
        disc.fit(dataset)
        times.append(time.perf_counter() - start)
    summary = disc.summary()
    weights = summary["support"].to_numpy(dtype=float)
    return {
        "data": name,
        "rows (train)": f"{len(dataset.frame):,} ({disc.n_train_:,})",
        "cols": len(dataset.features),
        "rho": f"{disc.rho_:g}",
        "sharing": "on" if sharing else "off",
        "fit s": min(times),
        "rules": len(disc.rules_),
        "rules fitting rho": int(summary["fits"].sum()),
        "regions": len(disc.regions_),
        "models trained": disc.n_models_trained_,
        "shared (training avoided)": disc.n_models_shared_,
        "coverage": disc.coverage_,
        "mean rule error": float(summary["error"].mean()),
        "support-weighted error": float(np.average(summary["error"], weights=weights))
        if len(weights)
        else 0.0,
    }


def to_markdown(rows: list[dict]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c == "fit s":
                cells.append(f"{v:.2f}")
            elif c == "coverage":
                cells.append(f"{v:.1%}")
            elif isinstance(v, float):
                cells.append(f"{v:.4f}")
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the generated mixed table")
    parser.add_argument("--cols", type=int, default=50, help="feature columns of the generated mixed table")
    parser.add_argument("--repeat", type=int, default=1, help="fits per setting; the fastest is reported")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "discovery.md"))
    args = parser.parse_args(argv)

    sets = []
    path = SHARED / "electricity.csv.gz"
    if path.exists():
        elec = make_dataset(load_table(path), target="class", seed=0, name="electricity")
        sets.append(("electricity", elec, [None, 0.15]))
    else:
        print(f"skipping electricity: {path} is absent (see ../shared/datasets/README.md)")
    t0 = time.perf_counter()
    mixed = mixed_table(args.rows, args.cols)
    print(f"generated mixed table {mixed.shape} in {time.perf_counter() - t0:.1f} s")
    label = f"mixed {args.rows // 1000}k x {args.cols}"
    sets.append((label, make_dataset(mixed, target="y", seed=0), [None, 0.1]))

    rows, failures = [], []
    for name, dataset, rhos in sets:
        for rho in rhos:
            for sharing in (True, False):
                row = run_one(name, dataset, rho, sharing, args.repeat)
                rows.append(row)
                print(
                    " | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
                )
            on, off = rows[-2], rows[-1]
            if on["models trained"] > off["models trained"]:
                failures.append(
                    f"{name} rho={on['rho']}: sharing trained more models "
                    f"({on['models trained']}) than no sharing ({off['models trained']})"
                )
        target = TARGETS["electricity" if name == "electricity" else "mixed"]
        slow = [r for r in rows if r["data"] == name and r["fit s"] > target]
        failures.extend(
            f"{name} rho={r['rho']} sharing {r['sharing']}: {r['fit s']:.2f} s > {target:g} s" for r in slow
        )

    command = "cd /work/main && .venv/bin/python benchmarks/discovery.py " + " ".join(
        map(shlex.quote, argv or sys.argv[1:])
    )
    import sklearn

    lines = [
        "# DGR discovery benchmark",
        "",
        f"- command: `{command.strip()}`",
        f"- date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU(s) visible, "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"scikit-learn {sklearn.__version__}",
        "- settings: `DGRDiscoverer(rho=..., model_sharing=..., random_state=0)`, other parameters at their "
        "defaults (max_depth 6, min_support 2% of train rows, max_rules 20, max_models 200, shared model: "
        "decision tree depth 3, min_samples_leaf 5). The rho column is the threshold used; 0.05 is the "
        "classification default (error rate).",
        f"- fit time is the fastest of {args.repeat} fit(s), wall clock, train split only (60% of the rows). "
        f"Targets: electricity <= {TARGETS['electricity']:g} s, mixed 50k x 50 <= {TARGETS['mixed']:g} s.",
        "- rules = after fusion and the max_rules cap; regions = rules before fusion; shared = candidates "
        "accepted with an ancestor's model instead of training one; mean rule error is unweighted over "
        "rules.",
        "",
        to_markdown(rows),
        "",
        "Checks: "
        + (
            "all passed (time targets met, sharing never trained more models)."
            if not failures
            else "; ".join(failures)
        ),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    for f in failures:
        print("CHECK FAILED:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
