# %% [markdown]
# # 07 The latent space
#
# Previous: [06 The loss, right and wrong](06_loss_right_and_wrong.ipynb) · Next: [08 How good is it?](08_how_good.ipynb)
#
# A trained VAE turns every image into a distribution q(z|x) over a code z, and every code into an image. Here we
# look at the code.
#
# **Learning goals**
# - measure how much each latent dimension is used: its KL, and active units;
# - see what each dimension does, with sliders;
# - interpolate between two codes on a line and on an arc, and see why the line's middle is grey;
# - keep the prior p(z), the posterior p(z|x) and its approximation q(z|x) apart.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/07_latent_space.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F07_latent_space.ipynb)

# %% jupyter={"source_hidden": true} tags=["bootstrap"]
# Colab, or a Jupyter without vae_lite: install vae_lite from the repository (keeping the torch that
# is already there) and, on Colab, switch on the widget manager ipywidgets 8 needs. Elsewhere
# (`make lab`, Binder) this cell does nothing.
import importlib.util, os, subprocess, sys, tempfile

if importlib.util.find_spec("vae_lite") is None:
    repository = os.environ.get("VAE_LITE_REPOSITORY", "https://github.com/vae-lite/vae_lite")
    clone = os.path.abspath("..")  # a bare Jupyter started inside a clone: install that clone
    if not os.path.isfile(os.path.join(clone, "vae_lite", "__init__.py")):
        clone = os.path.abspath("vae_lite")  # Colab: clone the repository into the current folder
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "--quiet", "--depth=1", repository, clone], check=True)
    keep_torch = []
    if importlib.util.find_spec("torch") is not None:  # pip must not swap it for another build
        from importlib.metadata import version
        constraint = os.path.join(tempfile.gettempdir(), "vae_lite-keep-torch.txt")
        with open(constraint, "w") as f:
            f.write(f"torch=={version('torch')}\n")
        keep_torch = ["--constraint", constraint]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *keep_torch, "--editable", clone],
                   check=True)
    sys.path.insert(0, clone)  # importable in this kernel without a restart
if os.path.isfile(os.path.join("vae_lite", "notebooks", "jupytext.toml")):  # also after a restart
    os.chdir(os.path.join("vae_lite", "notebooks"))  # into the clone: data/ and benchmarks/ are there
if "google.colab" in sys.modules:
    from google.colab import output
    output.enable_custom_widget_manager()

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import vae_lite.check  # also imports vae_lite
from vae_lite import latent, plots, pretrained, widgets

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Data

# %%
data = vae_lite.load_dataset()
if QUICK:
    data = data.subset(train=3000, test=1000)
print(data)

# %% [markdown]
# ## Model
#
# The package's default VAE, trained by notebook 05's recipe. Pictures show grey-level images; scores and counts
# use binarized ones. All scores are in nats ([notebook 01](01_autoencoder.ipynb#Nats,-bits-and-the-length-of-a-code) defines the unit).

# %% tags=["nbval-check-output"]
model = pretrained.default_model(data)
print(f"{model.arch.upper()} encoder with hidden layers {list(model.encoder_hidden)}, decoder with "
      f"{list(model.decoder_hidden)}; {model.latent_dim} latent dimensions; "
      f"{model.likelihood} decoder" + (f" with s = {model.config['gaussian_std']}" if model.likelihood == "gaussian" else ""))

# %%
x_test = vae_lite.binarized_test_set(data)
test = vae_lite.evaluate(model, x_test)
print(f"test negative ELBO {-test['elbo']:.1f} nats = reconstruction error {-test['reconstruction']:.1f} "
      f"+ KL {test['kl']:.1f}  ({len(x_test)} binarized test images)")

# %% [markdown]
# ## Experiments
#
# ### Which dimensions does the model use?
#
# The ELBO's KL term is a sum over latent dimensions. Dimension d's share, averaged over the images, is what z_d
# costs.
#
# **Predict, then run.** How many of the model's latent dimensions carry information about the image? All of
# them about equally, or a few far more than the rest?
#
# A dimension with KL ≈ 0 has q(z_d|x) = N(0, 1), the prior, for every x: it tells nothing about x. Burda et al.
# (2015) call a dimension **active** when its encoder mean μ_d(x) = E_q[z_d] moves with the input:
# Var_x(μ_d(x)) > 0.01.
#
# Every active dimension costs over 0.005 nats: KL_d = ½ E_x[μ_d² + σ_d² − log σ_d² − 1] ≥ ½ E_x[μ_d²]
# ≥ ½ Var_x(μ_d), as σ² − log σ² − 1 ≥ 0. The converse fails: μ_d = 0, σ_d = 0.1 for every x is inactive, yet
# costs about 1.8 nats.
#
# *Figure: each dimension's mean KL (nats, log scale, largest first); inactive ones in grey; dashed: 0.005 nats.*

# %%
kl = latent.kl_per_dimension(model, x_test)
count, activity = latent.active_units(model, x_test)
active = activity > 0.01
plots.plot_kl_per_dimension(kl, activity, title=f"{count} of {model.latent_dim} latent dimensions are active")
plt.show()
order = torch.argsort(kl, descending=True)
top = max(1, model.latent_dim // 4)
share = (kl[order[:top]].sum() / kl.sum()).item()
print(f"KL per dimension adds up to {kl.sum().item():.2f} nats, the KL term of the ELBO above\nthe {top} dimensions with the "
      f"most KL carry {share:.0%} of it; the most used carries {kl.max().item():.2f} nats, the least used {kl.min().item():.4f}")
print(f"so, unequally: {count} of {model.latent_dim} are in use (active; the least used: {kl[active].min():.2f} nats) and "
      f"{model.latent_dim - count} are off" + (f", carrying {kl[~active].sum().item():.3f} nats together; the nearest to the "
      f"threshold 0.01 has Var_x(μ_d) = {activity[~active].max():.4f}" if (~active).any() else ""))

# %% [markdown]
# One inactive dimension lies near the threshold (printed): the count depends on it. Checks: the split matches
# the formula and sums to the ELBO's KL.

# %%
with torch.inference_mode():
    mu, logvar = model.encode(x_test)
by_hand = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(dim=0)  # one KL per dimension, averaged over x
assert torch.allclose(kl, by_hand, rtol=1e-4, atol=1e-6), \
    "latent.kl_per_dimension should be ½ (μ² + σ² − log σ² − 1) averaged over the images: check kl_standard_normal's formula"
assert abs(kl.sum().item() - test["kl"]) < 1e-3 * max(1.0, test["kl"]), \
    "the KL per dimension should add up to the ELBO's KL term: the KL is summed (not averaged) over d"
assert data.name != "mnist" or (~active).any(), "the default MNIST model should have inactive dimensions: the cells below look at them"
assert active.all() or kl[~active].sum() < 0.01 * kl.sum(), "the inactive dimensions should carry almost none of the KL"
assert data.name != "mnist" or ((activity > 0.005) & ~active).sum() == 1, "the prose: one inactive dimension near 0.01"

# %% [markdown]
# Why would the ELBO leave dimensions unused? A dimension's KL is charged for every image. It pays off only if
# z_d raises the reconstruction term by more. If not, training sets q(z_d|x) to the prior: the dimension has
# **collapsed** (losing many is **over-pruning**, Yeung et al. 2017). The exact likelihood does this too, where
# the data vary less than the decoder's noise σ² (probabilistic PCA; Lucas et al. 2019, notebook 10).

# %% [markdown]
# ### The latent explorer
#
# Sliders for up to ten dimensions, in the bar chart's order, from a test image's encoder mean. Without widgets:
# a still of the first five ("now": the dimension's current value).

# %%
explorer = widgets.LatentExplorer(model, x_test, start=data.test[0], images_for_kl=len(x_test))
assert data.name != "mnist" or set(explorer.dims[:5]) == {8, 14, 19, 25, 26}, "the prose: names the shipped model's sliders"
explorer

# %% [markdown]
# At 2, z[8] closes the 7 into a 0; at −2, z[26] makes it 3-like; z[25] sets the stroke's thickness, z[14] and
# z[19] the top bar. One dimension is not one feature: z[8] also thickens the stroke.
#
# Does the most-used dimension change this 7 more than the least-used one? Move each *by* 2 from the start code:

# %%
def change_along(d, start=explorer.start, step=2.0):  # mean pixel change as z_d moves by step (largest over starts)
    z = start.reshape(-1, model.latent_dim)  # one start code per row
    with torch.inference_mode():
        return (model.decode(z + step * torch.eye(model.latent_dim)[d]) - model.decode(z)).abs().flatten(1).mean(1).max().item()


most, least = int(order[0]), int(order[-1])
ratio = change_along(most) / change_along(least)
print(f"mean pixel change for a step of 2 along z[{most}] (most KL, {kl[most]:.2f} nats): {change_along(most):.4f}; along "
      f"z[{least}] (least KL, {kl[least]:.4f} nats): {change_along(least):.4f}, 1/{ratio:.0f} of it")
assert ratio > (30 if data.name == "mnist" else 4), "the most-used dimension should change the image far more"
off = [change_along(d, mu[:100]) for d in (~active).nonzero().flatten().tolist()]  # every inactive dimension
print(f"the largest change along any of the {len(off)} inactive dimensions, from 100 test codes: {max(off, default=0):.4f}")
assert max(off, default=0) < change_along(most) / 10, "the decoder should ignore every inactive dimension"

# %% [markdown]
# ### Interpolation
#
# What does the decoder draw between the codes μ(A) and μ(B) of two test images of different classes? Two paths:
# the straight line, and an arc. Why an arc? In many dimensions the codes lie on a **shell**, far from their
# centre. The line's middle cuts through the shell's hollow; the arc stays on the shell.

# %% [markdown]
# ### Exercise 1
#
# **Exercise 1 (10 min).** Complete `interpolate(model, x_a, x_b, n, spherical=False)`. Its first lines encode the
# images x_a and x_b to their means a and b, and take n evenly spaced t from 0 to 1. Return the decoded images
# (`model.decode`) at those t on
# - the line z(t) = (1 − t) a + t b;
# - with `spherical=True`, the arc (slerp; Shoemake 1985)
#   z(t) = [sin((1 − t)Ω) a + sin(tΩ) b] / sin Ω, where cos Ω = a·b / (|a| |b|). Where sin Ω ≈ 0, return the line.

# %% tags=["nbval-check-output"]
def interpolate(model, x_a, x_b, n, spherical=False):
    with torch.inference_mode():
        a, b = model.encode(torch.stack([x_a, x_b]))[0]  # the means of q(z|x_a) and q(z|x_b)
        t = torch.linspace(0, 1, n).unsqueeze(1)  # (n, 1): one t per row
        raise NotImplementedError  # your code here


vae_lite.check.interpolate(interpolate)

# %% jupyter={"source_hidden": true} tags=["nbval-check-output", "solution"]
# Solution: one batch of n codes on the path between the two means, decoded at once.
# (Run All runs this cell too: it replaces your interpolate. Skip it to see your own arc below.)
def interpolate(model, x_a, x_b, n, spherical=False):
    with torch.inference_mode():
        a, b = model.encode(torch.stack([x_a, x_b]))[0]  # the means of q(z|x_a) and q(z|x_b)
        t = torch.linspace(0, 1, n).unsqueeze(1)  # (n, 1): one t per row
        omega = torch.arccos(torch.cosine_similarity(a, b, dim=0).clamp(-1, 1))  # the angle between the two codes
        if not spherical or torch.sin(omega) < 1e-6:  # the line; also for parallel codes, where slerp divides by 0
            return model.decode((1 - t) * a + t * b)
        return model.decode((torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega))


assert vae_lite.check.interpolate(interpolate), "the solution should pass every case"
assert not interpolate(model, x_test[0], x_test[0], 3, spherical=True).isnan().any(), "A to A on the arc: no NaN"
# A demonstration of the prose after the grey-pixel figure (it cannot fail on your code):
# codes a, b of length 1 at angle Ω, |a + b| = √(2 + 2 cos Ω)
omega = torch.linspace(0.1, 3.0, 30)
sum_length = (2 + 2 * omega.cos()).sqrt()  # midway, the line weighs each by 1/2, the arc by sin(Ω/2) / sin Ω
assert torch.allclose(sum_length / 2, torch.cos(omega / 2)) and torch.allclose(
    sum_length * torch.sin(omega / 2) / torch.sin(omega), torch.ones(30)), "the prose: the middles' distances from 0"

# %% [markdown]
# ### Interpolation, measured
# **Predict, then run.** Your line and your arc through the VAE's codes, notebook 05's autoencoder's line, and a
# pixel cross-fade. What will each show midway?
#
# *Figure (once `interpolate` works): ten images from A (t = 0) to B (t = 1) along each path, then the cross-fade.*

# %%
labels = data.test_labels
first = int((labels == 1).nonzero()[0]) if labels is not None else 0
second = int((labels == 7).nonzero()[1]) if labels is not None else 1  # not the explorer's 7
a, b = data.test[first], data.test[second]
t = torch.linspace(0, 1, 10).reshape(10, 1, 1, 1)
autoencoder = pretrained.default_model(data, kind="autoencoder")  # notebook 05's: the VAE's sizes and recipe, no noise
ae_codes = autoencoder.encode(torch.stack([a, b])).detach()  # its code: one point per image, no μ and σ
ae_line = autoencoder.decode(torch.lerp(ae_codes[0], ae_codes[1], t.flatten(1))).detach()
try:
    line, arc = interpolate(model, a, b, 10), interpolate(model, a, b, 10, spherical=True)
except NotImplementedError:
    print("Complete `interpolate` in exercise 1 above, then re-run this cell.")
else:
    figure = plots.show_rows({"VAE, the line: decode (1 − t) μ(A) + t μ(B)": line, "VAE, the arc (slerp)": arc,
                              "autoencoder, the line between its codes": ae_line,
                              "cross-fade: (1 − t) A + t B": (1 - t) * a + t * b})
    plt.show()

# %% [markdown]
# The cross-fade superimposes two ghosts; it never passes through an in-between digit. Over many pairs of
# different classes, count each decoded image's **grey** pixels (0.2 < p < 0.8). The middle's **added grey**
# is its count minus its ends' mean.
#
# *Figure: per pair, the middle's (t = ½) added grey. Box: the middle half of the pairs; orange: the median;
# whiskers: out to 1.5 box widths; circles: pairs beyond.*

# %% jupyter={"source_hidden": true}
def grey(probs):  # per image: how many pixels are grey
    return ((probs > 0.2) & (probs < 0.8)).flatten(1).sum(1).float()


def median(values, k=slice(None)):  # the median over the pairs (k: a resample of them)
    return values[k].median().item()


def bootstrap(statistic, n):  # 95% interval of statistic(k) over 1,000 resamples k of the n pairs
    resamples = torch.randint(n, (1000, n), generator=torch.Generator().manual_seed(1))
    return torch.tensor([statistic(k) for k in resamples]).quantile(torch.tensor([0.025, 0.975])).tolist()


def ends_and_middle(net, codes, i, j):  # per pair i[k], j[k]: the ends' mean number of grey pixels, the line's middle's
    with torch.inference_mode():
        images = net.decode(torch.cat([codes[i], codes[j], (codes[i] + codes[j]) / 2]))
    at_a, at_b, middle = grey(images).split(len(i))
    return (at_a + at_b) / 2, middle


# %%
i, j = torch.randint(len(mu), (2, 220), generator=torch.Generator().manual_seed(0))  # random pairs,
i, j = torch.stack([i, j])[:, labels[i] != labels[j] if labels is not None else i != j]  # different classes
codes_ae = autoencoder.encode(x_test).detach()
(ends_vae, line_vae), (ends_ae, line_ae) = ends_and_middle(model, mu, i, j), ends_and_middle(autoencoder, codes_ae, i, j)
added = {"VAE, line": line_vae - ends_vae, "autoencoder, line": line_ae - ends_ae}  # middle − ends, per pair
try:  # the arc's middle (t = ½) from your interpolate, pair by pair
    arc_vae = grey(torch.stack([interpolate(model, x_test[p], x_test[q], 3, spherical=True)[1] for p, q in zip(i, j)]))
    added["VAE, arc"] = arc_vae - ends_vae
except NotImplementedError:
    print("Complete `interpolate` in exercise 1 above, then re-run this cell for the arc.")
figure, ax = plt.subplots(layout="constrained")
ax.boxplot(list(added.values())[::-1], tick_labels=list(added)[::-1], orientation="horizontal")
ax.axvline(0, color="0.5", ls="--")
ax.set_xlabel(f"grey pixels added at t = ½, per pair ({len(i)} pairs)")
plt.show()
print(f"grey pixels at the ends, median over the pairs: VAE {median(ends_vae):.1f}, autoencoder {median(ends_ae):.1f}")
print("per pair, the middle adds (median): " + "; ".join(f"{path} {median(more):+.0f}" for path, more in added.items()))

# %% jupyter={"source_hidden": true}
ends = bootstrap(lambda k: median(ends_vae, k) / median(ends_ae, k), len(i))  # VAE / autoencoder
more = bootstrap(lambda k: median(line_vae - ends_vae, k) - median(line_ae - ends_ae, k), len(i))  # VAE − autoencoder
on_arc = bootstrap(lambda k: median(arc_vae - ends_vae, k), len(i)) if "VAE, arc" in added else [math.nan] * 2
print(f"95% intervals, bootstrap over the {len(i)} pairs: the VAE's grey at the ends, {ends[0]:.1f} to {ends[1]:.1f} times the "
      f"autoencoder's; its middle on the line adds {more[0]:+.1f} to {more[1]:+.1f} more than the autoencoder's; on the arc, "
      f"{on_arc[0]:+.1f} to {on_arc[1]:+.1f} (half the line's {median(line_vae - ends_vae) / 2:.1f})")
if data.name == "mnist":  # the prose below
    assert 1.5 < ends[0] and ends[1] < 2.7, "the VAE's ends: about twice the autoencoder's grey"
    assert more[0] > 0, "on the line, the VAE's middle should add more grey pixels than the autoencoder's"
    assert "VAE, arc" not in added or on_arc[1] < median(line_vae - ends_vae) / 2, "on the arc, under half the line's grey"

# %% [markdown]
# At the ends, the VAE's images have about twice the autoencoder's grey pixels. On the line, its middle's added
# grey exceeds the autoencoder's; on the arc, it is under half the line's. All three hold for 95% intervals
# (printed) from a **bootstrap**: resample the pairs 1,000 times, keep the middle 95% of the statistic.
#
# Now the shell. A draw z of N(0, I) has |z|² = z₁² + … + z_d², a sum of d terms of mean 1, so |z| stays near √d.
# The density is highest at 0, but there is little volume near 0 (White 2016). We measure each model's codes
# from their mean, the centre (the autoencoder's, without a prior, need not centre on 0).

# %%
draws = torch.randn(10000, model.latent_dim, generator=torch.Generator().manual_seed(0))  # z ~ N(0, I), centre 0
centre_vae, centre_ae = mu.mean(dim=0), codes_ae.mean(dim=0)
for name, codes, centre in ((f"N(0, I)'s draws (√d = {math.sqrt(model.latent_dim):.2f})", draws, 0),
                            ("VAE codes", mu, centre_vae), ("autoencoder codes", codes_ae, centre_ae)):
    a, b = codes[i] - centre, codes[j] - centre  # pairs seen from the centre (of the draws: any two)
    low, typical, high = (codes - centre).norm(dim=1).quantile(torch.tensor([0.05, 0.5, 0.95])).tolist()
    cosine, halfway = torch.cosine_similarity(a, b).median().item(), ((a + b) / 2).norm(dim=1).median().item()
    print(f"{name}: {low:.2f} to {high:.2f} from the centre (5th to 95th percentile); pairs: median cosine {cosine:+.2f}, "
          f"the line's middle at {halfway:.2f} (median; median code/√2: {typical / math.sqrt(2):.2f})")
    shell = high < 1.7 * low and abs(cosine) < 0.1 and halfway < low and abs(halfway * 2 ** 0.5 / typical - 1) < 0.1
    assert data.name != "mnist" or shell, f"the prose: {name}: a shell (95th < 1.7 × 5th percentile), pairs ⟂, middle at ~1/√2"

# %% [markdown]
# Both models' codes form a shell too, and two codes of different classes are nearly orthogonal. For equally long
# codes at angle Ω, the line's middle lies cos(Ω/2) as far out as its ends: 1/√2 at 90°. The median middle lies
# nearer the centre than 95% of the codes: in the shell's hollow. The arc's middle, (a + b) / (2 cos(Ω/2)),
# points the same way but lies as far out as its ends, and adds under half the line's grey. So much of the
# line's added grey comes from the hollow.

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Calling N(0, I) the posterior. **Wrong:** `p(z|x) ~ N(0, I)`.
# > **Right:** N(0, I) is the **prior** p(z), the same for every image. The **posterior** p(z|x) depends on x;
# > the encoder's q(z|x) = N(μ(x), diag σ²(x)) approximates it. On the dimensions the model uses, q(z|x) is
# > narrower than the prior. On the dimensions this model does not use, q(z|x) is the prior (checked below).

# %%
sigma = (0.5 * logvar).exp()  # mu, logvar: the encoder's outputs on the test images (the checks above)
narrow, wide = sigma[:, order[:top]].mean().item(), sigma[:, order[-top:]].mean().item()
print(f"mean σ of q(z|x) on the {top} dimensions with the most KL: {narrow:.2f}; with the least: {wide:.2f} (the prior's σ: 1)")
assert narrow < min(0.95, wide), "on the dimensions the model uses most, q(z|x) should be narrower than the prior and than on the least used"
if (~active).any():  # which dimensions are inactive depends on the model; the KL printout says how many
    print(f"on the {int((~active).sum())} inactive dimensions: mean σ {sigma[:, ~active].mean().item():.2f}, "
          f"mean |μ| {mu[:, ~active].abs().mean().item():.3f}: q(z_d|x) is the prior there")
    assert sigma[:, ~active].mean() > 0.8 and mu[:, ~active].abs().mean() < 0.1, "inactive dimensions' q(z|x) should be ≈ N(0, 1)"

# %% [markdown]
# ## Summary
# - The KL splits unequally over the latent dimensions. One with KL ≈ 0 is inactive: q(z_d|x) is the prior, and
#   the decoder ignores it. The ELBO switches off a dimension whose information does not repay its KL.
# - The codes lie on a shell. The line's middle falls inside it and decodes grey; on the arc, the VAE's middle
#   adds under half as much. At the ends, the VAE's images are greyer (one model each).
#
# Next: [08 How good is it?](08_how_good.ipynb) measures the model.

# %% [markdown]
# ## Optional
#
# Nine sections, each with its class minutes. For a second class (about 40 min):
# - [σ or σ²?](#Optional:-σ-or-σ²?), 2 min: samples of one q(z|x) tell the variance from the standard deviation.
# - [Why the middle is grey](#Optional:-why-the-middle-is-grey), 16 min: the line's middle pushed out of the
#   hollow, and what each decoder draws near its centre.
# - [Active units by hand](#Optional:-active-units-by-hand), 6 min: an exercise, the active-unit count.
# - [A 2-latent model](#Optional:-a-2-latent-model,-its-latent-space-in-one-picture), 7 min: a model whose whole
#   latent space fits in one picture.
# - [Classes on the 2-D map](#Optional:-classes-on-the-2-D-map), 5 min: how well the codes tell the classes apart.
# - [The posterior on the 2-D map](#Optional:-the-posterior-p(z|x)-on-the-2-D-map), 4 min: the exact p(z|x)
#   beside the encoder's q(z|x).
#
# For reading at home:
# - [What a dimension's KL pays for](#Optional:-what-a-dimension's-KL-pays-for), 3 min: the KL as information
#   about x plus the pooled codes' distance from the prior.
# - [More to try](#Optional:-more-to-try), 9 min: seven questions to explore, with the interpolation explorer.
# - [Which gap is larger?](#Which-gap-is-larger?), 17 min: the approximation and amortization gaps, bounded
#   for three images.

# %% [markdown]
# ## Optional: σ or σ²?
#
# > **Common mistake.** Writing `σ = E[(z − μ)²]`. **Wrong:** that is the variance σ². **Right:** σ² = E[(z − μ)²],
# > σ = √σ². The encoder outputs `logvar` = log σ², so σ = exp(logvar / 2), which `reparameterize` multiplies ε
# > by. Below, samples of one q(z|x) tell which is which.

# %%
samples = vae_lite.reparameterize(mu[0].expand(20000, -1), logvar[0].expand(20000, -1))
variance = (samples - mu[0]).pow(2).mean(dim=0)
print(f"dimension z[{most}]: E[(z - μ)²] = {variance[most].item():.4f}, exp(logvar) = σ² = {logvar[0, most].exp().item():.4f} "
      f"(apart by {abs(variance[most] / logvar[0, most].exp() - 1).item():.2%}, sampling error about "
      f"{math.sqrt(2 / len(samples)):.0%}), σ = {sigma[0, most].item():.4f}")
assert torch.allclose(variance, logvar[0].exp(), rtol=0.05), \
    "E[(z - μ)²] should be the variance σ² = exp(logvar): z = μ + σ ε needs σ = exp(logvar / 2), not σ²"


# %% [markdown]
# ## Optional: why the middle is grey
#
# The core part found the codes on a shell and the line's middle inside it, in a hollow. Does the VAE's decoder
# also add more grey between classes? Push each model's middle out of the hollow, as far from the centre as its
# ends, and count its added grey (its grey pixels minus its ends' mean):

# %%
def pushed_out(codes, centre):  # per pair: the line's middle, moved out to its ends' mean distance from the centre
    a, b = codes[i] - centre, codes[j] - centre
    return centre + (a + b) / (a + b).norm(dim=1, keepdim=True) * (a.norm(dim=1) + b.norm(dim=1)).unsqueeze(1) / 2


with torch.inference_mode():
    out_vae, out_ae = grey(model.decode(pushed_out(mu, centre_vae))), grey(autoencoder.decode(pushed_out(codes_ae, centre_ae)))
fewer = bootstrap(lambda k: median(out_vae - ends_vae, k) - median(out_ae - ends_ae, k), len(i))  # VAE − autoencoder
print(f"pushed out, the middle adds: VAE {median(out_vae - ends_vae):+.0f} grey pixels, autoencoder "
      f"{median(out_ae - ends_ae):+.0f}; VAE − autoencoder {fewer[0]:+.0f} to {fewer[1]:+.0f} (95% interval over the pairs)")
assert data.name != "mnist" or fewer[1] < 0 and all(median(out - ends) < 0.6 * median(line - ends) for out, line, ends in (
    (out_vae, line_vae, ends_vae), (out_ae, line_ae, ends_ae))), "the prose: pushed out, less grey; the VAE's the least"

# %% [markdown]
# Out of the hollow, each middle's added grey is at most about half its line's, and the VAE's is smaller than the
# autoencoder's (the interval lies below 0). Both models' middles lie equally deep in their hollows, about 1/√2 as
# far out as a typical code (printed in the core part). So the VAE's larger added grey on the line comes from what
# its decoder draws inside the hollow, not from a decoder that adds more grey between classes. (One network each:
# the intervals resample pairs, not training runs. The grey band 0.2–0.8 is one choice.)

# %% [markdown]
# Why does the VAE's decoder draw grey inside the hollow, near 0, when 0 is the prior's most likely z? Three
# steps, each measured below:
# 1. The codes μ(x) lie well inside the prior's shell at √d: inactive dimensions keep μ ≈ 0, and on the active
#    ones the mean z² = E[μ²] + E[σ²] is near 1 (05: the KL pulls the pooled codes toward the prior's unit
#    variance), and about a fifth of it is σ², not μ².
# 2. The decoder learnt from z = μ + σε, further out still. (Counted on the active dimensions: on the inactive
#    ones z is the prior's noise, which the decoder ignores.)
# 3. The line's middle lies about |μ|/√2 from 0, nearer 0 than the codes μ and than z: there the decoder falls
#    back toward the average digit (z = 0, below).

# %%
low, typical_mu, high = mu.norm(dim=1).quantile(torch.tensor([0.05, 0.5, 0.95])).tolist()  # from 0, all test codes
halfway = ((mu[i] + mu[j]) / 2).norm(dim=1).median().item()  # the line's middle, from 0
mean_mu2 = mu[:, active].pow(2).mean().item()  # E[μ²] on the active dimensions
mean_var = sigma[:, active].pow(2).mean().item()  # E[σ²]
z_norms = vae_lite.reparameterize(mu, logvar)[:, active].norm(dim=1)  # the decoder's inputs in training
near, typical_z = z_norms.quantile(torch.tensor([0.01, 0.5])).tolist()
further = z_norms.pow(2) - mu[:, active].pow(2).sum(1)  # |z|² − |μ|²: E = Σσ² (independent noise)
print(f"distance from 0, test codes' 5th, 50th, 95th percentiles: {low:.2f}, {typical_mu:.2f}, {high:.2f} "
      f"(√d {math.sqrt(model.latent_dim):.2f}; over the {count} active ones, {math.sqrt(count):.2f})")
print(f"on the active dimensions E[μ²] {mean_mu2:.2f} + E[σ²] {mean_var:.2f}")
print(f"z = μ + σε on the active dimensions: median {typical_z:.2f}, 99% beyond {near:.2f}")
print(f"the {len(i)} pairs: the line's middle, median {halfway:.2f} from 0 (|μ|/√2 = {typical_mu / math.sqrt(2):.2f})")

# %% jupyter={"source_hidden": true}
if data.name == "mnist":  # the prose above, step by step
    assert typical_mu < 0.8 * math.sqrt(model.latent_dim), "step 1: the shell should lie well inside √d"
    assert 0.15 < mean_var / (mean_mu2 + mean_var) < 0.25, "step 1: E[σ²] should be about a fifth of the mean z²"
    sum_var = sigma[:, active].pow(2).sum(1).mean()  # Σσ² on the active dimensions, averaged over x
    # step 2 is a demonstration (E|z|² = |μ|² + Σσ² holds for any encoder), not a check
    assert abs(further.mean() / sum_var - 1) < 0.1, "step 2: z = μ + σε lies further out, |z|² ≈ |μ|² + Σσ²"
    assert abs(halfway * math.sqrt(2) / typical_mu - 1) < 0.1, "step 3: the middle should lie about |μ|/√2 from 0"
    assert halfway < min(0.9 * low, near), "step 3: the middle should lie nearer 0 than the codes μ and than z"

# %% [markdown]
# Where the two models differ: where their codes centre, the middles' grey in proportion to their ends', and what
# each decoder draws at its centre.

# %%
with torch.inference_mode():  # each decoder at its own centre, the mean of its codes (the VAE's: near z = 0)
    at_centre = {"VAE": model.decode(centre_vae[None]), "autoencoder": autoencoder.decode(centre_ae[None])}
print(f"distance of the codes' mean from 0: VAE {centre_vae.norm():.2f}, autoencoder {centre_ae.norm():.2f} "
      f"(a typical code's: {typical_mu:.2f} and {codes_ae.norm(dim=1).median():.2f})")
for name, ends, middle, out in (("VAE", ends_vae, line_vae, out_vae), ("autoencoder", ends_ae, line_ae, out_ae)):
    print(f"{name}, the middle: {median(middle):.0f} grey pixels on the line, {median(out):.0f} pushed out; ×"
          f"{median(middle) / median(ends):.1f} and ×{median(out) / median(ends):.1f} the ends' {median(ends):.1f}")
like_mean = {name: torch.corrcoef(torch.stack([image.flatten(), data.train.mean(dim=0).flatten()]))[0, 1].item()
             for name, image in at_centre.items()}  # correlation with the mean training image
print("decoded at the centre: " + "; ".join(f"{name} {grey(image).item():.0f} grey pixels, r = {like_mean[name]:.3f} "
                                            f"with the mean image" for name, image in at_centre.items()))

# %% jupyter={"source_hidden": true}
if data.name == "mnist":  # the prose below
    assert median(line_vae) / median(ends_vae) < median(line_ae) / median(ends_ae), \
        "on the line, the autoencoder's middle should gain more grey in proportion (×, printed)"
    assert median(out_vae) / median(ends_vae) < median(out_ae) / median(ends_ae), "… and pushed out too"
    assert centre_vae.norm() < 0.2 * typical_mu and centre_ae.norm() > 0.2 * codes_ae.norm(dim=1).median(), \
        "the VAE's codes should centre on about 0, the autoencoder's not"
    assert median(line_vae - out_vae) > median(line_ae - out_ae), "pushing out should take more grey off the VAE's"
    assert all(median(v) > median(e) for v, e in ((ends_vae, ends_ae), (line_vae, line_ae), (out_vae, out_ae))), \
        "the VAE's images should have more grey pixels than the autoencoder's: at the ends, on the line, pushed out"
    assert grey(at_centre["VAE"]).item() > median(line_vae) and like_mean["VAE"] > 0.95, "the VAE's centre: ≈ mean image"
    assert grey(at_centre["autoencoder"]).item() > median(line_ae) and like_mean["autoencoder"] > 0.85, \
        "the autoencoder's centre: greyer than its middles, like the mean image too"
    assert grey(at_centre["VAE"]) > grey(at_centre["autoencoder"]) and like_mean["VAE"] > like_mean["autoencoder"], \
        "at the centre, the VAE's decoder should fall back toward the mean image more than the autoencoder's"

# %% [markdown]
# The VAE's codes centre on about 0, the autoencoder's do not (that is why the core part measured each from its
# own centre). On the line and pushed out alike, the autoencoder's middle gains more grey in proportion to its
# ends (×, printed). Pushing out takes more grey off the VAE's middle. At its centre, each decoder falls back toward
# the mean image, the VAE's more: more grey pixels and a higher correlation (printed). This is partly built in:
# both decoders' output bias started at the mean image (notebook 05).
#
# Two measures, two answers. In added grey, out of the hollow, the VAE's middle gains less than the
# autoencoder's. In grey pixels per image, the VAE's images have more everywhere: at the ends, on the line, and
# pushed out (printed). So the VAE's decoder is the blurrier one, but not because it blurs more between classes. A
# likely reason, not measured here: it learnt from z = μ + σε, a cloud around each code, and nearby clouds belong
# to other images. The image that fits them all best is their average: grey where they disagree.


# %% [markdown]
# ## Optional: what a dimension's KL pays for
#
# Let q(z_d) = E_x q(z_d|x), all images' codes pooled: the aggregate posterior ([06's optional
# part](06_loss_right_and_wrong.ipynb#Information,-and-the-distance-from-the-prior)). Add and subtract log q(z_d)
# inside dimension d's mean KL (Hoffman & Johnson 2016):
#
# $$\mathbb{E}_x \mathrm{KL}\big(q(z_d|x)\,\|\,p(z_d)\big) = \underbrace{\mathbb{E}_x \mathrm{KL}\big(q(z_d|x)\,\|\,q(z_d)\big)}_{I_q(x;\, z_d)} + \mathrm{KL}\big(q(z_d)\,\|\,p(z_d)\big) \;\ge\; I_q(x; z_d).$$
#
# I_q is the mutual information under q: what z_d tells about which image it came from. So a dimension's KL is
# what it tells about x plus how far its pooled codes lie from the prior, and so at least what it tells about x.

# %% jupyter={"source_hidden": true}
# The split, shown on the most used dimension and 1,000 images (a demonstration: it holds for any codes,
# as q(z_d) is their mixture), summed on a grid
mean_d, sd_d = mu[:1000, most, None].double(), sigma[:1000, most, None].double()  # one row per image
z_d = torch.linspace(-6, 6, 1201, dtype=torch.float64)
step = (z_d[1] - z_d[0]).item()
log_q_x = torch.distributions.Normal(mean_d, sd_d).log_prob(z_d)  # log q(z_d|x), images × grid
log_q = log_q_x.logsumexp(dim=0) - math.log(len(mean_d))  # log q(z_d), the aggregate posterior
information = (log_q_x.exp() * (log_q_x - log_q)).sum(dim=1).mean() * step  # E_x KL(q(z_d|x) ‖ q(z_d))
marginal = (log_q.exp() * (log_q - torch.distributions.Normal(0.0, 1.0).log_prob(z_d))).sum() * step
kl_d = (0.5 * (mean_d.pow(2) + sd_d.pow(2) - sd_d.pow(2).log() - 1)).mean()  # the same images' mean KL
assert abs(information + marginal - kl_d) < 1e-4 * kl_d, "I_q + KL(q(z_d) ‖ p(z_d)) should be the mean KL"


# %% [markdown]
# ## Optional: active units by hand
#
# **Exercise 2 (5 min).** `latent.active_units` counted the active dimensions above. Write the count yourself:
# complete `active_unit_count`. Given the encoder means `mu` of N images (an N × d tensor), return how many of the
# d dimensions have a variance across the images above `threshold`.

# %% tags=["nbval-check-output"]
def active_unit_count(mu, threshold=0.01):
    raise NotImplementedError  # your code here


vae_lite.check.active_unit_count(active_unit_count)

# %% jupyter={"source_hidden": true} tags=["nbval-check-output", "solution"]
# Solution: the variance of each column (over the images, dim=0), compared with the threshold.
def active_unit_count(mu, threshold=0.01):
    return int((mu.var(dim=0) > threshold).sum())


assert vae_lite.check.active_unit_count(active_unit_count), "the solution should pass every case"
assert active_unit_count(mu) == count, "it should agree with latent.active_units on the default model"


# %% [markdown]
# ## Optional: a 2-latent model, its latent space in one picture
#
# With only two latent dimensions the code can be drawn. The next cell trains such a model: allow half a minute.

# %%
from IPython.display import clear_output
from matplotlib import patheffects
from matplotlib.lines import Line2D

EPOCHS_2D = max(1, round((150 if QUICK else 2400) / math.ceil(len(data.train) / 128)))  # ≈ these steps
torch.manual_seed(0)
model_2d = vae_lite.VAE(data.image_shape, latent_dim=2)
plain = dict(epochs=EPOCHS_2D, batch_size=128, lr=1e-3, schedule="constant", warmup=0)  # fit's defaults
threads = torch.get_num_threads()  # another thread count sums in another order, rounds otherwise: other codes
torch.set_num_threads(threads if QUICK else 2)  # class mode: 2 threads, as for the stored pictures
history_2d = vae_lite.fit(model_2d, data, progress=True, **plain)
torch.set_num_threads(threads)
clear_output()  # the progress bar has done its job (a stored one would read 0 %)
print(f"2-latent model: test negative ELBO {-history_2d.last['test_elbo']:.1f} nats")
for name, recipe in (("2-latent", plain), (f"{model.latent_dim}-latent default", pretrained.TRAINING)):
    print(f"{name} training: " + ", ".join(f"{key} {value}" for key, value in recipe.items()))

# %% [markdown]
# Do not set this score beside the default model's: the two models differ in more than the latent size. The
# 2-latent model had a plainer recipe, fewer steps and no mean-image start (notebook 05).

# %% [markdown]
# *Figure: left, the test codes μ(x) by class, q(z|x) at ±1σ for the first twelve test images (black), the
# prior at 1σ and 2σ (dashed); right, the decoded image at each z, on the same axes.*

# %%
means_2d, logvars_2d = latent.encoder_means_and_logvars(model_2d, x_test)
names = vae_lite.data.class_names(data) if labels is not None else None
sigmas_2d = (0.5 * logvars_2d).exp()
figure = plots.latent_map(model_2d, means_2d, labels, names=names, sigmas=sigmas_2d)
for shape in figure.axes[0].patches:  # ellipses, circles: thicker, edged in white, under the class names (10)
    shape.set(lw=2.5, path_effects=[patheffects.withStroke(linewidth=5, foreground="white")], zorder=9.5)
figure.legend(handles=[Line2D([], [], color="black", lw=2.5, label="q(z|x), ±1σ: the first 12 test images"),
                       Line2D([], [], color="0.3", lw=2.5, ls="--", label="prior, 1σ and 2σ")],
              loc="outside lower center", ncol=2)
plt.show()
prior_outside = 1 - math.erf(3 / math.sqrt(2)) ** 2  # P(a 2-D N(0, I) sample falls outside [−3, 3]²)
outside = (means_2d.abs() > 3).any(dim=1).float().mean().item()
print(f"the dashed circles hold {1 - math.exp(-1 / 2):.0%} and {1 - math.exp(-2):.0%} of the prior's mass (2-D: 1 − exp(−r²/2))")
print(f"test codes beyond ±3, not drawn: {outside:.1%} (samples of the prior N(0, I): {prior_outside:.2%}; "
      f"at most {2 * prior_outside:.2%} of the means if the aggregate q(z) were N(0, I))")
assert data.name != "mnist" or outside > 2 * prior_outside, "the prose says more codes lie beyond ±3 than the prior allows"

# %% [markdown]
# More codes lie beyond ±3 than prior samples would. They are means, not samples of the aggregate q(z) =
# E_x[q(z|x)], but a mean beyond 3 in a coordinate puts at least half of its q(z|x) beyond 3 there. So if q(z)
# were N(0, I), at most twice the prior's share of means would lie beyond ±3 (printed): q(z) is not the prior.


# %% [markdown]
# ## Optional: more to try
#
# 1. In the latent explorer, find a dimension that changes the slant of the digit, and one that changes its
#    width. Are they the ones with the largest KL? Why should one axis mean anything? The prior looks alike in
#    every direction; the encoder's diagonal σ singles out the axes (Rolinek et al. 2019).
# 2. In the interpolation explorer below (a slider for t; menus pick A and B), walk between two images of the
#    *same* class and between two different classes. Where on the line does the image switch class?
# 3. Train the 2-latent model with `beta=4` and redraw both pictures. What happens to the clusters?
# 4. On the arc the middle still gains some grey. Is that the decoder's doubt between two classes? Count it for
#    pairs of the *same* class.
# 5. Do prior draws land where no code is? That needs holes rather than tails: look for empty regions inside
#    the scatter's square of the 2-latent model, and decode a z there.
# 6. `plots.manifold_grid(model_2d, n=8)` (`limits=None`) decodes Kingma & Welling's grid: z at the prior's
#    quantiles, so each image stands for the same prior mass. Which classes take more room than on the ±3 grid?
# 7. The IWAE (Burda et al. 2015; notebook 10) trains the same model on a tighter bound: the log of an average of
#    k importance weights, in place of the ELBO's average of logs.
#    Notebook 10's IWAE kept more active units than its VAE after the same epochs, but fewer at equal CPU time
#    (one seed each; the stored runs, checked below). The two pairs also differ in networks and recipes, and in
#    the equal-CPU pair only the VAE had a KL warm-up (printed below). What would you run before saying the IWAE
#    uses more of its latent space?

# %%
# Without widgets: A, eight points, B; from the 7 above to another 7 (item 2), not the pair drawn above.
other_7 = int((labels == 7).nonzero()[2]) if labels is not None else 2
widgets.InterpolationExplorer(model, data, first=second, second=other_7)

# %% jupyter={"source_hidden": true}
# Item 7: notebook 10's stored pairs of runs (MNIST, 50 latent dimensions), from the clone's results/
import inspect, json, pathlib

RESULTS = pathlib.Path(vae_lite.__file__).resolve().parent.parent / "results"
same_epochs = json.loads((RESULTS / "iwae.json").read_text())  # notebook 10, part 3: benchmarks/iwae.py, no warm-up
frontier = json.loads((RESULTS / "frontier.json").read_text())  # notebook 10's EQUAL_CPU pair is two of these runs
equal_cpu = [frontier[run] for run in ("best-h512x2-l50-b128-one150-w10-mean", "iwae5-h512x2-l50-b128-one58-mean")]
vae_same, iwae_same = (same_epochs["models"][m]["active_units"] for m in ("vae", "iwae"))
vae_cpu, iwae_cpu = (run["active_units"] for run in equal_cpu)
print(f"active units of notebook 10's VAE and IWAE: after the same epochs {vae_same}, {iwae_same}; "
      f"at equal CPU time {vae_cpu}, {iwae_cpu}")
same = same_epochs["config"]
cpu_vae, cpu_iwae = (run["config"] for run in equal_cpu)
print(f"same epochs: {same['epochs']} epochs each, IWAE k = {same['k']}; hidden {same['hidden']}, "
      f"batch {same['batch_size']}, lr {same['lr']}, no warm-up")
print(f"equal CPU: hidden {cpu_vae['hidden']}, batch {cpu_vae['batch']}, lr {cpu_vae['lr']} ({cpu_vae['schedule']}), "
      f"output bias from the {cpu_vae['out_bias']} image")
print(f"equal CPU: KL warm-up {cpu_vae['warmup']:g} epochs for the VAE, {cpu_iwae['warmup']:g} for the IWAE")
print("equal CPU: training CPU seconds " + ", ".join(f"{run['train_cpu_seconds']:.0f} ({run['config']['epochs']} epochs, "
                                                    f"{run['threads']} thread)" for run in equal_cpu))
assert iwae_same > vae_same, "the prose: after the same epochs, the IWAE kept more active units than the VAE"
assert iwae_cpu < vae_cpu, "the prose: at equal CPU time, the IWAE kept fewer"
assert same["hidden"] != cpu_vae["hidden"], "the prose: the two pairs differ in networks"
no_warmup = inspect.signature(vae_lite.fit).parameters["warmup"].default == 0  # benchmarks/iwae.py: fit's default
assert "warmup" not in same and no_warmup, "the prose: the same-epochs pair had no KL warm-up"
assert cpu_iwae["warmup"] == 0 < cpu_vae["warmup"], "the prose: in the equal-CPU pair, only the VAE had a warm-up"
shared = ("hidden", "batch", "lr", "schedule", "out_bias")
assert all(cpu_vae[key] == cpu_iwae[key] for key in shared), "the equal-CPU pair should share its network and recipe"


# %% [markdown]
# ## Optional: classes on the 2-D map
#
# How well do the 2-latent model's codes separate the classes? Ask a nearest-class-mean rule (labels, so far only
# colours, enter now): each class's centre is fitted on training images' codes, and the rule is scored on the test
# codes. The same rule on the default model's means, over its active dimensions, tells whether its codes group by
# class too.

# %%
if labels is not None:  # quick mode trains the 2-latent model for seconds only, so the assert asks for less
    x_fit, y_fit = vae_lite.binarize(data.train[:10000], torch.Generator().manual_seed(0)), data.train_labels[:10000]
    fit_2d = latent.encoder_means_and_logvars(model_2d, x_fit)[0]  # training codes: the centres are fitted on these
    centres = torch.stack([fit_2d[y_fit == c].mean(dim=0) for c in range(10)])
    predicted = torch.cdist(means_2d, centres).argmin(dim=1)  # scored on the test codes
    accuracy, chance = (predicted == labels).float().mean().item(), labels.bincount().max().item() / len(labels)
    print(f"nearest-class-mean accuracy on the 2-D test codes: {accuracy:.0%} (chance, always the largest class: "
          f"{chance:.0%}); {centres.numel()} numbers fitted on {len(fit_2d)} training codes")
    assert accuracy > (0.2 if QUICK else 0.35), "the 2-D codes should separate the classes far better than chance"
    fit_default = latent.encoder_means_and_logvars(model, x_fit)[0][:, active]  # the default model's, active dimensions
    centres = torch.stack([fit_default[y_fit == c].mean(dim=0) for c in range(10)])
    accuracy_default = (torch.cdist(mu[:, active], centres).argmin(dim=1) == labels).float().mean().item()
    print(f"the same rule on the default model's means over its {count} active dimensions: {accuracy_default:.0%} "
          f"({centres.numel()} numbers fitted on the same training images)")
    assert accuracy_default > 2 * chance, "the default model's codes should group by class too"

# %% [markdown]
# *Figure: the default model's test means μ(x) on its active dimensions, projected on their two directions of
# largest variance (PCA), by class. Classes that overlap here may lie apart in the other directions.*

# %%
centred = mu[:, active] - mu[:, active].mean(dim=0)
directions = torch.linalg.svd(centred, full_matrices=False).Vh[:2]  # the two of largest variance
figure = plots.latent_scatter(centred @ directions.T, labels, names=names)
figure.axes[0].set(xlabel="first principal direction", ylabel="second principal direction")
plt.show()


# %% [markdown]
# ## Optional: the posterior p(z|x) on the 2-D map
#
# With two latent dimensions, the exact posterior p(z|x) = p(x|z) p(z) / p(x) can be computed on a grid and set
# beside the encoder's q(z|x). Cremer et al. (2018) split the ELBO's gap at q*, the best diagonal Gaussian for
# this one image:
#
# log p(x) − ELBO(q) = [log p(x) − ELBO(q*)] + [ELBO(q*) − ELBO(q)].
#
# The first bracket is the **approximation gap**: what no diagonal Gaussian can fit. The second is the
# **amortization gap**: what the encoder loses by serving every image with one network instead of a fit per image.
#
# *Figure: the 2-D map above, with the exact p(z|x) of test images a–c in red, zoomed below. Red is drawn where
# p(z|x) falls to e^(−1/2) of its peak, the height of q's ±1σ ellipse (black). Red tilted or mis-shaped: an
# approximation gap. Red off centre, or black wider than red: an amortization gap (for a Gaussian p(z|x), q* is
# centred on it and never wider: checked below). This model trained only briefly, so its gaps need not be
# typical; another seed, CPU or thread count trains another model, with other pictures.*

# %%
def log_joint(z, images=x_test[:3]):  # log p(x|z) + log p(z) of images a–c: log p(z|x) + const.
    with torch.inference_mode():  # 2,000 z at a time: all at once took 0.2 GB more of the kernel
        log_px_z = torch.cat([torch.stack([model_2d.log_likelihood(x.expand(len(part), *x.shape), part)
                                           for x in images]) for part in z.split(2000)], dim=1)
    return log_px_z + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)


figure = plots.latent_map(model_2d, means_2d, labels, names=names, sigmas=sigmas_2d, posteriors=log_joint)
for shape in figure.axes[0].patches:  # as in the map above: thicker, edged in white
    shape.set(lw=2.5, path_effects=[patheffects.withStroke(linewidth=5, foreground="white")], zorder=9.5)
plt.show()

# %% [markdown]
# ### Which gap is larger?
#
# The picture shows which gaps there are, not their sizes. q* would need a fit per image; instead, bound both
# gaps in three steps:
# 1. log p(x) = log ∫ p(x, z) dz, summed over a grid. Summed again on a finer grid over each p(z|x), it should
#    not move (printed).
# 2. The ELBO of the encoder's q, and of a stand-in q̃ for q*: centred on p(z|x)'s mean, with σ_i² = 1/(Σ⁻¹)_ii
#    from p(z|x)'s covariance Σ. For a Gaussian p(z|x), q̃ is q* (Bishop 2006, §10.1.2; checked in a hidden
#    cell). Each ELBO from 1,000 draws.
# 3. ELBO(q*) is at least the larger of the two ELBOs. So the approximation gap is at most log p(x) minus it,
#    and the amortization gap at least the rest. A verdict needs the margin to exceed three Monte Carlo
#    standard errors. Which ELBO is larger is decided on one set of draws, and both are estimated on another:
#    the larger of two noisy estimates would lean high.
#
# First, is p(z|x) near Gaussian, so that q̃ is near q*? Two checks. A 2-D Gaussian holds 1 − e^(−1/2) of its
# mass inside its red line: sum p(z|x) there, on a fine grid. And a Gaussian falls steadily from its peak: follow
# p(z|x) toward q's mean μ(x). A dip, then a rise, says p(z|x) is not Gaussian: it has a second peak, or a curved
# ridge. The first check is necessary, not sufficient: an image can pass it and fail the second.

# %%
side = torch.linspace(-4.5, 4.5, 121)  # wide enough to hold a–c's posteriors, and fine enough to sum them
grid, step = torch.cartesian_prod(side, side), (side[1] - side[0]).item()
log_grid = log_joint(grid)
log_px = log_grid.logsumexp(dim=1) + 2 * math.log(step)  # log ∫ p(x, z) dz: sum × area
for m, log_w in enumerate(log_grid):  # the sum again, on 61 × 61 points where p(z|x) is above e^(−15) of its peak
    near = grid[log_w > log_w.max() - 15]
    u, v = (torch.linspace(lo - step, hi + step, 61) for lo, hi in zip(*(near.aminmax(dim=0)[k].tolist() for k in (0, 1))))
    finer = log_joint(torch.cartesian_prod(u, v), x_test[m:m + 1])[0].logsumexp(dim=0) + math.log((u[1] - u[0]) * (v[1] - v[0]))
    print(f"{'abc'[m]}: log p(x) {log_px[m]:.3f} on the grid above (step {step:.3f}), {finer:.3f} on a grid of step "
          f"{u[1] - u[0]:.3f} × {v[1] - v[0]:.3f} over its p(z|x)")
    assert data.name != "mnist" or abs(finer - log_px[m]) < 0.01, \
        "log p(x) should not move on a finer grid: is the grid fine enough to sum p(x, z)?"  # other data: see below

# %%
held, peaks = [], []  # per image: p(z|x)'s mass inside its red line, and its peak
for m, log_w in enumerate(log_grid):
    red = grid[log_w > log_w.max() - 0.5]  # inside the red line on the wide grid: few for b's
    for margin in (0.15, 0.3, 0.6, 1.2):  # two grid steps around it, wider until the fine grid holds it all
        lo, hi = red.min(dim=0).values - margin, red.max(dim=0).values + margin
        u, v = (torch.linspace(start, stop, 61) for start, stop in zip(lo.tolist(), hi.tolist()))
        fine = torch.cartesian_prod(u, v)  # a fine grid over the red line
        log_p = log_joint(fine, x_test[m:m + 1])[0] - log_px[m]  # log p(z|x)
        inside = (log_p > log_p.max() - 0.5).reshape(61, 61)
        if not (inside[[0, -1]].any() or inside[:, [0, -1]].any()):
            break
    assert inside.sum() > 20 and not (inside[[0, -1]].any() or inside[:, [0, -1]].any()), \
        "the fine grid should resolve each red line and hold all of it"
    held.append(log_p.reshape(61, 61)[inside].exp().sum().item() * (u[1] - u[0]).item() * (v[1] - v[0]).item())
    peaks.append(fine[log_p.argmax()])
peaks = torch.stack(peaks)
on_way = log_joint(torch.cat([(peaks + means_2d[:3]) / 2, means_2d[:3]]))
on_way = (on_way - log_joint(peaks).diagonal()[:, None]).exp()  # p(z|x) against its peak
half_ratio, at_mean = on_way[:, :3].diagonal(), on_way[:, 3:].diagonal()
gaussian = 1 - math.exp(-1 / 2)  # a 2-D Gaussian's mass inside its e^(−1/2) line
for name, mass, half, at in zip("abc", held, half_ratio, at_mean):
    print(f"{name}: {mass:.0%} inside the red line ({'near' if abs(mass - gaussian) < 0.1 else 'far from'} a Gaussian's "
          f"{gaussian:.0%}); p(z|x) against its peak: {half:.2f} halfway to q's mean, {at:.2f} at it: "
          + ("a dip, then a rise: not Gaussian (a second peak or a curved ridge)" if half < at else "no dip on the way"))

# %%
on_grid = log_grid.softmax(dim=1)  # p(z|x) on the wide grid, summing to 1
mean_p = on_grid @ grid  # p(z|x)'s mean: k × 2
spread = grid - mean_p[:, None]  # z minus p(z|x)'s mean: k × M × 2
covariance = torch.einsum("km,kmi,kmj->kij", on_grid, spread, spread)  # p(z|x)'s covariance Σ
tilt = covariance[:, 0, 1] / (covariance[:, 0, 0] * covariance[:, 1, 1]).sqrt()  # its correlation ρ
sd_guess = (1 / torch.linalg.inv(covariance).diagonal(dim1=1, dim2=2)).sqrt()  # q̃'s σ_i
eps = torch.randn(2, 1000, 2, generator=torch.Generator().manual_seed(0))  # two sets of 1,000 draws, each for every q


def elbo(m, mean, sd, draws=1):  # image m's ELBO, E_q[log p(x, z) − log q(z)], for q = N(mean, diag sd²), and its
    z = mean + sd * eps[draws]  # Monte Carlo standard error, from the second set of draws unless told
    log_w = log_joint(z, x_test[m:m + 1])[0] - torch.distributions.Normal(mean, sd).log_prob(z).sum(-1)
    return log_w.mean().item(), log_w.std().item() / math.sqrt(len(log_w))


elbo_q, se_q = torch.tensor([elbo(m, means_2d[m], sigmas_2d[m]) for m in range(3)]).T  # the encoder's q
elbo_guess, se_guess = torch.tensor([elbo(m, mean_p[m], sd_guess[m]) for m in range(3)]).T  # q̃
guess_wins = torch.tensor([elbo(m, mean_p[m], sd_guess[m], 0)[0] > elbo(m, means_2d[m], sigmas_2d[m], 0)[0]
                           for m in range(3)])  # which ELBO is larger, decided on the first set of draws
best = torch.where(guess_wins, elbo_guess, elbo_q)  # ELBO(q*) is at least this (its estimate from the second set)
approximation, amortization = log_px - best, best - elbo_q  # at most, at least (nats)
noise = 2 * torch.where(guess_wins, se_guess, se_q) + se_q  # ≥ the standard error of their difference
print("nats log p(x)  ELBO(q)  ELBO(q̃) approximation gap ≤ (tilt alone) amortization gap ≥  3 SE   verdict")
for name, px, e_q, e_guess, gap, r, loss, se in zip("abc", log_px, elbo_q, elbo_guess, approximation, tilt,
                                                   amortization, noise):
    verdict = ("amortization larger" if loss - gap > 3 * se else "not decided: within 3 SE" if loss > gap
               else "not decided: the bounds overlap")
    print(f"{name:<4}{px:9.2f}{e_q:9.2f}{e_guess:9.2f}{gap:20.2f}{-0.5 * math.log(1 - r.item() ** 2):13.3f}"
          f"{loss:19.2f}{3 * se:6.2f}   {verdict}")
assert (log_px - elbo_q > -0.05).all(), "each ELBO should lie below log p(x): check the grid's sum for p(x)"

# %% jupyter={"source_hidden": true}
on_grid = on_grid.reshape(-1, 121, 121)
ring = 1 - on_grid[:, 5:-5, 5:-5].sum(dim=(1, 2))  # its mass in the grid's five outermost rows, columns
if data.name == "mnist":  # other data's 2-D codes can lie beyond ±4.5: there the shares are rough
    assert (ring < 1e-3).all(), f"the wide grid should hold all of p(z|x): {ring.max():.1e} at its edge"
covariances = (lambda w: w @ w.mT + 0.1 * torch.eye(2))(torch.randn(100, 2, 2, dtype=torch.float64))  # Gaussian p's
log_var = (1 / torch.linalg.inv(covariances).diagonal(dim1=1, dim2=2)).log().requires_grad_()  # q*: 1/(Σ⁻¹)_ii
kl_q_p = torch.distributions.kl_divergence(*(torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), c)
                                             for c in (torch.diag_embed(log_var.exp()), covariances)))
assert torch.autograd.grad(kl_q_p.sum(), log_var)[0].abs().max() < 1e-9, "σ_i² = 1/(Σ⁻¹)_ii should minimise KL(q ‖ p)"
assert (log_var.exp() <= covariances.diagonal(dim1=1, dim2=2) * (1 + 1e-12)).all(), "… and never exceed Σ_ii"
rho = covariances[:, 0, 1] / (covariances[:, 0, 0] * covariances[:, 1, 1]).sqrt()
assert torch.allclose(kl_q_p.detach(), -0.5 * torch.log1p(-rho ** 2)), "a Gaussian's gap: −½ log(1 − ρ²)"

# %% [markdown]
# The tilt alone: −½ log(1 − ρ²), the whole approximation gap of a Gaussian p(z|x) with p's correlation ρ, which a
# diagonal q cannot follow (checked above). A bound near it says the tilt is the approximation gap. A bound far
# above it says p(z|x) is not Gaussian, or q̃ misses q* (its moments come from the wide grid, coarse for a narrow
# p(z|x)); it is still an upper bound. Which image gets which verdict depends on the trained model: rerun on
# another seed and compare.
