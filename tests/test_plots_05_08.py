"""The figures nb-late added to vae_lite.plots for notebooks 05-08 (fold into tests/test_plots.py
when nb-early's lands): projector-sized, 12-pt text, no tab10, and what each one promises."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import vae_lite  # noqa: E402
from vae_lite import plots  # noqa: E402

TAB10 = {to_hex(c) for c in matplotlib.color_sequences["tab10"]}


@pytest.fixture(autouse=True)
def projector_style():
    plots.use_style(True)
    yield
    plt.close("all")
    plots.use_style(False)


def runs():
    right = {"kl": [0.1 + i for i in range(20)], "reconstruction_error": [500.0 - i for i in range(20)],
             "loss": [500.0 - i / 2 for i in range(20)]}
    wrong = {"kl": [10.0 ** i for i in range(20)], "reconstruction_error": [500.0 + 10.0 ** (i / 2) for i in range(20)],
             "loss": [500.0 - 10.0 ** i for i in range(20)]}
    return {"right": right, "wrong": wrong}


def model_2d():
    torch.manual_seed(0)
    return vae_lite.VAE((1, 28, 28), latent_dim=2, hidden=16)


FIGURES = {
    "draw_vae": lambda: plots.draw_vae(torch.rand(1, 28, 28), torch.rand(1, 28, 28)),
    "draw_vae without images": lambda: plots.draw_vae(),
    "plot_sign_runs": lambda: plots.plot_sign_runs(runs(), keys=("kl", "reconstruction_error", "loss")),
    "plot_units_by_beta": lambda: plots.plot_units_by_beta([0.25, 1, 4, 16], [20, 20, 18, 4], [20, 20, 19, 7], 20, 0.005),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_projector_sized_with_12_pt_text_and_no_tab10(name):
    figure = FIGURES[name]()
    width_px = figure.get_size_inches()[0] * figure.dpi
    assert 900 <= width_px <= 1300, f"{name}: {width_px:.0f} px wide"
    small = {t.get_text(): t.get_fontsize() for t in figure.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 12}
    assert not small, f"{name}: text under 12 pt: {small}"
    lines = [to_hex(line.get_color()) for ax in figure.axes for line in ax.get_lines()]
    assert not set(lines) & TAB10


def test_draw_vae_names_every_part_of_the_model_and_both_terms():
    words = " ".join(t.get_text() for t in plots.draw_vae().findobj(Text))
    for part in ("encoder", "μ", "log σ²", "z = μ + σ ⊙ ε", "ε ~ N(0, I)", "decoder", "KL(q(z|x) ‖ N(0, I))",
                 "−log p(x|z)"):
        assert part in words, part
    assert "reconstruction error −log p(x|z)  +  KL" in words  # the loss, with the plus sign


def test_sign_runs_loss_axis_crosses_zero_and_labels_the_run_off():
    figure = plots.plot_sign_runs(runs(), keys=("kl", "loss"))
    kl_axis, loss_axis = figure.axes
    assert kl_axis.get_yscale() == "log" and loss_axis.get_yscale() == "symlog"
    ticks = loss_axis.get_yticks()
    assert 0 in ticks and min(ticks) <= -1e15, ticks
    assert len(figure.legends) == 1  # one legend above the panels, none covering the curves


def test_units_by_beta_plots_both_counts_on_integer_ticks():
    figure = plots.plot_units_by_beta([0.25, 1, 4, 16], [20, 20, 18, 4], [20, 20, 19, 7], 20, 0.005)
    ax = figure.axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[20, 20, 19, 7], [20, 20, 18, 4]]
    assert all(float(t).is_integer() for t in ax.get_yticks())


def test_latent_map_panels_share_the_same_square_of_z():
    model = model_2d()
    figure = plots.latent_map(model, torch.randn(200, 2), torch.arange(200) % 10)
    left, right = figure.axes[:2]
    assert left.get_xlim() == right.get_xlim() and left.get_ylim() == right.get_ylim()
