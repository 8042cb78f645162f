import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_device_from_the_environment(monkeypatch):
    """The tests choose their devices: a caller's VAE_LITE_DEVICE, which picks the device for the
    notebooks, must not change what they test. Tests of the variable set it themselves."""
    monkeypatch.delenv("VAE_LITE_DEVICE", raising=False)


@pytest.fixture(scope="module")
def one_thread():
    """For tests on tiny tensors: a second thread only adds overhead (much of it on a busy machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits():
    import vae_lite

    return vae_lite.load_dataset("digits")


def mnist_available():
    import vae_lite.data

    return vae_lite.data.find_files("mnist") is not None


requires_mnist = pytest.mark.skipif(
    not os.environ.get("VAE_LITE_DATA") and not mnist_available(),
    reason="MNIST files not found (set VAE_LITE_DATA)",
)


class TinyConditionalVAE(torch.nn.Module):
    """The smallest conditional VAE, with the interface fit and the objectives expect of one:
    encode(x, y), decode(z, y), log_likelihood(x, z, y), loss(x, y, beta) and num_classes.

    The label shifts the encoder's mean and the decoder's logits, so the labels change every
    number it computes. `seen` records each (images, labels) batch that loss() was given.
    """

    def __init__(self, image_shape, num_classes=10, latent_dim=2):
        super().__init__()
        import vae_lite

        self.vae = vae_lite.VAE(image_shape, latent_dim=latent_dim, hidden=16)
        self.image_shape, self.latent_dim, self.num_classes = self.vae.image_shape, latent_dim, num_classes
        self.likelihood = "bernoulli"
        self.mean_shift = torch.nn.Embedding(num_classes, latent_dim)
        self.logit_shift = torch.nn.Embedding(num_classes, self.vae.image_shape[-1])  # one per image column
        self.seen = []

    @property
    def device(self):
        return self.vae.device

    def encode(self, x, y):
        mu, logvar = self.vae.encode(x)
        return mu + self.mean_shift(y), logvar

    def logits(self, z, y):
        return self.vae.decoder(z) + self.logit_shift(y)[..., None, None, :]  # (N, W) -> (N, 1, 1, W)

    def decode(self, z, y):
        return torch.sigmoid(self.logits(z, y))

    def log_likelihood(self, x, z, y):
        from vae_lite.objectives import bernoulli_log_likelihood

        return bernoulli_log_likelihood(self.logits(z, y), x)

    def loss(self, x, y, beta=1.0):
        from vae_lite import elbo

        if torch.is_grad_enabled():
            self.seen.append((x.detach().clone(), y.clone()))
        terms = elbo(self, x, beta=beta, y=y)
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl}


@pytest.fixture
def conditional_vae():
    torch.manual_seed(0)
    return TinyConditionalVAE((1, 8, 8))
