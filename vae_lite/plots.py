"""Matplotlib figures the notebooks use. Each function returns the Figure it draws."""

import math

import matplotlib.pyplot as plt
import torch


def image_grid(images, ncols=10):
    """Tile (N, C, H, W) images into one (H*rows, W*cols) array for imshow (first channel)."""
    images = torch.as_tensor(images).detach().cpu()[:, 0]
    n, h, w = images.shape
    nrows = math.ceil(n / ncols)
    grid = torch.ones(nrows * h + nrows - 1, ncols * w + ncols - 1)  # 1-pixel white gaps
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
