"""The explorers' update logic, without a browser: set a slider, check what is shown."""

import base64
import io
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

import vae_lite
from vae_lite import widgets
from vae_lite.latent import kl_per_dimension
from vae_lite.objectives import kl_standard_normal


def png_size(data):
    return Image.open(io.BytesIO(data)).size


@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    return vae_lite.VAE((1, 8, 8), latent_dim=6, hidden=32).eval()


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
    before = explorer.image.value
    slider, d = explorer.sliders[1], explorer.dims[1]
    slider.value = 2.0
    assert explorer.z[d].item() == pytest.approx(2.0)
    assert explorer.image.value != before, "moving a slider did not change the decoded image"
    expected = small_vae.decode(explorer.z.unsqueeze(0))[0, 0]
    assert torch.allclose(explorer.decoded, expected)
    assert explorer.caption.value.startswith(f"z[{d}] = 2.00")
    assert png_size(explorer.image.value) == (8 * 5, 8 * 5)
    explorer.reset()
    assert explorer.z[d].item() == 0.0 and explorer.image.value == before


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


@pytest.mark.parametrize("name", ["05_vae.ipynb", "06_latent_space.ipynb", "07_how_good.ipynb"])
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
    if name == "06_latent_space.ipynb":
        assert len(widget_outputs) == 2, "notebook 06 should show the latent and the interpolation explorer"
