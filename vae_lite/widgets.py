"""Interactive explorers built on ipywidgets: move a slider, watch the model answer.

    latent_explorer(model, data)          one slider per latent dimension, decoded live
    interpolation_explorer(model, data)   a straight line between two encoded test images
    kl_explorer()                         KL(N(mu, sigma^2) || N(0, 1)): closed form and Monte Carlo
    reparameterization_explorer()         z = mu + sigma * eps, and two estimates of one gradient

Each explorer is an ipywidgets box. A slider change calls its `update()` method, which does
all the work in the kernel (decoding under torch.inference_mode) and writes the results
into Image and Label widgets; tests set a slider's value and read those back, no browser
needed. Each explorer also offers a labelled static PNG of itself, which viewers without a
kernel (GitHub, nbviewer) show where the live widget would be.

The maths they show lives with the maths: vae_lite.latent (KL per dimension, encoder means),
vae_lite.gradients (the two estimators) and vae_lite.objectives (the closed-form KL).
"""

import base64
import io
import math

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import torch
from matplotlib.figure import Figure  # not pyplot: these figures must never pop up by themselves
from PIL import Image as PILImage

from .gradients import pathwise_gradients, score_function_gradients
from .latent import encoder_means_and_logvars, images_of, kl_per_dimension
from .objectives import kl_standard_normal
from .plots import PROJECTOR_STYLE, image_grid

# ~1000 px wide at 100 dpi with text of 12 pt or more, in the colour-blind-safe petroff10 palette,
# whatever style the notebook has set
STYLE = {**mpl.style.library["petroff10"], **PROJECTOR_STYLE}
BLUE, ORANGE = STYLE["axes.prop_cycle"].by_key()["color"][:2]

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


def figure_png(draw, *args, height=4.0, layout=None):
    """PNG bytes of a 10 x `height` inch figure (1000 px wide) that draw(figure, *args) fills.

    layout="constrained" fits the margins to the labels, at about twice the drawing time: for
    the still pictures, drawn once; a live figure sets its margins itself.
    """
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(10, height), layout=layout)
        draw(figure, *args)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _images_figure(figure, images, ncols, column_labels, row_labels, title, xlabel=None):
    """Images (N, C, H, W) tiled in rows of `ncols`, each column and row labelled."""
    ax = figure.add_subplot()
    ax.imshow(image_grid(images, ncols), cmap="gray_r", vmin=0, vmax=1)
    h, w = images.shape[-2:]
    ax.set_xticks([c * (w + 1) + (w - 1) / 2 for c in range(ncols)], column_labels)
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(len(row_labels))], row_labels)
    ax.tick_params(length=0)
    ax.set_frame_on(False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)


def _decode(model, z):
    """The decoder's mean images (..., C, H, W) for z (..., latent_dim), on the CPU."""
    with torch.inference_mode():
        return model.decode(z.to(model.device)).float().cpu()


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
    """Sliders for the latent dimensions of `model` that matter most, decoding live.

    data: an ImageData or image tensor; its test images rank the dimensions by KL (largest
    first) so the sliders that change the picture come first. start: an image whose encoder
    mean sets the starting z (default: z = 0, the prior's mean). At most `max_sliders`
    dimensions get a slider, from -limit to limit in steps of `step`; the rest stay fixed.
    """

    def __init__(self, model, data=None, start=None, max_sliders=10, limit=3.0, step=0.05, scale=5,
                 images_for_kl=2000):
        self.model = model.eval()
        self.scale = scale
        latent_dim = model.latent_dim
        if data is not None:
            self.kl = kl_per_dimension(model, images_of(data, images_for_kl))
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
        self.start_name = "the encoding of the start image" if start is not None else "0"
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
        note = f"; the other {hidden} stay at {self.start_name}" if hidden else ""
        controls = widgets.VBox([widgets.HTML(f"<b>{heading}</b>{note}"), *self.sliders, self.reset_button])
        super().__init__([widgets.HBox([controls, widgets.VBox([self.image, self.caption])])])
        self.last_moved = None
        for d, slider in zip(self.dims, self.sliders):
            slider.observe(lambda change, d=d: self.update(d), names="value")
        self.update()

    def update(self, moved=None):
        """Read the sliders, decode z, show the image and a caption written by the kernel."""
        for d, slider in zip(self.dims, self.sliders):
            self.z[d] = slider.value
        self.decoded = _decode(self.model, self.z.unsqueeze(0))[0, 0]  # (H, W)
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
        """What the first sliders do: one row per dimension, set to each of `values` in turn."""
        dims = self.dims[:rows]
        z = self.z.repeat(len(dims), len(values), 1)  # (rows, columns, latent_dim)
        for row, d in enumerate(dims):
            z[row, :, d] = torch.tensor(values, dtype=z.dtype)
        images = _decode(self.model, z.flatten(0, 1))  # (rows * columns, C, H, W)
        others = self.model.latent_dim - 1
        title = f"latent explorer: each row sets one dimension to the value below;\nthe other {others} stay at " + (
            "the current slider values" if self.last_moved is not None else self.start_name)
        return figure_png(_images_figure, images, len(values), [f"{v:g}" for v in values], [f"z[{d}]" for d in dims],
                          title, "value of the row's latent dimension", height=1.3 * len(dims) + 1.8, layout="constrained")


# ------------------------------------------------------------ interpolation explorer


class InterpolationExplorer(Explorer):
    """A slider t from 0 to 1 that decodes z = (1 - t) mu(A) + t mu(B) for test images A and B.

    data: an ImageData (its test images) or an image tensor; first, second: image indices.
    """

    def __init__(self, model, data, first=0, second=1, scale=4):
        self.model = model.eval()
        self.images = images_of(data)
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

    def update(self):
        mu_a, mu_b = self.means()
        t = self.t.value
        self.z = (1 - t) * mu_a + t * mu_b
        self.decoded = _decode(self.model, self.z.unsqueeze(0))[0, 0]  # (H, W)
        self.image_a.value = png_bytes(self.images[self.first.value, 0], self.scale)
        self.image_b.value = png_bytes(self.images[self.second.value, 0], self.scale)
        self.image_t.value = png_bytes(self.decoded, self.scale)
        self.caption.value = (f"t = {t:.2f}: z = {1 - t:.2f} mu(A) + {t:.2f} mu(B); "
                              f"distance from mu(A) {torch.linalg.norm(self.z - mu_a).item():.2f}")

    def static_png(self, steps=8):
        """Image A, the decodings at `steps` evenly spaced t, image B; each labelled."""
        mu_a, mu_b = self.means()
        t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
        decoded = _decode(self.model, (1 - t) * mu_a + t * mu_b)  # (steps, C, H, W)
        a, b = self.first.value, self.second.value
        images = torch.cat([self.images[[a]], decoded, self.images[[b]]])
        labels = ["A", *(f"t={v:.2f}" for v in t.squeeze(1).tolist()), "B"]
        title = f"interpolation: z = (1 - t) mu(A) + t mu(B), A = test image {a}, B = test image {b}"
        return figure_png(_images_figure, images, len(images), labels, [""], title, height=2.2, layout="constrained")


# ----------------------------------------------------------------------- KL explorer


def _normal_density(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class KLExplorer(Explorer):
    """Sliders for mu and sigma: the densities of q = N(mu, sigma^2) and p = N(0, 1), and
    KL(q || p) in closed form next to a Monte Carlo estimate from `samples` draws of q."""

    def __init__(self, mu=1.0, sigma=0.5, samples=2000, seed=0):
        self.mu = _slider("mu", mu, -3.0, 3.0, 0.05, continuous=False)
        self.sigma = _slider("sigma", sigma, 0.1, 3.0, 0.05, continuous=False)
        # the same standard-normal draws for every slider position (common random numbers),
        # so the Monte Carlo estimate moves smoothly instead of jittering
        self.eps = torch.randn(samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.image = widgets.Image(format="png")
        self.numbers = widgets.HTML()
        super().__init__([self.mu, self.sigma, self.image, self.numbers])
        for slider in (self.mu, self.sigma):
            slider.observe(lambda change: self.update(), names="value")
        self.update()

    def compute(self, mu, sigma):
        """(closed form, Monte Carlo estimate, its standard error) of KL(N(mu, sigma^2) || N(0, 1))."""
        as_tensor = lambda v: torch.tensor([v], dtype=torch.float64)
        closed_form = kl_standard_normal(as_tensor(mu), as_tensor(2 * math.log(sigma))).item()
        z = mu + sigma * self.eps  # samples from q
        log_q = -0.5 * self.eps**2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
        log_p = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
        ratio = log_q - log_p  # KL = E_q[log q(z) - log p(z)]
        return closed_form, ratio.mean().item(), (ratio.std() / math.sqrt(len(ratio))).item()

    def draw(self, figure, mu, sigma):
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.89)
        ax = figure.add_subplot()
        x = np.linspace(-6, 6, 400)
        density = _normal_density(x, mu, sigma)
        ax.plot(x, _normal_density(x, 0, 1), color="gray", label="prior p(z) = N(0, 1)")
        ax.plot(x, density, color=BLUE, label="q(z) = N(μ, σ²)")
        ax.fill_between(x, density, color=BLUE, alpha=0.15)
        ax.set(xlabel="z", xlim=(-6, 6), ylim=(0, max(0.45, 1.05 * density.max())))
        ax.legend(loc="upper left", frameon=False)
        ax.set_title(f"q = N({mu:.2f}, {sigma:.2f}²):  KL(q || p) = {self.closed_form:.3f} nats")

    def update(self):
        mu, sigma = self.mu.value, self.sigma.value
        self.closed_form, self.monte_carlo, self.standard_error = self.compute(mu, sigma)
        self.image.value = figure_png(self.draw, mu, sigma)
        self.numbers.value = (
            f"closed form ½(μ² + σ² − log σ² − 1) = <b>{self.closed_form:.4f}</b> nats; "
            f"Monte Carlo with {len(self.eps)} samples of q: {self.monte_carlo:.4f} ± {self.standard_error:.4f}"
        )

    def static_png(self):
        return self.image.value


# ----------------------------------------------------------- reparameterization explorer


def _square(z):
    return z**2


class ReparameterizationExplorer(Explorer):
    """Sliders for mu and sigma of q = N(mu, sigma^2): samples z = mu + sigma * eps with fixed
    eps, and the gradient of E_q[z^2] estimated by the pathwise (reparameterization) and the
    score-function estimator, next to the exact 2 mu and 2 sigma. "new eps" draws new samples."""

    def __init__(self, mu=1.0, sigma=0.5, samples=200, seed=0):
        self.mu = _slider("mu", mu, -3.0, 3.0, 0.05, continuous=False)
        self.sigma = _slider("sigma", sigma, 0.1, 3.0, 0.05, continuous=False)
        self.samples, self.seed = samples, seed
        self.resample_button = widgets.Button(description="new eps", layout=widgets.Layout(width="100px"))
        self.resample_button.on_click(lambda _: self.resample())
        self.image = widgets.Image(format="png")
        self.numbers = widgets.HTML()
        super().__init__([widgets.HBox([widgets.VBox([self.mu, self.sigma]), self.resample_button]),
                          self.image, self.numbers])
        for slider in (self.mu, self.sigma):
            slider.observe(lambda change: self.update(), names="value")
        self.resample(seed)

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
            d_mu, d_sigma = estimator(_square, mu_t, sigma_t, self.eps)
            results[name] = (d_mu.mean().item(), d_sigma.mean().item(),
                             d_mu.std().item() / math.sqrt(n), d_sigma.std().item() / math.sqrt(n))
        return results

    def draw(self, figure, mu, sigma):
        figure.subplots_adjust(left=0.05, right=0.98, bottom=0.16, top=0.89, wspace=0.2)
        ax_samples, ax_gradients = figure.subplots(1, 2, width_ratios=[3, 2])
        bins = np.linspace(-7, 7, 57)
        x = np.linspace(-7, 7, 300)
        ax_samples.hist(self.z.numpy(), bins=bins, density=True, color=BLUE, alpha=0.4,
                        label=f"{len(self.z)} samples z = μ + σ·ε")
        ax_samples.plot(x, _normal_density(x, mu, sigma), color=BLUE, label="N(μ, σ²)")
        ax_samples.set(xlabel="z", xlim=(-7, 7), title=f"μ = {mu:.2f}, σ = {sigma:.2f} (ε seed {self.seed})")
        ax_samples.set_ylim(0, 1.3 * ax_samples.get_ylim()[1])  # room for the legend
        ax_samples.legend(loc="upper left", frameon=False)
        positions = np.arange(2)
        for offset, name, colour in ((-0.2, "pathwise", BLUE), (0.2, "score function", ORANGE)):
            d_mu, d_sigma, se_mu, se_sigma = self.results[name]
            ax_gradients.bar(positions + offset, [d_mu, d_sigma], width=0.38, color=colour, alpha=0.7, label=name,
                             yerr=[2 * se_mu, 2 * se_sigma], capsize=3)
        ax_gradients.plot(positions, self.results["exact"], "_", color="black", markersize=30, mew=2, label="exact")
        ax_gradients.set_xticks(positions, ["d/dμ", "d/dσ"])
        ax_gradients.set_title("gradient of E[z²] (±2 s.e.)")
        ax_gradients.axhline(0, color="gray", linewidth=0.8)
        ax_gradients.margins(y=0.3)
        ax_gradients.legend(frameon=False, loc="best")

    def update(self):
        mu, sigma = self.mu.value, self.sigma.value
        self.z = mu + sigma * self.eps
        self.results = self.compute(mu, sigma)
        self.image.value = figure_png(self.draw, mu, sigma)
        exact = self.results["exact"]
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


# the names the notebooks call: each is the class itself, so every argument reaches it
latent_explorer = LatentExplorer
interpolation_explorer = InterpolationExplorer
kl_explorer = KLExplorer
reparameterization_explorer = ReparameterizationExplorer
