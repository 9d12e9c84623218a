"""Tests for synth_core.discovery: DGR discovery (DATE Alg. 1) and SharedModel."""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from synth_core.data import Dataset, Schema, infer_schema, make_dataset
from synth_core.discovery import (
    DGRDiscoverer,
    Region,
    SharedModel,
    discover_report,
    simplify_conjunction,
    tree_paths,
)
from synth_core.discovery.encoding import nice_between
from synth_core.errors import DataError, InvalidParameterError, NotFittedError
from synth_core.rules import (
    Conjunction,
    Predicate,
    parse_conjunction,
    parse_rule,
    rules_from_json,
    rules_to_json,
)

STUMP = DecisionTreeClassifier(max_depth=1)


# --------------------------------------------------------------------------- data


def regimes_frame(n=2000, seed=0, noise=0.0, missing=0.0) -> pd.DataFrame:
    """Three regimes: x0 <= 0.5 | x0 > 0.5 and cat in {a, b} | x0 > 0.5 and cat == c.

    Each regime's label is a threshold on a different column, and the regimes
    have different positive rates (10%, 90%, 20%), so the regime boundary is
    the lowest-impurity split.
    """
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x0": rng.random(n),
            "x1": rng.random(n),
            "x2": rng.random(n),
            "x3": rng.random(n),
            "cat": rng.choice(["a", "b", "c"], n),
        }
    )
    y = np.where(df.x0 <= 0.5, df.x1 > 0.9, np.where(df.cat.isin(["a", "b"]), df.x2 > 0.1, df.x3 > 0.8))
    if noise:
        y = np.where(rng.random(n) < noise, ~y, y)
    df["y"] = y.astype(int)
    if missing:
        for col in ("x3", "cat"):
            df[col] = df[col].astype(object if col == "cat" else float)
            df.loc[rng.random(n) < missing, col] = None
    return df


def mixed_frame(n=1500, seed=1) -> pd.DataFrame:
    """Numeric, integer, string, int-coded categorical and boolean columns, with missing cells."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "num": rng.normal(0, 1, n),
            "cnt": rng.integers(0, 12, n),
            "color": rng.choice(["red", "green", "blue", "o'range"], n),
            "grade": rng.choice([1, 2, 3, 4], n),
            "flag": rng.random(n) < 0.4,
            "noise": rng.random(n),
        }
    )
    logit = (
        1.5 * df.num
        + np.where(df.color.isin(["red", "o'range"]), 1.0, -1.0)
        + np.where(df.flag, 1.2, 0)
        + 0.2 * (df.grade - 2.5)
        + rng.normal(0, 0.7, n)
    )
    df["y"] = np.where(logit > 0, "yes", "no")
    df["num"] = df["num"].astype(float)
    df.loc[rng.random(n) < 0.08, "num"] = np.nan
    df["color"] = df["color"].astype(object)
    df.loc[rng.random(n) < 0.05, "color"] = None
    return df


def mixed_dataset(n=1500, seed=1) -> Dataset:
    df = mixed_frame(n, seed)
    schema = infer_schema(df, target="y", overrides={"grade": "categorical"})
    return make_dataset(df, target="y", schema=schema, seed=0)


def regression_frame(n=1500, seed=2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x0": rng.random(n), "x1": rng.random(n), "g": rng.choice(["u", "v"], n)})
    df["y"] = np.where(
        df.x0 <= 0.4,
        np.where(df.x1 > 0.5, 5.0, 0.0),
        np.where(df.g == "u", np.where(df.x1 > 0.3, 20.0, 12.0), 8.0),
    ) + rng.normal(0, 0.05, n)
    return df


def grid_frame(n=2400, seed=3) -> pd.DataFrame:
    """Noisy data with structure at several scales, for the rho grid."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.random(n) for i in range(5)})
    df["c"] = rng.choice(list("pqrs"), n)
    score = np.sin(6 * df.x0) + df.x1 * 2 * (df.c.isin(["p", "q"])) - df.x2 + 0.5 * (df.x3 > 0.7)
    df["y"] = (score + rng.normal(0, 0.35, n) > 0.3).astype(int)
    return df


def fit(ds, **kw) -> DGRDiscoverer:
    kw.setdefault("random_state", 0)
    return DGRDiscoverer(**kw).fit(ds)


def check_partition(disc: DGRDiscoverer, ds: Dataset) -> None:
    """Supports equal masks, rules are disjoint, rules + remainder cover the train rows."""
    train = ds.train
    seen = np.zeros(len(train), dtype=int)
    for rule in disc.rules_:
        mask = rule.mask(train)
        assert rule.support == int(mask.sum()), rule.text
        seen += mask
    assert seen.max() <= 1, "rules overlap"
    assert np.array_equal(seen == 0, disc.remainder_mask_)
    assert disc.remainder_ == int((seen == 0).sum())
    assert sum(r.support for r in disc.rules_) + disc.remainder_ == len(train)
    assert sum(r.support for r in disc.regions_) + disc.remainder_ == len(train)


# --------------------------------------------------------------------------- estimator contract


def test_constructor_only_stores_and_clones():
    d = DGRDiscoverer(rho=-1, max_depth="x")  # not validated until fit
    assert d.get_params()["rho"] == -1
    c = clone(DGRDiscoverer(rho=0.2, model=STUMP, random_state=3))
    assert c.get_params()["rho"] == 0.2 and c.get_params()["random_state"] == 3
    assert not [k for k in vars(DGRDiscoverer()) if k.endswith("_")]


@pytest.mark.parametrize(
    "rho, shown",
    [
        (-1, "-1"),
        (0, "0"),
        (0.0, "0.0"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        ("0.1", "'0.1'"),
        (True, "True"),
    ],
)
def test_bad_rho_is_refused_at_fit(rho, shown):
    ds = make_dataset(regimes_frame(200), target="y")
    with pytest.raises(InvalidParameterError) as err:
        DGRDiscoverer(rho=rho).fit(ds)
    assert str(err.value) == (
        f"The 'rho' parameter of DGRDiscoverer must be a float > 0 or None. Got {shown} instead."
    )


@pytest.mark.parametrize(
    "params, name",
    [
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": 2.5}, "max_depth"),
        ({"min_support": 0}, "min_support"),
        ({"min_support": 1.0}, "min_support"),
        ({"min_support": -0.1}, "min_support"),
        ({"max_rules": 0}, "max_rules"),
        ({"max_models": 0}, "max_models"),
        ({"error": "mape"}, "error"),
        ({"model": "tree"}, "model"),
        ({"model": DecisionTreeRegressor()}, "model"),
        ({"model_sharing": "yes"}, "model_sharing"),
        ({"random_state": -1}, "random_state"),
    ],
)
def test_bad_params_name_the_parameter(params, name):
    ds = make_dataset(regimes_frame(200), target="y")
    pattern = rf"^The '{name}' parameter of DGRDiscoverer must be .* Got .* instead\.$"
    with pytest.raises(InvalidParameterError, match=pattern):
        DGRDiscoverer(**params).fit(ds)


def test_unfitted_use_raises():
    d = DGRDiscoverer()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        d.summary()
    with pytest.raises(NotFittedError):
        discover_report(d)


def test_fit_returns_self_and_is_repeatable():
    ds = make_dataset(grid_frame(800), target="y")
    d = DGRDiscoverer(random_state=0)
    assert d.fit(ds) is d
    first = [(r.text, r.error, r.support) for r in d.rules_]
    assert [(r.text, r.error, r.support) for r in d.fit(ds).rules_] == first
    assert [(r.text, r.error, r.support) for r in fit(ds).rules_] == first


def test_pickle_round_trip_keeps_models():
    ds = mixed_dataset(600)
    d = fit(ds)
    back = pickle.loads(pickle.dumps(d))
    for mid, model in d.models_.items():
        assert np.array_equal(back.models_[mid].leaf_ids(ds.train), model.leaf_ids(ds.train))


# --------------------------------------------------------------------------- the algorithm


def test_planted_regimes_are_recovered():
    ds = make_dataset(regimes_frame(2000), target="y", seed=0)
    d = fit(ds, model=STUMP, rho=0.02)
    train = ds.train
    planted = {
        "low x0": (train.x0 <= 0.5).to_numpy(),
        "high x0, a/b": ((train.x0 > 0.5) & train.cat.isin(["a", "b"])).to_numpy(),
        "high x0, c": ((train.x0 > 0.5) & (train.cat == "c")).to_numpy(),
    }
    assert all(r.error <= 0.02 for r in d.rules_)
    for name, truth in planted.items():
        best = max(d.rules_, key=lambda r: (r.mask(train) & truth).sum() / (r.mask(train) | truth).sum())
        m = best.mask(train)
        jaccard = (m & truth).sum() / (m | truth).sum()
        assert jaccard >= 0.95, (name, best.text, jaccard)
    thresholds = [p.value for r in d.rules_ for c in r.conjunctions for p in c.predicates if p.column == "x0"]
    assert thresholds and all(abs(v - 0.5) <= 0.03 for v in thresholds)
    cat_preds = {
        p.to_text() for r in d.rules_ for c in r.conjunctions for p in c.predicates if p.column == "cat"
    }
    assert cat_preds == {"cat == 'c'", "cat != 'c'"}
    check_partition(d, ds)


def test_planted_regression_regimes_and_relative_error():
    ds = make_dataset(regression_frame(), target="y", seed=0)
    d = fit(ds, model=DecisionTreeRegressor(max_depth=1), rho=0.01)
    assert d.error_kind_ == "relative" and d.rho_ == 0.01
    train = ds.train
    var = float(np.var(train.y.to_numpy()))
    assert d.error_scale_ == pytest.approx(var)
    planted = [
        (train.x0 <= 0.4).to_numpy(),
        ((train.x0 > 0.4) & (train.g == "u")).to_numpy(),
        ((train.x0 > 0.4) & (train.g == "v")).to_numpy(),
    ]
    assert len(d.rules_) == 3
    for truth in planted:
        assert any(((r.mask(train) & truth).sum() / (r.mask(train) | truth).sum()) >= 0.95 for r in d.rules_)
    for r in d.rules_:
        m = r.mask(train)
        pred = d.models_[r.model_id].predict(train[m])
        assert r.error == pytest.approx(np.mean((pred - train.y[m].to_numpy()) ** 2) / var)
    check_partition(d, ds)


def test_default_rho_per_task_and_error_kind():
    cls = make_dataset(regimes_frame(300), target="y")
    reg = make_dataset(regression_frame(300), target="y")
    assert fit(cls).rho_ == 0.05
    assert fit(reg).rho_ == 0.1
    mse = fit(reg, error="mse")
    assert mse.error_kind_ == "mse" and mse.error_scale_ == 1.0
    assert mse.rho_ == pytest.approx(0.1 * np.var(reg.train.y.to_numpy()))


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_dataset(regimes_frame(1500, noise=0.05, missing=0.1), target="y"),
        mixed_dataset,
        lambda: make_dataset(regression_frame(), target="y"),
    ],
)
def test_supports_equal_masks_and_errors_match_shared_models(make):
    ds = make()
    d = fit(ds, rho=0.03 if ds.task == "classification" else 0.02, max_rules=None)
    check_partition(d, ds)
    train = ds.train
    for r in d.rules_:
        assert r.id.startswith("R") and r.origin == "discovered" and r.status == "proposed"
        m = r.mask(train)
        model = d.models_[r.model_id]
        assert r.error == pytest.approx(model.error(train[m], train[ds.target][m]), abs=1e-12)
        assert r.paths and all(isinstance(p, Conjunction) for p in r.paths)
        assert set(r.paths) == {p for p in model.paths_for(train[m])}
        assert 0.0 <= r.ind <= 1.0


def test_every_fitting_rule_is_within_rho_and_others_say_why():
    ds = make_dataset(grid_frame(1500), target="y")
    d = fit(ds, rho=0.08, max_rules=None)
    s = d.summary()
    assert list(s.columns) == [
        "id",
        "text",
        "support",
        "coverage",
        "error",
        "ind",
        "model_id",
        "n_paths",
        "fits",
    ]
    for r, fits in zip(d.rules_, s.fits):
        assert fits == (r.error <= 0.08)
        if not fits:
            assert "above rho" in r.note
    # fitting rules first, then by ind
    fits = list(s.fits)
    assert fits == sorted(fits, reverse=True)


@pytest.mark.parametrize("sharing", [True, False])
@pytest.mark.parametrize("frame", [grid_frame, lambda: regimes_frame(2000, noise=0.08, missing=0.05)])
def test_smaller_rho_never_gives_fewer_rules_before_fusion(sharing, frame):
    ds = make_dataset(frame(), target="y")
    counts = []
    for rho in [0.4, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.02, 0.01]:
        d = fit(
            ds,
            rho=rho,
            model_sharing=sharing,
            max_rules=None,
            min_support=0.01,
            model=DecisionTreeClassifier(max_depth=2, min_samples_leaf=5),
        )
        assert not [w for w in d.warnings_ if "max_models" in w]
        counts.append(len(d.regions_))
        assert all(isinstance(r, Region) for r in d.regions_)
        assert all(r.fits == (r.error <= rho) for r in d.regions_)
    assert counts == sorted(counts), counts
    assert counts[-1] > counts[0]


def test_model_sharing_trains_fewer_models():
    ds = make_dataset(grid_frame(3000), target="y")
    kw = dict(rho=0.12, max_rules=None, model=DecisionTreeClassifier(max_depth=2, min_samples_leaf=5))
    on, off = fit(ds, **kw), fit(ds, model_sharing=False, **kw)
    assert on.n_models_shared_ > 0 and off.n_models_shared_ == 0
    assert on.n_models_trained_ < off.n_models_trained_
    assert any(r.shared for r in on.regions_) and not any(r.shared for r in off.regions_)
    for d in (on, off):
        assert all(r.error <= 0.12 for r in d.regions_ if r.fits)
        check_partition(d, ds)


def test_fusion_joins_regions_of_one_model():
    ds = make_dataset(grid_frame(3000), target="y")
    d = fit(ds, rho=0.12, max_rules=None, model=DecisionTreeClassifier(max_depth=2, min_samples_leaf=5))
    keys = [(r.model_id, r.error <= d.rho_) for r in d.rules_]
    assert len(keys) == len(set(keys)), "two rules with the same model were not fused"
    fusions = [m for m in d.merged_ if m["kind"] == "fusion"]
    assert fusions and len(d.rules_) < len(d.regions_)
    for m in fusions:
        rule = next(r for r in d.rules_ if r.id == m["into"])
        assert rule.model_id == m["model_id"] and len(m["regions"]) > 1
        assert "fuses" in rule.note


def test_max_rules_caps_by_merging_into_nearest():
    ds = make_dataset(grid_frame(1500), target="y")
    free = fit(ds, rho=0.05, max_rules=None)
    assert len(free.rules_) > 3
    capped = fit(ds, rho=0.05, max_rules=3)
    assert len(capped.rules_) == 3
    caps = [m for m in capped.merged_ if m["kind"] == "cap"]
    assert len(caps) >= len(free.rules_) - 3
    ids = {r.id for r in capped.rules_}
    assert all(m["into"] in ids for m in caps)
    assert capped.coverage_ == free.coverage_
    assert any("max_rules" in w for w in capped.warnings_)
    check_partition(capped, ds)


def test_missing_values_become_is_missing_predicates():
    rng = np.random.default_rng(4)
    n = 1200
    df = pd.DataFrame({"x": rng.random(n), "z": rng.random(n)})
    miss = rng.random(n) < 0.25
    df["y"] = np.where(miss, 1, (df.z > 0.9).astype(int))
    df.loc[miss, "x"] = np.nan
    ds = make_dataset(df, target="y")
    d = fit(ds, model=STUMP, rho=0.01)
    assert sorted(r.text for r in d.rules_) == ["x is missing", "x is not missing"]
    assert all(r.error == 0 for r in d.rules_)
    check_partition(d, ds)
    for r in d.rules_:
        assert parse_rule(r.text).conjunctions == r.conjunctions
    # missingness below the root split shows up in the shared model's paths instead
    df["y"] = np.where(miss, 1, (df.z > 0.5).astype(int))
    ds2 = make_dataset(df, target="y")
    d2 = fit(ds2, model=STUMP, rho=0.01)
    assert "x is missing" in {p.to_text() for r in d2.rules_ for p in r.paths}
    check_partition(d2, ds2)


def test_categories_are_written_with_original_values():
    ds = mixed_dataset()
    d = fit(ds, rho=0.05, max_rules=None, max_depth=4)
    preds = [p for r in d.rules_ for c in r.conjunctions + r.paths for p in c.predicates]
    known = {"color": {"red", "green", "blue", "o'range"}, "grade": {1, 2, 3, 4}, "flag": {True, False}}
    used = set()
    for p in preds:
        if p.column in known and p.op != "is missing":
            values = set(p.value) if p.op in ("in", "not in") else {p.value}
            assert values <= known[p.column], p.to_text()
            assert p.op in ("in", "not in", "==", "!="), p.to_text()
            used.add(p.column)
    assert {"color", "flag"} <= used
    check_partition(d, ds)


def test_boolean_column_splits_on_true_false():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"flag": rng.random(600) < 0.5, "x": rng.random(600)})
    df["y"] = np.where(df.flag, df.x > 0.2, df.x > 0.8).astype(int)
    ds = make_dataset(df, target="y")
    d = fit(ds, model=STUMP, rho=0.01)
    assert sorted(r.text for r in d.rules_) == ["flag == false", "flag == true"]
    check_partition(d, ds)


def test_pandas_nullable_and_categorical_dtypes_keep_supports_exact():
    rng = np.random.default_rng(8)
    n = 800
    df = pd.DataFrame(
        {
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "count": pd.array(rng.integers(0, 10, n), dtype="Int64"),
            "flag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "s": pd.array(rng.choice(["x", "y"], n), dtype="string"),
            "f": rng.random(n),
        }
    )
    df.loc[rng.random(n) < 0.1, "count"] = pd.NA
    df.loc[rng.random(n) < 0.1, "flag"] = pd.NA
    df.loc[rng.random(n) < 0.1, "cat"] = np.nan
    score = (
        (df.cat == "a").fillna(False).astype(int)
        + (df["count"].fillna(0) > 5).astype(int)
        + df.flag.fillna(False).astype(int)
        + (df.s == "x").astype(int)
        + (df.f > 0.5).astype(int)
    )
    df["y"] = (score >= 3).astype(int)
    ds = make_dataset(df, target="y")
    d = fit(ds, rho=0.02, max_rules=None)
    check_partition(d, ds)
    flag_preds = [
        p for r in d.rules_ for c in r.conjunctions + r.paths for p in c.predicates if p.column == "flag"
    ]
    assert flag_preds and all(p.op in ("in", "not in", "is missing") for p in flag_preds)
    for model in d.models_.values():
        _assert_paths_partition(model, ds.train)


def test_test_rows_never_reach_discovery():
    df = regimes_frame(1500, noise=0.05)
    ds = make_dataset(df, target="y", seed=0)
    other = df.copy()
    test = ds.test_idx
    rng = np.random.default_rng(9)
    other.loc[test, "x0"] = rng.random(len(test)) * 100
    other.loc[test, "cat"] = "only-in-test"
    other.loc[test, "y"] = 1 - other.loc[test, "y"]
    ds2 = replace(ds, frame=other)
    a, b = fit(ds, max_rules=None), fit(ds2, max_rules=None)
    assert a.rules_ == b.rules_
    assert [r.text for r in a.rules_] == [r.text for r in b.rules_]
    assert a.n_train_ == len(ds.train_idx)
    assert not any("only-in-test" in r.text for r in b.rules_)


# --------------------------------------------------------------------------- bad and degenerate input


def test_one_class_in_train_gives_true_rule():
    ds = make_dataset(regimes_frame(400), target="y")
    ones = ds.train_idx[ds.frame.y.to_numpy()[ds.train_idx] == 1]
    d = fit(ds.with_train(ones))
    assert [r.text for r in d.rules_] == ["TRUE"] and d.rules_[0].error == 0.0
    assert d.rules_[0].support == len(ones)
    assert any("single class" in w for w in d.warnings_)


def _raw_dataset(df: pd.DataFrame, target: str, task: str, train_idx) -> Dataset:
    schema = infer_schema(df, target=target)
    schema = Schema(tuple(c if c.name == target else replace(c, role="feature") for c in schema.columns))
    idx = np.arange(len(df))
    return Dataset(
        frame=df,
        schema=schema,
        target=target,
        task=task,
        train_idx=np.asarray(train_idx),
        val_idx=idx[:0],
        test_idx=idx[:0],
    )


def test_all_constant_features_give_one_true_rule():
    df = pd.DataFrame({"a": [1.0] * 40, "b": ["k"] * 40, "y": [0, 1] * 20})
    d = fit(_raw_dataset(df, "y", "classification", np.arange(40)))
    assert len(d.rules_) == 1 and d.rules_[0].text == "TRUE"
    assert d.rules_[0].error == 0.5 and d.summary().fits.tolist() == [False]
    assert any("single value" in w for w in d.warnings_)
    assert "no split" in d.rules_[0].note


def test_one_row():
    df = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    d = fit(_raw_dataset(df, "y", "classification", [1]))
    assert [r.text for r in d.rules_] == ["TRUE"] and d.rules_[0].support == 1 and d.rules_[0].error == 0


def test_no_train_rows_and_missing_target_are_clear_errors():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0.0, np.nan, 1.0]})
    with pytest.raises(DataError, match="no rows"):
        fit(_raw_dataset(df, "y", "classification", []))
    with pytest.raises(DataError, match="missing in 1 train row"):
        fit(_raw_dataset(df, "y", "classification", [0, 1, 2]))
    dates = pd.DataFrame({"d": pd.date_range("2020-01-01", periods=20), "y": [0, 1] * 10})
    with pytest.raises(DataError, match="no usable feature"):
        fit(_raw_dataset(dates, "y", "classification", np.arange(20)))
    with pytest.raises(DataError, match="Dataset"):
        DGRDiscoverer().fit(dates)


def test_more_columns_than_rows():
    rng = np.random.default_rng(6)
    df = pd.DataFrame(rng.random((30, 60)), columns=[f"c{i}" for i in range(60)])
    df["y"] = (df.c0 > 0.5).astype(int)
    d = fit(_raw_dataset(df, "y", "classification", np.arange(30)))
    check_partition(d, _raw_dataset(df, "y", "classification", np.arange(30)))
    assert len(d.rules_) >= 1


def test_500_columns_is_quick_and_max_models_caps_with_a_warning():
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.random((400, 500)), columns=[f"c{i}" for i in range(500)])
    df["y"] = ((df.c0 + rng.normal(0, 0.3, 400)) > 0.5).astype(int)
    ds = make_dataset(df, target="y")
    start = time.perf_counter()
    d = fit(ds, rho=0.01, max_models=3)
    assert time.perf_counter() - start < 10
    assert d.n_models_trained_ == 3
    assert any("max_models=3" in w for w in d.warnings_)
    check_partition(d, ds)


# --------------------------------------------------------------------------- output formats


def test_rules_json_round_trip_and_text_parse():
    ds = mixed_dataset()
    d = fit(ds, rho=0.05)
    back = rules_from_json(rules_to_json(d.rules_))
    assert back == d.rules_
    assert [r.paths for r in back] == [r.paths for r in d.rules_]
    for r in d.rules_:
        assert parse_rule(r.text).conjunctions == r.conjunctions
        assert back[d.rules_.index(r)].mask(ds.train).sum() == r.support


def test_report_and_summary():
    ds = make_dataset(regimes_frame(1500, missing=0.05), target="y")
    d = fit(ds, model=STUMP, rho=0.02)
    text = discover_report(d)
    assert text.startswith("DGR discovery:")
    assert f"remainder: {d.remainder_:,} row(s)" in text
    for r in d.rules_:
        assert f"{r.id}  support {r.support:,}" in text
        assert r.text in text
        assert r.paths[0].to_text() in text
    s = d.summary()
    assert len(s) == len(d.rules_)
    assert s.coverage.sum() + d.remainder_ / d.n_train_ == pytest.approx(1.0)
    assert (s.n_paths == [len(r.paths) for r in d.rules_]).all()


# --------------------------------------------------------------------------- SharedModel


def _perturbed(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """New rows: missing cells anywhere, unseen categories, values outside the train range."""
    rng = np.random.default_rng(seed)
    out = frame.sample(len(frame), replace=True, random_state=seed).reset_index(drop=True)
    for col in out.columns:
        hole = rng.random(len(out)) < 0.1
        if pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].astype(object)
        if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].astype(float)
            far = rng.random(len(out)) < 0.05
            out.loc[far, col] = out[col][far] * 50 - 1000
        else:
            out[col] = out[col].astype(object)
            out.loc[rng.random(len(out)) < 0.05, col] = "never-seen"
        out.loc[hole, col] = None
    return out


def _assert_paths_partition(model: SharedModel, frame: pd.DataFrame) -> None:
    ids = model.leaf_ids(frame)
    for k in range(model.n_leaves):
        assert np.array_equal(ids == k, model.path(k).mask(frame)), model.path(k).to_text()
    unmatched = ids == -1
    assert [p is None for p in model.paths_for(frame)] == unmatched.tolist()


def test_shared_model_paths_match_leaf_ids_on_train_and_new_rows():
    ds = mixed_dataset()
    feats = ds.train[ds.features]
    model = SharedModel.fit(
        feats,
        ds.train.y,
        task="classification",
        schema=ds.schema,
        estimator=DecisionTreeClassifier(max_depth=4, min_samples_leaf=3),
        random_state=0,
    )
    assert model.n_leaves >= 8
    _assert_paths_partition(model, ds.train)
    _assert_paths_partition(model, _perturbed(feats, 0))
    pred = model.predict(ds.train)
    assert set(pred) <= {"yes", "no"}
    assert model.error(ds.train, ds.train.y) == pytest.approx(np.mean(pred != ds.train.y.to_numpy()))
    rows = tree_paths(model)
    assert sum(k for _, _, k in rows) == model.n_train == len(ds.train)
    assert [k for _, _, k in rows] == sorted((k for _, _, k in rows), reverse=True)
    assert sum(k for _, _, k in tree_paths(model, ds.train)) == len(ds.train)


def test_discovered_models_paths_match_leaf_ids():
    ds = make_dataset(regimes_frame(1500, noise=0.05, missing=0.1), target="y")
    d = fit(ds, rho=0.03)
    for model in d.models_.values():
        _assert_paths_partition(model, ds.train)
        _assert_paths_partition(model, _perturbed(ds.train[ds.features], 1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 5), regression=st.booleans())
@example(seed=0, depth=5, regression=False)  # deep tree over a column with many missing cells
@example(seed=11, depth=1, regression=True)  # a single split, regression
def test_shared_model_path_partition_property(seed, depth, regression):
    rng = np.random.default_rng(seed)
    n = 120
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 6, n).astype(float),
            "b": rng.normal(size=n),
            "c": rng.choice(["p", "q", "r", "s"], n).astype(object),
            "d": rng.random(n) < 0.5,
        }
    )
    df.loc[rng.random(n) < 0.3, "a"] = np.nan
    df.loc[rng.random(n) < 0.2, "c"] = None
    y = rng.normal(size=n) if regression else rng.choice(["u", "v", "w"], n)
    est = (DecisionTreeRegressor if regression else DecisionTreeClassifier)(max_depth=depth)
    model = SharedModel.fit(
        df, y, task="regression" if regression else "classification", estimator=est, random_state=seed
    )
    _assert_paths_partition(model, df)
    _assert_paths_partition(model, _perturbed(df, seed))
    if not regression:
        full = SharedModel.fit(
            df, y, task="classification", estimator=DecisionTreeClassifier(), random_state=0
        )
        assert full.error(df, y) <= model.error(df, y)


def test_shared_model_missing_branch_and_errors():
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, np.nan, 5.0, 6.0, 7.0, np.nan]})
    y = [0, 0, 1, 1, 0, 1, 1, 1]
    model = SharedModel.fit(df, y, task="classification", estimator=DecisionTreeClassifier(max_depth=3))
    texts = [p.to_text() for p in model.paths]
    assert "x is missing" in texts
    assert model.error(df, y) == 0.0
    leaf = model.leaf_ids(pd.DataFrame({"x": [np.nan]}))[0]
    assert model.path(leaf).to_text() == "x is missing"
    with pytest.raises(ValueError, match="not a leaf"):
        model.path(-1)
    with pytest.raises(ValueError, match="not a leaf"):
        model.path(model.n_leaves)
    with pytest.raises(DataError, match="lack column"):
        model.predict(pd.DataFrame({"z": [1]}))
    with pytest.raises(DataError):
        model.error(df, y[:3])


def test_unseen_missing_column_gets_no_leaf_but_a_prediction():
    df = pd.DataFrame({"x": np.arange(20, dtype=float)})
    y = [0] * 10 + [1] * 10
    model = SharedModel.fit(df, y, task="classification", estimator=DecisionTreeClassifier(max_depth=1))
    new = pd.DataFrame({"x": [np.nan, 3.0, 15.0]})
    assert model.leaf_ids(new).tolist() == [-1, 0, 1]
    assert model.paths_for(new)[0] is None
    assert len(model.predict(new)) == 3


# --------------------------------------------------------------------------- helpers


def test_simplify_conjunction_keeps_rows():
    conj = parse_conjunction(
        "x <= 5 AND c not in {'a'} AND x <= 3 AND x > 1 AND x >= 1 AND c not in {'b'} "
        "AND d in {1, 2, 3} AND d in {2, 3, 4} AND e not in {}"
    )
    simple = simplify_conjunction(conj.predicates)
    assert simple.to_text() == "x > 1 AND x <= 3 AND c not in {'a', 'b'} AND d in {2, 3} AND e is not missing"
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.integers(0, 7, 300).astype(float),
            "c": rng.choice(list("abc"), 300),
            "d": rng.integers(0, 6, 300),
            "e": rng.random(300),
        }
    )
    frame.loc[rng.random(300) < 0.1, ["x", "e"]] = np.nan
    assert np.array_equal(simple.mask(frame), conj.mask(frame))
    narrowed = simplify_conjunction([Predicate("c", "in", ("a", "b")), Predicate("c", "!=", "a")])
    assert narrowed.to_text() == "c == 'b'"


@given(a=st.floats(-1e6, 1e6, allow_nan=False), width=st.floats(1e-9, 1e6, allow_nan=False))
@example(a=0.3, width=0.4)  # the middle of a wide gap is a round number (0.5)
@example(a=2.0, width=998.0)  # integer gaps give integers
def test_nice_between_stays_in_the_gap(a, width):
    b = a + width
    if not b > a:
        return
    v = nice_between(a, b)
    assert a <= v < b
    assert math.isfinite(v)


def test_nice_between_prefers_round_numbers():
    assert nice_between(0.3, 0.7) == 0.5
    assert nice_between(2.0, 1000.0) == 500.0
    assert nice_between(0.4971, 0.5032) == 0.5
    assert nice_between(3.0, 4.0) == 3.0
