r"""Two estimators of one gradient: d/d(mu, sigma) of E_q[f(z)], with q = N(mu, sigma^2).

    pathwise (reparameterization):  z = mu + sigma * eps, eps ~ N(0, 1), then the chain rule
        d/dmu E[f(z)] = E[f'(z)],             d/dsigma E[f(z)] = E[f'(z) eps]
    score function (REINFORCE):     f(z) times the gradient of log q(z)
        d/dmu E[f(z)] = E[f(z) eps / sigma],  d/dsigma E[f(z)]: E[f(z) d log q(z)/d sigma], which
        notebook 03's Exercise 2 derives (the code below gives it away)

Both are unbiased. The pathwise one needs f'; the score function usually has the larger variance,
one that grows with the size of f less any baseline b subtracted from it, constant offsets in f
included (Mohamed et al. 2020), which is why a VAE samples z with the reparameterization trick.
Each function returns one estimate per draw of eps; their mean is the estimate, their spread its noise.
The last section (notebook 04) trains one VAE with each of several losses, such as Kingma & Welling's
estimators A and B of the ELBO, and measures the noise of the encoder's gradient.
"""

import copy
import inspect

import torch

from .data import binarize
from .models import VAE
from .objectives import elbo


def pathwise_gradients(f, mu, sigma, eps):
    """Per-sample reparameterization gradients of f(z), z = mu + sigma * eps, w.r.t. (mu, sigma).

    d f/d mu = f'(z) and d f/d sigma = f'(z) * eps: the chain rule through z, which exists
    because z is a differentiable function of mu and sigma (autograd gives f').
    """
    z = (mu + sigma * eps).requires_grad_(True)
    (f_prime,) = torch.autograd.grad(f(z).sum(), z)
    return f_prime, f_prime * eps


def score_function_gradients(f, mu, sigma, eps, baseline=0.0):
    """Per-sample score-function (REINFORCE) gradients: (f(z) - b) times d log q(z)/d (mu, sigma).

    For q = N(mu, sigma^2): d log q/d mu = (z - mu)/sigma^2 = eps/sigma; d log q/d sigma is notebook
    03's Exercise 2 (derive it before you read the code).
    It needs no derivative of f, and usually pays for that with a larger variance, one that grows
    with the size of f - b, a constant offset in f included (the pathwise variance for mu is instead
    the spread of f' under q; for sigma, that of f'(z) eps).
    baseline b: a number, or a tensor broadcastable to f's values (one per coordinate of z
    allowed), that does not depend on the eps it multiplies. The score has mean 0,
    E[d log q/d theta] = 0, so subtracting b leaves the mean unchanged. An estimate of E f
    (leave_one_out_mean) removes f's mean; the terms of f without this coordinate remove their
    noise too.
    """
    value = f(mu + sigma * eps) - baseline
    return value * eps / sigma, value * (eps**2 - 1) / sigma


def leave_one_out_mean(values, dim):
    """For each sample along `dim`, the mean of the *other* samples: a baseline that estimates E f
    and, not depending on the sample itself, keeps the score-function estimator unbiased. It
    removes f's mean, not the fluctuations of the parts of f that do not depend on the parameter.

        b_i = (sum_j values_j - values_i) / (n - 1)
    """
    n = values.shape[dim]
    if n < 2:
        raise ValueError(f"a leave-one-out mean needs at least 2 samples along dim {dim}, got {n}")
    return (values.sum(dim=dim, keepdim=True) - values) / (n - 1)


# ------------------------------------------------------------------ for notebook 03's experiments


def show(function, left_out=None, note="your exercise"):
    """Print a function's code with its docstring cut to the first line; the line part `left_out`,
    if given, is printed as `...  # note` (an exercise's answer stays hidden)."""
    source = inspect.getsource(function)
    source = source.replace(function.__doc__, function.__doc__.strip().split("\n")[0])
    if left_out is not None:
        if left_out not in source:
            raise ValueError(f"{left_out!r} is not in {function.__name__}")
        source = source.replace(left_out, f"...  # {note}")
    print(source)


def mean_estimates(estimator, f, mu, sigma, eps, baseline=None):
    r"""Repeated n-sample estimates of d/dmu E[f(z)], z = mu + sigma * eps: one per row of eps.

    eps: (repeats, n) draws for a scalar z, or (repeats, n, d) for z in R^d, then the estimates are
    of d/dmu_1 (the first coordinate). Row r gives

        estimate_r = (1/n) sum_j g(eps_rj),  g = f'(z) (pathwise) or (f(z) - b) eps / sigma (score function)

    The mean of the estimates shows the estimator's bias, their variance its noise at this n.
    baseline: None, or a function of the samples z giving b (score function only), e.g.
    lambda z: leave_one_out_mean(f(z), dim=-2).
    """
    options = {} if baseline is None else {"baseline": baseline(mu + sigma * eps)}
    per_draw = estimator(f, mu, sigma, eps, **options)[0]
    return (per_draw[..., 0] if eps.dim() == 3 else per_draw).mean(dim=1)


def unbiased(estimates, exact, standard_errors=5):
    r"""Whether independent estimates average to `exact`: |mean - exact| < k standard errors, k = standard_errors.

        |mean - exact| < k * std / sqrt(number of estimates)

    With k = 5 an unbiased estimator fails about once in 1.7 million runs; a bias of more than
    about 5 standard errors fails nearly always.
    """
    spread = estimates.std().item() / len(estimates) ** 0.5
    return abs(estimates.mean().item() - exact) < standard_errors * spread


def gradient_ascent(estimator, f, mu, sigma, step_size, steps, n, generator, baseline=None):
    r"""Stochastic gradient ascent on mu for E[f(z)], z ~ N(mu, sigma^2 I): at each step n fresh draws eps_j and

        mu <- mu + step_size * (1/n) sum_j g(eps_j),   g: the estimator's per-draw d/dmu

    baseline: None, or a function of the step's samples z giving b (score function only).
    Returns the mu before the first step and after each step.
    """
    path = [mu]
    for _ in range(steps):
        eps = torch.randn(n, *mu.shape, generator=generator, dtype=mu.dtype)
        options = {} if baseline is None else {"baseline": baseline(mu + sigma * eps)}
        mu = mu + step_size * estimator(f, mu, sigma, eps, **options)[0].mean(dim=0)
        path.append(mu)
    return path


# ------------------------------------------------------------------ for notebook 04's experiment


def encoder_gradient_variance(loss, model, x, draws=10, seed=0):
    r"""The noise of a sampled loss's gradient in the encoder's weights, on the batch x:

        sum over the encoder's weights w of  Var_eps[ d/dw mean(loss(model, x)) ]

    (the trace of the gradient's covariance), from `draws` gradients, each with its own draws of eps.
    loss(model, x) -> one loss per image. The global random state is left as it was.
    """
    weights = list(model.encoder.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grads = [torch.autograd.grad(loss(model, x).mean(), weights) for _ in range(draws)]
    return sum(torch.stack(per_weight).var(dim=0).sum() for per_weight in zip(*grads)).item()


def train_with_each(losses, data, test_images, steps, every=50, batch_size=128, lr=1e-3, seed=0):
    r"""Train one copy of the same untrained VAE per loss in `losses` ({name: loss(model, x) -> one loss
    per image}), with Adam, all on the same batches (binarized as fit does) and the same draws of eps.
    Every `every` steps each run records

        test_loss          the negative ELBO of test_images with the closed-form KL, its reconstruction
                           term at one fixed eps per image: the same measure for every run
        test_losses        the same, per test image (a list): the runs' differences can be paired
        gradient_variance  encoder_gradient_variance of the run's own loss, on one fixed batch of
                           training images, at the run's weights
        gradient_variance_by_loss  {loss name: [...]}: the same for every loss in `losses`, all at
                           this run's weights (like for like: each loss's noise at the same weights)

    Returns {name: {"step": [...], "test_loss": [...], "test_losses": [...], "gradient_variance": [...],
    "gradient_variance_by_loss": {name: [...]}}}.
    """
    torch.manual_seed(seed)
    start = VAE(data.image_shape)
    probe = binarize(data.train[:batch_size], torch.Generator().manual_seed(seed))  # the fixed batch
    runs = {}
    for name, loss in losses.items():
        model, batches = copy.deepcopy(start), torch.Generator().manual_seed(seed)  # the same batches
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        torch.manual_seed(seed + 1)  # the same eps in every run
        run = runs[name] = {"step": [], "test_loss": [], "test_losses": [], "gradient_variance": [],
                            "gradient_variance_by_loss": {other: [] for other in losses}}
        for step in range(steps + 1):
            if step % every == 0 or step == steps:
                with torch.no_grad():
                    terms = elbo(model, test_images, generator=torch.Generator().manual_seed(seed))
                run["step"].append(step)
                run["test_loss"].append(-terms.elbo.mean().item())
                run["test_losses"].append((-terms.elbo).tolist())
                for other, other_loss in losses.items():
                    run["gradient_variance_by_loss"][other].append(
                        encoder_gradient_variance(other_loss, model, probe, seed=seed))
                run["gradient_variance"].append(run["gradient_variance_by_loss"][name][-1])
            if step < steps:
                images = data.train[torch.randint(len(data.train), (batch_size,), generator=batches)]
                optimizer.zero_grad(set_to_none=True)
                loss(model, binarize(images, batches)).mean().backward()
                optimizer.step()
    return runs
