# %% [markdown]
# # 06 The latent space
#
# Previous: [05 The VAE](05_vae.ipynb) · Next: [07 How good is it?](07_how_good.ipynb)
#
# A trained VAE turns every image into a distribution q(z|x) over a 20-dimensional code, and every code
# into an image. This notebook looks at that code directly.
#
# **Learning goals**
# - move through the latent space with sliders and see what each dimension does;
# - tell the dimensions the model uses from those it ignores: KL per dimension and active units;
# - interpolate between two images through their codes;
# - read the 2-D latent space of a 2-latent model: the encoder means by label, and the decoded manifold;
# - keep the prior p(z), the posterior p(z|x) and its approximation q(z|x) apart.

# %% [markdown]
# ## Setup

# %%
import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import latent, plots, pretrained, widgets

torch.manual_seed(0)
QUICK = vae_lite.quick_mode()  # VAE_LITE_QUICK=1: less data, fewer epochs (CI)
if QUICK:  # tiny models gain nothing from a second thread, and on a busy shared CI machine
    torch.set_num_threads(1)  # two threads waiting for each other run several times slower
print("quick mode" if QUICK else "class mode")

# %% [markdown]
# ## Data

# %%
TRAIN, TEST, EPOCHS_2D = (3000, 1000, 2) if QUICK else (60000, 10000, 5)
data = vae_lite.load_dataset("auto").subset(train=TRAIN, test=TEST)
print(data)

# %% [markdown]
# ## Model
#
# The package's default VAE (784–400–20, Bernoulli decoder), trained for 10 epochs on MNIST as in
# notebook 05 and stored with the package, so this notebook need not spend a minute training it
# (`vae_lite/pretrained.py` shows the command that made it; without MNIST a model is trained on the data here).

# %%
# NBVAL_CHECK_OUTPUT
model = pretrained.default_model(data)
print(model.config)

# %%
x_test = vae_lite.binarized_test_set(data)
test = vae_lite.evaluate(model, x_test)
print(f"test negative ELBO {-test['elbo']:.1f} nats = reconstruction error {-test['reconstruction']:.1f} "
      f"+ KL {test['kl']:.1f}  ({len(x_test)} binarized test images)")

# %% [markdown]
# ## Experiments
#
# ### Which dimensions does the model use?
# The KL term of the ELBO is a sum over latent dimensions. Split it up: a dimension whose KL is about
# 0 has q(z_d|x) = N(0, 1) for every x, the prior itself. It carries no information about the image,
# and the decoder learns to ignore it. Burda et al. (2015) count a dimension as **active** when its
# encoder mean moves with the input: Cov_x(E[z_d|x]) > 0.01.

# %%
kl = latent.kl_per_dimension(model, data)
count, activity = latent.active_units(model, data)
plots.plot_kl_per_dimension(kl, activity, title=f"{count} of {model.latent_dim} latent dimensions are active")
plt.show()
print(f"KL per dimension adds up to {kl.sum().item():.2f} nats; the ELBO's KL term on the same images "
      f"(grey-scale inputs) is {vae_lite.kl_standard_normal(*model.encode(data.test)).mean().item():.2f}")
print(f"active units: {count} of {model.latent_dim}")
assert abs(kl.sum() - vae_lite.kl_standard_normal(*model.encode(data.test)).mean()) < 1e-3, \
    "the KL per dimension should add up to the KL term"
assert 1 <= count <= model.latent_dim
assert (kl[activity < 0.01] < 0.2).all(), "inactive dimensions should cost (almost) no KL"

# %% [markdown]
# ### The latent explorer
# One slider per latent dimension, the largest KL first (at most 10). The sliders start at the
# encoder mean of a test image; the other dimensions stay there. Move a slider (drag it, or click it
# and use the arrow keys): the kernel decodes z and redraws the image. The sliders of dimensions with
# a large KL change the digit most; those further down change it less.
#
# Without a running kernel (on GitHub or nbviewer) you see a still picture instead: for the first five
# dimensions, the image decoded with that slider at −2, −1, 0, 1, 2.

# %%
explorer = widgets.latent_explorer(model, data, start=data.test[0])
explorer

# %% [markdown]
# The same thing without sliders: the image changes far more along the dimension with the largest KL
# than along the one with the smallest (the cell measures the mean change of a pixel).

# %%
def change_along(d, step=2.0):
    z = explorer.start.clone()
    z[d] += step
    with torch.inference_mode():
        return (model.decode(z.unsqueeze(0)) - model.decode(explorer.start.unsqueeze(0))).abs().mean().item()


most, least = explorer.dims[0], int(torch.argmin(kl))
print(f"mean pixel change for a step of 2 along z[{most}] (largest KL): {change_along(most):.4f}; "
      f"along z[{least}] (smallest KL): {change_along(least):.4f}")
assert change_along(most) > 2 * change_along(least), "the dimension with the most KL should matter most to the decoder"

# %% [markdown]
# ### Interpolation
# Encode two test images of different digits to their means μ(A) and μ(B), and decode points on the
# straight line z(t) = (1 − t) μ(A) + t μ(B). In a VAE the points in between decode to plausible
# digits, because training filled the space around the codes (the KL pulls the codes together; the
# noise in z forces the decoder to handle their neighbourhoods).

# %%
labels = data.test_labels
first = int((labels == 1).nonzero()[0]) if labels is not None else 0
second = int((labels == 7).nonzero()[1]) if labels is not None else 1
interpolation = widgets.interpolation_explorer(model, data, first=first, second=second)
interpolation

# %% [markdown]
# ### A 2-latent model: the whole latent space in one picture
# With only two latent dimensions the code can be drawn. Left: the encoder means of the test images,
# coloured by their label (the VAE never saw a label). Right: the decoder's image at each point of a
# grid, spaced by the prior's quantiles so that every image covers the same prior mass.

# %%
torch.manual_seed(0)
model_2d = vae_lite.VAE(data.image_shape, latent_dim=2, hidden=400)
history_2d = vae_lite.fit(model_2d, data, epochs=EPOCHS_2D, progress=False)
print(f"2-latent model after {EPOCHS_2D} epochs: test negative ELBO {-history_2d.last['test_elbo']:.1f} nats "
      f"(20-latent model: {-test['elbo']:.1f})")

# %%
means_2d, _ = latent.encoder_means_and_logvars(model_2d, data.test)
fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.3), dpi=90)
plots.latent_scatter(means_2d, labels, ax=left, title="encoder means of the test images")
plots.manifold_grid(model_2d, n=15, ax=right)
plt.show()

# %% [markdown]
# How well do the 2-D codes separate the digits? A nearest-class-mean rule on the codes (a very
# simple classifier, given the labels only now) tells us; chance is 10 %.

# %%
if labels is not None:
    centres = torch.stack([means_2d[labels == c].mean(dim=0) for c in range(10)])
    predicted = torch.cdist(means_2d, centres).argmin(dim=1)
    accuracy = (predicted == labels).float().mean().item()
    print(f"nearest-class-mean accuracy on the 2-D codes: {accuracy:.0%} (chance: 10%)")
    # quick mode trains the 2-latent model for a few seconds only, so it asks for less
    assert accuracy > (0.2 if QUICK else 0.4), "the 2-D codes should separate the digits far better than chance"
assert -history_2d.last["test_elbo"] > -test["elbo"], "two latent dimensions should fit worse than twenty"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Calling N(0, I) the posterior: "p(z|x) ~ N(0, I)". **Wrong:** p(z|x) = N(0, I).
# > **Right:** N(0, I) is the **prior** p(z), the same for every image. The **posterior** p(z|x) depends on x;
# > the encoder's q(z|x) = N(μ(x), σ²(x)) approximates it. On the active dimensions q(z|x) is much narrower
# > than the prior (the image pins z down); on the inactive ones it *is* the prior.

# %%
with torch.inference_mode():
    mu, logvar = model.encode(data.test)
sigma = (0.5 * logvar).exp()
active = activity > 0.01
print(f"mean σ of q(z|x) on the {int(active.sum())} active dimensions:   {sigma[:, active].mean().item():.2f}")
if (~active).any():
    print(f"mean σ of q(z|x) on the {int((~active).sum())} inactive dimensions: {sigma[:, ~active].mean().item():.2f}")
    assert sigma[:, ~active].mean() > 0.8, "an inactive dimension's q(z|x) should be close to the prior N(0, 1)"
print("the prior's σ: 1")
assert sigma[:, active].mean() < 0.5, "on active dimensions q(z|x) should be much narrower than the prior"

# %% [markdown]
# > **Common mistake.** Writing `σ = E[(x − μ)²]`. **Wrong:** that is the variance σ², not σ. **Right:**
# > σ² = E[(z − μ)²] and σ = √σ². The encoder outputs `logvar` = log σ², so σ = exp(logvar / 2), which is
# > what `reparameterize` multiplies ε by. The cell below samples z from one q(z|x) and checks which is which.

# %%
samples = vae_lite.reparameterize(mu[0].expand(20000, -1), logvar[0].expand(20000, -1))
variance = (samples - mu[0]).pow(2).mean(dim=0)
print(f"dimension z[{most}]: E[(z - μ)²] = {variance[most].item():.4f}, exp(logvar) = σ² = "
      f"{logvar[0, most].exp().item():.4f}, σ = {sigma[0, most].item():.4f}")
assert torch.allclose(variance, logvar[0].exp(), rtol=0.05), "E[(z - mu)^2] is the variance sigma^2"

# %% [markdown]
# ## Exercises
#
# **Count the active units.** Complete `active_unit_count`: given the encoder means `mu` of N images (an N × d
# tensor), return how many of the d dimensions have a variance across the images above `threshold`.

# %%
# NBVAL_CHECK_OUTPUT
def active_unit_count(mu, threshold=0.01):
    raise NotImplementedError  # your code here


vae_lite.check.active_unit_count(active_unit_count)

# %% tags=["solution"] jupyter={"source_hidden": true}
# NBVAL_CHECK_OUTPUT
# Solution: the variance of each column (over the images, dim=0), compared with the threshold.
def active_unit_count(mu, threshold=0.01):
    return int((mu.var(dim=0) > threshold).sum())


assert vae_lite.check.active_unit_count(active_unit_count), "the solution should pass every case"
assert active_unit_count(mu) == count, "it should agree with latent.active_units on the default model"

# %% [markdown]
# More to try:
#
# 1. In the latent explorer, find a dimension that changes the slant of the digit, and one that changes
#    its thickness. Are they the ones with the largest KL?
# 2. Interpolate between two images of the *same* digit and between two different digits. Where on the
#    line does the decoded image switch from one digit to the other?
# 3. Train the 2-latent model with `beta=4` and redraw both pictures. What happens to the clusters?
#
# ## Summary
# - Only some latent dimensions carry information (KL > 0, active units); the rest equal the prior and
#   are ignored by the decoder.
# - The sliders and the interpolation show a continuous code: nearby z decode to similar images.
# - With two latent dimensions, the encoder means cluster by digit without ever seeing a label.
# - p(z) = N(0, I) is the prior; q(z|x) approximates the posterior p(z|x); σ is the square root of the variance.
#
# Next: [07 How good is it?](07_how_good.ipynb) measures the model.
