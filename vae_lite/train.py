"""Training: one train_step per batch, fit loops over them, evaluate scores a test set.

    train_step(model, x, optimizer, beta)   loss, backward, check that it is finite, step
    kl_weight(t, warmup_steps)              the KL's weight at step t: 0 rising to 1 (KL warm-up)
    fit(model, data, epochs=...)            Adam over shuffled batches, epoch after epoch; a History
    evaluate(model, x)                      the mean loss and terms on a test set

The data stay one tensor; each epoch walks through it in a random order (torch.randperm)
and slices out batches. That is all a DataLoader would do here, without its per-image
Python overhead (benchmarks/README.md). Checks of the arguments, the device, the progress
bar and Ctrl-C are plumbing, in vae_lite/support.py.
"""

import math
from dataclasses import dataclass, field

import torch

from .data import binarize
from .support import (
    Session, TrainingError, check_fit_arguments, finish_before_interrupt, learning_rate_schedule,
    not_finite_message, pick_device, seed_everything, training_data,
)

__all__ = ["History", "TrainingError", "evaluate", "fit", "kl_weight", "pick_device", "seed_everything",
           "train_step"]


@dataclass
class History:
    """What happened in training, one record per completed epoch.

    history["test_elbo"] is the list of that value over epochs; history.records holds
    dicts with epoch, seconds, and train_/test_ loss, reconstruction, kl and elbo (the
    last two for a VAE only); history.step_losses the loss of every step's batch. All values
    are means per example, in nats.
    """

    records: list = field(default_factory=list)
    step_losses: list = field(default_factory=list)
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


def train_step(model, x, optimizer, beta=1.0, y=None):
    """One optimizer step on the batch x; returns the batch means of the loss and its terms.

        loss = mean over the batch of  -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))

    (for an Autoencoder, -log p(x|z) with z = encoder(x): it has no KL.)
    The weights change only when the loss and the gradient are finite; otherwise it raises
    TrainingError and the model keeps its weights. y: the labels, for a conditional model.
    """
    loss, terms = model.loss(x, beta=beta) if y is None else model.loss(x, y, beta=beta)  # (N,), {name: (N,)}
    loss = loss.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    means = torch.stack([loss.detach(), *(value.detach().mean() for value in terms.values())])
    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    if not torch.isfinite(means.sum() + grad_norm):  # before step(): the weights stay the last good ones
        raise TrainingError(not_finite_message(means[0].item(), grad_norm.item(), optimizer, beta))
    with finish_before_interrupt():
        optimizer.step()
    return dict(zip(["loss", *terms], means.tolist()))


def kl_weight(step, warmup_steps):
    """The KL's weight at training step t, as a fraction of beta (KL warm-up):

        beta_t / beta = min(1, t / warmup_steps),   t = 0, 1, ...;   1 when warmup_steps = 0

    so that the decoder learns to use z before the KL pulls q(z|x) to the prior.
    """
    return min(1.0, step / warmup_steps) if warmup_steps else 1.0


def fit(model, data, *, epochs, batch_size=128, lr=1e-3, beta=1.0, schedule="constant", warmup=0,
        optimizer=None, seed=0, device="auto", progress=True):
    """Train `model` on `data.train` with Adam and return a History of its epochs.

    Each step minimises the batch mean of the per-example negative beta-ELBO (VAE) or
    reconstruction error (Autoencoder), summed over pixels, so beta is the true KL weight;
    with warmup > 0 the weight rises over the first `warmup` epochs (kl_weight).
    schedule="onecycle" raises the learning rate to lr and lowers it again (OneCycleLR).
    A Bernoulli decoder is trained on binary pixels drawn anew each step from the grey levels
    (dynamic binarization) and scored on a test set binarized once. A conditional model also
    learns from data.train_labels. Ctrl-C (Jupyter's stop button) ends training cleanly.
    """
    check_fit_arguments(model, data, epochs, batch_size, lr, beta, schedule, warmup)
    device, generator = pick_device(device), seed_everything(seed)
    model.to(device).train()
    # fused=True: the same Adam in one kernel per tensor, ~10% faster per step on a CPU
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
    train, train_labels, test, test_labels = training_data(model, data, device)
    steps = math.ceil(len(train) / batch_size)
    scheduler = learning_rate_schedule(optimizer, schedule, lr, epochs * steps)
    history = History(device=str(device))
    with Session(model, history, epochs, steps, progress) as session:
        for epoch in range(1, epochs + 1):
            session.start_epoch(epoch)
            order, sums = torch.randperm(len(train), generator=generator).to(train.device), {}
            for step in range(steps):
                batch = order[step * batch_size:(step + 1) * batch_size]
                x = train[batch].to(device, non_blocking=True)  # (B, C, H, W), grey levels in [0, 1]
                if model.likelihood == "bernoulli":  # each pixel ~ Bernoulli(its grey level)
                    x = torch.bernoulli(x) if x.device.type != "cpu" else binarize(x, generator)
                y = None if train_labels is None else train_labels[batch].to(device, non_blocking=True)
                t = (epoch - 1) * steps + step
                means = train_step(model, x, optimizer, beta * kl_weight(t, warmup * steps), y)
                if scheduler is not None:
                    scheduler.step()
                for key, value in means.items():
                    sums[key] = sums.get(key, 0.0) + value * len(x)
                session.step(means)
            record = {f"train_{k}": v / len(train) for k, v in sums.items()}
            if test is not None:
                record.update({f"test_{k}": v for k, v in evaluate(model, test, beta, y=test_labels).items()})
            session.end_epoch(record)
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
        loss, terms = model.loss(xb, beta=beta) if yb is None else model.loss(xb, yb, beta=beta)
        for key, value in {"loss": loss, **terms}.items():
            totals[key] = totals.get(key, 0.0) + value.sum().item()
    model.train()
    return {key: total / len(x) for key, total in totals.items()}
