"""Cost of the label step: fit the teacher on adult's train split, then label 10,000 rows.

python benchmarks/labels.py        # writes benchmarks/results/labels.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import load_dataset  # noqa: E402
from synth_core.labels import Labeler  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"


def main() -> int:
    path = SHARED / "adult.csv.gz"
    if not path.exists():
        print(f"{path} not found; nothing to measure")
        return 0
    ds = load_dataset(path, target="income")
    rows = ds.train.sample(10_000, random_state=0)[ds.features + [ds.target]].reset_index(drop=True)
    lines = [
        "# Label step cost",
        "",
        f"Command: `python benchmarks/labels.py` ({time.strftime('%Y-%m-%d')}, "
        f"2-core machine, other jobs running). Teacher: HistGradientBoosting on {len(ds.train):,} adult "
        "train rows; 10,000 rows labelled. Target: labelling 10,000 rows under 10 s.",
        "",
        "| mode | fit teacher (s) | label 10,000 rows (s) | total (s) |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("relabel", "filter", "score"):
        t0 = time.perf_counter()
        lab = Labeler(mode=mode).fit(ds)
        t1 = time.perf_counter()
        lab.transform(rows)
        t2 = time.perf_counter()
        lines.append(f"| {mode} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t2 - t0:.2f} |")
        print(lines[-1], flush=True)
    lines.append("\n`filter` also fits 3 bagged teachers for the disagreement check.")
    (ROOT / "benchmarks" / "results" / "labels.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
