"""Rules: discover them (DATE Alg. 1), read them and their tree paths, edit, approve or reject, ask an LLM.

Rule-set logic (merging a new discovery, adding, importing, approve / reject all)
lives in :mod:`synth_core.ruleset`; the words are explained in :mod:`app_support.glossary`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_support import state
from app_support.cached import current_client, dataset_key, discover, discovery_available
from app_support.glossary import RULES_TERMS, glossary_lines, help_for
from app_support.widgets import PAGES, figure, need_dataset, show_error
from synth_core import ruleset, viz
from synth_core.errors import RuleSyntaxError, SynthError
from synth_core.rules import (
    STATUSES,
    format_rule_lines,
    format_rule_short,
    parse_rule,
    rules_to_json,
    validate_rule,
)

st.title("Rules")
st.caption(
    "A rule describes one sub-population of the table, e.g. the rows with a high value in one column "
    "and a given category in another. Synthetic rows are written only for **approved** rules, and each "
    "row must satisfy its rule."
)
with st.expander("What the words on this page mean"):
    st.markdown(glossary_lines(RULES_TERMS))
state.show_flash()
ds = need_dataset()
train = ds.train


def code(text: str) -> str:
    """Inline code in markdown that survives backticks inside (a back-quoted column name)."""
    return f"`` {text} ``"


def plain(text: str) -> str:
    """Text shown as is in markdown: rule text in a note keeps its `_`, `*`, `$` and backticks."""
    for ch in "\\`*_$[]<>#|~":
        text = text.replace(ch, "\\" + ch)
    return text


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def checked(rule, *, origin: str | None = None):
    """Validate a rule for this table and fill in its support on train rows (raises RuleError)."""
    validate_rule(rule, ds.schema)
    changes = {"support": rule.count(train)}
    if origin:
        changes["origin"] = origin
    return rule.with_(**changes)


def short_text(text: str, limit: int = 160) -> str:
    return (
        text if len(text) <= limit else text[:limit].rstrip() + f" … ({len(text) - limit:,} more characters)"
    )


rules = state.rules()

# ---------------------------------------------------------------- discover
with st.form("rules.discover_form", border=True):
    st.markdown(
        "**Discover rules** from the train rows: DATE splits the table with decision trees until "
        "each part's model (its *shared model*) makes at most rho error, then writes each part as a "
        "rule.",
        help=help_for("DGR", "shared model"),
    )
    a, b, c = st.columns([3, 1, 1])
    if ds.task == "classification":
        state.default("rules.rho", 0.05)
        rho = a.slider(
            "Most error a rule's model may make (rho)",
            0.0,
            0.5,
            step=0.01,
            key="rules.rho",
            help=help_for("rho") + " Here: the share of a rule's rows its model predicts wrong.",
        )
    else:
        state.default("rules.rho", 0.1)
        rho = a.slider(
            "Most error a rule's model may make (rho)",
            0.0,
            1.0,
            step=0.01,
            key="rules.rho",
            help=help_for("rho") + " Here: the model's mean squared error on a rule's rows divided "
            "by the variance of the target.",
        )
    state.default("rules.max_rules", 8)
    max_rules = b.number_input(
        "Most rules", 1, 50, step=1, key="rules.max_rules", help=help_for("Most rules")
    )
    c.write("")
    go = c.form_submit_button("Discover rules", type="primary", width="stretch")
if go:
    if not discovery_available():
        st.warning(
            "Rule discovery (synth_core.discovery) is not installed in this build; add rules by hand "
            "below or import a rules file."
        )
    else:
        try:
            with st.spinner("Growing decision trees and grouping their paths into rules…"):
                found = discover(dataset_key(ds), float(rho), int(max_rules), state.seed(), ds)
        except SynthError as err:
            show_error(err)
        else:
            change = ruleset.merge_discovered(rules, found["rules"], prefix="r")
            state.set_rules(change.rules)
            if change.kept:
                state.flash(
                    "info",
                    f"Kept your approved {'rule' if len(change.kept) == 1 else 'rules'} "
                    f"{', '.join(r.id for r in change.kept)}: this discovery did not find "
                    f"{'it' if len(change.kept) == 1 else 'them'} again.",
                )
            if change.skipped:
                state.flash(
                    "info",
                    f"{plural(len(change.skipped), 'rule')} found by this discovery "
                    f"{'was' if len(change.skipped) == 1 else 'were'} already in the set (added by you, "
                    "the LLM or a run) and not added twice.",
                )
            if found["rules"]:
                msg = (
                    f"Found {plural(len(found['rules']), 'rule')} with rho = {rho:g}; together they cover "
                    f"{found['coverage']:.0%} of the train rows."
                )
                above = sum(not (r.error is not None and r.error <= rho) for r in found["rules"])
                if above:
                    who = (
                        f"All {above} rules have"
                        if above == len(found["rules"]) > 1
                        else f"{plural(above, 'rule')} {'has' if above == 1 else 'have'}"
                    )
                    msg += (
                        f" {who} an error above rho: a limit stopped the search before one model fitted "
                        f"{'its' if above == 1 else 'their'} rows well enough (each rule's note says which)."
                    )
                state.flash("success", msg)
            else:
                state.flash(
                    "warning", f"Discovery found no rule with rho = {rho:g}: raise rho and discover again."
                )
            for w in found["warnings"]:
                state.flash("warning", plain(w[:1].upper() + w[1:]))
            st.session_state["rules.discovery_report"] = found["report"]
            st.rerun()

if st.session_state.get("rules.discovery_report"):
    with st.expander("Discovery report (plain text, as the `synth discover` command prints it)"):
        st.code(st.session_state["rules.discovery_report"], language=None, wrap_lines=True)

rules = state.rules()
if not rules:
    st.info("No rules yet. Discover them above, add one as text below, or import a rules file.")

# ---------------------------------------------------------------- table
if rules:
    st.subheader("Rule set")
    counts = ruleset.status_counts(rules)
    st.caption(
        f"{counts['approved']} approved, {counts['rejected']} rejected, {counts['proposed']} proposed. "
        "Change a rule's status in the table. Long rules are shortened here: pick a rule under "
        "**Read one rule** to see it in full and to edit its text."
    )
    table = pd.DataFrame(
        [
            {
                "id": r.id,
                "status": r.status,
                "rule": format_rule_short(r, max_chars=120),
                "origin": r.origin,
                "support": r.support if r.support is not None else r.count(train),
                "error": None if r.error is None else round(float(r.error), 4),
                "ind(r)": None if r.ind is None else round(float(r.ind), 3),
            }
            for r in rules
        ]
    )
    edited = st.data_editor(
        table,
        key=f"rules.table.v{st.session_state.get('rules.version', 0)}",
        hide_index=True,
        width="stretch",
        num_rows="fixed",
        disabled=["id", "rule", "origin", "support", "error", "ind(r)"],
        column_config={
            "status": st.column_config.SelectboxColumn(
                "status", options=list(STATUSES), required=True, width="small", help=help_for("status")
            ),
            "rule": st.column_config.TextColumn("rule (shortened)", width="large", help=help_for("rule")),
            "origin": st.column_config.TextColumn("origin", help=help_for("origin")),
            "support": st.column_config.NumberColumn("support", help=help_for("support")),
            "error": st.column_config.NumberColumn("error", help=help_for("error")),
            "ind(r)": st.column_config.NumberColumn("ind(r)", help=help_for("ind(r)")),
        },
    )
    new_statuses = [s if s in STATUSES else r.status for r, s in zip(rules, edited["status"])]
    if new_statuses != [r.status for r in rules]:
        state.set_rules([r.with_(status=s) for r, s in zip(rules, new_statuses)])
        n_changed = sum(s != r.status for r, s in zip(rules, new_statuses))
        state.flash("success", f"Changed the status of {plural(n_changed, 'rule')}.")
        st.rerun()

    # buttons act in their callbacks, before the page is drawn: one run per click, no second rerun
    def approve_all_proposed() -> None:
        current = state.rules()
        n = ruleset.status_counts(current)
        state.set_rules(ruleset.approve_all(current))
        msg = f"Approved {plural(n['proposed'], 'proposed rule')}."
        if n["rejected"]:
            msg += (
                f" {plural(n['rejected'], 'rule')} you rejected {'stays' if n['rejected'] == 1 else 'stay'} "
                f"rejected; approve {'it' if n['rejected'] == 1 else 'them'} one by one if you changed your "
                "mind."
            )
        state.flash("success", msg)

    def reject_all_proposed() -> None:
        current = state.rules()
        n = ruleset.status_counts(current)
        state.set_rules(ruleset.reject_all(current))
        msg = f"Rejected {plural(n['proposed'], 'proposed rule')}."
        if n["approved"]:
            msg += (
                f" {plural(n['approved'], 'rule')} you approved {'stays' if n['approved'] == 1 else 'stay'} "
                "approved."
            )
        state.flash("info", msg)

    def delete_rejected() -> None:
        current = state.rules()
        state.set_rules(ruleset.drop_rejected(current))
        state.flash("info", f"Deleted {plural(ruleset.status_counts(current)['rejected'], 'rejected rule')}.")

    b1, b2, b3, _ = st.columns([1, 1, 1, 2])
    b1.button(
        "Approve all proposed",
        key="rules.approve_all",
        disabled=not counts["proposed"],
        on_click=approve_all_proposed,
        help="Approves every rule still proposed; a rule you rejected stays rejected.",
    )
    b2.button(
        "Reject all proposed",
        key="rules.reject_all",
        disabled=not counts["proposed"],
        on_click=reject_all_proposed,
        help="Rejects every rule still proposed; a rule you approved stays approved.",
    )
    b3.button(
        "Delete rejected",
        key="rules.delete_rejected",
        disabled=not counts["rejected"],
        on_click=delete_rejected,
        help="Removes the rejected rules from the set.",
    )

    coverage = figure(viz.rule_coverage_figure, rules, real=train)
    if coverage is not None:
        with st.expander("Coverage and error of every rule"):
            st.plotly_chart(coverage, key="rules.coverage", width="stretch")

    # ------------------------------------------------------------ one rule
    st.subheader("Read one rule")
    by_id = {r.id: r for r in rules}
    if st.session_state.get("rules.select_next") in by_id:
        st.session_state["rules.selected"] = st.session_state.pop("rules.select_next")
    if st.session_state.get("rules.selected") not in by_id:
        st.session_state["rules.selected"] = rules[0].id
    rid = st.selectbox(
        "Rule",
        list(by_id),
        key="rules.selected",
        format_func=lambda i: f"{i} [{by_id[i].status}]: {format_rule_short(by_id[i], max_chars=90)}",
    )
    rule = by_id[rid]
    rows_mask = rule.mask(train)
    left, right = st.columns([3, 2])
    with left:
        lines = format_rule_lines(rule)
        st.code(lines, language=None)
        if lines != format_rule_lines(rule, max_values=None):
            st.caption(
                "Sets of more than 8 values are shortened above (shown as “… N more”); the edit box "
                "below holds every value."
            )
        k1, k2, k3, k4 = st.columns(4)
        k1.metric("Status", rule.status, help=help_for("status"))
        k2.metric("Support (train rows)", f"{int(rows_mask.sum()):,}", help=help_for("support"))
        k3.metric(
            "Error",
            "n/a" if rule.error is None else f"{rule.error:.4g}",
            help=help_for("error") + " It is n/a for a rule typed or edited by hand: discover again "
            "to measure it.",
        )
        k4.metric("ind(r)", "n/a" if rule.ind is None else f"{rule.ind:.3f}", help=help_for("ind(r)"))

        def set_status(status: str, rule_id: str = rid) -> None:
            state.set_rules([r.with_(status=status) if r.id == rule_id else r for r in state.rules()])
            state.flash(
                "success" if status == "approved" else "info",
                f"{'Approved' if status == 'approved' else 'Rejected'} rule {rule_id}.",
            )

        a1, a2, _ = st.columns([1, 1, 2])
        a1.button(
            "Approve",
            key="rules.approve_one",
            type="primary",
            disabled=rule.status == "approved",
            on_click=set_status,
            args=("approved",),
        )
        a2.button(
            "Reject",
            key="rules.reject_one",
            disabled=rule.status == "rejected",
            on_click=set_status,
            args=("rejected",),
        )
        if rule.note:
            st.caption(f"**Note:** {plain(rule.note)}")

        # edit the text: the box starts with the whole rule, one AND-clause per line (it parses as typed)
        full_text = format_rule_lines(rule, max_values=None)
        edit_for = (rid, st.session_state.get("rules.version", 0))
        if st.session_state.get("rules.edit_for") != edit_for or "rules.edit_text" not in st.session_state:
            st.session_state["rules.edit_for"] = edit_for
            st.session_state["rules.edit_text"] = full_text
        with st.form("rules.edit_form", border=False):
            new_text = st.text_area(
                "Edit this rule's text",
                key="rules.edit_text",
                height=min(400, 40 + 24 * full_text.count("\n")),
                help="Conditions joined by AND, groups joined by OR (line breaks do not "
                "matter). Saving checks the text against the table.",
            )
            save = st.form_submit_button("Save the rule text", key="rules.edit_save")
        if save:
            try:
                parsed = parse_rule(new_text or "")
                note = (rule.note + " " if rule.note else "") + f"Edited from: {short_text(rule.text)}."
                edited_rule = checked(
                    rule.with_(conjunctions=parsed.conjunctions, paths=(), error=None, ind=None, note=note),
                    origin="person" if rule.origin == "discovered" else rule.origin,
                )
            except RuleSyntaxError as err:
                st.error(f"Rule {rid} kept its old text: the new text does not parse:")
                st.code(str(err), language=None)
            except SynthError as err:  # RuleValidationError: parses, but does not fit this table
                st.error(f"Rule {rid} kept its old text: {err}")
            else:
                if parsed.conjunctions == rule.conjunctions:
                    st.info(f"Rule {rid} is unchanged: the text says the same as before.")
                else:
                    state.set_rules([edited_rule if r.id == rid else r for r in rules])
                    state.flash(
                        "success",
                        f"Saved the new text of rule {rid}; it covers "
                        f"{plural(edited_rule.support, 'train row')}. Its error, ind(r) and tree paths "
                        "belonged to the old text and were cleared; discover again to measure them.",
                    )
                    st.rerun()

        if rule.paths:
            st.markdown("**Tree paths of its shared model**", help=help_for("tree paths"))
            st.caption(
                "These are not conditions of the rule: they are the leaves of the decision tree DATE "
                f"checks this rule's error with (its shared model), which splits the rule's rows further "
                f"to predict {code(ds.target)}, so they may use other columns than the rule."
            )
            inside = train[rows_mask]
            st.code(
                "\n".join(
                    f"{p.to_text()}   [{int(p.mask(inside).sum()):,} of the rule's rows]" for p in rule.paths
                ),
                language=None,
            )
        rows = train[rows_mask]
        st.markdown(f"**Its real train rows** ({len(rows):,})")
        st.dataframe(rows.head(500), height=220, key="rules.rows")
    with right:
        st.plotly_chart(viz.rule_region_figure(rule, train, ds.schema), key="rules.region", width="stretch")

# ---------------------------------------------------------------- add by hand
st.subheader("Add a rule")
example = ruleset.example_rule_text(ds.schema, train)
st.caption(
    f"Write conditions on the table's columns joined by AND and OR, e.g. {code(example)}. "
    "Also: `in {…}`, `not in {…}`, `between 1 and 5`, `is missing`, and parentheses. Columns: "
    + ", ".join(code(c) for c in ds.features)
)


def add_typed_rule(status: str) -> None:
    """The add form's submit: check the typed text and add it (runs before the page is drawn: one click)."""
    text = st.session_state.get("rules.new_text") or ""
    st.session_state.pop("rules.add_problem", None)
    if not text.strip():
        st.session_state["rules.add_problem"] = (
            "warning",
            "Write a rule in the box first, e.g. " + code(example) + ".",
        )
        return
    try:
        candidate = checked(parse_rule(text), origin="person")
    except RuleSyntaxError as err:
        st.session_state["rules.add_problem"] = ("syntax", str(err))
        return
    except SynthError as err:
        st.session_state["rules.add_problem"] = (
            "error",
            f"The rule parses but does not fit this table: {err}",
        )
        return
    change = ruleset.add_rules(state.rules(), [candidate], prefix="u", status=status, train=train)
    if change.skipped:
        same = next(r for r in state.rules() if r.text == candidate.text)
        st.session_state["rules.add_problem"] = (
            "warning",
            f"This rule is already in the set as {same.id} ({same.status}); nothing was added.",
        )
        return
    (new,) = change.added
    state.set_rules(change.rules)
    st.session_state["rules.new_text"] = ""
    st.session_state["rules.select_next"] = new.id  # shown in full below
    state.flash(
        "success",
        f"{'Added and approved' if status == 'approved' else 'Added'} rule {new.id}, "
        f"{code(short_text(new.text))}: it covers {plural(new.support, 'train row')}.",
    )


with st.form("rules.add_form", border=True):
    st.text_area(
        "Rule text", key="rules.new_text", placeholder=f"e.g. {example}", height=80, help=help_for("rule")
    )
    add_col, approve_col, _ = st.columns([1, 1, 3])
    add_col.form_submit_button("Add rule", key="rules.add", on_click=add_typed_rule, args=("proposed",))
    approve_col.form_submit_button(
        "Add and approve",
        key="rules.add_approve",
        type="primary",
        on_click=add_typed_rule,
        args=("approved",),
    )
problem = st.session_state.pop("rules.add_problem", None)
if problem is not None:
    kind, message = problem
    if kind == "syntax":
        st.error("The rule does not parse:")
        st.code(message, language=None)
    else:
        getattr(st, kind)(message)

# ---------------------------------------------------------------- LLM proposals
st.subheader("Ask the LLM for rules")
st.caption(
    "The LLM sees the schema, the current rules and their tree paths (never test rows) and proposes new "
    "rules; each is parsed and checked, and nothing is added until you approve it. The endpoint is set on "
    "the Generate page."
)
l1, l2, _ = st.columns([1, 1, 3])
state.default("rules.llm_n", 3)
n_ask = l1.number_input("How many", 1, 10, step=1, key="rules.llm_n")
if l2.button("Ask the LLM for rules", key="rules.ask_llm"):
    try:
        from synth_core.llm import propose_rules

        client = current_client(state.llm_config())
        with st.spinner("Asking the LLM (the embedded model starts on first use; that can take a minute)…"):
            props = propose_rules(
                client,
                schema=ds.schema,
                target=ds.target,
                task=ds.task,
                current_rules=state.rules(),
                paths=[p for r in state.rules() for p in r.paths][:20] or None,
                n=int(n_ask),
                sample=st.session_state.get("rules.llm_asks", 0),
            )
        st.session_state["rules.llm_asks"] = st.session_state.get("rules.llm_asks", 0) + 1
        st.session_state["rules.proposals"] = {"valid": list(props.valid), "invalid": list(props.invalid)}
    except SynthError as err:
        show_error(err)
        st.info(
            "What to do: check the endpoint and model on the Generate page (LLM settings), or use the "
            "embedded model, which needs no network."
        )
props = st.session_state.get("rules.proposals")
if props:
    if not props["valid"]:
        st.warning("The LLM proposed no usable rule this time; ask again.")
    for i, prop in enumerate(props["valid"]):
        p1, p2, p3 = st.columns([6, 1, 1])
        support = prop.count(train)
        p1.code(format_rule_lines(prop), language=None)
        p1.caption(f"{plural(support, 'train row')}. {plain(prop.note)}")
        if p2.button("Approve", key=f"rules.proposal.approve.{i}"):
            change = ruleset.add_rules(
                state.rules(), [prop], prefix="l", status="approved", origin=prop.origin or "llm", train=train
            )
            if change.added:
                state.set_rules(change.rules)
                state.flash("success", f"Added and approved rule {change.added[0].id}.")
            else:
                state.flash("info", "That rule is already in the set; nothing was added.")
            props["valid"].pop(i)
            st.rerun()
        if p3.button("Reject", key=f"rules.proposal.reject.{i}"):
            props["valid"].pop(i)
            st.rerun()
    if props["invalid"]:
        with st.expander(
            f"{plural(len(props['invalid']), 'proposal')} refused by the parser or the schema check"
        ):
            for text_, why in props["invalid"]:
                st.markdown(f"- {code(short_text(text_))}: {why}")

# ---------------------------------------------------------------- import / export
st.subheader("Import / export the rule set")
e1, e2 = st.columns(2)
with e1:
    st.download_button(
        "Download rules (JSON)",
        rules_to_json(state.rules()),
        file_name="rules.json",
        mime="application/json",
        key="rules.export",
        disabled=not state.rules(),
    )
with e2:
    uploaded = st.file_uploader("Rules JSON", type=["json"], key="rules.import")
    if uploaded is not None and st.button("Replace the rule set with this file", key="rules.import_btn"):
        try:
            imported = ruleset.import_rules(uploaded.getvalue(), ds.schema, train=train, prefix="i")
        except SynthError as err:
            show_error(err)
        else:
            state.set_rules(imported)
            state.flash("success", f"Imported {plural(len(imported), 'rule')}.")
            st.rerun()

if state.approved():
    st.page_link(
        PAGES["generate"], label="Next: generate rows for the approved rules", icon=":material/auto_awesome:"
    )
