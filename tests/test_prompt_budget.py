"""Every prompt fits the model's context (issue 18): the token budget, each prompt builder, the context setting,
the embedded server's start and a server's context refusal. All on the FakeLLM or small local servers."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from synth_core.data import load_dataset, make_dataset
from synth_core.errors import InvalidParameterError, LLMError, LLMResponseError, LLMUnavailableError
from synth_core.llm import LLMClient, LLMSettings, generate_rows, propose_rules
from synth_core.llm.budget import (
    Budget,
    ContextLengthError,
    Dial,
    estimate_chat_tokens,
    estimate_tokens,
    fit_prompt,
    prompt_budget,
)
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule
from synth_core.samples import sample_path
from tests.fault_servers import too_long

RULES_REPLY = json.dumps({"rules": ["V1 >= 30"]})


def request_tokens(call) -> int:
    """Estimated tokens of a request the fake received: its prompt (or messages) and its max_tokens."""
    request = call.request
    prompt = request["prompt"] if "prompt" in request else None
    cost = estimate_tokens(prompt) if prompt is not None else estimate_chat_tokens(request["messages"])
    return cost + request["max_tokens"]


def assert_fits(fake, context: int):
    """Every request the fake got fits ``context`` with the budget's margin."""
    margin = max(64, context // 32)
    assert fake.calls, "no request was made"
    for call in fake.calls:
        assert request_tokens(call) + margin <= context, (request_tokens(call), context)


def wide_table(n_cols: int = 60, n_rows: int = 300, n_cats: int = 30, seed: int = 0) -> pd.DataFrame:
    """Half integer columns (0-99999), half categorical ones with ``n_cats`` long category names, target y."""
    rng = np.random.default_rng(seed)
    data = {}
    for j in range(n_cols):
        if j % 2:
            data[f"cat_{j}"] = rng.choice([f"category_{j}_{k}" for k in range(n_cats)], n_rows)
        else:
            data[f"num_{j}"] = rng.integers(0, 100_000, n_rows)
    data["y"] = rng.choice(["no", "yes"], n_rows)
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def bank():
    return load_dataset(sample_path("bank_marketing_3k.csv"), target="Class", seed=0, protocol="paper")


@pytest.fixture(scope="module")
def wide():
    return make_dataset(wide_table(), target="y", seed=0, protocol="paper")


def forty_rules():
    """40 rules on the bank table, each with a support; rule r7 has by far the largest."""
    rules = []
    for i in range(40):
        text = f"V1 >= {20 + i} AND V12 <= {100 + 37 * i}.5 AND V6 > {1000 * i - 500}"
        rules.append(parse_rule(text, id=f"r{i}").with_(support=5000 if i == 7 else 1000 - 10 * i))
    return rules


def shown_rule_ids(prompt: str, rules) -> list[str]:
    lines = prompt.split("Current rules:")[1].split("Decision-tree paths:")[0]
    return [r.id for r in rules if f"- {r.text}\n" in lines]


# --------------------------------------------------------------------------- the estimate


def test_estimate_counts_digits_one_token_each_and_never_less_than_bytes_for_other_scripts():
    assert estimate_tokens("1234567890") == 10  # Gemma writes every digit as a token
    assert estimate_tokens("-3.25") == 5
    assert (
        estimate_tokens("integer") == 1 and estimate_tokens(" categorical") == 1
    )  # the templates' own words
    assert estimate_tokens("qzxj") == 2  # other letters: one token per two
    assert (
        estimate_tokens("é") == 2 and estimate_tokens("日本") == 6
    )  # UTF-8 bytes: a token covers a byte at least
    assert (
        estimate_tokens("a b") == 2 and estimate_tokens("a 1") == 3
    )  # a space merges with a word, not a digit
    assert estimate_chat_tokens([{"role": "user", "content": "12"}]) == 16 + 8 + 2


def test_budget_caps_the_answer_at_the_settings_and_keeps_a_margin():
    fake = FakeLLM(context_tokens=2048)
    b = prompt_budget(fake, 300)
    assert (b.context, b.answer, b.margin, b.room) == (2048, 300, 64, 2048 - 300 - 64)
    assert prompt_budget(fake, 10_000).answer == 4096  # the FakeLLM's settings allow 4096 answer tokens
    assert prompt_budget(FakeLLM(), 100).margin == 8192 // 32
    assert prompt_budget(object(), 100).room is None  # a stand-in without a context: no limit


# --------------------------------------------------------------------------- fit_prompt


def digits(plan) -> str:
    """A prompt of exactly 10 * a + 10 * b tokens."""
    return "1" * (10 * plan["a"]) + "2" * (10 * plan["b"])


def test_fit_prompt_keeps_everything_when_it_fits():
    seen = []
    fit = fit_prompt(
        lambda p: seen.append(p) or digits(p),
        Budget(context=200, answer=0),
        [Dial("a", range(5, -1, -1)), Dial("b", range(10, -1, -1))],
    )
    assert fit.plan == {"a": 5, "b": 10} and fit.tokens == 150 and fit.left_out == {} and fit.note == ""
    assert len(seen) == 1  # rendered once


def test_fit_prompt_turns_the_first_dial_down_first_and_keeps_the_largest_that_fits():
    dials = [Dial("a", range(5, -1, -1)), Dial("b", range(10, -1, -1))]
    fit = fit_prompt(digits, Budget(context=120, answer=0), dials)
    assert fit.plan == {"a": 2, "b": 10} and fit.tokens == 120 and fit.left_out == {"a": 3}
    assert fit.note == "shortened to fit the context of 120 tokens: left out 3 of 5 a"
    fit = fit_prompt(digits, Budget(context=70, answer=0), dials)  # a all gone, then b
    assert fit.plan == {"a": 0, "b": 7} and fit.left_out == {"a": 5, "b": 3}
    assert fit.note.endswith("left out 5 of 5 a, 3 of 10 b")


def test_fit_prompt_takes_a_dial_again_later_and_counts_answer_and_margin():
    dials = [Dial("a", (5, 3)), Dial("b", range(10, 4, -1)), Dial("a", (3, 2, 1, 0))]
    fit = fit_prompt(digits, Budget(context=100, answer=20, margin=10), dials)  # room 70
    assert fit.plan == {"a": 2, "b": 5} and fit.tokens == 70 and fit.left_out == {"a": 3, "b": 5}


def test_fit_prompt_raises_when_even_the_smallest_prompt_does_not_fit():
    with pytest.raises(ContextLengthError) as info:
        fit_prompt(
            digits,
            Budget(context=60, answer=20, where="http://x/v1"),
            [Dial("a", (5, 0)), Dial("b", (10, 5))],
            what="the test prompt",
            fix="Use fewer b.",
        )
    err = info.value
    assert isinstance(err, LLMResponseError) and isinstance(err, LLMError)
    assert str(err) == (
        "the test prompt does not fit the context of 60 tokens of http://x/v1, even shortened as far "
        "as it goes: its prompt needs about 50 tokens and the answer 20 (with 0 kept free). "
        "Use fewer b."
    )
    assert (err.context_tokens, err.requested_tokens) == (60, 70)


def test_fit_prompt_without_a_known_context_keeps_everything():
    fit = fit_prompt(digits, Budget(context=None, answer=10_000), [Dial("a", (5, 0)), Dial("b", (10, 0))])
    assert fit.plan == {"a": 5, "b": 10} and fit.left_out == {}


# --------------------------------------------------------------------------- rule proposals (propose.py)


@pytest.mark.parametrize(
    "api,constrain,context", [("completion", "grammar", 1024), ("chat", "json_schema", 1536)]
)
def test_forty_rule_proposal_fits_and_keeps_the_most_supported_rules(bank, api, constrain, context):
    rules = forty_rules()
    reply = (
        RULES_REPLY if api == "completion" else json.dumps({"rules": [{"rule": "V1 >= 30", "reason": "age"}]})
    )
    fake = FakeLLM(responses=[reply], api=api, constrain=constrain, context_tokens=context)
    paths = [f"V12 <= {200 + i}.5 AND V1 > {30 + i}.5" for i in range(20)]
    out = propose_rules(fake, schema=bank.schema, target="Class", current_rules=rules, paths=paths, n=3)
    assert [r.text for r in out.valid] == ["V1 >= 30"]  # the call succeeded
    assert_fits(fake, context)
    prompt = fake.calls[0].prompt
    kept = shown_rule_ids(prompt, rules)
    assert 1 <= len(kept) < 40
    # the most supported rules are the ones shown: r7 (5000), then r0, r1, ... (1000 - 10 i)
    by_support = sorted(rules, key=lambda r: -r.support)
    assert set(kept) == {r.id for r in by_support[: len(kept)]} and "r7" in kept
    assert out.left_out["current rules"] == 40 - len(kept)
    assert f"- … {40 - len(kept)} more not shown" in prompt
    shown_paths = [p for p in paths if f"- {p}\n" in prompt]
    assert out.left_out["tree paths"] == 20 - len(shown_paths)
    assert out.note.startswith(f"shortened to fit the context of {context} tokens: left out ")
    assert f"{40 - len(kept)} of 40 current rules" in out.note and "of 20 tree paths" in out.note


def test_rules_without_support_are_kept_in_the_order_given(bank):
    rules = [r.with_(support=None) for r in forty_rules()]
    fake = FakeLLM(responses=[RULES_REPLY], context_tokens=1024)
    out = propose_rules(fake, schema=bank.schema, target="Class", current_rules=rules, n=3)
    kept = shown_rule_ids(fake.calls[0].prompt, rules)
    assert kept == [f"r{i}" for i in range(len(kept))] and 0 < len(kept) < 40
    assert out.left_out == {"current rules": 40 - len(kept)}
    assert_fits(fake, 1024)


def test_nothing_is_left_out_when_the_prompt_fits(bank):
    rules = forty_rules()[:9]
    fake = FakeLLM(responses=[RULES_REPLY])  # the default context, 8192
    out = propose_rules(fake, schema=bank.schema, target="Class", current_rules=rules, n=3)
    assert out.left_out == {} and out.note == ""
    assert shown_rule_ids(fake.calls[0].prompt, rules) == [r.id for r in rules]
    assert "more not shown" not in fake.calls[0].prompt


def test_sixty_columns_with_long_category_sets_are_summarised(wide):
    fake = FakeLLM(responses=[json.dumps({"rules": ["num_0 >= 5"]})], context_tokens=2048)
    rules = [parse_rule(f"num_{2 * i} >= {1000 * i}", id=f"w{i}") for i in range(12)]
    out = propose_rules(fake, schema=wide.schema, target="y", current_rules=rules, n=3)
    assert len(out.valid) == 1
    assert_fits(fake, 2048)
    prompt = fake.calls[0].prompt
    assert all(f'"{c}"' in prompt for c in wide.schema.names)  # every column is still named
    # 30 categorical columns list at most 20 of their 30 categories in full: 600 values, + the target's 2
    assert out.left_out["category values"] == 602 - prompt.count('"category_')
    for name in (n for n in wide.schema.names if n.startswith("cat_")):  # each still says how many it has
        assert f'- "{name}": categorical, {len(wide.schema[name].categories)} categories\n' in prompt, name
    assert "of 602 category values" in out.note


def test_refinement_prompt_gives_up_paths_and_feedback_but_keeps_the_leader(bank):
    rules = forty_rules()[:6]
    feedback = {"r0": {"rule error": 0.1, "rho": 0.05, "validation error of its model": 0.2}}
    feedback.update(
        {
            f"V12 <= {i}.5 AND V1 > {i}.5": {"error": 0.1 + i / 100, "delta": -0.01 * i, "kept": "no"}
            for i in range(30)
        }
    )
    paths = [f"V12 <= {200 + i}.5 AND V1 > {30 + i}.5 AND V6 <= {1000 + i}" for i in range(20)]
    fake = FakeLLM(responses=[RULES_REPLY], context_tokens=1024)
    out = propose_rules(
        fake, schema=bank.schema, target="Class", current_rules=rules, paths=paths, feedback=feedback, n=3
    )
    assert out.valid and out.valid[0].origin == "refined"
    assert_fits(fake, 1024)
    prompt = fake.calls[0].prompt
    assert "- r0: rule error 0.1" in prompt  # DATE's leader comes first and stays
    assert 0 < out.left_out["feedback lines"] <= 30 and out.left_out["tree paths"] >= 15


def test_a_table_whose_column_list_alone_does_not_fit_is_a_clear_error():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"a_rather_long_column_name_{j}": rng.integers(0, 1000, 40) for j in range(500)})
    frame["y"] = ["a", "b"] * 20
    ds = make_dataset(frame, target="y", seed=0)
    fake = FakeLLM(responses=[RULES_REPLY], context_tokens=2048)
    with pytest.raises(ContextLengthError) as info:
        propose_rules(fake, schema=ds.schema, target="y", n=3)
    message = str(info.value)
    assert "does not fit the context of 2048 tokens" in message and "501 columns" in message
    assert "larger context" in message and "fewer columns" in message
    assert fake.calls == []  # nothing was sent
    assert info.value.context_tokens == 2048 and info.value.requested_tokens > 2048


# --------------------------------------------------------------------------- rows (rows.py, DATE, SampleLLM)


@pytest.mark.parametrize(
    "api,constrain,context", [("completion", "grammar", 4096), ("chat", "json_schema", 8192)]
)
def test_sixty_column_row_prompts_show_fewer_exemplars(wide, api, constrain, context):
    fake = FakeLLM(responses=lambda prompt: "", api=api, constrain=constrain, context_tokens=context)
    batch = generate_rows(
        fake,
        schema=wide.schema,
        target="y",
        rule=None,
        examples=wide.train,
        n=4,
        rows_per_call=1,
        n_examples=10,
        max_calls=2,
    )
    assert len(fake.calls) == 2
    assert_fits(fake, context)
    per_call = []
    for call in fake.calls:
        text = call.prompt
        shown = (
            text.count('"category_1_')
            if api == "completion"
            else text.split("<data>")[2].split("</data>")[0].count("{")
        )
        per_call.append(shown)
    assert all(1 <= k < 10 for k in per_call)
    assert batch.left_out["exemplar rows"] == sum(10 - k for k in per_call)
    assert batch.shortened_calls == 2 and "exemplar rows" in batch.note and str(context) in batch.note


def test_rows_of_a_table_too_wide_for_one_exemplar_raise_a_clear_llm_error(wide):
    fake = FakeLLM(responses=lambda prompt: "", context_tokens=1024)
    with pytest.raises(
        LLMError,
        match=r"does not fit the context of 1024 tokens.*61 columns' header and one "
        r"exemplar row.*fewer rows per call",
    ):
        generate_rows(
            fake, schema=wide.schema, target="y", rule=None, examples=wide.train, n=2, rows_per_call=1
        )
    assert fake.calls == []


def _date_reply(prompt: str) -> str:
    if prompt.startswith("Table columns"):
        return json.dumps({"rules": ["x > 7 AND color == 'red'", "age >= 50"]})
    lines = prompt.strip().split("\n")[2:]
    out = []
    for i, line in enumerate(lines[:5]):
        fields = line.split(",")
        fields[1] = str(min(int(fields[1]) + 1 + i % 2, 79))
        out.append(",".join(fields))
    return "\n".join(out) + "\n"


def test_date_rows_and_refinements_fit_a_small_context():
    from synth_core.generators.date import DATEGenerator

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
    ds = make_dataset(frame, target="y", seed=0, protocol="paper")
    rules = [
        parse_rule(
            f"x > {5 + i / 10} AND color in {{'red', 'green'}}",
            id=f"R{i}",
            status="approved",
            origin="discovered",
            ind=0.9 - i / 100,
            error=0.0,
            model_id=1,
        )
        for i in range(12)
    ]
    rules.append(
        parse_rule("x <= 5", id="S", status="approved", origin="discovered", ind=0.5, error=0.0, model_id=2)
    )
    fake = FakeLLM(responses=_date_reply, context_tokens=512)
    gen = DATEGenerator(client=fake, iterations=2, random_state=0).fit(ds, rules)
    out = gen.generate(20)
    assert len(out.accepted) > 0 and out.proposals  # rows written and refinements proposed
    assert_fits(fake, 512)
    rule_prompts = [c.prompt for c in fake.calls if c.prompt.startswith("Table columns")]
    assert rule_prompts and all("more not shown" in p for p in rule_prompts)  # 13 rules do not fit 512 tokens
    assert not any("failed" in m for m in out.messages), out.messages


def test_samplellm_shows_fewer_exemplars_on_a_wide_table(wide):
    from synth_core.generators.samplellm import SampleLLMGenerator

    rules = [parse_rule("num_0 >= 50000", id="r1", status="approved")]
    fake = FakeLLM(responses=lambda prompt: "", context_tokens=4096)
    gen = SampleLLMGenerator(client=fake, n_clusters=8, rows_per_call=1, max_calls=2, random_state=0)
    gen.fit(wide, rules).generate(2)
    assert len(fake.calls) == 2
    assert_fits(fake, 4096)
    assert all(c.prompt.count('"category_1_') < 8 for c in fake.calls)  # fewer than one row per cluster


# --------------------------------------------------------------------------- H-TDBU and StructSynth


def test_htdbu_skeleton_prompt_is_shortened_and_says_so(wide):
    from synth_core.generators.htdbu import HTDBUGenerator

    rules = [parse_rule("num_0 >= 50000", id="r1", status="approved")]
    fake = FakeLLM(
        responses=[json.dumps({"ranges": {"num_0": [10, 90000]}, "sets": {}, "if": []})], context_tokens=2048
    )
    gen = HTDBUGenerator(client=fake, rounds=1, random_state=0).fit(wide, rules)
    out = gen.generate(10)
    assert len(fake.calls) == 1 and gen.skeleton_
    assert_fits(fake, 2048)
    assert gen.skeleton_prompt_note_.startswith("shortened to fit the context of 2048 tokens: left out ")
    assert "category values" in gen.skeleton_prompt_note_
    assert any(m.startswith("H-TDBU: the skeleton prompt was shortened") for m in out.messages)
    prompt = fake.calls[0].prompt
    assert all(f'"{c}"' in prompt.split("Summary of the rows")[0] for c in wide.schema.names)


@pytest.fixture(scope="module")
def narrower():
    """16 columns (8 categorical with 30 categories each): StructSynth fits it in seconds."""
    return make_dataset(wide_table(n_cols=16, n_rows=200), target="y", seed=0, protocol="paper")


def test_structsynth_dag_prompt_is_shortened_and_says_so(narrower):
    from synth_core.generators.structsynth import StructSynthGenerator

    rules = [parse_rule("num_0 >= 50000", id="r1", status="approved")]
    fake = FakeLLM(responses=[json.dumps({"edges": [["num_0", "num_2"]]})], context_tokens=1024)
    gen = StructSynthGenerator(client=fake, random_state=0).fit(narrower, rules)
    out = gen.generate(10)
    assert len(fake.calls) == 1
    assert_fits(fake, 1024)
    notes = [
        m
        for m in out.messages
        if m.startswith("StructSynth: the DAG prompt was shortened to fit the context of 1024 tokens")
    ]
    assert len(notes) == 1 and "category values" in notes[0]


def test_table_prompt_too_wide_for_the_column_list_falls_back_with_the_reason(narrower):
    from synth_core.generators.structsynth import StructSynthGenerator

    fake = FakeLLM(responses=[], context_tokens=512)
    gen = StructSynthGenerator(client=fake, max_edges=20, random_state=0)
    gen.fit(narrower, [parse_rule("num_0 >= 0", id="r1", status="approved")])
    gen.discover()
    assert fake.calls == [] and gen.dag_source_ == "data"
    assert isinstance(gen.llm_error_, ContextLengthError)
    assert "the StructSynth DAG prompt does not fit the context of 512 tokens" in str(gen.llm_error_)
    assert "the table's 17 columns" in str(gen.llm_error_)


# --------------------------------------------------------------------------- the setting


def test_context_setting_from_arguments_and_environment(monkeypatch):
    assert LLMSettings().resolved_context_tokens == 8192 and LLMSettings().context_tokens is None
    monkeypatch.setenv("SYNTH_LLM_CONTEXT", "4096")
    s = LLMSettings.from_env()
    assert s.context_tokens == 4096 and LLMClient(s).context_tokens == 4096
    assert LLMSettings.from_env(context_tokens=16384).context_tokens == 16384  # an argument wins
    monkeypatch.setenv("SYNTH_LLM_CONTEXT", "lots")
    with pytest.raises(InvalidParameterError, match="SYNTH_LLM_CONTEXT must be an integer number of tokens"):
        LLMSettings.from_env()
    with pytest.raises(
        InvalidParameterError, match=r"from 512 to 32768 \(the embedded model's trained context\)"
    ):
        LLMSettings(context_tokens=65536)
    with pytest.raises(InvalidParameterError, match="context_tokens must be an integer from 512"):
        LLMSettings(context_tokens=100)
    endpoint = LLMSettings(base_url="http://h/v1", model="m", context_tokens=128_000)
    assert LLMClient(endpoint).context_tokens == 128_000
    assert LLMClient(LLMSettings(base_url="http://h/v1", model="m")).context_tokens == 8192


# --------------------------------------------------------------------------- the embedded server's start


class _Captured(Exception):
    pass


def _capture_command(monkeypatch, tmp_path):
    from synth_core.llm import server as srv

    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(srv, "model_path", lambda cache_dir=None: model)
    monkeypatch.setattr(srv, "cpu_problem", lambda: None)
    real_find_spec = srv.importlib.util.find_spec
    monkeypatch.setattr(
        srv.importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a),
    )
    seen = []

    def popen(cmd, **kwargs):
        seen.append(cmd)
        raise _Captured

    monkeypatch.setattr(srv.subprocess, "Popen", popen)
    return srv, seen


def test_embedded_server_starts_with_the_context_and_without_all_logits(monkeypatch, tmp_path):
    srv, seen = _capture_command(monkeypatch, tmp_path)
    monkeypatch.setattr(srv, "_available_mb", lambda: None)
    for n_ctx, expected in ((None, "8192"), (16384, "16384")):
        with pytest.raises(_Captured):
            srv.EmbeddedServer(cache_dir=tmp_path, n_ctx=n_ctx).start()
        cmd = seen[-1]
        assert cmd[cmd.index("--n_ctx") + 1] == expected
        assert cmd[cmd.index("--logits_all") + 1] == "false"


def test_embedded_memory_check_grows_with_the_context(monkeypatch, tmp_path):
    srv, seen = _capture_command(monkeypatch, tmp_path)
    monkeypatch.setattr(srv, "_available_mb", lambda: 700.0)
    with pytest.raises(LLMUnavailableError) as info:
        srv.EmbeddedServer(cache_dir=tmp_path, n_ctx=8192).start()
    assert str(info.value) == (
        "only 700 MB of memory is free and the embedded LLM needs about 744 MB: close other "
        "programs, start it with a smaller context (SYNTH_LLM_CONTEXT, now 8192 tokens), or "
        "set OPENAI_BASE_URL to use an endpoint"
    )
    with pytest.raises(_Captured):  # 2048 tokens need about 636 MB: it goes on to start the process
        srv.EmbeddedServer(cache_dir=tmp_path, n_ctx=2048).start()
    assert len(seen) == 1


class _StubServer:
    """What get_embedded_server hands out, without a process."""

    def __init__(self, n_ctx):
        self.n_ctx, self.running, self.crashed, self.start_seconds = n_ctx, False, False, 0.0
        self.base_url, self.events = None, []

    def start(self, *, deadline=None):
        if not self.running:
            self.running, self.base_url = True, f"http://127.0.0.1:{9000 + len(self.events)}/v1"
            self.events.append(("start", self.n_ctx))
        return self

    def stop(self):
        self.running = False
        self.events.append(("stop", self.n_ctx))


def test_singleton_is_started_again_only_for_a_larger_context(monkeypatch):
    from synth_core.llm import server as srv

    stub = _StubServer(4096)
    monkeypatch.setattr(srv, "_singleton", stub)
    assert srv.get_embedded_server() is stub and stub.n_ctx == 8192  # the default needs 8192: restarted
    assert stub.events == [("stop", 4096), ("start", 8192)]
    srv.get_embedded_server(n_ctx=2048)  # a smaller need keeps it
    srv.get_embedded_server(n_ctx=16384)
    assert stub.events[-2:] == [("stop", 8192), ("start", 16384)] and stub.n_ctx == 16384


@pytest.mark.parametrize("context,passed", [(None, {}), (16384, {"n_ctx": 16384})])
def test_client_asks_the_embedded_server_for_its_context(monkeypatch, tmp_path, context, passed):
    from synth_core.llm import server as srv

    calls = []
    stub = _StubServer(context or 8192)

    def get(cache_dir=None, *, deadline=None, **kwargs):
        calls.append(kwargs)
        return stub.start()

    monkeypatch.setattr(srv, "get_embedded_server", get)
    client = LLMClient(LLMSettings(cache=False, cache_dir=str(tmp_path), context_tokens=context))
    client.start()
    assert calls == [passed] and client.base_url == stub.base_url
    assert client.context_tokens == (context or 8192)
    stub.n_ctx = 4096  # a server that runs with less than asked: the budget follows it
    assert client.context_tokens == 4096


# --------------------------------------------------------------------------- a server's context refusal


def _client(srv, **changes):
    settings = dict(
        base_url=srv.base_url, model="m", cache=False, timeout=5.0, max_retries=2, api="completion"
    )
    settings.update(changes)
    return LLMClient(LLMSettings(**settings))


def test_llama_cpp_context_refusal_names_the_sizes_and_the_fix():
    with too_long("llama_cpp_python") as srv:
        client = _client(srv)
        with pytest.raises(ContextLengthError) as info:
            client.complete("a,b\n1,2\n", max_tokens=220)
        assert srv.hits == 1  # a 400 is not retried
    message = str(info.value)
    assert message.startswith(
        f"{srv.base_url} refused the request because it does not fit the model's context "
        "window (HTTP 400): the context is 2048 tokens and the request needs 3203 tokens "
        "(2983 for the prompt, 220 for the answer). Fix: "
    )
    assert "SYNTH_LLM_CONTEXT=2048" in message  # told 8192, the endpoint has 2048
    assert "response_format" not in message and "constrain" not in message
    assert (info.value.context_tokens, info.value.requested_tokens) == (2048, 3203)
    assert client.usage.summary()["errors"] == 1


def test_native_llama_server_context_refusal():
    with too_long("llama_server") as srv:
        with pytest.raises(ContextLengthError) as info:
            _client(srv).complete("x" * 50, max_tokens=100)
    message = str(info.value)
    assert (
        "the context is 2048 tokens and the request needs 3303 tokens (3203 for the prompt, 100 for the answer)"
        in message
    )
    assert "constrain" not in message


def test_openai_chat_context_refusal_without_a_split():
    with too_long("openai") as srv:
        client = _client(srv, api="chat", constrain="json_schema", context_tokens=4096)
        with pytest.raises(ContextLengthError) as info:
            client.chat([{"role": "user", "content": "hi"}], max_tokens=50)
    message = str(info.value)
    assert "the context is 8192 tokens and the request needs 9000 tokens." in message
    assert "use a model with a larger context, or set SYNTH_LLM_CONTEXT" in message  # told 4096 < 8192
    assert "response_format" not in message


def test_context_refusal_reaches_the_rules_page_caller_as_an_llm_error(bank):
    with too_long("llama_cpp_python") as srv:
        client = _client(srv, constrain="grammar")
        with pytest.raises(LLMError, match=r"does not fit the model's context window.*2048 tokens"):
            propose_rules(client, schema=bank.schema, target="Class", current_rules=forty_rules()[:9], n=3)


def test_other_bad_requests_keep_their_advice():
    from synth_core.llm.budget import context_refusal

    assert context_refusal({"error": {"message": "response_format json_schema is not supported"}}, "") is None
    found = context_refusal({"error": {"message": "prompt is too long"}}, "Error code: 400")
    assert found == {"context": None, "requested": None, "prompt": None, "answer": None}


def test_refusal_without_numbers_reports_our_estimate():
    with too_long("plain") as srv:
        with pytest.raises(ContextLengthError) as info:
            _client(srv).complete("123456789", max_tokens=7)
    message = str(info.value)
    assert (
        "the context is not stated and the request needs about 16 tokens by our estimate (9 for the prompt, 7 "
        "for the answer)" in message
    )
    assert re.search(r"HTTP 400", message)
