"""A Run: one session's work as a single bundle file.

A run holds the dataset fingerprint (a hash, never a key), the schema, the
rules with their status, the parameters (rho, alpha, I, n, generator, label
mode, LLM endpoint and model — never the API key), every candidate row with
provenance (and which were selected), LLM usage, metrics and messages. It
saves and loads as one zip: ``run.json`` plus ``rows.csv`` and, unless left
out, ``data.csv`` with the split positions so ``synth evaluate`` and the app
can restore the whole session.

Bundle format 2 (this version) writes both CSVs the way exports are written
(:func:`synth_core.export.safe_frame`), so a cell such as ``=HYPERLINK(...)``
is not run as a formula when a person opens the CSV in a spreadsheet, but in
the reversible form (``reversible=True``: a cell that starts with an apostrophe
gets one more, the empty string is written as ``'``), which :meth:`Run.load`
undoes exactly. ``run.json`` says so in ``"csv": {"neutralised": true, ...}``
and lists the text columns, read back as text so a text column of digits stays
text. Only the empty cell is read as missing. Format 1 bundles (raw CSVs) are
still read as they were written.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._frames import concat_rows
from .data import Dataset, Schema
from .errors import BundleError
from .export import escape_cell, safe_frame, unescape_frame
from .rules import Rule

__all__ = ["Run", "BUNDLE_VERSION"]

BUNDLE_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # 1: raw CSVs (read with pandas' missing-value defaults); 2: neutralised CSVs
_SECRET_ENV = ("OPENAI_API_KEY",)
_TEXT_PROVENANCE = {
    c: str for c in ("_row_id", "_generator", "_rule_id", "_arm", "_call_id", "_status", "_reason")
}


@dataclass
class Run:
    """Everything needed to reproduce and inspect one generation run."""

    dataset: Dataset
    rules: list[Rule]
    params: dict = field(default_factory=dict)
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    usage: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    arms: pd.DataFrame = field(default_factory=pd.DataFrame)
    labels: dict = field(default_factory=dict)
    per_rule: pd.DataFrame = field(default_factory=pd.DataFrame)
    created: float = field(default_factory=time.time)

    @property
    def selected(self) -> pd.DataFrame:
        """The rows chosen for export: accepted and selected."""
        if "_selected" in self.rows:
            return self.rows[self.rows["_selected"].astype(bool)].reset_index(drop=True)
        if "_status" in self.rows:
            return self.rows[self.rows["_status"] == "accepted"].reset_index(drop=True)
        return self.rows

    def outcomes(self) -> pd.DataFrame:
        """One line per approved rule (and per proposed rule that wrote rows): candidates, accepted, kept,
        rejections by reason, LLM tokens, and what happened in words."""
        rows = self.rows
        g = rows.assign(_rule_id=rows["_rule_id"].astype(str)) if len(rows) and "_rule_id" in rows else None
        ids = [r.id for r in self.rules if r.status == "approved"]
        if g is not None:
            ids += [i for i in dict.fromkeys(g["_rule_id"]) if i not in ids]
        texts = {r.id: r.text for r in self.rules}
        tokens = {}
        if isinstance(self.usage, dict) and self.usage.get("by_tag"):
            tags = pd.DataFrame(self.usage["by_tag"])
            if {"tag", "total_tokens"} <= set(tags.columns):
                tokens = dict(zip(tags["tag"].astype(str), tags["total_tokens"]))
        out = []
        for rid in ids:
            mine = g[g["_rule_id"] == rid] if g is not None else pd.DataFrame()
            accepted = int((mine["_status"] == "accepted").sum()) if len(mine) else 0
            kept = int(mine["_selected"].astype(bool).sum()) if len(mine) and "_selected" in mine else 0
            reasons = mine.loc[mine["_status"] != "accepted", "_reason"].value_counts() if len(mine) else {}
            line = {
                "rule id": rid,
                "rule": texts.get(rid, ""),
                "candidates": int(len(mine)),
                "accepted": accepted,
                "kept": kept,
            }
            line.update({f"rejected: {k or 'unspecified'}": int(v) for k, v in dict(reasons).items()})
            if tokens:
                line["tokens"] = int(tokens.get(rid, 0))
            if not len(mine):
                line["what happened"] = "no row was written for it (see the notes above)"
            elif not accepted:
                top = ", ".join(f"{k or 'unspecified'} ({v:,})" for k, v in list(dict(reasons).items())[:2])
                line["what happened"] = f"every row was rejected: {top}"
            elif not kept:
                line["what happened"] = "rows were made, but the check kept none"
            else:
                line["what happened"] = f"{kept:,} row(s) kept"
            out.append(line)
        frame = pd.DataFrame(out)
        return frame.fillna(0) if len(frame) else frame

    def why_nothing_kept(self) -> str | None:
        """When no synthetic row was kept: why, in the analyst's words, and what to try; else None."""
        if len(self.selected):
            return None
        rows = self.rows
        accepted = (
            int((rows["_status"] == "accepted").sum()) if len(rows) and "_status" in rows else len(rows)
        )
        if self.metrics.get("cancelled") and not len(rows):
            return "The run was cancelled before any row was made. Start it again and let it finish."
        if not len(rows):
            return (
                "No candidate row was made: the generator could not write rows inside the approved rules "
                "(see the notes). Approve rules that cover more rows, or try another generator."
            )
        if not accepted:
            reasons = rows["_reason"].value_counts() if "_reason" in rows else pd.Series(dtype=int)
            top = ", ".join(f"{k or 'unspecified'} ({v:,})" for k, v in reasons.head(3).items())
            return (
                f"Every one of the {len(rows):,} candidate rows was rejected ({top}). Look at the notes for "
                "the rules concerned; another generator or looser rules may help."
            )
        check = self.metrics.get("check")
        if check:
            return (
                f"{check['reason'][0].upper()}{check['reason'][1:]} Synthetic rows help a model most when the "
                "label teacher is clearly better than it; for a strong model such as gradient boosting they "
                "often do not. You can try more rows (budget), another generator, or check a simpler model."
            )
        return (
            f"{accepted:,} rows were accepted but none was kept by the amount check on validation rows: they "
            "did not make your model better there. Try more rows, another generator or label mode."
        )

    def filled_columns(self) -> dict[str, str]:
        """The upload's columns no generator writes, and how synthetic rows fill them (for the Export page)."""
        ds = self.dataset
        written = set(ds.features + [ds.target])
        out = {}
        for col in ds.frame.columns:
            if col in written:
                continue
            spec = ds.schema[col] if col in ds.schema else None
            present = ds.frame[col].dropna()
            if spec is not None and "constant" in spec.flags and len(present):
                out[col] = (
                    f"the same value in every uploaded row: synthetic rows carry it too ({present.iloc[0]!r})"
                )
            elif spec is not None and spec.kind == "id":
                out[col] = "an identifier: left empty (a synthetic row is no real record)"
            elif spec is not None and spec.kind == "text":
                out[col] = "free text, which the generators do not write: left empty"
            elif spec is not None and spec.kind == "datetime":
                out[col] = "a date or time, which the generators do not model: left empty"
            else:
                out[col] = "ignored on the Data page: left empty"
        return out

    def synthetic_frame(self, *, provenance: bool = False, row_ids=None) -> pd.DataFrame:
        """Selected rows with exactly the upload's columns, order and types (and provenance columns if asked).

        Columns the generators do not write are filled as :meth:`filled_columns` says. ``row_ids``: only these
        of the selected rows (e.g. the ones a person chose on the Compare page).
        """
        sel = self.selected
        if row_ids is not None:
            sel = sel[sel["_row_id"].astype(str).isin({str(i) for i in row_ids})].reset_index(drop=True)
        upload = self.dataset.frame
        fill = self.filled_columns()
        out = {}
        for col in upload.columns:
            if col in sel and col not in fill:
                values = sel[col].reset_index(drop=True)
            elif "same value" in fill.get(col, ""):
                values = pd.Series([upload[col].dropna().iloc[0]] * len(sel), dtype=object)
            else:
                values = pd.Series([np.nan] * len(sel), dtype=object)
            out[col] = _like(values, upload[col])
        frame = pd.DataFrame(out, index=range(len(sel)))
        if provenance:
            for col in sel.columns:
                if col.startswith("_"):
                    frame[col] = sel[col].to_numpy()
        return frame

    def augmented_frame(self, *, row_ids=None) -> pd.DataFrame:
        """Every uploaded row (rows without a target and any test share included) plus the selected
        synthetic rows (``row_ids``: only these of them), with a ``source`` column: ``real`` or ``synthetic``."""
        real = self.dataset.uploaded().assign(source="real")
        syn = self.synthetic_frame(row_ids=row_ids).assign(source="synthetic")
        return concat_rows([real, syn], ignore_index=True)

    # ------------------------------------------------------------------ bundle

    def to_dict(self) -> dict:
        ds = self.dataset
        return {
            "version": BUNDLE_VERSION,
            "created": self.created,
            "dataset": {
                "name": ds.name,
                "fingerprint": ds.fingerprint,
                "target": ds.target,
                "task": ds.task,
                "seed": ds.seed,
                "rows": int(len(ds.frame)),
                "train_idx": ds.train_idx.tolist(),
                "val_idx": ds.val_idx.tolist(),
                "test_idx": ds.test_idx.tolist(),
                "protocol": ds.protocol,
                "origin": None if ds.origin is None else np.asarray(ds.origin).tolist(),
                "unlabelled_rows": [] if ds.unlabelled is None else np.asarray(ds.unlabelled.index).tolist(),
            },
            "schema": ds.schema.to_dict(),
            "rules": [r.to_dict() for r in self.rules],
            "params": self.params,
            "usage": self.usage,
            "metrics": self.metrics,
            "messages": self.messages,
            "labels": self.labels,
            "arms": json.loads(self.arms.to_json(orient="records")) if len(self.arms) else [],
            "per_rule": json.loads(self.per_rule.to_json(orient="records")) if len(self.per_rule) else [],
        }

    def save(self, path=None, *, include_data: bool = True, secrets=()) -> bytes:
        """Write the bundle (zip) to ``path`` if given; return its bytes.

        ``secrets`` are values (such as a key typed into the app) that must not appear in it.

        Raises
        ------
        BundleError
            If a secret (from the environment or ``secrets``) would end up in the bundle.
        """
        doc = self.to_dict()
        rows_csv, rows_text = _bundle_csv(self.rows)
        data_csv, data_text = _bundle_csv(self.dataset.frame) if include_data else ("", [])
        unlabelled = self.dataset.unlabelled
        extra_csv, extra_text = (
            _bundle_csv(unlabelled)
            if include_data and unlabelled is not None and len(unlabelled)
            else ("", [])
        )
        text_columns = {"rows.csv": rows_text, "data.csv": data_text}
        if extra_csv:
            text_columns["unlabelled.csv"] = extra_text
        doc["csv"] = {"neutralised": True, "text_columns": text_columns}
        meta = json.dumps(doc, indent=1, default=_json_default)
        _refuse_secrets(meta, rows_csv, data_csv, extra_csv, extra=secrets)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("run.json", meta)
            zf.writestr("rows.csv", rows_csv)
            if include_data:
                zf.writestr("data.csv", data_csv)
            if extra_csv:
                zf.writestr("unlabelled.csv", extra_csv)
        raw = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(raw)
        return raw

    @classmethod
    def load(cls, source, *, dataset: Dataset | None = None) -> Run:
        """Read a bundle from a path, bytes or file; ``dataset`` is needed when the bundle has no data."""
        try:
            raw = (
                Path(source).read_bytes()
                if isinstance(source, (str, os.PathLike))
                else (bytes(source) if isinstance(source, (bytes, bytearray)) else source.read())
            )
            zf = zipfile.ZipFile(io.BytesIO(raw))
            meta = json.loads(zf.read("run.json"))
            if meta.get("version") not in _READABLE_VERSIONS:
                raise BundleError(
                    f"bundle version {meta.get('version')} is not supported (this version of "
                    f"synth_core reads {' and '.join(map(str, _READABLE_VERSIONS))}); "
                    "open it with the version of synth_core that wrote it, or upgrade."
                )
            csv_meta = meta.get("csv", {}) if meta["version"] >= 2 else {}
            text = csv_meta.get("text_columns", {})
            raw_rows = zf.read("rows.csv") if "rows.csv" in zf.namelist() else b""
            rows = (
                _read_bundle_csv(raw_rows, csv_meta, text.get("rows.csv", []), _TEXT_PROVENANCE)
                if raw_rows.strip()
                else pd.DataFrame()
            )
            data = (
                _read_bundle_csv(zf.read("data.csv"), csv_meta, text.get("data.csv", []))
                if "data.csv" in zf.namelist()
                else None
            )
            unlabelled = (
                _read_bundle_csv(zf.read("unlabelled.csv"), csv_meta, text.get("unlabelled.csv", []))
                if "unlabelled.csv" in zf.namelist()
                else None
            )
            dataset = _bundle_dataset(meta, data, dataset, unlabelled)
            rules = [Rule.from_dict(r) for r in meta.get("rules", [])]
        except FileNotFoundError as exc:
            raise BundleError(f"{source} does not exist.") from exc
        except BundleError:
            raise
        except (
            zipfile.BadZipFile,
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            json.JSONDecodeError,
            UnicodeDecodeError,
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
        ) as exc:
            raise BundleError(
                f"not a run bundle ({exc}); choose a .zip written by the app or `synth generate`."
            ) from exc
        if "_selected" in rows:
            rows["_selected"] = rows["_selected"].astype(str).str.lower().isin(["true", "1"])
        for col in _TEXT_PROVENANCE:
            if col in rows:
                rows[col] = rows[col].fillna("")
        return cls(
            dataset=dataset,
            rules=rules,
            params=meta.get("params", {}),
            rows=_restore_types(rows, dataset.schema),
            usage=meta.get("usage", {}),
            metrics=meta.get("metrics", {}),
            messages=meta.get("messages", []),
            arms=pd.DataFrame(meta.get("arms", [])),
            labels=meta.get("labels", {}),
            per_rule=pd.DataFrame(meta.get("per_rule", [])),
            created=meta.get("created", time.time()),
        )


def _bundle_csv(frame: pd.DataFrame) -> tuple[str, list[str]]:
    """CSV text of ``frame`` with text cells neutralised reversibly, and the names of its text columns.

    A text column is one whose non-missing cells are all strings; :func:`_read_bundle_csv` reads
    it back as text. Rows end in CRLF so a carriage return inside a cell is quoted.
    """
    text_columns = [str(c) for c in frame.columns if _all_text(frame[c])]
    return safe_frame(frame, reversible=True).to_csv(index=False, lineterminator="\r\n"), text_columns


def _nul_back(frame: pd.DataFrame, stand_in: str | None) -> pd.DataFrame:
    """``frame`` with each ``stand_in`` character in its text cells and column names a NUL again."""
    if stand_in is None:
        return frame
    back = {c: str(c).replace(stand_in, "\x00") for c in frame.columns}
    frame = frame.rename(columns=back)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v.replace(stand_in, "\x00") if isinstance(v, str) else v)
    return frame


def _all_text(s: pd.Series) -> bool:
    """Whether ``s`` has cells and every one that is not missing is a string."""
    if not s.notna().any():
        return False
    if isinstance(s.dtype, pd.StringDtype):
        return True
    if not (pd.api.types.is_object_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)):
        return False
    return bool(s.dropna().map(lambda v: isinstance(v, str)).all())


def _read_bundle_csv(
    raw: bytes, csv_meta: dict, text_columns: list[str], dtype: dict | None = None
) -> pd.DataFrame:
    """A bundle CSV as written by :func:`_bundle_csv` (format 2), or as format 1 wrote it (``csv_meta`` empty)."""
    # pandas' C parser (the only one that reads floats round-trip) ends a cell at a NUL character: a NUL
    # stands in as a character the file does not hold while it is parsed, and comes back in text cells
    stand_in = None
    if b"\x00" in raw:
        text = raw.decode("utf-8")
        stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
        raw = text.replace("\x00", stand_in).encode("utf-8")
    how = {"low_memory": False, "float_precision": "round_trip"}
    if not csv_meta.get("neutralised"):  # format 1: raw cells, pandas' missing-value defaults
        return _nul_back(pd.read_csv(io.BytesIO(raw), dtype=dtype, **how), stand_in)
    dtype = {escape_cell(c): str for c in [*(dtype or {}), *text_columns]}
    frame = pd.read_csv(io.BytesIO(raw), dtype=dtype, keep_default_na=False, na_values=[""], **how)
    frame = _nul_back(frame, stand_in)
    return unescape_frame(frame)


def _bundle_dataset(
    meta: dict, data: pd.DataFrame | None, dataset: Dataset | None, unlabelled: pd.DataFrame | None = None
) -> Dataset:
    """The bundle's Dataset (or the given one), with split positions checked against the table.

    Bundles of format 1 predate the cross-fitted protocol: their runs used the paper split."""
    if dataset is not None:
        return dataset
    d = meta["dataset"]
    schema = Schema.from_dict(meta["schema"])
    if data is None:
        raise BundleError(
            "this bundle was saved without its data; load the table first and pass it as `dataset`."
        )
    data = _restore_types(data, schema)
    idx = [np.asarray(d[k], dtype=int) for k in ("train_idx", "val_idx", "test_idx")]
    if any(len(i) and (i.min() < 0 or i.max() >= len(data)) for i in idx):
        raise BundleError("the bundle's split positions do not fit its table; it is damaged.")
    origin = None if d.get("origin") is None else np.asarray(d["origin"], dtype=int)
    if unlabelled is not None:
        unlabelled = _restore_types(unlabelled, schema)
        positions = np.asarray(d.get("unlabelled_rows", []), dtype=int)
        if len(positions) != len(unlabelled) or origin is None or len(origin) != len(data):
            raise BundleError("the bundle's rows without a target do not fit its table; it is damaged.")
        unlabelled.index = positions
    return Dataset(
        frame=data,
        schema=schema,
        target=d["target"],
        task=d["task"],
        train_idx=idx[0],
        val_idx=idx[1],
        test_idx=idx[2],
        seed=d.get("seed", 0),
        name=d.get("name", "table"),
        fingerprint=d.get("fingerprint", ""),
        protocol=d.get("protocol", "paper"),
        unlabelled=unlabelled,
        origin=origin if unlabelled is not None else None,
    )


def _restore_types(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Categorical cells come back from CSV as text: numbers-as-categories stay what the schema says."""
    for spec in schema:
        if spec.name not in frame:
            continue
        if spec.kind == "boolean":
            frame[spec.name] = frame[spec.name].map(
                lambda v: v if isinstance(v, bool) or pd.isna(v) else str(v).lower() in ("true", "1", "yes")
            )
        elif spec.is_categorical and spec.categories and all(isinstance(c, str) for c in spec.categories):
            frame[spec.name] = frame[spec.name].astype(object).where(frame[spec.name].notna(), np.nan)
            frame[spec.name] = frame[spec.name].map(lambda v: v if pd.isna(v) else str(v))
    return frame


def _like(values: pd.Series, upload: pd.Series) -> pd.Series:
    """``values`` in the upload column's type: integers stay integers (nullable when a cell is empty),
    booleans booleans, numbers numbers, text text."""
    dtype = upload.dtype
    try:
        if pd.api.types.is_bool_dtype(dtype):
            mapped = values.map(
                lambda v: (
                    v
                    if pd.isna(v) or isinstance(v, (bool, np.bool_))
                    else str(v).strip().lower() in ("true", "1", "yes")
                )
            )
            return mapped.astype(bool) if mapped.notna().all() else mapped.astype("boolean")
        if pd.api.types.is_integer_dtype(dtype):
            num = pd.to_numeric(values, errors="coerce")
            if (num.dropna() % 1 == 0).all():
                return (
                    num.astype(dtype)
                    if num.notna().all() and not isinstance(dtype, pd.api.extensions.ExtensionDtype)
                    else num.astype("Int64")
                )
            return num
        if pd.api.types.is_numeric_dtype(dtype):
            return pd.to_numeric(values, errors="coerce").astype(float)
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return pd.to_datetime(values, errors="coerce")
    except (TypeError, ValueError):  # pragma: no cover - a value the type cannot hold: keep it as it is
        return values
    return values.astype(object).where(values.notna(), np.nan)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, pd.DataFrame):
        return json.loads(o.to_json(orient="records"))
    return str(o)


def _refuse_secrets(*texts: str, extra=()) -> None:
    named = [(f"the value of {var}", os.environ.get(var, "")) for var in _SECRET_ENV]
    named += [("the API key", s) for s in extra if s]
    for what, secret in named:
        if len(secret) >= 8 and any(secret in t for t in texts):
            raise BundleError(
                f"the bundle would contain {what}; it was not written. "
                "Remove the key from rules, notes and parameters."
            )
