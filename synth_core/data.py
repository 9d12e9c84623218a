"""Load tables, infer their schema, choose target and task, and split them.

A :class:`Dataset` carries everything later steps need: the frame, its
:class:`Schema`, the target column, the task and the train / validation / test
row positions. Splits follow the benchmark protocol in
``../shared/datasets/BASELINES.md`` (20% test, then 25% of the rest as
validation, stratified for classification, one seed), so real-only figures are
comparable with the recorded baselines.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"x": range(40), "y": ["a", "b"] * 20})
>>> ds = make_dataset(df, target="y", seed=0)
>>> ds.task, len(ds.train_idx), len(ds.val_idx), len(ds.test_idx)
('classification', 24, 8, 8)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd

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
]

ColumnKind = Literal["numeric", "integer", "categorical", "boolean", "datetime", "text", "id"]
Task = Literal["classification", "regression"]
KINDS = ("numeric", "integer", "categorical", "boolean", "datetime", "text", "id")
ROLES = ("feature", "target", "ignore")

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MIN_ROWS = 10
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
    def from_dict(cls, d: dict) -> "ColumnSpec":
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

    def replace_column(self, name: str, **changes) -> "Schema":
        """Return a copy with one column's spec changed (kind, role, ...)."""
        self[name]  # raises KeyError for unknown names
        return Schema(tuple(replace(c, **changes) if c.name == name else c for c in self.columns))

    def to_dict(self) -> dict:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls(tuple(ColumnSpec.from_dict(c) for c in d["columns"]))


@dataclass(frozen=True)
class Dataset:
    """A table ready for discovery and generation.

    ``train_idx``, ``val_idx`` and ``test_idx`` are row positions in ``frame``.
    Test rows are for the final score only.
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
    def features(self) -> list[str]:
        return [c for c in self.schema.features if c != self.target]

    @property
    def classes(self) -> list:
        if self.task != "classification":
            return []
        return sorted(self.frame[self.target].dropna().unique().tolist(), key=_sort_key)

    def with_train(self, train_idx: np.ndarray, val_idx: np.ndarray | None = None) -> "Dataset":
        """Same table and test rows, other train (and validation) rows: for low-data regimes."""
        return replace(self, train_idx=np.asarray(train_idx),
                       val_idx=self.val_idx if val_idx is None else np.asarray(val_idx))


# --------------------------------------------------------------------------- loading


def load_table(source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> pd.DataFrame:
    """Read a CSV / TSV (optionally gzipped), Parquet or Excel table.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    name : str, optional
        File name used to pick the format when ``source`` has none (uploads).
    max_bytes : int
        Files larger than this are refused before parsing.

    Raises
    ------
    FileTooLargeError, DataError
    """
    raw, name = _read_bytes(source, name, max_bytes)
    if not raw:
        raise DataError(f"{name or 'the file'} is empty: choose a file with a header row and data rows.")
    lower = (name or "").lower()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{name or 'the file'} looks gzipped but cannot be decompressed ({exc}).") from exc
        if len(raw) > max_bytes * 5:
            raise FileTooLargeError(f"{name} unpacks to {len(raw) / 2**20:.0f} MB; the limit is "
                                    f"{max_bytes * 5 / 2**20:.0f} MB unpacked. Use a sample of the table.")
        lower = lower.removesuffix(".gz")
    if raw[:4] == b"PAR1" or lower.endswith(".parquet"):
        frame = _read_parquet(raw, name)
    elif raw[:2] == b"PK" or lower.endswith((".xlsx", ".xls", ".xlsm")):
        frame = _read_excel(raw, name)
    else:
        frame = _read_text(raw, name, tab=lower.endswith(".tsv"))
    return _check_frame(frame, name)


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
    return (f"{name} is {size / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB. "
            "Upload a sample of the table (for example 100,000 rows) or a Parquet file.")


def _decode(raw: bytes, name) -> str:
    head = raw[:_TEXT_SAMPLE]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise DataError(f"{name or 'the file'} is not a text table (it looks binary): "
                        "upload a CSV, TSV, Parquet or Excel file.")
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


def _read_text(raw: bytes, name, tab: bool) -> pd.DataFrame:
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(f"{name or 'the file'} is empty: choose a file with a header row and data rows.")
    sample = text[:_TEXT_SAMPLE]
    if tab:
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(sample.split("\n", 50)[0] if sample.count("\n") < 2 else
                                      "\n".join(sample.split("\n")[:50]), delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    header = next(csv.reader(io.StringIO(sample), delimiter=sep), [])
    _check_header(header, name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, low_memory=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{name or 'the file'} is not a well-formed table: {exc}. "
                        "Check that every row has the same number of fields.") from exc
    return frame


def _check_header(header: list[str], name) -> None:
    names = [h.strip() for h in header]
    blanks = [i + 1 for i, h in enumerate(names) if not h]
    if blanks:
        raise DataError(f"{name or 'the file'} has blank column names at position(s) "
                        f"{', '.join(map(str, blanks))}: give every column a name in the header row.")
    seen, dupes = set(), []
    for h in names:
        if h in seen and h not in dupes:
            dupes.append(h)
        seen.add(h)
    if dupes:
        raise DataError(f"{name or 'the file'} repeats column name(s) {', '.join(map(repr, dupes))}: "
                        "rename them so each column has its own name.")


def _read_parquet(raw: bytes, name) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{name or 'the file'} is not a readable Parquet file ({exc}).") from exc


def _read_excel(raw: bytes, name) -> pd.DataFrame:
    try:
        frame = pd.read_excel(io.BytesIO(raw))
    except Exception as exc:  # openpyxl / zipfile raise many types for corrupt files
        raise DataError(f"{name or 'the file'} is not a readable Excel file ({exc}); "
                        "save it as .xlsx or CSV and try again.") from exc
    _check_header([str(c) if not str(c).startswith("Unnamed:") else "" for c in frame.columns], name)
    return frame


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


def infer_schema(frame: pd.DataFrame, *, target: str | None = None,
                 overrides: dict[str, str] | None = None) -> Schema:
    """Infer one :class:`ColumnSpec` per column.

    ``overrides`` maps column names to a kind and wins over inference.

    Raises
    ------
    DataError
        When a column mixes numbers and text in a way that needs a person's
        decision; the message names the column and how to resolve it.
    """
    overrides = dict(overrides or {})
    unknown = [c for c in overrides if c not in frame.columns]
    if unknown:
        raise DataError(f"overrides name unknown column(s) {unknown}; columns are {list(frame.columns)}.")
    for col, kind in overrides.items():
        if kind not in KINDS:
            raise DataError(f"kind {kind!r} for {col!r} is not one of {', '.join(KINDS)}.")
    if target is not None and target not in frame.columns:
        raise DataError(f"target {target!r} is not a column; columns are {', '.join(map(str, frame.columns))}.")
    specs = []
    for col in frame.columns:
        spec = _infer_column(frame[col], overrides.get(col))
        if col == target:
            spec = replace(spec, role="target")
        specs.append(spec)
    return Schema(tuple(specs))


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
            spec = replace(spec, min=float(num.min()), max=float(num.max()),
                           decimals=0 if kind == "integer" else _decimals(num))
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
            f"{', '.join(map(repr, bad))}: blank or fix them, or set the column's kind to categorical.")
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
    return (0, float(v), "") if isinstance(v, (int, float, np.integer, np.floating, bool)) else (1, 0.0, str(v))


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


def split_indices(y: pd.Series, task: str, seed: int = 0,
                  test_size: float = 0.2, val_share: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60/20/20 positions: test first (stratified), then validation from the rest, one seed."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    strat = y.to_numpy() if task == "classification" else None
    if strat is not None:
        counts = pd.Series(strat).value_counts()
        n_test = int(np.ceil(test_size * len(y)))
        n_val = int(np.ceil(val_share * (len(y) - n_test)))
        if counts.min() < 3 or min(n_test, n_val) < len(counts):
            strat = None  # a class too small (or too many classes) to stratify: plain random split
    try:
        rest, test = train_test_split(positions, test_size=test_size, random_state=seed, stratify=strat)
        strat_rest = strat[rest] if strat is not None else None
        train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=strat_rest)
    except ValueError as exc:
        raise DataError(f"cannot split {len(y)} rows into train, validation and test rows ({exc}); "
                        "use more rows or other split shares.") from exc
    return np.asarray(train), np.asarray(val), np.asarray(test)


def make_dataset(frame: pd.DataFrame, *, target: str, task: str | None = None, seed: int = 0,
                 schema: Schema | None = None, name: str = "table", test_size: float = 0.2,
                 val_share: float = 0.25) -> Dataset:
    """Check the table and target, infer what is missing and split the rows.

    The schema's statistics (ranges, categories, missing rates) are taken from the train and
    validation rows only, so nothing about the test rows reaches a prompt, a rule check or a
    generator; kinds and roles (a person's choices) are kept.

    Raises
    ------
    DataError
        Unknown target, a target that is all missing or has one value, or too few rows.
    """
    if target not in frame.columns:
        raise DataError(f"target {target!r} is not a column; choose one of "
                        f"{', '.join(map(str, frame.columns[:30]))}.")
    y = frame[target]
    if y.isna().all():
        raise DataError(f"target {target!r} is empty in every row: choose a column with values.")
    dropped = int(y.isna().sum())
    if dropped:
        frame = frame[y.notna()].reset_index(drop=True)
    if len(frame) < MIN_ROWS:
        raise DataError(f"the table has {len(frame)} usable row(s); at least {MIN_ROWS} are needed "
                        "to split it into train, validation and test rows.")
    schema = schema or infer_schema(frame, target=target)
    if schema.target != target:
        schema = Schema(tuple(replace(c, role="target") if c.name == target else
                              (replace(c, role="feature") if c.role == "target" else c) for c in schema.columns))
    spec = schema[target]
    task = task or infer_task(frame[target], spec)
    if task not in ("classification", "regression"):
        raise DataError(f"task must be 'classification' or 'regression', not {task!r}.")
    if frame[target].nunique() < 2:
        raise DataError(f"target {target!r} has a single value ({frame[target].iloc[0]!r}); "
                        "a model needs at least two classes or values to learn from.")
    if task == "regression" and not spec.is_numeric:
        raise DataError(f"target {target!r} is {spec.kind}, not numeric, so it cannot be a regression "
                        "target: choose task 'classification' or a numeric column.")
    if not [c for c in schema.features if c != target]:
        raise DataError("no feature columns are left (all are ignored or constant): mark at least one "
                        "column as a feature.")
    train, val, test = split_indices(frame[target], task, seed, test_size=test_size, val_share=val_share)
    seen = frame.iloc[np.concatenate([train, val])]
    schema = Schema(tuple(_restat(spec, seen[spec.name]) for spec in schema.columns))
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return Dataset(frame=frame, schema=schema, target=target, task=task, train_idx=train, val_idx=val,
                   test_idx=test, seed=seed, name=name, fingerprint=digest[:16])


def load_dataset(source, *, target: str, task: str | None = None, seed: int = 0,
                 name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """:func:`load_table` then :func:`make_dataset`."""
    frame = load_table(source, name=name, max_bytes=max_bytes)
    label = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "table")
    return make_dataset(frame, target=target, task=task, seed=seed, name=label)


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
        rows.append({"column": c.name, "kind": c.kind, "role": c.role, "values": span,
                     "missing": round(c.missing_rate, 3), "flags": ", ".join(c.flags)})
    return pd.DataFrame(rows)


__all__.append("summarize")


def iter_samples() -> Iterable[tuple[str, Path, str]]:  # pragma: no cover - trivial
    """Bundled sample tables as (label, path, target)."""
    from .samples import SAMPLES

    for label, (fname, target) in SAMPLES.items():
        yield label, Path(__file__).parent / "samples" / fname, target
