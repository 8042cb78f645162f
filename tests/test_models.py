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


# ------------------------------------------------- notebook 11: the conditional VAE

import copy  # noqa: E402

import vae_lite  # noqa: E402
from vae_lite.models import ConditionalVAE  # noqa: E402
from vae_lite.objectives import kl_standard_normal  # noqa: E402


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 13, 10)])
def test_conditional_vae_shapes_for_any_image_size(arch, shape):
    model = ConditionalVAE(shape, num_classes=4, latent_dim=3, hidden=32, arch=arch)
    x, y = torch.rand(5, *shape), torch.tensor([0, 1, 2, 3, 1])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu, y).shape == (5, *shape)
    assert model(x, y).shape == (5, *shape)
    assert model.sample(4, 2).shape == model.sample(4, torch.tensor([0, 1, 2, 3])).shape == (4, *shape)
    # several samples of z per image share the image's label
    assert model.log_likelihood(x, torch.randn(7, 5, 3), y).shape == (7, 5)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_label_conditions_both_the_encoder_and_the_decoder(arch):
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16, arch=arch)
    x, z = torch.rand(4, 1, 8, 8), torch.randn(4, 2)
    zeros, twos = torch.zeros(4, dtype=torch.long), torch.full((4,), 2)
    assert not torch.allclose(model.encode(x, zeros)[0], model.encode(x, twos)[0]), "q(z|x,y) ignores y"
    assert not torch.allclose(model.decode(z, zeros), model.decode(z, twos)), "p(x|z,y) ignores y"
    # an int label means the same as a tensor of it
    torch.testing.assert_close(model.decode(z, 2), model.decode(z, twos))


def test_conditional_loss_is_reconstruction_error_plus_kl_to_the_one_prior():
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16)
    x, y = torch.rand(6, 1, 8, 8).bernoulli(), torch.tensor([0, 1, 2, 0, 1, 2])
    loss, terms = model.loss(x, y, beta=2.5)
    torch.testing.assert_close(loss, -terms["reconstruction"] + 2.5 * terms["kl"])
    # the KL is to N(0, I) for every class: the prior does not depend on y
    torch.testing.assert_close(terms["kl"], kl_standard_normal(*model.encode(x, y)))
    assert loss.shape == (6,) and (terms["kl"] >= 0).all()


@pytest.mark.parametrize("labels, error, words", [
    (torch.tensor([0, 3]), ValueError, "0..2"),
    (torch.tensor([-1, 0]), ValueError, "0..2"),
    (torch.tensor([0.0, 1.0]), TypeError, "integers"),
])
def test_wrong_labels_are_named(labels, error, words):
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16)
    with pytest.raises(error, match=words):
        model.encode(torch.rand(2, 1, 8, 8), labels)


def test_one_label_per_image():
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16)
    with pytest.raises(ValueError, match="one label per image"):
        model.encode(torch.rand(5, 1, 8, 8), torch.tensor([0, 1]))


def test_sample_needs_one_label_or_one_per_image():
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16)
    with pytest.raises(ValueError, match="one label or n = 4"):
        model.sample(4, torch.tensor([0, 1]))


@pytest.mark.parametrize("num_classes", [0, 1, 2.0, True])
def test_conditional_vae_needs_a_number_of_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalVAE((1, 8, 8), num_classes=num_classes)


def test_fit_trains_a_conditional_vae_on_the_labels(digits, one_thread):
    """fit passes data.train_labels to a ConditionalVAE; afterwards the true label explains an image
    better than a wrong one, so the decoder uses it."""
    torch.manual_seed(0)
    model = ConditionalVAE(digits.image_shape, num_classes=10, latent_dim=4, hidden=64)
    history = vae_lite.fit(model, digits, epochs=8, lr=3e-3, progress=False)
    assert history.records[-1]["test_elbo"] > history.records[0]["test_elbo"] + 3
    x, y = vae_lite.binarized_test_set(digits), digits.test_labels
    with torch.inference_mode():
        right = vae_lite.elbo(model, x, y=y).elbo
        wrong = vae_lite.elbo(model, x, y=(y + 1) % 10).elbo
    assert right.mean() > wrong.mean() + 3, (right.mean(), wrong.mean())
    assert (right > wrong).float().mean() > 0.8


def test_elbo_and_the_importance_weighted_bound_read_the_labels():
    torch.manual_seed(0)
    model = ConditionalVAE((1, 8, 8), num_classes=3, latent_dim=2, hidden=16).eval()
    x, y = torch.rand(5, 1, 8, 8).bernoulli(), torch.tensor([0, 1, 2, 0, 1])
    with torch.inference_mode():
        torch.manual_seed(1)
        terms = vae_lite.elbo(model, x, y=y)
        torch.manual_seed(1)  # the same z: elbo is what loss minimises
        torch.testing.assert_close(-terms.elbo, model.loss(x, y)[0])
        weights = vae_lite.log_weights(model, x, k=7, y=y)
        assert weights.shape == (7, 5)
        elbo_many = vae_lite.elbo(model, x, samples=4000, y=y).elbo
        iw = vae_lite.iw_log_likelihood(model, x, k=4000, y=y)
        iw_other = vae_lite.iw_log_likelihood(model, x, k=4000, y=(y + 1) % 3)
    # the importance-weighted bound is at least the ELBO (up to Monte Carlo noise) and depends on y
    assert (iw > elbo_many - 0.05).all()
    assert not torch.allclose(iw, iw_other, atol=1e-3)


def test_a_conditional_vae_round_trips_through_a_checkpoint(tmp_path):
    import vae_lite.pretrained  # noqa: F401  registers ConditionalVAE with checkpoint.py until that file does

    torch.manual_seed(0)
    model = ConditionalVAE((1, 8, 8), num_classes=4, latent_dim=3, hidden=16, arch="conv").eval()
    vae_lite.save(model, tmp_path / "cvae.pt", epochs=1)
    loaded = vae_lite.load(tmp_path / "cvae.pt")
    assert isinstance(loaded, ConditionalVAE) and loaded.num_classes == 4 and loaded.config == model.config
    z, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(loaded.decode(z, y), model.decode(z, y))
    # the shipped checkpoints keep float16 weights; they load into float32 models
    vae_lite.save(copy.deepcopy(model).half(), tmp_path / "half.pt")
    half = vae_lite.load(tmp_path / "half.pt")
    assert next(half.parameters()).dtype == torch.float32
    torch.testing.assert_close(half.decode(z, y), model.decode(z, y), atol=2e-3, rtol=0)
