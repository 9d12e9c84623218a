"""Load tables, infer their schema, choose target and task, and split them.

A :class:`Dataset` carries everything later steps need: the frame, its
:class:`Schema`, the target column, the task, the protocol and the row positions.

Two protocols (``../shared/DESIGN.md``, "Every real row counts"):

- ``crossfit`` (the product's default): every row is given to the product
  (``train_idx``); decisions that need held-out rows are cross-fitted over
  folds of them (:mod:`synth_core.crossfit`), so no row is spent on validation.
  A person may hold out a test share (``test_size``, off by default) for a final
  report; there are no validation rows.
- ``paper``: DATE's research protocol, 20% test, then 25% of the rest as
  validation (stratified for classification, one seed), as in
  ``../shared/datasets/BASELINES.md``, so published figures stay comparable.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"x": range(40), "y": ["a", "b"] * 20})
>>> ds = make_dataset(df, target="y", seed=0)
>>> ds.protocol, ds.task, len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)
('crossfit', 'classification', 40, 0, 0)
>>> ds = make_dataset(df, target="y", seed=0, protocol="paper")
>>> len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)
(24, 8, 8)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import shlex
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ._frames import concat_rows
from .errors import DataError, FileTooLargeError

__all__ = [
    "ColumnSpec",
    "Schema",
    "Dataset",
    "load_table",
    "infer_schema",
    "infer_task",
    "make_dataset",
    "split_indices",
    "DEFAULT_MAX_BYTES",
    "MIN_ROWS",
    "MISSING_TOKENS",
    "KINDS",
]

ColumnKind = Literal["numeric", "integer", "categorical", "boolean", "datetime", "text", "id"]
Task = Literal["classification", "regression"]
KINDS = ("numeric", "integer", "categorical", "boolean", "datetime", "text", "id")
ROLES = ("feature", "target", "ignore")
PROTOCOLS = ("crossfit", "paper")

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MIN_ROWS = 10
#: Cell texts read as a missing value in CSV, TSV and Excel files: the empty cell and the tokens
#: spreadsheets and databases write for "no value". pandas' own defaults, listed here so the list
#: is fixed, shown on the Data page, and does not change with the pandas version. Any other text
#: (``?``, ``-``, ``missing``) stays a value. How many cells each token turned into missing is in
#: ``frame.attrs["missing_tokens"]`` of a :func:`load_table` result.
MISSING_TOKENS = (
    "",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "<NA>",
    "NULL",
    "null",
    "None",
    "NaN",
    "nan",
    "-NaN",
    "-nan",
    "1.#IND",
    "-1.#IND",
    "1.#QNAN",
    "-1.#QNAN",
)
_TEXT_TOKENS = [t for t in MISSING_TOKENS if t]
#: An Excel file is a zip of XML, several times larger than the same table as CSV: its unpacked
#: members may hold this many times the size limit (and at least _XML_FLOOR, for the boilerplate).
_XML_FACTOR = 5
_XML_FLOOR = 2**20
_CHUNK = 1024 * 1024
MAX_CATEGORIES = 200
_TEXT_SAMPLE = 256 * 1024
_ID_NAME = re.compile(r"(^|_|\b)(id|uuid|key|index)$", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a table as inferred (and possibly corrected by a person).

    Attributes
    ----------
    name : str
    kind : {'numeric', 'integer', 'categorical', 'boolean', 'datetime', 'text', 'id'}
    role : {'feature', 'target', 'ignore'}
    min, max : float or None
        Observed range of numeric and integer columns.
    categories : tuple
        Observed values of categorical and boolean columns, sorted (at most 200 kept), and of
        integer columns with at most 20 distinct values (class codes, levels).
    missing_rate : float
        Share of missing cells.
    n_unique : int
        Distinct non-missing values.
    decimals : int
        Most decimals seen in a numeric column (capped at 6), for formatting.
    flags : tuple of str
        ``'id-like'`` and / or ``'constant'`` when they apply.
    """

    name: str
    kind: str
    role: str = "feature"
    min: float | None = None
    max: float | None = None
    categories: tuple = ()
    missing_rate: float = 0.0
    n_unique: int = 0
    decimals: int = 0
    flags: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("numeric", "integer")

    @property
    def is_categorical(self) -> bool:
        return self.kind in ("categorical", "boolean")

    def to_dict(self) -> dict:
        d = {s: getattr(self, s) for s in self.__slots__}
        d["categories"] = [_jsonable(v) for v in self.categories]
        d["flags"] = list(self.flags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ColumnSpec:
        d = dict(d)
        d["categories"] = tuple(d.get("categories", ()))
        d["flags"] = tuple(d.get("flags", ()))
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Schema:
    """Ordered column specs of one table."""

    columns: tuple[ColumnSpec, ...]

    def __getitem__(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(col.name == name for col in self.columns)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def target(self) -> str | None:
        return next((c.name for c in self.columns if c.role == "target"), None)

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "feature"]

    def replace_column(self, name: str, **changes) -> Schema:
        """Return a copy with one column's spec changed (kind, role, ...)."""
        self[name]  # raises KeyError for unknown names
        return Schema(tuple(replace(c, **changes) if c.name == name else c for c in self.columns))

    def to_dict(self) -> dict:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> Schema:
        return cls(tuple(ColumnSpec.from_dict(c) for c in d["columns"]))


@dataclass(frozen=True)
class Dataset:
    """A table ready for discovery and generation.

    ``train_idx``, ``val_idx`` and ``test_idx`` are row positions in ``frame``.
    Under the ``crossfit`` protocol ``train_idx`` holds every row given to the product and
    ``val_idx`` is empty (a fold of the cross-fitted checks is a Dataset whose ``val_idx`` is
    the held-out fold). Test rows are for the final score only.
    """

    frame: pd.DataFrame
    schema: Schema
    target: str
    task: str
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    seed: int = 0
    name: str = "table"
    fingerprint: str = field(default="", compare=False)
    protocol: str = "crossfit"
    #: Rows of the upload whose target is missing: no model learns from them, but they are the
    #: analyst's rows and come back in the augmented export (index: their position in the upload).
    unlabelled: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    #: Position in the upload of each row of ``frame`` (None: the same order, nothing dropped).
    origin: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def train(self) -> pd.DataFrame:
        return self.frame.iloc[self.train_idx]

    @property
    def val(self) -> pd.DataFrame:
        return self.frame.iloc[self.val_idx]

    @property
    def test(self) -> pd.DataFrame:
        return self.frame.iloc[self.test_idx]

    @property
    def given_idx(self) -> np.ndarray:
        """Every row the product may learn from or check on: train and validation, never test."""
        return np.concatenate([np.asarray(self.train_idx, dtype=int), np.asarray(self.val_idx, dtype=int)])

    @property
    def given(self) -> pd.DataFrame:
        return self.frame.iloc[self.given_idx]

    def same_as(self, other) -> bool:
        """True when ``other`` is the same table used the same way: same rows, schema, target, task,
        protocol and split (rules and runs made for one still apply to the other)."""
        return (
            other is not None
            and self.fingerprint == other.fingerprint
            and self.schema == other.schema
            and self.target == other.target
            and self.task == other.task
            and self.protocol == other.protocol
            and self.seed == other.seed
            and np.array_equal(self.train_idx, other.train_idx)
            and np.array_equal(self.val_idx, other.val_idx)
            and np.array_equal(self.test_idx, other.test_idx)
        )

    def uploaded(self) -> pd.DataFrame:
        """Every row of the upload in its order, rows without a target included (index 0..n-1)."""
        if self.unlabelled is None or not len(self.unlabelled):
            return self.frame.reset_index(drop=True)
        labelled = self.frame.set_axis(self.origin if self.origin is not None else np.arange(len(self.frame)))
        both = concat_rows([labelled, self.unlabelled[self.frame.columns]])
        return both.sort_index(kind="stable").reset_index(drop=True)

    @property
    def features(self) -> list[str]:
        return [c for c in self.schema.features if c != self.target]

    @property
    def classes(self) -> list:
        if self.task != "classification":
            return []
        return sorted(self.frame[self.target].dropna().unique().tolist(), key=_sort_key)

    def with_train(self, train_idx: np.ndarray, val_idx: np.ndarray | None = None) -> Dataset:
        """Same table and test rows, other train (and validation) rows: for low-data regimes."""
        return replace(
            self,
            train_idx=np.asarray(train_idx),
            val_idx=self.val_idx if val_idx is None else np.asarray(val_idx),
        )


# --------------------------------------------------------------------------- loading


def load_table(source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> pd.DataFrame:
    """Read a CSV / TSV (optionally gzipped), Parquet or Excel table.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    name : str, optional
        File name used to pick the format when ``source`` has none (uploads).
    max_bytes : int
        Files larger than this are refused before parsing. A gzipped file is unpacked in chunks
        and refused as soon as it passes ``max_bytes`` unpacked; an Excel file whose XML would
        unpack to more than 5 x ``max_bytes`` (at least 1 MB), and a Parquet file that declares
        more than ``max_bytes`` cells (rows x columns), are refused before they are read.

    Returns
    -------
    pandas.DataFrame
        ``frame.attrs["missing_tokens"]`` maps each column where text in :data:`MISSING_TOKENS`
        (other than the empty cell) was read as missing to ``{token: number of cells}``; it is
        ``{}`` when there were none, and always ``{}`` for Parquet.

    Raises
    ------
    FileTooLargeError, DataError
    """
    raw, name = _read_bytes(source, name, max_bytes)
    if not raw:
        raise DataError(f"{name or 'the file'} is empty: choose a file with a header row and data rows.")
    lower = (name or "").lower()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, name, max_bytes)
        lower = lower.removesuffix(".gz")
        if not raw:
            raise DataError(f"{name or 'the file'} is empty: choose a file with a header row and data rows.")
    tokens: dict = {}
    if raw[:4] == b"PAR1" or lower.endswith(".parquet"):
        frame = _read_parquet(raw, name, max_bytes)
    elif raw[:2] == b"PK" or lower.endswith((".xlsx", ".xls", ".xlsm")):
        frame, tokens = _read_excel(raw, name, max_bytes)
    else:
        frame, tokens = _read_text(raw, name, tab=lower.endswith(".tsv"))
    frame = _check_frame(frame, name)
    frame.attrs["missing_tokens"] = tokens
    return frame


def _read_bytes(source, name, max_bytes) -> tuple[bytes, str | None]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"{path} does not exist: check the path.")
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(_too_large(path.name, size, max_bytes))
        return path.read_bytes(), name or path.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif hasattr(source, "read"):
        name = name or getattr(source, "name", None)
        raw = source.read(max_bytes + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    else:
        raise DataError(f"cannot read a table from {type(source).__name__}; pass a path, bytes or a file.")
    if len(raw) > max_bytes:
        raise FileTooLargeError(_too_large(name or "the file", len(raw), max_bytes))
    return raw, name


def _too_large(name, size, limit) -> str:
    return (
        f"{name} is {_size(size)}; the limit is {_size(limit)}. "
        "Upload a sample of the table (for example 100,000 rows) or a Parquet file."
    )


def _size(n: int) -> str:
    """``100 MB``, ``1.5 MB`` or ``977 KB``: a byte count as a person reads it."""
    if n >= 10 * 2**20:
        return f"{n / 2**20:.0f} MB"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB".replace(".0 MB", " MB")
    return f"{max(n / 2**10, 1):.0f} KB"


def _gunzip(raw: bytes, name, limit: int) -> bytearray:
    """Unpack gzip ``raw`` a chunk at a time, refused as soon as it passes ``limit`` bytes.

    Memory stays about ``limit`` whatever the file unpacks to (a gzip bomb of a few KB can
    unpack to gigabytes). Concatenated gzip members are read as one stream, like ``gunzip``.
    """
    label = name or "the file"
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while chunk := gz.read(_CHUNK):
                if len(out) + len(chunk) > limit:
                    raise FileTooLargeError(
                        f"{label} unpacks to more than {_size(limit)}; the limit is {_size(limit)} unpacked. "
                        "Upload a sample of the table (for example 100,000 rows) or a Parquet file."
                    )
                out += chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{label} looks gzipped but cannot be decompressed ({exc}); "
            "upload the file unpacked or gzip it again."
        ) from exc
    return out


def _check_zip(raw, name, limit: int) -> None:
    """Refuse a zip (an .xlsx) whose members would unpack to more than ``limit`` bytes.

    The sizes are the ones the zip declares; :mod:`zipfile` never unpacks a member past its
    declared size, so they bound what the Excel reader can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip (an old .xls, or damaged): the Excel reader explains
    if unpacked > limit:
        raise FileTooLargeError(
            f"{name or 'the file'} unpacks to {_size(unpacked)} of spreadsheet XML; the limit for Excel files "
            f"is {_size(limit)} unpacked. Save a sample of the table (for example 100,000 rows) as CSV or "
            "Parquet and upload that."
        )


def _decode(raw: bytes, name) -> str:
    head = raw[:_TEXT_SAMPLE]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise DataError(
            f"{name or 'the file'} is not a text table (it looks binary): "
            "upload a CSV, TSV, Parquet or Excel file."
        )
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{name or 'the file'} could not be decoded as text.")  # pragma: no cover


def _control_share(head: bytes) -> float:
    if not head:
        return 0.0
    bad = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return bad / len(head)


def _read_text(raw, name, tab: bool) -> tuple[pd.DataFrame, dict]:
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(f"{name or 'the file'} is empty: choose a file with a header row and data rows.")
    sample = text[:_TEXT_SAMPLE]
    if tab:
        sep = "\t"
    else:
        try:
            sep = (
                csv.Sniffer()
                .sniff(
                    sample.split("\n", 50)[0]
                    if sample.count("\n") < 2
                    else "\n".join(sample.split("\n")[:50]),
                    delimiters=",;\t|",
                )
                .delimiter
            )
        except csv.Error:
            sep = ","
    header = next(csv.reader(io.StringIO(sample), delimiter=sep), [])
    _check_header(header, name)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            skipinitialspace=True,
            low_memory=False,
            keep_default_na=False,
            na_values=list(MISSING_TOKENS),
            float_precision="round_trip",
        )
        tokens = _token_counts(
            frame,
            lambda cols: pd.read_csv(
                io.StringIO(text),
                sep=sep,
                skipinitialspace=True,
                usecols=cols,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                chunksize=200_000,
            ),
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"{name or 'the file'} is not a well-formed table: {exc}. "
            "Check that every row has the same number of fields."
        ) from exc
    return frame, tokens


def _token_counts(frame: pd.DataFrame, read_raw) -> dict[str, dict[str, int]]:
    """``{column: {token: cells}}`` for the text tokens read as missing in ``frame``.

    ``read_raw(positions)`` reads those columns again as raw text (an iterable of frames); it is
    called only when a column has missing cells, so tables without any are read once.
    """
    positions = [i for i, col in enumerate(frame.columns) if frame[col].isna().any()]
    if not positions:
        return {}
    counts: dict[str, dict[str, int]] = {}
    for chunk in read_raw(positions):
        for col in chunk.columns:
            values = chunk[col]
            hits = values[values.isin(_TEXT_TOKENS)]
            for token, n in hits.value_counts(sort=False).items():
                per = counts.setdefault(str(col).strip(), {})
                per[token] = per.get(token, 0) + int(n)
    return {
        col: dict(sorted(per.items(), key=lambda kv: MISSING_TOKENS.index(kv[0])))
        for col, per in counts.items()
    }


def _check_header(header: list[str], name) -> None:
    names = [h.strip() for h in header]
    blanks = [i + 1 for i, h in enumerate(names) if not h]
    if blanks:
        raise DataError(
            f"{name or 'the file'} has blank column names at position(s) "
            f"{', '.join(map(str, blanks))}: give every column a name in the header row."
        )
    seen, dupes = set(), []
    for h in names:
        if h in seen and h not in dupes:
            dupes.append(h)
        seen.add(h)
    if dupes:
        raise DataError(
            f"{name or 'the file'} repeats column name(s) {', '.join(map(repr, dupes))}: "
            "rename them so each column has its own name."
        )


def _read_parquet(raw, name, max_bytes: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(raw)).metadata
        cells = int(meta.num_rows) * int(meta.num_columns)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{name or 'the file'} is not a readable Parquet file ({exc}).") from exc
    if cells > max_bytes:  # a CSV needs at least a byte per cell: the same table would be over the limit
        raise FileTooLargeError(
            f"{name or 'the file'} holds {meta.num_rows:,} rows x {meta.num_columns:,} columns = {cells:,} cells; "
            f"the limit is {max_bytes:,} cells (one per byte of the {_size(max_bytes)} limit). "
            "Upload a sample of the table (for example 100,000 rows)."
        )
    try:
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{name or 'the file'} is not a readable Parquet file ({exc}).") from exc


def _read_excel(raw, name, max_bytes: int) -> tuple[pd.DataFrame, dict]:
    _check_zip(raw, name, max(max_bytes * _XML_FACTOR, _XML_FLOOR))
    try:
        frame = pd.read_excel(io.BytesIO(raw), keep_default_na=False, na_values=list(MISSING_TOKENS))
        tokens = _token_counts(
            frame, lambda cols: [pd.read_excel(io.BytesIO(raw), usecols=cols, dtype=object, na_filter=False)]
        )
    except Exception as exc:  # openpyxl / zipfile raise many types for corrupt files
        raise DataError(
            f"{name or 'the file'} is not a readable Excel file ({exc}); "
            "save it as .xlsx or CSV and try again."
        ) from exc
    _check_header([str(c) if not str(c).startswith("Unnamed:") else "" for c in frame.columns], name)
    return frame, tokens


def _check_frame(frame: pd.DataFrame, name) -> pd.DataFrame:
    label = name or "the file"
    if frame.shape[1] == 0:
        raise DataError(f"{label} has no columns: the first line must be a header row.")
    names = [str(c).strip() for c in frame.columns]
    if len(set(names)) != len(names):
        _check_header(names, name)
    frame.columns = names
    if len(frame) == 0:
        raise DataError(f"{label} has a header but no data rows: add rows below the header.")
    for col in frame.columns:
        if pd.api.types.is_object_dtype(frame[col]) or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].map(lambda v: v.strip() if isinstance(v, str) else v)
            frame[col] = frame[col].replace({"": np.nan})
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- schema


def infer_schema(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    kinds: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
) -> Schema:
    """Infer one :class:`ColumnSpec` per column.

    ``kinds`` maps column names to a kind (one of :data:`KINDS`) and wins over inference, as
    ``--kind COL=KIND`` does in the CLI and the kind column does on the Data page.
    ``overrides`` is the older name of the same argument; both may be given (``kinds`` wins).

    Raises
    ------
    DataError
        When a column mixes numbers and text in a way that needs a person's
        decision (the message names the column and how to resolve it), or when
        ``kinds`` names an unknown column or kind (the message lists the valid ones).
    """
    overrides = {**(overrides or {}), **(kinds or {})}
    check_kinds(overrides, frame.columns)
    if target is not None and target not in frame.columns:
        raise DataError(
            f"target {target!r} is not a column; columns are {', '.join(map(str, frame.columns))}."
        )
    specs = []
    for col in frame.columns:
        spec = _infer_column(frame[col], overrides.get(col))
        if col == target:
            spec = replace(spec, role="target")
        specs.append(spec)
    return Schema(tuple(specs))


def check_kinds(kinds: dict[str, str], columns) -> None:
    """Raise :class:`DataError` when ``kinds`` names a column not in ``columns`` or a kind not in :data:`KINDS`.

    >>> check_kinds({"x": "categorical"}, ["x", "y"])
    >>> check_kinds({"z": "categorical"}, ["x", "y"])
    Traceback (most recent call last):
    ...
    synth_core.errors.DataError: a kind is set for unknown column 'z'; the columns are 'x', 'y'.
    """
    columns = [str(c) for c in columns]
    unknown = [c for c in kinds if c not in columns]
    if unknown:
        shown = ", ".join(map(repr, columns[:30])) + (
            f", ... ({len(columns)} in all)" if len(columns) > 30 else ""
        )
        raise DataError(
            f"a kind is set for unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; the columns are {shown}."
        )
    bad = {c: k for c, k in kinds.items() if k not in KINDS}
    if bad:
        raise DataError(
            "; ".join(f"kind {k!r} for column {c!r} is not a kind" for c, k in bad.items())
            + f": choose one of {', '.join(KINDS)}."
        )


__all__.append("check_kinds")


def _infer_column(s: pd.Series, kind: str | None) -> ColumnSpec:
    name = str(s.name)
    values = s.dropna()
    n = len(s)
    missing = float(1 - len(values) / n) if n else 0.0
    n_unique = int(values.nunique())
    flags = ("constant",) if n_unique <= 1 else ()
    kind = kind or _guess_kind(s, values, n_unique)
    spec = ColumnSpec(name=name, kind=kind, missing_rate=round(missing, 6), n_unique=n_unique)
    if kind in ("numeric", "integer"):
        num = pd.to_numeric(values, errors="coerce").dropna()
        if len(num):
            spec = replace(
                spec,
                min=float(num.min()),
                max=float(num.max()),
                decimals=0 if kind == "integer" else _decimals(num),
            )
        if kind == "integer" and 0 < n_unique <= 20:  # codes (classes, levels): keep the values seen
            spec = replace(spec, categories=tuple(int(v) for v in sorted(num.unique())))
    elif kind in ("categorical", "boolean"):
        cats = sorted(values.unique().tolist(), key=_sort_key)[:MAX_CATEGORIES]
        spec = replace(spec, categories=tuple(_py(v) for v in cats))
    if kind == "id":
        flags = flags + ("id-like",)
    if kind in ("id", "text", "datetime") or "constant" in flags:
        spec = replace(spec, role="ignore")
    return replace(spec, flags=flags)


def _rekind(spec: ColumnSpec, values: pd.Series, kind: str) -> ColumnSpec:
    """``spec`` as ``kind``: inferred again as that kind; a target or ignored column keeps its role."""
    fresh = _infer_column(values, kind)
    return replace(fresh, role=spec.role) if spec.role in ("target", "ignore") else fresh


def _restat(spec: ColumnSpec, values: pd.Series) -> ColumnSpec:
    """``spec`` with its statistics recomputed on ``values``; kind and role stay as they are."""
    try:
        fresh = _infer_column(values, spec.kind)
    except DataError:  # pragma: no cover - the kind was already accepted on the whole column
        return spec
    return replace(fresh, role=spec.role)


def _guess_kind(s: pd.Series, values: pd.Series, n_unique: int) -> str:
    n = len(values)
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s):
        integral = pd.api.types.is_integer_dtype(s) or bool(n and np.all(np.mod(values, 1) == 0))
        if integral and n >= 20 and n_unique == n and _ID_NAME.search(str(s.name)):
            return "id"
        return "integer" if integral else "numeric"
    # object / string columns
    strings = values.astype(str)
    lowered = set(strings.str.lower().unique())
    if n and lowered == {"true", "false"}:
        return "boolean"
    numeric = pd.to_numeric(strings, errors="coerce")
    n_num = int(numeric.notna().sum())
    if n and n_num == n:
        return "integer" if bool(np.all(np.mod(numeric, 1) == 0)) else "numeric"
    if n and n_num >= 0.9 * n:
        bad = strings[numeric.isna()].unique()[:3].tolist()
        raise DataError(
            f"column {s.name!r} is mostly numbers but has {n - n_num} text value(s) such as "
            f"{', '.join(map(repr, bad))}: blank or fix them in the file, or keep them as categories: "
            f"on the Data page set the column's kind to categorical, or pass "
            f"--kind {shlex.quote(f'{s.name}=categorical')} to synth."
        )
    if n and strings.head(200).str.match(_DATE_LIKE).all():
        return "datetime"
    if n_unique <= max(MAX_CATEGORIES, 0) and n_unique < max(2, 0.5 * n) or n_unique <= 20:
        return "categorical"
    if n_unique == n and n >= 20:
        avg_len = strings.str.len().mean()
        return "text" if avg_len > 30 and strings.str.contains(" ").mean() > 0.5 else "id"
    return "text" if strings.str.len().mean() > 30 else "categorical"


def _decimals(num: pd.Series) -> int:
    sample = num.head(500).to_numpy(dtype=float)
    best = 0
    for d in range(7):
        if np.allclose(sample, np.round(sample, d), rtol=0, atol=1e-9):
            return d
        best = d
    return best


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _jsonable(v):
    v = _py(v)
    return v


def _sort_key(v):
    return (
        (0, float(v), "") if isinstance(v, (int, float, np.integer, np.floating, bool)) else (1, 0.0, str(v))
    )


def infer_task(series: pd.Series, spec: ColumnSpec | None = None) -> str:
    """``'classification'`` for categorical, boolean and few-valued integer targets, else ``'regression'``."""
    values = series.dropna()
    kind = spec.kind if spec else _guess_kind(series, values, int(values.nunique()))
    if kind in ("categorical", "boolean", "text", "id"):
        return "classification"
    if kind == "integer" and values.nunique() <= 20:
        return "classification"
    return "regression"


# --------------------------------------------------------------------------- dataset


def split_indices(
    y: pd.Series, task: str, seed: int = 0, test_size: float = 0.2, val_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test positions: test first (stratified), then validation from the rest, one
    seed (60/20/20 by default). A share of 0 leaves that part empty."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    if test_size <= 0 and val_share <= 0:
        return positions, positions[:0], positions[:0]
    strat = y.to_numpy() if task == "classification" else None
    if strat is not None:
        counts = pd.Series(strat).value_counts()
        n_test = int(np.ceil(test_size * len(y)))
        n_val = int(np.ceil(val_share * (len(y) - n_test)))
        if counts.min() < 3 or min(k for k in (n_test, n_val) if k > 0) < len(counts):
            strat = None  # a class too small (or too many classes) to stratify: plain random split
    try:
        if test_size > 0:
            rest, test = train_test_split(positions, test_size=test_size, random_state=seed, stratify=strat)
        else:
            rest, test = positions, positions[:0]
        strat_rest = strat[rest] if strat is not None else None
        if val_share > 0:
            train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=strat_rest)
        else:
            train, val = rest, rest[:0]
    except ValueError as exc:
        raise DataError(
            f"cannot split {len(y)} rows into train, validation and test rows ({exc}); "
            "use more rows or other split shares."
        ) from exc
    return np.asarray(train), np.asarray(val), np.asarray(test)


def make_dataset(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    seed: int = 0,
    schema: Schema | None = None,
    name: str = "table",
    protocol: str = "crossfit",
    test_size: float | None = None,
    val_share: float | None = None,
    kinds: dict[str, str] | None = None,
) -> Dataset:
    """Check the table and target, infer what is missing and split the rows.

    ``kinds`` maps column names to a kind (``{"zip": "categorical"}``) that wins over inference,
    and over ``schema`` when both are given (``--kind COL=KIND`` in the CLI).

    ``protocol='crossfit'`` (default) gives every row to the product, holding out ``test_size``
    (default 0: none) for a final report; ``protocol='paper'`` splits 60/20/20 (``test_size``
    default 0.2, ``val_share`` default 0.25). The schema's statistics (ranges, categories,
    missing rates) are taken from the given rows only, so nothing about the test rows reaches a
    prompt, a rule check or a generator; kinds and roles (a person's choices) are kept.

    Raises
    ------
    DataError
        Unknown target, a target that is all missing or has one value, too few rows, or a
        ``kinds`` entry with an unknown column or kind.
    """
    if kinds:
        check_kinds(kinds, frame.columns)
    if target not in frame.columns:
        raise DataError(
            f"target {target!r} is not a column; choose one of {', '.join(map(str, frame.columns[:30]))}."
        )
    y = frame[target]
    if y.isna().all():
        raise DataError(f"target {target!r} is empty in every row: choose a column with values.")
    unlabelled, origin = None, None
    if y.isna().any():
        origin = np.flatnonzero(y.notna().to_numpy())
        unlabelled = frame[y.isna()].copy()
        unlabelled.index = np.flatnonzero(y.isna().to_numpy())
        frame = frame[y.notna()].reset_index(drop=True)
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"the table has {len(frame)} usable row(s); at least {MIN_ROWS} are needed "
            "to split it into train, validation and test rows."
        )
    if schema is None:
        schema = infer_schema(frame, target=target, kinds=kinds)
    elif kinds:
        schema = Schema(
            tuple(
                _rekind(c, frame[c.name], kinds[c.name]) if c.name in kinds and c.name in frame.columns else c
                for c in schema.columns
            )
        )
    if schema.target != target:
        schema = Schema(
            tuple(
                replace(c, role="target")
                if c.name == target
                else (replace(c, role="feature") if c.role == "target" else c)
                for c in schema.columns
            )
        )
    spec = schema[target]
    task = task or infer_task(frame[target], spec)
    if task not in ("classification", "regression"):
        raise DataError(f"task must be 'classification' or 'regression', not {task!r}.")
    if frame[target].nunique() < 2:
        raise DataError(
            f"target {target!r} has a single value ({frame[target].iloc[0]!r}); "
            "a model needs at least two classes or values to learn from."
        )
    if task == "regression" and not spec.is_numeric:
        raise DataError(
            f"target {target!r} is {spec.kind}, not numeric, so it cannot be a regression "
            "target: choose task 'classification' or a numeric column."
        )
    if not [c for c in schema.features if c != target]:
        raise DataError(
            "no feature columns are left (all are ignored or constant): mark at least one "
            "column as a feature."
        )
    if protocol not in PROTOCOLS:
        raise DataError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}.")
    if protocol == "paper":
        test_size = 0.2 if test_size is None else test_size
        val_share = 0.25 if val_share is None else val_share
    else:
        test_size = 0.0 if test_size is None else test_size
        if val_share:
            raise DataError(
                "the crossfit protocol has no validation rows (its checks are cross-fitted over "
                "every row); use protocol 'paper' for a fixed validation split."
            )
        val_share = 0.0
    if not (0 <= test_size < 1 and 0 <= val_share < 1):
        raise DataError(f"test and validation shares must be in [0, 1); got {test_size} and {val_share}.")
    train, val, test = split_indices(frame[target], task, seed, test_size=test_size, val_share=val_share)
    seen = frame.iloc[np.concatenate([train, val])]
    schema = Schema(tuple(_restat(spec, seen[spec.name]) for spec in schema.columns))
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return Dataset(
        frame=frame,
        schema=schema,
        target=target,
        task=task,
        train_idx=train,
        val_idx=val,
        test_idx=test,
        seed=seed,
        name=name,
        fingerprint=digest[:16],
        protocol=protocol,
        unlabelled=unlabelled,
        origin=origin,
    )


def load_dataset(
    source,
    *,
    target: str,
    task: str | None = None,
    seed: int = 0,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    kinds: dict[str, str] | None = None,
    **split,
) -> Dataset:
    """:func:`load_table` then :func:`make_dataset` (``split``: ``protocol``, ``test_size``, ``val_share``).

    ``kinds`` maps column names to a kind that wins over inference (``--kind COL=KIND``).
    """
    frame = load_table(source, name=name, max_bytes=max_bytes)
    label = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "table")
    return make_dataset(frame, target=target, task=task, seed=seed, name=label, kinds=kinds, **split)


__all__.append("load_dataset")


def summarize(dataset: Dataset) -> pd.DataFrame:
    """One row per column: kind, role, range or categories, missing share, flags (for display)."""
    rows = []
    for c in dataset.schema:
        if c.is_numeric and c.min is not None:
            span = f"{c.min:g} … {c.max:g}"
        elif c.categories:
            shown = ", ".join(map(str, c.categories[:6]))
            span = shown + (f", … ({c.n_unique})" if c.n_unique > 6 else "")
        else:
            span = f"{c.n_unique} distinct"
        rows.append(
            {
                "column": c.name,
                "kind": c.kind,
                "role": c.role,
                "values": span,
                "missing": round(c.missing_rate, 3),
                "flags": ", ".join(c.flags),
            }
        )
    return pd.DataFrame(rows)


__all__.append("summarize")


def iter_samples() -> Iterable[tuple[str, Path, str]]:  # pragma: no cover - trivial
    """Bundled sample tables as (label, path, target)."""
    from .samples import SAMPLES

    for label, (fname, target) in SAMPLES.items():
        yield label, Path(__file__).parent / "samples" / fname, target
