"""Session-state keys shared by the pages, and accessors.

What must outlive a page lives under these keys (widget values are kept by
:func:`keep_widget_values`, called by ``app.py`` before each page runs):

=================  ==============================================================
``dataset``        the :class:`synth_core.data.Dataset` in use (Data page)
``data.frame``     the loaded table before a target/schema is chosen (Data page)
``data.name``      its file or sample name
``rules``          list of :class:`synth_core.rules.Rule` (Rules page; edits land here)
``rules.version``  bumps when ``rules`` changes outside the table editor (resets it)
``rules.proposals`` LLM proposals waiting for a decision
``job``            the running / last :class:`app_support.jobs.GenerationJob`
``run``            the latest :class:`synth_core.run.Run` (Generate page, or a restored bundle)
``runs``           short summaries of every run made in this session
``gen.api_key``    the password widget's value: kept only here, never written anywhere
``compare.row_ids`` synthetic row ids chosen on the Compare page
``flash``          messages to show once after a rerun
=================  ==============================================================
"""

from __future__ import annotations

import streamlit as st

#: Widget keys whose values must survive a page switch (Streamlit deletes the state of
#: widgets that are not drawn; re-assigning them each run keeps them).
PERSISTENT_WIDGETS = (
    "data.source", "data.sample", "data.target", "data.task", "data.protocol", "data.test_share",
    "rules.rho", "rules.max_rules", "rules.selected", "rules.new_text", "rules.llm_n",
    "gen.method", "gen.rho", "gen.alpha", "gen.iterations", "gen.budget", "gen.rows_per_call",
    "gen.labels", "gen.selection", "gen.check", "gen.llm_mode", "gen.base_url", "gen.model", "gen.api_key",
    "gen.for_model", "gen.also_check", "gen.folds", "gen.deadline",
    "gen.htdbu.rounds", "gen.htdbu.skeleton", "gen.samplellm.gamma", "gen.samplellm.n_clusters",
    "gen.samplellm.pool_factor", "gen.structsynth.edges",
    "cmp.rules", "cmp.status", "cmp.column", "cmp.source",
)


def keep_widget_values() -> None:
    """Interrupt Streamlit's widget clean-up for :data:`PERSISTENT_WIDGETS` (multipage-apps/widgets.md)."""
    for key in PERSISTENT_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def default(key: str, value):
    """Set a widget's starting value once (never pass ``value=`` as well)."""
    if key not in st.session_state:
        st.session_state[key] = value
    return st.session_state[key]


def dataset():
    return st.session_state.get("dataset")


def rules() -> list:
    return list(st.session_state.get("rules", []))


def set_rules(new_rules, *, reset_editor: bool = True) -> None:
    st.session_state["rules"] = list(new_rules)
    if reset_editor:
        st.session_state["rules.version"] = st.session_state.get("rules.version", 0) + 1


def next_id(prefix: str, taken: set) -> str:
    """``prefix1``, ``prefix2``, ...: the first not in ``taken``."""
    i = 1
    while f"{prefix}{i}" in taken:
        i += 1
    return f"{prefix}{i}"


def add_proposed(new_rules, train) -> int:
    """Add rules a run proposed to the rule set as ``proposed`` (new ids, support on ``train``), skipping
    any whose text is already there; returns how many were added."""
    current = rules()
    texts = {r.text for r in current}
    taken = {r.id for r in current}
    added = []
    for rule in new_rules:
        if rule.text in texts:
            continue
        rid = next_id("g", taken)
        taken.add(rid)
        texts.add(rule.text)
        added.append(rule.with_(id=rid, status="proposed", support=rule.count(train)))
    if added:
        set_rules(current + added)
    return len(added)


def approved() -> list:
    return [r for r in rules() if r.status == "approved"]


def run():
    return st.session_state.get("run")


def set_dataset(ds) -> None:
    """A new table: rules, runs and selections made for the old one no longer apply."""
    old = st.session_state.get("dataset")
    st.session_state["dataset"] = ds
    if not ds.same_as(old):
        for key in ("rules", "rules.proposals", "rules.discovery_report", "run", "compare.row_ids", "compare.report_md"):
            st.session_state.pop(key, None)
        st.session_state["rules.version"] = st.session_state.get("rules.version", 0) + 1


def flash(kind: str, message: str) -> None:
    """Queue a message shown once on the next run of the page (``kind``: success/info/warning/error/code)."""
    st.session_state.setdefault("flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("flash", []):
        if kind == "code":
            st.code(message, language=None)
        else:
            getattr(st, kind)(message)


def llm_config() -> dict:
    """The LLM endpoint chosen on the Generate page: ``{"embedded", "base_url", "model"}`` (no key)."""
    mode = st.session_state.get("gen.llm_mode", "Embedded")
    base_url = (st.session_state.get("gen.base_url") or "").strip()
    model = (st.session_state.get("gen.model") or "").strip()
    embedded = mode == "Embedded" or not base_url
    return {"embedded": embedded, "base_url": None if embedded else base_url, "model": None if embedded else
            (model or None)}


def seed() -> int:
    return int(st.session_state.get("app.seed", 0))
