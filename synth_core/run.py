"""A Run: one session's work as a single bundle file.

A run holds the dataset fingerprint (a hash, never a key), the schema, the
rules with their status, the parameters (rho, alpha, I, n, generator, label
mode, LLM endpoint and model — never the API key), every candidate row with
provenance (and which were selected), LLM usage, metrics and messages. It
saves and loads as one zip: ``run.json`` plus ``rows.csv`` and, unless left
out, ``data.csv`` with the split positions so ``synth evaluate`` and the app
can restore the whole session.
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

from .data import Dataset, Schema
from .errors import BundleError
from .rules import Rule

__all__ = ["Run", "BUNDLE_VERSION"]

BUNDLE_VERSION = 1
_SECRET_ENV = ("OPENAI_API_KEY",)
_TEXT_PROVENANCE = {c: str for c in ("_row_id", "_generator", "_rule_id", "_arm", "_call_id", "_status", "_reason")}


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

    def synthetic_frame(self, *, provenance: bool = False) -> pd.DataFrame:
        """Selected rows with the real table's columns (and provenance columns if asked)."""
        sel = self.selected
        cols = [c for c in self.dataset.features + [self.dataset.target] if c in sel]
        if provenance:
            cols += [c for c in sel.columns if c.startswith("_")]
        return sel[cols]

    def augmented_frame(self) -> pd.DataFrame:
        """Real train rows plus the selected synthetic rows, with a ``source`` column."""
        cols = self.dataset.features + [self.dataset.target]
        real = self.dataset.train[cols].assign(source="real")
        syn = self.synthetic_frame()[cols].assign(source="synthetic")
        return pd.concat([real, syn], ignore_index=True)

    # ------------------------------------------------------------------ bundle

    def to_dict(self) -> dict:
        ds = self.dataset
        return {
            "version": BUNDLE_VERSION,
            "created": self.created,
            "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "target": ds.target, "task": ds.task,
                        "seed": ds.seed, "rows": int(len(ds.frame)), "train_idx": ds.train_idx.tolist(),
                        "val_idx": ds.val_idx.tolist(), "test_idx": ds.test_idx.tolist()},
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
        meta = json.dumps(self.to_dict(), indent=1, default=_json_default)
        rows_csv = self.rows.to_csv(index=False)
        data_csv = self.dataset.frame.to_csv(index=False) if include_data else ""
        _refuse_secrets(meta, rows_csv, data_csv, extra=secrets)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("run.json", meta)
            zf.writestr("rows.csv", rows_csv)
            if include_data:
                zf.writestr("data.csv", data_csv)
        raw = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(raw)
        return raw

    @classmethod
    def load(cls, source, *, dataset: Dataset | None = None) -> "Run":
        """Read a bundle from a path, bytes or file; ``dataset`` is needed when the bundle has no data."""
        try:
            raw = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else \
                (bytes(source) if isinstance(source, (bytes, bytearray)) else source.read())
            zf = zipfile.ZipFile(io.BytesIO(raw))
            meta = json.loads(zf.read("run.json"))
            raw_rows = zf.read("rows.csv") if "rows.csv" in zf.namelist() else b""
            rows = pd.read_csv(io.BytesIO(raw_rows), low_memory=False, dtype=_TEXT_PROVENANCE) \
                if raw_rows.strip() else pd.DataFrame()
            data = pd.read_csv(io.BytesIO(zf.read("data.csv")), low_memory=False) \
                if "data.csv" in zf.namelist() else None
            if meta.get("version") != BUNDLE_VERSION:
                raise BundleError(f"bundle version {meta.get('version')} is not supported "
                                  f"(expected {BUNDLE_VERSION}).")
            dataset = _bundle_dataset(meta, data, dataset)
            rules = [Rule.from_dict(r) for r in meta.get("rules", [])]
        except FileNotFoundError as exc:
            raise BundleError(f"{source} does not exist.") from exc
        except BundleError:
            raise
        except (zipfile.BadZipFile, KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError,
                UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BundleError(f"not a run bundle ({exc}); choose a .zip written by the app or "
                              "`synth generate`.") from exc
        if "_selected" in rows:
            rows["_selected"] = rows["_selected"].astype(str).str.lower().isin(["true", "1"])
        for col in _TEXT_PROVENANCE:
            if col in rows:
                rows[col] = rows[col].fillna("")
        return cls(dataset=dataset, rules=rules, params=meta.get("params", {}),
                   rows=_restore_types(rows, dataset.schema), usage=meta.get("usage", {}),
                   metrics=meta.get("metrics", {}), messages=meta.get("messages", []),
                   arms=pd.DataFrame(meta.get("arms", [])), labels=meta.get("labels", {}),
                   per_rule=pd.DataFrame(meta.get("per_rule", [])), created=meta.get("created", time.time()))


def _bundle_dataset(meta: dict, data: pd.DataFrame | None, dataset: Dataset | None) -> Dataset:
    """The bundle's Dataset (or the given one), with split positions checked against the table."""
    if dataset is not None:
        return dataset
    d = meta["dataset"]
    schema = Schema.from_dict(meta["schema"])
    if data is None:
        raise BundleError("this bundle was saved without its data; load the table first and pass it as `dataset`.")
    data = _restore_types(data, schema)
    idx = [np.asarray(d[k], dtype=int) for k in ("train_idx", "val_idx", "test_idx")]
    if any(len(i) and (i.min() < 0 or i.max() >= len(data)) for i in idx):
        raise BundleError("the bundle's split positions do not fit its table; it is damaged.")
    return Dataset(frame=data, schema=schema, target=d["target"], task=d["task"], train_idx=idx[0], val_idx=idx[1],
                   test_idx=idx[2], seed=d.get("seed", 0), name=d.get("name", "table"),
                   fingerprint=d.get("fingerprint", ""))


def _restore_types(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Categorical cells come back from CSV as text: numbers-as-categories stay what the schema says."""
    for spec in schema:
        if spec.name not in frame:
            continue
        if spec.kind == "boolean":
            frame[spec.name] = frame[spec.name].map(
                lambda v: v if isinstance(v, bool) or pd.isna(v) else str(v).lower() in ("true", "1", "yes"))
        elif spec.is_categorical and spec.categories and all(isinstance(c, str) for c in spec.categories):
            frame[spec.name] = frame[spec.name].astype(object).where(frame[spec.name].notna(), np.nan)
            frame[spec.name] = frame[spec.name].map(lambda v: v if pd.isna(v) else str(v))
    return frame


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
            raise BundleError(f"the bundle would contain {what}; it was not written. "
                              "Remove the key from rules, notes and parameters.")
