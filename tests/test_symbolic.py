"""The sympy derivations of notebooks 02-04 hold, and agree with plain numerical integration.

scipy's quad integrates the same densities numerically, independently of sympy, so a
wrong symbolic result (or a wrong step in building it) shows up as a numerical mismatch.
"""

import math

import pytest
import sympy as sp
import torch
from scipy import integrate, stats

from vae_lite import symbolic
from vae_lite.objectives import kl_normal, kl_standard_normal

POINTS = [(0.0, 1.0), (1.3, 0.4), (-2.0, 2.5)]  # (mu, sigma)


def numeric_kl(mq, sq, mp, sp_):
    q, p = stats.norm(mq, sq), stats.norm(mp, sp_)
    value, _ = integrate.quad(lambda t: q.pdf(t) * (q.logpdf(t) - p.logpdf(t)), -math.inf, math.inf)
    return value


@pytest.fixture(scope="module")
def kl():
    return symbolic.kl_standard_normal()


def test_sympy_integrates_the_kl_to_the_textbook_form(kl):
    variance_form, var = symbolic.in_terms_of_variance(kl)
    textbook = (symbolic.mu**2 + var - sp.log(var) - 1) / 2
    assert sp.simplify(variance_form - textbook) == 0
    assert not kl.has(sp.Integral), "sympy left the integral unevaluated"


@pytest.mark.parametrize("m, sd", POINTS)
def test_kl_equals_numerical_integration_and_the_package(kl, m, sd):
    value = float(kl.subs({symbolic.mu: m, symbolic.sigma: sd}))
    assert value == pytest.approx(numeric_kl(m, sd, 0, 1), abs=1e-8)
    package = kl_standard_normal(torch.tensor([[m]], dtype=torch.float64), torch.tensor([[2 * math.log(sd)]], dtype=torch.float64))
    assert value == pytest.approx(package.item(), abs=1e-10)


def test_kl_between_two_gaussians_equals_numerical_integration_and_torch():
    mp, sp_ = sp.Symbol("mu_p", real=True), sp.Symbol("sigma_p", positive=True)
    general = symbolic.kl_gaussians(symbolic.mu_q, symbolic.sigma_q, mp, sp_)
    for mq_, sq_, mp_, sp__ in [(0.5, 0.3, -1.0, 2.0), (2.0, 1.5, 2.0, 0.7), (0.0, 1.0, 0.0, 1.0)]:
        value = float(general.subs({symbolic.mu_q: mq_, symbolic.sigma_q: sq_, mp: mp_, sp_: sp__}))
        assert value == pytest.approx(numeric_kl(mq_, sq_, mp_, sp__), abs=1e-8)
        q = torch.distributions.Normal(torch.tensor(mq_), torch.tensor(sq_))
        p = torch.distributions.Normal(torch.tensor(mp_), torch.tensor(sp__))
        assert value == pytest.approx(torch.distributions.kl_divergence(q, p).item(), rel=1e-5, abs=1e-6)
        t = lambda v: torch.tensor([[v]], dtype=torch.float64)
        assert value == pytest.approx(kl_normal(t(mq_), t(2 * math.log(sq_)), t(mp_), t(2 * math.log(sp__))).item(), abs=1e-10)
    assert sp.simplify(general.subs({mp: 0, sp_: 1}) - symbolic.kl_gaussians(symbolic.mu_q, symbolic.sigma_q, 0, 1)) == 0


@pytest.mark.slow  # sympy integrals: about 10 s
def test_diagonal_kl_is_the_sum_of_per_dimension_kls(kl):
    total, means, stds, _ = symbolic.kl_diagonal(2)
    per_dim = sum(kl.subs({symbolic.mu: m, symbolic.sigma: sd}) for m, sd in zip(means, stds))
    assert sp.simplify(sp.expand_log(total - per_dim, force=True)) == 0
    # and numerically, as a double integral over the plane
    values = {means[0]: 0.7, stds[0]: 0.5, means[1]: -1.0, stds[1]: 1.8}
    q1, q2 = stats.norm(0.7, 0.5), stats.norm(-1.0, 1.8)
    log_ratio = lambda a, c: q1.logpdf(a) + q2.logpdf(c) - stats.norm.logpdf(a) - stats.norm.logpdf(c)
    numeric, _ = integrate.dblquad(lambda c, a: q1.pdf(a) * q2.pdf(c) * log_ratio(a, c), -2, 3.5, -12, 10, epsabs=1e-9)
    assert float(total.subs(values)) == pytest.approx(numeric, abs=1e-6)


def test_a_correlated_covariance_does_not_give_the_sum_of_per_dimension_kls(kl):
    """The 2-d integral is taken from the covariance matrix, so notebook 04's check can fail: with
    correlation rho the KL exceeds the marginals' sum by -log(1 - rho^2) / 2."""
    s1, s2 = sp.symbols("sigma_1:3", positive=True)
    rho = sp.Rational(1, 2)
    total, means, stds, _ = symbolic.kl_diagonal(2, sp.Matrix([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]]))
    per_dim = sum(kl.subs({symbolic.mu: m, symbolic.sigma: sd}) for m, sd in zip(means, stds))
    assert symbolic.is_zero(total - per_dim + sp.log(1 - rho**2) / 2)


@pytest.fixture(scope="module")
def toy():
    return symbolic.linear_gaussian()


def test_linear_gaussian_closed_forms_match_numerical_integration(toy):
    values = {symbolic.x: 1.7, symbolic.w: 2.0, symbolic.b: 0.5, symbolic.s: 0.8}
    joint = lambda t: math.exp(float(toy["log_joint"].subs(values).subs(symbolic.z, t)))
    evidence, _ = integrate.quad(joint, -math.inf, math.inf)
    assert float(toy["evidence"].subs(values)) == pytest.approx(evidence, rel=1e-8)
    # posterior mean and variance as moments of p(x,z)/p(x)
    mean, _ = integrate.quad(lambda t: t * joint(t) / evidence, -math.inf, math.inf)
    second, _ = integrate.quad(lambda t: t * t * joint(t) / evidence, -math.inf, math.inf)
    assert float(toy["posterior_mean"].subs(values)) == pytest.approx(mean, abs=1e-8)
    assert float(toy["posterior_std"].subs(values)) ** 2 == pytest.approx(second - mean**2, abs=1e-8)
    # and the log posterior itself, point by point, against log(p(x,z) / p(x)) with p(x) from quad
    log_posterior = sp.lambdify(symbolic.z, toy["log_posterior"].subs(values), "math")
    for t in (-1.0, 0.3, 0.6, 2.5):
        assert log_posterior(t) == pytest.approx(math.log(joint(t) / evidence), abs=1e-9)


def test_the_posterior_is_derived_without_the_evidence(toy):
    """Otherwise Bayes' rule would hold by definition, whatever the evidence."""
    posterior = toy["log_posterior"]
    assert symbolic.is_zero(posterior - symbolic.log_normal(symbolic.z, toy["posterior_mean"], toy["posterior_std"]))
    wrong = symbolic.linear_gaussian(symbolic.evidence_without_noise())
    assert not symbolic.is_zero(wrong["log_evidence"] - toy["log_evidence"])
    assert symbolic.is_zero(wrong["log_posterior"] - posterior), "a wrong evidence must not change the posterior"


def test_every_step_of_the_elbo_derivation_holds(toy):
    steps = symbolic.elbo_derivation(toy)
    assert len(steps) >= 4
    for step in steps:
        assert step.holds(), step.says


def test_a_broken_step_is_detected(toy):
    # the same check on a wrong identity (KL subtracted instead of added) must fail
    elbo, kl = symbolic.elbo_terms(toy)
    assert not symbolic.Step("wrong", toy["log_evidence"] - (elbo - kl)).holds()


def test_elbo_and_gap_equal_numerical_integration(toy):
    values = {symbolic.x: -0.4, symbolic.w: 1.5, symbolic.b: 0.2, symbolic.s: 0.6, symbolic.mu_q: 0.3, symbolic.sigma_q: 0.9}
    elbo, kl = symbolic.elbo_terms(toy)
    q = stats.norm(0.3, 0.9)
    log_joint = sp.lambdify(symbolic.z, toy["log_joint"].subs(values), "math")
    numeric_elbo, _ = integrate.quad(lambda t: q.pdf(t) * (log_joint(t) - q.logpdf(t)), -math.inf, math.inf)
    assert float(elbo.subs(values)) == pytest.approx(numeric_elbo, abs=1e-8)
    post = stats.norm(float(toy["posterior_mean"].subs(values)), float(toy["posterior_std"].subs(values)))
    assert float(kl.subs(values)) == pytest.approx(numeric_kl(0.3, 0.9, post.mean(), post.std()), abs=1e-8)


def test_the_derivation_marks_only_the_split_as_holding_by_construction(toy):
    steps = symbolic.elbo_derivation(toy)
    assert [step.by_construction for step in steps] == [False] * (len(steps) - 1) + [True]


def test_a_wrong_evidence_fails_every_line_that_uses_it(toy):
    """The negative control of notebook 02: log N(x; b, w^2), the decoder's noise forgotten."""
    steps = symbolic.elbo_derivation(symbolic.linear_gaussian(symbolic.evidence_without_noise()))
    assert [step.holds() for step in steps] == [step.by_construction for step in steps] == [False, False, False, True]


def test_every_wrong_line_of_the_write_up_fails_the_checker(toy):
    lines = symbolic.wrong_lines(toy)
    assert len(lines) >= 4
    for line in lines:
        assert not line.holds(), line.says


def test_squared_error_loss_is_the_negative_elbo_of_a_model_with_s_squared_one_half(toy):
    loss, best = symbolic.squared_error_loss(toy)
    s_half = {symbolic.s: 1 / sp.sqrt(2)}
    assert symbolic.is_zero(best[symbolic.mu_q] - toy["posterior_mean"].subs(s_half))
    assert symbolic.is_zero(best[symbolic.sigma_q] - toy["posterior_std"].subs(s_half))
    values = {symbolic.x: 1.7, symbolic.w: 2.0, symbolic.b: 0.5, symbolic.mu_q: 0.3, symbolic.sigma_q: 0.9}
    q = stats.norm(0.3, 0.9)
    numeric, _ = integrate.quad(lambda t: q.pdf(t) * (1.7 - 2.0 * t - 0.5) ** 2, -math.inf, math.inf)
    assert float(loss.subs(values)) == pytest.approx(numeric + numeric_kl(0.3, 0.9, 0, 1), abs=1e-8)


def test_kl_is_never_negative_term_by_term():
    proof = symbolic.kl_is_never_negative()
    assert proof["convex"] and proof["stationary"] == [1] and proof["minimum"] == [0]
    assert symbolic.is_zero(proof["residual"])
    g = sp.lambdify(proof["t"], proof["g"], "math")
    assert min(g(t) for t in [10.0**k for k in range(-6, 7)]) >= 0


@pytest.mark.slow  # sympy integrals: about 10 s
def test_expected_gradient_and_both_estimators_agree_with_numerics():
    value, d_mu, d_sigma = symbolic.expected_gradient()
    means = symbolic.estimator_means()
    for estimator in ("pathwise", "score"):
        assert sp.simplify(means[estimator][0] - d_mu) == 0
        assert sp.simplify(means[estimator][1] - d_sigma) == 0
    m, sd, h = 0.4, 1.3, 1e-5
    numeric = lambda m_, s_: integrate.quad(lambda t: math.sin(t) * stats.norm(m_, s_).pdf(t), -math.inf, math.inf)[0]
    at = {symbolic.mu: m, symbolic.sigma: sd}
    assert float(value.subs(at)) == pytest.approx(numeric(m, sd), abs=1e-8)
    assert float(d_mu.subs(at)) == pytest.approx((numeric(m + h, sd) - numeric(m - h, sd)) / (2 * h), abs=1e-6)
    assert float(d_sigma.subs(at)) == pytest.approx((numeric(m, sd + h) - numeric(m, sd - h)) / (2 * h), abs=1e-6)


def test_kl_wrong_forms_are_the_named_mistakes_and_all_differ_from_the_kl(kl):
    forms = symbolic.kl_wrong_forms(kl)
    mu, sigma = symbolic.mu, symbolic.sigma
    expected = {
        "sigma where sigma^2 belongs": (mu**2 + sigma - sp.log(sigma) - 1) / 2,
        "the factor 1/2 forgotten": mu**2 + sigma**2 - sp.log(sigma**2) - 1,
        "the -1 forgotten": (mu**2 + sigma**2 - sp.log(sigma**2)) / 2,
        "the sign flipped": -(mu**2 + sigma**2 - sp.log(sigma**2) - 1) / 2,
    }
    assert forms.keys() == expected.keys()
    for name, form in forms.items():
        assert symbolic.is_zero(form - expected[name]), name
        assert not symbolic.is_zero(form - kl), f"{name} should differ from the right KL"


# ------------------------------------------------------------------------ notebook 10


def test_gaussian_expectation_equals_the_direct_integral():
    expr = symbolic.log_normal(symbolic.z, symbolic.mu_q, symbolic.sigma_q) + symbolic.z**3 - 2 * symbolic.z
    assert sp.simplify(symbolic.gaussian_expectation(expr, symbolic.z, symbolic.mu, symbolic.sigma)
                       - symbolic.expectation(expr, symbolic.z, symbolic.mu, symbolic.sigma)) == 0


@pytest.fixture(scope="module")
def linear():
    return symbolic.linear_vae()


def test_linear_vae_expected_elbo_and_likelihood_equal_numerical_integration(linear):
    values = {symbolic.data_variance: 2.5, symbolic.noise_variance: 0.4, symbolic.w_lin: 0.9, symbolic.v_lin: 0.3, symbolic.tau: 0.6}
    lam, s2, w, v, tau = (values[k] for k in (symbolic.data_variance, symbolic.noise_variance, symbolic.w_lin, symbolic.v_lin, symbolic.tau))

    def log_normal(x, mean, variance):  # by hand: scipy.stats' frozen objects make the double quad minutes long
        return -0.5 * math.log(2 * math.pi * variance) - (x - mean) ** 2 / (2 * variance)

    def inner(x):  # E_q[log p(x|z) + log p(z) - log q(z|x)] for one x, by quadrature over z
        f = lambda t: math.exp(log_normal(t, v * x, tau**2)) * (
            log_normal(x, w * t, s2) + log_normal(t, 0, 1) - log_normal(t, v * x, tau**2))
        return integrate.quad(f, v * x - 12 * tau, v * x + 12 * tau)[0]

    data_pdf = lambda x: math.exp(log_normal(x, 0, lam))
    elbo = integrate.quad(lambda x: data_pdf(x) * inner(x), -12 * math.sqrt(lam), 12 * math.sqrt(lam))[0]
    loglik = integrate.quad(lambda x: data_pdf(x) * log_normal(x, 0, w**2 + s2), -30, 30)[0]
    assert float(linear["elbo"].subs(values)) == pytest.approx(elbo, abs=1e-7)
    assert float(linear["log_likelihood"].subs(values)) == pytest.approx(loglik, abs=1e-7)


def test_linear_vae_is_ppca_and_collapses_to_the_prior(linear):
    assert linear["gap"] == 0
    assert set(linear["ml_w"]) == {0, sp.sqrt(symbolic.data_variance - symbolic.noise_variance),
                                   -sp.sqrt(symbolic.data_variance - symbolic.noise_variance)}
    assert linear["collapsed_q"] == {symbolic.v_lin: 0, symbolic.tau: 1}
    # the best encoder is the exact posterior of x | z ~ N(w z, sigma^2), z ~ N(0, 1)
    w, s2 = symbolic.w_lin, symbolic.noise_variance
    assert sp.simplify(linear["best_q"][symbolic.v_lin] - w / (w**2 + s2)) == 0
    assert sp.simplify(linear["best_q"][symbolic.tau] ** 2 - s2 / (w**2 + s2)) == 0
