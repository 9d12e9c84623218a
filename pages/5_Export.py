"""Export: synthetic and augmented CSV, rules JSON, the run bundle, the report; restore a session from a bundle."""

from __future__ import annotations

import streamlit as st

from app_support import state
from app_support.cached import dataset_key, digest, metrics
from app_support.widgets import run_picker, show_error
from synth_core.errors import SynthError
from synth_core.export import to_safe_csv
from synth_core.rules import rules_to_json
from synth_core.run import Run

st.title("Export")
st.caption(
    "CSV files are made safe for spreadsheets: text cells that would run as formulas "
    "(starting with =, +, -, @) get a leading apostrophe. API keys are never in any file."
)
state.show_flash()

run_picker("export.run")
run = state.run()
rules = state.rules() if state.dataset() is not None else (run.rules if run is not None else [])
name = (run.dataset.name if run is not None else getattr(state.dataset(), "name", "table")).rsplit(".", 1)[0]

if run is None:
    st.info(
        "No run yet: generate rows on the Generate page, or restore a bundle below. "
        "The rule set can be exported already."
    )
else:
    chosen = st.session_state.get("compare.row_ids")
    only = bool(chosen) and st.checkbox(
        f"Only the {len(chosen):,} row(s) chosen on the Compare page", key="export.only_chosen"
    )
    ids = chosen if only else None
    kept = run.selected
    n_syn = int(kept["_row_id"].astype(str).isin({str(i) for i in ids}).sum()) if only else len(kept)
    c1, c2, c3 = st.columns(3)
    c1.metric("Synthetic rows", f"{n_syn:,}", border=True)
    c2.metric(
        "Augmented rows (every uploaded row + synthetic)",
        f"{len(run.dataset.uploaded()) + n_syn:,}",
        border=True,
        help="Every row you uploaded, unchanged (rows without a target and any test share included), "
        "then the kept synthetic rows; the column `source` says which is which.",
    )
    c3.metric(
        "Rules", f"{sum(r.status == 'approved' for r in run.rules)} approved of {len(run.rules)}", border=True
    )

    # each file is built only when its button is clicked, and a download does not rerun the page
    st.subheader("Rows")
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        "Synthetic rows (CSV)",
        lambda: to_safe_csv(run.synthetic_frame(row_ids=ids)),
        file_name=f"{name}_synthetic.csv",
        mime="text/csv",
        key="export.synthetic",
        type="primary",
        width="stretch",
        on_click="ignore",
    )
    d2.download_button(
        "Augmented table (CSV)",
        lambda: to_safe_csv(run.augmented_frame(row_ids=ids)),
        file_name=f"{name}_augmented.csv",
        mime="text/csv",
        key="export.augmented",
        width="stretch",
        on_click="ignore",
    )
    d3.download_button(
        "Synthetic rows with provenance (CSV)",
        lambda: to_safe_csv(run.synthetic_frame(provenance=True, row_ids=ids)),
        file_name=f"{name}_synthetic_provenance.csv",
        mime="text/csv",
        key="export.provenance",
        width="stretch",
        on_click="ignore",
    )
    fills = run.filled_columns()
    if fills:
        st.caption(
            "Synthetic rows have your file's columns in its order. Columns the generators do not write: "
            + "; ".join(f"**{col}**: {how}" for col, how in fills.items())
            + "."
        )
    st.dataframe(run.synthetic_frame(row_ids=ids).head(50), key="export.preview", hide_index=True, height=220)

st.subheader("Rules, run and report")
r1, r2, r3 = st.columns(3)
r1.download_button(
    "Rules (JSON)",
    rules_to_json(rules),
    file_name=f"{name}_rules.json",
    mime="application/json",
    key="export.rules",
    disabled=not rules,
    width="stretch",
    on_click="ignore",
)
if run is not None:
    secrets = [st.session_state.get("gen.api_key") or ""]

    def bundle() -> bytes:
        """The zip, built on click; a key that would end up in it makes a zip holding only the reason."""
        try:
            return run.save(secrets=secrets)
        except SynthError as err:
            import io
            import zipfile

            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr("NOT_WRITTEN.txt", f"The run bundle was not written: {err}\n")
            return buf.getvalue()

    r2.download_button(
        "Run bundle (zip)",
        bundle,
        file_name=f"{name}_run.zip",
        mime="application/zip",
        key="export.bundle",
        width="stretch",
        on_click="ignore",
        help="Rules, settings, every candidate row with provenance and the table: "
        "upload it below (or to `synth evaluate`) to restore the session.",
    )
    report_md = st.session_state.get("compare.report_md")
    if report_md is None and r3.button(
        "Build the report",
        key="export.build_report",
        width="stretch",
        help="Computes every metric for the kept rows (a few seconds).",
    ):
        with st.spinner("Computing the report…"):
            kept = run.selected
            res = metrics(
                digest((dataset_key(run.dataset) + "|" + ",".join(kept["_row_id"].astype(str))).encode()),
                run,
                kept,
            )
        report_md = st.session_state["compare.report_md"] = res["markdown"]
    if report_md is not None:
        r3.download_button(
            "Report (Markdown)",
            report_md,
            file_name=f"{name}_report.md",
            mime="text/markdown",
            key="export.report",
            width="stretch",
        )

st.subheader("Restore a session")
st.caption(
    "Upload a run bundle (.zip) saved here or by `synth generate`: the table, rules and rows come back."
)
bundle_file = st.file_uploader("Run bundle", type=["zip"], key="export.restore")
if bundle_file is not None and st.button("Restore this bundle", key="export.restore_btn"):
    try:
        restored = Run.load(bundle_file.getvalue())
    except SynthError as err:
        show_error(err)
    else:
        state.set_dataset(restored.dataset)
        state.set_rules(restored.rules)
        state.restored_table(restored.dataset)
        state.add_run(restored, seconds=0.0, restored=True)
        state.flash(
            "success",
            f"Restored a run of {restored.dataset.name}: {len(restored.rules)} rules, "
            f"{len(restored.selected):,} synthetic rows.",
        )
        st.rerun()
