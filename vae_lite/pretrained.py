"""The default models, already trained, so that the notebooks need not spend a minute on each.

vae_lite/checkpoints/mnist_vae.pt is the package's default VAE (MLP encoder 784-256-100 for mu
and log sigma^2, decoder 50-512-784, Bernoulli) trained with the default recipe, TRAINING: 16
epochs of batches of 256 with dynamic binarization, a one-cycle learning rate peaking at 8e-3,
the KL weight warmed up over the first 2 epochs, the decoder started at the mean training image.
It was written by

    python -m vae_lite train --dataset mnist --seed 0 --quiet --out vae_lite/checkpoints/mnist_vae.pt

whose defaults are this recipe. `python benchmarks/quality.py mnist-default` trains it again
with train_default_model below, checks that it gets the shipped weights, and scores it on all
10,000 test images (results/quality.json). It is the best of the configurations
screened for one minute of training on 2 cores (benchmarks/README.md, "Quality per CPU-second").

mnist_autoencoder.pt is the autoencoder of the same sizes trained with the same recipe (an
autoencoder has no KL, so the warm-up does nothing), notebook 05's yardstick for samples:

    python -m vae_lite train --dataset mnist --model ae --seed 0 --quiet --out vae_lite/checkpoints/mnist_autoencoder.pt

If a file is missing (an install without package data), default_model trains the same model
and caches it in the user cache folder. For any other data set (Fashion-MNIST, the 8x8 digits
when MNIST is not available, your own images) it trains a model of the same shape on that
data: the MNIST weights would not fit it, even where the images have MNIST's shape. The data
set is told by its name, data.name. That model is cached too, keyed by the training images and
the code that trains it, so notebooks 06, 07, 08 and 10 train it once between them.
"""

import copy
import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import torch

from .checkpoint import load, save
from .data import _cache_dir, load_dataset
from .models import VAE, Autoencoder, Settings
from .variants import ConditionalVAE
from .train import fit

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "mnist_vae.pt"
AUTOENCODER_CHECKPOINT = CHECKPOINT.with_name("mnist_autoencoder.pt")
_DEFAULTS = Settings((1, 28, 28))  # the default VAE: Settings' defaults, stated there once
SETTINGS = dict(latent_dim=_DEFAULTS.latent_dim, encoder_hidden=_DEFAULTS.encoder_hidden,
                decoder_hidden=_DEFAULTS.decoder_hidden)
TRAINING = dict(epochs=16, batch_size=256, lr=8e-3, schedule="onecycle", warmup=2)
KINDS = {"vae": (VAE, CHECKPOINT), "autoencoder": (Autoencoder, AUTOENCODER_CHECKPOINT)}


def default_model(data=None, device="cpu", kind="vae"):
    """The default VAE (kind="autoencoder": the autoencoder of its sizes) for `data` (MNIST when
    None): loaded if it was trained before, else trained now."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    checkpoint = KINDS[kind][1]
    if data is not None and data.name != "mnist":  # trained once per data set and code, then cached
        cached = _cache_dir() / f"{data.name}_{kind}_{_fingerprint(data, kind)}.pt"
        if cached.is_file():
            return load(cached, device=device)
        model = train_default_model(data, device=device, kind=kind)
        save(model, cached, dataset=data.name)
        return model
    for path in (checkpoint, _cache_dir() / checkpoint.name):
        if path.is_file():
            return load(path, device=device)
    print(f"No pretrained checkpoint at {checkpoint}: training the default {kind} on MNIST "
          f"({TRAINING['epochs']} epochs, about a minute on 2 cores) and caching it in {_cache_dir()}.")
    data = data if data is not None else load_dataset("mnist")
    model = train_default_model(data, device=device, kind=kind)
    save(model, _cache_dir() / checkpoint.name, dataset=data.name, epochs=TRAINING["epochs"])
    return model


def _fingerprint(data, kind):
    """What a default model trained on other data depends on: the training images, the sizes and recipe,
    and the code that trains it (so an edited vae_lite does not load a model its old code made)."""
    digest = hashlib.blake2b(repr((kind, SETTINGS, TRAINING, data.image_shape)).encode(), digest_size=8)
    digest.update(data.train.contiguous().numpy())  # the bytes, read in place
    for module in ("models.py", "train.py", "objectives.py", "pretrained.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()


def train_default_model(data, device="cpu", seed=0, kind="vae"):
    """The default recipe on `data`; small data sets get more epochs (at least 30,000 images seen)."""
    torch.manual_seed(seed)  # the initial weights, so the same data give the same model
    model = KINDS[kind][0](data.image_shape, **SETTINGS).start_at_mean_image(data.train)
    epochs = max(TRAINING["epochs"], 30_000 // len(data.train))
    batch_size = min(TRAINING["batch_size"], len(data.train))
    fit(model, data, **{**TRAINING, "epochs": epochs, "batch_size": batch_size}, seed=seed, progress=False,
        device=device)
    return model.eval()


# ------------------------------------------------------------------------ notebook 11
#
# Notebook 11's three convolutional models. A conv model trains at about 35 CPU-seconds per
# MNIST epoch, too slow for a class, so they ship trained for MNIST and the 8x8 digits, made by
#
#     VAE_LITE_DATA=/path/to/data python -c "from vae_lite import pretrained; pretrained.train_conditional_models('mnist')"
#
# and the same with 'digits' (MNIST: 10 epochs, about 17 CPU-minutes for the three models; the 8x8
# digits: 200 epochs, 2 minutes; 'fashion-mnist' works the same way but is not shipped; we ran them on one
# thread). The weights are stored in float16, half the size, and load as float32. On other data,
# conditional_models trains the models on the spot.



CONDITIONAL_SETTINGS = dict(latent_dim=16, hidden=64, arch="conv")
MAP_SETTINGS = dict(latent_dim=2, hidden=64, arch="conv")
CONDITIONAL_EPOCHS = {"mnist": 10, "fashion-mnist": 10, "digits": 200}
CONDITIONAL_NAMES = ("cvae", "conv_vae", "conv_vae_2d")


def conditional_checkpoint(dataset, name):
    """Where notebook 11's model `name` (cvae, conv_vae or conv_vae_2d) for `dataset` ships."""
    return CHECKPOINT.parent / f"{dataset}_{name}.pt"


class ConditionalModels(NamedTuple):
    cvae: ConditionalVAE  # the label conditions encoder and decoder
    vae: VAE              # the same networks without the label
    vae_2d: VAE           # two latent dimensions: the drawing explorer's map


def _make_conditional_models(data):
    torch.manual_seed(0)  # the initial weights, so the same data give the same models
    cvae = ConditionalVAE(data.image_shape, int(data.train_labels.max()) + 1, **CONDITIONAL_SETTINGS)
    torch.manual_seed(0)
    vae = VAE(data.image_shape, **CONDITIONAL_SETTINGS)
    torch.manual_seed(0)
    vae_2d = VAE(data.image_shape, **MAP_SETTINGS)
    return ConditionalModels(cvae, vae, vae_2d)


def _fit_and_record(model, data, epochs, lr):
    """fit (which passes the labels to the ConditionalVAE), then what a checkpoint keeps of it."""
    cpu = time.process_time()
    history = fit(model, data, epochs=epochs, lr=lr, seed=0, progress=False)
    return dict(dataset=data.name, epochs=epochs, lr=lr, cpu_seconds=time.process_time() - cpu,
                history=history.records)


def train_conditional_models(dataset="mnist", epochs=None, out_dir=None):
    """Train notebook 11's models on `dataset` with fit and save them (float16 weights) to `out_dir`."""
    data = load_dataset(dataset)
    epochs = epochs or CONDITIONAL_EPOCHS[dataset]
    for name, model in zip(CONDITIONAL_NAMES, _make_conditional_models(data)):
        record = _fit_and_record(model, data, epochs, lr=1e-3)
        path = conditional_checkpoint(dataset, name)
        path = Path(out_dir) / path.name if out_dir is not None else path
        save(copy.deepcopy(model).half(), path, weights="float16", **record)
        print(f"{path.name}: {epochs} epochs, test ELBO {record['history'][-1]['test_elbo']:.2f} nats, "
              f"{record['cpu_seconds']:.0f} CPU-s", flush=True)


CONDITIONAL_BUDGET = 36_000  # images seen per model (epochs x training images) where none ships


def conditional_models(data=None, device="cpu", budget=CONDITIONAL_BUDGET, lr=3e-3):
    """Notebook 11's models for `data` (MNIST when None): a conv ConditionalVAE, the same networks
    as a VAE, and a 2-latent conv VAE. Loaded for MNIST and the 8x8 digits; for
    other data trained here, each on `budget` images (epochs x training images, at least 3 epochs)
    with a larger learning rate than the shipped models, since the run is short.
    model.checkpoint_extra says how each was trained (history: fit's records)."""
    data = data if data is not None else load_dataset("mnist")
    paths = [conditional_checkpoint(data.name, name) for name in CONDITIONAL_NAMES]
    if all(path.is_file() for path in paths):
        models = [load(path, device=device) for path in paths]
        if all(tuple(m.image_shape) == tuple(data.image_shape) for m in models):
            return ConditionalModels(*models)
    if data.train_labels is None:
        raise ValueError(f"notebook 11's conditional VAE needs labelled data; {data.name} has no labels")
    subset = data.subset(train=min(len(data.train), budget // 3))
    epochs = max(3, budget // len(subset.train))
    print(f"No shipped models for {data.name}: training notebook 11's three models on {len(subset.train)} "
          f"images for {epochs} epochs each.")
    models = _make_conditional_models(subset)
    for model in models:  # the same record a shipped checkpoint carries
        model.checkpoint_extra = _fit_and_record(model, subset, epochs, lr)
    return ConditionalModels(*(model.to(device).eval() for model in models))
