"""The static site (`make site`) as a visitor sees it: built from the stored notebooks into a
temporary folder, served on 127.0.0.1, and opened page by page in headless Chromium.

- every page loads with no console error, and no request leaves 127.0.0.1 (the HTML manager,
  MathJax and the explorers' JavaScript are all in the folder);
- every explorer a notebook stores is drawn in its page, with no kernel;
- moving each slider (with the keyboard), clicking a class, drawing a stroke, changes the picture;
- each picture is what PyTorch computes for the same input: within 1e-4 of the model with the
  page's 8-bit weights (widgets.page_model: the same arithmetic), and within the stated tolerance
  of the model itself (PAGE_TOLERANCE: what 8-bit weights cost, measured in tests/test_widgets.py
  and tests/test_browser.py).

Screenshots of notebooks 07 and 11 after a slider move go to tests/artifacts/ (the README's come
from there). Needs node_modules (npm ci; make setup runs it) and Debian's Chromium; without them
the test is skipped, unless VAE_LITE_REQUIRE_BROWSER=1 (CI), where it fails.
"""

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_lite
from lab import CHROMIUM, NOTEBOOKS, ROOT, chromium_page, explorer_state, static_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PAGE_TOLERANCE = {"pixel": 0.1, "mean pixel": 0.005, "code": 0.1, "elbo": 2.0}  # page (8-bit weights) against the model
SAME_ARITHMETIC = 1e-4  # page against the model with the page's weights

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _missing(reason):
    if os.environ.get("VAE_LITE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but VAE_LITE_REQUIRE_BROWSER=1 says the site test must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from the stored notebooks, as `make site` builds it; the build's wall time."""
    if not (ROOT / "node_modules" / ".bin" / "esbuild").exists():
        _missing("node_modules/ is missing: run `npm ci` (make setup does)")
    import build_site

    started = time.monotonic()
    out = build_site.build(tmp_path_factory.mktemp("site") / "site")
    return out, time.monotonic() - started


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    """(page, url): one Chromium page and the site served on 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} not found (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with static_server(site[0]) as url, sync_playwright() as p, \
            chromium_page(p, tmp_path_factory.mktemp("chromium")) as page:
        yield page, url


def visit(page, url):
    """Open a page and wait for its widgets; returns (console errors, requests that left 127.0.0.1)."""
    errors, offsite = [], []
    host = re.match(r"http://127\.0\.0\.1:\d+/", url).group(0)
    on_console = lambda m: m.type == "error" and errors.append(f"{m.text} at {m.location.get('url')}")  # noqa: E731
    on_error = lambda e: errors.append(str(e))  # noqa: E731
    on_request = lambda r: r.url.startswith((host, "data:", "blob:")) or offsite.append(r.url)  # noqa: E731
    page.on("console", on_console)
    page.on("pageerror", on_error)
    page.on("request", on_request)
    try:
        page.goto(url)
        if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
            page.wait_for_function("document.documentElement.dataset.widgets === 'rendered'", timeout=60_000)
        # MathJax typesets, and loads its fonts, after the load event
        page.evaluate("async () => { await window.MathJax?.startup?.promise; await document.fonts.ready; }")
        page.wait_for_timeout(300)
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_error)
        page.remove_listener("request", on_request)
    return errors, offsite


def stored_explorers(path):
    """The kinds of the vae_lite explorers a stored notebook shows, in order."""
    nb = json.loads(path.read_text())
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    kinds = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            model = state.get(view["model_id"], {}) if view else {}
            if model.get("model_name") == "AnyModel" and model["state"].get("kind"):
                kinds.append(model["state"]["kind"])
    return kinds


def test_every_page_loads_offline_with_its_explorers_and_without_errors(site, browser):
    page, url = browser
    out, seconds = site
    pages = sorted(p.name for p in out.glob("*.html"))
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert {f"{p.stem}.html" for p in notebooks} <= set(pages), "a notebook has no page"
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    assert size <= 30, f"the site is {size:.1f} MB, over 30 MB"
    for name in pages:
        errors, offsite = visit(page, f"{url}/{name}")
        assert not errors, f"{name}: console errors {errors}"
        assert not offsite, f"{name}: requests left 127.0.0.1: {offsite}"
        assert page.locator("img:not([alt])").count() == 0, f"{name}: an image without alt text"
        source = NOTEBOOKS / name.replace(".html", ".ipynb")
        if source.exists():
            kinds = stored_explorers(source)
            drawn = [e.get_attribute("class") for e in page.locator(".vae-lite-explorer").all()]
            assert [c.split("vae-lite-")[-1] for c in drawn] == kinds, f"{name}: explorers drawn {drawn}, stored {kinds}"
            for picture in page.locator(".vae-lite-explorer [role=img]").all():
                assert picture.get_attribute("aria-label"), f"{name}: a picture without a label"
    print(f"site: {len(pages)} pages, {size:.1f} MB, built in {seconds:.0f} s")


# -------------------------------------------------------- moving every control, checked against PyTorch


def press(page, slider, key="ArrowRight"):
    """Move an <input type=range> one step with the keyboard, towards the end it is farther from."""
    value, low, high = slider.evaluate("(s) => [+s.value, +s.min, +s.max]")
    slider.focus()
    page.keyboard.press(key if high - value >= value - low else "ArrowLeft")


def moved(page, explorer, control, act):
    """Act on a control; the explorer's state before and after, and whether its main picture changed."""
    before = explorer_state(explorer)
    main = explorer.locator(".vae-lite-decoded")  # the decoder's picture, where there is one
    main = (main if main.count() else explorer.locator(".vae-lite-picture")).first
    pixels = lambda: main.evaluate("(c) => c.tagName === 'CANVAS' ? c.toDataURL() : c.outerHTML")  # noqa: E731
    picture = pixels()
    act(control)
    after = explorer_state(explorer)
    return before, after, pixels() != picture


def close(page_values, torch_values, tolerance, what):
    got, want = torch.tensor(page_values, dtype=torch.float64), torch.as_tensor(want_of(torch_values)).double()
    error = (got - want.reshape(got.shape)).abs().max().item()
    assert error <= tolerance, f"{what}: the page and PyTorch differ by {error:.2g} (tolerance {tolerance})"
    return error


def want_of(values):
    return values.detach() if torch.is_tensor(values) else values


@pytest.fixture(scope="module")
def mnist():
    return vae_lite.load_dataset("mnist")


def test_latent_space_explorers_follow_their_sliders_and_draw_what_pytorch_decodes(browser, mnist):
    from vae_lite import pretrained, widgets

    page, url = browser
    visit(page, f"{url}/07_latent_space.html")
    model = pretrained.default_model(mnist)
    same = widgets.page_model(model)
    latent = page.locator(".vae-lite-explorer.vae-lite-latent").first
    sliders = latent.locator("input[type=range]").all()
    assert len(sliders) >= 2
    for k, slider in enumerate(sliders):
        before, after, changed = moved(page, latent, slider, lambda s: press(page, s))
        assert after["z"] != before["z"], f"latent slider {k} did not move z"
        assert changed or k > 0, "moving the first latent slider did not change the picture"
        z = torch.tensor(after["z"]).unsqueeze(0)
        with torch.no_grad():
            close(after["x"], same.decode(z), SAME_ARITHMETIC, "latent explorer, the page's weights")
            full = model.decode(z).flatten()
        close(after["x"], full, PAGE_TOLERANCE["pixel"], "latent explorer, the model")
        assert abs(np.mean(after["x"]) - full.mean().item()) <= PAGE_TOLERANCE["mean pixel"]
    ARTIFACTS.mkdir(exist_ok=True)
    latent.screenshot(path=str(ARTIFACTS / "site_07_latent.png"))  # the README's picture (docs/site_07.png)

    interpolation = page.locator(".vae-lite-explorer.vae-lite-interpolation").first
    before, after, changed = moved(page, interpolation, interpolation.locator("input[type=range]").first,
                                   lambda s: press(page, s))
    assert changed and after["t"] != before["t"], "moving t did not change the picture"
    with torch.no_grad():
        mu, _ = model.encode(torch.tensor([after["a"], after["b"]]).reshape(2, 1, 28, 28))
        z = (1 - after["t"]) * mu[0] + after["t"] * mu[1]
        close(after["z"], z, 1e-3, "interpolation's z")
        close(after["x"], same.decode(torch.tensor([after["z"]])), SAME_ARITHMETIC, "interpolation, the page's weights")
        close(after["x"], model.decode(z.unsqueeze(0)), PAGE_TOLERANCE["pixel"], "interpolation, the model")
    select = interpolation.locator("select").first
    before, after, changed = moved(page, interpolation, select, lambda s: s.select_option(index=3))
    assert after["a"] != before["a"], "picking another image A did not change it"


@pytest.mark.parametrize("name, kind", [("04_closed_form_kl", "kl"), ("03_reparameterization", "reparameterization")])
def test_closed_form_explorers_compute_what_the_package_computes(browser, name, kind):
    from vae_lite import widgets

    page, url = browser
    visit(page, f"{url}/{name}.html")
    explorer = page.locator(f".vae-lite-explorer.vae-lite-{kind}").first
    for slider in explorer.locator("input[type=range]").all():
        before, after, changed = moved(page, explorer, slider, lambda s: press(page, s))
        assert changed, f"{kind}: moving a slider did not change the figure"
        if kind == "kl":
            expected = widgets.KLExplorer(mu=after["mu"], sigma=after["sigma"]).compute()
            close([after["closed"], after["monte_carlo"], after["standard_error"]], expected, 1e-6, "KL explorer")
        else:
            reference = widgets.ReparameterizationExplorer(mu=after["mu"], sigma=after["sigma"], seed=after["seed"])
            expected = reference.compute()
            close(after["pathwise"], expected["pathwise"], 1e-6, "pathwise gradients")
            close(after["score_function"], expected["score function"], 1e-6, "score-function gradients")
    if kind == "reparameterization":
        before, after, changed = moved(page, explorer, explorer.locator("button").first, lambda b: b.click())
        assert changed and after["seed"] == before["seed"] + 1, "new eps did not take new draws"


def test_conditional_and_drawing_explorers_follow_the_student_and_match_pytorch(browser, mnist):
    from vae_lite import conditional_widgets, pretrained, widgets
    from vae_lite.objectives import elbo

    page, url = browser
    visit(page, f"{url}/11_conditional_vae.html")
    models = pretrained.conditional_models(mnist)
    cvae, same_cvae = models.cvae, widgets.page_model(models.cvae)
    explorer = page.locator(".vae-lite-explorer.vae-lite-conditional").first
    buttons = explorer.locator(".vae-lite-class-picker button").all()
    before, after, changed = moved(page, explorer, buttons[(explorer_state(explorer)["label"] + 1) % len(buttons)],
                                   lambda b: b.click())
    assert changed and after["label"] != before["label"], "picking another class did not change the picture"
    for k, slider in enumerate(explorer.locator("input[type=range]").all()):
        before, after, changed = moved(page, explorer, slider, lambda s: press(page, s))
        assert after["z"] != before["z"], f"style slider {k} did not move z"
        z, y = torch.tensor([after["z"]]), torch.tensor([after["label"]])
        with torch.no_grad():
            close(after["x"], same_cvae.decode(z, y), SAME_ARITHMETIC, "conditional explorer, the page's weights")
            close(after["x"], cvae.decode(z, y), PAGE_TOLERANCE["pixel"], "conditional explorer, the model")
    ARTIFACTS.mkdir(exist_ok=True)
    explorer.screenshot(path=str(ARTIFACTS / "site_11_conditional.png"))  # the README's picture (docs/site_11.png)

    drawing = page.locator(".vae-lite-explorer.vae-lite-drawing").first
    pad = drawing.locator("canvas.vae-lite-drawing")
    drawing.locator("button", has_text="clear").click()
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()

    def stroke(_):
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.25 * box["height"], steps=6)
        page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.85 * box["height"], steps=10)
        page.mouse.up()

    before, after, changed = moved(page, drawing, pad, stroke)
    assert after.get("strokes") and after != before, "a stroke did not change what the page shows"
    ink = conditional_widgets.ink_of_strokes(after["strokes"], after["size"], after["pen"])
    x = conditional_widgets.centred_like_data(ink, (28, 28), after["extent"])
    close(after["x"], x, 1e-9, "the drawing prepared as the data were (networks.js against numpy)")
    vae_2d, same_2d = models.vae_2d, widgets.page_model(models.vae_2d)
    x = torch.tensor(after["x"], dtype=torch.float32).reshape(1, 1, 28, 28)
    with torch.no_grad():
        for model, tolerance, what in ((same_2d, SAME_ARITHMETIC, "the page's weights"), (vae_2d, None, "the model")):
            mu, logvar = model.encode(x)
            score = elbo(model, x, samples=8, generator=torch.Generator().manual_seed(0)).elbo
            close(after["mu"], mu, tolerance or PAGE_TOLERANCE["code"], f"drawing's mu, {what}")
            close(after["logvar"], logvar, tolerance or PAGE_TOLERANCE["code"], f"drawing's log sigma^2, {what}")
            close([after["elbo"]], score, 100 * (tolerance or PAGE_TOLERANCE["elbo"] / 100), f"drawing's ELBO, {what}")
    drawing.screenshot(path=str(ARTIFACTS / "site_11_drawing.png"))
    before, after, changed = moved(page, drawing, drawing.locator("button", has_text="test image"), lambda b: b.click())
    assert after.get("test", -1) >= 0 and after["x"] != before["x"], f"using a test image did not encode it: {after.keys()}"
