"""The models: shapes for any image size, valid pixels, sampling, likelihoods, argument checks."""

import math

import pytest
import torch

import vae_lite
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


@pytest.mark.parametrize("build, words", [
    (lambda: VAE((1, 6, 6), latent_dim=0), ["latent_dim must be a positive int", "got 0"]),
    (lambda: VAE((1, 6, 6), latent_dim=-3), ["latent_dim must be a positive int"]),
    (lambda: Autoencoder((1, 6, 6), latent_dim=2.5), ["latent_dim must be a positive int", "2.5"]),
    (lambda: VAE((6,), latent_dim=2), ["image_shape must be (C, H, W) or (H, W)", "data.image_shape"]),
    (lambda: VAE((1, 8, 8), latent_dim=2, arch="resnet"), ["arch must be one of", "'resnet'"]),
    (lambda: VAE((1, 8, 8), latent_dim=2, likelihood="poisson"), ["likelihood must be one of", "'poisson'"]),
    (lambda: VAE((1, 8, 8), latent_dim=2, hidden=[]), ["hidden"]),
    (lambda: VAE((1, 8, 8), latent_dim=2, decoder_hidden=0), ["decoder_hidden must be a positive int", "got 0"]),
    (lambda: Autoencoder((1, 8, 8), latent_dim=2, encoder_hidden="64"), ["encoder_hidden must be", "'64'"]),
])
def test_a_model_that_cannot_work_is_refused_when_built(build, words):
    with pytest.raises(ValueError) as error:
        build()
    for word in words:
        assert word in str(error.value)


def linear_shapes(network):
    return [tuple(m.weight.shape) for m in network.modules() if isinstance(m, torch.nn.Linear)]


def test_the_default_vae_has_a_narrow_encoder_and_a_wide_decoder():
    vae = VAE((1, 28, 28))
    assert linear_shapes(vae.encoder) == [(256, 784), (100, 256)]  # 2 x 50: mu and log sigma^2
    assert linear_shapes(vae.decoder) == [(512, 50), (784, 512)]


@pytest.mark.parametrize("cls", [VAE, Autoencoder, vae_lite.IWAE])
def test_hidden_sets_both_networks_and_the_two_sizes_set_one_each(cls):
    both = cls((1, 8, 8), latent_dim=3, hidden=[16, 8])
    assert both.encoder_hidden == both.decoder_hidden == (16, 8)
    assert both.config["encoder_hidden"] == both.config["decoder_hidden"] == (16, 8)
    assert linear_shapes(both.decoder) == [(8, 3), (16, 8), (64, 16)]  # the decoder mirrors the list
    apart = cls((1, 8, 8), latent_dim=3, encoder_hidden=12, decoder_hidden=[20, 24])
    assert linear_shapes(apart.encoder)[0] == (12, 64) and linear_shapes(apart.decoder)[:2] == [(24, 3), (20, 24)]
    rebuilt = cls(**apart.config)  # what vae_lite.load does with a checkpoint's config
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in apart.parameters()]


# ------------------------------------------------------------------------ notebook 09: PaperVAE


def test_paper_vae_has_the_papers_layers_and_initialisation():
    from vae_lite.variants import PaperVAE

    model = PaperVAE((1, 28, 20), latent_dim=2, hidden=200, likelihood="gaussian")
    # encoder 560-200-(2+2), decoder 2-200-(560 means + 560 log-variances), each layer with biases
    assert sum(p.numel() for p in model.parameters()) == (560 * 200 + 200) + (200 * 4 + 4) + (2 * 200 + 200) + (200 * 1120 + 1120)
    assert any(isinstance(m, torch.nn.Tanh) for m in model.encoder) and any(isinstance(m, torch.nn.Tanh) for m in model.decoder)
    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert 0.009 < weights.std() < 0.011 and abs(weights.mean()) < 1e-3
    assert not hasattr(model, "log_std"), "the per-pixel variance replaces the shared one"


def test_paper_vae_shapes_with_several_samples_of_z():
    from vae_lite.variants import PaperVAE

    for likelihood, std in [("bernoulli", None), ("gaussian", None), ("gaussian", 0.1)]:
        model = PaperVAE((1, 28, 20), latent_dim=3, hidden=16, likelihood=likelihood, gaussian_std=std)
        x = torch.rand(5, 1, 28, 20)
        mu, logvar = model.encode(x)
        assert mu.shape == logvar.shape == (5, 3)
        assert model.decode(mu).shape == (5, 1, 28, 20)
        assert model.log_likelihood(x, torch.randn(7, 5, 3)).shape == (7, 5)
        if likelihood == "gaussian":
            assert model.decode_std(torch.randn(7, 5, 3)).shape == (7, 5, 1, 28, 20)


def test_paper_vae_gaussian_log_likelihood_is_a_normal_per_pixel():
    from vae_lite.variants import PaperVAE

    model = PaperVAE((1, 6, 4), latent_dim=2, hidden=8, likelihood="gaussian", init_std=0.5)
    x, z = torch.rand(3, 1, 6, 4), torch.randn(3, 2)
    expected = torch.distributions.Normal(model.decode(z), model.decode_std(z)).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    assert model.decode_std(z).std() > 0, "each pixel has its own s"
    fixed = PaperVAE((1, 6, 4), latent_dim=2, hidden=8, likelihood="gaussian", gaussian_std=0.1)
    expected = gaussian_log_likelihood(fixed.decode(z), x, torch.tensor(0.1).log())
    torch.testing.assert_close(fixed.log_likelihood(x, z), expected)
    torch.testing.assert_close(fixed.decode_std(z), torch.full((3, 1, 6, 4), 0.1))


def test_paper_vae_trains_with_fit_and_adagrad(digits, one_thread):
    import vae_lite
    from vae_lite.variants import PaperVAE

    data = digits.subset(train=500, test=200)
    model = PaperVAE(data.image_shape, latent_dim=2, hidden=32)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.02, weight_decay=1 / len(data.train))
    history = vae_lite.fit(model, data, epochs=3, batch_size=100, optimizer=optimizer, progress=False)
    assert history["test_elbo"][-1] > history["test_elbo"][0], "the bound should rise"
    assert vae_lite.iw_log_likelihood(model, data.test[:5].round(), k=10).shape == (5,)


def test_paper_vae_rejects_several_hidden_layers():
    from vae_lite.variants import PaperVAE

    with pytest.raises(ValueError, match="one hidden layer"):
        PaperVAE((1, 8, 8), hidden=[32, 32])


# ------------------------------------------------------------------------ notebook 10


def test_iwae_loss_is_minus_the_importance_weighted_bound_and_k1_is_the_elbo():
    from vae_lite.variants import IWAE
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
    from vae_lite.variants import IWAE

    model = IWAE(digits.image_shape, latent_dim=4, hidden=32, k=3)
    history = vae_lite.fit(model, digits.subset(train=256, test=64), epochs=1, batch_size=64, progress=False)
    assert math.isfinite(history.last["test_iw_bound"]) and history.last["test_iw_bound"] >= history.last["test_elbo"]
    with pytest.raises(ValueError, match="positive int"):
        IWAE(digits.image_shape, k=0)
    with pytest.raises(ValueError, match="beta=1"):
        model.loss(digits.test[:2].round(), beta=2.0)


# ------------------------------------------------- notebook 11: the conditional VAE

import copy  # noqa: E402


from vae_lite.variants import ConditionalVAE  # noqa: E402
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
