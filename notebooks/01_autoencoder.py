# %% [markdown]
# # 01 The autoencoder: compress, reconstruct, and why it is not a generator
#
# Next: [02 The ELBO](02_elbo.ipynb)
#
# **Learning goals**
# - Train a plain autoencoder (AE) with `vae_lite` and read its reconstruction error in nats.
# - Decode random codes z ~ N(0, I) and see that the AE's decoder is a poor generator.
# - Back that with numbers: where the AE's codes actually lie compared with N(0, I), how much of
#   N(0, I) falls where no training code lies, and how a small training set is memorised.
#
# The AE has no prior over its codes: nothing in its training says which z are "valid".
# The VAE (notebooks 02–05) adds exactly that.

# %% [markdown]
# ## Setup

# %%
import torch

import vae_lite
from vae_lite import check, plots

torch.manual_seed(0)
QUICK = vae_lite.quick_mode()  # VAE_LITE_QUICK=1 (CI) uses less data and fewer epochs
# This small model trains in seconds on one thread; with two threads on a busy machine (a shared
# CI runner, a laptop with other work) the threads wait for each other and it runs several times slower.
torch.set_num_threads(1)
print("quick mode" if QUICK else "class mode")

# %% [markdown]
# ## Data
#
# MNIST if it is on disk, else scikit-learn's 8×8 digits. We train on a subset so the notebook
# runs in about a minute on a laptop CPU.

# %%
data = vae_lite.load_dataset("auto")
n_train, n_test = (2000, 1000) if QUICK else (6000, 2000)
subset = data.subset(train=n_train, test=n_test)
print(subset)

# %%
# NBVAL_CHECK_OUTPUT
print("one image:", tuple(subset.train[0].shape), "values in", (subset.train.min().item(), subset.train.max().item()))

# %% [markdown]
# ## Model
#
# Encoder: image → 400 hidden units → a code of 20 numbers. Decoder: code → 400 → one
# probability per pixel. The loss is the Bernoulli negative log-likelihood of the image given its
# code (binary cross-entropy summed over pixels), in nats per image. The code is in the package:

# %%
print(vae_lite.Autoencoder.loss.__doc__)
print(vae_lite.Autoencoder.sample.__doc__)

# %%
# NBVAL_CHECK_OUTPUT
autoencoder = vae_lite.Autoencoder(data.image_shape, latent_dim=20, hidden=400)
print(autoencoder)
print("parameters:", sum(p.numel() for p in autoencoder.parameters()))

# %% [markdown]
# ## Training
#
# `fit` binarizes the images anew every epoch (each pixel is 1 with probability equal to its
# grey level), because the Bernoulli likelihood is a true likelihood only on binary data.

# %%
epochs, batch_size = (2, 32) if QUICK else (3, 64)
history = vae_lite.fit(autoencoder, subset, epochs=epochs, batch_size=batch_size, progress=False)
for r in history.records:
    print(f"epoch {r['epoch']}: train {r['train_loss']:.1f}  test {r['test_loss']:.1f} nats per image")
# a baseline that uses no code at all: reconstruct every test image as the mean training image
test_binary = vae_lite.binarized_test_set(subset)
mean_image = subset.train.mean(0).clamp(1e-4, 1 - 1e-4).expand_as(test_binary)
baseline = torch.nn.functional.binary_cross_entropy(mean_image, test_binary, reduction="sum").item() / len(test_binary)
print(f"baseline (every image reconstructed as the mean image): {baseline:.1f} nats per image")
assert history.last["test_loss"] < 0.9 * baseline, \
    "the AE should reconstruct test images far better than the mean image does: train longer?"

# %% [markdown]
# ## Experiments
#
# ### Reconstructions
# Top row: test images; bottom row: what the AE makes of them after squeezing each through 20 numbers.

# %%
x = subset.test[:10]
with torch.inference_mode():
    reconstruction = autoencoder(x)
plots.show_rows({"test images": x, "reconstructions": reconstruction});

# %% [markdown]
# ### Decoding random codes
# If the decoder were a generator, decoding z ~ N(0, I) would give new digits.

# %%
samples = autoencoder.sample(20, generator=torch.Generator().manual_seed(0))
plots.show_images(samples, title="decoded z ~ N(0, I)");

# %% [markdown]
# Mostly blurred strokes, not digits. Why? Look at where the codes of real images lie.
#
# ### Where do the codes lie? Per-dimension mean and spread
# N(0, I) has mean 0 and standard deviation 1 in every dimension. The cell below computes the
# codes of the training images and compares.

# %%
with torch.inference_mode():
    train_codes = autoencoder.encode(subset.train[:5000])
    test_codes = autoencoder.encode(subset.test)
code_mean, code_std = train_codes.mean(0), train_codes.std(0)
print("per-dimension mean of the codes:", [round(v, 1) for v in code_mean.tolist()])
print("per-dimension std  of the codes:", [round(v, 1) for v in code_std.tolist()])
print(f"std ranges from {code_std.min():.2f} to {code_std.max():.2f}; N(0, I) has 1 everywhere")
# a one-number summary: KL from a Gaussian fitted to the codes to N(0, I) (notebook 04 derives this formula)
kl_fit = vae_lite.kl_standard_normal(code_mean, 2 * code_std.log()).item()
print(f"KL(Gaussian fitted to the codes || N(0, I)) = {kl_fit:.1f} nats (0 if they matched)")
assert kl_fit > 1.0, "the codes should be far from N(0, I): nothing in AE training pulls them there"

# %% [markdown]
# ### How much of N(0, I) falls where no training code lies?
# Two views. First, distances: for each prior sample, the distance to its nearest training code,
# next to the same distance for test codes (which show what "typical" is for real images).

# %%
prior_samples = torch.randn(2000, 20, generator=torch.Generator().manual_seed(1))
test_distance = torch.cdist(test_codes, train_codes).min(dim=1).values  # exercise 1 below: write this
prior_distance = torch.cdist(prior_samples, train_codes).min(dim=1).values
far = (prior_distance > test_distance.quantile(0.95)).float().mean().item()
print(f"median distance to the nearest training code: test codes {test_distance.median():.2f}, "
      f"prior samples {prior_distance.median():.2f}")
print(f"prior samples farther from every training code than 95% of test codes are: {far:.0%}")
assert prior_distance.median() > test_distance.median(), "prior samples should lie farther from the codes than test codes do"

# %% [markdown]
# In 20 dimensions nearest-neighbour distances are all of a similar size, so this first view is a
# blunt one. The second view is sharper: N(0, I) puts 99.9% of its mass inside a ball around the
# origin (its radius is computed below by sampling; a 20-dimensional standard normal vector has
# length about √20 ≈ 4.5). How many training codes lie inside that ball? That is where almost all
# decoded prior samples come from.

# %%
radius = torch.randn(100_000, 20, generator=torch.Generator().manual_seed(2)).norm(dim=1).quantile(0.999)
inside = (train_codes.norm(dim=1) <= radius).float().mean().item()
print(f"99.9% of N(0, I) lies within radius {radius:.2f} of the origin; training codes inside it: {inside:.1%}")
print(f"code lengths: median {train_codes.norm(dim=1).median():.1f}, prior sample lengths: median {prior_samples.norm(dim=1).median():.1f}")
assert inside < 0.5, "most training codes should lie outside the region that holds 99.9% of the prior's mass"

# %% [markdown]
# ### Memorising a small training set
# With few training images an AE can reconstruct *those* images well and new ones badly. The gap
# between training and test error measures that. We train a second AE on a few hundred images.

# %%
small = data.subset(train=200 if QUICK else 300, test=n_test)
small_ae = vae_lite.Autoencoder(data.image_shape, latent_dim=20, hidden=400)
small_history = vae_lite.fit(small_ae, small, epochs=15 if QUICK else 25, batch_size=50, progress=False)
fixed = torch.Generator().manual_seed(0)  # one binarized copy, as for the test set
small_train = vae_lite.evaluate(small_ae, vae_lite.binarize(small.train, fixed))["loss"]
small_test = small_history.last["test_loss"]
big_train = vae_lite.evaluate(autoencoder, vae_lite.binarize(subset.train[:2000], fixed))["loss"]
big_test = history.last["test_loss"]
print(f"{len(subset.train):>6} training images: train {big_train:6.1f}  test {big_test:6.1f}  gap {big_test - big_train:5.1f} nats")
print(f"{len(small.train):>6} training images: train {small_train:6.1f}  test {small_test:6.1f}  gap {small_test - small_train:5.1f} nats")
assert small_test - small_train > (big_test - big_train) + 0.02 * big_test, \
    "the AE trained on few images should reconstruct its own images much better than new ones"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** "Binary cross-entropy is the reconstruction likelihood" — on grey-scale
# > images it is not. For a pixel of grey level x the BCE −[x log p + (1−x) log(1−p)] is smallest at
# > p = x, and there it is the entropy of the pixel, not 0: a *perfect* reconstruction still costs
# > nats. It is a log-likelihood only when the pixels are 0 or 1, which is why `fit` binarizes them.
# > Squared error, likewise, is a Gaussian log-likelihood only up to a scale (see notebook 05).

# %%
# NBVAL_CHECK_OUTPUT
grey = torch.tensor([0.5, 0.9, 1.0], dtype=torch.float64)
perfect_bce = torch.nn.functional.binary_cross_entropy(grey, grey, reduction="none")
print("BCE of a perfect reconstruction of pixels", grey.tolist(), "=", [round(v, 3) + 0.0 for v in perfect_bce.tolist()], "nats")
assert perfect_bce[0] > 0.69 and perfect_bce[2] == 0, "only binary pixels can be reconstructed at zero cost"

# %% [markdown]
# > **Common mistake.** Calling N(0, I) "the posterior". N(0, I) is the **prior** p(z): what we
# > decode from when generating. A plain AE has no prior at all, which is why decoding N(0, I)
# > fails above; the posterior p(z|x) is what an encoder approximates in a VAE (notebook 02).

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Write `nearest_code_distance(samples, codes)`: for each row of `samples` (M, d),
# the Euclidean distance to the nearest row of `codes` (N, d), as used in "How much of N(0, I) falls
# where no training code lies?". Hint: `torch.cdist`, then the minimum over the codes.

# %%
def nearest_code_distance(samples, codes):
    raise NotImplementedError  # your code here


check.nearest_code_distance(nearest_code_distance);

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
def nearest_code_distance(samples, codes):
    return torch.cdist(samples, codes).min(dim=1).values


assert check.nearest_code_distance(nearest_code_distance)
assert torch.equal(nearest_code_distance(prior_samples, train_codes), prior_distance)

# %% [markdown]
# **Exercise 2 (discuss).** Fit a Gaussian to the codes (`code_mean`, `code_std`) and decode samples
# from *it* instead of N(0, I). Are they better? Are they as good as reconstructions? What does that
# say about the holes *inside* the region the codes occupy? (One answer below.)

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution: the decoded samples look more like digits than those of N(0, I) (the offset and scale
# now match the codes), yet many are malformed. The distances below say why: samples of the fitted
# Gaussian lie much farther from the training codes than test codes do. A Gaussian, even the
# best-fitting one, spreads its mass over the gaps *between* the codes, which are clustered, not
# Gaussian. The VAE instead trains the codes to fill the prior.
fitted = code_mean + code_std * torch.randn(2000, 20, generator=torch.Generator().manual_seed(3))
fitted_distance = nearest_code_distance(fitted, train_codes)
print(f"median distance to the nearest training code: fitted-Gaussian samples {fitted_distance.median():.2f}, "
      f"N(0, I) samples {prior_distance.median():.2f}, test codes {test_distance.median():.2f}")
with torch.inference_mode():
    plots.show_images(autoencoder.decode(fitted[:20]), title="decoded samples of the Gaussian fitted to the codes")
assert fitted_distance.median() > test_distance.median(), \
    "samples of the fitted Gaussian should lie farther from the training codes than test codes do"

# %% [markdown]
# ## Summary
# - An AE reconstructs well: it has learned to compress images into 20 numbers.
# - Its codes are not distributed as N(0, I) (their per-dimension means and spreads above), so
#   N(0, I) puts mass where no training code lies, and decoding it gives poor images.
# - With few images it memorises: a large train/test gap.
# - The VAE fixes the first problem by *training* the codes towards a prior. Next:
#   [02 The ELBO](02_elbo.ipynb), the objective that does it.
