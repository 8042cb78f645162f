"""Plumbing for training and evaluation: nothing here is maths, and none of it is needed to read it.

    check_fit_arguments    a clear error for every argument fit cannot use
    pick_device            CUDA, then Apple's MPS, then the CPU (or VAE_LITE_DEVICE)
    training_data          the images fit trains and scores on, placed where batches are cheap
    Session                fit's progress bar, a clean stop on Ctrl-C, the epoch and step of an error
    finish_before_interrupt  let an optimizer step finish before a Ctrl-C takes effect
    in_chunks              a (k, N) computation done in pieces that fit in memory
"""

import contextlib
import math
import os
import signal
import threading
import time

import torch

from .data import ImageData, binarized_test_set


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss became NaN); the message says why.

    `.history` holds the epochs completed before it stopped.
    """

    history = None


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
    """Seed torch's generators so that the same seed gives the same run on the CPU; returns the
    generator fit draws its batch order and binarization from."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def is_conditional(model):
    """A conditional model (p(x|z, y), q(z|x, y)) says how many classes its labels y have."""
    return getattr(model, "num_classes", None) is not None


def training_data(model, data, device):
    """(train, train_labels, test, test_labels): the training images where batches are cheap to
    take, and the test images as they are scored: binarized once with a fixed seed for a Bernoulli
    decoder, so that every run is scored on the same binary images. Labels only for a
    conditional model (None otherwise)."""
    train = place(data.train, device)
    test = data.test
    if test is not None and model.likelihood == "bernoulli":
        test = binarized_test_set(data)
    if not is_conditional(model):
        return train, None, test, None
    return train, place(data.train_labels, device), test, data.test_labels


def place(x, device):
    """Put the data where batches are cheap to take: on the GPU if it fits, else pinned memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() < free // 2:
            return x.to(device)
        return x.pin_memory()
    return x.to(device) if device.type == "mps" else x


def learning_rate_schedule(optimizer, schedule, lr, total_steps):
    """None for a constant lr; for "onecycle", torch's OneCycleLR: the lr rises from lr/25 to lr over
    the first 30 % of the steps, then falls to almost 0."""
    if schedule == "constant":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.3,
                                               cycle_momentum=False)


class Session:
    """The bookkeeping around fit's loop, as a context manager.

    It shows a progress bar (tqdm), times each epoch, stamps a TrainingError with the epoch and
    step where it happened and the History so far, turns Ctrl-C (Jupyter's stop button) into a
    clean stop that keeps the History, and leaves the model in eval mode whatever happens.
    """

    def __init__(self, model, history, epochs, steps, progress):
        self.model, self.history, self.epochs, self.steps = model, history, epochs, steps
        self.epoch, self.step_done = 1, 0
        self.bar = self.shown = None
        self.started = self.began = time.perf_counter()
        if progress:
            from tqdm.auto import tqdm
            from tqdm.notebook import tqdm as notebook_bar

            if issubclass(tqdm, notebook_bar):  # in Jupyter: a bar that a line of text replaces when training ends,
                from IPython.display import display  # so that a notebook stores the outcome, not a bar at 0 %

                self.bar = notebook_bar(total=epochs * steps, unit="step", display=False)
                self.shown = display(self.bar.container, display_id=True)
            else:
                self.bar = tqdm(total=epochs * steps, unit="step", leave=True)

    def __enter__(self):
        return self

    def start_epoch(self, epoch):
        self.epoch, self.step_done, self.started = epoch, 0, time.perf_counter()

    def step(self, means):
        """One step done; the bar shows the batch's terms (nats per example)."""
        self.step_done += 1
        self.history.step_losses.append(means["loss"])
        if self.bar is not None:
            self.bar.update()
            if self.step_done % 25 == 1 or self.step_done == self.steps:
                self.bar.set_description(f"epoch {self.epoch}/{self.epochs} [{self.history.device}]")
                self.bar.set_postfix({k: f"{v:.1f}" for k, v in means.items() if k != "loss"}, refresh=False)

    def end_epoch(self, record):
        self.history.records.append({"epoch": self.epoch, **record, "seconds": time.perf_counter() - self.started})

    def __exit__(self, kind, error, traceback):
        if self.bar is not None:
            self.bar.close()
        if self.shown is not None:
            last = self.history.last
            terms = ", ".join(f"reconstruction error {-v:.1f}" if k == "test_reconstruction"  # -log p(x|z), as the plots
                              else f"{k.removeprefix('test_')} {v:.1f}" for k, v in last.items() if k.startswith("test_"))
            self.shown.update({"text/plain": f"trained {len(self.history)} of {self.epochs} epochs "
                                             f"({len(self.history.step_losses)} steps) on {self.history.device} in "
                                             f"{time.perf_counter() - self.began:.0f} s" + (f"; test: {terms}" if terms else "")},
                              raw=True)
        self.model.eval()
        where = f"epoch {self.epoch}, step {self.step_done + 1}/{self.steps}"
        if isinstance(error, TrainingError):
            stamped = TrainingError(f"{where}: {error}")
            stamped.history = self.history
            raise stamped from None
        if isinstance(error, KeyboardInterrupt):
            self.history.interrupted = True
            print(f"Training stopped at {where}: the model keeps the weights of the last completed step; "
                  f"the History holds {len(self.history)} complete epoch(s).")
            return True  # the interrupt is handled: fit returns the History
        return False


@contextlib.contextmanager
def finish_before_interrupt():
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


def not_finite_message(loss, grad_norm, optimizer, beta):
    what = f"the loss became {loss}" if not math.isfinite(loss) else f"the gradient became {grad_norm}"
    lr = optimizer.param_groups[0]["lr"]
    return (
        f"{what}; training stopped and the model keeps "
        f"the weights from before this step. Likely causes: a learning rate too high (lr={lr:g}; try "
        f"{lr / 10:g}), NaN values in the data, or a Gaussian decoder whose learned variance collapsed "
        f"(set gaussian_std). beta was {beta:g}."
    )


def check_fit_arguments(model, data, epochs, batch_size, lr, beta, schedule="constant", warmup=0):
    """A ValueError or TypeError that says what is wrong, for any argument fit cannot use."""
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
    if not getattr(model, "has_kl", True) and beta != 1:
        raise ValueError(f"beta weights the KL term, and an Autoencoder has none; leave beta at 1 (got {beta!r})")
    if is_conditional(model):
        for split, images, labels in (("train", data.train, data.train_labels), ("test", data.test, data.test_labels)):
            if images is not None and labels is None:
                raise ValueError(f"the model is conditional (num_classes={model.num_classes}) and needs a label for "
                                 f"every image, but the data have no {split}_labels; load a labelled data set, or pass "
                                 f"{split}_labels to ImageData.from_arrays")
            if labels is not None and not 0 <= labels.min() <= labels.max() < model.num_classes:
                raise ValueError(f"{split}_labels must lie in 0..{model.num_classes - 1} (num_classes="
                                 f"{model.num_classes}), got labels from {labels.min().item()} to {labels.max().item()}")


def in_chunks(log_weights, reduce, x, k, y=None, batch_size=None, max_elements=2**23):
    """reduce((k, batch) log weights) -> (batch,) per example, from log_weights(x_batch, n, y_batch) -> (n, batch),
    computed for at most `batch_size` examples and about `max_elements` numbers at a time (objectives
    passes its iw_bound as `reduce`).

    The results are written into tensors made up front: small tensors kept between the chunks'
    large temporaries would leave malloc's heap fragmented, and the process's memory high.
    """
    per_chunk = max(1, max_elements // x[0].numel())
    if batch_size is None:
        batch_size = max(1, min(len(x), per_chunk // min(k, per_chunk)))
    samples_per_chunk = max(1, per_chunk // batch_size)
    results = None
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        yb = None if y is None else y[start:start + batch_size]
        weights = None  # (k, batch)
        for done in range(0, k, samples_per_chunk):
            piece = log_weights(xb, min(samples_per_chunk, k - done), yb)
            if weights is None:
                weights = piece.new_empty(k, len(xb))
            weights[done:done + len(piece)] = piece
            del piece
        if results is None:
            results = weights.new_empty(len(x))
        results[start:start + len(xb)] = reduce(weights)
    return results
