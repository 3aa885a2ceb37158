"""Add a Spark the way a user does: log in, open Add integration, fill the form, submit.

This is the only test that renders the real frontend against the integration, so it
catches what the in-process config flow tests cannot: translations that do not load,
a schema the frontend cannot draw (sections, selectors), or an entry that is created
but never sets up its entities.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

# Both lanes install Playwright and HA's frontend (scripts/setup); skip only in a bare venv.
pytest.importorskip("playwright", reason="playwright is not installed in this venv")
pytest.importorskip("hass_frontend", reason="home-assistant-frontend is not installed")

from playwright.async_api import Locator, Page, async_playwright, expect

from tests.ssh_host.server import SSHTestHost

from .conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SERVICES,
    USERNAME,
    HassServer,
    SimulatedSpark,
    chromium_available,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(), reason=f"{CHROMIUM} is not installed"),
    # HA's first start is most of it; the suite-wide 120 s timeout covers fixtures too.
    pytest.mark.timeout(300),
]

# The entry is named after the Spark's own hostname, read over SSH: the test's sshd runs here.
SPARK_NAME = os.uname().nodename
PORT_LABELS = {"parakeet": "Parakeet port", "magpie": "Magpie port", "whisperx": "WhisperX port"}
# Generous: the first page load parses megabytes of frontend JS on a 2-core machine.
UI_TIMEOUT_MS = 30_000


async def test_add_spark_in_the_browser(
    hass_server: HassServer,
    sim_process: SimulatedSpark,
    ssh_server: SSHTestHost,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The config flow dialog, SSH included, creates an entry whose services are all up.

    The SSH host key's fingerprint is shown before any login, and trusted on Submit.
    """
    screenshot = tmp_path / "config_flow_success.png"
    request.node.stash.setdefault(ARTIFACTS, []).append(screenshot)
    started = time.monotonic()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                await _add_spark(page, hass_server, sim_process, ssh_server, screenshot)
            except Exception:
                failure = tmp_path / "failure.png"
                await page.screenshot(path=failure, full_page=True)
                request.node.stash[ARTIFACTS].append(failure)
                raise
        finally:
            await browser.close()
    print(f"browser part took {time.monotonic() - started:.1f} s; screenshot: {screenshot}")

    entries = hass_server.rest("GET", "/api/config/config_entries/entry?domain=spark_audio")
    assert len(entries) == 1, entries
    assert entries[0]["domain"] == "spark_audio"
    assert entries[0]["title"] == SPARK_NAME
    assert entries[0]["state"] == "loaded", entries[0]
    assert ssh_server.accepted_logins() >= 1  # the flow's login after the confirmation

    states = _integration_states(hass_server)
    connectivity = {e: s for e, s in states.items() if e.endswith("_connectivity")}
    assert len(connectivity) == 3, states
    assert set(connectivity.values()) == {"on"}, connectivity
    wedged = {e: s for e, s in states.items() if e.endswith("_wedged")}
    assert set(wedged.values()) <= {"off", "unavailable"}, wedged
    assert any(e.startswith("stt.") for e in states), states
    assert any(e.startswith("tts.") for e in states), states

    errors = [
        line
        for line in hass_server.log.read_text(errors="replace").splitlines()
        if re.search(r" (ERROR|CRITICAL) .*spark_audio", line)
    ]
    assert not errors, errors


async def _add_spark(
    page: Page, hass: HassServer, sim: SimulatedSpark, ssh: SSHTestHost, screenshot: Path
) -> None:
    """Log in through the login page and run the Add integration dialog to the end."""
    # The My-link target: it asks for login first, then offers to set up the domain.
    await page.goto(f"{hass.url}/config/integrations/dashboard/add?domain=spark_audio")
    await page.locator("input[name=username]").fill(USERNAME)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()

    await _see(page.get_by_text("Do you want to set up Spark Audio?"))
    await page.get_by_role("button", name="OK").click()

    dialog = page.locator("dialog-data-entry-flow")
    await _see(dialog.get_by_text("Add a DGX Spark"))
    await dialog.locator("input[name=host]").fill(sim.host)
    # WhisperX is off by default; turn it on so the flow probes all three services.
    # Newer frontends (HA 2026.x) give the switch no accessible name (its label is the paragraph
    # after it) and draw its thumb over the input; the switches come in the form's order
    # (Parakeet, Magpie, WhisperX), and a click on the thumb toggles it like a user's would.
    whisperx = dialog.get_by_role("switch", name=re.compile("Use WhisperX"))
    await whisperx.or_(dialog.get_by_role("switch").nth(list(PORT_LABELS).index("whisperx"))).check(
        force=True
    )
    for service in SERVICES:
        port_box = dialog.get_by_role("spinbutton", name=re.compile(PORT_LABELS[service]))
        await port_box.fill(str(sim.ports[service]))
    await dialog.get_by_text("SSH access (optional)").click()
    await dialog.get_by_role("textbox", name="SSH user").fill(ssh.username)
    await dialog.get_by_role("spinbutton", name="SSH port").fill(str(ssh.port))
    await dialog.get_by_role("textbox", name="Private key").fill(ssh.client_private_key)
    await dialog.get_by_role("button", name="Submit").click()

    # The fingerprint comes first; nothing has been offered to the SSH server yet.
    await _see(dialog.get_by_text("Trust this Spark's SSH key?"))
    await _see(dialog.get_by_text(ssh.host_key_fingerprint))
    assert ssh.auth_attempts() == 0
    await dialog.get_by_role("button", name="Submit").click()

    # HA 2025.x says "Success!" and lists the devices; newer frontends (2026.x) show a
    # "Name and assign" step with each device's name in an editable field.
    name_and_assign = dialog.get_by_text("Name and assign")
    await _see(dialog.get_by_text("Success!").or_(name_and_assign))
    devices = [
        f"{SPARK_NAME} {d}" for d in ("Parakeet", "Magpie", "WhisperX")
    ]  # named after the Spark
    newer_frontend = bool(await name_and_assign.count())
    if newer_frontend:
        names = dialog.get_by_role("textbox", name="Device name")
        # It also lists the Spark's own (hub) device, named after the entry.
        await expect(names).to_have_count(len(devices) + 1, timeout=UI_TIMEOUT_MS)
        named = sorted([await box.input_value() for box in await names.all()])
        assert named == sorted([SPARK_NAME, *devices])
    else:
        await _see(dialog.get_by_text(f"Created configuration for {SPARK_NAME}."))
        for device in devices:
            await _see(dialog.get_by_text(device, exact=True))
    await page.screenshot(path=screenshot)

    # Finishing a flow started from this link opens the integration's page on the new entry
    # (HA 2025.x); newer frontends close the dialog and stay on the dashboard.
    await dialog.get_by_role("button", name=re.compile(r"^(Skip and finish|Finish)$")).click()
    integration_page = re.compile(r"/config/integrations/integration/spark_audio")
    if newer_frontend:
        await expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)
        await page.goto(f"{hass.url}/config/integrations/integration/spark_audio")
    await expect(page).to_have_url(integration_page, timeout=UI_TIMEOUT_MS)
    await _see(page.get_by_text(SPARK_NAME, exact=True).first)  # the entry (and its hub device)


async def _see(locator: Locator) -> None:
    """Wait for an element to show, allowing for a slow first page load."""
    await expect(locator).to_be_visible(timeout=UI_TIMEOUT_MS)


def _integration_states(hass: HassServer, timeout: float = 30) -> dict[str, str]:
    """Entity id -> state of the integration's entities, once its connectivity sensors are on."""
    deadline = time.monotonic() + timeout
    template = {"template": "{{ integration_entities('spark_audio') | tojson }}"}
    while True:
        entity_ids = set(hass.rest("POST", "/api/template", template))
        states = {
            s["entity_id"]: s["state"]
            for s in hass.rest("GET", "/api/states")
            if s["entity_id"] in entity_ids
        }
        sensors = [v for k, v in states.items() if k.endswith("_connectivity")]
        if (sensors and all(v == "on" for v in sensors)) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)
