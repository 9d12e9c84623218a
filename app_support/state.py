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
``run``            the :class:`synth_core.run.Run` the pages show (the latest, or one picked)
``runs``           every run made or restored since the table was loaded: a summary and the Run
``gen.api_key``    the password widget's value: kept only here, never written anywhere
``compare.row_ids`` synthetic row ids chosen on the Compare page
``flash``          messages to show once after a rerun
=================  ==============================================================
"""

from __future__ import annotations

import streamlit as st

from synth_core import ruleset

#: Widget keys whose values must survive a page switch (Streamlit deletes the state of
#: widgets that are not drawn; re-assigning them each run keeps them).
PERSISTENT_WIDGETS = (
    "data.source",
    "data.sample",
    "data.target",
    "data.task",
    "data.protocol",
    "data.test_share",
    "rules.rho",
    "rules.max_rules",
    "rules.selected",
    "rules.new_text",
    "rules.llm_n",
    "gen.method",
    "gen.rho",
    "gen.alpha",
    "gen.iterations",
    "gen.budget",
    "gen.rows_per_call",
    "gen.labels",
    "gen.selection",
    "gen.check",
    "gen.llm_mode",
    "gen.base_url",
    "gen.model",
    "gen.api_key",
    "gen.for_model",
    "gen.also_check",
    "gen.folds",
    "gen.deadline",
    "gen.htdbu.rounds",
    "gen.htdbu.skeleton",
    "gen.samplellm.gamma",
    "gen.samplellm.n_clusters",
    "gen.samplellm.pool_factor",
    "gen.structsynth.edges",
    "cmp.rules",
    "cmp.status",
    "cmp.column",
    "cmp.source",
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


def next_id(prefix: str, taken) -> str:
    """``prefix1``, ``prefix2``, ...: the first not in ``taken`` (:func:`synth_core.ruleset.next_id`)."""
    return ruleset.next_id(prefix, taken)


def add_proposed(new_rules, train) -> int:
    """Add rules a run proposed to the rule set as ``proposed`` (new ids, support on ``train``), skipping
    any whose text is already there; returns how many were added (:func:`synth_core.ruleset.add_rules`)."""
    change = ruleset.add_rules(rules(), new_rules, prefix="g", status="proposed", train=train)
    if change.added:
        set_rules(change.rules)
    return len(change.added)


def approved() -> list:
    return [r for r in rules() if r.status == "approved"]


def run():
    """The run the pages show: the latest one, or the one picked on Compare / Export."""
    return st.session_state.get("run")


#: Runs kept in the session for the run picker (older ones are dropped; their bundles stay downloadable).
MAX_RUNS = 12


def add_run(new_run, *, seconds: float, restored: bool = False) -> None:
    """Record a finished (or restored) run: it becomes the current one and joins the run picker."""
    history = st.session_state.setdefault("runs", [])
    history.append(
        {
            "number": (history[-1]["number"] + 1) if history else 1,
            "method": new_run.params.get("method"),
            "model": new_run.params.get("model", "tree"),
            "kept": int(len(new_run.selected)),
            "candidates": int(len(new_run.rows)),
            "seconds": round(seconds, 1),
            "cancelled": bool(new_run.metrics.get("cancelled")),
            "restored": restored,
            "run": new_run,
        }
    )
    for old in history[:-MAX_RUNS]:
        old["run"] = None  # keep the line, free the rows
    st.session_state["run"] = new_run
    st.session_state.pop("compare.row_ids", None)
    st.session_state.pop("compare.report_md", None)


def runs() -> list[dict]:
    """Every run made or restored since the table was loaded (newest last), with its Run when still held."""
    return list(st.session_state.get("runs", []))


def run_label(entry: dict) -> str:
    how = "restored" if entry.get("restored") else f"{entry['seconds']:g} s"
    return (
        f"#{entry['number']} {entry['method']} for {entry.get('model', 'tree')}: {entry['kept']:,} kept of "
        f"{entry['candidates']:,} ({how})"
    )


def set_dataset(ds) -> None:
    """A new table: rules, runs and selections made for the old one no longer apply."""
    old = st.session_state.get("dataset")
    st.session_state["dataset"] = ds
    if not ds.same_as(old):
        for key in (
            "rules",
            "rules.proposals",
            "rules.discovery_report",
            "run",
            "runs",
            "compare.row_ids",
            "compare.report_md",
        ):
            st.session_state.pop(key, None)
        st.session_state["rules.version"] = st.session_state.get("rules.version", 0) + 1


def restored_table(ds) -> None:
    """Show a table restored from a bundle as the table in use on the Data page (not the sample picked before)."""
    st.session_state["data.source"] = "Restored from a bundle"
    st.session_state["data.frame"], st.session_state["data.name"] = ds.frame, ds.name
    st.session_state["data.kind"] = "restored"
    st.session_state["data.target"] = ds.target
    st.session_state["data.task"] = ds.task
    st.session_state["data.protocol"] = ds.protocol
    for key in ("data.kinds", "data.roles"):
        st.session_state.pop(key, None)


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
    return {
        "embedded": embedded,
        "base_url": None if embedded else base_url,
        "model": None if embedded else (model or None),
    }


def seed() -> int:
    return int(st.session_state.get("app.seed", 0))
