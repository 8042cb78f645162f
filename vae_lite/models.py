"""Models: a plain Autoencoder, the VAE, and a linear-Gaussian toy whose posterior is known.

The encoder and decoder are ordinary networks; what makes a VAE is what they output
(a distribution q(z|x) = N(mu, sigma^2) instead of a point) and the objective it is trained
with (objectives.elbo). Images are tensors of shape (N, C, H, W) with values in [0, 1].
The networks (MLP or convolutional) and the argument checks are at the end of the file.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .objectives import (
    bernoulli_log_likelihood, elbo, gaussian_log_likelihood, iw_bound, log_normal, log_weights, reparameterize,
)

ARCHS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")


class _ImageModel(nn.Module):
    """What the Autoencoder and the VAE share: the decoder, its likelihood, and sampling.

    The encoder's hidden layers have the sizes `encoder_hidden` and the decoder's `decoder_hidden`
    (an int, or a list from the image side inwards; the decoder mirrors its list). `hidden`, if
    given, is the same sizes for both and replaces the two.
    """

    def __init__(self, image_shape, latent_dim, hidden, arch, likelihood, gaussian_std,
                 encoder_hidden=400, decoder_hidden=400):
        super().__init__()
        image_shape = _check_arguments(image_shape, latent_dim, arch, likelihood, gaussian_std)
        self.encoder_hidden = _hidden_sizes(hidden if hidden is not None else encoder_hidden, "encoder_hidden")
        self.decoder_hidden = _hidden_sizes(hidden if hidden is not None else decoder_hidden, "decoder_hidden")
        # the config keeps the arguments as given, so that cls(**config) builds the same model
        sizes = {"hidden": hidden} if hidden is not None else {"encoder_hidden": encoder_hidden,
                                                                 "decoder_hidden": decoder_hidden}
        self.config = dict(
            image_shape=list(image_shape), latent_dim=latent_dim,
            **{name: h if isinstance(h, int) else list(h) for name, h in sizes.items()},
            arch=arch, likelihood=likelihood, gaussian_std=gaussian_std,
        )
        self.image_shape, self.latent_dim = image_shape, latent_dim
        self.arch, self.likelihood = arch, likelihood
        self.decoder = make_decoder(arch, image_shape, self.decoder_hidden, latent_dim)
        if likelihood == "gaussian":
            # one log std for all pixels: fixed (squared error with a known scale) or learned
            log_std = torch.tensor(math.log(gaussian_std) if gaussian_std else 0.0)
            if gaussian_std:
                self.register_buffer("log_std", log_std)
            else:
                self.log_std = nn.Parameter(log_std)

    def decode(self, z):
        """The decoder's mean image for each z: pixel probabilities (Bernoulli) or means (Gaussian)."""
        return torch.sigmoid(self.decoder(z))

    def log_likelihood(self, x, z):
        """log p(x|z), one number per example (summed over pixels)."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(torch.sigmoid(out), x, self.log_std)

    @torch.no_grad()
    def start_at_mean_image(self, images):
        """Start the decoder at the mean training image: set the output layer's bias to

            b = logit(mean of the images) = log(m / (1 - m)),   so that sigmoid(b) = m,

        a pixel at a time (mlp) or a channel at a time (conv). Every z then decodes to the average
        image before training, not to a uniform grey, and the first steps learn the digits rather
        than the background (benchmarks/README.md: the default model ends about 0.4 nats better).
        """
        mean = torch.as_tensor(images).float().mean(dim=0).clamp(1e-3, 1 - 1e-3)  # (C, H, W)
        if self.arch == "mlp":
            self.decoder.net[-1].bias.copy_(torch.logit(mean).flatten())
        else:
            self.decoder.up2.bias.copy_(torch.logit(mean.mean(dim=(-2, -1))))
        return self

    @torch.inference_mode()
    def sample(self, n, generator=None):
        """New images: z ~ p(z) = N(0, I), decoded to the decoder's mean image.

        A VAE is trained so that its codes of the data look like draws from N(0, I); a plain
        Autoencoder is not, which makes it a poor generator (notebook 01).
        """
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode(z)

    @property
    def device(self):
        return next(self.parameters()).device


class Autoencoder(_ImageModel):
    """A plain autoencoder: x -> z -> x_hat, trained to minimise -log p(x | z = encoder(x))."""

    def __init__(self, image_shape, latent_dim=20, hidden=None, arch="mlp", likelihood="bernoulli",
                 gaussian_std=0.1, encoder_hidden=400, decoder_hidden=400):
        super().__init__(image_shape, latent_dim, hidden, arch, likelihood, gaussian_std, encoder_hidden, decoder_hidden)
        self.encoder = make_encoder(arch, self.image_shape, self.encoder_hidden, latent_dim)

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x):
        """Per-example reconstruction error in nats; the AE has no KL term, so no KL weight beta."""
        reconstruction = self.log_likelihood(x, self.encode(x))
        return -reconstruction, {"reconstruction": reconstruction}


class VAE(_ImageModel):
    """Variational autoencoder: the encoder outputs q(z|x) = N(mu, diag(exp(logvar))).

    The defaults (on MNIST an encoder 784-256-100, for mu and logvar, and a decoder 50-512-784)
    are the best model of a one-minute screening, trained with pretrained.TRAINING (under a
    minute on 2 CPU cores; benchmarks/README.md, "Quality per CPU-second"). The decoder, which
    must draw the digit, gets the wider layer: at the same cost that beat 400 units each way.
    With 50 latent dimensions some stay unused, which notebook 07 shows.
    """

    def __init__(self, image_shape, latent_dim=50, hidden=None, arch="mlp", likelihood="bernoulli",
                 gaussian_std=0.1, encoder_hidden=256, decoder_hidden=512):
        super().__init__(image_shape, latent_dim, hidden, arch, likelihood, gaussian_std, encoder_hidden, decoder_hidden)
        self.encoder = make_encoder(arch, self.image_shape, self.encoder_hidden, 2 * latent_dim)

    def encode(self, x):
        """(mu, logvar) of q(z|x); logvar = log sigma^2 so that sigma = exp(logvar / 2) > 0."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar))

    def loss(self, x, beta=1.0):
        """Per-example negative beta-ELBO: -reconstruction + beta * KL (note the plus)."""
        terms = elbo(self, x, beta=beta)
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl}


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


# ---------------------------------------------------------------------- notebook 09: the paper's own networks


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
        super().__init__(image_shape, latent_dim, hidden, "mlp", likelihood, gaussian_std)
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
        self.config.update(arch="paper", init_std=init_std)

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


# ---------------------------------------------------------------------- notebook 10: a tighter bound to train


class IWAE(VAE):
    r"""The importance weighted autoencoder (Burda et al., 2015): the VAE's networks, another objective.

        L_k = E[log 1/k sum_i p(x, z_i) / q(z_i|x)],   z_1..z_k ~ q(z|x)

    L_1 is the ELBO (k=1 trains a VAE); L_k <= L_{k+1} <= log p(x). The loss is -L_k per
    example; the terms reported are the bound and the ELBO estimated from the same k draws.
    """

    def __init__(self, image_shape, latent_dim=20, hidden=None, arch="mlp", likelihood="bernoulli",
                 gaussian_std=0.1, k=5, encoder_hidden=400, decoder_hidden=400):
        super().__init__(image_shape, latent_dim, hidden, arch, likelihood, gaussian_std, encoder_hidden, decoder_hidden)
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


# ---------------------------------------------------------------------- notebook 11: the conditional VAE

class ConditionalVAE(_ImageModel):
    r"""A VAE that is told the class y of each image (Sohn et al., 2015):

        q(z|x,y) = N(mu(x,y), diag(sigma^2(x,y)))   the encoder sees the image and its label
        p(x|z,y)                                    the decoder draws class y in the style z
        p(z)     = N(0, I)                          the prior is the same for every class

        log p(x|y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z))

    The label enters both networks as a one-hot vector appended to their input: K more numbers
    after the flattened image (mlp) or K more image channels, channel y all ones (conv); and K
    more numbers after z for the decoder. Since the decoder is given y, z need not encode the
    class, and the KL charges for every nat it does: z keeps the style (slant, width, stroke).
    """

    def __init__(self, image_shape, num_classes, latent_dim=16, hidden=None, arch="mlp",
                 likelihood="bernoulli", gaussian_std=0.1, encoder_hidden=400, decoder_hidden=400):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2 (10 for digits), got {num_classes!r}")
        super().__init__(image_shape, latent_dim, hidden, arch, likelihood, gaussian_std, encoder_hidden, decoder_hidden)
        self.num_classes = num_classes
        self.config["num_classes"] = num_classes
        c, h, w = self.image_shape
        if arch == "conv":
            self.encoder = ConvEncoder((c + num_classes, h, w), self.encoder_hidden, 2 * latent_dim)
        else:
            self.encoder = mlp([c * h * w + num_classes, *self.encoder_hidden, 2 * latent_dim])
        # replaces the unconditional decoder made by _ImageModel: this one reads [z, one-hot y]
        self.decoder = make_decoder(arch, self.image_shape, self.decoder_hidden, latent_dim + num_classes)

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
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl}

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


# ---------------------------------------------------------------------- the networks
# Each takes any number of leading batch dimensions: x (..., C, H, W) or z (..., latent_dim),
# as elbo(samples=k) and iw_log_likelihood pass z of shape (k, N, latent_dim).


def mlp(sizes):
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class MLPEncoder(nn.Module):
    """image -> flatten -> hidden layers -> `out_features` numbers."""

    def __init__(self, image_shape, hidden, out_features):
        super().__init__()
        self.net = mlp([math.prod(image_shape), *_hidden_sizes(hidden), out_features])

    def forward(self, x):
        return self.net(x.flatten(start_dim=-3))  # (..., C, H, W) -> (..., C*H*W) -> (..., out_features)


class MLPDecoder(nn.Module):
    """z -> hidden layers -> one number per pixel, shaped as an image."""

    def __init__(self, image_shape, hidden, latent_dim):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = mlp([latent_dim, *reversed(_hidden_sizes(hidden)), math.prod(image_shape)])

    def forward(self, z):
        return self.net(z).unflatten(-1, self.image_shape)  # (..., C*H*W) -> (..., C, H, W)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (each halves height and width), then an MLP."""

    def __init__(self, image_shape, hidden, out_features, channels=(32, 64)):
        super().__init__()
        c, h, w = image_shape
        self.convs = nn.Sequential(
            nn.Conv2d(c, channels[0], 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1), nn.ReLU(),
        )
        with torch.no_grad():
            self.feature_shape = tuple(self.convs(torch.zeros(1, c, h, w)).shape[1:])  # (64, H/4, W/4) rounded up
        self.head = mlp([math.prod(self.feature_shape), *_hidden_sizes(hidden), out_features])

    def forward(self, x):
        batch_shape = x.shape[:-3]  # (...), e.g. (N,) or (k, N)
        x = x.reshape(-1, *x.shape[-3:])  # (B, C, H, W), B = all leading dimensions in one
        features = self.convs(x).flatten(start_dim=1)  # (B, 64, H/4, W/4) -> (B, 64*H/4*W/4)
        return self.head(features).reshape(*batch_shape, -1)  # (B, out_features) -> (..., out_features)


class ConvDecoder(nn.Module):
    """The encoder in reverse: an MLP, then two transposed convolutions back to full size."""

    def __init__(self, image_shape, hidden, latent_dim, channels=(32, 64)):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.feature_shape = (channels[1], (h + 3) // 4, (w + 3) // 4)
        self.half_size = ((h + 1) // 2, (w + 1) // 2)
        self.head = nn.Sequential(
            mlp([latent_dim, *reversed(_hidden_sizes(hidden)), math.prod(self.feature_shape)]),
            nn.ReLU(),
        )
        self.up1 = nn.ConvTranspose2d(channels[1], channels[0], 3, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(channels[0], c, 3, stride=2, padding=1)

    def forward(self, z):
        batch_shape = z.shape[:-1]  # (...), e.g. (N,) or (k, N)
        z = z.reshape(-1, z.shape[-1])  # (B, latent_dim)
        features = self.head(z).unflatten(-1, self.feature_shape)  # (B, 64*H/4*W/4) -> (B, 64, H/4, W/4)
        # output_size undoes the rounding of the stride-2 convolutions for odd sizes
        hidden = torch.relu(self.up1(features, output_size=self.half_size))  # (B, 32, H/2, W/2)
        out = self.up2(hidden, output_size=self.image_shape[1:])  # (B, C, H, W)
        return out.reshape(*batch_shape, *self.image_shape)  # (..., C, H, W)


def make_encoder(arch, image_shape, hidden, out_features):
    return {"mlp": MLPEncoder, "conv": ConvEncoder}[arch](image_shape, hidden, out_features)


def make_decoder(arch, image_shape, hidden, latent_dim):
    return {"mlp": MLPDecoder, "conv": ConvDecoder}[arch](image_shape, hidden, latent_dim)


# ---------------------------------------------------------------------- argument checks


def _check_arguments(image_shape, latent_dim, arch, likelihood, gaussian_std):
    """The image shape as (C, H, W); a clear error for any argument that cannot work."""
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) == 2:
        image_shape = (1, *image_shape)
    if len(image_shape) != 3 or min(image_shape) <= 0:
        raise ValueError(
            f"image_shape must be (C, H, W) or (H, W) with positive sizes, got {image_shape}; "
            "use data.image_shape"
        )
    if not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if gaussian_std is not None and not gaussian_std > 0:
        raise ValueError(f"gaussian_std must be positive, or None to learn it; got {gaussian_std!r}")
    return image_shape


def _hidden_sizes(hidden, name="hidden"):
    sizes = (hidden,) if isinstance(hidden, int) else tuple(hidden) if isinstance(hidden, (list, tuple)) else ()
    if not sizes or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in sizes):
        raise ValueError(f"{name} must be a positive int or a list of them, got {hidden!r}")
    return sizes
