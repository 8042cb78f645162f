"""The models: a plain Autoencoder and the VAE, both configured by one Settings.

The encoder and decoder are ordinary networks (vae_lite/networks.py); what makes a VAE is what
the encoder outputs (a distribution q(z|x) = N(mu, sigma^2) instead of a point) and the
objective it is trained with (objectives.elbo). Images are tensors (N, C, H, W) in [0, 1].
The VAE's relatives of the later notebooks are in vae_lite/variants.py.
"""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .networks import ARCHS, hidden_sizes, make_decoder, make_encoder
from .objectives import bernoulli_log_likelihood, elbo, gaussian_log_likelihood, reparameterize

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass
class Settings:
    """What fixes a model's shape and likelihood; vae_lite.save stores it beside the weights.

    The defaults are the package's default VAE, the best of a one-minute screening on 2 CPU
    cores (benchmarks/README.md, "Quality per CPU-second").
    """

    image_shape: tuple  # (C, H, W) of the images; (H, W) means one channel
    latent_dim: int = 50  # d, the size of z
    encoder_hidden: tuple = (256,)  # the encoder's hidden layer sizes, image side first
    decoder_hidden: tuple = (512,)  # the decoder's, image side first (it runs them from z outwards)
    arch: str = "mlp"  # "mlp", or "conv": two stride-2 convolutions on the image side of each network
    likelihood: str = "bernoulli"  # p(x|z): "bernoulli" for binary pixels, "gaussian" for grey levels
    gaussian_std: float | None = 0.1  # s of the Gaussian decoder, one for all pixels; None learns it

    def __post_init__(self):
        """Normalise the shapes and refuse, with a message that says how to fix it, what cannot work."""
        shape = tuple(int(s) for s in self.image_shape)
        shape = (1, *shape) if len(shape) == 2 else shape
        if len(shape) != 3 or min(shape) <= 0:
            raise ValueError(f"image_shape must be (C, H, W) or (H, W) with positive sizes, got {shape}; "
                             "use data.image_shape")
        self.image_shape = shape
        if isinstance(self.latent_dim, bool) or not isinstance(self.latent_dim, int) or self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive int, got {self.latent_dim!r}")
        self.encoder_hidden = hidden_sizes(self.encoder_hidden, "encoder_hidden")
        self.decoder_hidden = hidden_sizes(self.decoder_hidden, "decoder_hidden")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.gaussian_std is not None and not self.gaussian_std > 0:
            raise ValueError(f"gaussian_std must be positive, or None to learn it; got {self.gaussian_std!r}")


class _ImageModel(nn.Module):
    """What the Autoencoder and the VAE share: their Settings, the decoder, its likelihood, sampling.

    Built as Model(image_shape, **settings) with the fields of Settings; `hidden=` sets the
    hidden sizes of both networks at once.
    """

    def __init__(self, image_shape, hidden=None, **settings):
        super().__init__()
        if hidden is not None:
            settings.update(encoder_hidden=hidden, decoder_hidden=hidden)
        self.settings = s = Settings(image_shape, **settings)
        self.config = asdict(s)  # cls(**config) builds the same model: what checkpoints store
        self.image_shape, self.latent_dim, self.arch, self.likelihood = s.image_shape, s.latent_dim, s.arch, s.likelihood
        self.encoder_hidden, self.decoder_hidden = s.encoder_hidden, s.decoder_hidden
        self.decoder = make_decoder(s.arch, s.image_shape, s.decoder_hidden, s.latent_dim)
        if s.likelihood == "gaussian":  # one log s for all pixels: fixed (squared error, scaled) or learned
            log_std = torch.tensor(math.log(s.gaussian_std) if s.gaussian_std else 0.0)
            if s.gaussian_std:
                self.register_buffer("log_std", log_std)
            else:
                self.log_std = nn.Parameter(log_std)

    def decode(self, z):
        """The decoder's mean image for each z: pixel probabilities (Bernoulli) or means (Gaussian)."""
        return torch.sigmoid(self.decoder(z))

    def log_likelihood(self, x, z):
        """log p(x|z), one number per example (summed over pixels): z (..., N, d) -> (..., N)."""
        out = self.decoder(z)  # (..., N, C, H, W)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(torch.sigmoid(out), x, self.log_std)

    @torch.no_grad()
    def start_at_mean_image(self, images):
        """Start the decoder at the mean training image: set the output layer's bias to

            b = logit(mean of the images) = log(m / (1 - m)),   so that sigmoid(b) = m,

        a pixel at a time (mlp) or a channel at a time (conv). Every z then decodes to the average
        image before training, not to a uniform grey, and the first steps learn the digits rather
        than the background.
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

    has_kl = False  # so fit's beta and KL warm-up do nothing here

    def __init__(self, image_shape, hidden=None, **settings):
        super().__init__(image_shape, hidden, **settings)
        self.encoder = make_encoder(self.arch, self.image_shape, self.encoder_hidden, self.latent_dim)

    def encode(self, x):
        return self.encoder(x)  # (N, d): one point per image

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x, beta=1.0):
        """Per-example reconstruction error in nats. An autoencoder has no KL, so beta weighs nothing."""
        reconstruction = self.log_likelihood(x, self.encode(x))
        return -reconstruction, {"reconstruction": reconstruction}


class VAE(_ImageModel):
    """Variational autoencoder: the encoder outputs q(z|x) = N(mu, diag(exp(logvar))).

    By default (Settings) an MLP encoder 784-256 with 100 outputs, mu and logvar for 50 latent
    dimensions, and a decoder 50-512-784 on MNIST. The decoder, which must draw the digit, gets
    the wider layer. With 50 latent dimensions some stay unused, which notebook 07 shows.
    """

    def __init__(self, image_shape, hidden=None, **settings):
        super().__init__(image_shape, hidden, **settings)
        self.encoder = make_encoder(self.arch, self.image_shape, self.encoder_hidden, 2 * self.latent_dim)

    def encode(self, x):
        """(mu, logvar) of q(z|x), each (N, d); logvar = log sigma^2, so sigma = exp(logvar / 2) > 0."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar))

    def loss(self, x, beta=1.0):
        """Per-example negative beta-ELBO: -reconstruction + beta * KL (note the plus), and the terms."""
        terms = elbo(self, x, beta=beta)
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl,
                             "elbo": terms.reconstruction - terms.kl}
