"""``sctool serve``: the JSON endpoint, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request

import pytest

from sctool.attribution.server import make_server


@pytest.fixture(scope="module")
def served(corpus, tmp_path_factory):
    pytest.importorskip("tantivy", reason="the page's search part needs the optional tantivy package")
    from sctool.attribution import build_index

    d, _ = corpus
    out = tmp_path_factory.mktemp("serve") / "idx"
    build_index([d / "a.parquet", d / "b.jsonl"], out, search=True)
    server = make_server(out, 0)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(url, obj):
    req = urllib.request.Request(url + "/api/attribute", data=json.dumps(obj).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_server_binds_to_loopback_only(served):
    assert served.startswith("http://127.0.0.1:")


def test_api_attributes_and_searches(served, corpus):
    _, docs = corpus
    name, text = docs[4]
    res = _post(served, {"text": "# pasted\n" + text[:500], "exact": True})
    a = res["attribution"]
    assert a["sources"][0]["path"] == name and a["longest_chain"] >= 100 and a["exact"]
    assert res["search"] and res["search"][0]["path"] == name
    with pytest.raises(urllib.error.HTTPError) as e:
        _post(served, {"nope": 1})
    assert e.value.code == 400


def test_page_in_headless_chromium(served, corpus):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("no chromium/chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _, docs = corpus
    name, text = docs[6]
    snippet = "def not_from_the_corpus_at_all(q):\n    return q\n" + text[200:900]
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get(served + "/")
        assert "Where did this code come from?" in driver.page_source
        driver.execute_script("document.getElementById('code').value = arguments[0];", snippet)
        driver.find_element(By.ID, "exact").click()
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 30).until(ec.visibility_of_element_located((By.ID, "result")))
        marks = driver.find_elements(By.CSS_SELECTOR, "#highlighted mark")
        assert marks and "not_from_the_corpus" not in " ".join(m.text for m in marks)
        flat = "".join(text.split())
        assert all("".join(m.text.split()) in flat for m in marks)  # highlighted text is corpus text
        sources = driver.find_elements(By.CSS_SELECTOR, "#sources li.source")
        assert name in sources[0].text and "PSF-2.0" in sources[0].text
        assert "(exact)" in driver.find_element(By.ID, "summary").text
        hits = driver.find_elements(By.CSS_SELECTOR, "#search li.hit")
        assert hits and any(name in h.text for h in hits)
    finally:
        driver.quit()
