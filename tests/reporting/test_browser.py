"""The report in a real browser: headless Chromium (the system's package) driven by Selenium.

No console errors, every section present, every plot drew marks with a non-empty extent, and a
screenshot of the whole page saved under the test's tmp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sctool.reporting import SECTION_ORDER

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
                 if Path(p).exists()), None) or shutil.which("chromium")
DRIVER = next((p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).exists()),
              None) or shutil.which("chromedriver")

# Per plot: how many marks it has and how many have a drawn extent.
MARKS_JS = """
return Array.from(document.querySelectorAll('figure.plot')).map(f => {
  const marks = Array.from(f.querySelectorAll('svg [id*="-mark-"]'));
  const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
  return [f.dataset.plot, marks.length, drawn.length];
});
"""


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not CHROMIUM or not DRIVER:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as exc:  # a browser that cannot start here is an environment gap, not a report bug
        pytest.skip(f"headless Chromium did not start: {exc}")
    yield drv
    drv.quit()


def test_report_in_headless_chromium(report_run, browser, tmp_path):
    page = report_run["report"]
    browser.get(page.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section[data-section]')).map(s => s.dataset.section)")
    assert sections == list(SECTION_ORDER)
    marks = browser.execute_script(MARKS_JS)
    assert len(marks) >= 20
    for key, n, drawn in marks:
        assert n > 0 and drawn > 0, f"plot {key} drew nothing ({n} marks, {drawn} with an extent)"
    # Every plot's data table is on the page too.
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.plot')).map(f => f.querySelectorAll('details table tr').length)")
    assert all(t >= 2 for t in tables)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(int(height), 16000))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
