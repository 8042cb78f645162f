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


# ----------------------------------------------------- notebook 10 (appended by the notebook 10 helper)


def test_iwae_loss_is_minus_the_importance_weighted_bound_and_k1_is_the_elbo():
    from vae_lite.models import IWAE
    from vae_lite.objectives import iw_bound, log_weights

    torch.manual_seed(0)
    model = IWAE((1, 8, 8), latent_dim=3, hidden=16, k=4)
    x = torch.bernoulli(torch.full((6, 1, 8, 8), 0.3))
    torch.manual_seed(1)
    loss, terms = model.loss(x)
    torch.manual_seed(1)
    log_w = log_weights(model, x, 4)
    torch.testing.assert_close(loss, -iw_bound(log_w))
    torch.testing.assert_close(terms["elbo"], log_w.mean(0))
    assert (terms["iw_bound"] >= terms["elbo"]).all(), "log of a mean >= mean of logs, sample by sample"
    one = IWAE((1, 8, 8), latent_dim=3, hidden=16, k=1)
    _, terms = one.loss(x)
    torch.testing.assert_close(terms["iw_bound"], terms["elbo"])


def test_iwae_trains_with_fit_and_rejects_bad_arguments(digits):
    import vae_lite
    from vae_lite.models import IWAE

    model = IWAE(digits.image_shape, latent_dim=4, hidden=32, k=3)
    history = vae_lite.fit(model, digits.subset(train=256, test=64), epochs=1, batch_size=64, progress=False)
    assert math.isfinite(history.last["test_iw_bound"]) and history.last["test_iw_bound"] >= history.last["test_elbo"]
    with pytest.raises(ValueError, match="positive int"):
        IWAE(digits.image_shape, k=0)
    with pytest.raises(ValueError, match="beta=1"):
        model.loss(digits.test[:2].round(), beta=2.0)
