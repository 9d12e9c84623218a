"""The seed papers as published (``paper`` presets), a person approving refinements, and rows keeping their rules.

Every "same" row of ``docs/PAPERS.md`` names a test in this module or in ``test_date.py`` / ``test_selection.py``.
"""

from __future__ import annotations

import json
import math
import re
import threading

import numpy as np
import pandas as pd
import pytest

from synth_core.approval import Decision, RefinementRequest, WaitingGate, resolve_gate, settle
from synth_core.data import infer_schema, make_dataset
from synth_core.discovery import DGRDiscoverer, SharedModel
from synth_core.errors import InvalidParameterError
from synth_core.generators import date as date_module
from synth_core.generators._region import clause_shares, sample_inside
from synth_core.generators.base import TYPED_RULE_REASON, CancelToken, recheck_typed
from synth_core.generators.date import DELTA_REASON, GROUP_ERROR_REASON, DATEGenerator
from synth_core.generators.jitter import JitterGenerator
from synth_core.generators.presets import preset_names, preset_params, resolve_preset
from synth_core.generators.selection import PAPER_PULLS, UCB_SCALE, select_rows
from synth_core.generators.statistical import StatisticalGenerator
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule

# --------------------------------------------------------------------------- fixtures and scripted LLM


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": np.round(rng.uniform(0, 10, n), 2),
            "age": rng.integers(18, 80, n),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    frame["y"] = np.where((frame["x"] > 5) & (frame["color"] != "blue"), "yes", "no")
    return frame


@pytest.fixture(scope="module")
def paper_ds():
    return make_dataset(_frame(), target="y", seed=0, protocol="paper")


@pytest.fixture(scope="module")
def crossfit_ds():
    return make_dataset(_frame(), target="y", seed=0)


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
    ]


def is_rule_prompt(prompt: str) -> bool:
    return prompt.startswith("Table columns")


def data_lines(prompt: str) -> list[str]:
    """The row lines of a row prompt (either shape): every line after the header that is not a comment."""
    lines = prompt.strip().split("\n")
    return [line for line in lines[2:] if line and not line.startswith("#")]


def scripted(refined=("x > 7 AND color == 'red'",), flip_first=False, fresh=False):
    """Rule prompts get JSON rules (``fresh``: new ones every time); row prompts get the exemplars with age
    moved (not copies of real rows)."""
    state = {"calls": 0, "rule_calls": 0}

    def reply(prompt):
        if is_rule_prompt(prompt):
            state["rule_calls"] += 1
            k = state["rule_calls"]
            return json.dumps({"rules": [f"age >= {30 + k}", f"age < {70 - k}"] if fresh else list(refined)})
        state["calls"] += 1
        out = []
        for i, line in enumerate(data_lines(prompt)[-5:]):
            fields = line.split(",")
            fields[1] = str(min(int(fields[1]) + 1 + (state["calls"] + i) % 7, 79))
            if flip_first and i == 0:
                fields[3] = '"no"' if fields[3] == '"yes"' else '"yes"'
            out.append(",".join(fields))
        return "\n".join(out) + "\n"

    return reply


# --------------------------------------------------------------------------- item 4: rows keep their rules


def _or_table(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, n)  # ten values, about 10% each
    z = rng.normal(0, 1, n) + 0.3 * x
    y = np.where(z + rng.normal(0, 1, n) > 1.5, "a", "b")
    return make_dataset(pd.DataFrame({"x": x, "z": z, "y": y}), target="y", seed=0)


def _no_value_above_its_share(rows, real, n):
    real_share = real["x"].value_counts(normalize=True)
    for value, s in rows["x"].value_counts(normalize=True).items():
        p = real_share.get(value, 0.0)
        assert s <= p + 3 * np.sqrt(p * (1 - p) / n) + 0.005, (value, s, p)  # 3 standard errors of n draws


def test_an_or_rule_gives_each_clause_its_real_share_and_piles_nothing_on_a_bound():
    """10,000 rows of a two-clause rule: no value holds more than its real share."""
    ds = _or_table()
    rule = parse_rule("x <= 2 OR x >= 7", id="R1", status="approved")
    real = ds.train[rule.mask(ds.train)].reset_index(drop=True)
    rng = np.random.default_rng(0)
    whole = ds.train.reset_index(
        drop=True
    )  # a sampler over the whole table: most draws fall outside a clause
    kept = sample_inside(
        lambda k: whole.sample(k, replace=True, random_state=int(rng.integers(1 << 30))),
        rule,
        10_000,
        ds.schema,
        rng,
        real=real,
    )
    assert len(kept) == 10_000 and rule.mask(kept).all()
    _no_value_above_its_share(kept, real, 10_000)
    assert (kept["x"] <= 2).sum() == round(
        10_000 * clause_shares(rule, real)[0]
    )  # each clause by its real support
    jitter = JitterGenerator(random_state=0, iterations=1).fit(ds, [rule]).generate(10_000).accepted
    assert len(jitter) == 10_000 and rule.mask(jitter).all()
    _no_value_above_its_share(jitter, real, 10_000)


def test_the_statistical_generator_piles_nothing_on_the_bound_of_an_or_rule():
    ds = _or_table()
    rule = parse_rule("x <= 2 OR x >= 7", id="R1", status="approved")
    real = ds.train[rule.mask(ds.train)]
    acc = StatisticalGenerator(random_state=0, iterations=1).fit(ds, [rule]).generate(10_000).accepted
    assert len(acc) == 10_000 and rule.mask(acc).all()
    assert abs((acc["x"] <= 2).mean() - clause_shares(rule, real)[0]) < 0.002
    # the copula's own marginal gives 2 about 0.19 against 0.17 real (tied integers narrow its normal scores);
    # clipping one clause's draws into the other gave it over 0.5
    assert (acc["x"] == 2).mean() < 0.21


def test_the_old_clipping_would_have_piled_rows_on_the_boundary():
    """What the test above guards against: clipping one clause's draws into the other clause."""
    from synth_core.generators._region import clip_to_rule

    ds = _or_table()
    rule = parse_rule("x <= 2 OR x >= 7", status="approved")
    real = ds.train[rule.mask(ds.train)].reset_index(drop=True)
    clipped = clip_to_rule(real, rule.conjunctions[0], ds.schema)
    assert (clipped["x"] == 2).mean() > 0.5  # half the rows sit on the bound 2
    rng = np.random.default_rng(0)
    kept = sample_inside(
        lambda k: real.sample(k, replace=True, random_state=int(rng.integers(1 << 30))),
        rule,
        5000,
        ds.schema,
        rng,
        real=real,
    )
    assert (kept["x"] == 2).mean() < 0.25


def test_a_short_clause_is_filled_from_real_values_not_a_bound():
    ds = _or_table()
    rule = parse_rule("x <= 2 OR x >= 7", status="approved")
    real = ds.train[rule.mask(ds.train)].reset_index(drop=True)
    rng = np.random.default_rng(0)
    middle = real.assign(x=5)  # a sampler that never draws inside the rule: every row needs repair
    kept = sample_inside(
        lambda k: middle.sample(k, replace=True, random_state=int(rng.integers(1 << 30))),
        rule,
        2000,
        ds.schema,
        rng,
        real=real,
    )
    assert len(kept) == 2000 and rule.mask(kept).all()
    share = kept["x"].value_counts(normalize=True)
    assert share.max() < 0.25 and set(share.index) <= set(real["x"])


def test_recheck_typed_rejects_rows_the_cast_carried_over_the_bound():
    rule = parse_rule("k <= 3.7", id="R1")
    rows = pd.DataFrame(
        {"k": [3, 4], "y": ["a", "b"], "_rule_id": "R1", "_status": "accepted", "_reason": ""}
    )
    assert recheck_typed(rows, {"R1": rule}) == {"R1": 1}
    assert rows["_status"].tolist() == ["accepted", "rejected"]
    assert rows["_reason"].tolist() == ["", TYPED_RULE_REASON]


def test_date_checks_its_rule_on_the_final_typed_row(paper_ds, rules, monkeypatch):
    real_coerce = date_module.coerce_like

    def cast_moves_x(rows, like, schema):  # a cast that moves x across R2's bound (x <= 5)
        out = real_coerce(rows, like, schema)
        out["x"] = np.where(out["x"].between(4.0, 5.0), 5.5, out["x"])
        return out

    monkeypatch.setattr(date_module, "coerce_like", cast_moves_x)
    gen = DATEGenerator(client=FakeLLM(responses=scripted()), random_state=0).fit(paper_ds, rules)
    out = gen.generate(40)
    acc = out.accepted
    for rid, group in acc.groupby("_rule_id"):
        assert next(r for r in rules if r.id == rid).mask(group).all()
    moved = out.rows[out.rows["_reason"] == TYPED_RULE_REASON]
    assert len(moved) and (moved["x"] == 5.5).all() and set(moved["_rule_id"]) == {"R2"}
    per = out.per_rule.set_index("rule_id")
    assert TYPED_RULE_REASON in per.loc["R2", "rejected_by_reason"]


def test_samplellm_checks_its_rule_on_the_final_typed_row(paper_ds, rules, monkeypatch):
    from synth_core.generators import samplellm as module

    real = module.provenance_frame

    def moved(rows, **kw):
        out = real(rows, **kw)
        if kw.get("status") == "accepted":
            out["x"] = np.where(out["x"] <= 5, 5.5, out["x"])
        return out

    monkeypatch.setattr(module, "provenance_frame", moved)
    gen = module.SampleLLMGenerator(client=FakeLLM(responses=scripted()), n_clusters=3, random_state=0)
    out = gen.fit(paper_ds, rules).generate(10)
    assert set(out.rows.loc[out.rows["_reason"] == TYPED_RULE_REASON, "_rule_id"]) == {"R2"}
    assert not (out.accepted["_rule_id"] == "R2").any()


# --------------------------------------------------------------------------- item 1: a person approves refinements


def test_the_rules_page_promise_no_row_from_an_unapproved_rule(crossfit_ds, rules):
    """A DATE run with I = 3 and no approval keeps no row from an unapproved rule (cross-fitted, 5 folds)."""
    from synth_core.pipeline import run_pipeline

    fake = FakeLLM(responses=scripted(fresh=True))
    run = run_pipeline(
        crossfit_ds,
        rules,
        method="date",
        n=40,
        client=fake,
        labels="none",
        selection="none",
        generator_params={"iterations": 3},
    )
    assert run.params["generator"]["iterations"] == 3
    approved = {r.id for r in rules}
    assert set(run.rows["_rule_id"]) <= approved and set(run.selected["_rule_id"]) <= approved
    proposed = [r for r in run.rules if r.origin == "refined"]
    assert proposed and all(r.status == "proposed" for r in proposed)
    record = run.params["refinements"]
    assert record["policy"] == "propose" and record["decisions"]
    assert {d["decision"] for d in record["decisions"]} == {"not approved"}
    assert {d["iteration"] for d in record["decisions"]} == {1, 2}  # none after the last iteration
    assert sum(is_rule_prompt(c.prompt) for c in fake.calls) == 4  # two groups x two refinements


def test_one_question_per_iteration_for_the_whole_run_and_auto_approval_is_recorded(crossfit_ds, rules):
    from synth_core.pipeline import run_pipeline

    asked = []

    class Counting:
        by = "automatically"
        policy = "auto"

        def decide(self, request):
            asked.append(request)
            return [Decision(r.id, "approve") for r in request.proposals]

    fake = FakeLLM(responses=scripted(fresh=True))
    run = run_pipeline(
        crossfit_ds,
        rules,
        method="date",
        n=40,
        client=fake,
        labels="none",
        selection="none",
        generator_params={"iterations": 3},
        refinements=Counting(),
    )
    assert [r.iteration for r in asked] == [1, 2]  # once per iteration, not once per fold
    assert len(set(asked[0].folds.values())) == 2  # both folds' proposals in one question
    refined_rows = run.rows[run.rows["_rule_id"].str.contains(r"\.r\d")]
    assert len(refined_rows) and set(refined_rows["_iteration"]) <= {2, 3}
    decisions = run.params["refinements"]["decisions"]
    assert {d["decision"] for d in decisions} == {"approved automatically"}
    by_id = {r.id: r for r in run.rules}
    assert all(by_id[d["rule_id"]].status == "approved" for d in decisions)
    assert run.params["refinements"]["policy"] == "auto"


def test_auto_string_and_the_paper_protocol_honour_the_gate(paper_ds, rules):
    from synth_core.pipeline import run_pipeline

    none = run_pipeline(
        paper_ds,
        rules,
        method="date",
        n=20,
        labels="none",
        selection="none",
        guard=False,
        client=FakeLLM(responses=scripted()),
        generator_params={"iterations": 2},
    )
    assert set(none.rows["_rule_id"]) <= {"R1", "R2"}
    auto = run_pipeline(
        paper_ds,
        rules,
        method="date",
        n=20,
        labels="none",
        selection="none",
        guard=False,
        client=FakeLLM(responses=scripted()),
        generator_params={"iterations": 2},
        refinements="auto",
    )
    assert "R1.r1" in set(auto.rows["_rule_id"])
    assert auto.params["refinements"]["decisions"][0]["decision"] == "approved automatically"


def test_a_cancel_releases_a_waiting_gate(crossfit_ds, rules):
    from synth_core.pipeline import run_pipeline

    gate, token, box = WaitingGate(), CancelToken(), {}

    def work():
        box["run"] = run_pipeline(
            crossfit_ds,
            rules,
            method="date",
            n=20,
            labels="none",
            selection="none",
            client=FakeLLM(responses=scripted()),
            generator_params={"iterations": 3},
            refinements=gate,
            cancel=token,
        )

    t = threading.Thread(target=work, daemon=True)
    t.start()
    request = gate.wait_for_request(60)
    assert request is not None and request.iteration == 1 and gate.pending is request
    token.cancel()
    t.join(30)
    assert not t.is_alive()
    run = box["run"]
    assert run.metrics["cancelled"] and set(run.rows["_rule_id"]) <= {"R1", "R2"}
    assert {d["decision"] for d in run.params["refinements"]["decisions"]} == {"not approved"}


def test_a_waiting_gate_answer_lets_the_person_edit():
    gate = WaitingGate()
    req = RefinementRequest(
        1, 3, (parse_rule("x > 7", id="R1.r1", status="proposed", origin="refined"),), {"R1.r1": "R1"}
    )
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("d", gate.decide(req)))
    t.start()
    assert gate.wait_for_request(5) is req
    gate.answer([Decision("R1.r1", "edit", rule="x > 8")])
    t.join(5)
    approved, record = settle(req, out["d"], gate=gate)
    assert approved["R1.r1"].text == "x > 8" and approved["R1.r1"].status == "approved"
    assert record[0]["decision"] == "edited by a person" and record[0]["proposed"] == "x > 7"


def test_gate_values_are_checked():
    with pytest.raises(InvalidParameterError, match="refinements must be"):
        resolve_gate("sometimes")
    with pytest.raises(InvalidParameterError, match="action must be one of"):
        Decision("R1.r1", "maybe")


# --------------------------------------------------------------------------- item 2: DATE's paper preset


def test_presets_name_their_parameters_and_paper_values_win():
    assert preset_names("date") == ("product", "paper") and preset_names("statistical") == ("product",)
    p = resolve_preset("date", "paper")
    assert p.generator == {"preset": "paper", "iterations": 3, "n_refinements": 1}
    assert p.run == {
        "selection": "mds",
        "selection_preset": "paper",
        "alpha": 0.8,
        "n_pulls": 200,
        "oversample": 1.0,
    }
    assert preset_params("date", "paper", {"iterations": 1, "rows_per_call": 4}) == {
        "iterations": 3,
        "rows_per_call": 4,
        "preset": "paper",
        "n_refinements": 1,
    }
    assert preset_params("date", "product", {"iterations": 1})["iterations"] == 1
    assert preset_params("date", "product", {})["iterations"] == 2
    with pytest.raises(InvalidParameterError, match="statistical has no 'paper' preset"):
        resolve_preset("statistical", "paper")
    for method in ("date", "samplellm", "htdbu", "structsynth"):
        assert "Not run here" in resolve_preset(method, "paper").help


def test_paper_rho_is_the_shared_models_error_on_its_rows(paper_ds, rules):
    gen = DATEGenerator(client=FakeLLM(), preset="paper").fit(paper_ds, rules)
    for g in gen.groups_:
        base = g.train
        assert g.rho == pytest.approx(g.model.error(base, base["y"].to_numpy()))  # Alg. 1 line 7
    product = DATEGenerator(client=FakeLLM()).fit(paper_ds, rules)
    assert all(g.rho >= 0.05 for g in product.groups_)


def test_paper_keeps_a_group_only_when_every_row_is_within_rho(paper_ds, rules):
    def run(preset):
        gen = DATEGenerator(
            client=FakeLLM(responses=scripted(flip_first=True)), preset=preset, rho=0.5, random_state=0
        ).fit(paper_ds, rules)
        return gen, gen.generate(40)

    gen, paper = run("paper")
    _, product = run("product")
    for g in gen.groups_:  # every row of a kept group is predicted right (0/1 error <= 0.5)
        mine = paper.rows[paper.rows["_rule_id"].isin([r.id for r in g.rules]) & paper.rows["_delta"].notna()]
        if len(mine):
            assert (g.model.row_loss(mine[["x", "age", "color"]], mine["y"].to_numpy()) == 0).all()
    failed = paper.rows[paper.rows["_reason"] == GROUP_ERROR_REASON]
    assert len(failed) and (failed["_group_error"] <= 0.5).any()  # groups the product's mean test keeps
    assert (product.rows["_reason"] == GROUP_ERROR_REASON).sum() < len(failed)


def test_paper_drops_no_gain_groups_records_quality_and_stops_early(paper_ds, rules, monkeypatch):
    monkeypatch.setattr(
        DATEGenerator, "_refit_error", lambda self, group, extra: group.val_error
    )  # Delta = 0
    fake = FakeLLM(responses=scripted())
    gen = DATEGenerator(client=fake, preset="paper", iterations=3, random_state=0).fit(paper_ds, rules)
    out = gen.generate(30, refinements="auto")
    kept_groups = out.rows[out.rows["_delta"].notna()]
    assert len(kept_groups) and set(kept_groups["_reason"]) == {DELTA_REASON}  # lines 15-16
    assert len(out.accepted) == 0
    assert np.allclose(
        kept_groups["_quality"],
        [gen.groups_[0].rho if r.startswith("R1") else gen.groups_[1].rho for r in kept_groups["_rule_id"]],
    )  # rho_m - Delta, Delta = 0
    assert set(out.rows["_iteration"]) == {1}  # no improvement: every group stops after iteration 1
    assert sum("longer improved" in m for m in out.messages) == 2
    assert not any(is_rule_prompt(c.prompt) for c in fake.calls)  # a stopped group asks no refinement


def test_paper_adds_path_examples_back_and_uses_the_dgr_prompt(paper_ds, rules, monkeypatch):
    monkeypatch.setattr(
        DATEGenerator,
        "_refit_error",  # every group improves the score: Delta = 0.01
        lambda self, group, extra: group.val_error - (0.01 if extra else 0.0),
    )
    fake = FakeLLM(responses=scripted())
    gen = DATEGenerator(client=fake, preset="paper", iterations=2, random_state=0).fit(paper_ds, rules)
    out = gen.generate(40)
    row_prompts = [c.prompt for c in fake.calls if not is_rule_prompt(c.prompt)]
    first = row_prompts[0].split("\n")
    assert (
        first[0].startswith("# table, grouped by distribution-guiding rule") and "error at most" in first[0]
    )
    second_iteration = [p for p in row_prompts if "# rows where" in p and p.count("# rows where") > 1]
    assert second_iteration  # iteration 2 shows iteration 1's path examples as rule-data blocks
    paths = set(out.rows.loc[(out.rows["_iteration"] == 1) & out.rows["_delta"].notna(), "_path"])
    assert any(f"# rows where {p}" in second_iteration[0] for p in paths)
    assert all(len(g.added) > 0 for g in gen.groups_)
    assert out.accepted["_arm"].str.contains(r":\d+:p-?\d+$").all()  # one arm per (rule, iteration, path)
    rule_prompts = [c.prompt for c in fake.calls if is_rule_prompt(c.prompt)]
    assert rule_prompts and "quality (rho - Delta)" in rule_prompts[0]


def test_paper_exemplars_are_stratified_by_the_target(paper_ds):
    from synth_core.llm.rows import stratified_rows

    train = paper_ds.train
    share = (train["y"] == "yes").mean()
    ex = stratified_rows(train, 10, "y", np.random.default_rng(3))
    assert (ex["y"] == "yes").sum() == round(10 * share)
    rare = pd.concat([train[train["y"] == "no"].head(50), train[train["y"] == "yes"].head(1)])
    assert (stratified_rows(rare, 5, "y", np.random.default_rng(0))["y"] == "yes").sum() == 1  # every class


def test_paper_run_asks_one_refined_rule_per_step(paper_ds, rules):
    fake = FakeLLM(responses=scripted(refined=("x > 7 AND color == 'red'",)))
    gen = DATEGenerator(client=fake, preset="paper", n_refinements=None, iterations=2).fit(paper_ds, rules)
    assert gen._n_refinements() == 1 and DATEGenerator()._n_refinements() == 2


# --------------------------------------------------------------------------- DATE Alg. 3 (MDS) as published


@pytest.fixture(scope="module")
def arms_setup(paper_ds):
    rules = [parse_rule("x > 5", id="A", status="approved"), parse_rule("x <= 5", id="B", status="approved")]
    rows = JitterGenerator(random_state=0, iterations=3).fit(paper_ds, rules).generate(180).rows
    rows = rows.assign(_quality=np.where(rows["_rule_id"] == "A", 0.02, 0.3))
    return rules, rows


def test_paper_mds_counts_pulls_takes_quality_from_rho_k_and_keeps_whole_arms(paper_ds, arms_setup):
    rules, rows = arms_setup
    sel = select_rows(
        rows, paper_ds, rules, method="mds", preset="paper", n_pulls=40, budget=1, random_state=0
    )
    K = rows["_arm"].nunique()
    log_bar = 0.5 + sum(1 / i for i in range(2, K + 1))
    assert K * math.ceil((40 - K) / log_bar / K) <= sel.pulls <= 40  # n is the number of pulls
    arms = sel.arms.set_index("arm")
    assert np.allclose(arms["rho_k"], [0.02 if a.startswith("A") else 0.3 for a in arms.index])
    chosen = rows[rows["_row_id"].isin(sel.row_ids)]
    assert len(chosen) > 1  # no row budget: an accepted arm brings every row
    assert set(chosen["_arm"]) == set(arms.index[arms["accepted"]])
    default = select_rows(rows, paper_ds, rules, method="mds", preset="paper", budget=1, random_state=0)
    assert default.pulls <= PAPER_PULLS and default.pulls > 40


def test_paper_mds_stops_when_the_best_score_does_not_improve(paper_ds, arms_setup):
    rules, rows = arms_setup
    sel = select_rows(rows, paper_ds, rules, method="mds", preset="paper", n_pulls=30, random_state=0)
    arms = sel.arms.sort_values("order")
    decided = arms[arms["order"] > 0]
    utilities = decided["utility"].to_list()
    accepted = decided["accepted"].to_list()
    # accepted arms come first, each at least as good as the one before; the first refused arm ends it
    assert accepted == sorted(accepted, reverse=True)
    kept = [u for u, a in zip(utilities, accepted) if a]
    assert kept == sorted(kept)
    if not all(accepted):
        assert accepted.count(False) == 1 and any("MDS stopped" in m for m in sel.messages)


def test_product_mds_documents_its_ucb_scale():
    from synth_core.generators import selection

    assert UCB_SCALE == 0.01 and "0.01" in selection.__doc__ and "full UCB bonus" in selection.__doc__


def test_paper_preset_runs_the_published_mds_in_the_pipeline(paper_ds, rules, monkeypatch):
    from synth_core.pipeline import run_pipeline

    monkeypatch.setattr(
        DATEGenerator, "_refit_error", lambda self, group, extra: group.val_error - (0.01 if extra else 0.0)
    )
    seen = {}
    real = select_rows

    def spy(*args, **kwargs):
        seen.update(preset=kwargs.get("preset"), n_pulls=kwargs.get("n_pulls"), alpha=kwargs.get("alpha"))
        return real(*args, **kwargs)

    monkeypatch.setattr("synth_core.pipeline.select_rows", spy)
    run = run_pipeline(
        paper_ds,
        rules,
        method="date",
        n=20,
        labels="none",
        guard=False,
        preset="paper",
        alpha=0.5,
        client=FakeLLM(responses=scripted()),
        generator_params={"iterations": 1},
    )
    assert seen == {"preset": "paper", "n_pulls": 200, "alpha": 0.8}
    assert run.params["preset"] == "paper" and run.params["generator"]["iterations"] == 3
    assert run.params["selection_preset"] == "paper" and run.params["oversample"] == 1.0


# --------------------------------------------------------------------------- Alg. 1: Problem 1's MAE


def test_discovery_offers_problem_1s_mean_absolute_error():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.uniform(0, 10, 500), "b": rng.choice(["u", "v"], 500)})
    frame["t"] = np.where(frame["a"] > 5, 100.0, 0.0) + rng.normal(0, 3, 500)
    ds = make_dataset(frame, target="t", seed=0)
    disc = DGRDiscoverer(error="mae", random_state=0).fit(ds)
    assert disc.error_kind_ == "mae"
    mad = float(np.mean(np.abs(ds.train["t"] - ds.train["t"].mean())))
    assert disc.rho_ == pytest.approx(np.sqrt(0.1) * mad)
    model = SharedModel.fit(ds.train[["a", "b"]], ds.train["t"].to_numpy(), task="regression", error="mae")
    pred = model.predict(ds.train[["a", "b"]])
    assert model.error(ds.train[["a", "b"]], ds.train["t"].to_numpy()) == pytest.approx(
        float(np.mean(np.abs(pred - ds.train["t"].to_numpy())))
    )
    assert DGRDiscoverer().error == "relative"  # the product's default stays


# --------------------------------------------------------------------------- SampleLLM and H-TDBU as published


def test_samplellm_paper_clusters_the_whole_table_with_kmeans(paper_ds, rules):
    from synth_core.generators.samplellm import SampleLLMGenerator

    gen = SampleLLMGenerator(
        client=FakeLLM(responses=scripted()), preset="paper", n_clusters=4, random_state=0
    ).fit(paper_ds, rules)
    positions, labels, centres = gen.clusters_["R1"]
    assert gen.clusters_["R2"] is gen.clusters_["R1"] and len(positions) == len(paper_ds.train)
    assert len(np.unique(labels)) == 4 and len(centres) == 4
    ex = gen._exemplars(rules[0], np.random.default_rng(0))
    assert len(ex) == 4  # one per cluster, drawn from the whole table (not only R1's rows)
    product = SampleLLMGenerator(client=FakeLLM(), n_clusters=4, random_state=0).fit(paper_ds, rules)
    assert product.clusters_["R1"][0].size < len(paper_ds.train)  # K-medoids inside the rule's rows


def test_frequency_weights_are_eq_14_ratios():
    from synth_core.generators.samplellm import frequency_weights

    real = pd.DataFrame({"c": ["a"] * 6 + ["b"] * 2 + ["z"] * 2, "y": ["p", "q"] * 5})
    pool = pd.DataFrame({"c": ["a", "b", "b", "b", "w"], "y": ["p", "q", "p", "q", "p"]})
    schema = infer_schema(real)
    w = frequency_weights(
        real, pool, schema=schema, features=["c"], target="y", task="classification", groups=[["c"]]
    )
    # cell ratios P_o / P_s': a 0.6/0.2 = 3, b 0.2/0.6 = 1/3, w unseen in the real rows -> 0
    assert w[-1] == 0.0 and w.max() == 1.0
    assert w[0] / w[1] == pytest.approx(9.0 * _label_term(real, pool, 0) / _label_term(real, pool, 1))


def _label_term(real, pool, i):
    from synth_core.encoding import RowEncoder
    from synth_core.generators.samplellm import _label_likelihood

    schema = infer_schema(real)
    enc = RowEncoder(schema, ["c"]).fit(real)
    m_o = _label_likelihood(
        enc.transform(real), real["y"].to_numpy(), enc.transform(pool), pool["y"].to_numpy(), "classification"
    )
    m_s = _label_likelihood(
        enc.transform(pool),
        pool["y"].to_numpy(),
        enc.transform(pool),
        pool["y"].to_numpy(),
        "classification",
        classes=["p", "q"],
    )
    return m_o[i] / m_s[i]


def test_hessian_interactions_find_the_pair_a_product_couples():
    from synth_core.generators.samplellm import feature_groups, hessian_interaction_map

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 600), "b": rng.normal(0, 1, 600), "c": rng.normal(0, 1, 600)})
    frame["y"] = frame["a"] * frame["b"] + 0.1 * frame["c"] + rng.normal(0, 0.05, 600)
    schema = infer_schema(frame)
    gamma = hessian_interaction_map(frame, schema, ["a", "b", "c"], "y", "regression", random_state=0)
    assert gamma.loc["a", "b"] > 3 * max(gamma.loc["a", "c"], gamma.loc["b", "c"])
    assert ["a", "b"] in [sorted(g) for g in feature_groups(gamma, 0.5, max_group=3)]


def test_htdbu_paper_scores_tstr_with_logistic_regression(paper_ds, rules):
    from synth_core.generators.htdbu import HTDBUGenerator
    from synth_core.models import row_losses

    skeleton = ["x between 0 and 10"]
    paper = HTDBUGenerator(preset="paper", skeleton=skeleton, rounds=0, random_state=0).fit(paper_ds, rules)
    product = HTDBUGenerator(skeleton=skeleton, rounds=0, random_state=0).fit(paper_ds, rules)
    cols = ["x", "age", "color", "y"]
    expect = float(
        np.mean(
            row_losses(
                paper_ds.schema,
                ["x", "age", "color"],
                "classification",
                paper_ds.train[cols],
                paper.val_,
                "y",
                model="linear",
                like=paper.train_,
            )
        )
    )
    assert paper.baseline_ == pytest.approx(expect) and product.baseline_ != pytest.approx(expect)


# --------------------------------------------------------------------------- the command line


def test_cli_generate_takes_a_preset_and_auto_approval(tmp_path, capsys):
    from synth_core.cli import build_parser, main

    args = build_parser().parse_args(
        ["generate", "f.csv", "--target", "y", "--preset", "paper", "--auto-approve-refinements"]
    )
    assert args.preset == "paper" and args.auto_approve_refinements
    assert build_parser().parse_args(["generate", "f.csv", "--target", "y"]).preset == "product"
    path = tmp_path / "t.csv"
    _frame(120).to_csv(path, index=False)
    assert (
        main(["generate", str(path), "--target", "y", "--preset", "paper", "--out", str(tmp_path / "r.zip")])
        == 2
    )
    assert "statistical has no 'paper' preset" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                str(path),
                "--target",
                "y",
                "--n",
                "50",
                "--folds",
                "2",
                "--out",
                str(tmp_path / "r.zip"),
            ]
        )
        == 0
    )
    assert re.search(r"preset: Product", capsys.readouterr().out)


# --------------------------------------------------------------------------- item 3: docs/PAPERS.md


def _papers_rows():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "PAPERS.md").read_text()
    section, in_table, rows = None, False, []
    for line in text.splitlines():
        if line.startswith("## "):
            section, in_table = line[3:].split(" — ")[0], False
        elif line.startswith("|") and "same / differs" in line:
            in_table = True
        elif in_table and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append((section, cells))
    return rows


def papers_counts() -> dict:
    """Per section of docs/PAPERS.md: rows, 'same' only, 'differs' only, and both (one preset same, one not)."""
    out: dict = {}
    for section, cells in _papers_rows():
        same, differs = "same" in cells[2], "differs" in cells[2]
        c = out.setdefault(section, {"rows": 0, "same": 0, "differs": 0, "paper same, product differs": 0})
        c["rows"] += 1
        c[
            "same"
            if same and not differs
            else "differs"
            if differs and not same
            else "paper same, product differs"
        ] += 1
    return out


def test_papers_doc_every_same_row_names_a_test_and_every_differs_row_a_reason():
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parent
    rows = _papers_rows()
    assert len(rows) >= 50 and {s for s, _ in rows} >= {
        "DATE, Algorithm 2 (DGR-guided generation)",
        "DATE, Algorithm 3 (MDS)",
        "SampleLLM (Alg. 1 of the paper)",
    }
    for section, cells in rows:
        assert len(cells) == 4, (section, cells)
        verdict, tests = cells[2], cells[3]
        assert "same" in verdict or "differs" in verdict, (section, cells[0])
        if "differs" in verdict:  # a reason follows the word
            assert re.search(r"differs[^:]*:\s*\S+\s+\S+", verdict), (section, cells[0])
        named = re.findall(r"`(?:(test_\w+\.py))?::(test_\w+)`", tests)
        if "same" in verdict:
            assert named, (section, cells[0])
        file = None
        for f, name in named:  # every test named exists
            file = f or file
            source = (tests_dir / file).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), (file, name)


def test_papers_doc_counts_table_matches_its_rows():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "PAPERS.md").read_text()
    table = text[text.index("## Counts") :]
    for section, c in papers_counts().items():
        row = (
            f"| {section} | {c['rows']} | {c['same']} | {c['paper same, product differs']} | {c['differs']} |"
        )
        assert row in table, row


def test_folds_share_one_decision_per_refinement_and_same_ids_never_collide():
    """Two folds propose R1.r1 with the same text and R2.r1 with different texts: the person sees three
    proposals, and each fold's generator gets back exactly its own approved rules under its own ids."""
    from synth_core.approval import StepResult, step_all
    from synth_core.rules import parse_rule

    class Fold:
        def __init__(self, r2_text):
            self.props = [
                parse_rule("x > 7", id="R1.r1", status="proposed", origin="refined"),
                parse_rule(r2_text, id="R2.r1", status="proposed", origin="refined"),
            ]
            self.applied, self.steps = None, 0

        def step(self):
            self.steps += 1
            return StepResult(1, 2, proposals=self.props, sources={"R1.r1": "R1", "R2.r1": "R2"}, done=True)

        def apply(self, approved):
            self.applied = approved

    class ApproveAll:
        by, policy = "person", "person"

        def decide(self, request):
            self.request = request
            return [Decision(r.id, "approve") for r in request.proposals]

    a, b, gate = Fold("y < 2"), Fold("y < 3"), ApproveAll()
    record = step_all([("0", a), ("1", b)], gate)
    shown = {r.id: r.text for r in gate.request.proposals}
    assert len(shown) == 3 and shown["R1.r1"] == "x > 7"
    assert gate.request.folds["R1.r1"] == "0, 1"
    assert sorted(gate.request.folds.values()) == ["0", "0, 1", "1"]
    assert set(a.applied) == set(b.applied) == {"R1.r1", "R2.r1"}
    assert a.applied["R2.r1"].text == "y < 2" and b.applied["R2.r1"].text == "y < 3"
    assert all(r.status == "approved" for r in [*a.applied.values(), *b.applied.values()])
    assert len(record) == 3
