"""The two gradient estimators of E_q[f(z)], q = N(mu, sigma^2), against autograd."""

import pytest
import torch

from vae_lite.gradients import leave_one_out_mean, pathwise_gradients, score_function_gradients


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
