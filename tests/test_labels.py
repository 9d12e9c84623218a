import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from synth_core.data import make_dataset
from synth_core.errors import InvalidParameterError, NotFittedError
from synth_core.labels import Labeler


@pytest.fixture
def dataset():
    rng = np.random.default_rng(1)
    n = 600
    x = rng.uniform(-1, 1, (n, 3))
    c = rng.choice(["a", "b"], n)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + (c == "a") * 0.3 > 0.1, "pos", "neg")
    return make_dataset(
        pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "c": c, "y": y}),
        target="y",
        seed=0,
        protocol="paper",
    )


def _rows(ds, frame):
    out = frame[ds.features + [ds.target]].reset_index(drop=True).copy()
    out["_status"], out["_reason"] = "accepted", ""
    return out


def test_relabel_on_train_copies_reproduces_teacher(dataset):
    lab = Labeler(mode="relabel").fit(dataset)
    rows = _rows(dataset, dataset.train.head(50))
    out = lab.transform(rows)
    expected = lab.teacher_.predict(rows)
    assert out[dataset.target].astype(str).tolist() == list(expected.astype(str))
    assert out["_label_original"].tolist() == rows[dataset.target].tolist()
    assert set(out["_label_mode"]) == {"relabel"}


def test_teacher_never_sees_validation_or_test_rows(dataset):
    rows = _rows(dataset, dataset.train.head(80))
    before = Labeler(mode="relabel").fit(dataset).transform(rows)
    poisoned = dataset.frame.copy()
    idx = np.concatenate([dataset.val_idx, dataset.test_idx])
    poisoned.loc[idx, "y"] = np.where(poisoned.loc[idx, "y"] == "pos", "neg", "pos")
    poisoned.loc[idx, "x0"] = 99.0
    ds2 = replace(dataset, frame=poisoned)  # same split positions, poisoned val/test rows
    after = Labeler(mode="relabel").fit(ds2).transform(rows)
    assert after["y"].tolist() == before["y"].tolist()


def test_filter_drops_a_planted_wrong_label(dataset):
    lab = Labeler(mode="filter", threshold=0.3).fit(dataset)
    rows = _rows(dataset, dataset.train.head(40))
    teacher = lab.teacher_.predict(rows)
    sure = np.argmax(lab.teacher_.predict_proba(rows).max(axis=1))
    rows.loc[sure, "y"] = "neg" if teacher[sure] == "pos" else "pos"
    out = lab.transform(rows)
    assert out.loc[sure, "_status"] == "rejected"
    assert out.loc[sure, "_reason"] == "label contradicted by teacher"
    assert out.loc[sure, "_label_original"] == rows.loc[sure, "y"]
    kept = out[out["_status"] == "accepted"]
    assert len(kept) >= 25
    assert lab.summary(out)["dropped"]["label contradicted by teacher"] >= 1


def test_score_keeps_everything_with_confidence(dataset):
    out = Labeler(mode="score").fit(dataset).transform(_rows(dataset, dataset.train.head(30)))
    assert (out["_status"] == "accepted").all()
    assert out["_confidence"].between(0, 1).all()


def test_fallback_message_when_teacher_is_weaker(dataset):
    from sklearn.dummy import DummyClassifier

    lab = Labeler(mode="auto", teacher=DummyClassifier(strategy="most_frequent")).fit(dataset)
    assert lab.effective_mode_ == "filter"
    assert (
        "NOT better" in lab.message_
        and "only those the teacher firmly contradicts are dropped" in lab.message_
    )


def test_auto_relabels_when_teacher_is_better(dataset):
    lab = Labeler(mode="auto").fit(dataset)
    assert lab.teacher_score_ < lab.downstream_score_
    assert lab.effective_mode_ == "relabel"


def test_regression_filter(mixed_frame):
    ds = make_dataset(
        mixed_frame.assign(t=mixed_frame["age"] * 2.0 + 1), target="t", seed=0, protocol="paper"
    )
    lab = Labeler(mode="filter").fit(ds)
    rows = _rows(ds, ds.train.head(20))
    rows.loc[0, "t"] = 10_000.0
    out = lab.transform(rows)
    assert out.loc[0, "_status"] == "rejected"


def test_bad_settings_are_refused_when_fit_starts():
    with pytest.raises(InvalidParameterError) as info:
        Labeler(mode="guess").fit(None)
    assert str(info.value) == (
        "The 'mode' parameter of Labeler must be a str among {'auto', 'relabel', "
        "'filter', 'score', 'none'}. Got 'guess' instead."
    )
    with pytest.raises(InvalidParameterError) as info:
        Labeler(threshold=1).fit(None)
    assert str(info.value) == "The 'threshold' parameter of Labeler must be a float in [0, 1). Got 1 instead."
    with pytest.raises(InvalidParameterError) as info:
        Labeler(teacher="svm").fit(None)
    assert str(info.value) == (
        "The 'teacher' parameter of Labeler must be a str among {'boosting', "
        "'forest'}, an object implementing 'fit' and 'predict' or None. "
        "Got 'svm' instead."
    )


@pytest.mark.parametrize(
    "use",
    [
        lambda lab, rows: lab.transform(rows),
        lambda lab, rows: lab.summary(rows),
        lambda lab, rows: lab.with_mode("filter"),
        lambda lab, rows: lab.teacher_losses(rows),
    ],
    ids=["transform", "summary", "with_mode", "teacher_losses"],
)
def test_an_unfitted_labeler_says_so(dataset, use):
    rows = _rows(dataset, dataset.train.head(5))
    with pytest.raises(
        NotFittedError, match=r"^Labeler is not fitted yet\. Call 'fit' with the dataset first\.$"
    ):
        use(Labeler(mode="relabel"), rows)


def test_with_mode_reuses_the_fitted_teacher(dataset):
    lab = Labeler(mode="relabel", random_state=0).fit(dataset)
    other = lab.with_mode("score")
    assert other is not lab and other.teacher_ is lab.teacher_
    assert other.effective_mode_ == "score" and lab.effective_mode_ == "relabel"
    with pytest.raises(InvalidParameterError, match="with_mode needs one of"):
        lab.with_mode("auto")


def test_filtering_10k_rows_is_vectorised_and_row_by_row_exact(dataset):
    lab = Labeler(mode="filter").fit(dataset)
    rows = _rows(dataset, dataset.train.sample(10_000, replace=True, random_state=0))
    flip = np.random.default_rng(0).random(len(rows)) < 0.3
    rows.loc[flip, "y"] = np.where(rows.loc[flip, "y"] == "pos", "neg", "pos")

    start = time.perf_counter()
    out = lab.transform(rows)
    seconds = time.perf_counter() - start

    assert seconds < 3.0, seconds  # about 0.2 s; a per-row teacher call would take tens of seconds
    proba = lab.teacher_.predict_proba(rows)
    given = [list(lab.teacher_.classes_).index(v) for v in rows["y"]]
    contradicted = proba[np.arange(len(rows)), given] < lab.threshold_
    assert 1_000 < contradicted.sum() < 5_000
    assert (out["_status"] == "rejected").tolist() == contradicted.tolist()
    assert set(out.loc[contradicted, "_reason"]) == {"label contradicted by teacher"}
    pieces = [lab.transform(rows.iloc[i : i + 2_500].reset_index(drop=True)) for i in range(0, 10_000, 2_500)]
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), out)  # each row labelled alone


def test_relabel_keeps_integer_classes_integer_beside_empty_cells():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": (rng.normal(size=200) > 0).astype(int)})
    ds = make_dataset(frame, target="y", seed=0, protocol="paper")
    rows = _rows(ds, ds.train.head(10))
    rows.loc[0, ["x", "y"]] = np.nan
    rows.loc[0, "_status"] = "rejected"  # an unparsed LLM row: no values at all
    out = Labeler(mode="relabel").fit(ds).transform(rows)
    kept = out[out["_status"] == "accepted"]["y"]
    assert set(kept.astype(int).astype(str)) <= {"0", "1"}
    assert str(out["y"].dtype) == "Int64"


def test_boolean_target_relabels_to_booleans():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    ds = make_dataset(pd.DataFrame({"x": x, "y": x > 0}), target="y", seed=0, protocol="paper")
    out = Labeler(mode="relabel").fit(ds).transform(_rows(ds, ds.train.head(20)))
    assert out["y"].notna().all() and set(out["y"]) <= {True, False}
