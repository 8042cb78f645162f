"""JupyterLab started as `make lab` does, and driven in headless Chromium: the helpers that the
browser tests (tests/test_browser.py) and the widget benchmark (benchmarks/widget_redraw.py) share.

    lab_server(workdir, notebooks)      JupyterLab on a free port of 127.0.0.1 with copies of notebooks
    chromium_page(playwright, profile)  a page of Debian's Chromium (never playwright's own download)
    run_all(page, url, token, name)     open a notebook, Run All, wait until every cell has run
    key_to_picture_ms(page, handle, picture, presses)   key press to new picture, timed in the page
    make_lab_command(*args)             the command `make lab` runs, as `make -n lab` prints it
    static_server(folder)               a folder (the built site) served on a free port of 127.0.0.1
    explorer_state(explorer)            what a vae_lite explorer in the page computed last (explorers.js)
"""

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "Python 3 (ipykernel) | Idle"


def notebook(pattern):
    """The one notebook whose name matches `pattern` (numbers change when notebooks are added)."""
    found = sorted(NOTEBOOKS.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook matching {NOTEBOOKS / pattern}, found {found}; "
                                "build it with `make notebooks NB=NN`")
    return found[0]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on, for a server to start on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=60):
    """(status, body) of a GET request; an HTTP error is a status, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(url, server, log, seconds=60):
    """Wait until `url` answers 200; a RuntimeError with the log's tail if `server` exits first or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}:\n{Path(log).read_text()[-3000:]}")
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer within {seconds} s:\n{Path(log).read_text()[-3000:]}")


def make_lab_command(*lab_args, venv=None):
    """The command `make lab` runs (as `make -n lab` prints it), with extra JupyterLab arguments;
    venv: the VENV make should use (default: the Makefile's)."""
    make = ["make", "-s", "-n", "lab", f"LAB_ARGS={' '.join(lab_args)}"] + ([f"VENV={venv}"] if venv else [])
    printed = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
    lines = [line for line in printed.splitlines() if re.search(r"\bjupyter[- ](lab|notebook|server)\b", line)]
    if len(lines) != 1:
        raise RuntimeError(f"`make -n lab` should print one command that starts JupyterLab, printed:\n{printed}")
    return shlex.split(lines[0])


def _copy_without_outputs(source, target):
    """The notebook with outputs and saved widget state removed: every widget on the page is live."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, target)


def _write_settings(settings):
    """No news pop-up in the corner; every cell rendered (JupyterLab 4 otherwise virtualizes cells
    far from the viewport, and their prompts and outputs are missing from the page)."""
    for plugin, values in (("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
                           ("notebook-extension/tracker", {"windowingMode": "none"})):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def lab_server(workdir, notebooks, quick=True):
    """JupyterLab on a free port of 127.0.0.1 serving copies of `notebooks` without outputs;
    yields (url, token, root). The server and its kernels are stopped on exit."""
    workdir = Path(workdir)
    root = workdir / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        _copy_without_outputs(path, root / path.name)
    settings = workdir / "settings"
    _write_settings(settings)
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(os.environ, HOME=str(workdir / "home"), JUPYTER_CONFIG_DIR=str(workdir / "config"),
               JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"), IPYTHONDIR=str(workdir / "ipython"),
               MPLCONFIGDIR=str(workdir / "matplotlib"), VAE_LITE_QUICK="1" if quick else "0")
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = workdir / "jupyter.log"
    log = open(log_path, "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/status?token={token}", server, log_path)
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


@contextlib.contextmanager
def chromium_page(playwright, profile_dir):
    """A page of headless Chromium (Debian's, not playwright's download), 1400 x 1000."""
    browser = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000})
    try:
        yield browser.pages[0] if browser.pages else browser.new_page()
    finally:
        browser.close()


def run_all(page, url, token, name, timeout_s=180):
    """Open notebook `name`, wait for an idle kernel, run all cells, wait until every cell has
    run, and fail on a traceback. Returns the seconds Run All took."""
    # reset: a fresh workspace, without the tabs of a notebook opened before on the same server
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")
    # the toolbar says idle too early; the status bar's text is reliable
    page.wait_for_function(f"() => document.body.innerText.includes({IDLE!r})", timeout=90_000)
    started = time.monotonic()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
    # done when no cell is queued or running ([*]) or unrun ([ ]); a collapsed cell's prompt is empty
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.innerText.trim()).filter(t => t !== '');
            return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
        }""", timeout=timeout_s * 1000)
    page.wait_for_function(f"() => document.body.innerText.includes({IDLE!r})", timeout=60_000)
    seconds = time.monotonic() - started
    tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback")
    assert tracebacks.count() == 0, f"a cell of {name} failed:\n{tracebacks.first.inner_text()[:2000]}"
    return seconds


def image_bytes(page, image):
    """The bytes behind an <img> in the page (ipywidgets serves images as blob: URLs)."""
    src = image.get_attribute("src")
    data = page.evaluate(
        """async (src) => {
            const buffer = await (await fetch(src)).arrayBuffer();
            let text = ''; for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
            return btoa(text);
        }""", src)
    return src, base64.b64decode(data)


def watch(page, event_target, event, picture):
    """Time, inside the page, from `event` on `event_target` to the first animation frame after
    the next new `picture` (the frame that shows it): after the load event of an <img>, or the
    "drawn" event that vae_lite's explorers.js sends from each picture (a canvas or an svg) it draws.
    window.__vae_lite.times collects one number (ms) per event; measured() reads them."""
    page.evaluate(
        """([target, event, picture]) => {
            const state = window.__vae_lite = {times: [], started: null, wake: () => {}};
            target.addEventListener(event, () => { state.started = performance.now(); }, true);
            picture.addEventListener(picture.tagName === 'IMG' ? 'load' : 'drawn', () => {
                const started = state.started;
                state.started = null;
                if (started === null) return;
                requestAnimationFrame(() => { state.times.push(performance.now() - started); state.wake(); });
            });
        }""", [event_target.element_handle(), event, picture.element_handle()])


def measured(page, count, timeout_s=20):
    """The count-th time _watch measured, once there is one. It waits for the picture's event itself:
    wait_for_function would poll on every animation frame, making the page draw frames while
    the picture is on its way that a student's page does not draw."""
    return page.evaluate(
        """([count, timeout]) => new Promise((resolve, reject) => {
            const state = window.__vae_lite;
            const timer = setTimeout(() => reject(new Error(`no picture ${count} within ${timeout} ms`)), timeout);
            state.wake = () => {
                if (state.times.length >= count) { clearTimeout(timer); resolve(state.times[count - 1]); }
            };
            state.wake();
        })""", [count, timeout_s * 1000])


def slider_position(handle):
    """(value, min, max) of a slider: an <input type=range> (vae_lite's explorers) or an ipywidgets handle."""
    return handle.evaluate("""(h) => h.tagName === 'INPUT' ? [+h.value, +h.min, +h.max]
        : ['aria-valuenow', 'aria-valuemin', 'aria-valuemax'].map((a) => +h.getAttribute(a))""")


def key_to_picture_ms(page, handle, picture, presses):
    """Press an arrow key on a slider's handle `presses` times, each time waiting for the new
    picture; returns the milliseconds from each key press to the new picture in the page.
    It presses towards the farther end of the slider, so every press moves it."""
    handle.focus()
    value, low, high = slider_position(handle)
    key = "ArrowRight" if high - value >= value - low else "ArrowLeft"
    watch(page, handle, "keydown", picture)
    times = []
    for i in range(presses):
        page.keyboard.press(key)
        times.append(measured(page, i + 1))
    return times


def summary(times):
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(times), 1),
            "p90_ms": round(ordered[round(0.9 * (len(ordered) - 1))], 1),
            "max_ms": round(max(times), 1), "n": len(times)}


@contextlib.contextmanager
def static_server(folder):
    """The files of `folder` served over HTTP on a free port of 127.0.0.1 (in a thread); yields the URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def explorer_state(explorer, timeout_s=20):
    """What a vae_lite explorer in the page computed last (its inputs and picture), as explorers.js
    records it; once it is complete (the drawing explorer computes its ELBO after the picture)."""
    explorer.page.wait_for_function("(el) => JSON.parse(el.dataset.state || '{}').complete !== false",
                                    arg=explorer.element_handle(), timeout=timeout_s * 1000)
    return json.loads(explorer.get_attribute("data-state") or "{}")
