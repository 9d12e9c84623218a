"""Every LLM generator against a local endpoint with a fixed latency: the same rows at any concurrency,
calls in flight together up to the client's concurrency, cancel keeps every reply that came back.

The endpoint is :func:`tests.fault_servers.latency`: each chat request is answered after a fixed delay
with a random value valid under the JSON schema it carries (rows inside the rule, a skeleton, a DAG; rule
requests get rule texts from a list), drawn from the request itself, so the same request always gets the
same answer; the server counts the requests it is answering at once.
"""

from __future__ import annotations

import re
import threading

import pandas as pd
import pytest

from synth_core.data import load_dataset
from synth_core.generators import get_generator
from synth_core.llm import LLMClient, LLMSettings
from synth_core.llm.parallel import run_calls
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule
from synth_core.samples import sample_path

from . import fault_servers as fs

DELAY = 0.05
REFINED = ["V1 >= 60", "V12 > 300 AND V1 < 50", "V13 <= 3"]
#: name -> (constructor parameters, rows asked)
GENERATORS = {
    "date": ({"iterations": 2}, 80),
    "date-paper": ({"iterations": 2, "preset": "paper"}, 60),
    "samplellm": ({}, 60),
    "htdbu": ({}, 40),
    "structsynth": ({}, 40),
}


@pytest.fixture(scope="module")
def bank():
    return load_dataset(sample_path("bank_marketing_3k.csv"), target="Class", seed=0, protocol="paper")


@pytest.fixture(scope="module")
def rules():
    return [
        parse_rule("V1 >= 40", id="r1", status="approved"),
        parse_rule("V1 < 40 AND V12 > 200", id="r2", status="approved"),
    ]


@pytest.fixture(scope="module")
def server():
    with fs.latency(DELAY, rules=REFINED) as srv:
        yield srv


def client_for(srv, concurrency: int, **settings) -> LLMClient:
    settings.setdefault("cache", False)
    return LLMClient(
        LLMSettings(base_url=srv.base_url, model=fs.MODEL, concurrency=concurrency, seed=0, **settings),
        api_key="sk-test-not-a-real-key",
    )


def make(name: str, client, bank, rules):
    params, _ = GENERATORS[name]
    cls = get_generator(name.split("-")[0])
    return cls(client=client, random_state=0, **params).fit(bank, rules)


def comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows without the per-run ids (row ids and call ids are new in every run)."""
    return rows.drop(columns=[c for c in ("_row_id", "_call_id") if c in rows]).reset_index(drop=True)


def messages(out) -> list[str]:
    """The run's messages without call ids (new in every run)."""
    return [re.sub(r"\b[0-9a-f]{12}\b", "<call>", m) for m in out.messages]


def run(name, srv, concurrency, bank, rules, **kw):
    client = client_for(srv, concurrency)
    with srv._lock:
        srv.max_in_flight = 0
        before = len(srv.completions())
    out = make(name, client, bank, rules).generate(GENERATORS[name][1], **kw)
    with srv._lock:
        peak, requests = srv.max_in_flight, len(srv.completions()) - before
    return out, client, peak, requests


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_rows_at_concurrency_1_and_8(name, server, bank, rules):
    one, _, peak1, calls1 = run(name, server, 1, bank, rules)
    eight, _, peak8, calls8 = run(name, server, 8, bank, rules)
    assert len(one.rows) > 0 and not one.cancelled and one.error is None
    pd.testing.assert_frame_equal(comparable(one.rows), comparable(eight.rows))
    assert [r.text for r in one.proposals] == [r.text for r in eight.proposals]
    assert messages(one) == messages(eight)
    assert calls1 == calls8 and peak1 == 1
    if name in ("htdbu", "structsynth"):
        # one LLM call per fit (the skeleton, the DAG), rows from the copulas / trees: nothing to overlap
        assert calls8 == 1 and peak8 == 1
    else:
        assert 1 < peak8 <= 8, f"{name}: at most {peak8} request(s) in flight at concurrency 8"


@pytest.mark.parametrize("name", ["date", "samplellm"])
def test_calls_overlap_up_to_the_concurrency(name, server, bank, rules):
    _, _, peak4, calls = run(name, server, 4, bank, rules)
    assert calls > 4 and 1 < peak4 <= 4


def test_date_replays_from_the_cache_at_another_concurrency(bank, rules, tmp_path):
    with fs.latency(DELAY, rules=REFINED) as srv:
        client = client_for(srv, 8, cache=True, cache_dir=str(tmp_path))
        first = make("date", client, bank, rules).generate(80)
        asked = len(srv.completions())
        replay = client_for(srv, 1, cache=True, cache_dir=str(tmp_path))
        again = make("date", replay, bank, rules).generate(80)
        assert len(srv.completions()) == asked  # every reply came from the cache
    assert again.usage["calls"] == 0 and again.usage["cache_hits"] == first.usage["calls"] > 0
    pd.testing.assert_frame_equal(comparable(first.rows), comparable(again.rows))


@pytest.mark.parametrize("name", ["date", "samplellm"])
def test_cancel_mid_run_keeps_every_reply(name, bank, rules):
    stop = threading.Event()
    with fs.latency(0.3, rules=REFINED) as srv:
        # the user presses cancel once 3 requests are in flight, before any is answered
        watcher = threading.Thread(target=lambda: fs.wait_for(lambda: srv.hits >= 3, 30) and stop.set())
        watcher.start()
        client = client_for(srv, 8)
        out = make(name, client, bank, rules).generate(GENERATORS[name][1], cancel=stop)
        watcher.join()
        answered = len(srv.completions())
        asked = sum(
            b["response_format"]["json_schema"]["schema"]["properties"]["rows"]["maxItems"]
            for b in srv.completions()
        )
    assert out.cancelled and any("cancel" in m for m in out.messages)
    assert 3 <= answered <= 8  # the calls in flight when cancel came finished; no new one started
    records = [r for r in client.usage.records if not r.error]
    assert len(records) == answered and out.usage["calls"] == answered
    # every answered call's rows are in the output (accepted or rejected, with their call id)
    assert set(out.rows["_call_id"]) == {r.call_id for r in records}
    assert 0 < len(out.rows) < GENERATORS[name][1] * (2 if name == "samplellm" else 1)
    if name == "date":
        assert len(out.rows) == asked  # every row the answered calls wrote, none lost
    else:
        assert out.per_rule["pool"].sum() == asked


def test_an_error_keeps_the_replies_before_it(bank, rules):
    with fs.fail_after(3, reply=lambda body: fs.schema_reply(body)) as srv:
        client = client_for(srv, 8, max_retries=0)
        out = make("date", client, bank, rules).generate(80)
    assert out.error is not None and any("the LLM failed" in m for m in out.messages)
    ok = [r for r in client.usage.records if not r.error]
    assert len(ok) == 3 and set(out.rows["_call_id"]) == {r.call_id for r in ok}


def test_run_calls_keeps_job_order_and_stops_after_an_error():
    from synth_core.errors import LLMUnavailableError

    order = []

    def fn(i):
        order.append(i)
        if i == 2:
            raise LLMUnavailableError("down")
        return i * 10

    fake = FakeLLM()
    outs = run_calls(fake, fn, range(6))
    assert [(o.index, o.value, type(o.error).__name__ if o.error else None) for o in outs] == [
        (0, 0, None),
        (1, 10, None),
        (2, None, "LLMUnavailableError"),
    ]
    assert order == [0, 1, 2]  # no job starts after the error
    stop = threading.Event()
    outs = run_calls(fake, lambda i: stop.set() or i, range(5), cancel=stop)
    assert [o.value for o in outs] == [0]


def test_call_stream_hands_outcomes_back_in_job_order_and_takes_new_jobs():
    import time

    from synth_core.llm.parallel import CallStream

    lock = threading.Lock()
    running, peak, finished = [0], [0], []

    def fn(job):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 * (4 - job % 4))  # later jobs finish first
        with lock:
            running[0] -= 1
            finished.append(job)
        return job * 10

    stream = CallStream(FakeLLM(), concurrency=4)
    for job in range(8):
        stream.add(fn, job)
    handed = []

    def handle(out):
        handed.append((out.index, out.value))
        if out.index == 3:  # a job added while others are in flight runs too, after those added before it
            stream.add(fn, 8)

    stream.run(handle)
    assert handed == [(i, i * 10) for i in range(9)]
    assert finished[:4] != [0, 1, 2, 3] and 1 < peak[0] <= 4
