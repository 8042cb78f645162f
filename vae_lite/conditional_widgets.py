"""The explorers of notebook 11: the conditional VAE, and a digit drawn by the student.

    ConditionalExplorer(model, data)   pick a class, move the style sliders; one test image's code
                                       decoded as every class (style transfer across digits)
    DrawingExplorer(model, data)       draw on a canvas; each stroke shows q(z|x) on the 2-D latent
                                       map, the reconstruction and the ELBO

Both are drawn in the page by explorers.js, as the explorers of vae_lite.widgets are: the
ConditionalVAE's decoder, and the 2-latent VAE's encoder and decoder, run there from weights
stored once per notebook. The kernel keeps the state (the class, the slider values, the strokes)
and computes the same pictures and numbers with the package, for the notebook's own cells, the
PNG stills, and the tests that check the page.

A drawing becomes the model's input by two rules that the page (networks.js) follows too:
ink_of_strokes (the pen's ink on the canvas) and centred_like_data (prepared as MNIST's digits were).
"""

import math

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import torch
import traitlets
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from . import plots
from .data import ImageData, class_names
from .latent import encoder_means_and_logvars, kl_per_dimension
from .objectives import elbo
from .support import is_conditional
from .widgets import (
    STYLE, Explorer, Network, as_bytes, check_decodes_in_page, decode, figure_png, image_bytes, images_figure,
    on_grid, png_data_url, stored_image, stored_network, with_sliders,
)

def labelled_images(data, what):
    """The test images of an ImageData and their labels (the training set's if there is no test set)."""
    if not isinstance(data, ImageData):
        raise TypeError(f"{what} needs an ImageData (from load_dataset), got {type(data).__name__}")
    images, labels = (data.test, data.test_labels) if data.test is not None else (data.train, data.train_labels)
    if labels is None:
        raise ValueError(f"{what} needs labelled images; this ImageData has no labels "
                         "(pass test_labels to ImageData.from_arrays)")
    return images, labels


# ------------------------------------------------------------------ the conditional explorer


class ConditionalExplorer(Explorer):
    """A class picker and style sliders decoding p(x|z, y); below, one test image decoded as every class.

    data: an ImageData with labels. The sliders start at the code mu(x, y) of test image `image`
    (one slider for each of the `max_sliders` dimensions with the largest KL); below, that code
    is decoded as every class: the same style, another digit. The page can pick the test image
    among the first `bank` (and `image`), whose codes the kernel stores beside them.
    `label`, `values` and `image` hold the page's choices; `z` and `decoded` follow.
    """

    decoder = traitlets.Instance(Network).tag(sync=True, **widgets.widget_serialization)
    latent_dim = traitlets.Int().tag(sync=True)
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    label = traitlets.Int().tag(sync=True)
    dims = traitlets.List(traitlets.Int()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    values = traitlets.List(traitlets.Float()).tag(sync=True)
    limit = traitlets.Float(3.0).tag(sync=True)
    step = traitlets.Float(0.05).tag(sync=True)
    image = traitlets.Int().tag(sync=True)
    bank_indices = traitlets.List(traitlets.Int()).tag(sync=True)
    bank_labels = traitlets.List(traitlets.Int()).tag(sync=True)
    bank_images = traitlets.Bytes().tag(sync=True)  # uint8, (N, H, W)
    bank_means = traitlets.Bytes().tag(sync=True)  # float32, (N, latent_dim)
    image_size = traitlets.List(traitlets.Int()).tag(sync=True)
    scale = traitlets.Int(5).tag(sync=True)
    small_scale = traitlets.Int(3).tag(sync=True)

    def __init__(self, model, data, image=0, max_sliders=6, limit=3.0, step=0.05, images_for_kl=2000, bank=20):
        if not is_conditional(model):
            raise TypeError(f"ConditionalExplorer needs a ConditionalVAE, got a {type(model).__name__}; "
                            "for an unconditional VAE use widgets.LatentExplorer")
        check_decodes_in_page(model, "ConditionalExplorer")
        self.model = model.eval()
        self.images, self.test_labels = labelled_images(data, "ConditionalExplorer")
        if not 0 <= image < len(self.images):
            raise ValueError(f"image={image} is not a test image number: there are {len(self.images)}")
        names = class_names(data, model.num_classes)
        self.kl = kl_per_dimension(model, self.images[:images_for_kl], self.test_labels[:images_for_kl])
        dims = [int(d) for d in torch.argsort(self.kl, descending=True)[:max_sliders]]
        indices = sorted({image, *range(min(bank, len(self.images)))})
        self.means = encoder_means_and_logvars(model, self.images[indices], self.test_labels[indices])[0]
        side = max(model.image_shape[1:])  # about 140 px for the picture and 84 px for each small one
        super().__init__(
            kind="conditional", decoder=stored_network(model.decoder), latent_dim=model.latent_dim, names=names,
            label=int(self.test_labels[image]), dims=dims, labels=[f"z[{d}] ({self.kl[d]:.1f})" for d in dims],
            limit=limit, step=step, image=image, bank_indices=indices,
            bank_labels=[int(y) for y in self.test_labels[indices]], bank_images=image_bytes(self.images[indices, 0]),
            bank_means=as_bytes(self.means), image_size=list(model.image_shape[1:]),
            scale=max(1, 140 // side), small_scale=max(1, 84 // side))
        self.values = self._start_values()
        self.observe(lambda change: setattr(self, "values", self._start_values()), names="image")

    @property
    def start(self):
        """The code mu(x, y) of the test image with its own label."""
        return self.means[self.bank_indices.index(self.image)]

    def _start_values(self):
        return [on_grid(self.start[d], self.step, self.limit) for d in self.dims]

    @property
    def z(self):
        return with_sliders(self.start, self.dims, self.values)

    @property
    def decoded(self):
        """p(x|z, y)'s mean image (H, W) for the sliders' z and the class picked: what the page draws."""
        return decode(self.model, self.z.unsqueeze(0), torch.tensor([self.label]))[0, 0]

    @property
    def transferred(self):
        """The test image's code decoded as every class, (K, H, W)."""
        classes = torch.arange(self.model.num_classes)
        return decode(self.model, self.start.expand(len(classes), -1), classes)[:, 0]

    def static_png(self):
        """The test image and its code decoded as every class, labelled."""
        images = torch.cat([self.images[self.image:self.image + 1], self.transferred.unsqueeze(1)])
        labels = ["test\nimage", *(f"as\n{name}" for name in self.names)]
        true_name = self.names[int(self.test_labels[self.image])]
        return figure_png(images_figure, images, len(images), labels, [""],
                          f"test image {self.image} (a {true_name}) decoded as every class",
                          height=2.4, layout="constrained")


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


def ink_of_strokes(strokes, size, pen):
    """The pen's ink on a size x size canvas: 1 where a pixel's centre lies within pen/2 of a
    stroke (a polyline of canvas points [(x, y), ...]), else 0."""
    ink = np.zeros((size, size))
    r = pen / 2
    for points in strokes:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        segments = list(zip(points[:-1], points[1:])) if len(points) > 1 else [(points[0], points[0])]
        for a, b in segments:
            top, bottom = max(0, math.floor(min(a[1], b[1]) - r)), min(size - 1, math.ceil(max(a[1], b[1]) + r))
            left, right = max(0, math.floor(min(a[0], b[0]) - r)), min(size - 1, math.ceil(max(a[0], b[0]) + r))
            if top > bottom or left > right:
                continue
            py, px = np.mgrid[top:bottom + 1, left:right + 1] + 0.5  # pixel centres
            d, length2 = b - a, float((b - a) @ (b - a))
            t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0, 1) if length2 > 0 else 0.0
            near = (px - (a[0] + t * d[0])) ** 2 + (py - (a[1] + t * d[1])) ** 2 <= r * r
            ink[top:bottom + 1, left:right + 1][near] = 1
    return ink


def area_weights(n, m):
    """(m, n) matrix of an area-average resize from n cells to m: cell j covers [j n/m, (j+1) n/m)."""
    edges = np.arange(m + 1) * (n / m)
    cells = np.arange(n)
    overlap = np.minimum(edges[1:, None], cells + 1) - np.maximum(edges[:-1, None], cells)
    return np.clip(overlap, 0, None) / (n / m)


def centred_like_data(ink, shape, extent):
    """Canvas ink (S x S, values 0..1) as a model input of `shape` (H, W), prepared as MNIST's were:
    cropped to the drawing, scaled (keeping its aspect) so its longer side spans `extent` of the
    image, area-averaged over the canvas pixels each image pixel covers (grey edges, as in the
    data), and placed with its centre of mass at the centre."""
    h, w = shape
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    out = np.zeros(shape)
    if len(rows) == 0:
        return out
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    factor = extent * min(h, w) / max(crop.shape)
    half_up = lambda v: math.floor(v + 0.5)  # noqa: E731  (as the page's Math.round)
    size = (max(1, min(h, half_up(crop.shape[0] * factor))), max(1, min(w, half_up(crop.shape[1] * factor))))
    small = area_weights(crop.shape[0], size[0]) @ crop @ area_weights(crop.shape[1], size[1]).T
    total = small.sum()
    centre_y = (small.sum(axis=1) * (np.arange(size[0]) + 0.5)).sum() / total
    centre_x = (small.sum(axis=0) * (np.arange(size[1]) + 0.5)).sum() / total
    top = int(np.clip(half_up(h / 2 - centre_y), 0, h - size[0]))
    left = int(np.clip(half_up(w / 2 - centre_x), 0, w - size[1]))
    out[top:top + size[0], left:left + size[1]] = small
    return out


class DrawingExplorer(Explorer):
    """Draw on a canvas; at the end of each stroke the page encodes the drawing and shows q(z|x)
    as an ellipse (mean, +-2 sigma) on the map of the test set's codes, the reconstruction, and
    how the drawing's ELBO compares with the test images'.

    model: a VAE with latent_dim=2 and a Bernoulli decoder; data: an ImageData with labels, whose
    test images make the map (their encoder means, coloured by label) and the ELBOs the drawing
    is compared with. Every image is scored by one estimator, `objectives.elbo` with `samples`
    draws of eps (DrawingExplorer.elbo). Buttons: clear, and
    use a test image (the next of `bank`) instead of a drawing.
    """

    encoder = traitlets.Instance(Network).tag(sync=True, **widgets.widget_serialization)
    decoder = traitlets.Instance(Network).tag(sync=True, **widgets.widget_serialization)
    image_size = traitlets.List(traitlets.Int()).tag(sync=True)
    canvas_size = traitlets.Int(280).tag(sync=True)
    pen = traitlets.Float().tag(sync=True)
    extent = traitlets.Float().tag(sync=True)
    eps = traitlets.Bytes().tag(sync=True)  # float32, (samples, latent_dim)
    sorted_elbos = traitlets.Bytes().tag(sync=True)  # float32: the test images' ELBOs, sorted
    map_png = traitlets.Unicode().tag(sync=True)  # a data: URL
    map_size = traitlets.List(traitlets.Int()).tag(sync=True)  # [width, height]
    transform = traitlets.List(traitlets.Float()).tag(sync=True)  # pixels of the data points (0, 0) and (1, 1)
    limits = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    strokes = traitlets.List().tag(sync=True)  # [[(x, y), ...], ...] in canvas pixels
    test_image = traitlets.Int(-1).tag(sync=True)  # a position in the bank, or -1 for the drawing
    bank_indices = traitlets.List(traitlets.Int()).tag(sync=True)
    bank_images = traitlets.Bytes().tag(sync=True)  # uint8, (N, H, W)

    def __init__(self, model, data, canvas_size=280, pen_width=None, samples=8, images_for_elbo=2000, bank=20,
                 map_figsize=(5.0, 4.6)):
        if is_conditional(model):
            raise TypeError("DrawingExplorer maps q(z|x) of an unconditional VAE; a ConditionalVAE would "
                            "also need the drawing's label. Use a VAE with latent_dim=2")
        if model.latent_dim != 2:
            raise ValueError(f"DrawingExplorer draws q(z|x) on a 2-D map, so it needs a model with latent_dim=2, "
                             f"got {model.latent_dim}; train one with VAE(data.image_shape, latent_dim=2)")
        if model.image_shape[0] != 1:
            raise ValueError(f"DrawingExplorer draws grey-scale images, got {model.image_shape[0]} channels")
        if model.likelihood != "bernoulli":
            raise ValueError(f"DrawingExplorer scores drawings under a Bernoulli decoder, got {model.likelihood!r}")
        check_decodes_in_page(model, "DrawingExplorer")
        self.model = model.eval()
        self.images, self.labels = labelled_images(data, "DrawingExplorer")
        self.names = class_names(data, int(self.labels.max()) + 1)
        self.shape = tuple(model.image_shape[1:])
        self.samples = samples
        self.test_means = encoder_means_and_logvars(model, self.images)[0]
        scored = self.images[:images_for_elbo]
        self.test_elbos = self.elbo(scored)  # the ELBO of each scored test image, in nats
        background, transform, limits = self._map_background(map_figsize)
        # the draws of eps that objectives.elbo takes for one image from a generator seeded 0
        eps = torch.randn((samples, 1, 2), generator=torch.Generator().manual_seed(0))
        indices = list(range(min(bank, len(self.images))))
        super().__init__(
            kind="drawing", encoder=stored_network(model.encoder), decoder=stored_network(model.decoder),
            image_size=list(self.shape), canvas_size=canvas_size,
            pen=pen_width or round(canvas_size * max(0.08, 1.5 / min(self.shape))),
            extent=typical_extent(self.images[:1000]), eps=as_bytes(eps),
            sorted_elbos=as_bytes(torch.sort(self.test_elbos).values), map_png=png_data_url(background),
            map_size=[background.shape[1], background.shape[0]], transform=transform, limits=limits,
            bank_indices=indices, bank_images=image_bytes(self.images[indices, 0]))
        self.observe(lambda change: self._update(), names=["strokes", "test_image"])
        self._update()

    # -- the model's side

    def elbo(self, x):
        """ELBO of each image in nats: objectives.elbo with `samples` draws of eps from a generator
        seeded 0, 100 images at a time (a conv decoder's feature maps for 100 x 8 decodes are
        small). One image alone gets the draws the page stores (`eps`).

        For a grey image x (a drawing, a grey test image) a Bernoulli decoder gives no probability:
        log p(x|z) is then the mean of log p(b|z) over binary images b ~ Bernoulli(x), so this is a
        lower bound on E_b[log p(b)], the mean log-probability of x's binarizations."""
        scores = []
        with torch.inference_mode():
            for start in range(0, len(x), 100):
                generator = torch.Generator(self.model.device).manual_seed(0)
                batch = x[start:start + 100].to(self.model.device)
                scores.append(elbo(self.model, batch, samples=self.samples, generator=generator).elbo.cpu())
        return torch.cat(scores)

    def model_input(self):
        """The image the model is given (1, 1, H, W): a test image as stored, or the drawing prepared as the data were."""
        if self.test_image >= 0:
            return stored_image(self.images[self.bank_indices[self.test_image], 0]).reshape(1, 1, *self.shape)
        return self.prepared(self.strokes)

    def prepared(self, strokes):
        """Strokes drawn on this canvas, prepared as the data were, as the model is given them: (1, 1, H, W).
        Reads only this explorer's settings: the canvas itself is left as it is."""
        ink = ink_of_strokes(strokes, self.canvas_size, self.pen)
        return torch.from_numpy(centred_like_data(ink, self.shape, self.extent)).float().reshape(1, 1, *self.shape)

    def _update(self):
        """What the page shows, computed in the kernel with the package: x, q(z|x), reconstruction, ELBO."""
        if not self.strokes and self.test_image < 0:
            self.x = None
            return
        self.x = self.model_input()
        mu, logvar = encoder_means_and_logvars(self.model, self.x)
        self.mu, self.sigma = mu[0], (0.5 * logvar[0]).exp()
        self.reconstruction = decode(self.model, mu)[0, 0]
        self.drawing_elbo = float(self.elbo(self.x)[0])
        self.fraction_below = float((self.test_elbos < self.drawing_elbo).float().mean())

    def on_map(self):
        (x_low, x_high), (y_low, y_high) = self.limits
        return bool(x_low <= self.mu[0] <= x_high and y_low <= self.mu[1] <= y_high)

    def _map_background(self, figsize):
        """The map of the test set's encoder means (RGB pixels), drawn once with matplotlib; the page
        draws the ellipse over it. Also the pixels of data points (0, 0) and (1, 1), and the limits."""
        means = self.test_means
        low = torch.quantile(means, 0.002, dim=0).clamp(max=-3.0) - 0.3
        high = torch.quantile(means, 0.998, dim=0).clamp(min=3.0) + 0.3
        limits = [[low[0].item(), high[0].item()], [low[1].item(), high[1].item()]]
        with mpl.rc_context(STYLE):  # the projector style, whatever the notebook has set
            figure = Figure(figsize=figsize, dpi=100)
            FigureCanvasAgg(figure)
            ax = figure.add_subplot()
            plots.latent_scatter(means, self.labels, names=self.names, ax=ax, limits=limits,
                                 title="q(z|x) on the test set's encoder means")
            figure.tight_layout()
            figure.canvas.draw()
        background = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3) uint8
        (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])  # linear axes: two points fix the map
        return background, [float(x0), float(y0), float(x1), float(y1)], limits

    # -- the canvas's side, from the kernel (the notebook's own strokes, tests)

    def draw_stroke(self, points):
        """Draw one stroke through canvas points [(x, y), ...], as the pen would."""
        self.test_image = -1
        self.strokes = [*self.strokes, [[float(x), float(y)] for x, y in points]]

    def clear(self):
        self.test_image = -1
        self.strokes = []

    def use_test_image(self, position=None):
        """Encode the next stored test image (or the one at `position` in the bank) instead of a drawing."""
        self.strokes = []
        self.test_image = (self.test_image + 1) % len(self.bank_indices) if position is None else position

    def static_png(self):
        """What the model sees, q(z|x) on the map, and the reconstruction, labelled."""
        return figure_png(self._draw_still, height=4.4, layout="constrained")

    def _draw_still(self, figure):
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
            halo = [patheffects.withStroke(linewidth=7, foreground="white")]  # visible on any class's colour
            ax_map.add_patch(Ellipse(self.mu.tolist(), 4 * self.sigma[0].item(), 4 * self.sigma[1].item(),
                                     fill=False, color="black", lw=2.5, path_effects=halo))
            ax_map.plot(*self.mu.tolist(), marker="+", color="black", markersize=24, mew=3.5, path_effects=halo)
            figure.suptitle(f"the drawing's ELBO: {self.drawing_elbo:.1f} nats; {100 * self.fraction_below:.0f} % of "
                            f"the {len(self.test_elbos)} test images score lower")
