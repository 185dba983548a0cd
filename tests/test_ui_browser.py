"""The integration designer in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), against `intercom-connector ui` in its own process.

A person's day with it: drag three actions onto the canvas, fill a select, a timestamp and a
dropdown from a data source, map step 1's output into steps 2 and 3, run on the sandbox,
save the YAML, and `flow run` of that file gives the same results; add an OAuth 2.0
connection through the sandbox's consent page; see a problem at its input before anything is
sent. Screenshots of the main screens go to build/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from designer_support import read_url
from support import REPO

from intercom_connector.sandbox import Sandbox, ServerHandle, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = REPO / "build" / "screenshots"
#: 2024-03-01 09:30:00 UTC, typed into the date-time picker (the browser runs in UTC)
SIGNED_UP_AT = 1709285400

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    # On a person's machine the rest of the suite still runs; CI must run these, not skip.
    reason = (
        f"the browser tests need Debian's {CHROMIUM} and {CHROMEDRIVER}: "
        "apt-get update && apt-get install -y chromium chromium-driver"
    )
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@dataclass
class Designer:
    url: str
    base: str
    sandbox_dir: Path
    config_dir: Path
    pristine: Path  # a copy of the sandbox as it was before the designer touched it


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    """Headless Chromium at 1280x800, in UTC, downloading into ``downloads``."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            "the UI tests need Debian's chromium and chromium-driver: "
            "apt-get update && apt-get install -y chromium chromium-driver"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="ui-chromium-")
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--lang=en-US", "--window-size=1280,900", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), env={**os.environ, "TZ": "UTC"})
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def designer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Designer]:
    """`intercom-connector ui` in its own process, on a seeded sandbox of its own."""
    root = tmp_path_factory.mktemp("designer")
    sandbox_dir, pristine, config_dir = root / "sandbox", root / "pristine", root / "config"
    Sandbox(sandbox_dir).close()  # seeded and closed: the copy is the same workspace
    shutil.copytree(sandbox_dir, pristine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(sandbox_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "--config-dir", str(config_dir),
         "ui", "--port", "0", "--no-browser"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        url = read_url(process)
        yield Designer(url, url.split("/?token=")[0], sandbox_dir, config_dir, pristine)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def consent_server() -> Iterator[ServerHandle]:
    """A sandbox over loopback HTTP: its consent page (GET /oauth) and token endpoint."""
    with serve(Sandbox(":memory:")) as server:
        yield server


# -- helpers -------------------------------------------------------------------------------


def wait(driver: WebDriver, until: Callable[[WebDriver], Any], seconds: float = 20) -> Any:
    # a re-drawn element may go stale between finding and reading it: look again
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, seconds, 0.05, ignored_exceptions=ignored).until(until)


def css(scope: WebDriver | WebElement, selector: str) -> WebElement:
    return scope.find_element(By.CSS_SELECTOR, selector)


def start(driver: WebDriver, designer: Designer) -> None:
    """The designer, fresh: no draft from an earlier test in this tab."""
    driver.get(designer.url)
    driver.execute_script("sessionStorage.clear()")
    driver.get(designer.url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".palette-item"))
    driver.get_log("browser")  # what earlier tests left in the console


def screenshot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def step(driver: WebDriver, step_id: str) -> WebElement:
    """The inspector, showing the step ``step_id`` (selected by a click on its node)."""
    inspector = css(driver, "#inspector")
    if inspector.get_attribute("data-step") != step_id:
        css(driver, f'.step[data-step="{step_id}"] .step-title-text').click()
        wait(driver, lambda d: css(d, "#inspector").get_attribute("data-step") == step_id)
    return inspector


def order(driver: WebDriver) -> list[str]:
    nodes = driver.find_elements(By.CSS_SELECTOR, ".steps > .step")
    return [node.get_attribute("data-step") for node in nodes]


def drag_onto_canvas(driver: WebDriver, action: str) -> None:
    """Press on the palette's action, move it over the canvas's end, and let go."""
    search = css(driver, "#palette-search")
    search.clear()
    search.send_keys(css(driver, f'.palette-item[data-key="{action}"]').get_attribute("data-label"))
    source = css(driver, f'.palette-item[data-key="{action}"]')
    target = css(driver, ".drop-end")
    driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", target)
    before = len(driver.find_elements(By.CSS_SELECTOR, ".steps > .step"))
    chain = ActionChains(driver, duration=50).click_and_hold(source).move_by_offset(12, 6)
    chain.move_to_element(target).move_by_offset(0, 4).release().perform()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".steps > .step")) == before + 1)


def map_from(driver: WebDriver, step_id: str, input_key: str, reference: str) -> None:
    css(step(driver, step_id), f'.field[data-input="{input_key}"] .map-button').click()
    wait(driver, lambda d: css(d, f'.picker-option[data-ref="{reference}"]')).click()
    wait(driver, lambda d: css(step(d, step_id), f'.field[data-input="{input_key}"] .mapped'))
    summary = css(driver, f'.step[data-step="{step_id}"] .node-summary').text
    assert "\u2190 1 \u00b7 Create Contact \u203a data.id" in summary


def output_of(driver: WebDriver, step_id: str) -> Any:
    """A step's output as the page shows it, through its JSON view."""
    inspector = step(driver, step_id)
    css(inspector, ".output-toggle").click()
    return json.loads(css(inspector, ".output pre.raw").text)


def normalized(value: Any, ids: dict[str, str], now: tuple[float, float]) -> Any:
    """Outputs of two runs compared as a person would: ids made in a run numbered by first
    appearance, the server's clock (created_at, updated_at) as <now>."""
    if isinstance(value, dict):
        return {key: normalized(item, ids, now) for key, item in value.items()}
    if isinstance(value, list):
        return [normalized(item, ids, now) for item in value]
    if isinstance(value, str):
        return re.sub(
            r"\b[0-9a-f]{24}\b",
            lambda found: ids.setdefault(found.group(), f"<id {len(ids) + 1}>"),
            value,
        )
    if isinstance(value, int) and not isinstance(value, bool) and now[0] <= value <= now[1]:
        return "<now>"
    return value


# -- the tests -------------------------------------------------------------------------------


def test_design_run_and_save_a_flow_that_flow_run_runs_the_same(
    browser: WebDriver, designer: Designer, downloads: Path
) -> None:
    started = time.time()
    start(browser, designer)
    screenshot(browser, "designer-empty")
    for action in ("create_contact", "attach_tag_to_contact", "get_contact"):
        drag_onto_canvas(browser, action)
    assert order(browser) == ["create_contact", "attach_tag_to_contact", "get_contact"]
    css(browser, "#palette-search").clear()
    css(browser, "#palette-search").send_keys(" ", Keys.BACKSPACE)  # every group shown again
    name = css(browser, "#flow-name")
    name.send_keys("Onboard from the designer")

    first = step(browser, "create_contact")
    Select(css(first, '.field[data-input="role"] select')).select_by_visible_text("User")
    css(first, '.field[data-input="email"] input').send_keys("ada.designer@example.com")
    signed_up = css(first, '.field[data-input="signed_up_at"] input')
    signed_up.send_keys("03012024", Keys.TAB, "093000AM")
    shown = css(first, '.field[data-input="signed_up_at"] .timestamp-seconds').text
    assert shown.startswith(f"{SIGNED_UP_AT} unix seconds")

    map_from(browser, "attach_tag_to_contact", "contact_id", "steps.create_contact.data.id")
    second = step(browser, "attach_tag_to_contact")
    css(second, '.field[data-input="tag_id"] .choices-button').click()
    wait(browser, lambda d: css(d, '.choice[data-key="2"]'))
    labels = [c.text.split("\n")[0] for c in browser.find_elements(By.CSS_SELECTOR, ".choice")]
    assert labels[:3] == ["VIP", "Beta tester", "Churn risk"]  # the sandbox's tags, live
    css(browser, '.choice[data-key="2"]').click()
    assert css(second, ".chosen").text == "✓ Beta tester"

    third = step(browser, "get_contact")
    css(third, '.field[data-input="contact_id"] .map-button').click()
    wait(browser, lambda d: css(d, '.picker-option[data-ref="steps.create_contact.data.id"]'))
    screenshot(browser, "designer-mapping")
    css(browser, '.picker-option[data-ref="steps.create_contact.data.id"]').click()

    css(browser, "#run-flow").click()
    wait(
        browser,
        lambda d: (
            [s.text.split(" ")[0] for s in d.find_elements(By.CSS_SELECTOR, ".step .status")]
            == ["OK"] * 3
        ),
    )
    assert css(browser, "#banner").text.startswith("3 steps ran on the embedded sandbox in ")
    outputs = {
        key: output_of(browser, key)
        for key in ("create_contact", "attach_tag_to_contact", "get_contact")
    }
    contact = outputs["get_contact"]["data"]
    assert contact["id"] == outputs["create_contact"]["data"]["id"]
    assert (contact["role"], contact["email"], contact["signed_up_at"]) == (
        "user", "ada.designer@example.com", SIGNED_UP_AT,
    )  # fmt: skip
    assert [tag["id"] for tag in contact["tags"]["data"]] == ["2"]
    step(browser, "create_contact")
    browser.execute_script("document.querySelector('#inspector').scrollTop = 10000")
    screenshot(browser, "designer-run")

    css(browser, "#save-yaml").click()
    saved = downloads / "onboard-from-the-designer.yaml"
    wait(browser, lambda d: saved.exists() and saved.stat().st_size > 0)
    document = yaml.safe_load(saved.read_text())
    assert document == {
        "name": "Onboard from the designer",
        "steps": [
            {"id": "create_contact", "action": "create_contact",
             "inputs": {"role": "user", "email": "ada.designer@example.com",
                        "signed_up_at": SIGNED_UP_AT}},
            {"id": "attach_tag_to_contact", "action": "attach_tag_to_contact",
             "inputs": {"contact_id": "{{ steps.create_contact.data.id }}", "tag_id": "2"}},
            {"id": "get_contact", "action": "get_contact",
             "inputs": {"contact_id": "{{ steps.create_contact.data.id }}"}},
        ],
    }  # fmt: skip

    # The CLI runs the saved file on the same workspace as it was before the designer ran it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(designer.pristine)
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "flow", "run", str(saved), "--sandbox",
         "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert errors_in_console(browser) == []
    now = (started - 5, time.time() + 5)
    assert normalized(json.loads(done.stdout), {}, now) == normalized(outputs, {}, now)


def test_a_flow_written_by_hand_opens_in_the_canvas_and_runs(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    example = REPO / "examples" / "onboard-customer.yaml"
    css(browser, "#open-file").send_keys(str(example))
    wait(browser, lambda d: len(order(d)) == 10)
    written = yaml.safe_load(example.read_text())
    assert order(browser) == [entry["id"] for entry in written["steps"]]
    assert css(browser, "#flow-name").get_attribute("value") == "Onboard a customer"
    inspector = step(browser, "tag_contact")
    mapped = [m.text for m in inspector.find_elements(By.CSS_SELECTOR, ".mapped")]
    assert mapped == ["2 · Create Contact\ndata.id",
                      "4 · Create Tag\ndata.id"]  # fmt: skip
    css(browser, "#run-flow").click()
    wait(browser, lambda d: css(d, "#banner").text.startswith("10 steps ran"), seconds=60)
    assert errors_in_console(browser) == []


def errors_in_console(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_an_oauth_connection_through_the_sandbox_consent_page(
    browser: WebDriver, designer: Designer, consent_server: ServerHandle
) -> None:
    start(browser, designer)
    css(browser, "#tab-connections").click()
    css(browser, '.segment[data-type="oauth2"]').click()
    form = css(browser, 'form[data-type="oauth2"]')
    assert css(form, "#redirect-uri").text == f"{designer.base}/oauth/callback"
    css(form, "#in-conn-name").send_keys("customer")
    css(form, '.field[data-input="client_id"] input').send_keys("sandbox-client")
    secret = css(form, '.field[data-input="client_secret"] input')
    assert secret.get_attribute("type") == "password"  # secret, as the manifest says
    secret.send_keys("sandbox-client-secret")
    css(form, ".more-settings > summary").click()
    css(form, '.field[data-input="base_url"] input').send_keys(consent_server.url)
    main = browser.current_window_handle
    css(form, "#oauth-connect").click()
    # The popup goes to the sandbox's consent page, which approves and redirects back.
    card = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-connection="customer"]'))
    assert browser.current_window_handle == main
    status = css(browser, ".connection-form .form-status").text
    assert status == "Connection 'customer' saved: workspace 'Sandbox Workspace' (region US)."
    stored = json.loads((designer.config_dir / "connections.json").read_text())["customer"]
    assert stored["type"] == "oauth2" and stored["access_token"].startswith("sbx_")
    assert stored["client_secret"] == "sandbox-client-secret"
    css(card[0], ".test-connection").click()
    result = wait(browser, lambda d: css(d, '[data-connection="customer"] .card-result .notice.ok'))
    assert result.text.startswith("Works. Workspace Sandbox Workspace (sbx0demo), region US")
    page = browser.page_source
    assert "sandbox-client-secret" not in page and stored["access_token"] not in page
    assert "Client Secret, Access Token: saved, hidden" in card[0].text
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "connections")
    for handle in browser.window_handles:
        if handle != main:
            browser.switch_to.window(handle)
            browser.close()
    browser.switch_to.window(main)


def test_a_problem_shows_at_its_input_by_label_before_anything_is_sent(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    search = css(browser, "#palette-search")
    search.send_keys("create contact", Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.get_attribute("data-key") == "create_contact"
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # the keyboard's drag and drop
    search.clear()
    search.send_keys("list companies", Keys.ARROW_DOWN)
    if browser.switch_to.active_element.get_attribute("data-key") != "list_companies":
        browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)  # past "... of Contact"
    assert browser.switch_to.active_element.get_attribute("data-key") == "list_companies"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert order(browser) == ["create_contact", "list_companies"]
    before = contacts_in(designer.sandbox_dir)

    css(browser, "#run-flow").click()
    problem = wait(
        browser, lambda d: css(step(d, "create_contact"), '.field[data-input="email"] .problem')
    )
    assert problem.text == "Give at least one of Role, External ID, Email"
    assert css(browser, "#banner").text.startswith("Fix 3 inputs before running")

    # What only the runtime knows (a pattern) comes back from the server, at its input too.
    first = step(browser, "create_contact")
    css(first, '.field[data-input="email"] input').send_keys("grace@example.com")
    listing = step(browser, "list_companies")
    css(listing, '.field[data-input="starting_after"] input').send_keys("abc")
    css(browser, "#run-flow").click()
    problem = wait(
        browser,
        lambda d: css(step(d, "list_companies"), '.field[data-input="starting_after"] .problem'),
    )
    assert problem.text.startswith(
        "Starting After Cursor must be a page number, as a previous output gives it"
    )
    assert css(browser, '.step[data-step="list_companies"] .status').text == "1 to fix"
    assert css(browser, '.step[data-step="create_contact"] .status').text == "Not run"
    screenshot(browser, "designer-problem")
    assert contacts_in(designer.sandbox_dir) == before  # nothing was sent

    # Steps reorder by dragging their node.
    node = css(browser, '.step[data-step="list_companies"] .step-number')
    above = css(browser, '.step[data-step="create_contact"] .step-number')
    chain = ActionChains(browser, duration=50).click_and_hold(node).move_by_offset(0, -8)
    chain.move_to_element(above).move_by_offset(0, -12).release().perform()
    wait(browser, lambda d: order(d) == ["list_companies", "create_contact"])


def contacts_in(sandbox_dir: Path) -> int:
    sandbox = Sandbox(sandbox_dir, seed=False)
    try:
        with sandbox.store.transaction() as db:
            return int(db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])
    finally:
        sandbox.close()


def test_without_the_token_the_page_shows_how_to_open_it_and_calls_are_refused(
    browser: WebDriver, designer: Designer
) -> None:
    browser.get(designer.base + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(designer.base + "/")
    gate = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".gate"))
    assert "Open the designer with its token" in gate[0].text
    status = browser.execute_async_script(
        "fetch('/api/connections').then((r) => arguments[0](r.status))"
    )
    assert status == 403
    try:
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".palette-item"), seconds=1)
        pytest.fail("the palette showed without the token")
    except TimeoutException:
        pass


# -- issue 19: running steps alone, refused runs, New, the flow's connection, triggers --------


def status_of(driver: WebDriver, step_id: str) -> str:
    return css(driver, f'.step[data-step="{step_id}"] .status').text


def run_step(driver: WebDriver, step_id: str) -> None:
    css(driver, f'.step[data-step="{step_id}"] .run-step').click()


def problem_at(driver: WebDriver, step_id: str, key: str) -> WebElement:
    return wait(driver, lambda d: css(step(d, step_id), f'.field[data-input="{key}"] .problem'))


def test_a_step_runs_alone_on_the_last_outputs_and_a_refused_run_greys_the_old_ones(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    for action in ("create_contact", "get_contact", "list_tags"):
        drag_onto_canvas(browser, action)
    css(step(browser, "create_contact"), '.field[data-input="email"] input').send_keys(
        "alone@example.com"
    )
    map_from(browser, "get_contact", "contact_id", "steps.create_contact.data.id")

    # A step that maps nothing runs alone: the steps before it neither run nor fail.
    run_step(browser, "list_tags")
    wait(browser, lambda d: status_of(d, "list_tags").startswith("OK"))
    assert [status_of(browser, s) for s in ("create_contact", "get_contact")] == ["Not run"] * 2
    assert css(browser, "#banner").text.startswith("Step list_tags ran on the embedded sandbox")

    # One that maps an output no run gave says, at its own input, which step to run first.
    run_step(browser, "get_contact")
    problem = problem_at(browser, "get_contact", "contact_id")
    assert "run step 'create_contact' first" in problem.text
    assert not step(browser, "create_contact").find_elements(By.CSS_SELECTOR, ".problem")

    run_step(browser, "create_contact")
    wait(browser, lambda d: status_of(d, "create_contact").startswith("OK"))
    run_step(browser, "get_contact")
    wait(browser, lambda d: status_of(d, "get_contact").startswith("OK"))
    made = output_of(browser, "create_contact")["data"]
    assert output_of(browser, "get_contact")["data"]["id"] == made["id"]  # the last output

    # A run refused for its inputs: every earlier result is shown as such, greyed.
    email = css(step(browser, "create_contact"), '.field[data-input="email"] input')
    email.send_keys(Keys.CONTROL, "a", Keys.DELETE)
    css(browser, "#run-flow").click()
    wait(browser, lambda d: css(d, "#banner").text.startswith("Fix 3 inputs before running"))
    statuses = [status_of(browser, s) for s in ("create_contact", "get_contact", "list_tags")]
    assert statuses == ["3 to fix", "Earlier run", "Earlier run"]
    panel = css(step(browser, "get_contact"), ".output")
    assert panel.text.startswith("Output of an earlier run") and "stale" in panel.get_attribute(
        "class"
    )
    assert errors_in_console(browser) == []


def test_an_unknown_tag_id_is_marked_at_its_input(browser: WebDriver, designer: Designer) -> None:
    start(browser, designer)
    drag_onto_canvas(browser, "create_contact")
    drag_onto_canvas(browser, "attach_tag_to_contact")
    css(step(browser, "create_contact"), '.field[data-input="email"] input').send_keys(
        "tagless@example.com"
    )
    map_from(browser, "attach_tag_to_contact", "contact_id", "steps.create_contact.data.id")
    tag = css(step(browser, "attach_tag_to_contact"), '.field[data-input="tag_id"] input')
    tag.send_keys("999999")
    css(browser, "#run-flow").click()
    problem = problem_at(browser, "attach_tag_to_contact", "tag_id")
    assert problem.text.startswith("Tag ID: Intercom has no such record on this connection")
    tag = css(step(browser, "attach_tag_to_contact"), '.field[data-input="tag_id"] input')
    assert tag.get_attribute("aria-invalid") == "true"  # re-drawn with the failure
    assert status_of(browser, "attach_tag_to_contact").startswith("Failed")
    contact = css(step(browser, "attach_tag_to_contact"), '.field[data-input="contact_id"]')
    assert not contact.find_elements(By.CSS_SELECTOR, ".problem")


def test_new_offers_to_undo_and_nothing_is_lost(browser: WebDriver, designer: Designer) -> None:
    start(browser, designer)
    drag_onto_canvas(browser, "create_tag")
    drag_onto_canvas(browser, "list_tags")
    css(browser, "#flow-name").send_keys("Worth keeping")
    css(browser, "#new-flow").click()
    wait(browser, lambda d: order(d) == [])
    assert css(browser, "#flow-name").get_attribute("value") == ""
    css(browser, "#banner .undo").click()
    wait(browser, lambda d: order(d) == ["create_tag", "list_tags"])
    assert css(browser, "#flow-name").get_attribute("value") == "Worth keeping"
    assert css(browser, "#banner").text == "Back to Worth keeping: 2 steps."


def test_a_step_runs_alone_whatever_the_other_steps_hold(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    for action in ("create_contact", "list_tags", "list_companies"):
        drag_onto_canvas(browser, action)
    # An earlier step still unfilled is not the business of a step that maps nothing.
    run_step(browser, "list_tags")
    wait(browser, lambda d: status_of(d, "list_tags").startswith("OK"))
    assert css(browser, "#banner").text.startswith("Step list_tags ran on the embedded sandbox")
    assert status_of(browser, "create_contact") == "Not run"
    assert not step(browser, "create_contact").find_elements(By.CSS_SELECTOR, ".problem")

    # A run only the server refuses (a cursor's pattern) keeps list_tags' output, greyed.
    css(step(browser, "create_contact"), '.field[data-input="email"] input').send_keys(
        "whatever@example.com"
    )
    css(step(browser, "list_companies"), '.field[data-input="starting_after"] input').send_keys(
        "abc"
    )
    css(browser, "#run-flow").click()
    problem_at(browser, "list_companies", "starting_after")
    assert status_of(browser, "list_tags") == "Earlier run"
    panel = css(step(browser, "list_tags"), ".output")
    assert panel.text.startswith("Output of an earlier run")
    assert errors_in_console(browser) == []


def leaving_asks(driver: WebDriver) -> bool:
    """Whether closing the tab now would ask first (the page's beforeunload handler)."""
    return bool(
        driver.execute_script(
            "const e = new Event('beforeunload', {cancelable: true});"
            "window.dispatchEvent(e); return e.defaultPrevented;"
        )
    )


def test_leaving_with_unsaved_work_asks_first(
    browser: WebDriver, designer: Designer, downloads: Path
) -> None:
    start(browser, designer)
    assert not leaving_asks(browser)  # nothing to lose
    drag_onto_canvas(browser, "list_tags")
    assert leaving_asks(browser)
    css(browser, "#flow-name").send_keys("Leave me")
    css(browser, "#save-yaml").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#run-command"))
    assert not leaving_asks(browser)  # saved as it is
    css(browser, "#flow-name").send_keys(" now")
    assert leaving_asks(browser)
    css(browser, "#open-file").send_keys(str(REPO / "examples" / "onboard-customer.yaml"))
    wait(browser, lambda d: len(order(d)) == 10)
    assert not leaving_asks(browser)  # just opened, as its file holds it
    css(browser, "#banner .undo").click()
    wait(browser, lambda d: order(d) == ["list_tags"])
    assert leaving_asks(browser)  # the unsaved work came back, and is unsaved still


def test_the_flow_has_one_connection_saved_and_its_command_runs_it_there(
    browser: WebDriver, designer: Designer, consent_server: ServerHandle, downloads: Path
) -> None:
    from intercom_connector.connections.saved import SavedConnections
    from intercom_connector.sandbox import DEFAULT_TOKEN

    fields = {"type": "access_token", "access_token": DEFAULT_TOKEN, "base_url": consent_server.url}
    SavedConnections(designer.config_dir).save("work", fields)
    start(browser, designer)
    drag_onto_canvas(browser, "create_tag")
    inspector = step(browser, "create_tag")
    assert not inspector.find_elements(By.CSS_SELECTOR, '.field[data-input="connection"]')
    css(inspector, '.field[data-input="name"] input').send_keys("Made at work")
    Select(css(browser, "#run-connection")).select_by_value("work")
    wait(browser, lambda d: "Runs on connection work" in css(d, "#inspector .runs-on").text)
    name = css(browser, "#flow-name")
    name.send_keys("At work")
    css(browser, "#run-flow").click()
    wait(browser, lambda d: css(d, "#banner").text.startswith("1 step ran on connection work"))

    css(browser, "#save-yaml").click()
    saved = downloads / "at-work.yaml"
    wait(browser, lambda d: saved.exists() and saved.stat().st_size > 0)
    assert yaml.safe_load(saved.read_text())["connection"] == "work"
    command = css(browser, "#run-command").text
    assert command == (
        f"intercom-connector --config-dir {designer.config_dir} flow run at-work.yaml "
        "--connection work"
    )
    # The suggested command, as given, makes its tag where the designer's run made one.
    words = command.split()[1:]
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", *words, "--json"],
        capture_output=True, text=True, timeout=120, cwd=downloads,
        env={k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    names = [
        t["name"] for t in httpx.get(f"{consent_server.url}/tags", headers=headers).json()["data"]
    ]
    assert (
        names.count("Made at work") >= 1
        and json.loads(done.stdout)["create_tag"]["data"]["name"] == "Made at work"
    )
    Select(css(browser, "#run-connection")).select_by_value("")  # as the next tests expect


def test_an_opened_flow_shows_the_connection_it_names(
    browser: WebDriver, designer: Designer, tmp_path: Path
) -> None:
    from intercom_connector.connections.saved import SavedConnections

    saved = SavedConnections(designer.config_dir)
    saved.save("opened-here", {"type": "access_token", "access_token": "t"})
    start(browser, designer)
    steps = "steps:\n- id: tags\n  action: list_tags\n"
    named = tmp_path / "named.yaml"
    named.write_text(f"name: Named\nconnection: opened-here\n{steps}")
    css(browser, "#open-file").send_keys(str(named))
    wait(browser, lambda d: order(d) == ["tags"])
    assert Select(css(browser, "#run-connection")).first_selected_option.text.startswith(
        "opened-here ("
    )
    assert "Runs on connection opened-here" in css(step(browser, "tags"), ".runs-on").text
    assert css(browser, "#banner").text.startswith("Opened named.yaml: 1 step on connection")

    # One not saved here is said, and the sandbox is used meanwhile.
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(f"name: Elsewhere\nconnection: not-here\n{steps}")
    css(browser, "#open-file").send_keys(str(elsewhere))
    wait(browser, lambda d: "not-here" in css(d, "#banner").text)
    assert "runs on connection not-here, which is not saved here" in css(browser, "#banner").text
    assert (
        Select(css(browser, "#run-connection")).first_selected_option.get_attribute("value") == ""
    )
    saved.remove("opened-here")


def test_a_flow_with_a_trigger_runs_on_a_test_event(
    browser: WebDriver, designer: Designer, downloads: Path
) -> None:
    start(browser, designer)
    search = css(browser, "#palette-search")
    search.send_keys("New or Updated Contact")
    css(browser, '.palette-item[data-key="new_or_updated_contacts"]').click()
    drag_onto_canvas(browser, "get_contact")
    css(step(browser, "get_contact"), '.field[data-input="contact_id"] .map-button').click()
    wait(browser, lambda d: css(d, '.picker-option[data-ref="trigger.data.id"]')).click()
    before = contacts_in(designer.sandbox_dir)

    css(browser, "#run-flow").click()  # no test event: refused, nothing sent
    problem = problem_at(browser, "get_contact", "contact_id")
    assert "no test event is given" in problem.text
    assert contacts_in(designer.sandbox_dir) == before

    # A contact changed just now: the trigger's latest real event on this connection.
    base, token = designer.url.split("/?token=")
    made = {"name": "Make", "steps": [{"id": "new", "action": "create_contact",
                                       "inputs": {"email": "trigger.ui@example.com"}}]}  # fmt: skip
    answer = httpx.post(f"{base}/api/flow/run", json={"flow": made},
                        headers={"X-Designer-Token": token}, timeout=60)  # fmt: skip
    assert answer.json()["ok"] is True
    css(browser, ".trigger-slot.filled").click()
    wait(browser, lambda d: css(d, "#inspector").get_attribute("data-step") == "trigger")
    css(browser, "#get-test-event").click()
    wait(browser, lambda d: '"topic"' in css(d, "#in-test-event-event").get_attribute("value"))
    event = json.loads(css(browser, "#in-test-event-event").get_attribute("value"))
    assert set(event) == {"id", "topic", "occurred_at", "data"}
    assert css(browser, ".test-event-note").text.startswith("The latest real event")
    assert event["data"]["email"] == "trigger.ui@example.com"
    css(browser, "#run-flow").click()
    wait(browser, lambda d: status_of(d, "get_contact").startswith("OK"))
    assert output_of(browser, "get_contact")["data"]["id"] == event["data"]["id"]

    # Save YAML: the command it suggests runs as written, on the test event saved beside it.
    css(browser, "#flow-name").send_keys("On a contact")
    css(browser, "#save-yaml").click()
    wait(browser, lambda d: css(d, "#banner #save-event"))
    command = css(browser, "#run-command").text
    assert command == (
        "intercom-connector flow run on-a-contact.yaml --sandbox --event on-a-contact.event.json"
    )
    css(browser, "#save-event").click()
    saved = downloads / "on-a-contact.event.json"
    wait(browser, lambda d: saved.exists() and saved.stat().st_size > 0)
    assert json.loads(saved.read_text()) == event
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(designer.sandbox_dir)
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", *command.split()[1:], "--json"],
        capture_output=True, text=True, timeout=120, cwd=downloads, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["get_contact"]["data"]["id"] == event["data"]["id"]

    # An edited test event that is no event is a problem at its editor; nothing is sent.
    for typed, said in (
        ('{"data": ', "Test event is not valid JSON"),
        ('{"topic": "contact.user.created", "data": {}}', "Test event: the event has no valid id"),
    ):
        css(browser, ".trigger-slot.filled").click()
        editor = wait(browser, lambda d: css(d, "#in-test-event-event"))
        editor.send_keys(Keys.CONTROL, "a", Keys.DELETE)
        editor.send_keys(typed)
        css(browser, "#run-flow").click()
        problem = problem_at(browser, "trigger", "event")
        assert problem.text.startswith(said)
        assert css(browser, "#in-test-event-event").get_attribute("aria-invalid") == "true"
        assert css(browser, "#banner").text.startswith("Fix 1 input before running")
        assert status_of(browser, "get_contact") == "Earlier run"
    assert contacts_in(designer.sandbox_dir) == before + 1  # the one the API call made
    assert errors_in_console(browser) == []


def active(driver: WebDriver) -> WebElement:
    return driver.switch_to.active_element


def test_the_keyboard_and_a_screen_reader_reach_every_part(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    # The palette is one tab stop: Tab from the search enters it, arrow keys move inside,
    # Tab again leaves it.
    css(browser, "#palette-search").click()
    active(browser).send_keys(Keys.TAB)
    first = active(browser)
    assert "palette-item" in first.get_attribute("class")
    assert len(browser.find_elements(By.CSS_SELECTOR, '.palette-item[tabindex="0"]')) == 1
    first.send_keys(Keys.ARROW_DOWN)
    second = active(browser)
    assert "palette-item" in second.get_attribute("class") and second != first
    second.send_keys(Keys.TAB)
    assert "palette-item" not in (active(browser).get_attribute("class") or "")
    active(browser).send_keys(Keys.SHIFT, Keys.TAB)  # back in, on the item last used
    assert active(browser) == second

    drag_onto_canvas(browser, "create_contact")
    drag_onto_canvas(browser, "attach_tag_to_contact")
    form = step(browser, "attach_tag_to_contact")
    choose = css(form, '.field[data-input="tag_id"] .choices-button')
    assert choose.get_attribute("aria-label") == "Choose Tag ID"
    tag = css(form, '.field[data-input="tag_id"] input')
    assert tag.get_attribute("aria-required") == "true"
    help_id, problems_id = tag.get_attribute("aria-describedby").split()
    assert css(browser, f"#{help_id}").text == "Identifier of Tag"

    # The mapping picker: arrow keys to an output field, Enter picks it, focus comes back.
    css(form, '.field[data-input="contact_id"] .map-button').click()
    wait(browser, lambda d: "picker-search" in active(d).get_attribute("class"))
    active(browser).send_keys("data.id")
    active(browser).send_keys(Keys.ARROW_DOWN)
    wanted = active(browser)
    assert wanted.get_attribute("data-ref") == "steps.create_contact.data.id"
    wanted.send_keys(Keys.ARROW_UP)  # from the first option back to the search
    assert "picker-search" in active(browser).get_attribute("class")
    active(browser).send_keys(Keys.ARROW_DOWN)
    assert active(browser) == wanted
    wanted.send_keys(Keys.ENTER)
    mapped = wait(browser, lambda d: css(d, '#inspector .field[data-input="contact_id"] .mapped'))
    assert "data.id" in mapped.text
    focused = active(browser)
    assert focused.get_attribute("class") == "map-button"
    assert focused.get_attribute("aria-label") == "Map Contact ID from an earlier output"

    # A problem is tied to its input: invalid, and described by the problem's text.
    css(browser, "#run-flow").click()
    wait(browser, lambda d: css(d, "#banner").text.startswith("Fix "))
    problem_at(browser, "attach_tag_to_contact", "tag_id")
    tag = css(step(browser, "attach_tag_to_contact"), '.field[data-input="tag_id"] input')
    assert tag.get_attribute("aria-invalid") == "true"
    assert css(browser, f"#{problems_id}").text == "Tag ID is required"
    css(step(browser, "attach_tag_to_contact"), '.field[data-input="tag_id"] input').send_keys("1")
    wait(browser, lambda d: css(d, f"#{problems_id}").text == "")
    assert (
        css(browser, f"#{problems_id}").find_element(By.XPATH, "..").get_attribute("data-input")
        == "tag_id"
    )

    # The JSON editor takes Tab (it indents); Esc, then Tab, moves on, as its hint says.
    form = step(browser, "create_contact")
    editor = css(form, '.field[data-input="custom_attributes"] textarea')
    hint = css(form, '.field[data-input="custom_attributes"] .code-hint')
    assert hint.is_displayed() and "Esc, then Tab" in hint.text
    format_button = css(form, '.field[data-input="custom_attributes"] .link-button')
    assert format_button.get_attribute("aria-label") == "Format Custom Attributes"
    assert hint.get_attribute("id") in editor.get_attribute("aria-describedby").split()
    editor.send_keys("{", Keys.TAB)
    assert active(browser) == editor and editor.get_attribute("value") == "{  "
    editor.send_keys(Keys.ESCAPE, Keys.TAB)
    assert active(browser) != editor
    assert errors_in_console(browser) == []


def test_the_connection_tabs_are_named_as_the_manifest_names_them(
    browser: WebDriver, designer: Designer
) -> None:
    start(browser, designer)
    css(browser, "#tab-connections").click()
    tabs = [tab.text for tab in browser.find_elements(By.CSS_SELECTOR, ".segment")]
    assert tabs == ["OAuth 2.0", "Access Token"]
    base, token = designer.url.split("/?token=")
    exported = httpx.get(f"{base}/api/manifest", params={"token": token}, timeout=30).json()
    assert tabs == [connection["type_label"] for connection in exported["connections"]]

    # The same names where a saved connection is picked, on its card, and in Deploy.
    from intercom_connector.connections.saved import SavedConnections

    saved = SavedConnections(designer.config_dir)
    saved.save("named-oauth", {"type": "oauth2", "client_id": "c", "client_secret": "s",
                               "access_token": "t"})  # fmt: skip
    saved.save("named-token", {"type": "access_token", "access_token": "t"})
    start(browser, designer)
    picker = Select(css(browser, "#run-connection"))
    options = {o.get_attribute("value"): o.text for o in picker.options}
    assert options["named-oauth"] == "named-oauth (OAuth 2.0, us)"
    assert options["named-token"] == "named-token (Access Token, us)"
    css(browser, "#tab-connections").click()
    card = css(browser, '[data-connection="named-oauth"] .badge')
    assert card.text == "OAuth 2.0"
    css(browser, "#tab-designer").click()
    Select(css(browser, "#run-connection")).select_by_value("named-oauth")
    css(browser, "#deploy-flow").click()
    said = wait(browser, lambda d: css(d, "#deploy-connection")).text
    assert said.startswith("Connection: named-oauth, OAuth 2.0 (")
    browser.execute_script("document.querySelector('#deploy-dialog').close()")
    Select(css(browser, "#run-connection")).select_by_value("")
    for name in ("named-oauth", "named-token"):
        saved.remove(name)


def test_every_form_ties_its_problems_to_its_fields(browser: WebDriver, designer: Designer) -> None:
    """The connection forms and the Deploy dialog, as a step's form: a problem makes its
    field aria-invalid and describes it, before anything is sent."""
    start(browser, designer)
    css(browser, "#tab-connections").click()
    css(browser, '.segment[data-type="access_token"]').click()
    css(browser, "#check-connection").click()
    token = css(browser, '.connection-form .field[data-input="access_token"] input')
    assert token.get_attribute("aria-invalid") == "true" and active(browser) == token
    problems = token.get_attribute("aria-describedby").split()[-1]
    assert css(browser, f"#{problems}").text == "Access Token is required"
    assert css(browser, ".connection-form .form-status").text.startswith("Fix 1 field")
    token.send_keys("x")  # typing clears it
    assert token.get_attribute("aria-invalid") is None and css(browser, f"#{problems}").text == ""

    css(browser, '.segment[data-type="oauth2"]').click()
    windows = len(browser.window_handles)
    css(browser, "#oauth-connect").click()
    marked = [
        f.get_attribute("data-input")
        for f in browser.find_elements(By.CSS_SELECTOR, ".connection-form .field.has-problem")
    ]
    assert marked == ["name", "client_id", "client_secret"]
    assert css(browser, "#in-conn-name").get_attribute("aria-invalid") == "true"
    assert len(browser.window_handles) == windows  # no consent page opened

    css(browser, "#tab-designer").click()
    css(browser, "#deploy-flow").click()
    address = wait(browser, lambda d: css(d, "#deploy-address"))
    assert address.get_attribute("aria-required") == "true"
    address.clear()
    css(browser, "#deploy-go").click()
    wait(browser, lambda d: "Temporal cluster" in css(d, "#deploy-message").text)
    assert "--temporal" not in css(browser, "#deploy-message").text
    assert address.get_attribute("aria-invalid") == "true"
    assert address.get_attribute("aria-describedby") == "deploy-message"
    assert css(browser, "#deploy-name").get_attribute("aria-invalid") is None
    browser.execute_script("document.querySelector('#deploy-dialog').close()")


def test_at_1280_pixels_the_toolbar_and_every_step_button_are_whole(
    browser: WebDriver, designer: Designer
) -> None:
    """The top bar (with Runs and Deploy…) fits the window, nothing scrolls sideways, and
    each step's Run button is whole inside its card (no other view's style on it)."""
    start(browser, designer)
    wait(browser, lambda d: css(d, "#deploy-flow"))
    for action in ("create_contact", "get_contact"):
        drag_onto_canvas(browser, action)
    page = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
    )
    assert page[0] <= page[1], f"the page scrolls sideways: {page}"
    width = browser.execute_script("return document.documentElement.clientWidth")
    for button in browser.find_elements(By.CSS_SELECTOR, ".topbar button, .topbar select"):
        right = browser.execute_script("return arguments[0].getBoundingClientRect().right", button)
        assert right <= width, f"{button.text or button.get_attribute('id')} is cut off"
    # with room to spare between the tabs and the toolbar: another machine's fonts may be
    # a little wider
    room = browser.execute_script(
        "return document.querySelector('.toolbar').getBoundingClientRect().left"
        " - document.querySelector('nav.tabs').getBoundingClientRect().right"
    )
    assert room >= 60, f"the top bar has {room:.0f} pixels to spare"
    for action in ("create_contact", "get_contact"):
        card = css(browser, f'.step[data-step="{action}"]')
        run = css(card, ".run-step")
        # the button inside its card, and its play icon whole inside the button
        whole = browser.execute_script(
            "const within = (a, b) => a.left >= b.left && a.right <= b.right"
            " && a.top >= b.top && a.bottom <= b.bottom;"
            "const [icon, run, card] = arguments;"
            "const i = icon.getBoundingClientRect(), b = run.getBoundingClientRect();"
            "return within(b, card.getBoundingClientRect()) && within(i, b)"
            " && i.width >= 14 && b.width === b.height;",
            css(run, "svg"),
            run,
            card,
        )
        assert whole, f"{action}'s Run button is cut off"
