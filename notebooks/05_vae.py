# %% [markdown]
# # 05 The Variational Autoencoder
#
# Previous: [04 The closed-form KL](04_closed_form_kl.ipynb) · Next: [07 The latent space](07_latent_space.ipynb)
#
# Notebooks 02–04 built the parts: the ELBO, the reparameterization trick and the closed-form
# KL. Here they come together in one model, trained on MNIST.
#
# **Learning goals**
# - write the VAE's loss with the correct sign: reconstruction error **plus** KL (the negative ELBO);
# - train a VAE with `vae_lite.fit` and read its two terms over training;
# - compare samples from the prior with those of an autoencoder of the same size on the same data;
# - know what "the reconstruction" means at test time: the encoder mean μ or a sampled z;
# - see why averaging one term and summing the other silently changes the model;
# - read squared error as a Gaussian log-likelihood with a fixed variance.

# %% [markdown]
# ## Setup

# %%
import inspect

import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import plots

torch.manual_seed(0)
QUICK = vae_lite.quick_mode()  # VAE_LITE_QUICK=1: less data, fewer epochs (CI)
if QUICK:  # tiny models gain nothing from a second thread, and on a busy shared CI machine
    torch.set_num_threads(1)  # two threads waiting for each other run several times slower
print("quick mode" if QUICK else "class mode")

# %% [markdown]
# ## Data
#
# MNIST when it is available (else scikit-learn's 8×8 digits). Quick mode takes a small part of it.

# %%
TRAIN, TEST, EPOCHS = (3000, 1000, 2) if QUICK else (60000, 10000, 5)
data = vae_lite.load_dataset("auto").subset(train=TRAIN, test=TEST)
print(data)
PIXELS = data.train[0].numel()

# %% [markdown]
# ## Model
#
# The encoder outputs the mean and log-variance of q(z|x) = N(μ, diag σ²); the decoder outputs
# one Bernoulli probability per pixel. The loss of one image is the **negative ELBO**:
#
# $$\mathcal{L}(x) = \underbrace{-\,\mathbb{E}_{q(z|x)}[\log p(x|z)]}_{\text{reconstruction error}}
#   \;+\; \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)}_{\text{KL to the prior}} \;=\; -\mathrm{ELBO}(x).$$
#
# Both terms are sums over the pixels and the latent dimensions of one image, in nats. Here is the
# whole objective in `vae_lite`:

# %%
print(inspect.getsource(vae_lite.objectives.elbo))
print(inspect.getsource(vae_lite.VAE.loss))

# %% [markdown]
# > **Common mistake.** The write-up we follow gives the loss as `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]`.
# > The sign of the KL is wrong. **Wrong:** reconstruction error − KL. **Right:** reconstruction error **+** KL,
# > the negative ELBO. With the minus sign, minimising the loss *rewards* posteriors far from the prior:
# > it has no minimum at all, because the KL grows without bound as μ moves away from 0.
#
# The cell below evaluates both forms for one batch and for the same encoder outputs pushed further from
# the prior (μ + 5): the wrong loss gets *better* (smaller) while q moves away from N(0, I).

# %%
model = vae_lite.VAE(data.image_shape, latent_dim=20, hidden=400)
x = vae_lite.binarize(data.test[:256])
with torch.no_grad():
    mu, logvar = model.encode(x)
    reconstruction = model.log_likelihood(x, vae_lite.reparameterize(mu, logvar))
    for shift in (0.0, 5.0):
        kl = vae_lite.kl_standard_normal(mu + shift, logvar)
        right = (-reconstruction + kl).mean().item()
        wrong = (-reconstruction - kl).mean().item()
        print(f"mu + {shift:.0f}:  right loss {right:8.1f}   wrong loss {wrong:8.1f}   KL {kl.mean().item():6.1f}")
        if shift == 0:
            right_at_0, wrong_at_0 = right, wrong
assert wrong < wrong_at_0 and right > right_at_0, "the wrong sign should reward moving q away from the prior"

# %% [markdown]
# ## Training
#
# `vae_lite.fit` minimises the mean over a batch of the per-image loss above with Adam, binarizing
# the training images anew every epoch (a Bernoulli likelihood is a likelihood only on binary data)
# and scoring on one fixed binarized test set. An autoencoder with the same encoder and decoder
# sizes (784–400–20–400–784) trains on the same data, for the same number of epochs.

# %%
def print_history(history, name):
    for r in history.records:
        terms = f"  reconstruction error {-r['test_reconstruction']:6.1f}"
        if "test_kl" in r:
            terms += f"  KL {r['test_kl']:5.1f}  negative ELBO {-r['test_elbo']:6.1f}"
        print(f"{name} epoch {r['epoch']}:{terms}  (test, nats per image)")


torch.manual_seed(0)
vae = vae_lite.VAE(data.image_shape, latent_dim=20, hidden=400)
vae_history = vae_lite.fit(vae, data, epochs=EPOCHS, progress=False)
print_history(vae_history, "VAE")

torch.manual_seed(0)
autoencoder = vae_lite.Autoencoder(data.image_shape, latent_dim=20, hidden=400)
ae_history = vae_lite.fit(autoencoder, data, epochs=EPOCHS, progress=False)
print_history(ae_history, "AE ")

# %% [markdown]
# The two terms over training, on one plot. The reconstruction error falls; the KL first rises (the
# encoder starts to put information about x into z, which costs nats) and then settles.

# %%
plots.plot_loss_terms(vae_history)
plt.show()
first, last = vae_history.records[0], vae_history.last
assert -last["test_elbo"] < -first["test_elbo"] or len(vae_history) == 1, "the test loss should fall over training"
assert last["test_kl"] > 2, "the VAE's KL should be well above 0: its latent code carries information"
assert abs(-last["test_elbo"] - (-last["test_reconstruction"] + last["test_kl"])) < 1e-3, \
    "the negative ELBO is the sum of the two terms"

# %% [markdown]
# ## Experiments
#
# ### Reconstructions
# Test digits, the VAE's reconstructions (decoded from the encoder mean μ) and the autoencoder's.

# %%
x = data.test[:10]
with torch.inference_mode():
    mu, logvar = vae.encode(x)
    vae_reconstruction = vae.decode(mu)
    ae_reconstruction = autoencoder(x)
plots.show_rows({"test images": x, "VAE (decoded from μ)": vae_reconstruction,
                 "autoencoder": ae_reconstruction})
plt.show()

# %% [markdown]
# ### Samples: the VAE against the autoencoder
# Both decoders get the same z ~ N(0, I). The VAE was trained so that its codes fill the prior
# (the KL term pulls every q(z|x) towards N(0, I)); the autoencoder never was, so most prior draws land
# where its decoder has never been. The cell after the pictures measures that: how far the codes of
# the test images sit from the prior, as the mean squared length per dimension of z (it is 1 under N(0, I)).

# %%
generator = torch.Generator().manual_seed(1)
z = torch.randn(20, 20, generator=generator)
with torch.inference_mode():
    vae_samples, ae_samples = vae.decode(z), autoencoder.decode(z)
plots.show_rows({"VAE: decode(z), z ~ N(0, I)": vae_samples, "autoencoder: same z": ae_samples}, ncols=20, size=0.45)
plt.show()

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
# The encoder gives a distribution. For a picture of "the" reconstruction, decoding the mean μ is
# the usual choice: it is deterministic. The ELBO, though, is defined with z **sampled** from q(z|x):
# its reconstruction term is an average over such z. The score of the decoded μ, log p(x | z = μ), is
# a different number and part of no bound on log p(x): the cell below shows both, and which is larger
# depends on the model. Report either only under its own name.

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
print(f"log p(x|z) at z = μ:                {at_mean:.1f} nats per image")
print(f"E_q[log p(x|z)], 10 samples of z:   {sampled:.1f} nats per image   <- the ELBO's term")
print(f"  one image's log p(x|z) varies by about {spread:.1f} nats from one sampled z to the next")
plots.show_rows({"decoded μ": decoded_mean, "decoded z ~ q(z|x), draw 1": two_draws[0],
                 "decoded z ~ q(z|x), draw 2": two_draws[1]}, ncols=8)
plt.show()
assert abs(sampled - elbo_term) < 2, "the average over sampled z is the ELBO's reconstruction term"
assert not torch.equal(two_draws[0], two_draws[1]), "two sampled z should decode to different images"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Averaging one term and summing the other. `F.binary_cross_entropy(x_hat, x)`
# > **averages** over the 784 pixels by default, while the KL is usually **summed** over the latent
# > dimensions. **Wrong:** `bce_mean + kl_sum`. **Right:** both summed over one image (`reduction="sum"`,
# > or sum over pixels and average over the batch only). The wrong loss is the right one with the KL
# > weighted 784 times too much (β = 784, divided by 784): the model learns to ignore its input and the
# > KL drops to about 0 (posterior collapse). The reverse (summed reconstruction, KL averaged over the
# > 20 dimensions) weights the KL by 1/20: the codes stop matching the prior and samples get worse.
#
# The mistake, written out as a model, then trained exactly like the VAE above:

# %%
class AveragedReconstructionVAE(vae_lite.VAE):
    """The mistake: the reconstruction term averaged over pixels, the KL summed over dimensions."""

    def loss(self, x, beta=1.0):
        terms = vae_lite.elbo(self, x)
        wrong = -terms.reconstruction / x[0].numel() + terms.kl
        return wrong, {"reconstruction": terms.reconstruction, "kl": terms.kl}


# it is the beta = 784 objective, divided by 784:
torch.manual_seed(0)
mistake = AveragedReconstructionVAE(data.image_shape, latent_dim=20, hidden=400)
x = vae_lite.binarize(data.test[:64])
torch.manual_seed(1)
wrong_loss, _ = mistake.loss(x)
torch.manual_seed(1)
beta_loss, _ = vae_lite.VAE.loss(mistake, x, beta=PIXELS)
assert torch.allclose(wrong_loss, beta_loss / PIXELS, rtol=1e-5), "mean-reconstruction + sum-KL is beta = pixels"
print(f"averaged reconstruction + summed KL = (negative beta-ELBO with beta = {PIXELS}) / {PIXELS}: checked")

mistake_history = vae_lite.fit(mistake, data, epochs=EPOCHS, progress=False)
print_history(mistake_history, "mistake")

# %%
with torch.inference_mode():
    mistake_samples = mistake.decode(z)
plots.show_rows({"VAE, both terms summed": vae_samples, "reconstruction averaged, KL summed": mistake_samples},
                ncols=20, size=0.45)
plt.show()
right_kl, wrong_kl = vae_history.last["test_kl"], mistake_history.last["test_kl"]
print(f"test KL: both summed {right_kl:.1f} nats;  averaged reconstruction {wrong_kl:.2f} nats")
spread = mistake_samples.std(dim=0).mean().item() / vae_samples.std(dim=0).mean().item()
print(f"how much the samples differ from each other, relative to the right VAE's samples: {spread:.2f}")
assert wrong_kl < 0.2 * right_kl, "with the KL weighted 784x the code should carry almost nothing"
assert spread < 0.5, "with the code ignored, all samples should look alike"

# %% [markdown]
# > **Common mistake.** Calling squared error "just a loss". **Wrong:** `||x - x̂||²` is unrelated to a
# > likelihood. **Right:** it is the log-likelihood of a Gaussian decoder p(x|z) = N(x̂, s² I) with a fixed
# > s, up to a scale and a constant:
# > $-\log p(x|z) = \frac{1}{2s^2}\|x-\hat x\|^2 + D\,(\log s + \tfrac12\log 2\pi)$.
# > So `||x - x̂||² + KL` is, up to a factor, a Gaussian VAE with s² = ½, and the choice of s is an
# > implicit KL weight: the same loss as `||x - x̂||² + 2s² · KL`. (Binary cross-entropy, likewise, is the
# > Bernoulli log-likelihood, and a true likelihood only on binary data.)
#
# The cell below checks the identity numerically, then trains two Gaussian VAEs on the grey-scale images
# that differ only in s: the larger s (a larger implicit KL weight) keeps far less in the code.

# %%
# NBVAL_CHECK_OUTPUT
x = data.test[:64]
x_hat = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
for s in (0.1, 1.0):
    log_likelihood = vae_lite.objectives.gaussian_log_likelihood(x_hat, x, torch.tensor(s).log())
    squared_error = (x - x_hat).pow(2).sum(dim=(1, 2, 3))
    formula = -squared_error / (2 * s**2) - PIXELS * (torch.log(torch.tensor(s)) + 0.5 * vae_lite.objectives.LOG_2PI)
    assert torch.allclose(log_likelihood, formula, rtol=1e-5), "Gaussian log-likelihood = scaled squared error + constant"
print("log N(x; x̂, s² I) = -||x - x̂||² / (2 s²) - D (log s + ½ log 2π): checked for s = 0.1 and s = 1")

# %%
gaussian_kl = {}
for s in (0.1, 1.0):
    torch.manual_seed(0)
    gaussian = vae_lite.VAE(data.image_shape, latent_dim=20, hidden=400, likelihood="gaussian", gaussian_std=s)
    history = vae_lite.fit(gaussian, data.subset(train=min(TRAIN, 20000)), epochs=1 if QUICK else 2, progress=False)
    gaussian_kl[s] = history.last["test_kl"]
    print(f"Gaussian decoder, s = {s}: implicit KL weight 2s² = {2 * s**2:g} (relative to squared error), "
          f"test KL {gaussian_kl[s]:.1f} nats")
assert gaussian_kl[1.0] < 0.25 * gaussian_kl[0.1], "a larger s should leave much less information in the code"

# %% [markdown]
# ## Exercises
#
# **Write the loss.** Complete `vae_loss`: given the decoder's logits for one sampled z per image, the binary
# images x, and the encoder's μ and log σ², return the negative ELBO of each image (a tensor of N numbers).
# Hint: `F.binary_cross_entropy_with_logits(..., reduction="none")`, then think about which dimensions to sum.

# %%
# NBVAL_CHECK_OUTPUT
import torch.nn.functional as F


def vae_loss(logits, x, mu, logvar):
    raise NotImplementedError  # your code here


vae_lite.check.vae_loss(vae_loss)

# %% tags=["solution"] jupyter={"source_hidden": true}
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
# 1. Train the VAE with `beta=4` (`vae_lite.fit(..., beta=4)`) and compare its test KL and its samples
#    with the ones above. Which way does the KL move, and why?
# 2. Write the *reverse* mistake (summed reconstruction, KL **averaged** over the 20 latent dimensions) as a
#    model like `AveragedReconstructionVAE`. Which β is it? Train it and compare the mean z² of its codes
#    with the prior's 1.
#
# ## Summary
# - The loss is the negative ELBO: reconstruction error **plus** KL, both summed over one image.
# - Its two terms pull against each other: the KL is the price, in nats, of the information the code carries.
# - Prior samples from a VAE look like digits because training pulled every q(z|x) towards the prior;
#   an autoencoder's codes sit elsewhere, so its decoder produces little from z ~ N(0, I).
# - Decode μ for a picture; the ELBO averages over sampled z.
# - Mixing averaged and summed terms silently changes β; squared error is a Gaussian likelihood whose
#   variance is an implicit KL weight.
#
# Next: [07 The latent space](07_latent_space.ipynb) looks inside z.
