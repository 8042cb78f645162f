"""Statistics of q(z|x) over a set of images: KL per latent dimension and active units; the grid
of z a 2-D latent space is drawn on."""

import pytest
import torch

import vae_lite
from vae_lite.latent import active_units, decode_grid, encoder_means_and_logvars, images_of, kl_per_dimension
from vae_lite.objectives import kl_standard_normal


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


def z_of_each_cell(n, limits=None):
    """Which z each of decode_grid's n*n images was decoded from: a decoder that returns its z."""
    model = vae_lite.VAE((1, 1, 2), latent_dim=2, hidden=4)
    model.decode = lambda z: z.reshape(-1, 1, 1, 2)
    return decode_grid(model, n, limits).reshape(n, n, 2)


def test_decode_grid_puts_the_papers_prior_quantiles_top_left_to_bottom_right():
    z = z_of_each_cell(4)
    quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([1 / 8, 3 / 8, 5 / 8, 7 / 8]))
    torch.testing.assert_close(z[0, :, 0], quantiles)  # z[0] grows to the right
    torch.testing.assert_close(z[:, 0, 1], quantiles.flip(0))  # z[1] grows upwards: highest in the top row
    assert (z[:, :, 0] == z[0, :, 0]).all() and (z[:, :, 1].T == z[:, 0, 1]).all()  # a grid, not a scatter


def test_decode_grid_with_limits_decodes_the_centre_of_each_cell():
    z = z_of_each_cell(4, limits=(-2.0, 2.0))
    torch.testing.assert_close(z[0, 0], torch.tensor([-1.5, 1.5]))
    torch.testing.assert_close(z[3, 3], torch.tensor([1.5, -1.5]))


def test_decode_grid_refuses_a_latent_space_that_is_not_2_d(small_vae):
    with pytest.raises(ValueError, match="latent_dim=2, got 6"):
        decode_grid(small_vae, 4)
