"""Benchmark the evaluation report and the t-SNE map.

Data: ``../shared/datasets/adult.csv.gz`` (target ``income``), 10,000 real rows
drawn with seed 0; 1,000 "synthetic" rows made from 1,000 other real rows with
numbers jittered (5% of each column's sd), 10% of categorical cells resampled
from the column's real shares, one planted rule-breaking row, and ``_rule_id``
from three rules.

Timed (wall clock, ``time.perf_counter``):

* ``Report(include_utility=False).generate`` with the three rules: a cold call
  and the median of ``--repeat`` warm calls, with the per-metric seconds of the
  last call. Target <= 10 s.
* ``embed_tsne`` on the 11,000 rows capped at 5,000 points (2,500 synthetic
  budget, so all 1,000 synthetic + 4,000 real): cold, then ``tsne_figure`` on
  the same data served from the embedding cache. Targets: t-SNE <= 20 s,
  cached figure <= 1 s.
* ``--compare``: scikit-learn's ``TSNE`` at the product's settings (500
  iterations, angle 0.8) and at its defaults (1,000 iterations, angle 0.5),
  each with 1 OpenMP thread and with the library default, and openTSNE (FFT;
  750 and 350 iterations) when it is importable, on the same PCA-50 matrix,
  with trustworthiness (k = 10, 1,500-point subsample) as a quality check.

Usage::

    .venv/bin/python benchmarks/report.py [--repeat 3] [--compare] [--json out.json]
    # openTSNE is not a dependency; to include it, run with a scratch venv that has it
    # and this repository on PYTHONPATH:
    PYTHONPATH=. /tmp/tsne_venv/bin/python benchmarks/report.py --compare
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import infer_schema
from synth_core.encoding import RowEncoder
from synth_core.evaluation import Report, clear_embedding_cache, embed_tsne
from synth_core.rules import parse_rule

SHARED = Path(os.environ.get("SYNTH_SHARED_DATA", ROOT.parent / "shared" / "datasets"))


def make_tables(seed: int = 0):
    path = SHARED / "adult.csv.gz"
    if not path.exists():
        sys.exit(f"{path} not found: set SYNTH_SHARED_DATA to the shared datasets folder.")
    frame = pd.read_csv(path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    real = frame.iloc[order[:10_000]].reset_index(drop=True)
    syn = frame.iloc[order[10_000:11_000]].reset_index(drop=True)
    schema = infer_schema(real, target="income")
    for col in schema.names:
        spec = schema[col]
        if spec.is_numeric:
            sd = float(real[col].std())
            syn[col] = (syn[col] + rng.normal(0, 0.05 * sd, len(syn))).round(0)
        elif spec.is_categorical and col != "income":
            shares = real[col].value_counts(normalize=True)
            swap = rng.random(len(syn)) < 0.10
            syn.loc[swap, col] = rng.choice(shares.index.to_numpy(), swap.sum(), p=shares.to_numpy())
    rules = [
        parse_rule("age >= 45", id="r_old", status="approved"),
        parse_rule("age < 45 AND hours_per_week >= 40", id="r_busy", status="approved"),
        parse_rule("age < 45 AND hours_per_week < 40", id="r_part", status="approved"),
    ]
    syn["_rule_id"] = np.select([rules[0].mask(syn), rules[1].mask(syn)], ["r_old", "r_busy"], "r_part")
    syn.loc[0, "age"] = 20.0
    syn.loc[0, "_rule_id"] = "r_old"  # the planted violation
    syn["_row_id"] = [f"s{i}" for i in range(len(syn))]
    return real, syn, schema, rules


def time_report(real, syn, schema, rules, repeat: int) -> dict:
    t0 = time.perf_counter()
    Report(include_utility=False).generate(real, syn, schema=schema, rules=rules)
    cold = time.perf_counter() - t0
    warm, last = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        last = Report(include_utility=False).generate(real, syn, schema=schema, rules=rules)
        warm.append(time.perf_counter() - t0)
    return {
        "cold_s": cold,
        "warm_median_s": statistics.median(warm),
        "warm_s": warm,
        "per_metric_s": {k: round(e["seconds"], 3) for k, e in last.results_.items()},
        "scores": {k: e["score"] for k, e in last.results_.items()},
        "errors": {k: e["error"] for k, e in last.results_.items() if e["error"]},
    }


def time_tsne(real, syn, schema) -> dict:
    from synth_core.viz import tsne_figure

    clear_embedding_cache()
    t0 = time.perf_counter()
    emb = embed_tsne(real, syn, schema=schema)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fig = tsne_figure(real, syn, schema=schema, color_by="rule")
    cached_fig = time.perf_counter() - t0
    return {
        "points": emb.n_shown,
        "subtitle": emb.subtitle,
        "tsne_cold_s": cold,
        "figure_cached_s": cached_fig,
        "traces": len(fig.data),
    }


def compare_tsne(real, syn, schema) -> list[dict]:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE, trustworthiness
    from threadpoolctl import threadpool_limits

    from synth_core.evaluation.embedding import _ITER_PARAM, _sample_positions

    rng = np.random.default_rng(0)
    rp, sp = _sample_positions(len(real), len(syn), 5000, rng)
    r, s = real.iloc[rp], syn.iloc[sp]
    cols = [c for c in schema.names]
    enc = RowEncoder(schema, cols).fit(r)
    X = np.vstack([enc.transform(r), enc.transform(s)])
    Z = PCA(n_components=50, random_state=0).fit_transform(X)
    sub = np.random.default_rng(1).choice(len(Z), 1500, replace=False)

    def quality(Y):
        return round(float(trustworthiness(Z[sub], np.asarray(Y)[sub], n_neighbors=10)), 3)

    rows = []
    for label, iters, angle in (
        ("sklearn (product: 500 it, angle 0.8)", 500, 0.8),
        ("sklearn (defaults: 1000 it, angle 0.5)", 1000, 0.5),
    ):
        for threads in (1, None):
            t0 = time.perf_counter()
            with threadpool_limits(limits=threads, user_api="openmp"):
                Y = TSNE(
                    init="pca",
                    learning_rate="auto",
                    perplexity=30,
                    angle=angle,
                    random_state=0,
                    **{_ITER_PARAM: iters},
                ).fit_transform(Z)
            rows.append(
                {
                    "method": label,
                    "threads": threads or "default",
                    "seconds": round(time.perf_counter() - t0, 2),
                    "trustworthiness": quality(Y),
                }
            )
            print(rows[-1], flush=True)
    try:
        import openTSNE
    except ImportError:
        rows.append(
            {
                "method": "openTSNE",
                "threads": "-",
                "seconds": None,
                "trustworthiness": None,
                "note": "not installed",
            }
        )
        return rows
    for label, ee, n in (
        ("openTSNE FFT (defaults: 250 + 500 it)", 250, 500),
        ("openTSNE FFT (125 + 225 it)", 125, 225),
    ):
        for threads in (1, 2):
            t0 = time.perf_counter()
            Y = openTSNE.TSNE(
                perplexity=30,
                initialization="pca",
                random_state=0,
                n_jobs=threads,
                early_exaggeration_iter=ee,
                n_iter=n,
            ).fit(Z)
            rows.append(
                {
                    "method": label,
                    "threads": threads,
                    "seconds": round(time.perf_counter() - t0, 2),
                    "trustworthiness": quality(Y),
                }
            )
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", action="store_true", help="also compare t-SNE implementations")
    ap.add_argument("--skip-main", action="store_true", help="only run --compare")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    real, syn, schema, rules = make_tables()
    out = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_start": os.getloadavg(),
        }
    }
    if not args.skip_main:
        out["report"] = time_report(real, syn, schema, rules, args.repeat)
        print(json.dumps(out["report"], indent=1, default=str), flush=True)
        out["tsne"] = time_tsne(real, syn, schema)
        print(json.dumps(out["tsne"], indent=1), flush=True)
    if args.compare:
        out["compare"] = compare_tsne(real, syn, schema)
    out["machine"]["load_avg_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
