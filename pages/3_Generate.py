"""Generate: choose a generator and its settings, run it with live progress and cancel, see what happened."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app_support import state
from app_support.cached import current_client, dataset_key, rates
from app_support.glossary import GENERATE_TERMS, glossary_lines, help_for
from app_support.jobs import GenerationJob
from app_support.widgets import EMBEDDED_NOTE, PAGES, figure, need_dataset, show_error
from synth_core import viz
from synth_core.approval import Decision, WaitingGate
from synth_core.crossfit import SMALL_TABLE, auto_folds
from synth_core.errors import SynthError
from synth_core.generators import GENERATORS, available_generators, get_generator
from synth_core.generators.presets import preset_names, resolve_preset
from synth_core.labels import LABEL_MODES
from synth_core.models import MODELS
from synth_core.pipeline import default_budget, default_selection, estimate_calls

st.title("Generate")
st.caption(
    "Write synthetic rows inside each approved rule, label them with a teacher fitted on your rows, "
    "and keep only the share that helps the model you will train, checked out of fold."
)
with st.expander("What the words on this page mean"):
    st.markdown(glossary_lines(GENERATE_TERMS))
state.show_flash()
ds = need_dataset()
rules = state.rules()
approved = state.approved()

LABEL_HELP = {
    "auto": "relabel when the teacher beats your model on held-out rows, else filter (the safe default)",
    "relabel": "overwrite each row's label with the teacher's prediction",
    "filter": "keep the row's own label; drop rows whose label the teacher contradicts or is unsure of",
    "score": "keep every row and label; add the teacher's confidence",
    "none": "leave labels as the generator wrote them",
}
SELECTION_HELP = {
    "auto": "auto: MDS for LLM generators, every row for offline ones",
    "mds": "MDS: DATE's bandit selection over batches of rows",
    "fgs": "forward greedy",
    "bgs": "backward greedy",
    "topk": "top-k batches",
    "none": "keep the first n accepted rows",
}

if not approved:
    st.warning(
        f"No approved rules ({len(rules)} rule(s) in the set). Rows are written only for approved "
        "rules: approve at least one on the Rules page."
    )
    st.page_link(PAGES["rules"], label="Go to Rules", icon=":material/rule:")
else:
    st.caption(f"{len(approved)} approved rule(s): " + ", ".join(f"`{r.id}`" for r in approved))

# ---------------------------------------------------------------- generator and settings
methods = available_generators() or ["statistical"]
# the default is the offline generator measured best with teacher labels (benchmarks/results/augment.md)
state.default("gen.method", "statistical" if "statistical" in methods else methods[0])
if st.session_state["gen.method"] not in methods:
    st.session_state["gen.method"] = methods[0]
left, right = st.columns([3, 2])
with left:

    def switch_generator() -> None:  # each generator starts at its own default budget (200 rows for an LLM)
        st.session_state["gen.budget"] = default_budget(st.session_state["gen.method"], ds)

    method = st.selectbox(
        "Generator",
        methods,
        key="gen.method",
        on_change=switch_generator,
        format_func=lambda m: f"{m}{' (LLM)' if GENERATORS[m].needs_llm else ' (offline)'}",
    )
    st.caption(GENERATORS[method].help)
    unavailable = [m for m in GENERATORS if m not in methods]
    if unavailable:
        st.caption("Not available in this build: " + ", ".join(unavailable))
needs_llm = GENERATORS[method].needs_llm
presets = preset_names(method)
preset_key = f"gen.preset.{method}"
state.default(preset_key, "product")
with left:
    if len(presets) > 1:
        preset_name = st.radio(
            "Preset",
            presets,
            key=preset_key,
            horizontal=True,
            format_func=lambda p: resolve_preset(method, p).label,
            help="Product: the project's measured defaults. Paper: the paper's steps as "
            "published (docs/PAPERS.md lists each step and where it differs).",
        )
    else:
        preset_name = "product"
    preset = resolve_preset(method, preset_name)
    if len(presets) > 1:
        st.caption(preset.help)
with right:
    if needs_llm:
        st.info(EMBEDDED_NOTE, icon=":material/info:")
    else:
        st.success("Offline generator: no LLM calls, seconds not minutes.", icon=":material/bolt:")

accepted_params = set(get_generator(method)._get_param_names())
c1, c2, c3, c4, c5 = st.columns(5)
if st.session_state.get("gen.budget_for") != ds.fingerprint:  # a new table: its own default budget
    st.session_state["gen.budget"] = default_budget(method, ds)
    st.session_state["gen.budget_for"] = ds.fingerprint
n = c1.number_input(
    "Budget n (rows to keep)",
    10,
    200_000,
    step=10,
    key="gen.budget",
    help=help_for("budget") + " Offline generators default to 20 times your rows (3,000 to "
    "60,000); LLM generators to 200.",
)
state.default("gen.iterations", 2)
state.default("gen.alpha", 0.8)
if preset.fixed and "iterations" in preset.generator:  # the paper's value, shown rather than offered
    iterations = preset.generator["iterations"]
    c2.metric("Rounds per rule (I)", iterations, help=help_for("iterations") + " Fixed by the paper preset.")
else:
    iterations = c2.slider("Rounds per rule (I)", 1, 5, key="gen.iterations", help=help_for("iterations"))
if preset.fixed and "alpha" in preset.run:
    alpha = preset.run["alpha"]
    c3.metric("Quality vs diversity (alpha)", alpha, help=help_for("alpha") + " Fixed by the paper preset.")
else:
    alpha = c3.slider(
        "Quality vs diversity (alpha)",
        0.0,
        1.0,
        step=0.05,
        key="gen.alpha",
        help=help_for("alpha"),
        disabled=st.session_state.get("gen.selection", "auto") == "none",
    )
state.default("gen.rho", 0.05 if ds.task == "classification" else 0.1)
rho = c4.slider(
    "Most error of a kept group (rho)",
    0.0,
    1.0,
    step=0.01,
    key="gen.rho",
    disabled="rho" not in accepted_params,
    help=help_for("rho (generation)"),
)
state.default("gen.rows_per_call", 5)
rows_per_call = c5.slider(
    "Rows per LLM call",
    1,
    20,
    key="gen.rows_per_call",
    disabled=not needs_llm or method in ("htdbu", "structsynth"),
    help="H-TDBU and StructSynth ask the LLM for structure only (one call), never rows.",
)

# ---------------------------------------------------------------- parameters of the paper generators
extra_params: dict = {}
if method == "samplellm":
    st.caption(
        "**SampleLLM**: every prompt shows one exemplar per K-medoids cluster of the rule's rows; the LLM "
        "writes a candidate pool that is importance-resampled towards the real distribution."
    )
    p1, p2, p3 = st.columns(3)
    state.default("gen.samplellm.n_clusters", 8)
    extra_params["n_clusters"] = p1.slider(
        "Exemplar clusters (a)",
        2,
        16,
        key="gen.samplellm.n_clusters",
        help="K-medoids clusters per rule region; each prompt shows one real row from each.",
    )
    state.default("gen.samplellm.gamma", 0.5)
    extra_params["gamma"] = p2.slider(
        "Interaction threshold (gamma)",
        0.05,
        1.0,
        step=0.05,
        key="gen.samplellm.gamma",
        help="Feature pairs whose interaction exceeds gamma x the strongest are weighted jointly.",
    )
    state.default("gen.samplellm.pool_factor", 1.5)
    extra_params["pool_factor"] = p3.slider(
        "Candidate pool (x rows)",
        1.0,
        3.0,
        step=0.25,
        key="gen.samplellm.pool_factor",
        help="LLM rows written per row kept; the pool is resampled by importance weight.",
    )
elif method == "htdbu":
    st.caption(
        "**H-TDBU**: one LLM call writes a skeleton of constraints (ranges, category sets, if-then); "
        "Gaussian copulas per rule write the rows inside it; TSTR on validation rows and TVD decide each "
        "round whether to retrain the copulas or adjust the skeleton. The skeleton comes back as "
        "proposed rules."
    )
    p1, p2 = st.columns([1, 3])
    state.default("gen.htdbu.rounds", 2)
    extra_params["rounds"] = p1.slider(
        "Feedback rounds",
        0,
        4,
        key="gen.htdbu.rounds",
        help="Most TSTR / TVD feedback rounds (each retrains or adjusts).",
    )
    state.default("gen.htdbu.skeleton", "")
    skeleton_text = p2.text_area(
        "Skeleton (optional, one rule per line)",
        key="gen.htdbu.skeleton",
        height=100,
        placeholder="V1 between 18 and 70\nV12 <= 2000 OR V1 >= 60",
        help="Your own or an edited skeleton: every row must satisfy each line. Leave empty to ask the LLM.",
    )
    lines = [line.strip() for line in skeleton_text.splitlines() if line.strip()]
    extra_params["skeleton"] = lines or None
elif method == "structsynth":
    st.caption(
        "**StructSynth**: one LLM call proposes a dependency DAG over the columns; edges without support "
        "in the train rows are dropped and cycles broken; columns are then sampled in topological order, "
        "each from a tree model given its parents."
    )
    state.default("gen.structsynth.edges", "")
    edges_text = st.text_area(
        "Dependency edges (optional, one `cause -> effect` per line)",
        key="gen.structsynth.edges",
        height=100,
        placeholder=f"{ds.features[0]} -> {ds.target}",
        help="Your own or an edited DAG (the run's messages list the DAG it used). Leave empty to ask the LLM.",
    )
    extra_params["edges"] = edges_text if edges_text.strip() else None
    if edges_text.strip():
        from synth_core.generators.structsynth import parse_edges

        try:
            edges = parse_edges(edges_text, ds.features + [ds.target])
        except SynthError as err:
            show_error(err)
        else:
            with st.expander(f"DAG preview ({len(edges)} edge(s))"):
                st.plotly_chart(
                    viz.dag_figure(edges, ds.features + [ds.target]),
                    key="gen.structsynth.dag",
                    width="stretch",
                )

REFINEMENT_CHOICES = {
    "ask": "Ask me after each round (the run pauses until I decide)",
    "auto": "Approve refinements automatically",
    "propose": "Do not use them in this run (they come back as proposed rules)",
}
refinements = "propose"
if method == "date":
    state.default("gen.refinements", "ask")
    refinements = st.radio(
        "Refined rules",
        list(REFINEMENT_CHOICES),
        key="gen.refinements",
        format_func=REFINEMENT_CHOICES.get,
        horizontal=True,
        disabled=iterations < 2,
        help="Between rounds DATE asks the LLM to refine each rule. A refined rule writes rows only once "
        "approved: by you when the run pauses, or automatically if you choose so. The run records who "
        "approved what." + (" One round (I = 1) makes no refinements." if iterations < 2 else ""),
    )

# ---------------------------------------------------------------- the analyst's model and the check
st.markdown(
    "**The model you will train on the result** — every check uses it: what helps a decision tree often "
    "does nothing for gradient boosting."
)
m1, m2, m3 = st.columns([2, 3, 1])
state.default("gen.for_model", "tree")
for_model = m1.selectbox(
    "Your model",
    list(MODELS),
    key="gen.for_model",
    format_func=lambda m: MODELS[m].label,
    help=help_for("your model"),
)
m1.caption(MODELS[for_model].help)
state.default("gen.also_check", [])
also_check = m2.multiselect(
    "Also check (keep only rows that hurt none of them)",
    [m for m in MODELS if m != for_model],
    key="gen.also_check",
    format_func=lambda m: MODELS[m].label,
    help="Each model named here must not get worse out of fold with the rows kept.",
)
state.default("gen.folds", "auto")
auto_k = auto_folds(len(ds.train_idx))
folds = m3.selectbox(
    "Folds (K)",
    ["auto", *range(2, 11)],
    key="gen.folds",
    format_func=lambda k: f"auto ({auto_k} for {len(ds.train_idx):,} rows)" if k == "auto" else str(k),
    help="The check splits your rows into K parts and holds each out once: a generator and "
    "teacher fitted on the others make rows, and your model is scored on the held-out "
    "part with and without them. Larger K: steadier, slower. Auto uses "
    f"{auto_folds(0)} under {SMALL_TABLE:,} rows (the fold-by-fold test needs the folds there) and "
    f"{auto_folds(SMALL_TABLE)} from there on.",
)

l1, l2 = st.columns([3, 2])
with l1:
    state.default("gen.labels", "auto")
    labels = st.radio(
        "Labels",
        list(LABEL_MODES),
        key="gen.labels",
        horizontal=True,
        captions=None,
        help=help_for("label mode", "teacher"),
    )
    st.caption(f"**{labels}**: {LABEL_HELP[labels]}.")
with l2:
    state.default("gen.selection", "auto")
    selection = st.selectbox(
        "Row selection", list(SELECTION_HELP), key="gen.selection", format_func=lambda m: SELECTION_HELP[m]
    )
    state.default("gen.check", True)
    check = st.checkbox(
        "Keep only the share that helps your model",
        key="gen.check",
        help="Tries ⅛, ¼, ½ and all of the candidate rows on every fold and keeps the share with "
        "the best gain only when it beats your rows alone clearly (paired test over every "
        "row). Unchecked keeps every candidate; the verdict is measured either way.",
    )

# ---------------------------------------------------------------- LLM settings
with st.expander("LLM settings", expanded=needs_llm):
    state.default("gen.llm_mode", "Embedded")
    mode = st.radio(
        "Endpoint",
        ["Embedded", "Endpoint"],
        key="gen.llm_mode",
        horizontal=True,
        format_func=lambda m: (
            "Embedded model (offline, no key)" if m == "Embedded" else "OpenAI-compatible endpoint"
        ),
    )
    st.caption(EMBEDDED_NOTE)
    state.default("gen.deadline", 30)
    st.number_input(
        "Time limit for the LLM in one run (minutes)",
        1,
        24 * 60,
        key="gen.deadline",
        help="After this the run stops asking the LLM, keeps every row made so far and says it is "
        "incomplete; a server that never answers cannot hold a run longer.",
    )
    if mode == "Endpoint":
        e1, e2, e3 = st.columns(3)
        e1.text_input("Base URL", key="gen.base_url", placeholder="https://api.openai.com/v1")
        e2.text_input("Model", key="gen.model", placeholder="gpt-4o-mini")
        e3.text_input(
            "API key",
            key="gen.api_key",
            type="password",
            help="Kept only in this browser session's memory; never written to a file, "
            "a bundle, a report or a log.",
        )
    if st.button(
        "Check the endpoint",
        key="gen.llm_check",
        help="One tiny request. The embedded model is started first (up to a minute).",
    ):
        from synth_core.llm import LLMClient

        try:
            base = current_client(state.llm_config())
            client = LLMClient(
                base.settings.replace(max_retries=0, timeout=15, cache=False),
                api_key=st.session_state.get("gen.api_key") or None,
            )
            with st.spinner(f"Calling {client.endpoint_label}…"):
                t0 = time.perf_counter()
                if client.api == "chat":
                    client.chat([{"role": "user", "content": "Reply with OK."}], max_tokens=2)
                else:
                    client.complete("The capital of France is", max_tokens=2)
            st.success(f"{client.endpoint_label} answered in {time.perf_counter() - t0:.1f} s.")
        except SynthError as err:
            show_error(err)
            st.info(
                "What to do: check the base URL (it usually ends in /v1), that the server is running and "
                "reachable from this machine, the model name and the key; or switch to the embedded model."
            )

# ---------------------------------------------------------------- start
params = {"iterations": iterations, "rho": rho, "rows_per_call": rows_per_call, **extra_params}
params = {k: v for k, v in params.items() if k in accepted_params}
chosen_selection = default_selection(method) if selection == "auto" else selection
candidates = int(n * (2 if chosen_selection != "none" else 1))
job: GenerationJob | None = st.session_state.get("job")
running = job is not None and not job.done
estimate, measured = None, None
rate_key = (dataset_key(ds), "statistical" if needs_llm else method, (for_model, *also_check))
timed = st.session_state.setdefault("gen.timed", set())
if (
    approved
    and rate_key not in timed
    and st.button(
        "Estimate the time",
        key="gen.estimate",
        help="Times a small sample of the work on your table (a few seconds, once per generator and model).",
    )
):
    timed.add(rate_key)
if approved and rate_key in timed:
    from synth_core.estimate import estimate_run, seconds_per_call

    with st.spinner("Timing a small sample of the work on your table…"):
        measured = rates(*rate_key[:2], rate_key[2], ds, rules)
    if needs_llm:
        from dataclasses import replace as _replace

        measured = _replace(
            measured,
            per_call=seconds_per_call(
                st.session_state.get("gen.client_seen"), embedded=state.llm_config()["embedded"]
            ),
        )
    estimate = estimate_run(
        ds,
        rules,
        method=method,
        n=candidates,
        rates=measured,
        model=for_model,
        check_models=also_check,
        folds=folds,
        params=params,
    )
calls = estimate_calls(method, rules, candidates, params, preset=preset.name) if needs_llm else 0
with st.form("gen.form", border=True):
    f1, f2 = st.columns([4, 1])
    how = (
        f"{candidates:,} candidate rows, of which the check keeps the share that helps"
        if check
        else f"{candidates:,} candidate rows, all kept"
    )
    if estimate is not None:
        f1.markdown(
            f"**Estimated time:** {estimate.text()} — {how}"
            + (
                " (the LLM writes structure only; the rows come from statistical models)"
                if needs_llm and method in ("htdbu", "structsynth")
                else f" ({rows_per_call} rows per LLM call)"
                if needs_llm
                else ""
            )
            + "."
        )
    else:
        f1.markdown(
            f"**{method}**: {how}; "
            + (f"up to {calls:,} LLM call(s)." if calls else "no LLM calls.")
            + " Press *Estimate the time* above for how long it will take."
        )
    start = f2.form_submit_button(
        "Start generation", type="primary", disabled=not approved or running, width="stretch"
    )

if start:
    try:
        client = (
            current_client(state.llm_config()).with_deadline(60.0 * st.session_state["gen.deadline"])
            if needs_llm
            else None
        )
    except SynthError as err:
        show_error(err)
    else:
        st.session_state["gen.client_seen"] = client
        job = GenerationJob(
            dataset=ds,
            rules=rules,
            method=method,
            n=int(n),
            labels=labels,
            selection=chosen_selection,
            alpha=float(alpha),
            client=client,
            generator_params=params,
            guard=bool(check),
            model=for_model,
            check_models=list(also_check),
            folds=folds,
            preset=preset.name,
            refinements=WaitingGate() if refinements == "ask" else refinements,
            random_state=state.seed(),
        ).start()
        st.session_state["job"] = job


# ---------------------------------------------------------------- progress
def _answer(job: GenerationJob, request) -> None:
    """The person's decisions on one round's refined rules (a callback: the run goes on at once)."""
    decisions = []
    for rule in request.proposals:
        key = f"gen.ref.{request.iteration}.{rule.id}"
        choice, text = st.session_state.get(key + ".do"), (st.session_state.get(key + ".text") or "").strip()
        if choice == "approve":
            decisions.append(
                Decision(rule.id, "edit", rule=text)
                if text and text != rule.text
                else Decision(rule.id, "approve")
            )
        elif choice == "reject":
            decisions.append(Decision(rule.id, "reject"))
    job.answered.add(request.iteration)
    job.gate.answer(decisions)


def approval_form(job: GenerationJob, request) -> None:
    """The refined rules of one round, for the person to approve, edit or reject before the run goes on."""
    sources = ", ".join(dict.fromkeys(request.sources.values()))
    st.markdown(
        f"**Round {request.iteration} of {request.iterations} is done.** DATE proposes "
        f"{len(request.proposals)} refined rule(s) of {sources}. A refined rule writes rows in the next "
        "round only if you approve it; you may edit its text first. The run waits for you."
    )
    with st.form(f"gen.approve.{request.iteration}"):
        for rule in request.proposals:
            key = f"gen.ref.{request.iteration}.{rule.id}"
            fold = request.folds.get(rule.id)
            a, b = st.columns([4, 1])
            a.text_input(
                f"{rule.id} (refines {request.sources.get(rule.id, '?')}"
                + (f", check fold {fold}" if fold not in ("", None) else "")
                + ")",
                value=rule.text,
                key=key + ".text",
            )
            if rule.note:
                a.caption(rule.note)
            b.radio("Decision", ["approve", "reject"], index=1, key=key + ".do", horizontal=True)
        st.form_submit_button(
            "Continue the run with these decisions", type="primary", on_click=_answer, args=(job, request)
        )


job = st.session_state.get("job")
if job is not None and not job.collected:
    with st.status(f"Generating with {job.kwargs['method']}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        if st.button("Cancel (keeps the rows made so far)", key="gen.cancel", disabled=job.cancelled):
            job.cancel()
        while not job.wait(0.25):
            frac, msg, secs = job.snapshot()
            asking = job.asking()
            if asking is not None and not job.cancelled:
                bar.progress(frac, text=f"waiting for your decision on the refined rules ({secs:.0f} s)")
                approval_form(job, asking)
                st.stop()  # the form's button answers and the next run of the page goes on waiting
            note = (
                "cancelling: finishing the current step, every row made so far is kept — "
                if job.cancelled
                else ""
            )
            bar.progress(frac, text=f"{note}{msg} ({secs:.0f} s)")
        frac, msg, secs = job.snapshot()
        bar.progress(1.0, text=f"finished in {secs:.1f} s")
        job.collected = True
        if job.bug is not None:
            raise job.bug
        if job.error is not None:
            status.update(label="Generation failed", state="error")
            st.session_state["gen.last_error"] = job.error
        else:
            run = job.result
            st.session_state["gen.last_error"] = None
            state.add_run(run, seconds=secs)
            label = "Cancelled: partial rows kept" if run.metrics.get("cancelled") else "Done"
            status.update(label=f"{label}: {len(run.selected):,} rows kept", state="complete", expanded=False)
        st.rerun()  # draw the page again at once: Start is usable, the results show

err = st.session_state.get("gen.last_error")
if err is not None:
    show_error(err)
    if getattr(err, "__class__", None).__name__.startswith("LLM"):
        st.info(
            "The LLM endpoint could not be used. Check the LLM settings above (or use the embedded model), "
            "or pick an offline generator such as jitter or statistical."
        )


# ---------------------------------------------------------------- results
def _edit_structure(key: str, text: str) -> None:
    st.session_state[key] = text  # a callback: it runs before the widget is drawn again


def run_structure(run) -> None:
    """The DAG or skeleton a run wrote rows from, and the rules it proposed, each one click from editing."""
    structure = run.params.get("structure") or {}
    if structure.get("dag") is not None:
        from synth_core.generators.structsynth import format_edges

        edges = [tuple(e) for e in structure["dag"]]
        with st.expander(
            f"Dependency DAG of this run ({structure.get('dag_source')}, {len(edges)} edge(s))", expanded=True
        ):
            st.plotly_chart(
                viz.dag_figure(edges, run.dataset.features + [run.dataset.target]),
                key="gen.run_dag",
                width="stretch",
            )
            st.button(
                "Edit this DAG",
                key="gen.edit_dag",
                on_click=_edit_structure,
                args=("gen.structsynth.edges", format_edges(edges)),
                help="Copies its edges into the edge list above: change them and run again (no LLM call).",
            )
    if structure.get("skeleton"):
        lines = structure["skeleton"]
        with st.expander(f"Skeleton of this run ({len(lines)} constraint(s))", expanded=True):
            st.code("\n".join(lines), language=None)
            st.button(
                "Edit this skeleton",
                key="gen.edit_skeleton",
                on_click=_edit_structure,
                args=("gen.htdbu.skeleton", "\n".join(lines)),
                help="Copies it into the skeleton box above: change it and run again (no LLM call).",
            )
    ours = {r.text for r in state.rules()}
    proposed = [r for r in run.rules if r.status == "proposed" and r.text not in ours]
    if proposed:
        st.markdown(
            f"**{len(proposed)} rule(s) this run proposed** (DATE refinements, H-TDBU skeleton): "
            + ", ".join(f"`{r.text}`" for r in proposed[:6])
            + (" …" if len(proposed) > 6 else "")
        )
        if st.button(
            "Add them to the Rules page as proposed",
            key="gen.add_proposed",
            help="They arrive with status 'proposed': review, edit and approve them there.",
        ):
            n_added = state.add_proposed(proposed, ds.train)
            state.flash("success", f"Added {n_added} proposed rule(s) to the Rules page.")
            st.rerun()


def verdict_block(run) -> None:
    """The cross-fitted verdict for the analyst's model (and any checked ones), in plain words."""
    check = run.metrics.get("check")
    if not check:
        return
    from synth_core.crossfit import verdict_sentence

    for v in check["verdicts"].values():
        text = verdict_sentence(v)
        (st.success if v["high"] < 0 else st.info if v["low"] <= 0 <= v["high"] else st.warning)(text)
    st.caption(
        f"Cross-fitted over {check['folds']} folds × {check['repeats']} repeat(s) of {check['rows']:,} rows: "
        "each fold is judged by the choice the other folds made, so no row that chose the rows scores them."
    )


run = state.run()
if run is not None and err is None:
    st.subheader("Latest run")
    rows = run.rows
    sel = run.selected
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Rows kept", f"{len(sel):,}", border=True)
    m2.metric("Candidates", f"{len(rows):,}", border=True)
    accepted = int((rows["_status"] == "accepted").sum()) if "_status" in rows else len(rows)
    m3.metric("Rejected", f"{len(rows) - accepted:,}", border=True)
    usage = run.usage.get("summary", run.usage) if isinstance(run.usage, dict) else {}
    m4.metric("LLM calls", f"{usage.get('calls', 0):,}", border=True)
    m5.metric("Seconds", f"{run.metrics.get('seconds', 0):.1f}", border=True)
    if (why := run.why_nothing_kept()) is not None:
        st.warning(why)
    if run.metrics.get("cancelled"):
        st.warning("This run was cancelled; the rows made before the cancel are kept.")
    if run.metrics.get("incomplete"):
        st.warning(f"This run is incomplete: {run.metrics['incomplete']}.")
    verdict_block(run)
    for msg in run.messages:
        st.caption(f"• {msg}")

    st.markdown("**Per rule**")
    st.dataframe(run.outcomes(), hide_index=True, key="gen.per_rule", width="stretch")
    if run.labels:
        st.caption(
            f"Labels: mode **{run.labels.get('mode')}**, {run.labels.get('labels_changed', 0):,} label(s) "
            f"changed. {run.labels.get('message', '')}"
        )
    arms = run.arms if isinstance(run.arms, pd.DataFrame) else pd.DataFrame()
    if len(arms) and {"arm", "utility", "diversity", "accepted"} <= set(arms.columns):
        with st.expander(f"Row selection: {len(arms)} arms ({run.params.get('selection')})"):
            fig = figure(viz.mds_arm_figure, arms)
            if fig is not None:
                st.plotly_chart(fig, key="gen.arms", width="stretch")
            st.dataframe(arms, key="gen.arms_table", hide_index=True)
    run_structure(run)
    with st.expander("Rows kept (first 200)"):
        st.dataframe(run.synthetic_frame(provenance=True).head(200), key="gen.rows", hide_index=True)
    st.page_link(PAGES["compare"], label="Next: compare with the real rows", icon=":material/compare:")

if state.runs():
    with st.expander(f"All runs since the table was loaded ({len(state.runs())})"):
        st.dataframe(
            pd.DataFrame([{k: v for k, v in e.items() if k != "run"} for e in state.runs()]),
            key="gen.history",
            hide_index=True,
        )
        st.caption("Compare and Export can show any of them (pick it there).")
