"""The default model, already trained, so notebooks 06 and 07 need not spend a minute on it.

vae_lite/checkpoints/mnist_vae.pt is the package's default VAE (MLP 784-400-20, Bernoulli
decoder) trained for 10 epochs on MNIST with dynamic binarization, written by

    VAE_LITE_DATA=/path/to/data python -m vae_lite train --dataset mnist --epochs 10 --seed 0 \\
        --quiet --out vae_lite/checkpoints/mnist_vae.pt

(The committed file predates --seed seeding the initial weights as well, so a rerun gives a
model of the same configuration and training, not the same weights.)

If that file is missing (an install without package data), default_model trains the same
model (about half a minute on 2 CPU cores) and caches it in the user cache folder.
For any other data set (Fashion-MNIST, the 8x8 digits when MNIST is not available, your own
images) it trains a model of the same shape on that data: the MNIST weights would not fit
it, even where the images have MNIST's shape. The data set is told by its name, data.name.
"""

from pathlib import Path

import torch

from .checkpoint import load, save
from .data import _cache_dir, load_dataset
from .models import VAE
from .train import fit

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "mnist_vae.pt"
SETTINGS = dict(latent_dim=20, hidden=400)  # the package defaults
EPOCHS = 10


def default_model(data=None, device="cpu"):
    """The default VAE for `data` (MNIST when None): loaded if it was trained before, else trained now."""
    if data is not None and data.name != "mnist":
        return _train(data, epochs=max(EPOCHS, 30_000 // len(data.train)), device=device)  # small data: more epochs
    for path in (CHECKPOINT, _cache_dir() / CHECKPOINT.name):
        if path.is_file():
            return load(path, device=device)
    print(f"No pretrained checkpoint at {CHECKPOINT}: training the default model for {EPOCHS} epochs "
          f"on MNIST and caching it in {_cache_dir()}.")
    data = data if data is not None else load_dataset("mnist")
    model = _train(data, EPOCHS, device)
    save(model, _cache_dir() / CHECKPOINT.name, dataset=data.name, epochs=EPOCHS)
    return model


def _train(data, epochs, device):
    torch.manual_seed(0)  # the initial weights, so the same data give the same model
    model = VAE(data.image_shape, **SETTINGS)
    fit(model, data, epochs=epochs, seed=0, progress=False, device=device)
    return model.eval()
