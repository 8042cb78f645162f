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


# --- notebooks 05-08 (added by the nb-late helper): the model drawn, the wrong-sign runs,
# the 2-D latent map with matching axes, and the units still in use as beta grows


def draw_vae(x=None, x_hat=None, ax=None):
    """The VAE as a picture: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> p(x|z).

    x, x_hat: optionally one image (C, H, W) and its decoded mean, drawn at the two ends.
    The two terms of the loss are written under the parts they score.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 4.2))
    ax.set_xlim(0, 12.2)
    ax.set_ylim(-0.1, 4.2)
    ax.set_axis_off()
    blue, orange, vermilion, grey = "#0072B2", "#E69F00", "#D55E00", "#555555"  # Okabe-Ito

    def box(x0, y0, width, height, text, colour, size=15):
        ax.add_patch(mpl.patches.FancyBboxPatch((x0, y0), width, height, boxstyle="round,pad=0.08",
                                                facecolor="white", edgecolor=colour, linewidth=2.5))
        ax.text(x0 + width / 2, y0 + height / 2, text, ha="center", va="center", fontsize=size)

    def arrow(start, end):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=grey, lw=2,
                                                              mutation_scale=18))

    def picture(image, x0, label):
        image = torch.as_tensor(image).detach().cpu().reshape(-1, *torch.as_tensor(image).shape[-2:])[0]
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, extent=(x0, x0 + 1.3, 1.85, 3.15), zorder=2)
        ax.add_patch(mpl.patches.Rectangle((x0, 1.85), 1.3, 1.3, fill=False, edgecolor=grey, lw=1.5, zorder=3))
        ax.text(x0 + 0.65, 1.55, label, ha="center", va="top", fontsize=14)

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
    box(6.75, 0.2, 1.4, 0.6, "ε ~ N(0, I)", orange, size=14)
    arrow((7.45, 0.9), (7.45, 1.9))
    arrow((8.55, 2.5), (9.05, 2.5))
    box(9.15, 1.9, 1.4, 1.2, "decoder\np(x|z)", vermilion)
    arrow((10.65, 2.5), (10.8, 2.5))
    if x_hat is None:
        box(10.9, 2.0, 1.2, 1.0, "pixel\nmeans", grey, size=14)
    else:
        picture(x_hat, 10.85, "decoded mean")
    ax.text(5.05, 0.85, "KL term:\nKL(q(z|x) ‖ N(0, I))", ha="center", va="center", fontsize=14, color=blue)
    ax.text(9.85, 1.15, "reconstruction error:\n−log p(x|z)", ha="center", va="center", fontsize=14,
            color=vermilion)
    ax.text(6.1, 3.95, "loss per image = reconstruction error −log p(x|z)  +  KL(q(z|x) ‖ N(0, I))",
            ha="center", va="center", fontsize=15)
    ax.figure.tight_layout()
    return ax.figure


def plot_sign_runs(runs, keys=("kl", "loss"), axes=None):
    """Training curves of several runs, one panel per key, over optimizer steps.

    runs: {name: {"kl": [...], "loss": [...], ...}} with one value per step. The KL and the
    reconstruction error have log scales; the loss a symmetric log scale, so a loss that falls
    through zero to -10^20 stays readable. One legend for all panels, above them.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4.6))
    titles = {"kl": "KL(q(z|x) ‖ p(z)) per image", "loss": "the loss being minimised",
              "reconstruction_error": "reconstruction error −log p(x|z)"}
    styles = list(zip(("#0072B2", "#D55E00", "#009E73"), ("-", "--", ":")))
    for ax, key in zip(axes, keys):
        for (name, run), (colour, style) in zip(runs.items(), styles):
            ax.plot(range(len(run[key])), run[key], color=colour, linestyle=style, label=name)
        if key == "loss":
            values = [v for run in runs.values() for v in run[key]]
            ax.set_yscale("symlog", linthresh=100)
            ax.axhline(0, color="gray", linewidth=1)
            top = max([math.floor(math.log10(abs(v))) for v in values if abs(v) >= 100], default=2)
            exponents = sorted({round(2 + i * (top - 2) / 3) for i in range(4)})  # at most four decades labelled
            ticks = [0] + [sign * 10.0 ** e for e in exponents for sign in (1, -1)
                           if any(sign * v >= 10.0 ** e for v in values) and (sign > 0 or e > 2 or top <= 4)]
            ax.set_yticks(sorted(ticks))
            ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
        else:
            ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("nats per image")
        ax.set_title(titles.get(key, key))
    fig = axes[0].figure
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(runs), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def latent_map(model, means, labels=None, n=15, limit=None, axes=None):
    """A 2-latent model's code, two panels on the same z axes: the encoder means of images
    (coloured by label, petroff10), and the decoder's image at each point of an n x n grid.

    limit: the panels show z in [-limit, limit] on both axes (default: the range that holds
    99 % of the means, rounded up to a half). The grid's images are centred on evenly spaced z.
    """
    if model.latent_dim != 2:
        raise ValueError(f"latent_map needs a model with latent_dim=2, got {model.latent_dim}")
    means = torch.as_tensor(means).detach().cpu()
    if limit is None:
        limit = math.ceil(2 * means.abs().quantile(0.99).item()) / 2
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(13, 6.2))
    left, right = axes
    colours = mpl.color_sequences["petroff10"]
    if labels is None:
        left.scatter(means[:, 0], means[:, 1], s=4, alpha=0.6, color=colours[0])
    else:
        labels = torch.as_tensor(labels).cpu()
        for c in labels.unique().tolist():
            chosen = labels == c
            left.scatter(means[chosen, 0], means[chosen, 1], s=4, alpha=0.6, color=colours[int(c) % 10],
                         label=str(c))
        left.legend(title="label", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=12)
    left.set_title("encoder means μ of test images")
    centres = torch.linspace(-limit, limit, n)
    z1, z0 = torch.meshgrid(centres.flip(0), centres, indexing="ij")  # row 0 at the top: z[1] grows upwards
    z = torch.stack([z0.reshape(-1), z1.reshape(-1)], dim=1).to(model.device)
    with torch.inference_mode():
        images = model.decode(z).cpu()
    half = limit / (n - 1)  # each image covers the square around its z
    right.imshow(image_grid(images, ncols=n), cmap="gray_r", vmin=0, vmax=1,
                 extent=(-limit - half, limit + half, -limit - half, limit + half))
    right.set_title(f"decoded z on a {n} × {n} grid")
    for ax in axes:
        ax.set_xlim(-limit - half, limit + half)
        ax.set_ylim(-limit - half, limit + half)
        ax.set_aspect("equal")
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_units_by_beta(betas, active, above_kl, latent_dim, kl_threshold, ax=None):
    """Latent dimensions still in use as the KL weight beta grows, counted two ways that agree:
    active units (Var_x E[z_d|x] > 0.01) and dimensions whose KL exceeds kl_threshold nats."""
    if ax is None:
        fig, ax = plt.subplots()
    ax.plot(betas, above_kl, marker="o", color="#0072B2", label=f"KL of the dimension > {kl_threshold:g} nats")
    ax.plot(betas, active, marker="s", linestyle="--", color="#D55E00", label="active: Var(E[z|x]) > 0.01")
    ax.set_xscale("log", base=2)
    ax.set_xticks(betas, [f"{b:g}" for b in betas])
    ax.set_xlabel("β (KL weight)")
    ax.set_ylabel(f"latent dimensions (of {latent_dim})")
    ax.set_ylim(0, latent_dim + 1)
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.set_title("dimensions in use as β grows")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure
