r"""Sympy derivations that notebooks 02-04 show and the tests re-check, in notebook order.

Every result here is *computed* by sympy (integrals, derivatives, solutions), never typed
in as the answer; the notebooks display it and the tests compare it with independent
numerical integration. Where a readable form is typed in (sympy's own results can be long),
sympy proves it equal to the computed one.

    Notebook 02  the linear-Gaussian model z ~ N(0,1), x|z ~ N(w z + b, s^2):
                 log p(x) = ELBO(q) + KL(q || p(z|x)) for every Gaussian q, line by line; the
                 source write-up's wrong lines through the same checker; squared error as a
                 Gaussian log-likelihood; Jensen's inequality
    Notebook 03  the expected gradient of E[f(z)], z ~ N(mu, sigma^2), and what the pathwise
                 and score-function estimators average to
    Notebook 04  KL(N(mu, sigma^2) || N(0, 1)) by integration; why it is never negative; the
                 diagonal case; two Gaussians
"""

import functools
from typing import NamedTuple

import sympy as sp

z = sp.Symbol("z", real=True)
eps = sp.Symbol("epsilon", real=True)
mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)

# the linear-Gaussian toy model of notebook 02 (one observed x, one latent z)
x, w, b = sp.symbols("x w b", real=True)
s = sp.Symbol("s", positive=True)
mu_q = sp.Symbol("mu_q", real=True)
sigma_q = sp.Symbol("sigma_q", positive=True)
# the posterior's mean and standard deviation, as names in the readable forms (tau: a v reads as a
# variance, and sigma_q is already q's standard deviation)
m = sp.Symbol("m", real=True)
tau_posterior = sp.Symbol("tau", positive=True)
half = sp.Rational(1, 2)


def normal_pdf(value, mean, std):
    """The density N(value; mean, std^2)."""
    return sp.exp(-(value - mean) ** 2 / (2 * std**2)) / sp.sqrt(2 * sp.pi * std**2)


def log_normal(value, mean, std):
    """log N(value; mean, std^2), written out (no log of an exp left for sympy to undo)."""
    return -sp.log(2 * sp.pi) / 2 - sp.log(std) - (value - mean) ** 2 / (2 * std**2)


def is_zero(expr):
    """True when sympy proves that `expr` is identically 0."""
    return sp.simplify(sp.expand_log(sp.expand(expr), force=True)) == 0


def expectation(expr, var, mean, std):
    r"""E[expr] for var ~ N(mean, std^2): sympy integrates expr * density over the real line.

    expr must be a polynomial in `var` once logarithms are expanded (every log-density of a
    Gaussian is one). Each power var^k is integrated against the density separately, which
    keeps sympy fast (seconds instead of minutes) without changing what is computed.
    """
    poly = sp.Poly(sp.expand(sp.expand_log(expr, force=True)), var)
    density = normal_pdf(var, mean, std)
    total = sp.Integer(0)
    for (power,), coefficient in poly.terms():
        total += coefficient * sp.integrate(var**power * density, (var, -sp.oo, sp.oo))
    return sp.expand(total)


def latex(expr):
    """LaTeX of expr with its terms in the order they were written."""
    return sp.latex(expr, order="none")


# ------------------------------------------------------------ notebook 02: the ELBO


@functools.lru_cache(maxsize=None)
def linear_gaussian(log_evidence=None):
    r"""The toy model's closed forms, derived by sympy from z ~ N(0,1) and x|z ~ N(w z + b, s^2).

    Cached: the same dict is returned on every call (do not modify it). log_evidence: taken in
    place of the integral, for a negative control (evidence_without_noise). Returns a dict of sympy
    expressions: log_prior, log_likelihood, log_joint, evidence, log_evidence, posterior_mean,
    posterior_std, log_posterior. Evidence and posterior are derived apart, so that Bayes' rule
    log p(x) = log p(x, z) - log p(z|x) is something to check, not a definition:

        evidence   p(x) = \int p(x, z) dz, integrated by sympy
        posterior  p(z|x) is proportional to p(x, z) in z: log p(x, z) is a quadratic a2 z^2 + a1 z + c,
                   so p(z|x) = N(z; m, v^2) with v^2 = -1 / (2 a2), m = a1 v^2, normalised as a
                   Gaussian (the constant c, which holds p(x), is never used)
    """
    log_prior = log_normal(z, 0, 1)
    log_likelihood = log_normal(x, w * z + b, s)
    log_joint = log_prior + log_likelihood
    if log_evidence is None:
        evidence = sp.simplify(sp.integrate(sp.exp(sp.expand(log_joint)), (z, -sp.oo, sp.oo)))
        log_evidence = _tidy(sp.expand_log(sp.log(evidence), force=True))
    else:
        evidence = sp.exp(log_evidence)
    poly = sp.Poly(sp.expand(log_joint), z)
    a2, a1 = poly.coeff_monomial(z**2), poly.coeff_monomial(z)
    variance = sp.simplify(-1 / (2 * a2))
    mean, std = sp.simplify(a1 * variance), sp.sqrt(variance)
    return {
        "log_prior": log_prior,
        "log_likelihood": log_likelihood,
        "log_joint": log_joint,
        "evidence": evidence,
        "log_evidence": log_evidence,
        "posterior_mean": mean,
        "posterior_std": std,
        "log_posterior": sp.expand(log_normal(z, mean, std)),
    }


def evidence_without_noise():
    """log N(x; b, w^2): a wrong evidence, the decoder's noise forgotten (x = w z + b + noise has
    variance w^2 + s^2, not w^2). Every line of elbo_derivation that uses p(x) must fail with
    linear_gaussian(evidence_without_noise())."""
    return log_normal(x, b, sp.Abs(w))


def _tidy(expr):
    """The terms without a log put over one denominator and factored, the logs kept apart."""
    terms = sp.Add.make_args(sp.expand(expr))
    logs = sum((t for t in terms if t.has(sp.log)), sp.Integer(0))
    rest = sum((t for t in terms if not t.has(sp.log)), sp.Integer(0))
    return sp.factor(sp.together(rest)) + logs


def elbo_terms(model=None):
    """ELBO(q) and KL(q || p(z|x)) for q = N(mu_q, sigma_q^2), both integrated by sympy."""
    if model is None or model is linear_gaussian():
        return _default_elbo_terms()
    return _elbo_terms(model)


@functools.lru_cache(maxsize=None)
def _default_elbo_terms():
    return _elbo_terms(linear_gaussian())


def _elbo_terms(model):
    log_q = log_normal(z, mu_q, sigma_q)
    elbo = expectation(model["log_joint"] - log_q, z, mu_q, sigma_q)
    kl = expectation(log_q - model["log_posterior"], z, mu_q, sigma_q)
    return elbo, kl


class Step(NamedTuple):
    """One line of a derivation: what it says, and an expression sympy proves to be 0 if it holds.

    by_construction marks a line that holds because of how its terms were built, whatever the
    model: its True shows the bookkeeping is right, not that anything was learned.
    """

    says: str
    residual: sp.Expr
    by_construction: bool = False

    def holds(self):
        return is_zero(self.residual)


def elbo_derivation(model=None):
    """The derivation of log p(x) = ELBO + KL(q || p(z|x)), one Step per line, each checkable.

    Works for every Gaussian q = N(mu_q, sigma_q^2): mu_q and sigma_q stay symbols. Lines 1-3
    compare p(x), integrated from the joint, with the posterior, derived without p(x)
    (linear_gaussian): a wrong evidence fails them. Line 4 holds by construction:
    log p(x, z) is log p(x|z) + log p(z) and E_q is linear; the write-up's + KL fails it
    (wrong_lines).
    """
    model = model or linear_gaussian()
    log_evidence, log_joint, log_post = model["log_evidence"], model["log_joint"], model["log_posterior"]
    elbo, kl = elbo_terms(model)
    q_mass = sp.integrate(normal_pdf(z, mu_q, sigma_q), (z, -sp.oo, sp.oo))
    return [
        Step("1. Bayes' rule, for every z: log p(x) = log p(x, z) - log p(z|x)",
             log_evidence - (log_joint - log_post)),
        Step("2. q integrates to 1, so log p(x) = E_q[log p(x)] = E_q[log p(x, z) - log p(z|x)]",
             q_mass * log_evidence - expectation(log_joint - log_post, z, mu_q, sigma_q)),
        Step("3. add and subtract E_q[log q]: log p(x) = E_q[log p(x,z) - log q] + E_q[log q - log p(z|x)]",
             log_evidence - (elbo + kl)),
        Step("4. the ELBO splits as E_q[log p(x|z)] - KL(q || p(z))",
             elbo - (expectation(model["log_likelihood"], z, mu_q, sigma_q) - kl_gaussians(mu_q, sigma_q, 0, 1)),
             by_construction=True),
    ]


def wrong_lines(model=None):
    """The source write-up's wrong lines, as Steps for the same checker: each must fail.

    Negative controls: they show that the checker of elbo_derivation can say False.
    """
    model = model or linear_gaussian()
    elbo, kl = elbo_terms(model)
    reconstruction = expectation(model["log_likelihood"], z, mu_q, sigma_q)
    kl_prior = kl_gaussians(mu_q, sigma_q, 0, 1)
    kl_sigma_for_variance = kl_prior.subs(sigma_q, sp.sqrt(sigma_q))  # sigma written where sigma^2 belongs
    return [
        Step("loss = ||x - x_hat||^2 - KL: the ELBO as E_q[log p(x|z)] + KL(q || p(z))",
             elbo - (reconstruction + kl_prior)),
        Step("log x on the left: log x = ELBO + KL(q || p(z|x))",
             sp.log(x) - (elbo + kl)),
        Step("N(0, 1) as the posterior: log p(x) = log p(x, z) - log N(z; 0, 1)",
             model["log_evidence"] - (model["log_joint"] - model["log_prior"])),
        Step("sigma for sigma^2: KL(q || p(z)) = (mu_q^2 + sigma_q - log sigma_q - 1) / 2",
             kl_prior - kl_sigma_for_variance),
    ]


def squared_error_loss(model=None):
    r"""The write-up's loss for the toy model, E_q[(x - w z - b)^2] + KL(q || p(z)), integrated by sympy.

    (x - w z - b)^2 is the squared error of the decoder's mean. Returns (loss, its minimiser
    over mu_q and sigma_q as {symbol: value}).
    """
    model = model or linear_gaussian()
    loss = expectation((x - w * z - b) ** 2, z, mu_q, sigma_q) + kl_gaussians(mu_q, sigma_q, 0, 1)
    (best,) = sp.solve([sp.diff(loss, mu_q), sp.diff(loss, sigma_q)], [mu_q, sigma_q], dict=True)
    return loss, best


# ------------------------------------------------- notebook 03: gradients of an expectation


def example_function():
    """The f(z) of notebook 03: bounded and smooth, so both estimators have a finite variance."""
    return sp.sin(z)


def expected_gradient(f=None):
    """E[f(z)] for z ~ N(mu, sigma^2) and its exact gradient in (mu, sigma), integrated by sympy."""
    f = example_function() if f is None else f
    value = sp.simplify(sp.integrate(f * normal_pdf(z, mu, sigma), (z, -sp.oo, sp.oo)))
    return value, sp.simplify(sp.diff(value, mu)), sp.simplify(sp.diff(value, sigma))


def estimator_means(f=None):
    r"""What each single-sample gradient estimator averages to, integrated by sympy.

    pathwise (reparameterization): z = mu + sigma*eps, so d f/d mu = f'(z) and d f/d sigma = f'(z) eps;
    score function (REINFORCE): f(z) * d log q(z)/d mu and f(z) * d log q(z)/d sigma.
    Returns {"pathwise": (d mu, d sigma), "score": (d mu, d sigma)}, each an expectation over eps ~ N(0,1).
    """
    f = example_function() if f is None else f
    z_of_eps = mu + sigma * eps
    log_q = log_normal(z, mu, sigma)
    pathwise = (sp.diff(f.subs(z, z_of_eps), mu), sp.diff(f.subs(z, z_of_eps), sigma))
    score = tuple((f * sp.diff(log_q, theta)).subs(z, z_of_eps) for theta in (mu, sigma))
    density = normal_pdf(eps, 0, 1)
    # expand_trig first: sin(mu + sigma eps) = sin mu cos(sigma eps) + cos mu sin(sigma eps) leaves integrals
    # sympy solves at once (a third of the time; the same results)
    mean = lambda g: sp.simplify(sp.integrate(sp.expand(sp.expand_trig(g)) * density, (eps, -sp.oo, sp.oo)))
    return {"pathwise": tuple(mean(g) for g in pathwise), "score": tuple(mean(g) for g in score)}


# ------------------------------------------------------------------- notebook 04: the KL


def kl_gaussians(mean_q, std_q, mean_p, std_p):
    r"""KL(N(mean_q, std_q^2) || N(mean_p, std_p^2)) = \int q(z) log(q(z)/p(z)) dz, integrated by sympy."""
    integrand = log_normal(z, mean_q, std_q) - log_normal(z, mean_p, std_p)
    return sp.simplify(expectation(integrand, z, mean_q, std_q))


def kl_standard_normal():
    """KL(N(mu, sigma^2) || N(0, 1)) as sympy integrates it, in mu and sigma."""
    return kl_gaussians(mu, sigma, 0, 1)


def in_terms_of_variance(expr, std=sigma, name="sigma^2"):
    """Rewrite an expression in sigma as one in the variance sigma^2 (a positive symbol).

    The encoder outputs log sigma^2, so this is the form the code uses.
    """
    variance = sp.Symbol(name, positive=True)
    return sp.expand(sp.expand_log(expr.subs(std, sp.sqrt(variance)), force=True)), variance


def kl_is_never_negative(kl=None):
    r"""Why KL(N(mu, sigma^2) || N(0, 1)) >= 0, term by term.

        KL = mu^2 / 2 + g(sigma^2) / 2   with   g(t) = t - 1 - log t
        g''(t) = 1/t^2 > 0   (g is convex)   and   g'(1) = 0,  g(1) = 0

    so g has its only minimum at t = 1, where it is 0: g >= 0, and both terms are >= 0.
    Returns a dict of what sympy computes: g, t, g'' and whether it is positive, the zeros of g',
    g there, and the residual KL - (mu^2/2 + g(sigma^2)/2), which must be 0.
    """
    kl = kl_standard_normal() if kl is None else kl
    t = sp.Symbol("t", positive=True)
    g = t - 1 - sp.log(t)
    second = sp.diff(g, t, 2)
    stationary = sp.solve(sp.diff(g, t), t)
    return {
        "t": t, "g": g, "second_derivative": second, "convex": bool(second.is_positive),
        "stationary": stationary, "minimum": [g.subs(t, point) for point in stationary],
        "residual": kl - (mu**2 / 2 + g.subs(t, sigma**2) / 2),
    }


def kl_wrong_forms(kl=None):
    r"""KL(N(mu, sigma^2) || N(0, 1)) as it comes out with each common mistake, for naming one when seen.

    From the right form 1/2 (mu^2 + sigma^2 - log sigma^2 - 1): sigma written where sigma^2
    belongs (the write-up's sigma = E[(x - mu)^2]), the 1/2 forgotten, the -1 forgotten, the sign
    flipped. Returns {what went wrong: expression in mu and sigma}.
    """
    kl = kl_standard_normal() if kl is None else kl
    return {
        "sigma where sigma^2 belongs": kl.subs(sigma, sp.sqrt(sigma)),
        "the factor 1/2 forgotten": 2 * kl,
        "the -1 forgotten": kl + half,
        "the sign flipped": -kl,
    }


def kl_diagonal(dims=2, covariance=None):
    r"""KL(N(mu, Sigma) || N(0, I)) in `dims` dimensions, Sigma = diag(sigma^2) unless `covariance` is
    given, integrated by sympy over all of R^dims at once.

    Both log densities are written from their covariance matrices, -(d/2) log 2 pi - (1/2) log det Sigma
    - (1/2) (z - mu)^T Sigma^-1 (z - mu), and the weight of the integral is q itself, exp(log q): no
    factorisation into one-dimensional densities is put in. For speed the integral is taken in u, with
    z = mu + L u and L L^T = Sigma (Cholesky), where q(z) dz becomes exp(log q(mu + L u)) det L du.
    Returns (kl, means, stds, log_q) with the symbols used and log q as sympy's matrix algebra gives it.
    """
    zs = sp.Matrix(sp.symbols(f"z_1:{dims + 1}", real=True))
    us = sp.Matrix(sp.symbols(f"u_1:{dims + 1}", real=True))
    means = sp.symbols(f"mu_1:{dims + 1}", real=True)
    stds = sp.symbols(f"sigma_1:{dims + 1}", positive=True)
    if covariance is None:
        covariance = sp.diag(*[std**2 for std in stds])

    def log_density(mean, cov):
        r = zs - sp.Matrix(mean)
        return -dims * sp.log(2 * sp.pi) / 2 - sp.log(cov.det()) / 2 - (r.T * cov.inv() * r)[0] / 2

    log_q = log_density(means, covariance)
    log_p = log_density([0] * dims, sp.eye(dims))
    cholesky = covariance.cholesky(hermitian=False)
    to_u = dict(zip(zs, sp.Matrix(means) + cholesky * us))  # z = mu + L u
    weight = sp.simplify(sp.exp(sp.expand(log_q.subs(to_u))) * cholesky.det())  # q(z) dz, in u
    integrand = sp.Poly(sp.expand(sp.expand_log((log_q - log_p).subs(to_u), force=True)), *us)
    total = sp.Integer(0)
    for powers, coefficient in integrand.terms():  # one monomial at a time keeps sympy fast
        monomial = sp.Mul(*[ui**k for ui, k in zip(us, powers)])
        total += coefficient * sp.integrate(monomial * weight, *[(ui, -sp.oo, sp.oo) for ui in us])
    return sp.simplify(total), means, stds, log_q


# --------------------------------------- notebook 10: the linear VAE is probabilistic PCA
#
# One direction of the data, with variance lambda (the data centred; the decoder's bias fits the
# mean), one latent dimension, the decoder's noise variance sigma^2 fixed:
#     data  x ~ N(0, lambda)          model  z ~ N(0, 1),  x | z ~ N(w z, sigma^2)
#     encoder  q(z|x) = N(v x, tau^2)
# Lucas et al. (2019) show that with a diagonal-Gaussian encoder the optimal decoder's columns
# lie along the data's principal directions, so a D-dimensional problem splits into one such
# problem per latent dimension, with lambda the data's variance along that direction.

data_variance = sp.Symbol("lambda", positive=True)
noise_variance = sp.Symbol("sigma^2", positive=True)
w_lin, v_lin = sp.symbols("w v", real=True)
tau = sp.Symbol("tau", positive=True)


@functools.lru_cache(maxsize=None)
def _standard_normal_moment(power):
    """E[eps^power] for eps ~ N(0, 1), integrated by sympy."""
    return sp.integrate(eps**power * normal_pdf(eps, 0, 1), (eps, -sp.oo, sp.oo))


def gaussian_expectation(expr, var, mean, std):
    r"""E[expr] for var ~ N(mean, std^2), by the change of variables var = mean + std * eps.

    expr must be a polynomial in var once logarithms are expanded. The same integral as
    `expectation`, but each power of eps is integrated against N(0, 1) once and reused, so
    nested expectations with symbolic means take seconds instead of a minute.
    """
    poly = sp.Poly(sp.expand(sp.expand_log(expr.subs(var, mean + std * eps), force=True)), eps)
    return sp.expand(sum(c * _standard_normal_moment(power) for (power,), c in poly.terms()))


@functools.lru_cache(maxsize=None)
def linear_vae():
    """The linear VAE's expected ELBO and log-likelihood over the data, and what sympy solves from them.

    Cached: the same dict on every call. Keys:
      elbo            E_x E_q[log p(x|z) + log p(z) - log q(z|x)], in w, v, tau, lambda, sigma^2
      log_likelihood  E_x[log p(x)] with p(x) = N(0, w^2 + sigma^2): what maximum likelihood maximises
      best_q          {v: ..., tau: ...}: the encoder that maximises the ELBO for a given w
      gap             log_likelihood - elbo at best_q: 0 means the ELBO is tight for every w
      ml_w            the w where d log_likelihood / d w = 0 (Tipping & Bishop's solutions)
      collapsed_q     best_q at w = 0: q(z|x) = N(0, 1), the prior, whatever x is
    """
    x, z = sp.symbols("x z", real=True)
    sigma_ = sp.sqrt(noise_variance)
    per_example = log_normal(x, w_lin * z, sigma_) + log_normal(z, 0, 1) - log_normal(z, v_lin * x, tau)
    elbo = gaussian_expectation(gaussian_expectation(per_example, z, v_lin * x, tau), x, 0, sp.sqrt(data_variance))
    log_likelihood = gaussian_expectation(log_normal(x, 0, sp.sqrt(w_lin**2 + noise_variance)),
                                          x, 0, sp.sqrt(data_variance))
    (best_q,) = sp.solve([sp.diff(elbo, v_lin), sp.diff(elbo, tau)], [v_lin, tau], dict=True)
    gap = sp.simplify(sp.expand_log(log_likelihood - elbo.subs(best_q), force=True))
    ml_w = sp.solve(sp.diff(log_likelihood, w_lin), w_lin)
    return {
        "elbo": elbo,
        "log_likelihood": log_likelihood,
        "best_q": best_q,
        "gap": gap,
        "ml_w": ml_w,
        "collapsed_q": {key: sp.simplify(value.subs(w_lin, 0)) for key, value in best_q.items()},
    }
