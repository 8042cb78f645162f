import math

import pytest
import torch

from vae_lite import VAE, Autoencoder
from vae_lite.objectives import gaussian_log_likelihood


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 13, 10)])
def test_vae_shapes_for_any_image_size(arch, shape):
    model = VAE(shape, latent_dim=3, hidden=32, arch=arch)
    x = torch.rand(5, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu).shape == (5, *shape)
    assert model.sample(4).shape == (4, *shape)
    # several samples of z per image, as elbo(samples=k) and iw_log_likelihood use them
    z = torch.randn(7, 5, 3)
    assert model.log_likelihood(x, z).shape == (7, 5)


def test_decoded_images_are_valid_pixel_values():
    model = VAE((1, 8, 8), latent_dim=2, hidden=16)
    images = model.decode(torch.randn(10, 2) * 5)
    assert images.min() >= 0 and images.max() <= 1


def test_autoencoder_encodes_to_a_point_and_has_no_kl():
    model = Autoencoder((1, 8, 8), latent_dim=2, hidden=16)
    x = torch.rand(4, 1, 8, 8)
    assert model.encode(x).shape == (4, 2)
    loss, terms = model.loss(x)
    assert loss.shape == (4,) and set(terms) == {"reconstruction"}
    torch.testing.assert_close(loss, -terms["reconstruction"])


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_sample_decodes_draws_from_the_prior(cls):
    model = cls((1, 8, 8), latent_dim=3, hidden=16)
    images = model.sample(5, generator=torch.Generator().manual_seed(4))
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(images, model.decode(z))


def test_gaussian_log_likelihood_is_scaled_squared_error_plus_a_constant():
    x, mean = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    std = 0.1
    squared_error = (x - mean).pow(2).sum(dim=(-3, -2, -1))
    constant = -16 * (0.5 * math.log(2 * math.pi) + math.log(std))
    expected = -squared_error / (2 * std**2) + constant
    torch.testing.assert_close(gaussian_log_likelihood(mean, x, math.log(std)), expected)


def test_gaussian_vae_can_learn_its_std():
    model = VAE((1, 8, 8), latent_dim=2, hidden=16, likelihood="gaussian", gaussian_std=None)
    assert any(name == "log_std" for name, _ in model.named_parameters())
    fixed = VAE((1, 8, 8), latent_dim=2, hidden=16, likelihood="gaussian", gaussian_std=0.2)
    assert not any(name == "log_std" for name, _ in fixed.named_parameters())


@pytest.mark.parametrize("bad, message", [
    (dict(latent_dim=0), "latent_dim"),
    (dict(arch="resnet"), "arch"),
    (dict(likelihood="poisson"), "likelihood"),
    (dict(hidden=[]), "hidden"),
])
def test_bad_arguments_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        VAE((1, 8, 8), **{"latent_dim": 2, **bad})
