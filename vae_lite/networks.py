"""The encoder and decoder networks: ordinary layers, nothing Bayesian.

Each takes any number of leading batch dimensions, x (..., C, H, W) or z (..., latent_dim),
because elbo(samples=k) and iw_log_likelihood pass z of shape (k, N, latent_dim).
"""

import math

import torch
from torch import nn

ARCHS = ("mlp", "conv")


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
        self.net = mlp([math.prod(image_shape), *hidden_sizes(hidden), out_features])

    def forward(self, x):
        return self.net(x.flatten(start_dim=-3))  # (..., C, H, W) -> (..., C*H*W) -> (..., out_features)


class MLPDecoder(nn.Module):
    """z -> hidden layers -> one number per pixel, shaped as an image."""

    def __init__(self, image_shape, hidden, latent_dim):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = mlp([latent_dim, *reversed(hidden_sizes(hidden)), math.prod(image_shape)])

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
        self.head = mlp([math.prod(self.feature_shape), *hidden_sizes(hidden), out_features])

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
            mlp([latent_dim, *reversed(hidden_sizes(hidden)), math.prod(self.feature_shape)]),
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


def hidden_sizes(hidden, name="hidden"):
    """Hidden layer sizes as a tuple: an int is one layer; a list is several, image side first."""
    sizes = (hidden,) if isinstance(hidden, int) else tuple(hidden) if isinstance(hidden, (list, tuple)) else ()
    if not sizes or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in sizes):
        raise ValueError(f"{name} must be a positive int or a list of them, got {hidden!r}")
    return sizes
