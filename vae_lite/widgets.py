"""Interactive explorers built on ipywidgets: move a slider, watch the model answer.

    latent_explorer(model, data)          one slider per latent dimension, decoded live
    interpolation_explorer(model, data)   a straight line between two encoded test images
    kl_explorer()                         KL(N(mu, sigma^2) || N(0, 1)): closed form and Monte Carlo
    reparameterization_explorer()         z = mu + sigma * eps, and two estimates of one gradient

Each explorer is an ipywidgets box. A slider change calls its `update()` method, which does
all the work in the kernel (decoding under torch.inference_mode) and writes the results
into Image and Label widgets; tests set a slider's value and read those back, no browser
needed. One exception: the latent explorer's picture of an MLP decoder is decoded in the page
itself (decoder.js, the same layers with the kernel's weights), so that it follows the slider
without waiting for the kernel; the kernel still decodes each z for the caption. Each explorer
also offers a labelled static PNG of itself, which viewers without a kernel (GitHub, nbviewer)
show where the live widget would be.

The maths they show lives with the maths: vae_lite.latent (KL per dimension, encoder means),
vae_lite.gradients (the two estimators) and vae_lite.objectives (the closed-form KL).
"""

import base64
import io
import math
from pathlib import Path

import anywidget
import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import torch
import traitlets
from matplotlib.figure import Figure  # not pyplot: these figures must never pop up by themselves
from PIL import Image as PILImage

from .gradients import pathwise_gradients, score_function_gradients
from .latent import encoder_means_and_logvars, images_of, kl_per_dimension
from .models import _ImageModel
from .networks import MLPDecoder
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


def png_data_url(image, scale=4):
    """The picture of png_bytes as a data: URL, for an Image widget with format="url".

    The browser shows a data: URL as soon as it arrives. With format="png" ipywidgets hands the
    bytes to the page as a blob: URL, which Chromium fetches through its browser process: about
    10 ms more from a slider's key press to the new picture, measured in JupyterLab.
    """
    return b"data:image/png;base64," + base64.b64encode(png_bytes(image, scale))


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


class QuietFloatSlider(widgets.FloatSlider):
    """A FloatSlider whose kernel does not echo the page's own value back to it.

    ipywidgets 8 answers every value the page sends with an echo_update message, for other
    browser tabs showing the same widget; the page that moved the slider ignores it. One message
    less per key press (as ipywidgets' FileUpload does for its value); a second tab still gets
    the pictures, only its slider stays where it was.
    """

    value = traitlets.CFloat(0.0, help="Float value").tag(sync=True, echo_update=False)


def _slider(description, value, low, high, step, width="320px", continuous=True, echo=True):
    """continuous=False: redraw when the drag ends (for matplotlib figures, which take ~0.1 s to draw;
    a redraw per mouse move would queue up). Arrow keys redraw at every press either way.
    echo=False: a QuietFloatSlider."""
    return (widgets.FloatSlider if echo else QuietFloatSlider)(
        value=value, min=low, max=high, step=step, description=description, readout_format=".2f",
        continuous_update=continuous, style={"description_width": "90px"}, layout=widgets.Layout(width=width),
    )


# ------------------------------------------------------------------ latent explorer


def decoder_layers(model):
    """The decoder's Linear layers as float32 bytes for decoder.js, if the model decodes as

        x = sigmoid(W_L relu(... relu(W_1 z + b_1) ...) + b_L),   one grey channel;

    None for any other decoder (conv, tanh, colour, conditional), which the kernel draws."""
    if not (isinstance(getattr(model, "decoder", None), MLPDecoder) and type(model).decode is _ImageModel.decode
            and model.image_shape[0] == 1):
        return None
    modules = list(model.decoder.net)
    linears, between = modules[::2], modules[1::2]
    if not (all(isinstance(m, torch.nn.Linear) for m in linears) and all(isinstance(m, torch.nn.ReLU) for m in between)):
        return None
    as_bytes = lambda t: t.detach().float().cpu().numpy().tobytes()  # noqa: E731
    return [{"weight": as_bytes(layer.weight), "bias": as_bytes(layer.bias)} for layer in linears]


class BrowserDecoder(anywidget.AnyWidget):
    """The decoder's mean image for z, decoded and drawn in the page by decoder.js.

    z holds every dimension's value, as the kernel last set it; the slider `sliders[k]` sets
    dimension `dims[k]`. The page decodes again whenever a slider moves there, before the kernel
    hears of it (and again when the kernel's z arrives, in case the page could not reach the
    sliders). The weights (`decoder_layers(model)`) travel once, when the widget is shown.
    """

    _esm = Path(__file__).with_name("decoder.js")
    layers = traitlets.List().tag(sync=True)
    z = traitlets.List(traitlets.Float()).tag(sync=True)
    dims = traitlets.List(traitlets.Int()).tag(sync=True)
    sliders = traitlets.List(traitlets.Instance(widgets.FloatSlider)).tag(sync=True, **widgets.widget_serialization)
    image_size = traitlets.List(traitlets.Int()).tag(sync=True)  # [height, width]
    scale = traitlets.Int(5).tag(sync=True)  # screen pixels per image pixel


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
            self.sliders.append(_slider(label, value, -limit, limit, step, echo=False))
        layers = decoder_layers(model)
        if layers is not None:  # decoded in the page: the picture follows the slider at once
            self.picture = BrowserDecoder(layers=layers, z=self.start.tolist(), dims=self.dims, sliders=self.sliders,
                                          image_size=list(model.image_shape[1:]), scale=scale)
        else:  # decoded in the kernel, sent as a data: URL (the fastest way to the page)
            self.picture = widgets.Image(format="url")
        self.caption = widgets.Label()
        self.reset_button = widgets.Button(description="reset", layout=widgets.Layout(width="80px"))
        self.reset_button.on_click(lambda _: self.reset())
        heading = "latent dimension (its KL in nats)" if self.kl is not None else "latent dimension"
        hidden = latent_dim - len(self.dims)
        note = f"; the other {hidden} stay at {self.start_name}" if hidden else ""
        controls = widgets.VBox([widgets.HTML(f"<b>{heading}</b>{note}"), *self.sliders, self.reset_button])
        super().__init__([widgets.HBox([controls, widgets.VBox([self.picture, self.caption])])])
        self.last_moved = None
        for d, slider in zip(self.dims, self.sliders):
            slider.observe(lambda change, d=d: self.update(d), names="value")
        self.update()

    def update(self, moved=None):
        """Read the sliders, decode z, show the image and a caption written by the kernel."""
        for d, slider in zip(self.dims, self.sliders):
            self.z[d] = slider.value
        self.decoded = _decode(self.model, self.z.unsqueeze(0))[0, 0]  # (H, W)
        if moved is not None:
            self.last_moved = moved
        if self.last_moved is None:
            caption = f"decoded z; mean ink {self.decoded.mean().item():.3f}"
        else:
            d = self.last_moved
            caption = f"z[{d}] = {self.z[d].item():.2f}; mean ink {self.decoded.mean().item():.3f}"
        # the caption first: the page then handles its message before the picture's, not while
        # the new picture loads
        self.caption.value = caption
        if isinstance(self.picture, BrowserDecoder):  # the page has drawn z already, if it has the sliders
            self.picture.z = self.z.tolist()
        else:
            self.picture.value = png_data_url(self.decoded, self.scale)

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
        self.caption.value = (f"t = {t:.2f}: z = {1 - t:.2f} μ(A) + {t:.2f} μ(B); "
                              f"distance from μ(A) {torch.linalg.norm(self.z - mu_a).item():.2f}")

    def static_png(self, steps=8):
        """Image A, the decodings at `steps` evenly spaced t, image B; each labelled."""
        mu_a, mu_b = self.means()
        t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
        decoded = _decode(self.model, (1 - t) * mu_a + t * mu_b)  # (steps, C, H, W)
        a, b = self.first.value, self.second.value
        images = torch.cat([self.images[[a]], decoded, self.images[[b]]])
        labels = ["A", *(f"t={v:.2f}" for v in t.squeeze(1).tolist()), "B"]
        title = f"interpolation: z = (1 − t) μ(A) + t μ(B); A = test image {a}, B = test image {b}"
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


# ------------------------------------------- notebook 11: the conditional VAE and a drawn digit
#
#     conditional_explorer(model, data)   pick a class, move the style sliders; one test image
#                                         decoded as every class (style transfer across digits)
#     drawing_explorer(model, data)       draw on a canvas; each stroke shows q(z|x) on the
#                                         2-D latent map, the reconstruction and the ELBO

import time  # noqa: E402  (this block's own imports)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from PIL import ImageDraw  # noqa: E402

from .data import ImageData  # noqa: E402

FASHION_NAMES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def class_names(data, num_classes=10):
    """What to call each class: the clothes of Fashion-MNIST, else the class number."""
    if getattr(data, "name", None) == "fashion-mnist" and num_classes == len(FASHION_NAMES):
        return list(FASHION_NAMES)
    return [str(c) for c in range(num_classes)]


def _labelled_images(data, what):
    """The test images of an ImageData and their labels (the training set's if there is no test set)."""
    if not isinstance(data, ImageData):
        raise TypeError(f"{what} needs an ImageData (from load_dataset), got {type(data).__name__}")
    images, labels = (data.test, data.test_labels) if data.test is not None else (data.train, data.train_labels)
    if labels is None:
        raise ValueError(f"{what} needs labelled images; this ImageData has no labels "
                         "(pass test_labels to ImageData.from_arrays)")
    return images, labels


def _is_conditional(model):
    return getattr(model, "num_classes", None) is not None


@torch.inference_mode()
def conditional_codes(model, images, labels, batch_size=1000):
    """(mu, logvar) of q(z|x,y) for every image with its label, in batches on the model's device."""
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        mu, logvar = model.encode(images[start:start + batch_size].to(model.device),
                                  labels[start:start + batch_size].to(model.device))
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


class ConditionalExplorer(Explorer):
    """A class picker and style sliders decoding p(x|z,y); below, one test image decoded as every class."""

    def __init__(self, model, data, image=0, max_sliders=6, limit=3.0, step=0.05, images_for_kl=2000):
        if not _is_conditional(model):
            raise TypeError(f"conditional_explorer needs a ConditionalVAE, got a {type(model).__name__}; "
                            "for an unconditional VAE use latent_explorer")
        self.model = model.eval()
        self.images, self.labels = _labelled_images(data, "conditional_explorer")
        self.names = class_names(data, model.num_classes)
        self.step = step
        # about 140 px for the picture and 84 px for each small one (5 and 3 times 28 pixels)
        self.scale, self.small_scale = max(1, 140 // max(model.image_shape[1:])), max(1, 84 // max(model.image_shape[1:]))
        mu, logvar = conditional_codes(model, self.images[:images_for_kl], self.labels[:images_for_kl])
        self.kl = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)).mean(dim=0)  # KL per dimension, nats
        self.dims = [int(d) for d in torch.argsort(self.kl, descending=True)[:max_sliders]]
        self.z = torch.zeros(model.latent_dim)
        self.label = widgets.ToggleButtons(
            options=[(name, c) for c, name in enumerate(self.names)], value=int(self.labels[image]),
            description="draw class", style={"button_width": "64px" if len(max(self.names, key=len)) > 2 else "36px"})
        self.sliders = [_slider(f"z[{d}] ({self.kl[d]:.1f})", 0.0, -limit, limit, step) for d in self.dims]
        self.index = widgets.BoundedIntText(value=image, min=0, max=len(self.images) - 1, description="test image",
                                            layout=widgets.Layout(width="180px"))
        self.next_button = widgets.Button(description="another test image", layout=widgets.Layout(width="160px"))
        self.next_button.on_click(lambda _: setattr(self.index, "value", (self.index.value + 1) % len(self.images)))
        self.picture, self.original = widgets.Image(format="png"), widgets.Image(format="png")
        self.caption, self.transfer_caption = widgets.Label(), widgets.Label()
        self.transfers = [widgets.Image(format="png") for _ in self.names]
        # stable names for the browser test (tests/test_browser.py)
        self.label.add_class("vae-lite-class-picker")
        self.picture.add_class("vae-lite-conditional-picture")
        self.caption.add_class("vae-lite-conditional-caption")
        sliders = widgets.VBox([widgets.HTML("<b>style: latent dimension (its KL in nats)</b>; the others "
                                             "stay at the test image's code"), *self.sliders])
        row = widgets.HBox([widgets.VBox([widgets.Label("test image"), self.original],
                                         layout=widgets.Layout(margin="0 16px 0 0"))]
                           + [widgets.VBox([widgets.Label(f"as {name}"), picture])
                              for name, picture in zip(self.names, self.transfers)])
        super().__init__([self.label, widgets.HBox([sliders, widgets.VBox([self.picture, self.caption])]),
                          widgets.HBox([self.index, self.next_button]), self.transfer_caption, row])
        self._quiet = False
        self.last_moved = None
        for d, slider in zip(self.dims, self.sliders):
            slider.observe(lambda change, d=d: self.update(d), names="value")
        self.label.observe(lambda change: self.update(), names="value")
        self.index.observe(lambda change: self.show_image(change["new"]), names="value")
        self.show_image(image)

    def decode(self, z, y):
        with torch.inference_mode():
            return self.model.decode(z.to(self.model.device), torch.as_tensor(y))[:, 0].float().cpu()

    def show_image(self, index):
        """Take the style of test image `index`: z = mu(x, its label); decode it as every class."""
        x, y = self.images[index:index + 1], self.labels[index:index + 1]
        mu, _ = conditional_codes(self.model, x, y)
        self.start, self.true_label = mu[0], int(y)
        classes = torch.arange(self.model.num_classes)
        self.transferred = self.decode(self.start.expand(len(classes), -1), classes)
        self.original.value = png_bytes(x[0, 0], self.small_scale)
        for picture, decoded in zip(self.transfers, self.transferred):
            picture.value = png_bytes(decoded, self.small_scale)
        self.transfer_caption.value = (f"test image {index}, a {self.names[self.true_label]}, encoded with its label; "
                                       "its code decoded as every class:")
        self.z = self.start.clone()
        self.last_moved = None
        self._quiet = True  # one redraw for all the sliders, not one per slider
        for d, slider in zip(self.dims, self.sliders):
            slider.value = round(float(self.start[d].clamp(slider.min, slider.max)) / self.step) * self.step
        self._quiet = False
        self.update()

    def update(self, moved=None):
        """Read the class and the sliders, decode, show the picture and a caption written by the kernel."""
        if self._quiet:
            return
        for d, slider in zip(self.dims, self.sliders):
            self.z[d] = slider.value
        if moved is not None:
            self.last_moved = moved
        self.decoded = self.decode(self.z.unsqueeze(0), [self.label.value])[0]
        self.picture.value = png_bytes(self.decoded, self.scale)
        where = (f"z[{self.last_moved}] = {self.z[self.last_moved].item():.2f}" if self.last_moved is not None
                 else f"the style of test image {self.index.value}")
        self.caption.value = f"class {self.names[self.label.value]}, {where}; mean ink {self.decoded.mean().item():.3f}"

    def static_png(self):
        """The test image and its code decoded as every class, labelled."""
        images = torch.cat([self.images[self.index.value:self.index.value + 1], self.transferred.unsqueeze(1)])
        labels = ["test\nimage", *(f"as\n{name}" for name in self.names)]
        return figure_png(_images_figure, images, len(images), labels, [""],
                          f"test image {self.index.value} (a {self.names[self.true_label]}) decoded as every class",
                          height=2.4, layout="constrained")


def conditional_explorer(model, data, image=0, max_sliders=6):
    """Pick a class and move style sliders: a ConditionalVAE decodes z as that class.

    data: an ImageData with labels. The sliders start at the code mu(x, y) of test image `image`
    (one slider for each of the `max_sliders` dimensions with the largest KL); below, that code
    is decoded as every class: the same style, another digit.
    """
    return ConditionalExplorer(model, data, image=image, max_sliders=max_sliders)


# ------------------------------------------------------------------------ the drawn digit


def typical_extent(images, threshold=0.2):
    """Median over images of the longer side of the inked box, as a fraction of the image side
    (about 20/28 for MNIST, whose digits were scaled into a 20 x 20 box)."""
    images = torch.as_tensor(images)[:, 0]
    ink = images > threshold * images.amax(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    rows, cols = ink.any(dim=2).float(), ink.any(dim=1).float()
    index_h, index_w = torch.arange(images.shape[1]), torch.arange(images.shape[2])
    height = (rows * index_h).amax(1) - torch.where(rows > 0, index_h, images.shape[1]).amin(1) + 1
    width = (cols * index_w).amax(1) - torch.where(cols > 0, index_w, images.shape[2]).amin(1) + 1
    return float((torch.maximum(height, width).float() / min(images.shape[1:])).median())


def centred_like_data(ink, shape, extent):
    """Canvas ink (S x S, values 0..1) as a model input of `shape` (H, W), prepared as MNIST was:
    cropped to the drawing, scaled (keeping its aspect) so its longer side spans `extent` of the
    image, averaged over the canvas pixels each image pixel covers (grey edges, as in the data),
    and placed with its centre of mass at the centre."""
    h, w = shape
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    if len(rows) == 0:
        return np.zeros(shape, np.float32)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    factor = extent * min(h, w) / max(crop.shape)
    size = (max(1, min(w, round(crop.shape[1] * factor))), max(1, min(h, round(crop.shape[0] * factor))))
    small = PILImage.fromarray(np.round(255 * crop).astype(np.uint8)).resize(size, PILImage.BOX)
    small = np.asarray(small, np.float32) / 255  # (h', w')
    weights = small.sum()
    centre_y = (small.sum(axis=1) * (np.arange(small.shape[0]) + 0.5)).sum() / weights
    centre_x = (small.sum(axis=0) * (np.arange(small.shape[1]) + 0.5)).sum() / weights
    top = int(np.clip(round(h / 2 - centre_y), 0, h - small.shape[0]))
    left = int(np.clip(round(w / 2 - centre_x), 0, w - small.shape[1]))
    out = np.zeros(shape, np.float32)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


class DrawingExplorer(Explorer):
    """Draw on a canvas; at the end of each stroke the kernel encodes the drawing and shows
    q(z|x) as an ellipse (mean, +-2 sigma) on the map of the test set's codes, the
    reconstruction, and how the drawing's ELBO compares with the test images'."""

    def __init__(self, model, data, canvas_size=280, pen_width=None, samples=8, images_for_elbo=2000,
                 map_figsize=(5.0, 4.6)):
        try:
            from ipycanvas import Canvas, MultiCanvas
        except ImportError:
            raise ImportError("drawing_explorer needs ipycanvas: pip install ipycanvas") from None
        if _is_conditional(model):
            raise TypeError("drawing_explorer maps q(z|x) of an unconditional VAE; a ConditionalVAE would "
                            "also need the drawing's label. Use a VAE with latent_dim=2")
        if model.latent_dim != 2:
            raise ValueError(f"drawing_explorer draws q(z|x) on a 2-D map, so it needs a model with latent_dim=2, "
                             f"got {model.latent_dim}; train one with VAE(data.image_shape, latent_dim=2)")
        if model.image_shape[0] != 1:
            raise ValueError(f"drawing_explorer draws grey-scale images, got {model.image_shape[0]} channels")
        self.model = model.eval()
        self.images, self.labels = _labelled_images(data, "drawing_explorer")
        self.names = class_names(data, int(self.labels.max()) + 1)
        self.shape = tuple(model.image_shape[1:])
        self.size = canvas_size
        self.pen = pen_width or round(canvas_size * max(0.08, 1.5 / min(self.shape)))
        self.scale = max(2, 112 // max(self.shape))  # the small pictures: 112 px or more
        self.extent = typical_extent(self.images[:1000])
        # the same standard-normal draws for every image (common random numbers), so that the
        # drawing and the test images are scored by one and the same estimator
        self.eps = torch.randn(samples, 1, 2, generator=torch.Generator().manual_seed(0))
        self.test_means, _ = encoder_means_and_logvars(model, self.images)
        scored = self.images[:images_for_elbo]
        # 100 images (x `samples` decodes) at a time: a conv decoder's feature maps for 500 x 8 decodes take 0.3 GB
        self.test_elbos = torch.cat([self.elbo(scored[s:s + 100]) for s in range(0, len(scored), 100)])
        self._draw_map_background(map_figsize)

        self.canvas = Canvas(width=canvas_size, height=canvas_size, layout=widgets.Layout(
            width=f"{canvas_size}px", height=f"{canvas_size}px", border="1px solid #777"))
        self.canvas.stroke_style, self.canvas.fill_style = "black", "black"
        self.canvas.line_width, self.canvas.line_cap, self.canvas.line_join = self.pen, "round", "round"
        self.clear_button = widgets.Button(description="clear", layout=widgets.Layout(width="80px"))
        self.test_button = widgets.Button(description="use a test image", layout=widgets.Layout(width="150px"))
        height, width, _ = self.background.shape
        self.map = MultiCanvas(2, width=width, height=height,
                               layout=widgets.Layout(width=f"{width}px", height=f"{height}px"))
        self._paint_map()
        self.map.on_client_ready(self._paint_map)
        self.input_image, self.reconstruction_image = widgets.Image(format="png"), widgets.Image(format="png")
        self.readout = widgets.HTML()
        for widget, name in ((self.canvas, "drawing"), (self.map, "latent-map"), (self.readout, "readout"),
                             (self.reconstruction_image, "reconstruction")):
            widget.add_class(f"vae-lite-{name}")  # stable names for the browser test (tests/test_browser.py)
        self.clear_button.on_click(lambda _: self.clear())
        self.test_button.on_click(lambda _: self.use_test_image())
        small = lambda title, image: widgets.VBox([widgets.Label(title), image], layout=widgets.Layout(margin="0 12px 0 0"))
        left = widgets.VBox([widgets.Label("draw here (mouse, touchpad or finger)"), self.canvas,
                             widgets.HBox([self.clear_button, self.test_button])])
        right = widgets.VBox([widgets.HBox([small("what the model sees", self.input_image),
                                            small("reconstruction", self.reconstruction_image)]), self.readout])
        # on a narrow screen the pictures and the readout move under the canvas and the map
        super().__init__([widgets.HBox([left, self.map, right], layout=widgets.Layout(flex_flow="row wrap"))])
        for event, handler in ((self.canvas.on_mouse_down, self.pen_down), (self.canvas.on_mouse_move, self.pen_move),
                               (self.canvas.on_mouse_up, self.pen_up), (self.canvas.on_mouse_out, self.pen_up)):
            event(handler)
        self.canvas.on_touch_start(lambda touches: touches and self.pen_down(*touches[0]))
        self.canvas.on_touch_move(lambda touches: touches and self.pen_move(*touches[0]))
        self.canvas.on_touch_end(lambda touches: self.pen_up(*self._last))
        self.canvas.on_touch_cancel(lambda touches: self.pen_up(*self._last))
        self.canvas.on_client_ready(self._paint_canvas)  # a page reload shows a blank canvas: paint the ink again
        self.test_index = -1
        self.update_ms = None
        self.clear()

    # -- the model's side

    def elbo(self, x):
        """ELBO of each image in nats: E_q[log p(x|z)] with the fixed draws eps, minus the KL (closed form).

        For a grey image x (a drawing, a grey test image) a Bernoulli decoder gives no probability:
        log p(x|z) is then the mean of log p(b|z) over binary images b ~ Bernoulli(x), so this is a
        lower bound on E_b[log p(b)], the mean log-probability of x's binarizations."""
        with torch.inference_mode():
            x = x.to(self.model.device)
            mu, logvar = self.model.encode(x)
            z = mu + (0.5 * logvar).exp() * self.eps.to(mu.device)  # (samples, N, 2)
            reconstruction = self.model.log_likelihood(x, z).mean(dim=0)
            return (reconstruction - 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)).cpu()

    def model_input(self):
        """The image the model is given: the test image as it is, or the drawing prepared as the data were."""
        if self._test_image is not None:
            return self._test_image.reshape(1, 1, *self.shape)
        pixels = centred_like_data(np.asarray(self.ink, np.float32) / 255, self.shape, self.extent)
        return torch.from_numpy(pixels).reshape(1, 1, *self.shape)

    def update(self):
        """Encode the drawing; redraw the ellipse, the pictures and the readout (all in the kernel)."""
        start = time.perf_counter()
        self.x = self.model_input()
        with torch.inference_mode():
            mu, logvar = self.model.encode(self.x.to(self.model.device))
            self.mu, self.sigma = mu[0].cpu(), (0.5 * logvar[0]).exp().cpu()
            self.reconstruction = self.model.decode(mu)[0, 0].float().cpu()
        self.drawing_elbo = float(self.elbo(self.x)[0])
        self.fraction_below = float((self.test_elbos < self.drawing_elbo).float().mean())
        self._draw_ellipse()
        self.input_image.value = png_bytes(self.x[0, 0], self.scale)
        self.reconstruction_image.value = png_bytes(self.reconstruction, self.scale)
        median = self.test_elbos.median().item()
        self.readout.value = (
            f"<b>q(z|x)</b>: μ = ({self.mu[0]:.2f}, {self.mu[1]:.2f}), σ = ({self.sigma[0]:.2f}, {self.sigma[1]:.2f})"
            f"<br><b>ELBO</b> = {self.drawing_elbo:.1f} nats (test images: median {median:.1f})"
            f"<br>{100 * self.fraction_below:.1f} % of {len(self.test_elbos)} test images score lower"
            + ("<br>(μ lies off the map)" if not self.on_map() else ""))
        self.update_ms = 1000 * (time.perf_counter() - start)

    def on_map(self):
        (x_low, x_high), (y_low, y_high) = self.limits
        return bool(x_low <= self.mu[0] <= x_high and y_low <= self.mu[1] <= y_high)

    def _draw_map_background(self, figsize):
        """The map of the test set's encoder means, drawn once with matplotlib; updates draw only the ellipse."""
        from . import plots

        means = self.test_means
        low = torch.quantile(means, 0.002, dim=0).clamp(max=-3.0) - 0.3
        high = torch.quantile(means, 0.998, dim=0).clamp(min=3.0) + 0.3
        self.limits = ((low[0].item(), high[0].item()), (low[1].item(), high[1].item()))
        with mpl.rc_context(STYLE):  # the projector style, whatever the notebook has set
            figure = Figure(figsize=figsize, dpi=100)
            FigureCanvasAgg(figure)
            ax = figure.add_subplot()
            plots.latent_scatter(means, self.labels, names=self.names, ax=ax, limits=self.limits,
                             title="q(z|x) on the test set's encoder means")
            figure.tight_layout()
            figure.canvas.draw()
        self.background = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3) uint8
        # data -> canvas pixels (y down); the axes are linear, so two points fix the map
        height = self.background.shape[0]
        (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
        self._pixels = lambda u, v: (x0 + (x1 - x0) * u, height - (y0 + (y1 - y0) * v))
        self._pixels_per_unit = (x1 - x0, y1 - y0)
        left, top = self._pixels(self.limits[0][0], self.limits[1][1])
        right, bottom = self._pixels(self.limits[0][1], self.limits[1][0])
        self._axes_box = (left, top, right - left, bottom - top)

    def _paint_map(self):
        """Layer 0 of the map canvas: the matplotlib picture of the codes (again after a page reload)."""
        self.map[0].put_image_data(self.background, 0, 0)

    def _draw_ellipse(self):
        """Layer 1 of the map canvas: the +-2 sigma ellipse of q(z|x) and a cross at its mean.

        A few canvas commands, drawn by the browser: much faster than a new PNG of the whole map."""
        from ipycanvas import hold_canvas

        layer = self.map[1]
        with hold_canvas():
            layer.clear()
            if self.x is None:
                self.ellipse = None
                return
            cx, cy = self._pixels(*self.mu.tolist())
            rx = max(3.0, 2 * self.sigma[0].item() * self._pixels_per_unit[0])
            ry = max(3.0, 2 * self.sigma[1].item() * self._pixels_per_unit[1])
            self.ellipse = (cx, cy, rx, ry)
            layer.save()
            layer.begin_path()
            layer.rect(*self._axes_box)
            layer.clip()  # an ellipse near the edge stays inside the axes
            for colour, width in (("white", 7), ("black", 3)):
                layer.stroke_style, layer.line_width = colour, width
                layer.begin_path()
                layer.ellipse(cx, cy, rx, ry, 0, 0, 2 * math.pi)
                layer.stroke()
                layer.stroke_line(cx - 8, cy, cx + 8, cy)
                layer.stroke_line(cx, cy - 8, cx, cy + 8)
            layer.restore()

    # -- the canvas's side

    def pen_down(self, x, y):
        self._drawing, self._last, self._test_image = True, (x, y), None
        r = self.pen / 2
        self.canvas.fill_circle(x, y, r)
        self._ink_draw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def pen_move(self, x, y):
        if not self._drawing:
            return
        self.canvas.stroke_line(*self._last, x, y)
        r = self.pen / 2
        self._ink_draw.line((*self._last, x, y), fill=255, width=self.pen)
        self._ink_draw.ellipse((x - r, y - r, x + r, y + r), fill=255)  # a round joint, as the canvas draws it
        self._last = (x, y)

    def pen_up(self, x=None, y=None):
        """The end of a stroke: mouse up, the mouse leaving the canvas, or the finger lifted."""
        if not self._drawing:
            return
        self._drawing = False
        self.strokes += 1
        self.update()

    def draw_stroke(self, points):
        """Draw one stroke through canvas points [(x, y), ...], as the mouse would (tests, notebooks)."""
        self.pen_down(*points[0])
        for point in points[1:]:
            self.pen_move(*point)
        self.pen_up(*points[-1])

    def clear(self):
        self.ink = PILImage.new("L", (self.size, self.size), 0)
        self._ink_draw = ImageDraw.Draw(self.ink)
        self._drawing, self._last, self._test_image = False, (0, 0), None
        self.strokes, self.x = 0, None
        self._paint_canvas()
        self._draw_ellipse()
        blank = png_bytes(np.zeros(self.shape), self.scale)
        self.input_image.value = self.reconstruction_image.value = blank
        self.readout.value = "Draw a digit: each stroke is encoded when you lift the pen."

    def use_test_image(self, index=None):
        """Put the next test image (or test image `index`) on the canvas and encode it as it is."""
        self.test_index = (self.test_index + 1) % len(self.images) if index is None else index
        image = self.images[self.test_index, 0]
        self.ink = PILImage.fromarray(np.round(255 * image.numpy()).astype(np.uint8)).resize(
            (self.size, self.size), PILImage.BILINEAR)
        self._ink_draw = ImageDraw.Draw(self.ink)
        self._paint_canvas()
        self._test_image = image
        self.update()

    def _paint_canvas(self):
        """Show the kernel's copy of the ink on the canvas: black on white."""
        grey = 255 - np.asarray(self.ink, np.uint8)
        self.canvas.put_image_data(np.repeat(grey[:, :, None], 3, axis=2), 0, 0)

    def static_png(self):
        """What the model sees, q(z|x) on the map, and the reconstruction, labelled."""
        return figure_png(self._draw_still, height=4.4, layout="constrained")

    def _draw_still(self, figure):
        from . import plots

        grid = figure.add_gridspec(1, 3, width_ratios=[1, 2.2, 1])
        ax_in, ax_map, ax_out = (figure.add_subplot(grid[0, i]) for i in range(3))
        plots.latent_scatter(self.test_means, self.labels, names=self.names, ax=ax_map, limits=self.limits,
                         title="q(z|x) on the test set's codes")
        blank = np.zeros(self.shape)
        ax_in.imshow(self.x[0, 0].numpy() if self.x is not None else blank, cmap="gray_r", vmin=0, vmax=1)
        ax_out.imshow(self.reconstruction.numpy() if self.x is not None else blank, cmap="gray_r", vmin=0, vmax=1)
        ax_in.set_title("what the model sees")
        ax_out.set_title("reconstruction")
        for ax in (ax_in, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
        if self.x is not None:
            ax_map.add_patch(Ellipse(self.mu.tolist(), 4 * self.sigma[0].item(), 4 * self.sigma[1].item(),
                                     fill=False, color="black", lw=2.5))
            ax_map.plot(*self.mu.tolist(), marker="+", color="black", markersize=14, mew=2.5)
            figure.suptitle(f"the drawing's ELBO: {self.drawing_elbo:.1f} nats; {100 * self.fraction_below:.0f} % of "
                            f"the {len(self.test_elbos)} test images score lower")


def drawing_explorer(model, data, canvas_size=280):
    """Draw a digit with the mouse, a touchpad or a finger; each stroke is encoded live.

    model: a VAE with latent_dim=2; data: an ImageData with labels, whose test images make
    the map (their encoder means, coloured by label) and the ELBOs the drawing is compared
    with. Needs ipycanvas. Buttons: clear, and use a test image instead of a drawing.
    """
    return DrawingExplorer(model, data, canvas_size=canvas_size)
