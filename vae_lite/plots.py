"""Matplotlib figures the notebooks use. Each function returns the Figure it draws.

use_style() makes every figure readable on a projector: about 1000 px wide at 100 % zoom,
text of 12 pt or more, and matplotlib's colour-blind-safe palette petroff10 instead of
tab10. It is on by default in the notebooks (vae_lite.setup_notebook); use_style(False), or
VAE_LITE_STYLE=plain in the environment, goes back to matplotlib's own defaults.
"""

import math

import matplotlib as mpl
import matplotlib.pyplot as plt
import torch

PROJECTOR_STYLE = {
    "figure.figsize": (10, 4), "figure.dpi": 100, "savefig.dpi": "figure",
    "font.size": 14, "axes.titlesize": 15, "axes.labelsize": 14, "legend.fontsize": 12,
    "xtick.labelsize": 12, "ytick.labelsize": 12, "lines.linewidth": 2, "lines.markersize": 7,
}


def use_style(projector=True):
    """Projector-sized figures in the petroff10 palette (projector=True), or matplotlib's defaults."""
    mpl.rcParams.update(mpl.rcParamsDefault)
    if projector:
        plt.style.use("petroff10")
        mpl.rcParams.update(PROJECTOR_STYLE)


def image_grid(images, ncols=10):
    """Tile (N, C, H, W) images into one (H*rows, W*cols) array for imshow (first channel)."""
    images = torch.as_tensor(images).detach().cpu()[:, 0]
    n, h, w = images.shape
    nrows = math.ceil(n / ncols)
    grid = torch.zeros(nrows * h + nrows - 1, ncols * w + ncols - 1)  # 1-pixel white gaps (0 is white in gray_r)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image
    return grid.numpy()


def show_images(images, ncols=10, title=None, ax=None, size=0.6):
    """Show images as a grid in grey-scale, black ink on white like the digits on paper."""
    n = len(images)
    ncols = min(ncols, n)
    if ax is None:
        nrows = math.ceil(n / ncols)
        fig, ax = plt.subplots(figsize=(max(2.0, size * ncols), max(1.0, size * nrows)), dpi=90)
    ax.imshow(image_grid(images, ncols), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax.figure


def show_rows(rows, ncols=10, size=0.6):
    """Several labelled rows of images, e.g. {"data": x, "reconstruction": x_hat}."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * ncols, 1.1 * size * ncols / 10 * len(rows) + 0.3 * len(rows)),
                             dpi=90, squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        show_images(images[:ncols], ncols, title=label, ax=ax)
    fig.tight_layout()
    return fig


def plot_history(history, keys=("test_reconstruction", "test_kl"), ax=None, title=None):
    """Curves of History values over epochs (nats per image)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    epochs = history["epoch"]
    for key in keys:
        ax.plot(epochs, history[key], marker="o", label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.legend()
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


# --- notebooks 05-07


def plot_loss_terms(history, split="test", ax=None, title=None):
    """The negative ELBO and its two terms over epochs, on one axis (nats per image):
    reconstruction error -E_q[log p(x|z)], the KL, and their sum, the loss."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    epochs = history["epoch"]
    reconstruction_error = [-v for v in history[f"{split}_reconstruction"]]
    kl = history[f"{split}_kl"]
    ax.plot(epochs, [r + k for r, k in zip(reconstruction_error, kl)], marker="o", color="black",
            label="negative ELBO = sum of both")
    ax.plot(epochs, reconstruction_error, marker="o", label="reconstruction error  -E[log p(x|z)]")
    ax.plot(epochs, kl, marker="o", label="KL(q(z|x) || p(z))")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"nats per {split} image")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    ax.set_title(title or f"the loss and its two terms ({split} set)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def latent_scatter(points, labels=None, ax=None, title=None):
    """2-D latent points (e.g. encoder means) coloured by label."""
    points = torch.as_tensor(points).detach().cpu()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=90)
    colours = None if labels is None else torch.as_tensor(labels).cpu()
    scatter = ax.scatter(points[:, 0], points[:, 1], c=colours, cmap="tab10", s=3, alpha=0.7,
                         vmin=-0.5, vmax=9.5)
    if labels is not None:
        ax.figure.colorbar(scatter, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def manifold_grid(model, n=15, ax=None, title=None):
    """Decode an n x n grid of z in a 2-latent model, spaced by the prior's quantiles
    (5% to 95%), so each image covers the same prior probability mass."""
    if model.latent_dim != 2:
        raise ValueError(f"manifold_grid needs a model with latent_dim=2, got {model.latent_dim}")
    quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    z1, z0 = torch.meshgrid(quantiles.flip(0), quantiles, indexing="ij")  # z[1] grows upwards
    z = torch.stack([z0.reshape(-1), z1.reshape(-1)], dim=1).to(model.device)
    with torch.inference_mode():
        images = model.decode(z).cpu()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=90)
    ax.imshow(image_grid(images, ncols=n), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title or f"decoded z on a {n} x {n} grid (prior quantiles 5%..95%)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_kl_per_dimension(kl, activity=None, threshold=0.01, ax=None, title=None):
    """Bars of the KL of each latent dimension, largest first; active units (Burda et al.:
    Cov_x(E[z_d|x]) > threshold) in colour, inactive ones in grey."""
    kl = torch.as_tensor(kl).cpu()
    order = torch.argsort(kl, descending=True)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 2.6), dpi=90)
    active = [True] * len(kl) if activity is None else (torch.as_tensor(activity)[order] > threshold).tolist()
    ax.bar(range(len(kl)), kl[order], color=["C0" if a else "lightgray" for a in active])
    ax.set_xticks(range(len(kl)), [str(int(d)) for d in order], fontsize=7)
    ax.set_xlabel("latent dimension (largest KL first; grey: inactive)")
    ax.set_ylabel("KL (nats)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_iw_bound(ks, log_likelihoods, elbo=None, ax=None, title=None):
    """The importance-weighted bound on log p(x) (mean over test images) against k."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3), dpi=90)
    ax.plot(ks, log_likelihoods, marker="o", label="importance-weighted bound, k samples")
    if elbo is not None:
        ax.axhline(elbo, color="gray", linestyle="--", label="ELBO (k = 1)")
    ax.set_xscale("log")
    ax.set_xlabel("k (importance samples per image)")
    ax.set_ylabel("mean log p(x) estimate (nats)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_rate_distortion(rates, distortions, labels, ax=None, title=None):
    """Each model as a point: rate (KL, nats) against distortion (reconstruction error, nats).
    Lines of constant negative ELBO (rate + distortion) run diagonally, in grey."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.4), dpi=90)
    ax.plot(rates, distortions, marker="o", color="C0")
    for rate, distortion, label in zip(rates, distortions, labels):
        ax.annotate(label, (rate, distortion), textcoords="offset points", xytext=(5, 4), fontsize=8)
    totals = [r + d for r, d in zip(rates, distortions)]
    top = max(rates) * 1.1 + 1
    for total in (min(totals), max(totals)):
        ax.plot([0, top], [total, total - top], color="gray", linewidth=0.7, linestyle=":")
    ax.set_xlim(-1, top)
    ax.set_ylim(min(distortions) - 5, max(distortions) + 10)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)) (nats)")
    ax.set_ylabel("distortion: -E[log p(x|z)] (nats)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


# --- notebooks 01-04


def plot_elbo_gap(mus, elbos, log_evidence, posterior_mean=None, ax=None):
    """The ELBO as q's mean moves, under the flat line log p(x); the gap between them is the KL."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    mus, elbos = torch.as_tensor(mus), torch.as_tensor(elbos)
    ax.plot(mus, elbos, label="ELBO(q)")
    ax.axhline(float(log_evidence), color="k", linestyle="--", label="log p(x)")
    ax.fill_between(mus, elbos, float(log_evidence), alpha=0.2, label="gap = KL(q || p(z|x))")
    if posterior_mean is not None:
        ax.axvline(float(posterior_mean), color="gray", linewidth=0.8, label="posterior mean")
    ax.set_xlabel("mean of q")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def plot_estimator_variance(sample_counts, variances, ax=None):
    """Variance of gradient estimators against the number of samples, log-log (1/n is a straight line)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    for name, values in variances.items():
        ax.loglog(sample_counts, values, marker="o", label=name)
    ax.set_xlabel("samples per estimate (n)")
    ax.set_ylabel("variance of the estimate")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


# --- notebook 11

import numpy as np  # noqa: E402


def class_colours(n=10):
    """n colour-blind-safe colours: matplotlib's petroff10 sequence (never tab10)."""
    colours = mpl.color_sequences["petroff10"]
    if n > len(colours):
        raise ValueError(f"petroff10 has {len(colours)} colours; {n} classes need another palette")
    return list(colours[:n])


def latent_map(points, labels, names=None, ax=None, title=None, limits=None):
    """2-D codes (e.g. encoder means) coloured by label, each class named at its median point,
    so that the map reads without telling colours apart."""
    points = torch.as_tensor(points).detach().cpu().numpy()
    labels = torch.as_tensor(labels).cpu().numpy()
    classes = sorted(set(labels.tolist()))
    names = names or [str(c) for c in range(max(classes) + 1)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5))
    colours = class_colours(max(classes) + 1)
    for c in classes:
        mine = points[labels == c]
        ax.scatter(mine[:, 0], mine[:, 1], s=4 if len(points) > 3000 else 12, alpha=0.5, color=colours[c],
                   linewidths=0, rasterized=True)
    for c in classes:
        centre = np.median(points[labels == c], axis=0)
        ax.annotate(names[c], centre.tolist(), ha="center", va="center", fontsize=13, weight="bold",
                    bbox=dict(boxstyle="round,pad=0.15", fc=colours[c], ec="black", lw=0.6, alpha=0.9))
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax.figure


def labelled_grid(images, row_labels, col_labels=None, ax=None, title=None):
    """Images (R, C, channels, H, W) as one grid, each row and column named on the axes."""
    images = torch.as_tensor(images).detach().cpu()
    rows, cols, _, h, w = images.shape
    if ax is None:  # 10 inches (1000 px) wide, the images square
        fig, ax = plt.subplots(figsize=(10, 8.6 * rows * h / (cols * w) + 1.2), layout="constrained")
    ax.imshow(image_grid(images.reshape(rows * cols, *images.shape[2:]), ncols=cols), cmap="gray_r", vmin=0, vmax=1)
    ax.set_yticks([r * (h + 1) + h / 2 for r in range(rows)], row_labels)
    if col_labels is None:
        ax.set_xticks([])
    else:
        ax.set_xticks([c * (w + 1) + w / 2 for c in range(cols)], col_labels)
        ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return ax.figure
