"""Augmentation benchmark: every given row counts, judged on the analyst's own model.

Per data set, regime and seed the harness holds out its own test split (20%,
stratified, as in ``../shared/datasets/BASELINES.md``) and gives the product every
other row: all of train + validation in the ``full`` regime, 400 rows in the
``low`` regime (the 300 train + 100 validation rows of the earlier 300-row
regime). The test split reaches nothing but the final scores.

The product runs as ``synth generate FILE --target T --for-model M`` does: rules
discovered on the given rows and all approved, the statistical generator, labels
``auto``, the default budget and the cross-fitted check (K auto: 10 folds on the 400
given rows, 5 at full size) with model M. M is
each of: decision tree, linear (logistic / ridge) and HistGradientBoosting.

Scores (100 x test error rate, or test MSE):

- ``given rows``: M trained on all given rows — the honest baseline;
- ``product``: M trained on the given rows + the rows the product kept;
- ``train split only (old baseline)``: M trained on the paper split's train rows,
  the real-only column of earlier reports, for continuity;
- peers, fitted on the given rows and adding N rows (N = 200 full / 300 low):
  SDV GaussianCopula and SMOTE (when installed, in ``make bench``'s venv).

Noise threshold: the sd, over draws, of the 5-seed mean change from adding N
bootstrap rows of the given rows. Verdict coverage: whether the product's
cross-fitted 95% interval (what Compare shows) holds the hidden-test change.

Each (data set, regime, seed) cell is cached in a JSONL file, so a run resumes.

    python benchmarks/augment.py --regime both            # all sets, seeds 0-4
    python benchmarks/augment.py --report-only            # rebuild augment.md from the cache
    python benchmarks/augment.py --cost                   # the cost of K on a 10k-row table
    python benchmarks/augment.py --refit                  # one fit's noise across synthetic draws
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # HistGradientBoosting's threads spin badly on 2 busy cores

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_core.data import make_dataset  # noqa: E402
from synth_core.models import row_losses  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
MODELS = ("tree", "linear", "boosting")
MODEL_TITLES = {
    "tree": "Decision tree",
    "linear": "Linear model (logistic / ridge)",
    "boosting": "HistGradientBoosting",
}
warnings.filterwarnings("ignore")


def load_frames(names):
    manifest = json.loads((SHARED / "manifest.json").read_text())
    for item in manifest:
        stem = item["file"].removesuffix(".csv.gz")
        if names and stem not in names:
            continue
        yield stem, pd.read_csv(SHARED / item["file"]), item["target"], item["task"]


def harness_split(frame, target, task, seed, regime):
    """(given positions, train-only positions, test positions) in ``frame``: the paper split, then for
    ``low`` 300 train + 100 validation rows (stratified, random_state=seed)."""
    paper = make_dataset(frame, target=target, task=task, seed=seed, protocol="paper")
    train, val = paper.train_idx, paper.val_idx
    if regime == "low":
        strat = paper.train[target] if task == "classification" else None
        train, _ = train_test_split(train, train_size=300, random_state=seed, stratify=strat)
        vstrat = paper.val[target] if task == "classification" else None
        val, _ = train_test_split(val, train_size=100, random_state=seed, stratify=vstrat)
    return np.concatenate([train, val]), np.asarray(train), paper.test_idx, paper


def test_losses(paper, frame, model, seed):
    """Per-row test losses (0/1 error or squared error) of ``model`` fitted on ``frame``."""
    return row_losses(
        paper.schema,
        paper.features,
        paper.task,
        frame,
        paper.test,
        paper.target,
        model=model,
        random_state=seed,
        like=paper.train,
    )


def approved_rules(ds, seed):
    """The rules discovered on the given rows, all approved (as ``synth generate`` runs without a person)."""
    from synth_core.discovery import DGRDiscoverer

    return [r.with_(status="approved") for r in DGRDiscoverer(random_state=seed).fit(ds).rules_]


def paired_se(with_rows, base_rows) -> float:
    """Standard error of a test change from its per-row paired differences, relative to the base error."""
    return float(
        np.std(with_rows - base_rows, ddof=1) / np.sqrt(len(base_rows)) / max(np.mean(base_rows), 1e-12)
    )


def score(paper, frame, model, seed):
    """100 x test error (classification) or test MSE of ``model`` fitted on ``frame``."""
    return float(np.mean(test_losses(paper, frame, model, seed))) * (
        100.0 if paper.task == "classification" else 1.0
    )


def peers(given, features, target, schema, task, n, seed):
    out = {}
    cols = features + [target]
    train = given[cols].reset_index(drop=True)
    try:
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        meta = Metadata.detect_from_dataframes({"table": train})
        gc = GaussianCopulaSynthesizer(meta)
        gc.fit({"table": train})
        sample = gc.sample(n)
        out["+GaussianCopula"] = sample["table"] if isinstance(sample, dict) else sample
    except ImportError:
        pass
    if task == "classification":
        try:
            from imblearn.over_sampling import SMOTE, SMOTENC

            out["+SMOTE"] = smote(train, features, target, schema, n, seed, SMOTE, SMOTENC)
        except ImportError:
            pass
    return out


def smote(train, features, target, schema, n, seed, SMOTE, SMOTENC):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OrdinalEncoder

    num = [c for c in features if schema[c].is_numeric]
    cat = [c for c in features if c not in num]
    parts = []
    if num:
        parts.append(SimpleImputer(strategy="median").fit_transform(train[num]))
    enc = None
    if cat:
        enc = OrdinalEncoder().fit(train[cat].astype(str))
        parts.append(enc.transform(train[cat].astype(str)))
    X = np.column_stack(parts)
    y = train[target].astype(str).to_numpy()
    counts = pd.Series(y).value_counts()
    target_counts = {k: int(v + round(n * v / len(y))) for k, v in counts.items()}
    k = max(1, min(5, counts.min() - 1))
    sampler = (
        SMOTENC(
            categorical_features=list(range(len(num), len(num) + len(cat))),
            k_neighbors=k,
            sampling_strategy=target_counts,
            random_state=seed,
        )
        if cat
        else SMOTE(k_neighbors=k, sampling_strategy=target_counts, random_state=seed)
    )
    Xr, yr = sampler.fit_resample(X, y)
    Xn, yn = Xr[len(X) :], yr[len(X) :]
    out = pd.DataFrame(Xn[:, : len(num)], columns=num)
    if cat:
        out[cat] = enc.inverse_transform(Xn[:, len(num) :])
    labels = pd.Series(yn)
    if pd.api.types.is_numeric_dtype(train[target]):
        labels = pd.to_numeric(labels)
    out[target] = labels.to_numpy()
    return out


def run_cell(
    frame, target, task, seed, regime, models, with_peers, boot_draws, pipeline_args, with_fractions=False
):
    from synth_core.pipeline import run_pipeline

    given_idx, train_idx, _, paper = harness_split(frame, target, task, seed, regime)
    cols = paper.features + [paper.target]
    given = frame.iloc[given_idx][cols].reset_index(drop=True)
    # the product sees the given rows only: its schema, rules, folds and teacher come from them
    ds = make_dataset(
        frame.iloc[given_idx].reset_index(drop=True), target=target, task=task, seed=seed, name="given"
    )
    t = time.perf_counter()
    rules = approved_rules(ds, seed)
    discover_secs = time.perf_counter() - t
    n = 300 if regime == "low" else 200
    peer_rows = peers(given, paper.features, target, paper.schema, task, n, seed) if with_peers else {}
    rng = np.random.default_rng(seed)
    boot_sets = [given.iloc[rng.integers(len(given), size=n)] for _ in range(boot_draws)]
    out = {"n_given": int(len(given)), "n_rules": len(rules), "discover_secs": discover_secs, "models": {}}
    for model in models:
        rec = {
            "given": score(paper, given, model, seed),
            "train_only": score(paper, frame.iloc[train_idx][cols], model, seed),
        }
        draws = boot_draws if model == "tree" else min(boot_draws, 5)
        rec["boot"] = [
            score(paper, pd.concat([given, b], ignore_index=True), model, seed) for b in boot_sets[:draws]
        ]
        rec["peers"] = {
            name: score(paper, pd.concat([given, rows[cols]], ignore_index=True), model, seed)
            for name, rows in peer_rows.items()
        }
        t = time.perf_counter()
        run = run_pipeline(ds, rules, method="statistical", model=model, random_state=seed, **pipeline_args)
        rec["secs"] = time.perf_counter() - t
        kept = run.synthetic_frame()
        rec["kept"] = int(len(kept))
        base_rows = test_losses(paper, given, model, seed)
        with_rows = (
            test_losses(paper, pd.concat([given, kept[cols]], ignore_index=True), model, seed)
            if len(kept)
            else base_rows
        )
        unit = 100.0 if task == "classification" else 1.0
        rec["product"] = float(np.mean(with_rows)) * unit
        # the hidden change's own noise: the paired per-row difference on the test rows, relative
        rec["hidden_se"] = paired_se(with_rows, base_rows)
        check = run.metrics["check"]
        v = check["verdicts"][model]
        if with_fractions:  # the hidden-test change at every share the check weighed (for studying its rule)
            pool = run.rows[run.rows["_status"] == "accepted"].sample(frac=1.0, random_state=seed)
            rec["hidden_by_fraction"] = {
                str(f): score(
                    paper,
                    pd.concat([given, pool.head(int(round(f * len(pool))))[cols]], ignore_index=True),
                    model,
                    seed,
                )
                for f in (0.125, 0.25, 0.5, 1.0)
            }
        rec.update(
            mode=check["mode"],
            fraction=check["fraction"],
            candidates=check.get("candidate_rows"),
            verdict={k: v[k] for k in ("base", "augmented", "change", "low", "high", "readings")},
            table=v["table"],
            repeats=check["repeats"],
        )
        out["models"][model] = rec
        print(
            f"    {model}: given {rec['given']:.4g} product {rec['product']:.4g} "
            f"({(rec['product'] / rec['given'] - 1) * 100:+.1f}%), kept {rec['kept']:,} "
            f"({check['mode']}, {check['fraction']:g}), verdict {v['change'] * 100:+.1f}% "
            f"[{v['low'] * 100:+.1f}, {v['high'] * 100:+.1f}], {rec['secs']:.0f}s",
            flush=True,
        )
    return out


# --------------------------------------------------------------------------- report


def rel(a, b):
    return (a - b) / b * 100 if b else 0.0


def noise(group, model):
    """Relative sd over bootstrap draws of the group's mean change from adding N bootstrap rows."""
    base = np.mean([c["models"][model]["given"] for c in group])
    draws = min(len(c["models"][model]["boot"]) for c in group)
    means = [np.mean([c["models"][model]["boot"][d] for c in group]) - base for d in range(draws)]
    return float(np.std(means)) / base * 100 if len(means) > 1 else float("nan")


def fmt(v, task):
    return f"{v:.2f}" if task == "classification" else f"{v:.4g}"


def per_set_tables(cells, model, lines):
    """One table per data set and regime; returns {(regime, method): [(set, rel, verdict)]}."""
    groups = {}
    for c in cells:
        if model in c["models"]:
            groups.setdefault((c["regime"], c["dataset"]), []).append(c)
    headline = {}
    for (regime, name), group in sorted(groups.items()):
        group = sorted(group, key=lambda c: c["seed"])
        task = group[0]["task"]
        thr = noise(group, model)
        base = np.array([c["models"][model]["given"] for c in group])
        rows = {
            "given rows (baseline)": base,
            "product (statistical, auto labels, cross-fitted check)": np.array(
                [c["models"][model]["product"] for c in group]
            ),
            "train split only (old baseline)": np.array([c["models"][model]["train_only"] for c in group]),
            "+N bootstrap of the given rows": np.array([c["models"][model]["boot"][0] for c in group]),
        }
        for peer in group[0]["models"][model]["peers"]:
            rows[f"{peer} N"] = np.array([c["models"][model]["peers"][peer] for c in group])
        lines += [
            f"\n#### {name} ({task}, {regime}, {group[0]['n_given']:,} given rows, {len(group)} seeds) — "
            f"noise ±{thr:.1f}%\n",
            "| method | mean ± std | vs given rows | beyond noise | per-seed Δ | rows added |",
            "|---|---|---|---|---|---|",
        ]
        for method, vals in rows.items():
            r = rel(vals.mean(), base.mean())
            verdict = (
                "—"
                if method.startswith("given")
                else ("better" if r < -thr else ("worse" if r > thr else "within noise"))
            )
            deltas = " ".join(f"{d:+.2f}" if task == "classification" else f"{d:+.3g}" for d in vals - base)
            added = (
                str(int(np.mean([c["models"][model]["kept"] for c in group])))
                if method.startswith("product")
                else ("N" if method.startswith("+") else ("0" if method.startswith("given") else "-"))
            )
            lines.append(
                f"| {method} | {fmt(vals.mean(), task)} ± {fmt(vals.std(), task)} | {r:+.1f}% | {verdict} | "
                f"{deltas} | {added} |"
            )
            headline.setdefault((regime, method), []).append((name, r, verdict))
    return headline


def paired_worse(group, model) -> tuple[float, float]:
    """(mean relative change %, its standard error %) from the hidden test split's own paired noise.

    Each seed's change is paired per test row (``hidden_se``); the seeds are independent, so the 5-seed
    mean's standard error is the root of the summed variances over the number of seeds.
    """
    changes = [rel(c["models"][model]["product"], c["models"][model]["given"]) for c in group]
    ses = [c["models"][model].get("hidden_se", 0.0) * 100 for c in group]
    return float(np.mean(changes)), float(np.sqrt(np.sum(np.square(ses))) / len(group))


def expected_coverage(cells, model) -> float:
    """Cells an exactly calibrated 95% interval would hold, in expectation, when checked against a hidden
    change that carries its own test-split noise: ``P(|Z| <= 1.96 se_v / sqrt(se_v^2 + se_h^2))`` per cell
    (1 for a cell keeping no row: both sides are exactly zero). A strict coverage near this figure means the
    interval is as wide as it should be; the shortfall from 95% is the hidden split's noise, not the verdict's.
    """
    from scipy.stats import norm

    total = 0.0
    for c in cells:
        rec = c["models"].get(model)
        if rec is None:
            continue
        if rec["kept"] == 0:
            total += 1.0
            continue
        v = rec["verdict"]
        se_v = (v["high"] - v["low"]) / (2 * 1.96)
        se_h = rec.get("hidden_se", 0.0)
        scale = np.hypot(se_v, se_h)
        total += 1.0 if scale == 0 else float(2 * norm.cdf(1.96 * se_v / scale) - 1)
    return total


def coverage(cells, model):
    """Verdict vs hidden-test change: (cells, interval holds the hidden change, ... allowing for the hidden
    change's own test noise, cells whose hidden change is beyond its noise, of which the verdict's sign agrees,
    cells keeping no row)."""
    n = covered = consistent = signed = agree = none = 0
    for c in cells:
        rec = c["models"].get(model)
        if rec is None:
            continue
        n += 1
        hidden = rel(rec["product"], rec["given"]) / 100
        v = rec["verdict"]
        covered += v["low"] - 1e-12 <= hidden <= v["high"] + 1e-12
        none += rec["kept"] == 0
        se_hidden = rec.get("hidden_se", 0.0)
        se_verdict = (v["high"] - v["low"]) / (2 * 1.96)
        consistent += abs(hidden - v["change"]) <= 1.96 * np.hypot(se_hidden, se_verdict) + 1e-12
        if se_hidden > 0 and abs(hidden) > 1.96 * se_hidden:  # beyond the test split's own noise
            signed += 1
            agree += np.sign(hidden) == np.sign(v["change"])
    return n, covered, consistent, signed, agree, none


def report(cells, out_path, *, command):
    lines = [
        "# Augmentation benchmark: every given row counts",
        "",
        f"Command: `{command}`; cells cached in `benchmarks/results/augment_cells.jsonl` "
        "(`--report-only` rebuilds this file). Shared 2-core machine, tables rebuilt "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Protocol (`benchmarks/augment.py` docstring): per data set, regime and seed the harness keeps its "
        "own 20% test split and gives the product every other row (full: train + validation; low: 400 "
        "rows). The product runs as `synth generate --for-model M`: rules discovered on the given rows and "
        "all approved, statistical generator, labels auto, default budget, cross-fitted check (K auto: 10 "
        "folds on 400 rows, 5 at full size). "
        "Scores: 100 x test error or test MSE of M; **the baseline is M trained on all given rows**. "
        "`train split only (old baseline)` is the real-only column of earlier reports, for continuity. "
        "Peers add N rows (200 full / 300 low) fitted on the given rows. Noise: sd over draws of the "
        "5-seed mean change from adding N bootstrap rows of the given rows.",
        "",
    ]
    models = [m for m in MODELS if any(m in c["models"] for c in cells)]
    summary, extra = [], []
    for model in models:
        extra.append(f"\n## {MODEL_TITLES[model]}\n")
        headline = per_set_tables(cells, model, extra)
        for (regime, method), items in sorted(headline.items()):
            if not method.startswith("product"):
                continue
            sub = [c for c in cells if c["regime"] == regime and model in c["models"]]
            n, cov, consistent, signed, agree, none = coverage(sub, model)
            r = np.mean([x[1] for x in items])
            better = sum(v == "better" for _, _, v in items)
            worse = [s for s, _, v in items if v == "worse"]
            groups = {}
            for c in sub:
                groups.setdefault(c["dataset"], []).append(c)
            paired = {name: paired_worse(g, model) for name, g in groups.items()}
            worse95 = [name for name, (r_, se) in sorted(paired.items()) if se > 0 and r_ > 1.96 * se]
            expected = expected_coverage(sub, model)
            secs = np.mean([c["models"][model]["secs"] for c in sub])
            summary.append(
                f"| {MODEL_TITLES[model]} | {regime} | {r:+.1f}% | {np.median([x[1] for x in items]):+.1f}% "
                f"| {better}/{len(items)} | {len(worse)}{' (' + ', '.join(worse) + ')' if worse else ''} "
                f"| {len(worse95)}{' (' + ', '.join(worse95) + ')' if worse95 else ''} "
                f"| {none}/{n} | {cov}/{n} ({cov / max(n, 1):.0%}) | {expected:.1f}/{n} ({expected / max(n, 1):.0%}) "
                f"| {consistent}/{n} "
                f"({consistent / max(n, 1):.0%}) | {agree}/{signed} | {secs:.0f} |"
            )
    lines += [
        "## Headline: the product vs all given rows",
        "",
        "| model | regime | mean change | median | sets better beyond noise | sets worse beyond noise | "
        "sets worse at 95% (test split's paired noise) | cells keeping no row | verdict interval holds the "
        "hidden change | ... expected of an exact interval | ... allowing for the test split's own noise | "
        "verdict sign agrees (hidden change beyond its noise) | product s / cell |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ] + summary
    lines += [
        "",
        "Reading the columns. *Beyond noise* uses the noise line above (one sd of the bootstrap-rows "
        "draws), a loose bar; *at 95% (test split's paired noise)* asks whether the set's 5-seed mean change "
        "exceeds 1.96 standard errors of the hidden test split's own paired noise (per seed, the per-row "
        "difference with and without the kept rows; `paired_worse`). *Verdict interval holds the hidden "
        "change* is strict: the hidden change is itself measured on a finite test split, so even an exact "
        "95% interval for the true change holds it less often; *expected of an exact interval* is that "
        "rate for these cells (`expected_coverage`), and *allowing for the test split's own noise* widens "
        "the comparison by the hidden change's standard error. One fit's hidden change also moves with the "
        "draw of synthetic rows (`refit_noise.md`: sd 1.0-2.9% of the tree's error at full size, beside a "
        "test split se of 2.2-6.0%); an interval for the change itself cannot hold that either.",
    ]
    lines += [
        "",
        "## Every set at a glance",
        "",
        "Mean change of the test error vs all given rows over the seeds, and in brackets the seeds whose "
        "check kept no row (the product then returns the given rows unchanged).",
        "",
    ]
    lines += glance(cells, models)
    lines += extra
    Path(out_path).write_text("\n".join(lines) + "\n")


def glance(cells, models) -> list[str]:
    """One line per (set, regime): each model's mean change and how many seeds kept no row."""
    out = [
        "| set | regime | " + " | ".join(f"{MODEL_TITLES[m]}" for m in models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for regime in ("low", "full"):
        for name in sorted({c["dataset"] for c in cells if c["regime"] == regime}):
            sub = [c for c in cells if c["dataset"] == name and c["regime"] == regime]
            row = []
            for m in models:
                got = [c["models"][m] for c in sub if m in c["models"]]
                given = np.mean([g["given"] for g in got])
                change = (np.mean([g["product"] for g in got]) - given) / given * 100
                row.append(f"{change:+.1f}% ({sum(g['kept'] == 0 for g in got)}/{len(got)} keep 0)")
            out.append(f"| {name} | {regime} | " + " | ".join(row) + " |")
    return out


def cost_of_k(out_path):
    """Wall time of the default run for K = 2, 3, 5, 10 on heloc (10,000 rows), decision tree."""
    from synth_core.pipeline import run_pipeline

    frame = pd.read_csv(SHARED / "heloc.csv.gz")
    lines = [
        "# Cost of the cross-fitted check (K folds)",
        "",
        "Command: `python benchmarks/augment.py --cost`; heloc (10,000 rows, 23 columns), decision tree, "
        f"statistical generator, default budget, one repeat; shared 2-core machine, {time.strftime('%Y-%m-%d')}.",
        "",
        "| K | discover s | run s | total s | kept rows | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for k in (2, 3, 5, 10):
        t = time.perf_counter()
        ds = make_dataset(frame, target="RiskPerformance", seed=0)
        rules = approved_rules(ds, 0)
        d = time.perf_counter() - t
        run = run_pipeline(ds, rules, folds=k, random_state=0)
        total = time.perf_counter() - t
        v = run.metrics["check"]["verdicts"]["tree"]
        lines.append(
            f"| {k} | {d:.1f} | {total - d:.1f} | {total:.1f} | {len(run.selected):,} | "
            f"{v['change'] * 100:+.1f}% [{v['low'] * 100:+.1f}, {v['high'] * 100:+.1f}] |"
        )
        print(lines[-1], flush=True)
    Path(out_path).write_text("\n".join(lines) + "\n")


def refit_noise(out_path, draws=6):
    """How much one fit's hidden change varies when only the synthetic draw changes (decision tree, full
    regime, seed 0 of every set): the same given rows, test split and recipe (all candidates, relabelled, as
    the check kept in the tree's full cells), ``draws`` generator seeds. The hidden change the verdict is
    checked against carries this noise besides the test split's; an interval for the change itself cannot
    hold it. The check is skipped (``guard=False``, 2 folds) to keep each draw cheap."""
    from synth_core.pipeline import run_pipeline

    lines = [
        "# Refit noise: one fit's hidden change across synthetic draws",
        "",
        "Command: `python benchmarks/augment.py --refit`; decision tree, full regime, seed 0 of each set: the "
        f"given rows, test split and rules fixed, {draws} generator seeds, every candidate kept with relabelled "
        "labels (what the check kept in the tree's full cells). Relative change of the test error vs the "
        f"given rows; shared 2-core machine, {time.strftime('%Y-%m-%d')}.",
        "",
        "| set | given rows | changes per draw | mean | sd over draws (refit noise) | test split's paired se |",
        "|---|---|---|---|---|---|",
    ]
    for name, frame, target, task in load_frames([]):
        given_idx, _, _, paper = harness_split(frame, target, task, 0, "full")
        cols = paper.features + [target]
        given = frame.iloc[given_idx].reset_index(drop=True)
        ds = make_dataset(given, target=target, task=task, seed=0, name="given")
        rules = approved_rules(ds, 0)
        base = test_losses(paper, given[cols], "tree", 0)
        changes, ses = [], []
        for d in range(draws):
            run = run_pipeline(
                ds,
                rules,
                model="tree",
                labels="relabel",
                guard=False,
                folds=2,
                repeats=1,
                random_state=1000 * d,
            )
            rows = run.synthetic_frame()[cols]
            with_rows = test_losses(paper, pd.concat([given[cols], rows], ignore_index=True), "tree", 0)
            changes.append(float(np.mean(with_rows) / np.mean(base) - 1))
            ses.append(paired_se(with_rows, base))
        lines.append(
            f"| {name} | {len(given):,} | {' '.join(f'{c * 100:+.1f}' for c in changes)} | "
            f"{np.mean(changes) * 100:+.1f}% | {np.std(changes, ddof=1) * 100:.1f}% | {np.mean(ses) * 100:.1f}% |"
        )
        print(lines[-1], flush=True)
    Path(out_path).write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regime", choices=["low", "full", "both"], default="both")
    ap.add_argument("--datasets", nargs="*", default=[])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--boot-draws", type=int, default=10)
    ap.add_argument(
        "--pipeline-args", default="{}", help="JSON of extra run_pipeline arguments (experiments)"
    )
    ap.add_argument("--cache", default=str(ROOT / "benchmarks" / "results" / "augment_cells.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "augment.md"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument(
        "--all-fractions",
        action="store_true",
        help="also score every share the check weighed on the test split (to study its rule)",
    )
    ap.add_argument("--cost", action="store_true", help="only measure the cost of K (writes augment_cost.md)")
    ap.add_argument(
        "--refit", action="store_true", help="only measure the refit noise (writes refit_noise.md)"
    )
    args = ap.parse_args(argv)
    if not (SHARED / "manifest.json").exists():
        print(f"shared data sets not found under {SHARED}; nothing to benchmark")
        return 0
    if args.cost:
        cost_of_k(ROOT / "benchmarks" / "results" / "augment_cost.md")
        return 0
    if args.refit:
        refit_noise(ROOT / "benchmarks" / "results" / "refit_noise.md")
        return 0
    cache = Path(args.cache)
    cells = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    cells = list({(c["dataset"], c["regime"], c["seed"]): c for c in cells}.values())  # the last record wins
    done = {(c["dataset"], c["regime"], c["seed"]) for c in cells}
    regimes = ["low", "full"] if args.regime == "both" else [args.regime]
    pipeline_args = json.loads(args.pipeline_args)
    if not args.report_only:
        for regime in regimes:
            for name, frame, target, task in load_frames(args.datasets):
                for seed in args.seeds:
                    if (name, regime, seed) in done:
                        continue
                    print(f"{name} {regime} seed {seed}", flush=True)
                    t = time.perf_counter()
                    cell = run_cell(
                        frame,
                        target,
                        task,
                        seed,
                        regime,
                        args.models,
                        not args.no_peers,
                        args.boot_draws,
                        pipeline_args,
                        args.all_fractions,
                    )
                    cell.update(
                        dataset=name,
                        regime=regime,
                        seed=seed,
                        task=task,
                        seconds=time.perf_counter() - t,
                        pipeline_args=pipeline_args,
                    )
                    cells.append(cell)
                    with cache.open("a") as fh:
                        fh.write(json.dumps(cell) + "\n")
    report(
        cells,
        args.out,
        command="python benchmarks/augment.py --regime low --all-fractions` and `... --regime "
        "full --all-fractions` (one process per regime, or per `--datasets` to share the cores; their "
        "`--cache` files concatenated), then `... --report-only",
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
