"""AppTest: the Data page (samples, uploads, schema, target, splits, bad files)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from app_support.testing import TIMEOUT, app_at, texts
from synth_core.samples import sample_path

PAGE = "pages/1_Data.py"


def small_csv(n: int = 120) -> bytes:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "color": rng.choice(["red", "blue"], n),
            "score": rng.normal(0, 1, n).round(3),
        }
    )
    frame["label"] = np.where(frame["age"] > 45, "old", "young")
    return frame.to_csv(index=False).encode()


def test_sample_load_and_use():
    at = app_at(PAGE)
    assert not at.exception
    assert at.selectbox(key="data.target").value == "income"  # the sample's own target
    assert len(at.data_editor) == 1  # the schema editor: one row per column of the sample, the target marked
    schema_rows = at.data_editor[0].value
    assert list(schema_rows.columns) == ["column", "kind", "role", "values", "missing", "flags"]
    assert schema_rows["column"].tolist() == list(pd.read_csv(sample_path("adult_3k.csv"), nrows=0).columns)
    income = schema_rows.set_index("column").loc["income"]
    assert (income["kind"], income["role"], income["values"]) == ("categorical", "target", "<=50K, >50K")
    at.button(key="data.apply").click().run(timeout=TIMEOUT)
    assert not at.exception
    ds = at.session_state["dataset"]
    assert ds.target == "income" and ds.task == "classification"
    assert any("Loaded adult_3k.csv" in s for s in texts(at.success))
    assert ds.protocol == "crossfit" and len(ds.train_idx) == len(ds.frame) and not len(ds.test_idx)
    assert {m.label: m.value for m in at.metric}["Rows used"] == f"{len(ds.train_idx):,}"


def test_upload_csv_choose_target_and_split():
    at = app_at(PAGE)
    at.radio(key="data.source").set_value("Upload a file").run(timeout=TIMEOUT)
    at.file_uploader(key="data.upload").upload("people.csv", small_csv(), "text/csv").run(timeout=TIMEOUT)
    assert not at.exception
    assert at.selectbox(key="data.target").value == "label"  # last column by default
    at.slider(key="data.test_share").set_value(0.3).run(timeout=TIMEOUT)
    at.button(key="data.apply").click().run(timeout=TIMEOUT)
    assert not at.exception
    ds = at.session_state["dataset"]
    assert (
        ds.name == "people.csv" and len(ds.test_idx) == 36 and len(ds.train_idx) == 84 and not len(ds.val_idx)
    )
    at.radio(key="data.protocol").set_value("paper").run(timeout=TIMEOUT)
    at.button(key="data.apply").click().run(timeout=TIMEOUT)
    ds = at.session_state["dataset"]
    assert ds.protocol == "paper" and (len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)) == (72, 24, 24)


def test_schema_edit_marks_a_column_ignored():
    at = app_at(PAGE)
    at.radio(key="data.source").set_value("Upload a file").run(timeout=TIMEOUT)
    at.file_uploader(key="data.upload").upload("people.csv", small_csv(), "text/csv").run(timeout=TIMEOUT)
    key = at.data_editor[0].key
    at.session_state[key] = {"edited_rows": {2: {"role": "ignore"}}, "added_rows": [], "deleted_rows": []}
    at.run(timeout=TIMEOUT)
    assert not at.exception
    at.button(key="data.apply").click().run(timeout=TIMEOUT)
    ds = at.session_state["dataset"]
    assert "score" not in ds.features and ds.schema["score"].role == "ignore"


def test_bad_uploads_give_an_error_not_a_traceback():
    at = app_at(PAGE)
    at.radio(key="data.source").set_value("Upload a file").run(timeout=TIMEOUT)
    cases = [
        ("empty.csv", b"", "empty"),
        ("blob.csv", bytes(range(256)) * 20, "not a text table"),
        ("dupes.csv", b"a,a,b\n1,2,3\n4,5,6\n", "repeats column name"),
        ("header_only.csv", b"a,b,c\n", "no data rows"),
    ]
    for name, raw, needle in cases:
        at.file_uploader(key="data.upload").set_value((name, raw, "text/csv")).run(timeout=TIMEOUT)
        assert not at.exception, name
        errors = " ".join(texts(at.error))
        assert needle in errors, (name, errors)
        assert any("What to do" in i for i in texts(at.info))
    assert "dataset" not in at.session_state


def test_target_with_one_value_is_explained():
    frame = pd.DataFrame({"x": range(30), "y": ["same"] * 30})
    at = app_at(PAGE)
    at.radio(key="data.source").set_value("Upload a file").run(timeout=TIMEOUT)
    buf = io.BytesIO(frame.to_csv(index=False).encode())
    at.file_uploader(key="data.upload").upload("one.csv", buf.getvalue(), "text/csv").run(timeout=TIMEOUT)
    assert not at.exception
    assert texts(at.error) == [
        "target 'y' has a single value ('same'); a model needs at least two classes or values to learn from."
    ]
