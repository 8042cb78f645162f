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


# --- notebook 10: where the bound is loose (appended by the notebook 10 helper)


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


def plot_bound_against_k(ks, curves, log_evidence, ax=None, title=None, references=None, legend="upper left"):
    """Importance-weighted bounds L_k against k (log scale), each with its standard error, under log p(x).

    curves: {label: (values, standard errors)}; references: {label: value} drawn as dashed lines.
    """
    if ax is None:
        fig, ax = plt.subplots()
    for i, (label, (values, errors)) in enumerate(curves.items()):
        ax.errorbar(ks, values, yerr=errors, marker="os^"[i % 3], color=f"C{i + 1}", capsize=3, label=label)
    ax.axhline(float(log_evidence), color="black", label="exact log p(x)")
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(float(value), color="gray", linestyle=["--", ":"][i % 2], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("k (importance samples)")
    ax.set_ylabel("nats")
    ax.legend(loc=legend)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_q_convergence(gains, final_gaps, window=20, ax=None, title=None):
    """Per-image ELBO gain over the encoder's q while a Gaussian q is optimised for each image alone.

    gains: (steps + 1, N) noisy ELBO estimates (one per step) minus the encoder's ELBO, drawn as the
    mean of the last `window` steps (of all steps so far, at the start); final_gaps: (N,) the precisely estimated gain at the end
    (the amortization gap), drawn as a diamond on the right.
    """
    if ax is None:
        fig, ax = plt.subplots()
    gains = torch.as_tensor(gains, dtype=torch.float64).cpu().T  # (N, steps + 1)
    total = torch.nn.functional.pad(gains.cumsum(dim=1), (1, 0))  # (N, steps + 2): sums of the first t values
    steps = torch.arange(gains.shape[1])
    start = (steps + 1 - window).clamp(min=0)  # the mean of the last `window` values (fewer at the start)
    smooth = (total[:, steps + 1] - total[:, start]) / (steps + 1 - start)
    for i in range(len(gains)):
        ax.plot(steps, smooth[i], color=f"C{i % 10}", label=f"image {i}")
        ax.plot(gains.shape[1] - 1, float(final_gaps[i]), marker="D", color=f"C{i % 10}", markeredgecolor="black")
    ax.axhline(0, color="gray", linewidth=1)
    ax.set_xlim(0, None)
    ax.set_xlabel("optimisation step (Adam on this image's μ and log σ²)")
    ax.set_ylabel("ELBO(q) − ELBO(encoder), nats")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def plot_two_gaps(images, approximation, amortization, approximation_errors=None, title=None):
    """For each image (drawn above its bar): log p(x) - ELBO(encoder) as two stacked bars,
    the amortization gap (encoder vs best Gaussian) under the approximation gap (best Gaussian vs log p(x))."""
    n = len(images)
    fig = plt.figure(figsize=(10, 5.2))
    grid = fig.add_gridspec(2, n, height_ratios=[1, 3.2])
    for i in range(n):
        top = fig.add_subplot(grid[0, i])
        top.imshow(torch.as_tensor(images[i]).cpu()[0], cmap="gray_r", vmin=0, vmax=1)
        top.set_axis_off()
        top.set_title(f"image {i}")
    ax = fig.add_subplot(grid[1, :])
    positions = range(n)
    amortization = torch.as_tensor(amortization).cpu()
    approximation = torch.as_tensor(approximation).cpu()
    ax.bar(positions, amortization, color="C1", label="amortization gap: ELBO(q*) - ELBO(encoder)")
    ax.bar(positions, approximation, bottom=amortization, color="C0", hatch="//", edgecolor="white",
           label="approximation gap: log p(x) - ELBO(q*)",
           yerr=None if approximation_errors is None else torch.as_tensor(approximation_errors).cpu(), capsize=4)
    ax.set_xticks(list(positions), [f"image {i}" for i in positions])
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylabel("nats")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_iwae_against_vae(records, final, activities, threshold=0.01, references=None):
    """Two panels from the IWAE benchmark: test bounds over epochs for each model (left), and the
    activity Cov_x(E[z_d|x]) of each latent dimension, sorted, with the active-unit threshold (right).

    records: {model: list of per-epoch dicts with epoch, test_neg_elbo, test_neg_lk};
    final: {model: IW NLL at the end}; activities: {model: list per dimension};
    references: {label: published NLL}, drawn as grey lines.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, (name, rows) in enumerate(records.items()):
        epochs = [r["epoch"] for r in rows]
        left.plot(epochs, [r["test_neg_elbo"] for r in rows], color=f"C{i}", label=f"{name}: -ELBO")
        left.plot(epochs, [r["test_neg_lk"] for r in rows], color=f"C{i}", linestyle="--", label=f"{name}: -L_5")
        left.plot(epochs[-1], final[name], marker="*", markersize=14, color=f"C{i}", markeredgecolor="black",
                  linestyle="none", label=f"{name}: IW NLL, k=5000")
    for j, (label, value) in enumerate((references or {}).items()):
        left.axhline(value, color="gray", linestyle=[":", "-."][j % 2], linewidth=1.5, label=label)
    left.set_xscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("nats per test image (lower is better)")
    left.set_ylim(top=min(r["test_neg_elbo"] for rows in records.values() for r in rows[len(rows) // 10:]) + 6)
    left.legend(fontsize=11, ncol=2)
    left.set_title("test bounds during training")
    for i, (name, activity) in enumerate(activities.items()):
        values = sorted(activity, reverse=True)
        right.semilogy(range(1, len(values) + 1), values, marker="o", color=f"C{i}",
                       label=f"{name}: {sum(a > threshold for a in values)} active")
    right.axhline(threshold, color="gray", linestyle=":", label=f"threshold {threshold}")
    right.set_xlabel("latent dimension, most active first")
    right.set_ylabel("activity Cov_x(E[z_d|x])")
    right.legend()
    right.set_title("active units")
    fig.tight_layout()
    return fig


def plot_linear_vae(closed_form, fitted, kl, noise_variances, active_closed, active_fitted, noise_variance):
    """pPCA against the fitted linear VAE: column lengths^2 of W and the KL of each latent dimension
    (left), and how many latent dimensions stay active as the decoder's noise variance grows (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    dims = range(1, len(closed_form) + 1)
    left.bar([d - 0.2 for d in dims], fitted, width=0.4, color="C0", label=r"fitted $\|w_j\|^2$")
    left.bar([d + 0.2 for d in dims], kl, width=0.4, color="C1", hatch="//", edgecolor="white",
             label=r"fitted KL$(q(z_j|x)\,\|\,p(z_j))$")
    left.plot(list(dims), closed_form, marker="D", linestyle="none", color="black", markersize=9,
              label=r"closed form $\max(\lambda_j-\sigma^2, 0)$")
    left.set_xticks(list(dims))
    left.set_xlabel(f"latent dimension j (σ² = {noise_variance:g})")
    left.set_ylabel("value")
    left.legend()
    left.set_title("the linear VAE's optimum is pPCA")
    right.step(noise_variances, active_closed, where="mid", color="black", label=r"closed form: #$\{j: \lambda_j > \sigma^2\}$")
    right.plot(noise_variances, active_fitted, marker="o", linestyle="none", color="C0", markersize=10,
               label="fitted: dimensions with KL > 1e-3")
    right.set_xscale("log")
    right.set_xlabel("decoder noise variance σ² (acts like β)")
    right.set_ylabel("active latent dimensions")
    right.set_yticks(range(0, max(active_closed) + 1))
    right.legend()
    right.set_title("collapse as σ² grows")
    fig.tight_layout()
    return fig
