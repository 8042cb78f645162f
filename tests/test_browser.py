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
after the image's load event or the decoded canvas's "drawn" event) and printed. Screenshots go to
tests/artifacts/. The helpers (lab_server, chromium_page, run_all, key_to_picture_ms) are in
tools/lab.py, which benchmarks/widget_redraw.py --browser uses too.

Needs /usr/bin/chromium (Debian's `chromium`) and the playwright package, never playwright's
own browser download. Without them the tests are skipped, unless VAE_LITE_REQUIRE_BROWSER=1
(CI), where they fail instead.
"""

import base64
import os
import time
from pathlib import Path

import pytest
from lab import (
    CHROMIUM, ROOT, chromium_page, image_bytes, key_to_picture_ms, lab_server, measured, notebook, run_all, summary,
    watch,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.browser


def _missing(reason):
    if os.environ.get("VAE_LITE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but VAE_LITE_REQUIRE_BROWSER=1 says the browser test must run "
                    "(apt-get install chromium; pip install playwright)")
    pytest.skip(reason)


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
            _, picture_before = image_bytes(page, reconstruction)
            box = canvas.bounding_box()
            watch(page, canvas, "mouseup", reconstruction)
            page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.15 * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.85 * box["height"], steps=12)
            page.mouse.up()
            stroke_ms = measured(page, 1)
            page.wait_for_function("([r, before]) => r.innerText !== before",
                                   arg=[readout.element_handle(), readout_before], timeout=20_000)
            page.wait_for_function(f"(c) => {{ const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                                   f" let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;"
                                   f" return h !== {map_before}; }}", arg=latent_map.element_handle(), timeout=20_000)
            _, picture_after = image_bytes(page, reconstruction)
            assert "μ = (" in readout.inner_text(), f"the readout shows no posterior: {readout.inner_text()!r}"
            assert picture_after != picture_before, "the reconstruction did not change after the stroke"
            page.screenshot(path=str(ARTIFACTS / "browser_11_drawing.png"), full_page=False)

            # -- pick another class in the conditional explorer
            picker = page.locator(".vae-lite-class-picker").first
            picker.scroll_into_view_if_needed()
            picture = page.locator("img.vae-lite-conditional-picture").first
            caption = page.locator(".vae-lite-conditional-caption").first
            _, class_before = image_bytes(page, picture)
            caption_before = caption.inner_text()
            buttons = picker.locator("button")
            assert buttons.count() >= 2, "the class picker shows no buttons"
            selected = [i for i in range(buttons.count()) if "mod-active" in (buttons.nth(i).get_attribute("class") or "")]
            other = buttons.nth((selected[0] + 1) % buttons.count() if selected else 1)
            watch(page, picker, "click", picture)
            other.click()
            class_ms = measured(page, 1)
            page.wait_for_function("([c, before]) => c.innerText !== before",
                                   arg=[caption.element_handle(), caption_before], timeout=20_000)
            _, class_after = image_bytes(page, picture)
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
