"""Helpers for the AppTest page tests: a small table, an approved rule, a finished run, a seeded app."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 60


def bank_dataset():
    """The bundled bank-marketing sample (3,000 rows, numeric features, binary target)."""
    from synth_core.data import load_dataset
    from synth_core.samples import sample_path

    return load_dataset(
        sample_path("bank_marketing_3k.csv"), target="Class", seed=0, name="bank_marketing_3k.csv"
    )


def rules_for(dataset, status: str = "approved"):
    from synth_core.rules import parse_rule

    train = dataset.train
    texts = ["V1 >= 40", "V1 < 40 AND V12 > 200"]
    out = []
    for i, text in enumerate(texts):
        rule = parse_rule(text, id=f"r{i + 1}", status=status, origin="person")
        out.append(rule.with_(support=rule.count(train)))
    return out


def finished_run(dataset, rules, *, method: str = "jitter", n: int = 80):
    from synth_core.pipeline import run_pipeline

    return run_pipeline(
        dataset, rules, method=method, n=n, random_state=0, guard=False, folds=3
    )  # rows to show


def app_at(page: str | None = None, **state):
    """An AppTest of app.py, run once, with ``state`` seeded, switched to ``page`` and run again."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    if page:
        at.switch_page(page)
    return at.run(timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]
