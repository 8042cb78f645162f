"""Save and load models as checkpoints that cannot run code.

A checkpoint is a plain dict of tensors, numbers and strings: the weights plus the
arguments the model was built with. `load` reads it with torch.load(weights_only=True),
which refuses pickled objects of any other kind, so a checkpoint from a classmate can
hold numbers but never code.
"""

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._files import atomic_write
from .models import VAE, Autoencoder
from .variants import IWAE, ConditionalVAE, PaperVAE

FORMAT = "vae_lite-checkpoint"
VERSION = 1
MODEL_CLASSES = {cls.__name__: cls for cls in (VAE, Autoencoder, ConditionalVAE, IWAE, PaperVAE)}
# An MLP trained with another nonlinearity in place of its ReLUs (benchmarks/frontier.py --activation)
# records it as save(..., activation="tanh"); load puts it back, or the network computes something else.
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh, "softplus": nn.Softplus,
               "gelu": nn.GELU}


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
        "extra": _plain(extra, "extra"),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(checkpoint, f))
    return path


def _plain(value, where):
    """`value` as data that `load` can read back: numbers, strings, tensors, and lists and dicts of them.

    Checked here, at save time, because anything else (a numpy float, say) would be saved
    without complaint and then refused by load's weights_only reader.
    """
    if isinstance(value, np.generic):  # numpy numbers, e.g. np.float64 (a subclass of float!)
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"save cannot store {where} = {value!r} of type {type(value).__name__}: a checkpoint holds only "
        "numbers, strings, tensors, and lists and dicts of them, so that loading it can never run code"
    )


def load(path, device="cpu"):
    """Rebuild the model saved at `path`, on `device` (a CUDA checkpoint loads on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" not in str(e).lower():
            raise CheckpointError(f"{path} is not a readable checkpoint (damaged or truncated?): {e}") from None
        # torch's message goes on to suggest weights_only=False; keep only the line naming what was found
        found = [line.strip() for line in str(e).splitlines() if "unsupported" in line.lower()]
        raise CheckpointError(
            f"{path} holds objects other than weights and plain values, and loading them could run "
            f"code, so it was refused. Only load checkpoints written by vae_lite.save."
            + (f" ({found[0]})" if found else "")
        ) from None
    except Exception as e:  # a damaged file makes torch raise RuntimeError, EOFError, KeyError, ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint (damaged or truncated?): {type(e).__name__}: {e}. "
            "Save the model again, or get a fresh copy of the file."
        ) from None
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
    try:
        model = cls(**dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} holds a {checkpoint['model']} whose settings or weights do not "
                              f"fit together, so it is damaged or was edited: {e}") from None
    model.checkpoint_extra = checkpoint.get("extra", {})
    _put_back_activation(model, model.checkpoint_extra.get("activation", "relu"), path)
    return model.to(device).eval()


def _put_back_activation(model, activation, path):
    """Replace the model's ReLUs by the nonlinearity it was trained with (extra["activation"])."""
    if activation == "relu":
        return
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"{path} was trained with the activation {activation!r}, which this vae_lite "
                              f"does not know (it knows {', '.join(ACTIVATIONS)})")
    relus = [(module, name) for module in model.modules() for name, child in module.named_children()
             if isinstance(child, nn.ReLU)]
    if getattr(model, "arch", "mlp") != "mlp" or not relus:
        raise CheckpointError(f"{path} was trained with {activation} in place of ReLU, which only an MLP's "
                              "nn.ReLU layers can be swapped for")
    for module, name in relus:
        setattr(module, name, ACTIVATIONS[activation]())
