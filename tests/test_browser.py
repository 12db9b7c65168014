"""End to end in a real browser: JupyterLab on loopback, headless Chromium driven by Playwright.

Opens a lesson that has an explorer, runs all its cells, checks that no cell shows an error, moves
the explorer's slider and checks that the plot is redrawn. Needs Debian's `chromium` package and the
`playwright` Python package (never `playwright install`: the system browser is used).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01_tokens_embeddings_positions.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 240
REDRAW_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop JupyterLab and every kernel it started (they share its process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    else:  # the server is gone; end any kernel it left behind
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of the lesson; yields its URL."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (make test installs it)"
    )
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / LESSON, root / LESSON)
    port = free_port()
    log = open(tmp_path / "jupyterlab.log", "w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--allow-root",
            "--no-browser",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--ServerApp.root_dir={root}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {process.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture
def page(jupyterlab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


# JavaScript run in the page: the open notebook, read through the JupyterLab application object.
NOTEBOOK_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.content || !panel.sessionContext) return null;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
    return {
        kernel: kernel ? kernel.status : 'none',
        code_cells: cells.length,
        run: cells.filter(cell => cell.model.executionCount !== null).length,
        busy: cells.filter(cell => cell.promptNode && cell.promptNode.textContent.includes('*')).length,
        errors: cells.flatMap((cell, i) => cell.model.outputs.toJSON()
            .filter(o => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'))
            .map(o => `code cell ${i}: ${o.ename || 'stderr'}: ${o.evalue || o.text}`)),
    };
}"""


def wait_for(page, predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(500)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def test_lesson_runs_in_jupyterlab_and_its_explorer_redraws_when_a_slider_moves(page, jupyterlab):
    page.goto(f"{jupyterlab}/lab/tree/{LESSON}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=90_000)

    def kernel_ready():
        state = page.evaluate(NOTEBOOK_STATE)
        return state if state and state["kernel"] == "idle" else None

    wait_for(page, kernel_ready, 90, "the notebook's kernel to start")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def all_cells_run():
        state = page.evaluate(NOTEBOOK_STATE)
        done = (
            state and state["run"] == state["code_cells"] and state["busy"] == 0 and state["kernel"] == "idle"
        )
        return state if done else None

    state = wait_for(page, all_cells_run, RUN_ALL_TIMEOUT_S, "every cell to run")
    assert state["code_cells"] > 10
    assert state["errors"] == [], "\n".join(state["errors"])

    explorer = page.locator(".widget-interact").last
    explorer.scroll_into_view_if_needed()
    image = explorer.locator(".widget-output img").first
    image.wait_for(state="visible", timeout=60_000)
    before = image.get_attribute("src")
    assert before

    slider = explorer.locator(".widget-slider").nth(1)  # position
    handle = slider.locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()

    def redrawn():
        current = explorer.locator(".widget-output img")
        return current.count() > 0 and current.first.get_attribute("src") not in (None, before)

    wait_for(page, redrawn, REDRAW_TIMEOUT_S, "the explorer's plot to change after moving its slider")
    readout = slider.locator(".widget-readout").inner_text()
    assert readout.strip() != "10", "the position slider did not move"
