"""The two gradient estimators of E_q[f(z)], q = N(mu, sigma^2), against autograd."""

import pytest
import torch

from vae_lite.gradients import pathwise_gradients, score_function_gradients


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
