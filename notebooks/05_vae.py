# %% [markdown]
# # 05 The Variational Autoencoder
#
# Previous: [04 The closed-form KL](04_closed_form_kl.ipynb) · Next: [06 The loss, right and wrong](06_loss_right_and_wrong.ipynb)
#
# Notebooks 02–04 built the parts: the ELBO, the reparameterization trick and the closed-form
# KL. Here they come together in one model, which we train and look at.
#
# **Learning goals**
# - name the parts of a VAE and what flows between them (the picture below);
# - write its loss with the correct sign: reconstruction error **plus** KL (the negative ELBO), and check
#   it term by term;
# - train the package's default VAE with `vae_lite.fit` and read its two terms over training;
# - read its reconstructions and its samples, and say what a "sample" picture shows;
# - compare its samples with those of an autoencoder of the same size;
# - choose between the encoder mean μ and a sampled z at test time, and name each.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/05_vae.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F05_vae.ipynb)

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
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import vae_lite
import vae_lite.check
from vae_lite import plots, pretrained

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Data
#
# The data set `VAE_LITE_DATASET` names (MNIST when unset and on disk); quick mode takes a small part.
# The VAE trains for about the same number of optimizer steps whatever the data set, so a small data set
# gets more epochs.

# %%
data = vae_lite.load_dataset()
if QUICK:
    data = data.subset(train=3000, test=1000)
# the default recipe's optimizer steps of 256 images: its epochs of MNIST's 60,000 training images
STEPS = 300 if QUICK else pretrained.TRAINING["epochs"] * math.ceil(60_000 / 256)
EPOCHS = max(1, round(STEPS / math.ceil(len(data.train) / 256)))
PIXELS = math.prod(data.image_shape)
print(data)
print(f"{EPOCHS} epochs of {math.ceil(len(data.train) / 256)} steps each")

# %% [markdown]
# ## Model
#
# The VAE in one picture. This is the picture the later notebooks refer to.

# %% [markdown]
# *Figure: the VAE as a diagram. An image x goes into the encoder, which outputs μ and log σ²; z = μ + σ ⊙ ε
# with ε drawn from N(0, I); the decoder turns z into pixel means, the parameters of p(x|z). The KL term scores
# (μ, log σ²) against the prior, the reconstruction error scores p(x|z) against x.*

# %%
vae = vae_lite.VAE(data.image_shape)  # the package's default sizes
plots.draw_vae(data.test[0])
plt.show()
print(f"{vae.arch.upper()} encoder with hidden layers {list(vae.encoder_hidden)}, decoder with {list(vae.decoder_hidden)}; "
      f"{vae.latent_dim} latent dimensions; a {vae.likelihood} decoder, one probability per pixel "
      f"({PIXELS} pixels); {sum(p.numel() for p in vae.parameters()):,} weights")

# %% [markdown]
# - **Encoder** q(z|x) = N(μ(x), diag σ²(x)): a network that outputs μ and log σ² (the log keeps σ² positive).
# - **Reparameterization** z = μ + σ ⊙ ε with ε ~ N(0, I) and σ = exp(½ log σ²): a sample of q that gradients
#   flow through (notebook 03).
# - **Decoder** p(x|z): one Bernoulli probability per pixel. Decoding z gives these probabilities, the decoder's
#   *mean* image; a binary image drawn from p(x|z) would flip each pixel with its probability.
#
# The loss of one image is the **negative ELBO**:
#
# $$\mathcal{L}(x) = \underbrace{-\,\mathbb{E}_{q(z|x)}[\log p(x|z)]}_{\text{reconstruction error}}
#   \;+\; \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)}_{\text{KL to the prior}} \;=\; -\mathrm{ELBO}(x),
# \qquad \mathrm{KL} = \tfrac12 \sum_d \big(\mu_d^2 + \sigma_d^2 - \log \sigma_d^2 - 1\big).$$
#
# Both terms are sums over one image, over its pixels and over the latent dimensions, in nats. Here is the
# whole objective in `vae_lite`:

# %%
print(inspect.getsource(vae_lite.objectives.elbo))
print(inspect.getsource(vae_lite.VAE.loss))

# %% [markdown]
# Before training, check the parts. First, the sample z = μ + σ ε: it must spread by σ, the standard
# deviation. The encoder outputs log σ², so σ = exp(½ log σ²). Take a q with σ² = 0.25 (σ = 0.5) and draw from it:

# %%
# NBVAL_CHECK_OUTPUT
mu_q, logvar_q = torch.zeros(20000, 1), torch.full((20000, 1), math.log(0.25))
z = vae_lite.reparameterize(mu_q, logvar_q, generator=torch.Generator().manual_seed(0))
spread = z.std().item()
print(f"standard deviation of 20000 draws of z: {spread:.2f} (σ = 0.5, σ² = 0.25)")
assert spread > 0.05, "reparameterize returned μ itself: z must be sampled, z = μ + σ ε"
assert abs(spread - 0.5) < 0.02, "z should spread by σ = exp(½ log σ²), not by σ² = exp(log σ²)"

# %% [markdown]
# > **Common mistake.** The write-up we follow gives the loss as `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]`.
# > **Wrong:** reconstruction error − KL. **Right:** reconstruction error **+** KL, the negative ELBO.
# > With the minus sign the loss rewards codes far from the prior and has no minimum at all; notebook 06
# > trains a VAE that way and watches it run off.
#
# **Predict, then run.** The cell below computes the loss of a batch twice: with `vae.loss` and by hand from
# the formulas above, with the same ε. The model is untrained, its encoder outputs numbers near 0. Roughly how
# large will the KL be: about 0, about 1, or about 20 nats?

# %%
x = vae_lite.binarize(data.test[:256], torch.Generator().manual_seed(0))
with torch.no_grad():
    torch.manual_seed(1)
    loss, terms = vae.loss(x)  # the package: one loss per image, and its two terms
    torch.manual_seed(1)
    mu, logvar = vae.encode(x)
    eps = torch.randn(mu.shape)  # the same ε, drawn again
    z = mu + (0.5 * logvar).exp() * eps
    p = vae.decode(z)  # (N, C, H, W) pixel probabilities
    reconstruction = (x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3))
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)
print(f"by hand:   reconstruction error {-reconstruction.mean():.2f} + KL {kl.mean():.4f} "
      f"= {(kl - reconstruction).mean():.2f} nats per image")
print(f"vae_lite:  reconstruction error {-terms['reconstruction'].mean():.2f} + KL {terms['kl'].mean():.4f} "
      f"-> loss {loss.mean():.2f}")
assert (terms["kl"] >= 0).all(), "a KL is never negative: vae_lite's KL term has the wrong sign"
assert torch.allclose(terms["kl"], kl, rtol=1e-4, atol=1e-6), \
    "vae_lite's KL should be ½ Σ_d (μ² + σ² − log σ² − 1), summed (not averaged) over the latent dimensions"
assert torch.allclose(terms["reconstruction"], reconstruction, rtol=1e-4), \
    "vae_lite's log p(x|z) should be the Bernoulli log-likelihood summed (not averaged) over the pixels"
assert torch.allclose(loss, kl - reconstruction, rtol=1e-4), \
    "the loss should be reconstruction error PLUS the KL (the negative ELBO), not minus"

# %% [markdown]
# The KL is small but not 0: the untrained encoder's outputs are near, not at, μ = 0 and log σ² = 0.

# %% [markdown]
# ## Training
#
# `vae_lite.fit` minimises the mean over a batch of the per-image loss above with Adam, binarizing the
# training images anew every epoch (a Bernoulli likelihood is a likelihood only on binary data) and scoring on
# one fixed binarized test set. Each epoch calls `train_step` on batches in a new random order; one step:

# %%
print(inspect.getsource(vae_lite.train.train_step))

# %% [markdown]
# We train the package's default model with its default recipe, `vae_lite.pretrained.TRAINING`, the best we
# found for a minute of training on 2 CPU cores (`benchmarks/README.md`, "Quality per CPU-second"):
#
# - `start_at_mean_image`: the decoder's output bias starts at logit(mean training image), so every z decodes
#   to the average digit before training, not to grey;
# - batches of 256 and `schedule="onecycle"`: the learning rate rises to `lr` over the first 30 % of the steps,
#   then falls to almost 0;
# - `warmup=2`: the KL weight β rises from 0 to 1 over the first 2 epochs (KL warm-up).
#
# An autoencoder with the same encoder and decoder sizes, trained on the same data with the same recipe, will be
# our yardstick for samples. It was trained ahead of time and ships with the package, like the VAE notebooks 07
# and 08 load, so that this notebook stays within two minutes: `pretrained.default_model(data, kind="autoencoder")`
# loads it for MNIST and trains it on any other data set.
#
# **Predict, then run.** β starts at 0. What will the KL do while β is small, and what once β reaches 1?

# %%
def print_history(history, name):
    for r in history.records:
        terms = f"  reconstruction error {-r['test_reconstruction']:6.1f}"
        if "test_kl" in r:
            terms += f"  KL {r['test_kl']:5.1f}  negative ELBO {-r['test_elbo']:6.1f}"
        print(f"{name} epoch {r['epoch']:3d}:{terms}  (test, nats per image)")


def every_few(history, most=6):  # the first and last epochs, and some in between
    keep = sorted({round(i * (len(history.records) - 1) / (most - 1)) for i in range(most)})
    return vae_lite.History([history.records[i] for i in keep])


torch.manual_seed(0)
vae = vae_lite.VAE(data.image_shape).start_at_mean_image(data.train)  # encoder 784-256-100 (μ and log σ²), decoder 50-512-784 on MNIST
vae_history = vae_lite.fit(vae, data, epochs=EPOCHS, batch_size=256, lr=8e-3, schedule="onecycle",
                           warmup=min(2, EPOCHS), progress=False)
print_history(every_few(vae_history), "VAE")
print(f"trained in {sum(vae_history['seconds']):.0f} s on {vae_history.device}")

autoencoder = pretrained.default_model(data, kind="autoencoder")
assert (autoencoder.latent_dim, autoencoder.encoder_hidden, autoencoder.decoder_hidden) == \
    (vae.latent_dim, vae.encoder_hidden, vae.decoder_hidden), "the autoencoder should have the VAE's sizes"

# %% [markdown]
# *Figure: the VAE's negative ELBO on the test set and its two terms, reconstruction error and KL, against the
# epoch; the cell under it prints how each term moved.*

# %%
fig, ax = plt.subplots()  # projector-sized
plots.plot_loss_terms(vae_history, ax=ax)
plt.show()
first, last = vae_history.records[0], vae_history.last
print(f"from epoch 1 to epoch {last['epoch']}: reconstruction error {-first['test_reconstruction']:.1f} -> "
      f"{-last['test_reconstruction']:.1f} nats, KL {first['test_kl']:.1f} -> {last['test_kl']:.1f} nats, "
      f"negative ELBO {-first['test_elbo']:.1f} -> {-last['test_elbo']:.1f} nats")
warm = min(2, EPOCHS)  # β rose from 0 to 1 over these first epochs
later = [r["test_kl"] for r in vae_history.records[1:]]  # the KL after each epoch but the first
print(f"KL after epoch 1, when β had reached about {1 / warm:.1f}: {first['test_kl']:.1f} nats"
      + (f"; after epochs 2 to {last['epoch']} (β = 1 from the end of epoch {warm} on): between "
         f"{min(later):.1f} and {max(later):.1f} nats" if later else ""))
assert len(vae_history) == 1 or -last["test_elbo"] < -first["test_elbo"], "the test loss should fall over training"
assert last["test_kl"] > 2, ("the VAE's KL should be well above 0: its latent code carries information "
                             "(about 0 means no gradient reaches the encoder through z: rsample, not sample)")
assert abs(last["test_loss"] - (last["test_kl"] - last["test_reconstruction"])) < 1e-3, \
    "the loss should be reconstruction error PLUS the KL (the negative ELBO), not minus"
if later:
    fall = last["test_elbo"] - first["test_elbo"]  # how much the negative ELBO fell after epoch 1
    share = (last["test_reconstruction"] - first["test_reconstruction"]) / fall if fall else float("nan")
    print(f"of the fall in the negative ELBO after epoch 1 ({fall:.1f} nats), the reconstruction error's share: {share:.0%}")
if not QUICK and later:  # quick mode's epochs are a dozen steps: there the KL is still rising at the end
    assert first["test_kl"] > max(later), "the KL should overshoot in epoch 1, while β < 1, and fall back after"
    assert max(later) - min(later) < 0.2 * first["test_kl"], "after the first epoch the KL should stay in a narrow range"
    assert share > 0.5, "after the first epoch most of the fall in the negative ELBO should be the reconstruction's"

# %% [markdown]
# The reconstruction error falls over training. The KL starts near 0 for the untrained encoder (the check above
# showed it) and climbs in the first epoch, while β is still small and information in z costs little: it
# overshoots, to more than it will hold at any later epoch. Once β reaches 1 every nat of KL is paid for in
# full, and the KL falls back in the second epoch, then stays within a few nats of one level for the rest of
# training (the nearly flat KL line in the figure from epoch 2 on; the printed range gives its values). So after
# the first epoch most of the fall in the negative ELBO is the reconstruction error's (the last line gives the
# share). The KL is the price of the code, paid so that the code can be decoded well.
#
# ## Experiments
#
# ### Reconstructions
#
# *Figure: three rows of 10 images: test images, their reconstructions by the VAE (decoded from the encoder
# mean μ), and their reconstructions by the autoencoder.*

# %%
x = data.test[:10]
with torch.inference_mode():
    mu, logvar = vae.encode(x)
    vae_reconstruction = vae.decode(mu)
    ae_reconstruction = autoencoder(x)
plots.show_rows({"test images": x, "VAE (decoded from μ)": vae_reconstruction,
                 "autoencoder": ae_reconstruction}, size=0.9)
plt.show()
ae_test = vae_lite.evaluate(autoencoder, vae_lite.binarized_test_set(data) if vae.likelihood == "bernoulli" else data.test)
vae_error, ae_error = -vae_history.last["test_reconstruction"], -ae_test["reconstruction"]
print(f"test reconstruction error: VAE {vae_error:.1f} nats (averaged over sampled z), "
      f"autoencoder {ae_error:.1f} nats per image")
assert ae_error < vae_error, "the autoencoder, whose code pays no KL, should reconstruct better than the VAE"

# %% [markdown]
# The autoencoder reconstructs better: its code pays no KL, so it can hold as much about x as helps.
#
# ### Samples: the VAE against the autoencoder
#
# **Predict, then run.** Both decoders get the same z ~ N(0, I). Which row will look like digits?
#
# The VAE was trained so that its codes fill the prior (the KL term pulls every q(z|x) towards N(0, I)); the
# autoencoder never was, so most prior draws land where its decoder has never been.
#
# Each picture below is a decoded z: the decoder's **mean** image, one probability per pixel, drawn as a grey
# level. It is not a draw x ~ p(x|z). A draw would be binary, each pixel black with its probability: the third
# row shows such draws for the same z as the first row. Pictures of "samples" in papers are almost always
# decoder means.
#
# *Figure: three rows of 12 images. Row 1, the VAE's decoder means for 12 draws z ~ N(0, I); row 2, the
# autoencoder's for the same z; row 3, one binary draw x ~ p(x|z) from the VAE for each z.*

# %%
generator = torch.Generator().manual_seed(1)
z = torch.randn(12, vae.latent_dim, generator=generator)
with torch.inference_mode():
    vae_samples, ae_samples = vae.decode(z), autoencoder.decode(z)
draws = torch.bernoulli(vae_samples, generator=generator)  # x ~ p(x|z): each pixel 1 with its probability
plots.show_rows({"VAE: decoder mean for z ~ N(0, I)": vae_samples, "autoencoder: the same z": ae_samples,
                 "VAE: a draw x ~ p(x|z) for the same z": draws}, ncols=12, size=0.9)
plt.show()
assert set(draws.unique().tolist()) <= {0.0, 1.0} and not set(vae_samples.unique().tolist()) <= {0.0, 1.0}, \
    "a draw from a Bernoulli decoder is binary; the decoder mean is a probability per pixel"

# %% [markdown]
# The cell below measures what the pictures suggest: how far the codes of the test images sit from the prior,
# as the mean squared length per dimension of z (under N(0, I) it is 1).

# %%
with torch.inference_mode():
    mu, logvar = vae.encode(data.test)
    vae_codes = vae_lite.reparameterize(mu, logvar)  # z ~ q(z|x) for each test image
    ae_codes = autoencoder.encode(data.test)
vae_scale = vae_codes.pow(2).mean().item()
ae_scale = ae_codes.pow(2).mean().item()
print(f"mean z² per dimension over the test set: VAE {vae_scale:.2f}, autoencoder {ae_scale:.2f} "
      f"(the prior N(0, I): 1)")
assert abs(vae_scale - 1) < abs(ae_scale - 1), "the VAE's codes should match the prior more closely"

# %% [markdown]
# ### μ or a sampled z at test time
#
# The encoder gives a distribution. For a picture of "the" reconstruction, decoding the mean μ is the usual
# choice: it is deterministic. The ELBO, though, is defined with z **sampled** from q(z|x): its reconstruction
# term is an average over such z. The score of the decoded μ, log p(x | z = μ), is a different number and part
# of no bound on log p(x). Report either only under its own name.
#
# **Predict, then run.** Which scores a test image higher: z = μ, or the average over sampled z?
#
# *Figure: three rows of 8 images: the decoded μ of 8 test images, and two decodings of z sampled from each
# image's q(z|x).*

# %%
x = vae_lite.binarized_test_set(data)[:1000]
with torch.inference_mode():
    mu, logvar = vae.encode(x)
    at_mean = vae.log_likelihood(x, mu).mean().item()
    samples = torch.stack([vae.log_likelihood(x, vae_lite.reparameterize(mu, logvar)) for _ in range(10)])
    sampled = samples.mean().item()
    spread = samples.std(dim=0).mean().item()  # how much one image's log p(x|z) varies with z
    decoded_mean = vae.decode(mu[:8])
    two_draws = [vae.decode(vae_lite.reparameterize(mu[:8], logvar[:8])) for _ in range(2)]
    elbo_term = vae_lite.elbo(vae, x, samples=10).reconstruction.mean().item()
higher = "z = μ" if at_mean > sampled else "the sampled z"
print(f"log p(x|z) at z = μ:                {at_mean:.1f} nats per image")
print(f"E_q[log p(x|z)], 10 samples of z:   {sampled:.1f} nats per image   <- the ELBO's term")
print(f"  {higher} scores higher here, by {abs(at_mean - sampled):.1f} nats; one image's log p(x|z) varies by "
      f"about {spread:.1f} nats from one sampled z to the next")
plots.show_rows({"decoded μ": decoded_mean, "decoded z ~ q(z|x), draw 1": two_draws[0],
                 "decoded z ~ q(z|x), draw 2": two_draws[1]}, ncols=8, size=0.9)
plt.show()
assert abs(sampled - elbo_term) < 2, "the average over sampled z is the ELBO's reconstruction term"
assert not torch.equal(two_draws[0], two_draws[1]), \
    "two sampled z should decode to different images: reparameterize must sample z = μ + σ ε, not return μ"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Showing decoded means and calling them draws from the model. **Wrong:** "these are samples
# > x ~ p(x)". **Right:** they are E[x|z], the decoder's mean for z ~ p(z); a draw from p(x|z) is binary and
# > speckled (the third row above). Say which one a figure shows.
#
# > **Common mistake.** Reporting log p(x | z = μ) as the model's reconstruction term or likelihood. **Wrong:**
# > decode μ, score it, and put the number next to an ELBO. **Right:** the ELBO's term averages log p(x|z) over
# > z ~ q(z|x). Decoding μ is fine for a picture; name the number by what it is.
#
# ## Exercises
#
# **Write the loss.** Complete `vae_loss`: given the decoder's logits for one sampled z per image, the binary
# images x, and the encoder's μ and log σ², return the negative ELBO of each image (a tensor of N numbers).
# Hint: `F.binary_cross_entropy_with_logits(..., reduction="none")`, then think about which dimensions to sum.

# %%
# NBVAL_CHECK_OUTPUT
def vae_loss(logits, x, mu, logvar):
    raise NotImplementedError  # your code here


vae_lite.check.vae_loss(vae_loss)

# %% jupyter={"source_hidden": true} tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: both terms summed over one image; the KL enters with a plus sign.
def vae_loss(logits, x, mu, logvar):
    reconstruction_error = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)
    return reconstruction_error + kl


assert vae_lite.check.vae_loss(vae_loss), "the solution should pass every case"

# %% [markdown]
# More to try:
#
# 1. Train the VAE with `beta=4` (`vae_lite.fit(..., beta=4)`) and compare its test KL and its samples with the
#    ones above. Which way does the KL move, and why?
# 2. Decode the same z with the VAE after 1 epoch and after all of them (train a copy for one epoch). When do
#    the samples start to look like the data?
# 3. Draw five x ~ p(x|z) for one z. Which pixels change from draw to draw, and why those?
#
# ## Summary
# - A VAE is an encoder that outputs q(z|x) = N(μ, σ²), a sample z = μ + σ ε, and a decoder p(x|z).
# - The loss is the negative ELBO: reconstruction error **plus** KL, both summed over one image.
# - Its two terms pull against each other: the KL is the price, in nats, of the information the code carries.
# - Prior samples from a VAE mostly look like digits, if blurry, because training pulled every q(z|x) towards
#   the prior; an autoencoder's codes sit far from it, so from z ~ N(0, I) its decoder draws scribbles.
# - Pictures of samples are decoder means; decode μ for a picture of a reconstruction; the ELBO averages over
#   sampled z.
#
# Next: [06 The loss, right and wrong](06_loss_right_and_wrong.ipynb) trains the loss written wrong, in the ways
# the write-up and common code get it wrong, and shows what each does.
