"""The explorers' JavaScript in a real browser: headless Chromium, driven by playwright.

- networks.js, imported into a blank page, runs each kind of network (MLP and conv decoders, a conv
  encoder, a conditional decoder) as PyTorch does with the same 8-bit weights
  (widgets.page_weights), and prepares a drawing as numpy does (conditional_widgets);
- in JupyterLab (started as `make lab` does, a copy of each notebook run in quick mode), the
  latent explorer of notebook 07 and notebook 11's explorers draw in the page: a key press on a
  slider, a click on a class, a stroke on the canvas change the picture, which is what PyTorch
  computes for the page's input. Times from the key press (click, end of stroke) to the new
  picture are measured inside the page and printed.

The helpers (lab_server, chromium_page, run_all, key_to_picture_ms) are in tools/lab.py, which
benchmarks/widget_redraw.py --browser uses too; tests/test_site.py does the same on the static site.
Needs /usr/bin/chromium (Debian's `chromium`) and the playwright package, never playwright's own
browser download. Without them the tests are skipped, unless VAE_LITE_REQUIRE_BROWSER=1 (CI).
"""

import os
import time
from pathlib import Path

import pytest
import torch
from lab import (
    CHROMIUM, ROOT, chromium_page, explorer_state, key_to_picture_ms, lab_server, measured, notebook, run_all, summary,
    watch,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NETWORKS_JS = (ROOT / "vae_lite" / "networks.js").read_text()

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _missing(reason):
    if os.environ.get("VAE_LITE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but VAE_LITE_REQUIRE_BROWSER=1 says the browser test must run "
                    "(apt-get install chromium; pip install playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module: a second one started while the first runs has no event loop of its own."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} not found (Debian package `chromium`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def blank_page(playwright, tmp_path_factory):
    """A blank page of Chromium with networks.js imported as window.networks."""
    with chromium_page(playwright, tmp_path_factory.mktemp("chromium")) as page:
        page.evaluate("""async (source) => {
            const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
            window.networks = await import(url);
        }""", NETWORKS_JS)
        yield page


def as_lists(layers):
    """Stored layers with their bytes as lists of byte values, to hand to the page."""
    return [{k: (list(v) if isinstance(v, bytes) else v) for k, v in layer.items()} for layer in layers]


RUN = """([layers, inputs, shape]) => {
    const bytes = (list) => new DataView(Uint8Array.from(list).buffer);
    const spec = layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) =>
        [k, ['weight', 'scale', 'bias'].includes(k) ? bytes(v) : v])));
    const net = networks.layersOf(spec);
    return inputs.map((x) => Array.from(networks.run(net, x, shape)));
}"""


def networks_under_test():
    """(name, module, inputs, shape of one input) for each kind of network the explorers run."""
    import vae_lite
    from vae_lite.variants import ConditionalVAE

    torch.manual_seed(0)
    mlp = vae_lite.VAE((1, 6, 5), latent_dim=3, hidden=[7, 4])
    conv = vae_lite.VAE((1, 9, 7), latent_dim=2, hidden=8, arch="conv")
    cvae = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=8, arch="conv")
    z = torch.randn(4, 3)
    return [("mlp decoder", mlp.decoder, z, [3]),
            ("conv decoder", conv.decoder, z[:, :2], [2]),
            ("conv encoder", conv.encoder, torch.rand(3, 1, 9, 7), [1, 9, 7]),
            # the conditional decoder reads [z, one-hot y]
            ("conditional conv decoder", cvae.decoder, torch.cat([z[:, :2], torch.eye(3)[[0, 2, 1, 1]]], 1), [5])]


@pytest.mark.parametrize("case", range(4), ids=lambda i: networks_under_test()[i][0])
def test_networks_js_runs_each_network_as_pytorch_does(blank_page, case):
    from vae_lite.widgets import network_layers, page_weights

    name, module, inputs, shape = networks_under_test()[case]
    outputs = blank_page.evaluate(RUN, [as_lists(network_layers(module)), inputs.flatten(1).tolist(), shape])
    with torch.no_grad():
        expected = page_weights(module)(inputs.reshape(len(inputs), *shape)).flatten(1)
    got = torch.tensor(outputs)
    assert got.shape == expected.shape, f"{name}: shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}"
    assert torch.allclose(got, expected, atol=1e-5), f"{name}: networks.js differs from PyTorch by {(got - expected).abs().max():.2g}"


def test_a_drawing_becomes_the_same_input_in_the_page_and_in_numpy(blank_page):
    from vae_lite.conditional_widgets import centred_like_data, ink_of_strokes

    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        strokes = [(20 + 240 * torch.rand(int(torch.randint(1, 6, (1,), generator=generator)), 2,
                                          generator=generator)).tolist() for _ in range(2)]
        page = blank_page.evaluate("""([strokes]) => {
            const ink = networks.inkOfStrokes(strokes, 280, 22);
            return [Array.from(ink), Array.from(networks.centredLikeData(ink, 280, [28, 28], 0.7))];
        }""", [strokes])
        ink = ink_of_strokes(strokes, 280, 22)
        assert (torch.tensor(page[0]) == torch.from_numpy(ink).flatten()).all(), "the ink differs"
        expected = torch.from_numpy(centred_like_data(ink, (28, 28), 0.7)).flatten()
        assert torch.allclose(torch.tensor(page[1], dtype=torch.float64), expected, atol=1e-12)


def test_the_page_scores_with_the_packages_formulas(blank_page):
    from vae_lite.objectives import bernoulli_log_likelihood, kl_standard_normal

    torch.manual_seed(2)
    logits, x = 4 * torch.randn(1, 1, 3, 4, dtype=torch.float64), torch.rand(1, 1, 3, 4, dtype=torch.float64)
    mu, logvar = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    page = blank_page.evaluate("""([l, x, mu, logvar]) =>
        [networks.bernoulliLogLikelihood(l, x), networks.klStandardNormal(mu, logvar)]""",
                               [logits.flatten().tolist(), x.flatten().tolist(), mu.tolist(), logvar.tolist()])
    assert page[0] == pytest.approx(bernoulli_log_likelihood(logits, x).item(), rel=1e-12)
    assert page[1] == pytest.approx(kl_standard_normal(mu, logvar).item(), rel=1e-12)


# ------------------------------------------------------------ in JupyterLab, as a student


def largest_difference(page_values, expected):
    return (torch.tensor(page_values, dtype=torch.float64) - expected.double().flatten()).abs().max().item()


def test_latent_slider_redraws_in_jupyterlab(playwright, tmp_path):
    import vae_lite
    from vae_lite import pretrained, widgets

    path = notebook("*_latent_space.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with lab_server(tmp_path, [path]) as (url, token, root), chromium_page(playwright, tmp_path / "chromium") as page:
        try:
            run_all(page, url, token, path.name)
            explorer = page.locator(".vae-lite-explorer.vae-lite-latent").first
            explorer.scroll_into_view_if_needed()
            picture = explorer.locator("canvas.vae-lite-decoded").first
            before = explorer_state(explorer)
            times = key_to_picture_ms(page, explorer.locator("input[type=range]").first, picture, presses=4)
            after = explorer_state(explorer)
            page.screenshot(path=str(ARTIFACTS / "browser_latent_explorer.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_latent_failure.png"))
            raise
    assert after["z"] != before["z"] and after["x"] != before["x"], "the arrow keys did not change z and the picture"
    model = widgets.page_model(pretrained.default_model(vae_lite.load_dataset("mnist")))
    with torch.no_grad():
        difference = largest_difference(after["x"], model.decode(torch.tensor([after["z"]])))
    assert difference <= 1e-4, f"the page drew another picture than PyTorch decodes for its z ({difference:.2g})"
    print(f"browser test: key to picture {summary(times)}; total {time.monotonic() - started:.1f} s")


def test_drawing_and_conditional_explorers_in_jupyterlab(playwright, tmp_path):
    import vae_lite
    from vae_lite import pretrained, widgets

    path = notebook("11_*.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with lab_server(tmp_path, [path]) as (url, token, root), chromium_page(playwright, tmp_path / "chromium") as page:
        try:
            run_seconds = run_all(page, url, token, path.name)
            drawing = page.locator(".vae-lite-explorer.vae-lite-drawing").first
            pad = drawing.locator("canvas.vae-lite-drawing")
            pad.scroll_into_view_if_needed()
            before = explorer_state(drawing)
            box = pad.bounding_box()
            watch(page, pad, "pointerup", drawing.locator("canvas.vae-lite-map-overlay"))
            page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.15 * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.85 * box["height"], steps=12)
            page.mouse.up()
            stroke_ms = measured(page, 1)
            drawn = explorer_state(drawing)
            page.screenshot(path=str(ARTIFACTS / "browser_11_drawing.png"), full_page=False)

            conditional = page.locator(".vae-lite-explorer.vae-lite-conditional").first
            conditional.scroll_into_view_if_needed()
            picture = conditional.locator("canvas.vae-lite-decoded")
            label = explorer_state(conditional)["label"]
            buttons = conditional.locator(".vae-lite-class-picker button")
            watch(page, conditional.locator(".vae-lite-class-picker"), "click", picture)
            buttons.nth((label + 1) % buttons.count()).click()
            class_ms = measured(page, 1)
            key_times = key_to_picture_ms(page, conditional.locator("input[type=range]").first, picture, 10)
            styled = explorer_state(conditional)
            page.screenshot(path=str(ARTIFACTS / "browser_11_conditional.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_11_failure.png"))
            raise
    assert drawn.get("strokes") and drawn != before, "the stroke did not change what the page shows"
    assert styled["label"] == (label + 1) % 10, "the click did not pick the next class"
    models = pretrained.conditional_models(vae_lite.load_dataset("mnist"))
    vae_2d, cvae = widgets.page_model(models.vae_2d), widgets.page_model(models.cvae)
    with torch.no_grad():
        mu, _ = vae_2d.encode(torch.tensor(drawn["x"], dtype=torch.float32).reshape(1, 1, 28, 28))
        decoded = cvae.decode(torch.tensor([styled["z"]]), torch.tensor([styled["label"]]))
    assert largest_difference(drawn["mu"], mu) <= 1e-4, "the page encoded the drawing otherwise than PyTorch"
    assert largest_difference(styled["x"], decoded) <= 1e-4, "the page decoded the style otherwise than PyTorch"
    print(f"browser test, notebook 11: Run All {run_seconds:.1f} s; end of stroke to ellipse {stroke_ms:.0f} ms; "
          f"class click to picture {class_ms:.0f} ms; style key to picture {summary(key_times)}")
