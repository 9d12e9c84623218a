"""Things several pages draw: the sidebar, "do this first" notices, errors, usage."""

from __future__ import annotations

import streamlit as st

from app_support import state

PAGES = {
    "data": "pages/1_Data.py",
    "rules": "pages/2_Rules.py",
    "generate": "pages/3_Generate.py",
    "compare": "pages/4_Compare.py",
    "export": "pages/5_Export.py",
}

EMBEDDED_NOTE = (
    "The embedded model (Gemma 3 270M, runs offline with no key) proves the LLM path works, "
    "but it is slow (about 0.4-1 valid rows per second on two cores) and it is not the quality "
    "path. For quality LLM rows use a capable model on an OpenAI-compatible endpoint. "
    "**jitter** and **statistical** are the fast offline generators."
)


def show_error(err) -> None:
    """A SynthError as the person should read it; rule syntax errors keep their caret line."""
    from synth_core.errors import RuleSyntaxError

    if isinstance(err, RuleSyntaxError):
        st.error("The rule does not parse:")
        st.code(str(err), language=None)
    else:
        st.error(str(err))


def figure(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` from ``synth_core.viz``, or None when the data do not fit that figure (a
    SynthError: e.g. no rules to draw); the page then leaves the figure out."""
    from synth_core.errors import SynthError

    try:
        return fn(*args, **kwargs)
    except SynthError:
        return None


def need_dataset():
    ds = state.dataset()
    if ds is None:
        st.info("No table yet: load one on the **Data** page first.")
        st.page_link(PAGES["data"], label="Go to Data", icon=":material/table:")
        st.stop()
    return ds


def need_run():
    run = state.run()
    if run is None:
        st.info(
            "No synthetic rows yet: start a run on the **Generate** page (or restore a bundle on Export)."
        )
        st.page_link(PAGES["generate"], label="Go to Generate", icon=":material/auto_awesome:")
        st.stop()
    return run


def run_picker(key: str) -> None:
    """Pick any run made or restored since the table was loaded (shown when there is more than one)."""
    held = [e for e in state.runs() if e.get("run") is not None]
    if len(held) < 2:
        return
    current = state.run()
    numbers = [e["number"] for e in held]
    shown = next((e["number"] for e in held if e["run"] is current), numbers[-1])
    if st.session_state.get(f"{key}.synced") != shown:  # a run made (or picked) elsewhere is now current
        st.session_state[key] = st.session_state[f"{key}.synced"] = shown

    def pick():
        number = st.session_state[key]
        st.session_state["run"] = held[numbers.index(number)]["run"]
        st.session_state[f"{key}.synced"] = number
        st.session_state.pop("compare.row_ids", None)
        st.session_state.pop("compare.report_md", None)

    st.selectbox(
        "Run",
        numbers,
        key=key,
        on_change=pick,
        format_func=lambda n: state.run_label(held[numbers.index(n)]),
        help="Every run made or restored since the table was loaded.",
    )


def llm_label() -> tuple[str, str]:
    """(endpoint, model) as shown to a person; never the key."""
    cfg = state.llm_config()
    if cfg["embedded"]:
        from synth_core.llm.settings import EMBEDDED_MODEL

        return "embedded (offline)", EMBEDDED_MODEL
    return cfg["base_url"], cfg["model"] or "(model not set)"


def llm_usage() -> dict | None:
    from app_support.cached import existing_client

    client = existing_client(state.llm_config())
    return client.usage.summary() if client is not None else None


def sidebar():
    """What every page shares: the seed, the LLM endpoint and model; returns the slot for
    :func:`session_summary`, filled after the page ran so it counts what the page just made."""
    with st.sidebar:
        state.default("app.seed", 0)
        st.number_input(
            "Seed",
            min_value=0,
            max_value=2**31 - 1,
            step=1,
            key="app.seed",
            help="Seeds splits, discovery, generation, selection and evaluation.",
        )
        endpoint, model = llm_label()
        st.caption(f"**LLM endpoint:** {endpoint}  \n**Model:** {model}  \nChange it on the Generate page.")
        return st.empty()


def session_summary(slot) -> None:
    """The table, rules and runs of this session, written into the sidebar ``slot``."""
    ds, rules = state.dataset(), state.rules()
    lines = [
        f"**Table:** {ds.name} ({len(ds.frame):,} rows)" if ds is not None else "**Table:** none",
        f"**Rules:** {sum(r.status == 'approved' for r in rules)} approved of {len(rules)}",
        f"**Runs:** {len(st.session_state.get('runs', []))}",
    ]
    slot.caption("  \n".join(lines))
