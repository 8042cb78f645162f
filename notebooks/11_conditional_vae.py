# %% [markdown]
# # 11 The conditional VAE, and a digit you draw
#
# Previous: [10 The loose bound](10_loose_bound.ipynb) · Next: none, this is the last notebook
#
# A VAE learns p(x) without ever seeing a label. Tell it the label y of every image, in the encoder
# and in the decoder, and it learns p(x|y) instead: ask for a 3 and you get a 3, in any style you
# pick. This notebook trains nothing in class: its three **convolutional** models, a conditional
# VAE, the same networks without the label, and a VAE with two latent dimensions, ship with
# `vae_lite`, trained on MNIST, Fashion-MNIST and the 8×8 digits (a convolutional model trains too
# slowly on a laptop's CPU for a lesson; on other data they are trained here, for a short time).
#
# **Learning goals**
# - say what conditioning changes in the ELBO: the decoder p(x|z,y), the encoder q(z|x,y), and the prior;
# - read a convolutional encoder and decoder, and see how a one-hot label enters both;
# - measure why the latent code of a conditional VAE carries the *style* of a digit and not its class;
# - redraw one handwritten digit as every other digit (style transfer);
# - draw a digit yourself, watch q(z|x) move on the latent map, and measure how far from the data your drawing is.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/11_conditional_vae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F11_conditional_vae.ipynb)

# %% tags=["bootstrap"]
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
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import vae_lite
import vae_lite.check
from vae_lite import conditional_widgets, latent, plots, pretrained
from vae_lite import ConditionalVAE

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Data
#
# The data set `VAE_LITE_DATASET` names (MNIST by default), with its labels: the conditional VAE
# needs them. Quick mode uses fewer test images.

# %%
data = vae_lite.load_dataset()
if QUICK:
    data = data.subset(train=5000, test=2000)
names = conditional_widgets.class_names(data)
K = len(names)
print(data)
print("classes:", ", ".join(names))
assert data.train_labels is not None and data.test_labels is not None, "this notebook needs labelled images"

# %% [markdown]
# ## Model
#
# ### What the label changes
# A VAE bounds the evidence log p(x). A **conditional VAE** (Sohn et al., 2015) is given the label y
# and bounds log p(x|y) instead, with three changes:
#
# | | VAE | conditional VAE |
# |---|---|---|
# | decoder | p(x\|z) | p(x\|z, **y**): draws class y in the style z |
# | encoder | q(z\|x) | q(z\|x, **y**): reads the style of x, knowing its class |
# | prior | p(z) = N(0, I) | p(z\|y), here chosen as the same N(0, I) for every class |
#
# $$\log p(x\mid y) \;\ge\; \mathbb{E}_{q(z\mid x,y)}\big[\log p(x\mid z,y)\big] \;-\; \mathrm{KL}\big(q(z\mid x,y)\,\|\,p(z)\big).$$
#
# The derivation is notebook 02's, with y added to every term. The prior is the choice that matters
# later: since p(z) is the same for every class, the KL charges for any information about the class
# that z carries, and the decoder gets that information from y for free.

# %% [markdown]
# ### The networks
# Both networks are convolutional, as in TensorFlow's, Keras' and the UvA tutorials: the encoder has
# two 3 × 3 convolutions with stride 2 (28 × 28 → 14 × 14 → 7 × 7, with 32 and 64 channels), then a
# small fully connected layer; the decoder mirrors it with transposed convolutions. The label enters as a
# **one-hot** vector, appended to each network's input: K more channels of the image for the
# encoder (channel y all ones, the others all zeros), K more numbers after z for the decoder.

# %%
models = pretrained.conditional_models(data)
cvae, vae, vae_2d = models
for name, model in zip(["conditional VAE", "VAE", "2-latent VAE"], models):
    print(f"{name:16s} {model.config}  {sum(p.numel() for p in model.parameters()):,} weights")

# %%
print(inspect.getsource(ConditionalVAE.encode))

# %% [markdown]
# The shapes, for four test images (a `(…, C, H, W)` image gains K channels; z gains K numbers):

# %%
# NBVAL_CHECK_OUTPUT
x, y = data.test[:4], data.test_labels[:4]
onehot = cvae.one_hot(y, (4,))
print("labels", y.tolist(), "-> one-hot", tuple(onehot.shape), "first row", onehot[0].int().tolist())
with torch.inference_mode():
    mu, logvar = cvae.encode(x, y)
print("encoder input ", (4, x.shape[1] + K, *x.shape[2:]), "-> mu and logvar", tuple(mu.shape))
print("decoder input ", (4, cvae.latent_dim + K), "-> images", tuple(cvae.decode(mu, y).shape))

# %% [markdown]
# ### The ELBO, checked
# `ConditionalVAE.loss` returns the negative ELBO of each image. The cell below builds the same number
# from its parts with `torch.distributions`, from the formula above: log p(x|z,y) at one sample z of
# q(z|x,y), minus the KL from q(z|x,y) to the one prior N(0, I).

# %%
x_test = vae_lite.binarized_test_set(data)  # binary pixels: the Bernoulli likelihood is a true likelihood
x, y = x_test[:500], data.test_labels[:500]
with torch.inference_mode():
    torch.manual_seed(1)
    loss, terms = cvae.loss(x, y)
    torch.manual_seed(1)  # the same z
    mu, logvar = cvae.encode(x, y)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())  # q(z|x,y)
    prior = torch.distributions.Normal(0.0, 1.0)  # p(z), whatever y is
    z = mu + q.scale * torch.randn(mu.shape)
    by_hand = cvae.log_likelihood(x, z, y) - torch.distributions.kl_divergence(q, prior).sum(dim=-1)
print(f"mean ELBO: from the model {-loss.mean().item():.3f} nats, from the formula {by_hand.mean().item():.3f} nats")
assert torch.allclose(-loss, by_hand, atol=1e-3), "the model's loss should be minus the ELBO of the formula"

# %% [markdown]
# **Predict, then run.** Give the conditional VAE each test image twice: once with its own label and
# once with the next class's label (a 3 told it is a 4). Which ELBO is higher, and by how much?

# %%
def elbo_per_image(model, images, labels, batch_size=1000):
    """-model.loss, 1,000 images at a time: the conv nets on all 10,000 at once would take 1 GB more memory."""
    with torch.inference_mode():
        return torch.cat([-model.loss(images[i:i + batch_size], labels[i:i + batch_size])[0]
                          for i in range(0, len(images), batch_size)])


torch.manual_seed(2)
elbo_right = elbo_per_image(cvae, x_test, data.test_labels)
elbo_wrong = elbo_per_image(cvae, x_test, (data.test_labels + 1) % K)
print(f"mean ELBO with the true label:  {elbo_right.mean().item():8.1f} nats")
print(f"mean ELBO with a wrong label:   {elbo_wrong.mean().item():8.1f} nats")
wins = (elbo_right > elbo_wrong).float().mean().item()
print(f"the true label gives the higher ELBO for {wins:.0%} of {len(x_test)} test images")
assert wins > 0.8, "the decoder should need the true label to draw the image"

# %% [markdown]
# The decoder relies on the label: with the wrong one it draws the wrong class, and the
# reconstruction term collapses. Turned around, that is a classifier: by Bayes' rule
# p(y|x) ∝ p(x|y) p(y), so the label whose ELBO is highest is the model's guess.

# %%
n = min(500 if QUICK else 2000, len(x_test))
torch.manual_seed(3)
elbo_per_class = torch.stack([elbo_per_image(cvae, x_test[:n], torch.full((n,), c)) for c in range(K)], dim=1)  # (n, K)
guess = elbo_per_class.argmax(dim=1)
accuracy = (guess == data.test_labels[:n]).float().mean().item()
chance = torch.bincount(data.test_labels, minlength=K).max().item() / len(data.test_labels)
print(f"the conditional VAE as a classifier (largest ELBO): {accuracy:.1%} of {n} test images right; "
      f"the most frequent class alone: {chance:.1%}")
assert accuracy > 3 * chance, "the ELBO with the true label should usually be the largest"

# %% [markdown]
# ## Training
#
# The three models are trained alike, with `vae_lite.fit` as in notebook 05: Adam, batches of 128,
# dynamic binarization, each on the negative ELBO of its own kind (`fit` hands the labels to the
# conditional VAE). The shipped ones were made by the command in `vae_lite/pretrained.py`; what `fit`
# recorded after each epoch is stored with them.

# %%
fig, ax = plt.subplots()
for name, model in zip(["conditional VAE", "VAE", "2-latent VAE"], models):
    trained = model.checkpoint_extra
    history = trained["history"]
    ax.plot([r["epoch"] for r in history], [r["test_elbo"] for r in history], label=name,
            marker="o" if len(history) <= 30 else None)
    print(f"{name:16s} {trained['epochs']} epochs on {trained['dataset']} (learning rate {trained['lr']:g}), "
          f"{trained['cpu_seconds']:.0f} CPU-s; test ELBO {history[-1]['test_elbo']:.1f} nats")
ax.set_xlabel("epoch")
ax.set_ylabel("test ELBO (nats per image)")
ax.set_title("test ELBO during training (higher is better)")
ax.legend()
plt.show()
final = [model.checkpoint_extra["history"][-1]["test_elbo"] for model in models]
assert final[0] > final[1] > final[2], "the label should help, and two latent dimensions should fit worst"

# %% [markdown]
# *The figure: test ELBO per epoch for the three models; the conditional VAE's line is highest, the
# 2-latent VAE's lowest.* The conditional VAE's bound is on log p(x|y), the VAE's on log p(x): the
# label is information the VAE must put into z, at a price in KL, while the conditional VAE gets it free.
#
# ## Experiments
#
# ### Ask for a class
# **Predict, then run.** Below, each column is one class and each row one z drawn from the prior,
# the same z along the whole row. What will the images in one row have in common?

# %%
torch.manual_seed(0)
z = torch.randn(6, cvae.latent_dim)
with torch.inference_mode():
    samples = torch.stack([cvae.decode(z, torch.full((6,), c)) for c in range(K)], dim=1)  # (6, K, C, H, W)
plots.labelled_grid(samples, [f"z{j}" for j in range(6)], names, title="one column per label, one z per row")
plt.show()

# %% [markdown]
# *The figure: a grid of generated images, one column per class, six rows (one z each).* Along a row
# the class changes and the style stays: slant, width and stroke thickness come from z. Are the columns
# really the classes asked for? A 5-nearest-neighbour classifier on raw pixels, fitted on training
# images, reads the samples:

# %%
pixels = KNeighborsClassifier(5).fit(data.train[:10000].flatten(1).numpy(), data.train_labels[:10000].numpy())
asked = torch.arange(K).repeat(6)
read = torch.as_tensor(pixels.predict(samples.flatten(0, 1).flatten(1).numpy()))
print(f"the pixel classifier reads {(read == asked).float().mean().item():.0%} of the {len(asked)} samples "
      f"as the class asked for (chance: {1 / K:.0%})")
assert (read == asked).float().mean() > 3 / K, "samples should look like the class they were asked for (a decoder that ignores y reads at chance)"

# %% [markdown]
# ### The conditional explorer
# Pick a class with the buttons and move the style sliders (the latent dimensions with the largest
# KL): the kernel decodes (z, y) at every move. The sliders start at the code of a test image, read
# with its own label; below, that one code is decoded as every class: the same hand writing each digit.
# Change the test image to see other styles.
#
# Without a running kernel (GitHub, nbviewer) you see a still: the test image and its code decoded as
# every class.

# %%
explorer = conditional_widgets.ConditionalExplorer(cvae, data, image=0)
explorer

# %% [markdown]
# ### Style, not class
# The conditional VAE's decoder is told the class, so z need not say it, and the KL charges for every
# nat z carries. **Predict, then run:** fit a classifier on the encoder means of training images,
# then score it on the test images. Whose codes tell the class better, the VAE's or the conditional
# VAE's?

# %%
n_fit = 3000 if QUICK else 10000


def codes(model, images, labels):
    with torch.inference_mode():
        if isinstance(model, ConditionalVAE):
            return latent.encoder_means_and_logvars(model, images, labels)[0].numpy()
        return latent.encoder_means_and_logvars(model, images)[0].numpy()


probes = {}
for name, model in (("VAE", vae), ("conditional VAE", cvae)):
    train_codes = codes(model, data.train[:n_fit], data.train_labels[:n_fit])
    test_codes = codes(model, data.test, data.test_labels)
    fit_on = data.train_labels[:n_fit].numpy()
    probes[name] = {
        "codes": test_codes,
        "logistic regression": LogisticRegression(max_iter=2000).fit(train_codes, fit_on).score(test_codes, data.test_labels.numpy()),
        "5 nearest neighbours": KNeighborsClassifier(5).fit(train_codes, fit_on).score(test_codes, data.test_labels.numpy()),
    }
print(f"class accuracy read from the {cvae.latent_dim}-dimensional encoder means ({len(data.test)} test images; "
      f"the most frequent class alone: {chance:.0%})")
for name, probe in probes.items():
    print(f"  {name:16s} logistic regression {probe['logistic regression']:.0%}   "
          f"5 nearest neighbours {probe['5 nearest neighbours']:.0%}")
shipped = pretrained.conditional_checkpoint(data.name, "cvae").is_file()  # trained fully, not on the spot
for classifier in ("logistic regression", "5 nearest neighbours"):
    gap = probes["VAE"][classifier] - probes["conditional VAE"][classifier]
    assert gap > 0.15 or not shipped, f"{classifier}: the VAE's codes should tell the class far better than the conditional VAE's"
if not shipped:
    print(f"(models trained here for a few minutes, not shipped ones: on {data.name} the gap is not checked)")

# %% [markdown]
# The same codes, flattened to two dimensions by PCA (the two directions of largest spread), coloured
# by class:

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
flat = {name: PCA(2).fit_transform(probe["codes"]) for name, probe in probes.items()}
reach = max(np.abs(points).max() for points in flat.values()) * 1.05
for ax, (name, points) in zip(axes, flat.items()):
    plots.latent_scatter(points, data.test_labels, names=names, ax=ax, limits=((-reach, reach), (-reach, reach)),
                     title=f"{name}: encoder means (PCA)")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
fig.tight_layout()
plt.show()

# %% [markdown]
# *The figure: two scatter plots on the same axes. Left, the VAE's classes have regions of their own:
# a few lie clearly apart, the others overlap in these two directions (the classifiers above, reading all
# the dimensions, separate them better); right, the conditional VAE's class centres sit together in the
# middle and the classes lie on top of each other.* What is left of the class in the
# conditional VAE's codes is style that goes with a class: a 1 is narrow and upright, a 0 wide and round.

# %% [markdown]
# ### Draw a digit
# The map below shows the encoder means of the test images under the **2-latent** VAE, coloured by
# their label. Draw on the white square with the mouse, a touchpad or a finger. When you lift the pen
# the kernel prepares your drawing as MNIST's digits were prepared (cropped, scaled so that its
# longer side spans 20 of 28 pixels, centred on its centre of mass), encodes it, and draws
# q(z|x) on the map: a cross at the mean μ and an ellipse at ±2σ. Beside it: what the model sees, the
# reconstruction, and the drawing's ELBO against the test images'. **Clear** starts again; **use a
# test image** encodes the next test image instead.
#
# Two latent numbers keep little of a digit: the reconstruction is a blurred digit of the classes near
# the cross on the map, not always the class drawn.
#
# The notebook has drawn a 7 in one stroke (a bar, then a long diagonal), so the still below (for viewers
# without a kernel) has something to show; press *clear* to draw your own.

# %%
drawer = conditional_widgets.DrawingExplorer(vae_2d, data)
SEVEN = [(70, 60), (210, 60), (190, 110), (120, 235)]  # canvas pixels: a bar, then a long diagonal
drawer.draw_stroke(SEVEN)
drawer

# %% [markdown]
# ### How far from the data is a drawing?
# The ELBO is a lower bound on log p(x), so a low ELBO flags an input the model finds unlikely. The
# explorer scores the drawing and the test images with one estimator (the same eight draws of ε for
# every image) and says where the drawing falls. **Predict, then run:** four inputs: a test image, the
# 7 drawn above, the same 7 moved a few pixels to the right (as if it had not been centred), and
# random pixels with the data's mean ink. Order them from most to least likely.

# %%
seven = drawer.x  # the drawing on the canvas, prepared as the data were
shift = max(1, round(0.15 * data.image_shape[-1]))  # 4 pixels of 28, 1 of 8
ink = data.test.mean().item()
inputs = {
    "a test image": data.test[:1],
    "the drawn 7": seven,
    f"the 7, {shift} px right": torch.roll(seven, shifts=shift, dims=-1),
    "random pixels": torch.bernoulli(torch.full((1, *data.image_shape), ink), generator=torch.Generator().manual_seed(0)),
}
scores = {name: drawer.elbo(image).item() for name, image in inputs.items()}
below = {name: (drawer.test_elbos < score).float().mean().item() for name, score in scores.items()}
drawer.clear()  # a blank canvas for the class

fig = plt.figure(figsize=(11, 4.4))
grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 0.3, 4.2])
for i, (name, image) in enumerate(inputs.items()):
    picture = fig.add_subplot(grid[i // 2, i % 2])
    picture.imshow(image[0, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    picture.set_title(name.replace(", ", ",\n"), fontsize=12)
    picture.set_axis_off()
ax = fig.add_subplot(grid[:, 3])
ax.hist(drawer.test_elbos.numpy(), bins=50, color="C0", alpha=0.6, label=f"{len(drawer.test_elbos)} test images")
for (name, score), style in zip(scores.items(), ["-", "--", ":", "-."]):
    ax.axvline(score, color="black", linestyle=style, lw=2, label=f"{name}: {score:.0f}")
ax.set_xlabel("ELBO (nats; further left: less likely under the model)")
ax.set_ylabel("test images")
ax.legend(fontsize=11, loc="upper left")
fig.tight_layout()
plt.show()
for name, score in scores.items():
    print(f"{name:18s} ELBO {score:9.1f} nats; {below[name]:6.1%} of the test images score lower")
if data.name in ("mnist", "digits"):  # a drawn 7 is a digit: the comparison means something on digit data only
    assert scores["the drawn 7"] > scores[f"the 7, {shift} px right"], "the model knows digits only where the data put them"
    assert scores["random pixels"] < drawer.test_elbos.min(), "random pixels should be further out than any test image"
else:
    print(f"(a drawn digit on a model of {data.name}: the comparisons above are not checked here)")

# %% [markdown]
# *The figure: left, the four inputs; right, a histogram of the test images' ELBOs with a vertical line
# for each input.* A drawing prepared as the
# data were lands among the test images (the printed lines say what share of them score lower); the same
# strokes a few pixels off centre score far lower, out in the histogram's left tail, and random pixels lowest
# of all, below every test image. The model knows MNIST's digits, centred and scaled as MNIST made
# them, not digits in general: prepare an input as the training data were prepared.
#
# ## Common mistakes
#
# > **Common mistake.** Feeding the label as a number: `torch.cat([x.flatten(1), y.float()[:, None]], 1)`.
# > **Wrong:** a single input y ∈ {0, …, 9} tells the network that 4 lies between 3 and 5 and that 8 is
# > twice 4; the network has to unlearn that order before it can treat classes as classes. **Right:** a
# > one-hot vector, `torch.nn.functional.one_hot(y, K)`, K inputs of which exactly one is 1: no class is
# > nearer to another (`ConditionalVAE.one_hot`).
#
# > **Common mistake.** Reading the class from a conditional VAE's code, or sampling one without a
# > label: `z ~ N(0, I); decode(z)`. **Wrong:** z holds the style; the class lives in y, which the decoder
# > needs (the classifiers above read the class from the conditional VAE's codes far worse than from the
# > VAE's). **Right:** `cvae.sample(n, y)` decodes z ~ N(0, I) *with* a label y, and a code
# > `mu(x, y)` is only meaningful together with the label it was read with.

# %% [markdown]
# ## Exercises
#
# **Style transfer.** Complete `transfer(model, x, source, target)`: redraw the images `x`, whose labels
# are `source`, as the classes `target`, each in its own style. Read the style of x with its own label,
# then decode it with the other one. Use the encoder's mean, not a sample.

# %%
# NBVAL_CHECK_OUTPUT
def transfer(model, x, source, target):
    raise NotImplementedError  # your code here


vae_lite.check.style_transfer(transfer)

# %% jupyter={"source_hidden": true} tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: the style is the code mu of q(z|x, source); the decoder draws it as `target`.
def transfer(model, x, source, target):
    with torch.inference_mode():
        mu, _ = model.encode(x, source)
        return model.decode(mu, target)


assert vae_lite.check.style_transfer(transfer), "the solution should pass every case"

# %% [markdown]
# With `transfer`, six test images of six different classes, each redrawn as every class (the first
# image of each row is the test image itself):

# %%
rows = [int((data.test_labels == c).nonzero()[0]) for c in range(min(6, K))]
x, source = data.test[rows], data.test_labels[rows]
try:
    redrawn = torch.stack([transfer(cvae, x, source, torch.full((len(rows),), c)) for c in range(K)], dim=1)  # (6, K, C, H, W)
except NotImplementedError:
    print("Complete `transfer` in the exercise above, then re-run this cell.")
else:
    plots.labelled_grid(torch.cat([x[:, None], redrawn], dim=1), [f"a {names[s]}" for s in source.tolist()],
                        ["test image", *[f"as {name}" for name in names]], title="one style per row, one class per column")
    plt.show()
    assert torch.allclose(redrawn[torch.arange(len(rows)), source], cvae.decode(cvae.encode(x, source)[0], source)), \
        "an image redrawn as its own class is its reconstruction"

# %% [markdown]
# *The figure: six rows, one per test image; in each row the test image, then its style drawn as every
# class. Most redrawn digits read as their column's class; a few, where a style suits a class badly, come
# out malformed.* More to try:
#
# 1. In the drawing explorer, draw a 1, then add strokes to turn it into a 7, then a 4. How does the
#    ellipse move, and does it grow or shrink when the drawing gets ambiguous?
# 2. Draw something that is not a digit at all (a letter, a face). Where does q(z|x) land, and what
#    does the ELBO say?
# 3. Train a `ConditionalVAE` with `latent_dim=2` on a small part of the data and draw the map of its
#    encoder means coloured by label. Compare it with the 2-latent VAE's map above.
#
# ## Summary
# - A conditional VAE bounds log p(x|y): the label enters the decoder p(x|z,y) and the encoder q(z|x,y);
#   with the prior N(0, I) for every class, the KL pays for anything z says about the class.
# - So its codes carry style, not class: classifiers read the class far worse from them than from a VAE's.
# - The same code decoded with another label redraws a digit as another digit in the same hand.
# - A drawing is an input like any other: its ELBO, against the test images', says how far it lies
#   from what the model learned, and preparing it as the data were prepared matters.
#
# Next: this is the last notebook. Go back to [01 The autoencoder](01_autoencoder.ipynb) with new eyes,
# or train these models on your own labelled images with `vae_lite.ImageData.from_arrays`.
