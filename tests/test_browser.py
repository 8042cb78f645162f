"""Notebook 06 in a real browser: JupyterLab in headless Chromium, driven by playwright.

Starts JupyterLab on 127.0.0.1 with a random token (its own HOME, config and settings folders,
so a user's settings cannot leak in), opens a copy of notebook 06 with its outputs cleared,
runs all cells in quick mode, moves a latent slider with the keyboard, and checks that the
decoded image in the page changed and that the kernel saw the new value (the caption the
kernel writes names it). A screenshot goes to tests/artifacts/.

Needs /usr/bin/chromium (Debian's `chromium`) and the playwright package, never playwright's
own browser download. Without them the test is skipped, unless VAE_LITE_REQUIRE_BROWSER=1
(CI), where it fails instead.
"""

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_latent_space.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "Python 3 (ipykernel) | Idle"

pytestmark = pytest.mark.browser


def _missing(reason):
    if os.environ.get("VAE_LITE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but VAE_LITE_REQUIRE_BROWSER=1 says the browser test must run "
                    "(apt-get install chromium; pip install playwright)")
    pytest.skip(reason)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_without_outputs(source, target):
    """The notebook with outputs and saved widget state removed: every widget on the page is live."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, target)


@pytest.fixture
def sync_playwright():
    """playwright's entry point, once we know Chromium and playwright are both here."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} not found (Debian package `chromium`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    return sync_playwright


@pytest.fixture
def jupyter_lab(tmp_path):
    """A JupyterLab server on a free port of 127.0.0.1; yields (url, token, root folder)."""
    if not NOTEBOOK.is_file():
        pytest.fail(f"{NOTEBOOK} is missing; build it with `make notebooks NB=06`")
    root = tmp_path / "notebooks"
    root.mkdir()
    _copy_without_outputs(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings"
    # no news pop-up asking for consent in the corner of the page
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path / "home"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), IPYTHONDIR=str(tmp_path / "ipython"),
               MPLCONFIGDIR=str(tmp_path / "matplotlib"), VAE_LITE_QUICK="1")
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "jupyter.log", "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 40 s:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, token, root
    finally:
        # the server and its kernels are in their own process group: stop them all
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait(timeout=5)
        log.close()


def _image_bytes(page, image):
    """The bytes behind an <img> in the page (ipywidgets serves images as blob: URLs)."""
    src = image.get_attribute("src")
    data = page.evaluate(
        """async (src) => {
            const buffer = await (await fetch(src)).arrayBuffer();
            let text = ''; for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
            return btoa(text);
        }""", src)
    return src, base64.b64decode(data)


def test_latent_slider_redraws_in_jupyterlab(sync_playwright, jupyter_lab):
    url, token, root = jupyter_lab
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(root.parent / "chromium"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        page = browser.pages[0] if browser.pages else browser.new_page()
        try:
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
            # the toolbar says idle too early; the status bar's text is reliable
            page.wait_for_function(f"() => document.body.innerText.includes({IDLE!r})", timeout=60_000)

            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
            # done when no cell is queued or running ([*]) or unrun ([ ]); a collapsed cell's prompt is empty
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                        .map(p => p.innerText.trim()).filter(t => t !== '');
                    return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
                }""", timeout=90_000)
            tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback")
            assert tracebacks.count() == 0, f"a cell failed:\n{tracebacks.first.inner_text()[:2000]}"

            explorer = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-slider")).first
            explorer.scroll_into_view_if_needed()
            image = explorer.locator(".widget-image").first
            caption = explorer.locator(".widget-label", has_text="mean ink").first
            readout = explorer.locator(".widget-readout").first
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            src_before, bytes_before = _image_bytes(page, image)
            # the readout prints negative numbers with a Unicode minus sign
            readout_before = readout.inner_text().strip().replace("\u2212", "-")

            handle = explorer.locator(".widget-slider .noUi-handle").first
            handle.focus()
            moved_at = time.monotonic()
            for _ in range(4):
                page.keyboard.press("ArrowRight")
            # the kernel writes the caption after it decoded the new z: wait until it names the
            # value the slider's readout shows now
            page.wait_for_function(
                """([label, readout, before]) => {
                    const value = readout.innerText.trim().replace('\u2212', '-');
                    return value !== before && label.innerText.includes('= ' + value + ';');
                }""",
                arg=[caption.element_handle(), readout.element_handle(), readout_before], timeout=20_000)
            page.wait_for_function("([img, before]) => img.src !== before",
                                   arg=[image.element_handle(), src_before], timeout=15_000)
            redraw_seconds = time.monotonic() - moved_at
            readout_after = readout.inner_text().strip().replace("\u2212", "-")
            src_after, bytes_after = _image_bytes(page, image)
            page.screenshot(path=str(ARTIFACTS / "browser_06_latent_explorer.png"), full_page=False)
            explorer.screenshot(path=str(ARTIFACTS / "browser_06_explorer.png"))

            assert float(readout_after) > float(readout_before), \
                f"ArrowRight should move the slider up: readout {readout_before} -> {readout_after}"
            assert bytes_after != bytes_before, "the decoded image did not change after the slider moved"
            # the caption comes from the kernel; it names the value the kernel decoded
            assert f"= {readout_after};" in caption.inner_text(), \
                f"the kernel's caption {caption.inner_text()!r} does not show the slider's value {readout_after}"
            print(f"browser test: slider {readout_before} -> {readout_after}, page redrawn "
                  f"{redraw_seconds * 1000:.0f} ms after the key presses; "
                  f"total {time.monotonic() - started:.1f} s")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_06_failure.png"))
            raise
        finally:
            browser.close()
