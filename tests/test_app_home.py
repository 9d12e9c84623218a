"""AppTest: the home page (app.py) and what every page shares (navigation, sidebar)."""

from __future__ import annotations

from app_support.testing import app_at, bank_dataset, finished_run, rules_for, texts


def test_home_fresh_session():
    at = app_at()
    assert not at.exception
    assert "Grow a small table" in at.title[0].value
    labels = {m.label: m.value for m in at.metric}
    assert labels["Table"] == "none"
    assert labels["Rules approved"] == "0 of 0"
    assert labels["Runs made"] == "0"
    assert labels["Endpoint"] == "embedded (offline)"
    assert labels["Calls so far"] == "0"
    assert at.number_input(key="app.seed").value == 0
    assert any("LLM endpoint" in c for c in texts(at.sidebar.caption))


def test_home_shows_session_state():
    ds = bank_dataset()
    rules = rules_for(ds)
    run = finished_run(ds, rules, n=40)
    at = app_at(dataset=ds, rules=rules, run=run, runs=[{"method": "jitter"}])
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Table"] == "3,000 rows"
    assert labels["Rules approved"] == "2 of 2"
    assert labels["Runs made"] == "1"
    assert labels["Synthetic rows kept"] == str(len(run.selected))


def test_endpoint_shown_in_sidebar_never_the_key():
    at = app_at(
        **{
            "gen.llm_mode": "Endpoint",
            "gen.base_url": "http://127.0.0.1:9/v1",
            "gen.model": "m",
            "gen.api_key": "sk-secret-value-123456",
        }
    )
    assert not at.exception
    shown = " ".join(texts(at.sidebar.caption)) + " ".join(m.value for m in at.metric)
    assert "127.0.0.1:9" in shown
    assert "sk-secret" not in shown
