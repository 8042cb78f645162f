"""Every figure in vae_lite.plots is readable on a projector when the style is on: about
1000 px wide, text of 12 pt or more, images of at least 56 px, colour-blind-safe colours,
and paired panels on the same axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Circle, Ellipse  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import vae_lite  # noqa: E402
from vae_lite import plots  # noqa: E402

TAB10 = {to_hex(c) for c in plt.get_cmap("tab10").colors} - {"#7f7f7f"}  # its grey is just grey


@pytest.fixture(autouse=True)
def projector_style():
    plots.use_style(True)
    yield
    plt.close("all")
    plots.use_style(False)


def history():
    records = [{"epoch": e, "test_reconstruction": -100.0 + e, "test_kl": 20.0 + e, "test_elbo": -120.0}
               for e in (1, 2, 3)]
    return vae_lite.History(records)


def model_2d(image_shape=(1, 28, 28)):
    torch.manual_seed(0)
    return vae_lite.VAE(image_shape, latent_dim=2, hidden=16)


def sign_runs():
    right = {"kl": [0.1 + i for i in range(20)], "reconstruction_error": [500.0 - i for i in range(20)],
             "loss": [500.0 - i / 2 for i in range(20)]}
    wrong = {"kl": [10.0 ** i for i in range(20)], "reconstruction_error": [500.0 + 10.0 ** (i / 2) for i in range(20)],
             "loss": [500.0 - 10.0 ** i for i in range(20)]}
    return {"right": right, "wrong": wrong}


def images(n=10, side=28):
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(0))


FIGURES = {
    "show_images": lambda: plots.show_images(images(20), title="decoded z ~ N(0, I)"),
    "show_rows": lambda: plots.show_rows({"test images": images(), "reconstructions": images()}),
    "plot_histograms": lambda: plots.plot_histograms({"codes": torch.randn(500) + 9, "prior": torch.randn(500) + 4}, "length"),
    "plot_log_evidence_estimates": lambda: plots.plot_log_evidence_estimates(
        [1, 10, 100], {"prior": ([-300, -200, -150], [-320, -220, -160], [-280, -190, -140])}, reference=-100),
    "plot_repeated_estimates": lambda: plots.plot_repeated_estimates(
        {"sampling the prior": {1: -300 + torch.randn(100), 10: -200 + torch.randn(10), 100: -150 + torch.randn(3)},
         "sampling q(z|x)": {1: -80 + torch.randn(100), 10: -75 + torch.randn(10), 100: -73 + torch.randn(1)}},
        reference=-72, reference_label="reference", zoom="sampling q(z|x)"),
    "plot_decoder_on_bound": lambda: plots.plot_decoder_on_bound(
        [0.5, 1.0, 1.5, 2.0, 2.5], [-1.7, -1.6, -1.7, -1.84, -2.0], [-2.1, -1.85, -1.77, -1.84, -2.1], w0=2.0, w_best=1.5),
    "plot_estimator_variance": lambda: plots.plot_estimator_variance([1, 4, 16], {"pathwise": [1, 0.25, 0.06], "score": [2, 0.5, 0.1]}),
    "draw_gradient_path": lambda: plots.draw_gradient_path(),
    "plot_one_draw_slopes": lambda: plots.plot_one_draw_slopes(
        torch.linspace(-1.5, 2.5, 50).numpy(), lambda m: torch.sin(torch.as_tensor(m)).numpy(), 0.5,
        {"pathwise": torch.randn(15), "score function": 3 * torch.randn(15)}, 0.88, label="E[sin z]", title="slopes"),
    "plot_estimator_runs": lambda: plots.plot_estimator_runs(
        [{name: {"step": [0, 50, 100], "test_loss": [550.0, 200.0 + d, 180.0 + d], "gradient_variance": [20.0 * d + 2, 30.0, 60.0],
                 "gradient_variance_by_loss": {"A, sampled KL": [22.0, 40.0, 80.0], "B, closed-form KL": [2.0, 25.0, 55.0]}}
          for name, d in (("A, sampled KL", 1.0 + seed), ("B, closed-form KL", 0.0))} for seed in (0, 1)]),
    "plot_log_below_tangent": lambda: plots.plot_log_below_tangent(),
    "plot_history": lambda: plots.plot_history(history()),
    "plot_loss_terms": lambda: plots.plot_loss_terms(history()),
    "plot_kl_per_dimension": lambda: plots.plot_kl_per_dimension(torch.rand(50), torch.rand(50) * 0.02, title="50 dimensions"),
    "latent_scatter": lambda: plots.latent_scatter(torch.randn(200, 2), torch.arange(200) % 10, title="means"),
    "manifold_grid": lambda: plots.manifold_grid(model_2d(), n=15),
    "latent_map": lambda: plots.latent_map(model_2d(), torch.randn(200, 2), torch.arange(200) % 10),
    "plot_rate_distortion": lambda: plots.plot_rate_distortion([5, 20, 30], [150, 100, 90], ["β = 4", "β = 1", "β = 0.5"]),
    "draw_vae": lambda: plots.draw_vae(torch.rand(1, 28, 28), torch.rand(1, 28, 28)),
    "draw_vae without images": lambda: plots.draw_vae(),
    "plot_sign_runs": lambda: plots.plot_sign_runs(sign_runs(), keys=("kl", "reconstruction_error", "loss")),
    "plot_units_by_beta": lambda: plots.plot_units_by_beta([0.25, 1, 4, 16], [20, 20, 18, 4], 20),
}


def texts(figure):
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def colours(figure):
    found = set()
    for artist in figure.findobj():
        for getter in ("get_color", "get_facecolor", "get_edgecolor"):
            if not hasattr(artist, getter) or isinstance(artist, Text):
                continue
            value = getattr(artist, getter)()
            for colour in (value if hasattr(value, "ndim") and value.ndim == 2 else [value]):
                try:
                    found.add(to_hex(colour))
                except ValueError:
                    pass
    return found


def test_the_style_is_what_makes_figures_large_and_can_be_turned_off():
    plots.use_style(False)
    figure = plots.plot_history(history())
    assert figure.get_size_inches()[0] * figure.dpi < 900  # matplotlib's default: 640 px
    assert {to_hex(c) for c in [line.get_color() for line in figure.axes[0].lines]} <= TAB10


def shown_image_px(ax, ncols, side):
    """On-screen width of one image in an axes showing an image_grid of `ncols` columns."""
    ax.figure.canvas.draw()
    grid_width = ncols * (side + 1) - 1
    return ax.get_window_extent().width * side / grid_width


@pytest.mark.parametrize("side", [28, 8])
@pytest.mark.parametrize("ncols, size", [(10, None), (20, None), (20, 0.45), (5, 0.2)])
def test_every_image_in_a_strip_is_at_least_56_px(side, ncols, size):
    figure = plots.show_rows({"a": images(ncols, side), "b": images(ncols, side)}, ncols=ncols, size=size)
    for ax in figure.axes:
        assert shown_image_px(ax, ncols, side) >= plots.MIN_IMAGE_PX
    figure = plots.show_images(images(2 * ncols, side), ncols=ncols, size=size, title="t")
    assert shown_image_px(figure.axes[0], ncols, side) >= plots.MIN_IMAGE_PX
    smallest = ncols * plots.MIN_IMAGE_PX * (side + 1) / side + 1  # images at the minimum, with their gaps
    assert figure.get_size_inches()[0] * figure.dpi <= max(plots.MAX_STRIP_PX, smallest)


@pytest.mark.parametrize("side", [28, 8])
def test_manifold_images_are_at_least_56_px_alone_and_beside_the_scatter(side):
    model = model_2d((1, side, side))
    figure = plots.manifold_grid(model, n=15)
    assert shown_image_px(figure.axes[0], 15, side) >= plots.MIN_IMAGE_PX
    figure = plots.latent_map(model, torch.randn(100, 2), torch.arange(100) % 10)
    assert shown_image_px(figure.axes[1], 8, side) >= plots.MIN_IMAGE_PX


def test_latent_map_panels_cover_the_same_square_of_z():
    figure = plots.latent_map(model_2d(), torch.randn(100, 2) * 5, torch.arange(100) % 10, limits=(-2.5, 2.5))
    scatter, grid = figure.axes[:2]
    assert scatter.get_xlim() == grid.get_xlim() == (-2.5, 2.5)
    assert scatter.get_ylim() == grid.get_ylim() == (-2.5, 2.5)
    assert tuple(grid.images[0].get_extent()) == (-2.5, 2.5, -2.5, 2.5)
    assert scatter.get_xlabel() == grid.get_xlabel() == "z[0]"


def test_manifold_grid_with_limits_decodes_the_z_at_each_cell_centre():
    model = model_2d()
    ax = plt.figure().add_subplot()
    plots.manifold_grid(model, n=4, ax=ax, limits=(-2.0, 2.0))
    shown = torch.as_tensor(ax.images[0].get_array())
    with torch.inference_mode():  # top-left cell: z[0] lowest, z[1] highest: the centre (-1.5, 1.5)
        corner = model.decode(torch.tensor([[-1.5, 1.5]]))[0, 0]
    assert torch.allclose(shown[:28, :28].float(), corner, atol=1e-6)


def test_latent_scatter_colours_label_i_with_the_ith_petroff10_colour():
    labels = torch.arange(10)
    figure = plots.latent_scatter(torch.randn(10, 2), labels)
    scatter = figure.axes[0].collections[0]
    shown = [to_hex(c) for c in scatter.to_rgba(scatter.get_array())]
    assert shown == [c.lower() for c in plots.PALETTE]


@pytest.mark.parametrize("labels", [None, torch.arange(10)], ids=["one-colour", "by-label"])
def test_latent_scatter_draws_markers_of_the_size_asked_for(labels):
    figure = plots.latent_scatter(torch.randn(10, 2), labels, size=16)
    assert list(figure.axes[0].collections[0].get_sizes()) == [16]


@pytest.mark.parametrize("spread", [0.1, 0.0], ids=["medians-close", "medians-equal"])
def test_latent_scatter_label_boxes_never_overlap_and_point_at_their_medians(spread):
    """Notebook 07's 3, 5 and 8 (and notebook 11's conditional VAE, all classes) have nearly equal medians:
    their boxes once hid each other. Each box must sit clear of the others, with its line to its median."""
    centres = spread * torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    points = centres.repeat(50, 1) + 2 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))  # wide classes
    labels = torch.arange(10).repeat(50)
    figure = plots.latent_scatter(points, labels, names=[f"class {c}" if c == 7 else str(c) for c in range(10)])
    ax = figure.axes[0]
    ax.scatter(*points[:30].T.numpy(), marker="x", c="black")  # as notebook 01 adds crosses afterwards
    ax.legend(["codes", "crosses"], loc="upper center", bbox_to_anchor=(0.5, -0.18))  # shrinks the axes after the boxes are placed
    figure.canvas.draw()
    boxes = {a.get_text(): a.get_bbox_patch().get_window_extent() for a in ax.texts}
    assert len(boxes) == 10
    touching = [(a, b) for a in boxes for b in boxes if a < b and boxes[a].overlaps(boxes[b])]
    assert not touching, f"label boxes overlap: {touching}"
    lines = [line.get_xydata().ravel().tolist() for line in ax.get_lines()]  # from each median to its box
    for a in ax.texts:
        c = 7 if a.get_text() == "class 7" else int(a.get_text())
        median = points[labels == c].median(dim=0).values.tolist()
        assert a.xy == pytest.approx(median), f"{a.get_text()}: not anchored at its class's median"
        assert any(line == pytest.approx([*median, *a.xyann]) for line in lines), f"{a.get_text()}: no line to its median"
        assert a.get_bbox_patch().get_alpha() in (None, 1) and a.get_zorder() > ax.collections[-1].get_zorder(), \
            "the boxes are opaque and above the points and crosses"


def test_the_calls_other_notebooks_make_draw_into_the_axes_they_are_given():
    fig, (left, right) = plt.subplots(1, 2)
    plots.latent_scatter(torch.randn(50, 2), torch.arange(50) % 10, ax=left, title="encoder means of the test images")
    plots.manifold_grid(model_2d(), n=15, ax=right)
    assert left.get_title() == "encoder means of the test images" and len(left.collections[0].get_offsets()) == 50
    assert right.get_title().startswith("decoded z on a grid of 15 x 15") and right.images[0].get_array().shape[0] >= 15 * 28
    assert [ax.get_label() for ax in fig.axes[2:]] == ["<colorbar>"], "drawn into the axes given, plus the colour bar"


@pytest.mark.parametrize("call, title", [
    (lambda: plots.plot_kl_per_dimension(torch.rand(20), torch.rand(20), title="3 of 20"), "3 of 20"),
    (lambda: plots.plot_rate_distortion([1.0, 2.0], [3.0, 4.0], ["a", "b"], title="t"), "t"),
    (lambda: plots.show_images(images(4), ncols=2, title="t", size=0.6), "t"),
], ids=["kl_per_dimension", "rate_distortion", "show_images"])
def test_the_calls_other_notebooks_make_return_a_titled_figure(call, title):
    figure = call()
    assert figure.axes[0].get_title() == title or figure.texts and figure.texts[0].get_text() == title
    assert figure.axes[0].has_data() or figure.axes[0].images


def test_repeated_estimates_table_gives_median_and_band_or_each_estimate_per_k():
    table = plots.repeated_estimates_table({"sampling the prior": {1: torch.arange(11.0), 10: torch.tensor([-3.0, -2.5])},
                                            "sampling q(z|x)": {1: torch.arange(11.0)}}).splitlines()
    assert "sampling the prior: median (10% .. 90%)" in table[0] and "sampling q(z|x): median (10% .. 90%)" in table[0]
    assert table[1].split()[0] == "1" and table[1].count("5.0 (1.0 .. 9.0)") == 2  # 11 estimates: median and 10-90 %
    assert table[2].split() == ["10", "each:", "-3.0", "-2.5"]  # 2 estimates: each one; q(z|x) has none at k = 10


def test_decoder_on_bound_marks_w0_and_the_elbos_best_w_and_keeps_the_legend_below_the_axes():
    figure = FIGURES["plot_decoder_on_bound"]()
    ax = figure.axes[0]
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in dots] == [[1.5], [1.5]]
    assert [list(line.get_ydata()) for line in dots] == [[-1.77], [-1.7]]  # the ELBO's best w, and log p(x) there
    assert any(list(line.get_xdata()) == [2.0, 2.0] for line in ax.lines)  # the vertical line at w0
    figure.canvas.draw()
    assert ax.get_legend().get_window_extent().y1 < ax.get_window_extent().y0  # under the axes, off the curves


def test_show_rows_draws_one_labelled_row_per_model():
    figure = plots.show_rows({"VAE": images(20), "AE": images(20)}, ncols=20, size=0.45)
    top_down = sorted(figure.axes, key=lambda ax: -ax.get_position().y0)
    assert [ax.get_title() for ax in top_down] == ["VAE", "AE"] and all(ax.images for ax in top_down)


def test_kl_bars_are_grey_for_inactive_units_and_sorted():
    kl = torch.tensor([0.1, 3.0, 0.0, 2.0])
    figure = plots.plot_kl_per_dimension(kl, activity=torch.tensor([0.5, 0.5, 0.0, 0.5]))
    ax = figure.axes[0]
    tops = [b.get_y() + b.get_height() for b in ax.patches]
    assert [round(t, 3) for t in tops[:3]] == [3.0, 2.0, 0.1] and tops[3] <= ax.get_ylim()[0] * 1.0001  # KL 0: on the axis
    assert to_hex(ax.patches[-1].get_facecolor()) == to_hex("lightgray")
    assert to_hex(ax.patches[0].get_facecolor()) == plots.PALETTE[0].lower()


def test_kl_bars_show_tiny_kls_on_a_log_axis_each_labelled_with_its_dimension():
    kl = torch.cat([torch.linspace(2.0, 0.2, 30), torch.full((20,), 4e-4)])
    activity = torch.cat([torch.full((30,), 0.5), torch.full((20,), 1e-5)])
    figure = plots.plot_kl_per_dimension(kl[torch.randperm(50, generator=torch.Generator().manual_seed(0))],
                                         activity[torch.randperm(50, generator=torch.Generator().manual_seed(0))])
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] < 4e-4  # the inactive bars stand above the axis
    order = torch.argsort(kl[torch.randperm(50, generator=torch.Generator().manual_seed(0))], descending=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(int(d)) for d in order]  # every bar, by its id
    words = " ".join(t.get_text() for t in texts(figure))
    assert "20 inactive" in words and "0.008 nats together" in words  # 20 x 4e-4
    assert any(abs(line.get_ydata()[0] - 0.005) < 1e-12 for line in ax.get_lines())  # the bound 1/2 x 0.01
    assert figure.get_size_inches()[0] * figure.dpi >= 50 * 20  # at least 20 px per bar, for 12-pt labels


def test_latent_map_can_name_the_classes_at_their_medians():
    points = torch.tensor([[0.0, 0.0], [0.2, 0.0], [2.0, 2.0], [2.2, 2.0]])
    figure = plots.latent_map(model_2d(), points, torch.tensor([0, 0, 1, 1]), names=["zero", "one"])
    labels = {t.get_text(): t.xyann if hasattr(t, "xyann") else t.get_position() for t in texts(figure.axes[0])
              if t.get_text() in ("zero", "one")}
    assert set(labels) == {"zero", "one"} and len(figure.axes) == 2  # names instead of a colour bar


def test_draw_vae_names_every_part_of_the_model_and_both_terms():
    words = " ".join(t.get_text() for t in plots.draw_vae().findobj(Text))
    for part in ("encoder", "μ", "log σ²", "z = μ + σ ⊙ ε", "ε ~ N(0, I)", "decoder", "KL(q(z|x) ‖ N(0, I))",
                 "−log p(x|z)"):
        assert part in words, part
    assert "reconstruction error −log p(x|z)  +  KL" in words  # the loss, with the plus sign


def test_sign_runs_loss_axis_crosses_zero_and_labels_the_run_off():
    figure = plots.plot_sign_runs(sign_runs(), keys=("kl", "loss"))
    kl_axis, loss_axis = figure.axes
    assert kl_axis.get_yscale() == "log" and loss_axis.get_yscale() == "symlog"
    ticks = loss_axis.get_yticks()
    assert 0 in ticks and min(ticks) <= -1e15, ticks
    assert len(figure.legends) == 1  # one legend above the panels, none covering the curves


def test_units_by_beta_plots_the_counts_on_integer_ticks():
    figure = plots.plot_units_by_beta([0.25, 1, 4, 16], [20, 20, 18, 4], 20)
    ax = figure.axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[20, 20, 18, 4], [20, 20, 18, 4]]
    assert all(float(t).is_integer() for t in ax.get_yticks())


# notebook 08: the beta sweep, per seed, as the notebook loads it
SWEEP_BETAS = [0.25, 0.5, 1, 2, 4, 8, 16]
SWEEP_RATES = [[73.6, 73.4], [48.3, 47.8], [29.6, 29.4], [17.7, 17.8], [9.8, 9.9], [4.7, 4.6], [1.3, 1.2]]
SWEEP_DISTORTIONS = [[45.6, 45.7], [55.4, 55.7], [68.5, 68.6], [84.4, 84.1], [105.7, 105.2], [135.3, 136.0], [178.4, 179.0]]
SWEEP_ACTIVE = [[50, 50], [41, 42], [30, 31], [21, 21], [12, 12], [6, 6], [3, 3]]


def _points_in_display(ax):
    """Every plotted data point of ax, in display coordinates."""
    return [point for line in ax.get_lines() for point in line.get_transform().transform(line.get_xydata())]


def _legend_covers(ax, points):
    box = ax.get_legend().get_window_extent()
    return [p for p in points if box.x0 <= p[0] <= box.x1 and box.y0 <= p[1] <= box.y1]


def test_rate_distortion_labels_its_iso_elbo_lines_and_keeps_the_legend_off_the_models():
    figure, (ax, _) = plt.subplots(1, 2, figsize=(14, 5.2))  # as notebook 08 draws it, beside the unit counts
    plots.plot_rate_distortion(SWEEP_RATES, SWEEP_DISTORTIONS, [f"β={b:g}" for b in SWEEP_BETAS], ax=ax,
                               zero_rate=205.8)
    figure.canvas.draw()
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("−ELBO = ")]
    assert len(labels) >= 2, labels  # the dotted lines carry their values
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("−ELBO = 98.") for t in legend), legend  # the least R + D (beta = 1), named
    models = [line for line in ax.get_lines() if line.get_label() in ("mean over seeds", "each seed",
                                                                      "decoder ignores z (mean image)")]
    points = [p for line in models for p in line.get_transform().transform(line.get_xydata())]
    assert len(points) == 7 + 14 + 1 and not _legend_covers(ax, points)
    # nor any iso-ELBO line: points along each, every 1/200 of its length
    lines = [line for line in ax.get_lines() if line not in models]
    along = [line.get_transform().transform([(x0 + (x1 - x0) * t / 200, y0 + (y1 - y0) * t / 200) for t in range(201)])
             for line in lines for (x0, y0), (x1, y1) in [line.get_xydata()]]
    assert lines and not _legend_covers(ax, [p for points in along for p in points])
    box, inside = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1, "the legend is wider than the axes: it hides the y label"


def test_units_by_beta_takes_counts_per_seed_and_keeps_the_legend_off_the_plateau():
    figure = plots.plot_units_by_beta(SWEEP_BETAS, SWEEP_ACTIVE, 50)
    ax = figure.axes[0]
    figure.canvas.draw()
    means = [list(line.get_ydata()) for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert means[0][:2] == [50, 41.5]  # the line joins the means over seeds
    assert not _legend_covers(ax, _points_in_display(ax))


# ------------------------------------------------------------------------ notebook 10

NOTEBOOK_10 = {
    "plot_posterior_and_gaussians": lambda: plots.plot_posterior_and_gaussians(
        torch.linspace(-3, 3, 200), torch.rand(200), {"q*": (1.0, 0.3), "wide": (0.0, 1.0)}, prior=torch.rand(200)),
    "plot_bound_against_k": lambda: plots.plot_bound_against_k(
        [1, 10, 100], {"q*": ([-2.4, -2.4, -2.4], [0.01] * 3), "best": ([-2.4, -1.9, -1.7], [0.01] * 3)}, -1.7,
        references={"log 2": 0.69}),
    "plot_two_gaps": lambda: plots.plot_two_gaps(images(10), torch.rand(10) * 4, torch.rand(10) * 4,
                                                 torch.rand(10) * 0.3, unreliable=torch.arange(10) % 3 == 0),
}


@pytest.mark.parametrize("name", ["plot_bound_against_k", "plot_two_gaps"])
def test_notebook_10_legends_sit_below_the_axes_off_the_data(name):
    figure = NOTEBOOK_10[name]()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0, \
                f"{name}: a legend overlaps its axes, where it can hide a curve or a bar"




def test_two_gaps_draws_unreliable_estimates_as_outlines_and_names_them():
    unreliable = torch.tensor([True, False, False])
    figure = plots.plot_two_gaps(images(3), torch.ones(3), torch.ones(3), unreliable=unreliable)
    ax = figure.axes[-1]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "ESS" in labels[0] and "ESS" not in labels[1] + labels[2]
    assert any("ESS < 20" in t.get_text() for t in ax.get_legend().get_texts())


# ------------------------------------------------------------------------ notebook 09

def paper_runs():
    """Results shaped as benchmarks/paper_curves.py writes them: AEVB on two sizes, wake-sleep on one."""
    def run(size, algorithm="aevb"):
        samples = [10 ** (3 + i / 4) for i in range(13)]
        return {"config": {"dataset": "frey-face", "latent_dim": size, "algorithm": algorithm}, "samples": samples,
                "train_elbo": [100.0 * i for i in range(13)], "test_elbo": [90.0 * i for i in range(13)]}
    return {"frey-2": run(2), "frey-5": run(5), "frey-5-wake-sleep": run(5, "wake-sleep")}


def figure3_runs():
    """Results shaped as benchmarks/figure3.py writes them."""
    def run(n, algorithm):
        records = [{"samples": 10 ** (4 + i / 4), "train_log_px": -200.0 + 5 * i, "test_log_px": -205.0 + 4 * i}
                   for i in range(9)]
        return {"config": {"n_train": n, "algorithm": algorithm}, "records": records}
    return {f"{a}-{n}": run(n, a) for n in (1000, 50_000) for a in ("aevb", "wake-sleep")}


PAPER_FIGURES = {
    "plot_paper_curves": lambda: plots.plot_paper_curves(paper_runs(), "frey-face", paper={"2": 50.0, "samples": 1e8,
                                                                                           "uncertainty": 10}),
    "plot_marginal_likelihood": lambda: plots.plot_marginal_likelihood(figure3_runs()),
}


def test_paper_curves_draw_one_panel_per_chosen_size_and_refuse_a_missing_one():
    assert len(plots.plot_paper_curves(paper_runs(), "frey-face").axes) == 2
    figure = plots.plot_paper_curves(paper_runs(), "frey-face", sizes=[5])
    assert [ax.get_title() for ax in figure.axes] == ["$N_z$ = 5"]
    assert len(figure.axes[0].get_lines()) == 4, "AEVB and wake-sleep, each train and test"
    with pytest.raises(ValueError, match=r"latent size \[3\]"):
        plots.plot_paper_curves(paper_runs(), "frey-face", sizes=[3, 5])


def test_paper_curves_shade_what_the_paper_does_not_show_and_call_wake_sleep_ours():
    figure = plots.plot_paper_curves(paper_runs(), "frey-face", paper_from=1e5)
    assert all(len(ax.patches) == 1 and ax.patches[0].get_x() == 1e3 for ax in figure.axes), "1e3 to 1e5 shaded"
    assert [t.get_text() for t in figure.axes[0].texts] == ["not in\nthe paper"]
    assert "our wake-sleep (test)" in [t.get_text() for t in figure.legends[0].get_texts()]
    assert not plots.plot_paper_curves(paper_runs(), "frey-face").axes[0].patches, "no shading unless asked"


def test_marginal_likelihood_has_a_panel_per_training_set_with_both_algorithms():
    figure = plots.plot_marginal_likelihood(figure3_runs())
    assert [ax.get_title() for ax in figure.axes] == ["$N_{train}$ = 1,000", "$N_{train}$ = 50,000"]
    for ax in figure.axes:
        assert {line.get_color() for line in ax.get_lines()} == {plots.PAPER_COLOURS["aevb"],
                                                                  plots.PAPER_COLOURS["wake-sleep"]}


# ------------------------------------------------------------ notebook 11


def scores_figure():
    """Five inputs, two of them with the same score (notebook 11's drawn 7 and a test image once hid each other)."""
    scores = {"the drawn 7": -115.2, "a test image": -115.4, "a blank page": -112.0, "shifted": -225.0, "noise": -730.0}
    inputs = {name: torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(i)) for i, name in enumerate(scores)}
    test_scores = -150 + 30 * torch.randn(500, generator=torch.Generator().manual_seed(0))
    return plots.scores_against_test_images(test_scores, scores, inputs, "log p(x) (nats)"), scores


def test_scores_figure_keeps_equal_scores_apart_and_labels_each_with_its_value():
    figure, scores = scores_figure()
    histogram = figure.axes[-1]
    labels = {a.get_text(): a.xy for a in histogram.texts}
    on_scale = {name: score for name, score in scores.items() if name != "noise"}
    assert set(labels) == {f"{name}: {score:.0f}" for name, score in on_scale.items()} | {"noise: -730 (off the scale)"}
    heights = [xy[1] for xy in labels.values()]
    assert len(set(heights)) == len(heights), "two labels at one height would hide each other"
    tallest = max(patch.get_height() for patch in histogram.patches)
    assert min(heights) > tallest, "a label below the tallest bar hides the histogram"
    assert sorted(labels[f"{n}: {s:.0f}"][0] for n, s in on_scale.items()) == sorted(on_scale.values())  # at its score
    low, high = histogram.get_xlim()
    assert low < min(on_scale.values()) and high > max(on_scale.values())


def test_scores_figure_draws_a_far_outlier_at_the_edge_so_the_histogram_keeps_its_width():
    figure, scores = scores_figure()
    histogram = figure.axes[-1]
    low, high = histogram.get_xlim()
    spread = max(p.get_x() + p.get_width() for p in histogram.patches) - min(p.get_x() for p in histogram.patches)
    assert spread > 0.3 * (high - low), "the test images' histogram is squeezed into a corner"
    assert low > scores["noise"]
    (dotted,) = [line for line in histogram.get_lines() if line.get_linestyle() == ":"]
    assert low <= dotted.get_xdata()[0] < min(p.get_x() for p in histogram.patches)
    assert [ax.get_title() for ax in figure.axes[:-1]] == list(scores)  # one picture per input, titled


# ------------------------------------------------------------------------ every notebook's figures

NOTEBOOK_09_EXTRA = {
    "show_faces": lambda: plots.show_faces({"faces": images(10, side=20)}, std=("s per pixel", images(8, side=20)), ncols=8),
    "paper_manifolds": lambda: plots.paper_manifolds({"digits": model_2d(), "faces": model_2d((1, 28, 20))}),
    "paper_samples": lambda: plots.paper_samples({"N_z = 2": images(8), "N_z = 20": images(8)}),
}
NOTEBOOK_11 = {
    "labelled_grid": lambda: plots.labelled_grid(torch.rand(3, 10, 1, 28, 28), ["z0", "z1", "z2"], [str(i) for i in range(10)],
                                                 title="one column per label"),
    "scores_against_test_images": lambda: scores_figure()[0],
}
EVERY_FIGURE = {**FIGURES, **NOTEBOOK_10, **PAPER_FIGURES, **NOTEBOOK_09_EXTRA, **NOTEBOOK_11}


@pytest.mark.parametrize("name", EVERY_FIGURE)
def test_figure_is_about_1000_px_wide_with_text_of_12_pt_or_more(name):
    figure = EVERY_FIGURE[name]()
    width_px = figure.get_size_inches()[0] * figure.dpi
    assert 900 <= width_px <= 1300, f"{name}: {width_px:.0f} px wide"
    sizes = {t.get_text(): t.get_fontsize() for t in texts(figure)}
    assert sizes, f"{name} has no text at all"
    small = {text: size for text, size in sizes.items() if size < 12}
    assert not small, f"{name}: text under 12 pt: {small}"


@pytest.mark.parametrize("name", EVERY_FIGURE)
def test_figure_uses_no_tab10_colour(name):
    used = colours(EVERY_FIGURE[name]())
    assert used, f"{name}: no colours found"
    assert not used & TAB10, f"{name} uses tab10 colours {used & TAB10}; use petroff10 (plots.PALETTE)"


# Pictures of images are sized in screen pixels, whatever the style (show_images, show_rows, the grids)
SIZED_IN_PIXELS = {"show_images", "show_rows", "manifold_grid", "latent_map", "plot_kl_per_dimension"}


@pytest.mark.parametrize("name", EVERY_FIGURE)
def test_figure_takes_its_size_and_fonts_from_the_style(name):
    """No figure fixes a size or a font of its own: a style half as large again makes every figure
    half as wide again (those sized in pixels aside) and every text at least 1.5 x 12 pt."""
    projector = EVERY_FIGURE[name]().get_size_inches()[0]
    larger = {key: 1.5 * plots.PROJECTOR_STYLE[key] for key in
              ("font.size", "axes.titlesize", "axes.labelsize", "legend.fontsize", "xtick.labelsize", "ytick.labelsize")}
    with matplotlib.rc_context({**larger, "figure.figsize": (15, 6)}):
        figure = EVERY_FIGURE[name]()
        if name not in SIZED_IN_PIXELS:
            assert figure.get_size_inches()[0] == pytest.approx(1.5 * projector), f"{name}: a width of its own"
        small = {t.get_text(): t.get_fontsize() for t in texts(figure) if t.get_fontsize() < 18}
        assert not small, f"{name}: text that does not follow the style's font sizes: {small}"


def test_latent_map_draws_q_as_ellipses_and_the_prior_as_circles_when_given_sigmas():
    means, sigmas = torch.randn(30, 2), torch.full((30, 2), 0.2)
    left = plots.latent_map(model_2d(), means, torch.arange(30) % 10, sigmas=sigmas, spread=5).axes[0]
    ellipses = [p for p in left.patches if type(p) is Ellipse]
    circles = sorted(p.radius for p in left.patches if type(p) is Circle)
    assert circles == [1, 2] and len(ellipses) == 5
    assert ellipses[0].center == pytest.approx(means[0].tolist()) and ellipses[0].width == pytest.approx(0.4)
    assert not [p for p in plots.latent_map(model_2d(), means).axes[0].patches if type(p) is Ellipse]
    plt.close("all")


def test_bound_against_k_draws_the_gap_below_log_px_on_log_axes_with_zero_at_the_floor():
    figure = plots.plot_bound_against_k([1, 10, 100], {"q": ([-2.7, -2.0, -1.7], [0.01] * 3)}, -1.7, floor=1e-4)
    ax = figure.axes[0]
    x, y = ax.lines[0].get_data()
    assert list(x) == [1, 10, 100] and list(y) == pytest.approx([1.0, 0.3, 1e-4])
    assert ax.get_yscale() == ax.get_xscale() == "log"
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [100], "the gap at the floor should be drawn hollow"
    assert hollow[0].get_zorder() > ax.lines[0].get_zorder(), "the hollow marker must cover the filled one"
    plt.close("all")


def test_latent_map_draws_the_exact_posteriors_lettered_at_their_ellipses_and_zoomed_below():
    """posteriors=: log p(x, z) of the first k points' images; here Gaussians of σ 0.1 at (1, 0.5) and (−1, −1),
    so each red contour at e^(−1/2) of the peak is a circle of radius 0.1 around its centre."""
    centres = torch.tensor([[1.0, 0.5], [-1.0, -1.0]])
    means, sigmas = torch.cat([centres + 0.2, torch.randn(20, 2)]), torch.full((22, 2), 0.2)
    log_joint = lambda z: -0.5 * ((z[None] - centres[:, None]) / 0.1).pow(2).sum(-1)  # (2, M)
    figure = plots.latent_map(model_2d(), means, torch.arange(22) % 10, names=[str(c) for c in range(10)],
                              sigmas=sigmas, posteriors=log_joint)
    left, zooms = figure.axes[0], figure.axes[2:]
    assert [ax.get_title() for ax in zooms] == ["a, zoomed", "b, zoomed"]
    assert [t.get_text() for t in left.texts if t.get_text() in ("a", "b")] == ["a", "b"]
    assert [t.xy for t in left.texts if t.get_text() in ("a", "b")] == [pytest.approx(means[0].tolist()), pytest.approx(means[1].tolist())]
    for ax, centre in zip(zooms, centres):
        ring = ax.collections[0].get_paths()[0].vertices  # the red contour, on a fine grid
        assert (torch.as_tensor(ring) - centre).norm(dim=1).tolist() == pytest.approx([0.1] * len(ring), abs=0.01)
        assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(zooms[0].get_xlim()[1] - zooms[0].get_xlim()[0])
    assert len(left.collections) >= 3  # the scatter and one red contour per posterior
    plt.close("all")
