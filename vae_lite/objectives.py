r"""The VAE's objective, term by term, in nats.

    log p(x) >= ELBO = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))
                       \____ reconstruction ___/   \____ kl ____/

The loss to minimise is the *negative* ELBO: reconstruction error PLUS the KL.
Every function here returns one number per example (summed over pixels and latent
dimensions, never averaged over them), so that the KL weight is exactly `beta`.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .support import in_chunks

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu, logvar, generator=None):
    """z = mu + sigma * eps with eps ~ N(0, I): a sample that gradients flow through."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_standard_normal(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over the latent dimensions.

    Per dimension: 1/2 (mu^2 + sigma^2 - log sigma^2 - 1).
    """
    # expm1(logvar) is sigma^2 - 1 without the rounding of exp(logvar) - 1, which near N(0, I)
    # can make the KL a tiny negative number (-3e-8 in float32)
    return 0.5 * (mu.pow(2) + logvar.expm1() - logvar).sum(dim=-1)


def kl_normal(mu_q, logvar_q, mu_p, logvar_p):
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) for diagonal Gaussians, summed over dimensions.

    A KL does not change when both distributions are shifted and scaled alike. Shifting by
    -mu_p and dividing by sigma_p turns p into N(0, I) and q into N((mu_q - mu_p) / sigma_p,
    sigma_q^2 / sigma_p^2), so this is the KL to the standard normal, of those.
    """
    return kl_standard_normal((mu_q - mu_p) * torch.exp(-0.5 * logvar_p), logvar_q - logvar_p)


def log_normal(x, mu, logvar):
    """log N(x; mu, sigma^2) = -1/2 sum_j (log 2 pi + log sigma_j^2 + (x_j - mu_j)^2 / sigma_j^2),
    summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(dim=-1)


def bernoulli_log_likelihood(logits, x):
    """log p(x|z) for a Bernoulli decoder, summed over pixels (the last three dimensions):

        log p(x|z) = sum_i x_i log p_i + (1 - x_i) log(1 - p_i),   p = sigmoid(logits)

    This is minus the binary cross-entropy. It is a true log-likelihood only when x is
    binary (0 or 1); on grey-scale images it is just a loss.
    """
    return -F.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none"
    ).sum(dim=(-3, -2, -1))


def gaussian_log_likelihood(mean, x, log_std):
    """log p(x|z) for a Gaussian decoder N(mean, std^2), summed over pixels.

    With a fixed std this is -||x - mean||^2 / (2 std^2) + const: squared error is a
    Gaussian log-likelihood whose scale 1/(2 std^2) acts as an implicit KL weight.
    """
    log_std = torch.as_tensor(log_std, dtype=mean.dtype, device=mean.device)
    per_pixel = -0.5 * LOG_2PI - log_std - 0.5 * ((x - mean) / log_std.exp()).pow(2)
    return per_pixel.sum(dim=(-3, -2, -1))


class ELBO(NamedTuple):
    """Per-example terms, in nats: elbo = reconstruction - beta * kl."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def elbo(model, x, beta=1.0, samples=1, generator=None, y=None):
    """The evidence lower bound of each example in x, and its two terms:

        ELBO = E_q(z|x)[log p(x|z)] - KL(q(z|x) || N(0, I))

    `reconstruction` is a Monte Carlo estimate of E_q[log p(x|z)] with `samples` draws of z;
    `kl` is exact. With beta != 1 the `elbo` field is the beta-weighted objective
    reconstruction - beta * kl, which is a bound on log p(x) only for beta >= 1.
    y: the labels, for a conditional model (q(z|x, y) and p(x|z, y)).
    """
    labels = () if y is None else (y,)
    mu, logvar = model.encode(x, *labels)  # (N, d) each
    z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *logvar.shape), generator)  # (samples, N, d)
    reconstruction = model.log_likelihood(x, z, *labels).mean(dim=0)  # (samples, N) -> (N,)
    kl = kl_standard_normal(mu, logvar)  # (N,)
    return ELBO(reconstruction - beta * kl, reconstruction, kl)


# ----------------------------------------------------- the importance-weighted estimate of log p(x)


def log_joint(model, x, z, y=None):
    """log p(x, z) = log p(x|z) + log N(z; 0, I) for z of shape (k, N, d): shape (k, N)."""
    labels = () if y is None else (y,)
    zeros = torch.zeros_like(z)
    return model.log_likelihood(x, z, *labels) + log_normal(z, zeros, zeros)


def log_weights(model, x, k, generator=None, y=None):
    """The log importance weights of k draws z_i ~ q(z|x) for each example: shape (k, N).

        log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)

    Their mean is a Monte Carlo estimate of the ELBO; the log of the mean of the w_i estimates
    log p(x) (iw_log_likelihood). y: the labels, for a conditional model.
    """
    mu, logvar = model.encode(x) if y is None else model.encode(x, y)  # (N, d) each
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # (k, N, d)
    return log_joint(model, x, z, y) - log_normal(z, mu, logvar)


def iw_bound(log_w):
    r"""The importance-weighted bound from (k, N) log weights, one value per example:

        L_k = log 1/k sum_i w_i  =  logsumexp_i(log w_i) - log k

    L_1 is the ELBO; L_k grows with k towards log p(x) (Burda et al., 2015).
    """
    return torch.logsumexp(log_w, dim=0) - math.log(len(log_w))


def iw_log_likelihood(model, x, k=5000, batch_size=None, max_elements=2**23, generator=None, y=None):
    """Importance-weighted estimate of log p(x) (Burda et al., 2015), one value per example:

        log p(x) ~= L_k = log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

    A lower bound on log p(x) in expectation that tightens as k grows (k = 1 is the ELBO).
    The (k, N) log weights are computed in pieces of at most `batch_size` examples and about
    `max_elements` numbers (support.in_chunks: memory, not maths).
    """
    with torch.inference_mode():
        log_w = lambda xb, n, yb: log_weights(model, xb, n, generator, yb)  # noqa: E731
        return in_chunks(log_w, iw_bound, torch.as_tensor(x), k, y, batch_size, max_elements)


# ----------------------------------------------------- notebook 10: where the bound is loose


def gaussian_log_weights(model, x, mu, logvar, k, generator=None, y=None):
    r"""Log importance weights of k draws from any Gaussian proposal q = N(mu, diag(exp(logvar))):

        log w_i = log p(x, z_i) - log q(z_i),   z_i ~ q,   i = 1..k

    Returns a (k, N) tensor; gradients flow through z_i (reparameterized). The encoder's q(z|x)
    is the proposal of log_weights; notebook 10 fits a better one per image (best_gaussian).
    """
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # (k, N, d)
    return log_joint(model, x, z, y) - log_normal(z, mu, logvar)


def mixture_log_weights(model, x, proposals, k, generator=None, y=None):
    r"""Log importance weights of k draws, k / M from each of the M Gaussians (mu_m, logvar_m) in
    `proposals`, each weighted against their equal mixture (a "defensive" mixture, Hesterberg 1995):

        log w_i = log p(x, z_i) - log (1/M sum_m N(z_i; mu_m, sigma_m^2))

    No weight exceeds M times the smallest weight a single proposal would give it, and the mean
    of the w_i is still unbiased for p(x). With one proposal this is gaussian_log_weights. (k, N)
    """
    m = len(proposals)
    if k % m:
        raise ValueError(f"k={k} samples cannot be shared equally among {m} proposals; use a multiple of {m}")
    z = torch.cat([reparameterize(mu.expand(k // m, *mu.shape), logvar.expand(k // m, *logvar.shape), generator)
                   for mu, logvar in proposals])  # (k, N, d)
    log_q = torch.stack([log_normal(z, mu, logvar) for mu, logvar in proposals]).logsumexp(dim=0) - math.log(m)
    return log_joint(model, x, z, y) - log_q


def iwae_bound(model, x, k=5, generator=None):
    """L_k of each example with the encoder as proposal: the IWAE's objective (differentiable)."""
    return iw_bound(log_weights(model, x, k, generator))


def effective_sample_size(log_w):
    r"""Kish's effective sample size of (k, N) log weights, per example: (sum w)^2 / sum w^2, in [1, k].

    The standard error of L_k as an estimate of log p(x) is about sqrt(1/ESS - 1/k)
    (the delta method: Var(mean w) / (mean w)^2 = (k sum w^2 / (sum w)^2 - 1) / k).
    """
    return 1.0 / torch.softmax(log_w, dim=0).pow(2).sum(dim=0)


def best_gaussian(model, x, steps=300, samples=16, lr=0.1, every=25, init=None, generator=None):
    r"""q*(z|x): one Gaussian per example, fitted to that example alone by maximising its ELBO.

        q* = argmax_{mu, sigma} E_{N(mu, sigma^2)}[log p(x|z)] - KL(N(mu, sigma^2) || p(z))

    Cremer et al. (2018) call log p(x) - ELBO(q*) the approximation gap (what no Gaussian
    can close) and ELBO(q*) - ELBO(encoder) the amortization gap (what one encoder for all
    x loses). Starts from init = (mu, logvar), by default the encoder's; Adam with `samples` reparameterized
    draws per step and a cosine-decayed learning rate. The model's weights stay fixed.
    Returns (mu, logvar, trace), where trace is a (steps // every + 1, N) tensor of the
    per-example ELBO estimate at steps 0, every, 2 every, ...
    """
    with torch.no_grad():
        mu0, logvar0 = model.encode(x) if init is None else init
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    weights = [p for p in model.parameters() if p.requires_grad]
    trace = []
    try:
        for p in weights:
            p.requires_grad_(False)  # only q's parameters learn; no gradients for the decoder
        for step in range(steps + 1):
            z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *logvar.shape), generator)
            per_example = model.log_likelihood(x, z).mean(dim=0) - kl_standard_normal(mu, logvar)
            if step % every == 0:
                trace.append(per_example.detach())
            if step == steps:
                break
            optimizer.zero_grad()
            (-per_example.sum()).backward()  # maximise each example's ELBO: minimise minus their sum
            optimizer.step()
            schedule.step()
    finally:
        for p in weights:
            p.requires_grad_(True)
    return mu.detach(), logvar.detach(), torch.stack(trace)


def linear_vae_elbo(x, W, b, V, c, logvar, noise_variance):
    r"""The exact ELBO of each example under the linear VAE (probabilistic PCA with an encoder).

        model    z ~ N(0, I_K),   x | z ~ N(W z + b, noise_variance I_D)
        encoder  q(z|x) = N(V (x - b) + c, diag(exp(logvar)))      (logvar: one per latent dimension)

        ELBO = E_q[log p(x|z)] - KL(q || N(0, I)),  where, for z ~ q,
        E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j sigma_j^2 ||w_j||^2

    No sampling: the expectation of a quadratic under a Gaussian is exact (Lucas et al., 2019).
    x: (N, D); W: (D, K); V: (K, D); b: (D,); c, logvar: (K,).
    """
    mu = (x - b) @ V.T + c  # (N, K)
    residual = x - mu @ W.T - b  # (N, D)
    expected_squared_error = residual.pow(2).sum(dim=-1) + (logvar.exp() * W.pow(2).sum(dim=0)).sum()
    dims = x.shape[-1]
    reconstruction = -0.5 * dims * (LOG_2PI + math.log(noise_variance)) - expected_squared_error / (2 * noise_variance)
    return reconstruction - kl_standard_normal(mu, logvar.expand_as(mu))
