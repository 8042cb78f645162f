"""Checkers for the notebooks' exercises: run your function on known cases and say what is wrong.

Each checker prints one line per case (passed, or expected vs got and a hint) and returns
True when every case passed, False when one failed, and None when the function still
raises NotImplementedError, or a value it checks is still None ("not attempted yet"), so a
notebook runs top to bottom either way.

    notebook 01  bernoulli_nll(probabilities, x); fitted_gaussian_samples(codes, n);
                 values: bits_per_dimension(bits, bernoulli_nll, model, x, nats_per_image)
    notebook 02  elbo_monte_carlo(x, mu_q, sigma_q, n)        for the linear-Gaussian toy model;
                 log_evidence_is(log_w); mean_estimate(log_w, k);
                 reconstruction_and_kl(E_q, log_likelihood, log_prior, log_q) (sympy)
    notebook 03  pathwise_by_hand(f_prime, mu, rho, eps); score_function_gradient(f, mu, sigma, n);
                 reparameterize(mu, logvar) (the common-mistake box)
    notebook 04  kl_monte_carlo(mu, sigma, n); kl_closed_form(mu, logvar);
                 kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p) and its formula by hand
    notebook 05  vae_loss(logits, x, mu, logvar); vae_module(MyVAE, vae_loss); training_loop(train_my_vae);
                 same_as_fit(MyVAE, train_my_vae, images): the two against vae_lite.VAE and fit
    notebook 06  effective_beta(reconstruction, kl, pixels, latent_dim, batch_size);
                 gaussian_vae_loss(x, x_hat, mu, logvar, s)
    notebook 07  active_unit_count(mu, threshold); interpolate(model, x_a, x_b, n, spherical) (the line, the arc)
    notebook 08  importance_weighted_estimate(log_px_given_z, z, mu, logvar); paired_gain(after, before)
    notebook 09  gaussian_decoder_log_likelihood(x, mean, log_var); wake_sleep_loss(model, x, z, z_dream, x_dream)
                 code_from(run)
    notebook 10  ppca_scales(eigenvalues, noise_variance, latent_dim); iwae_bound(model, x, k)
    notebook 11  conditional_elbo(model, x, y, eps); bayes_rule(log_px_given_y, log_prior);
                 label_planes(x, y, num_classes); style_transfer(model, x, source, target)

Every checker is _run (the loop over cases) with a judge; most judges are _compare: the
right value, and the known wrong forms it names when an answer equals one of them.

Right answers: the formula an exercise asks for is written out in its checker, from the
docstring's maths, not taken from the package, so that a student's answer is checked against
the maths and a slip in vae_lite cannot make the same slip pass. A formula that is only a
part of the answer (the KL inside vae_loss, the networks of a model) is the package's, which
tests/test_objectives.py checks against sympy and torch.distributions; tests/test_check.py
passes answers written independently (with torch.distributions where it has the density)
through the checkers, right ones and each named mistake.
"""

import copy
import math

import torch

from .objectives import kl_standard_normal

TOY_MODEL = dict(w=2.0, b=0.5, s=0.8)  # the linear-Gaussian model the notebook 02 exercise uses


class _Report:
    """Collects one line per case and prints them with a summary.

    A failed case may come with the known mistakes its answer matches (`mistakes`, in order); one is
    named only if the answer matches it on every failed case that was compared, so that a near miss on
    one case does not name a mistake the student did not make."""

    def __init__(self, title):
        self.title, self.cases = title, []

    def case(self, name, ok, detail="", mistakes=None):
        self.cases.append((name, ok, detail, mistakes))
        return ok

    def finish(self):
        failed = [c for c in self.cases if not c[1]]
        compared = [set(mistakes) for *_, mistakes in failed if mistakes is not None]
        everywhere = set.intersection(*compared) if compared else set()
        lines = []
        for name, ok, detail, mistakes in self.cases:
            named = next((f" ({why})" for why in mistakes or [] if why in everywhere), "")
            lines.append("  passed  " + name if ok else f"  FAILED  {name}: {detail}{named}")
        print(f"{self.title}: " + ("all cases passed." if not failed else f"{len(failed)} case(s) failed."))
        print("\n".join(lines))
        return not failed


def _run(title, fn, cases, judge, seed=None):
    """The loop every checker shares: call fn on each case's arguments, then judge(name, got, *args)
    returns the report's lines, as (name, ok, detail). A stub (NotImplementedError) is "not
    attempted yet"; any other exception fails that case without stopping the notebook.
    seed: torch.manual_seed before each call, for a function that samples.
    """
    report = _Report(title)
    for name, args in cases.items():
        if seed is not None:
            torch.manual_seed(seed)
        try:
            got = fn(*(a.clone() if torch.is_tensor(a) else a for a in args))  # clones: fn may change its inputs
        except NotImplementedError:
            print(f"{title}: not attempted yet (the function still raises NotImplementedError). "
                  "Write it, then re-run the cell.")
            return None
        except Exception as e:  # the student's code may raise anything: report it, do not crash the notebook
            report.case(name, False, f"your function raised {type(e).__name__}: {e}")
            continue
        for line in judge(name, got, *args):
            report.case(*line)
    return report.finish()


def _hint_when_not_finite(right, compare, hint):
    """A judge for _run: an answer of the right size that is not finite gets `hint` (the exercise's own advice on
    underflow) in place of _compare's general message; any other answer goes to `compare`."""
    def judge(name, got, *args):
        want, values = _numbers(right(*args)), _numbers(got)
        if values.numel() != want.numel() or torch.isfinite(values).all():
            return compare(name, got, *args)
        return [(name, False, f"expected {_fmt(want)}, got {_fmt(values)}: not finite. {hint}")]
    return judge


def _compare(expected, wrong_forms, shape_hint, atol=1e-4, monte_carlo_error=None):
    """A judge for _run: the answer must equal expected(*args); if it does not, the known wrong forms
    (wrong_forms: {why: function of the same args}) it equals go to the report, which names the first
    one that the answer equals on every failed case.

    monte_carlo_error(*args): the allowed error of a Monte Carlo estimate, in place of atol. A wrong
    form may be a pair (function, its own monte_carlo_error), for a mistake whose estimate is
    noisier than the right one.
    """

    def judge(name, got, *args):
        want, got = _numbers(expected(*args)), _numbers(got)
        if want.numel() == got.numel() == 1:
            got = got.reshape(want.shape)  # one number is one number, whatever its shape
        if got.shape != want.shape:
            return [(name, False, f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}; {shape_hint}")]
        tolerance = atol if monte_carlo_error is None else monte_carlo_error(*args)
        equal = lambda value, atol=tolerance: value.shape == got.shape and bool(torch.allclose(got, value, atol=atol, rtol=1e-5))
        ok, hint, mistakes = equal(want), "", None
        if not ok and not torch.isfinite(got).all():
            hint = (" (your result is not finite, inf or nan: look for a log of 0 or of a negative number, such as "
                    "log(logvar) (logvar can be negative), or an exp that overflows)")
        elif not ok:
            forms = {why: wrong if isinstance(wrong, tuple) else (wrong, None) for why, wrong in wrong_forms.items()}
            mistakes = [why for why, (wrong, error) in forms.items()
                        if equal(_numbers(wrong(*args)), tolerance if error is None else error(*args))]
        allowed = "" if monte_carlo_error is None else f", allowed Monte Carlo error {tolerance:.4f}"
        return [(name, ok, f"expected {_fmt(want)}, got {_fmt(got)}{allowed}{hint}", mistakes)]

    return judge


def _numbers(values):
    return torch.as_tensor(values, dtype=torch.float64).detach()


def _fmt(t):
    t = _numbers(t)
    return f"{t.item():.4f}" if t.numel() == 1 else "[" + ", ".join(f"{v:.4f}" for v in t.reshape(-1).tolist()) + "]"


# ------------------------------------------------------------------------ notebook 01


def bernoulli_nll(fn):
    """fn(probabilities, x) -> (N,) Bernoulli negative log-likelihood of each binary image, nats per image:

        -sum over pixels of [x log p + (1 - x) log(1 - p)]
    """
    generator = torch.Generator().manual_seed(1)
    p = torch.rand(4, 1, 5, 5, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    x = torch.bernoulli(torch.full((4, 1, 5, 5), 0.4, dtype=torch.float64), generator=generator)
    certain = torch.tensor([[[[1.0, 0.0], [1.0, 0.5]]]], dtype=torch.float64)  # p = 1 and p = 0 where x agrees
    cases = {
        "4 images of 5 x 5 pixels": (p, x),
        "p = 1 where x = 1 and p = 0 where x = 0 cost 0 nats (0 log 0 = 0); the p = 0.5 pixel costs ln 2": (certain, torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]], dtype=torch.float64)),
    }
    terms = lambda p, x: torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)
    nll = lambda p, x: -terms(p, x).sum(dim=(1, 2, 3))
    wrong_forms = {
        "this is the mean over pixels; the likelihood of an image is the product over its pixels, so sum the logs":
            lambda p, x: -terms(p, x).mean(dim=(1, 2, 3)),
        "these are bits (log base 2); nats use the natural log": lambda p, x: nll(p, x) / math.log(2),
        "the sign is flipped: a negative log-likelihood is positive": lambda p, x: -nll(p, x),
        "the (1 - x) log(1 - p) term is missing: a pixel that is 0 has probability 1 - p":
            lambda p, x: -torch.xlogy(x, p).sum(dim=(1, 2, 3)),
    }
    compare = _compare(nll, wrong_forms, "one number per image: sum over dims (1, 2, 3), keep dim 0")

    swapped = lambda p, x: -(torch.xlogy(p, x) + torch.xlogy(1 - p, 1 - x)).sum(dim=(1, 2, 3))  # p log x: inf at x = 0

    def judge(name, got, p, x):  # a result that is not finite gets this exercise's hint, not _compare's general one
        want, values = _numbers(nll(p, x)), _numbers(got)
        if values.numel() != want.numel() or torch.isfinite(values).all():
            return compare(name, got, p, x)
        if values.shape == want.shape and torch.allclose(values, _numbers(swapped(p, x)), equal_nan=True):
            return [(name, False, f"expected {_fmt(want)}, got {_fmt(values)}: the arguments of torch.xlogy are swapped. "
                                  "torch.xlogy(a, b) is a · log b, so x log p is torch.xlogy(x, p): log of the probability")]
        return [(name, False, f"expected {_fmt(want)}, got {_fmt(values)}: not finite (nan or inf). At p = 0 or 1, "
                              "log(0) = -inf and 0 · log 0 = nan in torch; torch.xlogy(x, p) gives x log p with 0 · log 0 = 0")]

    return _run("bernoulli_nll", fn, cases, judge)


def fitted_gaussian_samples(fn, n=20_000):
    """fn(codes (N, d), n) -> (n, d) samples of the diagonal Gaussian fitted to the codes: each
    dimension's mean and standard deviation over the rows, then n *new* points
    mean + std * eps, eps ~ N(0, I).

    The codes here are skewed (exponential, not Gaussian), so that answers which give back the
    codes' own values (rows resampled, columns shuffled) or noise of the wrong shape (uniform)
    fail on more than the mean and spread.
    """
    generator = torch.Generator().manual_seed(2)
    mean, std = torch.tensor([3.0, -1.0, 0.0, 8.0]), torch.tensor([2.0, 0.5, 1.0, 4.0])
    skewed = torch.empty(5000, 4).exponential_(generator=generator) - 1  # mean 0, std 1, skewness 2
    skewed[:, 3] = 0.8 * skewed[:, 0] + 0.6 * skewed[:, 3]  # still mean 0, std 1; correlated 0.8 with dimension 0,
    codes = mean + std * skewed  # which a fit with a full covariance would copy
    target_mean, target_std = codes.double().mean(dim=0), codes.double().std(dim=0)
    code_correlation = torch.corrcoef(codes.double().T)[0, 3].item()

    def judge(name, samples, codes_, n_):
        if not isinstance(samples, torch.Tensor) or tuple(samples.shape) != (n_, codes_.shape[1]):
            shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
            return [("shape", False, f"expected ({n_}, {codes_.shape[1]}): n samples of a code, got {shape}")]
        samples = samples.detach().double()
        got_mean, got_std = samples.mean(dim=0), samples.std(dim=0)
        standardised = (samples - got_mean) / got_std
        skewness, kurtosis = standardised.pow(3).mean(dim=0), standardised.pow(4).mean(dim=0)
        reused = torch.stack([torch.isin(samples[:, j], codes_[:, j].double()) for j in range(codes_.shape[1])])
        correlation = torch.corrcoef(samples.T) - torch.eye(codes_.shape[1], dtype=torch.float64)
        near = lambda value, ref, rel: bool(torch.all((value / ref - 1).abs() < rel))
        hint = ""
        if near(got_std, target_std**2, 0.05):
            hint = ": your spread is the variance; scale the noise by the standard deviation"
        elif near(got_std, torch.ones(4, dtype=torch.float64), 0.05):
            hint = ": these look like samples of N(0, I) with a shifted mean; multiply by each dimension's std"
        elif torch.allclose(got_std, got_std.mean().expand(4), rtol=0.05):
            hint = ": every dimension has the same spread; take the std of each column (dim=0)"
        shape_hint = (": flat-topped like a uniform; torch.rand is uniform on [0, 1), torch.randn is N(0, 1)"
                      if kurtosis.mean() < 2.5 else
                      ": skewed like the codes themselves (theirs is about 2); a Gaussian is symmetric"
                      if skewness.abs().mean() > 0.5 else "")
        # 5 standard errors (of a mean, a std, a skewness sqrt(6/n), a kurtosis sqrt(24/n), a
        # correlation 1/sqrt(n)): a right answer fails about once in a million runs
        return [
            ("shape", True, ""),
            ("new points, not the codes' own values", reused.double().mean().item() < 0.01,
             f"{reused.double().mean().item():.0%} of your values are values of the codes (rows drawn from the codes, "
             "or each column shuffled): that gives back real codes, and the decoder has seen them all. Draw new "
             "points: mean + std * eps with eps = torch.randn(n, d)"),
            ("each dimension's mean is the codes' mean",  # 5 standard errors of the wider spread, yours or the
             bool(torch.all((got_mean - target_mean).abs() < 5 * torch.maximum(got_std, target_std) / math.sqrt(n_))),
             # codes': a too wide spread (the variance for the std) fails the spread case alone
             f"expected {_fmt(target_mean)}, got {_fmt(got_mean)}: the mean of each column of codes (dim=0)"),
            ("each dimension's spread is the codes' standard deviation",
             bool(torch.all((got_std / target_std - 1).abs() < 5 / math.sqrt(2 * n_))),
             f"expected {_fmt(target_std)}, got {_fmt(got_std)}{hint}"),
            ("each dimension is Gaussian (skewness 0, kurtosis 3)",
             bool(torch.all(skewness.abs() < 5 * math.sqrt(6 / n_)) and torch.all((kurtosis - 3).abs() < 5 * math.sqrt(24 / n_))),
             f"skewness {_fmt(skewness)}, kurtosis {_fmt(kurtosis)}{shape_hint}"),
            ("the dimensions are independent (a diagonal covariance)",
             bool(correlation.abs().max() < 5 / math.sqrt(n_)),
             f"correlations between dimensions up to {correlation.abs().max().item():.2f}: "
             + ("they copy the codes' own correlations, a full covariance; fit each dimension on its own (its mean "
                "and std), a diagonal Gaussian" if abs(correlation[0, 3] - code_correlation) < 0.05 else
                "one noise draw shared by every dimension? Draw eps of shape (n, d), torch.randn(n, d)")),
        ]

    return _run("fitted_gaussian_samples", fn, {"samples": (codes, n)}, judge, seed=0)


def _not_set(title, value, name):
    """True (and says so) when an exercise's value is still None: "not attempted yet", as for a stub."""
    if value is None:
        print(f"{title}: not attempted yet (`{name}` is still None). Set it, then re-run the cell.")
    return value is None


def bits_per_dimension(bits, nll, model, x, nats_per_image, name="bits", probabilities="autoencoder(x)",
                       measured="the training loop's"):
    """bits: the AE's mean error on the images x in bits per dimension, computed with the student's
    bernoulli_nll, `nll`; model(x): the AE's pixel probabilities; nats_per_image: the same error as the
    training loop measured it.

        bits per dimension = nats per image / (D ln 2),  D the pixels per image

    Two cases: nll(model(x), x), averaged over the images, is the training loop's number, and bits is
    that number in bits per dimension; each within 0.1 nats per image. The first is what ties `bits` to
    the student's function: a `bits` taken from the training loop passes only with a working nll.
    Another model (a baseline's probabilities, say) is named in the report by the student's variable
    `name`, the expression `probabilities` for model(x), and whose number `measured` was.
    """
    title = "bits_per_dimension" if name == "bits" else f"bits_per_dimension ({name})"
    if _not_set(title, bits, name):
        return None
    report, pixels = _Report(title), x[0].numel()
    case = f"your bernoulli_nll({probabilities}, x) on the {len(x)} images, averaged: {measured} number"
    try:
        with torch.no_grad():
            yours = _numbers(nll(model(x), x))
    except NotImplementedError:
        print(f"{title}: not attempted yet (bernoulli_nll still raises NotImplementedError). "
              "Write it, then re-run the cell.")
        return None
    except Exception as e:  # the student's code may raise anything: report it, do not crash the notebook
        report.case(case, False, f"your bernoulli_nll raised {type(e).__name__}: {e}")
        yours = None
    if yours is not None and tuple(yours.shape) != (len(x),):
        report.case(case, False, f"expected shape ({len(x)},), one number per image, got {tuple(yours.shape)}")
    elif yours is not None:
        mean = yours.mean().item()
        hint = ("; not finite (nan or inf): a log of 0 where p is 0 or 1? torch.xlogy(x, p) gives 0 · log 0 = 0"
                if not math.isfinite(mean) else "; does check.bernoulli_nll pass?")
        report.case(case, abs(mean - nats_per_image) < 0.1,
                    f"expected {nats_per_image:.2f} nats per image, got {mean:.2f}{hint}")
    want = nats_per_image / (pixels * math.log(2))
    case = f"{name}: the test error, {nats_per_image:.1f} nats per image of {pixels} pixels, in bits per dimension"
    try:
        got = _numbers(bits)
    except (TypeError, ValueError, RuntimeError) as e:
        report.case(case, False, f"expected a number, got {type(bits).__name__} ({e})")
        return report.finish()
    if got.numel() != 1:
        report.case(case, False, f"expected one number, got shape {tuple(got.shape)}: the mean over the test images")
        return report.finish()
    got = got.item()
    near = lambda value: abs(got - value) <= abs(value) * 0.1 / nats_per_image  # 0.1 nats per image, relative
    wrong_forms = {
        "nats per dimension: divide by ln 2 as well (1 bit = ln 2 nats)": nats_per_image / pixels,
        f"bits per image: divide by the number of pixels, {pixels}, as well": nats_per_image / math.log(2),
        "multiplied by ln 2: a nat is 1 / ln 2 = 1.443 bits, so divide": nats_per_image * math.log(2) / pixels,
    }
    hint = next((why for why, value in wrong_forms.items() if near(value)),
                f"not {measured} {nats_per_image:.1f} nats per image / ({pixels} ln 2): the mean over the "
                "images of your bernoulli_nll, divided by D ln 2")
    report.case(case, near(want), f"expected {want:.4f}, got {got:.4f}: {hint}")
    return report.finish()


# ------------------------------------------------------------------------ notebook 02


def toy_elbo_exact(x, mu_q, sigma_q, w=TOY_MODEL["w"], b=TOY_MODEL["b"], s=TOY_MODEL["s"]):
    """The toy model's ELBO for q = N(mu_q, sigma_q^2), written out term by term.

    E_q[log p(x|z)] + E_q[log p(z)] + entropy of q; tests/test_check.py compares it with the
    ELBO sympy integrates in vae_lite.symbolic.elbo_terms.
    """
    expected_log_likelihood = (-0.5 * math.log(2 * math.pi * s**2)
                               - ((x - w * mu_q - b) ** 2 + w**2 * sigma_q**2) / (2 * s**2))
    expected_log_prior = -0.5 * math.log(2 * math.pi) - (mu_q**2 + sigma_q**2) / 2
    entropy = 0.5 * math.log(2 * math.pi * math.e * sigma_q**2)
    return expected_log_likelihood + expected_log_prior + entropy


def _toy_log_weight_std(x, mu_q, sigma_q, n=100_000, sampled_from=None, with_q=True, with_prior=True,
                        s=TOY_MODEL["s"], of_weights=False):
    """The standard deviation of one sample of log p(x, z) - log q(z) (without - log q(z) with
    with_q=False, without log p(z) with with_prior=False; s the decoder's standard deviation), z ~ q
    (or z ~ N(mean, std^2) with sampled_from=(mean, std)), estimated by sampling.
    of_weights=True: that of the weight p(x, z) / q(z) over its mean, so that it / sqrt(n) is the
    standard error of the log of a mean of n weights (the delta method)."""
    w, b = TOY_MODEL["w"], TOY_MODEL["b"]
    mean, std = (mu_q, sigma_q) if sampled_from is None else sampled_from
    z = mean + std * torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_joint = (-0.5 * z**2 if with_prior else 0) - 0.5 * ((x - w * z - b) / s) ** 2 - math.log(s)
    log_q = -0.5 * ((z - mu_q) / sigma_q) ** 2 - math.log(sigma_q)
    log_w = log_joint - log_q if with_q else log_joint
    if of_weights:
        weights = (log_w - log_w.max()).exp()
        return (weights.std() / weights.mean()).item()
    return log_w.std().item()


def elbo_monte_carlo(fn, n=100_000):
    """fn(x, mu_q, sigma_q, n) -> a Monte Carlo estimate of the toy model's ELBO (a float or 0-d tensor).

    The model is z ~ N(0, 1), x | z ~ N(w z + b, s^2) with TOY_MODEL's w, b, s.
    """
    x, (w, b, s) = 1.7, TOY_MODEL.values()
    posterior = (w * (x - b) / (w**2 + s**2), math.sqrt(s**2 / (w**2 + s**2)))
    cases = {
        "q = the true posterior": (x, *posterior, n),
        "q = N(0, 1) (the prior)": (x, 0.0, 1.0, n),
        "q = N(1, 0.3^2)": (x, 1.0, 0.3, n),
        "q = N(-0.5, 2^2)": (x, -0.5, 2.0, n),
        # ten times the samples, a tolerance sqrt(10) times tighter: an answer with a fixed n of 1,000 lands
        # inside it about once in 7 for one q, and for both of these (other functions of the same draws) about
        # once in 30, whatever path its draws take
        f"q = N(-0.5, 2^2) with n = {10 * n:,} (use the n passed in)": (x, -0.5, 2.0, 10 * n),
        f"q = N(1, 0.3^2) with n = {10 * n:,} (use the n passed in)": (x, 1.0, 0.3, 10 * n),
    }
    exact = lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q)
    entropy = lambda sigma_q: 0.5 * math.log(2 * math.pi * math.e * sigma_q**2)

    def monte_carlo_error(x, mu_q, sigma_q, n, **how):
        # 6 standard errors of an n-sample average: a right answer fails about once in 500 million runs
        std = _toy_log_weight_std(x, mu_q, sigma_q, **how)  # how: which log weight (_toy_log_weight_std)
        return max(6 * std / math.sqrt(n), 1e-3)  # floor: float32 rounding

    def either_estimator_error(x, mu_q, sigma_q, n):
        # a right answer may also be Kingma & Welling's estimator B, sampled E_q[log p(x|z)] minus the
        # closed-form KL(q || p(z)): the same ELBO, but noisier at q = p(z|x), where the log weight is constant
        return max(monte_carlo_error(x, mu_q, sigma_q, n),
                   monte_carlo_error(x, mu_q, sigma_q, n, with_q=False, with_prior=False))

    def z_from_the_prior(x, mu_q, sigma_q, n):
        """E over z ~ N(0, 1), not q, of log p(x, z) - log q(z)."""
        expected_log_joint = toy_elbo_exact(x, 0.0, 1.0) - entropy(1.0)
        return expected_log_joint + 0.5 * math.log(2 * math.pi * sigma_q**2) + (mu_q**2 + 1) / (2 * sigma_q**2)

    wrong_forms = {
        "the sign is flipped: your value is minus the ELBO, E_q[log p(x,z) - log q(z)]": lambda *args: -exact(*args),
        "the - log q(z) term is missing: E_q[log p(x,z)] alone is not the ELBO":  # noisier than the ELBO at q = p(z|x)
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q) - entropy(sigma_q),
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, with_q=False)),
        "this is the ELBO of q = N(mu_q, sigma_q^4): sigma_q is the standard deviation, pass it as is (not squared) "
        "to Normal(mean, std)":
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q**2),
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q**2, n)),
        "z was drawn from the prior N(0, 1); the ELBO averages over z ~ q = N(mu_q, sigma_q^2)":
            (z_from_the_prior, lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, sampled_from=(0.0, 1.0))),
        "the log p(z) term is missing: the ELBO averages log p(x|z) + log p(z) - log q(z)":
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q) + 0.5 * math.log(2 * math.pi) + (mu_q**2 + sigma_q**2) / 2,
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, with_prior=False)),
        f"the decoder's standard deviation is s = {s}; {s**2:.2f} is its variance s^2":
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q, s=s**2),
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, s=s**2)),
        "summed over the samples: the ELBO is their average (divide by n)":
            (lambda x, mu_q, sigma_q, n: n * toy_elbo_exact(x, mu_q, sigma_q),
             lambda x, mu_q, sigma_q, n: n * monte_carlo_error(x, mu_q, sigma_q, n)),
        "this is E_q[log p(x|z)] + KL(q || p(z)), the write-up's sign: the ELBO subtracts the KL":  # zero KL at q = p(z)
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q) + (mu_q**2 + sigma_q**2 - math.log(sigma_q**2) - 1),
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, with_q=False, with_prior=False)),
        "this is the log of the mean weight, an estimate of log p(x) (equal to the ELBO only at q = p(z|x)); "
        "the ELBO is the mean of the log weights":
            (lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, *posterior),  # log p(x): the ELBO of the posterior
             lambda x, mu_q, sigma_q, n: monte_carlo_error(x, mu_q, sigma_q, n, of_weights=True)),
    }

    return _run("elbo_monte_carlo", fn, cases, _compare(exact, wrong_forms, "average over the samples",
                                                        monte_carlo_error=either_estimator_error), seed=0)


def reconstruction_and_kl(fn):
    """Notebook 02, homework: fn(E_q, log_likelihood, log_prior, log_q) -> (E_q[log p(x|z)], KL(q || p(z))), two
    sympy expressions for the linear-Gaussian toy, built with E_q (the expectation over z ~ q = N(mu_q, sigma_q^2)).

    Each is compared with the right one symbolically, for every Gaussian q; then line 4 must hold:
    reconstruction - KL(q || p(z)) = ELBO(q) = E_q[log p(x, z) - log q(z)], the ELBO of line 3.
    """
    import sympy as sp

    from . import symbolic

    model = symbolic.linear_gaussian()
    zs, mu_q, sigma_q = symbolic.z, symbolic.mu_q, symbolic.sigma_q
    log_q = symbolic.log_normal(zs, mu_q, sigma_q)
    E_q = lambda f: symbolic.expectation(f, zs, mu_q, sigma_q)  # noqa: E731
    likelihood, prior = model["log_likelihood"], model["log_prior"]
    right = {"E_q[log p(x|z)]": lambda: E_q(likelihood), "KL(q || p(z))": lambda: E_q(log_q - prior)}
    wrong_forms = {  # name -> {why: the wrong expression, built only when an answer is wrong}
        "E_q[log p(x|z)]": {
            "this is E_q[log p(x, z)]: the reconstruction term has log p(x|z) only (log p(z) is in the KL)":
                lambda: E_q(likelihood + prior),
            "the sign is flipped: the reconstruction term is E_q[log p(x|z)], not minus it": lambda: -E_q(likelihood),
        },
        "KL(q || p(z))": {
            "the sign is flipped: KL(q || p(z)) = E_q[log q(z) - log p(z)], never negative": lambda: E_q(prior - log_q),
            "this is KL(p(z) || q), the reversed KL: the ELBO's KL averages over q":
                lambda: symbolic.kl_gaussians(0, 1, mu_q, sigma_q),
            "the - log p(z) term is missing: KL(q || p(z)) = E_q[log q(z) - log p(z)]": lambda: E_q(log_q),
            "this is KL(q || p(z|x)), the gap; line 4 has the KL to the prior p(z)":
                lambda: E_q(log_q - symbolic.log_normal(zs, model["posterior_mean"], model["posterior_std"])),
        },
    }

    def judge(name, got, *args):
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return [(name, False, f"expected two sympy expressions, (reconstruction, kl); got {type(got).__name__}")]
        lines = []
        try:
            got = [sp.sympify(g) for g in got]
        except (sp.SympifyError, TypeError) as e:
            return [(name, False, f"expected two sympy expressions, (reconstruction, kl) ({e})")]
        for (term, want), value in zip(right.items(), got):
            if symbolic.is_zero(value - want()):
                lines.append((f"{term}, for every Gaussian q", True))
                continue
            named = next((why for why, form in wrong_forms[term].items() if symbolic.is_zero(value - form())), None)
            lines.append((f"{term}, for every Gaussian q", False,
                          "it differs from the right one by " + str(sp.simplify(value - want()))
                          + (f" ({named})" if named else "")))
        elbo = E_q(model["log_joint"] - log_q)  # line 3's ELBO
        lines.append(("line 4: reconstruction - KL(q || p(z)) = E_q[log p(x, z) - log q(z)]",
                      symbolic.is_zero(got[0] - got[1] - elbo), "the difference does not simplify to 0"))
        return lines

    case = {"the toy model, q = N(mu_q, sigma_q^2) with mu_q and sigma_q symbols": (E_q, likelihood, prior, log_q)}
    return _run("reconstruction_and_kl", fn, case, judge)


def log_evidence_is(fn):
    """Notebook 02, homework: fn(log_w) -> log((1/k) sum_i w_i) over the last dimension (k weights),
    one estimate per row, computed without exp underflow (logsumexp - log k)."""
    f64 = lambda *values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    cases = {
        "k = 4 equal weights": (f64(-1.5, -1.5, -1.5, -1.5),),
        "weights 1 and 3": (f64(0.0, math.log(3.0)),),
        "log weights near -1000, as for an image of many pixels": (f64(-1000.0, -1001.0, -1002.0),),
        "a batch (2, 3): one estimate per row": (f64(0.0, 1.0, 2.0).expand(2, 3) - f64(0.0, 5.0)[:, None],),
    }
    wrong_forms = {
        "the mean of the log weights estimates the ELBO; log p(x) is the log of the mean weight":
            lambda log_w: log_w.mean(-1),
        "this is the log of the sum of the weights: divide by k, that is subtract log k":
            lambda log_w: torch.logsumexp(log_w, -1),
        "k is the last dimension: subtract log(log_w.shape[-1]); len(log_w) counts the rows of a batch":
            lambda log_w: torch.logsumexp(log_w, -1) - math.log(len(log_w)),
    }
    right = lambda log_w: torch.logsumexp(log_w, dim=-1) - math.log(log_w.shape[-1])  # noqa: E731
    compare = _compare(right, wrong_forms, "one number per row: reduce the last dimension")

    judge = _hint_when_not_finite(right, compare, "exp(-1000) underflows to 0 in floating point, and log 0 = -inf: "
                                                  "use torch.logsumexp(log_w, dim=-1) - log k")

    return _run("log_evidence_is", fn, cases, judge)


def mean_estimate(fn):
    """Notebook 02, homework: fn(log_w, k) -> (mean, standard error) of the len(log_w) // k estimates
    log((1/k) sum_i w_i), one from each row of k consecutive log weights. The standard error is the
    estimates' standard deviation over sqrt(their number); the standard deviation may divide by n - 1
    (torch's default) or by n."""
    f64 = lambda *values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    cases = {
        "k = 1: each log weight is an estimate": (f64(-1.0, 0.0, 1.0, 2.0, 3.0), 1),
        "k = 2, rows of equal weights: 4 estimates 0, 2, 0, 2": (f64(0.0, 0.0, 2.0, 2.0, 0.0, 0.0, 2.0, 2.0), 2),
        "k = 3, unequal log weights near -1000": (f64(-1000.0, -1001.0, -1003.0, -999.0, -1002.0, -1000.5), 3),
    }

    def judge(name, got, log_w, k):
        estimates = torch.logsumexp(log_w.view(-1, k), dim=-1) - math.log(k)
        n = len(estimates)
        try:
            mean, std_error = (float(v) for v in got)
        except (TypeError, ValueError):
            return [(name, False, f"expected a pair (mean, standard error), got {got!r}")]
        close = lambda a, b: math.isclose(a, float(b), rel_tol=1e-6, abs_tol=1e-6)  # noqa: E731
        spreads = [estimates.std(correction=c).item() for c in (1, 0)]  # either normalisation passes
        mean_hint = ""
        if close(mean, log_w.mean()) and not close(mean, estimates.mean()):
            mean_hint = ": this is the mean of the log weights, an estimate of the ELBO; average the rows' estimates"
        se_hint = ""
        if any(close(std_error, s) for s in spreads) and n > 1:
            se_hint = f": this is the estimates' standard deviation; the standard error of their mean divides it by √{n}"
        elif any(close(std_error, s / math.sqrt(len(log_w))) for s in spreads):
            se_hint = f": divide by √(number of estimates) = √{n}, not by √(number of log weights) = √{len(log_w)}"
        return [
            (f"{name}: the mean", close(mean, estimates.mean()),
             f"expected {estimates.mean().item():.4f}, got {mean:.4f}{mean_hint}"),
            (f"{name}: the standard error", any(close(std_error, s / math.sqrt(n)) for s in spreads),
             f"expected {spreads[0] / math.sqrt(n):.4f}, got {std_error:.4f}{se_hint}"),
        ]

    return _run("mean_estimate", fn, cases, judge)


# ------------------------------------------------------------------------ notebook 03


def reparameterize(fn, n=20_000):
    """fn(mu, logvar) -> z ~ N(mu, exp(logvar)) drawn so that gradients reach mu and logvar."""
    mu = torch.tensor([1.5, -2.0, 0.0])
    std = torch.tensor([2.0, 0.5, 1.0])
    logvar = 2 * std.log()

    def judge(name, z, mu_n, logvar_n):
        if not isinstance(z, torch.Tensor) or z.shape != mu_n.shape:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            return [("shape", False, f"expected a tensor of shape {tuple(mu_n.shape)} like mu, got {shape}")]
        # 5 standard errors: a right answer fails about once in a million runs
        mean, spread = z.detach().mean(0), z.detach().std(0)
        hint = ""
        if torch.allclose(spread, std**2, rtol=0.05):
            hint = ": your spread is sigma^2 = exp(logvar); the standard deviation is sigma = exp(logvar / 2)"
        elif torch.allclose(spread, logvar.abs(), rtol=0.05):
            hint = ": you multiplied eps by logvar itself; sigma = exp(logvar / 2)"
        lines = [
            ("shape", True, ""),
            ("mean of the samples is mu", bool(torch.all((mean - mu).abs() < 5 * std / math.sqrt(n))),
             f"expected {_fmt(mu)}, got {_fmt(mean)}"),
            ("standard deviation of the samples is exp(logvar / 2)",
             bool(torch.all((spread / std - 1).abs() < 5 / math.sqrt(2 * n))),
             f"expected {_fmt(std)}, got {_fmt(spread)}{hint}"),
        ]
        if bool(torch.all(spread > 0)):  # each coordinate its own eps: correlations ~ N(0, 1/n)
            correlation = torch.corrcoef(z.detach().T)[~torch.eye(z.shape[1], dtype=torch.bool)].abs().max()
            lines.append(("the coordinates of z are independent", bool(correlation < 5 / math.sqrt(n)),
                          f"correlation up to {correlation:.2f} between coordinates: each coordinate needs its "
                          "own eps; draw eps with mu's shape, torch.randn_like(mu)"))
        if not z.requires_grad:
            return lines + [("gradients flow to mu and logvar", False,
                             "z carries no gradient: Normal(...).sample() or .detach() cuts the graph; use "
                             "mu + sigma * eps with eps = torch.randn_like(mu), or Normal(...).rsample()")]
        grad_mu, grad_logvar = torch.autograd.grad(z.sum(), [mu_n, logvar_n], allow_unused=True)
        # z = mu + exp(logvar/2) eps  =>  dz/dmu = 1 and dz/dlogvar = (z - mu) / 2
        return lines + [
            ("dz/dmu = 1", grad_mu is not None and torch.allclose(grad_mu, torch.ones_like(grad_mu)),
             "expected dz/dmu = 1 for every sample, got " + ("no gradient" if grad_mu is None else
                                                             f"values from {grad_mu.min():.3f} to {grad_mu.max():.3f}")),
            ("dz/dlogvar = (z - mu) / 2",
             grad_logvar is not None and torch.allclose(grad_logvar, (z.detach() - mu) / 2, atol=1e-4),
             "no gradient reaches logvar" if grad_logvar is None else
             "the gradient with respect to logvar is not (z - mu)/2; is sigma = exp(logvar / 2)?"),
        ]

    samples = (mu.expand(n, 3).clone().requires_grad_(), logvar.expand(n, 3).clone().requires_grad_())
    return _run("reparameterize", fn, {"samples": samples}, judge, seed=0)


def _twice(z):
    return 2 * z


def _square(z):
    return z**2


_ANTIDERIVATIVE = {torch.cos: torch.sin, _twice: _square}  # f' -> f, for autograd's answer


def pathwise_by_hand(fn):
    """fn(f_prime, mu, rho, eps) -> the pathwise estimates (d/dmu, d/drho) of E[f(z)], written with the
    chain rule, for z = mu + sigma * eps and sigma = softplus(rho) = log(1 + e^rho):

        d/dmu = mean of f'(z),    d/drho = mean of f'(z) * eps * dsigma/drho,   dsigma/drho = sigmoid(rho)

    Compared with autograd through z on the same eps, so the answer must match to rounding.
    """
    eps = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    number = lambda v: torch.tensor(v, dtype=torch.float64)
    cases = {
        "f = sin, mu = 0.5, rho = 0": (torch.cos, number(0.5), number(0.0), eps),
        "f = z^2, mu = -1, rho = -1": (_twice, number(-1.0), number(-1.0), eps),
    }

    def by_autograd(f_prime, mu, rho, eps):
        mu, rho = mu.clone().requires_grad_(), rho.clone().requires_grad_()
        _ANTIDERIVATIVE[f_prime](mu + torch.nn.functional.softplus(rho) * eps).mean().backward()
        return torch.stack([mu.grad, rho.grad])

    softplus, sigmoid = torch.nn.functional.softplus, torch.sigmoid
    estimate = lambda slope, dz_drho: torch.stack([slope.mean(), (slope * dz_drho).mean()])
    wrong_forms = {
        "that is d/dsigma; the chain rule also needs dsigma/drho = sigmoid(rho)":
            lambda fp, mu, rho, eps: estimate(fp(mu + softplus(rho) * eps), eps),
        "dsigma/drho is sigmoid(rho), not sigma (sigma is its own slope only for sigma = exp(rho))":
            lambda fp, mu, rho, eps: estimate(fp(mu + softplus(rho) * eps), eps * softplus(rho)),
        "f' belongs at z = mu + sigma * eps, not at eps": lambda fp, mu, rho, eps: estimate(fp(eps), eps * sigmoid(rho)),
        "sigma is softplus(rho), not rho itself": lambda fp, mu, rho, eps: estimate(fp(mu + rho * eps), eps),
        "sigma is softplus(rho), not exp(rho)":
            lambda fp, mu, rho, eps: estimate(fp(mu + torch.exp(rho) * eps), eps * torch.exp(rho)),
    }
    compare = _compare(by_autograd, wrong_forms, "return the two averages over eps, (d/dmu, d/drho)", atol=1e-6)

    def judge(name, got, *args):
        if isinstance(got, (tuple, list)):  # a pair of numbers, or of per-sample tensors
            try:
                got = torch.stack([_numbers(g) for g in got])
            except RuntimeError:
                return [(name, False, "expected two numbers, (d/dmu, d/drho); got parts of different shapes")]
        return compare(name, got, *args)

    return _run("pathwise_by_hand", fn, cases, judge)


def _step(z):
    """1 where z > 0, else 0: its derivative is 0 almost everywhere (written with sign, which autograd
    differentiates to 0, so that a pathwise answer gets the hint rather than an autograd error)."""
    return (torch.sign(z) + 1) / 2


# E[f(z)], and its derivatives in mu and in sigma, z ~ N(mu, sigma^2), in closed form
_EXPECTED_VALUE = {
    torch.sin: lambda mu, sigma: math.sin(mu) * math.exp(-sigma**2 / 2),
    _step: lambda mu, sigma: 0.5 * (1 + math.erf(mu / (sigma * math.sqrt(2)))),  # P(z > 0) = Phi(mu / sigma)
}
_MU_GRADIENT = {
    torch.sin: lambda mu, sigma: math.cos(mu) * math.exp(-sigma**2 / 2),
    _step: lambda mu, sigma: math.exp(-0.5 * (mu / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)),  # N(0; mu, sigma^2)
}
_SIGMA_GRADIENT = {
    torch.sin: lambda mu, sigma: -sigma * math.sin(mu) * math.exp(-sigma**2 / 2),
    _step: lambda mu, sigma: -mu / sigma * _MU_GRADIENT[_step](mu, sigma),  # d/dsigma Phi(mu / sigma)
}

# what f(z)((z - mu)^2 - sigma^2)/sigma^3 averages to when z = mu + t eps, t = sigma^2 (sampled with the
# variance): sigma E[f eps^2] - E[f]/sigma, by Stein's lemma E[g(eps) eps^2] = E[g] + E[g'']
_SQUARED_SIGMA_SAMPLING = {
    torch.sin: lambda mu, sigma: (sigma * (1 - sigma**4) - 1 / sigma) * _EXPECTED_VALUE[torch.sin](mu, sigma**2),
    _step: lambda mu, sigma: (sigma * (_EXPECTED_VALUE[_step](mu, sigma**2) - mu * _MU_GRADIENT[_step](mu, sigma**2))
                              - _EXPECTED_VALUE[_step](mu, sigma**2) / sigma),  # E[step eps^2] = Phi(a) - a phi(a)
}


def score_function_gradient(fn, n=1_000_000):
    """fn(f, mu, sigma, n) -> the score-function (REINFORCE) estimate of d/dsigma E[f(z)], z ~ N(mu, sigma^2),
    from n samples:

        mean of f(z) * d log q(z)/d sigma,   d log q/d sigma = -1/sigma + (z - mu)^2/sigma^3 = ((z - mu)^2 - sigma^2)/sigma^3

    Checked on f(z) = sin(z) and on a step f(z) = 1 if z > 0 else 0, which has no useful
    derivative: the pathwise estimator gives 0 there, the score function still works. A last case
    calls fn many times with a small n: the estimates must spread as an average of n samples does.
    """
    cases = {
        "f = sin, mu = 0.5, sigma = 0.7": (torch.sin, 0.5, 0.7, n),
        "f = sin, mu = -1, sigma = 1.5": (torch.sin, -1.0, 1.5, n),
        "f = step (z > 0), mu = 1, sigma = 0.8": (_step, 1.0, 0.8, n),
        "n is used: estimates from n = 4 spread 4 times as much as from n = 64": (torch.sin, 0.5, 0.7, 4),
    }
    exact = lambda f, mu, sigma, n: _SIGMA_GRADIENT[f](mu, sigma)
    # |f| <= 1 and E[(eps^2 - 1)^2] = 2, so one sample's f(z)(eps^2 - 1)/sigma has a standard deviation below
    # sqrt(2)/sigma; a wrong form's own noise scales with its own factor
    monte_carlo_error = lambda f, mu, sigma, n: 6 * math.sqrt(2) / (sigma * math.sqrt(n))
    wrong_forms = {
        # on the step only (nan elsewhere matches nothing): a 0 for sin is the next mistake
        "0 is what the pathwise estimator gives for a step function: use f(z) * d log q(z) / d sigma":
            lambda f, mu, sigma, n: 0.0 if f is _step else math.nan,
        "f and the score must use the same z: with two draws they are independent, and the score averages to 0":
            lambda f, mu, sigma, n: 0.0,
        "z = mu + sigma^2 eps samples with the variance: z = mu + sigma eps, sigma = the standard deviation":
            (lambda f, mu, sigma, n: _SQUARED_SIGMA_SAMPLING[f](mu, sigma),
             lambda f, mu, sigma, n: 6 * math.sqrt(3 * sigma**2 - 2 + 1 / sigma**2) / math.sqrt(n)),
        "that is the estimate for mu, f(z)(z - mu)/sigma^2: differentiate log q(z) in sigma instead":
            lambda f, mu, sigma, n: _MU_GRADIENT[f](mu, sigma),
        "the -1/sigma is missing: it comes from the -log sigma in log q, and makes the score average to 0":
            (lambda f, mu, sigma, n: exact(f, mu, sigma, n) + _EXPECTED_VALUE[f](mu, sigma) / sigma,
             lambda f, mu, sigma, n: 6 * math.sqrt(3) / (sigma * math.sqrt(n))),  # f eps^2 / sigma
        "off by a factor sigma: d log q / d sigma = ((z - mu)^2 - sigma^2) / sigma^3":
            (lambda f, mu, sigma, n: exact(f, mu, sigma, n) * sigma, lambda f, mu, sigma, n: 6 * math.sqrt(2 / n)),
        "that is d/d(sigma^2) (its score is ((z - mu)^2 - sigma^2) / (2 sigma^4)); d/dsigma is 2 sigma times it":
            lambda f, mu, sigma, n: exact(f, mu, sigma, n) / (2 * sigma),
        "the sign is flipped: d log q / d sigma = ((z - mu)^2 - sigma^2) / sigma^3":
            lambda f, mu, sigma, n: -exact(f, mu, sigma, n),
    }
    compare = _compare(exact, wrong_forms, "average over the samples", monte_carlo_error=monte_carlo_error)

    def judge(name, got, f, mu, sigma, n):
        if n > 64:
            return compare(name, got, f, mu, sigma, n)
        # an average of n samples: 16 times the n, a quarter of the spread (a right answer's ratio: 4.0 ± 0.26 over 200 seeds)
        try:
            spread = {m: torch.stack([_numbers(fn(f, mu, sigma, m)).reshape(-1)[0] for _ in range(400)]).std().item()
                      for m in (n, 16 * n)}
        except Exception as e:
            return [(name, False, f"your function raised {type(e).__name__}: {e}")]
        frozen = spread[n] < 1e-12  # equal estimates (a seed set inside fn) still spread ~1e-16 by rounding
        ratio = spread[n] / spread[16 * n] if spread[16 * n] > 1e-12 else math.nan
        detail = (f"400 estimates each: spread {spread[n]:.4f} at n = {n}, {spread[16 * n]:.4f} at n = {16 * n}, "
                  f"a ratio of {ratio:.1f}; " + ("they do not change between calls: draw new samples in each call"
                                                 if frozen else "use all n samples, and only n"))
        return [(name, 2.5 < ratio < 6.4, detail)]

    return _run("score_function_gradient", fn, cases, judge, seed=0)


# ------------------------------------------------------------------------ notebook 04


def kl_monte_carlo(fn, n=100_000):
    """fn(mu, sigma, n) -> (estimate, standard error): KL(q || p), q = N(mu, sigma^2), p = N(0, 1), as the
    mean of log q(z) - log p(z) over n draws z ~ q, and that mean's standard error. sigma is the standard
    deviation: in torch q is Normal(mu, sigma), whose second argument (scale) is sigma, not the variance
    sigma^2. Each passed line shows the exact KL next to the student's estimate; the estimate must lie
    within 6 standard errors of it (the standard error from the formula sd = sqrt(mu^2 sigma^2 +
    (sigma^2 - 1)^2 / 2) for one draw), and the standard error within 10 % of sd / sqrt(n). An estimate
    that matches the variance sigma^2 passed where torch takes sigma (to draw z, in log q, or both) is
    named as that mistake."""
    cases = {f"mu = {m}, sigma = {s} (sigma^2 = {s * s:g})": (m, s, n) for m, s in
             [(0.0, 1.0), (1.0, 1.0), (0.0, 2.0), (0.0, 0.5), (-1.5, 0.3), (2.0, 3.0)]}
    cases[f"mu = 1.0, sigma = 0.5 (sigma^2 = 0.25), n = {4 * n:,} (use the n passed in)"] = (1.0, 0.5, 4 * n)
    scale = "torch's Normal(loc, scale) takes the standard deviation sigma as its scale"

    def judge(name, got, mu, sigma, n):
        try:
            estimate, std_error = (float(v) for v in got)
        except (TypeError, ValueError):
            return [(name, False, f"expected a pair (estimate, standard error), got {got!r}")]
        var = sigma**2
        kl = kl_standard_normal(torch.tensor([[mu]]), torch.tensor([[math.log(var)]])).item()
        se = math.sqrt(mu**2 * var + (var - 1) ** 2 / 2) / math.sqrt(n)  # z = mu + sigma eps, one draw's sd over sqrt(n)
        # z drawn from the prior: E_p[log q - log p] = -KL(p || q); its terms are b eps + a eps^2 + const
        a, b = (1 - 1 / var) / 2, mu / var
        from_prior = -(math.log(sigma) + (1 + mu**2) / (2 * var) - 0.5)
        # the variance sigma^2 passed as torch's scale: z ~ N(mu, sigma^4) and/or log q = log N(z; mu, sigma^4)
        var4, root_n = var**2, math.sqrt(n)
        both = (mu**2 + var4 - math.log(var4) - 1) / 2  # the sampled KL(N(mu, sigma^4) || N(0, 1))
        in_log_q = -math.log(var) - 1 / (2 * var) + (var + mu**2) / 2  # z ~ q, log N(z; mu, sigma^4)
        in_draw = -math.log(sigma) - var / 2 + (mu**2 + var4) / 2  # z ~ N(mu, sigma^4), log q right
        wrong = [(-kl, se, "the sign is flipped: average log q(z) - log p(z), not log p(z) - log q(z)"),
                 (from_prior, math.sqrt(b**2 + 2 * a**2) / math.sqrt(n),
                  "z was drawn from the prior N(0, 1); draw it from q = N(mu, sigma^2): mu + sigma * eps, "
                  "or Normal(mu, sigma).sample((n,))"),
                 (both, math.sqrt(mu**2 * var4 + (var4 - 1) ** 2 / 2) / root_n,
                  "you passed the variance sigma**2 as torch's scale, to draw z and in log q: Normal(mu, sigma**2) "
                  f"is N(mu, sigma^4). {scale}: q = N(mu, sigma^2) is Normal(mu, sigma)"),
                 (in_log_q, math.sqrt(mu**2 * var + (var - 1 / var) ** 2 / 2) / root_n,
                  "z is drawn from q, but log q(z) passes the variance sigma**2 as torch's scale. "
                  f"{scale}: log q(z) is Normal(mu, sigma).log_prob(z)"),
                 (in_draw, math.sqrt(mu**2 * var4 + (var4 - var) ** 2 / 2) / root_n,
                  "log q(z) is right, but z was drawn with the variance sigma**2 as its scale (mu + sigma**2 * eps, "
                  f"or Normal(mu, sigma**2)). {scale}: z ~ q is mu + sigma * eps, or Normal(mu, sigma).sample((n,))"),
                 (None, se * math.sqrt(n), "this is the terms' standard deviation; the standard error divides it by √n"),
                 (None, se / math.sqrt(n), "this divides the standard deviation by n; the standard error divides it by √n")]
        ok_estimate = abs(estimate - kl) <= 6 * se + 1e-6
        ok_se = abs(std_error - se) <= 0.1 * se + 1e-9
        mistakes = [why for value, error, why in wrong  # an estimate's mistake, or (value None) a standard error's
                    if (value is not None and not ok_estimate and abs(estimate - value) <= 6 * error + 1e-6)
                    or (value is None and not ok_se and abs(std_error - error) <= 0.1 * error + 1e-9)]
        problems = ([] if ok_estimate else [f"the estimate is over 6 standard errors ({6 * se:.4f}) from the KL"]) \
            + ([] if ok_se else [f"the standard error should be {se:.4f}"])
        shown = f"{name}: exact KL {kl:.4f}, yours {estimate:.4f} ± {std_error:.4f}"
        return [(shown, not problems, "; ".join(problems), mistakes)]

    return _run("kl_monte_carlo", fn, cases, judge, seed=0)


def kl_closed_form(fn):
    """fn(mu, logvar) -> KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over the last dimension."""
    cases = {
        "q equals the prior (mu = 0, sigma = 1)": ([[0.0]], [[0.0]]),
        "mu = 1.5, sigma = 1": ([[1.5]], [[0.0]]),  # 1.5^2 differs from 2 |1.5|
        "mu = 0, sigma = 2": ([[0.0]], [[math.log(4.0)]]),
        "mu = 0, sigma = 0.5": ([[0.0]], [[math.log(0.25)]]),
        "3 dimensions, summed": ([[0.5, -1.0, 2.0]], [[0.3, -0.7, 1.2]]),
        "a batch of 2 examples": ([[0.5, -1.0], [0.0, 2.0]], [[0.3, -0.7], [0.0, -1.0]]),
    }
    cases = {name: (torch.tensor(m, dtype=torch.float64), torch.tensor(lv, dtype=torch.float64))
             for name, (m, lv) in cases.items()}
    kl = lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1)  # noqa: E731
    wrong_forms = {
        "the sign is flipped; the right form is +1/2 (mu^2 + sigma^2 - log sigma^2 - 1), never negative":
            lambda m, lv: -kl(m, lv),
        "you used sigma where sigma^2 belongs: sigma^2 = exp(logvar), log sigma^2 = logvar":
            lambda m, lv: kl(m, lv / 2),
        "the variance term is sigma = exp(logvar / 2); it is sigma^2 = exp(logvar), as the -logvar term assumes":
            lambda m, lv: 0.5 * (m.pow(2) + (lv / 2).exp() - lv - 1).sum(-1),
        "you read logvar as log sigma; it is log sigma^2: sigma^2 = exp(logvar), not exp(2 logvar)":
            lambda m, lv: kl(m, 2 * lv),
        "you averaged over the latent dimensions; the KL of a diagonal Gaussian is their sum":
            lambda m, lv: kl(m, lv) / m.shape[-1],
        "the factor 1/2 is missing": lambda m, lv: 2 * kl(m, lv),
        "the -1 is missing (it makes the KL of q = p zero)": lambda m, lv: kl(m, lv) + 0.5 * m.shape[-1],
        "the log term is -logvar, not -logvar / 2: it is log sigma^2, not log sigma":
            lambda m, lv: kl(m, lv) + 0.25 * lv.sum(-1),
        "mu^2 is missing: E_q[z^2] = mu^2 + sigma^2": lambda m, lv: kl(m, lv) - 0.5 * m.pow(2).sum(-1),
        "the log term has the wrong sign: it is -logvar (minus log sigma^2), you added it":
            lambda m, lv: kl(m, lv) + lv.sum(-1),
    }
    return _run("kl_closed_form", fn, cases, _compare(
        kl, wrong_forms, "one KL per example: sum over the last dimension only", atol=1e-5))


def kl_two_gaussians(fn, by_hand=None):
    """fn(mu_q, logvar_q, mu_p, logvar_p) -> KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) per example,
    diagonal covariances, summed over the last dimension:

        1/2 sum (log sigma_p^2 - log sigma_q^2 - 1 + (sigma_q^2 + (mu_q - mu_p)^2) / sigma_p^2)

    by_hand: the derivation half of the exercise, the KL in one dimension as a sympy expression in
    symbols named mu_q, sigma_q, mu_p, sigma_p; checked on the same cases (naming the same mistakes)
    and symbolically. True only when both halves pass; None while either is not attempted yet.
    """
    t = lambda rows: torch.tensor(rows, dtype=torch.float64)
    cases = {
        "q equals p": (t([[0.5]]), t([[0.3]]), t([[0.5]]), t([[0.3]])),
        "p = N(0, 1): the formula of this notebook": (t([[1.0]]), t([[math.log(0.25)]]), t([[0.0]]), t([[0.0]])),
        "q = N(1, 0.5^2), p = N(-1, 2^2)": (t([[1.0]]), t([[math.log(0.25)]]), t([[-1.0]]), t([[math.log(4.0)]])),
        "3 dimensions, summed": (t([[0.5, -1.0, 2.0]]), t([[0.3, -0.7, 1.2]]), t([[0.0, 1.0, -1.0]]), t([[1.0, 0.2, -0.5]])),
        "a batch of 2 examples": (t([[0.5, -1.0], [0.0, 2.0]]), t([[0.3, -0.7], [0.0, -1.0]]),
                                  t([[1.0, 0.0], [0.5, 0.5]]), t([[0.0, 0.5], [1.0, -1.0]])),
    }
    kl = lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + (lq.exp() + (mq - mp) ** 2) / lp.exp()).sum(dim=-1)
    wrong_forms = {
        "this is KL(p || q): the KL is not symmetric, the expectation is over q": lambda mq, lq, mp, lp: kl(mp, lp, mq, lq),
        "you used sigma where sigma^2 belongs: sigma^2 = exp(logvar), log sigma^2 = logvar":
            lambda mq, lq, mp, lp: kl(mq, lq / 2, mp, lp / 2),
        "the factor 1/2 is missing": lambda mq, lq, mp, lp: 2 * kl(mq, lq, mp, lp),
        "the -1/2 is missing (the -1 inside 1/2(...)): it is -E_q[(z - mu_q)^2] / (2 sigma_q^2) = -1/2":
            lambda mq, lq, mp, lp: kl(mq, lq, mp, lp) + 0.5 * mq.shape[-1],
        "mu_p is missing: the mean term is (mu_q - mu_p)^2, from E_q[(z - mu_p)^2] = sigma_q^2 + (mu_q - mu_p)^2":
            lambda mq, lq, mp, lp: kl(mq, lq, torch.zeros_like(mp), lp),
        "(mu_q - mu_p)^2 / (2 sigma_p^2) is missing: E_q[(z - mu_p)^2] = sigma_q^2 + (mu_q - mu_p)^2":
            lambda mq, lq, mp, lp: kl(mq, lq, mq, lp),
        "you averaged over the dimensions; the KL of a diagonal Gaussian is their sum":
            lambda mq, lq, mp, lp: kl(mq, lq, mp, lp) / mq.shape[-1],
        "(mu_q - mu_p)^2 is divided by sigma_q^2; under E_q it is divided by sigma_p^2, as in (z - mu_p)^2 / (2 sigma_p^2)":
            lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + lq.exp() / lp.exp() + (mq - mp) ** 2 / lq.exp()).sum(dim=-1),
        "the log term lost its 1/2: log(sigma_p / sigma_q) = 1/2 (log sigma_p^2 - log sigma_q^2)":
            lambda mq, lq, mp, lp: kl(mq, lq, mp, lp) + 0.5 * (lp - lq).sum(dim=-1),
        "the log term's sign is flipped: it is log(sigma_p / sigma_q), p's sigma over q's":
            lambda mq, lq, mp, lp: kl(mq, lq, mp, lp) - (lp - lq).sum(dim=-1),
        "the variance ratio is upside down: it is sigma_q^2 / sigma_p^2, q's variance over p's":
            lambda mq, lq, mp, lp: 0.5 * (lp - lq - 1 + lp.exp() / lq.exp() + (mq - mp) ** 2 / lp.exp()).sum(dim=-1),
    }
    judge = _compare(kl, wrong_forms, "one KL per example: sum over the last dimension only", atol=1e-5)
    hand = None if _not_set("kl_two_gaussians, by hand", by_hand, "by_hand") else _kl_by_hand(by_hand, cases, judge)
    code = _run("kl_two_gaussians", fn, cases, judge)
    return None if hand is None or code is None else hand and code


def _kl_by_hand(expression, cases, judge):
    """The report on a one-dimensional KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) derived by hand, a sympy
    expression in mu_q, sigma_q, mu_p, sigma_p: on each case at sigma = exp(logvar / 2), summed over the
    dimensions as the code's answer is; then symbolically, against the formula written out here."""
    import sympy as sp

    from .symbolic import is_zero

    report = _Report("kl_two_gaussians, by hand")
    symbols = {"mu_q": sp.Symbol("mu_q", real=True), "sigma_q": sp.Symbol("sigma_q", positive=True),
               "mu_p": sp.Symbol("mu_p", real=True), "sigma_p": sp.Symbol("sigma_p", positive=True)}
    try:
        expression = sp.sympify(expression)
    except (sp.SympifyError, TypeError) as e:
        report.case("a sympy expression", False, f"expected a sympy expression, got {type(expression).__name__} ({e})")
        return report.finish()
    others = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
    if others:
        report.case("its symbols", False, f"it has {', '.join(others)}; write it in mu_q, sigma_q, mu_p, sigma_p only "
                                          "(sigma_q^2 is sigma_q**2)")
        return report.finish()
    expression = expression.xreplace({s: symbols[str(s)] for s in expression.free_symbols})  # theirs, by name
    value = sp.lambdify(list(symbols.values()), expression, "math")

    def summed(mq, lq, mp, lp):  # the formula per dimension, summed over the dimensions as the code's answer is
        columns = (mq, (lq / 2).exp(), mp, (lp / 2).exp())
        return torch.tensor([value(*row) for row in zip(*(c.reshape(-1).tolist() for c in columns))],
                            dtype=torch.float64).reshape(mq.shape).sum(dim=-1)

    for name, args in cases.items():
        try:
            got = summed(*args)
        except Exception as e:  # e.g. math's log of a negative number
            report.case(name, False, f"evaluating it raised {type(e).__name__}: {e}")
            continue
        for line in judge(name, got, *args):
            report.case(*line)
    mq, sq, mp, sp_ = symbols.values()
    right = sp.log(sp_ / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp_**2) - sp.Rational(1, 2)
    report.case("the KL for every mu_q, sigma_q, mu_p, sigma_p (sympy simplifies the difference to 0)",
                is_zero(expression - right), "the difference does not simplify to 0")
    return report.finish()


# ------------------------------------------------------------------------ notebook 05


def vae_loss(fn):
    """fn(logits, x, mu, logvar) -> per-image negative ELBO (one sample of z).

    logits: (N, 1, H, W) decoder outputs for the sampled z; x: (N, 1, H, W) binary images;
    mu, logvar: (N, d). Expected: binary cross-entropy summed over pixels + KL summed over d.
    """
    import torch.nn.functional as F

    def bce(logits, x):
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))

    generator = torch.Generator().manual_seed(5)
    cases = {}
    for name, (n, h, d) in {"one 2x2 image, 1 latent dimension": (1, 2, 1),
                            "4 images of 4x4, 3 latent dimensions": (4, 4, 3),
                            "8 images of 28x28, 20 latent dimensions": (8, 28, 20)}.items():
        logits = torch.randn(n, 1, h, h, generator=generator, dtype=torch.float64) * 2
        x = torch.bernoulli(torch.full((n, 1, h, h), 0.3, dtype=torch.float64), generator=generator)
        mu = torch.randn(n, d, generator=generator, dtype=torch.float64)
        logvar = torch.randn(n, d, generator=generator, dtype=torch.float64) * 0.5
        cases[name] = (logits, x, mu, logvar)
    wrong_forms = {
        "the KL has the wrong sign: the loss is reconstruction error PLUS the KL":
            lambda lg, x, m, lv: bce(lg, x) - kl_standard_normal(m, lv),
        "the reconstruction is averaged over pixels but the KL summed: sum both over one image":
            lambda lg, x, m, lv: bce(lg, x) / x[0].numel() + kl_standard_normal(m, lv),
        "the KL is averaged over latent dimensions but the reconstruction summed: sum both":
            lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, lv) / m.shape[-1],
        "the KL term is missing": lambda lg, x, m, lv: bce(lg, x),
        "the reconstruction term is missing": lambda lg, x, m, lv: kl_standard_normal(m, lv),
        "the KL lacks its -1 per latent dimension: ½ Σ (μ² + σ² − log σ² − 1) is 0 when q(z|x) is the prior":
            lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, lv) + m.shape[-1] / 2,
        "logvar is log σ², not log σ: σ² = exp(logvar), so the KL has logvar.exp() and −logvar, not exp(2·logvar)":
            lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, 2 * lv),
        "the KL has σ = exp(½ logvar) where it needs σ² = logvar.exp(): ½ Σ (μ² + σ² − log σ² − 1)":
            lambda lg, x, m, lv: bce(lg, x) + 0.5 * (m.pow(2) + (0.5 * lv).exp() - lv - 1).sum(dim=-1),
        "sigmoid applied twice: binary_cross_entropy_with_logits takes the logits themselves, not sigmoid(logits)":
            lambda lg, x, m, lv: bce(torch.sigmoid(lg), x) + kl_standard_normal(m, lv),
        "the KL is summed over the batch too: sum it over the latent dimensions only, .sum(dim=1)":
            lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, lv).sum(),
    }
    return _run("vae_loss", fn, cases, _compare(
        lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, lv), wrong_forms,
        "return one loss per image: sum over pixels and latent dimensions, not over the batch (a shape (N, N) is a "
        "reconstruction summed over dim=(2, 3) only, shape (N, 1), broadcast against the KL's (N,): sum over "
        "dim=(1, 2, 3), the channel too)"))


def _vae_layers(net):
    """The layers of an nn.Sequential as the exercise names them: "Linear(36, 16)", "ReLU", ..."""
    return [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, torch.nn.Linear) else type(m).__name__
            for m in net]


def _vae_layer_problems(model, pixels, latent_dim, encoder_hidden, decoder_hidden):
    """How model.encoder and model.decoder differ from the exercise's Linear, ReLU, Linear each way, the known
    mistakes named first; [] if they do not."""
    want = {"encoder": [f"Linear({pixels}, {encoder_hidden})", "ReLU", f"Linear({encoder_hidden}, {2 * latent_dim})"],
            "decoder": [f"Linear({latent_dim}, {decoder_hidden})", "ReLU", f"Linear({decoder_hidden}, {pixels})"]}
    got, named, listed = {}, [], []
    for part in want:
        net = getattr(model, part, None)
        if not isinstance(net, torch.nn.Sequential):
            listed.append(f"self.{part} should be an nn.Sequential, got {type(net).__name__}")
            continue
        got[part] = _vae_layers(net)
        if got[part] != want[part]:
            listed.append(f"the {part} is {', '.join(got[part]) or 'empty'}; the exercise's is {', '.join(want[part])}")
    if not listed:
        return []
    first = {part: layers[0] for part, layers in got.items() if layers}
    if first == {"encoder": f"Linear({pixels}, {decoder_hidden})", "decoder": f"Linear({latent_dim}, {encoder_hidden})"}:
        named.append(f"encoder_hidden and decoder_hidden are swapped: the encoder's hidden layer should have "
                     f"encoder_hidden = {encoder_hidden} units, the decoder's decoder_hidden = {decoder_hidden}")
    for part, layers in got.items():
        last = max((i for i, layer in enumerate(layers) if layer.startswith("Linear")), default=len(layers) - 1)
        if layers[last + 1:]:
            why = "mu and logvar are any real numbers" if part == "encoder" else "decode returns logits, any real numbers"
            named.append(f"the {part} has {', '.join(layers[last + 1:])} after its last Linear layer, but {why}: "
                         f"end it with the Linear")
    return named + listed


def _vae_encoder_probe(model, x):
    """In a copy of model, sets the encoder's last Linear layer to output known mu and logvar, some negative, for
    every image: returns (that mu, that logvar, what encode(x) returns), or None if there is no such layer."""
    outputs = torch.tensor([-1.0, 0.5, -2.0, -1.5, 1.0, -0.5])  # mu, then logvar, for latent_dim = 3
    net = getattr(model, "encoder", None)
    linear = [m for m in net.modules() if isinstance(m, torch.nn.Linear)] if isinstance(net, torch.nn.Module) else []
    if not linear or linear[-1].out_features != len(outputs):
        return None
    probe = copy.deepcopy(model)
    layer = [m for m in probe.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(outputs)
        got = probe.encode(x)
    return (*outputs.chunk(2), got)


def _all_unwritten(model, x, latent_dim):
    """Whether encode, reparameterize, decode and loss of `model` all still raise NotImplementedError."""
    codes = torch.zeros(len(x), latent_dim)
    calls = [lambda: model.encode(x), lambda: model.reparameterize(codes, codes), lambda: model.decode(codes),
             lambda: model.loss(x)]
    state = torch.get_rng_state()
    try:
        for call in calls:
            try:
                with torch.no_grad():
                    call()
            except NotImplementedError:
                continue
            except Exception:
                return False
            return False
        return True
    finally:
        torch.set_rng_state(state)  # a written method may have drawn random numbers


def vae_module(cls, vae_loss=None):
    """cls(image_shape, latent_dim, encoder_hidden, decoder_hidden): a VAE the student wrote, with
    encode(x) -> (mu, logvar), reparameterize(mu, logvar) -> z, decode(z) -> logits shaped like x
    (not probabilities: a sigmoid there is applied twice by binary_cross_entropy_with_logits),
    and loss(x) -> one negative ELBO per image (one sample of z). Its layers must be the exercise's (an
    nn.Sequential of Linear, ReLU, Linear each way, the widths in their places, nothing after the last Linear):
    the notebook copies vae_lite.VAE's weights into them; and encode must return the last layer's outputs as
    they are, negative ones too.

    vae_loss: the student's own vae_loss(logits, x, mu, logvar). Given, loss(x) is checked to be
    vae_loss applied to this model's encode, reparameterize and decode, so that a mistake in
    vae_loss (its own exercise) is not marked here a second time; without it, loss(x) is checked
    against the negative ELBO itself."""
    import torch.nn.functional as F

    title = "MyVAE"
    try:
        torch.manual_seed(0)
        model = cls((1, 6, 6), latent_dim=3, encoder_hidden=16, decoder_hidden=24)
    except NotImplementedError:
        print(f"{title}: not attempted yet (it still raises NotImplementedError). Write it, then re-run the cell.")
        return None
    except Exception as e:
        print(f"{title}: building MyVAE((1, 6, 6), latent_dim=3, encoder_hidden=16, decoder_hidden=24) raised "
              f"{type(e).__name__}: {e}")
        return False
    report = _Report(title)
    x = torch.bernoulli(torch.full((5, 1, 6, 6), 0.4), generator=torch.Generator().manual_seed(1))
    if _all_unwritten(model, x, latent_dim=3):  # the notebook's stub: __init__ given, every method still a stub
        print(f"{title}: not attempted yet (its methods still raise NotImplementedError). Write them, then re-run "
              "the cell.")
        return None
    problems = _vae_layer_problems(model, pixels=36, latent_dim=3, encoder_hidden=16, decoder_hidden=24)
    report.case("encoder and decoder have the exercise's layers", not problems,
                "; ".join(problems) + " (vae_lite.VAE's weights are copied into these layers after exercise 3)")

    def attempt(name, fn):
        try:
            return fn()
        except NotImplementedError:
            report.case(name, False, "not written yet (it raises NotImplementedError)")
        except Exception as e:
            report.case(name, False, f"it raised {type(e).__name__}: {e}")
        return None

    encoded = attempt("encode(x) returns mu and logvar", lambda: model.encode(x))
    if encoded is not None:
        shapes = [tuple(t.shape) for t in encoded] if isinstance(encoded, (tuple, list)) else None
        report.case("encode(x) returns mu and logvar", shapes == [(5, 3), (5, 3)],
                    f"expected two tensors of shape (5, 3) for 5 images and 3 latent dimensions, got {shapes}: "
                    "the encoder's last layer has 2 * latent_dim outputs; split them with .chunk(2, dim=1)")
        name = "encode(x) returns the last Linear layer's outputs, negative ones too"
        probed = attempt(name, lambda: _vae_encoder_probe(model, x)) if shapes == [(5, 3), (5, 3)] else None
        if probed is not None:
            want_mu, want_logvar, (got_mu, got_logvar) = probed
            same = lambda a, b: bool(torch.allclose(a, b.expand(5, 3), atol=1e-5))
            why = (": mu and logvar are swapped; mu is the first half" if same(got_mu, want_logvar) and same(got_logvar, want_mu)
                   else ": a ReLU after that layer makes mu >= 0 and logvar >= 0 (so sigma >= 1), but both are any real "
                   "numbers" if same(got_mu, want_mu.clamp(min=0)) and same(got_logvar, want_logvar.clamp(min=0))
                   else ": encode should return its two halves unchanged")
            report.case(name, same(got_mu, want_mu) and same(got_logvar, want_logvar),
                        f"with that layer set to output mu = {_fmt(want_mu)} and logvar = {_fmt(want_logvar)}, encode "
                        f"returned mu = {_fmt(got_mu[0])} and logvar = {_fmt(got_logvar[0])} for the first image{why}")
    mu, logvar = torch.full((20000, 1), 2.0, requires_grad=True), torch.full((20000, 1), math.log(0.25), requires_grad=True)
    torch.manual_seed(2)
    z = attempt("reparameterize", lambda: model.reparameterize(mu, logvar))
    if z is not None:
        spread, centre = z.detach().std().item(), z.detach().mean().item()
        why = ("it returns mu itself: z must be sampled, z = mu + sigma * eps" if torch.allclose(z.detach(), mu) else
               "one eps for all images: draw one per image and dimension, eps = torch.randn_like(mu)"
               if spread < 0.05 else
               "z spreads by sigma^2 = exp(logvar); sigma is exp(logvar / 2)" if abs(spread - 0.25) < 0.02 else
               f"its standard deviation should be sigma = exp(logvar / 2) = 0.5 and its mean mu = 2")
        report.case("reparameterize draws z ~ N(mu, sigma^2)", abs(spread - 0.5) < 0.02 and abs(centre - 2) < 0.02,
                    f"mean {centre:.3f}, standard deviation {spread:.3f}: {why}")
        flows = z.requires_grad and z.grad_fn is not None
        if flows:
            z.sum().backward()
            flows = mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0
        report.case("gradients flow through z to mu and logvar", flows,
                    "z must be computed from mu and logvar (mu + sigma * eps), not drawn with a sampler that "
                    "blocks gradients (torch.normal, Distribution.sample)")
    codes = torch.randn(5, 3, generator=torch.Generator().manual_seed(4)) * 2
    logits = attempt("decode(z) returns logits shaped like the images", lambda: model.decode(codes))
    if logits is not None:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        report.case("decode(z) returns logits shaped like the images", shape == (5, 1, 6, 6),
                    f"expected a tensor of shape (5, 1, 6, 6), got {shape}: reshape the decoder's output to the image shape")
        if torch.is_tensor(logits):  # logits are any real numbers; 180 of them all in [0, 1] means a sigmoid
            values = logits.detach()
            report.case("decode(z) returns logits, not probabilities", bool(((values < 0) | (values > 1)).any()),
                        f"all {values.numel()} outputs lie in [0, 1] (from {values.min().item():.3f} to "
                        f"{values.max().item():.3f}): decode should return the last Linear layer's logits, "
                        "no sigmoid. binary_cross_entropy_with_logits applies the sigmoid itself, so a sigmoid "
                        "in decode is applied twice (a double sigmoid) and the loss scores the wrong probabilities")
    torch.manual_seed(3)
    loss = attempt("loss(x) is the negative ELBO of each image", lambda: model.loss(x))
    if loss is not None:
        with torch.no_grad():  # the same eps: the same seed, the same draws
            torch.manual_seed(3)
            mu, logvar = model.encode(x)
            out = model.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
            error = F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(dim=(1, 2, 3))
            kl = kl_standard_normal(mu, logvar)
            at_mu = F.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="none").sum(dim=(1, 2, 3))
        wrong_forms = {
            "loss(x) decodes mu: decode a sampled z = reparameterize(mu, logvar)": at_mu + kl,
            "the KL has the wrong sign: the loss is reconstruction error PLUS the KL": error - kl,
            "the reconstruction is averaged over pixels: sum both terms over one image": error / 36 + kl,
            "the KL is averaged over latent dimensions: sum both terms over one image": error + kl / 3,
            "the KL term is missing": error, "the reconstruction term is missing": kl,
        }
        expected = error + kl
        if vae_loss is not None:
            try:
                with torch.no_grad():
                    expected = torch.as_tensor(vae_loss(out, x, mu, logvar)).detach().reshape(-1)
            except NotImplementedError:
                report.case("loss(x) is the negative ELBO of each image", False,
                            "vae_loss is not written yet (exercise 1): loss(x) calls it")
                return report.finish()
        got = loss.detach().reshape(-1)
        ok = got.shape == (5,) and expected.shape == (5,) and torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
        hint = "" if got.shape == (5,) else f" (one loss per image: expected shape (5,), got {tuple(loss.shape)})"
        if not ok and got.shape == (5,):
            hint = next((f" ({why})" for why, value in wrong_forms.items()
                         if torch.allclose(got, value, rtol=1e-4, atol=1e-4)),
                        " (with the same eps: torch.manual_seed, then encode, z = mu + sigma * eps, decode; draw "
                        "eps once, through reparameterize, inside loss(x))")
        report.case("loss(x) is the negative ELBO of each image", ok,
                    f"expected {_fmt(expected)}, got {_fmt(got) if got.numel() <= 5 else tuple(got.shape)}{hint}")
    return report.finish()


class _LossOnly(torch.nn.Module):
    """A vae_lite model with the interface of the notebook's MyVAE: loss(x) is one number per image.

    It keeps what each loss(x) call was given, the batch and the global random state that draws ε, so that
    a loop can be replayed on its own batches (_loop_problem)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def loss(self, x):
        self.calls.append((x.detach().clone(), torch.get_rng_state()))
        return self.model.loss(x)[0]


def _loop_problem(calls, got, start, sizes, lr, id_pixels):
    """What is wrong with a training loop whatever random numbers it draws, or None: from the batches it gave
    model.loss (calls) and the losses it returned (got). Each image carries its number in binary in its first
    id_pixels pixels (0 or 1, so binarizing keeps them); the other pixels are grey. sizes: the batch sizes of one
    epoch. The loop is replayed from the initial model `start` on its own batches and ε: Adam on the batch mean."""
    if len(calls) != len(got):
        return f"model.loss was called {len(calls)} times for {len(got)} steps: call it once per step, on that step's batch"
    epochs = len(got) // len(sizes)
    if [len(x) for x, _ in calls] != sizes * epochs:
        return (f"batch sizes {[len(x) for x, _ in calls]}, expected {sizes * epochs}: each epoch takes every image "
                "once, in batches of batch_size, the last, partial batch included")
    pixels = [x.flatten(start_dim=1) for x, _ in calls]
    if any(((p != 0) & (p != 1)).any() for p in pixels):
        return ("the batch was never binarized: you trained on the grey levels, but a Bernoulli likelihood scores only "
                "binary pixels; binarize each batch with vae_lite.binarize(x, generator)")
    numbers = [(p[:, :id_pixels] * 2 ** torch.arange(id_pixels)).sum(dim=1).long() for p in pixels]
    per_epoch = [torch.cat(numbers[e * len(sizes):(e + 1) * len(sizes)]) for e in range(epochs)]
    if any(sorted(order.tolist()) != list(range(sum(sizes))) for order in per_epoch):
        return "an epoch did not take every image exactly once: draw the order with torch.randperm(len(images), ...)"
    if any(torch.equal(order, per_epoch[0]) for order in per_epoch[1:]):
        return "two epochs took the images in the same order: a new torch.randperm order every epoch"
    binary = [torch.cat(pixels[e * len(sizes):(e + 1) * len(sizes)])[order.argsort(), id_pixels:]
              for e, order in enumerate(per_epoch)]
    if any(torch.equal(b, binary[0]) for b in binary[1:]):
        return ("every epoch saw the same binary copy of each image: this exercise, like fit, binarizes each batch "
                "anew as it is drawn (dynamic binarization, vae_lite.binarize(x, generator)), not once before training "
                "and not by a threshold such as x > 0.5")
    def replay(rate, adam_each_epoch=False, zero_grad=True):
        """The first step where Adam(rate) on the batch mean, on your batches and ε, differs from yours, and its loss."""
        model, outer = copy.deepcopy(start), torch.get_rng_state()
        try:
            for step, ((x, state), yours) in enumerate(zip(calls, got)):
                if step == 0 or (adam_each_epoch and step % len(sizes) == 0):
                    optimizer = torch.optim.Adam(model.parameters(), lr=rate)
                torch.set_rng_state(state)  # the ε your loop drew at this step
                loss = model.model.loss(x)[0].mean()
                if zero_grad:
                    optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if not math.isclose(yours, loss.item(), rel_tol=1e-4, abs_tol=1e-4):
                    return step, loss.item()
        finally:
            torch.set_rng_state(outer)
        return None, None

    step, loss = replay(lr)
    if step is None:
        return None
    if step == 0 and math.isclose(got[0], len(calls[0][0]) * loss, rel_tol=1e-3):
        return "it is the sum over the batch; minimise the mean"
    if lr != 1e-3 and replay(1e-3)[0] is None:
        return f"Adam ran at its default rate, 1e-3, not at lr = {lr:g}: torch.optim.Adam(model.parameters(), lr=lr)"
    if len(got) > len(sizes) and replay(lr, adam_each_epoch=True)[0] is None:
        return ("Adam was built anew every epoch, which resets its running averages of the gradients: build it once, "
                "before the loop over epochs")
    if replay(lr, zero_grad=False)[0] is None:
        return ("optimizer.zero_grad() is missing: backward() adds to the gradients, so each step used the sum of all "
                "earlier ones; call it before backward()")
    return (f"step {step}: Adam on the mean loss of the batch your loop drew gives {loss:.4f}, yours {got[step]:.4f}: "
            "torch.optim.Adam(model.parameters(), lr=lr) built once before the loop, optimizer.zero_grad() before "
            "backward(), and the loss of the batch before its step")


def training_loop(fn):
    """fn(model, images, epochs, batch_size, lr, seed) -> the loss of every step, the loop of vae_lite.fit:
    Adam on the batch mean of model.loss(x), batches in a new random order each epoch, each binarized anew.

    Two cases: the loop is right whatever random numbers it draws (replayed on its own batches and ε), and it
    draws fit's, so that the notebook's next cell can compare it with fit step by step."""
    import dataclasses

    from .data import ImageData
    from .models import VAE
    from .train import fit

    # 56 images in batches of 16: the last batch of each epoch is a partial one of 8, which fit keeps. Each image
    # is 4x4: its number in binary in the first 6 pixels, which binarizing keeps, then 10 grey pixels
    numbers = (torch.arange(56)[:, None] >> torch.arange(6)) & 1
    grey = 0.2 + 0.6 * torch.rand(56, 10, generator=torch.Generator().manual_seed(4))
    images = torch.cat([numbers.float(), grey], dim=1).view(56, 1, 4, 4)
    data = dataclasses.replace(ImageData.from_arrays(images, images[:1]), test=None)
    torch.manual_seed(0)
    theirs = VAE((1, 4, 4), latent_dim=2, hidden=8)
    yours, start = _LossOnly(copy.deepcopy(theirs)), _LossOnly(copy.deepcopy(theirs))
    want = fit(theirs, data, epochs=2, batch_size=16, lr=0.01, seed=0, progress=False,
               optimizer=torch.optim.Adam(theirs.parameters(), lr=0.01)).step_losses
    title = "train_my_vae"
    try:
        got = fn(yours, images.clone(), 2, 16, 0.01, 0)
    except NotImplementedError:
        print(f"{title}: not attempted yet (it still raises NotImplementedError). Write it, then re-run the cell.")
        return None
    except Exception as e:
        print(f"{title}: it raised {type(e).__name__}: {e}")
        return False
    report = _Report(title)
    got = [float(v) for v in got] if isinstance(got, (list, tuple)) else None
    if report.case("one loss per step", got is not None and len(got) == len(want),
                   f"expected a list of {len(want)} numbers (56 images in batches of 16, the last of 8; 2 epochs), got "
                   f"{'a ' + type(got).__name__ if got is None else len(got)}: append loss.item() after each step, "
                   "the last, partial batch included"):
        problem = _loop_problem(yours.calls, got, start, [16, 16, 16, 8], 0.01, id_pixels=6)
        report.case("a right loop, whatever random numbers it draws (replayed on its own batches)", problem is None,
                    problem or "")
        close = [math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4) for a, b in zip(got, want)]
        first = next((i for i, ok in enumerate(close) if not ok), None)
        why = "fix the case above first" if problem is not None else (
            "your loop passed the case above, so it may well be right, but it draws other random numbers than fit "
            "(a DataLoader, another generator, all images binarized at once, the draws in another order). The next "
            "cell compares it with fit step by step, so make exactly fit's calls: torch.manual_seed(seed) for ε, a "
            "torch.Generator().manual_seed(seed) for torch.randperm(len(images), generator=generator) each epoch, "
            "then vae_lite.binarize(batch, generator) for each batch as it is drawn")
        report.case("the same losses as vae_lite.fit, step by step (fit's random numbers)", first is None,
                    f"step {first}: expected {want[first]:.4f}, got {got[first]:.4f}; {why}" if first is not None else "")
    return report.finish()


def same_as_fit(cls, train, images, epochs=2, batch_size=256, lr=1e-3, seed=0):
    """Notebook 05, "Your VAE is vae_lite.VAE": the student's model class `cls` and training loop `train` against
    vae_lite.VAE and vae_lite.fit, from the same initial weights and seed, step by step.

    Builds vae_lite.VAE(image_shape) after torch.manual_seed(seed) and copies its initial weights into
    cls(image_shape) (vae_lite's layers sit one level down, in .net). Trains the copy with
    train(model, images, epochs, batch_size, lr, seed), and the original with vae_lite.fit(..., seed=seed) and
    torch.optim.Adam(model.parameters(), lr=lr), as the exercise's loop builds it (fit's own fused Adam rounds
    differently). Prints each run's first and last loss and the largest gap between them at any step.
    Returns True when the two agree at every step within 0.01 nats, False when not, and None when cls or train
    still raises NotImplementedError."""
    from .data import ImageData
    from .models import VAE
    from .train import fit

    image_shape = tuple(images.shape[1:])
    torch.manual_seed(seed)
    theirs = VAE(image_shape)
    try:
        yours = cls(image_shape)
        try:
            yours.load_state_dict({k.replace(".net", ""): w for k, w in theirs.state_dict().items()})
        except RuntimeError as e:
            print(f"MyVAE's layers differ from vae_lite.VAE's (check.vae_module above says how): {e}")
            return False
        got = train(yours, images, epochs, batch_size, lr, seed)
    except NotImplementedError:
        print("not attempted yet: write MyVAE and train_my_vae above, then run this cell again")
        return None
    want = fit(theirs, ImageData.from_arrays(images), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
               optimizer=torch.optim.Adam(theirs.parameters(), lr=lr), progress=False).step_losses
    if not isinstance(got, (list, tuple)) or len(got) != len(want):
        print(f"train_my_vae returned {len(got) if isinstance(got, (list, tuple)) else type(got).__name__} for "
              f"{len(want)} steps: return a list with every step's loss (check.training_loop above says more)")
        return False
    got = [float(v) for v in got]
    gap = max(abs(a - b) for a, b in zip(got, want))
    print(f"{len(want)} steps; loss {want[0]:.2f} -> {want[-1]:.2f} nats with vae_lite, {got[0]:.2f} -> "
          f"{got[-1]:.2f} with yours (as last defined); largest step gap {gap:.1e} nats")
    return gap < 0.01


# ------------------------------------------------------------------------ notebook 06


def effective_beta(fn):
    """Notebook 06: fn(reconstruction, kl, pixels, latent_dim, batch_size) -> the beta of the summed objective.

    reconstruction and kl are each a pair (over one image, over the batch) of "sum" or "mean": how a
    loss reduces that term, e.g. F.binary_cross_entropy's default is ("mean", "mean"). A loss
    rec_total / a + kl_total / b, with a and b the numbers of terms the "mean"s divide by (pixels
    and batch_size for the reconstruction, latent_dim and batch_size for the KL), is
    (rec_total + (a / b) kl_total) / a: the negative beta-ELBO summed over the batch, beta = a / b,
    divided by a.
    """
    def divisor(reduction, size, n):
        return (size if reduction[0] == "mean" else 1) * (n if reduction[1] == "mean" else 1)

    def beta(reconstruction, kl, pixels, latent_dim, n):
        return divisor(reconstruction, pixels, n) / divisor(kl, latent_dim, n)

    s, m = "sum", "mean"
    cases = {f"reconstruction {r}, KL {k}, {p} pixels, {d} latent dimensions, batch of {n}": (r, k, p, d, n)
             for r, k, p, d, n in [((m, m), (s, s), 784, 20, 128),  # F.binary_cross_entropy + the often-copied KLD
                                   ((s, m), (s, m), 784, 20, 128),  # both summed over one image, then averaged
                                   ((m, m), (m, m), 784, 20, 128),  # both averaged over everything
                                   ((m, m), (s, m), 784, 20, 128),  # section 2: the reconstruction averaged
                                   ((s, m), (s, s), 64, 8, 32),  # only the KL summed over the batch
                                   ((s, s), (m, m), 64, 8, 32)]}  # section 2's reverse, and the batch
    wrong_forms = {
        "upside down: averaging the reconstruction shrinks it, so the KL weighs MORE, not less":
            lambda *args: 1 / beta(*args),
        "averaging is not just a change of scale when the two terms are averaged over different numbers: "
        "it reweights the KL": lambda *args: 1.0,
        "the batch: a term averaged over the batch is divided by batch_size too, one summed over it is not":
            lambda r, k, p, d, n: beta((r[0], s), (k[0], s), p, d, n),
        "the batch counted for the reconstruction term only: the KL's batch reduction divides it as well":
            lambda r, k, p, d, n: beta(r, (k[0], s), p, d, n),
        "the batch counted for the KL only: the reconstruction's batch reduction divides it as well":
            lambda r, k, p, d, n: beta((r[0], s), k, p, d, n),
    }
    return _run("effective_beta", lambda *args: float(fn(*args)), cases,
                _compare(beta, wrong_forms, "return a single number", atol=1e-9))


def gaussian_vae_loss(fn):
    """Notebook 06: fn(x, x_hat, mu, logvar, s) -> the negative ELBO of each image, in nats, for a Gaussian
    decoder p(x|z) = N(x_hat, s^2 I) with a fixed s (x_hat: the decoded mean of one sample z):

        ||x - x_hat||^2 / (2 s^2) + D (log s + 1/2 log 2 pi) + KL(N(mu, exp(logvar)) || N(0, I)),

    x, x_hat: (N, C, H, W) with D = C H W pixels each; mu, logvar: (N, d).
    """
    generator = torch.Generator().manual_seed(6)
    cases = {}
    for name, (n, h, d, s) in {"one 2x2 image, 1 latent dimension, s = 1": (1, 2, 1, 1.0),
                               "4 images of 5x5, 3 latent dimensions, s = 0.3": (4, 5, 3, 0.3),
                               "3 images of 28x28, 50 latent dimensions, s = 0.1": (3, 28, 50, 0.1)}.items():
        x = torch.rand(n, 1, h, h, generator=generator, dtype=torch.float64)
        x_hat = torch.rand(n, 1, h, h, generator=generator, dtype=torch.float64)
        mu = torch.randn(n, d, generator=generator, dtype=torch.float64)
        logvar = torch.randn(n, d, generator=generator, dtype=torch.float64) * 0.5
        cases[name] = (x, x_hat, mu, logvar, s)
    x, x_hat = cases["4 images of 5x5, 3 latent dimensions, s = 0.3"][:2]
    zeros = torch.zeros(4, 3, dtype=torch.float64)  # mu = 0, logvar = 0: q(z|x) = N(0, I), so the KL is 0
    cases["KL = 0 (mu = 0, logvar = 0): the reconstruction term alone, s = 0.3"] = (x, x_hat, zeros, zeros, 0.3)
    squared = lambda x, xh: (x - xh).pow(2).sum(dim=(-3, -2, -1))  # noqa: E731
    constant = lambda x, s: x[0].numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))  # noqa: E731
    right = lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s) + kl_standard_normal(m, lv)  # noqa: E731
    wrong_forms = {
        "the KL has the wrong sign: the loss is reconstruction error PLUS the KL":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s) - kl_standard_normal(m, lv),
        "bare squared error + KL, the write-up's loss: the squared error must be divided by 2 s^2 (and the "
        "constant D (log s + 1/2 log 2 pi) added)": lambda x, xh, m, lv, s: squared(x, xh) + kl_standard_normal(m, lv),
        "the constant D (log s + 1/2 log 2 pi) is missing: it moves no gradient, but without it the number is "
        "not -log p(x|z) in nats": lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + kl_standard_normal(m, lv),
        "you divided by 2 s; a Gaussian divides the squared error by 2 s^2, the variance":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s) + constant(x, s) + kl_standard_normal(m, lv),
        "you divided by s^2; the Gaussian's exponent is -(x - x_hat)^2 / (2 s^2): divide by 2 s^2":
            lambda x, xh, m, lv, s: squared(x, xh) / s**2 + constant(x, s) + kl_standard_normal(m, lv),
        "the constant is D (log s + 1/2 log 2 pi), half of D (log s^2 + log 2 pi): -log of 1 / sqrt(2 pi s^2) "
        "is 1/2 log(2 pi s^2)": lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + 2 * constant(x, s)
            + kl_standard_normal(m, lv),
        "every image got the same squared error: you summed it over the batch too (reduction='sum'); "
        "sum over each image's pixels only, dim=(1, 2, 3)":
            lambda x, xh, m, lv, s: (x - xh).pow(2).sum() / (2 * s**2) + constant(x, s) + kl_standard_normal(m, lv),
        "every image got the same KL: you summed it over the batch too; sum over the latent dimensions only":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s) + kl_standard_normal(m, lv).sum(),
        "the normaliser is D log s (s the standard deviation), not D log s^2":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s) + x[0].numel() * math.log(s)
            + kl_standard_normal(m, lv),
        "log 2 pi needs its 1/2: the Gaussian's normaliser is 1 / sqrt(2 pi s^2), whose -log is log s + 1/2 log 2 pi":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + x[0].numel() * (math.log(s) + math.log(2 * math.pi))
            + kl_standard_normal(m, lv),
        "F.mse_loss averages over the batch and the pixels by default: use reduction='none', then sum each image's "
        "pixels": lambda x, xh, m, lv, s: (x - xh).pow(2).mean() / (2 * s**2) + constant(x, s) + kl_standard_normal(m, lv),
        "F.mse_loss times D is the squared error summed over one image but averaged over the batch: every image gets "
        "the same one; use reduction='none', then sum each image's pixels":
            lambda x, xh, m, lv, s: (x - xh).pow(2).mean() * x[0].numel() / (2 * s**2) + constant(x, s)
            + kl_standard_normal(m, lv),
        "the reconstruction term is averaged over the pixels: sum it over one image, like the KL":
            lambda x, xh, m, lv, s: (squared(x, xh) / (2 * s**2) + constant(x, s)) / x[0].numel() + kl_standard_normal(m, lv),
        "the KL is averaged over the latent dimensions, a KL weight beta = 1/d (section 2): sum it over them":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s) + kl_standard_normal(m, lv) / m.shape[-1],
        "the KL term is missing": lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s),
        "you passed the variance s^2 as the scale: torch.distributions.Normal(loc, scale) takes the standard "
        "deviation s": lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**4) + constant(x, s**2) + kl_standard_normal(m, lv),
        "the KL reads logvar as log sigma: logvar is log sigma^2, so sigma^2 = exp(logvar) "
        "(vae_lite.kl_standard_normal(mu, logvar) does it)":
            lambda x, xh, m, lv, s: squared(x, xh) / (2 * s**2) + constant(x, s)
            + 0.5 * (m**2 + (2 * lv).exp() - 2 * lv - 1).sum(dim=-1),
    }
    return _run("gaussian_vae_loss", fn, cases, _compare(
        right, wrong_forms, "return one loss per image: sum over the pixels and the latent dimensions", atol=1e-6))


# ------------------------------------------------------------------------ notebook 07


def active_unit_count(fn):
    """fn(mu, threshold) -> how many columns of mu (N, d) have a variance over
    the N images above threshold (Burda et al.'s active units)."""
    generator = torch.Generator().manual_seed(6)
    scales = torch.tensor([2.0, 0.5, 0.2, 0.08, 0.05, 0.001], dtype=torch.float64)
    mu = torch.randn(500, 6, generator=generator, dtype=torch.float64) * scales + torch.tensor([0, 3, 0, 0.5, 0, 1.0])
    cases = {
        "6 dimensions with different spreads, threshold 0.01": (mu, 0.01),
        "the same, threshold 0.003": (mu, 0.003),  # right 4, the standard deviation 5, a hard-coded 0.01 3
        "every dimension constant: none active": (torch.ones(50, 4, dtype=torch.float64), 0.01),
    }
    count = lambda m, t: float((m.var(dim=0) > t).sum())
    wrong_forms = {
        "you ignored `threshold` (the count is right for 0.01 only): compare with the argument, not a number":
            lambda m, t: float((m.var(dim=0) > 0.01).sum()),
        "you used the standard deviation; the criterion is the variance Var_x(μ_d(x))":
            lambda m, t: float((m.std(dim=0) > t).sum()),
        "you took the variance over the dimensions of one image (dim=1); take it over the images (dim=0)":
            lambda m, t: float((m.var(dim=1) > t).sum()),
        "you compared the mean of mu with the threshold; activity is how much mu varies across images":
            lambda m, t: float((m.mean(dim=0).abs() > t).sum()),
    }
    return _run("active_unit_count", lambda m, t: float(fn(m, t)), cases,
                _compare(count, wrong_forms, "return a single number", atol=1e-9))


def interpolate(fn):
    """Notebook 07: fn(model, x_a, x_b, n, spherical=False) -> (n, C, H, W) the decoder's images at n evenly
    spaced t = 0, 1/(n - 1), ..., 1 on a path in z between the encoder means a = mu(x_a) and b = mu(x_b) of
    the images x_a and x_b (C, H, W):

        the line (spherical=False):  z(t) = (1 - t) a + t b
        the arc (spherical=True):    z(t) = (sin((1 - t) Ω) a + sin(t Ω) b) / sin Ω,   cos Ω = a.b / (|a| |b|)

    (the arc is slerp, Shoemake 1985; where sin Ω = 0, as from A to A, the arc is the line). The line's cases
    call fn(model, x_a, x_b, n) and come first; the arc's call fn(model, x_a, x_b, n, spherical=True).
    """
    from .models import VAE

    torch.manual_seed(7)
    model = VAE((1, 6, 6), latent_dim=3, hidden=16).eval()
    with torch.no_grad():  # larger weights: a decoder that bends, so a cross-fade is not the line in z
        for parameter in model.parameters():
            parameter.mul_(3)
    generator = torch.Generator().manual_seed(7)
    a, b = 0.3 * torch.rand(1, 6, 6, generator=generator), 0.7 + 0.3 * torch.rand(1, 6, 6, generator=generator)
    c = torch.rand(1, 6, 6, generator=generator)
    # A to A gives cos Ω = 1 only up to rounding, which differs by CPU; a code along one axis makes it exact
    parallel = copy.deepcopy(model)
    with torch.no_grad():
        last = [layer for layer in parallel.encoder.modules() if isinstance(layer, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[0] = 0.5  # mu = (0.5, 0, 0) and log sigma^2 = 0 for every image
    cases = {"n = 2: the two ends only": (model, a, b, 2, False), "n = 5 from A to B": (model, a, b, 5, False),
             "n = 7 from B to another image": (model, b, c, 7, False),
             "from A to A: n copies of one image": (model, a, a, 3, False),
             "the arc, n = 5 from A to B": (model, a, b, 5, True),
             "the arc, n = 7 from B to another image": (model, b, c, 7, True),
             "the arc from A to A, where Ω = 0": (parallel, a, a, 3, True)}

    def call(f, m, x_a, x_b, n, spherical):  # the line's cases leave spherical out, so a line-only answer passes them
        return f(m, x_a, x_b, n, spherical=True) if spherical else f(m, x_a, x_b, n)

    def path(m, x_a, x_b, n, spherical, t=None, use=0, decode=None, first=lambda t: 1 - t, angle=torch.arccos,
             unit=False, divide=True, lengths=True):  # the right path; the keywords make the known mistakes
        t = torch.linspace(0, 1, n).unsqueeze(1) if t is None else t
        mu_a, mu_b = m.encode(torch.stack([x_a, x_b]))[use]
        if not spherical:
            return (decode or m.decode)(first(t) * mu_a + t * mu_b)
        omega = angle((mu_a @ mu_b / (mu_a.norm() * mu_b.norm() if lengths else 1)).clamp(-1, 1))
        if torch.sin(omega) < 1e-6:  # parallel codes: the arc divides 0 by 0, so take the line
            return (decode or m.decode)(first(t) * mu_a + t * mu_b)
        if unit:
            mu_a, mu_b = mu_a / mu_a.norm(), mu_b / mu_b.norm()
        z = torch.sin((1 - t) * omega) * mu_a + torch.sin(t * omega) * mu_b
        return (decode or m.decode)(z / torch.sin(omega) if divide else z)

    def ends(m, x_a, x_b, n, spherical):
        t = torch.linspace(0, 1, n).reshape(n, 1, 1, 1)
        decoded = path(m, x_a, x_b, 2, False)
        return (1 - t) * decoded[0] + t * decoded[1]

    def on_the(which, form):  # a mistake that only the line's (or only the arc's) cases can show
        return lambda m, x_a, x_b, n, spherical: form(m, x_a, x_b, n) if spherical == (which == "arc") else None

    wrong_forms = {
        "you blended the two decoded images (a cross-fade in pixel space); decode each point z(t) of the path":
            ends,
        "you blended the images themselves, (1 - t) x_a + t x_b: that never visits the latent space":
            lambda m, x_a, x_b, n, s: (1 - (t := torch.linspace(0, 1, n).reshape(n, 1, 1, 1))) * x_a + t * x_b,
        "t stops short of 1: use torch.linspace(0, 1, n), whose last point is x_b's code":
            lambda m, x_a, x_b, n, s: path(m, x_a, x_b, n, s, t=(torch.arange(n) / n).unsqueeze(1)),
        "you walked between the log variances (the second output of encode); walk between the means mu":
            lambda m, x_a, x_b, n, s: path(m, x_a, x_b, n, s, use=1),
        "the path runs from B to A; t = 0 should give A's code":
            lambda m, x_a, x_b, n, s: path(m, x_b, x_a, n, s),
        "these are the decoder network's logits; return model.decode(z), the pixel probabilities":
            lambda m, x_a, x_b, n, s: path(m, x_a, x_b, n, s, decode=m.decoder),
        "you left out the (1 - t) before mu(x_a): the line is z(t) = (1 - t) mu(x_a) + t mu(x_b)":
            on_the("line", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, False, first=lambda t: 1)),
        "that is the straight line: with spherical=True, walk on the arc (slerp). If you did, check cos Ω = "
        "a.b / (|a| |b|): without the lengths it is clamped to 1, so Ω = 0 and the fallback takes the line":
            on_the("arc", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, False)),
        "cos Ω = a.b / (|a| |b|): divide a.b by both lengths":
            on_the("arc", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, True, lengths=False)),
        "you used cos Ω as the angle Ω: take Ω = arccos(a.b / (|a| |b|))":
            on_the("arc", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, True, angle=lambda cos: cos)),
        "you walked between the unit directions a/|a| and b/|b|: the arc keeps the codes' own lengths":
            on_the("arc", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, True, unit=True)),
        "you left out the division by sin Ω: at t = 0 the arc should start at mu(x_a) itself":
            on_the("arc", lambda m, x_a, x_b, n: path(m, x_a, x_b, n, True, divide=False)),
    }

    def judge(name, got, m, x_a, x_b, n, spherical):
        with torch.inference_mode():
            want, got = path(m, x_a, x_b, n, spherical), torch.as_tensor(got).detach().float()
            if got.shape != want.shape:
                return [(name, False, f"expected {n} images, a tensor of shape {tuple(want.shape)}, got "
                                      f"{tuple(got.shape)}; decode a batch of n codes, one per row")]
            ok = bool(torch.allclose(got, want, atol=1e-5))
            matches = lambda wrong: wrong is not None and torch.allclose(got, wrong.float(), atol=1e-5)
            hint = "" if ok else next((why for why, wrong in wrong_forms.items()
                                       if matches(wrong(m, x_a, x_b, n, spherical))), "")
            if not ok and not hint and not torch.isfinite(got).all():
                hint = ("your images are not finite (nan or inf): sin Ω = 0 here, so where sin Ω is about 0, "
                        "return the line" if spherical and torch.equal(x_a, x_b) else
                        "your images are not finite (nan or inf): cos Ω must lie in [-1, 1], so divide a.b by both "
                        "lengths" if spherical else "your images are not finite (nan or inf)")
            again = lambda: torch.as_tensor(call(fn, m, x_a.clone(), x_b.clone(), n, spherical)).float()
            if not ok and not hint and not torch.allclose(again(), got):
                hint = "your result changes from call to call: decode the means mu, not samples of z"
        return [(name, ok, f"largest pixel difference from the expected images {(got - want).abs().max().item():.4f}"
                           + (f" ({hint})" if hint else ""))]

    return _run("interpolate", lambda m, x_a, x_b, n, spherical: call(fn, m, x_a, x_b, n, spherical), cases, judge)


# ------------------------------------------------------------------------ notebook 08


def _log_standard_normal(z):
    return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=-1)


def _log_q(z, mu, logvar):
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(dim=-1)


def importance_weighted_estimate(fn):
    """fn(log_px_given_z (k, N), z (k, N, d), mu (N, d), logvar (N, d)) -> (N,): the importance-weighted
    estimate of log p(x) from k draws z_i ~ q(z|x) = N(mu, diag(exp(logvar))) per image,

        log (1/k) sum_i exp(log w_i),   log w_i = log p(x|z_i) + log N(z_i; 0, I) - log N(z_i; mu, sigma^2),

    computed stably (the log weights of real images are -100 or lower, where exp underflows)."""
    generator = torch.Generator().manual_seed(8)

    def draw(k, n, d, level):
        mu = torch.randn(n, d, generator=generator, dtype=torch.float64)
        logvar = torch.randn(n, d, generator=generator, dtype=torch.float64) * 0.5 - 1
        z = mu + (0.5 * logvar).exp() * torch.randn(k, n, d, generator=generator, dtype=torch.float64)
        log_px_given_z = level + 3 * torch.randn(k, n, generator=generator, dtype=torch.float64)
        return log_px_given_z, z, mu, logvar

    cases = {
        "k = 1, one image, one latent dimension: the one-sample ELBO": draw(1, 1, 1, -5.0),
        "k = 10, 3 images, 2 latent dimensions": draw(10, 3, 2, -5.0),
        "k = 100, 4 images, 5 latent dimensions, log p(x|z) near -1000 (exp underflows to 0, as for real images)":
            draw(100, 4, 5, -1000.0),
    }
    log_w = lambda lp, z, m, lv: lp + _log_standard_normal(z) - _log_q(z, m, lv)
    mean_exp = lambda w: torch.logsumexp(w, dim=0) - math.log(len(w))
    half_log_2pi = lambda z: 0.5 * z.shape[-1] * math.log(2 * math.pi)
    wrong_forms = {
        "you averaged the log weights: that is the ELBO's estimate for every k, not the importance-weighted one":
            lambda lp, z, m, lv: log_w(lp, z, m, lv).mean(dim=0),
        "the - log k is missing: it is the log of a mean of the weights, not of their sum":
            lambda lp, z, m, lv: torch.logsumexp(log_w(lp, z, m, lv), dim=0),
        "log q(z|x) has sigma^2 where sigma belongs: its standard deviation is exp(logvar / 2)":
            lambda lp, z, m, lv: mean_exp(lp + _log_standard_normal(z) - _log_q(z, m, 2 * lv)),
        "log q(z|x) is missing: each weight is p(x|z) p(z) / q(z|x)":
            lambda lp, z, m, lv: mean_exp(lp + _log_standard_normal(z)),
        "log p(z) is missing: each weight is p(x|z) p(z) / q(z|x)":
            lambda lp, z, m, lv: mean_exp(lp - _log_q(z, m, lv)),
        "log q(z|x) is added: it divides, so subtract it":
            lambda lp, z, m, lv: mean_exp(lp + _log_standard_normal(z) + _log_q(z, m, lv)),
        "log p(z) lacks the constant -d/2 log 2 pi that log q(z|x) has (drop it from both, or keep it in both)":
            lambda lp, z, m, lv: mean_exp(log_w(lp, z, m, lv) + half_log_2pi(z)),
        "log q(z|x) lacks the constant -d/2 log 2 pi that log p(z) has (drop it from both, or keep it in both)":
            lambda lp, z, m, lv: mean_exp(log_w(lp, z, m, lv) - half_log_2pi(z)),
        "you used the closed-form KL: inside the log-mean-exp each sample needs its own log p(z_i) - log q(z_i|x); "
        "the KL is only their expectation":
            lambda lp, z, m, lv: mean_exp(lp - kl_standard_normal(m, lv)),
        "log p(z) - log q(z|x) is averaged over the latent dimensions: a density of z sums them":
            lambda lp, z, m, lv: mean_exp(lp + (_log_standard_normal(z) - _log_q(z, m, lv)) / z.shape[-1]),
    }
    compare = _compare(
        lambda lp, z, m, lv: mean_exp(log_w(lp, z, m, lv)), wrong_forms,
        "return one value per image: sum the log densities over the latent dimensions (dim=-1), "
        "then reduce over the k samples (dim=0)", atol=1e-6)

    def judge(name, got, *args):  # a -inf here is an exp that underflowed, not one that overflowed: say so
        lines = compare(name, got, *args)
        if not lines[0][1] and (_numbers(got) == -math.inf).any() and args[0].max() < -700:  # float64 exp(-746) = 0
            name, ok, detail, *rest = lines[0]
            hint = ("an exp that underflows to 0: log w is near -1000 here, so take the log-mean-exp in log space, "
                    "torch.logsumexp(log_w, dim=0) - log k")
            generic = "an exp that overflows"
            detail = detail.replace(generic, hint) if generic in detail else f"{detail} ({hint})"
            lines[0] = (name, ok, detail, *rest)
        return lines

    return _run("importance_weighted_estimate", fn, cases, judge)


def paired_gain(fn):
    """Notebook 08: fn(after (N,), before (N,)) -> (gain, standard error) from two scores of the same N images:
    the mean over the images of after - before, and its standard error, the standard deviation of the N
    differences over sqrt(N) (dividing by N - 1, torch's default, or by N)."""
    generator = torch.Generator().manual_seed(5)
    f64 = lambda *values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    levels = -90 + 20 * torch.randn(100, generator=generator, dtype=torch.float64)  # tens of nats between images
    cases = {
        "3 images, gains of 1, 2 and 3 nats": (f64(-80.0, -95.0, -87.0), f64(-81.0, -97.0, -90.0)),
        "100 images whose scores differ by tens of nats, each gaining about half a nat":
            (levels + 0.5 + 0.2 * torch.randn(100, generator=generator, dtype=torch.float64), levels),
        "4 images that all lose (after below before)": (f64(-100.0, -90.0, -92.0, -85.0), f64(-99.0, -89.5, -90.0, -84.9)),
    }

    def judge(name, got, after, before):
        differences = after - before
        n = len(differences)
        try:
            gain, error = (float(v) for v in got)
        except (TypeError, ValueError):
            return [(name, False, f"expected a pair (gain, standard error), got {got!r}")]
        close = lambda a, b: math.isclose(a, float(b), rel_tol=1e-5, abs_tol=1e-6)  # noqa: E731
        spreads = [differences.std(correction=c).item() for c in (1, 0)]  # either normalisation passes
        unpaired = [math.sqrt((after.var(correction=c) + before.var(correction=c)).item() / n) for c in (1, 0)]
        gain_hint = ": the sign is flipped, the gain is after - before" if close(gain, -differences.mean()) else ""
        error_hint = ""
        if any(close(error, u) for u in unpaired):
            error_hint = (": this is the error of two independent means, which carries how much the images differ; "
                          "the images are the same, so take the differences image by image first, then their sd / √n")
        elif any(close(error, s) for s in spreads):
            error_hint = f": this is the differences' standard deviation; the standard error of their mean divides it by √{n}"
        elif any(close(error, s / n) for s in spreads):
            error_hint = f": divide the standard deviation by √{n}, not by {n}"
        return [
            (f"{name}: the gain", close(gain, differences.mean()),
             f"expected {differences.mean().item():.4f}, got {gain:.4f}{gain_hint}"),
            (f"{name}: its standard error", any(close(error, s / math.sqrt(n)) for s in spreads),
             f"expected {spreads[0] / math.sqrt(n):.4f}, got {error:.4f}{error_hint}"),
        ]

    return _run("paired_gain", fn, cases, judge)


# ------------------------------------------------------------------------ notebook 09


def gaussian_decoder_log_likelihood(fn):
    """Notebook 09: fn(x, mean, log_var) -> log p(x|z) of the paper's Gaussian decoder, one number per image.

    x, mean, log_var: (N, 1, H, W); log_var = log s^2 of each pixel. Expected:
    sum over pixels of -1/2 log(2 pi) - 1/2 log_var - (x - mean)^2 / (2 exp(log_var)).
    """
    generator = torch.Generator().manual_seed(9)
    cases = {}
    for name, (n, h, w, s_low, s_high) in {"one 2x2 image, s = 1 everywhere": (1, 2, 2, 1.0, 1.0),
                                           "3 faces of 28x20, s from 0.02 to 0.5": (3, 28, 20, 0.02, 0.5),
                                           "5 images of 4x4, s from 0.05 to 3": (5, 4, 4, 0.05, 3.0)}.items():
        x = torch.rand(n, 1, h, w, generator=generator, dtype=torch.float64)
        mean = torch.rand(n, 1, h, w, generator=generator, dtype=torch.float64)
        low, high = 2 * math.log(s_low), 2 * math.log(s_high)  # log s^2
        log_var = low + (high - low) * torch.rand(n, 1, h, w, generator=generator, dtype=torch.float64)
        cases[name] = (x, mean, log_var)
    pixels = lambda t: t.sum(dim=(-3, -2, -1))  # noqa: E731
    right = lambda x, m, lv: pixels(-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * lv.exp()))  # noqa: E731
    wrong_forms = {
        "log_var is log s^2: the normalising term is -1/2 log_var, not -log_var":
            lambda x, m, lv: pixels(-0.5 * math.log(2 * math.pi) - lv - (x - m) ** 2 / (2 * lv.exp())),
        "you divided by s = exp(log_var / 2); the squared error is divided by the variance s^2 = exp(log_var)":
            lambda x, m, lv: pixels(-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * (0.5 * lv).exp())),
        "the -1/2 log_var term is missing: without it a larger s always looks better":
            lambda x, m, lv: pixels(-0.5 * math.log(2 * math.pi) - (x - m) ** 2 / (2 * lv.exp())),
        "the constant per pixel is -1/2 log(2 pi), not -log(2 pi): the 1/2 is missing":
            lambda x, m, lv: pixels(-math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * lv.exp())),
        "the constant -1/2 log(2 pi) per pixel is missing (it matters when comparing with other models)":
            lambda x, m, lv: pixels(-0.5 * lv - (x - m) ** 2 / (2 * lv.exp())),
        "you averaged over the pixels; a log-likelihood of an image sums them":
            lambda x, m, lv: (-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * lv.exp())).mean(dim=(-3, -2, -1)),
        "this is the negative log-likelihood (a loss); the sign is flipped": lambda x, m, lv: -right(x, m, lv),
    }
    return _run("gaussian_decoder_log_likelihood", fn, cases, _compare(
        right, wrong_forms, "return one number per image: sum over the pixels (the last three dimensions)", atol=1e-6))


def _wake_sleep_forms():
    """The wake-sleep loss and its common wrong forms, each a function (model, x, z, z_dream, x_dream) -> (N,)."""
    from .objectives import log_normal

    def wake(model, x, z):
        return model.log_likelihood(x, z)

    def sleep(model, z_dream, x_dream):
        return log_normal(z_dream, *model.encode(x_dream))

    def right(m, x, z, zd, xd):
        return -(wake(m, x, z.detach()) + sleep(m, zd, xd.detach()))

    wrong = {
        "z is not detached in the wake phase: the reconstruction's gradient then also trains the encoder "
        "(through z), as in AEVB; in wake-sleep only the sleep phase trains the encoder":
            lambda m, x, z, zd, xd: -(wake(m, x, z) + sleep(m, zd, xd.detach())),
        "x_dream is not detached in the sleep phase: the sleep loss then also trains the decoder (through "
        "the dreamed image); in wake-sleep only the wake phase trains the decoder":
            lambda m, x, z, zd, xd: -(wake(m, x, z.detach()) + sleep(m, zd, xd)),
        "neither z nor x_dream is detached: each phase must train only its own network":
            lambda m, x, z, zd, xd: -(wake(m, x, z) + sleep(m, zd, xd)),
        "the sign is flipped: the loss to minimise is minus the two log-likelihoods":
            lambda m, x, z, zd, xd: -right(m, x, z, zd, xd),
        "the KL term is added: that is AEVB's encoder loss, not the sleep phase":
            lambda m, x, z, zd, xd: right(m, x, z, zd, xd) + kl_standard_normal(*m.encode(x)),
        "the sleep phase scores the real x (log q(z|x)); it must score the dream, log q(z_dream|x_dream)":
            lambda m, x, z, zd, xd: -(wake(m, x, z.detach()) + sleep(m, z.detach(), x)),
        "the sleep phase is missing: without it nothing trains the encoder":
            lambda m, x, z, zd, xd: -wake(m, x, z.detach()),
        "you added log p(z): the wake phase of log p(x, z) = log p(x|z) + log p(z) has the same gradient "
        "(the prior has no weights), but the loss asked for is -(log p(x|z) + log q(z_dream|x_dream))":
            lambda m, x, z, zd, xd: right(m, x, z, zd, xd) - log_normal(z.detach(), torch.zeros_like(z), torch.zeros_like(z)),
        "this is the negative ELBO (AEVB's loss), not wake-sleep: wake-sleep trains the decoder on "
        "log p(x|z) with z held fixed, and the encoder on the dream, log q(z_dream|x_dream), with no KL":
            lambda m, x, z, zd, xd: -(wake(m, x, z) - kl_standard_normal(*m.encode(x))),
        "this is the negative ELBO (AEVB's loss, its KL estimated from z), not wake-sleep: wake-sleep trains "
        "the decoder on log p(x|z) with z held fixed, and the encoder on the dream, log q(z_dream|x_dream)":
            lambda m, x, z, zd, xd: -(wake(m, x, z) + log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
                                      - log_normal(z, *m.encode(x))),
    }
    return right, wrong


def wake_sleep_loss(fn):
    r"""Notebook 09: fn(model, x, z, z_dream, x_dream) -> the wake-sleep loss of each image, shape (N,).

    z = mu + sigma * eps is a draw from q(z|x), still attached to the encoder; z_dream ~ p(z) and
    x_dream = mean + s * eps' ~ p(x|z_dream) were drawn by the decoder and are attached to it.
    Expected, with z and x_dream held fixed (detached), each phase training only its own network:

        loss = -( log p(x|z) + log q(z_dream|x_dream) )
                  wake: decoder    sleep: encoder

    The value and the gradient in every weight are compared with that; the known wrong forms
    (a missing detach, the sign, AEVB's KL, the sleep phase on real data, a mean) are named.
    """
    from .variants import PaperVAE
    from .objectives import reparameterize

    right, wrong_forms = _wake_sleep_forms()
    cases = {}
    for name, (n, shape, latent, seed) in {"4 images of 4x3, N_z = 2": (4, (1, 4, 3), 2, 1),
                                           "6 faces of 28x20, N_z = 5": (6, (1, 28, 20), 5, 2)}.items():
        torch.manual_seed(seed)
        model = PaperVAE(shape, latent_dim=latent, hidden=8, likelihood="gaussian", init_std=0.3).double()
        x = torch.rand(n, *shape, dtype=torch.float64)
        z = reparameterize(*model.encode(x))  # attached to the encoder
        z_dream = torch.randn(n, latent, dtype=torch.float64)
        x_dream = model.decode(z_dream) + model.decode_std(z_dream) * torch.randn_like(x)  # attached to the decoder
        cases[name] = (model, x, z, z_dream, x_dream)

    def value_and_gradient(model, loss):
        """The loss values and the gradient of their sum in every weight, as one vector (None: no gradient)."""
        if not torch.is_tensor(loss) or not loss.requires_grad:
            return loss, None
        grads = torch.autograd.grad(loss.sum(), list(model.parameters()), retain_graph=True, allow_unused=True)
        return loss.detach(), torch.cat([torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1)
                                         for p, g in zip(model.parameters(), grads)])

    def same(a, b):
        return a[1] is not None and b[1] is not None and a[0].shape == b[0].shape \
            and bool(torch.allclose(a[0], b[0], atol=1e-8)) and bool(torch.allclose(a[1], b[1], atol=1e-8))

    def judge(name, got, model, x, z, z_dream, x_dream):
        if not torch.is_tensor(got):
            return [(name, False, f"return a tensor of one loss per image, got {type(got).__name__}")]
        got = got.to(torch.float64)  # the model is float64: a float32 loss (torch.ones(n)) is compared, not a crash
        want = value_and_gradient(model, right(model, x, z, z_dream, x_dream))
        mine = value_and_gradient(model, got)
        if same(mine, want):
            return [(name, True, "")]
        if got.shape != want[0].shape:
            if got.numel() == 1 and torch.allclose(got.detach().double(), want[0].mean()):
                return [(name, False, "you averaged over the images: return one loss per image, shape (N,)")]
            return [(name, False, f"expected shape {tuple(want[0].shape)}, got {tuple(got.shape)}: one loss per image")]
        for why, form in wrong_forms.items():
            if same(mine, value_and_gradient(model, form(model, x, z, z_dream, x_dream))):
                return [(name, False, why)]
        if mine[1] is None:
            return [(name, False, "your loss carries no gradient: do not compute it under torch.no_grad()")]
        if not torch.allclose(mine[0], want[0], atol=1e-8):
            return [(name, False, f"expected {_fmt(want[0])}, got {_fmt(mine[0])}")]
        encoder_ids = {id(p) for p in model.encoder.parameters()}
        in_encoder = torch.cat([torch.full((p.numel(),), id(p) in encoder_ids) for p in model.parameters()])
        wrong = [part for part, where in (("encoder", in_encoder), ("decoder", ~in_encoder))
                 if not torch.allclose(mine[1][where], want[1][where], atol=1e-8)]
        return [(name, False, "the values are right but the gradient is not: the " + " and the ".join(wrong)
                 + (" get" if len(wrong) > 1 else " gets") + " the wrong one; check what you detach")]

    return _run("wake_sleep_loss", fn, cases, judge)


def code_from(fn):
    """Notebook 09: fn(run) -> the number of training samples from which the run's test KL stays above 0.1 nats
    up to its last checkpoint, or None if the last checkpoint has no code (KL of 0.1 or less).

    run: {"samples": [...], "test_kl": [...]}, one entry per checkpoint. Expected: run["samples"][i] for the
    smallest i with every run["test_kl"][i:] > 0.1. The known wrong forms (the first crossing, the last
    checkpoint without a code, an index, a KL of exactly 0.1 counted as a code) are named.
    """
    def after_last(run, empty):  # samples at the checkpoint after the last one for which empty(kl) holds
        kl = run["test_kl"]
        last = max((i for i, k in enumerate(kl) if empty(k)), default=-1)
        return None if last == len(kl) - 1 else run["samples"][last + 1]

    right = lambda run: after_last(run, lambda k: k <= 0.1)  # noqa: E731
    wrong_forms = {
        "that is the first checkpoint with a KL above 0.1, but the KL falls back to 0.1 or below later: the "
        "code must stay to the last checkpoint (look for the last checkpoint without a code)":
            lambda run: next((n for n, k in zip(run["samples"], run["test_kl"]) if k > 0.1), None),
        "a KL of exactly 0.1 is not above 0.1: it counts as no code (use kl > 0.1)":
            lambda run: after_last(run, lambda k: k < 0.1),
        "that is the last checkpoint without a code; the code starts at the checkpoint after it":
            lambda run: None if run["test_kl"][-1] <= 0.1 else ([n for n, k in zip(run["samples"], run["test_kl"])
                                                                  if k <= 0.1] or [run["samples"][0]])[-1],
        "you returned the checkpoint's index; return its number of training samples, run['samples'][i]":
            lambda run: None if right(run) is None else run["samples"].index(right(run)),
    }
    runs = {  # name: (samples, test KL per checkpoint)
        "a code from the first checkpoint on": ([100, 200, 300, 400], [0.5, 2.0, 3.0, 4.0]),
        "never a code": ([100, 200, 300, 400], [0.01, 0.02, 0.0, 0.03]),
        "a code that comes and goes, then stays": ([1000, 2000, 3000, 4000, 5000, 6000], [0.0, 0.3, 0.05, 0.02, 0.4, 1.5]),
        "a code only at the last checkpoint": ([10, 20, 30, 40], [0.0, 0.0, 0.0, 0.2]),
        "a code lost at the last checkpoint": ([10, 20, 30, 40], [0.0, 0.5, 1.0, 0.08]),
        "uneven checkpoints, a KL of exactly 0.1": ([1765, 3530, 17650, 176500, 1765000], [0.02, 0.01, 0.1, 0.6, 9.0]),
    }
    cases = {name: ({"samples": samples, "test_kl": kl},) for name, (samples, kl) in runs.items()}
    originals = copy.deepcopy(cases)  # fn may change the run it is given

    def plain(value):  # one number as a Python number (a tensor or numpy scalar too); None and others as they are
        return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value

    def judge(name, got, _):
        run, got = originals[name][0], plain(got)
        want = right(run)
        ok = got is None if want is None else (not isinstance(got, bool) and isinstance(got, (int, float)) and got == want)
        if ok:
            return [(name, True, "")]
        mistakes = [why for why, form in wrong_forms.items() if form(run) == got and not isinstance(got, bool)]
        if want is None:
            hint = " (the last checkpoint has no code, so the run has none at the end: return None)"
        elif got is None:
            hint = " (None means no code at the end, but this run's last KL is above 0.1)"
        else:
            hint = ""
        return [(name, False, f"test KL {run['test_kl']} at samples {run['samples']}: expected {want}, got {got!r}"
                 + hint, mistakes)]

    return _run("code_from", fn, cases, judge)


# ------------------------------------------------------------------------ notebook 10


def ppca_scales(fn):
    """Notebook 10: fn(eigenvalues (D,), noise_variance, latent_dim) -> (latent_dim,) the lengths ||w_j|| of
    the maximum-likelihood pPCA decoder's columns, largest first: sqrt(max(lambda_j - sigma^2, 0)) for the
    latent_dim largest eigenvalues lambda_j (Tipping & Bishop, 1999)."""
    def largest(eigenvalues, k):
        return torch.sort(eigenvalues, descending=True).values[:k]

    cases = {
        "variances 4, 1.5, 0.1 with sigma^2 = 0.5, 2 latent dimensions":
            (torch.tensor([4.0, 1.5, 0.1], dtype=torch.float64), 0.5, 2),
        "unsorted variances, 3 latent dimensions (one collapses)":
            (torch.tensor([0.2, 3.0, 0.05, 1.0], dtype=torch.float64), 0.5, 3),
        "noise above every variance: every dimension collapses":
            (torch.tensor([0.3, 0.2, 0.1], dtype=torch.float64), 1.0, 2),
    }
    expected = lambda ev, s2, k: (largest(ev, k) - s2).clamp(min=0).sqrt()
    wrong_forms = {
        "you returned sqrt(lambda), PCA's scale: pPCA subtracts the noise variance sigma^2 first":
            lambda ev, s2, k: largest(ev, k).sqrt(),
        "you returned lambda - sigma^2, a variance: the column's length is its square root":
            lambda ev, s2, k: (largest(ev, k) - s2).clamp(min=0),
        "you took the first latent_dim variances as given: sort them, largest first":
            lambda ev, s2, k: (ev[:k] - s2).clamp(min=0).sqrt(),
    }
    compare = _compare(expected, wrong_forms, "return one length per latent dimension (latent_dim numbers)", atol=1e-6)
    unclipped = ("your result is not finite (nan), and this case has a collapsed direction: lambda_j - sigma^2 is "
                 "negative there, and its square root is nan; clip it at 0 before the square root")

    def judge(name, got, eigenvalues, noise_variance, latent_dim):
        # a nan where a direction collapses is the unclipped root, not a log of 0: name it before _compare's hint
        collapses = bool((largest(eigenvalues, latent_dim) < noise_variance).any())
        if collapses and isinstance(got, torch.Tensor) and torch.isnan(got.detach()).any():
            want = expected(eigenvalues, noise_variance, latent_dim)
            return [(name, False, f"expected {_fmt(want)}, got {_fmt(got)}", [unclipped])]
        return compare(name, got, eigenvalues, noise_variance, latent_dim)

    return _run("ppca_scales", fn, cases, judge)


def ess(fn):
    """Notebook 10: fn(log_w (k, N)) -> (N,) the effective sample size (sum w)^2 / sum w^2 of each column,
    computed without exp underflow (float32 log weights near -90, as an MNIST image's, and near -1000)."""
    spread_out = -1000 + 2 * torch.randn(8, generator=torch.Generator().manual_seed(0))
    cases = {
        "k = 8 equal weights (ESS 8)": (torch.full((8, 1), -90.0),),
        "one weight e^20 times the 7 others (ESS about 1)": (torch.tensor([[-70.0]] + [[-90.0]] * 7),),
        "three images, k = 4, in float64: one ESS per column":
            (torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.7, 2.0, 1.0], [1.4, 0.0, -3.0]],
                          dtype=torch.float64),),
        "8 log weights spread around -1000": (spread_out[:, None],),
        "two images 80 nats apart, k = 8, in float32 (as two MNIST images' log weights)":
            (torch.tensor([-34.0, -115.0]) + torch.randn(8, 2, generator=torch.Generator().manual_seed(1)),),
    }
    right = lambda log_w: 1 / torch.softmax(log_w, dim=0).pow(2).sum(dim=0)  # noqa: E731
    scaled = lambda log_w: (log_w - log_w.max(dim=0).values).exp()  # w / the largest: no underflow  # noqa: E731
    wrong_forms = {
        "you returned 1 / ESS, sum w^2 / (sum w)^2: invert it":
            lambda log_w: torch.softmax(log_w, dim=0).pow(2).sum(dim=0),
        "a square is missing: the numerator is (sum w)^2, not sum w":
            lambda log_w: scaled(log_w).sum(dim=0) / scaled(log_w).pow(2).sum(dim=0),
        "a square is missing: the denominator is sum w^2, not sum w":
            lambda log_w: scaled(log_w).sum(dim=0) ** 2 / scaled(log_w).sum(dim=0),
    }
    compare = _compare(right, wrong_forms, "one ESS per image: reduce dim 0 (the k draws), keep the N columns")

    judge = _hint_when_not_finite(right, compare, "You took exp of the log weights first: e^-90 survives in "
                                  "float32, but its square, and e^-1000 itself, underflow to 0, so the ratio is 0/0. "
                                  "Normalise first, each column by its own weights (one max over the whole tensor "
                                  "underflows the columns far below it): torch.softmax(log_w, dim=0) is w / sum w")

    return _run("ess", fn, cases, judge)


def _iw_reference_log_weights(model, x, k, mistake=None):
    """Log weights (k, N) of k reparameterized draws from the encoder's q(z|x), as they should be
    (mistake=None) or with one of iwae_bound's known mistakes: "no prior" (log p(z) left out),
    "no entropy" (- log q(z|x) left out), "variance as std" (z = mu + sigma^2 eps, and q's density
    with that scale too: a valid proposal, but not the encoder's), "detached log q" (mu and sigma cut
    from the graph inside log q(z|x): the same values, the "sticking the landing" gradient)."""
    mu, logvar = model.encode(x)
    log_std = logvar if mistake == "variance as std" else 0.5 * logvar
    eps = torch.randn(k, *mu.shape, dtype=mu.dtype)
    z = mu + log_std.exp() * eps
    log_prior = 0 if mistake == "no prior" else -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=-1)
    log_q = 0 if mistake == "no entropy" else -0.5 * (eps.pow(2) + math.log(2 * math.pi) + 2 * log_std).sum(dim=-1)
    if mistake == "detached log q":
        scaled = (z - mu.detach()) / log_std.detach().exp()  # eps again, but a function of z alone
        log_q = -0.5 * (scaled.pow(2) + math.log(2 * math.pi) + 2 * log_std.detach()).sum(dim=-1)
    return model.log_likelihood(x, z) + log_prior - log_q


def _iw_reference(model, x, k, mistake=None, chunk=2000):
    """(mean, standard error) over the rows of x of L_k, or of a known wrong form of it."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(1234)  # the reference does not depend on the student's draws
    values = []
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            log_w = _iw_reference_log_weights(model, x[start:start + chunk], k, None if mistake == "elbo" else mistake)
            values.append(log_w.mean(dim=0) if mistake == "elbo" else torch.logsumexp(log_w, dim=0) - math.log(k))
    torch.random.set_rng_state(generator_state)
    values = torch.cat(values).double()
    return values.mean().item(), values.std().item() / math.sqrt(len(values))


class _ShiftedPosterior:
    """q(z|x) of the linear-Gaussian checker model: its exact posterior moved by 1 and narrowed to 0.3 of
    its variance, through an offset (to the mean, to log sigma^2) of each row of x, so that one backward
    pass gives every row's gradient of its own L_k estimate: their mean and spread."""

    def __init__(self, model):
        self.model, self.offsets = model, {}

    def offset(self, n):
        if n not in self.offsets:  # one leaf per batch size: the checked batch and the reference's
            self.offsets[n] = torch.tensor([1.0, math.log(0.3)], dtype=torch.float64).repeat(n, 1).requires_grad_()
        return self.offsets[n]

    def __call__(self, x):
        mu, logvar = self.model.posterior(x)
        offset = self.offset(len(x))
        return mu + offset[:, :1], logvar + offset[:, 1:]

    def gradient(self, bounds):
        """Mean and standard error over the rows of the gradient of each row's bound w.r.t. its offset
        (None, None when the bounds do not depend on q's parameters at all)."""
        (rows,) = torch.autograd.grad(bounds.sum(), self.offset(len(bounds)), allow_unused=True)
        return (None, None) if rows is None else (rows.mean(dim=0), rows.std(dim=0) / math.sqrt(len(rows)))


def iwae_bound(fn, n=10_000):
    """Notebook 10: fn(model, x, k) -> (N,) the importance-weighted bound of each row of x, with the
    encoder's q(z|x) as proposal and z drawn by reparameterization (so that gradients reach q):

        L_k = log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_1..z_k ~ q(z|x)

    fn draws its own z, so it is checked by Monte Carlo: x holds n copies of one data point, and the
    mean of fn's n values must equal L_k (from 4 n reference draws) within 6 standard errors, for
    k = 1, 5 and 50, on a linear-Gaussian model whose encoder is deliberately off (its ELBO, L_5 and
    L_50 are nats apart; there the gradient with respect to q's mean and log variance must also be the
    pathwise one, within 6 standard errors), and on two untrained image VAEs: 4x4, and 28x28, whose log
    weights near -540 make exp underflow in float32. One more case alternates two data points whose
    bounds differ: each point's rows are judged on their own, so a bound that mixes rows (a batch mean,
    a (k, N) tensor read as (N, k)) fails. A known wrong form is named when the answer matches it on every
    failed case.
    """
    from .models import VAE
    from .variants import LinearGaussian

    linear = LinearGaussian([2.0, -1.0, 0.5], 0.5, 0.8)
    linear.q = _ShiftedPosterior(linear)
    point = torch.tensor([[1.5, 0.2, 1.0]], dtype=torch.float64)
    torch.manual_seed(10)
    image_vae = VAE((1, 4, 4), latent_dim=2, hidden=8).eval()
    image = torch.bernoulli(torch.full((1, 1, 4, 4), 0.4), generator=torch.Generator().manual_seed(10))
    mnist_sized = VAE((1, 28, 28), latent_dim=2, hidden=8).eval()  # log weights near -540: exp underflows to 0
    digit = torch.bernoulli(torch.full((1, 1, 28, 28), 0.13), generator=torch.Generator().manual_seed(10))
    cases = {f"linear-Gaussian model, k = {k}": (linear, point.expand(n, -1), k) for k in (1, 5, 50)}
    other_point = torch.tensor([[-3.0, 2.0, -2.0]], dtype=torch.float64)
    cases["linear-Gaussian model, two data points in alternate rows, k = 5"] = (
        linear, torch.cat([point, other_point]).repeat(n // 2, 1), 5)  # L_5 = -7.2 and -10.6
    cases["a 4x4 image VAE, k = 5"] = (image_vae, image.expand(n, -1, -1, -1), 5)
    cases["a 28x28 image VAE, k = 5"] = (mnist_sized, digit.expand(n // 10, -1, -1, -1), 5)
    wrong_forms = {
        "same eps": "your k draws are identical (or there is only one): draw eps of shape (k, N, d), k independent "
                    "draws for each row of x",
        "elbo": "you averaged the log weights: that is the ELBO (L_1); take log of the mean of the weights, "
                "logsumexp over the k samples minus log k",
        "no log k": "the - log k is missing: L_k is the log of a mean of k weights, not of their sum",
        "sign": "the sign is flipped: return the bound L_k itself (the loss to minimise is -L_k)",
        "no prior": "log p(z) is missing from the log weight log p(x|z) + log p(z) - log q(z|x)",
        "no entropy": "- log q(z|x) is missing from the log weight log p(x|z) + log p(z) - log q(z|x)",
        "variance as std": "you used sigma^2 = exp(logvar) as the standard deviation; sigma = exp(logvar / 2)",
    }

    def matching_mistakes(model, x, k, mean, error, want, tolerance):
        """The known mistakes this case's answer matches. The report names one only if it matches on every
        failed case: on an untrained image VAE, sigma is near 1 and several wrong forms lie close together."""
        matches = []
        for mistake, why in wrong_forms.items():
            if k == 1 and mistake in ("same eps", "elbo", "no log k"):
                continue  # L_1 is the ELBO, and log 1 = 0: no mistake to see there
            if mistake in ("no log k", "sign"):  # a shift or a mirror image of the right value
                close = abs(mean - (want + math.log(k) if mistake == "no log k" else -want)) < tolerance
            elif mistake == "same eps":  # one log weight per row (minus log k if not repeated k times): the ELBO's
                # mean, with the spread of a single log weight, not the smaller one of the mean of k (the "elbo" form)
                single, single_error = _iw_reference(model, x, 1)
                _, mean_of_k_error = _iw_reference(model, x, k, "elbo")
                close = error > math.sqrt(single_error * mean_of_k_error) and any(
                    abs(mean - value) < 6 * math.hypot(error, single_error) + 1e-4 for value in (single, single - math.log(k)))
            else:
                value, value_error = _iw_reference(model, x, k, mistake)
                close = abs(mean - value) < 6 * math.hypot(error, value_error) + 1e-4
            if close:
                matches.append(why)
        return matches

    def judge(name, got, model, x, k):
        if not isinstance(got, torch.Tensor) or got.shape != (len(x),):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return [(name, False, f"expected one value per row of x, shape ({len(x)},), got {shape}; "
                                  "reduce over the k samples (dim=0) only, not over the examples")]
        _, point_of_row = torch.unique(x.flatten(1), dim=0, return_inverse=True)
        if point_of_row.max() > 0:  # several data points: each point's rows must give that point's bound
            lines = [judge_one_point(f"{name}, point {p + 1}", got[point_of_row == p], model, x[point_of_row == p],
                                     k, hint="the rows mix: row i's L_k must come from row i's own k weights; "
                                             "logsumexp over the k samples, dim=0 of a (k, N) tensor, and no mean "
                                             "over the rows" if not failed else "fix the cases above first")
                     for p in range(point_of_row.max() + 1)]
            return [line[0] for line in lines]
        return judge_one_point(name, got, model, x, k)

    failed = []  # the cases that failed so far: a mistake they name would also spoil the two-point case

    def judge_one_point(name, got, model, x, k, hint=None):
        values = got.detach().double()
        mean, error = values.mean().item(), values.std().item() / math.sqrt(len(values))
        want, want_error = _iw_reference(model, x.repeat(4, *[1] * (x.dim() - 1)), k)
        tolerance = 6 * math.hypot(error, want_error) + 1e-4
        ok, mistakes = abs(mean - want) < tolerance, None
        if ok:
            hint = ""
        elif hint is not None:
            hint = f" ({hint})"
        elif not math.isfinite(mean):
            failed.append(name)
            hint = " (your result is not finite: use torch.logsumexp, not log(sum(exp)))"
        elif values.std().item() < 1e-6 * (1 + abs(mean)):  # x holds n copies of one point: fresh draws differ
            failed.append(name)
            hint = (" (every row got the same value: your draws are shared across the rows of x; draw eps of shape "
                    "(k, N, d), independent for each row and each of the k samples)")
        else:
            failed.append(name)
            hint, mistakes = "", matching_mistakes(model, x, k, mean, error, want, tolerance)
        lines = [(name, ok, f"expected a mean of {want:.3f}, got {mean:.3f} (allowed Monte Carlo error "
                            f"{tolerance:.3f}){hint}", mistakes)]
        if ok and model is linear and len(x) == n:  # the pathwise gradient, as reparameterized draws give it
            test = name + ": its gradient with respect to the mean and log variance of q(z|x)"
            gradient, gradient_error = linear.q.gradient(got) if got.requires_grad else (None, None)
            if gradient is None:
                return lines + [(test, False, "your bound carries no gradient to q(z|x): Normal(...).sample() or "
                                              ".detach() cuts the graph; draw z = mu + sigma * eps")]
            torch.manual_seed(4321)
            reference = torch.logsumexp(_iw_reference_log_weights(model, x.repeat(2, 1), k), dim=0) - math.log(k)
            want_gradient, want_gradient_error = linear.q.gradient(reference)
            close = lambda other, error: bool(((gradient - other).abs() < 6 * torch.hypot(gradient_error, error)).all())
            ok = close(want_gradient, want_gradient_error)
            hint = ("z must carry the gradient to mu and sigma: draw z = mu + sigma * eps with eps = torch.randn(...); "
                    "no q(z|x).sample() and no .detach() on z")
            if not ok:  # the right values with the wrong gradient: is it the one with log q's parameters detached?
                torch.manual_seed(4322)
                detached = _iw_reference_log_weights(model, x.repeat(2, 1), k, "detached log q")
                if close(*linear.q.gradient(torch.logsumexp(detached, dim=0) - math.log(k))):
                    hint = ("you detached mu and sigma inside log q(z|x) (the 'sticking the landing' gradient): the value "
                            "is right, but the gradient of L_k also flows through q's parameters in log q; do not detach them")
            lines.append((test, ok, f"expected {_fmt(want_gradient)}, got {_fmt(gradient)}: {hint}"))
        return lines

    return _run("iwae_bound", fn, cases, judge, seed=0)


# ------------------------------------------------------------------------ notebook 11


def _short(t, most=6):
    """The first `most` numbers of t, enough to see what went wrong."""
    flat = _numbers(t).reshape(-1)
    return _fmt(flat) if len(flat) <= most else _fmt(flat[:most])[:-1] + f", ... ({len(flat)} numbers)]"


def label_planes(fn):
    """Notebook 11: fn(x (N, C, H, W), y (N,) class numbers, num_classes K) -> (N, C + K, H, W): the input of a
    conditional convolutional encoder, x followed by K channels, channel y[i] all ones for image i, the rest 0:

        torch.cat([x, one_hot(y, K) as (N, K, 1, 1), expanded to (N, K, H, W)], dim=1)
    """
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(12)
    cases = {
        "one 1-channel 3 x 3 image of class 2, K = 4": (torch.rand(1, 1, 3, 3, generator=generator), torch.tensor([2]), 4),
        "three 4 x 5 images of classes 0, 3, 1, K = 4": (torch.rand(3, 1, 4, 5, generator=generator), torch.tensor([0, 3, 1]), 4),
        "two 2-channel images of classes 9 and 0, K = 10": (torch.rand(2, 2, 3, 3, generator=generator), torch.tensor([9, 0]), 10),
    }
    planes = lambda y, k, x: F.one_hot(y, k).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])  # noqa: E731
    expected = lambda x, y, k: torch.cat([x, planes(y, k, x)], dim=1)  # noqa: E731
    wrong_forms = {
        "the label channels come first: append them after the image's channels, as ConditionalVAE.encode does":
            lambda x, y, k: torch.cat([planes(y, k, x), x], dim=1),
        "channel y[i] should hold the ones; yours holds them in another channel (one_hot counts classes from 0)":
            lambda x, y, k: torch.cat([x, planes((y + 1) % k, k, x)], dim=1),
    }
    compare = _compare(expected, wrong_forms, "the image's C channels, then K label channels: a one-hot label (F.one_hot), "
                       "not the number y")

    def judge(name, got, x, y, k):  # _compare's report, but the first plane that differs in place of every number
        (name, ok, detail, *mistakes), = compare(name, got, x, y, k)
        if not ok and detail.startswith("expected ["):
            want, got = _numbers(expected(x, y, k)), _numbers(got)
            i, c = (~torch.isclose(got, want, atol=1e-4)).flatten(2).any(-1).nonzero()[0].tolist()
            why = detail[detail.index("]", detail.index("got [")) + 1:]  # the hint, if any, after the numbers
            detail = (f"image {i}, channel {c}{' (a label channel)' if c >= x.shape[1] else ''}: expected "
                      f"{_short(want[i, c], 4)}, got {_short(got[i, c], 4)}{why}")
        return [(name, ok, detail, *mistakes)]

    return _run("label_planes", fn, cases, judge)


def conditional_elbo(fn):
    """Notebook 11: fn(model, x, y, eps) -> (N,) the ELBO of each image x with its label y under a
    ConditionalVAE `model`, at the one sample z = mu + sigma * eps given by the noise `eps` (N, d):

        (mu, log sigma^2) = model.encode(x, y)
        ELBO = log p(x | z, y) - KL(q(z|x,y) || N(0, I)),   log p(x|z,y) from model.decoder([z, one-hot y])
    """
    import torch.nn.functional as F

    from .objectives import log_normal
    from .variants import ConditionalVAE

    torch.manual_seed(13)
    model = ConditionalVAE((1, 6, 6), num_classes=4, latent_dim=3, hidden=16).eval()
    with torch.no_grad():  # log sigma^2 from about -3 to 2, not near 0, and a decoder that heeds z:
        head = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]  # a mistake in sigma costs nats
        head.weight[model.latent_dim:] *= 4
        head.bias[model.latent_dim:] = torch.tensor([-3.0, -0.5, 1.5])
        [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][0].weight[:, :model.latent_dim] *= 4
    generator = torch.Generator().manual_seed(13)

    def case(labels):
        y = torch.tensor(labels)
        x = torch.bernoulli(torch.full((len(y), 1, 6, 6), 0.3), generator=generator)
        return model, x, y, torch.randn(len(y), model.latent_dim, generator=generator)

    cases = {"one image of class 2": case([2]), "three images of classes 0, 3, 1": case([0, 3, 1]),
             "two images of class 1": case([1, 1])}

    def terms(m, x, y, eps, sigma=lambda logvar: (0.5 * logvar).exp(), label_first=False, encoder_label=None,
              decoder_onehot=None, through_sigmoid=False, plus_log_variance=False, kl_variance=None, sampled_kl=False):
        mu, logvar = m.encode(x, y if encoder_label is None else encoder_label(y))
        z, onehot = mu + sigma(logvar) * eps, m.one_hot(y, (len(y),))
        if sampled_kl:  # log q(z|x,y) - log p(z) at the same z: the KL's one-sample estimate (notebook 04)
            zeros = torch.zeros_like(z)
            return terms(m, x, y, eps)[0], log_normal(z, mu, logvar) - log_normal(z, zeros, zeros)
        onehot = onehot if decoder_onehot is None else decoder_onehot(onehot)
        logits = m.decoder(torch.cat([onehot, z] if label_first else [z, onehot], dim=-1))
        logits = logits.sigmoid() if through_sigmoid else logits  # model.decode's probabilities, read as logits
        reconstruction = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
        kl = kl_standard_normal(mu, logvar) + (logvar.sum(dim=-1) if plus_log_variance else 0)  # -1/2 log s^2 -> +1/2
        if kl_variance is not None:  # sigma^2 in the KL computed some other way
            kl = kl + 0.5 * (kl_variance(logvar) - logvar.exp()).sum(dim=-1)
        return reconstruction, kl

    def elbo(*args, **how):
        reconstruction, kl = terms(*args, **how)
        return reconstruction - kl

    wrong_forms = {
        "you returned the loss, minus the ELBO": lambda *a: -elbo(*a),
        "the KL is missing": lambda *a: terms(*a)[0],
        "subtract the KL, do not add it": lambda *a: sum(terms(*a)),
        "the decoder reads z first, then the one-hot label, as ConditionalVAE.decode does":
            lambda *a: elbo(*a, label_first=True),
        "sigma is exp(logvar / 2), not exp(logvar)": lambda *a: elbo(*a, sigma=torch.exp),
        "z must be mu + sigma * eps, the noise given; yours is mu alone": lambda *a: elbo(*a, sigma=torch.zeros_like),
        "the KL needs sigma^2 = exp(logvar); yours has sigma = exp(logvar / 2) in its place":
            lambda *a: elbo(*a, kl_variance=lambda logvar: (0.5 * logvar).exp()),
        "the KL is averaged over latent dimensions: sum it": lambda m, *a: terms(m, *a)[0] - terms(m, *a)[1] / m.latent_dim,
        "the reconstruction is averaged over pixels: sum it, the log-likelihood of the whole image":
            lambda m, x, *a: terms(m, x, *a)[0] / x[0].numel() - terms(m, x, *a)[1],
        "the KL is 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2): log sigma^2 is subtracted, not added":
            lambda *a: elbo(*a, plus_log_variance=True),
        "the KL is 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2): yours lacks the - 1 (it is off by d/2)":
            lambda m, *a: elbo(m, *a) - 0.5 * m.latent_dim,
        "model.decode returns pixel probabilities (after the sigmoid); Bernoulli(logits=...) needs model.decoder's "
        "logits": lambda *a: elbo(*a, through_sigmoid=True),
        "the decoder reads the label: torch.cat([z, model.one_hot(y, (N,))], dim=-1); yours reads zeros in its place":
            lambda *a: elbo(*a, decoder_onehot=torch.zeros_like),
        "the decoder reads each image's own label y; yours reads class 0 for every image":
            lambda *a: elbo(*a, decoder_onehot=lambda onehot: torch.zeros_like(onehot).index_fill(-1, torch.tensor(0), 1)),
        "the encoder reads each image with its own label, model.encode(x, y); yours reads class 0 for every image":
            lambda *a: elbo(*a, encoder_label=torch.zeros_like),
        "yours estimates the KL at the sampled z, log q(z|x,y) - log p(z): right in expectation, but here use notebook "
        "04's closed form, 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2), as cvae.loss does": lambda *a: elbo(*a, sampled_kl=True),
    }
    compare = _compare(elbo, wrong_forms, "one ELBO per image: sum over pixels and latent dimensions, not over the batch",
                       atol=1e-4)

    def judge(name, got, m, x, y, eps):
        (name, ok, detail, *mistakes), = compare(name, got, m, x, y, eps)
        if not ok:  # is eps used? The same arguments must give the same ELBO
            got, again = _numbers(got), _numbers(fn(m, x.clone(), y.clone(), eps.clone()))
            if again.shape != got.shape or not torch.allclose(again, got, rtol=0, atol=0, equal_nan=True):
                detail += " (your result changes from call to call: z = mu + sigma * eps with the `eps` given, not fresh noise)"
            else:  # is y used? Another label must give another ELBO
                try:
                    other = _numbers(fn(m, x.clone(), (y + 1) % m.num_classes, eps.clone()))
                except Exception:  # reported already, if it fails on the cases themselves
                    other = None
                if other is not None and other.shape == got.shape and torch.allclose(other, got, rtol=0, atol=1e-6):
                    detail += " (your ELBO stays the same when the label changes: give y to the encoder and the decoder)"
        return [(name, ok, detail, *mistakes)]

    with torch.inference_mode():
        return _run("conditional_elbo", fn, cases, judge)


def style_transfer(fn):
    """Notebook 11: fn(model, x, source, target) -> images (N, C, H, W): each image x, a member of
    class `source`, redrawn as class `target` in its own style, by a ConditionalVAE `model`.

    Expected: decode(mu, target) with (mu, logvar) = encode(x, source): the style is the code of
    x read with its own label; the decoder is then given the other label.
    """
    from .variants import ConditionalVAE

    torch.manual_seed(11)
    model = ConditionalVAE((1, 6, 6), num_classes=4, latent_dim=3, hidden=16).eval()
    generator = torch.Generator().manual_seed(11)
    image = lambda n: torch.rand(n, 1, 6, 6, generator=generator)
    cases = {
        "one image of class 0 as class 2": (model, image(1), torch.tensor([0]), torch.tensor([2])),
        "three images, three sources, one target": (model, image(3), torch.tensor([0, 1, 3]), torch.tensor([2, 2, 2])),
        "an image as its own class is its reconstruction": (model, image(2), torch.tensor([1, 3]), torch.tensor([1, 3])),
    }
    expected = lambda m, x, s, t: m.decode(m.encode(x, s)[0], t)
    wrong_forms = {
        "you encoded x with the target label; the style is read with x's own label, `source`":
            lambda m, x, s, t: m.decode(m.encode(x, t)[0], t),
        "you decoded with the source label: that redraws x as itself; decode with `target`":
            lambda m, x, s, t: m.decode(m.encode(x, s)[0], s),
        "you decoded z = 0, the prior's mean: that is the average style, not x's; use mu of q(z|x, source)":
            lambda m, x, s, t: m.decode(torch.zeros(len(x), m.latent_dim), t),
        "you decoded log sigma^2 (the second output of encode) instead of the mean mu":
            lambda m, x, s, t: m.decode(m.encode(x, s)[1], t),
    }

    def judge(name, got, m, x, s, t):
        with torch.inference_mode():
            want, got = expected(m, x, s, t), torch.as_tensor(got).detach()
            if got.shape != want.shape:
                return [(name, False, f"expected images of shape {tuple(want.shape)}, got {tuple(got.shape)}")]
            ok = bool(torch.allclose(got, want, atol=1e-5))
            hint = "" if ok else next((why for why, wrong in wrong_forms.items()
                                       if torch.allclose(got, wrong(m, x, s, t), atol=1e-5)), "")
            if not ok and not hint and not torch.allclose(torch.as_tensor(fn(m, x.clone(), s, t)), got):
                hint = "your result changes from call to call: decode the mean mu, not a sample of z"
        return [(name, ok, f"mean absolute difference from the expected images {(got - want).abs().mean().item():.4f}"
                           + (f" ({hint})" if hint else ""))]

    return _run("style_transfer", fn, cases, judge)


def bayes_rule(fn):
    """Notebook 11: fn(log_px_given_y (N, K), log_prior (K,)) -> (log_px (N,), log_posterior (N, K)).

    Bayes' rule in logs, for each image and class c:

        log p(x)     = log sum_c p(c) p(x|c) = logsumexp_c [log p(c) + log p(x|c)]
        log p(c|x)   = log p(c) + log p(x|c) - log p(x)

    computed without leaving log space: an image's log p(x|c) is about -100 nats, and exp(-104)
    is already 0 in float32.
    """
    generator = torch.Generator().manual_seed(11)

    def log_probabilities(*weights):
        w = torch.tensor(weights, dtype=torch.float64)
        return (w / w.sum()).log()

    cases = {
        "3 images, equal likelihoods for both classes: the posterior is the prior (0.8, 0.2)":
            (torch.tensor([[-3.0, -3.0], [-5.0, -5.0], [-1.0, -1.0]], dtype=torch.float64), log_probabilities(0.8, 0.2)),
        "a prior that outweighs the likelihood (class 1 nine times as common)":
            (torch.tensor([[-10.0, -11.0, -20.0]], dtype=torch.float64), log_probabilities(0.05, 0.9, 0.05)),
        "5 images, 10 classes, log p(x|y) near -100 nats in float32, as MNIST's are":
            (torch.randn(5, 10, generator=generator) * 5 - 110, log_probabilities(*range(1, 11)).float()),
        "3 images, 4 classes, log p(x|y) near -1000 nats (exp underflows even in float64)":
            (torch.randn(3, 4, generator=generator, dtype=torch.float64) * 3 - 1000, log_probabilities(1, 2, 3, 4)),
    }
    right = lambda ll, lp: torch.logsumexp(ll + lp, dim=1)  # noqa: E731
    wrong_evidence = {
        "the prior is missing: log p(x) = log sum_c p(c) p(x|c), each p(x|c) weighted by p(c)":
            lambda ll, lp: torch.logsumexp(ll, dim=1),
        "the prior is taken as uniform (minus log K): add log_prior, it need not be uniform":
            lambda ll, lp: torch.logsumexp(ll, dim=1) - math.log(ll.shape[1]),
        "you took the largest term (max), not the sum over classes: use logsumexp":
            lambda ll, lp: (ll + lp).max(dim=1).values,
        "you averaged the log joint over the classes: log p(x) is the log of a sum, use logsumexp":
            lambda ll, lp: (ll + lp).mean(dim=1),
        "you summed over the images (dim=0); sum over the classes (dim=1), one log p(x) per image":
            lambda ll, lp: torch.logsumexp(ll + lp, dim=0),
    }
    wrong_posterior = {
        "the prior is missing from the posterior: normalising p(x|c) alone over the classes is right only when every"
        " class is equally likely; log p(c|x) = log p(c) + log p(x|c) - log p(x)":
            lambda ll, lp: torch.log_softmax(ll, dim=1),
        "the prior is missing from the posterior: you returned log p(x|c) - log p(x); add log p(c), then each image's"
        " posterior sums to 1":
            lambda ll, lp: ll - torch.logsumexp(ll + lp, dim=1, keepdim=True),
        "this is p(c|x), a probability; return its log":
            lambda ll, lp: torch.softmax(ll + lp, dim=1),
        "this is the log joint log p(x, c): subtract log p(x) so that the posterior sums to 1":
            lambda ll, lp: ll + lp,
        "you normalised over the images (dim=0); each image's posterior sums to 1 over the classes (dim=1)":
            lambda ll, lp: torch.log_softmax(ll + lp, dim=0),
    }

    def judge(name, got, ll, lp):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return [(name, False, "return two tensors: (log_px, log_posterior)")]
        lines = []
        for what, want, wrong_forms, shape in (
                ("log p(x)", right(ll, lp), wrong_evidence, "one number per image: reduce over the classes (dim=1)"),
                ("log p(y|x)", ll + lp - right(ll, lp)[:, None], wrong_posterior, "one row of K numbers per image")):
            value = _numbers(got[0] if what == "log p(x)" else got[1])
            want = _numbers(want)
            if value.shape != want.shape:
                lines.append((f"{name}: {what}", False, f"expected shape {tuple(want.shape)}, got {tuple(value.shape)}; {shape}"))
                continue
            def close(other):
                other = _numbers(other)
                return other.shape == value.shape and bool(torch.allclose(value, other, atol=1e-3, rtol=1e-5))

            ok, hint = close(want), ""
            if not ok:
                hint = next((f" ({why})" for why, wrong in wrong_forms.items() if close(wrong(ll, lp))), "")
                if not hint and not torch.isfinite(value).all():
                    hint = (" (not finite: exp of about -100 nats or less is 0 in floating point, and log 0 = -inf;"
                            " stay in logs with torch.logsumexp)")
            lines.append((f"{name}: {what}", ok, f"expected {_short(want)}, got {_short(value)}{hint}"))
        return lines

    return _run("bayes_rule", fn, cases, judge)


def like_for_like(fn):
    """Notebook 11: fn(cvae_elbo (N,), labels (N,), log_prior (K,), vae_elbo (N,)) -> (mean, standard error).

    Each image's gap ELBO(x|y) + log p(y) - ELBO(x), with log p(y) = log_prior[labels]; its mean over the N
    images and the standard error of that mean, sd / sqrt(N), of the per-image gaps: the two models saw the same
    images, so the gaps are paired. Either sd (N - 1 or N in the denominator) passes.
    """
    generator = torch.Generator().manual_seed(11)

    def case(n, weights, spread):
        log_prior = (torch.tensor(weights, dtype=torch.float64) / sum(weights)).log()
        labels = torch.randint(len(weights), (n,), generator=generator)
        shared = torch.randn(n, generator=generator, dtype=torch.float64) * spread - 100  # what both models find hard
        cvae = shared + torch.randn(n, generator=generator, dtype=torch.float64) + 3
        return cvae, labels, log_prior, shared + torch.randn(n, generator=generator, dtype=torch.float64)

    cases = {"4 images, 2 classes (0.8, 0.2)": case(4, [4, 1], 5.0),
             "500 images, 10 classes of unequal size, ELBOs near -100 nats that vary together": case(500, range(1, 11), 20.0)}
    gap = lambda c, y, lp, v, sign=1: c + sign * lp[y] - v  # noqa: E731
    se = lambda g, ddof=1: g.std(correction=ddof) / math.sqrt(len(g))  # noqa: E731
    wrong_forms = {
        "add log p(y) of each image's label: ELBO(x|y) + log p(y) bounds log p(x)":
            lambda c, y, lp, v: gap(c, y, lp, v, sign=0),
        "add log p(y), do not subtract it (it is negative: paying for the label lowers the bound)":
            lambda c, y, lp, v: gap(c, y, lp, v, sign=-1),
        "the gap is the conditional VAE's ELBO(x|y) + log p(y) minus the VAE's ELBO, not the other way round":
            lambda c, y, lp, v: -gap(c, y, lp, v),
        "take log p(y) of each image's own label, log_prior[labels], not an average over the classes":
            lambda c, y, lp, v: c + lp.mean() - v,
    }
    wrong_errors = {
        "pair the images: take the standard error of the per-image gaps, not combine the two models' errors":
            lambda g, c, v: (c.var() / len(c) + v.var() / len(v)).sqrt(),
        "that is the standard deviation of the gaps; the standard error of their mean is sd / sqrt(N)":
            lambda g, c, v: g.std(),
        "the standard error is sd / sqrt(N), not sd / N": lambda g, c, v: g.std() / len(g),
    }

    def judge(name, got, c, y, lp, v):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return [(name, False, "return two numbers: (mean, standard error)")]
        mean, error = (_numbers(value).reshape(-1) for value in got)
        if len(mean) != 1 or len(error) != 1:
            return [(name, False, f"return two single numbers; got {len(mean)} and {len(error)} values: "
                                  "average over the images")]
        g = gap(c, y, lp, v)
        close = lambda a, b: bool(torch.isclose(a, _numbers(b).reshape(-1), atol=1e-4, rtol=1e-5))  # noqa: E731
        mean_ok = close(mean, g.mean())
        error_ok = close(error, se(g)) or close(error, se(g, ddof=0))
        hints = [why for why, wrong in wrong_forms.items() if not mean_ok and close(mean, wrong(c, y, lp, v).mean())]
        hints += [why for why, wrong in wrong_errors.items() if not error_ok and close(error, wrong(g, c, v))]
        detail = (f"expected mean {g.mean().item():.4f}, standard error {se(g).item():.4f}; "
                  f"got {mean.item():.4f}, {error.item():.4f}" + (f" ({hints[0]})" if hints else ""))
        return [(name, mean_ok and error_ok, detail)]

    return _run("like_for_like", fn, cases, judge)
