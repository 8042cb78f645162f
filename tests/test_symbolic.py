"""The sympy derivations of notebooks 02-04 hold, and agree with plain numerical integration.

scipy's quad integrates the same densities numerically, independently of sympy, so a
wrong symbolic result (or a wrong step in building it) shows up as a numerical mismatch.
"""

import math

import pytest
import sympy as sp
import torch
from scipy import integrate, stats

from vae_lite import symbolic as S
from vae_lite.objectives import kl_normal, kl_standard_normal

POINTS = [(0.0, 1.0), (1.3, 0.4), (-2.0, 2.5)]  # (mu, sigma)


def numeric_kl(mq, sq, mp, sp_):
    q, p = stats.norm(mq, sq), stats.norm(mp, sp_)
    value, _ = integrate.quad(lambda t: q.pdf(t) * (q.logpdf(t) - p.logpdf(t)), -math.inf, math.inf)
    return value


@pytest.fixture(scope="module")
def kl():
    return S.kl_standard_normal()


def test_sympy_integrates_the_kl_to_the_textbook_form(kl):
    variance_form, var = S.in_terms_of_variance(kl)
    textbook = (S.mu**2 + var - sp.log(var) - 1) / 2
    assert sp.simplify(variance_form - textbook) == 0
    assert not kl.has(sp.Integral), "sympy left the integral unevaluated"


@pytest.mark.parametrize("m, sd", POINTS)
def test_kl_equals_numerical_integration_and_the_package(kl, m, sd):
    value = float(kl.subs({S.mu: m, S.sigma: sd}))
    assert value == pytest.approx(numeric_kl(m, sd, 0, 1), abs=1e-8)
    package = kl_standard_normal(torch.tensor([[m]], dtype=torch.float64), torch.tensor([[2 * math.log(sd)]], dtype=torch.float64))
    assert value == pytest.approx(package.item(), abs=1e-10)


def test_kl_between_two_gaussians_equals_numerical_integration_and_torch():
    mp, sp_ = sp.Symbol("mu_p", real=True), sp.Symbol("sigma_p", positive=True)
    general = S.kl_gaussians(S.mu_q, S.sigma_q, mp, sp_)
    for mq_, sq_, mp_, sp__ in [(0.5, 0.3, -1.0, 2.0), (2.0, 1.5, 2.0, 0.7), (0.0, 1.0, 0.0, 1.0)]:
        value = float(general.subs({S.mu_q: mq_, S.sigma_q: sq_, mp: mp_, sp_: sp__}))
        assert value == pytest.approx(numeric_kl(mq_, sq_, mp_, sp__), abs=1e-8)
        q = torch.distributions.Normal(torch.tensor(mq_), torch.tensor(sq_))
        p = torch.distributions.Normal(torch.tensor(mp_), torch.tensor(sp__))
        assert value == pytest.approx(torch.distributions.kl_divergence(q, p).item(), rel=1e-5, abs=1e-6)
        t = lambda v: torch.tensor([[v]], dtype=torch.float64)
        assert value == pytest.approx(kl_normal(t(mq_), t(2 * math.log(sq_)), t(mp_), t(2 * math.log(sp__))).item(), abs=1e-10)
    assert sp.simplify(general.subs({mp: 0, sp_: 1}) - S.kl_gaussians(S.mu_q, S.sigma_q, 0, 1)) == 0


@pytest.mark.slow  # sympy integrals: about 10 s
def test_diagonal_kl_is_the_sum_of_per_dimension_kls(kl):
    total, means, stds = S.kl_diagonal(2)
    per_dim = sum(kl.subs({S.mu: m, S.sigma: sd}) for m, sd in zip(means, stds))
    assert sp.simplify(sp.expand_log(total - per_dim, force=True)) == 0
    # and numerically, as a double integral over the plane
    values = {means[0]: 0.7, stds[0]: 0.5, means[1]: -1.0, stds[1]: 1.8}
    q1, q2 = stats.norm(0.7, 0.5), stats.norm(-1.0, 1.8)
    log_ratio = lambda a, c: q1.logpdf(a) + q2.logpdf(c) - stats.norm.logpdf(a) - stats.norm.logpdf(c)
    numeric, _ = integrate.dblquad(lambda c, a: q1.pdf(a) * q2.pdf(c) * log_ratio(a, c), -2, 3.5, -12, 10, epsabs=1e-9)
    assert float(total.subs(values)) == pytest.approx(numeric, abs=1e-6)


@pytest.fixture(scope="module")
def toy():
    return S.linear_gaussian()


def test_linear_gaussian_closed_forms_match_numerical_integration(toy):
    values = {S.x: 1.7, S.w: 2.0, S.b: 0.5, S.s: 0.8}
    joint = lambda t: math.exp(float(toy["log_joint"].subs(values).subs(S.z, t)))
    evidence, _ = integrate.quad(joint, -math.inf, math.inf)
    assert float(toy["evidence"].subs(values)) == pytest.approx(evidence, rel=1e-8)
    # posterior mean and variance as moments of p(x,z)/p(x)
    mean, _ = integrate.quad(lambda t: t * joint(t) / evidence, -math.inf, math.inf)
    second, _ = integrate.quad(lambda t: t * t * joint(t) / evidence, -math.inf, math.inf)
    assert float(toy["posterior_mean"].subs(values)) == pytest.approx(mean, abs=1e-8)
    assert float(toy["posterior_std"].subs(values)) ** 2 == pytest.approx(second - mean**2, abs=1e-8)


def test_every_step_of_the_elbo_derivation_holds(toy):
    steps = S.elbo_derivation(toy)
    assert len(steps) >= 4
    for step in steps:
        assert step.holds(), step.says


def test_a_broken_step_is_detected(toy):
    # the same check on a wrong identity (KL subtracted instead of added) must fail
    elbo, kl = S.elbo_terms(toy)
    assert not S.Step("wrong", toy["log_evidence"] - (elbo - kl)).holds()


def test_elbo_and_gap_equal_numerical_integration(toy):
    values = {S.x: -0.4, S.w: 1.5, S.b: 0.2, S.s: 0.6, S.mu_q: 0.3, S.sigma_q: 0.9}
    elbo, kl = S.elbo_terms(toy)
    q = stats.norm(0.3, 0.9)
    log_joint = sp.lambdify(S.z, toy["log_joint"].subs(values), "math")
    numeric_elbo, _ = integrate.quad(lambda t: q.pdf(t) * (log_joint(t) - q.logpdf(t)), -math.inf, math.inf)
    assert float(elbo.subs(values)) == pytest.approx(numeric_elbo, abs=1e-8)
    post = stats.norm(float(toy["posterior_mean"].subs(values)), float(toy["posterior_std"].subs(values)))
    assert float(kl.subs(values)) == pytest.approx(numeric_kl(0.3, 0.9, post.mean(), post.std()), abs=1e-8)


def test_elbo_is_maximal_at_the_true_posterior(toy):
    (solution,) = S.elbo_maximiser(toy)
    assert sp.simplify(solution[S.mu_q] - toy["posterior_mean"]) == 0
    assert sp.simplify(solution[S.sigma_q] - toy["posterior_std"]) == 0


def test_jensen(toy):
    second_derivative, mean_ratio = S.jensen_log()
    t = second_derivative.free_symbols.pop()
    assert all(float(second_derivative.subs(t, v)) < 0 for v in (0.01, 1, 100))
    assert S.is_zero(sp.log(mean_ratio) - toy["log_evidence"])


@pytest.mark.slow  # sympy integrals: about 10 s
def test_expected_gradient_and_both_estimators_agree_with_numerics():
    value, d_mu, d_sigma = S.expected_gradient()
    means = S.estimator_means()
    for estimator in ("pathwise", "score"):
        assert sp.simplify(means[estimator][0] - d_mu) == 0
        assert sp.simplify(means[estimator][1] - d_sigma) == 0
    m, sd, h = 0.4, 1.3, 1e-5
    numeric = lambda m_, s_: integrate.quad(lambda t: math.sin(t) * stats.norm(m_, s_).pdf(t), -math.inf, math.inf)[0]
    at = {S.mu: m, S.sigma: sd}
    assert float(value.subs(at)) == pytest.approx(numeric(m, sd), abs=1e-8)
    assert float(d_mu.subs(at)) == pytest.approx((numeric(m + h, sd) - numeric(m - h, sd)) / (2 * h), abs=1e-6)
    assert float(d_sigma.subs(at)) == pytest.approx((numeric(m, sd + h) - numeric(m, sd - h)) / (2 * h), abs=1e-6)


# ----------------------------------------------------- notebook 10 (appended by the notebook 10 helper)


def test_gaussian_expectation_equals_the_direct_integral():
    expr = S.log_normal(S.z, S.mu_q, S.sigma_q) + S.z**3 - 2 * S.z
    assert sp.simplify(S.gaussian_expectation(expr, S.z, S.mu, S.sigma)
                       - S.expectation(expr, S.z, S.mu, S.sigma)) == 0


@pytest.fixture(scope="module")
def linear():
    return S.linear_vae()


def test_linear_vae_expected_elbo_and_likelihood_equal_numerical_integration(linear):
    values = {S.data_variance: 2.5, S.noise_variance: 0.4, S.w_lin: 0.9, S.v_lin: 0.3, S.tau: 0.6}
    lam, s2, w, v, tau = (values[k] for k in (S.data_variance, S.noise_variance, S.w_lin, S.v_lin, S.tau))

    def inner(x):  # E_q[log p(x|z) + log p(z) - log q(z|x)] for one x, by quadrature over z
        q = stats.norm(v * x, tau)
        f = lambda t: q.pdf(t) * (stats.norm(w * t, math.sqrt(s2)).logpdf(x) + stats.norm.logpdf(t) - q.logpdf(t))
        return integrate.quad(f, v * x - 12 * tau, v * x + 12 * tau)[0]

    data = stats.norm(0, math.sqrt(lam))
    elbo = integrate.quad(lambda x: data.pdf(x) * inner(x), -12 * math.sqrt(lam), 12 * math.sqrt(lam))[0]
    loglik = integrate.quad(lambda x: data.pdf(x) * stats.norm(0, math.sqrt(w**2 + s2)).logpdf(x), -30, 30)[0]
    assert float(linear["elbo"].subs(values)) == pytest.approx(elbo, abs=1e-7)
    assert float(linear["log_likelihood"].subs(values)) == pytest.approx(loglik, abs=1e-7)


def test_linear_vae_is_ppca_and_collapses_to_the_prior(linear):
    assert linear["gap"] == 0
    assert set(linear["ml_w"]) == {0, sp.sqrt(S.data_variance - S.noise_variance),
                                   -sp.sqrt(S.data_variance - S.noise_variance)}
    assert linear["collapsed_q"] == {S.v_lin: 0, S.tau: 1}
    # the best encoder is the exact posterior of x | z ~ N(w z, sigma^2), z ~ N(0, 1)
    w, s2 = S.w_lin, S.noise_variance
    assert sp.simplify(linear["best_q"][S.v_lin] - w / (w**2 + s2)) == 0
    assert sp.simplify(linear["best_q"][S.tau] ** 2 - s2 / (w**2 + s2)) == 0
