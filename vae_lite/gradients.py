r"""Two estimators of one gradient: d/d(mu, sigma) of E_q[f(z)], with q = N(mu, sigma^2).

    pathwise (reparameterization):  z = mu + sigma * eps, eps ~ N(0, 1), then the chain rule
        d/dmu E[f(z)] = E[f'(z)],             d/dsigma E[f(z)] = E[f'(z) eps]
    score function (REINFORCE):     f(z) times the gradient of log q(z)
        d/dmu E[f(z)] = E[f(z) eps / sigma],  d/dsigma E[f(z)] = E[f(z) (eps^2 - 1) / sigma]

Both are unbiased. The pathwise one needs f' and has a much smaller variance, which is why a
VAE samples z with the reparameterization trick. Each function returns one estimate per
draw of eps; their mean is the estimate, their spread its noise.
"""

import torch


def pathwise_gradients(f, mu, sigma, eps):
    """Per-sample reparameterization gradients of f(z), z = mu + sigma * eps, w.r.t. (mu, sigma).

    d f/d mu = f'(z) and d f/d sigma = f'(z) * eps: the chain rule through z, which exists
    because z is a differentiable function of mu and sigma (autograd gives f').
    """
    z = (mu + sigma * eps).requires_grad_(True)
    (f_prime,) = torch.autograd.grad(f(z).sum(), z)
    return f_prime, f_prime * eps


def score_function_gradients(f, mu, sigma, eps):
    """Per-sample score-function (REINFORCE) gradients: f(z) times d log q(z)/d (mu, sigma).

    For q = N(mu, sigma^2): d log q/d mu = (z - mu)/sigma^2 = eps/sigma and
    d log q/d sigma = ((z - mu)^2 - sigma^2)/sigma^3 = (eps^2 - 1)/sigma.
    It needs no derivative of f, and pays for that with a much larger variance.
    """
    value = f(mu + sigma * eps)
    return value * eps / sigma, value * (eps**2 - 1) / sigma
