"""The objectives against independent computations: torch.distributions, Monte Carlo, closed forms."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_lite import LinearGaussian, elbo, iw_log_likelihood, kl_normal, kl_standard_normal, reparameterize


def random_gaussians(n=64, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * 2, torch.randn(n, d, generator=g, dtype=torch.float64)


def test_kl_standard_normal_matches_torch_distributions():
    mu, logvar = random_gaussians()
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), expected)


def test_kl_normal_matches_torch_distributions_and_reduces_to_standard():
    mu_q, logvar_q = random_gaussians(seed=1)
    mu_p, logvar_p = random_gaussians(seed=2)
    expected = kl_divergence(Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())).sum(-1)
    torch.testing.assert_close(kl_normal(mu_q, logvar_q, mu_p, logvar_p), expected)
    zeros = torch.zeros_like(mu_q)
    torch.testing.assert_close(kl_normal(mu_q, logvar_q, zeros, zeros), kl_standard_normal(mu_q, logvar_q))


def test_kl_matches_monte_carlo_within_its_standard_error():
    mu = torch.tensor([[0.7, -1.2, 0.1]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.8, 0.0]], dtype=torch.float64)
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.sample((200_000,))
    samples = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    estimate, stderr = samples.mean(), samples.std() / math.sqrt(len(samples))
    assert abs(kl_standard_normal(mu, logvar).item() - estimate.item()) < 4 * stderr.item()


def test_kl_is_zero_only_at_the_standard_normal():
    zero = torch.zeros(1, 3)
    assert kl_standard_normal(zero, zero).item() == 0.0
    for mu, logvar in [(0.1, 0.0), (0.0, 0.1), (0.0, -0.1), (-0.3, 0.2)]:
        kl = kl_standard_normal(torch.full((1, 3), mu), torch.full((1, 3), logvar))
        assert kl.item() > 0, (mu, logvar)


def test_reparameterize_has_the_right_moments_and_passes_gradients():
    mu = torch.tensor([1.5, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    z.mean().backward()
    assert mu.grad is not None and logvar.grad is not None


@pytest.fixture
def toy():
    return LinearGaussian(w=[1.5, -0.5, 2.0], b=[0.2, 0.0, -1.0], s=0.7)


def toy_data(model, n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 1, generator=g, dtype=torch.float64)
    return z * model.w + model.b + model.s * torch.randn(n, 3, generator=g, dtype=torch.float64)


def test_linear_gaussian_posterior_is_bayes_rule(toy):
    """p(z|x) = p(x|z) p(z) / p(x), checked pointwise."""
    x = toy_data(toy, n=5)
    mu, logvar = toy.posterior(x)
    z = torch.linspace(-2, 2, 7, dtype=torch.float64).reshape(7, 1, 1).expand(7, 5, 1)
    log_posterior = Normal(mu, (0.5 * logvar).exp()).log_prob(z).squeeze(-1)
    log_bayes = toy.log_likelihood(x, z) + Normal(0.0, 1.0).log_prob(z).squeeze(-1) - toy.log_evidence(x)
    torch.testing.assert_close(log_posterior, log_bayes)


def test_elbo_with_the_true_posterior_equals_log_evidence(toy):
    x = toy_data(toy)
    terms = elbo(toy, x, samples=20_000)
    torch.testing.assert_close(terms.elbo, toy.log_evidence(x), atol=0.05, rtol=0)
    torch.testing.assert_close(terms.elbo, terms.reconstruction - terms.kl)


def test_elbo_is_below_log_evidence_for_a_wrong_posterior_by_the_kl(toy):
    x = toy_data(toy)
    shifted = lambda x_: (toy.posterior(x_)[0] + 0.5, toy.posterior(x_)[1] + 1.0)
    wrong = LinearGaussian(toy.w, toy.b, toy.s, q=shifted)
    gap = toy.log_evidence(x) - elbo(wrong, x, samples=20_000).elbo
    mu_true, logvar_true = toy.posterior(x)
    mu_q, logvar_q = shifted(x)
    torch.testing.assert_close(gap, kl_normal(mu_q, logvar_q, mu_true, logvar_true), atol=0.1, rtol=0)


def test_iw_log_likelihood_is_exact_with_the_true_posterior(toy):
    x = toy_data(toy)
    torch.testing.assert_close(iw_log_likelihood(toy, x, k=3), toy.log_evidence(x))


def test_iw_log_likelihood_approaches_log_evidence_as_k_grows(toy):
    x = toy_data(toy, n=200)
    wrong = LinearGaussian(toy.w, toy.b, toy.s, q=lambda x_: (toy.posterior(x_)[0] + 0.8, toy.posterior(x_)[1] + 1.5))
    exact = toy.log_evidence(x).mean().item()
    gaps = [exact - iw_log_likelihood(wrong, x, k=k).mean().item() for k in (1, 10, 100, 2000)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[0] > 0.3 and gaps[-1] < 0.03, gaps


def test_iw_log_likelihood_in_small_chunks_estimates_the_same_value(toy):
    x = toy_data(toy, n=300)
    wrong = LinearGaussian(toy.w, toy.b, toy.s, q=lambda x_: (toy.posterior(x_)[0] + 0.3, toy.posterior(x_)[1]))
    whole = iw_log_likelihood(wrong, x, k=64, max_elements=10**9)
    chunked = iw_log_likelihood(wrong, x, k=64, batch_size=7, max_elements=3 * 7 * 5)  # 5 samples a chunk
    assert chunked.shape == whole.shape == (300,)
    difference = whole - chunked
    assert abs(difference.mean()) < 4 * difference.std() / len(x) ** 0.5 + 1e-9
    assert chunked.mean() < toy.log_evidence(x).mean()  # a lower bound on average


# ------------------------------------------------------------------ a conditional model


def test_the_objectives_pass_labels_to_a_conditional_model(conditional_vae):
    """With y given, elbo, log_weights and iw_log_likelihood compute what the same functions
    compute for a model with that y built in."""
    import types

    from vae_lite import log_weights

    torch.manual_seed(1)
    x = torch.bernoulli(torch.full((6, 1, 8, 8), 0.3))
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    def with_labels(labels):
        return types.SimpleNamespace(encode=lambda x_: conditional_vae.encode(x_, labels),
                                     log_likelihood=lambda x_, z: conditional_vae.log_likelihood(x_, z, labels))

    seeded = lambda: torch.Generator().manual_seed(3)
    with torch.no_grad():
        torch.testing.assert_close(elbo(conditional_vae, x, samples=4, generator=seeded(), y=y),
                                   elbo(with_labels(y), x, samples=4, generator=seeded()))
        weights = log_weights(conditional_vae, x, 5, generator=seeded(), y=y)
        assert weights.shape == (5, 6)
        torch.testing.assert_close(weights, log_weights(with_labels(y), x, 5, generator=seeded()))
        assert not torch.allclose(weights, log_weights(conditional_vae, x, 5, generator=seeded(), y=(y + 1) % 10))
    # in chunks of 4 images: each chunk gets its own 4 labels
    chunked = iw_log_likelihood(conditional_vae, x, k=8, batch_size=4, generator=seeded(), y=y)
    generator = seeded()
    expected = torch.cat([iw_log_likelihood(with_labels(y[:4]), x[:4], k=8, generator=generator),
                          iw_log_likelihood(with_labels(y[4:]), x[4:], k=8, generator=generator)])
    torch.testing.assert_close(chunked, expected)
