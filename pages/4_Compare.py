"""Compare: choose synthetic rows and see them next to the real ones (t-SNE, distributions, metrics)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_support import state
from app_support.cached import dataset_key, digest, metrics, tsne
from app_support.figures import distribution, from_viz, tsne_scatter
from app_support.widgets import PAGES, need_dataset, need_run, run_picker

st.title("Compare")
st.caption("Pick which synthetic rows to look at, then judge them against the real train rows.")
need_dataset()
run_picker("cmp.run")
run = need_run()
ds = run.dataset
rows = run.rows.copy()
if "_selected" not in rows:
    rows["_selected"] = rows.get("_status", "accepted") == "accepted"
rows["_rule_id"] = rows["_rule_id"].astype(str)

# ---------------------------------------------------------------- choose rows
STATUS = {"kept": "Kept by selection", "accepted": "Accepted (before selection)", "rejected": "Rejected",
          "all": "All candidates"}
f1, f2 = st.columns([1, 2])
state.default("cmp.status", "kept")
status = f1.radio("Rows", list(STATUS), key="cmp.status", format_func=STATUS.get)
rule_ids = sorted(rows["_rule_id"].unique())
texts = {r.id: r.text for r in run.rules}
chosen_rules = f2.multiselect("Rules (none chosen = all)", rule_ids, key="cmp.rules",
                              format_func=lambda i: f"{i}: {texts.get(i, '')}"[:90])
pool = rows
if status == "kept":
    pool = pool[pool["_selected"].astype(bool)]
elif status == "accepted":
    pool = pool[pool["_status"] == "accepted"]
elif status == "rejected":
    pool = pool[pool["_status"] != "accepted"]
if chosen_rules:
    pool = pool[pool["_rule_id"].isin(chosen_rules)]

cols = ds.features + [ds.target]
t1, t2 = st.columns([1, 2])
filter_col = t1.selectbox("Filter on a column", ["(none)"] + cols, key="cmp.filter_col")
if filter_col != "(none)" and len(pool):
    values = pool[filter_col]
    if ds.schema[filter_col].is_numeric:
        num = values.astype(float)
        lo, hi = float(num.min()), float(num.max())
        if lo < hi:
            a, b = t2.slider(f"{filter_col} between", lo, hi, (lo, hi), key=f"cmp.filter_range.{filter_col}")
            pool = pool[(num >= a) & (num <= b)]
    else:
        options = sorted(values.dropna().astype(str).unique())
        keep = t2.multiselect(f"{filter_col} is one of", options, key=f"cmp.filter_values.{filter_col}")
        if keep:
            pool = pool[values.astype(str).isin(keep)]
pool = pool.reset_index(drop=True)

lasso = st.session_state.get("compare.row_ids")
if lasso:
    in_pool = pool["_row_id"].isin(set(lasso))
    st.info(f"{int(in_pool.sum()):,} row(s) chosen on the map or in the table below.")
    if st.button("Clear the chosen rows", key="cmp.clear"):
        st.session_state.pop("compare.row_ids", None)
        st.session_state["cmp.map_version"] = st.session_state.get("cmp.map_version", 0) + 1
        st.rerun()
    shown = pool[in_pool].reset_index(drop=True)
else:
    shown = pool
st.caption(f"{len(shown):,} synthetic row(s) chosen of {len(rows):,} candidates.")
if not len(shown):
    st.warning("No synthetic rows match these choices: choose other rules or rows.")
    st.stop()

# ---------------------------------------------------------------- t-SNE
real = ds.train[cols].reset_index(drop=True)
if chosen_rules:  # a rule's synthetic rows are judged against that rule's own real rows
    rule_objs = [r for r in run.rules if r.id in set(chosen_rules)]
    inside = np.any([r.mask(real) for r in rule_objs], axis=0) if rule_objs else np.ones(len(real), dtype=bool)
    real = real[inside].reset_index(drop=True)
    st.caption(f"Compared with the {len(real):,} real rows of the chosen rule(s).")
map_col, dist_col = st.columns([3, 2])
with map_col:
    key = digest((dataset_key(ds) + ",".join(chosen_rules) + "|" + ",".join(pool["_row_id"])).encode())
    with st.spinner("Computing the t-SNE map (cached after the first time)…"):
        coords, subtitle = tsne(key, real, pool[cols], ds.schema, ds.seed, 1500)
    fig = tsne_scatter(coords, pool, subtitle)
    event = st.plotly_chart(fig, key=f"cmp.tsne.v{st.session_state.get('cmp.map_version', 0)}", on_select="rerun", selection_mode=("lasso", "box"),
                            width="stretch")
    picked = [p.get("customdata", [None])[0] for p in (event.selection.points if event else [])
              if p.get("customdata")] if event and event.selection else []
    if picked and set(picked) != set(lasso or []):
        st.session_state["compare.row_ids"] = picked
        st.rerun()
    st.caption("Draw a lasso or a box around synthetic points to look at just those rows.")
with dist_col:
    state.default("cmp.column", cols[0])
    col = st.selectbox("Column", cols, key="cmp.column")
    fig = from_viz("column_figure", real, shown[cols], col, schema=ds.schema) or \
        distribution(real[col], shown[col], numeric=ds.schema[col].is_numeric)
    st.plotly_chart(fig, key="cmp.dist", width="stretch")
    coverage = from_viz("rule_coverage_figure", [r for r in run.rules if r.id in set(shown["_rule_id"])],
                        real=real, synthetic=shown.rename(columns={"_rule_id": "rule_id"}), rule_column="rule_id")
    if coverage is not None:
        with st.expander("Rows per rule: real vs synthetic"):
            st.plotly_chart(coverage, key="cmp.coverage", width="stretch")

# ---------------------------------------------------------------- metrics
st.subheader("Metrics for the chosen rows")
if status == "rejected":
    st.caption("Metrics are computed for accepted rows only; choose kept or accepted rows.")
else:
    with st.spinner("Computing utility, fidelity, detection, privacy and compliance (cached)…"):
        res = metrics(digest((dataset_key(ds) + ",".join(chosen_rules) + "|" + ",".join(shown["_row_id"])).encode()),
                      run, shown, real)
    cards = res["cards"]
    for chunk in (list(cards.items())[i:i + 4] for i in range(0, len(cards), 4)):
        for box, (name, card) in zip(st.columns(4), chunk):
            box.metric(name, card["value"], delta=card.get("delta"), delta_color=card.get("delta_color", "normal"),
                       help=(card["help"] + (f" ({card['note']})" if card.get("note") else "")) or None,
                       border=True)
    with st.expander("Every metric"):
        st.dataframe(res["summary"], hide_index=True, key="cmp.summary")
    st.session_state["compare.report_md"] = res["markdown"]

# ---------------------------------------------------------------- table
st.subheader("The chosen rows")
table = shown[cols + [c for c in ("_rule_id", "_status", "_reason", "_label_original", "_confidence", "_row_id")
                      if c in shown]]
st.dataframe(table.head(2000), key="cmp.table", hide_index=True, width="stretch")
if len(table) > 2000:
    st.caption(f"First 2,000 of {len(table):,} rows shown; export them all on the Export page.")
st.page_link(PAGES["export"], label="Next: export", icon=":material/download:")
