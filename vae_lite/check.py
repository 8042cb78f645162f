"""Checkers for the notebooks' exercises: run your function on known cases and say what is wrong.

Each checker prints one line per case (passed, or expected vs got and a hint) and returns
True when every case passed, False when one failed, and None when the function still
raises NotImplementedError ("not attempted yet"), so a notebook runs top to bottom either way.

    notebook 01  nearest_code_distance(samples, codes)
    notebook 02  elbo_monte_carlo(x, mu_q, sigma_q, n)        for the linear-Gaussian toy model
    notebook 03  reparameterize(mu, logvar); score_function_gradient(f, mu, sigma, n)
    notebook 04  kl_closed_form(mu, logvar)
    notebook 05  vae_loss(logits, x, mu, logvar)
    notebook 06  active_unit_count(mu, threshold)
    notebook 07  log_mean_exp(log_weights)
    notebook 11  style_transfer(model, x, source, target); bayes_rule(log_px_given_y, log_prior)

Every checker is _run (the loop over cases) with a judge; most judges are _compare: the
right value, and the known wrong forms it names when an answer equals one of them.
"""

import math

import torch

from .objectives import kl_standard_normal

TOY_MODEL = dict(w=2.0, b=0.5, s=0.8)  # the linear-Gaussian model the notebook 02 exercise uses


class _Report:
    """Collects one line per case and prints them with a summary."""

    def __init__(self, title):
        self.title, self.lines, self.failed = title, [], 0

    def case(self, name, ok, detail=""):
        self.lines.append(("  passed  " if ok else "  FAILED  ") + name + ("" if ok else f": {detail}"))
        self.failed += not ok
        return ok

    def finish(self):
        print(f"{self.title}: " + ("all cases passed." if not self.failed else f"{self.failed} case(s) failed."))
        print("\n".join(self.lines))
        return not self.failed


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


def _compare(expected, wrong_forms, shape_hint, atol=1e-4, monte_carlo_error=None):
    """A judge for _run: the answer must equal expected(*args); if it does not, name the first known
    wrong form (wrong_forms: {why: function of the same args}) that it equals.

    monte_carlo_error(*args): the allowed error of a Monte Carlo estimate, in place of atol.
    """

    def judge(name, got, *args):
        want, got = _numbers(expected(*args)), _numbers(got)
        if want.numel() == got.numel() == 1:
            got = got.reshape(want.shape)  # one number is one number, whatever its shape
        if got.shape != want.shape:
            return [(name, False, f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}; {shape_hint}")]
        tolerance = atol if monte_carlo_error is None else monte_carlo_error(*args)
        equal = lambda value: value.shape == got.shape and bool(torch.allclose(got, value, atol=tolerance, rtol=1e-5))
        ok, hint = equal(want), ""
        if not ok and not torch.isfinite(got).all():
            hint = " (your result is not finite: see the hint in the exercise)"
        if not ok:
            hint = next((f" ({why})" for why, wrong in wrong_forms.items() if equal(_numbers(wrong(*args)))), hint)
        allowed = "" if monte_carlo_error is None else f", allowed Monte Carlo error {tolerance:.4f}"
        return [(name, ok, f"expected {_fmt(want)}, got {_fmt(got)}{allowed}{hint}")]

    return judge


def _numbers(values):
    return torch.as_tensor(values, dtype=torch.float64).detach()


def _fmt(t):
    t = _numbers(t)
    return f"{t.item():.4f}" if t.numel() == 1 else "[" + ", ".join(f"{v:.4f}" for v in t.reshape(-1).tolist()) + "]"


# ------------------------------------------------------------------------ notebook 01


def nearest_code_distance(fn):
    """fn(samples (M, d), codes (N, d)) -> (M,) Euclidean distance from each sample to its nearest code."""
    generator = torch.Generator().manual_seed(1)
    cases = {
        "one sample, three codes": (torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0], [-2.0, 0.0]])),
        "a sample equal to a code is at distance 0": (torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
        "20 samples, 50 codes in 5 dimensions": (torch.randn(20, 5, generator=generator), torch.randn(50, 5, generator=generator)),
    }
    nearest = lambda samples, codes: torch.cdist(samples, codes).min(dim=1).values
    wrong_forms = {
        "these are squared distances; take the square root": lambda samples, codes: nearest(samples, codes) ** 2,
        "this is the distance to the farthest code; take the minimum": lambda s_, c: torch.cdist(s_, c).max(dim=1).values,
    }
    return _run("nearest_code_distance", fn, cases, _compare(
        nearest, wrong_forms, "one distance per sample: take the minimum over the codes (dim=1)"))


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


def _toy_log_weight_std(x, mu_q, sigma_q, n=100_000):
    """The standard deviation of one sample of log p(x, z) - log q(z), z ~ q, estimated by sampling."""
    w, b, s = TOY_MODEL["w"], TOY_MODEL["b"], TOY_MODEL["s"]
    z = mu_q + sigma_q * torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_joint = -0.5 * z**2 - 0.5 * ((x - w * z - b) / s) ** 2 - math.log(s)
    log_q = -0.5 * ((z - mu_q) / sigma_q) ** 2 - math.log(sigma_q)
    return (log_joint - log_q).std().item()


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
    }
    exact = lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q)
    entropy = lambda sigma_q: 0.5 * math.log(2 * math.pi * math.e * sigma_q**2)
    wrong_forms = {
        "the sign is flipped: ELBO = E_q[log p(x,z) - log q(z)]": lambda *args: -exact(*args),
        "the - log q(z) term is missing: E_q[log p(x,z)] alone is not the ELBO":
            lambda x, mu_q, sigma_q, n: toy_elbo_exact(x, mu_q, sigma_q) - entropy(sigma_q),
    }

    def monte_carlo_error(x, mu_q, sigma_q, n):
        # 6 standard errors of an n-sample average: a right answer fails about once in 500 million runs
        return max(6 * _toy_log_weight_std(x, mu_q, sigma_q) / math.sqrt(n), 1e-3)  # floor: float32 rounding

    return _run("elbo_monte_carlo", fn, cases, _compare(exact, wrong_forms, "average over the samples",
                                                        monte_carlo_error=monte_carlo_error), seed=0)


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


def _step(z):
    """1 where z > 0, else 0: its derivative is 0 almost everywhere."""
    return (z > 0).to(z.dtype)


# d/dmu E[f(z)], z ~ N(mu, sigma^2), in closed form
_EXACT_GRADIENT = {
    torch.sin: lambda mu, sigma: math.cos(mu) * math.exp(-sigma**2 / 2),  # E[sin z] = sin(mu) exp(-sigma^2/2)
    _step: lambda mu, sigma: math.exp(-0.5 * (mu / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)),  # P(z > 0)' = N(0; mu, sigma^2)
}


def score_function_gradient(fn, n=200_000):
    """fn(f, mu, sigma, n) -> the score-function (REINFORCE) estimate of d/dmu E[f(z)], z ~ N(mu, sigma^2).

    Checked on f(z) = sin(z) and on a step f(z) = 1 if z > 0 else 0, which has no useful
    derivative: the pathwise estimator gives 0 there, the score function still works.
    """
    cases = {
        "f = sin, mu = 0.5, sigma = 1": (torch.sin, 0.5, 1.0, n),
        "f = sin, mu = -1, sigma = 0.5": (torch.sin, -1.0, 0.5, n),
        "f = step (z > 0), mu = 0.3, sigma = 1.5": (_step, 0.3, 1.5, n),
    }
    exact = lambda f, mu, sigma, n: _EXACT_GRADIENT[f](mu, sigma)
    wrong_forms = {
        "0 is what the pathwise estimator gives for a step function: use f(z) * d log q(z) / d mu":
            lambda f, mu, sigma, n: 0.0,
        "off by a factor sigma: d log q / d mu = (z - mu) / sigma^2": lambda f, mu, sigma, n: exact(f, mu, sigma, n) * sigma,
    }
    # |f| <= 1, so one sample's estimate f(z)(z - mu)/sigma^2 has a standard deviation below 1/sigma
    monte_carlo_error = lambda f, mu, sigma, n: 6 / (sigma * math.sqrt(n))
    return _run("score_function_gradient", fn, cases, _compare(
        exact, wrong_forms, "average over the samples", monte_carlo_error=monte_carlo_error), seed=0)


# ------------------------------------------------------------------------ notebook 04


def kl_closed_form(fn):
    """fn(mu, logvar) -> KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over the last dimension."""
    cases = {
        "q equals the prior (mu = 0, sigma = 1)": ([[0.0]], [[0.0]]),
        "mu = 1, sigma = 1": ([[1.0]], [[0.0]]),
        "mu = 0, sigma = 2": ([[0.0]], [[math.log(4.0)]]),
        "mu = 0, sigma = 0.5": ([[0.0]], [[math.log(0.25)]]),
        "3 dimensions, summed": ([[0.5, -1.0, 2.0]], [[0.3, -0.7, 1.2]]),
        "a batch of 2 examples": ([[0.5, -1.0], [0.0, 2.0]], [[0.3, -0.7], [0.0, -1.0]]),
    }
    cases = {name: (torch.tensor(m, dtype=torch.float64), torch.tensor(lv, dtype=torch.float64))
             for name, (m, lv) in cases.items()}
    wrong_forms = {
        "the sign is flipped: KL = +1/2 (mu^2 + sigma^2 - log sigma^2 - 1), never negative":
            lambda m, lv: -kl_standard_normal(m, lv),
        "you used sigma where sigma^2 belongs: sigma^2 = exp(logvar), log sigma^2 = logvar":
            lambda m, lv: 0.5 * (m.pow(2) + (0.5 * lv).exp() - 0.5 * lv - 1).sum(-1),
        "you averaged over the latent dimensions; the KL of a diagonal Gaussian is their sum":
            lambda m, lv: kl_standard_normal(m, lv) / m.shape[-1],
        "the factor 1/2 is missing": lambda m, lv: 2 * kl_standard_normal(m, lv),
    }
    return _run("kl_closed_form", fn, cases, _compare(
        kl_standard_normal, wrong_forms, "one KL per example: sum over the last dimension only", atol=1e-5))


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
    }
    return _run("vae_loss", fn, cases, _compare(
        lambda lg, x, m, lv: bce(lg, x) + kl_standard_normal(m, lv), wrong_forms,
        "return one loss per image: sum over pixels and latent dimensions, not over the batch"))


# ------------------------------------------------------------------------ notebook 06


def active_unit_count(fn):
    """fn(mu, threshold) -> how many columns of mu (N, d) have a variance over
    the N images above threshold (Burda et al.'s active units)."""
    generator = torch.Generator().manual_seed(6)
    scales = torch.tensor([2.0, 0.5, 0.2, 0.08, 0.05, 0.001], dtype=torch.float64)
    mu = torch.randn(500, 6, generator=generator, dtype=torch.float64) * scales + torch.tensor([0, 3, 0, 0.5, 0, 1.0])
    cases = {
        "6 dimensions with different spreads, threshold 0.01": (mu, 0.01),
        "the same, threshold 0.1": (mu, 0.1),
        "every dimension constant: none active": (torch.ones(50, 4, dtype=torch.float64), 0.01),
    }
    count = lambda m, t: float((m.var(dim=0) > t).sum())
    wrong_forms = {
        "you used the standard deviation; the criterion is the variance Cov_x(E[z_d|x])":
            lambda m, t: float((m.std(dim=0) > t).sum()),
        "you took the variance over the dimensions of one image (dim=1); take it over the images (dim=0)":
            lambda m, t: float((m.var(dim=1) > t).sum()),
        "you compared the mean of mu with the threshold; activity is how much mu varies across images":
            lambda m, t: float((m.mean(dim=0).abs() > t).sum()),
    }
    return _run("active_unit_count", lambda m, t: float(fn(m, t)), cases,
                _compare(count, wrong_forms, "return a single number", atol=1e-9))


# ------------------------------------------------------------------------ notebook 07


def log_mean_exp(fn):
    """fn(log_weights (k, N)) -> (N,) log(1/k sum_i exp(log_weights[i])), computed stably."""
    generator = torch.Generator().manual_seed(7)
    cases = {
        "k = 2, one image": (torch.tensor([[0.0], [math.log(3.0)]], dtype=torch.float64),),
        "k = 10, 3 images": (torch.randn(10, 3, generator=generator, dtype=torch.float64),),
        "log weights near -1000, like real images (exp underflows to 0)":
            (torch.randn(50, 4, generator=generator, dtype=torch.float64) * 3 - 1000,),
    }
    expected = lambda w: torch.logsumexp(w, dim=0) - math.log(len(w))
    wrong_forms = {
        "you averaged the log weights: that is the ELBO estimate, the k = 1 bound averaged, not log p(x)":
            lambda w: w.mean(dim=0),
        "the - log k is missing: it is the log of a mean, not of a sum": lambda w: torch.logsumexp(w, dim=0),
        "you reduced over the images (dim=1); reduce over the k samples (dim=0)":
            lambda w: torch.logsumexp(w, dim=1) - math.log(w.shape[1]),
    }
    return _run("log_mean_exp", fn, cases, _compare(
        expected, wrong_forms, "return one value per image: reduce over the k samples (dim=0)", atol=1e-6))


# ------------------------------------------------------------------------ notebook 06


def effective_beta(fn):
    """Notebook 06: fn(reconstruction, kl, pixels, latent_dim) -> the beta of the summed objective.

    reconstruction and kl are "sum" or "mean": how a loss reduces each term over one image.
    A loss rec_sum / a + kl_sum / b (a = pixels if the reconstruction is averaged, else 1;
    b = latent_dim if the KL is averaged, else 1) is (rec_sum + (a / b) kl_sum) / a: the
    negative beta-ELBO with beta = a / b, divided by a.
    """
    def beta(reconstruction, kl, pixels, latent_dim):
        return (pixels if reconstruction == "mean" else 1) / (latent_dim if kl == "mean" else 1)

    cases = {f"reconstruction {r}, KL {k}, {p} pixels, {d} latent dimensions": (r, k, p, d)
             for r, k, p, d in [("mean", "sum", 784, 20), ("sum", "mean", 784, 20), ("mean", "mean", 784, 20),
                                ("sum", "sum", 784, 20), ("mean", "sum", 64, 8)]}
    wrong_forms = {
        "upside down: averaging the reconstruction shrinks it, so the KL weighs MORE, not less":
            lambda r, k, p, d: 1 / beta(r, k, p, d),
        "averaging is not just a change of scale when only one term is averaged: it reweights the KL":
            lambda r, k, p, d: 1.0,
    }
    return _run("effective_beta", lambda *args: float(fn(*args)), cases,
                _compare(beta, wrong_forms, "return a single number", atol=1e-9))


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
        "the constant -1/2 log(2 pi) per pixel is missing (it matters when comparing with other models)":
            lambda x, m, lv: pixels(-0.5 * lv - (x - m) ** 2 / (2 * lv.exp())),
        "you averaged over the pixels; a log-likelihood of an image sums them":
            lambda x, m, lv: (-0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * lv.exp())).mean(dim=(-3, -2, -1)),
        "this is the negative log-likelihood (a loss); the sign is flipped": lambda x, m, lv: -right(x, m, lv),
    }
    return _run("gaussian_decoder_log_likelihood", fn, cases, _compare(
        right, wrong_forms, "return one number per image: sum over the pixels (the last three dimensions)", atol=1e-6))


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
    return _run("ppca_scales", fn, cases, _compare(
        expected, wrong_forms, "return one length per latent dimension (latent_dim numbers)", atol=1e-6))


# ------------------------------------------------------------------------ notebook 11


def style_transfer(fn):
    """Notebook 11: fn(model, x, source, target) -> images (N, C, H, W): each image x, a member of
    class `source`, redrawn as class `target` in its own style, by a ConditionalVAE `model`.

    Expected: decode(mu, target) with (mu, logvar) = encode(x, source): the style is the code of
    x read with its own label; the decoder is then given the other label.
    """
    from .models import ConditionalVAE

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
        "equal likelihoods: the posterior is the prior (0.8, 0.2)":
            (torch.tensor([[-3.0, -3.0]], dtype=torch.float64), log_probabilities(0.8, 0.2)),
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
        "the prior is missing from the posterior: log p(c|x) = log p(c) + log p(x|c) - log p(x)":
            lambda ll, lp: torch.log_softmax(ll, dim=1),
        "this is p(c|x), a probability; return its log":
            lambda ll, lp: torch.softmax(ll + lp, dim=1),
        "this is the log joint log p(x, c): subtract log p(x) so that the posterior sums to 1":
            lambda ll, lp: ll + lp,
        "you normalised over the images (dim=0); each image's posterior sums to 1 over the classes (dim=1)":
            lambda ll, lp: torch.log_softmax(ll + lp, dim=0),
    }

    def short(t, most=6):
        """The first `most` numbers of t, enough to see what went wrong."""
        flat = t.reshape(-1)
        return _fmt(flat) if len(flat) <= most else _fmt(flat[:most])[:-1] + f", ... ({len(flat)} numbers)]"

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
            lines.append((f"{name}: {what}", ok, f"expected {short(want)}, got {short(value)}{hint}"))
        return lines

    return _run("bayes_rule", fn, cases, judge)
