"""Faulty LLM endpoints through a whole run: the CLI, the pipeline and the Generate page.

Each fault ends in one clear message and its fix, never a traceback; an endpoint
that is down or hung is an error, not an empty success; a failure part way keeps
the rows made before it and marks the run incomplete.
"""

from __future__ import annotations

import pytest

from synth_core.cli import main
from synth_core.samples import sample_path

from . import fault_servers as fs

SAMPLE = str(sample_path("bank_marketing_3k.csv"))


def _generate(tmp_path, base_url, *extra):
    out = tmp_path / "run.zip"
    code = main(
        [
            "generate",
            SAMPLE,
            "--target",
            "Class",
            "--method",
            "date",
            "--n",
            "4",
            "--base-url",
            base_url,
            "--model",
            fs.MODEL,
            "--deadline",
            "6",
            "--folds",
            "2",
            "--out",
            str(out),
            *extra,
        ]
    )
    return code, out


@pytest.mark.parametrize("kind", ["garbage", "bad_json", "down", "hang"])
def test_cli_run_on_a_broken_endpoint_is_one_clear_error(kind, tmp_path, capsys):
    with fs.FAULTS[kind]() as srv:
        code, out = _generate(tmp_path, srv.base_url)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("synth generate: ") and "127.0.0.1" in err
    assert not out.exists()  # no empty bundle pretending to be a result


def test_cli_run_on_nonsense_rows_writes_a_bundle_that_says_why(tmp_path, capsys):
    with fs.nonsense_rows() as srv:
        code, out = _generate(tmp_path, srv.base_url)
    text = capsys.readouterr().out
    assert code == 0 and out.exists()
    from synth_core.run import Run

    run = Run.load(out)
    assert len(run.selected) == 0 and (run.rows["_status"] == "rejected").all() and len(run.rows)
    assert "generated rows were rejected" in text


def test_a_failure_part_way_keeps_the_rows_and_marks_the_run_incomplete(bank_sample):
    from synth_core.data import make_dataset
    from synth_core.discovery import DGRDiscoverer
    from synth_core.llm.testing import FakeLLM
    from synth_core.pipeline import run_pipeline

    frame = bank_sample.frame.iloc[:600]
    ds = make_dataset(frame, target="Class", seed=0)
    rules = [r.with_(status="approved") for r in DGRDiscoverer(rho=0.2, random_state=0).fit(ds).rules_[:2]]
    # rows like the prompt's exemplars with the first value moved (not copies), then the endpoint goes away
    answers = {"n": 0}

    def reply(prompt):
        answers["n"] += 1
        if answers["n"] > 3:
            from synth_core.errors import LLMUnavailableError

            return LLMUnavailableError("the endpoint went away (connection refused)")
        lines = prompt.strip().split("\n")[2:6]
        return "\n".join(",".join([str(int(f.split(",")[0]) + 1)] + f.split(",")[1:]) for f in lines) + "\n"

    run = run_pipeline(
        ds,
        rules,
        method="date",
        n=20,
        client=FakeLLM(responses=reply),
        labels="none",
        folds=2,
        generator_params={"iterations": 1},
    )
    assert run.metrics.get("incomplete") and "went away" in run.metrics["incomplete"]
    assert (run.rows["_status"] == "accepted").sum() > 0
    assert any("before the check finished" in m for m in run.messages)


@pytest.mark.parametrize("kind", ["garbage", "down"])
def test_generate_page_shows_the_fault_without_a_traceback(kind):
    from app_support.testing import TIMEOUT, app_at, bank_dataset, rules_for, texts

    ds = bank_dataset()
    with fs.FAULTS[kind]() as srv:
        at = app_at(
            "pages/3_Generate.py",
            dataset=ds,
            rules=rules_for(ds),
            **{
                "gen.llm_mode": "Endpoint",
                "gen.base_url": srv.base_url,
                "gen.model": fs.MODEL,
                "gen.method": "date",
                "gen.budget": 4,
                "gen.folds": 2,
            },
        )
        at.button(key="FormSubmitter:gen.form-Start generation").click().run(timeout=TIMEOUT)
    assert not at.exception
    errors = texts(at.error)
    assert errors and "127.0.0.1" in errors[0]
    assert at.session_state["run"] is None if "run" in at.session_state else True
