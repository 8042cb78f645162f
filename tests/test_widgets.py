"""The explorers' update logic, without a browser: set a slider, check what is shown."""

import base64
import io
import math
from pathlib import Path

import ipywidgets
import numpy as np
import pytest
import torch

from PIL import Image

import vae_lite
from vae_lite import widgets
from vae_lite.latent import kl_per_dimension
from vae_lite.variants import ConditionalVAE
from vae_lite.objectives import kl_standard_normal


def png_size(data):
    """Width and height of PNG bytes, or of a PNG data: URL (the latent explorer's picture)."""
    data = bytes(data)
    if data.startswith(b"data:image/png;base64,"):
        data = base64.b64decode(data.split(b",", 1)[1])
    return Image.open(io.BytesIO(data)).size


# ------------------------------------------------------------------------ KL explorer


def test_kl_explorer_closed_form_follows_the_sliders():
    explorer = widgets.kl_explorer()
    before = explorer.image.value
    explorer.mu.value, explorer.sigma.value = -1.5, 2.0
    expected = kl_standard_normal(torch.tensor([-1.5], dtype=torch.float64),
                                  torch.tensor([math.log(2.0**2)], dtype=torch.float64)).item()
    assert explorer.closed_form == pytest.approx(expected, rel=1e-12)
    assert explorer.image.value != before, "the figure did not change when mu and sigma moved"
    assert f"{expected:.4f}" in explorer.numbers.value


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.0, 0.5), (-2.0, 0.3), (0.5, 2.5)])
def test_kl_explorer_monte_carlo_agrees_with_closed_form(mu, sigma):
    explorer = widgets.kl_explorer(mu=mu, sigma=sigma, samples=4000)
    if (mu, sigma) == (0.0, 1.0):
        # q equals p: every sample's log-ratio is exactly 0
        assert explorer.closed_form == 0 and abs(explorer.monte_carlo) < 1e-12
    else:
        assert abs(explorer.monte_carlo - explorer.closed_form) < 4 * explorer.standard_error


# ------------------------------------------------------------- reparameterization explorer


def test_reparameterization_explorer_follows_the_sliders():
    explorer = widgets.reparameterization_explorer(samples=2000)
    before = explorer.image.value
    explorer.mu.value, explorer.sigma.value = -1.0, 1.5
    assert explorer.image.value != before
    assert explorer.results["exact"] == (-2.0, 3.0)
    assert torch.allclose(explorer.z, -1.0 + 1.5 * explorer.eps)
    for name in ("pathwise", "score function"):
        d_mu, d_sigma, se_mu, se_sigma = explorer.results[name]
        assert abs(d_mu + 2.0) < 4 * se_mu and abs(d_sigma - 3.0) < 4 * se_sigma, name
    # the point of the trick: the pathwise estimate is far less noisy
    assert explorer.results["pathwise"][2] < explorer.results["score function"][2] / 2
    assert "-2.000" in explorer.numbers.value


def test_reparameterization_explorer_new_eps_changes_samples():
    explorer = widgets.reparameterization_explorer()
    eps, image = explorer.eps.clone(), explorer.image.value
    explorer.resample_button.click()
    assert not torch.equal(eps, explorer.eps) and explorer.image.value != image


# --------------------------------------------------------------------- latent explorer


def test_latent_explorer_decodes_the_slider_values(small_vae, digits):
    explorer = widgets.latent_explorer(small_vae, digits, max_sliders=4)
    assert len(explorer.sliders) == 4
    slider, d = explorer.sliders[1], explorer.dims[1]
    slider.value = 2.0
    assert explorer.z[d].item() == pytest.approx(2.0)
    expected = small_vae.decode(explorer.z.unsqueeze(0))[0, 0]
    assert torch.allclose(explorer.decoded, expected)
    assert explorer.caption.value.startswith(f"z[{d}] = 2.00; mean ink {expected.mean():.3f}")
    explorer.reset()
    assert explorer.z[d].item() == 0.0 and slider.value == 0.0


def test_latent_explorer_gives_the_page_what_it_needs_to_decode_an_mlp(small_vae, digits):
    """The page decodes z itself (decoder.js; tests/test_browser.py runs it against the model):
    it gets the decoder's weights as float32, the sliders, which dimension each one sets, and
    the values of the others."""
    image = digits.test[3]
    explorer = widgets.latent_explorer(small_vae, digits, start=image, max_sliders=4)
    picture = explorer.picture
    assert isinstance(picture, widgets.BrowserDecoder)
    linears = [m for m in small_vae.decoder.net if isinstance(m, torch.nn.Linear)]
    assert len(picture.layers) == len(linears) == 2
    for sent, layer in zip(picture.layers, linears):
        weight = torch.frombuffer(bytearray(sent["weight"]), dtype=torch.float32).reshape(layer.weight.shape)
        assert torch.equal(weight, layer.weight) and torch.equal(
            torch.frombuffer(bytearray(sent["bias"]), dtype=torch.float32), layer.bias)
    assert picture.sliders == explorer.sliders and picture.dims == explorer.dims
    assert picture.z == pytest.approx(explorer.z.tolist()) and picture.image_size == [8, 8]
    state = picture.get_state()
    assert state["sliders"] == [f"IPY_MODEL_{s.model_id}" for s in explorer.sliders]


def test_latent_explorer_sends_the_caption_and_z_when_the_page_moves_a_slider(small_vae, digits):
    """A slider move from the page: the page has drawn the picture already, so the kernel sends
    its caption and the new z (a few hundred bytes, no picture), and no echo of the slider's value."""
    explorer = widgets.latent_explorer(small_vae, digits, max_sliders=2)
    slider = explorer.sliders[0]
    sent = []
    for widget in (slider, explorer.caption, explorer.picture):
        widget._send = lambda msg, buffers=None, widget=widget: sent.append((widget, msg["method"]))
    slider.set_state({"value": 1.5})  # what the comm does with a value from the page
    assert explorer.z[explorer.dims[0]].item() == pytest.approx(1.5)
    assert sent == [(explorer.caption, "update"), (explorer.picture, "update")], sent
    assert explorer.picture.z == pytest.approx(explorer.z.tolist())
    slider.value = 9.0  # the slider still clips to its range
    assert slider.value == slider.max


class SharperVAE(vae_lite.VAE):
    """A student's variation: an MLP decoder, but not the decode that decoder.js computes."""

    def decode(self, z):
        return torch.sigmoid(2 * self.decoder(z))


@pytest.mark.parametrize("make_model", [
    lambda: vae_lite.VAE((1, 8, 8), latent_dim=4, hidden=16, arch="conv"),
    # not the paper's init_std = 0.01: with weights that small every pixel decodes to 0.5 whatever z is
    lambda: vae_lite.PaperVAE((1, 8, 8), latent_dim=4, hidden=16, init_std=1.0),
    lambda: SharperVAE((1, 8, 8), latent_dim=4, hidden=16),
], ids=["conv", "tanh", "own-decode"])
def test_latent_explorer_draws_other_decoders_in_the_kernel(make_model, digits):
    """A decoder that decoder.js does not know is decoded in the kernel, sent as a PNG data: URL."""
    model = make_model()  # here, not at collection: the suite's seed makes its weights the same every run
    assert widgets.decoder_layers(model) is None
    explorer = widgets.latent_explorer(model.eval(), digits, max_sliders=2)
    assert isinstance(explorer.picture, ipywidgets.Image) and explorer.picture.format == "url"
    before = explorer.picture.value
    assert bytes(before).startswith(b"data:image/png;base64,") and png_size(before) == (8 * 5, 8 * 5)
    explorer.sliders[0].value = 2.0
    assert explorer.picture.value != before, "moving a slider did not change the decoded image"


def test_latent_explorer_orders_dimensions_by_kl(small_vae, digits):
    kl = kl_per_dimension(small_vae, digits.test)
    explorer = widgets.latent_explorer(small_vae, digits)
    assert explorer.dims == torch.argsort(kl, descending=True).tolist()
    assert list(kl[explorer.dims]) == sorted(kl.tolist(), reverse=True)


def test_latent_explorer_starts_at_an_encoding(small_vae, digits):
    image = digits.test[3]
    explorer = widgets.latent_explorer(small_vae, digits, start=image, max_sliders=4)
    mu, _ = small_vae.encode(image.unsqueeze(0))
    step = explorer.sliders[0].step
    for d in range(small_vae.latent_dim):
        if d in explorer.dims:  # on the slider's grid, the nearest point to the encoder mean
            assert abs(explorer.z[d] - mu[0, d]) <= step / 2 + 1e-6
            assert abs(explorer.z[d] / step - round(float(explorer.z[d] / step))) < 1e-4
        else:  # no slider: exactly the encoder mean
            assert explorer.z[d] == mu[0, d]


# --------------------------------------------------------------- interpolation explorer


def test_interpolation_explorer_ends_at_the_two_encodings(small_vae, digits):
    explorer = widgets.interpolation_explorer(small_vae, digits, first=2, second=5)
    mu, _ = small_vae.encode(digits.test[[2, 5]])
    assert torch.allclose(explorer.decoded, small_vae.decode(mu[:1])[0, 0], atol=1e-6)
    middle = explorer.image_t.value
    explorer.t.value = 1.0
    assert torch.allclose(explorer.decoded, small_vae.decode(mu[1:])[0, 0], atol=1e-6)
    assert explorer.image_t.value != middle
    assert explorer.caption.value.startswith("t = 1.00")
    image_a = explorer.image_a.value
    explorer.first.value = 7
    assert explorer.image_a.value != image_a


# ------------------------------------------------------------------ static pictures


@pytest.mark.parametrize("make", [
    lambda model, data: widgets.kl_explorer(),
    lambda model, data: widgets.reparameterization_explorer(),
    lambda model, data: widgets.latent_explorer(model, data),
    lambda model, data: widgets.interpolation_explorer(model, data),
])
def test_explorers_carry_a_projector_sized_static_png_for_viewers_without_a_kernel(make, small_vae, digits):
    bundle = make(small_vae, digits)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    width, height = png_size(base64.b64decode(bundle["image/png"]))
    assert width == 1000 and height > 100


# ------------------------------------------------- what the stored notebooks contain

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


EXPLORERS = {"07_latent_space.ipynb": 2, "11_conditional_vae.ipynb": 2}  # notebooks whose explorers must be there


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_stored_widgets_have_a_static_picture(name):
    """Viewed without a kernel (GitHub, nbviewer), every widget output still shows a PNG."""
    import nbformat

    path = NOTEBOOKS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `make notebooks NB={name[:2]}`")
    nb = nbformat.read(path, as_version=4)
    widget_outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
                      if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    for output in widget_outputs:
        assert "image/png" in output["data"], f"a widget in {name} has no static PNG next to it"
        width, height = png_size(base64.b64decode(output["data"]["image/png"]))
        assert width > 50 and height > 20
    assert len(widget_outputs) >= EXPLORERS.get(name, 0), f"{name} should show its {EXPLORERS.get(name)} explorers"


# ------------------------------------------- notebook 11: the conditional VAE and a drawn digit


@pytest.fixture(scope="module")
def small_cvae():
    torch.manual_seed(0)
    return ConditionalVAE((1, 8, 8), num_classes=10, latent_dim=4, hidden=32).eval()


@pytest.fixture(scope="module")
def vae_2d():
    torch.manual_seed(0)
    return vae_lite.VAE((1, 8, 8), latent_dim=2, hidden=32).eval()


def test_class_names_name_the_clothes_of_fashion_mnist(digits):
    assert widgets.class_names(digits) == [str(c) for c in range(10)]
    fashion = vae_lite.ImageData(digits.train, name="fashion-mnist")
    assert widgets.class_names(fashion)[9] == "boot"


def test_conditional_explorer_draws_the_picked_class_in_the_slider_style(small_cvae, digits):
    explorer = widgets.conditional_explorer(small_cvae, digits, image=4, max_sliders=3)
    assert len(explorer.sliders) == 3 and explorer.label.value == int(digits.test_labels[4])
    before = explorer.picture.value
    explorer.label.value = (explorer.label.value + 1) % 10
    assert explorer.picture.value != before, "picking another class did not change the picture"
    assert explorer.caption.value.startswith(f"class {explorer.label.value},")
    torch.testing.assert_close(explorer.decoded, small_cvae.decode(explorer.z.unsqueeze(0), [explorer.label.value])[0, 0])
    d = explorer.dims[1]
    explorer.sliders[1].value = 2.0
    assert explorer.z[d].item() == pytest.approx(2.0)
    assert f"z[{d}] = 2.00" in explorer.caption.value
    torch.testing.assert_close(explorer.decoded, small_cvae.decode(explorer.z.unsqueeze(0), [explorer.label.value])[0, 0])


def test_conditional_explorer_decodes_one_code_as_every_class(small_cvae, digits):
    explorer = widgets.conditional_explorer(small_cvae, digits, image=0)
    explorer.index.value = 7
    x, y = digits.test[7:8], digits.test_labels[7:8]
    mu, _ = small_cvae.encode(x, y)
    classes = torch.arange(10)
    torch.testing.assert_close(explorer.transferred, small_cvae.decode(mu.expand(10, -1), classes)[:, 0])
    # the sliders start at the test image's code, on their grid; the other dimensions at the code itself
    for d in range(small_cvae.latent_dim):
        limit = (explorer.sliders[0].step / 2 + 1e-6) if d in explorer.dims else 1e-6
        assert abs(explorer.z[d] - mu[0, d]) <= limit
    assert "test image 7" in explorer.transfer_caption.value
    explorer.next_button.click()
    assert explorer.index.value == 8


def test_conditional_explorer_needs_a_conditional_model(small_vae, digits):
    with pytest.raises(TypeError, match="latent_explorer"):
        widgets.conditional_explorer(small_vae, digits)


def test_typical_extent_is_the_longer_side_of_the_inked_box():
    images = torch.zeros(3, 1, 28, 28)
    images[:, 0, 4:24, 10:16] = 1.0  # 20 rows by 6 columns
    assert widgets.typical_extent(images) == pytest.approx(20 / 28)


def test_a_drawing_is_scaled_and_centred_as_the_data_were():
    ink = np.zeros((280, 280), np.float32)
    ink[20:120, 150:200] = 1.0  # a 100 x 50 block in the top right corner
    image = widgets.centred_like_data(ink, (28, 28), extent=20 / 28)
    rows, cols = np.flatnonzero(image.max(1) > 0.5), np.flatnonzero(image.max(0) > 0.5)
    assert len(rows) == 20 and len(cols) == 10, "the longer side should span 20 of 28 pixels, keeping the aspect"
    centre = np.array([(image.sum(1) * (np.arange(28) + 0.5)).sum(), (image.sum(0) * (np.arange(28) + 0.5)).sum()])
    assert np.abs(centre / image.sum() - 14).max() <= 0.5, "the centre of mass should be at the centre"
    assert not widgets.centred_like_data(np.zeros((280, 280), np.float32), (28, 28), 0.7).any()


def _stroke(explorer, points):
    """The messages ipycanvas receives from the browser for one mouse stroke."""
    explorer.canvas._handle_frontend_event(None, {"event": "mouse_down", "x": points[0][0], "y": points[0][1]}, [])
    for x, y in points[1:]:
        explorer.canvas._handle_frontend_event(None, {"event": "mouse_move", "x": x, "y": y}, [])
    explorer.canvas._handle_frontend_event(None, {"event": "mouse_up", "x": points[-1][0], "y": points[-1][1]}, [])


def test_a_mouse_stroke_encodes_the_drawing(vae_2d, digits):
    pytest.importorskip("ipycanvas")
    explorer = widgets.drawing_explorer(vae_2d, digits)
    assert explorer.x is None and explorer.ellipse is None
    _stroke(explorer, [(140, 40), (140, 140), (140, 240)])
    assert explorer.strokes == 1
    mu, logvar = vae_2d.encode(explorer.x)
    torch.testing.assert_close(explorer.mu, mu[0])
    torch.testing.assert_close(explorer.sigma, (0.5 * logvar[0]).exp())
    torch.testing.assert_close(explorer.reconstruction, vae_2d.decode(mu)[0, 0])
    assert f"μ = ({mu[0, 0]:.2f}, {mu[0, 1]:.2f})" in explorer.readout.value
    # the ellipse: centred on mu, half-axes of 2 sigma, in the map's pixels
    cx, cy, rx, ry = explorer.ellipse
    assert (cx, cy) == pytest.approx(explorer._pixels(*explorer.mu.tolist()))
    assert rx == pytest.approx(max(3.0, 2 * explorer.sigma[0].item() * explorer._pixels_per_unit[0]))
    readout, picture = explorer.readout.value, explorer.reconstruction_image.value
    _stroke(explorer, [(60, 100), (220, 100)])  # a second stroke changes the drawing, so the code
    assert explorer.strokes == 2 and explorer.readout.value != readout
    assert explorer.reconstruction_image.value != picture


def test_a_touch_stroke_draws_too(vae_2d, digits):
    pytest.importorskip("ipycanvas")
    explorer = widgets.drawing_explorer(vae_2d, digits)
    send = explorer.canvas._handle_frontend_event
    send(None, {"event": "touch_start", "touches": [{"x": 100, "y": 50}]}, [])
    send(None, {"event": "touch_move", "touches": [{"x": 120, "y": 200}]}, [])
    send(None, {"event": "touch_end", "touches": []}, [])
    assert explorer.strokes == 1 and explorer.x is not None and explorer.x.sum() > 0


def test_the_drawing_elbo_is_compared_with_the_test_images_by_one_estimator(vae_2d, digits):
    pytest.importorskip("ipycanvas")
    explorer = widgets.drawing_explorer(vae_2d, digits)
    explorer.use_test_image(5)
    # a test image is encoded as it is, not redrawn
    torch.testing.assert_close(explorer.x[0], digits.test[5])
    mu, logvar = vae_2d.encode(digits.test[5:6])
    z = mu + (0.5 * logvar).exp() * explorer.eps  # the explorer's fixed draws of eps
    expected = vae_2d.log_likelihood(digits.test[5:6], z).mean(0) - kl_standard_normal(mu, logvar)
    assert explorer.drawing_elbo == pytest.approx(expected.item(), rel=1e-5)
    assert explorer.test_elbos[5].item() == pytest.approx(expected.item(), rel=1e-5)
    assert explorer.fraction_below == pytest.approx((explorer.test_elbos < explorer.drawing_elbo).float().mean().item())
    explorer.use_test_image()
    assert explorer.test_index == 6
    explorer.clear()
    assert explorer.x is None and explorer.strokes == 0 and "Draw" in explorer.readout.value


@pytest.mark.parametrize("latent_dim, conditional, error, words", [
    (6, False, ValueError, "latent_dim=2"),
    (2, True, TypeError, "unconditional"),
])
def test_drawing_explorer_says_which_model_it_needs(latent_dim, conditional, error, words, digits):
    pytest.importorskip("ipycanvas")
    model = (ConditionalVAE((1, 8, 8), 10, latent_dim=latent_dim, hidden=8) if conditional
             else vae_lite.VAE((1, 8, 8), latent_dim=latent_dim, hidden=8))
    with pytest.raises(error, match=words):
        widgets.drawing_explorer(model, digits)


@pytest.mark.parametrize("make", ["conditional", "drawing"])
def test_notebook_11_explorers_carry_a_labelled_still(make, small_cvae, vae_2d, digits):
    if make == "drawing":
        pytest.importorskip("ipycanvas")
        explorer = widgets.drawing_explorer(vae_2d, digits)
        explorer.use_test_image(0)
    else:
        explorer = widgets.conditional_explorer(small_cvae, digits)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    width, height = png_size(base64.b64decode(bundle["image/png"]))
    assert width >= 900 and height > 150, "a still for the projector: about 1000 px wide"


def test_notebook_11_stores_a_still_beside_each_explorer():
    """Viewed without a kernel (GitHub, nbviewer), both explorers of notebook 11 still show a labelled picture."""
    import nbformat

    path = NOTEBOOKS / "11_conditional_vae.ipynb"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `make notebooks NB=11`")
    nb = nbformat.read(path, as_version=4)
    widget_outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
                      if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    assert [output["data"]["text/plain"].split()[0] for output in widget_outputs] == \
        ["ConditionalExplorer", "DrawingExplorer"], "notebook 11 should show the conditional and the drawing explorer"
    for output in widget_outputs:
        width, height = png_size(base64.b64decode(output["data"]["image/png"]))
        assert width >= 900 and height > 150
