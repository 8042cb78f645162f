# %% [markdown]
# # 01 The autoencoder: compress, reconstruct, and why it is not a generator
#
# Next: [02 The ELBO](02_elbo.ipynb)
#
# An autoencoder (AE) squeezes each image through a short code and rebuilds it. Can its decoder turn
# *random* codes into new images, as a generator does?
#
# **Learning goals**
# - Write an AE's loss (Exercise 1); train AEs with codes of 20 and of 2 numbers (Exercise 2); measure
#   their error in nats per image and bits per dimension.
# - Decode random codes z ~ N(0, I) and measure why the decoder is a poor generator (Exercise 3).
#
# A generator draws a code z ~ p(z), then an image x ~ p(x | z): p(x) = ∫ p(x | z) p(z) dz. The AE's
# decoder gives p(x | z), but nothing in its training says which z are "valid": it has no prior p(z).
# The VAE (notebooks 02–05) trains the codes towards one.
#
# **The write-up**, the course's summary of Kingma & Welling (2013), "Auto-Encoding Variational Bayes",
# has five wrong lines; notebook 02 quotes all five (the fifth in its Common mistakes), this one quotes one.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/01_autoencoder.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F01_autoencoder.ipynb)

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
import inspect
import math

import torch
from scipy import stats

import vae_lite
from vae_lite import check, plots

QUICK = vae_lite.setup_notebook()  # seeds torch; prints "class mode" (6000 / 2000 images here) or "quick mode" (tests)

# %% [markdown]
# ## Data
#
# MNIST, or the data set `VAE_LITE_DATASET` names; a subset, so that training takes seconds.

# %%
data = vae_lite.load_dataset()
n_train, n_test = (2000, 1000) if QUICK else (6000, 2000)
subset = data.subset(train=n_train, test=n_test)
print(subset)

# %% tags=["nbval-check-output"]
print("one image:", tuple(subset.train[0].shape), "values in", (subset.train.min().item(), subset.train.max().item()))

# %% [markdown]
# ## Model
#
# x (784 pixels) → 400 hidden units → code z (20 numbers) → 400 → a logit log(p/(1 − p)) per pixel →
# sigmoid → the pixel's probability p. Encoder up to z, decoder after it. The loss is the Bernoulli
# negative log-likelihood of the image given its code: the binary cross-entropy **summed** over pixels.
#
# ### Nats, bits and the length of a code
# A sender and a receiver who share a model can send an event of probability p in about −log₂ p
# **bits**, or −log p **nats** (natural log). If the events have these probabilities, no code is shorter
# on average (Shannon; [the Optional part](#Optional:-paying-for-the-code) builds such a code). So a negative log-likelihood is a message
# length: the better the model predicts x, the fewer nats. Summed over pixels, *nats per image* are the
# unit of the MNIST VAE papers (Kingma & Welling, Burda et al.); their (bounds on) −log p(x) are not
# comparable with ours. **Bits per dimension**, nats per image / (D · ln 2) with D = 784 pixels, put any
# image size on one scale.

# %%
print(inspect.getsource(vae_lite.Autoencoder.loss))  # beta weighs a VAE's KL term (notebook 05); an AE has none

# %% tags=["nbval-check-output"]
autoencoder = vae_lite.Autoencoder(data.image_shape, latent_dim=20, hidden=400)
print(autoencoder)
print("parameters:", sum(p.numel() for p in autoencoder.parameters()))

# %% [markdown]
# **Exercise 1 (4 min).** Write `bernoulli_nll(probabilities, x)`: the Bernoulli negative
# log-likelihood of each binary image x in nats, −Σ_pixels [x log p + (1 − x) log(1 − p)]. Both
# arguments are (N, C, H, W); return (N,). Hint: `torch.xlogy(a, b)` is a · log b, and 0 where a = 0
# (0 · log 0 is `nan` in torch). A cell below compares it with `Autoencoder.loss` on binarized images
# (each pixel 1 with probability its grey level).

# %%
def bernoulli_nll(probabilities, x):
    raise NotImplementedError  # your code here


check.bernoulli_nll(bernoulli_nll);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def bernoulli_nll(probabilities, x):
    return -(torch.xlogy(x, probabilities) + torch.xlogy(1 - x, 1 - probabilities)).sum(dim=(1, 2, 3))


assert check.bernoulli_nll(bernoulli_nll)

# %%
pixels = subset.train[0].numel()
batch = vae_lite.binarize(subset.train[:64], torch.Generator().manual_seed(0))
with torch.no_grad():
    loss, _ = autoencoder.loss(batch)
    try:
        by_hand, who = bernoulli_nll(autoencoder(batch), batch), "your bernoulli_nll"
    except NotImplementedError:  # Exercise 1 not written yet: torch's binary cross-entropy stands in
        by_hand, who = torch.nn.functional.binary_cross_entropy(autoencoder(batch), batch, reduction="none").sum(dim=(1, 2, 3)), "torch's BCE"
print(f"Autoencoder.loss: {loss.mean():.1f} nats per image; summed over the {pixels} pixels by {who}: "
      f"{by_hand.mean():.1f}; every pixel at p = 1/2 would cost {pixels} ln 2 = {pixels * math.log(2):.1f}")
assert torch.allclose(loss, by_hand, rtol=1e-4), \
    f"Autoencoder.loss gives {loss.mean():.2f} nats per image, {who} {by_hand.mean():.2f}: is one of them averaged over pixels instead of summed?"

# %% [markdown]
# ## Training
#
# `fit` trains with Adam (learning rate 10⁻³, seed 0) on images binarized anew every epoch: the
# Bernoulli likelihood is a true likelihood only on binary data ([Optional](#Optional:-binary-cross-entropy-on-grey-levels)). The train loss is
# averaged over each epoch, as the model improves; the test loss is taken at its end. So the train loss
# is higher in epoch 1. It is lower in the last: memorising, or a harder test set?
# [Memorising a small training set](#Optional:-memorising-a-small-training-set) (Optional) tells the two apart
# for an AE trained on few images.

# %%
torch.set_num_threads(1)  # a model this small gains nothing from a second thread
epochs, batch_size = (8, 64) if QUICK else (10, 64)
history = vae_lite.fit(autoencoder, subset, epochs=epochs, batch_size=batch_size, progress=False)
for r in history.records:
    print(f"epoch {r['epoch']:>2}: train {r['train_loss']:.1f}  test {r['test_loss']:.1f} nats per image")

# %% [markdown]
# The baseline is a code of 0 numbers: each pixel is 1 with probability its mean grey level in the
# training images. With no z to send, its −log p(x) is complete. The AE's −log p(x | z) leaves out the
# cost of sending z. So the table says how much each code tells about its image, not which model
# compresses best. [Paying for the code](#Optional:-paying-for-the-code) (Optional) adds z's cost.

# %%
test_binary = vae_lite.binarized_test_set(subset)
mean_image = subset.train.mean(0).clamp(1e-4, 1 - 1e-4).expand_as(test_binary)
baseline = torch.nn.functional.binary_cross_entropy(mean_image, test_binary, reduction="sum").item() / len(test_binary)
bits_per_dim = lambda nats: nats / (pixels * math.log(2))
for name, nats in (("AE, 20 numbers: −log p(x | z), z not paid for", history.last["test_loss"]),
                   ("baseline, 0 numbers: −log p(x)", baseline)):
    print(f"{name:>46}: {nats:5.1f} nats per image = {bits_per_dim(nats):.3f} bits per dimension")

# %% jupyter={"source_hidden": true}
assert history.last["test_loss"] < (0.7 if data.name == "mnist" else 0.85) * baseline, \
    "a code of 20 numbers should tell far more about each test image than none (the baseline): train longer?"
assert data.name != "mnist" or (history.records[0]["train_loss"] > history.records[0]["test_loss"] and history.last["train_loss"] < history.last["test_loss"]), \
    "the prose (Training): the train loss is above the test loss in the first epoch, and below it in the last"

# %% [markdown]
# ## Experiments
#
# Each number below comes from one run, one seed.
#
# ### Reconstructions, from 20 numbers and from 2 (Exercise 2)
# **Exercise 2 (4 min).** Build `two_numbers`, an `Autoencoder` with a code of 2 numbers (`latent_dim=2`),
# and train it with `fit`, both as above. Predict first: its test error, nearer the 20-number AE's or the
# baseline's? Its reconstructions: the right digits?

# %%
two_numbers = None  # your code here: an Autoencoder with latent_dim=2, trained with vae_lite.fit as above

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
two_numbers = vae_lite.Autoencoder(data.image_shape, latent_dim=2, hidden=400)
vae_lite.fit(two_numbers, subset, epochs=epochs, batch_size=batch_size, progress=False);

# %%
x = test_binary[:10]  # binarized, as the encoders were trained on
rows, errors = {"binarized test images": x}, {"no code (baseline)": baseline}
with torch.inference_mode():
    for name, ae in (("20 numbers", autoencoder), ("2 numbers", two_numbers)):  # two_numbers: None till Exercise 2
        if ae is not None:
            rows[name], errors[name] = ae(x), ae.loss(test_binary)[0].mean().item()
plots.show_rows(rows)
print("\n".join(f"{name:>18}: {nats:5.1f} nats per image" for name, nats in errors.items()))
assert two_numbers is None or data.name != "mnist" or 1.5 * errors["20 numbers"] < errors["2 numbers"] < baseline, \
    "2 numbers should reconstruct far worse than 20, better than no code: is latent_dim 2, and was it trained with fit?"

# %% [markdown]
# *Figure: ten binarized test images; reconstructed from 20 numbers (the decoder's pixel probabilities),
# blurrier, here all ten the same digit; from 2 numbers: Exercise 2, below.*

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution, continued: the checks of the debrief below.
two, twenty = errors["2 numbers"], errors["20 numbers"]
assert QUICK or data.name != "mnist" or (1.7 < two / twenty < 2.3 and baseline - two < two - twenty), \
    "the debrief: 2 numbers cost about twice the nats of 20, nearer the baseline's than the 20-number AE's"

# %% [markdown] tags=["solution"]
# **Exercise 2: what the solution shows.** *Figure, last row: the same ten test images, reconstructed
# from 2 numbers.* After these 940 steps (one run) they cost about twice the nats of 20 numbers, nearer the
# baseline's (printed). Half of
# the ten come back blurred or as another digit (here both 4s as 9s): 2 numbers keep the rough shape of a few
# common digits, not the strokes. A longer code carries more of each image.

# %% [markdown]
# ### Decoding random codes
# > **Predict, then run.** Feed the decoder 20 codes drawn from N(0, I), the distribution a VAE
# > generates from. What comes out?

# %%
samples = autoencoder.sample(20, generator=torch.Generator().manual_seed(0))
plots.show_images(samples, title="decoded z ~ N(0, I)");

# %% [markdown]
# *Figure: twenty decoded random codes (mean images): grey blurs and broken strokes, few recognisable.*
#
# ### How many training codes lie where N(0, I) puts its mass?
# N(0, I) puts 99.9 % of its mass in a ball around the origin (radius below). A sample's length ‖z‖
# follows the chi distribution with 20 degrees of freedom: near √20 ≈ 4.5, never near 0 (why: [Optional](#Optional:-why-the-lengths-of-N(0,-I)-samples-bunch-together)).
#
# > **Predict, then run.** How long is the code of a real image: inside the ball or beyond it?

# %%
with torch.inference_mode():  # binarized, as trained on; 5000 codes keep distances fast
    train_codes = autoencoder.encode(vae_lite.binarize(subset.train[:5000], torch.Generator().manual_seed(0)))
    test_codes = autoencoder.encode(test_binary)
prior_samples = torch.randn(2000, 20, generator=torch.Generator().manual_seed(1))
code_lengths, prior_lengths = train_codes.norm(dim=1), prior_samples.norm(dim=1)
radius = stats.chi(df=20).ppf(0.999)  # 99.9 % of N(0, I) samples are shorter
inside = (code_lengths <= radius).float().mean().item()
print(f"99.9% of N(0, I) lies within radius {radius:.2f} of the origin; training codes inside it: {inside:.1%}")
ax = plots.plot_histograms({"codes of training images": code_lengths, "samples of N(0, I)": prior_lengths},
                           xlabel="length of z (distance from the origin)", bins=80).axes[0]
ax.axvline(radius, color="black", linestyle=":", label="radius holding 99.9 % of N(0, I)"); ax.legend();

# %% jupyter={"source_hidden": true}
assert abs(prior_lengths.median() - math.sqrt(20)) < 0.2 and prior_lengths.min() > 1, \
    "the prose: N(0, I) samples' lengths lie near √20, never near 0"
assert inside < (0.01 if data.name == "mnist" else 0.5), "the prose: the prior's 99.9 % ball holds almost no training code"

# %% [markdown]
# *Figure: the N(0, I) samples' lengths in a narrow bump near √20; the training codes' in a wider bump
# beyond the dotted radius.* The ball holds almost no training code. Nothing in the AE's loss fixes where
# the codes lie ([Optional](#Optional:-the-loss-does-not-fix-where-the-codes-lie)).
#
# ### Does a Gaussian fitted to the codes generate digits? Exercise 3
# **How grey?** A pixel of probability p has entropy
# H(p) = −p log p − (1 − p) log(1 − p) nats: 0 at p = 0 or 1, largest, ln 2, at p = ½. An image's
# *pixel entropy* sums H(p) over its pixels: high for a grey blur.

# %%
pixel_entropy = lambda p: (torch.special.entr(p) + torch.special.entr(1 - p)).sum(dim=(1, 2, 3)) \
    .mean().item()  # nats per image, averaged over the images; entr(p) = −p ln p

# %% [markdown]
# **Where do they lie?** A z's *NN distance* is its distance to the nearest training code; test codes
# give the yardstick.

# %%
nn_distance = lambda z: torch.cdist(z, train_codes).min(dim=1).values  # to the nearest training code
nearest = lambda z: nn_distance(z).median().item()

# %% jupyter={"source_hidden": true}
def decode_and_measure(latents):  # {name: codes (n, 20)} -> {name: images}; draws them, prints the table
    with torch.inference_mode():
        decoded = {name: autoencoder.decode(z) for name, z in latents.items()}
    plots.show_rows({name: images[:10] for name, images in decoded.items()})
    print(f"{'':>28} {'median length':>14} {'mean pixel entropy':>19} {'median NN distance':>19}")
    for name, z in latents.items():
        print(f"{name:>28} {z.norm(dim=1).median():14.1f} {pixel_entropy(decoded[name]):19.1f} {nearest(z):19.2f}")
    return decoded

# %% [markdown]
# **Exercise 3 (5 min).** Write `fitted_gaussian_samples(codes, n)`: fit a Gaussian with a diagonal
# covariance (each dimension's mean and standard deviation) to the rows of `codes` (N, d); return n new
# points drawn from it, (n, d). A cell below adds them to the table. Predict first: sharp? As near
# training codes as test codes? Digits?

# %%
def fitted_gaussian_samples(codes, n):
    raise NotImplementedError  # your code here


check.fitted_gaussian_samples(fitted_gaussian_samples);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def fitted_gaussian_samples(codes, n):
    return codes.mean(dim=0) + codes.std(dim=0) * torch.randn(n, codes.shape[1])


assert check.fitted_gaussian_samples(fitted_gaussian_samples)

# %%
latents = {"N(0, I) samples": prior_samples, "test codes (reconstructions)": test_codes}
with torch.random.fork_rng():  # these draws leave the later cells' random numbers as they were
    torch.manual_seed(3)
    try:
        latents["fitted-Gaussian samples"] = fitted = fitted_gaussian_samples(train_codes, 2000)
    except NotImplementedError:
        print("Exercise 3 not written yet: the table has no fitted-Gaussian row.")
decoded = decode_and_measure(latents)

# %% jupyter={"source_hidden": true}
H = lambda p: -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))  # the prose's formula, in float64 below
assert abs(pixel_entropy(decoded["N(0, I) samples"]) - H(decoded["N(0, I) samples"].double()).sum(dim=(1, 2, 3)).mean()) < 1e-2, \
    "pixel_entropy should be Σ_pixels H(p), averaged over the images"
entropy = {name: pixel_entropy(images) for name, images in decoded.items()}
ratio_grey = entropy["N(0, I) samples"] / entropy["test codes (reconstructions)"]
assert data.name != "mnist" or 1.5 < ratio_grey < 3, \
    f"the prose: N(0, I) samples decode with about twice the reconstructions' pixel entropy, not {ratio_grey:.2f} times"
neighbours = torch.cdist(prior_samples, train_codes).argmin(dim=1).unique()  # the training codes nearest to them
shortest = (code_lengths <= code_lengths[neighbours].max()).float().mean().item()
print(f"the N(0, I) samples' nearest training codes: {len(neighbours)} of {len(train_codes)}, all among the shortest {shortest:.0%}")
assert data.name != "mnist" or (len(neighbours) < 0.05 * len(train_codes) and shortest < 0.1 and (QUICK or 1 < nearest(prior_samples) / nearest(test_codes) < 1.25)), \
    "the prose: the N(0, I) samples' NN distance is only a little above the test codes'; their nearest codes are a few of the shortest"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution, continued: the checks of the debrief below.
# The figure above: N(0, I) samples (grey blurs), reconstructions, fitted (sharp, not all digits).
print(f"fitted samples lie {nearest(fitted) / nearest(test_codes):.1f} times as far from the "
      "nearest training code as test codes")
assert entropy["fitted-Gaussian samples"] < 0.8 * entropy["N(0, I) samples"], \
    "samples of the fitted Gaussian should decode sharper than those of N(0, I)"
assert nearest(fitted) > 1.3 * nearest(test_codes), "the fitted Gaussian should put mass where no code is"
assert data.name != "mnist" or nearest(fitted) > nearest(prior_samples), "the debrief: farther than N(0, I) samples"

# %% [markdown]
# *Figure: decoded N(0, I) samples, reconstructions and (Exercise 3) fitted-Gaussian samples.* The
# N(0, I) samples' images have about twice the reconstructions' pixel entropy: grey blurs. Yet their NN
# distance is only a little above the test codes': they sit in one small ball beside the codes' cloud,
# near a few short codes (printed). NN distance alone does not say "decodes like a digit".

# %% [markdown] tags=["solution"]
# **Exercise 3: what the solution shows.** A Gaussian fitted to the codes gives sharper images than
# N(0, I). But here several are not digits, and its samples lie much farther from the nearest training
# code than test codes do (printed). They even lie farther than N(0, I) samples, which decode worse:
# distance alone does not rank generators. The codes fill only part of that Gaussian, and the decoder
# never saw the rest. So AE + fitted Gaussian is a poor generator. A mixture of Gaussians fitted afterwards does better
# (Ghosh et al., 2020; [Optional](#Optional:-the-diagonal-fit-has-the-wrong-shape)); the VAE trains the codes towards N(0, I).

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** `p(z|x) ~ N(0,I)`, a line of the write-up. N(0, I) is the **prior** p(z), what we
# > decode from to generate. The **posterior** p(z | x) = p(x | z) p(z) / p(x) holds the codes that fit
# > *this* image x (notebook 02).
#
# > **Common mistake.** Averaging the loss over pixels (`reduction="mean"`) instead of summing: it is no
# > longer nats per image, and in a VAE it shrinks the reconstruction term against the KL (notebook 06).

# %% [markdown]
# ## Summary
# - An AE compresses an image into a code and reconstructs it: 20 numbers cost far fewer nats per image
#   than 2.
# - Its codes lie far from where N(0, I) puts its mass: N(0, I) samples decode to grey blurs.
# - Samples of a Gaussian fitted to the codes decode sharp, but lie far from the training codes, and not
#   all are digits.
# - The VAE *trains* each image's codes towards a prior (towards, not onto). Next:
#   [02 The ELBO](02_elbo.ipynb), why that needs a bound on log p(x), and the bound.

# %% [markdown]
# ## Optional
# Each section with its minutes at the core's pace. A second class, about 53 minutes, on where the codes
# lie and what they cost:
# - [The loss does not fix where the codes lie](#Optional:-the-loss-does-not-fix-where-the-codes-lie), 7 min: move the codes by any invertible Az + t, undo it in the decoder: the same loss.
# - [N(0, I) samples at the length of the codes](#Optional:-N(0,-I)-samples-at-the-length-of-the-codes), 5 min: sharper, still off the codes.
# - [The 2-number codes, seen whole](#Optional:-the-2-number-codes,-seen-whole), 6 min: the codes and the decoder on a plane.
# - [Memorising a small training set](#Optional:-memorising-a-small-training-set), 14 min: a second AE on 300 images, and what a gap means.
# - [Paying for the code](#Optional:-paying-for-the-code), 11 min: the cost of z, and the AE still beats the baseline.
# - [The diagonal fit has the wrong shape](#Optional:-the-diagonal-fit-has-the-wrong-shape), 10 min: correlations, and a mixture of Gaussians.
#
# Reading for home, about 18 minutes:
# - [Exercise 4, the reconstruction error by hand](#Optional:-Exercise-4,-the-reconstruction-error-by-hand), 7 min: bits per dimension from your `bernoulli_nll`.
# - [Binary cross-entropy on grey levels](#Optional:-binary-cross-entropy-on-grey-levels), 2 min: a common mistake.
# - [Why the lengths of N(0, I) samples bunch together](#Optional:-why-the-lengths-of-N(0,-I)-samples-bunch-together), 3 min: the chi distribution, by the delta method.
# - [The mismatch in one number](#Optional:-the-mismatch-in-one-number-(after-notebook-04)), 6 min, after notebook 04: the KL divergence of the codes from N(0, I).

# %% [markdown]
# ## Optional: Exercise 4, the reconstruction error by hand
#
# **Exercise 4 (5 min).** Set `bits` to the AE's mean error on `test_binary` in bits per dimension,
# from your `bernoulli_nll` (Exercise 1), and `baseline_bits` to the baseline's (from `mean_image`).
# The checks compare them with the Training section's numbers.

# %%
bits = None  # your code here: the AE's mean error on test_binary, bits per dimension
baseline_bits = None  # your code here: the same for the baseline

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
with torch.inference_mode():
    nats = bernoulli_nll(autoencoder(test_binary), test_binary).mean().item()
bits = bits_per_dim(nats)
baseline_bits = bits_per_dim(bernoulli_nll(mean_image, test_binary).mean().item())
print(f"AE on the binarized test images: {nats:.1f} nats per image = {bits:.3f} bits per dimension; "
      f"baseline {baseline_bits:.3f}")
assert abs(nats - history.last["test_loss"]) < 0.1, "the same number as the Training section's"

# %%
check.bits_per_dimension(bits, bernoulli_nll, autoencoder, test_binary,  # the Training section's number?
                         history.last["test_loss"]);
check.bits_per_dimension(baseline_bits, bernoulli_nll, lambda x: mean_image, test_binary,  # the baseline's?
                         baseline, name="baseline_bits", probabilities="mean_image",
                         measured="the baseline's");

# %% [markdown]
# ## Optional: binary cross-entropy on grey levels
# > **Common mistake.** Taking the binary cross-entropy of grey-scale images for the reconstruction
# > log-likelihood. For a grey level g the BCE −[g log p + (1 − g) log(1 − p)] is smallest at p = g,
# > where it is the pixel's entropy, not 0: a *perfect* reconstruction still costs nats. It is a
# > log-likelihood only on binary pixels, hence `fit` binarizes (or use the continuous Bernoulli,
# > Loaiza-Ganem & Cunningham 2019).

# %% tags=["nbval-check-output"]
grey = torch.linspace(0, 1, 101, dtype=torch.float64)  # grey levels 0, 0.01, ..., 1, each reconstructed perfectly: p = g
perfect_bce = torch.nn.functional.binary_cross_entropy(grey, grey, reduction="none")
print("BCE of a perfect reconstruction of pixels 0.5, 0.9, 1.0:", [round(perfect_bce[i].item(), 3) + 0.0 for i in (50, 90, 100)], "nats")

# %% [markdown]
# ## Optional: why the lengths of N(0, I) samples bunch together
# The histogram's narrow bump lies near √20 and has sd / mean ≈ 1/√40 (printed below), in three steps:
# - each zᵢ² has mean 1 and variance 2, so E‖z‖² = 20 and Var ‖z‖² = 40;
# - ‖z‖ = √‖z‖², and the square root's slope at 20 is 1/(2√20), so sd ‖z‖ ≈ √40 / (2√20);
# - so sd / mean ≈ √40 / (2 · 20) = 1/√40.
#
# The median length, that of the chi distribution with 20 degrees of freedom, is a little below √20.

# %%
relative_spread = (prior_lengths.std() / prior_lengths.mean()).item()
chi_median = stats.chi(df=20).median()
print(f"lengths of the 2000 N(0, I) samples: std / mean {relative_spread:.3f} (1/√40 = {1 / math.sqrt(40):.3f}); "
      f"median {prior_lengths.median():.2f} (chi distribution: {chi_median:.2f}; √20 = {math.sqrt(20):.2f})")

# %% jupyter={"source_hidden": true}
squares = prior_samples.pow(2)  # the prose's steps on the 2000 samples, each within about 4 standard errors
assert abs(squares.mean() - 1) < 0.03 and abs(squares.var() - 2) < 0.15 and abs(squares.sum(1).var() - 40) < 6, \
    "the prose: each zᵢ² has mean 1 and variance 2, and ‖z‖² variance 40"
assert abs(relative_spread - 1 / math.sqrt(40)) < 0.01, "the prose: the samples' std / mean is near 1/√40"
assert abs(prior_lengths.median() - chi_median) < 0.07 and chi_median < math.sqrt(20), \
    "the prose: the samples' median length is the chi distribution's, a little below √20"

# %% [markdown]
# ## Optional: the loss does not fix where the codes lie
# Take any invertible 20 × 20 matrix A and any shift t. Change the encoder's last layer so that it outputs
# Az + t in place of z. Give the decoder's first layer (weights W, bias b) the weights W A⁻¹ and the bias
# b − W A⁻¹ t. That layer then computes W A⁻¹ (Az + t) + b − W A⁻¹ t = Wz + b, as before. So every
# reconstruction, and the loss, is the same, while the codes are stretched, turned and moved (below, with a
# random A and t). Nothing in the loss fixes the codes' scale, directions or centre: where they lie is left
# to the initialisation and the optimiser. (The next section finds their centre well away from 0.)

# %%
import copy

g = torch.Generator().manual_seed(5)
A = torch.linalg.qr(torch.randn(20, 20, generator=g)).Q * torch.linspace(0.5, 3, 20)  # turned, then stretched
t = 5 * torch.randn(20, generator=g)
moved = copy.deepcopy(autoencoder)
with torch.no_grad():
    last, first_layer = moved.encoder.net[-1], moved.decoder.net[0]  # z = last(h); first_layer(z) = Wz + b
    last.weight.copy_(A @ last.weight), last.bias.copy_(A @ last.bias + t)  # now it outputs Az + t
    W_A_inverse = first_layer.weight @ torch.linalg.inv(A)
    first_layer.bias.sub_(W_A_inverse @ t), first_layer.weight.copy_(W_A_inverse)  # b − W A⁻¹ t, then W A⁻¹
    moved_codes = moved.encode(test_binary)
    test_error = {ae: ae.loss(test_binary)[0].mean().item() for ae in (autoencoder, moved)}
print(f"test error: {test_error[autoencoder]:.2f} nats per image before, {test_error[moved]:.2f} after; the codes' "
      f"mean moved by {(moved_codes.mean(0) - test_codes.mean(0)).norm():.1f}, their median length from "
      f"{test_codes.norm(dim=1).median():.1f} to {moved_codes.norm(dim=1).median():.1f}")

# %% [markdown]
# Once trained, though, the decoder draws sharp images only from long codes. (Part of that holds for any ReLU
# decoder: along a ray from 0 its logits grow roughly in proportion; the training codes show what training
# tuned.) Call a pixel *grey* if
# 0.05 < p < 0.95, that is |logit| < ln 19 (σ(ln 19) = 19/20). Short codes, N(0, I) samples z, leave many pixels grey: blurs. Longer
# ones, 3z (the same directions) or the training codes, leave far fewer.

# %%
with torch.inference_mode():
    logits = [autoencoder.decoder(z) for z in (prior_samples, 3 * prior_samples, train_codes)]
grey_share = [(logit.abs() < math.log(19)).float().mean().item() for logit in logits]  # |logit| < ln 19: grey
print(f"grey pixels (0.05 < p < 0.95): {grey_share[0]:.0%} for N(0, I) samples z, {grey_share[1]:.0%} for 3z, "
      f"{grey_share[2]:.0%} for the training codes")

# %% jupyter={"source_hidden": true}
with torch.inference_mode():  # the prose: the same reconstructions from codes that moved
    assert torch.allclose(moved(test_binary), autoencoder(test_binary), atol=1e-4) and abs(test_error[moved] - test_error[autoencoder]) < 0.01, \
        "the same images, the same loss: is the decoder's first layer W A⁻¹, with bias b − W A⁻¹ t?"
assert (moved_codes - test_codes).norm(dim=1).min() > 1, "the codes themselves should have moved"
# a demonstration, not a check: σ(ln 19) = 19/20, so |logit| < ln 19 means exactly 0.05 < p < 0.95
assert abs(torch.sigmoid(torch.tensor(math.log(19), dtype=torch.float64)) - 0.95) < 1e-12
assert data.name != "mnist" or grey_share[0] > 1.5 * max(grey_share[1:]), "the prose: longer codes, far fewer grey pixels"

# %% [markdown]
# ## Optional: N(0, I) samples at the length of the codes
# Would the right length alone give digits? Rescale each N(0, I) sample (the histogram's 2000) to the
# codes' median length, keeping its direction. Are the decoded images still grey? Do these z lie where
# the training codes lie? (The table's columns: Exercise 3. A z lies *beyond* if its NN distance exceeds
# that of 95 % of test codes.)

# %%
code_mean, code_std = train_codes.mean(0), train_codes.std(0)  # each dimension's; N(0, I): 0 and 1
print(f"the codes' mean lies √Σμᵢ² = {code_mean.norm():.1f} from 0; σᵢ from {code_std.min():.1f} to {code_std.max():.1f}")
rescaled = prior_samples * code_lengths.median() / prior_samples.norm(dim=1, keepdim=True)  # same directions
with_rescaled = decode_and_measure({"N(0, I) samples": prior_samples, "N(0, I) samples, rescaled": rescaled,
                                    "test codes (reconstructions)": test_codes})
beyond = lambda z: (nn_distance(z) > nn_distance(test_codes).quantile(0.95)).float().mean().item()
print(f"beyond, farther from every training code than 95 % of test codes: {beyond(rescaled):.0%} of the rescaled samples")

# %% jupyter={"source_hidden": true}
unscaled, rescaled_entropy, test_entropy = [pixel_entropy(p) for p in with_rescaled.values()]
assert data.name != "mnist" or rescaled_entropy < test_entropy < unscaled, \
    "the prose: rescaled N(0, I) samples decode with less grey than reconstructions (which have less than N(0, I) samples)"
assert data.name != "mnist" or nearest(rescaled) > 1.5 * nearest(test_codes), \
    "the prose: rescaled, the samples lie far farther from every training code than test codes"
assert QUICK or data.name != "mnist" or beyond(rescaled) > 0.9, "the prose: rescaled, almost all samples lie beyond"
assert data.name != "mnist" or (code_mean.norm() > 1 and code_std.min() > 1), "the prose: the codes' mean lies away from 0, each σᵢ > 1"

# %% [markdown]
# *Figure: N(0, I) samples decode to grey blurs; rescaled, to sharp strokes, here mostly not digits;
# test codes, to their digits.* Rescaled, the samples are less grey than reconstructions. But almost all
# lie beyond: the decoder never saw that part of the sphere. The right length is not enough. This sphere is
# still centred at 0 and round, while the codes' mean lies away from 0 and each σᵢ exceeds 1 (printed).
# Exercise 3's Gaussian fits the centre and each dimension's scale.

# %% [markdown]
# ## Optional: the 2-number codes, seen whole
# The 2-number AE of Exercise 2 puts each image at a point of a plane, so its codes can be drawn as they
# are, with no projection. Left: its training codes, one colour per digit, and the circle that holds 95 %
# of N(0, I). Right: the decoder's image at each point of a grid over the same square.

# %%
labels = None if subset.train_labels is None else subset.train_labels[:len(train_codes)]  # of the 5000 images
angle, r95 = torch.linspace(0, 2 * math.pi, 200), math.sqrt(stats.chi2(df=2).ppf(0.95))  # 95 % of 2-D N(0, I): within r95
if two_numbers is None:
    print("Exercise 2 not written yet: there is no 2-number AE to draw.")
else:
    with torch.inference_mode():  # the same 5000 binarized training images as the 20-number codes
        plane_codes = two_numbers.encode(vae_lite.binarize(subset.train[:5000], torch.Generator().manual_seed(0)))
    low = min(plane_codes.quantile(0.01).item(), -r95) - 1  # a square around the circle and 98 % of the codes
    high = max(plane_codes.quantile(0.99).item(), r95) + 1
    figure = plots.latent_map(two_numbers, plane_codes, labels, n=10, limits=(low, high), names=list("0123456789"),
                              title="the 2-number AE's training codes;\nblack circle: 95 % of N(0, I)")
    for ax in figure.axes[:2]:
        ax.plot(r95 * angle.cos(), r95 * angle.sin(), color="black", linewidth=3)
    in_circle = (plane_codes.norm(dim=1) < r95).float()
    print(f"training codes inside the circle: {in_circle.mean():.0%} (in 20-D, inside the 99.9 % ball: {inside:.0%})")
    if labels is not None:
        print("by label:", ", ".join(f"{d}: {in_circle[labels == d].mean():.0%}" for d in range(10)))

# %% jupyter={"source_hidden": true}
if two_numbers is not None and labels is not None and data.name == "mnist":
    by_label = torch.stack([in_circle[labels == d].mean() for d in range(10)])
    assert QUICK or (by_label.max() > 0.5 and by_label[1] < 0.1), \
        "the prose: here the circle holds over half the codes of some digit, and hardly any 1s"
    assert QUICK or in_circle.mean() > inside + 0.2, "the prose: in 2-D the circle holds far more of the codes than the 20-D ball"

# %% [markdown]
# *Figure: left, the training codes of the 2-number AE: each digit takes its own region, here 1s a long
# arm. Right: what the decoder makes of each point.* Here the circle of N(0, I) holds over half the codes
# of some digits and hardly any 1s (printed): drawn from N(0, I), this AE would rarely give a 1. Where no
# code lies, as in the square's two left-hand corners, the decoder still paints an image (here a 0 above,
# broken strokes below): nothing in its training said what belongs there. In 2-D the circle holds a good
# share of the codes; the 20-number AE's 99.9 % ball held none.

# %% [markdown]
# ## Optional: memorising a small training set
# H(p) is also the least a pixel that is 1 with probability p costs on average. The *grey entropy* of a
# grey-scale image (above the table below) sums H(gᵢ) over its grey levels gᵢ: the cost of predicting
# p = g, the best a decoder can do that knows which image but not which binarized draw of it. (The
# core's *pixel entropy* is the same sum over a decoder's output p; the grey entropy is the data's.)
#
# > **Predict, then run.** The AE has over half a million weights (printed above). Train a second AE on a
# > few hundred images for as many steps (same batch size) as the first. Will it reconstruct *its own*
# > images better or worse than the first? And new images?

# %%
n_small = 200 if QUICK else 300
small = vae_lite.ImageData(data.train[:n_small], name=data.name)  # no test set: evaluated below
small_epochs = len(history) * math.ceil(len(subset.train) / batch_size) // math.ceil(n_small / batch_size)  # as many steps as above
small_ae = vae_lite.Autoencoder(data.image_shape, latent_dim=20, hidden=400)
vae_lite.fit(small_ae, small, epochs=small_epochs, batch_size=batch_size, progress=False);

# %%
first = vae_lite.binarize(small.train, torch.Generator().manual_seed(0))  # the first n_small training images: both AEs trained on them
unseen = vae_lite.binarize(data.train[len(subset.train):][:len(test_binary)], torch.Generator().manual_seed(0))  # neither did
with torch.inference_mode():  # nats, one number per image
    own = {ae: ae.loss(first)[0] for ae in (autoencoder, small_ae)}
    never = {ae: ae.loss(unseen)[0] for ae in (autoencoder, small_ae)} if len(unseen) else None  # none left in a small data set
    new = {ae: ae.loss(test_binary)[0] for ae in (autoencoder, small_ae)}
grey_entropy = lambda images: torch.nn.functional.binary_cross_entropy(images, images, reduction="sum").item() / len(images)  # BCE at p = g
mean_se = lambda nats: f"{nats.mean():.1f} ± {nats.std() / math.sqrt(len(nats)):.1f}"  # ± one standard error over the images
print(f"nats per image; own images: the first {n_small}, grey entropy {grey_entropy(small.train):.1f}; "
      f"unseen: {len(unseen)} other training-set images")
print(f"{'training images':>16} {'steps':>6} {'own images':>12} {'unseen images':>14} {'test images':>12} {'gap':>6}")
for ae, n_images, epochs_run in ((autoencoder, len(subset.train), len(history)), (small_ae, n_small, small_epochs)):
    gap = round(new[ae].mean().item(), 1) - round(own[ae].mean().item(), 1)  # test − own, of the numbers shown
    print(f"{n_images:>16} {epochs_run * math.ceil(n_images / batch_size):>6} {mean_se(own[ae]):>12} "
          f"{mean_se(never[ae]) if never else '–':>14} {mean_se(new[ae]):>12} {gap:6.1f}")
paired = own[small_ae] - own[autoencoder]
shown = round(own[small_ae].mean().item(), 1) - round(own[autoencoder].mean().item(), 1)  # from the shown means, as the gaps
print(f"own images, paired (second AE − first, same images): {shown:.1f} ± {paired.std() / math.sqrt(len(paired)):.1f}")

# %% jupyter={"source_hidden": true}
sum_of_H = H(small.train.double()).sum().item() / n_small
assert abs(grey_entropy(small.train) - sum_of_H) < 1e-3 * sum_of_H, \
    "the prose: the grey entropy, the binary cross-entropy at p = g, is Σ H(gᵢ)"
assert abs(new[autoencoder].mean() - history.last["test_loss"]) < 0.1, \
    "a consistency check, not a claim: the table's test images are the Training section's"
small_train, small_test = own[small_ae].mean().item(), new[small_ae].mean().item()
big_train, big_test = own[autoencoder].mean().item(), new[autoencoder].mean().item()
assert data.name != "mnist" or small_train < big_train, \
    "the prose: the second AE's own images cost less than the first's"
assert data.name != "mnist" or (small_test - small_train > 2 * (big_test - big_train) and small_test > big_test), \
    "the prose: the second AE, trained on few images, should reconstruct new images much worse than its own, and than the first AE"
# gap = (unseen − own) + (test − unseen): memorising + the split
assert QUICK or data.name != "mnist" or \
    never[small_ae].mean() - own[small_ae].mean() > 10 * abs(new[small_ae].mean() - never[small_ae].mean()), \
    "the prose: for the second AE unseen training-set images cost nearly as much as test images: memorising"
assert QUICK or data.name != "mnist" or small_train > grey_entropy(small.train), \
    "the prose: here the second AE's own images cost more than the grey entropy"
# a demonstration more than a check: it fails only if the two AEs' errors were negatively correlated
assert (own[small_ae] - own[autoencoder]).std() < math.hypot(own[small_ae].std(), own[autoencoder].std()), \
    "the prose: paired, the ± would be narrower"

# %% [markdown]
# With as many steps, the second AE reconstructs its own images better than the first. It reconstructs test
# images far worse: it has memorised its training set (one run each, checked on MNIST; ±: one standard
# error over the images; paired on the same images, the difference's ± is narrower, printed). Is a gap
# memorising, or are the test images harder? Images of the training set that neither AE trained on
# (unseen) answer it. For the second AE they cost nearly as much as test images: its gap is memorising,
# not the split. The first AE's gap is a few nats, too small to split at this precision (one run).
#
# It does not reach 0 nats: its pixels are redrawn every epoch. Here it stays above the grey entropy
# (printed above the table). That entropy is the floor only for a decoder that does not see the binarized
# draw; this one sees the draw's code, because the encoder reads the draw, so a longer training could go
# below it. A VAE's KL term does not prevent memorising by itself; notebook 09 watches the gap.

# %% [markdown]
# ## Optional: paying for the code
# As 20 float32 numbers, z costs 20 × 32 bits (in nats below). It need not be that precise:
# - round each number of z to a grid of step Δ;
# - send it at −log P(its grid cell) nats, P from a Gaussian fitted to the training codes;
# - send x at −log p(x | rounded z) nats.
#
# Why −log P (the Model section's claim), in bits (−log₂ P; nats are the same with ln). Four symbols of probability ½, ¼, ⅛, ⅛ get the
# codewords 0, 10, 110, 111: lengths 1, 2, 3, 3 = −log₂ P. No codeword begins another, so a string of them
# decodes one way. Kraft: any lengths ℓ with Σ 2^−ℓ ≤ 1 have such a code, and ℓ = −log₂ P gives
# Σ 2^−ℓ = Σ P = 1. Where −log₂ P is not a whole number, round it up (within 1 bit per symbol), or use an
# arithmetic coder (it sends the whole message as one number in an interval of width P): −log P for any
# P, to within 2 bits per message. No code does better on average
# (Shannon). The grid cells tile the line, so their P sum to 1 (a sanity check below).
# The receiver knows the Gaussian and the decoder, so it gets x back exactly: the sum is a cost of sending x.
# Neither side pays for its model (decoder, mean image), as in the papers.

# %%
fitted_gaussian = torch.distributions.Normal(code_mean.double(), code_std.double())  # float64: P > 0
cdf = fitted_gaussian.cdf
cell_probability = lambda z, step: cdf(z + step / 2) - cdf(z - step / 2)  # for each of the 20 numbers
print(f"z as 20 float32s: {20 * 32 * math.log(2):.1f} nats. "
      f"Baseline: {baseline:.1f} nats per image. Rounded z:")
two_part, per_image = {}, {}  # step: (nats for z, nats for x given z), means over the test images
with torch.inference_mode():
    for step in (0.5, 1, 2, 4):
        z = step * (test_codes.double() / step).round()  # the nearest grid point
        z_nats = -cell_probability(z, step).log().sum(dim=1)  # −log P(its cells), over the 20 numbers
        x_nats = -autoencoder.log_likelihood(test_binary, z.float())  # −log p(x | rounded z)
        two_part[step], per_image[step] = (z_nats.mean().item(), x_nats.mean().item()), z_nats + x_nats
        z_cost, x_cost = two_part[step]
        print(f"  Δ = {step:<3}: z {z_cost:5.1f} + x given z {x_cost:5.1f} "
              f"= {round(z_cost, 1) + round(x_cost, 1):5.1f} nats per image")  # sum of the shown
se = {step: (per_image[2] - per_image[step]).std().item() / math.sqrt(len(test_binary)) for step in (1, 4)}
print(f"± one standard error over the test images of the paired difference Δ = 2 minus Δ = 1: {se[1]:.1f}; "
      f"minus Δ = 4: {se[4]:.1f}")

# %% jupyter={"source_hidden": true}
# A demonstration, not a check: the prose's example, typed in here, cannot change
symbol_p, codewords = [1 / 2, 1 / 4, 1 / 8, 1 / 8], ["0", "10", "110", "111"]
assert [len(c) for c in codewords] == [-math.log2(p) for p in symbol_p], "the prose: lengths −log₂ P"
assert not any(a != b and b.startswith(a) for a in codewords for b in codewords), "the prose: prefix-free"
assert sum(2.0 ** -len(c) for c in codewords) == 1, "the prose: Kraft's sum is 1"
for step in two_part:  # a sanity check of cell_probability: the grid's cells, far beyond the codes, sum to 1
    total = cell_probability(step * torch.arange(-400, 401).double()[:, None], step).sum(dim=0)
    assert torch.allclose(total, torch.ones(20, dtype=torch.float64)), f"Δ = {step}: the cells' probabilities should sum to 1"
z_costs, x_costs = zip(*two_part.values())  # finest grid first
assert data.name != "mnist" or all(sum(costs) < baseline for costs in two_part.values()), \
    "the prose: with z paid for, the AE compresses better than the baseline"
assert data.name != "mnist" or (list(z_costs) == sorted(z_costs, reverse=True) and list(x_costs) == sorted(x_costs)), \
    "the prose: a coarser grid makes z cheaper, x dearer"
totals = [sum(costs) for costs in two_part.values()]
assert QUICK or data.name != "mnist" or min(totals) < min(totals[0], totals[-1]), "the prose: the total is least at a middle step"
assert QUICK or data.name != "mnist" or (totals[2] == min(totals) and totals[1] - totals[2] > 5 * se[1] and totals[3] - totals[2] > 5 * se[4]), \
    "the prose: the total is least at Δ = 2, by many standard errors"

# %% [markdown]
# The AE now pays for its code, and it still compresses better than the baseline, at each step. A coarser
# grid makes z cheaper and x dearer. The total is least at a middle step, Δ = 2, by many standard errors.
# That holds for this AE (one seed) on these test images; nothing is chosen by them. This trade-off of rate (z) against distortion (x) returns in notebook 08 (β).
#
# P is a prior over the rounded codes, so AE + P is a latent-variable model. Its p(x) sums P(z) p(x | z)
# over all rounded z, so each total is an upper bound on its −log p(x). As a generator it is poor
# (Exercise 3 sampled this Gaussian).

# %% [markdown]
# ## Optional: the diagonal fit has the wrong shape
# A diagonal fit keeps each dimension's variance, so its total variance (trace) is the codes'. It drops
# their correlations, so it spreads that total along the coordinate axes: too narrow along the codes'
# main directions, too wide along their minor ones. The codes' *principal components* (PCs) are those
# directions, PC 1 the one along which they vary most, PC 20 the least (ratios printed along each). The
# figure draws both fits as 95 % ellipses in the plane of PC 1 and PC 20.
# Is the shape why its samples miss the codes? A Gaussian with the codes' full covariance has their
# spread in every direction (table; *beyond* as for the N(0, I) samples at the codes' length).

# %%
from sklearn.mixture import GaussianMixture

diagonal_fit = fitted_gaussian.sample((2000,)).float()  # P of "Paying for the code"; a new draw
full_fit = torch.distributions.MultivariateNormal(code_mean.double(),  # with the correlations
                                                  torch.cov(train_codes.T.double()))
pcs = torch.linalg.svd(train_codes - code_mean, full_matrices=False).Vh.T  # (20, 20): PC 1 first
along_pcs = ((train_codes - code_mean) @ pcs).var(0)  # the codes' variance along each PC
ratio = (pcs**2 * code_std[:, None] ** 2).sum(0) / along_pcs  # the fit's variance along v over the codes'
print(f"total variance: fit {code_std.pow(2).sum():.1f}, codes {along_pcs.sum():.1f}")
print(f"variance along each PC, fit / codes: {ratio[0]:.2f} along PC 1, {ratio[1]:.2f} along PC 2 ... "
      f"{ratio[-1]:.2f} along PC 20; too wide along {(ratio > 1).sum()} of 20")
full_samples = full_fit.sample((2000,)).float()
fits = {"test codes": test_codes, "diagonal fit": diagonal_fit, "full covariance": full_samples}
if not QUICK:  # class mode only (about 1 s): a mixture of 10 full-covariance Gaussians
    mixture = GaussianMixture(10, random_state=0).fit(train_codes.double().numpy())
    fits["10-Gaussian mixture"] = torch.as_tensor(mixture.sample(2000)[0], dtype=torch.float32)
print(f"{'':>20} {'median distance to the nearest training code':>45} {'beyond':>7}")
for name, z in fits.items():
    print(f"{name:>20} {nearest(z):45.2f} {beyond(z):7.2f}")
plane = pcs[:, [0, -1]]  # PC 1 and PC 20: the fit's narrowest and widest directions against the codes
ax = plots.latent_scatter((train_codes - code_mean) @ plane, labels, title="the codes: 95 % ellipses of the full-covariance (solid)\nand the diagonal (dashed) Gaussian fits",
                          names=list("0123456789"), size=25).axes[0]
ring = torch.stack([angle.cos(), angle.sin()])  # the unit circle
for cov, style, name in ((plane.T @ torch.cov(train_codes.T) @ plane, "-", "Gaussian with the codes' covariance"),
                         (plane.T @ code_std.pow(2).diag() @ plane, "--", "diagonal fit")):
    ellipse = r95 * torch.linalg.cholesky(cov) @ ring  # holds 95 % of a 2-D Gaussian of covariance cov
    ax.plot(*ellipse, color="black", linestyle=style, linewidth=3, zorder=5, label=f"{name}, 95 %")
ax.set(xlabel="principal component 1", ylabel="principal component 20")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2);  # below the axes, off the codes

# %% jupyter={"source_hidden": true}
assert abs(code_std.pow(2).sum() - along_pcs.sum()) < 1e-3 * along_pcs.sum(), "the prose: same trace"
assert data.name != "mnist" or ratio[0] < 0.8, "the prose: the diagonal fit is too narrow along PC 1"
assert QUICK or data.name != "mnist" or (ratio[1] < 1 and ratio[-1] > 1.25 and (ratio > 1).sum() > 10), \
    "the prose: the diagonal fit is too narrow along PC 2 too, and too wide along most PCs and the last"
assert QUICK or data.name != "mnist" or \
    nearest(test_codes) * 1.3 < nearest(full_samples) < nearest(diagonal_fit), \
    "the prose: with the correlations, samples lie nearer the codes, but far farther than test codes"
assert QUICK or data.name != "mnist" or \
    nearest(test_codes) < nearest(fits["10-Gaussian mixture"]) < 0.9 * nearest(full_samples), \
    "the prose: the mixture's samples lie far nearer the codes than a full Gaussian's, but not as test codes"

# %% [markdown]
# *Figure: the codes with two 95 % ellipses: of a Gaussian with the codes' covariance (solid) and of the diagonal fit (dashed),
# narrower along PC 1, wider along PC 20: a different shape.* (The table's diagonal fit is a new draw,
# so its numbers differ a little from Exercise 3's.) With the correlations kept, the samples lie a little
# nearer the codes, but still far farther than test codes do. The codes are clustered, not Gaussian: no
# single Gaussian fits them. A mixture of 10 Gaussians fitted afterwards (Ghosh et al., 2020; class mode
# only) lies far nearer, though not as near as test codes. It is fitted to the very codes it is measured
# against, so nearer is better only down to the test codes' level. The VAE instead trains the codes
# towards a prior.

# %% [markdown]
# ## Optional: the mismatch in one number (after notebook 04)
# The *KL divergence* of q from p, KL(q ‖ p) = E_q[log q(z)/p(z)], is the extra nats paid, on average,
# to send samples of q with a code built for p. It is ≥ 0, and 0 only when q = p (notebook 04 derives it
# for Gaussians). Here q is a Gaussian with independent dimensions fitted to the training codes, and
# p = N(0, I). The same fit to as many
# samples *of* N(0, I) gives the KL of sampling noise alone. In a VAE, the codes of the N training images,
# drawn from their q(z | xₙ) (the VAE encoder's output, notebook 05), follow the *aggregate posterior* q(z) = (1/N) Σₙ q(z | xₙ), a mixture. The VAE's KL term, averaged over the images,
# is I(x; z) + KL(q(z) ‖ N(0, I)) (Hoffman & Johnson, 2016): it pulls the aggregate towards the prior. But with N
# images I(x; z) ≤ log N, so carrying much information needs narrow q(z | xₙ), whose mixture cannot fill N(0, I):
# this KL need not vanish there either.

# %%
kl_fit = vae_lite.kl_standard_normal(code_mean, 2 * code_std.log()).item()  # second argument: log σ²
noise = torch.randn(len(train_codes), 20, generator=torch.Generator().manual_seed(4))
kl_noise = vae_lite.kl_standard_normal(noise.mean(0), 2 * noise.std(0).log()).item()
print(f"KL(Gaussian fitted to the codes || N(0, I)) = {kl_fit:.1f} nats; "
      f"for a Gaussian fitted to {len(noise)} samples of N(0, I): {kl_noise:.3f}")
assert abs(kl_fit - 0.5 * (code_mean**2 + code_std**2 - 1 - 2 * code_std.log()).sum().item()) < 1e-3, \
    "kl_fit should be ½ Σ(μ² + σ² − 1 − log σ²): is the second argument log σ instead of log σ² = 2 log σ? (or check kl_standard_normal's formula)"
assert kl_fit > 10, "the codes should be far from N(0, I), over 10 nats: nothing in AE training pulls them there"
standard = torch.distributions.MultivariateNormal(torch.zeros(20, dtype=torch.float64),
                                                  torch.eye(20, dtype=torch.float64))
kl_full = torch.distributions.kl_divergence(full_fit, standard).item()  # with the correlations
print(f"the same with the codes' correlations (a full covariance): {kl_full:.1f} nats")
assert data.name != "mnist" or kl_full > kl_fit + 1, "the prose: the codes' correlations move them over a nat farther from N(0, I)"


# %% [markdown]
# Why the correlations cost nats: KL(q ‖ N(0, I)) = E_q[log q(z)] + ½ E_q‖z‖² + 10 log 2π (20 dimensions).
# The middle term depends only on q's means and variances. The first is minus q's *entropy*, and for given
# variances, independent Gaussian dimensions have the most entropy. So the fitted Gaussian has the least
# KL of any q with the codes' means and variances: correlated or non-Gaussian codes lie farther from
# N(0, I). The correlations alone add nats (printed).
