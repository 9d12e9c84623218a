"""Hostile and surprising uploads: compression bombs, missing-value tokens, mixed columns, kind overrides."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zipfile
import zlib

import numpy as np
import pandas as pd
import pytest

from synth_core.data import KINDS, MISSING_TOKENS, infer_schema, load_dataset, load_table, make_dataset
from synth_core.errors import DataError, FileTooLargeError

MB = 2**20


def gzip_of_zeros(megabytes: int, head: bytes = b"a,b\n") -> bytes:
    """A gzip bomb built a megabyte at a time: ``head`` then ``megabytes`` MB of zeros, about 1 KB per MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer
    parts = [packer.compress(head)]
    zeros = bytes(MB)
    parts += [packer.compress(zeros) for _ in range(megabytes)]
    parts.append(packer.flush())
    return b"".join(parts)


# --------------------------------------------------------------------------- compressed uploads


def test_gzip_bomb_is_refused_after_the_limit_not_after_unpacking(monkeypatch):
    bomb = gzip_of_zeros(64)  # 64 MB unpacked
    assert len(bomb) < 200_000
    produced = []
    real_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        out = real_read(self, size)
        produced.append(len(out))
        return out

    monkeypatch.setattr(gzip.GzipFile, "read", counting_read)
    tracemalloc.start()
    try:
        with pytest.raises(FileTooLargeError) as info:
            load_table(bomb, name="bomb.csv.gz", max_bytes=MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        "bomb.csv.gz unpacks to more than 1 MB; the limit is 1 MB unpacked. Upload a "
        "sample of the table (for example 100,000 rows) or a Parquet file."
    )
    assert sum(produced) <= 2 * MB  # stopped one chunk past the limit, not at 64 MB
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB while refusing a 64 MB bomb with a 1 MB limit"


def test_gzip_under_the_limit_loads_and_over_it_is_refused():
    table = b"a,b\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(60_000))  # about 0.6 MB
    assert 0.5 * MB < len(table) < MB
    frame = load_table(gzip.compress(table), name="t.csv.gz", max_bytes=MB)
    assert frame.shape == (60_000, 2) and frame["a"].iloc[-1] == 59_999
    with pytest.raises(FileTooLargeError, match=r"unpacks to more than 512 KB; the limit is 512 KB unpacked"):
        load_table(gzip.compress(table), name="t.csv.gz", max_bytes=MB // 2)


def test_gzip_members_concatenated_and_damaged_gzip():
    two = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n")
    assert load_table(two, name="t.csv.gz")["a"].tolist() == [1, 3]
    damaged = gzip.compress(b"a,b\n" + b"1,2\n" * 1000)
    damaged = damaged[:20] + bytes(b ^ 0xFF for b in damaged[20:40]) + damaged[40:]
    with pytest.raises(DataError, match="looks gzipped but cannot be decompressed"):
        load_table(damaged, name="t.csv.gz")
    with pytest.raises(DataError, match="looks gzipped but cannot be decompressed"):
        load_table(gzip.compress(b"a,b\n1,2\n" * 100)[:-30], name="t.csv.gz")  # cut short


def test_excel_zip_bomb_refused_from_declared_sizes(tmp_path):
    path = tmp_path / "bomb.xlsx"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_excel(path, index=False)
    assert load_table(path, max_bytes=MB).shape == (2, 2)  # an ordinary small workbook is fine
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.xml", bytes(8 * MB))  # 8 MB unpacked, a few KB packed
    assert path.stat().st_size < 100_000
    with pytest.raises(
        FileTooLargeError,
        match=r"bomb.xlsx unpacks to 8 MB of spreadsheet XML; the limit "
        r"for Excel files is 5 MB unpacked\. Save a sample",
    ):
        load_table(path, max_bytes=MB)


def test_parquet_declaring_too_many_cells_is_refused_before_reading():
    buf = io.BytesIO()
    pd.DataFrame({"z": np.zeros(10_000, dtype=np.int64)}).to_parquet(buf)  # about 1.6 KB: run-length coded
    raw = buf.getvalue()
    assert len(raw) < 5_000
    with pytest.raises(
        FileTooLargeError,
        match=r"10,000 rows x 1 columns = 10,000 cells; the limit is 5,000 "
        r"cells",
    ):
        load_table(raw, name="z.parquet", max_bytes=5_000)
    assert len(load_table(raw, name="z.parquet", max_bytes=20_000)) == 10_000


# --------------------------------------------------------------------------- missing-value tokens


def test_missing_tokens_are_explicit():
    assert MISSING_TOKENS[0] == ""
    assert {"NA", "N/A", "n/a", "#N/A", "null", "NULL", "None", "NaN", "nan"} <= set(MISSING_TOKENS)
    assert not {"?", "-", "missing", "none", "NONE"} & set(MISSING_TOKENS)
    assert len(set(MISSING_TOKENS)) == len(MISSING_TOKENS)


def test_tokens_read_as_missing_are_counted_per_column():
    text = "id,score,city,note\n1,n/a,Bern,?\n2,NA,Basel,missing\n3,1.5,null,\n4,n/a,N/A,ok\n5,2.5,,ok\n"
    frame = load_table(text.encode(), name="t.csv")
    assert frame["score"].dtype == np.float64 and frame["score"].isna().sum() == 3
    assert frame["city"].isna().tolist() == [False, False, True, True, True]
    assert frame["note"].tolist()[:2] == ["?", "missing"]  # not tokens: values
    assert frame.attrs["missing_tokens"] == {"score": {"NA": 1, "n/a": 2}, "city": {"N/A": 1, "null": 1}}
    # ordered as MISSING_TOKENS lists them, empty cells not counted, columns without tokens left out
    assert list(frame.attrs["missing_tokens"]["score"]) == ["NA", "n/a"]


def test_no_tokens_gives_an_empty_record_in_every_format(tmp_path):
    plain = load_table(b"a,b\n1,\n2,y\n", name="p.csv")
    assert plain["b"].isna().sum() == 1 and plain.attrs["missing_tokens"] == {}
    buf = io.BytesIO()
    pd.DataFrame({"a": [1.0, None], "b": ["NA", "x"]}).to_parquet(buf)
    typed = load_table(buf.getvalue(), name="p.parquet")
    assert typed["b"].tolist() == ["NA", "x"] and typed.attrs["missing_tokens"] == {}


def test_tokens_in_tsv_gzip_and_excel(tmp_path):
    tsv = load_table(gzip.compress(b"a\tb\n1\tNULL\n2\tx\n3\t#N/A\n"), name="t.tsv.gz")
    assert tsv.attrs["missing_tokens"] == {"b": {"#N/A": 1, "NULL": 1}}
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"a": [1, 2, 3], "b": ["n/a", "x", "None"], "c": [1.0, None, 2.0]}).to_excel(
        path, index=False
    )
    book = load_table(path)
    assert book["b"].isna().tolist() == [True, False, True]
    assert book.attrs["missing_tokens"] == {"b": {"None": 1, "n/a": 1}}


def test_token_counts_survive_the_app_cache_and_slicing():
    import pickle

    frame = load_table(b"a,b\n1,n/a\n2,x\n", name="t.csv")
    assert pickle.loads(pickle.dumps(frame)).attrs["missing_tokens"] == {"b": {"n/a": 1}}
    assert frame.head(1).attrs["missing_tokens"] == {"b": {"n/a": 1}}


def test_data_page_lists_the_tokens_and_where_they_were_found():
    from app_support.testing import TIMEOUT, app_at, texts

    lines = ["k,score,group,label"]
    for i in range(60):
        score = "n/a" if i % 10 == 0 else f"{i / 7:.3f}"
        group = "NA" if i == 5 else f"c{i % 3}"
        lines.append(f"{i},{score},{group},{'yes' if i % 2 else 'no'}")
    raw = ("\n".join(lines) + "\n").encode()
    at = app_at("pages/1_Data.py")
    at.radio(key="data.source").set_value("Upload a file").run(timeout=TIMEOUT)
    at.file_uploader(key="data.upload").upload("tokens.csv", raw, "text/csv").run(timeout=TIMEOUT)
    assert not at.exception
    notes = [c for c in texts(at.caption) if c.startswith("Read as missing")]
    assert len(notes) == 1
    assert "`n/a`" in notes[0] and "`NULL`" in notes[0] and "`?`" not in notes[0]
    assert "In this table: **score** 6 (`n/a` 6); **group** 1 (`NA` 1)." in notes[0]


# --------------------------------------------------------------------------- kinds: page and CLI


def mixed_csv(column: str = "x") -> bytes:
    return (f"{column},y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(50)) + "oops,b\n").encode()


def test_mixed_column_message_names_the_data_page_and_the_cli_option():
    frame = load_table(mixed_csv(), name="m.csv")
    with pytest.raises(DataError) as info:
        infer_schema(frame)
    assert str(info.value) == (
        "column 'x' is mostly numbers but has 1 text value(s) such as 'oops': blank or fix them in the file, or "
        "keep them as categories: on the Data page set the column's kind to categorical, or pass "
        "--kind x=categorical to synth."
    )
    spaced = load_table(mixed_csv("unit price"), name="m.csv")
    with pytest.raises(DataError, match=r"pass --kind 'unit price=categorical' to synth\.$"):
        infer_schema(spaced)


def test_kinds_through_load_dataset_make_dataset_and_infer_schema(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(mixed_csv())
    with pytest.raises(DataError, match="mostly numbers"):
        load_dataset(path, target="y")
    ds = load_dataset(path, target="y", kinds={"x": "categorical"})
    assert ds.schema["x"].kind == "categorical" and "oops" in ds.schema["x"].categories
    frame = load_table(path)
    assert make_dataset(frame, target="y", kinds={"x": "categorical"}).schema["x"].kind == "categorical"
    assert infer_schema(frame, kinds={"x": "categorical"})["x"].kind == "categorical"
    assert infer_schema(frame, overrides={"x": "text"}, kinds={"x": "categorical"})["x"].kind == "categorical"


def test_kinds_win_over_a_given_schema_and_keep_its_roles():
    frame = pd.DataFrame({"code": [1, 2, 3, 4] * 10, "x": np.arange(40.0), "y": ["a", "b"] * 20})
    schema = infer_schema(frame, target="y").replace_column("x", role="ignore")
    assert schema["code"].kind == "integer"
    ds = make_dataset(frame, target="y", schema=schema, kinds={"code": "categorical", "x": "numeric"})
    assert ds.schema["code"].kind == "categorical" and ds.schema["code"].categories == (1, 2, 3, 4)
    assert ds.schema["code"].role == "feature" and ds.schema["x"].role == "ignore"


@pytest.mark.parametrize(
    "kinds, message",
    [
        ({"nope": "categorical"}, "a kind is set for unknown column 'nope'; the columns are 'x', 'y'."),
        ({"a": "text", "b": "text"}, "a kind is set for unknown columns 'a', 'b'; the columns are 'x', 'y'."),
        (
            {"x": "category"},
            "kind 'category' for column 'x' is not a kind: choose one of " + ", ".join(KINDS) + ".",
        ),
    ],
)
def test_bad_kinds_list_the_valid_choices(kinds, message):
    frame = pd.DataFrame({"x": range(20), "y": ["a", "b"] * 10})
    for call in (
        lambda: infer_schema(frame, kinds=kinds),
        lambda: make_dataset(frame, target="y", kinds=kinds),
        lambda: load_dataset(frame.to_csv(index=False).encode(), name="f.csv", target="y", kinds=kinds),
    ):
        with pytest.raises(DataError) as info:
            call()
        assert str(info.value) == message
