import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_lite

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


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
    return vae_lite.load_dataset("digits")


@pytest.fixture(scope="module")
def small_vae():
    """An untrained VAE for 8x8 images with 6 latent dimensions, in eval mode."""
    torch.manual_seed(0)
    return vae_lite.VAE((1, 8, 8), latent_dim=6, hidden=32).eval()


def tiny_vae(image_shape=(1, 6, 6), seed=0, **kwargs):
    """A seeded VAE small enough to train in milliseconds: 2 latent dimensions, 8 hidden units."""
    torch.manual_seed(seed)
    return vae_lite.VAE(image_shape, latent_dim=2, hidden=8, **kwargs)


def random_images(n_train=64, n_test=16, shape=(6, 6), seed=0):
    """Random pixels as an ImageData: training data that needs no files."""
    rng = np.random.default_rng(seed)
    return vae_lite.ImageData.from_arrays(rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
                                          rng.integers(0, 256, (n_test, *shape), dtype=np.uint8))


def weights(model):
    """A copy of the model's weights."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    """Whether two models, or two copies of weights, hold exactly the same numbers."""
    a, b = (w.state_dict() if isinstance(w, torch.nn.Module) else w for w in (a, b))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def start_child(function, *args):
    """Run function(*args), a function of a test module, in a new Python process: one that a
    test can interrupt or kill for real. Its stdout and stderr are pipes of text."""
    code = f"import {function.__module__} as tests; tests.{function.__name__}(*{args!r})"
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": path})


def mnist_available():
    return vae_lite.data.find_files("mnist") is not None


class TinyConditionalVAE(torch.nn.Module):
    """The smallest conditional VAE, with the interface fit and the objectives expect of one:
    encode(x, y), decode(z, y), log_likelihood(x, z, y), loss(x, y, beta) and num_classes.

    The label shifts the encoder's mean and the decoder's logits, so the labels change every
    number it computes. `seen` records each (images, labels) batch that loss() was given.
    """

    def __init__(self, image_shape, num_classes=10, latent_dim=2):
        super().__init__()
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
        if torch.is_grad_enabled():
            self.seen.append((x.detach().clone(), y.clone()))
        terms = vae_lite.elbo(self, x, beta=beta, y=y)
        return -terms.elbo, {"reconstruction": terms.reconstruction, "kl": terms.kl}


@pytest.fixture
def conditional_vae():
    torch.manual_seed(0)
    return TinyConditionalVAE((1, 8, 8))


def pytest_collection_modifyitems(items):
    """`make test`'s second pass runs tests/test_hub.py alone: a hub test elsewhere would run in neither pass."""
    stray = [item.nodeid for item in items if item.get_closest_marker("hub") and item.path.name != "test_hub.py"]
    if stray:
        raise pytest.UsageError(f"tests marked hub must live in tests/test_hub.py (make test runs it alone): {stray}")
