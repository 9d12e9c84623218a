"""The LLM layer against faulty endpoints and a crashing embedded server (issue 17).

Every endpoint here is a real HTTP server on loopback (``tests/fault_servers.py``)
spoken to through the real ``openai`` client; the embedded server's crashes are
played by a small stand-in process, so nothing here needs llama.cpp or a model.
Timeouts are short and retries off where they would only add waiting.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

import numpy as np
import pandas as pd
import pytest

from synth_core.data import infer_schema
from synth_core.errors import (
    InvalidParameterError,
    LLMDeadlineError,
    LLMError,
    LLMResponseError,
    LLMUnavailableError,
    SynthError,
)
from synth_core.llm import LLMClient, LLMSettings, generate_rows, propose_rules
from synth_core.llm.testing import FakeLLM

from . import fault_servers as fs

SECRET = "sk-test-THIS-IS-A-SECRET-KEY-0123456789abcd"
COLS = ["age", "balance", "job", "y"]
ROWS = '45,10.50,"tech","yes"\n46,11.50,"admin.","no"\n47,12.50,"tech","no"\n'


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "balance": np.round(rng.uniform(-50, 900, n), 2),
            "job": rng.choice(["admin.", "blue-collar", "tech"], n),
            "y": rng.choice(["no", "yes"], n),
        }
    )


@pytest.fixture
def schema(table):
    return infer_schema(table, target="y")


def client_for(srv, *, api="completion", key=SECRET, **changes) -> LLMClient:
    """A real client for a fault server: no cache, 2 s per call, no SDK retries (unless changed)."""
    constrain = "grammar" if api == "completion" else "json_schema"
    settings = dict(
        base_url=srv.base_url,
        model="m",
        cache=False,
        timeout=2.0,
        max_retries=0,
        parse_retries=0,
        api=api,
        constrain=constrain,
    )
    return LLMClient(LLMSettings(**(settings | changes)), api_key=key)


def ask(client, api):
    if api == "completion":
        return client.complete("a,b\n1,2\n")
    return client.chat([{"role": "user", "content": "rows please"}])


GARBAGE = [("garbage", {}), ("bad_json", {})] + [
    ("json_reply", {"value": v}) for v in fs.WRONG_SHAPES.values()
]
GARBAGE_IDS = ["garbage", "bad_json"] + [f"shape-{k}" for k in fs.WRONG_SHAPES]


# --------------------------------------------------------------------------- garbage replies


@pytest.mark.parametrize("api", ["completion", "chat"])
@pytest.mark.parametrize("kind,kwargs", GARBAGE, ids=GARBAGE_IDS)
def test_garbage_reply_is_one_response_error(fault_server, kind, kwargs, api):
    srv = fault_server(kind, **kwargs)
    client = client_for(srv, api=api)
    with pytest.raises(LLMResponseError) as info:
        ask(client, api)
    message = str(info.value)
    assert (
        type(info.value) is LLMResponseError
    )  # never AttributeError / JSONDecodeError / TypeError / KeyError
    assert srv.base_url in message
    if "without any text" in message or "no choices" in message:
        assert "another model" in message
    else:
        assert "/v1" in message and "base URL" in message
    assert SECRET not in message
    assert srv.hits == 1 and client.usage.summary()["errors"] == 1


def test_garbage_messages_say_what_came_back(fault_server):
    text = fault_server("garbage", text="Welcome to nginx!")
    with pytest.raises(LLMResponseError, match=r"HTTP 200 with text/plain text that is not JSON.*Welcome"):
        client_for(text).complete("p")
    broken = fault_server("bad_json")
    with pytest.raises(LLMResponseError, match=r"invalid JSON \(Expecting .* at character \d+\)"):
        client_for(broken).complete("p")
    shape = fault_server("json_reply", value={"result": "hi"})
    with pytest.raises(
        LLMResponseError, match=r"not an OpenAI chat completion.*no 'choices' \(keys: 'result'"
    ):
        client_for(shape, api="chat").chat([{"role": "user", "content": "x"}])
    error = fault_server("json_reply", value={"error": {"message": "model overloaded"}})
    with pytest.raises(LLMResponseError, match="an error instead of a reply.*model overloaded"):
        client_for(error).complete("p")


def test_a_server_echoing_the_key_does_not_leak_it(fault_server):
    srv = fault_server("garbage", text=f"your key {SECRET} is not valid here")
    with pytest.raises(LLMResponseError) as info:
        client_for(srv).complete("p")
    assert SECRET not in str(info.value) and "sk-…abcd" in str(info.value)


def test_nonsense_text_is_returned_as_text(fault_server):
    srv = fault_server("nonsense_rows")
    comp = client_for(srv).complete("p")
    assert comp.text == fs.JUNK and comp.prompt_tokens == 5 and comp.completion_tokens == 7


# --------------------------------------------------------------------------- down, hang, drip, fail-after


def test_down_endpoint_says_cannot_reach(fault_server):
    srv = fault_server("down")
    with pytest.raises(LLMUnavailableError, match=f"cannot reach {srv.base_url}: check the base URL"):
        client_for(srv, max_retries=1).complete("p")


def test_hang_costs_one_timeout_not_one_per_retry(fault_server):
    srv = fault_server("hang")
    client = client_for(srv, timeout=1.0, max_retries=2)
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailableError, match=r"gave no answer within 1 s.*retries included") as info:
        client.complete("p")
    elapsed = time.monotonic() - t0
    assert not isinstance(info.value, LLMDeadlineError)
    assert 0.9 <= elapsed < 2.5, elapsed  # one timeout (plus at most one SDK backoff pause), not three
    assert srv.hits == 1  # no retry was sent once the call's time was spent


def test_dripping_server_is_cut_at_the_timeout(fault_server):
    srv = fault_server("drip", interval=0.2)
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="gave no answer within 1 s"):
        client_for(srv, timeout=1.0).complete("p")
    assert time.monotonic() - t0 < 3.0  # each byte beats the read timeout; the whole answer would take ~60 s


def test_fail_after_n_500_and_closed_connection(fault_server):
    srv = fault_server("fail_after", n=1, mode="500")
    client = client_for(srv)
    assert client.complete("p").text == "ok"
    with pytest.raises(LLMUnavailableError, match=r"failed with HTTP 500 .*the model crashed"):
        client.complete("p", sample=1)
    closed = fault_server("fail_after", n=1, mode="close")
    client = client_for(closed)
    assert client.complete("p").text == "ok"
    with pytest.raises(LLMUnavailableError, match="dropped the connection without a complete answer") as info:
        client.complete("p", sample=1)
    assert "check the base URL" not in str(info.value)


def test_sdk_retries_stay_inside_the_call_budget(fault_server):
    srv = fault_server("fail_after", n=0, mode="500")
    client = client_for(srv, timeout=1.2, max_retries=5)
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="HTTP 500"):
        client.complete("p")
    # backoff 0.5 s, then 1 s would end past the 1.2 s budget: the SDK is told not to retry
    assert time.monotonic() - t0 < 2.0 and srv.hits == 2


# --------------------------------------------------------------------------- the run deadline


def test_deadline_on_a_hang_ends_in_about_the_deadline(fault_server, schema, table):
    srv = fault_server("hang")
    client = client_for(srv, timeout=60.0, max_retries=2, concurrency=4).with_deadline(2)
    t0 = time.monotonic()
    with pytest.raises(LLMDeadlineError, match=r"deadline of 2 s passed while waiting for an answer") as info:
        generate_rows(client, schema=schema, target="y", rule=None, examples=table, n=20, rows_per_call=5)
    elapsed = time.monotonic() - t0
    assert 1.9 <= elapsed < 3.5, elapsed
    assert isinstance(info.value, LLMUnavailableError) and srv.base_url in str(info.value)
    assert 1 <= srv.hits <= 4  # the first round's calls only: no retry, no new call after the deadline
    t0 = time.monotonic()
    with pytest.raises(LLMDeadlineError, match="has passed"):
        client.complete("p")
    assert time.monotonic() - t0 < 0.1 and srv.hits <= 4


def test_deadline_copy_shares_cache_and_usage_and_refuses_late_calls(fault_server, tmp_path):
    srv = fault_server("nonsense_rows")
    base = client_for(srv, cache=True, cache_dir=str(tmp_path))
    run = base.with_deadline(0.5)
    assert run is not base and run.usage is base.usage and run.cache is base.cache
    assert "deadline=0.5s" in repr(run) and base.deadline_seconds is None and run.deadline_seconds == 0.5
    run.complete("p")
    assert base.complete("p").cached  # the copy filled the shared cache
    time.sleep(0.6)
    with pytest.raises(LLMDeadlineError, match="has passed"):
        run.complete("p")  # even a cache hit: nothing is served after the deadline
    assert base.complete("p").cached and srv.hits == 1
    assert base.with_deadline(None).time_left is None


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, True, "10"])
def test_deadline_must_be_positive_seconds(bad):
    with pytest.raises(InvalidParameterError, match="deadline must be a positive number"):
        FakeLLM().with_deadline(bad)


def test_deadline_stops_parse_retries_and_shares_the_fake_script():
    def slow_junk(prompt):
        time.sleep(0.3)
        return "not json"

    fake = FakeLLM(
        responses=slow_junk,
        settings=LLMSettings(base_url="http://fake.invalid/v1", model="f", cache=False, parse_retries=10),
    )
    t0 = time.monotonic()
    with pytest.raises(LLMDeadlineError):
        fake.with_deadline(0.7).complete_json("p", schema={"type": "object"})
    assert 2 <= len(fake.calls) <= 3 and time.monotonic() - t0 < 2.0  # not the 11 tries parse_retries allows
    scripted = FakeLLM(responses=["a", "b", "c"])
    run = scripted.with_deadline(60)
    assert [run.complete("x").text, scripted.complete("y").text, run.complete("z").text] == ["a", "b", "c"]
    assert len(scripted.calls) == 3


# --------------------------------------------------------------------------- rule proposals


@pytest.mark.parametrize("api", ["completion", "chat"])
@pytest.mark.parametrize("kind", ["garbage", "bad_json"])
def test_propose_rules_on_garbage_raises_response_error(fault_server, schema, kind, api):
    srv = fault_server(kind)
    with pytest.raises(LLMResponseError, match="not an OpenAI"):
        propose_rules(client_for(srv, api=api), schema=schema, target="y", n=2)


@pytest.mark.parametrize("api", ["completion", "chat"])
def test_propose_rules_on_nonsense_reasks_then_fails_cleanly(fault_server, schema, api):
    srv = fault_server("nonsense_rows")
    client = client_for(srv, api=api, parse_retries=2)
    with pytest.raises(LLMResponseError, match=r"did not return the JSON asked for after 3 tries \(not JSON"):
        propose_rules(client, schema=schema, target="y", n=2)
    assert srv.hits == 3 and client.usage.summary()["parse_retries"] == 2


def test_propose_rules_wrong_json_shape_and_deadline(fault_server, schema):
    srv = fault_server("nonsense_rows", text=json.dumps({"rules": [{"rule": 3}]}))
    with pytest.raises(LLMResponseError, match="did not return the JSON asked for"):
        propose_rules(client_for(srv, api="chat"), schema=schema, target="y", n=1)
    hung = fault_server("hang")
    t0 = time.monotonic()
    with pytest.raises(LLMDeadlineError):
        propose_rules(client_for(hung, timeout=30).with_deadline(1), schema=schema, target="y", n=1)
    assert time.monotonic() - t0 < 3.0


# --------------------------------------------------------------------------- row generation


@pytest.mark.parametrize("api,fmt", [("completion", "csv"), ("completion", "jsonl"), ("chat", "csv")])
def test_nonsense_rows_are_rejected_and_counted(fault_server, schema, table, api, fmt):
    srv = fault_server("nonsense_rows")
    client = client_for(srv, api=api)
    batch = generate_rows(
        client, schema=schema, target="y", rule=None, examples=table, n=5, fmt=fmt, max_calls=2
    )
    assert len(batch.rows) == 0 and list(batch.rows.columns) == COLS
    assert batch.usage["calls"] == 2 and srv.hits == 2
    assert batch.usage["accepted"] == 0 and batch.usage["rejected"] == len(batch.rejected) > 0
    assert sum(batch.reasons.values()) == len(batch.rejected)
    assert set(batch.reasons) <= {"not_a_row", "wrong_columns", "bad_value"}
    assert client.usage.summary()["rows_rejected"] == len(batch.rejected)


def test_rows_then_failure(fault_server, schema, table):
    srv = fault_server("fail_after", n=1, reply=ROWS)
    client = client_for(srv)
    first = generate_rows(client, schema=schema, target="y", rule=None, examples=table, n=3, max_calls=1)
    assert len(first.rows) == 3 and first.usage["accepted"] == 3
    with pytest.raises(LLMUnavailableError, match="HTTP 500"):
        generate_rows(
            client, schema=schema, target="y", rule=None, examples=table, n=3, max_calls=1, start_sample=1
        )
    s = client.usage.summary()
    assert s["calls"] == 1 and s["errors"] == 1 and s["rows_accepted"] == 3 and srv.hits == 2


@pytest.mark.parametrize("kind", ["garbage", "bad_json", "down"])
def test_generate_rows_raises_our_errors_only(fault_server, schema, table, kind):
    srv = fault_server(kind)
    with pytest.raises(LLMError) as info:
        generate_rows(client_for(srv), schema=schema, target="y", rule=None, examples=table, n=3)
    assert srv.base_url in str(info.value)


# --------------------------------------------------------------------------- synth llm-check


CHECK_FAULTS = [
    ("garbage", {}, 2, "text that is not JSON"),
    ("bad_json", {}, 2, "invalid JSON"),
    ("json_reply", {"value": fs.WRONG_SHAPES["empty_choices"]}, 2, "no choices"),
    ("json_reply", {"value": fs.WRONG_SHAPES["null_content"]}, 2, "without any text"),
    ("hang", {}, 2, "gave no answer within 1 s"),
    ("down", {}, 2, "cannot reach"),
    ("fail_after", {"n": 0}, 2, "HTTP 500"),
    ("fail_after", {"n": 1, "mode": "close"}, 2, "dropped the connection"),
    ("nonsense_rows", {}, 1, "none of the"),
]


@pytest.mark.parametrize(
    "kind,kwargs,code,says", CHECK_FAULTS, ids=[f"{k}-{i}" for i, (k, *_) in enumerate(CHECK_FAULTS)]
)
def test_llm_check_cli_one_line_no_traceback(fault_server, monkeypatch, capsys, kind, kwargs, code, says):
    from synth_core.cli import main

    monkeypatch.setenv("SYNTH_LLM_TIMEOUT", "1")
    monkeypatch.setenv("SYNTH_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    srv = fault_server(kind, **kwargs)
    t0 = time.monotonic()
    rc = main(["llm-check", "--base-url", srv.base_url, "--model", "m"])
    out, err = capsys.readouterr()
    assert rc == code, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("LLM check failed: ") and says in lines[0]
    assert srv.base_url in lines[0], lines[0]  # the message names the endpoint that failed
    assert "Traceback" not in out + err and SECRET not in out + err
    assert time.monotonic() - t0 < 5


def test_timeout_and_retries_from_the_environment(monkeypatch):
    monkeypatch.setenv("SYNTH_LLM_TIMEOUT", "2.5")
    monkeypatch.setenv("SYNTH_LLM_MAX_RETRIES", "0")
    s = LLMSettings.from_env(base_url="http://127.0.0.1:9/v1", model="m")
    assert (s.timeout, s.max_retries) == (2.5, 0)
    assert LLMSettings.from_env(base_url="http://127.0.0.1:9/v1", model="m", timeout=7).timeout == 7
    monkeypatch.setenv("SYNTH_LLM_MAX_RETRIES", "-1")
    with pytest.raises(InvalidParameterError, match="max_retries must be an integer from 0 to 10"):
        LLMSettings.from_env()


def test_llm_check_env_settings_are_checked(monkeypatch, capsys):
    from synth_core.cli import main

    monkeypatch.setenv("SYNTH_LLM_TIMEOUT", "soon")
    assert main(["llm-check", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert "SYNTH_LLM_TIMEOUT must be a number of seconds, got 'soon'" in err
    assert len(err.strip().splitlines()) == 1


def test_llm_check_deadline(fault_server):
    from synth_core.llm import llm_check

    srv = fault_server("hang")
    lines, errors = [], []
    t0 = time.monotonic()
    assert llm_check(base_url=srv.base_url, model="m", out=lines.append, err=errors.append, deadline=1) == 2
    assert (
        time.monotonic() - t0 < 4
    )  # imports and the sample table on a cold start; the call timeout is 120 s
    assert (
        len(errors) == 1 and "deadline of 1 s passed" in errors[0] and not any("failed" in x for x in lines)
    )


# --------------------------------------------------------------------------- the embedded server crashing

FAKE_LLAMA = r"""
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port = int(sys.argv[sys.argv.index("--port") + 1])
mode = os.environ.get("FAKE_LLAMA_MODE", "crash_on_completion")
if mode == "slow_start":
    time.sleep(60)
posts = [0]
for i in range(40):
    print(f"llama_model_loader: - kv {i:2d}: gemma3.something u32 = {i}", flush=True)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply({"object": "list", "data": [{"id": "gemma-3-270m-q4_k_m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        posts[0] += 1
        if mode == "crash_on_completion" or (mode == "crash_later" and posts[0] >= 2):
            print("ggml_vec_dot_q4_K_q8_K: general protection fault ip:7f00 in libggml-cpu.so", file=sys.stderr,
                  flush=True)
            print('INFO:     127.0.0.1:40000 - "POST /v1/completions HTTP/1.1"', flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        self.reply({"id": "c", "object": "text_completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "text": "1", "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def fake_llama(tmp_path, monkeypatch):
    """An EmbeddedServer whose process is a stand-in that dies with SIGSEGV (mode in FAKE_LLAMA_MODE)."""
    if os.name != "posix":
        pytest.skip("the stand-in server is started through a shell script")
    from synth_core.llm import server as srv

    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(srv, "model_path", lambda cache_dir=None: model)
    monkeypatch.setattr(srv, "_available_mb", lambda: None)
    monkeypatch.setattr(srv, "cpu_problem", lambda: None)
    real_find_spec = srv.importlib.util.find_spec
    monkeypatch.setattr(
        srv.importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a),
    )
    script = tmp_path / "fake_llama.py"
    script.write_text(FAKE_LLAMA)
    python = tmp_path / "python.sh"
    # the stand-in drops "-m llama_cpp.server" and takes the server's other arguments
    python.write_text(f'#!/bin/sh\nshift 2\nexec "{sys.executable}" "{script}" "$@"\n')
    python.chmod(0o755)
    servers = []

    def make():
        server = srv.EmbeddedServer(cache_dir=tmp_path, python=str(python))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _assert_crash_report(message: str):
    assert "embedded LLM server crashed" in message
    assert "SIGSEGV" in message
    assert "general protection fault" in message  # the relevant log line is quoted
    assert "llama_model_loader: - kv  0" not in message  # not the whole log
    assert "rm -rf .venv && make setup" in message and "OPENAI_BASE_URL" in message
    assert "check the base URL" not in message and "cannot reach" not in message


def test_crash_on_the_first_completion_is_caught_at_start(fake_llama, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_MODE", "crash_on_completion")
    server = fake_llama()
    with pytest.raises(LLMUnavailableError) as info:
        server.start()
    message = str(info.value)
    _assert_crash_report(message)
    assert "on its first completion (killed by signal SIGSEGV (11))" in message
    assert not server.running


def test_crash_during_a_call_is_reported_as_a_crash(fake_llama, monkeypatch, tmp_path):
    from synth_core.llm import server as srv

    monkeypatch.setenv("FAKE_LLAMA_MODE", "crash_later")
    server = fake_llama()
    monkeypatch.setattr(srv, "get_embedded_server", lambda cache_dir=None, *, deadline=None: server.start())
    client = LLMClient(LLMSettings(cache=False, cache_dir=str(tmp_path), timeout=10, max_retries=1))
    client.start()
    first_pid = server.pid
    assert server.running and client.base_url == server.base_url
    with pytest.raises(LLMUnavailableError) as info:
        client.complete("a,b\n", max_tokens=2)
    message = str(info.value)
    _assert_crash_report(message)
    assert "while answering a request" in message and server.returncode == -signal.SIGSEGV
    assert client.usage.summary()["errors"] == 1
    # the next call starts the server again (a new process, proved by a real completion)
    with pytest.raises(LLMUnavailableError, match="crashed while answering a request"):
        client.complete("a,b\n", max_tokens=2, sample=1)
    assert server.pid != first_pid


def test_embedded_start_gives_up_at_the_run_deadline(fake_llama, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_MODE", "slow_start")
    server = fake_llama()
    t0 = time.monotonic()
    with pytest.raises(LLMDeadlineError, match="deadline passed while the embedded LLM server was starting"):
        server.start(deadline=time.monotonic() + 1.0)
    assert time.monotonic() - t0 < 2.5 and not server.running and not server.crashed  # stopped, not crashed


def test_cpu_without_avx2_is_refused_before_starting(monkeypatch, tmp_path):
    from synth_core.llm import server as srv

    monkeypatch.setattr(srv, "_cpu_flags", lambda path="/proc/cpuinfo": {"sse4_2", "avx", "fma", "f16c"})
    problem = srv.cpu_problem()
    assert problem and "lacks AVX2" in problem and "needs AVX2" in problem and "OPENAI_BASE_URL" in problem
    real_find_spec = srv.importlib.util.find_spec
    monkeypatch.setattr(
        srv.importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a),
    )
    with pytest.raises(LLMUnavailableError, match="lacks AVX2.*OPENAI_BASE_URL"):
        srv.EmbeddedServer(cache_dir=tmp_path).start()
    monkeypatch.setattr(srv, "_cpu_flags", lambda path="/proc/cpuinfo": {"avx", "avx2", "fma", "f16c"})
    assert srv.cpu_problem() is None
    monkeypatch.setattr(srv, "_cpu_flags", lambda path="/proc/cpuinfo": None)  # not Linux x86-64
    assert srv.cpu_problem() is None


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    import platform

    from synth_core.llm import server as srv

    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("CPU flags are read on Linux x86-64 only")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert srv._cpu_flags(str(info)) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert srv._cpu_flags(str(tmp_path / "missing")) is None


# --------------------------------------------------------------------------- the installed llama.cpp build


def test_installed_llama_cpp_is_portable():
    llama_cpp = pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (run `make setup`); nothing to check"
    )
    info = llama_cpp.llama_print_system_info()
    info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    parts = (p.partition("=") for p in info.replace("CPU :", "").split("|"))
    flags = {k.strip(): v.strip() for k, _, v in parts if k.strip()}
    assert flags.get("AVX2") == "1", info
    enabled = {k for k, v in flags.items() if v == "1"}
    assert not {k for k in enabled if k.startswith(("AVX512", "AMX"))}, (
        f"llama.cpp was built for this CPU, not portable ({info}): rebuild with `rm -rf .venv && make setup`"
    )


def test_every_fault_kind_is_exported():
    assert set(fs.FAULTS) == {"garbage", "bad_json", "hang", "down", "nonsense_rows", "fail_after"}
    assert issubclass(LLMDeadlineError, LLMUnavailableError) and issubclass(LLMDeadlineError, SynthError)
