"""Notebooks in a real browser: JupyterLab in headless Chromium, driven by playwright.

Each test starts JupyterLab on 127.0.0.1 with a random token (its own HOME, config and settings
folders, so a user's settings cannot leak in), opens a copy of a notebook with its outputs
cleared, runs all cells in quick mode, and then uses its widgets as a student would:

- the latent space notebook: move a latent slider with the keyboard; the picture, which the page
  decodes itself (vae_lite/decoder.js), changes, and the kernel's caption names the new value
  and the same mean ink; decoder.js is also checked against the model's decode directly;
- notebook 11: draw a stroke on the canvas with the mouse; the posterior readout, the ellipse on
  the latent map and the reconstruction change; pick another class in the conditional explorer
  and the picture changes.

Times from a key press (or the end of a stroke, or a click) to the new picture in the page are
measured inside the page (performance.now() at the event, and at the first animation frame
after the image's load event or the decoded canvas's "drawn" event) and printed. Screenshots go to tests/artifacts/. benchmarks/widget_redraw.py --browser uses the same
helpers (lab_server, chromium_page, run_all, key_to_picture_ms) for the slider latency.

Needs /usr/bin/chromium (Debian's `chromium`) and the playwright package, never playwright's
own browser download. Without them the tests are skipped, unless VAE_LITE_REQUIRE_BROWSER=1
(CI), where they fail instead.
"""

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "Python 3 (ipykernel) | Idle"

pytestmark = pytest.mark.browser


def notebook(pattern):
    """The one notebook whose name matches `pattern` (numbers change when notebooks are added)."""
    found = sorted(NOTEBOOKS.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook matching {NOTEBOOKS / pattern}, found {found}; "
                                "build it with `make notebooks NB=NN`")
    return found[0]


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
    port = _free_port()
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
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer within 60 s:\n{log_path.read_text()[-3000:]}")
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


def _watch(page, event_target, event, picture):
    """Time, inside the page, from `event` on `event_target` to the first animation frame after
    the next new `picture` (the frame that shows it): after the load event of an <img>, or the
    "drawn" event of the canvas that vae_lite's decoder.js draws on.
    window.__vae_lite.times collects one number (ms) per event."""
    page.evaluate(
        """([target, event, picture]) => {
            const state = window.__vae_lite = {times: [], started: null, wake: () => {}};
            target.addEventListener(event, () => { state.started = performance.now(); }, true);
            picture.addEventListener(picture.tagName === 'CANVAS' ? 'drawn' : 'load', () => {
                const started = state.started;
                state.started = null;
                if (started === null) return;
                requestAnimationFrame(() => { state.times.push(performance.now() - started); state.wake(); });
            });
        }""", [event_target.element_handle(), event, picture.element_handle()])


def _measured(page, count, timeout_s=20):
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


def key_to_picture_ms(page, handle, picture, presses):
    """Press an arrow key on a slider's handle `presses` times, each time waiting for the new
    picture; returns the milliseconds from each key press to the new picture in the page.
    It presses towards the farther end of the slider, so every press moves it."""
    handle.focus()
    value = float(handle.get_attribute("aria-valuenow"))
    low, high = float(handle.get_attribute("aria-valuemin")), float(handle.get_attribute("aria-valuemax"))
    key = "ArrowRight" if high - value >= value - low else "ArrowLeft"
    _watch(page, handle, "keydown", picture)
    times = []
    for i in range(presses):
        page.keyboard.press(key)
        times.append(_measured(page, i + 1))
    return times


def summary(times):
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(times), 1),
            "p90_ms": round(ordered[round(0.9 * (len(ordered) - 1))], 1),
            "max_ms": round(max(times), 1), "n": len(times)}


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


# ------------------------------------------------------------ the latent space notebook


def _canvas_pixels(page, canvas):
    """The grey levels (0-255) of a canvas, as the browser drew them."""
    return page.evaluate(
        """(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0))""",
        canvas.element_handle())


def test_decoder_js_decodes_as_the_model_does(sync_playwright, tmp_path):
    """decoder.js, imported into a blank page, against the model's own decode for random z:
    an MLP decoder of two hidden layers, so that every kind of layer is crossed."""
    torch = pytest.importorskip("torch")
    from vae_lite import VAE
    from vae_lite.widgets import decoder_layers

    torch.manual_seed(0)
    model = VAE((1, 6, 5), latent_dim=3, hidden=[7, 4]).eval()
    z = torch.randn(4, 3)
    expected = model.decode(z).flatten(1)  # (4, 30)
    layers = [{name: list(torch.frombuffer(bytearray(b), dtype=torch.float32).tolist()) for name, b in layer.items()}
              for layer in decoder_layers(model)]
    source = base64.b64encode((ROOT / "vae_lite" / "decoder.js").read_bytes()).decode()
    with sync_playwright() as p, chromium_page(p, tmp_path / "chromium") as page:
        decoded = page.evaluate(
            """async ([source, layers, zs]) => {
                const { decode } = await import('data:text/javascript;base64,' + source);
                const arrays = layers.map(({ weight, bias }) => ({ weight: Float32Array.from(weight), bias: Float32Array.from(bias) }));
                return zs.map((z) => Array.from(decode(arrays, z)));
            }""", [source, layers, z.tolist()])
    assert torch.allclose(torch.tensor(decoded, dtype=torch.float32), expected, atol=1e-6), \
        "decoder.js does not compute the model's decode"


# a widget model as anywidget hands it to render(): get, on, set (which fires change:<name>)
FAKE_MODEL = """
    function fakeModel(state, manager) {
        const handlers = {};
        return {
            get: (name) => state[name],
            set(name, value) { state[name] = value; (handlers['change:' + name] || []).forEach((h) => h()); },
            on(event, handler) { (handlers[event] = handlers[event] || []).push(handler); },
            off() {},
            widget_manager: manager,
        };
    }
"""


def test_decoder_js_follows_the_sliders_and_else_the_kernels_z(sync_playwright, tmp_path):
    """render() of decoder.js with stand-ins for the widget models: the canvas shows the decode
    of z with the sliders' values in their dimensions; when the page cannot reach the sliders
    it still draws, from the z the kernel sends."""
    torch = pytest.importorskip("torch")
    from vae_lite import VAE
    from vae_lite.widgets import decoder_layers

    torch.manual_seed(0)
    model = VAE((1, 6, 5), latent_dim=3, hidden=8).eval()
    state = {"layers": [{k: list(v) for k, v in layer.items()} for layer in decoder_layers(model)],
             "z": [0.5, -1.0, 0.25], "dims": [2], "sliders": ["IPY_MODEL_s"], "image_size": [6, 5], "scale": 4}

    def grey(z):  # what the canvas should hold: black ink on white, as png_bytes draws it
        return torch.round(255 * (1 - model.decode(torch.tensor([z])).flatten())).int().tolist()

    source = base64.b64encode((ROOT / "vae_lite" / "decoder.js").read_bytes()).decode()
    with sync_playwright() as p, chromium_page(p, tmp_path / "chromium") as page:
        drawn = page.evaluate(
            """async ([source, state, reachable]) => {""" + FAKE_MODEL + """
                const { default: widget } = await import('data:text/javascript;base64,' + source);
                const pixels = (el) => { const c = el.querySelector('canvas');
                    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)); };
                const bytes = (list) => new DataView(Uint8Array.from(list).buffer);
                const layers = state.layers.map(({ weight, bias }) => ({ weight: bytes(weight), bias: bytes(bias) }));
                const slider = fakeModel({ value: 2.0 });
                const manager = { get_model: async (id) => { if (!reachable || id !== 's') throw new Error('no ' + id); return slider; } };
                const model = fakeModel({ ...state, layers }, manager);
                const el = document.createElement('div');
                document.body.appendChild(el);
                await widget.render({ model, el });
                const first = pixels(el);
                slider.set('value', -2.0);
                const moved = pixels(el);
                model.set('z', [0.0, 1.0, 1.5]);
                return { first, moved, kernel: pixels(el) };
            }""", [source, state, True])
        unreachable = page.evaluate(
            """async ([source, state, reachable]) => {""" + FAKE_MODEL + """
                const { default: widget } = await import('data:text/javascript;base64,' + source);
                const bytes = (list) => new DataView(Uint8Array.from(list).buffer);
                const layers = state.layers.map(({ weight, bias }) => ({ weight: bytes(weight), bias: bytes(bias) }));
                const manager = { get_model: async (id) => { throw new Error('no ' + id); } };
                const model = fakeModel({ ...state, layers }, manager);
                const el = document.createElement('div');
                await widget.render({ model, el });
                model.set('z', [0.0, 1.0, 1.5]);
                const c = el.querySelector('canvas');
                return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0));
            }""", [source, state, False])
    close = lambda got, want: max(abs(a - b) for a, b in zip(got, want)) <= 1  # noqa: E731  (float64 against float32)
    assert close(drawn["first"], grey([0.5, -1.0, 2.0])), "the slider's value should replace z[2]"
    assert close(drawn["moved"], grey([0.5, -1.0, -2.0])), "moving the slider should redraw with its new value"
    assert close(drawn["kernel"], grey([0.0, 1.0, -2.0])), "a z from the kernel sets the dimensions without a slider"
    assert close(unreachable, grey([0.0, 1.0, 1.5])), "without the sliders the page should draw the kernel's z"


def test_latent_slider_redraws_in_jupyterlab(sync_playwright, tmp_path):
    path = notebook("*_latent_space.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with lab_server(tmp_path, [path]) as (url, token, root), sync_playwright() as p, \
            chromium_page(p, tmp_path / "chromium") as page:
        try:
            run_all(page, url, token, path.name)
            explorer = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-slider")).first
            explorer.scroll_into_view_if_needed()
            picture = explorer.locator("canvas.vae-lite-decoded").first  # decoded in the page, by decoder.js
            caption = explorer.locator(".widget-label", has_text="mean ink").first
            readout = explorer.locator(".widget-readout").first
            pixels_before = _canvas_pixels(page, picture)
            # the readout prints negative numbers with a Unicode minus sign
            readout_before = readout.inner_text().strip().replace("\u2212", "-")

            handle = explorer.locator(".widget-slider .noUi-handle").first
            times = key_to_picture_ms(page, handle, picture, presses=4)
            pixels_after = _canvas_pixels(page, picture)
            # the kernel writes the caption after it decoded the new z too: wait until it names
            # the value the slider's readout shows now
            page.wait_for_function(
                """([label, readout, before]) => {
                    const value = readout.innerText.trim().replace('\u2212', '-');
                    return value !== before && label.innerText.includes('= ' + value + ';');
                }""",
                arg=[caption.element_handle(), readout.element_handle(), readout_before], timeout=20_000)
            readout_after = readout.inner_text().strip().replace("\u2212", "-")
            page.screenshot(path=str(ARTIFACTS / "browser_latent_explorer.png"), full_page=False)

            assert float(readout_after) != float(readout_before), \
                f"the arrow keys should move the slider: readout {readout_before} -> {readout_after}"
            assert pixels_after != pixels_before, "the decoded image did not change after the slider moved"
            # the caption comes from the kernel, which decoded the same z: its mean ink is the
            # page's, up to the grey levels' rounding (1/510) and the caption's 3 decimals
            assert f"= {readout_after};" in caption.inner_text(), \
                f"the kernel's caption {caption.inner_text()!r} does not show the slider's value {readout_after}"
            kernel_ink = float(caption.inner_text().rsplit("mean ink", 1)[1])
            page_ink = 1 - sum(pixels_after) / (255 * len(pixels_after))
            assert abs(page_ink - kernel_ink) <= 0.0025, \
                f"the page drew mean ink {page_ink:.4f}, the kernel decoded {kernel_ink:.3f}: not the same picture"
            print(f"browser test: slider {readout_before} -> {readout_after}; key to picture "
                  f"{', '.join(f'{t:.0f}' for t in times)} ms; mean ink page {page_ink:.4f}, kernel {kernel_ink:.3f}; "
                  f"total {time.monotonic() - started:.1f} s")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_latent_failure.png"))
            raise


# ------------------------------------------------ notebook 11: drawing, conditional explorer


def _map_fingerprint(page, canvas):
    """A checksum of the latent map's pixels, as the browser drew them."""
    return page.evaluate(
        """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0; return h; }""",
        canvas.element_handle())


def test_drawing_and_conditional_explorers_in_jupyterlab(sync_playwright, tmp_path):
    path = notebook("11_*.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with lab_server(tmp_path, [path]) as (url, token, root), sync_playwright() as p, \
            chromium_page(p, tmp_path / "chromium") as page:
        try:
            run_seconds = run_all(page, url, token, path.name)

            # -- draw a stroke with the mouse
            canvas = page.locator("canvas.vae-lite-drawing").first
            canvas.scroll_into_view_if_needed()
            latent_map = page.locator("canvas.vae-lite-latent-map").first
            readout = page.locator(".vae-lite-readout").first
            reconstruction = page.locator("img.vae-lite-reconstruction").first
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=reconstruction.element_handle())
            readout_before, map_before = readout.inner_text(), _map_fingerprint(page, latent_map)
            _, picture_before = _image_bytes(page, reconstruction)
            box = canvas.bounding_box()
            _watch(page, canvas, "mouseup", reconstruction)
            page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.15 * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.85 * box["height"], steps=12)
            page.mouse.up()
            stroke_ms = _measured(page, 1)
            page.wait_for_function("([r, before]) => r.innerText !== before",
                                   arg=[readout.element_handle(), readout_before], timeout=20_000)
            page.wait_for_function(f"(c) => {{ const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                                   f" let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;"
                                   f" return h !== {map_before}; }}", arg=latent_map.element_handle(), timeout=20_000)
            _, picture_after = _image_bytes(page, reconstruction)
            assert "μ = (" in readout.inner_text(), f"the readout shows no posterior: {readout.inner_text()!r}"
            assert picture_after != picture_before, "the reconstruction did not change after the stroke"
            page.screenshot(path=str(ARTIFACTS / "browser_11_drawing.png"), full_page=False)

            # -- pick another class in the conditional explorer
            picker = page.locator(".vae-lite-class-picker").first
            picker.scroll_into_view_if_needed()
            picture = page.locator("img.vae-lite-conditional-picture").first
            caption = page.locator(".vae-lite-conditional-caption").first
            _, class_before = _image_bytes(page, picture)
            caption_before = caption.inner_text()
            buttons = picker.locator("button")
            assert buttons.count() >= 2, "the class picker shows no buttons"
            selected = [i for i in range(buttons.count()) if "mod-active" in (buttons.nth(i).get_attribute("class") or "")]
            other = buttons.nth((selected[0] + 1) % buttons.count() if selected else 1)
            _watch(page, picker, "click", picture)
            other.click()
            class_ms = _measured(page, 1)
            page.wait_for_function("([c, before]) => c.innerText !== before",
                                   arg=[caption.element_handle(), caption_before], timeout=20_000)
            _, class_after = _image_bytes(page, picture)
            assert class_after != class_before, "picking another class did not change the picture"
            assert caption.inner_text().startswith(f"class {other.inner_text().strip()},"), \
                f"the kernel's caption {caption.inner_text()!r} does not name the class picked"

            # -- and its style slider, key by key
            explorer = page.locator(".jp-OutputArea-output").filter(has=picker)
            key_times = key_to_picture_ms(page, explorer.locator(".widget-slider .noUi-handle").first, picture, 10)
            page.screenshot(path=str(ARTIFACTS / "browser_11_conditional.png"), full_page=False)
            print(f"browser test, notebook 11: Run All {run_seconds:.1f} s; end of stroke to new reconstruction "
                  f"{stroke_ms:.0f} ms; class click to picture {class_ms:.0f} ms; style key to picture "
                  f"{summary(key_times)}")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_11_failure.png"))
            raise
