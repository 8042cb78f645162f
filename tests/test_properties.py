"""Property tests (hypothesis) for the objectives and binarization (issue 6).

Hypothesis runs derandomized (the same examples every run) with modest example counts,
and every Monte Carlo step takes a seeded generator, so this file gives the same verdict on
every run. Statistical checks allow 5 standard errors, computed from the samples themselves.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import vae_lite
from vae_lite import LinearGaussian, binarize, iw_log_likelihood, kl_normal, kl_standard_normal

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
Z = 5  # standard errors allowed in statistical comparisons


pytestmark = pytest.mark.usefixtures("one_thread")


DTYPES = st.sampled_from([np.float32, np.float64])


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
def test_kl_to_the_standard_normal_is_never_negative(gaussian):
    mu, logvar = gaussian
    assert kl_standard_normal(mu, logvar).item() >= 0


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
@given(gaussians())
def test_kl_is_positive_away_from_the_standard_normal_and_zero_at_it(gaussian):
    mu, logvar = gaussian
    kl = kl_standard_normal(mu, logvar).item()
    # 1e-3 away in some coordinate adds at least about 1e-3**2 / 2 = 5e-7 nats, well above float32 rounding
    if (mu.abs() >= 1e-3).any() or (logvar.abs() >= 1e-3).any():
        assert kl > 0
    zeros = torch.zeros_like(mu)
    assert kl_standard_normal(zeros, zeros).item() == 0


@SETTINGS
@given(gaussians(dims=st.just(3)), gaussians(dims=st.just(3)))
def test_kl_between_two_gaussians_is_never_negative_and_zero_between_equals(q, p):
    (mu_q, logvar_q), (mu_p, logvar_p) = q, p
    mu_p, logvar_p = mu_p.to(mu_q.dtype), logvar_p.to(mu_q.dtype)
    assert kl_normal(mu_q, logvar_q, mu_p, logvar_p).item() >= 0
    assert kl_normal(mu_q, logvar_q, mu_q, logvar_q).item() == 0


# ------------------------------------------------------------------ the importance-weighted bound

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
    elbo = exact_elbo(model, x, *model.encode(x)).item()
    # the gap log p(x) - ELBO is KL(q || posterior) = (e^stretch + shift^2 - 1 - stretch) / 2
    assert math.isclose(log_px - elbo, 0.5 * (math.exp(stretch) + shift**2 - 1 - stretch), rel_tol=1e-6, abs_tol=1e-9)

    # independent estimates of each bound, for its mean and standard error; small k varies most
    estimates = {}
    for k, repeats in ((1, 4000), (10, 1000), (100, 400)):
        values = iw_log_likelihood(model, x.expand(repeats, -1), k=k, generator=generator)
        estimates[k] = (values.mean().item(), values.std().item() / math.sqrt(repeats))

    mean_1, se_1 = estimates[1]
    assert abs(mean_1 - elbo) <= Z * se_1 + 1e-9, "with k=1 the bound is the ELBO"
    for k, (mean, se) in estimates.items():
        assert mean >= elbo - Z * se - 1e-9, f"k={k}: below the ELBO on average"
        assert mean <= log_px + Z * se + 1e-9, f"k={k}: above log p(x) on average"
    for small, large in ((1, 10), (10, 100)):
        (m_small, se_small), (m_large, se_large) = estimates[small], estimates[large]
        assert m_large >= m_small - Z * math.hypot(se_small, se_large) - 1e-9, f"k={large} looser than k={small}"
    if log_px - elbo > 0.05:  # a q clearly off the posterior: more samples must visibly help
        (m_1, se_1), (m_100, se_100) = estimates[1], estimates[100]
        assert m_100 - m_1 > Z * math.hypot(se_1, se_100), "k=100 is not measurably tighter than k=1"


# ------------------------------------------------------------------ binarization

@SETTINGS
@given(arrays(np.float32, st.integers(1, 3000), elements=st.floats(0, 1, width=32)), st.integers(0, 2**31))
def test_binarize_keeps_the_mean_within_its_standard_error(pixels, seed):
    p = torch.from_numpy(pixels).double()
    b = binarize(torch.from_numpy(pixels), generator=torch.Generator().manual_seed(seed))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    # the sum of independent Bernoulli(p_i) has variance sum p_i (1 - p_i)
    standard_error = (p * (1 - p)).sum().sqrt().item() / len(p)
    assert abs(b.double().mean().item() - p.mean().item()) <= Z * standard_error + 1e-12


def test_binarize_leaves_binary_images_alone_and_keeps_the_mean_of_real_digits():
    digits = vae_lite.load_dataset("digits")
    binary = (digits.train > 0.5).float()
    assert torch.equal(binarize(binary), binary)
    x = digits.test
    b = vae_lite.binarized_test_set(digits)
    standard_error = (x * (1 - x)).double().sum().sqrt().item() / x.numel()
    assert abs(b.double().mean().item() - x.double().mean().item()) <= Z * standard_error
    assert torch.equal(b, vae_lite.binarized_test_set(digits)), "the binarized test set must be the same every time"
