"""Matplotlib figures the notebooks use, in notebook order. Each function returns the Figure it draws.

use_style() makes every figure readable on a projector: about 1000 px wide at 100 % zoom,
text of 12 pt or more, and matplotlib's colour-blind-safe palette petroff10 instead of
tab10. It is on by default in the notebooks (vae_lite.setup_notebook); use_style(False), or
VAE_LITE_STYLE=plain in the environment, goes back to matplotlib's own defaults.

No function here fixes a figure size, a dpi or a font size of its own: a new figure's width and
height are multiples of the style's figure width (`_size`), and text takes the style's sizes
(rcParams: font.size, axes.titlesize, legend.fontsize). Pictures of images are sized in screen
pixels instead: every image at least MIN_IMAGE_PX wide, whatever its
resolution (28 x 28 MNIST or the 8 x 8 digits). Pass `ax` to draw into a figure of your own.
"""

import math

import matplotlib as mpl
import numpy as np
import matplotlib.pyplot as plt
import torch
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Circle, Ellipse

from .latent import decode_grid

PROJECTOR_STYLE = {
    "figure.figsize": (10, 4), "figure.dpi": 100, "savefig.dpi": "figure",
    "font.size": 14, "axes.titlesize": 15, "axes.labelsize": 14, "legend.fontsize": 12,
    "xtick.labelsize": 12, "ytick.labelsize": 12, "lines.linewidth": 2, "lines.markersize": 7,
}
# petroff10: ten colours chosen to stay distinguishable under the common colour-vision deficiencies
# (Petroff 2021); used by name for categories (digit labels) so that they are safe in any style
PALETTE = mpl.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
MIN_IMAGE_PX = 56  # the smallest an image may appear on screen, at 100 % zoom
IMAGE_PX = 100  # the size of an image in a strip of 10 (10 images fill a 1000-px figure)
MAX_STRIP_PX = 1200  # wider strips shrink their images, down to MIN_IMAGE_PX (a notebook is rarely wider)


def _size(width=1.0, height=0.45):
    """A figure size (inches): width and height as multiples of the style's figure width."""
    inches = mpl.rcParams["figure.figsize"][0]
    return width * inches, height * inches


def _font(key="font.size"):
    """A font size from the style: "font.size" for text, "axes.titlesize" for a headline,
    "legend.fontsize" for small notes (12 pt in the projector style)."""
    return mpl.rcParams[key]


def use_style(projector=True):
    """Projector-sized figures in the petroff10 palette (projector=True), or matplotlib's defaults."""
    mpl.rcParams.update(mpl.rcParamsDefault)
    if projector:
        plt.style.use("petroff10")
        mpl.rcParams.update(PROJECTOR_STYLE)


def _axes(ax=None, height=0.45):
    """`ax` as given, or the axes of a new figure as wide as the style's and `height` times as tall."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=_size(1.0, height), layout="constrained")
    return ax


# ------------------------------------------------------------------ notebook 01: images


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


def _image_inches(ncols, width, size=None):
    """Inches per image in a row of `ncols` images `width` pixels wide (plus a 1-pixel gap each):
    `size` if given, else 10 to a 1000-px row; never so small that an image shows under MIN_IMAGE_PX."""
    dpi = mpl.rcParams["figure.dpi"]
    if size is None:
        size = min(IMAGE_PX, MAX_STRIP_PX / ncols) / dpi
    return max(size, MIN_IMAGE_PX * (width + 1) / width / dpi + 1e-6)


def _image_width(grid, ncols):
    """The width in pixels of one image in an image_grid of `ncols` columns."""
    return (grid.shape[1] + 1) // ncols - 1


def _title_inches():
    """Room for one line of axes title: twice the title's font size."""
    return 2 * FontProperties(size=mpl.rcParams["axes.titlesize"]).get_size_in_points() / 72


def show_images(images, ncols=10, title=None, ax=None, size=None):
    """Show images as a grid in grey-scale, black ink on white like the digits on paper.

    A new figure gives every image `size` inches (default: 100 px in a row of 10, never under
    MIN_IMAGE_PX); with `ax` the images fill that axes instead.
    """
    n = len(images)
    ncols = min(ncols, n)
    grid = image_grid(images, ncols)
    if ax is None:
        width = _image_inches(ncols, _image_width(grid, ncols), size) * ncols
        image_height = width * grid.shape[0] / grid.shape[1]
        title_height = _title_inches() if title else 0.05
        fig = plt.figure(figsize=(width, image_height + title_height))
        ax = fig.add_axes((0, 0, 1, image_height / (image_height + title_height)))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def show_rows(rows, ncols=10, size=None):
    """Several labelled rows of images, e.g. {"data": x, "reconstruction": x_hat}, all at one scale."""
    grids = [image_grid(images[:ncols], ncols) for images in rows.values()]
    width = _image_inches(ncols, _image_width(grids[0], ncols), size) * ncols
    heights = [width * grid.shape[0] / grid.shape[1] for grid in grids]
    title = _title_inches()
    fig = plt.figure(figsize=(width, sum(heights) + title * len(rows)))
    total, bottom = sum(heights) + title * len(rows), 0.0
    for (label, images), height in reversed(list(zip(rows.items(), heights))):
        ax = fig.add_axes((0, bottom / total, 1, height / total))
        show_images(images[:ncols], ncols, title=label, ax=ax)
        bottom += height + title
    return fig


def plot_histograms(samples, xlabel, bins=40, ax=None, title=None):
    """Histograms of several samples on one axis, e.g. {"codes": lengths, "prior samples": lengths}.

    Shared bins, so the bars of the samples compare directly; each is scaled to a density.
    """
    ax = _axes(ax)
    values = [torch.as_tensor(v).detach().cpu().float().reshape(-1) for v in samples.values()]
    low = min(v.min().item() for v in values)
    high = max(v.max().item() for v in values)
    edges = torch.linspace(low, high, bins + 1).tolist()
    for label, v in zip(samples, values):
        ax.hist(v.numpy(), bins=edges, density=True, alpha=0.6, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


# ------------------------------------------------------------------- notebook 02: the ELBO


def plot_log_evidence_estimates(ks, estimates, reference=None, reference_label="reference", ax=None, title=None):
    """Estimates of log p(x) against the number of samples k (log scale).

    `estimates` maps a name to (median, low, high) lists over k: the line is the median of many
    repeated estimates, the band their spread. `reference` is drawn as a dashed line.
    """
    ax = _axes(ax)
    for name, (median, low, high) in estimates.items():
        (line,) = ax.plot(ks, median, marker="o", label=name)
        ax.fill_between(ks, low, high, color=line.get_color(), alpha=0.2)
    if reference is not None:
        ax.axhline(float(reference), color="black", linestyle="--", label=reference_label)
    ax.set_xscale("log")
    ax.set_xlabel("k, samples per estimate")
    ax.set_ylabel("estimate of log p(x) (nats)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


def plot_repeated_estimates(estimates, reference=None, reference_label="reference", zoom=None):
    """Repeated estimates of log p(x) against k, one sampler per name: `estimates` maps a name to
    {k: a tensor of the estimates made with k samples each}. Where a k has 10 estimates or more: their
    median and 10-90 % band; where it has fewer: a circle for each (side by side, not to overlap).
    `reference`: a dashed line. `zoom`: the name of one sampler, shown again zoomed in on a second panel.
    """
    fig, axes = plt.subplots(2 if zoom else 1, 1, sharex=True, squeeze=False, layout="constrained",
                             figsize=_size(1.0, 0.75 if zoom else 0.45))
    for ax in axes[:, 0]:
        for name, by_k in estimates.items():
            many = {k: e for k, e in by_k.items() if len(e) >= 10}
            band = [[e.quantile(p).item() for e in many.values()] for p in (0.5, 0.1, 0.9)]
            plot_log_evidence_estimates(list(many), {name: band}, ax=ax)
            for k, e in by_k.items():
                if len(e) < 10:
                    spread = 10 ** (0.05 * (torch.arange(len(e)) - (len(e) - 1) / 2))  # side by side, on the log axis
                    ax.plot((k * spread).tolist(), e.tolist(), "o", mfc="none", color=ax.lines[-1].get_color(),
                            ms=1.3 * mpl.rcParams["lines.markersize"], mew=2)
        if reference is not None:
            ax.axhline(float(reference), color="gray", linestyle="--", linewidth=1.5, zorder=1, label=reference_label)
    full = axes[0, 0]
    full.set(xlabel=None if zoom else full.get_xlabel(), title="median and 10–90 % of the repeated estimates")
    full.legend(loc="lower right")
    if zoom:
        ax = axes[1, 0]
        ax.get_legend().remove()  # one legend serves both panels
        shown = list(estimates[zoom].values())
        top = max([e.quantile(0.9).item() if len(e) >= 10 else e.max().item() for e in shown]
                  + ([float(reference)] if reference is not None else []))
        ax.set(title=f"the same, zoomed in: {zoom}", ylim=(shown[0].quantile(0.1).item() - 1, top + 0.5))
    return fig


def repeated_estimates_table(estimates):
    """plot_repeated_estimates' numbers as text, one row per k and one column per name (a sampler): the
    median and 10-90 % of a k's estimates where it has 10 or more, else each estimate ("each: ...")."""
    def cell(e):
        if len(e) >= 10:
            return f"{e.median():.1f} ({e.quantile(0.1):.1f} .. {e.quantile(0.9):.1f})"
        return "each: " + " ".join(f"{v:.1f}" for v in e)

    ks = sorted({k for by_k in estimates.values() for k in by_k})
    width = max([30] + [len(f"{name}: median (10% .. 90%)") + 2 for name in estimates])
    rows = [f"{'k':>7}" + "".join(f"{f'{name}: median (10% .. 90%)':>{width}}" for name in estimates)]
    for k in ks:
        rows.append(f"{k:>7}" + "".join(f"{cell(by_k[k]) if k in by_k else '':>{width}}" for by_k in estimates.values()))
    return "\n".join(rows)


def plot_decoder_on_bound(ws, log_evidence, elbos, w0, w_best, ax=None):
    """The decoder trained on the bound (notebook 02's EM step): log p(x; w) and the ELBO with q held at the
    posterior for w0, against the decoder weight w; the ELBO's best w and log p(x) there as dots. The legend
    sits under the axes, off the curves."""
    ax = _axes(ax, height=0.5)
    ws, log_evidence, elbos = (np.asarray(v, dtype=float) for v in (ws, log_evidence, elbos))
    ax.plot(ws, log_evidence, color="black", label="log p(x; w)")
    (line,) = ax.plot(ws, elbos, linestyle="--", label=f"ELBO(w), q the posterior at w₀ = {w0:g}")
    ax.axvline(w0, color="gray", linewidth=1, label=f"w₀ = {w0:g} (q fitted here)")
    best = int(np.argmin(np.abs(ws - w_best)))
    ax.plot(ws[best], elbos[best], "o", color=line.get_color(), label="the ELBO's best w")
    ax.plot(ws[best], log_evidence[best], "o", color="black", label="log p(x) there")
    ax.set(xlabel="decoder weight w", ylabel="nats")
    _legend_below(ax, ncol=3, gap=0.22)
    return ax.figure


# ------------------------------------------------------- notebook 03: gradient estimators


def plot_estimator_variance(sample_counts, variances, ax=None, title=None):
    """Variance of gradient estimators against the number of samples, log-log (1/n is a straight line).

    A dashed 1/n guide, below the lowest curve so that it does not hide one, shows the slope an
    average of n independent samples must have.
    """
    ax = _axes(ax)
    counts = np.asarray(sample_counts, dtype=float)
    for name, values in variances.items():
        ax.loglog(counts, values, marker="o", label=name)
    lowest = min(values[0] for values in variances.values())
    ax.loglog(counts, 0.3 * lowest * counts[0] / counts, linestyle="--", color="black", linewidth=1.5,
              label="1/n (slope −1)")
    ax.set_xlabel("samples per estimate (n)")
    ax.set_ylabel("variance of the estimate")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


def draw_gradient_path():
    """draw_vae with the reconstruction term's gradient (dashed) drawn back from the decoder through
    z = mu + sigma * eps to mu and log sigma^2, as rsample() lets it run, and the two places where sample() cuts it."""
    ax = draw_vae().axes[0]
    back = dict(arrowstyle="-|>", linestyle="--", color="C1", lw=2.5, mutation_scale=18,
                connectionstyle="arc3,rad=0.25")  # the gradient's way back: decoder, z's box, mu
    ax.annotate("", xy=(8.3, 3.1), xytext=(9.6, 3.18), arrowprops=back)
    ax.annotate("", xy=(5.3, 3.58), xytext=(6.6, 3.1), arrowprops=back)
    ax.annotate("", xy=(5.72, 1.62), xytext=(6.5, 1.9), arrowprops=dict(back, connectionstyle="arc3,rad=-0.3"))  # log σ²
    ax.text(7.45, 3.12, "gradient,\nwith rsample()", ha="center", va="bottom", color="C1", fontsize=_font())
    for y in (2.98, 2.02):
        ax.text(6.03, y, "✕", ha="center", va="center", fontsize=1.6 * _font("axes.titlesize"), color="black")
    ax.text(6.3, 1.25, "with sample():\ncut here", ha="center", va="center", fontsize=_font("legend.fontsize"))
    return ax.figure


def plot_one_draw_slopes(mus, expected, at, slopes, exact_slope, label="E[f]", half_width=0.6, ax=None, title=None):
    """E[f] against mu (black, `expected` a function of mu on the array `mus`; `label` names it), its exact
    slope at mu = `at` (dashed), and through (at, E[f]) a short line for each one-draw estimate of that slope.

    slopes: {estimator name: tensor of one-draw slopes}. The first estimator's lines are drawn on top,
    so that a narrow fan is not hidden under a wide one.
    """
    ax = _axes(ax)
    ax.plot(mus, expected(mus), "k", linewidth=3, label=label)
    dm = np.array([-half_width, half_width])
    centre = expected(at)
    for rank, (name, one_draw) in enumerate(slopes.items()):  # blue, orange, ... in the style's cycle
        lines = ax.plot(at + dm, centre + dm[:, None] * torch.as_tensor(one_draw).detach().cpu().numpy()[None, :], f"C{rank}",
                        zorder=3 + len(slopes) - rank)
        lines[0].set_label(name)
    ax.plot(at + dm, centre + dm * exact_slope, "k--", linewidth=2, zorder=10, label="exact slope")
    ax.set(xlabel="μ", ylabel=label.split(",")[0])
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return ax.figure


# -------------------------------------------------------------- notebook 04: the KL


def plot_log_below_tangent(low=0.05, high=4.0, ax=None):
    """log t and its tangent t - 1 at t = 1: the curve never rises above the line, so the
    gap t - 1 - log t (shaded) is >= 0, and 0 only at t = 1."""
    ax = _axes(ax)
    t = torch.linspace(low, high, 400, dtype=torch.float64).numpy()
    ax.plot(t, t - 1, label="t − 1 (the tangent at t = 1)")
    ax.plot(t, np.log(t), label="log t")
    ax.fill_between(t, np.log(t), t - 1, alpha=0.2, label="gap t − 1 − log t ≥ 0")
    ax.plot([1], [0], marker="o", linestyle="none", color="black", label="touch at t = 1")
    ax.set_xlabel("t  (t = σ² in the KL)")
    ax.set_ylabel("t − 1 and log t")
    ax.legend(loc="lower right")
    return ax.figure


def plot_estimator_runs(runs_by_seed):
    """Runs of gradients.train_with_each, one per seed, each with estimator A first and B second, against
    the training step. Left: A's test loss minus B's, from the second record (the first, from the same
    untrained model, is 0). Right (log scale): A's encoder gradient variance over B's, both at the weights
    of B's run (like for like, solid) and each at its own run's weights (dashed). The gradient variance is
    gradients.encoder_gradient_variance: the sum over the encoder's weights w of Var over eps of
    d(batch-mean loss)/dw. One line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=_size(1.0, 0.42), layout="constrained")
    for k, runs in enumerate(runs_by_seed):
        (a_name, a), (_, b) = runs.items()
        first = k == 0  # one legend entry per kind of line, not per seed
        gap = [x - y for x, y in zip(a["test_loss"], b["test_loss"])]
        axes[0].plot(a["step"][1:], gap[1:], color="C1", marker="o")
        same = [x / y for x, y in zip(b["gradient_variance_by_loss"][a_name], b["gradient_variance"])]
        own = [x / y for x, y in zip(a["gradient_variance"], b["gradient_variance"])]
        axes[1].semilogy(b["step"], same, color="C0", marker="o", label="at the same weights (B's run)" if first else None)
        axes[1].semilogy(a["step"], own, color="C2", linestyle="--", marker="s",
                         label="each at its own run's weights" if first else None)
    axes[0].axhline(0, color="black", linewidth=1)
    axes[1].axhline(1, color="black", linewidth=1)
    axes[0].set(xlabel="training step", ylabel="nats per test image",
                title="test loss (negative ELBO): A − B, per seed")
    axes[1].set(xlabel="training step", ylabel="A / B (log scale)",
                title=r"encoder's $\Sigma_w\,\mathrm{Var}_\epsilon(\partial L/\partial w)$: A / B")
    axes[1].set_yticks([1, 1.5, 2, 3, 5, 10], labels=["1", "1.5", "2", "3", "5", "10"])
    axes[1].legend(loc="upper right")
    return fig


# ---------------------------------------------------------- notebooks 05-06: training


def plot_history(history, keys=("test_reconstruction", "test_kl"), ax=None, title=None):
    """Curves of History values over epochs (nats per image)."""
    ax = _axes(ax)
    epochs = history["epoch"]
    for key in keys:
        ax.plot(epochs, history[key], marker="o", label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


def plot_loss_terms(history, split="test", ax=None, title=None, warmup=None):
    """The negative ELBO and its two terms over epochs, on one axis (nats per image):
    reconstruction error -E_q[log p(x|z)], the KL, and their sum, the loss.

    warmup: the epochs of a KL warm-up, shaded (the KL's weight is below 1 there); the legend then
    sits below the axes, where it hides no curve."""
    ax = _axes(ax)
    epochs = history["epoch"]
    reconstruction_error = [-v for v in history[f"{split}_reconstruction"]]
    kl = history[f"{split}_kl"]
    ax.plot(epochs, [r + k for r, k in zip(reconstruction_error, kl)], marker="o", color="black",
            label="negative ELBO = sum of both")
    ax.plot(epochs, reconstruction_error, marker="o", label="reconstruction error −E[log p(x|z)]")
    ax.plot(epochs, kl, marker="o", label="KL(q(z|x) ‖ p(z))")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"nats per {split} image")
    ax.set_ylim(0, None)
    if warmup:
        ax.axvspan(0, warmup, color="0.9", zorder=0, label="warm-up: the KL's weight below 1")
        _legend_below(ax)
    else:
        ax.legend()
    ax.set_title(title or f"the loss and its two terms ({split} set)")
    return ax.figure


# ------------------------------------------------------- notebook 07: the latent space


def plot_kl_per_dimension(kl, activity=None, threshold=0.01, ax=None, title=None):
    """Bars of the KL of each latent dimension in nats, largest first, each labelled with the
    dimension's index, on a log axis so that the smallest still show.

    With `activity`: active units (Burda et al.: Var_x(E[z_d|x]) > threshold) in colour, inactive
    ones in grey with their number and total KL written over them, and a dashed line at
    threshold / 2, under which no active unit can lie (KL_d >= 1/2 Var_x(mu_d)).
    """
    kl = torch.as_tensor(kl).detach().cpu().double()
    order = torch.argsort(kl, descending=True)
    n = len(kl)
    if ax is None:  # about 23 px a bar: every index fits under its bar, turned upright, at 12 pt; at most 1300 px
        width = min(13.0, max(mpl.rcParams["figure.figsize"][0], 1.2 + 0.23 * n))
        _, ax = plt.subplots(figsize=(width, 0.4 * mpl.rcParams["figure.figsize"][0]), layout="constrained")
    active = torch.ones(n, dtype=torch.bool) if activity is None else torch.as_tensor(activity)[order] > threshold
    values = kl[order]
    floor = min(threshold / 20, values[values > 0].min().item() / 2) if (values > 0).any() else threshold / 20
    ax.bar(range(n), (values - floor).clamp(min=0).numpy(), bottom=floor,  # each bar from the axis up to its KL
           color=[PALETTE[0] if a else "lightgray" for a in active.tolist()])
    ax.set_yscale("log")
    ax.set_ylim(floor, values.max().item() * 2)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_xticks(range(n), [str(int(d)) for d in order], rotation=90 if n > 25 else 0)
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel("latent dimension d (largest KL first" + ("; grey: inactive)" if activity is not None else ")"))
    ax.set_ylabel("KL of dimension d (nats, log scale)")
    if activity is not None:
        ax.axhline(threshold / 2, color="black", linestyle="--", linewidth=1.5)
        ax.annotate(f"{threshold / 2:g} nats = ½ × the threshold {threshold:g} on Var(μ)", (n - 1, threshold / 2),
                    xytext=(0, -6), textcoords="offset points", ha="right", va="top", fontsize=_font("legend.fontsize"))
        if (~active).any():
            first = int((~active).nonzero()[0])
            ax.annotate(f"{int((~active).sum())} inactive:\n{values[~active].sum().item():.3f} nats together",
                        ((first + n - 1) / 2, values[first].item()), xytext=(0, 24), textcoords="offset points",
                        ha="center", va="bottom", fontsize=_font("legend.fontsize"))
    if title:
        ax.set_title(title)
    return ax.figure


def _label_colours(n=10):
    """A colour map and norm giving label 0..n-1 the n-th petroff10 colour."""
    return ListedColormap(PALETTE[:n]), BoundaryNorm([i - 0.5 for i in range(n + 1)], n)


def _push_apart(centres, sizes, steps=200):
    """Positions for boxes of `sizes` (width, height) that start at `centres` and end with no two
    overlapping. The rule: while two boxes overlap, push them apart, half each, along the axis
    (x or y) on which they overlap less; two boxes at one point part in their given order."""
    positions, sizes = np.array(centres, dtype=float), np.asarray(sizes, dtype=float)
    for _ in range(steps):
        moved = False
        for i in range(len(positions)):
            for j in range(i + 1, len(positions)):
                gap = positions[j] - positions[i]
                overlap = (sizes[i] + sizes[j]) / 2 - np.abs(gap)  # > 0 on both axes: the boxes overlap
                if (overlap > 0).all():
                    axis = np.argmin(overlap)  # the shorter way out
                    push = 0.51 * overlap[axis] * (1 if gap[axis] >= 0 else -1)  # a hair over half each
                    positions[i, axis] -= push
                    positions[j, axis] += push
                    moved = True
        if not moved:
            break
    return positions


def _name_classes(ax, points, labels, names, room=1.25):
    """Write each class's name in a box of its colour at the median of its points, then push the boxes
    apart (_push_apart) until none overlaps another, each joined by a line to its median (a black dot).
    `room` > 1 leaves gaps, so that the boxes stay apart if the axes shrink a little later (a legend
    added after). The boxes are opaque and drawn over anything added later (e.g. crosses)."""
    classes = labels.unique().tolist()
    medians = [points[labels == c].median(dim=0).values.tolist() for c in classes]
    boxes = [ax.annotate(names[c], median, ha="center", va="center", fontsize=_font(), weight="bold", zorder=10,
                         bbox=dict(boxstyle="round,pad=0.15", fc=PALETTE[c], ec="black", lw=0.6))
             for c, median in zip(classes, medians)]
    ax.figure.draw_without_rendering()  # lays the figure out: the boxes' sizes and the axes' scale are final
    to_data = ax.transData.inverted()
    corners = [box.get_bbox_patch().get_window_extent().get_points() for box in boxes]  # in pixels
    sizes = [room * np.abs(np.diff(to_data.transform(c), axis=0)[0]) for c in corners]  # in data units
    for box, median, position in zip(boxes, medians, _push_apart(medians, sizes)):
        box.xyann = tuple(position)
        ax.plot(*np.transpose([median, position]), color="black", lw=1, marker="o", markersize=4, markevery=[0],
                zorder=9, scalex=False, scaley=False)  # under every box


def latent_scatter(points, labels=None, ax=None, title=None, limits=None, names=None, size=6):
    """2-D latent points (e.g. encoder means) coloured by label (petroff10, colour-blind safe).

    size: each marker's area in points^2 (matplotlib's s); 6 suits thousands of points, a larger one
    a thousand or fewer seen from the back of a room.

    limits=(low, high) fixes both axes, so that the scatter lines up with a manifold_grid
    drawn with the same limits; ((x_low, x_high), (y_low, y_high)) fixes each.
    names: one name per label, in a box at the median point of its class (in place of a colour
    bar), so that the map reads without telling colours apart; boxes of classes whose medians lie
    close are pushed apart, each with a line to its median (_name_classes).
    """
    points = torch.as_tensor(points).detach().cpu()
    ax = _axes(ax, height=0.8)
    if labels is None:
        ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=size, alpha=0.7)
    else:
        labels = torch.as_tensor(labels).cpu()
        cmap, norm = _label_colours()
        scatter = ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), c=labels.numpy(), cmap=cmap, norm=norm,
                             s=size, alpha=0.7, linewidths=0, rasterized=True)
        if names is None:
            ax.figure.colorbar(scatter, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    if limits is not None:
        x_limits, y_limits = limits if isinstance(limits[0], (tuple, list)) else (limits, limits)
        ax.set_xlim(*x_limits)
        ax.set_ylim(*y_limits)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    if labels is not None and names is not None:
        _name_classes(ax, points, labels, names)  # last: the boxes are placed on the final axes
    return ax.figure


def manifold_grid(model, n=15, ax=None, title=None, limits=None):
    """Decode an n x n grid of z in a 2-latent model.

    limits=None: z on the prior's quantiles (i + 1/2)/n (latent.decode_grid), so each image covers
    the same prior probability mass; no axes. limits=(low, high): z evenly spaced over that square
    and the picture drawn on z axes, to set beside a latent_scatter with the same limits.
    """
    images = decode_grid(model, n, limits)
    if ax is None:
        side = _image_inches(n, images.shape[-1]) * n
        _, ax = plt.subplots(figsize=(side, side + _title_inches()), layout="constrained")
    if limits is None:
        ax.imshow(image_grid(images, ncols=n), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(title or f"decoded z on a grid of {n} x {n} (prior quantiles (i + ½)/{n})")
    else:
        ax.imshow(image_grid(images, ncols=n), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest",
                  extent=(*limits, *limits))
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title(title or f"decoded z on a grid of {n} x {n}")
    return ax.figure


def latent_map(model, points, labels=None, n=8, limits=(-3.0, 3.0), title=None, names=None, sigmas=None, spread=12,
               posteriors=None):
    """The encoder means of a 2-latent model beside the decoded n x n grid over the same square of z.

    Both panels share their axes, so a point on the left and the image at the same place on
    the right belong to the same z. The grid's images are MIN_IMAGE_PX each, so n = 8 keeps
    the figure about 1200 px wide. names: one name per label, written at each class's median
    point (latent_scatter), so that no one has to tell ten colours apart. sigmas: the encoder's
    σ per point (N x 2); then the first `spread` points' q(z|x) are drawn as ellipses at ±1σ, and
    the prior N(0, I) as dashed circles at 1 and 2 of its standard deviations.

    posteriors (with sigmas): a function from codes z (M x 2) to log p(x, z) (k x M), the exact
    posteriors of the first k points' images up to their constants. Each is drawn in red at e^(−1/2)
    of its peak, the height of q's ±1σ ellipse; the ellipses are lettered a, b, c…, and a row below
    zooms in on each ellipse and its red contour, all k zooms at one scale.
    """
    if model.latent_dim != 2:
        raise ValueError(f"latent_map needs a model with latent_dim=2, got {model.latent_dim}")
    panel = n * _image_inches(n, model.image_shape[-1], size=0)  # the smallest size allowed
    if posteriors is None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(2 * panel + 3.0, panel + 1.3), layout="constrained",
                                          sharex=True, sharey=True)
    else:  # the map and the grid above, k zooms below
        t = torch.linspace(*limits, 121)
        z = torch.cartesian_prod(t, t)  # (121², 2); z[a * 121 + b] = (t[a], t[b])
        log_joints = posteriors(z)
        k = len(log_joints)
        fig = plt.figure(figsize=(2 * panel + 3.0, 1.6 * panel + 2.0), layout="constrained")
        rows = fig.add_gridspec(2, 2 * k, height_ratios=(panel + 1.3, 0.6 * panel + 0.7))
        left = fig.add_subplot(rows[0, :k])
        right = fig.add_subplot(rows[0, k:], sharex=left, sharey=left)
    latent_scatter(points, labels, ax=left, title=title or "encoder means", limits=limits, names=names)
    if sigmas is not None:
        for radius in (1, 2):
            left.add_patch(Circle((0, 0), radius, fill=False, color="0.3", lw=2, ls="--"))
        for (x, y), (sx, sy) in zip(points[:spread].tolist(), sigmas[:spread].tolist()):
            left.add_patch(Ellipse((x, y), 2 * sx, 2 * sy, fill=False, color="black", lw=1.5))
    manifold_grid(model, n=n, ax=right, limits=limits)
    if posteriors is not None:
        _posterior_contours(fig, rows, left, points[:k], sigmas[:k], posteriors, t, z, log_joints)
    return fig


def _level(log_joint):
    """log p(x, z) minus its peak, on the grid's (rows z[1], columns z[0]) layout, and the contour height e^(−1/2)."""
    side = math.isqrt(len(log_joint))
    return (log_joint - log_joint.max()).exp().reshape(side, side).T, math.exp(-0.5)


def _posterior_contours(fig, rows, left, means, sigmas, posteriors, t, z, log_joints):
    """latent_map's red p(z|x) contours: on the map, lettered at their ellipses, and one zoom each below."""
    from matplotlib.lines import Line2D
    from matplotlib.patheffects import withStroke

    peaks = torch.stack([z[log_joint.argmax()] for log_joint in log_joints])
    angles = torch.arange(8) * math.pi / 4
    directions = torch.stack([angles.cos(), angles.sin()], dim=1)  # eight places around a shape
    crowd = torch.cat([means, peaks, torch.tensor([text.get_position() for text in left.texts]).reshape(-1, 2)])
    boxes = []
    for m, (log_joint, mean, sigma) in enumerate(zip(log_joints, means, sigmas)):
        posterior, level = _level(log_joint)
        left.contour(t, t, posterior, levels=[level], colors="red", linewidths=2.5)
        beside = (mean + 0.55 * directions).clamp(t[0] + 0.2, t[-1] - 0.2)
        mark = max(beside, key=lambda p: (crowd - p).norm(dim=1).min())  # the place farthest from other shapes
        crowd = torch.cat([crowd, mark[None]])
        left.annotate("abcdefghij"[m], mean.tolist(), xytext=mark.tolist(), fontsize=_font("axes.titlesize") + 2,
                      fontweight="bold", ha="center", va="center",
                      arrowprops=dict(arrowstyle="-", lw=1.5, shrinkA=7, shrinkB=0),
                      path_effects=[withStroke(linewidth=4, foreground="white")])
        inside = z[(log_joint - log_joint.max()).exp() > level]  # the contour's grid points
        boxes.append(torch.stack([torch.minimum(inside.min(0).values, mean - sigma),
                                  torch.maximum(inside.max(0).values, mean + sigma)]))
    half = max(0.6 * (box[1] - box[0]).max().item() for box in boxes) + 0.05  # one scale for every zoom
    zooms = [fig.add_subplot(rows[1, 2 * m:2 * m + 2]) for m in range(len(boxes))]
    for m, (ax, box, mean, sigma) in enumerate(zip(zooms, boxes, means, sigmas)):
        centre = box.mean(0)
        u, v = (torch.linspace(-half, half, 121) + c for c in centre.tolist())
        posterior, level = _level(posteriors(torch.cartesian_prod(u, v))[m])
        ax.contour(u, v, posterior, levels=[level], colors="red", linewidths=2.5)
        ax.add_patch(Ellipse(mean.tolist(), 2 * sigma[0].item(), 2 * sigma[1].item(), fill=False, color="black", lw=2))
        ax.set_xlim(u[0], u[-1])
        ax.set_ylim(v[0], v[-1])
        ax.set_aspect("equal")
        ax.set_title(f"{'abcdefghij'[m]}, zoomed")
        ax.set_xlabel("z[0]")
    zooms[0].set_ylabel("z[1]")
    fig.legend(handles=[Line2D([], [], color=c, ls=ls, label=name) for c, ls, name in [
        ("black", "-", "q(z|x), ±1σ"), ("red", "-", "p(z|x), the same height"), ("0.3", "--", "prior, 1σ and 2σ")]],
        loc="outside lower center", ncol=3)


# ------------------------------------------------------------ notebook 08: how good


def _per_seed(values):
    """Per beta a list of values (one per seed): numbers become one-element lists."""
    return [list(v) if isinstance(v, (list, tuple)) else [v] for v in values]


def plot_rate_distortion(rates, distortions, labels, ax=None, title=None, elbo_lines=None, zero_rate=None):
    """Each model as a point of rate R (KL, nats) against distortion D (reconstruction error, nats).

    rates, distortions: one number per model, or per model a list over seeds (the line joins the
    means; each seed is an open marker). Grey lines of constant negative ELBO, R + D = c, run
    diagonally: the lowest R + D of the models as a dashed line named in the legend, and the values
    in elbo_lines (by default round values above it) dotted, each labelled where it leaves the
    axes on the right. zero_rate: the distortion of a decoder that ignores z, a point on the D axis.
    """
    ax = _axes(ax, height=0.6)
    rates, distortions = _per_seed(rates), _per_seed(distortions)
    mean_r = [sum(r) / len(r) for r in rates]
    mean_d = [sum(d) / len(d) for d in distortions]
    several = any(len(r) > 1 for r in rates)
    ax.plot(mean_r, mean_d, marker="o", color="C0", label="mean over seeds" if several else "one model per β")
    if several:
        ax.plot([v for r in rates for v in r], [v for d in distortions for v in d], linestyle="none", marker="o",
                markersize=10, markerfacecolor="none", markeredgecolor="C0", alpha=0.6, label="each seed")
    for rate, distortion, label in zip(mean_r, mean_d, labels):
        ax.annotate(label, (rate, distortion), textcoords="offset points", xytext=(7, 6))
    top_d = max(max(d) for d in distortions)
    if zero_rate is not None:
        ax.plot([0], [zero_rate], marker="D", markersize=9, color="C2", linestyle="none",
                label="decoder ignores z (mean image)")
        top_d = max(top_d, zero_rate)
    right = max(max(r) for r in rates) * 1.1 + 1
    low, high = min(min(d) for d in distortions) * 0.85, top_d * 1.08
    ax.set_xlim(-0.02 * right, right)
    ax.set_ylim(low, high + 0.25 * (high - low))  # room for the legend above the data and lines
    best = min(r + d for r, d in zip(mean_r, mean_d))
    ax.plot([0, right], [best, best - right], color="dimgray", linewidth=1.5, linestyle="--", zorder=0,
            label=f"−ELBO = {best:.1f}, the least of these models")
    if elbo_lines is None:  # round values whose lines leave the axes through the right edge, well apart
        step = 50 if high - best > 100 else 10
        elbo_lines = [c for c in range(step * math.ceil((best + right * 0.6) / step), int(high + right), step)
                      if low + 0.15 * (high - low) < c - right < high - 0.3 * (high - low)]
    for total in elbo_lines:
        ax.plot([0, right], [total, total - right], color="gray", linewidth=1, linestyle=":", zorder=0)
        x = 0.98 * right
        angle = ax.transData.transform_angles([-45.0], [[x, total - x]])[0]
        ax.text(x, total - x, f"−ELBO = {total:g}", rotation=angle, rotation_mode="anchor", ha="right",
                va="bottom", color="dimgray", fontsize=_font("legend.fontsize"))
    ax.set_xlabel("rate R: KL(q(z|x) ‖ p(z)), nats")
    ax.set_ylabel("distortion D: −E[log p(x|z)], nats")
    ax.legend(loc="upper right")  # above everything drawn: the lines fall to the right
    if title:
        ax.set_title(title)
    return ax.figure


# ------------------------------------------------------------ notebooks 05-08: the model drawn,
# the wrong-sign runs and the units still in use as beta grows


def draw_vae(x=None, x_hat=None, ax=None):
    """The VAE as a picture: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> p(x|z).

    x, x_hat: optionally one image (C, H, W) and its decoded mean, drawn at the two ends.
    The two terms of the loss are written under the parts they score.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=_size(1.2, 0.42))
    ax.set_xlim(0, 12.2)
    ax.set_ylim(-0.1, 4.2)
    ax.set_axis_off()
    blue, orange, red, grey = "C0", "C1", "C2", "dimgray"  # the style's cycle: petroff10 on a projector

    def box(x0, y0, width, height, text, colour, size="axes.titlesize"):
        ax.add_patch(mpl.patches.FancyBboxPatch((x0, y0), width, height, boxstyle="round,pad=0.08",
                                                facecolor="white", edgecolor=colour, linewidth=2.5))
        ax.text(x0 + width / 2, y0 + height / 2, text, ha="center", va="center", fontsize=_font(size))

    def arrow(start, end):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=grey, lw=2,
                                                              mutation_scale=18))

    def picture(image, x0, label):
        image = torch.as_tensor(image).detach().cpu().reshape(-1, *torch.as_tensor(image).shape[-2:])[0]
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, extent=(x0, x0 + 1.3, 1.85, 3.15), zorder=2)
        ax.add_patch(mpl.patches.Rectangle((x0, 1.85), 1.3, 1.3, fill=False, edgecolor=grey, lw=1.5, zorder=3))
        ax.text(x0 + 0.65, 1.55, label, ha="center", va="top", fontsize=_font())

    if x is None:
        box(0.15, 2.0, 1.1, 1.0, "x\nimage", grey)
    else:
        picture(x, 0.05, "x")
    arrow((1.4, 2.5), (1.95, 2.5))
    box(2.05, 1.9, 1.7, 1.2, "encoder\nq(z|x)", blue)
    arrow((3.85, 2.75), (4.45, 3.2))
    arrow((3.85, 2.25), (4.45, 1.8))
    box(4.5, 2.9, 1.1, 0.6, "μ", blue)
    box(4.5, 1.5, 1.1, 0.6, "log σ²", blue)
    arrow((5.7, 3.2), (6.35, 2.75))
    arrow((5.7, 1.8), (6.35, 2.25))
    box(6.45, 2.0, 2.0, 1.0, "z = μ + σ ⊙ ε", orange)
    box(6.75, 0.2, 1.4, 0.6, "ε ~ N(0, I)", orange, size="font.size")
    arrow((7.45, 0.9), (7.45, 1.9))
    arrow((8.55, 2.5), (9.05, 2.5))
    box(9.15, 1.9, 1.4, 1.2, "decoder\np(x|z)", red)
    arrow((10.65, 2.5), (10.8, 2.5))
    if x_hat is None:
        box(10.9, 2.0, 1.2, 1.0, "pixel\nmeans", grey, size="font.size")
    else:
        picture(x_hat, 10.85, "decoded mean")
    ax.text(5.05, 0.85, "KL term:\nKL(q(z|x) ‖ N(0, I))", ha="center", va="center", fontsize=_font(), color=blue)
    ax.text(9.85, 1.15, "reconstruction error:\n−log p(x|z)", ha="center", va="center", fontsize=_font(),
            color=red)
    ax.text(6.1, 3.95, "loss per image = reconstruction error −log p(x|z)  +  KL(q(z|x) ‖ N(0, I))",
            ha="center", va="center", fontsize=_font("axes.titlesize"))
    ax.figure.tight_layout()
    return ax.figure


def plot_sign_runs(runs, keys=("kl", "loss"), axes=None, steps=None):
    """Training curves of several runs, one panel per key, over optimizer steps.

    runs: {name: {"kl": [...], "loss": [...], ...}} with one value per step. The KL and the
    reconstruction error have log scales; the loss a symmetric log scale, linear from -100 to 100,
    so a loss that falls through zero to -10^20 stays readable. One legend for all panels, above them.
    steps: the panels end there, and the loss panel labels the first run's loss at its last step shown.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=_size(0.42 * len(keys), 0.46))
    titles = {"kl": "KL(q(z|x) ‖ p(z)) per image", "loss": "the loss being minimised",
              "reconstruction_error": "reconstruction error −log p(x|z)"}
    styles = list(zip(("C0", "C2", "C4"), ("-", "--", ":")))
    for ax, key in zip(axes, keys):
        for (name, run), (colour, style) in zip(runs.items(), styles):
            ax.plot(range(len(run[key])), run[key], color=colour, linestyle=style, label=name)
        if key == "loss":
            values = [v for run in runs.values() for v in run[key]]
            ax.set_yscale("symlog", linthresh=100, linscale=4)  # a wide linear band: 0 and 10^2 apart
            ax.axhline(0, color="gray", linewidth=1)
            ax.set_ylim(top=10 * max(max(values), 100))  # a decade of room above the highest curve
            top = max([math.floor(math.log10(abs(v))) for v in values if abs(v) >= 100], default=2)
            exponents = sorted({round(2 + i * (top - 2) / 3) for i in range(4)})  # at most four decades labelled
            ticks = [0] + [sign * 10.0 ** e for e in exponents for sign in (1, -1)
                           if any(sign * v >= 10.0 ** e for v in values) and (sign > 0 or e > 2 or top <= 4)]
            ax.set_yticks(sorted(ticks))
            ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
        else:
            ax.set_yscale("log")
        if steps is not None:
            ax.set_xlim(0, steps)
            name, run = next(iter(runs.items()))
            if key == "loss" and len(run[key]) >= steps:
                value = run[key][steps - 1]
                ax.annotate(f"{name.split(':')[0]}, step {steps - 1}: {value:.0f}" + (" > 0" if value > 0 else ""),
                            (steps - 1, value), (0.95, 0.6), textcoords="axes fraction", ha="right", color="C0",
                            arrowprops=dict(arrowstyle="->", color="C0"))
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("nats per image")
        ax.set_title(titles.get(key, key))
    fig = axes[0].figure
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(runs), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_units_by_beta(betas, active, latent_dim, ax=None):
    """Active units (Var_x E[z_d|x] > 0.01) as the KL weight beta grows.
    active: a count per beta, or per beta a list of counts over seeds (the line joins the means;
    each seed is an open circle)."""
    if ax is None:
        fig, ax = plt.subplots()
    counts = _per_seed(active)
    ax.plot(betas, [sum(c) / len(c) for c in counts], "-", color="C2", label="mean over seeds")
    ax.plot([b for b, c in zip(betas, counts) for _ in c], [v for c in counts for v in c], "o", color="C2",
            markerfacecolor="none", label="each seed")
    ax.set_xscale("log", base=2)
    ax.set_xticks(betas, [f"{b:g}" for b in betas])
    ax.set_xlabel("β (KL weight)")
    ax.set_ylabel(f"active units (of {latent_dim})")
    ax.set_ylim(0, latent_dim + 1)
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_title("dimensions in use as β grows")
    ax.legend(loc="lower left")
    ax.figure.tight_layout()
    return ax.figure


# ------------------------------------------------------------------------ notebook 09

PAPER_COLOURS = {"aevb": "C0", "wake-sleep": "C2", "paper": "black"}


def _show_grid(ax, images, ncols, photo=False, title=None):
    """An image_grid with white gaps: digits as ink on paper; faces (photo=True) as photographs,
    light pixels light (1 - x shown in gray_r is x in gray, with the gaps still white)."""
    images = torch.as_tensor(images).detach().cpu()
    ax.imshow(image_grid(1 - images if photo else images, ncols), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def paper_manifolds(models, n=8, height=0.7):
    """Figure 4 of Kingma & Welling (2013): the learned 2-D manifolds, side by side at the same height
    (`height` times the style's figure width). `models` maps a title to a 2-D model; Gaussian decoders
    (faces) are drawn as photographs."""
    grids = {title: decode_grid(model, n) for title, model in models.items()}  # the paper's quantile grid
    aspects = [g.shape[-1] / g.shape[-2] for g in grids.values()]  # width / height of one image
    fig, axes = plt.subplots(1, len(models), figsize=_size(1.25, height), layout="constrained", squeeze=False,
                             width_ratios=aspects)
    for ax, (title, model) in zip(axes[0], models.items()):
        _show_grid(ax, grids[title], n, photo=model.likelihood == "gaussian", title=title)
    return fig


def paper_samples(samples, ncols=4):
    """Figure 5 of Kingma & Welling (2013): random samples, one panel per model (`samples` maps a
    title to images)."""
    fig, axes = plt.subplots(1, len(samples), figsize=_size(1.2, 0.39), layout="constrained", squeeze=False)
    for ax, (title, images) in zip(axes[0], samples.items()):
        _show_grid(ax, images, ncols, title=title)
    return fig


def show_faces(rows, std=None, ncols=8):
    """Rows of faces (photographs) labelled by their titles, and optionally a last row of
    per-pixel standard deviations s as a heat map (viridis: dark = small s, yellow = large);
    std = (title, images of s)."""
    n_rows = len(rows) + (std is not None)
    fig, axes = plt.subplots(n_rows, 1, figsize=_size(1.0, 0.225 * n_rows), layout="constrained", squeeze=False)
    for ax, (title, images) in zip(axes[:, 0], rows.items()):
        _show_grid(ax, images[:ncols], ncols, photo=True, title=title)
    if std is not None:
        title, values = std
        ax = axes[-1, 0]
        grid = image_grid(values[:ncols], ncols)
        grid[image_grid(torch.ones_like(values[:ncols]), ncols) == 0] = math.nan  # gaps: not drawn (white)
        shown = ax.imshow(grid, cmap="viridis", vmin=0)
        ax.set_axis_off()
        ax.set_title(title)
        fig.colorbar(shown, ax=ax, label="s", shrink=0.9)
    return fig


def plot_paper_curves(runs, dataset, paper=None, live=None, ylim=None, sizes=None, paper_from=None):
    """Figure 2 of Kingma & Welling (2013): the lower bound per data point against the number of
    training samples evaluated (log axis), one panel per latent size N_z, all panels on the same axes.

    runs: results of benchmarks/paper_curves.py (name -> dict with config, samples, train_elbo,
    test_elbo). AEVB in the first colour, wake-sleep ("our wake-sleep": the paper's curves are not
    drawn) in the second; train solid, test dashed.
    paper: {N_z: value} drawn at its sample count `paper["samples"]` with an error bar of
    paper["uncertainty"]. live: {name: (samples, test_elbo)} drawn as points (a rerun).
    sizes: the latent sizes to draw, one panel each (default: every size the runs have).
    paper_from: where the paper's axis starts (samples); the range before it is shaded, "not in the paper".
    """
    runs = {name: run for name, run in runs.items() if run["config"]["dataset"] == dataset}
    sizes = sorted(sizes or {run["config"]["latent_dim"] for run in runs.values()})
    if not sizes:
        raise ValueError(f"no runs on {dataset!r} in the results")
    missing = set(sizes) - {run["config"]["latent_dim"] for run in runs.values()}
    if missing:
        raise ValueError(f"no {dataset!r} runs with latent size {sorted(missing)} in the results")
    fig, axes = plt.subplots(1, len(sizes), figsize=_size(1.2, 0.4), layout="constrained", sharex=True, sharey=True,
                             squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for name, run in runs.items():
            if run["config"]["latent_dim"] != size:
                continue
            colour = PAPER_COLOURS[run["config"].get("algorithm", "aevb")]
            label = "our wake-sleep" if run["config"].get("algorithm") == "wake-sleep" else "AEVB"
            ax.plot(run["samples"], run["train_elbo"], color=colour, label=f"{label} (train)")
            ax.plot(run["samples"], run["test_elbo"], color=colour, linestyle="--", label=f"{label} (test)")
            if live and name in live:
                ax.plot(*live[name], "o", color="black", markersize=5, label="rerun now (test)")
        if paper and str(size) in paper:
            ax.errorbar([paper["samples"]], [paper[str(size)]], yerr=paper.get("uncertainty"), fmt="*",
                        color=PAPER_COLOURS["paper"], markersize=13, capsize=4, label="paper, end (approx.)")
        ax.set_xscale("log")
        ax.set_title(f"$N_z$ = {size}")
        ax.set_xlabel("training samples")
        ax.grid(alpha=0.3)
        if paper_from:
            ax.axvspan(1e3, paper_from, color="0.9", zorder=0)
    axes[0, 0].set_ylabel("lower bound per data point (nats)")
    axes[0, 0].set_xlim(1e3, 3e8)
    if ylim:
        axes[0, 0].set_ylim(*ylim)
    if paper_from:
        axes[0, 0].text(1.3e3, 0.97, "not in\nthe paper", transform=axes[0, 0].get_xaxis_transform(), fontsize=12,
                        va="top")
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=min(len(handles), 5))
    return fig


# Okabe-Ito blue and red for the two algorithms, black for the paper's values


def plot_marginal_likelihood(runs, ylim=None):
    """Figure 3 of Kingma & Welling (2013) without MCEM: the estimated log p(x) per data point against
    the training samples evaluated (log axis), one panel per training-set size.

    runs: results of benchmarks/figure3.py (name -> dict with config and records of samples,
    train_log_px, test_log_px). AEVB in the first colour, wake-sleep in the second; train solid, test dashed.
    """
    sizes = sorted({run["config"]["n_train"] for run in runs.values()})
    fig, axes = plt.subplots(1, len(sizes), figsize=_size(1.2, 0.44), layout="constrained", sharex=True, sharey=True,
                             squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for run in (r for r in runs.values() if r["config"]["n_train"] == size):
            algorithm = run["config"]["algorithm"]
            samples = [r["samples"] for r in run["records"]]
            label = "AEVB" if algorithm == "aevb" else "wake-sleep"
            ax.plot(samples, [r["train_log_px"] for r in run["records"]], color=PAPER_COLOURS[algorithm],
                    marker="o", markersize=4, label=f"{label} (train)")
            ax.plot(samples, [r["test_log_px"] for r in run["records"]], color=PAPER_COLOURS[algorithm],
                    linestyle="--", marker="o", markersize=4, label=f"{label} (test)")
        ax.set_xscale("log")
        ax.set_title(f"$N_{{train}}$ = {size:,}")
        ax.set_xlabel("training samples")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("log p(x) per data point (nats)")
    if ylim:
        axes[0, 0].set_ylim(*ylim)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4)
    return fig


# ------------------------------------------------------------ notebook 10: where the bound is loose


def _legend_below(ax, ncol=2, gap=0.2):
    """The legend under the axes (below the x label), where it cannot hide a curve whatever the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -gap), ncol=ncol, frameon=False)


def plot_posterior_and_gaussians(z, posterior, gaussians, prior=None, ax=None, title=None):
    """An exact posterior density on a grid (filled) with Gaussian densities drawn over it.

    gaussians: {label: (mean, std)}; prior: its density on the same grid, drawn dotted.
    """
    z = torch.as_tensor(z).cpu()
    if ax is None:
        fig, ax = plt.subplots()
    ax.fill_between(z, torch.as_tensor(posterior).cpu(), color="C0", alpha=0.35, label="exact posterior p(z|x)")
    if prior is not None:
        ax.plot(z, torch.as_tensor(prior).cpu(), color="gray", linestyle=":", label="prior p(z)")
    for i, (label, (mean, std)) in enumerate(gaussians.items()):
        density = torch.distributions.Normal(float(mean), float(std)).log_prob(z).exp()
        ax.plot(z, density, color=f"C{i + 1}", linestyle=["-", "--", "-."][i % 3], label=label)
    ax.set_xlabel("z")
    ax.set_ylabel("density")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_bound_against_k(ks, curves, log_evidence, ax=None, title=None, references=None, floor=1e-4):
    """How far importance-weighted bounds stay below log p(x), log p(x) − L_k, against k; both axes log scale,
    so that gaps of 0.5 and 0.005 nats are both seen.

    curves: {label: (values of L_k, standard errors)}; references: {label: gap} drawn as dashed lines. A gap
    at or below `floor` (0 within its noise) is drawn hollow at the floor, without an error bar. The legend
    sits under the axes.
    """
    if ax is None:
        fig, ax = plt.subplots()
    for i, (label, (values, errors)) in enumerate(curves.items()):
        gaps = [max(float(log_evidence) - value, floor) for value in values]
        errors = [0.0 if gap == floor else error for gap, error in zip(gaps, errors)]  # no bar on a gap 0 within noise
        ax.errorbar(ks, gaps, yerr=errors, marker="os^"[i % 3], color=f"C{i + 1}", capsize=3, label=label)
        at_floor = [k for k, gap in zip(ks, gaps) if gap == floor]  # drawn hollow: 0 within the noise, not a plunge
        ax.plot(at_floor, [floor] * len(at_floor), "os^"[i % 3], color=f"C{i + 1}", markerfacecolor="white", ms=9,
                zorder=3)  # over the errorbar's own filled marker
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(float(value), color="gray", linestyle=["--", ":"][i % 2], label=label,
                   zorder=2.5)  # over the curves, which may lie on it; under the hollow markers
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("k (importance samples)")
    ax.set_ylabel(r"log p(x) − $\mathcal{L}_k$ (nats, log scale)")
    _legend_below(ax)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_two_gaps(images, approximation, amortization, approximation_errors=None, unreliable=None, title=None):
    """For each image (drawn above its bar): log p(x) - ELBO(encoder) as two stacked bars,
    the amortization gap (encoder vs best Gaussian) under the approximation gap (best Gaussian vs log p(x)).

    unreliable: a bool per image, True where log p(x) rests on too few effective samples: that
    image's approximation gap is drawn pale, without a fill, and its tick says so.
    """
    n = len(images)
    fig = plt.figure(figsize=_size(1.0, 0.56))
    grid = fig.add_gridspec(2, n, height_ratios=[1, 3.2])
    for i in range(n):
        top = fig.add_subplot(grid[0, i])
        top.imshow(torch.as_tensor(images[i]).cpu()[0], cmap="gray_r", vmin=0, vmax=1)
        top.set_axis_off()
        top.set_title(f"{i}")
    ax = fig.add_subplot(grid[1, :])
    positions = list(range(n))
    amortization = torch.as_tensor(amortization).cpu()
    approximation = torch.as_tensor(approximation).cpu()
    flagged = torch.zeros(n, dtype=torch.bool) if unreliable is None else torch.as_tensor(unreliable).cpu()
    errors = None if approximation_errors is None else torch.as_tensor(approximation_errors).cpu()
    ax.bar(positions, amortization, color="C1", label="amortization gap: ELBO(q*) − ELBO(encoder)")
    for pale in (False, True):
        chosen = [i for i in positions if bool(flagged[i]) == pale]
        if not chosen:
            continue
        ax.bar(chosen, approximation[chosen], bottom=amortization[chosen], hatch="//",
               color="none" if pale else "C0", edgecolor="C0" if pale else "white",
               label="approximation gap: log p(x) − ELBO(q*)" + (", ESS < 20 (too few effective samples)" if pale else ""),
               yerr=None if errors is None else errors[chosen], capsize=4)
    ax.set_xticks(positions, [f"{i}" + ("\n(ESS<20)" if flagged[i] else "") for i in positions])
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xlabel("test image")
    ax.set_ylabel("nats")
    _legend_below(ax, ncol=1, gap=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------ notebook 11


def labelled_grid(images, row_labels, col_labels=None, ax=None, title=None):
    """Images (R, C, channels, H, W) as one grid, each row and column named on the axes."""
    images = torch.as_tensor(images).detach().cpu()
    rows, cols, _, h, w = images.shape
    if ax is None:  # 10 inches (1000 px) wide, the images square
        fig, ax = plt.subplots(figsize=_size(1.0, 0.86 * rows * h / (cols * w) + 0.12), layout="constrained")
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


def scores_against_test_images(test_scores, scores, images, xlabel, title=None):
    """Top: each input as the model sees it; below: a histogram of the test images' scores, each
    input marked by a line in its own colour, labelled at its own height, so that inputs with
    (nearly) equal scores stay apart. scores: {name: number}; images: {name: (C, H, W) or (1, C, H, W)}.

    An input scored further from the test images than their own range is wide would squeeze the
    histogram into a corner: its line is drawn dotted at that distance, its label says "off the scale".
    """
    test_scores = torch.as_tensor(test_scores).detach().cpu().numpy()
    names = list(scores)
    fig = plt.figure(figsize=_size(1.0, 0.62), layout="constrained")
    grid = fig.add_gridspec(2, len(names), height_ratios=[1, 2.4])
    dark = [PALETTE[i] for i in (0, 2, 4, 6, 5, 8)]  # petroff10 without its light orange, grey and cyan
    colours = [dark[i % len(dark)] for i in range(len(names))]
    for i, (name, colour) in enumerate(zip(names, colours)):
        picture = fig.add_subplot(grid[0, i])
        picture.imshow(torch.as_tensor(images[name]).detach().cpu().reshape(-1, *images[name].shape[-2:])[0].numpy(),
                       cmap="gray_r", vmin=0, vmax=1)
        picture.set_title(name, color=colour, fontsize=_font())
        picture.set_xticks([])
        picture.set_yticks([])
        for side in picture.spines.values():
            side.set(color=colour, linewidth=3)
    ax = fig.add_subplot(grid[1, :])
    counts, _, _ = ax.hist(test_scores, bins=50, color="0.75", label=f"{len(test_scores)} test images")
    top = counts.max()
    reach = test_scores.max() - test_scores.min()  # how far beyond the test images' range a line is drawn
    shown = {name: min(max(score, test_scores.min() - reach), test_scores.max() + reach) for name, score in scores.items()}
    for i, (name, colour) in enumerate(zip(names, colours)):
        height = top * (1.1 + 0.17 * (len(names) - 1 - i))  # staggered above the bars: one label per height
        off = shown[name] != scores[name]
        ax.plot([shown[name]] * 2, [0, height], color=colour, lw=3, linestyle=":" if off else "-")
        ax.annotate(f"{name}: {scores[name]:.0f}" + (" (off the scale)" if off else ""), (shown[name], height),
                    xytext=(4, 0), textcoords="offset points", color=colour, fontsize=_font(), va="center", weight="bold",
                    bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.set_ylim(0, top * (1.2 + 0.17 * (len(names) - 1)))
    low, high = min(test_scores.min(), *shown.values()), max(test_scores.max(), *shown.values())
    ax.set_xlim(low - 0.05 * (high - low), high + 0.3 * (high - low))  # room for the labels on the right
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test images")
    ax.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    return fig
