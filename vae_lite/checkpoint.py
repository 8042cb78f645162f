"""Save and load models as checkpoints that cannot run code.

A checkpoint is a plain dict of tensors, numbers and strings: the weights plus the
arguments the model was built with. `load` reads it with torch.load(weights_only=True),
which refuses pickled objects of any other kind, so a checkpoint from a classmate can
hold numbers but never code.
"""

import pickle
from pathlib import Path

import torch

from .data import atomic_write
from .models import VAE, Autoencoder

FORMAT = "vae_lite-checkpoint"
VERSION = 1
MODEL_CLASSES = {"VAE": VAE, "Autoencoder": Autoencoder}


class CheckpointError(Exception):
    """A file is not a vae_lite checkpoint we can load safely; the message says why."""


def save(model, path, **extra):
    """Write the model's weights and constructor arguments to `path`, atomically.

    `extra` may add plain values (numbers, strings, lists), e.g. the test ELBO or epochs.
    An interrupted save leaves any previous file at `path` intact.
    """
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"save takes a VAE or an Autoencoder, got {name}")
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "config": model.config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(checkpoint, f))
    return path


def load(path, device="cpu"):
    """Rebuild the model saved at `path`, on `device` (a CUDA checkpoint loads on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds objects other than weights and plain values, and loading them could run "
            f"code, so it was refused. Only load checkpoints written by vae_lite.save. ({str(e).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (damaged or truncated?): {e}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vae_lite checkpoint; save one with vae_lite.save(model, path)")
    if checkpoint.get("version") != VERSION:
        raise CheckpointError(
            f"{path} was written by a vae_lite with checkpoint format version {checkpoint.get('version')}, "
            f"but this vae_lite reads version {VERSION}; load it with the version that wrote it, or retrain"
        )
    cls = MODEL_CLASSES.get(checkpoint.get("model"))
    if cls is None:
        raise CheckpointError(f"{path} holds an unknown model type {checkpoint.get('model')!r}")
    config = dict(checkpoint["config"])
    model = cls(**config)
    model.load_state_dict(checkpoint["state_dict"])
    model.checkpoint_extra = checkpoint.get("extra", {})
    return model.to(device).eval()
