"""The VAE's relatives, one per later notebook: each changes one thing about the VAE.

    LinearGaussian   notebook 02: a toy whose evidence and posterior are known in closed form
    PaperVAE         notebook 09: Kingma & Welling's own networks (tanh, a variance per pixel)
    WakeSleepVAE     notebook 09: the same networks trained by wake-sleep, the paper's baseline
    IWAE             notebook 10: the same networks trained on a tighter bound
    ConditionalVAE   notebook 11: a VAE told the class of each image
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .models import VAE, _ImageModel
from .networks import ConvEncoder, make_decoder, mlp
from .objectives import (
    bernoulli_log_likelihood, elbo, gaussian_log_likelihood, iw_bound, kl_standard_normal, log_normal, log_weights,
    reparameterize,
)


class LinearGaussian(nn.Module):
    """The toy model of notebook 02, where everything is known in closed form.

        z ~ N(0, 1),   x | z ~ N(w z + b, s^2 I)   (x has D dimensions, z has one)

    The evidence is p(x) = N(b, w w^T + s^2 I) and the posterior p(z|x) = N(m, v) with
    v = 1 / (1 + |w|^2 / s^2) and m = v w.(x - b) / s^2. `encode` returns that exact
    posterior unless an approximate q (a function x -> (mu, logvar)) is given.
    """

    def __init__(self, w, b, s, q=None):
        super().__init__()
        self.w = torch.as_tensor(w, dtype=torch.float64).reshape(-1)
        self.b = torch.as_tensor(b, dtype=torch.float64).expand_as(self.w).clone()
        self.s = float(s)
        self.q = q
        self.latent_dim = 1

    def posterior(self, x):
        v = 1.0 / (1.0 + self.w.dot(self.w) / self.s**2)
        m = v * ((x - self.b) @ self.w) / self.s**2
        return m.unsqueeze(-1), torch.full_like(m, math.log(v)).unsqueeze(-1)

    def encode(self, x):
        return self.q(x) if self.q is not None else self.posterior(x)

    def log_likelihood(self, x, z):
        mean = z * self.w + self.b  # z: (..., N, 1) -> mean: (..., N, D)
        logvar = torch.full_like(mean, 2 * math.log(self.s))
        return log_normal(x, mean, logvar)

    def log_evidence(self, x):
        """log p(x), exactly."""
        cov = torch.outer(self.w, self.w) + self.s**2 * torch.eye(len(self.w), dtype=self.w.dtype)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)


class PaperVAE(VAE):
    r"""The VAE of Kingma & Welling (2013), appendix C: one tanh hidden layer each way.

        encoder   h = tanh(W1 x + b1);   mu = W2 h + b2;   log sigma^2 = W3 h + b3
        decoder   h = tanh(W4 z + b4), then
          Bernoulli (binary x)          p = sigmoid(W5 h + b5)
          Gaussian  (x in [0, 1])       mean = sigmoid(W5 h + b5);   log s^2 = W6 h + b6

    The Gaussian decoder learns a variance for every pixel of every decoded image
    (gaussian_std=None), as the paper's Frey Face model does; a number fixes s for all pixels
    instead, and log p(x|z) is then squared error with a known scale. Every weight and bias
    starts from N(0, init_std^2), with the paper's init_std = 0.01.
    """

    def __init__(self, image_shape, latent_dim=20, hidden=500, likelihood="bernoulli", gaussian_std=None,
                 init_std=0.01):
        if not isinstance(hidden, int):
            raise ValueError(f"PaperVAE has one hidden layer: hidden must be an int, got {hidden!r}")
        # the MLP networks built here are replaced below; they are built first all the same, so that
        # a seed gives the same initial weights as the runs stored in results
        super().__init__(image_shape, hidden, latent_dim=latent_dim, likelihood=likelihood, gaussian_std=gaussian_std)
        self.per_pixel_variance = likelihood == "gaussian" and gaussian_std is None
        if self.per_pixel_variance:
            del self.log_std  # replaced by the decoder's second output
        pixels = math.prod(self.image_shape)
        outputs = 2 * pixels if self.per_pixel_variance else pixels
        self.encoder = nn.Sequential(nn.Flatten(start_dim=-3), nn.Linear(pixels, hidden), nn.Tanh(),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, outputs))
        for parameter in self.parameters():
            nn.init.normal_(parameter, 0.0, init_std)
        self.config = dict(image_shape=list(self.image_shape), latent_dim=latent_dim, hidden=hidden,
                           likelihood=likelihood, gaussian_std=gaussian_std, init_std=init_std)

    def _decoded(self, z):
        """(mean or logits, log s) as images; log s is None unless the variance is per pixel."""
        out = self.decoder(z)  # (..., outputs)
        if not self.per_pixel_variance:
            return out.unflatten(-1, self.image_shape), None
        mean_logits, logvar = out.chunk(2, dim=-1)  # (..., pixels) each
        return mean_logits.unflatten(-1, self.image_shape), 0.5 * logvar.unflatten(-1, self.image_shape)

    def decode(self, z):
        return torch.sigmoid(self._decoded(z)[0])

    def decode_std(self, z):
        """The decoder's standard deviation s for each pixel (Gaussian decoder)."""
        if self.likelihood != "gaussian":
            raise ValueError("decode_std needs a Gaussian decoder (likelihood='gaussian')")
        _, log_s = self._decoded(z)
        log_s = self.log_std if log_s is None else log_s
        return log_s.exp().expand(*z.shape[:-1], *self.image_shape)

    def log_likelihood(self, x, z):
        out, log_s = self._decoded(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(torch.sigmoid(out), x, self.log_std if log_s is None else log_s)


class WakeSleepVAE(PaperVAE):
    r"""PaperVAE trained by wake-sleep (Hinton et al. 1995), the baseline of Kingma & Welling's Figures 2 and 3.

        wake:   z ~ q(z|x), held fixed;          the decoder climbs  log p(x|z)     (theta)
        sleep:  z' ~ p(z), x' ~ p(x|z'), held;   the encoder climbs  log q(z'|x')   (phi)

        loss(x) = -[log p(x|z) + log q(z'|x')],   z = mu + sigma * eps,   z' ~ N(0, I),   x' ~ p(x|z')

    with z held in the first term and x' in the second, so that each term trains one network. The wake
    step is a one-sample estimate of the ELBO's gradient in theta: q(z|x) does not depend on theta, so
    grad_theta ELBO = E_q[grad_theta log p(x|z)], the estimate AEVB uses for theta too. The sleep step is
    not a gradient of the ELBO: it lowers KL(p(z|x') || q(z|x')) averaged over dreamed x', where AEVB
    lowers KL(q(z|x) || p(z|x)) on the data. So the two phases together optimise no single objective.
    `loss` returns the sum of both surrogates for the optimiser, and the ELBO's terms (one z per image)
    for the records. benchmarks/paper_curves.py and figure3.py train it.
    """

    def draws(self, x):
        """One step's random draws: q's (mu, logvar) of x; z ~ q(z|x), attached to the encoder; and a dream
        z' ~ N(0, I), x' ~ p(x|z') (a Bernoulli draw, or mean + s * eps'), made without a gradient."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        with torch.no_grad():
            z_dream = torch.randn_like(z)
            mean = self.decode(z_dream)
            x_dream = torch.bernoulli(mean) if self.likelihood == "bernoulli" \
                else mean + self.decode_std(z_dream) * torch.randn_like(mean)
        return mu, logvar, z, z_dream, x_dream

    def loss(self, x, beta=1.0):
        mu, logvar, z, z_dream, x_dream = self.draws(x)
        wake = self.log_likelihood(x, z.detach())  # theta only
        sleep = log_normal(z_dream, *self.encode(x_dream))  # phi only: the dream carries no gradient
        kl = kl_standard_normal(mu, logvar)
        return -(wake + sleep), {"reconstruction": wake.detach(), "kl": kl.detach(), "elbo": (wake - kl).detach()}


class IWAE(VAE):
    r"""The importance weighted autoencoder (Burda et al., 2015): the VAE's networks, another objective.

        L_k = E[log 1/k sum_i p(x, z_i) / q(z_i|x)],   z_1..z_k ~ q(z|x)

    L_1 is the ELBO (k=1 trains a VAE); L_k <= L_{k+1} <= log p(x). The loss is -L_k per
    example; the terms reported are the bound and the ELBO estimated from the same k draws.
    Its settings and their defaults are the VAE's (models.Settings), plus k.
    """

    def __init__(self, image_shape, hidden=None, k=5, **settings):
        super().__init__(image_shape, hidden, **settings)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k (importance samples per example) must be a positive int, got {k!r}")
        self.k = k
        self.config["k"] = k  # so that vae_lite.load rebuilds the same objective

    def loss(self, x, beta=1.0):
        if beta != 1.0:
            raise ValueError(f"the importance-weighted bound has no KL weight; train with beta=1, got beta={beta!r}")
        log_w = log_weights(self, x, self.k)  # (k, N)
        bound = iw_bound(log_w)
        return -bound, {"iw_bound": bound, "elbo": log_w.mean(dim=0)}


class ConditionalVAE(_ImageModel):
    r"""A VAE that is told the class y of each image. It is the generator of Kingma et al. (2014)'s
    model M2, trained on labelled images only; the name is Sohn et al. (2015)'s, whose CVAE has a
    learned prior p(z|x) instead of N(0, I). Here:

        q(z|x,y) = N(mu(x,y), diag(sigma^2(x,y)))   the encoder sees the image and its label
        p(x|z,y)                                    the decoder draws class y in the style z
        p(z)     = N(0, I)                          the prior is the same for every class

        log p(x|y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z))

    The label enters both networks as a one-hot vector appended to their input: K more numbers
    after the flattened image (mlp) or K more image channels, channel y all ones (conv); and K
    more numbers after z for the decoder. Since the decoder is given y, z need not encode the
    class, and the KL charges for every nat it does: z keeps the style (slant, width, stroke).
    """

    def __init__(self, image_shape, num_classes, hidden=None, **settings):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2 (10 for digits), got {num_classes!r}")
        super().__init__(image_shape, hidden, **settings)
        self.num_classes = num_classes
        self.config["num_classes"] = num_classes
        c, h, w = self.image_shape
        if self.arch == "conv":
            self.encoder = ConvEncoder((c + num_classes, h, w), self.encoder_hidden, 2 * self.latent_dim)
        else:
            self.encoder = mlp([c * h * w + num_classes, *self.encoder_hidden, 2 * self.latent_dim])
        # replaces the unconditional decoder made by _ImageModel: this one reads [z, one-hot y]
        self.decoder = make_decoder(self.arch, self.image_shape, self.decoder_hidden, self.latent_dim + num_classes)

    def one_hot(self, y, batch_shape):
        """Labels as one-hot rows of shape (*batch_shape, K); y is an int or a tensor of ints."""
        y = torch.as_tensor(y, device=self.device)
        if y.is_floating_point() or y.dtype == torch.bool:
            raise TypeError(f"labels must be integers (class numbers), got a tensor of {y.dtype}")
        if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, got values from "
                             f"{y.min().item()} to {y.max().item()}")
        if tuple(y.shape) != tuple(batch_shape)[len(batch_shape) - y.ndim:]:
            raise ValueError(f"got labels of shape {tuple(y.shape)} for a batch of shape {tuple(batch_shape)}: "
                             "give one label per image (or one int for all)")
        onehot = F.one_hot(y.long(), self.num_classes).float()
        return onehot.expand(*batch_shape, self.num_classes)

    def _append_label(self, z, y):
        return torch.cat([z, self.one_hot(y, z.shape[:-1]).to(z.dtype)], dim=-1)  # (..., d + K)

    def encode(self, x, y):
        """(mu, logvar) of q(z|x,y)."""
        onehot = self.one_hot(y, x.shape[:-3]).to(x.dtype)
        if self.arch == "conv":
            planes = onehot[..., None, None].expand(*onehot.shape, *x.shape[-2:])  # (..., K, H, W)
            inputs = torch.cat([x, planes], dim=-3)  # (..., C + K, H, W)
        else:
            inputs = torch.cat([x.flatten(start_dim=-3), onehot], dim=-1)  # (..., C*H*W + K)
        mu, logvar = self.encoder(inputs).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z, y):
        """The decoder's mean image for style z drawn as class y."""
        return super().decode(self._append_label(z, y))

    def log_likelihood(self, x, z, y):
        """log p(x|z,y), one number per example (summed over pixels)."""
        return super().log_likelihood(x, self._append_label(z, y))

    def forward(self, x, y):
        mu, logvar = self.encode(x, y)
        return self.decode(reparameterize(mu, logvar), y)

    def loss(self, x, y, beta=1.0):
        """Per-example negative beta-ELBO of log p(x|y): -reconstruction + beta * KL, the KL to
        the one prior N(0, I) whatever the class."""
        terms = elbo(self, x, beta=beta, y=y)
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl,
                             "elbo": terms.reconstruction - terms.kl}

    @torch.inference_mode()
    def sample(self, n, y, generator=None):
        """n new images of class y (an int, or n labels): z ~ N(0, I), decoded with the label."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        y = torch.as_tensor(y)
        if y.ndim == 0:
            y = y.expand(n)
        if y.shape != (n,):
            raise ValueError(f"sample(n, y) needs one label or n = {n} labels, got shape {tuple(y.shape)}")
        return self.decode(z, y)
