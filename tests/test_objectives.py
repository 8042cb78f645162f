"""The objectives against independent computations: torch.distributions, Monte Carlo, closed
forms, and properties that hold for every input (hypothesis).

Hypothesis runs derandomized (the same examples every run) with modest example counts, and
every Monte Carlo step takes a seeded generator, so this file gives the same verdict on every
run. Statistical checks allow Z standard errors, computed from the samples themselves.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch.distributions import Normal, kl_divergence

import vae_lite
from vae_lite import LinearGaussian, elbo, iw_log_likelihood, kl_normal, kl_standard_normal, reparameterize
from vae_lite.objectives import gaussian_log_weights, iw_bound, mixture_log_weights

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
Z = 5  # standard errors allowed in statistical comparisons
DTYPES = st.sampled_from([np.float32, np.float64])

pytestmark = pytest.mark.usefixtures("one_thread")


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


@st.composite
def gaussians(draw, dims=st.integers(1, 8)):
    """(mu, logvar) of a diagonal Gaussian, in float32 or float64, often very close to N(0, I)."""
    dtype, d = draw(DTYPES), draw(dims)
    # numbers of every magnitude from 1e-9 to 30: rounding bites a hair away from N(0, I)
    any_scale = st.builds(lambda m, e: float(np.float32(m * 10.0**e)), st.floats(-3, 3), st.integers(-9, 1))
    mean_at_zero = draw(st.booleans())  # often exactly at the prior's mean, where only logvar counts
    mu = np.zeros(d, dtype) if mean_at_zero else draw(arrays(dtype, d, elements=any_scale | st.just(0.0)))
    logvar = draw(arrays(dtype, d, elements=any_scale | st.just(0.0)))
    return torch.from_numpy(mu), torch.from_numpy(logvar)


@SETTINGS
@given(gaussians())
def test_kl_to_the_standard_normal_is_positive_away_from_it_and_zero_at_it(gaussian):
    mu, logvar = gaussian
    kl = kl_standard_normal(mu, logvar).item()
    assert kl >= 0
    # 1e-3 away in some coordinate adds at least about 1e-3**2 / 2 = 5e-7 nats, well above float32 rounding
    if (mu.abs() >= 1e-3).any() or (logvar.abs() >= 1e-3).any():
        assert kl > 0
    zeros = torch.zeros_like(mu)
    assert kl_standard_normal(zeros, zeros).item() == 0


@SETTINGS
@given(DTYPES, st.floats(-3, 3), st.integers(-9, -1), st.floats(-1e-4, 1e-4))
def test_kl_is_never_negative_a_hair_away_from_the_standard_normal(dtype, m, e, mu):
    """Where exp(logvar) - 1 loses its digits: logvar of size 1e-9 .. 0.3, mu tiny or 0."""
    logvar = torch.tensor([[m * 10.0**e]], dtype=getattr(torch, np.dtype(dtype).name))
    mu = torch.full_like(logvar, mu)
    assert kl_standard_normal(mu, logvar).item() >= 0
    assert kl_standard_normal(torch.zeros_like(mu), logvar).item() >= 0
    assert kl_normal(mu, logvar, torch.zeros_like(mu), torch.zeros_like(mu)).item() >= 0
    assert kl_normal(mu, logvar, mu, torch.zeros_like(mu)).item() >= 0


@SETTINGS
@given(gaussians(dims=st.just(3)), gaussians(dims=st.just(3)))
def test_kl_between_two_gaussians_is_never_negative_and_zero_between_equals(q, p):
    (mu_q, logvar_q), (mu_p, logvar_p) = q, p
    mu_p, logvar_p = mu_p.to(mu_q.dtype), logvar_p.to(mu_q.dtype)
    assert kl_normal(mu_q, logvar_q, mu_p, logvar_p).item() >= 0
    assert kl_normal(mu_q, logvar_q, mu_q, logvar_q).item() == 0


def test_reparameterize_has_the_right_moments_and_passes_gradients():
    mu = torch.tensor([1.5, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    z.mean().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_beta_weights_the_kl_in_the_elbo(digits):
    model = vae_lite.VAE(digits.image_shape, latent_dim=4, hidden=64)
    x = vae_lite.binarized_test_set(digits)[:50]
    terms = elbo(model, x, beta=3.0)
    torch.testing.assert_close(terms.elbo, terms.reconstruction - 3.0 * terms.kl)


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
    gaps = [exact - iw_log_likelihood(wrong, x, k=k).mean().item() for k in (1, 2000)]
    assert gaps[0] > 0.3 and 0 < gaps[1] < 0.03, gaps


def exact_elbo(model, x, mu, logvar):
    """The ELBO of the linear-Gaussian model under q = N(mu, exp(logvar)), in closed form.

    E_q[log N(x; w z + b, s^2 I)] = -D/2 log(2 pi s^2) - (|x - b - w mu|^2 + |w|^2 var) / (2 s^2)
    """
    d, s2 = len(model.w), model.s**2
    var = logvar.exp()
    expected_log_likelihood = (-0.5 * d * math.log(2 * math.pi * s2)
                               - ((x - model.b - mu * model.w).pow(2).sum(-1) + model.w.dot(model.w) * var[..., 0])
                               / (2 * s2))
    return expected_log_likelihood - kl_standard_normal(mu, logvar)


@st.composite
def linear_gaussian_problems(draw):
    """A linear-Gaussian model, one x, and an approximate posterior q that is off by
    `shift` posterior standard deviations in its mean and by `stretch` in its log-variance."""
    d = draw(st.integers(1, 4))
    values = lambda lo, hi: [draw(st.floats(lo, hi)) for _ in range(d)]
    w, b, x = values(-2, 2), values(-1, 1), values(-3, 3)
    s = draw(st.floats(0.3, 2.0))
    shift, stretch = draw(st.floats(-1.5, 1.5)), draw(st.floats(-1.5, 1.5))
    exact = LinearGaussian(w, b, s)

    def q(x):
        m, log_v = exact.posterior(x)
        return m + shift * (0.5 * log_v).exp(), log_v + stretch

    return LinearGaussian(w, b, s, q=q), torch.tensor([x], dtype=torch.float64), shift, stretch


@settings(max_examples=25, derandomize=True, deadline=None, database=None)
@given(linear_gaussian_problems(), st.integers(0, 2**31))
def test_importance_weighting_is_never_below_the_elbo_and_tightens_with_k(problem, seed):
    model, x, shift, stretch = problem
    generator = torch.Generator().manual_seed(seed)
    log_px = model.log_evidence(x).item()
    elbo_q = exact_elbo(model, x, *model.encode(x)).item()
    # the gap log p(x) - ELBO is KL(q || posterior) = (e^stretch + shift^2 - 1 - stretch) / 2
    assert math.isclose(log_px - elbo_q, 0.5 * (math.exp(stretch) + shift**2 - 1 - stretch), rel_tol=1e-6, abs_tol=1e-9)

    # independent estimates of each bound, for its mean and standard error; small k varies most
    estimates = {}
    for k, repeats in ((1, 4000), (10, 1000), (100, 400)):
        values = iw_log_likelihood(model, x.expand(repeats, -1), k=k, generator=generator)
        estimates[k] = (values.mean().item(), values.std().item() / math.sqrt(repeats))

    mean_1, se_1 = estimates[1]
    assert abs(mean_1 - elbo_q) <= Z * se_1 + 1e-9, "with k=1 the bound is the ELBO"
    for k, (mean, se) in estimates.items():
        assert mean >= elbo_q - Z * se - 1e-9, f"k={k}: below the ELBO on average"
        assert mean <= log_px + Z * se + 1e-9, f"k={k}: above log p(x) on average"
    for small, large in ((1, 10), (10, 100)):
        (m_small, se_small), (m_large, se_large) = estimates[small], estimates[large]
        assert m_large >= m_small - Z * math.hypot(se_small, se_large) - 1e-9, f"k={large} looser than k={small}"
    if log_px - elbo_q > 0.05:  # a q clearly off the posterior: more samples must visibly help
        (m_1, se_1), (m_100, se_100) = estimates[1], estimates[100]
        assert m_100 - m_1 > Z * math.hypot(se_1, se_100), "k=100 is not measurably tighter than k=1"


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


# ------------------------------------------------------------------------ notebook 10

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


def test_mixture_log_weights_estimate_the_exact_evidence_and_one_proposal_is_gaussian_log_weights(toy):
    """The defensive mixture is unbiased for p(x) however poor each proposal alone, and never gives a weight
    above M times the weight of the best single proposal."""
    x = toy_data(toy, n=20)
    mu, logvar = toy.posterior(x)
    narrow, off = (mu, logvar - 2.0), (mu + 0.3, logvar + 1.0)  # too narrow alone; off-centre and wide
    log_w = mixture_log_weights(toy, x, [narrow, off], 20_000, torch.Generator().manual_seed(0))
    assert log_w.shape == (20_000, 20)
    torch.testing.assert_close(iw_bound(log_w), toy.log_evidence(x), atol=0.02, rtol=0)
    # the bound: p / (½ q1 + ½ q2) <= 2 p / q_m for each m, on the very draws
    generator = torch.Generator().manual_seed(0)  # the same draws again
    z = torch.cat([reparameterize(m.expand(10_000, *m.shape), v.expand(10_000, *v.shape), generator)
                   for m, v in (narrow, off)])
    log_joint = toy.log_likelihood(x, z) + Normal(0.0, 1.0).log_prob(z).sum(-1)
    single = torch.stack([log_joint - Normal(m, (0.5 * v).exp()).log_prob(z).sum(-1) for m, v in (narrow, off)])
    assert (log_w <= single.min(dim=0).values + math.log(2) + 1e-9).all()
    with pytest.raises(ValueError, match="multiple of 2"):
        mixture_log_weights(toy, x, [narrow, off], 7)
    one = mixture_log_weights(toy, x, [narrow], 7, torch.Generator().manual_seed(1))
    torch.testing.assert_close(one, gaussian_log_weights(toy, x, *narrow, 7, torch.Generator().manual_seed(1)))
