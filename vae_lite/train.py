"""Training: fit a model with Adam, one train_step per batch, one epoch at a time.

    train_step(model, x, optimizer, beta)   loss, backward, check that it is finite, step
    fit(model, data, epochs=...)            the loop around it; returns a History
    evaluate(model, x)                      the mean loss and terms on a test set
    pick_device()                           CUDA, then Apple's MPS, then the CPU

The data stay one tensor; each epoch walks through it in a random order (torch.randperm)
and slices out batches. That is all a DataLoader would do here, without its per-image
Python overhead: the usual Dataset + DataLoader pipeline takes about twice as long per
MNIST epoch on 2 threads (benchmarks/README.md).
"""

import contextlib
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import torch

from .data import ImageData, binarize, binarized_test_set
from .models import Autoencoder


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss became NaN); the message says why.

    `.history` holds the epochs completed before it stopped.
    """

    history = None


@dataclass
class History:
    """What happened in training, one record per completed epoch.

    history["test_elbo"] is the list of that value over epochs; history.records holds
    dicts with epoch, seconds, and train_/test_ loss, reconstruction, kl and elbo (the
    last two for a VAE only). All values are means per example, in nats.
    """

    records: list = field(default_factory=list)
    device: str = "cpu"
    interrupted: bool = False

    def __getitem__(self, key):
        return [r[key] for r in self.records]

    def __len__(self):
        return len(self.records)

    @property
    def last(self):
        return self.records[-1] if self.records else {}

    def __repr__(self):
        last = {k: round(v, 2) for k, v in self.last.items() if isinstance(v, float)}
        return f"History({len(self)} epochs on {self.device}{', interrupted' if self.interrupted else ''}; last: {last})"


def _loss(model, x, beta, y=None):
    """Per-example loss and its named terms; beta weights the KL (an Autoencoder has none)."""
    inputs = (x,) if y is None else (x, y)  # a conditional model also takes the labels
    loss, terms = model.loss(*inputs) if isinstance(model, Autoencoder) else model.loss(*inputs, beta=beta)
    if "kl" in terms:
        terms["elbo"] = terms["reconstruction"] - terms["kl"]
    return loss, terms


def train_step(model, x, optimizer, beta=1.0, y=None):
    """One optimizer step on the batch x; returns the batch means of the loss and its terms.

        loss = mean over the batch of  -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))

    (for an Autoencoder, -log p(x|z) with z = encoder(x): it has no KL.)
    The weights change only when the loss and the gradient are finite; otherwise it raises
    TrainingError and the model keeps its weights. y: the labels, for a conditional model.
    """
    loss, terms = _loss(model, x, beta, y)
    loss = loss.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    means = torch.stack([loss.detach(), *(value.detach().mean() for value in terms.values())])
    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    if not torch.isfinite(means.sum() + grad_norm):  # before step(): the weights stay the last good ones
        raise TrainingError(_not_finite_message(means[0].item(), grad_norm.item(), optimizer, beta))
    with _finish_before_interrupt():
        optimizer.step()
    return dict(zip(["loss", *terms], means.tolist()))


def fit(model, data, *, epochs, batch_size=128, lr=1e-3, beta=1.0, device="auto", seed=0,
        progress=True, binarize_data=None, optimizer=None, schedule="constant", warmup=0):
    """Train `model` on `data.train` with Adam and return a History.

    Each epoch runs train_step on batches in a new random order. The loss is the mean over a
    batch of the per-example negative beta-ELBO (VAE) or reconstruction error (Autoencoder),
    summed over pixels, so beta is the true KL weight.
    schedule="onecycle": the learning rate rises from lr/25 to lr over the first 30 % of the
    steps, then falls to almost 0 (torch's OneCycleLR); "constant" keeps lr.
    warmup: the KL weight rises linearly from 0 to beta over the first `warmup` epochs (KL
    warm-up), so the decoder learns to use z before the KL pulls q(z|x) to the prior:

        beta_t = beta * min(1, t / (warmup * steps per epoch)),   t = 0, 1, ... the step
    binarize_data: sample binary pixels anew each epoch (dynamic binarization) and score
    on one fixed binarized test set; by default on for a Bernoulli decoder, whose
    likelihood is only a true likelihood on binary data.
    A conditional model (one with `num_classes`) learns from the labels too: data.train_labels,
    and data.test_labels for the test scores. Ctrl-C (Jupyter's stop button) ends training
    cleanly and returns the History so far.
    """
    _check_arguments(model, data, epochs, batch_size, lr, beta, schedule, warmup)
    device = pick_device(device)
    generator = seed_everything(seed)
    if binarize_data is None:
        binarize_data = model.likelihood == "bernoulli"
    model.to(device).train()
    # fused=True: the same Adam in one kernel per tensor, ~10% faster per step on a CPU
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
    train = _place(data.train, device)
    test = None
    if data.test is not None:
        test = binarized_test_set(data) if binarize_data else data.test
    train_labels = test_labels = None
    if _conditional(model):  # it learns from the labels too
        train_labels, test_labels = _place(data.train_labels, device), data.test_labels
    steps = math.ceil(len(train) / batch_size)
    scheduler = None
    if schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps,
                                                        pct_start=0.3, cycle_momentum=False)
    history = History(device=str(device))
    bar = _progress_bar(epochs * steps, progress)

    epoch, step = 1, -1  # so that a stop before the first step can still be reported
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            sums = {}
            order = torch.randperm(len(train), generator=generator).to(train.device)
            for step in range(steps):
                batch = order[step * batch_size:(step + 1) * batch_size]
                x = train[batch].to(device, non_blocking=True)
                y = None if train_labels is None else train_labels[batch].to(device, non_blocking=True)
                if binarize_data:
                    x = torch.bernoulli(x) if x.device.type != "cpu" else binarize(x, generator)
                kl_weight = beta * min(1.0, ((epoch - 1) * steps + step) / (warmup * steps)) if warmup else beta
                means = train_step(model, x, optimizer, kl_weight, y)
                if scheduler is not None:
                    scheduler.step()
                for key, value in means.items():
                    sums[key] = sums.get(key, 0.0) + value * len(x)
                if bar is not None:
                    bar.update()
                    if step % 25 == 0 or step == steps - 1:
                        bar.set_description(f"epoch {epoch}/{epochs} [{device}]")
                        bar.set_postfix({k: f"{v:.1f}" for k, v in means.items() if k != "loss"}, refresh=False)
            record = {"epoch": epoch}
            record.update({f"train_{k}": v / len(train) for k, v in sums.items()})
            if test is not None:
                record.update({f"test_{k}": v for k, v in evaluate(model, test, beta, y=test_labels).items()})
            record["seconds"] = time.perf_counter() - start
            history.records.append(record)
    except TrainingError as e:
        error = TrainingError(f"epoch {epoch}, step {step + 1}/{steps}: {e}")
        error.history = history
        raise error from None
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training stopped at epoch {epoch}, step {step + 1}/{steps}: the model keeps the weights "
              f"of the last completed step; the History holds {len(history)} complete epoch(s).")
    finally:
        if bar is not None:
            bar.close()
        model.eval()
    return history


@torch.inference_mode()
def evaluate(model, x, beta=1.0, batch_size=1000, y=None):
    """Mean loss and terms over x (no gradients); x is already binarized if it should be.

    y: the labels of x, for a conditional model.
    """
    model.eval()
    totals = {}
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(model.device, non_blocking=True)
        yb = None if y is None else y[start:start + batch_size].to(model.device, non_blocking=True)
        loss, terms = _loss(model, xb, beta, yb)
        for key, value in {"loss": loss, **terms}.items():
            totals[key] = totals.get(key, 0.0) + value.sum().item()
    model.train()
    return {key: total / len(x) for key, total in totals.items()}


def pick_device(device="auto"):
    """The device to train on. "auto" takes CUDA, then Apple's MPS, then the CPU.

    device may be "auto", "cpu", "cuda", "cuda:1" or "mps". An explicit device wins; the
    environment variable VAE_LITE_DEVICE (for example VAE_LITE_DEVICE=cpu) only replaces
    "auto", so it picks the device for every notebook without overriding a choice in code.
    Asking for a device that is unknown or not available here is an error, from either.
    """
    device, where, fix = str(device or "auto"), "", "use device='auto' to take the best one there is"
    if device == "auto" and os.environ.get("VAE_LITE_DEVICE"):
        device = os.environ["VAE_LITE_DEVICE"].strip()
        where, fix = " (by the environment variable VAE_LITE_DEVICE)", "set VAE_LITE_DEVICE=auto, or unset it"
    kind = device.split(":")[0]
    if kind not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}{where}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if kind == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (kind == "cuda" and not cuda) or (kind == "mps" and not mps):
        raise ValueError(f"device {device!r} was asked for{where} but is not available here; {fix}")
    return torch.device(device)


def seed_everything(seed):
    """Seed torch's generators so that the same seed gives the same run on the CPU."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- helpers of fit


@contextlib.contextmanager
def _finish_before_interrupt():
    """Let an optimizer step finish before a Ctrl-C / Jupyter "stop" takes effect.

    Otherwise an interrupt could land half-way through Adam's update and leave the
    weights in a state no step produced.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield  # SIGINT is ignored or left to the OS here: nothing to defer
        return
    pressed = []
    signal.signal(signal.SIGINT, lambda *args: pressed.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        previous(*pressed[0])  # deliver it now, as it would have been: a KeyboardInterrupt, usually


def _place(x, device):
    """Put the data where batches are cheap to take: on the GPU if it fits, else pinned memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() < free // 2:
            return x.to(device)
        return x.pin_memory()
    return x.to(device) if device.type == "mps" else x


def _conditional(model):
    """A conditional model (p(x|z, y), q(z|x, y)) says how many classes its labels y have."""
    return getattr(model, "num_classes", None) is not None


def _check_arguments(model, data, epochs, batch_size, lr, beta, schedule="constant", warmup=0):
    if not isinstance(data, ImageData):
        raise TypeError(f"data must be an ImageData (from load_dataset or ImageData.from_arrays), "
                        f"got {type(data).__name__}")
    if tuple(model.image_shape) != tuple(data.image_shape):
        raise ValueError(f"the model expects images of shape {tuple(model.image_shape)} but the data's are "
                         f"{tuple(data.image_shape)}; build the model with image_shape=data.image_shape")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= len(data.train):
        raise ValueError(f"batch_size must be between 1 and the {len(data.train)} training images, "
                         f"got {batch_size!r}")
    if not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not beta >= 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    if schedule not in ("constant", "onecycle"):
        raise ValueError(f"schedule must be 'constant' or 'onecycle', got {schedule!r}")
    if not isinstance(warmup, (int, float)) or not 0 <= warmup <= epochs:
        raise ValueError(f"warmup is the number of epochs over which the KL weight rises from 0 to beta: "
                         f"between 0 and epochs={epochs}, got {warmup!r}")
    if isinstance(model, Autoencoder) and beta != 1:
        raise ValueError(f"beta weights the KL term, and an Autoencoder has none; leave beta at 1 (got {beta!r})")
    if _conditional(model):
        for split, images, labels in (("train", data.train, data.train_labels), ("test", data.test, data.test_labels)):
            if images is not None and labels is None:
                raise ValueError(f"the model is conditional (num_classes={model.num_classes}) and needs a label for "
                                 f"every image, but the data have no {split}_labels; load a labelled data set, or pass "
                                 f"{split}_labels to ImageData.from_arrays")
            if labels is not None and not 0 <= labels.min() <= labels.max() < model.num_classes:
                raise ValueError(f"{split}_labels must lie in 0..{model.num_classes - 1} (num_classes="
                                 f"{model.num_classes}), got labels from {labels.min().item()} to {labels.max().item()}")


def _not_finite_message(loss, grad_norm, optimizer, beta):
    what = f"the loss became {loss}" if not math.isfinite(loss) else f"the gradient became {grad_norm}"
    lr = optimizer.param_groups[0]["lr"]
    return (
        f"{what}; training stopped and the model keeps "
        f"the weights from before this step. Likely causes: a learning rate too high (lr={lr:g}; try "
        f"{lr / 10:g}), NaN values in the data, or a Gaussian decoder whose learned variance collapsed "
        f"(set gaussian_std). beta was {beta:g}."
    )


def _progress_bar(total, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", leave=True)
