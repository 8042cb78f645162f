"""The two gradient estimators of E_q[f(z)], q = N(mu, sigma^2), against autograd; notebook 04's training helpers."""

import pytest
import torch

import vae_lite
from vae_lite import VAE
from vae_lite.gradients import (encoder_gradient_variance, gradient_ascent, leave_one_out_mean, mean_estimates,
                                pathwise_gradients, score_function_gradients, train_with_each, unbiased)


def test_pathwise_gradients_match_autograd():
    eps = torch.randn(50, dtype=torch.float64)
    mu = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    f = lambda z: torch.sin(z) + z**3
    d_mu, d_sigma = pathwise_gradients(f, mu.detach(), sigma.detach(), eps)
    f(mu + sigma * eps).mean().backward()
    assert d_mu.mean().item() == pytest.approx(mu.grad.item(), rel=1e-10)
    assert d_sigma.mean().item() == pytest.approx(sigma.grad.item(), rel=1e-10)


def test_score_function_gradients_match_autograd_of_log_q():
    eps = torch.randn(50, dtype=torch.float64)
    mu = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    z = (mu + sigma * eps).detach()
    f = lambda z: z**2
    d_mu, d_sigma = score_function_gradients(f, mu.detach(), sigma.detach(), eps)
    (f(z) * torch.distributions.Normal(mu, sigma).log_prob(z)).mean().backward()
    assert d_mu.mean().item() == pytest.approx(mu.grad.item(), rel=1e-10)
    assert d_sigma.mean().item() == pytest.approx(sigma.grad.item(), rel=1e-10)


@pytest.mark.parametrize("estimator", [pathwise_gradients, score_function_gradients])
def test_each_estimator_is_unbiased(estimator):
    """E[sin z] = sin(mu) exp(-sigma^2 / 2), so d/dmu = cos(mu) exp(-sigma^2 / 2)."""
    mu, sigma = torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    eps = torch.randn(100_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d_mu, _ = estimator(torch.sin, mu, sigma, eps)
    standard_error = d_mu.std().item() / len(eps) ** 0.5
    assert abs(d_mu.mean().item() - (torch.cos(mu) * torch.exp(-sigma**2 / 2)).item()) < 5 * standard_error


def test_a_baseline_keeps_the_score_function_unbiased_and_cuts_its_variance():
    """f = sum of 20 sines: the other 19 dimensions are noise for d/dmu_1, which a baseline removes."""
    eps = torch.randn(20_000, 8, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    f = lambda z: torch.sin(z).sum(dim=-1, keepdim=True)
    values = f(0.5 + eps)
    plain = score_function_gradients(f, 0.5, 1.0, eps)[0][..., 0].mean(dim=1)
    with_baseline = score_function_gradients(f, 0.5, 1.0, eps, baseline=leave_one_out_mean(values, dim=1))[0][..., 0].mean(dim=1)
    exact = torch.cos(torch.tensor(0.5)).item() * torch.exp(torch.tensor(-0.5)).item()
    standard_error = with_baseline.std().item() / len(with_baseline) ** 0.5
    assert abs(with_baseline.mean().item() - exact) < 5 * standard_error
    assert with_baseline.var() < plain.var() / 4


def test_a_baseline_that_depends_on_the_sample_biases_the_estimate():
    eps = torch.randn(10_000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    d_mu, _ = score_function_gradients(torch.sin, 0.5, 1.0, eps, baseline=torch.sin(0.5 + eps))  # b = f(z) itself
    assert d_mu.abs().max() == 0  # the estimate is 0, the gradient is not


def test_leave_one_out_mean_is_the_mean_of_the_others():
    values = torch.tensor([[1.0, 2.0, 6.0]])
    assert leave_one_out_mean(values, dim=1).tolist() == [[4.0, 3.5, 1.5]]
    with pytest.raises(ValueError, match="at least 2 samples"):
        leave_one_out_mean(values, dim=0)


def test_mean_estimates_average_each_rows_draws_of_the_first_coordinate():
    eps = torch.randn(5, 8, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    f = lambda z: torch.sin(z).sum(dim=-1, keepdim=True)
    pathwise = mean_estimates(pathwise_gradients, f, 0.5, 0.7, eps)
    assert torch.allclose(pathwise, torch.cos(0.5 + 0.7 * eps[..., 0]).mean(dim=1))  # d/dmu_1 of sum sin z_i
    others = lambda z: leave_one_out_mean(f(z), dim=-2)
    score = mean_estimates(score_function_gradients, f, 0.5, 0.7, eps, baseline=others)
    z = 0.5 + 0.7 * eps
    by_hand = ((f(z) - others(z))[..., 0] * eps[..., 0] / 0.7).mean(dim=1)
    assert score.shape == (5,) and torch.allclose(score, by_hand)
    scalar = mean_estimates(score_function_gradients, torch.sin, 0.5, 0.7, eps[..., 0])  # (repeats, n): z scalar
    assert torch.allclose(scalar, (torch.sin(z[..., 0]) * eps[..., 0] / 0.7).mean(dim=1))


def test_unbiased_accepts_the_exact_mean_and_rejects_a_bias_of_ten_standard_errors():
    estimates = torch.randn(400, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 2.0
    standard_error = estimates.std().item() / 20
    assert unbiased(estimates, estimates.mean().item())
    assert not unbiased(estimates, estimates.mean().item() + 10 * standard_error)
    assert unbiased(estimates, estimates.mean().item() + 10 * standard_error, standard_errors=11)


def test_gradient_ascent_takes_the_mean_step_and_climbs_to_the_maximum():
    """E[-(z - 3)^2] = -(mu - 3)^2 - sigma^2 is largest at mu = 3; its pathwise gradient is -2(z - 3)."""
    f = lambda z: -((z - 3) ** 2).sum(dim=-1, keepdim=True)
    start = torch.zeros(2, dtype=torch.float64)
    path = gradient_ascent(pathwise_gradients, f, start, 0.5, 0.1, 60, 16, torch.Generator().manual_seed(5))
    eps = torch.randn(16, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert len(path) == 61 and torch.equal(path[0], start)
    assert torch.allclose(path[1], start + 0.1 * (-2 * (start + 0.5 * eps - 3)).mean(dim=0))
    assert torch.allclose(path[-1], torch.full((2,), 3.0, dtype=torch.float64), atol=0.1)
    others = lambda z: leave_one_out_mean(f(z), dim=-2)
    score_path = gradient_ascent(score_function_gradients, f, start, 0.5, 0.01, 1, 16,
                                 torch.Generator().manual_seed(5), baseline=others)
    z = start + 0.5 * eps
    assert torch.allclose(score_path[1], start + 0.01 * ((f(z) - others(z)) * eps / 0.5).mean(dim=0))


# ------------------------------------------------------------------ notebook 04: estimators A and B in training


def test_encoder_gradient_variance_is_zero_without_noise_and_leaves_the_random_state(digits):
    model = VAE(digits.image_shape, latent_dim=4, hidden=8)
    x = vae_lite.binarize(digits.train[:16], torch.Generator().manual_seed(0))
    noiseless = lambda model, x: -model.log_likelihood(x, model.encode(x)[0])  # z = mu: no eps at all
    assert encoder_gradient_variance(noiseless, model, x) < 1e-12
    before = torch.get_rng_state()
    assert encoder_gradient_variance(lambda model, x: model.loss(x)[0], model, x) > 1e-6
    assert torch.equal(torch.get_rng_state(), before), "the global random state should be left as it was"


def test_train_with_each_starts_every_run_alike_and_records_every_step_asked_for(digits):
    same = lambda model, x: model.loss(x)[0]
    runs = train_with_each({"one": same, "two": same}, digits, digits.test[:50].round(), steps=5, every=2, batch_size=16)
    one, two = runs.values()
    assert one["step"] == [0, 2, 4, 5] and len(one["test_loss"]) == len(one["gradient_variance"]) == 4
    assert one == two, "the same loss on the same batches with the same eps should train the same model"
    assert one["test_loss"][-1] < one["test_loss"][0], "training should lower the test loss"


def test_show_prints_the_code_with_the_docstrings_first_line_and_hides_an_answer(capsys):
    from vae_lite.gradients import show

    show(score_function_gradients, left_out="value * (eps**2 - 1) / sigma", note="Exercise 2")
    out = capsys.readouterr().out
    assert "def score_function_gradients" in out and "...  # Exercise 2" in out
    assert "eps**2" not in out and "It needs no derivative" not in out  # the answer, the docstring's rest
    with pytest.raises(ValueError):
        show(pathwise_gradients, left_out="not in the code")
