"""The exercise checkers accept right answers, reject the common wrong ones, and say why."""

import math

import pytest
import sympy as sp
import torch

import vae_lite
from vae_lite import check
from vae_lite.objectives import kl_standard_normal, log_normal
from vae_lite import symbolic as S


def stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- reparameterize (notebook 03)


def right_reparameterize(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def test_reparameterize_accepts_the_right_answer_and_rsample(capsys):
    assert check.reparameterize(right_reparameterize) is True
    rsample = lambda mu, logvar: torch.distributions.Normal(mu, (0.5 * logvar).exp()).rsample()
    assert check.reparameterize(rsample) is True
    assert "all cases passed" in capsys.readouterr().out


def test_reparameterize_rejects_sample_which_blocks_gradients(capsys):
    blocked = lambda mu, logvar: torch.distributions.Normal(mu, (0.5 * logvar).exp()).sample()
    assert check.reparameterize(blocked) is False
    out = capsys.readouterr().out
    assert "FAILED  gradients flow" in out and "sample()" in out


def test_reparameterize_rejects_variance_in_place_of_standard_deviation(capsys):
    wrong = lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu)
    assert check.reparameterize(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED  standard deviation" in out and "sigma^2 = exp(logvar)" in out
    assert "expected [2.0000, 0.5000, 1.0000]" in out


def test_reparameterize_rejects_a_fixed_noise_and_a_wrong_shape(capsys):
    assert check.reparameterize(lambda mu, logvar: mu + 0 * logvar) is False  # no noise: spread 0
    assert check.reparameterize(lambda mu, logvar: right_reparameterize(mu, logvar)[0]) is False
    out = capsys.readouterr().out
    assert "FAILED  standard deviation" in out and "FAILED  shape" in out


def test_reparameterize_rejects_one_eps_shared_by_every_coordinate(capsys):
    shared = lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[0], 1)
    assert check.reparameterize(shared) is False
    out = capsys.readouterr().out
    assert "FAILED  the coordinates of z are independent" in out and "own eps" in out
    assert "FAILED  standard deviation" not in out  # right in each coordinate alone


# ---------------------------------------------------------------- pathwise_by_hand (notebook 03)


def right_pathwise_by_hand(f_prime, mu, rho, eps):
    """The chain rule written out, with softplus and its slope spelled as exp and log."""
    sigma = torch.log(1 + torch.exp(rho))
    slope = f_prime(mu + sigma * eps)
    return torch.stack([slope.mean(), (slope * eps * torch.exp(rho) / (1 + torch.exp(rho))).mean()])


def test_pathwise_by_hand_accepts_the_chain_rule_and_reports_a_stub(capsys):
    assert check.pathwise_by_hand(right_pathwise_by_hand) is True
    as_pair = lambda *args: tuple(right_pathwise_by_hand(*args))  # two numbers, not one tensor
    assert check.pathwise_by_hand(as_pair) is True
    assert "all cases passed" in capsys.readouterr().out
    assert check.pathwise_by_hand(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def pathwise_by_hand_with(slope_at, dz_drho):
    """A student's answer with one slip: f' taken at slope_at(mu, rho, eps), and dz/drho = dz_drho(rho, eps)."""
    def answer(f_prime, mu, rho, eps):
        slope = f_prime(slope_at(mu, rho, eps))
        return slope.mean(), (slope * dz_drho(rho, eps)).mean()
    return answer


softplus = torch.nn.functional.softplus
at_z = lambda mu, rho, eps: mu + softplus(rho) * eps


@pytest.mark.parametrize("wrong, hint", [
    (pathwise_by_hand_with(at_z, lambda rho, eps: eps), "the chain rule also needs dsigma/drho = sigmoid(rho)"),
    (pathwise_by_hand_with(at_z, lambda rho, eps: eps * softplus(rho)), "dsigma/drho is sigmoid(rho), not sigma"),
    (pathwise_by_hand_with(lambda mu, rho, eps: eps, lambda rho, eps: eps * torch.sigmoid(rho)), "f' belongs at z"),
    (pathwise_by_hand_with(lambda mu, rho, eps: mu + rho * eps, lambda rho, eps: eps), "not rho itself"),
    (pathwise_by_hand_with(lambda mu, rho, eps: mu + torch.exp(rho) * eps, lambda rho, eps: eps * torch.exp(rho)),
     "not exp(rho)"),  # sigma = exp(rho) throughout, a consistent answer to the wrong parameterisation
    (lambda f_prime, mu, rho, eps: (f_prime(at_z(mu, rho, eps)), f_prime(at_z(mu, rho, eps)) * eps * torch.sigmoid(rho)),
     "expected shape (2,), got (2, 1000)"),  # per-sample values, not their means
])
def test_pathwise_by_hand_names_each_slip_in_the_chain_rule(capsys, wrong, hint):
    assert check.pathwise_by_hand(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out, out


def test_checkers_report_a_stub_as_not_attempted_and_survive_a_crash(capsys):
    for checker in (check.reparameterize, check.kl_closed_form, check.bernoulli_nll, check.fitted_gaussian_samples,
                    check.kl_two_gaussians,
                    check.elbo_monte_carlo, check.score_function_gradient, check.vae_loss,
                    check.active_unit_count, check.effective_beta, check.gaussian_vae_loss,
                    check.interpolate, check.importance_weighted_estimate, check.conditional_elbo):
        assert checker(stub) is None
        assert "not attempted yet" in capsys.readouterr().out

    def crashes(*args):
        raise ValueError("oops")

    assert check.kl_closed_form(crashes) is False
    assert "raised ValueError: oops" in capsys.readouterr().out


# ---------------------------------------------------------------- KL (notebook 04)


def kl_by_sampling(mu, sigma, n, draw=lambda mu, sigma, n: mu + sigma * torch.randn(n), sign=1.0, divide=None):
    """The right answer to kl_monte_carlo; its keywords inject a mistake."""
    z = draw(mu, sigma, n)
    terms = sign * (torch.distributions.Normal(mu, sigma).log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z))
    return terms.mean().item(), terms.std().item() / (math.sqrt(n) if divide is None else divide(n))


def test_kl_monte_carlo_accepts_a_sampled_kl_and_shows_the_exact_value(capsys):
    assert check.kl_monte_carlo(kl_by_sampling) is True
    out = capsys.readouterr().out
    assert "all cases passed" in out and "mu = 2.0, sigma = 3.0 (sigma^2 = 9): exact KL 4.9014" in out, out


@pytest.mark.parametrize("wrong, hint", [
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, n, sign=-1.0), "the sign is flipped"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, n, draw=lambda mu, sigma, n: torch.randn(n)), "drawn from the prior"),
    # the variance sigma^2 passed as torch's scale (its second argument is the standard deviation sigma)
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma**2, n), "the variance sigma**2 as torch's scale, to draw z and in log q"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma**2, n, draw=lambda mu, var, n: mu + math.sqrt(var) * torch.randn(n)),
     "log q(z) passes the variance sigma**2 as torch's scale"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, n, draw=lambda mu, sigma, n: mu + sigma**2 * torch.randn(n)),
     "z was drawn with the variance sigma**2 as its scale"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, n, divide=lambda n: 1.0), "the terms' standard deviation"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, n, divide=lambda n: n), "divides the standard deviation by n"),
    (lambda mu, sigma, n: kl_by_sampling(mu, sigma, 1_000), "use the n passed in"),
    (lambda mu, sigma, n: 0.5 * (mu**2 + sigma**2 - math.log(sigma**2) - 1), "expected a pair"),
])
def test_kl_monte_carlo_rejects_the_mistakes_and_names_them(capsys, wrong, hint):
    assert check.kl_monte_carlo(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out, out


def test_kl_monte_carlo_reports_a_stub_as_not_attempted(capsys):
    assert check.kl_monte_carlo(stub) is None
    assert "kl_monte_carlo: not attempted yet" in capsys.readouterr().out


def right_kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)


def test_kl_accepts_the_closed_form(capsys):
    assert check.kl_closed_form(right_kl) is True
    assert "6 case" not in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda mu, lv: -right_kl(mu, lv), "sign is flipped"),
    (lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - 0.5 * lv - 1).sum(-1), "sigma where sigma^2"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).mean(-1), "averaged over the latent"),
    (lambda mu, lv: (mu**2 + lv.exp() - lv - 1).sum(-1), "1/2 is missing"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1), "expected shape"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "the -1 is missing"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv.log() - 1).sum(-1), "log(logvar) (logvar can be negative)"),
    (lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - lv - 1).sum(-1), "the variance term is sigma = exp(logvar / 2)"),
    (lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(-1), "you read logvar as log sigma"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv / 2 - 1).sum(-1), "the log term is -logvar, not -logvar / 2"),
    (lambda mu, lv: 0.5 * (lv.exp() - lv - 1).sum(-1), "mu^2 is missing"),
    (lambda mu, lv: 0.5 * (mu**2 + lv.exp() + lv - 1).sum(-1), "the log term has the wrong sign"),
])
def test_kl_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.kl_closed_form(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


def test_kl_failure_message_shows_the_case_and_expected_vs_got(capsys):
    check.kl_closed_form(lambda mu, lv: -right_kl(mu, lv))
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "mu = 1.5, sigma = 1" in l)
    assert "expected 1.1250, got -1.1250" in line


def test_kl_one_dimensional_mu_case_tells_mu_squared_from_twice_abs_mu(capsys):
    check.kl_closed_form(lambda mu, lv: 0.5 * (2 * mu.abs() + lv.exp() - lv - 1).sum(-1))
    line = next(l for l in capsys.readouterr().out.splitlines() if "mu = 1.5, sigma = 1" in l)
    assert "FAILED" in line and "expected 1.1250, got 1.5000" in line


def right_kl_two(mq, lq, mp, lp):
    return 0.5 * (lp - lq - 1 + (lq.exp() + (mq - mp) ** 2) / lp.exp()).sum(-1)


MQ, SQ, MP, SP = sp.symbols("mu_q sigma_q mu_p sigma_p")  # no assumptions: the checker matches symbols by name
RIGHT_BY_HAND = sp.log(SP / SQ) + (SQ**2 + (MQ - MP) ** 2) / (2 * SP**2) - sp.Rational(1, 2)


def test_kl_two_gaussians_accepts_the_closed_form_and_torch(capsys):
    assert check.kl_two_gaussians(right_kl_two, RIGHT_BY_HAND) is True
    Normal = torch.distributions.Normal
    by_torch = lambda mq, lq, mp, lp: torch.distributions.kl_divergence(
        Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())).sum(-1)
    assert check.kl_two_gaussians(by_torch, RIGHT_BY_HAND) is True


def test_kl_two_gaussians_accepts_any_right_form_by_hand_and_sympys_integral(capsys):
    mq, sq = S.mu_q, S.sigma_q
    mp, sp_ = sp.Symbol("mu_p", real=True), sp.Symbol("sigma_p", positive=True)
    for by_hand in (RIGHT_BY_HAND,
                    0.5 * (sp.log(SP**2) - sp.log(SQ**2) - 1 + (SQ**2 + MQ**2 - 2 * MQ * MP + MP**2) / SP**2),
                    S.kl_gaussians(mq, sq, mp, sp_)):  # the integral, with the notebook's symbols
        assert check.kl_two_gaussians(right_kl_two, by_hand) is True, capsys.readouterr().out


def test_kl_two_gaussians_is_not_attempted_until_both_halves_are(capsys):
    assert check.kl_two_gaussians(right_kl_two, None) is None
    assert "by hand: not attempted yet (`by_hand` is still None)" in capsys.readouterr().out
    assert check.kl_two_gaussians(stub, RIGHT_BY_HAND) is None
    assert "kl_two_gaussians: not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (sp.log(SQ / SP) + (SP**2 + (MQ - MP) ** 2) / (2 * SQ**2) - sp.Rational(1, 2), "KL(p || q)"),
    (sp.log(SP / SQ) + SQ**2 / (2 * SP**2) + (MQ - MP) ** 2 / (2 * SQ**2) - sp.Rational(1, 2), "divided by sigma_q^2"),
    (sp.log(SQ / SP) + (SQ**2 + (MQ - MP) ** 2) / (2 * SP**2) - sp.Rational(1, 2), "the log term's sign is flipped"),
    (sp.log(SP / SQ) + (SQ**2 + (MQ - MP) ** 2) / (2 * SP**2), "the -1/2 is missing"),
    (sp.log(SP / SQ) + (SQ**2 + MQ**2) / (2 * SP**2) - sp.Rational(1, 2), "mu_p is missing"),
    (sp.log(SP / SQ) + (SQ**2 + (MQ - MP) ** 2) / (2 * sp.Symbol("sigma") ** 2) - sp.Rational(1, 2),
     "it has sigma; write it in mu_q, sigma_q, mu_p, sigma_p only"),
    (sp.log(MQ) + RIGHT_BY_HAND, "evaluating it raised ValueError"),  # math.log of a negative mu_q
    ("not a formula (", "expected a sympy expression"),
])
def test_kl_two_gaussians_names_the_mistakes_of_a_derivation_by_hand(capsys, wrong, hint):
    assert check.kl_two_gaussians(right_kl_two, wrong) is False
    out = capsys.readouterr().out
    assert "kl_two_gaussians, by hand:" in out and "FAILED" in out and hint in out, out


@pytest.mark.parametrize("wrong, hint", [
    (lambda mq, lq, mp, lp: right_kl_two(mp, lp, mq, lq), "KL(p || q)"),
    (lambda mq, lq, mp, lp: right_kl_two(mq, lq / 2, mp, lp / 2), "sigma where sigma^2 belongs"),
    (lambda mq, lq, mp, lp: 2 * right_kl_two(mq, lq, mp, lp), "1/2 is missing"),
    (lambda mq, lq, mp, lp: right_kl_two(mq, lq, mp, lp) + 0.5 * mq.shape[-1], "the -1/2 is missing"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + (lq.exp() + mq**2) / lp.exp()).sum(-1), "mu_p is missing"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + lq.exp() / lp.exp()).sum(-1), "(mu_q - mu_p)^2 / (2 sigma_p^2) is missing"),
    (lambda mq, lq, mp, lp: right_kl_two(mq, lq, mp, lp) / mq.shape[-1], "averaged over the dimensions"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + lq.exp() / lp.exp() + (mq - mp) ** 2 / lq.exp()).sum(-1),
     "divided by sigma_q^2"),
    (lambda mq, lq, mp, lp: 0.5 * (2 * (lp - lq) - 1 + (lq.exp() + (mq - mp) ** 2) / lp.exp()).sum(-1),
     "the log term lost its 1/2"),
    (lambda mq, lq, mp, lp: 0.5 * (lq - lp - 1 + (lq.exp() + (mq - mp) ** 2) / lp.exp()).sum(-1),
     "the log term's sign is flipped"),
    (lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + lp.exp() / lq.exp() + (mq - mp) ** 2 / lp.exp()).sum(-1),
     "the variance ratio is upside down"),
])
def test_kl_two_gaussians_names_each_known_mistake(capsys, wrong, hint):
    assert check.kl_two_gaussians(wrong, RIGHT_BY_HAND) is False
    assert hint in capsys.readouterr().out


# ---------------------------------------------------------------- notebook 01


def right_nll(p, x):
    return -(torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).sum(dim=(1, 2, 3))


def test_bernoulli_nll_accepts_the_sum_and_binary_cross_entropy(capsys):
    assert check.bernoulli_nll(right_nll) is True
    bce = lambda p, x: torch.nn.functional.binary_cross_entropy(p, x, reduction="none").sum(dim=(1, 2, 3))
    assert check.bernoulli_nll(bce) is True  # torch clamps log p at -100: 0 log 0 counts as 0
    clamped = lambda p, x: right_nll(p.clamp(1e-6, 1 - 1e-6), x)
    assert check.bernoulli_nll(clamped) is True


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, x: right_nll(p, x) / x[0].numel(), "mean over pixels"),
    (lambda p, x: right_nll(p, x) / math.log(2), "bits"),
    (lambda p, x: -right_nll(p, x), "sign is flipped"),
    (lambda p, x: -torch.xlogy(x, p).sum(dim=(1, 2, 3)), "(1 - x) log(1 - p) term is missing"),
    (lambda p, x: -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3)), "not finite"),
])
def test_bernoulli_nll_names_each_known_mistake(capsys, wrong, hint):
    assert check.bernoulli_nll(wrong) is False
    assert hint in capsys.readouterr().out


def test_bernoulli_nll_points_a_nan_from_0_log_0_to_xlogy(capsys):
    assert check.bernoulli_nll(lambda p, x: -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3))) is False
    out = capsys.readouterr().out
    assert "got nan: not finite" in out and "torch.xlogy" in out and "logvar" not in out, out


def test_bernoulli_nll_names_swapped_xlogy_arguments_not_the_nan_hint(capsys):
    """xlogy(p, x) is p log x: inf wherever x = 0, and the nan hint ("use torch.xlogy") would not help."""
    assert check.bernoulli_nll(lambda p, x: -(torch.xlogy(p, x) + torch.xlogy(1 - p, 1 - x)).sum(dim=(1, 2, 3))) is False
    out = capsys.readouterr().out
    assert out.count("arguments of torch.xlogy are swapped") == 2 and "0 · log 0 = nan" not in out, out


def test_bernoulli_nll_wants_one_number_per_image(capsys):
    assert check.bernoulli_nll(lambda p, x: right_nll(p, x).sum()) is False
    assert "one number per image" in capsys.readouterr().out


def right_fitted(codes, n):
    return codes.mean(dim=0) + codes.std(dim=0) * torch.randn(n, codes.shape[1])


def test_fitted_gaussian_samples_accepts_the_fit_and_torchs_normal(capsys):
    assert check.fitted_gaussian_samples(right_fitted) is True
    normal = lambda codes, n: torch.distributions.Normal(codes.mean(0), codes.std(0)).sample((n,))
    assert check.fitted_gaussian_samples(normal) is True


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, n: c.mean(0) + c.var(0) * torch.randn(n, c.shape[1]), "variance"),
    (lambda c, n: c.mean(0) + torch.randn(n, c.shape[1]), "N(0, I)"),
    (lambda c, n: c.mean(0) + c.std() * torch.randn(n, c.shape[1]), "same spread"),
    (lambda c, n: torch.randn(n, c.shape[1]), "the mean of each column"),
    (lambda c, n: right_fitted(c, n).T, "expected (20000, 4)"),
    # right mean and spread, and still wrong: real codes given back, or noise of the wrong shape
    (lambda c, n: c[torch.randint(len(c), (n,))], "values of the codes"),
    (lambda c, n: torch.stack([c[torch.randint(len(c), (n,)), j] for j in range(c.shape[1])], dim=1), "each column shuffled"),
    (lambda c, n: c.mean(0) + c.std(0) * (torch.rand(n, c.shape[1]) - 0.5) * 12**0.5, "like a uniform"),
    (lambda c, n: c.mean(0) + c.std(0) * torch.randn(n, 1), "one noise draw shared"),
    (lambda c, n: c.mean(0) + c.std(0) * (torch.empty(n, c.shape[1]).exponential_() - 1), "skewed like the codes"),
    # a Gaussian, but with the codes' full covariance: the exercise fits each dimension on its own
    (lambda c, n: torch.distributions.MultivariateNormal(c.mean(0), torch.cov(c.T)).sample((n,)), "a full covariance"),
])
def test_fitted_gaussian_samples_names_each_known_mistake(capsys, wrong, hint):
    assert check.fitted_gaussian_samples(wrong) is False
    assert hint in capsys.readouterr().out


def test_fitted_gaussian_samples_fails_only_the_spread_for_the_variance(capsys):
    """The variance's wider noise moves the sample mean too: that alone must not fail the mean."""
    assert check.fitted_gaussian_samples(lambda c, n: c.mean(0) + c.var(0) * torch.randn(n, c.shape[1])) is False
    out = capsys.readouterr().out
    assert "1 case(s) failed" in out and "FAILED  each dimension's spread" in out and "passed  each dimension's mean" in out


X01 = torch.bernoulli(torch.full((50, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(3))  # binary images
RECONSTRUCT = lambda x: 0.8 * x + 0.1  # an "autoencoder": each pixel's probability near its value
NATS = right_nll(RECONSTRUCT(X01), X01).mean().item()
BITS = NATS / (784 * math.log(2))


def test_bits_per_dimension_accepts_the_training_number_within_a_tenth_of_a_nat(capsys):
    assert check.bits_per_dimension(BITS, right_nll, RECONSTRUCT, X01, NATS) is True
    assert check.bits_per_dimension(torch.tensor((NATS + 0.05) / (784 * math.log(2))), right_nll, RECONSTRUCT, X01, NATS) is True
    assert check.bits_per_dimension((NATS + 0.2) / (784 * math.log(2)), right_nll, RECONSTRUCT, X01, NATS) is False
    assert "the mean over the images of your bernoulli_nll" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (NATS / 784, "nats per dimension"),
    (NATS / math.log(2), "bits per image"),
    (NATS * math.log(2) / 784, "multiplied by ln 2"),
    (torch.full((5,), BITS), "one number"),
])
def test_bits_per_dimension_names_each_known_mistake(capsys, wrong, hint):
    assert check.bits_per_dimension(wrong, right_nll, RECONSTRUCT, X01, NATS) is False
    assert hint in capsys.readouterr().out


def test_bits_per_dimension_fails_the_training_number_without_a_working_bernoulli_nll(capsys):
    """bits copied from the training loop passes only if the student's function gives that number too."""
    averaged = lambda p, x: right_nll(p, x) / x[0].numel()
    assert check.bits_per_dimension(BITS, averaged, RECONSTRUCT, X01, NATS) is False
    out = capsys.readouterr().out
    assert "FAILED  your bernoulli_nll" in out and "passed  bits" in out, out
    naive = lambda p, x: -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3))
    at_zero = lambda x: x.clamp(0, 0.9)  # p = 0 where x = 0: 0 · log 0
    nats = right_nll(at_zero(X01), X01).mean().item()
    assert check.bits_per_dimension(nats / (784 * math.log(2)), naive, at_zero, X01, nats) is False
    assert "not finite" in capsys.readouterr().out
    assert check.bits_per_dimension(BITS, lambda p, x: right_nll(p, x).sum(), RECONSTRUCT, X01, NATS) is False
    assert "one number per image" in capsys.readouterr().out


def test_bits_per_dimension_of_a_baseline_names_its_variable_and_its_number(capsys):
    """The same check for a baseline's probabilities: the report says baseline_bits, not bits."""
    mean_image = X01.mean(0).clamp(0.01, 0.99).expand_as(X01)
    nats = right_nll(mean_image, X01).mean().item()
    names = dict(name="baseline_bits", probabilities="mean_image", measured="the baseline's")
    assert check.bits_per_dimension(nats / (784 * math.log(2)), right_nll, lambda x: mean_image, X01, nats, **names) is True
    assert check.bits_per_dimension(nats / 784, right_nll, lambda x: mean_image, X01, nats, **names) is False
    out = capsys.readouterr().out
    assert "bits_per_dimension (baseline_bits): 1 case(s) failed" in out and "FAILED  baseline_bits:" in out, out
    assert "bernoulli_nll(mean_image, x)" in out and "the baseline's number" in out and "nats per dimension" in out, out
    assert check.bits_per_dimension(None, right_nll, lambda x: mean_image, X01, nats, **names) is None
    assert "`baseline_bits` is still None" in capsys.readouterr().out


def test_value_checkers_report_none_as_not_attempted(capsys):
    assert check.bits_per_dimension(None, right_nll, RECONSTRUCT, X01, NATS) is None
    assert "not attempted yet" in capsys.readouterr().out
    assert check.bits_per_dimension(BITS, stub, RECONSTRUCT, X01, NATS) is None  # bits set, bernoulli_nll a stub
    assert "not attempted yet" in capsys.readouterr().out


# ---------------------------------------------------------------- notebook 02


def test_toy_elbo_formula_equals_the_elbo_sympy_integrates():
    elbo, _ = S.elbo_terms()
    f = sp.lambdify((S.x, S.w, S.b, S.s, S.mu_q, S.sigma_q), elbo, "math")
    for x, mu_q, sigma_q in [(1.7, 0.0, 1.0), (-0.3, 1.2, 0.4), (2.5, -2.0, 3.0)]:
        w, b, s = check.TOY_MODEL.values()
        assert check.toy_elbo_exact(x, mu_q, sigma_q) == pytest.approx(f(x, w, b, s, mu_q, sigma_q), abs=1e-12)


def mc_elbo(x, mu_q, sigma_q, n, sign=1.0, with_entropy=True, std=lambda sigma_q: sigma_q, from_prior=False,
            decoder_std=None, with_prior=True, reduce="mean"):
    w, b, s = check.TOY_MODEL.values()
    s = s if decoder_std is None else decoder_std
    q = torch.distributions.Normal(torch.tensor(mu_q, dtype=torch.float64), torch.tensor(std(sigma_q), dtype=torch.float64))
    z = torch.randn(n, dtype=torch.float64) if from_prior else q.sample((n,))
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z) if with_prior else 0
    log_joint = log_prior + torch.distributions.Normal(w * z + b, s).log_prob(torch.tensor(x))
    log_w = sign * (log_joint - (q.log_prob(z) if with_entropy else 0))
    if reduce == "reconstruction + KL":  # the write-up's sign: sampled log p(x|z) plus the closed-form KL(q || p(z))
        return (log_joint - log_prior).mean() + 0.5 * (mu_q**2 + sigma_q**2 - math.log(sigma_q**2) - 1)
    if reduce == "reconstruction - KL":  # right: Kingma & Welling's estimator B
        return (log_joint - log_prior).mean() - 0.5 * (mu_q**2 + sigma_q**2 - math.log(sigma_q**2) - 1)
    if reduce == "log of the mean weight":
        return torch.logsumexp(log_w, 0) - math.log(n)
    return log_w.sum() if reduce == "sum" else log_w.mean()


@pytest.mark.slow  # three full checker runs of 4 x 100k samples
def test_elbo_monte_carlo_accepts_a_right_estimate_and_rejects_wrong_ones(capsys):
    assert check.elbo_monte_carlo(mc_elbo) is True
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, sign=-1.0)) is False
    assert "sign is flipped" in capsys.readouterr().out
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, with_entropy=False)) is False
    assert "the - log q(z) term is missing" in capsys.readouterr().out


@pytest.mark.slow  # a full checker run of 4 x 100k samples each
@pytest.mark.parametrize("mistake, hint", [
    (dict(std=lambda sigma_q: sigma_q**2), "q = N(mu_q, sigma_q^4)"),
    (dict(from_prior=True), "z was drawn from the prior"),
    (dict(with_prior=False), "the log p(z) term is missing"),
    (dict(reduce="sum"), "summed over the samples"),
    (dict(reduce="reconstruction + KL"), "the write-up's sign: the ELBO subtracts the KL"),
    # ~log p(x) for every q: right on q = p(z|x), where the two agree, and named from the other three cases
    (dict(reduce="log of the mean weight"), "this is the log of the mean weight"),
])
def test_elbo_monte_carlo_names_each_known_mistake(capsys, mistake, hint):
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, **mistake)) is False
    assert hint in capsys.readouterr().out


@pytest.mark.slow  # a full checker run of 4 x 100k samples
def test_elbo_monte_carlo_names_the_variance_as_std_and_not_a_mistake_matched_on_one_case_only(capsys):
    """The decoder's variance s^2 = 0.64 passed as its standard deviation: named, on all six cases. On
    q = N(1, 0.3^2) the estimate also lands within the noise of the missing -log q form, a mistake the
    answer does not make: not named."""
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, decoder_std=0.64)) is False
    out = capsys.readouterr().out
    assert "6 case(s) failed" in out and "0.64 is its variance" in out and "- log q(z) term is missing" not in out, out


@pytest.mark.slow  # five full checker runs of 6 cases, up to 10^6 samples
def test_elbo_monte_carlo_accepts_reconstruction_minus_the_closed_form_kl(capsys):
    """Kingma & Welling's estimator B, sampled E_q[log p(x|z)] - KL(q || p(z)), is a right ELBO: at q = p(z|x)
    it is noisier than the mean log weight (constant there), and a tolerance made for that one failed it
    on most seeds."""
    def estimator_b(x, mu_q, sigma_q, n, seed):
        torch.manual_seed(seed)  # the checker seeds each call alike: vary the draws across runs
        return mc_elbo(x, mu_q, sigma_q, n, reduce="reconstruction - KL")
    for seed in range(5):
        assert check.elbo_monte_carlo(lambda *a: estimator_b(*a, seed)) is True, capsys.readouterr().out


@pytest.mark.slow  # six checker runs, each with a few sympy integrals and simplifications
def test_reconstruction_and_kl_accepts_line_4_by_hand_and_names_each_known_mistake(capsys):
    """Notebook 02's Exercise 3: the two terms of line 4 in sympy. Right: accepted, line 4 holds. Wrong: each
    named (W1's sign, log p(x, z) for log p(x|z), the reversed KL, the gap for the KL to the prior), and line 4 fails."""
    import sympy as sp

    from vae_lite import symbolic

    assert check.reconstruction_and_kl(lambda E_q, ll, lp, lq: (E_q(ll), E_q(lq - lp))) is True
    assert "all cases passed" in capsys.readouterr().out
    model = symbolic.linear_gaussian()
    log_posterior = symbolic.log_normal(symbolic.z, model["posterior_mean"], model["posterior_std"])
    for wrong, hint in [
        (lambda E_q, ll, lp, lq: (E_q(ll), E_q(lp - lq)), "the sign is flipped: KL(q || p(z))"),
        (lambda E_q, ll, lp, lq: (E_q(ll + lp), E_q(lq - lp)), "this is E_q[log p(x, z)]"),
        (lambda E_q, ll, lp, lq: (E_q(ll), symbolic.kl_gaussians(0, 1, symbolic.mu_q, symbolic.sigma_q)), "KL(p(z) || q)"),
        (lambda E_q, ll, lp, lq: (E_q(ll), E_q(lq - log_posterior)), "this is KL(q || p(z|x)), the gap"),
    ]:
        assert check.reconstruction_and_kl(wrong) is False
        out = capsys.readouterr().out
        assert hint in out and "FAILED  line 4" in out, out
    assert check.reconstruction_and_kl(lambda *a: (sp.Integer(0), sp.Integer(0))) is False  # unrecognised: not named
    assert "(" + "the sign" not in capsys.readouterr().out
    assert check.reconstruction_and_kl(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.slow  # a full checker run of 6 cases, up to 10^6 samples
def test_elbo_monte_carlo_fails_an_answer_that_ignores_n(capsys):
    """An answer that always draws 1,000 samples, whatever n: right on average, but too noisy for n = 10^6."""
    assert check.elbo_monte_carlo(lambda x, mu_q, sigma_q, n: mc_elbo(x, mu_q, sigma_q, 1000)) is False
    assert "use the n passed in" in capsys.readouterr().out


# ---------------------------------------------------------------- score function (notebook 03)


def score_gradient(f, mu, sigma, n):
    """d/dsigma E[f(z)] by the score function: d log q/d sigma = ((z - mu)^2 - sigma^2) / sigma^3."""
    z = mu + sigma * torch.randn(n, dtype=torch.float64)
    return (f(z) * ((z - mu) ** 2 - sigma**2) / sigma**3).mean()


def pathwise_gradient(f, mu, sigma, n):
    """What a student who writes the pathwise estimator submits: autograd through z = mu + sigma eps."""
    sigma = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    f(mu + sigma * torch.randn(n, dtype=torch.float64)).mean().backward()
    return sigma.grad


def score_gradient_with(score):
    """A score-function estimate with `score(z, mu, sigma)` in place of d log q/d sigma."""
    def estimate(f, mu, sigma, n):
        z = mu + sigma * torch.randn(n, dtype=torch.float64)
        return (f(z) * score(z, mu, sigma)).mean()
    return estimate


def test_score_function_checker_accepts_score_and_rejects_pathwise_on_a_step(capsys):
    assert check.score_function_gradient(score_gradient) is True
    capsys.readouterr()
    assert check.score_function_gradient(pathwise_gradient) is False
    out = capsys.readouterr().out
    assert "passed  f = sin, mu = 0.5" in out  # pathwise is right for a smooth f ...
    assert "1 case(s) failed" in out and "FAILED  f = step" in out and "pathwise" in out, out  # ... useless on a step


@pytest.mark.parametrize("wrong, hint", [
    (lambda f, mu, sigma, n: -score_gradient(f, mu, sigma, n), "the sign is flipped"),
    (score_gradient_with(lambda z, mu, sigma: (z - mu) / sigma**2), "that is the estimate for mu"),
    (score_gradient_with(lambda z, mu, sigma: (z - mu) ** 2 / sigma**3), "the -1/sigma is missing"),
    (score_gradient_with(lambda z, mu, sigma: ((z - mu) ** 2 - sigma**2) / sigma**2), "off by a factor sigma"),
    (score_gradient_with(lambda z, mu, sigma: ((z - mu) ** 2 - sigma**2) / (2 * sigma**4)), "that is d/d(sigma^2)"),
])
def test_score_function_checker_names_each_slip_in_the_score_for_sigma(capsys, wrong, hint):
    assert check.score_function_gradient(wrong) is False
    out = capsys.readouterr().out
    assert "3 case(s) failed" in out and hint in out, out  # every case but the spread's, sigma = 1 in none


def test_score_function_checker_fails_an_answer_that_ignores_n(capsys):
    assert check.score_function_gradient(lambda f, mu, sigma, n: score_gradient(f, mu, sigma, max(n, 1000))) is False
    out = capsys.readouterr().out
    assert "1 case(s) failed" in out and "FAILED  n is used" in out and "use all n samples" in out, out
    frozen = lambda f, mu, sigma, n: torch.tensor(-0.2627) if n < 1000 else score_gradient(f, mu, sigma, n)
    assert check.score_function_gradient(frozen) is False
    assert "do not change between calls" in capsys.readouterr().out


def test_score_function_checker_names_a_seed_set_inside_the_function(capsys):
    def reseeded(f, mu, sigma, n):  # the same n draws in every call: estimates equal up to rounding
        torch.manual_seed(0)
        return score_gradient(f, mu, sigma, n)
    assert check.score_function_gradient(reseeded) is False
    out = capsys.readouterr().out
    assert "FAILED  n is used" in out and "draw new samples in each call" in out, out


def test_score_function_checker_compares_with_sympys_exact_gradient_for_sin():
    # notebook 03 tells students the checker's exact answer for f = sin is sympy's d/dsigma
    value, d_mu, d_sigma = S.expected_gradient()
    for mu, sigma in [(0.5, 0.7), (-1.0, 1.5), (2.0, 0.3)]:
        at = {S.mu: mu, S.sigma: sigma}
        assert math.isclose(check._SIGMA_GRADIENT[torch.sin](mu, sigma), float(d_sigma.subs(at)), rel_tol=1e-12)
        assert math.isclose(check._MU_GRADIENT[torch.sin](mu, sigma), float(d_mu.subs(at)), rel_tol=1e-12)
        assert math.isclose(check._EXPECTED_VALUE[torch.sin](mu, sigma), float(value.subs(at)), rel_tol=1e-12)


# ---------------------------------------------------------------- notebook 05: the VAE loss


def bce(logits, x):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))


def kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)


def test_vae_loss_accepts_the_negative_elbo(capsys):
    assert check.vae_loss(lambda logits, x, mu, logvar: bce(logits, x) + kl(mu, logvar)) is True


@pytest.mark.parametrize("wrong, hint", [
    (lambda lg, x, mu, lv: bce(lg, x) - kl(mu, lv), "the KL has the wrong sign"),
    (lambda lg, x, mu, lv: torch.nn.functional.binary_cross_entropy_with_logits(lg, x, reduction="none").mean(dim=(1, 2, 3))
     + kl(mu, lv), "the reconstruction is averaged over pixels but the KL summed"),
    (lambda lg, x, mu, lv: bce(lg, x) + kl(mu, lv) / mu.shape[1], "the KL is averaged over latent dimensions"),
    (lambda lg, x, mu, lv: bce(lg, x), "the KL term is missing"),
    (lambda lg, x, mu, lv: kl(mu, lv), "the reconstruction term is missing"),
    (lambda lg, x, mu, lv: bce(lg, x) + 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "the KL lacks its -1 per latent dimension"),
    (lambda lg, x, mu, lv: bce(lg, x) + 0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(-1), "logvar is log σ², not log σ"),
    (lambda lg, x, mu, lv: bce(lg, x) + 0.5 * (mu**2 + torch.exp(0.5 * lv) - lv - 1).sum(-1),
     "the KL has σ = exp(½ logvar) where it needs σ²"),
    (lambda lg, x, mu, lv: bce(torch.sigmoid(lg), x) + kl(mu, lv), "sigmoid applied twice"),
    (lambda lg, x, mu, lv: bce(lg, x) + 0.5 * (mu**2 + lv.exp() - lv - 1).sum(), "the KL is summed over the batch too"),
    (lambda lg, x, mu, lv: (bce(lg, x) + kl(mu, lv)).mean(), "return one loss per image"),
    (lambda lg, x, mu, lv: torch.nn.functional.binary_cross_entropy_with_logits(lg, x, reduction="none").sum(dim=(2, 3))
     + kl(mu, lv), "sum over dim=(1, 2, 3), the channel too"),
])
def test_vae_loss_names_each_known_mistake(capsys, wrong, hint):
    assert check.vae_loss(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


class MyVAE(torch.nn.Module):
    """Notebook 05's exercise, answered: the VAE a student writes."""

    def __init__(self, image_shape, latent_dim=50, encoder_hidden=256, decoder_hidden=512):
        super().__init__()
        self.image_shape, pixels = image_shape, math.prod(image_shape)
        self.encoder = torch.nn.Sequential(torch.nn.Linear(pixels, encoder_hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(encoder_hidden, 2 * latent_dim))
        self.decoder = torch.nn.Sequential(torch.nn.Linear(latent_dim, decoder_hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(decoder_hidden, pixels))

    def encode(self, x):
        return self.encoder(x.flatten(start_dim=1)).chunk(2, dim=1)

    def reparameterize(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z):
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x):
        mu, logvar = self.encode(x)
        return bce(self.decode(self.reparameterize(mu, logvar)), x) + kl(mu, logvar)


class SigmaSquared(MyVAE):
    def reparameterize(self, mu, logvar):
        return mu + logvar.exp() * torch.randn_like(mu)


class Sampled(MyVAE):
    def reparameterize(self, mu, logvar):
        return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()


class MinusKL(MyVAE):
    def loss(self, x):
        mu, logvar = self.encode(x)
        return bce(self.decode(self.reparameterize(mu, logvar)), x) - kl(mu, logvar)


class Unshaped(MyVAE):
    def decode(self, z):
        return self.decoder(z)


class EpsDrawnTwice(MyVAE):
    """Right in distribution, but it scores a second z, not the one reparameterize drew."""

    def loss(self, x):
        mu, logvar = self.encode(x)
        self.reparameterize(mu, logvar)
        return bce(self.decode(self.reparameterize(mu, logvar)), x) + kl(mu, logvar)


class SharedEps(MyVAE):
    """One eps for the whole batch: every image's z moves together."""

    def reparameterize(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[1])


class DecodesMu(MyVAE):
    """The loss scores the decoded mean, z = mu, not a sampled z: not the ELBO's reconstruction term."""

    def loss(self, x):
        mu, logvar = self.encode(x)
        return bce(self.decode(mu), x) + kl(mu, logvar)


class DoubleSigmoid(MyVAE):
    """decode returns probabilities, and the loss (with logits) applies the sigmoid a second time."""

    def decode(self, z):
        return torch.sigmoid(super().decode(z))


def test_vae_module_accepts_the_answer_and_reports_a_stub(capsys):
    class Stub(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            raise NotImplementedError

    assert check.vae_module(MyVAE) is True
    assert check.vae_module(Stub) is None and "not attempted yet" in capsys.readouterr().out


def test_vae_module_reports_the_notebooks_stub_with_init_given_as_not_attempted(capsys):
    """Notebook 05 gives __init__; the stub is not attempted while all four methods raise, attempted once one is written."""
    class Stub(MyVAE):
        def encode(self, x):
            raise NotImplementedError

        def reparameterize(self, mu, logvar):
            raise NotImplementedError

        def decode(self, z):
            raise NotImplementedError

        def loss(self, x):
            raise NotImplementedError

    class EncodeOnly(Stub):
        encode = MyVAE.encode

    assert check.vae_module(Stub) is None and "not attempted yet" in capsys.readouterr().out
    assert check.vae_module(EncodeOnly) is False
    out = capsys.readouterr().out
    assert "passed  encode(x) returns mu and logvar" in out and "FAILED  reparameterize" in out


def test_vae_module_given_the_students_vae_loss_marks_the_module_not_the_loss_again(capsys):
    """A wrong vae_loss is its own exercise: a module that calls it is right here, one that does not is wrong."""
    def minus_kl_loss(logits, x, mu, logvar):
        return bce(logits, x) - kl(mu, logvar)

    class CallsIt(MyVAE):
        def loss(self, x):
            mu, logvar = self.encode(x)
            return minus_kl_loss(self.decode(self.reparameterize(mu, logvar)), x, mu, logvar)

    def right_loss(logits, x, mu, logvar):
        return bce(logits, x) + kl(mu, logvar)

    assert check.vae_module(CallsIt, minus_kl_loss) is True
    assert check.vae_module(CallsIt) is False  # without vae_loss the loss itself is checked
    assert check.vae_module(MinusKL, right_loss) is False
    capsys.readouterr()

    def stub_loss(logits, x, mu, logvar):
        raise NotImplementedError

    assert check.vae_module(MyVAE, stub_loss) is False
    assert "vae_loss is not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (SigmaSquared, "z spreads by sigma^2"),
    (Sampled, "blocks gradients"),
    (MinusKL, "the KL has the wrong sign"),
    (Unshaped, "reshape the decoder's output to the image shape"),
    (DoubleSigmoid, "a double sigmoid"),
    (EpsDrawnTwice, "draw eps once, through reparameterize, inside loss(x)"),
    (SharedEps, "one eps for all images"),
    (DecodesMu, "loss(x) decodes mu: decode a sampled z"),
])
def test_vae_module_names_each_known_mistake(capsys, wrong, hint):
    assert check.vae_module(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


class TrailingReLU(MyVAE):
    """A ReLU after the encoder's last Linear layer: mu >= 0 and logvar >= 0, though everything else runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoder.append(torch.nn.ReLU())


class SwappedWidths(MyVAE):
    def __init__(self, image_shape, latent_dim=50, encoder_hidden=256, decoder_hidden=512):
        super().__init__(image_shape, latent_dim, encoder_hidden=decoder_hidden, decoder_hidden=encoder_hidden)


def test_vae_module_names_a_relu_after_the_encoders_last_layer(capsys):
    assert check.vae_module(TrailingReLU) is False
    out = capsys.readouterr().out
    assert "FAILED  encoder and decoder have the exercise's layers: the encoder has ReLU after its last Linear layer" in out
    assert "FAILED  encode(x) returns the last Linear layer's outputs, negative ones too" in out
    assert "a ReLU after that layer makes mu >= 0 and logvar >= 0" in out
    assert "FAILED  loss(x)" not in out  # the loss is right for this model: only the layers are named


def test_vae_module_names_swapped_hidden_widths(capsys):
    assert check.vae_module(SwappedWidths) is False
    out = capsys.readouterr().out
    assert "MyVAE: 1 case(s) failed." in out
    assert "encoder_hidden and decoder_hidden are swapped" in out and "the encoder is Linear(36, 24)" in out


def test_vae_module_finds_a_relu_in_encode_by_what_encode_returns(capsys):
    """The layers are right, but encode clips their outputs: only the encoder's outputs show it."""
    class ReLUInEncode(MyVAE):
        def encode(self, x):
            return torch.relu(self.encoder(x.flatten(start_dim=1))).chunk(2, dim=1)

    class HalvesSwapped(MyVAE):
        def encode(self, x):
            mu, logvar = super().encode(x)
            return logvar, mu

    assert check.vae_module(ReLUInEncode) is False
    out = capsys.readouterr().out
    assert "passed  encoder and decoder have the exercise's layers" in out
    assert "returned mu = [0.0000, 0.5000, 0.0000]" in out and "makes mu >= 0 and logvar >= 0" in out
    assert check.vae_module(HalvesSwapped) is False
    assert "mu and logvar are swapped; mu is the first half" in capsys.readouterr().out


def test_vae_module_names_a_missing_encoder_and_a_sigmoid_in_the_decoder(capsys):
    class NoSequential(MyVAE):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fc = self.encoder
            del self.encoder

        def encode(self, x):
            return self.fc(x.flatten(start_dim=1)).chunk(2, dim=1)

    class SigmoidLayer(MyVAE):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.decoder.append(torch.nn.Sigmoid())

    assert check.vae_module(NoSequential) is False
    assert "self.encoder should be an nn.Sequential, got NoneType" in capsys.readouterr().out
    assert check.vae_module(SigmoidLayer) is False
    assert "the decoder has Sigmoid after its last Linear layer, but decode returns logits" in capsys.readouterr().out


def my_loop(model, images, epochs, batch_size, lr, seed=0, zero_grad=True, mean=True, reshuffle=True, drop_last=False,
            static=False, per_epoch=False, binarized=True, own_order=False, default_lr=False, adam_per_epoch=False):
    """Notebook 05's training-loop exercise, answered, and with the mistakes the checker names."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    adam = lambda: torch.optim.Adam(model.parameters(), **({} if default_lr else dict(lr=lr)))  # default_lr: 1e-3
    optimizer = adam()
    if static:  # binarized once, before training: every epoch sees the same binary images
        images = vae_lite.binarize(images, generator)
    shuffle = lambda: torch.randperm(len(images), generator=None if own_order else generator)  # own_order: right, other draws
    losses, order = [], shuffle()
    for epoch in range(epochs):
        if reshuffle and epoch:
            order = shuffle()
        binary = vae_lite.binarize(images, generator) if per_epoch else None  # all at once, each epoch
        if adam_per_epoch:  # Adam's running averages reset every epoch
            optimizer = adam()
        for start in range(0, len(images) - (batch_size - 1 if drop_last else 0), batch_size):
            batch = order[start:start + batch_size]
            x = binary[batch] if per_epoch else vae_lite.binarize(images[batch], generator)
            if not binarized:  # trained on the grey levels
                x = images[batch]
            per_image = model.loss(x)
            loss = per_image.mean() if mean else per_image.sum()
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def test_training_loop_accepts_the_loop_of_fit_and_reports_a_stub(capsys):
    def stub(*args):
        raise NotImplementedError

    assert check.training_loop(my_loop) is True
    assert check.training_loop(stub) is None and "not attempted yet" in capsys.readouterr().out


def test_same_as_fit_passes_the_answer_and_names_a_loop_that_parts_from_fit(capsys):
    """Notebook 05, "Your VAE is vae_lite.VAE": MyVAE and the loop against vae_lite.VAE and fit, step by step."""
    images = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(0))

    def stub(*args):
        raise NotImplementedError

    assert check.same_as_fit(MyVAE, my_loop, images, epochs=2, batch_size=16) is True
    assert "6 steps" in capsys.readouterr().out
    assert check.same_as_fit(MyVAE, stub, images) is None and "not attempted yet" in capsys.readouterr().out
    assert check.same_as_fit(MyVAE, lambda *args: my_loop(*args, mean=False), images, batch_size=16) is False
    assert check.same_as_fit(MyVAE, lambda *args: my_loop(*args, drop_last=True), images, batch_size=16) is False
    assert "returned 4 for 6 steps" in capsys.readouterr().out
    assert check.same_as_fit(SwappedWidths, my_loop, images) is False
    assert "layers differ from vae_lite.VAE's" in capsys.readouterr().out


@pytest.mark.slow  # a full checker run of 4 x 100k samples each
@pytest.mark.parametrize("mistake, hint", [
    (dict(zero_grad=False), "optimizer.zero_grad() is missing"),
    (dict(mean=False), "it is the sum over the batch"),
    (dict(reshuffle=False), "a new torch.randperm order every epoch"),
    (dict(drop_last=True), "the last, partial batch included"),
    (dict(static=True), "every epoch saw the same binary copy of each image"),
    (dict(binarized=False), "the batch was never binarized"),
])
def test_training_loop_names_each_known_mistake(capsys, mistake, hint):
    assert check.training_loop(lambda *args: my_loop(*args, **mistake)) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


@pytest.mark.parametrize("mistake, hint", [
    (dict(default_lr=True), "Adam ran at its default rate, 1e-3, not at lr = 0.01"),
    (dict(adam_per_epoch=True), "Adam was built anew every epoch"),
])
def test_training_loop_names_the_optimizers_mistakes_not_zero_grad(capsys, mistake, hint):
    assert check.training_loop(lambda *args: my_loop(*args, **mistake)) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out and "zero_grad" not in out, out


def data_loader_loop(model, images, epochs, batch_size, lr, seed=0):
    """A right loop that draws other random numbers than fit: a DataLoader, and torch.bernoulli."""
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=batch_size, shuffle=True)
    optimizer, losses = torch.optim.Adam(model.parameters(), lr=lr), []
    for epoch in range(epochs):
        for (x,) in loader:
            loss = model.loss(torch.bernoulli(x)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("loop", [data_loader_loop, lambda *args: my_loop(*args, per_epoch=True),
                                  lambda *args: my_loop(*args, own_order=True)],
                         ids=["a DataLoader and torch.bernoulli", "all images binarized each epoch", "another generator"])
def test_training_loop_passes_a_right_loop_with_other_random_numbers_and_says_only_the_draws_differ(capsys, loop):
    assert check.training_loop(loop) is False  # the notebook's next cell needs fit's draws
    out = capsys.readouterr().out
    assert "passed  a right loop, whatever random numbers it draws" in out, out
    assert "1 case(s) failed" in out and "so it may well be right, but it draws other random numbers than fit" in out, out


def test_training_loop_names_a_threshold_as_static_binarization(capsys):
    assert check.training_loop(lambda m, images, *args: my_loop(m, (images > 0.5).float(), *args)) is False
    assert "not by a threshold such as x > 0.5" in capsys.readouterr().out


# ---------------------------------------------------------------- notebook 06: active units


def test_active_unit_count_accepts_burdas_criterion(capsys):
    assert check.active_unit_count(lambda mu, threshold: int((mu.var(dim=0) > threshold).sum())) is True


@pytest.mark.parametrize("wrong, hint", [
    (lambda mu, t: int((mu.std(dim=0) > t).sum()), "you used the standard deviation"),
    (lambda mu, t: int((mu.var(dim=0) > 0.01).sum()), "you ignored `threshold`"),
    (lambda mu, t: int((mu.var(dim=1) > t).sum()), "you took the variance over the dimensions of one image"),
    (lambda mu, t: int((mu.mean(dim=0).abs() > t).sum()), "you compared the mean of mu with the threshold"),
])
def test_active_unit_count_names_each_known_mistake(capsys, wrong, hint):
    assert check.active_unit_count(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


def right_interpolate(model, x_a, x_b, n, spherical=False):
    with torch.inference_mode():
        mu, _ = model.encode(torch.stack([x_a, x_b]))
        a, b = mu.double()  # the arc by its angle from atan2 (the checker takes arccos), one t at a time
        omega = math.atan2(math.sqrt(max(0.0, a.dot(a) * b.dot(b) - a.dot(b) ** 2)), a.dot(b))
        if not spherical or math.sin(omega) < 1e-6:  # the line; also from A to A, where the arc is 0 / 0
            return torch.stack([model.decode((1 - t) * mu[0] + t * mu[1]) for t in torch.linspace(0, 1, n)])
        return torch.stack([model.decode(((math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)).float())
                            for t in torch.linspace(0, 1, n).tolist()])


def test_interpolate_accepts_the_line_and_the_arc_between_the_means_and_waits_for_the_stub(capsys):
    assert check.interpolate(right_interpolate) is True
    assert check.interpolate(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_interpolate_passes_a_line_only_answer_on_the_lines_cases(capsys):
    assert check.interpolate(lambda m, a, b, n: right_interpolate(m, a, b, n)) is False
    out = capsys.readouterr().out
    assert out.count("  passed  ") == 4 and out.count("FAILED  the arc") == 3 and "spherical" in out, out


def _decoded_means(model, x_a, x_b):
    return model.decode(model.encode(torch.stack([x_a, x_b]))[0])


def arc_with(slip):
    """An answer whose line is right and whose arc has one slip: slip(a, b, t, cos) -> z(t)."""
    def interpolate(model, x_a, x_b, n, spherical=False):
        if not spherical:
            return right_interpolate(model, x_a, x_b, n)
        with torch.inference_mode():
            a, b = model.encode(torch.stack([x_a, x_b]))[0]
            t = torch.linspace(0, 1, n).unsqueeze(1)
            return model.decode(slip(a, b, t, a.dot(b) / (a.norm() * b.norm())))
    return interpolate


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, a, b, n: torch.stack([(1 - t) * _decoded_means(m, a, b)[0] + t * _decoded_means(m, a, b)[1]
                                     for t in torch.linspace(0, 1, n)]), "a cross-fade in pixel space"),
    (lambda m, a, b, n: torch.stack([(1 - t) * a + t * b for t in torch.linspace(0, 1, n)]),
     "you blended the images themselves"),
    (lambda m, a, b, n: right_interpolate(m, a, b, n + 1)[:-1], "t stops short of 1"),
    (lambda m, a, b, n: torch.stack([m.decode((1 - t) * m.encode(a[None])[1][0] + t * m.encode(b[None])[1][0])
                                     for t in torch.linspace(0, 1, n)]), "you walked between the log variances"),
    (lambda m, a, b, n: right_interpolate(m, b, a, n), "the path runs from B to A"),
    (lambda m, a, b, n: torch.stack([m.decode((1 - t) * reparameterize(*m.encode(a[None]))[0]
                                              + t * reparameterize(*m.encode(b[None]))[0]) for t in torch.linspace(0, 1, n)]),
     "changes from call to call"),
    (lambda m, a, b, n: right_interpolate(m, a, b, n)[0], "expected 3 images"),
    (lambda m, a, b, n: torch.stack([m.decoder((1 - t) * m.encode(a[None])[0][0] + t * m.encode(b[None])[0][0])
                                     for t in torch.linspace(0, 1, n)]), "the decoder network's logits"),
    (lambda m, a, b, n: torch.stack([m.decode(m.encode(a[None])[0][0] + t * m.encode(b[None])[0][0])
                                     for t in torch.linspace(0, 1, n)]), "you left out the (1 - t)"),
    (lambda m, a, b, n, spherical=False: right_interpolate(m, a, b, n), "that is the straight line"),
    (lambda m, a, b, n, spherical=False: right_interpolate(m, a, b, n + 1, spherical)[:-1], "t stops short of 1"),
    (lambda m, a, b, n, spherical=False: right_interpolate(m, b, a, n, spherical), "the path runs from B to A"),
    (arc_with(lambda a, b, t, cos: (torch.sin((1 - t) * cos) * a + torch.sin(t * cos) * b) / torch.sin(cos)),
     "you used cos Ω as the angle Ω"),
    (arc_with(lambda a, b, t, cos: (torch.sin((1 - t) * cos.arccos()) * a / a.norm()
                                    + torch.sin(t * cos.arccos()) * b / b.norm()) / torch.sin(cos.arccos())),
     "you walked between the unit directions"),
    (arc_with(lambda a, b, t, cos: torch.sin((1 - t) * cos.arccos()) * a + torch.sin(t * cos.arccos()) * b),
     "you left out the division by sin Ω"),
    (arc_with(lambda a, b, t, cos: (torch.sin((1 - t) * (w := a.dot(b).arccos())) * a + torch.sin(t * w) * b) / torch.sin(w)),
     "cos Ω must lie in [-1, 1]"),
    (arc_with(lambda a, b, t, cos: (torch.sin((1 - t) * (w := cos.clamp(-1, 1).arccos())) * a + torch.sin(t * w) * b)
              / torch.sin(w)), "where sin Ω is about 0, return the line"),
    (arc_with(lambda a, b, t, cos: (1 - t) * a + t * b if torch.sin(w := a.dot(b).clamp(-1, 1).arccos()) < 1e-6
              else (torch.sin((1 - t) * w) * a + torch.sin(t * w) * b) / torch.sin(w)), "divide a.b by both lengths"),
])
def test_interpolate_names_each_known_mistake(capsys, wrong, hint):
    assert check.interpolate(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out, out


# ---------------------------------------------------------------- notebook 08: the importance-weighted estimate


def right_iw_estimate(log_px_given_z, z, mu, logvar):
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=-1)
    return torch.logsumexp(log_px_given_z + log_prior - log_q, dim=0) - math.log(len(z))


def test_importance_weighted_estimate_accepts_the_estimator_with_or_without_the_shared_constant(capsys):
    assert check.importance_weighted_estimate(right_iw_estimate) is True

    def no_constants(log_px_given_z, z, mu, logvar):  # -d/2 log 2 pi cancels between log p(z) and log q
        log_w = log_px_given_z - 0.5 * z.pow(2).sum(-1) + 0.5 * ((z - mu).pow(2) / logvar.exp() + logvar).sum(-1)
        return torch.logsumexp(log_w, dim=0) - math.log(len(z))

    assert check.importance_weighted_estimate(no_constants) is True
    assert "FAILED" not in capsys.readouterr().out


def test_importance_weighted_estimate_flags_the_formula_that_underflows(capsys):
    def naive(log_px_given_z, z, mu, logvar):
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
        log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=-1)
        return (log_px_given_z + log_prior - log_q).exp().mean(dim=0).log()

    assert check.importance_weighted_estimate(naive) is False
    out = capsys.readouterr().out
    assert "FAILED  k = 100" in out and "not finite" in out
    assert "underflows to 0" in out and "torch.logsumexp" in out
    assert "passed  k = 1," in out and "passed  k = 10," in out


def _normal(z, mu, sd):
    return torch.distributions.Normal(mu, sd).log_prob(z).sum(dim=-1)


@pytest.mark.parametrize("wrong, hint", [
    (lambda lp, z, m, lv: (lp + _normal(z, 0.0, 1.0) - _normal(z, m, (0.5 * lv).exp())).mean(dim=0),
     "you averaged the log weights"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0) - _normal(z, m, (0.5 * lv).exp()), dim=0),
     "the - log k is missing"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0) - _normal(z, m, lv.exp()), dim=0)
     - math.log(len(z)), "sigma^2 where sigma belongs"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0), dim=0) - math.log(len(z)),
     "log q(z|x) is missing"),
    (lambda lp, z, m, lv: torch.logsumexp(lp - _normal(z, m, (0.5 * lv).exp()), dim=0) - math.log(len(z)),
     "log p(z) is missing"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0) + _normal(z, m, (0.5 * lv).exp()), dim=0)
     - math.log(len(z)), "log q(z|x) is added"),
    (lambda lp, z, m, lv: torch.logsumexp(lp - 0.5 * z.pow(2).sum(-1) - _normal(z, m, (0.5 * lv).exp()), dim=0)
     - math.log(len(z)), "log p(z) lacks the constant"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0)
                                          + 0.5 * ((z - m).pow(2) / lv.exp() + lv).sum(-1), dim=0)
     - math.log(len(z)), "log q(z|x) lacks the constant"),
    (lambda lp, z, m, lv: torch.logsumexp(lp - 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1), dim=0)
     - math.log(len(z)), "you used the closed-form KL"),
    (lambda lp, z, m, lv: torch.logsumexp(lp + (_normal(z, 0.0, 1.0) - _normal(z, m, (0.5 * lv).exp())) / z.shape[-1], dim=0)
     - math.log(len(z)), "averaged over the latent dimensions"),
])
def test_importance_weighted_estimate_names_each_known_mistake(capsys, wrong, hint):
    assert check.importance_weighted_estimate(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


def test_importance_weighted_estimate_gives_the_shape_hint_for_the_wrong_dimension(capsys):
    wrong = lambda lp, z, m, lv: torch.logsumexp(lp + _normal(z, 0.0, 1.0) - _normal(z, m, (0.5 * lv).exp()), dim=1)
    assert check.importance_weighted_estimate(wrong) is False
    assert "reduce over the k samples (dim=0)" in capsys.readouterr().out


# ------------------------------------------------------------------------ notebook 06


def _effective_beta(r, k, p, d, n):
    """rec_total / a + kl_total / b, each divided by the count its "mean"s average over: beta = a / b."""
    divisor = lambda reduction, size: (size if reduction[0] == "mean" else 1) * (n if reduction[1] == "mean" else 1)  # noqa: E731
    return divisor(r, p) / divisor(k, d)


def test_effective_beta_accepts_the_ratio_and_names_the_upside_down_answer(capsys):
    assert check.effective_beta(_effective_beta) is True
    upside_down = lambda r, k, p, d, n: 1 / _effective_beta(r, k, p, d, n)  # noqa: E731
    assert check.effective_beta(upside_down) is False
    assert "upside down" in capsys.readouterr().out


def test_effective_beta_names_the_answer_that_ignores_the_reduction(capsys):
    assert check.effective_beta(lambda r, k, p, d, n: 1) is False
    assert "reweights the KL" in capsys.readouterr().out


def test_effective_beta_names_the_answer_that_ignores_the_batch(capsys):
    per_image = lambda r, k, p, d, n: (p if r[0] == "mean" else 1) / (d if k[0] == "mean" else 1)  # noqa: E731
    assert check.effective_beta(per_image) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and "divided by batch_size too" in out


def test_effective_beta_names_the_answer_that_counts_the_batch_for_one_term_only(capsys):
    def one_term(counted):  # the batch's "mean" divides only the term `counted`
        divisor = lambda reduction, size, n: (size if reduction[0] == "mean" else 1) * (n if reduction[1] == "mean" else 1)  # noqa: E731
        return lambda r, k, p, d, n: divisor(r, p, n if counted == "reconstruction" else 1) / divisor(k, d, n if counted == "kl" else 1)  # noqa: E731
    assert check.effective_beta(one_term("reconstruction")) is False
    assert "the batch counted for the reconstruction term only" in capsys.readouterr().out
    assert check.effective_beta(one_term("kl")) is False
    assert "the batch counted for the KL only" in capsys.readouterr().out


def right_gaussian_vae_loss(x, x_hat, mu, logvar, s):
    """Written with torch.distributions, independently of the checker's formula."""
    log_likelihood = torch.distributions.Normal(x_hat, s).log_prob(x).sum(dim=(1, 2, 3))
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(dim=-1)
    return -log_likelihood + kl


def test_gaussian_vae_loss_accepts_the_negative_elbo_and_waits_for_the_stub(capsys):
    assert check.gaussian_vae_loss(right_gaussian_vae_loss) is True
    assert check.gaussian_vae_loss(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)


def _squared(x, x_hat):
    return (x - x_hat).pow(2).sum(dim=(1, 2, 3))


def _constant(x, s):
    return x[0].numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) - _kl(m, lv), "the KL has the wrong sign"),
    (lambda x, xh, m, lv, s: _squared(x, xh) + _kl(m, lv), "bare squared error + KL"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _kl(m, lv), "the constant D (log s + 1/2 log 2 pi) is missing"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s) + _constant(x, s) + _kl(m, lv), "you divided by 2 s"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / s**2 + _constant(x, s) + _kl(m, lv), "you divided by s^2"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + x[0].numel() * (math.log(s**2) + math.log(2 * math.pi))
     + _kl(m, lv), "half of D (log s^2 + log 2 pi)"),
    (lambda x, xh, m, lv, s: torch.nn.functional.mse_loss(xh, x, reduction="sum") / (2 * s**2) + _constant(x, s)
     + _kl(m, lv), "every image got the same squared error"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) + _kl(m, lv).sum(),
     "every image got the same KL"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) + x[0].numel() * math.log(s) + _kl(m, lv),
     "not D log s^2"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + x[0].numel() * (math.log(s) + math.log(2 * math.pi))
     + _kl(m, lv), "log 2 pi needs its 1/2"),
    (lambda x, xh, m, lv, s: torch.nn.functional.mse_loss(xh, x) / (2 * s**2) + _constant(x, s) + _kl(m, lv),
     "F.mse_loss averages over the batch and the pixels by default"),
    (lambda x, xh, m, lv, s: torch.nn.functional.mse_loss(xh, x) * x[0].numel() / (2 * s**2) + _constant(x, s)
     + _kl(m, lv), "F.mse_loss times D"),
    (lambda x, xh, m, lv, s: (_squared(x, xh) / (2 * s**2) + _constant(x, s)) / x[0].numel() + _kl(m, lv),
     "averaged over the pixels"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) + _kl(m, lv) / m.shape[-1],
     "the KL is averaged over the latent dimensions"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s), "the KL term is missing"),
    (lambda x, xh, m, lv, s: -torch.distributions.Normal(xh, s**2).log_prob(x).sum(dim=(1, 2, 3)) + _kl(m, lv),
     "you passed the variance s^2 as the scale"),
    (lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) + _kl(m, 2 * lv),
     "the KL reads logvar as log sigma"),
])
def test_gaussian_vae_loss_names_each_known_mistake(capsys, wrong, hint):
    assert check.gaussian_vae_loss(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


def test_gaussian_vae_loss_passes_the_kl_free_case_when_only_the_kl_is_wrong(capsys):
    """A wrong KL fails every case but the one with mu = 0, logvar = 0: the student sees the reconstruction is right."""
    wrong_kl = lambda x, xh, m, lv, s: _squared(x, xh) / (2 * s**2) + _constant(x, s) + _kl(m, lv) + m.pow(2).sum(-1)  # noqa: E731
    assert check.gaussian_vae_loss(wrong_kl) is False
    out = capsys.readouterr().out
    assert "passed  KL = 0" in out and "FAILED  one 2x2 image" in out


def test_gaussian_vae_loss_fails_a_wrong_reconstruction_on_the_kl_free_case(capsys):
    wrong_reconstruction = lambda x, xh, m, lv, s: right_gaussian_vae_loss(x, xh, m, lv, s) + 0.1 * _squared(x, xh)  # noqa: E731
    assert check.gaussian_vae_loss(wrong_reconstruction) is False
    assert "FAILED  KL = 0" in capsys.readouterr().out


def test_gaussian_vae_loss_fails_an_unknown_mistake_without_a_hint(capsys):
    assert check.gaussian_vae_loss(lambda x, xh, m, lv, s: right_gaussian_vae_loss(x, xh, m, lv, s) + 1) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and "expected" in out and "(" not in out.split("got")[1].splitlines()[0]


# ---------------------------------------------------------------- notebook 09: the paper's Gaussian decoder


def right_gaussian_log_likelihood(x, mean, log_var):
    return torch.distributions.Normal(mean, (0.5 * log_var).exp()).log_prob(x).sum(dim=(1, 2, 3))


def test_gaussian_decoder_checker_accepts_the_right_answer(capsys):
    assert check.gaussian_decoder_log_likelihood(right_gaussian_log_likelihood) is True
    assert check.gaussian_decoder_log_likelihood(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, m, lv: (-0.5 * math.log(2 * math.pi) - lv - (x - m) ** 2 / (2 * lv.exp())).sum(dim=(1, 2, 3)),
     "not -log_var"),
    (lambda x, m, lv: right_gaussian_log_likelihood(x, m, lv).neg(), "sign is flipped"),
    (lambda x, m, lv: right_gaussian_log_likelihood(x, m, lv) / x[0].numel(), "averaged over the pixels"),
    (lambda x, m, lv: (-0.5 * lv - (x - m) ** 2 / (2 * lv.exp())).sum(dim=(1, 2, 3)), "log(2 pi)"),
    (lambda x, m, lv: (-math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * lv.exp())).sum(dim=(1, 2, 3)),
     "the 1/2 is missing"),
    (lambda x, m, lv: (-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * (0.5 * lv).exp())).sum(dim=(1, 2, 3)),
     "divided by s = exp(log_var / 2)"),
])
def test_gaussian_decoder_checker_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.gaussian_decoder_log_likelihood(wrong) is False
    assert hint in capsys.readouterr().out


def right_wake_sleep_loss(model, x, z, z_dream, x_dream):
    mu, logvar = model.encode(x_dream.detach())
    sleep = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z_dream).sum(-1)
    return -(model.log_likelihood(x, z.detach()) + sleep)


def test_wake_sleep_checker_accepts_the_right_answer_written_another_way(capsys):
    assert check.wake_sleep_loss(right_wake_sleep_loss) is True
    assert check.wake_sleep_loss(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _no_grad(model, x, z, z_dream, x_dream):
    with torch.no_grad():
        return right_wake_sleep_loss(model, x, z, z_dream, x_dream)


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, x, z, zd, xd: -(m.log_likelihood(x, z) + log_normal(zd, *m.encode(xd.detach()))), "z is not detached"),
    (lambda m, x, z, zd, xd: -(m.log_likelihood(x, z.detach()) + log_normal(zd, *m.encode(xd))),
     "x_dream is not detached"),
    (lambda m, x, z, zd, xd: -right_wake_sleep_loss(m, x, z, zd, xd), "sign is flipped"),
    (lambda m, x, z, zd, xd: right_wake_sleep_loss(m, x, z, zd, xd) + kl_standard_normal(*m.encode(x)),
     "AEVB's encoder loss"),
    (lambda m, x, z, zd, xd: -m.log_likelihood(x, z.detach()), "sleep phase is missing"),
    (lambda m, x, z, zd, xd: right_wake_sleep_loss(m, x, z, zd, xd).mean(), "averaged over the images"),
    (_no_grad, "carries no gradient"),
    (lambda m, x, z, zd, xd: right_wake_sleep_loss(m, x, z, zd, xd)
     - torch.distributions.Normal(0.0, 1.0).log_prob(z.detach()).sum(-1), "you added log p(z)"),
    (lambda m, x, z, zd, xd: right_wake_sleep_loss(m, x, z, zd, xd) + 0.5 * (m.encode(x)[0] ** 2).sum(-1).detach(),
     "expected"),
    (lambda m, x, z, zd, xd: kl_standard_normal(*m.encode(x)) - m.log_likelihood(x, z), "negative ELBO (AEVB"),
    (lambda m, x, z, zd, xd: log_normal(z, *m.encode(x)) - m.log_likelihood(x, z)
     - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1), "negative ELBO (AEVB's loss, its KL estimated"),
])
def test_wake_sleep_checker_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.wake_sleep_loss(wrong) is False
    assert hint in capsys.readouterr().out


def _sleep_cut_from_the_encoder(model, x, z, z_dream, x_dream):
    """Right values; the encoder gets no gradient from the sleep term (its log q is computed on detached weights)."""
    mu, logvar = torch.func.functional_call(model.encoder, {n: p.detach() for n, p in model.encoder.named_parameters()},
                                            (x_dream.detach(),)).chunk(2, dim=-1)
    sleep = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z_dream).sum(-1)
    return -(model.log_likelihood(x, z.detach()) + sleep)


def _wake_cut_from_the_decoder(model, x, z, z_dream, x_dream):
    """Right values; the decoder gets no gradient from the wake term."""
    with torch.no_grad():
        wake = model.log_likelihood(x, z)
    return right_wake_sleep_loss(model, x, z, z_dream, x_dream) + (model.log_likelihood(x, z.detach()) - wake)


@pytest.mark.parametrize("wrong, network", [(_sleep_cut_from_the_encoder, "the encoder gets"),
                                            (_wake_cut_from_the_decoder, "the decoder gets")])
def test_wake_sleep_checker_names_the_network_whose_gradient_is_wrong(capsys, wrong, network):
    assert check.wake_sleep_loss(wrong) is False
    said = capsys.readouterr().out
    assert "the values are right but the gradient is not" in said and network in said


def test_wake_sleep_checker_names_a_float32_loss_without_a_gradient_instead_of_crashing(capsys):
    assert check.wake_sleep_loss(lambda m, x, z, zd, xd: torch.ones(len(x))) is False
    said = capsys.readouterr().out
    assert "carries no gradient" in said and "raised" not in said


def right_code_from(run):  # backwards from the last checkpoint while the code is there
    i = len(run["test_kl"])
    while i > 0 and run["test_kl"][i - 1] > 0.1:
        i -= 1
    return None if i == len(run["test_kl"]) else run["samples"][i]


def test_code_from_checker_accepts_the_right_answer_written_another_way(capsys):
    assert check.code_from(right_code_from) is True
    assert check.code_from(lambda run: torch.tensor(right_code_from(run) or 0).item() or None) is True
    assert check.code_from(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _first_crossing(run):
    return next((n for n, kl in zip(run["samples"], run["test_kl"]) if kl > 0.1), None)


def _last_empty(run):
    empty = [n for n, kl in zip(run["samples"], run["test_kl"]) if kl <= 0.1]
    return None if run["test_kl"][-1] <= 0.1 else (empty[-1] if empty else run["samples"][0])


def _index(run):
    answer = right_code_from(run)
    return None if answer is None else run["samples"].index(answer)


def _at_least(run):  # a KL of exactly 0.1 counted as a code
    i = len(run["test_kl"])
    while i > 0 and run["test_kl"][i - 1] >= 0.1:
        i -= 1
    return None if i == len(run["test_kl"]) else run["samples"][i]


@pytest.mark.parametrize("wrong, hint", [
    (_first_crossing, "falls back to 0.1 or below later"),
    (_last_empty, "the code starts at the checkpoint after it"),
    (_index, "you returned the checkpoint's index"),
    (_at_least, "exactly 0.1 is not above 0.1"),
    (lambda run: right_code_from(run) or run["samples"][-1], "return None"),
    (lambda run: right_code_from(run) if run["test_kl"][0] <= 0.1 else None, "this run's last KL is above 0.1"),
])
def test_code_from_checker_names_each_known_mistake(capsys, wrong, hint):
    assert check.code_from(wrong) is False
    assert hint in capsys.readouterr().out


def test_code_from_checker_judges_the_run_as_given_even_if_the_answer_changes_it(capsys):
    def clears_the_run(run):
        answer = right_code_from(run)
        run["test_kl"].clear()
        return answer

    assert check.code_from(clears_the_run) is True


# ------------------------------------------------------------------------ notebook 10


def right_ppca_scales(eigenvalues, noise_variance, latent_dim):
    largest = torch.sort(torch.as_tensor(eigenvalues), descending=True).values[:latent_dim]
    return (largest - noise_variance).clamp(min=0).sqrt()


def test_ppca_scales_accepts_the_closed_form_and_reports_a_stub(capsys):
    assert check.ppca_scales(right_ppca_scales) is True
    assert check.ppca_scales(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda e, s, k: torch.sort(e, descending=True).values[:k].sqrt(), "PCA's scale"),
    (lambda e, s, k: (torch.sort(e, descending=True).values[:k] - s).clamp(min=0), "a variance"),
    (lambda e, s, k: (e[:k] - s).clamp(min=0).sqrt(), "sort them"),
    # no clip: nan where a direction collapses, named as such (not as a log of 0)
    (lambda e, s, k: (torch.sort(e, descending=True).values[:k] - s).sqrt(), "clip it at 0 before the square root"),
])
def test_ppca_scales_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.ppca_scales(wrong) is False
    assert hint in capsys.readouterr().out


def test_ess_accepts_the_softmax_form_and_reports_a_stub(capsys):
    assert check.ess(lambda log_w: 1 / torch.softmax(log_w, dim=0).pow(2).sum(dim=0)) is True
    assert check.ess(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _scaled(log_w):
    return (log_w - log_w.max(dim=0).values).exp()


@pytest.mark.parametrize("wrong, hint", [
    (lambda lw: torch.softmax(lw, dim=0).pow(2).sum(dim=0), "invert it"),
    (lambda lw: 1 / torch.softmax(lw, dim=1).pow(2).sum(dim=1), "reduce dim 0"),
    (lambda lw: _scaled(lw).sum(dim=0) / _scaled(lw).pow(2).sum(dim=0), "the numerator is (sum w)^2"),
    (lambda lw: _scaled(lw).sum(dim=0) ** 2 / _scaled(lw).sum(dim=0), "the denominator is sum w^2"),
    (lambda lw: lw.exp().sum(dim=0) ** 2 / lw.exp().pow(2).sum(dim=0), "You took exp of the log weights first"),
    (lambda lw: (lw - lw.max()).exp().sum(dim=0) ** 2 / (lw - lw.max()).exp().pow(2).sum(dim=0), "each column by its own"),
])
def test_ess_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.ess(wrong) is False
    assert hint in capsys.readouterr().out


def iw_log_weights(model, x, k, std_of=lambda logvar: (0.5 * logvar).exp(), prior=True, entropy=True, sample=False,
                   detach_q=False, shared_rows=False):
    """A student's log weights (k, N), right by default, or with one mistake switched on."""
    mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, std_of(logvar))
    eps_shape = (k, 1, *mu.shape[1:]) if shared_rows else (k, *mu.shape)  # shared_rows: one eps for all rows
    z = q.sample((k,)) if sample else mu + q.scale * torch.randn(eps_shape, dtype=mu.dtype)
    log_w = model.log_likelihood(x, z)
    if prior:
        log_w = log_w + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
    if entropy:  # detach_q: log q's parameters cut from the graph, z not (the "sticking the landing" gradient)
        log_q = torch.distributions.Normal(mu.detach(), q.scale.detach()) if detach_q else q
        log_w = log_w - log_q.log_prob(z).sum(dim=-1)
    return log_w


def right_iwae_bound(model, x, k):
    return torch.logsumexp(iw_log_weights(model, x, k), dim=0) - math.log(k)


class DetachedEncoder:
    """A model whose encoder's outputs are cut from the graph: the right values, no gradient to q."""

    def __init__(self, model):
        self.model = model

    def encode(self, x):
        return tuple(t.detach() for t in self.model.encode(x))

    def log_likelihood(self, x, z):
        return self.model.log_likelihood(x, z)


@pytest.mark.slow  # each check draws about 10 million z: seconds
def test_iwae_bound_accepts_a_written_bound_and_the_packages_and_reports_a_stub(capsys):
    from vae_lite.objectives import iwae_bound

    assert check.iwae_bound(right_iwae_bound) is True
    assert check.iwae_bound(lambda model, x, k: iwae_bound(model, x, k)) is True  # other draws, same bound
    assert check.iwae_bound(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.slow  # each check draws about 10 million z: seconds
def test_iwae_bound_passes_a_right_answer_whatever_its_random_numbers():
    """The Monte Carlo tolerance (6 standard errors) must not fail a right answer on other draws."""
    for seed in (1, 2, 3):
        def reseeded(model, x, k, seed=seed):
            torch.manual_seed(seed)
            return right_iwae_bound(model, x, k)

        assert check.iwae_bound(reseeded) is True, f"a right answer failed with seed {seed}"


@pytest.mark.slow
@pytest.mark.parametrize("wrong, hint", [
    (lambda m, x, k: iw_log_weights(m, x, k).mean(dim=0), "that is the ELBO"),
    # one eps for all k draws: k equal log weights, or a single one (logsumexp of one, minus log k)
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, 1).expand(k, -1), dim=0) - math.log(k), "draws are identical"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, 1), dim=0) - math.log(k), "draws are identical"),
    # one eps of shape (k, 1, d) for every row: each copy of the data point gets the same value
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, shared_rows=True), dim=0) - math.log(k),
     "shared across the rows"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k), dim=0), "the - log k is missing"),
    (lambda m, x, k: -right_iwae_bound(m, x, k), "the sign is flipped"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, prior=False), dim=0) - math.log(k), "log p(z) is missing"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, entropy=False), dim=0) - math.log(k), "log q(z|x) is missing"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, std_of=torch.exp), dim=0) - math.log(k), "sigma^2 = exp(logvar)"),
    # a sampled (or detached) z: the gradient still flows through log q, but not through z
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, sample=True), dim=0) - math.log(k),
     "z must carry the gradient"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k, detach_q=True), dim=0) - math.log(k), "sticking the landing"),
    (lambda m, x, k: right_iwae_bound(m, x, k).detach(), "your bound carries no gradient"),
    (lambda m, x, k: right_iwae_bound(DetachedEncoder(m), x, k), "carries no gradient to q(z|x)"),
    (lambda m, x, k: right_iwae_bound(m, x, k).mean(), "one value per row of x"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k), dim=1) - math.log(len(x)), "reduce over the k samples"),
    (lambda m, x, k: iw_log_weights(m, x, k).exp().mean(dim=0).log(), "use torch.logsumexp"),  # fails at 28x28 only
    # rows that mix pass every case of one data point: only the case of two points in alternate rows fails them
    (lambda m, x, k: right_iwae_bound(m, x, k).mean().expand(len(x)), "the rows mix"),
    (lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, k).reshape(len(x), k), dim=1) - math.log(k), "the rows mix"),
])
def test_iwae_bound_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    # a quarter of the notebook's samples: every mistake is nats away, many standard errors even so
    assert check.iwae_bound(wrong, n=2_500) is False
    assert hint in capsys.readouterr().out


@pytest.mark.slow
def test_iwae_bound_names_no_known_mistake_for_an_unknown_one(capsys):
    """A bound from only k/2 of its draws matches no known form on the linear-Gaussian cases; on the untrained
    image VAEs it comes close to some: the report must not name a mistake the student did not make."""
    half = lambda m, x, k: torch.logsumexp(iw_log_weights(m, x, max(k // 2, 1)), dim=0) - math.log(max(k // 2, 1))  # noqa: E731
    assert check.iwae_bound(half) is False  # all the notebook's samples: the image VAEs fail it too, near wrong forms
    out = capsys.readouterr().out
    assert "FAILED" in out and not [why for why in ("the ELBO", "log k is missing", "sign is flipped", "is missing from",
                                                   "as the standard deviation", "draws are identical") if why in out], out


# ------------------------------------------------------------------------ notebook 11


def right_label_planes(x, y, num_classes):
    """Written independently of the checker: channel y of K, filled with ones, appended to each image."""
    planes = torch.zeros(len(x), num_classes, *x.shape[-2:], dtype=x.dtype)
    planes[torch.arange(len(x)), y] = 1.0
    return torch.cat([x, planes], dim=1)


def test_label_planes_checker_passes_the_answer_and_waits_for_the_stub(capsys):
    assert check.label_planes(right_label_planes) is True
    assert check.label_planes(stub) is None


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, y, k: torch.cat([right_label_planes(x, y, k)[:, x.shape[1]:], x], dim=1), "come first"),
    (lambda x, y, k: right_label_planes(x, (y + 1) % k, k), "channel y[i] should hold the ones"),
    (lambda x, y, k: torch.cat([x, y.float()[:, None, None, None].expand(-1, 1, *x.shape[-2:])], dim=1),
     "a one-hot label (F.one_hot), not the number y"),
    (lambda x, y, k: right_label_planes(x, y, k)[:, x.shape[1]:], "the image's C channels, then K label channels"),
])
def test_label_planes_checker_names_the_known_mistakes(capsys, wrong, hint):
    assert check.label_planes(wrong) is False
    assert hint in capsys.readouterr().out


def test_label_planes_checker_shows_the_first_wrong_plane_not_every_number(capsys):
    half = lambda x, y, k: torch.cat([x, torch.full((len(x), k, *x.shape[-2:]), 0.5)], dim=1)  # noqa: E731
    assert check.label_planes(half) is False
    out = capsys.readouterr().out
    assert "image 0, channel 1 (a label channel): expected [0.0000, 0.0000" in out and "(9 numbers)]" in out
    assert max(len(line) for line in out.splitlines()) < 250, "a short report, not the whole tensor"


def right_like_for_like(cvae_elbo, labels, log_prior, vae_elbo):
    """Written independently of the checker: the paired gaps' mean and standard error (sd with N, not N - 1)."""
    gaps = cvae_elbo + log_prior[labels] - vae_elbo
    return gaps.mean(), (gaps - gaps.mean()).pow(2).mean().sqrt() / math.sqrt(len(gaps))


def test_like_for_like_checker_passes_the_answer_and_waits_for_the_stub(capsys):
    assert check.like_for_like(right_like_for_like) is True
    assert check.like_for_like(stub) is None


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, y, lp, v: right_like_for_like(c, y, 0 * lp, v), "add log p(y) of each image's label"),
    (lambda c, y, lp, v: right_like_for_like(c, y, -lp, v), "do not subtract it"),
    (lambda c, y, lp, v: tuple(-g if i == 0 else g for i, g in enumerate(right_like_for_like(c, y, lp, v))),
     "not the other way round"),
    (lambda c, y, lp, v: right_like_for_like(c, y, lp.mean().expand(len(lp)), v), "each image's own label"),
    (lambda c, y, lp, v: (right_like_for_like(c, y, lp, v)[0], float(((c.var() + v.var()) / len(c)).sqrt())),
     "pair the images"),
    (lambda c, y, lp, v: (right_like_for_like(c, y, lp, v)[0], float((c + lp[y] - v).std())), "sd / sqrt(N)"),
    (lambda c, y, lp, v: (c + lp[y] - v, right_like_for_like(c, y, lp, v)[1]), "average over the images"),
])
def test_like_for_like_checker_names_the_known_mistakes(capsys, wrong, hint):
    assert check.like_for_like(wrong) is False
    assert hint in capsys.readouterr().out

from vae_lite.objectives import reparameterize  # noqa: E402


def _transfer(model, x, source, target):
    mu, _ = model.encode(x, source)
    return model.decode(mu, target)


@pytest.mark.parametrize("wrong, words", [
    (lambda m, x, s, t: m.decode(m.encode(x, t)[0], t), "encoded x with the target label"),
    (lambda m, x, s, t: m.decode(m.encode(x, s)[0], s), "decoded with the source label"),
    (lambda m, x, s, t: m.decode(torch.zeros(len(x), m.latent_dim), t), "z = 0"),
    (lambda m, x, s, t: m.decode(reparameterize(*m.encode(x, s)), t), "changes from call to call"),
])
def test_style_transfer_checker_names_the_known_mistakes(wrong, words, capsys):
    assert check.style_transfer(wrong) is False
    assert words in capsys.readouterr().out


def _conditional_elbo(model, x, y, eps, sigma=lambda logvar: (0.5 * logvar).exp(), label_first=False, kl_scale=1.0,
                      over_pixels=torch.sum):
    mu, logvar = model.encode(x, y)
    z, onehot = mu + sigma(logvar) * eps, model.one_hot(y, (len(y),))
    logits = model.decoder(torch.cat([onehot, z] if label_first else [z, onehot], dim=-1))
    reconstruction = over_pixels(torch.distributions.Bernoulli(logits=logits).log_prob(x), dim=(1, 2, 3))
    return reconstruction - kl_scale * 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)


@pytest.mark.parametrize("wrong, words", [
    (lambda *a: -_conditional_elbo(*a), "you returned the loss"),
    (lambda *a: _conditional_elbo(*a, kl_scale=0.0), "the KL is missing"),
    (lambda *a: _conditional_elbo(*a, kl_scale=-1.0), "subtract the KL"),
    (lambda *a: _conditional_elbo(*a, label_first=True), "reads z first"),
    (lambda *a: _conditional_elbo(*a, sigma=torch.exp), "sigma is exp(logvar / 2)"),
    (lambda *a: _conditional_elbo(*a, sigma=torch.zeros_like), "yours is mu alone"),
    (lambda m, *a: _conditional_elbo(m, *a, kl_scale=1 / m.latent_dim), "averaged over latent dimensions"),
    (lambda *a: _conditional_elbo(*a).sum(), "one ELBO per image"),
    (lambda *a: _conditional_elbo(*a, over_pixels=torch.mean), "averaged over pixels"),
])
def test_conditional_elbo_checker_names_the_known_mistakes(wrong, words, capsys):
    assert check.conditional_elbo(wrong) is False
    assert words in capsys.readouterr().out


def _label_mistake(model, x, y, eps, encoder_label=None, decoder_label=None, no_label=False, probabilities=False,
                   plus_log_variance=False, minus_one=-1):  # the conditional ELBO with one of the label's or the KL's mistakes
    mu, logvar = model.encode(x, y if encoder_label is None else encoder_label)
    z = mu + (0.5 * logvar).exp() * eps
    onehot = model.one_hot(y if decoder_label is None else decoder_label, (len(y),))
    logits = model.decoder(torch.cat([z, torch.zeros_like(onehot) if no_label else onehot], dim=-1))
    logits = logits.sigmoid() if probabilities else logits
    reconstruction = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(dim=(1, 2, 3))
    return reconstruction - 0.5 * (mu.pow(2) + logvar.exp() + minus_one + (1 if plus_log_variance else -1) * logvar).sum(dim=-1)


@pytest.mark.parametrize("wrong, words", [
    (lambda *a: _label_mistake(*a, plus_log_variance=True), "log sigma^2 is subtracted"),
    (lambda *a: _label_mistake(*a, minus_one=0), "yours lacks the - 1"),
    (lambda *a: _label_mistake(*a, probabilities=True), "needs model.decoder's logits"),
    (lambda *a: _label_mistake(*a, no_label=True), "yours reads zeros in its place"),
    (lambda *a: _label_mistake(*a, decoder_label=0), "the decoder reads each image's own label"),
    (lambda *a: _label_mistake(*a, encoder_label=0), "the encoder reads each image with its own label"),
    (lambda *a: _label_mistake(*a, encoder_label=0, decoder_label=0), "stays the same when the label changes"),
])
def test_conditional_elbo_checker_names_the_label_and_kl_mistakes(wrong, words, capsys):
    assert check.conditional_elbo(wrong) is False
    assert words in capsys.readouterr().out


def _sigma_in_the_kl(model, x, y, eps):  # sigma = exp(logvar / 2) where the KL needs sigma^2 = exp(logvar)
    mu, logvar = model.encode(x, y)
    return _conditional_elbo(model, x, y, eps) - 0.5 * ((0.5 * logvar).exp() - logvar.exp()).sum(dim=-1)


def test_conditional_elbo_checker_names_sigma_in_place_of_the_variance_in_the_kl(capsys):
    assert check.conditional_elbo(_sigma_in_the_kl) is False
    out = capsys.readouterr().out
    assert "yours has sigma = exp(logvar / 2) in its place" in out


def _sampled_kl(model, x, y, eps):  # right in expectation: the KL estimated at the one z, as notebook 04 also trained
    mu, logvar = model.encode(x, y)
    z = mu + (0.5 * logvar).exp() * eps
    normal = torch.distributions.Normal
    log_ratio = (normal(mu, (0.5 * logvar).exp()).log_prob(z) - normal(0.0, 1.0).log_prob(z)).sum(dim=-1)
    closed = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)
    return _conditional_elbo(model, x, y, eps) + closed - log_ratio


def test_conditional_elbo_checker_names_the_sampled_kl(capsys):
    assert check.conditional_elbo(_sampled_kl) is False
    assert "yours estimates the KL at the sampled z" in capsys.readouterr().out


def test_conditional_elbo_checker_makes_sigma_mistakes_cost_nats(capsys):  # not a rounding-size miss
    assert check.conditional_elbo(lambda *a: _conditional_elbo(*a, sigma=torch.exp)) is False
    expected, rest = capsys.readouterr().out.split("expected ", 1)[1].split(", got ", 1)
    assert abs(float(expected) - float(rest.split()[0])) > 0.5


def test_conditional_elbo_checker_says_when_fresh_noise_replaces_eps(capsys):
    fresh = lambda m, x, y, eps: _conditional_elbo(m, x, y, torch.randn_like(eps))  # noqa: E731
    assert check.conditional_elbo(fresh) is False
    assert "changes from call to call" in capsys.readouterr().out


def test_conditional_elbo_checker_passes_the_solution():  # a stub: test_checkers_report_a_stub_as_not_attempted...
    assert check.conditional_elbo(_conditional_elbo) is True


def test_style_transfer_checker_passes_the_solution_and_waits_for_the_stub(capsys):
    assert check.style_transfer(_transfer) is True

    def stub(model, x, source, target):
        raise NotImplementedError

    assert check.style_transfer(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _bayes(log_px_given_y, log_prior):
    joint = log_px_given_y + log_prior
    log_px = torch.logsumexp(joint, dim=1)
    return log_px, joint - log_px[:, None]


def test_bayes_rule_checker_passes_logsumexp_and_waits_for_the_stub(capsys):
    assert check.bayes_rule(_bayes) is True

    def stub(log_px_given_y, log_prior):
        raise NotImplementedError

    assert check.bayes_rule(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def _through_probabilities(ll, lp):  # exp, sum, log: right on paper, -inf on real images
    log_px = (ll.exp() * lp.exp()).sum(dim=1).log()
    return log_px, ll + lp - log_px[:, None]


@pytest.mark.parametrize("wrong, words", [
    (_through_probabilities, "not finite"),
    (lambda ll, lp: (torch.logsumexp(ll, 1), torch.log_softmax(ll, 1)), "the prior is missing"),
    (lambda ll, lp: (torch.logsumexp(ll, 1) - math.log(ll.shape[1]), torch.log_softmax(ll, 1)), "taken as uniform"),
    (lambda ll, lp: ((ll + lp).max(1).values, torch.log_softmax(ll + lp, 1)), "the largest term (max)"),
    (lambda ll, lp: (torch.logsumexp(ll + lp, 1), torch.softmax(ll + lp, 1)), "a probability; return its log"),
    (lambda ll, lp: (torch.logsumexp(ll + lp, 1), ll + lp), "this is the log joint"),
    (lambda ll, lp: (torch.logsumexp(ll + lp, 0), torch.log_softmax(ll + lp, 0)), "normalised over the images"),
    (lambda ll, lp: torch.logsumexp(ll + lp, 1), "return two tensors"),
])
def test_bayes_rule_checker_names_the_known_mistakes(wrong, words, capsys):
    assert check.bayes_rule(wrong) is False
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("posterior, words", [
    (lambda ll, lp: torch.log_softmax(ll, 1), "right only when every class is equally likely"),  # p(y|x) ∝ p(x|y)
    (lambda ll, lp: ll - torch.logsumexp(ll + lp, 1, keepdim=True), "you returned log p(x|c) - log p(x)"),
])
def test_bayes_rule_checker_names_a_posterior_without_the_prior_on_every_case(posterior, words, capsys):
    # log p(x) right, the posterior without log p(c): right under a uniform prior, wrong under every case's prior;
    # each failing line must name this mistake, never another (with equal likelihoods, log p(x|c) - log p(x) is 0,
    # which for a single image is also what normalising over the images gives)
    uniform = torch.full((3,), -math.log(3.0), dtype=torch.float64)
    ll = torch.tensor([[-10.0, -11.0, -20.0]], dtype=torch.float64)
    assert torch.allclose(torch.log_softmax(ll, 1), _bayes(ll, uniform)[1])  # the answer a uniform prior hides
    assert check.bayes_rule(lambda ll, lp: (torch.logsumexp(ll + lp, 1), posterior(ll, lp))) is False
    failed = [line for line in capsys.readouterr().out.splitlines() if "FAILED" in line]
    assert len(failed) == 4 and all("log p(y|x)" in line and words in line for line in failed)
    assert not any("normalised over the images" in line for line in failed)


def test_bayes_rule_checker_fails_an_answer_off_by_a_small_amount(capsys):
    # not one of the named mistakes: a constant 0.01 nats off must still fail, with no misleading hint
    assert check.bayes_rule(lambda ll, lp: tuple(t + 0.01 for t in _bayes(ll, lp))) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and "(the prior" not in out

def test_log_evidence_is_accepts_logsumexp_and_names_the_elbo_the_missing_log_k_and_underflow(capsys):
    assert check.log_evidence_is(lambda log_w: torch.logsumexp(log_w, dim=-1) - math.log(log_w.shape[-1])) is True
    for wrong, hint in [(lambda log_w: log_w.mean(-1), "estimates the ELBO"),
                        (lambda log_w: torch.logsumexp(log_w, -1), "subtract log k"),
                        (lambda log_w: torch.logsumexp(log_w, -1) - math.log(len(log_w)), "k is the last dimension"),
                        (lambda log_w: log_w.exp().mean(-1).log(), "exp(-1000) underflows to 0")]:
        capsys.readouterr()
        assert check.log_evidence_is(wrong) is False
        out = capsys.readouterr().out
        assert "FAILED" in out and hint in out, out
    assert "log(logvar)" not in out  # the underflow gets this exercise's hint, not the general one about overflow
    assert check.log_evidence_is(stub) is None


def _mean_estimate(log_w, k, spread=lambda e: e.std(), count=lambda log_w, e: len(e), of=None):
    estimates = torch.logsumexp(log_w.view(-1, k), dim=-1) - math.log(k) if of is None else of(log_w, k)
    return estimates.mean().item(), spread(estimates).item() / math.sqrt(count(log_w, estimates))


@pytest.mark.parametrize("wrong, hint", [
    (lambda log_w, k: _mean_estimate(log_w, k, spread=lambda e: e.std() * math.sqrt(len(e))), "their mean divides it by √4"),
    (lambda log_w, k: _mean_estimate(log_w, k, count=lambda log_w, e: len(log_w)), "not by √(number of log weights)"),
    (lambda log_w, k: _mean_estimate(log_w, k, of=lambda log_w, k: log_w), "mean of the log weights"),
])
def test_mean_estimate_accepts_either_standard_deviation_and_names_each_slip_in_the_standard_error(capsys, wrong, hint):
    assert check.mean_estimate(_mean_estimate) is True
    assert check.mean_estimate(lambda log_w, k: _mean_estimate(log_w, k, spread=lambda e: e.std(correction=0))) is True
    capsys.readouterr()
    assert check.mean_estimate(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out, out
    assert check.mean_estimate(stub) is None


def _paired_gain(after, before, spread=lambda d: d.std(), over=math.sqrt):
    """The right answer to paired_gain (notebook 08); its keywords inject a slip in the standard error."""
    differences = after - before
    return differences.mean().item(), spread(differences).item() / over(len(differences))


def _independent_means(after, before):  # the error of two unpaired means: the images' own spread stays in
    return (after - before).mean().item(), math.sqrt((after.var() + before.var()).item() / len(after))


@pytest.mark.parametrize("wrong, hint", [
    (lambda after, before: _paired_gain(before, after), "the sign is flipped"),
    (_independent_means, "the error of two independent means"),
    (lambda after, before: _paired_gain(after, before, over=lambda n: n), "not by"),
    (lambda after, before: _paired_gain(after, before, over=lambda n: 1), "the differences' standard deviation"),
])
def test_paired_gain_accepts_either_standard_deviation_and_names_each_slip(capsys, wrong, hint):
    assert check.paired_gain(_paired_gain) is True
    assert check.paired_gain(lambda a, b: _paired_gain(a, b, spread=lambda d: d.std(correction=0))) is True
    capsys.readouterr()
    assert check.paired_gain(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out, out
    assert check.paired_gain(stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_score_function_checker_names_two_draws_of_z_not_the_pathwise_zero(capsys):
    def two_draws(f, mu, sigma, n):  # f on one z, the score on another: averages to 0
        z_f, z_s = (mu + sigma * torch.randn(n, dtype=torch.float64) for _ in range(2))
        return (f(z_f) * ((z_s - mu) ** 2 - sigma**2) / sigma**3).mean()
    assert check.score_function_gradient(two_draws) is False
    out = capsys.readouterr().out
    assert "3 case(s) failed" in out and "the same z" in out and "pathwise" not in out, out


def test_score_function_checker_names_sampling_with_the_variance(capsys):
    def squared_sigma(f, mu, sigma, n):  # the write-up's sigma = E[(x - mu)^2]: z = mu + sigma^2 eps
        z = mu + sigma**2 * torch.randn(n, dtype=torch.float64)
        return (f(z) * ((z - mu) ** 2 - sigma**2) / sigma**3).mean()
    assert check.score_function_gradient(squared_sigma) is False
    out = capsys.readouterr().out
    assert "3 case(s) failed" in out and "samples with the variance" in out, out
