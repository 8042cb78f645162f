"""The explorers of notebooks 03 to 07: move a slider, watch the model answer, in the page.

    LatentExplorer(model, data)                one slider per latent dimension, decoded live
    InterpolationExplorer(model, data)         a straight line between two encoded test images
    KLExplorer()                               KL(N(mu, sigma^2) || N(0, 1)): closed form and Monte Carlo
    ReparameterizationExplorer()               z = mu + sigma * eps, and two estimates of one gradient

Each explorer is an anywidget whose page side (explorers.js, with networks.js) draws everything
itself: the decoder runs in the page from weights stored once per notebook (a Network widget,
8 bits a weight), and the closed-form explorers compute their formulas there. Nothing waits for a kernel,
so the explorers move in JupyterLab and on the static site (make site) alike. The kernel keeps
the slider values (`values`, `t`, `mu`, ...), and computes the same pictures and numbers with the
package (`decoded`, `compute`), which is how the tests check the page. Each explorer also offers a
labelled PNG still of itself, which viewers without widgets (GitHub, nbviewer) show.

The maths they show lives with the maths: vae_lite.latent (KL per dimension, encoder means),
vae_lite.gradients (the two estimators) and vae_lite.objectives (the closed-form KL).
"""

import base64
import copy
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
from torch import nn

from .gradients import pathwise_gradients, score_function_gradients
from .latent import encoder_means_and_logvars, images_of, kl_per_dimension
from .models import _ImageModel
from .networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .objectives import kl_standard_normal, log_normal
from .plots import PROJECTOR_STYLE, image_grid
from .variants import ConditionalVAE

# ~1000 px wide at 100 dpi with text of 12 pt or more, in the colour-blind-safe petroff10 palette,
# whatever style the notebook has set
STYLE = {**mpl.style.library["petroff10"], **PROJECTOR_STYLE}
BLUE, ORANGE = STYLE["axes.prop_cycle"].by_key()["color"][:2]
HERE = Path(__file__).parent
# one ES module for anywidget: the networks, then the explorers that use them
ESM = (HERE / "networks.js").read_text() + "\n" + (HERE / "explorers.js").read_text()

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


def png_data_url(pixels):
    """RGB pixels (H, W, 3) uint8 as a PNG data: URL, for a picture the page shows as it is."""
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_png(draw, *args, height=4.0, layout=None):
    """PNG bytes of a 10 x `height` inch figure (1000 px wide) that draw(figure, *args) fills.

    layout="constrained" fits the margins to the labels (the stills are drawn once)."""
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(10, height), layout=layout)
        draw(figure, *args)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def images_figure(figure, images, ncols, column_labels, row_labels, title, xlabel=None):
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


def decode(model, z, *labels):
    """The decoder's mean images (..., C, H, W) for z (..., latent_dim), on the CPU."""
    with torch.inference_mode():
        return model.decode(z.to(model.device), *labels).float().cpu()


def as_bytes(tensor, dtype=torch.float32):
    return tensor.detach().to(dtype).cpu().contiguous().numpy().tobytes()


def image_bytes(images):
    """Images in [0, 1] as uint8 bytes: a test image as the page stores it (one byte a pixel)."""
    return as_bytes(torch.round(255 * images.clamp(0, 1)), torch.uint8)


def stored_image(images):
    """The images as the page sees them, from image_bytes."""
    return torch.round(255 * images.clamp(0, 1)) / 255


def check_decodes_in_page(model, what):
    """The page decodes x = sigmoid(decoder(z)) (with the one-hot label after z for a ConditionalVAE)."""
    if type(model).decode not in (_ImageModel.decode, ConditionalVAE.decode):
        raise TypeError(f"{what} decodes in the page models whose decode is sigmoid(decoder(z)) (VAE, "
                        f"ConditionalVAE); {type(model).__name__} decodes otherwise")


# ------------------------------------------------------------ networks, stored once per page


def quantized(weight):
    """A weight tensor in 8 bits, row by row (the first dimension): w ~ q * scale with integers
    q in [-127, 127] and scale = max |w| / 127 of the row. Returns (q int8, scale float32)."""
    rows = weight.detach().float().cpu().reshape(len(weight), -1)
    scale = (rows.abs().amax(dim=1) / 127).clamp_min(torch.finfo(torch.float32).tiny)
    return torch.round(rows / scale[:, None]).to(torch.int8).reshape(weight.shape), scale


def network_layers(module):
    """A network of vae_lite.networks as a list of layers for networks.js: linear (W, b), conv2d and
    conv_transpose2d (W, b, stride, padding), relu, tanh and reshape. Each W travels in 8 bits with
    a scale per row (quantized: a quarter of float32, so that a notebook with three networks stays
    under 2 MB); b in float32.
    """
    def weights(layer):
        q, scale = quantized(layer.weight)
        return {"weight": as_bytes(q, torch.int8), "scale": as_bytes(scale), "bias": as_bytes(layer.bias),
                "shape": list(layer.weight.shape)}

    def conv(layer, op, **extra):
        return {"op": op, **weights(layer), "stride": layer.stride[0], "padding": layer.padding[0], **extra}

    if isinstance(module, (MLPEncoder, nn.Sequential)):
        return [layer for child in (module.net if isinstance(module, MLPEncoder) else module)
                for layer in network_layers(child)]
    if isinstance(module, MLPDecoder):
        return network_layers(module.net) + [{"op": "reshape", "shape": list(module.image_shape)}]
    if isinstance(module, ConvEncoder):
        return network_layers(module.convs) + network_layers(module.head)
    if isinstance(module, ConvDecoder):
        return (network_layers(module.head) + [{"op": "reshape", "shape": list(module.feature_shape)}]
                + [conv(module.up1, "conv_transpose2d", output_size=list(module.half_size)), {"op": "relu"},
                   conv(module.up2, "conv_transpose2d", output_size=list(module.image_shape[1:]))])
    if isinstance(module, nn.Linear):
        return [{"op": "linear", **weights(module)}]
    if isinstance(module, nn.Conv2d):
        return [conv(module, "conv2d")]
    if isinstance(module, (nn.ReLU, nn.Tanh)):
        return [{"op": type(module).__name__.lower()}]
    raise TypeError(f"the page cannot run a {type(module).__name__} (networks.js knows Linear, Conv2d, "
                    "ConvTranspose2d in vae_lite's ConvDecoder, ReLU and Tanh)")


def page_weights(module):
    """A copy of the module with the weights the page runs: each W as its 8-bit q * scale (quantized)."""
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        for layer in rounded.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                q, scale = quantized(layer.weight)
                shape = (-1,) + (1,) * (q.ndim - 1)
                layer.weight.copy_(q.float() * scale.reshape(shape))
    return rounded


def page_model(model):
    """A copy of the model whose encoder and decoder have the page's weights (page_weights)."""
    copied = copy.deepcopy(model)
    copied.encoder, copied.decoder = page_weights(model.encoder), page_weights(model.decoder)
    return copied.eval()


class Network(widgets.Widget):
    """A network's layers (network_layers), stored once in the page for every explorer that runs it."""

    layers = traitlets.List().tag(sync=True)


_networks = {}  # id(module) -> (module, Network): one Network per module and weights


def stored_network(module):
    """The Network widget of `module`: the one made before if its weights are the same, else a new one."""
    layers = network_layers(module)
    known = _networks.get(id(module))
    if known is not None and known[0] is module and known[1].comm is not None and known[1].layers == layers:
        return known[1]
    network = Network(layers=layers)
    _networks[id(module)] = (module, network)
    return network


class Explorer(anywidget.AnyWidget):
    """An explorer drawn in the page by explorers.js (`kind` says which); also a PNG of its state.

    Jupyter shows the live widget; a viewer without widget state (GitHub, nbviewer) falls back to
    the PNG stored next to it in the same output.
    """

    _esm = ESM
    kind = traitlets.Unicode().tag(sync=True)

    def static_png(self):
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:  # the widget was closed
            return None
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        bundle["text/plain"] = f"{type(self).__name__} (run the notebook, or open the course's site, to use it)"
        bundle["image/png"] = base64.b64encode(self.static_png()).decode("ascii")
        return bundle


def with_sliders(start, dims, values):
    """The latent vector the sliders set: `start`, with each slider's value in its dimension."""
    z = start.clone()
    z[dims] = torch.tensor(values, dtype=z.dtype)
    return z


def on_grid(value, step, limit):
    """value clipped to [-limit, limit] and put on the slider's grid (the page would snap it there)."""
    return round(max(-limit, min(limit, float(value))) / step) * step


# ------------------------------------------------------------------ latent explorer


class LatentExplorer(Explorer):
    """Sliders for the latent dimensions of `model` that matter most; the page decodes at every move.

    data: an ImageData or image tensor; its test images rank the dimensions by KL (largest
    first) so the sliders that change the picture come first. start: an image whose encoder
    mean sets the starting z (default: z = 0, the prior's mean). At most `max_sliders`
    dimensions get a slider, from -limit to limit in steps of `step`; the rest stay fixed.
    `values` holds the sliders' values (set it to move them); `z` and `decoded` follow.
    """

    decoder = traitlets.Instance(Network).tag(sync=True, **widgets.widget_serialization)
    start_z = traitlets.List(traitlets.Float()).tag(sync=True)  # the page's copy of `start`
    dims = traitlets.List(traitlets.Int()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    values = traitlets.List(traitlets.Float()).tag(sync=True)
    reset_values = traitlets.List(traitlets.Float()).tag(sync=True)
    limit = traitlets.Float(3.0).tag(sync=True)
    step = traitlets.Float(0.05).tag(sync=True)
    image_size = traitlets.List(traitlets.Int()).tag(sync=True)  # [height, width]
    scale = traitlets.Int(5).tag(sync=True)  # screen pixels per image pixel
    heading = traitlets.Unicode().tag(sync=True)

    def __init__(self, model, data=None, start=None, max_sliders=10, limit=3.0, step=0.05, scale=5,
                 images_for_kl=2000):
        check_decodes_in_page(model, "LatentExplorer")
        self.model = model.eval()
        if data is not None:
            self.kl = kl_per_dimension(model, images_of(data, images_for_kl))
            order = torch.argsort(self.kl, descending=True)
        else:  # no data to measure KL on: keep the natural order
            self.kl, order = None, torch.arange(model.latent_dim)
        dims = [int(d) for d in order[:max_sliders]]
        if start is None:
            z0 = torch.zeros(model.latent_dim)  # the prior's mean
        else:
            z0 = encoder_means_and_logvars(model, torch.as_tensor(start).reshape(1, *model.image_shape))[0][0]
        self.start_name = "the encoding of the start image" if start is not None else "0"
        labels = [f"z[{d}]" + (f" ({self.kl[d]:.1f})" if self.kl is not None else "") for d in dims]
        # on the slider's grid: otherwise the page snaps the value and the kernel's z is not the page's
        values = [on_grid(z0[d], step, limit) for d in dims]
        hidden = model.latent_dim - len(dims)
        heading = ("latent dimension (its KL in nats)" if self.kl is not None else "latent dimension") + (
            f"; the other {hidden} stay at {self.start_name}" if hidden else "")
        super().__init__(kind="latent", decoder=stored_network(model.decoder), start_z=z0.tolist(), dims=dims,
                         labels=labels, values=values, reset_values=values, limit=limit, step=step,
                         image_size=list(model.image_shape[1:]), scale=scale, heading=heading)
        self.start = z0  # the starting z
        self.moved = False
        self.observe(lambda change: setattr(self, "moved", True), names="values")

    @property
    def z(self):
        return with_sliders(self.start, self.dims, self.values)

    @property
    def decoded(self):
        """The decoder's mean image (H, W) of z: what the page draws."""
        return decode(self.model, self.z.unsqueeze(0))[0, 0]

    def reset(self):
        self.values = list(self.reset_values)

    def static_png(self, values=(-2, -1, 0, 1, 2), rows=5):
        """What the first sliders do: one row per dimension, set to each of `values` in turn."""
        dims = self.dims[:rows]
        z = self.z.repeat(len(dims), len(values), 1)  # (rows, columns, latent_dim)
        for row, d in enumerate(dims):
            z[row, :, d] = torch.tensor(values, dtype=z.dtype)
        images = decode(self.model, z.flatten(0, 1))  # (rows * columns, C, H, W)
        others = self.model.latent_dim - 1
        title = f"latent explorer: each row sets one dimension to the value below;\nthe other {others} stay at " + (
            "the current slider values" if self.moved else self.start_name)
        # each row's own value before it was moved: the column nearest it is nearly the unmoved image
        rows_named = [f"z[{d}]\n(now {self.z[d].item():.1f})" for d in dims]
        return figure_png(images_figure, images, len(values), [f"{v:g}" for v in values], rows_named,
                          title, "value of the row's latent dimension", height=1.3 * len(dims) + 1.8, layout="constrained")


# ------------------------------------------------------------ interpolation explorer


class InterpolationExplorer(Explorer):
    """A slider t from 0 to 1 that decodes z = (1 - t) mu(A) + t mu(B) for test images A and B.

    data: an ImageData (its test images) or an image tensor; first, second: image numbers. The
    page can pick A and B among `bank` test images (first and second among them), whose encoder
    means the kernel stores beside them.
    """

    decoder = traitlets.Instance(Network).tag(sync=True, **widgets.widget_serialization)
    latent_dim = traitlets.Int().tag(sync=True)
    bank_indices = traitlets.List(traitlets.Int()).tag(sync=True)
    bank_images = traitlets.Bytes().tag(sync=True)  # uint8, (N, H, W)
    bank_means = traitlets.Bytes().tag(sync=True)  # float32, (N, latent_dim)
    first = traitlets.Int().tag(sync=True)
    second = traitlets.Int().tag(sync=True)
    t = traitlets.Float(0.0).tag(sync=True)
    step = traitlets.Float(0.05).tag(sync=True)
    image_size = traitlets.List(traitlets.Int()).tag(sync=True)
    scale = traitlets.Int(4).tag(sync=True)

    def __init__(self, model, data, first=0, second=1, scale=4, bank=20):
        check_decodes_in_page(model, "InterpolationExplorer")
        self.model = model.eval()
        self.images = images_of(data)
        for name, index in (("first", first), ("second", second)):
            if not 0 <= index < len(self.images):
                raise ValueError(f"{name}={index} is not a test image number: there are {len(self.images)}")
        indices = sorted({first, second, *range(min(bank, len(self.images)))})
        self.means = encoder_means_and_logvars(model, self.images[indices])[0]  # (N, d)
        super().__init__(kind="interpolation", decoder=stored_network(model.decoder), latent_dim=model.latent_dim,
                         bank_indices=indices, bank_images=image_bytes(self.images[indices, 0]),
                         bank_means=as_bytes(self.means), first=first, second=second,
                         image_size=list(model.image_shape[1:]), scale=scale)

    def mean(self, index):
        return self.means[self.bank_indices.index(index)]

    @property
    def z(self):
        return (1 - self.t) * self.mean(self.first) + self.t * self.mean(self.second)

    @property
    def decoded(self):
        return decode(self.model, self.z.unsqueeze(0))[0, 0]

    def static_png(self, steps=8):
        """Image A, the decodings at `steps` evenly spaced t, image B; each labelled."""
        mu_a, mu_b = self.mean(self.first), self.mean(self.second)
        t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
        decoded = decode(self.model, (1 - t) * mu_a + t * mu_b)  # (steps, C, H, W)
        a, b = self.first, self.second
        images = torch.cat([self.images[[a]], decoded, self.images[[b]]])
        labels = ["A", *(f"t={v:.2f}" for v in t.squeeze(1).tolist()), "B"]
        title = f"interpolation: z = (1 − t) μ(A) + t μ(B); A = test image {a}, B = test image {b}"
        return figure_png(images_figure, images, len(images), labels, [""], title, height=2.2, layout="constrained")


# ----------------------------------------------------------------------- KL explorer


def _normal_density(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class KLExplorer(Explorer):
    """Sliders for mu and sigma: the densities of q = N(mu, sigma^2) and p = N(0, 1), and
    KL(q || p) in closed form next to a Monte Carlo estimate from `samples` draws of q."""

    mu = traitlets.Float(1.0).tag(sync=True)
    sigma = traitlets.Float(0.5).tag(sync=True)
    eps = traitlets.Bytes().tag(sync=True)  # float32

    def __init__(self, mu=1.0, sigma=0.5, samples=2000, seed=0):
        # the same standard-normal draws for every slider position (common random numbers), so
        # the Monte Carlo estimate moves smoothly instead of jittering; float32, as the page has them
        eps = torch.randn(samples, generator=torch.Generator().manual_seed(seed))
        super().__init__(kind="kl", mu=mu, sigma=sigma, eps=as_bytes(eps))
        self.draws = eps.double()

    def compute(self, mu=None, sigma=None):
        """(closed form, Monte Carlo estimate, its standard error) of KL(N(mu, sigma^2) || N(0, 1))."""
        mu, sigma = self.mu if mu is None else mu, self.sigma if sigma is None else sigma
        as_tensor = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
        closed_form = kl_standard_normal(as_tensor(mu), as_tensor(2 * math.log(sigma))).item()
        z = (mu + sigma * self.draws).unsqueeze(-1)  # samples from q, (samples, 1)
        ratio = log_normal(z, as_tensor(mu), as_tensor(2 * math.log(sigma))) - log_normal(z, as_tensor(0.0), as_tensor(0.0))
        return closed_form, ratio.mean().item(), (ratio.std() / math.sqrt(len(ratio))).item()

    def draw(self, figure):
        mu, sigma = self.mu, self.sigma
        figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.89)
        ax = figure.add_subplot()
        x = np.linspace(-6, 6, 400)
        density = _normal_density(x, mu, sigma)
        ax.plot(x, _normal_density(x, 0, 1), color="gray", label="prior p(z) = N(0, 1)")
        ax.plot(x, density, color=BLUE, label="q(z) = N(μ, σ²)")
        ax.fill_between(x, density, color=BLUE, alpha=0.15)
        ax.set(xlabel="z", ylabel="density", xlim=(-6, 6), ylim=(0, max(0.45, 1.05 * density.max())))
        ax.legend(loc="upper left", frameon=False)
        closed_form, monte_carlo, error = self.compute()
        ax.set_title(f"q = N({mu:.2f}, {sigma:.2f}²):  KL(q || p) = {closed_form:.3f} nats "
                     f"(Monte Carlo {monte_carlo:.3f} ± {error:.3f} s.e.)")

    def static_png(self):
        return figure_png(self.draw)


# ----------------------------------------------------------- reparameterization explorer


def _square(z):
    return z**2


class ReparameterizationExplorer(Explorer):
    """Sliders for mu and sigma of q = N(mu, sigma^2): samples z = mu + sigma * eps with fixed
    eps, and the gradient of E_q[z^2] estimated by the pathwise (reparameterization) and the
    score-function estimator, next to the exact 2 mu and 2 sigma. "new eps" takes the next of
    `seeds` stored sets of `samples` draws (seed s: torch's generator seeded s)."""

    mu = traitlets.Float(1.0).tag(sync=True)
    sigma = traitlets.Float(0.5).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    samples = traitlets.Int(200).tag(sync=True)
    eps = traitlets.Bytes().tag(sync=True)  # float32, (seeds, samples)

    def __init__(self, mu=1.0, sigma=0.5, samples=200, seed=0, seeds=20):
        bank = torch.stack([torch.randn(samples, generator=torch.Generator().manual_seed(s)) for s in range(seeds)])
        super().__init__(kind="reparameterization", mu=mu, sigma=sigma, seed=seed, samples=samples, eps=as_bytes(bank))
        self.bank = bank.double()

    @property
    def draws(self):
        """The eps of the current seed."""
        return self.bank[self.seed % len(self.bank)]

    def resample(self):
        """The next stored set of standard-normal eps (the only randomness)."""
        self.seed += 1

    def compute(self, mu=None, sigma=None):
        """Exact gradient of E[z^2] = mu^2 + sigma^2, and both estimates with standard errors."""
        mu, sigma = self.mu if mu is None else mu, self.sigma if sigma is None else sigma
        mu_t, sigma_t = torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
        n = len(self.draws)
        results = {"exact": (2 * mu, 2 * sigma)}
        for name, estimator in (("pathwise", pathwise_gradients), ("score function", score_function_gradients)):
            d_mu, d_sigma = estimator(_square, mu_t, sigma_t, self.draws)
            results[name] = (d_mu.mean().item(), d_sigma.mean().item(),
                             d_mu.std().item() / math.sqrt(n), d_sigma.std().item() / math.sqrt(n))
        return results

    def draw(self, figure):
        mu, sigma, results = self.mu, self.sigma, self.compute()
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.89, wspace=0.2)
        ax_samples, ax_gradients = figure.subplots(1, 2, width_ratios=[3, 2])
        low, high = min(-3.0, mu - 5 * sigma), max(3.0, mu + 5 * sigma)  # the still shows q, not the slider's range
        bins = np.linspace(low, high, 57)
        x = np.linspace(low, high, 300)
        z = (mu + sigma * self.draws).numpy()
        ax_samples.hist(z, bins=bins, density=True, color=BLUE, alpha=0.4, label=f"{len(z)} samples z = μ + σ·ε")
        ax_samples.plot(x, _normal_density(x, mu, sigma), color=BLUE, label="N(μ, σ²)")
        ax_samples.set(xlabel="z", ylabel="density", xlim=(low, high), title=f"μ = {mu:.2f}, σ = {sigma:.2f} (ε seed {self.seed})")
        ax_samples.set_ylim(0, 1.3 * ax_samples.get_ylim()[1])  # room for the legend
        ax_samples.legend(loc="upper left", frameon=False)
        positions = np.arange(2)
        for offset, name, colour in ((-0.2, "pathwise", BLUE), (0.2, "score function", ORANGE)):
            d_mu, d_sigma, se_mu, se_sigma = results[name]
            ax_gradients.bar(positions + offset, [d_mu, d_sigma], width=0.38, color=colour, alpha=0.7, label=name,
                             yerr=[2 * se_mu, 2 * se_sigma], capsize=3)
        # one line across both bars of a pair: the value both estimates aim at
        ax_gradients.hlines(results["exact"], positions - 0.4, positions + 0.4, color="black", linewidth=2, label="exact")
        ax_gradients.set_xticks(positions, ["d/dμ", "d/dσ"])
        ax_gradients.set_ylabel("estimate")
        ax_gradients.set_title("gradient of E[z²] (±2 s.e.)")
        ax_gradients.axhline(0, color="gray", linewidth=0.8)
        ax_gradients.margins(y=0.3)
        ax_gradients.legend(frameon=False, loc="best")

    def static_png(self):
        return figure_png(self.draw)
