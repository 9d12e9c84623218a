"""AppTest: the Generate page (offline generators, progress, cancel, LLM settings and failures)."""

from __future__ import annotations

import re

import pytest

from app_support.jobs import GenerationJob
from app_support.testing import TIMEOUT, app_at, bank_dataset, finished_run, rules_for, texts
from synth_core.crossfit import auto_folds
from synth_core.generators import GENERATORS, available_generators

PAGE = "pages/3_Generate.py"
START = "FormSubmitter:gen.form-Start generation"
DOWN = {"gen.llm_mode": "Endpoint", "gen.base_url": "http://127.0.0.1:9/v1", "gen.model": "any-model"}


@pytest.fixture(scope="module")
def ds():
    return bank_dataset()


def test_zero_approved_rules_is_explained(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds, status="proposed"))
    assert not at.exception
    assert any("No approved rules" in w for w in texts(at.warning))
    assert at.button(key=START).disabled


@pytest.mark.parametrize("method, labels", [("jitter", "filter"), ("statistical", "relabel")])
def test_offline_generation(ds, method, labels):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds))
    assert at.selectbox(key="gen.method").value == "statistical"  # the offline default
    assert at.number_input(key="gen.budget").value == min(max(3000, 20 * len(ds.train_idx)), 60_000)
    at.selectbox(key="gen.method").set_value("date").run(timeout=TIMEOUT)
    assert (
        at.number_input(key="gen.budget").value == 200
    )  # switching resets the budget to the generator's default
    at.selectbox(key="gen.method").set_value(method).run(timeout=TIMEOUT)
    assert at.checkbox(key="gen.check").value  # the cross-fitted check is on by default
    assert at.selectbox(key="gen.for_model").value == "tree"
    folds, given = at.selectbox(key="gen.folds"), len(ds.train_idx)
    assert folds.value == "auto" and folds.options[0] == f"auto ({auto_folds(given)} for {given:,} rows)"
    at.number_input(key="gen.budget").set_value(60)
    at.selectbox(key="gen.folds").set_value(2)  # a quick check: these tests are about the page
    at.radio(key="gen.labels").set_value(labels)
    at.checkbox(key="gen.check").uncheck()  # keep every row, so the page shows some
    at.run(timeout=TIMEOUT)
    assert any("no LLM calls" in m for m in texts(at.markdown))
    at.button(key=START).click().run(timeout=300)  # a whole run, on a busy machine
    assert not at.exception, at.exception
    run = at.session_state["run"]
    assert run.params["method"] == method and run.params["labels"] == labels
    assert run.params["selection"] == "none" and run.params["guard"] is False  # 'auto' selection offline
    assert 0 < len(run.selected) <= 60
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows kept"] == f"{len(run.selected):,}"
    assert metrics["LLM calls"] == "0"
    (per_rule,) = [d.value for d in at.dataframe if "rule id" in d.value.columns]
    assert set(per_rule["rule id"]) == {"r1", "r2"}
    assert at.session_state["runs"][-1]["method"] == method
    assert not at.error


def test_a_run_that_keeps_no_row_says_why(ds):
    run = finished_run(ds, rules_for(ds), n=20)
    run.rows["_status"], run.rows["_reason"], run.rows["_selected"] = (
        "rejected",
        "label contradicted by teacher",
        False,
    )
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), run=run)
    assert not at.exception
    assert run.why_nothing_kept() in texts(at.warning)  # the library's reason, shown as is
    assert run.why_nothing_kept().startswith(
        f"Every one of the {len(run.rows):,} candidate rows was rejected "
        f"(label contradicted by teacher ({len(run.rows):,}))"
    )


def test_label_mode_has_an_explanation(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds))
    for mode in ("auto", "relabel", "filter", "score", "none"):
        at.radio(key="gen.labels").set_value(mode).run(timeout=TIMEOUT)
        assert any(c.startswith(f"**{mode}**:") for c in texts(at.caption)), mode


def test_cancel_keeps_partial_rows(ds):
    job = GenerationJob(dataset=ds, rules=rules_for(ds), method="jitter", n=40, random_state=0)
    job.cancel()  # cancelled before the first batch: the run still comes back, marked cancelled
    job.start()
    assert job.wait(60)
    assert job.error is None and job.bug is None
    assert job.result.metrics["cancelled"] is True
    run = finished_run(ds, rules_for(ds), n=40)
    run.metrics["cancelled"] = True
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), run=run)
    assert not at.exception
    assert any("cancelled" in w for w in texts(at.warning))


def test_llm_settings_key_is_a_password_field(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **{"gen.llm_mode": "Endpoint"})
    assert not at.exception
    key = at.text_input(key="gen.api_key")
    assert key.proto.type == key.proto.PASSWORD
    assert any("not the quality path" in c for c in texts(at.caption))


def test_endpoint_down_check(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **DOWN)
    at.button(key="gen.llm_check").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error and "127.0.0.1:9" in " ".join(texts(at.error))
    assert any("What to do" in i for i in texts(at.info))


def test_llm_generator_with_endpoint_down(ds):
    llm_methods = [m for m in available_generators() if GENERATORS[m].needs_llm]
    if not llm_methods:
        pytest.skip("no LLM generator is available in this build")
    at = app_at(
        PAGE, dataset=ds, rules=rules_for(ds), **DOWN, **{"gen.method": llm_methods[0], "gen.budget": 10}
    )
    assert any(re.search(r"up to \d+ LLM call\(s\)", m) for m in texts(at.markdown))
    at.button(key=START).click().run(timeout=300)  # a whole run, on a busy machine
    assert not at.exception
    (error,) = texts(at.error)
    assert "127.0.0.1:9" in error and "cannot reach" in error  # the endpoint named, the fault said plainly
    assert "run" not in at.session_state or at.session_state["run"] is None  # no empty run pretending to work


@pytest.mark.parametrize(
    "method, keys",
    [
        ("samplellm", ["gen.samplellm.n_clusters", "gen.samplellm.gamma", "gen.samplellm.pool_factor"]),
        ("htdbu", ["gen.htdbu.rounds", "gen.htdbu.skeleton"]),
        ("structsynth", ["gen.structsynth.edges"]),
    ],
)
def test_paper_generators_have_their_parameters(ds, method, keys):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **{"gen.method": method})
    assert not at.exception, at.exception
    assert GENERATORS[method].help in texts(at.caption)
    assert any(
        c.startswith(
            f"**{ {'samplellm': 'SampleLLM', 'htdbu': 'H-TDBU', 'structsynth': 'StructSynth'}[method] }**"
        )
        for c in texts(at.caption)
    )
    present = {w.key for w in list(at.slider) + list(at.text_area)}
    assert set(keys) <= present
    calls = 1 if method in ("htdbu", "structsynth") else None
    assert any((f"up to {calls} LLM call(s)" if calls else "LLM call(s)") in m for m in texts(at.markdown))


@pytest.mark.parametrize(
    "method, state",
    [
        ("htdbu", {"gen.htdbu.skeleton": "V12 between 20 and 2500", "gen.htdbu.rounds": 1}),
        ("structsynth", {"gen.structsynth.edges": "V1 -> V6\nV12 -> Class"}),
    ],
)
def test_paper_generators_run_with_a_person_structure(ds, method, state):
    # a person's skeleton / DAG needs no LLM call: the run works with the endpoint down
    at = app_at(
        PAGE,
        dataset=ds,
        rules=rules_for(ds),
        **DOWN,
        **state,
        **{"gen.method": method, "gen.budget": 20, "gen.labels": "relabel"},
    )
    assert any("no LLM calls" in m for m in texts(at.markdown))
    if method == "structsynth":
        assert len(at.get("plotly_chart")) >= 1  # the DAG preview
    at.button(key=START).click().run(timeout=300)  # a whole run, on a busy machine
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    run = at.session_state["run"]
    assert run.params["method"] == method and len(run.rows) > 0
    gen_params = run.params["generator"]
    assert gen_params.get("skeleton") or gen_params.get("edges")

    # the run's structure is shown and one click puts it back into the box, for editing
    used = run.params["structure"]
    box, edit = {
        "htdbu": ("gen.htdbu.skeleton", "gen.edit_skeleton"),
        "structsynth": ("gen.structsynth.edges", "gen.edit_dag"),
    }[method]
    expected = (
        "\n".join(used["skeleton"]) if method == "htdbu" else "\n".join(f"{a} -> {b}" for a, b in used["dag"])
    )
    at.text_area(key=box).set_value("").run(timeout=TIMEOUT)
    at.button(key=edit).click().run(timeout=TIMEOUT)
    assert at.text_area(key=box).value == expected
    if method == "htdbu":  # the skeleton's rules can join the rule set as proposals
        before = len(at.session_state["rules"])
        at.button(key="gen.add_proposed").click().run(timeout=TIMEOUT)
        added = at.session_state["rules"][before:]
        assert added and all(r.status == "proposed" for r in added)
        assert {r.text for r in added} <= set(used["skeleton"])
        assert "gen.add_proposed" not in [b.key for b in at.button]  # nothing left to add


@pytest.mark.llm
def test_structsynth_on_the_embedded_model_from_the_page(ds):
    # the page's default endpoint is the embedded model: one real structure call, the DAG shown after the run
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **{"gen.method": "structsynth", "gen.budget": 20})
    assert any("up to 1 LLM call(s)" in m for m in texts(at.markdown))
    at.button(key=START).click().run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    run = at.session_state["run"]
    assert run.params["llm"]["base_url"] == "embedded"
    assert run.usage["calls"] + run.usage["cache_hits"] == 1
    assert run.params["structure"]["dag_source"] in ("llm", "data")  # 'data' when no proposed edge survives
    assert any(e.label.startswith("Dependency DAG of this run") for e in at.expander)
    assert len(run.rows) > 0


def test_date_pauses_for_the_person_to_approve_edit_or_reject_refined_rules(monkeypatch):
    """Issue 19: in the app DATE waits between rounds; only what the person approves writes rows."""
    import app_support.cached
    from synth_core.data import make_dataset
    from synth_core.llm.testing import FakeLLM
    from synth_core.rules import parse_rule

    from .test_papers_presets import _frame, scripted

    table = make_dataset(_frame(), target="y", seed=0)
    rules = [
        parse_rule("x > 5 AND color in {'red', 'green'}", id="R1", status="approved", ind=0.9, model_id=1),
        parse_rule("x <= 5", id="R2", status="approved", ind=0.8, model_id=2),
    ]
    monkeypatch.setattr(
        app_support.cached, "current_client", lambda config: FakeLLM(responses=scripted(fresh=True))
    )
    at = app_at(
        PAGE,
        dataset=table,
        rules=rules,
        **{
            "gen.method": "date",
            "gen.budget": 20,
            "gen.iterations": 2,
            "gen.folds": 2,
            "gen.check": False,
            "gen.labels": "none",
        },
    )
    assert at.radio(key="gen.refinements").value == "ask"  # the person decides unless they choose otherwise
    assert at.radio(key="gen.preset.date").value == "product"
    at.button(key=START).click().run(timeout=300)
    assert not at.exception, at.exception
    assert any(m.startswith("**Round 1 of 2 is done.**") for m in texts(at.markdown))
    job = at.session_state["job"]
    request = job.gate.pending
    assert request is not None and not job.done  # the run waits for the person
    first, second, *rest = request.proposals
    key = f"gen.ref.{request.iteration}"
    assert at.radio(key=f"{key}.{first.id}.do").value == "reject"  # nothing is approved by default
    at.radio(key=f"{key}.{first.id}.do").set_value("approve")
    at.text_input(key=f"{key}.{second.id}.text").set_value("age >= 40 AND age < 60")
    at.radio(key=f"{key}.{second.id}.do").set_value("approve")
    at.button(
        key=f"FormSubmitter:gen.approve.{request.iteration}-Continue the run with these decisions"
    ).click()
    at.run(timeout=300)
    assert not at.exception, at.exception
    run = at.session_state["run"]
    decisions = {d["rule_id"]: d for d in run.params["refinements"]["decisions"]}
    assert decisions[first.id]["decision"] == "approved by a person"
    assert decisions[second.id]["decision"] == "edited by a person"
    assert decisions[second.id]["rule"] == "age >= 40 AND age < 60"
    assert all(decisions[r.id]["decision"] == "rejected by a person" for r in rest)
    allowed = {"R1", "R2", first.id.split(".")[0] + ".r1", second.id.split(".")[0] + ".r1"}
    assert set(run.rows["_rule_id"]) <= allowed | {first.id, second.id}
    assert run.params["refinements"]["policy"] == "person"


def test_the_paper_preset_shows_its_fixed_values(ds):
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds), **{"gen.method": "date"})
    at.radio(key="gen.preset.date").set_value("paper").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Rounds per rule (I)"] == "3" and shown["Quality vs diversity (alpha)"] == "0.8"
    assert not [s for s in at.slider if s.key == "gen.iterations"]  # not offered: the paper fixes it
    assert any("DATE Alg. 2 and 3 step by step" in c for c in texts(at.caption))
