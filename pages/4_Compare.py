"""Compare: choose synthetic rows and see them next to the real ones (map, distributions, metrics)."""

from __future__ import annotations

import streamlit as st

from app_support import state
from app_support.cached import dataset_key, digest, metrics_when_ready, run_map_when_ready
from app_support.widgets import PAGES, figure, need_dataset, need_run, run_picker
from synth_core import viz
from synth_core.compare import STATUSES, choose_rows, real_rows_for
from synth_core.errors import SynthError

st.title("Compare")
st.caption("Pick which synthetic rows to look at, then judge them against the real rows.")
need_dataset()
run_picker("cmp.run")
run = need_run()
ds = run.dataset
rows = run.rows
cols = ds.features + [ds.target]

# ---------------------------------------------------------------- choose rows
f1, f2 = st.columns([1, 2])
state.default("cmp.status", "kept")
status = f1.radio("Rows", list(STATUSES), key="cmp.status", format_func=STATUSES.get)
rule_ids = sorted(rows["_rule_id"].astype(str).unique()) if len(rows) else []
texts = {r.id: r.text for r in run.rules}
chosen_rules = f2.multiselect(
    "Rules (none chosen = all)",
    rule_ids,
    key="cmp.rules",
    format_func=lambda i: f"{i}: {texts.get(i, '')}"[:90],
)
pool = choose_rows(rows, status=status, rule_ids=chosen_rules)

t1, t2 = st.columns([1, 2])
filter_col = t1.selectbox("Filter on a column", ["(none)"] + cols, key="cmp.filter_col")
values, between = None, None
if filter_col != "(none)" and len(pool):
    if ds.schema[filter_col].is_numeric:
        num = pool[filter_col].astype(float)
        lo, hi = float(num.min()), float(num.max())
        if lo < hi:
            between = t2.slider(
                f"{filter_col} between", lo, hi, (lo, hi), key=f"cmp.filter_range.{filter_col}"
            )
    else:
        options = sorted(pool[filter_col].dropna().astype(str).unique())
        values = t2.multiselect(f"{filter_col} is one of", options, key=f"cmp.filter_values.{filter_col}")
lasso = st.session_state.get("compare.row_ids")
shown = choose_rows(
    pool,
    status="all",
    column=None if filter_col == "(none)" else filter_col,
    values=values,
    between=between,
    row_ids=lasso,
).reset_index(drop=True)
if lasso:
    st.info(f"{len(shown):,} row(s) chosen on the map.")
    if st.button("Clear the chosen rows", key="cmp.clear"):
        st.session_state.pop("compare.row_ids", None)
        st.session_state["cmp.map_version"] = st.session_state.get("cmp.map_version", 0) + 1
        st.rerun()
st.caption(f"{len(shown):,} synthetic row(s) chosen of {len(rows):,} candidates.")
if not len(shown):
    if status == "kept" and (why := run.why_nothing_kept()) is not None:
        st.info(f"{why} To look at the rows it made, choose {STATUSES['accepted']!r} under Rows.")
    else:
        st.warning("No synthetic rows match these choices: choose other rules or rows.")
    st.stop()

real = real_rows_for(run, chosen_rules)
if chosen_rules:
    st.caption(f"Compared with the {len(real):,} real rows of the chosen rule(s).")

# ---------------------------------------------------------------- the run's map: computed once, choices highlighted
map_col, dist_col = st.columns([3, 2])
with map_col:
    try:
        mapped = run_map_when_ready(run)
    except SynthError as err:  # too few rows to map
        st.info(f"No map for this run: {err}")
        mapped = False
    event = None
    if mapped is None:  # the map is computed once per run, in the background: the rest of the page is usable

        @st.fragment(run_every=0.5)
        def wait_for_map() -> None:
            if run_map_when_ready(run) is not None:
                st.rerun()
            st.caption(
                ":material/hourglass_top: Mapping this run's rows with t-SNE (once per run)… the map "
                "appears here when it is ready."
            )

        wait_for_map()
    elif mapped is not False:
        event = st.plotly_chart(
            viz.run_map_figure(mapped, shown["_row_id"].astype(str)),
            key=f"cmp.tsne.v{st.session_state.get('cmp.map_version', 0)}",
            on_select="rerun",
            selection_mode=("lasso", "box"),
            width="stretch",
        )
    picked = viz.selected_rows(event.selection.points) if event and event.selection else []
    if picked and set(picked) != set(lasso or []):
        st.session_state["compare.row_ids"] = picked
        st.rerun()
    st.caption("Draw a lasso or a box around synthetic points to look at just those rows.")
with dist_col:
    state.default("cmp.column", cols[0])
    col = st.selectbox("Column", cols, key="cmp.column")
    chart = figure(viz.column_figure, real, shown[cols], col, schema=ds.schema)
    if chart is not None:
        st.plotly_chart(chart, key="cmp.dist", width="stretch")
    shown_rules = set(shown["_rule_id"].astype(str))
    coverage = figure(
        viz.rule_coverage_figure,
        [r for r in run.rules if r.id in shown_rules],
        real=real,
        synthetic=shown.rename(columns={"_rule_id": "rule_id"}),
        rule_column="rule_id",
    )
    if coverage is not None:
        with st.expander("Rows per rule: real vs synthetic"):
            st.plotly_chart(coverage, key="cmp.coverage", width="stretch")

# ---------------------------------------------------------------- metrics
st.subheader("Metrics for the chosen rows")
if status == "rejected":
    st.caption("Metrics are computed for accepted rows only; choose kept or accepted rows.")
else:
    key = digest(
        (dataset_key(ds) + ",".join(chosen_rules) + "|" + ",".join(shown["_row_id"].astype(str))).encode()
    )
    res = metrics_when_ready(key, run, shown, real)
    if res is None:  # computed in the background: the figures above are usable meanwhile

        @st.fragment(run_every=0.5)
        def wait_for_metrics() -> None:
            if metrics_when_ready(key, run, shown, real) is not None:
                st.rerun()  # the whole page, which now draws the cards
            st.caption(
                f":material/hourglass_top: Computing fidelity (SDMetrics), detection, privacy and rule "
                f"checks for {len(shown):,} rows… the cards appear here when they are ready."
            )

        wait_for_metrics()
    else:
        cards = res["cards"]
        for chunk in (list(cards.items())[i : i + 4] for i in range(0, len(cards), 4)):
            for box, (name, card) in zip(st.columns(4), chunk):
                box.metric(
                    name,
                    card["value"],
                    delta=card.get("delta"),
                    delta_color=card.get("delta_color", "normal"),
                    help=(card["help"] + (f" ({card['note']})" if card.get("note") else "")) or None,
                    border=True,
                )
        with st.expander("Every metric"):
            st.dataframe(res["summary"], hide_index=True, key="cmp.summary")
        st.session_state["compare.report_md"] = res["markdown"]

# ---------------------------------------------------------------- table
st.subheader("The chosen rows")
table = shown[
    cols
    + [
        c
        for c in ("_rule_id", "_status", "_reason", "_label_original", "_confidence", "_row_id")
        if c in shown
    ]
]
st.dataframe(table.head(2000), key="cmp.table", hide_index=True, width="stretch")
if len(table) > 2000:
    st.caption(f"First 2,000 of {len(table):,} rows shown; export them all on the Export page.")
st.page_link(PAGES["export"], label="Next: export", icon=":material/download:")
