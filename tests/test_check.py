"""The exercise checkers accept right answers, reject the common wrong ones, and say why."""

import math

import pytest
import sympy as sp
import torch

from vae_lite import check
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


def test_checkers_report_a_stub_as_not_attempted_and_survive_a_crash(capsys):
    for checker in (check.reparameterize, check.kl_closed_form, check.nearest_code_distance,
                    check.elbo_monte_carlo, check.score_function_gradient, check.vae_loss,
                    check.active_unit_count, check.log_mean_exp):
        assert checker(stub) is None
        assert "not attempted yet" in capsys.readouterr().out

    def crashes(*args):
        raise ValueError("oops")

    assert check.kl_closed_form(crashes) is False
    assert "raised ValueError: oops" in capsys.readouterr().out


# ---------------------------------------------------------------- KL (notebook 04)


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
])
def test_kl_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.kl_closed_form(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


def test_kl_failure_message_shows_the_case_and_expected_vs_got(capsys):
    check.kl_closed_form(lambda mu, lv: -right_kl(mu, lv))
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "mu = 1, sigma = 1" in l)
    assert "expected 0.5000, got -0.5000" in line


# ---------------------------------------------------------------- notebook 01


def test_nearest_code_distance_accepts_right_and_names_squared_distances(capsys):
    assert check.nearest_code_distance(lambda a, c: torch.cdist(a, c).min(dim=1).values) is True
    assert check.nearest_code_distance(lambda a, c: (torch.cdist(a, c) ** 2).min(dim=1).values) is False
    assert "squared distances" in capsys.readouterr().out
    assert check.nearest_code_distance(lambda a, c: torch.cdist(a, c).min()) is False  # one number, not one per sample
    assert check.nearest_code_distance(lambda a, c: torch.cdist(a, c).max(dim=1).values) is False


# ---------------------------------------------------------------- notebook 02


def test_toy_elbo_formula_equals_the_elbo_sympy_integrates():
    elbo, _ = S.elbo_terms()
    f = sp.lambdify((S.x, S.w, S.b, S.s, S.mu_q, S.sigma_q), elbo, "math")
    for x, mu_q, sigma_q in [(1.7, 0.0, 1.0), (-0.3, 1.2, 0.4), (2.5, -2.0, 3.0)]:
        w, b, s = check.TOY_MODEL.values()
        assert check.toy_elbo_exact(x, mu_q, sigma_q) == pytest.approx(f(x, w, b, s, mu_q, sigma_q), abs=1e-12)


def mc_elbo(x, mu_q, sigma_q, n, sign=1.0, with_entropy=True):
    w, b, s = check.TOY_MODEL.values()
    q = torch.distributions.Normal(torch.tensor(mu_q, dtype=torch.float64), torch.tensor(sigma_q, dtype=torch.float64))
    z = q.sample((n,))
    log_joint = torch.distributions.Normal(0.0, 1.0).log_prob(z) + torch.distributions.Normal(w * z + b, s).log_prob(torch.tensor(x))
    return sign * (log_joint - (q.log_prob(z) if with_entropy else 0)).mean()


@pytest.mark.slow  # three full checker runs of 4 x 100k samples
def test_elbo_monte_carlo_accepts_a_right_estimate_and_rejects_wrong_ones(capsys):
    assert check.elbo_monte_carlo(mc_elbo) is True
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, sign=-1.0)) is False
    assert "sign is flipped" in capsys.readouterr().out
    assert check.elbo_monte_carlo(lambda *a: mc_elbo(*a, with_entropy=False)) is False


# ---------------------------------------------------------------- score function (notebook 03)


def score_gradient(f, mu, sigma, n):
    z = mu + sigma * torch.randn(n, dtype=torch.float64)
    return (f(z) * (z - mu) / sigma**2).mean()


def pathwise_gradient(f, mu, sigma, n):
    mu = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    z = mu + sigma * torch.randn(n, dtype=torch.float64)
    f(z).mean().backward() if f(z).requires_grad else None
    return mu.grad if mu.grad is not None else torch.tensor(0.0)


def test_score_function_checker_accepts_score_and_rejects_pathwise_on_a_step(capsys):
    assert check.score_function_gradient(score_gradient) is True
    capsys.readouterr()
    assert check.score_function_gradient(pathwise_gradient) is False
    out = capsys.readouterr().out
    assert "passed  f = sin, mu = 0.5" in out  # pathwise is right for a smooth f ...
    assert "FAILED  f = step" in out and "pathwise" in out  # ... and useless on a step
    wrong_scale = lambda f, mu, sigma, n: score_gradient(f, mu, sigma, n) * sigma
    assert check.score_function_gradient(wrong_scale) is False
    assert "factor sigma" in capsys.readouterr().out


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
    (lambda lg, x, mu, lv: (bce(lg, x) + kl(mu, lv)).mean(), "return one loss per image"),
])
def test_vae_loss_names_each_known_mistake(capsys, wrong, hint):
    assert check.vae_loss(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


# ---------------------------------------------------------------- notebook 06: active units


def test_active_unit_count_accepts_burdas_criterion(capsys):
    assert check.active_unit_count(lambda mu, threshold: int((mu.var(dim=0) > threshold).sum())) is True


@pytest.mark.parametrize("wrong, hint", [
    (lambda mu, t: int((mu.std(dim=0) > t).sum()), "you used the standard deviation"),
    (lambda mu, t: int((mu.var(dim=1) > t).sum()), "you took the variance over the dimensions of one image"),
    (lambda mu, t: int((mu.mean(dim=0).abs() > t).sum()), "you compared the mean of mu with the threshold"),
])
def test_active_unit_count_names_each_known_mistake(capsys, wrong, hint):
    assert check.active_unit_count(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


# ---------------------------------------------------------------- notebook 07: log-mean-exp


def test_log_mean_exp_accepts_a_stable_form_and_flags_an_overflowing_one(capsys):
    assert check.log_mean_exp(lambda w: torch.logsumexp(w, dim=0) - math.log(w.shape[0])) is True
    capsys.readouterr()
    assert check.log_mean_exp(lambda w: w.exp().mean(dim=0).log()) is False  # right formula, but exp underflows
    out = capsys.readouterr().out
    assert "FAILED  log weights near -1000" in out and "not finite" in out
    assert "passed  k = 2, one image" in out


@pytest.mark.parametrize("wrong, hint", [
    (lambda w: w.mean(dim=0), "you averaged the log weights"),
    (lambda w: torch.logsumexp(w, dim=0), "the - log k is missing"),
    (lambda w: torch.logsumexp(w, dim=1) - math.log(w.shape[1]), "reduce over the k samples"),
])
def test_log_mean_exp_names_each_known_mistake(capsys, wrong, hint):
    assert check.log_mean_exp(wrong) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and hint in out


# ------------------------------------------------------------------------ notebook 06


def test_effective_beta_accepts_the_ratio_and_names_the_upside_down_answer(capsys):
    right = lambda r, k, p, d: (p if r == "mean" else 1) / (d if k == "mean" else 1)
    assert check.effective_beta(right) is True
    upside_down = lambda r, k, p, d: 1 / right(r, k, p, d)
    assert check.effective_beta(upside_down) is False
    assert "upside down" in capsys.readouterr().out


def test_effective_beta_names_the_answer_that_ignores_the_reduction(capsys):
    assert check.effective_beta(lambda r, k, p, d: 1) is False
    assert "reweights the KL" in capsys.readouterr().out


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
    (lambda x, m, lv: (-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * (0.5 * lv).exp())).sum(dim=(1, 2, 3)),
     "divided by s = exp(log_var / 2)"),
])
def test_gaussian_decoder_checker_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.gaussian_decoder_log_likelihood(wrong) is False
    assert hint in capsys.readouterr().out


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
    (lambda e, s, k: (torch.sort(e, descending=True).values[:k] - s).sqrt(), "not finite"),
])
def test_ppca_scales_rejects_the_common_mistakes_and_names_them(capsys, wrong, hint):
    assert check.ppca_scales(wrong) is False
    assert hint in capsys.readouterr().out


# ------------------------------------------------------------------------ notebook 11

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


def test_bayes_rule_checker_fails_an_answer_off_by_a_small_amount(capsys):
    # not one of the named mistakes: a constant 0.01 nats off must still fail, with no misleading hint
    assert check.bayes_rule(lambda ll, lp: tuple(t + 0.01 for t in _bayes(ll, lp))) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and "(the prior" not in out
