"""Interactive explorers built on ipywidgets: move a slider, watch the model answer.

    latent_explorer(model, data)          one slider per latent dimension, decoded live
    interpolation_explorer(model, data)   a straight line between two encoded test images
    kl_explorer()                         KL(N(mu, sigma^2) || N(0, 1)): closed form and Monte Carlo
    reparameterization_explorer()         z = mu + sigma * eps, and two estimates of one gradient

Each explorer is an ipywidgets box. A slider change calls its `update()` method, which does
all the work in the kernel (decoding under torch.inference_mode) and writes the results
into Image and Label widgets; tests set a slider's value and read those back, no browser
needed. Each explorer also offers a static PNG of itself, which viewers without a kernel
(GitHub, nbviewer) show where the live widget would be.

The helpers kl_per_dimension and active_units (used to order the latent sliders) are the
statistics notebook 06 discusses.
"""

import base64
import io
import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure  # not pyplot: these figures must never pop up by themselves
from PIL import Image as PILImage

from .data import ImageData

# ------------------------------------------------------------------- latent statistics


def _test_images(data, limit=None):
    """The images an explorer encodes: data.test of an ImageData, or a tensor of images."""
    if isinstance(data, ImageData):
        images = data.test if data.test is not None else data.train
    else:
        images = torch.as_tensor(data)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W) or an ImageData, got shape {tuple(images.shape)}")
    return images[:limit]


@torch.inference_mode()
def encoder_means_and_logvars(model, images, batch_size=1000):
    """(mu, logvar) of q(z|x) for every image, computed in batches on the model's device."""
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        mu, logvar = model.encode(images[start:start + batch_size].to(model.device))
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


def kl_per_dimension(model, images):
    """Mean over images of KL(q(z_d|x) || N(0, 1)) for each latent dimension d, in nats.

    These add up to the KL term of the ELBO. A dimension whose KL is about 0 carries no
    information about x: the encoder ignores x there and the decoder ignores that z_d.
    """
    mu, logvar = encoder_means_and_logvars(model, _test_images(images))
    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)).mean(dim=0)


def active_units(model, images, threshold=0.01):
    """The number of latent dimensions the encoder uses, and the activity of each.

    Burda et al. (2015): dimension d is active when Cov_x(E_q[z_d|x]) > 0.01, i.e. its
    encoder mean changes with the input. Returns (count, activity per dimension).
    """
    mu, _ = encoder_means_and_logvars(model, _test_images(images))
    activity = mu.var(dim=0)
    return int((activity > threshold).sum()), activity


# ------------------------------------------------------------------------ rendering


def png_bytes(image, scale=4):
    """A (H, W) array in [0, 1] as PNG bytes, black ink on white, each pixel scale x scale."""
    if torch.is_tensor(image):
        image = image.detach().cpu().numpy()
    pixels = np.asarray(image, dtype=np.float32)
    grey = np.round(255 * (1 - np.clip(pixels, 0, 1))).astype(np.uint8)
    picture = PILImage.fromarray(grey)
    if scale > 1:
        picture = picture.resize((grey.shape[1] * scale, grey.shape[0] * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _strip(images, gap=1):
    """(N, H, W) images side by side with white gaps, as one (H, W') array."""
    n, h, w = images.shape
    strip = np.zeros((h, n * (w + gap) - gap), dtype=np.float32)
    for i, image in enumerate(images):
        strip[:, i * (w + gap):i * (w + gap) + w] = image
    return strip


class Explorer(widgets.VBox):
    """A VBox that also offers a PNG of its current state.

    Jupyter shows the live widget; a viewer without a kernel or widget state (GitHub,
    nbviewer) falls back to the PNG stored next to it in the same output.
    """

    def static_png(self):
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:  # the widget was closed
            return None
        bundle["text/plain"] = f"{type(self).__name__} (run the notebook to use the sliders)"
        bundle["image/png"] = base64.b64encode(self.static_png()).decode("ascii")
        return bundle


def _slider(description, value, low, high, step, width="320px", continuous=True):
    """continuous=False: redraw when the drag ends (for matplotlib figures, which take ~0.1 s to draw;
    a redraw per mouse move would queue up). Arrow keys redraw at every press either way."""
    return widgets.FloatSlider(
        value=value, min=low, max=high, step=step, description=description, readout_format=".2f",
        continuous_update=continuous, style={"description_width": "90px"}, layout=widgets.Layout(width=width),
    )


# ------------------------------------------------------------------ latent explorer


class LatentExplorer(Explorer):
    """One slider per latent dimension (largest KL first); the decoded image updates live."""

    def __init__(self, model, data=None, start=None, max_sliders=10, limit=3.0, step=0.05, scale=5,
                 images_for_kl=2000):
        self.model = model.eval()
        self.scale = scale
        latent_dim = model.latent_dim
        if data is not None:
            self.kl = kl_per_dimension(model, _test_images(data, images_for_kl))
            order = torch.argsort(self.kl, descending=True)
        else:  # no data to measure KL on: keep the natural order
            self.kl = None
            order = torch.arange(latent_dim)
        self.dims = [int(d) for d in order[:max_sliders]]
        if start is None:
            self.start = torch.zeros(latent_dim)  # the prior's mean
        else:
            mu, _ = encoder_means_and_logvars(model, torch.as_tensor(start).reshape(1, *model.image_shape))
            self.start = mu[0]
        self.z = self.start.clone()
        self.sliders = []
        for d in self.dims:
            label = f"z[{d}]" + (f" ({self.kl[d]:.1f})" if self.kl is not None else "")
            # on the slider's grid: otherwise the browser snaps the value and sends it back, which
            # redraws once per slider as soon as the explorer appears
            value = round(float(self.start[d].clamp(-limit, limit)) / step) * step
            self.sliders.append(_slider(label, value, -limit, limit, step))
        self.image = widgets.Image(format="png")
        self.caption = widgets.Label()
        self.reset_button = widgets.Button(description="reset", layout=widgets.Layout(width="80px"))
        self.reset_button.on_click(lambda _: self.reset())
        heading = "latent dimension (its KL in nats)" if self.kl is not None else "latent dimension"
        hidden = latent_dim - len(self.dims)
        note = f"; the other {hidden} stay at {'the encoding' if start is not None else '0'}" if hidden else ""
        controls = widgets.VBox([widgets.HTML(f"<b>{heading}</b>{note}"), *self.sliders, self.reset_button])
        super().__init__([widgets.HBox([controls, widgets.VBox([self.image, self.caption])])])
        self.last_moved = None
        for d, slider in zip(self.dims, self.sliders):
            slider.observe(lambda change, d=d: self.update(d), names="value")
        self.update()

    def decode(self, z):
        with torch.inference_mode():
            return self.model.decode(z.to(self.model.device).unsqueeze(0))[0, 0].float().cpu()

    def update(self, moved=None):
        """Read the sliders, decode z, show the image and a caption written by the kernel."""
        for d, slider in zip(self.dims, self.sliders):
            self.z[d] = slider.value
        self.decoded = self.decode(self.z)
        self.image.value = png_bytes(self.decoded, self.scale)
        if moved is not None:
            self.last_moved = moved
        if self.last_moved is None:
            self.caption.value = f"decoded z; mean ink {self.decoded.mean().item():.3f}"
        else:
            d = self.last_moved
            self.caption.value = f"z[{d}] = {self.z[d].item():.2f}; mean ink {self.decoded.mean().item():.3f}"

    def reset(self):
        for d, slider in zip(self.dims, self.sliders):
            slider.value = round(float(self.start[d]) / slider.step) * slider.step

    def static_png(self, values=(-2, -1, 0, 1, 2), rows=5):
        """What the first sliders do: one row per dimension, the slider at each of `values`."""
        frames = []
        for d in self.dims[:rows]:
            for v in values:
                z = self.z.clone()
                z[d] = v
                frames.append(self.decode(z).numpy())
        h, w = frames[0].shape
        grid = np.zeros((len(frames) // len(values) * (h + 1) - 1, len(values) * (w + 1) - 1), np.float32)
        for i, frame in enumerate(frames):
            r, c = divmod(i, len(values))
            grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = frame
        return png_bytes(grid, max(1, self.scale - 2))


def latent_explorer(model, data=None, start=None, max_sliders=10, limit=3.0, scale=5):
    """Sliders for the latent dimensions of `model` that matter most, decoding live.

    data: an ImageData or image tensor; its test images rank the dimensions by KL (largest
    first) so the sliders that change the picture come first. start: an image whose encoder
    mean sets the starting z (default: z = 0, the prior's mean). At most `max_sliders`
    dimensions get a slider; the rest stay fixed.
    """
    return LatentExplorer(model, data, start=start, max_sliders=max_sliders, limit=limit, scale=scale)


# ------------------------------------------------------------ interpolation explorer


class InterpolationExplorer(Explorer):
    """z = (1 - t) mu(A) + t mu(B): decode points on the line between two encoded images."""

    def __init__(self, model, data, first=0, second=1, scale=4):
        self.model = model.eval()
        self.images = _test_images(data)
        self.scale = scale
        last = len(self.images) - 1
        self.first = widgets.BoundedIntText(value=first, min=0, max=last, description="image A",
                                            layout=widgets.Layout(width="160px"))
        self.second = widgets.BoundedIntText(value=second, min=0, max=last, description="image B",
                                             layout=widgets.Layout(width="160px"))
        self.t = _slider("t (A to B)", 0.0, 0.0, 1.0, 0.05)
        self.image_a, self.image_t, self.image_b = (widgets.Image(format="png") for _ in range(3))
        self.caption = widgets.Label()
        labels = [widgets.Label(s) for s in ("image A", "decoded z(t)", "image B")]
        pictures = widgets.HBox([widgets.VBox([label, image]) for label, image in
                                 zip(labels, (self.image_a, self.image_t, self.image_b))])
        super().__init__([widgets.HBox([self.first, self.second]), self.t, pictures, self.caption])
        for control in (self.first, self.second, self.t):
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def means(self):
        """mu(A) and mu(B); encoded again only when the image numbers change, not at every move of t."""
        key = (self.first.value, self.second.value)
        if getattr(self, "_means_for", None) != key:
            mu, _ = encoder_means_and_logvars(self.model, self.images[list(key)])
            self._means_for, self._means = key, (mu[0], mu[1])
        return self._means

    def decode(self, z):
        with torch.inference_mode():
            return self.model.decode(z.to(self.model.device))[..., 0, :, :].float().cpu()

    def update(self):
        mu_a, mu_b = self.means()
        t = self.t.value
        self.z = (1 - t) * mu_a + t * mu_b
        self.decoded = self.decode(self.z.unsqueeze(0))[0]
        self.image_a.value = png_bytes(self.images[self.first.value, 0], self.scale)
        self.image_b.value = png_bytes(self.images[self.second.value, 0], self.scale)
        self.image_t.value = png_bytes(self.decoded, self.scale)
        self.caption.value = (f"t = {t:.2f}: z = {1 - t:.2f} mu(A) + {t:.2f} mu(B); "
                              f"distance from mu(A) {torch.linalg.norm(self.z - mu_a).item():.2f}")

    def static_png(self, steps=8):
        """Image A, the decodings at `steps` evenly spaced t, image B."""
        mu_a, mu_b = self.means()
        t = torch.linspace(0, 1, steps).unsqueeze(1)
        decoded = self.decode((1 - t) * mu_a + t * mu_b).numpy()
        ends = self.images[[self.first.value, self.second.value], 0].numpy()
        return png_bytes(_strip(np.concatenate([ends[:1], decoded, ends[1:]])), 2)


def interpolation_explorer(model, data, first=0, second=1, scale=4):
    """A slider t from 0 to 1 that decodes (1 - t) mu(A) + t mu(B) for test images A and B.

    data: an ImageData (its test images) or an image tensor; first, second: image indices.
    """
    return InterpolationExplorer(model, data, first=first, second=second, scale=scale)


# ----------------------------------------------------------------------- KL explorer


def _normal_density(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class KLExplorer(Explorer):
    """KL(q || p) for q = N(mu, sigma^2) and the prior p = N(0, 1), as mu and sigma move."""

    def __init__(self, mu=1.0, sigma=0.5, samples=2000, seed=0):
        self.mu = _slider("mu", mu, -3.0, 3.0, 0.05, continuous=False)
        self.sigma = _slider("sigma", sigma, 0.1, 3.0, 0.05, continuous=False)
        # the same standard-normal draws for every slider position (common random numbers),
        # so the Monte Carlo estimate moves smoothly instead of jittering
        self.eps = torch.randn(samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        # the figure is drawn once; an update only moves its lines (redrawing axes is slow)
        self.figure = Figure(figsize=(5.0, 2.6), dpi=80)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.88)
        self.ax = self.figure.add_subplot()
        self.x = np.linspace(-6, 6, 400)
        self.ax.plot(self.x, _normal_density(self.x, 0, 1), color="gray", label="prior p(z) = N(0, 1)")
        (self.q_line,) = self.ax.plot(self.x, self.x * 0, color="C0", label="q(z) = N(μ, σ²)")
        self.q_fill = None
        self.ax.set_xlabel("z")
        self.ax.set_xlim(-6, 6)
        self.ax.legend(loc="upper left", fontsize=8, frameon=False)
        self.image = widgets.Image(format="png")
        self.numbers = widgets.HTML()
        super().__init__([self.mu, self.sigma, self.image, self.numbers])
        for slider in (self.mu, self.sigma):
            slider.observe(lambda change: self.update(), names="value")
        self.update()

    def compute(self, mu, sigma):
        """(closed form, Monte Carlo estimate, its standard error) of KL(N(mu, sigma^2) || N(0, 1))."""
        closed_form = 0.5 * (mu**2 + sigma**2 - math.log(sigma**2) - 1)
        z = mu + sigma * self.eps  # samples from q
        log_q = -0.5 * self.eps**2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
        log_p = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
        ratio = log_q - log_p  # KL = E_q[log q(z) - log p(z)]
        return closed_form, ratio.mean().item(), (ratio.std() / math.sqrt(len(ratio))).item()

    def update(self):
        mu, sigma = self.mu.value, self.sigma.value
        self.closed_form, self.monte_carlo, self.standard_error = self.compute(mu, sigma)
        density = _normal_density(self.x, mu, sigma)
        self.q_line.set_ydata(density)
        if self.q_fill is not None:
            self.q_fill.remove()
        self.q_fill = self.ax.fill_between(self.x, density, color="C0", alpha=0.15)
        self.ax.set_ylim(0, max(0.45, 1.05 * density.max()))
        self.ax.set_title(f"q = N({mu:.2f}, {sigma:.2f}²):  KL(q || p) = {self.closed_form:.3f} nats", fontsize=10)
        self.image.value = figure_png(self.figure)
        self.numbers.value = (
            f"closed form ½(μ² + σ² − log σ² − 1) = <b>{self.closed_form:.4f}</b> nats; "
            f"Monte Carlo with {len(self.eps)} samples of q: {self.monte_carlo:.4f} ± {self.standard_error:.4f}"
        )

    def static_png(self):
        return self.image.value


def kl_explorer(mu=1.0, sigma=0.5, samples=2000):
    """Sliders for mu and sigma: the densities of q = N(mu, sigma^2) and p = N(0, 1), and
    KL(q || p) in closed form next to a Monte Carlo estimate from `samples` draws of q."""
    return KLExplorer(mu=mu, sigma=sigma, samples=samples)


# ----------------------------------------------------------- reparameterization explorer


def pathwise_gradients(f, mu, sigma, eps):
    """Per-sample reparameterization gradients of f(z), z = mu + sigma * eps, w.r.t. (mu, sigma).

    d f/d mu = f'(z) and d f/d sigma = f'(z) * eps: the chain rule through z, which exists
    because z is a differentiable function of mu and sigma (autograd gives f').
    """
    z = (mu + sigma * eps).requires_grad_(True)
    (f_prime,) = torch.autograd.grad(f(z).sum(), z)
    return f_prime, f_prime * eps


def score_function_gradients(f, mu, sigma, eps):
    """Per-sample score-function (REINFORCE) gradients: f(z) times d log q(z)/d (mu, sigma).

    For q = N(mu, sigma^2): d log q/d mu = (z - mu)/sigma^2 = eps/sigma and
    d log q/d sigma = ((z - mu)^2 - sigma^2)/sigma^3 = (eps^2 - 1)/sigma.
    It needs no derivative of f, and pays for that with a much larger variance.
    """
    value = f(mu + sigma * eps)
    return value * eps / sigma, value * (eps**2 - 1) / sigma


def square(z):
    return z**2


class ReparameterizationExplorer(Explorer):
    """z = mu + sigma * eps: samples of q, and the gradient of E_q[z^2] estimated two ways."""

    def __init__(self, mu=1.0, sigma=0.5, samples=200, seed=0):
        self.mu = _slider("mu", mu, -3.0, 3.0, 0.05, continuous=False)
        self.sigma = _slider("sigma", sigma, 0.1, 3.0, 0.05, continuous=False)
        self.samples, self.seed = samples, seed
        self.resample_button = widgets.Button(description="new eps", layout=widgets.Layout(width="100px"))
        self.resample_button.on_click(lambda _: self.resample())
        self._draw_axes()
        self.image = widgets.Image(format="png")
        self.numbers = widgets.HTML()
        super().__init__([widgets.HBox([widgets.VBox([self.mu, self.sigma]), self.resample_button]),
                          self.image, self.numbers])
        for slider in (self.mu, self.sigma):
            slider.observe(lambda change: self.update(), names="value")
        self.resample(seed)

    def _draw_axes(self):
        """Axes, legend and bars are made once; updates change heights (redrawing axes is slow)."""
        self.figure = Figure(figsize=(7.0, 2.6), dpi=80)
        self.figure.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.88, wspace=0.25)
        self.ax_samples, self.ax_gradients = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        ax = self.ax_samples
        self.bins = np.linspace(-7, 7, 57)
        self.x = np.linspace(-7, 7, 300)
        _, _, self.histogram = ax.hist(np.zeros(1), bins=self.bins, color="C0", alpha=0.4,
                                       label=f"{self.samples} samples z = μ + σ·ε")
        (self.density_line,) = ax.plot(self.x, self.x * 0, color="C0", label="N(μ, σ²)")
        ax.set_xlabel("z")
        ax.set_xlim(-7, 7)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        ax = self.ax_gradients
        self.positions = np.arange(2)
        self.bars = {}
        for offset, name, color in ((-0.2, "pathwise", "C0"), (0.2, "score function", "C1")):
            self.bars[name] = ax.bar(self.positions + offset, [0, 0], width=0.38, color=color, alpha=0.7, label=name)
        (self.exact_marks,) = ax.plot(self.positions, [0, 0], "_", color="black", markersize=30, mew=2, label="exact")
        self.error_bars = []
        ax.set_xticks(self.positions, ["d/dμ", "d/dσ"])
        ax.set_title("gradient of E[z²] (±2 s.e.)", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper left")

    def resample(self, seed=None):
        """Draw new standard-normal eps (the only randomness), then redraw."""
        self.seed = self.seed + 1 if seed is None else seed
        generator = torch.Generator().manual_seed(self.seed)
        self.eps = torch.randn(self.samples, generator=generator, dtype=torch.float64)
        self.update()

    def compute(self, mu, sigma):
        """Exact gradient of E[z^2] = mu^2 + sigma^2, and both estimates with standard errors."""
        mu_t = torch.tensor(mu, dtype=torch.float64)
        sigma_t = torch.tensor(sigma, dtype=torch.float64)
        n = len(self.eps)
        results = {"exact": (2 * mu, 2 * sigma)}
        for name, estimator in (("pathwise", pathwise_gradients), ("score function", score_function_gradients)):
            d_mu, d_sigma = estimator(square, mu_t, sigma_t, self.eps)
            results[name] = (d_mu.mean().item(), d_sigma.mean().item(),
                             d_mu.std().item() / math.sqrt(n), d_sigma.std().item() / math.sqrt(n))
        return results

    def update(self):
        mu, sigma = self.mu.value, self.sigma.value
        self.z = mu + sigma * self.eps
        self.results = self.compute(mu, sigma)
        counts, _ = np.histogram(self.z.numpy(), bins=self.bins)
        width = self.bins[1] - self.bins[0]
        for bar, count in zip(self.histogram, counts):
            bar.set_height(count / (len(self.eps) * width))  # a density, comparable with the curve
        density = _normal_density(self.x, mu, sigma)
        self.density_line.set_ydata(density)
        self.ax_samples.set_ylim(0, 1.3 * max(density.max(), counts.max() / (len(self.eps) * width)))
        for artist in self.error_bars:
            artist.remove()
        self.error_bars = []
        values, errors = [], []
        for offset, name in ((-0.2, "pathwise"), (0.2, "score function")):
            d_mu, d_sigma, se_mu, se_sigma = self.results[name]
            for bar, height in zip(self.bars[name], (d_mu, d_sigma)):
                bar.set_height(height)
            lines = self.ax_gradients.errorbar(self.positions + offset, [d_mu, d_sigma], yerr=[2 * se_mu, 2 * se_sigma],
                                               fmt="none", ecolor="black", capsize=3, lw=1)
            self.error_bars.append(lines)
            values += [d_mu - 2 * se_mu, d_mu + 2 * se_mu, d_sigma - 2 * se_sigma, d_sigma + 2 * se_sigma]
        exact = self.results["exact"]
        self.exact_marks.set_ydata(exact)
        low, high = min(0, *values, *exact), max(0, *values, *exact)
        self.ax_gradients.set_ylim(low - 0.1 * (high - low) - 0.1, high + 0.25 * (high - low) + 0.1)
        self.ax_samples.set_title(f"μ = {mu:.2f}, σ = {sigma:.2f}", fontsize=9)
        self.image.value = figure_png(self.figure)
        rows = "".join(
            f"<tr><td>{name}</td><td>{r[0]:.3f} ± {r[2]:.3f}</td><td>{r[1]:.3f} ± {r[3]:.3f}</td></tr>"
            for name, r in ((n, self.results[n]) for n in ("pathwise", "score function"))
        )
        self.numbers.value = (
            f"<table><tr><th>estimate (± s.e.)</th><th>d/dμ E[z²]</th><th>d/dσ E[z²]</th></tr>"
            f"<tr><td>exact: 2μ, 2σ</td><td>{exact[0]:.3f}</td><td>{exact[1]:.3f}</td></tr>{rows}</table>"
        )

    def static_png(self):
        return self.image.value


def reparameterization_explorer(mu=1.0, sigma=0.5, samples=200):
    """Sliders for mu and sigma of q = N(mu, sigma^2): samples z = mu + sigma * eps with fixed
    eps, and the gradient of E_q[z^2] estimated by the pathwise (reparameterization) and the
    score-function estimator, next to the exact 2 mu and 2 sigma."""
    return ReparameterizationExplorer(mu=mu, sigma=sigma, samples=samples)
