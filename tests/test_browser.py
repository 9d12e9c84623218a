"""The real-browser tests: Streamlit served for real, driven by Debian Chromium through Playwright.

An analyst's first hour (upload, discover, add, reject, approve-all, two runs, a run picked on Compare, exports
that hold every uploaded row, a bundle restored), a cancel that frees Start, and (with the embedded model) an
LLM proposal with nine rules. Screenshots of every page go to ``docs/screenshots/`` for the README. The
server is started by ``tests/app_server.py``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from .app_server import AppDidNotStart, serve_app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# The README's screenshots are refreshed only when asked, so a test run leaves the work tree clean.
SHOTS = ROOT / ("docs/screenshots" if os.environ.get("SYNTH_UPDATE_SCREENSHOTS") else "artifacts/screenshots")
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian chromium (`make browser` does) to run the browser test"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_BASE_URL", None)
    try:
        with serve_app(ROOT, log=log, env=env) as url:
            yield url
    except AppDidNotStart as err:
        pytest.fail(str(err))


def wait_idle(page, timeout: float = 90) -> None:
    """Wait until the script run triggered by the last action has finished."""
    page.wait_for_timeout(400)
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout * 1000
    )
    page.wait_for_timeout(300)


def go(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    wait_idle(page)
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def launch(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )


def new_page(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    wait_idle(page)
    return page


def upload_and_use(page, csv: Path) -> None:
    go(page, "Data")
    page.get_by_text("Upload a file").click()
    wait_idle(page)
    page.locator("input[type='file']").first.set_input_files(str(csv))
    page.get_by_text(f"Preview: {csv.name}").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Use this table").click()
    wait_idle(page)
    page.get_by_text("This table is in use").wait_for()


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` (a regex) in the selectbox labelled ``label``."""
    box = page.get_by_label(label, exact=True).first
    box.click()
    choice = page.get_by_role("option", name=re.compile(option)).first
    try:
        try:
            choice.wait_for(timeout=5_000)
        except Exception:  # the click focused the box without opening its list (it happens after a rerun)
            box.press("ArrowDown")
        choice.click()
    except Exception:
        shot(page, f"failed-pick-{label}")  # what the page showed instead, for the person reading the failure
        raise
    wait_idle(page)


def saw_busy_indicator(page, seconds: float) -> bool:
    """Whether Streamlit's running indicator shows during the rerun under way (polled for ``seconds``)."""
    end = time.time() + seconds
    while time.time() < end:
        widget = page.get_by_test_id("stStatusWidget")
        if widget.count() and widget.first.is_visible():
            return True
        page.wait_for_timeout(100)
    return False


def test_an_analysts_first_hour(server, tmp_path):
    """Upload, discover, a first-click add, a reject that survives approve-all, two runs (the busy indicator
    showing), a run picked on Compare, the augmented export holding every uploaded row, a bundle restored with
    its table in use on the Data page."""
    from playwright.sync_api import sync_playwright

    from synth_core.samples import sample_path

    csv = tmp_path / "bank_small.csv"
    upload = pd.read_csv(sample_path("bank_marketing_3k.csv")).head(900)
    upload.to_csv(csv, index=False)

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, server)
            page.get_by_text("Grow a small table").wait_for()
            shot(page, "home")

            # 1. Data: upload the CSV and use it
            upload_and_use(page, csv)
            shot(page, "data")

            # 2. Rules: discover; add a rule with one click; a rejected rule survives "Approve all"
            go(page, "Rules")
            page.get_by_role("button", name="Discover rules").click()
            wait_idle(page)
            page.get_by_text(re.compile(r"Found \d+ rule")).first.wait_for()
            page.get_by_label("Rule text", exact=True).fill("V1 >= 60 AND V12 > 100")
            page.get_by_role("button", name="Add rule", exact=True).click()  # one click, no blur first
            wait_idle(page)
            page.get_by_text(re.compile(r"Added rule u1")).first.wait_for()
            pick(page, "Rule", r"^R1\b")
            page.get_by_role("button", name="Reject", exact=True).first.click()
            wait_idle(page)
            page.get_by_text("Rejected rule R1.").wait_for()
            page.get_by_role("button", name="Approve all proposed").click()
            wait_idle(page)
            page.get_by_text(re.compile(r"1 rule you rejected stays rejected")).wait_for()
            pick(page, "Rule", r"^R1\b")
            assert page.get_by_role("button", name="Reject", exact=True).first.is_disabled()  # still rejected
            shot(page, "rules")

            # 3. Generate twice: the default, then jitter; the running indicator shows while it works
            go(page, "Generate")
            page.get_by_role("button", name="Start generation").click()
            assert saw_busy_indicator(page, 20), "no running indicator during generation"
            page.get_by_text("Latest run").wait_for(timeout=240_000)
            wait_idle(page, 240)
            assert page.get_by_role("button", name="Start generation").is_enabled()
            assert "Runs: 1" in page.get_by_test_id("stSidebar").inner_text()
            shot(page, "generate")
            pick(page, "Generator", r"^jitter")
            page.get_by_role("button", name="Start generation").click()
            page.get_by_test_id("stSidebar").get_by_text(re.compile(r"Runs:\s*2")).wait_for(timeout=240_000)
            wait_idle(page, 240)
            assert page.get_by_role("button", name="Start generation").is_enabled()

            # 4. Compare: the map is drawn; run #1 can be picked again
            go(page, "Compare")
            wait_idle(page, 240)
            chart = page.get_by_test_id("stPlotlyChart").first
            nothing_kept = page.get_by_text(re.compile(r"^Kept no synthetic rows: .*choose 'Accepted"))
            chart.or_(nothing_kept).first.wait_for(timeout=240_000)
            # a run that kept nothing says why, and its candidate rows are one choice away
            if nothing_kept.count():
                page.get_by_test_id("stRadio").get_by_text("Accepted (before the check)").click()
                wait_idle(page, 240)
            chart.wait_for(timeout=240_000)
            chart.get_by_text(re.compile(r"t-SNE of real and synthetic rows")).wait_for(timeout=120_000)
            assert (
                chart.locator(".js-plotly-plot .legendtext").filter(has_text="chosen synthetic rows").count()
            )
            pick(page, "Run", r"^#1 statistical")
            first = re.search(r"of ([\d,]+) \(", page.get_by_label("Run", exact=True).first.inner_text())
            page.get_by_text(
                re.compile(r"synthetic row\(s\) chosen of " + (first.group(1) if first else ""))
            ).first.wait_for(timeout=120_000)
            page.get_by_text("Rule compliance").first.wait_for(timeout=240_000)
            shot(page, "compare")

            # 5. Export: the synthetic CSV, the augmented CSV (every uploaded row), the bundle
            go(page, "Export")
            kept = page.get_by_test_id("stMetric").filter(has_text="Synthetic rows").first.inner_text()
            n_kept = int(re.search(r"([\d,]+)\s*$", kept.strip()).group(1).replace(",", ""))
            downloads = {}
            for label, name in (
                ("Synthetic rows (CSV)", "synthetic.csv"),
                ("Augmented table (CSV)", "augmented.csv"),
                ("Run bundle (zip)", "run.zip"),
            ):
                with page.expect_download() as info:
                    page.get_by_role("button", name=label).click()
                downloads[name] = tmp_path / name
                info.value.save_as(downloads[name])
            shot(page, "export")

            # 6. Restore the bundle in a fresh session: the Data page shows its table in use
            page = new_page(browser, server)
            go(page, "Export")
            page.locator("input[type='file']").first.set_input_files(str(downloads["run.zip"]))
            wait_idle(page)
            page.get_by_role("button", name="Restore this bundle").click()
            wait_idle(page)
            page.get_by_text(re.compile(r"Restored a run of bank_small.csv")).wait_for()
            go(page, "Data")
            page.get_by_text(
                re.compile(r"This table is in use: bank_small.csv, restored from a bundle")
            ).wait_for()
            assert page.get_by_text("These settings differ").count() == 0
        except Exception:
            shot(page, "failure-first-hour")  # the page as the failure left it
            raise
        finally:
            browser.close()

    rows = pd.read_csv(downloads["synthetic.csv"])
    assert len(rows) == n_kept > 0
    assert list(rows.columns) == list(upload.columns)
    augmented = pd.read_csv(downloads["augmented.csv"])
    real = augmented[augmented["source"] == "real"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        real, upload.reset_index(drop=True), check_dtype=False
    )  # every uploaded row
    assert (augmented["source"] == "synthetic").sum() == n_kept


def test_cancel_frees_start_at_once(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from synth_core.samples import sample_path

    csv = tmp_path / "bank_cancel.csv"
    pd.read_csv(sample_path("bank_marketing_3k.csv")).to_csv(csv, index=False)
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, server)
            upload_and_use(page, csv)
            go(page, "Rules")
            page.get_by_role("button", name="Discover rules").click()
            wait_idle(page)
            page.get_by_role("button", name="Approve all proposed").click()
            wait_idle(page)
            go(page, "Generate")
            page.get_by_label("Your model", exact=True).first.click()
            page.get_by_role("option", name=re.compile("gradient boosting")).first.click()  # a slow check
            wait_idle(page)
            page.get_by_role("button", name="Start generation").click()
            page.get_by_role("button", name=re.compile("Cancel")).wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            started = time.time()
            page.get_by_role("button", name=re.compile("Cancel")).click()
            page.get_by_text(
                re.compile(r"Cancelled: partial rows kept|This run was cancelled")
            ).first.wait_for(timeout=120_000)
            wait_idle(page, 120)
            assert page.get_by_role(
                "button", name="Start generation"
            ).is_enabled()  # without leaving the page
            assert time.time() - started < 60
        finally:
            browser.close()


@pytest.mark.llm
def test_llm_proposal_with_nine_rules_on_the_embedded_model(server, tmp_path):
    """The issue's failure: "Ask the LLM for rules" with 9 rules overflowed the embedded model's context."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (run `make setup`)")
    from playwright.sync_api import sync_playwright

    from synth_core.samples import sample_path

    csv = tmp_path / "bank_llm.csv"
    pd.read_csv(sample_path("bank_marketing_3k.csv")).to_csv(csv, index=False)
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = new_page(browser, server)
            upload_and_use(page, csv)
            go(page, "Rules")
            page.get_by_label("Most rules", exact=True).fill("12")
            page.get_by_role("button", name="Discover rules").click()
            wait_idle(page)
            found = page.get_by_text(re.compile(r"Found \d+ rule")).first
            found.wait_for()
            assert int(re.search(r"Found (\d+)", found.inner_text()).group(1)) >= 9
            page.get_by_role("button", name="Ask the LLM for rules").click()
            wait_idle(page, 300)
            assert page.get_by_test_id("stAlertContentError").count() == 0  # no error of any kind
            page.get_by_text(re.compile(r"train rows?\.")).first.wait_for(
                timeout=60_000
            )  # a proposal is shown
        finally:
            browser.close()
