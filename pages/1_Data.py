"""Data: upload a table or pick a sample, check the inferred schema, choose target, task and splits."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import streamlit as st

from app_support import state
from app_support.cached import digest, load_sample, load_upload
from app_support.widgets import PAGES, show_error
from synth_core.data import (
    DEFAULT_MAX_BYTES,
    KINDS,
    MISSING_TOKENS,
    ROLES,
    infer_schema,
    make_dataset,
    summarize,
)
from synth_core.errors import DataError, SynthError
from synth_core.samples import SAMPLES

st.title("Data")
st.caption(
    "Load the real table. Every row counts: rules, the label teacher and the generator learn from all of "
    "it, and the checks that decide which synthetic rows to keep run out of fold (cross-fitting), so no "
    "row is set aside unless you ask for a test share."
)
state.show_flash()

RESTORED = "Restored from a bundle"
SOURCES = ("Bundled sample", "Upload a file") + (
    (RESTORED,) if st.session_state.get("data.kind") == "restored" else ()
)
state.default("data.source", SOURCES[0])
state.default("data.sample", next(iter(SAMPLES)))
src = st.radio("Source", SOURCES, key="data.source", horizontal=True)

frame, name, suggested_target = None, None, None
current = state.dataset()
if src == RESTORED and current is not None:
    # the table of a restored bundle is in use as it was saved (kinds, roles, target, split): nothing to redo
    st.success(
        f"This table is in use: **{current.name}**, restored from a bundle ({len(current.frame):,} rows, "
        f"target `{current.target}`, {current.task}). Pick a sample or upload a file to change it."
    )
    st.dataframe(current.frame.head(200), height=240, key="data.preview")
    st.page_link(PAGES["rules"], label="Next: rules", icon=":material/rule:")
    st.stop()
if src == SOURCES[0]:
    label = st.selectbox("Sample", list(SAMPLES), key="data.sample")
    frame, name, suggested_target = load_sample(label), SAMPLES[label][0], SAMPLES[label][1]
else:
    upload = st.file_uploader(
        "CSV, TSV, Parquet or Excel file",
        type=["csv", "tsv", "txt", "gz", "parquet", "xlsx", "xls"],
        key="data.upload",
        help=f"Up to {DEFAULT_MAX_BYTES // 2**20} MB. The first row must name the columns.",
    )
    if upload is not None:
        raw = upload.getvalue()
        try:
            frame, name = load_upload(digest(raw), upload.name, raw), upload.name
        except SynthError as err:
            show_error(err)
            st.info(
                "What to do: check that the file is a table with a header row (CSV, TSV, Parquet or "
                "Excel), that every row has the same number of fields, and that it is under the size "
                "limit; or pick a bundled sample."
            )
    elif st.session_state.get("data.frame") is not None and st.session_state.get("data.kind") == "upload":
        frame, name = st.session_state["data.frame"], st.session_state["data.name"]
        st.caption(f"Using the file uploaded earlier: **{name}**.")

if frame is None:
    if state.dataset() is not None:
        st.info(
            f"Table in use: **{state.dataset().name}**. Upload another file or pick a sample to change it."
        )
    st.stop()

if st.session_state.get("data.name") != name:
    # a different table: targets and schema edits of the old one do not apply
    for key in ("data.target", "data.task", "data.kinds", "data.roles"):
        st.session_state.pop(key, None)
    st.session_state["data.editor_version"] = st.session_state.get("data.editor_version", 0) + 1
st.session_state["data.frame"], st.session_state["data.name"] = frame, name
st.session_state["data.kind"] = "sample" if src == SOURCES[0] else "upload"  # the restored choice goes away

st.subheader(f"Preview: {name}")
st.caption(f"{len(frame):,} rows × {frame.shape[1]} columns (first 200 rows shown)")
st.dataframe(frame.head(200), height=240, key="data.preview")
# missing-value tokens: which text was read as missing, and where (frame.attrs from load_table)
_token_note = (
    "Read as missing: empty cells and the text " + ", ".join(f"`{t}`" for t in MISSING_TOKENS if t) + "."
)
_token_counts = frame.attrs.get("missing_tokens") or {}
if _token_counts:
    _token_note += (
        " In this table: "
        + "; ".join(
            f"**{col}** {sum(per.values()):,} ({', '.join(f'`{t}` {n:,}' for t, n in per.items())})"
            for col, per in _token_counts.items()
        )
        + "."
    )
st.caption(_token_note)

columns = list(frame.columns)
state.default("data.target", suggested_target if suggested_target in columns else columns[-1])
left, mid, right = st.columns([2, 2, 3])
target = left.selectbox("Target column (what a model predicts)", columns, key="data.target")
state.default("data.task", "auto")
task = mid.selectbox(
    "Task",
    ["auto", "classification", "regression"],
    key="data.task",
    help="auto: classification for categories and few-valued integers, else regression.",
)
PROTOCOLS = {"crossfit": "Every row counts (cross-fitting)", "paper": "DATE paper split (60/20/20)"}
with right:
    state.default("data.protocol", "crossfit")
    protocol = st.radio(
        "How rows are used",
        list(PROTOCOLS),
        key="data.protocol",
        format_func=PROTOCOLS.get,
        horizontal=True,
        help="Cross-fitting (recommended): every row trains the final teacher and generator, and "
        "the choice of rows is checked K times, each time on a fold the check did not "
        "learn from. The paper split sets 20% aside for validation and 20% for test, as "
        "in DATE's experiments; use it to compare with published tables.",
    )
    if protocol == "paper":
        test_size, val_share = 0.2, 0.25
        st.caption("60% train, 20% validation (chooses labels and rows), 20% test (final score only).")
    else:
        state.default("data.test_share", 0.0)
        test_size = st.slider(
            "Hold out a test share for a final report (optional)",
            0.0,
            0.4,
            step=0.05,
            key="data.test_share",
            help="0 (default): no row is set aside; the verdict comes from cross-fitting. "
            "A share held out reaches nothing but the report's final test score.",
        )
        val_share = None

# ---------------------------------------------------------------- schema
kinds: dict = st.session_state.setdefault("data.kinds", {})
roles: dict = st.session_state.setdefault("data.roles", {})
try:
    schema = infer_schema(frame, target=target, overrides={c: k for c, k in kinds.items() if c in columns})
except DataError as err:
    show_error(err)
    st.info(
        "What to do: set that column's kind below (categorical keeps its values as text), or fix the file."
    )
    bad = st.selectbox("Column to treat as categorical", columns, key="data.fix_column")
    if st.button("Treat as categorical", key="data.fix"):
        kinds[bad] = "categorical"
        st.rerun()
    st.stop()
for col, role in roles.items():
    if col in schema and col != target:
        schema = schema.replace_column(col, role=role)

st.subheader("Schema")
st.caption(
    "Inferred column kinds and roles; change a kind or mark a column to ignore. "
    "Ignored columns are left out of rules and rows."
)
table = pd.DataFrame([{"column": c.name, "kind": c.kind, "role": c.role} for c in schema])
summary = summarize(SimpleNamespace(schema=schema))  # summarize reads only .schema
table["values"] = summary["values"].to_numpy()
table["missing"] = summary["missing"].to_numpy()
table["flags"] = summary["flags"].to_numpy()
editor_key = f"data.schema_editor.v{st.session_state.get('data.editor_version', 0)}"
edited = st.data_editor(
    table,
    key=editor_key,
    hide_index=True,
    width="stretch",
    num_rows="fixed",
    disabled=["column", "values", "missing", "flags"],
    column_config={
        "kind": st.column_config.SelectboxColumn("kind", options=list(KINDS), required=True),
        "role": st.column_config.SelectboxColumn("role", options=list(ROLES), required=True),
    },
)
changed = False
for (_, old), (_, new) in zip(table.iterrows(), edited.iterrows()):
    col = old["column"]
    if new["kind"] != old["kind"]:
        kinds[col] = new["kind"]
        changed = True
    if new["role"] != old["role"]:
        if new["role"] == "target":
            st.session_state["data.target"] = col
        else:
            roles[col] = new["role"]
        changed = True
if changed:
    st.session_state["data.editor_version"] = st.session_state.get("data.editor_version", 0) + 1
    st.rerun()

# ---------------------------------------------------------------- use it
try:
    ds = make_dataset(
        frame,
        target=target,
        task=None if task == "auto" else task,
        seed=state.seed(),
        schema=schema,
        name=name,
        protocol=protocol,
        test_size=test_size,
        val_share=val_share,
    )
except SynthError as err:
    show_error(err)
    st.stop()

same = ds.same_as(current)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Task", ds.task, border=True)
if ds.protocol == "paper":
    c2.metric("Train rows", f"{len(ds.train_idx):,}", border=True)
    c3.metric("Validation rows", f"{len(ds.val_idx):,}", border=True)
else:
    c2.metric(
        "Rows used",
        f"{len(ds.train_idx):,}",
        border=True,
        help="Every one trains the final teacher and generator and is held out once by the check.",
    )
    c3.metric(
        "Rows without a target",
        f"{0 if ds.unlabelled is None else len(ds.unlabelled):,}",
        border=True,
        help="No model learns from them; they come back unchanged in the augmented export.",
    )
c4.metric("Test rows", f"{len(ds.test_idx):,}", border=True, help="Held out for the final score only.")
if ds.task == "classification":
    counts = ds.train[ds.target].value_counts()
    st.caption("Classes in the rows used: " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))

if same:
    st.success(f"This table is in use ({len(ds.features)} features, target `{ds.target}`).")
    st.page_link(PAGES["rules"], label="Next: discover rules", icon=":material/rule:")
else:
    if current is not None:
        st.warning(
            "These settings differ from the table in use. Using them clears the rules and runs made "
            "for the old table."
        )
    if st.button("Use this table", type="primary", key="data.apply"):
        state.set_dataset(ds)
        state.flash("success", f"Loaded {name}: {len(ds.frame):,} rows, target `{ds.target}` ({ds.task}).")
        st.rerun()
