"""vae_lite: a small, readable Variational Autoencoder package for teaching.

    data = vae_lite.load_dataset("auto")
    model = vae_lite.VAE(data.image_shape).start_at_mean_image(data.train)
    history = vae_lite.fit(model, data, epochs=16, batch_size=256, lr=8e-3, schedule="onecycle", warmup=2)
    print(history.last["test_elbo"])
"""

import os

from .checkpoint import CheckpointError, load, save
from .data import DataError, ImageData, binarize, binarized_test_set, load_dataset, read_idx
from .models import VAE, Autoencoder, Settings
from .objectives import (
    ELBO, elbo, iw_log_likelihood, kl_normal, kl_standard_normal, log_weights, reparameterize,
)
from .train import History, TrainingError, evaluate, fit, kl_weight, pick_device, seed_everything, train_step
from .variants import IWAE, ConditionalVAE, LinearGaussian, PaperVAE

__version__ = "0.1.0"


def quick_mode():
    """True when VAE_LITE_QUICK=1: notebooks shrink data and epochs (for CI)."""
    return os.environ.get("VAE_LITE_QUICK", "0") not in ("", "0", "false", "False")


def setup_notebook(seed=0):
    """The first call of every notebook; returns True in quick mode (VAE_LITE_QUICK=1).

    Seeds torch, makes figures projector-ready (VAE_LITE_STYLE=plain turns that off) and, in
    quick mode, uses one thread: the tiny quick-mode models gain nothing from a second one, and
    on a busy machine two threads wait for each other.

    The notebooks train on the CPU (VAE_LITE_DEVICE=cpu unless it is set): their models are small,
    their checks compare with numbers made on a CPU (a GPU draws other random bits), and their
    tensors stay on the CPU. fit itself still picks CUDA, then MPS, wherever it is called with
    device="auto" outside the notebooks.
    """
    import torch

    from . import plots

    os.environ.setdefault("VAE_LITE_DEVICE", "cpu")
    quick = quick_mode()
    torch.manual_seed(seed)
    if quick:
        torch.set_num_threads(1)
    plots.use_style(os.environ.get("VAE_LITE_STYLE", "projector") != "plain")
    print("quick mode: less data, fewer epochs" if quick else "class mode")
    return quick


__all__ = [
    "Autoencoder", "CheckpointError", "ConditionalVAE", "DataError", "ELBO", "History", "IWAE", "ImageData",
    "LinearGaussian", "PaperVAE", "Settings",
    "TrainingError", "VAE", "binarize", "binarized_test_set", "elbo", "evaluate", "fit",
    "iw_log_likelihood", "kl_normal", "kl_weight", "kl_standard_normal", "load", "load_dataset", "log_weights", "pick_device",
    "quick_mode", "read_idx", "reparameterize", "save", "seed_everything", "setup_notebook", "train_step",
]
