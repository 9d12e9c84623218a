"""Rules: discover them (DATE Alg. 1), read their tree paths and rows, edit, approve or reject, ask an LLM."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_support import state
from app_support.cached import current_client, dataset_key, discover, discovery_available
from app_support.figures import from_viz, rule_region
from app_support.widgets import PAGES, need_dataset, show_error
from synth_core.errors import RuleSyntaxError, SynthError
from synth_core.rules import STATUSES, parse_rule, rules_from_json, rules_to_json, validate_rule

st.title("Rules")
st.caption("A rule describes one sub-population of the table. Synthetic rows are written only for "
           "**approved** rules, and each row must satisfy its rule.")
state.show_flash()
ds = need_dataset()
train = ds.train


def checked(rule, *, origin: str | None = None):
    """Validate a rule for this table and fill in its support on train rows (raises RuleError)."""
    validate_rule(rule, ds.schema)
    changes = {"support": rule.count(train)}
    if origin:
        changes["origin"] = origin
    return rule.with_(**changes)


rules = state.rules()
ids = {r.id for r in rules}

# ---------------------------------------------------------------- discover
with st.form("rules.discover_form", border=True):
    st.markdown("**Discover rules** from the train rows: decision-tree paths are grouped into rules whose "
                "shared model has error at most rho.")
    a, b, c = st.columns([3, 1, 1])
    if ds.task == "classification":
        state.default("rules.rho", 0.05)
        rho = a.slider("rho: the most error a rule's model may have (error rate)", 0.0, 0.5, step=0.01,
                       key="rules.rho", help="Smaller rho: purer, smaller rules. DATE's default is 0.05.")
    else:
        state.default("rules.rho", 0.1)
        rho = a.slider("rho: the most error a rule's model may have (MSE relative to the target's variance)",
                       0.0, 1.0, step=0.01, key="rules.rho", help="Smaller rho: tighter, smaller rules.")
    state.default("rules.max_rules", 8)
    max_rules = b.number_input("Most rules", 1, 50, step=1, key="rules.max_rules")
    c.write("")
    go = c.form_submit_button("Discover rules", type="primary", width="stretch")
if go:
    if not discovery_available():
        st.warning("Rule discovery (synth_core.discovery) is not installed in this build; add rules by hand "
                   "below or import a rules file.")
    else:
        try:
            with st.spinner("Growing decision trees and grouping their paths into rules…"):
                found = discover(dataset_key(ds), float(rho), int(max_rules), state.seed(), ds)
        except SynthError as err:
            show_error(err)
        else:
            before = {r.text: r.status for r in rules}
            new_texts = {r.text for r in found["rules"]}
            # rules a person made, and approved discovered rules that discovery did not find again, stay
            kept = [r for r in rules if r.origin != "discovered" or (r.status == "approved" and r.text not in new_texts)]
            kept_approved = [r.id for r in kept if r.origin == "discovered"]
            if kept_approved:
                state.flash("info", f"Kept your approved rule(s) {', '.join(kept_approved)}, which this discovery "
                            "did not find again.")
            taken = {r.id for r in kept}
            fresh = []
            for r in found["rules"]:
                rid = r.id if r.id and r.id not in taken else state.next_id("r", taken)
                taken.add(rid)
                fresh.append(r.with_(id=rid, status=before.get(r.text, "proposed"), origin="discovered"))
            state.set_rules(kept + fresh)
            msg = f"Found {len(fresh)} rule(s) with rho = {rho:g}, covering {found['coverage']:.0%} of train rows."
            n_fit = sum(r.error is not None and r.error <= rho for r in fresh)
            if fresh and n_fit < len(fresh):
                msg += (f" {len(fresh) - n_fit} of them stay above rho (a depth or size limit stopped the search; "
                        "their error shows how well one model fits them).")
            if found["remainder"] > 0:
                msg += f" {found['remainder']:,} train rows are in no rule."
            for w in found["warnings"]:
                state.flash("warning", w)
            st.session_state["rules.discovery_report"] = found["report"]
            state.flash("success" if fresh else "warning",
                        msg if fresh else f"No rule met rho = {rho:g}: raise rho and discover again.")
            st.rerun()

if st.session_state.get("rules.discovery_report"):
    with st.expander("Discovery report"):
        st.code(st.session_state["rules.discovery_report"], language=None)

rules = state.rules()
if not rules:
    st.info("No rules yet. Discover them above, add one as text below, or import a rules file.")

# ---------------------------------------------------------------- table
if rules:
    st.subheader("Rule set")
    n_app = sum(r.status == "approved" for r in rules)
    st.caption(f"{n_app} approved, {sum(r.status == 'rejected' for r in rules)} rejected, "
               f"{sum(r.status == 'proposed' for r in rules)} proposed. Edit a rule's text or status in the "
               "table; edited text is parsed and checked, and a rule that fails keeps its old text.")
    table = pd.DataFrame([{
        "id": r.id, "status": r.status, "text": r.text, "origin": r.origin,
        "support": r.support if r.support is not None else r.count(train),
        "error": None if r.error is None else round(float(r.error), 4),
    } for r in rules])
    edited = st.data_editor(
        table, key=f"rules.table.v{st.session_state.get('rules.version', 0)}", hide_index=True,
        width="stretch", num_rows="fixed", disabled=["id", "origin", "support", "error"],
        column_config={
            "status": st.column_config.SelectboxColumn("status", options=list(STATUSES), required=True,
                                                       width="small"),
            "text": st.column_config.TextColumn("rule", width="large", required=True),
            "support": st.column_config.NumberColumn("support", help="Train rows the rule covers"),
            "error": st.column_config.NumberColumn("error", help="Error of the rule's shared model on its rows"),
        })
    new_rules, problems, changed = [], [], False
    for rule, (_, row) in zip(rules, edited.iterrows()):
        r = rule
        text = str(row["text"] or "").strip()
        if text != rule.text:
            try:
                parsed = parse_rule(text)
                r = checked(rule.with_(conjunctions=parsed.conjunctions, paths=(), error=None,
                                       note=(rule.note + " " if rule.note else "") + f"edited from: {rule.text}"),
                            origin="person" if rule.origin == "discovered" else rule.origin)
            except SynthError as err:  # RuleSyntaxError (caret shown) or RuleValidationError
                problems.append((rule.id, err))
            changed = True
        if row["status"] != r.status and row["status"] in STATUSES:
            r = r.with_(status=row["status"])
            changed = True
        new_rules.append(r)
    if changed:
        state.set_rules(new_rules)
        for rid, err in problems:
            if isinstance(err, RuleSyntaxError):
                state.flash("error", f"Rule {rid} kept its old text; the new text does not parse:")
                state.flash("code", str(err))
            else:
                state.flash("error", f"Rule {rid} kept its old text: {err}")
        if new_rules != rules:
            state.flash("success", "Rule set updated.")
        st.rerun()

    coverage = from_viz("rule_coverage_figure", rules, real=train)
    if coverage is not None:
        with st.expander("Coverage and error of every rule"):
            st.plotly_chart(coverage, key="rules.coverage", width="stretch")

    b1, b2, b3, _ = st.columns([1, 1, 1, 3])
    if b1.button("Approve all", key="rules.approve_all"):
        state.set_rules([r.with_(status="approved") for r in rules])
        st.rerun()
    if b2.button("Reject all", key="rules.reject_all"):
        state.set_rules([r.with_(status="rejected") for r in rules])
        st.rerun()
    if b3.button("Delete rejected", key="rules.delete_rejected"):
        state.set_rules([r for r in rules if r.status != "rejected"])
        st.rerun()

    # ------------------------------------------------------------ one rule
    st.subheader("Inspect a rule")
    by_id = {r.id: r for r in rules}
    if st.session_state.get("rules.selected") not in by_id:
        st.session_state["rules.selected"] = rules[0].id
    rid = st.selectbox("Rule", list(by_id), key="rules.selected",
                       format_func=lambda i: f"{i} [{by_id[i].status}]: {by_id[i].text}")
    rule = by_id[rid]
    left, right = st.columns([3, 2])
    with left:
        st.code(rule.text, language=None)
        k1, k2, k3 = st.columns(3)
        k1.metric("Status", rule.status)
        k2.metric("Support (train rows)", f"{rule.count(train):,}")
        k3.metric("Model error", "n/a" if rule.error is None else f"{rule.error:.4g}")
        a1, a2, _ = st.columns([1, 1, 2])
        if a1.button("Approve", key="rules.approve_one", type="primary", disabled=rule.status == "approved"):
            state.set_rules([r.with_(status="approved") if r.id == rid else r for r in rules])
            state.flash("success", f"Approved rule {rid}.")
            st.rerun()
        if a2.button("Reject", key="rules.reject_one", disabled=rule.status == "rejected"):
            state.set_rules([r.with_(status="rejected") if r.id == rid else r for r in rules])
            state.flash("info", f"Rejected rule {rid}.")
            st.rerun()
        if rule.paths:
            st.markdown("**Decision-tree paths behind it**")
            st.code("\n".join(p.to_text() for p in rule.paths), language=None)
        elif rule.note:
            st.caption(rule.note)
        rows = train[rule.mask(train)]
        st.markdown(f"**Its real train rows** ({len(rows):,})")
        st.dataframe(rows.head(500), height=220, key="rules.rows")
    with right:
        st.plotly_chart(rule_region(rule, train, ds.schema), key="rules.region", width="stretch")

# ---------------------------------------------------------------- add by hand
st.subheader("Add a rule")
st.caption("Write a rule, e.g. `age >= 40 AND workclass in {'Private', 'Self-emp'}` or "
           "`(x < 3 AND y == 'a') OR z is missing`. Columns: " + ", ".join(f"`{c}`" for c in ds.features))
if st.session_state.pop("rules.clear_new_text", False):
    st.session_state["rules.new_text"] = ""
text = st.text_input("Rule text", key="rules.new_text", placeholder="column >= value AND other in {'a', 'b'}")
candidate = None
if text.strip():
    try:
        candidate = checked(parse_rule(text), origin="person")
    except RuleSyntaxError as err:
        show_error(err)
    except SynthError as err:
        st.error(f"The rule parses but does not fit this table: {err}")
    else:
        st.caption(f"Parsed as `{candidate.text}`; covers {candidate.support:,} train rows.")
add_col, approve_col, _ = st.columns([1, 1, 3])
if add_col.button("Add rule", key="rules.add", disabled=candidate is None):
    new = candidate.with_(id=state.next_id("u", {r.id for r in state.rules()}), status="proposed")
    state.set_rules(state.rules() + [new])
    st.session_state["rules.clear_new_text"] = True
    state.flash("success", f"Added rule {new.id}.")
    st.rerun()
if approve_col.button("Add and approve", key="rules.add_approve", disabled=candidate is None):
    new = candidate.with_(id=state.next_id("u", {r.id for r in state.rules()}), status="approved")
    state.set_rules(state.rules() + [new])
    st.session_state["rules.clear_new_text"] = True
    state.flash("success", f"Added and approved rule {new.id}.")
    st.rerun()

# ---------------------------------------------------------------- LLM proposals
st.subheader("Ask the LLM for rules")
st.caption("The LLM sees the schema, the current rules and their tree paths (never test rows) and proposes new "
           "rules; each is parsed and checked, and nothing is added until you approve it. The endpoint is set on "
           "the Generate page.")
l1, l2, _ = st.columns([1, 1, 3])
state.default("rules.llm_n", 3)
n_ask = l1.number_input("How many", 1, 10, step=1, key="rules.llm_n")
if l2.button("Ask the LLM for rules", key="rules.ask_llm"):
    try:
        from synth_core.llm import propose_rules

        client = current_client(state.llm_config())
        with st.spinner("Asking the LLM (the embedded model starts on first use; that can take a minute)…"):
            props = propose_rules(client, schema=ds.schema, target=ds.target, task=ds.task,
                                  current_rules=state.rules(),
                                  paths=[p for r in state.rules() for p in r.paths][:20] or None, n=int(n_ask),
                                  sample=st.session_state.get("rules.llm_asks", 0))
        st.session_state["rules.llm_asks"] = st.session_state.get("rules.llm_asks", 0) + 1
        st.session_state["rules.proposals"] = {"valid": list(props.valid), "invalid": list(props.invalid)}
    except SynthError as err:
        show_error(err)
        st.info("What to do: check the endpoint and model on the Generate page (LLM settings), or use the "
                "embedded model, which needs no network.")
props = st.session_state.get("rules.proposals")
if props:
    if not props["valid"]:
        st.warning("The LLM proposed no usable rule this time; ask again.")
    for i, prop in enumerate(props["valid"]):
        p1, p2, p3 = st.columns([6, 1, 1])
        support = prop.count(train)
        p1.markdown(f"`{prop.text}`  \n<small>{support:,} train rows. {prop.note}</small>", unsafe_allow_html=True)
        if p2.button("Approve", key=f"rules.proposal.approve.{i}"):
            new = prop.with_(id=state.next_id("l", {r.id for r in state.rules()}), status="approved", support=support,
                             origin=prop.origin or "llm")
            state.set_rules(state.rules() + [new])
            props["valid"].pop(i)
            st.rerun()
        if p3.button("Reject", key=f"rules.proposal.reject.{i}"):
            props["valid"].pop(i)
            st.rerun()
    if props["invalid"]:
        with st.expander(f"{len(props['invalid'])} proposal(s) rejected by the parser or the schema check"):
            for text_, why in props["invalid"]:
                st.markdown(f"- `{text_}`: {why}")

# ---------------------------------------------------------------- import / export
st.subheader("Import / export the rule set")
e1, e2 = st.columns(2)
with e1:
    st.download_button("Download rules (JSON)", rules_to_json(state.rules()), file_name="rules.json",
                       mime="application/json", key="rules.export", disabled=not state.rules())
with e2:
    uploaded = st.file_uploader("Rules JSON", type=["json"], key="rules.import")
    if uploaded is not None and st.button("Replace the rule set with this file", key="rules.import_btn"):
        try:
            imported = [checked(r) for r in rules_from_json(uploaded.getvalue())]
        except SynthError as err:
            show_error(err)
        else:
            taken: set = set()
            fixed = []
            for r in imported:
                rid = r.id if r.id and r.id not in taken else state.next_id("i", taken)
                taken.add(rid)
                fixed.append(r.with_(id=rid))
            state.set_rules(fixed)
            state.flash("success", f"Imported {len(fixed)} rule(s).")
            st.rerun()

if state.approved():
    st.page_link(PAGES["generate"], label="Next: generate rows for the approved rules", icon=":material/auto_awesome:")
