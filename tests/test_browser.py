"""One real-browser test: Streamlit served for real, driven by Debian Chromium through Playwright.

Upload a CSV, discover rules, approve one, generate offline (the default, statistical), open Compare (the t-SNE map is
drawn), download the synthetic CSV and check its rows. Screenshots of every page go to
``docs/screenshots/`` for the README. The server start follows Streamlit's own e2e conftest:
a free port, ``--server.headless true``, no usage stats, no file watcher, poll ``/_stcore/health``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# The README's screenshots are refreshed only when asked, so a test run leaves the work tree clean.
SHOTS = ROOT / ("docs/screenshots" if os.environ.get("SYNTH_UPDATE_SCREENSHOTS") else "artifacts/screenshots")
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian chromium (`make browser` does) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_BASE_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_idle(page, timeout: float = 90) -> None:
    """Wait until the script run triggered by the last action has finished."""
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout * 1000)
    page.wait_for_timeout(300)


def go(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    wait_idle(page)
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_upload_discover_approve_generate_compare_download(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from synth_core.samples import sample_path

    csv = tmp_path / "bank_small.csv"
    pd.read_csv(sample_path("bank_marketing_3k.csv")).head(900).to_csv(csv, index=False)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(server)
            wait_idle(page)
            page.get_by_text("Grow a small table").wait_for()
            shot(page, "home")

            # 1. Data: upload the CSV and use it
            go(page, "Data")
            page.get_by_text("Upload a file").click()
            wait_idle(page)
            page.locator("input[type='file']").first.set_input_files(str(csv))
            page.get_by_text("Preview: bank_small.csv").wait_for()
            wait_idle(page)
            page.get_by_role("button", name="Use this table").click()
            wait_idle(page)
            page.get_by_text("This table is in use").wait_for()
            shot(page, "data")

            # 2. Rules: discover and approve the first rule
            go(page, "Rules")
            page.get_by_role("button", name="Discover rules").click()
            wait_idle(page)
            page.get_by_text(re.compile(r"Found \d+ rule")).first.wait_for()
            page.get_by_role("button", name="Approve", exact=True).click()
            wait_idle(page)
            page.get_by_text(re.compile(r"Approved rule")).first.wait_for()
            shot(page, "rules")

            # 3. Generate offline with the default generator
            go(page, "Generate")
            # keep every row: the validation check may rightly keep none of a tiny table's rows
            page.get_by_text("Keep only the amount that helps on validation rows").click()
            wait_idle(page)
            page.get_by_role("button", name="Start generation").click()
            page.get_by_text("Latest run").wait_for(timeout=180_000)
            wait_idle(page, 180)
            # the sidebar counts the run in the same rerun that made it
            assert "Runs: 1" in page.get_by_test_id("stSidebar").inner_text()
            shot(page, "generate")

            # 4. Compare: the t-SNE map is drawn
            go(page, "Compare")
            wait_idle(page, 240)
            chart = page.get_by_test_id("stPlotlyChart").first
            chart.wait_for(timeout=240_000)
            page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=60_000)
            assert "t-SNE" in chart.inner_text()
            page.get_by_text("Rule compliance").first.wait_for(timeout=240_000)
            shot(page, "compare")

            # 5. Export: download the synthetic CSV and check its rows
            go(page, "Export")
            kept = page.get_by_test_id("stMetric").filter(has_text="Synthetic rows").first.inner_text()
            n_kept = int(re.search(r"([\d,]+)\s*$", kept.strip()).group(1).replace(",", ""))
            with page.expect_download() as info:
                page.get_by_role("button", name="Synthetic rows (CSV)").click()
            path = tmp_path / "synthetic.csv"
            info.value.save_as(path)
            shot(page, "export")
        finally:
            browser.close()

    rows = pd.read_csv(path)
    assert len(rows) == n_kept > 0
    assert list(rows.columns) == ["V1", "V6", "V10", "V12", "V13", "V14", "V15", "Class"]
    assert not any(c.startswith("_") for c in rows.columns)
