"""The cross-fitted check: folds, decisions, the verdict, and the pipeline around it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_core.crossfit import (
    CrossFitCheck,
    _between_folds,
    _z,
    auto_folds,
    auto_repeats,
    make_folds,
    verdict_sentence,
)
from synth_core.data import make_dataset
from synth_core.errors import InvalidParameterError, NotFittedError
from synth_core.labels import Labeler
from synth_core.models import MODELS, resolve_model, row_losses


def _truth(x0, x1):
    return np.where(x0 + x1 > 1.0, "pos", "neg")


@pytest.fixture
def table():
    """600 rows whose label is a known function of x0, x1 (with 15% label noise), plus a noise column."""
    rng = np.random.default_rng(3)
    n = 600
    x0, x1, x2 = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.normal(size=n)
    y = _truth(x0, x1)
    flip = rng.random(n) < 0.15
    y[flip] = np.where(y[flip] == "pos", "neg", "pos")
    return pd.DataFrame({"x0": x0, "x1": x1, "x2": x2, "y": y})


def _rows(n, seed, labels):
    rng = np.random.default_rng(seed)
    x0, x1, x2 = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.normal(size=n)
    y = _truth(x0, x1) if labels == "true" else rng.choice(["pos", "neg"], n)
    out = pd.DataFrame({"x0": x0, "x1": x1, "x2": x2, "y": y})
    out["_row_id"] = [f"s{seed}.{i}" for i in range(n)]
    out["_status"], out["_reason"] = "accepted", ""
    return out


def _label(fold_ds):
    return {"boosting": Labeler(mode="relabel", random_state=0).fit(fold_ds)}


def test_folds_hold_every_given_row_out_once_per_repeat(table):
    ds = make_dataset(table, target="y", seed=0, test_size=0.2)
    folds = make_folds(ds, folds=5, repeats=2, random_state=0)
    assert len(folds) == 10
    for r in (0, 1):
        held = np.concatenate([f.held_idx for f in folds if f.repeat == r])
        assert sorted(held.tolist()) == sorted(ds.train_idx.tolist())
    assert not set(np.concatenate([f.fit_idx for f in folds])) & set(ds.test_idx)
    for f in folds:
        assert not set(f.fit_idx) & set(f.held_idx)
        share = (ds.frame["y"].iloc[f.held_idx] == "pos").mean()
        assert abs(share - (ds.train["y"] == "pos").mean()) < 0.03  # stratified
    assert auto_repeats(400) == 5 and auto_repeats(1000) == 2 and auto_repeats(50_000) == 1


def test_auto_folds_gives_small_tables_the_folds_their_fold_by_fold_test_needs():
    rng = np.random.default_rng(0)

    def plan(n):
        frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.choice(["a", "b"], n)})
        folds = CrossFitCheck(random_state=0).plan(make_dataset(frame, target="y", seed=0))
        return len({f.index for f in folds}), len({f.repeat for f in folds})

    assert (auto_folds(400), auto_folds(1999), auto_folds(2000), auto_folds(50_000)) == (10, 10, 5, 5)
    assert plan(400) == (10, 5) and plan(2500) == (5, 1)


def test_helpful_rows_are_kept_and_the_verdict_says_so(table):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=5, repeats=1, random_state=0)
    seen = []

    def produce(fold_ds, fold):
        seen.append((set(fold_ds.train_idx.tolist()), set(fold.held_idx.tolist())))
        return _rows(2000, fold.index, "true")

    check.fit(ds, check.plan(ds), produce, _label, labels="none")
    assert all(not (fit & held) for fit, held in seen)  # the producer never saw its fold's held-out rows
    assert check.fraction_ > 0
    v = check.primary
    assert v.high < 0 and v.change < 0 and v.augmented < v.base
    kept = check.tables_["tree"].set_index("fraction").loc[check.fraction_]
    assert kept["z"] == min(kept["z_rows"], kept["z_folds"]) >= 2  # both readings say the rows help
    assert check.reason_.startswith("kept ")


def test_noise_rows_are_refused_with_the_reason(table):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=5, repeats=1, random_state=0)
    check.fit(
        ds, check.plan(ds), lambda fold_ds, fold: _rows(2000, fold.index, "random"), _label, labels="none"
    )
    assert check.fraction_ == 0.0
    assert check.reason_.startswith(
        "kept no synthetic rows: no share of the candidate rows helped your decision tree"
    )
    table_ = check.tables_["tree"]
    assert (table_["z"] < 2).all() and (table_["change"] > 0).any()


def test_a_gain_carried_by_one_fold_counts_as_one_draw():
    """Rows of one fold share one fitted model: a gain only one fold saw is one draw, however many rows it
    spans. Counted row by row it looks sure; counted by folds it does not, and the keep rule takes the weaker."""
    rng = np.random.default_rng(0)
    gains = [rng.normal(0.0, 0.3, 120) for _ in range(5)]
    gains[0] += 0.2  # 120 rows of one fold improve, the other four folds see nothing
    d = np.concatenate(gains)
    z_rows = _z(d.mean(), d.std(ddof=1) / np.sqrt(len(d)))
    se, df = _between_folds({0: [g.mean() for g in gains]})
    z_folds = _z(d.mean(), se, df=df)
    assert z_rows > 2 > z_folds > 0 and df == 4
    se, df = _between_folds({0: [0.05, 0.06, 0.05, 0.06, 0.05], 1: [0.06, 0.05, 0.05, 0.05, 0.06]})
    assert _z(0.054, se, df=df) > 4 and df == 4  # every fold gains alike: sure by folds too
    assert _between_folds({0: [0.1]}) == (0.0, 0)


def test_a_checked_model_that_gets_worse_blocks_the_rows(table, monkeypatch):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=5, repeats=1, random_state=0)
    check.fit(
        ds,
        check.plan(ds),
        lambda fold_ds, fold: _rows(2000, fold.index, "true"),
        _label,
        labels="none",
        model="tree",
        check_models=["linear"],
    )
    assert check.fraction_ > 0  # true labels help both
    blocked = CrossFitCheck(folds=5, repeats=1, random_state=0, z_harm=-100.0)  # every share "hurts" linear
    blocked.fit(
        ds,
        blocked.plan(ds),
        lambda fold_ds, fold: _rows(2000, fold.index, "true"),
        _label,
        labels="none",
        model="tree",
        check_models=["linear"],
    )
    assert blocked.fraction_ == 0.0
    assert "made the linear model worse" in blocked.reason_
    assert set(blocked.verdicts_) == {"tree", "linear"}


def test_each_fold_is_judged_by_a_decision_the_other_folds_made(table, monkeypatch):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=4, repeats=1, random_state=0)
    masks = []
    original = CrossFitCheck._decide

    def spy(self, mask, **kw):
        masks.append(mask.copy())
        return original(self, mask, **kw)

    monkeypatch.setattr(CrossFitCheck, "_decide", spy)
    check.fit(ds, check.plan(ds), lambda fold_ds, fold: _rows(800, fold.index, "true"), _label, labels="none")
    assert masks[0].all()  # the final decision uses every row
    helds = [set(check.pos_[int(p)] for p in state.fold.held_idx) for state in check.states_]
    judged = []
    for mask in masks[1:]:  # every other decision leaves out exactly one fold: the one it will judge
        out = set(np.flatnonzero(~mask))
        assert out in helds
        judged.append(helds.index(out))
    assert sorted(set(judged)) == list(range(len(helds)))


def test_auto_mode_relabels_when_the_teacher_is_better(table):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=5, repeats=2, random_state=0)
    check.fit(
        ds, check.plan(ds), lambda fold_ds, fold: _rows(4000, fold.index, "random"), _label, labels="auto"
    )
    assert check.teacher_loss_ < check.model_loss_
    assert check.mode_ == "relabel"
    assert check.fraction_ > 0  # random labels, relabelled by a better teacher, help the tree


def test_bad_settings_are_refused(table):
    ds = make_dataset(table, target="y", seed=0)
    with pytest.raises(InvalidParameterError, match="'folds' parameter"):
        CrossFitCheck(folds=1).plan(ds)
    with pytest.raises(InvalidParameterError, match="'fractions' parameter"):
        CrossFitCheck(fractions=(0.5, 1.5)).plan(ds)


def test_no_verdict_before_fit_or_after_a_cancelled_fit(table):
    ds = make_dataset(table, target="y", seed=0)
    check = CrossFitCheck(folds=2, repeats=1, fractions=(1.0,), random_state=0)
    unfitted = r"^This CrossFitCheck instance is not fitted yet\. Call 'fit' with the dataset"
    with pytest.raises(NotFittedError, match=unfitted + r".*first\.$"):
        check.summary()
    with pytest.raises(NotFittedError, match=unfitted):
        _ = check.primary
    check.fit(
        ds,
        check.plan(ds),
        lambda fold_ds, fold: _rows(50, fold.index, "true"),
        _label,
        labels="none",
        cancel=lambda: True,
    )
    assert check.cancelled_
    with pytest.raises(NotFittedError, match="Its last fit was cancelled before it decided anything"):
        check.summary()
    with pytest.raises(NotFittedError, match="cancelled"):
        _ = check.primary


def test_verdict_sentence_in_plain_words():
    none = {
        "label": "gradient boosting",
        "metric": "error rate",
        "base": 0.2,
        "augmented": 0.2,
        "change": 0.0,
        "low": 0.0,
        "high": 0.0,
    }
    assert verdict_sentence(none) == (
        "Your gradient boosting: no fold kept synthetic rows, so its error rate stays 20.0% out of fold."
    )
    mse = {
        "label": "decision tree",
        "metric": "MSE",
        "base": 3881.0,
        "augmented": 3500.0,
        "change": -0.098,
        "low": -0.15,
        "high": 0.01,
    }
    assert "MSE 3,881 -> 3,500" in verdict_sentence(mse) and "-15.0% to +1.0%" in verdict_sentence(mse)


def test_model_presets_and_aliases(table):
    assert resolve_model("hgb") is MODELS["boosting"] and resolve_model("Logistic") is MODELS["linear"]
    with pytest.raises(InvalidParameterError, match="unknown model 'svm'"):
        resolve_model("svm")
    with pytest.raises(InvalidParameterError, match="not list"):
        resolve_model([1])
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    assert resolve_model(LogisticRegression()).encoding == "onehot"
    assert resolve_model(DecisionTreeClassifier()).encoding == "ordinal"
    ds = make_dataset(
        table.assign(c=np.where(table["x0"] > 0.5, "a", "b")), target="y", seed=0, protocol="paper"
    )
    for name in MODELS:
        loss = row_losses(ds.schema, ds.features, ds.task, ds.train, ds.val, ds.target, model=name)
        assert loss.shape == (len(ds.val),) and 0 < loss.mean() < 0.5, name


# ---------------------------------------------------------------- the pipeline: every real row counts


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from synth_core.pipeline import run_pipeline  # noqa: E402
from synth_core.rules import parse_rule  # noqa: E402


def _upload(n, seed, missing_target=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"c{seed}-{i}" for i in range(n)],  # an identifier: left empty in synthetic rows
            "x": rng.normal(size=n).round(3),
            "k": rng.integers(0, 50, n),
            "colour": rng.choice(["red", "blue", "green"], n),
            "site": "north",  # constant: carried into synthetic rows
            "y": rng.choice(["a", "b"], n),
        }
    )
    frame.loc[rng.choice(n, missing_target, replace=False), "y"] = np.nan
    return frame


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(60, 140),
    seed=st.integers(0, 10_000),
    missing=st.integers(0, 5),
    test=st.sampled_from([0.0, 0.2]),
    guard=st.booleans(),
)
def test_the_augmented_export_holds_every_uploaded_row(n, seed, missing, test, guard):
    upload = _upload(n, seed, missing)
    ds = make_dataset(upload, target="y", seed=seed % 7, test_size=test)
    run = run_pipeline(
        ds,
        [parse_rule("x > -5", id="R1", status="approved")],
        method="jitter",
        n=60,
        guard=guard,
        folds=3,
        repeats=1,
        random_state=seed % 7,
    )
    aug = run.augmented_frame()
    real = aug[aug["source"] == "real"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(real, upload.reset_index(drop=True), check_dtype=False)
    syn = aug[aug["source"] == "synthetic"]
    assert len(syn) == len(run.selected)


def test_synthetic_rows_have_exactly_the_uploads_columns_and_types():
    upload = _upload(200, 1)
    ds = make_dataset(upload, target="y", seed=0)
    run = run_pipeline(
        ds,
        [parse_rule("x > -5", id="R1", status="approved")],
        method="statistical",
        n=80,
        guard=False,
        folds=3,
        repeats=1,
    )
    syn = run.synthetic_frame()
    assert list(syn.columns) == list(upload.columns) and len(syn) > 0
    assert (syn["site"] == "north").all() and syn["id"].isna().all()
    assert str(syn["k"].dtype) == str(upload["k"].dtype) and syn["x"].dtype == float
    fills = run.filled_columns()
    assert set(fills) == {"id", "site"} and "identifier" in fills["id"] and "'north'" in fills["site"]


def test_a_cross_fitted_run_records_its_check_and_keeps_the_decided_share():
    upload = _upload(300, 2)
    upload["y"] = np.where(upload["x"] + (upload["colour"] == "red") > 0.3, "a", "b")
    ds = make_dataset(upload, target="y", seed=0)
    run = run_pipeline(
        ds,
        [parse_rule("x > 0", id="R1", status="approved"), parse_rule("x <= 0", id="R2", status="approved")],
        method="statistical",
        n=3000,
        model="tree",
        check_models=["linear"],
        folds=5,
        repeats=1,
    )
    check = run.metrics["check"]
    assert run.params["protocol"] == "crossfit" and check["folds"] == 5 and check["repeats"] == 1
    assert set(check["verdicts"]) == {"tree", "linear"}
    assert check["kept_rows"] == len(run.selected) == round(check["fraction"] * check["candidate_rows"])
    assert check["reason"][:4] in ("kept", "kept") and run.messages[-1].lower().startswith("kept")
    assert check["teacher"] in ("boosting", "forest") and set(check["teacher_losses"]) == {
        "boosting",
        "forest",
    }
    privacy = run.metrics["privacy"]
    assert 0 <= privacy["dcr"] <= 1 and 0 <= privacy["exact_copies"] <= 1 and privacy["fold"] == "1.1"
    assert "without fold 1.1" in privacy["note"]
