"""AppTest: the Export page (downloads, CSV-injection safety, bundle restore) and synth_core.export."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from app_support.testing import TIMEOUT, app_at, bank_dataset, finished_run, rules_for, texts
from synth_core.export import neutralize_cell, safe_frame, to_safe_csv

PAGE = "pages/5_Export.py"


@pytest.fixture(scope="module")
def seeded():
    ds = bank_dataset()
    rules = rules_for(ds)
    return {"dataset": ds, "rules": rules, "run": finished_run(ds, rules, n=50)}


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\r=1", "'\r=1"),
        ("-3.5", "-3.5"),
        ("+1e3", "+1e3"),
        ("-7", "-7"),
        ("plain", "plain"),
        ("", ""),
        (3, 3),
        (None, None),
        ("a=b", "a=b"),
    ],
)
def test_neutralize_cell(cell, expected):
    assert neutralize_cell(cell) == expected


def test_safe_csv_keeps_numbers_and_quotes_formulas():
    frame = pd.DataFrame({"n": [-1.5, 2.0], "t": ['=HYPERLINK("x")', "-4"], "=bad": ["ok", "@x"]})
    out = pd.read_csv(io.BytesIO(to_safe_csv(frame)), dtype=str, keep_default_na=False)
    assert list(out.columns) == ["n", "t", "'=bad"]
    assert out["n"].tolist() == ["-1.5", "2.0"]
    assert out["t"].tolist() == ['\'=HYPERLINK("x")', "-4"]
    assert out["'=bad"].tolist() == ["ok", "'@x"]
    assert safe_frame(frame)["n"].dtype == frame["n"].dtype


def test_without_a_run_rules_still_export():
    ds = bank_dataset()
    at = app_at(PAGE, dataset=ds, rules=rules_for(ds))
    assert not at.exception
    assert any("No run yet" in i for i in texts(at.info))
    assert not at.download_button(key="export.rules").disabled


def test_downloads(seeded):
    at = app_at(PAGE, **seeded)
    assert not at.exception
    buttons = {b.key: b.proto.label for b in at.download_button if not b.proto.disabled}
    assert buttons == {
        "export.synthetic": "Synthetic rows (CSV)",
        "export.augmented": "Augmented table (CSV)",
        "export.provenance": "Synthetic rows with provenance (CSV)",
        "export.rules": "Rules (JSON)",
        "export.bundle": "Run bundle (zip)",
    }
    run = seeded["run"]
    cards = {m.label: m.value for m in at.metric}
    assert cards["Synthetic rows"] == f"{len(run.selected):,}"
    assert (
        cards["Augmented rows (every uploaded row + synthetic)"]
        == f"{len(run.selected) + len(run.dataset.frame):,}"
    )
    at.button(key="export.build_report").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert {b.key: b.proto.label for b in at.download_button if not b.proto.disabled} == {
        **buttons,
        "export.report": "Report (Markdown)",
    }
    report = at.session_state["compare.report_md"]
    assert report.startswith(f"# Synthetic rows for {run.dataset.name}")
    assert "## Verdict (cross-fitted)" in report and "## Metrics of the kept rows" in report
    assert f"{len(run.selected):,} synthetic rows kept" in report


def test_restore_bundle(seeded):
    bundle = seeded["run"].save()
    at = app_at(PAGE)
    at.file_uploader(key="export.restore").upload("run.zip", bundle, "application/zip").run(timeout=TIMEOUT)
    at.button(key="export.restore_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("Restored a run" in s for s in texts(at.success))
    restored = at.session_state["run"]
    assert len(restored.selected) == len(seeded["run"].selected)
    assert [r.text for r in at.session_state["rules"]] == [r.text for r in seeded["rules"]]
    assert at.session_state["dataset"].fingerprint


def test_bad_bundle_is_explained():
    at = app_at(PAGE)
    at.file_uploader(key="export.restore").upload("run.zip", b"not a zip at all", "application/zip").run(
        timeout=TIMEOUT
    )
    at.button(key="export.restore_btn").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert any("not a run bundle" in e for e in texts(at.error))
    assert "run" not in at.session_state
