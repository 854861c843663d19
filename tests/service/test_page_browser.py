"""The page in a real browser: Debian's chromium, driven by Selenium through Debian's
chromedriver (nothing downloads: selenium-manager is never asked), headless, against the
real server (``python -m service``) on 127.0.0.1.

Each state is also a screenshot in ``$PAGE_SCREENSHOTS`` (a temporary directory if unset;
its path is printed): predict, a bad file, training live and ended, rollback, compare.
``PAGE_DOCS_SCREENSHOT=docs/page.png`` also writes the predict state there (the README's
picture). Skips, with the reason, only where chromium or chromedriver is not installed.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from service.state.synthetic import make_synthetic

from .conftest import image_bytes
from .realserver import ROOT, Server, seed_models, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PHOTOS = Path(os.environ.get("CATVNONCAT_DATA", "/nonexistent")) / "photos" / "images"
WAIT = 60.0

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def shots() -> Path:
    chosen = os.environ.get("PAGE_SCREENSHOTS")
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="page-screenshots-"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the page: {path}")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("page-browser")
    seed_models(root / "data", count=2)  # versions 1 and 2, 2 active
    with Server(root / "data", root / "server.log", log_level="warning").start() as s:
        yield s


def chrome() -> WebDriver:
    """Headless Debian chromium through Debian's chromedriver, given by path: selenium-manager
    is never asked for either (SE_OFFLINE keeps it from looking online all the same)."""
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1400",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    d.set_page_load_timeout(WAIT)
    return d


@pytest.fixture(scope="module")
def driver(server: Server) -> Iterator[WebDriver]:
    d = chrome()
    try:
        d.get(server.url + "/")
        wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#versions-table tbody tr"), WAIT, "the versions table")
        yield d
    finally:
        d.quit()


def shot(driver: WebDriver, shots: Path, name: str, element_id: str | None = None) -> Path:
    if element_id:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", element_id)
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def text_of(driver: WebDriver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def photo(tmp_path: Path) -> Path:
    """A real photograph from the course's folder when present, else one of the synthetic
    data set's cat drawings as a 256x256 JPEG (what docs/ shows: no photograph is committed)."""
    if PHOTOS.is_dir() and not os.environ.get("PAGE_DOCS_SCREENSHOT"):
        return sorted((PHOTOS / "cat").iterdir())[0]
    X, Y = make_synthetic(8, seed=11)
    cat = X[:, int(np.argmax(Y[0]))].reshape(64, 64, 3)
    path = tmp_path / "drawing-of-a-cat.jpg"
    Image.fromarray(cat).resize((256, 256), Image.Resampling.BICUBIC).save(path, "JPEG", quality=92)
    return path


def test_the_page_loads_with_no_console_or_policy_error(driver: WebDriver) -> None:
    assert driver.title == "catvnoncat"
    wait_until(lambda: "need" in text_of(driver, "auth-status"), WAIT, "the token status")
    assert "no token" in text_of(driver, "auth-status")
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe  # a CSP violation, a failed file or a script error would be here
    unlabelled = driver.execute_script("""
        return Array.from(document.querySelectorAll('input, select, button')).filter((el) =>
            !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
        ).map((el) => el.id || el.outerHTML.slice(0, 80));""")
    assert unlabelled == []  # every control has a name a screen reader can say


def test_a_phone_wide_window_scrolls_only_down(driver: WebDriver, shots: Path) -> None:
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    try:
        wait_until(lambda: driver.execute_script("return window.innerWidth") <= 400, WAIT, "the narrow window")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        shot(driver, shots, "0-phone", "predict")
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_a_photo_shows_the_label_version_picture_and_saliency(driver: WebDriver, server: Server, shots: Path,
                                                              tmp_path: Path) -> None:
    path = photo(tmp_path)
    with httpx.Client(base_url=server.url) as c:
        expected = c.post("/predict", files={"file": (path.name, path.read_bytes())}).json()
    driver.find_element(By.ID, "photos").send_keys(str(path))
    card = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#results .result"), WAIT, "a result")[0]
    [p] = expected["predictions"]
    assert card.get_attribute("data-label") == p["label"]
    assert card.get_attribute("data-version") == str(expected["version"])
    assert f"answered by version {expected['version']}" in card.text
    assert f"P(cat) {100 * p['probability']:.1f}%" in card.text
    assert ("Cat" if p["label"] == "cat" else "Not a cat") in card.text
    img = card.find_element(By.TAG_NAME, "img")
    assert driver.execute_script("return arguments[0].naturalWidth", img) == 64  # the picture the model saw
    # the saliency overlay was drawn: its canvas holds opaque-ish red pixels
    alpha = driver.execute_script(
        "const c = arguments[0].querySelector('canvas'); const d = c.getContext('2d').getImageData(0, 0, 64, 64).data;"
        "let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s;", card)
    assert alpha > 0
    shot(driver, shots, "1-predict", "predict")


def test_a_bad_file_shows_the_api_error_next_to_the_picker(driver: WebDriver, server: Server, shots: Path,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image at all\n")
    with httpx.Client(base_url=server.url) as c:
        expected = c.post("/predict?explain=true", files={"file": (bad.name, bad.read_bytes())}).json()
    driver.find_element(By.ID, "photos").send_keys(str(bad))
    error = wait_until(lambda: text_of(driver, "predict-error"), WAIT, "the error")
    assert error == f"{expected['error']} ({expected['code']})"
    assert expected["code"] == "NOT_AN_IMAGE"
    shot(driver, shots, "2-bad-file", "predict")


def test_a_job_draws_its_curve_live_and_ends(driver: WebDriver, server: Server, shots: Path) -> None:
    driver.execute_script("document.getElementById('train').scrollIntoView()")
    Select(driver.find_element(By.ID, "dataset")).select_by_value("synthetic")
    Select(driver.find_element(By.ID, "recipe")).select_by_value("quick")
    driver.find_element(By.CSS_SELECTOR, "#advanced summary").click()
    # Adam, full batch: no gram engine, so 600 steps take seconds and the curve grows visibly
    Select(driver.find_element(By.ID, "f-optimizer")).select_by_value("adam")
    for field, value in (("f-iterations", "600"), ("f-learning_rate", "0.0001")):
        driver.find_element(By.ID, field).send_keys(value)
    driver.find_element(By.ID, "start").click()
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = driver.find_element(By.ID, "job").get_attribute("data-status")
        seen.append(int(driver.find_element(By.ID, "curve").get_attribute("data-points")))
        if len(set(seen)) == 3:
            shot(driver, shots, "3-training", "train")
        if status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert status == "succeeded", text_of(driver, "job-result")
    assert seen[-1] == 7  # 0, 100, ..., 500 and 599
    grown = sorted(set(seen))
    assert len(grown) >= 3 and seen == sorted(seen), seen  # points arrived over time, never lost
    result = text_of(driver, "job-result")
    assert "train accuracy" in result and "dev accuracy" in result
    polyline = driver.find_element(By.CSS_SELECTOR, "#curve polyline")
    assert len(polyline.get_attribute("points").split()) == 7
    shot(driver, shots, "4-trained", "train")
    with httpx.Client(base_url=server.url) as c:
        version = c.get("/models").json()["active"]
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, f'tr.is-active[data-version="{version}"]'), WAIT,
               "the new version in the table")


CONTRAST = """
const rgb = (c) => c.match(/[0-9.]+/g).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = (el) => {
  for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    if (rgb(c).length < 4 || rgb(c)[3] > 0) return c;
  }
  return "rgb(255, 255, 255)";
};
const worst = [];
for (const el of document.querySelectorAll("h1, h2, p, label, a, button, th, td, summary, select, input")) {
  if (!el.offsetParent || !el.textContent.trim() && !["SELECT", "INPUT"].includes(el.tagName)) continue;
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(background(el)))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5 && !el.disabled) worst.push([el.tagName, el.id, ratio.toFixed(2)]);
}
return [worst, getComputedStyle(document.body).backgroundColor];
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_in_the_light_and_the_dark_scheme(driver: WebDriver, shots: Path, scheme: str) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    try:
        worst, body = driver.execute_script(CONTRAST)
        assert worst == []  # WCAG AA: 4.5:1 for text, every visible element
        assert body == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(18, 18, 18)")
        shot(driver, shots, f"9-{scheme}", "versions")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_a_zip_uploaded_from_the_page_becomes_a_data_set(driver: WebDriver, tmp_path: Path) -> None:
    X, Y = make_synthetic(6, seed=9)
    path = tmp_path / "pictures.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for j in range(6):
            buf = io.BytesIO()
            Image.fromarray(X[:, j].reshape(64, 64, 3)).save(buf, "PNG")
            zf.writestr(f"{'cat' if Y[0, j] else 'non-cat'}/{j}.png", buf.getvalue())
    driver.find_element(By.ID, "upload").send_keys(str(path))
    driver.find_element(By.ID, "upload-button").click()
    wait_until(lambda: "Uploaded" in text_of(driver, "dataset-help"), WAIT, "the upload")
    chosen = Select(driver.find_element(By.ID, "dataset")).first_selected_option
    assert chosen.get_attribute("value") != "synthetic" and "6 images" in chosen.text
    Select(driver.find_element(By.ID, "dataset")).select_by_value("synthetic")


def test_a_running_job_is_cancelled_from_the_page(driver: WebDriver) -> None:
    driver.find_element(By.ID, "f-iterations").clear()
    driver.find_element(By.ID, "f-iterations").send_keys("200000")
    driver.find_element(By.ID, "activate").click()  # a cancelled job makes no version anyway
    driver.find_element(By.ID, "start").click()
    wait_until(lambda: driver.find_element(By.ID, "job").get_attribute("data-status") == "running", WAIT, "running")
    driver.find_element(By.ID, "cancel").click()
    wait_until(lambda: "cancelled" in text_of(driver, "job-result"), WAIT, "the cancel")  # the end event
    assert driver.find_element(By.ID, "job").get_attribute("data-status") == "cancelled"
    assert driver.find_element(By.ID, "cancel").get_attribute("disabled") is not None
    driver.find_element(By.ID, "activate").click()


def test_the_trained_version_explains_a_drawing(driver: WebDriver, server: Server, shots: Path,
                                               tmp_path: Path) -> None:
    """After the job above: the version it made knows the synthetic drawings, so its saliency
    map means something (the README's picture, with PAGE_DOCS_SCREENSHOT)."""
    with httpx.Client(base_url=server.url) as c:
        active = c.get("/models").json()["active"]
    driver.find_element(By.ID, "photos").send_keys(str(photo(tmp_path)))
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, f'#results .result[data-version="{active}"]'), WAIT,
               "the trained version's answer")
    out = shot(driver, shots, "7-predict-trained", "predict")
    docs = os.environ.get("PAGE_DOCS_SCREENSHOT")
    if docs:
        shutil.copyfile(out, ROOT / docs)


def test_rollback_with_one_click_and_predict_answers_with_the_old_version(
        driver: WebDriver, server: Server, shots: Path) -> None:
    driver.execute_script("document.getElementById('versions').scrollIntoView()")
    driver.find_element(By.CSS_SELECTOR, 'tr[data-version="1"] button.activate').click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, 'tr.is-active[data-version="1"]'), WAIT, "version 1 active")
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/predict", files={"file": ("a.png", image_bytes())})
    assert r.json()["version"] == 1
    thumbs = driver.find_elements(By.CSS_SELECTOR, "#versions-table td img")
    assert thumbs and all(driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", t)
                          for t in thumbs)  # the cost.svg thumbnails loaded
    shot(driver, shots, "5-rollback", "versions")


def test_two_versions_compared_side_by_side(driver: WebDriver, server: Server, shots: Path) -> None:
    for v in ("1", "2"):
        driver.find_element(By.CSS_SELECTOR, f'tr[data-version="{v}"] input.pick').click()
    Select(driver.find_element(By.ID, "compare-dataset")).select_by_value("synthetic")
    driver.find_element(By.ID, "compare").click()
    tables = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#comparison table"), WAIT, "the comparison")
    assert [t.get_attribute("data-version") for t in tables] == ["1", "2"]
    with httpx.Client(base_url=server.url) as c:
        one = c.post("/models/1/evaluate", json={"dataset": "synthetic"}).json()
    assert f"{100 * one['accuracy']:.1f}%" in tables[0].text and "300 images" in tables[0].text
    shot(driver, shots, "6-compare", "versions")


def test_with_tokens_the_page_asks_for_one_and_keeps_it_in_the_tab(tmp_path: Path, shots: Path) -> None:
    admin = "admin-token-for-the-page-0123456789"
    seed_models(tmp_path / "data", count=2)
    with Server(tmp_path / "data", tmp_path / "server.log", log_level="warning", admin_token=admin).start() as s:
        d = chrome()
        try:
            d.get(s.url + "/")
            wait_until(lambda: "admin token" in text_of(d, "auth-status"), WAIT, "the token status")
            assert "enter one" in text_of(d, "token-state")
            button = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, 'tr[data-version="1"] button.activate'),
                                WAIT, "the versions table")[0]
            button.click()  # no token yet: the API's 401, next to the table
            error = wait_until(lambda: text_of(d, "versions-error"), WAIT, "the 401")
            assert "AUTH_REQUIRED" in error and "Tokens" in error
            shot(d, shots, "8-token-needed", "versions")
            d.find_element(By.ID, "token").send_keys(admin)
            d.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
            assert d.execute_script("return sessionStorage.getItem('catvnoncat.token')") == admin
            assert d.execute_script("return localStorage.length") == 0  # the tab's storage only
            assert d.get_cookies() == []
            d.find_element(By.CSS_SELECTOR, 'tr[data-version="1"] button.activate').click()
            wait_until(lambda: d.find_elements(By.CSS_SELECTOR, 'tr.is-active[data-version="1"]'), WAIT, "version 1")
            assert d.find_element(By.ID, "token").get_attribute("value") == ""  # not left in the field
        finally:
            d.quit()


def test_the_hidden_file_pickers_show_their_keyboard_focus_on_their_buttons(driver: WebDriver) -> None:
    """"Choose photos" and "Take a photo" are labels drawn as buttons for visually hidden file
    inputs: Tab reaches the 1-pixel input, so the focus ring must be drawn on its label."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.getElementById('drop').focus()")
    for input_id in ("photos", "camera"):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        assert driver.execute_script("return document.activeElement.id") == input_id
        outline = driver.execute_script(
            "const l = document.querySelector(`label[for=${arguments[0]}]`); const s = getComputedStyle(l);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)];", input_id)
        assert outline[0] != "none" and outline[1] >= 2, (input_id, outline)


def test_more_photos_than_the_services_explain_limit_all_get_their_answer(tmp_path: Path) -> None:
    """CATSVC_MAX_EXPLAIN_BATCH below the page's own batch of 8: the page sends smaller
    batches (the 413 names the limit) instead of showing the error for every photo."""
    seed_models(tmp_path / "data")
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"p{i}.png")
        paths[-1].write_bytes(image_bytes(seed=i))
    with Server(tmp_path / "data", tmp_path / "server.log", log_level="warning", max_explain_batch=2).start() as s:
        d = chrome()
        try:
            d.get(s.url + "/")
            d.find_element(By.ID, "photos").send_keys("\n".join(str(p) for p in paths))
            wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results .result")) == 5, WAIT, "5 results")
            names = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#results .result .name")]
            assert names == [p.name for p in paths]
            assert text_of(d, "predict-error") == ""
        finally:
            d.quit()


def test_a_refused_training_field_shows_the_api_error_next_to_that_field(tmp_path: Path) -> None:
    """A 422 naming a field of the Advanced fold: its message is shown beside that field,
    which is marked invalid and focused (the browser's own checks allow beta1 = 1)."""
    seed_models(tmp_path / "data")
    with Server(tmp_path / "data", tmp_path / "server.log", log_level="warning").start() as s:
        with s.client() as c:
            refused = c.post("/train", json={"dataset": "synthetic", "recipe": "course", "optimizer": "adam",
                                             "beta1": 1}).json()
        assert refused["field"] == "beta1"
        d = chrome()
        try:
            d.get(s.url + "/")
            wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#dataset option[value=synthetic]"), WAIT, "data sets")
            Select(d.find_element(By.ID, "dataset")).select_by_value("synthetic")
            Select(d.find_element(By.ID, "recipe")).select_by_value("course")
            d.find_element(By.CSS_SELECTOR, "#advanced summary").click()
            Select(d.find_element(By.ID, "f-optimizer")).select_by_value("adam")
            d.find_element(By.ID, "f-beta1").send_keys("1")
            d.find_element(By.ID, "start").click()
            wait_until(lambda: d.find_element(By.ID, "f-beta1").get_attribute("aria-invalid") == "true", WAIT,
                       "the field marked")
            beside = d.execute_script(
                "const el = document.getElementById('f-beta1'); const id = el.getAttribute('aria-describedby');"
                "const msg = document.getElementById(id); return [msg.textContent, el.closest('label').contains(msg),"
                "document.activeElement.id];")
            assert beside == [f"{refused['error']} ({refused['code']})", True, "f-beta1"], beside
            d.find_element(By.ID, "f-beta1").clear()
            d.find_element(By.ID, "start").click()  # accepted now: the mark goes
            wait_until(lambda: d.find_element(By.ID, "f-beta1").get_attribute("aria-invalid") is None, WAIT,
                       "the mark cleared")
        finally:
            d.quit()
