"""Statistics of q(z|x) over a set of images: KL per latent dimension and active units."""

import pytest
import torch

import vae_lite
from vae_lite.latent import active_units, encoder_means_and_logvars, images_of, kl_per_dimension
from vae_lite.objectives import kl_standard_normal


@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    return vae_lite.VAE((1, 8, 8), latent_dim=6, hidden=32).eval()


def test_kl_per_dimension_adds_up_to_the_kl_term_of_the_elbo(small_vae, digits):
    kl = kl_per_dimension(small_vae, digits)  # an ImageData: its test images
    assert kl.shape == (6,) and (kl >= 0).all()
    mu, logvar = small_vae.encode(digits.test)
    assert kl.sum().item() == pytest.approx(kl_standard_normal(mu, logvar).mean().item(), rel=1e-5)


def test_encoder_statistics_in_batches_equal_one_pass(small_vae, digits):
    mu, logvar = encoder_means_and_logvars(small_vae, digits.test, batch_size=7)
    with torch.inference_mode():
        expected = small_vae.encode(digits.test)
    torch.testing.assert_close((mu, logvar), expected)


def test_active_units_counts_dimensions_the_encoder_uses(digits):
    torch.manual_seed(0)
    model = vae_lite.VAE((1, 8, 8), latent_dim=5, hidden=32).eval()
    last = model.encoder.net[-1]  # outputs mu (first 5) and logvar (last 5)
    with torch.no_grad():
        last.weight[:5] *= 30  # the mu of an untrained encoder barely moves: make it move
        last.weight[[1, 3]] = 0.0  # mu of dimensions 1 and 3 ignores the input
    count, activity = active_units(model, digits)
    assert count == 3
    assert activity[1] < 1e-10 and activity[3] < 1e-10


def test_images_of_takes_an_image_data_or_a_tensor_and_refuses_other_shapes(digits):
    assert torch.equal(images_of(digits, 5), digits.test[:5])
    assert torch.equal(images_of(digits.train), digits.train)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\)"):
        images_of(digits.test[0])
