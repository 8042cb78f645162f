"""The explorers' kernel side, without a browser: what the page is given, and the pictures and
numbers the kernel computes for the same state (tests/test_browser.py and tests/test_site.py run
the page side and compare it with these)."""

import base64
import copy
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vae_lite
from vae_lite import conditional_widgets, widgets
from vae_lite.latent import kl_per_dimension
from vae_lite.objectives import elbo, kl_standard_normal
from vae_lite.variants import ConditionalVAE


def png_size(data):
    return Image.open(io.BytesIO(bytes(data))).size


def floats(data, dtype=torch.float32):
    return torch.frombuffer(bytearray(data), dtype=dtype)


# ------------------------------------------------------------------------ KL explorer


def test_kl_explorer_closed_form_follows_the_sliders():
    explorer = widgets.KLExplorer()
    before = explorer.static_png()
    explorer.mu, explorer.sigma = -1.5, 2.0
    expected = kl_standard_normal(torch.tensor([-1.5], dtype=torch.float64),
                                  torch.tensor([math.log(2.0**2)], dtype=torch.float64)).item()
    assert explorer.compute()[0] == pytest.approx(expected, rel=1e-12)
    assert explorer.static_png() != before, "the still did not change when mu and sigma moved"


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.0, 0.5), (-2.0, 0.3), (0.5, 2.5)])
def test_kl_explorer_monte_carlo_agrees_with_closed_form(mu, sigma):
    closed_form, monte_carlo, standard_error = widgets.KLExplorer(mu=mu, sigma=sigma, samples=4000).compute()
    if (mu, sigma) == (0.0, 1.0):  # q equals p: every sample's log-ratio is exactly 0
        assert closed_form == 0 and abs(monte_carlo) < 1e-12
    else:
        assert abs(monte_carlo - closed_form) < 4 * standard_error


def test_kl_explorer_gives_the_page_the_draws_it_scores_with():
    explorer = widgets.KLExplorer(samples=300, seed=3)
    sent = floats(explorer.eps)
    assert len(sent) == 300 and torch.equal(sent.double(), explorer.draws)
    assert torch.equal(sent, torch.randn(300, generator=torch.Generator().manual_seed(3)))


# ------------------------------------------------------------- reparameterization explorer


def test_reparameterization_explorer_follows_the_sliders():
    explorer = widgets.ReparameterizationExplorer(samples=2000)
    explorer.mu, explorer.sigma = -1.0, 1.5
    results = explorer.compute()
    assert results["exact"] == (-2.0, 3.0)
    for name in ("pathwise", "score function"):
        d_mu, d_sigma, se_mu, se_sigma = results[name]
        assert abs(d_mu + 2.0) < 4 * se_mu and abs(d_sigma - 3.0) < 4 * se_sigma, name
    # the point of the trick: the pathwise estimate is far less noisy
    assert results["pathwise"][2] < results["score function"][2] / 2


def test_reparameterization_explorer_new_eps_takes_the_next_stored_draws():
    explorer = widgets.ReparameterizationExplorer(samples=50, seeds=3)
    bank = floats(explorer.eps).reshape(3, 50)
    eps, still = explorer.draws.clone(), explorer.static_png()
    explorer.resample()
    assert explorer.seed == 1 and not torch.equal(eps, explorer.draws) and explorer.static_png() != still
    assert torch.equal(explorer.draws, bank[1].double())
    explorer.seed = 4  # the page counts on; both wrap around the stored sets
    assert torch.equal(explorer.draws, bank[1].double())


# ------------------------------------------------------- the networks the page runs


def stored_decode(network, z):
    """What networks.js computes, in PyTorch: the stored 8-bit weights times their scales."""
    h = z
    for layer in network.layers:
        if layer["op"] == "linear":
            q = floats(layer["weight"], torch.int8).float().reshape(layer["shape"])
            w = q * floats(layer["scale"])[:, None]
            h = h.flatten(1) @ w.T + floats(layer["bias"])
        elif layer["op"] == "relu":
            h = h.relu()
        elif layer["op"] == "reshape":
            h = h.reshape(len(h), *layer["shape"])
        else:
            raise AssertionError(f"an MLP decoder has no {layer['op']}")
    return torch.sigmoid(h)


def test_the_page_gets_each_weight_in_eight_bits_close_to_the_model(small_vae):
    network = widgets.stored_network(small_vae.decoder)
    z = torch.randn(16, small_vae.latent_dim)
    page = stored_decode(network, z)
    with torch.no_grad():
        torch.testing.assert_close(page, widgets.page_weights(small_vae.decoder)(z).sigmoid())
        full = small_vae.decode(z)
    # the stated tolerance between the page's network and the model (tests/test_browser.py measures MNIST's)
    assert (page - full).abs().max() < 0.02 and not torch.equal(page, full)


def test_a_network_is_stored_once_per_model_and_weights(small_vae, digits):
    latent = widgets.LatentExplorer(small_vae, digits, max_sliders=2)
    interpolation = widgets.InterpolationExplorer(small_vae, digits)
    assert latent.decoder is interpolation.decoder, "two explorers of one model should share its weights"
    trained = copy.deepcopy(small_vae)
    with torch.no_grad():
        trained.decoder.net[0].bias.add_(1.0)
    assert widgets.stored_network(trained.decoder) is not latent.decoder


def test_every_layer_of_the_conv_networks_is_stored():
    model = vae_lite.VAE((1, 9, 7), latent_dim=3, hidden=8, arch="conv")
    ops = [layer["op"] for layer in widgets.network_layers(model.decoder)]
    assert ops == ["linear", "relu", "linear", "relu", "reshape", "conv_transpose2d", "relu", "conv_transpose2d"]
    assert widgets.network_layers(model.decoder)[-1]["output_size"] == [9, 7]
    ops = [layer["op"] for layer in widgets.network_layers(model.encoder)]
    assert ops == ["conv2d", "relu", "conv2d", "relu", "linear", "relu", "linear"]


class SharperVAE(vae_lite.VAE):
    """A student's variation: a decode that is not sigmoid(decoder(z))."""

    def decode(self, z):
        return torch.sigmoid(2 * self.decoder(z))


def test_an_explorer_says_which_decoders_the_page_runs(digits):
    with pytest.raises(TypeError, match="sigmoid"):
        widgets.LatentExplorer(SharperVAE((1, 8, 8), latent_dim=4, hidden=16), digits)


# --------------------------------------------------------------------- latent explorer


def test_latent_explorer_decodes_the_slider_values(small_vae, digits):
    explorer = widgets.LatentExplorer(small_vae, digits, max_sliders=4)
    assert len(explorer.values) == 4 and explorer.labels[0].startswith(f"z[{explorer.dims[0]}] (")
    d = explorer.dims[1]
    explorer.set_state({"values": [0.0, 2.0, 0.0, 0.0]})  # as the comm sets them from the page
    assert explorer.z[d].item() == pytest.approx(2.0)
    torch.testing.assert_close(explorer.decoded, small_vae.decode(explorer.z.unsqueeze(0))[0, 0])
    explorer.reset()
    assert explorer.z[d].item() == 0.0 and explorer.values == explorer.reset_values


def test_latent_explorer_orders_dimensions_by_kl(small_vae, digits):
    kl = kl_per_dimension(small_vae, digits.test)
    explorer = widgets.LatentExplorer(small_vae, digits)
    assert explorer.dims == torch.argsort(kl, descending=True).tolist()


def test_latent_explorer_starts_at_an_encoding(small_vae, digits):
    image = digits.test[3]
    explorer = widgets.LatentExplorer(small_vae, digits, start=image, max_sliders=4)
    mu, _ = small_vae.encode(image.unsqueeze(0))
    step = explorer.step
    assert explorer.start_z == pytest.approx(mu[0].tolist())
    for d in range(small_vae.latent_dim):
        if d in explorer.dims:  # on the slider's grid, the nearest point to the encoder mean
            assert abs(explorer.z[d] - mu[0, d]) <= step / 2 + 1e-6
            assert abs(explorer.z[d] / step - round(float(explorer.z[d] / step))) < 1e-4
        else:  # no slider: exactly the encoder mean
            assert explorer.z[d] == mu[0, d]


# --------------------------------------------------------------- interpolation explorer


def test_interpolation_explorer_ends_at_the_two_encodings(small_vae, digits):
    explorer = widgets.InterpolationExplorer(small_vae, digits, first=2, second=25)
    mu, _ = small_vae.encode(digits.test[[2, 25]])
    assert {2, 25} <= set(explorer.bank_indices) and len(explorer.bank_indices) == 21
    assert torch.allclose(explorer.decoded, small_vae.decode(mu[:1])[0, 0], atol=1e-6)
    explorer.t = 1.0
    assert torch.allclose(explorer.decoded, small_vae.decode(mu[1:])[0, 0], atol=1e-6)
    means = floats(explorer.bank_means).reshape(len(explorer.bank_indices), -1)
    torch.testing.assert_close(means[explorer.bank_indices.index(25)], mu[1])
    images = floats(explorer.bank_images, torch.uint8).reshape(-1, 8, 8).float() / 255
    assert (images[explorer.bank_indices.index(2)] - digits.test[2, 0]).abs().max() <= 0.5 / 255 + 1e-7
    with pytest.raises(ValueError, match="test image"):
        widgets.InterpolationExplorer(small_vae, digits, second=len(digits.test))


# ------------------------------------------------------------------ static pictures


@pytest.mark.parametrize("make", [
    lambda model, data: widgets.KLExplorer(),
    lambda model, data: widgets.ReparameterizationExplorer(),
    lambda model, data: widgets.LatentExplorer(model, data),
    lambda model, data: widgets.InterpolationExplorer(model, data),
])
def test_explorers_carry_a_projector_sized_static_png_for_viewers_without_widgets(make, small_vae, digits):
    bundle = make(small_vae, digits)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    width, height = png_size(base64.b64decode(bundle["image/png"]))
    assert width == 1000 and height > 100


# ------------------------------------------------- what the stored notebooks contain

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPLORERS = {"07_latent_space.ipynb": 2, "11_conditional_vae.ipynb": 2}  # notebooks whose explorers must be there


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_stored_widgets_have_a_static_picture(name):
    """Viewed without widgets (GitHub, nbviewer), every widget output still shows a PNG."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
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
    assert conditional_widgets.class_names(digits) == [str(c) for c in range(10)]
    fashion = vae_lite.ImageData(digits.train, name="fashion-mnist")
    assert conditional_widgets.class_names(fashion)[9] == "boot"


def test_conditional_explorer_draws_the_picked_class_in_the_slider_style(small_cvae, digits):
    explorer = conditional_widgets.ConditionalExplorer(small_cvae, digits, image=4, max_sliders=3)
    assert len(explorer.values) == 3 and explorer.label == int(digits.test_labels[4])
    explorer.set_state({"label": (explorer.label + 1) % 10, "values": [0.0, 2.0, 0.0]})  # from the page
    d = explorer.dims[1]
    assert explorer.z[d].item() == pytest.approx(2.0)
    torch.testing.assert_close(explorer.decoded, small_cvae.decode(explorer.z.unsqueeze(0), [explorer.label])[0, 0])


def test_conditional_explorer_decodes_one_code_as_every_class(small_cvae, digits):
    explorer = conditional_widgets.ConditionalExplorer(small_cvae, digits, image=0)
    explorer.image = 7
    mu, _ = small_cvae.encode(digits.test[7:8], digits.test_labels[7:8])
    torch.testing.assert_close(explorer.transferred, small_cvae.decode(mu.expand(10, -1), torch.arange(10))[:, 0])
    # the sliders start at the test image's code, on their grid; the other dimensions at the code itself
    for d in range(small_cvae.latent_dim):
        limit = (explorer.step / 2 + 1e-6) if d in explorer.dims else 1e-6
        assert abs(explorer.z[d] - mu[0, d]) <= limit
    codes = floats(explorer.bank_means).reshape(len(explorer.bank_indices), -1)
    torch.testing.assert_close(codes[explorer.bank_indices.index(7)], mu[0])
    assert explorer.bank_labels[explorer.bank_indices.index(7)] == int(digits.test_labels[7])


def test_conditional_explorer_needs_a_conditional_model(small_vae, digits):
    with pytest.raises(TypeError, match="LatentExplorer"):
        conditional_widgets.ConditionalExplorer(small_vae, digits)


def test_typical_extent_is_the_longer_side_of_the_inked_box():
    images = torch.zeros(3, 1, 28, 28)
    images[:, 0, 4:24, 10:16] = 1.0  # 20 rows by 6 columns
    assert conditional_widgets.typical_extent(images) == pytest.approx(20 / 28)


def test_ink_covers_the_pixels_whose_centres_are_within_half_a_pen_of_a_stroke():
    ink = conditional_widgets.ink_of_strokes([[(10, 20), (30, 20)]], size=40, pen=6)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows.tolist() == list(range(17, 23)), "centres 17.5 .. 22.5 lie within 3 of y = 20"
    assert cols.tolist() == list(range(7, 33)), "and the round ends reach 3 beyond x = 10 and x = 30"
    dot = conditional_widgets.ink_of_strokes([[(5, 5)]], size=10, pen=2)
    assert dot.sum() == 4, "a tap inks the pixels around it"


def test_a_drawing_is_scaled_and_centred_as_the_data_were():
    ink = np.zeros((280, 280))
    ink[20:120, 150:200] = 1.0  # a 100 x 50 block in the top right corner
    image = conditional_widgets.centred_like_data(ink, (28, 28), extent=20 / 28)
    rows, cols = np.flatnonzero(image.max(1) > 0.5), np.flatnonzero(image.max(0) > 0.5)
    assert len(rows) == 20 and len(cols) == 10, "the longer side should span 20 of 28 pixels, keeping the aspect"
    centre = np.array([(image.sum(1) * (np.arange(28) + 0.5)).sum(), (image.sum(0) * (np.arange(28) + 0.5)).sum()])
    assert np.abs(centre / image.sum() - 14).max() <= 0.5, "the centre of mass should be at the centre"
    assert image.sum() == pytest.approx(200), "area averaging keeps the ink: 100 x 50 canvas pixels, 20 x 10 image pixels"
    assert not conditional_widgets.centred_like_data(np.zeros((280, 280)), (28, 28), 0.7).any()


def test_a_stroke_encodes_the_drawing(vae_2d, digits):
    explorer = conditional_widgets.DrawingExplorer(vae_2d, digits)
    assert explorer.x is None
    explorer.draw_stroke([(140, 40), (140, 140), (140, 240)])
    ink = conditional_widgets.ink_of_strokes(explorer.strokes, explorer.canvas_size, explorer.pen)
    expected = conditional_widgets.centred_like_data(ink, (8, 8), explorer.extent)
    torch.testing.assert_close(explorer.x[0, 0], torch.from_numpy(expected).float())
    mu, logvar = vae_2d.encode(explorer.x)
    torch.testing.assert_close(explorer.mu, mu[0])
    torch.testing.assert_close(explorer.sigma, (0.5 * logvar[0]).exp())
    torch.testing.assert_close(explorer.reconstruction, vae_2d.decode(mu)[0, 0])
    before = explorer.mu.clone()
    explorer.set_state({"strokes": [*explorer.strokes, [[60, 100], [220, 100]]]})  # a second stroke, from the page
    assert len(explorer.strokes) == 2 and not torch.equal(explorer.mu, before)


def test_the_drawing_elbo_is_the_package_elbo_with_the_draws_the_page_stores(vae_2d, digits):
    explorer = conditional_widgets.DrawingExplorer(vae_2d, digits)
    explorer.use_test_image(5)
    stored = floats(explorer.bank_images, torch.uint8).reshape(-1, 8, 8)[5].float() / 255
    torch.testing.assert_close(explorer.x[0, 0], stored)  # a test image is encoded as it is stored, not redrawn
    expected = elbo(vae_2d, explorer.x, samples=8, generator=torch.Generator().manual_seed(0)).elbo
    assert explorer.drawing_elbo == pytest.approx(expected.item(), rel=1e-6)
    # the page scores with the stored eps: the same number
    mu, logvar = vae_2d.encode(explorer.x)
    z = mu + (0.5 * logvar).exp() * floats(explorer.eps).reshape(8, 1, 2)
    by_page = vae_2d.log_likelihood(explorer.x, z).mean(0) - kl_standard_normal(mu, logvar)
    assert explorer.drawing_elbo == pytest.approx(by_page.item(), rel=1e-6)
    assert explorer.fraction_below == pytest.approx((explorer.test_elbos < explorer.drawing_elbo).float().mean().item())
    assert floats(explorer.sorted_elbos).tolist() == sorted(explorer.test_elbos.tolist())
    explorer.use_test_image()
    assert explorer.test_image == 6
    explorer.clear()
    assert explorer.x is None and explorer.strokes == [] and explorer.test_image == -1


@pytest.mark.parametrize("latent_dim, conditional, error, words", [
    (6, False, ValueError, "latent_dim=2"),
    (2, True, TypeError, "unconditional"),
])
def test_drawing_explorer_says_which_model_it_needs(latent_dim, conditional, error, words, digits):
    model = (ConditionalVAE((1, 8, 8), 10, latent_dim=latent_dim, hidden=8) if conditional
             else vae_lite.VAE((1, 8, 8), latent_dim=latent_dim, hidden=8))
    with pytest.raises(error, match=words):
        conditional_widgets.DrawingExplorer(model, digits)


@pytest.mark.parametrize("make", ["conditional", "drawing"])
def test_notebook_11_explorers_carry_a_labelled_still(make, small_cvae, vae_2d, digits):
    if make == "drawing":
        explorer = conditional_widgets.DrawingExplorer(vae_2d, digits)
        explorer.use_test_image(0)
    else:
        explorer = conditional_widgets.ConditionalExplorer(small_cvae, digits)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    width, height = png_size(base64.b64decode(bundle["image/png"]))
    assert width >= 900 and height > 150, "a still for the projector: about 1000 px wide"


def test_notebook_11_stores_a_still_beside_each_explorer():
    """Viewed without widgets (GitHub, nbviewer), both explorers of notebook 11 still show a labelled picture."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / "11_conditional_vae.ipynb", as_version=4)
    widget_outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
                      if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    assert [output["data"]["text/plain"].split()[0] for output in widget_outputs] == \
        ["ConditionalExplorer", "DrawingExplorer"], "notebook 11 should show the conditional and the drawing explorer"
    for output in widget_outputs:
        width, height = png_size(base64.b64decode(output["data"]["image/png"]))
        assert width >= 900 and height > 150
