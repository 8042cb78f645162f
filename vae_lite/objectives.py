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
    """log N(x; mu, sigma^2), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(dim=-1)


def bernoulli_log_likelihood(logits, x):
    """log p(x|z) for a Bernoulli decoder, summed over pixels (the last three dimensions).

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
    """The evidence lower bound of each example in x, and its two terms.

    `reconstruction` is a Monte Carlo estimate of E_q[log p(x|z)] with `samples` draws of z;
    `kl` is exact. With beta != 1 the `elbo` field is the beta-weighted objective
    reconstruction - beta * kl, which is a bound on log p(x) only for beta >= 1.
    y: the labels, for a conditional model (q(z|x, y) and p(x|z, y)).
    """
    labels = () if y is None else (y,)
    mu, logvar = model.encode(x, *labels)
    z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *logvar.shape), generator)
    reconstruction = model.log_likelihood(x, z, *labels).mean(dim=0)
    kl = kl_standard_normal(mu, logvar)
    return ELBO(reconstruction - beta * kl, reconstruction, kl)


def log_weights(model, x, k, generator=None, y=None):
    """The log importance weights of k draws z_i ~ q(z|x) for each example: shape (k, N).

        log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)

    Their mean is a Monte Carlo estimate of the ELBO; the log of their mean (of exp) estimates
    log p(x) (iw_log_likelihood). y: the labels, for a conditional model.
    """
    labels = () if y is None else (y,)
    mu, logvar = model.encode(x, *labels)
    z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape), generator)  # (k, N, d)
    log_p_x_given_z = model.log_likelihood(x, z, *labels)
    log_p_z = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    log_q_z = log_normal(z, mu, logvar)
    return log_p_x_given_z + log_p_z - log_q_z


def iw_log_likelihood(model, x, k=5000, batch_size=None, max_elements=2**25, generator=None, y=None):
    """Importance-weighted estimate of log p(x) (Burda et al., 2015), one value per example.

        log p(x) ~= log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

    It is a lower bound on log p(x) in expectation that tightens as k grows (k=1 is the
    ELBO). log_weights computes the terms; here the work is only split into chunks of
    examples and samples so that no intermediate tensor holds more than about `max_elements`
    numbers (2**25 floats = 128 MB).
    """
    x = torch.as_tensor(x)
    per_chunk = max(1, max_elements // x[0].numel())
    if batch_size is None:
        batch_size = max(1, min(len(x), per_chunk // min(k, per_chunk)))
    samples_per_chunk = max(1, per_chunk // batch_size)
    results = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            yb = None if y is None else y[start:start + batch_size]
            weights = torch.cat([log_weights(model, xb, min(samples_per_chunk, k - done), generator, yb)
                                 for done in range(0, k, samples_per_chunk)])  # (k, batch)
            results.append(torch.logsumexp(weights, dim=0) - math.log(k))
    return torch.cat(results)
