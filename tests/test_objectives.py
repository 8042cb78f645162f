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


# ----------------------------------------------------- notebook 10 (appended by the notebook 10 helper)

from vae_lite import objectives  # noqa: E402


def test_log_weights_with_the_true_posterior_all_equal_log_evidence(toy):
    """With p(z|x) as proposal, every weight p(x, z)/q(z) is p(x): zero variance, any k."""
    x = toy_data(toy, n=20)
    log_w = objectives.log_weights(toy, x, k=7)
    assert log_w.shape == (7, 20)
    torch.testing.assert_close(log_w, toy.log_evidence(x).expand(7, 20))
    torch.testing.assert_close(objectives.iwae_bound(toy, x, k=7), toy.log_evidence(x))


def test_gaussian_log_weights_average_to_the_elbo_and_the_bound_tightens_with_k(toy):
    x = toy_data(toy, n=200)
    mu, logvar = toy.posterior(x)
    mu, logvar = mu + 0.8, logvar + 1.5  # a poor proposal
    log_w = objectives.gaussian_log_weights(toy, x, mu, logvar, 20_000)
    exact_elbo = toy.log_evidence(x) - kl_normal(mu, logvar, *toy.posterior(x))  # log p(x) - KL(q || p(z|x))
    assert ((log_w.mean(0) - exact_elbo).abs() < 4.5 * log_w.std(0) / math.sqrt(len(log_w))).all()
    exact = toy.log_evidence(x).mean().item()
    bounds = [objectives.iw_bound(log_w.reshape(k, -1, 200)).mean().item() for k in (1, 10, 100, 1000)]
    assert all(a < b for a, b in zip(bounds, bounds[1:])) and bounds[-1] < exact, (bounds, exact)
    assert exact - bounds[0] > 0.3 and exact - bounds[-1] < 0.05, (bounds, exact)


def test_iw_bound_is_log_mean_exp_over_the_first_dimension():
    log_w = torch.tensor([[0.0, -1000.0], [math.log(3.0), -1000.0 + math.log(3.0)]], dtype=torch.float64)
    torch.testing.assert_close(objectives.iw_bound(log_w), torch.tensor([math.log(2.0), -1000 + math.log(2.0)],
                                                                      dtype=torch.float64))
    torch.testing.assert_close(objectives.iw_bound(log_w[:1]), log_w[0])  # k = 1: the log weight itself


def test_effective_sample_size_runs_from_one_to_k():
    equal = torch.zeros(50, 3)
    dominated = torch.tensor([[0.0], [-100.0], [-100.0]])
    torch.testing.assert_close(objectives.effective_sample_size(equal), torch.full((3,), 50.0))
    torch.testing.assert_close(objectives.effective_sample_size(dominated), torch.ones(1))


def test_best_gaussian_finds_the_true_posterior_from_a_poor_start(toy):
    x = toy_data(toy, n=10)
    mu_true, logvar_true = toy.posterior(x)
    torch.manual_seed(0)
    mu, logvar, trace = objectives.best_gaussian(toy, x, steps=400, samples=64, every=100,
                                                 init=(mu_true + 1.0, logvar_true + 2.0))
    torch.testing.assert_close(mu, mu_true, atol=0.05, rtol=0)
    torch.testing.assert_close(logvar, logvar_true, atol=0.15, rtol=0)
    assert trace.shape == (5, 10)
    assert (trace[-1] > trace[0]).all(), "the ELBO should grow during the fit"


def test_best_gaussian_leaves_the_decoder_alone(digits):
    from vae_lite import VAE

    model = VAE(digits.image_shape, latent_dim=3, hidden=16)
    before = [p.detach().clone() for p in model.parameters()]
    objectives.best_gaussian(model, digits.test[:4].round(), steps=5)
    assert all(p.requires_grad and p.grad is None for p in model.parameters()), "weights must stay trainable, untouched"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_linear_vae_elbo_matches_monte_carlo_and_is_tight_at_the_posterior():
    g = torch.Generator().manual_seed(3)
    D, K, noise = 4, 2, 0.3
    x = torch.randn(5, D, generator=g, dtype=torch.float64)
    W, b = torch.randn(D, K, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
    V, c = torch.randn(K, D, generator=g, dtype=torch.float64), torch.randn(K, generator=g, dtype=torch.float64)
    logvar = torch.randn(K, generator=g, dtype=torch.float64)
    exact = objectives.linear_vae_elbo(x, W, b, V, c, logvar, noise)
    q = Normal((x - b) @ V.T + c, (0.5 * logvar).exp())
    z = q.sample((200_000,))  # (S, N, K)
    samples = (Normal(z @ W.T + b, math.sqrt(noise)).log_prob(x).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
               - q.log_prob(z).sum(-1))
    assert ((exact - samples.mean(0)).abs() < 4 * samples.std(0) / math.sqrt(len(samples))).all()
    # with orthogonal columns the posterior is diagonal, so the exact posterior as q makes the ELBO log p(x)
    W = torch.linalg.qr(torch.randn(D, K, generator=g, dtype=torch.float64))[0] * torch.tensor([2.0, 0.7])
    precision = torch.eye(K, dtype=torch.float64) + W.T @ W / noise
    V_post, logvar_post = torch.linalg.solve(precision, W.T) / noise, -torch.diagonal(precision).log()
    evidence = torch.distributions.MultivariateNormal(b, W @ W.T + noise * torch.eye(D, dtype=torch.float64))
    torch.testing.assert_close(objectives.linear_vae_elbo(x, W, b, V_post, torch.zeros(K, dtype=torch.float64),
                                                          logvar_post, noise), evidence.log_prob(x))
