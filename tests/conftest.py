import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
