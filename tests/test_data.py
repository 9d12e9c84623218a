import gzip
import io

import numpy as np
import pandas as pd
import pytest

from synth_core.data import (
    ColumnSpec,
    Schema,
    infer_schema,
    load_dataset,
    load_table,
    make_dataset,
    split_indices,
    summarize,
)
from synth_core.errors import DataError, FileTooLargeError, SynthError
from synth_core.samples import SAMPLES, sample_path

from .conftest import shared_dataset


def test_csv_semicolon_latin1_and_bom():
    text = "name;value;city\nA;1,5;Zürich\nB;2;Genève\n" * 5
    frame = load_table(text.encode("latin-1"), name="x.csv")
    assert list(frame.columns) == ["name", "value", "city"]
    assert "Zürich" in set(frame["city"])
    bom = "\ufeffa,b\n1,2\n3,4\n".encode("utf-8")
    assert list(load_table(bom, name="bom.csv").columns) == ["a", "b"]


def test_tsv_gzip_file_like_and_path(tmp_path):
    raw = b"a\tb\n1\tx\n2\ty\n"
    assert load_table(io.BytesIO(raw), name="t.tsv").shape == (2, 2)
    assert load_table(gzip.compress(raw), name="t.tsv.gz").shape == (2, 2)
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    assert load_table(path).shape == (1, 2)


def test_parquet_and_excel_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    buf = io.BytesIO()
    frame.to_parquet(buf)
    pd.testing.assert_frame_equal(load_table(buf.getvalue(), name="f.parquet"), frame)
    xlsx = tmp_path / "f.xlsx"
    frame.to_excel(xlsx, index=False)
    pd.testing.assert_frame_equal(load_table(xlsx), frame)


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b"", "empty"),
        (b"   \n  \n", "empty"),
        (b"a,b,c\n", "no data rows"),
        (bytes(range(256)) * 40, "not a text table"),
        (b"a,,c\n1,2,3\n", "blank column names"),
        (b"a,b,a\n1,2,3\n", "repeats column name"),
        (b"PAR1garbage", "Parquet"),
        (b"PK\x03\x04garbage", "Excel"),
    ],
)
def test_bad_files_raise_data_error_that_says_what_to_do(raw, needle):
    with pytest.raises(DataError, match=needle):
        load_table(raw, name="upload.csv")


def test_large_file_refused_before_parsing(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(FileTooLargeError, match="limit is"):
        load_table(path, max_bytes=1000)
    with pytest.raises(FileTooLargeError, match="limit is"):
        load_table(io.BytesIO(b"x" * 2001), name="u.csv", max_bytes=2000)


def test_200_mb_upload_refused_early():
    class Stream(io.RawIOBase):
        """Pretends to be a 200 MB upload without holding it in memory."""

        def __init__(self):
            self.read_calls = []

        def read(self, n=-1):
            self.read_calls.append(n)
            return b"a" * min(n, 101 * 1024 * 1024)

    stream = Stream()
    with pytest.raises(FileTooLargeError, match="100 MB"):
        load_table(stream, name="huge.csv")
    assert stream.read_calls == [100 * 1024 * 1024 + 1]


def test_mixed_types_in_a_column():
    text = "x,y\n" + "".join(f"{i},a\n" for i in range(50)) + "oops,b\n"
    frame = load_table(text.encode(), name="m.csv")
    with pytest.raises(DataError, match="mostly numbers.*'oops'"):
        infer_schema(frame)
    schema = infer_schema(frame, overrides={"x": "categorical"})
    assert schema["x"].kind == "categorical"


def test_infer_schema_kinds_roles_flags(mixed_frame):
    frame = mixed_frame.assign(
        const=1,
        row_id=range(len(mixed_frame)),
        day=pd.date_range("2020-01-01", periods=len(mixed_frame)).astype(str),
    )
    schema = infer_schema(frame, target="y")
    kinds = {c.name: c.kind for c in schema}
    assert kinds == {
        "x0": "numeric",
        "color": "categorical",
        "age": "integer",
        "flag": "boolean",
        "y": "categorical",
        "const": "integer",
        "row_id": "id",
        "day": "datetime",
    }
    assert schema["y"].role == "target" and schema.target == "y"
    assert "constant" in schema["const"].flags and schema["const"].role == "ignore"
    assert "id-like" in schema["row_id"].flags
    assert schema["x0"].missing_rate == pytest.approx(15 / 300)
    assert schema["color"].categories == ("blue", "green", "red")
    assert 18 <= schema["age"].min <= schema["age"].max <= 79
    assert Schema.from_dict(schema.to_dict()) == schema


def test_split_is_deterministic_stratified_60_20_20(mixed_frame):
    ds = make_dataset(mixed_frame, target="y", seed=3, protocol="paper")
    again = make_dataset(mixed_frame, target="y", seed=3, protocol="paper")
    assert (ds.train_idx == again.train_idx).all() and (ds.test_idx == again.test_idx).all()
    assert (len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)) == (180, 60, 60)
    assert not set(ds.train_idx) & set(ds.test_idx) and not set(ds.val_idx) & set(ds.test_idx)
    share = (mixed_frame["y"] == "yes").mean()
    for part in (ds.train, ds.val, ds.test):
        assert (part["y"] == "yes").mean() == pytest.approx(share, abs=0.03)
    other = make_dataset(mixed_frame, target="y", seed=4, protocol="paper")
    assert set(other.test_idx) != set(ds.test_idx)


def test_crossfit_uses_every_row_unless_a_test_share_is_held_out(mixed_frame):
    ds = make_dataset(mixed_frame, target="y", seed=3)
    assert ds.protocol == "crossfit" and (len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)) == (300, 0, 0)
    held = make_dataset(mixed_frame, target="y", seed=3, test_size=0.2)
    assert (len(held.train_idx), len(held.val_idx), len(held.test_idx)) == (240, 0, 60)
    assert (held.test["y"] == "yes").mean() == pytest.approx((mixed_frame["y"] == "yes").mean(), abs=0.03)
    with pytest.raises(DataError, match="no validation rows"):
        make_dataset(mixed_frame, target="y", val_share=0.25)
    with pytest.raises(DataError, match="protocol must be one of crossfit, paper"):
        make_dataset(mixed_frame, target="y", protocol="kfold")


def test_task_inference_and_override(mixed_frame):
    assert make_dataset(mixed_frame, target="y").task == "classification"
    assert make_dataset(mixed_frame, target="x0").task == "regression"
    assert make_dataset(mixed_frame, target="age", task="regression").task == "regression"
    with pytest.raises(DataError, match="not numeric"):
        make_dataset(mixed_frame, target="color", task="regression")


@pytest.mark.parametrize(
    "frame, target, needle",
    [
        (pd.DataFrame({"a": range(30), "t": ["x"] * 30}), "t", "single value"),
        (pd.DataFrame({"a": range(30), "t": [np.nan] * 30}), "t", "empty in every row"),
        (pd.DataFrame({"a": [1], "t": ["x"]}), "t", "at least 10"),
        (pd.DataFrame({"a": range(30), "t": [0, 1] * 15}), "nope", "not a column"),
    ],
)
def test_bad_targets(frame, target, needle):
    with pytest.raises(DataError, match=needle):
        make_dataset(frame, target=target)


def test_500_columns_work():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 500)), columns=[f"c{i}" for i in range(500)])
    frame["t"] = rng.integers(0, 2, 60)
    ds = make_dataset(frame, target="t")
    assert len(ds.features) == 500 and ds.task == "classification"


def test_errors_are_synth_errors():
    assert issubclass(FileTooLargeError, SynthError) and issubclass(DataError, ValueError)


def test_bundled_samples_load():
    assert len(SAMPLES) >= 2
    for fname, target in SAMPLES.values():
        path = sample_path(fname)
        assert path.stat().st_size < 1_000_000
        ds = load_dataset(path, target=target)
        assert len(ds.train) > 100
        assert set(summarize(ds)["column"]) == set(ds.frame.columns)


def test_adult_schema_from_shared_file():
    ds = load_dataset(shared_dataset("adult.csv.gz"), target="income")
    assert ds.task == "classification" and ds.schema["workclass"].kind == "categorical"
    assert ds.schema["workclass"].missing_rate > 0
    assert len(ds.train) + len(ds.val) + len(ds.test) == 48842


def test_split_indices_small_class_falls_back():
    y = pd.Series(["a"] * 20 + ["b"] * 2)
    train, val, test = split_indices(y, "classification", seed=0)
    assert len(train) + len(val) + len(test) == 22


def test_column_spec_roundtrip():
    spec = ColumnSpec("a", "categorical", categories=("x", "y"), flags=("constant",))
    assert ColumnSpec.from_dict(spec.to_dict()) == spec


def test_schema_statistics_never_see_test_rows():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200), "y": rng.integers(0, 2, 200)}
    )
    for split in ({"protocol": "paper"}, {"test_size": 0.2}):
        ds = make_dataset(frame, target="y", seed=0, **split)
        poisoned = frame.copy()
        poisoned.loc[ds.test_idx[0], "x"] = 1e6
        poisoned.loc[ds.test_idx[1], "c"] = "only-in-test"
        ds2 = make_dataset(poisoned, target="y", seed=0, **split)
        assert (ds2.test_idx == ds.test_idx).all()
        assert ds2.schema["x"].max < 1e6 and "only-in-test" not in ds2.schema["c"].categories
        assert ds2.schema == ds.schema


def test_many_classes_in_a_small_table_split_without_crashing():
    frame = pd.DataFrame({"x": range(60), "y": [f"k{i % 20}" for i in range(60)]})
    ds = make_dataset(frame, target="y", seed=0)
    assert len(ds.train_idx) + len(ds.val_idx) + len(ds.test_idx) == 60


def test_custom_split_shares():
    frame = pd.DataFrame({"x": range(100), "y": [0, 1] * 50})
    ds = make_dataset(frame, target="y", seed=0, protocol="paper", test_size=0.3, val_share=0.5)
    assert (len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)) == (35, 35, 30)
