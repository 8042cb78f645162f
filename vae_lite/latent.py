r"""What the encoder does with the latent space: statistics of q(z|x) over a set of images.

    kl_per_dimension   KL(q(z_d|x) || N(0, 1)) averaged over the images, one number per dimension d
    active_units       which dimensions' encoder means change with the input (Burda et al., 2015)
    decode_grid        the images a 2-D latent space decodes on an n x n grid of z

A dimension with a KL of about 0 carries no information about x: the encoder ignores x
there, and the decoder learns to ignore that z_d.
"""

import torch

from .data import ImageData
from .objectives import kl_standard_normal


def images_of(data, limit=None):
    """The images to encode: data.test of an ImageData (data.train if it has no test set), or a
    tensor of images (N, C, H, W); the first `limit` of them."""
    if isinstance(data, ImageData):
        images = data.test if data.test is not None else data.train
    else:
        images = torch.as_tensor(data)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W) or an ImageData, got shape {tuple(images.shape)}")
    return images[:limit]


@torch.inference_mode()
def encoder_means_and_logvars(model, images, labels=None, batch_size=1000):
    """(mu, logvar) of q(z|x) for every image (of q(z|x, y) with its label, for a conditional
    model), computed in batches on the model's device."""
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        given = () if labels is None else (labels[batch].to(model.device),)
        mu, logvar = model.encode(images[batch].to(model.device), *given)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


def kl_per_dimension(model, images, labels=None):
    """Mean over the images of KL(q(z_d|x) || N(0, 1)) for each latent dimension d, in nats.

    These add up to the KL term of the ELBO (which sums over d). labels: for a conditional model.
    """
    mu, logvar = encoder_means_and_logvars(model, images_of(images), labels)
    # each dimension as a one-dimensional Gaussian: (N, d, 1), summed over its single dimension
    return kl_standard_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0)  # (d,)


def active_units(model, images, threshold=0.01):
    """The number of latent dimensions the encoder uses, and the activity of each.

    Burda et al. (2015): dimension d is active when Cov_x(E_q[z_d|x]) > 0.01, i.e. its
    encoder mean changes with the input. Returns (count, activity per dimension).
    """
    mu, _ = encoder_means_and_logvars(model, images_of(images))
    activity = mu.var(dim=0)
    return int((activity > threshold).sum()), activity


@torch.inference_mode()
def decode_grid(model, n, limits=None):
    """Decode an n x n grid of z in a model with 2 latent dimensions; returns (n*n, C, H, W),
    row by row from the top: z[0] grows to the right, z[1] upwards.

    limits=None: the grid of Kingma & Welling's Figure 4, the points (i + 1/2)/n of the unit square
    mapped through the inverse CDF of N(0, 1): z_i = Phi^-1((i + 1/2)/n), so that each image stands for
    the same prior mass 1/n^2. limits=(low, high): the centres of n equal cells of that square.
    """
    if model.latent_dim != 2:
        raise ValueError(f"a grid of z needs a model with latent_dim=2, got {model.latent_dim}")
    centres = (torch.arange(n) + 0.5) / n  # (n,) in (0, 1)
    if limits is None:
        values = torch.distributions.Normal(0.0, 1.0).icdf(centres)
    else:
        low, high = limits
        values = low + centres * (high - low)
    z1, z0 = torch.meshgrid(values.flip(0), values, indexing="ij")  # (n, n) each; z[1] is highest in row 0
    z = torch.stack([z0.reshape(-1), z1.reshape(-1)], dim=1)  # (n*n, 2)
    return model.decode(z.to(model.device)).cpu()
