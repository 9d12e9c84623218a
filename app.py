"""synth_core app: the entry point. Frames every page (navigation, sidebar) and draws Home.

Run with ``make app`` or ``streamlit run app.py``.
"""

from __future__ import annotations

import streamlit as st

from app_support import state
from app_support.widgets import PAGES, llm_label, llm_usage, session_summary, sidebar

st.set_page_config(
    page_title="synth_core: rule-guided synthetic rows", page_icon=":material/dataset:", layout="wide"
)
state.keep_widget_values()


def home() -> None:
    st.title("Grow a small table with synthetic rows you can trust")
    st.markdown(
        "This app finds the rules that split your table into its distinct sub-populations, "
        "lets you read, edit and approve those rules, and then writes new rows inside each approved rule "
        "(offline, or with an LLM). "
        "Only rows that obey their rule and help a model are kept, and you can compare them with the real "
        "rows before you export them. "
        "Everything done here is also a Python API and a command line (`synth`), so a result found by "
        "clicking can be rerun headless."
    )

    ds, rules, run = state.dataset(), state.rules(), state.run()
    st.subheader("This session")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Table",
        f"{len(ds.frame):,} rows" if ds is not None else "none",
        help=f"{ds.name}: target {ds.target!r}, {ds.task}" if ds is not None else "Load one on Data.",
        border=True,
    )
    c2.metric("Rules approved", f"{sum(r.status == 'approved' for r in rules)} of {len(rules)}", border=True)
    c3.metric("Runs made", len(st.session_state.get("runs", [])), border=True)
    c4.metric("Synthetic rows kept", f"{len(run.selected):,}" if run is not None else "0", border=True)
    if ds is not None:
        st.caption(
            f"Table **{ds.name}**: target `{ds.target}` ({ds.task}), {len(ds.train_idx):,} train / "
            f"{len(ds.val_idx):,} validation / {len(ds.test_idx):,} test rows."
        )

    st.subheader("LLM")
    endpoint, model = llm_label()
    usage = llm_usage() or {}
    l1, l2, l3, l4 = st.columns(4)
    l1.metric("Endpoint", endpoint if len(endpoint) < 28 else endpoint[:25] + "…", border=True)
    l2.metric("Model", model, border=True)
    l3.metric(
        "Calls so far",
        usage.get("calls", 0),
        help=f"{usage.get('cache_hits', 0)} answered from the cache",
        border=True,
    )
    l4.metric("Tokens so far", f"{usage.get('total_tokens', 0):,}", border=True)

    st.subheader("Steps")
    steps = [
        (
            "data",
            "1. Data",
            ":material/table:",
            "Upload a CSV, TSV, Parquet or Excel file or pick a sample; check the schema; choose the target.",
        ),
        (
            "rules",
            "2. Rules",
            ":material/rule:",
            "Discover rules, read their tree paths and rows, edit, approve or reject; ask an LLM for more.",
        ),
        (
            "generate",
            "3. Generate",
            ":material/auto_awesome:",
            "Pick a generator and budget, watch progress, cancel any time (rows made so far are kept).",
        ),
        (
            "compare",
            "4. Compare",
            ":material/compare:",
            "t-SNE, distributions and metrics for the rows you choose.",
        ),
        (
            "export",
            "5. Export",
            ":material/download:",
            "Synthetic and augmented CSV, rules JSON, the run bundle, "
            "the report; restore a session from a bundle.",
        ),
    ]
    for key, label, icon, text in steps:
        a, b = st.columns([1, 4])
        with a:
            st.page_link(PAGES[key], label=label, icon=icon)
        b.caption(text)


pages = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page(PAGES["data"], title="Data", icon=":material/table:"),
    st.Page(PAGES["rules"], title="Rules", icon=":material/rule:"),
    st.Page(PAGES["generate"], title="Generate", icon=":material/auto_awesome:"),
    st.Page(PAGES["compare"], title="Compare", icon=":material/compare:"),
    st.Page(PAGES["export"], title="Export", icon=":material/download:"),
]
page = st.navigation(pages)
summary_slot = sidebar()
try:
    page.run()
finally:  # also after a page's st.stop(): the summary counts what the page just made
    session_summary(summary_slot)
