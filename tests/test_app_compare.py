"""AppTest: the Compare page (row choices, t-SNE, distributions, metric cards)."""

from __future__ import annotations

import time

import pytest

from app_support.testing import TIMEOUT, app_at, bank_dataset, finished_run, rules_for, texts

PAGE = "pages/4_Compare.py"


def waiting(at) -> list[str]:
    return [c for c in texts(at.caption) if "Computing fidelity" in c or "Mapping this run's rows" in c]


def settled(at, seconds: float = 120):
    """Rerun ``at`` until the map and the metric cards, computed in the background, are drawn (meanwhile the
    page says what it is computing)."""
    end = time.time() + seconds
    while waiting(at) and time.time() < end:
        time.sleep(0.5)
        at.run(timeout=TIMEOUT)
    assert not waiting(at) and at.metric, "the map or the metric cards never came"
    return at


@pytest.fixture(scope="module")
def seeded():
    ds = bank_dataset()
    rules = rules_for(ds)
    return {"dataset": ds, "rules": rules, "run": finished_run(ds, rules, n=60)}


def test_needs_a_run():
    at = app_at(PAGE, dataset=bank_dataset())
    assert not at.exception
    assert any("No synthetic rows yet" in i for i in texts(at.info))


def test_cards_map_and_distribution(seeded):
    at = app_at(PAGE, **seeded)
    assert not at.exception
    assert waiting(at) or at.metric  # figures first; what is still being computed is named
    settled(at)
    cards = {m.label: m.value for m in at.metric}
    for name in (
        "Utility",
        "Fidelity",
        "Detection AUC",
        "Privacy: near copies",
        "Exact copies",
        "Rule compliance",
        "Labels changed",
    ):
        assert name in cards, name
    assert cards["Rule compliance"] == "100.0%"
    verdict = seeded["run"].metrics["check"]["verdicts"]["tree"]
    assert (
        cards["Utility"] == f"{verdict['augmented']:.1%}"
    )  # the run's cross-fitted verdict, not a new score
    table = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    shown = dict(
        zip(table["metric"], table["value"])
    )  # one value per metric: the table says what the cards say
    for name in ("Fidelity", "Detection AUC", "Privacy: near copies", "Exact copies", "Rule compliance"):
        assert shown[name] == cards[name], name
    assert shown["Utility: your model's error"] == cards["Utility"]
    assert "without fold" in next(
        n for m, n in zip(table["metric"], table["note"]) if m == "Privacy: near copies"
    )
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert {"cmp.tsne.v0", "cmp.dist"} <= set(charts)  # the t-SNE map and the distribution
    assert "t-SNE" in charts["cmp.tsne.v0"].proto.spec
    assert any(f"{len(seeded['run'].selected):,} synthetic row(s) chosen" in c for c in texts(at.caption))


def test_choose_by_rule_status_and_column(seeded):
    at = app_at(PAGE, **seeded)
    at.multiselect(key="cmp.rules").set_value(["r1"]).run(timeout=TIMEOUT)
    assert not at.exception
    run = seeded["run"]
    kept_r1 = int((run.selected["_rule_id"] == "r1").sum())
    assert any(f"{kept_r1:,} synthetic row(s) chosen" in c for c in texts(at.caption))
    at.radio(key="cmp.status").set_value("all").run(timeout=TIMEOUT)
    at.selectbox(key="cmp.filter_col").set_value("V1").run(timeout=TIMEOUT)
    at.slider(key="cmp.filter_range.V1").set_value((60.0, 95.0)).run(timeout=TIMEOUT)
    assert not at.exception
    at.selectbox(key="cmp.column").set_value("Class").run(timeout=TIMEOUT)
    assert not at.exception


def test_map_selection_narrows_the_rows(seeded):
    ids = seeded["run"].selected["_row_id"].head(5).tolist()
    at = app_at(PAGE, **seeded, **{"compare.row_ids": ids})
    assert not at.exception
    assert any("5 row(s) chosen on the map" in i for i in texts(at.info))
    at.button(key="cmp.clear").click().run(timeout=TIMEOUT)
    assert "compare.row_ids" not in at.session_state


def test_a_tiny_selection_gets_no_detection_figure(seeded):
    at = app_at(PAGE, **seeded)
    run = seeded["run"]
    at.session_state["compare.row_ids"] = run.selected["_row_id"].head(4).tolist()
    at.run(timeout=TIMEOUT)
    assert not at.exception
    settled(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Detection AUC"] == "n/a"
    table = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    note = table.loc[table["metric"] == "Detection AUC", "note"].iloc[0]
    assert note == "needs at least 30 synthetic rows to judge (4 chosen)"


def test_rows_of_a_rule_are_compared_with_that_rules_real_rows(seeded):
    at = app_at(PAGE, **seeded)
    at.multiselect(key="cmp.rules").set_value(["r1"]).run(timeout=TIMEOUT)
    ds, rule = seeded["dataset"], seeded["rules"][0]
    assert any(
        f"Compared with the {int(rule.mask(ds.train).sum()):,} real rows of the chosen rule(s)." == c
        for c in texts(at.caption)
    )


def test_rejected_rows_have_no_metrics(seeded):
    run = finished_run(seeded["dataset"], seeded["rules"], n=20)
    run.rows.loc[:3, "_status"] = "rejected"
    run.rows.loc[:3, "_reason"] = "outside the rule"
    at = app_at(PAGE, **{**seeded, "run": run})
    at.radio(key="cmp.status").set_value("rejected").run(timeout=TIMEOUT)
    assert not at.exception
    assert any("accepted rows only" in c for c in texts(at.caption))


def test_a_run_that_kept_nothing_says_why_and_where_its_rows_are(seeded):
    run = finished_run(seeded["dataset"], seeded["rules"], n=20)
    run.rows["_selected"] = False
    check = dict(run.metrics["check"], reason="kept no synthetic rows: no share helped your decision tree.")
    run.metrics = {**run.metrics, "check": check}
    at = app_at(PAGE, **{**seeded, "run": run})
    assert not at.exception
    (note,) = texts(at.info)
    assert note.startswith(run.why_nothing_kept()) and "choose 'Accepted (before the check)'" in note
    assert not at.warning and not at.metric  # nothing to score: the page says why instead
    at.radio(key="cmp.status").set_value("accepted").run(timeout=TIMEOUT)
    assert not at.exception and not at.info
    assert any(f"{len(run.rows):,} synthetic row(s) chosen" in c for c in texts(at.caption))
